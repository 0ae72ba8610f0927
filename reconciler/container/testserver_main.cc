// SPDX-License-Identifier: Apache-2.0
// galley-testserver: the reference test server, a test tool (it shows its whole
// environment, secrets included — never run it where that matters).
//
//   galley-testserver [--port N] [--host ADDRESS] [--drain-exit-after SECONDS] [ignored...]
//
// Listens on --port, else $PORT0, else $PORT (0 = any free port), on --host, else $HOST
// when it is an IP address, else 127.0.0.1. Prints "galley-testserver listening on
// ADDRESS:PORT" on stdout once it accepts connections. Positional arguments are ignored, so
// it can stand in for `node /app/server.js`.
//   GET /             its environment as sorted KEY=value lines (text/plain)
//   GET /healthcheck  200 "ok"; 503 "failing" after /fail, 503 "draining" after SIGTERM
//   GET|POST /fail    make /healthcheck fail;  GET|POST /restore  undo /fail
// The first SIGTERM makes it fail its health check while it keeps serving (zero-downtime
// draining: the load balancer drops it, then the scheduler kills it); it exits 0 on a second
// SIGTERM, on SIGINT, or --drain-exit-after SECONDS after the first SIGTERM. SIGHUP is
// ignored. Exit 1 with a one-line message on bad arguments or when it cannot listen.
// Threads: the HTTP server's; the main thread waits for signals (all blocked elsewhere).
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <signal.h>
#include <time.h>

#include "net/http_server.h"

extern char** environ;

namespace galley::container {
namespace {

constexpr char kUsage[] =
    "usage: galley-testserver [--port N] [--host ADDRESS] [--drain-exit-after SECONDS] [ignored "
    "arguments...]\n";

bool IsIpAddress(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

std::optional<long> ParseNumber(const std::string& s, long lo, long hi) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v < lo || v > hi) return std::nullopt;
  return v;
}

int Fail(const std::string& message) {
  std::cerr << "galley-testserver: " << message << "\n";
  return 1;
}

int Run(int argc, char** argv) {
  std::optional<std::string> port_text, host;
  std::optional<long> drain_exit_after;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (a == "--port" || a == "--host" || a == "--drain-exit-after") {
      if (i + 1 >= argc) return Fail(a + " needs a value");
      std::string v = argv[++i];
      if (a == "--port") {
        port_text = v;
      } else if (a == "--host") {
        if (!IsIpAddress(v)) return Fail("--host must be an IP address, got '" + v + "'");
        host = v;
      } else {
        drain_exit_after = ParseNumber(v, 0, 86400);
        if (!drain_exit_after)
          return Fail("--drain-exit-after needs a number of seconds, got '" + v + "'");
      }
    } else if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
      return Fail("unknown option " + a + "\n" + kUsage);
    }
    // Anything else is ignored (it stands in for `node /app/server.js`).
  }
  if (!port_text) {
    for (const char* name : {"PORT0", "PORT"}) {
      if (const char* v = getenv(name); v && *v) {
        port_text = v;
        break;
      }
    }
  }
  if (!port_text) return Fail("no port: pass --port N or set PORT0 or PORT");
  auto port = ParseNumber(*port_text, 0, 65535);
  if (!port) return Fail("port must be a number from 0 to 65535, got '" + *port_text + "'");
  if (!host) {
    const char* h = getenv("HOST");
    host = h && IsIpAddress(h) ? std::string(h) : "127.0.0.1";
  }

  // Sorted environment, captured once.
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  std::sort(env.begin(), env.end());
  std::string env_text;
  for (const auto& kv : env) env_text += kv + "\n";

  // Block the signals before the server starts its threads, so only sigwait sees them.
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, sig);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::atomic<bool> failing{false}, draining{false};
  net::HttpServerOptions options;
  options.address = *host;
  options.port = static_cast<uint16_t>(*port);
  options.server_header = "galley-testserver";
  auto server = net::HttpServer::Start(options, [&](const net::HttpRequest& r) {
    bool get = r.method == "GET" || r.method == "HEAD";
    if (r.path == "/") {
      if (!get) return net::HttpResponse::Text(405, "method not allowed\n");
      return net::HttpResponse::Text(200, env_text);
    }
    if (r.path == "/healthcheck") {
      if (draining.load()) return net::HttpResponse::Text(503, "draining\n");
      if (failing.load()) return net::HttpResponse::Text(503, "failing\n");
      return net::HttpResponse::Text(200, "ok\n");
    }
    if (r.path == "/fail" || r.path == "/restore") {
      if (!get && r.method != "POST") return net::HttpResponse::Text(405, "method not allowed\n");
      failing.store(r.path == "/fail");
      return net::HttpResponse::Text(200, r.path == "/fail" ? "failing\n" : "ok\n");
    }
    return net::HttpResponse::Text(404, "not found\n");
  });
  if (!server.ok()) return Fail(server.status().message());
  std::cout << "galley-testserver listening on " << *host << ":" << (*server)->port() << std::endl;

  while (true) {
    siginfo_t info{};
    int sig;
    if (draining.load() && drain_exit_after) {
      timespec ts{static_cast<time_t>(*drain_exit_after), 0};
      sig = sigtimedwait(&signals, &info, &ts);
      if (sig < 0 && errno == EAGAIN) {
        std::cerr << "galley-testserver: drained for " << *drain_exit_after << " s, exiting\n";
        break;
      }
    } else {
      sig = sigwaitinfo(&signals, &info);
    }
    if (sig < 0) continue;  // EINTR
    if (sig == SIGHUP) continue;
    if (sig == SIGTERM && !draining.load()) {
      draining.store(true);
      std::cerr << "galley-testserver: SIGTERM: failing health checks, still serving\n";
      continue;
    }
    std::cerr << "galley-testserver: " << (sig == SIGINT ? "SIGINT" : "second SIGTERM")
              << ", exiting\n";
    break;
  }
  (*server)->Stop();
  return 0;
}

}  // namespace
}  // namespace galley::container

int main(int argc, char** argv) { return galley::container::Run(argc, argv); }
