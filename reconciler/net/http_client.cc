// SPDX-License-Identifier: Apache-2.0
// The Beast implementation of HttpClient (see http_client.h for the behaviour). Each
// connection owns its io_context: a connection is checked out by one Send at a time and its
// io_context runs only inside that Send, so requests on different threads never share an
// event loop. Asynchronous operations are used only to get deadlines (beast::tcp_stream
// closes the socket when one passes); every Send runs them to completion before returning.
#include "net/http_client.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/url.h"

namespace galley::net {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using Parser = http::response_parser<http::string_body>;

constexpr size_t kMaxHeaderBytes = 64 * 1024;

struct Connection {
  asio::io_context ioc;  // declared first: destroyed after the streams that use it
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<TlsStream> tls;
  beast::flat_buffer buffer;
  std::string verify_error;  // why the TLS verify callback rejected the peer

  beast::tcp_stream& tcp() { return tls ? tls->next_layer() : *plain; }
};

void RunIo(asio::io_context& ioc) {
  ioc.restart();
  ioc.run();
}

bool IsIpLiteral(const std::string& host) {
  beast::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// Lookups left running by a timed-out resolution (the OS resolver cannot be cancelled).
std::atomic<int> g_lookups_running{0};
constexpr int kMaxLookupsRunning = 16;

Result<std::vector<std::string>> OsResolve(const std::string& host) {
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::error_code ec;
  auto results = resolver.resolve(host, "0", ec);
  if (ec) return Status::Unavailable(ec.message());
  std::vector<std::string> out;
  for (const auto& entry : results) out.push_back(entry.endpoint().address().to_string());
  return out;
}

// Resolves `host` by `deadline` on a helper thread. nullopt: the deadline passed first (the
// lookup goes on and is discarded).
std::optional<Result<std::vector<std::string>>> ResolveBy(
    const std::function<Result<std::vector<std::string>>(const std::string&)>& resolve,
    const std::string& host, Clock::time_point deadline) {
  struct Lookup {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Result<std::vector<std::string>>> result;
  };
  if (g_lookups_running.fetch_add(1) >= kMaxLookupsRunning) {
    g_lookups_running.fetch_sub(1);
    return Result<std::vector<std::string>>(
        Status::Unavailable("too many name lookups still running (the resolver does not answer)"));
  }
  auto lookup = std::make_shared<Lookup>();
  try {
    std::thread([lookup, resolve, host] {
      auto r = resolve ? resolve(host) : OsResolve(host);
      {
        std::lock_guard<std::mutex> lk(lookup->mu);
        lookup->result = std::move(r);
      }
      lookup->cv.notify_all();
      g_lookups_running.fetch_sub(1);
    }).detach();
  } catch (const std::system_error& e) {
    g_lookups_running.fetch_sub(1);
    return Result<std::vector<std::string>>(Status::Unavailable(e.what()));
  }
  std::unique_lock<std::mutex> lk(lookup->mu);
  if (!lookup->cv.wait_until(lk, deadline, [&] { return lookup->result.has_value(); })) {
    return std::nullopt;
  }
  return std::move(lookup->result);
}

std::string HostHeader(const Url& url) {
  std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  bool default_port =
      (url.scheme == "http" && url.port == 80) || (url.scheme == "https" && url.port == 443);
  return default_port ? host : host + ":" + std::to_string(url.port);
}

// Whether an idle pooled connection can carry another request. Between answers nothing may
// be readable on a plain connection: readable means EOF (the server closed it) or stray
// bytes. A TLS connection may carry post-handshake records (session tickets), so there only
// EOF, a half-close or an error retires it; Send's retry-once covers what this misses.
bool LooksAlive(Connection& c) {
  if (c.buffer.size() != 0) return false;
  int fd = c.tcp().socket().native_handle();
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  int n = ::poll(&p, 1, 0);
  if (n < 0) return false;
  if (n == 0) return true;
  if (p.revents & (POLLERR | POLLHUP | POLLNVAL | POLLRDHUP)) return false;
  if (!c.tls) return false;
  char byte;
  return ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

std::string CertSubject(X509* cert) {
  if (!cert) return "";
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
  return buf;
}

// Errors of a connection that the server closed before answering: on a reused connection
// these mean it went stale while idle.
bool IsClosedByPeer(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted || ec == ssl::error::stream_truncated;
}

std::string DescribeReadError(const beast::error_code& ec, const ClientRequest& request) {
  if (ec == http::error::end_of_stream || ec == asio::error::eof ||
      ec == ssl::error::stream_truncated) {
    return "connection closed by the server without an answer";
  }
  if (ec == http::error::partial_message) return "connection closed in the middle of the answer";
  if (ec == asio::error::connection_reset) return "connection reset by the server";
  if (ec == http::error::body_limit) {
    return "answer larger than max_response_bytes (" + std::to_string(request.max_response_bytes) +
           " bytes)";
  }
  if (ec == http::error::header_limit) {
    return "answer header larger than " + std::to_string(kMaxHeaderBytes) + " bytes";
  }
  if (ec.category() == http::make_error_code(http::error::bad_version).category()) {
    return "malformed answer: " + ec.message();
  }
  return ec.message();
}

// RFC 9110 token: a method or a header name.
bool IsToken(const std::string& s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f ||
        std::string_view("\"(),/:;<=>?@[\\]{}").find(static_cast<char>(c)) !=
            std::string_view::npos) {
      return false;
    }
  }
  return true;
}

bool HasCtlOrSpace(const std::string& s) {
  for (unsigned char c : s) {
    if (c <= 0x20 || c == 0x7f) return true;
  }
  return false;
}

Status Refuse(SendFailure& f, std::string message) {
  f.permanent = true;
  f.request_may_have_been_sent = false;
  return Status::InvalidArgument(std::move(message));
}

// Whether the comma-separated list `value` holds `token` (case-insensitive): "keep-alive, Close".
bool HasToken(const std::string& value, const std::string& token) {
  size_t start = 0;
  while (start <= value.size()) {
    size_t end = value.find(',', start);
    if (end == std::string::npos) end = value.size();
    std::string item = value.substr(start, end - start);
    size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    if (b != std::string::npos) item = item.substr(b, e - b + 1);
    if (item.size() == token.size() &&
        std::equal(item.begin(), item.end(), token.begin(), [](char x, char y) {
          return std::tolower(static_cast<unsigned char>(x)) == y;
        })) {
      return true;
    }
    start = end + 1;
  }
  return false;
}

// The only operations instantiated per stream type: a buffer write and a read_some. Each
// runs to completion or to the stream's expiry.
beast::error_code WriteAll(Connection& c, const std::string& data) {
  beast::error_code result;
  auto done = [&](beast::error_code e, size_t) { result = e; };
  if (c.tls) {
    asio::async_write(*c.tls, asio::buffer(data), done);
  } else {
    asio::async_write(*c.plain, asio::buffer(data), done);
  }
  RunIo(c.ioc);
  return result;
}

beast::error_code ReadSome(Connection& c) {
  beast::error_code result;
  size_t got = 0;
  auto into = c.buffer.prepare(16 * 1024);
  auto done = [&](beast::error_code e, size_t n) {
    result = e;
    got = n;
  };
  if (c.tls) {
    c.tls->async_read_some(into, done);
  } else {
    c.plain->async_read_some(into, done);
  }
  RunIo(c.ioc);
  c.buffer.commit(got);
  return got > 0 ? beast::error_code{} : result;
}

// Reads one response into `parser` through the connection's buffer (what http::read does,
// written once for both stream types). EOF before any byte is http::error::end_of_stream; EOF
// ends a body only when the response is delimited by the close.
beast::error_code ReadResponse(Connection& c, Parser& parser) {
  for (;;) {
    if (c.buffer.size() > 0) {
      beast::error_code ec;
      size_t used = parser.put(c.buffer.data(), ec);
      c.buffer.consume(used);
      if (ec && ec != http::error::need_more) return ec;
      if (parser.is_done()) return {};
      if (!ec && used > 0 && c.buffer.size() > 0) continue;
    }
    beast::error_code ec = ReadSome(c);
    if (ec == asio::error::eof || ec == ssl::error::stream_truncated) {
      // A TLS peer that closes without close_notify (stream_truncated) is accepted only
      // where the close is what ends the body anyway.
      if (!parser.got_some()) return http::error::end_of_stream;
      beast::error_code eof_ec;
      parser.put_eof(eof_ec);
      if (eof_ec) return eof_ec;
      return parser.is_done() ? beast::error_code{} : http::error::partial_message;
    }
    if (ec) return ec;
  }
}

// Whether a TLS connection holds bytes already read from the socket but not yet handed out
// (decrypted or still in OpenSSL's read BIO): then the socket may be quiet although data is
// there.
bool TlsBuffered(Connection& c) {
  if (!c.tls) return false;
  SSL* ssl = c.tls->native_handle();
  return SSL_pending(ssl) > 0 || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0;
}

enum class Wait { kReadable, kStopped, kTimedOut };

// Waits until the connection has bytes to read (or an error or EOF to report), `until`
// passes, or callbacks.stop says so, polling stop every poll_interval.
Wait WaitForBytes(Connection& c, Clock::time_point until, const StreamCallbacks& cb) {
  const int fd = c.tcp().socket().native_handle();
  const auto slice_cap = std::max(std::chrono::milliseconds(1), cb.poll_interval);
  for (;;) {
    if (cb.stop && cb.stop()) return Wait::kStopped;
    if (TlsBuffered(c)) return Wait::kReadable;
    auto now = Clock::now();
    if (now >= until) return Wait::kTimedOut;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(until - now);
    auto slice = std::min(slice_cap, left);
    pollfd p{fd, POLLIN | POLLRDHUP, 0};
    int n = ::poll(&p, 1, static_cast<int>(slice.count()));
    if (n > 0) return Wait::kReadable;  // data, EOF or an error: the read reports which
    if (n < 0 && errno != EINTR) return Wait::kReadable;
  }
}

ClientResponse HeadOf(const http::response<http::string_body>& res) {
  ClientResponse head;
  head.status = static_cast<int>(res.result_int());
  for (const auto& h : res) {
    std::string name(h.name_string());
    auto it = head.headers.find(name);
    if (it == head.headers.end()) {
      head.headers.emplace(std::move(name), std::string(h.value()));
    } else {
      it->second += ", " + std::string(h.value());
    }
  }
  return head;
}

// The outcome of one request on one connection.
struct Exchange {
  Status status;  // OK: `response` holds the answer
  ClientResponse response;
  bool reusable = false;  // the connection may go back to the idle pool
  bool stale = false;     // a reused connection failed before any answer byte: retry fresh
  SendFailure failure;
};

class BeastHttpClient : public HttpClient {
 public:
  explicit BeastHttpClient(HttpClientOptions options) : options_(std::move(options)) {}

