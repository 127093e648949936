//! The scheduling queue (Kubernetes' `PriorityQueue`): pending pods ordered by priority, then
//! by arrival; pods that did not fit wait until something changes that could make them fit.
//!
//! Contract: each key is in exactly one state: active (ready, in `active`), in flight (popped,
//! being scheduled), backing off (in `backoff` until its time) or unschedulable. A pod that did
//! not fit is parked as unschedulable together with the plugins that rejected it; a cluster
//! event moves the parked pods whose plugins care about it (to active, or to backoff until
//! their per-pod backoff of 1 s doubling to 10 s expires). A pod whose attempt overlapped such
//! an event, or that was updated meanwhile, backs off instead of parking, so no event is lost.
//! Parked pods are retried anyway after [`UNSCHEDULABLE_TIMEOUT_MS`]. Time is passed in (ms
//! on any monotonic clock), so the queue is tested with a fake one.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

use super::diagnosis::Plugin;

const INITIAL_BACKOFF_MS: u64 = 1_000;
const MAX_BACKOFF_MS: u64 = 10_000;
/// Longest a pod stays parked without a retry.
pub const UNSCHEDULABLE_TIMEOUT_MS: u64 = 10_000;

/// Cluster changes that can make parked pods fit, as sets of the plugins that care.
pub mod event {
    use super::Plugin;

    /// A node appeared or its labels, taints, capacity, readiness or cordon changed.
    pub const NODE_CHANGE: u16 = u16::MAX;
    /// A placed pod went away: its resources, ports and (anti-)affinity with it.
    pub fn pod_delete() -> u16 {
        Plugin::NodeResourcesFit.bit()
            | Plugin::NodePorts.bit()
            | Plugin::InterPodAffinity.bit()
            | Plugin::PodTopologySpread.bit()
    }
    /// A pod was placed: it can satisfy someone's affinity or spread.
    pub fn pod_add() -> u16 {
        Plugin::InterPodAffinity.bit() | Plugin::PodTopologySpread.bit()
    }
    /// Volumes or claims changed.
    pub fn volume_change() -> u16 {
        Plugin::VolumeBinding.bit()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Active,
    InFlight,
    Backoff,
    Unschedulable,
}

#[derive(Debug)]
struct Entry {
    priority: i32,
    seq: u64,
    state: State,
    attempts: u32,
    ready_at: u64,
    rejected_by: u16,
    parked_at: u64,
    /// The move cycle when it was popped.
    popped_at: u64,
    updated: bool,
}

#[derive(Debug, Default)]
pub struct SchedulingQueue {
    entries: HashMap<String, Entry>,
    active: BTreeSet<(Reverse<i32>, u64, String)>,
    backoff: BTreeSet<(u64, String)>,
    seq: u64,
    /// Bumped by every move request.
    moves: u64,
}

fn backoff_ms(attempts: u32) -> u64 {
    INITIAL_BACKOFF_MS
        .saturating_mul(1u64 << attempts.saturating_sub(1).min(16))
        .min(MAX_BACKOFF_MS)
}

impl SchedulingQueue {
    pub fn new() -> SchedulingQueue {
        SchedulingQueue::default()
    }

    fn activate(&mut self, key: &str) {
        if let Some(e) = self.entries.get_mut(key) {
            e.state = State::Active;
            self.active
                .insert((Reverse(e.priority), e.seq, key.to_string()));
        }
    }

    fn back_off(&mut self, key: &str, now: u64) {
        let Some(e) = self.entries.get_mut(key) else {
            return;
        };
        if now >= e.ready_at {
            self.activate(key);
        } else {
            e.state = State::Backoff;
            self.backoff.insert((e.ready_at, key.to_string()));
        }
    }

