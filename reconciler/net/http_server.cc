// SPDX-License-Identifier: Apache-2.0
#include "net/http_server.h"

#include <sys/socket.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <list>
#include <mutex>
#include <thread>

namespace galley::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class SocketWriter : public StreamWriter {
 public:
  SocketWriter(tcp::socket& s, const std::atomic<bool>& stopping) : socket_(s), stopping_(stopping) {}
  bool Write(std::string_view data) override {
    if (Done()) return false;
    beast::error_code ec;
    asio::write(socket_, asio::buffer(data.data(), data.size()), ec);
    if (ec) failed_ = true;
    return !ec;
  }
  bool Done() const override { return failed_ || stopping_.load(); }

 private:
  tcp::socket& socket_;
  const std::atomic<bool>& stopping_;
  bool failed_ = false;
};

class BeastServer : public HttpServer {
 public:
  BeastServer(const HttpServerOptions& options, HttpHandler handler)
      : options_(options), handler_(std::move(handler)), acceptor_(ioc_) {}

  ~BeastServer() override { Stop(); }

  Status Listen() {
    beast::error_code ec;
    auto addr = asio::ip::make_address(options_.address, ec);
    if (ec) return Status::InvalidArgument("bad listen address " + options_.address + ": " + ec.message());
    tcp::endpoint ep(addr, options_.port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Status::Unavailable("cannot listen on " + options_.address + ":" + std::to_string(options_.port) +
                                 ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { AcceptLoop(); });
    return Status::Ok();
  }

  uint16_t port() const override { return port_; }
  uint64_t requests_served() const override { return served_.load(); }

  void Stop() override {
    bool expected = false;
    if (!stopping_.compare_exchange_strong(expected, true)) return;
    // Wake the blocking accept() with a shutdown on the listening socket.
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    if (accept_thread_.joinable()) accept_thread_.join();
    beast::error_code ec;
    acceptor_.close(ec);
    std::list<Connection> conns;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& c : conns_) ::shutdown(c.fd, SHUT_RDWR);
      conns.splice(conns.end(), conns_);
    }
    for (auto& c : conns) {
      if (c.thread.joinable()) c.thread.join();
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& c : finished_) {
      if (c.thread.joinable()) c.thread.join();
    }
    finished_.clear();
  }

 private:
  struct Connection {
    int fd = -1;
    std::thread thread;
  };

  void AcceptLoop() {
    while (!stopping_.load()) {
      tcp::socket socket(ioc_);
      beast::error_code ec;
      acceptor_.accept(socket, ec);
      if (stopping_.load()) break;
      if (ec) {
        if (ec == asio::error::invalid_argument || ec == asio::error::bad_descriptor) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // EMFILE and friends
        continue;
      }
      ReapFinished();
      std::lock_guard<std::mutex> lock(mu_);
      if (conns_.size() >= options_.max_connections) {
        socket.close(ec);
        continue;
      }
      conns_.emplace_back();
      auto it = std::prev(conns_.end());
      it->fd = socket.native_handle();
      it->thread = std::thread([this, it, s = std::move(socket)]() mutable {
        Serve(s);
        std::lock_guard<std::mutex> l(mu_);
        if (!stopping_.load()) finished_.splice(finished_.end(), conns_, it);
      });
    }
  }

  void ReapFinished() {
    std::list<Connection> done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      done.splice(done.end(), finished_);
    }
    for (auto& c : done) {
      if (c.thread.joinable()) c.thread.join();
    }
  }

  void Serve(tcp::socket& socket) {
    beast::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    std::string remote;
    auto ep = socket.remote_endpoint(ec);
    if (!ec) remote = ep.address().to_string() + ":" + std::to_string(ep.port());
    beast::flat_buffer buffer;
    while (!stopping_.load()) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(options_.max_body_bytes);
      parser.header_limit(64 * 1024);
      http::read(socket, buffer, parser, ec);
      if (ec) {
        // A clean close between requests is normal; a malformed request gets an answer.
        if (ec == http::error::body_limit) {
          WriteSimple(socket, 413, "request body too large\n");
        } else if (ec.category() == beast::http::make_error_code(http::error::bad_method).category() &&
                   ec != http::error::end_of_stream && ec != http::error::partial_message) {
          WriteSimple(socket, 400, "malformed HTTP request: " + ec.message() + "\n");
        }
        break;
      }
      auto& req = parser.get();
      HttpRequest r;
      r.method = std::string(req.method_string());
      r.target = std::string(req.target());
      size_t q = r.target.find('?');
      r.path = PercentDecode(std::string_view(r.target).substr(0, q));
      if (q != std::string::npos) r.query = ParseQuery(std::string_view(r.target).substr(q + 1));
      for (const auto& h : req) r.headers[std::string(h.name_string())] = std::string(h.value());
      r.body = std::move(req.body());
      r.remote_address = remote;
      bool keep_alive = req.keep_alive();

      HttpResponse resp;
      try {
        resp = handler_(r);
      } catch (const std::exception& e) {
        resp = HttpResponse::Text(500, std::string("internal error: ") + e.what() + "\n");
      }
      served_.fetch_add(1);
      if (resp.drop_connection) break;
      if (resp.stream) {
        std::string head = "HTTP/1.1 " + std::to_string(resp.status) + " " + ReasonPhrase(resp.status) + "\r\n";
        for (const auto& [k, v] : resp.headers) head += k + ": " + v + "\r\n";
        head += "Connection: close\r\n\r\n";
        SocketWriter writer(socket, stopping_);
        if (writer.Write(head)) resp.stream(writer);
        break;
      }
      http::response<http::string_body> out{static_cast<http::status>(resp.status), req.version()};
      for (const auto& [k, v] : resp.headers) out.set(k, v);
      if (!options_.server_header.empty()) out.set(http::field::server, options_.server_header);
      out.body() = std::move(resp.body);
      out.keep_alive(keep_alive && !stopping_.load());
      out.prepare_payload();
      http::write(socket, out, ec);
      if (ec || !out.keep_alive()) break;
    }
    socket.shutdown(tcp::socket::shutdown_send, ec);
    socket.close(ec);
  }

  void WriteSimple(tcp::socket& socket, int status, const std::string& body) {
    http::response<http::string_body> out{static_cast<http::status>(status), 11};
    out.set(http::field::content_type, "text/plain");
    out.body() = body;
    out.keep_alive(false);
    out.prepare_payload();
    beast::error_code ec;
    http::write(socket, out, ec);
  }

  HttpServerOptions options_;
  HttpHandler handler_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> served_{0};
  std::thread accept_thread_;
  std::mutex mu_;
  std::list<Connection> conns_;
  std::list<Connection> finished_;
};

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options, HttpHandler handler) {
  auto server = std::make_unique<BeastServer>(options, std::move(handler));
  Status s = server->Listen();
  if (!s.ok()) return s;
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace galley::net
