// SPDX-License-Identifier: Apache-2.0
#include "engine/reconcile.h"

#include <cstdlib>
#include <set>
#include <utility>

#include "base/strings.h"
#include "base/time_text.h"
#include "base/uuid.h"
#include "engine/desired.h"
#include "engine/failed_deploys.h"
#include "engine/ownership.h"
#include "engine/restart.h"
#include "engine/run_history.h"
#include "engine/view_text.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

std::string Plural(size_t n, const char* one, const char* many) {
  return std::to_string(n) + (n == 1 ? one : many);
}

// One run of the workflow: what Reconcile() does, with the state its steps share.
class Workflow {
 public:
  Workflow(const ReconcileRequest& r, const ReconcileDeps& d) : r_(r), d_(d) {
    start_ = clock().Now();
  }

  ReconcileResult Run();

 private:
  // ---- events -------------------------------------------------------------------------

  void Emit(EventKind kind, std::string line) {
    if (!d_.events) return;
    ApplyEvent e;
    e.kind = kind;
    e.at = std::chrono::duration<double>(clock().Now() - start_).count();
    e.line = std::move(line);
    d_.events->On(e);
  }

  // RecoverInterrupted's follower reports the apps it follows with the executor's kinds;
  // here they are part of settling the journal, so they are passed on as kRecovered (the
  // typed fields kept), which the CLI prints without the executor's elapsed-time prefix.
  struct AsRecovered : ApplyEventSink {
    ApplyEventSink* inner = nullptr;
    void On(const ApplyEvent& event) override {
      ApplyEvent e = event;
      e.kind = EventKind::kRecovered;
      inner->On(e);
    }
  };

  // ---- the run's record ---------------------------------------------------------------

  bool interrupted() const { return d_.interrupted && d_.interrupted(); }

  void Finish(const std::string& outcome, const json& summary) {
    if (run_ > 0) (void)d_.store->FinishRun(run_, outcome, SafeDump(summary));
    // Consul keeps the platform's applies that tried something: those that started writing,
    // and those that failed while holding the lock (not the ones with nothing to do).
    if (history_started_ || (outcome != "ok" && outcome != "not-confirmed"))
      RecordOnPlatform(outcome, summary);
  }

  // Adds or updates this apply's entry in the platform's history in Consul
  // (engine/run_history.h). Only while this apply holds the platform lock, so another
  // apply's entry is never taken for a dead one.
  void RecordOnPlatform(const std::string& outcome, const json& summary) {
    if (!platform_history_ || !lock_ || lock_->lost()) return;
    if (outcome == "running") history_started_ = true;
    json e = history_entry_;
    e["outcome"] = outcome;
    if (outcome != "running") e["finished_at"] = FormatTimestamp(clock().WallNow());
    for (const char* k : {"applied", "failed", "not_attempted", "interrupted", "recovered"}) {
      if (summary.contains(k) && summary[k].is_number_integer()) e[k] = summary[k];
    }
    if (summary.contains("error") && summary["error"].is_string()) {
      e["error"] = summary["error"].get<std::string>().substr(0, 500);
    }
    Status s = platform_history_->Record(e);
    if (!s.ok())
      Emit(EventKind::kWarning, "warning: the platform's apply history in Consul: " + s.message());
  }

  // Ends the run with `outcome` and `message`, recorded as failed with `detail`.
  ReconcileResult Stop(ReconcileOutcome outcome, const std::string& message,
                       json detail = json::object()) {
    detail["error"] = message;
    Finish("failed", detail);
    result_.outcome = outcome;
    result_.message = message;
    return Done();
  }
  ReconcileResult Fail(const std::string& message) {
    return Stop(ReconcileOutcome::kFailed, message);
  }

  // Releases the lock (after the run is finished: the history entry is written under it).
  ReconcileResult Done() {
    lock_ = nullptr;
    if (lock_owner_) (void)lock_owner_->Release();
    lock_owner_.reset();
    result_.recovered = recovered_;
    result_.run_id = run_;
    result_.held_back = held_;
    return std::move(result_);
  }

  // ---- steps --------------------------------------------------------------------------

  std::optional<ReconcileResult> TakeLock();
  std::optional<ReconcileResult> MakeOrCheckPlan(Observation observed, bool key_exists,
                                                 const std::string& hmac_key);

