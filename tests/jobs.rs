//! Acceptance of the Job and CronJob controllers with simulated nodes and the real kubectl:
//! pods finish through the `sim.kedge.io/exit-code` annotation of the pod template, the
//! scheduler binds them.

mod common;
#[path = "common/simnode.rs"]
mod simnode;
#[path = "common/support.rs"]
mod support;

use std::io::BufReader;
use std::process::Stdio;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Cluster, KUBECTL};
use serde_json::Value;
use simnode::{NodeSpec, SimNodes};
use support::{drive_runtime, items, wait_for};

fn nodes(c: &Cluster) -> SimNodes {
    drive_runtime();
    SimNodes::start(
        c.pid(),
        &c.kubeconfig,
        vec![NodeSpec::new("n1"), NodeSpec::new("n2")],
    )
}

fn condition<'a>(o: &'a Value, ty: &str) -> Option<&'a Value> {
    o["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == ty && c["status"] == "True")
}

/// The Job once it has a true `Complete` or `Failed` condition.
fn finished_job(c: &Cluster, name: &str, secs: u64) -> Value {
    let mut j = Value::Null;
    wait_for(&format!("job {name} to finish"), secs, || {
        j = c.json(&["job", name]);
        condition(&j, "Complete").is_some() || condition(&j, "Failed").is_some()
    });
    j
}

fn event_reasons(c: &Cluster, name: &str) -> Vec<String> {
    let sel = format!("involvedObject.name={name}");
    items(c, &["events", "--field-selector", &sel])
        .iter()
        .filter_map(|e| e["reason"].as_str().map(str::to_string))
        .collect()
}

fn job(name: &str, spec: &str, exit: i64, run_seconds: i64) -> String {
    format!(
        r#"
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
{spec}
  template:
    metadata:
      annotations:
        sim.kedge.io/exit-code: "{exit}"
        sim.kedge.io/run-seconds: "{run_seconds}"
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox:1.36
"#
    )
}

/// Follows `kubectl get pods --watch` for a selector and keeps the largest number of pods that
/// were running at once (neither finished nor terminating).
struct ActiveWatch {
    max: Arc<AtomicI64>,
    child: std::process::Child,
}

