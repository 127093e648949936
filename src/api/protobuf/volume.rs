//! Tables for `core/v1` volumes and claims: the volume sources a pod spec may carry,
//! projections, and PersistentVolumeClaim.
//!
//! Contract: field numbers and types are those of the `generated.proto` files of k8s.io/api and
//! k8s.io/apimachinery; `keep` marks Go pointers and fields whose JSON tag lacks `omitempty`;
//! rows are in Go declaration order, which is the key order Go's JSON encoder produces.

use super::core::{LOCAL_OBJECT_REFERENCE, TYPED_LOCAL_OBJECT_REFERENCE, TYPED_OBJECT_REFERENCE};
use super::meta::{LABEL_SELECTOR, OBJECT_META};
use super::pod::{OBJECT_FIELD_SELECTOR, RESOURCE_FIELD_SELECTOR};
use super::table::{inline, keep, list, map, msg, val, Msg, BOOL, I32, I64, QUANTITY, STR};

pub(super) static VOLUME: Msg = Msg {
    fields: &[keep(1, "name", STR), inline(2, &VOLUME_SOURCE)],
};

/// The common volume sources; deprecated in-tree cloud plugins are skipped as unknown fields.
static VOLUME_SOURCE: Msg = Msg {
    fields: &[
        keep(1, "hostPath", msg(&HOST_PATH_VOLUME_SOURCE)),
        keep(2, "emptyDir", msg(&EMPTY_DIR_VOLUME_SOURCE)),
        keep(6, "secret", msg(&SECRET_VOLUME_SOURCE)),
        keep(7, "nfs", msg(&NFS_VOLUME_SOURCE)),
        keep(10, "persistentVolumeClaim", msg(&PVC_VOLUME_SOURCE)),
        keep(16, "downwardAPI", msg(&DOWNWARD_API_VOLUME_SOURCE)),
        keep(19, "configMap", msg(&CONFIG_MAP_VOLUME_SOURCE)),
        keep(26, "projected", msg(&PROJECTED_VOLUME_SOURCE)),
        keep(28, "csi", msg(&CSI_VOLUME_SOURCE)),
        keep(29, "ephemeral", msg(&EPHEMERAL_VOLUME_SOURCE)),
        keep(30, "image", msg(&IMAGE_VOLUME_SOURCE)),
    ],
};

static HOST_PATH_VOLUME_SOURCE: Msg = Msg {
    fields: &[keep(1, "path", STR), keep(2, "type", STR)],
};

static EMPTY_DIR_VOLUME_SOURCE: Msg = Msg {
    fields: &[val(1, "medium", STR), keep(2, "sizeLimit", QUANTITY)],
};

static SECRET_VOLUME_SOURCE: Msg = Msg {
    fields: &[
        val(1, "secretName", STR),
        list(2, "items", msg(&KEY_TO_PATH)),
        keep(3, "defaultMode", I32),
        keep(4, "optional", BOOL),
    ],
};

static CONFIG_MAP_VOLUME_SOURCE: Msg = Msg {
    fields: &[
        inline(1, &LOCAL_OBJECT_REFERENCE),
        list(2, "items", msg(&KEY_TO_PATH)),
        keep(3, "defaultMode", I32),
        keep(4, "optional", BOOL),
    ],
};

static KEY_TO_PATH: Msg = Msg {
    fields: &[
        keep(1, "key", STR),
        keep(2, "path", STR),
        keep(3, "mode", I32),
    ],
};

static NFS_VOLUME_SOURCE: Msg = Msg {
    fields: &[
        keep(1, "server", STR),
        keep(2, "path", STR),
        val(3, "readOnly", BOOL),
    ],
};

static PVC_VOLUME_SOURCE: Msg = Msg {
    fields: &[keep(1, "claimName", STR), val(2, "readOnly", BOOL)],
};

static DOWNWARD_API_VOLUME_SOURCE: Msg = Msg {
    fields: &[
        list(1, "items", msg(&DOWNWARD_API_VOLUME_FILE)),
        keep(2, "defaultMode", I32),
    ],
};