  const ReconcileRequest& r_;
  const ReconcileDeps& d_;
  Clock& clock() const { return ClockOr(r_.apply.clock); }
  std::chrono::steady_clock::time_point start_;
  ReconcileResult result_;
  int64_t run_ = 0;
  int recovered_ = 0;
  std::unique_ptr<PlatformLock> lock_owner_;
  PlatformLock* lock_ = nullptr;  // while held
  std::unique_ptr<PlatformHistory> platform_history_;
  json history_entry_;
  bool history_started_ = false;
  std::vector<std::string> held_;
  std::map<std::string, int> apps_per_env_;
};

std::optional<ReconcileResult> Workflow::TakeLock() {
  LockOptions lo = r_.lock;
  lo.platform = r_.platform.name;
  clients::ConsulClient& lock_consul = d_.lock_consul ? *d_.lock_consul : *d_.consul;
  auto acquired = PlatformLock::Acquire(lock_consul, *d_.store, lo);
  if (!acquired.ok()) {
    bool held = acquired.status().code() == StatusCode::kConflict;
    return Stop(held ? ReconcileOutcome::kLockHeld : ReconcileOutcome::kFailed,
                acquired.status().message());
  }
  lock_owner_ = std::move(acquired).value();
  lock_ = lock_owner_.get();
  for (const auto& note : lock_->taken_over()) Emit(EventKind::kWarning, note);
  platform_history_ = std::make_unique<PlatformHistory>(*d_.consul, r_.platform.name,
                                                        r_.platform.history.platform_applies);
  history_entry_ = {{"id", RandomHex(8)},
                    {"run", run_},
                    {"who", r_.origin.who},
                    {"host", r_.host},
                    {"ci", r_.origin.ci},
                    {"ci_url", r_.origin.ci_url},
                    {"ci_commit", r_.origin.ci_commit},
                    {"commit", r_.commit},
                    {"started_at", FormatTimestamp(clock().WallNow())}};
  return std::nullopt;
}

// The plan of this run into result_.plan: made from `observed`, or the saved plan checked
// against it (stale: what it was planned against moved, or it was applied already).
std::optional<ReconcileResult> Workflow::MakeOrCheckPlan(Observation observed, bool key_exists,
                                                         const std::string& hmac_key) {
  Plan& plan = result_.plan;
  if (!r_.saved_plan) {
    PlanInput in = d_.source->PlanInputFor(std::move(observed), hmac_key, key_exists);
    if (r_.restart_service.empty()) {
      plan = MakePlan(in);
      if (d_.check_images && plan.errors.empty()) {
        if (Status s = d_.check_images(plan); !s.ok()) return Fail(s.message());
      }
      if (!plan.errors.empty()) return Fail(PlanErrorsMessage(plan));
    } else {
      auto restart = MakeRestartPlan(in, r_.restart_service);
      if (!restart.ok()) return Fail(restart.status().message());
      plan = std::move(restart).value();
    }
    d_.source->DescribePlan(in, &plan);
    if (Status s = AnnotateFailures(*d_.store, plan); !s.ok()) return Fail(s.message());
    plan.created_at = FormatTimestamp(clock().WallNow());
    apps_per_env_ = AppsPerEnvironment(plan, in.live);
    return std::nullopt;
  }
  plan = *r_.saved_plan;
  apps_per_env_ = AppsPerEnvironment(plan, observed.live);
  std::vector<std::string> stale = StaleReasons(plan, observed.live);
  if (auto applied = d_.store->PlanApplied(PlanDigest(plan)); applied.ok() && *applied) {
    stale.insert(stale.begin(), "the plan was already applied (" + **applied + ")");
  }
  if (!stale.empty()) {
    return Stop(
        ReconcileOutcome::kStalePlan,
        "the plan in " + r_.saved_plan_name + " is stale; plan again:\n  " + Join(stale, "\n  "),
        json{{"stale", true}});
  }
  if (d_.check_images) {
    // The images may have gone since the plan was made: checked on a copy, the plan applied
    // stays the one reviewed.
    Plan checked = plan;
    checked.errors.clear();
    if (Status s = d_.check_images(checked); !s.ok()) return Fail(s.message());
    if (!checked.errors.empty()) return Fail(PlanErrorsMessage(checked));
  }
  return std::nullopt;
}

