// SPDX-License-Identifier: Apache-2.0
// The two ApplyTargets: Marathon, Consul and Chronos through their clients, and the dry
// run's recorder (see apply.h).
#include <algorithm>

#include "base/strings.h"
#include "engine/apply.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

class ClientTarget : public ApplyTarget {
 public:
  ClientTarget(clients::MarathonClient& m, clients::ConsulClient& c, clients::ChronosClient* j)
      : m_(m), c_(c), j_(j) {}
  Result<clients::KvTxnResult> KvTxn(const std::vector<clients::KvTxnOp>& ops) override {
    return c_.Txn(ops);
  }
  Result<std::optional<std::string>> KvGet(const std::string& key) override {
    auto e = c_.GetKv(key);
    if (!e.ok() && e.status().code() == StatusCode::kNotFound) return std::optional<std::string>();
    if (!e.ok()) return e.status();
    return std::optional<std::string>(e->value);
  }
  Result<clients::MarathonDeploymentResult> CreateApp(const json& body, bool force) override {
    return m_.CreateApp(body, force);
  }
  Result<clients::MarathonDeploymentResult> UpdateApp(const std::string& id, const json& body,
                                                      bool force) override {
    return m_.UpdateApp(id, body, force);
  }
  Result<clients::MarathonDeploymentResult> ScaleApp(const std::string& id, int instances,
                                                     bool force) override {
    return m_.ScaleApp(id, instances, force);
  }
  Result<clients::MarathonDeploymentResult> DeleteApp(const std::string& id) override {
    return m_.DeleteApp(id);
  }
  Result<clients::MarathonDeploymentResult> RestartApp(const std::string& id, bool force) override {
    return m_.RestartApp(id, force);
  }
  Result<clients::MarathonDeploymentResult> CancelDeployment(const std::string& id) override {
    return m_.CancelDeployment(id);
  }
  Result<json> AppVersion(const std::string& id, const std::string& version) override {
    return m_.GetAppVersion(id, version);
  }
  Result<model::LiveApp> App(const std::string& id) override { return m_.GetApp(id); }
  Result<std::vector<clients::MarathonDeployment>> Deployments() override {
    return m_.ListDeployments();
  }
  Status PutRecord(const std::string& key, const std::string& value) override {
    auto r = c_.PutKv(key, value, std::nullopt);
    if (!r.ok()) return r.status();
    if (!*r) return Status::Conflict("consul refused to write " + key);
    return Status::Ok();
  }
  // Chronos: refused as by the base class when there is none.
  Status PutJob(const json& body) override {
    return j_ ? j_->PutJob(body) : ApplyTarget::PutJob(body);
  }
  Status DeleteJob(const std::string& name) override {
    return j_ ? j_->DeleteJob(name) : ApplyTarget::DeleteJob(name);
  }
  Status StartJob(const std::string& name) override {
    return j_ ? j_->StartJob(name) : ApplyTarget::StartJob(name);
  }
  Result<clients::ChronosJobStats> JobStats(const std::string& name) override {
    if (!j_) return ApplyTarget::JobStats(name);
    return j_->GetJobStats(name);
  }
  Result<clients::ChronosJob> Job(const std::string& name) override {
    if (!j_) return ApplyTarget::Job(name);
    return j_->GetJob(name);
  }
  // Chronos keeps no output: a run's stdout/stderr stay in the Mesos sandbox of its task.
  std::string JobOutputLocation(const std::string& name) override {
    std::string where = j_ && !j_->url().empty() ? "Chronos " + j_->url() + ", " : "";
    return "the Mesos sandbox of job " + name + "'s last run (" + where +
           "GET /v1/scheduler/job/stat/" + name +
           " lists its tasks and agents when Chronos keeps task history)";
  }

 private:
  clients::MarathonClient& m_;
  clients::ConsulClient& c_;
  clients::ChronosClient* j_;  // null: no Chronos
};

const char* VerbName(clients::KvTxnOp::Verb v) {
  switch (v) {
    case clients::KvTxnOp::Verb::kSet:
      return "set";
    case clients::KvTxnOp::Verb::kCas:
      return "cas";
    case clients::KvTxnOp::Verb::kDelete:
      return "delete";
    case clients::KvTxnOp::Verb::kDeleteCas:
      return "delete-cas";
    case clients::KvTxnOp::Verb::kCheckIndex:
      return "check-index";
  }
  return "?";
}

}  // namespace

std::unique_ptr<ApplyTarget> NewClientTarget(clients::MarathonClient& marathon,
                                             clients::ConsulClient& consul,
                                             clients::ChronosClient* chronos) {
  return std::make_unique<ClientTarget>(marathon, consul, chronos);
}

Result<clients::KvTxnResult> DryRunTarget::KvTxn(const std::vector<clients::KvTxnOp>& ops) {
  std::vector<std::string> parts;
  clients::KvTxnResult r;
  r.committed = true;
  for (const auto& op : ops) {
    parts.push_back(std::string(VerbName(op.verb)) + " " + op.key);
    r.indexes[op.key] = 0;
  }
  std::lock_guard<std::mutex> lock(mu_);
  calls_.push_back("PUT /v1/txn (" + std::to_string(ops.size()) + " ops: " + Join(parts, ", ") +
                   ")");
  return r;
}

