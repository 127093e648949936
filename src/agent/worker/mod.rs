//! One pod's worker: an explicit state machine fed by typed commands over a channel.
//!
//! Stages: `Setup` (volumes, sandbox, network, managed /etc files) → `Running` (init
//! containers in order, then app containers, restarts with CrashLoopBackOff, probes) →
//! `Finished` (the phase ended: resources released, statuses kept) or `Terminating` (the pod is
//! deleted: preStop, SIGTERM, grace period, SIGKILL, teardown, then the API object is deleted
//! with grace 0 and a uid precondition) → `Gone`.
//!
//! Contract: every step is level-triggered: [`Worker::step`] looks at the records and acts;
//! commands ([`Cmd`]) only update records. The status is patched only when the rendered status
//! differs from the last one written. Retries happen by waking the loop at `retry_at`, never
//! inside a step. A worker that is stopped ([`Cmd::Stop`]) leaves containers running so a
//! restarted agent re-adopts them from the checkpoint.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::backoff::{go_duration, Backoff};
use super::checkpoint::{self, Checkpoint, CtrEntry};
use super::client::NodeClient;
use super::config::AgentConfig;
use super::deps::{CtrState, Deps, HostPort, ObjectSource, SandboxInfo, SandboxReq, VolumePaths};
use super::dns::{self, ClusterDns, HostResolv};
use super::events::{field_path, Recorder};
use super::lifecycle::{run_hook, HookTarget};
use super::lookup::{PodEntry, PodTable};
use super::node::SharedFacts;
use super::probe::{self, Probe, ProbeType, Tracker};
use super::status::{self, CState, CtrStatus, PodView};
use super::{ctrspec, env, qos};
use crate::clock::Clock;
use crate::controller::client::{CONFIGMAPS, PODS, SECRETS};

mod start;
mod stop;

/// How often configMap/secret/downwardAPI/projected volumes are refreshed.
const VOLUME_RESYNC_SECS: i64 = 10;

/// What a worker is told.
#[derive(Debug, Clone)]
pub enum Cmd {
    /// A newer version of the pod.
    Update(Arc<Value>),
    /// The API object is gone (force deletion, or an orphan found at start).
    Removed,
    Exited {
        id: String,
        state: CtrState,
    },
    Probe {
        id: String,
        ty: ProbeType,
        ok: bool,
        message: String,
    },
    /// The agent stops: leave everything running.
    Stop,
}

/// Shared by all workers.
pub struct Ctx {
    pub client: Arc<dyn NodeClient>,
    pub deps: Deps,
    pub cfg: Arc<AgentConfig>,
    pub facts: SharedFacts,
    pub clock: Arc<dyn Clock>,
    pub events: Recorder,
    pub table: Arc<PodTable>,
    pub host_resolv: HostResolv,
    pub host_hosts: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Stage {
    Setup,
    Running,
    Terminating { deadline: i64 },
    Finished,
    Gone,
}

struct Ctr {
    spec: Value,
    init: bool,
    st: CtrStatus,
    /// Runtime id of the current (or last) instance.
    id: Option<String>,
    /// Ever started (so the next start is a restart).
    attempted: bool,
    backoff: Backoff,
    pull_backoff: Backoff,
    probes: HashMap<ProbeType, (Probe, Tracker)>,
    tasks: Vec<smol::Task<()>>,
    started_at: i64,
    log_path: Option<PathBuf>,
    prev_log: Option<PathBuf>,
    /// Last BackOff event message, so one back-off period emits one event.
    last_backoff_msg: String,
}

impl Ctr {
    fn new(spec: &Value, init: bool, reason: &str) -> Ctr {
        let name = spec.get("name").and_then(Value::as_str).unwrap_or("");
        let image = spec.get("image").and_then(Value::as_str).unwrap_or("");
        Ctr {
            spec: spec.clone(),
            init,
            st: CtrStatus::new(name, image, CState::waiting(reason, "")),
            id: None,
            attempted: false,
            backoff: Backoff::default(),
            pull_backoff: Backoff::default(),
            probes: HashMap::new(),
            tasks: Vec::new(),
            started_at: 0,
            log_path: None,
            prev_log: None,
            last_backoff_msg: String::new(),
        }
    }

