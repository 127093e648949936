//! Joining a server: `kedge agent --server URL --token TOKEN`.
//!
//! Contract: the agent trusts no certificate up front. It downloads the cluster CA from the
//! server's unauthenticated `/cacerts`, accepts it only if its SHA-256 equals the hash carried
//! in the full token (`K10<hash>::server:<secret>`, as k3s does), and from then on talks to the
//! API over verified TLS with the token as bearer credential. A bare secret without a hash is
//! refused with an error saying which token to use. The CA is cached under
//! `<data-dir>/agent/server-ca.crt`.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use hyper::Method;

use crate::api::auth;
use crate::httpclient::Target;

/// Verify the server's CA against the token and return a client target for the API.
pub async fn connect(server: &str, token: &str, agent_dir: &Path) -> Result<Target> {
    let Some(want) = auth::ca_hash_of(token) else {
        bail!(
            "the token is not a full join token (K10<ca-hash>::server:<secret>); use the \
             contents of <data-dir>/server/token on the server"
        );
    };
    let mut conn = Target::unverified(server)?
        .connect()
        .await
        .with_context(|| format!("connecting to {server}"))?;
    let (code, pem) = conn
        .request(Method::GET, "/cacerts", None)
        .await
        .with_context(|| format!("fetching {server}/cacerts"))?;
    if code != 200 {
        bail!("{server}/cacerts answered HTTP {code}");
    }
    let got = auth::sha256_hex(&pem);
    if got != want {
        return Err(anyhow!(
            "the CA served by {server} (sha256 {got}) does not match the token's ({want}): \
             wrong server or wrong token"
        ));
    }
    std::fs::create_dir_all(agent_dir)
        .with_context(|| format!("creating {}", agent_dir.display()))?;
    std::fs::write(agent_dir.join("server-ca.crt"), &pem).context("caching the server CA")?;
    Target::with_token(server, &pem, token)
}
