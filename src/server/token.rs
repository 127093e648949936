//! The cluster join token: `<data-dir>/server/token` (and the same text in `node-token`, as
//! k3s names it) holds `K10<sha256 of the CA>::server:<secret>`. The secret is made once and
//! kept across restarts; the CA hash in front lets an agent verify the CA it downloads.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result};

use crate::api::auth;

/// Read the token, creating it on first start; returns the full token.
pub fn ensure(server_dir: &Path, ca_pem: &str) -> Result<String> {
    let path = server_dir.join("token");
    let existing = match fs::read_to_string(&path) {
        Ok(t) => Some(t.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let secret = match existing.as_deref() {
        Some(t) => t.rsplit_once("::server:").map_or(t, |(_, s)| s).to_string(),
        None => {
            let bytes: [u8; 16] = rand::random();
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        }
    };
    let full = auth::full_token(ca_pem, &secret);
    if existing.as_deref() != Some(full.as_str()) {
        for name in ["token", "node-token"] {
            write_private(&server_dir.join(name), &full)?;
        }
    }
    Ok(full)
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(format!("{text}\n").as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_survives_restarts_and_follows_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        let a = ensure(dir.path(), "CA1").unwrap();
        assert!(a.starts_with("K10") && a.contains("::server:"));
        assert_eq!(ensure(dir.path(), "CA1").unwrap(), a);
        let b = ensure(dir.path(), "CA2").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.rsplit_once(':').unwrap().1, b.rsplit_once(':').unwrap().1);
        let node = fs::read_to_string(dir.path().join("node-token")).unwrap();
        assert_eq!(node.trim(), b);
    }
}
