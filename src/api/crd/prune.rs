//! Structural pruning of custom resources, as apiextensions-apiserver's `pruning` package does.
//!
//! Contract: [`prune`] deletes every object field the structural schema does not declare
//! (neither in `properties` nor via `additionalProperties`), recursing through `properties`,
//! `additionalProperties` and `items`. A node with `x-kubernetes-preserve-unknown-fields: true`
//! keeps its unknown fields but still prunes inside the fields it does declare. The resource root
//! and every `x-kubernetes-embedded-resource` node keep `apiVersion`, `kind` and `metadata`;
//! their `metadata` is reduced to the top-level fields `ObjectMeta` knows (Kubernetes does that by
//! round-tripping through `metav1.ObjectMeta`). The return value lists the dropped fields as
//! dotted paths with `[i]` indices (`spec.foo`, `spec.items[0].bar`, `metadata.foo`), sorted, for
//! `unknown field "spec.foo"` errors (fieldValidation=Strict) or warnings (Warn).
//! Scalars are never touched, and a malformed schema only makes pruning more aggressive, never
//! a panic. Recursion stops at `MAX_DEPTH` (deeper subtrees are left as they are).

use serde_json::{Map, Value};

use super::fielderr::{child, index};
use super::keywords::{
    additional, flag, items, node, properties, META_FIELDS, X_EMBEDDED, X_PRESERVE,
};
use super::MAX_DEPTH;

