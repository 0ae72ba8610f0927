// SPDX-License-Identifier: Apache-2.0
// galley-wrapper: the container-side wrapper, equivalent to the platform's
// service-wrapper.sh — Consul KV under a prefix becomes the environment of the command.
//
//   galley-wrapper [options] <marathon> <consul> <prefix> <command> [args...]
//
// <marathon> and <consul> are host:port ("dockerhost:18080") or http:// URLs; <prefix> is
// the KV prefix ("app/production/test-server"). Every key under <prefix>/ (read with
// `GET /v1/kv/<prefix>/?recurse`, X-Consul-Token from $CONSUL_HTTP_TOKEN when set) is
// exported as an environment variable named by the key's last path segment, overriding the
// inherited value; keys whose names are not [A-Za-z_][A-Za-z0-9_]* are skipped with a
// warning. No keys (404) is fine. Consul is retried with backoff for --consul-timeout
// seconds. Then <command> runs as a child (argv, no shell; a bare name is looked up on the
// PATH, then next to galley-wrapper) in the wrapper's process group; SIGTERM, SIGINT,
// SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are forwarded to it, and the wrapper exits with the
// child's exit code, or 128+N when signal N killed it.
//
// --watch: a thread follows the prefix with Consul blocking queries; when the exported
// variables differ from those of the last restart request (initially: those the command was
// started with), it waits --debounce seconds, reads again and asks Marathon once to restart
// the app ($MARATHON_APP_ID) with `POST /v2/apps/<id>/restart` — a rolling restart through
// the scheduler, never a local one. 409 (a deployment is running) and errors are retried
// with backoff; the new tasks read the new KV when they start.
//
// Options (before <marathon>; `--` ends them):
//   --watch                  restart the app through Marathon when KV changes
//   --consul-timeout SECONDS how long to retry Consul at start (default 30)
//   --debounce SECONDS       quiet time after a change before restarting (default 2)
//   --watch-wait SECONDS     blocking-query wait (default 60)
// Exit codes: the child's; 1 on bad arguments or when Consul cannot be read in time; 127
// when the command cannot be executed; 128+N when signal N arrived before the command ran.
// Messages are one line each on stderr, prefixed "galley-wrapper:"; values are never shown.
// Threads: main (signals, child), and the watcher with --watch. Exits with _exit so a
// watcher blocked in a query never delays the exit.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "container/kv_env.h"
#include "net/http_client.h"
#include "net/url.h"

extern char** environ;

namespace galley::container {
namespace {

constexpr char kUsage[] =
    "usage: galley-wrapper [--watch] [--consul-timeout SECONDS] [--debounce SECONDS] [--watch-wait "
    "SECONDS]\n"
    "                      <marathon> <consul> <prefix> <command> [args...]\n";

constexpr char kHelp[] =
    "\n"
    "Runs <command> with every Consul KV key under <prefix>/ exported as an environment variable\n"
    "(named by the key's last path segment; names that cannot be variables are skipped with a\n"
    "warning). The container-side equivalent of the platform's service-wrapper.sh.\n"
    "\n"
    "arguments:\n"
    "  <marathon>                 Marathon address: host:port (\"dockerhost:18080\") or an http:// "
    "URL\n"
    "  <consul>                   Consul address, the same way\n"
    "  <prefix>                   the KV prefix, e.g. app/production/test-server\n"
    "  <command> [args...]        run as a child (no shell); signals are forwarded to it\n"
    "\n"
    "options (before <marathon>; `--` ends them):\n"
    "  --watch                    restart the app through Marathon (POST /v2/apps/<id>/restart,\n"
    "                             id from $MARATHON_APP_ID) when the exported variables change\n"
    "  --consul-timeout SECONDS   how long to retry Consul at start (default 30)\n"
    "  --debounce SECONDS         quiet time after a change before restarting (default 2)\n"
    "  --watch-wait SECONDS       blocking-query wait (default 60)\n"
    "  -h, --help                 print this help\n"
    "\n"
    "environment: CONSUL_HTTP_TOKEN (sent as X-Consul-Token), MARATHON_APP_ID (with --watch).\n"
    "exit status: the command's; 128+N when signal N killed it; 1 on bad arguments or when Consul\n"
    "cannot be read in time; 127 when the command cannot be executed.\n";

struct Config {
  bool help = false;
  bool watch = false;
  double consul_timeout = 30;
  double debounce = 2;
  double watch_wait = 60;
  std::string marathon;  // "http://host:port"
  std::string consul;
  std::string prefix;  // normalised
  std::string app_id;  // $MARATHON_APP_ID, with --watch
  std::string token;   // $CONSUL_HTTP_TOKEN
  std::vector<std::string> command;
};

void Log(const std::string& message) {
  std::string line = "galley-wrapper: " + message + "\n";
  // One write per line so lines from both threads never interleave.
  ssize_t ignored = ::write(2, line.data(), line.size());
  (void)ignored;
}

[[noreturn]] void Exit(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  _exit(code);
}

std::chrono::milliseconds Millis(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(std::llround(seconds * 1000)));
}

std::optional<double> ParseSeconds(const std::string& s) {
  if (s.empty() || s.size() > 12) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !(v >= 0) || v > 86400) return std::nullopt;
  return v;
}

