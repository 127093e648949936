//! The Kubernetes API server.
pub mod status;
