//! Running blocking network code inside a pod's network namespace without blocking the
//! executor: the bridge plugin's [`kedge_netplugins::netns::run_in`] (a fresh thread joins the
//! namespace and exits afterwards, so no pooled or executor thread ever changes namespace),
//! called from a blocking thread.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("entering the pod network namespace: {0}")]
    Enter(String),
}

/// Run `f` in the network namespace at `netns` (`None` = the agent's own).
pub async fn run_in<T, F>(netns: Option<&Path>, f: F) -> Result<T, NetnsError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let Some(path) = netns.map(Path::to_path_buf) else {
        return Ok(smol::unblock(f).await);
    };
    smol::unblock(move || {
        kedge_netplugins::netns::run_in(&path, f).map_err(|e| {
            let mut s = e.to_string();
            let mut cur = std::error::Error::source(&e);
            while let Some(c) = cur {
                s.push_str(&format!(": {c}"));
                cur = c.source();
            }
            NetnsError::Enter(s)
        })
    })
    .await
}
