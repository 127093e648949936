//! Leaf checks shared by the pod-spec validators: DNS and qualified names, local paths, file
//! modes and image pull policies.
//!
//! Contract: each check appends Kubernetes' causes (`FieldValueInvalid`, `Required`,
//! `NotSupported`) at the given path and returns nothing; callers decide whether to go on.

use serde_json::Value;

use crate::api::validation::field::{invalid, not_supported, required, Errs, Path};
use crate::api::validation::json::int;
use crate::api::validation::names::{
    is_dns1123_label, is_dns1123_subdomain, is_qualified_name, validate_name, NameRule,
};

pub(super) const MAX_INT32: i64 = i32::MAX as i64;

const FILE_MODE_ERR: &str = "must be a number between 0 and 0777 (octal), both inclusive";

/// `validatePathNoBacksteps`.
pub(super) fn no_backsteps(p: &str, path: &Path, errs: &mut Errs) {
    if p.split('/').any(|seg| seg == "..") {
        errs.push(invalid(path, p, "must not contain '..'"));
    }
}

/// `validateLocalDescendingPath`.
pub(super) fn local_descending_path(p: &str, path: &Path, errs: &mut Errs) {
    if p.starts_with('/') {
        errs.push(invalid(path, p, "must be a relative path"));
    }
    no_backsteps(p, path, errs);
}

/// `ValidateLocalNonReservedPath`.
pub(super) fn local_non_reserved_path(p: &str, path: &Path, errs: &mut Errs) {
    local_descending_path(p, path, errs);
    if p.starts_with("..") && !p.starts_with("../") {
        errs.push(invalid(path, p, "must not start with '..'"));
    }
}

pub(super) fn file_mode(v: &Value, key: &str, path: &Path, errs: &mut Errs) {
    if let Some(m) = int(v, key) {
        if !(0..=0o777).contains(&m) {
            errs.push(invalid(&path.child(key), m, FILE_MODE_ERR));
        }
    }
}

pub(super) fn dns_label(value: &str, path: &Path, errs: &mut Errs) {
    for msg in is_dns1123_label(value) {
        errs.push(invalid(path, value, &msg));
    }
}

pub(super) fn dns_subdomain(value: &str, path: &Path, errs: &mut Errs) {
    for msg in is_dns1123_subdomain(value) {
        errs.push(invalid(path, value, &msg));
    }
}

pub(super) fn qualified_name(value: &str, path: &Path, errs: &mut Errs) {
    for msg in is_qualified_name(value) {
        errs.push(invalid(path, value, &msg));
    }
}

pub(super) fn name_rule(value: &str, rule: NameRule, prefix: bool, path: &Path, errs: &mut Errs) {
    for msg in validate_name(rule, value, prefix) {
        errs.push(invalid(path, value, &msg));
    }
}

pub(super) fn pull_policy(policy: &str, path: &Path, errs: &mut Errs) {
    match policy {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.push(required(path, "")),
        other => errs.push(not_supported(
            path,
            other,
            &["Always", "IfNotPresent", "Never"],
        )),
    }
}
