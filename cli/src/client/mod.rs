//! The CLI client: `mockplane apply`, `diff`, `get`, `explain`, `verify`, `rollback`,
//! `export` and `import`, each a GraphQL call to a control plane's admin API (the one
//! `mockplane up` serves), configured kubectl-style by flags or `MOCKPLANE_URL` and
//! `MOCKPLANE_API_KEY`.
//!
//! Exit codes a script can branch on: 0 done, 1 refused or invalid (every validation error
//! printed with its place, as `mockplane validate` prints them), 2 a usage error (clap's own),
//! 3 the control plane could not be reached (or answered something that is not its API).

/// `println!` that a closed pipe (`mockplane get rules | head`) does not turn into a panic:
/// what cannot be written is dropped, and the command ends as it would have.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `print!`, as [`say!`].
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod commands;
pub(crate) mod import;
mod output;

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{json, Value};

pub(crate) use commands::{run, ClientCommand};

/// Where the control plane is and the key to call it with: every client command takes these.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Connection {
    /// The control plane's admin API (`mockplane up` serves it on http://127.0.0.1:8080).
    #[arg(long, env = "MOCKPLANE_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The API key (`Authorization: Bearer …`).
    #[arg(long, env = "MOCKPLANE_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

/// Why a command failed, and so its exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The control plane refused the call: its code, message and every problem with its place.
    Refused { code: String, message: String, problems: Vec<(String, String)> },
    /// The input is invalid before anything is sent (a rules file, a header), already worded.
    Invalid(String),
    /// The control plane could not be reached, or did not answer as the API does.
    Unreachable(String),
}

impl Failure {
    /// Prints the failure to stderr and gives the exit code. `file` names the rules file the
    /// call carried, whose problems are shown at their places in it.
    pub(crate) fn report(&self, file: Option<&str>) -> ExitCode {
        match self {
            Failure::Refused { code, message, problems } if problems.is_empty() => {
                eprintln!("refused ({code}): {message}");
            }
            Failure::Refused { problems, .. } => {
                // As `mockplane validate` prints a file's errors: `FILE: N errors:` then
                // `  place: message`, the places those of the file (`rules[2].match.path`).
                let n = problems.len();
                let head = format!("{n} error{}", if n == 1 { "" } else { "s" });
                match file {
                    Some(f) => eprintln!("{f}: {head}:"),
                    None => eprintln!("{head}:"),
                }
                for (place, message) in problems {
                    let place = ["input.text.", "input.ruleSet.", "input.text", "input.ruleSet"]
                        .iter()
                        .find_map(|p| place.strip_prefix(p))
                        .unwrap_or(place);
                    if place.is_empty() {
                        eprintln!("  {message}");
                    } else {
                        eprintln!("  {place}: {message}");
                    }
                }
            }
            Failure::Invalid(message) => eprintln!("{message}"),
            Failure::Unreachable(message) => eprintln!("{message}"),
        }
        ExitCode::from(match self {
            Failure::Refused { .. } | Failure::Invalid(_) => 1,
            Failure::Unreachable(_) => 3,
        })
    }
}

/// A client of one control plane.
pub(crate) struct Client {
    url: String,
    key: Option<String>,
    http: reqwest::blocking::Client,
}

impl Client {
    pub(crate) fn new(c: &Connection) -> Result<Client, Failure> {
        let base = c.url.trim_end_matches('/');
        let url = if base.ends_with("/graphql") { base.to_owned() } else { format!("{base}/graphql") };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Failure::Invalid(format!(
                "--url (MOCKPLANE_URL) must be an http:// or https:// URL, like http://127.0.0.1:8080; got {:?}",
                c.url
            )));
        }
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| Failure::Unreachable(format!("cannot make an HTTP client: {e}")))?;
        Ok(Client { url, key: c.api_key.clone().filter(|k| !k.is_empty()), http })
    }

    /// Runs one GraphQL operation; its `data`, or why not.
    pub(crate) fn call(&self, query: &str, variables: Value) -> Result<Value, Failure> {
        let mut request = self.http.post(&self.url).json(&json!({ "query": query, "variables": variables }));
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        let response = request.send().map_err(|e| {
            Failure::Unreachable(format!("cannot reach the control plane at {}: {}", self.url, chain(&e)))
        })?;
        let status = response.status();
        let body: Value = response.json().map_err(|e| {
            Failure::Unreachable(format!("{} answered {status}, not the GraphQL admin API ({e})", self.url))
        })?;
        if let Some(error) = body["errors"].as_array().and_then(|e| e.first()) {
            let code = error["extensions"]["code"].as_str().unwrap_or("ERROR").to_owned();
            let problems = error["extensions"]["errors"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|p| {
                            (
                                p["place"].as_str().unwrap_or("").to_owned(),
                                p["message"].as_str().unwrap_or("").to_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let mut message = error["message"].as_str().unwrap_or("").to_owned();
            if code == "UNAUTHENTICATED" && self.key.is_none() {
                message.push_str(" (give the API key with --api-key or MOCKPLANE_API_KEY)");
            }
            return Err(Failure::Refused { code, message, problems });
        }
        Ok(body["data"].clone())
    }
}

/// An error with its causes, once each (reqwest nests the same text).
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}
