//! Printers for batch/v1: Job (status, completions, duration) and CronJob.

use serde_json::Value;

use super::duration;
use super::fields::{
    age, condition_true, containers, count, get, has, int_of, list_of, name, opt_bool, opt_int,
    opt_str, s, str_of,
};
use super::selector::format_label_selector;
use super::{col, wide, Col, Printer, AGE, CONTAINERS, IMAGES, NAME};

pub(super) const PRINTERS: &[Printer] = &[
    Printer {
        group: "batch",
        kind: "Job",
        columns: JOB,
        cells: job,
    },
    Printer {
        group: "batch",
        kind: "CronJob",
        columns: CRON_JOB,
        cells: cron_job,
    },
];

const SELECTOR: Col = wide(
    "Selector",
    "string",
    "A label query over pods that should match the pod count. Normally, the system sets this field for you.",
);

const JOB: &[Col] = &[
    NAME,
    col("Status", "string", "Status of the job."),
    col(
        "Completions",
        "string",
        "The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.",
    ),
    col("Duration", "string", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

fn job(o: &Value, now: i64) -> Vec<Value> {
    let succeeded = int_of(o, &["status", "succeeded"]);
    let completions = match opt_int(o, &["spec", "completions"]) {
        Some(c) => format!("{succeeded}/{c}"),
        None => match int_of(o, &["spec", "parallelism"]) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let start = duration::time_of(o, &["status", "startTime"]);
    let end = duration::time_of(o, &["status", "completionTime"]);
    let took = match (start, end) {
        (None, _) => String::new(),
        (Some(start), None) => duration::since_nanos(Some(start), now),
        (Some(start), Some(end)) => duration::human_duration(duration::secs_between(end, start)),
    };
    let conds = ["status", "conditions"];
    // Kubernetes 1.33 order; `SuccessCriteriaMet` only got its own status in 1.34.
    let status = if condition_true(o, &conds, "Complete") {
        "Complete"
    } else if condition_true(o, &conds, "Failed") {
        "Failed"
    } else if has(o, &["metadata", "deletionTimestamp"]) {
        "Terminating"
    } else if condition_true(o, &conds, "Suspended") {
        "Suspended"
    } else if condition_true(o, &conds, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = containers(o, &["spec", "template", "spec", "containers"]);
    vec![
        s(name(o)),
        s(status),
        s(completions),
        s(took),
        s(age(o, now)),
        s(names),
        s(images),
        s(format_label_selector(get(o, &["spec", "selector"]))),
    ]
}

const CRON_JOB: &[Col] = &[
    NAME,
    col(
        "Schedule",
        "string",
        "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.",
    ),
    col(
        "Timezone",
        "string",
        "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.",
    ),
    col(
        "Suspend",
        "boolean",
        "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions. Defaults to false.",
    ),
    col("Active", "integer", "A list of pointers to currently running jobs."),
    col(
        "Last Schedule",
        "string",
        "Information when was the last time the job was successfully scheduled.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

fn cron_job(o: &Value, now: i64) -> Vec<Value> {
    let last = match duration::time_of(o, &["status", "lastScheduleTime"]) {
        Some(t) => duration::since_nanos(Some(t), now),
        // A set-but-zero time prints as <unknown>, an unset one as <none>.
        None if has(o, &["status", "lastScheduleTime"]) => "<unknown>".to_string(),
        None => "<none>".to_string(),
    };
    // printBoolPtr: a string cell even though the column is typed boolean.
    let suspend = match opt_bool(o, &["spec", "suspend"]) {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    let (names, images) = containers(
        o,
        &[
            "spec",
            "jobTemplate",
            "spec",
            "template",
            "spec",
            "containers",
        ],
    );
    vec![
        s(name(o)),
        s(str_of(o, &["spec", "schedule"])),
        s(opt_str(o, &["spec", "timeZone"]).unwrap_or("<none>")),
        s(suspend),
        count(list_of(o, &["status", "active"]).len()),
        s(last),
        s(age(o, now)),
        s(names),
        s(images),
        s(format_label_selector(get(
            o,
            &["spec", "jobTemplate", "spec", "selector"],
        ))),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::cells;
    use super::super::test_support::shown;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000; // 2023-11-14T22:13:20Z

    #[test]
    fn jobs() {
        assert_eq!(
            shown("batch", "Job"),
            ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
        );
        let done = json!({
            "metadata": {"name": "pi"},
            "spec": {"completions": 1},
            "status": {"succeeded": 1, "startTime": "2023-11-14T22:00:00Z",
                       "completionTime": "2023-11-14T22:00:42Z",
                       "conditions": [{"type": "SuccessCriteriaMet", "status": "True"},
                                      {"type": "Complete", "status": "True"}]}
        });
        assert_eq!(
            cells("batch", "Job", &done, NOW)[1..4],
            [json!("Complete"), json!("1/1"), json!("42s")]
        );
        let running = json!({"metadata": {"name": "p"}, "spec": {"parallelism": 3},
                             "status": {"startTime": "2023-11-14T22:10:18Z"}});
        assert_eq!(
            cells("batch", "Job", &running, NOW)[1..4],
            [json!("Running"), json!("0/1 of 3"), json!("3m2s")]
        );
        let suspended = json!({"metadata": {"name": "p"},
                               "status": {"conditions": [{"type": "Suspended", "status": "True"}]}});
        assert_eq!(
            cells("batch", "Job", &suspended, NOW)[1..4],
            [json!("Suspended"), json!("0/1"), json!("")]
        );
        let failing = json!({"metadata": {"name": "p", "deletionTimestamp": "2023-11-14T22:00:00Z"},
                             "status": {"conditions": [{"type": "FailureTarget", "status": "True"}]}});
        assert_eq!(
            cells("batch", "Job", &failing, NOW)[1],
            json!("Terminating")
        );
    }

    #[test]
    fn cron_jobs() {
        assert_eq!(
            shown("batch", "CronJob"),
            [
                "NAME",
                "SCHEDULE",
                "TIMEZONE",
                "SUSPEND",
                "ACTIVE",
                "LAST SCHEDULE",
                "AGE"
            ]
        );
        let cj = json!({
            "metadata": {"name": "backup", "creationTimestamp": "2023-11-06T22:13:20Z"},
            "spec": {"schedule": "*/5 * * * *", "suspend": false,
                     "jobTemplate": {"spec": {"template": {"spec": {"containers": [
                         {"name": "b", "image": "backup:1"}]}}}}},
            "status": {"active": [{"name": "backup-1"}], "lastScheduleTime": "2023-11-14T22:10:00Z"}
        });
        assert_eq!(
            cells("batch", "CronJob", &cj, NOW),
            vec![
                json!("backup"),
                json!("*/5 * * * *"),
                json!("<none>"),
                json!("False"),
                json!(1),
                json!("3m20s"),
                json!("8d"),
                json!("b"),
                json!("backup:1"),
                json!("<none>"),
            ]
        );
        let fresh = json!({"metadata": {"name": "c"}, "spec": {"timeZone": "Etc/UTC"}});
        assert_eq!(
            cells("batch", "CronJob", &fresh, NOW)[2..6],
            [
                json!("Etc/UTC"),
                json!("<unset>"),
                json!(0),
                json!("<none>")
            ]
        );
    }
}
