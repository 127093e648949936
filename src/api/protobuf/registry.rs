//! Which table decodes which `(apiVersion, kind)`.
//!
//! Contract: [`lookup`] finds the table for the envelope's apiVersion and kind, `None` for kinds
//! without one (the caller answers 415). Adding a kind is a table in its API group's file plus one
//! row here.

use super::table::Msg;
use super::{apps, auth, batch, core, meta, networking, pod, policy, rbac, scheduling, volume};

static KINDS: &[(&str, &str, &Msg)] = &[
    ("v1", "ConfigMap", &core::CONFIG_MAP),
    ("v1", "Secret", &core::SECRET),
    ("v1", "Namespace", &core::NAMESPACE),
    ("v1", "ServiceAccount", &core::SERVICE_ACCOUNT),
    ("v1", "Service", &core::SERVICE),
    ("v1", "ResourceQuota", &core::RESOURCE_QUOTA),
    ("v1", "LimitRange", &core::LIMIT_RANGE),
    ("v1", "Pod", &pod::POD),
    ("v1", "PodTemplate", &pod::POD_TEMPLATE),
    ("v1", "ReplicationController", &pod::REPLICATION_CONTROLLER),
    (
        "v1",
        "PersistentVolumeClaim",
        &volume::PERSISTENT_VOLUME_CLAIM,
    ),
    ("v1", "Event", &core::EVENT),
    ("v1", "DeleteOptions", &meta::DELETE_OPTIONS),
    ("meta.k8s.io/v1", "DeleteOptions", &meta::DELETE_OPTIONS),
    ("apps/v1", "Deployment", &apps::DEPLOYMENT),
    ("apps/v1", "ReplicaSet", &apps::REPLICA_SET),
    ("apps/v1", "DaemonSet", &apps::DAEMON_SET),
    ("apps/v1", "StatefulSet", &apps::STATEFUL_SET),
    ("batch/v1", "Job", &batch::JOB),
    ("batch/v1", "CronJob", &batch::CRON_JOB),
    ("policy/v1", "Eviction", &policy::EVICTION),
    (
        "policy/v1",
        "PodDisruptionBudget",
        &policy::POD_DISRUPTION_BUDGET,
    ),
    (
        "authorization.k8s.io/v1",
        "SelfSubjectAccessReview",
        &auth::SELF_SUBJECT_ACCESS_REVIEW,
    ),
    (
        "authorization.k8s.io/v1",
        "SubjectAccessReview",
        &auth::SUBJECT_ACCESS_REVIEW,
    ),
    (
        "authorization.k8s.io/v1",
        "LocalSubjectAccessReview",
        &auth::SUBJECT_ACCESS_REVIEW,
    ),
    (
        "authorization.k8s.io/v1",
        "SelfSubjectRulesReview",
        &auth::SELF_SUBJECT_RULES_REVIEW,
    ),
    (
        "authentication.k8s.io/v1",
        "TokenRequest",
        &auth::TOKEN_REQUEST,
    ),
    (
        "authentication.k8s.io/v1",
        "TokenReview",
        &auth::TOKEN_REVIEW,
    ),
    (
        "authentication.k8s.io/v1",
        "SelfSubjectReview",
        &auth::SELF_SUBJECT_REVIEW,
    ),
    ("rbac.authorization.k8s.io/v1", "Role", &rbac::ROLE),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        &rbac::CLUSTER_ROLE,
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        &rbac::ROLE_BINDING,
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        &rbac::ROLE_BINDING,
    ),
    ("networking.k8s.io/v1", "Ingress", &networking::INGRESS),
    (
        "networking.k8s.io/v1",
        "IngressClass",
        &networking::INGRESS_CLASS,
    ),
    (
        "networking.k8s.io/v1",
        "NetworkPolicy",
        &networking::NETWORK_POLICY,
    ),
    (
        "scheduling.k8s.io/v1",
        "PriorityClass",
        &scheduling::PRIORITY_CLASS,
    ),
];

pub(super) fn lookup(api_version: &str, kind: &str) -> Option<&'static Msg> {
    KINDS
        .iter()
        .find(|(v, k, _)| *v == api_version && *k == kind)
        .map(|(_, _, m)| *m)
}
