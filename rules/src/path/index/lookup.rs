//! Looking a request path up in a [`PathIndex`]: the exact and hosted records, the template
//! records of each shape the path fits, and the candidates of each tier of path kind — all of
//! them for selection, the first few for a 404's near misses.

use std::ops::ControlFlow;

use super::{hash_pieces, Candidates, PathIndex, Record, Segments, TemplateHits, Tier, MAX_SEGMENTS};

impl PathIndex {
    /// The highest priority of any rule in `tier`.
    #[inline]
    pub(crate) fn max_priority(&self, tier: Tier) -> i32 {
        self.max_priority[tier as usize]
    }

    /// The record of an exact path: complete, or the exact rules alone.
    #[inline]
    pub(crate) fn exact(&self, path: &str) -> Option<Record<'_>> {
        if self.exact.is_empty() {
            return None;
        }
        self.exact.get(hash_pieces([path.as_bytes()]), path.len(), |stored| stored == path.as_bytes())
    }

    /// Whether some rule has an exact host and an exact path (see [`Self::exact_for`]).
    #[inline]
    pub(crate) fn has_hosted(&self) -> bool {
        !self.hosted.is_empty()
    }

    /// The record of an exact path for a request to `host`: its host's own record when the
    /// host has exact rules for the path, else the path's.
    pub(crate) fn exact_for(&self, host: Option<&str>, path: &str) -> Option<Record<'_>> {
        if let Some(record) = host.filter(|_| self.has_hosted()).and_then(|h| self.hosted(h, path)) {
            return Some(record);
        }
        self.exact(path)
    }

    fn hosted(&self, host: &str, path: &str) -> Option<Record<'_>> {
        // Keys are lower case; most requests' hosts already are. Others are lowered on the
        // stack (a DNS name has at most 253 bytes); only a longer one allocates.
        let mut buf = [0u8; 256];
        let lower;
        let host = if !host.bytes().any(|b| b.is_ascii_uppercase()) {
            host.as_bytes()
        } else if let Some(dst) = buf.get_mut(..host.len()) {
            dst.copy_from_slice(host.as_bytes());
            dst.make_ascii_lowercase();
            &*dst
        } else {
            lower = host.to_ascii_lowercase();
            lower.as_bytes()
        };
        let (h, p) = (host, path.as_bytes());
        self.hosted.get(hash_pieces([h, p]), h.len() + p.len(), |stored| {
            stored.len() == h.len() + p.len() && &stored[..h.len()] == h && &stored[h.len()..] == p
        })
    }

    /// Pushes the record of each template shape `path` fits.
    #[inline]
    pub(crate) fn templates<'a>(&'a self, path: &str, out: &mut TemplateHits<'a>) {
        if self.shapes.is_empty() {
            return;
        }
        let Some(segs) = Segments::split(path) else { return };
        for &id in &self.shapes_by_count[segs.count.min(MAX_SEGMENTS + 1)] {
            if let Some(record) = self.shapes[id as usize].probe(&segs) {
                out.push(record);
            }
        }
    }

    /// Pushes the ranks of the rules of `tier` whose path matches `path`, in no set order.
    /// `exact` and `templates` are what [`Self::exact`] and [`Self::templates`] found.
    #[inline]
    pub(crate) fn tier_candidates(
        &self,
        tier: Tier,
        path: &str,
        exact: Option<Record<'_>>,
        templates: &[Record<'_>],
        out: &mut Candidates,
    ) {
        // Plain pushes: `SmallVec::extend` reserves from a size hint first, which cost more
        // than the one or two ranks usually added. The sink never stops, so the checks for
        // stopping fold away.
        let _ = self.each_tier_candidate(tier, path, exact, templates, &mut |rank| {
            out.push(rank);
            ControlFlow::Continue(())
        });
    }

    /// Calls `found` with the rank of each rule of `tier` whose path matches `path`, in no
    /// set order, until it breaks.
    #[inline]
    fn each_tier_candidate(
        &self,
        tier: Tier,
        path: &str,
        exact: Option<Record<'_>>,
        templates: &[Record<'_>],
        found: &mut impl FnMut(u32) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        match tier {
            Tier::Exact => {
                for e in exact.iter().flat_map(|r| r.entries()) {
                    found(e.rank)?;
                }
            }
            Tier::Template => {
                for e in templates.iter().flat_map(|r| r.entries()) {
                    found(e.rank)?;
                }
                for (rank, t) in &self.long_templates {
                    if t.matches(path, &mut crate::path::PathParams::new()) {
                        found(*rank)?;
                    }
                }
            }
            Tier::Prefix => {
                if !self.prefixes.is_empty() {
                    let mut flow = ControlFlow::Continue(());
                    self.prefixes.prefixes_of(path, |id| {
                        for &rank in &self.prefix_ranks[id] {
                            if flow.is_continue() {
                                flow = found(rank);
                            }
                        }
                    });
                    flow?;
                }
            }
            Tier::Regex => {
                let mut flow = ControlFlow::Continue(());
                if let Some(gate) = &self.regex_gate {
                    gate.matching(path, |rank| {
                        if flow.is_continue() {
                            flow = found(rank);
                        }
                    });
                } else if let Some(set) = &self.regexes {
                    // `is_match` runs one pass and allocates nothing; the per-pattern answer
                    // (which allocates) is only computed when some regex does match.
                    if set.is_match(path) {
                        for i in set.matches(path).iter() {
                            found(self.regex_ranks[i])?;
                        }
                    }
                }
                flow?;
            }
            Tier::Pathless => {
                for &rank in &self.pathless {
                    found(rank)?;
                }
            }
        }
        ControlFlow::Continue(())
    }

    /// Pushes the ranks of the first `max` rules (in index order: exact, template, prefix,
    /// regex, pathless) whose path matches `path` or which have none; `Break` when there were
    /// more. For near misses: its cost is bounded by `max`, not by the table.
    /// `host` is asked for only when some rule has an exact host and an exact path.
    pub(crate) fn candidates_upto<'h>(
        &self,
        host: impl FnOnce() -> Option<&'h str>,
        path: &str,
        max: usize,
        out: &mut Candidates,
    ) -> ControlFlow<()> {
        let mut push = |rank: u32| {
            if out.len() == max {
                return ControlFlow::Break(());
            }
            out.push(rank);
            ControlFlow::Continue(())
        };
        let exact = match self.has_hosted() {
            true => self.exact_for(host(), path),
            false => self.exact(path),
        };
        match exact {
            Some(r) if r.is_complete() => {
                for e in r.entries() {
                    push(e.rank)?;
                }
            }
            exact => {
                let mut templates = TemplateHits::new();
                self.templates(path, &mut templates);
                for tier in Tier::ALL {
                    self.each_tier_candidate(tier, path, exact, &templates, &mut push)?;
                }
            }
        }
        ControlFlow::Continue(())
    }

    /// Pushes the ranks of the rules that are not exact paths and match `path`.
    pub(super) fn inexact_candidates(&self, path: &str, exact: Option<Record<'_>>, out: &mut Candidates) {
        let mut templates = TemplateHits::new();
        self.templates(path, &mut templates);
        for tier in Tier::ALL {
            self.tier_candidates(tier, path, exact, &templates, out);
        }
    }

    /// The ranks of every rule whose path matches `path` (or which has no path), sorted.
    pub(crate) fn candidates(&self, host: Option<&str>, path: &str, out: &mut Candidates) {
        match self.exact_for(host, path) {
            Some(r) if r.is_complete() => out.extend(r.entries().map(|e| e.rank)),
            exact => self.inexact_candidates(path, exact, out),
        }
        out.sort_unstable();
        out.dedup();
    }
}
