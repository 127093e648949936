//! Kubernetes `metav1.Status` errors: every failed API request is answered with one of these.
//!
//! Contract: an [`ApiError`] carries the HTTP code, the machine-readable `reason`, a message and
//! optional details (name, group, kind, field causes); [`ApiError::to_status`] renders the exact
//! JSON kubectl parses (`Error from server (NotFound): pods "x" not found`, `The Pod "x" is
//! invalid: ...`).

use serde::Serialize;

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
