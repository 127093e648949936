//! Port-forward sessions: SPDY/3.1 (raw after `Upgrade: SPDY/3.1`, or tunnelled in WebSocket
//! binary messages for `SPDY/3.1+portforward.k8s.io`) and the plain WebSocket
//! `portforward.k8s.io` protocol.
//!
//! Contract (SPDY): each forwarded connection is a pair of client-initiated streams with
//! headers `streamType: error|data`, `port`, `requestID`. Every stream gets a SYN_REPLY; a data
//! stream is connected to `127.0.0.1:<port>` inside the pod's network namespace and spliced;
//! when the pod side closes, the data stream and then the error stream get FIN; a failed
//! connect is reported as text on the error stream. PINGs are echoed. (WebSocket): query
//! `ports=`; port i uses channels 2i (data) and 2i+1 (error), each first sending the port as a
//! 2-byte little-endian number.

use std::collections::HashMap;
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_io::Async;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::exec::spawn_writer;
use super::spdy::{self, Codec, Frame, FLAG_FIN};
use super::ws::{self, Message, WsReader};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a TCP connection to a port of the pod.
pub type Dialer = Arc<dyn Fn(u16) -> std::io::Result<TcpStream> + Send + Sync>;

/// A dialer that connects to `127.0.0.1:<port>` inside the network namespace at `netns`
/// (`None`: the host's, for hostNetwork pods).
pub fn netns_dialer(netns: Option<PathBuf>) -> Dialer {
    Arc::new(move |port| connect_in(netns.as_deref(), port))
}

/// Connect on a short-lived thread that first joins the namespace: the socket keeps the
/// namespace it was created in, and no thread of the agent changes namespace for good.
pub fn connect_in(netns: Option<&Path>, port: u16) -> std::io::Result<TcpStream> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Some(ns) = netns else {
        return TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT);
    };
    let ns = ns.to_path_buf();
    std::thread::Builder::new()
        .name("kedge-pf-netns".into())
        .spawn(move || {
            let f = std::fs::File::open(&ns)?;
            nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(std::io::Error::from)?;
            TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        })?
        .join()
        .map_err(|_| std::io::Error::other("netns connect thread panicked"))?
}

/// Byte chunks of the session transport.
type Chunks = smol::channel::Receiver<Vec<u8>>;
type Sink = smol::channel::Sender<Vec<u8>>;

/// Raw transport: chunks read from `rd`, bytes written to `wr`.
pub fn raw_transport<S>(io: S) -> (Chunks, Sink, smol::Task<()>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut rd, wr) = futures_lite::io::split(io);
    let (in_tx, in_rx) = smol::channel::bounded(16);
    let (out_tx, writer) = spawn_writer(wr);
    smol::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 || in_tx.send(buf[..n].to_vec()).await.is_err() {
                return;
            }
        }
    })
    .detach();
    (in_rx, out_tx, writer)
}

/// WebSocket transport: binary messages carry the byte stream (client-go's tunnelling).
pub fn ws_transport<S>(io: S) -> (Chunks, Sink, smol::Task<()>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (rd, wr) = futures_lite::io::split(io);
    let (in_tx, in_rx) = smol::channel::bounded(16);
    // Encoded WebSocket frames, in wire order.
    let (frames_tx, writer) = spawn_writer(wr);
    let pong = frames_tx.clone();
    smol::spawn(async move {
        let mut reader = WsReader::new(rd);
        loop {
            match reader.next().await {
                Ok(Message::Data(d)) => {
                    if in_tx.send(d).await.is_err() {
                        return;
                    }
                }
                Ok(Message::Ping(p)) => {
                    let _ = pong.send(ws::encode_frame(ws::OP_PONG, &p)).await;
                }
                Ok(Message::Close) | Err(_) => return,
            }
        }
    })
    .detach();
    let (bin_tx, bin_rx) = smol::channel::bounded::<Vec<u8>>(64);
    smol::spawn(async move {
        while let Ok(b) = bin_rx.recv().await {
            if frames_tx
                .send(ws::encode_frame(ws::OP_BINARY, &b))
                .await
                .is_err()
            {
                return;
            }
        }
        let _ = frames_tx
            .send(ws::encode_frame(ws::OP_CLOSE, &1000u16.to_be_bytes()))
            .await;
    })
    .detach();
    (in_rx, bin_tx, writer)
}

