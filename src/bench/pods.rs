//! Pod start latency through the whole system: the time from sending a pod create (or a
//! Deployment scale) to the watch event that shows the pod Running with its container
//! started, as a user waiting with `kubectl get -w` sees it.
//!
//! - `pods`: rounds of `parallel` pods created at once; each pod's latency is recorded; pods of
//!   a round are deleted (and gone) before the next round starts.
//! - `scale`: one Deployment scaled from 0 to N; the figure is the time until all N are
//!   Running.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use hyper::Method;
use serde_json::{json, Value};

use super::percentile;
use crate::httpclient::{Conn, Target};

/// Pod name → when the watch first showed it Running with a started container.
type Seen = Arc<Mutex<HashMap<String, Instant>>>;

fn running(pod: &Value) -> bool {
    pod["status"]["phase"] == "Running"
        && pod["status"]["containerStatuses"]
            .as_array()
            .is_some_and(|s| !s.is_empty() && s.iter().all(|c| c["state"]["running"].is_object()))
}

async fn setup(target: &Target) -> Result<(Conn, String, String)> {
    let mut c = target.connect().await?;
    let ns = format!("podbench{}", std::process::id());
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    c.request(
        Method::POST,
        "/api/v1/namespaces",
        Some(body.to_string().into_bytes()),
    )
    .await?;
    // Wait for the namespace's default ServiceAccount (pods are refused without it).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, _) = c
            .request(
                Method::GET,
                &format!("/api/v1/namespaces/{ns}/serviceaccounts/default"),
                None,
            )
            .await?;
        if code == 200 {
            break;
        }
        if Instant::now() > deadline {
            bail!("namespace {ns} got no default ServiceAccount");
        }
        async_io::Timer::after(Duration::from_millis(50)).await;
    }
    let (_, list) = c
        .request(Method::GET, &format!("/api/v1/namespaces/{ns}/pods"), None)
        .await?;
    let rv = serde_json::from_slice::<Value>(&list)?["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    Ok((c, ns, rv))
}

/// Watch the namespace's pods; record Running times and count deletions.
fn watch(target: &Target, ns: &str, rv: &str, seen: Seen, gone: Arc<Mutex<usize>>) {
    let (target, path) = (
        target.clone(),
        format!("/api/v1/namespaces/{ns}/pods?watch=true&resourceVersion={rv}&timeoutSeconds=3600"),
    );
    smol::spawn(async move {
        let conn = target.connect().await?;
        let mut lines = conn.stream(&path).await?;
        while let Some(ev) = lines.next().await? {
            let name = ev["object"]["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if ev["type"] == "DELETED" {
                *gone.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            } else if running(&ev["object"]) {
                seen.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(name)
                    .or_insert_with(Instant::now);
            }
        }
        Ok::<(), anyhow::Error>(())
    })
    .detach();
}

fn pod(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"bench": "pods"}},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "c", "image": image, "imagePullPolicy": "IfNotPresent",
                            "command": ["sleep", "3600"]}]
        }
    })
}

async fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        if Instant::now() > deadline {
            return Err(anyhow!("timed out waiting for {what}"));
        }
        async_io::Timer::after(Duration::from_millis(2)).await;
    }
    Ok(())
}

