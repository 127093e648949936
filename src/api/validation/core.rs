//! Core-group kinds other than Pod, Service and Endpoints: ConfigMap, Secret, Namespace, Node,
//! PersistentVolume, PersistentVolumeClaim, Event, ServiceAccount, ResourceQuota, LimitRange.
//!
//! Contract: mirrors the corresponding `Validate<Kind>` / `Validate<Kind>Update` functions of
//! pkg/apis/core/validation (1.33): ConfigMap/Secret keys and the 1 MiB total, Secret type
//! requirements, `immutable` ConfigMaps/Secrets, Node taints/podCIDRs, PV/PVC specs and their
//! update rules, legacy Event consistency checks. `data`/`binaryData` values are base64 as on
//! the wire; sizes count decoded bytes like Kubernetes does after decoding.

use super::field::{
    duplicate_detail, forbidden, go, invalid, not_supported, required, too_long, Bad, Errs, Path,
};
use super::json::{arr, at, get, obj, opt_str, semantic_eq, str_of, string_map};
use super::meta::{
    immutable, validate_label_name, validate_label_selector, validate_object_meta,
    validate_object_meta_update, FinalizerRule, FIELD_IMMUTABLE,
};
use super::names::{
    is_config_map_key, is_dns1123_subdomain, is_label_value, is_qualified_name, NameRule,
};
use super::net::validate_cidr;
use super::pod::{
    node_selector, parse_quantity, taint_effect, validate_resource_name,
    validate_resource_quantity_value,
};
use super::quantity::Quantity;
use serde_json::Value;

/// `core.MaxSecretSize`: 1 MiB, shared by Secrets and ConfigMaps.
pub const MAX_SECRET_SIZE: usize = 1024 * 1024;

fn meta_of(v: &Value) -> &Value {
    static NULL: Value = Value::Null;
    get(v, "metadata").unwrap_or(&NULL)
}

