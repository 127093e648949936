//! Loopback tests of the whole agent server: mutual TLS, logs from a real CRI file, exec over
//! WebSocket against a host process standing in for the runtime, metrics JSON.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use http_body_util::{BodyExt, Empty};
use hyper::Request;

use super::http::UpgradedIo;
use super::*;
use crate::api::proxy;

struct FakeLookup {
    log: PathBuf,
    uid: std::sync::Mutex<String>,
}

impl PodLookup for FakeLookup {
    fn container(&self, ns: &str, pod: &str, c: &str) -> Option<ContainerRef> {
        (ns == "default" && pod == "web" && c == "c").then(|| ContainerRef {
            id: "id1".into(),
            running: true,
            log_path: self.log.clone(),
            previous_log_path: None,
            netns: None,
            tty: false,
            stdin: false,
        })
    }
    fn pods(&self) -> Vec<PodRef> {
        vec![PodRef {
            namespace: "default".into(),
            name: "web".into(),
            uid: self.uid.lock().unwrap().clone(),
            containers: vec![("c".into(), "id1".into())],
            netns: None,
        }]
    }
}

/// Runs exec requests as host processes.
struct HostIo;

impl ContainerIo for HostIo {
    fn exec(&self, _id: &str, req: &ExecRequest) -> Result<ExecIo, String> {
        let (cmd, args) = req.args.split_first().ok_or("no command")?;
        let child = std::process::Command::new(cmd)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        ExecIo::from_child(child).map_err(|e| e.to_string())
    }
    /// Plays the shim: says hello on stdout, echoes the first stdin frame on stderr, exits.
    fn attach(&self, _id: &str) -> Result<std::os::unix::net::UnixStream, String> {
        use crate::runtime::attach::{read_frame, write_frame, Frame};
        let (ours, mut shim) = std::os::unix::net::UnixStream::pair().map_err(|e| e.to_string())?;
        std::thread::spawn(move || {
            write_frame(&mut shim, &Frame::Stdout(b"hello\n".to_vec())).unwrap();
            while let Ok(Some(f)) = read_frame(&mut shim) {
                if let Frame::Stdin(d) = f {
                    write_frame(&mut shim, &Frame::Stderr(d)).unwrap();
                    return;
                }
            }
        });
        Ok(ours)
    }
    fn usage(&self, _id: &str) -> Option<ContainerUsage> {
        Some(ContainerUsage {
            cpu_usage_ns: 1_000,
            memory_working_set_bytes: 4096,
        })
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    addr: std::net::SocketAddr,
    client: Arc<rustls::ClientConfig>,
    pki: crate::server::pki::Pki,
    lookup: Arc<FakeLookup>,
    _stop: smol::channel::Sender<()>,
}

fn start() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let sans: BTreeSet<String> = ["127.0.0.1".to_string()].into();
    let pki = crate::server::pki::ensure(&dir.path().join("pki"), &sans).unwrap();
    let log = dir.path().join("0.log");
    std::fs::write(
        &log,
        "2026-11-22T03:00:00.000000001Z stdout F first\n2026-11-22T03:00:01Z stderr F last\n",
    )
    .unwrap();
    let tls = tls_config(&pki.ca_cert, &pki.serving_cert, &pki.serving_key).unwrap();
    let client = proxy::client_config(&pki.ca_cert, &pki.admin_cert, &pki.admin_key).unwrap();
    let lookup = Arc::new(FakeLookup {
        log,
        uid: std::sync::Mutex::new("u1".into()),
    });
    let srv = AgentServer::new(lookup.clone(), Arc::new(HostIo), "/proc".into());
    let listener = smol::block_on(smol::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop) = smol::channel::bounded(1);
    crate::rt::spawn(serve(listener, tls, srv, stop)).detach();
    Fixture {
        _dir: dir,
        addr,
        client,
        pki,
        lookup,
        _stop: stop_tx,
    }
}

/// A loopback TCP server that echoes the first read back once; its port.
pub(super) fn echo_once() -> u16 {
    let echo = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = echo.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = echo.accept() {
            let mut buf = [0u8; 64];
            let n = std::io::Read::read(&mut s, &mut buf).unwrap();
            std::io::Write::write_all(&mut s, &buf[..n]).unwrap();
        }
    });
    port
}

