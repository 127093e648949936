//! Watch delivery latency: N watchers on ConfigMaps, one writer; each event's latency is the
//! time from the write's start to its arrival at a watcher.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use hyper::Method;

use super::percentile;
use crate::httpclient::Target;

pub fn run(kubeconfig: &Path, watchers: usize, writes: usize) -> Result<()> {
    let target = Target::from_kubeconfig(kubeconfig)?;
    let sent: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; writes]));
    let lat: Arc<Mutex<Vec<f64>>> = Arc::new(Mutex::new(Vec::new()));
    crate::rt::block_on(async {
        let mut w = target.connect().await?;
        let ns = format!("watchbench{}", std::process::id());
        let body =
            format!(r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{ns}"}}}}"#);
        w.request(Method::POST, "/api/v1/namespaces", Some(body.into_bytes()))
            .await?;
        let (_, list) = w
            .request(
                Method::GET,
                &format!("/api/v1/namespaces/{ns}/configmaps"),
                None,
            )
            .await?;
        let rv = serde_json::from_slice::<serde_json::Value>(&list)?["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("0")
            .to_string();
        let mut tasks = Vec::new();
        for _ in 0..watchers {
            let (target, sent, lat, ns, rv) = (
                target.clone(),
                sent.clone(),
                lat.clone(),
                ns.clone(),
                rv.clone(),
            );
            tasks.push(crate::rt::spawn(async move {
                let tcp = smol::net::TcpStream::connect((target.host.as_str(), target.port)).await?;
                let name = rustls::pki_types::ServerName::try_from(target.host.clone())?;
                let mut tls = futures_rustls::TlsConnector::from(target.tls.clone()).connect(name, tcp).await?;
                use futures_lite::{AsyncBufReadExt, AsyncWriteExt};
                let req = format!(
                    "GET /api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=120 HTTP/1.1\r\nHost: kedge\r\nAccept: application/json\r\n\r\n"
                );
                tls.write_all(req.as_bytes()).await?;
                let mut reader = futures_lite::io::BufReader::new(tls);
                let mut seen = 0;
                let mut line = String::new();
                while seen < writes {
                    line.clear();
                    if reader.read_line(&mut line).await? == 0 {
                        break;
                    }
                    let Some(pos) = line.find("\"name\":\"w-") else { continue };
                    let rest = &line[pos + 10..];
                    let idx: usize = rest[..rest.find('"').unwrap_or(0)].parse().unwrap_or(usize::MAX);
                    let at = sent.lock().unwrap_or_else(|e| e.into_inner()).get(idx).copied().flatten();
                    if let Some(t) = at {
                        lat.lock().unwrap_or_else(|e| e.into_inner()).push(t.elapsed().as_secs_f64() * 1000.0);
                        seen += 1;
                    }
                }
                Ok::<(), anyhow::Error>(())
            }));
        }
        // Let every watcher connect before writing.
        async_io::Timer::after(Duration::from_millis(500)).await;
        for i in 0..writes {
            sent.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(Instant::now());
            let body = format!(
                r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"w-{i}"}}}}"#
            );
            let (code, _) = w
                .request(
                    Method::POST,
                    &format!("/api/v1/namespaces/{ns}/configmaps"),
                    Some(body.into_bytes()),
                )
                .await?;
            if code != 201 {
                return Err(anyhow!("create answered {code}"));
            }
            async_io::Timer::after(Duration::from_millis(5)).await;
        }
        for t in tasks {
            t.await?;
        }
        Ok::<(), anyhow::Error>(())
    })?;
    let mut l = lat.lock().unwrap_or_else(|e| e.into_inner()).clone();
    l.sort_by(|a, b| a.total_cmp(b));
    println!(
        "watch: watchers={watchers} writes={writes} events={} p50={:.2}ms p99={:.2}ms",
        l.len(),
        percentile(&l, 50.0),
        percentile(&l, 99.0)
    );
    Ok(())
}
