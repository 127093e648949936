//! Expression sequences for the matches and actions rules are written with, the way `nft`
//! compiles them (e.g. `tcp dport 80` = l4proto check + transport payload load + cmp).
//!
//! Contract: each helper returns a self-contained `Vec<Expr>` that only uses register 1 (and 2
//! for nat ports); concatenate them into a rule's expression list in match order. Addresses
//! match the IPv4 or IPv6 header depending on the network given; in an `inet` table put
//! [`nfproto`] first, as nft does.

use std::net::IpAddr;

use ipnetwork::IpNetwork;

use super::expr::{
    nat_flags, CmpOp, CtKey, Expr, MetaKey, NatKind, NumgenKind, PayloadBase, Reg, Verdict,
};
use super::objects::Family;

pub const TCP: u8 = 6;
pub const UDP: u8 = 17;
pub const SCTP: u8 = 132;

/// Which address of the IP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Source,
    Destination,
}

fn cmp(op: CmpOp, data: Vec<u8>) -> Expr {
    Expr::Cmp {
        sreg: Reg::R1,
        op,
        data,
    }
}

fn ifname(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.push(0);
    v
}

/// `meta KEY op DATA`.
pub fn meta(key: MetaKey, op: CmpOp, data: Vec<u8>) -> Vec<Expr> {
    vec![Expr::Meta { key, dreg: Reg::R1 }, cmp(op, data)]
}

/// `iifname NAME` (exact name).
pub fn iifname(name: &str, op: CmpOp) -> Vec<Expr> {
    meta(MetaKey::IIFNAME, op, ifname(name))
}

/// `oifname NAME` (exact name).
pub fn oifname(name: &str, op: CmpOp) -> Vec<Expr> {
    meta(MetaKey::OIFNAME, op, ifname(name))
}

/// `meta l4proto PROTO`.
pub fn l4proto(proto: u8) -> Vec<Expr> {
    meta(MetaKey::L4PROTO, CmpOp::Eq, vec![proto])
}

/// `meta nfproto ipv4|ipv6`, needed before header matches in `inet` tables.
pub fn nfproto(family: Family) -> Vec<Expr> {
    meta(MetaKey::NFPROTO, CmpOp::Eq, vec![family.code()])
}

/// `meta mark MARK`.
pub fn mark(mark: u32, op: CmpOp) -> Vec<Expr> {
    meta(MetaKey::MARK, op, mark.to_ne_bytes().to_vec())
}

/// `meta mark set (mark | bits)`: ORs bits into the mark, keeping the others.
pub fn mark_or(bits: u32) -> Vec<Expr> {
    vec![
        Expr::Meta {
            key: MetaKey::MARK,
            dreg: Reg::R1,
        },
        Expr::Bitwise {
            sreg: Reg::R1,
            dreg: Reg::R1,
            mask: (!bits).to_ne_bytes().to_vec(),
            xor: bits.to_ne_bytes().to_vec(),
        },
        Expr::MetaSet {
            key: MetaKey::MARK,
            sreg: Reg::R1,
        },
    ]
}

/// `ip saddr|daddr [!=] NET` (a prefix match through bitwise when not a host).
pub fn addr(dir: Dir, net: IpNetwork, op: CmpOp) -> Vec<Expr> {
    let (offset, len) = match (net, dir) {
        (IpNetwork::V4(_), Dir::Source) => (12, 4),
        (IpNetwork::V4(_), Dir::Destination) => (16, 4),
        (IpNetwork::V6(_), Dir::Source) => (8, 16),
        (IpNetwork::V6(_), Dir::Destination) => (24, 16),
    };
    let mut out = vec![Expr::Payload {
        base: PayloadBase::Network,
        offset,
        len,
        dreg: Reg::R1,
    }];
    let (network, mask) = match net {
        IpNetwork::V4(n) => (n.network().octets().to_vec(), n.mask().octets().to_vec()),
        IpNetwork::V6(n) => (n.network().octets().to_vec(), n.mask().octets().to_vec()),
    };
    if u32::from(net.prefix()) != len * 8 {
        out.push(Expr::Bitwise {
            sreg: Reg::R1,
            dreg: Reg::R1,
            mask,
            xor: vec![0; len as usize],
        });
    }
    out.push(cmp(op, network));
    out
}

/// `PROTO dport PORT` (tcp/udp/sctp).
pub fn dport(proto: u8, port: u16) -> Vec<Expr> {
    port_match(proto, 2, port)
}

/// `PROTO sport PORT`.
pub fn sport(proto: u8, port: u16) -> Vec<Expr> {
    port_match(proto, 0, port)
}

fn port_match(proto: u8, offset: u32, port: u16) -> Vec<Expr> {
    let mut out = l4proto(proto);
    out.push(Expr::Payload {
        base: PayloadBase::Transport,
        offset,
        len: 2,
        dreg: Reg::R1,
    });
    out.push(cmp(CmpOp::Eq, port.to_be_bytes().to_vec()));
    out
}

fn ct_bits(key: CtKey, bits: u32) -> Vec<Expr> {
    vec![
        Expr::Ct { key, dreg: Reg::R1 },
        Expr::Bitwise {
            sreg: Reg::R1,
            dreg: Reg::R1,
            mask: bits.to_ne_bytes().to_vec(),
            xor: vec![0; 4],
        },
        cmp(CmpOp::Neq, vec![0; 4]),
    ]
}

/// `ct state { bits }` with bits from [`super::expr::ct_state`].
pub fn ct_state(bits: u32) -> Vec<Expr> {
    ct_bits(CtKey::STATE, bits)
}

