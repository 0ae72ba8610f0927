// SPDX-License-Identifier: Apache-2.0
// MarathonClient: the calls galley makes to Marathon's REST API v2. The interface is what the
// engine depends on; NewMarathonClient returns the HTTP implementation over net::HttpClient,
// which fails over across the endpoint's URLs (a URL that refuses, times out or answers
// 502/503/504 is skipped; any other HTTP answer, even an error, is final), adds authentication, and turns Marathon's error
// bodies into Status messages naming the endpoint ("marathon http://m1:8080: GET /v2/apps:
// 503 ..."). Observation uses one list call with embedded tasks and deployments, so the
// number of requests does not grow with the number of apps (DESIGN §7.5).
// Details of the HTTP implementation:
//   - GET only (every call is idempotent). Auth: "Authorization: token=<token>" when the
//     endpoint has a token, else "Authorization: Basic ..." when it has a user.
//   - Failover: URLs are tried in order starting from the one that last answered; a
//     transport failure (kUnavailable, kTimeout) moves on, any HTTP answer is final. When
//     every URL fails, the error lists each URL's failure and keeps the last one's code.
//   - Errors: 401/403 kPermissionDenied, 404 kNotFound, 409 kConflict, 400/422
//     kInvalidArgument, 5xx kUnavailable, a body that is not JSON kUnavailable
//     ("...: invalid JSON in response (byte N): ..."); every message starts with
//     "marathon <url>: <METHOD> <path>: ".
//   - GetApp/ListVersions: kNotFound "marathon: app '/x' does not exist" when Marathon says
//     so; a 404 of another kind (a wrong base URL) is reported as the HTTP error it is.
//   - requests() counts attempts, failed ones included.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "clients/endpoints.h"
#include "model/live_state.h"
#include "net/http_client.h"

namespace galley::clients {

struct MarathonDeployment {
  std::string id;
  std::vector<std::string> affected_apps;
  int current_step = 0;
  int total_steps = 0;
  std::string version;
};

class MarathonClient {
 public:
  virtual ~MarathonClient() = default;
  // Every app under one of `prefixes` ("/app/production/"; "/app/production" means the same
  // group: the id itself or anything below it; "/" is every app; no prefixes, no apps),
  // sorted by id, with tasks, counts and deployments: one
  // GET /v2/apps?embed=apps.tasks&embed=apps.deployments&... (filtered client-side;
  // Marathon's `id` filter is a substring match).
  virtual Result<std::vector<model::LiveApp>> ListApps(const std::vector<std::string>& prefixes) = 0;
  // One app; kNotFound when Marathon answers 404.
  virtual Result<model::LiveApp> GetApp(const std::string& id) = 0;
  // The app's stored versions, newest first.
  virtual Result<std::vector<std::string>> ListVersions(const std::string& id) = 0;
  virtual Result<std::vector<MarathonDeployment>> ListDeployments() = 0;
  // Requests made so far (for tests and the benchmark's request count).
  virtual int requests() const = 0;
};

// Converts one element of a /v2/apps (or {"app": ...}) response into a LiveApp: the body
// without tasks/deployments/counts/lastTaskFailure/readinessCheckResults/tasksStats, the
// tokens and the tasks. Accepts 1.4 and 1.5+ shapes. Exposed for tests of the samples.
Result<model::LiveApp> ParseMarathonApp(const nlohmann::json& app);

// `http` must outlive the client.
std::unique_ptr<MarathonClient> NewMarathonClient(const MarathonEndpoint& endpoint, net::HttpClient* http);

struct MarathonClientOptions {
  std::chrono::milliseconds timeout{10000};  // per request attempt (each URL tried gets its own)
  size_t max_response_bytes = 256u << 20;    // a /v2/apps list of 10,000 apps with tasks fits
};
std::unique_ptr<MarathonClient> NewMarathonClient(const MarathonEndpoint& endpoint,
                                                  net::HttpClient* http,
                                                  const MarathonClientOptions& options);

}  // namespace galley::clients