    /// Take `key` out of whichever set holds it, leaving its entry.
    fn detach(&mut self, key: &str) {
        let Some(e) = self.entries.get(key) else {
            return;
        };
        match e.state {
            State::Active => {
                self.active
                    .remove(&(Reverse(e.priority), e.seq, key.to_string()));
            }
            State::Backoff => {
                self.backoff.remove(&(e.ready_at, key.to_string()));
            }
            State::InFlight | State::Unschedulable => {}
        }
    }

    /// A pending pod was added or updated.
    pub fn add(&mut self, key: &str, priority: i32, now: u64) {
        let Some(e) = self.entries.get(key) else {
            self.seq += 1;
            let e = Entry {
                priority,
                seq: self.seq,
                state: State::Active,
                attempts: 0,
                ready_at: 0,
                rejected_by: 0,
                parked_at: 0,
                popped_at: 0,
                updated: false,
            };
            self.entries.insert(key.to_string(), e);
            self.activate(key);
            return;
        };
        match e.state {
            State::InFlight => {
                if let Some(e) = self.entries.get_mut(key) {
                    e.updated = true;
                    e.priority = priority;
                }
            }
            State::Active => {
                self.detach(key);
                if let Some(e) = self.entries.get_mut(key) {
                    e.priority = priority;
                }
                self.activate(key);
            }
            State::Backoff => {
                if let Some(e) = self.entries.get_mut(key) {
                    e.priority = priority;
                }
            }
            State::Unschedulable => {
                if let Some(e) = self.entries.get_mut(key) {
                    e.priority = priority;
                }
                self.back_off(key, now);
            }
        }
    }

    /// The most important ready pod, now in flight.
    pub fn pop(&mut self) -> Option<String> {
        let (_, _, key) = self.active.pop_first()?;
        if let Some(e) = self.entries.get_mut(&key) {
            e.state = State::InFlight;
            e.popped_at = self.moves;
            e.updated = false;
        }
        Some(key)
    }

    /// The pod was placed (or is gone): forget it.
    pub fn done(&mut self, key: &str) {
        self.remove(key);
    }

    pub fn remove(&mut self, key: &str) {
        self.detach(key);
        self.entries.remove(key);
    }

    /// The in-flight pod fits nowhere; `rejected_by` are the plugins' bits.
    pub fn unschedulable(&mut self, key: &str, rejected_by: u16, now: u64) {
        let moves = self.moves;
        let Some(e) = self.entries.get_mut(key) else {
            return;
        };
        e.attempts += 1;
        e.ready_at = now + backoff_ms(e.attempts);
        e.rejected_by = rejected_by;
        if e.updated || e.popped_at != moves {
            self.back_off(key, now);
        } else {
            e.state = State::Unschedulable;
            e.parked_at = now;
        }
    }

    /// The attempt failed for another reason (an API error): retry after the backoff.
    pub fn error(&mut self, key: &str, now: u64) {
        self.detach(key);
        let Some(e) = self.entries.get_mut(key) else {
            return;
        };
        e.attempts += 1;
        e.ready_at = now + backoff_ms(e.attempts);
        self.back_off(key, now);
    }

    /// A cluster event: retry the parked pods rejected by a plugin in `plugins`.
    pub fn move_for(&mut self, plugins: u16, now: u64) {
        self.moves += 1;
        let keys: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                e.state == State::Unschedulable
                    && (e.rejected_by == 0 || e.rejected_by & plugins != 0)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            self.back_off(&k, now);
        }
    }

