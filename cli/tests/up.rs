//! `mockplane up`, run as a process as the README says (on ephemeral ports): the first start
//! creates default/default with the demo rules and prints an admin key once; the data plane
//! answers over the real xDS link; a second start on the same folder finds everything and
//! prints no key; `--rules` and `--api-key` take effect on a first start.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `mockplane up`, killed if a test fails before stopping it.
struct Up {
    child: Child,
    banner: Vec<String>,
}

impl Up {
    fn start(data_dir: &Path, extra: &[&str]) -> Up {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mockplane"))
            .args(["up", "--data-dir"])
            .arg(data_dir)
            .args([
                "--xds-listen",
                "127.0.0.1:0",
                "--listen",
                "127.0.0.1:0",
                "--admin",
                "127.0.0.1:0",
                "--workers",
                "1",
            ])
            .args(extra)
            .env_remove("MOCKPLANE_API_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mockplane up starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        // The banner is printed at once, once the data plane serves: up to its `store` line,
        // then the key's lines when there is a key.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut banner = Vec::new();
        while !banner.iter().any(|l: &String| l.trim_start().starts_with("store ")) {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => banner.push(line),
                Err(e) => panic!("no banner from mockplane up ({e}); got {banner:?}"),
            }
        }
        while let Ok(line) = lines.recv_timeout(Duration::from_millis(300)) {
            banner.push(line);
        }
        Up { child, banner }
    }

    fn url(&self, what: &str) -> String {
        let line = self
            .banner
            .iter()
            .find(|l| l.trim_start().starts_with(what))
            .unwrap_or_else(|| panic!("no {what:?} in {:?}", self.banner));
        line.split_whitespace().find(|w| w.starts_with("http://")).expect("a URL").to_owned()
    }

    fn key(&self) -> Option<String> {
        self.banner.iter().map(|l| l.trim()).find(|l| l.starts_with("mp_")).map(str::to_owned)
    }

    fn stop(mut self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid fits");
        // SAFETY: kill(2) with a pid this test spawned and has not reaped.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "mockplane up exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "mockplane up did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(url: &str) -> (u16, String) {
    let client =
        reqwest::blocking::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().unwrap();
    let r = client.get(url).send().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    (r.status().as_u16(), r.text().unwrap())
}

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
