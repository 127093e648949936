//! The container runtime: pod sandboxes (namespaces), containers started by a per-container
//! supervisor process, cgroups and security settings. Owner: RUNTIME/SHIM (placeholder).

pub mod cgroups;
pub mod spec;
