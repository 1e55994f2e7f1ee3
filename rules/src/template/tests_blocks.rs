//! Block helpers, comparison helpers and WireMock's value helpers, rendered to exact text.
//! The request is `tests::render`'s: `POST /users/42/orders/?q=shoes&q=boots&x=a%20b&eq=1%3D2`
//! with `X-Trace: abc` and `x-trace: def`, and a JSON body (or `render_with`'s own).

use super::tests::{assert_err, err, render, render_with};

const ORDER: &[u8] =
    br#"{"id":7,"total":0,"items":[{"sku":"a-1","qty":2,"price":1.5},{"sku":"b-2","qty":1,"price":10}],"tags":{"x":"1","y":"2"},"empty":[],"name":"  Ann  ","note":""}"#;

fn order(src: &str) -> String {
    render_with(src, "/orders/7?tag=new&tag=hot&n=5", ORDER, 1)
}

// ---- if / unless / else ---------------------------------------------------------------------

#[test]
fn if_unless_else() {
    assert_eq!(render("{{#if request.query.q}}yes{{/if}}"), "yes");
    assert_eq!(render("{{#if request.query.none}}yes{{/if}}"), "");
    assert_eq!(render("{{#if request.query.none}}yes{{else}}no{{/if}}"), "no");
    assert_eq!(render("{{#unless request.query.none}}absent{{else}}present{{/unless}}"), "absent");
    assert_eq!(render("{{^request.query.none}}absent{{/request.query.none}}"), "absent");
    assert_eq!(render("{{#if request.query.q}}a{{^}}b{{/if}}"), "a");
    assert_eq!(render("{{#if request.query.none}}{{else if request.query.x}}x={{request.query.x}}{{else}}neither{{/if}}"), "x=a b");
    assert_eq!(render("{{#if request.query.none}}1{{else if request.query.nope}}2{{else unless request.query.q}}3{{else}}4{{/if}}"), "4");
    assert_eq!(
        render("{{#if (eq request.method 'POST')}}post{{else if (eq request.method 'GET')}}get{{/if}}"),
        "post"
    );
    // Nesting, and blocks inside an escaped/unescaped mix.
    assert_eq!(render("{{#if request.query.q}}[{{#unless request.query.none}}{{{request.query.q.[1]}}}{{/unless}}]{{/if}}"), "[boots]");
}

#[test]
fn truthiness_follows_handlebars_java() {
    let t = |v: &str| order(&format!("{{{{#if {v}}}}}T{{{{else}}}}F{{{{/if}}}}"));
    assert_eq!(t("(jsonPath request.body '$.total')"), "F", "0 is falsy");
    assert_eq!(t("(jsonPath request.body '$.id')"), "T");
    assert_eq!(t("(jsonPath request.body '$.empty')"), "F", "an empty list is falsy");
    assert_eq!(t("(jsonPath request.body '$.note')"), "F", "an empty string is falsy");
    assert_eq!(t("(jsonPath request.body '$.missing')"), "F");
    assert_eq!(t("(jsonPath request.body '$.tags')"), "T");
    assert_eq!(t("false"), "F");
    assert_eq!(t("0"), "F");
    assert_eq!(t("'0'"), "T", "the text \"0\" is not empty");
    assert_eq!(order("{{#if (jsonPath request.body '$.total') includeZero=true}}T{{else}}F{{/if}}"), "T");
}

// ---- each / with / this / @data -----------------------------------------------------------------

