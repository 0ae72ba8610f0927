// SPDX-License-Identifier: Apache-2.0
// Routing, auth and the non-app routes of the Marathon emulator (see emulator_impl.h).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>

#include "base/base64.h"
#include "sandbox/marathon/emulator_impl.h"
#include "sandbox/marathon/path_id.h"

namespace galley::sandbox::marathon {
namespace {

constexpr char kFrameworkId[] = "0e9a6c45-5f2a-4a4e-9d60-9b1b1b2d0a11-0000";
constexpr char kVersion[] = "1.8.232";

net::HttpResponse NotFoundRoute() { return Error(500, "URI not found"); }

std::string ClientIp(const net::HttpRequest& req) {
  return req.remote_address.substr(0, req.remote_address.rfind(':'));
}

}  // namespace

net::HttpResponse MarathonEmulatorImpl::Handle(const net::HttpRequest& req) {
  if (stopped_.load()) return Error(503, "Marathon emulator is stopping");
  if (req.path.rfind("/_sandbox/", 0) != 0 && !Authorised(req)) {
    auto r = net::HttpResponse::Text(
        401,
        "<html>\n<head>\n<meta http-equiv=\"Content-Type\" "
        "content=\"text/html;charset=ISO-8859-1\"/>\n"
        "<title>Error 401 Unauthorized</title>\n</head>\n<body><h2>HTTP ERROR 401</h2>\n"
        "<p>Problem accessing " +
            req.path + ". Reason:\n<pre>    Unauthorized</pre></p>\n</body>\n</html>\n",
        "text/html;charset=ISO-8859-1");
    r.headers["WWW-Authenticate"] = "basic realm=\"Mesosphere\"";
    return r;
  }
  try {
    auto resp = Route(req);
    resp.headers["X-Marathon-Leader"] =
        "http://" + options_.hostname + ":" + std::to_string(options_.http_port);
    return resp;
  } catch (const std::exception& e) {
    return Error(500, std::string("internal error in the Marathon emulator: ") + e.what());
  }
}

bool MarathonEmulatorImpl::Authorised(const net::HttpRequest& req) const {
  if (options_.http_credentials.empty()) return true;
  std::string auth = req.Header("Authorization");
  if (auth.size() < 6) return false;
  std::string scheme = auth.substr(0, 6);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (scheme != "basic ") return false;
  auto decoded = galley::Base64Decode(auth.substr(6));
  return decoded.ok() && *decoded == options_.http_credentials;
}

net::HttpResponse MarathonEmulatorImpl::Route(const net::HttpRequest& req) {
  std::vector<std::string> segs = IdSegments(req.path);
  const std::string& m = req.method;
  if (segs.size() == 1 && segs[0] == "ping") {
    if (m != "GET" && m != "HEAD") return Error(405, "HTTP 405 Method Not Allowed");
    std::string accept = req.Header("Accept");
    bool json_only = accept.find("application/json") != std::string::npos &&
                     accept.find("text/plain") == std::string::npos &&
                     accept.find("*/*") == std::string::npos;
    if (json_only) return RawJson(200, "\"pong\"");
    return net::HttpResponse::Text(200, "pong", "text/plain");
  }
  if (segs.size() == 1 && segs[0] == "metrics" && m == "GET") {
    std::lock_guard<std::mutex> lock(mu_);
    return JsonResponse(200, {{"version", "4.0.0"},
                              {"gauges",
                               {{"apps", {{"value", apps_.size()}}},
                                {"tasks", {{"value", tasks_.size()}}},
                                {"deployments", {{"value", deployments_.size()}}}}},
                              {"counters", Json::object()},
                              {"histograms", Json::object()},
                              {"meters", Json::object()},
                              {"timers", Json::object()}});
  }
  if (segs.size() >= 2 && segs[0] == "_sandbox" && segs[1] == "marathon")
    return HandleAdmin(req, segs);
  if (segs.size() < 2 || segs[0] != "v2") return NotFoundRoute();
  const std::string& what = segs[1];
  if (what == "apps") return HandleApps(req, segs);
  if (what == "tasks") return HandleTasks(req, segs);
  if (what == "deployments") return HandleDeployments(req, segs);
  if (what == "groups") return HandleGroups(req, segs);
  if (what == "events" && segs.size() == 2) return HandleEvents(req);
  if (what == "info" && segs.size() == 2 && m == "GET") return HandleInfo();
  if (what == "leader" && segs.size() == 2) {
    if (m == "GET")
      return JsonResponse(
          200, {{"leader", options_.hostname + ":" + std::to_string(options_.http_port)}});
    if (m == "DELETE") return JsonResponse(200, {{"message", "Leadership abdicated"}});
    return Error(405, "HTTP 405 Method Not Allowed");
  }
  if (what == "queue") {
    if (segs.size() == 2 && m == "GET") return JsonResponse(200, {{"queue", Json::array()}});
    if (segs.size() >= 4 && segs.back() == "delay" && m == "DELETE") {
      std::vector<std::string> mid(segs.begin() + 2, segs.end() - 1);
      std::string id;
      for (const auto& s : mid) id += "/" + s;
      std::lock_guard<std::mutex> lock(mu_);
      auto it = apps_.find(CanonicalId(id));
      if (it == apps_.end()) return Error(404, "App '" + CanonicalId(id) + "' does not exist");
      it->second.backoff_ms = 0;
      it->second.next_launch_ms = 0;
      dirty_apps_.insert(it->first);
      Wake();
      net::HttpResponse r;
      r.status = 204;
      return r;
    }
    return NotFoundRoute();
  }
  if (what == "eventSubscriptions" && segs.size() == 2) {
    if (m == "GET") return JsonResponse(200, {{"callbackUrls", Json::array()}});
    return Error(
        400,
        "http event callback system is not running on this Marathon instance. Please re-start this "
        "instance with \"--event_subscriber http_callback\".");
  }
  return NotFoundRoute();
}

net::HttpResponse MarathonEmulatorImpl::HandleInfo() {
  std::string leader = options_.hostname + ":" + std::to_string(options_.http_port);
  Json config = {{"access_control_allow_origin", Json::array()},
                 {"checkpoint", true},
                 {"decline_offer_duration", 120000},
                 {"default_network_name", "container-network"},
                 {"env_vars_prefix", ""},
                 {"executor", "//cmd"},
                 {"failover_timeout", 604800},
                 {"features", Json::array()},
                 {"framework_name", "marathon"},
                 {"ha", false},
                 {"hostname", options_.hostname},
                 {"launch_token", 100},
                 {"launch_token_refresh_interval", 30000},
                 {"leader_proxy_connection_timeout_ms", 5000},
                 {"leader_proxy_read_timeout_ms", 10000},
                 {"local_port_max", options_.last_service_port},
                 {"local_port_min", options_.first_service_port},
                 {"master", "galley-sandbox"},
                 {"max_instances_per_offer", 5},
                 {"mesos_bridge_name", "mesos-bridge"},
                 {"mesos_heartbeat_failure_threshold", 5},
                 {"mesos_heartbeat_interval", 15000},
                 {"mesos_leader_ui_url", ""},
                 {"mesos_role", "*"},
                 {"mesos_user", "root"},
                 {"min_revive_offers_interval", 5000},
                 {"offer_matching_timeout", 3000},
                 {"on_elected_prepare_timeout", 180000},
                 {"reconciliation_initial_delay", 15000},
                 {"reconciliation_interval", 600000},
                 {"scale_apps_initial_delay", 15000},
                 {"scale_apps_interval", 300000},
                 {"store_cache", true},
                 {"task_launch_confirm_timeout", 300000},
                 {"task_launch_timeout", 300000},
                 {"task_lost_expunge_initial_delay", 300000},
                 {"task_lost_expunge_interval", 30000},
                 {"task_reservation_timeout", 20000},
                 {"webui_url", "http://" + leader}};
  Json zk = {{"zk", "zk://localhost:2181/marathon"}, {"zk_compression", true},
             {"zk_compression_threshold", 65536},    {"zk_connection_timeout", 10000},
             {"zk_max_node_size", 1024000},          {"zk_max_versions", 50},
             {"zk_session_timeout", 10000},          {"zk_timeout", 10000}};
  return JsonResponse(200,
                      {{"name", "marathon"},
                       {"version", kVersion},
                       {"buildref", "galley-sandbox"},
                       {"elected", true},
                       {"leader", leader},
                       {"frameworkId", kFrameworkId},
                       {"marathon_config", config},
                       {"zookeeper_config", zk},
                       {"http_config", {{"http_port", options_.http_port}, {"https_port", 8443}}}});
}

net::HttpResponse MarathonEmulatorImpl::HandleTasks(const net::HttpRequest& req,
                                                    const std::vector<std::string>& segs) {
  if (segs.size() == 2 && req.method == "GET") {
    std::set<std::string> states;
    for (const char* name : {"status", "status[]"}) {
      for (const auto& v : req.QueryAll(name)) {
        if (v == "running") states.insert("TASK_RUNNING");
        if (v == "staging") states.insert("TASK_STAGING");
      }
    }
    Pieces pieces;
    pieces.push_back(std::make_shared<const std::string>("{\"tasks\":["));
    {
      std::lock_guard<std::mutex> lock(mu_);
      bool first = true;
      for (const auto& [app_id, ids] : tasks_by_app_) {
        auto app = apps_.find(app_id);
        for (const auto& tid : ids) {
          auto t = tasks_.find(tid);
          if (t == tasks_.end()) continue;
          if (!states.empty()) {
            const char* s =
                MesosStateName(t->second.kill_requested ? TaskState::kKilling : t->second.state);
            if (!states.count(s)) continue;
          }
          if (!first) pieces.push_back(std::make_shared<const std::string>(","));
          first = false;
          pieces.push_back(TaskJsonOf(t->second, app == apps_.end() ? nullptr : &app->second));
        }
      }
    }
    pieces.push_back(std::make_shared<const std::string>("]}"));
    return RawJson(200, Concat(pieces));
  }
  if (segs.size() == 3 && segs[2] == "delete" && req.method == "POST") {
    Json body;
    if (NestedDeeperThan(req.body, kMaxJsonDepth)) return TooDeep();
    try {
      body = Json::parse(req.body);
    } catch (const Json::parse_error& e) {
      return JsonResponse(400, {{"message", "Invalid JSON"}, {"details", e.what()}});
    }
    if (!body.is_object() || !body.contains("ids") || !body["ids"].is_array()) {
      return JsonResponse(
          422,
          {{"message", "Invalid JSON"},
           {"details", Json::array({{{"path", "/ids"}, {"errors", {"error.path.missing"}}}})}});
    }
    std::vector<std::string> ids;
    for (const auto& v : body["ids"]) {
      if (!v.is_string() || !TaskIdSafePath(v.get<std::string>())) {
        std::string shown = v.is_string() ? v.get<std::string>() : v.dump();
        return Error(400, "Invalid task id '" + shown + "'. [" + shown + "]");
      }
      ids.push_back(v.get<std::string>());
    }
    return KillTasksResponse(req, std::move(ids), false);
  }
  if (segs.size() == 2) return Error(405, "HTTP 405 Method Not Allowed");
  return NotFoundRoute();
}

net::HttpResponse MarathonEmulatorImpl::HandleDeployments(const net::HttpRequest& req,
                                                          const std::vector<std::string>& segs) {
  if (segs.size() == 2) {
    if (req.method != "GET") return Error(405, "HTTP 405 Method Not Allowed");
    Json list = Json::array();
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& d : deployments_) list.push_back(d.StepInfoJson());
    return JsonResponse(200, list);
  }
  if (segs.size() != 3) return NotFoundRoute();
  if (req.method != "DELETE") return Error(405, "HTTP 405 Method Not Allowed");
  const std::string& id = segs[2];
  std::lock_guard<std::mutex> lock(mu_);
  auto it = std::find_if(deployments_.begin(), deployments_.end(),
                         [&](const Deployment& d) { return d.id == id; });
  if (it == deployments_.end()) return Error(404, "DeploymentPlan " + id + " does not exist");
  if (QueryBool(req, "force", false)) {
    CancelDeployment(id, "Deployment was cancelled");
    net::HttpResponse r;
    r.status = 202;
    return r;
  }
  // Cancel, then deploy the original definitions of every affected app.
  std::vector<PendingChange> changes;
  std::set<int> picked;
  for (const auto& [app_id, def] : it->original) {
    if (!def) {
      changes.push_back(PendingChange{app_id, std::nullopt, false});
    } else {
      Json d = *def;
      d.erase("version");
      d.erase("versionInfo");
      changes.push_back(PendingChange{app_id, std::move(d), false});
    }
  }
  CancelDeployment(id, "Deployment was cancelled and rolled back");
  return DeployResponse(ApplyChanges(std::move(changes), true, ClientIp(req), req.path));
}

