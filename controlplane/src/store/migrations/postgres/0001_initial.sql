-- The control plane's store, PostgreSQL dialect: the same tables, columns and constraints as
-- the SQLite folder's, so that the same statements run on both. Ids are BIGSERIAL (SQLite's
-- INTEGER PRIMARY KEY): 64-bit, as the `Any` driver reads them.

CREATE TABLE projects (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE environments (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- The rule-set-level settings of the environment's rules as JSON: `variables`, `upstreams`,
    -- `cors` (what a rules file holds besides its rules).
    settings TEXT NOT NULL DEFAULT '{}',
    -- Counts the committed changes to the environment's rules and settings; the xDS version
    -- pushed to its data planes carries it. Replicas guard every change with it.
    version BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

-- The rules in force: one row per rule, its current revision.
CREATE TABLE rules (
    id BIGSERIAL PRIMARY KEY,
    environment_id BIGINT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    rule_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    revision BIGINT NOT NULL,
    -- The rule, as JSON of the rules file's model.
    body TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (environment_id, rule_id)
);
CREATE INDEX rules_by_position ON rules (environment_id, position);

-- Every revision of every rule, kept: any one can be brought back.
CREATE TABLE rule_revisions (
    id BIGSERIAL PRIMARY KEY,
    environment_id BIGINT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    rule_id TEXT NOT NULL,
    revision BIGINT NOT NULL,
    -- NULL: this revision deleted the rule.
    body TEXT,
    author TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- The environment version that carried it.
    environment_version BIGINT NOT NULL,
    UNIQUE (environment_id, rule_id, revision)
);

CREATE TABLE api_keys (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    -- SHA-256 of the key, hex: keys are random 256-bit secrets, so the hash is also the lookup.
    key_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at BIGINT
);

-- Every change, who made it and when.
CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_by_time ON audit_log (at);
