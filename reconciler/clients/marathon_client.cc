// SPDX-License-Identifier: Apache-2.0
#include "clients/marathon_client.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <utility>

#include "base/base64.h"
#include "base/strings.h"
#include "clients/http_support.h"
#include "clients/marathon_listing.h"

namespace galley::clients {
namespace {

using Json = nlohmann::json;
using internal::MakeStatus;

using internal::Field;
using internal::IntOf;
using internal::LiveAppFromJson;
using internal::StringOr;

// "/app/production/" or "/app/production" → "/app/production/"; "/" and "" → "/".
std::string GroupPrefix(std::string p) {
  if (p.empty() || p[0] != '/') p.insert(p.begin(), '/');
  if (p.back() != '/') p += '/';
  return p;
}

bool UnderAny(const std::string& id, const std::vector<std::string>& groups) {
  for (const std::string& g : groups) {
    if (g == "/" || StartsWith(id, g) || id + "/" == g) return true;
  }
  return false;
}

std::string AppPath(const std::string& id) {
  std::string canonical = id;
  if (canonical.empty() || canonical[0] != '/') canonical.insert(canonical.begin(), '/');
  while (canonical.size() > 1 && canonical.back() == '/') canonical.pop_back();
  return canonical;
}

// A sort key for Marathon timestamps: "…:48Z" and "…:48.343Z" compare by time.
std::string TimestampKey(const std::string& ts) {
  std::string base = ts, frac;
  if (!base.empty() && base.back() == 'Z') base.pop_back();
  if (size_t dot = base.find('.'); dot != std::string::npos) {
    frac = base.substr(dot + 1);
    base.resize(dot);
  }
  frac.resize(9, '0');
  return base + "." + frac;
}

// At most this many blocking deployment ids are named in a 409 message.
constexpr size_t kMaxNamedDeployments = 10;
// At most this many `details` entries of a 400/422 are summarised in a message.
constexpr size_t kMaxNamedDetails = 5;

// The ids in a 409 "App is locked" body: {"message": ..., "deployments": [{"id": ...}]}.
// The message itself says "<DEPLOYMENT_ID>" literally (marathon-api.md §3).
std::vector<std::string> BlockingDeployments(const Json& body) {
  std::vector<std::string> ids;
  const Json* deps = Field(body, "deployments");
  if (!deps || !deps->is_array()) return ids;
  for (const Json& d : *deps) {
    std::string id = StringOr(d, "id");
    if (!id.empty()) ids.push_back(std::move(id));
  }
  return ids;
}

// Marathon's `details` in short form: "/path: error, error; /other: error" for the 422 array
// (grouped by path), the parser's text for a 400's string; "" when absent.
std::string DetailsSummary(const Json& body) {
  const Json* details = Field(body, "details");
  if (!details) return "";
  if (details->is_string()) return internal::OneLine(details->get_ref<const std::string&>(), 200);
  if (!details->is_array()) return "";
  std::vector<std::string> parts;
  for (const Json& d : *details) {
    if (parts.size() == kMaxNamedDetails) {
      parts.push_back("and " + std::to_string(details->size() - kMaxNamedDetails) + " more");
      break;
    }
    std::string part = StringOr(d, "path", "/");
    std::vector<std::string> errors;
    if (const Json* errs = Field(d, "errors"); errs && errs->is_array()) {
      for (const Json& e : *errs) {
        if (e.is_string()) errors.push_back(e.get<std::string>());
      }
    }
    if (!errors.empty()) part += ": " + Join(errors, ", ");
    parts.push_back(std::move(part));
  }
  return internal::OneLine(Join(parts, "; "), 500);
}

// The request body for a write. nlohmann throws on strings that are not UTF-8; that is the
// caller's input, not a response, so it is reported as such.
Result<std::string> DumpBody(const Json& body) {
  try {
    return body.dump();
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("marathon: the app definition cannot be sent: ") +
                                   e.what());
  }
}

class HttpMarathonClient : public MarathonClient {
 public:
  HttpMarathonClient(const MarathonEndpoint& endpoint, net::HttpClient* http,
                     const MarathonClientOptions& options)
      : endpoint_(endpoint), http_(http), options_(options) {
    if (!endpoint_.token.empty()) {
      auth_ = "token=" + endpoint_.token;
    } else if (!endpoint_.basic_user.empty()) {
      auth_ = "Basic " + Base64Encode(endpoint_.basic_user + ":" + endpoint_.basic_password);
    }
  }

