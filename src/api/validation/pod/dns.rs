//! `spec.dnsConfig` against `spec.dnsPolicy` (`validatePodDNSConfig`).
//!
//! Contract: `dnsPolicy: None` needs a config with at least one nameserver; at most 3 nameservers
//! (IP addresses), 32 search paths and 2048 characters of search list; search paths follow the
//! relaxed rule (the 1.33 default) that allows `.` and underscores.

use serde_json::Value;

use crate::api::validation::field::{go, invalid, required, Bad, Errs, Path};
use crate::api::validation::json::{arr, get, str_of};
use crate::api::validation::names::is_dns1123_subdomain_with_underscore;
use crate::api::validation::net::validate_ip;

/// `validatePodDNSConfig`.
pub(super) fn validate_dns_config(spec: &Value, path: &Path, errs: &mut Errs) {
    let cfg = get(spec, "dnsConfig");
    if str_of(spec, "dnsPolicy") == "None" {
        let Some(cfg) = cfg else {
            errs.push(required(
                path,
                "must provide `dnsConfig` when `dnsPolicy` is None",
            ));
            return;
        };
        if arr(cfg, "nameservers").is_empty() {
            errs.push(required(
                &path.child("nameservers"),
                "must provide at least one DNS nameserver when `dnsPolicy` is None",
            ));
            return;
        }
    }
    let Some(cfg) = cfg else { return };
    let ns = arr(cfg, "nameservers");
    if ns.len() > 3 {
        errs.push(invalid(
            &path.child("nameservers"),
            Bad::Raw(go::string_slice(get(cfg, "nameservers"))),
            "must not have more than 3 nameservers",
        ));
    }
    for (i, n) in ns.iter().enumerate() {
        validate_ip(
            &path.child("nameservers").index(i),
            n.as_str().unwrap_or(""),
            errs,
        );
    }
    let searches: Vec<&str> = arr(cfg, "searches")
        .iter()
        .map(|s| s.as_str().unwrap_or(""))
        .collect();
    if searches.len() > 32 {
        errs.push(invalid(
            &path.child("searches"),
            Bad::Raw(go::string_slice(get(cfg, "searches"))),
            "must not have more than 32 search paths",
        ));
    }
    if searches.join(" ").len() > 2048 {
        errs.push(invalid(
            &path.child("searches"),
            Bad::Raw(go::string_slice(get(cfg, "searches"))),
            "must not have more than 2048 characters (including spaces) in the search list",
        ));
    }
    for (i, search) in searches.iter().enumerate() {
        // RelaxedDNSSearchValidation (beta, on in 1.33): "." and underscores are allowed.
        if *search != "." {
            let trimmed = search.strip_suffix('.').unwrap_or(search);
            for m in is_dns1123_subdomain_with_underscore(trimmed) {
                errs.push(invalid(&path.child("searches").index(i), trimmed, &m));
            }
        }
    }
    for (i, o) in arr(cfg, "options").iter().enumerate() {
        if str_of(o, "name").is_empty() {
            errs.push(required(
                &path.child("options").index(i),
                "must not be empty",
            ));
        }
    }
}
