//! `metadata` validation shared by every kind, plus label maps, annotations and label
//! selectors (apimachinery's `api/validation/objectmeta.go` and `apis/meta/v1/validation`).
//!
//! Contract:
//! - create: `generateName` (as a prefix) and `name` against the kind's [`NameRule`]
//!   (`Required value: name or generateName is required` when both are empty; when only
//!   `generateName` is set the caller generates the name), non-negative `generation`, labels,
//!   annotations (keys + 256 KiB total), owner references and finalizers;
//! - update: the same checks on the new object except the name format (the name is immutable
//!   and was checked on create), plus immutability of name, namespace, uid, creationTimestamp,
//!   deletionTimestamp and deletionGracePeriodSeconds, and no new finalizers once deleting.
//! - Namespace presence/absence (namespaced vs cluster-scoped) and `resourceVersion` checks are
//!   the caller's business.

use super::field::{duplicate, forbidden, go, invalid, required, Bad, Errs, Path};
use super::json::{arr, get, obj, opt_str, semantic_eq, str_of, string_map};
use super::names::{is_label_value, is_qualified_name, validate_name, NameRule};
use serde_json::{Map, Value};

pub const FIELD_IMMUTABLE: &str = "field is immutable";
pub const IS_NEGATIVE: &str = "must be greater than or equal to 0";
/// `TotalAnnotationSizeLimitB`: 256 KiB.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// `ValidateLabelName`.
pub fn validate_label_name(name: &str, path: &Path, errs: &mut Errs) {
    for msg in is_qualified_name(name) {
        errs.push(invalid(path, name, &msg));
    }
}

/// `ValidateLabels`: every key a qualified name, every value a label value; all causes carry
/// the map's path (Kubernetes does not key label errors).
pub fn validate_labels(labels: Option<&Map<String, Value>>, path: &Path, errs: &mut Errs) {
    for (k, v) in string_map(labels) {
        validate_label_name(k, path, errs);
        for msg in is_label_value(v) {
            errs.push(invalid(path, v, &msg));
        }
    }
}

/// `ValidateAnnotations`: keys are qualified names compared case-insensitively, and keys plus
/// values may total at most 256 KiB.
pub fn validate_annotations(
    annotations: Option<&Map<String, Value>>,
    path: &Path,
    errs: &mut Errs,
) {
    let mut total = 0usize;
    for (k, v) in string_map(annotations) {
        for msg in is_qualified_name(&k.to_lowercase()) {
            errs.push(invalid(path, k, &msg));
        }
        total += k.len() + v.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(super::field::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
}

/// `ValidateNonnegativeField`.
pub fn nonnegative(v: Option<i64>, path: &Path, errs: &mut Errs) {
    if let Some(n) = v {
        if n < 0 {
            errs.push(invalid(path, n, IS_NEGATIVE));
        }
    }
}

/// Whether core's extra finalizer-name rule applies (every built-in group except the
/// apimachinery-only validators such as coordination's Lease).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum FinalizerRule {
    Core,
    Generic,
}

const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];

