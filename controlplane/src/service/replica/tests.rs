//! Two replicas (two services, each with its own store pool, cache and change feed) on one real
//! PostgreSQL database: what one changes, the other serves within a second, also when its
//! listener was cut off; both writing one environment at once lose nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mockplane_rules::model::Rule;
use mockplane_rules::{Format, RuleSet};

use super::super::{Service, ServiceError, ServiceEvent};
use crate::cache::SnapshotCache;
use crate::reset::Reset;
use crate::store::testing::TestDb;
use crate::store::{Engine, Store};
use crate::test_postgres;

const ENV: &str = "shop/staging";

/// A replica: a service following the store, its follower stopped when it is dropped.
struct Replica {
    service: Service,
    follower: tokio::task::JoinHandle<()>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.follower.abort();
    }
}

async fn replica(url: &str) -> Replica {
    let store = Store::open(url).await.expect("the store opens");
    let service = Service::new(store, Arc::new(SnapshotCache::new()));
    service.load().await.expect("loads");
    let follower = service.follow_store().await.expect("follows").expect("PostgreSQL has a change feed");
    Replica { service, follower }
}

fn rule(id: &str, body: &str) -> Rule {
    let yaml =
        format!("rules:\n  - id: {id}\n    match: {{ path: /{id} }}\n    response: {{ body: {body} }}\n");
    Rule::clone(&RuleSet::parse(&yaml, Format::Yaml).expect("a rule").rules[0])
}

fn body_in_force(service: &Service, id: &str) -> Option<String> {
    let snapshot = service.cache().get(ENV)?;
    let rule = snapshot.rules.rules.iter().find(|r| r.id == id)?;
    rule.response.as_ref()?.body.clone()
}

/// Waits until `check` holds, failing the test if that takes more than a second; how long.
async fn within_a_second(what: &str, check: impl Fn() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < Duration::from_secs(1), "{what}: not within 1 s");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    started.elapsed()
}

async fn next_event(events: &mut tokio::sync::broadcast::Receiver<ServiceEvent>) -> ServiceEvent {
    tokio::time::timeout(Duration::from_secs(1), events.recv())
        .await
        .expect("an event within 1 s")
        .expect("no event missed")
}

/// `sql` through psql, off the runtime's threads.
async fn sql(url: &str, sql: &str) -> String {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    tokio::task::spawn_blocking(move || test_postgres::run_sql(&url, &sql))
        .await
        .expect("psql ran")
        .unwrap_or_else(|e| panic!("{e}"))
}

