//! Owner references: the controller reference of an object and building one.

use serde_json::{json, Value};

use crate::api::object;

/// The owner reference with `controller: true`, if any.
pub fn controller_of(obj: &Value) -> Option<&Value> {
    object::meta(obj)?
        .get("ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
}

/// The uid of the controller owner.
pub fn controller_uid(obj: &Value) -> Option<&str> {
    controller_of(obj)?.get("uid")?.as_str()
}

/// A controller reference to `owner` (blockOwnerDeletion set, as controllers do).
pub fn controller_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner.get("apiVersion").cloned().unwrap_or(Value::Null),
        "kind": owner.get("kind").cloned().unwrap_or(Value::Null),
        "name": object::name(owner),
        "uid": object::meta_str(owner, "uid").unwrap_or(""),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Every owner reference of an object.
pub fn owners(obj: &Value) -> Vec<Value> {
    object::meta(obj)
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_builds_controller_references() {
        let owner = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                           "metadata": {"name": "rs", "uid": "u1"}});
        let r = controller_ref(&owner);
        let pod = json!({"metadata": {"ownerReferences": [
            {"uid": "x", "controller": false}, r]}});
        assert_eq!(controller_uid(&pod), Some("u1"));
        assert_eq!(owners(&pod).len(), 2);
        assert_eq!(controller_uid(&json!({"metadata": {}})), None);
    }
}
