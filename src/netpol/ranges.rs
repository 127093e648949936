//! Sets of integers as sorted inclusive ranges: IPv4 addresses (`u32`) and ports.
//!
//! Contract: a [`Ranges`] is always normalized: ranges sorted, disjoint and never adjacent
//! (`[1,5]` and `[6,9]` are stored as `[1,9]`), so two equal sets compare equal and can be
//! handed to an nf_tables interval set as they are: the kernel's rbtree backend refuses
//! overlapping elements, and an element ending right where the next starts would make the
//! end marker of one collide with the start of the other.

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ranges(Vec<(u32, u32)>);

impl Ranges {
    pub fn new() -> Ranges {
        Ranges::default()
    }

    /// The set of exactly these inclusive ranges (in any order, overlapping or not).
    pub fn from_ranges(ranges: impl IntoIterator<Item = (u32, u32)>) -> Ranges {
        let mut r = Ranges(ranges.into_iter().filter(|(lo, hi)| lo <= hi).collect());
        r.normalize();
        r
    }

    pub fn single(v: u32) -> Ranges {
        Ranges(vec![(v, v)])
    }

    pub fn addr(a: Ipv4Addr) -> Ranges {
        Ranges::single(u32::from(a))
    }

    pub fn cidr(net: Ipv4Network) -> Ranges {
        Ranges(vec![(u32::from(net.network()), u32::from(net.broadcast()))])
    }

    fn normalize(&mut self) {
        self.0.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(self.0.len());
        for &(lo, hi) in &self.0 {
            match out.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        self.0 = out;
    }

    pub fn union(&mut self, other: &Ranges) {
        self.0.extend_from_slice(&other.0);
        self.normalize();
    }

    /// Removes every value of `other`.
    pub fn subtract(&mut self, other: &Ranges) {
        let mut out = Vec::with_capacity(self.0.len());
        for &(mut lo, hi) in &self.0 {
            let mut alive = true;
            for &(clo, chi) in &other.0 {
                if chi < lo || clo > hi {
                    continue;
                }
                if clo > lo {
                    out.push((lo, clo - 1));
                }
                match chi.checked_add(1) {
                    Some(next) if next <= hi => lo = next,
                    _ => {
                        alive = false;
                        break;
                    }
                }
            }
            if alive {
                out.push((lo, hi));
            }
        }
        self.0 = out;
        self.normalize();
    }

    pub fn contains(&self, v: u32) -> bool {
        // Normalized ranges are sorted, so the candidate is the last one starting at or before v.
        let i = self.0.partition_point(|&(lo, _)| lo <= v);
        i > 0 && self.0[i - 1].1 >= v
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn ranges(&self) -> &[(u32, u32)] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_and_adjacent_ranges_merge() {
        let r = Ranges::from_ranges([(10, 20), (1, 5), (6, 8), (15, 30), (40, 40)]);
        assert_eq!(r.ranges(), &[(1, 8), (10, 30), (40, 40)]);
        assert!(r.contains(7) && r.contains(30) && r.contains(40));
        assert!(!r.contains(9) && !r.contains(31) && !r.contains(0));
    }

    #[test]
    fn subtract_cuts_holes_and_edges() {
        let mut r = Ranges::cidr("10.0.0.0/24".parse().unwrap());
        r.subtract(&Ranges::cidr("10.0.0.128/25".parse().unwrap()));
        r.subtract(&Ranges::addr("10.0.0.7".parse().unwrap()));
        r.subtract(&Ranges::addr("10.0.0.0".parse().unwrap()));
        let ip = |s: &str| u32::from(s.parse::<Ipv4Addr>().unwrap());
        assert_eq!(
            r.ranges(),
            &[
                (ip("10.0.0.1"), ip("10.0.0.6")),
                (ip("10.0.0.8"), ip("10.0.0.127"))
            ]
        );
    }

    #[test]
    fn subtract_at_the_top_of_the_space_does_not_overflow() {
        let mut r = Ranges::cidr("0.0.0.0/0".parse().unwrap());
        r.subtract(&Ranges::single(u32::MAX));
        assert_eq!(r.ranges(), &[(0, u32::MAX - 1)]);
        r.subtract(&Ranges::from_ranges([(0, u32::MAX)]));
        assert!(r.is_empty());
    }
}
