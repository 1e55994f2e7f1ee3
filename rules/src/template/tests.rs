use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use chrono::{DateTime, TimeZone, Utc};
use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::*;
use crate::request::{Header, Request, RequestContext};

const HEADERS: &[Header<'static>] = &[
    Header { name: "Host", value: b"api.example.com:8443" },
    Header { name: "X-Trace", value: b"abc" },
    Header { name: "x-trace", value: b"def" },
    Header { name: "Cookie", value: b"session=s3cr3t; theme=dark" },
    Header { name: "X-Html", value: b"<a href=\"x\">'&'</a>`" },
];

const BODY: &[u8] = br#"{"a":{"b":"deep <b>"},"n":42,"items":[{"id":1},{"id":2}],"nul":null,"s":"text"}"#;

fn fixed_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 5, 14, 7, 9).unwrap() + chrono::TimeDelta::milliseconds(42)
}

fn env() -> BTreeMap<String, String> {
    BTreeMap::from([("API_KEY".to_string(), "k-123".to_string()), ("AMP".to_string(), "a&b".to_string())])
}

/// Renders `src` against a fixed request and a seeded rng.
pub(super) fn render_with(src: &str, target: &str, body: &[u8], seed: u64) -> String {
    render_in(super::Dialect::Handlebars, src, target, body, seed)
}

pub(super) fn render_in(dialect: super::Dialect, src: &str, target: &str, body: &[u8], seed: u64) -> String {
    let template = Template::parse_as(src, dialect).unwrap_or_else(|e| panic!("{src:?} should parse: {e}"));
    let req =
        Request::new("POST", target, HEADERS, body).with_client_ip(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)));
    let rcx = RequestContext::new(&req);
    let env = env();
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut cx = RenderContext {
        request: &rcx,
        path_params: &[("id", "42"), ("name", "a<b")],
        env: &env,
        now: fixed_now(),
        counter: 7,
        rng: &mut rng,
    };
    let mut out = b"prefix:".to_vec();
    template.render(&mut cx, &mut out);
    String::from_utf8(out).unwrap().strip_prefix("prefix:").unwrap().to_string()
}

pub(super) fn render(src: &str) -> String {
    render_with(src, "/users/42/orders/?q=shoes&q=boots&x=a%20b&eq=1%3D2", BODY, 1)
}

pub(super) fn err(src: &str) -> TemplateError {
    match Template::parse(src) {
        Ok(_) => panic!("{src:?} should not parse"),
        Err(e) => e,
    }
}

/// Asserts the error's place and that its message contains `needle`.
pub(super) fn assert_err(src: &str, line: usize, column: usize, needle: &str) {
    let e = err(src);
    assert_eq!((e.line, e.column), (line, column), "{src:?}: {e}");
    assert!(e.message.contains(needle), "{src:?}: {e:?} should mention {needle:?}");
    assert_eq!(e.to_string(), format!("line {line}, column {column}: {}", e.message));
}

// ---- text, escaping, comments ---------------------------------------------------------------

#[test]
fn plain_text_is_a_literal() {
    let t = Template::parse("hello {world} } {").unwrap();
    assert_eq!(t.as_literal(), Some("hello {world} } {"));
    assert_eq!(Template::parse("").unwrap().as_literal(), Some(""));
    assert!(!t.uses_counter());
    assert_eq!(t.env_names().count(), 0);
    assert_eq!(render("héllo ✓"), "héllo ✓");
}

#[test]
fn expressions_make_it_not_literal() {
    assert_eq!(Template::parse("a {{request.path}}").unwrap().as_literal(), None);
    assert_eq!(Template::parse("a {{! c }} b").unwrap().as_literal(), Some("a  b"));
    assert_eq!(Template::parse(r"\{{x}}").unwrap().as_literal(), Some("{{x}}"));
}

#[test]
fn double_braces_escape_and_triple_braces_do_not() {
    assert_eq!(
        render("{{request.headers.X-Html}}"),
        "&lt;a href&#x3D;&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;&#x60;"
    );
    assert_eq!(render("{{{request.headers.X-Html}}}"), "<a href=\"x\">'&'</a>`");
    assert_eq!(render("{{& request.headers.X-Html}}"), "<a href=\"x\">'&'</a>`");
    assert_eq!(render("{{env.AMP}}|{{{env.AMP}}}"), "a&amp;b|a&b");
    assert_eq!(render("{{request.path.name}}"), "a&lt;b");
}

