//! Exec and attach sessions over the Kubernetes channel WebSocket protocols.
//!
//! Contract (`v4.channel.k8s.io` / `v5.channel.k8s.io`): every binary message starts with a
//! channel byte: 0 stdin (client → server), 1 stdout, 2 stderr, 3 status (one JSON
//! `metav1.Status` before the server closes), 4 resize (`{"Width":w,"Height":h}`); v5 adds
//! `[0xFF, ch]` from the client to close a channel (stdin EOF). With a tty nothing is sent on
//! channel 2. An exec ends once the process exited and its output is drained; the status is
//! `Success` or `Failure`/`NonZeroExitCode` with cause `ExitCode`. An attach ends when the
//! container's output ends (the container exited) or the client leaves.

use std::fs::File;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use async_io::Async;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use serde_json::{json, Value};

use super::ws::{self, Message, WsReader};
use super::{ContainerIo, ExecIo, ExecRequest};
use crate::runtime::attach::{Decoder, Frame as AttachFrame};

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const STATUS: u8 = 3;
pub const RESIZE: u8 = 4;
pub const CLOSE: u8 = 0xFF;

/// The subprotocols offered for exec/attach, best first.
pub const PROTOCOLS: &[&str] = &["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// Which streams the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Streams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// One frame of the channel protocol.
pub fn channel_frame(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(data.len() + 1);
    msg.push(channel);
    msg.extend_from_slice(data);
    ws::encode_frame(ws::OP_BINARY, &msg)
}

/// What a client message means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin(Vec<u8>),
    Resize(u16, u16),
    CloseStdin,
    Ignored,
}

/// Interpret one client message.
pub fn parse_input(msg: &[u8]) -> Input {
    match msg.split_first() {
        Some((&STDIN, data)) => Input::Stdin(data.to_vec()),
        Some((&RESIZE, data)) => {
            let v: Value = serde_json::from_slice(data).unwrap_or(Value::Null);
            let dim = |k: &str| v[k].as_u64().map(|n| n.min(u64::from(u16::MAX)) as u16);
            match (dim("Width"), dim("Height")) {
                (Some(w), Some(h)) => Input::Resize(w, h),
                _ => Input::Ignored,
            }
        }
        Some((&CLOSE, [STDIN, ..])) => Input::CloseStdin,
        _ => Input::Ignored,
    }
}

/// The status message for an exit code.
pub fn exit_status(code: i32) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("command terminated with non-zero exit code: exit status {code}"),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

/// A failure before or while running.
pub fn error_status(message: &str) -> Value {
    json!({"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError", "code": 500})
}

type Out = smol::channel::Sender<Vec<u8>>;

/// Owns the write half: frames queued by the session's tasks go out in order; the half is
/// closed once every sender is gone.
pub(super) fn spawn_writer<W: AsyncWrite + Unpin + Send + 'static>(
    mut wr: W,
) -> (Out, smol::Task<()>) {
    let (tx, rx) = smol::channel::bounded::<Vec<u8>>(64);
    let task = smol::spawn(async move {
        while let Ok(frame) = rx.recv().await {
            if wr.write_all(&frame).await.is_err() || wr.flush().await.is_err() {
                return;
            }
        }
        let _ = wr.close().await;
    });
    (tx, task)
}

/// Copy a readable fd into a channel until EOF (EIO on a pty whose slave closed is EOF too).
async fn pump_fd(mut src: Async<File>, channel: u8, out: Out) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match src.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if out.send(channel_frame(channel, &buf[..n])).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn finish(out: Out, writer: smol::Task<()>, status: Value) {
    let _ = out
        .send(channel_frame(STATUS, status.to_string().as_bytes()))
        .await;
    let _ = out
        .send(ws::encode_frame(ws::OP_CLOSE, &1000u16.to_be_bytes()))
        .await;
    drop(out);
    writer.await;
}

