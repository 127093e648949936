//! What every DaemonSet decision is computed from: the DaemonSet, its eligibility test, the
//! nodes, the current revision's hash and template generation, and the time (seconds).

use std::sync::Arc;

use serde_json::Value;

use super::eligibility::Eligibility;
use crate::controller::workload::min_ready_seconds;

pub struct View<'a> {
    pub ds: &'a Value,
    pub elig: &'a Eligibility,
    pub nodes: &'a [Arc<Value>],
    /// The `controller-revision-hash` of the current revision.
    pub hash: &'a str,
    /// The template generation pods are labelled with.
    pub generation: Option<i64>,
    pub now: i64,
}

impl View<'_> {
    pub fn min_ready(&self) -> i64 {
        min_ready_seconds(self.ds)
    }
}
