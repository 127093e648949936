//! The CronJob controller: creates a Job from `spec.jobTemplate` at every scheduled time of a
//! five-field cron expression (or `@hourly`-style descriptor) in `spec.timeZone`, under the
//! concurrency policy and starting deadline, trims finished Jobs to the history limits, and
//! keeps `status.active`, `lastScheduleTime` and `lastSuccessfulTime`.
//!
//! Contract: keys are `namespace/name` of CronJobs; a sync reads the CronJob and the Jobs it
//! controls from the caches, decides in [`sync`] (pure, on [`schedule`]'s arithmetic), writes
//! at most one status update (the resourceVersion as precondition) and asks to be woken just
//! after the next scheduled time, computed from the injected clock.

pub mod schedule;
pub mod sync;
pub mod tz;

use std::sync::Arc;

use serde_json::Value;

use super::client::{Delete, CRONJOBS, JOBS};
use super::informer::{key_of, Informer};
use super::ownerref::{controller_of, controller_uid};
use super::workload::Writes;
use super::{route, run, BoxFuture, Controller, Ctx, Queue, SyncError, SyncResult};
use crate::api::object;
use crate::clock::rfc3339;
use schedule::Schedule;
use sync::{CronStatus, Note};

const COMPONENT: &str = "cronjob-controller";
const ZONEINFO: &str = "/usr/share/zoneinfo";

pub struct CronJobController {
    ctx: Ctx,
    cronjobs: Arc<Informer>,
    jobs: Arc<Informer>,
    zones: tz::Zones,
}

pub fn start(ctx: &Ctx) {
    let cronjobs = ctx.informers.get(CRONJOBS);
    let jobs = ctx.informers.get(JOBS);
    let q = Queue::new();
    route(&cronjobs, &q, |d| vec![key_of(d.object())]);
    route(&jobs, &q, |d| {
        let job = d.object();
        let ns = object::meta_str(job, "namespace").unwrap_or("");
        controller_of(job)
            .filter(|r| r.get("kind").and_then(Value::as_str) == Some("CronJob"))
            .and_then(|r| r.get("name").and_then(Value::as_str))
            .map(|name| vec![format!("{ns}/{name}")])
            .unwrap_or_default()
    });
    let c = CronJobController {
        ctx: ctx.clone(),
        cronjobs: cronjobs.clone(),
        jobs: jobs.clone(),
        zones: tz::Zones::new(ZONEINFO),
    };
    run(Arc::new(c), q, ctx.settings.workers, vec![cronjobs, jobs]);
}

impl CronJobController {
    async fn sync_cronjob(&self, key: &str) -> SyncResult {
        let Some(cj) = self.cronjobs.get(key) else {
            return Ok(None);
        };
        let uid = object::meta_str(&cj, "uid");
        let ns = object::meta_str(&cj, "namespace");
        let children: Vec<Arc<Value>> = self
            .jobs
            .list(ns)
            .into_iter()
            .filter(|j| controller_uid(j) == uid)
            .collect();
        let mut status = CronStatus::of(&cj);
        let mut writes = Writes::default();
        let mut changed = false;
        for j in sync::beyond_history(&cj, &children) {
            changed |= self.delete_job(&cj, &mut status, &j, &mut writes).await;
        }
        let (result, more) = self
            .reconcile(&cj, &mut status, &children, &mut writes)
            .await;
        if changed || more {
            let mut obj = (*cj).clone();
            obj["status"] = status.to_value();
            let out = self.ctx.client.update_status(CRONJOBS, obj).await?;
            let mut own = Writes::default();
            own.saw(&out);
            own.settle(&self.cronjobs).await;
        }
        writes.settle(&self.jobs).await;
        result
    }

