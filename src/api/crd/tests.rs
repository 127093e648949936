//! End-to-end scenarios over the public API with the Kubernetes docs' CronTab CRD and richer
//! schemas; every assertion is on exact causes as kube-apiserver would return them.

use serde_json::{json, Value};

use super::*;
use crate::api::status::StatusCause;

fn cause(reason: &str, field: &str, message: &str) -> StatusCause {
    StatusCause {
        reason: reason.into(),
        field: field.into(),
        message: message.into(),
    }
}

fn crontab_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "crontabs.stable.example.com"},
        "spec": {
            "group": "stable.example.com",
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "properties": {
                                "cronSpec": {"type": "string"},
                                "image": {"type": "string"},
                                "replicas": {"type": "integer"}
                            }
                        }
                    }
                }}
            }],
            "scope": "Namespaced",
            "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}
        }
    })
}

fn crontab_schema() -> Value {
    crontab_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

fn messages(causes: &[StatusCause]) -> Vec<String> {
    causes.iter().map(error_string).collect()
}

// ---------------------------------------------------------------------------------------------
// Custom resources: the full server pipeline
// ---------------------------------------------------------------------------------------------

#[test]
fn crontab_valid_object_passes() {
    let schema = crontab_schema();
    let mut obj = json!({
        "apiVersion": "stable.example.com/v1",
        "kind": "CronTab",
        "metadata": {"name": "my-new-cron-object"},
        "spec": {"cronSpec": "* * * * */5", "image": "my-awesome-cron-image", "replicas": 3}
    });
    assert!(prune(&schema, &mut obj).is_empty());
    apply_defaults(&schema, &mut obj);
    assert!(validate(&schema, &obj).is_empty());
}

#[test]
fn crontab_wrong_type() {
    let obj = json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab", "spec": {"replicas": "string", "image": 5}});
    let causes = validate(&crontab_schema(), &obj);
    assert_eq!(
        causes,
        vec![
            cause(
                "FieldValueTypeInvalid",
                "spec.image",
                r#"Invalid value: "integer": spec.image in body must be of type string: "integer""#
            ),
            cause(
                "FieldValueTypeInvalid",
                "spec.replicas",
                r#"Invalid value: "string": spec.replicas in body must be of type integer: "string""#
            ),
        ]
    );
    assert_eq!(
        error_string(&causes[1]),
        r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#
    );
}

#[test]
fn crontab_unknown_fields_are_pruned_and_reported() {
    let mut obj = json!({
        "apiVersion": "stable.example.com/v1",
        "kind": "CronTab",
        "metadata": {"name": "c", "surprise": true},
        "spec": {"cronSpec": "* * * * *", "someRandomField": 42},
        "extra": {}
    });
    let unknown = prune(&crontab_schema(), &mut obj);
    assert_eq!(
        unknown,
        vec!["extra", "metadata.surprise", "spec.someRandomField"]
    );
    assert_eq!(obj["spec"], json!({"cronSpec": "* * * * *"}));
    assert_eq!(obj["metadata"], json!({"name": "c"}));
}

fn rich_schema() -> Value {
    json!({
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["cronSpec", "schedule"],
                "properties": {
                    "cronSpec": {"type": "string", "pattern": "^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$"},
                    "schedule": {"type": "string", "enum": ["Daily", "Hourly"]},
                    "level": {"type": "integer", "enum": [1, 2]},
                    "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                    "ratio": {"type": "number", "exclusiveMinimum": true, "minimum": 0, "maximum": 1},
                    "name": {"type": "string", "minLength": 2, "maxLength": 5},
                    "port": {"x-kubernetes-int-or-string": true},
                    "tags": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "when": {"type": "string", "format": "date-time"},
                    "count32": {"type": "integer", "format": "int32"},
                    "note": {"type": "string", "nullable": true},
                    "strategy": {
                        "type": "object",
                        "default": {},
                        "properties": {
                            "type": {"type": "string", "default": "Rolling"},
                            "maxSurge": {"x-kubernetes-int-or-string": true, "default": "25%"}
                        }
                    },
                    "raw": {"x-kubernetes-preserve-unknown-fields": true},
                    "template": {
                        "type": "object",
                        "x-kubernetes-embedded-resource": true,
                        "x-kubernetes-preserve-unknown-fields": true
                    },
                    "hosts": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                    "ports": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["port"],
                        "items": {"type": "object", "required": ["port"], "properties": {"port": {"type": "integer"}, "name": {"type": "string"}}}
                    }
                }
            }
        }
    })
}

