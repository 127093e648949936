//! The Job controller: runs a Job's pods to completion as Kubernetes 1.33 does — up to
//! `parallelism` at once until `completions` succeeded (NonIndexed or Indexed), replacing
//! failed pods after an exponential backoff until `backoffLimit`, honouring
//! `activeDeadlineSeconds`, `podFailurePolicy`, `suspend` and `ttlSecondsAfterFinished`.
//!
//! Contract: keys are `namespace/name` of Jobs, or `pod:namespace/name` of pods whose tracking
//! finalizer may have to go (their Job vanished or finished). A Job sync reads the Job and the
//! pods it controls from the caches, decides in [`sync`] (pure), creates or deletes pods,
//! then counts finished pods through [`status`] (status written before finalizers are
//! removed), and waits until the caches show its own writes so the next sync starts from
//! them. Every write carries a precondition; a conflict fails the sync and it is retried.

pub mod backoff;
pub mod failure_policy;
pub mod indexes;
pub mod orphans;
pub mod pods;
pub mod status;
pub mod sync;
pub mod ttl;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::client::{Delete, JOBS, PODS};
use super::informer::{key_of, split_key, Delta, Informer};
use super::ownerref::{controller_of, controller_uid};
use super::podutil::is_ready;
use super::workload::{claim, Writes};
use super::{route, run, BoxFuture, Controller, Ctx, Queue, SyncError, SyncResult};
use crate::api::object;
use crate::api::selector::LabelSelector;
use crate::api::status::ApiError;
use crate::clock::rfc3339;
use backoff::Record;
use pods::{is_tracked, TRACKING_FINALIZER};
use status::{JobStatus, COMPLETE};
use sync::{Assessment, Manage, Spec};

const COMPONENT: &str = "job-controller";
/// Kubernetes batches pod events for a Job this long; also the shortest backoff requeue.
const BATCH_PERIOD: Duration = Duration::from_secs(1);
const ORPHAN_PREFIX: &str = "pod:";
/// The controller named in `spec.managedBy` that is this one.
const MANAGED_BY_US: &str = "kubernetes.io/job-controller";

pub struct JobController {
    ctx: Ctx,
    jobs: Arc<Informer>,
    pods: Arc<Informer>,
    backoff: backoff::Store,
}

pub fn start(ctx: &Ctx) {
    let jobs = ctx.informers.get(JOBS);
    let pods = ctx.informers.get(PODS);
    let q = Queue::new();
    let pods2 = pods.clone();
    route(&jobs, &q, move |d| {
        let mut keys = vec![key_of(d.object())];
        if let Delta::Delete(job) = d {
            // The Job is gone: its pods' finalizers must not outlive it.
            keys.extend(tracked_pods_of(&pods2, job).map(|p| orphan_key(&p)));
        }
        keys
    });
    let jobs2 = jobs.clone();
    route(&pods, &q, move |d| pod_keys(&jobs2, d.object()));
    let c = JobController {
        ctx: ctx.clone(),
        jobs: jobs.clone(),
        pods: pods.clone(),
        backoff: backoff::Store::default(),
    };
    run(Arc::new(c), q, ctx.settings.workers, vec![jobs, pods]);
}

fn orphan_key(pod: &Value) -> String {
    format!("{ORPHAN_PREFIX}{}", key_of(pod))
}

fn tracked_pods_of<'a>(pods: &Informer, job: &'a Value) -> impl Iterator<Item = Arc<Value>> + 'a {
    let ns = object::meta_str(job, "namespace");
    let uid = object::meta_str(job, "uid");
    pods.list(ns)
        .into_iter()
        .filter(move |p| controller_uid(p) == uid && is_tracked(p))
}

/// The Job a pod belongs to, and the pod itself when its finalizer may have to go.
fn pod_keys(jobs: &Informer, pod: &Value) -> Vec<String> {
    let ns = object::meta_str(pod, "namespace").unwrap_or("");
    let mut keys = Vec::new();
    let mut job = None;
    if let Some(r) =
        controller_of(pod).filter(|r| r.get("kind").and_then(Value::as_str) == Some("Job"))
    {
        let key = format!(
            "{ns}/{}",
            r.get("name").and_then(Value::as_str).unwrap_or("")
        );
        job = jobs.get(&key);
        keys.push(key);
    }
    if orphans::releasable(pod, job.as_deref()) {
        keys.push(orphan_key(pod));
    }
    keys
}

