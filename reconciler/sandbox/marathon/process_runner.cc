// SPDX-License-Identifier: Apache-2.0
// The process task runner: every Marathon task is a real local process, started without a
// shell from an argv vector, in its own process group, with real HTTP/TCP health checks.
//
// What runs (first rule that applies):
//   1. `cmd`: split into words like a shell would split them — whitespace separates words,
//      '...' is literal, "..." allows \" \\ \$ \` escapes, a backslash outside quotes escapes
//      the next character. No shell runs, so nothing is expanded: a `cmd` using pipes,
//      redirections, `;`/`&`, `$VAR` or backticks fails the task with a message saying so.
//   2. `args`, as given.
//   3. a Docker image matching an image_map pattern (exact, or a prefix when it ends in '*'):
//      the mapped command, split into words.
//   Otherwise the task fails: the process runner cannot run Docker images.
// Then every argument equal to an exec_alias name is replaced by its program, each
// host_alias name is replaced inside every argument and every TaskSpec.env value, and
// program names (argv[0], exec_alias and image_map programs) are resolved to absolute
// paths through PATH, then the directory of the running executable (so galley-sandbox
// finds galley-wrapper and galley-testserver next to itself).
//
// Environment: the runner's own environment with TaskSpec.env on top. stdin is /dev/null;
// stdout and stderr go to <log_dir>/<task id>.log (appended), or /dev/null.
//
// Kill: SIGTERM to the task's main process only — as `docker stop` does to a container's
// PID 1, so a wrapper that forwards SIGTERM to its child delivers it exactly once — then
// SIGKILL to the whole process group after kill_grace_seconds. When the main process ends,
// whatever is left in its process group is SIGKILLed, as Mesos tears a container down.
//
// Health (Marathon's semantics): the first check runs min(interval, 0.5 s) after the start;
// until the first success and within the grace period (when failures are ignored anyway)
// checks repeat every min(interval, 0.5 s), so a task turns healthy soon after it is ready
// (Marathon's first check lands anywhere within the first interval); then every interval.
// A check passes on HTTP 200-399 (HTTP, MESOS_HTTP) or an accepted TCP
// connection (TCP, MESOS_TCP) within timeout_seconds, on the task's node address (127.0.0.1 by
// default) and host_ports[port_index]. HTTPS and COMMAND checks are not supported and always fail
// with a cause saying so. A failure before the first success within gracePeriodSeconds of the start
// is ignored. alive = the last recorded result was a success. The runner only reports consecutive
// failures: killing a task after max_consecutive_failures is the scheduler's decision (Marathon's
// HealthCheckActor; the emulator's engine). TaskStatus.health is empty until a first result is
// recorded (as Marathon's healthCheckResults), then has one entry per check; an entry with neither
// last_success nor last_failure has not been checked yet.
//
// Threads: a monitor (reaps with waitpid on each task's pid — never waitpid(-1), so other
// children of the process are left alone — escalates kills and schedules checks every
// 50 ms), kCheckWorkers health-check workers, and one dispatcher that calls the listener,
// in order, never while holding the runner's lock.
// Thread-safe: every TaskRunner method may be called from any thread, including from the
// listener, except Shutdown (which waits for the listener's thread). Shutdown delivers the
// final kKilled events before it returns, so do not call it while holding a lock that the
// listener takes.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net/http_client.h"
#include "sandbox/marathon/task_runner.h"

extern char** environ;

