//! The comparison's report: a Markdown table (compare.md), the raw rounds (compare.tsv) and SVG
//! charts per scenario, CPU µs per request (`cpu-<scenario>.svg`) and the latency percentile
//! spectrum at the fixed offered rate (`latency-<scenario>.svg`). Figures are medians over
//! rounds; the spectrum is the last round's histogram.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use super::{Cell, CompareError, Results, Sample, Scenario};

/// An open-loop run that achieved less than this share of the offered rate was overloaded: its
/// latencies measure a queue, and the table says so.
const OVERLOADED_BELOW: f64 = 0.95;

/// Writes compare.md, compare.tsv and the charts into `out`.
pub fn write(results: &Results, out: &Path) -> Result<(), CompareError> {
    fs::create_dir_all(out).map_err(|source| CompareError::Io {
        what: "creating",
        path: out.into(),
        source,
    })?;
    let save = |name: &str, text: String| {
        let path = out.join(name);
        fs::write(&path, text).map_err(|source| CompareError::Io { what: "writing", path, source })
    };
    save("compare.md", markdown(results))?;
    save("compare.tsv", tsv(results))?;
    for scenario in Scenario::ALL {
        let bars: Vec<(String, f64)> = rows_of(results, scenario)
            .filter_map(|(label, samples)| {
                Some((label.to_owned(), median(samples.iter().map(|s| s.cpu_us))?))
            })
            .collect();
        if bars.is_empty() {
            continue;
        }
        let path = out.join(format!("cpu-{}.svg", scenario.id()));
        cpu_chart(&path, scenario, &bars)
            .map_err(|message| CompareError::Chart { path: path.clone(), message })?;
        let lines: Vec<(String, Vec<(f64, f64)>)> = rows_of(results, scenario)
            .filter_map(|(label, samples)| Some((label.to_owned(), spectrum(samples.last()?))))
            .collect();
        let path = out.join(format!("latency-{}.svg", scenario.id()));
        latency_chart(&path, scenario, results.settings.rate, &lines)
            .map_err(|message| CompareError::Chart { path: path.clone(), message })?;
    }
    Ok(())
}

/// The measured rows of one scenario: (server, samples).
fn rows_of(results: &Results, scenario: Scenario) -> impl Iterator<Item = (&str, &[Sample])> {
    results.rows.iter().enumerate().filter_map(move |(row, label)| {
        match results.cells.get(&(row, scenario)) {
            Some(Cell::Measured(samples)) if !samples.is_empty() => {
                Some((label.as_str(), samples.as_slice()))
            }
            _ => None,
        }
    })
}

fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut values: Vec<f64> = values.filter(|v| v.is_finite()).collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 })
}

/// Thousands separated by commas, as the rest of docs/benchmarks.md writes them.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn micros(value: f64) -> String {
    if value >= 100.0 {
        thousands(value)
    } else {
        format!("{value:.1}")
    }
}

