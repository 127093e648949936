//! The resource table: one entry per served resource (group, version, kind, plural, scope, short
//! names, categories, subresources, typed decoding). Routing, discovery, OpenAPI and tables all
//! derive from it, so adding a built-in kind is one line in `builtin.rs`; custom resources are
//! added and removed as CustomResourceDefinitions change.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;

/// Decode-and-reencode through the typed Kubernetes struct: reports wrong types (with the
/// field path) and returns the object with unknown fields dropped.
pub type Typed = fn(Value) -> Result<Value, String>;

/// Paths of a scale subresource.
#[derive(Debug, Clone)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

/// What a custom resource version brings along.
#[derive(Debug, Clone)]
pub struct CustomDef {
    pub schema: Option<Value>,
    pub printer_columns: Vec<Value>,
    pub storage_version: String,
}

/// One served resource.
#[derive(Debug, Clone)]
pub struct ResourceDef {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Has a `status` subresource: the main resource ignores status changes and vice versa.
    pub status: bool,
    pub scale: Option<ScalePaths>,
    /// Further subresources listed in discovery (`log`, `exec`, `binding`, ...).
    pub extra: Vec<&'static str>,
    pub typed: Option<Typed>,
    pub custom: Option<CustomDef>,
}

impl ResourceDef {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Store key prefix of every object of this resource (all namespaces).
    pub fn prefix(&self) -> String {
        let g = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        format!("/registry/{g}/{}/", self.plural)
    }

    /// Store key prefix of one namespace (or of everything for cluster-scoped resources).
    pub fn ns_prefix(&self, ns: Option<&str>) -> String {
        match (self.namespaced, ns) {
            (true, Some(ns)) => format!("{}{ns}/", self.prefix()),
            _ => self.prefix(),
        }
    }

    pub fn key(&self, ns: Option<&str>, name: &str) -> String {
        format!("{}{name}", self.ns_prefix(ns))
    }

    /// The scale subresource paths, defaulting to `.spec.replicas` / `.status.replicas`.
    pub fn scale_paths(&self) -> Option<&ScalePaths> {
        self.scale.as_ref()
    }
}

/// All served resources.
pub struct Registry {
    builtin: Vec<Arc<ResourceDef>>,
    custom: RwLock<Vec<Arc<ResourceDef>>>,
}

impl Registry {
    pub fn new(builtin: Vec<ResourceDef>) -> Registry {
        Registry {
            builtin: builtin.into_iter().map(Arc::new).collect(),
            custom: RwLock::new(Vec::new()),
        }
    }

    /// Every resource, built-ins first.
    pub fn all(&self) -> Vec<Arc<ResourceDef>> {
        let custom = self.custom.read().unwrap_or_else(|e| e.into_inner());
        self.builtin.iter().chain(custom.iter()).cloned().collect()
    }

    pub fn by_path(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.all()
            .into_iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<Arc<ResourceDef>> {
        self.all()
            .into_iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
    }

    /// The resource stored under `group`/`plural` (custom resources: their storage version).
    pub fn by_group_plural(&self, group: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.all().into_iter().find(|r| {
            r.group == group
                && r.plural == plural
                && r.custom
                    .as_ref()
                    .is_none_or(|c| c.storage_version == r.version)
        })
    }

    /// Every (group → versions) served, in discovery order (core group "" first).
    pub fn groups(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in self.all() {
            let vs = out.entry(r.group.clone()).or_default();
            if !vs.contains(&r.version) {
                vs.push(r.version.clone());
            }
        }
        out
    }

    /// Replace the custom resources (after a CRD change).
    pub fn set_custom(&self, defs: Vec<ResourceDef>) {
        let mut custom = self.custom.write().unwrap_or_else(|e| e.into_inner());
        *custom = defs.into_iter().map(Arc::new).collect();
    }
}
