// SPDX-License-Identifier: Apache-2.0
// `galley apply [DIR]`: takes the platform lock, resolves what a crashed apply left behind,
// observes, makes sure the platform has its HMAC key, plans, shows the plan, asks (or
// --auto-approve), checks the safety rails, applies (engine/apply.h) and records the run.
// `galley apply PLANFILE [DIR]`: the same with a saved plan, refused (exit 1) when its
// signature does not verify with the platform key (it was edited), and (exit 4) when any
// token it was planned against moved, it was already applied, or DIR no longer declares the
// desired state it was made from.
// Exit codes (DESIGN §7.6): 0 all applied (or nothing to do), 1 error or partial, 3 lock
// held, 4 stale plan, 5 a change that failed to deploy last time was held back
// (engine/failed_deploys.h; the rest applied, a saved plan not at all; --retry-failed
// applies it). `galley restart` runs here too (cmd_restart.cc), with
// engine::MakeRestartPlan instead of the regular plan.
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <set>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <ostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/duration.h"
#include "base/file_io.h"
#include "base/strings.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/pipeline.h"
#include "engine/apply.h"
#include "engine/apply_lock.h"
#include "engine/desired.h"
#include "engine/failed_deploys.h"
#include "engine/plan.h"
#include "engine/run_history.h"
#include "engine/restart.h"
#include "engine/view_text.h"
#include "net/http_client.h"
#include "spec/loader.h"
#include "engine/planner.h"
#include "store/state_store.h"