/// Send a WebSocket upgrade request as kubectl does (RFC 6455 sample key).
async fn ws_upgrade(
    f: &Fixture,
    addr: std::net::SocketAddr,
    uri: &str,
    proto: &str,
) -> hyper::Response<hyper::body::Incoming> {
    let mut send = proxy::connect(f.client.clone(), addr).await.unwrap();
    let req = Request::get(uri)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-protocol", proto)
        .body(Empty::<Bytes>::new())
        .unwrap();
    send.send_request(req).await.unwrap()
}

async fn get(f: &Fixture, uri: &str) -> (u16, String) {
    let mut send = proxy::connect(f.client.clone(), f.addr).await.unwrap();
    let req = Request::get(uri).body(Empty::<Bytes>::new()).unwrap();
    let resp = send.send_request(req).await.unwrap();
    let code = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (code, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn logs_metrics_and_auth_over_mutual_tls() {
    let f = start();
    crate::rt::block_on(async {
        assert_eq!(
            get(&f, "/containerLogs/default/web/c").await,
            (200, "first\nlast\n".into())
        );
        assert_eq!(
            get(
                &f,
                "/containerLogs/default/web/c?tailLines=1&timestamps=true"
            )
            .await,
            (200, "2026-11-22T03:00:01Z last\n".into())
        );
        assert_eq!(get(&f, "/containerLogs/default/web/nope").await.0, 404);
        assert_eq!(
            get(&f, "/containerLogs/default/web/c?previous=true")
                .await
                .0,
            400
        );
        // Two samples a second apart give rates.
        let _ = get(&f, "/metrics/resource").await;
        async_io::Timer::after(std::time::Duration::from_millis(1100)).await;
        let (code, body) = get(&f, "/metrics/resource").await;
        assert_eq!(code, 200);
        let sum: stats::Summary = serde_json::from_str(&body).unwrap();
        assert!(sum.node.is_some(), "{body}");
        assert_eq!(sum.pods[0].containers[0].memory_working_set_bytes, 4096);
        // Without a client certificate the handshake is refused.
        let roots = crate::api::http::ca_roots(&f.pki.ca_cert).unwrap();
        let anon = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let refused = match proxy::connect(Arc::new(anon), f.addr).await {
            Err(_) => true,
            Ok(mut send) => {
                let req = Request::get("/healthz")
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                send.send_request(req).await.is_err()
            }
        };
        assert!(refused);
    });
}

#[test]
fn exec_over_websocket_reports_output_and_exit_code() {
    let f = start();
    crate::rt::block_on(async {
        let mut resp = ws_upgrade(&f, f.addr, "/exec/default/web/c?command=sh&command=-c&command=echo%20hi%3B%20cat%3B%20echo%20err%20%3E%262%3B%20exit%203&stdin=true&stdout=true&stderr=true", "v5.channel.k8s.io").await;
        assert_eq!(resp.status().as_u16(), 101);
        assert_eq!(
            resp.headers()["sec-websocket-protocol"],
            "v5.channel.k8s.io"
        );
        assert_eq!(
            resp.headers()["sec-websocket-accept"],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let mut io = UpgradedIo(hyper::upgrade::on(&mut resp).await.unwrap());
        let mask = [1, 2, 3, 4];
        io.write_all(&ws::encode_client_frame(
            ws::OP_BINARY,
            b"\x00typed\n",
            mask,
        ))
        .await
        .unwrap();
        io.write_all(&ws::encode_client_frame(ws::OP_BINARY, &[0xFF, 0], mask))
            .await
            .unwrap();
        io.flush().await.unwrap();
        let mut wire = Vec::new();
        let mut chans: std::collections::HashMap<u8, Vec<u8>> = Default::default();
        'outer: loop {
            let mut buf = [0u8; 4096];
            let n = io.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            wire.extend_from_slice(&buf[..n]);
            while let Some((b0, payload, used)) = ws::decode_server_frame(&wire) {
                wire.drain(..used);
                if b0 & 0x0F == ws::OP_CLOSE {
                    break 'outer;
                }
                if let Some((ch, d)) = payload.split_first() {
                    chans.entry(*ch).or_default().extend_from_slice(d);
                }
            }
        }
        assert_eq!(chans[&1], b"hi\ntyped\n");
        assert_eq!(chans[&2], b"err\n");
        let status: serde_json::Value = serde_json::from_slice(&chans[&3]).unwrap();
        assert_eq!(status["reason"], "NonZeroExitCode");
        assert_eq!(status["details"]["causes"][0]["message"], "3");
    });
}

/// kubectl's path: API server (pods/log, pods/exec, metrics.k8s.io) → proxy → agent.
/// An API server on loopback whose node `n1` points at the fixture's agent, with a pod
/// `default/web` (container `c`, not yet Running) bound to it. Call inside `rt::block_on`.
async fn api_with_pod(
    f: &Fixture,
) -> (
    std::net::SocketAddr,
    crate::controller::Client,
    smol::channel::Sender<()>,
) {
    use crate::api::server::{ApiConfig, ApiServer};
    use crate::controller::client::{NODES, PODS};
    use serde_json::json;
    let store =
        crate::store::Store::open(&f._dir.path().join("db"), crate::store::Options::default())
            .unwrap();
    let cfg = ApiConfig {
        service_cidr: ipnetwork::Ipv4Network::new([10, 43, 0, 0].into(), 16).unwrap(),
        cluster_cidr: ipnetwork::Ipv4Network::new([10, 42, 0, 0].into(), 16).unwrap(),
        advertise_ip: std::net::Ipv4Addr::LOCALHOST.into(),
        port: 6443,
        default_toleration_seconds: 300,
    };
    let api = ApiServer::new(store, Arc::new(crate::clock::SystemClock), cfg);
    let _ = api.kubelet.set(f.client.clone());
    let api_tls =
        crate::api::http::tls_config(&f.pki.ca_cert, &f.pki.serving_cert, &f.pki.serving_key)
            .unwrap();
    let listener = smol::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = listener.local_addr().unwrap();
    let (stop_tx, stop) = smol::channel::bounded::<()>(1);
    crate::api::handlers::startup(&api).unwrap();
    crate::api::bootstrap::run(&api).await.unwrap();
    crate::rt::spawn(crate::api::http::serve(
        listener,
        api_tls,
        api.clone(),
        stop,
    ))
    .detach();
    let client = crate::controller::Client::new(api.clone());
    let node = json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "n1", "labels": {"role": "x"}}, "spec": {},
        "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": f.addr.port()}},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}});
    client.create(NODES, None, node.clone()).await.unwrap();
    client
        .merge_patch(NODES, None, "n1", &json!({"status": node["status"]}), true)
        .await
        .unwrap();
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]}});
    let created = client.create(PODS, Some("default"), pod).await.unwrap();
    *f.lookup.uid.lock().unwrap() = created["metadata"]["uid"].as_str().unwrap().into();
    (api_addr, client, stop_tx)
}

