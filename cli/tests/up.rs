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
