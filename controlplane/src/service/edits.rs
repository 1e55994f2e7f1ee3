//! The rule-set edits behind the service's changes, as pure functions on a `RuleSet`: how an
//! incoming set combines with the rules in force, the settings a set carries, what the control
//! plane refuses on top of the compiler, and how error places are renamed after the input.

use std::collections::HashMap;
use std::sync::Arc;

use mockplane_rules::model::Rule;
use mockplane_rules::{RuleSet, RuleSetError, ValidationError};

use super::{ApplyMode, ServiceError};
use crate::store::{EnvSettings, Environment};

/// `incoming` applied to `set` as `mode` says: the ids of the rules created or changed, and of
/// those deleted. Rules equal to the ones in force stay shared and are not counted.
pub(super) fn combine(set: &mut RuleSet, incoming: &RuleSet, mode: ApplyMode) -> (Vec<String>, Vec<String>) {
    let before: HashMap<String, Arc<Rule>> = set.rules.iter().map(|r| (r.id.clone(), r.clone())).collect();
    let mut changed = Vec::new();
    let mut deleted = Vec::new();
    match mode {
        ApplyMode::Replace => {
            let keep: std::collections::HashSet<&str> =
                incoming.rules.iter().map(|r| r.id.as_str()).collect();
            deleted.extend(set.rules.iter().filter(|r| !keep.contains(r.id.as_str())).map(|r| r.id.clone()));
            set.rules = incoming
                .rules
                .iter()
                .map(|r| match before.get(&r.id) {
                    // Unchanged: the rule in force stays shared, and gets no revision.
                    Some(old) if **old == **r => old.clone(),
                    _ => {
                        changed.push(r.id.clone());
                        r.clone()
                    }
                })
                .collect();
            set.variables = incoming.variables.clone();
            set.upstreams = incoming.upstreams.clone();
            set.unmatched = incoming.unmatched.clone();
            set.cors = incoming.cors.clone();
            set.scenarios = incoming.scenarios.clone();
        }
        ApplyMode::Merge => {
            let at: HashMap<String, usize> =
                set.rules.iter().enumerate().map(|(i, r)| (r.id.clone(), i)).collect();
            for r in &incoming.rules {
                match at.get(&r.id) {
                    Some(&i) if *set.rules[i] == **r => {}
                    Some(&i) => {
                        set.rules[i] = r.clone();
                        changed.push(r.id.clone());
                    }
                    None => {
                        set.rules.push(r.clone());
                        changed.push(r.id.clone());
                    }
                }
            }
            set.variables.extend(incoming.variables.clone());
            set.upstreams.extend(incoming.upstreams.clone());
            if incoming.unmatched.is_some() {
                set.unmatched = incoming.unmatched.clone();
            }
            if incoming.cors.is_some() {
                set.cors = incoming.cors.clone();
            }
            set.scenarios.extend(incoming.scenarios.clone());
        }
    }
    (changed, deleted)
}

pub(super) fn settings_of(set: &RuleSet) -> EnvSettings {
    EnvSettings {
        variables: set.variables.clone(),
        upstreams: set.upstreams.clone(),
        unmatched: set.unmatched.clone(),
        cors: set.cors.clone(),
        scenarios: set.scenarios.clone(),
    }
}

/// The rule set of an environment from its settings and rules, as pushed.
pub(super) fn rule_set(env: &Environment, rules: Vec<Arc<Rule>>) -> RuleSet {
    RuleSet {
        project: Some(env.project.clone()),
        environment: Some(env.name.clone()),
        variables: env.settings.variables.clone(),
        upstreams: env.settings.upstreams.clone(),
        unmatched: env.settings.unmatched.clone(),
        cors: env.settings.cors.clone(),
        scenarios: env.settings.scenarios.clone(),
        rules,
    }
}

/// A stored rule cannot name a file: the data planes do not share the control plane's disk.
pub(super) fn refuse_files(set: &RuleSet) -> Result<(), ServiceError> {
    let mut errors = Vec::new();
    for (i, rule) in set.rules.iter().enumerate() {
        if rule.response.as_ref().is_some_and(|r| r.file.is_some()) {
            errors.push(ValidationError::new(
                format!("rules[{i}].response.file"),
                "a rule kept by the control plane cannot read a file: put the body in the rule (body, json or base64)",
            ));
        }
        if let Some(sequence) = &rule.sequence {
            for (j, r) in sequence.responses.iter().enumerate() {
                if r.file.is_some() {
                    errors.push(ValidationError::new(
                        format!("rules[{i}].sequence.responses[{j}].file"),
                        "a rule kept by the control plane cannot read a file: put the body in the rule",
                    ));
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::Invalid(errors.into()))
    }
}

/// Errors about `rules[index]` renamed to `place` (the rule of a one-rule mutation's input).
pub(super) fn rebase(error: RuleSetError, index: usize, place: &str) -> RuleSetError {
    let prefix = format!("rules[{index}]");
    RuleSetError::from(
        error
            .errors
            .into_iter()
            .map(|e| match e.path.strip_prefix(&prefix) {
                Some(rest) => ValidationError::new(format!("{place}{rest}"), e.message),
                None => e,
            })
            .collect::<Vec<_>>(),
    )
}

/// `rules[N]…` places renumbered to `rules[from[N]]…`; places of rules not in `from` stay.
pub(super) fn renumber(error: RuleSetError, from: &[Option<usize>]) -> RuleSetError {
    let renamed = |path: &str| -> Option<String> {
        let rest = path.strip_prefix("rules[")?;
        let (n, rest) = rest.split_once(']')?;
        let to = (*from.get(n.parse::<usize>().ok()?)?)?;
        Some(format!("rules[{to}]{rest}"))
    };
    RuleSetError::from(
        error
            .errors
            .into_iter()
            .map(|e| match renamed(&e.path) {
                Some(path) => ValidationError::new(path, e.message),
                None => e,
            })
            .collect::<Vec<_>>(),
    )
}

pub(super) fn index_of(set: &RuleSet, path: &str, rule_id: &str) -> Result<usize, ServiceError> {
    set.rules
        .iter()
        .position(|r| r.id == rule_id)
        .ok_or_else(|| ServiceError::NotFound(format!("rule {rule_id:?} in {path}")))
}
