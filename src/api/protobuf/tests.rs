//! The decoder against real kubectl bodies (tests/fixtures/protobuf) and hand-built edge cases:
//! the JSON mapping rules, error paths and hostile input.

use serde_json::json;

use super::fixtures::{fixture, strip_nulls, FIXTURES};
use super::json::{format_rfc3339, go_duration, MAX_RFC3339};
use super::message::convert;
use super::table::DURATION;
use super::wire::encode::{lf, sf, varint, vf};
use super::wire::Raw;
use super::*;

fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let type_meta = [sf(1, api_version), sf(2, kind)].concat();
    [b"k8s\0".to_vec(), lf(1, &type_meta), lf(2, raw)].concat()
}

fn meta(name: &str) -> Vec<u8> {
    lf(1, &sf(1, name))
}

fn malformed_path(err: ProtobufError) -> String {
    match err {
        ProtobufError::Malformed { path, .. } => path,
        other => panic!("expected a malformed-input error, got {other:?}"),
    }
}

#[test]
fn kubectl_protobuf_bodies_decode_to_the_json_kubectl_sends() {
    for (name, body, json) in FIXTURES {
        let got = decode(body).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = strip_nulls(serde_json::from_str(json).expect("fixture json"));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn api_version_and_kind_come_first() {
    let (_, body, _) = fixture!("deployment");
    let got = decode(body).unwrap();
    let keys: Vec<&str> = got
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["apiVersion", "kind", "metadata", "spec", "status"]);
}

#[test]
fn configmap_from_two_literals() {
    let (_, body, _) = fixture!("configmap");
    assert_eq!(
        decode(body).unwrap(),
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "my-config"},
            "data": {"key1": "value1", "key2": "value2"}
        })
    );
}

#[test]
fn secret_data_and_binary_data_are_base64() {
    let (_, body, _) = fixture!("secret_generic");
    let got = decode(body).unwrap();
    assert_eq!(
        got["data"],
        json!({"password": "czNjcjN0", "username": "YWRtaW4="})
    );
    // kubectl leaves the type to the server's default.
    assert_eq!(got.get("type"), None);

    // `--from-file` of a file that is not UTF-8 lands in binaryData.
    let (_, body, _) = fixture!("configmap_files");
    let got = decode(body).unwrap();
    assert_eq!(got["binaryData"], json!({"blob.bin": "AAH/Ymlu"}));
    assert_eq!(got["data"], json!({"text.txt": "hello\n"}));
}