#[test]
fn api_server_proxies_logs_exec_and_metrics_to_the_agent() {
    use crate::controller::client::PODS;
    use serde_json::json;
    let f = start();
    crate::rt::block_on(async {
        let (api_addr, client, _stop) = api_with_pod(&f).await;
        let tls = f.client.clone();
        let get = |uri: &'static str| {
            let tls = tls.clone();
            async move {
                let mut send = proxy::connect(tls, api_addr).await.unwrap();
                let req = Request::get(uri).body(Empty::<Bytes>::new()).unwrap();
                let resp = send.send_request(req).await.unwrap();
                let code = resp.status().as_u16();
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                (code, String::from_utf8_lossy(&body).into_owned())
            }
        };
        // Not running yet: exec is refused like Kubernetes does.
        let (code, body) = get("/api/v1/namespaces/default/pods/web/exec?command=ls").await;
        assert_eq!(code, 400, "{body}");
        assert!(body.contains("pod web is not running"), "{body}");
        client
            .merge_patch(
                PODS,
                Some("default"),
                "web",
                &json!({"status": {"phase": "Running"}}),
                true,
            )
            .await
            .unwrap();
        assert_eq!(
            get("/api/v1/namespaces/default/pods/web/log?container=c").await,
            (200, "first\nlast\n".to_string())
        );
        let (code, body) = get("/api/v1/namespaces/default/pods/web/log?container=x").await;
        assert!(
            code == 400 && body.contains("container x is not valid for pod web"),
            "{body}"
        );
        // Exec through the API server: the upgrade is relayed and bytes spliced.
        let mut resp = ws_upgrade(
            &f,
            api_addr,
            "/api/v1/namespaces/default/pods/web/exec?command=echo&command=via-api&stdout=true",
            "v5.channel.k8s.io",
        )
        .await;
        assert_eq!(resp.status().as_u16(), 101);
        assert_eq!(
            resp.headers()["sec-websocket-accept"],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let mut io = UpgradedIo(hyper::upgrade::on(&mut resp).await.unwrap());
        let mut wire = Vec::new();
        io.read_to_end(&mut wire).await.unwrap();
        let mut out = Vec::new();
        let mut at = 0;
        while let Some((_, payload, used)) = ws::decode_server_frame(&wire[at..]) {
            at += used;
            if payload.first() == Some(&1) {
                out.extend_from_slice(&payload[1..]);
            }
        }
        assert_eq!(out, b"via-api\n");
        // metrics.k8s.io: discovery and pod metrics (the agent needs two samples).
        let (code, body) = get("/apis").await;
        assert!(code == 200 && body.contains("metrics.k8s.io"), "{body}");
        let _ = get("/apis/metrics.k8s.io/v1beta1/nodes").await;
        async_io::Timer::after(std::time::Duration::from_millis(1100)).await;
        let (code, body) =
            get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dweb")
                .await;
        assert_eq!(code, 200, "{body}");
        let list: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(list["kind"], "PodMetricsList");
        assert_eq!(list["items"][0]["metadata"]["name"], "web", "{body}");
        assert_eq!(list["items"][0]["containers"][0]["usage"]["memory"], "4Ki");
        let (code, body) = get("/apis/metrics.k8s.io/v1beta1/nodes/n1").await;
        assert_eq!(code, 200, "{body}");
        assert!(body.contains("NodeMetrics"), "{body}");
        let (code, _) =
            get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dother")
                .await;
        assert_eq!(code, 200);
    });
}

