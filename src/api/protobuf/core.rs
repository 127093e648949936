//! Tables for `core/v1` configuration, identity, services and quotas: ConfigMap, Secret,
//! Namespace, ServiceAccount, Event, Service, ResourceQuota, LimitRange and the references they
//! share.
//!
//! Contract: field numbers and types are those of the `generated.proto` files of k8s.io/api and
//! k8s.io/apimachinery; `keep` marks Go pointers and fields whose JSON tag lacks `omitempty`;
//! rows are in Go declaration order, which is the key order Go's JSON encoder produces.

use super::meta::{CONDITION, OBJECT_META};
use super::table::{
    keep, list, map, msg, val, Msg, BOOL, BYTES, I32, INT_OR_STRING, MICRO_TIME, QUANTITY, STR,
    TIME,
};

pub(super) static CONFIG_MAP: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        keep(4, "immutable", BOOL),
        map(2, "data", STR),
        map(3, "binaryData", BYTES),
    ],
};

pub(super) static SECRET: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        keep(5, "immutable", BOOL),
        map(2, "data", BYTES),
        map(4, "stringData", STR),
        val(3, "type", STR),
    ],
};

pub(super) static NAMESPACE: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&NAMESPACE_SPEC)),
        val(3, "status", msg(&NAMESPACE_STATUS)),
    ],
};

static NAMESPACE_SPEC: Msg = Msg {
    fields: &[list(1, "finalizers", STR)],
};

static NAMESPACE_STATUS: Msg = Msg {
    fields: &[
        val(1, "phase", STR),
        list(2, "conditions", msg(&NAMESPACE_CONDITION)),
    ],
};

static NAMESPACE_CONDITION: Msg = Msg {
    fields: &[
        keep(1, "type", STR),
        keep(2, "status", STR),
        val(4, "lastTransitionTime", TIME),
        val(5, "reason", STR),
        val(6, "message", STR),
    ],
};

pub(super) static SERVICE_ACCOUNT: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        list(2, "secrets", msg(&OBJECT_REFERENCE)),
        list(3, "imagePullSecrets", msg(&LOCAL_OBJECT_REFERENCE)),
        keep(4, "automountServiceAccountToken", BOOL),
    ],
};

pub(super) static OBJECT_REFERENCE: Msg = Msg {
    fields: &[
        val(1, "kind", STR),
        val(2, "namespace", STR),
        val(3, "name", STR),
        val(4, "uid", STR),
        val(5, "apiVersion", STR),
        val(6, "resourceVersion", STR),
        val(7, "fieldPath", STR),
    ],
};

pub(super) static LOCAL_OBJECT_REFERENCE: Msg = Msg {
    fields: &[val(1, "name", STR)],
};

pub(super) static TYPED_LOCAL_OBJECT_REFERENCE: Msg = Msg {
    fields: &[
        keep(1, "apiGroup", STR),
        keep(2, "kind", STR),
        keep(3, "name", STR),
    ],
};

pub(super) static TYPED_OBJECT_REFERENCE: Msg = Msg {
    fields: &[
        keep(1, "apiGroup", STR),
        keep(2, "kind", STR),
        keep(3, "name", STR),
        keep(4, "namespace", STR),
    ],
};

pub(super) static EVENT: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        keep(2, "involvedObject", msg(&OBJECT_REFERENCE)),
        val(3, "reason", STR),
        val(4, "message", STR),
        val(5, "source", msg(&EVENT_SOURCE)),
        val(6, "firstTimestamp", TIME),
        val(7, "lastTimestamp", TIME),
        val(8, "count", I32),
        val(9, "type", STR),
        val(10, "eventTime", MICRO_TIME),
        keep(11, "series", msg(&EVENT_SERIES)),
        val(12, "action", STR),
        keep(13, "related", msg(&OBJECT_REFERENCE)),
        keep(14, "reportingComponent", STR),
        keep(15, "reportingInstance", STR),
    ],
};

static EVENT_SOURCE: Msg = Msg {
    fields: &[val(1, "component", STR), val(2, "host", STR)],
};

static EVENT_SERIES: Msg = Msg {
    fields: &[val(1, "count", I32), val(2, "lastObservedTime", MICRO_TIME)],
};

// --- core/v1: services and quotas ------------------------------------------------------------

pub(super) static SERVICE: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&SERVICE_SPEC)),
        val(3, "status", msg(&SERVICE_STATUS)),
    ],
};