#[test]
fn each_over_arrays_objects_and_multi_values() {
    assert_eq!(
        order("{{#each (jsonPath request.body '$.items')}}{{@index}}:{{sku}}x{{this.qty}}{{#unless @last}},{{/unless}}{{/each}}"),
        "0:a-1x2,1:b-2x1"
    );
    assert_eq!(order("{{#each (jsonPath request.body '$.tags')}}{{@key}}={{this}};{{/each}}"), "x=1;y=2;");
    assert_eq!(
        order("{{#each request.query.tag}}[{{this}}{{@first}}{{@last}}]{{/each}}"),
        "[newfirst][hotlast]"
    );
    assert_eq!(order("{{#each request.pathSegments}}/{{.}}{{/each}}"), "/orders/7");
    assert_eq!(order("{{#each (jsonPath request.body '$.empty')}}x{{else}}none{{/each}}"), "none");
    assert_eq!(order("{{#each request.query.missing}}x{{else}}none{{/each}}"), "none");
    assert_eq!(order("{{#each (jsonPath request.body '$.items[*].sku')}}{{this}} {{/each}}"), "a-1 b-2 ");
}

#[test]
fn parent_paths_and_root_values_inside_blocks() {
    assert_eq!(
        order(
            "{{#each (jsonPath request.body '$.items')}}{{#with sku}}{{this}}:{{../qty}};{{/with}}{{/each}}"
        ),
        "a-1:2;b-2:1;"
    );
    assert_eq!(order("{{#each request.query.tag}}{{request.method}}/{{../request.path}}/{{@root.request.query.n}} {{/each}}"), "POST//orders/7/5 POST//orders/7/5 ");
    // A bare name missing from the item is looked up in the blocks around it.
    assert_eq!(order("{{#with (jsonPath request.body '$')}}{{#each items}}{{id}}{{/each}}{{/with}}"), "77");
    assert_eq!(
        order("{{#with (jsonPath request.body '$')}}{{#each items}}{{this.id}}{{/each}}{{/with}}"),
        ""
    );
}

#[test]
fn with_changes_this() {
    assert_eq!(
        order("{{#with (jsonPath request.body '$.items[1]')}}{{sku}} costs {{price}}{{/with}}"),
        "b-2 costs 10"
    );
    assert_eq!(order("{{#with (jsonPath request.body '$.none')}}x{{else}}nothing{{/with}}"), "nothing");
    assert_eq!(
        order("{{#with (jsonPath request.body '$.items[0]')}}{{{jsonPath this '$.price'}}}{{/with}}"),
        "1.5"
    );
}

#[test]
fn escaping_applies_inside_blocks() {
    let body = br#"{"list":["<a>","b&c"]}"#;
    assert_eq!(
        render_with("{{#each (jsonPath request.body '$.list')}}{{this}}|{{{this}}};{{/each}}", "/", body, 1),
        "&lt;a&gt;|<a>;b&amp;c|b&c;"
    );
}

#[test]
fn whitespace_control_and_standalone_block_lines() {
    // WireMock keeps the lines of block tags (no prettyPrint); `~` trims.
    assert_eq!(
        order("[\n  {{#each request.query.tag}}\n  \"{{this}}\"\n  {{/each}}\n]"),
        "[\n  \n  \"new\"\n  \n  \"hot\"\n  \n]"
    );
    assert_eq!(
        order("[\n  {{~#each request.query.tag~}}\n  \"{{this}}\"\n  {{~/each~}}\n]"),
        "[\"new\"\"hot\"]"
    );
    assert_eq!(order("{{#if request.query.n~}}   yes   {{~/if}}!"), "yes!");
}

// ---- comparisons ------------------------------------------------------------------------------

