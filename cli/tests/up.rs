//! `mockplane up`, run as a process as the README says (on ephemeral ports): the first start
//! creates default/default with the demo rules and prints an admin key once; the data plane
//! answers over the real xDS link; a second start on the same folder finds everything and
//! prints no key; `--rules` and `--api-key` take effect on a first start.

mod up_util;

use up_util::{get, Up};

#[test]
fn the_first_start_serves_the_demo_and_prints_a_key_once_and_a_restart_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let up = Up::start(dir.path(), &[]);
    let key = up.key().expect("an admin key on first start");
    assert!(key.len() > 40, "{key}");
    let mocks = up.url("mocks");
    let (status, pets) = get(&format!("{mocks}/pets"));
    assert_eq!(status, 200);
    assert!(pets.contains("Rex") && pets.contains("Polly"), "{pets}");
    let (status, ready) = get(&format!("{}/readyz", up.url("data plane admin")));
    assert_eq!(status, 200);
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    assert_eq!(ready["control_plane"]["connected"], true, "{ready}");
    assert!(ready["version"].as_str().is_some_and(|v| v.starts_with("1-")), "{ready}");
    up.stop();

    let again = Up::start(dir.path(), &[]);
    assert_eq!(again.key(), None, "the key is printed once: {:?}", again.banner);
    let (status, pets) = get(&format!("{}/pets", again.url("mocks")));
    assert_eq!((status, pets.contains("Rex")), (200, true));
    again.stop();
    assert!(dir.path().join("mockplane.db").exists());
}

#[test]
fn a_first_start_takes_rules_and_a_key_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("mine.yaml");
    std::fs::write(
        &rules,
        "rules:\n  - id: hello\n    match: { path: /hello }\n    response: { body: hi }\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let up =
        Up::start(&data, &["--rules", rules.to_str().unwrap(), "--api-key", "a-key-chosen-by-the-operator"]);
    assert_eq!(up.key(), None, "a given key is not printed: {:?}", up.banner);
    let mocks = up.url("mocks");
    assert_eq!(get(&format!("{mocks}/hello")), (200, "hi".to_owned()));
    assert_eq!(get(&format!("{mocks}/pets")).0, 404, "not the demo");
    up.stop();
}

#[test]
fn without_its_data_plane_up_is_a_control_plane_that_separate_data_planes_follow() {
    let dir = tempfile::tempdir().unwrap();
    let key = "a-key-for-a-control-plane-only";
    let up = Up::start(&dir.path().join("data"), &["--no-dataplane", "--api-key", key]);
    assert!(up.banner.iter().any(|l| l.contains("none (--no-dataplane)")), "{:?}", up.banner);
    assert!(!up.banner.iter().any(|l| l.trim_start().starts_with("mocks")), "{:?}", up.banner);
    let me: serde_json::Value = reqwest::blocking::Client::new()
        .post(up.url("GraphQL admin API"))
        .bearer_auth(key)
        .json(&serde_json::json!({"query": "{ whoami { keyName } }"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(me["data"]["whoami"]["keyName"], "admin", "{me}");
    // A data plane of its own process serves the demo from it.
    let mut dp = std::process::Command::new(env!("CARGO_BIN_EXE_mockplane"))
        .args(["dataplane", "--control-plane", &up.url("xDS"), "--environment", "default/default"])
        .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--workers", "1", "--log-format", "json"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(dp.stderr.take().unwrap());
    let listen = std::io::BufRead::lines(stderr)
        .map_while(Result::ok)
        .find(|l| l.contains("data plane serving"))
        .and_then(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .and_then(|l| l["fields"]["listen"].as_str().map(str::to_owned))
        .expect("the data plane's listener");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while get(&format!("http://{listen}/pets")).0 != 200 {
        assert!(std::time::Instant::now() < deadline, "the demo never served");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = dp.kill();
    let _ = dp.wait();
    up.stop();
}
