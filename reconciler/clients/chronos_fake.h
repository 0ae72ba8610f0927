// SPDX-License-Identifier: Apache-2.0
// FakeChronosClient: an in-memory ChronosClient for engine tests (no sockets). Jobs are kept
// as given (no server defaults), PutJob routes and checks like the HTTP client, StartJob
// records the run and, when `auto_outcome` is set, applies it at once (success or error
// counts and times), so a hook's wait loop can be tested without a scheduler. `fail_next`
// makes the next calls fail with that status. Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "clients/chronos_client.h"

namespace galley::clients {

class FakeChronosClient : public ChronosClient {
 public:
  enum class Outcome { kNone, kSuccess, kFailure };

  Result<std::vector<ChronosJob>> ListJobs() override {
    std::lock_guard<std::mutex> l(mu_);
    ++requests_;
    if (auto s = TakeFailure()) return *s;
    std::vector<ChronosJob> out;
    for (const auto& [name, body] : jobs_) out.push_back(*ParseChronosJob(body));
    return out;
  }
  Result<ChronosJob> GetJob(const std::string& name) override {
    std::lock_guard<std::mutex> l(mu_);
    ++requests_;
    if (auto s = TakeFailure()) return *s;
    auto it = jobs_.find(name);
    if (it == jobs_.end())
      return Status::NotFound("chronos fake: job '" + name + "' does not exist");
    return ParseChronosJob(it->second);
  }
  Status PutJob(const nlohmann::json& body) override {
    std::lock_guard<std::mutex> l(mu_);
    ++requests_;
    if (auto s = TakeFailure()) return *s;
    if (!body.is_object() || !body.contains("name") || !body["name"].is_string()) {
      return Status::InvalidArgument("chronos fake: a job body needs a string \"name\"");
    }
    if (body.contains("parents") == body.contains("schedule")) {
      return Status::InvalidArgument("chronos fake: exactly one of schedule and parents");
    }
    jobs_[body["name"].get<std::string>()] = body;
    puts_.push_back(body["name"].get<std::string>());
    return Status::Ok();
  }
  Status DeleteJob(const std::string& name) override {
    std::lock_guard<std::mutex> l(mu_);
    ++requests_;
    if (auto s = TakeFailure()) return *s;
    if (!jobs_.erase(name))
      return Status::NotFound("chronos fake: job '" + name + "' does not exist");
    deletes_.push_back(name);
    return Status::Ok();
  }
  Status StartJob(const std::string& name, const std::string& arguments) override {
    std::lock_guard<std::mutex> l(mu_);
    ++requests_;
    if (auto s = TakeFailure()) return *s;
    auto it = jobs_.find(name);
    if (it == jobs_.end())
      return Status::NotFound("chronos fake: job '" + name + "' does not exist");
    starts_.push_back(arguments.empty() ? name : name + " " + arguments);
    ++clock_;
    std::string at = "2026-01-01T00:00:" + std::string(clock_ < 10 ? "0" : "") +
                     std::to_string(clock_ % 60) + ".000Z";
    nlohmann::json& j = it->second;
    if (auto_outcome == Outcome::kSuccess) {
      j["successCount"] = j.value("successCount", 0) + 1;
      j["lastSuccess"] = at;
    } else if (auto_outcome == Outcome::kFailure) {
      j["errorCount"] = j.value("errorCount", 0) + 1;
      j["lastError"] = at;
    }
    return Status::Ok();
  }
  Result<ChronosJobStats> GetJobStats(const std::string& name) override {
    auto job = GetJob(name);
    if (!job.ok()) return job.status();
    ChronosJobStats s;
    s.success_count = job->success_count;
    s.error_count = job->error_count;
    s.errors_since_last_success = job->errors_since_last_success;
    s.last_success = job->last_success;
    s.last_error = job->last_error;
    s.disabled = job->disabled;
    s.runs_measured = s.success_count;
    return s;
  }
  int requests() const override {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }

  // Test controls.
  Outcome auto_outcome = Outcome::kNone;
  void FailNext(Status s, int times = 1) {
    std::lock_guard<std::mutex> l(mu_);
    fail_ = std::move(s);
    fail_times_ = times;
  }
  std::vector<std::string> puts() const {
    std::lock_guard<std::mutex> l(mu_);
    return puts_;
  }
  std::vector<std::string> deletes() const {
    std::lock_guard<std::mutex> l(mu_);
    return deletes_;
  }
  std::vector<std::string> starts() const {
    std::lock_guard<std::mutex> l(mu_);
    return starts_;
  }
  void Seed(const nlohmann::json& job) {
    std::lock_guard<std::mutex> l(mu_);
    jobs_[job["name"].get<std::string>()] = job;
  }

 private:
  std::optional<Status> TakeFailure() {
    if (fail_times_ <= 0) return std::nullopt;
    --fail_times_;
    return fail_;
  }
  mutable std::mutex mu_;
  std::map<std::string, nlohmann::json> jobs_;
  std::vector<std::string> puts_, deletes_, starts_;
  Status fail_ = Status::Ok();
  int fail_times_ = 0;
  int requests_ = 0;
  int clock_ = 0;
};

}  // namespace galley::clients
