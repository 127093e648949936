//! Starting containers: image resolution and pull policy, environment, the runtime spec,
//! CrashLoopBackOff gating, postStart hooks, exit waiters and probe loops.

use super::*;
use crate::controller::client::SERVICES;

impl Worker {
    /// Start (or restart, honouring the back-off) container `i`.
    pub(super) async fn try_start(&mut self, i: usize) {
        let now = self.now();
        if self.ctrs[i].attempted {
            if let Err(left) = self.ctrs[i].backoff.check(now) {
                let c = &self.ctrs[i];
                let msg = format!(
                    "back-off {} restarting failed container={} pod={}_{}({})",
                    go_duration(c.backoff.delay()),
                    c.name(),
                    str_at(&self.pod, "/metadata/name"),
                    str_at(&self.pod, "/metadata/namespace"),
                    self.uid
                );
                if let CState::Terminated { .. } = c.st.state {
                    let last = c.st.state.clone();
                    let c = &mut self.ctrs[i];
                    c.st.last_state = Some(last);
                }
                self.ctrs[i].st.state = CState::waiting("CrashLoopBackOff", &msg);
                if self.ctrs[i].last_backoff_msg != msg {
                    let ev = format!(
                        "Back-off restarting failed container {} in pod {}_{}({})",
                        self.ctrs[i].name(),
                        str_at(&self.pod, "/metadata/name"),
                        str_at(&self.pod, "/metadata/namespace"),
                        self.uid
                    );
                    self.event(Some(&self.ctrs[i]), true, "BackOff", &ev);
                    self.ctrs[i].last_backoff_msg = msg;
                }
                self.retry_in(left);
                return;
            }
        }
        self.start_container(i).await;
    }

    pub(super) fn config_error(&mut self, i: usize, msg: &str) {
        self.ctrs[i].st.state = CState::waiting("CreateContainerConfigError", msg);
        self.event(
            Some(&self.ctrs[i]),
            true,
            "Failed",
            &format!("Error: {msg}"),
        );
        self.retry_in(10);
    }

