//! The service over a real store (SQLite and PostgreSQL: every test runs on both) and the
//! real snapshot cache.

use std::sync::Arc;

use mockplane_rules::model::Rule;
use mockplane_rules::{Format, RuleSet};

use super::*;
use crate::store::testing::{on_both_engines, TestDb};
use crate::store::Engine;

on_both_engines!(
    a_new_environment_is_served_at_once_with_no_rules,
    each_change_is_stored_pushed_and_told_with_one_version,
    an_invalid_change_is_refused_with_its_places_and_nothing_is_stored_or_pushed,
    applying_a_rule_set_is_one_version_and_revises_only_what_changed,
    a_one_rule_edit_shares_every_other_rule_with_the_version_before,
    a_restarted_service_serves_what_was_stored_at_the_stored_versions,
    deleting_an_environment_stops_serving_it,
);

async fn service(engine: Engine) -> (Service, TestDb) {
    let db = TestDb::new(engine);
    let service = Service::new(db.open().await, Arc::new(SnapshotCache::new()));
    service.create_project("alice", "shop", "").await.unwrap();
    service.create_environment("alice", "shop", "staging", "").await.unwrap();
    (service, db)
}

fn set(yaml: &str) -> RuleSet {
    RuleSet::parse(yaml, Format::Yaml).unwrap_or_else(|e| panic!("{e}"))
}

fn rule(id: &str, body: &str) -> Rule {
    let set = set(&format!(
        "rules:\n  - id: {id}\n    match: {{ path: /{id} }}\n    response: {{ body: {body} }}\n"
    ));
    Rule::clone(&set.rules[0])
}

fn body_in_force(service: &Service, id: &str) -> Option<String> {
    let snapshot = service.cache().get("shop/staging")?;
    let rule = snapshot.rules.rules.iter().find(|r| r.id == id)?;
    rule.response.as_ref()?.body.clone()
}

async fn a_new_environment_is_served_at_once_with_no_rules(engine: Engine) {
    let (service, _db) = service(engine).await;
    let snapshot = service.cache().get("shop/staging").expect("served");
    assert!(snapshot.rules.rules.is_empty());
    assert!(snapshot.version_info.starts_with("0-"), "{}", snapshot.version_info);
}

async fn each_change_is_stored_pushed_and_told_with_one_version(engine: Engine) {
    let (service, _db) = service(engine).await;
    let mut events = service.subscribe();
    let created = service.create_rule("alice", "shop/staging", rule("a", "one"), None).await.unwrap();
    assert_eq!(created.version, 1);
    assert!(created.version_info.starts_with("1-"));
    assert_eq!(created.changed[0].revision, 1);
    assert_eq!(body_in_force(&service, "a").as_deref(), Some("one"));
    match events.recv().await.unwrap() {
        ServiceEvent::RulesChanged { actor, action, change } => {
            assert_eq!((actor.as_str(), action.as_str()), ("alice", "createRule"));
            assert_eq!(change, created);
        }
        other => panic!("{other:?}"),
    }
    let updated = service.update_rule("bob", "shop/staging", "a", rule("a", "two")).await.unwrap();
    assert_eq!((updated.version, updated.changed[0].revision), (2, 2));
    assert_eq!(body_in_force(&service, "a").as_deref(), Some("two"));
    let revisions = service.revisions("shop/staging", "a").await.unwrap();
    assert_eq!(revisions.iter().map(|r| r.author.as_str()).collect::<Vec<_>>(), ["alice", "bob"]);

    let back = service.rollback_rule("carol", "shop/staging", "a", 1).await.unwrap();
    assert_eq!((back.version, back.changed[0].revision), (3, 3));
    assert_eq!(body_in_force(&service, "a").as_deref(), Some("one"));

    let off = service.set_enabled("carol", "shop/staging", "a", false).await.unwrap();
    assert!(!off.changed[0].rule.enabled);
    let deleted = service.delete_rule("carol", "shop/staging", "a").await.unwrap();
    assert_eq!(deleted.deleted, ["a"]);
    assert_eq!(body_in_force(&service, "a"), None);
    // A deleted rule comes back by rolling back to one of its revisions.
    let again = service.rollback_rule("carol", "shop/staging", "a", 2).await.unwrap();
    assert_eq!(again.changed[0].revision, 6);
    assert_eq!(body_in_force(&service, "a").as_deref(), Some("two"));
    let e = service.rollback_rule("carol", "shop/staging", "a", 5).await.unwrap_err();
    assert!(e.to_string().contains("revision 5 of \"a\" deleted it"), "{e}");
}