net::HttpResponse MarathonEmulatorImpl::HandleGroups(const net::HttpRequest& req,
                                                     const std::vector<std::string>& segs) {
  std::string gid;
  for (size_t i = 2; i < segs.size(); ++i) gid += "/" + segs[i];
  gid = CanonicalId(gid);
  if (req.method == "PUT" || req.method == "POST") return UpdateGroup(req, gid);
  std::lock_guard<std::mutex> lock(mu_);
  if (!groups_.count(gid) && gid != "/") return Error(404, "Group '" + gid + "' does not exist");
  if (req.method == "DELETE") {
    std::vector<PendingChange> changes;
    for (const auto& [id, app] : apps_) {
      if (IsUnder(id, gid)) changes.push_back(PendingChange{id, std::nullopt, false});
    }
    auto r =
        ApplyChanges(std::move(changes), QueryBool(req, "force", false), ClientIp(req), req.path);
    if (std::holds_alternative<DeployOutcome>(r)) {
      for (auto g = groups_.begin(); g != groups_.end();) {
        g = (*g != "/" && IsUnder(*g, gid)) ? groups_.erase(g) : std::next(g);
      }
    }
    return DeployResponse(r);
  }
  if (req.method != "GET") return Error(405, "HTTP 405 Method Not Allowed");
  Embed embed;  // plain apps, as the default group embed gives
  std::function<void(const std::string&, Pieces*)> write = [&](const std::string& g, Pieces* out) {
    out->push_back(
        std::make_shared<const std::string>("{\"id\":" + Json(g).dump() + ",\"apps\":["));
    bool first = true;
    for (auto it = apps_.lower_bound(g); it != apps_.end() && IsUnder(it->first, g); ++it) {
      if (ParentId(it->first) != g) continue;
      if (!first) out->push_back(std::make_shared<const std::string>(","));
      first = false;
      AppInfo(it->second, embed, out);
    }
    out->push_back(std::make_shared<const std::string>("],\"groups\":["));
    first = true;
    for (auto it = groups_.lower_bound(g); it != groups_.end() && IsUnder(*it, g); ++it) {
      if (*it == g || ParentId(*it) != g) continue;
      if (!first) out->push_back(std::make_shared<const std::string>(","));
      first = false;
      write(*it, out);
    }
    out->push_back(std::make_shared<const std::string>(
        "],\"pods\":[],\"dependencies\":[],\"version\":" + Json(root_version_).dump() + "}"));
  };
  Pieces pieces;
  write(gid, &pieces);
  return RawJson(200, Concat(pieces));
}

