//! kedge-netplugins: the pod network of a node.
//!
//! Contract (filled by the agent and multi-node issues): a bridge plugin that creates the `kedge0`
//! bridge and one veth pair per pod sandbox, a host-local IPAM allocating pod addresses from the
//! node's `spec.podCIDR`, and a CNI-spec front end (ADD / DEL / CHECK / VERSION with CNI 1.0 results)
//! so other runtimes can use the same code. Everything is driven through netlink (rtnetlink); no
//! `ip` or `iptables` binary is ever run. Nothing is implemented yet: the crate exists so the
//! workspace has its final shape.
