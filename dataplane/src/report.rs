//! The report stream: every interval, the hits per rule and the misses since the last report,
//! and the journal entries since then, sent to the control plane on its own gRPC stream beside
//! the xDS one.
//!
//! A report stays under [`MAX_REPORT_BYTES`], far below what a control plane accepts (4 MiB by
//! default): the journal entries and the hits of a large rule set are split over several
//! reports of the same tick, the oldest entries first (the control plane appends them). A
//! control plane that refuses the reports (an environment it does not serve, a node it does not
//! know) says why; the reason is logged and shown by `/readyz`.

use std::sync::Arc;
use std::time::Duration;

use mockplane_proto::node::Node;
use mockplane_proto::report::report_service_client::ReportServiceClient;
use mockplane_proto::report::{self, Header, Report, RuleHits};
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use crate::link::{is_refusal, refusal, AbortOnDrop};
use crate::snapshot::SnapshotStore;
use crate::stats::{SharedStats, LATENCY_BOUNDS_US};

/// Journal entries sent per report at most.
const JOURNAL_PER_REPORT: usize = 1_000;

/// The largest report sent: 1,000 journal entries take from ~100 KB (a GET with a few headers)
/// to ~1.7 MB (every entry's headers and body full); larger ones are split.
pub(crate) const MAX_REPORT_BYTES: usize = 1 << 20;

/// Sends a report every `every` on its own stream, until the stream fails.
pub(crate) async fn report_loop(
    channel: Channel,
    node: Node,
    stats: Arc<SharedStats>,
    store: SnapshotStore,
    every: Duration,
) {
    let mut client = ReportServiceClient::new(channel);
    let (tx, rx) = mpsc::channel(4);
    // The call ends when this loop ends (the sender drops) or with the session (abort).
    let call_store = store.clone();
    let _call = AbortOnDrop(tokio::spawn(async move {
        match client.stream_reports(ReceiverStream::new(rx)).await {
            Err(status) if is_refusal(status.code()) => {
                let reason = refusal(&status);
                tracing::error!(error = %reason, "the control plane refused this data plane's reports; hit counts and the journal stay here until the next connection");
                call_store.update_link(|l| l.last_report_error = Some(reason));
            }
            // A connection that broke: the xDS session sees it too and reconnects.
            _ => {}
        }
    }));
    // Baselines: what earlier reports have covered.
    let mut sent_hits: std::collections::HashMap<String, u64> = stats.rule_hit_totals().into_iter().collect();
    let mut sent_misses = stats.misses();
    let mut sent_latency = stats.latency();
    let mut sent_dropped = store.recorded().dropped();
    // Entries are named by worker and sequence number, so the cursor gives each one once, also
    // when several share a millisecond with the last one sent.
    let mut journal_cursor = stats.journal_cursor();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        store.reap();
        let totals = stats.rule_hit_totals();
        let hits: Vec<RuleHits> = totals
            .iter()
            .filter_map(|(id, total)| {
                let delta = total.saturating_sub(sent_hits.get(id).copied().unwrap_or(0));
                (delta > 0).then(|| RuleHits { rule_id: id.clone(), count: delta })
            })
            .collect();
        let misses = stats.misses();
        let latency = stats.latency();
        let mut cursor = journal_cursor.clone();
        // Before the entries are read: whatever they are, they were recorded after this reset.
        let journal_reset = stats.journal_epoch();
        let journal: Vec<report::JournalEntry> =
            stats.journal_since(&mut cursor, JOURNAL_PER_REPORT).iter().map(to_wire).collect();
        // Recorded pairs ride in the first part of a split report (see `split`).
        let recorded: Vec<_> = store.recorded().take().into_iter().map(crate::recording::to_wire).collect();
        let dropped = store.recorded().dropped();
        let report = Report {
            recorded,
            recorded_dropped: dropped - sent_dropped,
            node: Some(node.clone()),
            version_info: store.load().and_then(|s| s.config_version.clone()).unwrap_or_default(),
            hits,
            journal,
            misses: misses.saturating_sub(sent_misses),
            journal_reset: Some(journal_reset),
            latency: latency_since(&latency, &sent_latency),
        };
        for part in split(report, MAX_REPORT_BYTES) {
            if tx.send(part).await.is_err() {
                return;
            }
        }
        sent_hits = totals.into_iter().collect();
        sent_misses = misses;
        sent_latency = latency;
        sent_dropped = dropped;
        journal_cursor = cursor;
    }
}

