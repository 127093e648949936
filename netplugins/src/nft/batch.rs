//! Batched nf_tables transactions.
//!
//! Contract: a [`Batch`] is an ordered list of object changes the kernel applies all-or-nothing
//! between `NFNL_MSG_BATCH_BEGIN` and `NFNL_MSG_BATCH_END`. Every change carries a description
//! naming its object, so a failure reports which object the kernel refused (the kernel reports
//! every refusal; only the last change asks for an ack, which tells the batch was processed
//! without one queued answer per message). Element lists are split over several messages so
//! no attribute exceeds netlink's 64 KiB. [`Batch::replace_table`] followed by adds is an atomic replace: packets
//! see either the old or the new ruleset, never an empty one.

use super::expr::Expr;
use super::objects::{Chain, ElemData, Element, Policy, Rule, Set, SetData, Table};
use super::wire::{self, AttrWriter};

/// One message of a batch, before sequence numbers are assigned.
#[derive(Debug, Clone)]
pub(crate) struct BatchMsg {
    pub msg: u16,
    pub flags: u16,
    pub family: u8,
    pub attrs: Vec<u8>,
    pub what: String,
    /// A rule's expressions, appended to `what` only when the kernel refuses it: formatting
    /// every rule up front cost more than encoding it.
    pub exprs: Option<Vec<Expr>>,
}

