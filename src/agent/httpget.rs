//! A minimal blocking HTTP/1.1 GET for httpGet probes and lifecycle hooks: one request,
//! `Connection: close`, status line parsed, body ignored (as the kubelet reads at most 10 KiB).
//! Run it through [`super::netns::run_in`] to reach a pod from inside its namespace.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum HttpGetError {
    #[error("resolve {0}: no address")]
    Resolve(String),
    #[error("connect {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("request: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed response")]
    Malformed,
    #[error("https is not supported")]
    Https,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpGet {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

/// The response status code.
pub fn get(req: &HttpGet, timeout: Duration) -> Result<u16, HttpGetError> {
    if req.scheme.eq_ignore_ascii_case("https") {
        return Err(HttpGetError::Https);
    }
    let hostport = if req.host.contains(':') {
        format!("[{}]:{}", req.host, req.port)
    } else {
        format!("{}:{}", req.host, req.port)
    };
    let addr: SocketAddr = hostport
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| HttpGetError::Resolve(hostport.clone()))?;
    let mut s =
        TcpStream::connect_timeout(&addr, timeout).map_err(|source| HttpGetError::Connect {
            addr: hostport.clone(),
            source,
        })?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let path = if req.path.is_empty() { "/" } else { &req.path };
    let mut head = format!("GET {path} HTTP/1.1\r\n");
    let has = |n: &str| req.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    if !has("host") {
        head.push_str(&format!("Host: {hostport}\r\n"));
    }
    if !has("user-agent") {
        head.push_str("User-Agent: kube-probe/1.33\r\n");
    }
    if !has("accept") {
        head.push_str("Accept: */*\r\n");
    }
    for (k, v) in &req.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    s.write_all(head.as_bytes())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(2).any(|w| w == b"\r\n") && buf.len() < 10240 {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buf);
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => {
            code.parse().map_err(|_| HttpGetError::Malformed)
        }
        _ => Err(HttpGetError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn reads_the_status_code() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut buf = [0u8; 512];
            let n = c.read(&mut buf).unwrap();
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("GET /healthz HTTP/1.1\r\n"));
            c.write_all(b"HTTP/1.1 503 Service Unavailable\r\n\r\n")
                .unwrap();
        });
        let req = HttpGet {
            scheme: "HTTP".into(),
            host: "127.0.0.1".into(),
            port,
            path: "/healthz".into(),
            headers: vec![],
        };
        assert_eq!(get(&req, Duration::from_secs(5)).unwrap(), 503);
        t.join().unwrap();
    }
}