// "dockerhost:18080" or "http://h:p[/]" → "http://h:p".
Result<std::string> BaseUrl(const std::string& what, const std::string& text) {
  std::string url = text.find("://") == std::string::npos ? "http://" + text : text;
  auto parsed = net::Url::Parse(url);
  if (!parsed.ok())
    return Status::InvalidArgument(what + " address '" + text + "': " + parsed.status().message());
  if (parsed->scheme != "http")
    return Status::InvalidArgument(what + " address '" + text + "': only http:// is supported");
  return parsed->Origin();
}

Result<Config> ParseArgs(int argc, char** argv) {
  Config c;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "-h" || a == "--help") {
      c.help = true;
      return c;
    }
    if (a.size() < 2 || a.compare(0, 2, "--") != 0) break;
    std::optional<std::string> inline_value;  // --name=value
    if (size_t eq = a.find('='); eq != std::string::npos) {
      inline_value = a.substr(eq + 1);
      a = a.substr(0, eq);
    }
    if (a == "--watch" && !inline_value) {
      c.watch = true;
      continue;
    }
    if (a == "--consul-timeout" || a == "--debounce" || a == "--watch-wait") {
      if (!inline_value && i + 1 >= argc) return Status::InvalidArgument(a + " needs a value");
      std::string v = inline_value ? *inline_value : argv[++i];
      auto secs = ParseSeconds(v);
      if (!secs) return Status::InvalidArgument(a + " needs a number of seconds, got '" + v + "'");
      (a == "--consul-timeout" ? c.consul_timeout
       : a == "--debounce"     ? c.debounce
                               : c.watch_wait) = *secs;
      continue;
    }
    return Status::InvalidArgument("unknown option " + a +
                                   (a == "--watch" ? " (it takes no value)" : "") +
                                   " (galley-wrapper --help lists the options)");
  }
  std::vector<std::string> rest(argv + i, argv + argc);
  if (rest.size() < 4) {
    return Status::InvalidArgument(
        "expected <marathon> <consul> <prefix> <command> [args...], got " +
        std::to_string(rest.size()) + " argument(s)");
  }
  ASSIGN_OR_RETURN(c.marathon, BaseUrl("marathon", rest[0]));
  ASSIGN_OR_RETURN(c.consul, BaseUrl("consul", rest[1]));
  c.prefix = NormalizePrefix(rest[2]);
  if (c.prefix.empty()) return Status::InvalidArgument("the KV prefix is empty");
  c.command.assign(rest.begin() + 3, rest.end());
  if (c.command[0].empty()) return Status::InvalidArgument("the command is empty");
  if (c.watch) {
    const char* id = getenv("MARATHON_APP_ID");
    if (!id || !*id)
      return Status::InvalidArgument("--watch needs MARATHON_APP_ID in the environment");
    c.app_id = id;
  }
  if (const char* t = getenv("CONSUL_HTTP_TOKEN")) c.token = t;
  if (c.watch_wait < 1) c.watch_wait = 1;
  return c;
}

struct KvRead {
  uint64_t index = 0;
  KvEnvironment env;
};

// One read of the prefix; blocking when index > 0. Fails on transport errors, on statuses
// other than 200/404 (kPermissionDenied for 4xx, kUnavailable for 5xx) and on bad JSON.
Result<KvRead> ReadKv(net::HttpClient& client, const Config& c, uint64_t index,
                      std::chrono::milliseconds timeout) {
  net::ClientRequest req;
  req.url = c.consul + "/v1/kv/" + net::PercentEncode(c.prefix, /*keep_slash=*/true) + "/?recurse";
  if (index > 0) {
    long wait = std::lround(c.watch_wait);
    req.url += "&index=" + std::to_string(index) + "&wait=" + std::to_string(wait) + "s";
    timeout = std::chrono::milliseconds(1000 * (wait + wait / 16 + 5));
  }
  if (!c.token.empty()) req.headers["X-Consul-Token"] = c.token;
  req.timeout = timeout;
  auto resp = client.Send(req);
  if (!resp.ok()) return resp.status();
  KvRead read;
  std::string idx = resp->Header("X-Consul-Index");
  read.index = std::strtoull(idx.c_str(), nullptr, 10);
  if (resp->status == 404) return read;
  if (resp->status != 200) {
    std::string body = resp->body.substr(0, resp->body.find('\n')).substr(0, 200);
    std::string msg =
        "Consul answered HTTP " + std::to_string(resp->status) + (body.empty() ? "" : ": " + body);
    if (resp->status >= 400 && resp->status < 500 && resp->status != 429)
      return Status::PermissionDenied(msg);
    return Status::Unavailable(msg);
  }
  auto env = EnvironmentFromKv(resp->body, c.prefix);
  if (!env.ok()) return env.status();
  read.env = std::move(env).value();
  return read;
}

