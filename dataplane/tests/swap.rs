//! Swapping the rules while serving: through the snapshot store under load, and by editing
//! the rules file on disk.

mod util;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mockplane_dataplane::IoDriver;
use serde_json::json;
use util::{Conn, Server};

both_drivers!(
    swaps_under_load_lose_no_request,
    rules_file_edits_are_reloaded,
    a_replaced_table_is_freed_off_the_workers
);

fn version(body: &str) -> String {
    format!(
        r#"
rules:
  - id: answer
    match: {{ method: GET, path: "/v/{{n}}" }}
    response: {{ body: "{body}" }}
  - id: templated
    match: {{ method: POST, path: /t }}
    response: {{ template: true, body: "{body} {{{{request.body}}}}" }}
"#
    )
}

fn swaps_under_load_lose_no_request(driver: IoDriver) {
    const BODIES: [&str; 2] = ["version-one", "version-two-longer"];
    let server = Server::start(driver, &version(BODIES[0]));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (addr, stop) = (server.addr(), stop.clone());
            std::thread::spawn(move || {
                let mut conn = Conn::open(addr);
                let mut seen = BTreeSet::new();
                let started = Instant::now();
                let mut n = 0;
                // Until the swaps are done (a bound in case the main thread dies).
                while started.elapsed() < Duration::from_secs(20) && !stop.load(Ordering::Relaxed) {
                    let (request, suffix) = if n % 4 == 3 {
                        (
                            format!("POST /t HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\n\r\n{:02}", n % 100),
                            format!(" {:02}", n % 100),
                        )
                    } else {
                        (format!("GET /v/{c}-{n} HTTP/1.1\r\nhost: t\r\n\r\n"), String::new())
                    };
                    let r = conn
                        .try_request(request.as_bytes())
                        .unwrap_or_else(|e| panic!("client {c}, request {n}: {e}"));
                    let text = r.text();
                    let body = text
                        .strip_suffix(&suffix)
                        .unwrap_or_else(|| panic!("client {c}, request {n}: {text:?}"));
                    assert_eq!(r.status, 200, "client {c}, request {n}: {text:?}");
                    assert!(
                        BODIES.contains(&body),
                        "client {c}, request {n}: body {text:?} is neither version"
                    );
                    seen.insert(body.to_owned());
                    n += 1;
                }
                (n, seen)
            })
        })
        .collect();
    // Twenty swaps, one every 20 ms, while the clients run; then the clients stop. (They used
    // to stop after 2,000 requests, which a fast run finished before ten swaps.)
    let mut last = (1, BODIES[0]);
    let mut swaps = 0;
    while swaps < 20 && !clients.iter().any(|c| c.is_finished()) {
        std::thread::sleep(Duration::from_millis(20));
        swaps += 1;
        let body = BODIES[swaps % 2];
        last = (server.install(&version(body)), body);
    }
    stop.store(true, Ordering::Relaxed);
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for c in clients {
        let (n, s) = c.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        total += n;
        seen.extend(s);
    }
    assert_eq!(swaps, 20, "a client stopped before the swaps were done");
    assert!(total >= 400, "only {total} requests were answered");
    assert_eq!(seen.len(), 2, "the clients never saw both versions: {seen:?}");
    // The last version is in force, and /config says so.
    assert_eq!(server.get("/v/after").text(), last.1);
    let config = server.admin_json("/config");
    assert_eq!(config["version"], last.0, "{config}");
    assert_eq!(config["rule_set"]["rules"][0]["response"]["body"], last.1, "{config}");
}

fn rules_file_edits_are_reloaded(driver: IoDriver) {
    let one = r#"
rules:
  - id: greeting
    match: { method: GET, path: /greeting }
    response: { body: "hello, one" }
"#;
    let server = Server::start(driver, one);
    assert_eq!(server.get("/greeting").text(), "hello, one");
    assert_eq!(server.admin_json("/config")["version"], 1);

    // A valid edit is picked up.
    let two = one.replace("hello, one", "hello, two!").replace("/greeting }", "/greeting }\n    priority: 1");
    std::fs::write(server.rules_path(), &two).unwrap();
    util::poll_until("the edited rules to serve", Duration::from_secs(2), || {
        (server.get("/greeting").text() == "hello, two!").then_some(())
    });
    assert_eq!(server.admin_json("/config")["version"], 2);

    // An invalid edit is refused, and the previous rules keep serving.
    std::fs::write(server.rules_path(), one.replace("path: /greeting", "path: /greeting, stauts: 7"))
        .unwrap();
    let watched_until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < watched_until {
        let r = server.get("/greeting");
        assert_eq!((r.status, r.text().as_str()), (200, "hello, two!"), "after an invalid edit");
        std::thread::sleep(Duration::from_millis(25));
    }
    let config = server.admin_json("/config");
    assert_eq!(config["version"], 2, "an invalid edit changed the version: {config}");
    // /readyz stays ready, and says the file on disk was refused and what serves instead.
    let ready = util::poll_until("/readyz to show the refusal", Duration::from_secs(2), || {
        let r = server.admin_get("/readyz");
        assert_eq!(r.status, 200, "still ready: the previous rules serve");
        let ready = r.json();
        (!ready["rules_file"]["refused_edit"].is_null()).then_some(ready)
    });
    let refused = &ready["rules_file"]["refused_edit"];
    assert!(refused["error"].as_str().unwrap().contains("rules[0].match.stauts"), "{ready}");
    assert_eq!((ready["version"].clone(), refused["serving_version"].clone()), (json!(2), json!(2)));

    // Fixing the file is picked up again.
    std::fs::write(server.rules_path(), one.replace("hello, one", "hello, three")).unwrap();
    util::poll_until("the fixed rules to serve", Duration::from_secs(2), || {
        (server.get("/greeting").text() == "hello, three").then_some(())
    });
    assert_eq!(server.admin_json("/config")["version"], 3);
    let ready = server.admin_json("/readyz");
    assert_eq!(ready["rules_file"]["refused_edit"], json!(null), "a good edit clears the refusal: {ready}");
    assert!(ready["rules_file"]["path"].as_str().unwrap().ends_with(".yaml"), "{ready}");
}

/// A worker lets go of the table it served from at its next request; the table is then freed
/// by the thread that installs (`reap`), not by the worker in the middle of that request.
fn a_replaced_table_is_freed_off_the_workers(driver: IoDriver) {
    let server = Server::start_with(driver, None, |c| c.workers = 1);
    server.install(&version("one"));
    assert_eq!(server.get("/v/1").text(), "one");
    server.install(&version("two"));
    let store = server.dp().store();
    assert_eq!(store.retired(), 1, "the worker still holds the first table, so it is kept, not freed");
    assert_eq!(server.get("/v/1").text(), "two");
    // The worker now holds only the second table: the first one is ours alone to free.
    store.reap();
    assert_eq!(store.retired(), 0);
}
