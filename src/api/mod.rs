//! The Kubernetes API server: resources declared once in a registry, served over HTTPS to
//! unmodified kubectl and client libraries, stored in the revisioned LMDB store.

pub mod admission;
pub mod alloc;
pub mod auth;
pub mod body;
pub mod bootstrap;
pub mod builtin;
pub mod crd;
pub mod defaults;
pub mod discovery;
pub mod handlers;
pub mod http;
pub mod metrics;
pub mod object;
pub mod openapi;
pub mod patch;
pub mod protobuf;
pub mod proxy;
pub mod registry;
pub mod request;
pub mod selector;
pub mod server;
pub mod status;
pub mod table;
pub mod validation;
