// SPDX-License-Identifier: Apache-2.0
#include "engine/job_steps.h"

#include <algorithm>
#include <cstdio>

#include "base/strings.h"
#include "engine/jobs.h"
#include "engine/view_text.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// How long a job just written may take to show in Chronos (3.x loads it a moment after the
// POST; chronos-api.md §2.4, #833), and a hook's job to be startable.
constexpr std::chrono::milliseconds kVisibleWithin{5000};

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", s);
  return buf;
}

double Since(Clock::time_point t0, JobStepContext& ctx) {
  return std::chrono::duration<double>(ctx.o.clock->Now() - t0).count();
}

// "sha256:0123456789ab": enough of a digest to tell two apart in a message.
std::string Short(const std::string& digest) {
  return digest.size() > 19 ? digest.substr(0, 19) : digest;
}

void Emit(JobStepContext& ctx, EventKind kind, const Action& a, const std::string& line,
          std::optional<StepState> state = std::nullopt, double seconds = 0) {
  ApplyEvent ev;
  ev.kind = kind;
  ev.action_id = a.id;
  ev.target = a.target;
  ev.line = line;
  ev.state = state;
  ev.seconds = seconds;
  ctx.events.Emit(std::move(ev));
}

// Ends a step that journaled `entry`: the journal, the event, the outcome.
JobStepOutcome End(JobStepContext& ctx, const Action& a, int64_t entry, Clock::time_point t0,
                   StepState state, const std::string& detail, const json& journal) {
  JobStepOutcome out;
  out.state = state;
  out.detail = detail;
  out.seconds = Since(t0, ctx);
  std::string name = std::string(ActionKindName(a.kind)) + " " + a.target;
  if (state == StepState::kApplied) {
    ctx.recorder.Finish(entry, "succeeded", journal);
    bool hook = IsHookAction(a.kind);
    Emit(ctx, EventKind::kStepFinished, a,
         name + (hook ? ": succeeded in " : ": done in ") + Seconds(out.seconds), state,
         out.seconds);
  } else if (state == StepState::kFailed) {
    ctx.recorder.Finish(entry, "failed", journal);
    Emit(ctx, EventKind::kStepFinished, a, name + ": failed: " + detail, state, out.seconds);
  } else if (state == StepState::kNotAttempted) {
    ctx.recorder.Finish(entry, "skipped", journal);
    Emit(ctx, EventKind::kStepFinished, a, name + ": " + detail, state, out.seconds);
  }
  // kInterrupted: the entry stays open for the next apply.
  return out;
}

// The live job's digest: "0" when Chronos does not know it.
Result<std::string> LiveDigest(ApplyTarget& target, const std::string& name) {
  auto live = target.Job(name);
  if (!live.ok() && live.status().code() == StatusCode::kNotFound) return std::string("0");
  if (!live.ok()) return live.status();
  return JobDigest(live->body);
}

// A transport failure or a 5xx after the request may have been sent (writes are sent once).
bool AnswerLost(const Status& s) {
  return s.code() == StatusCode::kTimeout || s.code() == StatusCode::kUnavailable;
}

// Waits (on the apply's clock) until Chronos shows the job, or `within` has passed.
Status AwaitVisible(JobStepContext& ctx, const std::string& name) {
  auto until = ctx.o.clock->Now() + kVisibleWithin;
  std::chrono::milliseconds pause{100};
  for (;;) {
    auto live = ctx.target.Job(name);
    if (live.ok()) return Status::Ok();
    if (live.status().code() != StatusCode::kNotFound) return live.status();
    if (ctx.o.clock->Now() >= until) {
      return Status::NotFound(
          "Chronos accepted job " + name +
          " but does not show it (a dependent job whose parents are missing stays invisible)");
    }
    ctx.o.clock->Sleep(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(1000));
  }
}

std::string HookKind(const Action& a) {
  std::string k = a.desired.is_object() ? a.desired.value("hook", std::string()) : "";
  return k.empty() ? "hook" : k;
}

std::string HookApp(const Action& a) {
  return a.desired.is_object() ? a.desired.value("app", std::string()) : "";
}

// "error count 3, last error 2026-12-08T01:02:03.456Z".
std::string ErrorFacts(const clients::ChronosJobStats& s) {
  std::string out = "error count " + std::to_string(s.error_count);
  if (!s.last_error.empty()) out += ", last error " + s.last_error;
  return out;
}

}  // namespace

