//! The second real client (the official Python `kubernetes` package) and raw bad input.

mod common;

use common::Cluster;

fn python_has_kubernetes() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import kubernetes"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn python_client_creates_lists_watches_patches_deletes() {
    require_cluster!();
    if !python_has_kubernetes() {
        if std::env::var_os("CI").is_some() {
            panic!("the Python kubernetes client is not installed (tests/run.sh installs it)");
        }
        eprintln!("SKIPPED: python3 module kubernetes is missing (pip install kubernetes)");
        return;
    }
    let c = Cluster::start();
    let out = c
        .ns_command("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/client_configmap.py"
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_input_gets_the_right_status_and_harms_nothing() {
    require_cluster!();
    let c = Cluster::start();
    let tls = c.data_dir.join("server/tls");
    let out = c
        .ns_command("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/bad_input.py"
        ))
        .args(["127.0.0.1", "6443"])
        .arg(tls.join("server-ca.crt"))
        .arg(tls.join("client-admin.crt"))
        .arg(tls.join("client-admin.key"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // And kubectl still sees a healthy server.
    c.ok(&["get", "configmap", "keepme"]);
}
