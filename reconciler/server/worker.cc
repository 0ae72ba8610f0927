// SPDX-License-Identifier: Apache-2.0
#include "server/worker.h"

#include <functional>
#include <set>
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

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// ServeMetrics' result name of a workflow outcome.
const char* ResultName(engine::ReconcileOutcome o) {
  switch (o) {
    case engine::ReconcileOutcome::kNothingToDo:
      return "no_changes";
    case engine::ReconcileOutcome::kApplied:
      return "applied";
    case engine::ReconcileOutcome::kIncomplete:
      return "incomplete";
    case engine::ReconcileOutcome::kLockHeld:
      return "lock_held";
    case engine::ReconcileOutcome::kStalePlan:
      return "stale_plan";
    case engine::ReconcileOutcome::kHeldBack:
      return "held_back";
    case engine::ReconcileOutcome::kFailed:
    case engine::ReconcileOutcome::kTooLarge:
    case engine::ReconcileOutcome::kNotConfirmed:
      return "failed";
  }
  return "failed";
}

std::string OutcomeName(engine::StepState s) {
  switch (s) {
    case engine::StepState::kApplied:
      return "applied";
    case engine::StepState::kFailed:
      return "failed";
    case engine::StepState::kNotAttempted:
      return "not_attempted";
    case engine::StepState::kInterrupted:
      return "interrupted";
  }
  return "failed";
}

// A short summary of a drifted resource for notifications: what changed and which fields
// (never values: they may be secrets).
std::string DriftSummary(const engine::DriftItem& d) {
  std::string s = engine::DriftWhatName(d.what);
  std::vector<std::string> paths;
  for (const auto& f : d.fields) {
    if (!f.pointer.empty()) paths.push_back(f.pointer);
  }
  if (!paths.empty()) s += " " + Join(paths, ", ");
  return s;
}

// resource → digest of what Git wants for it (a change resets its flapping state).
std::map<std::string, std::string> DesiredDigests(const engine::PlanInput& in) {
  std::map<std::string, std::string> out;
  for (const auto& a : in.apps) {
    out[engine::ResourceKey(model::ResourceKind::kMarathonApp, a.id)] =
        std::to_string(std::hash<std::string>{}(a.body.dump()));
  }
  for (const auto& k : in.kv) {
    std::string v = k.secret ? "secret:" + k.secret_source : "value:" + k.value.value_or("");
    out[engine::ResourceKey(model::ResourceKind::kConsulKv, k.key)] =
        std::to_string(std::hash<std::string>{}(v));
  }
  return out;
}

}  // namespace

std::vector<std::string> LeaveFlappingAlone(
    engine::PlanInput& in, const engine::Plan& plan,
    const std::function<RevertDecision(const std::string& resource)>& decide) {
  std::vector<std::string> left;
  for (const auto& a : plan.actions) {
    if (a.reason != engine::Reason::kDrifted || engine::IsModelAction(a.kind)) continue;
    if (a.service.empty()) continue;
    std::string resource = engine::ResourceKeyOf(a);
    if (decide(resource) == RevertDecision::kRevert) continue;
    model::PolicyBlock& b = in.policies.service_environments[{a.service, a.env}];
    (engine::IsAppAction(a.kind)   ? b.marathon_app
     : engine::IsJobAction(a.kind) ? b.chronos_job
                                   : b.consul_kv)
        .drift = model::DriftPolicy::kReport;
    left.push_back(resource);
  }
  return left;
}