/// Run an exec over an upgraded connection.
pub async fn serve_exec<S>(
    io: S,
    rt: Arc<dyn ContainerIo>,
    id: String,
    req: ExecRequest,
    s: Streams,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (rd, wr) = futures_lite::io::split(io);
    let (out, writer) = spawn_writer(wr);
    let rt2 = rt.clone();
    let started = smol::unblock(move || rt2.exec(&id, &req)).await;
    let ExecIo {
        stdin,
        stdout,
        stderr,
        resize,
        wait,
    } = match started {
        Ok(p) => p,
        Err(e) => return finish(out, writer, error_status(&e)).await,
    };
    let mut pumps = Vec::new();
    if let Some(fd) = stdout {
        pumps.push(smol::spawn(pump_fd(fd, STDOUT, out.clone())));
    }
    if let Some(fd) = stderr.filter(|_| !s.tty) {
        pumps.push(smol::spawn(pump_fd(fd, STDERR, out.clone())));
    }
    let mut stdin = stdin.filter(|_| s.stdin);
    let pong = out.clone();
    let input = smol::spawn(async move {
        let mut reader = WsReader::new(rd);
        loop {
            match reader.next().await {
                Ok(Message::Data(msg)) => match parse_input(&msg) {
                    Input::Stdin(data) => {
                        if let Some(w) = stdin.as_mut() {
                            if w.write_all(&data).await.is_err() {
                                stdin = None;
                            }
                        }
                    }
                    Input::Resize(w, h) => resize(w, h),
                    Input::CloseStdin => stdin = None,
                    Input::Ignored => {}
                },
                Ok(Message::Ping(p)) => {
                    let _ = pong.send(ws::encode_frame(ws::OP_PONG, &p)).await;
                }
                Ok(Message::Close) | Err(_) => return,
            }
        }
    });
    let code = wait.await;
    for p in pumps {
        p.await;
    }
    drop(input);
    finish(out, writer, exit_status(code)).await;
}

/// Run an attach over an upgraded connection.
pub async fn serve_attach<S>(io: S, rt: Arc<dyn ContainerIo>, id: String, s: Streams)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (rd, wr) = futures_lite::io::split(io);
    let (out, writer) = spawn_writer(wr);
    let sock: Result<UnixStream, String> = smol::unblock(move || rt.attach(&id)).await;
    let sock = match sock.and_then(|u| Async::new(u).map_err(|e| e.to_string())) {
        Ok(u) => Arc::new(u),
        Err(e) => return finish(out, writer, error_status(&e)).await,
    };
    let sock_in = sock.clone();
    let pong = out.clone();
    let input = smol::spawn(async move {
        let mut w = &*sock_in;
        let mut reader = WsReader::new(rd);
        loop {
            let frame = match reader.next().await {
                Ok(Message::Data(msg)) => match parse_input(&msg) {
                    Input::Stdin(d) if s.stdin => AttachFrame::Stdin(d),
                    Input::Resize(width, height) => AttachFrame::Resize { width, height },
                    Input::CloseStdin => AttachFrame::CloseStdin,
                    _ => continue,
                },
                Ok(Message::Ping(p)) => {
                    let _ = pong.send(ws::encode_frame(ws::OP_PONG, &p)).await;
                    continue;
                }
                Ok(Message::Close) | Err(_) => return,
            };
            if w.write_all(&frame.encode()).await.is_err() {
                return;
            }
        }
    });
    let mut r = &*sock;
    let mut decoder = Decoder::default();
    let mut buf = vec![0u8; 32 * 1024];
    'read: loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => decoder.push(&buf[..n]),
        }
        loop {
            let (channel, data) = match decoder.next_frame() {
                Ok(None) => break,
                Err(_) => break 'read,
                Ok(Some(AttachFrame::Stdout(d))) if s.stdout => (STDOUT, d),
                Ok(Some(AttachFrame::Stderr(d))) if s.stderr && !s.tty => (STDERR, d),
                Ok(Some(_)) => continue,
            };
            if out.send(channel_frame(channel, &data)).await.is_err() {
                break 'read;
            }
        }
    }
    drop(input);
    finish(out, writer, exit_status(0)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_client_channels() {
        assert_eq!(parse_input(b"\x00abc"), Input::Stdin(b"abc".to_vec()));
        assert_eq!(
            parse_input(b"\x04{\"Width\":80,\"Height\":24}"),
            Input::Resize(80, 24)
        );
        assert_eq!(parse_input(&[0xFF, 0]), Input::CloseStdin);
        assert_eq!(parse_input(&[0xFF, 1]), Input::Ignored);
        assert_eq!(parse_input(b""), Input::Ignored);
    }

    #[test]
    fn statuses_look_like_the_kubelets() {
        assert_eq!(exit_status(0)["status"], "Success");
        let f = exit_status(3);
        assert_eq!(f["reason"], "NonZeroExitCode");
        assert_eq!(f["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(f["details"]["causes"][0]["message"], "3");
        let frame = channel_frame(STDOUT, b"hi");
        assert_eq!(frame, vec![0x82, 3, 1, b'h', b'i']);
    }
}