/// The latency histogram's increase from `before` to `now` (see [`SharedStats::latency`]);
/// `None` when no request was answered in between.
fn latency_since(
    now: &([u64; LATENCY_BOUNDS_US.len() + 1], u64),
    before: &([u64; LATENCY_BOUNDS_US.len() + 1], u64),
) -> Option<report::Latency> {
    let counts: Vec<u64> = now.0.iter().zip(&before.0).map(|(n, b)| n.wrapping_sub(*b)).collect();
    counts.iter().any(|&c| c > 0).then(|| report::Latency {
        bounds_us: LATENCY_BOUNDS_US.to_vec(),
        counts,
        sum_us: now.1.wrapping_sub(before.1),
    })
}

/// A journal entry as the report carries it.
fn to_wire(e: &crate::journal::JournalEntry) -> report::JournalEntry {
    report::JournalEntry {
        at_ms: e.at_ms(),
        method: e.method.as_str().to_owned(),
        target: e.target.as_str().to_owned(),
        status: u32::from(e.status),
        rule_id: e.rule.as_str().to_owned(),
        fault: e.fault.unwrap_or_default().to_owned(),
        duration_us: e.duration_us,
        headers: e
            .headers()
            .map(|(name, value)| Header { name: name.to_owned(), value: value.to_vec() })
            .collect(),
        headers_omitted: u32::from(e.headers_omitted()),
        body: e.body.as_bytes().to_vec(),
        body_size: e.body_size,
        client_ip: e.client.map(|c| c.ip().to_string()).unwrap_or_default(),
        client_port: e.client.map_or(0, |c| u32::from(c.port())),
        worker: u32::from(e.worker),
        seq: e.seq,
    }
}