#[test]
fn backslash_escapes_braces() {
    assert_eq!(render(r"\{{request.path}}"), "{{request.path}}");
    assert_eq!(render(r"a \{{x}} {{request.method}}"), "a {{x}} POST");
    assert_eq!(render(r"\\{{request.method}}"), r"\POST");
}

#[test]
fn whitespace_inside_braces_is_free() {
    assert_eq!(render("{{  request.method\n }}"), "POST");
    assert_eq!(render("{{{ request.method }}}"), "POST");
    assert_eq!(render("{{jsonPath   request.body\t'$.n'   default = 'x' }}"), "42");
}

#[test]
fn tilde_trims_whitespace() {
    assert_eq!(render("a  \n {{~request.method~}} \n b"), "aPOSTb");
    assert_eq!(render("a {{~{request.method}~}} b"), "aPOSTb");
    assert_eq!(render("a {{request.method~}} b {{~ request.method}} c"), "a POSTbPOST c");
}

#[test]
fn comments_render_nothing() {
    assert_eq!(render("a{{! a comment }}b"), "ab");
    assert_eq!(render("a{{!-- has }} inside --}}b"), "ab");
    assert_eq!(render("a {{~! trim ~}} b"), "ab");
    assert_eq!(render("a {{~!-- trim --~}} b"), "ab");
    // A comment alone on its line takes its line with it, as in Handlebars.
    assert_eq!(render("a\n  {{! note }}  \nb"), "a\nb");
    assert_eq!(render("{{! first }}\r\nb"), "b");
    assert_eq!(render("x {{! inline }} y"), "x  y");
    assert_eq!(render("{{request.method}}{{! c }}\nb"), "POST\nb");
}

// ---- paths -----------------------------------------------------------------------------------

#[test]
fn request_paths() {
    assert_eq!(render("{{request.method}}"), "POST");
    assert_eq!(render("{{{request.url}}}"), "/users/42/orders/?q=shoes&q=boots&x=a%20b&eq=1%3D2");
    assert_eq!(render_with("{{request.url}}", "/p", b"", 1), "/p");
    assert_eq!(
        render("{{request.url}}"),
        "/users/42/orders/?q&#x3D;shoes&amp;q&#x3D;boots&amp;x&#x3D;a%20b&amp;eq&#x3D;1%3D2"
    );
    assert_eq!(render("{{request.path}}"), "/users/42/orders/");
    assert_eq!(
        render("{{request.path.[0]}}|{{request.path.[1]}}|{{request.path.[2]}}|{{request.path.[3]}}"),
        "users|42|orders|"
    );
    assert_eq!(render("{{request.pathSegments.[1]}}/{{request.pathSegments.2}}"), "42/orders");
    assert_eq!(render("{{request.path.id}}|{{request.path.[name]}}|{{request.path.nope}}"), "42|a&lt;b|");
    assert_eq!(render("{{request.query.q}}|{{request.query.q.[1]}}|{{request.query.q.[2]}}"), "shoes|boots|");
    assert_eq!(render("{{request.query.x}}|{{request.query.eq}}|{{request.query.none}}"), "a b|1&#x3D;2|");
    assert_eq!(
        render(
            "{{request.headers.x-trace}}|{{request.headers.X-TRACE.[1]}}|{{request.headers.[X-Trace].[2]}}"
        ),
        "abc|def|"
    );
    assert_eq!(
        render("{{request.cookies.session}}|{{request.cookies.theme.[0]}}|{{request.cookies.nope}}"),
        "s3cr3t|dark|"
    );
    assert_eq!(render("{{request.host}}|{{request.clientIp}}"), "api.example.com|10.1.2.3");
    assert_eq!(render_with("{{{request.body}}}", "/", b"raw <body>", 1), "raw <body>");
    assert_eq!(render_with("{{request.body}}", "/", b"raw <body>", 1), "raw &lt;body&gt;");
    assert_eq!(render("{{request/method}}"), "POST");
}

