// SPDX-License-Identifier: Apache-2.0
// net::HttpClient (keep-alive pool, deadlines, size bound, TLS against a real openssl
// s_server) and the retrying decorator (against a scripted fake, and over real sockets).
// Loopback only.
#include "net/http_client.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/http_server.h"
#include "net/retrying_http_client.h"
#include "support/process.h"
#include "support/temp_repo.h"

extern char** environ;

namespace galley::net {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::unique_ptr<HttpServer> Serve(HttpHandler h, uint16_t port = 0) {
  HttpServerOptions opts;
  opts.port = port;
  auto s = HttpServer::Start(opts, std::move(h));
  EXPECT_TRUE(s.ok()) << s.status().message();
  return s.ok() ? std::move(s).value() : nullptr;
}

std::string Base(const HttpServer& s) { return "http://127.0.0.1:" + std::to_string(s.port()); }

// Remembers the client side (address:port) of every request, i.e. which connection carried it.
class ConnectionLog {
 public:
  void Add(const HttpRequest& r) {
    std::lock_guard<std::mutex> lock(mu_);
    remotes_.insert(r.remote_address);
    ++requests_;
  }
  size_t connections() {
    std::lock_guard<std::mutex> lock(mu_);
    return remotes_.size();
  }
  int requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  std::mutex mu_;
  std::set<std::string> remotes_;
  int requests_ = 0;
};

// A bare TCP listener on 127.0.0.1 whose connections each run `on_connection(fd)` on their
// own thread, for answers HttpServer will not give ("Connection: close" on HTTP/1.1).
class RawServer {
 public:
  explicit RawServer(std::function<void(int)> on_connection)
      : on_connection_(std::move(on_connection)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(::listen(listen_fd_, 16), 0);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~RawServer() {
    stop_ = true;
    acceptor_.join();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : threads_) t.join();
    for (int fd : fds_) ::close(fd);
    ::close(listen_fd_);
  }
  uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }

 private:
  void AcceptLoop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++accepted_;
      std::lock_guard<std::mutex> lock(mu_);
      fds_.push_back(fd);
      threads_.emplace_back([this, fd] { on_connection_(fd); });
    }
  }

  std::function<void(int)> on_connection_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
};

// Reads one request head (our test requests carry no body); false at EOF.
bool ReadRequestHead(int fd) {
  std::string data;
  char buf[1024];
  while (data.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    data.append(buf, static_cast<size_t>(n));
  }
  return true;
}

void WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// ---------------------------------------------------------------------------------------
// Keep-alive pool.

TEST(HttpClientPoolTest, SequentialRequestsShareOneConnection) {
  ConnectionLog log;
  auto server = Serve([&](const HttpRequest& r) {
    log.Add(r);
    return HttpResponse::Text(200, r.path + " " + r.Header("User-Agent") + " " + r.Header("Host"));
  });
  auto client = NewHttpClient();
  for (int i = 0; i < 20; ++i) {
    auto resp = client->Send({"GET", Base(*server) + "/n" + std::to_string(i)});
    ASSERT_TRUE(resp.ok()) << resp.status().message();
    EXPECT_EQ(resp->body, "/n" + std::to_string(i) + " galley/" GALLEY_VERSION " 127.0.0.1:" +
                              std::to_string(server->port()));
  }
  EXPECT_EQ(log.requests(), 20);
  EXPECT_EQ(log.connections(), 1u);
}

TEST(HttpClientPoolTest, ConcurrentRequestsAllSucceedOnABoundedSetOfConnections) {
  ConnectionLog log;
  auto server = Serve([&](const HttpRequest& r) {
    log.Add(r);
    return HttpResponse::Text(200, r.Query("t").value_or("") + "/" + r.Query("i").value_or(""));
  });
  HttpClientOptions opts;  // max_idle_per_host 8
  auto client = NewHttpClient(opts);
  constexpr int kThreads = 8, kRequests = 20;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRequests; ++i) {
        std::string want = std::to_string(t) + "/" + std::to_string(i);
        auto resp = client->Send(
            {"GET", Base(*server) + "/?t=" + std::to_string(t) + "&i=" + std::to_string(i)});
        if (resp.ok() && resp->status == 200 && resp->body == want) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kRequests);
  EXPECT_EQ(log.requests(), kThreads * kRequests);
  // A connection is opened only when none is idle, so with a pool as large as the number of
  // threads nothing is ever evicted and each thread's connection is reused.
  EXPECT_LE(log.connections(), opts.max_idle_per_host + kThreads);
  EXPECT_LE(log.connections(), static_cast<size_t>(kThreads));
}

TEST(HttpClientPoolTest, ZeroIdleDisablesReuseAndAsksTheServerToClose) {
  ConnectionLog log;
  std::atomic<int> close_asked{0};
  auto server = Serve([&](const HttpRequest& r) {
    log.Add(r);
    if (r.Header("Connection") == "close") ++close_asked;
    return HttpResponse::Text(200, "ok");
  });
  HttpClientOptions opts;
  opts.max_idle_per_host = 0;
  auto client = NewHttpClient(opts);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client->Send({"GET", Base(*server) + "/"}).ok());
  EXPECT_EQ(log.connections(), 3u);
  EXPECT_EQ(close_asked.load(), 3);
}

TEST(HttpClientPoolTest, HonoursConnectionCloseInAnswers) {
  // The server keeps its end open after "Connection: close"; the client must not reuse it.
  RawServer raw([](int fd) {
    while (ReadRequestHead(fd))
      WriteAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  });
  auto client = NewHttpClient();
  for (int i = 0; i < 3; ++i) {
    auto resp = client->Send({"GET", "http://127.0.0.1:" + std::to_string(raw.port()) + "/"});
    ASSERT_TRUE(resp.ok()) << resp.status().message();
    EXPECT_EQ(resp->body, "ok");
  }
  EXPECT_EQ(raw.accepted(), 3);
}

