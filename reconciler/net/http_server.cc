// SPDX-License-Identifier: Apache-2.0
#include "net/http_server.h"

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <malloc.h>

namespace galley::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// Bodies up to this size are not charged to the in-flight budget (small requests always pass).
constexpr size_t kSmallBody = 64 * 1024;
// After a request whose body was at least this large, freed memory goes back to the OS.
constexpr size_t kTrimAfterBytes = 1u << 20;
constexpr size_t kHeaderLimit = 64 * 1024;
constexpr size_t kBodyReadChunk = 64 * 1024;
constexpr size_t kIdleBufferBytes =
    8 * 1024;  // a connection's read buffer between requests, at most
// Connections answered 503 (or 413) that still drain what the client sends, at most.
constexpr size_t kMaxLingering = 64;
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr auto kWorkerIdleExit = std::chrono::seconds(5);

// Handler threads: created on demand, reused while busy periods last, exiting after
// kWorkerIdleExit without work. There is at most one request per connection in a handler.
class WorkerPool {
 public:
  ~WorkerPool() { Stop(); }

  // False when the pool is stopped (the task is dropped).
  bool Submit(std::function<void()> task) {
    std::list<std::thread> exited;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return false;
      exited.splice(exited.end(), exited_);
      queue_.push_back(std::move(task));
      if (idle_ >= queue_.size()) {
        cv_.notify_one();
      } else {
        threads_.emplace_back();
        auto self = std::prev(threads_.end());
        *self = std::thread([this, self] { Loop(self); });
        alive_.fetch_add(1);
      }
    }
    for (auto& t : exited) t.join();
    return true;
  }

  // Runs what is queued, then joins every thread.
  void Stop() {
    std::list<std::thread> all;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      all.splice(all.end(), threads_);
      all.splice(all.end(), exited_);
    }
    cv_.notify_all();
    for (auto& t : all) {
      if (t.joinable()) t.join();
    }
  }

  size_t alive() const { return alive_.load(); }

 private:
  void Loop(std::list<std::thread>::iterator self) {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      while (queue_.empty() && !stop_) {
        ++idle_;
        bool woke = cv_.wait_for(lock, kWorkerIdleExit, [&] { return !queue_.empty() || stop_; });
        --idle_;
        if (!woke) {
          // Idle too long: leave; the next Submit (or Stop) joins this thread.
          exited_.splice(exited_.end(), threads_, self);
          alive_.fetch_sub(1);
          return;
        }
      }
      if (queue_.empty()) break;  // stopping and nothing left
      std::function<void()> task = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      task();
      task = nullptr;
      lock.lock();
    }
    alive_.fetch_sub(1);
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::list<std::thread> threads_;  // running Loop (iterators stay valid while spliced)
  std::list<std::thread> exited_;   // returned from Loop, not joined yet
  size_t idle_ = 0;
  bool stop_ = false;
  std::atomic<size_t> alive_{0};
};

// The bytes of large request bodies being read or handled, across connections.
class BodyBudget {
 public:
  explicit BodyBudget(size_t limit) : limit_(limit) {}
  bool TryTake(size_t n) {
    size_t cur = used_.load();
    do {
      if (n > limit_ || cur > limit_ - n) return false;
    } while (!used_.compare_exchange_weak(cur, cur + n));
    return true;
  }
  void Give(size_t n) { used_.fetch_sub(n); }

 private:
  const size_t limit_;
  std::atomic<size_t> used_{0};
};

// A share of the budget, given back when the last holder lets go.
struct Reservation {
  Reservation(BodyBudget* b, size_t n) : budget(b), bytes(n) {}
  ~Reservation() { budget->Give(bytes); }
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;
  BodyBudget* budget;
  size_t bytes;
};

enum class Phase { kHeader, kIdle, kBody, kHandling, kWriting, kStreaming };

// One accepted connection. Every member but peer_gone is touched on the I/O thread only.
struct Conn {
  Conn(uint64_t i, tcp::socket s) : id(i), stream(std::move(s)) {}
  uint64_t id;
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  std::optional<http::request_parser<http::string_body>> parser;
  Phase phase = Phase::kHeader;
  Clock::time_point idle_since;
  std::string remote;
  std::shared_ptr<Reservation> reservation;
  bool closed = false;
  std::array<char, 512> drain{};
  std::atomic<bool> peer_gone{false};  // set by the I/O thread while streaming
};
using ConnPtr = std::shared_ptr<Conn>;

