// SPDX-License-Identifier: Apache-2.0
// net::HttpServer under abuse, over real loopback sockets: read and idle deadlines, the
// connection cap (idle eviction, 503), the body limits, bodiless statuses, Stop() under
// churn, and a load test (idle connections + slowloris + large bodies) with bounded threads
// and memory. Raw POSIX sockets play the misbehaving clients.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/http_client.h"
#include "net/http_server.h"

namespace galley::net {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// ASan and TSan replace malloc with allocators that keep freed memory in quarantine or
// their own caches (malloc_trim cannot return it), so RSS says nothing about the server there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// A client socket to 127.0.0.1:port; closed on destruction.
class Raw {
 public:
  explicit Raw(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Raw() {
    if (fd_ >= 0) ::close(fd_);
  }
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;
  Raw(Raw&& o) noexcept : fd_(o.fd_), connected_(o.connected_) { o.fd_ = -1; }

  bool connected() const { return connected_; }
  bool Send(std::string_view s) {
    while (!s.empty()) {
      ssize_t n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      s.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  // Reads until `until` appears, the peer closes, or the timeout; *closed tells which.
  std::string Read(milliseconds timeout, bool* closed = nullptr, std::string_view until = "") {
    std::string out;
    bool eof = false;
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (!until.empty() && out.find(until) != std::string::npos) break;
      pollfd p{fd_, POLLIN, 0};
      int left = static_cast<int>(
          std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count());
      if (::poll(&p, 1, std::max(left, 1)) <= 0) continue;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        eof = true;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    if (closed) *closed = eof;
    return out;
  }
  // Waits for the peer to close; returns how long it took, or nullopt on timeout.
  std::optional<milliseconds> WaitClosed(milliseconds timeout) {
    auto start = Clock::now();
    bool closed = false;
    Read(timeout, &closed);
    if (!closed) return std::nullopt;
    return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

constexpr char kGet[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";

std::unique_ptr<HttpServer> StartServer(const HttpServerOptions& o, HttpHandler h) {
  auto s = HttpServer::Start(o, std::move(h));
  EXPECT_TRUE(s.ok()) << s.status().message();
  return std::move(s).value();
}

HttpResponse Ok(const HttpRequest& r) {
  return HttpResponse::Text(200, "ok " + std::to_string(r.body.size()));
}

size_t ThreadCount() {
  size_t n = 0;
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Threads:", 0) == 0) n = std::stoul(line.substr(8));
  }
  return n;
}

size_t RssMiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6)) / 1024;
  }
  return 0;
}

// A fresh client's GET: status, and how long it took.
std::pair<int, milliseconds> FreshGet(uint16_t port) {
  auto start = Clock::now();
  auto client = NewHttpClient();
  ClientRequest req{"GET", "http://127.0.0.1:" + std::to_string(port) + "/"};
  req.timeout = std::chrono::seconds(5);
  auto resp = client->Send(req);
  auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  return {resp.ok() ? resp->status : 0, took};
}

TEST(HttpServerLimitsTest, SlowlorisHeaderIsCutAtTheHeaderDeadline) {
  HttpServerOptions o;
  o.header_timeout = milliseconds(400);
  auto server = StartServer(o, Ok);
  Raw c(server->port());
  ASSERT_TRUE(c.connected());
  // One byte every 50 ms: each read is quick, only a deadline on the whole header stops it.
  std::string header = "GET / HTTP/1.1\r\nHost: t\r\nX-Slow: " + std::string(200, 'a') + "\r\n\r\n";
  auto start = Clock::now();
  bool cut = false;
  for (char ch : header) {
    if (!c.Send(std::string_view(&ch, 1))) {
      cut = true;
      break;
    }
    bool closed = false;
    c.Read(milliseconds(50), &closed);
    if (closed) {
      cut = true;
      break;
    }
  }
  auto took = Clock::now() - start;
  EXPECT_TRUE(cut) << "the whole slow header was accepted";
  EXPECT_GE(took, milliseconds(350));
  EXPECT_LT(took, milliseconds(3000));
  // Beast closes the socket before the read reports the timeout: the count may lag a little.
  auto deadline = Clock::now() + std::chrono::seconds(2);
  while (server->stats().timed_out == 0 && Clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(5));
  EXPECT_GE(server->stats().timed_out, 1u);
}

TEST(HttpServerLimitsTest, SlowBodyIsCutAtTheBodyDeadline) {
  HttpServerOptions o;
  o.body_timeout = milliseconds(300);
  auto server = StartServer(o, Ok);
  Raw c(server->port());
  ASSERT_TRUE(c.Send("PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789"));
  auto closed_after = c.WaitClosed(milliseconds(5000));
  ASSERT_TRUE(closed_after.has_value()) << "the connection stayed open with a body that never came";
  EXPECT_GE(*closed_after, milliseconds(250));
  EXPECT_EQ(server->requests_served(), 0u);
}

TEST(HttpServerLimitsTest, IdleKeepAliveConnectionsCloseAfterTheIdleTimeout) {
  HttpServerOptions o;
  o.idle_timeout = milliseconds(400);
  auto server = StartServer(o, Ok);
  Raw c(server->port());
  // Two requests on the connection, the second after a pause shorter than the timeout.
  ASSERT_TRUE(c.Send(kGet));
  EXPECT_NE(c.Read(milliseconds(2000), nullptr, "ok 0").find("200 OK"), std::string::npos);
  std::this_thread::sleep_for(milliseconds(150));
  ASSERT_TRUE(c.Send(kGet));
  EXPECT_NE(c.Read(milliseconds(2000), nullptr, "ok 0").find("200 OK"), std::string::npos);
  auto closed_after = c.WaitClosed(milliseconds(5000));
  ASSERT_TRUE(closed_after.has_value()) << "an idle keep-alive connection was never closed";
  EXPECT_GE(*closed_after, milliseconds(300));
  EXPECT_EQ(server->requests_served(), 2u);
}

TEST(HttpServerLimitsTest, StreamsOutliveTheReadDeadlines) {
  HttpServerOptions o;
  o.header_timeout = o.body_timeout = o.idle_timeout = milliseconds(150);
  auto server = StartServer(o, [](const HttpRequest&) {
    HttpResponse r;
    r.headers["Content-Type"] = "text/event-stream";
    r.stream = [](StreamWriter& w) {
      for (int i = 0; i < 8 && !w.Done(); ++i) {
        w.Write("data: " + std::to_string(i) + "\n\n");
        std::this_thread::sleep_for(milliseconds(100));
      }
    };
    return r;
  });
  Raw c(server->port());
  ASSERT_TRUE(c.Send(kGet));
  bool closed = false;
  std::string got = c.Read(milliseconds(5000), &closed);
  EXPECT_TRUE(closed);
  EXPECT_NE(got.find("data: 0\n\n"), std::string::npos);
  EXPECT_NE(got.find("data: 7\n\n"), std::string::npos) << got;
}

TEST(HttpServerLimitsTest, AStreamNoticesTheClientLeaving) {
  std::atomic<bool> noticed{false};
  auto server = StartServer(HttpServerOptions{}, [&](const HttpRequest&) {
    HttpResponse r;
    r.stream = [&](StreamWriter& w) {
      w.Write("data: hello\n\n");
      auto deadline = Clock::now() + std::chrono::seconds(5);
      while (!w.Done() && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(10));
      noticed = w.Done();
    };
    return r;
  });
  {
    Raw c(server->port());
    ASSERT_TRUE(c.Send(kGet));
    c.Read(milliseconds(2000), nullptr, "hello");
  }
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (!noticed && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(10));
  EXPECT_TRUE(noticed.load());
}

TEST(HttpServerLimitsTest, OverTheCapTheLongestIdleConnectionMakesRoom) {
  HttpServerOptions o;
  o.max_connections = 4;
  auto server = StartServer(o, Ok);
  std::vector<Raw> idle;
  for (int i = 0; i < 4; ++i) {
    idle.emplace_back(server->port());
    ASSERT_TRUE(idle.back().Send(kGet));
    ASSERT_NE(idle.back().Read(milliseconds(2000), nullptr, "ok 0").find("200 OK"),
              std::string::npos);
  }
  auto [status, took] = FreshGet(server->port());
  EXPECT_EQ(status, 200);
  EXPECT_GE(server->stats().evicted, 1u);
  EXPECT_EQ(server->stats().rejected, 0u);
  EXPECT_TRUE(idle.front().WaitClosed(milliseconds(2000)).has_value())
      << "the oldest idle one was not closed";
}

TEST(HttpServerLimitsTest, OverTheCapWithNothingIdleTheAnswerIs503) {
  HttpServerOptions o;
  o.max_connections = 2;
  auto server = StartServer(o, Ok);
  // Two connections in the middle of a header: busy, not idle.
  Raw a(server->port()), b(server->port());
  ASSERT_TRUE(a.Send("GET / HTTP/1.1\r\n"));
  ASSERT_TRUE(b.Send("GET / HTTP/1.1\r\n"));
  std::this_thread::sleep_for(milliseconds(100));
  Raw c(server->port());
  ASSERT_TRUE(c.Send(kGet));
  bool closed = false;
  std::string got = c.Read(milliseconds(3000), &closed);
  EXPECT_EQ(got.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u) << got;
  EXPECT_NE(got.find("Retry-After: 1\r\n"), std::string::npos);
  EXPECT_NE(got.find("Connection: close\r\n"), std::string::npos);
  EXPECT_TRUE(closed);
  EXPECT_EQ(server->stats().rejected, 1u);
  // The busy ones are unaffected: they finish their requests.
  ASSERT_TRUE(a.Send("Host: t\r\n\r\n"));
  EXPECT_NE(a.Read(milliseconds(2000), nullptr, "ok 0").find("200 OK"), std::string::npos);
}

TEST(HttpServerLimitsTest, BodiesOverTheLimitAre413BeforeTheyAreRead) {
  HttpServerOptions o;
  o.max_body_bytes = 1000;
  auto server = StartServer(o, Ok);
  Raw c(server->port());
  ASSERT_TRUE(c.Send("PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n"));
  std::string got = c.Read(milliseconds(3000), nullptr, "\r\n\r\n");
  EXPECT_EQ(got.rfind("HTTP/1.1 413 Payload Too Large\r\n", 0), 0u) << got;
  EXPECT_NE(got.find("Connection: close"), std::string::npos);
}

TEST(HttpServerLimitsTest, LargeBodiesOverTheInflightBudgetAre503) {
  HttpServerOptions o;
  o.max_body_bytes = 1u << 20;
  o.max_inflight_body_bytes = 1u << 20;
  auto server = StartServer(o, Ok);
  const std::string head = "PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: 800000\r\n\r\n";
  auto holder = std::make_unique<Raw>(server->port());
  ASSERT_TRUE(holder->Send(head));  // 800 kB announced, none sent: holds its share
  std::this_thread::sleep_for(milliseconds(100));
  Raw second(server->port());
  ASSERT_TRUE(second.Send(head));
  std::string got = second.Read(milliseconds(3000), nullptr, "\r\n\r\n");
  EXPECT_EQ(got.rfind("HTTP/1.1 503", 0), 0u) << got;
  EXPECT_NE(got.find("Retry-After"), std::string::npos);
  // Small bodies are never charged, so they still pass.
  EXPECT_EQ(FreshGet(server->port()).first, 200);
  // Once the holder leaves, its share is free again.
  holder.reset();
  int status = 0;
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (status != 200 && Clock::now() < deadline) {
    Raw third(server->port());
    third.Send(head + std::string(800000, 'x'));
    std::string answer = third.Read(milliseconds(3000), nullptr, "ok 800000");
    status = answer.rfind("HTTP/1.1 200", 0) == 0 ? 200 : 0;
    if (status != 200) std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_EQ(status, 200);
}

TEST(HttpServerLimitsTest, BodilessStatusesGoOutWithoutTheirBody) {
  auto server = StartServer(HttpServerOptions{}, [](const HttpRequest& r) {
    int status = r.path == "/204" ? 204 : r.path == "/304" ? 304 : 200;
    return HttpResponse::Json(status, R"({"message":"a body the status forbids"})");
  });
  auto client = NewHttpClient();
  std::string base = "http://127.0.0.1:" + std::to_string(server->port());
  for (const char* path : {"/204", "/304"}) {
    auto resp = client->Send({"GET", base + path});
    ASSERT_TRUE(resp.ok()) << resp.status().message();
    EXPECT_EQ(resp->status, std::stoi(path + 1));
    EXPECT_EQ(resp->body, "");
  }
  auto after = client->Send({"GET", base + "/"});
  ASSERT_TRUE(after.ok()) << after.status().message();
  EXPECT_EQ(after->status, 200);
}

TEST(HttpServerLimitsTest, ImpossibleStatusesAre500) {
  auto server = StartServer(HttpServerOptions{},
                            [](const HttpRequest&) { return HttpResponse::Text(42, "x"); });
  auto resp =
      NewHttpClient()->Send({"GET", "http://127.0.0.1:" + std::to_string(server->port()) + "/"});
  ASSERT_TRUE(resp.ok()) << resp.status().message();
  EXPECT_EQ(resp->status, 500);
  EXPECT_NE(resp->body.find("status 42"), std::string::npos);
}

// Stop() while clients connect, send and vanish: it returns promptly, and sockets that are
// not the server's (opened meanwhile, possibly reusing a just-closed descriptor number) keep
// working.
TEST(HttpServerLimitsTest, StopUnderChurnTouchesOnlyItsOwnSockets) {
  for (int round = 0; round < 15; ++round) {
    auto server = StartServer(HttpServerOptions{}, [](const HttpRequest& r) {
      if (r.path == "/slow") std::this_thread::sleep_for(milliseconds(20));
      return HttpResponse::Text(200, "ok");
    });
    const uint16_t port = server->port();
    std::atomic<bool> go{true};
    std::vector<std::thread> clients;
    for (int t = 0; t < 6; ++t) {
      clients.emplace_back([&, t] {
        while (go) {
          Raw c(port);
          c.Send(t % 2 ? "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n" : kGet);
          if (t % 3 == 0) c.Read(milliseconds(50));
        }
      });
    }
    std::atomic<int> broken{0};
    std::thread bystander([&] {
      while (go) {
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) continue;
        char ch = 'x', got = 0;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        if (::send(sv[0], &ch, 1, MSG_NOSIGNAL) != 1 || ::recv(sv[1], &got, 1, 0) != 1 ||
            got != 'x')
          ++broken;
        ::close(sv[0]);
        ::close(sv[1]);
      }
    });
    std::this_thread::sleep_for(milliseconds(40));
    auto start = Clock::now();
    server->Stop();
    auto took = Clock::now() - start;
    go = false;
    for (auto& t : clients) t.join();
    bystander.join();
    EXPECT_LT(took, milliseconds(3000)) << "round " << round;
    EXPECT_EQ(broken.load(), 0) << "round " << round << ": Stop() hit a socket it did not own";
  }
}

// The load test: many idle keep-alive connections, slowloris headers and large bodies at
// once. A fresh client is still answered quickly; threads stay bounded (idle and slow
// connections cost none) and the memory of the bodies is given back.
TEST(HttpServerLoadTest, SurvivesIdleSlowlorisAndLargeBodies) {
  HttpServerOptions o;
  o.max_connections = 512;
  o.header_timeout = std::chrono::seconds(2);
  o.max_inflight_body_bytes = 64u << 20;
  auto server = StartServer(o, Ok);
  const uint16_t port = server->port();
  const size_t threads_before = ThreadCount();
  const size_t rss_before = RssMiB();

  // Each idle connection has had one answer (so it is an idle keep-alive connection).
  std::vector<Raw> idle, slow;
  for (int i = 0; i < 400; ++i) {
    idle.emplace_back(port);
    idle.back().Send(kGet);
    idle.back().Read(milliseconds(2000), nullptr, "ok 0");
  }
  for (int i = 0; i < 150; ++i) {
    slow.emplace_back(port);
    slow.back().Send("GET / HTTP/1.1\r\nHost: t\r\n");
  }
  const size_t threads_idle = ThreadCount();

  // 16 bodies of 15 MiB at once (the in-flight budget admits 4; the rest retry on 503).
  // bench/http_load.py does the same with 31 MB bodies against galley-sandbox.
  const std::string body(15u << 20, 'b');
  std::atomic<int> bodies_ok{0}, refusals{0};
  std::atomic<size_t> peak_threads{0};
  std::vector<std::thread> senders;
  for (int i = 0; i < 16; ++i) {
    senders.emplace_back([&] {
      for (int attempt = 0; attempt < 50; ++attempt) {
        Raw c(port);
        c.Send("PUT /big HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n\r\n");
        c.Send(body);
        std::string got = c.Read(milliseconds(20000), nullptr, "\r\n\r\n");
        size_t now = ThreadCount();
        size_t prev = peak_threads.load();
        while (now > prev && !peak_threads.compare_exchange_weak(prev, now)) {
        }
        if (got.rfind("HTTP/1.1 200", 0) == 0) {
          ++bodies_ok;
          return;
        }
        ++refusals;
        std::this_thread::sleep_for(milliseconds(50));
      }
    });
  }
  // Meanwhile a fresh client is answered.
  std::vector<milliseconds> fresh;
  for (int i = 0; i < 5; ++i) {
    auto [status, took] = FreshGet(port);
    EXPECT_EQ(status, 200);
    fresh.push_back(took);
    std::this_thread::sleep_for(milliseconds(100));
  }
  for (auto& t : senders) t.join();
  const size_t rss_peak_after = RssMiB();
  // Give the handler threads a moment to trim, then measure what stays.
  std::this_thread::sleep_for(milliseconds(300));
  const size_t rss_after = RssMiB();
  auto stats = server->stats();
  milliseconds worst = *std::max_element(fresh.begin(), fresh.end());
  std::printf(
      "load: %zu idle + %zu slowloris connections, 16 x 15 MiB bodies (%d ok, %d refusals with "
      "503)\n"
      "load: threads %zu before, %zu with the idle/slow connections, %zu peak (client threads "
      "included)\n"
      "load: fresh client worst %lld ms; RSS %zu MiB before, %zu MiB after the bodies, %zu MiB "
      "settled\n"
      "load: server: %llu requests, %llu evicted, %llu rejected, %llu timed out\n",
      idle.size(), slow.size(), bodies_ok.load(), refusals.load(), threads_before, threads_idle,
      peak_threads.load(), static_cast<long long>(worst.count()), rss_before, rss_peak_after,
      rss_after, static_cast<unsigned long long>(stats.requests),
      static_cast<unsigned long long>(stats.evicted),
      static_cast<unsigned long long>(stats.rejected),
      static_cast<unsigned long long>(stats.timed_out));
  EXPECT_EQ(bodies_ok.load(), 16);
  EXPECT_LT(worst, milliseconds(2000));
  // 550 connections, yet at most the I/O thread and a couple of idle handler threads.
  EXPECT_LE(threads_idle, threads_before + 4);
  // Senders (16) + handlers (at most 4 bodies in the budget, plus the fresh client) + I/O.
  EXPECT_LE(peak_threads.load(), threads_before + 16 + 8);
  if (!kSanitized) {
    EXPECT_LT(rss_after, rss_before + 15 + 100) << "the bodies' memory was not given back";
  }
}

}  // namespace
}  // namespace galley::net
