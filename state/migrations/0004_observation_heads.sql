-- SPDX-License-Identifier: Apache-2.0
-- 0004_observation_heads (issue #14): observations are stored only when they change.
-- observation_heads holds the newest observation of every resource, its content included,
-- so it outlives the run that recorded it: a converged plan writes nothing there, a run
-- writes a row to observations (the history) only for a resource whose content differs
-- from its head, and a resource a run no longer sees is marked gone (gone_run) instead of
-- being forgotten, until retention prunes it (StateStore::Prune).

CREATE TABLE observation_heads (
  resource  TEXT PRIMARY KEY,
  -- sha256 over hash, token and body (SqliteStore computes it); '' when unknown (a head
  -- migrated from an older file), so the next observation of that resource is written.
  digest    TEXT NOT NULL,
  hash      TEXT NOT NULL,                         -- as in observations
  token     TEXT NOT NULL DEFAULT '',
  body      TEXT NOT NULL DEFAULT '',
  run_id    INTEGER,                               -- the run that recorded it; informational,
                                                   -- not a foreign key (runs are pruned)
  seen_at   TEXT NOT NULL,                         -- when this content was first recorded
  gone_run  INTEGER,                               -- the first run that no longer saw it
  gone_at   TEXT,                                  -- NULL while seen
  CHECK ((gone_run IS NULL) = (gone_at IS NULL))
);
CREATE INDEX observation_heads_gone ON observation_heads (gone_run) WHERE gone_run IS NOT NULL;

-- The newest observation of each resource becomes its head.
INSERT INTO observation_heads (resource, digest, hash, token, body, run_id, seen_at)
  SELECT o.resource, '', o.hash, o.token, o.body, o.run_id, o.seen_at
    FROM observations o
   WHERE o.id IN (SELECT max(id) FROM observations GROUP BY resource);