#[test]
fn pipeline_prunes_defaults_then_validates_cleanly() {
    let schema = rich_schema();
    let mut obj = json!({
        "apiVersion": "stable.example.com/v1",
        "kind": "CronTab",
        "metadata": {"name": "ok"},
        "spec": {
            "cronSpec": "*/5 * * * *",
            "schedule": "Daily",
            "level": 2,
            "ratio": 0.5,
            "name": "abc",
            "port": "http",
            "tags": ["a"],
            "labels": {"team": "x"},
            "when": "2024-02-29T12:30:00Z",
            "count32": 7,
            "note": null,
            "raw": {"anything": [1, {"x": null}]},
            "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": []}},
            "hosts": ["a", "b"],
            "ports": [{"port": 80, "name": "http"}, {"port": 443}],
            "junk": true
        }
    });
    assert_eq!(prune(&schema, &mut obj), vec!["spec.junk"]);
    apply_defaults(&schema, &mut obj);
    assert_eq!(obj["spec"]["replicas"], json!(1));
    assert_eq!(
        obj["spec"]["strategy"],
        json!({"type": "Rolling", "maxSurge": "25%"})
    );
    assert_eq!(validate(&schema, &obj), vec![]);
}

#[test]
fn missing_required_fields() {
    let causes = validate(&rich_schema(), &json!({"spec": {"schedule": "Daily"}}));
    assert_eq!(
        causes,
        vec![cause(
            "FieldValueRequired",
            "spec.cronSpec",
            "Required value"
        )]
    );
    let causes = validate(&rich_schema(), &json!({"kind": "CronTab"}));
    assert_eq!(
        causes,
        vec![cause("FieldValueRequired", "spec", "Required value")]
    );
}

#[test]
fn enum_violations() {
    let obj = json!({"spec": {"cronSpec": "* * * * *", "schedule": "Weekly", "level": 3}});
    assert_eq!(
        messages(&validate(&rich_schema(), &obj)),
        vec![
            r#"spec.schedule: Unsupported value: "Weekly": supported values: "Daily", "Hourly""#,
            r#"spec.level: Unsupported value: 3: supported values: "1", "2""#,
        ]
    );
    // A float with an integral value matches an integer enum member (Go converts it).
    let obj = json!({"spec": {"cronSpec": "* * * * *", "schedule": "Daily", "level": 2.0}});
    assert_eq!(validate(&rich_schema(), &obj), vec![]);
}

#[test]
fn numeric_bounds() {
    let obj =
        json!({"spec": {"cronSpec": "* * * * *", "schedule": "Daily", "replicas": 0, "ratio": 0}});
    assert_eq!(
        messages(&validate(&rich_schema(), &obj)),
        vec![
            "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1",
            "spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0",
        ]
    );
    let obj = json!({"spec": {"cronSpec": "* * * * *", "schedule": "Daily", "replicas": 11, "ratio": 1.5}});
    assert_eq!(
        messages(&validate(&rich_schema(), &obj)),
        vec![
            "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10",
            "spec.ratio: Invalid value: 1.5: spec.ratio in body should be less than or equal to 1",
        ]
    );
    // A float where an integer is expected, with a bound: both the type and the bound fail.
    let obj = json!({"spec": {"cronSpec": "* * * * *", "schedule": "Daily", "replicas": 0.5}});
    assert_eq!(
        messages(&validate(&rich_schema(), &obj)),
        vec![
            r#"spec.replicas: Invalid value: "number": spec.replicas in body must be of type integer: "number""#,
            "spec.replicas: Invalid value: 0.5: spec.replicas in body should be greater than or equal to 1",
        ]
    );
}

