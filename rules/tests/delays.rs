//! Response delays follow the distribution their rule names. Each distribution is drawn many
//! times from one seeded generator (so the figures are the same on every run) and its median
//! and spread are checked: a sampler that ignored a parameter (the range of `uniform`, the
//! `stddev` of `normal`, the `sigma` of `lognormal`) or misread one fails.

use mockplane_rules::{CompileOptions, RenderBuffers, Request, RequestContext, RuleSet, RuleTable};
use rand::rngs::SmallRng;
use rand::SeedableRng;

const DRAWS: usize = 4000;

fn table(yaml: &str) -> RuleTable {
    let set = RuleSet::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}"));
    RuleTable::compile(&set, &CompileOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// The delays, in milliseconds, of `n` requests to `path`, all from one generator.
fn delays_ms(t: &RuleTable, path: &str, n: usize) -> Vec<f64> {
    let req = Request::new("GET", path, &[], b"");
    let cx = RequestContext::new(&req);
    let mut rng = SmallRng::seed_from_u64(7);
    let mut buffers = RenderBuffers::default();
    (0..n)
        .map(|_| {
            let answer = t
                .respond(&cx, std::time::SystemTime::now(), &mut rng, &mut buffers)
                .expect("the rule answers");
            answer.delay.expect("the rule has a delay").as_secs_f64() * 1000.0
        })
        .collect()
}

fn median(xs: &[f64]) -> f64 {
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

fn std_dev(xs: &[f64]) -> f64 {
    let m = mean(xs);
    (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
}

const RULES: &str = r#"
rules:
  - { id: fixed, match: { path: /fixed }, response: { delay: { fixed: 250 } } }
  - { id: uniform, match: { path: /uniform }, response: { delay: { uniform: { min: 10, max: 20 } } } }
  - { id: normal, match: { path: /normal }, response: { delay: { normal: { mean: 100, stddev: 10 } } } }
  - { id: near-zero, match: { path: /near-zero }, response: { delay: { normal: { mean: 5, stddev: 10 } } } }
  - { id: lognormal, match: { path: /lognormal }, response: { delay: { lognormal: { median: 50, sigma: 0.5 } } } }
  - { id: step, match: { path: /step }, response: { delay: { step: { base: 100, step: 50, max: 200 } } } }
"#;

#[test]
fn fixed_and_step_delays_are_exact() {
    let t = table(RULES);
    assert!(delays_ms(&t, "/fixed", 100).iter().all(|&d| d == 250.0));
    assert_eq!(delays_ms(&t, "/step", 4), [100.0, 150.0, 200.0, 200.0]);
}

#[test]
fn uniform_delays_cover_their_whole_range_evenly() {
    let d = delays_ms(&table(RULES), "/uniform", DRAWS);
    // Whole milliseconds from 10 to 20, both ends included: 11 values, each ~1/11 of the draws.
    let mut counts = [0usize; 11];
    for &x in &d {
        assert!(x.fract() == 0.0 && (10.0..=20.0).contains(&x), "{x} ms is outside 10..=20");
        counts[x as usize - 10] += 1;
    }
    let expected = DRAWS / 11;
    assert!(counts.iter().all(|&c| c > expected * 3 / 4 && c < expected * 5 / 4), "uneven: {counts:?}");
    assert!((mean(&d) - 15.0).abs() < 0.3, "mean {}", mean(&d));
}

#[test]
fn normal_delays_have_their_mean_and_standard_deviation() {
    let d = delays_ms(&table(RULES), "/normal", DRAWS);
    // Standard errors at 4000 draws: ~0.2 ms for the median, ~0.1 ms for the deviation.
    assert!((median(&d) - 100.0).abs() < 1.0, "median {}", median(&d));
    assert!((std_dev(&d) - 10.0).abs() < 0.5, "standard deviation {}", std_dev(&d));
}

#[test]
fn normal_delays_are_clamped_at_zero() {
    let d = delays_ms(&table(RULES), "/near-zero", DRAWS);
    assert!(d.iter().all(|&x| x >= 0.0));
    // P(N(5, 10) < 0) = P(Z < -0.5) = 0.31: that share is clamped to exactly 0.
    let zeros = d.iter().filter(|&&x| x == 0.0).count() as f64 / DRAWS as f64;
    assert!((zeros - 0.31).abs() < 0.03, "share of zero delays {zeros}");
}

#[test]
fn lognormal_delays_have_their_median_and_sigma() {
    let d = delays_ms(&table(RULES), "/lognormal", DRAWS);
    // Standard error of the median ~0.5 ms; of sigma (the deviation of ln d) ~0.006.
    assert!((median(&d) - 50.0).abs() < 2.0, "median {}", median(&d));
    let logs: Vec<f64> = d.iter().map(|x| x.ln()).collect();
    assert!((std_dev(&logs) - 0.5).abs() < 0.03, "sigma {}", std_dev(&logs));
    // The long tail: the 95th percentile is median * e^(1.645 sigma) = 114 ms.
    let mut sorted = d.clone();
    sorted.sort_by(f64::total_cmp);
    let p95 = sorted[DRAWS * 95 / 100];
    assert!((100.0..130.0).contains(&p95), "95th percentile {p95}");
}

#[test]
fn a_chunked_dribble_rides_on_the_answer_and_is_checked_at_its_place() {
    let t = table(
        r#"
rules:
  - id: dribble
    match: { path: /d }
    response: { body: abc, chunked_dribble: { chunks: 3, total_ms: 300 } }
  - id: fault
    match: { path: /f }
    response: { body: abc, chunked_dribble: { chunks: 3, total_ms: 300 }, faults: [{ type: empty_response }] }
"#,
    );
    let mut rng = SmallRng::seed_from_u64(7);
    let mut buffers = RenderBuffers::default();
    let mut dribble = |path: &str| {
        let req = Request::new("GET", path, &[], b"");
        let cx = RequestContext::new(&req);
        t.respond(&cx, std::time::SystemTime::now(), &mut rng, &mut buffers).expect("answers").dribble
    };
    let d = dribble("/d").expect("dribbled");
    assert_eq!((d.chunks, d.total), (3, std::time::Duration::from_millis(300)));
    assert_eq!(dribble("/f"), None, "a fault sends no body to dribble");

    for (spec, place) in [
        ("{ chunks: 0, total_ms: 10 }", "rules[0].response.chunked_dribble.chunks"),
        ("{ chunks: 2, total_ms: 3600001 }", "rules[0].response.chunked_dribble.total_ms"),
    ] {
        let yaml = format!("rules:\n  - id: r\n    response: {{ body: x, chunked_dribble: {spec} }}\n");
        let set = RuleSet::from_yaml(&yaml).expect("parses");
        let err = RuleTable::compile(&set, &CompileOptions::default()).expect_err("refused").to_string();
        assert!(err.contains(place), "{err}");
    }
    let set = RuleSet::from_yaml("rules:\n  - id: r\n    response: { chunked_dribble: { chunks: 2 } }\n");
    assert!(set.is_err_and(|e| e.to_string().contains("total_ms")), "total_ms is required");
}
