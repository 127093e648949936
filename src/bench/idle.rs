//! Idle cost of a running server: RSS and bytes written to disk over a period (/proc/PID/io).

use std::time::Duration;

use anyhow::{anyhow, Result};

fn write_bytes(pid: u32) -> Result<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io"))?;
    io.lines()
        .find(|l| l.starts_with("write_bytes:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("no write_bytes in /proc/{pid}/io"))
}

pub fn run(pid: u32, seconds: u64) -> Result<()> {
    let before = write_bytes(pid)?;
    std::thread::sleep(Duration::from_secs(seconds));
    let after = write_bytes(pid)?;
    let rss = super::rss_kib(&pid.to_string()).ok_or_else(|| anyhow!("process {pid} is gone"))?;
    println!(
        "idle: pid={pid} seconds={seconds} rss={:.1}MiB disk_writes={:.1}B/s",
        rss as f64 / 1024.0,
        (after - before) as f64 / seconds as f64
    );
    Ok(())
}