/// `report` as reports of at most `max_bytes` each (a single entry or hit is never split),
/// each with the node, version and journal epoch: the first carries the misses and the oldest
/// journal entries, later ones newer entries, then hits. Each part lists its entries newest
/// first, as a whole report does, and a control plane that appends each part's entries in
/// turn keeps them in order.
fn split(mut report: Report, max_bytes: usize) -> Vec<Report> {
    if report.encoded_len() <= max_bytes {
        return vec![report];
    }
    let hits = std::mem::take(&mut report.hits);
    let journal = std::mem::take(&mut report.journal);
    let empty = || Report {
        node: report.node.clone(),
        version_info: report.version_info.clone(),
        journal_reset: report.journal_reset,
        ..Default::default()
    };
    let mut parts = Vec::new();
    let mut part = report.clone();
    let mut len = part.encoded_len();
    // The field's tag and length prefix: at most 1 + 5 bytes.
    let starts_new = |part: &Report, len: usize, item: usize| {
        len + item + 6 > max_bytes && !(part.hits.is_empty() && part.journal.is_empty())
    };
    for entry in journal.into_iter().rev() {
        let entry_len = entry.encoded_len();
        if starts_new(&part, len, entry_len) {
            part.journal.reverse();
            parts.push(std::mem::replace(&mut part, empty()));
            len = part.encoded_len();
        }
        len += entry_len + 6;
        part.journal.push(entry);
    }
    part.journal.reverse();
    for hit in hits {
        let hit_len = hit.encoded_len();
        if starts_new(&part, len, hit_len) {
            parts.push(std::mem::replace(&mut part, empty()));
            len = part.encoded_len();
        }
        len += hit_len + 6;
        part.hits.push(hit);
    }
    parts.push(part);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latency_sent_is_the_increase_since_the_last_report() {
        let mut before = [0u64; LATENCY_BOUNDS_US.len() + 1];
        before[0] = 5;
        let mut now = before;
        assert_eq!(latency_since(&(now, 70), &(before, 70)), None, "no request: nothing sent");
        now[0] = 7;
        now[LATENCY_BOUNDS_US.len()] = 1;
        let sent = latency_since(&(now, 20_000_100), &(before, 70)).expect("three requests");
        assert_eq!(sent.bounds_us, LATENCY_BOUNDS_US);
        assert_eq!(sent.counts.iter().sum::<u64>(), 3);
        assert_eq!((sent.counts[0], sent.counts[LATENCY_BOUNDS_US.len()], sent.sum_us), (2, 1, 20_000_030));
    }

    #[test]
    fn a_large_report_is_split_under_the_bound_and_loses_nothing() {
        let node = Node { id: "dp-1".into(), cluster: "shop/staging".into(), ..Default::default() };
        let report = Report {
            node: Some(node.clone()),
            version_info: "3-abc".into(),
            hits: (0..20_000).map(|i| RuleHits { rule_id: format!("{i:0>150}"), count: i }).collect(),
            journal: vec![report::JournalEntry { target: "/a".into(), ..Default::default() }],
            misses: 7,
            journal_reset: Some(9),
            latency: Some(report::Latency { bounds_us: vec![50], counts: vec![2, 5], sum_us: 900 }),
            ..Default::default()
        };
        let whole = report.encoded_len();
        let parts = split(report.clone(), MAX_REPORT_BYTES);
        assert!(parts.len() > whole / MAX_REPORT_BYTES, "{} parts for {whole} bytes", parts.len());
        assert!(parts.iter().all(|p| p.encoded_len() <= MAX_REPORT_BYTES));
        assert!(parts.iter().all(|p| p.node.as_ref() == Some(&node) && p.version_info == "3-abc"));
        assert!(parts.iter().all(|p| p.journal_reset == Some(9)));
        let hits: Vec<RuleHits> = parts.iter().flat_map(|p| p.hits.clone()).collect();
        assert_eq!(hits, report.hits);
        assert_eq!(parts.iter().map(|p| p.misses).sum::<u64>(), 7);
        let timed: Vec<_> = parts.iter().filter_map(|p| p.latency.as_ref()).collect();
        assert_eq!(timed, [report.latency.as_ref().unwrap()], "the latency goes once");
        assert_eq!(parts.iter().map(|p| p.journal.len()).sum::<usize>(), 1);
        // A small one goes as it is.
        let small = Report { hits: report.hits[..3].to_vec(), ..report };
        assert_eq!(split(small.clone(), MAX_REPORT_BYTES), [small]);
    }

    #[test]
    fn a_full_journal_is_split_under_the_bound_oldest_entries_first() {
        // 1,000 entries with every field full: ~1.7 MB.
        let journal: Vec<report::JournalEntry> = (0..1_000u64)
            .rev()
            .map(|seq| report::JournalEntry {
                seq,
                target: "/".repeat(256),
                headers: vec![Header { name: "x".into(), value: vec![b'v'; 1_000] }],
                body: vec![b'b'; 256],
                ..Default::default()
            })
            .collect();
        let report = Report { journal: journal.clone(), misses: 2, ..Default::default() };
        assert!(report.encoded_len() > MAX_REPORT_BYTES);
        let parts = split(report, MAX_REPORT_BYTES);
        assert!(parts.len() >= 2 && parts.iter().all(|p| p.encoded_len() <= MAX_REPORT_BYTES));
        assert_eq!(parts[0].misses, 2);
        // Appending each part's entries, oldest first, gives them all in order.
        let appended: Vec<u64> = parts.iter().flat_map(|p| p.journal.iter().rev().map(|e| e.seq)).collect();
        assert_eq!(appended, (0..1_000).collect::<Vec<_>>());
    }
}
