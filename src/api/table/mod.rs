//! Server-side printing: the columns and cells of the `meta.k8s.io/v1` `Table` that
//! `kubectl get` requests (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`).
//!
//! Contract:
//! - [`columns`] and [`cells`] reproduce what the Kubernetes 1.33 API server returns for its
//!   built-in kinds (`pkg/printers/internalversion`): same column names, types, formats and
//!   priorities, same cell text and JSON types (strings, integers, booleans).
//! - The server always prints "wide": priority-1 columns (shown by `kubectl get -o wide` only)
//!   are in every row, so `cells(..).len() == columns(..).len()` for every kind.
//! - Ages and other durations are rendered here with [`human_duration`] against the injected
//!   `now` (unix seconds); kubectl prints them verbatim.
//! - Kinds the server prints with its generic convertor (Role, ClusterRole, LimitRange,
//!   CustomResourceDefinition) get `Name` + `Created At` (type `date`, the RFC 3339 UTC
//!   creation time). Any other kind gets `Name` + `Age`.
//! - Objects may be partial or oddly typed: a missing or mistyped field reads as Go's zero
//!   value, except fields the API server always defaults on write (`spec.replicas` = 1, service
//!   `type` = ClusterIP, port `protocol` = TCP), which read as that default. Nothing panics.
//! - Custom resources: [`crd_columns`] / [`crd_cells`] follow the apiextensions table convertor,
//!   with a Kubernetes-compatible JSONPath evaluator ([`JsonPath`]); values a column cannot show
//!   are JSON `null` cells there (kubectl prints `<none>`), and `date` columns are ages.
//! - Events of both `v1` and `events.k8s.io/v1` print alike; `group` selects the field names.

mod batch;
mod cluster;
mod core;
mod crd;
mod duration;
mod events;
mod fields;
mod jsonpath;
mod networking;
mod pod;
mod quantity;
mod selector;
mod services;
mod storage;
mod workloads;

use serde_json::Value;

pub use crd::{crd_cells, crd_columns};
pub use duration::human_duration;
pub use jsonpath::{JsonPath, JsonPathError};

/// One column of a `Table` (`metav1.TableColumnDefinition`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ColumnDefinition {
    /// Human-readable header; kubectl upper-cases it.
    pub name: String,
    /// OpenAPI type of the cells: `string`, `integer`, `number`, `boolean` or `date`.
    #[serde(rename = "type")]
    pub type_: String,
    /// OpenAPI format hint; `name` marks the column holding the object name.
    pub format: String,
    /// What the column shows.
    pub description: String,
    /// 0 = always shown, 1 = shown with `-o wide` only.
    pub priority: i32,
}

impl ColumnDefinition {
    fn new(name: &str, type_: &str, format: &str, description: &str, priority: i32) -> Self {
        Self {
            name: name.to_string(),
            type_: type_.to_string(),
            format: format.to_string(),
            description: description.to_string(),
            priority,
        }
    }
}

/// `ObjectMeta` swagger doc for `name`, the description of every Name column.
pub(crate) const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// `ObjectMeta` swagger doc for `creationTimestamp`, the description of every Age column.
pub(crate) const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// A column definition in a `const` table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Col {
    name: &'static str,
    type_: &'static str,
    format: &'static str,
    description: &'static str,
    priority: i32,
}

/// A column shown by default.
pub(crate) const fn col(name: &'static str, type_: &'static str, description: &'static str) -> Col {
    Col {
        name,
        type_,
        format: "",
        description,
        priority: 0,
    }
}

/// A column shown only with `-o wide`.
pub(crate) const fn wide(
    name: &'static str,
    type_: &'static str,
    description: &'static str,
) -> Col {
    Col {
        priority: 1,
        ..col(name, type_, description)
    }
}

pub(crate) const NAME: Col = Col {
    format: "name",
    ..col("Name", "string", NAME_DESC)
};
pub(crate) const AGE: Col = col("Age", "string", AGE_DESC);
pub(crate) const CONTAINERS: Col = wide(
    "Containers",
    "string",
    "Names of each container in the template.",
);
pub(crate) const IMAGES: Col = wide(
    "Images",
    "string",
    "Images referenced by each container in the template.",
);

/// Renders one object's cells; the `i64` is `now` in unix seconds.
pub(crate) type CellFn = fn(&Value, i64) -> Vec<Value>;

/// The printer for one built-in kind.
pub(crate) struct Printer {
    pub(crate) group: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) columns: &'static [Col],
    pub(crate) cells: CellFn,
}

/// Kinds served by the generic `rest.DefaultTableConvertor`.
const CREATED_AT_KINDS: &[(&str, &str)] = &[
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("", "LimitRange"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
];

const CREATED_AT_COLUMNS: &[Col] = &[NAME, col("Created At", "date", AGE_DESC)];

fn created_at_cells(obj: &Value, _now: i64) -> Vec<Value> {
    let created = duration::time_of(obj, &["metadata", "creationTimestamp"]);
    vec![
        fields::s(fields::name(obj)),
        fields::s(duration::format_rfc3339(created)),
    ]
}

const UNKNOWN_COLUMNS: &[Col] = &[NAME, AGE];

fn unknown_cells(obj: &Value, now: i64) -> Vec<Value> {
    vec![
        fields::s(fields::name(obj)),
        fields::s(fields::age(obj, now)),
    ]
}

fn printers() -> impl Iterator<Item = &'static Printer> {
    [
        pod::PRINTERS,
        workloads::PRINTERS,
        batch::PRINTERS,
        services::PRINTERS,
        self::core::PRINTERS,
        events::PRINTERS,
        storage::PRINTERS,
        networking::PRINTERS,
        cluster::PRINTERS,
    ]
    .into_iter()
    .flatten()
}

