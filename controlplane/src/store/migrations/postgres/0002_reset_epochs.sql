-- The reset epochs of each environment (docs/xds.md, "Resets"): every version pushed to its
-- data planes carries them, and a data plane applies a reset whose epoch is newer than the one
-- it applied last. Kept so that a restarted control plane pushes them on: otherwise it would
-- push zero, and a data plane that was away when a reset was made would never apply it.
ALTER TABLE environments ADD COLUMN reset_scenarios BIGINT NOT NULL DEFAULT 0;
ALTER TABLE environments ADD COLUMN reset_journal BIGINT NOT NULL DEFAULT 0;