/// `ct status { bits }` with bits from [`super::expr::ct_status`].
pub fn ct_status(bits: u32) -> Vec<Expr> {
    ct_bits(CtKey::STATUS, bits)
}

/// `fib daddr type local`: the destination is an address of this host.
pub fn daddr_is_local() -> Vec<Expr> {
    const NFT_FIB_RESULT_ADDRTYPE: u32 = 3;
    const NFTA_FIB_F_DADDR: u32 = 1 << 1;
    const RTN_LOCAL: u32 = 2;
    vec![
        Expr::Fib {
            dreg: Reg::R1,
            result: NFT_FIB_RESULT_ADDRTYPE,
            flags: NFTA_FIB_F_DADDR,
        },
        cmp(CmpOp::Eq, RTN_LOCAL.to_ne_bytes().to_vec()),
    ]
}

fn addr_bytes(a: IpAddr) -> (u32, Vec<u8>) {
    match a {
        IpAddr::V4(a) => (2, a.octets().to_vec()),
        IpAddr::V6(a) => (10, a.octets().to_vec()),
    }
}

fn nat(kind: NatKind, to: IpAddr, port: Option<u16>) -> Vec<Expr> {
    let (family, bytes) = addr_bytes(to);
    let mut out = vec![Expr::Immediate {
        dreg: Reg::R1,
        data: bytes,
    }];
    let mut flags = nat_flags::MAP_IPS;
    if let Some(p) = port {
        out.push(Expr::Immediate {
            dreg: Reg::R2,
            data: p.to_be_bytes().to_vec(),
        });
        flags |= nat_flags::PROTO_SPECIFIED;
    }
    out.push(Expr::Nat {
        kind,
        family,
        addr_min: Some(Reg::R1),
        addr_max: None,
        proto_min: port.map(|_| Reg::R2),
        proto_max: None,
        flags,
    });
    out
}

/// `dnat to ADDR[:PORT]` (nat prerouting/output chains).
pub fn dnat(to: IpAddr, port: Option<u16>) -> Vec<Expr> {
    nat(NatKind::Dnat, to, port)
}

/// `snat to ADDR[:PORT]` (nat postrouting/input chains).
pub fn snat(to: IpAddr, port: Option<u16>) -> Vec<Expr> {
    nat(NatKind::Snat, to, port)
}

/// `masquerade [fully-random]`.
pub fn masquerade(fully_random: bool) -> Vec<Expr> {
    let flags = if fully_random {
        nat_flags::PROTO_RANDOM_FULLY
    } else {
        0
    };
    vec![Expr::Masq {
        flags,
        proto_min: None,
        proto_max: None,
    }]
}

/// `numgen random mod N vmap @MAP`: picks one of N verdicts (e.g. service endpoints). The
/// map's keys are [`numgen_key`]s.
pub fn numgen_vmap(modulus: u32, map: &str) -> Vec<Expr> {
    vec![
        Expr::Numgen {
            dreg: Reg::R1,
            modulus,
            kind: NumgenKind::Random,
            offset: 0,
        },
        Expr::Lookup {
            set: map.to_string(),
            sreg: Reg::R1,
            dreg: Some(Reg::VERDICT),
            invert: false,
        },
    ]
}

/// The key bytes of numgen value `n` (a host-order u32 register).
pub fn numgen_key(n: u32) -> Vec<u8> {
    n.to_ne_bytes().to_vec()
}

/// `@SET` membership of what the previous expressions loaded into register 1.
pub fn lookup(set: &str, invert: bool) -> Expr {
    Expr::Lookup {
        set: set.to_string(),
        sreg: Reg::R1,
        dreg: None,
        invert,
    }
}

/// `vmap @MAP` on register 1.
pub fn vmap(map: &str) -> Expr {
    Expr::Lookup {
        set: map.to_string(),
        sreg: Reg::R1,
        dreg: Some(Reg::VERDICT),
        invert: false,
    }
}

/// Loads a header field into register 1 without comparing (for lookups).
pub fn load_addr(dir: Dir, v6: bool) -> Expr {
    let (offset, len) = match (v6, dir) {
        (false, Dir::Source) => (12, 4),
        (false, Dir::Destination) => (16, 4),
        (true, Dir::Source) => (8, 16),
        (true, Dir::Destination) => (24, 16),
    };
    Expr::Payload {
        base: PayloadBase::Network,
        offset,
        len,
        dreg: Reg::R1,
    }
}

pub fn verdict(v: Verdict) -> Expr {
    Expr::Verdict(v)
}

pub fn counter() -> Expr {
    Expr::Counter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_match_uses_bitwise_and_host_match_does_not() {
        let e = addr(Dir::Source, "10.1.0.0/16".parse().unwrap(), CmpOp::Eq);
        assert_eq!(e.len(), 3);
        assert!(matches!(&e[1], Expr::Bitwise { mask, .. } if mask == &vec![255, 255, 0, 0]));
        let e = addr(Dir::Destination, "10.1.2.3/32".parse().unwrap(), CmpOp::Neq);
        assert_eq!(e.len(), 2);
        assert!(matches!(&e[0], Expr::Payload { offset: 16, .. }));
    }

    #[test]
    fn dnat_with_port_sets_proto_register() {
        let e = dnat("10.0.0.5".parse().unwrap(), Some(8080));
        assert_eq!(
            e[1],
            Expr::Immediate {
                dreg: Reg::R2,
                data: vec![0x1f, 0x90]
            }
        );
        assert!(matches!(
            e[2],
            Expr::Nat {
                proto_min: Some(Reg::R2),
                family: 2,
                ..
            }
        ));
    }
}
