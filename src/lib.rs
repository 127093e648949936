//! kedge: a lightweight Kubernetes distribution. The library holds every component; the
//! `kedge` binary (src/main.rs) is its command line.

pub mod agent;
pub mod api;
pub mod bench;
pub mod clock;
pub mod controller;
pub mod dns;
pub mod error_chain;
pub mod httpclient;
pub mod netpol;
pub mod proxy;
pub mod rt;
pub mod runtime;
pub mod scheduler;
pub mod server;
pub mod store;