#[test]
fn comparison_helpers() {
    assert_eq!(
        render("{{eq request.method 'POST'}} {{neq request.method 'POST'}} {{ne 1 2}}"),
        "true false true"
    );
    assert_eq!(render("{{#eq request.method 'POST'}}p{{else}}other{{/eq}}"), "p");
    assert_eq!(render("{{#neq request.method 'POST'}}p{{else}}other{{/neq}}"), "other");
    assert_eq!(order("{{gt (jsonPath request.body '$.id') 5}} {{lt (jsonPath request.body '$.id') 5}} {{gte 7 7}} {{lte 8 7}}"), "true false true false");
    assert_eq!(
        order("{{#gt request.query.n 3}}more{{else}}less{{/gt}}"),
        "more",
        "a number in text compares with a number"
    );
    assert_eq!(render("{{gt 'b' 'a'}} {{lt 'abc' 'abd'}}"), "true true");
    assert_eq!(
        order("{{eq (jsonPath request.body '$.id') 7}} {{eq (jsonPath request.body '$.id') '7'}}"),
        "true false"
    );
    assert_eq!(order("{{eq (math 1 '+' 1) 2.0}}"), "true");
    // As in WireMock, `request.query.tag` is the list of values: compare one of them.
    assert_eq!(order("{{eq request.query.tag 'new'}} {{eq request.query.tag.[0] 'new'}}"), "false true");
    assert_eq!(render("{{and request.query.q request.query.x}} {{and request.query.q request.query.no}} {{or request.query.no 'x'}} {{not request.query.no}}"), "true false true true");
    assert_eq!(render("{{#and request.query.q (eq request.method 'POST')}}both{{/and}}{{#or 0 ''}}x{{else}}neither{{/or}}{{#not false}}!{{/not}}"), "bothneither!");
}

#[test]
fn contains_and_matches() {
    assert_eq!(render("{{contains request.path 'orders'}} {{contains request.query.q 'boots'}} {{contains 'abc' request.query.none}}"), "true true false");
    assert_eq!(
        render("{{#contains request.path '/42/'}}has 42{{/contains}}{{#contains 'x' 'y'}}no{{/contains}}"),
        "has 42"
    );
    assert_eq!(
        render("{{matches request.path.[1] '[0-9]+'}} {{matches request.path '[0-9]+'}}"),
        "true false"
    );
    assert_eq!(render("{{#matches request.method 'P(OST|UT)'}}write{{/matches}}{{#if (matches 'abc' '[0-9]+')}}num{{/if}}"), "write");
}

// ---- WireMock value helpers -----------------------------------------------------------------------

#[test]
fn regex_extract() {
    assert_eq!(render("{{regexExtract request.path '[0-9]+'}}"), "42");
    assert_eq!(render("{{regexExtract request.path '[A-Z]+'}}"), "[ERROR: Nothing matched [A-Z]+]");
    assert_eq!(render("{{regexExtract request.path '[A-Z]+' default='none'}}"), "none");
    assert_eq!(
        render_with("{{regexExtract request.body '([a-z]+)-([A-Z]+)-([0-9]+)' 'parts'}}{{parts.0}},{{parts.1}},{{parts.[2]}}|{{parts}}", "/", b"abc-DEF-123", 1),
        "abc,DEF,123|abc"
    );
    assert_eq!(
        render_with(
            "{{regexExtract request.body '([a-z])([0-9])' 'p'}}{{#each p}}{{this}}{{/each}} {{size p}}",
            "/",
            b"a1 b2",
            1
        ),
        "a1b2 4"
    );
    assert_eq!(
        render_with("{{regexExtract request.body '(x)' 'p' default='no x'}}{{p}}", "/", b"abc", 1),
        "no x"
    );
}

#[test]
fn parse_json() {
    let body = br#"{"user":{"name":"Ann","roles":["admin","dev"]}}"#;
    let r = |src: &str| render_with(src, "/", body, 1);
    assert_eq!(
        r("{{parseJson request.body 'doc'}}{{doc.user.name}} {{doc.user.roles.1}} {{size doc.user.roles}}"),
        "Ann dev 2"
    );
    assert_eq!(r("{{#with (parseJson request.body)}}{{user.name}}{{/with}}"), "Ann");
    assert_eq!(r("{{#parseJson 'cfg'}}{\"limit\": {{math 2 '*' 5}}, \"on\": true}{{/parseJson}}{{cfg.limit}} {{#if cfg.on}}on{{/if}}"), "10 on");
    assert_eq!(r("{{{parseJson '[1, 2]'}}}"), "[1,2]");
    assert_eq!(r("{{#each (parseJson '{\"a\":1,\"b\":2}')}}{{@key}}{{this}}{{/each}}"), "a1b2");
    assert_eq!(r("[{{parseJson 'not json'}}]"), "[]");
}