/// Writes of one sync, to wait for before the next.
#[derive(Default)]
struct Revs {
    pods: Writes,
    jobs: Writes,
}

/// The status a sync computed before counting finished pods.
struct Counted {
    status: JobStatus,
    assessment: Assessment,
    /// The backoff record to keep once the newly finished pods are in the status.
    record: Record,
    /// Whether the status differs from the stored one already.
    needs_flush: bool,
    terminating: i64,
    /// The sync's clock reading.
    now: i64,
}

/// What happened to a batch of pod deletions.
#[derive(Default)]
struct Deleted {
    count: i64,
    ready: i64,
    error: Option<ApiError>,
}

impl JobController {
    async fn sync_job(&self, key: &str) -> SyncResult {
        let Some(job) = self.jobs.get(key) else {
            self.backoff.remove(key);
            return Ok(None);
        };
        if job
            .pointer("/spec/managedBy")
            .and_then(Value::as_str)
            .is_some_and(|m| m != MANAGED_BY_US)
        {
            return Ok(None);
        }
        let now = self.ctx.client.now();
        let mut status = JobStatus::of(&job);
        if status.finished().is_some() {
            self.backoff.remove(key);
            let mut revs = Revs::default();
            let mut released = Ok(());
            for pod in tracked_pods_of(&self.pods, &job) {
                released = released.and(self.release(&pod, &mut revs).await);
            }
            self.settle(&revs).await;
            released?;
            return self.expire(&job, &status, now).await;
        }
        let spec = Spec::of(&job);
        let Ok(selector) =
            LabelSelector::from_json(job.pointer("/spec/selector").unwrap_or(&Value::Null))
        else {
            return Ok(None);
        };
        let mut revs = Revs::default();
        let candidates = self.pods.list(object::meta_str(&job, "namespace"));
        let client = &self.ctx.client;
        let claimed = claim(
            client,
            PODS,
            &job,
            &selector,
            candidates,
            |_| true,
            &mut revs.pods,
        );
        let pods = match claimed.await {
            Ok(pods) => pods,
            Err(e) => {
                self.settle(&revs).await;
                return Err(e.into());
            }
        };
        let started = status.start_time.clone();
        let mut a = sync::assess(&spec, &mut status, &pods, now);
        let record = {
            let s: Vec<&Value> = a.new_succeeded.iter().map(|p| &**p).collect();
            let f: Vec<&Value> = a.new_failed.iter().map(|p| &**p).collect();
            self.backoff.get(key).advance(&s, &f)
        };
        let mut requeue = a.deadline_in;
        let mut active = a.active.len() as i64;
        let (mut ready, mut terminating) = (a.ready, a.terminating);
        let mut suspend_changed = false;
        let mut manage_err = None;
        if a.finished.is_some() {
            let d = self.delete_pods(&job, &a.active, &mut revs).await;
            if d.count != active {
                // Not finished while pods may still run.
                a.finished = None;
            }
            active -= d.count;
            terminating += d.count;
            ready -= d.ready;
            manage_err = d.error;
        } else {
            if !spec.deleting {
                match sync::manage(&spec, &a, record.remaining(now), now) {
                    Manage::Delete(victims) => {
                        let d = self.delete_pods(&job, &victims, &mut revs).await;
                        active -= d.count;
                        terminating += d.count;
                        ready -= d.ready;
                        manage_err = d.error;
                    }
                    Manage::Create(indexes) => {
                        let (created, err) = self.create_pods(&job, &indexes, &mut revs).await;
                        active += created;
                        manage_err = err;
                    }
                    Manage::Wait(d) => requeue = min_some(requeue, d.max(BATCH_PERIOD)),
                    Manage::Idle => {}
                }
            }
            if sync::is_complete(&spec, a.succeeded, active) {
                a.finished = Some(status::success_criteria_met(now));
            } else if !spec.deleting {
                if let Some((reason, message)) = status.set_suspended(spec.suspend, now) {
                    suspend_changed = true;
                    if !spec.suspend {
                        // The active deadline counts from the resume.
                        status.start_time = Some(rfc3339(now));
                    }
                    self.event(&job, "Normal", reason, message).await;
                }
            }
        }
        let needs_flush = suspend_changed
            || started != status.start_time
            || active != status.active
            || Some(ready) != status.ready
            || Some(terminating) != status.terminating;
        status.active = active;
        status.ready = Some(ready);
        status.terminating = Some(terminating);
        let counted = Counted {
            status,
            assessment: a,
            record,
            needs_flush,
            terminating,
            now,
        };
        let tracked = self
            .track(key, &job, &spec, &pods, counted, &mut revs)
            .await;
        // Even a failed sync waits for what it did write, so its retry does not act twice.
        self.settle(&revs).await;
        tracked?;
        match manage_err {
            Some(e) => Err(e.into()),
            None => Ok(requeue),
        }
    }