async fn an_invalid_change_is_refused_with_its_places_and_nothing_is_stored_or_pushed(engine: Engine) {
    let (service, _db) = service(engine).await;
    service.create_rule("alice", "shop/staging", rule("a", "one"), None).await.unwrap();
    let before = service.cache().get("shop/staging").unwrap();
    let bad = set("rules:\n  - id: b\n    match: { path: \"/users/{id\" }\n    response: { status: 999 }\n");
    let e = service.create_rule("alice", "shop/staging", Rule::clone(&bad.rules[0]), None).await.unwrap_err();
    let ServiceError::Invalid(errors) = e else { panic!("{e:?}") };
    let places: Vec<&str> = errors.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(places, ["rule.match.path", "rule.response.status"], "{errors}");
    assert!(Arc::ptr_eq(&service.cache().get("shop/staging").unwrap(), &before), "nothing was pushed");
    assert_eq!(service.environment("shop/staging").await.unwrap().version, 1);
    assert!(matches!(service.revisions("shop/staging", "b").await, Err(ServiceError::NotFound(_))));

    // A file body cannot travel: refused with its place.
    let file = set("rules:\n  - id: f\n    match: { path: /f }\n    response: { file: body.json }\n");
    let e =
        service.create_rule("alice", "shop/staging", Rule::clone(&file.rules[0]), None).await.unwrap_err();
    assert!(e.to_string().contains("rule.response.file"), "{e}");
    // Renaming by update, and the same id twice, are refused too.
    let e = service.update_rule("alice", "shop/staging", "a", rule("z", "x")).await.unwrap_err();
    assert!(e.to_string().contains("rule.id"), "{e}");
    let e = service.create_rule("alice", "shop/staging", rule("a", "again"), None).await.unwrap_err();
    assert!(matches!(e, ServiceError::Conflict(_)), "{e:?}");
    assert_eq!(service.environment("shop/staging").await.unwrap().version, 1);
}

