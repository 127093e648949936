//! kedge: one binary for the server (API, store, controllers) and the node agent.

pub mod api;
pub mod store;

fn main() {}
