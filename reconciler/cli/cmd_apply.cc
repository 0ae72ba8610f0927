// SPDX-License-Identifier: Apache-2.0
// `galley apply [DIR]` and `galley apply PLANFILE [DIR]`: a thin shell over the engine's
// reconcile workflow (engine/reconcile.h: the lock, recovery, plan or stale check, safety
// rails, execute, records). This file parses the options, opens the workspace, reads and
// verifies a saved plan (refused, exit 1, when its signature does not verify with the
// platform key; exit 4 when DIR no longer declares the desired state it was made from),
// asks for confirmation on the terminal, shows the plan and the workflow's events (text or
// JSON lines: cli/event_render.h) and turns the outcome into output and an exit code.
// Exit codes (DESIGN §7.6): 0 all applied (or nothing to do), 1 error or partial, 3 lock
// held, 4 stale plan, 5 a change that failed to deploy last time was held back
// (engine/failed_deploys.h; the rest applied, a saved plan not at all; --retry-failed
// applies it). `galley restart` runs here too (cmd_restart.cc), with
// engine::MakeRestartPlan instead of the regular plan.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <signal.h>
#include <unistd.h>

#include "base/duration.h"
#include "base/file_io.h"
#include "base/strings.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/event_render.h"
#include "cli/image_check.h"
#include "cli/pipeline.h"
#include "engine/apply_lock.h"
#include "engine/desired.h"
#include "engine/lb_models.h"
#include "engine/plan.h"
#include "engine/reconcile.h"
#include "engine/view_text.h"
#include "net/http_client.h"
#include "spec/loader.h"
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
  ImageCheckOptions images;
  ProgressFormat progress = ProgressFormat::kText;
  std::string restart_service;  // `galley restart SERVICE`
  std::chrono::milliseconds lock_timeout{0};
  std::chrono::seconds deadline{600};
  std::chrono::seconds hook_deadline{600};  // per pre-/post-deploy hook run (issue #16)
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
  CommandLine cl(
      "apply", "[DIR | PLANFILE [DIR]] [options]",
      "Makes the platform match the desired state in DIR (default: the current directory): takes\n"
      "the platform lock, plans, shows the plan, asks for confirmation, applies it in dependency\n"
      "order and waits for every Marathon deployment to finish and its tasks to be healthy.\n"
      "With PLANFILE (from `galley plan --out`), applies exactly that plan without asking again "
      "(it\n"
      "was reviewed when it was made). It is refused (exit 1) unless its signature verifies with "
      "the\n"
      "platform key, and (exit 4) when anything it was planned against has moved or it was "
      "applied\n"
      "already; with DIR too, DIR must still declare what the plan was made from (its commit may\n"
      "differ). The plan's own endpoints are used unless flags, variables or DIR name others.");
  cl.Rest("DIR|PLANFILE", positional, 2);
  cl.Flag("--auto-approve", &o->auto_approve,
          "do not ask (required for DIR when there is no terminal)");
  cl.Flag("--dry-run", &o->dry_run,
          "walk the whole apply with nothing sent; print the schedule and the calls");
  cl.Flag("--force", &o->force,
          "supersede Marathon deployments that hold an app (default: wait for them)");
  cl.Flag("--rollback-on-failure", &o->rollback,
          "put a failed app back to the definition it had before");
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
      "--hook-deadline", "DUR",
      [o](const std::string& v) {
        auto d = FlagDuration(v);
        if (!d) return Status::InvalidArgument("--hook-deadline '" + v + "': " + kDurationExpected);
        o->hook_deadline = std::max(std::chrono::seconds(1), *d);
        return Status::Ok();
      },
      "per pre-/post-deploy hook: from starting its Chronos job to its success or failure\n"
      "(default 10m)");
  cl.Flag("--skip-hooks", &o->target.skip_hooks,
          "emergencies: run no pre-/post-deploy hook (none is planned; a saved plan's hooks\n"
          "are skipped) and deploy the apps anyway");
  cl.Custom(
      "--concurrency", "N",
      [o](const std::string& v) {
        auto n = ParsePositive(v, 256);
        if (!n)
          return Status::InvalidArgument("--concurrency '" + v +
                                         "': expected a number from 1 to 256");
        o->concurrency = static_cast<int>(*n);
        return Status::Ok();
      },
      "independent actions at once (default 16)");
  cl.Flag("--retry-failed", &o->retry_failed,
          "apply a change even though the same change failed to deploy last time");
  cl.Flag("--json", &o->json, "print the result as JSON");
  cl.Custom(
      "--progress", "FORMAT",
      [o](const std::string& v) {
        if (v == "text")
          o->progress = ProgressFormat::kText;
        else if (v == "json")
          o->progress = ProgressFormat::kJson;
        else
          return Status::InvalidArgument("--progress '" + v + "': expected text or json");
        return Status::Ok();
      },
      "progress as text lines (default) or as JSON lines on stderr, one object per event");
  cl.Flag("--no-color", &o->no_color, "never colour the output");
  AddImageCheckOptions(cl, &o->images);
  AddTargetOptions(cl, &o->target, {.rev = false});
  cl.Refuse(
      "--rev",
      "is not supported; plan a revision with `galley plan --rev R --out FILE` and apply FILE");
  cl.Epilogue(
      "exit codes: 0 applied (or nothing to do), 1 error or partly applied, 3 lock held, 4 stale "
      "plan,\n"
      "            5 a change that failed to deploy last time was held back (the rest applied; a "
      "saved plan\n"
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
    if (positional.size() == 2)
      o.target.dir = positional[1];
    else
      o.target.dir.clear();
  } else if (positional.size() == 2) {
    err << "galley apply: " << positional[0]
        << " is not a plan file (a second argument is only for PLANFILE DIR)\n";
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
std::function<Result<std::string>(const std::string&)> SecretReader(
    const std::map<std::string, std::string>& env) {
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
  struct sigaction old_int_ {
  }, old_term_{};
};

bool Confirm(const engine::Plan& plan, std::ostream& out, std::ostream& err) {
  if (!::isatty(STDIN_FILENO)) {
    err << "galley apply: no terminal to confirm on; re-run with --auto-approve to apply without "
           "asking\n";
    return false;
  }
  out << "\nApply " << plan.actions.size() << (plan.actions.size() == 1 ? " action" : " actions")
      << " to platform '" << plan.platform << "'? Only 'yes' is accepted: " << std::flush;
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  while (!answer.empty() && (answer.back() == ' ' || answer.back() == '\r')) answer.pop_back();
  return answer == "yes";
}

class ApplyCommand {
 public:
  ApplyCommand(Options o, std::ostream& out, std::ostream& err)
      : o_(std::move(o)), out_(out), err_(err) {}

  // Opens the workspace (or reads the saved plan), then runs engine::Reconcile and shows
  // what it reports: the plan, the events, the outcome as text or JSON and an exit code.
  int Run() {
    engine::Plan saved;
    if (!o_.plan_file.empty()) {
      if (int code = OpenSavedPlan(&saved); code != kExitOk) return code;
    } else {
      ws_ = OpenWorkspace(o_.target, "apply", err_, /*show_warnings=*/true);
      if (!ws_) return kExitError;
    }

    engine::ReconcileRequest rq;
    rq.platform = ws_->state.platform;
    rq.commit = o_.plan_file.empty() ? ws_->commit : saved.commit;
    rq.origin = Origin(ws_->env);
    rq.host = Who(ws_->env);
    if (!o_.plan_file.empty()) {
      rq.saved_plan = std::move(saved);
      rq.saved_plan_name = o_.plan_file;
    }
    rq.restart_service = o_.restart_service;
    rq.dry_run = o_.dry_run;
    rq.allow_large = o_.allow_large;
    rq.retry_failed = o_.retry_failed;
    rq.lock.holder = engine::LockHolderName(Who(ws_->env));
    rq.lock.wait = o_.lock_timeout;
    rq.apply.concurrency = o_.concurrency;
    rq.apply.app_deadline = o_.deadline;
    rq.apply.hook_deadline = o_.hook_deadline;
    rq.apply.skip_hooks = o_.target.skip_hooks;
    rq.apply.force = o_.force;
    rq.apply.rollback_on_failure = o_.rollback;
    rq.apply.read_secret = SecretReader(ws_->env);

    workspace::WorkspaceSource source(*ws_, o_.target);
    engine::ReconcileDeps deps;
    deps.source = &source;
    deps.marathon = ws_->marathon.get();
    deps.consul = ws_->consul.get();
    deps.chronos = ws_->chronos.get();  // null without a Chronos endpoint
    deps.store = ws_->store.get();
    std::unique_ptr<net::HttpClient> lock_http;  // outlive the lock, which Reconcile releases
    std::unique_ptr<clients::ConsulClient> lock_consul;
    if (!o_.dry_run) {
      // The lock talks to Consul through its own client: no retries and a timeout well under
      // the session TTL, so a renewal that cannot get through shows as a lost lock in time
      // (the retrying transport could block a renewal for longer than the TTL).
      net::HttpClientOptions http_options;
      http_options.ca_file = ws_->endpoints.consul.ca_file;
      lock_http = net::NewHttpClient(http_options);
      clients::ConsulClientOptions consul_options;
      consul_options.timeout = std::chrono::seconds(rq.lock.ttl_seconds / 3);
      lock_consul =
          clients::NewConsulClient(ws_->endpoints.consul, lock_http.get(), consul_options);
      deps.lock_consul = lock_consul.get();
    }
    deps.show_plan = [this](const engine::Plan& plan) { ShowPlan(plan); };
    if (!o_.auto_approve)
      deps.confirm = [this](const engine::Plan& plan) { return Confirm(plan, out_, err_); };
    TextEventSink text(info(), err_);
    JsonEventSink json_lines(err_);
    deps.events = o_.progress == ProgressFormat::kJson
                      ? static_cast<engine::ApplyEventSink*>(&json_lines)
                      : &text;
    deps.interrupted = [] { return InterruptGuard::interrupted(); };
    auto image_check = MakeImageCheck(ws_->state.platform, o_.images, ws_->env);
    if (!image_check.ok()) {
      err_ << "galley apply: " << image_check.status().message() << "\n";
      return kExitError;
    }
    deps.check_images = *image_check;

    // Installed before the lock is taken: Ctrl-C at the prompt or while waiting ends the
    // command through its normal path, which releases the lock.
    InterruptGuard interrupts;
    engine::ReconcileResult r = engine::Reconcile(rq, deps);
    return Report(r);
  }

 private:
  // A saved plan was reviewed when it was made (like `terraform apply PLANFILE`): it is
  // neither printed whole again nor confirmed.
  void ShowPlan(const engine::Plan& plan) {
    if (o_.json) return;
    if (o_.plan_file.empty()) {
      out_ << engine::RenderPlanText(plan, UseColor(o_.no_color, ws_->env, out_));
    } else {
      out_ << "Applying the saved plan " << o_.plan_file << " for platform " << plan.platform
           << (plan.commit.empty() ? "" : " at commit " + plan.commit) << ", made "
           << plan.created_at << ": " << plan.actions.size()
           << (plan.actions.size() == 1 ? " action" : " actions") << "\n";
    }
  }

  // The outcome as the user sees it (DESIGN §7.6 exit codes).
  int Report(const engine::ReconcileResult& r) {
    using engine::ReconcileOutcome;
    switch (r.outcome) {
      case ReconcileOutcome::kNothingToDo:
        if (o_.json) {
          out_ << json{{"applied", 0},
                       {"failed", 0},
                       {"not_attempted", 0},
                       {"actions", json::array()}}
                      .dump(2)
               << "\n";
        }
        return kExitOk;
      case ReconcileOutcome::kFailed:
      case ReconcileOutcome::kTooLarge:
        err_ << "galley apply: " << r.message << "\n";
        return kExitError;
      case ReconcileOutcome::kLockHeld:
        err_ << "galley apply: " << r.message << "\n";
        err_
            << "galley apply: another apply is running; retry later, or wait with --lock-timeout\n";
        return kExitLockHeld;
      case ReconcileOutcome::kStalePlan:
        err_ << "galley apply: " << r.message << "\n";
        return kExitStalePlan;
      case ReconcileOutcome::kHeldBack:  // the reason was shown as a warning event
        if (o_.json) {
          json answer{
              {"applied", 0}, {"failed", 0}, {"not_attempted", 0}, {"retry_refused", r.held_back}};
          out_ << SafeDump(answer, 2) << "\n";
        }
        err_ << "galley apply: nothing applied\n";
        return kExitRetryRefused;
      case ReconcileOutcome::kNotConfirmed:
        err_ << "galley apply: " << r.message << "\n";
        return kExitError;
      case ReconcileOutcome::kApplied:
      case ReconcileOutcome::kIncomplete:
        break;
    }
    const engine::ApplyResult& result = *r.applied;
    if (o_.json) {
      out_ << SafeDump(r.summary, 2) << "\n";
    } else if (o_.dry_run) {
      out_ << "\nDry run complete: " << result.applied << " of " << r.plan.actions.size()
           << " actions would be applied; nothing was sent.\n";
    } else {
      out_ << "\nApply complete: " << result.Summary();
      if (!r.held_back.empty()) {
        out_ << "Held back (failed to deploy before; --retry-failed): " << Join(r.held_back, "; ")
             << "\n";
      }
    }
    if (!result.ok()) return kExitError;
    return r.held_back.empty() ? kExitOk : kExitRetryRefused;
  }

  Result<json> LoadPlanDocument() {
    auto text = ReadFileBounded(o_.plan_file, 512u << 20);
    if (!text.ok()) return text.status();
    json doc = json::parse(*text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
      return Status::InvalidArgument(o_.plan_file + ": not a JSON plan (from `galley plan --out`)");
    }
    return doc;
  }

  // A saved plan refused before anything was done: recorded as a failed run (the commit is
  // the file's claim, so none is recorded), printed, and `code` returned.
  int Refuse(const std::string& message, int code) {
    if (ws_) {
      auto run = ws_->store->BeginRun("apply", "cli", "", Origin(ws_->env));
      if (run.ok()) {
        json summary{{"error", message}, {"refused", true}, {"stale", code == kExitStalePlan}};
        (void)ws_->store->FinishRun(*run, "failed", SafeDump(summary));
      } else {
        err_ << "galley apply: " << run.status().message() << "\n";
      }
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
        err_ << "galley apply: " << o_.plan_file << " is a plan for platform '" << claimed->platform
             << "', but " << repo.state.platform.file << " is platform '"
             << repo.state.platform.name << "'\n";
        return kExitError;
      }
      platform = repo.state.platform;
      repo_state = std::move(repo.state);
    }
    platform.name = claimed->platform;
    platform.environments.clear();
    for (const auto& e : claimed->environments)
      platform.environments.push_back(model::Environment{.name = e});
    clients::EndpointFlags saved;
    saved.fallback_marathon_urls = claimed->marathon_urls;
    saved.fallback_consul_url = claimed->consul_url;
    saved.fallback_chronos_url = claimed->chronos_url;
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
      return Refuse(
          "its signature is checked with the platform key in Consul, and the only Consul named is "
          "the "
          "plan's own (" +
              ws_->endpoints.consul.url + "), which cannot vouch for the plan: give --consul " +
              ws_->endpoints.consul.url +
              " (or GALLEY_CONSUL_URL, CONSUL_HTTP_ADDR), the repository as DIR, "
              "or set GALLEY_HMAC_KEY; nothing applied",
          kExitError);
    } else {
      std::string path = engine::HmacKeyKey(platform);
      auto entry = ws_->consul->GetKv(path);
      if (!entry.ok() && entry.status().code() == StatusCode::kNotFound) {
        return Refuse("platform '" + platform.name + "' has no HMAC key (" + path + " in Consul " +
                          ws_->endpoints.consul.url +
                          "), so this plan was not signed by it; nothing applied",
                      kExitError);
      }
      if (!entry.ok())
        return Refuse("reading the platform key: " + entry.status().message(), kExitError);
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
      engine::SecretResolver literals =
          [](const model::ConfigValue& v) -> std::optional<std::string> {
        if (v.secret()) return std::nullopt;
        return v.text;
      };
      engine::DesiredSet now = engine::BuildDesired(*repo_state, literals, "", {});
      std::set<std::string> targets(plan->targets.begin(), plan->targets.end());
      auto differences = engine::DesiredDifferences(
          plan->desired_digests,
          engine::DesiredDigests(now.apps, now.kv, plan->environments, targets,
                                 engine::DesiredModels(*repo_state)));
      if (!differences.empty()) {
        auto at = [](const std::string& commit, const std::string& tree) {
          return commit.empty() ? std::string("no Git commit")
                                : "commit " + commit + (tree.empty() ? "" : ", tree " + tree);
        };
        std::string dir_tree = ws_->commit.empty() ? "" : GitTree(o_.target.dir, "");
        return Refuse("the plan is stale: " + o_.target.dir +
                          " does not declare what it was made from (planned at " +
                          at(plan->commit, plan->tree) + "; " + o_.target.dir + " is at " +
                          at(ws_->commit, dir_tree) + "); plan again:\n  " +
                          Join(differences, "\n  "),
                      kExitStalePlan);
      }
    }
    return kExitOk;
  }

  // Human lines: stdout, or stderr when stdout carries --json.
  std::ostream& info() { return o_.json ? err_ : out_; }

  Options o_;
  std::ostream& out_;
  std::ostream& err_;
  std::unique_ptr<Workspace> ws_;
};

}  // namespace

int RunApplyRestart(const std::string& service, const Args& args, std::ostream& out,
                    std::ostream& err) {
  try {
    int code = kExitError;
    // apply's options, reported under restart's name.
    std::ostringstream parse_err;
    auto o = Parse(args, out, parse_err, &code);
    std::string text = parse_err.str();
    for (size_t at = text.find("galley apply"); at != std::string::npos;
         at = text.find("galley apply", at)) {
      text.replace(at, 12, "galley restart");
    }
    err << text;
    if (!o) return code;
    if (!o->plan_file.empty()) {
      err << "galley restart: " << o->plan_file
          << " is a file; restart takes the repository directory\n";
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
