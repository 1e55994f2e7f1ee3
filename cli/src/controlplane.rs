//! `mockplane controlplane`: serves a rules file as an environment's snapshot over xDS and
//! pushes a new version whenever the file changes. The store and the GraphQL API come later;
//! this file-backed mode is also how teams keep their rules in git.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::builder::TypedValueParser as _;
use mockplane_controlplane::file::{load_rules_file, RulesFileWatch};
use mockplane_controlplane::limits::{DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_NODES};
use mockplane_controlplane::server::bind;
use mockplane_controlplane::{ControlPlane, Limits};

#[derive(clap::Args)]
pub(crate) struct ControlplaneArgs {
    /// The rules file served as the environment's snapshot; a new version on every change.
    #[arg(long)]
    rules: PathBuf,
    /// The environment the file serves, project/environment.
    #[arg(long)]
    environment: String,
    /// Where the xDS (gRPC) server listens.
    #[arg(long, default_value = "127.0.0.1:18000")]
    xds_listen: SocketAddr,
    /// The largest gRPC message accepted from a data plane (an xDS request, a report), in
    /// bytes; larger ones are refused with OUT_OF_RANGE. Pushes of rule sets are not limited
    /// by this.
    #[arg(long, default_value_t = DEFAULT_MAX_MESSAGE_BYTES, value_parser = clap::value_parser!(u32).range(1024..).map(|n| n as usize))]
    max_message_bytes: usize,
    /// Data planes remembered; a new one takes the place of the one disconnected the longest,
    /// and is refused (RESOURCE_EXHAUSTED) when all are connected.
    #[arg(long, default_value_t = DEFAULT_MAX_NODES, value_parser = clap::value_parser!(u32).range(1..).map(|n| n as usize))]
    max_nodes: usize,
}

pub(crate) fn run(args: ControlplaneArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(args))
}

async fn serve(args: ControlplaneArgs) -> ExitCode {
    let cp = ControlPlane::with_limits(Limits {
        max_message_bytes: args.max_message_bytes,
        max_nodes: args.max_nodes,
    });
    let watch = RulesFileWatch::new(args.rules.clone());
    match load_rules_file(&cp.cache, &args.environment, &args.rules) {
        Ok(s) => {
            tracing::info!(environment = %args.environment, version = %s.version_info, rules = s.rules.rules.len(), "rules loaded")
        }
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    }
    let listener = match bind(args.xds_listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot listen on {}: {e}", args.xds_listen);
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().unwrap_or(args.xds_listen);
    tracing::info!(xds = %addr, "control plane serving");
    let watcher =
        tokio::spawn(watch.run(cp.cache.clone(), args.environment.clone(), Duration::from_millis(500)));
    let result = cp.serve(listener, shutdown_signal()).await;
    watcher.abort();
    match result {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "the xDS server failed");
            ExitCode::FAILURE
        }
    }
}

pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("shutting down");
}
