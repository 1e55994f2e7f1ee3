//! The store against a real SQLite file and a real PostgreSQL database: every test runs on
//! both engines.

use std::sync::Arc;

use mockplane_rules::model::Rule;

use super::testing::{on_both_engines, TestDb};
use super::*;

on_both_engines!(
    projects_and_environments_are_created_listed_changed_and_deleted,
    every_change_is_a_revision_and_bumps_the_version_once,
    a_change_made_against_an_old_version_writes_nothing,
    settings_and_everything_else_survive_a_reopen,
    keys_authenticate_until_revoked_and_only_their_hash_is_stored,
    the_audit_log_records_every_change_newest_first,
    a_bad_location_is_refused_with_what_is_wrong,
    a_database_that_cannot_be_migrated_is_refused_with_the_reason,
);

async fn open(engine: Engine) -> (Store, TestDb) {
    let db = TestDb::new(engine);
    (db.open().await, db)
}

fn rule(id: &str, body: &str) -> Rule {
    let yaml =
        format!("rules:\n  - id: {id}\n    match: {{ path: /{id} }}\n    response: {{ body: {body} }}\n");
    let set = mockplane_rules::RuleSet::parse(&yaml, mockplane_rules::Format::Yaml).expect("a rule");
    Arc::try_unwrap(set.rules.into_iter().next().expect("one rule")).expect("not shared")
}

fn commit<'a>(env: &Environment, upserts: Vec<(&'a Rule, i64)>, deletes: Vec<&'a str>) -> Commit<'a> {
    Commit {
        environment_id: env.id,
        expected_version: env.version,
        upserts,
        moves: vec![],
        deletes,
        settings: None,
        actor: "alice",
        action: "test",
        target: "shop/staging",
        details: serde_json::json!({}),
    }
}

async fn projects_and_environments_are_created_listed_changed_and_deleted(engine: Engine) {
    let (store, _db) = open(engine).await;
    let shop = store.create_project("shop", "the shop", "alice").await.unwrap();
    assert_eq!((shop.name.as_str(), shop.description.as_str()), ("shop", "the shop"));
    assert!(matches!(store.create_project("shop", "", "alice").await, Err(StoreError::Conflict(_))));
    for bad in ["", "a/b", "has space", "..", &"x".repeat(65)] {
        let e = store.create_project(bad, "", "alice").await.unwrap_err();
        assert!(matches!(e, StoreError::Invalid(_)), "{bad:?}: {e}");
    }
    store.create_project("billing", "", "alice").await.unwrap();
    let names: Vec<String> = store.projects().await.unwrap().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["billing", "shop"]);

    let staging = store.create_environment("shop", "staging", "", "alice").await.unwrap();
    assert_eq!((staging.path(), staging.version), ("shop/staging".to_owned(), 0));
    assert!(matches!(
        store.create_environment("shop", "staging", "", "alice").await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(store.create_environment("nope", "x", "", "alice").await, Err(StoreError::NotFound(_))));
    store.create_environment("shop", "prod", "", "alice").await.unwrap();
    let envs: Vec<String> =
        store.environments(Some("shop")).await.unwrap().iter().map(Environment::path).collect();
    assert_eq!(envs, ["shop/prod", "shop/staging"]);

    let p =
        store.update_project("shop", &ProjectPatch { description: Some("new".into()) }, "bob").await.unwrap();
    assert_eq!(p.description, "new");
    let e = store
        .update_environment("shop", "prod", &EnvironmentPatch { description: Some("live".into()) }, "bob")
        .await
        .unwrap();
    assert_eq!(e.description, "live");

    // Deleting a project takes its environments and their rules with it.
    let r = rule("a", "one");
    store.commit(commit(&staging, vec![(&r, 0)], vec![])).await.unwrap();
    let (_, gone) = store.delete_project("shop", "bob").await.unwrap();
    assert_eq!(gone, ["shop/prod", "shop/staging"]);
    assert!(store.environments(None).await.unwrap().is_empty());
    assert!(store.rules(staging.id).await.unwrap().is_empty());
    assert!(store.revisions(staging.id, "a").await.unwrap().is_empty());
}

