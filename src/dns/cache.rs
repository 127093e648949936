//! The forwarder's answer cache: bounded, TTL-respecting, with negative answers kept briefly.
//!
//! Contract: an entry lives for the smallest TTL of its answer records (capped at [`MAX_TTL`]);
//! NXDOMAIN and NODATA for the SOA's negative TTL (RFC 2308, capped at [`MAX_NEGATIVE_TTL`],
//! [`DEFAULT_NEGATIVE_TTL`] without an SOA); other response codes and zero TTLs are never cached.
//! A hit returns the records with their TTLs lowered by the time spent in the cache. The cache
//! never holds more than its capacity: a full cache first drops expired entries, then the entry
//! closest to expiry. Time is passed in by the caller, so tests need no sleeping.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hickory_proto::op::{Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::upstream::Resolved;

pub const MAX_TTL: Duration = Duration::from_secs(3600);
pub const MAX_NEGATIVE_TTL: Duration = Duration::from_secs(30);
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(5);

/// A question; names compare and hash case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    name: Name,
    qtype: RecordType,
    class: DNSClass,
}

impl Key {
    pub fn of(q: &Query) -> Key {
        Key {
            name: q.name().clone(),
            qtype: q.query_type(),
            class: q.query_class(),
        }
    }
}

#[derive(Debug)]
struct Entry {
    resolved: Resolved,
    stored: Instant,
    expires: Instant,
}

#[derive(Debug)]
pub struct Cache {
    capacity: usize,
    entries: HashMap<Key, Entry>,
}

/// How long `r` may be cached, `None` for never.
fn lifetime(r: &Resolved) -> Option<Duration> {
    let negative = || {
        let soa = r.authorities.iter().find_map(|rec| match &rec.data {
            RData::SOA(soa) => Some(rec.ttl.min(soa.minimum)),
            _ => None,
        });
        Some(match soa {
            Some(secs) => Duration::from_secs(secs.into()).min(MAX_NEGATIVE_TTL),
            None => DEFAULT_NEGATIVE_TTL,
        })
    };
    let ttl = match r.rcode {
        ResponseCode::NXDomain => negative(),
        ResponseCode::NoError if r.answers.is_empty() => negative(),
        ResponseCode::NoError => r
            .answers
            .iter()
            .map(|rec| Duration::from_secs(rec.ttl.into()))
            .min()
            .map(|d| d.min(MAX_TTL)),
        _ => None,
    };
    ttl.filter(|d| !d.is_zero())
}

fn aged(records: &[Record], elapsed: u32) -> Vec<Record> {
    records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.ttl = r.ttl.saturating_sub(elapsed);
            r
        })
        .collect()
}

