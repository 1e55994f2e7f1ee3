//! Shared helpers of the data plane's integration tests: a real server on ephemeral loopback
//! ports, a raw-socket HTTP/1.1 client that shows exactly what went over the wire, a
//! `reqwest` client, and a bounded poll-until.
//!
//! Every test file does `mod util;` and uses what it needs, hence the `dead_code` allowance.

#![allow(dead_code)]

pub mod upstream;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mockplane_dataplane::{DataPlaneConfig, IoDriver, RunningDataPlane, SnapshotStore};
use mockplane_rules::{Format, RuleSet};

/// How long any single socket operation of a test may block.
pub const IO_TIMEOUT: Duration = Duration::from_secs(3);

/// Writes each test once as `fn name(driver: IoDriver)` and runs it on both drivers:
/// `both_drivers!(pipelining)` makes the tests `pipelining::uring` and `pipelining::epoll`.
#[macro_export]
macro_rules! both_drivers {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[test]
                fn uring() {
                    super::$name(mockplane_dataplane::IoDriver::Uring)
                }
                #[test]
                fn epoll() {
                    super::$name(mockplane_dataplane::IoDriver::Epoll)
                }
            }
        )+
    };
}

/// The configuration every test starts from: loopback, ephemeral ports, two unpinned workers.
pub fn config(driver: IoDriver) -> DataPlaneConfig {
    DataPlaneConfig {
        rules: None,
        listen: "127.0.0.1:0".parse().unwrap(),
        admin: "127.0.0.1:0".parse().unwrap(),
        workers: 2,
        pin_workers: false,
        io_driver: driver,
        drain_timeout: Duration::from_secs(3),
        reload_interval: Duration::from_millis(50),
        ..Default::default()
    }
}

/// A running data plane and the temporary folder its rules file lives in. Shut down on drop.
pub struct Server {
    dp: Option<RunningDataPlane>,
    dir: tempfile::TempDir,
    pub driver: IoDriver,
}

impl Server {
    /// A server whose rules file holds `yaml`.
    pub fn start(driver: IoDriver, yaml: &str) -> Server {
        Server::start_with(driver, Some(yaml), |_| {})
    }

    /// A server whose rules file holds `yaml` (none when `None`), with `tweak` applied to the
    /// configuration first.
    pub fn start_with(
        driver: IoDriver,
        yaml: Option<&str>,
        tweak: impl FnOnce(&mut DataPlaneConfig),
    ) -> Server {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut config = config(driver);
        if let Some(yaml) = yaml {
            let path = dir.path().join("rules.yaml");
            std::fs::write(&path, yaml).expect("write the rules file");
            config.rules = Some(path);
        }
        tweak(&mut config);
        let dp = mockplane_dataplane::start(config, SnapshotStore::new())
            .unwrap_or_else(|e| panic!("the data plane did not start on {driver:?}: {e}"));
        Server { dp: Some(dp), dir, driver }
    }

    pub fn dp(&self) -> &RunningDataPlane {
        self.dp.as_ref().expect("running")
    }

    /// Where traffic is served.
    pub fn addr(&self) -> SocketAddr {
        self.dp().listen_addr()
    }

    /// Where the admin endpoints are served.
    pub fn admin(&self) -> SocketAddr {
        self.dp().admin_addr()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// The rules file the server was started with (it may not exist yet).
    pub fn rules_path(&self) -> PathBuf {
        self.dir.path().join("rules.yaml")
    }

    /// Parses `yaml` and swaps it in through the snapshot store; returns the new version.
    pub fn install(&self, yaml: &str) -> u64 {
        let rules = RuleSet::parse(yaml, Format::Yaml).unwrap_or_else(|e| panic!("test rules refused: {e}"));
        self.dp()
            .store()
            .install(rules, "test".into(), Some(self.dir.path().to_owned()))
            .unwrap_or_else(|e| panic!("test rules refused: {e}"))
    }

    /// `GET path` on a new connection.
    pub fn get(&self, path: &str) -> Response {
        Conn::open(self.addr()).request(&get(path))
    }

    /// `GET path` of the admin listener, on a new connection.
    pub fn admin_get(&self, path: &str) -> Response {
        Conn::open(self.admin()).request(&get(path))
    }

    /// The admin endpoint's JSON.
    pub fn admin_json(&self, path: &str) -> serde_json::Value {
        let r = self.admin_get(path);
        assert_eq!(r.status, 200, "GET {path} on the admin listener: {}", r.text());
        r.json()
    }

    /// `/metrics`, as text.
    pub fn metrics(&self) -> String {
        let r = self.admin_get("/metrics");
        assert_eq!(r.status, 200);
        r.text()
    }

    /// `/journal?query`'s entries.
    pub fn journal(&self, query: &str) -> Vec<serde_json::Value> {
        let j = self.admin_json(&format!("/journal?{query}"));
        j["entries"].as_array().expect("entries").clone()
    }

    /// Asks for a graceful shutdown and waits for it.
    pub fn shutdown(mut self) {
        if let Some(dp) = self.dp.take() {
            dp.shutdown();
        }
    }

    /// Checks that the server still answers a normal request correctly on a new connection.
    /// The rules must have `GET /ok` → 200 `ok`.
    pub fn assert_serving(&self, after: &str) {
        let r = Conn::open(self.addr()).try_request(&get("/ok"));
        match r {
            Ok(r) => {
                assert_eq!(
                    (r.status, r.text().as_str()),
                    (200, "ok"),
                    "after {after}, GET /ok was not answered well"
                )
            }
            Err(e) => panic!("after {after}, GET /ok failed: {e}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(dp) = self.dp.take() {
            dp.shutdown();
        }
    }
}

/// A rule answering `GET /ok` with `ok`, to append to a rules file.
pub const OK_RULE: &str = r#"
  - id: ok
    match: { method: GET, path: /ok }
    response: { status: 200, body: ok }
"#;

/// A minimal `GET path HTTP/1.1` request.
pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n").into_bytes()
}

/// A `reqwest` client that ignores proxy settings and never waits long.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build().expect("a client")
}

