//! How the client prints what it got: a table for people, JSON or YAML for scripts.

use serde_json::Value;

/// How `get` prints.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Output {
    /// Aligned columns, the most telling fields.
    Table,
    /// Every field, as the API returned it.
    Json,
    /// The same, as YAML.
    Yaml,
}

/// Prints a list: as a table of `columns` (header, field), or whole as JSON or YAML.
pub(crate) fn print_data(data: &Value, columns: &[(&str, &str)], output: Output) {
    match output {
        Output::Json => say!("{}", serde_json::to_string_pretty(data).unwrap_or_default()),
        Output::Yaml => say_raw!("{}", serde_yaml_ng::to_string(data).unwrap_or_default()),
        Output::Table => {
            let rows: Vec<Vec<String>> = data
                .as_array()
                .into_iter()
                .flatten()
                .map(|item| columns.iter().map(|(_, field)| cell(&item[*field])).collect())
                .collect();
            let mut widths: Vec<usize> = columns.iter().map(|(h, _)| h.len()).collect();
            for row in &rows {
                for (w, c) in widths.iter_mut().zip(row) {
                    *w = (*w).max(c.chars().count());
                }
            }
            let line = |cells: Vec<String>| {
                let last = cells.len().saturating_sub(1);
                let text: Vec<String> = cells
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| if i == last { c } else { format!("{c:<w$}", w = widths[i]) })
                    .collect();
                say!("{}", text.join("  ").trim_end());
            };
            line(columns.iter().map(|(h, _)| (*h).to_owned()).collect());
            for row in rows {
                line(row);
            }
        }
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// A rule's JSON definition as the YAML a rules file would hold.
pub(crate) fn rule_yaml(rule: &Value) -> String {
    serde_yaml_ng::to_string(rule).unwrap_or_default()
}