#[test]
fn assign_block() {
    assert_eq!(render("{{#assign 'who'}}  {{request.method}} user {{/assign}}[{{who}}]"), "[POST user]");
}

#[test]
fn math() {
    assert_eq!(render("{{math 1 '+' 2}} {{math 10 '-' 20}} {{math 6 '*' 7}} {{math 6 'x' 7}} {{math 10 '/' 4}} {{math '10.0' '/' 4}} {{math 10 '%' 3}}"), "3 -10 42 42 3 2.5 1");
    assert_eq!(order("{{math (jsonPath request.body '$.items[0].price') '*' (jsonPath request.body '$.items[0].qty')}}"), "3.0");
    assert_eq!(order("{{math request.query.n '+' 1}} {{math request.pathSegments.[1] '*' 2}}"), "6 14");
    assert_eq!(render("{{math 1 '/' 0}}"), "[ERROR: Division by zero]");
}

#[test]
fn text_helpers() {
    assert_eq!(
        render("{{base64 'hello world'}} {{base64 'a' padding=false}} {{base64 'aGVsbG8=' decode=true}}"),
        "aGVsbG8gd29ybGQ&#x3D; YQ hello"
    );
    assert_eq!(render("{{{base64 'hello world'}}}"), "aGVsbG8gd29ybGQ=");
    assert_eq!(render("{{#base64}}{{request.method}}:x{{/base64}}"), "UE9TVDp4");
    assert_eq!(render("{{{urlEncode 'a b&c'}}} {{urlEncode 'a+b%26c' decode=true}}"), "a+b%26c a b&amp;c");
    assert_eq!(
        order("[{{trim (jsonPath request.body '$.name')}}] [{{#trim}}  {{request.method}}  {{/trim}}]"),
        "[Ann] [POST]"
    );
    assert_eq!(render("{{upper request.query.q}} {{lower 'ÀBC'}}"), "SHOES àbc");
}

#[test]
fn size_and_pick_random() {
    assert_eq!(order("{{size 'abcde'}} {{size request.query.tag}} {{size (jsonPath request.body '$.items')}} {{size (jsonPath request.body '$.tags')}} [{{size 5}}]"), "5 2 2 2 []");
    for seed in 0..20 {
        let v = render_with("{{pickRandom 'a' 'b' 'c'}}", "/", b"", seed);
        assert!(["a", "b", "c"].contains(&v.as_str()), "{v}");
        let v = render_with("{{pickRandom (jsonPath request.body '$.items[*].sku')}}", "/", ORDER, seed);
        assert!(["a-1", "b-2"].contains(&v.as_str()), "{v}");
        let v = render_with("{{{pickRandom 'a' 'b' 'c' count=2}}}", "/", b"", seed);
        let picked: Vec<String> = serde_json::from_str(&v).expect("a JSON list");
        assert!(picked.len() == 2 && picked[0] != picked[1], "{v}");
    }
    let all: std::collections::BTreeSet<String> =
        (0..50).map(|seed| render_with("{{pickRandom 1 2 3}}", "/", b"", seed)).collect();
    assert_eq!(all.into_iter().collect::<Vec<_>>(), ["1", "2", "3"]);
}

#[test]
fn date_format() {
    assert_eq!(
        render("{{dateFormat (now) 'yyyy-MM-dd'}} {{dateFormat (now offset='1 day') format='dd/MM/yyyy'}}"),
        "2024-03-05 06/03/2024"
    );
    assert_eq!(
        render("{{dateFormat '2021-06-14T10:30:00Z' 'HH:mm EEE'}} [{{dateFormat 'not a date' 'yyyy'}}]"),
        "10:30 Mon []"
    );
    assert_eq!(render("{{dateFormat '2021-06-14T10:30:00+02:00' 'epoch'}}"), "1623659400000");
}

#[test]
fn path_segments_and_indexed_values() {
    assert_eq!(
        render("{{request.pathSegments.[0]}} {{request.pathSegments}} {{size request.pathSegments}}"),
        "users users 3"
    );
    assert_eq!(
        render("{{request.query.q.[1]}} {{request.headers.x-trace.[1]}} {{request.query.q}}"),
        "boots def shoes"
    );
}