impl ActiveWatch {
    fn start(c: &Cluster, selector: &str) -> ActiveWatch {
        let mut child = c
            .ns_command(KUBECTL)
            .args([
                "get",
                "pods",
                "-l",
                selector,
                "--watch",
                "--output-watch-events",
                "-o",
                "json",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl watch");
        let out = child.stdout.take().expect("stdout");
        let max = Arc::new(AtomicI64::new(0));
        let m = max.clone();
        std::thread::spawn(move || {
            let mut active = std::collections::HashMap::new();
            for ev in
                serde_json::Deserializer::from_reader(BufReader::new(out)).into_iter::<Value>()
            {
                let Ok(ev) = ev else { return };
                let p = &ev["object"];
                let name = p["metadata"]["name"].as_str().unwrap_or("").to_string();
                let running = ev["type"] != "DELETED"
                    && p["metadata"].get("deletionTimestamp").is_none()
                    && !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed"));
                active.insert(name, running);
                m.fetch_max(
                    active.values().filter(|r| **r).count() as i64,
                    Ordering::SeqCst,
                );
            }
        });
        ActiveWatch { max, child }
    }

    fn max(&self) -> i64 {
        self.max.load(Ordering::SeqCst)
    }
}

impl Drop for ActiveWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn jobs_complete_with_bounded_parallelism() {
    require_cluster!();
    let c = Cluster::start();
    let _sims = nodes(&c);
    let watch = ActiveWatch::start(&c, "job-name=five");
    std::thread::sleep(Duration::from_millis(500));
    c.apply(&job("five", "  completions: 5\n  parallelism: 2", 0, 2));
    c.apply(&job(
        "indexed",
        "  completions: 3\n  parallelism: 3\n  completionMode: Indexed",
        0,
        1,
    ));
    c.apply(&job("short", "  ttlSecondsAfterFinished: 2", 0, 1));
    c.apply(&job("later", "  suspend: true", 0, 1));

    // Indexed: one pod per index, hostname and index annotation, completedIndexes.
    let ix = finished_job(&c, "indexed", 30);
    assert_eq!(ix["status"]["completedIndexes"], "0-2");
    assert_eq!(ix["status"]["succeeded"], 3);
    let pods = items(&c, &["pods", "-l", "job-name=indexed"]);
    let mut hosts: Vec<&str> = pods
        .iter()
        .filter_map(|p| p["spec"]["hostname"].as_str())
        .collect();
    hosts.sort();
    assert_eq!(hosts, ["indexed-0", "indexed-1", "indexed-2"]);
    for p in &pods {
        let ix = p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
            .as_str()
            .unwrap();
        assert_eq!(
            p["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"],
            ix
        );
        assert_eq!(
            p["spec"]["containers"][0]["env"][0]["name"],
            "JOB_COMPLETION_INDEX"
        );
    }

    let j = finished_job(&c, "five", 60);
    assert!(condition(&j, "Complete").is_some(), "{j}");
    assert_eq!(j["status"]["succeeded"], 5);
    assert_eq!(j["status"].get("failed"), None);
    assert_eq!(j["status"]["active"], Value::Null);
    assert_eq!(
        j["status"]["uncountedTerminatedPods"],
        serde_json::json!({})
    );
    let met = condition(&j, "SuccessCriteriaMet").expect("SuccessCriteriaMet before Complete");
    assert_eq!(met["reason"], "CompletionsReached");
    assert_eq!(
        condition(&j, "Complete").unwrap()["reason"],
        "CompletionsReached"
    );
    assert!(j["status"]["startTime"].is_string() && j["status"]["completionTime"].is_string());
    let max = watch.max();
    assert!(max <= 2, "{max} pods ran at once with parallelism 2");
    assert_eq!(
        max, 2,
        "the watcher never saw both parallel pods; it is not measuring"
    );

    let pods = items(&c, &["pods", "-l", "job-name=five"]);
    assert_eq!(pods.len(), 5);
    let uid = j["metadata"]["uid"].as_str().unwrap();
    for p in &pods {
        assert_eq!(p["status"]["phase"], "Succeeded");
        assert_eq!(
            p["metadata"]["labels"]["batch.kubernetes.io/controller-uid"],
            uid
        );
        assert_eq!(
            p["metadata"]["labels"]["batch.kubernetes.io/job-name"],
            "five"
        );
        assert_eq!(p["metadata"]["labels"]["controller-uid"], uid);
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "Job");
        // Counted pods lose the tracking finalizer.
        assert!(
            p["metadata"]
                .get("finalizers")
                .is_none_or(|f| f.as_array().is_some_and(Vec::is_empty)),
            "{p}"
        );
    }
    let reasons = event_reasons(&c, "five");
    assert_eq!(
        reasons.iter().filter(|r| *r == "SuccessfulCreate").count(),
        5,
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r == "Completed"), "{reasons:?}");
    let shown = c.ok(&["get", "jobs"]);
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("five ") && l.contains("Complete") && l.contains("5/5")),
        "{shown}"
    );

    // A suspended Job runs nothing until resumed.
    let later = c.json(&["job", "later"]);
    assert_eq!(
        condition(&later, "Suspended").unwrap()["reason"],
        "JobSuspended",
        "{later}"
    );
    assert!(later["status"].get("startTime").is_none());
    assert!(items(&c, &["pods", "-l", "job-name=later"]).is_empty());
    c.ok(&[
        "patch",
        "job",
        "later",
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":false}}"#,
    ]);
    let later = finished_job(&c, "later", 30);
    assert!(condition(&later, "Complete").is_some(), "{later}");
    let resumed = later["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Suspended");
    assert_eq!(resumed.unwrap()["status"], "False");
    assert!(event_reasons(&c, "later").iter().any(|r| r == "Resumed"));

    // ttlSecondsAfterFinished deletes the Job (and, through the garbage collector, its pods).
    wait_for("the short job to expire", 20, || {
        !c.kubectl(&["get", "job", "short"]).status.success()
    });
    wait_for("the short job's pods to go", 20, || {
        items(&c, &["pods", "-l", "job-name=short"]).is_empty()
    });
}