RunOutcome OutcomeSince(const clients::ChronosJobStats& before,
                        const clients::ChronosJobStats& now) {
  bool succeeded = now.success_count > before.success_count ||
                   (!now.last_success.empty() && now.last_success != before.last_success);
  bool failed = now.error_count > before.error_count ||
                (!now.last_error.empty() && now.last_error != before.last_error);
  if (succeeded && failed) {
    // Both moved (a run failed and a later one succeeded, or the reverse): the later one
    // counts. Chronos' times are ISO 8601 UTC with a fixed width, so they sort as text.
    return now.last_success >= now.last_error ? RunOutcome::kSucceeded : RunOutcome::kFailed;
  }
  if (succeeded) return RunOutcome::kSucceeded;
  if (failed) return RunOutcome::kFailed;
  return RunOutcome::kPending;
}

json StatsToJson(const clients::ChronosJobStats& s) {
  return json{{"success_count", s.success_count},
              {"error_count", s.error_count},
              {"last_success", s.last_success},
              {"last_error", s.last_error}};
}

clients::ChronosJobStats StatsFromJson(const json& j) {
  clients::ChronosJobStats s;
  if (!j.is_object()) return s;
  auto num = [&](const char* k) -> int64_t {
    auto it = j.find(k);
    return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
  };
  auto str = [&](const char* k) -> std::string {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get<std::string>() : "";
  };
  s.success_count = num("success_count");
  s.error_count = num("error_count");
  s.last_success = str("last_success");
  s.last_error = str("last_error");
  return s;
}

JobStepOutcome RunJobWrite(const Action& a, JobStepContext& ctx) {
  auto t0 = ctx.o.clock->Now();
  const bool deleting = a.kind == ActionKind::kJobDelete;
  const std::string want = deleting ? "0" : JobDigest(a.desired);
  json expect = deleting ? json{{"absent", true}} : json{{"digest", want}};
  // Journaled with what is recorded on success, so recovery can record it too.
  json record =
      deleting ? json{{"absent", true}} : (a.record.is_null() ? NormalizeJob(a.desired) : a.record);
  Action journaled = a;
  if (!deleting) journaled.record = record;
  auto started = ctx.recorder.Start(journaled, expect);
  if (!started.ok()) {
    JobStepOutcome out{StepState::kFailed, started.status().message(), Since(t0, ctx)};
    Emit(ctx, EventKind::kStepFinished, a,
         std::string(ActionKindName(a.kind)) + " " + a.target + ": failed: " + out.detail,
         out.state, out.seconds);
    return out;
  }
  int64_t entry = *started;
  auto fail = [&](const std::string& why) {
    return End(ctx, a, entry, t0, StepState::kFailed, why, json{{"error", why}});
  };
  Emit(ctx, EventKind::kStepStarted, a,
       std::string(ActionKindName(a.kind)) + " " + a.target + ": starting");

  // Chronos has no compare-and-set: the job is read just before it is written.
  auto live = LiveDigest(ctx.target, a.target);
  if (!live.ok()) return fail(live.status().message());
  bool already = *live == want;  // e.g. an earlier attempt whose answer was lost
  if (*live != a.token && !already) {
    if (a.token == "0")
      return fail("conflict: job " + a.target +
                  " was created since the plan was made; not overwritten");
    if (*live == "0")
      return fail("conflict: job " + a.target +
                  " was deleted since the plan was made; not recreated");
    return fail("conflict: job " + a.target + " changed since the plan was made (" +
                Short(a.token) + " → " + Short(*live) + "); not overwritten");
  }
  if (already) {
    Emit(ctx, EventKind::kStepNote, a,
         a.target + (deleting ? ": already gone" : ": Chronos already has it as planned"));
  } else {
    if (Status may = ctx.may_write(); !may.ok()) {
      return End(ctx, a, entry, t0, StepState::kNotAttempted, may.message(),
                 json{{"why", may.message()}});
    }
    Status w = deleting ? ctx.target.DeleteJob(a.target) : ctx.target.PutJob(a.desired);
    if (deleting && w.code() == StatusCode::kNotFound) w = Status::Ok();  // already gone
    if (!w.ok() && AnswerLost(w)) {
      auto after = LiveDigest(ctx.target, a.target);
      if (after.ok() && *after == want) {
        Emit(ctx, EventKind::kStepNote, a,
             a.target + ": the write's answer was lost, but Chronos has it");
        w = Status::Ok();
      }
    }
    if (!w.ok()) return fail(w.message());
    if (!deleting) {
      if (Status seen = AwaitVisible(ctx, a.target); !seen.ok()) return fail(seen.message());
    }
  }
  AppliedItem item;
  item.target = a.target;
  item.env = a.env;
  item.service = a.service;
  item.expect = record;
  item.job = true;
  Status rec = ctx.recorder.Applied(item);
  JobStepOutcome out = End(ctx, a, entry, t0, StepState::kApplied, "", json{{"digest", want}});
  if (!rec.ok()) {
    Emit(ctx, EventKind::kWarning, a,
         "warning: " + a.target + ": applied, but the record was not saved: " + rec.message());
  }
  return out;
}

