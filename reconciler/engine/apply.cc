// SPDX-License-Identifier: Apache-2.0
#include "engine/apply.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <set>
#include <sstream>
#include <thread>

#include "base/digest.h"
#include "base/strings.h"
#include "engine/applied_record.h"
#include "engine/apply_checks.h"
#include "engine/desired.h"
#include "engine/failed_deploys.h"
#include "engine/normalize.h"
#include "engine/ownership.h"
#include "engine/step_graph.h"
#include "engine/view_text.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using clients::KvTxnOp;

constexpr size_t kMaxTxnOps = 64;  // portable Consul limit (consul-api.md §2)


std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", s);
  return buf;
}

std::string Duration(std::chrono::seconds d) {
  auto s = d.count();
  if (s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

std::string NowText() { return store::FormatTimestamp(std::chrono::system_clock::now()); }

// The store's name for an action kind (its journal.kind values).
const char* JournalKind(ActionKind k) {
  switch (k) {
    case ActionKind::kAppCreate: return "create";
    case ActionKind::kAppUpdate: return "update";
    case ActionKind::kAppScale: return "scale";
    case ActionKind::kAppRestart: return "restart";
    case ActionKind::kAppDelete: return "delete";
    case ActionKind::kKvPut: return "kv-put";
    case ActionKind::kKvDelete: return "kv-delete";
  }
  return "update";
}

// Journal entries and last-applied records, shared by the workers.
class Recorder {
 public:
  Recorder(ApplyRecords& records, ApplyTarget& target) : r_(records), target_(target) {}

  // The entry's id (0 without a store). An action that cannot be journaled is not run:
  // a crash after it would leave nothing to settle it by.
  Result<int64_t> Start(const Action& a, const json& expect) {
    if (!r_.store) return int64_t{0};
    store::JournalEntry e;
    e.run_id = r_.run_id;
    e.action_id = a.id;
    e.resource = ResourceKeyOf(a);
    e.kind = JournalKind(a.kind);
    e.state = "started";
    json detail = {{"token", a.token}, {"target", a.target}, {"env", a.env}, {"service", a.service}, {"expect", expect}};
    if (!a.record.is_null()) detail["record"] = a.record;
    if (a.reason == Reason::kRequested) detail["restart"] = true;  // asked for: nothing to record as applied
    e.detail = SafeDump(detail);
    auto id = r_.store->JournalStart(e);
    if (!id.ok()) return Status::Unavailable("cannot journal the action: " + id.status().message());
    return id;
  }

  void Finish(int64_t entry, const std::string& state, const json& detail) {
    if (r_.store && entry > 0) (void)r_.store->JournalFinish(entry, state, SafeDump(detail));
  }

  // What an action produced: `expect` is the normalised app body, {"absent": true}, or
  // {"hmac": ..., "secret": bool} for a key.
  using Item = AppliedItem;

  Status Applied(bool app, const std::string& target, const std::string& env, const std::string& service,
                 const json& expect) {
    return Applied({Item{app, target, env, service, expect}});
  }

  // Records several actions at once: one store transaction, and one write of each record
  // in Consul they touch (a KV step's keys all belong to one service × environment).
  Status Applied(const std::vector<Item>& items) {
    if (items.empty()) return Status::Ok();
    AppliedStamp stamp{NowText(), r_.commit, r_.who, r_.run_id};
    std::vector<store::Applied> rows = AppliedRows(items, stamp);
    std::lock_guard<std::mutex> lock(mu_);
    if (r_.store) RETURN_IF_ERROR(r_.store->SetApplied(rows));
    if (r_.applied_prefix.empty()) return Status::Ok();
    std::map<std::string, std::vector<AppliedItem>> by_key;
    for (const Item& it : items) by_key[AppliedRecordKey(r_.applied_prefix, it.env, it.service)].push_back(it);
    Status first;
    for (const auto& [key, its] : by_key) {
      auto old = r_.consul_records.find(key);
      std::string text = UpdateAppliedRecord(old == r_.consul_records.end() ? "" : old->second, its, stamp);
      r_.consul_records[key] = text;
      Status s = target_.PutRecord(key, text);
      if (first.ok() && !s.ok()) first = s;
    }
    return first;
  }

 private:
  ApplyRecords& r_;
  ApplyTarget& target_;
  std::mutex mu_;
};

bool Healthy(const model::LiveApp& app) {
  if (!app.deployment_ids.empty()) return false;
  if (app.tasks_running != app.instances) return false;
  const json* hc = app.body.contains("healthChecks") ? &app.body["healthChecks"] : nullptr;
  bool has_checks = hc && hc->is_array() && !hc->empty();
  return !has_checks || app.tasks_healthy == app.instances;
}

std::string StringField(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

ApplyOptions WithDefaults(ApplyOptions o) {
  if (!o.clock.now) o.clock.now = [] { return Clock::now(); };
  if (!o.clock.sleep) o.clock.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  if (o.concurrency < 1) o.concurrency = 1;
  return o;
}

// Follows one app until it is healthy (or gone, for a delete), reporting each change of
// state; at the deadline it cancels the deployment (Marathon rolls the app back) and fails.
struct Follower {
  ApplyTarget& target;
  const ApplyOptions& o;
  std::function<void(const std::string&)> progress;

  Status Wait(bool deleting, const std::string& id, const std::string& deployment_id, Clock::time_point deadline) {
    std::string last;
    int polls = 0;
    for (;;) {
      auto app = target.App(id);
      std::string state;
      if (deleting) {
        if (!app.ok() && app.status().code() == StatusCode::kNotFound) return Status::Ok();
        if (app.ok()) state = "stopping, " + std::to_string(app->tasks_running) + " tasks left";
      } else if (app.ok()) {
        if (Healthy(*app)) return Status::Ok();
        state = Describe(*app, deployment_id);
      }
      if (!app.ok() && !(deleting && app.status().code() == StatusCode::kNotFound)) {
        state = "cannot read the app: " + app.status().message();
      }
      if (state != last) {
        progress(id + ": " + state);
        last = state;
      }
      if ((o.interrupted && o.interrupted()) || (o.should_stop && o.should_stop())) {
        return Status::Unavailable("stopped while waiting (" + state + ")");
      }
      if (o.clock.now() >= deadline) {
        std::string msg = "not " + std::string(deleting ? "gone" : "healthy") + " within " +
                          Duration(o.app_deadline) + " (" + state + ")";
        // The deployment this apply started, or (following one it did not start) whatever
        // deploys the app now.
        std::vector<std::string> running = app.ok() ? app->deployment_ids : std::vector<std::string>{};
        for (const std::string& dep : running) {
          if (!deployment_id.empty() && dep != deployment_id) continue;
          auto cancelled = target.CancelDeployment(dep);
          msg += cancelled.ok() ? "; deployment " + dep + " cancelled, Marathon rolls the app back"
                                : "; cancelling deployment " + dep + " failed: " + cancelled.status().message();
        }
        return Status::Timeout(msg);
      }
      // Quick first looks (a small app is often healthy within a second), then every
      // poll_interval.
      o.clock.sleep(std::min(o.poll_interval, std::chrono::milliseconds(100L << std::min(polls++, 10))));
    }
  }

  std::string Describe(const model::LiveApp& app, const std::string& deployment_id) {
    std::string s;
    if (!app.deployment_ids.empty()) {
      s = "deploying";
      const std::string& wanted = deployment_id.empty() ? app.deployment_ids[0] : deployment_id;
      auto deps = target.Deployments();
      if (deps.ok()) {
        for (const auto& d : *deps) {
          if (d.id != wanted) continue;
          s = "deployment step " + std::to_string(d.current_step) + "/" + std::to_string(d.total_steps);
          if (!d.current_actions.empty()) s += " (" + Join(d.current_actions, ", ") + ")";
        }
      }
      s += ", ";
    }
    s += "healthy " + std::to_string(app.tasks_healthy) + "/" + std::to_string(app.instances) + ", running " +
         std::to_string(app.tasks_running);
    return s;
  }
};

class Executor {
 public:
  Executor(const Plan& plan, ApplyTarget& target, const ApplyOptions& options, ApplyRecords& records)
      : plan_(plan), target_(target), o_(WithDefaults(options)), recorder_(records, target), records_(records) {}

  ApplyResult Run() {
    auto t0 = o_.clock.now();
    start_ = t0;
    steps_ = BuildSteps(plan_);
    outcomes_.resize(plan_.actions.size());
    for (size_t i = 0; i < plan_.actions.size(); ++i) outcomes_[i].action_id = plan_.actions[i].id;
    waiting_.resize(steps_.size());
    for (size_t s = 0; s < steps_.size(); ++s) {
      waiting_[s] = steps_[s].depends_on.size();
      if (waiting_[s] == 0) ready_.push_back(s);
    }
    remaining_ = steps_.size();
    std::vector<std::thread> workers;
    int n = std::min<int>(o_.concurrency, std::max<size_t>(1, steps_.size()));
    for (int i = 0; i < n; ++i) workers.emplace_back([this] { Work(); });
    for (auto& w : workers) w.join();

    ApplyResult result;
    result.outcomes = std::move(outcomes_);
    for (const auto& o : result.outcomes) {
      if (o.state == StepState::kApplied) ++result.applied;
      else if (o.state == StepState::kFailed) ++result.failed;
      else if (o.state == StepState::kInterrupted) ++result.interrupted;
      else ++result.not_attempted;
    }
    result.seconds = std::chrono::duration<double>(o_.clock.now() - t0).count();
    return result;
  }

 private:
  void Work() {
    for (;;) {
      size_t s;
      bool stopped;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return !ready_.empty() || remaining_ == 0; });
        if (remaining_ == 0) return;
        s = ready_.front();
        ready_.pop_front();
        if (!stopped_ && o_.should_stop && o_.should_stop()) {
          stopped_ = true;
          Progress("stopping: no new actions are started (the platform lock was lost)");
        }
        if (!stopped_ && Interrupted()) {
          stopped_ = true;
          Progress("interrupted: no new actions are started; deployments under way go on in Marathon");
        }
        stopped = stopped_;
      }
      bool ok;
      if (stopped) {
        for (size_t i : steps_[s].actions) NotAttempted(i, "apply stopped before it started");
        ok = false;
      } else {
        // Modules do not throw, but a worker must never take the process down with it: an
        // escaped exception fails the step's unfinished actions.
        try {
          ok = steps_[s].app ? RunAppStep(steps_[s].actions[0]) : RunKvStep(steps_[s]);
        } catch (const std::exception& e) {
          // Whatever it had journaled stays open and the run ends interrupted, so the next
          // apply settles it against live state.
          for (size_t i : steps_[s].actions) {
            if (outcomes_[i].state != StepState::kNotAttempted) continue;
            outcomes_[i].state = StepState::kInterrupted;
            outcomes_[i].detail = std::string("internal error: ") + e.what() + "; the next apply settles it";
            Progress(plan_.actions[i].id + ": " + outcomes_[i].detail);
          }
          ok = false;
        }
      }
      std::lock_guard<std::mutex> lock(mu_);
      Done(s, ok);
      cv_.notify_all();
    }
  }

  // Under mu_: releases or cancels the step's dependants.
  void Done(size_t s, bool ok) {
    --remaining_;
    for (size_t d : steps_[s].dependants) {
      if (!ok) {
        Cancel(d, steps_[s].name);
      } else if (!cancelled_.count(d) && --waiting_[d] == 0) {
        // Ahead of the steps that were ready from the start: an app starts as soon as its
        // keys are written, not after every service's keys are.
        ready_.push_front(d);
      }
    }
  }

  // Under mu_: `s` and everything after it will not run.
  void Cancel(size_t s, const std::string& because) {
    if (!cancelled_.insert(s).second) return;
    --remaining_;
    for (size_t i : steps_[s].actions) NotAttempted(i, "depends on " + because + ", which did not succeed");
    for (size_t d : steps_[s].dependants) Cancel(d, because);
  }

  void NotAttempted(size_t i, const std::string& why) {
    outcomes_[i].state = StepState::kNotAttempted;
    outcomes_[i].detail = why;
    auto e = recorder_.Start(plan_.actions[i], json());
    if (e.ok()) recorder_.Finish(*e, "skipped", json{{"why", why}});
  }

  void Progress(const std::string& line) {
    if (!o_.progress) return;
    double t = std::chrono::duration<double>(o_.clock.now() - start_).count();
    char buf[24];
    std::snprintf(buf, sizeof buf, "[%6.1fs] ", t);
    std::lock_guard<std::mutex> lock(progress_mu_);
    o_.progress(buf + line);
  }

  // ---- KV ----------------------------------------------------------------------------

  bool RunKvStep(const Step& step) {
    auto t0 = o_.clock.now();
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
      if (a.kind == ActionKind::kKvDelete) {
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
        it.expect = json{{"hmac", HmacSha256Hex(records_.hmac_key, *value)}, {"secret", a.sensitive}};
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
        for (size_t k = off; k < items.size(); ++k) Skipped(items[k].index, items[k].journal, may.message());
        return false;
      }
      auto r = target_.KvTxn(ops);
      std::string error;
      if (!r.ok()) {
        error = r.status().message();
      } else if (!r->committed) {
        error = "conflict: changed since the plan was made, not overwritten (" + Join(r->errors, "; ") + ")";
      }
      // A transaction is all or nothing. When its answer was lost and a retry found the cas
      // indexes moved, the first attempt may have committed: if every key now holds exactly
      // what this step writes, it did.
      if (!error.empty() && AllWritten(ops)) {
        Progress(step.name + ": the transaction's answer was lost, but every key holds what it wrote");
        error.clear();
        if (!r.ok()) r = clients::KvTxnResult{};
      }
      if (error.empty()) {
        std::vector<Recorder::Item> written;
        for (size_t k = off; k < end; ++k) {
          const Action& a = plan_.actions[items[k].index];
          written.push_back({false, a.target, a.env, a.service, items[k].expect});
        }
        Status rec = recorder_.Applied(written);
        if (!rec.ok()) Progress("warning: " + step.name + ": applied, but the records were not saved: " + rec.message());
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
        recorder_.Finish(it.journal, "succeeded", json{{"index", r->indexes.count(a.target) ? r->indexes.at(a.target) : 0}});
        Succeed(it.index, t0);
      }
      Progress(step.name + ": " + (error.empty() ? "written" : "failed: " + error) + " (" +
               std::to_string(end - off) + (end - off == 1 ? " key)" : " keys)"));
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
    if (a.desired.contains("value") && a.desired["value"].is_string()) return a.desired["value"].get<std::string>();
    if (!a.desired.contains("secret") || !a.desired["secret"].is_string()) {
      return Status::InvalidArgument(a.target + ": the plan carries neither a value nor a secret source");
    }
    std::string source = a.desired["secret"].get<std::string>();
    if (!o_.read_secret) return Status::InvalidArgument(a.target + ": secret " + source + " cannot be read here");
    auto v = o_.read_secret(source);
    if (!v.ok()) return Status::InvalidArgument(a.target + ": " + v.status().message());
    if (a.desired.contains("hmac") && a.desired["hmac"].is_string() &&
        HmacSha256Hex(records_.hmac_key, *v) != a.desired["hmac"].get<std::string>()) {
      return Status::Conflict(a.target + ": secret " + source + " has changed since the plan was made; plan again");
    }
    return v;
  }

  // ---- Marathon ----------------------------------------------------------------------

  bool RunAppStep(size_t i) {
    const Action& a = plan_.actions[i];
    auto t0 = o_.clock.now();
    auto deadline = t0 + o_.app_deadline;
    json expect = a.kind == ActionKind::kAppDelete ? json{{"absent", true}} : NormalizeApp(a.desired);
    auto started = recorder_.Start(a, expect);
    if (!started.ok()) {
      Fail(i, started.status().message(), t0);
      return false;
    }
    int64_t journal = *started;
    Progress(std::string(ActionKindName(a.kind)) + " " + a.target + ": starting");

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
        Progress(a.target + ": the write's answer was lost, but Marathon has it");
        written = clients::MarathonDeploymentResult{
            live.ok() && !live->deployment_ids.empty() ? live->deployment_ids[0] : "", live.ok() ? live->version : ""};
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
      outcomes_[i].detail = "written, then interrupted while deploying; the next apply follows it to health";
      outcomes_[i].seconds = std::chrono::duration<double>(o_.clock.now() - t0).count();
      return false;
    }
    if (!waited.ok()) {
      json failed = {{"error", waited.message()}, {"deployment", written->deployment_id}};
      if (std::string d = DesiredDigest(a); !d.empty()) failed["desired_digest"] = d;  // failed_deploys.h
      recorder_.Finish(journal, "failed", failed);
      Fail(i, waited.message(), t0);
      MaybeRollback(i);
      return false;
    }
    // A restart asked for changes no definition: what was applied stays as it was.
    Status rec = a.reason == Reason::kRequested
                     ? Status::Ok()
                     : recorder_.Applied(true, a.target, a.env, a.service, a.record.is_null() ? expect : a.record);
    recorder_.Finish(journal, "succeeded",
                     json{{"deployment", written->deployment_id}, {"version", written->version}});
    Succeed(i, t0);
    Progress(std::string(ActionKindName(a.kind)) + " " + a.target + ": done in " +
             Seconds(outcomes_[i].seconds));
    if (!rec.ok()) Progress("warning: " + a.target + ": applied, but the record was not saved: " + rec.message());
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
        return Status::AlreadyExists("conflict: " + a.target + " was deleted since the plan was made; not recreated");
      case AppMove::kCreated:
        return Status::AlreadyExists("conflict: " + a.target + " was created since the plan was made (version " +
                                     app->version + "); not overwritten");
      case AppMove::kChanged:
        return Status::AlreadyExists("conflict: " + a.target + " changed since the plan was made (version " +
                                     a.token + " → " + app->version + "); not overwritten");
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
            return clients::MarathonDeploymentResult{live->deployment_ids.empty() ? "" : live->deployment_ids[0],
                                                     live->version};
          }
          return Status::AlreadyExists("conflict: " + a.target + " was created by someone else since the plan was made");
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
        if (!n || !n->is_number_integer()) return Status::InvalidArgument(a.target + ": the plan has no instance count");
        return target_.ScaleApp(a.target, n->get<int>(), force);
      }
      case ActionKind::kAppDelete: {
        auto r = target_.DeleteApp(a.target);
        if (!r.ok() && r.status().code() == StatusCode::kNotFound) return clients::MarathonDeploymentResult{};
        return r;
      }
      default:
        return Status::Internal("not an app action");
    }
  }

  // The write, waiting out (or with --force superseding) deployments that lock the app and
  // backing off while Marathon runs too many deployments.
  Result<clients::MarathonDeploymentResult> Write(const Action& a, Clock::time_point deadline, bool* refused) {
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
        if (o_.clock.now() >= deadline) return r.status();
        Progress(a.target + ": locked by another deployment; waiting (--force supersedes it)");
        WaitUnlocked(a.target, deadline);
        RETURN_IF_ERROR(StillAsPlanned(a));  // what ended the lock may have changed the app
        continue;
      }
      if (code == StatusCode::kResourceExhausted) {
        if (o_.clock.now() + backoff >= deadline) return r.status();
        Progress(a.target + ": Marathon runs too many deployments; retrying in " +
                 std::to_string(backoff.count() / 1000) + " s");
        o_.clock.sleep(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(10000));
        continue;
      }
      return r.status();
    }
  }

  void WaitUnlocked(const std::string& id, Clock::time_point deadline) {
    while (o_.clock.now() < deadline && !Interrupted() && !LockLost()) {
      o_.clock.sleep(o_.poll_interval);
      auto deps = target_.Deployments();
      if (!deps.ok()) continue;
      bool locked = std::any_of(deps->begin(), deps->end(), [&](const clients::MarathonDeployment& d) {
        return std::find(d.affected_apps.begin(), d.affected_apps.end(), id) != d.affected_apps.end();
      });
      if (!locked) return;
    }
  }

  Status WaitFor(const Action& a, const std::string& deployment_id, Clock::time_point deadline) {
    return Follower{target_, o_, [this](const std::string& l) { Progress(l); }}.Wait(
        a.kind == ActionKind::kAppDelete, a.target, deployment_id, deadline);
  }

  void MaybeRollback(size_t i) {
    if (!o_.rollback_on_failure) return;
    const Action& a = plan_.actions[i];
    auto deadline = o_.clock.now() + o_.app_deadline;
    auto may = [&] {
      Status st = MayWrite();
      if (!st.ok()) Progress(a.target + ": not rolled back: " + st.message());
      return st.ok();
    };
    if (a.kind == ActionKind::kAppCreate) {
      if (!may()) return;
      auto r = target_.DeleteApp(a.target);
      if (r.ok() || r.status().code() == StatusCode::kNotFound) {
        Status w = r.ok() ? WaitFor(Action{.id = a.id, .kind = ActionKind::kAppDelete, .target = a.target}, r->deployment_id, deadline)
                          : Status::Ok();
        outcomes_[i].rolled_back = w.ok();
        Progress(a.target + (w.ok() ? ": rolled back (the new app was deleted)" : ": rollback failed: " + w.message()));
      } else {
        Progress(a.target + ": rollback failed: " + r.status().message());
      }
      return;
    }
    if (a.kind == ActionKind::kAppDelete || a.token.empty() || a.token == "0") return;
    auto previous = target_.AppVersion(a.target, a.token);
    if (!previous.ok()) {
      Progress(a.target + ": rollback failed: " + previous.status().message());
      return;
    }
    json body = *previous;
    for (const char* k : {"version", "versionInfo", "tasks", "deployments", "tasksStaged", "tasksRunning",
                          "tasksHealthy", "tasksUnhealthy", "lastTaskFailure"}) {
      body.erase(k);
    }
    if (!may()) return;
    auto r = target_.UpdateApp(a.target, body, /*force=*/true);
    if (!r.ok()) {
      Progress(a.target + ": rollback failed: " + r.status().message());
      return;
    }
    Action back{.id = a.id, .kind = ActionKind::kAppUpdate, .target = a.target};
    Status w = WaitFor(back, r->deployment_id, deadline);
    outcomes_[i].rolled_back = w.ok();
    Progress(a.target + (w.ok() ? ": rolled back to version " + a.token : ": rollback failed: " + w.message()));
  }

  bool Interrupted() const { return o_.interrupted && o_.interrupted(); }
  bool LockLost() const { return o_.should_stop && o_.should_stop(); }

  // Before every write (DESIGN §3 "Locking"): nothing is sent once the platform lock is lost,
  // and no new step starts.
  Status MayWrite() {
    Status st = LockLost() ? Status::Conflict("the platform lock was lost")
                           : o_.before_write ? o_.before_write() : Status::Ok();
    if (st.ok()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopped_) {
      stopped_ = true;
      Progress("stopping: nothing more is written (" + st.message() + ")");
    }
    return Status::Conflict(st.message() + "; not written");
  }

  // An action journaled as started whose write was refused by MayWrite: nothing was sent.
  void Skipped(size_t i, int64_t journal, const std::string& why) {
    recorder_.Finish(journal, "skipped", json{{"why", why}});
    outcomes_[i].state = StepState::kNotAttempted;
    outcomes_[i].detail = why;
    Progress(plan_.actions[i].id + ": " + why);
  }

  // A transport failure or a 5xx after the request may have been sent (a write is not
  // retried then).
  static bool AnswerLost(const Status& s) {
    return s.code() == StatusCode::kTimeout || s.code() == StatusCode::kUnavailable;
  }

  void Succeed(size_t i, Clock::time_point t0) {
    outcomes_[i].state = StepState::kApplied;
    outcomes_[i].seconds = std::chrono::duration<double>(o_.clock.now() - t0).count();
  }

  void Fail(size_t i, const std::string& error, Clock::time_point t0) {
    outcomes_[i].state = StepState::kFailed;
    outcomes_[i].detail = error;
    outcomes_[i].seconds = std::chrono::duration<double>(o_.clock.now() - t0).count();
    Progress(plan_.actions[i].id + ": FAILED: " + error);
  }

  const Plan& plan_;
  ApplyTarget& target_;
  ApplyOptions o_;
  Recorder recorder_;
  ApplyRecords& records_;
  Clock::time_point start_;

  std::vector<Step> steps_;
  std::vector<ActionOutcome> outcomes_;  // each element written by one worker at a time
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<size_t> ready_;
  std::vector<size_t> waiting_;
  std::set<size_t> cancelled_;
  size_t remaining_ = 0;
  bool stopped_ = false;
  std::mutex progress_mu_;
};

}  // namespace

