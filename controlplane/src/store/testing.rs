//! Tests that run on both engines: [`on_both_engines!`] makes each listed test function
//! (`async fn name(engine: Engine)`) a test on SQLite and one on PostgreSQL, and [`TestDb`]
//! is a fresh database on the engine asked for (a file in a temporary folder, or a new
//! database on the tests' PostgreSQL server: [`crate::test_postgres`]).

use super::{Engine, Store};

/// A fresh, empty database on one engine, opened as often as a test asks (a restart).
pub(crate) struct TestDb {
    location: String,
    /// The SQLite file's folder, removed with it.
    dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub(crate) fn new(engine: Engine) -> TestDb {
        match engine {
            Engine::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary folder");
                let location = dir.path().join("mockplane.db").display().to_string();
                TestDb { location, dir: Some(dir) }
            }
            Engine::Postgres => TestDb { location: crate::test_postgres::database(), dir: None },
        }
    }

    /// Where it is: a file path or a `postgres://` URL.
    pub(crate) fn location(&self) -> &str {
        &self.location
    }

    /// The SQLite file's folder (none for PostgreSQL).
    pub(crate) fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_ref().map(|d| d.path())
    }

    /// Opens a store on it, bringing its schema up to date.
    pub(crate) async fn open(&self) -> Store {
        Store::open(&self.location)
            .await
            .unwrap_or_else(|e| panic!("the store at {} opens: {e}", self.location))
    }
}

/// `on_both_engines!(a, b)`: for each `async fn a(engine: Engine)` in the module, a test
/// `sqlite::a` and a test `postgres::a`.
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::store::Engine::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::store::Engine::Postgres).await
                }
            )*
        }
    };
}
pub(crate) use on_both_engines;