#[test]
fn missing_client_ip_and_host_render_empty() {
    let t = Template::parse("[{{request.clientIp}}{{request.host}}{{request.headers.Host}}]").unwrap();
    let req = Request::new("GET", "/", &[], b"");
    let rcx = RequestContext::new(&req);
    let env = BTreeMap::new();
    let mut rng = SmallRng::seed_from_u64(0);
    let mut cx = RenderContext {
        request: &rcx,
        path_params: &[],
        env: &env,
        now: fixed_now(),
        counter: 1,
        rng: &mut rng,
    };
    let mut out = Vec::new();
    t.render(&mut cx, &mut out);
    assert_eq!(out, b"[]");
}

#[test]
fn env_and_counter() {
    assert_eq!(render("{{env.API_KEY}}|{{env.MISSING}}"), "k-123|");
    let t =
        Template::parse("{{env.B}}{{env.A}}{{env.B}}{{jsonPath request.body '$.x' default=env.C}}").unwrap();
    assert_eq!(t.env_names().collect::<Vec<_>>(), ["B", "A", "C"]);
    assert!(!t.uses_counter());
    assert_eq!(render("hit {{counter}}"), "hit 7");
    assert!(Template::parse("{{counter}}").unwrap().uses_counter());
    assert!(Template::parse("{{jsonPath (counter) '$'}}").unwrap().uses_counter());
}

// ---- jsonPath --------------------------------------------------------------------------------