  Result<ClientResponse> Send(const ClientRequest& request) override {
    return SendDetailed(request, nullptr);
  }

  Result<ClientResponse> SendDetailed(const ClientRequest& request, SendFailure* failure) override {
    SendFailure local;
    SendFailure& f = failure ? *failure : local;
    f = SendFailure{};
    try {
      return SendImpl(request, f);
    } catch (const std::exception& e) {  // bad_alloc, a header Beast refuses, ...
      return Status::Internal(request.method + " " + request.url + ": " + e.what());
    }
  }

  Status Stream(const ClientRequest& request, const StreamCallbacks& callbacks) override {
    try {
      return StreamImpl(request, callbacks);
    } catch (const std::exception& e) {  // bad_alloc, a header Beast refuses, a callback's throw
      return Status::Internal(request.method + " " + request.url + ": " + e.what());
    }
  }

 private:
  Status StreamImpl(const ClientRequest& request, const StreamCallbacks& cb) {
    const auto head_deadline = Clock::now() + request.timeout;
    SendFailure f;
    auto parsed = Url::Parse(request.url);
    if (!parsed.ok()) return parsed.status();
    const Url& url = *parsed;
    const std::string what = request.method + " " + request.url;
    const bool use_tls = url.scheme == "https";
    if (use_tls) {
      Status s = EnsureTls();
      if (!s.ok()) return s.WithContext(what);
    }
    bool keep_alive = false;
    auto wire = Serialize(request, url, what, /*stream=*/true, f, &keep_alive);
    if (!wire.ok()) return wire.status();
    auto opened = Open(url, use_tls, head_deadline, request, what, f);
    if (!opened.ok()) return opened.status();
    Connection& c = **opened;

    const std::string no_answer =
        what + ": no answer within " + std::to_string(request.timeout.count()) + " ms";
    const std::string no_data =
        what + ": no data within " + std::to_string(cb.idle_timeout.count()) + " ms";
    c.tcp().expires_at(head_deadline);
    beast::error_code ec = WriteAll(c, *wire);
    if (ec == beast::error::timeout) return Status::Timeout(no_answer);
    if (ec) return Status::Unavailable(what + ": cannot send the request: " + ec.message());

    Parser parser;
    parser.eager(true);
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    if (request.method == "HEAD") parser.skip(true);
    bool head_done = false;
    auto until = head_deadline;
    // Hands the body bytes parsed so far to on_data; false: the caller wants no more.
    auto deliver = [&]() -> bool {
      std::string& body = parser.get().body();
      if (body.empty()) return true;
      std::string piece;
      piece.swap(body);
      return !cb.on_data || cb.on_data(piece);
    };
    for (;;) {
      if (c.buffer.size() > 0) {
        beast::error_code pec;
        size_t used = parser.put(c.buffer.data(), pec);
        c.buffer.consume(used);
        if (pec && pec != http::error::need_more)
          return Status::Unavailable(what + ": " + DescribeReadError(pec, request));
        if (!head_done && parser.is_header_done()) {
          head_done = true;
          if (cb.on_head && !cb.on_head(HeadOf(parser.get()))) return Status::Ok();
          until = Clock::now() + cb.idle_timeout;
        }
        if (head_done && !deliver()) return Status::Ok();
        if (parser.is_done()) return Status::Ok();
        if (!pec && used > 0 && c.buffer.size() > 0) continue;
      }
      switch (WaitForBytes(c, until, cb)) {
        case Wait::kStopped:
          return Status::Ok();
        case Wait::kTimedOut:
          return Status::Timeout(head_done ? no_data : no_answer);
        case Wait::kReadable:
          break;
      }
      c.tcp().expires_at(until);
      ec = ReadSome(c);
      if (ec == asio::error::eof || ec == ssl::error::stream_truncated) {
        if (!parser.got_some()) {
          return Status::Unavailable(what + ": connection closed by the server without an answer");
        }
        beast::error_code eof_ec;
        parser.put_eof(eof_ec);
        if (head_done && !deliver()) return Status::Ok();
        if (eof_ec || !parser.is_done()) {
          return Status::Unavailable(what + ": connection closed in the middle of the answer");
        }
        return Status::Ok();
      }
      if (ec == beast::error::timeout) return Status::Timeout(head_done ? no_data : no_answer);
      if (ec) return Status::Unavailable(what + ": " + DescribeReadError(ec, request));
      if (head_done) until = Clock::now() + cb.idle_timeout;
    }
  }

