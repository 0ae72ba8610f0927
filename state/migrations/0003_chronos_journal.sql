-- SPDX-License-Identifier: Apache-2.0
-- 0003_chronos_journal: journal entries for Chronos jobs (issue #16): 'job-put' (create or
-- replace), 'job-delete' and 'hook-run' (one run of a pre- or post-deploy hook job).
-- journal is rebuilt (SQLite cannot alter a CHECK in place): create, copy, drop, rename.

CREATE TABLE new_journal (
  id          INTEGER PRIMARY KEY,
  run_id      INTEGER NOT NULL REFERENCES runs (id),
  action_id   TEXT NOT NULL,
  resource    TEXT NOT NULL,
  kind        TEXT NOT NULL
              CHECK (kind IN ('create', 'update', 'scale', 'restart', 'delete', 'kv-put', 'kv-delete',
                              'job-put', 'job-delete', 'hook-run')),
  state       TEXT NOT NULL CHECK (state IN ('started', 'succeeded', 'failed', 'skipped')),
  detail      TEXT NOT NULL DEFAULT '',            -- JSON text
  started_at  TEXT NOT NULL,
  finished_at TEXT,                                -- NULL while started
  CHECK ((finished_at IS NULL) = (state = 'started'))
);
INSERT INTO new_journal (id, run_id, action_id, resource, kind, state, detail, started_at,
                         finished_at)
  SELECT id, run_id, action_id, resource, kind, state, detail, started_at, finished_at
    FROM journal;
DROP TABLE journal;
ALTER TABLE new_journal RENAME TO journal;
CREATE INDEX journal_run ON journal (run_id, id);
