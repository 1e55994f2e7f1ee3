//! The client subcommands, one function each: read the input, make the call, print.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mockplane_rules::{Format, RuleSet};
use serde_json::{json, Map, Value};

use super::import::ImportSource;
use super::output::{print_data, rule_yaml, Output};
use super::{Client, Connection, Failure};

/// The client subcommands, joined to the binary's own.
#[derive(clap::Subcommand)]
pub(crate) enum ClientCommand {
    /// Apply a rules file to an environment: replace its rules (or --merge), as one version;
    /// with --from, another format converted first, as `import` converts it.
    Apply {
        /// The rules file (YAML, or JSON when it ends in .json); with --from wiremock, a folder.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// The file's format when it is not a mockplane rules file.
        #[arg(long, value_enum)]
        from: Option<ImportSource>,
        #[command(flatten)]
        convert: super::import::ConvertOptions,
        #[command(flatten)]
        target: Target,
        /// Merge into the rules in force (rules with the same id replaced, new ones added,
        /// others kept) instead of replacing them.
        #[arg(long)]
        merge: bool,
        /// Show what would change, validated, without storing or pushing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Show how a rules file differs from an environment's rules in force; with --from,
    /// another format converted first, as `apply --from` would convert it.
    Diff {
        /// The rules file; with --from wiremock, a folder.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// The file's format when it is not a mockplane rules file.
        #[arg(long, value_enum)]
        from: Option<ImportSource>,
        #[command(flatten)]
        convert: super::import::ConvertOptions,
        #[command(flatten)]
        target: Target,
        /// Compare as `apply --merge` would apply it.
        #[arg(long)]
        merge: bool,
    },
    /// List projects, environments, rules, nodes (data planes) or requests.
    Get {
        /// What to list.
        #[arg(value_enum)]
        what: Listing,
        /// The environment (`project/environment`): for rules, nodes and requests.
        #[arg(long)]
        env: Option<String>,
        /// How to print.
        #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Table)]
        output: Output,
        /// For requests: how many, newest first (1 to 1000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        connection: Connection,
    },
    /// Which rule of an environment answers a request, and what the closest others lacked.
    Explain {
        #[command(flatten)]
        request: RequestArgs,
    },
    /// How many requests the data planes of an environment journaled that match a request
    /// pattern (method, path, headers, body), as a rule with that match would.
    Verify {
        #[command(flatten)]
        request: RequestArgs,
    },
    /// Bring back an earlier revision of a rule, as a new revision.
    Rollback {
        /// The rule's id.
        rule: String,
        /// The revision to bring back.
        #[arg(long = "to")]
        revision: i64,
        #[command(flatten)]
        target: Target,
    },
    /// Print an environment's rules in force as a rules file (`> set.yaml`).
    Export {
        #[command(flatten)]
        target: Target,
        /// yaml or json.
        #[arg(short = 'o', long = "output", value_enum, default_value_t = FileFormat::Yaml)]
        output: FileFormat,
    },
    /// Make an environment's rules those of a file (as `apply`, replacing everything),
    /// converting it first when it is another format (--from, or recognised): a WireMock root,
    /// mappings folder or file, an OpenAPI document, the original 1.0 export.
    Import {
        /// The file (or, with --from wiremock, a folder): a rules file, an export, or another format.
        file: PathBuf,
        /// The file's format; by default recognised from the document.
        #[arg(long, value_enum)]
        from: Option<ImportSource>,
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        convert: super::import::ConvertOptions,
    },
}

/// What `get` lists.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Listing {
    Projects,
    Environments,
    Rules,
    Nodes,
    Requests,
}

/// A rules file's format.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum FileFormat {
    Yaml,
    Json,
}

/// An environment on a control plane.
#[derive(clap::Args)]
pub(crate) struct Target {
    /// The environment, `project/environment`.
    #[arg(long)]
    pub(super) env: String,
    #[command(flatten)]
    connection: Connection,
}

/// A request, described on the command line as curl does.
#[derive(clap::Args)]
pub(crate) struct RequestArgs {
    /// The method (GET, POST, …).
    method: String,
    /// The path, with its query if any (`/users/42?x=1`).
    path: String,
    /// A header, `name: value` (repeat for more).
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// The body.
    #[arg(short = 'd', long = "data")]
    body: Option<String>,
    #[command(flatten)]
    target: Target,
}

impl RequestArgs {
    fn headers(&self) -> Result<Vec<(String, String)>, Failure> {
        self.headers
            .iter()
            .map(|h| match h.split_once(':') {
                Some((name, value)) if !name.trim().is_empty() => {
                    Ok((name.trim().to_owned(), value.trim().to_owned()))
                }
                _ => Err(Failure::Invalid(format!("-H {h:?}: a header is `name: value`"))),
            })
            .collect()
    }
}