#[test]
fn deployment_spec_and_pod_template() {
    let (_, body, _) = fixture!("deployment");
    let got = decode(body).unwrap();
    assert_eq!(got["spec"]["replicas"], 2);
    assert_eq!(
        got["spec"]["selector"],
        json!({"matchLabels": {"app": "web"}})
    );
    let container = &got["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container,
        &json!({"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80}], "resources": {}})
    );
    // A zero creationTimestamp is omitted rather than written as null.
    assert_eq!(
        got["metadata"],
        json!({"name": "web", "labels": {"app": "web"}})
    );
}

#[test]
fn service_target_port_is_a_number_or_a_name() {
    let (_, body, _) = fixture!("service_clusterip");
    let port = &decode(body).unwrap()["spec"]["ports"][0];
    assert_eq!(
        port,
        &json!({"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080})
    );

    let (_, body, _) = fixture!("service_loadbalancer");
    assert_eq!(
        decode(body).unwrap()["spec"]["ports"][0]["targetPort"],
        "https"
    );
}

#[test]
fn access_review_from_auth_can_i() {
    let (_, body, _) = fixture!("ssar_subresource");
    assert_eq!(
        decode(body).unwrap(),
        json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "metadata": {},
            "spec": {"resourceAttributes": {
                "namespace": "kube-system", "verb": "create", "resource": "pods", "subresource": "exec"
            }},
            "status": {"allowed": false}
        })
    );
}

#[test]
fn quantities_and_int_or_string_percentages() {
    let (_, body, _) = fixture!("quota");
    assert_eq!(
        decode(body).unwrap()["spec"]["hard"],
        json!({"cpu": "1", "memory": "1G", "pods": "2", "services": "3"})
    );
    let (_, body, _) = fixture!("pdb_max_unavailable");
    assert_eq!(decode(body).unwrap()["spec"]["maxUnavailable"], "50%");
}

#[test]
fn eviction_keeps_an_explicit_zero_grace_period() {
    // What `kubectl drain --grace-period=0` asks for, in the protobuf form client-go uses.
    let delete_options = [vf(1, 0), lf(2, &sf(1, "uid-1")), sf(4, "Foreground")].concat();
    let raw = [
        lf(1, &[sf(1, "web-1"), sf(3, "default")].concat()),
        lf(2, &delete_options),
    ]
    .concat();
    assert_eq!(
        decode(&envelope("policy/v1", "Eviction", &raw)).unwrap(),
        json!({
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": "web-1", "namespace": "default"},
            "deleteOptions": {
                "gracePeriodSeconds": 0,
                "preconditions": {"uid": "uid-1"},
                "propagationPolicy": "Foreground"
            }
        })
    );
}

#[test]
fn pointer_zeroes_survive_and_omitempty_zeroes_do_not() {
    let container = [sf(1, "c"), sf(2, ""), lf(6, &vf(3, 0))].concat();
    let pod_spec = [lf(2, &container), sf(3, "")].concat();
    let template = lf(2, &pod_spec);
    let strategy = lf(2, &[lf(1, &vf(2, 0))].concat());
    let spec = [
        vf(1, 0),
        lf(3, &template),
        lf(4, &strategy),
        vf(5, 0),
        vf(7, 0),
    ]
    .concat();
    let got = decode(&envelope(
        "apps/v1",
        "Deployment",
        &[meta("d"), lf(2, &spec)].concat(),
    ))
    .unwrap();
    assert_eq!(
        got["spec"],
        json!({
            // replicas is a pointer: an explicit 0 means "scale to zero".
            "replicas": 0,
            // containerPort has no omitempty; image, restartPolicy, minReadySeconds and
            // paused do.
            "template": {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 0}]}]}},
            "strategy": {"rollingUpdate": {"maxUnavailable": 0}}
        })
    );

    let cm = [meta("c"), vf(4, 0)].concat();
    assert_eq!(
        decode(&envelope("v1", "ConfigMap", &cm)).unwrap()["immutable"],
        false
    );
}

#[test]
fn embedded_structs_are_flattened() {
    let http_get = [
        sf(1, "/healthz"),
        lf(2, &[vf(1, 1), sf(3, "http")].concat()),
    ]
    .concat();
    let probe = [lf(1, &lf(2, &http_get)), vf(4, 5)].concat();
    let secret_ref = [lf(1, &sf(1, "creds")), sf(2, "password")].concat();
    let env = [sf(1, "PW"), lf(3, &lf(4, &secret_ref))].concat();
    let env_from = lf(2, &lf(1, &sf(1, "settings")));
    let container = [sf(1, "c"), lf(7, &env), lf(19, &env_from), lf(10, &probe)].concat();
    let config_map_source = [lf(1, &sf(1, "settings")), vf(3, 0o644)].concat();
    let volume = [sf(1, "cfg"), lf(2, &lf(19, &config_map_source))].concat();
    let pod_spec = [lf(1, &volume), lf(2, &container)].concat();
    let got = decode(&envelope(
        "v1",
        "Pod",
        &[meta("p"), lf(2, &pod_spec)].concat(),
    ))
    .unwrap();
    assert_eq!(
        got["spec"],
        json!({
            "volumes": [{"name": "cfg", "configMap": {"name": "settings", "defaultMode": 420}}],
            "containers": [{
                "name": "c",
                "envFrom": [{"configMapRef": {"name": "settings"}}],
                "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}}],
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5}
            }]
        })
    );
}

