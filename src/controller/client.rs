//! The in-process API client of controllers and the scheduler: the same write pipeline,
//! validation, admission and store paths external clients reach over HTTPS, without the
//! network hop (as k3s runs its controllers against the API in one process).

use std::sync::Arc;

use serde_json::{json, Value};

use crate::api::body::Encoding;
use crate::api::handlers::delete::{delete_at, DeleteOptions};
use crate::api::handlers::patch::apply_patch;
use crate::api::handlers::write::{self, WriteOpts};
use crate::api::object;
use crate::api::registry::ResourceDef;
use crate::api::server::ApiServer;
use crate::api::status::ApiError;

/// A resource by group, version and plural.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Res {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
}

pub const PODS: Res = Res {
    group: "",
    version: "v1",
    plural: "pods",
};
pub const NODES: Res = Res {
    group: "",
    version: "v1",
    plural: "nodes",
};
pub const NAMESPACES: Res = Res {
    group: "",
    version: "v1",
    plural: "namespaces",
};
pub const SERVICES: Res = Res {
    group: "",
    version: "v1",
    plural: "services",
};
pub const ENDPOINTS: Res = Res {
    group: "",
    version: "v1",
    plural: "endpoints",
};
pub const EVENTS: Res = Res {
    group: "",
    version: "v1",
    plural: "events",
};
pub const SERVICEACCOUNTS: Res = Res {
    group: "",
    version: "v1",
    plural: "serviceaccounts",
};
pub const PVCS: Res = Res {
    group: "",
    version: "v1",
    plural: "persistentvolumeclaims",
};
pub const REPLICASETS: Res = Res {
    group: "apps",
    version: "v1",
    plural: "replicasets",
};
pub const DEPLOYMENTS: Res = Res {
    group: "apps",
    version: "v1",
    plural: "deployments",
};
pub const DAEMONSETS: Res = Res {
    group: "apps",
    version: "v1",
    plural: "daemonsets",
};
pub const STATEFULSETS: Res = Res {
    group: "apps",
    version: "v1",
    plural: "statefulsets",
};
pub const CONTROLLERREVISIONS: Res = Res {
    group: "apps",
    version: "v1",
    plural: "controllerrevisions",
};
pub const JOBS: Res = Res {
    group: "batch",
    version: "v1",
    plural: "jobs",
};
pub const CRONJOBS: Res = Res {
    group: "batch",
    version: "v1",
    plural: "cronjobs",
};
pub const LEASES: Res = Res {
    group: "coordination.k8s.io",
    version: "v1",
    plural: "leases",
};
pub const ENDPOINTSLICES: Res = Res {
    group: "discovery.k8s.io",
    version: "v1",
    plural: "endpointslices",
};
pub const NETWORKPOLICIES: Res = Res {
    group: "networking.k8s.io",
    version: "v1",
    plural: "networkpolicies",
};
pub const REPLICATIONCONTROLLERS: Res = Res {
    group: "",
    version: "v1",
    plural: "replicationcontrollers",
};
pub const PDBS: Res = Res {
    group: "policy",
    version: "v1",
    plural: "poddisruptionbudgets",
};
pub const RESOURCEQUOTAS: Res = Res {
    group: "",
    version: "v1",
    plural: "resourcequotas",
};
pub const CONFIGMAPS: Res = Res {
    group: "",
    version: "v1",
    plural: "configmaps",
};
pub const SECRETS: Res = Res {
    group: "",
    version: "v1",
    plural: "secrets",
};
pub const HPAS: Res = Res {
    group: "autoscaling",
    version: "v2",
    plural: "horizontalpodautoscalers",
};
pub const PERSISTENTVOLUMES: Res = Res {
    group: "",
    version: "v1",
    plural: "persistentvolumes",
};
pub const PRIORITYCLASSES: Res = Res {
    group: "scheduling.k8s.io",
    version: "v1",
    plural: "priorityclasses",
};
pub const STORAGECLASSES: Res = Res {
    group: "storage.k8s.io",
    version: "v1",
    plural: "storageclasses",
};

/// How to delete through the client.
#[derive(Debug, Clone, Default)]
pub struct Delete {
    pub propagation: Option<&'static str>,
    pub grace_seconds: Option<i64>,
    /// Only delete the object with this uid (guards against deleting a successor).
    pub uid: Option<String>,
}

#[derive(Clone)]
pub struct Client {
    srv: Arc<ApiServer>,
}

impl Client {
    pub fn new(srv: Arc<ApiServer>) -> Client {
        Client { srv }
    }

    pub fn server(&self) -> &Arc<ApiServer> {
        &self.srv
    }

    pub fn now(&self) -> i64 {
        self.srv.clock.now()
    }

    pub fn def(&self, r: Res) -> Result<Arc<ResourceDef>, ApiError> {
        self.srv
            .registry
            .by_path(r.group, r.version, r.plural)
            .ok_or_else(|| ApiError::internal(format!("resource {} is not served", r.plural)))
    }

