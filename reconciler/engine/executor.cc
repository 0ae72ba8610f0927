// SPDX-License-Identifier: Apache-2.0
// The executor (engine/apply.h): runs a plan's steps (engine/step_graph.h) on a bounded pool
// of workers, journals and records each action (engine/recorder.h), follows deployments
// (engine/follower.h) and reports typed events (engine/events.h).
#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <sstream>
#include <thread>

#include "base/digest.h"
#include "base/strings.h"
#include "engine/apply.h"
#include "engine/apply_checks.h"
#include "engine/failed_deploys.h"
#include "engine/follower.h"
#include "engine/job_steps.h"
#include "engine/normalize.h"
#include "engine/recorder.h"
#include "engine/step_graph.h"
#include "engine/view_text.h"
#include "render/lb_model_codec.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;
using clients::KvTxnOp;

constexpr size_t kMaxTxnOps = 64;  // portable Consul limit (consul-api.md §2)

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", s);
  return buf;
}

class Executor {
 public:
  Executor(const Plan& plan, ApplyTarget& target, const ApplyOptions& options,
           ApplyRecords& records)
      : plan_(plan),
        target_(target),
        o_(WithDefaults(options)),
        events_(o_.events, *o_.clock),
        recorder_(records, target, *o_.clock),
        records_(records),
        schedule_(BuildSteps(plan)) {}

  ApplyResult Run() {
    auto t0 = o_.clock->Now();
    outcomes_.resize(plan_.actions.size());
    for (size_t i = 0; i < plan_.actions.size(); ++i) outcomes_[i].action_id = plan_.actions[i].id;
    std::vector<std::thread> workers;
    int n = std::min<int>(o_.concurrency, std::max<size_t>(1, schedule_.steps().size()));
    for (int i = 0; i < n; ++i) workers.emplace_back([this] { Work(); });
    for (auto& w : workers) w.join();

    ApplyResult result;
    result.outcomes = std::move(outcomes_);
    for (const auto& o : result.outcomes) {
      if (o.skipped)
        ++result.skipped;
      else if (o.state == StepState::kApplied)
        ++result.applied;
      else if (o.state == StepState::kFailed)
        ++result.failed;
      else if (o.state == StepState::kInterrupted)
        ++result.interrupted;
      else
        ++result.not_attempted;
    }
    result.seconds = std::chrono::duration<double>(o_.clock->Now() - t0).count();
    return result;
  }