namespace galley::cli {
namespace {

using engine::SafeDump;

namespace fs = std::filesystem;
using json = nlohmann::json;

struct Options {
  TargetOptions target;
  std::string plan_file;
  bool auto_approve = false, dry_run = false, force = false, rollback = false, allow_large = false;
  bool json = false, no_color = false, retry_failed = false;
  std::string restart_service;  // `galley restart SERVICE`
  std::chrono::milliseconds lock_timeout{0};
  std::chrono::seconds deadline{600};
  int concurrency = 16;
};

constexpr char kDurationExpected[] = "expected a duration such as 30s, 5m, 1h30m or 1h0m5s";

// A flag's duration: galley's one grammar (base/duration.h), as in the YAML files.
std::optional<std::chrono::seconds> FlagDuration(const std::string& s) {
  auto d = ParseDuration(s);
  if (!d.ok()) return std::nullopt;
  return *d;
}

CommandLine ApplyCommandLine(Options* o, std::vector<std::string>* positional) {
  CommandLine cl("apply", "[DIR | PLANFILE [DIR]] [options]",
                 "Makes the platform match the desired state in DIR (default: the current directory): takes\n"
                 "the platform lock, plans, shows the plan, asks for confirmation, applies it in dependency\n"
                 "order and waits for every Marathon deployment to finish and its tasks to be healthy.\n"
                 "With PLANFILE (from `galley plan --out`), applies exactly that plan without asking again (it\n"
                 "was reviewed when it was made). It is refused (exit 1) unless its signature verifies with the\n"
                 "platform key, and (exit 4) when anything it was planned against has moved or it was applied\n"
                 "already; with DIR too, DIR must still declare what the plan was made from (its commit may\n"
                 "differ). The plan's own endpoints are used unless flags, variables or DIR name others.");
  cl.Rest("DIR|PLANFILE", positional, 2);
  cl.Flag("--auto-approve", &o->auto_approve, "do not ask (required for DIR when there is no terminal)");
  cl.Flag("--dry-run", &o->dry_run, "walk the whole apply with nothing sent; print the schedule and the calls");
  cl.Flag("--force", &o->force, "supersede Marathon deployments that hold an app (default: wait for them)");
  cl.Flag("--rollback-on-failure", &o->rollback, "put a failed app back to the definition it had before");
  cl.Flag("--allow-large", &o->allow_large,
          "allow more deletes and restarts than the safety limit (max(10, 25% of an\n"
          "environment's apps); README, \"galley apply\")");
  cl.Custom(
      "--lock-timeout", "DUR",
      [o](const std::string& v) {
        auto d = FlagDuration(v);
        if (!d) return Status::InvalidArgument("--lock-timeout '" + v + "': " + kDurationExpected);
        o->lock_timeout = *d;
        return Status::Ok();
      },
      "wait up to DUR (e.g. 30s, 5m) for another apply to finish (default: 0)");
  cl.Custom(
      "--deadline", "DUR",
      [o](const std::string& v) {
        auto d = FlagDuration(v);
        if (!d) return Status::InvalidArgument("--deadline '" + v + "': " + kDurationExpected);
        o->deadline = std::max(std::chrono::seconds(1), *d);
        return Status::Ok();
      },
      "per-app deadline from write to healthy (default 10m)");
  cl.Custom(
      "--concurrency", "N",
      [o](const std::string& v) {
        auto n = ParsePositive(v, 256);
        if (!n) return Status::InvalidArgument("--concurrency '" + v + "': expected a number from 1 to 256");
        o->concurrency = static_cast<int>(*n);
        return Status::Ok();
      },
      "independent actions at once (default 16)");
  cl.Flag("--retry-failed", &o->retry_failed,
          "apply a change even though the same change failed to deploy last time");
  cl.Flag("--json", &o->json, "print the result as JSON");
  cl.Flag("--no-color", &o->no_color, "never colour the output");
  AddTargetOptions(cl, &o->target, {.rev = false});
  cl.Refuse("--rev", "is not supported; plan a revision with `galley plan --rev R --out FILE` and apply FILE");
  cl.Epilogue(
      "exit codes: 0 applied (or nothing to do), 1 error or partly applied, 3 lock held, 4 stale plan,\n"
      "            5 a change that failed to deploy last time was held back (the rest applied; a saved plan\n"
      "            not at all); --retry-failed applies it");
  return cl;
}

std::optional<Options> Parse(const Args& args, std::ostream& out, std::ostream& err, int* code) {
  Options o;
  std::vector<std::string> positional;
  if (auto exit = ApplyCommandLine(&o, &positional).ParseOrExit(args, out, err)) {
    *code = *exit;
    return std::nullopt;
  }
  // A regular file is a saved plan; a directory is a repository.
  std::error_code ec;
  if (!positional.empty() && fs::is_regular_file(positional[0], ec)) {
    o.plan_file = positional[0];
    if (positional.size() == 2) o.target.dir = positional[1];
    else o.target.dir.clear();
  } else if (positional.size() == 2) {
    err << "galley apply: " << positional[0] << " is not a plan file (a second argument is only for PLANFILE DIR)\n";
    *code = kExitError;
    return std::nullopt;
  } else if (!positional.empty()) {
    o.target.dir = positional[0];
  }
  if (o.json && !o.auto_approve && !o.dry_run && o.plan_file.empty()) {
    err << "galley apply: --json needs --auto-approve (the plan is not shown to confirm)\n";
    *code = kExitError;
    return std::nullopt;
  }
  if (!o.plan_file.empty() && (!o.target.envs.empty() || !o.target.targets.empty())) {
    err << "galley apply: --env and --target select what to plan; a saved plan is applied whole\n";
    *code = kExitError;
    return std::nullopt;
  }
  return o;
}

// Secrets at apply time, read exactly as the plan read them.
std::function<Result<std::string>(const std::string&)> SecretReader(const std::map<std::string, std::string>& env) {
  return [env](const std::string& source) { return engine::ReadSecret(source, env); };
}

// SIGINT/SIGTERM during an apply: the first asks it to stop starting actions and to stop
// waiting (what was written stays journaled as started, for the next apply to follow); a
// second one ends the process at once, which the journal survives as well.
std::atomic<int> g_interrupts{0};

void OnInterrupt(int) {
  if (g_interrupts.fetch_add(1) >= 1) ::_exit(130);
  static const char kMsg[] =
      "\ngalley apply: interrupted: starting nothing new and no longer waiting for deployments "
      "(again to quit at once)\n";
  ssize_t n = ::write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
  (void)n;
}

// Installs OnInterrupt for the life of the object, restoring the previous handlers.
class InterruptGuard {
 public:
  InterruptGuard() {
    g_interrupts = 0;
    struct sigaction sa {};
    sa.sa_handler = OnInterrupt;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
  }
  ~InterruptGuard() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  static bool interrupted() { return g_interrupts.load() > 0; }

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

bool Confirm(const engine::Plan& plan, std::ostream& out, std::ostream& err) {
  if (!::isatty(STDIN_FILENO)) {
    err << "galley apply: no terminal to confirm on; re-run with --auto-approve to apply without asking\n";
    return false;
  }
  out << "\nApply " << plan.actions.size() << (plan.actions.size() == 1 ? " action" : " actions") << " to platform '"
      << plan.platform << "'? Only 'yes' is accepted: " << std::flush;
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  while (!answer.empty() && (answer.back() == ' ' || answer.back() == '\r')) answer.pop_back();
  return answer == "yes";
}

class ApplyCommand {
 public:
  ApplyCommand(Options o, std::ostream& out, std::ostream& err) : o_(std::move(o)), out_(out), err_(err) {}

