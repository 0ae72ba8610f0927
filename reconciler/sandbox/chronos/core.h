// SPDX-License-Identifier: Apache-2.0
// ChronosCore: the Chronos 3.x job graph and scheduler without HTTP, threads or processes,
// so every decision is unit-tested against explicit times (reference/chronos-api.md §2, §5):
//   - create/update (full replace) of scheduled and dependent jobs with Chronos' checks;
//   - delete, which rewires children (dependent parent) or converts them into scheduled
//     jobs (scheduled parent) and never refuses;
//   - what is due at `now` (start < now, not disabled, R != 0; never skipped), the schedule
//     rewrite at every launch (start moves past now, Rn → R(n-1)), at most one queued run
//     per job, no concurrent runs unless `concurrent`;
//   - outcomes: success/error counts and times, retries only for a "clean" job after
//     `failure_retry_ms`, soft errors, R0 disabling the job, dependants triggered once every
//     parent has succeeded since the child last started.
// Not thread-safe: the emulator holds its lock around every call.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sandbox/chronos/job.h"

namespace galley::sandbox::chronos {

struct CoreOptions {
  ServerDefaults defaults;
  int64_t failure_retry_ms = 1000;  // Chronos' --failure_retry (its default is 60 s)
};

// An API refusal: the HTTP status and Chronos' message. `require` messages are the first
// line of the stack trace Chronos puts in `message` ("java.lang.IllegalArgumentException:
// requirement failed: ...").
struct ApiError {
  int status = 400;
  std::string message;
  bool require = false;
};

// One run to start now.
struct Launch {
  std::string name;
  std::string task_id;  // ct:<due ms>:<attempt>:<name>:<arguments>
  int attempt = 0;
  std::string arguments;
  OrderedJson job;  // the job as it is when launched (after the schedule rewrite)
};

class ChronosCore {
 public:
  explicit ChronosCore(CoreOptions options) : options_(std::move(options)) {}

  // POST /iso8601 and POST /dependency with a body already read by ReadJob.
  std::optional<ApiError> PutScheduled(OrderedJson job, int64_t now_ms);
  std::optional<ApiError> PutDependent(OrderedJson job, int64_t now_ms);
  // DELETE /job/<name>: the ids of the job's running tasks (to kill) go to *kill.
  std::optional<ApiError> Delete(const std::string& name, std::vector<std::string>* kill);
  // PUT /job/<name>[?arguments=]: queues a manual run (a disabled job's run is dropped later).
  std::optional<ApiError> Start(const std::string& name, const std::string& arguments,
                                int64_t now_ms);
  // PUT /job/success/<name>: false for an unknown job.
  bool MarkSuccess(const std::string& name, int64_t now_ms);
  // DELETE /task/kill/<name>: the running task ids to kill.
  std::optional<ApiError> TasksOf(const std::string& name, std::vector<std::string>* ids) const;

  // Queues what is due at `now`, then takes the runs that may start now off the queue (the
  // schedule rewrite and the child's dependency counters reset happen here).
  std::vector<Launch> Tick(int64_t now_ms);
  // A run ended. `success` false: TASK_FAILED / TASK_LOST. Unknown ids are ignored.
  void OnFinished(const std::string& task_id, bool success, int64_t now_ms);
  // A run was killed: no counters change, no retry (TASK_KILLED).
  void OnKilled(const std::string& task_id);

  // The jobs GET shows: a dependent job whose parents are not all present is hidden.
  std::vector<const OrderedJson*> Visible() const;
  const OrderedJson* Find(const std::string& name) const;  // visible jobs only
  // Summary fields: "success" | "failure" | "fresh", and "idle" | "queued" | "<n> running".
  std::string LastStatus(const OrderedJson& job) const;
  std::string RunState(const std::string& name) const;
  std::vector<int64_t> Durations(const std::string& name) const;
  // The earliest wall time something may become due (scheduled start or delayed retry);
  // nullopt when nothing is pending.
  std::optional<int64_t> NextWakeMs(int64_t now_ms) const;

  nlohmann::json Snapshot() const;
  Status Restore(const nlohmann::json& snapshot);
  uint64_t changes() const { return changes_; }

 private:
  struct Pending {
    std::string name;
    int64_t due_ms = 0;         // in the task id
    int64_t not_before_ms = 0;  // retries wait failure_retry_ms
    int attempt = 0;
    std::string arguments;
  };
  struct Running {
    std::string name;
    int attempt = 0;
    int64_t started_ms = 0;
    std::string arguments;
    int64_t due_ms = 0;
  };
  bool Visible(const OrderedJson& job) const;
  bool VisibleAt(const OrderedJson& job, size_t depth) const;
  bool Exists(const std::string& name) const;  // present and visible
  void Enqueue(Pending p);
  void RewriteSchedule(OrderedJson* job, int64_t now_ms) const;
  void TriggerChildren(const std::string& parent, int64_t now_ms);
  std::set<std::string> Parents(const OrderedJson& job) const;
  bool WouldCycle(const std::string& child, const std::set<std::string>& parents) const;

  CoreOptions options_;
  std::map<std::string, OrderedJson> jobs_;  // stored jobs (hidden dependants included)
  std::deque<Pending> queue_;
  std::map<std::string, Running> running_;                        // by task id
  std::map<std::pair<std::string, std::string>, int64_t> edges_;  // (parent, child) → count
  std::map<std::string, std::vector<int64_t>> durations_;
  uint64_t changes_ = 0;
};

}  // namespace galley::sandbox::chronos