  Result<ClientResponse> SendImpl(const ClientRequest& request, SendFailure& f) {
    const auto deadline = Clock::now() + request.timeout;
    auto parsed = Url::Parse(request.url);
    if (!parsed.ok()) {
      f.permanent = true;
      f.request_may_have_been_sent = false;
      return parsed.status();
    }
    const Url& url = *parsed;
    const std::string what = request.method + " " + request.url;
    const bool use_tls = url.scheme == "https";
    if (use_tls) {
      Status s = EnsureTls();
      if (!s.ok()) {
        f.permanent = true;
        f.request_may_have_been_sent = false;
        return s.WithContext(what);
      }
    }

    bool keep_alive = false;
    auto wire_or = Serialize(request, url, what, /*stream=*/false, f, &keep_alive);
    if (!wire_or.ok()) return wire_or.status();
    const std::string wire = std::move(wire_or).value();
    const bool is_head = request.method == "HEAD";

    const std::string key = url.Origin();
    // Round 0 may use a pooled connection; round 1 is the transparent retry on a fresh one.
    for (int round = 0;; ++round) {
      std::unique_ptr<Connection> conn = round == 0 ? TakeIdle(key) : nullptr;
      const bool reused = conn != nullptr;
      if (!conn) {
        auto opened = Open(url, use_tls, deadline, request, what, f);
        // After a stale round the request did go out once; whatever the premise (a server
        // that closed an idle connection read nothing), stay on the safe side for retries.
        if (!opened.ok() && round > 0) f.request_may_have_been_sent = true;
        if (!opened.ok()) return opened.status();
        conn = std::move(opened).value();
      }
      Exchange x = Run(*conn, wire, is_head, keep_alive, request, deadline, what, reused);
      if (x.stale && round == 0) continue;  // the server had closed it while idle
      if (!x.status.ok()) {
        f = x.failure;
        return x.status;
      }
      if (x.reusable) GiveBack(key, std::move(conn));
      return std::move(x.response);
    }
  }

