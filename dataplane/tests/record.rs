//! Record mode against a real origin: forwarded exchanges become a rules file, and a data plane
//! serving that file, with no upstream at all, answers the same requests the same way. Both
//! drivers.

mod util;

use std::time::Duration;

use mockplane_dataplane::record::RecordSettings;
use mockplane_dataplane::IoDriver;
use util::upstream::Origin;
use util::{Conn, Server};

/// The requests replayed, each with what must come back alike.
const REQUESTS: &[&str] = &["/items/1?color=red&size=2", "/bytes/3000", "/chunked/20000", "/status/404"];

fn recorded_exchanges_replay_with_the_same_answers(driver: IoDriver) {
    let origin = Origin::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("recorded.yaml");
    let settings = RecordSettings { file: file.clone(), methods: vec!["GET".into()], path_prefix: None };
    let yaml = format!(
        "upstreams:\n  app: http://{}\nunmatched:\n  forward: {{ upstream: app }}\nrules: []\n",
        origin.addr
    );
    let recording = Server::start_with(driver, Some(&yaml), |c| c.record = Some(settings));
    let mut conn = Conn::open(recording.addr());
    let live: Vec<util::Response> = REQUESTS.iter().map(|path| conn.request(&util::get(path))).collect();
    // Twice: the first answer per request is kept, not one rule per exchange.
    for path in REQUESTS {
        conn.request(&util::get(path));
    }
    // Not a GET: not recorded.
    assert_eq!(conn.request(b"POST /items HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\n\r\n").status, 200);
    let text = util::poll_until("the recording has every GET", Duration::from_secs(5), || {
        let text = std::fs::read_to_string(&file).ok()?;
        (text.matches("id: recorded-").count() == REQUESTS.len()).then_some(text)
    });
    drop(recording);
    assert!(!text.contains("POST"), "{text}");

    // Served from the file alone: the origin is gone.
    drop(origin);
    let replay = Server::start(driver, &text);
    let mut conn = Conn::open(replay.addr());
    for (path, was) in REQUESTS.iter().zip(&live) {
        let now = conn.request(&util::get(path));
        assert_eq!(now.status, was.status, "{path}");
        assert_eq!(now.body, was.body, "{path}");
        for header in ["content-type", "x-origin"] {
            assert_eq!(now.header(header), was.header(header), "{path}: {header}");
        }
    }
    // The query is part of what a recorded rule matches.
    assert_eq!(conn.request(&util::get("/items/1?color=blue&size=2")).status, 404);
    assert_eq!(conn.request(b"POST /items HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\n\r\n").status, 404);
}

both_drivers!(recorded_exchanges_replay_with_the_same_answers);
