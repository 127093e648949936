//! Resource behaviours beyond everyday kubectl use: CRD status and scale subresources, paging,
//! field selectors, generateName, Service address allocation and release.

mod common;

use common::Cluster;

const WIDGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wg]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: string, enum: [small, large]}
              replicas: {type: integer, minimum: 0, default: 1}
          status:
            type: object
            properties:
              replicas: {type: integer}
              phase: {type: string}
"#;

#[test]
fn custom_resources_validate_default_and_serve_status_and_scale() {
    require_cluster!();
    let c = Cluster::start();
    c.apply(WIDGET_CRD);
    let w =
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: small\n";
    c.apply(w);
    let obj = c.json(&["widget", "w1"]);
    assert_eq!(obj["spec"]["replicas"], 1, "schema default applied");
    assert_eq!(obj["metadata"]["generation"], 1);
    // Schema violations are 422 with field paths.
    let bad = w.replace("small", "huge");
    let out = c.kubectl_stdin(&["apply", "-f", "-"], &bad);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("spec.size: Unsupported value: \"huge\""),
        "{err}"
    );
    let missing = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w2\nspec: {}\n";
    let out = c.kubectl_stdin(&["create", "-f", "-"], missing);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("spec.size: Required value"), "{err}");
    // Unknown fields are pruned (and refused under Strict, kubectl's default).
    let unknown = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w3\nspec:\n  size: large\n  color: red\n";
    let out = c.kubectl_stdin(&["create", "-f", "-"], unknown);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown field \"spec.color\""), "{err}");
    let out = c.kubectl_stdin(&["create", "--validate=false", "-f", "-"], unknown);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(c.json(&["widget", "w3"])["spec"].get("color").is_none());
    // scale subresource
    c.ok(&["scale", "widget", "w1", "--replicas=4"]);
    assert_eq!(c.json(&["widget", "w1"])["spec"]["replicas"], 4);
    // status subresource: the main resource ignores status, /status changes only status.
    c.ok(&[
        "patch",
        "widget",
        "w1",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Ignored"}}"#,
    ]);
    assert!(c.json(&["widget", "w1"]).get("status").is_none());
    c.ok(&[
        "patch",
        "widget",
        "w1",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":4,"phase":"Ready"},"spec":{"size":"large"}}"#,
    ]);
    let obj = c.json(&["widget", "w1"]);
    assert_eq!(obj["status"]["phase"], "Ready");
    assert_eq!(
        obj["spec"]["size"], "small",
        "status update must not change spec"
    );
    let scale: serde_json::Value = serde_json::from_str(&c.ok(&[
        "get",
        "--raw",
        "/apis/example.com/v1/namespaces/default/widgets/w1/scale",
    ]))
    .unwrap();
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 4);
    assert_eq!(scale["status"]["replicas"], 4);
    let short = c.ok(&["get", "wg", "-o", "name"]);
    assert!(short.contains("widget.example.com/w1"), "{short}");
}

#[test]
fn paging_field_selectors_and_generate_name() {
    require_cluster!();
    let c = Cluster::start();
    for i in 0..7 {
        c.ok(&["create", "configmap", &format!("page-{i}")]);
    }
    // kubectl follows `continue` tokens until the list is complete.
    let paged = c.ok(&["get", "configmaps", "--chunk-size=2", "-o", "name"]);
    let names: Vec<&str> = paged.lines().filter(|l| l.contains("page-")).collect();
    assert_eq!(names.len(), 7, "{paged}");
    let first: serde_json::Value = serde_json::from_str(&c.ok(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/configmaps?limit=3",
    ]))
    .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    let token = first["metadata"]["continue"]
        .as_str()
        .expect("continue token");
    let next: serde_json::Value = serde_json::from_str(&c.ok(&[
        "get",
        "--raw",
        &format!("/api/v1/namespaces/default/configmaps?limit=3&continue={token}"),
    ]))
    .unwrap();
    assert_ne!(
        next["items"][0]["metadata"]["name"],
        first["items"][0]["metadata"]["name"]
    );
    let err = c.fails(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/configmaps?continue=garbage",
    ]);
    assert!(
        err.contains("BadRequest") || err.contains("continue"),
        "{err}"
    );

    let one = c.ok(&[
        "get",
        "configmaps",
        "--field-selector",
        "metadata.name=page-3",
        "-o",
        "name",
    ]);
    assert_eq!(one.trim(), "configmap/page-3");
    let not = c.ok(&[
        "get",
        "configmaps",
        "--field-selector",
        "metadata.name!=page-3",
        "-o",
        "name",
    ]);
    assert!(!not.contains("page-3") && not.contains("page-4"), "{not}");
    let err = c.fails(&["get", "configmaps", "--field-selector", "spec.bogus=1"]);
    assert!(
        err.contains("field label not supported: spec.bogus"),
        "{err}"
    );

    let gen = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: gen-\n";
    let out = c.kubectl_stdin(&["create", "-f", "-", "-o", "name"], gen);
    let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        name.starts_with("configmap/gen-") && name.len() == "configmap/gen-".len() + 5,
        "{name}"
    );
}

#[test]
fn services_get_addresses_that_are_released_on_delete() {
    require_cluster!();
    let c = Cluster::start();
    c.ok(&["create", "service", "nodeport", "np", "--tcp=80:8080"]);
    let svc = c.json(&["service", "np"]);
    let port = svc["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
    assert!((30000..=32767).contains(&port), "{port}");
    let ip = svc["spec"]["clusterIP"].as_str().unwrap().to_string();
    assert!(ip.starts_with("10.43."), "{ip}");
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(svc["spec"]["type"], "NodePort");
    // The same port and address cannot be taken twice ...
    let dup = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: np2\nspec:\n  type: NodePort\n  clusterIP: {ip}\n  ports:\n  - port: 80\n    nodePort: {port}\n"
    );
    let out = c.kubectl_stdin(&["create", "-f", "-"], &dup);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already allocated"), "{err}");
    // ... until the Service holding them is deleted.
    c.ok(&["delete", "service", "np"]);
    let out = c.kubectl_stdin(&["create", "-f", "-"], &dup);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svc = c.json(&["service", "np2"]);
    assert_eq!(svc["spec"]["clusterIP"], ip.as_str());
    assert_eq!(svc["spec"]["ports"][0]["nodePort"], port);
    // Headless Services get no address.
    c.ok(&[
        "create",
        "service",
        "clusterip",
        "hl",
        "--clusterip=None",
        "--tcp=80:80",
    ]);
    assert_eq!(c.json(&["service", "hl"])["spec"]["clusterIP"], "None");
    let out = c.ok(&["get", "svc", "hl"]);
    assert!(out.contains("None"), "{out}");
}