    pub(super) async fn start_container(&mut self, i: usize) {
        let now = self.now();
        let image_ref = self.ctrs[i].st.image.clone();
        let policy = pull_policy(&self.ctrs[i].spec);
        let Some(image) = self.ctx.deps.images.resolve(&image_ref) else {
            if policy == "Never" {
                let msg = format!(
                    "Container image \"{image_ref}\" is not present with pull policy of Never"
                );
                if !matches!(&self.ctrs[i].st.state, CState::Waiting { reason, .. } if reason == "ErrImageNeverPull")
                {
                    self.event(Some(&self.ctrs[i]), true, "ErrImageNeverPull", &msg);
                    self.event(
                        Some(&self.ctrs[i]),
                        true,
                        "Failed",
                        "Error: ErrImageNeverPull",
                    );
                }
                self.ctrs[i].st.state = CState::waiting("ErrImageNeverPull", &msg);
                self.retry_in(10);
                return;
            }
            let c = &mut self.ctrs[i];
            match c.pull_backoff.check(now) {
                Ok(()) => {
                    c.pull_backoff.restarted(now);
                    let msg = format!("failed to pull image \"{image_ref}\": the image is not present on the node and registry pulls are not supported yet");
                    c.st.state = CState::waiting("ErrImagePull", &msg);
                    let at = c.pull_backoff.ready_at();
                    self.event(
                        Some(&self.ctrs[i]),
                        true,
                        "Failed",
                        &format!("Failed to pull image \"{image_ref}\": {msg}"),
                    );
                    self.event(Some(&self.ctrs[i]), true, "Failed", "Error: ErrImagePull");
                    self.retry_in(at - now);
                }
                Err(left) => {
                    let msg = format!("Back-off pulling image \"{image_ref}\"");
                    if !matches!(&c.st.state, CState::Waiting { reason, .. } if reason == "ImagePullBackOff")
                    {
                        c.st.state = CState::waiting("ImagePullBackOff", &msg);
                        self.event(Some(&self.ctrs[i]), false, "BackOff", &msg);
                        self.event(
                            Some(&self.ctrs[i]),
                            true,
                            "Failed",
                            "Error: ImagePullBackOff",
                        );
                    }
                    self.retry_in(left);
                }
            }
            return;
        };
        self.ctrs[i].pull_backoff = Backoff::default();
        self.event(
            Some(&self.ctrs[i]),
            false,
            "Pulled",
            &format!("Container image \"{image_ref}\" already present on machine"),
        );
        // Environment.
        let vars = match self.container_env(i).await {
            Ok(v) => v,
            Err(e) => return self.config_error(i, &e),
        };
        let Some(sandbox) = self.sandbox.clone() else {
            self.retry_in(1);
            return;
        };
        let restart = if self.ctrs[i].attempted {
            self.ctrs[i].st.restart_count + 1
        } else {
            0
        };
        let id = random_id();
        let (ns, name) = (
            str_at(&self.pod, "/metadata/namespace"),
            str_at(&self.pod, "/metadata/name"),
        );
        let cname = self.ctrs[i].name().to_string();
        let log_path = self
            .ctx
            .cfg
            .log_dir
            .join(format!("{ns}_{name}_{}", self.uid))
            .join(&cname)
            .join(format!("{restart}.log"));
        let term_log = self
            .pod_dir()
            .join("containers")
            .join(&cname)
            .join(format!("{restart}"));
        let prepared = (|| -> std::io::Result<()> {
            if let Some(d) = log_path.parent() {
                std::fs::create_dir_all(d)?;
            }
            if let Some(d) = term_log.parent() {
                std::fs::create_dir_all(d)?;
            }
            std::fs::write(&term_log, b"")
        })();
        if let Err(e) = prepared {
            return self.config_error(i, &format!("preparing container files: {e}"));
        }
        let pod_cg = qos::pod_cgroup(
            &self.ctx.cfg.cgroup_parent,
            qos::class(&self.pod),
            &self.uid,
        );
        let vols = self.ctx.deps.volumes.clone();
        let (uid, cname2) = (self.uid.clone(), cname.clone());
        let sub_path = move |volume: &str, root: &std::path::Path, sub: &str, index: usize| {
            vols.sub_path(&crate::agent::deps::SubPathReq {
                pod_uid: &uid,
                volume,
                volume_root: root,
                sub_path: sub,
                container: &cname2,
                index,
            })
            .map_err(|e| e.message)
        };
        let etc_dir = self.pod_dir().join("etc");
        let built = ctrspec::build(&ctrspec::SpecInput {
            id: &id,
            pod: &self.pod,
            container: &self.ctrs[i].spec,
            image: &image,
            env: &vars,
            sandbox: &sandbox,
            volumes: &self.volumes,
            sub_path: &sub_path,
            etc_dir: &etc_dir,
            termination_log: &term_log,
            cgroup_path: format!("{pod_cg}/{id}"),
            resources: qos::resources(&self.ctrs[i].spec, self.ctx.cfg.pod_max_pids),
            log_path: log_path.clone(),
        });
        let spec = match built {
            Ok(s) => s,
            Err(e) => return self.config_error(i, &e.to_string()),
        };
        let rt = self.ctx.deps.runtime.clone();
        let result = smol::unblock(move || rt.start(&spec)).await;
        // From here on this is a new instance: a restart if one ran before.
        let c = &mut self.ctrs[i];
        if c.attempted {
            c.st.restart_count += 1;
            if let CState::Terminated { .. } = c.st.state {
                c.st.last_state = Some(c.st.state.clone());
            }
            c.backoff.restarted(now);
            if let Some(old) = c.id.take() {
                let rt = self.ctx.deps.runtime.clone();
                crate::rt::spawn(smol::unblock(move || {
                    let _ = rt.remove(&old);
                }))
                .detach();
            }
            c.prev_log = c.log_path.take();
        }
        c.attempted = true;
        c.id = Some(id.clone());
        c.log_path = Some(log_path);
        c.st.container_id = Some(format!("kedge://{id}"));
        c.st.image_id = image_id(&image);
        c.last_backoff_msg.clear();
        match result {
            Err(e) => {
                c.st.state = CState::Terminated {
                    exit_code: 128,
                    signal: None,
                    reason: "StartError".into(),
                    message: e.message.clone(),
                    started_at: 0,
                    finished_at: now,
                    container_id: format!("kedge://{id}"),
                };
                c.st.ready = false;
                c.st.started = false;
                self.event(
                    Some(&self.ctrs[i]),
                    true,
                    "Failed",
                    &format!("Error: {}", e.message),
                );
                self.retry_in(1);
            }
            Ok(started_at) => {
                c.st.state = CState::Running { started_at };
                c.started_at = started_at;
                c.st.started = c.spec.get("startupProbe").is_none();
                c.st.ready = c.spec.get("readinessProbe").is_none() && c.st.started && !c.init;
                self.event(
                    Some(&self.ctrs[i]),
                    false,
                    "Created",
                    &format!("Created container: {cname}"),
                );
                self.event(
                    Some(&self.ctrs[i]),
                    false,
                    "Started",
                    &format!("Started container {cname}"),
                );
                self.watch_container(i);
                self.post_start(i, &id).await;
            }
        }
        self.save_checkpoint();
    }