#[test]
fn ingress_rule_value_is_flattened_into_the_rule() {
    let (_, body, _) = fixture!("ingress");
    let rule = &decode(body).unwrap()["spec"]["rules"][0];
    assert_eq!(rule["host"], "foo.com");
    assert_eq!(
        rule["http"]["paths"][0]["backend"]["service"]["port"]["number"],
        8080
    );
}

#[test]
fn timestamps_are_rfc3339_utc() {
    let cases = [
        (1_767_323_045, 0, false, "2026-01-02T03:04:05Z"),
        (1_709_208_000, 0, false, "2024-02-29T12:00:00Z"),
        (951_868_800, 0, false, "2000-03-01T00:00:00Z"),
        (-1, 0, false, "1969-12-31T23:59:59Z"),
        (-62_135_596_799, 0, false, "0001-01-01T00:00:01Z"),
        (253_402_300_799, 0, false, "9999-12-31T23:59:59Z"),
        // Time drops the fraction; MicroTime keeps microseconds.
        (1_767_323_045, 999_999_999, false, "2026-01-02T03:04:05Z"),
        (
            1_767_323_045,
            123_456_789,
            true,
            "2026-01-02T03:04:05.123456Z",
        ),
        (1_767_323_045, 0, true, "2026-01-02T03:04:05.000000Z"),
    ];
    for (seconds, nanos, micro, want) in cases {
        assert_eq!(
            format_rfc3339(seconds, nanos, micro).unwrap(),
            want,
            "{seconds}"
        );
    }
    assert!(format_rfc3339(MAX_RFC3339 + 1, 0, false).is_err());
}

#[test]
fn object_times_decode_and_zero_time_is_omitted() {
    let stamp = [vf(1, 1_767_323_045), vf(2, 5)].concat();
    let raw = [
        lf(1, &[sf(1, "e"), lf(8, &stamp), lf(9, &[])].concat()),
        sf(14, "kubelet"),
    ]
    .concat();
    let got = decode(&envelope(
        "v1",
        "Event",
        &[raw, lf(10, &[vf(1, 1), vf(2, 2_000)].concat())].concat(),
    ))
    .unwrap();
    assert_eq!(
        got["metadata"],
        json!({"name": "e", "creationTimestamp": "2026-01-02T03:04:05Z"})
    );
    assert_eq!(got["eventTime"], "1970-01-01T00:00:01.000002Z");
    assert_eq!(got["reportingComponent"], "kubelet");

    let out_of_range = lf(1, &lf(8, &vf(1, 253_402_300_800)));
    let err = decode(&envelope("v1", "ConfigMap", &out_of_range)).unwrap_err();
    assert_eq!(malformed_path(err), "metadata.creationTimestamp");
}

