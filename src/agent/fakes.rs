//! Test doubles of the agent's collaborators (unit tests only): an in-memory API, a runtime
//! whose containers exit when the test says so, and trivial images, volumes and network.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::client::{BoxFuture, ClientError, ListParams, NodeClient, Res, WatchStream};
use super::deps::*;
use crate::clock::Clock;
use crate::runtime::spec::ContainerSpec;

/// (name, namespace, grace seconds, uid precondition) of one delete call.
pub type Deletion = (String, String, Option<i64>, Option<String>);

/// Objects by (plural, namespace, name), plus a log of deletions.
#[derive(Default)]
pub struct FakeApi {
    pub objects: Mutex<HashMap<(String, String, String), Value>>,
    pub deletes: Mutex<Vec<Deletion>>,
}

fn key(r: Res, ns: Option<&str>, name: &str) -> (String, String, String) {
    (r.plural.into(), ns.unwrap_or("").into(), name.into())
}

impl FakeApi {
    pub fn put(&self, r: Res, ns: Option<&str>, obj: Value) {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        self.objects.lock().unwrap().insert(key(r, ns, &name), obj);
    }
    pub fn get_obj(&self, r: Res, ns: Option<&str>, name: &str) -> Option<Value> {
        self.objects.lock().unwrap().get(&key(r, ns, name)).cloned()
    }
    pub fn all(&self, plural: &str) -> Vec<Value> {
        self.objects
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.0 == plural)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

impl NodeClient for FakeApi {
    fn get<'a>(
        &'a self,
        r: Res,
        ns: Option<&'a str>,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Value, ClientError>> {
        Box::pin(async move {
            self.get_obj(r, ns, name)
                .ok_or_else(|| ClientError::NotFound(name.into()))
        })
    }
    fn list<'a>(
        &'a self,
        r: Res,
        p: &'a ListParams,
    ) -> BoxFuture<'a, Result<(Vec<Value>, String), ClientError>> {
        Box::pin(async move {
            Ok((
                self.all(r.plural)
                    .into_iter()
                    .filter(|o| p.matches(o))
                    .collect(),
                "1".into(),
            ))
        })
    }
    fn watch<'a>(
        &'a self,
        _r: Res,
        _p: &'a ListParams,
        _rv: &'a str,
    ) -> BoxFuture<'a, Result<WatchStream, ClientError>> {
        Box::pin(async move { Ok(Box::pin(futures_lite::stream::pending()) as WatchStream) })
    }
    fn create<'a>(
        &'a self,
        r: Res,
        ns: Option<&'a str>,
        obj: Value,
    ) -> BoxFuture<'a, Result<Value, ClientError>> {
        Box::pin(async move {
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if self.get_obj(r, ns, &name).is_some() {
                return Err(ClientError::AlreadyExists(name));
            }
            self.put(r, ns, obj.clone());
            Ok(obj)
        })
    }
    fn update<'a>(
        &'a self,
        r: Res,
        obj: Value,
        _status: bool,
    ) -> BoxFuture<'a, Result<Value, ClientError>> {
        Box::pin(async move {
            let ns = obj
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_string);
            self.put(r, ns.as_deref(), obj.clone());
            Ok(obj)
        })
    }
    fn merge_patch<'a>(
        &'a self,
        r: Res,
        ns: Option<&'a str>,
        name: &'a str,
        patch: &'a Value,
        _status: bool,
    ) -> BoxFuture<'a, Result<Value, ClientError>> {
        Box::pin(async move {
            let mut cur = self
                .get_obj(r, ns, name)
                .ok_or_else(|| ClientError::NotFound(name.into()))?;
            json_patch::merge(&mut cur, patch);
            self.put(r, ns, cur.clone());
            Ok(cur)
        })
    }
    fn delete<'a>(
        &'a self,
        r: Res,
        ns: Option<&'a str>,
        name: &'a str,
        grace: Option<i64>,
        uid: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ClientError>> {
        Box::pin(async move {
            self.deletes.lock().unwrap().push((
                name.into(),
                ns.unwrap_or("").into(),
                grace,
                uid.map(str::to_string),
            ));
            self.objects
                .lock()
                .unwrap()
                .remove(&key(r, ns, name))
                .map(|_| ())
                .ok_or_else(|| ClientError::NotFound(name.into()))
        })
    }
}

struct FakeCtr {
    spec: ContainerSpec,
    state: CtrState,
    exited: event_listener::Event,
}

/// Containers run until [`FakeRuntime::exit`] or a signal ends them.
pub struct FakeRuntime {
    pub clock: Arc<dyn Clock>,
    ctrs: Mutex<HashMap<String, Arc<Mutex<FakeCtr>>>>,
    pub removed: Mutex<Vec<String>>,
    pub sandboxes: Mutex<Vec<String>>,
}

impl FakeRuntime {
    pub fn new(clock: Arc<dyn Clock>) -> FakeRuntime {
        FakeRuntime {
            clock,
            ctrs: Mutex::new(HashMap::new()),
            removed: Mutex::new(vec![]),
            sandboxes: Mutex::new(vec![]),
        }
    }

    /// End the running instance of container `name` with `code`.
    pub fn exit(&self, name: &str, code: i32) -> bool {
        let ctrs = self.ctrs.lock().unwrap();
        for c in ctrs.values() {
            let mut c = c.lock().unwrap();
            if c.spec.name == name {
                if let CtrState::Running { started_at, .. } = c.state {
                    c.state = CtrState::Exited {
                        exit_code: code,
                        signal: None,
                        oom_killed: false,
                        started_at,
                        finished_at: self.clock.now(),
                    };
                    c.exited.notify(usize::MAX);
                    return true;
                }
            }
        }
        false
    }

