//! Kubernetes `metav1.Status` errors: every failed API request is answered with one of these.
//!
//! Contract: an [`ApiError`] carries the HTTP code, the machine-readable `reason`, a message and
//! optional details (name, group, kind, field causes); [`ApiError::to_status`] renders the exact
//! JSON kubectl parses (`Error from server (NotFound): pods "x" not found`, `The Pod "x" is
//! invalid: ...`).

use serde::Serialize;
use serde_json::{json, Value};

/// One field-level cause of an error (`details.causes[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusCause {
    /// Machine-readable cause, e.g. `FieldValueRequired`, `FieldValueInvalid`.
    pub reason: String,
    /// Human-readable text, e.g. `Required value`.
    pub message: String,
    /// JSON path of the field, e.g. `spec.containers[0].image`.
    pub field: String,
}

/// A failed API request, rendered as `metav1.Status`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Box<Details>>,
    /// Seconds for a `Retry-After` header (429/504).
    pub retry_after: Option<u32>,
}

/// `details` of a Status.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Details {
    pub name: String,
    pub group: String,
    pub kind: String,
    pub causes: Vec<StatusCause>,
}

/// `pods` or `deployments.apps`: how Kubernetes names a resource in messages.
pub fn qualified(resource: &str, group: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

impl ApiError {
    fn plain(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    fn with(mut self, name: &str, group: &str, kind: &str) -> ApiError {
        self.details = Some(Box::new(Details {
            name: name.to_string(),
            group: group.to_string(),
            kind: kind.to_string(),
            causes: Vec::new(),
        }));
        self
    }

    pub fn not_found(resource: &str, group: &str, name: &str) -> ApiError {
        ApiError::plain(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(resource, group)),
        )
        .with(name, group, resource)
    }

    pub fn not_found_path() -> ApiError {
        ApiError::plain(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub fn already_exists(resource: &str, group: &str, name: &str) -> ApiError {
        ApiError::plain(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(resource, group)),
        )
        .with(name, group, resource)
    }

    pub fn conflict(resource: &str, group: &str, name: &str, why: &str) -> ApiError {
        ApiError::plain(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified(resource, group)
            ),
        )
        .with(name, group, resource)
    }

    pub fn stale(resource: &str, group: &str, name: &str) -> ApiError {
        ApiError::conflict(
            resource,
            group,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 422 with field causes; `kind` is the API kind (`Pod`), qualified by group in the message.
    pub fn invalid(kind: &str, group: &str, name: &str, causes: Vec<StatusCause>) -> ApiError {
        let errs: Vec<String> = causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect();
        let joined = if errs.len() == 1 {
            errs[0].clone()
        } else {
            format!("[{}]", errs.join(", "))
        };
        let mut e = ApiError::plain(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {joined}", qualified(kind, group)),
        )
        .with(name, group, kind);
        if let Some(d) = e.details.as_mut() {
            d.causes = causes;
        }
        e
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::plain(400, "BadRequest", message)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::plain(401, "Unauthorized", "Unauthorized")
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::plain(403, "Forbidden", message)
    }

    pub fn method_not_allowed(verb: &str, resource: &str) -> ApiError {
        ApiError::plain(
            405,
            "MethodNotAllowed",
            format!("{verb} is not supported on resources of kind \"{resource}\""),
        )
    }

    pub fn not_acceptable(message: impl Into<String>) -> ApiError {
        ApiError::plain(406, "NotAcceptable", message)
    }

    pub fn gone(message: impl Into<String>) -> ApiError {
        ApiError::plain(410, "Expired", message)
    }

    pub fn too_large(limit: usize) -> ApiError {
        ApiError::plain(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }

    pub fn unsupported_media_type(ct: &str) -> ApiError {
        ApiError::plain(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {ct:?})"),
        )
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::plain(
            500,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        )
    }

    pub fn timeout(message: impl Into<String>) -> ApiError {
        let mut e = ApiError::plain(504, "Timeout", message);
        e.retry_after = Some(1);
        e
    }

    /// The `metav1.Status` JSON.
    pub fn to_status(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            let mut det = serde_json::Map::new();
            if !d.name.is_empty() {
                det.insert("name".into(), json!(d.name));
            }
            if !d.group.is_empty() {
                det.insert("group".into(), json!(d.group));
            }
            if !d.kind.is_empty() {
                det.insert("kind".into(), json!(d.kind));
            }
            if !d.causes.is_empty() {
                det.insert("causes".into(), json!(d.causes));
            }
            v["details"] = Value::Object(det);
        }
        v
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

/// A cause of reason `FieldValueRequired`.
pub fn required(field: &str) -> StatusCause {
    StatusCause {
        reason: "FieldValueRequired".into(),
        message: "Required value".into(),
        field: field.into(),
    }
}

/// A cause of reason `FieldValueInvalid`.
pub fn invalid_value(field: &str, value: &Value, detail: &str) -> StatusCause {
    let shown = match value {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    };
    StatusCause {
        reason: "FieldValueInvalid".into(),
        message: format!("Invalid value: {shown}: {detail}"),
        field: field.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_statuses_kubectl_understands() {
        let s = ApiError::not_found("pods", "", "nope").to_status();
        assert_eq!(s["message"], "pods \"nope\" not found");
        assert_eq!(s["reason"], "NotFound");
        assert_eq!(s["code"], 404);
        assert_eq!(s["details"]["kind"], "pods");
        let s = ApiError::already_exists("deployments", "apps", "web").to_status();
        assert_eq!(s["message"], "deployments.apps \"web\" already exists");
        let e = ApiError::invalid("Pod", "", "web", vec![required("spec.containers[0].image")]);
        let s = e.to_status();
        assert_eq!(
            s["message"],
            "Pod \"web\" is invalid: spec.containers[0].image: Required value"
        );
        assert_eq!(s["details"]["causes"][0]["reason"], "FieldValueRequired");
        assert_eq!(s["code"], 422);
        let two = ApiError::invalid("Pod", "", "w", vec![required("a"), required("b")]);
        assert_eq!(
            two.message,
            "Pod \"w\" is invalid: [a: Required value, b: Required value]"
        );
    }
}
