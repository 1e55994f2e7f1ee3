//! `mockplane up --database-url postgres://…`, run as a process against a real PostgreSQL (the
//! tests' own server: controlplane/src/test_postgres.rs): the store is the database, not the
//! data folder, so a start on another folder finds everything; a server that cannot be
//! reached is refused at once, saying where and why.

mod up_util;

#[path = "../../controlplane/src/test_postgres.rs"]
#[allow(dead_code)] // `run_sql` is for other tests
mod test_postgres;

use std::process::Command;

use up_util::{get, Up};

#[test]
fn the_store_lives_in_postgres_so_a_start_on_another_folder_finds_everything() {
    let url = test_postgres::database();
    let first = tempfile::tempdir().unwrap();
    let up = Up::start(first.path(), &["--database-url", &url]);
    assert!(up.key().is_some(), "a key on first start: {:?}", up.banner);
    let store = up.banner.iter().find(|l| l.trim_start().starts_with("store ")).unwrap();
    assert!(store.contains("postgres://postgres@127.0.0.1:"), "{store}");
    let (status, pets) = get(&format!("{}/pets", up.url("mocks")));
    assert_eq!((status, pets.contains("Rex")), (200, true), "{pets}");
    up.stop();
    assert!(!first.path().join("mockplane.db").exists(), "no SQLite file beside a PostgreSQL store");

    let second = tempfile::tempdir().unwrap();
    let again = Up::start(second.path(), &["--database-url", &url]);
    assert_eq!(again.key(), None, "the store already has a key: {:?}", again.banner);
    let (status, pets) = get(&format!("{}/pets", again.url("mocks")));
    assert_eq!((status, pets.contains("Rex")), (200, true));
    again.stop();
}

#[test]
fn an_unreachable_server_or_a_bad_url_is_refused_with_what_is_wrong() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    for (url, expected) in [
        (
            format!("postgres://mp:hunter2@127.0.0.1:{port}/mockplane"),
            "cannot connect to postgres://mp:***@127.0.0.1",
        ),
        ("mysql://db/mockplane".to_owned(), "scheme \"mysql\" is not supported"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_mockplane"))
            .args(["up", "--data-dir"])
            .arg(dir.path())
            .args(["--database-url", &url, "--api-listen", "127.0.0.1:0", "--xds-listen", "127.0.0.1:0"])
            .output()
            .expect("mockplane up runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{url}: {stderr}");
        assert!(stderr.contains("--database-url") && stderr.contains(expected), "{url}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
}
