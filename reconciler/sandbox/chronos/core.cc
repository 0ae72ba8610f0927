// SPDX-License-Identifier: Apache-2.0
#include "sandbox/chronos/core.h"

#include <algorithm>

#include "base/iso8601_schedule.h"

namespace galley::sandbox::chronos {
namespace {

ApiError Require(const std::string& text) { return {400, "requirement failed: " + text, true}; }

// The job's schedule with scheduleTimeZone applied (a zone this emulator does not know keeps
// the start's own offset; see README). An empty start is `now - 1 s` (3.x).
std::optional<iso8601::Schedule> EffectiveSchedule(const OrderedJson& job, int64_t now_ms) {
  if (!job.contains("schedule")) return std::nullopt;
  auto s = iso8601::ParseSchedule(job["schedule"].get<std::string>());
  if (!s.ok()) return std::nullopt;
  iso8601::Schedule out = *s;
  if (out.start_empty) {
    out.start_empty = false;
    out.start_ms = now_ms - 1000;
  }
  std::string tz = job.value("scheduleTimeZone", "");
  if (!tz.empty()) {
    if (auto off = iso8601::ZoneOffsetMinutes(tz)) iso8601::RetainFieldsInZone(&out, *off);
  }
  return out;
}

}  // namespace

std::set<std::string> ChronosCore::Parents(const OrderedJson& job) const {
  std::set<std::string> out;
  if (job.contains("parents")) {
    for (const auto& p : job["parents"]) out.insert(p.get<std::string>());
  }
  return out;
}

bool ChronosCore::Visible(const OrderedJson& job) const { return VisibleAt(job, 0); }

// Hidden dependants (created before their parents) can form a cycle among themselves; the
// depth bound ends the walk there (such jobs never become visible, as in Chronos' graph).
bool ChronosCore::VisibleAt(const OrderedJson& job, size_t depth) const {
  if (depth > jobs_.size()) return false;
  for (const auto& p : Parents(job)) {
    auto it = jobs_.find(p);
    if (it == jobs_.end() || !VisibleAt(it->second, depth + 1)) return false;
  }
  return true;
}

bool ChronosCore::Exists(const std::string& name) const {
  auto it = jobs_.find(name);
  return it != jobs_.end() && Visible(it->second);
}

const OrderedJson* ChronosCore::Find(const std::string& name) const {
  auto it = jobs_.find(name);
  return it != jobs_.end() && Visible(it->second) ? &it->second : nullptr;
}

std::vector<const OrderedJson*> ChronosCore::Visible() const {
  std::vector<const OrderedJson*> out;
  for (const auto& [name, job] : jobs_) {
    if (Visible(job)) out.push_back(&job);
  }
  return out;
}

bool ChronosCore::WouldCycle(const std::string& child, const std::set<std::string>& parents) const {
  // A cycle: `child` is reachable upwards from one of its new parents.
  std::vector<std::string> stack(parents.begin(), parents.end());
  std::set<std::string> seen;
  while (!stack.empty()) {
    std::string n = stack.back();
    stack.pop_back();
    if (n == child) return true;
    if (!seen.insert(n).second) continue;
    auto it = jobs_.find(n);
    if (it == jobs_.end()) continue;
    for (const auto& p : Parents(it->second)) stack.push_back(p);
  }
  return false;
}

std::optional<ApiError> ChronosCore::PutScheduled(OrderedJson job, int64_t now_ms) {
  const std::string name = job["name"];
  if (job.contains("parents")) {
    return ApiError{500, "argument type mismatch (a job with parents posted to /iso8601)", false};
  }
  const std::string schedule = job["schedule"];
  auto parsed = iso8601::ParseSchedule(schedule);
  if (!Exists(name)) {
    if (!ValidJobName(name)) {
      return Require("the job's name is invalid. Allowed names: '" + std::string(kJobNamePattern) +
                     "'");
    }
    if (!parsed.ok()) return ApiError{400, "Cannot parse schedule '" + schedule + "' (wtf bro)"};
    if (!parsed->start_empty && parsed->start_ms < 1000) {
      return ApiError{400, "Scheduled start date '" +
                               iso8601::FormatInstant(parsed->start_ms, parsed->offset_minutes) +
                               "' is before 1970!"};
    }
    if (!job["uris"].empty() && !job["fetch"].empty()) {
      return ApiError{400, "Tried to add both uri (deprecated) and fetch parameters on " + name};
    }
  } else if (!parsed.ok()) {
    return ApiError{400, "Cannot parse schedule '" + schedule + "' (wtf bro)"};
  }
  // Update of a dependent job: its edges go (it becomes scheduled).
  for (auto it = edges_.begin(); it != edges_.end();) {
    it = it->first.second == name ? edges_.erase(it) : std::next(it);
  }
  jobs_[name] = std::move(job);
  (void)now_ms;
  ++changes_;
  return std::nullopt;
}

std::optional<ApiError> ChronosCore::PutDependent(OrderedJson job, int64_t now_ms) {
  (void)now_ms;
  const std::string name = job["name"];
  if (!job.contains("parents")) {
    return ApiError{500, "argument type mismatch (a job without parents posted to /dependency)",
                    false};
  }
  std::set<std::string> parents = Parents(job);
  if (parents.count(name)) {
    // Chronos 3.x stores this and its scheduler loop exits on the next reload (§4.4).
    return ApiError{500,
                    "java.lang.IllegalArgumentException: loops not allowed (job " + name +
                        " names itself as a parent)",
                    false};
  }
  bool all_present = true;
  for (const auto& p : parents) all_present = all_present && Exists(p);
  if (!Exists(name)) {
    if (!ValidJobName(name)) {
      return Require("the job's name is invalid. Allowed names: '" + std::string(kJobNamePattern) +
                     "'");
    }
    if (parents.empty()) return ApiError{500, "java.lang.Exception: Error, parent does not exist"};
    // Missing parents: stored, answered 204, invisible until they exist (#815).
  } else {
    if (parents.empty() || !all_present) {
      return Require("JobSchedule " + name + " does not have all parents defined!");
    }
    if (WouldCycle(name, parents)) {
      return ApiError{
          500, "java.lang.IllegalArgumentException: Edge would induce a cycle (" + name + ")",
          false};
    }
    std::set<std::string> old = Parents(jobs_[name]);
    if (old != parents) {
      for (auto it = edges_.begin(); it != edges_.end();) {
        it = it->first.second == name ? edges_.erase(it) : std::next(it);
      }
    }
  }
  jobs_[name] = std::move(job);
  ++changes_;
  return std::nullopt;
}

std::optional<ApiError> ChronosCore::Delete(const std::string& name,
                                            std::vector<std::string>* kill) {
  if (!Exists(name)) return Require("JobSchedule '" + name + "' not found");
  OrderedJson gone = jobs_[name];
  std::set<std::string> gone_parents = Parents(gone);
  bool scheduled = !gone.contains("parents");
  for (auto& [child_name, child] : jobs_) {
    std::set<std::string> ps = Parents(child);
    if (!ps.count(name)) continue;
    if (scheduled) {
      child = ConvertedChild(child, gone.value("schedule", ""), gone.value("scheduleTimeZone", ""),
                             options_.defaults);
    } else {
      ps.erase(name);
      ps.insert(gone_parents.begin(), gone_parents.end());
      child["parents"] = ps;
    }
  }
  jobs_.erase(name);
  for (auto it = edges_.begin(); it != edges_.end();) {
    it = (it->first.first == name || it->first.second == name) ? edges_.erase(it) : std::next(it);
  }
  queue_.erase(std::remove_if(queue_.begin(), queue_.end(),
                              [&](const Pending& p) { return p.name == name; }),
               queue_.end());
  for (const auto& [id, r] : running_) {
    if (r.name == name) kill->push_back(id);
  }
  durations_.erase(name);
  ++changes_;
  return std::nullopt;
}

std::optional<ApiError> ChronosCore::Start(const std::string& name, const std::string& arguments,
                                           int64_t now_ms) {
  auto it = jobs_.find(name);
  if (it == jobs_.end() || !Visible(it->second)) return Require("Job '" + name + "' not found");
  std::string args;
  bool blank = arguments.find_first_not_of(" \t\n") == std::string::npos;
  if (blank) {
    for (const auto& a : it->second["arguments"]) {
      if (!args.empty()) args += ' ';
      args += a.get<std::string>();
    }
  } else {
    for (char c : arguments) {
      if (c != ';') args += c;  // commandInjectionFilter
    }
  }
  Enqueue({name, now_ms, now_ms, 0, args});
  return std::nullopt;
}

bool ChronosCore::MarkSuccess(const std::string& name, int64_t now_ms) {
  auto it = jobs_.find(name);
  if (it == jobs_.end() || !Visible(it->second)) return false;
  OrderedJson& j = it->second;
  j["successCount"] = j["successCount"].get<int64_t>() + 1;
  j["lastSuccess"] = iso8601::FormatInstant(now_ms, 0);
  j["errorsSinceLastSuccess"] = 0;
  for (auto& [edge, count] : edges_) {
    if (edge.second == name) count = 0;
  }
  ++changes_;
  TriggerChildren(name, now_ms);
  return true;
}

std::optional<ApiError> ChronosCore::TasksOf(const std::string& name,
                                             std::vector<std::string>* ids) const {
  if (!Exists(name)) return Require("JobSchedule '" + name + "' not found");
  for (const auto& [id, r] : running_) {
    if (r.name == name) ids->push_back(id);
  }
  return std::nullopt;
}

void ChronosCore::Enqueue(Pending p) {
  // [3.0.1+] at most one queued run per job.
  for (const auto& q : queue_) {
    if (q.name == p.name) return;
  }
  queue_.push_back(std::move(p));
}

void ChronosCore::RewriteSchedule(OrderedJson* job, int64_t now_ms) const {
  auto s = EffectiveSchedule(*job, now_ms);
  if (!s) return;
  if (s->start_ms <= now_ms) {
    if (auto next = iso8601::NextAfter(*s, now_ms)) s->start_ms = next->at_ms;
  }
  if (s->repeats && *s->repeats > 0) *s->repeats -= 1;
  (*job)["schedule"] = iso8601::FormatSchedule(*s);
}

std::vector<Launch> ChronosCore::Tick(int64_t now_ms) {
  for (const auto& [name, job] : jobs_) {
    if (job.contains("parents") || job["disabled"].get<bool>() || !Visible(job)) continue;
    auto s = EffectiveSchedule(job, now_ms);
    if (!s || (s->repeats && *s->repeats == 0)) continue;
    if (s->start_ms < now_ms) Enqueue({name, s->start_ms, now_ms, 0, ""});
  }
  std::vector<Launch> out;
  std::deque<Pending> keep;
  while (!queue_.empty()) {
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    if (p.not_before_ms > now_ms) {
      keep.push_back(std::move(p));
      continue;
    }
    auto it = jobs_.find(p.name);
    if (it == jobs_.end() || !Visible(it->second)) continue;  // deleted
    OrderedJson& job = it->second;
    if (job["disabled"].get<bool>()) continue;  // JobExpired
    bool active = false;
    for (const auto& [id, r] : running_) active = active || r.name == p.name;
    if (active && !job["concurrent"].get<bool>()) continue;  // dropped; the schedule re-queues
    if (!job.contains("parents")) RewriteSchedule(&job, now_ms);
    for (auto& [edge, count] : edges_) {
      if (edge.second == p.name) count = 0;
    }
    Launch l;
    l.name = p.name;
    l.attempt = p.attempt;
    l.arguments = p.arguments;
    l.task_id = "ct:" + std::to_string(p.due_ms) + ":" + std::to_string(p.attempt) + ":" + p.name +
                ":" + p.arguments;
    l.job = job;
    running_[l.task_id] = {p.name, p.attempt, now_ms, p.arguments, p.due_ms};
    out.push_back(std::move(l));
    ++changes_;
  }
  queue_ = std::move(keep);
  return out;
}

void ChronosCore::TriggerChildren(const std::string& parent, int64_t now_ms) {
  for (auto& [name, child] : jobs_) {
    std::set<std::string> ps = Parents(child);
    if (!ps.count(parent) || !Visible(child)) continue;
    bool fire = false;
    if (ps.size() == 1) {
      fire = true;
    } else {
      int64_t& mine = edges_[{parent, name}];
      ++mine;
      int64_t min = mine;
      for (const auto& p : ps) min = std::min(min, edges_[{p, name}]);
      fire = mine == min;
    }
    if (fire && !child["disabled"].get<bool>()) Enqueue({name, now_ms, now_ms, 0, ""});
  }
}

void ChronosCore::OnFinished(const std::string& task_id, bool success, int64_t now_ms) {
  auto rit = running_.find(task_id);
  if (rit == running_.end()) return;
  Running r = rit->second;
  running_.erase(rit);
  auto it = jobs_.find(r.name);
  if (it == jobs_.end()) return;
  OrderedJson& j = it->second;
  ++changes_;
  if (success) {
    j["successCount"] = j["successCount"].get<int64_t>() + 1;
    j["lastSuccess"] = iso8601::FormatInstant(now_ms, 0);
    j["errorsSinceLastSuccess"] = 0;
    durations_[r.name].push_back(now_ms - r.started_ms);
    if (j.contains("schedule")) {
      auto s = iso8601::ParseSchedule(j["schedule"].get<std::string>());
      if (s.ok() && s->repeats && *s->repeats == 0) j["disabled"] = true;  // recurrences done
    }
    TriggerChildren(r.name, now_ms);
    return;
  }
  const std::string last_error = j["lastError"], last_success = j["lastSuccess"];
  bool clean = last_error.empty() || last_success >= last_error;
  if (r.attempt < j["retries"].get<int64_t>() && clean) {
    Enqueue({r.name, now_ms + options_.failure_retry_ms, now_ms + options_.failure_retry_ms,
             r.attempt + 1, r.arguments});
    return;
  }
  j["errorCount"] = j["errorCount"].get<int64_t>() + 1;
  j["errorsSinceLastSuccess"] = j["errorsSinceLastSuccess"].get<int64_t>() + 1;
  j["lastError"] = iso8601::FormatInstant(now_ms, 0);
  if (j["softError"].get<bool>()) TriggerChildren(r.name, now_ms);
}

void ChronosCore::OnKilled(const std::string& task_id) { running_.erase(task_id); }

std::string ChronosCore::LastStatus(const OrderedJson& job) const {
  const std::string s = job["lastSuccess"], e = job["lastError"];
  if (s.empty() && e.empty()) return "fresh";
  return s >= e ? "success" : "failure";
}

std::string ChronosCore::RunState(const std::string& name) const {
  int n = 0;
  for (const auto& [id, r] : running_) n += r.name == name;
  if (n > 0) return std::to_string(n) + " running";
  for (const auto& q : queue_) {
    if (q.name == name) return "queued";
  }
  return "idle";
}

std::vector<int64_t> ChronosCore::Durations(const std::string& name) const {
  auto it = durations_.find(name);
  return it == durations_.end() ? std::vector<int64_t>{} : it->second;
}

std::optional<int64_t> ChronosCore::NextWakeMs(int64_t now_ms) const {
  std::optional<int64_t> best;
  auto take = [&](int64_t t) { best = best ? std::min(*best, t) : t; };
  for (const auto& q : queue_) take(q.not_before_ms);
  for (const auto& [name, job] : jobs_) {
    if (job.contains("parents") || job["disabled"].get<bool>()) continue;
    auto s = EffectiveSchedule(job, now_ms);
    if (s && !(s->repeats && *s->repeats == 0)) take(s->start_ms + 1);
  }
  return best;
}

nlohmann::json ChronosCore::Snapshot() const {
  nlohmann::json jobs = nlohmann::json::array();
  for (const auto& [name, job] : jobs_) jobs.push_back(nlohmann::json::parse(job.dump()));
  return {{"jobs", jobs}};
}

Status ChronosCore::Restore(const nlohmann::json& snapshot) {
  if (!snapshot.is_object() || !snapshot.contains("jobs") || !snapshot["jobs"].is_array()) {
    return Status::InvalidArgument("chronos: not a Chronos emulator snapshot");
  }
  std::map<std::string, OrderedJson> jobs;
  for (const auto& j : snapshot["jobs"]) {
    DeserializeError err;
    auto job = ReadJob(j, options_.defaults, "", &err);
    if (!job) return Status::InvalidArgument("chronos: bad job in snapshot: " + err.message);
    jobs[(*job)["name"].get<std::string>()] = *job;
  }
  jobs_ = std::move(jobs);
  return Status::Ok();
}

}  // namespace galley::sandbox::chronos
