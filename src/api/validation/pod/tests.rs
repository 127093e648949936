//! Pod validation checked against Kubernetes' causes: each test builds a defaulted pod, breaks
//! one thing and compares reason, field and message.

use super::*;
use serde_json::json;

fn pod(spec: Value) -> Value {
    json!({"metadata": {"name": "web", "namespace": "default"}, "spec": spec})
}

fn good_spec() -> Value {
    json!({
        "containers": [{"name": "app", "image": "nginx", "imagePullPolicy": "Always",
            "terminationMessagePolicy": "File", "terminationMessagePath": "/dev/termination-log", "resources": {}}],
        "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30,
        "schedulerName": "default-scheduler", "securityContext": {}
    })
}

fn causes(v: &Value) -> Vec<(String, String, String)> {
    let mut e = Vec::new();
    validate_pod_create(v, &mut e);
    e.into_iter()
        .map(|c| (c.reason, c.field, c.message))
        .collect()
}

fn c(reason: &str, field: &str, msg: &str) -> (String, String, String) {
    (reason.into(), field.into(), msg.into())
}

#[test]
fn valid_pod_has_no_causes() {
    assert_eq!(causes(&pod(good_spec())), vec![]);
}

#[test]
fn image_required() {
    let mut s = good_spec();
    s["containers"][0]["image"] = json!("");
    assert_eq!(
        causes(&pod(s)),
        vec![c(
            "FieldValueRequired",
            "spec.containers[0].image",
            "Required value"
        )]
    );
}

#[test]
fn containers_required_and_duplicates() {
    let mut s = good_spec();
    s["containers"] = json!([]);
    assert_eq!(
        causes(&pod(s)),
        vec![c("FieldValueRequired", "spec.containers", "Required value")]
    );
    let mut s = good_spec();
    let ctr = s["containers"][0].clone();
    s["containers"] = json!([ctr.clone(), ctr]);
    assert_eq!(
        causes(&pod(s)),
        vec![c(
            "FieldValueDuplicate",
            "spec.containers[1].name",
            "Duplicate value: \"app\""
        )]
    );
}

#[test]
fn ports() {
    let mut s = good_spec();
    s["containers"][0]["ports"] = json!([
        {"containerPort": 70000, "protocol": "TCP", "name": "http"},
        {"containerPort": 80, "protocol": "FOO", "name": "http"},
        {"protocol": "TCP", "name": "this-name-is-too-long"}
    ]);
    assert_eq!(
        causes(&pod(s)),
        vec![
            c(
                "FieldValueInvalid",
                "spec.containers[0].ports[0].containerPort",
                "Invalid value: 70000: must be between 1 and 65535, inclusive"
            ),
            c(
                "FieldValueDuplicate",
                "spec.containers[0].ports[1].name",
                "Duplicate value: \"http\""
            ),
            c(
                "FieldValueNotSupported",
                "spec.containers[0].ports[1].protocol",
                "Unsupported value: \"FOO\": supported values: \"SCTP\", \"TCP\", \"UDP\""
            ),
            c(
                "FieldValueInvalid",
                "spec.containers[0].ports[2].name",
                "Invalid value: \"this-name-is-too-long\": must be no more than 15 characters"
            ),
            c(
                "FieldValueRequired",
                "spec.containers[0].ports[2].containerPort",
                "Required value"
            ),
        ]
    );
}

#[test]
fn volumes_and_mounts() {
    let mut s = good_spec();
    s["volumes"] = json!([{"name": "data", "emptyDir": {}}, {"name": "data", "emptyDir": {}}, {"name": "two", "emptyDir": {}, "hostPath": {"path": "/x"}}, {"name": "none"}]);
    s["containers"][0]["volumeMounts"] =
        json!([{"name": "missing", "mountPath": "/m"}, {"name": "data", "mountPath": "/m"}]);
    assert_eq!(
        causes(&pod(s)),
        vec![
            c(
                "FieldValueDuplicate",
                "spec.volumes[1].name",
                "Duplicate value: \"data\""
            ),
            c(
                "FieldValueForbidden",
                "spec.volumes[2].hostPath",
                "Forbidden: may not specify more than 1 volume type"
            ),
            c(
                "FieldValueRequired",
                "spec.volumes[3]",
                "Required value: must specify a volume type"
            ),
            c(
                "FieldValueNotFound",
                "spec.containers[0].volumeMounts[0].name",
                "Not found: \"missing\""
            ),
            c(
                "FieldValueInvalid",
                "spec.containers[0].volumeMounts[1].mountPath",
                "Invalid value: \"/m\": must be unique"
            ),
        ]
    );
}