async fn every_change_is_a_revision_and_bumps_the_version_once(engine: Engine) {
    let (store, _db) = open(engine).await;
    store.create_project("shop", "", "alice").await.unwrap();
    let env = store.create_environment("shop", "staging", "", "alice").await.unwrap();
    let (a1, b1) = (rule("a", "one"), rule("b", "two"));
    let v1 = store.commit(commit(&env, vec![(&a1, 0), (&b1, 1)], vec![])).await.unwrap();
    assert_eq!(v1, CommittedVersion { version: 1, revisions: vec![("a".into(), 1), ("b".into(), 1)] });

    let env = store.environment("shop", "staging").await.unwrap().unwrap();
    let a2 = rule("a", "changed");
    let v2 = store.commit(commit(&env, vec![(&a2, 0)], vec![])).await.unwrap();
    assert_eq!(v2.version, 2);
    let env = store.environment("shop", "staging").await.unwrap().unwrap();
    let v3 = store.commit(commit(&env, vec![], vec!["b"])).await.unwrap();
    assert_eq!(v3, CommittedVersion { version: 3, revisions: vec![("b".into(), 2)] });

    let rules = store.rules(env.id).await.unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!((rules[0].rule_id.as_str(), rules[0].revision, &rules[0].rule), ("a", 2, &a2));
    let a = store.revisions(env.id, "a").await.unwrap();
    assert_eq!(a.iter().map(|r| (r.revision, r.environment_version)).collect::<Vec<_>>(), [(1, 1), (2, 2)]);
    assert_eq!(a[0].rule.as_ref(), Some(&a1));
    assert_eq!(a[0].author, "alice");
    let b = store.revisions(env.id, "b").await.unwrap();
    assert_eq!((b[1].revision, b[1].rule.as_ref()), (2, None), "the delete is a revision too");
    assert_eq!(store.revision(env.id, "b", 1).await.unwrap().unwrap().rule.as_ref(), Some(&b1));

    // A re-created rule continues its revisions.
    let env = store.environment("shop", "staging").await.unwrap().unwrap();
    let b3 = rule("b", "back");
    let v4 = store.commit(commit(&env, vec![(&b3, 1)], vec![])).await.unwrap();
    assert_eq!(v4.revisions, [("b".into(), 3)]);
}

async fn a_change_made_against_an_old_version_writes_nothing(engine: Engine) {
    let (store, _db) = open(engine).await;
    store.create_project("shop", "", "alice").await.unwrap();
    let env = store.create_environment("shop", "staging", "", "alice").await.unwrap();
    let a = rule("a", "one");
    store.commit(commit(&env, vec![(&a, 0)], vec![])).await.unwrap();
    // `env` still says version 0.
    let late = rule("late", "x");
    let e = store.commit(commit(&env, vec![(&late, 1)], vec![])).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    assert_eq!(store.rules(env.id).await.unwrap().len(), 1);
    assert!(store.revisions(env.id, "late").await.unwrap().is_empty());
    assert_eq!(store.environment("shop", "staging").await.unwrap().unwrap().version, 1);
    // A delete of a rule that is not there is refused whole.
    let env = store.environment("shop", "staging").await.unwrap().unwrap();
    let e = store.commit(commit(&env, vec![(&late, 1)], vec!["ghost"])).await.unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e}");
    assert!(store.rule(env.id, "late").await.unwrap().is_none());
    assert_eq!(store.environment("shop", "staging").await.unwrap().unwrap().version, 1);
}

async fn settings_and_everything_else_survive_a_reopen(engine: Engine) {
    let db = TestDb::new(engine);
    {
        let store = db.open().await;
        store.create_project("shop", "", "alice").await.unwrap();
        let env = store.create_environment("shop", "staging", "", "alice").await.unwrap();
        let settings = EnvSettings {
            variables: [("API_VERSION".to_owned(), "v2".to_owned())].into(),
            ..EnvSettings::default()
        };
        let a = rule("a", "one");
        let mut c = commit(&env, vec![(&a, 0)], vec![]);
        c.settings = Some(&settings);
        store.commit(c).await.unwrap();
        store.create_api_key("ci", Role::Editor, "bootstrap").await.unwrap();
    }
    let store = Store::open(db.location()).await.expect("reopens, migrations already applied");
    let env = store.environment("shop", "staging").await.unwrap().unwrap();
    assert_eq!(env.settings.variables["API_VERSION"], "v2");
    assert_eq!(env.version, 1);
    assert_eq!(store.rules(env.id).await.unwrap()[0].rule, rule("a", "one"));
    assert!(store.has_api_keys().await.unwrap());
}

