//! Pod and pod-template defaults (`SetDefaults_Pod`, `SetDefaults_PodSpec`,
//! `SetDefaults_Container`, probes, handlers, volumes, resource lists).
//!
//! Contract: fills exactly the fields Kubernetes 1.33 fills for `v1` objects, never overwrites
//! a value that is present, and is idempotent. Pod-only defaults (requests copied from limits,
//! `enableServiceLinks`, host ports under hostNetwork) are applied only when `is_pod` is set,
//! as Kubernetes applies them only to Pods, not to templates.

use super::{ensure_obj, set_default};
use crate::api::validation::quantity;
use serde_json::{json, Map, Value};

/// The image tag as `parsers.ParseImageName` sees it: `Some("latest")` when neither tag nor
/// digest is given, `None` for digest-only or unparseable references.
fn image_tag(image: &str) -> Option<String> {
    let (name, has_digest) = match image.split_once('@') {
        Some((n, _)) => (n, true),
        None => (image, false),
    };
    let last_slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (repo, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    // Reference names must be lower case (the registry host is exempt); otherwise the image
    // does not parse and Kubernetes sees no tag.
    let path_part = match repo.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') || host == "localhost" => {
            rest
        }
        _ => repo,
    };
    if repo.is_empty() || path_part.chars().any(|c| c.is_ascii_uppercase()) {
        return None;
    }
    match tag {
        Some(t) => Some(t.to_string()),
        None if has_digest => None,
        None => Some("latest".to_string()),
    }
}

/// `PullAlways` for `:latest` (or no tag), `PullIfNotPresent` otherwise.
pub fn default_pull_policy(image: &str) -> &'static str {
    if image_tag(image).as_deref() == Some("latest") {
        "Always"
    } else {
        "IfNotPresent"
    }
}

/// `SetDefaults_ResourceList`: rounds every quantity up to milli precision and stores the
/// canonical form, as the API server's decoded-then-encoded object shows it.
pub fn resource_list(list: Option<&mut Value>) {
    let Some(Value::Object(m)) = list else { return };
    for v in m.values_mut() {
        if let Some(Ok(mut q)) = quantity::from_json(v) {
            q.round_up_milli();
            *v = Value::String(q.canonical());
        }
    }
}

fn http_get(handler: &mut Value) {
    if let Some(h) = handler.get_mut("httpGet").and_then(Value::as_object_mut) {
        set_default(h, "path", json!("/"));
        set_default(h, "scheme", json!("HTTP"));
    }
}

fn probe(p: Option<&mut Value>) {
    let Some(p) = p else { return };
    http_get(p);
    if let Some(m) = p.as_object_mut() {
        for (k, v) in [
            ("timeoutSeconds", 1),
            ("periodSeconds", 10),
            ("successThreshold", 1),
            ("failureThreshold", 3),
        ] {
            // Zero means unset for these int32 fields.
            if m.get(k).and_then(Value::as_i64).unwrap_or(0) == 0 {
                m.insert(k.into(), json!(v));
            }
        }
    }
}

fn env_defaults(c: &mut Map<String, Value>) {
    let Some(Value::Array(env)) = c.get_mut("env") else {
        return;
    };
    for e in env {
        let Some(vf) = e.get_mut("valueFrom").and_then(Value::as_object_mut) else {
            continue;
        };
        if let Some(fr) = vf.get_mut("fieldRef").and_then(Value::as_object_mut) {
            set_default(fr, "apiVersion", json!("v1"));
        }
        if let Some(rf) = vf
            .get_mut("resourceFieldRef")
            .and_then(Value::as_object_mut)
        {
            // A zero Quantity still serializes, as "0".
            set_default(rf, "divisor", json!("0"));
        }
    }
}

/// `SetDefaults_Container` plus the defaults of everything nested in a container.
fn container(c: &mut Value) {
    let Some(m) = c.as_object_mut() else { return };
    if m.get("imagePullPolicy")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        let image = m.get("image").and_then(Value::as_str).unwrap_or("");
        m.insert("imagePullPolicy".into(), json!(default_pull_policy(image)));
    }
    if m.get("terminationMessagePath")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        m.insert(
            "terminationMessagePath".into(),
            json!("/dev/termination-log"),
        );
    }
    if m.get("terminationMessagePolicy")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        m.insert("terminationMessagePolicy".into(), json!("File"));
    }
    if let Some(Value::Array(ports)) = m.get_mut("ports") {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            if p.get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                p.insert("protocol".into(), json!("TCP"));
            }
        }
    }
    env_defaults(m);
    for key in ["livenessProbe", "readinessProbe", "startupProbe"] {
        probe(m.get_mut(key));
    }
    if let Some(lc) = m.get_mut("lifecycle").and_then(Value::as_object_mut) {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = lc.get_mut(hook) {
                http_get(h);
            }
        }
    }
    // `resources` is a struct, not a pointer, so it always serializes (as `{}` when empty).
    if let Some(res) = ensure_obj(m, "resources") {
        resource_list(res.get_mut("limits"));
        resource_list(res.get_mut("requests"));
    }
}