  // Validates the request and serialises it once: writing it is then a plain buffer write,
  // which keeps Beast's HTTP writer (and its composed reader) out of the two stream types.
  // A stream always asks the server to close (it is never pooled).
  Result<std::string> Serialize(const ClientRequest& request, const Url& url,
                                const std::string& what, bool stream, SendFailure& f,
                                bool* keep_alive_out) {
    // Line breaks in a header or a space in the request line would let a value smuggle in
    // extra headers or requests: refuse them rather than send them.
    if (!IsToken(request.method)) return Refuse(f, what + ": bad method");
    if (HasCtlOrSpace(url.target))
      return Refuse(f, what + ": the URL has a space or control character (percent-encode it)");
    for (const auto& [k, v] : request.headers) {
      if (!IsToken(k)) return Refuse(f, what + ": bad header name '" + k + "'");
      if (v.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
        return Refuse(f, what + ": header " + k + " has a line break or NUL in its value");
      }
    }
    Headers fields;
    fields["Host"] = HostHeader(url);
    fields["User-Agent"] = options_.user_agent;
    if (options_.max_idle_per_host == 0) fields["Connection"] = "close";
    for (const auto& [k, v] : request.headers) fields[k] = v;
    if (stream) fields["Connection"] = "close";
    if (!request.body.empty() || request.method == "PUT" || request.method == "POST" ||
        request.method == "PATCH") {
      fields.erase("Transfer-Encoding");
      fields["Content-Length"] = std::to_string(request.body.size());
    }
    auto connection = fields.find("Connection");
    *keep_alive_out = connection == fields.end() || !HasToken(connection->second, "close");
    std::string wire = request.method + " " + url.target + " HTTP/1.1\r\n";
    for (const auto& [k, v] : fields) wire += k + ": " + v + "\r\n";
    wire += "\r\n";
    wire += request.body;
    return wire;
  }

