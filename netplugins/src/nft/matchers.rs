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
    nat_flags, reject, CmpOp, CtKey, DynsetOp, Expr, MetaKey, NatKind, NumgenKind, PayloadBase,
    Reg, Verdict,
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
    mark_set(!bits, bits)
}

/// `meta mark set (mark & ~bits)`: clears bits of the mark, keeping the others.
pub fn mark_clear(bits: u32) -> Vec<Expr> {
    mark_set(!bits, 0)
}

/// `meta mark & bits != 0`: any of the bits is set.
pub fn mark_any(bits: u32) -> Vec<Expr> {
    let mut out = mark_masked(bits, 0);
    out.push(cmp(CmpOp::Neq, vec![0; 4]));
    out
}

/// `meta mark set (mark & mask) ^ xor`.
fn mark_set(mask: u32, xor: u32) -> Vec<Expr> {
    let mut out = mark_masked(mask, xor);
    out.push(Expr::MetaSet {
        key: MetaKey::MARK,
        sreg: Reg::R1,
    });
    out
}

/// Register 1 = `(meta mark & mask) ^ xor`.
fn mark_masked(mask: u32, xor: u32) -> Vec<Expr> {
    vec![
        Expr::Meta {
            key: MetaKey::MARK,
            dreg: Reg::R1,
        },
        Expr::Bitwise {
            sreg: Reg::R1,
            dreg: Reg::R1,
            mask: mask.to_ne_bytes().to_vec(),
            xor: xor.to_ne_bytes().to_vec(),
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
    const NFTA_FIB_F_DADDR: u32 = 1 << 1;
    fib_local(NFTA_FIB_F_DADDR)
}

/// `fib saddr type local`: the packet comes from an address of this host.
pub fn saddr_is_local() -> Vec<Expr> {
    const NFTA_FIB_F_SADDR: u32 = 1;
    fib_local(NFTA_FIB_F_SADDR)
}

fn fib_local(flags: u32) -> Vec<Expr> {
    const NFT_FIB_RESULT_ADDRTYPE: u32 = 3;
    const RTN_LOCAL: u32 = 2;
    vec![
        Expr::Fib {
            dreg: Reg::R1,
            result: NFT_FIB_RESULT_ADDRTYPE,
            flags,
        },
        cmp(CmpOp::Eq, RTN_LOCAL.to_ne_bytes().to_vec()),
    ]
}

/// The 4-byte register right after register 1's first word (`NFT_REG32_01`): where the
/// second part of a concatenation goes.
pub const REG32_1: Reg = Reg(9);
/// The third word of a concatenation (`NFT_REG32_02`).
pub const REG32_2: Reg = Reg(10);

fn load_l4proto(dreg: Reg) -> Expr {
    Expr::Meta {
        key: MetaKey::L4PROTO,
        dreg,
    }
}

fn load_th_dport(dreg: Reg) -> Expr {
    Expr::Payload {
        base: PayloadBase::Transport,
        offset: 2,
        len: 2,
        dreg,
    }
}

/// Loads `ip daddr . meta l4proto . th dport` into register 1: the key of a set of
/// `KeyType::concat(&[Ipv4Addr, InetProto, InetService])` (12 bytes).
pub fn load_daddr_l4proto_dport() -> Vec<Expr> {
    vec![
        load_addr(Dir::Destination, false),
        load_l4proto(REG32_1),
        load_th_dport(REG32_2),
    ]
}

/// Loads `meta l4proto . th dport` into register 1: the key of a set of
/// `KeyType::concat(&[InetProto, InetService])` (8 bytes).
pub fn load_l4proto_dport() -> Vec<Expr> {
    vec![load_l4proto(Reg::R1), load_th_dport(REG32_1)]
}

/// `reject with tcp reset` (only valid for TCP packets).
pub fn reject_tcp_reset() -> Expr {
    Expr::Reject {
        kind: reject::TCP_RST,
        icmp_code: 0,
    }
}

/// `reject` (ICMP port unreachable): a connecting client sees ECONNREFUSED.
pub fn reject_port_unreachable() -> Expr {
    Expr::Reject {
        kind: reject::ICMP_UNREACH,
        icmp_code: reject::ICMP_PORT_UNREACH,
    }
}

/// `update @SET { KEY }` with the key already in `key` (and map data in `data`).
pub fn dynset_update(set: &str, key: Reg, data: Option<Reg>) -> Expr {
    Expr::Dynset {
        set: set.to_string(),
        op: DynsetOp::Update,
        sreg_key: key,
        sreg_data: data,
        timeout_ms: None,
    }
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

/// IPv4 `dnat to` the address in `addr` and the port in `port` (as a map lookup with
/// `ipv4_addr . inet_service` data leaves them in register 1 and [`REG32_1`]).
pub fn dnat_from_registers(addr: Reg, port: Reg) -> Expr {
    Expr::Nat {
        kind: NatKind::Dnat,
        family: 2,
        addr_min: Some(addr),
        addr_max: None,
        proto_min: Some(port),
        proto_max: None,
        flags: nat_flags::MAP_IPS | nat_flags::PROTO_SPECIFIED,
    }
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