 private:
  void Work() {
    for (;;) {
      // Asked before the lock is taken: the callbacks are the caller's, and nothing but the
      // schedule is done under mu_.
      bool lock_lost = LockLost(), interrupted = Interrupted();
      size_t s;
      bool stopped;
      std::string stopping;  // reported once the lock is released
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return schedule_.HasReady() || schedule_.Finished(); });
        if (schedule_.Finished()) return;
        s = *schedule_.Take();
        if (!stopped_ && lock_lost) {
          stopped_ = true;
          stopping = "stopping: no new actions are started (the platform lock was lost)";
        }
        if (!stopped_ && interrupted) {
          stopped_ = true;
          stopping =
              "interrupted: no new actions are started; deployments under way go on in Marathon";
        }
        stopped = stopped_;
      }
      if (!stopping.empty()) events_.Emit(EventKind::kStopping, "", "", stopping);
      const Step& step = schedule_.step(s);  // steps never change once scheduling starts
      bool ok;
      if (stopped) {
        for (size_t i : step.actions) NotAttempted(i, "apply stopped before it started");
        ok = false;
      } else {
        // Modules do not throw, but a worker must never take the process down with it: an
        // escaped exception fails the step's unfinished actions.
        try {
          ok = step.job   ? RunJobStep(step.actions[0])
               : step.app ? RunAppStep(step.actions[0])
                          : RunKvStep(step);
        } catch (const std::exception& e) {
          // Whatever it had journaled stays open and the run ends interrupted, so the next
          // apply settles it against live state.
          for (size_t i : step.actions) {
            if (outcomes_[i].state != StepState::kNotAttempted) continue;
            outcomes_[i].state = StepState::kInterrupted;
            outcomes_[i].detail =
                std::string("internal error: ") + e.what() + "; the next apply settles it";
            ApplyEvent ev;
            ev.kind = EventKind::kStepFinished;
            ev.action_id = plan_.actions[i].id;
            ev.target = plan_.actions[i].target;
            ev.line = plan_.actions[i].id + ": " + outcomes_[i].detail;
            ev.state = StepState::kInterrupted;
            events_.Emit(std::move(ev));
          }
          ok = false;
        }
      }
      std::vector<StepSchedule::Cancelled> cancelled;
      {
        std::lock_guard<std::mutex> lock(mu_);
        cancelled = schedule_.Done(s, ok);
        cv_.notify_all();
      }
      // Journaled outside the lock (each entry is an fsync). The cancelled steps are this
      // worker's alone, and Run joins every worker before it reads the outcomes.
      for (const auto& c : cancelled) {
        for (size_t i : schedule_.step(c.step).actions) {
          NotAttempted(i, "depends on " + c.because + ", which did not succeed");
        }
      }
    }
  }

  void NotAttempted(size_t i, const std::string& why) {
    outcomes_[i].state = StepState::kNotAttempted;
    outcomes_[i].detail = why;
    auto e = recorder_.Start(plan_.actions[i], json());
    if (e.ok()) recorder_.Finish(*e, "skipped", json{{"why", why}});
  }

  // A note about a step: what it waits for, what it found, a rollback.
  void Note(const Action& a, const std::string& line) {
    events_.Emit(EventKind::kStepNote, a.id, a.target, line);
  }

  // ---- KV ----------------------------------------------------------------------------

  bool RunKvStep(const Step& step) {
    auto t0 = o_.clock->Now();
    struct Item {
      size_t index;
      KvTxnOp op;
      json expect;
      int64_t journal = 0;
    };
    std::vector<Item> items;
    bool ok = true;
    for (size_t i : step.actions) {
      const Action& a = plan_.actions[i];
      Item it{i, {}, json(), 0};
      it.op.key = a.target;
      uint64_t token = std::strtoull(a.token.c_str(), nullptr, 10);
      if (a.kind == ActionKind::kKvDelete || a.kind == ActionKind::kModelDelete) {
        it.op.verb = KvTxnOp::Verb::kDeleteCas;
        it.op.index = token;
        it.expect = json{{"absent", true}};
      } else {
        auto value = Value(a);
        if (!value.ok()) {
          Fail(i, value.status().message(), t0);
          ok = false;
          continue;
        }
        it.op.verb = KvTxnOp::Verb::kCas;
        it.op.index = token;
        it.op.value = *value;
        // A large LB model is stored gzip-compressed; its HMAC and digest stay the document's.
        if (IsModelAction(a.kind)) it.op.value = render::EncodeLbModelValue(*value);
        it.expect =
            json{{"hmac", HmacSha256Hex(records_.hmac_key, *value)}, {"secret", a.sensitive}};
        // An LB model is recorded by its digest (AppliedBody), checked by its HMAC like a key.
        if (IsModelAction(a.kind)) it.expect["digest"] = a.desired.value("digest", std::string());
      }
      items.push_back(std::move(it));
    }
    for (size_t k = 0; k < items.size();) {
      auto e = recorder_.Start(plan_.actions[items[k].index], items[k].expect);
      if (!e.ok()) {
        Fail(items[k].index, e.status().message(), t0);
        items.erase(items.begin() + k);
        ok = false;
        continue;
      }
      items[k++].journal = *e;
    }
    for (size_t off = 0; off < items.size(); off += kMaxTxnOps) {
      size_t end = std::min(items.size(), off + kMaxTxnOps);
      std::vector<KvTxnOp> ops;
      for (size_t k = off; k < end; ++k) ops.push_back(items[k].op);
      if (Status may = MayWrite(); !may.ok()) {
        for (size_t k = off; k < items.size(); ++k)
          Skipped(items[k].index, items[k].journal, may.message());
        return false;
      }
      auto r = target_.KvTxn(ops);
      std::string error;
      if (!r.ok()) {
        error = r.status().message();
      } else if (!r->committed) {
        error = "conflict: changed since the plan was made, not overwritten (" +
                Join(r->errors, "; ") + ")";
      }
      // A transaction is all or nothing. When its answer was lost and a retry found the cas
      // indexes moved, the first attempt may have committed: if every key now holds exactly
      // what this step writes, it did.
      if (!error.empty() && AllWritten(ops)) {
        events_.Emit(
            EventKind::kStepNote, StepActionId(step), step.name,
            step.name + ": the transaction's answer was lost, but every key holds what it wrote");
        error.clear();
        if (!r.ok()) r = clients::KvTxnResult{};
      }
      if (error.empty()) {
        std::vector<AppliedItem> written;
        for (size_t k = off; k < end; ++k) {
          const Action& a = plan_.actions[items[k].index];
          written.push_back(
              {false, a.target, a.env, a.service, items[k].expect, IsModelAction(a.kind)});
        }
        Status rec = recorder_.Applied(written);
        if (!rec.ok()) {
          events_.Emit(EventKind::kWarning, StepActionId(step), step.name,
                       "warning: " + step.name +
                           ": applied, but the records were not saved: " + rec.message());
        }
      }
      for (size_t k = off; k < end; ++k) {
        Item& it = items[k];
        const Action& a = plan_.actions[it.index];
        if (!error.empty()) {
          recorder_.Finish(it.journal, "failed", json{{"error", error}});
          Fail(it.index, error, t0);
          ok = false;
          continue;
        }
        recorder_.Finish(it.journal, "succeeded",
                         json{{"index", r->indexes.count(a.target) ? r->indexes.at(a.target) : 0}});
        Succeed(it.index, t0);
      }
      // The transaction's end. Written: the step's (or this part's) kStepFinished. Failed:
      // each action already reported its own kStepFinished, so this line is a note.
      ApplyEvent ev;
      ev.kind = error.empty() ? EventKind::kStepFinished : EventKind::kStepNote;
      ev.action_id = end - off == 1 ? plan_.actions[items[off].index].id : "";
      ev.target = step.name;
      ev.line = step.name + ": " + (error.empty() ? "written" : "failed: " + error) + " (" +
                std::to_string(end - off) + (end - off == 1 ? " key)" : " keys)");
      if (error.empty()) {
        ev.state = StepState::kApplied;
        ev.seconds = std::chrono::duration<double>(o_.clock->Now() - t0).count();
      }
      events_.Emit(std::move(ev));
    }
    return ok;
  }

  bool AllWritten(const std::vector<KvTxnOp>& ops) {
    for (const auto& op : ops) {
      auto v = target_.KvGet(op.key);
      if (!v.ok()) return false;
      bool deleting = op.verb == KvTxnOp::Verb::kDeleteCas || op.verb == KvTxnOp::Verb::kDelete;
      if (deleting ? v->has_value() : (!v->has_value() || **v != op.value)) return false;
    }
    return true;
  }

  Result<std::string> Value(const Action& a) {
    if (a.desired.contains("value") && a.desired["value"].is_string())
      return a.desired["value"].get<std::string>();
    if (!a.desired.contains("secret") || !a.desired["secret"].is_string()) {
      return Status::InvalidArgument(a.target +
                                     ": the plan carries neither a value nor a secret source");
    }
    std::string source = a.desired["secret"].get<std::string>();
    if (!o_.read_secret)
      return Status::InvalidArgument(a.target + ": secret " + source + " cannot be read here");
    auto v = o_.read_secret(source);
    if (!v.ok()) return Status::InvalidArgument(a.target + ": " + v.status().message());
    if (a.desired.contains("hmac") && a.desired["hmac"].is_string() &&
        HmacSha256Hex(records_.hmac_key, *v) != a.desired["hmac"].get<std::string>()) {
      return Status::Conflict(a.target + ": secret " + source +
                              " has changed since the plan was made; plan again");
    }
    return v;
  }

  // ---- Chronos (engine/job_steps.h) --------------------------------------------------

  bool RunJobStep(size_t i) {
    const Action& a = plan_.actions[i];
    JobStepContext ctx{target_,
                       o_,
                       events_,
                       recorder_,
                       [this] { return MayWrite(); },
                       [this] { return Interrupted() || LockLost(); }};
    JobStepOutcome r = IsHookAction(a.kind) ? RunHook(a, ctx) : RunJobWrite(a, ctx);
    outcomes_[i].state = r.state;
    outcomes_[i].detail = r.detail;
    outcomes_[i].seconds = r.seconds;
    outcomes_[i].skipped = r.skipped;
    return r.ok();
  }

  // ---- Marathon ----------------------------------------------------------------------

  bool RunAppStep(size_t i) {
    const Action& a = plan_.actions[i];
    auto t0 = o_.clock->Now();
    auto deadline = t0 + o_.app_deadline;
    json expect =
        a.kind == ActionKind::kAppDelete ? json{{"absent", true}} : NormalizeApp(a.desired);
    auto started = recorder_.Start(a, expect);
    if (!started.ok()) {
      Fail(i, started.status().message(), t0);
      return false;
    }
    int64_t journal = *started;
    events_.Emit(EventKind::kStepStarted, a.id, a.target,
                 std::string(ActionKindName(a.kind)) + " " + a.target + ": starting");

    bool refused = false;  // by MayWrite: nothing was sent
    auto written = Write(a, deadline, &refused);
    if (refused) {
      Skipped(i, journal, written.status().message());
      return false;
    }
    if (!written.ok() && AnswerLost(written.status())) {
      // A timeout, a dropped connection or a 5xx: the write may still have reached Marathon
      // (writes are not retried once sent). If the app now is what it sends, it did: follow
      // it like any other write.
      auto live = target_.App(a.target);
      bool took = a.kind == ActionKind::kAppDelete
                      ? !live.ok() && live.status().code() == StatusCode::kNotFound
                      : live.ok() && NormalizeApp(live->body) == expect;
      if (took) {
        Note(a, a.target + ": the write's answer was lost, but Marathon has it");
        written = clients::MarathonDeploymentResult{
            live.ok() && !live->deployment_ids.empty() ? live->deployment_ids[0] : "",
            live.ok() ? live->version : ""};
      }
    }
    if (!written.ok()) {
      std::string error = written.status().message();
      recorder_.Finish(journal, "failed", json{{"error", error}});
      Fail(i, error, t0);
      return false;  // nothing was written: nothing to roll back
    }
    outcomes_[i].deployment_id = written->deployment_id;
    outcomes_[i].version = written->version;
    Status waited = WaitFor(a, written->deployment_id, deadline);
    if (!waited.ok() && (Interrupted() || (o_.should_stop && o_.should_stop()))) {
      // Written, not followed to the end: the entry stays open for the next apply.
      outcomes_[i].state = StepState::kInterrupted;
      outcomes_[i].detail =
          "written, then interrupted while deploying; the next apply follows it to health";
      outcomes_[i].seconds = std::chrono::duration<double>(o_.clock->Now() - t0).count();
      return false;
    }
    if (!waited.ok()) {
      json failed = {{"error", waited.message()}, {"deployment", written->deployment_id}};
      if (std::string d = DesiredDigest(a); !d.empty())
        failed["desired_digest"] = d;  // failed_deploys.h
      recorder_.Finish(journal, "failed", failed);
      Fail(i, waited.message(), t0);
      MaybeRollback(i);
      return false;
    }
    // A restart asked for changes no definition: what was applied stays as it was.
    Status rec = a.reason == Reason::kRequested
                     ? Status::Ok()
                     : recorder_.Applied(AppliedItem{true, a.target, a.env, a.service,
                                                     a.record.is_null() ? expect : a.record});
    recorder_.Finish(journal, "succeeded",
                     json{{"deployment", written->deployment_id}, {"version", written->version}});
    Succeed(i, t0);
    ApplyEvent done;
    done.kind = EventKind::kStepFinished;
    done.action_id = a.id;
    done.target = a.target;
    done.line = std::string(ActionKindName(a.kind)) + " " + a.target + ": done in " +
                Seconds(outcomes_[i].seconds);
    done.state = StepState::kApplied;
    done.seconds = outcomes_[i].seconds;
    events_.Emit(std::move(done));
    if (!rec.ok()) {
      events_.Emit(
          EventKind::kWarning, a.id, a.target,
          "warning: " + a.target + ": applied, but the record was not saved: " + rec.message());
    }
    return true;
  }

  // Marathon has no compare-and-set: the app is read just before it is written, and a
  // version other than the one planned against (someone changed it since) is a conflict,
  // reported and not overwritten.
  Status StillAsPlanned(const Action& a) {
    auto app = target_.App(a.target);
    bool gone = !app.ok() && app.status().code() == StatusCode::kNotFound;
    if (!app.ok() && !gone) return app.status();
    switch (HowAppMoved(a, gone ? nullptr : &*app)) {
      case AppMove::kNone:
        return Status::Ok();
      case AppMove::kDeleted:
        if (a.kind == ActionKind::kAppDelete) return Status::Ok();  // what the action wanted
        return Status::AlreadyExists("conflict: " + a.target +
                                     " was deleted since the plan was made; not recreated");
      case AppMove::kCreated:
        return Status::AlreadyExists("conflict: " + a.target +
                                     " was created since the plan was made (version " +
                                     app->version + "); not overwritten");
      case AppMove::kChanged:
        return Status::AlreadyExists("conflict: " + a.target +
                                     " changed since the plan was made (version " + a.token +
                                     " → " + app->version + "); not overwritten");
    }
    return Status::Ok();
  }

  Result<clients::MarathonDeploymentResult> WriteOnce(const Action& a, bool force) {
    switch (a.kind) {
      case ActionKind::kAppCreate: {
        auto r = target_.CreateApp(a.desired, force);
        // "Already exists" after the transport resent the POST (the first one reached
        // Marathon): the app is ours when it is exactly what was sent. Anything else
        // someone else created is a conflict, never taken over.
        if (!r.ok() && r.status().code() == StatusCode::kAlreadyExists) {
          auto live = target_.App(a.target);
          if (live.ok() && NormalizeApp(live->body) == NormalizeApp(a.desired)) {
            return clients::MarathonDeploymentResult{
                live->deployment_ids.empty() ? "" : live->deployment_ids[0], live->version};
          }
          return Status::AlreadyExists("conflict: " + a.target +
                                       " was created by someone else since the plan was made");
        }
        return r;
      }
      case ActionKind::kAppRestart:
        // Asked for (`galley restart`): Marathon replaces the tasks per upgradeStrategy.
        if (a.reason == Reason::kRequested) return target_.RestartApp(a.target, force);
        return target_.UpdateApp(a.target, a.desired, force);
      case ActionKind::kAppUpdate:
        return target_.UpdateApp(a.target, a.desired, force);
      case ActionKind::kAppScale: {
        const json* n = a.desired.contains("instances") ? &a.desired["instances"] : nullptr;
        if (!n || !n->is_number_integer())
          return Status::InvalidArgument(a.target + ": the plan has no instance count");
        return target_.ScaleApp(a.target, n->get<int>(), force);
      }
      case ActionKind::kAppDelete: {
        auto r = target_.DeleteApp(a.target);
        if (!r.ok() && r.status().code() == StatusCode::kNotFound)
          return clients::MarathonDeploymentResult{};
        return r;
      }
      default:
        return Status::Internal("not an app action");
    }
  }

  // The write, waiting out (or with --force superseding) deployments that lock the app and
  // backing off while Marathon runs too many deployments.
  Result<clients::MarathonDeploymentResult> Write(const Action& a,
                                                  std::chrono::steady_clock::time_point deadline,
                                                  bool* refused) {
    bool force = o_.force;
    std::chrono::milliseconds backoff{1000};
    RETURN_IF_ERROR(StillAsPlanned(a));
    for (;;) {
      if (Status may = MayWrite(); !may.ok()) {
        *refused = true;
        return may;
      }
      auto r = WriteOnce(a, force);
      if (r.ok()) return r;
      StatusCode code = r.status().code();
      if (Interrupted()) return r.status();
      if (code == StatusCode::kConflict && !force) {
        if (o_.clock->Now() >= deadline) return r.status();
        Note(a, a.target + ": locked by another deployment; waiting (--force supersedes it)");
        WaitUnlocked(a.target, deadline);
        RETURN_IF_ERROR(StillAsPlanned(a));  // what ended the lock may have changed the app
        continue;
      }
      if (code == StatusCode::kResourceExhausted) {
        if (o_.clock->Now() + backoff >= deadline) return r.status();
        Note(a, a.target + ": Marathon runs too many deployments; retrying in " +
                    std::to_string(backoff.count() / 1000) + " s");
        o_.clock->Sleep(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(10000));
        continue;
      }
      return r.status();
    }
  }

  void WaitUnlocked(const std::string& id, std::chrono::steady_clock::time_point deadline) {
    while (o_.clock->Now() < deadline && !Interrupted() && !LockLost()) {
      o_.clock->Sleep(o_.poll_interval);
      auto deps = target_.Deployments();
      if (!deps.ok()) continue;
      bool locked =
          std::any_of(deps->begin(), deps->end(), [&](const clients::MarathonDeployment& d) {
            return std::find(d.affected_apps.begin(), d.affected_apps.end(), id) !=
                   d.affected_apps.end();
          });
      if (!locked) return;
    }
  }

  Status WaitFor(const Action& a, const std::string& deployment_id,
                 std::chrono::steady_clock::time_point deadline) {
    return Follower{target_, o_, events_, a.id}.Wait(a.kind == ActionKind::kAppDelete, a.target,
                                                     deployment_id, deadline);
  }

  void MaybeRollback(size_t i) {
    if (!o_.rollback_on_failure) return;
    const Action& a = plan_.actions[i];
    auto deadline = o_.clock->Now() + o_.app_deadline;
    auto may = [&] {
      Status st = MayWrite();
      if (!st.ok()) Note(a, a.target + ": not rolled back: " + st.message());
      return st.ok();
    };
    if (a.kind == ActionKind::kAppCreate) {
      if (!may()) return;
      auto r = target_.DeleteApp(a.target);
      if (r.ok() || r.status().code() == StatusCode::kNotFound) {
        Status w =
            r.ok() ? WaitFor(Action{.id = a.id, .kind = ActionKind::kAppDelete, .target = a.target},
                             r->deployment_id, deadline)
                   : Status::Ok();
        outcomes_[i].rolled_back = w.ok();
        RolledBack(a, w.ok(),
                   a.target + (w.ok() ? ": rolled back (the new app was deleted)"
                                      : ": rollback failed: " + w.message()));
      } else {
        Note(a, a.target + ": rollback failed: " + r.status().message());
      }
      return;
    }
    if (a.kind == ActionKind::kAppDelete || a.token.empty() || a.token == "0") return;
    auto previous = target_.AppVersion(a.target, a.token);
    if (!previous.ok()) {
      Note(a, a.target + ": rollback failed: " + previous.status().message());
      return;
    }
    json body = *previous;
    for (const char* k : {"version", "versionInfo", "tasks", "deployments", "tasksStaged",
                          "tasksRunning", "tasksHealthy", "tasksUnhealthy", "lastTaskFailure"}) {
      body.erase(k);
    }
    if (!may()) return;
    auto r = target_.UpdateApp(a.target, body, /*force=*/true);
    if (!r.ok()) {
      Note(a, a.target + ": rollback failed: " + r.status().message());
      return;
    }
    Action back{.id = a.id, .kind = ActionKind::kAppUpdate, .target = a.target};
    Status w = WaitFor(back, r->deployment_id, deadline);
    outcomes_[i].rolled_back = w.ok();
    RolledBack(a, w.ok(),
               a.target + (w.ok() ? ": rolled back to version " + a.token
                                  : ": rollback failed: " + w.message()));
  }

  bool Interrupted() const { return o_.interrupted && o_.interrupted(); }
  bool LockLost() const { return o_.should_stop && o_.should_stop(); }

  // Before every write (DESIGN §3 "Locking"): nothing is sent once the platform lock is lost,
  // and no new step starts.
  Status MayWrite() {
    Status st = LockLost()        ? Status::Conflict("the platform lock was lost")
                : o_.before_write ? o_.before_write()
                                  : Status::Ok();
    if (st.ok()) return st;
    bool first = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      first = !stopped_;
      stopped_ = true;
    }
    if (first)
      events_.Emit(EventKind::kStopping, "", "",
                   "stopping: nothing more is written (" + st.message() + ")");
    return Status::Conflict(st.message() + "; not written");
  }

  // An action journaled as started whose write was refused by MayWrite: nothing was sent.
  void Skipped(size_t i, int64_t journal, const std::string& why) {
    recorder_.Finish(journal, "skipped", json{{"why", why}});
    outcomes_[i].state = StepState::kNotAttempted;
    outcomes_[i].detail = why;
    Finished(i, StepState::kNotAttempted, plan_.actions[i].id + ": " + why, 0);
  }

  // A transport failure or a 5xx after the request may have been sent (a write is not
  // retried then).
  static bool AnswerLost(const Status& s) {
    return s.code() == StatusCode::kTimeout || s.code() == StatusCode::kUnavailable;
  }

  void Succeed(size_t i, std::chrono::steady_clock::time_point t0) {
    outcomes_[i].state = StepState::kApplied;
    outcomes_[i].seconds = std::chrono::duration<double>(o_.clock->Now() - t0).count();
  }

  void Fail(size_t i, const std::string& error, std::chrono::steady_clock::time_point t0) {
    outcomes_[i].state = StepState::kFailed;
    outcomes_[i].detail = error;
    outcomes_[i].seconds = std::chrono::duration<double>(o_.clock->Now() - t0).count();
    Finished(i, StepState::kFailed, plan_.actions[i].id + ": FAILED: " + error,
             outcomes_[i].seconds);
  }

  void Finished(size_t i, StepState state, const std::string& line, double seconds) {
    ApplyEvent ev;
    ev.kind = EventKind::kStepFinished;
    ev.action_id = plan_.actions[i].id;
    ev.target = plan_.actions[i].target;
    ev.line = line;
    ev.state = state;
    ev.seconds = seconds;
    events_.Emit(std::move(ev));
  }

  // A rollback's last word about a failed step (its kStepFinished came before the rollback).
  void RolledBack(const Action& a, bool ok, const std::string& line) {
    ApplyEvent ev;
    ev.kind = EventKind::kStepNote;
    ev.action_id = a.id;
    ev.target = a.target;
    ev.line = line;
    ev.rolled_back = ok;
    events_.Emit(std::move(ev));
  }

  // The action id a KV step's event carries: its action's when it has one, else "".
  std::string StepActionId(const Step& step) const {
    return step.actions.size() == 1 ? plan_.actions[step.actions[0]].id : "";
  }

  const Plan& plan_;
  ApplyTarget& target_;
  ApplyOptions o_;
  EventReporter events_;
  Recorder recorder_;
  ApplyRecords& records_;

  std::vector<ActionOutcome> outcomes_;  // each element written by one worker at a time
  // mu_ guards the schedule and stopped_ only: it is never held across a journal write, a
  // target call or an event (engine/events.h).
  std::mutex mu_;
  std::condition_variable cv_;
  StepSchedule schedule_;
  bool stopped_ = false;
};
}  // namespace

