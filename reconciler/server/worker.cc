// SPDX-License-Identifier: Apache-2.0
#include "server/worker.h"

#include <sstream>

#include "base/strings.h"
#include "base/time_text.h"
#include "clients/consul_client.h"
#include "engine/agent_status.h"
#include "engine/apply_lock.h"
#include "engine/desired.h"
#include "engine/drift.h"
#include "engine/events.h"
#include "engine/planner.h"
#include "engine/reconcile.h"
#include "engine/status.h"
#include "engine/view_text.h"
#include "net/http_client.h"

namespace galley::server {
namespace {

using json = nlohmann::json;

constexpr size_t kKeepRuns = 50;
constexpr size_t kKeepEvents = 500;

std::string Now() { return FormatTimestamp(std::chrono::system_clock::now()); }

}  // namespace

// Keeps the most recent events for the API; called by the executor's workers one at a time.
class Worker::EventSink : public engine::ApplyEventSink {
 public:
  EventSink(Worker& w, int64_t run) : w_(w), run_(run) {}
  void On(const engine::ApplyEvent& e) override {
    json j{
        {"run_id", run_}, {"kind", engine::EventKindName(e.kind)}, {"at", e.at}, {"line", e.line}};
    if (!e.target.empty()) j["target"] = e.target;
    if (!e.action_id.empty()) j["action"] = e.action_id;
    if (e.kind == engine::EventKind::kStepFinished || e.kind == engine::EventKind::kWarning ||
        e.kind == engine::EventKind::kRecovered || e.kind == engine::EventKind::kPhase) {
      w_.Log("info", e.line, {{"event", engine::EventKindName(e.kind)}});
    }
    std::lock_guard<std::mutex> lock(w_.mu_);
    w_.events_.push_back(std::move(j));
    while (w_.events_.size() > kKeepEvents) w_.events_.pop_front();
    w_.ChangedLocked(false);
  }

 private:
  Worker& w_;
  int64_t run_;
};

Worker::Worker(RepositorySource& source, TriggerQueue& queue, WorkerOptions options)
    : source_(source), queue_(queue), options_(std::move(options)) {}

Worker::~Worker() { Stop(); }

void Worker::Start(std::function<bool()> is_leader) {
  is_leader_ = std::move(is_leader);
  thread_ = std::thread([this] { Loop(); });
}

void Worker::Stop() {
  stop_ = true;
  queue_.Close();
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& a : applies_) {
    a->done.set_value({503, json{{"error", "the server is stopping"}}});
  }
  applies_.clear();
}

void Worker::Log(const std::string& level, const std::string& message, const json& fields) const {
  if (options_.log) options_.log(level, message, fields);
}

std::string Worker::state_path() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_path_;
}

void Worker::RecordRun(json run) {
  std::lock_guard<std::mutex> lock(mu_);
  runs_.push_front(std::move(run));
  while (runs_.size() > kKeepRuns) runs_.pop_back();
  ChangedLocked(true);
}

void Worker::ChangedLocked(bool snapshot) {
  ++version_;
  if (snapshot) ++snapshot_version_;
  change_cv_.notify_all();
}

uint64_t Worker::version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return version_;
}

uint64_t Worker::snapshot_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_version_;
}

uint64_t Worker::WaitForChange(uint64_t seen, std::chrono::milliseconds wait) const {
  std::unique_lock<std::mutex> lock(mu_);
  change_cv_.wait_for(lock, wait, [&] { return version_ != seen; });
  return version_;
}

void Worker::Loop() {
  while (!stop_) {
    std::shared_ptr<ApplyRequest> apply;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!applies_.empty()) {
        apply = applies_.front();
        applies_.pop_front();
      }
    }
    if (apply) {
      ApplyAnswer a = is_leader_()
                          ? DoApply(apply->plan_id)
                          : ApplyAnswer{503, json{{"error", "this server is not the leader"}}};
      apply->done.set_value(std::move(a));
      continue;
    }
    // A follower observes and plans (the API stays current, read-only) but applies nothing.
    auto p = queue_.Take(std::chrono::milliseconds(200));
    if (p) Reconcile(*p, is_leader_());
  }
}

