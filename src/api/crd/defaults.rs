//! Schema defaulting of custom resources, as apiextensions-apiserver's `defaulting` package does.
//!
//! Contract: [`apply_defaults`] runs Kubernetes' two steps in order:
//! 1. `PruneNonNullableNullsWithoutDefaults`: a `null` object field whose schema is not
//!    `nullable` and has no `default` is removed (so it is treated as unset, not as a type error);
//! 2. `Default`: for every object node, each declared property with a non-null `default` that is
//!    missing — or `null` while not `nullable` — gets a deep copy of the default; `null` array
//!    items and `additionalProperties` values that are not `nullable` are replaced by their
//!    schema's default. Recursion then continues into every field, including freshly defaulted
//!    ones, so `default: {}` on an object lets the defaults of its children apply.
//!
//! Defaults are applied the same way on create, update and read (the server decides when).
//! Only the structural part of the schema (`properties`, `additionalProperties`, `items`) is
//! followed; `allOf`/`anyOf`/... never default. Malformed schemas default nothing rather than
//! panic, and recursion stops at `MAX_DEPTH`.

use serde_json::Value;

use super::keywords::{
    additional, default_of, items, node, nullable, properties, schema_for_field,
};
use super::MAX_DEPTH;

/// Fills schema defaults into `obj` (a whole custom resource) in place.
pub fn apply_defaults(schema: &Value, obj: &mut Value) {
    prune_non_nullable_nulls(Some(schema), obj, 0);
    default(schema, obj, 0);
}

/// `null` with a schema that is neither `nullable` nor defaulted.
fn is_droppable_null(x: &Value, s: Option<&Value>) -> bool {
    x.is_null()
        && s.and_then(node)
            .is_some_and(|s| !nullable(s) && default_of(s).is_none())
}

fn prune_non_nullable_nulls(s: Option<&Value>, x: &mut Value, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match x {
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                let sub = schema_for_field(s, &k);
                let drop = map.get(&k).is_some_and(|v| is_droppable_null(v, sub));
                if drop {
                    map.shift_remove(&k);
                } else if let Some(v) = map.get_mut(&k) {
                    prune_non_nullable_nulls(sub, v, depth + 1);
                }
            }
        }
        Value::Array(list) => {
            let item_schema = s.and_then(node).and_then(items);
            for v in list.iter_mut() {
                prune_non_nullable_nulls(item_schema, v, depth + 1);
            }
        }
        _ => {}
    }
}

/// A `null` the schema says must not be null (it will be replaced by the default, if any).
fn is_non_nullable_null(x: &Value, s: &Value) -> bool {
    x.is_null() && node(s).is_some_and(|s| !nullable(s))
}

fn default(s: &Value, x: &mut Value, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let Some(so) = node(s) else { return };
    match x {
        Value::Object(map) => {
            let props = properties(so);
            if let Some(props) = props {
                for (k, ps) in props {
                    let Some(d) = node(ps).and_then(default_of) else {
                        continue;
                    };
                    let needs = match map.get(k) {
                        None => true,
                        Some(v) => is_non_nullable_null(v, ps),
                    };
                    if needs {
                        map.insert(k.clone(), d.clone());
                    }
                }
            }
            let add = additional(so);
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                let Some(v) = map.get_mut(&k) else { continue };
                if let Some(ps) = props.and_then(|p| p.get(&k)) {
                    default(ps, v, depth + 1);
                } else if let Some(add_schema) = add.schema() {
                    if is_non_nullable_null(v, add_schema) {
                        *v = node(add_schema)
                            .and_then(default_of)
                            .cloned()
                            .unwrap_or(Value::Null);
                    }
                    default(add_schema, v, depth + 1);
                }
            }
        }
        Value::Array(list) => {
            let Some(item_schema) = items(so) else { return };
            for v in list.iter_mut() {
                if is_non_nullable_null(v, item_schema) {
                    *v = node(item_schema)
                        .and_then(default_of)
                        .cloned()
                        .unwrap_or(Value::Null);
                }
                default(item_schema, v, depth + 1);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fills_missing_scalars() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "replicas": {"type": "integer", "default": 1},
            "image": {"type": "string"},
            "cronSpec": {"type": "string", "default": "5 0 * * *"}
        }}}});
        let mut obj = json!({"apiVersion": "stable.example.com/v1", "spec": {"image": "x", "cronSpec": "* * * * *"}});
        apply_defaults(&schema, &mut obj);
        assert_eq!(
            obj["spec"],
            json!({"image": "x", "cronSpec": "* * * * *", "replicas": 1})
        );
    }

    #[test]
    fn missing_parent_is_not_created_without_its_own_default() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "replicas": {"type": "integer", "default": 1}
        }}}});
        let mut obj = json!({"kind": "CronTab"});
        apply_defaults(&schema, &mut obj);
        assert_eq!(obj, json!({"kind": "CronTab"}));
    }

    #[test]
    fn nested_object_defaults_cascade() {
        let schema = json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "default": {},
            "properties": {
                "strategy": {
                    "type": "object",
                    "default": {"type": "Rolling"},
                    "properties": {
                        "type": {"type": "string"},
                        "maxSurge": {"type": "integer", "default": 25}
                    }
                }
            }
        }}});
        let mut obj = json!({});
        apply_defaults(&schema, &mut obj);
        assert_eq!(
            obj,
            json!({"spec": {"strategy": {"type": "Rolling", "maxSurge": 25}}})
        );
    }

    #[test]
    fn nulls_are_dropped_or_defaulted() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "a": {"type": "string"},
            "b": {"type": "string", "default": "bee"},
            "c": {"type": "string", "nullable": true},
            "d": {"type": "string", "nullable": true, "default": "dee"},
            "list": {"type": "array", "items": {"type": "string", "default": "item"}},
            "map": {"type": "object", "additionalProperties": {"type": "integer", "default": 7}}
        }}}});
        let mut obj = json!({"spec": {
            "a": null, "b": null, "c": null, "d": null,
            "list": ["x", null], "map": {"k": null, "n": 1}
        }});
        apply_defaults(&schema, &mut obj);
        assert_eq!(
            obj["spec"],
            json!({"b": "bee", "c": null, "d": null, "list": ["x", "item"], "map": {"k": 7, "n": 1}})
        );
    }

    #[test]
    fn defaults_in_array_items() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "ports": {"type": "array", "items": {"type": "object", "properties": {
                "port": {"type": "integer"},
                "protocol": {"type": "string", "default": "TCP"}
            }}}
        }}}});
        let mut obj = json!({"spec": {"ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}});
        apply_defaults(&schema, &mut obj);
        assert_eq!(
            obj["spec"]["ports"],
            json!([{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}])
        );
    }

    #[test]
    fn garbage_does_not_panic() {
        let mut obj = json!({"a": [1, {"b": null}]});
        apply_defaults(&json!(["not", "a", "schema"]), &mut obj);
        apply_defaults(&json!({"properties": "nope", "items": 3}), &mut obj);
        assert_eq!(obj, json!({"a": [1, {"b": null}]}));
    }
}
