// SPDX-License-Identifier: Apache-2.0
// Test helpers for the container-side and process-runner tests: a long-running child
// process in its own process group (argv, no shell; stdout+stderr to a file; killed with its
// group and reaped when the handle goes away), a free loopback port, polling with a
// deadline, and a plain HTTP GET. Header-only; a Child is used from one thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/http_client.h"
#include "support/temp_repo.h"

extern char** environ;

namespace galley::container_test {

using namespace std::chrono_literals;

// A port that was free a moment ago on 127.0.0.1.
inline int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return -1;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Polls `pred` every 20 ms until it holds or `timeout` passes.
inline bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

struct Reply {
  int status = 0;  // 0: no answer
  std::string body;
};

inline Reply Get(const std::string& url, const std::string& method = "GET") {
  static const std::unique_ptr<net::HttpClient> client = net::NewHttpClient();
  net::ClientRequest req;
  req.method = method;
  req.url = url;
  req.timeout = 3s;
  auto resp = client->Send(req);
  if (!resp.ok()) return {};
  return {resp->status, resp->body};
}

class Child {
 public:
  // Starts argv[0] (a path) with the test's environment plus `env`.
  Child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
    out_path_ = scratch_.Path("output");
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      if (!env.count(kv.substr(0, kv.find('=')))) env_strings.push_back(kv);
    }
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<char*> cargv, cenv;
    std::vector<std::string> argv_copy = argv;
    for (auto& a : argv_copy) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    for (auto& e : env_strings) cenv.push_back(e.data());
    cenv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t empty;
    sigemptyset(&empty);
    posix_spawnattr_setsigmask(&attr, &empty);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
    if (posix_spawn(&pid_, cargv[0], &actions, &attr, cargv.data(), cenv.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  ~Child() {
    if (pid_ > 0) ::kill(-pid_, SIGKILL);
    if (pid_ > 0 && !status_) {
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  void Signal(int sig) const {
    if (pid_ > 0 && !status_) ::kill(pid_, sig);
  }
  // The wait status once the child has ended within `timeout`, else nullopt.
  std::optional<int> Wait(std::chrono::milliseconds timeout) {
    WaitUntil(
        [&] {
          if (status_ || pid_ <= 0) return true;
          int st = 0;
          if (::waitpid(pid_, &st, WNOHANG) == pid_) status_ = st;
          return status_.has_value();
        },
        timeout);
    return status_;
  }
  // Exit code, 128+signal, or -1 while running after `timeout`.
  int ExitCode(std::chrono::milliseconds timeout) {
    auto st = Wait(timeout);
    if (!st) return -1;
    if (WIFEXITED(*st)) return WEXITSTATUS(*st);
    if (WIFSIGNALED(*st)) return 128 + WTERMSIG(*st);
    return -1;
  }
  std::string Output() const { return galley::testing::ReadText(out_path_); }
  bool WaitForOutput(const std::string& text, std::chrono::milliseconds timeout) const {
    return WaitUntil([&] { return Output().find(text) != std::string::npos; }, timeout);
  }

 private:
  galley::testing::TempRepo scratch_;
  std::string out_path_;
  pid_t pid_ = -1;
  std::optional<int> status_;
};

}  // namespace galley::container_test