const MODE_0644: i64 = 0o644;

fn volume(v: &mut Value) {
    let Some(m) = v.as_object_mut() else { return };
    const SOURCES: &[&str] = &[
        "hostPath",
        "emptyDir",
        "gcePersistentDisk",
        "awsElasticBlockStore",
        "gitRepo",
        "secret",
        "nfs",
        "iscsi",
        "glusterfs",
        "persistentVolumeClaim",
        "rbd",
        "flexVolume",
        "cinder",
        "cephfs",
        "flocker",
        "downwardAPI",
        "fc",
        "azureFile",
        "configMap",
        "vsphereVolume",
        "quobyte",
        "azureDisk",
        "photonPersistentDisk",
        "projected",
        "portworxVolume",
        "scaleIO",
        "storageos",
        "csi",
        "ephemeral",
        "image",
    ];
    if !SOURCES
        .iter()
        .any(|s| m.get(*s).is_some_and(|v| !v.is_null()))
    {
        m.insert("emptyDir".into(), json!({}));
    }
    for key in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(src) = m.get_mut(key).and_then(Value::as_object_mut) {
            set_default(src, "defaultMode", json!(MODE_0644));
        }
    }
    if let Some(hp) = m.get_mut("hostPath").and_then(Value::as_object_mut) {
        set_default(hp, "type", json!(""));
    }
    if let Some(Value::Array(sources)) = m.get_mut("projected").and_then(|p| p.get_mut("sources")) {
        for s in sources {
            if let Some(t) = s
                .get_mut("serviceAccountToken")
                .and_then(Value::as_object_mut)
            {
                set_default(t, "expirationSeconds", json!(3600));
            }
            if let Some(Value::Array(items)) =
                s.get_mut("downwardAPI").and_then(|d| d.get_mut("items"))
            {
                for i in items {
                    if let Some(fr) = i.get_mut("fieldRef").and_then(Value::as_object_mut) {
                        set_default(fr, "apiVersion", json!("v1"));
                    }
                }
            }
        }
    }
    if let Some(Value::Array(items)) = m.get_mut("downwardAPI").and_then(|d| d.get_mut("items")) {
        for i in items {
            if let Some(fr) = i.get_mut("fieldRef").and_then(Value::as_object_mut) {
                set_default(fr, "apiVersion", json!("v1"));
            }
        }
    }
    if let Some(iscsi) = m.get_mut("iscsi").and_then(Value::as_object_mut) {
        set_default(iscsi, "iscsiInterface", json!("default"));
    }
    if let Some(rbd) = m.get_mut("rbd").and_then(Value::as_object_mut) {
        set_default(rbd, "pool", json!("rbd"));
        set_default(rbd, "user", json!("admin"));
        set_default(rbd, "keyring", json!("/etc/ceph/keyring"));
    }
    if let Some(img) = m.get_mut("image").and_then(Value::as_object_mut) {
        if img
            .get("pullPolicy")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            let reference = img.get("reference").and_then(Value::as_str).unwrap_or("");
            let policy = if image_tag(reference).as_deref() == Some("latest") {
                "Always"
            } else {
                "IfNotPresent"
            };
            img.insert("pullPolicy".into(), json!(policy));
        }
    }
    if let Some(spec) = m
        .get_mut("ephemeral")
        .and_then(|e| e.get_mut("volumeClaimTemplate"))
        .and_then(|t| t.get_mut("spec"))
    {
        super::core::pvc_spec(spec);
    }
}