    /// Activate pods whose backoff ended and pods parked for too long.
    pub fn flush(&mut self, now: u64) {
        while let Some((ready, key)) = self.backoff.first().cloned() {
            if ready > now {
                break;
            }
            self.backoff.pop_first();
            self.activate(&key);
        }
        let stale: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                e.state == State::Unschedulable
                    && now.saturating_sub(e.parked_at) >= UNSCHEDULABLE_TIMEOUT_MS
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            self.back_off(&k, now);
        }
    }

    pub fn has_active(&self) -> bool {
        !self.active.is_empty()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    pub fn is_parked(&self, key: &str) -> bool {
        self.entries
            .get(key)
            .is_some_and(|e| e.state == State::Unschedulable)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn higher_priority_first_then_fifo() {
        let mut q = SchedulingQueue::new();
        q.add("a", 0, 0);
        q.add("b", 10, 0);
        q.add("c", 0, 0);
        q.add("d", 10, 0);
        let order: Vec<String> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec!["b", "d", "a", "c"]);
        // Re-adding an active pod with a new priority reorders it, keeping its arrival.
        let mut q = SchedulingQueue::new();
        q.add("x", 0, 0);
        q.add("y", 0, 0);
        q.add("y", 5, 0);
        assert_eq!(q.pop().as_deref(), Some("y"));
    }

    #[test]
    fn parked_pods_move_only_for_relevant_events_after_backoff() {
        let mut q = SchedulingQueue::new();
        q.add("p", 0, 0);
        assert_eq!(q.pop().as_deref(), Some("p"));
        q.unschedulable("p", Plugin::NodeResourcesFit.bit(), 0);
        assert!(q.is_parked("p"));
        q.move_for(event::pod_add(), 100);
        assert!(q.is_parked("p"), "placing a pod does not free resources");
        q.move_for(event::pod_delete(), 200);
        assert!(!q.is_parked("p"));
        assert!(!q.has_active(), "still backing off (1 s)");
        q.flush(999);
        assert!(!q.has_active());
        q.flush(1000);
        assert_eq!(q.pop().as_deref(), Some("p"));
        // Second failure: 2 s backoff.
        q.unschedulable("p", Plugin::TaintToleration.bit(), 5000);
        q.move_for(event::NODE_CHANGE, 5000);
        q.flush(6999);
        assert!(!q.has_active());
        q.flush(7000);
        assert!(q.has_active());
    }

    #[test]
    fn an_event_during_the_attempt_is_not_lost() {
        let mut q = SchedulingQueue::new();
        q.add("p", 0, 0);
        q.pop();
        q.move_for(event::NODE_CHANGE, 10);
        q.unschedulable("p", Plugin::TaintToleration.bit(), 20);
        assert!(!q.is_parked("p"));
        q.flush(1020);
        assert_eq!(q.pop().as_deref(), Some("p"));
        // An update of the pod while in flight counts too.
        q.add("p", 0, 1100);
        q.unschedulable("p", Plugin::TaintToleration.bit(), 1200);
        assert!(!q.is_parked("p"));
    }

    #[test]
    fn parked_pods_are_retried_periodically_and_updates_wake_them() {
        let mut q = SchedulingQueue::new();
        q.add("p", 0, 0);
        q.pop();
        q.unschedulable("p", Plugin::NodeAffinity.bit(), 0);
        q.flush(UNSCHEDULABLE_TIMEOUT_MS - 1);
        assert!(q.is_parked("p"));
        q.flush(UNSCHEDULABLE_TIMEOUT_MS);
        assert_eq!(q.pop().as_deref(), Some("p"));
        q.unschedulable("p", Plugin::NodeAffinity.bit(), 20_000);
        q.add("p", 0, 30_000);
        assert_eq!(
            q.pop().as_deref(),
            Some("p"),
            "an update after the backoff activates it"
        );
        q.done("p");
        assert!(q.is_empty());
    }

    #[test]
    fn errors_back_off_and_removal_forgets() {
        let mut q = SchedulingQueue::new();
        q.add("p", 0, 0);
        q.pop();
        q.error("p", 0);
        assert!(!q.has_active());
        q.flush(1000);
        assert!(q.has_active());
        q.remove("p");
        assert!(!q.has_active() && q.is_empty());
        assert_eq!(backoff_ms(1), 1000);
        assert_eq!(backoff_ms(3), 4000);
        assert_eq!(backoff_ms(30), MAX_BACKOFF_MS);
    }
}