// A connection being closed politely: an answer (503/413) goes out, then what the client
// still sends is read and dropped for a moment, so it sees the answer and not a reset.
struct Lingering {
  explicit Lingering(tcp::socket s) : stream(std::move(s)) {}
  beast::tcp_stream stream;
  std::string answer;
  std::array<char, 64 * 1024> drain{};
};

bool IsTimeout(const beast::error_code& ec) { return ec == beast::error::timeout; }

bool BodilessStatus(int status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

std::string SimpleAnswer(int status, std::string_view body, const std::string& server,
                         bool retry_after) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + ReasonPhrase(status) + "\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\n";
  if (!server.empty()) out += "Server: " + server + "\r\n";
  if (retry_after) out += "Retry-After: 1\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  out += body;
  return out;
}

class BeastServer;

// StreamWriter over a connection: each Write is carried out by the I/O thread under
// write_timeout while the handler thread waits for it.
class ConnWriter : public StreamWriter {
 public:
  ConnWriter(BeastServer* server, ConnPtr conn) : server_(server), conn_(std::move(conn)) {}
  bool Write(std::string_view data) override;
  bool Done() const override;

 private:
  BeastServer* server_;
  ConnPtr conn_;
  bool failed_ = false;
};

class BeastServer : public HttpServer {
 public:
  BeastServer(const HttpServerOptions& options, HttpHandler handler)
      : options_(options),
        handler_(std::move(handler)),
        budget_(options.max_inflight_body_bytes),
        work_(asio::make_work_guard(ioc_)),
        acceptor_(ioc_),
        retry_timer_(ioc_) {}

  ~BeastServer() override { Stop(); }

