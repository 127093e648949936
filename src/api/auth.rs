//! Bearer-token authentication for joining agents, and the unauthenticated `/cacerts`
//! endpoint they use to learn the cluster CA.
//!
//! Contract: a request without a verified client certificate is authenticated when its
//! `Authorization: Bearer <token>` header names a registered token; the token's user is
//! returned. Tokens use k3s's full form `K10<sha256 of the CA PEM, hex>::server:<secret>`,
//! so an agent holding only the token can verify the CA it downloads from `/cacerts` before
//! trusting it (see `crate::agent::join`). Comparison is constant-time in the secret's length.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use hyper::header::AUTHORIZATION;
use hyper::Request;

use super::server::User;
use super::status::ApiError;

/// Registered tokens and the CA bundle served at `/cacerts`.
#[derive(Default)]
pub struct Auth {
    tokens: RwLock<HashMap<String, User>>,
    ca_pem: OnceLock<String>,
    signer: OnceLock<Box<Signer>>,
    /// The cluster network settings joining agents follow (CIDRs, backend).
    cluster: OnceLock<serde_json::Value>,
}

/// Issues a serving certificate (PEM cert, PEM key) for a node name and its addresses.
pub type Signer =
    dyn Fn(&str, &[std::net::IpAddr]) -> Result<(String, String), String> + Send + Sync;

impl Auth {
    /// Accept `token` as `user` from now on.
    pub fn add_token(&self, token: &str, user: User) {
        let mut t = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        t.insert(token.to_string(), user);
    }

    pub fn set_ca(&self, pem: String) {
        let _ = self.ca_pem.set(pem);
    }

    pub fn set_signer(&self, f: Box<Signer>) {
        let _ = self.signer.set(f);
    }

    /// The cluster network settings handed to joining agents with their certificate.
    pub fn set_cluster(&self, settings: serde_json::Value) {
        let _ = self.cluster.set(settings);
    }

    /// `POST /v1-kedge/serving-kubelet?node=<name>&ip=<addr>...` by a member of
    /// `system:nodes`: a serving certificate for the agent's streaming endpoint, as JSON
    /// `{"cert": PEM, "key": PEM, "cluster": settings}` (see [`Auth::set_cluster`]).
    pub fn serving_kubelet(&self, query: &str, user: &User) -> Result<serde_json::Value, ApiError> {
        if !user.groups.iter().any(|g| g == "system:nodes") {
            return Err(ApiError::forbidden(format!(
                "user \"{}\" cannot request node serving certificates",
                user.name
            )));
        }
        let mut node = None;
        let mut ips = Vec::new();
        for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
            match k {
                "node" => node = Some(v.to_string()),
                "ip" => ips.push(v.parse().map_err(|_| {
                    ApiError::bad_request(format!("ip {v:?} is not an IP address"))
                })?),
                _ => {}
            }
        }
        let node = node
            .filter(|n| crate::api::validation::names::dns1123_subdomain(n).is_ok())
            .ok_or_else(|| ApiError::bad_request("node must be a DNS subdomain name"))?;
        let signer = self
            .signer
            .get()
            .ok_or_else(|| ApiError::internal("this server cannot sign certificates"))?;
        let (cert, key) = signer(&node, &ips).map_err(ApiError::internal)?;
        let cluster = self.cluster.get().cloned().unwrap_or_default();
        Ok(serde_json::json!({ "cert": cert, "key": key, "cluster": cluster }))
    }

    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.get().map(String::as_str)
    }

    /// The user a request's bearer token names, if any.
    pub fn user_for<B>(&self, req: &Request<B>) -> Option<User> {
        let header = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
        let token = header.strip_prefix("Bearer ")?.trim();
        let t = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        t.iter()
            .find(|(k, _)| constant_time_eq(k.as_bytes(), token.as_bytes()))
            .map(|(_, u)| u.clone())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// k3s-style full token: `K10<sha256(ca_pem) hex>::server:<secret>`.
pub fn full_token(ca_pem: &str, secret: &str) -> String {
    format!("K10{}::server:{secret}", sha256_hex(ca_pem.as_bytes()))
}

/// Split a full token into the CA hash and the whole token; a bare secret has no hash.
pub fn ca_hash_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix("K10")?;
    let (hash, _) = rest.split_once("::")?;
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hash)
}

pub fn sha256_hex(data: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(h: Option<&str>) -> Request<()> {
        let mut b = Request::builder().uri("/api");
        if let Some(h) = h {
            b = b.header(AUTHORIZATION, h);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn bearer_tokens_name_their_user_and_nothing_else_does() {
        let a = Auth::default();
        let tok = full_token("CA", "s3cret");
        assert_eq!(ca_hash_of(&tok), Some(sha256_hex(b"CA").as_str()));
        assert_eq!(ca_hash_of("s3cret"), None);
        let u = User {
            name: "kedge-agent".into(),
            groups: vec!["system:nodes".into()],
        };
        a.add_token(&tok, u.clone());
        assert_eq!(a.user_for(&req(Some(&format!("Bearer {tok}")))), Some(u));
        assert_eq!(a.user_for(&req(Some("Bearer wrong"))), None);
        assert_eq!(a.user_for(&req(Some(&format!("Basic {tok}")))), None);
        assert_eq!(a.user_for(&req(None)), None);
    }

    #[test]
    fn only_nodes_get_serving_certificates_for_valid_names() {
        let a = Auth::default();
        let node = User {
            name: "kedge-agent".into(),
            groups: vec!["system:nodes".into()],
        };
        let admin = User {
            name: "admin".into(),
            groups: vec!["system:masters".into()],
        };
        assert_eq!(a.serving_kubelet("node=n1", &node).unwrap_err().code, 500);
        a.set_signer(Box::new(|n, ips| {
            Ok((format!("cert {n} {ips:?}"), "key".into()))
        }));
        let ok = a.serving_kubelet("node=n1&ip=10.0.0.2", &node).unwrap();
        assert_eq!(ok["cert"], "cert n1 [10.0.0.2]");
        assert_eq!(a.serving_kubelet("node=n1", &admin).unwrap_err().code, 403);
        assert_eq!(a.serving_kubelet("node=N_1", &node).unwrap_err().code, 400);
        assert_eq!(
            a.serving_kubelet("node=n1&ip=x", &node).unwrap_err().code,
            400
        );
    }
}