    fn name(&self) -> &str {
        &self.st.name
    }
}

fn str_at<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn random_id() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

pub struct Worker {
    ctx: Arc<Ctx>,
    pod: Arc<Value>,
    uid: String,
    tx: smol::channel::Sender<Cmd>,
    stage: Stage,
    sandbox: Option<SandboxInfo>,
    pod_ips: Vec<String>,
    start_time: Option<i64>,
    ctrs: Vec<Ctr>,
    retry_at: Option<i64>,
    last_status: Option<Value>,
    /// The API object is gone: never write to it again.
    removed: bool,
    /// A finished pod found at start: keep its API status as is.
    frozen: bool,
    volumes: VolumePaths,
    stopped: bool,
    /// When volume payloads are refreshed next.
    next_volume_sync: i64,
}

impl Worker {
    pub fn new(ctx: Arc<Ctx>, pod: Arc<Value>, tx: smol::channel::Sender<Cmd>) -> Worker {
        let uid = str_at(&pod, "/metadata/uid").to_string();
        let mut w = Worker {
            ctx,
            uid,
            tx,
            stage: Stage::Setup,
            sandbox: None,
            pod_ips: vec![],
            start_time: None,
            ctrs: vec![],
            retry_at: None,
            last_status: None,
            removed: false,
            frozen: false,
            volumes: VolumePaths::new(),
            stopped: false,
            next_volume_sync: 0,
            pod: pod.clone(),
        };
        for (field, init) in [("initContainers", true), ("containers", false)] {
            for c in pod
                .pointer(&format!("/spec/{field}"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let reason = if init {
                    "PodInitializing"
                } else {
                    "ContainerCreating"
                };
                w.ctrs.push(Ctr::new(c, init, reason));
            }
        }
        w
    }

    fn pod_dir(&self) -> PathBuf {
        self.ctx.cfg.pod_dir(&self.uid)
    }

    fn now(&self) -> i64 {
        self.ctx.clock.now()
    }

    fn retry_in(&mut self, secs: i64) {
        let at = self.now() + secs.max(1);
        self.retry_at = Some(self.retry_at.map_or(at, |r| r.min(at)));
    }

    fn event(&self, c: Option<&Ctr>, warning: bool, reason: &str, message: &str) {
        let fp = c.map(|c| field_path(c.init, c.name())).unwrap_or_default();
        self.ctx
            .events
            .pod(&self.pod, warning, reason, message, &fp);
    }

    fn policy(&self) -> &str {
        self.pod
            .pointer("/spec/restartPolicy")
            .and_then(Value::as_str)
            .unwrap_or("Always")
    }

    fn host_network(&self) -> bool {
        self.pod
            .pointer("/spec/hostNetwork")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// Run until the pod is gone or the agent stops.
    pub async fn run(mut self, rx: smol::channel::Receiver<Cmd>) {
        self.adopt().await;
        loop {
            self.retry_at = None;
            self.step().await;
            self.publish();
            self.push_status().await;
            if self.stage == Stage::Gone || self.stopped {
                if self.stage == Stage::Gone {
                    self.ctx.table.remove(&self.uid);
                }
                return;
            }
            let wait = self
                .retry_at
                .map(|t| Duration::from_secs((t - self.now()).clamp(0, 3600) as u64));
            let cmd = futures_lite::future::or(async { rx.recv().await.ok() }, async {
                match wait {
                    Some(d) => {
                        async_io::Timer::after(d).await;
                        None
                    }
                    None => std::future::pending().await,
                }
            })
            .await;
            if let Some(c) = cmd {
                self.handle(c).await;
            } else if rx.is_closed() && wait.is_none() {
                return;
            }
            while let Ok(c) = rx.try_recv() {
                self.handle(c).await;
            }
        }
    }

    async fn handle(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Update(p) => self.pod = p,
            Cmd::Removed => self.removed = true,
            Cmd::Stop => self.stopped = true,
            Cmd::Exited { id, state } => {
                if let Some(i) = self.ctrs.iter().position(|c| c.id.as_deref() == Some(&id)) {
                    self.on_exit(i, state);
                }
            }
            Cmd::Probe {
                id,
                ty,
                ok,
                message,
            } => {
                if let Some(i) = self
                    .ctrs
                    .iter()
                    .position(|c| c.id.as_deref() == Some(&id) && c.st.state.is_running())
                {
                    self.on_probe(i, ty, ok, &message);
                }
            }
        }
    }

    fn deleting(&self) -> bool {
        self.removed || self.pod.pointer("/metadata/deletionTimestamp").is_some()
    }

    async fn step(&mut self) {
        if self.deleting() && !matches!(self.stage, Stage::Terminating { .. } | Stage::Gone) {
            self.begin_termination();
        }
        match self.stage.clone() {
            Stage::Setup => {
                if self.setup().await {
                    self.stage = Stage::Running;
                    self.run_containers().await;
                }
            }
            Stage::Running => {
                self.refresh_volumes().await;
                self.run_containers().await;
            }
            Stage::Terminating { deadline } => self.terminate_step(deadline).await,
            Stage::Finished | Stage::Gone => {}
        }
        if self.stage == Stage::Running {
            let (_, phase) = self.render();
            if matches!(phase, "Succeeded" | "Failed") {
                self.release().await;
                self.stage = Stage::Finished;
            }
        }
    }

    /// Render the status (`Some`) or just the phase.
    fn render(&self) -> (Value, &'static str) {
        let init: Vec<CtrStatus> = self
            .ctrs
            .iter()
            .filter(|c| c.init)
            .map(|c| c.st.clone())
            .collect();
        let app: Vec<CtrStatus> = self
            .ctrs
            .iter()
            .filter(|c| !c.init)
            .map(|c| c.st.clone())
            .collect();
        let host_ip = self
            .ctx
            .facts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .host_ip
            .clone();
        let v = PodView {
            pod: &self.pod,
            init: &init,
            app: &app,
            host_ip: &host_ip,
            pod_ips: &self.pod_ips,
            start_time: self.start_time,
            sandbox_ready: self.sandbox.is_some(),
            now: self.now(),
        };
        (status::render(&v), status::phase(&v))
    }

    /// Re-adopt containers recorded in the checkpoint (after an agent restart).
    async fn adopt(&mut self) {
        let phase = str_at(&self.pod, "/status/phase");
        let Ok(Some(cp)) = checkpoint::load(&self.pod_dir()) else {
            if matches!(phase, "Succeeded" | "Failed") {
                self.frozen = true;
                self.stage = Stage::Finished;
            }
            return;
        };
        if matches!(phase, "Succeeded" | "Failed") {
            self.frozen = true;
            self.stage = Stage::Finished;
            return;
        }
        self.start_time = cp.start_time;
        self.pod_ips = cp.pod_ips.clone();
        for e in &cp.containers {
            let Some(i) = self
                .ctrs
                .iter()
                .position(|c| c.init == e.init && c.name() == e.name)
            else {
                continue;
            };
            let rt = self.ctx.deps.runtime.clone();
            let id = e.id.clone();
            let state = smol::unblock(move || rt.state(&id)).await;
            let c = &mut self.ctrs[i];
            c.id = Some(e.id.clone());
            c.attempted = true;
            c.st.restart_count = e.restart_count;
            c.st.container_id = Some(format!("kedge://{}", e.id));
            c.log_path = Some(e.log_path.clone());
            c.prev_log = e.previous_log_path.clone();
            if let Some(img) = self.ctx.deps.images.resolve(&c.st.image) {
                c.st.image_id = image_id(&img);
            }
            match state {
                Ok(CtrState::Running { started_at, .. }) => {
                    c.st.state = CState::Running { started_at };
                    c.started_at = started_at;
                    c.st.started = c.spec.get("startupProbe").is_none();
                    c.st.ready = c.spec.get("readinessProbe").is_none();
                    self.watch_container(i);
                }
                Ok(s) => self.on_exit(i, s),
                Err(_) => self.on_exit(i, CtrState::Unknown),
            }
        }
    }

    fn save_checkpoint(&self) {
        let cp = Checkpoint {
            uid: self.uid.clone(),
            namespace: str_at(&self.pod, "/metadata/namespace").into(),
            name: str_at(&self.pod, "/metadata/name").into(),
            start_time: self.start_time,
            pod_ips: self.pod_ips.clone(),
            containers: self
                .ctrs
                .iter()
                .filter_map(|c| {
                    Some(CtrEntry {
                        name: c.name().into(),
                        init: c.init,
                        id: c.id.clone()?,
                        restart_count: c.st.restart_count,
                        log_path: c.log_path.clone().unwrap_or_default(),
                        previous_log_path: c.prev_log.clone(),
                    })
                })
                .collect(),
        };
        if let Err(e) = checkpoint::save(&self.pod_dir(), &cp) {
            eprintln!("kedge agent: {e}");
        }
    }

    /// Volumes, sandbox, network, managed files. False = not yet (retry scheduled).
    async fn setup(&mut self) -> bool {
        if self.start_time.is_none() {
            self.start_time = Some(self.now());
        }
        let net = self
            .ctx
            .deps
            .network
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if !self.host_network() && net.is_none() {
            self.retry_in(1);
            return false;
        }
        if !self.setup_volumes().await {
            self.retry_in(5);
            return false;
        }
        // Sandbox.
        let req = SandboxReq {
            pod_uid: self.uid.clone(),
            hostname: dns::hostname(&self.pod),
            host_network: self.host_network(),
            host_ipc: self
                .pod
                .pointer("/spec/hostIPC")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            shm_size: None,
        };
        let rt = self.ctx.deps.runtime.clone();
        let sb = match smol::unblock(move || rt.create_sandbox(&req)).await {
            Ok(sb) => sb,
            Err(e) => {
                self.event(
                    None,
                    true,
                    "FailedCreatePodSandBox",
                    &format!("Failed to create pod sandbox: {e}"),
                );
                self.retry_in(5);
                return false;
            }
        };
        // Network.
        let host_ip = self
            .ctx
            .facts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .host_ip
            .clone();
        if self.host_network() {
            self.pod_ips = vec![host_ip]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect();
        } else if let (Some(net), Some(ns)) = (net, sb.netns.clone()) {
            let ports = host_ports(&self.pod);
            match net.add(&self.uid, &ns, &ports).await {
                Ok(ip) => self.pod_ips = vec![ip.to_string()],
                Err(e) => {
                    self.event(
                        None,
                        true,
                        "FailedCreatePodSandBox",
                        &format!("Failed to create pod sandbox: failed to set up pod network: {e}"),
                    );
                    self.retry_in(5);
                    return false;
                }
            }
        }
        self.sandbox = Some(sb);
        if let Err(e) = self.write_etc() {
            self.event(
                None,
                true,
                "FailedCreatePodSandBox",
                &format!("writing /etc files: {e}"),
            );
            self.retry_in(5);
            return false;
        }
        self.save_checkpoint();
        true
    }

    /// Set up (or refresh) the pod's volumes; false after a FailedMount event.
    async fn setup_volumes(&mut self) -> bool {
        let objects = self.fetch_volume_objects().await;
        let fs_group = self
            .pod
            .pointer("/spec/securityContext/fsGroup")
            .and_then(Value::as_u64)
            .map(|g| g as u32);
        let (vols, pod, dir) = (
            self.ctx.deps.volumes.clone(),
            self.pod.clone(),
            self.pod_dir(),
        );
        match smol::unblock(move || vols.setup(&pod, &dir, fs_group, &objects)).await {
            Ok(v) => {
                self.volumes = v;
                true
            }
            Err(e) => {
                self.event(None, true, "FailedMount", &e.message);
                false
            }
        }
    }

    /// ConfigMap, Secret, downwardAPI and projected payloads follow their sources, as the
    /// kubelet's periodic sync does.
    async fn refresh_volumes(&mut self) {
        let dynamic = self
            .pod
            .pointer("/spec/volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|v| {
                ["configMap", "secret", "downwardAPI", "projected"]
                    .iter()
                    .any(|k| v.get(*k).is_some())
            });
        if !dynamic {
            return;
        }
        let now = self.now();
        if now >= self.next_volume_sync {
            self.setup_volumes().await;
            self.next_volume_sync = now + VOLUME_RESYNC_SECS;
        }
        self.retry_in(self.next_volume_sync - now);
    }