std::string ApplyResult::Summary() const {
  std::ostringstream out;
  out << applied << " applied, " << failed << " failed, " << not_attempted << " not attempted";
  if (interrupted > 0) out << ", " << interrupted << " interrupted";
  if (skipped > 0) out << ", " << skipped << " skipped (--skip-hooks)";
  out << " (" << Seconds(seconds) << ")\n";
  for (const auto& o : outcomes) {
    if (o.state == StepState::kApplied) continue;
    out << "  " << (o.skipped ? "skipped" : StepStateName(o.state)) << ": " << o.action_id << ": "
        << o.detail;
    if (o.rolled_back) out << " (rolled back)";
    out << "\n";
  }
  return out.str();
}

json ApplyResult::ToJson() const {
  json actions = json::array();
  for (const auto& o : outcomes) {
    json a = {{"id", o.action_id},
              {"state", o.skipped ? "skipped" : StepStateName(o.state)},
              {"seconds", o.seconds}};
    if (!o.detail.empty()) a["detail"] = o.detail;
    if (!o.deployment_id.empty()) a["deployment"] = o.deployment_id;
    if (!o.version.empty()) a["version"] = o.version;
    if (o.rolled_back) a["rolled_back"] = true;
    actions.push_back(std::move(a));
  }
  json doc = {{"applied", applied},         {"failed", failed},   {"not_attempted", not_attempted},
              {"interrupted", interrupted}, {"seconds", seconds}, {"actions", std::move(actions)}};
  if (skipped > 0) doc["skipped"] = skipped;
  return doc;
}

ApplyResult ExecutePlan(const Plan& plan, ApplyTarget& target, const ApplyOptions& options,
                        ApplyRecords& records) {
  return Executor(plan, target, options, records).Run();
}

}  // namespace galley::engine