pub(crate) fn run(command: ClientCommand) -> ExitCode {
    let file = match &command {
        ClientCommand::Apply { file, .. }
        | ClientCommand::Diff { file, .. }
        | ClientCommand::Import { file, .. } => Some(file.display().to_string()),
        _ => None,
    };
    match dispatch(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(file.as_deref()),
    }
}

fn dispatch(command: ClientCommand) -> Result<(), Failure> {
    match command {
        ClientCommand::Apply { file, from: None, convert, target, merge, dry_run }
            if convert.is_default() =>
        {
            apply(&file, &target, merge, dry_run)
        }
        ClientCommand::Apply { file, from, convert, target, merge, dry_run } => {
            super::import::apply(&file, from, &convert, &target, merge, dry_run)
        }
        ClientCommand::Import { file, from, target, convert } => {
            super::import::import(&file, from, &convert, &target)
        }
        ClientCommand::Diff { file, from: None, convert, target, merge } if convert.is_default() => {
            diff(&file, &read_rules(&file)?, &target, merge)
        }
        ClientCommand::Diff { file, from, convert, target, merge } => {
            super::import::diff(&file, from, &convert, &target, merge)
        }
        ClientCommand::Get { what, env, output, limit, connection } => {
            get(what, env.as_deref(), output, limit, &connection)
        }
        ClientCommand::Explain { request } => explain(&request),
        ClientCommand::Verify { request } => verify(&request),
        ClientCommand::Rollback { rule, revision, target } => rollback(&rule, revision, &target),
        ClientCommand::Export { target, output } => export(&target, output),
    }
}

/// A rules file, checked as `mockplane validate` checks it (the same text on failure), and
/// its text to send.
pub(super) fn read_rules(file: &Path) -> Result<String, Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::Invalid(format!("cannot read {}: {e}", file.display())))?;
    let checked = RuleSet::parse(&text, Format::from_file_name(&file.to_string_lossy())).and_then(|set| {
        let options = mockplane_rules::CompileOptions {
            base_dir: file.parent().map(PathBuf::from),
            ..Default::default()
        };
        mockplane_rules::validate(&set, &options)
    });
    checked.map_err(|e| Failure::Invalid(format!("{}: {e}", file.display())))?;
    Ok(text)
}

fn mode(merge: bool) -> &'static str {
    if merge {
        "MERGE"
    } else {
        "REPLACE"
    }
}

const PREVIEW: &str = "query($env: String!, $text: String!, $mode: ApplyMode!) {
  previewRules(environment: $env, input: {text: $text}, mode: $mode) { changed { id before after } deleted settingsChanged }
}";

fn apply(file: &Path, target: &Target, merge: bool, dry_run: bool) -> Result<(), Failure> {
    apply_text(&read_rules(file)?, target, merge, dry_run)
}

/// Applies a rules document, already checked, and prints what changed.
pub(super) fn apply_text(text: &str, target: &Target, merge: bool, dry_run: bool) -> Result<(), Failure> {
    let client = Client::new(&target.connection)?;
    let vars = json!({"env": target.env, "text": text, "mode": mode(merge)});
    if dry_run {
        let data = client.call(PREVIEW, vars)?;
        let p = &data["previewRules"];
        let changed = p["changed"].as_array().cloned().unwrap_or_default();
        let deleted = p["deleted"].as_array().cloned().unwrap_or_default();
        say!("{}: dry run, nothing stored or pushed; the apply would:", target.env);
        for c in &changed {
            let verb = if c["before"].is_null() { "create" } else { "change" };
            say!("  {verb} {}", c["id"].as_str().unwrap_or(""));
        }
        for d in &deleted {
            say!("  delete {}", d["id"].as_str().unwrap_or(""));
        }
        if p["settingsChanged"] == true {
            say!("  change the variables, upstreams or cors block");
        }
        if changed.is_empty() && deleted.is_empty() && p["settingsChanged"] != true {
            say!("  change nothing");
        }
        return Ok(());
    }
    let data = client.call(
        "mutation($env: String!, $text: String!, $mode: ApplyMode!) {
          applyRules(input: {environment: $env, text: $text, mode: $mode}) { changed { id revision } deleted change { version xdsVersion } }
        }",
        vars,
    )?;
    let a = &data["applyRules"];
    say!(
        "{}: version {} pushed ({})",
        target.env,
        a["change"]["version"],
        a["change"]["xdsVersion"].as_str().unwrap_or("")
    );
    for c in a["changed"].as_array().into_iter().flatten() {
        let verb = if c["revision"] == 1 { "created" } else { "changed" };
        say!("  {verb} {} (revision {})", c["id"].as_str().unwrap_or(""), c["revision"]);
    }
    for d in a["deleted"].as_array().into_iter().flatten() {
        say!("  deleted {}", d.as_str().unwrap_or(""));
    }
    if a["changed"].as_array().is_some_and(Vec::is_empty)
        && a["deleted"].as_array().is_some_and(Vec::is_empty)
    {
        say!("  no rule changed");
    }
    Ok(())
}