  int Run() {
    engine::Plan plan;
    if (!o_.plan_file.empty()) {
      if (int code = OpenSavedPlan(&plan); code != kExitOk) return code;
    } else {
      ws_ = OpenWorkspace(o_.target, "apply", err_, /*show_warnings=*/true);
      if (!ws_) return kExitError;
    }
    const std::string& platform = ws_->state.platform.name;
    const store::RunOrigin origin = Origin(ws_->env);
    if (!BeginRun(o_.plan_file.empty() ? ws_->commit : plan.commit)) return kExitError;

    // Installed before the lock is taken: Ctrl-C at the prompt or while waiting ends the
    // command through its normal path, which releases the lock.
    InterruptGuard interrupts;
    std::unique_ptr<engine::PlatformLock> lock;
    if (!o_.dry_run) {
      engine::LockOptions lo;
      lo.platform = platform;
      lo.holder = engine::LockHolderName(Who(ws_->env));
      lo.wait = o_.lock_timeout;
      // The lock talks to Consul through its own client: no retries and a timeout well under
      // the session TTL, so a renewal that cannot get through shows as a lost lock in time
      // (the retrying transport could block a renewal for longer than the TTL).
      net::HttpClientOptions http_options;
      http_options.ca_file = ws_->endpoints.consul.ca_file;
      lock_http_ = net::NewHttpClient(http_options);
      clients::ConsulClientOptions consul_options;
      consul_options.timeout = std::chrono::seconds(lo.ttl_seconds / 3);
      lock_consul_ = clients::NewConsulClient(ws_->endpoints.consul, lock_http_.get(), consul_options);
      auto acquired = engine::PlatformLock::Acquire(*lock_consul_, *ws_->store, lo);
      if (!acquired.ok()) {
        bool held = acquired.status().code() == StatusCode::kConflict;
        Finish("failed", json{{"error", acquired.status().message()}});
        err_ << "galley apply: " << acquired.status().message() << "\n";
        if (held) err_ << "galley apply: another apply is running; retry later, or wait with --lock-timeout\n";
        return held ? kExitLockHeld : kExitError;
      }
      lock = std::move(acquired).value();
      for (const auto& note : lock->taken_over()) err_ << "galley apply: " << note << "\n";
      lock_ = lock.get();
      platform_history_ = std::make_unique<engine::PlatformHistory>(*ws_->consul, platform,
                                                                    ws_->state.platform.history.platform_applies);
      history_entry_ = {{"id", RandomKey().substr(0, 16)},
                        {"run", run_},
                        {"who", origin.who},
                        {"host", Who(ws_->env)},
                        {"ci", origin.ci},
                        {"ci_url", origin.ci_url},
                        {"ci_commit", origin.ci_commit},
                        {"commit", o_.plan_file.empty() ? ws_->commit : plan.commit},
                        {"started_at", store::FormatTimestamp(std::chrono::system_clock::now())}};
    }

    auto observed = ObservePlatform(*ws_);
    if (!observed.ok()) return Fail(observed.status().message());
    for (const auto& w : observed->warnings) err_ << "galley apply: warning: " << w << "\n";

    // The key KV values are recorded under and config digests made with. A platform without
    // one yet (nothing applied) is planned with a throwaway key; its key is created only once
    // the apply is confirmed, and the digests are computed then.
    const bool key_exists = !observed->hmac_key.empty();
    std::string hmac_key = key_exists ? observed->hmac_key : RandomKey();
    engine::ApplyOptions ao;
    ao.concurrency = o_.concurrency;
    ao.app_deadline = o_.deadline;
    ao.force = o_.force;
    ao.rollback_on_failure = o_.rollback;
    ao.read_secret = SecretReader(ws_->env);
    ao.interrupted = [] { return InterruptGuard::interrupted(); };
    // Each event printed as the line it carries, after the elapsed time ("[   1.2s] ") for the
    // executor's; recovery's follower lines never had one. (The reconcile workflow's
    // renderer replaces this.)
    struct TextLines : engine::ApplyEventSink {
      std::function<std::ostream&()> out;
      bool stamped = true;
      void On(const engine::ApplyEvent& e) override {
        char at[24] = "";
        if (stamped) std::snprintf(at, sizeof at, "[%6.1fs] ", e.at);
        out() << at << e.line << "\n" << std::flush;
      }
    } stamped_lines, plain_lines;
    stamped_lines.out = plain_lines.out = [this]() -> std::ostream& { return info(); };
    plain_lines.stamped = false;
    ao.events = &stamped_lines;
    records_.store = o_.dry_run ? nullptr : ws_->store.get();
    records_.run_id = run_;
    records_.commit = o_.plan_file.empty() ? ws_->commit : plan.commit;
    records_.who = engine::OriginText(origin.who, origin.ci);
    records_.applied_prefix = engine::AppliedPrefix(ws_->state.platform);
    records_.hmac_key = hmac_key;
    for (const auto& [key, entry] : observed->applied_records) records_.consul_records[key] = entry.value;

    // What a crashed apply left "started" is settled against live before anything else.
    std::unique_ptr<engine::ApplyTarget> target;
    std::unique_ptr<engine::DryRunTarget> dry;
    if (o_.dry_run) {
      dry = std::make_unique<engine::DryRunTarget>(observed->live);
    } else {
      target = engine::NewClientTarget(*ws_->marathon, *ws_->consul);
      // Followed to the end even on Ctrl-C (a second one quits and leaves the entries open):
      // a follower stopped early would settle an entry as failed that may yet succeed.
      engine::ApplyOptions settle = ao;
      settle.interrupted = nullptr;
      settle.events = &plain_lines;
      auto recovered = engine::RecoverInterrupted(observed->live, *target, records_, settle);
      if (!recovered.ok()) return Fail("resolving an interrupted apply: " + recovered.status().message());
      for (const auto& line : *recovered) info() << "recovered: " << line << "\n";
      recovered_ = static_cast<int>(recovered->size());
      if (!recovered->empty()) {
        // The records changed: observe again so the plan starts from them.
        observed = ObservePlatform(*ws_);
        if (!observed.ok()) return Fail(observed.status().message());
      }
    }

    std::map<std::string, int> apps_per_env;
    for (const auto& [id, app] : observed->live.apps) {
      auto parts = Split(id, '/');  // "", "app", env, service
      if (parts.size() > 2) ++apps_per_env[parts[2]];
    }

    if (o_.plan_file.empty()) {
      engine::PlanInput in = BuildPlanInput(*ws_, o_.target, std::move(*observed), hmac_key, key_exists);
      if (o_.restart_service.empty()) {
        plan = engine::MakePlan(in);
        if (!plan.errors.empty()) return Fail(engine::PlanErrorsMessage(plan));
      } else {
        auto restart = engine::MakeRestartPlan(in, o_.restart_service);
        if (!restart.ok()) return Fail(restart.status().message());
        plan = std::move(*restart);
      }
      DescribePlan(*ws_, in, &plan);
      if (Status s = AnnotateFailures(*ws_, plan); !s.ok()) return Fail(s.message());
      plan.created_at = store::FormatTimestamp(std::chrono::system_clock::now());
    } else {
      std::vector<std::string> stale = engine::StaleReasons(plan, observed->live);
      std::string digest = engine::PlanDigest(plan);
      if (auto applied = ws_->store->PlanApplied(digest); applied.ok() && *applied) {
        stale.insert(stale.begin(), "the plan was already applied (" + **applied + ")");
      }
      if (!stale.empty()) {
        std::string msg = "the plan in " + o_.plan_file + " is stale; plan again:\n  " + Join(stale, "\n  ");
        Finish("failed", json{{"error", msg}, {"stale", true}});
        err_ << "galley apply: " << msg << "\n";
        return kExitStalePlan;
      }
    }

    bool color = !o_.json && UseColor(o_.no_color, ws_->env, out_);
    // A saved plan was reviewed when it was made (like `terraform apply PLANFILE`): it is
    // neither printed whole again nor confirmed.
    if (!o_.json && o_.plan_file.empty()) out_ << engine::RenderPlanText(plan, color);
    if (!o_.json && !o_.plan_file.empty()) {
      out_ << "Applying the saved plan " << o_.plan_file << " for platform " << plan.platform
           << (plan.commit.empty() ? "" : " at commit " + plan.commit) << ", made " << plan.created_at << ": "
           << plan.actions.size() << (plan.actions.size() == 1 ? " action" : " actions") << "\n";
    }
    if (!plan.HasChanges()) {
      Finish("ok", json{{"actions", 0}, {"applied", 0}, {"failed", 0}, {"not_attempted", 0}, {"recovered", recovered_}});
      if (o_.json) out_ << json{{"applied", 0}, {"failed", 0}, {"not_attempted", 0}, {"actions", json::array()}}.dump(2) << "\n";
      return kExitOk;
    }
    // Every secret the apply reads, checked at once: all missing ones named in one run.
    if (auto unreadable = engine::UnreadableSecrets(plan, SecretReader(ws_->env)); !unreadable.empty()) {
      return Fail(std::to_string(unreadable.size()) + (unreadable.size() == 1 ? " secret" : " secrets") +
                  " cannot be read; nothing applied:\n  " + Join(unreadable, "\n  "));
    }
    // A change that failed to deploy last time is not redeployed by every periodic apply:
    // it is held (the rest applies) and the run exits 5. A saved plan applies whole or not
    // at all (it is what was reviewed), so there it is refused.
    engine::Plan checked = plan;  // a saved plan is checked against the journal as it is now
    if (Status s = AnnotateFailures(*ws_, checked); !s.ok()) return Fail(s.message());
    if (auto refused = engine::RetryRefusals(checked); !refused.empty() && o_.retry_failed) {
      info() << "Retrying " << refused.size() << (refused.size() == 1 ? " change" : " changes")
             << " that failed to deploy before (--retry-failed)\n";
    } else if (!refused.empty()) {
      held_ = o_.plan_file.empty() ? engine::HoldFailed(plan) : refused;
      std::string msg = std::string("not retrying ") + (refused.size() == 1 ? "a change" : "changes") +
                        " that failed to deploy (fix the desired state: any change to it is applied; or retry with "
                        "--retry-failed):\n  " + Join(held_, "\n  ");
      err_ << "galley apply: " << msg << "\n";
      if (!o_.plan_file.empty() || !plan.HasChanges()) {
        Finish("failed", json{{"error", msg}, {"retry_refused", held_}});
        if (o_.json) {
          json answer{{"applied", 0}, {"failed", 0}, {"not_attempted", 0}, {"retry_refused", held_}};
          out_ << SafeDump(answer, 2) << "\n";
        }
        err_ << "galley apply: nothing applied\n";
        return kExitRetryRefused;
      }
      info() << "Held back " << held_.size() << (held_.size() == 1 ? " action" : " actions") << "; applying the other "
             << plan.actions.size() << "\n";
    }
    auto violations = engine::SafetyViolations(plan, apps_per_env);
    if (!violations.empty() && !o_.allow_large) {
      std::string msg = "refusing a large disruptive change without --allow-large:\n  " + Join(violations, "\n  ");
      return Fail(msg);
    }
    if (!o_.auto_approve && !o_.dry_run && o_.plan_file.empty()) {
      if (!Confirm(plan, out_, err_)) {
        Finish("not-confirmed", json{{"actions", plan.actions.size()}, {"cancelled", true}});
        err_ << "galley apply: not applied\n";
        return kExitError;
      }
      // Someone may have changed the platform while the plan was on screen: what the plan
      // was made against is checked again (Marathon has no compare-and-set).
      auto again = ObservePlatform(*ws_);
      if (!again.ok()) return Fail(again.status().message());
      std::vector<std::string> moved = engine::StaleReasons(plan, again->live);
      if (!moved.empty()) {
        std::string msg = "the platform changed while the plan waited for confirmation; nothing applied, plan again:\n  " +
                          Join(moved, "\n  ");
        Finish("failed", json{{"error", msg}, {"stale", true}});
        err_ << "galley apply: " << msg << "\n";
        return kExitStalePlan;
      }
    }
    std::string digest = engine::PlanDigest(plan);
    if (!key_exists && !o_.dry_run) {
      auto key = CreateHmacKey(*ws_);
      if (!key.ok()) return Fail("the platform's HMAC key: " + key.status().message());
      hmac_key = records_.hmac_key = *key;
    }
    // A plan made before the platform had its HMAC key: the config digests are computed now.
    if (Status s = engine::ResolveConfigDigests(plan, hmac_key, SecretReader(ws_->env)); !s.ok()) {
      return Fail(s.message());
    }
    // The plan is saved (a saved plan file may already be: same digest) and marked applied
    // once the run has written something, so a plan refused by the safety rails, a missing
    // secret or a Marathon that took nothing can still be applied later.
    if (!o_.dry_run) (void)ws_->store->SavePlan(run_, SafeDump(engine::PlanToJson(plan)), digest);
    if (InterruptGuard::interrupted()) return Fail("interrupted before anything was applied");

    engine::PlatformLock* held = lock.get();
    ao.should_stop = [held] { return held && held->lost(); };
    ao.before_write = [held] { return held ? held->Confirm() : Status::Ok(); };
    if (o_.dry_run) {
      ao.poll_interval = std::chrono::milliseconds(0);
      info() << "\nDry run: nothing is sent. Schedule (each wave starts when what it depends on succeeded):\n";
      int n = 0;
      for (const auto& wave : engine::ScheduleWaves(plan)) {
        info() << "  wave " << ++n << ":\n";
        for (const auto& step : wave) info() << "    " << step << "\n";
      }
      info() << "\n";
    } else {
      history_entry_["actions"] = plan.actions.size();
      RecordOnPlatform("running", json::object());
      info() << "\nApplying " << plan.actions.size() << (plan.actions.size() == 1 ? " action" : " actions")
           << " (at most " << ao.concurrency << " at once, deadline " << o_.deadline.count() << " s per app)\n";
    }
    engine::ApplyResult result =
        engine::ExecutePlan(plan, o_.dry_run ? *dry : *target, ao, records_);
    if (!o_.dry_run && result.applied + result.interrupted > 0) {
      Status marked = ws_->store->MarkPlanApplied(digest, run_);
      if (!marked.ok()) err_ << "galley apply: warning: " << marked.message() << "\n";
    }
    if (dry) {
      info() << "Calls that would be made:\n";
      for (const auto& c : dry->calls()) info() << "  " << c << "\n";
    }
    // Drift that was reverted is resolved in the store.
    if (!o_.dry_run) {
      for (size_t i = 0; i < plan.actions.size(); ++i) {
        const auto& a = plan.actions[i];
        if (a.reason == engine::Reason::kDrifted && result.outcomes[i].state == engine::StepState::kApplied) {
          (void)ws_->store->ResolveDrift(engine::ResourceKeyOf(a), "reverted");
        }
      }
    }
    // An interrupted run keeps its open journal entries for the next apply to settle.
    std::string outcome = result.interrupted > 0 || InterruptGuard::interrupted()
                              ? "interrupted"
                              : result.ok() ? "ok" : (result.applied > 0 ? "partial" : "failed");
    if (lock && lock->lost()) err_ << "galley apply: the platform lock was lost: " << lock->lost_reason() << "\n";
    json summary = result.ToJson();
    summary["digest"] = digest;
    summary["dry_run"] = o_.dry_run;
    summary["recovered"] = recovered_;
    if (!o_.restart_service.empty()) summary["restart"] = o_.restart_service;
    if (!held_.empty()) summary["retry_refused"] = held_;
    if (!held_.empty() && outcome == "ok") outcome = "partial";  // applied all but what was held
    Finish(o_.dry_run ? "ok" : outcome, summary);  // while the lock is held: see RecordOnPlatform
    lock_ = nullptr;
    if (lock) (void)lock->Release();
    if (o_.json) {
      out_ << SafeDump(summary, 2) << "\n";
    } else {
      if (o_.dry_run) {
        out_ << "\nDry run complete: " << result.applied << " of " << plan.actions.size()
             << " actions would be applied; nothing was sent.\n";
      } else {
        out_ << "\nApply complete: " << result.Summary();
        if (!held_.empty()) {
          out_ << "Held back (failed to deploy before; --retry-failed): " << Join(held_, "; ") << "\n";
        }
      }
    }
    if (!result.ok()) return kExitError;
    return held_.empty() ? kExitOk : kExitRetryRefused;
  }

