//! Admission on the create path, after defaulting and validation and before the object is
//! stored, in Kubernetes' plugin order: LimitRanger (defaults and bounds for pods and claims),
//! then ResourceQuota (charging the create to the namespace's quotas).
//!
//! Contract: [`admit_create`] either accepts the object (possibly mutated: LimitRange defaults
//! and the `kubernetes.io/limit-ranger` annotation) with its quota usage already reserved, or
//! refuses it with the error Kubernetes returns (403 Forbidden for limit and quota violations).
//! It runs synchronously inside `hooks::before_create`.

pub mod limitrange;
pub mod quota;
pub mod resources;
pub mod usage;

use serde_json::Value;

use crate::api::registry::ResourceDef;
use crate::api::server::ApiServer;
use crate::api::status::ApiError;

/// Run the create-time admission plugins on `obj`.
pub fn admit_create(srv: &ApiServer, def: &ResourceDef, obj: &mut Value) -> Result<(), ApiError> {
    limitrange::admit(srv, def, obj)?;
    quota::admit(srv, def, obj)
}
