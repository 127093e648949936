//! What the node agent needs from the API server, as one object-safe trait.
//!
//! Contract: [`NodeClient`] is implemented in-process over the API server's write pipeline and
//! store ([`super::client_local::LocalClient`]) and by the lead over HTTPS for remote agents.
//! Resources are named by [`Res`] (group, version, plural). Watches resume from a
//! `resourceVersion`; a watch whose version was compacted fails with [`ClientError::Gone`] and
//! the caller relists. Field selectors the agent uses are `spec.nodeName=<node>` and
//! `metadata.name=<name>`; implementations may filter on their side.

use std::future::Future;
use std::pin::Pin;

use futures_lite::Stream;
use serde_json::Value;

pub use crate::controller::client::Res;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A failed API call, reduced to what the agent branches on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    AlreadyExists(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// The watch's resourceVersion is too old: list again.
    #[error("resource version expired: {0}")]
    Gone(String),
    #[error("api error {code}: {message}")]
    Other { code: u16, message: String },
}

impl ClientError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::NotFound(_))
    }
}

/// What to list or watch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListParams {
    pub namespace: Option<String>,
    /// `spec.nodeName=<node>` or `metadata.name=<name>` (comma-separated terms are ANDed).
    pub field_selector: Option<String>,
}

impl ListParams {
    pub fn node_pods(node: &str) -> ListParams {
        ListParams {
            namespace: None,
            field_selector: Some(format!("spec.nodeName={node}")),
        }
    }

    /// Whether `obj` passes the field selector (the in-process client filters with this).
    pub fn matches(&self, obj: &Value) -> bool {
        if let Some(ns) = &self.namespace {
            if obj.pointer("/metadata/namespace").and_then(Value::as_str) != Some(ns.as_str()) {
                return false;
            }
        }
        let Some(sel) = &self.field_selector else {
            return true;
        };
        sel.split(',').filter(|t| !t.is_empty()).all(|term| {
            let (field, want, negate) = match term.split_once("!=") {
                Some((f, v)) => (f, v, true),
                None => match term.split_once("==").or_else(|| term.split_once('=')) {
                    Some((f, v)) => (f, v, false),
                    None => return true,
                },
            };
            let path = format!("/{}", field.trim().replace('.', "/"));
            let have = obj.pointer(&path).and_then(Value::as_str).unwrap_or("");
            (have == want.trim()) != negate
        })
    }
}

/// One change seen by a watch.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent {
    Added(Value),
    Modified(Value),
    Deleted(Value),
}

impl WatchEvent {
    pub fn object(&self) -> &Value {
        match self {
            WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => o,
        }
    }
}

pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchEvent, ClientError>> + Send>>;

/// The API as the node agent uses it.
pub trait NodeClient: Send + Sync {
    fn get<'a>(
        &'a self,
        r: Res,
        ns: Option<&'a str>,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Value, ClientError>>;

    /// Objects and the list's resourceVersion.
    fn list<'a>(
        &'a self,
        r: Res,
        p: &'a ListParams,
    ) -> BoxFuture<'a, Result<(Vec<Value>, String), ClientError>>;

    /// Changes after `resource_version`.
    fn watch<'a>(
        &'a self,
        r: Res,
        p: &'a ListParams,
        resource_version: &'a str,
    ) -> BoxFuture<'a, Result<WatchStream, ClientError>>;

    fn create<'a>(
        &'a self,
        r: Res,
        ns: Option<&'a str>,
        obj: Value,
    ) -> BoxFuture<'a, Result<Value, ClientError>>;

    /// Replace (optionally the status subresource); `metadata.resourceVersion` is the
    /// precondition.
    fn update<'a>(
        &'a self,
        r: Res,
        obj: Value,
        status: bool,
    ) -> BoxFuture<'a, Result<Value, ClientError>>;

    /// JSON merge patch (RFC 7396), optionally of the status subresource.
    fn merge_patch<'a>(
        &'a self,
        r: Res,
        ns: Option<&'a str>,
        name: &'a str,
        patch: &'a Value,
        status: bool,
    ) -> BoxFuture<'a, Result<Value, ClientError>>;

    /// Delete with an optional grace period and uid precondition.
    fn delete<'a>(
        &'a self,
        r: Res,
        ns: Option<&'a str>,
        name: &'a str,
        grace_seconds: Option<i64>,
        uid: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ClientError>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_selectors_filter_like_the_api() {
        let pod = json!({"metadata": {"name": "a", "namespace": "ns"}, "spec": {"nodeName": "n1"}});
        assert!(ListParams::node_pods("n1").matches(&pod));
        assert!(!ListParams::node_pods("n2").matches(&pod));
        let p = ListParams {
            namespace: Some("ns".into()),
            field_selector: Some("metadata.name=a,spec.nodeName!=n2".into()),
        };
        assert!(p.matches(&pod));
        let other_ns = ListParams {
            namespace: Some("x".into()),
            field_selector: None,
        };
        assert!(!other_ns.matches(&pod));
    }
}