fn markdown(results: &Results) -> String {
    let s = &results.settings;
    let mut md = String::new();
    let _ = writeln!(md, "<!-- written by `{}` -->", results.command);
    let _ = writeln!(
        md,
        "Every server on core {}, the load generator (`mockplane-loadtest run`) on core {}; {} round(s), \
         medians. Closed loop: {} connections for {:.1} s. Open loop: {} req/s offered for {:.1} s.\n",
        s.server_core,
        s.client_core,
        s.rounds,
        s.connections,
        s.measure.as_secs_f64(),
        thousands(s.rate as f64),
        s.measure.as_secs_f64()
    );
    // Cells that were not measured get a numbered note, the same number in every table.
    let mut notes = Vec::new();
    let mut note_of = std::collections::BTreeMap::new();
    for (row, label) in results.rows.iter().enumerate() {
        for scenario in Scenario::ALL {
            let note = match results.cells.get(&(row, scenario)) {
                Some(Cell::WrongAnswer(why)) => {
                    format!("{label}, {}: wrong answer, not measured: {why}", scenario.title())
                }
                Some(Cell::Failed(why)) => format!("{label}, {}: failed: {why}", scenario.title()),
                _ => continue,
            };
            notes.push(note);
            note_of.insert((row, scenario), notes.len());
        }
    }
    let mut table = |title: &str, value: &dyn Fn(&[Sample]) -> String| {
        let _ = writeln!(md, "{title}\n");
        let mut head = "| server |".to_owned();
        let mut rule = "|---|".to_owned();
        for scenario in Scenario::ALL {
            head.push_str(&format!(" {} |", scenario.title()));
            rule.push_str("---|");
        }
        let _ = writeln!(md, "{head}\n{rule}");
        for (row, label) in results.rows.iter().enumerate() {
            let mut line = format!("| {label} |");
            for scenario in Scenario::ALL {
                let text = match results.cells.get(&(row, scenario)) {
                    None => "—".to_owned(),
                    Some(Cell::NotApplicable) => "n/a".to_owned(),
                    Some(Cell::WrongAnswer(_) | Cell::Failed(_)) => {
                        format!("see note {}", note_of.get(&(row, scenario)).copied().unwrap_or(0))
                    }
                    Some(Cell::Measured(samples)) if samples.is_empty() => "—".to_owned(),
                    Some(Cell::Measured(samples)) => value(samples),
                };
                line.push_str(&format!(" {text} |"));
            }
            let _ = writeln!(md, "{line}");
        }
        let _ = writeln!(md);
    };
    table(
        "**Server CPU µs per request** (closed loop; utime + stime from /proc/PID/stat ÷ requests):",
        &|samples| format!("{:.2}", median(samples.iter().map(|s| s.cpu_us)).unwrap_or(f64::NAN)),
    );
    table("**Requests per second** (closed loop):", &|samples| {
        thousands(median(samples.iter().map(|s| s.closed.rps)).unwrap_or(0.0))
    });
    let rate = s.rate as f64;
    table(
        &format!("**Latency at {} req/s offered**, p50 / p99 / p99.9 in µs (open loop):", thousands(rate)),
        &|samples| {
            let m = |f: fn(&Sample) -> f64| median(samples.iter().map(f)).unwrap_or(f64::NAN);
            let achieved = m(|s| s.open.rps);
            let mut text = format!(
                "{} / {} / {}",
                micros(m(|s| s.open.p50_us)),
                micros(m(|s| s.open.p99_us)),
                micros(m(|s| s.open.p999_us))
            );
            if achieved < rate * OVERLOADED_BELOW {
                text.push_str(&format!(" (overloaded: {} req/s)", thousands(achieved)));
            }
            text
        },
    );
    let _ = writeln!(
        md,
        "n/a: the server cannot express the scenario; —: not run on that server (the 10k-rule hit \
         runs on the 10k-rule servers)."
    );
    let errors: Vec<String> = results
        .rows
        .iter()
        .enumerate()
        .flat_map(|(row, label)| Scenario::ALL.into_iter().map(move |scenario| (row, label, scenario)))
        .filter_map(|(row, label, scenario)| match results.cells.get(&(row, scenario)) {
            Some(Cell::Measured(samples)) => {
                let errors: u64 = samples.iter().map(|s| s.closed.errors + s.open.errors).sum();
                let other: u64 =
                    samples.iter().map(|s| s.closed.unexpected_status + s.open.unexpected_status).sum();
                (errors + other > 0).then(|| {
                    format!(
                        "{label}, {}: {errors} connection errors, {other} answers of an unexpected status",
                        scenario.title()
                    )
                })
            }
            _ => None,
        })
        .collect();
    if !results.warmups.is_empty() {
        let _ = writeln!(
            md,
            "\nThe JVM peers were warmed before their rounds with a mix of their scenarios' requests, \
             until their JIT compilers used at most {:.0} % of their CPU in two 5 s steps running \
             (the compiler threads ran on the load generator's core meanwhile and went back to the \
             server's core after); then their request logs were cleared:\n",
            super::JIT_IDLE_SHARE * 100.0
        );
        for warmup in &results.warmups {
            let steps: Vec<String> = warmup.cpu_us.iter().map(|c| format!("{c:.1}")).collect();
            let _ = writeln!(
                md,
                "- {}: {:.0} s, {} requests; the last steps {} µs per request{}",
                warmup.label,
                warmup.seconds,
                thousands(warmup.requests as f64),
                steps.join(", "),
                if warmup.settled {
                    ""
                } else {
                    " (its JIT **still at work** when the warm-up's limit was reached)"
                }
            );
        }
    }
    let _ = writeln!(md);
    for (i, note) in notes.iter().enumerate() {
        let _ = writeln!(md, "{}. {note}", i + 1);
    }
    let _ = writeln!(md);
    for note in errors.iter().chain(&results.skipped) {
        let _ = writeln!(md, "- {note}");
    }
    md
}

fn tsv(results: &Results) -> String {
    let mut out = "round\tserver\tscenario\treq_per_s\tcpu_us_per_req\topen_rps\tp50_us\tp90_us\tp99_us\tp999_us\tmax_us\tlate\terrors\n".to_owned();
    for (row, label) in results.rows.iter().enumerate() {
        for scenario in Scenario::ALL {
            if let Some(Cell::Measured(samples)) = results.cells.get(&(row, scenario)) {
                for s in samples {
                    let _ = writeln!(
                        out,
                        "{}\t{label}\t{}\t{:.0}\t{:.3}\t{:.0}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                        s.round,
                        scenario.id(),
                        s.closed.rps,
                        s.cpu_us,
                        s.open.rps,
                        s.open.p50_us,
                        s.open.p90_us,
                        s.open.p99_us,
                        s.open.p999_us,
                        s.open.max_us,
                        s.open.late,
                        s.closed.errors + s.open.errors
                    );
                }
            }
        }
    }
    out
}