  Result<std::vector<model::LiveApp>> ListApps(const std::vector<std::string>& prefixes) override {
    return Guarded([&] { return DoListApps(prefixes); });
  }
  Result<model::LiveApp> GetApp(const std::string& id) override {
    return Guarded([&] { return DoGetApp(id); });
  }
  Result<std::vector<std::string>> ListVersions(const std::string& id) override {
    return Guarded([&] { return DoListVersions(id); });
  }
  Result<std::vector<MarathonDeployment>> ListDeployments() override {
    return Guarded([&] { return DoListDeployments(); });
  }
  Result<MarathonDeploymentResult> CreateApp(const nlohmann::json& body, bool force) override {
    return Guarded([&] { return DoCreateApp(body, force); });
  }
  Result<MarathonDeploymentResult> UpdateApp(const std::string& id, const nlohmann::json& body,
                                             bool force) override {
    return Guarded([&] { return DoUpdateApp(id, body, force); });
  }
  Result<MarathonDeploymentResult> ScaleApp(const std::string& id, int instances,
                                            bool force) override {
    return Guarded([&] { return DoScaleApp(id, instances, force); });
  }
  Result<MarathonDeploymentResult> DeleteApp(const std::string& id) override {
    return Guarded([&] { return DoDeleteApp(id); });
  }
  Result<MarathonDeploymentResult> RestartApp(const std::string& id, bool force) override {
    return Guarded([&] { return DoRestartApp(id, force); });
  }
  Result<MarathonDeploymentResult> CancelDeployment(const std::string& deployment_id) override {
    return Guarded([&] { return DoCancelDeployment(deployment_id); });
  }
  Result<nlohmann::json> GetAppVersion(const std::string& id, const std::string& version) override {
    return Guarded([&] { return DoGetAppVersion(id, version); });
  }
  int requests() const override { return requests_.load(); }

 private:
  // Keeps nlohmann's exceptions (none are expected: every access checks the type first)
  // from crossing the interface.
  template <typename F>
  static auto Guarded(F f) -> decltype(f()) {
    try {
      return f();
    } catch (const nlohmann::json::exception& e) {
      return Status::Internal(std::string("marathon: unexpected response shape: ") + e.what());
    }
  }

  Result<std::vector<model::LiveApp>> DoListApps(const std::vector<std::string>& prefixes) {
    ASSIGN_OR_RETURN(Reply reply,
                     Get("/v2/apps?embed=apps.tasks&embed=apps.deployments&embed=apps.counts"
                         "&embed=apps.lastTaskFailure",
                         "/v2/apps"));
    if (reply.status / 100 != 2) return reply.Error();
    std::vector<std::string> groups;
    for (const auto& p : prefixes) groups.push_back(GroupPrefix(p));
    ASSIGN_OR_RETURN(
        std::vector<model::LiveApp> out,
        internal::ParseAppListing(reply.body, reply.context, [&groups](const std::string& id) {
          return UnderAny(id, groups);
        }));
    std::sort(out.begin(), out.end(),
              [](const model::LiveApp& a, const model::LiveApp& b) { return a.id < b.id; });
    return out;
  }

  Result<model::LiveApp> DoGetApp(const std::string& id) {
    std::string app_id = AppPath(id);
    std::string path = "/v2/apps" + internal::EncodePath(app_id);
    ASSIGN_OR_RETURN(Reply reply,
                     Get(path + "?embed=app.tasks&embed=app.counts&embed=app.deployments"
                                "&embed=app.lastTaskFailure",
                         path));
    if (reply.AppMissing()) {
      return Status::NotFound("marathon: app '" + app_id + "' does not exist");
    }
    if (reply.status / 100 != 2) return reply.Error();
    ASSIGN_OR_RETURN(Json body, internal::ParseJsonBody(reply.body, reply.context));
    if (!body.is_object() || !body.contains("app")) {
      return Status::Unavailable(reply.context + ": unexpected response: no \"app\" object");
    }
    auto app = LiveAppFromJson(std::move(body));
    if (!app.ok()) {
      return Status::Unavailable(reply.context +
                                 ": unexpected response: " + app.status().message());
    }
    return app;
  }

