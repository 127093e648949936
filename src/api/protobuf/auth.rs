//! Tables for `authentication.k8s.io/v1` (TokenRequest, TokenReview, SelfSubjectReview) and
//! `authorization.k8s.io/v1` (access and rules reviews).
//!
//! Contract: field numbers and types are those of the `generated.proto` files of k8s.io/api and
//! k8s.io/apimachinery; `keep` marks Go pointers and fields whose JSON tag lacks `omitempty`;
//! rows are in Go declaration order, which is the key order Go's JSON encoder produces.

use super::meta::OBJECT_META;
use super::table::{keep, list, map, msg, val, Msg, BOOL, I64, STR, STRING_LIST, TIME};

pub(super) static TOKEN_REQUEST: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        keep(2, "spec", msg(&TOKEN_REQUEST_SPEC)),
        val(3, "status", msg(&TOKEN_REQUEST_STATUS)),
    ],
};

static TOKEN_REQUEST_SPEC: Msg = Msg {
    fields: &[
        list(1, "audiences", STR),
        keep(4, "expirationSeconds", I64),
        keep(3, "boundObjectRef", msg(&BOUND_OBJECT_REFERENCE)),
    ],
};

static BOUND_OBJECT_REFERENCE: Msg = Msg {
    fields: &[
        val(1, "kind", STR),
        val(2, "apiVersion", STR),
        val(3, "name", STR),
        // The proto calls it `uID`; the JSON tag is `uid`.
        val(4, "uid", STR),
    ],
};

static TOKEN_REQUEST_STATUS: Msg = Msg {
    fields: &[keep(1, "token", STR), keep(2, "expirationTimestamp", TIME)],
};

pub(super) static TOKEN_REVIEW: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        keep(2, "spec", msg(&TOKEN_REVIEW_SPEC)),
        val(3, "status", msg(&TOKEN_REVIEW_STATUS)),
    ],
};

static TOKEN_REVIEW_SPEC: Msg = Msg {
    fields: &[val(1, "token", STR), list(2, "audiences", STR)],
};

static TOKEN_REVIEW_STATUS: Msg = Msg {
    fields: &[
        val(1, "authenticated", BOOL),
        val(2, "user", msg(&USER_INFO)),
        list(4, "audiences", STR),
        val(3, "error", STR),
    ],
};

static USER_INFO: Msg = Msg {
    fields: &[
        val(1, "username", STR),
        val(2, "uid", STR),
        list(3, "groups", STR),
        map(4, "extra", STRING_LIST),
    ],
};

/// Numbers confirmed against the body `kubectl auth whoami` sends (metadata 1, status 2,
/// status.userInfo 1).
pub(super) static SELF_SUBJECT_REVIEW: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "status", msg(&SELF_SUBJECT_REVIEW_STATUS)),
    ],
};

static SELF_SUBJECT_REVIEW_STATUS: Msg = Msg {
    fields: &[val(1, "userInfo", msg(&USER_INFO))],
};

// --- authorization.k8s.io/v1 -----------------------------------------------------------------

pub(super) static SELF_SUBJECT_ACCESS_REVIEW: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        keep(2, "spec", msg(&SELF_SUBJECT_ACCESS_REVIEW_SPEC)),
        val(3, "status", msg(&SUBJECT_ACCESS_REVIEW_STATUS)),
    ],
};

static SELF_SUBJECT_ACCESS_REVIEW_SPEC: Msg = Msg {
    fields: &[
        keep(1, "resourceAttributes", msg(&RESOURCE_ATTRIBUTES)),
        keep(2, "nonResourceAttributes", msg(&NON_RESOURCE_ATTRIBUTES)),
    ],
};

static RESOURCE_ATTRIBUTES: Msg = Msg {
    fields: &[
        val(1, "namespace", STR),
        val(2, "verb", STR),
        val(3, "group", STR),
        val(4, "version", STR),
        val(5, "resource", STR),
        val(6, "subresource", STR),
        val(7, "name", STR),
    ],
};

static NON_RESOURCE_ATTRIBUTES: Msg = Msg {
    fields: &[val(1, "path", STR), val(2, "verb", STR)],
};

static SUBJECT_ACCESS_REVIEW_STATUS: Msg = Msg {
    fields: &[
        keep(1, "allowed", BOOL),
        val(4, "denied", BOOL),
        val(2, "reason", STR),
        val(3, "evaluationError", STR),
    ],
};

/// `SubjectAccessReview` and `LocalSubjectAccessReview` share one shape.
pub(super) static SUBJECT_ACCESS_REVIEW: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        keep(2, "spec", msg(&SUBJECT_ACCESS_REVIEW_SPEC)),
        val(3, "status", msg(&SUBJECT_ACCESS_REVIEW_STATUS)),
    ],
};

static SUBJECT_ACCESS_REVIEW_SPEC: Msg = Msg {
    fields: &[
        keep(1, "resourceAttributes", msg(&RESOURCE_ATTRIBUTES)),
        keep(2, "nonResourceAttributes", msg(&NON_RESOURCE_ATTRIBUTES)),
        val(3, "user", STR),
        list(4, "groups", STR),
        map(5, "extra", STRING_LIST),
        val(6, "uid", STR),
    ],
};

pub(super) static SELF_SUBJECT_RULES_REVIEW: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        keep(2, "spec", msg(&SELF_SUBJECT_RULES_REVIEW_SPEC)),
        val(3, "status", msg(&SUBJECT_RULES_REVIEW_STATUS)),
    ],
};

static SELF_SUBJECT_RULES_REVIEW_SPEC: Msg = Msg {
    fields: &[val(1, "namespace", STR)],
};

static SUBJECT_RULES_REVIEW_STATUS: Msg = Msg {
    fields: &[
        list(1, "resourceRules", msg(&RESOURCE_RULE)),
        list(2, "nonResourceRules", msg(&NON_RESOURCE_RULE)),
        keep(3, "incomplete", BOOL),
        val(4, "evaluationError", STR),
    ],
};

static RESOURCE_RULE: Msg = Msg {
    fields: &[
        list(1, "verbs", STR),
        list(2, "apiGroups", STR),
        list(3, "resources", STR),
        list(4, "resourceNames", STR),
    ],
};

static NON_RESOURCE_RULE: Msg = Msg {
    fields: &[list(1, "verbs", STR), list(2, "nonResourceURLs", STR)],
};