async fn applying_a_rule_set_is_one_version_and_revises_only_what_changed(engine: Engine) {
    let (service, _db) = service(engine).await;
    let first = set(
        "variables: { V: one }\nrules:\n  - { id: a, match: { path: /a }, response: { body: a } }\n  - { id: b, match: { path: /b }, response: { body: b } }\n",
    );
    let v1 = service.apply_rules("alice", "shop/staging", first, ApplyMode::Replace).await.unwrap();
    assert_eq!((v1.version, v1.changed.len()), (1, 2));
    let second = set(
        "rules:\n  - { id: b, match: { path: /b }, response: { body: b } }\n  - { id: c, match: { path: /c }, response: { body: c } }\n",
    );
    let v2 = service.apply_rules("alice", "shop/staging", second, ApplyMode::Replace).await.unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.changed.iter().map(|r| r.rule.id.as_str()).collect::<Vec<_>>(), ["c"]);
    assert_eq!(v2.deleted, ["a"]);
    let rules = service.rules("shop/staging").await.unwrap();
    assert_eq!(
        rules.iter().map(|r| (r.rule.id.as_str(), r.revision, r.position)).collect::<Vec<_>>(),
        [("b", 1, 0), ("c", 1, 1)]
    );
    assert!(
        service.environment("shop/staging").await.unwrap().settings.variables.is_empty(),
        "replace replaces settings"
    );

    let merge =
        set("variables: { W: two }\nrules:\n  - { id: a, match: { path: /a }, response: { body: back } }\n");
    let v3 = service.apply_rules("alice", "shop/staging", merge, ApplyMode::Merge).await.unwrap();
    assert_eq!(v3.changed.iter().map(|r| r.rule.id.as_str()).collect::<Vec<_>>(), ["a"]);
    let in_force = service.cache().get("shop/staging").unwrap();
    assert_eq!(in_force.rules.rules.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["b", "c", "a"]);
    assert_eq!(in_force.rules.variables["W"], "two");
    assert_eq!(service.environment("shop/staging").await.unwrap().settings.variables["W"], "two");

    // A set with an error is refused whole, with the places of the set given (`rules[1]`,
    // though merged it would sit at `rules[4]`).
    let bad = set("rules:\n  - { id: d, match: { path: /d }, response: { body: d } }\n  - { id: e, match: { path: /e }, response: { status: 999 } }\n");
    let e = service.apply_rules("alice", "shop/staging", bad, ApplyMode::Merge).await.unwrap_err();
    assert!(e.to_string().contains("rules[1].response.status"), "{e}");
    assert_eq!(service.environment("shop/staging").await.unwrap().version, 3);
}

async fn a_one_rule_edit_shares_every_other_rule_with_the_version_before(engine: Engine) {
    let (service, _db) = service(engine).await;
    let mut yaml = String::from("rules:\n");
    for i in 0..1000 {
        yaml.push_str(&format!(
            "  - {{ id: r{i}, match: {{ path: /r/{i} }}, response: {{ body: b{i} }} }}\n"
        ));
    }
    service.apply_rules("alice", "shop/staging", set(&yaml), ApplyMode::Replace).await.unwrap();
    let before = service.cache().get("shop/staging").unwrap();
    service.update_rule("alice", "shop/staging", "r500", rule("r500", "edited")).await.unwrap();
    let after = service.cache().get("shop/staging").unwrap();
    let shared = before.rules.rules.iter().zip(&after.rules.rules).filter(|(a, b)| Arc::ptr_eq(a, b)).count();
    assert_eq!(shared, 999);
}

async fn a_restarted_service_serves_what_was_stored_at_the_stored_versions(engine: Engine) {
    let (service, db) = service(engine).await;
    service.create_rule("alice", "shop/staging", rule("a", "one"), None).await.unwrap();
    let pushed = service.update_rule("alice", "shop/staging", "a", rule("a", "two")).await.unwrap();
    drop(service);
    let store = db.open().await;
    let restarted = Service::new(store, Arc::new(SnapshotCache::new()));
    assert_eq!(restarted.load().await.unwrap(), 1);
    let snapshot = restarted.cache().get("shop/staging").unwrap();
    assert_eq!(
        snapshot.version_info, pushed.version_info,
        "the same version string: data planes need nothing new"
    );
    assert_eq!(body_in_force(&restarted, "a").as_deref(), Some("two"));
    // And it goes on from there.
    let next = restarted.create_rule("alice", "shop/staging", rule("b", "x"), None).await.unwrap();
    assert_eq!(next.version, 3);
}

async fn deleting_an_environment_stops_serving_it(engine: Engine) {
    let (service, _db) = service(engine).await;
    service.create_rule("alice", "shop/staging", rule("a", "one"), None).await.unwrap();
    service.delete_environment("alice", "shop/staging").await.unwrap();
    assert!(service.cache().get("shop/staging").is_none());
    assert!(matches!(service.rules("shop/staging").await, Err(ServiceError::NotFound(_))));
    for bad in ["shop", "shop/", "/x", "a/b/c"] {
        assert!(matches!(service.rules(bad).await, Err(ServiceError::Invalid(_))), "{bad}");
    }
}
