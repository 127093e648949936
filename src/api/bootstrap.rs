//! Objects every cluster has from its first start: the four system namespaces and the
//! `kubernetes` Service with Endpoints and an EndpointSlice pointing at the API server.
//! Idempotent: existing objects are kept, the Endpoints and EndpointSlice follow the advertised
//! address.

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
    follow(srv, ("", "v1", "endpoints"), ep, &["subsets"]).await?;
    // Service proxies read EndpointSlices: the same backend as an EndpointSlice.
    let endpoints = if adv.is_loopback() || adv.is_unspecified() {
        json!([])
    } else {
        json!([{"addresses": [adv.to_string()], "conditions": {"ready": true}}])
    };
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "kubernetes",
                                "endpointslice.kubernetes.io/managed-by": "kedge-apiserver"}},
        "addressType": if adv.is_ipv6() { "IPv6" } else { "IPv4" },
        "endpoints": endpoints,
        "ports": [{"name": "https", "port": srv.cfg.port, "protocol": "TCP"}],
    });
    follow(
        srv,
        ("discovery.k8s.io", "v1", "endpointslices"),
        slice,
        &["endpoints", "ports"],
    )
    .await?;
    Ok(())
}

/// Create `obj` (in `default`) or bring its `fields` in line with it.
async fn follow(
    srv: &Arc<ApiServer>,
    (group, version, plural): (&str, &str, &str),
    obj: Value,
    fields: &[&str],
) -> Result<(), ApiError> {
    let def = srv
        .registry
        .by_path(group, version, plural)
        .ok_or_else(|| ApiError::internal(format!("no {plural} resource")))?;
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match load(srv, &def, Some("default"), &name) {
        Ok((cur, rev)) => {
            if fields.iter().any(|f| cur.get(*f) != obj.get(*f)) {
                let mut new = cur.clone();
                for f in fields {
                    new[*f] = obj[*f].clone();
                }
                write::apply_update(
                    srv,
                    &def,
                    Some("default"),
                    &name,
                    &cur,
                    rev,
                    new,
                    None,
                    &WriteOpts::internal(),
                )
                .await?;
            }
            Ok(())
        }
        Err(_) => ensure(srv, group, plural, Some("default"), obj).await,
    }
}