TEST(HttpClientPoolTest, ParsesChunkedSplitAndHeadAnswersAndKeepsTheConnection) {
  auto pause = [] { std::this_thread::sleep_for(milliseconds(10)); };
  RawServer raw([&](int fd) {
    std::string head;
    char buf[1024];
    for (;;) {
      head.clear();
      while (head.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return;
        head.append(buf, static_cast<size_t>(n));
      }
      if (head.rfind("HEAD ", 0) == 0) {
        WriteAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");  // no body follows
        continue;
      }
      WriteAll(fd, "HTTP/1.1 200 OK\r\nTransfer-Enc");
      pause();
      WriteAll(fd, "oding: chunked\r\nX-Rep: a\r\nX-Rep: b\r\n\r\n5\r\nhel");
      pause();
      WriteAll(fd, "lo\r\n6\r\n world\r\n");
      pause();
      WriteAll(fd, "0\r\n\r\n");
    }
  });
  auto client = NewHttpClient();
  std::string base = "http://127.0.0.1:" + std::to_string(raw.port());
  for (const char* method : {"GET", "HEAD", "GET"}) {
    auto resp = client->Send({method, base + "/"});
    ASSERT_TRUE(resp.ok()) << resp.status().message();
    EXPECT_EQ(resp->status, 200);
    if (std::string(method) == "GET") {
      EXPECT_EQ(resp->body, "hello world");
      EXPECT_EQ(resp->Header("x-rep"), "a, b");
    } else {
      EXPECT_EQ(resp->body, "");
      EXPECT_EQ(resp->Header("Content-Length"), "5");
    }
  }
  EXPECT_EQ(raw.accepted(), 1);
}

TEST(HttpClientPoolTest, RetriesOnceOnAFreshConnectionWhenAReusedOneDiesBeforeAnswering) {
  // Request 2 arrives on the pooled connection and is dropped unanswered — as when a server
  // closes an idle connection just as a request goes out. The client repeats it once, on a
  // new connection, whatever the method: nothing was answered.
  ConnectionLog log;
  std::atomic<int> calls{0};
  auto server = Serve([&](const HttpRequest& r) {
    log.Add(r);
    HttpResponse resp = HttpResponse::Text(200, r.method + " call " + std::to_string(++calls));
    if (calls.load() == 2) resp.drop_connection = true;
    return resp;
  });
  auto client = NewHttpClient();
  ASSERT_TRUE(client->Send({"GET", Base(*server) + "/"}).ok());
  ClientRequest post{"POST", Base(*server) + "/"};
  post.body = "{}";
  auto resp = client->Send(post);
  ASSERT_TRUE(resp.ok()) << resp.status().message();
  EXPECT_EQ(resp->body, "POST call 3");
  EXPECT_EQ(log.connections(), 2u);
}

TEST(HttpClientPoolTest, ADropOnAFreshConnectionIsAnErrorNotARetry) {
  std::atomic<int> calls{0};
  auto server = Serve([&](const HttpRequest&) {
    ++calls;
    HttpResponse r;
    r.drop_connection = true;
    return r;
  });
  auto resp = NewHttpClient()->Send({"GET", Base(*server) + "/x"});
  ASSERT_FALSE(resp.ok());
  EXPECT_EQ(resp.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(resp.status().message(),
            "GET " + Base(*server) + "/x: connection closed by the server without an answer");
  EXPECT_EQ(calls.load(), 1);
}

TEST(HttpClientPoolTest, DiscardsIdleConnectionsAServerClosedAndReconnects) {
  auto first = Serve([](const HttpRequest&) { return HttpResponse::Text(200, "first"); });
  uint16_t port = first->port();
  auto client = NewHttpClient();
  ASSERT_EQ(client->Send({"GET", Base(*first) + "/"}).value().body, "first");
  first->Stop();  // closes the pooled connection from the server's side
  first.reset();
  auto second = Serve([](const HttpRequest&) { return HttpResponse::Text(200, "second"); }, port);
  ASSERT_NE(second, nullptr);
  auto resp = client->Send({"GET", Base(*second) + "/"});
  ASSERT_TRUE(resp.ok()) << resp.status().message();
  EXPECT_EQ(resp->body, "second");
  EXPECT_EQ(second->requests_served(), 1u);
}

// ---------------------------------------------------------------------------------------
// Deadlines, refusals, size bound.

TEST(HttpClientErrorsTest, TimesOutOnASilentHandlerAndDoesNotRetryOnAReusedConnection) {
  std::atomic<bool> release{false};
  std::atomic<int> calls{0};
  auto server = Serve([&](const HttpRequest& r) {
    ++calls;
    if (r.path == "/slow") {
      while (!release.load()) std::this_thread::sleep_for(milliseconds(5));
    }
    return HttpResponse::Text(200, "");
  });
  auto client = NewHttpClient();
  ASSERT_TRUE(client->Send({"GET", Base(*server) + "/fast"}).ok());
  ClientRequest req{"GET", Base(*server) + "/slow"};
  req.timeout = milliseconds(200);
  auto start = Clock::now();
  SendFailure failure;
  auto resp = client->SendDetailed(req, &failure);
  auto took = Clock::now() - start;
  release = true;
  ASSERT_FALSE(resp.ok());
  EXPECT_EQ(resp.status().code(), StatusCode::kTimeout);
  EXPECT_EQ(resp.status().message(), "GET " + Base(*server) + "/slow: no answer within 200 ms");
  EXPECT_TRUE(failure.request_may_have_been_sent);
  EXPECT_GE(took, milliseconds(190));
  EXPECT_LT(took, milliseconds(20000));  // without the deadline it would wait forever
  EXPECT_EQ(calls.load(), 2);
}

TEST(HttpClientErrorsTest, AResolverThatDoesNotAnswerIsBoundedByTheDeadlines) {
  // A resolver that hangs until released (a DNS server that never answers).
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool open = false;
    std::atomic<int> calls{0};
  };
  auto gate = std::make_shared<Gate>();
  HttpClientOptions o;
  o.connect_timeout = milliseconds(200);
  o.resolve = [gate](const std::string&) -> Result<std::vector<std::string>> {
    ++gate->calls;
    std::unique_lock<std::mutex> lk(gate->mu);
    gate->cv.wait(lk, [&] { return gate->open; });
    return Status::Unavailable("gave up");
  };
  auto client = NewHttpClient(o);
  ClientRequest req{"GET", "http://consul.example:8500/v1/status/leader"};
  req.timeout = milliseconds(5000);
  auto t0 = Clock::now();
  SendFailure failure;
  auto r = client->SendDetailed(req, &failure);
  auto took = Clock::now() - t0;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(),
            "GET http://consul.example:8500/v1/status/leader: cannot resolve consul.example within "
            "200 ms");
  EXPECT_FALSE(failure.request_may_have_been_sent);
  EXPECT_LT(took, milliseconds(3000));
  // The request's own deadline binds when it is the shorter one.
  req.timeout = milliseconds(100);
  r = client->Send(req);
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout) << r.status().message();
  EXPECT_EQ(gate->calls.load(), 2);
  {
    std::lock_guard<std::mutex> lk(gate->mu);
    gate->open = true;
  }
  gate->cv.notify_all();

  // An answer in time is used; an IP literal is never resolved.
  auto server = Serve([](const HttpRequest&) { return HttpResponse{200, {}, "ok"}; });
  ASSERT_TRUE(server);
  o.resolve = [](const std::string& host) -> Result<std::vector<std::string>> {
    if (host != "sandbox.test") return Status::Unavailable("unknown host " + host);
    return std::vector<std::string>{"127.0.0.1"};
  };
  auto resolving = NewHttpClient(o);
  auto ok = resolving->Send(
      ClientRequest{"GET", "http://sandbox.test:" + std::to_string(server->port()) + "/"});
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->body, "ok");
  auto unknown = resolving->Send(ClientRequest{"GET", "http://nowhere.test:1/"});
  EXPECT_EQ(unknown.status().message(),
            "GET http://nowhere.test:1/: cannot resolve nowhere.test: unknown host nowhere.test");
}