ApplyAnswer Worker::ApplyPlan(const std::string& plan_id, std::chrono::milliseconds wait) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!plan_) return {409, json{{"error", "there is no plan to apply"}}};
    if (plan_id != plan_id_) {
      return {409, json{{"error", "plan " + plan_id + " is not the latest plan (" + plan_id_ +
                                      "): it is stale; review the latest one"},
                        {"latest_plan_id", plan_id_}}};
    }
  }
  auto rq = std::make_shared<ApplyRequest>();
  rq->plan_id = plan_id;
  std::future<ApplyAnswer> answer = rq->done.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return {503, json{{"error", "the server is stopping"}}};
    applies_.push_back(rq);
  }
  cv_.notify_all();
  if (answer.wait_for(wait) != std::future_status::ready) {
    return {202, json{{"accepted", true},
                      {"plan_id", plan_id},
                      {"message", "the apply is still running; see /api/v1/runs"}}};
  }
  return answer.get();
}

namespace {

// The workflow's request for this server: lock holder, deadlines, secrets.
engine::ReconcileRequest BaseRequest(const workspace::Workspace& ws, const WorkerOptions& o) {
  engine::ReconcileRequest rq;
  rq.platform = ws.state.platform;
  rq.commit = ws.commit;
  rq.origin = workspace::Origin(ws.env);
  rq.origin.who = "galley serve " + rq.origin.who;
  rq.host = workspace::Who(ws.env);
  rq.trigger = "serve";
  rq.lock.holder = o.holder;
  rq.apply.concurrency = o.concurrency;
  rq.apply.app_deadline = o.app_deadline;
  auto env = ws.env;
  rq.apply.read_secret = [env](const std::string& source) {
    return engine::ReadSecret(source, env);
  };
  return rq;
}

struct LockClient {
  std::unique_ptr<net::HttpClient> http;
  std::unique_ptr<clients::ConsulClient> consul;
};

// The lock's own Consul client: no retries, a timeout under TTL/3 (as `galley apply`).
LockClient NewLockClient(const workspace::Workspace& ws, int ttl_seconds) {
  LockClient c;
  net::HttpClientOptions http_options;
  http_options.ca_file = ws.endpoints.consul.ca_file;
  c.http = net::NewHttpClient(http_options);
  clients::ConsulClientOptions consul_options;
  consul_options.timeout = std::chrono::seconds(std::max(1, ttl_seconds / 3));
  c.consul = clients::NewConsulClient(ws.endpoints.consul, c.http.get(), consul_options);
  return c;
}

int HttpStatusOf(engine::ReconcileOutcome o) {
  switch (o) {
    case engine::ReconcileOutcome::kNothingToDo:
    case engine::ReconcileOutcome::kApplied:
      return 200;
    case engine::ReconcileOutcome::kStalePlan:
    case engine::ReconcileOutcome::kHeldBack:
      return 409;
    case engine::ReconcileOutcome::kLockHeld:
      return 423;
    case engine::ReconcileOutcome::kTooLarge:
    case engine::ReconcileOutcome::kNotConfirmed:
      return 422;
    case engine::ReconcileOutcome::kIncomplete:
    case engine::ReconcileOutcome::kFailed:
      return 500;
  }
  return 500;
}

}  // namespace

