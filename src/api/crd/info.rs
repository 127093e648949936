//! The routing/discovery view of a CustomResourceDefinition.
//!
//! Contract: [`info`] extracts from an `apiextensions.k8s.io/v1` CRD (already validated, or at
//! least well-formed) what the server needs to serve it: group, names (with Kubernetes' defaults
//! `singular = lowercase(kind)`, `listKind = kind + "List"`), scope, and per version whether it
//! is served/stored, its `openAPIV3Schema`, status/scale subresources and printer columns.
//! It fails with [`CrdError`] only when a field needed for routing is missing or mistyped; it
//! does not re-run the full validation of [`super::validate_definition`].

use serde_json::{Map, Value};

/// Why a CRD object could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrdError {
    #[error("CustomResourceDefinition must be a JSON object")]
    NotAnObject,
    #[error("{0}: Required value")]
    Missing(String),
    #[error("{field}: Invalid value: {message}")]
    Invalid { field: String, message: String },
}

/// What the server routes and advertises for one CRD.
#[derive(Debug, Clone, PartialEq)]
pub struct CrdInfo {
    pub group: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    pub versions: Vec<CrdVersion>,
}

/// One entry of `spec.versions`.
#[derive(Debug, Clone, PartialEq)]
pub struct CrdVersion {
    pub name: String,
    pub served: bool,
    pub storage: bool,
    /// `schema.openAPIV3Schema`.
    pub schema: Option<Value>,
    /// `subresources.status` is set.
    pub status_subresource: bool,
    pub scale: Option<ScaleSubresource>,
    /// `additionalPrinterColumns`, as given.
    pub printer_columns: Vec<Value>,
}

/// `subresources.scale`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleSubresource {
    pub spec_replicas_path: String,
    pub status_replicas_path: String,
    pub label_selector_path: Option<String>,
}

impl CrdInfo {
    /// The version objects are persisted in (exactly one in a valid CRD).
    pub fn storage_version(&self) -> Option<&CrdVersion> {
        self.versions.iter().find(|v| v.storage)
    }

    /// Versions clients may use, in spec order.
    pub fn served_versions(&self) -> impl Iterator<Item = &CrdVersion> {
        self.versions.iter().filter(|v| v.served)
    }

    /// A version by name.
    pub fn version(&self, name: &str) -> Option<&CrdVersion> {
        self.versions.iter().find(|v| v.name == name)
    }

    /// `<plural>.<group>`, the CRD's required `metadata.name`.
    pub fn resource_name(&self) -> String {
        format!("{}.{}", self.plural, self.group)
    }
}

fn get_str(obj: &Map<String, Value>, k: &str, path: &str) -> Result<Option<String>, CrdError> {
    match obj.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(CrdError::Invalid {
            field: format!("{path}.{k}"),
            message: "must be a string".into(),
        }),
    }
}

fn require_str(obj: &Map<String, Value>, k: &str, path: &str) -> Result<String, CrdError> {
    match get_str(obj, k, path)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(CrdError::Missing(format!("{path}.{k}"))),
    }
}

fn get_bool(obj: &Map<String, Value>, k: &str, path: &str) -> Result<bool, CrdError> {
    match obj.get(k) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(CrdError::Invalid {
            field: format!("{path}.{k}"),
            message: "must be a boolean".into(),
        }),
    }
}

fn string_list(obj: &Map<String, Value>, k: &str, path: &str) -> Result<Vec<String>, CrdError> {
    match obj.get(k) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| CrdError::Invalid {
                        field: format!("{path}.{k}[{i}]"),
                        message: "must be a string".into(),
                    })
            })
            .collect(),
        Some(_) => Err(CrdError::Invalid {
            field: format!("{path}.{k}"),
            message: "must be a list of strings".into(),
        }),
    }
}

fn object<'a>(
    v: Option<&'a Value>,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, CrdError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(CrdError::Invalid {
            field: path.to_string(),
            message: "must be an object".into(),
        }),
    }
}

