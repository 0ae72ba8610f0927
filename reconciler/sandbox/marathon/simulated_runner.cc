// SPDX-License-Identifier: Apache-2.0
#include "sandbox/marathon/simulated_runner.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <queue>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sandbox/marathon/util.h"

namespace galley::sandbox::marathon {
namespace {

using Clock = std::chrono::steady_clock;

enum class Timer { kRun, kHealth, kKilled };

struct SimTask {
  TaskSpec spec;
  TaskStatus status;
  uint64_t generation = 0;  // invalidates stale timers after a kill
};

class SimulatedRunnerImpl : public SimulatedRunner {
 public:
  explicit SimulatedRunnerImpl(const SimulatedRunnerOptions& options) : options_(options) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~SimulatedRunnerImpl() override { Shutdown(); }

  void SetListener(Listener listener) override {
    std::lock_guard<std::mutex> lock(mu_);
    listener_ = std::move(listener);
  }

  Status Launch(const TaskSpec& spec) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Status::Unavailable("simulated runner is shut down");
    if (tasks_.count(spec.task_id))
      return Status::AlreadyExists("task " + spec.task_id + " already runs");
    SimTask& t = tasks_[spec.task_id];
    t.spec = spec;
    t.status.state = TaskState::kStaging;
    t.status.staged_at = FormatTimestamp(NowMillis());
    by_app_[spec.app_id].insert(spec.task_id);
    Notify(spec.task_id, t.status);
    Schedule(options_.start_delay, spec.task_id, Timer::kRun, t.generation);
    return Status::Ok();
  }

  void Kill(const std::string& task_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = tasks_.find(task_id);
    if (it == tasks_.end() || it->second.status.state == TaskState::kKilling) return;
    SimTask& t = it->second;
    ++t.generation;
    t.status.state = TaskState::kKilling;
    Notify(task_id, t.status);
    Schedule(options_.kill_delay, task_id, Timer::kKilled, t.generation);
  }

  std::optional<TaskStatus> Get(const std::string& task_id) const override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = tasks_.find(task_id);
    if (it == tasks_.end()) return std::nullopt;
    return it->second.status;
  }

  void Shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_ && !thread_.joinable()) return;
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.clear();
    by_app_.clear();
  }

  void SetAppHealthy(const std::string& app_id, bool healthy) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (healthy) {
      unhealthy_apps_.erase(app_id);
    } else {
      unhealthy_apps_.insert(app_id);
    }
    auto it = by_app_.find(app_id);
    if (it == by_app_.end()) return;
    for (const auto& id : it->second) {
      auto t = tasks_.find(id);
      if (t == tasks_.end() || t->second.status.state != TaskState::kRunning ||
          t->second.spec.health_checks.empty()) {
        continue;
      }
      Schedule(std::chrono::milliseconds(0), id, Timer::kHealth, t->second.generation);
    }
  }

  size_t TaskCount() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return tasks_.size();
  }

 private:
  struct Entry {
    Clock::time_point when;
    uint64_t seq;
    std::string task_id;
    Timer timer;
    uint64_t generation;
    bool operator>(const Entry& o) const { return when != o.when ? when > o.when : seq > o.seq; }
  };

  // REQUIRES: mu_ held.
  void Schedule(std::chrono::milliseconds delay, const std::string& id, Timer timer,
                uint64_t generation) {
    bool wake = queue_.empty() || Clock::now() + delay < queue_.top().when;
    queue_.push(Entry{Clock::now() + delay, seq_++, id, timer, generation});
    if (wake) cv_.notify_all();
  }

  // REQUIRES: mu_ held. Queued for delivery outside the lock.
  void Notify(const std::string& id, const TaskStatus& status) {
    outbox_.emplace_back(id, status);
    if (outbox_.size() == 1) cv_.notify_all();
  }

  // REQUIRES: mu_ held.
  void Fire(const Entry& e) {
    auto it = tasks_.find(e.task_id);
    if (it == tasks_.end() || it->second.generation != e.generation) return;
    SimTask& t = it->second;
    std::string now = FormatTimestamp(NowMillis());
    switch (e.timer) {
      case Timer::kRun:
        if (t.status.state != TaskState::kStaging) return;
        t.status.state = TaskState::kRunning;
        t.status.started_at = now;
        Notify(e.task_id, t.status);
        if (!t.spec.health_checks.empty())
          Schedule(options_.health_delay, e.task_id, Timer::kHealth, t.generation);
        break;
      case Timer::kHealth: {
        if (t.status.state != TaskState::kRunning) return;
        bool healthy = !unhealthy_apps_.count(t.spec.app_id);
        t.status.health.resize(t.spec.health_checks.size());
        bool changed = false;
        for (auto& h : t.status.health) {
          if (healthy) {
            if (!h.alive || h.first_success.empty()) changed = true;
            if (h.first_success.empty()) h.first_success = now;
            if (!h.alive) h.last_success = now;
            if (h.last_success.empty()) h.last_success = now;
            h.alive = true;
            h.consecutive_failures = 0;
          } else {
            changed = true;
            h.alive = false;
            ++h.consecutive_failures;
            h.last_failure = now;
            h.last_failure_cause = "simulated health check failure";
          }
        }
        if (changed) Notify(e.task_id, t.status);
        // A failing task keeps being checked; a healthy one is only re-checked on demand.
        if (!healthy) Schedule(options_.health_delay, e.task_id, Timer::kHealth, t.generation);
        break;
      }
      case Timer::kKilled:
        t.status.state = TaskState::kKilled;
        t.status.message = "Task killed";
        Notify(e.task_id, t.status);
        by_app_[t.spec.app_id].erase(e.task_id);
        if (by_app_[t.spec.app_id].empty()) by_app_.erase(t.spec.app_id);
        tasks_.erase(it);
        break;
    }
  }

  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      auto now = Clock::now();
      while (!queue_.empty() && queue_.top().when <= now) {
        Entry e = queue_.top();
        queue_.pop();
        Fire(e);
      }
      if (!outbox_.empty()) {
        std::vector<std::pair<std::string, TaskStatus>> out;
        out.swap(outbox_);
        Listener listener = listener_;
        lock.unlock();
        if (listener) {
          for (const auto& [id, status] : out) listener(id, status);
        }
        lock.lock();
        continue;
      }
      if (queue_.empty()) {
        cv_.wait(lock);
      } else {
        const Clock::time_point next = queue_.top().when;  // a copy: pushes reallocate the queue
        cv_.wait_until(lock, next);
      }
    }
  }

  const SimulatedRunnerOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Listener listener_;
  bool stopping_ = false;
  uint64_t seq_ = 0;
  std::unordered_map<std::string, SimTask> tasks_;
  std::unordered_map<std::string, std::set<std::string>> by_app_;
  std::set<std::string> unhealthy_apps_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> queue_;
  std::vector<std::pair<std::string, TaskStatus>> outbox_;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<TaskRunner> NewSimulatedRunner(const SimulatedRunnerOptions& options) {
  return std::make_unique<SimulatedRunnerImpl>(options);
}

}  // namespace galley::sandbox::marathon
