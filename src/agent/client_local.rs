//! [`NodeClient`] for an agent inside the server process: the controllers' in-process
//! [`Client`] for reads and writes, and store watches (the same source informers follow) for
//! watch streams, filtered by namespace and field selector on this side.

use std::collections::VecDeque;

use serde_json::Value;

use super::client::{BoxFuture, ClientError, ListParams, NodeClient, Res, WatchEvent, WatchStream};
use crate::api::object;
use crate::api::status::ApiError;
use crate::controller::client::{Client, Delete};
use crate::store::{EventKind, StoreError};

/// The in-process API client of an agent running in `kedge server`.
#[derive(Clone)]
pub struct LocalClient {
    client: Client,
}

impl LocalClient {
    pub fn new(client: Client) -> LocalClient {
        LocalClient { client }
    }
}

fn convert(e: ApiError) -> ClientError {
    match e.code {
        404 => ClientError::NotFound(e.message),
        409 if e.reason == "AlreadyExists" => ClientError::AlreadyExists(e.message),
        409 => ClientError::Conflict(e.message),
        410 => ClientError::Gone(e.message),
        code => ClientError::Other {
            code,
            message: e.message,
        },
    }
}

struct WatchState {
    watcher: crate::store::Watcher,
    pending: VecDeque<WatchEvent>,
    params: ListParams,
    done: bool,
}

impl NodeClient for LocalClient {
    fn get<'a>(
        &'a self,
        r: Res,
        ns: Option<&'a str>,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Value, ClientError>> {
        Box::pin(async move { self.client.get(r, ns, name).map_err(convert) })
    }

    fn list<'a>(
        &'a self,
        r: Res,
        p: &'a ListParams,
    ) -> BoxFuture<'a, Result<(Vec<Value>, String), ClientError>> {
        Box::pin(async move {
            let (items, rev) = self
                .client
                .list(r, p.namespace.as_deref())
                .map_err(convert)?;
            let items = items.into_iter().filter(|o| p.matches(o)).collect();
            Ok((items, rev.to_string()))
        })
    }

    fn watch<'a>(
        &'a self,
        r: Res,
        p: &'a ListParams,
        resource_version: &'a str,
    ) -> BoxFuture<'a, Result<WatchStream, ClientError>> {
        Box::pin(async move {
            let def = self.client.def(r).map_err(convert)?;
            let after: u64 = resource_version.parse().unwrap_or(0);
            let prefix = def.ns_prefix(p.namespace.as_deref());
            let watcher = match self.client.server().store.watch(prefix.as_bytes(), after) {
                Ok(w) => w,
                Err(StoreError::Compacted { .. }) => {
                    return Err(ClientError::Gone(format!(
                        "too old resource version: {resource_version}"
                    )))
                }
                Err(e) => {
                    return Err(ClientError::Other {
                        code: 500,
                        message: e.to_string(),
                    })
                }
            };
            let st = WatchState {
                watcher,
                pending: VecDeque::new(),
                params: p.clone(),
                done: false,
            };
            let stream = futures_lite::stream::unfold(st, |mut st| async move {
                loop {
                    if let Some(ev) = st.pending.pop_front() {
                        return Some((Ok(ev), st));
                    }
                    if st.done {
                        return None;
                    }
                    match st.watcher.next().await {
                        Ok(batch) => {
                            for ev in batch {
                                let Ok(obj) = object::from_stored(&ev.value, ev.rev) else {
                                    continue;
                                };
                                let now_in = st.params.matches(&obj);
                                let was_in = ev
                                    .prev
                                    .as_ref()
                                    .and_then(|p| object::from_stored(p, ev.rev).ok())
                                    .map(|o| st.params.matches(&o));
                                let out = match ev.kind {
                                    EventKind::Delete if now_in => Some(WatchEvent::Deleted(obj)),
                                    EventKind::Delete => None,
                                    EventKind::Put if now_in && ev.create_rev == ev.rev => {
                                        Some(WatchEvent::Added(obj))
                                    }
                                    EventKind::Put if now_in => Some(WatchEvent::Modified(obj)),
                                    // Leaving the selection reads as a deletion, as the API
                                    // server reports it.
                                    EventKind::Put if was_in == Some(true) => {
                                        Some(WatchEvent::Deleted(obj))
                                    }
                                    EventKind::Put => None,
                                };
                                st.pending.extend(out);
                            }
                        }
                        Err(StoreError::Compacted { requested, .. }) => {
                            st.done = true;
                            return Some((
                                Err(ClientError::Gone(format!(
                                    "too old resource version: {requested}"
                                ))),
                                st,
                            ));
                        }
                        Err(e) => {
                            st.done = true;
                            return Some((
                                Err(ClientError::Other {
                                    code: 500,
                                    message: e.to_string(),
                                }),
                                st,
                            ));
                        }
                    }
                }
            });
            Ok(Box::pin(stream) as WatchStream)
        })
    }

    fn create<'a>(
        &'a self,
        r: Res,
        ns: Option<&'a str>,
        obj: Value,
    ) -> BoxFuture<'a, Result<Value, ClientError>> {
        Box::pin(async move { self.client.create(r, ns, obj).await.map_err(convert) })
    }

    fn update<'a>(
        &'a self,
        r: Res,
        obj: Value,
        status: bool,
    ) -> BoxFuture<'a, Result<Value, ClientError>> {
        Box::pin(async move {
            if status {
                self.client.update_status(r, obj).await.map_err(convert)
            } else {
                self.client.update(r, obj).await.map_err(convert)
            }
        })
    }

    fn merge_patch<'a>(
        &'a self,
        r: Res,
        ns: Option<&'a str>,
        name: &'a str,
        patch: &'a Value,
        status: bool,
    ) -> BoxFuture<'a, Result<Value, ClientError>> {
        Box::pin(async move {
            self.client
                .merge_patch(r, ns, name, patch, status)
                .await
                .map_err(convert)
        })
    }

    fn delete<'a>(
        &'a self,
        r: Res,
        ns: Option<&'a str>,
        name: &'a str,
        grace_seconds: Option<i64>,
        uid: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ClientError>> {
        Box::pin(async move {
            let how = Delete {
                propagation: None,
                grace_seconds,
                uid: uid.map(str::to_string),
            };
            self.client.delete(r, ns, name, how).await.map_err(convert)
        })
    }
}
