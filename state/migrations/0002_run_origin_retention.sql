-- SPDX-License-Identifier: Apache-2.0
-- 0002_run_origin_retention: where a run came from (the CI system, its pipeline URL and the
-- commit it built), the outcome 'not-confirmed' (an apply the user did not confirm: not a
-- failure), and an index for pruning runs per kind (StateStore::Prune).
-- runs is rebuilt (SQLite cannot alter a CHECK in place): create, copy, drop, rename.

CREATE TABLE new_runs (
  id          INTEGER PRIMARY KEY,
  kind        TEXT NOT NULL CHECK (kind IN ('plan', 'apply', 'drift')),
  "trigger"   TEXT NOT NULL,                       -- cli, webhook, timer
  "commit"    TEXT NOT NULL DEFAULT '',            -- Git commit, '' when unknown
  who         TEXT NOT NULL DEFAULT '',            -- the CI actor, else user@host
  started_at  TEXT NOT NULL,
  finished_at TEXT,                                -- NULL while running
  outcome     TEXT NOT NULL DEFAULT ''
              CHECK (outcome IN ('', 'ok', 'changes', 'failed', 'partial', 'interrupted',
                                 'not-confirmed')),
  summary     TEXT NOT NULL DEFAULT '',            -- JSON text
  owner_pid   INTEGER,
  owner_boot  TEXT,
  owner_start INTEGER,
  ci          TEXT NOT NULL DEFAULT '',            -- drone, github-actions, gitlab-ci; '' outside CI
  ci_url      TEXT NOT NULL DEFAULT '',            -- the CI run's (pipeline's) URL
  ci_commit   TEXT NOT NULL DEFAULT '',            -- the commit the CI run built
  CHECK ((finished_at IS NULL) = (outcome = ''))
);
INSERT INTO new_runs (id, kind, "trigger", "commit", who, started_at, finished_at, outcome, summary,
                      owner_pid, owner_boot, owner_start)
  SELECT id, kind, "trigger", "commit", who, started_at, finished_at, outcome, summary,
         owner_pid, owner_boot, owner_start FROM runs;
DROP TABLE runs;
ALTER TABLE new_runs RENAME TO runs;
CREATE INDEX runs_unfinished ON runs (id) WHERE finished_at IS NULL;
CREATE INDEX runs_kind ON runs (kind, id);
