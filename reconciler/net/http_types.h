// SPDX-License-Identifier: Apache-2.0
// HTTP request and response values independent of Beast, shared by the server, the client,
// the emulators and (later) galley's clients. Header names compare case-insensitively.
// Values; not synchronised.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace galley::net {

struct CaseInsensitiveLess {
  bool operator()(const std::string& a, const std::string& b) const;
};
using Headers = std::map<std::string, std::string, CaseInsensitiveLess>;

struct HttpRequest {
  std::string method;  // "GET", "PUT", ...
  std::string target;  // as sent: "/v2/apps?embed=apps.tasks"
  std::string path;    // percent-decoded path without the query: "/v2/apps"
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order, repeats kept
  Headers headers;
  std::string body;
  std::string remote_address;  // "127.0.0.1:53412"

  // The first value of a query parameter; nullopt when absent. "?recurse" gives "".
  std::optional<std::string> Query(std::string_view name) const;
  std::vector<std::string> QueryAll(std::string_view name) const;
  bool HasQuery(std::string_view name) const { return Query(name).has_value(); }
  std::string Header(const std::string& name) const;
};

// Sink for a streamed response body (server-sent events). Write returns false once the
// client has gone away or the server is stopping; the producer must then return.
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  virtual bool Write(std::string_view data) = 0;
  // True when the server is stopping or the peer closed; producers poll it between waits.
  virtual bool Done() const = 0;
};

struct HttpResponse {
  int status = 200;
  Headers headers;
  std::string body;
  // When set, the headers are sent and then `stream` writes the body until it returns;
  // the connection closes afterwards (the body is delimited by the close).
  std::function<void(StreamWriter&)> stream;
  // Fault injection: close the connection without answering.
  bool drop_connection = false;

  static HttpResponse Json(int status, std::string body);
  static HttpResponse Text(int status, std::string body,
                           std::string content_type = "text/plain; charset=utf-8");
};

// Percent-decodes `s` ('+' stays '+'; in a query use DecodeQueryComponent).
std::string PercentDecode(std::string_view s);
std::string DecodeQueryComponent(std::string_view s);
// Percent-encodes everything but unreserved characters (and '/' when keep_slash).
std::string PercentEncode(std::string_view s, bool keep_slash = false);
// Splits "a=1&b&c=%20" into decoded pairs.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query);

// The standard reason phrase ("Not Found") for a status code.
const char* ReasonPhrase(int status);

}  // namespace galley::net
