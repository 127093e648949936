//! The node IPAM controller: gives every node a pod range (`spec.podCIDR` and `podCIDRs`), a
//! `/node_cidr_mask_size` subnet of `cluster_cidr`, handed out round-robin like Kubernetes'
//! `cidrset`. Allocations are rebuilt from the nodes' stored ranges before the first
//! allocation, and released when a node is deleted; when the range is exhausted the node gets
//! a `CIDRNotAvailable` event and is looked at again later.
//!
//! Contract: one key per node name; the allocator is the only in-memory state, and it always
//! holds every range a cached node carries plus the ones being written.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipnetwork::Ipv4Network;
use serde_json::{json, Value};

use super::client::NODES;
use super::informer::{key_of, Informer};
use super::{route, run, BoxFuture, Controller, Ctx, Queue, SyncResult};

const COMPONENT: &str = "node-ipam-controller";
/// How long a node waits for a free range before trying again.
const RETRY_EXHAUSTED: Duration = Duration::from_secs(10);
/// Most subnet bits the allocator tracks (a /8 cut into /24s is 2^16 ranges).
const MAX_SUBNET_BITS: u8 = 24;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IpamError {
    #[error("node mask size /{mask} does not fit cluster cidr {cluster}")]
    BadMask { mask: u8, cluster: Ipv4Network },
    #[error("node mask size /{mask} cuts cluster cidr {cluster} into too many ranges")]
    TooManyRanges { mask: u8, cluster: Ipv4Network },
}

/// The ranges of one cluster CIDR and which are in use.
#[derive(Debug)]
pub struct CidrSet {
    base: u32,
    mask: u8,
    count: u32,
    used: HashSet<u32>,
    /// Where the next search starts (round-robin, so a released range is not reused at once).
    next: u32,
}

impl CidrSet {
    pub fn new(cluster: Ipv4Network, mask: u8) -> Result<CidrSet, IpamError> {
        if mask < cluster.prefix() || mask > 32 {
            return Err(IpamError::BadMask { mask, cluster });
        }
        let bits = mask - cluster.prefix();
        if bits > MAX_SUBNET_BITS {
            return Err(IpamError::TooManyRanges { mask, cluster });
        }
        Ok(CidrSet {
            base: u32::from(cluster.network()),
            mask,
            count: 1 << bits,
            used: HashSet::new(),
            next: 0,
        })
    }

    fn range(&self, i: u32) -> Ipv4Network {
        let size = if self.mask == 0 {
            0
        } else {
            1u32 << (32 - u32::from(self.mask))
        };
        let addr = Ipv4Addr::from(self.base.wrapping_add(i.wrapping_mul(size)));
        Ipv4Network::new(addr, self.mask).unwrap_or_else(|_| Ipv4Network::from(addr))
    }

    fn index(&self, cidr: Ipv4Network) -> Option<u32> {
        if cidr.prefix() != self.mask {
            return None;
        }
        let size = 1u64 << (32 - u32::from(self.mask));
        let off = u64::from(u32::from(cidr.network())).checked_sub(u64::from(self.base))?;
        let i = off / size;
        (off % size == 0 && i < u64::from(self.count)).then_some(i as u32)
    }

    /// Mark a range taken (one a node already carries); false if it is not one of ours.
    pub fn occupy(&mut self, cidr: Ipv4Network) -> bool {
        match self.index(cidr) {
            Some(i) => {
                self.used.insert(i);
                true
            }
            None => false,
        }
    }

    pub fn allocate(&mut self) -> Option<Ipv4Network> {
        for step in 0..self.count {
            let i = (self.next + step) % self.count;
            if self.used.insert(i) {
                self.next = (i + 1) % self.count;
                return Some(self.range(i));
            }
        }
        None
    }

    pub fn release(&mut self, cidr: Ipv4Network) {
        if let Some(i) = self.index(cidr) {
            self.used.remove(&i);
        }
    }
}

/// The IPv4 pod range a node carries, if any.
pub fn node_cidr(node: &Value) -> Option<Ipv4Network> {
    let from_list = node
        .pointer("/spec/podCIDRs")
        .and_then(Value::as_array)
        .and_then(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .find_map(|s| s.parse::<Ipv4Network>().ok())
        });
    from_list.or_else(|| {
        node.pointer("/spec/podCIDR")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
    })
}

struct State {
    set: CidrSet,
    /// The range held for each node name.
    by_node: HashMap<String, Ipv4Network>,
    loaded: bool,
}

pub struct NodeIpamController {
    ctx: Ctx,
    nodes: Arc<Informer>,
    state: Mutex<State>,
}

pub fn start(ctx: &Ctx) {
    let set = match CidrSet::new(ctx.settings.cluster_cidr, ctx.settings.node_cidr_mask_size) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kedge: {COMPONENT}: not started: {e}");
            return;
        }
    };
    let nodes = ctx.informers.get(NODES);
    let q = Queue::new();
    route(&nodes, &q, |d| vec![key_of(d.object())]);
    let state = Mutex::new(State {
        set,
        by_node: HashMap::new(),
        loaded: false,
    });
    let c = NodeIpamController {
        ctx: ctx.clone(),
        nodes: nodes.clone(),
        state,
    };
    run(Arc::new(c), q, ctx.settings.workers, vec![nodes]);
}

