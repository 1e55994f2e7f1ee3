//! `mockplane up`: the quick start. One process runs the control plane (its store in
//! `--data-dir`, the xDS server) and a data plane connected to it over the real xDS link on
//! loopback, exactly as separate processes would be.
//!
//! The first start creates the project `default` with the environment `default`, loads the
//! demo rule set (or `--rules FILE`) into it, and creates an admin API key, printed once (or
//! takes `--api-key` / `MOCKPLANE_API_KEY`). Later starts find everything in the store.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mockplane_controlplane::api::resolvers::{self, StoreKeys};
use mockplane_controlplane::api::{serve_api, Api, ApiLimits};
use mockplane_controlplane::server::bind;
use mockplane_controlplane::service::{ApplyMode, Service, ServiceError};
use mockplane_controlplane::store::{Role, Store, StoreError};
use mockplane_controlplane::SnapshotCache;
use mockplane_dataplane::{DataPlaneConfig, IoDriver, SnapshotStore, XdsClientConfig};
use mockplane_rules::{Format, RuleSet};

/// The demo rule set, served on first start without `--rules`.
const DEMO_RULES: &str = include_str!("../../examples/petstore.yaml");

/// The environment `up` creates and its data plane serves.
pub(crate) const PROJECT: &str = "default";
pub(crate) const ENVIRONMENT: &str = "default";

#[derive(clap::Args)]
pub(crate) struct UpArgs {
    /// Where the store (and the data plane's last good snapshot) live.
    #[arg(long, default_value = ".mockplane")]
    data_dir: PathBuf,
    /// The store, instead of mockplane.db in --data-dir: `postgres://USER:PASSWORD@HOST/DB`
    /// (several control planes may share it: docs/operations.md), or a SQLite file path.
    #[arg(long, env = "MOCKPLANE_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// On first start: the rules loaded into default/default instead of the demo pet store.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// The admin API key to create on first start, instead of a generated one (at least 20
    /// characters).
    #[arg(long, env = "MOCKPLANE_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Where the GraphQL admin API (and GraphiQL, /healthz, /readyz, /metrics) listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    api_listen: SocketAddr,
    /// Where the xDS (gRPC) server listens.
    #[arg(long, default_value = "127.0.0.1:18000")]
    xds_listen: SocketAddr,
    /// Where the data plane serves traffic.
    #[arg(long, default_value = "127.0.0.1:9090")]
    listen: SocketAddr,
    /// Where the data plane's admin endpoints are served.
    #[arg(long, default_value = "127.0.0.1:9901")]
    admin: SocketAddr,
    /// The data plane's worker threads; default one per core.
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Run the control plane alone (store, GraphQL API, xDS), without a data plane: a replica,
    /// or a control plane for data planes that run elsewhere (`mockplane dataplane
    /// --control-plane`).
    #[arg(long, conflicts_with_all = ["listen", "admin", "workers"])]
    no_dataplane: bool,
}

pub(crate) fn run(args: UpArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(up(args))
}