const char* StepStateName(StepState s) {
  switch (s) {
    case StepState::kApplied: return "applied";
    case StepState::kFailed: return "failed";
    case StepState::kNotAttempted: return "not attempted";
    case StepState::kInterrupted: return "interrupted";
  }
  return "?";
}

std::string ApplyResult::Summary() const {
  std::ostringstream out;
  out << applied << " applied, " << failed << " failed, " << not_attempted << " not attempted";
  if (interrupted > 0) out << ", " << interrupted << " interrupted";
  out << " (" << Seconds(seconds) << ")\n";
  for (const auto& o : outcomes) {
    if (o.state == StepState::kApplied) continue;
    out << "  " << StepStateName(o.state) << ": " << o.action_id << ": " << o.detail;
    if (o.rolled_back) out << " (rolled back)";
    out << "\n";
  }
  return out.str();
}

json ApplyResult::ToJson() const {
  json actions = json::array();
  for (const auto& o : outcomes) {
    json a = {{"id", o.action_id}, {"state", StepStateName(o.state)}, {"seconds", o.seconds}};
    if (!o.detail.empty()) a["detail"] = o.detail;
    if (!o.deployment_id.empty()) a["deployment"] = o.deployment_id;
    if (!o.version.empty()) a["version"] = o.version;
    if (o.rolled_back) a["rolled_back"] = true;
    actions.push_back(std::move(a));
  }
  return json{{"applied", applied}, {"failed", failed}, {"not_attempted", not_attempted},
              {"interrupted", interrupted}, {"seconds", seconds},
              {"actions", std::move(actions)}};
}

