//! [`ContainerRuntime`] over the in-tree runtime ([`crate::runtime::Runtime`]): unit
//! conversions (nanoseconds → seconds) and the blocking exec the probes and hooks need.

use std::sync::Arc;
use std::time::Duration;

use futures_lite::AsyncReadExt;

use super::client::BoxFuture;
use super::deps::{
    ContainerRuntime, CtrState, DepError, DepResult, ExecOutcome, SandboxInfo, SandboxReq,
};
use crate::runtime::cgroups::Cgroups;
use crate::runtime::spec::ContainerSpec;
use crate::runtime::{ExecSpec, Runtime, SandboxSpec, State};

pub struct RuntimeAdapter {
    pub runtime: Arc<Runtime>,
    pub cgroups: Arc<Cgroups>,
}

fn err(e: impl std::fmt::Display) -> DepError {
    DepError::new(e.to_string())
}

const NANOS: i64 = 1_000_000_000;

fn convert(s: State) -> CtrState {
    match s {
        State::Running { pid, started_at } => CtrState::Running {
            pid,
            started_at: started_at / NANOS,
        },
        // The runtime's exit code already carries 128 + signal.
        State::Exited {
            exit_code,
            oom_killed,
            started_at,
            finished_at,
            ..
        } => CtrState::Exited {
            exit_code,
            signal: None,
            oom_killed,
            started_at: started_at / NANOS,
            finished_at: finished_at / NANOS,
        },
        State::Unknown => CtrState::Unknown,
    }
}

impl ContainerRuntime for RuntimeAdapter {
    fn create_sandbox(&self, s: &SandboxReq) -> DepResult<SandboxInfo> {
        let sb = self
            .runtime
            .create_sandbox(&SandboxSpec {
                pod_uid: s.pod_uid.clone(),
                hostname: s.hostname.clone(),
                host_network: s.host_network,
                host_ipc: s.host_ipc,
                shm_size: s.shm_size,
            })
            .map_err(err)?;
        Ok(SandboxInfo {
            netns: sb.netns,
            uts: sb.uts,
            ipc: sb.ipc,
            shm: sb.shm,
        })
    }

    fn remove_sandbox(&self, pod_uid: &str) -> DepResult<()> {
        self.runtime.remove_sandbox(pod_uid).map_err(err)
    }

    fn start(&self, spec: &ContainerSpec) -> DepResult<i64> {
        self.runtime
            .start(spec)
            .map(|s| s.started_at_unix_nanos / NANOS)
            .map_err(err)
    }

    fn state(&self, id: &str) -> DepResult<CtrState> {
        self.runtime.state(id).map(convert).map_err(err)
    }

    fn wait_exit<'a>(&'a self, id: &'a str) -> BoxFuture<'a, DepResult<CtrState>> {
        Box::pin(async move { self.runtime.wait_exit(id).await.map(convert).map_err(err) })
    }

    fn signal(&self, id: &str, sig: i32) -> DepResult<()> {
        self.runtime.signal(id, sig).map_err(err)
    }

    fn remove(&self, id: &str) -> DepResult<()> {
        self.runtime.remove(id).map_err(err)
    }

    fn list(&self) -> Vec<String> {
        self.runtime.list()
    }

    fn spec(&self, id: &str) -> DepResult<ContainerSpec> {
        self.runtime.spec(id).map_err(err)
    }

    fn exec(&self, id: &str, args: &[String], timeout_secs: u64) -> DepResult<ExecOutcome> {
        let spec = ExecSpec {
            args: args.to_vec(),
            env_extra: vec![],
            tty: false,
            stdin: false,
        };
        let mut p = self.runtime.exec(id, &spec).map_err(err)?;
        smol::block_on(async {
            let mut output = Vec::new();
            let run = async {
                let mut buf = Vec::new();
                if let Some(out) = p.stdout.as_mut() {
                    let _ = out.read_to_end(&mut buf).await;
                }
                if let Some(e) = p.stderr.as_mut() {
                    let _ = e.read_to_end(&mut buf).await;
                }
                let code = p.wait().await;
                (buf, code)
            };
            let timed = futures_lite::future::or(async { Some(run.await) }, async {
                async_io::Timer::after(Duration::from_secs(timeout_secs)).await;
                None
            })
            .await;
            match timed {
                Some((buf, code)) => {
                    output = buf;
                    Ok(ExecOutcome {
                        exit_code: code.map_err(err)?,
                        output,
                    })
                }
                None => {
                    let _ = p.kill();
                    let _ = p.wait().await;
                    output.extend_from_slice(b"command timed out");
                    Err(DepError::new(format!(
                        "command {args:?} timed out after {timeout_secs}s"
                    )))
                }
            }
        })
    }

    fn remove_pod_cgroup(&self, cgroup_path: &str) -> DepResult<()> {
        self.cgroups.remove(cgroup_path).map_err(err)
    }
}
