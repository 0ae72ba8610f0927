// SPDX-License-Identifier: Apache-2.0
#include "net/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "net/url.h"

namespace galley::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class BeastHttpClient : public HttpClient {
 public:
  Result<ClientResponse> Send(const ClientRequest& request) override {
    ASSIGN_OR_RETURN(Url url, Url::Parse(request.url));
    if (url.scheme != "http") return Status::InvalidArgument("https is not supported by this client: " + request.url);
    std::string what = request.method + " " + request.url;
    asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    tcp::resolver resolver(ioc);
    beast::error_code ec;
    auto endpoints = resolver.resolve(url.host, std::to_string(url.port), ec);
    if (ec) return Status::Unavailable(what + ": cannot resolve " + url.host + ": " + ec.message());

    http::request<http::string_body> req{http::string_to_verb(request.method), url.target, 11};
    if (req.method() == http::verb::unknown) req.method_string(request.method);
    req.set(http::field::host, url.host + ":" + std::to_string(url.port));
    req.set(http::field::user_agent, "galley");
    for (const auto& [k, v] : request.headers) req.set(k, v);
    req.body() = request.body;
    if (!request.body.empty() || request.method == "PUT" || request.method == "POST" || request.method == "PATCH") {
      req.prepare_payload();
    }
    req.keep_alive(false);

    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(request.max_response_bytes);
    beast::error_code result;
    bool timed_out = false;
    stream.expires_after(request.timeout);
    stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) {
      if (e) {
        result = e;
        return;
      }
      http::async_write(stream, req, [&](beast::error_code we, size_t) {
        if (we) {
          result = we;
          return;
        }
        http::async_read(stream, buffer, parser, [&](beast::error_code re, size_t) { result = re; });
      });
    });
    ioc.run();
    if (result == beast::error::timeout) timed_out = true;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    if (timed_out) {
      return Status::Timeout(what + ": no answer within " + std::to_string(request.timeout.count()) + " ms");
    }
    if (result) return Status::Unavailable(what + ": " + result.message());
    ClientResponse out;
    auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    for (const auto& h : res) out.headers[std::string(h.name_string())] = std::string(h.value());
    out.body = std::move(res.body());
    return out;
  }
};

}  // namespace

std::unique_ptr<HttpClient> NewHttpClient() { return std::make_unique<BeastHttpClient>(); }

}  // namespace galley::net
