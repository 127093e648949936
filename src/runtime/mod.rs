//! The container runtime: pod sandboxes (namespaces), containers started by a per-container
//! supervisor process (`kedge shim`), cgroups and security settings.
//!
//! The public API is [`Runtime`] (see `containers.rs` for its contract); `logs` and `attach`
//! are also used directly by the agent's streaming server (CRI log reader, attach framing).

pub mod attach;
pub mod cgroups;
pub mod containers;
pub mod exec_process;
pub mod init;
pub mod logs;
pub mod nsexec;
pub mod pidfd;
pub mod pty;
pub mod sandbox;
pub mod security;
pub mod shim;
pub mod spec;
pub mod state;

pub use containers::{Runtime, RuntimeConfig, RuntimeError, Started, State};
pub use exec_process::{ExecProcess, ExecSpec};
pub use sandbox::{Sandbox, SandboxSpec};
