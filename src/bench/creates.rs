//! ConfigMap create throughput.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Result;
use hyper::Method;

use crate::httpclient::Target;

pub fn run(
    kubeconfig: &Path,
    clients: usize,
    count: usize,
    ns: &str,
    prefix: &str,
    ack_file: Option<&Path>,
) -> Result<()> {
    let target = Target::from_kubeconfig(kubeconfig)?;
    let ack = match ack_file {
        Some(p) => Some(Arc::new(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?,
        ))),
        None => None,
    };
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let path = format!("/api/v1/namespaces/{ns}/configmaps");
    let start = Instant::now();
    crate::rt::block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..clients.max(1) {
            let (target, next, done, errors, ack) = (
                target.clone(),
                next.clone(),
                done.clone(),
                errors.clone(),
                ack.clone(),
            );
            let (path, prefix) = (path.clone(), prefix.to_string());
            tasks.push(crate::rt::spawn(async move {
                let Ok(mut conn) = target.connect().await else {
                    errors.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if count != 0 && i >= count {
                        return;
                    }
                    let name = format!("{prefix}-{i}");
                    let body = format!(
                        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}},"data":{{"k":"v"}}}}"#
                    );
                    match conn.request(Method::POST, &path, Some(body.into_bytes())).await {
                        Ok((201, _)) => {
                            done.fetch_add(1, Ordering::Relaxed);
                            if let Some(a) = &ack {
                                let mut f = a.lock().unwrap_or_else(|e| e.into_inner());
                                let _ = writeln!(f, "{name}");
                            }
                        }
                        Ok(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            // The server went away (crash tests): this client is done.
                            errors.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    }
                }
            }));
        }
        for t in tasks {
            t.await;
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    println!(
        "creates: clients={clients} created={n} errors={} seconds={secs:.2} rate={:.0}/s",
        errors.load(Ordering::Relaxed),
        n as f64 / secs
    );
    Ok(())
}
