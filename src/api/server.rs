//! The API server's shared state and top-level request dispatch.
//!
//! Contract: [`ApiServer::handle`] answers one HTTP request. Health and version endpoints need
//! no credentials; everything else needs an authenticated [`User`] (401 otherwise). Resource
//! paths are resolved through the [`Registry`]; every failure is a `metav1.Status`.

use std::net::IpAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use ipnetwork::Ipv4Network;
use serde_json::{json, Value};

use super::alloc::Allocators;
use super::body::{self, Body};
use super::registry::Registry;
use super::request::{parse_path, parse_query, PathKind};
use super::status::ApiError;
use super::{discovery, handlers, openapi};
use crate::clock::Clock;
use crate::store::Store;

/// The Kubernetes version whose API kedge implements (k8s-openapi `v1_33`).
pub const KUBE_MINOR: &str = "33";
pub const KUBE_GIT_VERSION: &str = "v1.33.0+kedge";

/// Static settings of the API server.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub service_cidr: Ipv4Network,
    pub cluster_cidr: Ipv4Network,
    /// Address other nodes and the `kubernetes` Endpoints use to reach the API.
    pub advertise_ip: IpAddr,
    pub port: u16,
    /// `tolerationSeconds` of the not-ready/unreachable tolerations pods get at admission.
    pub default_toleration_seconds: i64,
}

/// An authenticated client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

pub struct ApiServer {
    pub store: Store,
    pub registry: Registry,
    pub alloc: Allocators,
    pub clock: Arc<dyn Clock>,
    pub cfg: ApiConfig,
    /// Bearer tokens of joining agents and the CA served at `/cacerts`.
    pub auth: super::auth::Auth,
    /// TLS client settings for node agents (logs, exec, attach, port-forward, metrics); set
    /// once at start, see [`super::proxy::client_config`].
    pub kubelet: std::sync::OnceLock<Arc<rustls::ClientConfig>>,
}

fn version_info() -> Value {
    json!({
        "major": "1",
        "minor": KUBE_MINOR,
        "emulationMajor": "1",
        "emulationMinor": KUBE_MINOR,
        "gitVersion": KUBE_GIT_VERSION,
        "gitCommit": env!("CARGO_PKG_VERSION"),
        "gitTreeState": "clean",
        "buildDate": "2026-11-22T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": format!("linux/{}", std::env::consts::ARCH),
    })
}

/// Whether a JSON answer satisfies the Accept header. Responses are always JSON: clients that
/// list protobuf or YAML first also list JSON (kubectl does), so only an Accept header naming
/// none of the API's media types is refused.
fn accepts_json(accept: &str) -> bool {
    accept.trim().is_empty()
        || accept.split(',').any(|part| {
            let media = part
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            matches!(
                media.as_str(),
                "*/*"
                    | "application/*"
                    | "application/json"
                    | "application/yaml"
                    | "application/vnd.kubernetes.protobuf"
                    | "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
                    | "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
            )
        })
}

impl ApiServer {
    pub fn new(store: Store, clock: Arc<dyn Clock>, cfg: ApiConfig) -> Arc<ApiServer> {
        Arc::new(ApiServer {
            store,
            registry: Registry::new(super::builtin::resources()),
            alloc: Allocators::new(cfg.service_cidr),
            clock,
            cfg,
            auth: Default::default(),
            kubelet: std::sync::OnceLock::new(),
        })
    }

    /// Answer one request.
    pub async fn handle(
        self: &Arc<Self>,
        req: Request<Incoming>,
        user: Option<User>,
    ) -> Response<Body> {
        match self.route(req, user).await {
            Ok(r) => r,
            Err(e) => body::error(&e),
        }
    }

