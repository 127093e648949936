//! Printers for volumes and storage: PersistentVolume(Claim)s and the storage.k8s.io kinds.

use serde_json::Value;

use super::fields::{age, bool_of, count, get, has, list_of, name, opt_bool, opt_str, s, str_of};
use super::quantity;
use super::{col, wide, Col, Printer, AGE, NAME};

pub(super) const PRINTERS: &[Printer] = &[
    Printer {
        group: "",
        kind: "PersistentVolume",
        columns: PERSISTENT_VOLUME,
        cells: persistent_volume,
    },
    Printer {
        group: "",
        kind: "PersistentVolumeClaim",
        columns: PERSISTENT_VOLUME_CLAIM,
        cells: persistent_volume_claim,
    },
    Printer {
        group: "storage.k8s.io",
        kind: "StorageClass",
        columns: STORAGE_CLASS,
        cells: storage_class,
    },
    Printer {
        group: "storage.k8s.io",
        kind: "CSIDriver",
        columns: CSI_DRIVER,
        cells: csi_driver,
    },
    Printer {
        group: "storage.k8s.io",
        kind: "VolumeAttachment",
        columns: VOLUME_ATTACHMENT,
        cells: volume_attachment,
    },
    Printer {
        group: "storage.k8s.io",
        kind: "CSINode",
        columns: CSI_NODE,
        cells: csi_node,
    },
    Printer {
        group: "storage.k8s.io",
        kind: "CSIStorageCapacity",
        columns: CSI_STORAGE_CAPACITY,
        cells: csi_storage_capacity,
    },
    Printer {
        group: "storage.k8s.io",
        kind: "VolumeAttributesClass",
        columns: VOLUME_ATTRIBUTES_CLASS,
        cells: volume_attributes_class,
    },
];

/// The legacy annotation still wins over `storageClassName`.
const BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

