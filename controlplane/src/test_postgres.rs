//! A real PostgreSQL server for tests: one per test binary, started on first use, and a fresh
//! empty database for each test that asks ([`database`]).
//!
//! With `MOCKPLANE_TEST_POSTGRES_URL` set (a server where this user may create databases, as
//! CI may provide), its databases are made there. Otherwise the server is Debian's (or any
//! `initdb` found: /usr/lib/postgresql/N/bin, then `PATH`), initialised in a temporary folder
//! and started on a free loopback port, as the `postgres` user when the tests run as root
//! (initdb refuses root). A watchdog shell beside it stops it and removes its folder when the
//! test binary exits. When no server can be had the test fails, saying how to install one:
//! PostgreSQL tests are never skipped.
//!
//! Only std and the PostgreSQL client programs (`psql`, `pg_isready`), so that any crate's
//! tests can include this file (`#[path]`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Points the tests at an existing server instead of starting one.
pub const URL_VAR: &str = "MOCKPLANE_TEST_POSTGRES_URL";

const INSTALL: &str = "install PostgreSQL (on Debian: `apt-get install postgresql`, which scripts/test does when it is missing), or set MOCKPLANE_TEST_POSTGRES_URL to a server where this user may create databases";

/// A server: `base` is its URL without a database, `admin` one to create databases through.
struct Server {
    base: String,
    query: String,
    admin: String,
    psql: PathBuf,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();

/// The URL of a fresh, empty database on the tests' server (started on first use). Panics,
/// failing the test, when no server can be had.
pub fn database() -> String {
    let server = match SERVER.get_or_init(server) {
        Ok(server) => server,
        Err(e) => panic!("the PostgreSQL tests need a PostgreSQL server: {e}\nTo run them, {INSTALL}."),
    };
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!("mockplane_test_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    if let Err(e) = psql(&server.psql, &server.admin, &format!("CREATE DATABASE {name}")) {
        panic!("cannot create a test database on {}: {e}", server.base);
    }
    format!("{}/{name}{}", server.base, server.query)
}

/// Runs `sql` on the database at `url` with `psql`; its output.
pub fn run_sql(url: &str, sql: &str) -> Result<String, String> {
    let server = match SERVER.get_or_init(server) {
        Ok(server) => server,
        Err(e) => return Err(e.clone()),
    };
    psql(&server.psql, url, sql)
}

fn psql(psql: &Path, url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new(psql)
        .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", psql.display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!("{sql:?} failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

fn server() -> Result<Server, String> {
    let bin = bin_dir();
    let tool = |name: &str| -> Result<PathBuf, String> {
        bin.as_ref().map(|dir| dir.join(name)).filter(|p| p.exists()).or_else(|| on_path(name)).ok_or_else(
            || format!("no `{name}` program was found (looked in /usr/lib/postgresql/*/bin and PATH)"),
        )
    };
    let psql = tool("psql")?;
    if let Ok(url) = std::env::var(URL_VAR) {
        let (base, query) =
            split_url(&url).ok_or_else(|| format!("{URL_VAR}={url:?} is not a postgres:// URL"))?;
        psql_ok(&psql, &url)?;
        return Ok(Server { base, query, admin: url, psql });
    }
    let (initdb, postgres, isready) = (tool("initdb")?, tool("postgres")?, tool("pg_isready")?);
    let as_postgres = is_root();
    let dir = std::env::temp_dir().join(format!("mockplane-pg-{}-{}", std::process::id(), nanos()));
    std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    if as_postgres {
        let id = |flag: &str| -> Result<u32, String> {
            let out = Command::new("id").args([flag, "postgres"]).output().map_err(|e| e.to_string())?;
            String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|_| {
                "the tests run as root, and initdb refuses root, but there is no `postgres` user to run it as"
                    .to_owned()
            })
        };
        std::os::unix::fs::chown(&dir, Some(id("-u")?), Some(id("-g")?))
            .map_err(|e| format!("cannot give {} to the postgres user: {e}", dir.display()))?;
    }
    // In the server's folder: the postgres user may not enter the tests' (a checkout in /root).
    let as_user = |program: &Path| -> Command {
        let mut c = if as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        c.current_dir(&dir);
        c
    };
    let data = dir.join("data");
    let init = as_user(&initdb)
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", initdb.display()))?;
    if !init.status.success() {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(format!("initdb failed: {}", String::from_utf8_lossy(&init.stderr).trim()));
    }
    // The watchdog: runs the server, and stops it and removes its folder once the test binary
    // (its third argument) is gone, however it ended.
    const WATCHDOG: &str = r#"
"$4" -D "$1/data" -p "$2" -k "$1" -h 127.0.0.1 -c fsync=off -c synchronous_commit=off \
  -c full_page_writes=off -c max_connections=300 >"$1/postgres.log" 2>&1 &
pg=$!
while [ -d "/proc/$3" ] && kill -0 "$pg" 2>/dev/null; do sleep 0.2; done
kill -INT "$pg" 2>/dev/null
wait "$pg"
rm -rf "$1"
"#;
    let mut last = String::new();
    for _ in 0..3 {
        let port = free_port()?;
        let mut watchdog = as_user(Path::new("sh"));
        watchdog
            .args(["-c", WATCHDOG, "sh"])
            .arg(&dir)
            .arg(port.to_string())
            .arg(std::process::id().to_string())
            .arg(&postgres)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = watchdog.spawn().map_err(|e| format!("cannot start {}: {e}", postgres.display()))?;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            let ready = Command::new(&isready)
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                let base = format!("postgres://postgres@127.0.0.1:{port}");
                let admin = format!("{base}/postgres");
                psql_ok(&psql, &admin)?;
                // The watchdog lives on (dropping `child` neither kills nor waits for it).
                drop(child);
                return Ok(Server { base, query: String::new(), admin, psql });
            }
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        last = std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
        let _ = child.kill();
    }
    Err(format!("the PostgreSQL server in {} did not start: {last}", dir.display()))
}

fn psql_ok(psql: &Path, url: &str) -> Result<(), String> {
    self::psql(psql, url, "SELECT 1").map(drop).map_err(|e| format!("cannot query {url}: {e}"))
}

/// `postgres://user@host:port/db?query` as (`postgres://user@host:port`, `?query`).
fn split_url(url: &str) -> Option<(String, String)> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "postgres" && scheme != "postgresql" {
        return None;
    }
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, format!("?{q}")),
        None => (rest, String::new()),
    };
    let authority = rest.split_once('/').map_or(rest, |(a, _)| a);
    Some((format!("{scheme}://{authority}"), query))
}

/// The newest /usr/lib/postgresql/N/bin (Debian's layout).
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(name)).find(|p| p.is_file())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| format!("no free port: {e}"))
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}