struct DataStream {
    to_pod: smol::channel::Sender<Option<Vec<u8>>>,
}

fn hdr(h: &spdy::Headers, name: &str) -> String {
    spdy::header(h, name).unwrap_or("").to_string()
}

/// Run a SPDY port-forward session over a transport until the client goes away.
pub async fn spdy_session(input: Chunks, out: Sink, dial: Dialer, pod: String) {
    let (frames, frames_rx) = smol::channel::unbounded::<Frame>();
    let writer = smol::spawn(async move {
        let mut codec = Codec::new();
        while let Ok(f) = frames_rx.recv().await {
            let Ok(bytes) = codec.encode(&f) else { return };
            if out.send(bytes).await.is_err() {
                return;
            }
        }
    });
    let mut codec = Codec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut data: HashMap<u32, DataStream> = HashMap::new();
    let mut errors: HashMap<String, u32> = HashMap::new();
    let mut tasks = Vec::new();
    'session: while let Ok(chunk) = input.recv().await {
        buf.extend_from_slice(&chunk);
        loop {
            let (frame, used) = match codec.decode(&buf) {
                Ok(Some(x)) => x,
                Ok(None) => break,
                Err(_) => break 'session,
            };
            buf.drain(..used);
            match frame {
                Frame::SynStream {
                    stream_id, headers, ..
                } => {
                    let _ = frames.try_send(Frame::SynReply {
                        stream_id,
                        flags: 0,
                        headers: Vec::new(),
                    });
                    let kind = hdr(&headers, "streamtype");
                    let request = hdr(&headers, "requestid");
                    if kind == "error" {
                        errors.insert(request, stream_id);
                        continue;
                    }
                    if kind != "data" {
                        let _ = frames.try_send(Frame::RstStream {
                            stream_id,
                            status: spdy::RST_PROTOCOL_ERROR,
                        });
                        continue;
                    }
                    let port = hdr(&headers, "port");
                    let err_stream = errors.get(&request).copied();
                    let (to_pod, from_client) = smol::channel::unbounded();
                    data.insert(stream_id, DataStream { to_pod });
                    tasks.push(smol::spawn(forward_one(
                        dial.clone(),
                        port,
                        pod.clone(),
                        stream_id,
                        err_stream,
                        from_client,
                        frames.clone(),
                    )));
                }
                Frame::Data {
                    stream_id,
                    flags,
                    data: bytes,
                } => {
                    if let Some(s) = data.get(&stream_id) {
                        if !bytes.is_empty() {
                            let _ = s.to_pod.send(Some(bytes)).await;
                        }
                        if flags & FLAG_FIN != 0 {
                            let _ = s.to_pod.send(None).await;
                        }
                    }
                }
                Frame::RstStream { stream_id, .. } => {
                    data.remove(&stream_id);
                }
                Frame::Ping(id) => {
                    let _ = frames.try_send(Frame::Ping(id));
                }
                Frame::GoAway { .. } => break 'session,
                _ => {}
            }
        }
    }
    drop(data);
    drop(frames);
    drop(tasks);
    writer.await;
}

