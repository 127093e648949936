//! The decisions of one CronJob sync, free of I/O (Kubernetes 1.33's `syncCronJob` and
//! `cleanupFinishedJobs`): which children finished, which finished Jobs fall out of the
//! history limits, whether a Job is due now under the concurrency policy and starting
//! deadline, and the Job to create for a scheduled time.
//!
//! Contract: a Job for scheduled time `t` is named `<cronjob>-<t in minutes since the epoch>`,
//! so two syncs can never start the same run twice; `status.lastScheduleTime` is the last run
//! started (or adopted after an earlier crash between creating the Job and writing status).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::schedule::{History, Missed, Schedule, ScheduleError};
use super::tz::{rfc3339_in, Zone};
use crate::api::object;
use crate::clock::{civil_from_days, parse_rfc3339, rfc3339};
use crate::controller::job::status::typed_status;
use crate::controller::ownerref::controller_ref;

pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// An event to record about the CronJob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}

impl Note {
    pub fn normal(reason: &'static str, message: String) -> Note {
        Note {
            warning: false,
            reason,
            message,
        }
    }
    pub fn warning(reason: &'static str, message: String) -> Note {
        Note {
            warning: true,
            reason,
            message,
        }
    }
}

/// `status` of a CronJob; unknown fields are kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CronStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl CronStatus {
    pub fn of(cj: &Value) -> CronStatus {
        typed_status(cj)
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    pub fn has_active(&self, uid: &str) -> bool {
        self.active.iter().any(|r| ref_str(r, "uid") == uid)
    }

    /// Drop a Job from `active`; whether it was there.
    pub fn drop_active(&mut self, uid: &str) -> bool {
        let before = self.active.len();
        self.active.retain(|r| ref_str(r, "uid") != uid);
        before != self.active.len()
    }
}

pub fn ref_str<'a>(r: &'a Value, k: &str) -> &'a str {
    r.get(k).and_then(Value::as_str).unwrap_or("")
}

/// The object reference kept in `status.active`.
pub fn job_ref(job: &Value) -> Value {
    json!({
        "kind": "Job",
        "namespace": object::meta_str(job, "namespace"),
        "name": object::name(job),
        "uid": object::meta_str(job, "uid"),
        "apiVersion": "batch/v1",
        "resourceVersion": object::meta_str(job, "resourceVersion"),
    })
}

/// `Complete` or `Failed`, whichever condition of a Job is true.
pub fn finished_as(job: &Value) -> Option<&str> {
    job.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| {
            matches!(
                c.get("type").and_then(Value::as_str),
                Some("Complete" | "Failed")
            ) && c.get("status").and_then(Value::as_str) == Some("True")
        })?
        .get("type")?
        .as_str()
}

/// What looking at the children changed.
#[derive(Debug, Default)]
pub struct Observed {
    pub changed: bool,
    pub notes: Vec<Note>,
    /// Unfinished children missing from `active` (the caller double-checks with the API).
    pub unexpected: Vec<Arc<Value>>,
    /// `active` entries with no child in the cache (the caller asks the API if they exist).
    pub vanished: Vec<Value>,
}

/// Reconcile `status.active` and `lastSuccessfulTime` with the children.
pub fn observe(status: &mut CronStatus, jobs: &[Arc<Value>]) -> Observed {
    let mut o = Observed::default();
    for j in jobs {
        let uid = object::meta_str(j, "uid").unwrap_or("");
        let finished = finished_as(j);
        if !status.has_active(uid) && finished.is_none() {
            o.unexpected.push(j.clone());
        } else if let Some(how) = finished.filter(|_| status.has_active(uid)) {
            status.drop_active(uid);
            let msg = format!("Saw completed job: {}, status: {how}", object::name(j));
            o.notes.push(Note::normal("SawCompletedJob", msg));
            o.changed = true;
        }
        if finished == Some("Complete") {
            let done = j.pointer("/status/completionTime").and_then(Value::as_str);
            let later = |t: &str| {
                let cur = status
                    .last_successful_time
                    .as_deref()
                    .and_then(parse_rfc3339);
                cur.is_none_or(|c| parse_rfc3339(t).is_some_and(|t| t > c))
            };
            if let Some(t) = done.filter(|t| later(t)) {
                status.last_successful_time = Some(t.to_string());
                o.changed = true;
            }
        }
    }
    o.vanished = status
        .active
        .iter()
        .filter(|r| {
            !jobs
                .iter()
                .any(|j| object::meta_str(j, "uid") == Some(ref_str(r, "uid")))
        })
        .cloned()
        .collect();
    o
}

