//! The report stream: every interval, the hits per rule and the misses since the last report,
//! and the journal entries since then, sent to the control plane on its own gRPC stream beside
//! the xDS one.
//!
//! A report stays under [`MAX_REPORT_BYTES`], far below what a control plane accepts (4 MiB by
//! default): the hits of a large rule set are split over several reports of the same tick. A
//! control plane that refuses the reports (an environment it does not serve, a node it does not
//! know) says why; the reason is logged and shown by `/readyz`.

use std::sync::Arc;
use std::time::Duration;

use mockplane_proto::node::Node;
use mockplane_proto::report::report_service_client::ReportServiceClient;
use mockplane_proto::report::{self, Report, RuleHits};
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use crate::link::{is_refusal, refusal, AbortOnDrop};
use crate::snapshot::SnapshotStore;
use crate::stats::SharedStats;

/// Journal entries sent per report at most.
const JOURNAL_PER_REPORT: usize = 1_000;

/// The largest report sent: 1,000 journal entries take ~400 KB, and hits fill the rest.
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
        let mut cursor = journal_cursor.clone();
        let journal: Vec<report::JournalEntry> = stats
            .journal_since(&mut cursor, JOURNAL_PER_REPORT)
            .into_iter()
            .map(|e| report::JournalEntry {
                at_ms: e.at_ms(),
                method: e.method.as_str().to_owned(),
                target: e.target.as_str().to_owned(),
                status: u32::from(e.status),
                rule_id: e.rule.as_str().to_owned(),
                fault: e.fault.unwrap_or_default().to_owned(),
                duration_us: e.duration_us,
            })
            .collect();
        let report = Report {
            node: Some(node.clone()),
            version_info: store.load().and_then(|s| s.config_version.clone()).unwrap_or_default(),
            hits,
            journal,
            misses: misses.saturating_sub(sent_misses),
        };
        for part in split(report, MAX_REPORT_BYTES) {
            if tx.send(part).await.is_err() {
                return;
            }
        }
        sent_hits = totals.into_iter().collect();
        sent_misses = misses;
        journal_cursor = cursor;
    }
}

/// `report` as reports of at most `max_bytes` each (a single hit is never split): the first
/// carries the journal and the misses, the others only hits, each with the node and version.
fn split(mut report: Report, max_bytes: usize) -> Vec<Report> {
    if report.encoded_len() <= max_bytes {
        return vec![report];
    }
    let hits = std::mem::take(&mut report.hits);
    let empty = || Report {
        node: report.node.clone(),
        version_info: report.version_info.clone(),
        ..Default::default()
    };
    let mut parts = Vec::new();
    let mut part = Report { hits: Vec::new(), ..report.clone() };
    let mut len = part.encoded_len();
    for hit in hits {
        // The field's tag and length prefix: at most 1 + 5 bytes.
        let hit_len = hit.encoded_len() + 6;
        if len + hit_len > max_bytes && !part.hits.is_empty() {
            parts.push(std::mem::replace(&mut part, empty()));
            len = part.encoded_len();
        }
        len += hit_len;
        part.hits.push(hit);
    }
    parts.push(part);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_report_is_split_under_the_bound_and_loses_nothing() {
        let node = Node { id: "dp-1".into(), cluster: "shop/staging".into(), ..Default::default() };
        let report = Report {
            node: Some(node.clone()),
            version_info: "3-abc".into(),
            hits: (0..20_000).map(|i| RuleHits { rule_id: format!("{i:0>150}"), count: i }).collect(),
            journal: vec![report::JournalEntry { target: "/a".into(), ..Default::default() }],
            misses: 7,
        };
        let whole = report.encoded_len();
        let parts = split(report.clone(), MAX_REPORT_BYTES);
        assert!(parts.len() > whole / MAX_REPORT_BYTES, "{} parts for {whole} bytes", parts.len());
        assert!(parts.iter().all(|p| p.encoded_len() <= MAX_REPORT_BYTES));
        assert!(parts.iter().all(|p| p.node.as_ref() == Some(&node) && p.version_info == "3-abc"));
        let hits: Vec<RuleHits> = parts.iter().flat_map(|p| p.hits.clone()).collect();
        assert_eq!(hits, report.hits);
        assert_eq!(parts.iter().map(|p| p.misses).sum::<u64>(), 7);
        assert_eq!(parts.iter().map(|p| p.journal.len()).sum::<usize>(), 1);
        // A small one goes as it is.
        let small = Report { hits: report.hits[..3].to_vec(), ..report };
        assert_eq!(split(small.clone(), MAX_REPORT_BYTES), [small]);
    }
}