/// Reads the routing/discovery view of a v1 CRD.
pub fn info(crd: &Value) -> Result<CrdInfo, CrdError> {
    let root = crd.as_object().ok_or(CrdError::NotAnObject)?;
    let spec = object(root.get("spec"), "spec")?.ok_or_else(|| CrdError::Missing("spec".into()))?;
    let group = require_str(spec, "group", "spec")?;
    let names = object(spec.get("names"), "spec.names")?
        .ok_or_else(|| CrdError::Missing("spec.names".into()))?;
    let plural = require_str(names, "plural", "spec.names")?;
    let kind = require_str(names, "kind", "spec.names")?;
    let singular = get_str(names, "singular", "spec.names")?
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| kind.to_lowercase());
    let list_kind = get_str(names, "listKind", "spec.names")?
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("{kind}List"));
    let short_names = string_list(names, "shortNames", "spec.names")?;
    let categories = string_list(names, "categories", "spec.names")?;
    let namespaced = match require_str(spec, "scope", "spec")?.as_str() {
        "Namespaced" => true,
        "Cluster" => false,
        other => {
            return Err(CrdError::Invalid {
                field: "spec.scope".into(),
                message: format!("{other:?}: supported values: \"Cluster\", \"Namespaced\""),
            })
        }
    };
    let raw_versions = match spec.get("versions") {
        Some(Value::Array(v)) if !v.is_empty() => v,
        Some(Value::Array(_)) | None | Some(Value::Null) => {
            return Err(CrdError::Missing("spec.versions".into()))
        }
        Some(_) => {
            return Err(CrdError::Invalid {
                field: "spec.versions".into(),
                message: "must be a list".into(),
            })
        }
    };
    let mut versions = Vec::with_capacity(raw_versions.len());
    for (i, v) in raw_versions.iter().enumerate() {
        let path = format!("spec.versions[{i}]");
        let v = object(Some(v), &path)?.ok_or_else(|| CrdError::Missing(path.clone()))?;
        let schema_path = format!("{path}.schema");
        let schema = object(v.get("schema"), &schema_path)?
            .and_then(|s| s.get("openAPIV3Schema"))
            .filter(|s| !s.is_null())
            .cloned();
        let sub_path = format!("{path}.subresources");
        let subresources = object(v.get("subresources"), &sub_path)?;
        let status_subresource =
            subresources.is_some_and(|s| s.get("status").is_some_and(|st| !st.is_null()));
        let scale = match subresources
            .map(|s| object(s.get("scale"), &format!("{sub_path}.scale")))
            .transpose()?
            .flatten()
        {
            None => None,
            Some(scale) => {
                let sp = format!("{sub_path}.scale");
                Some(ScaleSubresource {
                    spec_replicas_path: require_str(scale, "specReplicasPath", &sp)?,
                    status_replicas_path: require_str(scale, "statusReplicasPath", &sp)?,
                    label_selector_path: get_str(scale, "labelSelectorPath", &sp)?
                        .filter(|s| !s.is_empty()),
                })
            }
        };
        let printer_columns = match v.get("additionalPrinterColumns") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(cols)) => cols.clone(),
            Some(_) => {
                return Err(CrdError::Invalid {
                    field: format!("{path}.additionalPrinterColumns"),
                    message: "must be a list".into(),
                })
            }
        };
        versions.push(CrdVersion {
            name: require_str(v, "name", &path)?,
            served: get_bool(v, "served", &path)?,
            storage: get_bool(v, "storage", &path)?,
            schema,
            status_subresource,
            scale,
            printer_columns,
        });
    }
    Ok(CrdInfo {
        group,
        plural,
        singular,
        kind,
        list_kind,
        short_names,
        categories,
        namespaced,
        versions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_crontab() {
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "crontabs.stable.example.com"},
            "spec": {
                "group": "stable.example.com",
                "versions": [
                    {"name": "v1beta1", "served": true, "storage": false,
                     "schema": {"openAPIV3Schema": {"type": "object"}}},
                    {"name": "v1", "served": true, "storage": true,
                     "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                     "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                     "additionalPrinterColumns": [{"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"}]}
                ],
                "scope": "Namespaced",
                "names": {"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"]}
            }
        });
        let i = info(&crd).unwrap();
        assert_eq!(i.singular, "crontab");
        assert_eq!(i.list_kind, "CronTabList");
        assert_eq!(i.short_names, vec!["ct"]);
        assert!(i.namespaced);
        assert_eq!(i.resource_name(), "crontabs.stable.example.com");
        let storage = i.storage_version().unwrap();
        assert_eq!(storage.name, "v1");
        assert!(storage.status_subresource);
        assert_eq!(
            storage.scale,
            Some(ScaleSubresource {
                spec_replicas_path: ".spec.replicas".into(),
                status_replicas_path: ".status.replicas".into(),
                label_selector_path: None
            })
        );
        assert_eq!(storage.printer_columns.len(), 1);
        assert_eq!(i.served_versions().count(), 2);
        assert!(!i.version("v1beta1").unwrap().status_subresource);
    }

    #[test]
    fn errors() {
        assert_eq!(info(&json!([])), Err(CrdError::NotAnObject));
        assert_eq!(info(&json!({})), Err(CrdError::Missing("spec".into())));
        let bad_scope = json!({"spec": {"group": "a.b", "scope": "Galaxy", "names": {"plural": "xs", "kind": "X"}, "versions": [{"name": "v1"}]}});
        assert_eq!(
            info(&bad_scope).unwrap_err().to_string(),
            "spec.scope: Invalid value: \"Galaxy\": supported values: \"Cluster\", \"Namespaced\""
        );
        let no_versions = json!({"spec": {"group": "a.b", "scope": "Cluster", "names": {"plural": "xs", "kind": "X"}, "versions": []}});
        assert_eq!(
            info(&no_versions),
            Err(CrdError::Missing("spec.versions".into()))
        );
        let bad_served = json!({"spec": {"group": "a.b", "scope": "Cluster", "names": {"plural": "xs", "kind": "X"}, "versions": [{"name": "v1", "served": "yes"}]}});
        assert_eq!(
            info(&bad_served),
            Err(CrdError::Invalid {
                field: "spec.versions[0].served".into(),
                message: "must be a boolean".into()
            })
        );
    }
}