 private:
  Result<json> LoadPlanDocument() {
    auto text = ReadFileBounded(o_.plan_file, 512u << 20);
    if (!text.ok()) return text.status();
    json doc = json::parse(*text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
      return Status::InvalidArgument(o_.plan_file + ": not a JSON plan (from `galley plan --out`)");
    }
    return doc;
  }

  bool BeginRun(const std::string& commit) {
    auto run = ws_->store->BeginRun("apply", "cli", commit, Origin(ws_->env));
    if (!run.ok()) {
      err_ << "galley apply: " << run.status().message() << "\n";
      return false;
    }
    run_ = *run;
    return true;
  }

  // A saved plan refused before anything was done: recorded as a failed run (the commit is
  // the file's claim, so none is recorded), printed, and `code` returned.
  int Refuse(const std::string& message, int code) {
    if (ws_ && BeginRun("")) {
      Finish("failed", json{{"error", message}, {"refused", true}, {"stale", code == kExitStalePlan}});
    }
    err_ << "galley apply: refusing " << o_.plan_file << ": " << message << "\n";
    return code;
  }

  // `apply PLANFILE [DIR]` up to the run: reads the file, opens the clients (endpoints from
  // flags, variables, DIR's galley.yaml, then the plan's own), checks the file's signature
  // with the platform key before anything else (exit 1), and with DIR that DIR still
  // declares the desired state the plan was made from (exit 4).
  int OpenSavedPlan(engine::Plan* plan) {
    auto doc = LoadPlanDocument();
    if (!doc.ok()) {
      err_ << "galley apply: " << doc.status().message() << "\n";
      return kExitError;
    }
    // Read (not trusted) until the signature is checked: which platform, which endpoints.
    auto claimed = engine::PlanFromJson(*doc);
    if (!claimed.ok()) {
      err_ << "galley apply: " << o_.plan_file << ": " << claimed.status().message() << "\n";
      return kExitError;
    }
    if (claimed->platform.empty()) {
      err_ << "galley apply: " << o_.plan_file << ": the plan names no platform\n";
      return kExitError;
    }
    // With DIR, its galley.yaml supplies the endpoints (after flags and environment
    // variables) and must be the same platform.
    model::Platform platform;
    std::optional<model::DesiredState> repo_state;
    if (!o_.target.dir.empty()) {
      spec::LoadResult repo = spec::LoadRepository(o_.target.dir);
      err_ << ErrorsOnly(repo.diags);  // the plan was reviewed with its warnings
      if (repo.diags.HasErrors()) {
        err_ << "galley apply: " << o_.target.dir << " is not valid; nothing done\n";
        return kExitError;
      }
      if (repo.state.platform.name != claimed->platform) {
        err_ << "galley apply: " << o_.plan_file << " is a plan for platform '" << claimed->platform << "', but "
             << repo.state.platform.file << " is platform '" << repo.state.platform.name << "'\n";
        return kExitError;
      }
      platform = repo.state.platform;
      repo_state = std::move(repo.state);
    }
    platform.name = claimed->platform;
    platform.environments.clear();
    for (const auto& e : claimed->environments) platform.environments.push_back(model::Environment{.name = e});
    clients::EndpointFlags saved;
    saved.fallback_marathon_urls = claimed->marathon_urls;
    saved.fallback_consul_url = claimed->consul_url;
    saved.fallback_source = o_.plan_file + ": endpoints";
    ws_ = OpenConnections(o_.target, &platform, "apply", err_, saved);
    if (!ws_) return kExitError;
    ws_->state.platform = platform;
    ws_->environments = claimed->environments;

    // The signature, before anything else. The key comes from GALLEY_HMAC_KEY, else from a
    // Consul the plan file does not name: a file naming its own Consul could vouch for itself.
    std::string key, key_source;
    if (ws_->env.count("GALLEY_HMAC_KEY") && !ws_->env.at("GALLEY_HMAC_KEY").empty()) {
      key = ws_->env.at("GALLEY_HMAC_KEY");
      key_source = "GALLEY_HMAC_KEY";
    } else if (ws_->endpoints.consul.source == saved.fallback_source) {
      return Refuse("its signature is checked with the platform key in Consul, and the only Consul named is the "
                    "plan's own (" + ws_->endpoints.consul.url + "), which cannot vouch for the plan: give --consul " +
                    ws_->endpoints.consul.url + " (or GALLEY_CONSUL_URL, CONSUL_HTTP_ADDR), the repository as DIR, "
                    "or set GALLEY_HMAC_KEY; nothing applied", kExitError);
    } else {
      std::string path = engine::HmacKeyKey(platform);
      auto entry = ws_->consul->GetKv(path);
      if (!entry.ok() && entry.status().code() == StatusCode::kNotFound) {
        return Refuse("platform '" + platform.name + "' has no HMAC key (" + path + " in Consul " +
                      ws_->endpoints.consul.url + "), so this plan was not signed by it; nothing applied", kExitError);
      }
      if (!entry.ok()) return Refuse("reading the platform key: " + entry.status().message(), kExitError);
      key = entry->value;
      key_source = "Consul " + ws_->endpoints.consul.url + " " + path;
    }
    if (Status verified = engine::VerifyPlanDocument(*doc, key, key_source); !verified.ok()) {
      return Refuse(verified.message() + "; nothing applied", kExitError);
    }
    *plan = std::move(claimed).value();

    if (repo_state) {
      // DIR must still declare what the plan was made from; its commit may differ (a merge
      // commit of the reviewed change), its rendered desired state may not.
      ws_->commit = GitCommit(o_.target.dir, "");
      engine::SecretResolver literals = [](const model::ConfigValue& v) -> std::optional<std::string> {
        if (v.secret()) return std::nullopt;
        return v.text;
      };
      engine::DesiredSet now = engine::BuildDesired(*repo_state, literals, "", {});
      std::set<std::string> targets(plan->targets.begin(), plan->targets.end());
      auto differences = engine::DesiredDifferences(
          plan->desired_digests, engine::DesiredDigests(now.apps, now.kv, plan->environments, targets));
      if (!differences.empty()) {
        auto at = [](const std::string& commit, const std::string& tree) {
          return commit.empty() ? std::string("no Git commit")
                                : "commit " + commit + (tree.empty() ? "" : ", tree " + tree);
        };
        std::string dir_tree = ws_->commit.empty() ? "" : GitTree(o_.target.dir, "");
        return Refuse("the plan is stale: " + o_.target.dir + " does not declare what it was made from (planned at " +
                          at(plan->commit, plan->tree) + "; " + o_.target.dir + " is at " +
                          at(ws_->commit, dir_tree) + "); plan again:\n  " + Join(differences, "\n  "),
                      kExitStalePlan);
      }
    }
    return kExitOk;
  }