async fn up(args: UpArgs) -> ExitCode {
    match try_up(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn try_up(args: UpArgs) -> Result<(), String> {
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| format!("cannot create the data folder {}: {e}", args.data_dir.display()))?;
    let (store, store_name) = open_store(&args).await?;
    let service =
        Service::new(store.clone(), Arc::new(SnapshotCache::paced(mockplane_dataplane::pace::pause)));
    let first_start = store.projects().await.map_err(|e| e.to_string())?.is_empty();
    if first_start {
        seed(&service, args.rules.as_deref()).await?;
    } else if let Some(rules) = &args.rules {
        tracing::warn!(
            rules = %rules.display(),
            "the store already has projects; --rules is only loaded on first start (apply rules through the API, or remove {} to start over)",
            args.data_dir.display()
        );
    }
    let key = bootstrap_key(&store, args.api_key.as_deref()).await?;
    let environments = service.load().await.map_err(|e| e.to_string())?;
    tracing::info!(environments, "rules loaded from the store");
    // On PostgreSQL, other control planes may share the store: follow their changes
    // (docs/operations.md, "replicas on PostgreSQL"). Runs until the process ends.
    let _follower = service.follow_store().await.map_err(|e| format!("--database-url: {e}"))?;

    let control = service.control_plane(Default::default());
    let listener =
        bind(args.xds_listen).await.map_err(|e| format!("cannot listen on {}: {e}", args.xds_listen))?;
    let xds_addr = listener.local_addr().unwrap_or(args.xds_listen);
    let api_listener = tokio::net::TcpListener::bind(args.api_listen)
        .await
        .map_err(|e| format!("cannot listen on {} (--api-listen): {e}", args.api_listen))?;
    let api_addr = api_listener.local_addr().unwrap_or(args.api_listen);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    // Held by the xDS task while it runs: the API's /readyz fails once it is gone.
    let xds_alive = Arc::new(());
    let xds_up = Arc::downgrade(&xds_alive);
    let xds = {
        let control = control.clone();
        let until = until_stopped();
        tokio::spawn(async move {
            let _alive = xds_alive;
            if let Err(e) = control.serve(listener, until).await {
                tracing::error!(error = %e, "the xDS server stopped");
            }
        })
    };
    let api = {
        let limits = ApiLimits::default();
        let schema = resolvers::schema(resolvers::Domain::new(service.clone(), control.clone()), &limits);
        let api = Api::new(schema, Arc::new(StoreKeys(store.clone())), control.clone(), limits)
            .with_readiness(Arc::new(move || match xds_up.strong_count() {
                0 => Err("the xDS server stopped".to_owned()),
                _ => Ok(()),
            }));
        let until = until_stopped();
        tokio::spawn(async move {
            if let Err(e) = serve_api(api_listener, api, until).await {
                tracing::error!(error = %e, "the admin API stopped");
            }
        })
    };
    tracing::info!(xds = %xds_addr, api = %api_addr, "control plane serving");

    if args.no_dataplane {
        print_banner(
            &Addresses { data_plane: None, xds: xds_addr, api: api_addr },
            &store_name,
            key.as_deref(),
        );
        crate::controlplane::shutdown_signal().await;
    } else {
        let mut xds_client =
            XdsClientConfig::new(format!("http://{xds_addr}"), format!("{PROJECT}/{ENVIRONMENT}"), "local");
        xds_client.state_dir = Some(args.data_dir.join("dataplane"));
        let config = DataPlaneConfig {
            xds: Some(xds_client),
            listen: args.listen,
            admin: args.admin,
            workers: args.workers,
            // The control plane shares the cores.
            pin_workers: false,
            io_driver: IoDriver::Auto,
            release_memory: Some(crate::alloc::release_freed_memory),
            ..DataPlaneConfig::default()
        };
        let dataplane =
            tokio::task::spawn_blocking(move || mockplane_dataplane::start(config, SnapshotStore::new()))
                .await
                .map_err(|e| format!("the data plane did not start: {e}"))?
                .map_err(|e| e.to_string())?;
        let data_plane = Some((dataplane.listen_addr(), dataplane.admin_addr()));
        wait_until_served(&dataplane).await;
        print_banner(&Addresses { data_plane, xds: xds_addr, api: api_addr }, &store_name, key.as_deref());

        crate::controlplane::shutdown_signal().await;
        let handle = dataplane.shutdown_handle();
        handle.shutdown();
        let _ = tokio::task::spawn_blocking(move || dataplane.wait()).await;
    }
    let _ = stop.send(true);
    let _ = tokio::join!(xds, api);
    tracing::info!("stopped");
    Ok(())
}

/// The store (`--database-url`, or SQLite in `--data-dir`) and how the banner names it.
async fn open_store(args: &UpArgs) -> Result<(Store, String), String> {
    match &args.database_url {
        Some(url) => {
            let store = Store::open(url).await.map_err(|e| format!("--database-url: {e}"))?;
            Ok((store, mockplane_controlplane::store::postgres::redact(url)))
        }
        None => {
            let db = args.data_dir.join("mockplane.db");
            let store = Store::open_sqlite(&db).await.map_err(|e| format!("{}: {e}", db.display()))?;
            Ok((store, db.display().to_string()))
        }
    }
}

/// First start: the project, the environment, and its rules.
async fn seed(service: &Service, rules: Option<&Path>) -> Result<(), String> {
    let (set, source) = match rules {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let mut set = RuleSet::parse(&text, Format::from_file_name(&path.to_string_lossy()))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            // The data plane cannot read this machine's files: bodies travel inline.
            mockplane_controlplane::cache::inline_files(&mut set, path.parent().unwrap_or(Path::new(".")));
            (set, path.display().to_string())
        }
        None => (
            RuleSet::parse(DEMO_RULES, Format::Yaml).map_err(|e| format!("the demo rules: {e}"))?,
            "the demo pet store".to_owned(),
        ),
    };
    // Replicas started together on an empty PostgreSQL database all find it empty: the first
    // to create the project seeds it, the others take what it made (their listener brings its
    // rules as they are stored).
    match service.create_project("bootstrap", PROJECT, "created by mockplane up").await {
        Ok(_) => {}
        Err(ServiceError::Conflict(_)) => {
            tracing::info!("another control plane seeded this store at the same moment; using what it made");
            return Ok(());
        }
        Err(e) => return Err(e.to_string()),
    }
    service.create_environment("bootstrap", PROJECT, ENVIRONMENT, "").await.map_err(|e| e.to_string())?;
    let change = service
        .apply_rules("bootstrap", &format!("{PROJECT}/{ENVIRONMENT}"), set, ApplyMode::Replace)
        .await
        .map_err(|e| format!("{source}: {e}"))?;
    tracing::info!(rules = change.changed.len(), from = %source, "first start: {PROJECT}/{ENVIRONMENT} created");
    Ok(())
}

