//! The nf_tables pieces kedge's service proxy needs, against the kernel in a throwaway
//! network namespace: reject, dynset into a dynamic timeout map, concatenated keys, maps with
//! concatenated data feeding dnat, and batches far larger than one netlink buffer.

mod common;

use kedge_netplugins::nft::matchers::{self as m, REG32_1};
use kedge_netplugins::nft::{
    Batch, Chain, ChainType, Element, Expr, Family, Hook, KeyType, Nft, NumgenKind, PayloadBase,
    Policy, Reg, Rule, Set, SetData, Table, Verdict,
};

fn service_table(b: &mut Batch, t: &Table, endpoints: u32) {
    let vip = KeyType::concat(&[KeyType::Ipv4Addr, KeyType::InetProto, KeyType::InetService]);
    let ipport = KeyType::concat(&[KeyType::Ipv4Addr, KeyType::InetService]);
    b.replace_table(t);
    b.add_set(t, &Set::map("vips", vip, SetData::Verdict));
    b.add_set(t, &Set::map("eps", KeyType::Mark, SetData::Value(ipport)));
    b.add_set(
        t,
        &Set::map("aff", KeyType::Ipv4Addr, SetData::Value(ipport)).dynamic(60_000),
    );
    b.add_set(t, &Set::new("noep", vip));
    b.add_chain(
        t,
        &Chain::base(
            "pre",
            ChainType::Nat,
            Hook::Prerouting,
            -100,
            Policy::Accept,
        ),
    );
    b.add_chain(
        t,
        &Chain::base("in", ChainType::Filter, Hook::Input, 0, Policy::Accept),
    );
    b.add_chain(t, &Chain::regular("svc"));
    let mut r = m::load_daddr_l4proto_dport();
    r.push(m::vmap("vips"));
    b.add_rule(t, &Rule::new("pre", r));
    let dnat = m::dnat_from_registers(Reg::R1, REG32_1);
    let saddr = Expr::Payload {
        base: PayloadBase::Network,
        offset: 12,
        len: 4,
        dreg: Reg::R2,
    };
    b.add_rule(
        t,
        &Rule::new(
            "svc",
            vec![
                saddr.clone(),
                Expr::Lookup {
                    set: "aff".into(),
                    sreg: Reg::R2,
                    dreg: Some(Reg::R1),
                    invert: false,
                },
                m::dynset_update("aff", Reg::R2, Some(Reg::R1)),
                dnat.clone(),
            ],
        ),
    );
    b.add_rule(
        t,
        &Rule::new(
            "svc",
            vec![
                Expr::Numgen {
                    dreg: Reg::R1,
                    modulus: endpoints,
                    kind: NumgenKind::Random,
                    offset: 0,
                },
                Expr::Lookup {
                    set: "eps".into(),
                    sreg: Reg::R1,
                    dreg: Some(Reg::R1),
                    invert: false,
                },
                saddr,
                m::dynset_update("aff", Reg::R2, Some(Reg::R1)),
                dnat,
            ],
        ),
    );
    let mut r = m::load_daddr_l4proto_dport();
    r.push(m::lookup("noep", false));
    r.extend(m::l4proto(m::TCP));
    r.push(m::reject_tcp_reset());
    b.add_rule(t, &Rule::new("in", r));
    let mut r = m::saddr_is_local();
    r.push(m::reject_port_unreachable());
    b.add_rule(t, &Rule::new("in", r));
    let key = |i: u32| {
        Element::concat(&[
            &[10, 43, (i >> 8) as u8, i as u8],
            &[m::TCP],
            &80u16.to_be_bytes(),
        ])
    };
    b.add_elements(
        t,
        "vips",
        &(0..endpoints)
            .map(|i| Element::new(key(i)).to_verdict(Verdict::Goto("svc".into())))
            .collect::<Vec<_>>(),
    );
    b.add_elements(
        t,
        "eps",
        &(0..endpoints)
            .map(|i| {
                Element::new(m::numgen_key(i)).to_value(Element::concat(&[
                    &[10, 42, (i >> 8) as u8, i as u8],
                    &8080u16.to_be_bytes(),
                ]))
            })
            .collect::<Vec<_>>(),
    );
    b.add_elements(t, "noep", &[Element::new(key(60_000))]);
}

#[test]
fn service_expressions_and_large_batches_round_trip_through_the_kernel() {
    common::in_fresh_netns("nft services kernel test", || {
        let nft = Nft::open().expect("open");
        let t = Table::new(Family::Ip, "kedgetest-services");
        let mut b = Batch::new();
        // 20,000 elements: several element messages and a batch far above 200 KiB.
        service_table(&mut b, &t, 20_000);
        assert!(b.encoded_len() > 1 << 20, "{}", b.encoded_len());
        nft.apply(&b).expect("apply");
        let first = nft.list_ruleset(&t).unwrap().expect("table");
        assert!(first.contains("reject type 1"), "reject tcp reset");
        assert!(first.contains("reject type 0 code 3"), "reject icmp");
        assert!(
            first.contains("dynset update reg_key 2 set aff sreg_data 1"),
            "dynset"
        );
        let rs = nft.ruleset(&t).unwrap().unwrap();
        let aff = rs.sets.iter().find(|s| s.name == "aff").unwrap();
        assert_eq!(aff.flags & 0x38, 0x38, "map, timeout and dynamic flags");
        let eps = rs.sets.iter().find(|s| s.name == "eps").unwrap();
        assert_eq!(eps.elements.len(), 20_000);
        let vips = rs.sets.iter().find(|s| s.name == "vips").unwrap();
        assert_eq!(
            vips.key,
            KeyType::concat(&[KeyType::Ipv4Addr, KeyType::InetProto, KeyType::InetService])
        );
        assert_eq!(
            vips.elements[0].0.key,
            vec![10, 43, 0, 0, 6, 0, 0, 0, 0, 80, 0, 0]
        );

        // Replacing it again gives the same table.
        let mut b = Batch::new();
        service_table(&mut b, &t, 20_000);
        nft.apply(&b).expect("reapply");
        assert_eq!(nft.list_ruleset(&t).unwrap().unwrap(), first);

        // An error deep inside a large batch is still reported, and changes nothing.
        let mut b = Batch::new();
        service_table(&mut b, &t, 20_000);
        b.add_rule(&t, &Rule::new("svc", vec![m::lookup("nosuchset", false)]));
        b.add_rule(&t, &Rule::new("svc", vec![m::verdict(Verdict::Accept)]));
        let err = nft.apply(&b).unwrap_err().to_string();
        assert!(err.contains("add rule ip kedgetest-services svc"), "{err}");
        assert_eq!(nft.list_ruleset(&t).unwrap().unwrap(), first);
        // The socket is still in step after the failure.
        let mut b = Batch::new();
        b.delete_table(&t);
        nft.apply(&b).unwrap();
        assert_eq!(nft.list_ruleset(&t).unwrap(), None);
    });
}
