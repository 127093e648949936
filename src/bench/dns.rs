//! `kedge bench dns`: queries/s and latency of the cluster DNS server.
//!
//! In-process mode (default): a kedge DNS server on 127.0.0.1 with N Services (every tenth one
//! headless with 10 endpoints) forwarding to a fixed-answer fake upstream also on 127.0.0.1,
//! measured for (a) cluster names answered by kedge, (b) an external name through kedge (cache
//! hits after the first query) and (c) the same external query sent straight to the upstream
//! responder, the baseline of the upstream path. `--server` measures an already running server
//! instead (`--upstream` adds the same query sent directly to that address).
//!
//! Load: C closed-loop UDP clients (one thread each, one query outstanding), for a fixed time
//! per path; a query unanswered within 1 s counts as an error, as does an rcode other than
//! NOERROR.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use hickory_proto::rr::RecordType;
use serde_json::{json, Value};

use crate::dns::testing::{query, FakeUpstream};
use crate::dns::{DnsListener, DnsServer, Records, RecordsHandle, Upstream};

const CLIENT_TIMEOUT: Duration = Duration::from_secs(1);
const EXTERNAL_NAME: &str = "www.example.com.";

#[derive(Debug, clap::Args)]
pub struct Options {
    /// Concurrent UDP clients (one outstanding query each)
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Seconds of load per path
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Services in the in-process server's zone
    #[arg(long, default_value_t = 1000)]
    pub services: usize,
    /// Measure this running server (IP:PORT) instead of an in-process one
    #[arg(long)]
    pub server: Option<SocketAddr>,
    /// Name to query with --server (default kubernetes.default.svc.cluster.local.)
    #[arg(long)]
    pub name: Option<String>,
    /// With --server: also send the same query directly to this resolver (IP:PORT)
    #[arg(long)]
    pub upstream: Option<SocketAddr>,
}

struct Outcome {
    /// Latencies of answered queries, in microseconds, sorted.
    latencies: Vec<f64>,
    errors: usize,
    elapsed: Duration,
}

fn bench_objects(n: usize) -> (Vec<Value>, Vec<Value>) {
    let mut services = Vec::with_capacity(n);
    let mut slices = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("svc-{i}");
        let headless = i % 10 == 9;
        let cluster_ip = match headless {
            true => "None".to_string(),
            false => format!("10.43.{}.{}", 1 + i / 250, 1 + i % 250),
        };
        services.push(json!({
            "metadata": {"name": name, "namespace": "bench"},
            "spec": {"clusterIP": cluster_ip, "ports": [{"name": "http", "port": 80}]}
        }));
        let endpoints: Vec<Value> = (0..10)
            .map(|e| {
                json!({"addresses": [format!("10.42.{}.{}", i % 250, 1 + e + 10 * (i / 250))],
                       "hostname": format!("{name}-{e}"), "conditions": {"ready": true}})
            })
            .collect();
        slices.push(json!({
            "metadata": {"name": format!("{name}-abc"), "namespace": "bench",
                         "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
        }));
    }
    (services, slices)
}

fn packets(names: &[String]) -> Result<Vec<Vec<u8>>> {
    names
        .iter()
        .map(|n| {
            let m = query(n, RecordType::A, Some(1232))?;
            Ok(m.to_vec()?)
        })
        .collect()
}

/// One closed-loop client: send, wait for the reply with the same id, repeat until `deadline`.
fn client(server: SocketAddr, mut packets: Vec<Vec<u8>>, deadline: Instant) -> Result<Outcome> {
    let sock = UdpSocket::bind(crate::dns::upstream::wildcard_for(server))?;
    sock.connect(server)?;
    sock.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    let start = Instant::now();
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut buf = [0u8; 4096];
    let mut id: u16 = rand::random();
    let mut k = 0;
    while Instant::now() < deadline {
        id = id.wrapping_add(1);
        let len = packets.len();
        let p = &mut packets[k % len];
        k += 1;
        p[..2].copy_from_slice(&id.to_be_bytes());
        let sent = Instant::now();
        sock.send(p)?;
        loop {
            match sock.recv(&mut buf) {
                Ok(n) if n >= 12 && buf[..2] == id.to_be_bytes() => {
                    match buf[3] & 0x0f {
                        0 => latencies.push(sent.elapsed().as_secs_f64() * 1e6),
                        _ => errors += 1,
                    }
                    break;
                }
                // A late reply to an earlier, timed-out query.
                Ok(_) => continue,
                Err(_) => {
                    errors += 1;
                    break;
                }
            }
        }
    }
    Ok(Outcome {
        latencies,
        errors,
        elapsed: start.elapsed(),
    })
}

