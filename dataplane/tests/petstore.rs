//! The example rule set, served: each request the comments at the top of
//! `examples/petstore.yaml` suggest trying, sent over HTTP to a real data plane serving that
//! file, gets the answer the file's rules promise.

mod util;

use std::path::PathBuf;

use mockplane_dataplane::IoDriver;
use reqwest::blocking::Response;
use serde_json::{json, Value};
use util::{client, Server};

fn petstore() -> Server {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/petstore.yaml");
    Server::start_with(IoDriver::Auto, None, |c| c.rules = Some(file))
}

/// The status and JSON body of a response.
fn status_json(r: Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().expect("a body");
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}")))
}

#[test]
fn the_pets_are_listed_filtered_and_fetched_by_id() {
    let server = petstore();
    let http = client();
    let (status, pets) = status_json(http.get(server.url("/pets?status=available")).send().unwrap());
    assert_eq!(status, 200);
    let names: Vec<&str> = pets.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Rex", "Tom"]);

    let (status, pet) = status_json(http.get(server.url("/pets/42")).send().unwrap());
    assert_eq!(
        (status, pet),
        (200, json!({"id": "42", "name": "Pet 42", "species": "dog", "status": "available"}))
    );
    let (status, missing) = status_json(http.get(server.url("/pets/0")).send().unwrap());
    assert_eq!((status, missing), (404, json!({"error": "pet 0 not found"})));
}

#[test]
fn creating_a_pet_echoes_it_and_a_duplicate_conflicts() {
    let server = petstore();
    let http = client();
    let post = |body: &str| {
        http.post(server.url("/pets"))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .unwrap()
    };
    let created = post(r#"{"name":"Tom"}"#);
    assert_eq!(created.status().as_u16(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let id: u32 =
        location.strip_prefix("/pets/").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{location}"));
    assert!((100..1000).contains(&id), "{location}");
    let (_, body) = status_json(created);
    assert_eq!((body["name"].as_str(), body["status"].as_str()), (Some("Tom"), Some("available")));

    assert_eq!(
        status_json(post(r#"{"name":"Rex"}"#)),
        (409, json!({"error": "a pet named Rex already exists"}))
    );
    let plain =
        http.post(server.url("/pets")).header("content-type", "text/plain").body("Tom").send().unwrap();
    assert_eq!(status_json(plain), (415, json!({"error": "send application/json"})));
    assert_eq!(status_json(post(r#"{"nickname":"Tom"}"#)).0, 400);
}

#[test]
fn an_order_is_placed_then_paid_once() {
    let server = petstore();
    let http = client();
    let get = || status_json(http.get(server.url("/orders/1001")).send().unwrap());
    let pay = || status_json(http.post(server.url("/orders/1001/pay")).send().unwrap());
    assert_eq!(get(), (200, json!({"id": "1001", "status": "placed"})));
    assert_eq!(pay(), (200, json!({"id": "1001", "status": "paid"})));
    assert_eq!(get(), (200, json!({"id": "1001", "status": "paid"})));
    assert_eq!(pay(), (409, json!({"error": "order 1001 is already paid"})));
}

#[test]
fn adoption_is_pending_twice_then_approved_and_a_pet_is_deleted_once() {
    let server = petstore();
    let http = client();
    let statuses: Vec<Value> = (0..4)
        .map(|_| status_json(http.get(server.url("/pets/7/adoption")).send().unwrap()).1["status"].clone())
        .collect();
    assert_eq!(statuses, ["pending", "pending", "approved", "approved"]);

    assert_eq!(http.delete(server.url("/pets/7")).send().unwrap().status().as_u16(), 204);
    let again = http.delete(server.url("/pets/7")).send().unwrap();
    assert_eq!(status_json(again), (404, json!({"error": "pet already deleted"})));
}

#[test]
fn the_admin_routes_need_the_demo_key() {
    let server = petstore();
    let http = client();
    let refused = http.get(server.url("/admin/stats")).send().unwrap();
    assert_eq!(refused.headers()["www-authenticate"], "ApiKey header=x-api-key");
    assert_eq!(status_json(refused), (401, json!({"error": "missing or wrong x-api-key"})));
    let allowed = http.get(server.url("/admin/stats")).header("x-api-key", "demo-key").send().unwrap();
    assert_eq!(status_json(allowed), (200, json!({"ok": true})));
}
