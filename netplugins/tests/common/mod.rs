//! Shared helpers of the root tests: every test runs on a thread moved into a fresh network
//! namespace so the host's root namespace is never touched (see `kedge_netplugins::testing`).

#![allow(unused_imports)]

pub use kedge_netplugins::testing::{assert_proc_sys_is_ours, in_fresh_netns, skip};