/// kubectl 1.31+ port-forward: SPDY/3.1 frames tunnelled in WebSocket binary messages.
#[test]
fn port_forward_over_websocket_tunnelled_spdy() {
    use super::spdy::{Codec, Frame, FLAG_FIN};
    let f = start();
    let port = echo_once();
    crate::rt::block_on(async {
        let mut resp = ws_upgrade(
            &f,
            f.addr,
            "/portforward/default/web",
            "SPDY/3.1+portforward.k8s.io",
        )
        .await;
        assert_eq!(resp.status().as_u16(), 101);
        let mut io = UpgradedIo(hyper::upgrade::on(&mut resp).await.unwrap());
        let mut client = Codec::new();
        let p = port.to_string();
        let headers = |t: &str| -> spdy::Headers {
            vec![
                ("streamType".into(), t.into()),
                ("port".into(), p.clone()),
                ("requestID".into(), "0".into()),
            ]
        };
        for (id, t) in [(1, "error"), (3, "data")] {
            let syn = Frame::SynStream {
                stream_id: id,
                associated: 0,
                priority: 0,
                flags: 0,
                headers: headers(t),
            };
            let bytes = client.encode(&syn).unwrap();
            io.write_all(&ws::encode_client_frame(
                ws::OP_BINARY,
                &bytes,
                [7, 7, 7, 7],
            ))
            .await
            .unwrap();
        }
        let data = Frame::Data {
            stream_id: 3,
            flags: 0,
            data: b"hello".to_vec(),
        };
        let bytes = client.encode(&data).unwrap();
        io.write_all(&ws::encode_client_frame(
            ws::OP_BINARY,
            &bytes,
            [1, 2, 3, 4],
        ))
        .await
        .unwrap();
        io.flush().await.unwrap();
        let mut server = Codec::new();
        let (mut wire, mut spdy_bytes) = (Vec::new(), Vec::new());
        let (mut replies, mut echoed, mut fins) = (0, Vec::new(), 0);
        while fins < 2 {
            let mut buf = [0u8; 4096];
            let n = io.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed early");
            wire.extend_from_slice(&buf[..n]);
            while let Some((_, payload, used)) = ws::decode_server_frame(&wire) {
                wire.drain(..used);
                spdy_bytes.extend(payload);
            }
            while let Some((frame, used)) = server.decode(&spdy_bytes).unwrap() {
                spdy_bytes.drain(..used);
                match frame {
                    Frame::SynReply { .. } => replies += 1,
                    Frame::Data {
                        stream_id,
                        flags,
                        data,
                    } => {
                        if stream_id == 3 {
                            echoed.extend(data);
                        }
                        if flags & FLAG_FIN != 0 {
                            fins += 1;
                        }
                    }
                    _ => {}
                }
            }
        }
        assert_eq!(replies, 2);
        assert_eq!(echoed, b"hello");
    });
}