async fn keys_authenticate_until_revoked_and_only_their_hash_is_stored(engine: Engine) {
    let (store, db) = open(engine).await;
    assert!(!store.has_api_keys().await.unwrap());
    let admin = store.create_api_key("admin", Role::Admin, "bootstrap").await.unwrap();
    assert_eq!(store.authenticate(&admin.secret).await.unwrap().map(|k| k.role), Some(Role::Admin));
    assert_eq!(store.authenticate("mp_wrong").await.unwrap(), None);
    assert!(matches!(
        store.create_api_key("admin", Role::Viewer, "admin").await,
        Err(StoreError::Conflict(_))
    ));

    let imported =
        store.import_api_key("ops", Role::Viewer, "a-key-from-the-operator-0123", "admin").await.unwrap();
    assert_eq!(store.authenticate("a-key-from-the-operator-0123").await.unwrap(), Some(imported));
    for weak in ["short", "has a space in it but is long"] {
        assert!(matches!(
            store.import_api_key("x", Role::Viewer, weak, "admin").await,
            Err(StoreError::Invalid(_))
        ));
    }

    let revoked = store.revoke_api_key("admin", "admin").await.unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_eq!(store.authenticate(&admin.secret).await.unwrap(), None);
    assert!(matches!(store.revoke_api_key("admin", "admin").await, Err(StoreError::NotFound(_))));

    // The secret itself is nowhere in the database: not in its files (SQLite), not in any
    // row (PostgreSQL, whose files are the server's).
    let secret = admin.secret.as_bytes();
    let mut bytes = Vec::new();
    match db.dir() {
        Some(dir) => {
            drop(store);
            for entry in std::fs::read_dir(dir).unwrap() {
                bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
            }
        }
        None => {
            for table in ["api_keys", "audit_log"] {
                let dump =
                    crate::test_postgres::run_sql(db.location(), &format!("SELECT t::text FROM {table} t"))
                        .unwrap();
                assert!(dump.contains(&admin.key.name), "the dump shows the rows: {dump}");
                bytes.extend(dump.into_bytes());
            }
        }
    }
    assert!(!bytes.windows(secret.len()).any(|w| w == secret), "the secret was stored");
}

async fn a_bad_location_is_refused_with_what_is_wrong(engine: Engine) {
    match engine {
        Engine::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let missing = dir.path().join("no/such/folder/mockplane.db");
            let e = Store::open(&missing.display().to_string()).await.unwrap_err();
            assert!(matches!(e, StoreError::Database(_)), "{e}");
            let e = Store::open("mysql://db/mockplane").await.unwrap_err();
            assert!(e.to_string().contains("\"mysql\" is not supported"), "{e}");
        }
        Engine::Postgres => {
            // Nothing listens on a port just freed.
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let url = format!("postgres://mp:secret@127.0.0.1:{port}/mockplane");
            let e = Store::open(&url).await.unwrap_err();
            let message = e.to_string();
            assert!(matches!(e, StoreError::Connect { .. }), "{e}");
            assert!(
                message.contains(&format!("cannot connect to postgres://mp:***@127.0.0.1:{port}/mockplane")),
                "{message}"
            );
            assert!(message.to_lowercase().contains("refused"), "{message}");
            assert!(!message.contains("secret"), "{message}");
            // A database that does not exist on a server that does: the server's reason.
            let db = TestDb::new(engine);
            let (server, _) = db.location().rsplit_once('/').unwrap();
            let e = Store::open(&format!("{server}/no_such_database")).await.unwrap_err();
            assert!(e.to_string().contains("no_such_database"), "{e}");
        }
    }
}

async fn the_audit_log_records_every_change_newest_first(engine: Engine) {
    let (store, _db) = open(engine).await;
    store.create_project("shop", "", "alice").await.unwrap();
    let env = store.create_environment("shop", "staging", "", "alice").await.unwrap();
    let a = rule("a", "one");
    let mut c = commit(&env, vec![(&a, 0)], vec![]);
    c.action = "createRule";
    c.target = "shop/staging/a";
    store.commit(c).await.unwrap();
    store.create_api_key("ci", Role::Editor, "alice").await.unwrap();
    let log = store.audit_log(10, None).await.unwrap();
    let actions: Vec<(&str, &str, &str)> =
        log.iter().map(|e| (e.actor.as_str(), e.action.as_str(), e.target.as_str())).collect();
    assert_eq!(
        actions,
        [
            ("alice", "createApiKey", "ci"),
            ("alice", "createRule", "shop/staging/a"),
            ("alice", "createEnvironment", "shop/staging"),
            ("alice", "createProject", "shop"),
        ]
    );
    assert_eq!(log[1].details["version"], 1);
    let older = store.audit_log(10, Some(log[1].id)).await.unwrap();
    assert_eq!(older.len(), 2);
}

async fn a_database_that_cannot_be_migrated_is_refused_with_the_reason(engine: Engine) {
    use sqlx::Connection as _;
    let db = TestDb::new(engine);
    // Someone else's table where the store's first migration creates its own.
    let url = match engine {
        Engine::Sqlite => format!("sqlite://{}?mode=rwc", db.location()),
        Engine::Postgres => db.location().to_owned(),
    };
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE projects (something_else TEXT)").execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    let e = Store::open(db.location()).await.unwrap_err();
    assert!(matches!(e, StoreError::Migrate(_)), "{e}");
    let message = e.to_string();
    assert!(message.starts_with("the store's schema could not be migrated"), "{message}");
    assert!(message.contains("projects") && message.contains("already exists"), "{message}");
}
