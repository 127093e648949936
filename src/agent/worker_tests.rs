//! Pod worker scenarios against the fakes: start and status, crash restarts with back-off on
//! the fake clock, image and config errors, graceful deletion.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::{json, Value};

use super::config::AgentConfig;
use super::deps::Deps;
use super::fakes::*;
use super::lookup::PodTable;
use super::node::NodeFacts;
use super::worker::{Cmd, Ctx, Worker};
use crate::clock::FakeClock;
use crate::controller::client::{EVENTS, PODS};

struct Env {
    api: Arc<FakeApi>,
    rt: Arc<FakeRuntime>,
    clock: FakeClock,
    ctx: Arc<Ctx>,
    _dir: tempfile::TempDir,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::new(1_000_000);
    let api = Arc::new(FakeApi::default());
    let rt = Arc::new(FakeRuntime::new(Arc::new(clock.clone())));
    let mut cfg = AgentConfig::new("node1", &dir.path().join("data"));
    cfg.log_dir = dir.path().join("logs");
    cfg.cluster_dns = Some("10.43.0.10".parse().unwrap());
    let net: Arc<dyn super::deps::PodNetwork> = Arc::new(FakeNet);
    let deps = Deps {
        runtime: rt.clone(),
        images: Arc::new(FakeImages(vec!["busybox".into()])),
        volumes: Arc::new(FakeVolumes),
        network: Arc::new(RwLock::new(Some(net))),
    };
    let facts = NodeFacts {
        host_ip: "10.0.0.2".into(),
        alloc_milli_cpu: 2000,
        alloc_memory: 4 << 30,
        alloc_ephemeral: 10 << 30,
        pod_cidr: Some("10.42.0.0/24".into()),
    };
    let ctx = Arc::new(Ctx {
        client: api.clone(),
        deps,
        cfg: Arc::new(cfg),
        facts: Arc::new(RwLock::new(facts)),
        clock: Arc::new(clock.clone()),
        events: super::events::Recorder::new(api.clone(), Arc::new(clock.clone()), "node1"),
        table: Arc::new(PodTable::default()),
        host_resolv: Default::default(),
        host_hosts: String::new(),
    });
    Env {
        api,
        rt,
        clock,
        ctx,
        _dir: dir,
    }
}

fn pod(containers: Value, policy: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "ns", "uid": "uid-1"},
        "spec": {"nodeName": "node1", "restartPolicy": policy, "containers": containers,
                 "terminationGracePeriodSeconds": 5},
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]}})
}

