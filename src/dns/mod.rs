//! Cluster DNS, built into the agent (no extra pod): answers `cluster.local` names from
//! Services and EndpointSlices and forwards everything else to the node's resolvers with a
//! small cache.
//!
//! How the agent uses it: build a [`Records`] from its Service and EndpointSlice caches, wrap it
//! in a [`RecordsHandle`], call [`serve`] on the cluster DNS IP (10th address of the service
//! CIDR, port 53) from a thread in the node's network namespace with an [`Upstream`] over the
//! host's resolv.conf servers, and [`RecordsHandle::store`] a rebuilt `Records` after every
//! change. Layers: `model` (API objects → typed) → `records` (the zone) → `handler` (one
//! request → one reply, using `upstream` + `cache`) → `server` (sockets, concurrency).
//! `testing` holds a fake upstream and a blocking client for tests and `kedge bench dns`.

mod cache;
mod frame;
mod handler;
pub mod model;
pub mod records;
pub mod server;
pub mod testing;
pub mod upstream;

pub use handler::{encode_within, Transport};
pub use records::{Answer, Records, TTL};
pub use server::{serve, DnsError, DnsListener, DnsServer, RecordsHandle};
pub use upstream::{nameserver_addrs, Resolved, Upstream, UpstreamError};

#[cfg(test)]
mod tests;