// The `sync: auto` environments' source, with flapping resources left alone: before the
// workflow plans, each drift revert it would make is checked against the FlappingDetector
// once per reconcile; a refused one turns that service × environment × kind's drift policy to
// `report` for this plan (Git's own changes still apply; the drift stays reported).
class Worker::FlappingGuard : public engine::ReconcileSource {
 public:
  FlappingGuard(engine::ReconcileSource& inner, Worker& w) : inner_(inner), w_(w) {}
  Result<engine::Observation> Observe() override { return inner_.Observe(); }
  void DescribePlan(const engine::PlanInput& in, engine::Plan* plan) override {
    inner_.DescribePlan(in, plan);
  }
  engine::PlanInput PlanInputFor(engine::Observation&& latest, const std::string& compare_key,
                                 bool durable) override {
    engine::PlanInput in = inner_.PlanInputFor(std::move(latest), compare_key, durable);
    const auto now = std::chrono::system_clock::now();
    // Decided once per resource and reconcile (the workflow may plan more than once). A revert
    // is recorded only once the workflow applied it (Worker::Reconcile): one refused by the
    // safety rails or held back does not count.
    LeaveFlappingAlone(in, engine::MakePlan(in), [&](const std::string& resource) {
      auto it = decided_.find(resource);
      if (it == decided_.end()) {
        RevertDecision d = RevertDecision::kRevert;
        if (w_.flapping_.IsFlapping(resource)) {
          d = RevertDecision::kFlapping;
        } else if (w_.flapping_.RecentReverts(resource, now) >= w_.options_.flapping.max_reverts) {
          d = w_.flapping_.RecordRevert(resource, now);  // the one too many: kStartFlapping
        }
        it = decided_.emplace(resource, d).first;
        if (it->second == RevertDecision::kStartFlapping) {
          w_.Log("warn", "flapping: " + resource + " is left alone",
                 {{"resource", resource}, {"reverts", w_.options_.flapping.max_reverts}});
        }
      }
      return it->second;
    });
    return in;
  }

 private:
  engine::ReconcileSource& inner_;
  Worker& w_;
  std::map<std::string, RevertDecision> decided_;
};

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
    : source_(source), queue_(queue), options_(std::move(options)), flapping_(options_.flapping) {}

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

