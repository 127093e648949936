//! Resource request handlers: verb dispatch and the shared write pipeline.
//!
//! Contract: every write goes through [`write::prepare`] (decode check, typed or schema
//! normalisation, unknown-field policy, metadata rules, defaulting, kind hooks, validation) and
//! then one conditional store write, so `kubectl`, the Python client and internal callers all
//! see the same behaviour.

pub mod delete;
pub mod eviction;
pub mod hooks;
pub mod patch;
pub mod read;
pub mod tolerations;
mod watch;
pub mod write;

use std::collections::HashMap;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, Response};

use super::body::{self, Body};
use super::request::RequestInfo;
use super::server::{ApiServer, User};
use super::status::ApiError;

pub use self::write::{Validation, WriteOpts};

/// Rebuild in-memory state derived from the store (custom resources, allocations) at start.
pub fn startup(srv: &ApiServer) -> Result<(), ApiError> {
    hooks::reload_crds(srv)?;
    hooks::reclaim_services(srv)
}

/// Options common to writes, from the query string.
fn write_opts(query: &HashMap<String, String>) -> Result<WriteOpts, ApiError> {
    let validation = match query.get("fieldValidation").map(String::as_str) {
        None | Some("") | Some("Warn") => Validation::Warn,
        Some("Strict") => Validation::Strict,
        Some("Ignore") => Validation::Ignore,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {other}; supported values are Strict, Warn, Ignore"
            )))
        }
    };
    let dry_run = match query.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: \"{other}\": supported values: \"All\""
            )))
        }
    };
    Ok(WriteOpts {
        dry_run,
        validation,
        field_manager: query.get("fieldManager").cloned(),
        force: query.get("force").is_some_and(|f| f == "true"),
    })
}

/// Attach `Warning` headers.
fn with_warnings(mut resp: Response<Body>, warnings: &[String]) -> Response<Body> {
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('"', "\\\""));
        if let Ok(h) = hyper::header::HeaderValue::from_str(&text) {
            resp.headers_mut().append(hyper::header::WARNING, h);
        }
    }
    resp
}

pub async fn resource(
    srv: &Arc<ApiServer>,
    req: Request<Incoming>,
    info: RequestInfo,
    query: HashMap<String, String>,
    _raw_query: Option<String>,
    accept: &str,
    _user: &User,
) -> Result<Response<Body>, ApiError> {
    let def = srv
        .registry
        .by_path(&info.group, &info.version, &info.resource)
        .ok_or_else(ApiError::not_found_path)?;
    if !def.namespaced && info.namespace.is_some() {
        return Err(ApiError::not_found_path());
    }
    let ns = if def.namespaced {
        info.namespace.clone()
    } else {
        None
    };
    let method = req.method().clone();
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    let table = accept.contains("as=Table");
    let name = info.name.clone();
    let sub = info.subresource.clone();
    if let Some(s) = sub.as_deref() {
        let known = s == "status" && def.status
            || s == "scale" && def.scale.is_some()
            || def.extra.contains(&s);
        if !known {
            return Err(ApiError::not_found_path());
        }
    }
    let watching = query.get("watch").is_some_and(|w| w == "true" || w == "1");
    match (&method, name, sub.as_deref()) {
        (&Method::GET, None, None) if watching => watch::watch(srv, &def, ns, &query, table).await,
        (&Method::GET, None, None) => read::list(srv, &def, ns.as_deref(), &query, table),
        (&Method::GET, Some(n), None) => read::get(srv, &def, ns.as_deref(), &n, table),
        (&Method::GET, Some(n), Some("status")) => read::get(srv, &def, ns.as_deref(), &n, false),
        (&Method::GET, Some(n), Some("scale")) => read::get_scale(srv, &def, ns.as_deref(), &n),
        (&Method::POST, None, None) => {
            let opts = write_opts(&query)?;
            let bytes = body::read_body(req.into_body()).await?;
            let enc = body::encoding(content_type.as_deref())?;
            let obj = body::decode_object(enc, &bytes)?;
            let (created, warnings) = write::create(srv, &def, ns.as_deref(), obj, &opts).await?;
            Ok(with_warnings(body::json(201, &created), &warnings))
        }
        (&Method::POST, Some(n), Some("binding")) => {
            let bytes = body::read_body(req.into_body()).await?;
            let enc = body::encoding(content_type.as_deref())?;
            let obj = body::decode_object(enc, &bytes)?;
            hooks::bind_pod(srv, &def, ns.as_deref(), &n, obj).await
        }
        (&Method::POST, Some(n), Some("eviction")) => {
            let bytes = body::read_body(req.into_body()).await?;
            let enc = body::encoding(content_type.as_deref())?;
            let obj = body::decode_object(enc, &bytes)?;
            eviction::evict(srv, &def, ns.as_deref(), &n, obj, &query).await
        }
        (&Method::PUT, Some(n), sub @ (None | Some("status") | Some("scale"))) => {
            let opts = write_opts(&query)?;
            let bytes = body::read_body(req.into_body()).await?;
            let enc = body::encoding(content_type.as_deref())?;
            let obj = body::decode_object(enc, &bytes)?;
            if sub == Some("scale") {
                return patch::put_scale(srv, &def, ns.as_deref(), &n, obj, &opts).await;
            }
            let (out, code, warnings) =
                write::update(srv, &def, ns.as_deref(), &n, obj, sub, &opts).await?;
            Ok(with_warnings(body::json(code, &out), &warnings))
        }
        (&Method::PATCH, Some(n), sub @ (None | Some("status") | Some("scale"))) => {
            let opts = write_opts(&query)?;
            let bytes = body::read_body(req.into_body()).await?;
            let enc = body::encoding(content_type.as_deref())?;
            patch::patch(srv, &def, ns.as_deref(), &n, sub, enc, &bytes, &opts).await
        }
        (&Method::DELETE, Some(n), None) => {
            let bytes = body::read_body(req.into_body()).await?;
            delete::delete(srv, &def, ns.as_deref(), &n, &query, &bytes).await
        }
        (&Method::DELETE, None, None) => {
            let bytes = body::read_body(req.into_body()).await?;
            delete::delete_collection(srv, &def, ns.as_deref(), &query, &bytes).await
        }
        (m, _, s) => Err(ApiError::method_not_allowed(
            m.as_str(),
            &match s {
                Some(s) => format!("{}/{s}", def.plural),
                None => def.plural.clone(),
            },
        )),
    }
}
