// SPDX-License-Identifier: Apache-2.0
#include "agent/haproxy_process.h"

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/text_fields.h"
#include "base/file_io.h"
#include "base/strings.h"
#include "base/subprocess.h"
#include "base/unique_fd.h"

namespace galley::agent {
namespace {

bool ToInt(std::string_view s, int& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

std::string ResolveBinary(const std::string& binary) {
  if (binary.find('/') != std::string::npos) return binary;
  const char* path = ::getenv("PATH");
  std::string dirs = std::string(path ? path : "/usr/bin:/bin") + ":/usr/sbin:/sbin";
  for (const auto& d : Split(dirs, ':')) {
    if (d.empty()) continue;
    std::string p = d + "/" + binary;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return binary;
}

// Alive and not a zombie (a detached master is reaped by whoever adopted it, maybe late).
bool Alive(int pid) {
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno != EPERM)) return false;
  auto stat = ReadFileBounded("/proc/" + std::to_string(pid) + "/stat", 4096);
  if (!stat.ok()) return true;
  size_t paren = stat->rfind(')');
  return !(paren != std::string::npos && paren + 2 < stat->size() && (*stat)[paren + 2] == 'Z');
}

// The lines of HAProxy's output worth quoting: alerts first, else everything (bounded).
std::string Alerts(const std::string& output) {
  std::vector<std::string> alerts, all;
  for (auto& line : Split(output, '\n')) {
    if (line.empty()) continue;
    all.push_back(line);
    if (line.find("[ALERT]") != std::string::npos ||
        line.find("Loading failure") != std::string::npos)
      alerts.push_back(line);
  }
  auto& pick = alerts.empty() ? all : alerts;
  if (pick.size() > 8) pick.erase(pick.begin(), pick.end() - 8);
  return Truncate(Join(pick, " | "), 2000);
}

int ReadPidFile(const std::string& path) {
  auto text = ReadFileBounded(path, 4096);
  if (!text.ok()) return 0;
  int pid = 0;
  std::string_view t = *text;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.remove_suffix(1);
  size_t nl = t.find('\n');
  if (nl != std::string_view::npos) t = t.substr(0, nl);
  return ToInt(t, pid) ? pid : 0;
}

}  // namespace

Result<MasterState> ParseShowProc(std::string_view text) {
  MasterState st;
  bool master = false;
  enum { kNone, kWorkers, kOld, kOther } section = kNone;
  for (auto line : Split(text, '\n')) {
    std::string_view l = line;
    while (!l.empty() && (l.back() == '\r' || l.back() == ' ')) l.remove_suffix(1);
    if (l.empty()) continue;
    if (l.front() == '#') {
      if (l.find("# workers") == 0) {
        section = kWorkers;
      } else if (l.find("# old workers") == 0) {
        section = kOld;
      } else if (l.find("#<PID>") == 0) {
        section = kNone;
      } else {
        section = kOther;
      }
      continue;
    }
    auto f = Fields(l);
    if (f.size() < 3) continue;
    int pid = 0;
    if (!ToInt(f[0], pid)) continue;
    if (f[1] == "master") {
      master = true;
      st.master_pid = pid;
      ToInt(f[2], st.reloads);
      if (f.size() > 4 && f[3] == "[failed:") {
        std::string_view n = f[4];
        if (!n.empty() && n.back() == ']') n.remove_suffix(1);
        ToInt(n, st.failed_reloads);
      }
    } else if (f[1] == "worker") {
      if (section == kOld) {
        st.old_workers.push_back(pid);
      } else if (st.worker_pid == 0) {
        st.worker_pid = pid;
      } else {
        st.old_workers.push_back(pid);
      }
    }
  }
  if (!master)
    return Status::InvalidArgument("show proc: no master line in " + Quote(Truncate(text, 200)));
  return st;
}

HaproxyPaths PathsUnder(const std::string& run_dir, const std::string& instance) {
  HaproxyPaths p;
  std::string base = run_dir + "/" + instance;
  p.config = base + ".cfg";
  p.master_socket = base + ".master.sock";
  p.pid_file = base + ".pid";
  p.log_file = base + ".log";
  return p;
}

std::string HaproxyGlibcTunables(std::string_view inherited) {
  if (inherited.find("glibc.malloc.hugetlb=") != std::string_view::npos)
    return std::string(inherited);
  std::string out(inherited);
  if (!out.empty()) out += ':';
  return out + "glibc.malloc.hugetlb=1";
}

ProcessHaproxyMaster::ProcessHaproxyMaster(HaproxyPaths paths, HaproxyTimeouts timeouts,
                                           Clock* clock)
    : paths_(std::move(paths)), timeouts_(timeouts), clock_(clock) {
  paths_.binary = ResolveBinary(paths_.binary);
  bool set = false;
  for (const auto& [k, v] : paths_.env) set = set || k == "GLIBC_TUNABLES";
  if (!set) {
    const char* inherited = std::getenv("GLIBC_TUNABLES");
    paths_.env.push_back({"GLIBC_TUNABLES", HaproxyGlibcTunables(inherited ? inherited : "")});
  }
}

Status ProcessHaproxyMaster::Check(const std::string& config_path) {
  RunOptions opt;
  opt.merge_stderr = true;
  for (const auto& [k, v] : paths_.env) opt.env[k] = v;
  auto r = RunCommand({paths_.binary, "-c", "-f", config_path}, opt);
  if (!r.ok()) return Status::Unavailable("haproxy -c: " + r.status().message());
  if (r->exit_code == 0) return Status::Ok();
  return Status::InvalidArgument("haproxy -c -f " + config_path + " refused the config (exit " +
                                 std::to_string(r->exit_code) + "): " + Alerts(r->out));
}

Result<std::string> ProcessHaproxyMaster::MasterCommand(const std::string& command) {
  using SteadyClock = std::chrono::steady_clock;
  const auto deadline = SteadyClock::now() + timeouts_.command;
  const std::string where = "haproxy master " + paths_.master_socket;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (paths_.master_socket.size() >= sizeof(addr.sun_path))
    return Status::InvalidArgument(where + ": socket path too long");
  std::memcpy(addr.sun_path, paths_.master_socket.c_str(), paths_.master_socket.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Status::Unavailable(where + ": socket: " + std::strerror(errno));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Status::Unavailable(where + ": connect: " + std::strerror(errno));
  }
  std::string line = command + "\n";
  if (::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size()))
    return Status::Unavailable(where + ": write: " + std::strerror(errno));
  ::shutdown(fd.get(), SHUT_WR);
  std::string reply;
  char buf[8192];
  while (true) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0)
      return Status::Timeout(where + ": no complete reply to " + Quote(command));
    pollfd p{fd.get(), POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::Unavailable(where + ": poll: " + std::strerror(errno));
    if (n == 0) continue;
    ssize_t got = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (got > 0) {
      reply.append(buf, static_cast<size_t>(got));
      if (reply.size() > (1u << 20)) return Status::ResourceExhausted(where + ": reply too large");
      continue;
    }
    if (got == 0) return reply;
    if (errno == EINTR) continue;
    return Status::Unavailable(where + ": read: " + std::strerror(errno));
  }
}