ApplyResult ExecutePlan(const Plan& plan, ApplyTarget& target, const ApplyOptions& options, ApplyRecords& records) {
  return Executor(plan, target, options, records).Run();
}

namespace {

Result<std::vector<std::string>> Recover(const model::LiveState& live, ApplyTarget& target, ApplyRecords& records,
                                         const ApplyOptions& options) {
  ApplyOptions o = WithDefaults(options);
  std::vector<std::string> lines;
  if (!records.store) return lines;
  ASSIGN_OR_RETURN(auto entries, records.store->UnfinishedJournal());
  Recorder recorder(records, target);
  struct Open {
    const store::JournalEntry* entry;
    json detail;
    std::string target, what;
    bool app = false, took_effect = false;
    Status waited;  // for apps written but still deploying
  };
  std::vector<Open> open;
  for (const auto& e : entries) {
    json d = json::parse(e.detail, nullptr, false);
    if (!d.is_object() || !d.contains("expect") || !d.contains("target") || !d["target"].is_string()) {
      RETURN_IF_ERROR(records.store->JournalFinish(e.id, "failed", SafeDump(json{{"error", "interrupted"}})));
      continue;
    }
    Open x{&e, d, d["target"].get<std::string>(), "", ParseResourceKey(e.resource).value_or(ResourceRef{}).app, false, Status::Ok()};
    const json& expect = x.detail["expect"];
    bool absent = expect.is_object() && expect.contains("absent");
    if (x.app) {
      auto it = live.apps.find(x.target);
      x.took_effect = absent ? it == live.apps.end() : it != live.apps.end() && NormalizeApp(it->second.body) == expect;
    } else {
      auto it = live.kv.find(x.target);
      x.took_effect = absent ? it == live.kv.end()
                             : it != live.kv.end() && expect.is_object() &&
                                   HmacSha256Hex(records.hmac_key, it->second.value) == expect.value("hmac", "");
    }
    x.what = "run " + std::to_string(e.run_id) + " " + e.kind + " " + x.target;
    open.push_back(std::move(x));
  }
  // Apps written but not finished (the deployment still runs, or tasks are not healthy yet)
  // are followed to the end now, as the interrupted apply would have: at most `concurrency`
  // at once, each with its own deadline.
  std::vector<Open*> follow;
  for (auto& x : open) {
    bool absent = x.detail["expect"].is_object() && x.detail["expect"].contains("absent");
    if (x.took_effect && x.app && !absent && !Healthy(live.apps.at(x.target))) follow.push_back(&x);
  }
  std::mutex progress_mu;
  auto progress = [&](const std::string& l) {
    std::lock_guard<std::mutex> lock(progress_mu);
    if (o.progress) o.progress(l);
  };
  for (size_t off = 0; off < follow.size(); off += static_cast<size_t>(o.concurrency)) {
    std::vector<std::thread> threads;
    for (size_t k = off; k < std::min(follow.size(), off + static_cast<size_t>(o.concurrency)); ++k) {
      threads.emplace_back([&, x = follow[k]] {
        Follower follower{target, o, progress};
        x->waited = follower.Wait(false, x->target, "", o.clock.now() + o.app_deadline);
      });
    }
    for (auto& t : threads) t.join();
  }
  for (auto& x : open) {
    const store::JournalEntry& e = *x.entry;
    if (!x.waited.ok()) {
      json failed = {{"error", "interrupted; then " + x.waited.message()}};
      if (std::string d = ExpectDigest(x.detail); !d.empty()) failed["desired_digest"] = d;  // failed_deploys.h
      RETURN_IF_ERROR(records.store->JournalFinish(e.id, "failed", SafeDump(failed)));
      lines.push_back(x.what + ": was interrupted after it was written, and then: " + x.waited.message());
    } else if (x.took_effect) {
      const json& rec = x.detail.contains("record") ? x.detail["record"] : x.detail["expect"];
      if (!(x.detail.contains("restart") && x.detail["restart"] == true)) {  // a restart asked for
        RETURN_IF_ERROR(
            recorder.Applied(x.app, x.target, StringField(x.detail, "env"), StringField(x.detail, "service"), rec));
      }
      RETURN_IF_ERROR(records.store->JournalFinish(e.id, "succeeded", SafeDump(json{{"recovered", true}})));
      lines.push_back(x.what + ": was interrupted after it took effect; recorded as applied");
    } else {
      RETURN_IF_ERROR(
          records.store->JournalFinish(e.id, "failed", SafeDump(json{{"error", "interrupted before it took effect"}})));
      lines.push_back(x.what + ": was interrupted before it took effect; the plan redoes it");
    }
  }
  return lines;
}

}  // namespace

Result<std::vector<std::string>> RecoverInterrupted(const model::LiveState& live, ApplyTarget& target,
                                                   ApplyRecords& records, const ApplyOptions& options) {
  // The journal's details are galley's own JSON; one edited by hand must not take apply down.
  try {
    return Recover(live, target, records, options);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("settling interrupted actions: ") + e.what());
  }
}

}  // namespace galley::engine