// ---- load-time errors ---------------------------------------------------------------------------

#[test]
fn block_errors_name_their_place() {
    assert_err("a\n{{#if request.body}}x", 2, 1, "unclosed block `{{#if}}`: missing `{{/if}}`");
    assert_err(
        "{{#if request.body}}{{#each request.query.q}}{{/if}}{{/each}}",
        1,
        46,
        "`{{/if}}` does not close `{{#each}}` (opened at line 1, column 21)",
    );
    assert_err("{{/if}}", 1, 1, "`{{/if}}` closes no block");
    assert_err("x {{else}}", 1, 3, "`{{else}}` outside a block");
    assert_err("{{#if request.body}}a{{else}}b{{else}}c{{/if}}", 1, 31, "a second `{{else}}`");
    assert_err("{{#if request.body}}a{{else 'x'}}b{{/if}}", 1, 29, "expected a block helper after `else`");
    assert_err(
        "{{#contains 'ab' 'a'}}y{{else}}n{{/contains}}",
        1,
        24,
        "`{{else}}` has no effect in `{{#contains}}`",
    );
    assert_err("{{#bogus 1}}{{/bogus}}", 1, 4, "unknown block helper `bogus`");
    assert_err("{{#jsonPath request.body '$'}}{{/jsonPath}}", 1, 4, "`jsonPath` is not a block helper");
    assert_err("{{#if}}{{/if}}", 1, 1, "`{{#if}}` needs 1 argument");
    assert_err("{{#if a b}}{{/if}}", 1, 1, "found 2");
    assert_err("{{#each request.query.q x=1}}{{/each}}", 1, 25, "unknown argument `x` for `each`");
    assert_err("{{#}}", 1, 1, "empty block");
    assert_err("{{#if request.body}}{{/if", 1, 21, "unclosed `{{`");
    assert_err("{{#trim request.body}}{{/trim}}", 1, 9, "transforms its body");
    assert_err("{{#parseJson 3}}{{/parseJson}}", 1, 14, "must be a quoted string");
    assert_err("{{^request.body 'x'}}{{/request.body}}", 1, 17, "takes a single value");
}

#[test]
fn blocks_nest_up_to_a_bound_and_deeper_is_refused_not_a_crash() {
    let nested = |n: usize| format!("{}x{}", "{{#if request.body}}".repeat(n), "{{/if}}".repeat(n));
    assert_eq!(render(&nested(super::parse::MAX_BLOCK_DEPTH)), "x");
    let too_deep = nested(super::parse::MAX_BLOCK_DEPTH + 1);
    assert_err(&too_deep, 1, 20 * super::parse::MAX_BLOCK_DEPTH + 1, "blocks nest more than 100 deep");
    assert!(err(&nested(100_000)).message.contains("nest more than"));
    let chain = |n: usize| {
        format!("{{{{#if request.query.none}}}}{}z{{{{/if}}}}", "{{else if request.query.none}}".repeat(n))
    };
    assert_eq!(render(&chain(50)), "");
    assert!(err(&chain(100_000)).message.contains("counting each `{{else if}}`"));
}

#[test]
fn scope_errors() {
    assert_err("{{this}}", 1, 3, "only mean something inside `{{#each}}` or `{{#with}}`");
    assert_err("{{../x}}", 1, 3, "only mean something inside");
    assert_err("{{@key}}", 1, 3, "`@key` only means something inside `{{#each}}`");
    assert_err("{{#each request.query.q}}{{@nope}}{{/each}}", 1, 28, "unknown data variable `@nope`");
    assert_err("{{#each request.query.q}}{{..}}{{/each}}", 1, 28, "is the root of the template");
    assert_err("{{#each request.query.q}}{{/each}}{{name}}", 1, 37, "unknown helper `name`");
    assert_err("{{parts.0}}{{regexExtract request.body '(a)' 'parts'}}", 1, 3, "unknown path `parts.0`");
}