async fn forward_one(
    dial: Dialer,
    port: String,
    pod: String,
    stream_id: u32,
    err_stream: Option<u32>,
    from_client: smol::channel::Receiver<Option<Vec<u8>>>,
    frames: smol::channel::Sender<Frame>,
) {
    let fin = |id: u32| Frame::Data {
        stream_id: id,
        flags: FLAG_FIN,
        data: Vec::new(),
    };
    let conn = match port.parse::<u16>() {
        Ok(p) => smol::unblock(move || dial(p)).await,
        Err(_) => Err(std::io::Error::other(format!("invalid port {port:?}"))),
    };
    let conn = match conn.and_then(Async::new) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            if let Some(es) = err_stream {
                let msg = format!("error forwarding port {port} to pod {pod}: {e}");
                let _ = frames.try_send(Frame::Data {
                    stream_id: es,
                    flags: FLAG_FIN,
                    data: msg.into_bytes(),
                });
            }
            let _ = frames.try_send(fin(stream_id));
            return;
        }
    };
    let w = conn.clone();
    let upstream = smol::spawn(async move {
        let mut wr = &*w;
        while let Ok(m) = from_client.recv().await {
            match m {
                Some(b) => {
                    if wr.write_all(&b).await.is_err() {
                        break;
                    }
                }
                None => break,
            }
        }
        let _ = w.get_ref().shutdown(Shutdown::Write);
    });
    let mut rd = &*conn;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let f = Frame::Data {
                    stream_id,
                    flags: 0,
                    data: buf[..n].to_vec(),
                };
                if frames.send(f).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = frames.send(fin(stream_id)).await;
    if let Some(es) = err_stream {
        let _ = frames.send(fin(es)).await;
    }
    upstream.cancel().await;
}

/// Ports of a `portforward.k8s.io` request (`ports=80,443` or repeated `ports=`).
pub fn parse_ports(values: &[String]) -> Result<Vec<u16>, String> {
    let mut out = Vec::new();
    for v in values {
        for p in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            out.push(
                p.parse::<u16>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("invalid port {p:?}"))?,
            );
        }
    }
    if out.is_empty() {
        return Err("at least one port must be specified".into());
    }
    Ok(out)
}

