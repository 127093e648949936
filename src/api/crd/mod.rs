//! CustomResourceDefinition support, mirroring kube-apiserver's apiextensions-apiserver.
//!
//! Contract (all on plain `serde_json::Value`s):
//! - [`validate_definition`] / [`validate_definition_update`]: the `StatusCause`s Kubernetes
//!   returns for an invalid `apiextensions.k8s.io/v1` CRD (422), with its exact messages and
//!   field paths; [`default_definition`] applies the v1 defaults the server persists.
//! - For custom resources of a served version with schema `s` (its `openAPIV3Schema`), the server
//!   runs, in this order: [`prune`] (drop undeclared fields; the returned paths become
//!   `unknown field "spec.foo"` errors under `fieldValidation=Strict` or warnings under `Warn`),
//!   [`apply_defaults`] (fill `default`s; also on read), then [`validate`] (the 422 causes).
//! - [`info`] gives the routing/discovery view (storage and served versions, subresources,
//!   printer columns).
//!
//! Causes carry Kubernetes' `field.ErrorBody()` as `message` (`Invalid value: "string": ...`);
//! [`error_string`] renders the `field: message` form of the top-level Status message.
//! Nothing here panics on malformed schemas or objects, and every recursion stops at
//! [`MAX_DEPTH`] levels (pruning/defaulting leave deeper subtrees untouched, validation reports
//! them), which is beyond what `serde_json` parses by default (128 levels).

mod defaults;
mod definition;
mod fielderr;
mod info;
mod keywords;
mod prune;
mod schema;
mod structural;

pub use defaults::apply_defaults;
pub use definition::{default_definition, validate_definition, validate_definition_update};
pub use fielderr::error_string;
pub use info::{info, CrdError, CrdInfo, CrdVersion, ScaleSubresource};
pub use prune::prune;
pub use schema::validate;

/// Deepest nesting (schema or object levels) any function here descends into.
pub const MAX_DEPTH: usize = 128;

#[cfg(test)]
mod tests;
