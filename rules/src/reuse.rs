//! Compiling a new version of a rule set while reusing the rules that did not change.
//!
//! A data plane gets the whole rule set on every change, and a change is usually one rule. A
//! [`RuleCache`] remembers, for the table in force, which compiled rule came from which source
//! (a key the caller chooses: the rule's encoded bytes on the wire). A new version is built
//! with [`RuleCache::begin`]: the caller pushes the rules in order, each with its key and a
//! way to decode it that is only called when the key is not in the cache; [`Build::finish`]
//! compiles through [`RuleTable::compile`]'s own path, in which a reused rule is a clone of the
//! old compiled rule at its new position.
//!
//! A compiled rule depends on more than its source, and reuse is only allowed when all of that
//! is unchanged; otherwise every rule is decoded and compiled afresh:
//! - the set's `variables` (baked into fixed responses) and `upstreams` (a `forward` rule
//!   naming one holds its URL), the `base_dir`, and the [`StateStore`] (scenario slots and
//!   state ids are the store's): compared with those the cached rules were compiled with;
//! - the table the cache describes must be the `previous` table given (each table has a
//!   unique stamp);
//! - the set's `cors` block is compiled into the table, never into a rule: a version that
//!   changes only it reuses every rule, and gets a new table with the new policy (whether a rule
//!   sets a CORS header itself is kept on the compiled rule, and checked against the block for
//!   reused rules as for new ones);
//! - a rule with a `file:` body is never cached (the file may change under the same source);
//! - the position: set on the clone; hit counters and `times` budgets are looked up again in
//!   the store by rule id and content fingerprint, exactly as a fresh compile does, so they
//!   survive swaps as before; duplicate ids are checked across reused and new rules alike.
//!
//! Errors are those of [`RuleTable::compile`], in the same order and places: a reused rule
//! compiled without error before, in the same context, and would again.

use std::collections::BTreeMap;
use std::hash::Hash;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::compile::CompiledRule;
use crate::error::RuleSetError;
use crate::model::{Rule, RuleSet};
use crate::state::StateStore;
use crate::table::{CompileOptions, RuleTable};

/// A rule to compile: from the model, or compiled before (see [`RuleTable::compile_sources`]).
pub(crate) enum Source<'a> {
    Model(&'a Rule),
    Compiled(&'a Arc<CompiledRule>),
}

impl<'a> Source<'a> {
    pub(crate) fn id(&self) -> &'a str {
        match self {
            Source::Model(rule) => &rule.id,
            Source::Compiled(rule) => &rule.id,
        }
    }
}

impl CompiledRule {
    /// This rule, compiled before with the same set-level context and state store, as a fresh
    /// compile would make it now: the same rule, shared, unless the store has forgotten its
    /// counters since (they are looked up again, as in `compile_rule`, and then start from zero
    /// in a copy of the rule). A compiled rule does not know its position, so a rule that moved
    /// is shared too.
    pub(crate) fn reused(this: &Arc<CompiledRule>, state: &StateStore) -> Arc<CompiledRule> {
        match &this.counters {
            Some(c) => {
                let counters = state.counters_like(&this.id, c);
                if Arc::ptr_eq(&counters, c) {
                    Arc::clone(this)
                } else {
                    Arc::new(CompiledRule { counters: Some(counters), ..CompiledRule::clone(this) })
                }
            }
            None => Arc::clone(this),
        }
    }
}

static STAMPS: AtomicU64 = AtomicU64::new(1);

/// A stamp no other table has.
pub(crate) fn next_stamp() -> u64 {
    STAMPS.fetch_add(1, Ordering::Relaxed)
}

/// Which compiled rule of a table came from which source, to reuse them in the next version.
/// `K` is the caller's key for a rule's source, typically its encoded bytes: two sources with
/// equal keys must decode to the same rule.
#[derive(Debug)]
pub struct RuleCache<K> {
    /// The table the entries index, by stamp, and what its rules were compiled against.
    stamp: Option<u64>,
    variables: BTreeMap<String, String>,
    upstreams: BTreeMap<String, crate::model::Upstream>,
    base_dir: Option<PathBuf>,
    state: Option<StateStore>,
    /// Key → the rule's position in that table.
    keys: FxHashMap<K, u32>,
}

impl<K> Default for RuleCache<K> {
    fn default() -> Self {
        RuleCache {
            stamp: None,
            variables: BTreeMap::new(),
            upstreams: BTreeMap::new(),
            base_dir: None,
            state: None,
            keys: FxHashMap::default(),
        }
    }
}

/// A new version being built: see [`RuleCache::begin`].
#[must_use = "a version is compiled by `finish`"]
#[derive(Debug)]
pub struct Build<'a, K> {
    cache: &'a mut RuleCache<K>,
    /// The table to reuse rules from; `None` when nothing can be reused.
    previous: Option<&'a RuleTable>,
    head: RuleSet,
    options: &'a CompileOptions,
    items: Vec<Item<'a, K>>,
    reused: usize,
}

#[derive(Debug)]
enum Item<'a, K> {
    /// To compile; cached under the key after a successful compile unless `None`.
    Fresh(Option<K>, Model<'a>),
    /// The rule at this position of the previous table.
    Kept(K, u32),
}

