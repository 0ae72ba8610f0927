// SPDX-License-Identifier: Apache-2.0
// State: lifecycle, blocking waits, indexes, sessions and the time-driven work (TTL checks,
// session TTLs, reaping). KV lives in state_kv.cc, the catalog in state_catalog.cc,
// persistence in state_snapshot.cc.
#include "sandbox/consul/state.h"

#include <algorithm>

namespace galley::sandbox::consul {

namespace {
constexpr auto kMaxLockDelay = std::chrono::seconds(60);
constexpr auto kSessionTtlMax = std::chrono::hours(24);
constexpr int kSessionTtlMultiplier = 2;
constexpr auto kMaxSchedulerSleep = std::chrono::seconds(1);
}  // namespace

State::State(const ConsulOptions& options) : options_(options), node_id_(NewUuid()) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& n : options_.agent_nodes) agent_ids_[NodeKey(n.name)] = NewUuid();
  EnsureOwnNodeLocked(NextIndexLocked());
  changes_.store(0);
}

std::string State::node_id() const {
  std::lock_guard<std::mutex> lock(mu_);
  return node_id_;
}

uint64_t State::NextIndexLocked() {
  changes_.fetch_add(1);
  return ++index_;
}

void State::CommitLocked() { changed_.notify_all(); }

void State::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = true;
  changed_.notify_all();
  schedule_.notify_all();
}

bool State::stopping() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopping_;
}

void State::Wait(const Watch& w, uint64_t min_index, Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_ && IndexOfLocked(w) <= min_index) {
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) break;
  }
}

uint64_t State::IndexOfLocked(const Watch& w) const {
  uint64_t idx = 0;
  switch (w.kind) {
    case Watch::kKvKey:
      idx = KvKeyIndexLocked(w.arg);
      break;
    case Watch::kKvPrefix:
      idx = KvPrefixIndexLocked(w.arg);
      break;
    case Watch::kNodes:
      idx = nodes_index_;
      break;
    case Watch::kServices:
      idx = services_index_;
      break;
    case Watch::kCatalogService:
      idx = ServiceNameIndexLocked(w.arg, false);
      break;
    case Watch::kHealthService:
      idx = ServiceNameIndexLocked(w.arg, true);
      break;
    case Watch::kNode:
      idx = std::max(nodes_index_, services_index_);
      break;
    case Watch::kChecks:
      idx = checks_index_;
      break;
    case Watch::kSessions:
      idx = sessions_index_;
      break;
  }
  return std::max<uint64_t>(idx, 1);
}

// ---- Sessions ----------------------------------------------------------------------------

nlohmann::json State::SessionJson(const SessionRecord& s) const {
  nlohmann::json j = {{"ID", s.id},
                      {"Name", s.name},
                      {"Node", s.node},
                      {"LockDelay", s.lock_delay.count()},
                      {"Behavior", s.behavior},
                      {"TTL", s.ttl},
                      {"NodeChecks", s.node_checks},
                      {"ServiceChecks", nullptr},
                      {"CreateIndex", s.create_index},
                      {"ModifyIndex", s.modify_index}};
  if (!s.checks.empty()) j["Checks"] = s.checks;
  if (!s.service_checks.empty()) {
    nlohmann::json sc = nlohmann::json::array();
    for (const auto& id : s.service_checks) sc.push_back({{"ID", id}, {"Namespace", ""}});
    j["ServiceChecks"] = std::move(sc);
  }
  return j;
}

