// SPDX-License-Identifier: Apache-2.0
// CheckRunner (see check_runner.h) and the HTTP/TCP check probes, with the status
// mapping and output texts of Consul's agent/checks/check.go.
#include "sandbox/consul/check_runner.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace galley::sandbox::consul {

namespace {

constexpr auto kDefaultCheckTimeout = std::chrono::seconds(10);
constexpr size_t kOutputMaxSize = 4096;

std::chrono::milliseconds TimeoutOf(const CheckDefinition& def) {
  Duration t = def.timeout.count() > 0 ? def.timeout : Duration(kDefaultCheckTimeout);
  return std::max(std::chrono::milliseconds(1),
                  std::chrono::duration_cast<std::chrono::milliseconds>(t));
}

// Go's url.Error prefix: "Get", "Post", ...
std::string GoMethodName(const std::string& method) {
  std::string out = Lower(method);
  if (!out.empty()) out[0] = static_cast<char>(out[0] - 'a' + 'A');
  return out;
}

std::string ErrnoText(int err) {
  std::string s = std::strerror(err);
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

}  // namespace

CheckResult RunHttpCheck(net::HttpClient& client, const CheckDefinition& def) {
  net::ClientRequest req;
  req.method = def.method.empty() ? "GET" : def.method;
  req.url = def.http;
  req.body = def.body;
  req.timeout = TimeoutOf(def);
  req.max_response_bytes = 1u << 20;
  for (const auto& [name, values] : def.header) {
    std::string joined;
    for (const auto& v : values) joined += (joined.empty() ? "" : ", ") + v;
    req.headers[name] = joined;
  }
  if (!req.headers.count("User-Agent")) req.headers["User-Agent"] = "Consul Health Check";
  if (!req.headers.count("Accept")) req.headers["Accept"] = "text/plain, text/*, */*";
  auto resp = client.Send(req);
  if (!resp.ok()) {
    std::string why =
        resp.status().code() == StatusCode::kTimeout
            ? "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
            : resp.status().message();
    return {"critical", GoMethodName(req.method) + " \"" + def.http + "\": " + why};
  }
  std::string body = resp->body.substr(0, kOutputMaxSize);
  std::string output = "HTTP " + req.method + " " + def.http + ": " + std::to_string(resp->status) +
                       " " + net::ReasonPhrase(resp->status) + " Output: " + body;
  if (resp->status >= 200 && resp->status <= 299) return {"passing", output};
  if (resp->status == 429) return {"warning", output};
  return {"critical", output};
}

CheckResult RunTcpCheck(const CheckDefinition& def) {
  const std::string& target = def.tcp;
  std::string host, port;
  if (!target.empty() && target[0] == '[') {
    size_t close = target.find(']');
    if (close != std::string::npos && close + 1 < target.size() && target[close + 1] == ':') {
      host = target.substr(1, close - 1);
      port = target.substr(close + 2);
    }
  } else {
    size_t colon = target.rfind(':');
    if (colon != std::string::npos) {
      host = target.substr(0, colon);
      port = target.substr(colon + 1);
    }
  }
  if (port.empty())
    return {"critical", "dial tcp " + target + ": address " + target + ": missing port in address"};
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int gai = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res);
  if (gai != 0 || !res) {
    return {"critical", "dial tcp: lookup " + host + ": " + ::gai_strerror(gai)};
  }
  auto deadline = Clock::now() + TimeoutOf(def);
  std::string error = "connection refused";
  bool ok = false;
  for (addrinfo* ai = res; ai && !ok; ai = ai->ai_next) {
    int fd =
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      error = "socket: " + ErrnoText(errno);
      continue;
    }
    int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc == 0) {
      ok = true;
    } else if (errno == EINPROGRESS) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      pollfd pfd{fd, POLLOUT, 0};
      int pr = ::poll(&pfd, 1, static_cast<int>(std::max<long long>(left, 0)));
      if (pr == 0) {
        error = "i/o timeout";
      } else if (pr > 0) {
        int so_error = 0;
        socklen_t len = sizeof(so_error);
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
        if (so_error == 0)
          ok = true;
        else
          error = "connect: " + ErrnoText(so_error);
      } else {
        error = "poll: " + ErrnoText(errno);
      }
    } else {
      error = "connect: " + ErrnoText(errno);
    }
    ::close(fd);
  }
  ::freeaddrinfo(res);
  if (ok) return {"passing", "TCP connect " + target + ": Success"};
  return {"critical", "dial tcp " + target + ": " + error};
}

CheckRunner::CheckRunner(State* state, int workers)
    : state_(state), worker_count_(std::max(1, workers)), client_(net::NewHttpClient()) {}

CheckRunner::~CheckRunner() { Stop(); }

void CheckRunner::Start() {
  scheduler_ = std::thread([this] { SchedulerLoop(); });
  for (int i = 0; i < worker_count_; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

void CheckRunner::Stop() {
  state_->Stop();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  if (scheduler_.joinable()) scheduler_.join();
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

void CheckRunner::SchedulerLoop() {
  while (!state_->stopping()) {
    Clock::time_point next;
    std::vector<CheckJob> jobs = state_->Tick(Clock::now(), &next);
    if (!jobs.empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) break;
      for (auto& j : jobs) queue_.push_back(std::move(j));
      cv_.notify_all();
    }
    state_->WaitForSchedule(next);
  }
}

void CheckRunner::WorkerLoop() {
  for (;;) {
    CheckJob job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    CheckResult r =
        job.def.Type() == "http" ? RunHttpCheck(*client_, job.def) : RunTcpCheck(job.def);
    state_->ApplyCheckResult(job.key, job.generation, r.status, r.output);
  }
}

}  // namespace galley::sandbox::consul
