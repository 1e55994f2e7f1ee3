//! `mockplane import --from FORMAT`, `apply --from FORMAT` and `validate --from FORMAT`: which format a file
//! is in, and its conversion into a mockplane rules document, here on this machine. So
//! `validate` checks a conversion offline, exactly as `import` would make it, and the control
//! plane only ever receives an ordinary rules document (`applyRules`).
//!
//! Without `--from` the format is recognised from the document: a JSON document with
//! `"version": "1.0"` beside `"data"` is the original design's export, anything else a mockplane
//! rules file (plain, or the versioned document `mockplane export` writes).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mockplane_import::{legacy, Unsupported};
use mockplane_rules::{CompileOptions, Format, RuleSet, RuleSetError};

use super::commands::{apply_text, Target};
use super::Failure;

/// The formats a file to import may be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ImportSource {
    /// A mockplane rules file, or the versioned document `mockplane export` writes.
    Mockplane,
    /// The original design's export: `{"version": "1.0", "data": {…}}`.
    #[value(name = "mockplane-1.0")]
    Mockplane1,
    /// An OpenAPI 3.0 or 3.1 document (YAML or JSON).
    Openapi,
    /// WireMock stub mappings: a root holding mappings/ and __files/, a mappings folder, one
    /// stub file, or a {"mappings": [...]} file.
    Wiremock,
}

/// Options of the converters (each says which format it goes with).
#[derive(clap::Args, Clone, Debug, Default)]
pub(crate) struct ConvertOptions {
    /// With --from openapi: give every operation request validation (invalid parameters get
    /// a 400, an invalid JSON body a 422, as problem+json).
    #[arg(long)]
    pub(crate) validate: bool,
    /// With --from openapi: draw generated bodies from this seed (default: Prism's fixed
    /// choices).
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// With --from wiremock: render every response as a template, as WireMock's
    /// --global-response-templating does.
    #[arg(long)]
    pub(crate) global_templating: bool,
}

impl ConvertOptions {
    /// No converter option given: a plain `apply` reads its file as it always has.
    pub(crate) fn is_default(&self) -> bool {
        !self.validate && self.seed.is_none() && !self.global_templating
    }
}

impl ImportSource {
    fn name(self) -> &'static str {
        match self {
            ImportSource::Mockplane => "mockplane",
            ImportSource::Mockplane1 => "mockplane-1.0",
            ImportSource::Openapi => "openapi",
            ImportSource::Wiremock => "wiremock",
        }
    }
}

/// A file read for import: the rules document to send and what did not come over.
struct Prepared {
    source: ImportSource,
    /// The mockplane rules document.
    text: String,
    rules: usize,
    unsupported: Vec<Unsupported>,
}

/// The format of `text` when `--from` does not say.
fn detect(text: &str) -> ImportSource {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(doc) if legacy::is_legacy(&doc) => ImportSource::Mockplane1,
        _ => ImportSource::Mockplane,
    }
}

/// Reads `file` as `from` says (or as it looks), converts it, and validates the result as
/// `mockplane validate` would; `environment` picks one of a document's environments.
fn prepare(
    file: &Path,
    from: Option<ImportSource>,
    environment: Option<&str>,
    convert: &ConvertOptions,
) -> Result<Prepared, Failure> {
    let shown = file.display();
    if from != Some(ImportSource::Openapi) && (convert.validate || convert.seed.is_some()) {
        return Err(Failure::Invalid("--validate and --seed go with --from openapi".into()));
    }
    if from != Some(ImportSource::Wiremock) && convert.global_templating {
        return Err(Failure::Invalid("--global-templating goes with --from wiremock".into()));
    }
    // WireMock mappings may be a folder, which the converter reads itself; every other format
    // is one file's text.
    let text = match from {
        Some(ImportSource::Wiremock) => String::new(),
        _ => std::fs::read_to_string(file)
            .map_err(|e| Failure::Invalid(format!("cannot read {shown}: {e}")))?,
    };
    let source = from.unwrap_or_else(|| detect(&text));
    let options = CompileOptions { base_dir: file.parent().map(PathBuf::from), ..Default::default() };
    match source {
        ImportSource::Wiremock => {
            let options =
                mockplane_import::wiremock::Options { global_templating: convert.global_templating };
            let imported = mockplane_import::wiremock::import_path(file, &options)
                .map_err(|e| Failure::Invalid(format!("{shown} (wiremock): {e}")))?;
            mockplane_rules::validate(&imported.set, &CompileOptions::default())
                .map_err(|e| Failure::Invalid(format!("{shown} (wiremock, converted): {e}")))?;
            Ok(Prepared {
                source,
                rules: imported.set.rules.len(),
                text: imported.set.to_document_yaml(),
                unsupported: imported.unsupported,
            })
        }
        ImportSource::Openapi => {
            let options =
                mockplane_import::openapi::Options { validate: convert.validate, seed: convert.seed };
            let imported = mockplane_import::openapi::import(&text, &options)
                .map_err(|e| Failure::Invalid(format!("{shown} (openapi): {e}")))?;
            mockplane_rules::validate(&imported.set, &CompileOptions::default())
                .map_err(|e| Failure::Invalid(format!("{shown} (openapi, converted): {e}")))?;
            Ok(Prepared {
                source,
                rules: imported.set.rules.len(),
                text: imported.set.to_document_yaml(),
                unsupported: imported.unsupported,
            })
        }
        ImportSource::Mockplane => {
            let set = RuleSet::parse(&text, Format::from_file_name(&file.to_string_lossy()))
                .and_then(|set| mockplane_rules::validate(&set, &options).map(|()| set))
                .map_err(|e| Failure::Invalid(format!("{shown}: {e}")))?;
            Ok(Prepared { source, rules: set.rules.len(), text, unsupported: Vec::new() })
        }
        ImportSource::Mockplane1 => {
            // The environment's own name, of `project/environment`.
            let environment = environment.map(|e| e.rsplit('/').next().unwrap_or(e));
            let converted = legacy::convert_text(&text, environment)
                .map_err(|e| Failure::Invalid(format!("{shown} (mockplane-1.0): {e}")))?;
            mockplane_rules::validate(&converted.imported.set, &options).map_err(|e| {
                // Each problem at the place of its rule in the document (`data.rules[5]`).
                let renamed: Vec<_> = e
                    .errors
                    .iter()
                    .map(|v| {
                        mockplane_rules::ValidationError::new(converted.source_place(&v.path), &v.message)
                    })
                    .collect();
                Failure::Invalid(format!(
                    "{shown} (mockplane-1.0, converted): {}",
                    RuleSetError::from(renamed)
                ))
            })?;
            let set = &converted.imported.set;
            Ok(Prepared {
                source,
                rules: set.rules.len(),
                text: set.to_document_yaml(),
                unsupported: converted.imported.unsupported,
            })
        }
    }
}