    fn write_etc(&self) -> std::io::Result<()> {
        let dir = self.pod_dir().join("etc");
        std::fs::create_dir_all(&dir)?;
        let cd = ClusterDns {
            server: self.ctx.cfg.cluster_dns,
            domain: self.ctx.cfg.cluster_domain.clone(),
        };
        std::fs::write(
            dir.join("resolv.conf"),
            dns::resolv_conf(&self.pod, &self.ctx.host_resolv, &cd),
        )?;
        std::fs::write(
            dir.join("hosts"),
            dns::hosts_file(&self.pod, &self.pod_ips, &cd.domain, &self.ctx.host_hosts),
        )?;
        std::fs::write(
            dir.join("hostname"),
            format!("{}\n", dns::hostname(&self.pod)),
        )
    }

    async fn fetch_volume_objects(&self) -> MapObjects {
        let mut cms = Vec::new();
        let mut secrets = Vec::new();
        for v in self
            .pod
            .pointer("/spec/volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(n) = v.pointer("/configMap/name").and_then(Value::as_str) {
                cms.push(n.to_string());
            }
            if let Some(n) = v.pointer("/secret/secretName").and_then(Value::as_str) {
                secrets.push(n.to_string());
            }
            for s in v
                .pointer("/projected/sources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(n) = s.pointer("/configMap/name").and_then(Value::as_str) {
                    cms.push(n.to_string());
                }
                if let Some(n) = s.pointer("/secret/name").and_then(Value::as_str) {
                    secrets.push(n.to_string());
                }
            }
        }
        MapObjects {
            configmaps: self.fetch_named(CONFIGMAPS, cms).await,
            secrets: self.fetch_named(SECRETS, secrets).await,
        }
    }

    /// Objects of the pod's namespace by name (missing ones are left out).
    async fn fetch_named(
        &self,
        r: crate::controller::client::Res,
        names: Vec<String>,
    ) -> HashMap<String, Value> {
        let ns = str_at(&self.pod, "/metadata/namespace").to_string();
        let mut out = HashMap::new();
        for n in names {
            if out.contains_key(&n) {
                continue;
            }
            if let Ok(o) = self.ctx.client.get(r, Some(&ns), &n).await {
                out.insert(n, o);
            }
        }
        out
    }

    async fn run_containers(&mut self) {
        // Init containers, in order, each to completion.
        let never = self.policy() == "Never";
        let mut init_done = true;
        for i in 0..self.ctrs.len() {
            if !self.ctrs[i].init {
                continue;
            }
            match self.ctrs[i].st.state.clone() {
                CState::Terminated { exit_code: 0, .. } => continue,
                CState::Running { .. } => {}
                CState::Terminated { .. } if never => {}
                _ => self.try_start(i).await,
            }
            init_done = false;
            break;
        }
        for i in 0..self.ctrs.len() {
            if self.ctrs[i].init {
                continue;
            }
            if !init_done {
                if !self.ctrs[i].attempted {
                    self.ctrs[i].st.state = CState::waiting("PodInitializing", "");
                }
                continue;
            }
            let restart = match &self.ctrs[i].st.state {
                CState::Running { .. } => false,
                CState::Waiting { .. } => true,
                CState::Terminated { exit_code, .. } => match self.policy() {
                    "Never" => false,
                    "OnFailure" => *exit_code != 0,
                    _ => true,
                },
            };
            if restart {
                self.try_start(i).await;
            }
        }
    }

    fn on_exit(&mut self, i: usize, state: CtrState) {
        let termination_message = self.termination_message(i);
        if let CtrState::Exited {
            oom_killed: true, ..
        } = state
        {
            let msg = format!(
                "Memory cgroup out of memory: killed container {} of pod {}/{}",
                self.ctrs[i].name(),
                str_at(&self.pod, "/metadata/namespace"),
                str_at(&self.pod, "/metadata/name")
            );
            self.ctx.events.node(true, "OOMKilling", &msg);
        }
        let c = &mut self.ctrs[i];
        // Dropping the tasks cancels the probes of this run (the waiter has finished).
        c.tasks.clear();
        c.st.ready = false;
        c.st.started = false;
        let cid = c.st.container_id.clone().unwrap_or_default();
        c.st.state = match state {
            CtrState::Running { .. } => return,
            CtrState::Exited {
                exit_code,
                signal,
                oom_killed,
                started_at,
                finished_at,
            } => {
                let code = signal.map(|s| 128 + s).unwrap_or(exit_code);
                c.backoff.exited_after(finished_at - started_at);
                let reason = if oom_killed {
                    "OOMKilled"
                } else if code == 0 {
                    "Completed"
                } else {
                    "Error"
                };
                CState::Terminated {
                    exit_code: code,
                    signal: None,
                    reason: reason.into(),
                    message: termination_message,
                    started_at: if started_at > 0 {
                        started_at
                    } else {
                        c.started_at
                    },
                    finished_at,
                    container_id: cid,
                }
            }
            CtrState::Unknown => CState::Terminated {
                exit_code: 137,
                signal: None,
                reason: "ContainerStatusUnknown".into(),
                message: "The container could not be located when the pod was terminated".into(),
                started_at: c.started_at,
                finished_at: self.ctx.clock.now(),
                container_id: cid,
            },
        };
        self.save_checkpoint();
    }

    fn termination_message(&self, i: usize) -> String {
        let c = &self.ctrs[i];
        let restart = c.st.restart_count;
        let p = self
            .pod_dir()
            .join("containers")
            .join(c.name())
            .join(format!("{restart}"));
        let mut msg = std::fs::read_to_string(p).unwrap_or_default();
        msg.truncate(4096);
        msg
    }

    fn on_probe(&mut self, i: usize, ty: ProbeType, ok: bool, message: &str) {
        let started = self.ctrs[i].st.started;
        if ty != ProbeType::Startup && !started {
            return;
        }
        if !ok {
            let m = format!("{} probe failed: {message}", ty.label());
            self.event(Some(&self.ctrs[i]), true, "Unhealthy", &m);
        }
        let c = &mut self.ctrs[i];
        let Some((p, t)) = c.probes.get_mut(&ty) else {
            return;
        };
        let Some(result) = t.record(ok, p) else {
            return;
        };
        match (ty, result) {
            (ProbeType::Readiness, r) => c.st.ready = r,
            (ProbeType::Startup, true) => {
                c.st.started = true;
                c.st.ready = !c.probes.contains_key(&ProbeType::Readiness);
            }
            (ProbeType::Startup, false) | (ProbeType::Liveness, false) => {
                let what = if ty == ProbeType::Startup {
                    "startup"
                } else {
                    "liveness"
                };
                let msg = format!(
                    "Container {} failed {what} probe, will be restarted",
                    c.name()
                );
                self.event(Some(&self.ctrs[i]), false, "Killing", &msg);
                let grace = self.grace_seconds();
                self.kill(i, grace);
            }
            (ProbeType::Liveness, true) => {}
        }
    }

    fn publish(&self) {
        let netns = self.sandbox.as_ref().and_then(|s| s.netns.clone());
        let containers = self
            .ctrs
            .iter()
            .filter_map(|c| {
                Some((
                    c.name().to_string(),
                    crate::agent::server::ContainerRef {
                        id: c.id.clone()?,
                        running: c.st.state.is_running(),
                        log_path: c.log_path.clone()?,
                        previous_log_path: c.prev_log.clone(),
                        netns: netns.clone(),
                        tty: c.spec.get("tty").and_then(Value::as_bool).unwrap_or(false),
                        stdin: c
                            .spec
                            .get("stdin")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                    },
                ))
            })
            .collect();
        self.ctx.table.put(PodEntry {
            namespace: str_at(&self.pod, "/metadata/namespace").into(),
            name: str_at(&self.pod, "/metadata/name").into(),
            uid: self.uid.clone(),
            netns,
            ready: self.sandbox.is_some(),
            containers,
            images: self.ctrs.iter().map(|c| c.st.image.clone()).collect(),
        });
    }

    async fn push_status(&mut self) {
        if self.removed || self.frozen {
            return;
        }
        let (st, _) = self.render();
        if self.last_status.as_ref() == Some(&st) {
            return;
        }
        let (ns, name) = (
            str_at(&self.pod, "/metadata/namespace").to_string(),
            str_at(&self.pod, "/metadata/name").to_string(),
        );
        let patch = json!({"status": st});
        match self
            .ctx
            .client
            .merge_patch(PODS, Some(&ns), &name, &patch, true)
            .await
        {
            Ok(p) => {
                if str_at(&p, "/metadata/uid") == self.uid {
                    self.pod = Arc::new(p);
                }
                self.last_status = Some(st);
            }
            Err(e) if e.is_not_found() => self.removed = true,
            Err(e) => {
                eprintln!("kedge agent: status of pod {ns}/{name}: {e}");
                self.retry_in(2);
            }
        }
    }
}