TEST(HttpClientErrorsTest, ReportsARefusedConnectionAsNotSent) {
  uint16_t port;
  {
    auto server = Serve([](const HttpRequest&) { return HttpResponse::Text(200, ""); });
    port = server->port();
  }
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/v2/apps";
  SendFailure failure;
  auto resp = NewHttpClient()->SendDetailed({"POST", url}, &failure);
  ASSERT_FALSE(resp.ok());
  EXPECT_EQ(resp.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(resp.status().message(), "POST " + url + ": connection refused");
  EXPECT_FALSE(failure.request_may_have_been_sent);
  EXPECT_FALSE(failure.permanent);
}

TEST(HttpClientErrorsTest, BoundsConnectByConnectTimeout) {
  // A listener whose accept queue is full drops further SYNs, so connect hangs.
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(::listen(lfd, 0), 0);
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {  // fill the accept queue (non-blocking connects)
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), len);
    fillers.push_back(fd);
  }
  std::this_thread::sleep_for(milliseconds(50));
  HttpClientOptions opts;
  opts.connect_timeout = milliseconds(300);
  std::string url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/";
  ClientRequest req{"GET", url};
  req.timeout = milliseconds(60000);  // far beyond the bound below: only connect_timeout can end it
  auto start = Clock::now();
  SendFailure failure;
  auto resp = NewHttpClient(opts)->SendDetailed(req, &failure);
  auto took = Clock::now() - start;
  for (int fd : fillers) ::close(fd);
  ::close(lfd);
  ASSERT_FALSE(resp.ok());
  EXPECT_EQ(resp.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(resp.status().message(), "GET " + url + ": cannot connect within 300 ms");
  EXPECT_FALSE(failure.request_may_have_been_sent);
  EXPECT_GE(took, milliseconds(290));
  EXPECT_LT(took, milliseconds(30000));  // generous for sanitizers on a loaded machine
}