namespace galley::sandbox::marathon {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kCheckWorkers = 4;
constexpr auto kMonitorTick = std::chrono::milliseconds(50);
constexpr auto kEarlyCheck =
    std::chrono::milliseconds(500);         // check period before the first success
constexpr size_t kMaxTerminalTasks = 1000;  // finished tasks kept for Get(); oldest dropped first

// "2024-05-01T12:00:00.123Z"
std::string NowIso() {
  auto now = std::chrono::system_clock::now();
  long long ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  time_t secs = static_cast<time_t>(ms / 1000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char date[32];
  strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  snprintf(out, sizeof(out), "%s.%03dZ", date, static_cast<int>(ms % 1000));
  return out;
}

// Splits a Marathon `cmd` into words (see the file comment). Fails on an unterminated quote
// or on shell syntax that would need a shell.
Result<std::vector<std::string>> SplitShellWords(const std::string& s) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  auto unsupported = [](char c) {
    return Status::InvalidArgument(
        std::string("cmd uses shell syntax ('") + c +
        "') but the process runner runs no shell; use args, or quote it");
  };
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(cur));
      cur.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '\\') {
      if (i + 1 < s.size()) {
        if (s[i + 1] != '\n') cur += s[i + 1];  // backslash-newline is a line continuation
        ++i;
      }
      continue;
    }
    if (c == '\'') {
      size_t end = s.find('\'', i + 1);
      if (end == std::string::npos)
        return Status::InvalidArgument("cmd has an unterminated ' quote");
      cur.append(s, i + 1, end - i - 1);
      i = end;
      continue;
    }
    if (c == '"') {
      size_t j = i + 1;
      for (; j < s.size() && s[j] != '"'; ++j) {
        if (s[j] == '\\' && j + 1 < s.size() &&
            (s[j + 1] == '"' || s[j + 1] == '\\' || s[j + 1] == '$' || s[j + 1] == '`' ||
             s[j + 1] == '\n')) {
          if (s[j + 1] != '\n') cur += s[j + 1];
          ++j;
        } else if (s[j] == '$' || s[j] == '`') {
          return unsupported(s[j]);
        } else {
          cur += s[j];
        }
      }
      if (j >= s.size()) return Status::InvalidArgument("cmd has an unterminated \" quote");
      i = j;
      continue;
    }
    if (std::string_view("|&;<>()$`").find(c) != std::string_view::npos) return unsupported(c);
    cur += c;
  }
  if (in_word) words.push_back(std::move(cur));
  return words;
}

// Replaces every occurrence of each alias name inside `s`, scanning left to right so a
// replacement is never rescanned.
std::string ApplyHostAliases(const std::string& s,
                             const std::map<std::string, std::string>& aliases) {
  if (aliases.empty()) return s;
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    bool replaced = false;
    for (const auto& [name, value] : aliases) {
      if (!name.empty() && s.compare(i, name.size(), name) == 0) {
        out += value;
        i += name.size();
        replaced = true;
        break;
      }
    }
    if (!replaced) out += s[i++];
  }
  return out;
}

bool IsExecutableFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::string SelfDirectory() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "" : exe.parent_path().string();
}

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

// The last few non-empty lines of a log file, joined with " | ", at most ~300 bytes.
std::string LogTail(const std::string& path) {
  if (path.empty()) return "";
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return "";
  std::string data;
  if (std::fseek(f, 0, SEEK_END) == 0) {
    long size = std::ftell(f);
    long start = size > 2048 ? size - 2048 : 0;
    if (std::fseek(f, start, SEEK_SET) == 0) {
      data.resize(static_cast<size_t>(size - start));
      data.resize(std::fread(data.data(), 1, data.size(), f));
    }
  }
  std::fclose(f);
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t nl = data.find('\n', pos);
    if (nl == std::string::npos) nl = data.size();
    std::string line = data.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(std::move(line));
    pos = nl + 1;
  }
  std::string out;
  size_t first = lines.size() > 3 ? lines.size() - 3 : 0;
  for (size_t i = first; i < lines.size(); ++i) {
    if (!out.empty()) out += " | ";
    out += lines[i];
  }
  if (out.size() > 300) out = "..." + out.substr(out.size() - 300);
  return out;
}

// Where a task's checks connect: its node's address when that is a concrete IPv4 address
// (sandbox nodes are 127.x.y.z), else 127.0.0.1 (a hostname, or a wildcard listen address).
std::string CheckAddress(const std::string& address) {
  in_addr a{};
  if (::inet_pton(AF_INET, address.c_str(), &a) == 1 && a.s_addr != htonl(INADDR_ANY))
    return address;
  return "127.0.0.1";
}