#[test]
fn attach_relays_the_shim_streams_until_the_container_ends() {
    let f = start();
    crate::rt::block_on(async {
        let mut resp = ws_upgrade(
            &f,
            f.addr,
            "/attach/default/web/c?stdin=true&stdout=true&stderr=true",
            "v4.channel.k8s.io",
        )
        .await;
        assert_eq!(resp.status().as_u16(), 101);
        let mut io = UpgradedIo(hyper::upgrade::on(&mut resp).await.unwrap());
        io.write_all(&ws::encode_client_frame(
            ws::OP_BINARY,
            b"\x00typed",
            [9, 8, 7, 6],
        ))
        .await
        .unwrap();
        io.flush().await.unwrap();
        let mut wire = Vec::new();
        io.read_to_end(&mut wire).await.unwrap();
        let mut chans: std::collections::HashMap<u8, Vec<u8>> = Default::default();
        let mut at = 0;
        while let Some((b0, payload, used)) = ws::decode_server_frame(&wire[at..]) {
            at += used;
            if b0 & 0x0F == ws::OP_CLOSE {
                break;
            }
            if let Some((ch, d)) = payload.split_first() {
                chans.entry(*ch).or_default().extend_from_slice(d);
            }
        }
        assert_eq!(chans[&1], b"hello\n");
        assert_eq!(chans[&2], b"typed");
        let status: serde_json::Value = serde_json::from_slice(&chans[&3]).unwrap();
        assert_eq!(status["status"], "Success");
    });
}

/// Unmodified kubectl against the loopback API server and agent: exec over WebSocket v5 with
/// the exit code, logs, and port-forward (SPDY tunnelled in WebSocket).
#[test]
fn real_kubectl_exec_logs_and_port_forward() {
    use std::io::{BufRead, Read, Write};
    const KUBECTL: &str = "/usr/bin/kubectl";
    if !std::path::Path::new(KUBECTL).exists() {
        assert!(std::env::var_os("CI").is_none(), "kubectl is needed");
        println!("SKIPPED: {KUBECTL} is not installed");
        return;
    }
    let f = start();
    let home = f._dir.path().join("home");
    let echo_port = echo_once();
    crate::rt::block_on(async {
        let (api_addr, client, _stop) = api_with_pod(&f).await;
        let running = serde_json::json!({"status": {"phase": "Running"}});
        client
            .merge_patch(
                crate::controller::client::PODS,
                Some("default"),
                "web",
                &running,
                true,
            )
            .await
            .unwrap();
        let kubeconfig = home.join("kubeconfig");
        crate::server::pki::write_kubeconfig(
            &kubeconfig,
            &format!("https://{api_addr}"),
            &f.pki,
            0o600,
        )
        .unwrap();
        let cmd = move |args: &[&str]| {
            let mut c = std::process::Command::new(KUBECTL);
            c.args(args)
                .env("HOME", &home)
                .env("KUBECONFIG", &kubeconfig)
                .stdin(std::process::Stdio::null());
            c
        };
        let run = |args: &'static [&'static str]| {
            let mut c = cmd(args);
            smol::unblock(move || c.output().unwrap())
        };
        let out = run(&[
            "exec",
            "web",
            "-c",
            "c",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ])
        .await;
        assert_eq!(out.status.code(), Some(3), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
        assert!(
            String::from_utf8_lossy(&out.stderr).starts_with("err\n"),
            "{out:?}"
        );
        let out = run(&["logs", "web"]).await;
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "first\nlast\n",
            "{out:?}"
        );
        let target = format!(":{echo_port}");
        let mut pf = cmd(&["port-forward", "pod/web", &target])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = pf.stdout.take().unwrap();
        let echoed = smol::unblock(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            let first = lines.next().unwrap().unwrap();
            // "Forwarding from 127.0.0.1:41234 -> 5678"
            let local: u16 = first
                .split("127.0.0.1:")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("{first}"));
            let mut s = std::net::TcpStream::connect(("127.0.0.1", local)).unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            s.write_all(b"through-kubectl").unwrap();
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf);
            buf
        })
        .await;
        let _ = pf.kill();
        let mut err = String::new();
        let _ = pf.wait();
        let _ = pf.stderr.take().map(|mut e| e.read_to_string(&mut err));
        assert_eq!(echoed, b"through-kubectl", "{err}");
        // top: the agent needs two samples at least a second apart.
        async_io::Timer::after(std::time::Duration::from_millis(1100)).await;
        let _ = run(&["top", "node"]).await;
        async_io::Timer::after(std::time::Duration::from_millis(1100)).await;
        let out = run(&["top", "pod", "web"]).await;
        let table = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            table.starts_with("NAME") && table.contains("web"),
            "{out:?}"
        );
        let out = run(&["top", "node"]).await;
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("n1"),
            "{out:?}"
        );
    });
}
