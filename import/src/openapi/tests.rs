use mockplane_rules::model::{PathMatch, PathMatchSpec};
use serde_json::json;

use super::*;

fn regex(pattern: &str) -> regex::Regex {
    regex::Regex::new(&format!("^(?:{pattern})$")).expect("a valid regex")
}

#[test]
fn prefer_regexes_find_their_preferences_in_any_order() {
    let code = regex(&prefer(&[("code", "404")]));
    for yes in ["code=404", "Code=404", "example=a, code=404", "code=404;example=b", "code=\"404\""] {
        assert!(code.is_match(yes), "{yes}");
    }
    for no in ["code=4040", "code=40", "xcode=404", ""] {
        assert!(!code.is_match(no), "{no}");
    }
    let both = regex(&prefer(&[("code", "404"), ("example", "not found")]));
    assert!(both.is_match("code=404, example=not found"));
    assert!(both.is_match("example=not found, dynamic=false, code=404"));
    assert!(!both.is_match("code=404"));
    assert!(!both.is_match("code=404, example=other"));
}

#[test]
fn paths_become_templates_or_regexes() {
    let (m, names) = path_pattern("/pets/{petId}/toys/{toy-id}");
    assert_eq!(m, PathMatch::Short("/pets/{petId}/toys/{toy_id}".into()));
    assert_eq!(names.renamed("toy-id").as_deref(), Some("toy_id"));
    let (m, names) = path_pattern("/files/{name}.json");
    assert_eq!(
        m,
        PathMatch::Explicit(PathMatchSpec {
            regex: Some("/files/[^/]+\\.json".into()),
            ..Default::default()
        })
    );
    assert_eq!(names.renamed("name"), None);
}

#[test]
fn status_keys() {
    assert_eq!(status_of("201"), Some(201));
    assert_eq!(status_of("4XX"), Some(400));
    assert_eq!(status_of("default"), Some(200));
    assert_eq!(status_of("2000"), None);
    assert_eq!(status_of("ok"), None);
}

fn doc(version: &str, schemas: Value) -> Document {
    let text = json!({"openapi": version, "info": {"title": "t", "version": "1"}, "paths": {},
        "components": {"schemas": schemas}})
    .to_string();
    Document::parse(&text).expect("a document")
}

#[test]
fn openapi_3_0_schemas_become_json_schema() {
    let d = doc(
        "3.0.3",
        json!({"N": {"type": "integer", "nullable": true, "minimum": 1, "exclusiveMinimum": true}}),
    );
    let s = d
        .standalone_schema(&json!({"type": "array", "items": {"$ref": "#/components/schemas/N"}}))
        .expect("resolves");
    assert_eq!(s["components"]["schemas"]["N"], json!({"type": ["integer", "null"], "exclusiveMinimum": 1}));
    let v = jsonschema::validator_for(&s).expect("compiles");
    assert!(v.is_valid(&json!([2, null])));
    assert!(!v.is_valid(&json!([1])));
}

#[test]
fn generated_values_follow_the_schema_and_stop_at_cycles() {
    let d = doc(
        "3.1.0",
        json!({
            "Node": {"type": "object", "required": ["id"], "properties": {
                "id": {"type": "integer", "minimum": 5, "multipleOf": 5},
                "when": {"type": "string", "format": "date-time"},
                "kind": {"enum": ["leaf", "branch"]},
                "name": {"type": "string", "minLength": 3, "default": "given"},
                "code": {"type": "string", "minLength": 8, "maxLength": 9},
                "secret": {"type": "string", "writeOnly": true},
                "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                "parent": {"$ref": "#/components/schemas/Node"}
            }}
        }),
    );
    let schema = json!({"$ref": "#/components/schemas/Node"});
    let v = Generator::new(&d, None).value(&schema).expect("a value");
    assert_eq!(
        v,
        json!({"id": 5, "when": "2024-01-01T00:00:00Z", "kind": "leaf", "name": "given", "code": "stringxx", "children": []})
    );
    let seeded = |seed| Generator::new(&d, Some(seed)).value(&schema);
    assert_eq!(seeded(7), seeded(7), "the same seed, the same value");
    let standalone = d.standalone_schema(&schema).expect("resolves");
    let validator = jsonschema::validator_for(&standalone).expect("compiles");
    for seed in 0..20 {
        let v = seeded(seed).expect("a value");
        assert!(validator.is_valid(&v), "seed {seed}: {v}");
    }
}

/// Box's collaboration schema: `created_by` is `allOf` a `$ref` to an object and a lone part
/// whose example is an array. The array would replace the object; it is left out instead.
#[test]
fn an_allof_part_whose_value_breaks_another_parts_type_is_left_out() {
    let d = doc(
        "3.0.2",
        json!({
            "User": {"type": "object", "properties": {"id": {"type": "integer", "example": 7}}},
            "Collaboration": {"type": "object", "properties": {"created_by": {"allOf": [
                {"$ref": "#/components/schemas/User"},
                {"description": "who made it"},
                {"example": [{"id": 1}, {"type": "user"}]}
            ]}}}
        }),
    );
    let v = Generator::new(&d, None).value(&json!({"$ref": "#/components/schemas/Collaboration"}));
    assert_eq!(v, Some(json!({"created_by": {"id": 7}})));
}

/// A `oneOf` whose first branch also matches another (Box's event `source`: `User`, and a
/// `GenericSource` that is any object) makes an invalid body with the static choices: a
/// seeded draw that validates is served, and the place reported.
#[test]
fn a_generated_body_that_breaks_its_schema_is_replaced_by_a_draw_that_does_not() {
    let d = doc(
        "3.1.0",
        json!({
            "Source": {"oneOf": [
                {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
                {"type": "object"},
                {"type": "string"}
            ]}
        }),
    );
    let schema = json!({"$ref": "#/components/schemas/Source"});
    let mut check = examples::ExampleCheck::default();
    let (value, complaint) = check.generate(&d, &schema, None);
    let complaint = complaint.expect("the first body is reported");
    assert!(
        complaint.starts_with("a body generated from it does not match it at the top level (")
            && complaint.contains("which does, is served instead"),
        "{complaint}"
    );
    let value = value.expect("a value");
    assert_eq!(check.first_error(&d, &schema, &value), None, "{value}");
    // A schema no body can meet: the first one is served, and said to be.
    let never = json!({"allOf": [{"type": "string"}, {"type": "integer"}]});
    let (value, complaint) = check.generate(&d, &never, None);
    assert!(value.is_some());
    assert!(complaint.expect("reported").contains("nor did 32 seeded draws; it is served as generated"));
}

#[test]
fn not_openapi_3_is_an_error() {
    let e = import("swagger: '2.0'\npaths: {}\n", &Options::default()).expect_err("swagger");
    assert!(e.to_string().starts_with("swagger: Swagger 2.0 is not supported"), "{e}");
    let e = import("openapi: 4.0.0\n", &Options::default()).expect_err("4.0");
    assert!(e.to_string().contains("\"4.0.0\" is not supported"), "{e}");
    assert!(import("[1, 2", &Options::default()).is_err());
}