    pub fn running(&self, name: &str) -> usize {
        self.ctrs
            .lock()
            .unwrap()
            .values()
            .filter(|c| {
                let c = c.lock().unwrap();
                c.spec.name == name && matches!(c.state, CtrState::Running { .. })
            })
            .count()
    }

    pub fn specs(&self) -> Vec<ContainerSpec> {
        self.ctrs
            .lock()
            .unwrap()
            .values()
            .map(|c| c.lock().unwrap().spec.clone())
            .collect()
    }
}

impl ContainerRuntime for FakeRuntime {
    fn create_sandbox(&self, s: &SandboxReq) -> DepResult<SandboxInfo> {
        self.sandboxes.lock().unwrap().push(s.pod_uid.clone());
        Ok(SandboxInfo {
            netns: Some(PathBuf::from(format!("/fake/{}/net", s.pod_uid))),
            uts: None,
            ipc: None,
            shm: PathBuf::from("/fake/shm"),
        })
    }
    fn remove_sandbox(&self, pod_uid: &str) -> DepResult<()> {
        self.sandboxes.lock().unwrap().retain(|u| u != pod_uid);
        Ok(())
    }
    fn start(&self, spec: &ContainerSpec) -> DepResult<i64> {
        if spec.args.first().map(String::as_str) == Some("no-such-binary") {
            return Err(DepError::new(
                "exec: \"no-such-binary\": executable file not found in $PATH",
            ));
        }
        let now = self.clock.now();
        let c = FakeCtr {
            spec: spec.clone(),
            state: CtrState::Running {
                pid: 1,
                started_at: now,
            },
            exited: event_listener::Event::new(),
        };
        self.ctrs
            .lock()
            .unwrap()
            .insert(spec.id.clone(), Arc::new(Mutex::new(c)));
        Ok(now)
    }
    fn state(&self, id: &str) -> DepResult<CtrState> {
        self.ctrs
            .lock()
            .unwrap()
            .get(id)
            .map(|c| c.lock().unwrap().state.clone())
            .ok_or_else(|| DepError::new("no such container"))
    }
    fn wait_exit<'a>(&'a self, id: &'a str) -> BoxFuture<'a, DepResult<CtrState>> {
        Box::pin(async move {
            let c = self
                .ctrs
                .lock()
                .unwrap()
                .get(id)
                .cloned()
                .ok_or_else(|| DepError::new("no such container"))?;
            loop {
                let l = c.lock().unwrap().exited.listen();
                let st = c.lock().unwrap().state.clone();
                if !matches!(st, CtrState::Running { .. }) {
                    return Ok(st);
                }
                l.await;
            }
        })
    }
    fn signal(&self, id: &str, sig: i32) -> DepResult<()> {
        let name = self
            .ctrs
            .lock()
            .unwrap()
            .get(id)
            .map(|c| c.lock().unwrap().spec.name.clone());
        if let Some(n) = name {
            self.exit(&n, 128 + sig);
        }
        Ok(())
    }
    fn remove(&self, id: &str) -> DepResult<()> {
        self.removed.lock().unwrap().push(id.into());
        Ok(())
    }
    fn list(&self) -> Vec<String> {
        self.ctrs.lock().unwrap().keys().cloned().collect()
    }
    fn spec(&self, id: &str) -> DepResult<ContainerSpec> {
        self.ctrs
            .lock()
            .unwrap()
            .get(id)
            .map(|c| c.lock().unwrap().spec.clone())
            .ok_or_else(|| DepError::new("no such container"))
    }
    fn exec(&self, _id: &str, args: &[String], _t: u64) -> DepResult<ExecOutcome> {
        let fail = args.iter().any(|a| a == "false");
        Ok(ExecOutcome {
            exit_code: i32::from(fail),
            output: if fail { b"nope".to_vec() } else { vec![] },
        })
    }
    fn remove_pod_cgroup(&self, _p: &str) -> DepResult<()> {
        Ok(())
    }
}

/// Knows exactly the images listed.
pub struct FakeImages(pub Vec<String>);

impl Images for FakeImages {
    fn resolve(&self, reference: &str) -> Option<ImageInfo> {
        self.0.iter().any(|i| i == reference).then(|| ImageInfo {
            id: format!("sha256:{reference}"),
            entrypoint: vec!["/bin/sh".into()],
            env: vec!["PATH=/bin".into()],
            ..Default::default()
        })
    }
}

pub struct FakeVolumes;

impl Volumes for FakeVolumes {
    fn setup(
        &self,
        pod: &Value,
        pod_dir: &Path,
        _g: Option<u32>,
        _o: &dyn ObjectSource,
    ) -> DepResult<VolumePaths> {
        let mut out = VolumePaths::new();
        for v in pod
            .pointer("/spec/volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = v["name"].as_str().unwrap_or("");
            out.insert(name.into(), pod_dir.join("volumes").join(name));
        }
        Ok(out)
    }
    fn teardown(&self, _uid: &str, _dir: &Path) -> DepResult<()> {
        Ok(())
    }
    fn sub_path(&self, m: &SubPathReq<'_>) -> DepResult<PathBuf> {
        Ok(m.volume_root.join(m.sub_path))
    }
}

pub struct FakeNet;

impl PodNetwork for FakeNet {
    fn add<'a>(
        &'a self,
        _uid: &'a str,
        _ns: &'a Path,
        _p: &'a [HostPort],
    ) -> BoxFuture<'a, DepResult<IpAddr>> {
        Box::pin(async { Ok("10.42.0.7".parse().unwrap()) })
    }
    fn del<'a>(&'a self, _uid: &'a str, _ns: Option<&'a Path>) -> BoxFuture<'a, DepResult<()>> {
        Box::pin(async { Ok(()) })
    }
}
