//! `mockplane-loadtest`: load-test tools for mockplane. `run` loads one server
//! (docs/loadtest.md); `compare` measures mockplane beside its peers (docs/benchmarks.md).

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mockplane_loadtest::run::{self, OutputFormat, RunArgs};

#[derive(Debug, Parser)]
#[command(name = "mockplane-loadtest", version, about = "Load-test tools for mockplane")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load one HTTP/1.1 server, closed or open loop, and report throughput and latency.
    Run(RunArgs),
    /// Start mockplane and its peers (nginx, Envoy, WireMock, MockServer) pinned to one core,
    /// load each with the same scenarios, and write a table and charts.
    Compare(mockplane_loadtest::compare::CompareArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Compare(args) => match mockplane_loadtest::compare::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mockplane-loadtest compare: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Run(args) => match run::run(&args, run::stderr_is_terminal()) {
            Ok(report) => {
                let text = match args.output_format {
                    OutputFormat::Text => report.table(),
                    OutputFormat::Json => serde_json::to_string(&report).expect("a report serializes") + "\n",
                };
                // A reader that went away (`| head`) is not an error of the run.
                let _ = std::io::stdout().lock().write_all(text.as_bytes());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("mockplane-loadtest run: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