// Waits up to `d` for a termination signal (they are blocked); returns it, or 0.
int WaitForSignal(const sigset_t& set, std::chrono::milliseconds d) {
  timespec ts{static_cast<time_t>(d.count() / 1000),
              static_cast<long>(d.count() % 1000) * 1000000L};
  siginfo_t info{};
  while (true) {
    int sig = sigtimedwait(&set, &info, &ts);
    if (sig > 0 && sig != SIGCHLD) return sig;
    if (sig < 0 && errno == EAGAIN) return 0;
    // SIGCHLD (there is no child yet) or EINTR: wait again.
  }
}

// Reads the prefix at start, retrying until the deadline. Signals end the wait early.
KvRead InitialRead(net::HttpClient& client, const Config& c, const sigset_t& signals) {
  auto deadline = std::chrono::steady_clock::now() + Millis(c.consul_timeout);
  auto backoff = std::chrono::milliseconds(200);
  std::string last_error;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto timeout =
        std::clamp(left, std::chrono::milliseconds(200), std::chrono::milliseconds(5000));
    auto read = ReadKv(client, c, 0, timeout);
    if (read.ok()) return std::move(read).value();
    last_error = read.status().message();
    if (read.status().code() == StatusCode::kPermissionDenied ||
        read.status().code() == StatusCode::kInvalidArgument) {
      Log("cannot read Consul KV " + c.prefix + "/ at " + c.consul + ": " + last_error);
      Exit(1);
    }
    left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                 std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      Log("cannot read Consul KV " + c.prefix + "/ at " + c.consul + " after " +
          std::to_string(std::lround(c.consul_timeout)) + " s: " + last_error);
      Exit(1);
    }
    if (int sig = WaitForSignal(signals, std::min(backoff, left)); sig > 0) {
      Log(std::string("signal ") + strsignal(sig) + " before the command started; exiting");
      Exit(128 + sig);
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

bool IsExecutableFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// A bare program name: the child's PATH, then galley-wrapper's own directory.
std::string ResolveProgram(const std::string& name, const std::string& path_var) {
  if (name.find('/') != std::string::npos) return name;
  size_t start = 0;
  while (start <= path_var.size()) {
    size_t end = path_var.find(':', start);
    if (end == std::string::npos) end = path_var.size();
    std::string dir = path_var.substr(start, end - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (IsExecutableFile(candidate)) return candidate;
    start = end + 1;
  }
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec && IsExecutableFile((self.parent_path() / name).string()))
    return (self.parent_path() / name).string();
  return "";
}

pid_t SpawnChild(const Config& c, const std::map<std::string, std::string>& vars) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    if (!vars.count(kv.substr(0, kv.find('=')))) env.push_back(std::move(kv));
  }
  for (const auto& [k, v] : vars) env.push_back(k + "=" + v);
  std::string path_var = "/usr/local/bin:/usr/bin:/bin";
  for (const auto& kv : env) {
    if (kv.compare(0, 5, "PATH=") == 0) path_var = kv.substr(5);
  }
  std::vector<std::string> argv = c.command;
  std::string program = ResolveProgram(argv[0], path_var);
  if (program.empty()) {
    Log("cannot execute " + argv[0] + ": not found on PATH");
    Exit(127);
  }
  std::vector<char*> cargv, cenv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  for (auto& e : env) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD, SIGPIPE})
    sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, program.c_str(), nullptr, &attr, cargv.data(), cenv.data());
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    Log("cannot execute " + program + ": " + strerror(rc));
    Exit(127);
  }
  return pid;
}

