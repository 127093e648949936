//! Tables for `policy/v1`: Eviction and PodDisruptionBudget.
//!
//! Contract: field numbers and types are those of the `generated.proto` files of k8s.io/api and
//! k8s.io/apimachinery; `keep` marks Go pointers and fields whose JSON tag lacks `omitempty`;
//! rows are in Go declaration order, which is the key order Go's JSON encoder produces.

use super::meta::{CONDITION, DELETE_OPTIONS, LABEL_SELECTOR, OBJECT_META};
use super::table::{keep, list, map, msg, val, Msg, I32, I64, INT_OR_STRING, STR, TIME};

pub(super) static EVICTION: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        keep(2, "deleteOptions", msg(&DELETE_OPTIONS)),
    ],
};

pub(super) static POD_DISRUPTION_BUDGET: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&POD_DISRUPTION_BUDGET_SPEC)),
        val(3, "status", msg(&POD_DISRUPTION_BUDGET_STATUS)),
    ],
};

static POD_DISRUPTION_BUDGET_SPEC: Msg = Msg {
    fields: &[
        keep(1, "minAvailable", INT_OR_STRING),
        keep(2, "selector", msg(&LABEL_SELECTOR)),
        keep(3, "maxUnavailable", INT_OR_STRING),
        keep(4, "unhealthyPodEvictionPolicy", STR),
        keep(5, "availabilityMode", STR),
    ],
};

static POD_DISRUPTION_BUDGET_STATUS: Msg = Msg {
    fields: &[
        val(1, "observedGeneration", I64),
        map(2, "disruptedPods", TIME),
        keep(3, "disruptionsAllowed", I32),
        keep(4, "currentHealthy", I32),
        keep(5, "desiredHealthy", I32),
        keep(6, "expectedPods", I32),
        list(7, "conditions", msg(&CONDITION)),
    ],
};
