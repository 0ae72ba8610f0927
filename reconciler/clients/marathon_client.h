// SPDX-License-Identifier: Apache-2.0
// MarathonClient: the calls galley makes to Marathon's REST API v2. The interface is what the
// engine depends on; NewMarathonClient returns the HTTP implementation over net::HttpClient,
// which fails over across the endpoint's URLs (a URL that refuses, times out or answers
// 502/503/504 is skipped; any other HTTP answer, even an error, is final), adds authentication, and
// turns Marathon's error bodies into Status messages naming the endpoint ("marathon http://m1:8080:
// GET /v2/apps: 503 ..."). Observation uses one list call with embedded tasks and deployments, so
// the number of requests does not grow with the number of apps (DESIGN §7.5). Details of the HTTP
// implementation:
//   - Auth: "Authorization: token=<token>" when the endpoint has a token, else
//     "Authorization: Basic ..." when it has a user.
//   - Idempotency: GET, PUT and DELETE requests are marked idempotent (a retrying transport
//     may repeat them); POST /v2/apps and POST /v2/apps/{id}/restart are not.
//   - Failover: URLs are tried in order starting from the one that last answered. For an
//     idempotent request a transport failure (kUnavailable, kTimeout) or a 502/503/504 moves
//     on, any other HTTP answer is final. A POST moves on only when it certainly reached no
//     server (connection refused, name not resolved, not connected in time); any answer to
//     it, 503 included, and any failure after it may have been sent are final. When every URL
//     fails, the error lists each URL's failure and keeps the last one's code.
//   - Errors: 401/403 kPermissionDenied, 404 kNotFound, 409 kConflict, 400/422
//     kInvalidArgument, 5xx kUnavailable, a body that is not JSON kUnavailable
//     ("...: invalid JSON in response (byte N): ..."); every message starts with
//     "marathon <url>: <METHOD> <path>: ". Refinements from Marathon's body: 409 "... already
//     exists." kAlreadyExists; 409 "App is locked ..." ends with " (deployments: <id>, ...)";
//     403/429 "Max number (N) of running deployments ..." kResourceExhausted; 400/422 append
//     their `details` ("Object is not valid: /path: error, error; /other: error").
//   - GetApp/ListVersions/DeleteApp/GetAppVersion: kNotFound "marathon: app '/x' does not
//     exist" (GetAppVersion: "... does not exist in version <ts>" when only the version is
//     unknown) when Marathon says so; a 404 of another kind (a wrong base URL) is reported as
//     the HTTP error it is. CancelDeployment: kNotFound "marathon: deployment '<id>' does not
//     exist".
//   - UpdateApp drops "version" and "versionInfo" from a body with other fields (a
//     definition read back by GetApp/GetAppVersion), which Marathon would take for a rollback
//     request and refuse; {"version": ts} alone is sent as it is (Marathon's rollback).
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
  std::vector<std::string> current_actions;  // "ScaleApplication", ... (currentActions[].action)
};

// What a state-changing call returns (Marathon's DeploymentResult, or the deployment of a
// POST's answer): the deployment that carries the change and the app's new version.
struct MarathonDeploymentResult {
  std::string deployment_id;
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
  virtual Result<std::vector<model::LiveApp>> ListApps(
      const std::vector<std::string>& prefixes) = 0;
  // One app; kNotFound when Marathon answers 404.
  virtual Result<model::LiveApp> GetApp(const std::string& id) = 0;
  // The app's stored versions, newest first.
  virtual Result<std::vector<std::string>> ListVersions(const std::string& id) = 0;
  virtual Result<std::vector<MarathonDeployment>> ListDeployments() = 0;

  // Writes (DESIGN §7.2). Errors: 409 "App is locked by one or more deployments" →
  // kConflict whose message names the blocking deployment ids (from `deployments[]`); 403/429
  // "Max number (N) of running deployments" → kResourceExhausted (back off and retry);
  // 400/422 → kInvalidArgument with Marathon's message and its `details` paths.
  // POST /v2/apps[?force=true]. 409 "already exists" → kAlreadyExists. Not retried after
  // the request may have reached the server (not idempotent).
  virtual Result<MarathonDeploymentResult> CreateApp(const nlohmann::json& body, bool force) = 0;
  // PUT /v2/apps/{id}?partialUpdate=false[&force=true] with the whole definition. Idempotent.
  virtual Result<MarathonDeploymentResult> UpdateApp(const std::string& id,
                                                     const nlohmann::json& body, bool force) = 0;
  // PUT /v2/apps/{id}[?force=true] with {"instances": N} (merge semantics). Idempotent.
  virtual Result<MarathonDeploymentResult> ScaleApp(const std::string& id, int instances,
                                                    bool force) = 0;
  // DELETE /v2/apps/{id}?force=false (Marathon's default for this call is true; galley
  // never forces a delete). kNotFound when the app is already gone. Idempotent.
  virtual Result<MarathonDeploymentResult> DeleteApp(const std::string& id) = 0;
  // POST /v2/apps/{id}/restart[?force=true]: Marathon keeps the definition and replaces every
  // task per the app's upgradeStrategy (one RestartApplication deployment). kNotFound when
  // the app does not exist. Not idempotent (never repeated once it may have been sent).
  virtual Result<MarathonDeploymentResult> RestartApp(const std::string& id, bool force) = 0;
  // DELETE /v2/deployments/{id} without force: Marathon cancels it and starts a deployment
  // that reverts its changes (returned). kNotFound when it already finished.
  virtual Result<MarathonDeploymentResult> CancelDeployment(const std::string& deployment_id) = 0;
  // GET /v2/apps/{id}/versions/{version}: the bare app definition as it was.
  virtual Result<nlohmann::json> GetAppVersion(const std::string& id,
                                               const std::string& version) = 0;
  // Requests made so far (for tests and the benchmark's request count).
  virtual int requests() const = 0;
};

// Converts one element of a /v2/apps (or {"app": ...}) response into a LiveApp: the body
// without tasks/deployments/counts/lastTaskFailure/readinessCheckResults/tasksStats, the
// tokens and the tasks. Accepts 1.4 and 1.5+ shapes. Exposed for tests of the samples.
Result<model::LiveApp> ParseMarathonApp(const nlohmann::json& app);

// `http` must outlive the client.
std::unique_ptr<MarathonClient> NewMarathonClient(const MarathonEndpoint& endpoint,
                                                  net::HttpClient* http);

struct MarathonClientOptions {
  std::chrono::milliseconds timeout{10000};  // per request attempt (each URL tried gets its own)
  size_t max_response_bytes = 256u << 20;    // a /v2/apps list of 10,000 apps with tasks fits
};
std::unique_ptr<MarathonClient> NewMarathonClient(const MarathonEndpoint& endpoint,
                                                  net::HttpClient* http,
                                                  const MarathonClientOptions& options);

}  // namespace galley::clients