    /// Count finished pods, release their finalizers, and finish the Job when it is time.
    async fn track(
        &self,
        key: &str,
        job: &Value,
        spec: &Spec<'_>,
        pods: &[Arc<Value>],
        counted: Counted,
        revs: &mut Revs,
    ) -> Result<(), SyncError> {
        let Counted {
            mut status,
            assessment: mut a,
            record,
            mut needs_flush,
            terminating,
            now,
        } = counted;
        let mut job = job.clone();
        let mut with_finalizer: HashSet<String> = pods
            .iter()
            .filter(|p| is_tracked(p))
            .map(|p| pods::uid(p).to_string())
            .collect();
        needs_flush |= status.count_released(&with_finalizer);
        let t = status::track(
            &mut status,
            spec,
            pods,
            &a.prev_indexes,
            &mut a.succeeded_indexes,
            a.finished.take(),
            now,
        );
        if needs_flush || t.needs_flush {
            job = self.write_status(job, &status, revs).await?;
            self.backoff.set(key, record);
            needs_flush = false;
        }
        let mut release_err = None;
        for pod in &t.release {
            match self.release(pod, revs).await {
                Ok(()) => {
                    with_finalizer.remove(pods::uid(pod));
                }
                Err(e) => release_err = Some(e),
            }
        }
        needs_flush |= status.count_released(&with_finalizer);
        if let Some(e) = release_err {
            if needs_flush {
                self.write_status(job, &status, revs).await?;
            }
            return Err(e);
        }
        let finished =
            !t.reached_max && status.enact_finished(t.finished.as_ref(), terminating, now);
        if finished || needs_flush {
            job = self.write_status(job, &status, revs).await?;
        }
        if finished {
            self.report_finished(&job, &status, spec).await;
        }
        Ok(())
    }

    async fn report_finished(&self, job: &Value, status: &JobStatus, spec: &Spec<'_>) {
        let Some(c) = status.finished() else { return };
        if c.kind == COMPLETE {
            if spec.completions.is_some_and(|n| status.succeeded > n) {
                self.event(
                    job,
                    "Warning",
                    "TooManySucceededPods",
                    "Too many succeeded pods running after completion count reached",
                )
                .await;
            }
            self.event(job, "Normal", "Completed", "Job completed")
                .await;
        } else {
            self.event(job, "Warning", &c.reason, &c.message).await;
        }
    }

    async fn write_status(
        &self,
        mut job: Value,
        status: &JobStatus,
        revs: &mut Revs,
    ) -> Result<Value, SyncError> {
        job["status"] = status.to_value();
        let out = self.ctx.client.update_status(JOBS, job).await?;
        revs.jobs.saw(&out);
        Ok(out)
    }