net::HttpResponse MarathonEmulatorImpl::UpdateGroup(const net::HttpRequest& req, std::string gid) {
  if (NestedDeeperThan(req.body, kMaxJsonDepth)) return TooDeep();
  Json body = Json::parse(req.body, nullptr, false);
  if (req.body.find_first_not_of(" \t\r\n") == std::string::npos) {
    return JsonResponse(400, {{"message", "Please specify data in JSON format"},
                              {"details", "No content to map due to end-of-input"}});
  }
  if (body.is_discarded())
    return JsonResponse(400, {{"message", "Invalid JSON"}, {"details", "malformed JSON"}});
  if (!body.is_object()) {
    return JsonResponse(
        422,
        {{"message", "Invalid JSON"},
         {"details", Json::array({{{"path", "/"}, {"errors", {"error.expected.jsobject"}}}})}});
  }
  if (gid == "/" && body.contains("id") && body["id"].is_string())
    gid = CanonicalId(body["id"].get<std::string>());
  const bool create = req.method == "POST";
  std::lock_guard<std::mutex> lock(mu_);
  if (create && gid != "/" && groups_.count(gid)) {
    return Error(409, "Group " + gid + " is already created. Use PUT to change this group.");
  }
  if (create && apps_.count(gid))
    return Error(409, "An app with the path " + gid + " already exists.");
  std::vector<PendingChange> changes;
  std::set<int> picked;
  if (body.contains("scaleBy") && body["scaleBy"].is_number() && !body.contains("version")) {
    double by = body["scaleBy"].get<double>();
    for (const auto& [id, app] : apps_) {
      if (!IsUnder(id, gid)) continue;
      Json def = app.def;
      def.erase("version");
      def.erase("versionInfo");
      // Scala's Double.toInt saturates: the count stays an Int.
      def["instances"] = static_cast<int64_t>(
          std::clamp<double>(std::ceil(def["instances"].get<double>() * by), 0, INT32_MAX));
      changes.push_back(PendingChange{id, std::move(def), false});
    }
  } else {
    Problems bad;
    std::vector<std::string> new_groups;
    std::set<std::string> seen;
    std::vector<std::pair<std::string, Json>> apps;
    std::function<void(const Json&, const std::string&, const std::string&)> collect =
        [&](const Json& g, const std::string& path, const std::string& ptr) {
          new_groups.push_back(path);
          if (g.contains("apps") && g["apps"].is_array()) {
            for (size_t i = 0; i < g["apps"].size(); ++i) {
              const Json& a = g["apps"][i];
              std::string p = ptr + "/apps(" + std::to_string(i) + ")";
              CheckAppTypes(a, p, &bad);
              if (!a.is_object() || !a.contains("id") || !a["id"].is_string()) {
                bad.Add(p + "/id", "error.path.missing");
                continue;
              }
              std::string id = CanonicalId(a["id"].get<std::string>(), path);
              if (!IsUnder(id, path) || id == path) {
                bad.Add(p + "/id", "identifier " + id + " is not child of " + path +
                                       ". Hint: use relative paths.");
                continue;
              }
              if (!seen.insert(id).second)
                bad.Add(p + "/id", "Application ids must be unique: " + id);
              apps.emplace_back(id, a);
            }
          }
          if (g.contains("groups") && g["groups"].is_array()) {
            for (size_t i = 0; i < g["groups"].size(); ++i) {
              const Json& sub = g["groups"][i];
              std::string p = ptr + "/groups(" + std::to_string(i) + ")";
              if (!sub.is_object() || !sub.contains("id") || !sub["id"].is_string()) {
                bad.Add(p + "/id", "error.path.missing");
                continue;
              }
              collect(sub, CanonicalId(sub["id"].get<std::string>(), path), p);
            }
          }
        };
    collect(body, gid, "");
    if (!bad.empty()) return JsonResponse(422, bad.ToError("Object is not valid").body);
    for (auto& [id, a] : apps) {
      Json def = a;
      def["id"] = id;
      def.erase("version");  // a group body's apps are definitions, never app rollbacks
      auto change = UpdateFromBody(std::move(def), id, false, &picked);
      if (auto* e = std::get_if<ApiError>(&change)) return JsonResponse(e->status, e->body);
      changes.push_back(std::get<PendingChange>(std::move(change)));
    }
    for (const auto& g : new_groups) {
      for (std::string x = g;; x = ParentId(x)) {
        groups_.insert(x);
        if (x == "/") break;
      }
    }
  }
  auto r =
      ApplyChanges(std::move(changes), QueryBool(req, "force", false), ClientIp(req), req.path);
  auto resp = DeployResponse(r, create ? 201 : 200);
  if (create && resp.status == 201) {
    resp.headers["Location"] = "http://" + options_.hostname + ":" +
                               std::to_string(options_.http_port) + "/v2/groups" +
                               (gid == "/" ? "" : gid);
  }
  return resp;
}

