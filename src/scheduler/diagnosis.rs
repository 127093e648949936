//! Why a pod fits nowhere: filter rejections, their tally over nodes, and the message
//! Kubernetes' `FitError` prints into the `PodScheduled` condition and the `FailedScheduling`
//! event.
//!
//! Contract: [`Diagnosis::message`] is byte-for-byte `FitError.Error()`:
//! `0/N nodes are available: <count> <reason>, ... .` with each reason counted once per node that
//! gave it, the `"<count> <reason>"` strings sorted as strings (so counts take part in the
//! order, exactly as Go's `sort.Strings` does), a pre-filter message replacing the tally, and the
//! post-filter (preemption) message appended as its own sentence.

use std::borrow::Cow;
use std::collections::HashMap;

/// Whether evicting pods could ever make the node fit (`Unschedulable`) or not
/// (`UnschedulableAndUnresolvable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Unschedulable,
    Unresolvable,
}

/// The filter plugins, in the order the default profile runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Plugin {
    NodeUnschedulable,
    TaintToleration,
    NodeAffinity,
    NodePorts,
    NodeResourcesFit,
    VolumeBinding,
    PodTopologySpread,
    InterPodAffinity,
}

impl Plugin {
    /// A bit per plugin, so the queue can remember which plugins rejected a pod.
    pub fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// One node's rejection of a pod by one plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub plugin: Plugin,
    pub code: Code,
    pub reasons: Vec<Cow<'static, str>>,
}

impl Rejection {
    pub fn new(plugin: Plugin, code: Code, reason: impl Into<Cow<'static, str>>) -> Rejection {
        Rejection {
            plugin,
            code,
            reasons: vec![reason.into()],
        }
    }
}

/// `ErrNoNodesAvailable`: the cluster has no nodes at all.
pub const NO_NODES: &str = "no nodes available to schedule pods";

/// The tally of one failed scheduling attempt.
#[derive(Debug, Clone, Default)]
pub struct Diagnosis {
    pub num_nodes: usize,
    /// A pre-filter failure (e.g. a missing claim) replaces the per-node tally.
    pub prefilter: Option<Box<str>>,
    pub histogram: HashMap<Cow<'static, str>, usize>,
    /// `(index into the node list, code)` of every rejecting node.
    pub statuses: Vec<(usize, Code)>,
    /// Bits of the plugins that rejected the pod somewhere.
    pub plugins: u16,
    /// The preemption outcome, already prefixed with `preemption: `.
    pub post_filter: Option<Box<str>>,
}

impl Diagnosis {
    pub fn new(num_nodes: usize) -> Diagnosis {
        Diagnosis {
            num_nodes,
            ..Default::default()
        }
    }

    pub fn record(&mut self, node: usize, r: Rejection) {
        self.plugins |= r.plugin.bit();
        self.statuses.push((node, r.code));
        for reason in r.reasons {
            *self.histogram.entry(reason).or_insert(0) += 1;
        }
    }

    /// Every node fails the same pre-filter check.
    pub fn prefilter_failure(
        num_nodes: usize,
        plugin: Plugin,
        code: Code,
        msg: String,
    ) -> Diagnosis {
        Diagnosis {
            num_nodes,
            prefilter: Some(msg.into()),
            statuses: (0..num_nodes).map(|i| (i, code)).collect(),
            plugins: plugin.bit(),
            ..Default::default()
        }
    }

    pub fn message(&self) -> String {
        if self.num_nodes == 0 {
            return NO_NODES.to_string();
        }
        let mut msg = fit_error(self.num_nodes, self.prefilter.as_deref(), &self.histogram);
        if let Some(p) = &self.post_filter {
            msg.push(' ');
            msg.push_str(p);
            msg.push('.');
        }
        msg
    }
}

/// `FitError.Error()` without the post-filter sentence.
pub fn fit_error<K: AsRef<str>>(
    num_nodes: usize,
    prefilter: Option<&str>,
    histogram: &HashMap<K, usize>,
) -> String {
    let mut msg = format!("0/{num_nodes} nodes are available:");
    if let Some(p) = prefilter {
        msg.push(' ');
        msg.push_str(p);
        msg.push('.');
        return msg;
    }
    let mut parts: Vec<String> = histogram
        .iter()
        .map(|(r, n)| format!("{n} {}", r.as_ref()))
        .collect();
    parts.sort();
    if !parts.is_empty() {
        msg.push(' ');
        msg.push_str(&parts.join(", "));
        msg.push('.');
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unschedulable_message_matches_kubernetes() {
        let mut d = Diagnosis::new(3);
        d.record(
            0,
            Rejection::new(
                Plugin::NodeResourcesFit,
                Code::Unresolvable,
                "Insufficient cpu",
            ),
        );
        for i in 1..3 {
            d.record(
                i,
                Rejection::new(
                    Plugin::TaintToleration,
                    Code::Unresolvable,
                    "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }",
                ),
            );
        }
        d.post_filter = Some(
            "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling"
                .into(),
        );
        assert_eq!(
            d.message(),
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint \
             {node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes are available: 3 \
             Preemption is not helpful for scheduling."
        );
        assert_eq!(
            d.plugins,
            Plugin::NodeResourcesFit.bit() | Plugin::TaintToleration.bit()
        );
    }

    #[test]
    fn reasons_sort_as_strings_with_their_counts() {
        let mut d = Diagnosis::new(14);
        let mut add = |n: usize, reason: &'static str| {
            for i in 0..n {
                d.record(
                    i,
                    Rejection::new(Plugin::NodeAffinity, Code::Unresolvable, reason),
                );
            }
        };
        add(2, "node(s) didn't match Pod's node affinity/selector");
        add(10, "Insufficient memory");
        add(2, "Insufficient cpu");
        // "10 ..." sorts before "2 ..." as Go's sort.Strings orders them.
        assert_eq!(
            d.message(),
            "0/14 nodes are available: 10 Insufficient memory, 2 Insufficient cpu, 2 node(s) didn't \
             match Pod's node affinity/selector."
        );
    }

    #[test]
    fn multiple_reasons_of_one_node_count_separately_and_prefilter_replaces_the_tally() {
        let mut d = Diagnosis::new(1);
        d.record(
            0,
            Rejection {
                plugin: Plugin::NodeResourcesFit,
                code: Code::Unschedulable,
                reasons: vec!["Insufficient cpu".into(), "Insufficient memory".into()],
            },
        );
        assert_eq!(
            d.message(),
            "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."
        );
        let p = Diagnosis::prefilter_failure(
            2,
            Plugin::VolumeBinding,
            Code::Unresolvable,
            "persistentvolumeclaim \"data\" not found".into(),
        );
        assert_eq!(
            p.message(),
            "0/2 nodes are available: persistentvolumeclaim \"data\" not found."
        );
        assert_eq!(Diagnosis::new(0).message(), NO_NODES);
    }
}