// A TCP connect to address:port within `timeout`.
Status TcpCheck(const std::string& address, int port, std::chrono::milliseconds timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Unavailable(std::string("socket: ") + strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::inet_pton(AF_INET, address.c_str(), &addr.sin_addr);
  Status result;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno != EINPROGRESS) {
      result = Status::Unavailable(std::string("connect: ") + strerror(errno));
    } else {
      pollfd p{fd, POLLOUT, 0};
      int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
      int err = 0;
      socklen_t len = sizeof(err);
      if (n == 0) {
        result = Status::Timeout("connect timed out");
      } else if (n < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        result = Status::Unavailable(std::string("connect: ") + strerror(err ? err : errno));
      }
    }
  }
  ::close(fd);
  return result;
}

struct CheckState {
  Clock::time_point next_due;
  bool in_flight = false;
};

struct Task {
  TaskSpec spec;
  TaskStatus status;
  pid_t pid = -1;  // > 0 until the main process has been reaped
  Clock::time_point started;
  bool kill_requested = false;
  std::optional<Clock::time_point> sigkill_at;
  bool sigkill_sent = false;
  std::vector<CheckState> checks;
  std::string log_path;
  uint64_t terminal_seq = 0;  // order in which tasks ended, for pruning
};

struct CheckJob {
  std::string task_id;
  size_t index = 0;
  HealthCheckSpec check;
  int port = -1;
  std::string address;  // CheckAddress of the task's node
};

struct Event {
  std::string task_id;
  TaskStatus status;
};

bool IsTerminal(TaskState s) {
  return s == TaskState::kKilled || s == TaskState::kFailed || s == TaskState::kFinished;
}

class ProcessRunner final : public TaskRunner {
 public:
  explicit ProcessRunner(ProcessRunnerOptions options)
      : options_(std::move(options)), http_(net::NewHttpClient()), self_dir_(SelfDirectory()) {
    if (!options_.log_dir.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(options_.log_dir, ec);
    }
    monitor_ = std::thread([this] { MonitorLoop(); });
    for (int i = 0; i < kCheckWorkers; ++i) workers_.emplace_back([this] { WorkerLoop(); });
    dispatcher_ = std::thread([this] { DispatchLoop(); });
  }

  ~ProcessRunner() override { Shutdown(); }

  void SetListener(Listener listener) override {
    std::lock_guard<std::mutex> lock(mu_);
    listener_ = std::move(listener);
  }

  Status Launch(const TaskSpec& spec) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (shut_down_) return Status::Unavailable("the process runner is shut down");
    if (spec.task_id.empty()) return Status::InvalidArgument("task id is empty");
    if (tasks_.count(spec.task_id))
      return Status::AlreadyExists("task " + spec.task_id + " already exists");
    Task& t = tasks_[spec.task_id];
    t.spec = spec;
    t.status.state = TaskState::kStarting;
    t.status.staged_at = NowIso();
    t.checks.resize(spec.health_checks.size());
    Publish(spec.task_id, t);