    /// Remove the tracking finalizer (a pod already gone counts as released).
    async fn release(&self, pod: &Value, revs: &mut Revs) -> Result<(), SyncError> {
        let client = &self.ctx.client;
        let ns = object::meta_str(pod, "namespace");
        let mut fresh = match client.get(PODS, ns, object::name(pod)) {
            Ok(p) if object::meta_str(&p, "uid") == object::meta_str(pod, "uid") => p,
            Ok(_) => return Ok(()),
            Err(e) if e.code == 404 => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let kept: Vec<String> = object::finalizers(&fresh)
            .into_iter()
            .filter(|f| f != TRACKING_FINALIZER)
            .collect();
        object::meta_mut(&mut fresh).insert("finalizers".into(), json!(kept));
        match client.update(PODS, fresh).await {
            Ok(p) => {
                revs.pods.saw(&p);
                Ok(())
            }
            Err(e) if e.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete_pods(&self, job: &Value, victims: &[Arc<Value>], revs: &mut Revs) -> Deleted {
        let client = &self.ctx.client;
        let mut out = Deleted::default();
        for p in victims {
            let how = Delete {
                uid: object::meta_str(p, "uid").map(str::to_string),
                ..Default::default()
            };
            let ns = object::meta_str(p, "namespace");
            match client.delete(PODS, ns, object::name(p), how).await {
                Ok(()) => {
                    let msg = format!("Deleted pod: {}", object::name(p));
                    self.event(job, "Normal", "SuccessfulDelete", &msg).await;
                }
                Err(e) if e.code == 404 => {}
                Err(e) => {
                    let msg = format!("Error deleting: {}", e.message);
                    self.event(job, "Warning", "FailedDelete", &msg).await;
                    out.error = Some(e);
                    continue;
                }
            }
            out.count += 1;
            out.ready += i64::from(is_ready(p));
        }
        revs.pods.saw_store(client);
        out
    }

    /// Create pods in doubling batches, stopping after a batch with a failure (so a quota
    /// error does not turn into hundreds of failed requests); how many were created.
    async fn create_pods(
        &self,
        job: &Value,
        indexes: &[Option<i64>],
        revs: &mut Revs,
    ) -> (i64, Option<ApiError>) {
        let client = &self.ctx.client;
        let ns = object::meta_str(job, "namespace");
        let mut created = 0;
        let mut err = None;
        let mut batch = 1;
        let mut rest = indexes;
        while !rest.is_empty() && err.is_none() {
            let (now, later) = rest.split_at(batch.min(rest.len()));
            for ix in now {
                match client.create(PODS, ns, pods::new_pod(job, *ix)).await {
                    Ok(p) => {
                        created += 1;
                        revs.pods.saw(&p);
                        let msg = format!("Created pod: {}", object::name(&p));
                        self.event(job, "Normal", "SuccessfulCreate", &msg).await;
                    }
                    Err(e) => {
                        let msg = format!("Error creating: {}", e.message);
                        self.event(job, "Warning", "FailedCreate", &msg).await;
                        err = Some(e);
                    }
                }
            }
            rest = later;
            batch *= 2;
        }
        (created, err)
    }

    /// A finished Job: delete it once its TTL ran out.
    async fn expire(&self, job: &Value, status: &JobStatus, now: i64) -> SyncResult {
        match ttl::check(job, status, now) {
            ttl::Ttl::Keep => Ok(None),
            ttl::Ttl::Wait(d) => Ok(Some(d)),
            ttl::Ttl::Expired => {
                let how = Delete {
                    propagation: Some("Background"),
                    uid: object::meta_str(job, "uid").map(str::to_string),
                    ..Default::default()
                };
                let ns = object::meta_str(job, "namespace");
                match self
                    .ctx
                    .client
                    .delete(JOBS, ns, object::name(job), how)
                    .await
                {
                    Ok(()) => Ok(None),
                    Err(e) if e.code == 404 || e.code == 409 => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// A pod whose Job may no longer need its finalizer.
    async fn sync_orphan(&self, key: &str) -> SyncResult {
        let Some(pod) = self.pods.get(key) else {
            return Ok(None);
        };
        let (ns, _) = split_key(key);
        let job = controller_of(&pod)
            .and_then(|r| r.get("name").and_then(Value::as_str))
            // The API, not the cache: a Job created a moment ago must not lose its pods.
            .and_then(|name| self.ctx.client.get(JOBS, ns, name).ok());
        if !orphans::releasable(&pod, job.as_ref()) {
            return Ok(None);
        }
        let mut revs = Revs::default();
        self.release(&pod, &mut revs).await?;
        self.settle(&revs).await;
        Ok(None)
    }

    async fn settle(&self, revs: &Revs) {
        revs.pods.settle(&self.pods).await;
        revs.jobs.settle(&self.jobs).await;
    }

    async fn event(&self, job: &Value, kind: &str, reason: &str, message: &str) {
        self.ctx
            .client
            .event(job, kind, reason, message, COMPONENT)
            .await;
    }
}

fn min_some(a: Option<Duration>, b: Duration) -> Option<Duration> {
    Some(a.map_or(b, |a| a.min(b)))
}

impl Controller for JobController {
    fn name(&self) -> &'static str {
        COMPONENT
    }
    fn sync<'a>(&'a self, key: &'a str) -> BoxFuture<'a, SyncResult> {
        match key.strip_prefix(ORPHAN_PREFIX) {
            Some(pod) => Box::pin(self.sync_orphan(pod)),
            None => Box::pin(self.sync_job(key)),
        }
    }
}
