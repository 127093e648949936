//! nf_tables against the kernel, inside a throwaway network namespace.

mod common;

use kedge_netplugins::nft::expr::{ct_state, ct_status};
use kedge_netplugins::nft::matchers::{self as m, Dir, TCP, UDP};
use kedge_netplugins::nft::{
    Batch, Chain, ChainType, CmpOp, Element, Family, Hook, KeyType, Nft, Policy, Rule, Set,
    SetData, Table, Verdict,
};

fn full_table(b: &mut Batch, t: &Table) {
    b.replace_table(t);
    b.add_chain(
        t,
        &Chain::base(
            "prerouting",
            ChainType::Nat,
            Hook::Prerouting,
            -100,
            Policy::Accept,
        ),
    );
    b.add_chain(
        t,
        &Chain::base(
            "postrouting",
            ChainType::Nat,
            Hook::Postrouting,
            100,
            Policy::Accept,
        ),
    );
    b.add_chain(
        t,
        &Chain::base("forward", ChainType::Filter, Hook::Forward, 0, Policy::Drop),
    );
    b.add_chain(t, &Chain::regular("svc"));
    b.add_chain(t, &Chain::regular("ep0"));
    b.add_chain(t, &Chain::regular("ep1"));
    b.add_set(
        t,
        &Set::new("nets", KeyType::Ipv4Addr)
            .interval()
            .with_elements(vec![Element::network("10.9.0.0/16".parse().unwrap())]),
    );
    b.add_set(
        t,
        &Set::map("ports", KeyType::InetService, SetData::Verdict).with_elements(vec![
            Element::port(80).to_verdict(Verdict::Jump("svc".into())),
        ]),
    );
    b.add_set(
        t,
        &Set::map("eps", KeyType::Raw { type_id: 0, len: 4 }, SetData::Verdict).with_elements(
            vec![
                Element::new(m::numgen_key(0)).to_verdict(Verdict::Goto("ep0".into())),
                Element::new(m::numgen_key(1)).to_verdict(Verdict::Goto("ep1".into())),
            ],
        ),
    );
    let mut r = m::iifname("kedge0", CmpOp::Eq);
    r.extend(m::addr(
        Dir::Source,
        "10.8.0.0/16".parse().unwrap(),
        CmpOp::Eq,
    ));
    r.extend(m::dport(TCP, 8080));
    r.push(m::counter());
    r.extend(m::dnat("10.8.0.5".parse().unwrap(), Some(80)));
    b.add_rule(t, &Rule::new("prerouting", r));
    let mut r = vec![
        m::load_addr(Dir::Destination, false),
        m::lookup("nets", false),
    ];
    r.extend(m::l4proto(UDP));
    r.push(m::verdict(Verdict::Jump("svc".into())));
    b.add_rule(t, &Rule::new("prerouting", r));
    b.add_rule(t, &Rule::new("svc", m::numgen_vmap(2, "eps")));
    b.add_rule(
        t,
        &Rule::new("ep0", m::dnat("10.8.0.6".parse().unwrap(), None)),
    );
    b.add_rule(t, &Rule::new("ep1", vec![m::verdict(Verdict::Return)]));
    let mut r = m::oifname("eth0", CmpOp::Neq);
    r.extend(m::mark(0x4000, CmpOp::Eq));
    r.extend(m::ct_status(ct_status::DST_NAT));
    r.extend(m::masquerade(true));
    b.add_rule(t, &Rule::new("postrouting", r));
    b.add_rule(
        t,
        &Rule::new(
            "postrouting",
            m::snat("192.168.1.1".parse().unwrap(), Some(1000)),
        ),
    );
    let mut r = m::ct_state(ct_state::ESTABLISHED | ct_state::RELATED);
    r.push(m::verdict(Verdict::Accept));
    b.add_rule(t, &Rule::new("forward", r));
    let mut r = m::mark_or(0x4000);
    r.extend(m::daddr_is_local());
    r.push(m::verdict(Verdict::Drop));
    b.add_rule(t, &Rule::new("forward", r));
}

#[test]
fn batch_creates_dumps_and_atomically_replaces_a_table() {
    common::in_fresh_netns("nft kernel test", || {
        let nft = Nft::open().expect("open");
        let t = Table::new(Family::Ip, "kedgetest");
        assert_eq!(nft.list_ruleset(&t).unwrap(), None);
        let mut b = Batch::new();
        full_table(&mut b, &t);
        nft.apply(&b).expect("apply");
        let first = nft.list_ruleset(&t).unwrap().expect("table exists");
        println!("{first}");
        assert!(
            first.contains("chain postrouting type nat hook postrouting priority 100"),
            "{first}"
        );
        assert!(first.contains("masq flags 0x10"), "{first}");
        assert!(first.contains("numgen reg 1 = random mod 2"), "{first}");
        assert!(first.contains(": goto ep0"), "{first}");
        assert!(first.contains("elem 0x0a0a0000 end"), "{first}");
        let rs = nft.ruleset(&t).unwrap().unwrap();
        assert_eq!(
            rs.chains
                .iter()
                .find(|c| c.chain.name == "prerouting")
                .unwrap()
                .rules
                .len(),
            2
        );

        // Same content again through replace: identical dump, no duplicate rules.
        let mut b = Batch::new();
        full_table(&mut b, &t);
        nft.apply(&b).expect("reapply");
        assert_eq!(nft.list_ruleset(&t).unwrap().unwrap(), first);

        // A failing batch changes nothing and names the object.
        let mut b = Batch::new();
        b.flush_chain(&t, "svc");
        b.add_rule(&t, &Rule::new("nochain", vec![m::verdict(Verdict::Accept)]));
        let err = nft.apply(&b).unwrap_err().to_string();
        assert!(err.contains("add rule ip kedgetest nochain"), "{err}");
        assert_eq!(nft.list_ruleset(&t).unwrap().unwrap(), first);

        let mut b = Batch::new();
        b.delete_table(&t);
        nft.apply(&b).unwrap();
        assert_eq!(nft.list_ruleset(&t).unwrap(), None);
    });
}