/// Run a plain WebSocket (`portforward.k8s.io`) session: one connection per port.
pub async fn ws_session<S>(io: S, ports: Vec<u16>, dial: Dialer, pod: String)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (rd, wr) = futures_lite::io::split(io);
    let (out, writer) = spawn_writer(wr);
    let msg = |ch: u8, d: &[u8]| {
        let mut m = vec![ch];
        m.extend_from_slice(d);
        ws::encode_frame(ws::OP_BINARY, &m)
    };
    let mut conns = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let (data_ch, err_ch) = ((2 * i) as u8, (2 * i + 1) as u8);
        let _ = out.send(msg(data_ch, &port.to_le_bytes())).await;
        let _ = out.send(msg(err_ch, &port.to_le_bytes())).await;
        let p = *port;
        let d = dial.clone();
        match smol::unblock(move || d(p)).await.and_then(Async::new) {
            Ok(c) => conns.push(Some(Arc::new(c))),
            Err(e) => {
                let text = format!("error forwarding port {port} to pod {pod}: {e}");
                let _ = out.send(msg(err_ch, text.as_bytes())).await;
                conns.push(None);
            }
        }
    }
    let mut pumps = Vec::new();
    for (i, c) in conns.iter().enumerate() {
        let Some(c) = c.clone() else { continue };
        let out = out.clone();
        pumps.push(smol::spawn(async move {
            let mut rd = &*c;
            let mut buf = vec![0u8; 32 * 1024];
            while let Ok(n) = rd.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let mut m = vec![(2 * i) as u8];
                m.extend_from_slice(&buf[..n]);
                if out.send(ws::encode_frame(ws::OP_BINARY, &m)).await.is_err() {
                    break;
                }
            }
        }));
    }
    let mut reader = WsReader::new(rd);
    loop {
        match reader.next().await {
            Ok(Message::Data(m)) => {
                let Some((&ch, d)) = m.split_first() else {
                    continue;
                };
                if ch % 2 != 0 {
                    continue;
                }
                if let Some(Some(c)) = conns.get(usize::from(ch / 2)) {
                    let mut w = &**c;
                    if w.write_all(d).await.is_err() {
                        let _ = c.get_ref().shutdown(Shutdown::Both);
                    }
                }
            }
            Ok(Message::Ping(p)) => {
                let _ = out.send(ws::encode_frame(ws::OP_PONG, &p)).await;
            }
            Ok(Message::Close) | Err(_) => break,
        }
    }
    for c in conns.iter().flatten() {
        let _ = c.get_ref().shutdown(Shutdown::Both);
    }
    for p in pumps {
        p.await;
    }
    let _ = out
        .send(ws::encode_frame(ws::OP_CLOSE, &1000u16.to_be_bytes()))
        .await;
    drop(out);
    writer.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_port_lists() {
        assert_eq!(
            parse_ports(&["80,443".into(), "8080".into()]).unwrap(),
            vec![80, 443, 8080]
        );
        assert!(parse_ports(&["0".into()]).is_err());
        assert!(parse_ports(&[]).is_err());
    }

    /// A kubectl-like SPDY client over the raw transport, against an echo server on loopback.
    #[test]
    fn spdy_session_forwards_and_reports_errors() {
        let port = super::super::tests::echo_once();
        let dial: Dialer = Arc::new(|p| connect_in(None, p));
        smol::block_on(async move {
            let (in_tx, in_rx) = smol::channel::unbounded();
            let (out_tx, out_rx) = smol::channel::unbounded();
            let session = smol::spawn(spdy_session(in_rx, out_tx, dial, "web".into()));
            let mut client = Codec::new();
            let h = |t: &str, p: &str, r: &str| -> spdy::Headers {
                vec![
                    ("streamType".into(), t.into()),
                    ("port".into(), p.into()),
                    ("requestID".into(), r.into()),
                ]
            };
            let syn = |id, headers| Frame::SynStream {
                stream_id: id,
                associated: 0,
                priority: 0,
                flags: 0,
                headers,
            };
            let mut send = |f: Frame| client.encode(&f).unwrap();
            let p = port.to_string();
            in_tx.send(send(syn(1, h("error", &p, "0")))).await.unwrap();
            in_tx.send(send(syn(3, h("data", &p, "0")))).await.unwrap();
            in_tx
                .send(send(Frame::Data {
                    stream_id: 3,
                    flags: 0,
                    data: b"ping".to_vec(),
                }))
                .await
                .unwrap();
            // A second request to a closed port fails on its error stream.
            in_tx
                .send(send(syn(5, h("error", "1", "1"))))
                .await
                .unwrap();
            in_tx.send(send(syn(7, h("data", "1", "1")))).await.unwrap();
            in_tx.send(send(Frame::Ping(9))).await.unwrap();
            let mut server = Codec::new();
            let mut buf = Vec::new();
            let mut echoed = Vec::new();
            let mut error_text = String::new();
            let mut fins = std::collections::BTreeSet::new();
            let mut pinged = false;
            while !(fins.len() == 4 && pinged) {
                let chunk = out_rx.recv().await.unwrap();
                buf.extend(chunk);
                while let Some((f, used)) = server.decode(&buf).unwrap() {
                    buf.drain(..used);
                    match f {
                        Frame::Data {
                            stream_id,
                            flags,
                            data,
                        } => {
                            if stream_id == 3 {
                                echoed.extend(data);
                            } else if stream_id == 5 {
                                error_text.push_str(&String::from_utf8_lossy(&data));
                            }
                            if flags & FLAG_FIN != 0 {
                                fins.insert(stream_id);
                            }
                        }
                        Frame::Ping(9) => pinged = true,
                        _ => {}
                    }
                }
            }
            assert_eq!(echoed, b"ping");
            assert!(
                error_text.contains("error forwarding port 1 to pod web"),
                "{error_text}"
            );
            drop(in_tx);
            session.await;
        });
    }
}