JobStepOutcome RunHook(const Action& a, JobStepContext& ctx) {
  auto t0 = ctx.o.clock->Now();
  const std::string name = a.target;
  const std::string what = HookKind(a) + " job " + name;
  json expect = {{"hook", HookKind(a)}, {"app", HookApp(a)}};
  if (ctx.o.skip_hooks) {
    auto started = ctx.recorder.Start(a, expect);
    std::string why = "skipped (--skip-hooks): " + what + " was not run";
    if (started.ok()) ctx.recorder.Finish(*started, "skipped", json{{"why", why}});
    Emit(ctx, EventKind::kStepFinished, a, "hook-run " + name + ": " + why,
         StepState::kNotAttempted);
    JobStepOutcome out{StepState::kNotAttempted, why, Since(t0, ctx)};
    out.skipped = true;
    return out;
  }

  // The baseline: the job's counts before this run. A job written in this plan may take a
  // moment to show (Chronos 3.x).
  auto visible_until = t0 + kVisibleWithin;
  Result<clients::ChronosJobStats> before = Status::Internal("not read");
  for (std::chrono::milliseconds pause{100};; pause = std::min(pause * 2, kVisibleWithin)) {
    before = ctx.target.JobStats(name);
    if (before.ok() || before.status().code() != StatusCode::kNotFound ||
        ctx.o.clock->Now() >= visible_until)
      break;
    ctx.o.clock->Sleep(pause);
  }
  expect["before"] = before.ok() ? StatsToJson(*before) : json();
  auto started = ctx.recorder.Start(a, expect);
  if (!started.ok()) {
    JobStepOutcome out{StepState::kFailed, started.status().message(), Since(t0, ctx)};
    Emit(ctx, EventKind::kStepFinished, a, "hook-run " + name + ": failed: " + out.detail,
         out.state, out.seconds);
    return out;
  }
  int64_t entry = *started;
  auto fail = [&](const std::string& why) {
    return End(ctx, a, entry, t0, StepState::kFailed, why, json{{"error", why}});
  };
  if (!before.ok()) return fail(what + ": " + before.status().message());
  // The token: the job as the plan means to run it. One edited by hand since is not run.
  if (!a.token.empty() && a.token != "0") {
    auto live = LiveDigest(ctx.target, name);
    if (!live.ok()) return fail(what + ": " + live.status().message());
    if (*live != a.token)
      return fail("conflict: " + what + " changed since the plan was made (" + Short(a.token) +
                  " → " + Short(*live) + "); not started");
  }
  if (before->disabled)
    return fail(what + " is disabled in Chronos, so a run would never start; not started");
  if (Status may = ctx.may_write(); !may.ok()) {
    return End(ctx, a, entry, t0, StepState::kNotAttempted, may.message(),
               json{{"why", may.message()}});
  }
  Status run = ctx.target.StartJob(name);
  if (!run.ok() && AnswerLost(run)) {
    // The start may have reached Chronos: the job's outcome tells (or the deadline).
    Emit(ctx, EventKind::kStepNote, a,
         "hook-run " + name + ": the start's answer was lost (" + run.message() +
             "); following the job");
  } else if (!run.ok()) {
    return fail(what + " could not be started: " + run.message());
  }
  std::string app = HookApp(a);
  Emit(ctx, EventKind::kStepStarted, a,
       "hook-run " + name + ": started (" + HookKind(a) + (app.empty() ? "" : " of " + app) +
           "; deadline " + DeadlineText(ctx.o.hook_deadline) + ")");

  auto deadline = t0 + ctx.o.hook_deadline;
  // After 100 ms (or the poll interval, if shorter), then doubling up to the poll interval.
  std::chrono::milliseconds pause = std::min(std::chrono::milliseconds(100), ctx.o.poll_interval);
  std::string last_error;  // a read that failed: retried until the deadline
  for (;;) {
    if (ctx.stopping && ctx.stopping()) {
      // Left open: the next apply settles it by the job's outcome.
      JobStepOutcome out{StepState::kInterrupted,
                         what +
                             " was started, then the apply was interrupted; the next apply "
                             "settles it by the job's outcome",
                         Since(t0, ctx)};
      Emit(ctx, EventKind::kStepFinished, a, "hook-run " + name + ": " + out.detail, out.state,
           out.seconds);
      return out;
    }
    ctx.o.clock->Sleep(pause);
    pause = std::min(pause * 2, ctx.o.poll_interval);
    auto now = ctx.target.JobStats(name);
    if (now.ok()) {
      last_error.clear();
      switch (OutcomeSince(*before, *now)) {
        case RunOutcome::kSucceeded:
          return End(ctx, a, entry, t0, StepState::kApplied, "",
                     json{{"after", StatsToJson(*now)}});
        case RunOutcome::kFailed: {
          std::string why = what + " failed (" + ErrorFacts(*now) +
                            "); its output: " + ctx.target.JobOutputLocation(name);
          return End(ctx, a, entry, t0, StepState::kFailed, why,
                     json{{"error", why}, {"after", StatsToJson(*now)}});
        }
        case RunOutcome::kPending:
          break;
      }
    } else {
      last_error = now.status().message();
    }
    if (ctx.o.clock->Now() >= deadline) {
      std::string why = what + " has no outcome within " + DeadlineText(ctx.o.hook_deadline) +
                        " (still queued or running; it was not stopped)";
      if (!last_error.empty()) why += "; last read: " + last_error;
      why += "; its output: " + ctx.target.JobOutputLocation(name);
      return fail(why);
    }
  }
}