fn image_id(img: &crate::agent::deps::ImageInfo) -> String {
    match &img.repo_digest {
        Some(d) => d.clone(),
        None => img.id.clone(),
    }
}

/// `imagePullPolicy` with the API default (Always for `:latest` or untagged images).
pub fn pull_policy(c: &Value) -> String {
    if let Some(p) = c.get("imagePullPolicy").and_then(Value::as_str) {
        return p.to_string();
    }
    let image = c.get("image").and_then(Value::as_str).unwrap_or("");
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') {
        return "IfNotPresent".into();
    }
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always".into(),
        Some(_) => "IfNotPresent".into(),
    }
}

fn host_ports(pod: &Value) -> Vec<HostPort> {
    let mut out = vec![];
    for c in pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for p in c
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(hp) = p.get("hostPort").and_then(Value::as_u64).filter(|p| *p > 0) else {
                continue;
            };
            out.push(HostPort {
                host_ip: p
                    .get("hostIP")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok()),
                host_port: hp as u16,
                container_port: p.get("containerPort").and_then(Value::as_u64).unwrap_or(0) as u16,
                protocol: p
                    .get("protocol")
                    .and_then(Value::as_str)
                    .unwrap_or("TCP")
                    .to_string(),
            });
        }
    }
    out
}

/// ConfigMaps and Secrets fetched for a pod's volumes.
#[derive(Default)]
pub struct MapObjects {
    pub configmaps: HashMap<String, Value>,
    pub secrets: HashMap<String, Value>,
}

impl ObjectSource for MapObjects {
    fn configmap(&self, _ns: &str, name: &str) -> Option<Value> {
        self.configmaps.get(name).cloned()
    }
    fn secret(&self, _ns: &str, name: &str) -> Option<Value> {
        self.secrets.get(name).cloned()
    }
}