/// A model rule, decoded for this build or the caller's. Boxed when owned: a model rule is
/// large, and most items are `Kept`.
#[derive(Debug)]
enum Model<'a> {
    Owned(Box<Rule>),
    Borrowed(&'a Rule),
}

impl Model<'_> {
    fn rule(&self) -> &Rule {
        match self {
            Model::Owned(rule) => rule,
            Model::Borrowed(rule) => rule,
        }
    }
}

impl<K: Hash + Eq> RuleCache<K> {
    /// An empty cache: the first version compiles every rule.
    pub fn new() -> Self {
        RuleCache::default()
    }

    /// How many rules the cache can serve.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Starts building the next version: the rule set `head` (its `rules` are ignored), with
    /// the rules then [pushed](Build::push) in order, compiled with `options`. Rules are reused
    /// from `previous` only if it is the table this cache last [finished](Build::finish) and
    /// the set-level context is unchanged.
    pub fn begin<'a>(
        &'a mut self,
        mut head: RuleSet,
        previous: Option<&'a RuleTable>,
        options: &'a CompileOptions,
    ) -> Build<'a, K> {
        head.rules = Vec::new();
        let previous = previous.filter(|table| {
            self.stamp == Some(table.stamp)
                && self.state.as_ref().is_some_and(|s| s.same(&options.state))
                && self.base_dir == options.base_dir
                && self.variables == head.variables
                && self.upstreams == head.upstreams
        });
        Build { cache: self, previous, head, options, items: Vec::new(), reused: 0 }
    }
}

impl<'a, K: Hash + Eq> Build<'a, K> {
    /// The next rule: reused if `key` is cached, else `decode`d (its error is returned as is).
    pub fn push<E>(&mut self, key: K, decode: impl FnOnce() -> Result<Rule, E>) -> Result<(), E> {
        match self.cached(&key) {
            Some(index) => self.keep(key, index),
            None => {
                let rule = Model::Owned(Box::new(decode()?));
                self.fresh(key, rule);
            }
        }
        Ok(())
    }

    /// The next rule: reused if `key` is cached, else compiled from `rule` (not copied).
    pub fn push_model(&mut self, key: K, rule: &'a Rule) {
        match self.cached(&key) {
            Some(index) => self.keep(key, index),
            None => self.fresh(key, Model::Borrowed(rule)),
        }
    }

    /// The position in the previous table of the rule cached under `key`, if it can be reused.
    fn cached(&self, key: &K) -> Option<u32> {
        self.previous.and_then(|_| self.cache.keys.get(key).copied())
    }

    fn keep(&mut self, key: K, index: u32) {
        self.items.push(Item::Kept(key, index));
        self.reused += 1;
    }

    fn fresh(&mut self, key: K, rule: Model<'a>) {
        let cacheable = !has_file_body(rule.rule());
        self.items.push(Item::Fresh(cacheable.then_some(key), rule));
    }

    /// Makes room for `additional` more rules.
    pub fn reserve(&mut self, additional: usize) {
        self.items.reserve(additional);
    }

    /// How many rules have been pushed.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no rule has been pushed.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many of them are reused.
    pub fn reused(&self) -> usize {
        self.reused
    }

    /// Validates and compiles the version, as [`RuleTable::compile`] would the whole set. On
    /// success the cache describes the new table (which the caller is expected to put in
    /// force: the next [`RuleCache::begin`] reuses only from it); on error it is unchanged.
    pub fn finish(self) -> Result<RuleTable, RuleSetError> {
        let Build { cache, previous, head, options, items, .. } = self;
        let sources = items.iter().map(|item| match item {
            Item::Fresh(_, rule) => Source::Model(rule.rule()),
            Item::Kept(_, index) => Source::Compiled(
                &previous.expect("only a previous table has kept rules").rules[*index as usize],
            ),
        });
        let table = RuleTable::compile_sources(&head, sources, previous, options)?;
        let mut keys = FxHashMap::with_capacity_and_hasher(items.len(), Default::default());
        for (i, item) in items.into_iter().enumerate() {
            let (key, freed) = match item {
                Item::Fresh(key, _) => (key, true),
                Item::Kept(key, _) => (Some(key), false),
            };
            if let Some(key) = key {
                keys.insert(key, i as u32);
            }
            // The decoded model rules are freed here, one at a time like the rest.
            if let Some(pause) = options.pause {
                if freed || i % crate::table::PAUSE_EVERY == 0 {
                    pause();
                }
            }
        }
        *cache = RuleCache {
            stamp: Some(table.stamp),
            variables: head.variables,
            upstreams: head.upstreams,
            base_dir: options.base_dir.clone(),
            state: Some(options.state.clone()),
            keys,
        };
        Ok(table)
    }
}

/// Whether a rule's compiled form depends on a file's content.
fn has_file_body(rule: &Rule) -> bool {
    rule.response.as_ref().is_some_and(|r| r.file.is_some())
        || rule.sequence.as_ref().is_some_and(|s| s.responses.iter().any(|r| r.file.is_some()))
}