  Status EnsureTls() {
    std::call_once(tls_once_, [this] { tls_status_ = InitTls(); });
    return tls_status_;
  }

  Status InitTls() {
    try {
      tls_ctx_ = std::make_unique<ssl::context>(ssl::context::tls_client);
    } catch (const std::exception& e) {
      return Status::Internal(std::string("cannot set up TLS: ") + e.what());
    }
    SSL_CTX_set_min_proto_version(tls_ctx_->native_handle(), TLS1_2_VERSION);
    beast::error_code ec;
    if (!options_.verify_tls) {
      tls_ctx_->set_verify_mode(ssl::verify_none, ec);
      return Status::Ok();
    }
    tls_ctx_->set_verify_mode(ssl::verify_peer, ec);
    if (ec) return Status::Internal("cannot enable certificate verification: " + ec.message());
    if (!options_.ca_file.empty()) {
      tls_ctx_->load_verify_file(options_.ca_file, ec);
      if (ec)
        return Status::InvalidArgument("cannot load CA file " + options_.ca_file + ": " +
                                       ec.message());
    } else {
      tls_ctx_->set_default_verify_paths(ec);
      if (ec) return Status::Unavailable("cannot load the system CA store: " + ec.message());
    }
    return Status::Ok();
  }

  // Resolves, connects (trying each address until connect_timeout) and, for https, completes
  // the TLS handshake. Nothing of the request has been sent when this fails.
  Result<std::unique_ptr<Connection>> Open(const Url& url, bool use_tls, Clock::time_point deadline,
                                           const ClientRequest& request, const std::string& what,
                                           SendFailure& f) {
    f.request_may_have_been_sent = false;
    auto conn = std::make_unique<Connection>();
    beast::error_code ec;
    const auto connect_deadline = std::min(deadline, Clock::now() + options_.connect_timeout);
    const bool request_deadline_binds = connect_deadline == deadline;
    auto timed_out = [&](const std::string& phase) {
      if (request_deadline_binds) {
        return Status::Timeout(what + ": no answer within " +
                               std::to_string(request.timeout.count()) + " ms");
      }
      return Status::Unavailable(what + ": " + phase + " within " +
                                 std::to_string(options_.connect_timeout.count()) + " ms");
    };

    std::vector<tcp::endpoint> endpoints;
    const auto port = static_cast<unsigned short>(url.port);
    if (IsIpLiteral(url.host)) {
      endpoints.emplace_back(asio::ip::make_address(url.host, ec), port);
    } else {
      auto addresses = ResolveBy(options_.resolve, url.host, connect_deadline);
      if (!addresses) return timed_out("cannot resolve " + url.host);
      if (addresses->ok()) {
        for (const std::string& a : **addresses) {
          auto address = asio::ip::make_address(a, ec);
          if (!ec) endpoints.emplace_back(address, port);
        }
      }
      std::string why = addresses->ok() ? "no address" : addresses->status().message();
      if (endpoints.empty())
        return Status::Unavailable(what + ": cannot resolve " + url.host + ": " + why);
    }

    if (use_tls) {
      conn->tls = std::make_unique<TlsStream>(conn->ioc, *tls_ctx_);
    } else {
      conn->plain = std::make_unique<beast::tcp_stream>(conn->ioc);
    }
    beast::tcp_stream& stream = conn->tcp();
    beast::error_code last;
    for (const tcp::endpoint& ep : endpoints) {
      stream.socket().close(ec);
      // Opened here with SOCK_CLOEXEC so pooled connections never leak into child processes.
      int fd = ::socket(ep.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        last = beast::error_code(errno, boost::system::system_category());
        continue;
      }
      stream.socket().assign(ep.protocol(), fd, ec);
      if (ec) {
        ::close(fd);
        last = ec;
        continue;
      }
      stream.expires_at(connect_deadline);
      stream.async_connect(ep, [&](beast::error_code e) { last = e; });
      RunIo(conn->ioc);
      if (!last || last == beast::error::timeout) break;
    }
    if (last == beast::error::timeout) return timed_out("cannot connect");
    if (last == asio::error::connection_refused)
      return Status::Unavailable(what + ": connection refused");
    if (last)
      return Status::Unavailable(what + ": cannot connect to " + HostHeader(url) + ": " +
                                 last.message());
    stream.socket().set_option(tcp::no_delay(true), ec);

    if (use_tls) {
      TlsStream& tls = *conn->tls;
      // SNI carries host names only (RFC 6066), never an IP literal.
      if (!IsIpLiteral(url.host)) SSL_set_tlsext_host_name(tls.native_handle(), url.host.c_str());
      if (options_.verify_tls) {
        std::string* reason = &conn->verify_error;
        ssl::host_name_verification matches(url.host);
        std::string host = url.host;
        tls.set_verify_callback(
            [reason, matches, host](bool preverified, ssl::verify_context& ctx) {
              X509_STORE_CTX* store = ctx.native_handle();
              if (!preverified) {
                if (reason->empty()) {
                  *reason =
                      std::string(X509_verify_cert_error_string(X509_STORE_CTX_get_error(store))) +
                      " (certificate " + CertSubject(X509_STORE_CTX_get_current_cert(store)) + ")";
                }
                return false;
              }
              bool ok = matches(preverified, ctx);
              if (!ok && reason->empty()) {
                *reason = "the certificate (" +
                          CertSubject(X509_STORE_CTX_get_current_cert(store)) +
                          ") is not valid for " + host;
              }
              return ok;
            },
            ec);
        if (ec)
          return Status::Internal(what +
                                  ": cannot set up certificate verification: " + ec.message());
      }
      beast::error_code hs;
      stream.expires_at(connect_deadline);
      tls.async_handshake(ssl::stream_base::client, [&](beast::error_code e) { hs = e; });
      RunIo(conn->ioc);
      if (hs == beast::error::timeout) return timed_out("TLS handshake did not finish");
      if (hs) {
        if (!conn->verify_error.empty()) {
          f.permanent = true;
          return Status::Unavailable(
              what + ": TLS handshake failed: certificate verify failed: " + conn->verify_error);
        }
        return Status::Unavailable(what + ": TLS handshake failed: " + hs.message());
      }
    }
    return conn;
  }