/// `SetDefaults_PodSpec` and everything nested (templates and pods alike).
pub fn pod_spec(spec: &mut Value) {
    let Some(m) = spec.as_object_mut() else {
        return;
    };
    for (k, v) in [
        ("dnsPolicy", "ClusterFirst"),
        ("restartPolicy", "Always"),
        ("schedulerName", "default-scheduler"),
    ] {
        if m.get(k).and_then(Value::as_str).unwrap_or("").is_empty() {
            m.insert(k.into(), json!(v));
        }
    }
    set_default(m, "securityContext", json!({}));
    set_default(m, "terminationGracePeriodSeconds", json!(30));
    for key in ["containers", "initContainers", "ephemeralContainers"] {
        if let Some(Value::Array(cs)) = m.get_mut(key) {
            cs.iter_mut().for_each(container);
        }
    }
    if let Some(Value::Array(vols)) = m.get_mut("volumes") {
        vols.iter_mut().for_each(volume);
    }
    resource_list(m.get_mut("overhead"));
}

/// `SetDefaults_Pod` (on top of [`pod_spec`]).
pub fn pod(pod: &mut Value) {
    let Some(spec) = pod.get_mut("spec") else {
        return;
    };
    pod_only(spec);
    pod_spec(spec);
}

fn pod_only(spec: &mut Value) {
    let Some(m) = spec.as_object_mut() else {
        return;
    };
    for key in ["containers", "initContainers"] {
        let Some(Value::Array(cs)) = m.get_mut(key) else {
            continue;
        };
        for c in cs.iter_mut().filter_map(Value::as_object_mut) {
            let Some(res) = c.get_mut("resources").and_then(Value::as_object_mut) else {
                continue;
            };
            let Some(limits) = res.get("limits").and_then(Value::as_object).cloned() else {
                continue;
            };
            let Some(requests) = ensure_obj(res, "requests") else {
                continue;
            };
            for (k, v) in limits {
                requests.entry(k).or_insert(v);
            }
        }
    }
    set_default(m, "enableServiceLinks", json!(true));
    if m.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        for key in ["containers", "initContainers"] {
            let Some(Value::Array(cs)) = m.get_mut(key) else {
                continue;
            };
            for c in cs {
                let Some(Value::Array(ports)) = c.get_mut("ports") else {
                    continue;
                };
                for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                    if p.get("hostPort").and_then(Value::as_i64).unwrap_or(0) == 0 {
                        if let Some(cp) = p.get("containerPort").cloned() {
                            p.insert("hostPort".into(), cp);
                        }
                    }
                }
            }
        }
    }
}

/// Defaults for a `PodTemplateSpec` (`template` of workloads and PodTemplates).
pub fn template(t: Option<&mut Value>) {
    if let Some(spec) = t.and_then(|t| t.get_mut("spec")) {
        pod_spec(spec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_from_tag() {
        assert_eq!(default_pull_policy("nginx"), "Always");
        assert_eq!(default_pull_policy("nginx:latest"), "Always");
        assert_eq!(default_pull_policy("nginx:1.27"), "IfNotPresent");
        assert_eq!(default_pull_policy("registry:5000/team/app"), "Always");
        assert_eq!(
            default_pull_policy("registry:5000/team/app:v1"),
            "IfNotPresent"
        );
        assert_eq!(default_pull_policy("nginx@sha256:abc"), "IfNotPresent");
        assert_eq!(default_pull_policy("NGINX"), "IfNotPresent");
        assert_eq!(default_pull_policy(""), "IfNotPresent");
    }

    #[test]
    fn pod_defaults() {
        let mut p = json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
            "ports": [{"containerPort": 80}], "resources": {"limits": {"cpu": "0.5", "memory": "1024Mi"}},
            "livenessProbe": {"httpGet": {"port": 80}}}], "volumes": [{"name": "v"}, {"name": "s", "secret": {"secretName": "x"}}]}});
        pod(&mut p);
        assert_eq!(
            p["spec"],
            json!({"containers": [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}},
                "livenessProbe": {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
                "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}],
                "volumes": [{"name": "v", "emptyDir": {}}, {"name": "s", "secret": {"secretName": "x", "defaultMode": 420}}],
                "enableServiceLinks": true, "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                "securityContext": {}, "terminationGracePeriodSeconds": 30})
        );
        let once = p.clone();
        pod(&mut p);
        assert_eq!(p, once);
    }

    #[test]
    fn templates_skip_pod_only_defaults() {
        let mut t = json!({"spec": {"containers": [{"name": "a", "image": "x", "resources": {"limits": {"cpu": "1"}}}]}});
        template(Some(&mut t));
        assert!(t["spec"].get("enableServiceLinks").is_none());
        assert!(t["spec"]["containers"][0]["resources"]
            .get("requests")
            .is_none());
        assert_eq!(t["spec"]["containers"][0]["imagePullPolicy"], "Always");
    }
}
