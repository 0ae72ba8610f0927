// SPDX-License-Identifier: Apache-2.0
// The HTTP router of `galley serve`: method + path → a plain net::HttpHandler. A route is an
// exact path ("/api/v1/plan") or a prefix ("/ui/", matching everything under it); the
// longest match wins, exact before prefix. A path no route matches is 404; a path that
// matches with another method is 405 with `Allow`. Method "*" matches any method. Also the
// bearer-token check of the write endpoints, compared in constant time (ConstantTimeEquals,
// server/webhooks.h).
// Thread-safe: routes are added before serving (Add is not synchronised with Handle); Handle
// is called concurrently.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_server.h"
#include "net/http_types.h"

namespace galley::server {

class Router {
 public:
  // `path` ending in '/' (other than "/" itself) or `prefix` true: every path under it.
  void Add(std::string method, std::string path, net::HttpHandler handler, bool prefix = false);
  net::HttpResponse Handle(const net::HttpRequest& request) const;
  // The routes, "GET /api/v1/plan", in the order added (for the log at start).
  std::vector<std::string> Describe() const;

 private:
  struct Route {
    std::string method, path;
    bool prefix = false;
    net::HttpHandler handler;
  };
  std::vector<Route> routes_;
};

// The write endpoints' guard: nullopt when `request` carries "Authorization: Bearer <token>"
// for `token`; else 403 when no token is configured (write endpoints disabled), 401 without
// bearer credentials (`WWW-Authenticate: Bearer`), 403 for a wrong token.
std::optional<net::HttpResponse> CheckBearer(const net::HttpRequest& request,
                                             const std::string& token);

// {"error": message} with `status`.
net::HttpResponse JsonError(int status, const std::string& message);

}  // namespace galley::server