#[test]
fn helper_errors_name_their_place() {
    assert_err("{{eq request.method}}", 1, 3, "`eq` needs 2 arguments (two values to compare");
    assert_err("{{#if (gt 1)}}{{/if}}", 1, 8, "`gt` needs 2 arguments");
    assert_err("{{not}}", 1, 3, "`not` needs 1 argument");
    assert_err("{{and}}", 1, 3, "`and` needs at least 1 value");
    assert_err("{{eq 1 2 yes='y'}}", 1, 10, "unknown argument `yes` for `eq`");
    assert_err("{{matches request.path '[a-'}}", 1, 24, "bad regular expression '[a-'");
    assert_err("{{matches request.path request.method}}", 1, 24, "must be a quoted string, found a path");
    assert_err("{{regexExtract request.body '(?<=a)b'}}", 1, 29, "bad regular expression");
    assert_err("{{regexExtract request.body 'a' 'x y'}}", 1, 33, "cannot be a variable name");
    assert_err(
        "{{jsonPath (regexExtract request.body '(a)' 'v') '$'}}",
        1,
        45,
        "cannot be used inside `( )`",
    );
    assert_err("{{math 1 '^' 2}}", 1, 10, "unknown `math` operator '^'");
    assert_err("{{math 1 + 2}}", 1, 10, "unexpected `+`");
    assert_err("{{math 1 request.method 2}}", 1, 10, "must be quoted");
    assert_err("{{math 1 '+'}}", 1, 3, "`math` needs 3 arguments");
    assert_err("{{base64 'x' decode='yes'}}", 1, 21, "`decode` must be true or false");
    assert_err("{{urlEncode 'x' encoding='latin1'}}", 1, 26, "only encoding='utf-8'");
    assert_err("{{upper}}", 1, 3, "`upper` needs 1 argument");
    assert_err("{{size 'a' 'b'}}", 1, 3, "found 2");
    assert_err("{{pickRandom}}", 1, 3, "needs values to pick from");
    assert_err("{{pickRandom 'a' count=0}}", 1, 24, "between 1 and");
    assert_err("{{dateFormat (now)}}", 1, 3, "needs a pattern");
    assert_err("{{dateFormat (now) 'medium'}}", 1, 20, "locale style 'medium'");
    assert_err("{{dateFormat (now) 'yyyy-QQ'}}", 1, 26, "unsupported date pattern letter `Q`");
    assert_err("{{parseJson}}", 1, 3, "`parseJson` needs 1 to 2 arguments");
}

#[test]
fn variables_are_read_after_their_assignment_in_any_order_of_slots() {
    // `w` gets slot 1 but is assigned first at render time.
    let src = "{{#if request.query.none}}{{regexExtract request.body '(a)' 'v'}}{{/if}}{{#parseJson 'w'}}{\"k\":1}{{/parseJson}}{{w.k}}[{{v}}]";
    assert_eq!(render_with(src, "/", b"abc", 1), "1[]");
    assert!(err("{{#each request.query.q}}").message.contains("unclosed block"));
}

// ---- docs/templates.md ----------------------------------------------------------------------------

/// The first `code span` of a table cell.
fn code_span(cell: &str) -> Option<&str> {
    let start = cell.find('`')? + 1;
    let len = cell[start..].find('`')?;
    Some(&cell[start..start + len])
}

/// Every row of every `| Template | Renders |` table in docs/templates.md renders exactly what
/// the page says, for the request the page describes (`order`'s).
#[test]
fn documented_block_and_helper_examples() {
    let doc = include_str!("../../../docs/templates.md");
    let mut in_table = false;
    let mut checked = 0;
    for (i, line) in doc.lines().enumerate() {
        if line.starts_with("| Template | Renders |") {
            in_table = true;
            continue;
        }
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        if !in_table || line.starts_with("|---") {
            continue;
        }
        let cells: Vec<&str> = line.split(" | ").collect();
        let (Some(template), Some(expected)) =
            (cells.first().and_then(|c| code_span(c)), cells.get(1).and_then(|c| code_span(c)))
        else {
            panic!("docs/templates.md:{}: a row without a template and its output: {line}", i + 1)
        };
        // `\|` is a `|` escaped for the Markdown table.
        let template = template.replace("\\|", "|");
        assert_eq!(order(&template), expected, "docs/templates.md:{}: {template}", i + 1);
        checked += 1;
    }
    assert!(checked >= 60, "only {checked} documented examples found");
}