    fn ns<'a>(def: &ResourceDef, ns: Option<&'a str>) -> Option<&'a str> {
        if def.namespaced {
            ns
        } else {
            None
        }
    }

    pub fn get(&self, r: Res, ns: Option<&str>, name: &str) -> Result<Value, ApiError> {
        let def = self.def(r)?;
        write::load(&self.srv, &def, Self::ns(&def, ns), name).map(|(v, _)| v)
    }

    /// Every object of a resource (in one namespace or all), with the list revision.
    pub fn list(&self, r: Res, ns: Option<&str>) -> Result<(Vec<Value>, u64), ApiError> {
        let def = self.def(r)?;
        let (recs, rev, _) = self
            .srv
            .store
            .list(def.ns_prefix(Self::ns(&def, ns)).as_bytes(), None, None)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let items = recs
            .iter()
            .filter_map(|r| object::from_stored(&r.value, r.mod_rev).ok())
            .collect();
        Ok((items, rev))
    }

    pub async fn create(&self, r: Res, ns: Option<&str>, obj: Value) -> Result<Value, ApiError> {
        let def = self.def(r)?;
        write::create(
            &self.srv,
            &def,
            Self::ns(&def, ns),
            obj,
            &WriteOpts::internal(),
        )
        .await
        .map(|(v, _)| v)
    }

    /// Replace an object; its `metadata.resourceVersion` (if set) is the precondition.
    pub async fn update(&self, r: Res, obj: Value) -> Result<Value, ApiError> {
        self.update_sub(r, obj, None).await
    }

    /// Replace an object's status through the status subresource.
    pub async fn update_status(&self, r: Res, obj: Value) -> Result<Value, ApiError> {
        self.update_sub(r, obj, Some("status")).await
    }

    async fn update_sub(&self, r: Res, obj: Value, sub: Option<&str>) -> Result<Value, ApiError> {
        let def = self.def(r)?;
        let ns = object::meta_str(&obj, "namespace").map(str::to_string);
        let name = object::name(&obj).to_string();
        let sub = if def.status { sub } else { None };
        write::update(
            &self.srv,
            &def,
            Self::ns(&def, ns.as_deref()),
            &name,
            obj,
            sub,
            &WriteOpts::internal(),
        )
        .await
        .map(|(v, _, _)| v)
    }

    /// JSON merge patch (retried on conflicts); `status` patches the status subresource.
    pub async fn merge_patch(
        &self,
        r: Res,
        ns: Option<&str>,
        name: &str,
        patch: &Value,
        status: bool,
    ) -> Result<Value, ApiError> {
        let def = self.def(r)?;
        let ns = Self::ns(&def, ns);
        let body = serde_json::to_vec(patch).unwrap_or_default();
        let sub = if status && def.status {
            Some("status")
        } else {
            None
        };
        let mut last = None;
        for _ in 0..5 {
            let (cur, rev) = write::load(&self.srv, &def, ns, name)?;
            let new = apply_patch(&def, &cur, Encoding::MergePatch, &body)?;
            match write::apply_update(
                &self.srv,
                &def,
                ns,
                name,
                &cur,
                rev,
                new,
                sub,
                &WriteOpts::internal(),
            )
            .await
            {
                Ok((v, _)) => return Ok(v),
                Err(e) if e.reason == "Conflict" => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| ApiError::stale(&def.plural, &def.group, name)))
    }

    pub async fn delete(
        &self,
        r: Res,
        ns: Option<&str>,
        name: &str,
        how: Delete,
    ) -> Result<(), ApiError> {
        self.delete_rev(r, ns, name, how).await.map(|_| ())
    }

    /// Delete and return the store revision that reflects it (for `Informer::wait_rev`).
    pub async fn delete_rev(
        &self,
        r: Res,
        ns: Option<&str>,
        name: &str,
        how: Delete,
    ) -> Result<u64, ApiError> {
        let def = self.def(r)?;
        let opts = DeleteOptions {
            grace: how.grace_seconds,
            propagation: how.propagation.map(str::to_string),
            uid: how.uid,
            rv: None,
            dry_run: false,
        };
        delete_at(&self.srv, &def, Self::ns(&def, ns), name, &opts)
            .await
            .map(|(_, rev)| rev)
    }

    /// Bind a pod to a node (the `pods/binding` subresource).
    pub async fn bind(&self, ns: &str, pod: &str, node: &str) -> Result<(), ApiError> {
        let def = self.def(PODS)?;
        crate::api::handlers::hooks::bind(&self.srv, &def, Some(ns), pod, node).await
    }

    /// Record an Event about `obj`; repeats of the same reason and message bump `count`.
    pub async fn event(
        &self,
        obj: &Value,
        kind_type: &str,
        reason: &str,
        message: &str,
        component: &str,
    ) {
        let ns = object::meta_str(obj, "namespace")
            .unwrap_or("default")
            .to_string();
        let name = object::name(obj).to_string();
        let uid = object::meta_str(obj, "uid").unwrap_or("").to_string();
        let now = crate::clock::rfc3339(self.now());
        // A stable name per (object, reason, message) aggregates repeats like Kubernetes' event
        // correlator does.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in format!("{uid}/{reason}/{message}").bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let ev_name = format!("{name}.{h:016x}");
        if let Ok(cur) = self.get(EVENTS, Some(&ns), &ev_name) {
            let count = cur.get("count").and_then(Value::as_i64).unwrap_or(1) + 1;
            let _ = self
                .merge_patch(
                    EVENTS,
                    Some(&ns),
                    &ev_name,
                    &json!({"count": count, "lastTimestamp": now}),
                    false,
                )
                .await;
            return;
        }
        let ev = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": ev_name, "namespace": ns},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion").cloned().unwrap_or(Value::Null),
                "kind": obj.get("kind").cloned().unwrap_or(Value::Null),
                "name": name,
                "namespace": object::meta_str(obj, "namespace"),
                "uid": uid,
                "resourceVersion": object::meta_str(obj, "resourceVersion"),
            },
            "reason": reason,
            "message": message,
            "type": kind_type,
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "source": {"component": component},
            "reportingComponent": component,
            "reportingInstance": "kedge",
        });
        let _ = self.create(EVENTS, Some(&ns), ev).await;
    }
}
