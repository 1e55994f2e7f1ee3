//! Response templates with block helpers and WireMock's helpers, answered end to end over TCP:
//! the rules file is loaded by a real data plane, a real client sends requests, and the bodies
//! and headers are what the templates say.

mod util;

use mockplane_dataplane::IoDriver;
use serde_json::json;
use util::{client, Server};

both_drivers!(blocks_and_helpers_render_per_request);

const RULES: &str = r#"
rules:
  - id: order
    match: { method: POST, path: "/orders/{id}" }
    response:
      status: 201
      template: true
      headers:
        content-type: application/json
        x-kind: "{{#if (gt (size (jsonPath request.body '$.items')) 1)}}multi{{else}}single{{/if}}"
        x-user: "{{upper (regexExtract request.headers.authorization '[a-z]+$' default='nobody')}}"
      body: |-
        {{parseJson request.body 'order'~}}
        {"id": {{request.path.id}},
         "lines": [{{#each order.items}}{"sku": "{{sku}}", "n": {{@index}}, "total": {{math price '*' qty}}}{{#unless @last}}, {{/unless}}{{/each}}],
         "tags": [{{#each request.query.tag}}"{{this}}"{{#unless @last}},{{/unless}}{{else}}"none"{{/each}}],
         "rush": {{#eq request.query.rush.[0] 'yes'}}true{{else}}false{{/eq}},
         "note": "{{#if order.note}}{{trim order.note}}{{else if (contains request.path '/7')}}seven{{else}}-{{/if}}",
         "token": "{{{base64 request.path.id}}}",
         "segments": {{size request.pathSegments}}}
"#;

fn blocks_and_helpers_render_per_request(driver: IoDriver) {
    let server = Server::start(driver, RULES);
    let http = client();

    let r = http
        .post(server.url("/orders/7?tag=new&tag=hot&rush=yes"))
        .header("Authorization", "Bearer ann")
        .body(r#"{"items":[{"sku":"a-1","price":1.5,"qty":2},{"sku":"b-2","price":10,"qty":3}],"note":"  gift  "}"#)
        .send()
        .expect("the data plane answers");
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(r.headers()["x-kind"], "multi");
    assert_eq!(r.headers()["x-user"], "ANN");
    let body: serde_json::Value = r.json().expect("the rendered body is JSON");
    assert_eq!(
        body,
        json!({
            "id": 7,
            "lines": [{"sku": "a-1", "n": 0, "total": 3.0}, {"sku": "b-2", "n": 1, "total": 30}],
            "tags": ["new", "hot"],
            "rush": true,
            "note": "gift",
            "token": "Nw==",
            "segments": 2
        })
    );

    // Another request through the same rule takes the other branches.
    let r = http
        .post(server.url("/orders/7"))
        .body(r#"{"items":[{"sku":"c-3","price":2,"qty":2}]}"#)
        .send()
        .expect("the data plane answers");
    assert_eq!(r.headers()["x-kind"], "single");
    assert_eq!(r.headers()["x-user"], "NOBODY");
    let text = r.text().expect("a body");
    assert_eq!(
        text,
        "{\"id\": 7,\n \"lines\": [{\"sku\": \"c-3\", \"n\": 0, \"total\": 4}],\n \"tags\": [\"none\"],\n \"rush\": false,\n \"note\": \"seven\",\n \"token\": \"Nw==\",\n \"segments\": 2}"
    );
}