#[test]
fn json_path() {
    assert_eq!(render("{{jsonPath request.body '$.a.b'}}"), "deep &lt;b&gt;");
    assert_eq!(render("{{{jsonPath request.body '$.a.b'}}}"), "deep <b>");
    assert_eq!(render("{{jsonPath request.body \"$.n\"}}"), "42");
    assert_eq!(render("{{{jsonPath request.body '$.a'}}}"), r#"{"b":"deep <b>"}"#);
    assert_eq!(render("{{{jsonPath request.body '$.items[*].id'}}}"), "[1,2]");
    assert_eq!(render("{{{jsonPath request.body '$.items[?@.id > 1]'}}}"), r#"{"id":2}"#);
    assert_eq!(render("{{jsonPath request.body '$.missing'}}"), "");
    assert_eq!(render("{{jsonPath request.body '$.missing' default='x'}}"), "x");
    assert_eq!(render("{{jsonPath request.body '$.missing' default=5}}"), "5");
    assert_eq!(render("{{jsonPath request.body '$.missing' default=(request.method)}}"), "POST");
    assert_eq!(
        render("{{jsonPath request.body '$.nul'}}|{{jsonPath request.body '$.nul' default='d'}}"),
        "|d",
        "a JSON null renders as nothing, as in WireMock"
    );
    assert_eq!(render_with("{{jsonPath request.body '$.a' default='none'}}", "/", b"not json", 1), "none");
    assert_eq!(render_with("{{jsonPath request.body '$.a'}}", "/", b"", 1), "");
}

#[test]
fn json_path_over_other_values() {
    let headers = [Header { name: "X-Json", value: br#"{"k":"v"}"# }];
    let req = Request::new("GET", "/?j=%5B1%2C2%5D", &headers, b"");
    let rcx = RequestContext::new(&req);
    let env = BTreeMap::new();
    let mut rng = SmallRng::seed_from_u64(0);
    let mut cx = RenderContext {
        request: &rcx,
        path_params: &[],
        env: &env,
        now: fixed_now(),
        counter: 1,
        rng: &mut rng,
    };
    let t = Template::parse("{{jsonPath request.headers.X-Json '$.k'}} {{jsonPath (request.query.j) '$[1]'}} {{jsonPath (jsonPath request.headers.X-Json '$') '$.k'}}").unwrap();
    let mut out = Vec::new();
    t.render(&mut cx, &mut out);
    assert_eq!(String::from_utf8(out).unwrap(), "v 2 v");
}

// ---- now ---------------------------------------------------------------------------------------

#[test]
fn now_formats() {
    assert_eq!(render("{{now}}"), "2024-03-05T14:07:09.042Z");
    assert_eq!(render("{{now format='yyyy-MM-dd'}}"), "2024-03-05");
    assert_eq!(render("{{now format='yy/M/d H:m:s'}}"), "24/3/5 14:7:9");
    assert_eq!(render("{{now format='dd MMM yyyy HH:mm:ss.SSS'}}"), "05 Mar 2024 14:07:09.042");
    assert_eq!(render("{{now format='EEE, dd MMM yyyy HH:mm:ss Z'}}"), "Tue, 05 Mar 2024 14:07:09 +0000");
    assert_eq!(render("{{now format='EEEE MMMM hh a h'}}"), "Tuesday March 02 PM 2");
    assert_eq!(render("{{{now format=\"yyyy-MM-dd'T'HH:mm:ssXXX\"}}}"), "2024-03-05T14:07:09Z");
    assert_eq!(render("{{{now format=\"'it''s' '' X\"}}}"), "it's ' Z");
    assert_eq!(render("{{now format=\"'it''s'\"}}"), "it&#x27;s");
    assert_eq!(render("{{now format='SSSSSS'}}"), "042000");
    assert_eq!(render("{{now format='epoch'}}"), "1709647629042");
    assert_eq!(render("{{now format='unix'}}"), "1709647629");
}

#[test]
fn now_offsets() {
    assert_eq!(render("{{now offset='3 days' format='yyyy-MM-dd'}}"), "2024-03-08");
    assert_eq!(render("{{now offset='-2 hours'}}"), "2024-03-05T12:07:09.042Z");
    assert_eq!(render("{{now offset='+1 week' format='yyyy-MM-dd'}}"), "2024-03-12");
    assert_eq!(render("{{now offset='1 second' format='unix'}}"), "1709647630");
    assert_eq!(render("{{now offset='-90 Minutes' format='HH:mm'}}"), "12:37");
    // An offset past what chrono can represent renders nothing rather than panicking.
    assert_eq!(render("{{now offset='15000000000000 seconds'}}"), "");
}

// ---- random ----------------------------------------------------------------------------------

fn charset_ok(s: &str, ok: impl Fn(char) -> bool) -> bool {
    s.chars().all(ok)
}

#[test]
fn random_values() {
    let a = render("{{randomValue length=33 type='ALPHANUMERIC'}}");
    assert_eq!(a.len(), 33);
    assert!(charset_ok(&a, |c| c.is_ascii_lowercase() || c.is_ascii_digit()), "{a}");
    assert_eq!(a, render("{{randomValue length=33 type='ALPHANUMERIC'}}"), "same seed, same value");
    assert_ne!(a, render_with("{{randomValue length=33 type='ALPHANUMERIC'}}", "/", b"", 2));
    let upper = render("{{randomValue length=40 type='ALPHABETIC' uppercase=true}}");
    assert!(upper.len() == 40 && charset_ok(&upper, |c| c.is_ascii_uppercase()), "{upper}");
    let n = render("{{randomValue length=20 type='NUMERIC'}}");
    assert!(n.len() == 20 && charset_ok(&n, |c| c.is_ascii_digit()), "{n}");
    let h = render("{{randomValue length=100 type='HEXADECIMAL'}}");
    assert!(h.len() == 100 && charset_ok(&h, |c| matches!(c, '0'..='9' | 'a'..='f')), "{h}");
    let s = render("{{{randomValue length=200 type='ALPHANUMERIC_AND_SYMBOLS'}}}");
    assert!(s.len() == 200 && charset_ok(&s, |c| c.is_ascii_graphic() && !c.is_ascii_uppercase()), "{s}");
    assert_eq!(render("{{randomValue}}").len(), 36);
    assert_eq!(render("{{randomValue length=0}}"), "");
    assert_eq!(render("{{randomValue length=1000 type='numeric'}}").len(), 1000);
    let u = render("{{randomValue type='UUID' uppercase=true}}");
    assert!(u.len() == 36 && !u.chars().any(|c| c.is_ascii_lowercase()), "{u}");
}

#[test]
fn random_int() {
    for seed in 0..200 {
        let v: i64 = render_with("{{randomInt lower=1 upper=4}}", "/", b"", seed).parse().unwrap();
        assert!((1..4).contains(&v), "{v}");
    }
    let all: std::collections::BTreeSet<String> =
        (0..200).map(|seed| render_with("{{randomInt lower=-2 upper=1}}", "/", b"", seed)).collect();
    assert_eq!(all.into_iter().collect::<Vec<_>>(), ["-1", "-2", "0"]);
    let v: i64 = render("{{randomInt}}").parse().unwrap();
    assert!((i64::from(i32::MIN)..i64::from(i32::MAX)).contains(&v));
    let v: i64 = render("{{randomInt lower=5}}").parse().unwrap();
    assert!(v >= 5);
    let v: i64 = render("{{randomInt upper=-5}}").parse().unwrap();
    assert!(v < -5);
}

/// An rng whose every byte is the same, so a UUID's text is known exactly.
struct ConstRng(u8);
impl rand::RngCore for ConstRng {
    fn next_u32(&mut self) -> u32 {
        u32::from_ne_bytes([self.0; 4])
    }
    fn next_u64(&mut self) -> u64 {
        u64::from_ne_bytes([self.0; 8])
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        dst.fill(self.0);
    }
}

#[test]
fn uuid_comes_from_the_rng() {
    let t =
        Template::parse("{{uuid}} {{randomValue type='UUID'}} {{randomValue type='UUID' uppercase=true}}")
            .unwrap();
    let req = Request::new("GET", "/", &[], b"");
    let rcx = RequestContext::new(&req);
    let env = BTreeMap::new();
    let mut rng = ConstRng(0xab);
    let mut cx = RenderContext {
        request: &rcx,
        path_params: &[],
        env: &env,
        now: fixed_now(),
        counter: 1,
        rng: &mut rng,
    };
    let mut out = Vec::new();
    t.render(&mut cx, &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "abababab-abab-4bab-abab-abababababab abababab-abab-4bab-abab-abababababab ABABABAB-ABAB-4BAB-ABAB-ABABABABABAB"
    );
    let u = render("{{uuid}}");
    assert_eq!(uuid::Uuid::parse_str(&u).unwrap().get_version_num(), 4);
    assert_ne!(u, render_with("{{uuid}}", "/", b"", 99));
}

#[test]
fn sub_expressions() {
    assert_eq!(render("{{jsonPath request.body '$.none' default=(now format='yyyy')}}"), "2024");
    assert_eq!(render("{{jsonPath request.body '$.none' default=(counter)}}"), "7");
    assert_eq!(render("{{{jsonPath (request.body) '$.s'}}}"), "text");
}

/// `{{jsonPath request.body '$.none' default=(jsonPath … default=(counter))}}`, `depth` levels of
/// parentheses.
fn nested_defaults(depth: usize) -> String {
    let open = "jsonPath request.body '$.none' default=(".repeat(depth);
    format!("{{{{{open}counter{}}}}}", ")".repeat(depth))
}

#[test]
fn sub_expressions_nest_up_to_a_bound_and_deeper_is_refused_not_a_crash() {
    assert_eq!(render(&nested_defaults(parse::MAX_SUB_DEPTH)), "7");
    let too_deep = nested_defaults(parse::MAX_SUB_DEPTH + 1);
    // The refused `(` is the innermost one.
    let column = too_deep.rfind('(').expect("has parentheses") + 1;
    assert_err(&too_deep, 1, column, "nest more than 16 deep");
    // Deep enough to overflow a thread's stack if each level recursed.
    let e = err(&nested_defaults(100_000));
    assert!(e.message.contains("nest more than"), "{e}");
}

// ---- errors ----------------------------------------------------------------------------------

#[test]
fn syntax_errors_name_their_place() {
    assert_err("ab\n  {{request.path", 2, 3, "unclosed `{{`");
    assert_err("{{", 1, 1, "unclosed `{{`");
    assert_err("x {{request.path}", 1, 3, "unclosed `{{`");
    assert_err("{{{request.path}}", 1, 16, "expected `}}}`");
    assert_err("{{{request.path", 1, 1, "unclosed `{{`");
    assert_err("{{{request.path}} }}", 1, 16, "expected `}}}`");
    assert_err("{{request.path )}}", 1, 16, "unexpected `)`");
    assert_err("{{}}", 1, 1, "empty expression");
    assert_err("{{ 'str' }}", 1, 4, "found a string");
    assert_err("{{ 12 }}", 1, 4, "found a number");
    assert_err("{{jsonPath request.body '$.a}}", 1, 25, "unclosed string");
    assert_err("{{request.[path}}", 1, 11, "unclosed `[`");
    assert_err("{{request.}}", 1, 11, "expected a name in path");
    assert_err("{{jsonPath (request.body '$'}}", 1, 12, "unclosed `(`");
    assert_err("{{jsonPath () '$'}}", 1, 13, "empty sub-expression");
    assert_err("{{! never closed", 1, 1, "unclosed comment");
    assert_err("{{!-- never closed }}", 1, 1, "unclosed comment");
    assert_err("{{request.path =}}", 1, 16, "unexpected `=`");
    assert_err("é {{@index}}", 1, 5, "`@index` only means something inside `{{#each}}`");
}

#[test]
fn partials_are_refused() {
    assert_err("{{> header}}", 1, 1, "partials are not supported yet");
    assert_err("{{#> layout}}x{{/layout}}", 1, 1, "partial blocks are not supported");
}

#[test]
fn unknown_names_are_refused() {
    assert_err("{{foo}}", 1, 3, "unknown helper `foo`");
    assert_err("{{ foo 'x' }}", 1, 4, "unknown helper `foo`");
    assert_err(
        "{{formatJson request.body}}",
        1,
        3,
        "unknown helper `formatJson`: this WireMock helper is not supported",
    );
    assert_err("{{request.bogus}}", 1, 11, "unknown path `request.bogus`");
    assert_err("{{request}}", 1, 3, "`request` needs a field");
    assert_err("{{foo.bar}}", 1, 3, "unknown path `foo.bar`");
    assert_err("{{request.method.x}}", 1, 18, "unknown path `request.method.x`");
    assert_err("{{request.path.a.b}}", 1, 18, "unknown path");
    assert_err("{{request.query}}", 1, 3, "needs a parameter name");
    assert_err("{{request.headers}}", 1, 3, "needs a header name");
    assert_err("{{request.cookies}}", 1, 3, "needs a cookie name");
    assert_err("{{request.query.a.b}}", 1, 19, "expected an index");
    assert_err("{{request.pathSegments.x}}", 1, 24, "expected an index");
    assert_err("{{request.path.[99999999999999999999999]}}", 1, 16, "too large");
    assert_err("{{env}}", 1, 3, "`env` needs a variable name");
    assert_err("{{env.A.B}}", 1, 9, "unknown path");
    assert_err("{{counter.x}}", 1, 11, "unknown path");
    assert_err("{{jsonPath request.body '$' default=now}}", 1, 37, "wrap it in parentheses");
}

#[test]
fn argument_errors_are_refused() {
    assert_err("{{request.path 'x'}}", 1, 16, "takes no arguments");
    assert_err("{{request.path a=1}}", 1, 16, "takes no arguments");
    assert_err("{{jsonPath}}", 1, 3, "`jsonPath` needs 2 arguments");
    assert_err("{{jsonPath request.body}}", 1, 3, "found 1");
    assert_err("{{jsonPath request.body '$' '$'}}", 1, 3, "found 3");
    assert_err("{{jsonPath 'body' '$'}}", 1, 12, "first argument of `jsonPath`");
    assert_err("{{jsonPath request.body request.path}}", 1, 25, "second argument of `jsonPath`");
    assert_err("{{jsonPath request.body '$' fallback='x'}}", 1, 29, "unknown argument `fallback`");
    assert_err("{{jsonPath request.body '$' default='x' default='y'}}", 1, 41, "given twice");
    assert_err("{{now 'yyyy'}}", 1, 7, "no positional arguments");
    assert_err("{{now format=yyyy}}", 1, 14, "`format` must be a quoted string, found a path");
    assert_err("{{now format=3}}", 1, 14, "`format` must be a quoted string, found a number");
    assert_err("{{now timezone='Mars/Olympus'}}", 1, 16, "unknown time zone 'Mars/Olympus'");
    assert_err("{{now timezone='+25:00'}}", 1, 16, "unknown time zone '+25:00'");
    assert_err("{{now timezone=2}}", 1, 16, "`timezone` must be a quoted string");
    assert_err("{{randomValue length='ten'}}", 1, 22, "`length` must be a number, found a string");
    assert_err("{{randomValue length=1.5}}", 1, 22, "whole number");
    assert_err("{{randomValue length=-1}}", 1, 22, "between 0 and");
    assert_err("{{randomValue length=100000}}", 1, 22, "between 0 and");
    assert_err("{{randomValue type='BASE64'}}", 1, 20, "unknown randomValue type 'BASE64'");
    assert_err("{{randomValue uppercase='yes'}}", 1, 25, "`uppercase` must be true or false");
    assert_err("{{randomValue 10}}", 1, 15, "no positional arguments");
    assert_err("{{randomInt lower=5 upper=5}}", 1, 3, "lower < upper");
    assert_err("{{randomInt lower=3000000000}}", 1, 3, "lower < upper");
    assert_err("{{randomInt lower='1'}}", 1, 19, "must be a number");
    assert_err("{{randomInt 1 10}}", 1, 13, "no positional arguments");
    assert_err("{{uuid 1}}", 1, 8, "takes no arguments");
    assert_err("{{uuid version=4}}", 1, 8, "unknown argument `version`");
    assert_err("{{counter 1}}", 1, 11, "takes no arguments");
}

#[test]
fn bad_json_paths_are_refused_with_the_library_message() {
    let e = err("{\n  \"x\": \"{{jsonPath request.body '$.['}}\"\n}");
    assert_eq!((e.line, e.column), (2, 33), "{e}");
    assert!(e.message.starts_with("bad JSONPath '$.[': at position"), "{e}");
    assert_err("{{jsonPath request.body 'a.b'}}", 1, 25, "bad JSONPath 'a.b'");
}

#[test]
fn bad_dates_and_offsets_are_refused() {
    assert_err("{{now format='yyyy-QQ'}}", 1, 20, "unsupported date pattern letter `Q`");
    assert_err("{{now format=\"yyyy 'T\"}}", 1, 20, "unterminated quote");
    assert_err("{{now format='yyyyy'}}", 1, 15, "unsupported date pattern `yyyyy`");
    assert_err("{{now format='SS'}}", 1, 15, "unsupported date pattern `SS`");
    assert_err("{{now format='G'}}", 1, 15, "letter `G`");
    assert_err("{{now offset='3 fortnights'}}", 1, 14, "unknown unit `fortnights`");
    assert_err("{{now offset='soon'}}", 1, 14, "bad offset 'soon'");
    assert_err("{{now offset='3'}}", 1, 14, "bad offset");
    assert_err("{{now offset='x days'}}", 1, 14, "bad offset");
    assert_err("{{now offset='99999999999999999999 days'}}", 1, 14, "too large");
    assert_err("{{now offset='9999999999999999 weeks'}}", 1, 14, "too large");
    assert_err("{{now offset=3}}", 1, 14, "`offset` must be a quoted string");
}

#[test]
fn columns_count_characters_not_bytes() {
    assert_err("ééé {{nope}}", 1, 7, "unknown helper `nope`");
    assert_err("line1\nline2 ✓ {{request.nope}}", 2, 19, "unknown path");
}

#[test]
fn odd_inputs_never_panic() {
    let inputs = [
        "{{",
        "}}",
        "{{{",
        "}}}",
        "{{{{",
        "{{a.[",
        "{{a.[]}}",
        "{{jsonPath}}",
        "{{~",
        "{{~}}",
        "{{~~}}",
        "{{!",
        "{{!--",
        "{{!--}}",
        "{{!-- --",
        "{{'",
        "{{\"",
        "{{(",
        "{{)",
        "{{a (",
        "{{a (b",
        "{{a (b)",
        "{{a b=",
        "{{a b=}}",
        "{{a =b}}",
        "{{-}}",
        "{{-1}}",
        "{{1.}}",
        "{{.}}",
        "{{..}}",
        "{{./a}}",
        "{{a/}}",
        "{{a.}}",
        "\\",
        "\\{{",
        "\\\\{{",
        "{{é}}",
        "{{request.path.[é]}}",
        "{{ request.headers.é }}",
        "✓{{✓",
        "{{\u{0}}}",
        "{{jsonPath request.body '\u{10FFFF}'}}",
        "{{now format='\u{e9}'}}",
        "{{now format=''}}",
        "{{now format='''}}",
        "{{now offset=''}}",
        "{{now offset='- days'}}",
        "{{randomValue length=}}",
        "{{randomInt lower=-}}",
        "{{randomInt lower=-9223372036854775808 upper=9223372036854775807}}",
        "{{{request.body}}",
        "{{{request.body}~}}",
        "{{& }}",
        "{{#}}",
        "{{>",
        "{{*",
        "{{else",
        "{{request.path.[0",
        "{{[",
        "{{[]}}",
        "{{a.[b]c}}",
        "{{a=1}}",
        "{{jsonPath request.body '$' default=}}",
        "{{jsonPath ((request.body)) '$'}}",
        "\u{feff}{{request.method}}",
        "\r\n{{! c }}\r\n",
        "{{!}}",
        "{{!~}}",
        "{{~!}}",
    ];
    for input in inputs {
        if let Ok(t) = Template::parse(input) {
            let _ = render(input);
            let _ = t.as_literal();
        }
    }
    // Every prefix of a long template, cut at every character.
    let long = "é {{jsonPath request.body '$.a' default=(now format=\"yyyy'x'\" offset='1 day')}} {{{request.query.q.[1]}}} \\{{ {{~! c ~}} {{!-- }} --}}";
    for (i, _) in long.char_indices() {
        let _ = Template::parse(&long[..i]);
    }
    assert!(Template::parse(long).is_ok());
}

#[test]
fn errors_are_std_errors() {
    let e: Box<dyn std::error::Error> = Box::new(err("{{foo}}"));
    assert_eq!(e.to_string(), "line 1, column 3: unknown helper `foo` (helpers: jsonPath, now, randomValue, randomInt, uuid, counter, eq, neq, ne, gt, gte, lt, lte, and, or, not, contains, matches, regexExtract, parseJson, math, base64, urlEncode, trim, upper, lower, size, pickRandom, dateFormat, parseDate; paths start with `request.` or `env.`)");
}

#[test]
fn templates_are_shareable() {
    fn assert_send_sync<T: Send + Sync + Clone + std::fmt::Debug>() {}
    assert_send_sync::<Template>();
}

#[test]
fn the_example_from_the_brief() {
    let src = r#"{"id":"{{request.path.id}}","q":"{{request.query.q}}","m":"{{request.method}}"}"#;
    assert_eq!(render(src), r#"{"id":"42","q":"shoes","m":"POST"}"#);
}

/// The examples of docs/templates.md, so the reference page stays true.
#[test]
fn documented_examples() {
    let body = br#"{"user":{"name":"Ann"},"items":[{"id":1},{"id":2}]}"#;
    let doc = |src: &str| render_with(src, "/users/42?q=a%3Cb&tag=a&tag=b", body, 1);
    assert_eq!(doc("{{request.query.q}}|{{{request.query.q}}}|{{& request.query.q}}"), "a&lt;b|a<b|a<b");
    assert_eq!(doc(r"\{{not an expression}}"), "{{not an expression}}");
    assert_eq!(doc(r"\\{{request.method}}"), r"\POST");
    assert_eq!(doc("a{{! note }}b|a{{!-- {{x}} --}}b|a  {{~request.method~}}  b"), "ab|ab|aPOSTb");
    assert_eq!(
        doc("{{request.path.[1]}} {{request.pathSegments.[0]}} {{request.query.tag.[1]}}"),
        "42 users b"
    );
    assert_eq!(doc("{{jsonPath request.body '$.user.name'}}"), "Ann");
    assert_eq!(doc("{{{jsonPath request.body '$.user'}}}"), r#"{"name":"Ann"}"#);
    assert_eq!(doc("{{{jsonPath request.body '$.items[*].id'}}}"), "[1,2]");
    assert_eq!(doc("{{jsonPath request.body '$.nope' default='none'}}"), "none");
    assert_eq!(doc("a\n  {{! this whole line disappears }}\nb"), "a\nb");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parse_never_panics(src in "\\PC{0,60}") {
            let _ = Template::parse(&src);
        }

        #[test]
        fn template_like_inputs_parse_or_fail_cleanly(
            src in "[{}~!#&>()\\[\\]'\" .=a-z0-9\\\\-]{0,40}|(\\{\\{(request|env|now|jsonPath|counter|randomInt|uuid)[ .a-z\\[\\]0-9'=()$~-]{0,20}\\}\\}){1,3}"
        ) {
            match Template::parse(&src) {
                Ok(_) => { let _ = render(&src); }
                Err(e) => {
                    prop_assert!(e.line >= 1 && e.column >= 1);
                    prop_assert!(e.line <= src.lines().count().max(1) + 1);
                }
            }
        }

        #[test]
        fn text_without_braces_is_literal(src in "[^{\\\\]{0,60}") {
            let t = Template::parse(&src).unwrap();
            prop_assert_eq!(t.as_literal(), Some(src.as_str()));
        }
    }
}
