//! Pod QoS class and the cgroup layout the agent asks the runtime for.
//!
//! Contract: [`class`] and [`resources`] are the cgroups module's (`GetPodQOS`, container
//! limits); [`pod_cgroup`] is `<parent>/kubepods[/burstable|/besteffort]/pod<uid>`, the path
//! `Cgroups::pod_path` builds, for code that holds no `Cgroups`.

pub use crate::runtime::cgroups::{qos_of as class, resources_for as resources, Qos};

pub fn pod_cgroup(parent: &str, qos: Qos, uid: &str) -> String {
    match qos {
        Qos::Guaranteed => format!("{parent}/kubepods/pod{uid}"),
        Qos::Burstable => format!("{parent}/kubepods/burstable/pod{uid}"),
        Qos::BestEffort => format!("{parent}/kubepods/besteffort/pod{uid}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classifies_and_places_pods() {
        let be = json!({"spec": {"containers": [{"name": "a"}]}});
        let g = json!({"spec": {"containers": [{"name": "a", "resources": {
            "limits": {"cpu": "500m", "memory": "64Mi"}}}]}});
        let b = json!({"spec": {"containers": [{"name": "a", "resources": {
            "requests": {"cpu": "100m"}}}]}});
        let mixed = json!({"spec": {"containers": [
            {"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
            {"name": "b"}]}});
        assert_eq!(class(&be), Qos::BestEffort);
        assert_eq!(class(&g), Qos::Guaranteed);
        assert_eq!(class(&b), Qos::Burstable);
        assert_eq!(class(&mixed), Qos::Burstable);
        assert_eq!(
            pod_cgroup("kedge", Qos::Guaranteed, "u1"),
            "kedge/kubepods/podu1"
        );
        assert_eq!(
            pod_cgroup("kedge", Qos::BestEffort, "u1"),
            "kedge/kubepods/besteffort/podu1"
        );
        let r = resources(&g["spec"]["containers"][0], Some(1024));
        assert_eq!(r.cpu_shares, Some(512));
        assert_eq!(r.cpu_quota_us, Some(50_000));
        assert_eq!(r.memory_limit_bytes, Some(64 << 20));
        assert_eq!(
            resources(&be["spec"]["containers"][0], None).cpu_shares,
            Some(2)
        );
    }
}
