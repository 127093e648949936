//! The table of this node's pods the streaming server reads ([`PodLookup`]): pod workers
//! publish their containers (id, log paths, netns, tty/stdin) after every step.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::RwLock;

use super::server::{ContainerRef, PodLookup, PodRef};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodEntry {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub netns: Option<PathBuf>,
    /// Only pods whose sandbox exists have `ready` set.
    pub ready: bool,
    pub containers: Vec<(String, ContainerRef)>,
    /// Image references of the pod's containers (kept from image GC).
    pub images: Vec<String>,
}

/// Pods by uid.
#[derive(Default)]
pub struct PodTable {
    pods: RwLock<HashMap<String, PodEntry>>,
}

impl PodTable {
    pub fn put(&self, e: PodEntry) {
        self.pods
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(e.uid.clone(), e);
    }

    /// Every image reference a pod on this node uses.
    pub fn images(&self) -> std::collections::HashSet<String> {
        let pods = self.pods.read().unwrap_or_else(|e| e.into_inner());
        pods.values()
            .flat_map(|p| p.images.iter().cloned())
            .collect()
    }

    pub fn remove(&self, uid: &str) {
        self.pods
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uid);
    }
}

impl PodLookup for PodTable {
    fn container(&self, ns: &str, pod: &str, container: &str) -> Option<ContainerRef> {
        let pods = self.pods.read().unwrap_or_else(|e| e.into_inner());
        pods.values()
            .filter(|p| p.namespace == ns && p.name == pod)
            .flat_map(|p| p.containers.iter())
            .find(|(n, _)| n == container)
            .map(|(_, c)| c.clone())
    }

    fn pods(&self) -> Vec<PodRef> {
        let pods = self.pods.read().unwrap_or_else(|e| e.into_inner());
        pods.values()
            .filter(|p| p.ready)
            .map(|p| PodRef {
                namespace: p.namespace.clone(),
                name: p.name.clone(),
                uid: p.uid.clone(),
                containers: p
                    .containers
                    .iter()
                    .filter(|(_, c)| c.running)
                    .map(|(n, c)| (n.clone(), c.id.clone()))
                    .collect(),
                netns: p.netns.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_containers_and_running_pods() {
        let t = PodTable::default();
        let c = ContainerRef {
            id: "abc".into(),
            running: true,
            log_path: "/l/0.log".into(),
            previous_log_path: None,
            netns: Some("/run/ns".into()),
            tty: false,
            stdin: false,
        };
        t.put(PodEntry {
            namespace: "ns".into(),
            name: "p".into(),
            uid: "u".into(),
            netns: Some("/run/ns".into()),
            ready: true,
            containers: vec![("app".into(), c.clone())],
            images: vec!["busybox".into()],
        });
        assert!(t.images().contains("busybox"));
        assert_eq!(t.container("ns", "p", "app"), Some(c));
        assert_eq!(t.container("ns", "p", "other"), None);
        assert_eq!(
            t.pods()[0].containers,
            [("app".to_string(), "abc".to_string())]
        );
        assert_eq!(t.pod_netns("ns", "p"), Some(Some("/run/ns".into())));
        t.remove("u");
        assert!(t.pods().is_empty());
    }
}
