//! nf_tables over netlink, without the `nft` binary or C libraries.
//!
//! Contract: build [`Table`], [`Chain`], [`Rule`] (a list of typed [`Expr`], usually assembled
//! from [`matchers`]) and [`Set`] values, put the changes in a [`Batch`] and [`Nft::apply`] it:
//! the kernel applies the batch all-or-nothing. `Batch::replace_table` + adds gives an atomic
//! replace of a whole table. [`Nft::ruleset`] / [`Nft::list_ruleset`] read a table back,
//! typed or as normalized text. An [`Nft`] socket acts in the network namespace of the thread
//! that opened it.

mod batch;
mod dump;
pub mod expr;
pub mod matchers;
mod objects;
mod socket;
mod wire;

use std::io;

pub use batch::Batch;
pub use dump::{DumpedChain, DumpedRule, DumpedSet, Ruleset};
pub use expr::{
    CmpOp, CtKey, DynsetOp, Expr, MetaKey, NatKind, NumgenKind, PayloadBase, Reg, Verdict,
};
pub use objects::{
    BaseChain, Chain, ChainType, ElemData, Element, Family, Hook, KeyType, Policy, Rule, Set,
    SetData, Table,
};
pub use socket::Nft;

#[derive(Debug, thiserror::Error)]
pub enum NftError {
    #[error("opening the nfnetlink socket")]
    Socket(#[source] io::Error),
    #[error("sending to nfnetlink")]
    Send(#[source] io::Error),
    #[error("receiving from nfnetlink")]
    Recv(#[source] io::Error),
    #[error("{what}{detail}: {source}")]
    Kernel {
        what: String,
        detail: String,
        #[source]
        source: io::Error,
    },
}