  Exchange Run(Connection& c, const std::string& wire, bool is_head, bool keep_alive,
               const ClientRequest& request, Clock::time_point deadline, const std::string& what,
               bool reused) {
    Exchange x;
    Parser parser;
    parser.eager(true);
    parser.body_limit(request.max_response_bytes);
    parser.header_limit(kMaxHeaderBytes);
    if (is_head) parser.skip(true);
    c.tcp().expires_at(deadline);
    const std::string no_answer =
        what + ": no answer within " + std::to_string(request.timeout.count()) + " ms";
    beast::error_code ec = WriteAll(c, wire);
    if (ec) {
      if (ec == beast::error::timeout) {
        x.status = Status::Timeout(no_answer);
        return x;
      }
      x.stale = reused;
      x.status = Status::Unavailable(what + ": cannot send the request: " + ec.message());
      return x;
    }
    ec = ReadResponse(c, parser);
    if (ec) {
      if (ec == beast::error::timeout) {
        x.status = Status::Timeout(no_answer);
        return x;
      }
      x.stale = reused && !parser.got_some() && IsClosedByPeer(ec);
      x.failure.permanent = ec == http::error::body_limit || ec == http::error::header_limit;
      x.status = Status::Unavailable(what + ": " + DescribeReadError(ec, request));
      return x;
    }
    auto& res = parser.get();
    x.response.status = static_cast<int>(res.result_int());
    for (const auto& h : res) {
      std::string name(h.name_string());
      auto it = x.response.headers.find(name);
      if (it == x.response.headers.end()) {
        x.response.headers.emplace(std::move(name), std::string(h.value()));
      } else {
        it->second += ", " + std::string(h.value());  // repeated field: RFC 9110 §5.3
      }
    }
    x.response.body = std::move(res.body());
    x.reusable = options_.max_idle_per_host > 0 && keep_alive && res.keep_alive() &&
                 !parser.need_eof() && x.response.status != 101 && c.buffer.size() == 0;
    return x;
  }