#[test]
fn string_constraints() {
    let base = |name: &str, cron: &str| json!({"spec": {"cronSpec": cron, "schedule": "Daily", "name": name}});
    assert_eq!(
        validate(&rich_schema(), &base("toolongname", "* * * * *")),
        vec![cause(
            "FieldValueTooLong",
            "spec.name",
            "Too long: may not be more than 5 bytes"
        )]
    );
    assert_eq!(
        messages(&validate(&rich_schema(), &base("a", "* * * * *"))),
        vec![r#"spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long"#]
    );
    assert_eq!(
        messages(&validate(&rich_schema(), &base("ab", "every minute"))),
        vec![
            r#"spec.cronSpec: Invalid value: "every minute": spec.cronSpec in body should match '^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$'"#
        ]
    );
    // Go's \d is ASCII-only: Arabic-Indic digits do not match.
    assert_eq!(
        validate(&rich_schema(), &base("ab", "\u{661} * * * *")).len(),
        1
    );
}

#[test]
fn arrays_and_maps() {
    let obj = json!({"spec": {"cronSpec": "* * * * *", "schedule": "Daily", "tags": ["a", 1, "c"], "labels": {"a": "b", "n": 3}}});
    assert_eq!(
        validate(&rich_schema(), &obj),
        vec![
            cause(
                "FieldValueTypeInvalid",
                "spec.tags[1]",
                r#"Invalid value: "integer": spec.tags[1] in body must be of type string: "integer""#
            ),
            cause(
                "FieldValueTooMany",
                "spec.tags",
                "Too many: 3: must have at most 2 items"
            ),
            cause(
                "FieldValueTypeInvalid",
                "spec.labels.n",
                r#"Invalid value: "integer": spec.labels.n in body must be of type string: "integer""#
            ),
        ]
    );
    let obj = json!({"spec": {"cronSpec": "* * * * *", "schedule": "Daily", "tags": []}});
    assert_eq!(
        messages(&validate(&rich_schema(), &obj)),
        vec!["spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items"]
    );
}

#[test]
fn int_or_string() {
    let with =
        |port: Value| json!({"spec": {"cronSpec": "* * * * *", "schedule": "Daily", "port": port}});
    assert!(validate(&rich_schema(), &with(json!(8080))).is_empty());
    assert!(validate(&rich_schema(), &with(json!("http"))).is_empty());
    assert_eq!(
        messages(&validate(&rich_schema(), &with(json!(true)))),
        vec![
            r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#
        ]
    );
}

#[test]
fn nullable_and_null() {
    let obj =
        json!({"spec": {"cronSpec": "* * * * *", "schedule": "Daily", "note": null, "name": null}});
    // Without defaulting, a null non-nullable field is a type error.
    assert_eq!(
        messages(&validate(&rich_schema(), &obj)),
        vec![
            r#"spec.name: Invalid value: "null": spec.name in body must be of type string: "null""#
        ]
    );
    // The server's defaulting step drops it first.
    let mut obj = obj;
    apply_defaults(&rich_schema(), &mut obj);
    assert!(validate(&rich_schema(), &obj).is_empty());
    assert_eq!(obj["spec"]["note"], Value::Null);
}

#[test]
fn formats() {
    let with = |k: &str, v: Value| {
        let mut o = json!({"spec": {"cronSpec": "* * * * *", "schedule": "Daily"}});
        o["spec"][k] = v;
        o
    };
    assert_eq!(
        messages(&validate(
            &rich_schema(),
            &with("when", json!("2023-02-29T00:00:00Z"))
        )),
        vec![
            r#"spec.when: Invalid value: "2023-02-29T00:00:00Z": spec.when in body must be of type date-time: "2023-02-29T00:00:00Z""#
        ]
    );
    assert!(validate(
        &rich_schema(),
        &with("when", json!("2023-02-28t23:59:59.5+01:00"))
    )
    .is_empty());
    // kube-openapi reports the format for non-integral numbers on formatted integers.
    assert_eq!(
        messages(&validate(&rich_schema(), &with("count32", json!(1.5)))),
        vec![
            r#"spec.count32: Invalid value: "float64": spec.count32 in body must be of type int32: "float64""#
        ]
    );
    // ...and does not range-check int32.
    assert!(validate(&rich_schema(), &with("count32", json!(9_000_000_000i64))).is_empty());
}

#[test]
fn embedded_resource_and_list_types() {
    let obj = json!({"spec": {
        "cronSpec": "* * * * *", "schedule": "Daily",
        "template": {"apiVersion": "a/b/c", "metadata": {"name": "x/y"}},
        "hosts": ["a", "b", "a", "a"],
        "ports": [{"port": 80}, {"port": 80, "name": "dup"}]
    }});
    assert_eq!(
        validate(&rich_schema(), &obj),
        vec![
            cause("FieldValueRequired", "spec.template.kind", "Required value"),
            cause(
                "FieldValueInvalid",
                "spec.template.apiVersion",
                r#"Invalid value: "a/b/c": unexpected GroupVersion string: a/b/c"#
            ),
            cause(
                "FieldValueInvalid",
                "spec.template.metadata.name",
                r#"Invalid value: "x/y": may not contain '/'"#
            ),
            cause(
                "FieldValueDuplicate",
                "spec.hosts[2]",
                r#"Duplicate value: "a""#
            ),
            cause(
                "FieldValueDuplicate",
                "spec.ports[1]",
                r#"Duplicate value: map[string]interface {}{"port":80}"#
            ),
        ]
    );
}

#[test]
fn junctors() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "x": {"type": "integer", "anyOf": [{"minimum": 10}, {"maximum": 2}]},
        "y": {"type": "string", "not": {"enum": ["forbidden"]}},
        "z": {"type": "integer", "oneOf": [{"minimum": 0}, {"maximum": 100}]}
    }}}});
    let obj = json!({"spec": {"x": 5, "y": "forbidden", "z": 50}});
    assert_eq!(
        validate(&schema, &obj),
        vec![
            cause(
                "FieldValueInvalid",
                "",
                r#"Invalid value: "": "spec.x" must validate at least one schema (anyOf)"#
            ),
            cause(
                "FieldValueInvalid",
                "spec.x",
                "Invalid value: 5: spec.x in body should be greater than or equal to 10"
            ),
            cause(
                "FieldValueInvalid",
                "",
                r#"Invalid value: "": "spec.y" must not validate the schema (not)"#
            ),
            cause(
                "FieldValueInvalid",
                "",
                r#"Invalid value: "": "spec.z" must validate one and only one schema (oneOf). Found 2 valid alternatives"#
            ),
        ]
    );
}