/// `GetAccessModesAsString`: de-duplicated, always in the order RWO, ROX, RWX, RWOP.
fn access_modes(o: &Value, path: &[&str]) -> String {
    let modes = list_of(o, path);
    let has_mode = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| has_mode(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

fn storage_class_of(o: &Value, spec_field: &str) -> String {
    match get(o, &["metadata", "annotations", BETA_STORAGE_CLASS]) {
        Some(v) => v.as_str().unwrap_or_default().to_string(),
        None => str_of(o, &["spec", spec_field]).to_string(),
    }
}

const PERSISTENT_VOLUME: &[Col] = &[
    NAME,
    col(
        "Capacity",
        "string",
        "capacity is the description of the persistent volume's resources and capacity.",
    ),
    col(
        "Access Modes",
        "string",
        "accessModes contains all ways the volume can be mounted.",
    ),
    col(
        "Reclaim Policy",
        "string",
        "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim.",
    ),
    col(
        "Status",
        "string",
        "phase indicates if a volume is available, bound to a claim, or released by a claim.",
    ),
    col(
        "Claim",
        "string",
        "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim.",
    ),
    col("StorageClass", "string", "StorageClass of the pv"),
    col(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pv",
    ),
    col(
        "Reason",
        "string",
        "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.",
    ),
    AGE,
    wide(
        "VolumeMode",
        "string",
        "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state.",
    ),
];

fn terminating_or_phase(o: &Value) -> String {
    if has(o, &["metadata", "deletionTimestamp"]) {
        "Terminating".to_string()
    } else {
        str_of(o, &["status", "phase"]).to_string()
    }
}

fn persistent_volume(o: &Value, now: i64) -> Vec<Value> {
    let claim = if has(o, &["spec", "claimRef"]) {
        format!(
            "{}/{}",
            str_of(o, &["spec", "claimRef", "namespace"]),
            str_of(o, &["spec", "claimRef", "name"])
        )
    } else {
        String::new()
    };
    vec![
        s(name(o)),
        s(quantity::canonical(get(
            o,
            &["spec", "capacity", "storage"],
        ))),
        s(access_modes(o, &["spec", "accessModes"])),
        s(str_of(o, &["spec", "persistentVolumeReclaimPolicy"])),
        s(terminating_or_phase(o)),
        s(claim),
        s(storage_class_of(o, "storageClassName")),
        s(opt_str(o, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>")),
        s(str_of(o, &["status", "reason"])),
        s(age(o, now)),
        s(opt_str(o, &["spec", "volumeMode"]).unwrap_or("<unset>")),
    ]
}

const PERSISTENT_VOLUME_CLAIM: &[Col] = &[
    NAME,
    col(
        "Status",
        "string",
        "phase represents the current phase of PersistentVolumeClaim.",
    ),
    col(
        "Volume",
        "string",
        "volumeName is the binding reference to the PersistentVolume backing this claim.",
    ),
    col(
        "Capacity",
        "string",
        "capacity represents the actual resources of the underlying volume.",
    ),
    col(
        "Access Modes",
        "string",
        "accessModes contains the actual access modes the volume backing the PVC has.",
    ),
    col("StorageClass", "string", "StorageClass of the pvc"),
    col(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pvc",
    ),
    AGE,
    wide(
        "VolumeMode",
        "string",
        "volumeMode defines what type of volume is required by the claim. Value of Filesystem is implied when not included in claim spec.",
    ),
];

fn persistent_volume_claim(o: &Value, now: i64) -> Vec<Value> {
    let volume = str_of(o, &["spec", "volumeName"]);
    // Capacity and access modes are only shown once the claim is bound to a volume.
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity::canonical(get(o, &["status", "capacity", "storage"])),
            access_modes(o, &["status", "accessModes"]),
        )
    };
    vec![
        s(name(o)),
        s(terminating_or_phase(o)),
        s(volume),
        s(capacity),
        s(modes),
        s(storage_class_of(o, "storageClassName")),
        s(opt_str(o, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>")),
        s(age(o, now)),
        s(opt_str(o, &["spec", "volumeMode"]).unwrap_or("<unset>")),
    ]
}

const STORAGE_CLASS: &[Col] = &[
    NAME,
    col(
        "Provisioner",
        "string",
        "provisioner indicates the type of the provisioner.",
    ),
    col(
        "ReclaimPolicy",
        "string",
        "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class. Defaults to Delete.",
    ),
    col(
        "VolumeBindingMode",
        "string",
        "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound. When unset, VolumeBindingImmediate is used.",
    ),
    col(
        "AllowVolumeExpansion",
        "string",
        "allowVolumeExpansion shows whether the storage class allow volume expand.",
    ),
    AGE,
];

/// `(default)` is appended when either the GA or the beta annotation says `"true"`.
fn default_marked(o: &Value, annotations: &[&str]) -> bool {
    annotations
        .iter()
        .any(|a| str_of(o, &["metadata", "annotations", a]) == "true")
}

fn storage_class(o: &Value, now: i64) -> Vec<Value> {
    let mut title = name(o).to_string();
    if default_marked(
        o,
        &[
            "storageclass.kubernetes.io/is-default-class",
            "storageclass.beta.kubernetes.io/is-default-class",
        ],
    ) {
        title.push_str(" (default)");
    }
    vec![
        s(title),
        s(str_of(o, &["provisioner"])),
        s(opt_str(o, &["reclaimPolicy"]).unwrap_or("Delete")),
        s(opt_str(o, &["volumeBindingMode"]).unwrap_or("Immediate")),
        Value::Bool(bool_of(o, &["allowVolumeExpansion"])),
        s(age(o, now)),
    ]
}

const CSI_DRIVER: &[Col] = &[
    NAME,
    col(
        "AttachRequired",
        "boolean",
        "attachRequired indicates this CSI volume driver requires an attach operation.",
    ),
    col(
        "PodInfoOnMount",
        "boolean",
        "podInfoOnMount indicates this CSI volume driver requires additional pod information (like podName, podUID, etc.) during mount operations.",
    ),
    col(
        "StorageCapacity",
        "boolean",
        "storageCapacity indicates that the CSI volume driver wants pod scheduling to consider the storage capacity that the driver deployment will report.",
    ),
    col(
        "TokenRequests",
        "string",
        "tokenRequests indicates the CSI driver needs pods' service account tokens it is mounting volume for to do necessary authentication.",
    ),
    col(
        "RequiresRepublish",
        "boolean",
        "requiresRepublish indicates the CSI driver wants `NodePublishVolume` being periodically called to reflect any possible change in the mounted volume.",
    ),
    col(
        "Modes",
        "string",
        "volumeLifecycleModes defines what kind of volumes this CSI volume driver supports.",
    ),
    AGE,
];

fn csi_driver(o: &Value, now: i64) -> Vec<Value> {
    let flag =
        |field: &str, default: bool| Value::Bool(opt_bool(o, &["spec", field]).unwrap_or(default));
    let tokens = match get(o, &["spec", "tokenRequests"]) {
        None => "<unset>".to_string(),
        Some(_) => list_of(o, &["spec", "tokenRequests"])
            .iter()
            .map(|t| str_of(t, &["audience"]))
            .collect::<Vec<_>>()
            .join(","),
    };
    let modes: Vec<&str> = list_of(o, &["spec", "volumeLifecycleModes"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let modes = if modes.is_empty() {
        "<none>".to_string()
    } else {
        modes.join(",")
    };
    vec![
        s(name(o)),
        flag("attachRequired", true),
        flag("podInfoOnMount", false),
        flag("storageCapacity", false),
        s(tokens),
        flag("requiresRepublish", false),
        s(modes),
        s(age(o, now)),
    ]
}

const VOLUME_ATTACHMENT: &[Col] = &[
    NAME,
    Col {
        format: "name",
        ..col(
            "Attacher",
            "string",
            "attacher indicates the name of the volume driver that MUST handle this request.",
        )
    },
    col(
        "PV",
        "string",
        "persistentVolumeName represents the name of the persistent volume to attach.",
    ),
    col(
        "Node",
        "string",
        "nodeName represents the node that the volume should be attached to.",
    ),
    col(
        "Attached",
        "boolean",
        "attached indicates the volume is successfully attached.",
    ),
    AGE,
];

fn volume_attachment(o: &Value, now: i64) -> Vec<Value> {
    vec![
        s(name(o)),
        s(str_of(o, &["spec", "attacher"])),
        s(str_of(o, &["spec", "source", "persistentVolumeName"])),
        s(str_of(o, &["spec", "nodeName"])),
        Value::Bool(bool_of(o, &["status", "attached"])),
        s(age(o, now)),
    ]
}

const CSI_NODE: &[Col] = &[
    NAME,
    col(
        "Drivers",
        "integer",
        "Drivers indicates the number of CSI drivers registered on the node",
    ),
    AGE,
];

fn csi_node(o: &Value, now: i64) -> Vec<Value> {
    vec![
        s(name(o)),
        count(list_of(o, &["spec", "drivers"]).len()),
        s(age(o, now)),
    ]
}

const CSI_STORAGE_CAPACITY: &[Col] = &[
    NAME,
    col(
        "StorageClassName",
        "string",
        "storageClassName represents the name of the StorageClass that the reported capacity applies to.",
    ),
    col(
        "Capacity",
        "string",
        "capacity is the value reported by the CSI driver in its GetCapacityResponse for a GetCapacityRequest with topology and parameters that match the previous fields.",
    ),
];

fn csi_storage_capacity(o: &Value, _now: i64) -> Vec<Value> {
    let capacity = match get(o, &["capacity"]) {
        None => "<unset>".to_string(),
        some => quantity::canonical(some),
    };
    vec![s(name(o)), s(str_of(o, &["storageClassName"])), s(capacity)]
}

const VOLUME_ATTRIBUTES_CLASS: &[Col] = &[
    NAME,
    col(
        "DriverName",
        "string",
        "Name of the CSI driver This field is immutable.",
    ),
    AGE,
];

fn volume_attributes_class(o: &Value, now: i64) -> Vec<Value> {
    let mut title = name(o).to_string();
    if default_marked(
        o,
        &["storage.kubernetes.io/is-default-volume-attributes-class"],
    ) {
        title.push_str(" (default)");
    }
    vec![s(title), s(str_of(o, &["driverName"])), s(age(o, now))]
}

#[cfg(test)]
mod tests {
    use super::super::{cells, columns};
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn persistent_volumes() {
        let names: Vec<String> = columns("", "PersistentVolume")
            .into_iter()
            .filter(|c| c.priority == 0)
            .map(|c| c.name.to_uppercase())
            .collect();
        assert_eq!(
            names,
            [
                "NAME",
                "CAPACITY",
                "ACCESS MODES",
                "RECLAIM POLICY",
                "STATUS",
                "CLAIM",
                "STORAGECLASS",
                "VOLUMEATTRIBUTESCLASS",
                "REASON",
                "AGE"
            ]
        );
        let pv = json!({
            "metadata": {"name": "pv-1", "creationTimestamp": "2023-11-14T22:13:00Z"},
            "spec": {"capacity": {"storage": "1.5Gi"},
                     "accessModes": ["ReadWriteMany", "ReadWriteOnce", "ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "local",
                     "claimRef": {"namespace": "db", "name": "data-0"}, "volumeMode": "Filesystem"},
            "status": {"phase": "Bound"}
        });
        assert_eq!(
            cells("", "PersistentVolume", &pv, NOW),
            vec![
                json!("pv-1"),
                json!("1536Mi"),
                json!("RWO,RWX"),
                json!("Retain"),
                json!("Bound"),
                json!("db/data-0"),
                json!("local"),
                json!("<unset>"),
                json!(""),
                json!("20s"),
                json!("Filesystem"),
            ]
        );
    }

    #[test]
    fn claims() {
        let pending = json!({
            "metadata": {"name": "data-0", "annotations": {"volume.beta.kubernetes.io/storage-class": "old"}},
            "spec": {"storageClassName": "new", "resources": {"requests": {"storage": "1Gi"}}},
            "status": {"phase": "Pending"}
        });
        assert_eq!(
            cells("", "PersistentVolumeClaim", &pending, NOW)[1..7],
            [
                json!("Pending"),
                json!(""),
                json!(""),
                json!(""),
                json!("old"),
                json!("<unset>")
            ]
        );
        let bound = json!({
            "metadata": {"name": "data-0", "deletionTimestamp": "2023-11-14T22:13:00Z"},
            "spec": {"volumeName": "pv-1", "storageClassName": "local", "volumeMode": "Block"},
            "status": {"phase": "Bound", "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOncePod"]}
        });
        let row = cells("", "PersistentVolumeClaim", &bound, NOW);
        assert_eq!(
            row[1..6],
            [
                json!("Terminating"),
                json!("pv-1"),
                json!("10Gi"),
                json!("RWOP"),
                json!("local")
            ]
        );
        assert_eq!(row[8], json!("Block"));
    }

    #[test]
    fn classes_drivers_attachments() {
        let sc = json!({"metadata": {"name": "standard",
                                     "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                        "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"});
        assert_eq!(
            cells("storage.k8s.io", "StorageClass", &sc, NOW)[..5],
            [
                json!("standard (default)"),
                json!("rancher.io/local-path"),
                json!("Delete"),
                json!("WaitForFirstConsumer"),
                json!(false)
            ]
        );
        let drv = json!({"metadata": {"name": "csi.example.com"},
                         "spec": {"podInfoOnMount": true, "tokenRequests": [{"audience": "vault"}, {"audience": "api"}],
                                  "volumeLifecycleModes": ["Persistent", "Ephemeral"]}});
        assert_eq!(
            cells("storage.k8s.io", "CSIDriver", &drv, NOW)[..7],
            [
                json!("csi.example.com"),
                json!(true),
                json!(true),
                json!(false),
                json!("vault,api"),
                json!(false),
                json!("Persistent,Ephemeral")
            ]
        );
        let bare = json!({"metadata": {"name": "d"}});
        assert_eq!(
            cells("storage.k8s.io", "CSIDriver", &bare, NOW)[4..7],
            [json!("<unset>"), json!(false), json!("<none>")]
        );
        let va = json!({"metadata": {"name": "csi-123"},
                        "spec": {"attacher": "csi.example.com", "nodeName": "n1",
                                 "source": {"persistentVolumeName": "pv-1"}},
                        "status": {"attached": true}});
        assert_eq!(
            cells("storage.k8s.io", "VolumeAttachment", &va, NOW)[..5],
            [
                json!("csi-123"),
                json!("csi.example.com"),
                json!("pv-1"),
                json!("n1"),
                json!(true)
            ]
        );
    }
}
