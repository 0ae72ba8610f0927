// SPDX-License-Identifier: Apache-2.0
#include "sandbox/chronos/job_runner.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "base/time_text.h"

namespace galley::sandbox::chronos {

using marathon::TaskSpec;
using marathon::TaskState;
using marathon::TaskStatus;

bool SimulatedRunFails(const TaskSpec& spec) {
  auto it = spec.env.find("GALLEY_SANDBOX_JOB_FAIL");
  if (it != spec.env.end() && !it->second.empty() && it->second != "0") return true;
  // The first words of the command (or argv): `false ...` or `exit N ...` with N != 0.
  std::vector<std::string> words;
  if (spec.cmd) {
    std::string w;
    for (char c : *spec.cmd + " ") {
      if (c == ' ' || c == '\t' || c == '\n' || c == ';') {
        if (!w.empty()) words.push_back(w);
        w.clear();
      } else {
        w += c;
      }
    }
  } else {
    words = spec.args;
  }
  if (!words.empty() && words[0] == "false") return true;
  if (words.size() >= 2 && words[0] == "exit") return words[1] != "0";
  return false;
}

namespace {

class SimulatedJobRunner final : public marathon::TaskRunner {
 public:
  explicit SimulatedJobRunner(SimulatedJobOptions o) : options_(o) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~SimulatedJobRunner() override { Shutdown(); }

  void SetListener(Listener l) override {
    std::lock_guard<std::mutex> g(mu_);
    listener_ = std::move(l);
  }

  Status Launch(const TaskSpec& spec) override {
    std::lock_guard<std::mutex> g(mu_);
    if (stopped_) return Status::Unavailable("runner stopped");
    Task t;
    t.status.state = TaskState::kStaging;
    t.status.staged_at = FormatTimestamp(std::chrono::system_clock::now());
    t.fails = SimulatedRunFails(spec);
    t.run_time = options_.run_time;
    auto it = spec.env.find("GALLEY_SANDBOX_JOB_DURATION_MS");
    if (it != spec.env.end()) {
      try {
        t.run_time = std::chrono::milliseconds(std::stoll(it->second));
      } catch (const std::exception&) {
      }
    }
    t.next = Clock::now() + options_.start_delay;
    tasks_[spec.task_id] = t;
    cv_.notify_all();
    return Status::Ok();
  }

  void Kill(const std::string& id) override {
    std::lock_guard<std::mutex> g(mu_);
    auto it = tasks_.find(id);
    if (it == tasks_.end() || Terminal(it->second.status.state)) return;
    it->second.status.state = TaskState::kKilling;
    it->second.kill = true;
    it->second.next = Clock::now();
    cv_.notify_all();
  }

  std::optional<TaskStatus> Get(const std::string& id) const override {
    std::lock_guard<std::mutex> g(mu_);
    auto it = tasks_.find(id);
    if (it == tasks_.end()) return std::nullopt;
    return it->second.status;
  }

  void Shutdown() override {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (stopped_) return;
      stopped_ = true;
      cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  using Clock = std::chrono::steady_clock;
  struct Task {
    TaskStatus status;
    bool fails = false, kill = false;
    std::chrono::milliseconds run_time{0};
    Clock::time_point next;
  };
  static bool Terminal(TaskState s) {
    return s == TaskState::kFinished || s == TaskState::kFailed || s == TaskState::kKilled;
  }

  void Loop() {
    std::unique_lock<std::mutex> l(mu_);
    while (!stopped_) {
      auto now = Clock::now();
      auto wake = now + std::chrono::seconds(1);
      std::vector<std::pair<std::string, TaskStatus>> events;
      for (auto it = tasks_.begin(); it != tasks_.end();) {
        Task& t = it->second;
        if (Terminal(t.status.state)) {
          // Keep finished runs for a while (Get), then forget them.
          if (now - t.next > std::chrono::minutes(5)) {
            it = tasks_.erase(it);
            continue;
          }
        } else if (t.next <= now) {
          if (t.kill) {
            t.status.state = TaskState::kKilled;
            t.status.message = "killed";
          } else if (t.status.state == TaskState::kStaging) {
            t.status.state = TaskState::kRunning;
            t.status.started_at = FormatTimestamp(std::chrono::system_clock::now());
            t.next = t.run_time.count() < 0 ? Clock::time_point::max() : now + t.run_time;
          } else {
            t.status.state = t.fails ? TaskState::kFailed : TaskState::kFinished;
            t.status.message = t.fails ? "task exited with code 1" : "exited with code 0";
          }
          if (Terminal(t.status.state)) t.next = now;
          events.emplace_back(it->first, t.status);
        }
        if (!Terminal(t.status.state)) wake = std::min(wake, t.next);
        ++it;
      }
      if (!events.empty()) {
        Listener listener = listener_;
        l.unlock();
        for (const auto& [id, st] : events) {
          if (listener) listener(id, st);
        }
        l.lock();
        continue;
      }
      cv_.wait_until(l, wake);
    }
  }

  SimulatedJobOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  Listener listener_;
  std::map<std::string, Task> tasks_;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<marathon::TaskRunner> NewSimulatedJobRunner(const SimulatedJobOptions& options) {
  return std::make_unique<SimulatedJobRunner>(options);
}

}  // namespace galley::sandbox::chronos