// What every run of the workflow here shares: the workspace's clients and store, the lock's
// own Consul client, the events sink, and the worker's stop flag as the interruption.
engine::ReconcileDeps BaseDeps(const workspace::Workspace& ws, engine::ReconcileSource& source,
                               const LockClient& lock, engine::ApplyEventSink& events,
                               const std::atomic<bool>& stop) {
  engine::ReconcileDeps deps;
  deps.source = &source;
  deps.marathon = ws.marathon.get();
  deps.consul = ws.consul.get();
  deps.chronos = ws.chronos.get();  // null without a Chronos endpoint (issue #16)
  deps.lock_consul = lock.consul.get();
  deps.store = ws.store.get();
  deps.events = &events;
  deps.interrupted = [&stop] { return stop.load(); };
  return deps;
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

void Worker::Report(RunReport& report) {
  report.flapping.clear();
  for (const auto& f : flapping_.List()) report.flapping.push_back(f.resource);
  if (options_.on_run) options_.on_run(report);
}

void Worker::SettleInterrupted(workspace::Workspace& ws, const workspace::TargetOptions& all) {
  auto open = ws.store->UnfinishedJournal();
  if (!open.ok() || open->empty()) return;
  Log("info", "settling an apply that was cut short", {{"entries", open->size()}});
  engine::ReconcileRequest rq = BaseRequest(ws, options_);
  workspace::WorkspaceSource src(ws, all);
  LockClient lock_client = NewLockClient(ws, rq.lock.ttl_seconds);
  EventSink sink(*this, 0);
  engine::ReconcileDeps deps = BaseDeps(ws, src, lock_client, sink, stop_);
  // Settled before the plan; the plan itself is never applied here (manual environments).
  deps.confirm = [](const engine::Plan&) { return false; };
  engine::ReconcileResult r = engine::Reconcile(rq, deps);
  Log(r.recovered > 0 ? "info" : "warn",
      "settled " + std::to_string(r.recovered) + " journal entries of an interrupted apply",
      {{"recovered", r.recovered}, {"outcome", engine::ReconcileOutcomeName(r.outcome)}});
}

void Worker::Reconcile(const PendingReconcile& p, bool leader) {
  const auto t0 = std::chrono::steady_clock::now();
  ++reconciles_;
  json run{{"started_at", Now()}, {"triggers", p.triggers}, {"leader", leader}};
  json kinds = json::array();
  for (auto k : p.kinds) kinds.push_back(TriggerKindName(k));
  run["trigger"] = kinds;
  RunReport report;
  report.leader = leader;
  report.failed = failed_;
  auto finish = [&](const std::string& outcome, const std::string& message) {
    run["outcome"] = outcome;
    if (!message.empty()) run["message"] = message;
    run["finished_at"] = Now();
    run["seconds"] = Since(t0);
    Log(outcome == "failed" ? "error" : "info", "reconcile " + outcome, run);
    RecordRun(run);
    report.seconds = Since(t0);
    if (report.result.empty()) report.result = outcome == "failed" ? "failed" : "no_changes";
    if (outcome == "failed") {
      report.ok = false;
      report.failed = failed_;
      if (!message.empty()) report.failed["(reconcile)"] = Truncate(message, 300);
    }
    Report(report);
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
  std::string apply_result;  // ServeMetrics' result of the workflow, when it ran
  std::map<std::string, std::string> failed = failed_;

  // 1. The `sync: auto` environments, through the workflow (the leader only).
  if (!auto_envs.empty() && leader) {
    const auto ta = std::chrono::steady_clock::now();
    workspace::TargetOptions scope = all;
    if (!manual_envs.empty()) scope.envs = auto_envs;
    ws->environments = auto_envs;
    engine::ReconcileRequest rq = BaseRequest(*ws, options_);
    workspace::WorkspaceSource inner(*ws, scope);
    FlappingGuard src(inner, *this);
    LockClient lock_client = NewLockClient(*ws, rq.lock.ttl_seconds);
    EventSink sink(*this, 0);
    engine::ReconcileDeps deps = BaseDeps(*ws, src, lock_client, sink, stop_);
    // `confirm` empty: approved (sync: auto).
    applying_ = true;
    engine::ReconcileResult r = engine::Reconcile(rq, deps);
    applying_ = false;
    report.apply_seconds = Since(ta);
    apply_result = ResultName(r.outcome);
    result["apply"] = {{"outcome", engine::ReconcileOutcomeName(r.outcome)},
                       {"actions", r.plan.actions.size()},
                       {"run_id", r.run_id},
                       {"recovered", r.recovered}};
    if (!r.message.empty()) result["apply"]["message"] = r.message;
    failed.erase("(reconcile)");
    if (r.outcome == engine::ReconcileOutcome::kFailed) {
      failed["(reconcile)"] = Truncate(r.message, 300);
    }
    if (r.applied) {
      std::map<std::string, const engine::Action*> by_id;
      for (const auto& a : r.plan.actions) by_id[a.id] = &a;
      for (const auto& o : r.applied->outcomes) {
        auto it = by_id.find(o.action_id);
        if (it == by_id.end()) continue;
        report.actions.emplace_back(engine::ActionKindName(it->second->kind), OutcomeName(o.state));
        std::string resource = engine::ResourceKeyOf(*it->second);
        if (o.state == engine::StepState::kFailed) {
          failed[resource] = Truncate(o.detail.empty() ? "failed" : o.detail, 300);
        } else if (o.state == engine::StepState::kApplied) {
          failed.erase(resource);
          if (it->second->reason == engine::Reason::kDrifted &&
              !engine::IsModelAction(it->second->kind)) {
            (void)flapping_.RecordRevert(resource, std::chrono::system_clock::now());
          }
        }
      }
    }
    ws->environments.clear();
    for (const auto& e : ws->state.platform.environments) ws->environments.push_back(e.name);
  } else if (leader && !stop_) {
    // No workflow ran, so nothing settled what a dead leader's apply left "started": a new
    // leader of a manual-only platform does it now rather than at the next apply.
    SettleInterrupted(*ws, all);
  }
  if (stop_) {
    run["result"] = result;
    report.result = apply_result.empty() ? "incomplete" : apply_result;
    return finish("interrupted", "");
  }

  // 2. One observation of every environment: status, drift, the manual environments' plan.
  // Recorded as `galley plan` records its run, with the trigger "serve".
  const auto tp = std::chrono::steady_clock::now();
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
    failed_ = failed;
    return finish("failed", observed.status().message());
  }
  engine::PlanInput& in = observed->in;
  // Someone acted: a Git change to a flapping resource ends its flapping.
  auto digests = DesiredDigests(in);
  for (const auto& f : flapping_.List()) {
    auto before = desired_digests_.find(f.resource);
    auto now = digests.find(f.resource);
    bool changed =
        before == desired_digests_.end() || now == digests.end() || before->second != now->second;
    if (changed && !desired_digests_.empty()) {
      flapping_.OnGitChange(f.resource);
      Log("info", "flapping ended: Git changed " + f.resource, {{"resource", f.resource}});
    }
  }
  desired_digests_ = std::move(digests);
  flapping_.Prune(std::chrono::system_clock::now());

  engine::Plan full = engine::MakePlan(in);
  (void)workspace::AnnotateFailures(*ws, full);  // an unreadable journal only loses the marks
  engine::StatusReport status = engine::BuildStatus(in, full);
  status.commit = ws->commit;
  status.galley_version = GALLEY_VERSION;
  status.checked_at = Now();
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

  // What the observers get: drift by environment and kind, drifted resources, failures no
  // longer planned (Git or someone fixed them) forgotten.
  report.observed = true;
  for (const auto& d : drift.drift) {
    report.drift_counts[{d.env, model::ResourceKindName(d.kind)}] += 1;
    report.drifted[d.resource] = DriftSummary(d);
  }
  std::set<std::string> planned;
  for (const auto& a : full.actions) planned.insert(engine::ResourceKeyOf(a));
  for (auto it = failed.begin(); it != failed.end();) {
    if (it->first != "(reconcile)" && !planned.count(it->first)) {
      it = failed.erase(it);
    } else {
      ++it;
    }
  }
  failed_ = failed;
  report.failed = failed;
  report.app_prefixes = in.app_prefixes;
  report.kv_prefixes = in.kv_prefixes;
  report.plan_seconds = Since(tp);

  json flapping = Flapping();
  json drift_json = engine::DriftToJson(drift);
  drift_json["flapping"] = flapping;
  json status_json = engine::StatusToJson(status);
  status_json["flapping"] = flapping;
  auto status_text = std::make_shared<const std::string>(engine::SafeDump(status_json, 2) + "\n");
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
  if (!apply_result.empty()) {
    report.result = apply_result;
  } else {
    report.result = plan_json["actions"].empty() ? "no_changes" : "planned";
  }
  report.ok = outcome == "ok";
  finish(outcome, "");
  ws_holder_ = std::move(ws);
}

json Worker::Flapping() const {
  json out = json::array();
  for (const auto& f : flapping_.List()) {
    out.push_back({{"resource", f.resource},
                   {"since", FormatTimestamp(f.since)},
                   {"reverts", f.reverts},
                   {"left_alone", true}});
  }
  return out;
}

std::vector<std::string> Worker::ClearFlapping(const std::string& resource) {
  std::vector<std::string> cleared;
  for (const auto& f : flapping_.List()) {
    if (!resource.empty() && f.resource != resource) continue;
    if (flapping_.Reset(f.resource)) cleared.push_back(f.resource);
  }
  if (!cleared.empty()) {
    Log("info", "flapping cleared by the API", {{"resources", cleared}});
    json flapping = Flapping();
    std::lock_guard<std::mutex> lock(mu_);
    if (drift_.is_object()) {
      drift_["flapping"] = flapping;
      shared_.drift = std::make_shared<const json>(drift_);
    }
    if (status_.is_object()) {
      status_["flapping"] = flapping;
      shared_.status = std::make_shared<const json>(status_);
      status_text_ = std::make_shared<const std::string>(engine::SafeDump(status_, 2) + "\n");
    }
    ChangedLocked(true);
  }
  return cleared;
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
  EventSink sink(*this, 0);
  engine::ReconcileDeps deps = BaseDeps(ws, src, lock_client, sink, stop_);
  Log("info", "applying plan " + plan_id, {{"plan_id", plan_id}, {"commit", commit}});
  const auto t0 = std::chrono::steady_clock::now();
  applying_ = true;
  engine::ReconcileResult r = engine::Reconcile(rq, deps);
  applying_ = false;
  RunReport report;
  report.leader = true;
  report.result = ResultName(r.outcome);
  report.ok = r.outcome == engine::ReconcileOutcome::kApplied ||
              r.outcome == engine::ReconcileOutcome::kNothingToDo;
  report.apply_seconds = Since(t0);
  report.seconds = report.apply_seconds;
  report.failed = failed_;
  if (r.applied) {
    std::map<std::string, const engine::Action*> by_id;
    for (const auto& a : r.plan.actions) by_id[a.id] = &a;
    for (const auto& o : r.applied->outcomes) {
      auto it = by_id.find(o.action_id);
      if (it == by_id.end()) continue;
      report.actions.emplace_back(engine::ActionKindName(it->second->kind), OutcomeName(o.state));
      std::string resource = engine::ResourceKeyOf(*it->second);
      if (o.state == engine::StepState::kFailed) {
        report.failed[resource] = Truncate(o.detail.empty() ? "failed" : o.detail, 300);
      } else if (o.state == engine::StepState::kApplied) {
        report.failed.erase(resource);
      }
    }
  }
  failed_ = report.failed;
  Report(report);
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
