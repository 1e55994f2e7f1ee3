//! Helpers shared by the integration tests: what a client would receive, as text.

use chrono::TimeZone;
use mockplane_rules::{RenderBuffers, Reply};

/// The fixed "now" of the tests (2026-11-25 12:00 UTC).
pub fn now() -> std::time::SystemTime {
    chrono::Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap().into()
}

/// The bytes a client would receive for `reply` (a rendered reply's head and body from
/// `buffers`), or the fault or upstream it names.
pub fn reply_text(reply: Reply<'_>, buffers: &RenderBuffers) -> String {
    match reply {
        Reply::Static(s) => String::from_utf8_lossy(s.bytes()).into_owned(),
        Reply::Rendered { .. } => {
            let mut all = buffers.head.clone();
            all.extend_from_slice(b"\r\n");
            all.extend_from_slice(&buffers.body);
            String::from_utf8_lossy(&all).into_owned()
        }
        Reply::Fault(kind) => format!("FAULT {kind:?}"),
        Reply::Forward(f) => format!("FORWARD {}", f.url),
    }
}
