//! The store against a real SQLite file.

use std::sync::Arc;

use mockplane_rules::model::Rule;

use super::*;

async fn open() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store = Store::open_sqlite(&dir.path().join("mockplane.db")).await.expect("the store opens");
    (store, dir)
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

#[tokio::test]
async fn projects_and_environments_are_created_listed_changed_and_deleted() {
    let (store, _dir) = open().await;
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

#[tokio::test]
async fn every_change_is_a_revision_and_bumps_the_version_once() {
    let (store, _dir) = open().await;
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

#[tokio::test]
async fn a_change_made_against_an_old_version_writes_nothing() {
    let (store, _dir) = open().await;
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

#[tokio::test]
async fn settings_and_everything_else_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mockplane.db");
    {
        let store = Store::open_sqlite(&path).await.unwrap();
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
    let store = Store::open_sqlite(&path).await.expect("reopens, migrations already applied");
    let env = store.environment("shop", "staging").await.unwrap().unwrap();
    assert_eq!(env.settings.variables["API_VERSION"], "v2");
    assert_eq!(env.version, 1);
    assert_eq!(store.rules(env.id).await.unwrap()[0].rule, rule("a", "one"));
    assert!(store.has_api_keys().await.unwrap());
}

#[tokio::test]
async fn keys_authenticate_until_revoked_and_only_their_hash_is_stored() {
    let (store, dir) = open().await;
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

    // The secret itself is nowhere in the database file.
    drop(store);
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let secret = admin.secret.as_bytes();
    assert!(!bytes.windows(secret.len()).any(|w| w == secret), "the secret was stored");
}

#[tokio::test]
async fn the_audit_log_records_every_change_newest_first() {
    let (store, _dir) = open().await;
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
