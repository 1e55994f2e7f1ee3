//! Starting and stopping a data plane: the workers, the admin listener, the rules-file watcher.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::config::DataPlaneConfig;
use crate::driver::{AnyRuntime, DriverKind};
use crate::snapshot::{LoadError, SnapshotStore};
use crate::stats::SharedStats;
use crate::worker::{self, Worker};

/// Why a data plane did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The rules file could not be loaded.
    #[error(transparent)]
    Rules(#[from] LoadError),
    /// The control-plane settings cannot work.
    #[error(transparent)]
    Xds(#[from] crate::link::XdsConfigError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// No runtime could be built (e.g. io_uring was required and is not available).
    #[error("cannot start a worker runtime: {0}")]
    Runtime(std::io::Error),
    /// `--upstream` does not name an endpoint.
    #[error("--upstream: {0}")]
    Sidecar(mockplane_rules::RuleSetError),
}

/// A data plane that is serving.
pub struct RunningDataPlane {
    listen: SocketAddr,
    admin: SocketAddr,
    driver: DriverKind,
    shutdown: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    store: SnapshotStore,
    stats: Arc<SharedStats>,
}

impl RunningDataPlane {
    /// Where traffic is served.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }
    /// Where the admin endpoints are served.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }
    /// The driver the workers run on.
    pub fn driver(&self) -> DriverKind {
        self.driver
    }
    /// The snapshot store: install a new rule set here to swap it in.
    pub fn store(&self) -> &SnapshotStore {
        &self.store
    }
    /// Counters as published by the workers.
    pub fn stats(&self) -> &Arc<SharedStats> {
        &self.stats
    }
    /// A handle that asks the data plane to stop, from any thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }
    /// Stops accepting, lets requests in flight finish (up to the drain timeout), and waits.
    pub fn shutdown(self) {
        self.shutdown.store(true, Ordering::Release);
        self.wait();
    }
    /// Waits until the data plane has stopped (after a shutdown request).
    pub fn wait(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Asks a data plane to stop.
#[derive(Debug, Clone)]
pub struct ShutdownHandle(Arc<AtomicBool>);

impl ShutdownHandle {
    /// Starts a graceful shutdown.
    pub fn shutdown(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Starts a data plane: loads the rules file (if any), starts the workers and the admin
/// listener, and returns once every listener is bound.
pub fn start(config: DataPlaneConfig, store: SnapshotStore) -> Result<RunningDataPlane, StartError> {
    if let Some(xds) = &config.xds {
        crate::link::check(xds)?;
    }
    let config = Arc::new(config);
    if let Some(release) = config.release_memory {
        store.set_release_memory(release);
    }
    // Stamped before the first read: an edit landing after it is seen by the watcher, even
    // when the watcher thread starts late (it used to stamp the file itself, and missed an
    // edit made between the load and its first look).
    let loaded_stamp = config.rules.as_deref().and_then(crate::snapshot::file_stamp);
    let workers = config.worker_count();
    // Before anything is installed: each table is built with a hit counter slab per worker.
    store.set_workers(workers);
    if let Some(endpoint) = &config.sidecar_upstream {
        store.set_sidecar_upstream(endpoint.clone());
        if config.rules.is_none() && config.xds.is_none() {
            // No rules at all: a pure pass-through proxy.
            let mut rules = mockplane_rules::RuleSet::default();
            crate::sidecar::apply(&mut rules, endpoint);
            store.install(rules, format!("--upstream {endpoint}"), None).map_err(StartError::Sidecar)?;
        }
    }
    if let Some(path) = &config.rules {
        let version = store.install_file(path)?;
        store.note_file(path, Ok(version));
        tracing::info!(path = %path.display(), version, rules = store.load().map_or(0, |s| s.table.len()), "rules loaded");
    }
    let (wiremock, wiremock_stamp) = crate::wiremock::start(&config, &store)?;
    if let Some(xds) = &config.xds {
        crate::xds::restore(xds, &store);
    }
    let recorder = match &config.record {
        Some(settings) => {
            Some(crate::record::Recorder::start(settings.clone()).map_err(StartError::Runtime)?)
        }
        None => None,
    };
    let shutdown = Arc::new(AtomicBool::new(false));
    let stats = SharedStats::new(workers, config.journal_capacity, store.clone());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut threads = Vec::new();
    let mut listen = config.listen;
    let mut driver = None;
    for id in 0..workers {
        let (tx, rx) = mpsc::channel::<Result<(SocketAddr, DriverKind), StartError>>();
        let (config, cell, stats_w, shutdown_w) =
            (config.clone(), store.cell().clone(), stats.clone(), shutdown.clone());
        let recorder = recorder.clone();
        let addr = listen;
        let thread = std::thread::Builder::new()
            .name(format!("mockplane-worker-{id}"))
            .spawn(move || {
                if config.pin_workers {
                    let _ = monoio::utils::bind_to_cpu_set([id % cores]);
                }
                let (rt, kind) = match AnyRuntime::build(config.io_driver, config.uring_entries) {
                    Ok(pair) => pair,
                    Err(e) => {
                        let _ = tx.send(Err(StartError::Runtime(e)));
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match worker::bind(addr) {
                        Ok(l) => l,
                        Err(source) => {
                            let _ = tx.send(Err(StartError::Bind { addr, source }));
                            return;
                        }
                    };
                    let bound = listener.local_addr().unwrap_or(addr);
                    let _ = tx.send(Ok((bound, kind)));
                    let worker = Rc::new(Worker::new(id, config, cell, stats_w, shutdown_w, recorder));
                    worker::run(worker, listener).await;
                });
            })
            .map_err(StartError::Runtime)?;
        match rx.recv() {
            Ok(Ok((bound, kind))) => {
                // Worker 0 resolves port 0; the others share its port through SO_REUSEPORT.
                listen = bound;
                driver.get_or_insert(kind);
                threads.push(thread);
            }
            Ok(Err(e)) => {
                shutdown.store(true, Ordering::Release);
                for t in threads {
                    let _ = t.join();
                }
                return Err(e);
            }
            Err(_) => {
                shutdown.store(true, Ordering::Release);
                return Err(StartError::Runtime(std::io::Error::other(
                    "a worker thread died while starting",
                )));
            }
        }
    }
    let driver = driver.expect("at least one worker");
    *stats.driver.lock().unwrap_or_else(|p| p.into_inner()) = Some(driver);
    tracing::info!(%listen, workers, driver = driver.name(), flags = driver.flags(), "data plane serving");

    let admin_wiremock = wiremock.clone().filter(|_| config.wiremock_admin);
    let admin = match crate::admin::start(
        config.admin,
        store.clone(),
        stats.clone(),
        admin_wiremock,
        shutdown.clone(),
    ) {
        Ok((addr, thread)) => {
            threads.push(thread);
            addr
        }
        Err(source) => {
            shutdown.store(true, Ordering::Release);
            for t in threads {
                let _ = t.join();
            }
            return Err(StartError::Bind { addr: config.admin, source });
        }
    };
    tracing::info!(%admin, "admin endpoints serving");

    if let Some(xds) = config.xds.clone() {
        let facts = crate::xds::NodeFacts { workers, io_driver: driver.name().to_owned() };
        threads.push(
            crate::xds::spawn(xds, store.clone(), stats.clone(), facts, shutdown.clone())
                .map_err(StartError::Runtime)?,
        );
    }
    if let Some(path) = config.rules.clone() {
        let (store, every, stop) = (store.clone(), config.reload_interval, shutdown.clone());
        threads.push(
            std::thread::Builder::new()
                .name("mockplane-rules-watch".into())
                .spawn(move || crate::snapshot::watch_file(store, path, loaded_stamp, every, stop))
                .map_err(StartError::Runtime)?,
        );
    }
    if let Some((stubs, dir)) = wiremock.and_then(|w| w.dir().map(|d| (w.clone(), d.to_owned()))) {
        let (store, every, stop) = (store.clone(), config.reload_interval, shutdown.clone());
        threads.push(
            std::thread::Builder::new()
                .name("mockplane-wiremock-watch".into())
                .spawn(move || {
                    crate::snapshot::watch(
                        store,
                        dir,
                        wiremock_stamp,
                        every,
                        stop,
                        crate::wiremock::folder_stamp,
                        |store, _| stubs.folder_changed(store),
                    )
                })
                .map_err(StartError::Runtime)?,
        );
    }
    Ok(RunningDataPlane { listen, admin, driver, shutdown, threads, store, stats })
}
