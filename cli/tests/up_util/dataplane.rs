//! `mockplane dataplane` run as a process on ephemeral ports, read through its JSON log, and
//! killed when the test ends (or fails) with it.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// A running `mockplane dataplane`.
pub struct DataPlane {
    child: Child,
    /// `http://ip:port` of its traffic listener.
    pub listen: String,
    /// `http://ip:port` of its admin listener.
    pub admin: String,
    /// Its log lines so far, and the rest as they come.
    log: Vec<String>,
    lines: Receiver<String>,
}

impl DataPlane {
    /// One fed by the control plane at `xds` (one worker, reporting every 0.2 s, its snapshot
    /// in `state_dir`).
    pub fn start(xds: &str, environment: &str, state_dir: &Path) -> DataPlane {
        let state_dir = state_dir.as_os_str();
        DataPlane::spawn(&[
            OsStr::new("--control-plane"),
            OsStr::new(xds),
            OsStr::new("--environment"),
            OsStr::new(environment),
            OsStr::new("--report-interval"),
            OsStr::new("0.2"),
            OsStr::new("--state-dir"),
            state_dir,
        ])
    }

    /// `mockplane --log-format json dataplane ARGS` with both listeners on ephemeral loopback
    /// ports and one worker; returns once it has announced both.
    pub fn spawn<S: AsRef<OsStr>>(args: &[S]) -> DataPlane {
        let mut child = super::mockplane()
            .args(["--log-format", "json", "dataplane"])
            .args(args)
            .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--workers", "1"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("mockplane dataplane starts");
        let stderr = child.stderr.take().expect("piped");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut dp = DataPlane { child, listen: String::new(), admin: String::new(), log: Vec::new(), lines };
        let field = |line: &str, name: &str| {
            let log: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
            let address = log["fields"][name].as_str().or(log[name].as_str()).expect("an address");
            format!("http://{address}")
        };
        let listen = dp.until_logged(&["data plane serving"]);
        dp.listen = field(&listen, "listen");
        let admin = dp.until_logged(&["admin endpoints serving"]);
        dp.admin = field(&admin, "admin");
        dp
    }

    /// Waits (up to 20 s) for a log line holding every one of `words`, one logged earlier
    /// included; the line.
    pub fn until_logged(&mut self, words: &[&str]) -> String {
        let holds = |line: &String| words.iter().all(|w| line.contains(w));
        if let Some(line) = self.log.iter().find(|l| holds(l)) {
            return line.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("no log line with {words:?} ({e}); got {:#?}", self.log));
            self.log.push(line.clone());
            if holds(&line) {
                return line;
            }
        }
    }
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
