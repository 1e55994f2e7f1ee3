//! The store on PostgreSQL, and what replicas sharing one database need of it.
//!
//! The tables and statements are the SQLite store's (migrations/postgres/ is the same schema in
//! PostgreSQL's words). What PostgreSQL adds is the change feed: every transaction that changes
//! what a data plane is served (a rules commit, a reset, an environment created or deleted)
//! sends `NOTIFY mockplane_changes, 'ENVIRONMENT_ID:VERSION'` before it commits, so that the
//! notification goes out exactly when the change is visible, and never for a change rolled
//! back. A notification carries only that revision number: NOTIFY is not durable, so a replica
//! treats it as "something is newer" and re-reads from the tables what is newer than what it
//! has, and does the same after every reconnect of its listener ([`ChangeFeed`]).

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::Connection;

use super::{migration, Engine, Store, StoreError};

/// The channel of the change feed.
pub const CHANNEL: &str = "mockplane_changes";

/// The listener connection's `application_name`, as `pg_stat_activity` shows it.
pub const LISTENER_NAME: &str = "mockplane-listener";

/// How long opening the store, or any later wait for a connection, may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a store lives, from `--database-url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database, by URL.
    Postgres(String),
}

impl Location {
    /// `postgres://…` or `postgresql://…` is PostgreSQL (checked here, before any connection);
    /// `sqlite://PATH`, `sqlite:PATH` or a bare path (no `scheme://`) is a SQLite file. Any
    /// other scheme is refused with what is accepted.
    pub fn parse(location: &str) -> Result<Location, StoreError> {
        let location = location.trim();
        if location.is_empty() {
            return Err(StoreError::Location(
                "the database URL is empty: give postgres://USER@HOST/DATABASE or a SQLite file path".into(),
            ));
        }
        if location.starts_with("postgres://") || location.starts_with("postgresql://") {
            PgConnectOptions::from_str(location).map_err(|e| {
                StoreError::Location(format!("the database URL {} is not valid: {e}", redact(location)))
            })?;
            return Ok(Location::Postgres(location.to_owned()));
        }
        if let Some(rest) = location.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            let path = path.split_once('?').map_or(path, |(p, _)| p);
            if path.is_empty() {
                return Err(StoreError::Location(format!("the database URL {location:?} names no file")));
            }
            return Ok(Location::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = location.split_once("://") {
            return Err(StoreError::Location(format!(
                "the database URL's scheme {scheme:?} is not supported: use postgres://… for PostgreSQL, or sqlite://PATH (or a file path) for SQLite"
            )));
        }
        Ok(Location::Sqlite(PathBuf::from(location)))
    }
}

/// `url` with its password, if any, replaced by `***`: for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// The migrations of the PostgreSQL dialect, embedded. sqlx takes an advisory lock while it
/// runs them, so replicas starting at once migrate one after the other.
fn postgres_migrations() -> Migrator {
    Migrator::with_migrations(vec![
        migration(1, "initial", include_str!("migrations/postgres/0001_initial.sql")),
        migration(2, "reset epochs", include_str!("migrations/postgres/0002_reset_epochs.sql")),
        migration(3, "recording", include_str!("migrations/postgres/0003_recording.sql")),
    ])
}

impl Store {
    /// Opens the PostgreSQL store at `url` (the database must exist) and brings its schema up
    /// to date. An unreachable server, refused credentials or a missing database is refused at
    /// once with the server's reason, rather than after a pool's timeout.
    pub async fn open_postgres(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let connect_error = |source| StoreError::Connect { url: redact(url), source };
        // One connection first: its error is the real one (the pool would retry a refused
        // connection until its timeout and report only that).
        let probe = tokio::time::timeout(CONNECT_TIMEOUT, sqlx::AnyConnection::connect(url))
            .await
            .map_err(|_| connect_error(sqlx::Error::PoolTimedOut))?
            .map_err(connect_error)?;
        let _ = probe.close().await;
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect(url)
            .await
            .map_err(connect_error)?;
        postgres_migrations().run(&pool).await?;
        Ok(Store { pool, engine: Engine::Postgres, url: Some(Arc::from(url)) })
    }