static DOWNWARD_API_VOLUME_FILE: Msg = Msg {
    fields: &[
        keep(1, "path", STR),
        keep(2, "fieldRef", msg(&OBJECT_FIELD_SELECTOR)),
        keep(3, "resourceFieldRef", msg(&RESOURCE_FIELD_SELECTOR)),
        keep(4, "mode", I32),
    ],
};

static PROJECTED_VOLUME_SOURCE: Msg = Msg {
    fields: &[
        list(1, "sources", msg(&VOLUME_PROJECTION)),
        keep(2, "defaultMode", I32),
    ],
};

static VOLUME_PROJECTION: Msg = Msg {
    fields: &[
        keep(1, "secret", msg(&KEY_PROJECTION)),
        keep(2, "downwardAPI", msg(&DOWNWARD_API_PROJECTION)),
        keep(3, "configMap", msg(&KEY_PROJECTION)),
        keep(
            4,
            "serviceAccountToken",
            msg(&SERVICE_ACCOUNT_TOKEN_PROJECTION),
        ),
        keep(
            5,
            "clusterTrustBundle",
            msg(&CLUSTER_TRUST_BUNDLE_PROJECTION),
        ),
    ],
};

/// `SecretProjection` and `ConfigMapProjection` share numbers and names.
static KEY_PROJECTION: Msg = Msg {
    fields: &[
        inline(1, &LOCAL_OBJECT_REFERENCE),
        list(2, "items", msg(&KEY_TO_PATH)),
        keep(4, "optional", BOOL),
    ],
};

static DOWNWARD_API_PROJECTION: Msg = Msg {
    fields: &[list(1, "items", msg(&DOWNWARD_API_VOLUME_FILE))],
};

static SERVICE_ACCOUNT_TOKEN_PROJECTION: Msg = Msg {
    fields: &[
        val(1, "audience", STR),
        keep(2, "expirationSeconds", I64),
        keep(3, "path", STR),
    ],
};

static CLUSTER_TRUST_BUNDLE_PROJECTION: Msg = Msg {
    fields: &[
        keep(1, "name", STR),
        keep(2, "signerName", STR),
        keep(3, "labelSelector", msg(&LABEL_SELECTOR)),
        keep(5, "optional", BOOL),
        keep(4, "path", STR),
    ],
};

static CSI_VOLUME_SOURCE: Msg = Msg {
    fields: &[
        keep(1, "driver", STR),
        keep(2, "readOnly", BOOL),
        keep(3, "fsType", STR),
        map(4, "volumeAttributes", STR),
        keep(5, "nodePublishSecretRef", msg(&LOCAL_OBJECT_REFERENCE)),
    ],
};

static EPHEMERAL_VOLUME_SOURCE: Msg = Msg {
    fields: &[keep(1, "volumeClaimTemplate", msg(&PVC_TEMPLATE))],
};

static PVC_TEMPLATE: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        keep(2, "spec", msg(&PERSISTENT_VOLUME_CLAIM_SPEC)),
    ],
};

static IMAGE_VOLUME_SOURCE: Msg = Msg {
    fields: &[val(1, "reference", STR), val(2, "pullPolicy", STR)],
};

pub(super) static PERSISTENT_VOLUME_CLAIM: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&PERSISTENT_VOLUME_CLAIM_SPEC)),
    ],
};

static PERSISTENT_VOLUME_CLAIM_SPEC: Msg = Msg {
    fields: &[
        list(1, "accessModes", STR),
        keep(4, "selector", msg(&LABEL_SELECTOR)),
        val(2, "resources", msg(&VOLUME_RESOURCE_REQUIREMENTS)),
        val(3, "volumeName", STR),
        keep(5, "storageClassName", STR),
        keep(6, "volumeMode", STR),
        keep(7, "dataSource", msg(&TYPED_LOCAL_OBJECT_REFERENCE)),
        keep(8, "dataSourceRef", msg(&TYPED_OBJECT_REFERENCE)),
        keep(9, "volumeAttributesClassName", STR),
    ],
};

static VOLUME_RESOURCE_REQUIREMENTS: Msg = Msg {
    fields: &[map(1, "limits", QUANTITY), map(2, "requests", QUANTITY)],
};