/// The open loop's latency by percentile: (percentile, µs), from its histogram; the reported
/// percentiles where the histogram is missing.
fn spectrum(sample: &Sample) -> Vec<(f64, f64)> {
    let o = &sample.open;
    let points: Vec<(f64, f64)> = crate::run::percentile_spectrum(&o.histogram)
        .into_iter()
        .filter(|(p, _)| *p > 0.0)
        .map(|(p, us)| (p, us as f64))
        .collect();
    if points.len() >= 2 {
        points
    } else {
        vec![(50.0, o.p50_us), (90.0, o.p90_us), (99.0, o.p99_us), (99.9, o.p999_us), (99.99, o.max_us)]
    }
}

/// Percentiles spread as "nines": 90% → 1, 99% → 2, 99.9% → 3.
fn nines(percentile: f64) -> f64 {
    -(1.0 - (percentile / 100.0).min(0.99999)).log10()
}

fn cpu_chart(path: &PathBuf, scenario: Scenario, bars: &[(String, f64)]) -> Result<(), String> {
    let height = 90 + 34 * bars.len() as u32;
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let max = bars.iter().map(|(_, v)| *v).fold(0.0, f64::max).max(0.01) * 1.2;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("Server CPU µs per request: {}", scenario.title()), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(250)
        .build_cartesian_2d(0.0..max, (0..bars.len()).into_segmented())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(bars.len())
        .y_label_formatter(&|v| match v {
            // The first row on top.
            SegmentValue::CenterOf(i) if *i < bars.len() => bars[bars.len() - 1 - *i].0.clone(),
            _ => String::new(),
        })
        .x_desc("CPU µs per request (median of rounds)")
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (label, v))| {
            let color = if label.starts_with("mockplane") { BLUE } else { RGBColor(150, 150, 150) };
            let at = bars.len() - 1 - i;
            let mut bar = Rectangle::new(
                [(0.0, SegmentValue::Exact(at)), (*v, SegmentValue::Exact(at + 1))],
                color.filled(),
            );
            bar.set_margin(5, 5, 0, 0);
            bar
        }))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            Text::new(
                format!(" {v:.2}"),
                (*v, SegmentValue::CenterOf(bars.len() - 1 - i)),
                ("sans-serif", 13),
            )
        }))
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

fn latency_chart(
    path: &PathBuf,
    scenario: Scenario,
    rate: u64,
    lines: &[(String, Vec<(f64, f64)>)],
) -> Result<(), String> {
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let max = lines.iter().flat_map(|(_, p)| p.iter().map(|(_, v)| *v)).fold(10.0, f64::max) * 1.5;
    let min = lines.iter().flat_map(|(_, p)| p.iter().map(|(_, v)| *v)).fold(max, f64::min).max(1.0) / 1.5;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Latency at {} req/s offered: {}", thousands(rate as f64), scenario.title()),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..5.2, (min..max).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_labels(6)
        .x_label_formatter(&|n: &f64| match n.round() as i32 {
            0 => "0%".into(),
            1 => "90%".into(),
            2 => "99%".into(),
            3 => "99.9%".into(),
            4 => "99.99%".into(),
            5 => "max".into(),
            _ => String::new(),
        })
        .y_label_formatter(&|us: &f64| {
            if *us >= 1000.0 {
                format!("{} ms", us / 1000.0)
            } else {
                format!("{us:.0} µs")
            }
        })
        .x_desc("percentile")
        .y_desc("latency")
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, (label, points)) in lines.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points.iter().map(|(p, v)| (nines(*p), *v)), color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_thousands_read_as_the_docs_write_them() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), Some(2.0));
        assert_eq!(median([4.0, 1.0].into_iter()), Some(2.5));
        assert_eq!(median(std::iter::empty()), None);
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
    }

    #[test]
    fn the_charts_name_their_servers_and_show_their_figures() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("cpu.svg");
        cpu_chart(
            &path,
            Scenario::Static,
            &[("nginx return 200".into(), 4.25), ("mockplane, 3 rules".into(), 4.5)],
        )
        .expect("cpu chart");
        let svg = fs::read_to_string(&path).expect("svg");
        assert!(
            svg.contains("nginx return 200") && svg.contains("mockplane, 3 rules") && svg.contains("4.25"),
            "{svg}"
        );
        let path = dir.path().join("latency.svg");
        let points = vec![(50.0, 60.0), (90.0, 80.0), (99.0, 150.0), (99.9, 900.0), (99.99, 2000.0)];
        latency_chart(&path, Scenario::Miss, 5000, &[("WireMock, journal on".into(), points)])
            .expect("latency chart");
        let svg = fs::read_to_string(&path).expect("svg");
        assert!(
            svg.contains("WireMock, journal on") && svg.contains("99.9%") && svg.contains("5,000"),
            "{svg}"
        );
    }
}
