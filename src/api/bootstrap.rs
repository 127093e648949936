//! Objects every cluster has from its first start: the four system namespaces and the
//! `kubernetes` Service with Endpoints pointing at the API server. Idempotent: existing objects
//! are kept, the Endpoints follow the advertised address.

use std::sync::Arc;

use serde_json::{json, Value};

use super::handlers::write::{self, load, WriteOpts};
use super::server::ApiServer;
use super::status::ApiError;

const NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

async fn ensure(
    srv: &Arc<ApiServer>,
    group: &str,
    plural: &str,
    ns: Option<&str>,
    obj: Value,
) -> Result<(), ApiError> {
    let def = srv
        .registry
        .by_path(group, "v1", plural)
        .ok_or_else(|| ApiError::internal(format!("no resource {plural}")))?;
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if load(srv, &def, ns, &name).is_ok() {
        return Ok(());
    }
    match write::create(srv, &def, ns, obj, &WriteOpts::internal()).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

pub async fn run(srv: &Arc<ApiServer>) -> Result<(), ApiError> {
    for ns in NAMESPACES {
        ensure(
            srv,
            "",
            "namespaces",
            None,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await?;
    }
    let first = srv.alloc.nth(1).to_string();
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": first, "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": srv.cfg.port}],
                 "sessionAffinity": "None", "type": "ClusterIP"},
    });
    ensure(srv, "", "services", Some("default"), svc).await?;
    let adv = srv.cfg.advertise_ip;
    // Endpoints may not hold loopback addresses; a machine with nothing else gets an empty
    // Endpoints (the Service then has no backends until an address is configured).
    let subsets = if adv.is_loopback() || adv.is_unspecified() {
        eprintln!("kedge: warning: advertise address {adv} is loopback; the kubernetes Endpoints stay empty (set --advertise-address)");
        json!([])
    } else {
        json!([{"addresses": [{"ip": adv.to_string()}],
                "ports": [{"name": "https", "port": srv.cfg.port, "protocol": "TCP"}]}])
    };
    let ep = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": subsets,
    });
    let epdef = srv
        .registry
        .by_path("", "v1", "endpoints")
        .ok_or_else(|| ApiError::internal("no endpoints resource"))?;
    match load(srv, &epdef, Some("default"), "kubernetes") {
        Ok((cur, rev)) => {
            if cur.get("subsets") != ep.get("subsets") {
                let mut new = cur.clone();
                new["subsets"] = ep["subsets"].clone();
                write::apply_update(
                    srv,
                    &epdef,
                    Some("default"),
                    "kubernetes",
                    &cur,
                    rev,
                    new,
                    None,
                    &WriteOpts::internal(),
                )
                .await?;
            }
        }
        Err(_) => ensure(srv, "", "endpoints", Some("default"), ep).await?,
    }
    Ok(())
}