Result<std::optional<std::string>> DryRunTarget::KvGet(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.kv.find(key);
  if (it == live_.kv.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second.value);
}

Result<clients::MarathonDeploymentResult> DryRunTarget::Wrote(const std::string& call,
                                                              const std::string& id,
                                                              int instances) {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.push_back(call);
  written_[id] = instances;
  return clients::MarathonDeploymentResult{"dry-run-" + std::to_string(++deployments_),
                                           "(dry run)"};
}

Result<clients::MarathonDeploymentResult> DryRunTarget::CreateApp(const json& body, bool force) {
  std::string id = body.value("id", std::string());
  return Wrote("POST /v2/apps " + id + (force ? " (force)" : ""), id, body.value("instances", 1));
}

Result<clients::MarathonDeploymentResult> DryRunTarget::UpdateApp(const std::string& id,
                                                                  const json& body, bool force) {
  return Wrote("PUT /v2/apps" + id + "?partialUpdate=false" + (force ? "&force=true" : ""), id,
               body.value("instances", 1));
}

Result<clients::MarathonDeploymentResult> DryRunTarget::ScaleApp(const std::string& id,
                                                                 int instances, bool force) {
  return Wrote("PUT /v2/apps" + id + " {\"instances\": " + std::to_string(instances) + "}" +
                   (force ? " (force)" : ""),
               id, instances);
}

Result<clients::MarathonDeploymentResult> DryRunTarget::DeleteApp(const std::string& id) {
  return Wrote("DELETE /v2/apps" + id, id, -1);
}

Result<clients::MarathonDeploymentResult> DryRunTarget::RestartApp(const std::string& id,
                                                                   bool force) {
  int instances = 1;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = live_.apps.find(id); it != live_.apps.end()) instances = it->second.instances;
  }
  return Wrote("POST /v2/apps" + id + "/restart" + (force ? "?force=true" : ""), id, instances);
}

Result<clients::MarathonDeploymentResult> DryRunTarget::CancelDeployment(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.push_back("DELETE /v2/deployments/" + id);
  return clients::MarathonDeploymentResult{};
}

Result<json> DryRunTarget::AppVersion(const std::string& id, const std::string& version) {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.push_back("GET /v2/apps" + id + "/versions/" + version);
  auto it = live_.apps.find(id);
  if (it == live_.apps.end()) return Status::NotFound("dry run: app '" + id + "' was not observed");
  return it->second.body;
}

Result<model::LiveApp> DryRunTarget::App(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto w = written_.find(id);
  auto seen = live_.apps.find(id);
  if (w == written_.end()) {
    if (seen == live_.apps.end())
      return Status::NotFound("marathon: app '" + id + "' does not exist");
    return seen->second;
  }
  if (w->second < 0) return Status::NotFound("marathon: app '" + id + "' does not exist");
  model::LiveApp app;
  app.id = id;
  app.instances = app.tasks_running = app.tasks_healthy = w->second;
  return app;
}

Result<std::vector<clients::MarathonDeployment>> DryRunTarget::Deployments() {
  return std::vector<clients::MarathonDeployment>{};
}

Status DryRunTarget::PutRecord(const std::string& key, const std::string&) {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.push_back("PUT /v1/kv/" + key + " (applied record)");
  return Status::Ok();
}

Status DryRunTarget::PutJob(const json& body) {
  if (!body.is_object() || !body.contains("name") || !body["name"].is_string())
    return Status::InvalidArgument("dry run: a job body needs a string \"name\"");
  std::string name = body["name"].get<std::string>();
  auto job = clients::ParseChronosJob(body);
  if (!job.ok()) return job.status();
  std::lock_guard<std::mutex> lock(mu_);
  calls_.push_back(std::string("POST /v1/scheduler/") +
                   (body.contains("parents") ? "dependency " : "iso8601 ") + name);
  jobs_[name] = *job;
  return Status::Ok();
}

Status DryRunTarget::DeleteJob(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.push_back("DELETE /v1/scheduler/job/" + name);
  if (!jobs_.erase(name)) return Status::NotFound("dry run: job '" + name + "' does not exist");
  return Status::Ok();
}

Status DryRunTarget::StartJob(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.push_back("PUT /v1/scheduler/job/" + name);
  if (!jobs_.count(name)) return Status::NotFound("dry run: job '" + name + "' does not exist");
  ++job_runs_[name];  // succeeds at once
  return Status::Ok();
}

Result<clients::ChronosJobStats> DryRunTarget::JobStats(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(name);
  if (it == jobs_.end()) return Status::NotFound("dry run: job '" + name + "' does not exist");
  clients::ChronosJobStats s;
  s.success_count = it->second.success_count + job_runs_[name];
  s.error_count = it->second.error_count;
  s.last_success = it->second.last_success;
  s.last_error = it->second.last_error;
  s.disabled = it->second.disabled;
  return s;
}

Result<clients::ChronosJob> DryRunTarget::Job(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(name);
  if (it == jobs_.end()) return Status::NotFound("dry run: job '" + name + "' does not exist");
  return it->second;
}

void DryRunTarget::SetLiveJobs(std::map<std::string, clients::ChronosJob> jobs) {
  std::lock_guard<std::mutex> lock(mu_);
  jobs_ = std::move(jobs);
}

std::vector<std::string> DryRunTarget::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

}  // namespace galley::engine