#[test]
fn durations_print_like_go() {
    let cases = [
        (0, "0s"),
        (42, "42ns"),
        (1_500, "1.5µs"),
        (100_000, "100µs"),
        (1_500_000, "1.5ms"),
        (1_500_000_000, "1.5s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (3_723_004_000_000, "1h2m3.004s"),
        (-2_000_000_000, "-2s"),
        (i64::MIN, "-2562047h47m16.854775808s"),
    ];
    for (nanos, want) in cases {
        assert_eq!(go_duration(nanos), want);
        let value = convert(DURATION, Raw::Bytes(&vf(1, nanos as u64)), 0).unwrap();
        assert_eq!(value, want);
    }
}

#[test]
fn embedded_json_in_managed_fields() {
    let entry = [
        sf(1, "kubectl"),
        sf(2, "Update"),
        sf(3, "v1"),
        sf(6, "FieldsV1"),
        lf(7, &sf(1, r#"{"f:data":{"f:a":{}}}"#)),
    ]
    .concat();
    let got = decode(&envelope(
        "v1",
        "ConfigMap",
        &lf(1, &[sf(1, "c"), lf(17, &entry)].concat()),
    ))
    .unwrap();
    assert_eq!(
        got["metadata"]["managedFields"],
        json!([{
            "manager": "kubectl", "operation": "Update", "apiVersion": "v1",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}
        }])
    );
    let bad = lf(1, &lf(17, &lf(7, &sf(1, "{not json"))));
    let err = decode(&envelope("v1", "ConfigMap", &bad)).unwrap_err();
    assert_eq!(malformed_path(err), "metadata.managedFields[0].fieldsV1");
}

#[test]
fn string_list_maps_are_objects_of_arrays() {
    let extra = [sf(1, "scopes"), lf(2, &[sf(1, "a"), sf(1, "b")].concat())].concat();
    let spec = [
        lf(2, &[sf(1, "/logs"), sf(2, "get")].concat()),
        sf(3, "alice"),
        lf(5, &extra),
    ]
    .concat();
    let got = decode(&envelope(
        "authorization.k8s.io/v1",
        "SubjectAccessReview",
        &lf(2, &spec),
    ))
    .unwrap();
    assert_eq!(
        got["spec"],
        json!({"nonResourceAttributes": {"path": "/logs", "verb": "get"}, "user": "alice", "extra": {"scopes": ["a", "b"]}})
    );
}

#[test]
fn repeated_scalars_packed_or_not() {
    let unpacked = [vf(4, 1), vf(4, 2)].concat();
    let packed = lf(4, &[varint(3), varint(4)].concat());
    for (sc, want) in [(unpacked, json!([1, 2])), (packed, json!([3, 4]))] {
        let spec = [lf(2, &sf(1, "c")), lf(14, &sc)].concat();
        let got = decode(&envelope("v1", "Pod", &lf(2, &spec))).unwrap();
        assert_eq!(got["spec"]["securityContext"]["supplementalGroups"], want);
    }
}

#[test]
fn negative_int32_travels_sign_extended() {
    let spec = [lf(2, &sf(1, "c")), vf(25, (-5i64) as u64)].concat();
    let got = decode(&envelope("v1", "Pod", &lf(2, &spec))).unwrap();
    assert_eq!(got["spec"]["priority"], -5);
}

#[test]
fn map_entries_without_a_value_carry_the_zero_value() {
    let raw = [meta("s"), lf(2, &sf(1, "empty")), lf(4, &sf(1, "also"))].concat();
    let got = decode(&envelope("v1", "Secret", &raw)).unwrap();
    assert_eq!(got["data"], json!({"empty": ""}));
    assert_eq!(got["stringData"], json!({"also": ""}));
}

#[test]
fn unknown_fields_of_every_wire_type_are_skipped() {
    let mut fixed64 = varint(99 << 3 | 1);
    fixed64.extend([0; 8]);
    let mut fixed32 = varint(98 << 3 | 5);
    fixed32.extend([0; 4]);
    let metadata = [sf(1, "c"), vf(97, 7), fixed64.clone(), sf(96, "x")].concat();
    let raw = [
        lf(1, &metadata),
        fixed32,
        fixed64,
        lf(2, &[sf(1, "k"), sf(2, "v")].concat()),
    ]
    .concat();
    let got = decode(&envelope("v1", "ConfigMap", &raw)).unwrap();
    assert_eq!(
        got,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}})
    );
}

#[test]
fn a_repeated_singular_message_merges() {
    let raw = [lf(1, &sf(1, "c")), lf(1, &sf(3, "ns"))].concat();
    let got = decode(&envelope("v1", "ConfigMap", &raw)).unwrap();
    assert_eq!(got["metadata"], json!({"name": "c", "namespace": "ns"}));
}

#[test]
fn not_protobuf() {
    for body in [
        &b""[..],
        b"k8s",
        b"{\"kind\":\"ConfigMap\"}",
        b"K8S\0\x0a\x00",
    ] {
        assert_eq!(decode(body), Err(ProtobufError::NotProtobuf));
    }
}

