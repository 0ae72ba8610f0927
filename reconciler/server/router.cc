// SPDX-License-Identifier: Apache-2.0
#include "server/router.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "base/strings.h"
#include "server/webhooks.h"

namespace galley::server {

void Router::Add(std::string method, std::string path, net::HttpHandler handler, bool prefix) {
  if (path.size() > 1 && path.back() == '/') prefix = true;
  routes_.push_back({std::move(method), std::move(path), prefix, std::move(handler)});
}

net::HttpResponse Router::Handle(const net::HttpRequest& request) const {
  const Route* best = nullptr;
  bool path_matched = false;
  std::string allow;
  auto better = [](const Route* a, const Route& b) {
    if (!a) return true;
    if (a->prefix != b.prefix) return !b.prefix;  // exact beats prefix
    return b.path.size() >= a->path.size();       // a tie: the route added last (Mount replaces)
  };
  for (const auto& r : routes_) {
    bool match = r.prefix ? StartsWith(request.path, r.path) : request.path == r.path;
    if (!match) continue;
    path_matched = true;
    bool method_ok = r.method == "*" || r.method == request.method ||
                     (request.method == "HEAD" && r.method == "GET");
    if (!method_ok) {
      if (allow.find(r.method) == std::string::npos)
        allow += (allow.empty() ? "" : ", ") + r.method;
      continue;
    }
    if (better(best, r)) best = &r;
  }
  if (best) return best->handler(request);
  if (path_matched) {
    net::HttpResponse r = JsonError(405, request.method + " is not allowed on " + request.path);
    r.headers["Allow"] = allow;
    return r;
  }
  return JsonError(404, "no such endpoint: " + request.path);
}

std::vector<std::string> Router::Describe() const {
  std::vector<std::string> out;
  for (const auto& r : routes_) out.push_back(r.method + " " + r.path + (r.prefix ? "*" : ""));
  return out;
}

std::optional<net::HttpResponse> CheckBearer(const net::HttpRequest& request,
                                             const std::string& token) {
  if (token.empty()) {
    return JsonError(403, "write endpoints are disabled: the server has no GALLEY_API_TOKEN");
  }
  std::string auth = request.Header("Authorization");
  static constexpr std::string_view kScheme = "bearer ";
  bool scheme_ok = auth.size() > kScheme.size();
  for (size_t i = 0; scheme_ok && i < kScheme.size(); ++i) {
    scheme_ok = std::tolower(static_cast<unsigned char>(auth[i])) == kScheme[i];
  }
  if (!scheme_ok) {
    net::HttpResponse r = JsonError(401, "this endpoint needs Authorization: Bearer <token>");
    r.headers["WWW-Authenticate"] = "Bearer";
    return r;
  }
  if (!ConstantTimeEquals(auth.substr(kScheme.size()), token)) {
    return JsonError(403, "the token is not valid");
  }
  return std::nullopt;
}

net::HttpResponse JsonError(int status, const std::string& message) {
  return net::HttpResponse::Json(status, nlohmann::json{{"error", message}}.dump() + "\n");
}

}  // namespace galley::server
