// SPDX-License-Identifier: Apache-2.0
// ChronosClient: the calls galley makes to Chronos' REST API (3.x, under /v1/scheduler/;
// shared/reference/chronos-api.md). The interface is what the engine will depend on;
// NewChronosClient returns the HTTP implementation over net::HttpClient. Details:
//   - Observation is one request: GET /v1/scheduler/jobs (sorted by name here; Chronos'
//     order is unspecified).
//   - Writes: a scheduled job is POSTed to /iso8601, a dependent one (with `parents`) to
//     /dependency; create and update are the same call (update = full replace: what the body
//     omits goes back to its default, stats included). The body must not carry both
//     `schedule` and `parents` (Chronos would silently drop the schedule): kInvalidArgument.
//   - Retries: only GETs are repeated (up to 3 attempts, 200 ms then 400 ms apart) after a
//     transport failure or a 502/503/504; POST, PUT and DELETE are sent once.
//   - Errors: every message starts with "chronos <url>: <METHOD> <path>: ". Chronos' 400
//     "Job 'x' not found" / "JobSchedule 'x' not found" → kNotFound ("job 'x' does not
//     exist"); any other 400 → kInvalidArgument with Chronos' own sentence (the first line of
//     its stack trace, without the Java prefixes); 401/403 kPermissionDenied; 404 on a known
//     path → kNotFound "... (not a Chronos 3.x API: is the URL right?)"; 5xx, a dropped
//     connection or a body that is not the expected JSON → kUnavailable.
//   - requests() counts attempts, failed ones included.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/status.h"
#include "net/http_client.h"

namespace galley::clients {

struct ChronosEndpoint {
  std::string url;  // "http://chronos:4400"
  std::string basic_user, basic_password;
  std::string source;   // where the URL came from: "--chronos", "GALLEY_CHRONOS_URL", ...
  std::string ca_file;  // GALLEY_CA_FILE
};

// A job as Chronos returns it, plus the fields galley reads most.
struct ChronosJob {
  std::string name;
  bool dependent = false;
  std::string schedule;              // scheduled jobs
  std::string schedule_time_zone;    // scheduled jobs
  std::vector<std::string> parents;  // dependent jobs, sorted
  bool disabled = false;
  std::string description, owner;
  int64_t success_count = 0, error_count = 0, errors_since_last_success = 0;
  std::string last_success, last_error;  // ISO 8601 UTC, "" when never
  nlohmann::json body;                   // the whole object
};

// Counts and last outcomes (from the job) and run times (GET /job/stat/<name>).
struct ChronosJobStats {
  int64_t success_count = 0, error_count = 0, errors_since_last_success = 0;
  std::string last_success, last_error;
  bool disabled = false;
  int64_t runs_measured = 0;  // histogram count (in memory on the Chronos leader)
  double median_ms = 0;
  // "success" | "failure" | "fresh": the later of last_success and last_error.
  std::string LastOutcome() const;
};

class ChronosClient {
 public:
  virtual ~ChronosClient() = default;
  // GET /v1/scheduler/jobs, sorted by name.
  virtual Result<std::vector<ChronosJob>> ListJobs() = 0;
  // GET /v1/scheduler/job/<name>; kNotFound when Chronos does not know it.
  virtual Result<ChronosJob> GetJob(const std::string& name) = 0;
  // POST /iso8601 (no `parents`, a `schedule`) or /dependency (`parents`), by the body.
  // Creates or replaces the job.
  virtual Status PutJob(const nlohmann::json& body) = 0;
  // DELETE /v1/scheduler/job/<name>; kNotFound when it is already gone. Chronos never
  // refuses: children of a deleted job are rewired or turned into scheduled jobs.
  virtual Status DeleteJob(const std::string& name) = 0;
  // PUT /v1/scheduler/job/<name>[?arguments=…]: one manual run.
  virtual Status StartJob(const std::string& name, const std::string& arguments = "") = 0;
  // GET /job/<name> and GET /job/stat/<name>.
  virtual Result<ChronosJobStats> GetJobStats(const std::string& name) = 0;
  virtual int requests() const = 0;
  // The Chronos URL it talks to ("" when it has none, e.g. a fake), for messages.
  virtual std::string url() const { return ""; }
};

// One element of GET /jobs or the object of GET /job/<name>. kInvalidArgument when it is not
// a job (no string name).
Result<ChronosJob> ParseChronosJob(const nlohmann::json& job);

// The job as a request body for an update that must keep nothing the server maintains:
// without successCount, errorCount, errorsSinceLastSuccess, lastSuccess, lastError.
nlohmann::json ChronosRequestBody(const nlohmann::json& job);

struct ChronosClientOptions {
  std::chrono::milliseconds timeout{10000};  // per attempt
  int get_attempts = 3;
  Clock* clock = nullptr;  // sleeps between GET attempts; null: the real clock
};

// `http` (and options.clock) must outlive the client.
std::unique_ptr<ChronosClient> NewChronosClient(const ChronosEndpoint& endpoint,
                                                net::HttpClient* http,
                                                const ChronosClientOptions& options = {});

}  // namespace galley::clients