/// What a sync decided under the lock.
enum Step {
    Done,
    Write(Ipv4Network),
    Exhausted,
}

impl NodeIpamController {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn plan(&self, name: &str, node: Option<&Value>) -> Step {
        let mut st = self.lock();
        if !st.loaded {
            // Every range already handed out is taken before the first new one is chosen.
            for n in self.nodes.list(None) {
                if let Some(c) = node_cidr(&n) {
                    st.set.occupy(c);
                    st.by_node
                        .insert(crate::api::object::name(&n).to_string(), c);
                }
            }
            st.loaded = true;
        }
        let Some(node) = node else {
            if let Some(c) = st.by_node.remove(name) {
                st.set.release(c);
            }
            return Step::Done;
        };
        if let Some(c) = node_cidr(node) {
            if let Some(old) = st.by_node.insert(name.to_string(), c).filter(|o| *o != c) {
                st.set.release(old);
            }
            st.set.occupy(c);
            return Step::Done;
        }
        if let Some(c) = st.by_node.get(name) {
            // Chosen by an earlier sync whose write has not reached the cache yet.
            return Step::Write(*c);
        }
        match st.set.allocate() {
            Some(c) => {
                st.by_node.insert(name.to_string(), c);
                Step::Write(c)
            }
            None => Step::Exhausted,
        }
    }

    async fn sync_node(&self, name: &str) -> SyncResult {
        let node = self.nodes.get(name);
        let client = &self.ctx.client;
        match self.plan(name, node.as_deref()) {
            Step::Done => Ok(None),
            Step::Write(c) => {
                let patch =
                    json!({"spec": {"podCIDR": c.to_string(), "podCIDRs": [c.to_string()]}});
                match client.merge_patch(NODES, None, name, &patch, false).await {
                    Ok(_) => Ok(None),
                    Err(e) => {
                        let mut st = self.lock();
                        if st.by_node.get(name) == Some(&c) {
                            st.by_node.remove(name);
                            st.set.release(c);
                        }
                        if e.code == 404 {
                            return Ok(None);
                        }
                        Err(e.into())
                    }
                }
            }
            Step::Exhausted => {
                if let Some(n) = node {
                    let msg = format!("Node {name} status is now: CIDRNotAvailable");
                    client
                        .event(&n, "Normal", "CIDRNotAvailable", &msg, COMPONENT)
                        .await;
                }
                Ok(Some(RETRY_EXHAUSTED))
            }
        }
    }
}

impl Controller for NodeIpamController {
    fn name(&self) -> &'static str {
        COMPONENT
    }
    fn sync<'a>(&'a self, key: &'a str) -> BoxFuture<'a, SyncResult> {
        Box::pin(self.sync_node(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Network {
        s.parse().unwrap()
    }

    #[test]
    fn allocates_round_robin_and_reuses_released_ranges_last() {
        let mut s = CidrSet::new(net("10.42.0.0/22"), 24).unwrap();
        assert!(s.occupy(net("10.42.1.0/24")));
        assert_eq!(s.allocate(), Some(net("10.42.0.0/24")));
        assert_eq!(s.allocate(), Some(net("10.42.2.0/24")));
        s.release(net("10.42.0.0/24"));
        assert_eq!(s.allocate(), Some(net("10.42.3.0/24")));
        assert_eq!(s.allocate(), Some(net("10.42.0.0/24")));
        assert_eq!(s.allocate(), None);
        s.release(net("10.42.2.0/24"));
        assert_eq!(s.allocate(), Some(net("10.42.2.0/24")));
    }

    #[test]
    fn refuses_foreign_ranges_and_bad_masks() {
        let mut s = CidrSet::new(net("10.42.0.0/16"), 24).unwrap();
        assert!(!s.occupy(net("10.43.0.0/24")));
        assert!(!s.occupy(net("10.42.0.0/25")));
        assert!(!s.occupy(net("10.41.255.0/24")));
        assert!(CidrSet::new(net("10.42.0.0/16"), 8).is_err());
        assert!(CidrSet::new(net("10.0.0.0/8"), 33).is_err());
        assert!(CidrSet::new(net("0.0.0.0/0"), 30).is_err());
        let mut whole = CidrSet::new(net("10.42.0.0/24"), 24).unwrap();
        assert_eq!(whole.allocate(), Some(net("10.42.0.0/24")));
        assert_eq!(whole.allocate(), None);
    }

    #[test]
    fn reads_a_nodes_range() {
        let n =
            json!({"spec": {"podCIDR": "10.42.3.0/24", "podCIDRs": ["fd00::/64", "10.42.3.0/24"]}});
        assert_eq!(node_cidr(&n), Some(net("10.42.3.0/24")));
        assert_eq!(
            node_cidr(&json!({"spec": {"podCIDR": "10.42.4.0/24"}})),
            Some(net("10.42.4.0/24"))
        );
        assert_eq!(node_cidr(&json!({"spec": {}})), None);
    }
}