/// Finished Jobs beyond `successfulJobsHistoryLimit`/`failedJobsHistoryLimit`, oldest first
/// (by start time, Jobs never started last, then by name).
pub fn beyond_history(cj: &Value, jobs: &[Arc<Value>]) -> Vec<Arc<Value>> {
    let limit = |k: &str| cj.pointer(&format!("/spec/{k}")).and_then(Value::as_i64);
    let mut out = Vec::new();
    for (kind, limit) in [
        ("Complete", limit("successfulJobsHistoryLimit")),
        ("Failed", limit("failedJobsHistoryLimit")),
    ] {
        let Some(limit) = limit else { continue };
        let mut done: Vec<Arc<Value>> = jobs
            .iter()
            .filter(|j| finished_as(j) == Some(kind))
            .cloned()
            .collect();
        let excess = done.len().saturating_sub(limit.max(0) as usize);
        done.sort_by_key(|j| {
            let start = j
                .pointer("/status/startTime")
                .and_then(Value::as_str)
                .and_then(parse_rfc3339);
            (start.is_none(), start, object::name(j).to_string())
        });
        out.extend(done.into_iter().take(excess));
    }
    out
}

/// The schedule expression as Kubernetes formats it: `spec.timeZone` becomes a `TZ=` prefix
/// unless the schedule names a zone itself (which is warned about).
pub fn formatted_schedule(cj: &Value) -> (String, Option<Note>) {
    let schedule = cj
        .pointer("/spec/schedule")
        .and_then(Value::as_str)
        .unwrap_or("");
    if schedule.contains("TZ") {
        let msg = format!(
            "CRON_TZ or TZ used in schedule {schedule:?} is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details"
        );
        return (
            schedule.to_string(),
            Some(Note::warning("UnsupportedSchedule", msg)),
        );
    }
    match cj.pointer("/spec/timeZone").and_then(Value::as_str) {
        Some(tz) => (format!("TZ={tz} {schedule}"), None),
        None => (schedule.to_string(), None),
    }
}

/// What a sync should do about starting a Job.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub notes: Vec<Note>,
    /// Start the Job for this scheduled time.
    pub start: Option<i64>,
    /// Delete the active Jobs first (`concurrencyPolicy: Replace`).
    pub replace: bool,
    /// Look again after this long.
    pub requeue: Option<Duration>,
}

/// Whether a run is due now and what stands in its way.
pub fn plan(
    cj: &Value,
    status: &CronStatus,
    sched: &Schedule,
    now: i64,
) -> Result<Plan, ScheduleError> {
    let h = history(cj, status);
    let requeue = sched.until_next(&h, now);
    let mut p = Plan {
        notes: vec![],
        start: None,
        replace: false,
        requeue,
    };
    let (due, missed) = sched.due(&h, now)?;
    let Some(t) = due else { return Ok(p) };
    if missed == Missed::Many {
        let msg = "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew";
        p.notes
            .push(Note::warning("TooManyMissedTimes", msg.into()));
    }
    if h.starting_deadline.is_some_and(|d| t + d < now) {
        let msg = format!("Missed scheduled time to start a job: {}", rfc1123z(t));
        p.notes.push(Note::warning("MissSchedule", msg));
        return Ok(p);
    }
    let name = job_name(cj, t);
    let started = status.active.iter().any(|r| ref_str(r, "name") == name)
        || status.last_schedule_time.as_deref().and_then(parse_rfc3339) == Some(t);
    if started {
        return Ok(p);
    }
    match cj
        .pointer("/spec/concurrencyPolicy")
        .and_then(Value::as_str)
    {
        Some("Forbid") if !status.active.is_empty() => {
            let msg = "Not starting job because prior execution is running and concurrency policy is Forbid";
            p.notes.push(Note::normal("JobAlreadyActive", msg.into()));
            return Ok(p);
        }
        Some("Replace") => p.replace = !status.active.is_empty(),
        _ => {}
    }
    p.start = Some(t);
    Ok(p)
}

/// Where the schedule search starts for a CronJob.
pub fn history(cj: &Value, status: &CronStatus) -> History {
    History {
        created: object::meta_str(cj, "creationTimestamp")
            .and_then(parse_rfc3339)
            .unwrap_or(0),
        last_schedule: status.last_schedule_time.as_deref().and_then(parse_rfc3339),
        starting_deadline: cj
            .pointer("/spec/startingDeadlineSeconds")
            .and_then(Value::as_i64),
    }
}