#[test]
fn failing_jobs_stop_at_their_limits() {
    require_cluster!();
    let c = Cluster::start();
    let _sims = nodes(&c);
    c.apply(&job("crash", "  backoffLimit: 1", 1, 1));
    // A FailJob rule ends the Job at the first matching exit code.
    c.apply(&job(
        "fatal",
        "  backoffLimit: 5\n  podFailurePolicy:\n    rules:\n    - action: FailJob\n      onExitCodes:\n        operator: In\n        values: [42]",
        42,
        1,
    ));
    // Runs far longer than its deadline.
    c.apply(&job("slow", "  activeDeadlineSeconds: 3", 0, 600));
    // Deleted while its pods run: they must not keep the Job's tracking finalizer.
    c.apply(&job("doomed", "  parallelism: 2\n  completions: 2", 0, 600));
    let started = Instant::now();

    let j = finished_job(&c, "crash", 45);
    let failed = condition(&j, "Failed").unwrap_or_else(|| panic!("not failed: {j}"));
    assert_eq!(failed["reason"], "BackoffLimitExceeded");
    assert_eq!(
        failed["message"],
        "Job has reached the specified backoff limit"
    );
    assert_eq!(
        condition(&j, "FailureTarget").unwrap()["reason"],
        "BackoffLimitExceeded"
    );
    assert_eq!(j["status"]["failed"], 2);
    // One retry after the first failure, held back by the 10 s pod failure backoff.
    assert!(
        started.elapsed() >= Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let pods = items(&c, &["pods", "-l", "job-name=crash"]);
    assert_eq!(pods.len(), 2);
    assert!(pods.iter().all(|p| p["status"]["phase"] == "Failed"));
    assert!(event_reasons(&c, "crash")
        .iter()
        .any(|r| r == "BackoffLimitExceeded"));

    let j = finished_job(&c, "fatal", 30);
    let failed = condition(&j, "Failed").expect("fatal failed");
    assert_eq!(failed["reason"], "PodFailurePolicy");
    let msg = failed["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Container main for pod default/fatal-"),
        "{msg}"
    );
    assert!(
        msg.ends_with("failed with exit code 42 matching FailJob rule at index 0"),
        "{msg}"
    );
    assert_eq!(items(&c, &["pods", "-l", "job-name=fatal"]).len(), 1);

    let j = finished_job(&c, "slow", 30);
    let failed = condition(&j, "Failed").expect("slow failed");
    assert_eq!(failed["reason"], "DeadlineExceeded");
    assert_eq!(
        failed["message"],
        "Job was active longer than specified deadline"
    );
    wait_for("the slow job's pod to be deleted", 20, || {
        items(&c, &["pods", "-l", "job-name=slow"]).is_empty()
    });
    assert_eq!(j["status"]["failed"], 1);

    wait_for("doomed's pods to run", 20, || {
        items(&c, &["pods", "-l", "job-name=doomed"])
            .iter()
            .filter(|p| p["status"]["phase"] == "Running")
            .count()
            == 2
    });
    c.ok(&["delete", "job", "doomed"]);
    wait_for("doomed's pods to go with it", 30, || {
        items(&c, &["pods", "-l", "job-name=doomed"]).is_empty()
    });
}

#[test]
fn cronjob_starts_a_job_every_minute() {
    require_cluster!();
    let c = Cluster::start();
    let _sims = nodes(&c);
    c.apply(
        r#"
apiVersion: batch/v1
kind: CronJob
metadata:
  name: tick
spec:
  schedule: "*/1 * * * *"
  concurrencyPolicy: Forbid
  jobTemplate:
    metadata:
      labels: {app: tick}
    spec:
      template:
        metadata:
          annotations:
            sim.kedge.io/exit-code: "0"
        spec:
          restartPolicy: OnFailure
          containers:
          - name: main
            image: busybox:1.36
"#,
    );
    let mut jobs = Vec::new();
    wait_for("the first scheduled job", 75, || {
        jobs = items(&c, &["jobs", "-l", "app=tick"]);
        !jobs.is_empty()
    });
    let job = &jobs[0];
    let name = job["metadata"]["name"].as_str().unwrap().to_string();
    let shown = c.ok(&["get", "jobs"]);
    assert!(shown.contains(&name), "{shown}");
    let cj = c.json(&["cronjob", "tick"]);
    let minutes: i64 = name.strip_prefix("tick-").unwrap().parse().unwrap();
    let scheduled = kedge::clock::rfc3339(minutes * 60);
    assert_eq!(
        job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"],
        scheduled
    );
    assert_eq!(job["metadata"]["ownerReferences"][0]["kind"], "CronJob");
    assert_eq!(
        job["metadata"]["ownerReferences"][0]["uid"],
        cj["metadata"]["uid"]
    );
    assert_eq!(cj["status"]["lastScheduleTime"], scheduled);
    // The run completes; the CronJob sees it.
    let mut cj = Value::Null;
    wait_for("lastSuccessfulTime", 30, || {
        cj = c.json(&["cronjob", "tick"]);
        cj["status"]["lastSuccessfulTime"].is_string()
    });
    assert!(
        cj["status"]
            .get("active")
            .is_none_or(|a| a.as_array().is_some_and(Vec::is_empty)),
        "{cj}"
    );
    assert!(event_reasons(&c, "tick")
        .iter()
        .any(|r| r == "SuccessfulCreate"));
    assert!(event_reasons(&c, "tick")
        .iter()
        .any(|r| r == "SawCompletedJob"));
}
