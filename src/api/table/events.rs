//! The Event printer, shared by core/v1 and events.k8s.io/v1 Events (both are served from the
//! same storage; only the field names differ).

use serde_json::Value;

use super::duration;
use super::fields::{int, int_of, name, obj, or, s, str_of};
use super::{col, wide, Col, Printer};

pub(super) const PRINTERS: &[Printer] = &[
    Printer {
        group: "",
        kind: "Event",
        columns: EVENT,
        cells: core_event,
    },
    Printer {
        group: "events.k8s.io",
        kind: "Event",
        columns: EVENT,
        cells: events_event,
    },
];

const EVENT: &[Col] = &[
    col(
        "Last Seen",
        "string",
        "The time at which the most recent occurrence of this event was recorded.",
    ),
    col(
        "Type",
        "string",
        "Type of this event (Normal, Warning), new types could be added in the future",
    ),
    col(
        "Reason",
        "string",
        "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
    ),
    col(
        "Object",
        "string",
        "The object that this event is about.",
    ),
    wide(
        "Subobject",
        "string",
        "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].",
    ),
    wide(
        "Source",
        "string",
        "The component reporting this event. Should be a short machine understandable string.",
    ),
    col(
        "Message",
        "string",
        "A human-readable description of the status of this operation.",
    ),
    wide(
        "First Seen",
        "string",
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
    ),
    wide(
        "Count",
        "string",
        "The number of times this event has occurred.",
    ),
    Col {
        format: "name",
        ..wide("Name", "string", super::NAME_DESC)
    },
];

/// Where each printed field lives in the two Event API versions.
struct EventFields {
    object: &'static str,
    message: &'static str,
    source: &'static str,
    controller: &'static str,
    count: &'static str,
    first: &'static str,
    last: &'static str,
}

fn core_event(o: &Value, now: i64) -> Vec<Value> {
    event(
        o,
        now,
        &EventFields {
            object: "involvedObject",
            message: "message",
            source: "source",
            controller: "reportingComponent",
            count: "count",
            first: "firstTimestamp",
            last: "lastTimestamp",
        },
    )
}

fn events_event(o: &Value, now: i64) -> Vec<Value> {
    event(
        o,
        now,
        &EventFields {
            object: "regarding",
            message: "note",
            source: "deprecatedSource",
            controller: "reportingController",
            count: "deprecatedCount",
            first: "deprecatedFirstTimestamp",
            last: "deprecatedLastTimestamp",
        },
    )
}

fn event(o: &Value, now: i64, f: &EventFields) -> Vec<Value> {
    let first = match duration::time_of(o, &[f.first]) {
        Some(t) => duration::since_nanos(Some(t), now),
        None => duration::since(o, &["eventTime"], now),
    };
    let mut last = match duration::time_of(o, &[f.last]) {
        Some(t) => duration::since_nanos(Some(t), now),
        None => first.clone(),
    };
    let mut times = int_of(o, &[f.count]);
    if obj(o, &["series"]).is_some() {
        last = duration::since(o, &["series", "lastObservedTime"], now);
        times = int_of(o, &["series", "count"]);
    } else if times == 0 {
        // Singleton events of the new API carry no count.
        times = 1;
    }
    let kind = str_of(o, &[f.object, "kind"]).to_lowercase();
    let target = match str_of(o, &[f.object, "name"]) {
        "" => kind,
        object_name => format!("{kind}/{object_name}"),
    };
    let component = or(
        str_of(o, &[f.source, "component"]),
        str_of(o, &[f.controller]),
    );
    let host = or(
        str_of(o, &[f.source, "host"]),
        str_of(o, &["reportingInstance"]),
    );
    let source = if host.is_empty() {
        component
    } else {
        format!("{component}, {host}")
    };
    vec![
        s(last),
        s(str_of(o, &["type"])),
        s(str_of(o, &["reason"])),
        s(target),
        s(str_of(o, &[f.object, "fieldPath"])),
        s(source),
        s(str_of(o, &[f.message]).trim()),
        s(first),
        int(times),
        s(name(o)),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::{cells, columns};
    use serde_json::json;

    const NOW: i64 = 1_700_000_000; // 2023-11-14T22:13:20Z

    fn headers(group: &str, kind: &str, priority: i32) -> Vec<String> {
        columns(group, kind)
            .into_iter()
            .filter(|c| c.priority <= priority)
            .map(|c| c.name.to_uppercase())
            .collect()
    }

    #[test]
    fn events() {
        assert_eq!(
            headers("", "Event", 0),
            ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
        );
        assert_eq!(columns("", "Event").len(), 10);
        let ev = json!({
            "metadata": {"name": "web-1.17a"},
            "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{nginx}"},
            "reason": "BackOff", "type": "Warning", "message": "Back-off restarting failed container\n",
            "source": {"component": "kubelet", "host": "node-a"},
            "firstTimestamp": "2023-11-14T21:13:20Z", "lastTimestamp": "2023-11-14T22:12:20Z", "count": 12
        });
        assert_eq!(
            cells("", "Event", &ev, NOW),
            vec![
                json!("60s"),
                json!("Warning"),
                json!("BackOff"),
                json!("pod/web-1"),
                json!("spec.containers{nginx}"),
                json!("kubelet, node-a"),
                json!("Back-off restarting failed container"),
                json!("60m"),
                json!(12),
                json!("web-1.17a"),
            ]
        );
        let modern = json!({
            "metadata": {"name": "n.1"}, "regarding": {"kind": "Node", "name": "n"},
            "reason": "Starting", "type": "Normal", "note": "Starting kubelet.",
            "reportingController": "kubelet", "reportingInstance": "n",
            "eventTime": "2023-11-14T22:13:10.123456Z"
        });
        let row = cells("events.k8s.io", "Event", &modern, NOW);
        assert_eq!(
            row,
            vec![
                json!("9s"),
                json!("Normal"),
                json!("Starting"),
                json!("node/n"),
                json!(""),
                json!("kubelet, n"),
                json!("Starting kubelet."),
                json!("9s"),
                json!(1),
                json!("n.1"),
            ]
        );
        let series = json!({"metadata": {"name": "s"}, "involvedObject": {"kind": "Node"},
                            "eventTime": "2023-11-14T21:13:20.000000Z",
                            "series": {"count": 5, "lastObservedTime": "2023-11-14T22:11:20.000000Z"}});
        let row = cells("", "Event", &series, NOW);
        assert_eq!(
            (&row[0], &row[3], &row[7], &row[8]),
            (&json!("2m"), &json!("node"), &json!("60m"), &json!(5))
        );
    }
}
