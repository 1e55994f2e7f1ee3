//! `mockplane controlplane`: serves a rules file as an environment's snapshot over xDS and
//! pushes a new version whenever the file changes. The store and the GraphQL API come later;
//! this file-backed mode is also how teams keep their rules in git.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use mockplane_controlplane::file::{load_rules_file, RulesFileWatch};
use mockplane_controlplane::server::bind;
use mockplane_controlplane::ControlPlane;

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
    let cp = ControlPlane::new();
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

async fn shutdown_signal() {
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
