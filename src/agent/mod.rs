//! The node agent (kubelet). Owner: KUBELET (placeholder).