Result<std::string> State::SessionCreate(const SessionSpec& spec) {
  std::string behavior = spec.behavior.empty() ? "release" : spec.behavior;
  if (behavior != "release" && behavior != "delete") {
    return Status::Internal("Invalid Behavior setting '" + spec.behavior + "'");
  }
  Duration ttl{0};
  if (!spec.ttl.empty()) {
    auto d = ParseGoDuration(spec.ttl);
    if (!d.ok())
      return Status::Internal("Session TTL '" + spec.ttl + "' invalid: " + d.status().message());
    ttl = *d;
    Duration min = options_.session_ttl_min;
    if (ttl.count() != 0 && (ttl < min || ttl > kSessionTtlMax)) {
      return Status::Internal("Invalid Session TTL '" + std::to_string(ttl.count()) +
                              "', must be between [" + FormatGoDuration(min) + "=" +
                              FormatGoDuration(kSessionTtlMax) + "]");
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto node = nodes_.find(NodeKey(spec.node));
  if (node == nodes_.end()) return Status::Internal("Missing node registration");
  std::vector<std::string> all = spec.checks;
  for (const auto& c : spec.node_checks) {
    if (std::find(all.begin(), all.end(), c) == all.end()) all.push_back(c);
  }
  for (const auto& c : spec.service_checks) all.push_back(c);
  for (const auto& id : all) {
    auto check = checks_.find(ItemKey(spec.node, id));
    if (check == checks_.end()) return Status::Internal("Missing check '" + id + "' registration");
    if (check->second.spec.status == "critical") {
      return Status::Internal("Check '" + id + "' is in critical state");
    }
  }
  uint64_t idx = NextIndexLocked();
  SessionRecord s;
  do {
    s.id = NewUuid();
  } while (sessions_.count(s.id));
  s.name = spec.name;
  s.node = node->second.spec.name;
  s.behavior = behavior;
  s.ttl = spec.ttl;
  s.lock_delay = spec.lock_delay;
  s.checks = spec.checks;
  s.node_checks = spec.node_checks;
  s.service_checks = spec.service_checks;
  s.create_index = s.modify_index = idx;
  s.ttl_duration = ttl;
  if (ttl.count() > 0) s.expires = Clock::now() + ttl * kSessionTtlMultiplier;
  std::string id = s.id;
  sessions_[id] = std::move(s);
  sessions_index_ = idx;
  CommitLocked();
  schedule_dirty_ = true;
  schedule_.notify_all();
  return id;
}

void State::SessionDestroy(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t idx = NextIndexLocked();
  InvalidateSessionLocked(idx, id);
  CommitLocked();
}

std::optional<nlohmann::json> State::SessionRenew(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return std::nullopt;
  if (it->second.ttl_duration.count() > 0) {
    it->second.expires = Clock::now() + it->second.ttl_duration * kSessionTtlMultiplier;
    schedule_dirty_ = true;
    schedule_.notify_all();
  }
  return nlohmann::json::array({SessionJson(it->second)});
}

JsonRead State::SessionInfo(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  JsonRead r{IndexOfLocked({Watch::kSessions, ""}), nlohmann::json::array()};
  auto it = sessions_.find(id);
  if (it != sessions_.end()) r.body.push_back(SessionJson(it->second));
  return r;
}

JsonRead State::SessionList() const {
  std::lock_guard<std::mutex> lock(mu_);
  JsonRead r{IndexOfLocked({Watch::kSessions, ""}), nlohmann::json::array()};
  for (const auto& [id, s] : sessions_) r.body.push_back(SessionJson(s));
  return r;
}

JsonRead State::SessionsOfNode(const std::string& node) const {
  std::lock_guard<std::mutex> lock(mu_);
  JsonRead r{IndexOfLocked({Watch::kSessions, ""}), nlohmann::json::array()};
  for (const auto& [id, s] : sessions_) {
    if (EqualFold(s.node, node)) r.body.push_back(SessionJson(s));
  }
  return r;
}

void State::InvalidateSessionLocked(uint64_t idx, const std::string& id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  SessionRecord s = std::move(it->second);
  sessions_.erase(it);
  sessions_index_ = idx;
  Duration delay = std::min<Duration>(s.lock_delay, kMaxLockDelay);
  auto now = Clock::now();
  std::vector<std::string> held;
  for (const auto& [key, e] : kv_) {
    if (e.session == s.id) held.push_back(key);
  }
  for (const auto& key : held) {
    if (s.behavior == "delete") {
      KvDeleteLocked(idx, key);
    } else {
      KvEntry e = kv_[key];
      e.session.clear();
      KvSetLocked(idx, &e, true);
    }
    if (delay.count() > 0) lock_delays_[key] = now + delay;
  }
}

void State::InvalidateSessionsForCheckLocked(uint64_t idx, const std::string& node,
                                             const std::string& check_id) {
  std::vector<std::string> doomed;
  for (const auto& [id, s] : sessions_) {
    if (!EqualFold(s.node, node)) continue;
    auto matches = [&](const std::vector<std::string>& list) {
      return std::any_of(list.begin(), list.end(),
                         [&](const std::string& c) { return EqualFold(c, check_id); });
    };
    if (matches(s.checks) || matches(s.node_checks) || matches(s.service_checks))
      doomed.push_back(id);
  }
  for (const auto& id : doomed) InvalidateSessionLocked(idx, id);
}

void State::InvalidateSessionsForNodeLocked(uint64_t idx, const std::string& node) {
  std::vector<std::string> doomed;
  for (const auto& [id, s] : sessions_) {
    if (EqualFold(s.node, node)) doomed.push_back(id);
  }
  for (const auto& id : doomed) InvalidateSessionLocked(idx, id);
}

// ---- Time-driven work ------------------------------------------------------------------

std::vector<CheckJob> State::Tick(Clock::time_point now, Clock::time_point* next) {
  std::lock_guard<std::mutex> lock(mu_);
  schedule_dirty_ = false;
  *next = now + kMaxSchedulerSleep;
  std::vector<CheckJob> jobs;
  if (stopping_) return jobs;
  uint64_t idx = 0;
  auto bump = [&] {
    if (idx == 0) idx = NextIndexLocked();
    return idx;
  };

  std::vector<std::string> expired;
  for (const auto& [id, s] : sessions_) {
    if (s.ttl_duration.count() <= 0) continue;
    if (s.expires <= now)
      expired.push_back(id);
    else
      *next = std::min(*next, s.expires);
  }
  for (const auto& id : expired) InvalidateSessionLocked(bump(), id);

  std::vector<std::string> reap;
  for (auto& [key, c] : checks_) {
    if (!c.agent) continue;
    const CheckDefinition& def = c.spec.def;
    std::string type = def.Type();
    if (type == "ttl") {
      if (c.ttl_deadline <= now) {
        if (c.spec.status != "critical") {
          std::string out =
              c.spec.output.empty()
                  ? "TTL expired"
                  : "TTL expired (last output before timeout follows): " + c.spec.output;
          SetCheckStatusLocked(bump(), &c, "critical", out);
        }
        c.ttl_deadline = Clock::time_point::max();
      } else if (c.ttl_deadline != Clock::time_point::max()) {
        *next = std::min(*next, c.ttl_deadline);
      }
    } else if (type == "http" || type == "tcp") {
      if (!c.running) {
        if (c.next_run <= now) {
          c.running = true;
          jobs.push_back({key, c.generation, def});
        } else {
          *next = std::min(*next, c.next_run);
        }
      }
    }
    if (def.deregister_critical_after.count() > 0 && c.spec.status == "critical" &&
        !c.spec.service_id.empty()) {
      Duration after =
          std::max<Duration>(def.deregister_critical_after, options_.deregister_critical_min);
      auto when = c.critical_since + after;
      if (when <= now)
        reap.push_back(ItemKey(c.spec.node, c.spec.service_id));
      else
        *next = std::min(*next, when);
    }
  }
  for (const auto& key : reap) {
    if (services_.count(key)) DeleteServiceLocked(bump(), key);
  }
  bool missing = !nodes_.count(NodeKey(options_.node_name));
  for (const auto& n : options_.agent_nodes) missing = missing || !nodes_.count(NodeKey(n.name));
  if (missing) EnsureOwnNodeLocked(bump());
  if (idx != 0) CommitLocked();
  return jobs;
}

void State::ApplyCheckResult(const std::string& key, uint64_t generation, const std::string& status,
                             const std::string& output) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = checks_.find(key);
  if (it == checks_.end() || it->second.generation != generation) return;
  CheckRecord& c = it->second;
  c.running = false;
  Duration interval = std::max<Duration>(c.spec.def.interval, options_.check_min_interval);
  c.next_run = Clock::now() + interval;
  if (c.spec.status != status) {
    SetCheckStatusLocked(NextIndexLocked(), &c, status, output);
    CommitLocked();
  } else {
    // Consul's agent defers output-only changes (check_update_interval); so does the
    // emulator: the new output is visible at once but does not move any index.
    c.spec.output = output;
  }
  schedule_dirty_ = true;
  schedule_.notify_all();
}

void State::WaitForSchedule(Clock::time_point until) {
  std::unique_lock<std::mutex> lock(mu_);
  schedule_.wait_until(lock, until, [this] { return stopping_ || schedule_dirty_; });
}

}  // namespace galley::sandbox::consul