impl BatchMsg {
    /// What this message changes, for error reports.
    pub fn describe(&self) -> String {
        match &self.exprs {
            None => self.what.clone(),
            Some(exprs) => format!(
                "{} [{}]",
                self.what,
                exprs
                    .iter()
                    .map(Expr::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub(crate) msgs: Vec<BatchMsg>,
}

const CREATE: u16 = wire::NLM_F_CREATE;

impl Batch {
    /// Every message described on a line of its own ("add rule ip t c [expr; ...]"), for
    /// tests and error reports.
    pub fn describe(&self) -> String {
        self.msgs
            .iter()
            .map(BatchMsg::describe)
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn new() -> Batch {
        Batch::default()
    }

    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    fn push(&mut self, table: &Table, msg: u16, flags: u16, w: AttrWriter, what: String) {
        self.msgs.push(BatchMsg {
            msg,
            flags,
            family: table.family.code(),
            attrs: w.buf,
            what,
            exprs: None,
        });
    }

    fn table_name(table: &Table) -> String {
        format!("{} {}", table.family.name(), table.name)
    }

    /// Creates the table unless it exists.
    pub fn add_table(&mut self, table: &Table) -> &mut Self {
        let mut w = AttrWriter::new();
        w.str(wire::NFTA_TABLE_NAME, &table.name)
            .be32(wire::NFTA_TABLE_FLAGS, 0);
        let what = format!("add table {}", Self::table_name(table));
        self.push(table, wire::NFT_MSG_NEWTABLE, CREATE, w, what);
        self
    }

    /// Deletes the table with everything in it; fails when it does not exist.
    pub fn delete_table(&mut self, table: &Table) -> &mut Self {
        let mut w = AttrWriter::new();
        w.str(wire::NFTA_TABLE_NAME, &table.name);
        let what = format!("delete table {}", Self::table_name(table));
        self.push(table, wire::NFT_MSG_DELTABLE, 0, w, what);
        self
    }

    /// Empties the table by deleting it whether or not it exists, then recreates it: add the
    /// new content after this in the same batch for an atomic replace.
    pub fn replace_table(&mut self, table: &Table) -> &mut Self {
        // Creating first makes the delete valid on a fresh system, as `nft -f` scripts do.
        self.add_table(table).delete_table(table).add_table(table)
    }

    /// Creates the chain unless it exists (a base chain's policy is updated).
    pub fn add_chain(&mut self, table: &Table, chain: &Chain) -> &mut Self {
        let mut w = AttrWriter::new();
        w.str(wire::NFTA_CHAIN_TABLE, &table.name)
            .str(wire::NFTA_CHAIN_NAME, &chain.name);
        if let Some(b) = &chain.base {
            w.nest(wire::NFTA_CHAIN_HOOK, |h| {
                h.be32(wire::NFTA_HOOK_HOOKNUM, b.hook.code())
                    .be32(wire::NFTA_HOOK_PRIORITY, b.priority as u32);
            });
            w.be32(
                wire::NFTA_CHAIN_POLICY,
                if b.policy == Policy::Accept { 1 } else { 0 },
            );
            w.str(wire::NFTA_CHAIN_TYPE, b.kind.name());
        }
        let what = format!("add chain {} {}", Self::table_name(table), chain.name);
        self.push(table, wire::NFT_MSG_NEWCHAIN, CREATE, w, what);
        self
    }

    /// Deletes every rule of the chain.
    pub fn flush_chain(&mut self, table: &Table, chain: &str) -> &mut Self {
        let mut w = AttrWriter::new();
        w.str(wire::NFTA_RULE_TABLE, &table.name)
            .str(wire::NFTA_RULE_CHAIN, chain);
        let what = format!("flush chain {} {chain}", Self::table_name(table));
        self.push(table, wire::NFT_MSG_DELRULE, 0, w, what);
        self
    }

    /// Deletes an empty, unreferenced chain.
    pub fn delete_chain(&mut self, table: &Table, chain: &str) -> &mut Self {
        let mut w = AttrWriter::new();
        w.str(wire::NFTA_CHAIN_TABLE, &table.name)
            .str(wire::NFTA_CHAIN_NAME, chain);
        let what = format!("delete chain {} {chain}", Self::table_name(table));
        self.push(table, wire::NFT_MSG_DELCHAIN, 0, w, what);
        self
    }

    /// Appends a rule at the end of its chain.
    pub fn add_rule(&mut self, table: &Table, rule: &Rule) -> &mut Self {
        let mut w = AttrWriter::new();
        w.str(wire::NFTA_RULE_TABLE, &table.name)
            .str(wire::NFTA_RULE_CHAIN, &rule.chain);
        w.nest(wire::NFTA_RULE_EXPRESSIONS, |l| {
            for e in &rule.exprs {
                e.encode(l);
            }
        });
        let what = format!("add rule {} {}", Self::table_name(table), rule.chain);
        self.push(
            table,
            wire::NFT_MSG_NEWRULE,
            CREATE | wire::NLM_F_APPEND,
            w,
            what,
        );
        if let Some(m) = self.msgs.last_mut() {
            m.exprs = Some(rule.exprs.clone());
        }
        self
    }

    /// Deletes one rule by the handle a dump reported.
    pub fn delete_rule(&mut self, table: &Table, chain: &str, handle: u64) -> &mut Self {
        let mut w = AttrWriter::new();
        w.str(wire::NFTA_RULE_TABLE, &table.name)
            .str(wire::NFTA_RULE_CHAIN, chain)
            .be64(wire::NFTA_RULE_HANDLE, handle);
        let what = format!(
            "delete rule {} {chain} handle {handle}",
            Self::table_name(table)
        );
        self.push(table, wire::NFT_MSG_DELRULE, 0, w, what);
        self
    }

    /// Creates the set (or map) unless it exists, then adds its elements.
    pub fn add_set(&mut self, table: &Table, set: &Set) -> &mut Self {
        let mut w = AttrWriter::new();
        let mut flags = 0;
        if set.interval {
            flags |= wire::NFT_SET_INTERVAL;
        }
        if set.data.is_some() {
            flags |= wire::NFT_SET_MAP;
        }
        if set.timeout_ms.is_some() {
            flags |= wire::NFT_SET_TIMEOUT;
        }
        if set.dynamic {
            flags |= wire::NFT_SET_EVAL;
        }
        w.str(wire::NFTA_SET_TABLE, &table.name)
            .str(wire::NFTA_SET_NAME, &set.name)
            .be32(wire::NFTA_SET_FLAGS, flags)
            .be32(wire::NFTA_SET_KEY_TYPE, set.key.type_id())
            .be32(wire::NFTA_SET_KEY_LEN, set.key.byte_len());
        match set.data {
            Some(SetData::Verdict) => {
                w.be32(wire::NFTA_SET_DATA_TYPE, wire::NFT_DATA_VERDICT);
            }
            Some(SetData::Value(k)) => {
                w.be32(wire::NFTA_SET_DATA_TYPE, k.type_id())
                    .be32(wire::NFTA_SET_DATA_LEN, k.byte_len());
            }
            None => {}
        }
        if let Some(t) = set.timeout_ms {
            w.be64(wire::NFTA_SET_TIMEOUT, t);
        }
        if let Some(n) = set.max_size {
            w.nest(wire::NFTA_SET_DESC, |d| {
                d.be32(wire::NFTA_SET_DESC_SIZE, n);
            });
        }
        w.be32(wire::NFTA_SET_ID, self.msgs.len() as u32 + 1);
        let what = format!("add set {} {}", Self::table_name(table), set.name);
        self.push(table, wire::NFT_MSG_NEWSET, CREATE, w, what);
        if !set.elements.is_empty() {
            self.add_elements(table, &set.name, &set.elements);
        }
        self
    }

    /// Deletes a set that no rule references any more.
    pub fn delete_set(&mut self, table: &Table, set: &str) -> &mut Self {
        let mut w = AttrWriter::new();
        w.str(wire::NFTA_SET_TABLE, &table.name)
            .str(wire::NFTA_SET_NAME, set);
        let what = format!("delete set {} {set}", Self::table_name(table));
        self.push(table, wire::NFT_MSG_DELSET, 0, w, what);
        self
    }

    /// Deletes every element of the set.
    pub fn flush_set(&mut self, table: &Table, set: &str) -> &mut Self {
        let mut w = AttrWriter::new();
        w.str(wire::NFTA_SET_ELEM_LIST_TABLE, &table.name)
            .str(wire::NFTA_SET_ELEM_LIST_SET, set);
        let what = format!("flush set {} {set}", Self::table_name(table));
        self.push(table, wire::NFT_MSG_DELSETELEM, 0, w, what);
        self
    }

    pub fn add_elements(&mut self, table: &Table, set: &str, elements: &[Element]) -> &mut Self {
        for w in Self::elements(table, set, elements) {
            let what = format!("add elements to set {} {set}", Self::table_name(table));
            self.push(table, wire::NFT_MSG_NEWSETELEM, CREATE, w, what);
        }
        self
    }

    pub fn delete_elements(&mut self, table: &Table, set: &str, elements: &[Element]) -> &mut Self {
        for w in Self::elements(table, set, elements) {
            let what = format!("delete elements from set {} {set}", Self::table_name(table));
            self.push(table, wire::NFT_MSG_DELSETELEM, 0, w, what);
        }
        self
    }

    /// The number of messages (changes) in the batch.
    pub fn len(&self) -> usize {
        self.msgs.len()
    }

    /// The size of [`Batch::encode`]'s output, without encoding.
    pub fn encoded_len(&self) -> usize {
        // nlmsghdr + nfgenmsg per message, BEGIN and END included.
        const HDR: usize = 16 + 4;
        HDR * 2 + self.msgs.iter().map(|m| HDR + m.attrs.len()).sum::<usize>()
    }

    /// One attribute set per message: an element list nest holds at most 64 KiB.
    fn elements(table: &Table, set: &str, elements: &[Element]) -> Vec<AttrWriter> {
        // Room for the nest header and one more element of any realistic size.
        const CHUNK_BYTES: usize = 60_000;
        let mut out = Vec::new();
        let mut rest = elements;
        loop {
            let mut used = 0;
            let mut n = 0;
            for e in rest {
                // key and data values, their nests, the element nest and an interval end.
                let size = 2 * e.key.len() + 48 + data_size(e.data.as_ref());
                if n > 0 && used + size > CHUNK_BYTES {
                    break;
                }
                used += size;
                n += 1;
            }
            let (chunk, tail) = rest.split_at(n);
            out.push(Self::element_chunk(table, set, chunk));
            rest = tail;
            if rest.is_empty() {
                return out;
            }
        }
    }

    fn element_chunk(table: &Table, set: &str, elements: &[Element]) -> AttrWriter {
        let mut w = AttrWriter::new();
        w.str(wire::NFTA_SET_ELEM_LIST_TABLE, &table.name)
            .str(wire::NFTA_SET_ELEM_LIST_SET, set);
        w.nest(wire::NFTA_SET_ELEM_LIST_ELEMENTS, |l| {
            for e in elements {
                l.nest(wire::NFTA_LIST_ELEM, |el| {
                    el.nest(wire::NFTA_SET_ELEM_KEY, |k| {
                        k.bytes(wire::NFTA_DATA_VALUE, &e.key);
                    });
                    match &e.data {
                        Some(ElemData::Value(v)) => {
                            el.nest(wire::NFTA_SET_ELEM_DATA, |d| {
                                d.bytes(wire::NFTA_DATA_VALUE, v);
                            });
                        }
                        Some(ElemData::Verdict(v)) => {
                            el.nest(wire::NFTA_SET_ELEM_DATA, |d| v.encode(d));
                        }
                        None => {}
                    }
                });
                // The rbtree backend stores a range as a start element and an end element
                // whose key is one past the inclusive end; a range to the top stays open.
                if let Some(end) = e.key_end.as_ref().and_then(|k| increment(k)) {
                    l.nest(wire::NFTA_LIST_ELEM, |el| {
                        el.nest(wire::NFTA_SET_ELEM_KEY, |k| {
                            k.bytes(wire::NFTA_DATA_VALUE, &end);
                        });
                        el.be32(wire::NFTA_SET_ELEM_FLAGS, wire::NFT_SET_ELEM_INTERVAL_END);
                    });
                }
            }
        });
        w
    }

    /// The wire bytes with sequence numbers `first_seq..`; BEGIN and END take the outer ones.
    pub fn encode(&self, first_seq: u32) -> Vec<u8> {
        let mut out = wire::message(
            wire::NFNL_MSG_BATCH_BEGIN,
            wire::NLM_F_REQUEST,
            first_seq,
            0,
            wire::NFNL_SUBSYS_NFTABLES,
            &[],
        );
        let last = self.msgs.len().saturating_sub(1);
        for (i, m) in self.msgs.iter().enumerate() {
            // Errors are reported whatever the flags; one ack at the end says "all processed"
            // without thousands of queued acks overflowing the receive buffer.
            let ack = if i == last { wire::NLM_F_ACK } else { 0 };
            out.extend(wire::message(
                wire::nft_type(m.msg),
                wire::NLM_F_REQUEST | ack | m.flags,
                first_seq + 1 + i as u32,
                m.family,
                0,
                &m.attrs,
            ));
        }
        out.extend(wire::message(
            wire::NFNL_MSG_BATCH_END,
            wire::NLM_F_REQUEST,
            first_seq + 1 + self.msgs.len() as u32,
            0,
            wire::NFNL_SUBSYS_NFTABLES,
            &[],
        ));
        out
    }
}

/// An upper bound of the encoded size of an element's data.
fn data_size(d: Option<&ElemData>) -> usize {
    use super::expr::Verdict;
    match d {
        None => 0,
        Some(ElemData::Value(v)) => v.len() + 16,
        Some(ElemData::Verdict(Verdict::Jump(c) | Verdict::Goto(c))) => c.len() + 40,
        Some(ElemData::Verdict(_)) => 24,
    }
}

/// Big-endian +1; `None` on overflow.
fn increment(key: &[u8]) -> Option<Vec<u8>> {
    let mut k = key.to_vec();
    for b in k.iter_mut().rev() {
        if *b == 0xff {
            *b = 0;
        } else {
            *b += 1;
            return Some(k);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nft::objects::{Family, KeyType};

    /// Golden bytes from nfnetlink.h / nf_tables.h: BEGIN, NEWTABLE "t" (family ip), END.
    #[test]
    fn table_batch_encodes_to_golden_bytes() {
        let mut b = Batch::new();
        b.add_table(&Table::new(Family::Ip, "t"));
        let bytes = b.encode(7);
        #[rustfmt::skip]
        let want: Vec<u8> = [
            // BATCH_BEGIN: len 20, type 0x10, flags REQUEST, seq 7, pid 0, AF_UNSPEC, v0, res_id 10 (be)
            [20u8, 0, 0, 0, 0x10, 0, 1, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10].as_slice(),
            // NEWTABLE: len 36, type 0x0a00, flags REQUEST|ACK|CREATE = 0x405, seq 8, family ip (2)
            &[36, 0, 0, 0, 0x00, 0x0a, 0x05, 0x04, 8, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0],
            &[6, 0, 1, 0], b"t\0", &[0, 0],          // NFTA_TABLE_NAME
            &[8, 0, 2, 0], &[0, 0, 0, 0],            // NFTA_TABLE_FLAGS
            // BATCH_END: type 0x11, seq 9
            &[20, 0, 0, 0, 0x11, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10],
        ]
        .concat();
        assert_eq!(bytes, want);
    }

    #[test]
    fn base_chain_carries_hook_priority_policy_and_type() {
        let t = Table::new(Family::Ip, "kedge");
        let mut b = Batch::new();
        b.add_chain(
            &t,
            &Chain::base(
                "pre",
                super::super::objects::ChainType::Nat,
                super::super::objects::Hook::Prerouting,
                -100,
                Policy::Accept,
            ),
        );
        let attrs = wire::parse_attrs(&b.msgs[0].attrs);
        let hook = wire::find(&attrs, wire::NFTA_CHAIN_HOOK).unwrap().nested();
        assert_eq!(
            wire::find(&hook, wire::NFTA_HOOK_HOOKNUM).unwrap().be32(),
            0
        );
        assert_eq!(
            wire::find(&hook, wire::NFTA_HOOK_PRIORITY).unwrap().be32() as i32,
            -100
        );
        assert_eq!(
            wire::find(&attrs, wire::NFTA_CHAIN_POLICY).unwrap().be32(),
            1
        );
        assert_eq!(
            wire::find(&attrs, wire::NFTA_CHAIN_TYPE).unwrap().string(),
            "nat"
        );
    }

    #[test]
    fn interval_elements_get_an_exclusive_end_element() {
        let t = Table::new(Family::Ip, "kedge");
        let mut b = Batch::new();
        let net = "10.1.0.0/16".parse().unwrap();
        b.add_set(
            &t,
            &Set::new("nets", KeyType::Ipv4Addr)
                .interval()
                .with_elements(vec![Element::network(net)]),
        );
        assert_eq!(b.msgs.len(), 2);
        let attrs = wire::parse_attrs(&b.msgs[1].attrs);
        let elems = wire::find(&attrs, wire::NFTA_SET_ELEM_LIST_ELEMENTS)
            .unwrap()
            .nested();
        assert_eq!(elems.len(), 2);
        let end = elems[1].nested();
        let key = wire::find(&end, wire::NFTA_SET_ELEM_KEY).unwrap().nested();
        assert_eq!(key[0].data, &[10, 2, 0, 0]);
        assert_eq!(
            wire::find(&end, wire::NFTA_SET_ELEM_FLAGS).unwrap().be32(),
            1
        );
    }

    #[test]
    fn large_element_lists_are_split_and_only_the_last_change_asks_for_an_ack() {
        let t = Table::new(Family::Ip, "kedge");
        let mut b = Batch::new();
        let elems: Vec<Element> = (0..5000u32)
            .map(|i| Element::new(i.to_be_bytes().to_vec()).to_value(vec![0; 8]))
            .collect();
        b.add_set(
            &t,
            &Set::map(
                "m",
                KeyType::Mark,
                SetData::Value(KeyType::Raw { type_id: 0, len: 8 }),
            )
            .with_elements(elems),
        );
        assert!(b.len() > 2, "{}", b.len());
        let mut total = 0;
        for m in &b.msgs[1..] {
            let attrs = wire::parse_attrs(&m.attrs);
            let list = wire::find(&attrs, wire::NFTA_SET_ELEM_LIST_ELEMENTS).unwrap();
            assert!(list.data.len() < 65_000);
            total += list.nested().len();
        }
        assert_eq!(total, 5000);
        let bytes = b.encode(1);
        assert_eq!(bytes.len(), b.encoded_len());
        let msgs = wire::parse_messages(&bytes);
        let acked: Vec<usize> = msgs
            .iter()
            .enumerate()
            .filter(|(_, m)| m.flags & wire::NLM_F_ACK != 0)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(acked, vec![msgs.len() - 2]);
    }

    #[test]
    fn increment_carries_and_overflows() {
        assert_eq!(increment(&[0, 0xff]), Some(vec![1, 0]));
        assert_eq!(increment(&[0xff, 0xff]), None);
    }
}
