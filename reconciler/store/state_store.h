// SPDX-License-Identifier: Apache-2.0
// StateStore: everything galley saw and did, per host, in SQLite (WAL mode, busy timeout,
// forward-only migrations from state/migrations/, documented in state/README.md): runs,
// observations, the last-applied desired state per resource, saved plans, the action
// journal, drift records and a lease. Secrets never reach it: callers store HMACs.
// Each method is one transaction, so a crash leaves either all of a call or none of it.
// Thread-safe (one connection guarded by a mutex); several processes may share a file.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"

namespace galley::store {

// A resource key: "marathon-app:/app/production/test-server",
// "consul-kv:app/production/test-server/LOG_LEVEL".
using ResourceKey = std::string;

// Who started a run and from where: in CI the CI system's actor, run URL and commit; else
// user@host (cli/run_origin.h reads them from the environment).
struct RunOrigin {
  std::string who;        // the CI actor, else user@host
  std::string ci;         // "drone", "github-actions", "gitlab-ci"; "" outside CI
  std::string ci_url;     // the CI run's URL, "" when unknown
  std::string ci_commit;  // the commit the CI run built, "" when unknown
};

struct Run {
  int64_t id = 0;
  std::string kind;                     // "plan", "apply", "drift"
  std::string trigger;                  // "cli", "webhook", "timer"
  std::string commit;                   // Git commit planned/applied, empty when unknown
  std::string who;                      // the CI actor, else user@host
  std::string started_at, finished_at;  // ISO-8601 UTC; finished_at empty while running
  // "", "ok", "changes", "failed", "partial", "interrupted", "not-confirmed". RecentRuns
  // reports an unfinished run whose process is gone as "interrupted" (finished_at stays
  // empty) without writing, so a read-only store shows crashed runs too.
  std::string outcome;
  std::string summary;                // JSON text
  std::string ci, ci_url, ci_commit;  // RunOrigin; empty in runs recorded before schema 2
};

// How much history the store keeps (StateStore::Prune). Runs are counted per kind, so plans
// and drift checks never push applies out; within a kind, runs that changed nothing (a plan
// or drift check that found nothing, an apply with nothing to do or a dry run) go first,
// then the oldest. Runs older than `max_age` go too, whatever their kind, except the newest
// run of each kind; so do drift records resolved before then. A pruned run takes its
// observation history, journal and saved plans with it. Unfinished runs and runs with
// journal entries still open (for the next apply to settle) are never pruned; nor are the
// applied records (a table of their own) or open drift records.
// Observations are stored only when they change (RecordObservations): every resource's
// newest observation (its head) is kept while the resource is seen, whatever its age; the
// history rows are kept only for the newest `observation_runs` runs that recorded any, and
// none older than `observation_max_age`; the head of a resource no longer seen is kept for
// `observation_runs` plans and drift checks, and no longer than `observation_max_age`.
// The defaults keep a year of 5-minute plans (105,120 runs) within a few thousand rows
// besides the heads (bench/store_bench).
struct Retention {
  int applies = 500;
  int plans = 100;
  int drift_checks = 100;
  std::chrono::seconds max_age{std::chrono::hours(24 * 365)};
  int observation_runs = 10;
  std::chrono::seconds observation_max_age{std::chrono::hours(24 * 7)};
};

struct Observation {
  ResourceKey resource;
  std::string hash;   // sha256 of the normalised body (or the value HMAC for KV)
  std::string token;  // Marathon app version / Consul ModifyIndex
  std::string body;   // normalised JSON text; for KV the value, or "" for secrets
};

struct Applied {
  ResourceKey resource;
  std::string body;    // what galley last applied (normalised JSON text; KV: the value or its HMAC)
  std::string digest;  // sha256 of body
  std::string commit;
  std::string applied_at;
  std::string applied_by;
  int64_t run_id = 0;
  bool deleted = false;  // galley deleted it (prune)
};

struct JournalEntry {
  int64_t id = 0;
  int64_t run_id = 0;
  std::string action_id;  // the plan's action id
  ResourceKey resource;
  std::string kind;    // "create", "update", "scale", "restart", "delete", "kv-put", "kv-delete"
  std::string state;   // "started", "succeeded", "failed", "skipped"
  std::string detail;  // JSON text
  std::string started_at, finished_at;
};

struct Drift {
  ResourceKey resource;
  std::string fields;  // JSON text: [{"path": "/instances", "applied": 4, "live": 6}]
  std::string first_seen, last_seen;
  std::string resolution;  // "", "reverted", "accepted", "ignored"
};

class StateStore {
 public:
  virtual ~StateStore() = default;

  virtual Result<int64_t> BeginRun(const std::string& kind, const std::string& trigger,
                                   const std::string& commit, const RunOrigin& origin) = 0;
  Result<int64_t> BeginRun(const std::string& kind, const std::string& trigger,
                           const std::string& commit, const std::string& who) {
    return BeginRun(kind, trigger, commit, RunOrigin{.who = who});
  }
  // Finishes a run; with StoreOptions::retention set, then prunes (Prune; a pruning
  // failure is not the run's and is ignored).
  virtual Status FinishRun(int64_t run_id, const std::string& outcome,
                           const std::string& summary_json) = 0;
  // Deletes what `retention` does not keep, in one transaction, and gives the freed pages
  // back to the file system when the file has incremental auto-vacuum (new files do).
  virtual Status Prune(const Retention& retention) = 0;
  // Runs that never finished (a crash) are marked "interrupted" by this call. Only runs
  // whose process is gone are closed (pid + boot id + process start time), so a live
  // galley sharing the file keeps its run.
  virtual Status MarkInterruptedRuns() = 0;
  virtual Result<std::vector<Run>> RecentRuns(int limit) = 0;