void Worker::Reconcile(const PendingReconcile& p, bool leader) {
  const auto t0 = std::chrono::steady_clock::now();
  ++reconciles_;
  json run{{"started_at", Now()}, {"triggers", p.triggers}, {"leader", leader}};
  json kinds = json::array();
  for (auto k : p.kinds) kinds.push_back(TriggerKindName(k));
  run["trigger"] = kinds;
  auto finish = [&](const std::string& outcome, const std::string& message) {
    run["outcome"] = outcome;
    if (!message.empty()) run["message"] = message;
    run["finished_at"] = Now();
    run["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    Log(outcome == "failed" ? "error" : "info", "reconcile " + outcome, run);
    RecordRun(run);
  };

  // The commit: a push's, else the branch's head after a fetch.
  if (p.commit.empty()) {
    auto head = source_.Refresh();
    if (!head.ok()) return finish("failed", head.status().message());
  }
  auto checkout = source_.CheckOut(p.commit);
  if (!checkout.ok()) return finish("failed", checkout.status().message());
  run["commit"] = checkout->commit();
  workspace::TargetOptions all = options_.target;
  all.dir = checkout->dir();
  all.envs.clear();
  all.targets.clear();
  std::ostringstream diag;
  auto ws = workspace::OpenWorkspace(all, "serve", diag, /*show_warnings=*/false);
  if (!ws) return finish("failed", diag.str());
  ws->commit = checkout->commit();
  ws->tree = checkout->tree();
  ws->dirty = checkout->dirty();
  loaded_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_path_ = ws->state_path;
  }

  std::vector<std::string> auto_envs, manual_envs;
  for (const auto& e : ws->state.platform.environments) {
    bool applies = e.sync_auto && !e.paused && !ws->dirty;
    (applies ? auto_envs : manual_envs).push_back(e.name);
  }
  if (ws->dirty && !auto_envs.empty()) {
    Log("warn", "the work tree has uncommitted changes: planned, never applied automatically");
  }
  json result{{"auto", auto_envs}, {"manual", manual_envs}};

  // 1. The `sync: auto` environments, through the workflow (the leader only).
  if (!auto_envs.empty() && leader) {
    workspace::TargetOptions scope = all;
    if (!manual_envs.empty()) scope.envs = auto_envs;
    ws->environments = auto_envs;
    engine::ReconcileRequest rq = BaseRequest(*ws, options_);
    workspace::WorkspaceSource src(*ws, scope);
    LockClient lock_client = NewLockClient(*ws, rq.lock.ttl_seconds);
    engine::ReconcileDeps deps;
    deps.source = &src;
    deps.marathon = ws->marathon.get();
    deps.consul = ws->consul.get();
    deps.lock_consul = lock_client.consul.get();
    deps.store = ws->store.get();
    EventSink sink(*this, 0);
    deps.events = &sink;
    deps.interrupted = [this] { return stop_.load(); };
    // `confirm` empty: approved (sync: auto).
    applying_ = true;
    engine::ReconcileResult r = engine::Reconcile(rq, deps);
    applying_ = false;
    result["apply"] = {{"outcome", engine::ReconcileOutcomeName(r.outcome)},
                       {"actions", r.plan.actions.size()},
                       {"run_id", r.run_id},
                       {"recovered", r.recovered}};
    if (!r.message.empty()) result["apply"]["message"] = r.message;
    ws->environments.clear();
    for (const auto& e : ws->state.platform.environments) ws->environments.push_back(e.name);
  }
  if (stop_) {
    run["result"] = result;
    return finish("interrupted", "");
  }

  // 2. One observation of every environment: status, drift, the manual environments' plan.
  // Recorded as `galley plan` records its run, with the trigger "serve".
  auto plan_run = ws->store->BeginRun("plan", "serve", ws->commit, workspace::Origin(ws->env));
  if (!plan_run.ok())
    Log("warn", "the store did not record the plan: " + plan_run.status().message());
  auto observed = workspace::ObserveInput(*ws, all);
  if (!observed.ok()) {
    if (plan_run.ok()) {
      (void)ws->store->FinishRun(*plan_run, "failed",
                                 engine::SafeDump(json{{"error", observed.status().message()}}));
    }
    run["result"] = result;
    return finish("failed", observed.status().message());
  }
  engine::PlanInput& in = observed->in;
  engine::Plan full = engine::MakePlan(in);
  (void)workspace::AnnotateFailures(*ws, full);  // an unreadable journal only loses the marks
  engine::StatusReport report = engine::BuildStatus(in, full);
  report.commit = ws->commit;
  report.galley_version = GALLEY_VERSION;
  report.checked_at = Now();
  engine::DriftReport drift = engine::FindDrift(in);
  std::vector<store::Observation> agent_obs;  // recorded by plan and drift, not here
  json agents =
      engine::AgentsToJson(workspace::AgentStatusOf(*ws, in, observed->agent_reports, &agent_obs));

  engine::PlanInput manual_in = in;
  manual_in.environments = manual_envs;
  engine::Plan plan = engine::MakePlan(manual_in);
  (void)workspace::AnnotateFailures(*ws, plan);
  plan.warnings.insert(plan.warnings.begin(), observed->warnings.begin(), observed->warnings.end());
  workspace::DescribePlan(*ws, manual_in, &plan);
  plan.created_at = Now();
  json plan_json = engine::PlanToJson(plan);
  std::string digest = engine::PlanDigest(plan);
  if (plan_run.ok()) {
    auto saved = ws->store->SavePlan(*plan_run, engine::SafeDump(plan_json), digest);
    (void)saved;  // kAlreadyExists: the same plan made again
    (void)ws->store->FinishRun(
        *plan_run, plan.HasChanges() ? "changes" : "ok",
        engine::SafeDump(json{{"actions", plan.actions.size()}, {"digest", digest}}));
  }
  plan_json["plan_id"] = digest;
  result["plan"] = {{"plan_id", digest}, {"actions", plan.actions.size()}};
  if (!plan.errors.empty()) result["plan"]["errors"] = plan.errors;
  json status_json = engine::StatusToJson(report);
  auto status_text = std::make_shared<const std::string>(engine::SafeDump(status_json, 2) + "\n");
  json drift_json = engine::DriftToJson(drift);
  SharedSnapshot shared{
      std::make_shared<const json>(status_json), std::make_shared<const json>(drift_json),
      std::make_shared<const json>(plan_json), std::make_shared<const json>(agents)};
  {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = std::move(status_json);
    status_text_ = std::move(status_text);
    shared_ = std::move(shared);
    drift_ = std::move(drift_json);
    plan_json_ = plan_json;
    plan_id_ = digest;
    plan_commit_ = ws->commit;
    plan_ = std::move(plan);
    agents_ = std::move(agents);
    ChangedLocked(true);
  }
  run["result"] = result;
  std::string outcome = "ok";
  if (result.contains("apply")) {
    std::string a = result["apply"]["outcome"];
    if (a != "applied" && a != "nothing-to-do") outcome = "failed";
  }
  finish(outcome, "");
  ws_holder_ = std::move(ws);
}

