//! Completion indexes of Indexed Jobs: the compressed `status.completedIndexes` form
//! (`"1,3-5,7"`), which indexes still need a pod, and which active pods are redundant.
//!
//! Contract: indexes outside `0..completions` are dropped when parsing and never proposed.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

use super::pods::completion_index;
use crate::controller::podutil::deletion_rank;

/// Parse `"1,3-5"`, keeping indexes below `completions`; malformed parts are skipped.
pub fn parse(s: &str, completions: i64) -> BTreeSet<i64> {
    let mut out = BTreeSet::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (Ok(a), Ok(b)) = (a.parse::<i64>(), b.parse::<i64>()) else {
            continue;
        };
        out.extend(a.max(0)..=b.min(completions - 1));
    }
    out
}

/// The compressed form, runs of consecutive indexes as `first-last`.
pub fn format(set: &BTreeSet<i64>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut run: Option<(i64, i64)> = None;
    for &i in set {
        run = match run {
            Some((a, b)) if i == b + 1 => Some((a, i)),
            Some(r) => {
                parts.push(render(r));
                Some((i, i))
            }
            None => Some((i, i)),
        };
    }
    if let Some(r) = run {
        parts.push(render(r));
    }
    parts.join(",")
}

fn render((a, b): (i64, i64)) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("{a}-{b}")
    }
}

/// The lowest `count` indexes below `completions` that neither succeeded nor have a pod in
/// `busy` (active pods, and terminating ones when only failed pods are replaced).
pub fn first_pending(
    succeeded: &BTreeSet<i64>,
    busy: &BTreeSet<i64>,
    count: usize,
    completions: i64,
) -> Vec<i64> {
    (0..completions)
        .filter(|i| !succeeded.contains(i) && !busy.contains(i))
        .take(count)
        .collect()
}

/// Active pods to delete because their index is missing, out of range or repeated (keeping,
/// per index, the pod Kubernetes would delete last); the rest are returned second.
pub fn redundant(
    active: &[Arc<Value>],
    completions: i64,
    now: i64,
) -> (Vec<Arc<Value>>, Vec<Arc<Value>>) {
    let mut by_index: std::collections::BTreeMap<i64, Vec<Arc<Value>>> = Default::default();
    let mut rm = Vec::new();
    for p in active {
        match completion_index(p).filter(|i| *i < completions) {
            Some(i) => by_index.entry(i).or_default().push(p.clone()),
            None => rm.push(p.clone()),
        }
    }
    let mut left = Vec::new();
    for (_, mut group) in by_index {
        group.sort_by_key(|p| deletion_rank(p, now));
        let keep = group.pop();
        rm.extend(group);
        left.extend(keep);
    }
    (rm, left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_formats_intervals() {
        let s = parse("0,2-4,7,9-12", 11);
        assert_eq!(
            s.iter().copied().collect::<Vec<_>>(),
            [0, 2, 3, 4, 7, 9, 10]
        );
        assert_eq!(format(&s), "0,2-4,7,9-10");
        assert_eq!(format(&parse("", 5)), "");
        assert_eq!(format(&[3, 4].into_iter().collect()), "3-4");
        assert_eq!(parse("x,1", 5).len(), 1);
    }

    #[test]
    fn first_pending_skips_done_and_busy() {
        let done: BTreeSet<i64> = [0, 1, 4].into_iter().collect();
        let busy: BTreeSet<i64> = [2].into_iter().collect();
        assert_eq!(first_pending(&done, &busy, 2, 7), [3, 5]);
        assert_eq!(first_pending(&done, &busy, 9, 5), [3]);
    }

    #[test]
    fn repeated_and_invalid_indexes_are_redundant() {
        let pod = |ix: &str, node: &str| {
            Arc::new(json!({"metadata": {"annotations": {
                "batch.kubernetes.io/job-completion-index": ix}},
                "spec": {"nodeName": node}, "status": {"phase": "Running"}}))
        };
        let active = vec![
            pod("0", "n"),
            pod("0", ""),
            pod("1", "n"),
            pod("9", "n"),
            pod("x", "n"),
        ];
        let (rm, left) = redundant(&active, 3, 0);
        assert_eq!(rm.len(), 3);
        assert_eq!(left.len(), 2);
        // Of the two pods of index 0, the unscheduled one goes.
        assert!(rm.iter().any(|p| p["spec"]["nodeName"] == ""));
    }
}