/// Prints how `text` (the rules document made from `file`) differs from the rules in force.
pub(super) fn diff(file: &Path, text: &str, target: &Target, merge: bool) -> Result<(), Failure> {
    let client = Client::new(&target.connection)?;
    let data = client.call(PREVIEW, json!({"env": target.env, "text": text, "mode": mode(merge)}))?;
    let p = &data["previewRules"];
    let mut any = false;
    for c in p["changed"].as_array().into_iter().flatten() {
        any = true;
        let id = c["id"].as_str().unwrap_or("");
        let before = if c["before"].is_null() { String::new() } else { rule_yaml(&c["before"]) };
        let after = rule_yaml(&c["after"]);
        let (old, new) = if before.is_empty() {
            ("/dev/null".to_owned(), format!("{} (file) rule {id}", file.display()))
        } else {
            (format!("{} (in force) rule {id}", target.env), format!("{} (file) rule {id}", file.display()))
        };
        say_raw!("{}", similar::TextDiff::from_lines(&before, &after).unified_diff().header(&old, &new));
    }
    for d in p["deleted"].as_array().into_iter().flatten() {
        any = true;
        let id = d["id"].as_str().unwrap_or("");
        let before = rule_yaml(d);
        let old = format!("{} (in force) rule {id}", target.env);
        say_raw!(
            "{}",
            similar::TextDiff::from_lines(before.as_str(), "").unified_diff().header(&old, "/dev/null")
        );
    }
    if p["settingsChanged"] == true {
        any = true;
        say!("the variables, upstreams or cors block differ");
    }
    if !any {
        say!("{}: no difference", target.env);
    }
    Ok(())
}

fn get(
    what: Listing,
    env: Option<&str>,
    output: Output,
    limit: u32,
    connection: &Connection,
) -> Result<(), Failure> {
    let client = Client::new(connection)?;
    let need_env = || {
        env.ok_or_else(|| Failure::Invalid("this listing needs --env project/environment".to_owned()))
            .map(str::to_owned)
    };
    let (data, columns): (Value, &[(&str, &str)]) = match what {
        Listing::Projects => (
            client.call("{ projects { name description createdAt } }", json!({}))?["projects"].clone(),
            &[("NAME", "name"), ("DESCRIPTION", "description"), ("CREATED", "createdAt")],
        ),
        Listing::Environments => (
            client.call("{ environments { path version description } }", json!({}))?["environments"].clone(),
            &[("ENVIRONMENT", "path"), ("VERSION", "version"), ("DESCRIPTION", "description")],
        ),
        Listing::Rules => {
            let env = need_env()?;
            let mut rules = Vec::new();
            let mut after = Value::Null;
            loop {
                let page = client.call(
                    "query($env: String!, $after: String) { rules(filter: {environment: $env}, first: 50, after: $after) {
                        edges { node { id enabled priority revision tags definition } } pageInfo { hasNextPage endCursor } } }",
                    json!({"env": env, "after": after}),
                )?;
                let conn = &page["rules"];
                rules.extend(conn["edges"].as_array().into_iter().flatten().map(|e| e["node"].clone()));
                if conn["pageInfo"]["hasNextPage"] != true {
                    break;
                }
                after = conn["pageInfo"]["endCursor"].clone();
            }
            (
                Value::Array(rules),
                &[("ID", "id"), ("ENABLED", "enabled"), ("PRIORITY", "priority"), ("REVISION", "revision"), ("TAGS", "tags")],
            )
        }
        Listing::Nodes => (
            client.call(
                "query($env: String) { nodes(environment: $env) { id environment connected ackedVersion lastSeen driver workers lastNack { error } } }",
                json!({"env": env}),
            )?["nodes"]
                .clone(),
            &[
                ("NODE", "id"),
                ("ENVIRONMENT", "environment"),
                ("CONNECTED", "connected"),
                ("ACKED", "ackedVersion"),
                ("LAST SEEN", "lastSeen"),
                ("DRIVER", "driver"),
            ],
        ),
        Listing::Requests => {
            let env = need_env()?;
            (
                client.call(
                    "query($env: String!, $limit: Int!) { requests(environment: $env, limit: $limit) {
                        at node method target status ruleId durationUs clientIp headers { name value } body } }",
                    json!({"env": env, "limit": limit}),
                )?["requests"]
                    .clone(),
                &[
                    ("AT", "at"),
                    ("NODE", "node"),
                    ("METHOD", "method"),
                    ("TARGET", "target"),
                    ("STATUS", "status"),
                    ("RULE", "ruleId"),
                ],
            )
        }
    };
    print_data(&data, columns, output);
    Ok(())
}

