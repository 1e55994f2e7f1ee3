//! What the CLI's process tests share: `mockplane up` run as a process on ephemeral ports
//! (unless given), read through its banner; `mockplane dataplane` likewise ([`DataPlane`]); the
//! client commands run against it ([`Cli`]). Each child process is killed when its guard drops,
//! so a failing test leaves none behind.

#![allow(dead_code, unused_imports)] // each test file uses its own part

mod cli;
mod dataplane;

pub use cli::{graphql, text, until_answers, Cli};
pub use dataplane::DataPlane;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The `mockplane` binary, with no `RUST_LOG` of the test's (its output is asserted).
pub fn mockplane() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mockplane"));
    c.env_remove("RUST_LOG");
    c
}

/// A running `mockplane up`, killed if a test fails before stopping it.
pub struct Up {
    pub child: Child,
    pub banner: Vec<String>,
}

impl Up {
    /// Starts `mockplane up` on `data_dir` with `extra` arguments; each listener not given in
    /// `extra` is on an ephemeral port.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Up {
        let defaults = [
            ("--xds-listen", "127.0.0.1:0"),
            ("--api-listen", "127.0.0.1:0"),
            ("--listen", "127.0.0.1:0"),
            ("--admin", "127.0.0.1:0"),
            ("--workers", "1"),
        ];
        let mut child = mockplane()
            .args(["up", "--data-dir"])
            .arg(data_dir)
            .args(
                defaults
                    .iter()
                    .filter(|(flag, _)| !extra.contains(flag))
                    // Without a data plane, its flags are refused.
                    .filter(|(flag, _)| {
                        !(extra.contains(&"--no-dataplane")
                            && ["--listen", "--admin", "--workers"].contains(flag))
                    })
                    .flat_map(|(f, v)| [*f, *v]),
            )
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

    pub fn url(&self, what: &str) -> String {
        let line = self
            .banner
            .iter()
            .find(|l| l.trim_start().starts_with(what))
            .unwrap_or_else(|| panic!("no {what:?} in {:?}", self.banner));
        line.split_whitespace().find(|w| w.starts_with("http://")).expect("a URL").to_owned()
    }

    pub fn key(&self) -> Option<String> {
        self.banner.iter().map(|l| l.trim()).find(|l| l.starts_with("mp_")).map(str::to_owned)
    }

    pub fn stop(mut self) {
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

/// `GET url`: status and body.
pub fn get(url: &str) -> (u16, String) {
    send("GET", url)
}

/// A request with no body: status and body of the answer.
pub fn send(method: &str, url: &str) -> (u16, String) {
    let client =
        reqwest::blocking::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().unwrap();
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let r = client.request(method.clone(), url).send().unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    (r.status().as_u16(), r.text().unwrap())
}