static SERVICE_SPEC: Msg = Msg {
    fields: &[
        list(1, "ports", msg(&SERVICE_PORT)),
        map(2, "selector", STR),
        val(3, "clusterIP", STR),
        list(18, "clusterIPs", STR),
        val(4, "type", STR),
        list(5, "externalIPs", STR),
        val(7, "sessionAffinity", STR),
        val(8, "loadBalancerIP", STR),
        list(9, "loadBalancerSourceRanges", STR),
        val(10, "externalName", STR),
        val(11, "externalTrafficPolicy", STR),
        val(12, "healthCheckNodePort", I32),
        val(13, "publishNotReadyAddresses", BOOL),
        keep(14, "sessionAffinityConfig", msg(&SESSION_AFFINITY_CONFIG)),
        list(19, "ipFamilies", STR),
        keep(17, "ipFamilyPolicy", STR),
        keep(20, "allocateLoadBalancerNodePorts", BOOL),
        keep(21, "loadBalancerClass", STR),
        keep(22, "internalTrafficPolicy", STR),
        keep(23, "trafficDistribution", STR),
    ],
};

static SERVICE_PORT: Msg = Msg {
    fields: &[
        val(1, "name", STR),
        val(2, "protocol", STR),
        keep(6, "appProtocol", STR),
        keep(3, "port", I32),
        val(4, "targetPort", INT_OR_STRING),
        val(5, "nodePort", I32),
    ],
};

static SESSION_AFFINITY_CONFIG: Msg = Msg {
    fields: &[keep(1, "clientIP", msg(&CLIENT_IP_CONFIG))],
};

static CLIENT_IP_CONFIG: Msg = Msg {
    fields: &[keep(1, "timeoutSeconds", I32)],
};

static SERVICE_STATUS: Msg = Msg {
    fields: &[
        val(1, "loadBalancer", msg(&LOAD_BALANCER_STATUS)),
        list(2, "conditions", msg(&CONDITION)),
    ],
};

static LOAD_BALANCER_STATUS: Msg = Msg {
    fields: &[list(1, "ingress", msg(&LOAD_BALANCER_INGRESS))],
};

static LOAD_BALANCER_INGRESS: Msg = Msg {
    fields: &[
        val(1, "ip", STR),
        val(2, "hostname", STR),
        keep(3, "ipMode", STR),
        list(4, "ports", msg(&PORT_STATUS)),
    ],
};

/// core/v1 `PortStatus`; networking/v1 `IngressPortStatus` has the same numbers and names.
pub(super) static PORT_STATUS: Msg = Msg {
    fields: &[
        keep(1, "port", I32),
        keep(2, "protocol", STR),
        keep(3, "error", STR),
    ],
};

pub(super) static RESOURCE_QUOTA: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&RESOURCE_QUOTA_SPEC)),
        val(3, "status", msg(&RESOURCE_QUOTA_STATUS)),
    ],
};

static RESOURCE_QUOTA_SPEC: Msg = Msg {
    fields: &[
        map(1, "hard", QUANTITY),
        list(2, "scopes", STR),
        keep(3, "scopeSelector", msg(&SCOPE_SELECTOR)),
    ],
};

static SCOPE_SELECTOR: Msg = Msg {
    fields: &[list(
        1,
        "matchExpressions",
        msg(&SCOPED_RESOURCE_SELECTOR_REQUIREMENT),
    )],
};

static SCOPED_RESOURCE_SELECTOR_REQUIREMENT: Msg = Msg {
    fields: &[
        keep(1, "scopeName", STR),
        keep(2, "operator", STR),
        list(3, "values", STR),
    ],
};

static RESOURCE_QUOTA_STATUS: Msg = Msg {
    fields: &[map(1, "hard", QUANTITY), map(2, "used", QUANTITY)],
};

pub(super) static LIMIT_RANGE: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&LIMIT_RANGE_SPEC)),
    ],
};

static LIMIT_RANGE_SPEC: Msg = Msg {
    fields: &[list(1, "limits", msg(&LIMIT_RANGE_ITEM))],
};

static LIMIT_RANGE_ITEM: Msg = Msg {
    fields: &[
        keep(1, "type", STR),
        map(2, "max", QUANTITY),
        map(3, "min", QUANTITY),
        map(4, "default", QUANTITY),
        map(5, "defaultRequest", QUANTITY),
        map(6, "maxLimitRequestRatio", QUANTITY),
    ],
};