/// Metadata create/update with the core finalizer rule.
fn meta(obj_v: &Value, old: Option<&Value>, rule: NameRule, errs: &mut Errs) {
    let path = Path::new("metadata");
    match old {
        None => validate_object_meta(meta_of(obj_v), rule, FinalizerRule::Core, &path, errs),
        Some(o) => validate_object_meta_update(
            meta_of(obj_v),
            meta_of(o),
            FinalizerRule::Core,
            &path,
            errs,
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// base64 (wire encoding of Secret data and ConfigMap binaryData)

/// Decodes standard padded base64 like Go's `encoding/base64.StdEncoding` (CR/LF ignored);
/// the error names the offending input byte as Go does.
pub fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    fn val(c: u8) -> Option<u8> {
        match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let err = |i: usize| format!("illegal base64 data at input byte {i}");
    let chars: Vec<(usize, u8)> = s
        .bytes()
        .enumerate()
        .filter(|(_, c)| *c != b'\r' && *c != b'\n')
        .collect();
    let mut out = Vec::with_capacity(chars.len() / 4 * 3);
    let chunks: Vec<&[(usize, u8)]> = chars.chunks(4).collect();
    for (ci, chunk) in chunks.iter().enumerate() {
        if chunk.len() < 4 {
            return Err(err(chunk[0].0));
        }
        let mut n: u32 = 0;
        let mut pad = 0usize;
        for (j, (i, c)) in chunk.iter().enumerate() {
            if *c == b'=' {
                if j < 2 {
                    return Err(err(*i));
                }
                pad += 1;
                n <<= 6;
                continue;
            }
            if pad > 0 {
                return Err(err(*i));
            }
            let Some(v) = val(*c) else {
                return Err(err(*i));
            };
            n = (n << 6) | u32::from(v);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
        if pad > 0 && ci + 1 < chunks.len() {
            return Err(err(chunk[3].0 + 1));
        }
    }
    Ok(out)
}

/// Encodes standard padded base64.
pub fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// ConfigMap and Secret

fn validate_configmap(cm: &Value, errs: &mut Errs) {
    let mut total = 0usize;
    let binary = obj(cm, "binaryData");
    for (k, v) in string_map(obj(cm, "data")) {
        let p = Path::new("data").key(k);
        for msg in is_config_map_key(k) {
            errs.push(invalid(&p, k, &msg));
        }
        if binary.is_some_and(|b| b.contains_key(k)) {
            errs.push(invalid(&p, k, "duplicate of key present in binaryData"));
        }
        total += v.len();
    }
    for (k, v) in string_map(binary) {
        let p = Path::new("binaryData").key(k);
        for msg in is_config_map_key(k) {
            errs.push(invalid(&p, k, &msg));
        }
        match base64_decode(v) {
            Ok(bytes) => total += bytes.len(),
            Err(e) => errs.push(invalid(&p, k, &e)),
        }
    }
    if total > MAX_SECRET_SIZE {
        // Kubernetes passes an empty path (rendered `[]`): the error concerns the whole object.
        errs.push(too_long(&Path::new(""), MAX_SECRET_SIZE));
    }
}

/// ConfigMap create/update.
pub fn configmap(cm: &Value, old: Option<&Value>, errs: &mut Errs) {
    meta(cm, old, NameRule::Subdomain, errs);
    if let Some(old) = old {
        immutable_data(cm, old, &["data", "binaryData"], errs);
    }
    validate_configmap(cm, errs);
}

fn immutable_data(new: &Value, old: &Value, fields: &[&str], errs: &mut Errs) {
    if old.get("immutable").and_then(Value::as_bool) != Some(true) {
        return;
    }
    const MSG: &str = "field is immutable when `immutable` is set";
    if new.get("immutable").and_then(Value::as_bool) != Some(true) {
        errs.push(forbidden(&Path::new("immutable"), MSG));
    }
    for f in fields {
        if !semantic_eq(get(new, f), get(old, f)) {
            errs.push(forbidden(&Path::new(f), MSG));
        }
    }
}

/// The message Go's `encoding/json` gives when unmarshalling into `map[string]interface{}`.
fn go_json_map_error(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Some("unexpected end of JSON input".into());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(_)) => None,
        Ok(other) => {
            let kind = match other {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                Value::Bool(_) => "bool",
                _ => return None, // null unmarshals fine into a map
            };
            Some(format!(
                "json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
            ))
        }
        Err(e) if e.is_eof() => Some("unexpected end of JSON input".into()),
        Err(e) => Some(go_scanner_error(trimmed).unwrap_or_else(|| e.to_string())),
    }
}

/// The first syntax error Go's JSON scanner reports for the common cases (bad first byte,
/// misspelt literal, bad object key); `None` when the input needs a full scanner.
fn go_scanner_error(text: &str) -> Option<String> {
    let mut chars = text.chars();
    let first = chars.next()?;
    let quote = |c: char| {
        if c == '\'' {
            "'\\''".to_string()
        } else {
            format!("'{c}'")
        }
    };
    for lit in ["true", "false", "null"] {
        if lit.starts_with(first) {
            for (expected, got) in lit.chars().skip(1).zip(chars.clone()) {
                if expected != got {
                    return Some(format!(
                        "invalid character {} in literal {lit} (expecting '{expected}')",
                        quote(got)
                    ));
                }
            }
            return None;
        }
    }
    if first == '{' {
        let next = chars.find(|c| !c.is_whitespace())?;
        if next != '"' && next != '}' {
            return Some(format!(
                "invalid character {} looking for beginning of object key string",
                quote(next)
            ));
        }
        return None;
    }
    if !matches!(first, '[' | '"' | '-' | '0'..='9') {
        return Some(format!(
            "invalid character {} looking for beginning of value",
            quote(first)
        ));
    }
    None
}

fn validate_secret(secret: &Value, errs: &mut Errs) {
    let data_path = Path::new("data");
    let mut total = 0usize;
    let mut decoded: Vec<(&str, Vec<u8>)> = Vec::new();
    for (k, v) in string_map(obj(secret, "data")) {
        for msg in is_config_map_key(k) {
            errs.push(invalid(&data_path.key(k), k, &msg));
        }
        match base64_decode(v) {
            Ok(bytes) => {
                total += bytes.len();
                decoded.push((k, bytes));
            }
            Err(e) => errs.push(invalid(&data_path.key(k), k, &e)),
        }
    }
    if total > MAX_SECRET_SIZE {
        errs.push(too_long(&data_path, MAX_SECRET_SIZE));
    }
    let has = |k: &str| obj(secret, "data").is_some_and(|d| d.contains_key(k));
    let bytes_of = |k: &str| {
        decoded
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, b)| b.as_slice())
    };
    match str_of(secret, "type") {
        "kubernetes.io/service-account-token" => {
            let name = at(
                secret,
                &[
                    "metadata",
                    "annotations",
                    "kubernetes.io/service-account.name",
                ],
            )
            .and_then(Value::as_str);
            if name.unwrap_or("").is_empty() {
                errs.push(required(
                    &Path::new("metadata")
                        .child("annotations")
                        .key("kubernetes.io/service-account.name"),
                    "",
                ));
            }
        }
        "kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson" => {
            let key = if str_of(secret, "type") == "kubernetes.io/dockercfg" {
                ".dockercfg"
            } else {
                ".dockerconfigjson"
            };
            if !has(key) {
                errs.push(required(&data_path.key(key), ""));
            } else if let Some(msg) = bytes_of(key).and_then(go_json_map_error) {
                errs.push(invalid(
                    &data_path.key(key),
                    "<secret contents redacted>",
                    &msg,
                ));
            }
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            // Either may be empty, but at least one must be present.
            errs.push(required(&data_path.key("username"), ""));
            errs.push(required(&data_path.key("password"), ""));
        }
        "kubernetes.io/ssh-auth" if bytes_of("ssh-privatekey").is_none_or(|b| b.is_empty()) => {
            errs.push(required(&data_path.key("ssh-privatekey"), ""));
        }
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !has(key) {
                    errs.push(required(&data_path.key(key), ""));
                }
            }
        }
        _ => {}
    }
}

/// Secret create/update.
pub fn secret(s: &Value, old: Option<&Value>, errs: &mut Errs) {
    meta(s, old, NameRule::Subdomain, errs);
    if let Some(old) = old {
        let (n, o) = (str_of(s, "type"), str_of(old, "type"));
        if n != o {
            errs.push(invalid(&Path::new("type"), n, FIELD_IMMUTABLE));
        }
        immutable_data(s, old, &["data"], errs);
    }
    validate_secret(s, errs);
}

// ---------------------------------------------------------------------------------------------
// Namespace, ServiceAccount

