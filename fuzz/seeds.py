#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the fuzz targets into fuzz/work/seeds/<target>/.

The seeds are realistic inputs taken from the repository itself (the rules examples and the
rule snippets of docs/, the templates of docs/templates.md and of the template tests, JSON
bodies and JSONPaths from docs/rules.md) plus hand-written HTTP requests. The fuzzers start
from them; the minimised corpora that are kept in fuzz/corpus/ grow out of them. The xDS seeds
are the rules seeds encoded on the wire, by `cargo run -p mockplane-fuzz --example xds_seeds (after this script)`.
Run from the repository root.
"""

import hashlib
import json
import os
import re
import sys

import yaml

OUT = "fuzz/work/seeds"


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def blocks(path, lang):
    text = open(path).read()
    return re.findall(r"```" + lang + r"\n(.*?)```", text, re.S)


# --- rules: YAML files and snippets, and the same as JSON ---------------------------------
rules_texts = []
for name in sorted(os.listdir("examples")):
    if name.endswith(".yaml"):
        rules_texts.append(open(os.path.join("examples", name)).read())
for doc in ["docs/rules.md", "docs/templates.md", "README.md"]:
    rules_texts += [b for b in blocks(doc, "yaml") if "rules:" in b or "- id:" in b]
for text in rules_texts:
    if "rules:" not in text:
        text = "rules:\n" + text
    put("rules", text)
    try:
        put("rules", json.dumps(yaml.safe_load(text), indent=1))
    except Exception:
        pass
for doc in ["docs/rules.md"]:
    for b in blocks(doc, "json"):
        put("rules", b)

# --- templates ------------------------------------------------------------------------------
templates = set()
for doc in ["docs/templates.md", "docs/rules.md", "README.md"]:
    text = open(doc).read()
    templates.update(re.findall(r"`([^`\n]*\{\{[^`\n]*)`", text))
    for b in blocks(doc, "yaml"):
        for line in b.splitlines():
            m = re.search(r"(?:body|: )\s*['\"]?(.*\{\{.*?)['\"]?$", line)
            if m:
                templates.add(m.group(1))
for src in ["rules/src/template/tests.rs"]:
    text = open(src).read()
    for lit in re.findall(r'r#"(.*?)"#', text, re.S) + re.findall(r'"((?:[^"\\\n]|\\.)*\{\{(?:[^"\\\n]|\\.)*)"', text):
        try:
            templates.add(lit.encode().decode("unicode_escape") if "\\" in lit else lit)
        except Exception:
            templates.add(lit)
for t in sorted(templates):
    put("template", t)

# --- JSON bodies and body matchers -----------------------------------------------------------
bodies = [
    '{"user":{"id":42,"name":"Ada","tags":["a","b"]},"items":[{"sku":"x1","qty":2},{"sku":"y2","qty":1.5}],"ok":true,"n":null}',
    '[1, 2.5, -3, 1e3, "x", "caf\\u00e9", true, false, null, [], {}]',
    '{"a":1,"a":2}',
    '{"store":{"book":[{"category":"reference","author":"Nigel Rees","title":"Sayings","price":8.95},{"category":"fiction","author":"Evelyn Waugh","title":"Sword","price":12.99}],"bicycle":{"color":"red","price":19.95}}}',
    '{"query":"query Q($id: ID!) { user(id: $id) { name } }","variables":{"id":"7"},"operationName":"Q"}',
    '123456789012345678901234567890',
    '"just a string"',
    '{"deep":[[[[[[[[[[[[1]]]]]]]]]]]]}',
    'not json at all',
    '',
]
matchers = [
    '$.user.id',
    '$.items[0].sku',
    '$.store.book[?@.price < 10].title',
    '$..price',
    '$.items[*].qty',
    '$[?(@.a || @.b)]',
    '{"jsonpath":"$.user.name","matches":{"equals":"Ada"}}',
    '{"jsonpath":"$.items[?@.qty > 1]","matches":{"json":{"sku":"x1","qty":2}}}',
    '{"json":{"user":{"id":42}},"ignore_extra_elements":true}',
    '{"json":[2,1],"ignore_array_order":true}',
    '{"and":[{"contains":"Ada"},{"jsonpath":"$.ok"}]}',
    '{"or":[{"regex":"(?s).*x1.*"},{"not":{"jsonpath":"$.missing"}}]}',
    '{"not":{"json":{"a":2}}}',
    '{"jsonpath":"$.user.tags[1]","matches":{"regex":"[ab]"}}',
]
for i, m in enumerate(matchers):
    for body in bodies[i % 3:: 3]:
        put("json_body", m + "\n" + body)
for doc in ["docs/rules.md"]:
    for b in blocks(doc, "json"):
        put("json_body", "$\n" + b)

# --- HTTP requests ---------------------------------------------------------------------------
CRLF = "\r\n"


def req(*lines, body=""):
    return CRLF.join(lines) + CRLF + CRLF + body


http = [
    req("GET / HTTP/1.1", "Host: localhost:8080"),
    req("GET /users/42?page=2&tag=a HTTP/1.1", "Host: api.example.com", "User-Agent: curl/8.5.0", "Accept: */*"),
    req("POST /orders HTTP/1.1", "Host: shop", "Content-Type: application/json", "Content-Length: 13", body='{"sku":"x1"}\n'),
    req("POST /upload HTTP/1.1", "Host: x", "Transfer-Encoding: chunked", body="5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"),
    req("PUT /a HTTP/1.1", "Host: x", "Transfer-Encoding: chunked", "Expect: 100-continue", body="A\r\n0123456789\r\n0\r\n\r\n"),
    req("GET / HTTP/1.0"),
    req("GET / HTTP/1.0", "Connection: keep-alive"),
    req("GET /a HTTP/1.1", "Host: x") + req("GET /b HTTP/1.1", "Host: x", "Connection: close"),
    req("GET http://example.com/path?q=1 HTTP/1.1", "Host: example.com"),
    req("OPTIONS * HTTP/1.1", "Host: x"),
    "\r\n" + req("GET / HTTP/1.1", "Host: x"),
    req("GET / HTTP/1.1", "Host: x", "Cookie: a=1; b=2", "X-Multi: one", "X-Multi: two", "X-Obs: caf\xe9"),
    req("POST / HTTP/1.1", "Host: x", "Content-Length: 5, 5", body="abcde"),
    req("POST / HTTP/1.1", "Host: x", "Content-Length: 3", "Transfer-Encoding: chunked", body="abc"),
    req("POST / HTTP/1.1", "Host: x", "Transfer-Encoding: gzip, chunked"),
    req("GET / HTTP/1.1", "Host: a", "Host: b"),
    "GET / HTTP/1.1\nHost: x\n\n",
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    req("GET / HTTP/1.1"),
    req("POST / HTTP/1.1", "Host: x", "Transfer-Encoding: chunked", body="ffffffffffffffffff\r\n"),
    req("POST / HTTP/1.1", "Host: x", "Transfer-Encoding: chunked", body="3 ;a=b\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n"),
    req("GET /" + "a" * 300 + " HTTP/1.1", *["X-H%d: v" % i for i in range(12)], "Host: x"),
    "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nshort",
]
for h in http:
    put("http", h.encode("latin-1"))

print({t: len(os.listdir(os.path.join(OUT, t))) for t in os.listdir(OUT) if os.path.isdir(os.path.join(OUT, t))}, file=sys.stderr)
