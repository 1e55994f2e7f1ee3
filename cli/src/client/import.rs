//! `mockplane import --from FORMAT` and `mockplane validate --from FORMAT`: other tools' mocks
//! converted into a rule set (see `mockplane-import`), what could not be converted listed with
//! its place, and the rest applied to an environment or checked offline.

use std::path::Path;
use std::process::ExitCode;

use mockplane_import::Imported;

use super::commands::{apply_text, Target};
use super::Failure;

/// Which format `import` and `validate` read.
#[derive(Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ImportSource {
    /// A mockplane rules file (YAML, or JSON when it ends in .json).
    #[default]
    Mockplane,
    /// WireMock stub mappings: a root holding mappings/ and __files/, a mappings folder, one
    /// stub file, or a {"mappings": [...]} file.
    Wiremock,
}

/// The options of a conversion.
#[derive(clap::Args)]
pub(crate) struct From {
    /// The format of the input.
    #[arg(long = "from", value_enum, default_value_t = ImportSource::Mockplane)]
    pub(crate) source: ImportSource,
    /// With --from wiremock: render every response as a template, as WireMock's
    /// --global-response-templating does.
    #[arg(long)]
    pub(crate) global_templating: bool,
}

/// Converts `path` from another format; `None` for a mockplane rules file.
pub(crate) fn convert(path: &Path, from: &From) -> Option<Result<Imported, String>> {
    match from.source {
        ImportSource::Mockplane => None,
        ImportSource::Wiremock => {
            let options = mockplane_import::wiremock::Options { global_templating: from.global_templating };
            Some(
                mockplane_import::wiremock::import_path(path, &options)
                    .map_err(|e| format!("{}: {e}", path.display())),
            )
        }
    }
}

/// Prints what was not converted, `  place: message`, to stderr.
fn report_unsupported(path: &Path, imported: &Imported) {
    if imported.unsupported.is_empty() {
        return;
    }
    let n = imported.unsupported.len();
    eprintln!("{}: {n} part{} not imported:", path.display(), if n == 1 { "" } else { "s" });
    for u in &imported.unsupported {
        eprintln!("  {u}");
    }
}

pub(super) fn import(path: &Path, target: &Target, from: &From) -> Result<(), Failure> {
    let imported = match convert(path, from) {
        None => return apply_text(super::commands::read_rules(path)?, target, false, false),
        Some(result) => result.map_err(Failure::Invalid)?,
    };
    report_unsupported(path, &imported);
    mockplane_rules::validate(&imported.set, &Default::default())
        .map_err(|e| Failure::Invalid(format!("{}: {e}", path.display())))?;
    apply_text(imported.set.to_json(), target, false, false)
}

/// `mockplane validate --from FORMAT PATH`: converts offline and says what became of it.
pub(crate) fn validate(path: &Path, from: &From) -> Option<ExitCode> {
    let imported = match convert(path, from)? {
        Ok(imported) => imported,
        Err(message) => {
            eprintln!("{message}");
            return Some(ExitCode::FAILURE);
        }
    };
    let n = imported.set.rules.len();
    if let Err(e) = mockplane_rules::validate(&imported.set, &Default::default()) {
        eprintln!("{}: {e}", path.display());
        return Some(ExitCode::FAILURE);
    }
    println!("{}: {n} rule{} imported, valid", path.display(), if n == 1 { "" } else { "s" });
    if !imported.unsupported.is_empty() {
        let u = imported.unsupported.len();
        println!("{u} part{} not imported:", if u == 1 { "" } else { "s" });
        for item in &imported.unsupported {
            println!("  {item}");
        }
    }
    Some(ExitCode::SUCCESS)
}