pub fn run_pods(kubeconfig: &Path, image: &str, rounds: usize, parallel: usize) -> Result<()> {
    let target = Target::from_kubeconfig(kubeconfig)?;
    crate::rt::block_on(async {
        let (mut admin, ns, rv) = setup(&target).await?;
        let seen: Seen = Default::default();
        let gone = Arc::new(Mutex::new(0usize));
        watch(&target, &ns, &rv, seen.clone(), gone.clone());
        async_io::Timer::after(Duration::from_millis(300)).await;
        let mut conns = Vec::new();
        for _ in 0..parallel {
            conns.push(target.connect().await?);
        }
        let mut lat = Vec::new();
        for round in 0..rounds {
            let mut sent = Vec::new();
            let mut tasks = Vec::new();
            for (i, mut c) in conns.drain(..).enumerate() {
                let name = format!("p{round}-{i}");
                let body = pod(&name, image).to_string().into_bytes();
                let path = format!("/api/v1/namespaces/{ns}/pods");
                sent.push((name, Instant::now()));
                tasks.push(smol::spawn(async move {
                    let (code, b) = c.request(Method::POST, &path, Some(body)).await?;
                    if code != 201 {
                        bail!("create: HTTP {code}: {}", String::from_utf8_lossy(&b));
                    }
                    Ok::<Conn, anyhow::Error>(c)
                }));
            }
            for t in tasks {
                conns.push(t.await?);
            }
            wait_until("pods Running", 120, || {
                let s = seen.lock().unwrap_or_else(|e| e.into_inner());
                sent.iter().all(|(n, _)| s.contains_key(n))
            })
            .await?;
            {
                let s = seen.lock().unwrap_or_else(|e| e.into_inner());
                for (n, t0) in &sent {
                    lat.push(s[n].duration_since(*t0).as_secs_f64() * 1000.0);
                }
            }
            let before = *gone.lock().unwrap_or_else(|e| e.into_inner());
            for (n, _) in &sent {
                admin
                    .request(
                        Method::DELETE,
                        &format!("/api/v1/namespaces/{ns}/pods/{n}"),
                        None,
                    )
                    .await?;
            }
            wait_until("pods deleted", 120, || {
                *gone.lock().unwrap_or_else(|e| e.into_inner()) >= before + sent.len()
            })
            .await?;
        }
        lat.sort_by(f64::total_cmp);
        println!(
            "pod create → Running ({} pods, {parallel} at once): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            lat.len(),
            percentile(&lat, 50.0),
            percentile(&lat, 99.0),
            lat.last().copied().unwrap_or(0.0)
        );
        let _ = admin
            .request(Method::DELETE, &format!("/api/v1/namespaces/{ns}"), None)
            .await;
        Ok(())
    })
}

pub fn run_scale(
    kubeconfig: &Path,
    image: &str,
    replicas: usize,
    rss_pid: Option<u32>,
) -> Result<()> {
    let target = Target::from_kubeconfig(kubeconfig)?;
    crate::rt::block_on(async {
        let (mut admin, ns, rv) = setup(&target).await?;
        let seen: Seen = Default::default();
        let gone = Arc::new(Mutex::new(0usize));
        watch(&target, &ns, &rv, seen.clone(), gone);
        let mut template = pod("", image);
        template["metadata"] = json!({"labels": {"bench": "scale"}});
        let deploy = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "scale"},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"bench": "scale"}},
                     "template": {"metadata": template["metadata"], "spec": template["spec"]}}
        });
        let (code, b) = admin
            .request(
                Method::POST,
                &format!("/apis/apps/v1/namespaces/{ns}/deployments"),
                Some(deploy.to_string().into_bytes()),
            )
            .await?;
        if code != 201 {
            bail!(
                "create deployment: HTTP {code}: {}",
                String::from_utf8_lossy(&b)
            );
        }
        let t0 = Instant::now();
        let (code, b) = admin
            .request_as(
                Method::PATCH,
                &format!("/apis/apps/v1/namespaces/{ns}/deployments/scale/scale"),
                "application/merge-patch+json",
                Some(
                    json!({"spec": {"replicas": replicas}})
                        .to_string()
                        .into_bytes(),
                ),
            )
            .await?;
        if code != 200 {
            bail!("scale: HTTP {code}: {}", String::from_utf8_lossy(&b));
        }
        wait_until("all replicas Running", 300, || {
            seen.lock().unwrap_or_else(|e| e.into_inner()).len() >= replicas
        })
        .await?;
        let all = t0.elapsed();
        let mut at: Vec<f64> = seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|t| t.duration_since(t0).as_secs_f64())
            .collect();
        at.sort_by(f64::total_cmp);
        println!(
            "scale 0 → {replicas}: all Running after {:.2} s (half after {:.2} s)",
            all.as_secs_f64(),
            percentile(&at, 50.0)
        );
        if let Some(pid) = rss_pid {
            let kib = super::rss_kib(&pid.to_string()).unwrap_or(0);
            println!(
                "RSS of process {pid} with {replicas} pods running: {:.1} MiB",
                kib as f64 / 1024.0
            );
        }
        let _ = admin
            .request(Method::DELETE, &format!("/api/v1/namespaces/{ns}"), None)
            .await;
        Ok(())
    })
}
