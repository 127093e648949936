//! The built-in resources kedge serves, one line each.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use k8s_openapi::api::{
    apps::v1 as apps, autoscaling::v2 as autoscaling, batch::v1 as batch,
    coordination::v1 as coordination, core::v1 as core, discovery::v1 as discovery,
    networking::v1 as networking, policy::v1 as policy, rbac::v1 as rbac,
    scheduling::v1 as scheduling, storage::v1 as storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;

use super::registry::{ResourceDef, ScalePaths, Typed};

fn typed<T: DeserializeOwned + Serialize>(v: Value) -> Result<Value, String> {
    let t: T = serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })?;
    serde_json::to_value(t).map_err(|e| e.to_string())
}

struct Def {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    all: bool,
    status: bool,
    scale: bool,
    extra: &'static [&'static str],
    typed: Typed,
}

#[allow(clippy::too_many_arguments)]
const fn d(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    all: bool,
    status: bool,
    scale: bool,
    extra: &'static [&'static str],
    typed: Typed,
) -> Def {
    Def {
        group,
        version,
        kind,
        plural,
        namespaced,
        short,
        all,
        status,
        scale,
        extra,
        typed,
    }
}

const NS: bool = true;
const CL: bool = false;

#[rustfmt::skip]
fn table() -> Vec<Def> {
    vec![
        d("", "v1", "Namespace", "namespaces", CL, &["ns"], false, true, false, &["finalize"], typed::<core::Namespace>),
        d("", "v1", "Pod", "pods", NS, &["po"], true, true, false, &["binding", "eviction", "log", "exec", "attach", "portforward", "ephemeralcontainers"], typed::<core::Pod>),
        d("", "v1", "Service", "services", NS, &["svc"], true, true, false, &["proxy"], typed::<core::Service>),
        d("", "v1", "Endpoints", "endpoints", NS, &["ep"], false, false, false, &[], typed::<core::Endpoints>),
        d("", "v1", "ConfigMap", "configmaps", NS, &["cm"], false, false, false, &[], typed::<core::ConfigMap>),
        d("", "v1", "Secret", "secrets", NS, &[], false, false, false, &[], typed::<core::Secret>),
        d("", "v1", "ServiceAccount", "serviceaccounts", NS, &["sa"], false, false, false, &["token"], typed::<core::ServiceAccount>),
        d("", "v1", "Node", "nodes", CL, &["no"], false, true, false, &["proxy"], typed::<core::Node>),
        d("", "v1", "Event", "events", NS, &["ev"], false, false, false, &[], typed::<core::Event>),
        d("", "v1", "PersistentVolume", "persistentvolumes", CL, &["pv"], false, true, false, &[], typed::<core::PersistentVolume>),
        d("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", NS, &["pvc"], false, true, false, &[], typed::<core::PersistentVolumeClaim>),
        d("", "v1", "ResourceQuota", "resourcequotas", NS, &["quota"], false, true, false, &[], typed::<core::ResourceQuota>),
        d("", "v1", "LimitRange", "limitranges", NS, &["limits"], false, false, false, &[], typed::<core::LimitRange>),
        d("", "v1", "ReplicationController", "replicationcontrollers", NS, &["rc"], true, true, true, &[], typed::<core::ReplicationController>),
        d("", "v1", "PodTemplate", "podtemplates", NS, &[], false, false, false, &[], typed::<core::PodTemplate>),
        d("apps", "v1", "Deployment", "deployments", NS, &["deploy"], true, true, true, &[], typed::<apps::Deployment>),
        d("apps", "v1", "ReplicaSet", "replicasets", NS, &["rs"], true, true, true, &[], typed::<apps::ReplicaSet>),
        d("apps", "v1", "StatefulSet", "statefulsets", NS, &["sts"], true, true, true, &[], typed::<apps::StatefulSet>),
        d("apps", "v1", "DaemonSet", "daemonsets", NS, &["ds"], true, true, false, &[], typed::<apps::DaemonSet>),
        d("apps", "v1", "ControllerRevision", "controllerrevisions", NS, &[], false, false, false, &[], typed::<apps::ControllerRevision>),
        d("batch", "v1", "Job", "jobs", NS, &[], true, true, false, &[], typed::<batch::Job>),
        d("batch", "v1", "CronJob", "cronjobs", NS, &["cj"], true, true, false, &[], typed::<batch::CronJob>),
        d("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", NS, &["hpa"], true, true, false, &[], typed::<autoscaling::HorizontalPodAutoscaler>),
        d("coordination.k8s.io", "v1", "Lease", "leases", NS, &[], false, false, false, &[], typed::<coordination::Lease>),
        d("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", NS, &[], false, false, false, &[], typed::<discovery::EndpointSlice>),
        d("storage.k8s.io", "v1", "StorageClass", "storageclasses", CL, &["sc"], false, false, false, &[], typed::<storage::StorageClass>),
        d("storage.k8s.io", "v1", "VolumeAttachment", "volumeattachments", CL, &[], false, true, false, &[], typed::<storage::VolumeAttachment>),
        d("storage.k8s.io", "v1", "CSIDriver", "csidrivers", CL, &[], false, false, false, &[], typed::<storage::CSIDriver>),
        d("storage.k8s.io", "v1", "CSINode", "csinodes", CL, &[], false, false, false, &[], typed::<storage::CSINode>),
        d("networking.k8s.io", "v1", "Ingress", "ingresses", NS, &["ing"], false, true, false, &[], typed::<networking::Ingress>),
        d("networking.k8s.io", "v1", "IngressClass", "ingressclasses", CL, &[], false, false, false, &[], typed::<networking::IngressClass>),
        d("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", NS, &["netpol"], false, false, false, &[], typed::<networking::NetworkPolicy>),
        d("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", NS, &["pdb"], false, true, false, &[], typed::<policy::PodDisruptionBudget>),
        d("rbac.authorization.k8s.io", "v1", "Role", "roles", NS, &[], false, false, false, &[], typed::<rbac::Role>),
        d("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", CL, &[], false, false, false, &[], typed::<rbac::ClusterRole>),
        d("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", NS, &[], false, false, false, &[], typed::<rbac::RoleBinding>),
        d("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", CL, &[], false, false, false, &[], typed::<rbac::ClusterRoleBinding>),
        d("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", CL, &["pc"], false, false, false, &[], typed::<scheduling::PriorityClass>),
        d("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", CL, &["crd", "crds"], false, true, false, &[], typed::<apiext::CustomResourceDefinition>),
    ]
}