TEST(HttpClientErrorsTest, BoundsTheAnswerSize) {
  auto server = Serve([](const HttpRequest& r) {
    return HttpResponse::Text(200, std::string(r.path == "/big" ? 10000 : 1000, 'x'));
  });
  auto client = NewHttpClient();
  ClientRequest req{"GET", Base(*server) + "/big"};
  req.max_response_bytes = 1000;
  SendFailure failure;
  auto resp = client->SendDetailed(req, &failure);
  ASSERT_FALSE(resp.ok());
  EXPECT_EQ(resp.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(resp.status().message(),
            "GET " + Base(*server) + "/big: answer larger than max_response_bytes (1000 bytes)");
  EXPECT_TRUE(failure.permanent);
  req.url = Base(*server) + "/exact";
  auto exact = client->Send(req);
  ASSERT_TRUE(exact.ok()) << exact.status().message();
  EXPECT_EQ(exact->body.size(), 1000u);
}

TEST(HttpClientErrorsTest, RejectsBadUrlsAndHeaderInjectionWithoutSending) {
  std::atomic<int> calls{0};
  auto server = Serve([&](const HttpRequest&) {
    ++calls;
    return HttpResponse::Text(200, "");
  });
  auto client = NewHttpClient();
  SendFailure failure;
  auto resp = client->SendDetailed({"GET", "ftp://127.0.0.1/"}, &failure);
  ASSERT_FALSE(resp.ok());
  EXPECT_EQ(resp.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(failure.request_may_have_been_sent);

  ClientRequest smuggle{"GET", Base(*server) + "/"};
  smuggle.headers["X-Token"] = "abc\r\nX-Admin: yes";
  auto bad_header = client->Send(smuggle);
  ASSERT_FALSE(bad_header.ok());
  EXPECT_EQ(bad_header.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(bad_header.status().message(), "header X-Token has a line break"))
      << bad_header.status().message();
  auto space = client->Send({"GET", Base(*server) + "/a b HTTP/1.1\r\nX: y"});
  EXPECT_EQ(space.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(calls.load(), 0);
}

// ---------------------------------------------------------------------------------------
// Streaming (HttpClient::Stream): the head first, then body pieces as they arrive.

// Reads one request head and returns it ("" at EOF).
std::string ReadHead(int fd) {
  std::string data;
  char buf[1024];
  while (data.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return "";
    data.append(buf, static_cast<size_t>(n));
  }
  return data;
}

// Collects what a stream delivers.
struct StreamLog {
  std::mutex mu;
  int status = 0;
  Headers headers;
  std::string body;
  std::vector<std::string> pieces;
  StreamCallbacks Callbacks() {
    StreamCallbacks cb;
    cb.on_head = [this](const ClientResponse& head) {
      std::lock_guard<std::mutex> lock(mu);
      status = head.status;
      headers = head.headers;
      return true;
    };
    cb.on_data = [this](std::string_view data) {
      std::lock_guard<std::mutex> lock(mu);
      body.append(data);
      pieces.emplace_back(data);
      return true;
    };
    return cb;
  }
};

TEST(HttpClientStreamTest, DeliversACloseDelimitedBodyPieceByPieceAsItArrives) {
  std::string request_head;
  std::mutex mu;
  std::condition_variable cv;
  int acks = 0;  // pieces the client has seen; the server waits for each before the next
  RawServer raw([&](int fd) {
    {
      std::string h = ReadHead(fd);
      std::lock_guard<std::mutex> lock(mu);
      request_head = h;
    }
    WriteAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n");
    for (int i = 0; i < 3; ++i) {
      WriteAll(fd, "event: e\r\ndata: " + std::to_string(i) + "\r\n\r\n");
      std::unique_lock<std::mutex> lock(mu);
      cv.wait_for(lock, std::chrono::seconds(30), [&] { return acks > i; });
    }
    ::shutdown(fd, SHUT_WR);
  });
  StreamLog log;
  StreamCallbacks cb = log.Callbacks();
  auto base_on_data = cb.on_data;
  cb.on_data = [&](std::string_view d) {
    base_on_data(d);
    std::lock_guard<std::mutex> lock(mu);
    ++acks;
    cv.notify_all();
    return true;
  };
  ClientRequest req{"GET", "http://127.0.0.1:" + std::to_string(raw.port()) + "/v2/events?x=1"};
  req.headers["Accept"] = "text/event-stream";
  Status s = NewHttpClient()->Stream(req, cb);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(log.status, 200);
  EXPECT_EQ(log.headers["content-type"], "text/event-stream");
  EXPECT_EQ(log.body,
            "event: e\r\ndata: 0\r\n\r\nevent: e\r\ndata: 1\r\n\r\nevent: e\r\ndata: 2\r\n\r\n");
  EXPECT_EQ(log.pieces.size(), 3u);  // each write arrived on its own, before the next was sent
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_TRUE(Contains(request_head, "GET /v2/events?x=1 HTTP/1.1\r\n")) << request_head;
  EXPECT_TRUE(Contains(request_head, "Accept: text/event-stream\r\n")) << request_head;
  EXPECT_TRUE(Contains(request_head, "Connection: close\r\n")) << request_head;
}

TEST(HttpClientStreamTest, DecodesAChunkedBodySplitAnywhere) {
  RawServer raw([&](int fd) {
    ReadHead(fd);
    auto pause = [] { std::this_thread::sleep_for(milliseconds(5)); };
    WriteAll(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
    pause();
    WriteAll(fd, "lo\r\n");
    pause();
    WriteAll(fd, "6\r");
    pause();
    WriteAll(fd, "\n world\r\n0\r\n\r\n");
    ReadHead(fd);  // the client closes; the server does not
  });
  StreamLog log;
  Status s = NewHttpClient()->Stream(
      {"GET", "http://127.0.0.1:" + std::to_string(raw.port()) + "/"}, log.Callbacks());
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(log.body, "hello world");
}

TEST(HttpClientStreamTest, AChunkedBodyCutInTheMiddleIsUnavailable) {
  RawServer raw([&](int fd) {
    ReadHead(fd);
    WriteAll(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
    ::shutdown(fd, SHUT_RDWR);
  });
  StreamLog log;
  std::string url = "http://127.0.0.1:" + std::to_string(raw.port()) + "/";
  Status s = NewHttpClient()->Stream({"GET", url}, log.Callbacks());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "GET " + url + ": connection closed in the middle of the answer");
  EXPECT_EQ(log.body, "hel");
}

TEST(HttpClientStreamTest, AnIdleBodyTimesOutAfterIdleTimeoutNotTheRequestTimeout) {
  std::atomic<bool> done{false};
  RawServer raw([&](int fd) {
    ReadHead(fd);
    WriteAll(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    // A byte every 100 ms for 600 ms (past the request's 300 ms timeout), then silence.
    for (int i = 0; i < 6 && !done; ++i) {
      WriteAll(fd, "\n");
      std::this_thread::sleep_for(milliseconds(100));
    }
    while (!done) std::this_thread::sleep_for(milliseconds(10));
  });
  StreamLog log;
  StreamCallbacks cb = log.Callbacks();
  cb.idle_timeout = milliseconds(300);
  ClientRequest req{"GET", "http://127.0.0.1:" + std::to_string(raw.port()) + "/"};
  req.timeout = milliseconds(300);
  auto start = Clock::now();
  Status s = NewHttpClient()->Stream(req, cb);
  auto took = Clock::now() - start;
  done = true;
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kTimeout);
  EXPECT_EQ(s.message(), "GET " + req.url + ": no data within 300 ms");
  EXPECT_EQ(log.body, "\n\n\n\n\n\n");
  EXPECT_GE(took, milliseconds(800));
}

TEST(HttpClientStreamTest, ANeverAnsweringServerTimesOutOnTheRequestTimeout) {
  std::atomic<bool> done{false};
  RawServer raw([&](int fd) {
    ReadHead(fd);
    while (!done) std::this_thread::sleep_for(milliseconds(10));
  });
  ClientRequest req{"GET", "http://127.0.0.1:" + std::to_string(raw.port()) + "/"};
  req.timeout = milliseconds(200);
  Status s = NewHttpClient()->Stream(req, {});
  done = true;
  EXPECT_EQ(s.code(), StatusCode::kTimeout);
  EXPECT_EQ(s.message(), "GET " + req.url + ": no answer within 200 ms");
}

TEST(HttpClientStreamTest, StopAndCallbacksEndTheStreamPromptly) {
  std::atomic<bool> done{false};
  RawServer raw([&](int fd) {
    ReadHead(fd);
    WriteAll(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nfirst");
    while (!done) std::this_thread::sleep_for(milliseconds(10));
  });
  std::string url = "http://127.0.0.1:" + std::to_string(raw.port()) + "/";
  auto client = NewHttpClient();
  {  // stop() turns true while the server is silent: OK well before the idle timeout
    std::atomic<bool> stop{false};
    StreamCallbacks cb;
    cb.on_data = [&](std::string_view) {
      stop = true;
      return true;
    };
    cb.stop = [&] { return stop.load(); };
    cb.idle_timeout = std::chrono::seconds(30);
    auto start = Clock::now();
    Status s = client->Stream({"GET", url}, cb);
    EXPECT_TRUE(s.ok()) << s.message();
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
  }
  {  // on_data returning false
    StreamCallbacks cb;
    int calls = 0;
    cb.on_data = [&](std::string_view) { return ++calls < 1; };
    EXPECT_TRUE(client->Stream({"GET", url}, cb).ok());
    EXPECT_EQ(calls, 1);
  }
  {  // on_head returning false: the body is never read; the status is what the caller saw
    StreamCallbacks cb;
    int status = 0;
    bool body = false;
    cb.on_head = [&](const ClientResponse& h) {
      status = h.status;
      return false;
    };
    cb.on_data = [&](std::string_view) { return body = true; };
    EXPECT_TRUE(client->Stream({"GET", url}, cb).ok());
    EXPECT_EQ(status, 200);
    EXPECT_FALSE(body);
  }
  done = true;
}

TEST(HttpClientStreamTest, StreamsARedirectOrErrorAnswerLikeAnyOther) {
  RawServer raw([&](int fd) {
    ReadHead(fd);
    WriteAll(fd,
             "HTTP/1.1 302 Found\r\nLocation: http://leader:8080/v2/events\r\nContent-Length: "
             "0\r\n\r\n");
    ReadHead(fd);
  });
  StreamLog log;
  Status s = NewHttpClient()->Stream(
      {"GET", "http://127.0.0.1:" + std::to_string(raw.port()) + "/v2/events"}, log.Callbacks());
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(log.status, 302);
  EXPECT_EQ(log.headers["Location"], "http://leader:8080/v2/events");
}

TEST(HttpClientStreamTest, RefusedAndBadRequestsFailAsSendDoes) {
  RawServer raw([](int) {});
  uint16_t port = raw.port();
  std::string url;
  {
    // A port nobody listens on: bind one and close it.
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/";
    ::close(fd);
  }
  Status refused = NewHttpClient()->Stream({"GET", url}, {});
  EXPECT_EQ(refused.code(), StatusCode::kUnavailable);
  EXPECT_EQ(refused.message(), "GET " + url + ": connection refused");
  ClientRequest bad{"GET", "http://127.0.0.1:" + std::to_string(port) + "/"};
  bad.headers["X-Evil"] = "a\r\nInjected: yes";
  Status s = NewHttpClient()->Stream(bad, {});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(raw.accepted(), 0);
}

// ---------------------------------------------------------------------------------------
// HTTPS against openssl s_server with a certificate made for 127.0.0.1.

class HttpsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (testing::FindProgram("openssl").empty()) return;
    dir_ = new testing::TempRepo();
    cert_ = dir_->Path("cert.pem");
    key_ = dir_->Path("key.pem");
    const std::string& key = key_;
    auto gen = testing::RunProcess({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                                    "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert_});
    if (gen.exit_code != 0) {
      error_ = "openssl req failed: " + gen.output;
      return;
    }
    // s_server prints "ACCEPT [::]:<port>" once it listens on the port it was given (0: any).
    std::string log = dir_->Path("s_server.log");
    std::vector<std::string> argv = {"openssl", "s_server", "-accept", "0",   "-cert",
                                     cert_,     "-key",     key,       "-www"};
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    int rc = posix_spawnp(&pid_, "openssl", &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      error_ = "cannot start openssl s_server";
      return;
    }
    for (int i = 0; i < 500 && port_ == 0; ++i) {
      std::string out = testing::ReadText(log);
      size_t at = out.find("ACCEPT ");
      size_t eol = at == std::string::npos ? std::string::npos : out.find('\n', at);
      if (eol != std::string::npos) {
        std::string line = out.substr(at, eol - at);
        port_ = static_cast<uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
        break;
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
    if (port_ == 0) error_ = "openssl s_server did not start: " + testing::ReadText(log);
  }

  static void TearDownTestSuite() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    delete dir_;
    dir_ = nullptr;
    port_ = 0;
    error_.clear();
  }

  void SetUp() override {
    ASSERT_FALSE(testing::FindProgram("openssl").empty())
        << "openssl is not installed: run ci/install-deps.sh";
    ASSERT_TRUE(error_.empty()) << error_;
  }

  static std::string Url(const std::string& host = "127.0.0.1") {
    return "https://" + host + ":" + std::to_string(port_) + "/";
  }

  static inline testing::TempRepo* dir_ = nullptr;
  static inline std::string cert_;
  static inline std::string key_;
  static inline std::string error_;
  static inline pid_t pid_ = -1;
  static inline uint16_t port_ = 0;
};

TEST_F(HttpsTest, VerifiesAgainstTheGivenCaFile) {
  HttpClientOptions opts;
  opts.ca_file = cert_;
  auto resp = NewHttpClient(opts)->Send({"GET", Url()});
  ASSERT_TRUE(resp.ok()) << resp.status().message();
  EXPECT_EQ(resp->status, 200);
  EXPECT_TRUE(Contains(resp->body, "s_server")) << resp->body;
}

TEST_F(HttpsTest, RejectsAnUntrustedCertificateWithTheDefaultStore) {
  SendFailure failure;
  auto resp = NewHttpClient()->SendDetailed({"GET", Url()}, &failure);
  ASSERT_FALSE(resp.ok());
  EXPECT_EQ(resp.status().code(), StatusCode::kUnavailable);
  const std::string& m = resp.status().message();
  EXPECT_TRUE(Contains(m, "GET " + Url() + ": TLS handshake failed: certificate verify failed: "))
      << m;
  EXPECT_TRUE(Contains(m, "self-signed certificate")) << m;
  EXPECT_TRUE(Contains(m, "CN=127.0.0.1")) << m;
  EXPECT_TRUE(failure.permanent);
  EXPECT_FALSE(failure.request_may_have_been_sent);
}

TEST_F(HttpsTest, RejectsACertificateForAnotherHost) {
  HttpClientOptions opts;
  opts.ca_file = cert_;
  auto resp = NewHttpClient(opts)->Send({"GET", Url("localhost")});
  ASSERT_FALSE(resp.ok());
  EXPECT_EQ(resp.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(resp.status().message(),
                       "certificate verify failed: the certificate (/CN=127.0.0.1) is not "
                       "valid for localhost"))
      << resp.status().message();
}

TEST_F(HttpsTest, SkipsVerificationOnlyWhenToldTo) {
  HttpClientOptions opts;
  opts.verify_tls = false;
  auto resp = NewHttpClient(opts)->Send({"GET", Url("localhost")});
  ASSERT_TRUE(resp.ok()) << resp.status().message();
  EXPECT_EQ(resp->status, 200);
}

TEST_F(HttpsTest, ReusesTlsConnectionsAndNoticesWhenTheServerClosesOne) {
  // A keep-alive TLS server (s_server -www closes after every answer): OpenSSL on a RawServer
  // connection. "/last" answers and then closes the connection with close_notify.
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  ASSERT_EQ(SSL_CTX_use_certificate_file(ctx, cert_.c_str(), SSL_FILETYPE_PEM), 1);
  ASSERT_EQ(SSL_CTX_use_PrivateKey_file(ctx, key_.c_str(), SSL_FILETYPE_PEM), 1);
  std::atomic<int> answered{0};
  {
    RawServer raw([ctx, &answered](int fd) {
      SSL* ssl = SSL_new(ctx);
      SSL_set_fd(ssl, fd);
      bool open = SSL_accept(ssl) == 1;
      std::string data;
      char buf[1024];
      while (open) {
        size_t end;
        while (open && (end = data.find("\r\n\r\n")) == std::string::npos) {
          int n = SSL_read(ssl, buf, sizeof buf);
          if (n <= 0) open = false;
          if (n > 0) data.append(buf, static_cast<size_t>(n));
        }
        if (!open) break;
        bool last = data.rfind("GET /last ", 0) == 0;
        data.erase(0, end + 4);
        std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        SSL_write(ssl, answer.data(), static_cast<int>(answer.size()));
        ++answered;
        if (last) {
          SSL_shutdown(ssl);
          ::shutdown(fd, SHUT_RDWR);
          open = false;
        }
      }
      SSL_free(ssl);
    });
    HttpClientOptions opts;
    opts.ca_file = cert_;
    auto client = NewHttpClient(opts);
    std::string base = "https://127.0.0.1:" + std::to_string(raw.port());
    for (int i = 0; i < 10; ++i) {
      auto resp = client->Send({"GET", base + "/n"});
      ASSERT_TRUE(resp.ok()) << resp.status().message();
      EXPECT_EQ(resp->body, "ok");
    }
    EXPECT_EQ(raw.accepted(), 1);
    ASSERT_TRUE(client->Send({"GET", base + "/last"}).ok());
    std::this_thread::sleep_for(milliseconds(50));  // close_notify and FIN arrive while idle
    auto after = client->Send({"GET", base + "/n"});
    ASSERT_TRUE(after.ok()) << after.status().message();
    EXPECT_EQ(raw.accepted(), 2);
    EXPECT_EQ(answered.load(), 12);
  }
  SSL_CTX_free(ctx);
}

TEST_F(HttpsTest, StreamsOverTls) {
  // A TLS server that answers with a close-delimited body in three writes, pausing between
  // them, then closes with close_notify.
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  ASSERT_EQ(SSL_CTX_use_certificate_file(ctx, cert_.c_str(), SSL_FILETYPE_PEM), 1);
  ASSERT_EQ(SSL_CTX_use_PrivateKey_file(ctx, key_.c_str(), SSL_FILETYPE_PEM), 1);
  {
    RawServer raw([ctx](int fd) {
      SSL* ssl = SSL_new(ctx);
      SSL_set_fd(ssl, fd);
      if (SSL_accept(ssl) == 1) {
        std::string data;
        char buf[1024];
        while (data.find("\r\n\r\n") == std::string::npos) {
          int n = SSL_read(ssl, buf, sizeof buf);
          if (n <= 0) break;
          data.append(buf, static_cast<size_t>(n));
        }
        for (std::string part : {std::string("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nev"),
                                 std::string("ent: a\n"), std::string("data: {}\n\n")}) {
          SSL_write(ssl, part.data(), static_cast<int>(part.size()));
          std::this_thread::sleep_for(milliseconds(20));
        }
        SSL_shutdown(ssl);
      }
      ::shutdown(fd, SHUT_RDWR);
      SSL_free(ssl);
    });
    HttpClientOptions opts;
    opts.ca_file = cert_;
    StreamLog log;
    Status s = NewHttpClient(opts)->Stream(
        {"GET", "https://127.0.0.1:" + std::to_string(raw.port()) + "/v2/events"}, log.Callbacks());
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(log.status, 200);
    EXPECT_EQ(log.body, "event: a\ndata: {}\n\n");
    EXPECT_GE(log.pieces.size(), 2u);
  }
  SSL_CTX_free(ctx);
}

TEST_F(HttpsTest, ReportsAnUnreadableCaFile) {
  HttpClientOptions opts;
  opts.ca_file = dir_->Path("missing.pem");
  auto resp = NewHttpClient(opts)->Send({"GET", Url()});
  ASSERT_FALSE(resp.ok());
  EXPECT_EQ(resp.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(resp.status().message(), "cannot load CA file " + opts.ca_file))
      << resp.status().message();
}

// ---------------------------------------------------------------------------------------
// Retrying decorator against a scripted inner client.

struct Step {
  Result<ClientResponse> result;
  SendFailure failure;
};

Step Answer(int status, Headers headers = {}) {
  ClientResponse r;
  r.status = status;
  r.headers = std::move(headers);
  return {r, {}};
}
Step Fail(Status s, bool sent = true, bool permanent = false) {
  return {std::move(s), {sent, permanent}};
}

class ScriptedClient : public HttpClient {
 public:
  explicit ScriptedClient(std::vector<Step> steps) : steps_(steps.begin(), steps.end()) {}
  Result<ClientResponse> Send(const ClientRequest& r) override { return SendDetailed(r, nullptr); }
  Result<ClientResponse> SendDetailed(const ClientRequest&, SendFailure* failure) override {
    ++calls;
    if (steps_.empty()) return Status::Internal("script exhausted");
    Step s = steps_.front();
    if (steps_.size() > 1) steps_.pop_front();  // the last step repeats
    if (failure) *failure = s.failure;
    return s.result;
  }
  int calls = 0;

 private:
  std::deque<Step> steps_;
};

struct Harness {
  explicit Harness(std::vector<Step> steps, RetryPolicy policy = NoJitter())
      : inner(std::move(steps)) {
    client = NewRetryingHttpClient(&inner, policy,
                                   [this](milliseconds d) { sleeps.push_back(d.count()); });
  }
  static RetryPolicy NoJitter() {
    RetryPolicy p;
    p.jitter = false;
    return p;
  }
  ScriptedClient inner;
  std::vector<int64_t> sleeps;
  std::unique_ptr<HttpClient> client;
};

const Status kRefused = Status::Unavailable("POST http://m:8080/v2/apps: connection refused");
const Status kReset =
    Status::Unavailable("POST http://m:8080/v2/apps: connection reset by the server");

TEST(RetryingHttpClientTest, RetriesAGetOn503ThenSucceeds) {
  Harness h({Answer(503), Answer(503), Answer(200)});
  auto resp = h.client->Send({"GET", "http://m:8080/v2/apps"});
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->status, 200);
  EXPECT_EQ(h.inner.calls, 3);
  EXPECT_EQ(h.sleeps, (std::vector<int64_t>{200, 400}));
}

TEST(RetryingHttpClientTest, RetriesEachRetryableStatusAndTransportError) {
  for (int status : {429, 502, 504}) {
    Harness h({Answer(status), Answer(200)});
    EXPECT_EQ(h.client->Send({"GET", "http://m/"}).value().status, 200) << status;
    EXPECT_EQ(h.inner.calls, 2) << status;
  }
  for (const Status& s : {Status::Unavailable("GET http://m/: connection reset by the server"),
                          Status::Timeout("GET http://m/: no answer within 10 ms")}) {
    Harness h({Fail(s), Answer(200)});
    EXPECT_EQ(h.client->Send({"GET", "http://m/"}).value().status, 200) << s.message();
  }
  Harness not_found({Answer(404), Answer(200)});
  EXPECT_EQ(not_found.client->Send({"GET", "http://m/"}).value().status, 404);
  EXPECT_EQ(not_found.inner.calls, 1);
}

TEST(RetryingHttpClientTest, NeverRepeatsAPostTheServerMayHaveSeen) {
  Harness on_status({Answer(503), Answer(200)});
  auto resp = on_status.client->Send({"POST", "http://m:8080/v2/apps"});
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->status, 503);
  EXPECT_EQ(on_status.inner.calls, 1);
  EXPECT_TRUE(on_status.sleeps.empty());

  Harness on_reset({Fail(kReset, /*sent=*/true), Answer(200)});
  auto reset = on_reset.client->Send({"POST", "http://m:8080/v2/apps"});
  ASSERT_FALSE(reset.ok());
  EXPECT_EQ(reset.status().message(), kReset.message());  // no "(after ...)": one attempt
  EXPECT_EQ(on_reset.inner.calls, 1);
}

TEST(RetryingHttpClientTest, RepeatsAPostWhoseConnectionWasRefused) {
  // Refused: no byte reached the server, so sending it again cannot make it happen twice.
  Harness h({Fail(kRefused, /*sent=*/false), Answer(201)});
  auto resp = h.client->Send({"POST", "http://m:8080/v2/apps"});
  ASSERT_TRUE(resp.ok()) << resp.status().message();
  EXPECT_EQ(resp->status, 201);
  EXPECT_EQ(h.inner.calls, 2);
}

TEST(RetryingHttpClientTest, RetriesAPutTheCallerMarksIdempotent) {
  Harness h({Answer(503), Answer(200)});
  ClientRequest req{"PUT", "http://m:8080/v2/apps/x?partialUpdate=false"};
  req.idempotent = true;
  EXPECT_EQ(h.client->Send(req).value().status, 200);
  EXPECT_EQ(h.inner.calls, 2);
  ClientRequest get{"GET", "http://m/"};
  get.idempotent = false;
  EXPECT_FALSE(IsIdempotent(get));
  EXPECT_TRUE(IsIdempotent({"HEAD", "http://m/"}));
  EXPECT_FALSE(IsIdempotent({"DELETE", "http://m/"}));
}

TEST(RetryingHttpClientTest, StopsAfterMaxAttemptsAndSaysSo) {
  Harness h({Fail(Status::Unavailable("GET http://m/: connection refused"), false)});
  auto resp = h.client->Send({"GET", "http://m/"});
  ASSERT_FALSE(resp.ok());
  EXPECT_EQ(resp.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(resp.status().message(), "GET http://m/: connection refused (after 4 attempts)");
  EXPECT_EQ(h.inner.calls, 4);
  EXPECT_EQ(h.sleeps.size(), 3u);

  Harness timeouts({Fail(Status::Timeout("GET http://m/: no answer within 5 ms"))});
  auto t = timeouts.client->Send({"GET", "http://m/"});
  EXPECT_EQ(t.status().code(), StatusCode::kTimeout);
  EXPECT_EQ(t.status().message(), "GET http://m/: no answer within 5 ms (after 4 attempts)");

  Harness last_503({Answer(503)});
  EXPECT_EQ(last_503.client->Send({"GET", "http://m/"}).value().status,
            503);  // the answer, as it is
  EXPECT_EQ(last_503.inner.calls, 4);
}

TEST(RetryingHttpClientTest, StopsWhenTheNextSleepWouldPassTheTotalBudget) {
  RetryPolicy p = Harness::NoJitter();
  p.max_attempts = 10;
  p.initial_backoff = milliseconds(400);
  p.max_total = milliseconds(1000);
  Harness h({Fail(Status::Unavailable("GET http://m/: connection refused"), false)}, p);
  auto resp = h.client->Send({"GET", "http://m/"});
  ASSERT_FALSE(resp.ok());
  EXPECT_EQ(h.sleeps, (std::vector<int64_t>{400}));  // 400 + 800 would pass 1000
  EXPECT_EQ(h.inner.calls, 2);
  EXPECT_EQ(resp.status().message(),
            "GET http://m/: connection refused (after 2 attempts; the next retry would pass the "
            "1000 ms budget)");
}

TEST(RetryingHttpClientTest, HonoursRetryAfterUpToItsCap) {
  Harness h({Answer(429, {{"Retry-After", "2"}}), Answer(503, {{"Retry-After", "60"}}),
             Answer(503, {{"Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"}}), Answer(200)});
  auto resp = h.client->Send({"GET", "http://m/"});
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->status, 200);
  // 2 s as asked; 60 s capped at max_retry_after (10 s); a date falls back to the backoff.
  EXPECT_EQ(h.sleeps, (std::vector<int64_t>{2000, 10000, 800}));
}

TEST(RetryingHttpClientTest, BackoffGrowsToItsCapWithJitterInsideTheBounds) {
  RetryPolicy p = Harness::NoJitter();
  p.max_attempts = 7;
  p.initial_backoff = milliseconds(100);
  p.max_backoff = milliseconds(1000);
  p.max_total = milliseconds(60000);
  Harness plain({Answer(503)}, p);
  auto last = plain.client->Send({"GET", "http://m/"});
  ASSERT_TRUE(last.ok()) << last.status().message();
  EXPECT_EQ(last->status, 503);  // the last answer, as it is, after every attempt
  EXPECT_EQ(plain.sleeps, (std::vector<int64_t>{100, 200, 400, 800, 1000, 1000}));

  p.jitter = true;
  Harness jittered({Answer(503)}, p);
  EXPECT_EQ(jittered.client->Send({"GET", "http://m/"}).value().status, 503);
  ASSERT_EQ(jittered.sleeps.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_GE(jittered.sleeps[i], plain.sleeps[i] / 2) << i;
    EXPECT_LE(jittered.sleeps[i], plain.sleeps[i]) << i;
  }
}

TEST(RetryingHttpClientTest, ReturnsPermanentFailuresAtOnce) {
  Harness h({Fail(
      Status::Unavailable("GET https://m/: TLS handshake failed: certificate verify failed: x"),
      false,
      /*permanent=*/true)});
  EXPECT_FALSE(h.client->Send({"GET", "https://m/"}).ok());
  EXPECT_EQ(h.inner.calls, 1);
  Harness bad_url({Fail(Status::InvalidArgument("not a URL"), false)});
  EXPECT_FALSE(bad_url.client->Send({"GET", "x"}).ok());
  EXPECT_EQ(bad_url.inner.calls, 1);
}

// Over real sockets: the Beast client's failure report drives the decorator.
TEST(RetryingHttpClientTest, OverRealSocketsRetriesRefusedPostsButNot503s) {
  uint16_t port;
  {
    auto gone = Serve([](const HttpRequest&) { return HttpResponse::Text(200, ""); });
    port = gone->port();
  }
  auto inner = NewHttpClient();
  std::vector<int64_t> sleeps;
  RetryPolicy p;
  p.initial_backoff = milliseconds(1);
  auto client =
      NewRetryingHttpClient(inner.get(), p, [&](milliseconds d) { sleeps.push_back(d.count()); });
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/v2/apps";
  auto refused = client->Send({"POST", url});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(), "POST " + url + ": connection refused (after 4 attempts)");
  EXPECT_EQ(sleeps.size(), 3u);

  std::atomic<int> calls{0};
  auto busy = Serve([&](const HttpRequest&) {
    ++calls;
    return HttpResponse::Text(503, "busy");
  });
  auto once = client->Send({"POST", Base(*busy) + "/v2/apps"});
  ASSERT_TRUE(once.ok());
  EXPECT_EQ(once->status, 503);
  EXPECT_EQ(calls.load(), 1);
  auto get = client->Send({"GET", Base(*busy) + "/v2/apps"});
  EXPECT_EQ(get->status, 503);
  EXPECT_EQ(calls.load(), 5);
}

}  // namespace
}  // namespace galley::net

namespace galley::net {
namespace {

TEST(RetryingHttpClientTest, StreamGoesToTheInnerClientOnceAndFakesWithoutStreamingSaySo) {
  ScriptedClient inner({Answer(200)});
  auto client = NewRetryingHttpClient(&inner);
  Status s = client->Stream({"GET", "http://m:8080/v2/events"}, {});
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_EQ(s.message(), "GET http://m:8080/v2/events: this HTTP client cannot stream answers");
  EXPECT_EQ(inner.calls, 0);
}

}  // namespace
}  // namespace galley::net