  // All observations of one run (everything the run saw), in one transaction. Only what
  // differs from a resource's newest observation (hash, token or body) is written; a
  // resource seen before and missing from `observations` is marked gone (still returned by
  // LatestObservations until retention prunes it). A converged plan writes no row.
  virtual Status RecordObservations(int64_t run_id,
                                    const std::vector<Observation>& observations) = 0;
  // The newest observation of each resource (of those gone too, until pruned); with a
  // prefix, only of the resources whose key starts with it (an index range, not a scan).
  virtual Result<std::map<ResourceKey, Observation>> LatestObservations(
      const std::string& resource_prefix = "") = 0;

  virtual Result<std::map<ResourceKey, Applied>> LastApplied() = 0;
  virtual Status SetApplied(const std::vector<Applied>& records) = 0;

  virtual Result<int64_t> SavePlan(int64_t run_id, const std::string& plan_json,
                                   const std::string& digest) = 0;
  // Marks a saved plan applied; kConflict when it already was (a plan applies once).
  virtual Status MarkPlanApplied(const std::string& digest, int64_t apply_run_id) = 0;
  // "run 12 at 2026-..." when the saved plan was applied; nullopt when it was not (or is
  // not saved here).
  virtual Result<std::optional<std::string>> PlanApplied(const std::string& digest) = 0;

  virtual Result<int64_t> JournalStart(const JournalEntry& entry) = 0;
  virtual Status JournalFinish(int64_t entry_id, const std::string& state,
                               const std::string& detail_json) = 0;
  virtual Result<std::vector<JournalEntry>> Journal(int64_t run_id) = 0;
  // Entries still "started" in runs that ended interrupted (a crash, or a stop that left
  // deployments under way), oldest first: what the next apply settles.
  virtual Result<std::vector<JournalEntry>> UnfinishedJournal() = 0;
  // The newest finished entry ("succeeded" or "failed") of each of `resources` that has
  // one: how the last attempt at each ended (a failed deploy apply must not retry blindly).
  virtual Result<std::map<ResourceKey, JournalEntry>> LatestFinishedJournal(
      const std::vector<ResourceKey>& resources) = 0;

  // Inserts or refreshes a drift record (first_seen kept, last_seen = seen_at).
  virtual Status UpsertDrift(const ResourceKey& resource, const std::string& fields_json,
                             const std::string& seen_at) = 0;
  virtual Status ResolveDrift(const ResourceKey& resource, const std::string& resolution) = 0;
  virtual Result<std::vector<Drift>> OpenDrift() = 0;

  // A lease on `name` for `holder` until now + ttl; false when another live holder has it.
  virtual Result<bool> AcquireLease(const std::string& name, const std::string& holder,
                                    int ttl_seconds) = 0;
  virtual Status ReleaseLease(const std::string& name, const std::string& holder) = 0;
  virtual Result<std::optional<std::string>> LeaseHolder(const std::string& name) = 0;

  // "ok" when PRAGMA integrity_check is clean, else its report.
  virtual Result<std::string> IntegrityCheck() = 0;
  virtual Result<int> SchemaVersion() = 0;
};

// Opens (creating if needed, with parent directories) and migrates the store at `path`;
// ":memory:" gives a private in-memory store. Fails with a message naming the file; a path
// that exists and is not a regular file (a directory, /dev/null, a FIFO) is refused before
// it is opened.
Result<std::unique_ptr<StateStore>> OpenSqliteStore(const std::string& path);

// Seams for OpenSqliteStore; the defaults are what galley runs with.
struct StoreOptions {
  // Its WallNow() stamps rows and expires leases; null: RealClock(). Tests pass a fake
  // (every store sharing a file must then share it); it must outlive the store.
  galley::Clock* clock = nullptr;
  // How long a write waits for another connection's transaction before kUnavailable.
  int busy_timeout_ms = 5000;
  // Read-only (`galley history`): SQLITE_OPEN_READONLY, nothing created, migrated or
  // written (writes fail with kPermissionDenied). A missing file is kNotFound ("no history
  // yet" to the caller), an empty one too; a file of an older schema is read as it is.
  bool read_only = false;
  // When set, every FinishRun prunes the store to it.
  std::optional<Retention> retention;
};
Result<std::unique_ptr<StateStore>> OpenSqliteStore(const std::string& path,
                                                    const StoreOptions& options);

// Timestamps in the store are base/time_text.h's FormatTimestamp: ISO-8601 UTC with
// milliseconds, "2026-11-27T12:00:00.123Z" (sorts and compares as text). Callers passing
// times (UpsertDrift) use it.

// $XDG_STATE_HOME/galley/state.db, else $HOME/.local/state/galley/state.db, else
// ./galley-state.db (no HOME). A relative XDG_STATE_HOME is ignored (XDG spec).
std::string DefaultStatePath(const std::map<std::string, std::string>& env);

}  // namespace galley::store