net::HttpResponse MarathonEmulatorImpl::HandleEvents(const net::HttpRequest& req) {
  if (req.method != "GET") return Error(405, "HTTP 405 Method Not Allowed");
  if (req.Header("Accept").find("text/event-stream") == std::string::npos) {
    return net::HttpResponse::Text(
        405,
        "<html>\n<head>\n<meta http-equiv=\"Content-Type\" "
        "content=\"text/html;charset=ISO-8859-1\"/>\n"
        "<title>Error 405 Method Not Allowed</title>\n</head>\n<body><h2>HTTP ERROR 405</h2>\n"
        "<p>Problem accessing /v2/events. Reason:\n<pre>    Method Not "
        "Allowed</pre></p>\n</body>\n</html>\n",
        "text/html;charset=ISO-8859-1");
  }
  std::set<std::string> types;
  for (const auto& t : req.QueryAll("event_type")) {
    if (!t.empty()) types.insert(t);
  }
  net::HttpResponse r;
  r.status = 200;
  r.headers["Content-Type"] = "text/event-stream";
  r.headers["Cache-Control"] = "no-cache, no-store, must-revalidate";
  std::string remote = req.remote_address;
  r.stream = [this, types, remote](net::StreamWriter& w) { events_.Serve(w, types, remote); };
  return r;
}