  Status Listen() {
    beast::error_code ec;
    auto addr = asio::ip::make_address(options_.address, ec);
    if (ec)
      return Status::InvalidArgument("bad listen address " + options_.address + ": " +
                                     ec.message());
    tcp::endpoint ep(addr, options_.port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Status::Unavailable("cannot listen on " + options_.address + ":" +
                                 std::to_string(options_.port) + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    Accept();
    io_thread_ = std::thread([this] { ioc_.run(); });
    return Status::Ok();
  }

  uint16_t port() const override { return port_; }
  uint64_t requests_served() const override { return served_.load(); }

  HttpServerStats stats() const override {
    HttpServerStats s;
    s.requests = served_.load();
    s.open_connections = open_.load();
    s.rejected = rejected_.load();
    s.evicted = evicted_.load();
    s.timed_out = timed_out_.load();
    s.handler_threads = pool_.alive();
    return s;
  }

  void Stop() override {
    if (stopping_.exchange(true)) return;
    if (!io_thread_.joinable()) return;  // never listened
    // Close everything on the I/O thread (the only one that touches sockets), let handlers
    // finish (streams see Done()), then let the I/O thread run out of work.
    asio::post(ioc_, [this] {
      beast::error_code ec;
      acceptor_.close(ec);
      retry_timer_.cancel();
      std::map<uint64_t, ConnPtr> conns;
      conns.swap(conns_);
      for (auto& [id, c] : conns) Close(c);
      for (auto& l : lingering_) l->stream.close();
    });
    pool_.Stop();
    work_.reset();
    io_thread_.join();
  }

  // For ConnWriter: runs `fn` on the I/O thread.
  template <typename F>
  void Post(F&& fn) {
    asio::post(ioc_, std::forward<F>(fn));
  }
  bool stopping() const { return stopping_.load(); }
  const HttpServerOptions& options() const { return options_; }

 private:
  void Accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (stopping_.load() || ec == asio::error::operation_aborted) return;
      if (ec) {
        // EMFILE and friends: try again shortly instead of spinning.
        retry_timer_.expires_after(std::chrono::milliseconds(50));
        retry_timer_.async_wait([this](beast::error_code e) {
          if (!e && !stopping_.load()) Accept();
        });
        return;
      }
      Admit(std::move(socket));
      Accept();
    });
  }

  void Admit(tcp::socket socket) {
    if (conns_.size() >= options_.max_connections && !EvictIdle()) {
      rejected_.fetch_add(1);
      Linger(std::move(socket), SimpleAnswer(503, "server busy: too many connections\n",
                                             options_.server_header, true));
      return;
    }
    beast::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    auto c = std::make_shared<Conn>(++next_id_, std::move(socket));
    auto ep = c->stream.socket().remote_endpoint(ec);
    if (!ec) c->remote = ep.address().to_string() + ":" + std::to_string(ep.port());
    conns_.emplace(c->id, c);
    open_.store(conns_.size());
    ReadHeader(c);
  }

  // Closes the longest-idle keep-alive connection; false when none is idle.
  bool EvictIdle() {
    ConnPtr oldest;
    for (auto& [id, c] : conns_) {
      if (c->phase == Phase::kIdle && (!oldest || c->idle_since < oldest->idle_since)) oldest = c;
    }
    if (!oldest) return false;
    evicted_.fetch_add(1);
    Close(oldest);
    return true;
  }

  void ReadHeader(const ConnPtr& c) {
    if (c->closed) return;
    if (stopping_.load()) return Close(c);
    c->parser.emplace();
    c->parser->body_limit(options_.max_body_bytes);
    c->parser->header_limit(kHeaderLimit);
    c->phase = Phase::kHeader;
    c->stream.expires_after(options_.header_timeout);
    http::async_read_header(c->stream, c->buffer, *c->parser,
                            [this, c](beast::error_code ec, size_t) { OnHeader(c, ec); });
  }

  // Keep-alive: wait for the first byte of the next request under idle_timeout.
  void WaitIdle(const ConnPtr& c) {
    if (c->closed) return;
    if (stopping_.load()) return Close(c);
    if (c->buffer.size() > 0) return ReadHeader(c);  // pipelined
    c->phase = Phase::kIdle;
    c->idle_since = Clock::now();
    c->stream.expires_after(options_.idle_timeout);
    c->stream.async_read_some(c->buffer.prepare(4096), [this, c](beast::error_code ec, size_t n) {
      if (ec) {
        if (IsTimeout(ec)) timed_out_.fetch_add(1);
        return Close(c);
      }
      c->buffer.commit(n);
      ReadHeader(c);
    });
  }

  void OnHeader(const ConnPtr& c, beast::error_code ec) {
    if (c->closed) return;
    if (ec) {
      if (IsTimeout(ec)) timed_out_.fetch_add(1);
      if (ec == http::error::body_limit) return RefuseTooLarge(c);
      if (ec.category() == beast::http::make_error_code(http::error::bad_method).category() &&
          ec != http::error::end_of_stream && ec != http::error::partial_message) {
        return Refuse(c, 400, "malformed HTTP request: " + ec.message() + "\n");
      }
      return Close(c);
    }
    auto& p = *c->parser;
    size_t charge = 0;
    if (auto n = p.content_length()) {
      charge = static_cast<size_t>(*n);
    } else if (p.chunked()) {
      charge = options_.max_body_bytes;
    }
    if (charge > kSmallBody) {
      if (!budget_.TryTake(charge)) {
        return Refuse(c, 503, "server busy: too many large request bodies at once\n", true);
      }
      c->reservation = std::make_shared<Reservation>(&budget_, charge);
    }
    if (p.is_done()) return Dispatch(c);
    if (beast::iequals(p.get()[http::field::expect], "100-continue")) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      c->stream.expires_after(options_.write_timeout);
      asio::async_write(c->stream, asio::buffer(kContinue), [this, c](beast::error_code e, size_t) {
        if (e) {
          if (IsTimeout(e)) timed_out_.fetch_add(1);
          return Close(c);
        }
        ReadBody(c);
      });
      return;
    }
    ReadBody(c);
  }

  void ReadBody(const ConnPtr& c) {
    if (c->closed) return;
    if (stopping_.load()) return Close(c);
    c->phase = Phase::kBody;
    c->stream.expires_after(options_.body_timeout);
    // Beast reads as much as the buffer has room for (512 bytes at first): read a large
    // body in 64 KiB steps; Dispatch gives the room back.
    if (c->reservation) c->buffer.reserve(kBodyReadChunk);
    http::async_read(c->stream, c->buffer, *c->parser, [this, c](beast::error_code ec, size_t) {
      if (c->closed) return;
      if (ec) {
        if (IsTimeout(ec)) timed_out_.fetch_add(1);
        if (ec == http::error::body_limit) return RefuseTooLarge(c);
        return Close(c);
      }
      Dispatch(c);
    });
  }

  // A complete request: hand it to a handler thread.
  void Dispatch(const ConnPtr& c) {
    c->phase = Phase::kHandling;
    c->stream.expires_never();
    auto msg = c->parser->release();
    c->parser.reset();
    if (c->buffer.size() == 0 && c->buffer.capacity() > kIdleBufferBytes) c->buffer.shrink_to_fit();
    auto r = std::make_shared<HttpRequest>();
    r->method = std::string(msg.method_string());
    r->target = std::string(msg.target());
    size_t q = r->target.find('?');
    r->path = PercentDecode(std::string_view(r->target).substr(0, q));
    if (q != std::string::npos) r->query = ParseQuery(std::string_view(r->target).substr(q + 1));
    for (const auto& h : msg) r->headers[std::string(h.name_string())] = std::string(h.value());
    r->body = std::move(msg.body());
    r->remote_address = c->remote;
    const bool keep_alive = msg.keep_alive();
    const unsigned version = msg.version();
    auto reservation = std::move(c->reservation);
    bool queued = pool_.Submit([this, c, r = std::move(r), keep_alive, version,
                                reservation = std::move(reservation)]() mutable {
      Handle(c, std::move(r), keep_alive, version, std::move(reservation));
    });
    if (!queued) Close(c);
  }

  // On a handler thread.
  void Handle(const ConnPtr& c, std::shared_ptr<HttpRequest> r, bool keep_alive, unsigned version,
              std::shared_ptr<Reservation> reservation) {
    HttpResponse resp;
    try {
      resp = handler_(*r);
    } catch (const std::exception& e) {
      resp = HttpResponse::Text(500, std::string("internal error: ") + e.what() + "\n");
    } catch (...) {
      resp = HttpResponse::Text(500, "internal error\n");
    }
    served_.fetch_add(1);
    const size_t body_bytes = r->body.size();
    r.reset();
    reservation.reset();
    if (body_bytes >= kTrimAfterBytes) malloc_trim(0);  // give a large body's pages back

    if (resp.drop_connection) {
      Post([this, c] { Close(c); });
      return;
    }
    if (resp.stream) return Stream(c, resp);

    auto out = std::make_shared<http::response<http::string_body>>();
    try {
      if (resp.status < 100 || resp.status > 599) {
        resp = HttpResponse::Text(
            500, "internal error: handler answered status " + std::to_string(resp.status) + "\n");
      }
      out->version(version);
      out->result(static_cast<unsigned>(resp.status));
      for (const auto& [k, v] : resp.headers) out->set(k, v);
      if (!options_.server_header.empty()) out->set(http::field::server, options_.server_header);
      // 1xx, 204 and 304 answers have no body (RFC 9110 §6.4.1); Beast refuses to send one.
      if (!BodilessStatus(resp.status)) out->body() = std::move(resp.body);
      out->keep_alive(keep_alive && !stopping_.load());
      out->prepare_payload();
    } catch (const std::exception& e) {
      auto fallback = std::make_shared<http::response<http::string_body>>(
          http::status::internal_server_error, version);
      fallback->set(http::field::content_type, "text/plain; charset=utf-8");
      fallback->body() = std::string("internal error: cannot send the answer: ") + e.what() + "\n";
      fallback->keep_alive(false);
      fallback->prepare_payload();
      out = std::move(fallback);
    }
    Post([this, c, out] { WriteAnswer(c, out); });
  }

  void WriteAnswer(const ConnPtr& c,
                   const std::shared_ptr<http::response<http::string_body>>& out) {
    if (c->closed) return;
    if (stopping_.load()) return Close(c);
    c->phase = Phase::kWriting;
    c->stream.expires_after(options_.write_timeout);
    http::async_write(c->stream, *out, [this, c, out](beast::error_code ec, size_t) {
      if (ec) {
        if (IsTimeout(ec)) timed_out_.fetch_add(1);
        return Close(c);
      }
      if (!out->keep_alive()) return Close(c);
      WaitIdle(c);
    });
  }

  // On a handler thread: the head, then the handler's stream; the connection closes after.
  void Stream(const ConnPtr& c, HttpResponse& resp) {
    std::string head =
        "HTTP/1.1 " + std::to_string(resp.status) + " " + ReasonPhrase(resp.status) + "\r\n";
    for (const auto& [k, v] : resp.headers) head += k + ": " + v + "\r\n";
    if (!options_.server_header.empty()) head += "Server: " + options_.server_header + "\r\n";
    head += "Connection: close\r\n\r\n";
    // Notice a client that goes away while the stream is quiet.
    Post([this, c] {
      if (c->closed) return;
      c->phase = Phase::kStreaming;
      c->stream.expires_never();
      DrainWhileStreaming(c);
    });
    ConnWriter writer(this, c);
    try {
      if (writer.Write(head)) resp.stream(writer);
    } catch (...) {
      // A throwing producer ends its stream; the connection closes below.
    }
    Post([this, c] { Close(c); });
  }

  void DrainWhileStreaming(const ConnPtr& c) {
    c->stream.socket().async_read_some(asio::buffer(c->drain),
                                       [this, c](beast::error_code ec, size_t) {
                                         if (ec) {
                                           c->peer_gone.store(true);
                                           return;
                                         }
                                         if (!c->closed) DrainWhileStreaming(c);
                                       });
  }

  // Answers `status` with "Connection: close" and closes the connection politely.
  void Refuse(const ConnPtr& c, int status, const std::string& body, bool retry_after = false) {
    if (c->closed) return;
    std::string answer = SimpleAnswer(status, body, options_.server_header, retry_after);
    c->closed = true;
    c->reservation.reset();
    conns_.erase(c->id);
    open_.store(conns_.size());
    c->stream.expires_never();
    Linger(c->stream.release_socket(), std::move(answer));
  }

  // 413: a body over max_body_bytes, whether its Content-Length says so up front (OnHeader)
  // or a chunked body grows past it while being read (ReadBody).
  void RefuseTooLarge(const ConnPtr& c) {
    Refuse(
        c, 413,
        "request body too large (limit " + std::to_string(options_.max_body_bytes) + " bytes)\n");
  }

  void Linger(tcp::socket socket, std::string answer) {
    beast::error_code ec;
    if (stopping_.load() || lingering_.size() >= kMaxLingering) {
      socket.close(ec);
      return;
    }
    auto l = std::make_shared<Lingering>(std::move(socket));
    l->answer = std::move(answer);
    lingering_.insert(l);
    l->stream.expires_after(kLingerTime);
    asio::async_write(l->stream, asio::buffer(l->answer), [this, l](beast::error_code e, size_t) {
      if (e) return EndLinger(l);
      beast::error_code ignored;
      l->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      DrainLinger(l);
    });
  }

  void DrainLinger(const std::shared_ptr<Lingering>& l) {
    l->stream.async_read_some(asio::buffer(l->drain), [this, l](beast::error_code e, size_t) {
      if (e || stopping_.load()) return EndLinger(l);
      DrainLinger(l);
    });
  }

  void EndLinger(const std::shared_ptr<Lingering>& l) {
    l->stream.close();
    lingering_.erase(l);
  }

  // The only place a connection's socket is closed (on the I/O thread).
  void Close(const ConnPtr& c) {
    if (c->closed) return;
    c->closed = true;
    c->reservation.reset();
    // The parser stays: a read that completed just before may still be queued and use it.
    beast::error_code ec;
    c->stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    c->stream.close();
    conns_.erase(c->id);
    open_.store(conns_.size());
  }

  HttpServerOptions options_;
  HttpHandler handler_;
  BodyBudget budget_;  // outlives everything below that holds reservations
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> served_{0}, open_{0}, rejected_{0}, evicted_{0}, timed_out_{0};
  uint64_t next_id_ = 0;
  std::map<uint64_t, ConnPtr> conns_;               // I/O thread only
  std::set<std::shared_ptr<Lingering>> lingering_;  // I/O thread only
  std::thread io_thread_;
  WorkerPool pool_;  // stopped (joined) before the I/O thread
};

bool ConnWriter::Write(std::string_view data) {
  if (Done()) return false;
  struct Pending {
    std::string data;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    bool ok = false;
  };
  auto p = std::make_shared<Pending>();
  p->data.assign(data);
  auto finish = [p](bool ok) {
    std::lock_guard<std::mutex> lock(p->mu);
    p->done = true;
    p->ok = ok;
    p->cv.notify_all();
  };
  ConnPtr c = conn_;
  BeastServer* server = server_;
  server_->Post([server, c, p, finish] {
    if (c->closed || server->stopping()) return finish(false);
    c->stream.expires_after(server->options().write_timeout);
    asio::async_write(c->stream, asio::buffer(p->data),
                      [p, finish](beast::error_code ec, size_t) { finish(!ec); });
  });
  std::unique_lock<std::mutex> lock(p->mu);
  p->cv.wait(lock, [&] { return p->done; });
  if (!p->ok) failed_ = true;
  return p->ok;
}

bool ConnWriter::Done() const { return failed_ || server_->stopping() || conn_->peer_gone.load(); }

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                      HttpHandler handler) {
  auto server = std::make_unique<BeastServer>(options, std::move(handler));
  Status s = server->Listen();
  if (!s.ok()) return s;
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace galley::net
