//! A text rendering of the node's routing state, for comparing it before and after an agent
//! restart.
//!
//! Contract: [`dump_routes`] lists every main-table route (both families) and the permanent
//! neighbour and FDB entries of [`VXLAN_DEVICE`], one normalized line each, sorted. Links are
//! named rather than numbered and volatile fields (cache info, expiry) are left out, so two
//! dumps are equal exactly when the routing state is.

use std::collections::HashMap;

use rtnetlink::packet_route::route::{
    RouteAttribute, RouteFlags, RouteMessage, RouteScope, RouteType,
};
use rtnetlink::Handle;

use super::{kernel, OverlayError, ROUTE_PROTOCOL, VXLAN_DEVICE};
use crate::veth::format_mac;

fn protocol_name(p: u8) -> String {
    match p {
        0 => "unspec".into(),
        1 => "redirect".into(),
        2 => "kernel".into(),
        3 => "boot".into(),
        4 => "static".into(),
        ROUTE_PROTOCOL => "kedge".into(),
        n => n.to_string(),
    }
}

/// One route as a line: `[type ]dst [via gw] [dev name] proto p [scope s] [metric m]
/// [src ip] [onlink]`.
fn route_line(m: &RouteMessage, names: &HashMap<u32, String>) -> Option<String> {
    let r = kernel::route_spec(m)?;
    let mut s = String::new();
    if m.header.kind != RouteType::Unicast {
        s.push_str(&format!("{:?} ", m.header.kind).to_lowercase());
    }
    s.push_str(&r.dst.to_string());
    if let Some(via) = r.via {
        s.push_str(&format!(" via {via}"));
    }
    if let Some(oif) = r.oif {
        let name = names
            .get(&oif)
            .cloned()
            .unwrap_or_else(|| format!("if{oif}"));
        s.push_str(&format!(" dev {name}"));
    }
    s.push_str(&format!(
        " proto {}",
        protocol_name(u8::from(m.header.protocol))
    ));
    if m.header.scope != RouteScope::Universe {
        s.push_str(&format!(" scope {:?}", m.header.scope).to_lowercase());
    }
    for a in &m.attributes {
        match a {
            RouteAttribute::Priority(p) => s.push_str(&format!(" metric {p}")),
            RouteAttribute::PrefSource(src) => {
                if let Some(ip) = kernel::route_ip(src) {
                    s.push_str(&format!(" src {ip}"));
                }
            }
            _ => {}
        }
    }
    if m.header.flags.contains(RouteFlags::Onlink) {
        s.push_str(" onlink");
    }
    Some(s)
}

/// The node's routing state as sorted lines (see the module contract).
pub async fn dump_routes(handle: &Handle) -> Result<Vec<String>, OverlayError> {
    let links = kernel::links(handle).await?;
    let names: HashMap<u32, String> = links.iter().map(|l| (l.index, l.name.clone())).collect();
    let mut out: Vec<String> = kernel::main_routes(handle)
        .await?
        .iter()
        .filter_map(|m| route_line(m, &names))
        .collect();
    if let Some(vx) = links.iter().find(|l| l.name == VXLAN_DEVICE) {
        for n in kernel::neighbours(handle, vx.index).await? {
            out.push(format!(
                "neigh {} lladdr {} dev {VXLAN_DEVICE} permanent",
                n.ip,
                format_mac(&n.mac)
            ));
        }
        for f in kernel::fdb(handle, vx.index).await? {
            out.push(format!(
                "fdb {} dst {} dev {VXLAN_DEVICE}",
                format_mac(&f.mac),
                f.dst
            ));
        }
    }
    out.sort();
    Ok(out)
}
