//! Requests that hit (or are designed to miss) the rules of a generated set, owned, and lent as
//! borrowed [`Request`]s without allocating in the timed loop.

use super::*;

/// What a generated request was built to reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Aim {
    /// A rule with an exact path.
    Exact,
    /// A rule with a path template.
    Template,
    /// A rule with a path prefix.
    Prefix,
    /// A rule with a path regex.
    Regex,
    /// A rule without a path.
    Pathless,
    /// No rule: the request is meant to miss.
    Miss,
    /// Made by hand with [`OwnedRequest::new`].
    Custom,
}

/// A request that owns its parts, and lends them as a borrowed [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path and query, as on the request line.
    pub target: String,
    /// Headers, name and value (at most [`MAX_HEADERS`]).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// What the generator built it to reach.
    pub aim: Aim,
}

impl OwnedRequest {
    /// A request without headers or body, aimed at nothing in particular.
    pub fn new(method: &str, target: &str) -> Self {
        OwnedRequest {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            aim: Aim::Custom,
        }
    }

    /// The kind of request, as the per-kind benchmarks name it: `exact`, `template`, `prefix`,
    /// `regex` or `miss` by its aim, `json_body` whatever its path when it has a body, `other`.
    pub fn kind(&self) -> &'static str {
        match self.aim {
            _ if !self.body.is_empty() => "json_body",
            Aim::Exact => "exact",
            Aim::Template => "template",
            Aim::Prefix => "prefix",
            Aim::Regex => "regex",
            Aim::Miss => "miss",
            Aim::Pathless | Aim::Custom => "other",
        }
    }

    /// Whether some rule is meant to serve it (everything but [`Aim::Miss`]).
    pub fn expect_hit(&self) -> bool {
        self.aim != Aim::Miss
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        assert!(self.headers.len() < MAX_HEADERS, "at most {MAX_HEADERS} headers");
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Builds the borrowed [`Request`] and a fresh [`RequestContext`] over it (on the stack,
    /// without allocating) and hands the context to `f`.
    #[inline]
    pub fn with_request<R>(&self, f: impl FnOnce(&RequestContext<'_>) -> R) -> R {
        let mut headers = [Header { name: "", value: b"" }; MAX_HEADERS];
        let n = self.headers.len().min(MAX_HEADERS);
        for (slot, (name, value)) in headers.iter_mut().zip(&self.headers) {
            *slot = Header { name, value: value.as_bytes() };
        }
        let req = Request::new(&self.method, &self.target, &headers[..n], &self.body);
        let cx = RequestContext::new(&req);
        f(&cx)
    }
}

/// Requests laid out back to back in shared buffers, in the order they are served, the way a
/// server's read buffer holds what it has just received: lending the next one touches a few
/// consecutive cache lines that the hardware prefetches, not a dozen separate heap blocks.
///
/// The [`OwnedRequest`]s of a 16,384-request cycle are about 10 small allocations each, spread
/// over several MiB: lending them cost more cache misses per request (7 of about 17, by
/// callgrind's cache simulation with a 1 MiB L2) than the rules engine's own work, misses a
/// server does not pay on a request it has just read. Benchmarks of the engine lend from here.
///
/// The text is laid out once and leaked, so that each request's header list is prepared as
/// the `&[Header]` a server hands the engine after parsing: lending a request then copies
/// nothing and checks no string boundaries, and the benchmarks time the engine, not the
/// harness. A benchmark builds a few of these (a few MiB each) and exits.
#[derive(Debug, Default)]
pub struct PackedRequests {
    headers: Vec<Header<'static>>,
    requests: Vec<Packed>,
}

#[derive(Debug, Clone, Copy)]
struct Packed {
    method: &'static str,
    target: &'static str,
    /// A range of `PackedRequests::headers`.
    headers: (u32, u32),
    body: &'static [u8],
}

impl PackedRequests {
    /// Packs `requests`, in order.
    pub fn new(requests: &[OwnedRequest]) -> Self {
        // Lay the text out first (request after request), then borrow it for good.
        let mut text = String::new();
        let mut bodies = Vec::new();
        let mut spans = Vec::with_capacity(requests.len());
        let mut push = |s: &str| {
            let start = text.len();
            text.push_str(s);
            start..text.len()
        };
        for r in requests {
            let method = push(&r.method);
            let target = push(&r.target);
            let headers: Vec<_> =
                r.headers.iter().take(MAX_HEADERS).map(|(name, value)| (push(name), push(value))).collect();
            let body = bodies.len()..bodies.len() + r.body.len();
            bodies.extend_from_slice(&r.body);
            spans.push((method, target, headers, body));
        }
        let text: &'static str = Box::leak(text.into_boxed_str());
        let bodies: &'static [u8] = Box::leak(bodies.into_boxed_slice());
        let mut p = PackedRequests::default();
        for (method, target, headers, body) in spans {
            let first = p.headers.len() as u32;
            p.headers.extend(
                headers
                    .into_iter()
                    .map(|(name, value)| Header { name: &text[name], value: &text.as_bytes()[value] }),
            );
            p.requests.push(Packed {
                method: &text[method],
                target: &text[target],
                headers: (first, p.headers.len() as u32),
                body: &bodies[body],
            });
        }
        p
    }

    /// How many requests.
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// Lends request `i` as [`OwnedRequest::with_request`] does.
    #[inline]
    pub fn with_request<R>(&self, i: usize, f: impl FnOnce(&RequestContext<'_>) -> R) -> R {
        let p = self.requests[i];
        let headers = &self.headers[p.headers.0 as usize..p.headers.1 as usize];
        let req = Request::new(p.method, p.target, headers, p.body);
        let cx = RequestContext::new(&req);
        f(&cx)
    }
}

/// `count` requests against `set`: about 90% built to satisfy a rule drawn uniformly from the
/// set (its method, an instance of its path, its header and body predicates), about 10% built
/// to miss. The misses assume the generator's layout (no template under `/api/v1`, no prefix or
/// regex under `/api`): an unknown id under `/api/v1` (the exact map misses), an unknown
/// sub-resource under `/api/v2` (the template trie walks three levels, then misses), and
/// `PATCH` on an existing `/api/v1` path (found by the index, refused by the method).
/// Every request carries the usual headers (`host`, `user-agent`, `accept`, an id) and some a
/// query string or an `x-tenant` of their own.
pub fn requests_for(set: &RuleSet, count: usize, seed: u64) -> Vec<OwnedRequest> {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed_f4e9_u64);
    // Exact /api/v1 paths that no method-less rule serves: PATCH on them misses.
    let any_method: HashSet<&str> = set
        .rules
        .iter()
        .filter(|r| accepts_any_method(r))
        .filter_map(|r| r.matcher.path.as_ref().map(|p| path_kind(p).1))
        .collect();
    let patchable: Vec<&str> = set
        .rules
        .iter()
        .filter_map(|r| match r.matcher.path.as_ref().map(path_kind) {
            Some((PathKind::Exact, p)) if p.starts_with("/api/v1/") && !any_method.contains(p) => Some(p),
            _ => None,
        })
        .collect();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let miss = set.rules.is_empty() || rng.random_bool(0.1);
        let req = if miss {
            miss_request(&mut rng, &patchable)
        } else {
            let rule = &set.rules[rng.random_range(0..set.rules.len())];
            match hit_request(rule, &mut rng) {
                Some(req) => req,
                None => continue,
            }
        };
        out.push(req);
    }
    out
}

fn accepts_any_method(rule: &Rule) -> bool {
    match &rule.matcher.method {
        None => true,
        Some(MethodMatch::One(m)) => m == "ANY" || m == "*",
        Some(MethodMatch::AnyOf(ms)) => ms.iter().any(|m| m == "ANY" || m == "*"),
    }
}

fn base_request(rng: &mut SmallRng, method: &str, path: &str) -> OwnedRequest {
    let target = match rng.random_range(0..10) {
        0 | 1 => format!("{path}?page={}&limit=50", rng.random_range(1..10)),
        2 => format!("{path}?q=shoes&sort=-updated"),
        _ => path.to_owned(),
    };
    let agent = ["okhttp/4.12.0", "python-requests/2.32.3", "Mozilla/5.0 (X11; Linux x86_64)", "curl/8.5.0"]
        .choose(rng)
        .expect("not empty");
    OwnedRequest::new(method, &target)
        .header("Host", "api.example.com")
        .header("User-Agent", agent)
        .header("Accept", "application/json")
        .header("X-Request-Id", &format!("{:016x}", rng.random::<u64>()))
}

fn miss_request(rng: &mut SmallRng, patchable: &[&str]) -> OwnedRequest {
    let res = RESOURCES.choose(rng).expect("not empty");
    let mut req = match rng.random_range(0..10) {
        0..=3 => {
            let path = format!("/api/v1/{res}/missing-{}", rng.random_range(1..1000));
            base_request(rng, "GET", &path)
        }
        4..=6 => {
            let path =
                format!("/api/v2/{res}/{}/unknown-{}", rng.random_range(1..1000), rng.random_range(1..100));
            base_request(rng, "GET", &path)
        }
        _ => match patchable.choose(rng) {
            Some(path) => base_request(rng, "PATCH", path),
            None => base_request(rng, "GET", &format!("/api/v3/{res}")),
        },
    };
    req.aim = Aim::Miss;
    req
}

/// A request that satisfies `rule`'s predicates, or `None` when the rule uses a predicate the
/// generator does not know how to satisfy.
fn hit_request(rule: &Rule, rng: &mut SmallRng) -> Option<OwnedRequest> {
    let m = &rule.matcher;
    if !rule.enabled
        || m.host.is_some()
        || !m.query.is_empty()
        || !m.cookies.is_empty()
        || m.client_ip.is_some()
        || m.graphql.is_some()
    {
        return None;
    }
    let method = match &m.method {
        Some(MethodMatch::One(x)) if x != "ANY" && x != "*" => x.clone(),
        Some(MethodMatch::AnyOf(xs)) if !xs.is_empty() && !accepts_any_method(rule) => {
            xs.choose(rng)?.clone()
        }
        _ => "GET".to_owned(),
    };
    let (aim, path) = match m.path.as_ref().map(path_kind) {
        None => (Aim::Pathless, format!("/anything/{}", rng.random_range(0..1000))),
        Some((PathKind::Exact, p)) => (Aim::Exact, p.to_owned()),
        Some((PathKind::Template, p)) => (Aim::Template, instantiate_template(p, rng)),
        Some((PathKind::Prefix, p)) => (Aim::Prefix, format!("{p}bundle-{}.js", rng.random_range(0..1000))),
        Some((PathKind::Regex, r)) => (Aim::Regex, sample_regex(r, rng)?),
    };
    let mut req = base_request(rng, &method, &path);
    req.aim = aim;
    let mut has_tenant = false;
    for (name, value) in &m.headers {
        has_tenant |= name.eq_ignore_ascii_case(TENANT_HEADER);
        let value = match value {
            ValueMatch::Equals(v) => v.clone(),
            ValueMatch::Spec(spec) => match (&spec.equals, &spec.regex) {
                (Some(v), _) => v.clone(),
                (None, Some(r)) => sample_regex(r, rng)?,
                _ => return None,
            },
        };
        req = req.header(name, &value);
    }
    if !has_tenant && rng.random_bool(0.2) {
        req = req.header(TENANT_HEADER, &format!("acme-{}", rng.random_range(1..=50)));
    }
    if let Some(body) = &m.body {
        req = req.header("Content-Type", "application/json").body(body_for(body, rng)?);
    }
    Some(req)
}

fn instantiate_template(template: &str, rng: &mut SmallRng) -> String {
    template
        .split('/')
        .map(|seg| {
            if seg.starts_with("{*") {
                "a/b".to_owned()
            } else if seg.starts_with('{') {
                rng.random_range(1..100_000u32).to_string()
            } else {
                seg.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A string matching a regex made of literal characters, `[0-9]+` and `[a-z]+`.
fn sample_regex(regex: &str, rng: &mut SmallRng) -> Option<String> {
    let mut out = String::new();
    let mut rest = regex;
    while let Some(c) = rest.chars().next() {
        if let Some(r) = rest.strip_prefix("[0-9]+") {
            let n = rng.random_range(1..=6);
            out.extend((0..n).map(|_| char::from(b'0' + rng.random_range(0..10u8))));
            rest = r;
        } else if let Some(r) = rest.strip_prefix("[a-z]+") {
            let n = rng.random_range(1..=6);
            out.extend((0..n).map(|_| char::from(b'a' + rng.random_range(0..26u8))));
            rest = r;
        } else if c.is_ascii_alphanumeric() || "/-_".contains(c) {
            out.push(c);
            rest = &rest[1..];
        } else {
            return None;
        }
    }
    Some(out)
}

/// A JSON body that satisfies a `json` (with `ignore_extra_elements`) or simple dotted
/// `jsonpath` matcher, with a few members of its own.
fn body_for(body: &BodyMatch, rng: &mut SmallRng) -> Option<Vec<u8>> {
    let mut doc = serde_json::Map::new();
    if let Some(Value::Object(wanted)) = &body.json {
        if !body.ignore_extra_elements {
            return serde_json::to_vec(&Value::Object(wanted.clone())).ok();
        }
        doc.extend(wanted.clone());
    } else if let Some(path) = &body.jsonpath {
        if body.matches.is_some() {
            return None;
        }
        let names: Vec<&str> = path.strip_prefix("$.")?.split('.').collect();
        let mut value = json!(rng.random_range(1..10_000));
        for name in names.iter().rev() {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return None;
            }
            value = json!({ *name: value });
        }
        doc.extend(value.as_object()?.clone());
    } else {
        return None;
    }
    doc.insert("requestedBy".into(), json!(format!("user-{}", rng.random_range(1..500))));
    doc.insert("amount".into(), json!(rng.random_range(1..100_000) as f64 / 100.0));
    doc.insert("tags".into(), json!(["web", "checkout"]));
    serde_json::to_vec(&Value::Object(doc)).ok()
}
