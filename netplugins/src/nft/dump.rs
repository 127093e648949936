//! Reading a table back from the kernel as typed objects and as normalized text.
//!
//! Contract: [`Nft::ruleset`] returns `None` when the table does not exist. The text form
//! ([`Ruleset`]'s `Display`) lists chains and sets sorted by name, rules in chain order and
//! elements sorted, with no handles and no counter values, so two dumps of equal rulesets
//! are equal strings (used to check that a restart reproduces the same rules).

use std::fmt;

use super::expr::{hex, Expr, Verdict};
use super::objects::{
    BaseChain, Chain, ChainType, ElemData, Element, Hook, KeyType, Policy, SetData, Table,
};
use super::socket::Nft;
use super::wire::{self, find, AttrWriter};
use super::NftError;

/// A rule as dumped, with the handle needed to delete it alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpedRule {
    pub handle: u64,
    pub exprs: Vec<Expr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpedChain {
    pub chain: Chain,
    pub rules: Vec<DumpedRule>,
}

/// A set as dumped; interval sets list start and end elements as the kernel stores them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpedSet {
    pub name: String,
    pub flags: u32,
    pub key: KeyType,
    pub data: Option<SetData>,
    /// (element, is an interval end)
    pub elements: Vec<(Element, bool)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ruleset {
    pub table: Table,
    pub chains: Vec<DumpedChain>,
    pub sets: Vec<DumpedSet>,
}

impl Nft {
    /// Dumps one table; `None` when it does not exist.
    pub fn ruleset(&self, table: &Table) -> Result<Option<Ruleset>, NftError> {
        let fam = table.family.code();
        let mut w = AttrWriter::new();
        w.str(wire::NFTA_TABLE_NAME, &table.name);
        if self
            .request(wire::NFT_MSG_GETTABLE, fam, false, &w.buf)?
            .is_none()
        {
            return Ok(None);
        }

        let mut chains = Vec::new();
        for p in self
            .request(wire::NFT_MSG_GETCHAIN, fam, true, &[])?
            .unwrap_or_default()
        {
            let a = wire::parse_attrs(&p);
            if find(&a, wire::NFTA_CHAIN_TABLE).map(|t| t.string()) != Some(table.name.clone()) {
                continue;
            }
            let name = find(&a, wire::NFTA_CHAIN_NAME)
                .map(|t| t.string())
                .unwrap_or_default();
            let base = find(&a, wire::NFTA_CHAIN_HOOK).and_then(|h| {
                let h = h.nested();
                Some(BaseChain {
                    kind: ChainType::from_name(&find(&a, wire::NFTA_CHAIN_TYPE)?.string()),
                    hook: Hook::from_code(find(&h, wire::NFTA_HOOK_HOOKNUM)?.be32())?,
                    priority: find(&h, wire::NFTA_HOOK_PRIORITY)?.be32() as i32,
                    policy: match find(&a, wire::NFTA_CHAIN_POLICY).map(|p| p.be32()) {
                        Some(0) => Policy::Drop,
                        _ => Policy::Accept,
                    },
                })
            });
            chains.push(DumpedChain {
                chain: Chain { name, base },
                rules: Vec::new(),
            });
        }
        chains.sort_by(|a, b| a.chain.name.cmp(&b.chain.name));

        let mut w = AttrWriter::new();
        w.str(wire::NFTA_RULE_TABLE, &table.name);
        for p in self
            .request(wire::NFT_MSG_GETRULE, fam, true, &w.buf)?
            .unwrap_or_default()
        {
            let a = wire::parse_attrs(&p);
            if find(&a, wire::NFTA_RULE_TABLE).map(|t| t.string()) != Some(table.name.clone()) {
                continue;
            }
            let chain = find(&a, wire::NFTA_RULE_CHAIN)
                .map(|t| t.string())
                .unwrap_or_default();
            let exprs = find(&a, wire::NFTA_RULE_EXPRESSIONS)
                .map(|l| {
                    l.nested()
                        .iter()
                        .map(|e| Expr::decode(&e.nested()))
                        .collect()
                })
                .unwrap_or_default();
            let handle = find(&a, wire::NFTA_RULE_HANDLE)
                .map(|h| h.be64())
                .unwrap_or(0);
            if let Some(c) = chains.iter_mut().find(|c| c.chain.name == chain) {
                c.rules.push(DumpedRule { handle, exprs });
            }
        }

        let mut sets = Vec::new();
        let mut w = AttrWriter::new();
        w.str(wire::NFTA_SET_TABLE, &table.name);
        for p in self
            .request(wire::NFT_MSG_GETSET, fam, true, &w.buf)?
            .unwrap_or_default()
        {
            let a = wire::parse_attrs(&p);
            if find(&a, wire::NFTA_SET_TABLE).map(|t| t.string()) != Some(table.name.clone()) {
                continue;
            }
            let u = |k| find(&a, k).map(|x| x.be32()).unwrap_or(0);
            let data = find(&a, wire::NFTA_SET_DATA_TYPE).map(|d| match d.be32() {
                wire::NFT_DATA_VERDICT => SetData::Verdict,
                t => SetData::Value(KeyType::from_parts(t, u(wire::NFTA_SET_DATA_LEN))),
            });
            let name = find(&a, wire::NFTA_SET_NAME)
                .map(|t| t.string())
                .unwrap_or_default();
            let elements = self.elements(table, &name)?;
            sets.push(DumpedSet {
                flags: u(wire::NFTA_SET_FLAGS),
                key: KeyType::from_parts(u(wire::NFTA_SET_KEY_TYPE), u(wire::NFTA_SET_KEY_LEN)),
                data,
                name,
                elements,
            });
        }
        sets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Some(Ruleset {
            table: table.clone(),
            chains,
            sets,
        }))
    }

    /// The set's elements, sorted. A dump of a large hash set spans several reads, and the
    /// kernel walks its hash table afresh for each: while the table is still being resized
    /// after a big insert, a walk can skip or repeat elements. So the dump is repeated until
    /// two in a row agree (seen here with 20,000 elements; sets of a few hundred never differ).
    fn elements(&self, table: &Table, set: &str) -> Result<Vec<(Element, bool)>, NftError> {
        let mut last = self.elements_once(table, set)?;
        for _ in 0..8 {
            let again = self.elements_once(table, set)?;
            if again == last {
                break;
            }
            last = again;
        }
        Ok(last)
    }

    fn elements_once(&self, table: &Table, set: &str) -> Result<Vec<(Element, bool)>, NftError> {
        let mut w = AttrWriter::new();
        w.str(wire::NFTA_SET_ELEM_LIST_TABLE, &table.name)
            .str(wire::NFTA_SET_ELEM_LIST_SET, set);
        let replies = self
            .request(wire::NFT_MSG_GETSETELEM, table.family.code(), true, &w.buf)?
            .unwrap_or_default();
        let mut out = Vec::new();
        for p in replies {
            let a = wire::parse_attrs(&p);
            let Some(list) = find(&a, wire::NFTA_SET_ELEM_LIST_ELEMENTS) else {
                continue;
            };
            for e in list.nested() {
                let e = e.nested();
                let key = find(&e, wire::NFTA_SET_ELEM_KEY)
                    .and_then(|k| find(&k.nested(), wire::NFTA_DATA_VALUE).map(|v| v.data.to_vec()))
                    .unwrap_or_default();
                let data = find(&e, wire::NFTA_SET_ELEM_DATA).map(|d| {
                    let d = d.nested();
                    match find(&d, wire::NFTA_DATA_VERDICT) {
                        Some(v) => ElemData::Verdict(Verdict::decode(&v.nested())),
                        None => ElemData::Value(
                            find(&d, wire::NFTA_DATA_VALUE)
                                .map(|v| v.data.to_vec())
                                .unwrap_or_default(),
                        ),
                    }
                });
                let end = find(&e, wire::NFTA_SET_ELEM_FLAGS)
                    .is_some_and(|f| f.be32() & wire::NFT_SET_ELEM_INTERVAL_END != 0);
                out.push((
                    Element {
                        key,
                        key_end: None,
                        data,
                    },
                    end,
                ));
            }
        }
        out.sort_by(|a, b| (&a.0.key, a.1).cmp(&(&b.0.key, b.1)));
        Ok(out)
    }

    /// The normalized text of a table, `None` when it does not exist.
    pub fn list_ruleset(&self, table: &Table) -> Result<Option<String>, NftError> {
        Ok(self.ruleset(table)?.map(|r| r.to_string()))
    }
}