Result<MasterState> ProcessHaproxyMaster::Query() {
  auto r = MasterCommand("show proc");
  if (!r.ok()) return Status::Unavailable(r.status().message());
  auto st = ParseShowProc(*r);
  if (!st.ok())
    return Status::Unavailable("haproxy master " + paths_.master_socket + ": " +
                               st.status().message());
  return st;
}

size_t ProcessHaproxyMaster::LogSize() const {
  struct stat s {};
  return ::stat(paths_.log_file.c_str(), &s) == 0 ? static_cast<size_t>(s.st_size) : 0;
}

std::string ProcessHaproxyMaster::LogTail(size_t from) const {
  std::ifstream in(paths_.log_file, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  size_t size = static_cast<size_t>(in.tellg());
  if (from > size) from = 0;
  if (size - from > 64 * 1024) from = size - 64 * 1024;
  in.seekg(static_cast<std::streamoff>(from));
  std::string text(size - from, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  return Alerts(text);
}

Result<MasterState> ProcessHaproxyMaster::Start() {
  Clock& clock = ClockOr(clock_);
  if (auto running = Query(); running.ok()) return running;  // already there: adopt it
  size_t log_from = LogSize();
  std::vector<std::string> args = {paths_.binary,   "-W", "-S",         paths_.master_socket, "-p",
                                   paths_.pid_file, "-f", paths_.config};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string_view entry(*e);
    bool replaced = false;  // getenv takes the first match: drop what paths_.env replaces
    for (const auto& [k, v] : paths_.env)
      replaced = replaced || (entry.size() > k.size() && entry.compare(0, k.size(), k) == 0 &&
                              entry[k.size()] == '=');
    if (!replaced) env_strings.emplace_back(*e);
  }
  for (const auto& [k, v] : paths_.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  ::unlink(paths_.pid_file.c_str());
  UniqueFd log(::open(paths_.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (log.get() < 0)
    return Status::Unavailable("open " + paths_.log_file + ": " + std::strerror(errno));
  UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0)
    return Status::Unavailable(std::string("pipe: ") + std::strerror(errno));
  UniqueFd rd(pipefd[0]), wr(pipefd[1]);
  pid_t child = ::fork();
  if (child < 0) return Status::Unavailable(std::string("fork: ") + std::strerror(errno));
  if (child == 0) {
    // Only async-signal-safe calls from here on.
    ::setsid();
    pid_t grandchild = ::fork();
    if (grandchild != 0) {
      int pid = static_cast<int>(grandchild);
      (void)!::write(wr.get(), &pid, sizeof(pid));
      ::_exit(grandchild < 0 ? 1 : 0);
    }
    ::dup2(devnull.get(), 0);
    ::dup2(log.get(), 1);
    ::dup2(log.get(), 2);
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(wr.release());
  int pid = 0;
  ssize_t n = ::read(rd.get(), &pid, sizeof(pid));
  int status = 0;
  ::waitpid(child, &status, 0);
  if (n != sizeof(pid) || pid <= 0)
    return Status::Unavailable("could not start haproxy (fork failed)");
  auto deadline = clock.Now() + timeouts_.start;
  Status last = Status::Unavailable("no answer yet");
  while (clock.Now() < deadline) {
    if (!Alive(pid)) {
      clock.Sleep(std::chrono::milliseconds(20));  // let it finish writing its log
      return Status::Unavailable("haproxy exited at start: " + LogTail(log_from));
    }
    auto q = Query();
    if (q.ok() && q->worker_pid > 0) return q;
    if (!q.ok()) last = q.status();
    clock.Sleep(std::chrono::milliseconds(20));
  }
  return Status::Timeout("haproxy (pid " + std::to_string(pid) + ") did not list a worker within " +
                         std::to_string(timeouts_.start.count()) + " ms: " + last.message() +
                         "; log: " + LogTail(log_from));
}

Result<MasterState> ProcessHaproxyMaster::Reload() {
  Clock& clock = ClockOr(clock_);
  auto before = Query();
  if (!before.ok()) return before.status();
  size_t log_from = LogSize();
  auto sent = MasterCommand("reload");
  // The master may close the connection while re-executing: the outcome is what show proc says.
  (void)sent;  // deliberately ignored: confirmed below
  auto deadline = clock.Now() + timeouts_.reload;
  while (clock.Now() < deadline) {
    clock.Sleep(std::chrono::milliseconds(25));
    auto q = Query();
    if (!q.ok()) continue;  // silent while it reloads
    if (q->reloads == before->reloads && q->master_pid == before->master_pid) continue;
    if (q->failed_reloads > 0 || q->worker_pid == before->worker_pid || q->worker_pid == 0) {
      return Status::Internal("haproxy reload failed (show proc: " + std::to_string(q->reloads) +
                              " reloads, failed: " + std::to_string(q->failed_reloads) +
                              "); the previous worker keeps serving: " + LogTail(log_from));
    }
    return q;
  }
  return Status::Timeout("haproxy reload: no outcome within " +
                         std::to_string(timeouts_.reload.count()) + " ms: " + LogTail(log_from));
}

Status ProcessHaproxyMaster::Stop() {
  Clock& clock = ClockOr(clock_);
  // The master CLI is silent and the pid file rewritten while a reload re-executes the
  // master: look for up to 3 s before concluding that nothing runs.
  int pid = 0;
  for (int i = 0; i < 60 && pid <= 0; ++i) {
    if (auto q = Query(); q.ok()) pid = q->master_pid;
    if (pid <= 0) pid = ReadPidFile(paths_.pid_file);
    if (pid <= 0 && !std::filesystem::exists(paths_.master_socket)) break;
    if (pid <= 0) clock.Sleep(std::chrono::milliseconds(50));
  }
  if (pid <= 0 || !Alive(pid)) return Status::Ok();
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 250 && Alive(pid); ++i) clock.Sleep(std::chrono::milliseconds(20));
  if (Alive(pid)) ::kill(pid, SIGKILL);
  for (int i = 0; i < 100 && Alive(pid); ++i) clock.Sleep(std::chrono::milliseconds(20));
  return Alive(pid) ? Status::Internal("haproxy master " + std::to_string(pid) + " did not stop")
                    : Status::Ok();
}

}  // namespace galley::agent
