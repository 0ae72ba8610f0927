// SPDX-License-Identifier: Apache-2.0
// SqliteStore: the StateStore on one SQLite connection, guarded by a mutex. Each method is
// one transaction (BEGIN IMMEDIATE for writes, so a writer waits up to the busy timeout
// for another process instead of failing half-way); statements are prepared once and
// bound, never built from values. Durability (state/README.md): WAL with
// synchronous=NORMAL, and synchronous=FULL for the apply record (journal, applied, plan
// marks), whose commits must survive a power cut, not only a crash.
// Thread-safe: every public method takes mu_.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <set>
#include <unordered_map>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/digest.h"
#include "base/time_text.h"
#include "store/migrations.h"
#include "store/run_owner.h"
#include "store/sqlite_db.h"
#include "store/state_store.h"

namespace galley::store {
namespace {

using internal::Connection;
using internal::RunOwner;
using internal::Statement;
using Clock = std::function<std::chrono::system_clock::time_point()>;

// "GALL": PRAGMA application_id of a galley state file, set with the first migration.
constexpr int32_t kApplicationId = 0x47414c4c;

enum class Sync { kNormal, kFull };

Status MakeDirs(const std::string& dir) {
  if (dir.empty()) return Status::Ok();
  std::string prefix;
  size_t pos = 0;
  while (pos <= dir.size()) {
    size_t next = dir.find('/', pos);
    if (next == std::string::npos) next = dir.size();
    prefix = dir.substr(0, next);
    pos = next + 1;
    if (prefix.empty() || prefix == "." || prefix == "..") continue;
    if (::mkdir(prefix.c_str(), 0700) == 0) continue;
    int err = errno;
    struct stat st {};
    if (err == EEXIST && ::stat(prefix.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
    std::string why = err == EEXIST ? "exists and is not a directory" : std::strerror(err);
    Status (*make)(std::string) = err == EACCES || err == EPERM || err == EROFS
                                      ? &Status::PermissionDenied
                                      : &Status::Unavailable;
    return make("state directory " + prefix + ": " + why);
  }
  return Status::Ok();
}

// Creates the state file readable by its owner only before SQLite opens it; SQLite gives
// its -wal and -shm files the same mode.
Status CreatePrivateFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ::close(fd);
    return Status::Ok();
  }
  int err = errno;
  if (err == EEXIST) return Status::Ok();
  if (err == EACCES || err == EPERM || err == EROFS) {
    return Status::PermissionDenied("state file " + path + ": " + std::strerror(err));
  }
  return Status::Unavailable("state file " + path + ": " + std::strerror(err));
}

// What RecordObservations compares: one digest over hash, token and body (the first two
// never hold a NUL).
std::string ObservationDigest(const Observation& o) {
  std::string text;
  text.reserve(o.hash.size() + o.token.size() + o.body.size() + 2);
  text.append(o.hash).push_back('\0');
  text.append(o.token).push_back('\0');
  text.append(o.body);
  return Sha256Hex(text);
}

std::string ParentDir(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

class SqliteStore final : public StateStore {
 public:
  SqliteStore(std::unique_ptr<Connection> conn, bool memory, Clock clock, int64_t schema,
              std::optional<Retention> retention)
      : conn_(std::move(conn)),
        memory_(memory),
        clock_(std::move(clock)),
        schema_(schema),
        retention_(std::move(retention)) {}

  Result<int64_t> BeginRun(const std::string& kind, const std::string& trigger,
                           const std::string& commit, const RunOrigin& origin) override {
    if (trigger.empty()) return Invalid("BeginRun", "empty trigger");
    int64_t id = 0;
    RunOwner owner = internal::CurrentProcess();
    Status st = Write("BeginRun", Sync::kNormal, [&]() -> Status {
      ASSIGN_OR_RETURN(
          Statement s,
          conn_->Prepare("INSERT INTO runs (kind, \"trigger\", \"commit\", who, "
                         "started_at, owner_pid, owner_boot, owner_start, ci, ci_url, "
                         "ci_commit) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                         "BeginRun"));
      s.BindText(1, kind)
          .BindText(2, trigger)
          .BindText(3, commit)
          .BindText(4, origin.who)
          .BindText(5, Now());
      s.BindInt(6, owner.pid).BindTextOrNull(7, owner.boot).BindInt(8, owner.start);
      s.BindText(9, origin.ci).BindText(10, origin.ci_url).BindText(11, origin.ci_commit);
      RETURN_IF_ERROR(s.Run());
      id = sqlite3_last_insert_rowid(conn_->raw());
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return id;
  }

  Status FinishRun(int64_t run_id, const std::string& outcome,
                   const std::string& summary_json) override {
    if (outcome.empty()) return Invalid("FinishRun", "empty outcome");
    Status st = Write("FinishRun", Sync::kNormal, [&]() -> Status {
      ASSIGN_OR_RETURN(Statement q,
                       conn_->Prepare("SELECT outcome FROM runs WHERE id = ?1", "FinishRun"));
      q.BindInt(1, run_id);
      ASSIGN_OR_RETURN(bool found, q.Step());
      if (!found) return Status::NotFound(Where("FinishRun") + "no run " + std::to_string(run_id));
      if (!q.Text(0).empty()) {
        return Status::Conflict(Where("FinishRun") + "run " + std::to_string(run_id) +
                                " already finished (" + q.Text(0) + ")");
      }
      ASSIGN_OR_RETURN(
          Statement s,
          conn_->Prepare(
              "UPDATE runs SET finished_at = ?2, outcome = ?3, summary = ?4 WHERE id = ?1",
              "FinishRun"));
      s.BindInt(1, run_id).BindText(2, Now()).BindText(3, outcome).BindText(4, summary_json);
      return s.Run();
    });
    if (st.ok() && retention_) (void)Prune(*retention_);
    return st;
  }

  Status Prune(const Retention& retention) override {
    for (int keep :
         {retention.applies, retention.plans, retention.drift_checks, retention.observation_runs}) {
      if (keep < 1) return Invalid("Prune", "every retention count must be at least 1");
    }
    if (retention.max_age.count() < 1 || retention.observation_max_age.count() < 1)
      return Invalid("Prune", "every retention age must be positive");
    Status st = Write("Prune", Sync::kNormal, [&]() -> Status {
      const std::pair<const char*, int> kinds[] = {{"apply", retention.applies},
                                                   {"plan", retention.plans},
                                                   {"drift", retention.drift_checks}};
      for (const auto& [kind, keep] : kinds) {
        ASSIGN_OR_RETURN(Statement count,
                         conn_->Prepare("SELECT count(*) FROM runs WHERE kind = ?1", "Prune"));
        count.BindText(1, kind);
        ASSIGN_OR_RETURN(bool row, count.Step());
        int64_t excess = row ? count.Int(0) - keep : 0;
        if (excess <= 0) continue;
        // Runs that changed nothing first, then the oldest; never a run still open or one
        // whose journal the next apply has yet to settle.
        std::vector<int64_t> doomed;
        {
          ASSIGN_OR_RETURN(
              Statement q,
              conn_->Prepare(
                  "SELECT id FROM runs r WHERE kind = ?1 AND finished_at IS NOT NULL "
                  "AND NOT EXISTS (SELECT 1 FROM journal j WHERE j.run_id = r.id AND j.state = "
                  "'started') "
                  "ORDER BY CASE "
                  "  WHEN kind IN ('plan', 'drift') AND outcome = 'ok' THEN 0 "
                  "  WHEN kind = 'apply' AND outcome = 'not-confirmed' THEN 0 "
                  "  WHEN kind = 'apply' AND outcome = 'ok' AND json_valid(summary) AND "
                  "       (coalesce(json_extract(summary, '$.dry_run'), 0) = 1 OR "
                  "        (coalesce(json_extract(summary, '$.applied'), 0) = 0 AND "
                  "         coalesce(json_extract(summary, '$.recovered'), 0) = 0)) THEN 0 "
                  "  ELSE 1 END, id "
                  "LIMIT ?2",
                  "Prune"));
          q.BindText(1, kind).BindInt(2, excess);
          while (true) {
            ASSIGN_OR_RETURN(bool more, q.Step());
            if (!more) break;
            doomed.push_back(q.Int(0));
          }
        }
        for (int64_t id : doomed) RETURN_IF_ERROR(DeleteRun(id));
      }
      // Age: runs of any kind older than max_age, except the newest of each kind, and
      // resolved drift records resolved before then.
      const std::string run_cutoff = FormatTimestamp(clock_() - retention.max_age);
      {
        std::vector<int64_t> old;
        {
          ASSIGN_OR_RETURN(
              Statement q,
              conn_->Prepare(
                  "SELECT id FROM runs r WHERE started_at < ?1 AND finished_at IS NOT NULL "
                  "AND NOT EXISTS (SELECT 1 FROM journal j WHERE j.run_id = r.id AND j.state = "
                  "'started') "
                  "AND id NOT IN (SELECT max(id) FROM runs GROUP BY kind) ORDER BY id",
                  "Prune"));
          q.BindText(1, run_cutoff);
          while (true) {
            ASSIGN_OR_RETURN(bool more, q.Step());
            if (!more) break;
            old.push_back(q.Int(0));
          }
        }
        for (int64_t id : old) RETURN_IF_ERROR(DeleteRun(id));
        ASSIGN_OR_RETURN(Statement d, conn_->Prepare("DELETE FROM drift WHERE resolved_at IS NOT "
                                                     "NULL AND resolved_at < ?1",
                                                     "Prune"));
        d.BindText(1, run_cutoff);
        RETURN_IF_ERROR(d.Run());
      }
      // Observations: the history (rows superseded or not) of the newest `observation_runs`
      // runs that recorded any, none too old. The heads stay, except those of resources gone
      // for longer than observation_max_age or than `observation_runs` plans and drift checks.
      std::string cutoff = FormatTimestamp(clock_() - retention.observation_max_age);
      {
        int64_t threshold = 0;  // the oldest of the newest `observation_runs` observing runs
        {
          ASSIGN_OR_RETURN(Statement t,
                           conn_->Prepare("SELECT id FROM runs WHERE kind IN ('plan', 'drift') "
                                          "ORDER BY id DESC LIMIT 1 OFFSET ?1",
                                          "Prune"));
          t.BindInt(1, retention.observation_runs - 1);
          ASSIGN_OR_RETURN(bool row, t.Step());
          if (row) threshold = t.Int(0);
        }
        ASSIGN_OR_RETURN(Statement d,
                         conn_->Prepare("DELETE FROM observation_heads WHERE gone_run IS NOT NULL "
                                        "AND (gone_at < ?1 OR gone_run < ?2)",
                                        "Prune"));
        d.BindText(1, cutoff).BindInt(2, threshold);
        RETURN_IF_ERROR(d.Run());
      }
      std::vector<int64_t> stale;
      {
        ASSIGN_OR_RETURN(
            Statement q,
            conn_->Prepare("SELECT o.run_id, r.started_at FROM "
                           "(SELECT DISTINCT run_id FROM observations) o "
                           "LEFT JOIN runs r ON r.id = o.run_id ORDER BY o.run_id DESC",
                           "Prune"));
        int n = 0;
        while (true) {
          ASSIGN_OR_RETURN(bool more, q.Step());
          if (!more) break;
          if (++n > retention.observation_runs || q.Text(1) < cutoff) stale.push_back(q.Int(0));
        }
      }
      for (int64_t id : stale) {
        ASSIGN_OR_RETURN(Statement d,
                         conn_->Prepare("DELETE FROM observations WHERE run_id = ?1", "Prune"));
        d.BindInt(1, id);
        RETURN_IF_ERROR(d.Run());
      }
      return Status::Ok();
    });
    if (!st.ok() || memory_) return st;
    // Freed pages go back to the file system (files created with incremental auto-vacuum).
    std::lock_guard<std::mutex> lock(mu_);
    return conn_->Run("PRAGMA incremental_vacuum", "Prune");
  }

  Status MarkInterruptedRuns() override {
    return Write("MarkInterruptedRuns", Sync::kNormal, [&]() -> Status {
      std::vector<int64_t> gone;
      {
        ASSIGN_OR_RETURN(
            Statement q,
            conn_->Prepare(
                "SELECT id, owner_pid, owner_boot, owner_start FROM runs WHERE finished_at IS NULL",
                "MarkInterruptedRuns"));
        while (true) {
          ASSIGN_OR_RETURN(bool row, q.Step());
          if (!row) break;
          RunOwner owner{q.Int(1), q.Text(2), q.Int(3)};
          if (!internal::OwnerAlive(owner)) gone.push_back(q.Int(0));
        }
      }
      std::string now = Now();
      for (int64_t id : gone) {
        ASSIGN_OR_RETURN(Statement s,
                         conn_->Prepare("UPDATE runs SET finished_at = ?2, outcome = 'interrupted' "
                                        "WHERE id = ?1 AND finished_at IS NULL",
                                        "MarkInterruptedRuns"));
        s.BindInt(1, id).BindText(2, now);
        RETURN_IF_ERROR(s.Run());
      }
      return Status::Ok();
    });
  }

  Result<std::vector<Run>> RecentRuns(int limit) override {
    if (limit <= 0) return Invalid("RecentRuns", "limit must be positive");
    std::vector<Run> runs;
    // A file of schema 1 (read-only, not migrated) has no origin columns.
    const char* sql =
        schema_ >= 2
            ? "SELECT id, kind, \"trigger\", \"commit\", who, started_at, finished_at, "
              "outcome, summary, owner_pid, owner_boot, owner_start, ci, ci_url, ci_commit "
              "FROM runs ORDER BY id DESC LIMIT ?1"
            : "SELECT id, kind, \"trigger\", \"commit\", who, started_at, finished_at, "
              "outcome, summary, owner_pid, owner_boot, owner_start, '', '', '' "
              "FROM runs ORDER BY id DESC LIMIT ?1";
    Status st = Read("RecentRuns", [&]() -> Status {
      ASSIGN_OR_RETURN(Statement q, conn_->Prepare(sql, "RecentRuns"));
      q.BindInt(1, limit);
      while (true) {
        ASSIGN_OR_RETURN(bool row, q.Step());
        if (!row) return Status::Ok();
        Run r{q.Int(0),  q.Text(1), q.Text(2), q.Text(3), q.Text(4),
              q.Text(5), q.Text(6), q.Text(7), q.Text(8)};
        r.ci = q.Text(12);
        r.ci_url = q.Text(13);
        r.ci_commit = q.Text(14);
        // A run whose process is gone will never finish: shown as interrupted, unwritten.
        if (q.IsNull(6) && !internal::OwnerAlive(RunOwner{q.Int(9), q.Text(10), q.Int(11)})) {
          r.outcome = "interrupted";
        }
        runs.push_back(std::move(r));
      }
    });
    if (!st.ok()) return st;
    return runs;
  }

  // Only what changed is written: each observation is compared (by its digest) with its
  // resource's head; a different one goes to the history (observations) and becomes the
  // head, an equal one writes nothing. Heads this run did not see are marked gone, and one
  // seen again is unmarked. A converged plan thus writes no observation at all.
  Status RecordObservations(int64_t run_id, const std::vector<Observation>& observations) override {
    for (const Observation& o : observations) {
      if (o.resource.empty()) return Invalid("RecordObservations", "empty resource key");
    }
    std::vector<std::string> digests;
    digests.reserve(observations.size());
    for (const Observation& o : observations) digests.push_back(ObservationDigest(o));
    return Write("RecordObservations", Sync::kNormal, [&]() -> Status {
      RETURN_IF_ERROR(RequireRun(run_id, "RecordObservations"));
      struct Head {
        std::string digest;
        bool gone = false;
        bool seen = false;
      };
      std::unordered_map<std::string, Head> heads;
      {
        ASSIGN_OR_RETURN(Statement q, conn_->Prepare("SELECT resource, digest, gone_run IS NOT "
                                                     "NULL FROM observation_heads",
                                                     "RecordObservations"));
        while (true) {
          ASSIGN_OR_RETURN(bool row, q.Step());
          if (!row) break;
          heads.emplace(q.Text(0), Head{q.Text(1), q.Int(2) != 0, false});
        }
      }
      std::string now = Now();
      for (size_t i = 0; i < observations.size(); ++i) {
        const Observation& o = observations[i];
        Head& h = heads[o.resource];
        h.seen = true;
        if (h.digest == digests[i]) {
          if (h.gone) {
            ASSIGN_OR_RETURN(Statement back,
                             conn_->Prepare("UPDATE observation_heads SET gone_run = NULL, "
                                            "gone_at = NULL WHERE resource = ?1",
                                            "RecordObservations"));
            back.BindText(1, o.resource);
            RETURN_IF_ERROR(back.Run());
            h.gone = false;
          }
          continue;
        }
        {
          ASSIGN_OR_RETURN(
              Statement insert,
              conn_->Prepare("INSERT INTO observations (run_id, resource, hash, token, body, "
                             "seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                             "RecordObservations"));
          insert.BindInt(1, run_id)
              .BindText(2, o.resource)
              .BindText(3, o.hash)
              .BindText(4, o.token)
              .BindText(5, o.body);
          insert.BindText(6, now);
          RETURN_IF_ERROR(insert.Run());
        }
        ASSIGN_OR_RETURN(
            Statement head,
            conn_->Prepare(
                "INSERT INTO observation_heads (resource, digest, hash, token, body, run_id, "
                "seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                "ON CONFLICT (resource) DO UPDATE SET digest = excluded.digest, hash = "
                "excluded.hash, token = excluded.token, body = excluded.body, run_id = "
                "excluded.run_id, seen_at = excluded.seen_at, gone_run = NULL, gone_at = NULL",
                "RecordObservations"));
        head.BindText(1, o.resource)
            .BindText(2, digests[i])
            .BindText(3, o.hash)
            .BindText(4, o.token)
            .BindText(5, o.body);
        head.BindInt(6, run_id).BindText(7, now);
        RETURN_IF_ERROR(head.Run());
        h.digest = digests[i];
        h.gone = false;
      }
      // What this run did not see is gone (kept, marked, until retention prunes it). An
      // empty call says nothing about what exists.
      if (observations.empty()) return Status::Ok();
      for (const auto& [resource, h] : heads) {
        if (h.seen || h.gone) continue;
        ASSIGN_OR_RETURN(Statement gone,
                         conn_->Prepare("UPDATE observation_heads SET gone_run = ?2, gone_at = ?3 "
                                        "WHERE resource = ?1 AND gone_run IS NULL",
                                        "RecordObservations"));
        gone.BindText(1, resource).BindInt(2, run_id).BindText(3, now);
        RETURN_IF_ERROR(gone.Run());
      }
      return Status::Ok();
    });
  }

  // The heads: every resource's newest observation, whether the last run saw it or not
  // (until retention prunes a gone one). A read-only file older than schema 4 has no heads:
  // there, a loose index scan over observations (resource, id).
  Result<std::map<ResourceKey, Observation>> LatestObservations(
      const std::string& resource_prefix) override {
    std::map<ResourceKey, Observation> out;
    const char* sql =
        schema_ >= 4
            ? "SELECT resource, hash, token, body FROM observation_heads WHERE resource >= ?1 "
              "ORDER BY resource"
            : "WITH RECURSIVE r(resource) AS ("
              "  SELECT (SELECT MIN(resource) FROM observations WHERE resource >= ?1)"
              "  UNION ALL"
              "  SELECT (SELECT MIN(resource) FROM observations WHERE resource > r.resource) "
              "FROM r WHERE r.resource IS NOT NULL) "
              "SELECT o.resource, o.hash, o.token, o.body FROM r "
              "JOIN observations o ON o.id = (SELECT MAX(id) FROM observations WHERE "
              "resource = r.resource) WHERE r.resource IS NOT NULL";
    Status st = Read("LatestObservations", [&]() -> Status {
      ASSIGN_OR_RETURN(Statement q, conn_->Prepare(sql, "LatestObservations"));
      q.BindText(1, resource_prefix);
      while (true) {
        ASSIGN_OR_RETURN(bool row, q.Step());
        if (!row) return Status::Ok();
        if (q.Text(0).compare(0, resource_prefix.size(), resource_prefix) != 0) {
          // In key order (the primary key's index) the first key past the prefix ends the
          // range; the schema-3 query is filtered row by row.
          if (schema_ >= 4) return Status::Ok();
          continue;
        }
        Observation o{q.Text(0), q.Text(1), q.Text(2), q.Text(3)};
        out.emplace(o.resource, std::move(o));
      }
    });
    if (!st.ok()) return st;
    return out;
  }

  Result<std::map<ResourceKey, Applied>> LastApplied() override {
    std::map<ResourceKey, Applied> out;
    Status st = Read("LastApplied", [&]() -> Status {
      ASSIGN_OR_RETURN(Statement q,
                       conn_->Prepare("SELECT resource, body, digest, \"commit\", applied_at, "
                                      "applied_by, run_id, deleted FROM applied",
                                      "LastApplied"));
      while (true) {
        ASSIGN_OR_RETURN(bool row, q.Step());
        if (!row) return Status::Ok();
        Applied a{q.Text(0), q.Text(1), q.Text(2), q.Text(3),
                  q.Text(4), q.Text(5), q.Int(6),  q.Int(7) != 0};
        out.emplace(a.resource, std::move(a));
      }
    });
    if (!st.ok()) return st;
    return out;
  }

  Status SetApplied(const std::vector<Applied>& records) override {
    for (const Applied& a : records) {
      if (a.resource.empty()) return Invalid("SetApplied", "empty resource key");
    }
    return Write("SetApplied", Sync::kFull, [&]() -> Status {
      std::string now = Now();
      for (const Applied& a : records) {
        ASSIGN_OR_RETURN(
            Statement s,
            conn_->Prepare("INSERT INTO applied (resource, body, digest, \"commit\", applied_at, "
                           "applied_by, run_id, deleted) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                           "ON CONFLICT (resource) DO UPDATE SET body = excluded.body, digest = "
                           "excluded.digest, "
                           "\"commit\" = excluded.\"commit\", applied_at = excluded.applied_at, "
                           "applied_by = excluded.applied_by, run_id = excluded.run_id, deleted = "
                           "excluded.deleted",
                           "SetApplied"));
        s.BindText(1, a.resource).BindText(2, a.body).BindText(3, a.digest).BindText(4, a.commit);
        s.BindText(5, a.applied_at.empty() ? now : a.applied_at).BindText(6, a.applied_by);
        s.BindIdOrNull(7, a.run_id).BindInt(8, a.deleted ? 1 : 0);
        RETURN_IF_ERROR(s.Run());
      }
      return Status::Ok();
    });
  }

  Result<int64_t> SavePlan(int64_t run_id, const std::string& plan_json,
                           const std::string& digest) override {
    if (digest.empty()) return Invalid("SavePlan", "empty digest");
    int64_t id = 0;
    Status st = Write("SavePlan", Sync::kNormal, [&]() -> Status {
      RETURN_IF_ERROR(RequireRun(run_id, "SavePlan"));
      ASSIGN_OR_RETURN(
          Statement q,
          conn_->Prepare("SELECT id, plan_json FROM plans WHERE digest = ?1", "SavePlan"));
      q.BindText(1, digest);
      ASSIGN_OR_RETURN(bool found, q.Step());
      if (found) {  // the same plan saved again: idempotent
        if (q.Text(1) != plan_json) {
          return Status::AlreadyExists(Where("SavePlan") + "a different plan with digest " +
                                       digest + " is already saved");
        }
        id = q.Int(0);
        return Status::Ok();
      }
      ASSIGN_OR_RETURN(
          Statement s,
          conn_->Prepare(
              "INSERT INTO plans (run_id, digest, plan_json, created_at) VALUES (?1, ?2, ?3, ?4)",
              "SavePlan"));
      // plan_json outlives the statement (it is the caller's).
      s.BindInt(1, run_id).BindText(2, digest).BindTextNoCopy(3, plan_json).BindText(4, Now());
      RETURN_IF_ERROR(s.Run());
      id = sqlite3_last_insert_rowid(conn_->raw());
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return id;
  }

  Status MarkPlanApplied(const std::string& digest, int64_t apply_run_id) override {
    return Write("MarkPlanApplied", Sync::kFull, [&]() -> Status {
      ASSIGN_OR_RETURN(
          Statement q,
          conn_->Prepare("SELECT applied_run_id, applied_at FROM plans WHERE digest = ?1",
                         "MarkPlanApplied"));
      q.BindText(1, digest);
      ASSIGN_OR_RETURN(bool found, q.Step());
      if (!found)
        return Status::NotFound(Where("MarkPlanApplied") + "no saved plan with digest " + digest);
      if (!q.IsNull(0)) {
        return Status::Conflict(Where("MarkPlanApplied") + "plan " + digest +
                                " was already applied by run " + std::to_string(q.Int(0)) + " at " +
                                q.Text(1));
      }
      RETURN_IF_ERROR(RequireRun(apply_run_id, "MarkPlanApplied"));
      ASSIGN_OR_RETURN(Statement s,
                       conn_->Prepare("UPDATE plans SET applied_run_id = ?2, applied_at = ?3 WHERE "
                                      "digest = ?1 AND applied_run_id IS NULL",
                                      "MarkPlanApplied"));
      s.BindText(1, digest).BindInt(2, apply_run_id).BindText(3, Now());
      return s.Run();
    });
  }

  Result<std::optional<std::string>> PlanApplied(const std::string& digest) override {
    std::optional<std::string> applied;
    Status st = Read("PlanApplied", [&]() -> Status {
      ASSIGN_OR_RETURN(
          Statement q,
          conn_->Prepare("SELECT applied_run_id, applied_at FROM plans WHERE digest = ?1",
                         "PlanApplied"));
      q.BindText(1, digest);
      ASSIGN_OR_RETURN(bool found, q.Step());
      if (found && !q.IsNull(0)) applied = "run " + std::to_string(q.Int(0)) + " at " + q.Text(1);
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return applied;
  }

  Result<int64_t> JournalStart(const JournalEntry& entry) override {
    std::string state = entry.state.empty() ? "started" : entry.state;
    int64_t id = 0;
    Status st = Write("JournalStart", Sync::kFull, [&]() -> Status {
      RETURN_IF_ERROR(RequireRun(entry.run_id, "JournalStart"));
      std::string now = Now();
      std::string started = entry.started_at.empty() ? now : entry.started_at;
      // An entry recorded already final ("skipped") is finished when recorded.
      std::string finished =
          state == "started" ? "" : (entry.finished_at.empty() ? now : entry.finished_at);
      ASSIGN_OR_RETURN(Statement s,
                       conn_->Prepare("INSERT INTO journal (run_id, action_id, resource, kind, "
                                      "state, detail, started_at, finished_at) "
                                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                                      "JournalStart"));
      s.BindInt(1, entry.run_id)
          .BindText(2, entry.action_id)
          .BindText(3, entry.resource)
          .BindText(4, entry.kind);
      s.BindText(5, state)
          .BindText(6, entry.detail)
          .BindText(7, started)
          .BindTextOrNull(8, finished);
      RETURN_IF_ERROR(s.Run());
      id = sqlite3_last_insert_rowid(conn_->raw());
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return id;
  }

  Status JournalFinish(int64_t entry_id, const std::string& state,
                       const std::string& detail_json) override {
    if (state.empty() || state == "started") {
      return Invalid("JournalFinish",
                     "state must be succeeded, failed or skipped, not '" + state + "'");
    }
    return Write("JournalFinish", Sync::kFull, [&]() -> Status {
      ASSIGN_OR_RETURN(Statement q,
                       conn_->Prepare("SELECT state FROM journal WHERE id = ?1", "JournalFinish"));
      q.BindInt(1, entry_id);
      ASSIGN_OR_RETURN(bool found, q.Step());
      if (!found)
        return Status::NotFound(Where("JournalFinish") + "no journal entry " +
                                std::to_string(entry_id));
      if (q.Text(0) != "started") {
        return Status::Conflict(Where("JournalFinish") + "journal entry " +
                                std::to_string(entry_id) + " already finished (" + q.Text(0) + ")");
      }
      // An empty detail keeps the one given at start.
      ASSIGN_OR_RETURN(Statement s,
                       conn_->Prepare("UPDATE journal SET state = ?2, detail = CASE WHEN ?3 = '' "
                                      "THEN detail ELSE ?3 END, finished_at = ?4 "
                                      "WHERE id = ?1",
                                      "JournalFinish"));
      s.BindInt(1, entry_id).BindText(2, state).BindText(3, detail_json).BindText(4, Now());
      return s.Run();
    });
  }

  Result<std::vector<JournalEntry>> Journal(int64_t run_id) override {
    return ReadJournal("Journal", "WHERE j.run_id = ?1", run_id);
  }

  Result<std::vector<JournalEntry>> UnfinishedJournal() override {
    return ReadJournal("UnfinishedJournal",
                       "WHERE j.state = 'started' AND r.outcome = 'interrupted'", 0);
  }

  // One pass over the journal from the newest entry back, stopping once every resource has
  // its entry (at worst the whole journal, which retention keeps bounded).
  Result<std::map<ResourceKey, JournalEntry>> LatestFinishedJournal(
      const std::vector<ResourceKey>& resources) override {
    std::map<ResourceKey, JournalEntry> out;
    if (resources.empty()) return out;
    std::set<ResourceKey> wanted(resources.begin(), resources.end());
    Status st = Read("LatestFinishedJournal", [&]() -> Status {
      ASSIGN_OR_RETURN(
          Statement q,
          conn_->Prepare("SELECT id, run_id, action_id, resource, kind, state, detail, started_at, "
                         "finished_at FROM journal WHERE state IN ('succeeded', 'failed') "
                         "ORDER BY id DESC",
                         "LatestFinishedJournal"));
      while (out.size() < wanted.size()) {
        ASSIGN_OR_RETURN(bool row, q.Step());
        if (!row) break;
        std::string resource = q.Text(3);
        if (!wanted.count(resource) || out.count(resource)) continue;
        out[resource] = JournalEntry{q.Int(0),  q.Int(1),  q.Text(2), resource, q.Text(4),
                                     q.Text(5), q.Text(6), q.Text(7), q.Text(8)};
      }
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return out;
  }

  // Journal rows matching `where` (which may use ?1 = `arg`), in the order they were written.
  Result<std::vector<JournalEntry>> ReadJournal(const char* what, const std::string& where,
                                                int64_t arg) {
    std::vector<JournalEntry> out;
    Status st = Read(what, [&]() -> Status {
      ASSIGN_OR_RETURN(
          Statement q,
          conn_->Prepare(
              "SELECT j.id, j.run_id, j.action_id, j.resource, j.kind, j.state, j.detail, "
              "j.started_at, j.finished_at FROM journal j JOIN runs r ON r.id = j.run_id " +
                  where + " ORDER BY j.id",
              what));
      if (where.find("?1") != std::string::npos) q.BindInt(1, arg);
      while (true) {
        ASSIGN_OR_RETURN(bool row, q.Step());
        if (!row) return Status::Ok();
        out.push_back(JournalEntry{q.Int(0), q.Int(1), q.Text(2), q.Text(3), q.Text(4), q.Text(5),
                                   q.Text(6), q.Text(7), q.Text(8)});
      }
    });
    if (!st.ok()) return st;
    return out;
  }

  Status UpsertDrift(const ResourceKey& resource, const std::string& fields_json,
                     const std::string& seen_at) override {
    if (resource.empty()) return Invalid("UpsertDrift", "empty resource key");
    return Write("UpsertDrift", Sync::kNormal, [&]() -> Status {
      ASSIGN_OR_RETURN(
          Statement s,
          conn_->Prepare(
              "INSERT INTO drift (resource, fields, first_seen, last_seen) VALUES (?1, ?2, ?3, ?3) "
              "ON CONFLICT (resource) WHERE resolved_at IS NULL DO UPDATE SET fields = "
              "excluded.fields, "
              "last_seen = max(drift.last_seen, excluded.last_seen)",
              "UpsertDrift"));
      s.BindText(1, resource)
          .BindText(2, fields_json)
          .BindText(3, seen_at.empty() ? Now() : seen_at);
      return s.Run();
    });
  }

  Status ResolveDrift(const ResourceKey& resource, const std::string& resolution) override {
    if (resolution.empty()) return Invalid("ResolveDrift", "empty resolution");
    return Write("ResolveDrift", Sync::kNormal, [&]() -> Status {
      ASSIGN_OR_RETURN(Statement s,
                       conn_->Prepare("UPDATE drift SET resolution = ?2, resolved_at = ?3 WHERE "
                                      "resource = ?1 AND resolved_at IS NULL",
                                      "ResolveDrift"));
      s.BindText(1, resource).BindText(2, resolution).BindText(3, Now());
      RETURN_IF_ERROR(s.Run());
      if (sqlite3_changes(conn_->raw()) == 0) {
        return Status::NotFound(Where("ResolveDrift") + "no open drift for " + resource);
      }
      return Status::Ok();
    });
  }

  Result<std::vector<Drift>> OpenDrift() override {
    std::vector<Drift> out;
    Status st = Read("OpenDrift", [&]() -> Status {
      ASSIGN_OR_RETURN(
          Statement q,
          conn_->Prepare("SELECT resource, fields, first_seen, last_seen, resolution FROM drift "
                         "WHERE resolved_at IS NULL ORDER BY resource",
                         "OpenDrift"));
      while (true) {
        ASSIGN_OR_RETURN(bool row, q.Step());
        if (!row) return Status::Ok();
        out.push_back(Drift{q.Text(0), q.Text(1), q.Text(2), q.Text(3), q.Text(4)});
      }
    });
    if (!st.ok()) return st;
    return out;
  }

  Result<bool> AcquireLease(const std::string& name, const std::string& holder,
                            int ttl_seconds) override {
    if (name.empty() || holder.empty())
      return Invalid("AcquireLease", "empty lease name or holder");
    if (ttl_seconds <= 0) return Invalid("AcquireLease", "ttl must be positive");
    bool acquired = false;
    Status st = Write("AcquireLease", Sync::kNormal, [&]() -> Status {
      auto now = clock_();
      // Free, expired, or ours (a renewal keeps acquired_at): take it; else nothing changes.
      ASSIGN_OR_RETURN(
          Statement s,
          conn_->Prepare(
              "INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES (?1, ?2, ?3, ?4) "
              "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
              "acquired_at = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > ?3 "
              "THEN leases.acquired_at ELSE excluded.acquired_at END, expires_at = "
              "excluded.expires_at "
              "WHERE leases.holder = excluded.holder OR leases.expires_at <= ?3",
              "AcquireLease"));
      s.BindText(1, name).BindText(2, holder).BindText(3, FormatTimestamp(now));
      s.BindText(4, FormatTimestamp(now + std::chrono::seconds(ttl_seconds)));
      RETURN_IF_ERROR(s.Run());
      acquired = sqlite3_changes(conn_->raw()) == 1;
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return acquired;
  }

  Status ReleaseLease(const std::string& name, const std::string& holder) override {
    return Write("ReleaseLease", Sync::kNormal, [&]() -> Status {
      ASSIGN_OR_RETURN(Statement q,
                       conn_->Prepare("SELECT holder, expires_at > ?2 FROM leases WHERE name = ?1",
                                      "ReleaseLease"));
      q.BindText(1, name).BindText(2, Now());
      ASSIGN_OR_RETURN(bool found, q.Step());
      if (!found) return Status::Ok();  // already free
      if (q.Text(0) != holder) {
        if (q.Int(1) == 0) return Status::Ok();  // someone else's, expired: free anyway
        return Status::Conflict(Where("ReleaseLease") + "lease " + name + " is held by " +
                                q.Text(0) + ", not " + holder);
      }
      ASSIGN_OR_RETURN(
          Statement s,
          conn_->Prepare("DELETE FROM leases WHERE name = ?1 AND holder = ?2", "ReleaseLease"));
      s.BindText(1, name).BindText(2, holder);
      return s.Run();
    });
  }

  Result<std::optional<std::string>> LeaseHolder(const std::string& name) override {
    std::optional<std::string> holder;
    Status st = Read("LeaseHolder", [&]() -> Status {
      ASSIGN_OR_RETURN(
          Statement q,
          conn_->Prepare("SELECT holder FROM leases WHERE name = ?1 AND expires_at > ?2",
                         "LeaseHolder"));
      q.BindText(1, name).BindText(2, Now());
      ASSIGN_OR_RETURN(bool found, q.Step());
      if (found) holder = q.Text(0);
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return holder;
  }

  Result<std::string> IntegrityCheck() override {
    std::string report;
    Status st = Read("IntegrityCheck", [&]() -> Status {
      {
        ASSIGN_OR_RETURN(Statement q, conn_->Prepare("PRAGMA integrity_check", "IntegrityCheck"));
        while (true) {
          ASSIGN_OR_RETURN(bool row, q.Step());
          if (!row) break;
          if (!report.empty()) report += "\n";
          report += q.Text(0);
        }
      }
      if (report != "ok") return Status::Ok();
      ASSIGN_OR_RETURN(Statement fk, conn_->Prepare("PRAGMA foreign_key_check", "IntegrityCheck"));
      std::string violations;
      while (true) {
        ASSIGN_OR_RETURN(bool row, fk.Step());
        if (!row) break;
        violations += (violations.empty() ? "" : "\n") + std::string("foreign key: ") + fk.Text(0) +
                      " row " + std::to_string(fk.Int(1)) + " refers to a missing " + fk.Text(2) +
                      " row";
      }
      if (!violations.empty()) report = violations;
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return report;
  }

  Result<int> SchemaVersion() override {
    int version = 0;
    Status st = Read("SchemaVersion", [&]() -> Status {
      ASSIGN_OR_RETURN(Statement q, conn_->Prepare("PRAGMA user_version", "SchemaVersion"));
      ASSIGN_OR_RETURN(bool row, q.Step());
      if (row) version = static_cast<int>(q.Int(0));
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return version;
  }

 private:
  std::string Now() const { return FormatTimestamp(clock_()); }
  std::string Where(std::string_view what) const {
    return "state store " + conn_->path() + ": " + std::string(what) + ": ";
  }
  Status Invalid(std::string_view what, const std::string& why) const {
    return Status::InvalidArgument(Where(what) + why);
  }

  // REQUIRES: inside a transaction.
  Status RequireRun(int64_t run_id, std::string_view what) {
    ASSIGN_OR_RETURN(Statement q, conn_->Prepare("SELECT 1 FROM runs WHERE id = ?1", "run lookup"));
    q.BindInt(1, run_id);
    ASSIGN_OR_RETURN(bool found, q.Step());
    if (!found) return Status::NotFound(Where(what) + "no run " + std::to_string(run_id));
    return Status::Ok();
  }

  // Deletes a run and what hangs off it. A saved plan it made that a kept apply run applied
  // moves to that run, so "the plan was already applied" outlives the plan run.
  // REQUIRES: inside a write transaction.
  Status DeleteRun(int64_t id) {
    static constexpr const char* kStatements[] = {
        "DELETE FROM observations WHERE run_id = ?1",
        "DELETE FROM journal WHERE run_id = ?1",
        "UPDATE plans SET run_id = applied_run_id WHERE run_id = ?1 AND applied_run_id IS NOT NULL "
        "AND applied_run_id <> ?1",
        "DELETE FROM plans WHERE run_id = ?1 OR applied_run_id = ?1",
        "DELETE FROM runs WHERE id = ?1",
    };
    for (const char* sql : kStatements) {
      ASSIGN_OR_RETURN(Statement s, conn_->Prepare(sql, "Prune"));
      s.BindInt(1, id);
      RETURN_IF_ERROR(s.Run());
    }
    return Status::Ok();
  }

  // Runs `body` in one write transaction (BEGIN IMMEDIATE: the write lock is taken up front,
  // waiting up to the busy timeout), committing when it returns OK and rolling back else.
  template <typename F>
  Status Write(std::string_view what, Sync sync, F&& body) {
    std::lock_guard<std::mutex> lock(mu_);
    bool full = sync == Sync::kFull && !memory_;
    if (full) RETURN_IF_ERROR(conn_->Run("PRAGMA synchronous = FULL", what));
    Status st = InTransaction("BEGIN IMMEDIATE", what, body);
    if (full) {
      Status back = conn_->Run("PRAGMA synchronous = NORMAL", what);
      if (st.ok()) st = back;
    }
    return st;
  }

  // Runs `body` in one read transaction (a consistent snapshot; never blocks writers in WAL).
  template <typename F>
  Status Read(std::string_view what, F&& body) {
    std::lock_guard<std::mutex> lock(mu_);
    return InTransaction("BEGIN DEFERRED", what, body);
  }

  template <typename F>
  Status InTransaction(std::string_view begin, std::string_view what, F& body) {
    RETURN_IF_ERROR(conn_->Run(begin, what));
    Status st = body();
    if (st.ok()) st = conn_->Run("COMMIT", what);
    if (!st.ok()) conn_->RollbackQuietly();
    return st;
  }

  std::mutex mu_;
  std::unique_ptr<Connection> conn_;  // guarded by mu_
  const bool memory_;
  const Clock clock_;
  const int64_t schema_;  // the file's schema version (older than Migrations() only read-only)
  const std::optional<Retention> retention_;
};

Result<int64_t> PragmaInt(Connection& conn, std::string_view sql) {
  ASSIGN_OR_RETURN(Statement q, conn.Prepare(sql, "open"));
  ASSIGN_OR_RETURN(bool row, q.Step());
  return row ? q.Int(0) : 0;
}

Status TooNew(const std::string& path, int64_t version, size_t known) {
  return Status::Conflict("state file " + path + " has schema version " + std::to_string(version) +
                          ", this galley knows up to " + std::to_string(known) +
                          "; upgrade galley");
}

// Applies the migrations newer than the file, each in its own transaction, re-reading the
// version under the write lock so two processes opening a fresh file migrate it once.
// Foreign keys are off meanwhile (a migration may rebuild a referenced table, SQLite's
// documented procedure) and checked with PRAGMA foreign_key_check before each commit.
Status Migrate(Connection& conn, int64_t version) {
  const std::string& path = conn.path();
  auto migrations = Migrations();
  for (const Migration& m : migrations) {
    if (m.version <= version) continue;
    RETURN_IF_ERROR(conn.Run("BEGIN IMMEDIATE", "migrate"));
    auto fail = [&](const Status& st) {
      conn.RollbackQuietly();
      return st;
    };
    Result<int64_t> current = PragmaInt(conn, "PRAGMA user_version");
    if (!current.ok()) return fail(current.status());
    if (*current > static_cast<int64_t>(migrations.size()))
      return fail(TooNew(path, *current, migrations.size()));
    if (*current >= m.version) {  // another process got there first
      version = *current;
      RETURN_IF_ERROR(conn.Run("COMMIT", "migrate"));
      continue;
    }
    Status st = conn.Exec(m.sql, std::string("migration ") + m.name);
    if (!st.ok()) return fail(st);
    Result<int64_t> fk_violations =
        PragmaInt(conn, "SELECT count(*) FROM pragma_foreign_key_check");
    if (!fk_violations.ok()) return fail(fk_violations.status());
    if (*fk_violations != 0) {
      return fail(Status::Internal("state file " + path + ": migration " + m.name + " leaves " +
                                   std::to_string(*fk_violations) + " foreign key violations"));
    }
    // Integers from this binary, not values from outside: PRAGMAs take no parameters.
    st = conn.Exec("PRAGMA user_version = " + std::to_string(m.version) +
                       "; PRAGMA application_id = " + std::to_string(kApplicationId) + ";",
                   "migrate");
    if (!st.ok()) return fail(st);
    RETURN_IF_ERROR(conn.Run("COMMIT", "migrate"));
    version = m.version;
  }
  return Status::Ok();
}

}  // namespace

// One format for all of galley: base/time_text.h.

Result<std::unique_ptr<StateStore>> OpenSqliteStore(const std::string& path) {
  return OpenSqliteStore(path, StoreOptions{});
}

Result<std::unique_ptr<StateStore>> OpenSqliteStore(const std::string& path,
                                                    const StoreOptions& options) {
  if (path.empty()) return Status::InvalidArgument("state store: empty path");
  const bool memory = path == ":memory:";
  const bool read_only = options.read_only && !memory;
  if (!memory) {
    // Checked before anything opens it: opening a FIFO blocks, /dev/null is not a database.
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      if (!S_ISREG(st.st_mode)) {
        return Status::InvalidArgument("state file " + path + " is not a regular file" +
                                       (S_ISDIR(st.st_mode) ? " (a directory)" : ""));
      }
      if (read_only && st.st_size == 0) {
        return Status::NotFound("state file " + path + " is empty: no runs recorded yet");
      }
    } else if (errno != ENOENT) {
      return Status::PermissionDenied("state file " + path + ": " + std::strerror(errno));
    } else if (read_only) {
      std::string dir = ParentDir(path);
      return Status::NotFound("state file " + path + " does not exist" +
                              (dir.empty() || ::access(dir.c_str(), F_OK) == 0
                                   ? ""
                                   : " (nor does its directory " + dir + ")"));
    }
  }
  if (!memory && !read_only) {
    RETURN_IF_ERROR(MakeDirs(ParentDir(path)));
    RETURN_IF_ERROR(CreatePrivateFile(path));
  }
  using Mode = Connection::Mode;
  ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn,
                   Connection::Open(path, options.busy_timeout_ms,
                                    read_only ? Mode::kReadOnly : Mode::kReadWrite));

  // The first read: fails with "not an SQLite database" for any other file.
  Result<int64_t> first = PragmaInt(*conn, "PRAGMA user_version");
  if (read_only && !first.ok() &&
      (first.status().code() == StatusCode::kPermissionDenied ||
       first.status().code() == StatusCode::kUnavailable)) {
    // A WAL file this user cannot write, without a -shm file it may create (someone else's
    // store): read it as immutable.
    ASSIGN_OR_RETURN(conn, Connection::Open(path, options.busy_timeout_ms, Mode::kImmutable));
    first = PragmaInt(*conn, "PRAGMA user_version");
  }
  if (!first.ok()) return first.status();
  const int64_t version = *first;
  const size_t known = Migrations().size();
  if (version > static_cast<int64_t>(known)) return TooNew(path, version, known);
  ASSIGN_OR_RETURN(int64_t app_id, PragmaInt(*conn, "PRAGMA application_id"));
  if (app_id != 0 && app_id != kApplicationId) {
    return Status::InvalidArgument("state file " + path +
                                   " is an SQLite database of another application");
  }
  if (version == 0) {
    ASSIGN_OR_RETURN(int64_t tables, PragmaInt(*conn, "SELECT count(*) FROM sqlite_master"));
    if (tables != 0) {
      return Status::InvalidArgument(
          "state file " + path +
          " is an SQLite database that galley did not create (it has tables but no "
          "schema version)");
    }
    if (read_only) return Status::NotFound("state file " + path + " has no runs recorded yet");
  }
  Clock clock = [wall = &ClockOr(options.clock)] { return wall->WallNow(); };
  if (read_only) {
    return std::unique_ptr<StateStore>(
        new SqliteStore(std::move(conn), memory, std::move(clock), version, std::nullopt));
  }

  // SQLite silently opens a write-protected file read-only; say so now, not at the first write.
  if (sqlite3_db_readonly(conn->raw(), "main") == 1) {
    return Status::PermissionDenied("state file " + path + " is read-only for this user");
  }
  // A new file gives pages freed by Prune back to the file system (must precede any table).
  if (version == 0 && !memory)
    RETURN_IF_ERROR(conn->Run("PRAGMA auto_vacuum = INCREMENTAL", "open"));
  if (!memory) {
    ASSIGN_OR_RETURN(Statement q, conn->Prepare("PRAGMA journal_mode = WAL", "open"));
    ASSIGN_OR_RETURN(bool row, q.Step());
    std::string mode = row ? q.Text(0) : "";
    if (mode != "wal") {
      return Status::Unavailable("state file " + path + ": cannot use WAL journal mode (got '" +
                                 mode + "'); is it on a network file system?");
    }
  }
  // WAL + NORMAL: a commit survives a crash of galley; a power cut may lose the last
  // commits but never corrupts the file. The apply record raises this to FULL per
  // transaction (SqliteStore::Write).
  RETURN_IF_ERROR(conn->Run("PRAGMA synchronous = NORMAL", "open"));
  // The WAL grows to the largest transaction (a first plan's observations: megabytes) and
  // SQLite keeps that size; past 4 MiB it is truncated back once checkpointed.
  if (!memory) RETURN_IF_ERROR(conn->Run("PRAGMA journal_size_limit = 4194304", "open"));
  RETURN_IF_ERROR(conn->Run("PRAGMA foreign_keys = OFF", "open"));
  RETURN_IF_ERROR(Migrate(*conn, version));
  RETURN_IF_ERROR(conn->Run("PRAGMA foreign_keys = ON", "open"));
  ASSIGN_OR_RETURN(int64_t fk_on, PragmaInt(*conn, "PRAGMA foreign_keys"));
  if (fk_on != 1)
    return Status::Internal("state store " + path + ": this SQLite cannot enforce foreign keys");

  return std::unique_ptr<StateStore>(new SqliteStore(
      std::move(conn), memory, std::move(clock), static_cast<int64_t>(known), options.retention));
}

std::string DefaultStatePath(const std::map<std::string, std::string>& env) {
  auto get = [&](const char* name) -> std::string {
    auto it = env.find(name);
    return it == env.end() ? "" : it->second;
  };
  std::string xdg = get("XDG_STATE_HOME");
  if (!xdg.empty() && xdg.front() == '/') return xdg + "/galley/state.db";
  std::string home = get("HOME");
  if (!home.empty()) return home + "/.local/state/galley/state.db";
  return "./galley-state.db";
}

}  // namespace galley::store