/// The request of `explain` and `verify`, as the API takes it.
fn request_json(r: &RequestArgs) -> Result<Value, Failure> {
    if !r.path.starts_with('/') {
        return Err(Failure::Invalid(format!("the path must start with '/', got {:?}", r.path)));
    }
    let headers = r.headers()?;
    Ok(json!({
        "method": r.method,
        "path": r.path,
        "headers": headers.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
        "body": r.body,
    }))
}

fn explain(r: &RequestArgs) -> Result<(), Failure> {
    let client = Client::new(&r.target.connection)?;
    let data = client.call(
        "query($env: String!, $r: ExplainInput!) { explain(environment: $env, request: $r, limit: 5) {
            selected checked nearMisses { ruleId failed { predicate expected actual } } } }",
        json!({"env": r.target.env, "r": request_json(r)?}),
    )?;
    let e = &data["explain"];
    match e["selected"].as_str() {
        Some(rule) => say!("{} {}: answered by the rule {rule}", r.method, r.path),
        None => say!("{} {}: no rule answers (404)", r.method, r.path),
    }
    let near = e["nearMisses"].as_array().cloned().unwrap_or_default();
    if !near.is_empty() {
        say!("closest of {} rules:", e["checked"]);
    }
    for n in near {
        let f = &n["failed"];
        say!(
            "  {}: {} expects {}, the request has {}",
            n["ruleId"].as_str().unwrap_or(""),
            f["predicate"].as_str().unwrap_or("?"),
            f["expected"].as_str().unwrap_or("?"),
            f["actual"].as_str().unwrap_or("?")
        );
    }
    Ok(())
}

fn verify(r: &RequestArgs) -> Result<(), Failure> {
    if !r.path.starts_with('/') {
        return Err(Failure::Invalid(format!("the path must start with '/', got {:?}", r.path)));
    }
    let mut pattern = Map::new();
    pattern.insert("method".into(), json!(r.method));
    let (path, query) = r.path.split_once('?').unwrap_or((&r.path, ""));
    pattern.insert("path".into(), json!(path));
    if !query.is_empty() {
        let pairs: Map<String, Value> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_owned(), json!(v))
            })
            .collect();
        pattern.insert("query".into(), Value::Object(pairs));
    }
    let headers = r.headers()?;
    if !headers.is_empty() {
        pattern.insert(
            "headers".into(),
            Value::Object(headers.into_iter().map(|(n, v)| (n, json!(v))).collect()),
        );
    }
    if let Some(body) = &r.body {
        pattern.insert("body".into(), json!({"equals": body}));
    }
    let client = Client::new(&r.target.connection)?;
    let data = client.call(
        "query($env: String!, $p: JSON!) { verify(environment: $env, pattern: $p) { count checked } }",
        json!({"env": r.target.env, "p": Value::Object(pattern)}),
    )?;
    say!("{}", data["verify"]["count"]);
    Ok(())
}

fn rollback(rule: &str, revision: i64, target: &Target) -> Result<(), Failure> {
    let client = Client::new(&target.connection)?;
    let data = client.call(
        "mutation($env: String!, $id: String!, $rev: Int!) {
          rollbackRule(input: {environment: $env, id: $id, revision: $rev}) { rule { revision } change { version xdsVersion } } }",
        json!({"env": target.env, "id": rule, "rev": revision}),
    )?;
    let r = &data["rollbackRule"];
    say!(
        "{}: {rule} is revision {} again, as revision {}; version {} pushed ({})",
        target.env,
        revision,
        r["rule"]["revision"],
        r["change"]["version"],
        r["change"]["xdsVersion"].as_str().unwrap_or("")
    );
    Ok(())
}

fn export(target: &Target, output: FileFormat) -> Result<(), Failure> {
    let client = Client::new(&target.connection)?;
    let data = client.call(
        "query($env: String!) { ruleSet(environment: $env, format: JSON) }",
        json!({"env": target.env}),
    )?;
    // Written here as the versioned document (`format: mockplane/v1` first), which `import`
    // and every other reader of rules files take as it is.
    let set = RuleSet::from_json(data["ruleSet"].as_str().unwrap_or_default()).map_err(|e| {
        Failure::Unreachable(format!("the control plane answered a rule set this mockplane cannot read: {e}"))
    })?;
    let text = match output {
        FileFormat::Yaml => set.to_document_yaml(),
        FileFormat::Json => set.to_document_json(),
    };
    say_raw!("{text}");
    if !text.ends_with('\n') {
        say!();
    }
    Ok(())
}
