//! Every rules example in README.md and docs/*.md still means what the page says: each ```yaml
//! block compiles through the same calls `mockplane validate` makes (`RuleSet::parse`, then
//! `mockplane_rules::validate`), except deliberate error examples, which must be refused with
//! exactly the listing the page prints after them. A change to the model that leaves an example
//! stale, or a new page with a broken example, fails here.
//!
//! Many blocks are fragments of a rules file. Each is placed where it belongs before compiling:
//!
//! | the block starts with | it is                          | compiled as                                   |
//! |-----------------------|--------------------------------|-----------------------------------------------|
//! | a top-level `rules:`  | a whole file                   | itself                                        |
//! | `- id:`               | a list of rules                | the list under `rules:`                       |
//! | `match:`              | a rule's predicates            | a rule with them and `response: {}`           |
//! | `response:`           | a rule's response              | a rule with it                                |
//! | `body:`               | a body matcher                 | a rule matching with it, `response: {}`       |
//! | `cors:`               | the file's cors block          | itself with `rules: []`                       |
//!
//! A block whose lines all repeat the same top-level key (`match: …` once per line) lists
//! alternatives: each is compiled on its own. Fragments stand inside a file that declares the
//! variables the pages' examples read (`API_VERSION`, declared in docs/rules.md's "File
//! structure" example).
//!
//! A deliberate error example is marked by what follows it on the page: a ```text block that
//! starts with `rule set refused`, the refusal the page shows, which the example must produce
//! exactly.

use std::collections::BTreeMap;

use mockplane_rules::{CompileOptions, Format, RuleSet};

/// The variables a fragment's surrounding file declares, as docs/rules.md's full example does.
const FRAGMENT_VARIABLES: &[(&str, &str)] = &[("API_VERSION", "2024-06-01")];

/// A fenced block: its language, its text and the line its fence opens on (1-based).
struct Block {
    lang: String,
    text: String,
    line: usize,
}

fn fenced_blocks(name: &str, doc: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in doc.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(lang)) => {
                open = Some(Block { lang: lang.trim().to_owned(), text: String::new(), line: i + 1 })
            }
            (Some(_), Some(rest)) if rest.trim().is_empty() => blocks.push(open.take().unwrap()),
            (Some(block), _) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "{name} has an unclosed fence");
    blocks
}

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

/// Splits a block into the alternatives it lists: when every top-level line starts with the
/// same key, each such line (with the indented lines under it) is one alternative.
fn alternatives(text: &str) -> Vec<String> {
    let top: Vec<&str> =
        text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with(' ') && !l.starts_with('#')).collect();
    let key = |l: &str| l.split(':').next().unwrap_or("").to_owned();
    let repeated = top.len() > 1 && !top[0].starts_with('-') && top.iter().all(|l| key(l) == key(top[0]));
    if !repeated {
        return vec![text.to_owned()];
    }
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with(' ') && !out.is_empty() {
            let last = out.last_mut().unwrap();
            last.push_str(line);
            last.push('\n');
        } else if !line.trim().is_empty() {
            out.push(format!("{line}\n"));
        }
    }
    out
}

/// A whole rules file for `fragment`, and whether it was wrapped (a fragment) or is a file.
fn as_rules_file(fragment: &str, at: &str) -> (String, bool) {
    let first = fragment.lines().find(|l| !l.trim().is_empty() && !l.starts_with('#')).unwrap_or("");
    let is_file = fragment.lines().any(|l| l.starts_with("rules:"));
    let rule = |body: String| format!("rules:\n  - id: docs-example\n{body}");
    let wrapped = if is_file {
        return (fragment.to_owned(), false);
    } else if first.starts_with("- id:") {
        format!("rules:\n{}", indent(fragment, 2))
    } else if first.starts_with("match:") {
        rule(format!("{}    response: {{}}\n", indent(fragment, 4)))
    } else if first.starts_with("response:") {
        rule(indent(fragment, 4))
    } else if first.starts_with("body:") {
        rule(format!("    match:\n{}    response: {{}}\n", indent(fragment, 6)))
    } else if first.starts_with("cors:") {
        format!("{fragment}rules: []\n")
    } else {
        panic!("{at}: a yaml block of a kind this test does not know:\n{fragment}")
    };
    (wrapped, true)
}

/// What `mockplane validate` does with a file's text (minus reading it from disk), plus the
/// variables a fragment's surrounding file would declare.
fn validate(text: &str, fragment: bool) -> Result<(), String> {
    let mut set = RuleSet::parse(text, Format::Yaml).map_err(|e| e.to_string())?;
    if fragment {
        let vars: BTreeMap<String, String> =
            FRAGMENT_VARIABLES.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        set.variables.extend(vars);
    }
    let options = CompileOptions { base_dir: Some(env!("CARGO_MANIFEST_DIR").into()), ..Default::default() };
    mockplane_rules::validate(&set, &options).map_err(|e| e.to_string())
}

