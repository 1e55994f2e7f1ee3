//! The response template parser (`docs/templates.md`), and rendering what it accepts.
//!
//! Checks, beyond not panicking or hanging: a refusal names a line and column inside the text
//! and says what is wrong; an accepted template renders against a realistic request, the same
//! bytes twice for the same clock and random seed; a template without expressions renders as
//! its literal text; the names it reads from `env` are names it contains.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use mockplane_rules::template::{RenderContext, Template};
use mockplane_rules::{Header, Request, RequestContext};
use rand::SeedableRng;

/// The target: `data` as the text of a template (bytes that are not UTF-8 are not a template).
pub fn template(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let t = match Template::parse(src) {
        Ok(t) => t,
        Err(e) => {
            let lines = src.split('\n').count();
            assert!(e.line >= 1 && e.line <= lines, "line {} of {lines}: {e}", e.line);
            let width = src.split('\n').nth(e.line - 1).map_or(0, |l| l.chars().count());
            assert!(e.column >= 1 && e.column <= width + 1, "column {} of {width}: {e}", e.column);
            assert!(!e.message.is_empty());
            return;
        }
    };
    for name in t.env_names() {
        assert!(src.contains(name), "env name {name:?} is not in the template");
    }
    let first = render(&t);
    assert_eq!(render(&t), first, "two renders with the same clock and seed differ");
    if let Some(text) = t.as_literal() {
        assert_eq!(first, text.as_bytes(), "a literal template renders as its text");
    }
}

/// A request with a bit of everything a template can read.
const BODY: &[u8] = br#"{"user":{"id":42,"name":"Ada","tags":["a","b"]},"items":[{"sku":"x1","qty":2},{"sku":"y2","qty":1}],"ok":true,"n":null}"#;

fn render(t: &Template) -> Vec<u8> {
    let headers = [
        Header { name: "Host", value: b"api.example.com:8080" },
        Header { name: "Content-Type", value: b"application/json" },
        Header { name: "X-Token", value: b"abc<>&\"'" },
        Header { name: "x-token", value: b"second" },
        Header { name: "Cookie", value: b"session=s1; theme=dark" },
    ];
    let req = Request::new("POST", "/users/42/orders?page=2&tag=a&tag=b&q=%20x", &headers, BODY)
        .with_client_ip([192, 0, 2, 7].into());
    let cx = RequestContext::new(&req);
    let env: BTreeMap<String, String> = [("NAME", "mockplane"), ("EMPTY", ""), ("HTML", "<b>&</b>")]
        .map(|(k, v)| (k.into(), v.into()))
        .into();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut out = Vec::new();
    t.render(
        &mut RenderContext {
            request: &cx,
            path_params: &[("id", "42"), ("rest", "orders/7")],
            env: &env,
            now: now(),
            counter: 3,
            rng: &mut rng,
        },
        &mut out,
    );
    out
}

/// A fixed clock: 2026-03-01T12:34:56.789Z.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_772_368_496_789).expect("a valid instant")
}