net::HttpResponse MarathonEmulatorImpl::HandleAdmin(const net::HttpRequest& req,
                                                    const std::vector<std::string>& segs) {
  if (segs.size() == 3 && segs[2] == "health" && req.method == "PUT") {
    if (NestedDeeperThan(req.body, kMaxJsonDepth)) return TooDeep();
    Json body = Json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("app") || !body["app"].is_string() ||
        !body.contains("healthy") || !body["healthy"].is_boolean()) {
      return Error(400, "expected {\"app\": \"/id\", \"healthy\": true|false}");
    }
    if (!simulated_)
      return Error(400, "health can only be forced for simulated tasks (--tasks simulated)");
    simulated_->SetAppHealthy(CanonicalId(body["app"].get<std::string>()),
                              body["healthy"].get<bool>());
    return JsonResponse(200, body);
  }
  if (segs.size() == 3 && segs[2] == "state" && req.method == "GET") {
    std::lock_guard<std::mutex> lock(mu_);
    int running = 0;
    for (const auto& [id, t] : tasks_) running += t.state == TaskState::kRunning;
    return JsonResponse(200, {{"apps", apps_.size()},
                              {"tasks", tasks_.size()},
                              {"tasksRunning", running},
                              {"deployments", deployments_.size()},
                              {"eventsDropped", events_.dropped()}});
  }
  return Error(404, "unknown sandbox admin endpoint " + req.path);
}

}  // namespace galley::sandbox::marathon
