//! kedge-storage: CSI-like volume drivers for the node agent.
//!
//! Contract (filled by the agent issue): emptyDir (disk and memory), hostPath, configMap, secret,
//! downwardAPI and projected volumes, and a local-path provisioner for PersistentVolumeClaims, each
//! mounted through mount(2) wrappers, never the `mount` binary, and unmounted without leaks when a
//! pod goes away. Nothing is implemented yet: the crate exists so the workspace has its final shape.