/// The top-level fields of `metav1.ObjectMeta`.
pub(crate) const OBJECT_META_FIELDS: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Prunes `obj` (a whole custom resource) against `schema` (a version's `openAPIV3Schema`) and
/// returns the pruned field paths, sorted.
pub fn prune(schema: &Value, obj: &mut Value) -> Vec<String> {
    let mut p = Pruner {
        paths: Vec::new(),
        object_meta: true,
    };
    p.prune(Some(schema), obj, "", true, 0);
    p.paths.sort();
    p.paths
}

/// Schema pruning only (no ObjectMeta reduction, nothing recorded): what Kubernetes applies to
/// `default` values to check they are "pruned". `resource_root` makes the node keep
/// `apiVersion`/`kind`/`metadata` like an embedded resource.
pub(crate) fn prune_schema_only(schema: &Value, value: &mut Value, resource_root: bool) {
    let mut p = Pruner {
        paths: Vec::new(),
        object_meta: false,
    };
    p.prune(Some(schema), value, "", resource_root, 0);
}

struct Pruner {
    paths: Vec<String>,
    /// Whether `metadata` at resource roots is reduced to ObjectMeta's fields.
    object_meta: bool,
}

impl Pruner {
    /// Kubernetes' `prune(x, s)`; `force_embedded` marks the resource root.
    fn prune(
        &mut self,
        s: Option<&Value>,
        x: &mut Value,
        path: &str,
        force_embedded: bool,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        // A schema that is not an object behaves like a missing one, except at the resource
        // root, which Kubernetes treats as an empty embedded-resource schema.
        let empty = Map::new();
        let s = s
            .and_then(node)
            .or(if force_embedded { Some(&empty) } else { None });
        if let Some(so) = s {
            if flag(so, X_PRESERVE) {
                self.skip_prune(so, x, path, force_embedded, depth);
                return;
            }
        }
        match x {
            Value::Object(map) => {
                let Some(so) = s else {
                    for k in map.keys() {
                        self.paths.push(child(path, k));
                    }
                    map.clear();
                    return;
                };
                let embedded = force_embedded || flag(so, X_EMBEDDED);
                let props = properties(so);
                let add = additional(so);
                let keys: Vec<String> = map.keys().cloned().collect();
                for k in keys {
                    if embedded && META_FIELDS.contains(&k.as_str()) {
                        if k == "metadata" {
                            self.prune_object_meta(map, path);
                        }
                        continue;
                    }
                    let sub_path = child(path, &k);
                    if let Some(ps) = props.and_then(|p| p.get(&k)) {
                        if let Some(v) = map.get_mut(&k) {
                            self.prune(Some(ps), v, &sub_path, false, depth + 1);
                        }
                    } else if add.present() {
                        if let Some(v) = map.get_mut(&k) {
                            self.prune(add.schema(), v, &sub_path, false, depth + 1);
                        }
                    } else {
                        self.paths.push(sub_path);
                        map.shift_remove(&k);
                    }
                }
            }
            Value::Array(list) => {
                let item_schema = s.and_then(items);
                for (i, v) in list.iter_mut().enumerate() {
                    self.prune(item_schema, v, &index(path, i), false, depth + 1);
                }
            }
            _ => {}
        }
    }

    /// Kubernetes' `skipPrune`: keep unknown fields, prune inside declared ones.
    fn skip_prune(
        &mut self,
        so: &Map<String, Value>,
        x: &mut Value,
        path: &str,
        force_embedded: bool,
        depth: usize,
    ) {
        match x {
            Value::Object(map) => {
                let embedded = force_embedded || flag(so, X_EMBEDDED);
                let props = properties(so);
                let add = additional(so);
                let keys: Vec<String> = map.keys().cloned().collect();
                for k in keys {
                    if embedded && META_FIELDS.contains(&k.as_str()) {
                        if k == "metadata" {
                            self.prune_object_meta(map, path);
                        }
                        continue;
                    }
                    let sub_path = child(path, &k);
                    if let Some(ps) = props.and_then(|p| p.get(&k)) {
                        if let Some(v) = map.get_mut(&k) {
                            self.prune(Some(ps), v, &sub_path, false, depth + 1);
                        }
                    } else if add.present() {
                        if let Some(v) = map.get_mut(&k) {
                            self.prune(add.schema(), v, &sub_path, false, depth + 1);
                        }
                    }
                }
            }
            Value::Array(list) => {
                // Array items under a preserving node are themselves only skip-pruned, and not
                // at all when there is no items schema.
                let Some(item_schema) = items(so).and_then(node) else {
                    return;
                };
                for (i, v) in list.iter_mut().enumerate() {
                    if depth + 1 > MAX_DEPTH {
                        return;
                    }
                    self.skip_prune(item_schema, v, &index(path, i), false, depth + 1);
                }
            }
            _ => {}
        }
    }

    /// Drops the `metadata` fields `metav1.ObjectMeta` does not have. A non-object `metadata` is
    /// left alone: rejecting it is validation's job.
    fn prune_object_meta(&mut self, resource: &mut Map<String, Value>, path: &str) {
        if !self.object_meta {
            return;
        }
        let meta_path = child(path, "metadata");
        if let Some(Value::Object(meta)) = resource.get_mut("metadata") {
            let unknown: Vec<String> = meta
                .keys()
                .filter(|k| !OBJECT_META_FIELDS.contains(&k.as_str()))
                .cloned()
                .collect();
            for k in unknown {
                self.paths.push(child(&meta_path, &k));
                meta.shift_remove(&k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crontab_schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "cronSpec": {"type": "string"},
                        "image": {"type": "string"},
                        "replicas": {"type": "integer"}
                    }
                }
            }
        })
    }

    #[test]
    fn prunes_unknown_fields_and_keeps_type_meta() {
        let mut obj = json!({
            "apiVersion": "stable.example.com/v1",
            "kind": "CronTab",
            "metadata": {"name": "my-cron", "labels": {"a": "b"}, "bogus": 1},
            "spec": {"cronSpec": "* * * * */5", "image": "img", "foo": "bar", "nested": {"x": 1}},
            "status": {"phase": "x"}
        });
        let pruned = prune(&crontab_schema(), &mut obj);
        assert_eq!(
            pruned,
            vec!["metadata.bogus", "spec.foo", "spec.nested", "status"]
        );
        assert_eq!(
            obj,
            json!({
                "apiVersion": "stable.example.com/v1",
                "kind": "CronTab",
                "metadata": {"name": "my-cron", "labels": {"a": "b"}},
                "spec": {"cronSpec": "* * * * */5", "image": "img"}
            })
        );
    }

    #[test]
    fn prunes_inside_arrays_and_maps() {
        let schema = json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "ports": {"type": "array", "items": {"type": "object", "properties": {"port": {"type": "integer"}}}},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "free": {"type": "object", "additionalProperties": true}
                    }
                }
            }
        });
        let mut obj = json!({"spec": {
            "ports": [{"port": 80, "name": "http"}, {"port": 443}],
            "labels": {"a": "b"},
            "free": {"k": {"deep": 1}, "s": "v"}
        }});
        let pruned = prune(&schema, &mut obj);
        // additionalProperties: true keeps the keys but (like Kubernetes) prunes object values.
        assert_eq!(pruned, vec!["spec.free.k.deep", "spec.ports[0].name"]);
        assert_eq!(
            obj,
            json!({"spec": {"ports": [{"port": 80}, {"port": 443}], "labels": {"a": "b"}, "free": {"k": {}, "s": "v"}}})
        );
    }

    #[test]
    fn preserve_unknown_fields_keeps_subtree_but_prunes_declared_children() {
        let schema = json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": true,
                    "properties": {"strict": {"type": "object", "properties": {"a": {"type": "string"}}}}
                },
                "raw": {"x-kubernetes-preserve-unknown-fields": true}
            }
        });
        let mut obj = json!({
            "spec": {"anything": {"goes": [1, {"x": 2}]}, "strict": {"a": "ok", "b": "gone"}},
            "raw": [{"deep": {"deeper": true}}]
        });
        let pruned = prune(&schema, &mut obj);
        assert_eq!(pruned, vec!["spec.strict.b"]);
        assert_eq!(obj["spec"]["anything"], json!({"goes": [1, {"x": 2}]}));
        assert_eq!(obj["raw"], json!([{"deep": {"deeper": true}}]));
    }

    #[test]
    fn preserve_at_root_keeps_everything_but_object_meta() {
        let schema = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
        let mut obj = json!({"metadata": {"name": "a", "extra": true}, "spec": {"x": 1}, "y": 2});
        let pruned = prune(&schema, &mut obj);
        assert_eq!(pruned, vec!["metadata.extra"]);
        assert_eq!(
            obj,
            json!({"metadata": {"name": "a"}, "spec": {"x": 1}, "y": 2})
        );
    }

    #[test]
    fn embedded_resources_keep_type_meta() {
        let schema = json!({
            "type": "object",
            "properties": {
                "spec": {"type": "object", "properties": {
                    "template": {
                        "type": "object",
                        "x-kubernetes-embedded-resource": true,
                        "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string"}}}}
                    }
                }}
            }
        });
        let mut obj = json!({"spec": {"template": {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "x", "junk": 1},
            "spec": {"a": "b", "c": "d"},
            "status": {}
        }}});
        let pruned = prune(&schema, &mut obj);
        assert_eq!(
            pruned,
            vec![
                "spec.template.metadata.junk",
                "spec.template.spec.c",
                "spec.template.status"
            ]
        );
        assert_eq!(
            obj,
            json!({"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"a": "b"}}}})
        );
    }

    #[test]
    fn malformed_schema_does_not_panic() {
        let mut obj = json!({"apiVersion": "v1", "spec": {"a": 1}, "list": [{"b": 2}]});
        let pruned = prune(&json!("not a schema"), &mut obj);
        assert_eq!(pruned, vec!["list", "spec"]);
        assert_eq!(obj, json!({"apiVersion": "v1"}));

        let mut scalar = json!(5);
        assert!(prune(&crontab_schema(), &mut scalar).is_empty());
    }

    #[test]
    fn depth_is_capped() {
        let mut schema = json!({"type": "string"});
        let mut obj = json!("leaf");
        for _ in 0..(MAX_DEPTH + 20) {
            schema = json!({"type": "object", "properties": {"a": schema}});
            obj = json!({"a": obj, "junk": 1});
        }
        // Must not overflow the stack; the part beyond the cap is left untouched.
        let pruned = prune(&schema, &mut obj);
        assert_eq!(pruned.len(), MAX_DEPTH + 1);
    }
}