  // Human lines: stdout, or stderr when stdout carries --json.
  std::ostream& info() { return o_.json ? err_ : out_; }

  void Finish(const std::string& outcome, const json& summary) {
    if (ws_ && run_ > 0) (void)ws_->store->FinishRun(run_, outcome, SafeDump(summary));
    // Consul keeps the platform's applies that tried something: those that started writing,
    // and those that failed while holding the lock (not the ones with nothing to do).
    if (history_started_ || (outcome != "ok" && outcome != "not-confirmed")) RecordOnPlatform(outcome, summary);
  }

  // Adds or updates this apply's entry in the platform's history in Consul
  // (engine/run_history.h). Only while this apply holds the platform lock, so another
  // apply's entry is never taken for a dead one.
  void RecordOnPlatform(const std::string& outcome, const json& summary) {
    if (!platform_history_ || !lock_ || lock_->lost()) return;
    if (outcome == "running") history_started_ = true;
    json e = history_entry_;
    e["outcome"] = outcome;
    if (outcome != "running") e["finished_at"] = store::FormatTimestamp(std::chrono::system_clock::now());
    for (const char* k : {"applied", "failed", "not_attempted", "interrupted", "recovered"}) {
      if (summary.contains(k) && summary[k].is_number_integer()) e[k] = summary[k];
    }
    if (summary.contains("error") && summary["error"].is_string()) {
      e["error"] = summary["error"].get<std::string>().substr(0, 500);
    }
    Status s = platform_history_->Record(e);
    if (!s.ok()) err_ << "galley apply: warning: the platform's apply history in Consul: " << s.message() << "\n";
  }