ReconcileResult Workflow::Run() {
  const bool dry = r_.dry_run;
  const bool saved = r_.saved_plan.has_value();
  auto run = d_.store->BeginRun("apply", r_.trigger, r_.commit, r_.origin);
  if (!run.ok()) {
    result_.message = run.status().message();
    return Done();
  }
  run_ = *run;
  if (!dry) {
    if (auto stopped = TakeLock()) return std::move(*stopped);
  }

  auto observed = d_.source->Observe();
  if (!observed.ok()) return Fail(observed.status().message());
  for (const auto& w : observed->warnings) Emit(EventKind::kWarning, "warning: " + w);

  // The key KV values are recorded under and config digests made with. A platform without
  // one yet (nothing applied) is planned with a throwaway key; its key is created only once
  // the apply is confirmed, and the digests are computed then.
  const bool key_exists = !observed->hmac_key.empty();
  std::string hmac_key = key_exists ? observed->hmac_key : RandomHex(32);
  ApplyOptions ao = r_.apply;
  ao.interrupted = d_.interrupted;
  ao.events = d_.events;
  ApplyRecords records;
  records.store = dry ? nullptr : d_.store;
  records.run_id = run_;
  records.commit = r_.commit;
  records.who = OriginText(r_.origin.who, r_.origin.ci);
  records.applied_prefix = AppliedPrefix(r_.platform);
  records.hmac_key = hmac_key;
  records.consul_records = observed->applied_records;

  // What a crashed apply left "started" is settled against live before anything else.
  std::unique_ptr<ApplyTarget> client_target;
  std::unique_ptr<DryRunTarget> dry_target;
  ApplyTarget* target = d_.target;
  if (dry) {
    dry_target = std::make_unique<DryRunTarget>(observed->live);
    std::map<std::string, clients::ChronosJob> jobs;
    for (const auto& [name, body] : observed->live.jobs) {
      if (auto job = clients::ParseChronosJob(body); job.ok()) jobs[name] = std::move(*job);
    }
    dry_target->SetLiveJobs(std::move(jobs));
    target = dry_target.get();
  } else {
    if (!target) {
      client_target = NewClientTarget(*d_.marathon, *d_.consul, d_.chronos);
      target = client_target.get();
    }
    // Followed to the end even when interrupted (a second signal quits and leaves the
    // entries open): a follower stopped early would settle an entry as failed that may yet
    // succeed.
    ApplyOptions settle = ao;
    settle.interrupted = nullptr;
    AsRecovered as_recovered;
    as_recovered.inner = d_.events;
    settle.events = d_.events ? &as_recovered : nullptr;
    auto recovered = RecoverInterrupted(observed->live, *target, records, settle);
    if (!recovered.ok())
      return Fail("resolving an interrupted apply: " + recovered.status().message());
    for (const auto& line : *recovered) Emit(EventKind::kRecovered, "recovered: " + line);
    recovered_ = static_cast<int>(recovered->size());
    if (!recovered->empty()) {
      // The records changed: observe again so the plan starts from them.
      observed = d_.source->Observe();
      if (!observed.ok()) return Fail(observed.status().message());
    }
  }

  if (auto stopped = MakeOrCheckPlan(std::move(*observed), key_exists, hmac_key))
    return std::move(*stopped);
  Plan& plan = result_.plan;
  if (d_.show_plan) d_.show_plan(plan);
  if (!plan.HasChanges()) {
    Finish("ok", json{{"actions", 0},
                      {"applied", 0},
                      {"failed", 0},
                      {"not_attempted", 0},
                      {"recovered", recovered_}});
    result_.outcome = ReconcileOutcome::kNothingToDo;
    return Done();
  }
  // Every secret the apply reads, checked at once: all missing ones named in one run.
  if (auto unreadable = UnreadableSecrets(plan, r_.apply.read_secret); !unreadable.empty()) {
    return Fail(Plural(unreadable.size(), " secret", " secrets") +
                " cannot be read; nothing applied:\n  " + Join(unreadable, "\n  "));
  }
  // A change that failed to deploy last time is not redeployed by every periodic apply:
  // it is held (the rest applies) and the run exits 5. A saved plan applies whole or not
  // at all (it is what was reviewed), so there it is refused.
  Plan checked = plan;  // a saved plan is checked against the journal as it is now
  if (Status s = AnnotateFailures(*d_.store, checked); !s.ok()) return Fail(s.message());
  if (auto refused = RetryRefusals(checked); !refused.empty() && r_.retry_failed) {
    Emit(EventKind::kPhase, "Retrying " + Plural(refused.size(), " change", " changes") +
                                " that failed to deploy before (--retry-failed)");
  } else if (!refused.empty()) {
    held_ = saved ? refused : HoldFailed(plan);
    std::string msg =
        std::string("not retrying ") + (refused.size() == 1 ? "a change" : "changes") +
        " that failed to deploy (fix the desired state: any change to it is applied; or retry with "
        "--retry-failed):\n  " +
        Join(held_, "\n  ");
    Emit(EventKind::kWarning, msg);
    if (saved || !plan.HasChanges()) {
      Finish("failed", json{{"error", msg}, {"retry_refused", held_}});
      result_.outcome = ReconcileOutcome::kHeldBack;
      result_.message = msg;
      return Done();
    }
    Emit(EventKind::kPhase, "Held back " + Plural(held_.size(), " action", " actions") +
                                "; applying the other " + std::to_string(plan.actions.size()));
  }
  auto violations = SafetyViolations(plan, apps_per_env_);
  if (!violations.empty() && !r_.allow_large) {
    return Stop(
        ReconcileOutcome::kTooLarge,
        "refusing a large disruptive change without --allow-large:\n  " + Join(violations, "\n  "));
  }
  if (d_.confirm && !dry && !saved) {
    if (!d_.confirm(plan)) {
      Finish("not-confirmed", json{{"actions", plan.actions.size()}, {"cancelled", true}});
      result_.outcome = ReconcileOutcome::kNotConfirmed;
      result_.message = "not applied";
      return Done();
    }
    // Someone may have changed the platform while the plan was on screen: what the plan
    // was made against is checked again (Marathon has no compare-and-set).
    auto again = d_.source->Observe();
    if (!again.ok()) return Fail(again.status().message());
    std::vector<std::string> moved = StaleReasons(plan, again->live);
    if (!moved.empty()) {
      return Stop(ReconcileOutcome::kStalePlan,
                  "the platform changed while the plan waited for confirmation; nothing applied, "
                  "plan again:\n  " +
                      Join(moved, "\n  "),
                  json{{"stale", true}});
    }
  }
  std::string digest = PlanDigest(plan);
  if (!key_exists && !dry) {
    auto key = CreateHmacKey(*d_.consul, r_.platform);
    if (!key.ok()) return Fail("the platform's HMAC key: " + key.status().message());
    hmac_key = records.hmac_key = *key;
  }
  // A plan made before the platform had its HMAC key: the config digests are computed now.
  if (Status s = ResolveConfigDigests(plan, hmac_key, r_.apply.read_secret); !s.ok())
    return Fail(s.message());
  // The plan is saved (a saved plan file may already be: same digest) and marked applied
  // once the run has written something, so a plan refused by the safety rails, a missing
  // secret or a Marathon that took nothing can still be applied later.
  if (!dry) (void)d_.store->SavePlan(run_, SafeDump(PlanToJson(plan)), digest);
  if (interrupted()) return Fail("interrupted before anything was applied");

  PlatformLock* held = lock_;
  ao.should_stop = [held] { return held && held->lost(); };
  ao.before_write = [held] { return held ? held->Confirm() : Status::Ok(); };
  if (dry) {
    ao.poll_interval = std::chrono::milliseconds(0);
    std::string schedule =
        "\nDry run: nothing is sent. Schedule (each wave starts when what it depends on "
        "succeeded):\n";
    int n = 0;
    for (const auto& wave : ScheduleWaves(plan)) {
      schedule += "  wave " + std::to_string(++n) + ":\n";
      for (const auto& step : wave) schedule += "    " + step + "\n";
    }
    Emit(EventKind::kPhase, schedule);  // printed with its own blank line after it
  } else {
    history_entry_["actions"] = plan.actions.size();
    RecordOnPlatform("running", json::object());
    Emit(EventKind::kPhase, "\nApplying " + Plural(plan.actions.size(), " action", " actions") +
                                " (at most " + std::to_string(ao.concurrency) +
                                " at once, deadline " + std::to_string(ao.app_deadline.count()) +
                                " s per app)");
  }
  ApplyResult result = ExecutePlan(plan, *target, ao, records);
  if (!dry && result.applied + result.interrupted > 0) {
    Status marked = d_.store->MarkPlanApplied(digest, run_);
    if (!marked.ok()) Emit(EventKind::kWarning, "warning: " + marked.message());
  }
  if (dry) {
    std::string calls = "Calls that would be made:";
    for (const auto& c : dry_target->calls()) calls += "\n  " + c;
    Emit(EventKind::kPhase, calls);
  } else {
    // Drift that was reverted is resolved in the store.
    for (size_t i = 0; i < plan.actions.size(); ++i) {
      const auto& a = plan.actions[i];
      if (a.reason == Reason::kDrifted && result.outcomes[i].state == StepState::kApplied) {
        (void)d_.store->ResolveDrift(ResourceKeyOf(a), "reverted");
      }
    }
  }
  // An interrupted run keeps its open journal entries for the next apply to settle.
  std::string outcome = result.interrupted > 0 || interrupted() ? "interrupted"
                        : result.ok()                           ? "ok"
                        : result.applied > 0                    ? "partial"
                                                                : "failed";
  if (lock_ && lock_->lost())
    Emit(EventKind::kWarning, "the platform lock was lost: " + lock_->lost_reason());
  json summary = result.ToJson();
  summary["digest"] = digest;
  summary["dry_run"] = dry;
  summary["recovered"] = recovered_;
  if (!r_.restart_service.empty()) summary["restart"] = r_.restart_service;
  if (!held_.empty()) summary["retry_refused"] = held_;
  if (!held_.empty() && outcome == "ok") outcome = "partial";  // applied all but what was held
  Finish(dry ? "ok" : outcome, summary);  // while the lock is held: see RecordOnPlatform
  result_.outcome = result.ok() ? ReconcileOutcome::kApplied : ReconcileOutcome::kIncomplete;
  result_.summary = std::move(summary);
  result_.applied = std::move(result);
  return Done();
}

}  // namespace

