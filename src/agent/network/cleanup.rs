//! `kedge agent --cleanup` and the node network dump.
//!
//! Contract: [`cleanup`] removes everything the agent put into the node's network namespace
//! for the cluster network: the Service and NetworkPolicy tables, the bridge's table, routes
//! to other nodes and the `kedge-vxlan` device, and the `kedge0` bridge; pods' own links go
//! with their namespaces. It is idempotent (a clean node is not an error). [`dump`] prints
//! kedge's nf_tables tables and the kedge routes, neighbours and FDB entries as normalized
//! text, so that two dumps of the same state are byte-identical (used by tests across agent
//! restarts, and by humans).

use kedge_netplugins::nft::{Batch, Family, Nft, Table};

/// kedge's nf_tables tables, in dump order.
pub fn tables() -> Vec<Table> {
    vec![
        Table::new(Family::Ip, kedge_netplugins::bridge::TABLE),
        Table::new(Family::Ip, crate::proxy::TABLE),
        Table::new(Family::Ip, crate::netpol::TABLE),
    ]
}

/// Everything kedge programmed into this network namespace, as text.
pub fn dump() -> anyhow::Result<String> {
    let nft = Nft::open()?;
    let mut out = String::new();
    for t in tables() {
        match nft.list_ruleset(&t)? {
            Some(text) => out.push_str(&text),
            None => out.push_str(&format!("# table {} {}: absent\n", t.family.name(), t.name)),
        }
    }
    out.push_str("# routes, neighbours and FDB entries of the pod network\n");
    let routes = crate::rt::block_on(async {
        let h = kedge_netplugins::veth::connect()?;
        Ok::<_, anyhow::Error>(kedge_netplugins::overlay::dump_routes(&h).await?)
    })?;
    for l in routes {
        out.push_str(&l);
        out.push('\n');
    }
    Ok(out)
}

/// Remove the node's cluster network; see the module contract.
pub fn cleanup() -> anyhow::Result<Vec<String>> {
    let nft = Nft::open()?;
    let mut done = Vec::new();
    for t in tables() {
        if nft.ruleset(&t)?.is_some() {
            let mut b = Batch::new();
            b.delete_table(&t);
            nft.apply(&b)?;
            done.push(format!("nf_tables table {} {}", t.family.name(), t.name));
        }
    }
    crate::rt::block_on(async {
        let h = kedge_netplugins::veth::connect()?;
        let routes = kedge_netplugins::overlay::cleanup(&h).await?;
        if routes > 0 {
            done.push(format!("{routes} routes to other nodes"));
        }
        if kedge_netplugins::veth::delete(&h, "kedge0").await? {
            done.push("bridge kedge0".into());
        }
        Ok::<(), anyhow::Error>(())
    })?;
    Ok(done)
}