  int Fail(const std::string& message) {
    Finish("failed", json{{"error", message}});
    err_ << "galley apply: " << message << "\n";
    return kExitError;
  }

  Options o_;
  std::ostream& out_;
  std::ostream& err_;
  std::unique_ptr<Workspace> ws_;
  std::unique_ptr<net::HttpClient> lock_http_;            // outlive the lock
  std::unique_ptr<clients::ConsulClient> lock_consul_;
  int64_t run_ = 0;
  int recovered_ = 0;  // journal entries of interrupted runs settled first
  engine::PlatformLock* lock_ = nullptr;  // while held
  std::unique_ptr<engine::PlatformHistory> platform_history_;
  json history_entry_;
  bool history_started_ = false;
  std::vector<std::string> held_;  // changes not retried (failed to deploy before), one line each
  engine::ApplyRecords records_;
};

}  // namespace

int RunApplyRestart(const std::string& service, const Args& args, std::ostream& out, std::ostream& err) {
  try {
    int code = kExitError;
    // apply's options, reported under restart's name.
    std::ostringstream parse_err;
    auto o = Parse(args, out, parse_err, &code);
    std::string text = parse_err.str();
    for (size_t at = text.find("galley apply"); at != std::string::npos; at = text.find("galley apply", at)) {
      text.replace(at, 12, "galley restart");
    }
    err << text;
    if (!o) return code;
    if (!o->plan_file.empty()) {
      err << "galley restart: " << o->plan_file << " is a file; restart takes the repository directory\n";
      return kExitError;
    }
    o->restart_service = service;
    return ApplyCommand(std::move(*o), out, err).Run();
  } catch (const std::exception& e) {
    err << "galley restart: internal error: " << e.what() << "\n";
    return kExitError;
  }
}

int RunApply(const Args& args, std::ostream& out, std::ostream& err) {
  try {
    int code = kExitError;
    auto o = Parse(args, out, err, &code);
    if (!o) return code;
    return ApplyCommand(std::move(*o), out, err).Run();
  } catch (const std::exception& e) {
    err << "galley apply: internal error: " << e.what() << "\n";
    return kExitError;
  }
}

}  // namespace galley::cli