impl fmt::Display for Ruleset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "table {} {}", self.table.family.name(), self.table.name)?;
        for c in &self.chains {
            write!(f, "chain {}", c.chain.name)?;
            if let Some(b) = &c.chain.base {
                write!(
                    f,
                    " type {} hook {} priority {} policy {}",
                    b.kind.name(),
                    b.hook.name(),
                    b.priority,
                    if b.policy == Policy::Accept {
                        "accept"
                    } else {
                        "drop"
                    }
                )?;
            }
            writeln!(f)?;
            for r in &c.rules {
                let parts: Vec<String> = r.exprs.iter().map(|e| format!("[ {e} ]")).collect();
                writeln!(f, "  rule {}", parts.join(" "))?;
            }
        }
        for s in &self.sets {
            write!(f, "set {} flags 0x{:x} key {:?}", s.name, s.flags, s.key)?;
            match &s.data {
                Some(SetData::Verdict) => write!(f, " data verdict")?,
                Some(SetData::Value(k)) => write!(f, " data {k:?}")?,
                None => {}
            }
            writeln!(f)?;
            for (e, end) in &s.elements {
                write!(f, "  elem {}", hex(&e.key))?;
                if *end {
                    write!(f, " end")?;
                }
                match &e.data {
                    Some(ElemData::Verdict(v)) => write!(f, " : {v}")?,
                    Some(ElemData::Value(v)) => write!(f, " : {}", hex(v))?,
                    None => {}
                }
                writeln!(f)?;
            }
        }
        Ok(())
    }
}