fn load(server: SocketAddr, names: &[String], clients: usize, seconds: f64) -> Result<Outcome> {
    let all = packets(names)?;
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let handles: Vec<_> = (0..clients.max(1))
        .map(|c| {
            // Each client starts at a different name so the load spreads over the zone.
            let mut mine = all.clone();
            mine.rotate_left(c * all.len() / clients.max(1));
            std::thread::spawn(move || client(server, mine, deadline))
        })
        .collect();
    let mut out = Outcome {
        latencies: Vec::new(),
        errors: 0,
        elapsed: Duration::ZERO,
    };
    for h in handles {
        let o = h.join().map_err(|_| anyhow!("client thread panicked"))??;
        out.latencies.extend(o.latencies);
        out.errors += o.errors;
        out.elapsed = out.elapsed.max(o.elapsed);
    }
    out.latencies.sort_by(f64::total_cmp);
    Ok(out)
}

fn header() {
    println!(
        "{:<44} {:>9} {:>10} {:>9} {:>9} {:>7}",
        "path", "queries", "qps", "p50 µs", "p99 µs", "errors"
    );
}

fn row(label: &str, o: &Outcome) {
    let n = o.latencies.len();
    println!(
        "{:<44} {:>9} {:>10.0} {:>9.0} {:>9.0} {:>7}",
        label,
        n,
        n as f64 / o.elapsed.as_secs_f64().max(1e-9),
        super::percentile(&o.latencies, 50.0),
        super::percentile(&o.latencies, 99.0),
        o.errors
    );
}

pub fn run(opts: Options) -> Result<()> {
    match opts.server {
        Some(server) => remote(&opts, server),
        None => in_process(&opts),
    }
}

fn remote(opts: &Options, server: SocketAddr) -> Result<()> {
    let name = opts
        .name
        .clone()
        .unwrap_or_else(|| "kubernetes.default.svc.cluster.local.".into());
    println!(
        "kedge bench dns: server {server}, name {name}, {} clients, {:.1} s per path",
        opts.clients, opts.seconds
    );
    header();
    let names = [name];
    row(
        &format!("{} via {server}", names[0]),
        &load(server, &names, opts.clients, opts.seconds)?,
    );
    if let Some(up) = opts.upstream {
        row(
            &format!("{} via {up} (direct)", names[0]),
            &load(up, &names, opts.clients, opts.seconds)?,
        );
    }
    Ok(())
}

fn in_process(opts: &Options) -> Result<()> {
    let fake = FakeUpstream::start(Ipv4Addr::new(192, 0, 2, 80), 300)?;
    let (services, slices) = bench_objects(opts.services);
    let t = Instant::now();
    let records = Records::build("cluster.local", &services, &slices);
    let build = t.elapsed();
    let names = records.len();
    let listener = DnsListener::bind((Ipv4Addr::LOCALHOST, 0).into())?;
    let addr = listener.local_addr()?;
    let server = DnsServer::new(
        RecordsHandle::new(records),
        Upstream::new(vec![fake.addr()]),
    );
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let thread = std::thread::Builder::new()
        .name("kedge-dns".into())
        .spawn(move || smol::block_on(server.run(listener, stopped)))?;

    println!(
        "kedge bench dns: {} services → {names} names (zone built in {:.1} ms), {} clients, \
         {:.1} s per path",
        opts.services,
        build.as_secs_f64() * 1e3,
        opts.clients,
        opts.seconds
    );
    header();
    let cluster: Vec<String> = (0..opts.services)
        .filter(|i| i % 10 != 9)
        .map(|i| format!("svc-{i}.bench.svc.cluster.local."))
        .collect();
    let cluster = if cluster.is_empty() {
        vec!["bench.svc.cluster.local.".to_string()]
    } else {
        cluster
    };
    row(
        "(a) cluster name via kedge DNS",
        &load(addr, &cluster, opts.clients, opts.seconds)?,
    );
    let external = vec![EXTERNAL_NAME.to_string()];
    // Warm the cache so the run measures the hit path.
    load(addr, &external, 1, 0.05)?;
    let before = fake.queries();
    let via = load(addr, &external, opts.clients, opts.seconds)?;
    row("(b) external name via kedge DNS (cache hit)", &via);
    let forwarded = fake.queries() - before;
    row(
        "(c) same query direct to upstream",
        &load(fake.addr(), &external, opts.clients, opts.seconds)?,
    );
    println!("upstream queries during (b): {forwarded}");
    drop(stop);
    thread
        .join()
        .map_err(|_| anyhow!("dns server thread panicked"))?
        .context("dns server")?;
    Ok(())
}