#[test]
fn additional_properties_false_and_min_properties() {
    let schema = json!({"type": "object", "properties": {"spec": {
        "type": "object", "minProperties": 1, "additionalProperties": false, "properties": {"a": {"type": "string"}}
    }}});
    assert_eq!(
        messages(&validate(&schema, &json!({"spec": {"a": "x", "b": 1}}))),
        vec![r#"spec: Invalid value: "b": spec.b in body is a forbidden property"#]
    );
    assert_eq!(
        messages(&validate(&schema, &json!({"spec": {}}))),
        vec!["spec: Invalid value: 0: spec in body should have at least 1 properties"]
    );
}

#[test]
fn deep_objects_are_capped_not_overflowed() {
    let mut schema = json!({"type": "string"});
    let mut obj = json!("leaf");
    for _ in 0..(MAX_DEPTH + 10) {
        schema = json!({"type": "object", "properties": {"a": schema}});
        obj = json!({"a": obj});
    }
    let causes = validate(&schema, &obj);
    assert_eq!(causes.len(), 1);
    assert!(causes[0]
        .message
        .ends_with("nesting exceeds the maximum depth kedge validates"));
    let mut copy = obj.clone();
    apply_defaults(&schema, &mut copy);
    assert_eq!(copy, obj);
}

#[test]
fn garbage_schemas_and_objects_do_not_panic() {
    for schema in [
        json!(null),
        json!(3),
        json!([]),
        json!({"type": 7, "properties": [], "items": "x", "enum": {}}),
        json!({"pattern": "("}),
    ] {
        for obj in [
            json!(null),
            json!("s"),
            json!({"a": [1, 2]}),
            json!([{"b": null}]),
        ] {
            let _ = validate(&schema, &obj);
            let mut o = obj.clone();
            let _ = prune(&schema, &mut o);
            apply_defaults(&schema, &mut o);
        }
    }
    // An invalid pattern is reported against the value, not panicked on.
    let causes = validate(&json!({"type": "string", "pattern": "("}), &json!("x"));
    assert_eq!(causes.len(), 1);
    assert!(causes[0].message.starts_with(r#"Invalid value: "x":  in body should match '(, but pattern is invalid: error parsing regexp"#));
}

// ---------------------------------------------------------------------------------------------
// CustomResourceDefinition objects
// ---------------------------------------------------------------------------------------------

#[test]
fn crontab_crd_is_valid() {
    assert_eq!(validate_definition(&crontab_crd()), vec![]);
    let i = info(&crontab_crd()).unwrap();
    assert_eq!(i.storage_version().map(|v| v.name.as_str()), Some("v1"));
}

#[test]
fn crd_defaults() {
    let mut crd = crontab_crd();
    crd["spec"]["names"]
        .as_object_mut()
        .unwrap()
        .remove("singular");
    default_definition(&mut crd);
    assert_eq!(crd["spec"]["names"]["singular"], "crontab");
    assert_eq!(crd["spec"]["names"]["listKind"], "CronTabList");
    assert_eq!(crd["spec"]["conversion"], json!({"strategy": "None"}));
    assert_eq!(validate_definition(&crd), vec![]);
}

#[test]
fn crd_name_mismatch_and_bad_group() {
    let mut crd = crontab_crd();
    crd["metadata"]["name"] = json!("crontab.stable.example.com");
    assert_eq!(
        messages(&validate_definition(&crd)),
        vec![
            r#"metadata.name: Invalid value: "crontab.stable.example.com": must be spec.names.plural+"."+spec.group"#
        ]
    );
    let mut crd = crontab_crd();
    crd["metadata"]["name"] = json!("crontabs.example");
    crd["spec"]["group"] = json!("example");
    assert_eq!(
        messages(&validate_definition(&crd)),
        vec![r#"spec.group: Invalid value: "example": should be a domain with at least one dot"#]
    );
}

#[test]
fn crd_without_storage_version() {
    let mut crd = crontab_crd();
    crd["spec"]["versions"][0]["storage"] = json!(false);
    assert_eq!(
        messages(&validate_definition(&crd)),
        vec![
            r#"spec.versions: Invalid value: []apiextensions.CustomResourceDefinitionVersion{apiextensions.CustomResourceDefinitionVersion{Name:"v1", Served:true, Storage:false, Deprecated:false, DeprecationWarning:(*string)(nil), Schema:(*apiextensions.CustomResourceValidation)(nil), Subresources:(*apiextensions.CustomResourceSubresources)(nil), AdditionalPrinterColumns:[]apiextensions.CustomResourceColumnDefinition(nil), SelectableFields:[]apiextensions.SelectableField(nil)}}: must have exactly one version marked as storage version"#,
            "status.storedVersions: Invalid value: []string(nil): must have at least one stored version",
        ]
    );
}

#[test]
fn crd_with_two_storage_versions() {
    let mut crd = crontab_crd();
    let v1 = crd["spec"]["versions"][0].clone();
    let mut v2 = v1.clone();
    v2["name"] = json!("v2");
    crd["spec"]["versions"] = json!([v1, v2]);
    let causes = validate_definition(&crd);
    assert_eq!(causes.len(), 2);
    assert_eq!(causes[0].field, "spec.versions");
    assert!(causes[0]
        .message
        .ends_with("}}: must have exactly one version marked as storage version"));
    assert_eq!(causes[1].field, "status.storedVersions");
    assert!(causes[1].message.starts_with(r#"Invalid value: apiextensions.CustomResourceDefinitionVersion{Name:"v2", Served:true, Storage:true"#));
    assert!(causes[1]
        .message
        .ends_with(": must have the storage version v2"));
}

#[test]
fn crd_duplicate_and_invalid_version_names() {
    let mut crd = crontab_crd();
    let v1 = crd["spec"]["versions"][0].clone();
    let mut dup = v1.clone();
    dup["storage"] = json!(false);
    crd["spec"]["versions"] = json!([v1, dup]);
    let causes = validate_definition(&crd);
    assert_eq!(causes.len(), 1);
    assert!(causes[0]
        .message
        .ends_with(": must contain unique version names"));

    let mut crd = crontab_crd();
    crd["spec"]["versions"][0]["name"] = json!("V1");
    let dns = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
    assert_eq!(
        messages(&validate_definition(&crd)),
        vec![
            format!(r#"spec.versions[0].name: Invalid value: "V1": {dns}"#),
            format!(r#"spec.version: Invalid value: "V1": {dns}"#)
        ]
    );
}

#[test]
fn crd_non_structural_schema() {
    let mut crd = crontab_crd();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        .as_object_mut()
        .unwrap()
        .remove("type");
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["cronSpec"]
        .as_object_mut()
        .unwrap()
        .remove("type");
    // Single-version CRDs are validated in their hoisted form, hence `spec.validation`.
    assert_eq!(
        validate_definition(&crd),
        vec![
            cause(
                "FieldValueRequired",
                "spec.validation.openAPIV3Schema.properties[spec].properties[cronSpec].type",
                "Required value: must not be empty for specified object fields"
            ),
            cause(
                "FieldValueRequired",
                "spec.validation.openAPIV3Schema.properties[spec].type",
                "Required value: must not be empty for specified object fields"
            ),
        ]
    );
}

#[test]
fn crd_per_version_schema_paths() {
    let mut crd = crontab_crd();
    let v1 = crd["spec"]["versions"][0].clone();
    let mut v2 = v1.clone();
    v2["name"] = json!("v2");
    v2["storage"] = json!(false);
    v2["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["replicas"] =
        json!({"minimum": 1});
    crd["spec"]["versions"] = json!([v1, v2]);
    assert_eq!(
        messages(&validate_definition(&crd)),
        vec!["spec.versions[1].schema.openAPIV3Schema.properties[spec].properties[replicas].type: Required value: must not be empty for specified object fields"]
    );
}

#[test]
fn crd_schema_rule_violations() {
    let mut crd = crontab_crd();
    let schema = &mut crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    schema["properties"]["spec"]["properties"]["replicas"] =
        json!({"type": "integer", "default": "one", "minimum": 1});
    schema["properties"]["spec"]["properties"]["tags"] =
        json!({"type": "array", "uniqueItems": true, "items": {"type": "string"}});
    schema["properties"]["spec"]["properties"]["kind"] = json!({"type": "strin"});
    schema["properties"]["spec"]["properties"]["choice"] =
        json!({"type": "string", "anyOf": [{"type": "string"}]});
    schema["properties"]["metadata"] =
        json!({"type": "object", "properties": {"labels": {"type": "object"}}});
    let p = "spec.validation.openAPIV3Schema";
    assert_eq!(
        messages(&validate_definition(&crd)),
        vec![
            format!("{p}.properties[spec].properties[tags].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic"),
            format!(r#"{p}.properties[spec].properties[kind].type: Unsupported value: "strin": supported values: "array", "boolean", "integer", "number", "object", "string""#),
            format!("{p}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified"),
            format!("{p}.properties[spec].properties[choice].anyOf[0].type: Forbidden: must be empty to be structural"),
        ]
    );

    // Once structural, defaults are checked against their own schema.
    let mut crd = crontab_crd();
    let spec_props = &mut crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
        ["spec"]["properties"];
    spec_props["replicas"] = json!({"type": "integer", "default": "one"});
    spec_props["strategy"] = json!({"type": "object", "default": {"type": "x", "bogus": 1}, "properties": {"type": {"type": "string"}}});
    assert_eq!(
        messages(&validate_definition(&crd)),
        vec![
            // kube-openapi validates the default at its own root, whose name is "".
            format!(
                r#"{p}.properties[spec].properties[replicas].default: Invalid value: "string":  in body must be of type integer: "string""#
            ),
            format!(
                r#"{p}.properties[spec].properties[strategy].default: Invalid value: map[string]interface {{}}{{"bogus":1, "type":"x"}}: must not have unknown fields"#
            ),
        ]
    );
}

#[test]
fn crd_names_scope_and_missing_schema() {
    let mut crd = crontab_crd();
    crd["metadata"]["name"] = json!("CronTabs.stable.example.com");
    crd["spec"]["names"]["plural"] = json!("CronTabs");
    crd["spec"]["names"]["listKind"] = json!("CronTab");
    crd["spec"]["scope"] = json!("Global");
    crd["spec"]["versions"][0]
        .as_object_mut()
        .unwrap()
        .remove("schema");
    let causes = validate_definition(&crd);
    assert_eq!(
        causes.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(),
        vec![
            "metadata.name",
            "spec.scope",
            "spec.versions[0].schema.openAPIV3Schema",
            "spec.names.plural",
            "spec.names.listKind",
        ]
    );
    assert_eq!(
        causes[1].message,
        r#"Unsupported value: "Global": supported values: "Cluster", "Namespaced""#
    );
    assert_eq!(causes[2].message, "Required value: schemas are required");
    assert_eq!(
        causes[4].message,
        r#"Invalid value: "CronTab": kind and listKind may not be the same"#
    );
}

#[test]
fn crd_subresources_and_printer_columns() {
    let mut crd = crontab_crd();
    crd["spec"]["versions"][0]["subresources"] = json!({
        "status": {},
        "scale": {"specReplicasPath": ".status.replicas", "statusReplicasPath": "status.replicas", "labelSelectorPath": ".metadata.labels"}
    });
    crd["spec"]["versions"][0]["additionalPrinterColumns"] = json!([
        {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"},
        {"name": "Age", "type": "time", "jsonPath": "metadata.creationTimestamp"},
        {"type": "integer", "format": "big", "jsonPath": ""}
    ]);
    assert_eq!(
        messages(&validate_definition(&crd)),
        vec![
            r#"spec.subresources.scale.specReplicasPath: Invalid value: ".status.replicas": should be a json path under .spec"#,
            r#"spec.subresources.scale.statusReplicasPath: Invalid value: "status.replicas": must be a simple json path starting with ."#,
            r#"spec.subresources.scale.labelSelectorPath: Invalid value: ".metadata.labels": should be a json path under either .spec or .status"#,
            r#"spec.additionalPrinterColumns[1].type: Invalid value: "time": must be one of boolean,date,integer,number,string"#,
            r#"spec.additionalPrinterColumns[1].JSONPath: Invalid value: "metadata.creationTimestamp": must be a simple json path starting with ."#,
            "spec.additionalPrinterColumns[2].name: Required value",
            r#"spec.additionalPrinterColumns[2].format: Invalid value: "big": must be one of byte,date,date-time,double,float,int32,int64,password"#,
            "spec.additionalPrinterColumns[2].JSONPath: Required value",
        ]
    );
    let i = info(&crd).unwrap();
    assert!(i.versions[0].status_subresource);
    assert_eq!(i.versions[0].printer_columns.len(), 3);
}

#[test]
fn crd_status_subresource_restricts_root() {
    let mut crd = crontab_crd();
    crd["spec"]["versions"][0]["subresources"] = json!({"status": {}});
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["nullable"] = json!(true);
    let schema_json =
        serde_json::to_string(&crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]).unwrap();
    assert_eq!(
        messages(&validate_definition(&crd)),
        vec![
            format!("spec.validation.openAPIV3Schema: Invalid value: {schema_json}: only [Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength MinLength Pattern MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs Example XPreserveUnknownFields XValidations] fields are allowed at the root of the schema if the status subresource is enabled"),
            "spec.validation.openAPIV3Schema.nullable: Forbidden: nullable cannot be true at the root".to_string(),
        ]
    );
}

#[test]
fn crd_protected_group_needs_approval() {
    let mut crd = crontab_crd();
    crd["metadata"]["name"] = json!("crontabs.stable.k8s.io");
    crd["spec"]["group"] = json!("stable.k8s.io");
    assert_eq!(
        messages(&validate_definition(&crd)),
        vec![
            r#"metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have approval annotation "api-approved.kubernetes.io", see https://github.com/kubernetes/enhancements/pull/1111"#
        ]
    );
    crd["metadata"]["annotations"] = json!({"api-approved.kubernetes.io": "https://github.com/kubernetes/kubernetes/pull/78458"});
    assert_eq!(validate_definition(&crd), vec![]);
}

#[test]
fn crd_webhook_conversion() {
    let mut crd = crontab_crd();
    crd["spec"]["conversion"] = json!({"strategy": "Webhook", "webhook": {"clientConfig": {"url": "http://example.com/convert?x=1"}, "conversionReviewVersions": ["v2"]}});
    assert_eq!(
        messages(&validate_definition(&crd)),
        vec![
            r#"spec.conversion.webhookClientConfig.url: Invalid value: "http": 'https' is the only allowed URL scheme; desired format: https://host[/path]"#,
            r#"spec.conversion.webhookClientConfig.url: Invalid value: "x=1": query parameters are not permitted in the URL"#,
            r#"spec.conversion.conversionReviewVersions: Invalid value: []string{"v2"}: must include at least one of v1, v1beta1"#,
        ]
    );
}

#[test]
fn crd_update_keeps_immutables_and_stored_versions() {
    let old = {
        let mut o = crontab_crd();
        o["status"] = json!({"storedVersions": ["v1beta1", "v1"], "conditions": [{"type": "Established", "status": "True"}]});
        o
    };
    let mut new = crontab_crd();
    new["spec"]["scope"] = json!("Cluster");
    assert_eq!(
        messages(&validate_definition_update(&new, &old)),
        vec![
            r#"spec.scope: Invalid value: "Cluster": field is immutable"#,
            r#"status.storedVersions[0]: Invalid value: "v1beta1": must appear in spec.versions"#,
        ]
    );
}

#[test]
fn crd_garbage_does_not_panic() {
    for crd in [
        json!(null),
        json!([]),
        json!({"spec": 5}),
        json!({"spec": {"versions": [7, {"schema": {"openAPIV3Schema": 3}}], "names": []}}),
    ] {
        let causes = validate_definition(&crd);
        assert!(!causes.is_empty());
        let _ = info(&crd);
        let mut c = crd.clone();
        default_definition(&mut c);
    }
}

#[test]
fn crd_kubebuilder_style_int_or_string_is_structural() {
    let mut crd = crontab_crd();
    let root = &mut crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    root["properties"]["apiVersion"] = json!({"type": "string", "description": "APIVersion"});
    root["properties"]["kind"] = json!({"type": "string"});
    root["properties"]["metadata"] = json!({"type": "object"});
    root["properties"]["spec"]["properties"]["maxSurge"] = json!({
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "x-kubernetes-int-or-string": true
    });
    root["properties"]["spec"]["properties"]["memory"] = json!({
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "pattern": "^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$",
        "x-kubernetes-int-or-string": true
    });
    assert_eq!(validate_definition(&crd), vec![]);

    let schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
    let ok = json!({"spec": {"maxSurge": "25%", "memory": "128Mi"}});
    assert_eq!(validate(&schema, &ok), vec![]);
    let bad = json!({"spec": {"maxSurge": 1, "memory": "lots"}});
    assert_eq!(
        messages(&validate(&schema, &bad)),
        vec![
            r#"spec.memory: Invalid value: "lots": spec.memory in body should match '^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$'"#
        ]
    );
}

#[test]
fn crd_value_validations_must_not_introduce_fields() {
    let mut crd = crontab_crd();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["allOf"] = json!([{"properties": {"spec": {"properties": {"foo": {"minLength": 1}}}}}, {"required": ["spec"]}]);
    assert_eq!(
        messages(&validate_definition(&crd)),
        vec!["spec.validation.openAPIV3Schema.properties[spec].properties[foo]: Required value: because it is defined in spec.validation.openAPIV3Schema.allOf[0].properties[spec].properties[foo]"]
    );
    // Like Kubernetes (complete.go), only junctors on the root are checked for completeness.
    let mut crd = crontab_crd();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["allOf"] =
        json!([{"properties": {"foo": {"minLength": 1}}}]);
    assert_eq!(validate_definition(&crd), vec![]);
}