/// One response as read off the wire.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// The status line, without CRLF.
    pub status_line: String,
    /// Header fields in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// Every value of a header.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().filter(|(n, _)| *n == name).map(|(_, v)| v.as_str()).collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }
}

/// How a connection ended, as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// An orderly close (FIN).
    Eof,
    /// A reset (RST).
    Reset,
    /// Nothing more arrived within the time allowed, and the connection is still open.
    Open,
}

/// A raw client connection: writes exactly the bytes it is given, parses what comes back.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// A client over a stream connected by other means (e.g. with socket options set first).
    pub fn from_stream(stream: TcpStream) -> Conn {
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        Conn { stream, buf: Vec::new() }
    }

    pub fn open(addr: SocketAddr) -> Conn {
        let stream =
            TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Conn { stream, buf: Vec::new() }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap_or_else(|e| panic!("write: {e}"));
    }

    /// Sends `request` and reads one response.
    pub fn request(&mut self, request: &[u8]) -> Response {
        self.try_request(request).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn try_request(&mut self, request: &[u8]) -> Result<Response, String> {
        self.stream.write_all(request).map_err(|e| format!("write: {e}"))?;
        let head_only = request.starts_with(b"HEAD ");
        self.try_read_response(head_only)
    }

    /// Reads one response (of a request that was not `HEAD`).
    pub fn read_response(&mut self) -> Response {
        self.try_read_response(false).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Reads one response; `head_only` when it answers a `HEAD` (so it has no body).
    pub fn try_read_response(&mut self, head_only: bool) -> Result<Response, String> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().map_err(|e| format!("reading a response head (got {:?}): {e}", show(&self.buf)))?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end - 4]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default().to_owned();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        let status: u16 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        if !version.starts_with("HTTP/1.") || status == 0 {
            return Err(format!("not an HTTP/1.x status line: {status_line:?}"));
        }
        let mut headers = Vec::new();
        for line in lines {
            let (name, value) = line.split_once(':').ok_or_else(|| format!("bad header line {line:?}"))?;
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        self.buf.drain(..head_end);
        let mut response = Response { status, status_line, headers, body: Vec::new() };
        if head_only || status < 200 || status == 204 || status == 304 {
            return Ok(response);
        }
        if response.header("transfer-encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked")) {
            response.body = self.read_chunked()?;
        } else if let Some(len) = response.header("content-length") {
            let len: usize = len.parse().map_err(|_| format!("bad content-length {len:?}"))?;
            while self.buf.len() < len {
                self.fill()
                    .map_err(|e| format!("reading a body of {len} bytes (got {}): {e}", self.buf.len()))?;
            }
            response.body = self.buf.drain(..len).collect();
        } else {
            // Delimited by the close.
            while self.fill().is_ok() {}
            response.body = std::mem::take(&mut self.buf);
        }
        Ok(response)
    }

    fn read_chunked(&mut self) -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf, b"\r\n") {
                    break i;
                }
                self.fill().map_err(|e| format!("reading a chunk size: {e}"))?;
            };
            let line = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
            let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("bad chunk size line {line:?}"))?;
            self.buf.drain(..line_end + 2);
            while self.buf.len() < size + 2 {
                self.fill().map_err(|e| format!("reading chunk data: {e}"))?;
            }
            if size == 0 {
                // No trailers from this server: just the final CRLF.
                self.buf.drain(..2);
                return Ok(body);
            }
            body.extend(self.buf.drain(..size));
            if self.buf.drain(..2).as_slice() != b"\r\n" {
                return Err("missing CRLF after chunk data".into());
            }
        }
    }

    /// Reads more bytes into the buffer; an error at EOF.
    fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(ErrorKind::UnexpectedEof, "connection closed"));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Reads everything until the connection ends or `limit` passes: the bytes (including any
    /// not yet parsed) and how it ended.
    pub fn read_to_end(&mut self, limit: Duration) -> (Vec<u8>, End) {
        let deadline = Instant::now() + limit;
        let mut chunk = [0u8; 16 * 1024];
        let end = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break End::Open;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            match self.stream.read(&mut chunk) {
                Ok(0) => break End::Eof,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break End::Reset,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break End::Open,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!("read: {e}"),
            }
        };
        self.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        (std::mem::take(&mut self.buf), end)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Bytes as text for assertion messages, cut short.
pub fn show(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
    if bytes.len() > 300 {
        format!("{text}… ({} bytes)", bytes.len())
    } else {
        text
    }
}

/// Calls `f` every 20 ms until it returns `Some`, for at most `limit`.
pub fn poll_until<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("gave up after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The value of the sample `series` (a metric name with its labels, exactly as exposed) in
/// Prometheus text.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}