#[test]
fn unsupported_kind_and_encoding() {
    assert_eq!(
        decode(&envelope("example.com/v1", "Widget", &meta("w"))),
        Err(ProtobufError::UnsupportedKind {
            api_version: "example.com/v1".into(),
            kind: "Widget".into()
        })
    );
    let gzip = [envelope("v1", "ConfigMap", &meta("c")), sf(3, "gzip")].concat();
    assert_eq!(
        decode(&gzip),
        Err(ProtobufError::UnsupportedEncoding("gzip".into()))
    );
    let json_inside = [
        envelope("v1", "ConfigMap", b"{}"),
        sf(4, "application/json"),
    ]
    .concat();
    assert!(matches!(
        decode(&json_inside),
        Err(ProtobufError::UnsupportedEncoding(_))
    ));
    assert!(matches!(
        decode(b"k8s\0"),
        Err(ProtobufError::Malformed { .. })
    ));
}

#[test]
fn malformed_wire_data_is_reported_with_its_path() {
    // Truncated varint in the envelope.
    let err = decode(b"k8s\0\x0a\x80").unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed protobuf at envelope: truncated varint"
    );
    // Length past the end.
    let err = decode(b"k8s\0\x12\x7f\x01").unwrap_err();
    assert!(
        err.to_string()
            .ends_with("length runs past the end of the input"),
        "{err}"
    );
    // Eleven-byte varint.
    let mut long = b"k8s\0\x08".to_vec();
    long.extend([0xff; 10]);
    assert!(decode(&long).unwrap_err().to_string().contains("varint"));
    // Groups are not used by Kubernetes.
    assert!(decode(&envelope("v1", "ConfigMap", &[0x0b])).is_err());
    // Field number zero.
    assert!(decode(&envelope("v1", "ConfigMap", &[0x02, 0x00])).is_err());

    // A wire type mismatch deep inside a deployment names the field.
    let port = vf(3, 80);
    let container = [sf(1, "c"), lf(6, &[lf(3, &port)].concat())].concat();
    let spec = lf(3, &lf(2, &lf(2, &container)));
    let err = decode(&envelope("apps/v1", "Deployment", &lf(2, &spec))).unwrap_err();
    assert_eq!(
        malformed_path(err),
        "spec.template.spec.containers[0].ports[0].containerPort"
    );

    // Errors inside an embedded struct are reported against the parent's path.
    let probe = lf(1, &lf(2, &vf(1, 3)));
    let pod_spec = lf(2, &[sf(1, "c"), lf(10, &probe)].concat());
    let err = decode(&envelope("v1", "Pod", &lf(2, &pod_spec))).unwrap_err();
    assert_eq!(
        malformed_path(err),
        "spec.containers[0].livenessProbe.httpGet.path"
    );

    // Strings must be UTF-8.
    let err = decode(&envelope(
        "v1",
        "ConfigMap",
        &lf(2, &[sf(1, "k"), lf(2, &[0xff, 0xfe])].concat()),
    ))
    .unwrap_err();
    assert_eq!(malformed_path(err), "data[\"k\"]");
}

#[test]
fn nesting_is_capped() {
    // fieldsV1 may itself hold a k8s\0 envelope; nest one inside another far past the cap.
    let mut body = envelope("v1", "ConfigMap", &meta("leaf"));
    for _ in 0..200 {
        let entry = lf(7, &lf(1, &body));
        body = envelope("v1", "ConfigMap", &lf(1, &lf(17, &entry)));
    }
    let err = decode(&body).unwrap_err();
    assert!(err.to_string().contains("nested"), "{err}");
}

#[test]
fn hostile_input_never_panics() {
    for (name, body, _) in FIXTURES {
        // Every truncation.
        for len in 0..body.len() {
            let _ = decode(&body[..len]);
        }
        // Every single-byte corruption with a few values.
        let mut copy = body.to_vec();
        for i in 4..copy.len() {
            let original = copy[i];
            for v in [0x00, 0x07, 0x80, 0xff, original ^ 0x55] {
                copy[i] = v;
                let _ = decode(&copy);
            }
            copy[i] = original;
        }
        assert!(decode(&copy).is_ok(), "{name}");
    }
    // Pseudo-random garbage behind a valid magic (xorshift, fixed seed).
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..2_000 {
        let len = (state % 64) as usize;
        let mut body = b"k8s\0".to_vec();
        for _ in 0..len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            body.push(state as u8);
        }
        let _ = decode(&body);
    }
}
