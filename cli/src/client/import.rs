//! `--from FORMAT` for `mockplane import` and `mockplane validate`: which converter turns a
//! source into a rule set (docs/import.md). A converter's unsupported parts are printed to
//! stderr, one per line with its place, and the rest is imported.

use std::path::Path;

use mockplane_import::Imported;
use mockplane_rules::RuleSet;

/// The formats `--from` reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ImportSource {
    /// A mockplane rules file (YAML, or JSON when it ends in .json).
    #[default]
    Mockplane,
    /// An OpenAPI 3.0 or 3.1 document (YAML or JSON).
    Openapi,
}

/// How a source is converted.
#[derive(clap::Args, Clone, Debug, Default)]
pub(crate) struct ImportArgs {
    /// The source's format.
    #[arg(long, value_enum, default_value_t = ImportSource::Mockplane)]
    pub(crate) from: ImportSource,
    /// With --from openapi: give every operation request validation (invalid parameters get
    /// a 400, an invalid JSON body a 422, as problem+json).
    #[arg(long)]
    pub(crate) validate: bool,
    /// With --from openapi: draw generated bodies from this seed (default: Prism's fixed
    /// choices).
    #[arg(long)]
    pub(crate) seed: Option<u64>,
}

/// `file` converted by its converter (`None` for a mockplane rules file, which is read as
/// it is), its unsupported parts printed to stderr. The error is one line to print.
pub(crate) fn convert(file: &Path, args: &ImportArgs) -> Result<Option<RuleSet>, String> {
    let imported: Imported = match args.from {
        ImportSource::Mockplane => {
            if args.validate || args.seed.is_some() {
                return Err("--validate and --seed go with --from openapi".into());
            }
            return Ok(None);
        }
        ImportSource::Openapi => {
            let text =
                std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let options = mockplane_import::openapi::Options { validate: args.validate, seed: args.seed };
            mockplane_import::openapi::import(&text, &options)
                .map_err(|e| format!("{}: {e}", file.display()))?
        }
    };
    for u in &imported.unsupported {
        eprintln!("{}: not imported: {u}", file.display());
    }
    Ok(Some(imported.set))
}

/// A converted rule set as the text of a rules file (YAML).
pub(crate) fn rules_text(set: &RuleSet) -> Result<String, String> {
    serde_yaml_ng::to_string(set).map_err(|e| format!("cannot write the rules: {e}"))
}