impl Cache {
    pub fn new(capacity: usize) -> Cache {
        Cache {
            capacity,
            entries: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn get(&mut self, key: &Key, now: Instant) -> Option<Resolved> {
        let e = self.entries.get(key)?;
        if now >= e.expires {
            self.entries.remove(key);
            return None;
        }
        let elapsed = u32::try_from(now.duration_since(e.stored).as_secs()).unwrap_or(u32::MAX);
        let r = &e.resolved;
        Some(Resolved {
            rcode: r.rcode,
            answers: aged(&r.answers, elapsed),
            authorities: aged(&r.authorities, elapsed),
            additionals: aged(&r.additionals, elapsed),
            from_cache: true,
        })
    }

    pub fn insert(&mut self, key: Key, resolved: &Resolved, now: Instant) {
        let Some(ttl) = lifetime(resolved) else {
            return;
        };
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries.retain(|_, e| e.expires > now);
            if self.entries.len() >= self.capacity {
                let soonest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.expires)
                    .map(|(k, _)| k.clone());
                if let Some(k) = soonest {
                    self.entries.remove(&k);
                }
            }
        }
        let resolved = Resolved {
            from_cache: false,
            ..resolved.clone()
        };
        self.entries.insert(
            key,
            Entry {
                resolved,
                stored: now,
                expires: now + ttl,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::str::FromStr;

    use hickory_proto::rr::rdata::{A, SOA};

    use super::*;

    fn key(n: &str) -> Key {
        Key::of(&Query::query(Name::from_str(n).unwrap(), RecordType::A))
    }

    fn positive(ttl: u32) -> Resolved {
        let name = Name::from_str("example.com.").unwrap();
        Resolved {
            rcode: ResponseCode::NoError,
            answers: vec![
                Record::from_rdata(name.clone(), ttl, RData::A(A(Ipv4Addr::new(192, 0, 2, 1)))),
                Record::from_rdata(name, ttl + 100, RData::A(A(Ipv4Addr::new(192, 0, 2, 2)))),
            ],
            authorities: vec![],
            additionals: vec![],
            from_cache: false,
        }
    }

    fn negative(rcode: ResponseCode, soa_ttl: Option<u32>) -> Resolved {
        let name = Name::from_str("example.com.").unwrap();
        let soa = soa_ttl.map(|ttl| {
            let data = SOA::new(name.clone(), name.clone(), 1, 1, 1, 1, 600);
            Record::from_rdata(name.clone(), ttl, RData::SOA(data))
        });
        Resolved {
            rcode,
            answers: vec![],
            authorities: soa.into_iter().collect(),
            additionals: vec![],
            from_cache: false,
        }
    }

    #[test]
    fn hits_age_and_expire_with_the_smallest_ttl() {
        let mut c = Cache::new(10);
        let t0 = Instant::now();
        c.insert(key("example.com."), &positive(60), t0);
        let hit = c
            .get(&key("EXAMPLE.com."), t0 + Duration::from_secs(20))
            .unwrap();
        assert!(hit.from_cache);
        assert_eq!(hit.answers[0].ttl, 40);
        assert_eq!(hit.answers[1].ttl, 140);
        assert!(c
            .get(&key("example.com."), t0 + Duration::from_secs(60))
            .is_none());
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn negative_answers_are_cached_briefly() {
        let mut c = Cache::new(10);
        let t0 = Instant::now();
        // SOA TTL 600 but capped at 30 s.
        c.insert(key("a."), &negative(ResponseCode::NXDomain, Some(600)), t0);
        assert!(c.get(&key("a."), t0 + Duration::from_secs(29)).is_some());
        assert!(c.get(&key("a."), t0 + Duration::from_secs(30)).is_none());
        // NODATA with a short SOA TTL.
        c.insert(key("b."), &negative(ResponseCode::NoError, Some(2)), t0);
        assert!(c.get(&key("b."), t0 + Duration::from_secs(2)).is_none());
        // No SOA: the default.
        c.insert(key("c."), &negative(ResponseCode::NXDomain, None), t0);
        assert!(c.get(&key("c."), t0 + DEFAULT_NEGATIVE_TTL).is_none());
        // Failures and zero TTLs are never cached.
        c.insert(key("d."), &negative(ResponseCode::ServFail, None), t0);
        c.insert(key("e."), &positive(0), t0);
        assert!(c.get(&key("d."), t0).is_none());
        assert!(c.get(&key("e."), t0).is_none());
    }

    #[test]
    fn capacity_is_a_hard_bound() {
        let mut c = Cache::new(3);
        let t0 = Instant::now();
        for (i, ttl) in [(1, 50), (2, 10), (3, 90), (4, 70)] {
            c.insert(key(&format!("n{i}.")), &positive(ttl), t0);
        }
        assert_eq!(c.len(), 3);
        // The entry closest to expiry (n2) made room.
        assert!(c.get(&key("n2."), t0).is_none());
        assert!(c.get(&key("n4."), t0).is_some());
        // Expired entries go first.
        c.insert(key("n5."), &positive(300), t0 + Duration::from_secs(60));
        assert_eq!(c.len(), 3);
        assert!(c.get(&key("n1."), t0 + Duration::from_secs(60)).is_none());
    }
}