Result<std::string> SettleJobEntry(const store::JournalEntry& e, const json& detail,
                                   ApplyTarget& target, Recorder& recorder,
                                   store::StateStore& store) {
  const std::string name = detail.value("target", std::string());
  const json& expect = detail["expect"];
  std::string what = "run " + std::to_string(e.run_id) + " " + e.kind + " " + name;
  if (e.kind == "hook-run") {
    json before = expect.is_object() && expect.contains("before") ? expect["before"] : json();
    auto now = target.JobStats(name);
    RunOutcome outcome = RunOutcome::kPending;
    if (now.ok() && before.is_object()) outcome = OutcomeSince(StatsFromJson(before), *now);
    if (outcome == RunOutcome::kSucceeded) {
      RETURN_IF_ERROR(store.JournalFinish(
          e.id, "succeeded", SafeDump(json{{"recovered", true}, {"after", StatsToJson(*now)}})));
      return what +
             ": was interrupted; the job has succeeded since (what it gated did not run: the "
             "next plan runs the hook again)";
    }
    std::string why =
        outcome == RunOutcome::kFailed
            ? "interrupted; the job has failed since (" + ErrorFacts(*now) +
                  "); its output: " + target.JobOutputLocation(name)
            : std::string("interrupted: the hook's outcome is unknown; the app was not deployed");
    RETURN_IF_ERROR(store.JournalFinish(e.id, "failed", SafeDump(json{{"error", why}})));
    return what + ": " + why;
  }
  // A job write: what Chronos holds now against what the write meant.
  bool absent = ExpectsAbsent(expect);
  std::string want = absent ? "0" : (expect.is_object() ? expect.value("digest", "") : "");
  auto live = LiveDigest(target, name);
  if (!live.ok()) return live.status();
  if (*live == want && !want.empty()) {
    json rec = detail.contains("record") ? detail["record"] : json();
    if (absent) rec = json{{"absent", true}};
    if (!rec.is_null()) {
      AppliedItem item;
      item.target = name;
      item.env = detail.value("env", std::string());
      item.service = detail.value("service", std::string());
      item.expect = rec;
      item.job = true;
      RETURN_IF_ERROR(recorder.Applied(item));
    }
    RETURN_IF_ERROR(store.JournalFinish(e.id, "succeeded", SafeDump(json{{"recovered", true}})));
    return what + ": was interrupted after it took effect; recorded as applied";
  }
  RETURN_IF_ERROR(store.JournalFinish(
      e.id, "failed", SafeDump(json{{"error", "interrupted before it took effect"}})));
  return what + ": was interrupted before it took effect; the plan redoes it";
}

}  // namespace galley::engine