    /// Everything but the history trimming; whether the status changed.
    async fn reconcile(
        &self,
        cj: &Value,
        status: &mut CronStatus,
        children: &[Arc<Value>],
        writes: &mut Writes,
    ) -> (SyncResult, bool) {
        let client = &self.ctx.client;
        let seen = sync::observe(status, children);
        let mut changed = seen.changed;
        self.notes(cj, &seen.notes).await;
        let (ns, name) = (object::meta_str(cj, "namespace"), object::name(cj));
        for j in &seen.unexpected {
            // The cache may be behind our own status write: ask the API before complaining.
            let fresh = client.get(CRONJOBS, ns, name).ok();
            let uid = object::meta_str(j, "uid").unwrap_or("");
            if !fresh.is_some_and(|f| CronStatus::of(&f).has_active(uid)) {
                let msg = format!(
                    "Saw a job that the controller did not create or forgot: {}",
                    object::name(j)
                );
                self.note(cj, &Note::warning("UnexpectedJob", msg)).await;
            }
        }
        for r in &seen.vanished {
            let job_name = sync::ref_str(r, "name");
            match client.get(JOBS, ns, job_name) {
                Err(e) if e.code == 404 => {
                    let msg = format!("Active job went missing: {job_name}");
                    self.note(cj, &Note::normal("MissingJob", msg)).await;
                    changed |= status.drop_active(sync::ref_str(r, "uid"));
                }
                Err(e) => return (Err(e.into()), changed),
                Ok(_) => {}
            }
        }
        if cj.pointer("/metadata/deletionTimestamp").is_some() {
            return (Ok(None), changed);
        }
        if let Some(tz) = cj.pointer("/spec/timeZone").and_then(Value::as_str) {
            if let Err(e) = self.zones.load(tz) {
                let msg = format!("invalid timeZone: {tz:?}: {e}");
                self.note(cj, &Note::warning("UnknownTimeZone", msg)).await;
                return (Ok(None), changed);
            }
        }
        if cj.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
            return (Ok(None), changed);
        }
        let (expr, warning) = sync::formatted_schedule(cj);
        if let Some(n) = warning {
            self.note(cj, &n).await;
        }
        let schedule_text = cj
            .pointer("/spec/schedule")
            .and_then(Value::as_str)
            .unwrap_or("");
        let sched = match Schedule::parse(&expr, &self.zones) {
            Ok(s) => s,
            Err(e) => {
                let msg = format!("unparseable schedule: {schedule_text:?} : {e}");
                self.note(cj, &Note::warning("UnparseableSchedule", msg))
                    .await;
                return (Ok(None), changed);
            }
        };
        let now = client.now();
        let plan = match sync::plan(cj, status, &sched, now) {
            Ok(p) => p,
            Err(e) => {
                let msg = format!("invalid schedule: {schedule_text} : {e}");
                self.note(cj, &Note::warning("InvalidSchedule", msg)).await;
                return (Ok(None), changed);
            }
        };
        self.notes(cj, &plan.notes).await;
        let Some(t) = plan.start else {
            return (Ok(plan.requeue), changed);
        };
        if plan.replace {
            for r in status.active.clone() {
                let job = match client.get(JOBS, ns, sync::ref_str(&r, "name")) {
                    Ok(j) => j,
                    Err(e) => {
                        let msg = format!("Get job: {}", e.message);
                        self.note(cj, &Note::warning("FailedGet", msg)).await;
                        return (Err(e.into()), changed);
                    }
                };
                if !self.delete_job(cj, status, &job, writes).await {
                    let msg = format!(
                        "could not replace job {}/{}",
                        ns.unwrap_or(""),
                        object::name(&job)
                    );
                    return (Err(SyncError::Other(msg)), true);
                }
                changed = true;
            }
        }
        let zone = self
            .zones
            .load(
                cj.pointer("/spec/timeZone")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            )
            .unwrap_or_else(|_| Arc::new(tz::Zone::utc()));
        let job = match client.create(JOBS, ns, sync::job_for(cj, t, &zone)).await {
            Ok(j) => {
                writes.saw(&j);
                let msg = format!("Created job {}", object::name(&j));
                self.note(cj, &Note::normal("SuccessfulCreate", msg)).await;
                j
            }
            Err(e) if e.reason == "AlreadyExists" => {
                // Created by an earlier sync that did not get to write the status.
                match client.get(JOBS, ns, &sync::job_name(cj, t)) {
                    Ok(j) if controller_uid(&j) == object::meta_str(cj, "uid") => {
                        if status.has_active(object::meta_str(&j, "uid").unwrap_or("")) {
                            return (Ok(None), changed);
                        }
                        j
                    }
                    Ok(_) => return (Ok(None), changed),
                    Err(e) => return (Err(e.into()), changed),
                }
            }
            Err(e) => {
                let msg = format!("Error creating job: {}", e.message);
                self.note(cj, &Note::warning("FailedCreate", msg)).await;
                return (Err(e.into()), changed);
            }
        };
        status.active.push(sync::job_ref(&job));
        status.last_schedule_time = Some(rfc3339(t));
        let requeue = sched.until_next(&sync::history(cj, status), now);
        (Ok(requeue), true)
    }

    /// Delete a Job with its pods (Background); whether it is gone.
    async fn delete_job(
        &self,
        cj: &Value,
        status: &mut CronStatus,
        job: &Value,
        writes: &mut Writes,
    ) -> bool {
        let client = &self.ctx.client;
        let how = Delete {
            propagation: Some("Background"),
            ..Default::default()
        };
        let ns = object::meta_str(job, "namespace");
        match client.delete(JOBS, ns, object::name(job), how).await {
            Ok(()) => {
                writes.saw_store(client);
                status.drop_active(object::meta_str(job, "uid").unwrap_or(""));
                let msg = format!("Deleted job {}", object::name(job));
                self.note(cj, &Note::normal("SuccessfulDelete", msg)).await;
                true
            }
            Err(e) => {
                let msg = format!("Deleted job: {}", e.message);
                self.note(cj, &Note::warning("FailedDelete", msg)).await;
                false
            }
        }
    }

    async fn notes(&self, cj: &Value, notes: &[Note]) {
        for n in notes {
            self.note(cj, n).await;
        }
    }

    async fn note(&self, cj: &Value, n: &Note) {
        let kind = if n.warning { "Warning" } else { "Normal" };
        self.ctx
            .client
            .event(cj, kind, n.reason, &n.message, COMPONENT)
            .await;
    }
}

impl Controller for CronJobController {
    fn name(&self) -> &'static str {
        COMPONENT
    }
    fn sync<'a>(&'a self, key: &'a str) -> BoxFuture<'a, SyncResult> {
        Box::pin(self.sync_cronjob(key))
    }
}