/// README.md and every page under docs/, by name (`docs/rules.md`), read when the test runs so
/// that a new page is covered without editing this file.
fn pages() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let read = |rel: &str| {
        std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
    };
    let mut pages = vec![("README.md".to_owned(), read("README.md"))];
    let mut docs: Vec<String> = std::fs::read_dir(root.join("docs"))
        .expect("the docs folder")
        .map(|entry| entry.expect("a docs entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    docs.sort();
    pages.extend(docs.into_iter().map(|rel| {
        let text = read(&rel);
        (rel, text)
    }));
    pages
}

fn page(name: &str) -> String {
    pages().into_iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no page {name}")).1
}

/// Compiles every yaml block of a page (each alternative of it); returns how many compiled
/// and how many were refused exactly as the page shows.
fn check_yaml_examples(name: &str, doc: &str) -> (usize, usize) {
    let blocks = fenced_blocks(name, doc);
    let yaml_fences = doc.lines().filter(|l| l.trim_end() == "```yaml").count();
    assert_eq!(
        blocks.iter().filter(|b| b.lang == "yaml").count(),
        yaml_fences,
        "{name}: the extractor lost a block"
    );
    let (mut compiled, mut refused) = (0, 0);
    for (i, block) in blocks.iter().enumerate() {
        if block.lang != "yaml" {
            continue;
        }
        let at = format!("{name} line {}", block.line);
        let expected_refusal = blocks
            .get(i + 1)
            .filter(|next| next.lang == "text" && next.text.starts_with("rule set refused"))
            .map(|next| next.text.trim_end().to_owned());
        for alternative in alternatives(&block.text) {
            let (file, fragment) = as_rules_file(&alternative, &at);
            let result = validate(&file, fragment);
            match (&expected_refusal, result) {
                (None, Ok(())) => compiled += 1,
                (None, Err(e)) => panic!("{at}: the example does not compile:\n{file}\n{e}"),
                (Some(expected), Err(actual)) => {
                    assert_eq!(actual, *expected, "{at}: the printed refusal is stale");
                    refused += 1;
                }
                (Some(_), Ok(())) => panic!("{at}: the error example compiles now:\n{file}"),
            }
        }
    }
    (compiled, refused)
}

#[test]
fn every_yaml_example_in_the_rules_reference_compiles_or_fails_as_documented() {
    let (compiled, refused) = check_yaml_examples("docs/rules.md", &page("docs/rules.md"));
    // The page has ~30 rules examples and two deliberate error examples (Errors, cors); a
    // broken extractor that finds none of them must not pass.
    assert!(compiled >= 25, "only {compiled} examples compiled");
    assert_eq!(refused, 2, "the page's error examples were not found");
}

#[test]
fn every_yaml_example_in_the_readme_and_the_other_docs_compiles_or_fails_as_documented() {
    let mut seen = Vec::new();
    for (name, doc) in pages().iter().filter(|(name, _)| name != "docs/rules.md") {
        let (compiled, refused) = check_yaml_examples(name, doc);
        seen.push((name.clone(), compiled, refused));
    }
    let count = |page: &str| seen.iter().find(|(n, ..)| n == page).map(|(_, c, r)| (*c, *r));
    // The pages known to have examples: the README's smallest file; the templates page's
    // first example, WireMock's dialect and the unquoted-brace mistake.
    assert_eq!(count("README.md"), Some((1, 0)), "{seen:?}");
    assert_eq!(count("docs/templates.md"), Some((2, 1)), "{seen:?}");
}

#[test]
fn the_json_rules_example_compiles() {
    let mut seen = 0;
    let doc = page("docs/rules.md");
    for block in fenced_blocks("docs/rules.md", &doc).iter().filter(|b| b.lang == "json") {
        let value: serde_json::Value = serde_json::from_str(&block.text)
            .unwrap_or_else(|e| panic!("docs/rules.md line {}: invalid JSON: {e}", block.line));
        // The other JSON block is an `explain` answer (it has `selected`), not a rules file.
        if value.get("selected").is_some() {
            continue;
        }
        let set = RuleSet::parse(&block.text, Format::Json)
            .unwrap_or_else(|e| panic!("docs/rules.md line {}: {e}", block.line));
        mockplane_rules::validate(&set, &CompileOptions::default())
            .unwrap_or_else(|e| panic!("docs/rules.md line {}: {e}", block.line));
        seen += 1;
    }
    assert_eq!(seen, 1);
}

#[test]
fn the_splitter_and_wrapper_place_fragments_where_they_belong() {
    let alts = alternatives("match: { method: GET }   # one\nmatch: { method: [GET, HEAD] }\n");
    assert_eq!(alts, ["match: { method: GET }   # one\n", "match: { method: [GET, HEAD] }\n"]);
    let alts = alternatives("body: { json: 1 }\n                      # a note\nbody: { json: 2 }\n");
    assert_eq!(alts.len(), 2);
    assert_eq!(alternatives("- id: a\n  response: {}\n- id: b\n  response: {}\n").len(), 1);
    assert_eq!(alternatives("match:\n  path: /x\n").len(), 1);

    // A wrapped fragment with a mistake is refused at the place it would have in a file.
    let (file, fragment) = as_rules_file("match: { method: get }\n", "a test");
    assert!(fragment);
    let err = validate(&file, true).unwrap_err();
    assert!(err.contains("rules[0].match.method: methods are case-sensitive"), "{err}");
    let (file, _) = as_rules_file("cors: { allow_methods: [get] }\n", "test");
    let err = validate(&file, true).unwrap_err();
    assert!(err.contains("cors.allow_methods[0]: methods are case-sensitive"), "{err}");
}
