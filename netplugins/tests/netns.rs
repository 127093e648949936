//! Named network namespaces: create, enter, remove.

mod common;

use kedge_netplugins::netns;

fn current_netns() -> String {
    std::fs::read_link("/proc/thread-self/ns/net")
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn create_enter_and_remove_a_named_namespace() {
    common::in_fresh_netns("netns lifecycle", || {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ns1");
        netns::create(&p).unwrap();
        assert!(netns::is_netns(&p));
        // Creating again keeps the same namespace.
        let inside = netns::run_in(&p, current_netns).unwrap();
        netns::create(&p).unwrap();
        assert_eq!(netns::run_in(&p, current_netns).unwrap(), inside);
        assert_ne!(inside, current_netns());
        // A socket opened inside stays there: it sees only the namespace's lo.
        let names = netns::run_in(&p, || {
            std::fs::read_to_string("/proc/thread-self/net/dev").unwrap()
        })
        .unwrap();
        assert!(
            names.contains("lo:") && names.lines().count() == 3,
            "{names}"
        );
        netns::remove(&p).unwrap();
        assert!(!p.exists());
        netns::remove(&p).unwrap();
        assert!(netns::run_in(&p, || ()).is_err());
    });
}
