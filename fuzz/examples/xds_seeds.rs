//! Writes the seeds of the `xds` fuzz target: every rules seed (`fuzz/work/seeds/rules/`, made
//! by `fuzz/seeds.py`) that reads as a rule set, encoded as the value of the xDS resource a
//! control plane would send for it, into `fuzz/work/seeds/xds/`. Run from the repository root.

use std::path::Path;

use mockplane_proto::convert::rule_set_to_any;
use mockplane_rules::{Format, RuleSet};

fn main() -> std::io::Result<()> {
    let from = Path::new("fuzz/work/seeds/rules");
    let to = Path::new("fuzz/work/seeds/xds");
    std::fs::create_dir_all(to)?;
    let mut written = 0;
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        let text = std::fs::read_to_string(&path)?;
        for format in [Format::Yaml, Format::Json] {
            if let Ok(set) = RuleSet::parse(&text, format) {
                let name = path.file_name().expect("a file name").to_string_lossy().into_owned();
                std::fs::write(to.join(name), rule_set_to_any(&set).value)?;
                written += 1;
                break;
            }
        }
    }
    println!("{written} xDS seeds in {}", to.display());
    Ok(())
}
