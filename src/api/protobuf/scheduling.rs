//! Tables for `scheduling.k8s.io/v1`: PriorityClass.
//!
//! Contract: field numbers and types are those of the `generated.proto` files of k8s.io/api and
//! k8s.io/apimachinery; `keep` marks Go pointers and fields whose JSON tag lacks `omitempty`;
//! rows are in Go declaration order, which is the key order Go's JSON encoder produces.

use super::meta::OBJECT_META;
use super::table::{keep, msg, val, Msg, BOOL, I32, STR};

pub(super) static PRIORITY_CLASS: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        keep(2, "value", I32),
        val(3, "globalDefault", BOOL),
        val(4, "description", STR),
        keep(5, "preemptionPolicy", STR),
    ],
};
