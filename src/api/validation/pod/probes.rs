//! Probes and lifecycle hooks (`validateProbe`, `validateLifecycle`, `validateHandler`).
//!
//! Contract: a probe or hook names exactly one handler; probes may use gRPC, hooks may sleep (no
//! longer than terminationGracePeriodSeconds); liveness and startup probes need
//! `successThreshold: 1`, readiness probes may not set their own grace period.

use serde_json::Value;

use crate::api::validation::field::{forbidden, invalid, not_supported, required, Bad, Errs, Path};
use crate::api::validation::json::{arr, as_int, get, int, str_of};
use crate::api::validation::meta::nonnegative;
use crate::api::validation::names::{is_http_header_name, is_valid_port_name, is_valid_port_num};

/// `ValidatePortNumOrName` for an int-or-string port.
pub fn port_num_or_name(v: Option<&Value>, path: &Path, errs: &mut Errs) {
    match v {
        Some(Value::String(name)) => {
            for m in is_valid_port_name(name) {
                errs.push(invalid(path, name.as_str(), &m));
            }
        }
        other => {
            let n = other.and_then(as_int).unwrap_or(0);
            for m in is_valid_port_num(n) {
                errs.push(invalid(path, n, &m));
            }
        }
    }
}

fn validate_handler(
    h: &Value,
    allow_sleep: bool,
    grace: Option<i64>,
    path: &Path,
    errs: &mut Errs,
) {
    let mut n = 0;
    let kinds: &[&str] = if allow_sleep {
        &["exec", "httpGet", "tcpSocket", "sleep"]
    } else {
        &["exec", "httpGet", "tcpSocket", "grpc"]
    };
    for kind in kinds {
        let Some(a) = get(h, kind) else { continue };
        let kp = path.child(kind);
        if n > 0 {
            errs.push(forbidden(&kp, "may not specify more than 1 handler type"));
            continue;
        }
        n += 1;
        match *kind {
            "exec" if arr(a, "command").is_empty() => errs.push(required(&kp.child("command"), "")),
            "httpGet" => {
                if str_of(a, "path").is_empty() {
                    errs.push(required(&kp.child("path"), ""));
                }
                port_num_or_name(get(a, "port"), &kp.child("port"), errs);
                let scheme = str_of(a, "scheme");
                if scheme != "HTTP" && scheme != "HTTPS" {
                    errs.push(not_supported(
                        &kp.child("scheme"),
                        scheme,
                        &["HTTP", "HTTPS"],
                    ));
                }
                for header in arr(a, "httpHeaders") {
                    let name = str_of(header, "name");
                    for m in is_http_header_name(name) {
                        errs.push(invalid(&kp.child("httpHeaders"), name, &m));
                    }
                }
            }
            "tcpSocket" => port_num_or_name(get(a, "port"), &kp.child("port"), errs),
            "grpc" => {
                let p = int(a, "port").unwrap_or(0);
                for m in is_valid_port_num(p) {
                    errs.push(invalid(&kp.child("port"), p, &m));
                }
            }
            "sleep" => {
                let secs = int(a, "seconds").unwrap_or(0);
                if let Some(g) = grace {
                    if secs < 0 || secs > g {
                        errs.push(invalid(
                            &kp,
                            secs,
                            &format!("must be non-negative and less than terminationGracePeriodSeconds ({g})"),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    if n == 0 {
        errs.push(required(path, "must specify a handler type"));
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

fn validate_probe(
    probe: Option<&Value>,
    kind: ProbeKind,
    grace: Option<i64>,
    path: &Path,
    errs: &mut Errs,
) {
    let Some(probe) = probe else { return };
    validate_handler(probe, false, grace, path, errs);
    for f in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        nonnegative(int(probe, f), &path.child(f), errs);
    }
    if let Some(t) = int(probe, "terminationGracePeriodSeconds") {
        if t <= 0 {
            errs.push(invalid(
                &path.child("terminationGracePeriodSeconds"),
                t,
                "must be greater than 0",
            ));
        }
    }
    match kind {
        ProbeKind::Liveness | ProbeKind::Startup => {
            let st = int(probe, "successThreshold").unwrap_or(0);
            if st != 1 {
                errs.push(invalid(&path.child("successThreshold"), st, "must be 1"));
            }
        }
        ProbeKind::Readiness => {
            if let Some(t) = get(probe, "terminationGracePeriodSeconds") {
                errs.push(invalid(
                    &path.child("terminationGracePeriodSeconds"),
                    Bad::json(t),
                    "must not be set for readinessProbes",
                ));
            }
        }
    }
}

fn validate_lifecycle(lc: &Value, grace: Option<i64>, path: &Path, errs: &mut Errs) {
    for hook in ["postStart", "preStop"] {
        if let Some(h) = get(lc, hook) {
            validate_handler(h, true, grace, &path.child(hook), errs);
        }
    }
}

/// A container's lifecycle hooks and its three probes.
pub(super) fn validate_probes_and_lifecycle(
    ctr: &Value,
    grace: Option<i64>,
    path: &Path,
    errs: &mut Errs,
) {
    if let Some(lc) = get(ctr, "lifecycle") {
        validate_lifecycle(lc, grace, &path.child("lifecycle"), errs);
    }
    validate_probe(
        get(ctr, "livenessProbe"),
        ProbeKind::Liveness,
        grace,
        &path.child("livenessProbe"),
        errs,
    );
    validate_probe(
        get(ctr, "readinessProbe"),
        ProbeKind::Readiness,
        grace,
        &path.child("readinessProbe"),
        errs,
    );
    validate_probe(
        get(ctr, "startupProbe"),
        ProbeKind::Startup,
        grace,
        &path.child("startupProbe"),
        errs,
    );
}
