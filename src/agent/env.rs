//! Container environment as the kubelet builds it: `envFrom`, `env` with `$(VAR)` expansion,
//! `valueFrom` (fieldRef, resourceFieldRef, configMapKeyRef, secretKeyRef) and service link
//! variables.
//!
//! Contract: [`expand`] follows Kubernetes' expansion exactly (`$$` escapes, unknown references
//! stay verbatim, an unterminated `$(` is literal). [`build`] returns variables in order:
//! `envFrom` sources, then `env` entries (a later name replaces an earlier one in place), then
//! service variables the pod did not define. Missing required config is an [`EnvError`] whose
//! text becomes the CreateContainerConfigError message.

use std::collections::HashMap;

use base64::Engine;
use serde_json::Value;

use crate::scheduler::resources::{int_value, milli_value};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnvError {
    #[error("configmap \"{0}\" not found")]
    ConfigMapMissing(String),
    #[error("secret \"{0}\" not found")]
    SecretMissing(String),
    #[error("couldn't find key {key} in {kind} {ns}/{name}")]
    KeyMissing {
        kind: &'static str,
        ns: String,
        name: String,
        key: String,
    },
    #[error("unsupported field path {0}")]
    FieldPath(String),
    #[error("unsupported resource {0}")]
    Resource(String),
}

/// Expand `$(VAR)` references in `input` with `lookup`.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let b = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < b.len() {
        if b[cursor] == b'$' && cursor + 1 < b.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let (text, advance) = match rest.as_bytes()[0] {
                b'$' => ("$".to_string(), 1),
                b'(' => match rest[1..].find(')') {
                    Some(end) => {
                        let name = &rest[1..1 + end];
                        let v = lookup(name).unwrap_or_else(|| format!("$({name})"));
                        (v, end + 2)
                    }
                    None => ("$(".to_string(), 1),
                },
                _ => {
                    let ch = rest.chars().next().unwrap_or('$');
                    (format!("${ch}"), ch.len_utf8())
                }
            };
            out.push_str(&text);
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    if checkpoint < input.len() {
        out.push_str(&input[checkpoint..]);
    }
    out
}

/// Expand with a map of defined variables.
pub fn expand_with(input: &str, vars: &[(String, String)]) -> String {
    let map: HashMap<&str, &str> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    expand(input, &|n| map.get(n).map(|v| v.to_string()))
}

/// What `valueFrom` and service links read besides the pod.
pub struct EnvSources<'a> {
    pub node_name: &'a str,
    pub host_ips: &'a [String],
    pub pod_ips: &'a [String],
    /// Node allocatable cpu (milli) and memory (bytes): limits default to these.
    pub alloc_milli_cpu: i64,
    pub alloc_memory: i64,
    pub alloc_ephemeral: i64,
    pub configmap: &'a dyn Fn(&str) -> Option<Value>,
    pub secret: &'a dyn Fn(&str) -> Option<Value>,
    /// Services of the pod's namespace (plus `kubernetes` of `default` when the namespace is
    /// another, as the kubelet adds the master service everywhere).
    pub services: &'a [Value],
}

fn set(vars: &mut Vec<(String, String)>, k: String, v: String) {
    match vars.iter_mut().find(|(n, _)| *n == k) {
        Some(slot) => slot.1 = v,
        None => vars.push((k, v)),
    }
}

/// A valid C identifier-ish env name as Kubernetes accepts from envFrom
/// (`[-._a-zA-Z][-._a-zA-Z0-9]*`).
fn valid_env_name(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || "-._".contains(c))
        && chars.all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
}

fn data_of(obj: &Value, secret: bool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(m) = obj.get("data").and_then(Value::as_object) {
        for (k, v) in m {
            let s = v.as_str().unwrap_or("");
            let val = if secret {
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default()
            } else {
                s.to_string()
            };
            out.push((k.clone(), val));
        }
    }
    if secret {
        if let Some(m) = obj.get("stringData").and_then(Value::as_object) {
            for (k, v) in m {
                out.push((k.clone(), v.as_str().unwrap_or("").to_string()));
            }
        }
    }
    out
}