async fn until(what: &str, f: impl Fn() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        async_io::Timer::after(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

fn status(e: &Env) -> Value {
    e.api.get_obj(PODS, Some("ns"), "p").unwrap()["status"].clone()
}

fn has_event(e: &Env, reason: &str) -> bool {
    e.api
        .all(EVENTS.plural)
        .iter()
        .any(|ev| ev["reason"] == reason)
}

#[test]
fn runs_restarts_with_backoff_and_terminates() {
    crate::rt::block_on(async {
        let e = env();
        let p = pod(
            json!([{"name": "app", "image": "busybox", "command": ["sleep", "1000"]}]),
            "Always",
        );
        e.api.put(PODS, Some("ns"), p.clone());
        let (tx, rx) = smol::channel::unbounded();
        let task = crate::rt::spawn(Worker::new(e.ctx.clone(), Arc::new(p), tx.clone()).run(rx));
        until("running", || status(&e)["phase"] == "Running").await;
        let s = status(&e);
        assert_eq!(s["podIP"], "10.42.0.7");
        assert_eq!(s["hostIP"], "10.0.0.2");
        assert_eq!(s["containerStatuses"][0]["ready"], true);
        assert!(s["containerStatuses"][0]["containerID"]
            .as_str()
            .unwrap()
            .starts_with("kedge://"));
        assert!(has_event(&e, "Pulled") && has_event(&e, "Started"));
        let spec = &e.rt.specs()[0];
        assert_eq!(spec.args, ["sleep", "1000"]);
        assert!(spec
            .mounts
            .iter()
            .any(|m| m.destination == "/etc/resolv.conf"));

        // First crash: restarted at once.
        assert!(e.rt.exit("app", 1));
        until("first restart", || {
            status(&e)["containerStatuses"][0]["restartCount"] == 1 && e.rt.running("app") == 1
        })
        .await;
        assert_eq!(
            status(&e)["containerStatuses"][0]["lastState"]["terminated"]["exitCode"],
            1
        );
        // Second crash: back-off 10s on the fake clock.
        e.clock.advance(1);
        assert!(e.rt.exit("app", 2));
        until("crashloop", || {
            status(&e)["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
        })
        .await;
        assert!(
            status(&e)["containerStatuses"][0]["state"]["waiting"]["message"]
                .as_str()
                .unwrap()
                .starts_with("back-off 10s restarting failed container=app pod=p_ns(uid-1)")
        );
        assert_eq!(status(&e)["phase"], "Running");
        assert!(has_event(&e, "BackOff"));
        e.clock.advance(10);
        let cur = e.api.get_obj(PODS, Some("ns"), "p").unwrap();
        tx.send(Cmd::Update(Arc::new(cur))).await.unwrap();
        until("second restart", || {
            status(&e)["containerStatuses"][0]["restartCount"] == 2 && e.rt.running("app") == 1
        })
        .await;

        // Graceful deletion: SIGTERM, teardown, delete with grace 0 and the uid.
        let mut cur = e.api.get_obj(PODS, Some("ns"), "p").unwrap();
        cur["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        cur["metadata"]["deletionGracePeriodSeconds"] = json!(5);
        tx.send(Cmd::Update(Arc::new(cur))).await.unwrap();
        task.await;
        assert!(has_event(&e, "Killing"));
        let deletes = e.api.deletes.lock().unwrap().clone();
        assert_eq!(
            deletes,
            [(
                "p".to_string(),
                "ns".to_string(),
                Some(0),
                Some("uid-1".to_string())
            )]
        );
        assert!(e.rt.sandboxes.lock().unwrap().is_empty());
        assert_eq!(e.rt.running("app"), 0);
    });
}

#[test]
fn never_policy_completes_and_missing_images_wait() {
    crate::rt::block_on(async {
        let e = env();
        let p = pod(
            json!([
            {"name": "ok", "image": "busybox"},
            {"name": "missing", "image": "nginx:1.27", "imagePullPolicy": "Never"}]),
            "Never",
        );
        e.api.put(PODS, Some("ns"), p.clone());
        let (tx, rx) = smol::channel::unbounded();
        let _task = crate::rt::spawn(Worker::new(e.ctx.clone(), Arc::new(p), tx).run(rx));
        until("ErrImageNeverPull", || {
            status(&e)["containerStatuses"][1]["state"]["waiting"]["reason"] == "ErrImageNeverPull"
        })
        .await;
        assert_eq!(status(&e)["phase"], "Pending");
        assert_eq!(
            status(&e)["containerStatuses"][1]["state"]["waiting"]["message"],
            "Container image \"nginx:1.27\" is not present with pull policy of Never"
        );
        assert!(has_event(&e, "ErrImageNeverPull"));
    });
}

#[test]
fn init_containers_run_in_order_then_the_pod_succeeds() {
    crate::rt::block_on(async {
        let e = env();
        let mut p = pod(json!([{"name": "app", "image": "busybox"}]), "OnFailure");
        p["spec"]["initContainers"] = json!([{"name": "init", "image": "busybox"}]);
        e.api.put(PODS, Some("ns"), p.clone());
        let (tx, rx) = smol::channel::unbounded();
        let _task = crate::rt::spawn(Worker::new(e.ctx.clone(), Arc::new(p), tx).run(rx));
        until("init running", || e.rt.running("init") == 1).await;
        until("pending status", || status(&e)["phase"] == "Pending").await;
        assert_eq!(e.rt.running("app"), 0);
        assert_eq!(
            status(&e)["containerStatuses"][0]["state"]["waiting"]["reason"],
            "PodInitializing"
        );
        e.rt.exit("init", 0);
        until("app running", || e.rt.running("app") == 1).await;
        e.rt.exit("app", 0);
        until("succeeded", || status(&e)["phase"] == "Succeeded").await;
        let s = status(&e);
        assert_eq!(
            s["containerStatuses"][0]["state"]["terminated"]["reason"],
            "Completed"
        );
        let ready = s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap()
            .clone();
        assert_eq!(ready["reason"], "PodCompleted");
        // Resources were released but statuses kept.
        until("sandbox released", || {
            e.rt.sandboxes.lock().unwrap().is_empty()
        })
        .await;
    });
}

#[test]
fn run_as_non_root_refuses_root_images() {
    crate::rt::block_on(async {
        let e = env();
        let p = pod(
            json!([{"name": "app", "image": "busybox",
            "securityContext": {"runAsNonRoot": true}}]),
            "Always",
        );
        e.api.put(PODS, Some("ns"), p.clone());
        let (tx, rx) = smol::channel::unbounded();
        let _task = crate::rt::spawn(Worker::new(e.ctx.clone(), Arc::new(p), tx).run(rx));
        until("config error", || {
            status(&e)["containerStatuses"][0]["state"]["waiting"]["reason"]
                == "CreateContainerConfigError"
        })
        .await;
        assert!(
            status(&e)["containerStatuses"][0]["state"]["waiting"]["message"]
                .as_str()
                .unwrap()
                .starts_with("container has runAsNonRoot and image will run as root")
        );
    });
}

#[test]
fn liveness_failure_kills_and_restarts_readiness_gates_ready() {
    crate::rt::block_on(async {
        let e = env();
        let p = pod(
            json!([
            {"name": "live", "image": "busybox",
             "livenessProbe": {"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 2}},
            {"name": "ready", "image": "busybox",
             "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1}}]),
            "Always",
        );
        e.api.put(PODS, Some("ns"), p.clone());
        let (tx, rx) = smol::channel::unbounded();
        let _task = crate::rt::spawn(Worker::new(e.ctx.clone(), Arc::new(p), tx).run(rx));
        until("ready by probe", || {
            status(&e)["containerStatuses"][1]["ready"] == true
        })
        .await;
        until("liveness restart", || {
            status(&e)["containerStatuses"][0]["restartCount"] == 1
        })
        .await;
        assert!(has_event(&e, "Unhealthy"));
        let killing = e
            .api
            .all(EVENTS.plural)
            .into_iter()
            .find(|ev| ev["reason"] == "Killing")
            .unwrap();
        assert_eq!(
            killing["message"],
            "Container live failed liveness probe, will be restarted"
        );
        assert_eq!(
            killing["involvedObject"]["fieldPath"],
            "spec.containers{live}"
        );
        assert_eq!(killing["source"]["component"], "kubelet");
        // The killed run shows as terminated by SIGTERM.
        assert_eq!(
            status(&e)["containerStatuses"][0]["lastState"]["terminated"]["exitCode"],
            143
        );
    });
}

#[test]
fn readopts_running_containers_from_the_checkpoint() {
    crate::rt::block_on(async {
        let e = env();
        let p = pod(json!([{"name": "app", "image": "busybox"}]), "Always");
        e.api.put(PODS, Some("ns"), p.clone());
        let (tx, rx) = smol::channel::unbounded();
        let task =
            crate::rt::spawn(Worker::new(e.ctx.clone(), Arc::new(p.clone()), tx.clone()).run(rx));
        until("running", || e.rt.running("app") == 1).await;
        until("status", || status(&e)["phase"] == "Running").await;
        // The agent stops; the container keeps running.
        tx.send(Cmd::Stop).await.unwrap();
        task.await;
        assert_eq!(e.rt.running("app"), 1);
        let before = status(&e)["containerStatuses"][0]["containerID"].clone();
        // A new agent adopts it instead of starting another.
        let (tx2, rx2) = smol::channel::unbounded();
        let _t2 = crate::rt::spawn(Worker::new(e.ctx.clone(), Arc::new(p), tx2).run(rx2));
        async_io::Timer::after(Duration::from_millis(200)).await;
        assert_eq!(e.rt.specs().len(), 1);
        assert_eq!(status(&e)["containerStatuses"][0]["containerID"], before);
        // An exit is still noticed by the new worker.
        e.rt.exit("app", 3);
        until("restart after adoption", || {
            status(&e)["containerStatuses"][0]["restartCount"] == 1
        })
        .await;
    });
}

#[test]
fn manager_starts_own_pods_and_tears_down_orphans() {
    crate::rt::block_on(async {
        let e = env();
        let mine = pod(json!([{"name": "app", "image": "busybox"}]), "Always");
        let mut other = mine.clone();
        other["metadata"]["name"] = json!("q");
        other["metadata"]["uid"] = json!("uid-2");
        other["spec"]["nodeName"] = json!("node2");
        e.api.put(PODS, Some("ns"), mine);
        e.api.put(PODS, Some("ns"), other);
        // A pod a previous agent ran that no longer exists.
        let orphan_dir = e.ctx.cfg.pod_dir("gone");
        let cp = super::checkpoint::Checkpoint {
            uid: "gone".into(),
            namespace: "ns".into(),
            name: "old".into(),
            ..Default::default()
        };
        super::checkpoint::save(&orphan_dir, &cp).unwrap();
        let (stop_tx, stop) = smol::channel::unbounded::<()>();
        let mgr = super::manager::Manager::new(e.ctx.clone());
        let task = crate::rt::spawn(mgr.run(stop));
        until("own pod running", || e.rt.running("app") == 1).await;
        until("orphan removed", || !orphan_dir.exists()).await;
        assert_eq!(e.rt.specs().len(), 1);
        assert_eq!(e.rt.specs()[0].pod_name, "p");
        assert!(e.api.deletes.lock().unwrap().is_empty());
        drop(stop_tx);
        task.await;
        // Stopping the agent leaves pods running.
        assert_eq!(e.rt.running("app"), 1);
    });
}