/// The column set and cell function for a kind.
fn lookup(group: &str, kind: &str) -> (&'static [Col], CellFn) {
    if let Some(p) = printers().find(|p| p.group == group && p.kind == kind) {
        return (p.columns, p.cells);
    }
    if CREATED_AT_KINDS.contains(&(group, kind)) {
        return (CREATED_AT_COLUMNS, created_at_cells);
    }
    (UNKNOWN_COLUMNS, unknown_cells)
}

/// Columns for a built-in kind; `group` is `""` for core. Unknown kinds get NAME (format
/// `name`) + AGE. Kind names are the API kinds (`Pod`, `Deployment`, ...).
pub fn columns(group: &str, kind: &str) -> Vec<ColumnDefinition> {
    lookup(group, kind)
        .0
        .iter()
        .map(|c| ColumnDefinition::new(c.name, c.type_, c.format, c.description, c.priority))
        .collect()
}

/// Cells for one object, in column order (wide columns included). `now` is unix seconds.
pub fn cells(group: &str, kind: &str, obj: &Value, now: i64) -> Vec<Value> {
    (lookup(group, kind).1)(obj, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every registered printer yields one cell per column, whatever the object looks like.
    #[test]
    fn every_printer_fills_every_column_without_panicking() {
        let weird = json!({
            "metadata": {"name": 5, "labels": [], "creationTimestamp": "soon",
                         "ownerReferences": {"controller": true}},
            "spec": {"replicas": "three", "containers": {"a": 1}, "ports": [1, null, {"port": "x"}],
                     "selector": "app=x", "template": [], "type": 7, "rules": [{"host": 3}],
                     "tls": {}, "accessModes": "RWO", "subjects": [{"kind": "User"}]},
            "status": {"conditions": [null, {"type": "Ready"}], "containerStatuses": [{}, 3, {"restartCount": i64::MAX}, {"restartCount": i64::MAX,
                               "lastState": {"terminated": {"finishedAt": "9999-12-31T23:59:59Z"}}}],
                       "initContainerStatuses": [{"state": []}], "hard": {"cpu": 1},
                       "loadBalancer": {"ingress": [{}]}, "addresses": "none"},
            "subsets": [{"addresses": [{"ip": 1}], "ports": [{}]}],
            "endpoints": [{"addresses": "x"}],
            "data": "not a map",
            "involvedObject": 3
        });
        let mut kinds: Vec<(&str, &str)> = printers().map(|p| (p.group, p.kind)).collect();
        kinds.extend_from_slice(CREATED_AT_KINDS);
        kinds.push(("example.com", "Widget"));
        for (group, kind) in kinds {
            let cols = columns(group, kind);
            assert_eq!(
                cols[0].name,
                if kind == "Event" { "Last Seen" } else { "Name" }
            );
            for obj in [json!({}), json!(null), json!([1, 2]), weird.clone()] {
                let row = cells(group, kind, &obj, 1_700_000_000);
                assert_eq!(row.len(), cols.len(), "{group}/{kind} on {obj}");
            }
        }
    }

    #[test]
    fn unknown_and_generic_kinds() {
        let obj = json!({"metadata": {"name": "w", "creationTimestamp": "2023-11-14T22:08:20Z"}});
        let cols = columns("example.com", "Widget");
        assert_eq!(cols.len(), 2);
        assert_eq!(
            (cols[0].format.as_str(), cols[1].name.as_str()),
            ("name", "Age")
        );
        assert_eq!(
            cells("example.com", "Widget", &obj, 1_700_000_000),
            vec![json!("w"), json!("5m")]
        );
        let cols = columns("rbac.authorization.k8s.io", "ClusterRole");
        assert_eq!(
            (cols[1].name.as_str(), cols[1].type_.as_str()),
            ("Created At", "date")
        );
        assert_eq!(
            cells(
                "rbac.authorization.k8s.io",
                "ClusterRole",
                &obj,
                1_700_000_000
            ),
            vec![json!("w"), json!("2023-11-14T22:08:20Z")]
        );
        // A Role in the core group is not a Role.
        assert_eq!(columns("", "Role")[1].name, "Age");
    }

    #[test]
    fn column_definitions_serialize_like_metav1() {
        let json = serde_json::to_value(&columns("", "Namespace")[1]).unwrap();
        assert_eq!(
            json,
            json!({"name": "Status", "type": "string", "format": "",
                   "description": "The status of the namespace", "priority": 0})
        );
    }
}

/// Column helpers shared by the printers' unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use super::columns;

    /// Every column as (UPPER-CASE NAME, priority).
    pub fn names(group: &str, kind: &str) -> Vec<(String, i32)> {
        columns(group, kind)
            .into_iter()
            .map(|c| (c.name.to_uppercase(), c.priority))
            .collect()
    }

    /// The columns kubectl shows without `-o wide`.
    pub fn shown(group: &str, kind: &str) -> Vec<String> {
        names(group, kind)
            .into_iter()
            .filter(|(_, p)| *p == 0)
            .map(|(n, _)| n)
            .collect()
    }
}