    async fn route(
        self: &Arc<Self>,
        req: Request<Incoming>,
        user: Option<User>,
    ) -> Result<Response<Body>, ApiError> {
        let path = req.uri().path().to_string();
        match path.as_str() {
            "/healthz" | "/livez" | "/readyz" | "/healthz/ping" | "/livez/ping" => {
                return Ok(body::text(200, "ok"))
            }
            "/version" => return Ok(body::json(200, &version_info())),
            "/cacerts" => {
                if let Some(pem) = self.auth.ca_pem() {
                    return Ok(body::text(200, pem));
                }
            }
            _ => {}
        }
        let Some(user) = user.or_else(|| self.auth.user_for(&req)) else {
            return Err(ApiError::unauthorized());
        };
        if path == "/v1-kedge/serving-kubelet" {
            if req.method() != Method::POST {
                return Err(ApiError::method_not_allowed("GET", "serving-kubelet"));
            }
            let q = req.uri().query().unwrap_or("");
            return Ok(body::json(201, &self.auth.serving_kubelet(q, &user)?));
        }
        let accept = req
            .headers()
            .get(hyper::header::ACCEPT)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_string();
        if !accepts_json(&accept) {
            return Err(ApiError::not_acceptable(
                "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf",
            ));
        }
        if path == "/openapi/v2" {
            return Ok(openapi::v2_empty());
        }
        if path == "/openapi/v3" || path.starts_with("/openapi/v3/") {
            return openapi::serve(self, &path);
        }
        if path == "/openapi/v2" {
            return Ok(openapi::v2_empty());
        }
        let kind = parse_path(&path).ok_or_else(ApiError::not_found_path)?;
        let method = req.method().clone();
        // Streaming pod subresources and metrics.k8s.io are served outside the registry.
        match &kind {
            PathKind::Resource(i)
                if i.group.is_empty() && i.resource == "pods" && i.namespace.is_some() =>
            {
                if let (Some(ns), Some(name), Some(sub)) = (&i.namespace, &i.name, &i.subresource) {
                    match sub.as_str() {
                        "log" if method == Method::GET => {
                            let raw = req.uri().query().map(str::to_string);
                            return super::proxy::log(self, ns, name, raw.as_deref()).await;
                        }
                        "exec" | "attach" | "portforward" => {
                            let (ns, name, sub) = (ns.clone(), name.clone(), sub.clone());
                            return super::proxy::stream(self, req, &ns, &name, &sub).await;
                        }
                        _ => {}
                    }
                }
            }
            PathKind::Group(g) if g == super::metrics::GROUP => {
                return super::metrics::handle(self, &method, None, None, &Default::default())
                    .await;
            }
            PathKind::GroupVersion { group, version } if group == super::metrics::GROUP => {
                return super::metrics::handle(
                    self,
                    &method,
                    Some(version),
                    None,
                    &Default::default(),
                )
                .await;
            }
            PathKind::Resource(i) if i.group == super::metrics::GROUP => {
                let query = parse_query(req.uri().query());
                return super::metrics::handle(self, &method, None, Some(i.clone()), &query).await;
            }
            _ => {}
        }
        match kind {
            PathKind::Root { legacy } if method == Method::GET => {
                discovery::root(&self.registry, legacy, &accept)
            }
            PathKind::Group(g) if method == Method::GET => discovery::group(&self.registry, &g),
            PathKind::GroupVersion { group, version } if method == Method::GET => {
                discovery::group_version(&self.registry, &group, &version)
            }
            PathKind::Resource(info) => {
                let query = parse_query(req.uri().query());
                let raw_query = req.uri().query().map(str::to_string);
                handlers::resource(self, req, info, query, raw_query, &accept, &user).await
            }
            _ => Err(ApiError::method_not_allowed(method.as_str(), &path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::accepts_json;

    #[test]
    fn json_satisfies_what_clients_ask_for() {
        assert!(accepts_json(""));
        assert!(accepts_json(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        ));
        assert!(accepts_json("application/vnd.kubernetes.protobuf, */*"));
        assert!(accepts_json("application/yaml"));
        assert!(!accepts_json("text/html"));
        assert!(!accepts_json("image/png, text/plain;q=0.5"));
    }
}
