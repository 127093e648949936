//! Stopping: liveness kills and pod deletion (preStop, SIGTERM, grace period, SIGKILL), and
//! releasing what a pod holds (containers, network, sandbox, volumes, cgroup).

use super::*;

impl Worker {
    pub(super) fn grace_seconds(&self) -> i64 {
        self.pod
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .or_else(|| {
                self.pod
                    .pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
            })
            .unwrap_or(30)
            .max(0)
    }

    /// preStop, SIGTERM, wait `grace`, SIGKILL (in the background; the exit arrives as a
    /// command).
    pub(super) fn kill(&self, i: usize, grace: i64) {
        let Some(id) = self.ctrs[i].id.clone() else {
            return;
        };
        let pre_stop = self.ctrs[i].spec.pointer("/lifecycle/preStop").cloned();
        let spec = self.ctrs[i].spec.clone();
        let target = self.hook_target(&id);
        let rt = self.ctx.deps.runtime.clone();
        let (events, pod, fp) = (
            self.ctx.events.clone(),
            self.pod.clone(),
            field_path(self.ctrs[i].init, self.ctrs[i].name()),
        );
        crate::rt::spawn(async move {
            let start = std::time::Instant::now();
            let total = Duration::from_secs(grace as u64);
            if let Some(h) = pre_stop {
                if let Err(m) = run_hook(&h, &spec, &target, total).await {
                    events.pod(
                        &pod,
                        true,
                        "FailedPreStopHook",
                        &format!("PreStopHook failed: {m}"),
                        &fp,
                    );
                }
            }
            let (rt2, id2) = (rt.clone(), id.clone());
            let _ = smol::unblock(move || rt2.signal(&id2, 15)).await;
            let left = total.saturating_sub(start.elapsed());
            let exited = futures_lite::future::or(
                async {
                    let _ = rt.wait_exit(&id).await;
                    true
                },
                async {
                    async_io::Timer::after(left).await;
                    false
                },
            )
            .await;
            if !exited {
                let _ = smol::unblock(move || rt.signal(&id, 9)).await;
            }
        })
        .detach();
    }

    pub(super) fn begin_termination(&mut self) {
        let grace = self.grace_seconds();
        for i in 0..self.ctrs.len() {
            if self.ctrs[i].st.state.is_running() {
                let msg = format!("Stopping container {}", self.ctrs[i].name());
                self.event(Some(&self.ctrs[i]), false, "Killing", &msg);
                self.kill(i, grace);
            } else if matches!(self.ctrs[i].st.state, CState::Waiting { .. }) && !self.frozen {
                self.ctrs[i].st.state = CState::waiting("ContainerCreating", "");
            }
        }
        let deadline = self.now() + grace;
        self.stage = Stage::Terminating { deadline };
    }

    pub(super) async fn terminate_step(&mut self, deadline: i64) {
        if self.ctrs.iter().any(|c| c.st.state.is_running()) {
            if self.now() > deadline + 5 {
                // The kill task should have done this; make sure.
                for c in &self.ctrs {
                    if let (true, Some(id)) = (c.st.state.is_running(), c.id.clone()) {
                        let rt = self.ctx.deps.runtime.clone();
                        let _ = smol::unblock(move || rt.signal(&id, 9)).await;
                    }
                }
            }
            self.retry_in(1);
            return;
        }
        self.teardown().await;
        if !self.removed {
            self.push_status().await;
            let (ns, name) = (
                str_at(&self.pod, "/metadata/namespace").to_string(),
                str_at(&self.pod, "/metadata/name").to_string(),
            );
            match self
                .ctx
                .client
                .delete(PODS, Some(&ns), &name, Some(0), Some(&self.uid))
                .await
            {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(crate::agent::client::ClientError::Conflict(_)) => {}
                Err(e) => {
                    eprintln!("kedge agent: deleting pod {ns}/{name}: {e}");
                    self.retry_in(2);
                    return;
                }
            }
        }
        self.removed = true;
        self.stage = Stage::Gone;
    }

    /// Free what a finished pod holds, keeping its statuses and logs.
    pub(super) async fn release(&mut self) {
        self.release_resources(false).await;
    }

    pub(super) async fn teardown(&mut self) {
        self.release_resources(true).await;
    }

    pub(super) async fn release_resources(&mut self, everything: bool) {
        for c in &mut self.ctrs {
            c.tasks.clear();
        }
        let ids: Vec<String> = self.ctrs.iter().filter_map(|c| c.id.clone()).collect();
        let rt = self.ctx.deps.runtime.clone();
        let uid = self.uid.clone();
        let netns = self.sandbox.as_ref().and_then(|s| s.netns.clone());
        let net = self
            .ctx
            .deps
            .network
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(net) = net {
            if !self.host_network() {
                if let Err(e) = net.del(&uid, netns.as_deref()).await {
                    eprintln!("kedge agent: pod {uid}: network: {e}");
                }
            }
        }
        let vols = self.ctx.deps.volumes.clone();
        let dir = self.pod_dir();
        let pod_cg = qos::pod_cgroup(&self.ctx.cfg.cgroup_parent, qos::class(&self.pod), &uid);
        smol::unblock(move || {
            for id in ids {
                if let Err(e) = rt.remove(&id) {
                    eprintln!("kedge agent: container {id}: {e}");
                }
            }
            if let Err(e) = rt.remove_sandbox(&uid) {
                eprintln!("kedge agent: pod {uid}: sandbox: {e}");
            }
            if let Err(e) = vols.teardown(&uid, &dir) {
                eprintln!("kedge agent: pod {uid}: volumes: {e}");
            }
            let _ = rt.remove_pod_cgroup(&pod_cg);
            if everything {
                let _ = std::fs::remove_dir_all(&dir);
            }
        })
        .await;
        self.sandbox = None;
    }
}
