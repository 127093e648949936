//! Tables for `rbac.authorization.k8s.io/v1`: Role, ClusterRole and their bindings.
//!
//! Contract: field numbers and types are those of the `generated.proto` files of k8s.io/api and
//! k8s.io/apimachinery; `keep` marks Go pointers and fields whose JSON tag lacks `omitempty`;
//! rows are in Go declaration order, which is the key order Go's JSON encoder produces.

use super::meta::{LABEL_SELECTOR, OBJECT_META};
use super::table::{keep, list, msg, val, Msg, STR};

pub(super) static ROLE: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        list(2, "rules", msg(&POLICY_RULE)),
    ],
};

pub(super) static CLUSTER_ROLE: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        list(2, "rules", msg(&POLICY_RULE)),
        keep(3, "aggregationRule", msg(&AGGREGATION_RULE)),
    ],
};

static AGGREGATION_RULE: Msg = Msg {
    fields: &[list(1, "clusterRoleSelectors", msg(&LABEL_SELECTOR))],
};

static POLICY_RULE: Msg = Msg {
    fields: &[
        list(1, "verbs", STR),
        list(2, "apiGroups", STR),
        list(3, "resources", STR),
        list(4, "resourceNames", STR),
        list(5, "nonResourceURLs", STR),
    ],
};

/// `RoleBinding` and `ClusterRoleBinding` share one shape.
pub(super) static ROLE_BINDING: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        list(2, "subjects", msg(&SUBJECT)),
        keep(3, "roleRef", msg(&ROLE_REF)),
    ],
};

static ROLE_REF: Msg = Msg {
    fields: &[
        keep(1, "apiGroup", STR),
        keep(2, "kind", STR),
        keep(3, "name", STR),
    ],
};

static SUBJECT: Msg = Msg {
    fields: &[
        keep(1, "kind", STR),
        val(2, "apiGroup", STR),
        keep(3, "name", STR),
        val(4, "namespace", STR),
    ],
};
