//! Tables for `apps/v1`: Deployment, ReplicaSet, DaemonSet and StatefulSet.
//!
//! Contract: field numbers and types are those of the `generated.proto` files of k8s.io/api and
//! k8s.io/apimachinery; `keep` marks Go pointers and fields whose JSON tag lacks `omitempty`;
//! rows are in Go declaration order, which is the key order Go's JSON encoder produces.

use super::meta::{LABEL_SELECTOR, OBJECT_META};
use super::pod::POD_TEMPLATE_SPEC;
use super::table::{keep, list, msg, val, Msg, BOOL, I32, I64, INT_OR_STRING, STR, TIME};
use super::volume::PERSISTENT_VOLUME_CLAIM;

pub(super) static DEPLOYMENT: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&DEPLOYMENT_SPEC)),
        val(3, "status", msg(&DEPLOYMENT_STATUS)),
    ],
};

static DEPLOYMENT_SPEC: Msg = Msg {
    fields: &[
        keep(1, "replicas", I32),
        keep(2, "selector", msg(&LABEL_SELECTOR)),
        keep(3, "template", msg(&POD_TEMPLATE_SPEC)),
        val(4, "strategy", msg(&DEPLOYMENT_STRATEGY)),
        val(5, "minReadySeconds", I32),
        keep(6, "revisionHistoryLimit", I32),
        val(7, "paused", BOOL),
        keep(9, "progressDeadlineSeconds", I32),
    ],
};

static DEPLOYMENT_STRATEGY: Msg = Msg {
    fields: &[
        val(1, "type", STR),
        keep(2, "rollingUpdate", msg(&ROLLING_UPDATE)),
    ],
};

/// `RollingUpdateDeployment` and `RollingUpdateDaemonSet` share numbers and names.
static ROLLING_UPDATE: Msg = Msg {
    fields: &[
        keep(1, "maxUnavailable", INT_OR_STRING),
        keep(2, "maxSurge", INT_OR_STRING),
    ],
};

static DEPLOYMENT_STATUS: Msg = Msg {
    fields: &[
        val(1, "observedGeneration", I64),
        val(2, "replicas", I32),
        val(3, "updatedReplicas", I32),
        val(7, "readyReplicas", I32),
        val(4, "availableReplicas", I32),
        val(5, "unavailableReplicas", I32),
        list(6, "conditions", msg(&DEPLOYMENT_CONDITION)),
        keep(8, "collisionCount", I32),
    ],
};

static DEPLOYMENT_CONDITION: Msg = Msg {
    fields: &[
        keep(1, "type", STR),
        keep(2, "status", STR),
        val(6, "lastUpdateTime", TIME),
        val(7, "lastTransitionTime", TIME),
        val(4, "reason", STR),
        val(5, "message", STR),
    ],
};

pub(super) static REPLICA_SET: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&REPLICA_SET_SPEC)),
    ],
};

static REPLICA_SET_SPEC: Msg = Msg {
    fields: &[
        keep(1, "replicas", I32),
        val(4, "minReadySeconds", I32),
        keep(2, "selector", msg(&LABEL_SELECTOR)),
        val(3, "template", msg(&POD_TEMPLATE_SPEC)),
    ],
};

pub(super) static DAEMON_SET: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&DAEMON_SET_SPEC)),
    ],
};

static DAEMON_SET_SPEC: Msg = Msg {
    fields: &[
        keep(1, "selector", msg(&LABEL_SELECTOR)),
        keep(2, "template", msg(&POD_TEMPLATE_SPEC)),
        val(3, "updateStrategy", msg(&DAEMON_SET_UPDATE_STRATEGY)),
        val(4, "minReadySeconds", I32),
        keep(6, "revisionHistoryLimit", I32),
    ],
};

static DAEMON_SET_UPDATE_STRATEGY: Msg = Msg {
    fields: &[
        val(1, "type", STR),
        keep(2, "rollingUpdate", msg(&ROLLING_UPDATE)),
    ],
};

pub(super) static STATEFUL_SET: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&STATEFUL_SET_SPEC)),
    ],
};

static STATEFUL_SET_SPEC: Msg = Msg {
    fields: &[
        keep(1, "replicas", I32),
        keep(2, "selector", msg(&LABEL_SELECTOR)),
        keep(3, "template", msg(&POD_TEMPLATE_SPEC)),
        list(4, "volumeClaimTemplates", msg(&PERSISTENT_VOLUME_CLAIM)),
        val(5, "serviceName", STR),
        val(6, "podManagementPolicy", STR),
        val(7, "updateStrategy", msg(&STATEFUL_SET_UPDATE_STRATEGY)),
        keep(8, "revisionHistoryLimit", I32),
        val(9, "minReadySeconds", I32),
        keep(
            10,
            "persistentVolumeClaimRetentionPolicy",
            msg(&STATEFUL_SET_PVC_RETENTION_POLICY),
        ),
    ],
};

static STATEFUL_SET_UPDATE_STRATEGY: Msg = Msg {
    fields: &[
        val(1, "type", STR),
        keep(
            2,
            "rollingUpdate",
            msg(&ROLLING_UPDATE_STATEFUL_SET_STRATEGY),
        ),
    ],
};

static ROLLING_UPDATE_STATEFUL_SET_STRATEGY: Msg = Msg {
    fields: &[
        keep(1, "partition", I32),
        keep(2, "maxUnavailable", INT_OR_STRING),
    ],
};

static STATEFUL_SET_PVC_RETENTION_POLICY: Msg = Msg {
    fields: &[val(1, "whenDeleted", STR), val(2, "whenScaled", STR)],
};