// ---- block parameters (`as |item index|`) ---------------------------------------------------

#[test]
fn block_parameters_name_the_item_its_index_or_key_and_the_with_value() {
    assert_eq!(
        order("{{#each (jsonPath request.body '$.items') as |item|}}<{{item.sku}}>{{/each}}"),
        "<a-1><b-2>"
    );
    assert_eq!(
        order("{{#each (jsonPath request.body '$.items') as |item i|}}{{i}}={{item.qty}}{{sku}};{{/each}}"),
        "0=2a-1;1=1b-2;",
        "the item is still `this`, so bare names work too"
    );
    assert_eq!(order("{{#each (jsonPath request.body '$.tags') as |v k|}}{{k}}:{{v}} {{/each}}"), "x:1 y:2 ");
    assert_eq!(
        order("{{#with (jsonPath request.body '$.items[0]') as |first|}}{{first.sku}}{{/with}}"),
        "a-1"
    );
    // An outer block's parameters from an inner block, and an inner one shadowing an outer.
    assert_eq!(
        order("{{#each (jsonPath request.body '$.items') as |item i|}}{{#each request.query.tag as |t|}}{{i}}{{item.sku}}{{t}} {{/each}}{{/each}}"),
        "0a-1new 0a-1hot 1b-2new 1b-2hot "
    );
    assert_eq!(
        order(
            "{{#each request.query.tag as |x|}}{{#each request.pathSegments as |x|}}{{x}}{{/each}}{{/each}}"
        ),
        "orders7orders7"
    );
    // Usable as helper arguments; fields of a JSON item.
    assert_eq!(
        order("{{#each request.query.tag as |t|}}{{upper t}}{{#if (eq t 'hot')}}!{{/if}}{{/each}}"),
        "NEWHOT!"
    );
    assert_eq!(order("{{#each (jsonPath request.body '$.items') as |it|}}{{it.nope}}{{/each}}"), "");
}

#[test]
fn block_parameter_mistakes_are_refused_with_their_place() {
    assert_err("{{#if request.query.q as |x|}}{{/if}}", 1, 27, "takes no block parameters");
    assert_err("{{#with request.query.q as |x y|}}{{/with}}", 1, 31, "one block parameter");
    assert_err("{{#each request.query.q as |x y z|}}{{/each}}", 1, 33, "at most two");
    assert_err("{{#each request.query.q as ||}}{{/each}}", 1, 25, "names no block parameter");
    assert_err("{{#each request.query.q as |x| request.method}}{{/each}}", 1, 32, "must come last");
    assert_err("{{#each request.query.q as |x i|}}{{i.y}}{{/each}}", 1, 39, "has no fields");
    assert_err("{{request.method as |x|}}", 1, 22, "belong to a block");
    assert_err("{{#each request.query.q as |x|}}{{/each}}{{x}}", 1, 44, "unknown helper `x`");
}

#[test]
fn documented_block_parameter_examples() {
    // docs/templates.md, "Block parameters".
    assert_eq!(
        order("{{#each (jsonPath request.body '$.items') as |item i|}}{{i}}={{item.qty}};{{/each}}"),
        "0=2;1=1;"
    );
    assert_eq!(
        order("{{#each (jsonPath request.body '$.items') as |item|}}{{#each request.query.tag as |t|}}{{item.sku}}/{{t}} {{/each}}{{/each}}"),
        "a-1/new a-1/hot b-2/new b-2/hot "
    );
}