pub fn job_name(cj: &Value, scheduled: i64) -> String {
    format!("{}-{}", object::name(cj), scheduled.div_euclid(60))
}

/// The Job for scheduled time `t` (`zone` is `spec.timeZone`'s, UTC without one).
pub fn job_for(cj: &Value, t: i64, zone: &Zone) -> Value {
    let template = cj.pointer("/spec/jobTemplate").unwrap_or(&Value::Null);
    let copy = |k: &str| {
        template
            .pointer(&format!("/metadata/{k}"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let labels = copy("labels");
    let mut annotations = copy("annotations");
    annotations.insert(SCHEDULED_TIMESTAMP.into(), json!(rfc3339_in(zone, t)));
    let mut meta = json!({
        "name": job_name(cj, t),
        "annotations": annotations,
        "ownerReferences": [controller_ref(cj)],
    });
    if !labels.is_empty() {
        meta["labels"] = json!(labels);
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
    })
}

/// Go's `time.RFC1123Z` of a UTC instant (`Mon, 02 Jan 2006 15:04:05 +0000`).
pub fn rfc1123z(t: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = t.div_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let clock = &rfc3339(t)[11..19];
    format!(
        "{}, {d:02} {} {y:04} {clock} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::validation::cron;

    fn at(s: &str) -> i64 {
        parse_rfc3339(s).unwrap()
    }

    fn utc(expr: &str) -> Schedule {
        Schedule::new(cron::parse(expr).unwrap().spec, Arc::new(Zone::utc()))
    }

    fn cronjob(extra: Value) -> Value {
        let mut cj = json!({"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "tick", "namespace": "ns", "uid": "c1",
                         "creationTimestamp": "2024-05-01T10:00:10Z"},
            "spec": {"schedule": "*/1 * * * *", "concurrencyPolicy": "Allow",
                     "jobTemplate": {"metadata": {"labels": {"app": "t"}},
                                     "spec": {"template": {"spec": {"containers": []}}}}}});
        if let Some(spec) = extra.as_object() {
            for (k, v) in spec {
                cj["spec"][k] = v.clone();
            }
        }
        cj
    }

    fn job(name: &str, uid: &str, cond: Option<&str>, start: Option<&str>) -> Arc<Value> {
        let mut j =
            json!({"metadata": {"name": name, "namespace": "ns", "uid": uid}, "status": {}});
        if let Some(c) = cond {
            j["status"]["conditions"] = json!([{"type": c, "status": "True"}]);
            j["status"]["completionTime"] = json!("2024-05-01T10:03:00Z");
        }
        if let Some(s) = start {
            j["status"]["startTime"] = json!(s);
        }
        Arc::new(j)
    }

    #[test]
    fn starts_the_due_run_once() {
        let cj = cronjob(json!({}));
        let s = utc("*/1 * * * *");
        let mut st = CronStatus::default();
        let p = plan(&cj, &st, &s, at("2024-05-01T10:00:30Z")).unwrap();
        assert_eq!(p.start, None);
        assert_eq!(
            p.requeue,
            Some(Duration::from_secs(30) + super::super::schedule::NEXT_SCHEDULE_DELTA)
        );
        let t = at("2024-05-01T10:01:00Z");
        let p = plan(&cj, &st, &s, t + 2).unwrap();
        assert_eq!(p.start, Some(t));
        assert_eq!(job_name(&cj, t), format!("tick-{}", t / 60));
        st.last_schedule_time = Some(rfc3339(t));
        assert_eq!(plan(&cj, &st, &s, t + 3).unwrap().start, None);
    }

    #[test]
    fn concurrency_policies() {
        let s = utc("*/1 * * * *");
        let t = at("2024-05-01T10:02:00Z");
        let st = CronStatus {
            active: vec![job_ref(&job("tick-1", "j1", None, None))],
            last_schedule_time: Some("2024-05-01T10:01:00Z".into()),
            ..Default::default()
        };
        let allow = plan(&cronjob(json!({})), &st, &s, t).unwrap();
        assert_eq!((allow.start, allow.replace), (Some(t), false));
        let forbid = plan(&cronjob(json!({"concurrencyPolicy": "Forbid"})), &st, &s, t).unwrap();
        assert_eq!(forbid.start, None);
        assert_eq!(forbid.notes[0].reason, "JobAlreadyActive");
        let replace = plan(
            &cronjob(json!({"concurrencyPolicy": "Replace"})),
            &st,
            &s,
            t,
        )
        .unwrap();
        assert_eq!((replace.start, replace.replace), (Some(t), true));
    }

    #[test]
    fn missed_deadline_and_too_many_missed() {
        let s = utc("*/1 * * * *");
        let st = CronStatus::default();
        // A run is searched for only within the starting deadline: 10:05 is not started
        // at 10:05:30 with a 10 s deadline, and the next look is at 10:06.
        let cj = cronjob(json!({"startingDeadlineSeconds": 10}));
        let late = plan(&cj, &st, &s, at("2024-05-01T10:05:30Z")).unwrap();
        assert_eq!((late.start, late.notes.len()), (None, 0));
        assert_eq!(late.requeue.unwrap().as_secs(), 30);
        let in_time = plan(&cj, &st, &s, at("2024-05-01T10:05:05Z")).unwrap();
        assert_eq!(in_time.start, Some(at("2024-05-01T10:05:00Z")));
        assert_eq!(
            rfc1123z(at("2024-05-01T10:05:00Z")),
            "Wed, 01 May 2024 10:05:00 +0000"
        );
        // Three hours without a controller: warn, still start the latest.
        let p = plan(&cronjob(json!({})), &st, &s, at("2024-05-01T13:00:05Z")).unwrap();
        assert_eq!(p.notes[0].reason, "TooManyMissedTimes");
        assert_eq!(p.start, Some(at("2024-05-01T13:00:00Z")));
    }

    #[test]
    fn observes_finished_children() {
        let mut st = CronStatus {
            active: vec![
                job_ref(&job("tick-1", "j1", None, None)),
                job_ref(&job("tick-gone", "j9", None, None)),
            ],
            ..Default::default()
        };
        let jobs = vec![
            job("tick-1", "j1", Some("Complete"), None),
            job("tick-2", "j2", None, None),
        ];
        let o = observe(&mut st, &jobs);
        assert!(o.changed);
        assert_eq!(
            o.notes[0].message,
            "Saw completed job: tick-1, status: Complete"
        );
        assert_eq!(
            st.last_successful_time.as_deref(),
            Some("2024-05-01T10:03:00Z")
        );
        assert_eq!(o.unexpected.len(), 1);
        assert_eq!(ref_str(&o.vanished[0], "name"), "tick-gone");
        assert!(!st.has_active("j1"));
    }

    #[test]
    fn trims_history_oldest_first() {
        let cj = cronjob(json!({"successfulJobsHistoryLimit": 1, "failedJobsHistoryLimit": 0}));
        let jobs = vec![
            job("a", "1", Some("Complete"), Some("2024-05-01T10:02:00Z")),
            job("b", "2", Some("Complete"), Some("2024-05-01T10:01:00Z")),
            job("c", "3", Some("Complete"), None),
            job("d", "4", Some("Failed"), Some("2024-05-01T10:00:00Z")),
            job("e", "5", None, None),
        ];
        let gone: Vec<String> = beyond_history(&cj, &jobs)
            .iter()
            .map(|j| object::name(j).to_string())
            .collect();
        assert_eq!(gone, ["b", "a", "d"]);
        assert!(beyond_history(&cronjob(json!({})), &jobs).is_empty());
    }

    #[test]
    fn job_from_template() {
        let cj = cronjob(json!({"timeZone": "America/New_York"}));
        let ny = Zone::from_posix("EST5EDT,M3.2.0,M11.1.0").unwrap();
        let t = at("2024-05-01T13:00:00Z");
        let j = job_for(&cj, t, &ny);
        assert_eq!(j["metadata"]["name"], format!("tick-{}", t / 60));
        assert_eq!(j["metadata"]["labels"]["app"], "t");
        assert_eq!(
            j["metadata"]["annotations"][SCHEDULED_TIMESTAMP],
            "2024-05-01T09:00:00-04:00"
        );
        assert_eq!(j["metadata"]["ownerReferences"][0]["kind"], "CronJob");
        assert!(j["spec"]["template"].is_object());
        assert_eq!(formatted_schedule(&cj).0, "TZ=America/New_York */1 * * * *");
        let tz_in_schedule = cronjob(json!({"schedule": "TZ=UTC 0 * * * *"}));
        let (s, note) = formatted_schedule(&tz_in_schedule);
        assert_eq!(s, "TZ=UTC 0 * * * *");
        assert_eq!(note.unwrap().reason, "UnsupportedSchedule");
    }
}