std::string ChangedNames(const std::map<std::string, std::string>& a,
                         const std::map<std::string, std::string>& b) {
  std::vector<std::string> names;
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end() || it->second != v) names.push_back(k);
  }
  for (const auto& [k, v] : b) {
    if (!a.count(k)) names.push_back(k);
  }
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Asks Marathon to restart the app until it accepts (or this process is killed by the
// rolling restart it asked for).
void RequestRestart(net::HttpClient& client, const Config& c) {
  std::string id = c.app_id;
  while (!id.empty() && id.front() == '/') id.erase(0, 1);
  net::ClientRequest req;
  req.method = "POST";
  req.url = c.marathon + "/v2/apps/" + net::PercentEncode(id, /*keep_slash=*/true) + "/restart";
  req.headers["Content-Type"] = "application/json";
  req.body = "{}";
  req.timeout = std::chrono::seconds(10);
  auto backoff = std::chrono::seconds(1);
  while (true) {
    auto resp = client.Send(req);
    std::string problem;
    if (!resp.ok()) {
      problem = resp.status().message();
    } else if (resp->status == 200 || resp->status == 201) {
      std::string deployment;
      auto doc = nlohmann::json::parse(resp->body, nullptr, false);
      if (doc.is_object() && doc.contains("deploymentId") && doc["deploymentId"].is_string()) {
        deployment = " (deployment " + doc["deploymentId"].get<std::string>() + ")";
      }
      Log("asked Marathon to restart " + c.app_id + deployment);
      return;
    } else if (resp->status == 409) {
      problem = "a deployment is already running for " + c.app_id;
    } else {
      problem = "Marathon answered HTTP " + std::to_string(resp->status);
    }
    Log("restart of " + c.app_id + " not accepted yet (" + problem + "); retrying in " +
        std::to_string(backoff.count()) + " s");
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::seconds(30));
  }
}

// The --watch thread. `requested` is the environment of the last restart request.
void Watch(Config c, uint64_t index, std::map<std::string, std::string> requested) {
  auto client = net::NewHttpClient();
  auto backoff = std::chrono::seconds(1);
  if (index == 0) index = 1;
  while (true) {
    auto started = std::chrono::steady_clock::now();
    auto read = ReadKv(*client, c, index, std::chrono::milliseconds(0));
    if (!read.ok()) {
      Log("watching " + c.prefix + "/: " + read.status().message() + "; retrying in " +
          std::to_string(backoff.count()) + " s");
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::seconds(30));
      continue;
    }
    backoff = std::chrono::seconds(1);
    uint64_t previous = index;
    index = read->index < previous
                ? 1
                : std::max<uint64_t>(read->index, 1);  // Consul: reset when it goes back
    if (read->index != previous && read->env.vars != requested) {
      Log("KV under " + c.prefix + "/ changed (" + ChangedNames(requested, read->env.vars) +
          "); restarting in " + std::to_string(c.debounce) + " s unless it changes back");
      std::this_thread::sleep_for(Millis(c.debounce));
      auto again = ReadKv(*client, c, 0, std::chrono::seconds(10));
      KvEnvironment latest = again.ok() ? again->env : read->env;
      if (again.ok()) index = std::max<uint64_t>(again->index, 1);
      if (latest.vars != requested) {
        RequestRestart(*client, c);
        requested = latest.vars;
      }
    }
    // At most four queries a second, whatever the server does with `index`.
    std::this_thread::sleep_until(started + std::chrono::milliseconds(250));
  }
}

int Run(int argc, char** argv) {
  auto config = ParseArgs(argc, argv);
  if (!config.ok()) {
    Log(config.status().message());
    std::cerr << kUsage;
    return 1;
  }
  if (config->help) {
    std::cout << kUsage << kHelp << std::flush;
    return 0;
  }
  const Config& c = *config;

  // Every signal we forward, and SIGCHLD, is blocked in all threads and taken by sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD})
    sigaddset(&signals, sig);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto client = net::NewHttpClient();
  KvRead initial = InitialRead(*client, c, signals);
  for (const auto& w : initial.env.warnings) Log(w);
  std::string names;
  for (const auto& [k, v] : initial.env.vars) names += (names.empty() ? "" : ", ") + k;
  Log("exporting " + std::to_string(initial.env.vars.size()) + " variable(s) from " + c.prefix +
      "/" + (names.empty() ? "" : ": " + names));

  pid_t child = SpawnChild(c, initial.env.vars);
  if (c.watch) std::thread(Watch, c, initial.index, initial.env.vars).detach();

  while (true) {
    int st = 0;
    pid_t r = ::waitpid(child, &st, WNOHANG);
    if (r == child) {
      if (WIFEXITED(st)) Exit(WEXITSTATUS(st));
      if (WIFSIGNALED(st)) Exit(128 + WTERMSIG(st));
      continue;
    }
    if (r < 0 && errno != EINTR) {
      Log(std::string("waitpid: ") + strerror(errno));
      Exit(1);
    }
    timespec ts{1, 0};
    siginfo_t info{};
    int sig = sigtimedwait(&signals, &info, &ts);
    if (sig > 0 && sig != SIGCHLD) ::kill(child, sig);
  }
}

}  // namespace
}  // namespace galley::container

int main(int argc, char** argv) { return galley::container::Run(argc, argv); }