#[test]
fn enums_and_env() {
    let mut s = good_spec();
    s["restartPolicy"] = json!("Sometimes");
    s["dnsPolicy"] = json!("");
    s["containers"][0]["env"] =
        json!([{"name": ""}, {"name": "A=B"}, {"name": "X", "valueFrom": {}}]);
    assert_eq!(
        causes(&pod(s)),
        vec![
            c("FieldValueRequired", "spec.containers[0].env[0].name", "Required value"),
            c("FieldValueInvalid", "spec.containers[0].env[1].name", "Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='"),
            c("FieldValueInvalid", "spec.containers[0].env[2].valueFrom", "Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"),
            c("FieldValueNotSupported", "spec.restartPolicy", "Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""),
            c("FieldValueRequired", "spec.dnsPolicy", "Required value"),
        ]
    );
}

#[test]
fn resources_limits_vs_requests() {
    let mut s = good_spec();
    s["containers"][0]["resources"] = json!({"limits": {"cpu": "500m", "nvidia.com/gpu": "1"}, "requests": {"cpu": "1", "memory": "-1", "example.com/foo": "2"}});
    assert_eq!(
        causes(&pod(s)),
        vec![
            c(
                "FieldValueInvalid",
                "spec.containers[0].resources.requests",
                "Invalid value: \"1\": must be less than or equal to cpu limit of 500m"
            ),
            c(
                "FieldValueInvalid",
                "spec.containers[0].resources.requests[memory]",
                "Invalid value: \"-1\": must be greater than or equal to 0"
            ),
            c(
                "FieldValueRequired",
                "spec.containers[0].resources.limits",
                "Required value: Limit must be set for non overcommitable resources"
            ),
        ]
    );
}

#[test]
fn probes() {
    let mut s = good_spec();
    s["containers"][0]["livenessProbe"] = json!({"httpGet": {"path": "/", "port": 0, "scheme": "HTTP"}, "successThreshold": 2, "timeoutSeconds": 1, "periodSeconds": 10, "failureThreshold": 3});
    s["containers"][0]["readinessProbe"] = json!({"successThreshold": 1});
    assert_eq!(
        causes(&pod(s)),
        vec![
            c(
                "FieldValueInvalid",
                "spec.containers[0].livenessProbe.httpGet.port",
                "Invalid value: 0: must be between 1 and 65535, inclusive"
            ),
            c(
                "FieldValueInvalid",
                "spec.containers[0].livenessProbe.successThreshold",
                "Invalid value: 2: must be 1"
            ),
            c(
                "FieldValueRequired",
                "spec.containers[0].readinessProbe",
                "Required value: must specify a handler type"
            ),
        ]
    );
}

#[test]
fn update_rules() {
    let old = pod(good_spec());
    let mut new = old.clone();
    new["spec"]["containers"][0]["image"] = json!("nginx:2");
    new["spec"]["activeDeadlineSeconds"] = json!(100);
    new["spec"]["tolerations"] = json!([{"operator": "Exists"}]);
    let mut e = Vec::new();
    validate_pod_update(&new, &old, &mut e);
    assert!(e.is_empty(), "{e:?}");
    new["spec"]["restartPolicy"] = json!("Never");
    let mut e = Vec::new();
    validate_pod_update(&new, &old, &mut e);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].field, "spec");
    assert!(e[0].message.starts_with("Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"));
    assert!(e[0].message.contains("RestartPolicy: \"Always\""));
    let mut removed = old.clone();
    removed["spec"]["containers"] = json!([]);
    let mut e = Vec::new();
    validate_pod_update(&removed, &old, &mut e);
    assert_eq!(
        e.last().unwrap().message,
        "Forbidden: pod updates may not add or remove containers"
    );
}

#[test]
fn tolerations_and_gates() {
    let mut s = good_spec();
    s["tolerations"] = json!([{"key": "", "operator": "Equal", "value": "x"}, {"key": "k", "operator": "Exists", "value": "v", "effect": "Bad"}]);
    s["schedulingGates"] = json!([{"name": "a/b"}, {"name": "a/b"}]);
    assert_eq!(
        causes(&pod(s)),
        vec![
            c("FieldValueDuplicate", "spec.schedulingGates[1]", "Duplicate value: \"a/b\""),
            c("FieldValueInvalid", "spec.tolerations[0].operator", "Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\""),
            c("FieldValueInvalid", "spec.tolerations[1].operator", "Invalid value: \"v\": value must be empty when `operator` is 'Exists'"),
            c("FieldValueNotSupported", "spec.tolerations[1].effect", "Unsupported value: \"Bad\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\""),
        ]
    );
}

#[test]
fn odd_types_do_not_panic() {
    let weird = json!({"metadata": [], "spec": {"containers": "nope", "volumes": {"a": 1}, "tolerations": 5, "affinity": "x"}});
    let mut e = Vec::new();
    validate_pod_create(&weird, &mut e);
    assert!(!e.is_empty());
    let mut e = Vec::new();
    validate_pod_update(&weird, &json!(null), &mut e);
}