    /// A feed of the changes any process commits to this store, from now on; `None` for
    /// SQLite, which one process owns.
    pub async fn change_feed(&self) -> Result<Option<ChangeFeed>, StoreError> {
        let Some(url) = &self.url else { return Ok(None) };
        let connect_error = |source| StoreError::Connect { url: redact(url), source };
        let options = PgConnectOptions::from_str(url).map_err(connect_error)?.application_name(LISTENER_NAME);
        // A pool of one, only so that the listener can reconnect by itself; it holds its
        // connection for as long as it lives.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(CONNECT_TIMEOUT)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(connect_error)?;
        let mut listener = PgListener::connect_with(&pool).await.map_err(connect_error)?;
        listener.ignore_pool_close_event(true);
        listener.listen(CHANNEL).await?;
        Ok(Some(ChangeFeed { listener }))
    }
}

/// Tells the change feed's listeners that `environment_id` is now at `version`, or is gone
/// (`None`), inside the caller's transaction: PostgreSQL delivers it when the transaction
/// commits.
pub(super) async fn notify(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    engine: Engine,
    environment_id: i64,
    version: Option<i64>,
) -> Result<(), StoreError> {
    if engine != Engine::Postgres {
        return Ok(());
    }
    let payload = match version {
        Some(version) => format!("{environment_id}:{version}"),
        None => format!("{environment_id}:deleted"),
    };
    // `pg_notify` returns `void`, which the `Any` driver cannot read: select a constant.
    sqlx::query("SELECT 1 AS sent FROM pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(payload)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// What the change feed tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedEvent {
    /// A change was committed: the environment and its new version, when the payload says
    /// (`None`: an environment deleted, or a payload this version does not read).
    Changed(Option<(i64, i64)>),
    /// The listener's connection was lost and is listening again: notifications sent in
    /// between are lost, so everything must be read again.
    Reconnected,
}

/// The changes committed to a PostgreSQL store by any process (see the module's notes).
pub struct ChangeFeed {
    listener: PgListener,
}

impl std::fmt::Debug for ChangeFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeFeed").finish_non_exhaustive()
    }
}

fn changed(payload: &str) -> FeedEvent {
    let parsed = payload.split_once(':').and_then(|(e, v)| Some((e.parse().ok()?, v.parse().ok()?)));
    FeedEvent::Changed(parsed)
}

impl ChangeFeed {
    /// The next event, waiting for it. After a lost connection the listener reconnects and
    /// listens again before [`FeedEvent::Reconnected`] is returned, so a change committed after
    /// that is notified. An error (the server unreachable for longer than the connect timeout)
    /// leaves the feed usable: the next call tries again.
    pub async fn next(&mut self) -> Result<FeedEvent, StoreError> {
        match self.listener.try_recv().await? {
            Some(notification) => Ok(changed(notification.payload())),
            None => Ok(FeedEvent::Reconnected),
        }
    }

    /// An event already received, without waiting: to take a burst of notifications as one.
    pub fn next_buffered(&mut self) -> Option<FeedEvent> {
        self.listener.next_buffered().map(|n| changed(n.payload()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_told_apart_by_scheme_and_bad_ones_say_what_is_accepted() {
        assert_eq!(
            Location::parse("postgres://mp:pw@db:5432/mockplane").unwrap(),
            Location::Postgres("postgres://mp:pw@db:5432/mockplane".into())
        );
        assert!(matches!(Location::parse("postgresql://db/mockplane"), Ok(Location::Postgres(_))));
        assert_eq!(
            Location::parse("sqlite:///var/lib/mp.db").unwrap(),
            Location::Sqlite("/var/lib/mp.db".into())
        );
        assert_eq!(
            Location::parse("sqlite://data/mp.db?mode=rwc").unwrap(),
            Location::Sqlite("data/mp.db".into())
        );
        assert_eq!(Location::parse("data/mp.db").unwrap(), Location::Sqlite("data/mp.db".into()));
        let e = Location::parse("mysql://db/x").unwrap_err().to_string();
        assert!(e.contains("\"mysql\" is not supported") && e.contains("postgres://"), "{e}");
        let e = Location::parse("postgres://mp:secret@db:notaport/x").unwrap_err().to_string();
        assert!(e.contains("is not valid") && !e.contains("secret"), "{e}");
        assert!(Location::parse("  ").is_err());
        assert!(Location::parse("sqlite://").is_err());
    }

    #[test]
    fn passwords_are_left_out_of_messages() {
        assert_eq!(
            redact("postgres://mp:secret@db:5432/x?sslmode=require"),
            "postgres://mp:***@db:5432/x?sslmode=require"
        );
        assert_eq!(redact("postgres://mp@db/x"), "postgres://mp@db/x");
        assert_eq!(redact("postgres://db/x"), "postgres://db/x");
    }
}
