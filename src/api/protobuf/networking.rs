//! Tables for `networking.k8s.io/v1`: Ingress, IngressClass and NetworkPolicy.
//!
//! Contract: field numbers and types are those of the `generated.proto` files of k8s.io/api and
//! k8s.io/apimachinery; `keep` marks Go pointers and fields whose JSON tag lacks `omitempty`;
//! rows are in Go declaration order, which is the key order Go's JSON encoder produces.

use super::core::{PORT_STATUS, TYPED_LOCAL_OBJECT_REFERENCE};
use super::meta::{LABEL_SELECTOR, OBJECT_META};
use super::table::{inline, keep, list, msg, val, Msg, I32, INT_OR_STRING, STR};

pub(super) static INGRESS: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&INGRESS_SPEC)),
        val(3, "status", msg(&INGRESS_STATUS)),
    ],
};

static INGRESS_SPEC: Msg = Msg {
    fields: &[
        keep(4, "ingressClassName", STR),
        keep(1, "defaultBackend", msg(&INGRESS_BACKEND)),
        list(2, "tls", msg(&INGRESS_TLS)),
        list(3, "rules", msg(&INGRESS_RULE)),
    ],
};

static INGRESS_BACKEND: Msg = Msg {
    fields: &[
        keep(4, "service", msg(&INGRESS_SERVICE_BACKEND)),
        keep(3, "resource", msg(&TYPED_LOCAL_OBJECT_REFERENCE)),
    ],
};

static INGRESS_SERVICE_BACKEND: Msg = Msg {
    fields: &[
        keep(1, "name", STR),
        val(2, "port", msg(&SERVICE_BACKEND_PORT)),
    ],
};

static SERVICE_BACKEND_PORT: Msg = Msg {
    fields: &[val(1, "name", STR), val(2, "number", I32)],
};

static INGRESS_TLS: Msg = Msg {
    fields: &[list(1, "hosts", STR), val(2, "secretName", STR)],
};

static INGRESS_RULE: Msg = Msg {
    fields: &[val(1, "host", STR), inline(2, &INGRESS_RULE_VALUE)],
};

static INGRESS_RULE_VALUE: Msg = Msg {
    fields: &[keep(1, "http", msg(&HTTP_INGRESS_RULE_VALUE))],
};

static HTTP_INGRESS_RULE_VALUE: Msg = Msg {
    fields: &[list(1, "paths", msg(&HTTP_INGRESS_PATH))],
};

static HTTP_INGRESS_PATH: Msg = Msg {
    fields: &[
        val(1, "path", STR),
        keep(3, "pathType", STR),
        keep(2, "backend", msg(&INGRESS_BACKEND)),
    ],
};

static INGRESS_STATUS: Msg = Msg {
    fields: &[val(1, "loadBalancer", msg(&INGRESS_LOAD_BALANCER_STATUS))],
};

static INGRESS_LOAD_BALANCER_STATUS: Msg = Msg {
    fields: &[list(1, "ingress", msg(&INGRESS_LOAD_BALANCER_INGRESS))],
};

static INGRESS_LOAD_BALANCER_INGRESS: Msg = Msg {
    fields: &[
        val(1, "ip", STR),
        val(2, "hostname", STR),
        list(4, "ports", msg(&PORT_STATUS)),
    ],
};

pub(super) static INGRESS_CLASS: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&INGRESS_CLASS_SPEC)),
    ],
};

static INGRESS_CLASS_SPEC: Msg = Msg {
    fields: &[
        val(1, "controller", STR),
        keep(2, "parameters", msg(&INGRESS_CLASS_PARAMETERS_REFERENCE)),
    ],
};

static INGRESS_CLASS_PARAMETERS_REFERENCE: Msg = Msg {
    fields: &[
        // The proto calls it `aPIGroup`; the JSON tag is `apiGroup`.
        keep(1, "apiGroup", STR),
        keep(2, "kind", STR),
        keep(3, "name", STR),
        keep(4, "scope", STR),
        keep(5, "namespace", STR),
    ],
};

pub(super) static NETWORK_POLICY: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&NETWORK_POLICY_SPEC)),
    ],
};

static NETWORK_POLICY_SPEC: Msg = Msg {
    fields: &[
        val(1, "podSelector", msg(&LABEL_SELECTOR)),
        list(2, "ingress", msg(&NETWORK_POLICY_INGRESS_RULE)),
        list(3, "egress", msg(&NETWORK_POLICY_EGRESS_RULE)),
        list(4, "policyTypes", STR),
    ],
};

static NETWORK_POLICY_INGRESS_RULE: Msg = Msg {
    fields: &[
        list(1, "ports", msg(&NETWORK_POLICY_PORT)),
        list(2, "from", msg(&NETWORK_POLICY_PEER)),
    ],
};

static NETWORK_POLICY_EGRESS_RULE: Msg = Msg {
    fields: &[
        list(1, "ports", msg(&NETWORK_POLICY_PORT)),
        list(2, "to", msg(&NETWORK_POLICY_PEER)),
    ],
};

static NETWORK_POLICY_PEER: Msg = Msg {
    fields: &[
        keep(1, "podSelector", msg(&LABEL_SELECTOR)),
        keep(2, "namespaceSelector", msg(&LABEL_SELECTOR)),
        keep(3, "ipBlock", msg(&IP_BLOCK)),
    ],
};

static IP_BLOCK: Msg = Msg {
    fields: &[keep(1, "cidr", STR), list(2, "except", STR)],
};

static NETWORK_POLICY_PORT: Msg = Msg {
    fields: &[
        keep(1, "protocol", STR),
        keep(2, "port", INT_OR_STRING),
        keep(3, "endPort", I32),
    ],
};
