//! Parsing of resource URLs and query parameters into a [`RequestInfo`].
//!
//! Contract: `/api/v1/...` and `/apis/<group>/<version>/...` paths are split into namespace,
//! resource, name and subresource as Kubernetes' request-info resolver does (including the
//! `namespaces/<ns>/status|finalize` special case); anything else is `None`.

use std::collections::HashMap;

/// A parsed resource request path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestInfo {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// What a path names short of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathKind {
    /// `/api` or `/apis`.
    Root {
        legacy: bool,
    },
    /// `/apis/<group>`.
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`.
    GroupVersion {
        group: String,
        version: String,
    },
    Resource(RequestInfo),
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Query parameters (the last value of a repeated key wins, as Go's `Get` returns the first:
/// kubectl never repeats keys we care about).
pub fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(percent_decode(k))
            .or_insert_with(|| percent_decode(v));
    }
    out
}

/// Every value of a repeated query key (`command=` of exec).
pub fn query_all(q: Option<&str>, key: &str) -> Vec<String> {
    q.unwrap_or("")
        .split('&')
        .filter_map(|p| p.split_once('='))
        .filter(|(k, _)| percent_decode(k) == key)
        .map(|(_, v)| percent_decode(v))
        .collect()
}

/// Classify a request path.
pub fn parse_path(path: &str) -> Option<PathKind> {
    let parts: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .map(percent_decode)
        .collect();
    let (group, version, rest) = match parts.first().map(String::as_str) {
        Some("api") => match parts.get(1) {
            None => return Some(PathKind::Root { legacy: true }),
            Some(v) => (String::new(), v.clone(), &parts[2..]),
        },
        Some("apis") => match (parts.get(1), parts.get(2)) {
            (None, _) => return Some(PathKind::Root { legacy: false }),
            (Some(g), None) => return Some(PathKind::Group(g.clone())),
            (Some(g), Some(v)) => (g.clone(), v.clone(), &parts[3..]),
        },
        _ => return None,
    };
    if rest.is_empty() {
        return Some(PathKind::GroupVersion { group, version });
    }
    let mut info = RequestInfo {
        group,
        version,
        ..Default::default()
    };
    let mut cur: &[String] = rest;
    if cur[0] == "namespaces" && cur.len() > 1 {
        // `namespaces/<ns>/status` and `/finalize` are subresources of the namespace itself.
        let sub_of_ns = cur.len() == 3 && (cur[2] == "status" || cur[2] == "finalize");
        if cur.len() > 2 && !sub_of_ns {
            info.namespace = Some(cur[1].clone());
            cur = &cur[2..];
        }
    }
    info.resource = cur[0].clone();
    info.name = cur.get(1).cloned();
    info.subresource = cur.get(2).cloned();
    if cur.len() > 3 {
        // Deeper paths exist only for proxies, which kedge does not serve.
        return None;
    }
    Some(PathKind::Resource(info))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> RequestInfo {
        match parse_path(path) {
            Some(PathKind::Resource(i)) => i,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn splits_resource_paths_like_kubernetes() {
        let i = res("/api/v1/namespaces/default/pods/web/log");
        assert_eq!(i.namespace.as_deref(), Some("default"));
        assert_eq!(
            (i.resource.as_str(), i.name.as_deref()),
            ("pods", Some("web"))
        );
        assert_eq!(i.subresource.as_deref(), Some("log"));
        let i = res("/api/v1/namespaces/kube-system");
        assert_eq!(
            (i.resource.as_str(), i.name.as_deref()),
            ("namespaces", Some("kube-system"))
        );
        let i = res("/api/v1/namespaces/foo/status");
        assert_eq!(i.namespace, None);
        assert_eq!(i.subresource.as_deref(), Some("status"));
        let i = res("/apis/apps/v1/deployments");
        assert_eq!(
            (i.group.as_str(), i.resource.as_str()),
            ("apps", "deployments")
        );
        assert_eq!(parse_path("/apis"), Some(PathKind::Root { legacy: false }));
        assert_eq!(
            parse_path("/apis/apps"),
            Some(PathKind::Group("apps".into()))
        );
        assert_eq!(parse_path("/healthz"), None);
    }

    #[test]
    fn decodes_queries() {
        let q = parse_query(Some(
            "labelSelector=app%20in%20(a%2Cb)&limit=500&watch=true",
        ));
        assert_eq!(q["labelSelector"], "app in (a,b)");
        assert_eq!(q["limit"], "500");
        let all = query_all(Some("command=ls&command=-l&x=1"), "command");
        assert_eq!(all, vec!["ls", "-l"]);
    }
}
