// SPDX-License-Identifier: Apache-2.0
// CheckRunner: the Consul agent's check machinery for the emulator. One scheduler thread
// drives State::Tick() (TTL checks, session TTLs, reaping, due checks) and sleeps on the
// state's schedule condition variable until the next deadline or a registration; a bounded
// pool of worker threads executes HTTP checks (net::HttpClient, with the check's timeout)
// and TCP checks (a real connect) and reports results back to the state.
// Thread-safe: Start/Stop from the owner; Stop() joins every thread after State::Stop().
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "net/http_client.h"
#include "sandbox/consul/state.h"

namespace galley::sandbox::consul {

struct CheckResult {
  std::string status;  // passing, warning, critical
  std::string output;
};

// Executes one check the way Consul's agent does (status mapping and output texts).
CheckResult RunHttpCheck(net::HttpClient& client, const CheckDefinition& def);
CheckResult RunTcpCheck(const CheckDefinition& def);

class CheckRunner {
 public:
  CheckRunner(State* state, int workers);
  ~CheckRunner();
  CheckRunner(const CheckRunner&) = delete;
  CheckRunner& operator=(const CheckRunner&) = delete;

  void Start();
  // Stops the state (waking the scheduler), drops queued checks and joins all threads;
  // a check in flight finishes first (bounded by its timeout). Idempotent.
  void Stop();

 private:
  void SchedulerLoop();
  void WorkerLoop();

  State* state_;
  int worker_count_;
  std::unique_ptr<net::HttpClient> client_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<CheckJob> queue_;
  bool stop_ = false;
  std::thread scheduler_;
  std::vector<std::thread> workers_;
};

}  // namespace galley::sandbox::consul