const char* ReconcileOutcomeName(ReconcileOutcome o) {
  switch (o) {
    case ReconcileOutcome::kNothingToDo:
      return "nothing-to-do";
    case ReconcileOutcome::kApplied:
      return "applied";
    case ReconcileOutcome::kIncomplete:
      return "incomplete";
    case ReconcileOutcome::kFailed:
      return "failed";
    case ReconcileOutcome::kLockHeld:
      return "lock-held";
    case ReconcileOutcome::kStalePlan:
      return "stale-plan";
    case ReconcileOutcome::kHeldBack:
      return "held-back";
    case ReconcileOutcome::kTooLarge:
      return "too-large";
    case ReconcileOutcome::kNotConfirmed:
      return "not-confirmed";
  }
  return "unknown";
}

ReconcileResult Reconcile(const ReconcileRequest& request, const ReconcileDeps& deps) {
  return Workflow(request, deps).Run();
}

Result<std::string> CreateHmacKey(clients::ConsulClient& consul, const model::Platform& platform) {
  std::string key_path = HmacKeyKey(platform);
  ASSIGN_OR_RETURN(bool written, consul.PutKv(key_path, RandomHex(32), uint64_t{0}));
  (void)written;  // false: another run created it first; whichever is there is the key
  ASSIGN_OR_RETURN(auto entry, consul.GetKv(key_path));
  if (entry.value.empty()) return Status::Unavailable("consul: " + key_path + " is empty");
  return entry.value;
}

Status AnnotateFailures(store::StateStore& store, Plan& plan) {
  auto latest = store.LatestFinishedJournal(FailureResources(plan));
  if (!latest.ok()) return latest.status();
  AnnotateFailures(plan, *latest);
  return Status::Ok();
}

std::map<std::string, int> AppsPerEnvironment(const Plan& plan, const model::LiveState& live) {
  std::vector<std::string> prefixes;
  std::set<std::string> envs;
  for (const auto& a : plan.actions) {
    if (envs.insert(a.env).second && !a.env.empty()) prefixes.push_back(EnvAppPrefix(a.env));
  }
  std::map<std::string, int> out;
  for (const auto& [id, app] : live.apps) {
    std::string env = Owner(id, prefixes).first;
    if (!env.empty()) ++out[env];
  }
  return out;
}

}  // namespace galley::engine