  // The most recently returned idle connection for `key` that still looks alive, or null.
  std::unique_ptr<Connection> TakeIdle(const std::string& key) {
    for (;;) {
      std::unique_ptr<Connection> c;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = idle_.find(key);
        if (it == idle_.end() || it->second.empty()) return nullptr;
        c = std::move(it->second.back());
        it->second.pop_back();
      }
      if (LooksAlive(*c)) return c;
      // c closes here, outside the lock.
    }
  }

  void GiveBack(const std::string& key, std::unique_ptr<Connection> c) {
    std::unique_ptr<Connection> evicted;  // closed after the lock is released
    std::lock_guard<std::mutex> lock(mu_);
    auto& list = idle_[key];
    if (list.size() >= options_.max_idle_per_host) {
      evicted = std::move(list.front());  // the longest idle: the likeliest to be closed
      list.pop_front();
    }
    list.push_back(std::move(c));
  }

  const HttpClientOptions options_;
  std::once_flag tls_once_;
  Status tls_status_;
  std::unique_ptr<ssl::context> tls_ctx_;  // shared by every TLS connection once set up
  std::mutex mu_;
  std::map<std::string, std::deque<std::unique_ptr<Connection>>> idle_;  // guarded by mu_
};

}  // namespace

std::unique_ptr<HttpClient> NewHttpClient() { return NewHttpClient(HttpClientOptions{}); }

std::unique_ptr<HttpClient> NewHttpClient(const HttpClientOptions& options) {
  return std::make_unique<BeastHttpClient>(options);
}

}  // namespace galley::net