const LISTENERS: &str = "SELECT pid FROM pg_stat_activity \
     WHERE application_name = 'mockplane-listener' AND datname = current_database() ORDER BY pid";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_either_replica_reaches_the_other_within_a_second() {
    let db = TestDb::new(Engine::Postgres);
    let (a, b) = (replica(db.location()).await, replica(db.location()).await);
    let (a, b) = (&a.service, &b.service);
    let mut told = b.subscribe();

    a.create_project("alice", "shop", "").await.unwrap();
    a.create_environment("alice", "shop", "staging", "").await.unwrap();
    within_a_second("the environment created through A served by B", || b.cache().get(ENV).is_some()).await;
    assert_eq!(next_event(&mut told).await, ServiceEvent::EnvironmentCreated(ENV.into()));

    let created = a.create_rule("alice", ENV, rule("a", "one"), None).await.unwrap();
    let took = within_a_second("a rule created through A served by B", || {
        b.cache().get(ENV).is_some_and(|s| s.version_info == created.version_info)
    })
    .await;
    eprintln!("a change through A served by B after {took:?}");
    assert_eq!(body_in_force(b, "a").as_deref(), Some("one"));
    match next_event(&mut told).await {
        ServiceEvent::RulesChanged { actor, action, change } => {
            assert_eq!((actor.as_str(), action.as_str()), ("alice", "createRule"));
            assert_eq!((change.version, change.version_info.as_str()), (1, created.version_info.as_str()));
            assert_eq!(change.changed.iter().map(|r| r.rule.id.as_str()).collect::<Vec<_>>(), ["a"]);
        }
        other => panic!("{other:?}"),
    }

    // The other way, and a change B makes against the version it learnt from A.
    let updated = b.update_rule("bob", ENV, "a", rule("a", "two")).await.unwrap();
    assert_eq!(updated.version, 2);
    within_a_second("a rule updated through B served by A", || {
        a.cache().get(ENV).is_some_and(|s| s.version_info == updated.version_info)
    })
    .await;
    assert_eq!(body_in_force(a, "a").as_deref(), Some("two"));
    let reset = b.reset("bob", ENV, Reset::Journal).await.unwrap();
    within_a_second("a reset through B pushed by A with its epoch", || {
        a.cache().get(ENV).is_some_and(|s| s.version_info == reset.version_info && s.resets.journal > 0)
    })
    .await;
    b.create_rule("bob", ENV, rule("b", "x"), None).await.unwrap();
    // A has not necessarily caught up with it: its change reads what it lacks from the store.
    let deleted = a.delete_rule("alice", ENV, "b").await.unwrap();
    within_a_second("a rule deleted through A gone from B", || {
        b.cache().get(ENV).is_some_and(|s| s.version_info == deleted.version_info)
    })
    .await;
    assert_eq!(body_in_force(b, "b"), None);

    // An environment deleted through A stops being served by B.
    a.delete_environment("alice", ENV).await.unwrap();
    within_a_second("the environment deleted through A dropped by B", || b.cache().get(ENV).is_none()).await;
    assert!(matches!(b.rules(ENV).await, Err(ServiceError::NotFound(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_while_the_listeners_were_cut_off_arrives_after_they_reconnect() {
    let db = TestDb::new(Engine::Postgres);
    let (a, b) = (replica(db.location()).await, replica(db.location()).await);
    let (a, b) = (&a.service, &b.service);
    a.create_project("alice", "shop", "").await.unwrap();
    a.create_environment("alice", "shop", "staging", "").await.unwrap();
    within_a_second("the environment served by B", || b.cache().get(ENV).is_some()).await;
    for round in 0..3 {
        let before = sql(db.location(), LISTENERS).await;
        assert_eq!(before.lines().count(), 2, "one listener per replica: {before:?}");
        // Both listeners' connections killed, and a change made at once: whether its
        // notification is lost (sent before the listener listens again) or not, B must have it.
        let killed = sql(
            db.location(),
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = 'mockplane-listener' AND datname = current_database()",
        )
        .await;
        assert_eq!(killed, "t\nt", "both listeners terminated");
        let change = a.create_rule("alice", ENV, rule(&format!("r{round}"), "x"), None).await.unwrap();
        within_a_second("a change made while B's listener was cut off served by B", || {
            b.cache().get(ENV).is_some_and(|s| s.version_info == change.version_info)
        })
        .await;
        let started = Instant::now();
        loop {
            let after = sql(db.location(), LISTENERS).await;
            if after.lines().count() == 2 && after.lines().all(|pid| !before.lines().any(|old| old == pid)) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(5), "the listeners did not reconnect: {after:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // And a change after the reconnects is notified as before.
    let change = a.create_rule("alice", ENV, rule("after", "x"), None).await.unwrap();
    within_a_second("a change after the reconnects served by B", || {
        b.cache().get(ENV).is_some_and(|s| s.version_info == change.version_info)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_writing_one_environment_at_once_lose_and_interleave_nothing() {
    const EACH: usize = 12;
    let db = TestDb::new(Engine::Postgres);
    let (a, b) = (replica(db.location()).await, replica(db.location()).await);
    a.service.create_project("alice", "shop", "").await.unwrap();
    a.service.create_environment("alice", "shop", "staging", "").await.unwrap();
    within_a_second("the environment served by B", || b.service.cache().get(ENV).is_some()).await;

    // Every writer retries a refused (conflicting) change until it is acknowledged, as a
    // client told "make it again" does.
    let mut writers = Vec::new();
    for i in 0..EACH {
        for (name, service) in [("a", &a.service), ("b", &b.service)] {
            let service = service.clone();
            let id = format!("{name}{i}");
            writers.push(tokio::spawn(async move {
                let mut conflicts = 0;
                loop {
                    match service.create_rule(name, ENV, rule(&id, &id), None).await {
                        Ok(change) => return (id, change.version, conflicts),
                        Err(ServiceError::Conflict(_)) if conflicts < 100 => conflicts += 1,
                        Err(e) => panic!("{id}: {e}"),
                    }
                }
            }));
        }
    }
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.push(writer.await.expect("the writer ran"));
    }
    let conflicts: usize = acknowledged.iter().map(|(_, _, c)| c).sum();
    eprintln!("{} changes, {conflicts} refused as conflicts and made again", acknowledged.len());
    let mut versions: Vec<i64> = acknowledged.iter().map(|(_, v, _)| *v).collect();
    versions.sort();
    let total = (2 * EACH) as i64;
    assert_eq!(versions, (1..=total).collect::<Vec<_>>(), "one version per acknowledged change, none shared");

    // Every acknowledged change is in the store, carried by the version it was acknowledged with.
    let store = &a.service.store();
    let env = store.environment("shop", "staging").await.unwrap().unwrap();
    assert_eq!(env.version, total, "no change lost and none counted twice");
    let stored = store.rules(env.id).await.unwrap();
    assert_eq!(stored.len(), 2 * EACH);
    for (id, version, _) in &acknowledged {
        let revisions = store.revisions(env.id, id).await.unwrap();
        assert_eq!(revisions.len(), 1, "{id}: {revisions:?}");
        assert_eq!(revisions[0].environment_version, *version, "{id}");
    }
    let log = store.audit_log(1000, None).await.unwrap();
    assert_eq!(log.iter().filter(|e| e.action == "createRule").count(), 2 * EACH);

    // Both replicas end up serving the same last version.
    let last = store.environment("shop", "staging").await.unwrap().unwrap().version as u64;
    for r in [&a, &b] {
        within_a_second("both replicas serving the last version", || {
            r.service.cache().get(ENV).is_some_and(|s| s.serial == last && s.rules.rules.len() == 2 * EACH)
        })
        .await;
    }
    assert_eq!(
        a.service.cache().get(ENV).unwrap().version_info,
        b.service.cache().get(ENV).unwrap().version_info
    );
}

#[tokio::test]
async fn a_sqlite_store_has_no_change_feed_to_follow() {
    let db = TestDb::new(Engine::Sqlite);
    let service = Service::new(db.open().await, Arc::new(SnapshotCache::new()));
    assert!(service.follow_store().await.unwrap().is_none());
}