ApplyAnswer Worker::DoApply(const std::string& plan_id) {
  std::optional<engine::Plan> plan;
  std::string commit;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!plan_ || plan_id != plan_id_) {
      return {409, json{{"error", "plan " + plan_id + " is not the latest plan: it is stale"},
                        {"latest_plan_id", plan_id_}}};
    }
    plan = plan_;
    commit = plan_commit_;
  }
  if (!ws_holder_) return {503, json{{"error", "no repository loaded yet"}}};
  workspace::Workspace& ws = *ws_holder_;
  engine::ReconcileRequest rq = BaseRequest(ws, options_);
  rq.commit = commit;
  rq.saved_plan = std::move(plan);
  rq.saved_plan_name = "plan " + plan_id;
  workspace::TargetOptions scope = options_.target;
  workspace::WorkspaceSource src(ws, scope);
  LockClient lock_client = NewLockClient(ws, rq.lock.ttl_seconds);
  engine::ReconcileDeps deps;
  deps.source = &src;
  deps.marathon = ws.marathon.get();
  deps.consul = ws.consul.get();
  deps.lock_consul = lock_client.consul.get();
  deps.store = ws.store.get();
  EventSink sink(*this, 0);
  deps.events = &sink;
  deps.interrupted = [this] { return stop_.load(); };
  Log("info", "applying plan " + plan_id, {{"plan_id", plan_id}, {"commit", commit}});
  applying_ = true;
  engine::ReconcileResult r = engine::Reconcile(rq, deps);
  applying_ = false;
  json body{{"plan_id", plan_id},
            {"outcome", engine::ReconcileOutcomeName(r.outcome)},
            {"actions", r.plan.actions.size()},
            {"run_id", r.run_id}};
  if (!r.message.empty()) body["message"] = r.message;
  RecordRun({{"started_at", Now()},
             {"trigger", json::array({"apply"})},
             {"commit", commit},
             {"outcome", engine::ReconcileOutcomeName(r.outcome)},
             {"result", body}});
  Log(r.outcome == engine::ReconcileOutcome::kApplied ? "info" : "warn",
      "apply of plan " + plan_id + ": " + engine::ReconcileOutcomeName(r.outcome), body);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (r.outcome == engine::ReconcileOutcome::kApplied ||
        r.outcome == engine::ReconcileOutcome::kStalePlan) {
      plan_.reset();  // applied, or stale: either way no longer the plan to apply
    }
    ChangedLocked(true);
  }
  // Plan again so the API shows where the platform stands now.
  (void)queue_.Push({TriggerKind::kManual, "", "after apply"});
  return {HttpStatusOf(r.outcome), body};
}

json Worker::Status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}
Worker::SharedSnapshot Worker::Shared() const {
  std::lock_guard<std::mutex> lock(mu_);
  return shared_;
}
std::shared_ptr<const std::string> Worker::StatusText() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_text_;
}
json Worker::Plan() const {
  std::lock_guard<std::mutex> lock(mu_);
  return plan_json_;
}
json Worker::Drift() const {
  std::lock_guard<std::mutex> lock(mu_);
  return drift_;
}
json Worker::Runs() const {
  std::lock_guard<std::mutex> lock(mu_);
  json out = json::array();
  for (const auto& r : runs_) out.push_back(r);
  return out;
}
json Worker::Agents() const {
  std::lock_guard<std::mutex> lock(mu_);
  return agents_;
}
json Worker::Events() const {
  std::lock_guard<std::mutex> lock(mu_);
  json out = json::array();
  for (const auto& e : events_) out.push_back(e);
  return out;
}

}  // namespace galley::server