fn validate_finalizers(meta: &Value, path: &Path, rule: FinalizerRule, errs: &mut Errs) {
    let fins = arr(meta, "finalizers");
    let fpath = path.child("finalizers");
    let names: Vec<&str> = fins.iter().map(|f| f.as_str().unwrap_or("")).collect();
    for f in &names {
        for msg in is_qualified_name(f) {
            errs.push(invalid(&fpath, *f, &msg));
        }
    }
    if names.contains(&"orphan") && names.contains(&"foregroundDeletion") {
        errs.push(invalid(
            &fpath,
            Bad::Raw(go::string_slice(meta.get("finalizers"))),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    if rule == FinalizerRule::Core {
        for (i, f) in names.iter().enumerate() {
            if !f.contains('/') && !STANDARD_FINALIZERS.contains(f) {
                errs.push(invalid(
                    &fpath.index(i),
                    *f,
                    "name is neither a standard finalizer name nor is it fully qualified",
                ));
            }
        }
    }
}

fn validate_owner_references(meta: &Value, path: &Path, errs: &mut Errs) {
    let refs = arr(meta, "ownerReferences");
    let rpath = path.child("ownerReferences");
    let mut first_controller: Option<String> = None;
    for r in refs {
        let api_version = str_of(r, "apiVersion");
        let kind = str_of(r, "kind");
        // schema.ParseGroupVersion: "v1" -> ("", "v1"), "g/v" -> ("g", "v"), more slashes -> error.
        let (group, version) = match api_version.split('/').collect::<Vec<_>>().as_slice() {
            [v] => ("", *v),
            [g, v] => (*g, *v),
            _ => ("", ""),
        };
        if version.is_empty() {
            errs.push(invalid(
                &rpath.child("apiVersion"),
                api_version,
                "version must not be empty",
            ));
        }
        if kind.is_empty() {
            errs.push(invalid(&rpath.child("kind"), kind, "must not be empty"));
        }
        if str_of(r, "name").is_empty() {
            errs.push(invalid(&rpath.child("name"), "", "must not be empty"));
        }
        if str_of(r, "uid").is_empty() {
            errs.push(invalid(&rpath.child("uid"), "", "must not be empty"));
        }
        if group.is_empty() && version == "v1" && kind == "Event" {
            errs.push(invalid(
                &rpath,
                Bad::Raw(r.to_string()),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            let current = format!("{}/{}", kind, str_of(r, "name"));
            match &first_controller {
                Some(first) => errs.push(invalid(
                    &rpath,
                    Bad::Raw(Value::Array(refs.to_vec()).to_string()),
                    &format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                )),
                None => first_controller = Some(current),
            }
        }
    }
}

fn validate_common(meta: &Value, path: &Path, rule: FinalizerRule, errs: &mut Errs) {
    nonnegative(
        super::json::int(meta, "generation"),
        &path.child("generation"),
        errs,
    );
    validate_labels(obj(meta, "labels"), &path.child("labels"), errs);
    validate_annotations(obj(meta, "annotations"), &path.child("annotations"), errs);
    validate_owner_references(meta, path, errs);
    validate_finalizers(meta, path, rule, errs);
}

/// `ValidateObjectMeta` for a create. `meta` is the object's `metadata` (or `Null`).
pub fn validate_object_meta(
    meta: &Value,
    rule: NameRule,
    fin: FinalizerRule,
    path: &Path,
    errs: &mut Errs,
) {
    let generate_name = str_of(meta, "generateName");
    if !generate_name.is_empty() {
        for msg in validate_name(rule, generate_name, true) {
            errs.push(invalid(&path.child("generateName"), generate_name, &msg));
        }
    }
    let name = str_of(meta, "name");
    if name.is_empty() {
        // With generateName the server generates the name before validation runs.
        if generate_name.is_empty() {
            errs.push(required(
                &path.child("name"),
                "name or generateName is required",
            ));
        }
    } else {
        for msg in validate_name(rule, name, false) {
            errs.push(invalid(&path.child("name"), name, &msg));
        }
    }
    validate_common(meta, path, fin, errs);
}

/// Go's `time.Time.String()` for an RFC 3339 UTC timestamp (`2024-01-02 03:04:05 +0000 UTC`).
fn go_time(v: Option<&Value>) -> Bad {
    match v.and_then(Value::as_str) {
        None => Bad::Null,
        Some(s) => match s.strip_suffix('Z') {
            Some(t) => Bad::Raw(format!("{} +0000 UTC", t.replacen('T', " ", 1))),
            None => Bad::Raw(s.to_string()),
        },
    }
}

/// `ValidateObjectMetaUpdate` plus the create checks that update validation re-runs on the new
/// object (everything but the name format).
pub fn validate_object_meta_update(
    new: &Value,
    old: &Value,
    fin: FinalizerRule,
    path: &Path,
    errs: &mut Errs,
) {
    if get(old, "deletionTimestamp").is_some() {
        let old_f: Vec<&str> = arr(old, "finalizers")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let mut extra: Vec<&str> = arr(new, "finalizers")
            .iter()
            .filter_map(Value::as_str)
            .filter(|f| !old_f.contains(f))
            .collect();
        extra.sort_unstable();
        extra.dedup();
        if !extra.is_empty() {
            let list: Vec<String> = extra.iter().map(|f| go::quote(f)).collect();
            errs.push(forbidden(
                &path.child("finalizers"),
                &format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    list.join(", ")
                ),
            ));
        }
    }
    for key in ["name", "namespace", "uid"] {
        let (n, o) = (get(new, key), get(old, key));
        if !semantic_eq(n, o) {
            errs.push(invalid(
                &path.child(key),
                opt_str(new, key).unwrap_or(""),
                super::meta::FIELD_IMMUTABLE,
            ));
        }
    }
    for key in ["creationTimestamp", "deletionTimestamp"] {
        let (n, o) = (get(new, key), get(old, key));
        if !semantic_eq(n, o) {
            errs.push(invalid(&path.child(key), go_time(n), FIELD_IMMUTABLE));
        }
    }
    let (n, o) = (
        get(new, "deletionGracePeriodSeconds"),
        get(old, "deletionGracePeriodSeconds"),
    );
    if n != o {
        errs.push(invalid(
            &path.child("deletionGracePeriodSeconds"),
            n.map(Bad::json).unwrap_or(Bad::Null),
            FIELD_IMMUTABLE,
        ));
    }
    validate_common(new, path, fin, errs);
}

/// `ValidateLabelSelector` (with `AllowInvalidLabelValueInSelector` as given).
pub fn validate_label_selector(
    sel: Option<&Value>,
    allow_invalid_values: bool,
    path: &Path,
    errs: &mut Errs,
) {
    let Some(sel) = sel else { return };
    validate_labels(obj(sel, "matchLabels"), &path.child("matchLabels"), errs);
    for (i, expr) in arr(sel, "matchExpressions").iter().enumerate() {
        let epath = path.child("matchExpressions").index(i);
        let op = str_of(expr, "operator");
        let values = arr(expr, "values");
        match op {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(required(
                        &epath.child("values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(forbidden(
                        &epath.child("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            _ => errs.push(invalid(
                &epath.child("operator"),
                op,
                "not a valid selector operator",
            )),
        }
        validate_label_name(str_of(expr, "key"), &epath.child("key"), errs);
        if !allow_invalid_values {
            for (vi, v) in values.iter().enumerate() {
                let v = v.as_str().unwrap_or("");
                for msg in is_label_value(v) {
                    errs.push(invalid(&epath.child("values").index(vi), v, &msg));
                }
            }
        }
    }
}

/// `LabelSelectorAsSelector` failed: the selector is malformed (reported separately by
/// [`validate_label_selector`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidSelector;

/// A parsed label selector (`labels.Selector`).
#[derive(Debug)]
pub enum Selector {
    /// A nil selector: matches nothing.
    Nothing,
    /// Requirements that must all hold; none means "everything".
    Reqs(Vec<Requirement>),
}

#[derive(Debug)]
pub struct Requirement {
    key: String,
    op: String,
    values: Vec<String>,
}

impl Selector {
    /// `LabelSelectorAsSelector`; `Err` when the selector itself is malformed.
    pub fn from_label_selector(sel: Option<&Value>) -> Result<Selector, InvalidSelector> {
        let Some(sel) = sel else {
            return Ok(Selector::Nothing);
        };
        let mut reqs = Vec::new();
        for (k, v) in string_map(obj(sel, "matchLabels")) {
            if !is_qualified_name(k).is_empty() || !is_label_value(v).is_empty() {
                return Err(InvalidSelector);
            }
            reqs.push(Requirement {
                key: k.into(),
                op: "In".into(),
                values: vec![v.into()],
            });
        }
        for expr in arr(sel, "matchExpressions") {
            let key = str_of(expr, "key");
            let op = str_of(expr, "operator");
            let values: Vec<String> = arr(expr, "values")
                .iter()
                .map(|v| v.as_str().unwrap_or("").to_string())
                .collect();
            let ok = match op {
                "In" | "NotIn" => !values.is_empty(),
                "Exists" | "DoesNotExist" => values.is_empty(),
                _ => false,
            };
            if !ok
                || !is_qualified_name(key).is_empty()
                || values.iter().any(|v| !is_label_value(v).is_empty())
            {
                return Err(InvalidSelector);
            }
            reqs.push(Requirement {
                key: key.into(),
                op: op.into(),
                values,
            });
        }
        Ok(Selector::Reqs(reqs))
    }

    /// `labels.Set(m).AsSelector()` for map selectors (ReplicationController, Service).
    pub fn from_map(m: Option<&Map<String, Value>>) -> Selector {
        Selector::Reqs(
            string_map(m)
                .into_iter()
                .map(|(k, v)| Requirement {
                    key: k.into(),
                    op: "In".into(),
                    values: vec![v.into()],
                })
                .collect(),
        )
    }

    /// `Selector.Empty()`: true only for the match-everything selector.
    pub fn is_empty(&self) -> bool {
        matches!(self, Selector::Reqs(r) if r.is_empty())
    }

    /// `Selector.Matches(labels.Set(labels))`.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let Selector::Reqs(reqs) = self else {
            return false;
        };
        let get = |k: &str| {
            labels
                .and_then(|m| m.get(k))
                .map(|v| v.as_str().unwrap_or(""))
        };
        reqs.iter().all(|r| match r.op.as_str() {
            "In" => get(&r.key).is_some_and(|v| r.values.iter().any(|x| x == v)),
            "NotIn" => get(&r.key).is_none_or(|v| !r.values.iter().any(|x| x == v)),
            "Exists" => get(&r.key).is_some(),
            "DoesNotExist" => get(&r.key).is_none(),
            _ => false,
        })
    }
}

/// Unique-name helper: pushes `Duplicate value` when `name` was already seen.
pub fn check_duplicate(seen: &mut Vec<String>, name: &str, path: &Path, errs: &mut Errs) -> bool {
    if seen.iter().any(|s| s == name) {
        errs.push(duplicate(path, name));
        true
    } else {
        seen.push(name.to_string());
        false
    }
}

/// `ValidateImmutableField` with a caller-rendered value.
pub fn immutable(
    new: Option<&Value>,
    old: Option<&Value>,
    shown: Bad,
    path: &Path,
    errs: &mut Errs,
) {
    if !semantic_eq(new, old) {
        errs.push(invalid(path, shown, FIELD_IMMUTABLE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(meta: Value) -> Vec<(String, String)> {
        let mut e = Vec::new();
        validate_object_meta(
            &meta,
            NameRule::Subdomain,
            FinalizerRule::Core,
            &Path::new("metadata"),
            &mut e,
        );
        e.into_iter().map(|c| (c.field, c.message)).collect()
    }

    #[test]
    fn name_required_unless_generate_name() {
        assert_eq!(
            run(json!({})),
            vec![(
                "metadata.name".into(),
                "Required value: name or generateName is required".into()
            )]
        );
        assert!(run(json!({"generateName": "web-"})).is_empty());
    }

    #[test]
    fn labels_and_annotations() {
        let e = run(
            json!({"name": "a", "labels": {"bad key": "ok"}, "annotations": {"Example.COM/x": "y"}}),
        );
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, "metadata.labels");
        assert!(e[0]
            .1
            .starts_with("Invalid value: \"bad key\": name part must consist of"));
        let big = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
        let e = run(json!({"name": "a", "annotations": {"k": big}}));
        assert_eq!(
            e,
            vec![(
                "metadata.annotations".into(),
                "Too long: may not be more than 262144 bytes".into()
            )]
        );
    }

    #[test]
    fn finalizers_and_owners() {
        let e = run(
            json!({"name": "a", "finalizers": ["custom"], "ownerReferences": [{"apiVersion": "", "kind": "X", "name": "n", "uid": "u"}]}),
        );
        assert_eq!(
            e,
            vec![
                ("metadata.ownerReferences.apiVersion".into(), "Invalid value: \"\": version must not be empty".into()),
                (
                    "metadata.finalizers[0]".into(),
                    "Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified".into()
                ),
            ]
        );
    }

    #[test]
    fn update_immutability() {
        let mut e = Vec::new();
        validate_object_meta_update(
            &json!({"name": "b", "uid": "1"}),
            &json!({"name": "a", "uid": "1"}),
            FinalizerRule::Core,
            &Path::new("metadata"),
            &mut e,
        );
        assert_eq!(e[0].field, "metadata.name");
        assert_eq!(e[0].message, "Invalid value: \"b\": field is immutable");
        let mut e = Vec::new();
        validate_object_meta_update(
            &json!({"name": "a", "finalizers": ["x/y"]}),
            &json!({"name": "a", "deletionTimestamp": "2024-01-01T00:00:00Z"}),
            FinalizerRule::Core,
            &Path::new("metadata"),
            &mut e,
        );
        assert_eq!(e[0].message, "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"x/y\"}");
        assert_eq!(e[1].message, "Invalid value: null: field is immutable");
    }

    #[test]
    fn selectors() {
        let sel = json!({"matchLabels": {"app": "a"}, "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]});
        let s = Selector::from_label_selector(Some(&sel)).unwrap();
        assert!(s.matches(json!({"app": "a"}).as_object()));
        assert!(!s.matches(json!({"app": "a", "tier": "db"}).as_object()));
        assert!(!Selector::Nothing.matches(None));
        assert!(Selector::from_label_selector(Some(&json!({})))
            .unwrap()
            .is_empty());
        let mut e = Vec::new();
        validate_label_selector(
            Some(&json!({"matchExpressions": [{"key": "k", "operator": "Foo"}]})),
            false,
            &Path::new("s"),
            &mut e,
        );
        assert_eq!(
            e[0].message,
            "Invalid value: \"Foo\": not a valid selector operator"
        );
        assert_eq!(e[0].field, "s.matchExpressions[0].operator");
    }
}
