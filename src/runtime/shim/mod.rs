//! `kedge shim <bundle>`: the per-container supervisor process.
//!
//! Contract: started by `Runtime::start` with its stdout as the report pipe. It detaches (new
//! session, fork: not the agent's child), creates the container's stdio (pipes, or a pty whose
//! master it keeps), listens on `attach.sock`, starts the container through `init::spawn`, and
//! reports exactly one JSON [`StartResult`] line on the report pipe (also written to
//! `start.json`, so the report survives an agent that died meanwhile). It then stays
//! single-threaded in a poll loop: container output → CRI log + attached clients, attach input →
//! container stdin, until it reaped the container; it writes `exit.json` and exits. It never
//! depends on the agent being alive.

mod daemon;
mod launch;
mod supervisor;

use std::io::Write;
use std::path::{Path, PathBuf};

use super::pidfd::proc_starttime;
use super::state::{now_nanos, write_json, Bundle, ShimRecord, StartResult, StateRecord};

pub use launch::CgroupsInfo;

/// Entry point of the hidden subcommand; must be called before any thread is started.
pub fn main(bundle: PathBuf) -> ! {
    let bundle = Bundle::new(bundle);
    let detached = match daemon::detach(&bundle.shim_log()) {
        Ok(d) => d,
        Err(e) => {
            report(
                &mut std::io::stdout(),
                &bundle,
                &error(format!("shim: detach: {e}")),
            );
            std::process::exit(1)
        }
    };
    let code = match run(&bundle, detached.report) {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("kedge shim: {message}");
            1
        }
    };
    std::process::exit(code)
}

fn error(message: String) -> StartResult {
    StartResult::Error { message }
}

/// Records the start result in the bundle and on the report pipe (best effort: the agent may
/// be gone).
fn report(out: &mut impl Write, bundle: &Bundle, result: &StartResult) {
    if let Err(e) = write_json(&bundle.start(), result) {
        eprintln!("kedge shim: write start.json: {e}");
    }
    let mut line = serde_json::to_vec(result).unwrap_or_default();
    line.push(b'\n');
    let _ = out.write_all(&line);
    let _ = out.flush();
}

/// `report_pipe` is closed right after the report: the agent reads until EOF.
fn run(bundle: &Bundle, mut report_pipe: std::fs::File) -> Result<(), String> {
    let proc = Path::new("/proc");
    let me = std::process::id() as i32;
    let shim = ShimRecord {
        pid: me,
        starttime: proc_starttime(proc, me).unwrap_or(0),
    };
    let prepared = write_json(&bundle.shim_pid(), &shim)
        .map_err(|e| format!("write shim.pid: {e}"))
        .and_then(|()| {
            bundle
                .read_spec()
                .map_err(|e| format!("read config.json: {e}"))
        })
        .and_then(|spec| supervisor::Supervisor::prepare(bundle, spec));
    let mut sup = match prepared {
        Ok(s) => s,
        Err(message) => {
            report(&mut report_pipe, bundle, &error(message.clone()));
            return Err(message);
        }
    };
    let started_at = now_nanos();
    let pid = match sup.start() {
        Ok(pid) => pid,
        Err(message) => {
            report(&mut report_pipe, bundle, &error(message.clone()));
            return Err(message);
        }
    };
    let state = StateRecord {
        pid,
        started_at_nanos: started_at,
        proc_starttime: proc_starttime(proc, pid).unwrap_or(0),
        shim_pid: me,
    };
    if let Err(e) = write_json(&bundle.state(), &state) {
        // The container runs; without state.json the agent could not find it: stop it.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let message = format!("write state.json: {e}");
        report(&mut report_pipe, bundle, &error(message.clone()));
        return Err(message);
    }
    report(
        &mut report_pipe,
        bundle,
        &StartResult::Started { pid, started_at },
    );
    drop(report_pipe);
    sup.run(started_at)
}