/// Namespace create/update.
pub fn namespace(ns: &Value, old: Option<&Value>, errs: &mut Errs) {
    meta(ns, old, NameRule::Label, errs);
    let fp = Path::new("spec").child("finalizers");
    for f in arr(get(ns, "spec").unwrap_or(&Value::Null), "finalizers") {
        let f = f.as_str().unwrap_or("");
        for msg in is_qualified_name(f) {
            errs.push(invalid(&fp, f, &msg));
        }
        if !f.contains('/') && !["kubernetes", "orphan", "foregroundDeletion"].contains(&f) {
            errs.push(invalid(
                &fp,
                f,
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Node

fn taints(taints: &[Value], path: &Path, errs: &mut Errs) {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for (i, t) in taints.iter().enumerate() {
        let ip = path.index(i);
        let (key, value, effect) = (str_of(t, "key"), str_of(t, "value"), str_of(t, "effect"));
        validate_label_name(key, &ip.child("key"), errs);
        let msgs = is_label_value(value);
        if !msgs.is_empty() {
            errs.push(invalid(&ip.child("value"), value, &msgs.join(";")));
        }
        taint_effect(effect, false, &ip.child("effect"), errs);
        if seen.contains(&(effect, key)) {
            let shown = format!(
                "core.Taint{{Key:{}, Value:{}, Effect:{}, TimeAdded:(*v1.Time)(nil)}}",
                go::quote(key),
                go::quote(value),
                go::quote(effect)
            );
            errs.push(duplicate_detail(
                &ip,
                Bad::Raw(shown),
                "taints must be unique by key and effect pair",
            ));
            continue;
        }
        seen.push((effect, key));
    }
}

fn node_resources(node: &Value, errs: &mut Errs) {
    for section in ["capacity", "allocatable"] {
        let Some(m) = at(node, &["status", section]).and_then(Value::as_object) else {
            continue;
        };
        for (k, v) in m {
            // Kubernetes builds this path with Child, so the resource name is dot-joined.
            let p = Path::new("status").child(section).child(k);
            if let Some(q) = parse_quantity(v, &p, errs) {
                validate_resource_quantity_value(k, &q, &p, errs);
            }
        }
    }
}

fn pod_cidrs(node: &Value, errs: &mut Errs) {
    let cidrs = arr(get(node, "spec").unwrap_or(&Value::Null), "podCIDRs");
    let p = Path::new("spec").child("podCIDRs");
    for (i, c) in cidrs.iter().enumerate() {
        validate_cidr(&p.index(i), c.as_str().unwrap_or(""), errs);
    }
    if cidrs.len() > 1 {
        let families: Vec<bool> = cidrs
            .iter()
            .filter_map(|c| {
                c.as_str()?
                    .split('/')
                    .next()?
                    .parse::<std::net::IpAddr>()
                    .ok()
            })
            .map(|ip| ip.is_ipv4())
            .collect();
        let dual = families.len() == 2 && families[0] != families[1];
        if !dual || cidrs.len() > 2 {
            errs.push(invalid(
                &p,
                Bad::Raw(go::string_slice(at(node, &["spec", "podCIDRs"]))),
                "may specify no more than one CIDR for each IP family",
            ));
        }
        let mut seen: Vec<&str> = Vec::new();
        for (i, c) in cidrs.iter().enumerate() {
            let c = c.as_str().unwrap_or("");
            if seen.contains(&c) {
                errs.push(super::field::duplicate(&p.index(i), c));
            }
            seen.push(c);
        }
    }
}

/// Node create/update.
pub fn node(node: &Value, old: Option<&Value>, errs: &mut Errs) {
    meta(node, old, NameRule::Subdomain, errs);
    let spec = get(node, "spec").unwrap_or(&Value::Null);
    let Some(old) = old else {
        // Kubernetes validates node taints under `metadata.taints`; kept for fidelity.
        taints(
            arr(spec, "taints"),
            &Path::new("metadata").child("taints"),
            errs,
        );
        node_resources(node, errs);
        pod_cidrs(node, errs);
        return;
    };
    node_resources(node, errs);
    let addresses = arr(get(node, "status").unwrap_or(&Value::Null), "addresses");
    for (i, a) in addresses.iter().enumerate() {
        if addresses[..i].iter().any(|b| semantic_eq(Some(a), Some(b))) {
            errs.push(super::field::duplicate(
                &Path::new("status").child("addresses").index(i),
                Bad::Raw(a.to_string()),
            ));
        }
    }
    let old_spec = get(old, "spec").unwrap_or(&Value::Null);
    let (old_cidrs, new_cidrs) = (arr(old_spec, "podCIDRs"), arr(spec, "podCIDRs"));
    if !old_cidrs.is_empty() {
        const MSG: &str = "node updates may not change podCIDR except from \"\" to valid";
        if old_cidrs.len() != new_cidrs.len() {
            errs.push(forbidden(&Path::new("spec").child("podCIDRs"), MSG));
        } else {
            for (o, n) in old_cidrs.iter().zip(new_cidrs) {
                if o != n {
                    errs.push(forbidden(&Path::new("spec").child("podCIDRs"), MSG));
                }
            }
        }
    }
    let old_provider = str_of(old_spec, "providerID");
    if !old_provider.is_empty() && old_provider != str_of(spec, "providerID") {
        errs.push(forbidden(
            &Path::new("spec").child("providerID"),
            "node updates may not change providerID except from \"\" to valid",
        ));
    }
    taints(
        arr(spec, "taints"),
        &Path::new("metadata").child("taints"),
        errs,
    );
    if str_of(spec, "externalID") != str_of(old_spec, "externalID") {
        errs.push(forbidden(
            &Path::new("spec").child("externalID"),
            "may not be updated",
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// PersistentVolume / PersistentVolumeClaim

const ACCESS_MODES: &[&str] = &[
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];
const VOLUME_MODES: &[&str] = &["Block", "Filesystem"];

fn access_modes(spec: &Value, path: &Path, required_detail: &str, errs: &mut Errs) {
    let modes = arr(spec, "accessModes");
    if modes.is_empty() {
        errs.push(required(&path.child("accessModes"), required_detail));
    }
    let (mut rwop, mut other) = (false, false);
    for m in modes {
        let m = m.as_str().unwrap_or("");
        if !ACCESS_MODES.contains(&m) {
            errs.push(not_supported(&path.child("accessModes"), m, ACCESS_MODES));
        } else if m == "ReadWriteOncePod" {
            rwop = true;
        } else {
            other = true;
        }
    }
    if rwop && other {
        errs.push(forbidden(
            &path.child("accessModes"),
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
}

fn class_name(v: &str, path: &Path, errs: &mut Errs) {
    for msg in is_dns1123_subdomain(v) {
        errs.push(invalid(path, v, &msg));
    }
}

fn positive_quantity(q: &Quantity, path: &Path, errs: &mut Errs) -> bool {
    if q.is_negative() || q.is_zero() {
        errs.push(invalid(path, q.canonical(), "must be greater than zero"));
        return false;
    }
    true
}

fn data_source(ds: &Value, path: &Path, errs: &mut Errs) {
    if str_of(ds, "name").is_empty() {
        errs.push(required(&path.child("name"), ""));
    }
    let kind = str_of(ds, "kind");
    if kind.is_empty() {
        errs.push(required(&path.child("kind"), ""));
    }
    let group = str_of(ds, "apiGroup");
    if group.is_empty() && kind != "PersistentVolumeClaim" {
        errs.push(invalid(
            path,
            kind,
            "must be 'PersistentVolumeClaim' when referencing the default apiGroup",
        ));
    }
    if !group.is_empty() {
        for msg in is_dns1123_subdomain(group) {
            errs.push(invalid(&path.child("apiGroup"), group, &msg));
        }
    }
}

/// `ValidatePersistentVolumeClaimSpec`.
pub fn validate_pvc_spec(spec: &Value, path: &Path, errs: &mut Errs) {
    access_modes(spec, path, "at least 1 access mode is required", errs);
    if let Some(sel) = get(spec, "selector") {
        validate_label_selector(Some(sel), false, &path.child("selector"), errs);
    }
    // Kubernetes keys this path off `resources`, not `resources.requests`.
    let storage_path = path.child("resources").key("storage");
    match at(spec, &["resources", "requests", "storage"]) {
        None => errs.push(required(&storage_path, "")),
        Some(v) => {
            if let Some(q) = parse_quantity(v, &storage_path, errs) {
                if positive_quantity(&q, &storage_path, errs) {
                    validate_resource_quantity_value("storage", &q, &storage_path, errs);
                }
            }
        }
    }
    if let Some(sc) = opt_str(spec, "storageClassName").filter(|s| !s.is_empty()) {
        class_name(sc, &path.child("storageClassName"), errs);
    }
    if let Some(m) = opt_str(spec, "volumeMode") {
        if !VOLUME_MODES.contains(&m) {
            errs.push(not_supported(&path.child("volumeMode"), m, VOLUME_MODES));
        }
    }
    let ds = get(spec, "dataSource");
    let dsr = get(spec, "dataSourceRef");
    if let Some(ds) = ds {
        data_source(ds, &path.child("dataSource"), errs);
    }
    if let Some(dsr) = dsr {
        data_source(dsr, &path.child("dataSourceRef"), errs);
    }
    let ref_ns = dsr.map(|d| str_of(d, "namespace")).unwrap_or("");
    if !ref_ns.is_empty() {
        if ds.is_some() {
            errs.push(invalid(
                path,
                Bad::Str(path.child("dataSource").as_str().to_string()),
                "may not be specified when dataSourceRef.namespace is specified",
            ));
        }
    } else if let (Some(a), Some(b)) = (ds, dsr) {
        let same = ["apiGroup", "kind", "name"]
            .iter()
            .all(|k| get(a, k) == get(b, k));
        if !same {
            errs.push(invalid(
                path,
                Bad::Str(path.child("dataSource").as_str().to_string()),
                "must match dataSourceRef",
            ));
        }
    }
    if let Some(vac) = opt_str(spec, "volumeAttributesClassName").filter(|s| !s.is_empty()) {
        class_name(vac, &path.child("volumeAttributesClassName"), errs);
    }
}

fn pvc_storage(v: &Value) -> Option<Quantity> {
    at(v, &["spec", "resources", "requests", "storage"])
        .and_then(super::quantity::from_json)
        .and_then(Result::ok)
}

/// PersistentVolumeClaim create/update.
pub fn pvc(claim: &Value, old: Option<&Value>, errs: &mut Errs) {
    meta(claim, old, NameRule::Subdomain, errs);
    let spec = get(claim, "spec").unwrap_or(&Value::Null);
    validate_pvc_spec(spec, &Path::new("spec"), errs);
    let Some(old) = old else { return };
    let old_spec = get(old, "spec").unwrap_or(&Value::Null);
    let bound = at(old, &["status", "phase"]).and_then(Value::as_str) == Some("Bound");
    let mut new_c = spec.clone();
    let mut old_c = old_spec.clone();
    if str_of(old_spec, "volumeName").is_empty() {
        if let (Some(o), Some(n)) = (old_c.as_object_mut(), spec.get("volumeName")) {
            o.insert("volumeName".into(), n.clone());
        }
    }
    if get(old_spec, "storageClassName").is_none() && get(spec, "storageClassName").is_some() {
        // Setting a class on a claim that never had one is allowed once.
        if let (Some(o), Some(n)) = (old_c.as_object_mut(), spec.get("storageClassName")) {
            o.insert("storageClassName".into(), n.clone());
        }
    }
    if bound {
        for (c, src) in [(&mut new_c, old_spec)] {
            if let Some(req) = c
                .get_mut("resources")
                .and_then(|r| r.get_mut("requests"))
                .and_then(Value::as_object_mut)
            {
                match at(src, &["resources", "requests", "storage"]) {
                    Some(v) => req.insert("storage".into(), v.clone()),
                    None => req.remove("storage"),
                };
            }
        }
        if let Some(n) = new_c.as_object_mut() {
            match old_spec.get("volumeAttributesClassName") {
                Some(v) => n.insert("volumeAttributesClassName".into(), v.clone()),
                None => n.remove("volumeAttributesClassName"),
            };
        }
    }
    if !semantic_eq(Some(&new_c), Some(&old_c)) {
        errs.push(forbidden(
            &Path::new("spec"),
            &format!(
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n{}",
                json_diff("core.PersistentVolumeClaimSpec", &old_c, &new_c)
            ),
        ));
    }
    if let (Some(new_size), Some(old_size)) = (pvc_storage(claim), pvc_storage(old)) {
        if new_size < old_size {
            // RecoverVolumeExpansionFailure (beta, on in 1.33) allows shrinking down to, but not
            // below, the recorded capacity.
            let status = at(old, &["status", "capacity", "storage"])
                .and_then(super::quantity::from_json)
                .and_then(Result::ok);
            if status.is_none_or(|s| new_size <= s) {
                errs.push(forbidden(
                    &Path::new("spec")
                        .child("resources")
                        .child("requests")
                        .child("storage"),
                    "field can not be less than status.capacity",
                ));
            }
        }
    }
    // Kubernetes passes a bare `volumeMode` path here.
    immutable(
        get(spec, "volumeMode"),
        get(old_spec, "volumeMode"),
        opt_str(spec, "volumeMode")
            .map(Bad::from)
            .unwrap_or(Bad::Null),
        &Path::new("volumeMode"),
        errs,
    );
}

/// A compact stand-in for `cmp.Diff` between two specs.
pub fn json_diff(type_name: &str, old: &Value, new: &Value) -> String {
    let mut out = format!("  {type_name}{{\n");
    let empty = serde_json::Map::new();
    let (o, n) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<&String> = o.keys().collect();
    keys.extend(n.keys().filter(|k| !o.contains_key(*k)));
    for k in keys {
        if !semantic_eq(o.get(k), n.get(k)) {
            let show = |v: Option<&Value>| v.map(Value::to_string).unwrap_or_else(|| "nil".into());
            out.push_str(&format!(
                "- \t{k}: {},\n+ \t{k}: {},\n",
                show(o.get(k)),
                show(n.get(k))
            ));
        }
    }
    out.push_str("  }\n");
    out
}

const PV_SOURCES: &[&str] = &[
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "glusterfs",
    "flocker",
    "nfs",
    "rbd",
    "quobyte",
    "cephfs",
    "iscsi",
    "cinder",
    "fc",
    "flexVolume",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "scaleIO",
    "local",
    "storageos",
    "csi",
];

fn pv_spec(spec: &Value, errs: &mut Errs) {
    let sp = Path::new("spec");
    access_modes(spec, &sp, "", errs);
    let cap = obj(spec, "capacity");
    if cap.is_none_or(|c| c.is_empty()) {
        errs.push(required(&sp.child("capacity"), ""));
    }
    if cap.is_none_or(|c| !c.contains_key("storage") || c.len() > 1) {
        let shown = cap
            .map(|c| Value::Object(c.clone()).to_string())
            .unwrap_or_else(|| "core.ResourceList(nil)".into());
        errs.push(not_supported(
            &sp.child("capacity"),
            Bad::Raw(shown),
            &["storage"],
        ));
    }
    for (k, v) in cap.into_iter().flatten() {
        let p = sp.child("capacity").key(k);
        if let Some(q) = parse_quantity(v, &p, errs) {
            if q.is_negative() {
                errs.push(invalid(
                    &p,
                    q.as_integer()
                        .map(|i| Bad::Int(i as i64))
                        .unwrap_or(Bad::Raw(q.canonical())),
                    "must be a valid resource quantity",
                ));
            }
            positive_quantity(&q, &p, errs);
        }
    }
    let reclaim = str_of(spec, "persistentVolumeReclaimPolicy");
    if !reclaim.is_empty() && !["Delete", "Recycle", "Retain"].contains(&reclaim) {
        errs.push(not_supported(
            &sp.child("persistentVolumeReclaimPolicy"),
            reclaim,
            &["Delete", "Recycle", "Retain"],
        ));
    }
    let mut affinity_set = false;
    if let Some(na) = get(spec, "nodeAffinity") {
        affinity_set = true;
        match get(na, "required") {
            Some(r) => node_selector(r, false, &sp.child("nodeAffinity").child("required"), errs),
            None => errs.push(required(
                &sp.child("nodeAffinity").child("required"),
                "must specify required node constraints",
            )),
        }
    }
    let mut count = 0;
    for src in PV_SOURCES {
        let Some(v) = get(spec, src) else { continue };
        // flexVolume is never counted as a second source by Kubernetes.
        if count > 0 && *src != "flexVolume" {
            errs.push(forbidden(
                &sp.child(src),
                "may not specify more than 1 volume type",
            ));
            continue;
        }
        count += 1;
        let p = sp.child(src);
        match *src {
            "hostPath" | "local" => {
                let path = str_of(v, "path");
                if path.is_empty() {
                    errs.push(required(&p.child("path"), ""));
                } else if path.split('/').any(|s| s == "..") {
                    errs.push(invalid(&p.child("path"), path, "must not contain '..'"));
                }
                if *src == "local" && !affinity_set {
                    errs.push(required(
                        &sp.child("nodeAffinity"),
                        "Local volume requires node affinity",
                    ));
                }
            }
            "nfs" => {
                for f in ["server", "path"] {
                    if str_of(v, f).is_empty() {
                        errs.push(required(&p.child(f), ""));
                    }
                }
                if !str_of(v, "path").starts_with('/') {
                    errs.push(invalid(
                        &p.child("path"),
                        str_of(v, "path"),
                        "must be an absolute path",
                    ));
                }
            }
            "csi" => {
                super::pod::csi_driver_name(str_of(v, "driver"), &p.child("driver"), errs);
                if str_of(v, "volumeHandle").is_empty() {
                    errs.push(required(&p.child("volumeHandle"), ""));
                }
            }
            _ => {}
        }
    }
    if count == 0 {
        errs.push(required(&sp, "must specify a volume type"));
    }
    let host_root = at(spec, &["hostPath", "path"])
        .and_then(Value::as_str)
        .is_some_and(|p| p.trim_end_matches('/').is_empty() && p.starts_with('/'));
    if host_root && reclaim == "Recycle" {
        errs.push(forbidden(
            &sp.child("persistentVolumeReclaimPolicy"),
            "may not be 'recycle' for a hostPath mount of '/'",
        ));
    }
    let sc = str_of(spec, "storageClassName");
    if !sc.is_empty() {
        class_name(sc, &sp.child("storageClassName"), errs);
    }
    if let Some(m) = opt_str(spec, "volumeMode") {
        if !VOLUME_MODES.contains(&m) {
            errs.push(not_supported(&sp.child("volumeMode"), m, VOLUME_MODES));
        }
    }
}

/// PersistentVolume create/update.
pub fn pv(vol: &Value, old: Option<&Value>, errs: &mut Errs) {
    meta(vol, old, NameRule::Subdomain, errs);
    let spec = get(vol, "spec").unwrap_or(&Value::Null);
    pv_spec(spec, errs);
    let Some(old) = old else { return };
    let old_spec = get(old, "spec").unwrap_or(&Value::Null);
    let source = |s: &Value| -> Value {
        let mut m = serde_json::Map::new();
        for k in PV_SOURCES {
            if let Some(v) = get(s, k) {
                m.insert((*k).into(), v.clone());
            }
        }
        Value::Object(m)
    };
    let (mut new_src, old_src) = (source(spec), source(old_spec));
    // A controller-expand secret may be added to a CSI volume that had none.
    if at(&old_src, &["csi", "controllerExpandSecretRef"]).is_none() {
        if let Some(csi) = new_src.get_mut("csi").and_then(Value::as_object_mut) {
            csi.remove("controllerExpandSecretRef");
        }
    }
    if !semantic_eq(Some(&new_src), Some(&old_src)) {
        errs.push(forbidden(
            &Path::new("spec").child("persistentvolumesource"),
            &format!(
                "spec.persistentvolumesource is immutable after creation\n{}",
                json_diff("core.PersistentVolumeSource", &old_src, &new_src)
            ),
        ));
    }
    // Kubernetes uses bare `volumeMode` / `nodeAffinity` paths here.
    immutable(
        get(spec, "volumeMode"),
        get(old_spec, "volumeMode"),
        opt_str(spec, "volumeMode")
            .map(Bad::from)
            .unwrap_or(Bad::Null),
        &Path::new("volumeMode"),
        errs,
    );
    if let Some(old_aff) = get(old_spec, "nodeAffinity") {
        if !semantic_eq(get(spec, "nodeAffinity"), Some(old_aff)) {
            errs.push(invalid(
                &Path::new("nodeAffinity"),
                Bad::Raw(
                    get(spec, "nodeAffinity")
                        .map(Value::to_string)
                        .unwrap_or_else(|| "null".into()),
                ),
                &format!("{FIELD_IMMUTABLE}, except for updating from beta label to GA"),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Event, ServiceAccount, ResourceQuota, LimitRange

/// Kinds known to be namespaced / cluster-scoped, for the Event involvedObject check
/// (Kubernetes consults its REST mapper; unknown kinds are skipped there too).
fn namespaced_kind(api_version: &str, kind: &str) -> Option<bool> {
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    match (group, kind) {
        ("", "Namespace" | "Node" | "PersistentVolume" | "ComponentStatus") => Some(false),
        (
            "",
            "Pod"
            | "Service"
            | "ConfigMap"
            | "Secret"
            | "Endpoints"
            | "PersistentVolumeClaim"
            | "ReplicationController"
            | "ServiceAccount"
            | "Event"
            | "LimitRange"
            | "ResourceQuota"
            | "PodTemplate",
        ) => Some(true),
        (
            "apps",
            "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "ControllerRevision",
        ) => Some(true),
        ("batch", "Job" | "CronJob") => Some(true),
        ("coordination.k8s.io", "Lease") => Some(true),
        ("rbac.authorization.k8s.io", "ClusterRole" | "ClusterRoleBinding") => Some(false),
        ("rbac.authorization.k8s.io", "Role" | "RoleBinding") => Some(true),
        ("storage.k8s.io", "StorageClass" | "CSIDriver" | "CSINode" | "VolumeAttachment") => {
            Some(false)
        }
        _ => None,
    }
}

/// core/v1 Event create/update. The Event strategy does not validate metadata; the generic
/// registry's common checks do (path-segment names, no core finalizer rule).
pub fn event(ev: &Value, old: Option<&Value>, errs: &mut Errs) {
    let path = Path::new("metadata");
    match old {
        None => validate_object_meta(
            meta_of(ev),
            NameRule::PathSegment,
            FinalizerRule::Generic,
            &path,
            errs,
        ),
        Some(o) => validate_object_meta_update(
            meta_of(ev),
            meta_of(o),
            FinalizerRule::Generic,
            &path,
            errs,
        ),
    }
    let ns = str_of(meta_of(ev), "namespace");
    let involved = get(ev, "involvedObject").unwrap_or(&Value::Null);
    let inv_ns = str_of(involved, "namespace");
    let inv_ns_path = Path::new("involvedObject").child("namespace");
    if get(ev, "eventTime").is_none() {
        if inv_ns.is_empty() {
            if !ns.is_empty() && ns != "default" {
                errs.push(invalid(
                    &inv_ns_path,
                    inv_ns,
                    "does not match event.namespace",
                ));
            }
        } else if ns != inv_ns {
            errs.push(invalid(
                &inv_ns_path,
                inv_ns,
                "does not match event.namespace",
            ));
        }
    } else {
        if inv_ns.is_empty() && ns != "kube-system" {
            errs.push(invalid(
                &inv_ns_path,
                inv_ns,
                "does not match event.namespace",
            ));
        }
        let controller = str_of(ev, "reportingComponent");
        if controller.is_empty() {
            errs.push(required(&Path::new("reportingController"), ""));
        }
        for msg in is_qualified_name(controller) {
            errs.push(invalid(&Path::new("reportingController"), controller, &msg));
        }
        let instance = str_of(ev, "reportingInstance");
        if instance.is_empty() {
            errs.push(required(&Path::new("reportingInstance"), ""));
        }
        if instance.len() > 128 {
            // Kubernetes' own misspelt path.
            errs.push(invalid(
                &Path::new("repotingIntance"),
                "",
                "can have at most 128 characters",
            ));
        }
        for (field, limit) in [("action", 128usize), ("reason", 128)] {
            let v = str_of(ev, field);
            if v.is_empty() {
                errs.push(required(&Path::new(field), ""));
            }
            if v.len() > limit {
                errs.push(invalid(
                    &Path::new(field),
                    "",
                    &format!("can have at most {limit} characters"),
                ));
            }
        }
        if str_of(ev, "message").len() > 1024 {
            errs.push(invalid(
                &Path::new("message"),
                "",
                "can have at most 1024 characters",
            ));
        }
    }
    let kind = str_of(involved, "kind");
    if let Some(namespaced) = namespaced_kind(str_of(involved, "apiVersion"), kind) {
        if namespaced && inv_ns.is_empty() {
            errs.push(required(&inv_ns_path, &format!("required for kind {kind}")));
        }
        if !namespaced && !inv_ns.is_empty() {
            errs.push(invalid(
                &inv_ns_path,
                inv_ns,
                &format!("not allowed for kind {kind}"),
            ));
        }
    }
}

/// ServiceAccount create/update (metadata only).
pub fn service_account(sa: &Value, old: Option<&Value>, errs: &mut Errs) {
    meta(sa, old, NameRule::Subdomain, errs);
}

const QUOTA_RESOURCES: &[&str] = &[
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "cpu",
    "memory",
    "ephemeral-storage",
];

/// ResourceQuota create/update: resource names and quantities under `spec.hard`, scopes
/// immutable on update.
pub fn resource_quota(rq: &Value, old: Option<&Value>, errs: &mut Errs) {
    meta(rq, old, NameRule::Subdomain, errs);
    let hp = Path::new("spec").child("hard");
    for (k, v) in obj(get(rq, "spec").unwrap_or(&Value::Null), "hard")
        .into_iter()
        .flatten()
    {
        let p = hp.key(k);
        let ok = validate_resource_name(k, &p, errs);
        if ok
            && !k.contains('/')
            && !(QUOTA_RESOURCES.contains(&k.as_str())
                || k.starts_with("requests.hugepages-")
                || k.starts_with("count/"))
        {
            errs.push(invalid(
                &p,
                k.as_str(),
                "must be a standard resource for quota",
            ));
        }
        if let Some(q) = parse_quantity(v, &p, errs) {
            validate_resource_quantity_value(k, &q, &p, errs);
        }
    }
    if let Some(old) = old {
        let scopes = |v: &Value| {
            let mut s: Vec<String> = arr(get(v, "spec").unwrap_or(&Value::Null), "scopes")
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect();
            s.sort();
            s.dedup();
            s
        };
        if scopes(rq) != scopes(old) {
            errs.push(invalid(
                &Path::new("spec").child("scopes"),
                Bad::Raw(
                    at(rq, &["spec", "scopes"])
                        .map(Value::to_string)
                        .unwrap_or_else(|| "[]".into()),
                ),
                FIELD_IMMUTABLE,
            ));
        }
    }
}

/// LimitRange create/update: limit types well-formed and unique, resource names and
/// quantities valid.
pub fn limit_range(lr: &Value, old: Option<&Value>, errs: &mut Errs) {
    meta(lr, old, NameRule::Subdomain, errs);
    let lp = Path::new("spec").child("limits");
    let mut types: Vec<&str> = Vec::new();
    for (i, l) in arr(get(lr, "spec").unwrap_or(&Value::Null), "limits")
        .iter()
        .enumerate()
    {
        let ip = lp.index(i);
        let t = str_of(l, "type");
        let mut type_errs = Vec::new();
        for msg in is_qualified_name(t) {
            type_errs.push(invalid(&ip.child("type"), t, &msg));
        }
        if type_errs.is_empty()
            && !t.contains('/')
            && !["Pod", "Container", "PersistentVolumeClaim"].contains(&t)
        {
            type_errs.push(invalid(
                &ip.child("type"),
                t,
                "must be a standard limit type or fully qualified",
            ));
        }
        errs.extend(type_errs);
        if types.contains(&t) {
            errs.push(super::field::duplicate(&ip.child("type"), t));
        }
        types.push(t);
        for section in [
            "max",
            "min",
            "default",
            "defaultRequest",
            "maxLimitRequestRatio",
        ] {
            for (k, v) in obj(l, section).into_iter().flatten() {
                let p = ip.child(section).key(k);
                validate_resource_name(k, &p, errs);
                parse_quantity(v, &p, errs);
            }
        }
        if t == "Pod" {
            for section in ["default", "defaultRequest"] {
                if obj(l, section).is_some_and(|m| !m.is_empty()) {
                    errs.push(forbidden(
                        &ip.child(section),
                        "may not be specified when `type` is 'Pod'",
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(
        f: fn(&Value, Option<&Value>, &mut Errs),
        v: Value,
        old: Option<Value>,
    ) -> Vec<(String, String)> {
        let mut e = Vec::new();
        f(&v, old.as_ref(), &mut e);
        e.into_iter().map(|c| (c.field, c.message)).collect()
    }

    #[test]
    fn base64_roundtrip() {
        for s in ["", "a", "ab", "abc", "hello world"] {
            assert_eq!(
                base64_decode(&base64_encode(s.as_bytes())).unwrap(),
                s.as_bytes()
            );
        }
        assert_eq!(
            base64_decode("YQ").unwrap_err(),
            "illegal base64 data at input byte 0"
        );
        assert_eq!(
            base64_decode("Y*==").unwrap_err(),
            "illegal base64 data at input byte 1"
        );
    }

    #[test]
    fn configmap_keys_and_immutability() {
        let e = run(
            configmap,
            json!({"metadata": {"name": "c"}, "data": {"bad key": "v", "ok": "v"}, "binaryData": {"ok": "dg=="}}),
            None,
        );
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].0, "data[bad key]");
        assert!(e[0].1.starts_with("Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"));
        assert_eq!(
            e[1],
            (
                "data[ok]".into(),
                "Invalid value: \"ok\": duplicate of key present in binaryData".into()
            )
        );
        let old = json!({"metadata": {"name": "c"}, "immutable": true, "data": {"a": "1"}});
        let new = json!({"metadata": {"name": "c"}, "immutable": true, "data": {"a": "2"}});
        assert_eq!(
            run(configmap, new, Some(old)),
            vec![(
                "data".into(),
                "Forbidden: field is immutable when `immutable` is set".into()
            )]
        );
    }

    #[test]
    fn configmap_size_limit() {
        let big = "x".repeat(MAX_SECRET_SIZE + 1);
        let e = run(
            configmap,
            json!({"metadata": {"name": "c"}, "data": {"k": big}}),
            None,
        );
        assert_eq!(
            e,
            vec![(
                "[]".into(),
                "Too long: may not be more than 1048576 bytes".into()
            )]
        );
    }

    #[test]
    fn secret_types() {
        let e = run(
            secret,
            json!({"metadata": {"name": "s"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "YQ=="}}),
            None,
        );
        assert_eq!(e, vec![("data[tls.key]".into(), "Required value".into())]);
        let e = run(
            secret,
            json!({"metadata": {"name": "s"}, "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": base64_encode(b"nope")}}),
            None,
        );
        assert_eq!(e, vec![("data[.dockerconfigjson]".into(), "Invalid value: \"<secret contents redacted>\": invalid character 'o' in literal null (expecting 'u')".into())]);
        assert_eq!(
            go_json_map_error(b"xyz").unwrap(),
            "invalid character 'x' looking for beginning of value"
        );
        assert_eq!(
            go_json_map_error(b"[1]").unwrap(),
            "json: cannot unmarshal array into Go value of type map[string]interface {}"
        );
        assert_eq!(go_json_map_error(b"{\"auths\":{}}"), None);
        let e = run(
            secret,
            json!({"metadata": {"name": "s"}, "type": "kubernetes.io/service-account-token"}),
            None,
        );
        assert_eq!(
            e,
            vec![(
                "metadata.annotations[kubernetes.io/service-account.name]".into(),
                "Required value".into()
            )]
        );
        let e = run(
            secret,
            json!({"metadata": {"name": "s"}, "type": "Opaque"}),
            Some(json!({"metadata": {"name": "s"}, "type": "kubernetes.io/tls"})),
        );
        assert_eq!(
            e,
            vec![(
                "type".into(),
                "Invalid value: \"Opaque\": field is immutable".into()
            )]
        );
    }

    #[test]
    fn pvc_rules() {
        let e = run(pvc, json!({"metadata": {"name": "p"}, "spec": {}}), None);
        assert_eq!(
            e,
            vec![
                (
                    "spec.accessModes".into(),
                    "Required value: at least 1 access mode is required".into()
                ),
                ("spec.resources[storage]".into(), "Required value".into()),
            ]
        );
        let old = json!({"metadata": {"name": "p"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}, "status": {"phase": "Bound"}});
        let mut grown = old.clone();
        grown["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
        assert!(run(pvc, grown, Some(old.clone())).is_empty());
        let mut changed = old.clone();
        changed["spec"]["accessModes"] = json!(["ReadWriteMany"]);
        let e = run(pvc, changed, Some(old));
        assert_eq!(e.len(), 1);
        assert!(e[0].1.starts_with("Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n"));
    }

    #[test]
    fn pv_rules() {
        let e = run(
            pv,
            json!({"metadata": {"name": "v"}, "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}}),
            None,
        );
        assert_eq!(
            e,
            vec![(
                "spec".into(),
                "Required value: must specify a volume type".into()
            )]
        );
        let ok = json!({"metadata": {"name": "v"}, "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}, "hostPath": {"path": "/data"}}});
        assert!(run(pv, ok.clone(), None).is_empty());
        let mut moved = ok.clone();
        moved["spec"]["hostPath"]["path"] = json!("/other");
        let e = run(pv, moved, Some(ok));
        assert_eq!(e[0].0, "spec.persistentvolumesource");
    }

    #[test]
    fn node_taints() {
        let e = run(
            node,
            json!({"metadata": {"name": "n"}, "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}, {"key": "a", "effect": "NoSchedule"}, {"key": "b"}]}}),
            None,
        );
        assert_eq!(
            e,
            vec![
                ("metadata.taints[1]".into(), "Duplicate value: core.Taint{Key:\"a\", Value:\"\", Effect:\"NoSchedule\", TimeAdded:(*v1.Time)(nil)}: taints must be unique by key and effect pair".into()),
                ("metadata.taints[2].effect".into(), "Required value".into()),
            ]
        );
    }

    #[test]
    fn namespace_rules() {
        let e = run(namespace, json!({"metadata": {"name": "My_NS"}}), None);
        assert_eq!(e[0].0, "metadata.name");
        assert!(e[0]
            .1
            .starts_with("Invalid value: \"My_NS\": a lowercase RFC 1123 label must consist of"));
    }

    #[test]
    fn events() {
        let e = run(
            event,
            json!({"metadata": {"name": "e", "namespace": "ns"}, "involvedObject": {"kind": "Pod", "apiVersion": "v1", "namespace": "other"}}),
            None,
        );
        assert_eq!(
            e,
            vec![(
                "involvedObject.namespace".into(),
                "Invalid value: \"other\": does not match event.namespace".into()
            )]
        );
    }
}