    pub(super) async fn post_start(&mut self, i: usize, id: &str) {
        let Some(h) = self.ctrs[i].spec.pointer("/lifecycle/postStart").cloned() else {
            return;
        };
        let target = self.hook_target(id);
        let spec = self.ctrs[i].spec.clone();
        if let Err(msg) = run_hook(&h, &spec, &target, Duration::from_secs(30)).await {
            self.event(
                Some(&self.ctrs[i]),
                true,
                "FailedPostStartHook",
                &format!("PostStartHook failed: {msg}"),
            );
            let rt = self.ctx.deps.runtime.clone();
            let id = id.to_string();
            let _ = smol::unblock(move || rt.signal(&id, 9)).await;
        }
    }

    pub(super) fn hook_target(&self, id: &str) -> HookTarget {
        HookTarget {
            runtime: self.ctx.deps.runtime.clone(),
            container_id: id.to_string(),
            netns: self.sandbox.as_ref().and_then(|s| s.netns.clone()),
            pod_ip: self.pod_ips.first().cloned().unwrap_or_default(),
        }
    }

    /// Wait for the exit of container `i` and run its probes.
    pub(super) fn watch_container(&mut self, i: usize) {
        let Some(id) = self.ctrs[i].id.clone() else {
            return;
        };
        let (rt, tx, id2) = (self.ctx.deps.runtime.clone(), self.tx.clone(), id.clone());
        let waiter = crate::rt::spawn(async move {
            let state = rt.wait_exit(&id2).await.unwrap_or(CtrState::Unknown);
            let _ = tx.send(Cmd::Exited { id: id2, state }).await;
        });
        let c = &mut self.ctrs[i];
        c.tasks.clear();
        c.tasks.push(waiter);
        c.probes.clear();
        if c.init {
            return;
        }
        let pod_ip = self.pod_ips.first().cloned().unwrap_or_default();
        let netns = self.sandbox.as_ref().and_then(|s| s.netns.clone());
        for ty in [
            ProbeType::Startup,
            ProbeType::Liveness,
            ProbeType::Readiness,
        ] {
            let Some(p) = Probe::of(&c.spec, ty, &pod_ip) else {
                continue;
            };
            c.probes.insert(ty, (p.clone(), Tracker::new(ty)));
            let target = probe::Target {
                runtime: self.ctx.deps.runtime.clone(),
                container_id: id.clone(),
                netns: netns.clone(),
            };
            let (tx, id) = (self.tx.clone(), id.clone());
            c.tasks.push(crate::rt::spawn(async move {
                async_io::Timer::after(Duration::from_secs(p.initial_delay)).await;
                loop {
                    let (ok, message) = probe::attempt(&p, &target).await;
                    let cmd = Cmd::Probe {
                        id: id.clone(),
                        ty,
                        ok,
                        message,
                    };
                    if tx.send(cmd).await.is_err() {
                        return;
                    }
                    async_io::Timer::after(Duration::from_secs(p.period)).await;
                }
            }));
        }
    }

    pub(super) async fn container_env(&self, i: usize) -> Result<Vec<(String, String)>, String> {
        let c = &self.ctrs[i].spec;
        let ns = str_at(&self.pod, "/metadata/namespace").to_string();
        let refs = |field: &str, key: &str| -> Vec<String> {
            let mut out = vec![];
            for e in c.get("env").and_then(Value::as_array).into_iter().flatten() {
                if let Some(n) = e
                    .pointer(&format!("/valueFrom/{field}/name"))
                    .and_then(Value::as_str)
                {
                    out.push(n.to_string());
                }
            }
            for e in c
                .get("envFrom")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(n) = e.pointer(&format!("/{key}/name")).and_then(Value::as_str) {
                    out.push(n.to_string());
                }
            }
            out
        };
        let cms = self
            .fetch_named(CONFIGMAPS, refs("configMapKeyRef", "configMapRef"))
            .await;
        let secrets = self
            .fetch_named(SECRETS, refs("secretKeyRef", "secretRef"))
            .await;
        let p = crate::agent::client::ListParams {
            namespace: Some(ns.clone()),
            field_selector: None,
        };
        let mut services = self
            .ctx
            .client
            .list(SERVICES, &p)
            .await
            .map(|(s, _)| s)
            .unwrap_or_default();
        if ns != "default" {
            if let Ok(k) = self
                .ctx
                .client
                .get(SERVICES, Some("default"), "kubernetes")
                .await
            {
                services.push(k);
            }
        }
        let facts = self
            .ctx
            .facts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let host_ips: Vec<String> = vec![facts.host_ip.clone()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        let cm = |n: &str| cms.get(n).cloned();
        let sec = |n: &str| secrets.get(n).cloned();
        let src = env::EnvSources {
            node_name: &self.ctx.cfg.node_name,
            host_ips: &host_ips,
            pod_ips: &self.pod_ips,
            alloc_milli_cpu: facts.alloc_milli_cpu,
            alloc_memory: facts.alloc_memory,
            alloc_ephemeral: facts.alloc_ephemeral,
            configmap: &cm,
            secret: &sec,
            services: &services,
        };
        env::build(&self.pod, c, &src).map_err(|e| e.to_string())
    }
}