/// Prints what did not come over, to stderr: each item with its place in the file.
fn warn_unsupported(file: &Path, p: &Prepared) {
    if p.unsupported.is_empty() {
        return;
    }
    let n = p.unsupported.len();
    eprintln!("{}: {n} item{} not imported as written:", file.display(), if n == 1 { "" } else { "s" });
    for item in &p.unsupported {
        eprintln!("  {item}");
    }
}

/// `mockplane import FILE --env P/E [--from FORMAT]`: the file's rules replace the environment's.
pub(crate) fn import(
    file: &Path,
    from: Option<ImportSource>,
    convert: &ConvertOptions,
    target: &Target,
) -> Result<(), Failure> {
    apply(file, from, convert, target, false, false)
}

/// `mockplane apply -f FILE --from FORMAT --env P/E [--merge] [--dry-run]`: `import`'s
/// conversion and report, with `apply`'s modes; `import` is this, replacing.
pub(crate) fn apply(
    file: &Path,
    from: Option<ImportSource>,
    convert: &ConvertOptions,
    target: &Target,
    merge: bool,
    dry_run: bool,
) -> Result<(), Failure> {
    let prepared = prepare(file, from, Some(target.env.as_str()), convert)?;
    if prepared.source != ImportSource::Mockplane {
        say!("{}: read as {}, {} rules", file.display(), prepared.source.name(), prepared.rules);
    }
    apply_text(&prepared.text, target, merge, dry_run)?;
    warn_unsupported(file, &prepared);
    Ok(())
}

/// `mockplane diff -f FILE --from FORMAT --env P/E`: the converted rules against those in force.
pub(crate) fn diff(
    file: &Path,
    from: Option<ImportSource>,
    convert: &ConvertOptions,
    target: &Target,
    merge: bool,
) -> Result<(), Failure> {
    let prepared = prepare(file, from, Some(target.env.as_str()), convert)?;
    super::commands::diff(file, &prepared.text, target, merge)?;
    warn_unsupported(file, &prepared);
    Ok(())
}

/// `mockplane validate FILE [--from FORMAT] [--env P/E]`, offline.
pub(crate) fn validate(
    file: &Path,
    from: Option<ImportSource>,
    environment: Option<&str>,
    convert: &ConvertOptions,
) -> ExitCode {
    match prepare(file, from, environment, convert) {
        Ok(p) => {
            let n = p.rules;
            let rules = format!("{n} rule{}", if n == 1 { "" } else { "s" });
            match p.source {
                ImportSource::Mockplane => say!("{}: {rules}, valid", file.display()),
                other => say!("{}: {rules}, valid once converted from {}", file.display(), other.name()),
            }
            warn_unsupported(file, &p);
            ExitCode::SUCCESS
        }
        Err(failure) => failure.report(Some(&file.display().to_string())),
    }
}

/// An OpenAPI document's rules for `mockplane dataplane --openapi FILE`, what did not come over
/// printed to stderr. The error is one line to print.
pub(crate) fn openapi_rules(file: &Path, validate: bool) -> Result<RuleSet, String> {
    let convert = ConvertOptions { validate, ..ConvertOptions::default() };
    let prepared = prepare(file, Some(ImportSource::Openapi), None, &convert).map_err(|f| match f {
        Failure::Invalid(message) | Failure::Unreachable(message) => message,
        Failure::Refused { message, .. } => message,
    })?;
    warn_unsupported(file, &prepared);
    RuleSet::parse(&prepared.text, Format::Yaml)
        .map_err(|e| format!("{}: the converted rules: {e}", file.display()))
}