    std::string error;
    pid_t pid = Spawn(t, &error);
    if (pid <= 0) {
      Finish(spec.task_id, t, TaskState::kFailed, error);
      return Status::Ok();
    }
    t.pid = pid;
    t.started = Clock::now();
    t.status.state = TaskState::kRunning;
    t.status.started_at = NowIso();
    for (size_t i = 0; i < t.checks.size(); ++i) t.checks[i].next_due = t.started + kEarlyCheck;
    Publish(spec.task_id, t);
    monitor_cv_.notify_all();
    return Status::Ok();
  }

  void Kill(const std::string& task_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = tasks_.find(task_id);
    if (it == tasks_.end()) return;
    StartKill(it->first, it->second);
  }

  std::optional<TaskStatus> Get(const std::string& task_id) const override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = tasks_.find(task_id);
    if (it == tasks_.end()) return std::nullopt;
    return it->second.status;
  }

  void Shutdown() override {
    std::unique_lock<std::mutex> lock(mu_);
    if (shut_down_) {
      // A second caller waits for the first to finish joining.
      done_cv_.wait(lock, [&] { return joined_; });
      return;
    }
    shut_down_ = true;
    int longest_grace = 0;
    for (auto& [id, t] : tasks_) {
      if (t.pid > 0) {
        longest_grace = std::max(longest_grace, std::max(0, t.spec.kill_grace_seconds));
        StartKill(id, t);
      }
    }
    monitor_cv_.notify_all();
    // The monitor sends SIGKILL when each grace period ends and reaps; allow it a moment more.
    auto deadline = Clock::now() + std::chrono::seconds(longest_grace) + std::chrono::seconds(2);
    done_cv_.wait_until(lock, deadline, [&] { return LiveProcesses() == 0; });
    stopping_ = true;
    monitor_cv_.notify_all();
    work_cv_.notify_all();
    lock.unlock();
    if (monitor_.joinable()) monitor_.join();
    for (auto& w : workers_) {
      if (w.joinable()) w.join();
    }
    lock.lock();
    // Anything still alive (stuck in the kernel): one last SIGKILL and a non-blocking reap.
    for (auto& [id, t] : tasks_) {
      if (t.pid > 0) {
        ::kill(-t.pid, SIGKILL);
        int st = 0;
        if (::waitpid(t.pid, &st, WNOHANG) == t.pid) OnExit(id, t, st);
      }
    }
    dispatcher_stop_ = true;
    event_cv_.notify_all();
    lock.unlock();
    if (dispatcher_.joinable() && dispatcher_.get_id() != std::this_thread::get_id())
      dispatcher_.join();
    lock.lock();
    joined_ = true;
    done_cv_.notify_all();
  }

 private:
  // REQUIRES: mu_ held. Queues the task's current status for the listener.
  void Publish(const std::string& id, const Task& t) {
    events_.push_back(Event{id, t.status});
    event_cv_.notify_one();
  }

  size_t LiveProcesses() const {
    size_t n = 0;
    for (const auto& [id, t] : tasks_) n += t.pid > 0 ? 1 : 0;
    return n;
  }

  // REQUIRES: mu_ held.
  void StartKill(const std::string& id, Task& t) {
    if (t.pid <= 0 || t.kill_requested) return;
    t.kill_requested = true;
    t.status.state = TaskState::kKilling;
    Publish(id, t);
    ::kill(t.pid, SIGTERM);
    t.sigkill_at = Clock::now() + std::chrono::seconds(std::max(0, t.spec.kill_grace_seconds));
    monitor_cv_.notify_all();
  }

  // REQUIRES: mu_ held. Marks a task terminal and publishes it.
  void Finish(const std::string& id, Task& t, TaskState state, const std::string& message) {
    t.status.state = state;
    t.status.message = message;
    t.terminal_seq = ++terminal_counter_;
    Publish(id, t);
    done_cv_.notify_all();
  }

  // REQUIRES: mu_ held. The main process was reaped with wait status `st`.
  void OnExit(const std::string& id, Task& t, int st) {
    pid_t pgid = t.pid;
    t.pid = -1;
    ::kill(-pgid, SIGKILL);  // whatever the task left behind in its process group
    std::string how;
    if (WIFEXITED(st)) {
      how = "exited with code " + std::to_string(WEXITSTATUS(st));
    } else if (WIFSIGNALED(st)) {
      how = "killed by " + SignalName(WTERMSIG(st));
    } else {
      how = "ended";
    }
    if (t.kill_requested) {
      std::string msg = "killed";
      msg += t.sigkill_sent ? " (SIGKILL after the " + std::to_string(t.spec.kill_grace_seconds) +
                                  " s kill grace period)"
                            : " (" + how + ")";
      Finish(id, t, TaskState::kKilled, msg);
      return;
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
      Finish(id, t, TaskState::kFinished, how);
      return;
    }
    std::string msg = "task " + how;
    std::string tail = LogTail(t.log_path);
    if (!tail.empty()) msg += "; last output: " + tail;
    Finish(id, t, TaskState::kFailed, msg);
  }

  // The program for a bare name: PATH (the task's, else ours), then our own directory.
  std::string ResolveProgram(const std::string& name, const TaskSpec& spec) const {
    if (name.find('/') != std::string::npos) return name;
    std::string path;
    if (auto it = spec.env.find("PATH"); it != spec.env.end()) {
      path = it->second;
    } else if (const char* p = getenv("PATH")) {
      path = p;
    } else {
      path = "/usr/local/bin:/usr/bin:/bin";
    }
    size_t start = 0;
    while (start <= path.size()) {
      size_t end = path.find(':', start);
      if (end == std::string::npos) end = path.size();
      std::string dir = path.substr(start, end - start);
      if (dir.empty()) dir = ".";
      std::string candidate = dir + "/" + name;
      if (IsExecutableFile(candidate)) return candidate;
      start = end + 1;
    }
    if (!self_dir_.empty() && IsExecutableFile(self_dir_ + "/" + name))
      return self_dir_ + "/" + name;
    return "";
  }

  // The argv a task runs, or why it cannot run.
  Result<std::vector<std::string>> BuildArgv(const TaskSpec& spec) const {
    std::vector<std::string> argv;
    std::vector<bool> is_program;
    if (spec.cmd.has_value()) {
      auto words = SplitShellWords(*spec.cmd);
      if (!words.ok()) return words.status();
      argv = std::move(words).value();
      if (argv.empty()) return Status::InvalidArgument("cmd is empty");
    } else if (!spec.args.empty()) {
      argv = spec.args;
    } else if (!spec.docker_image.empty()) {
      const std::string* command = nullptr;
      for (const auto& [pattern, cmd] : options_.image_map) {
        bool match = !pattern.empty() && pattern.back() == '*'
                         ? spec.docker_image.compare(0, pattern.size() - 1, pattern, 0,
                                                     pattern.size() - 1) == 0
                         : spec.docker_image == pattern;
        if (match) {
          command = &cmd;
          break;
        }
      }
      if (!command) {
        return Status::NotFound(
            "docker image '" + spec.docker_image +
            "' has no --image-map entry; the process runner cannot run Docker images");
      }
      auto words = SplitShellWords(*command);
      if (!words.ok())
        return words.status().WithContext("--image-map command for " + spec.docker_image);
      argv = std::move(words).value();
      if (argv.empty())
        return Status::InvalidArgument("--image-map command for " + spec.docker_image +
                                       " is empty");
    } else {
      return Status::InvalidArgument("the app has neither cmd, args nor a mapped Docker image");
    }
    is_program.assign(argv.size(), false);
    is_program[0] = true;
    for (size_t i = 0; i < argv.size(); ++i) {
      if (auto it = options_.exec_alias.find(argv[i]); it != options_.exec_alias.end()) {
        argv[i] = it->second;
        is_program[i] = true;
      }
      argv[i] = ApplyHostAliases(argv[i], options_.host_alias);
    }
    for (size_t i = 0; i < argv.size(); ++i) {
      if (!is_program[i]) continue;
      std::string resolved = ResolveProgram(argv[i], spec);
      if (!resolved.empty()) {
        argv[i] = resolved;
      } else if (i == 0) {
        return Status::NotFound("program '" + argv[0] + "' not found on PATH" +
                                (self_dir_.empty() ? std::string() : " or in " + self_dir_));
      }
    }
    return argv;
  }

  // REQUIRES: mu_ held. Starts the task's process; returns its pid, or 0 with *error set.
  pid_t Spawn(Task& t, std::string* error) {
    auto argv_or = BuildArgv(t.spec);
    if (!argv_or.ok()) {
      *error = argv_or.status().message();
      return 0;
    }
    std::vector<std::string> argv = std::move(argv_or).value();

    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      if (!t.spec.env.count(kv.substr(0, kv.find('=')))) env.push_back(std::move(kv));
    }
    for (const auto& [k, v] : t.spec.env)
      env.push_back(k + "=" + ApplyHostAliases(v, options_.host_alias));

    std::string log = "/dev/null";
    if (!options_.log_dir.empty()) {
      std::string name = t.spec.task_id;
      std::replace(name.begin(), name.end(), '/', '_');
      t.log_path = options_.log_dir + "/" + name + ".log";
      log = t.log_path;
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd < 0) {
        *error = "cannot open log file " + log + ": " + strerror(errno);
        return 0;
      }
      ::close(fd);
    }

    std::vector<char*> cargv, cenv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    for (auto& e : env) cenv.push_back(e.data());
    cenv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t empty, defaults;
    sigemptyset(&empty);
    sigemptyset(&defaults);
    for (int sig :
         {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM}) {
      sigaddset(&defaults, sig);
    }
    posix_spawnattr_setsigmask(&attr, &empty);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, cargv[0], &actions, &attr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      *error = "cannot execute " + argv[0] + ": " + strerror(rc);
      return 0;
    }
    return pid;
  }

  void MonitorLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      auto now = Clock::now();
      for (auto& [id, t] : tasks_) {
        if (t.pid <= 0) continue;
        int st = 0;
        pid_t r = ::waitpid(t.pid, &st, WNOHANG);
        if (r == t.pid) {
          OnExit(id, t, st);
          continue;
        }
        if (r < 0 && errno == ECHILD) {  // reaped by someone else: the exit status is lost
          t.pid = -1;
          Finish(id, t, t.kill_requested ? TaskState::kKilled : TaskState::kFailed,
                 "the task's process was reaped elsewhere; its exit status is unknown");
          continue;
        }
        if (t.sigkill_at && !t.sigkill_sent && now >= *t.sigkill_at) {
          ::kill(-t.pid, SIGKILL);
          ::kill(t.pid, SIGKILL);
          t.sigkill_sent = true;
        }
        if (t.status.state != TaskState::kRunning) continue;
        for (size_t i = 0; i < t.checks.size(); ++i) {
          CheckState& c = t.checks[i];
          if (c.in_flight || now < c.next_due) continue;
          c.in_flight = true;
          const HealthCheckSpec& hc = t.spec.health_checks[i];
          int port =
              hc.port_index >= 0 && static_cast<size_t>(hc.port_index) < t.spec.host_ports.size()
                  ? t.spec.host_ports[static_cast<size_t>(hc.port_index)]
                  : -1;
          jobs_.push_back(CheckJob{id, i, hc, port, CheckAddress(t.spec.address)});
          work_cv_.notify_one();
        }
      }
      Prune();
      monitor_cv_.wait_for(lock, kMonitorTick);
    }
  }

  // REQUIRES: mu_ held. Drops the oldest terminal tasks beyond kMaxTerminalTasks.
  void Prune() {
    size_t terminal = 0;
    for (const auto& [id, t] : tasks_) terminal += IsTerminal(t.status.state) ? 1 : 0;
    if (terminal <= kMaxTerminalTasks) return;
    std::vector<std::pair<uint64_t, std::string>> order;
    for (const auto& [id, t] : tasks_) {
      if (IsTerminal(t.status.state)) order.emplace_back(t.terminal_seq, id);
    }
    std::sort(order.begin(), order.end());
    for (size_t i = 0; i < terminal - kMaxTerminalTasks; ++i) tasks_.erase(order[i].second);
  }

  void WorkerLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      work_cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      CheckJob job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      Status result = RunCheck(job);
      lock.lock();
      auto it = tasks_.find(job.task_id);
      if (it == tasks_.end()) continue;
      Task& t = it->second;
      t.checks[job.index].in_flight = false;
      if (t.status.state != TaskState::kRunning) continue;
      Record(job.task_id, t, job.index, result);
      auto now = Clock::now();
      std::chrono::milliseconds interval =
          std::chrono::seconds(std::max(1, job.check.interval_seconds));
      bool never_healthy =
          t.status.health.empty() || t.status.health[job.index].first_success.empty();
      if (never_healthy && now < t.started + std::chrono::seconds(job.check.grace_period_seconds)) {
        interval = std::min(interval, std::chrono::milliseconds(kEarlyCheck));
      }
      t.checks[job.index].next_due = now + interval;
    }
  }

  Status RunCheck(const CheckJob& job) {
    const HealthCheckSpec& hc = job.check;
    auto timeout = std::chrono::milliseconds(1000LL * std::max(1, hc.timeout_seconds));
    if (job.port <= 0) {
      return Status::InvalidArgument("the task has no host port at portIndex " +
                                     std::to_string(hc.port_index));
    }
    if (hc.protocol == "HTTP" || hc.protocol == "MESOS_HTTP") {
      net::ClientRequest req;
      req.url = "http://" + job.address + ":" + std::to_string(job.port) +
                (StartsWithSlash(hc.path) ? "" : "/") + hc.path;
      req.timeout = timeout;
      req.max_response_bytes = 1u << 20;
      auto resp = http_->Send(req);
      if (!resp.ok()) return resp.status();
      if (resp->status < 200 || resp->status >= 400) {
        return Status::Unavailable("HTTP " + std::to_string(resp->status) + " " +
                                   net::ReasonPhrase(resp->status));
      }
      return Status::Ok();
    }
    if (hc.protocol == "TCP" || hc.protocol == "MESOS_TCP")
      return TcpCheck(job.address, job.port, timeout);
    return Status::InvalidArgument(hc.protocol +
                                   " health checks are not supported by the process runner");
  }

  static bool StartsWithSlash(const std::string& s) { return !s.empty() && s[0] == '/'; }

  // REQUIRES: mu_ held. Applies one check result with Marathon's rules.
  void Record(const std::string& id, Task& t, size_t index, const Status& result) {
    const HealthCheckSpec& hc = t.spec.health_checks[index];
    bool never_healthy = t.status.health.empty() || t.status.health[index].first_success.empty();
    if (!result.ok() && never_healthy &&
        Clock::now() < t.started + std::chrono::seconds(hc.grace_period_seconds)) {
      return;  // within the grace period and never healthy: ignored
    }
    t.status.health.resize(t.spec.health_checks.size());
    HealthResult& h = t.status.health[index];
    std::string now = NowIso();
    if (result.ok()) {
      h.alive = true;
      h.consecutive_failures = 0;
      if (h.first_success.empty()) h.first_success = now;
      h.last_success = now;
      Publish(id, t);
      return;
    }
    h.alive = false;
    ++h.consecutive_failures;
    h.last_failure = now;
    h.last_failure_cause = result.message();
    Publish(id, t);
  }

  void DispatchLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      event_cv_.wait(lock, [&] { return dispatcher_stop_ || !events_.empty(); });
      if (events_.empty()) return;  // stopping and drained
      Event e = std::move(events_.front());
      events_.pop_front();
      Listener listener = listener_;
      lock.unlock();
      if (listener) listener(e.task_id, e.status);
      lock.lock();
    }
  }

  const ProcessRunnerOptions options_;
  const std::unique_ptr<net::HttpClient> http_;
  const std::string self_dir_;

  mutable std::mutex mu_;
  std::condition_variable monitor_cv_, work_cv_, event_cv_, done_cv_;
  std::map<std::string, Task> tasks_;
  std::deque<CheckJob> jobs_;
  std::deque<Event> events_;
  Listener listener_;
  uint64_t terminal_counter_ = 0;
  bool shut_down_ = false;        // no more launches
  bool stopping_ = false;         // monitor and workers exit
  bool dispatcher_stop_ = false;  // dispatcher exits once drained
  bool joined_ = false;

  std::thread monitor_;
  std::vector<std::thread> workers_;
  std::thread dispatcher_;
};

}  // namespace

std::unique_ptr<TaskRunner> NewProcessRunner(const ProcessRunnerOptions& options) {
  return std::make_unique<ProcessRunner>(options);
}

}  // namespace galley::sandbox::marathon
