//! Masquerade of pod egress: the rules of the bridge's `postrouting` nat chain.
//!
//! Contract: traffic from the pod CIDR leaves with the node's address unless it goes to the
//! pod CIDR itself or to the cluster CIDR (other nodes' pods see real pod addresses). Pod
//! traffic that was DNATed back to a pod (a hostPort or service hairpin) is masqueraded too,
//! so the reply returns through the node instead of straight over the bridge.

use ipnetwork::IpNetwork;

use crate::nft::expr::ct_status;
use crate::nft::matchers::{self as m, Dir};
use crate::nft::{CmpOp, Rule};

/// The masquerade rules for `chain`, in order.
pub fn rules(chain: &str, pod_cidr: IpNetwork, cluster_cidr: Option<IpNetwork>) -> Vec<Rule> {
    let mut hairpin = m::ct_status(ct_status::DST_NAT);
    hairpin.extend(m::addr(Dir::Source, pod_cidr, CmpOp::Eq));
    hairpin.extend(m::addr(Dir::Destination, pod_cidr, CmpOp::Eq));
    hairpin.extend(m::masquerade(false));

    let mut egress = m::addr(Dir::Source, pod_cidr, CmpOp::Eq);
    egress.extend(m::addr(Dir::Destination, pod_cidr, CmpOp::Neq));
    if let Some(c) = cluster_cidr {
        egress.extend(m::addr(Dir::Destination, c, CmpOp::Neq));
    }
    egress.extend(m::masquerade(false));
    vec![Rule::new(chain, hairpin), Rule::new(chain, egress)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nft::Expr;

    #[test]
    fn egress_excludes_pod_and_cluster_cidrs() {
        let r = rules(
            "postrouting",
            "10.1.1.0/24".parse().unwrap(),
            Some("10.1.0.0/16".parse().unwrap()),
        );
        assert_eq!(r.len(), 2);
        let neq = r[1]
            .exprs
            .iter()
            .filter(|e| matches!(e, Expr::Cmp { op: CmpOp::Neq, .. }))
            .count();
        assert_eq!(neq, 2);
        assert!(matches!(r[1].exprs.last(), Some(Expr::Masq { .. })));
    }
}
