//! Tables for `meta/v1` (k8s.io/apimachinery): object metadata, owner references, managed
//! fields, label selectors, conditions and delete options.
//!
//! Contract: field numbers and types are those of the `generated.proto` files of k8s.io/api and
//! k8s.io/apimachinery; `keep` marks Go pointers and fields whose JSON tag lacks `omitempty`;
//! rows are in Go declaration order, which is the key order Go's JSON encoder produces.

use super::table::{keep, list, map, msg, val, Msg, BOOL, I64, RAW_JSON, STR, TIME};

pub(super) static OBJECT_META: Msg = Msg {
    fields: &[
        val(1, "name", STR),
        val(2, "generateName", STR),
        val(3, "namespace", STR),
        val(4, "selfLink", STR),
        val(5, "uid", STR),
        val(6, "resourceVersion", STR),
        val(7, "generation", I64),
        val(8, "creationTimestamp", TIME),
        keep(9, "deletionTimestamp", TIME),
        keep(10, "deletionGracePeriodSeconds", I64),
        map(11, "labels", STR),
        map(12, "annotations", STR),
        list(13, "ownerReferences", msg(&OWNER_REFERENCE)),
        list(14, "finalizers", STR),
        list(17, "managedFields", msg(&MANAGED_FIELDS_ENTRY)),
    ],
};

static OWNER_REFERENCE: Msg = Msg {
    fields: &[
        keep(5, "apiVersion", STR),
        keep(1, "kind", STR),
        keep(3, "name", STR),
        keep(4, "uid", STR),
        keep(6, "controller", BOOL),
        keep(7, "blockOwnerDeletion", BOOL),
    ],
};

static MANAGED_FIELDS_ENTRY: Msg = Msg {
    fields: &[
        val(1, "manager", STR),
        val(2, "operation", STR),
        val(3, "apiVersion", STR),
        keep(4, "time", TIME),
        val(6, "fieldsType", STR),
        keep(7, "fieldsV1", RAW_JSON),
        val(8, "subresource", STR),
    ],
};

pub(super) static LABEL_SELECTOR: Msg = Msg {
    fields: &[
        map(1, "matchLabels", STR),
        list(2, "matchExpressions", msg(&LABEL_SELECTOR_REQUIREMENT)),
    ],
};

static LABEL_SELECTOR_REQUIREMENT: Msg = Msg {
    fields: &[
        keep(1, "key", STR),
        keep(2, "operator", STR),
        list(3, "values", STR),
    ],
};

pub(super) static CONDITION: Msg = Msg {
    fields: &[
        keep(1, "type", STR),
        keep(2, "status", STR),
        val(3, "observedGeneration", I64),
        keep(4, "lastTransitionTime", TIME),
        keep(5, "reason", STR),
        keep(6, "message", STR),
    ],
};

pub(super) static DELETE_OPTIONS: Msg = Msg {
    fields: &[
        keep(1, "gracePeriodSeconds", I64),
        keep(2, "preconditions", msg(&PRECONDITIONS)),
        keep(3, "orphanDependents", BOOL),
        keep(4, "propagationPolicy", STR),
        list(5, "dryRun", STR),
    ],
};

static PRECONDITIONS: Msg = Msg {
    fields: &[keep(1, "uid", STR), keep(2, "resourceVersion", STR)],
};