  Result<std::vector<std::string>> DoListVersions(const std::string& id) {
    std::string app_id = AppPath(id);
    std::string path = "/v2/apps" + internal::EncodePath(app_id) + "/versions";
    ASSIGN_OR_RETURN(Reply reply, Get(path, path));
    if (reply.AppMissing()) {
      return Status::NotFound("marathon: app '" + app_id + "' does not exist");
    }
    if (reply.status / 100 != 2) return reply.Error();
    ASSIGN_OR_RETURN(Json body, internal::ParseJsonBody(reply.body, reply.context));
    const Json* versions = Field(body, "versions");
    if (!versions || !versions->is_array()) {
      return Status::Unavailable(reply.context + ": unexpected response: no \"versions\" array");
    }
    std::vector<std::pair<std::string, std::string>> keyed;
    for (const Json& v : *versions) {
      if (v.is_string()) {
        keyed.emplace_back(TimestampKey(v.get<std::string>()), v.get<std::string>());
      }
    }
    std::sort(keyed.begin(), keyed.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<std::string> out;
    out.reserve(keyed.size());
    for (auto& [key, v] : keyed) out.push_back(std::move(v));
    return out;
  }

  Result<std::vector<MarathonDeployment>> DoListDeployments() {
    ASSIGN_OR_RETURN(Reply reply, Get("/v2/deployments", "/v2/deployments"));
    if (reply.status / 100 != 2) return reply.Error();
    ASSIGN_OR_RETURN(Json body, internal::ParseJsonBody(reply.body, reply.context));
    if (!body.is_array()) {
      return Status::Unavailable(reply.context + ": unexpected response: not a JSON array");
    }
    std::vector<MarathonDeployment> out;
    for (const Json& d : body) {
      if (!d.is_object()) continue;
      MarathonDeployment dep;
      dep.id = StringOr(d, "id");
      dep.version = StringOr(d, "version");
      dep.current_step = IntOf(Field(d, "currentStep")).value_or(0);
      dep.total_steps = IntOf(Field(d, "totalSteps")).value_or(0);
      if (const Json* affected = Field(d, "affectedApps"); affected && affected->is_array()) {
        for (const Json& a : *affected) {
          if (a.is_string()) dep.affected_apps.push_back(a.get<std::string>());
        }
      }
      if (const Json* actions = Field(d, "currentActions"); actions && actions->is_array()) {
        for (const Json& a : *actions) {
          std::string action = StringOr(a, "action");
          if (!action.empty()) dep.current_actions.push_back(std::move(action));
        }
      }
      out.push_back(std::move(dep));
    }
    return out;
  }

  // Writes (DESIGN §7.2). Each answers Marathon's DeploymentResult; errors via Reply::Error.

  Result<MarathonDeploymentResult> DoCreateApp(const Json& body, bool force) {
    ASSIGN_OR_RETURN(std::string text, DumpBody(body));
    // Not idempotent: a second POST of the same app is a 409 "already exists", which the
    // caller handles; Send never repeats it once it may have reached a server.
    ASSIGN_OR_RETURN(Reply reply, Send("POST", force ? "/v2/apps?force=true" : "/v2/apps",
                                       "/v2/apps", &text, /*idempotent=*/false));
    if (reply.status / 100 != 2) return reply.Error();
    return ParseDeploymentResult(reply);
  }

  Result<MarathonDeploymentResult> DoUpdateApp(const std::string& id, const Json& body,
                                               bool force) {
    ASSIGN_OR_RETURN(std::string path, WritePath(id));
    // A definition read back (GetApp, GetAppVersion) carries the server's "version" and
    // "versionInfo". Next to other fields Marathon reads "version" as a rollback request and
    // refuses the whole PUT (422), so they are dropped; {"version": ts} alone (with or without
    // "id") is a rollback and is sent as it is.
    Json def = body;
    if (def.is_object() && def.contains("version")) {
      bool definition = false;
      for (auto it = def.begin(); it != def.end(); ++it) {
        definition =
            definition || (it.key() != "version" && it.key() != "versionInfo" && it.key() != "id");
      }
      if (definition) {
        def.erase("version");
        def.erase("versionInfo");
      }
    }
    ASSIGN_OR_RETURN(std::string text, DumpBody(def));
    ASSIGN_OR_RETURN(Reply reply,
                     Send("PUT", path + "?partialUpdate=false" + (force ? "&force=true" : ""), path,
                          &text, /*idempotent=*/true));
    if (reply.status / 100 != 2) return reply.Error();  // 201 when the PUT created the app
    return ParseDeploymentResult(reply);
  }

  Result<MarathonDeploymentResult> DoScaleApp(const std::string& id, int instances, bool force) {
    ASSIGN_OR_RETURN(std::string path, WritePath(id));
    // Merge semantics (partialUpdate defaults to true): only the instance count changes.
    std::string text = Json{{"instances", instances}}.dump();
    ASSIGN_OR_RETURN(Reply reply, Send("PUT", path + (force ? "?force=true" : ""), path, &text,
                                       /*idempotent=*/true));
    if (reply.status / 100 != 2) return reply.Error();
    return ParseDeploymentResult(reply);
  }

  Result<MarathonDeploymentResult> DoDeleteApp(const std::string& id) {
    ASSIGN_OR_RETURN(std::string path, WritePath(id));
    // force=false explicitly: this endpoint's server default is true, which would cancel a
    // running deployment of the app instead of refusing with 409.
    ASSIGN_OR_RETURN(Reply reply,
                     Send("DELETE", path + "?force=false", path, nullptr, /*idempotent=*/true));
    if (reply.AppMissing()) {
      return Status::NotFound("marathon: app '" + AppPath(id) + "' does not exist");
    }
    if (reply.status / 100 != 2) return reply.Error();
    return ParseDeploymentResult(reply);
  }

  Result<MarathonDeploymentResult> DoRestartApp(const std::string& id, bool force) {
    ASSIGN_OR_RETURN(std::string path, WritePath(id));
    path += "/restart";
    // Not idempotent: a repeated POST would replace the tasks twice.
    ASSIGN_OR_RETURN(Reply reply, Send("POST", path + (force ? "?force=true" : ""), path, nullptr,
                                       /*idempotent=*/false));
    if (reply.AppMissing()) {
      return Status::NotFound("marathon: app '" + AppPath(id) + "' does not exist");
    }
    if (reply.status / 100 != 2) return reply.Error();
    return ParseDeploymentResult(reply);
  }

  Result<MarathonDeploymentResult> DoCancelDeployment(const std::string& deployment_id) {
    if (deployment_id.empty()) {
      return Status::InvalidArgument("marathon: CancelDeployment needs a deployment id");
    }
    std::string path = "/v2/deployments/" + net::PercentEncode(deployment_id);
    // Without force: Marathon cancels and starts the deployment that reverts the changes.
    ASSIGN_OR_RETURN(Reply reply, Send("DELETE", path, path, nullptr, /*idempotent=*/true));
    // "DeploymentPlan <id> does not exist": it finished (or never was).
    if (reply.status == 404 && reply.Says("does not exist")) {
      return Status::NotFound("marathon: deployment '" + deployment_id + "' does not exist");
    }
    if (reply.status / 100 != 2) return reply.Error();
    return ParseDeploymentResult(reply);
  }

  Result<Json> DoGetAppVersion(const std::string& id, const std::string& version) {
    ASSIGN_OR_RETURN(std::string app_path, WritePath(id));
    if (version.empty()) return Status::InvalidArgument("marathon: GetAppVersion needs a version");
    // "2015-09-25T15:13:48.343Z": ':' is a legal path character and is sent as it is, as
    // Marathon's own clients do; anything else unusual is percent-encoded.
    std::string encoded = net::PercentEncode(version);
    for (size_t at = encoded.find("%3A"); at != std::string::npos; at = encoded.find("%3A", at)) {
      encoded.replace(at, 3, ":");
    }
    std::string path = app_path + "/versions/" + encoded;
    ASSIGN_OR_RETURN(Reply reply, Send("GET", path, path, nullptr, /*idempotent=*/true));
    if (reply.AppMissing()) {
      // "App '/x' does not exist in version <ts>" or "App '/x' does not exist".
      std::string app_id = AppPath(id);
      if (reply.Says(" in version ")) {
        return Status::NotFound("marathon: app '" + app_id + "' does not exist in version " +
                                version);
      }
      return Status::NotFound("marathon: app '" + app_id + "' does not exist");
    }
    if (reply.status / 100 != 2) return reply.Error();
    ASSIGN_OR_RETURN(Json body, internal::ParseJsonBody(reply.body, reply.context));
    if (!body.is_object() || !body.contains("id")) {
      return Status::Unavailable(reply.context + ": unexpected response: not an app definition");
    }
    return body;
  }

  // "/v2/apps/app/production/web" for an app id ("app/production/web" means the same).
  static Result<std::string> WritePath(const std::string& id) {
    std::string app_id = AppPath(id);
    if (app_id == "/") return Status::InvalidArgument("marathon: an app id is needed");
    return "/v2/apps" + internal::EncodePath(app_id);
  }

  // An HTTP answer from one of the URLs.
  struct Reply {
    int status = 0;
    net::Headers headers;
    std::string body;
    std::string context;  // "marathon http://m1:8080: GET /v2/apps"

    std::string Header(const std::string& name) const {
      auto it = headers.find(name);
      return it == headers.end() ? "" : it->second;
    }
    // Whether Marathon's message contains `text`.
    bool Says(const char* text) const {
      return internal::ErrorBodySummary(body, /*json_message=*/true).find(text) !=
             std::string::npos;
    }
    // Marathon's own "App '/x' does not exist" (a 404 from a wrong base URL says "URI not
    // found" or is HTML, and is reported as the HTTP error it is).
    bool AppMissing() const { return status == 404 && Says("does not exist"); }

    // The status for a non-2xx answer: "<context>: <status line>: <message>[ <extra>]", coded
    // by CodeForHttpStatus except where Marathon's body says more (marathon-api.md §3).
    Status Error() const {
      std::string msg = context + ": " + internal::StatusLine(status);
      std::string detail = internal::ErrorBodySummary(body, /*json_message=*/true);
      StatusCode code = internal::CodeForHttpStatus(status);
      if (status == 409 || status == 400 || status == 422) {
        Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
        if (status == 409) {
          // "An app with id [/x] already exists." (POST), "App is locked by one or more
          // deployments ... '/v2/deployments/<DEPLOYMENT_ID>'." with the real ids beside it.
          if (detail.find("already exists") != std::string::npos) {
            code = StatusCode::kAlreadyExists;
          }
          std::vector<std::string> ids = BlockingDeployments(j);
          if (ids.size() > kMaxNamedDeployments) {
            size_t more = ids.size() - kMaxNamedDeployments;
            ids.resize(kMaxNamedDeployments);
            ids.push_back("and " + std::to_string(more) + " more");
          }
          if (!ids.empty()) detail += " (deployments: " + Join(ids, ", ") + ")";
        } else if (Field(j, "message")) {
          std::string details = DetailsSummary(j);
          if (!details.empty()) detail += (detail.empty() ? "" : ": ") + details;
        }
      } else if ((status == 403 || status == 429) &&
                 detail.find("of running deployments") != std::string::npos) {
        // "Max number (100) of running deployments is achieved. ...": a limit, not a refusal
        // of these credentials; the caller backs off and tries again.
        code = StatusCode::kResourceExhausted;
      }
      if (!detail.empty()) msg += ": " + detail;
      return MakeStatus(code, std::move(msg));
    }
  };

  // A DeploymentResult {"deploymentId", "version"}, or the app a POST created (its "version"
  // and "deployments": [{"id"}]); the Marathon-Deployment-Id header, which every change sets,
  // names the deployment when present.
  static Result<MarathonDeploymentResult> ParseDeploymentResult(const Reply& reply) {
    ASSIGN_OR_RETURN(Json body, internal::ParseJsonBody(reply.body, reply.context));
    if (!body.is_object()) {
      return Status::Unavailable(reply.context + ": unexpected response: not a JSON object");
    }
    MarathonDeploymentResult out;
    out.version = StringOr(body, "version");
    out.deployment_id = reply.Header("Marathon-Deployment-Id");
    if (out.deployment_id.empty()) out.deployment_id = StringOr(body, "deploymentId");
    if (out.deployment_id.empty()) {
      if (const Json* deps = Field(body, "deployments");
          deps && deps->is_array() && !deps->empty()) {
        out.deployment_id = StringOr((*deps)[0], "id");
      }
    }
    if (out.version.empty()) {
      return Status::Unavailable(reply.context + ": unexpected response: no \"version\"");
    }
    if (out.deployment_id.empty()) {
      return Status::Unavailable(reply.context + ": unexpected response: no deployment id");
    }
    return out;
  }

  Result<Reply> Get(const std::string& target, const std::string& shown) {
    return Send("GET", target, shown, nullptr, /*idempotent=*/true);
  }

  // Sends `method` `target` (path and query) with failover; `shown` is the path errors
  // mention; `body`, when not null, is sent as JSON. An idempotent request moves on to the
  // next URL after a transport failure (kUnavailable, kTimeout) or a 502/503/504. One that is
  // not (POST) moves on only when it certainly reached no server (refused, not resolved, not
  // connected in time): any answer, and any failure after it may have been sent, is final —
  // a second server could otherwise apply it twice.
  Result<Reply> Send(const std::string& method, const std::string& target, const std::string& shown,
                     const std::string* body, bool idempotent) {
    const size_t n = endpoint_.urls.size();
    if (n == 0) return Status::InvalidArgument("marathon: no URL configured");
    net::ClientRequest req;
    req.method = method;
    req.timeout = options_.timeout;
    req.max_response_bytes = options_.max_response_bytes;
    req.headers["Accept"] = "application/json";
    if (body) {
      req.body = *body;
      req.headers["Content-Type"] = "application/json";
    }
    if (!auth_.empty()) req.headers["Authorization"] = auth_;
    // Lets a retrying transport repeat it; a POST keeps the method's default (never after it
    // may have been sent).
    if (idempotent) internal::MarkIdempotent(req);

    const size_t start = preferred_.load() % n;
    std::vector<std::string> failures;
    Status last;
    std::optional<Reply> gateway_reply;  // the last 502/503/504, answered when nothing better does
    for (size_t i = 0; i < n; ++i) {
      const size_t idx = (start + i) % n;
      const std::string& base = endpoint_.urls[idx];
      std::string context = "marathon " + base + ": " + method + " " + shown;
      req.url = base + target;
      ++requests_;
      net::SendFailure failure;
      auto r = http_->SendDetailed(req, &failure);
      if (r.ok()) {
        // 502/503/504 mean "not this one now" (a master without a leader, a proxy in front of
        // a dead one): try the next URL. Any other answer, errors included, is final, and so
        // is every answer to a request that is not idempotent.
        bool gateway = r->status == 502 || r->status == 503 || r->status == 504;
        if (!gateway) preferred_.store(idx);
        Reply reply{r->status, std::move(r->headers), std::move(r->body), std::move(context)};
        if (!gateway || !idempotent) return reply;
        failures.push_back(reply.context + ": " + std::to_string(reply.status));
        gateway_reply = std::move(reply);
        continue;
      }
      Status failed = MakeStatus(r.status().code(),
                                 context + ": " + internal::TransportDetail(r.status(), req));
      if (r.status().code() != StatusCode::kUnavailable &&
          r.status().code() != StatusCode::kTimeout)
        return failed;
      if (!idempotent && failure.request_may_have_been_sent) return failed;
      failures.push_back(failed.message());
      last = failed;
    }
    if (gateway_reply) return std::move(*gateway_reply);
    if (n == 1) return last;
    return MakeStatus(last.code(), "marathon: no URL answered: " + Join(failures, "; "));
  }

  const MarathonEndpoint endpoint_;
  net::HttpClient* const http_;
  const MarathonClientOptions options_;
  std::string auth_;  // the Authorization header value, "" for none
  std::atomic<size_t> preferred_{0};
  std::atomic<int> requests_{0};
};

}  // namespace

Result<model::LiveApp> ParseMarathonApp(const nlohmann::json& app) {
  try {
    return LiveAppFromJson(app);
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("marathon app: ") + e.what());
  }
}

std::unique_ptr<MarathonClient> NewMarathonClient(const MarathonEndpoint& endpoint,
                                                  net::HttpClient* http) {
  return NewMarathonClient(endpoint, http, MarathonClientOptions{});
}

std::unique_ptr<MarathonClient> NewMarathonClient(const MarathonEndpoint& endpoint,
                                                  net::HttpClient* http,
                                                  const MarathonClientOptions& options) {
  return std::make_unique<HttpMarathonClient>(endpoint, http, options);
}

}  // namespace galley::clients