fn key_ref(
    r: &Value,
    secret: bool,
    ns: &str,
    src: &EnvSources<'_>,
) -> Result<Option<String>, EnvError> {
    let name = r.get("name").and_then(Value::as_str).unwrap_or("");
    let key = r.get("key").and_then(Value::as_str).unwrap_or("");
    let optional = r.get("optional").and_then(Value::as_bool).unwrap_or(false);
    let obj = if secret {
        (src.secret)(name)
    } else {
        (src.configmap)(name)
    };
    let Some(obj) = obj else {
        if optional {
            return Ok(None);
        }
        return Err(if secret {
            EnvError::SecretMissing(name.into())
        } else {
            EnvError::ConfigMapMissing(name.into())
        });
    };
    match data_of(&obj, secret).into_iter().find(|(k, _)| k == key) {
        Some((_, v)) => Ok(Some(v)),
        None if optional => Ok(None),
        None => Err(EnvError::KeyMissing {
            kind: if secret { "Secret" } else { "ConfigMap" },
            ns: ns.into(),
            name: name.into(),
            key: key.into(),
        }),
    }
}

/// `metadata.labels['x']` style field paths of the downward API.
pub fn field_ref(pod: &Value, path: &str, src: &EnvSources<'_>) -> Result<String, EnvError> {
    let s = |p: &str| {
        pod.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    for (prefix, field) in [
        ("metadata.labels[", "labels"),
        ("metadata.annotations[", "annotations"),
    ] {
        if let Some(rest) = path.strip_prefix(prefix) {
            let key = rest
                .trim_end_matches(']')
                .trim_matches(|c| c == '\'' || c == '"');
            return Ok(pod
                .pointer(&format!("/metadata/{field}"))
                .and_then(|l| l.get(key))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string());
        }
    }
    Ok(match path {
        "metadata.name" => s("/metadata/name"),
        "metadata.namespace" => s("/metadata/namespace"),
        "metadata.uid" => s("/metadata/uid"),
        "spec.nodeName" => src.node_name.to_string(),
        "spec.serviceAccountName" => s("/spec/serviceAccountName"),
        "status.hostIP" => src.host_ips.first().cloned().unwrap_or_default(),
        "status.hostIPs" => src.host_ips.join(","),
        "status.podIP" => src.pod_ips.first().cloned().unwrap_or_default(),
        "status.podIPs" => src.pod_ips.join(","),
        _ => return Err(EnvError::FieldPath(path.into())),
    })
}

/// `resourceFieldRef`: the container's request or limit divided by the divisor, rounded up.
pub fn resource_ref(
    pod: &Value,
    default_container: &Value,
    r: &Value,
    src: &EnvSources<'_>,
) -> Result<String, EnvError> {
    let res = r.get("resource").and_then(Value::as_str).unwrap_or("");
    let container = match r.get("containerName").and_then(Value::as_str) {
        Some(n) if !n.is_empty() => ["containers", "initContainers"]
            .iter()
            .filter_map(|f| pod.pointer(&format!("/spec/{f}")).and_then(Value::as_array))
            .flatten()
            .find(|c| c.get("name").and_then(Value::as_str) == Some(n))
            .unwrap_or(default_container),
        _ => default_container,
    };
    let divisor = r.get("divisor").and_then(|d| match d {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    let (section, kind) = res.split_once('.').unwrap_or(("", ""));
    let q = container
        .pointer(&format!("/resources/{section}/{kind}"))
        .and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
    let ceil_div = |a: i64, b: i64| if b <= 0 { a } else { (a + b - 1) / b };
    match kind {
        "cpu" => {
            let milli = match (&q, section) {
                (Some(q), _) => milli_value(q).unwrap_or(0),
                (None, "limits") => src.alloc_milli_cpu,
                (None, _) => 0,
            };
            let div = divisor.as_deref().and_then(milli_value).unwrap_or(1000);
            // Requests of zero still report 1 when rounded up, as the kubelet does for limits.
            Ok(ceil_div(milli, div).to_string())
        }
        "memory" | "ephemeral-storage" => {
            let bytes = match (&q, section) {
                (Some(q), _) => int_value(q).unwrap_or(0),
                (None, "limits") if kind == "memory" => src.alloc_memory,
                (None, "limits") => src.alloc_ephemeral,
                (None, _) => 0,
            };
            let div = divisor.as_deref().and_then(int_value).unwrap_or(1);
            Ok(ceil_div(bytes, div).to_string())
        }
        _ => Err(EnvError::Resource(res.into())),
    }
}

/// `FOO_SERVICE_HOST`, `FOO_SERVICE_PORT[_NAME]` and the docker-link variables of services.
pub fn service_vars(services: &[Value]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut sorted: Vec<&Value> = services.iter().collect();
    sorted.sort_by_key(|s| s.pointer("/metadata/name").and_then(Value::as_str));
    for svc in sorted {
        let ip = svc
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .unwrap_or("");
        if ip.is_empty() || ip == "None" {
            continue;
        }
        let name = svc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_uppercase()
            .replace('-', "_");
        let ports = svc
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let Some(first) = ports.first() else {
            continue;
        };
        let port_of = |p: &Value| p.get("port").and_then(Value::as_i64).unwrap_or(0);
        out.push((format!("{name}_SERVICE_HOST"), ip.to_string()));
        out.push((format!("{name}_SERVICE_PORT"), port_of(first).to_string()));
        for p in &ports {
            if let Some(pn) = p
                .get("name")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                out.push((
                    format!(
                        "{name}_SERVICE_PORT_{}",
                        pn.to_uppercase().replace('-', "_")
                    ),
                    port_of(p).to_string(),
                ));
            }
        }
        let proto_of = |p: &Value| {
            p.get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("TCP")
                .to_string()
        };
        out.push((
            format!("{name}_PORT"),
            format!(
                "{}://{ip}:{}",
                proto_of(first).to_lowercase(),
                port_of(first)
            ),
        ));
        for p in &ports {
            let (port, proto) = (port_of(p), proto_of(p));
            let prefix = format!("{name}_PORT_{port}_{}", proto.to_uppercase());
            out.push((
                prefix.clone(),
                format!("{}://{ip}:{port}", proto.to_lowercase()),
            ));
            out.push((format!("{prefix}_PROTO"), proto.to_lowercase()));
            out.push((format!("{prefix}_PORT"), port.to_string()));
            out.push((format!("{prefix}_ADDR"), ip.to_string()));
        }
    }
    out
}

/// The container's environment (without the image's, which the runtime spec prepends).
pub fn build(
    pod: &Value,
    container: &Value,
    src: &EnvSources<'_>,
) -> Result<Vec<(String, String)>, EnvError> {
    let ns = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let mut vars: Vec<(String, String)> = Vec::new();
    for from in container
        .get("envFrom")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let prefix = from.get("prefix").and_then(Value::as_str).unwrap_or("");
        for (secret, field) in [(false, "configMapRef"), (true, "secretRef")] {
            let Some(r) = from.get(field) else { continue };
            let name = r.get("name").and_then(Value::as_str).unwrap_or("");
            let optional = r.get("optional").and_then(Value::as_bool).unwrap_or(false);
            let obj = if secret {
                (src.secret)(name)
            } else {
                (src.configmap)(name)
            };
            let Some(obj) = obj else {
                if optional {
                    continue;
                }
                return Err(if secret {
                    EnvError::SecretMissing(name.into())
                } else {
                    EnvError::ConfigMapMissing(name.into())
                });
            };
            let mut data = data_of(&obj, secret);
            data.sort();
            for (k, v) in data {
                let key = format!("{prefix}{k}");
                // Invalid names are skipped (the kubelet records an event about them).
                if valid_env_name(&key) {
                    set(&mut vars, key, v);
                }
            }
        }
    }
    let svc = if pod
        .pointer("/spec/enableServiceLinks")
        .and_then(Value::as_bool)
        .unwrap_or(true)
    {
        service_vars(src.services)
    } else {
        // The master service's variables are always present.
        let master: Vec<Value> = src
            .services
            .iter()
            .filter(|s| {
                s.pointer("/metadata/name").and_then(Value::as_str) == Some("kubernetes")
                    && s.pointer("/metadata/namespace").and_then(Value::as_str) == Some("default")
            })
            .cloned()
            .collect();
        service_vars(&master)
    };
    for e in container
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = e
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let value = if let Some(v) = e.get("value").and_then(Value::as_str) {
            let lookup = |n: &str| {
                vars.iter()
                    .chain(svc.iter())
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.clone())
            };
            expand(v, &lookup)
        } else if let Some(vf) = e.get("valueFrom") {
            if let Some(f) = vf.get("fieldRef") {
                let path = f.get("fieldPath").and_then(Value::as_str).unwrap_or("");
                field_ref(pod, path, src)?
            } else if let Some(r) = vf.get("resourceFieldRef") {
                resource_ref(pod, container, r, src)?
            } else if let Some(r) = vf.get("configMapKeyRef") {
                match key_ref(r, false, ns, src)? {
                    Some(v) => v,
                    None => continue,
                }
            } else if let Some(r) = vf.get("secretKeyRef") {
                match key_ref(r, true, ns, src)? {
                    Some(v) => v,
                    None => continue,
                }
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        set(&mut vars, name, value);
    }
    for (k, v) in svc {
        if !vars.iter().any(|(n, _)| *n == k) {
            vars.push((k, v));
        }
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lookup(n: &str) -> Option<String> {
        match n {
            "VAR_A" => Some("A".into()),
            "VAR_B" => Some("B".into()),
            "VAR_C" => Some("C".into()),
            "VAR_REF" => Some("$(VAR_A)".into()),
            "VAR_EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expansion_matches_kubernetes_cases() {
        let cases = [
            ("$(VAR_A)", "A"),
            ("___$(VAR_B)___", "___B___"),
            ("$(VAR_A)-$(VAR_A)", "A-A"),
            ("f000-$$VAR_A", "f000-$VAR_A"),
            ("foo\\$(VAR_C)bar", "foo\\Cbar"),
            ("foo\\\\$(VAR_C)bar", "foo\\\\Cbar"),
            ("$(VAR_A)$(VAR_B)$(VAR_C)", "ABC"),
            ("$(VAR_REF)", "$(VAR_A)"),
            ("foo$(VAR_EMPTY)bar", "foobar"),
            ("$$(VAR_A)", "$(VAR_A)"),
            ("$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"),
            ("$$$$$$(VAR_A)", "$$$(VAR_A)"),
            ("$(UNKNOWN)", "$(UNKNOWN)"),
            ("$(VAR_A", "$(VAR_A"),
            ("$(", "$("),
            ("$()", "$()"),
            ("$", "$"),
            ("$VAR_A", "$VAR_A"),
            ("$$", "$"),
            ("$$$", "$$"),
            ("foo$", "foo$"),
            ("$(VAR_A)$", "A$"),
            ("$x$(VAR_A)", "$xA"),
            ("é$(VAR_A)é", "éAé"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, &lookup), want, "input {input:?}");
        }
    }

    fn sources<'a>(cm: &'a dyn Fn(&str) -> Option<Value>, svcs: &'a [Value]) -> EnvSources<'a> {
        EnvSources {
            node_name: "node1",
            host_ips: &[],
            pod_ips: &[],
            alloc_milli_cpu: 4000,
            alloc_memory: 8 << 30,
            alloc_ephemeral: 100 << 30,
            configmap: cm,
            secret: cm,
            services: svcs,
        }
    }

    #[test]
    fn builds_env_from_all_sources_in_kubernetes_order() {
        let cm = |n: &str| (n == "cfg").then(|| json!({"data": {"A": "1", "bad key": "x"}}));
        let svcs = [json!({"metadata": {"name": "my-svc", "namespace": "ns"},
            "spec": {"clusterIP": "10.43.0.9", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})];
        let pod = json!({"metadata": {"name": "p", "namespace": "ns", "labels": {"app": "x"}},
            "spec": {"nodeName": "node1"}});
        let c = json!({"name": "c", "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "P_"}],
        "resources": {"limits": {"memory": "64Mi"}},
        "env": [
            {"name": "X", "value": "$(P_A)-$(MY_SVC_SERVICE_HOST)-$(NOPE)"},
            {"name": "L", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
            {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k", "optional": true}}},
        ]});
        let vars = build(&pod, &c, &sources(&cm, &svcs)).unwrap();
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("P_A"), Some("1"));
        assert_eq!(get("P_bad key"), None);
        assert_eq!(get("X"), Some("1-10.43.0.9-$(NOPE)"));
        assert_eq!(get("L"), Some("x"));
        assert_eq!(get("CPU"), Some("4"));
        assert_eq!(get("MEM"), Some("64"));
        assert_eq!(get("OPT"), None);
        assert_eq!(get("MY_SVC_SERVICE_PORT_HTTP"), Some("80"));
        assert_eq!(get("MY_SVC_PORT"), Some("tcp://10.43.0.9:80"));
        assert_eq!(get("MY_SVC_PORT_80_TCP_ADDR"), Some("10.43.0.9"));
        let missing = json!({"name": "c", "env": [{"name": "Y", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "zz"}}}]});
        assert_eq!(
            build(&pod, &missing, &sources(&cm, &svcs))
                .unwrap_err()
                .to_string(),
            "couldn't find key zz in ConfigMap ns/cfg"
        );
    }
}
