//! The nf_tables objects a batch creates: tables, chains, rules, sets and set elements.
//!
//! Contract: these are plain values; `batch` turns them into messages and `dump` rebuilds them
//! from the kernel, so a dumped object equals the one added (modulo kernel-added flags).

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnetwork::IpNetwork;

use super::expr::{Expr, Verdict};

/// The address family of a table (`NFPROTO_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Ip,
    Ip6,
    Inet,
}

impl Family {
    pub fn code(self) -> u8 {
        match self {
            Family::Inet => 1,
            Family::Ip => 2,
            Family::Ip6 => 10,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Ip => "ip",
            Family::Ip6 => "ip6",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Table {
    pub family: Family,
    pub name: String,
}

impl Table {
    pub fn new(family: Family, name: &str) -> Table {
        Table {
            family,
            name: name.to_string(),
        }
    }
}

/// Netfilter hooks (`NF_INET_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
}

impl Hook {
    pub fn code(self) -> u32 {
        self as u32
    }

    pub fn from_code(c: u32) -> Option<Hook> {
        [
            Hook::Prerouting,
            Hook::Input,
            Hook::Forward,
            Hook::Output,
            Hook::Postrouting,
        ]
        .get(c as usize)
        .copied()
    }

    pub fn name(self) -> &'static str {
        ["prerouting", "input", "forward", "output", "postrouting"][self as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainType {
    Filter,
    Nat,
    Route,
}

impl ChainType {
    pub fn name(self) -> &'static str {
        match self {
            ChainType::Filter => "filter",
            ChainType::Nat => "nat",
            ChainType::Route => "route",
        }
    }

    pub fn from_name(s: &str) -> ChainType {
        match s {
            "nat" => ChainType::Nat,
            "route" => ChainType::Route,
            _ => ChainType::Filter,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    Accept,
    Drop,
}

/// The hook attachment that makes a chain a base chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BaseChain {
    pub kind: ChainType,
    pub hook: Hook,
    /// Lower runs first; nat prerouting is -100 (dstnat), postrouting 100 (srcnat).
    pub priority: i32,
    pub policy: Policy,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Chain {
    pub name: String,
    /// `None` for a regular chain (reached by jump/goto only).
    pub base: Option<BaseChain>,
}

impl Chain {
    pub fn regular(name: &str) -> Chain {
        Chain {
            name: name.to_string(),
            base: None,
        }
    }

    pub fn base(name: &str, kind: ChainType, hook: Hook, priority: i32, policy: Policy) -> Chain {
        Chain {
            name: name.to_string(),
            base: Some(BaseChain {
                kind,
                hook,
                priority,
                policy,
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    pub chain: String,
    pub exprs: Vec<Expr>,
}

impl Rule {
    pub fn new(chain: &str, exprs: Vec<Expr>) -> Rule {
        Rule {
            chain: chain.to_string(),
            exprs,
        }
    }
}

/// The type of a set key or map value; the id is nft's datatype number, stored by the kernel
/// for userspace only, the length is what the kernel checks. Concatenations (`ip daddr .
/// meta l4proto . th dport`) are [`KeyType::concat`]: every part padded to 4 bytes, as the
/// registers hold them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    Ipv4Addr,
    Ipv6Addr,
    InetProto,
    InetService,
    Mark,
    IfName,
    Raw { type_id: u32, len: u32 },
}

impl KeyType {
    pub fn type_id(self) -> u32 {
        match self {
            KeyType::Ipv4Addr => 7,
            KeyType::Ipv6Addr => 8,
            KeyType::InetProto => 12,
            KeyType::InetService => 13,
            KeyType::Mark => 19,
            KeyType::IfName => 41,
            KeyType::Raw { type_id, .. } => type_id,
        }
    }

    pub fn byte_len(self) -> u32 {
        match self {
            KeyType::Ipv4Addr => 4,
            KeyType::Ipv6Addr => 16,
            KeyType::InetProto => 1,
            KeyType::InetService => 2,
            KeyType::Mark => 4,
            KeyType::IfName => 16,
            KeyType::Raw { len, .. } => len,
        }
    }

    /// The concatenation of `parts` (nft's `a . b . c`): ids combined 6 bits apart as nft
    /// does, lengths rounded up to whole 4-byte registers.
    pub fn concat(parts: &[KeyType]) -> KeyType {
        let type_id = parts.iter().fold(0, |id, p| (id << 6) | p.type_id());
        let len = parts.iter().map(|p| p.byte_len().div_ceil(4) * 4).sum();
        KeyType::Raw { type_id, len }
    }

    pub fn from_parts(type_id: u32, len: u32) -> KeyType {
        [
            KeyType::Ipv4Addr,
            KeyType::Ipv6Addr,
            KeyType::InetProto,
            KeyType::InetService,
            KeyType::Mark,
            KeyType::IfName,
        ]
        .into_iter()
        .find(|k| k.type_id() == type_id && k.byte_len() == len)
        .unwrap_or(KeyType::Raw { type_id, len })
    }
}

/// What a map maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetData {
    Verdict,
    Value(KeyType),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ElemData {
    Value(Vec<u8>),
    Verdict(Verdict),
}

/// A set element; in an interval set `key_end` is the inclusive end of the range.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Element {
    pub key: Vec<u8>,
    pub key_end: Option<Vec<u8>>,
    pub data: Option<ElemData>,
}

impl Element {
    pub fn new(key: Vec<u8>) -> Element {
        Element {
            key,
            key_end: None,
            data: None,
        }
    }

    pub fn range(start: Vec<u8>, end_inclusive: Vec<u8>) -> Element {
        Element {
            key: start,
            key_end: Some(end_inclusive),
            data: None,
        }
    }

    pub fn ipv4(a: Ipv4Addr) -> Element {
        Element::new(a.octets().to_vec())
    }

    pub fn ipv6(a: Ipv6Addr) -> Element {
        Element::new(a.octets().to_vec())
    }

    /// A whole prefix, for interval sets.
    pub fn network(net: IpNetwork) -> Element {
        match net {
            IpNetwork::V4(n) => Element::range(
                n.network().octets().to_vec(),
                n.broadcast().octets().to_vec(),
            ),
            IpNetwork::V6(n) => {
                let start = u128::from(n.network());
                let host_bits = 128 - u32::from(n.prefix());
                let end = if host_bits == 128 {
                    u128::MAX
                } else {
                    start | ((1u128 << host_bits) - 1)
                };
                Element::range(start.to_be_bytes().to_vec(), end.to_be_bytes().to_vec())
            }
        }
    }

    /// A port (`inet_service`), network order.
    pub fn port(p: u16) -> Element {
        Element::new(p.to_be_bytes().to_vec())
    }

    /// A concatenated key or value: each part zero-padded to whole 4-byte registers, the way
    /// payload and meta loads leave them (see [`KeyType::concat`]).
    pub fn concat(parts: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::with_capacity(parts.len() * 4);
        for p in parts {
            out.extend_from_slice(p);
            out.resize(out.len().div_ceil(4) * 4, 0);
        }
        out
    }

    pub fn to_verdict(mut self, v: Verdict) -> Element {
        self.data = Some(ElemData::Verdict(v));
        self
    }

    pub fn to_value(mut self, data: Vec<u8>) -> Element {
        self.data = Some(ElemData::Value(data));
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Set {
    pub name: String,
    pub key: KeyType,
    /// `Some` makes this a map (a verdict map with [`SetData::Verdict`]).
    pub data: Option<SetData>,
    /// Elements are ranges (rbtree backend); required for prefix elements.
    pub interval: bool,
    /// The packet path adds elements (`flags dynamic`): needed by a dynset expression.
    pub dynamic: bool,
    /// Elements expire after this many milliseconds unless refreshed (`flags timeout`).
    pub timeout_ms: Option<u64>,
    /// The most elements the set will ever hold (`size N`): lets the kernel pick a fixed hash
    /// instead of a resizable one, cheaper to create and free; adding more fails.
    pub max_size: Option<u32>,
    pub elements: Vec<Element>,
}

impl Set {
    pub fn new(name: &str, key: KeyType) -> Set {
        Set {
            name: name.to_string(),
            key,
            data: None,
            interval: false,
            dynamic: false,
            timeout_ms: None,
            max_size: None,
            elements: Vec::new(),
        }
    }

    pub fn map(name: &str, key: KeyType, data: SetData) -> Set {
        Set {
            data: Some(data),
            ..Set::new(name, key)
        }
    }

    pub fn interval(mut self) -> Set {
        self.interval = true;
        self
    }

    /// Lets dynset expressions add and refresh elements that expire after `timeout_ms`
    /// (`flags dynamic,timeout; timeout ..`).
    pub fn dynamic(mut self, timeout_ms: u64) -> Set {
        self.dynamic = true;
        self.timeout_ms = Some(timeout_ms);
        self
    }

    /// Fixes the set to its current elements' count (see [`Set::max_size`]).
    pub fn sized(mut self) -> Set {
        self.max_size = Some(self.elements.len().max(1) as u32);
        self
    }

    pub fn with_elements(mut self, elements: Vec<Element>) -> Set {
        self.elements = elements;
        self
    }
}
