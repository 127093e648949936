//! Acceptance tests of the control plane driven by the real kubectl (issue: control plane).

mod common;

use common::Cluster;
use serde_json::Value;

const APP: &str = include_str!("fixtures/app.yaml");
const APP_V2: &str = include_str!("fixtures/app-v2.yaml");

fn apply_file(c: &Cluster, yaml: &str) -> String {
    // kubectl maps every document before applying any (so a custom resource whose CRD is in
    // the same file is unknown on the first pass, exactly as against Kubernetes); a second
    // apply of the same file then creates it.
    let out = c.kubectl_stdin(&["apply", "-f", "-"], yaml);
    if out.status.success() {
        return String::from_utf8_lossy(&out.stdout).into_owned();
    }
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.contains("ensure CRDs are installed first"),
        "apply failed: {err}"
    );
    c.apply(yaml)
}

#[test]
fn apply_multi_document_then_reapply_patches_exactly_the_change() {
    require_cluster!();
    let c = Cluster::start();
    apply_file(&c, APP);
    let dep = c.json(&["deployment", "web", "-n", "shop"]);
    assert_eq!(dep["metadata"]["generation"], 1);
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["image"],
        "busybox:1.36"
    );
    assert_eq!(dep["metadata"]["labels"]["tier"], "frontend");
    for (kind, name) in [
        ("namespace", "shop"),
        ("configmap", "web-config"),
        ("secret", "web-secret"),
        ("service", "web"),
        ("crd", "crontabs.stable.example.com"),
        ("crontab", "my-new-cron-object"),
    ] {
        let ns_args: &[&str] = if kind == "namespace" || kind == "crd" {
            &[]
        } else {
            &["-n", "shop"]
        };
        let mut args = vec![kind, name];
        args.extend_from_slice(ns_args);
        let o = c.json(&args);
        assert_eq!(o["metadata"]["name"], name, "{kind}");
    }
    let secret = c.json(&["secret", "web-secret", "-n", "shop"]);
    assert_eq!(secret["data"]["password"], "czNjcmV0");
    let svc = c.json(&["service", "web", "-n", "shop"]);
    let ip = svc["spec"]["clusterIP"].as_str().unwrap();
    assert!(ip.starts_with("10.43."), "{ip}");

    let out = c.apply(APP_V2);
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    assert!(out.contains("configmap/web-config unchanged"), "{out}");
    let dep2 = c.json(&["deployment", "web", "-n", "shop"]);
    assert_eq!(dep2["metadata"]["generation"], 2);
    let ctr = &dep2["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(ctr["image"], "busybox:1.37");
    let env: Vec<&str> = ctr["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(env, vec!["MODE", "LOG_LEVEL"]);
    assert!(dep2["metadata"]["labels"].get("tier").is_none());
    assert_eq!(dep2["metadata"]["labels"]["app"], "web");
    // Nothing else moved: command, ports and selector are as first applied.
    assert_eq!(
        ctr["command"],
        dep["spec"]["template"]["spec"]["containers"][0]["command"]
    );
    assert_eq!(ctr["ports"][0]["containerPort"], 8080);
    assert_eq!(dep2["spec"]["replicas"], 2);
    assert_eq!(dep2["metadata"]["uid"], dep["metadata"]["uid"]);
}

#[test]
fn get_tables_selectors_and_output_formats() {
    require_cluster!();
    let c = Cluster::start();
    apply_file(&c, APP);
    let out = c.ok(&["get", "deployments", "-n", "shop"]);
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        vec!["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    assert!(out.lines().nth(1).unwrap().starts_with("web "), "{out}");
    let wide = c.ok(&["get", "deployments", "-n", "shop", "-o", "wide"]);
    assert!(
        wide.lines().next().unwrap().contains("CONTAINERS"),
        "{wide}"
    );
    assert!(wide.contains("busybox:1.36"), "{wide}");
    let svc = c.ok(&["get", "svc", "-n", "shop"]);
    assert!(svc.lines().next().unwrap().contains("CLUSTER-IP"), "{svc}");
    assert!(svc.contains("80/TCP"), "{svc}");
    let all_ns = c.ok(&["get", "configmaps", "-A"]);
    assert!(
        all_ns.lines().next().unwrap().starts_with("NAMESPACE"),
        "{all_ns}"
    );
    assert!(all_ns.contains("web-config"));
    let labels = c.ok(&["get", "deploy", "-n", "shop", "--show-labels"]);
    assert!(labels.contains("app=web,tier=frontend"), "{labels}");
    c.ok(&[
        "create",
        "configmap",
        "a",
        "-n",
        "shop",
        "--from-literal=x=1",
    ]);
    c.ok(&["label", "configmap", "a", "-n", "shop", "env=prod"]);
    c.ok(&["create", "configmap", "b", "-n", "shop"]);
    c.ok(&[
        "label",
        "configmap",
        "b",
        "-n",
        "shop",
        "env=dev",
        "canary=yes",
    ]);
    let sel = c.ok(&[
        "get",
        "cm",
        "-n",
        "shop",
        "-l",
        "env in (prod,dev),!canary",
        "-o",
        "name",
    ]);
    assert_eq!(sel.trim(), "configmap/a");
    let sel = c.ok(&[
        "get",
        "cm",
        "-n",
        "shop",
        "-l",
        "env,env notin (prod)",
        "-o",
        "name",
    ]);
    assert_eq!(sel.trim(), "configmap/b");
    let sel = c.ok(&[
        "get",
        "cm",
        "-n",
        "shop",
        "-l",
        "env,env!=dev",
        "-o",
        "name",
    ]);
    assert_eq!(sel.trim(), "configmap/a");
    let jp = c.ok(&["get", "cm", "a", "-n", "shop", "-o", "jsonpath={.data.x}"]);
    assert_eq!(jp, "1");
    let yaml = c.ok(&["get", "cm", "a", "-n", "shop", "-o", "yaml"]);
    assert!(
        yaml.contains("kind: ConfigMap") && yaml.contains("resourceVersion:"),
        "{yaml}"
    );
    let ct = c.ok(&["get", "crontabs", "-n", "shop"]);
    let header: Vec<&str> = ct.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, vec!["NAME", "SPEC", "REPLICAS", "AGE"], "{ct}");
    assert!(ct.contains("* * * * */5"), "{ct}");
    // Deleting a CRD removes its objects.
    c.ok(&["delete", "crd", "crontabs.stable.example.com"]);
    let err = c.fails(&["get", "crontabs", "-A"]);
    assert!(err.contains("crontabs"), "{err}");
    c.apply(
        &APP.split("---")
            .filter(|d| d.contains("CustomResourceDefinition"))
            .collect::<String>(),
    );
    let left = c.ok(&["get", "crontabs", "-A", "-o", "name"]);
    assert_eq!(left.trim(), "", "custom objects outlived their CRD: {left}");
    let ns = c.ok(&["get", "ns"]);
    for n in [
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "shop",
    ] {
        assert!(ns.contains(n), "{ns}");
    }
    assert!(ns.contains("Active"));
    let ar = c.ok(&["api-resources"]);
    for r in [
        "deployments",
        "crontabs",
        "configmaps",
        "customresourcedefinitions",
    ] {
        assert!(ar.contains(r), "{ar}");
    }
    let svc = c.json(&["svc", "kubernetes", "-n", "default"]);
    assert_eq!(svc["spec"]["clusterIP"], "10.43.0.1");
    let ep = c.json(&["endpoints", "kubernetes", "-n", "default"]);
    assert_eq!(ep["subsets"][0]["ports"][0]["port"], 6443);
}

#[test]
fn watch_prints_a_later_change() {
    require_cluster!();
    let c = Cluster::start();
    c.ok(&["create", "configmap", "w1"]);
    let mut child = c
        .ns_command(common::KUBECTL)
        .args(["get", "configmaps", "-w", "--request-timeout=20s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    c.ok(&["create", "configmap", "w2"]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("w1"), "{text}");
    assert!(text.contains("w2"), "{text}");
}

#[test]
fn everyday_commands_behave_as_against_kubernetes() {
    require_cluster!();
    let c = Cluster::start();
    c.ok(&["create", "namespace", "ops"]);
    c.ok(&[
        "create",
        "deployment",
        "api",
        "-n",
        "ops",
        "--image=busybox:1.36",
        "--replicas=1",
    ]);
    c.ok(&[
        "create",
        "secret",
        "generic",
        "creds",
        "-n",
        "ops",
        "--from-literal=user=admin",
    ]);
    c.ok(&[
        "create",
        "configmap",
        "cfg",
        "-n",
        "ops",
        "--from-literal=a=1",
    ]);
    let s = c.json(&["secret", "creds", "-n", "ops"]);
    assert_eq!(s["data"]["user"], "YWRtaW4=");

    // describe
    let d = c.ok(&["describe", "deployment", "api", "-n", "ops"]);
    assert!(
        d.contains("Name:") && d.contains("api") && d.contains("busybox:1.36"),
        "{d}"
    );
    // label / annotate
    c.ok(&["label", "deployment", "api", "-n", "ops", "team=core"]);
    c.ok(&["annotate", "deployment", "api", "-n", "ops", "note=hi"]);
    let dep = c.json(&["deployment", "api", "-n", "ops"]);
    assert_eq!(dep["metadata"]["labels"]["team"], "core");
    assert_eq!(dep["metadata"]["annotations"]["note"], "hi");
    c.ok(&["label", "deployment", "api", "-n", "ops", "team-"]);
    assert!(
        c.json(&["deployment", "api", "-n", "ops"])["metadata"]["labels"]
            .get("team")
            .is_none()
    );
    // patch: strategic, merge, json
    c.ok(&["patch", "deployment", "api", "-n", "ops", "-p",
           r#"{"spec":{"template":{"spec":{"containers":[{"name":"busybox","env":[{"name":"A","value":"1"}]}]}}}}"#]);
    c.ok(&[
        "patch",
        "deployment",
        "api",
        "-n",
        "ops",
        "--type=merge",
        "-p",
        r#"{"spec":{"minReadySeconds":5}}"#,
    ]);
    c.ok(&[
        "patch",
        "deployment",
        "api",
        "-n",
        "ops",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/revisionHistoryLimit","value":3}]"#,
    ]);
    let dep = c.json(&["deployment", "api", "-n", "ops"]);
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["env"][0]["name"],
        "A"
    );
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["image"],
        "busybox:1.36"
    );
    assert_eq!(dep["spec"]["minReadySeconds"], 5);
    assert_eq!(dep["spec"]["revisionHistoryLimit"], 3);
    let gen = dep["metadata"]["generation"].as_i64().unwrap();
    assert!(gen >= 4, "generation {gen}");
    // scale
    c.ok(&["scale", "deployment", "api", "-n", "ops", "--replicas=3"]);
    assert_eq!(
        c.json(&["deployment", "api", "-n", "ops"])["spec"]["replicas"],
        3
    );
    // replace
    let mut cm = c.json(&["cm", "cfg", "-n", "ops"]);
    cm["data"]["a"] = Value::from("2");
    let out = c.kubectl_stdin(&["replace", "-f", "-"], &cm.to_string());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(c.json(&["cm", "cfg", "-n", "ops"])["data"]["a"], "2");
    // a stale replace is a conflict
    let out = c.kubectl_stdin(&["replace", "-f", "-"], &cm.to_string());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the object has been modified"), "{err}");
    // edit with a scripted editor
    let editor = c.path("editor.sh");
    std::fs::write(&editor, "#!/bin/sh\nsed -i 's/a: \"2\"/a: \"3\"/' \"$1\"\n").unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = c
        .ns_command(common::KUBECTL)
        .args(["edit", "cm", "cfg", "-n", "ops"])
        .env("KUBE_EDITOR", &editor)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(c.json(&["cm", "cfg", "-n", "ops"])["data"]["a"], "3");
    // diff
    let mut dep = c.json(&["deployment", "api", "-n", "ops"]);
    dep["spec"]["replicas"] = Value::from(5);
    let out = c.kubectl_stdin(&["diff", "-f", "-"], &dep.to_string());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("-  replicas: 3") && text.contains("+  replicas: 5"),
        "{text}"
    );
    assert_eq!(
        c.json(&["deployment", "api", "-n", "ops"])["spec"]["replicas"],
        3
    );
    // server-side apply: create, merge, conflict with another manager, force
    let ssa = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n  namespace: ops\ndata:\n  k: one\n";
    let out = c.kubectl_stdin(&["apply", "--server-side", "-f", "-"], ssa);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = c.kubectl_stdin(
        &["apply", "--server-side", "-f", "-"],
        &ssa.replace("one", "two"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(c.json(&["cm", "ssa", "-n", "ops"])["data"]["k"], "two");
    let out = c.kubectl_stdin(
        &["apply", "--server-side", "--field-manager=other", "-f", "-"],
        &ssa.replace("one", "three"),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("conflict"), "{err}");
    let out = c.kubectl_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager=other",
            "--force-conflicts",
            "-f",
            "-",
        ],
        &ssa.replace("one", "three"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(c.json(&["cm", "ssa", "-n", "ops"])["data"]["k"], "three");
    // delete returns once gone; deleting a namespace removes what is in it
    c.ok(&["delete", "configmap", "cfg", "-n", "ops"]);
    let err = c.fails(&["get", "configmap", "cfg", "-n", "ops"]);
    assert!(
        err.contains("Error from server (NotFound): configmaps \"cfg\" not found"),
        "{err}"
    );
    c.ok(&["delete", "namespace", "ops", "--timeout=30s"]);
    let err = c.fails(&["get", "namespace", "ops"]);
    assert!(err.contains("NotFound"), "{err}");
    let err = c.fails(&["get", "deployment", "api", "-n", "ops"]);
    assert!(err.contains("NotFound"), "{err}");
}

#[test]
fn errors_render_as_kubectl_renders_them() {
    require_cluster!();
    let c = Cluster::start();
    let err = c.fails(&["get", "pod", "nope"]);
    assert!(
        err.contains("Error from server (NotFound): pods \"nope\" not found"),
        "{err}"
    );
    c.ok(&["create", "configmap", "dup"]);
    // The typed command words it itself, exactly as against Kubernetes ...
    let err = c.fails(&["create", "configmap", "dup"]);
    assert!(
        err.contains("error: failed to create configmap: configmaps \"dup\" already exists"),
        "{err}"
    );
    // ... while the generic path prints the server's Status.
    let out = c.kubectl_stdin(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dup\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Error from server (AlreadyExists): error when creating \"STDIN\": configmaps \"dup\" already exists"),
        "{err}"
    );
    let pod =
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: c\n";
    let out = c.kubectl_stdin(&["create", "-f", "-"], pod);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("The Pod \"web\" is invalid"), "{err}");
    assert!(
        err.contains("spec.containers[0].image: Required value"),
        "{err}"
    );
    let bad = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n";
    let out = c.kubectl_stdin(&["create", "-f", "-"], bad);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("metadata.name: Invalid value: \"Bad_Name\""),
        "{err}"
    );
    let unknown = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: u\nbogus: 1\n";
    let out = c.kubectl_stdin(&["create", "-f", "-"], unknown);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown field \"bogus\""), "{err}");
    let out = c.kubectl_stdin(&["create", "--validate=warn", "-f", "-"], unknown);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field \"bogus\""));
}