/// The admin key: created on first start (and returned, to print once), or taken from
/// `--api-key` when the store has none yet.
async fn bootstrap_key(store: &Store, given: Option<&str>) -> Result<Option<String>, String> {
    if store.has_api_keys().await.map_err(|e| e.to_string())? {
        if let Some(given) = given {
            if store.authenticate(given).await.map_err(|e| e.to_string())?.is_none() {
                tracing::warn!("--api-key is not a key of this store (it is only used on first start)");
            }
        }
        return Ok(None);
    }
    // A replica starting at the same moment may create the admin key first (a unique name):
    // then this one prints none, as on any later start.
    match given {
        Some(given) => match store.import_api_key("admin", Role::Admin, given, "bootstrap").await {
            Ok(_) | Err(StoreError::Conflict(_)) => Ok(None),
            Err(e) => Err(e.to_string()),
        },
        None => match store.create_api_key("admin", Role::Admin, "bootstrap").await {
            Ok(created) => Ok(Some(created.secret)),
            Err(StoreError::Conflict(_)) => {
                tracing::info!(
                    "another control plane created the admin key at the same moment; it printed it"
                );
                Ok(None)
            }
            Err(e) => Err(e.to_string()),
        },
    }
}

/// Waits (a little) until the data plane serves the environment's first version.
async fn wait_until_served(dataplane: &mockplane_dataplane::RunningDataPlane) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while dataplane.store().load().is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Where `up` serves.
struct Addresses {
    /// The data plane's traffic and admin listeners, when it runs one.
    data_plane: Option<(SocketAddr, SocketAddr)>,
    xds: SocketAddr,
    api: SocketAddr,
}

fn print_banner(at: &Addresses, store: &str, key: Option<&str>) {
    let Addresses { data_plane, xds, api } = at;
    let mut text = String::from("\nmockplane is up\n\n");
    match data_plane {
        Some((listen, admin)) => text.push_str(&format!(
            "  mocks (data plane)    http://{listen}\n  data plane admin      http://{admin}  (/readyz /metrics /journal)\n"
        )),
        None => text.push_str("  data plane            none (--no-dataplane): connect data planes to the xDS address\n"),
    }
    text.push_str(&format!(
        "  GraphQL admin API     http://{api}/graphql  (GraphiQL in a browser; subscriptions on ws://{api}/graphql/ws)\n  xDS (gRPC)            http://{xds}\n  store                 {store}\n"
    ));
    if let Some(key) = key {
        text.push_str(&format!(
            "\n  admin API key (shown once, stored hashed):\n\n    {key}\n\n  Keep it: the API needs it as `Authorization: Bearer <key>`.\n"
        ));
    }
    println!("{text}");
}
