//! The WireMock dialect (`template: wiremock`): what renders differently from Handlebars'.
//! The expected texts are what WireMock 3.13.2 answered for the same templates
//! (import/tests/wiremock_diff/expected.json).

use super::tests::render_in;
use super::Dialect::{Handlebars, WireMock};

const TARGET: &str = "/m/t/echo/z?name=a%3Cb%26c&tag=x&tag=y";
const BODY: &[u8] = br#"{"price":10.50,"n":3,"flag":true,"obj":{"x":1},"arr":[1,2],"deep":{"a":{"b":[1,{"c":"<d>"}]},"e":{}}}"#;

fn wiremock(src: &str) -> String {
    render_in(WireMock, src, TARGET, BODY, 1)
}

fn handlebars(src: &str) -> String {
    render_in(Handlebars, src, TARGET, BODY, 1)
}

#[test]
fn double_braces_do_not_escape_in_the_wiremock_dialect() {
    assert_eq!(
        wiremock("{{request.query.name}} {{request.url}}"),
        "a<b&c /m/t/echo/z?name=a%3Cb%26c&tag=x&tag=y"
    );
    assert_eq!(handlebars("{{request.query.name}}"), "a&lt;b&amp;c", "Handlebars' own dialect still escapes");
    assert_eq!(wiremock("{{base64 'hello'}}"), "aGVsbG8=");
    // Inside blocks, sub-expressions and with `~` alike.
    assert_eq!(
        wiremock("{{#each request.query.tag}}{{this}}={{/each}} {{~request.query.name~}} !"),
        "x=y=a<b&c!"
    );
    assert_eq!(wiremock("{{{request.query.name}}}|{{&request.query.name}}"), "a<b&c|a<b&c");
}

#[test]
fn json_path_prints_objects_as_jacksons_pretty_json_in_the_wiremock_dialect() {
    assert_eq!(
        wiremock("obj={{{jsonPath request.body '$.obj'}}} arr={{jsonPath request.body '$.arr'}} n={{jsonPath request.body '$.n'}}"),
        "obj={\n  \"x\" : 1\n} arr=[1,2] n=3"
    );
    assert_eq!(
        wiremock("{{jsonPath request.body '$.deep'}}"),
        "{\n  \"a\" : {\n    \"b\" : [ 1, {\n      \"c\" : \"<d>\"\n    } ]\n  },\n  \"e\" : { }\n}"
    );
    // A source other than the body, and a default that is an object.
    assert_eq!(
        wiremock("{{jsonPath (jsonPath request.body '$.deep') '$.a'}}"),
        "{\n  \"b\" : [ 1, {\n    \"c\" : \"<d>\"\n  } ]\n}"
    );
    assert_eq!(handlebars("{{{jsonPath request.body '$.obj'}}}"), r#"{"x":1}"#);
}