/// The built-in resource definitions.
pub fn resources() -> Vec<ResourceDef> {
    table()
        .into_iter()
        .map(|t| ResourceDef {
            group: t.group.into(),
            version: t.version.into(),
            kind: t.kind.into(),
            plural: t.plural.into(),
            singular: t.kind.to_lowercase(),
            namespaced: t.namespaced,
            short_names: t.short.iter().map(|s| s.to_string()).collect(),
            categories: if t.all { vec!["all".into()] } else { vec![] },
            status: t.status,
            scale: t.scale.then(|| ScalePaths {
                spec_replicas: ".spec.replicas".into(),
                status_replicas: ".status.replicas".into(),
                label_selector: Some(".status.selector".into()),
            }),
            extra: t.extra.to_vec(),
            typed: Some(t.typed),
            custom: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_roundtrip_drops_unknown_fields_and_reports_wrong_types() {
        let r = resources();
        let cm = r.iter().find(|r| r.kind == "ConfigMap").unwrap();
        let out = (cm.typed.unwrap())(serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a"}, "data": {"k": "v"}, "bogus": 1
        }))
        .unwrap();
        assert_eq!(out["data"]["k"], "v");
        assert!(out.get("bogus").is_none());
        let dep = r.iter().find(|r| r.kind == "Deployment").unwrap();
        let err = (dep.typed.unwrap())(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "a"}, "spec": {"replicas": "three", "selector": {}, "template": {}}
        }))
        .unwrap_err();
        assert!(err.contains("spec.replicas"), "{err}");
    }

    #[test]
    fn plurals_and_short_names_are_unique() {
        let r = resources();
        let mut seen = std::collections::HashSet::new();
        for d in &r {
            assert!(
                seen.insert((d.group.clone(), d.plural.clone())),
                "{}",
                d.plural
            );
            for s in &d.short_names {
                assert!(seen.insert((d.group.clone(), s.clone())), "{s}");
            }
        }
    }
}
