//! What a change would do, without doing it: `applyRules` with `dryRun` (and `mockplane apply
//! --dry-run`, `mockplane diff`), and the rule set in force as a whole (`mockplane export`).

use std::sync::Arc;

use mockplane_rules::model::Rule;
use mockplane_rules::{CompileOptions, RuleSet, RuleTable};

use super::{combine, refuse_files, rule_set, settings_of, ApplyMode, Service, ServiceError};

/// What [`Service::preview_rules`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    /// The rules the change would create (`before` is `None`) or change, in the new order.
    pub changed: Vec<RuleChange>,
    /// The rules it would delete, as they are now.
    pub deleted: Vec<Arc<Rule>>,
    /// Whether the variables, upstreams or CORS block would change.
    pub settings_changed: bool,
}

/// One rule a change would create or change.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleChange {
    /// As it is now; `None` for a new rule.
    pub before: Option<Arc<Rule>>,
    /// As it would be.
    pub after: Arc<Rule>,
}

impl Service {
    /// The rule set of the environment `path` as it is in force (as its data planes get it):
    /// its rules in order, variables, upstreams and CORS block.
    pub async fn rule_set(&self, path: &str) -> Result<Arc<RuleSet>, ServiceError> {
        let env = self.environment(path).await?;
        if let Some(s) = self.cache.get(path).filter(|s| s.serial == env.version as u64) {
            return Ok(s.rules.clone());
        }
        let rules = self.store.rules(env.id).await?.into_iter().map(|r| Arc::new(r.rule)).collect();
        Ok(Arc::new(rule_set(&env, rules)))
    }

    /// What [`Service::apply_rules`] would do with `incoming`, validated the same way (every
    /// error with its place), without storing or pushing anything.
    pub async fn preview_rules(
        &self,
        path: &str,
        incoming: RuleSet,
        mode: ApplyMode,
    ) -> Result<Preview, ServiceError> {
        let current = self.rule_set(path).await?;
        let mut set = RuleSet::clone(&current);
        let (changed, deleted) = combine(&mut set, &incoming, mode);
        refuse_files(&set)?;
        let settings_changed = settings_of(&set) != settings_of(&current);
        let by_id = |rules: &[Arc<Rule>], id: &str| rules.iter().find(|r| r.id == id).cloned();
        let preview = Preview {
            changed: changed
                .iter()
                .filter_map(|id| {
                    Some(RuleChange { before: by_id(&current.rules, id), after: by_id(&set.rules, id)? })
                })
                .collect(),
            deleted: deleted.iter().filter_map(|id| by_id(&current.rules, id)).collect(),
            settings_changed,
        };
        // The compiler the data planes run: what it refuses, a real apply would refuse.
        tokio::task::spawn_blocking(move || RuleTable::compile(&set, &CompileOptions::default()).map(drop))
            .await
            .map_err(|e| ServiceError::Conflict(format!("the preview did not finish: {e}")))?
            .map_err(ServiceError::Invalid)?;
        Ok(preview)
    }
}
