-- SPDX-License-Identifier: Apache-2.0
-- 0001_initial: the first schema of galley's state store (see state/README.md).
-- Shipped migrations are never edited; change the schema with a new NNNN_name.sql.
-- Timestamps are ISO-8601 UTC text with milliseconds ("2026-11-27T12:00:00.123Z"), so
-- they sort and compare as text. Body columns never hold secret values, only HMACs.

-- One invocation of galley: plan, apply or a drift check.
CREATE TABLE runs (
  id          INTEGER PRIMARY KEY,
  kind        TEXT NOT NULL CHECK (kind IN ('plan', 'apply', 'drift')),
  "trigger"   TEXT NOT NULL,                       -- cli, webhook, timer
  "commit"    TEXT NOT NULL DEFAULT '',            -- Git commit, '' when unknown
  who         TEXT NOT NULL DEFAULT '',            -- user@host
  started_at  TEXT NOT NULL,
  finished_at TEXT,                                -- NULL while running
  outcome     TEXT NOT NULL DEFAULT ''
              CHECK (outcome IN ('', 'ok', 'changes', 'failed', 'partial', 'interrupted')),
  summary     TEXT NOT NULL DEFAULT '',            -- JSON text
  -- The process that runs it, so MarkInterruptedRuns only closes runs whose process is
  -- gone: pid, /proc/sys/kernel/random/boot_id and the process start time (clock ticks).
  owner_pid   INTEGER,
  owner_boot  TEXT,
  owner_start INTEGER,
  CHECK ((finished_at IS NULL) = (outcome = ''))
);
CREATE INDEX runs_unfinished ON runs (id) WHERE finished_at IS NULL;

-- What each run saw, one row per resource per run.
CREATE TABLE observations (
  id       INTEGER PRIMARY KEY,
  run_id   INTEGER NOT NULL REFERENCES runs (id),
  resource TEXT NOT NULL,
  hash     TEXT NOT NULL,                          -- sha256 of the normalised body / value HMAC
  token    TEXT NOT NULL DEFAULT '',               -- Marathon version / Consul ModifyIndex
  body     TEXT NOT NULL DEFAULT '',               -- normalised JSON; '' for secrets
  seen_at  TEXT NOT NULL
);
-- Newest observation per resource: a loose index scan over (resource, id).
CREATE INDEX observations_resource ON observations (resource, id);
CREATE INDEX observations_run ON observations (run_id);

-- What galley last applied per resource. run_id is informational and not a foreign key:
-- records synchronised from Consul KV name runs of another host's store.
CREATE TABLE applied (
  resource   TEXT PRIMARY KEY,
  body       TEXT NOT NULL,                        -- normalised JSON / KV value or its HMAC
  digest     TEXT NOT NULL,
  "commit"   TEXT NOT NULL DEFAULT '',
  applied_at TEXT NOT NULL,
  applied_by TEXT NOT NULL DEFAULT '',
  run_id     INTEGER,
  deleted    INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1))
);

-- Saved plans; a plan (by digest) applies once.
CREATE TABLE plans (
  id             INTEGER PRIMARY KEY,
  run_id         INTEGER NOT NULL REFERENCES runs (id),
  digest         TEXT NOT NULL UNIQUE,
  plan_json      TEXT NOT NULL,
  created_at     TEXT NOT NULL,
  applied_run_id INTEGER REFERENCES runs (id),     -- NULL until applied
  applied_at     TEXT,
  CHECK ((applied_run_id IS NULL) = (applied_at IS NULL))
);

-- Every apply step as it happens.
CREATE TABLE journal (
  id          INTEGER PRIMARY KEY,
  run_id      INTEGER NOT NULL REFERENCES runs (id),
  action_id   TEXT NOT NULL,
  resource    TEXT NOT NULL,
  kind        TEXT NOT NULL
              CHECK (kind IN ('create', 'update', 'scale', 'restart', 'delete', 'kv-put', 'kv-delete')),
  state       TEXT NOT NULL CHECK (state IN ('started', 'succeeded', 'failed', 'skipped')),
  detail      TEXT NOT NULL DEFAULT '',            -- JSON text
  started_at  TEXT NOT NULL,
  finished_at TEXT,                                -- NULL while started
  CHECK ((finished_at IS NULL) = (state = 'started'))
);
CREATE INDEX journal_run ON journal (run_id, id);

-- Drift records: at most one open (resolved_at IS NULL) record per resource; resolved
-- records stay as history and a new drift opens a new record.
CREATE TABLE drift (
  id          INTEGER PRIMARY KEY,
  resource    TEXT NOT NULL,
  fields      TEXT NOT NULL,                       -- JSON text
  first_seen  TEXT NOT NULL,
  last_seen   TEXT NOT NULL,
  resolution  TEXT NOT NULL DEFAULT ''
              CHECK (resolution IN ('', 'reverted', 'accepted', 'ignored')),
  resolved_at TEXT,
  CHECK ((resolved_at IS NULL) = (resolution = ''))
);
CREATE UNIQUE INDEX drift_open ON drift (resource) WHERE resolved_at IS NULL;
CREATE INDEX drift_resource ON drift (resource, id);

-- Host-local leases (one apply at a time per platform on this host).
CREATE TABLE leases (
  name        TEXT PRIMARY KEY,
  holder      TEXT NOT NULL,
  acquired_at TEXT NOT NULL,
  expires_at  TEXT NOT NULL
);
