//! The kubectl bodies under tests/fixtures/protobuf, each with the JSON the same command sends,
//! and how the decoder's output is compared with them.
//!
//! Contract: [`FIXTURES`] lists every fixture; `fixture!("name")` yields one as `(name, body,
//! json)` with both files embedded at compile time.

use serde_json::Value;

/// kubectl's JSON writes `creationTimestamp: null` and nil slices as `null`; the decoder
/// omits both, so expectations are compared without nulls.
pub(super) fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

macro_rules! fixture {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/protobuf/",
                $name,
                ".bin"
            ))
            .as_slice(),
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/protobuf/",
                $name,
                ".json"
            )),
        )
    };
}

/// Bodies kubectl 1.33 POSTs as protobuf, each paired with the JSON the same command
/// produces with `--dry-run=client -o json` (or, for the review kinds, the JSON body
/// kubectl 1.31 POSTs): the tests/fixtures/protobuf README lists the commands.
pub(super) const FIXTURES: &[(&str, &[u8], &str)] = &[
    fixture!("configmap"),
    fixture!("configmap_files"),
    fixture!("secret_generic"),
    fixture!("secret_docker_registry"),
    fixture!("namespace"),
    fixture!("serviceaccount"),
    fixture!("service_clusterip"),
    fixture!("service_headless"),
    fixture!("service_multi_port"),
    fixture!("service_nodeport"),
    fixture!("service_loadbalancer"),
    fixture!("service_externalname"),
    fixture!("deployment"),
    fixture!("deployment_multi"),
    fixture!("job"),
    fixture!("job_from_cronjob"),
    fixture!("cronjob"),
    fixture!("quota"),
    fixture!("quota_scopes"),
    fixture!("role"),
    fixture!("role_resource_names"),
    fixture!("clusterrole"),
    fixture!("clusterrole_aggregation"),
    fixture!("clusterrole_nonresource"),
    fixture!("rolebinding"),
    fixture!("clusterrolebinding"),
    fixture!("pdb_min_available"),
    fixture!("pdb_max_unavailable"),
    fixture!("ingress"),
    fixture!("priorityclass"),
    fixture!("ssar_get_pods"),
    fixture!("ssar_subresource"),
    fixture!("ssar_nonresource"),
    fixture!("ssrr"),
    fixture!("selfsubjectreview"),
    fixture!("token_request"),
];

pub(super) use fixture;
