// SPDX-License-Identifier: Apache-2.0
// /v2/apps routes of the Marathon emulator and the AppInfo writer (see emulator_impl.h).
#include <algorithm>
#include <cctype>

#include "sandbox/marathon/emulator_impl.h"
#include "sandbox/marathon/path_id.h"

namespace galley::sandbox::marathon {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Parses a request body as Marathon does: 400 for empty or broken JSON.
std::variant<Json, net::HttpResponse> ParseBody(const std::string& body) {
  bool blank = std::all_of(body.begin(), body.end(),
                           [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
  if (blank) {
    return JsonResponse(400, {{"message", "Please specify data in JSON format"},
                              {"details", "No content to map due to end-of-input"}});
  }
  if (NestedDeeperThan(body, kMaxJsonDepth)) return TooDeep();
  try {
    return Json::parse(body);
  } catch (const Json::parse_error& e) {
    return JsonResponse(400, {{"message", "Invalid JSON"}, {"details", e.what()}});
  }
}

net::HttpResponse ErrorResponse(const ApiError& e) { return JsonResponse(e.status, e.body); }

Json WithoutVersion(Json def) {
  def.erase("version");
  def.erase("versionInfo");
  return def;
}

// Label selectors (LabelSelectorParsers): "k", "k==v", "k!=v", "k in (a,b)", "k notin (a,b)",
// joined by commas.
struct LabelTerm {
  std::string key;
  enum { kExists, kEq, kNe, kIn, kNotIn } op = kExists;
  std::vector<std::string> values;
};

std::string Trim(std::string s) {
  size_t b = s.find_first_not_of(" \t");
  size_t e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::optional<std::vector<LabelTerm>> ParseSelector(const std::string& sel) {
  std::vector<std::string> parts;
  std::string cur;
  int depth = 0;
  for (char c : sel) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  std::vector<LabelTerm> out;
  for (auto& raw : parts) {
    std::string p = Trim(raw);
    if (p.empty()) continue;
    LabelTerm t;
    size_t pos;
    if ((pos = p.find("==")) != std::string::npos) {
      t.key = Trim(p.substr(0, pos));
      t.op = LabelTerm::kEq;
      t.values = {Trim(p.substr(pos + 2))};
    } else if ((pos = p.find("!=")) != std::string::npos) {
      t.key = Trim(p.substr(0, pos));
      t.op = LabelTerm::kNe;
      t.values = {Trim(p.substr(pos + 2))};
    } else if ((pos = p.find(" notin ")) != std::string::npos ||
               (pos = p.find(" in ")) != std::string::npos) {
      bool notin = p.compare(pos, 7, " notin ") == 0;
      t.key = Trim(p.substr(0, pos));
      t.op = notin ? LabelTerm::kNotIn : LabelTerm::kIn;
      std::string rest = Trim(p.substr(pos + (notin ? 7 : 4)));
      if (rest.size() < 2 || rest.front() != '(' || rest.back() != ')') return std::nullopt;
      std::string inner = rest.substr(1, rest.size() - 2), v;
      for (char c : inner + ",") {
        if (c == ',') {
          t.values.push_back(Trim(v));
          v.clear();
        } else {
          v += c;
        }
      }
    } else {
      t.key = p;
    }
    out.push_back(t);
  }
  return out;
}

bool Matches(const std::vector<LabelTerm>& terms, const Json& labels) {
  for (const auto& t : terms) {
    auto it = labels.find(t.key);
    bool has = it != labels.end() && it->is_string();
    std::string v = has ? it->get<std::string>() : "";
    switch (t.op) {
      case LabelTerm::kExists:
        if (!has) return false;
        break;
      case LabelTerm::kEq:
        if (!has || v != t.values[0]) return false;
        break;
      case LabelTerm::kNe:
        if (has && v == t.values[0]) return false;
        break;
      case LabelTerm::kIn:
        if (!has || std::find(t.values.begin(), t.values.end(), v) == t.values.end()) return false;
        break;
      case LabelTerm::kNotIn:
        if (has && std::find(t.values.begin(), t.values.end(), v) != t.values.end()) return false;
        break;
    }
  }
  return true;
}

}  // namespace

MarathonEmulatorImpl::Embed MarathonEmulatorImpl::ParseEmbed(const net::HttpRequest& req) {
  Embed e;
  for (std::string v : req.QueryAll("embed")) {
    for (const char* prefix : {"group.apps.", "apps.", "app."}) {
      std::string p(prefix);
      if (v.compare(0, p.size(), p) == 0) {
        v = v.substr(p.size());
        break;
      }
    }
    if (v == "tasks") {
      e.tasks = e.deployments = true;
    } else if (v == "counts") {
      e.counts = true;
    } else if (v == "deployments") {
      e.deployments = true;
    } else if (v == "readiness") {
      e.readiness = true;
    } else if (v == "lastTaskFailure") {
      e.last_failure = true;
    } else if (v == "failures") {
      e.tasks = e.last_failure = e.deployments = true;
    }
  }
  return e;
}

std::shared_ptr<const std::string> MarathonEmulatorImpl::TaskJsonOf(const TaskRecord& t,
                                                                    const AppRecord* app) const {
  if (!t.json) t.json = TaskJson(t, app ? app->service_ports : std::vector<int>{});
  return t.json;
}

std::shared_ptr<const std::string> MarathonEmulatorImpl::DefJsonPrefix(const Json& def) {
  std::string s = def.dump(-1, ' ', false, Json::error_handler_t::replace);
  s.pop_back();  // the closing brace
  return std::make_shared<const std::string>(std::move(s));
}

void MarathonEmulatorImpl::AppInfo(const AppRecord& app, const Embed& embed, Pieces* pieces) const {
  if (!app.json_prefix) app.json_prefix = DefJsonPrefix(app.def);
  pieces->push_back(app.json_prefix);
  const std::string& id = app.def["id"].get_ref<const std::string&>();
  std::string tail;
  std::vector<const TaskRecord*> tasks;
  if (auto it = tasks_by_app_.find(id); it != tasks_by_app_.end()) {
    for (const auto& tid : it->second) {
      auto t = tasks_.find(tid);
      if (t != tasks_.end()) tasks.push_back(&t->second);
    }
  }
  if (embed.counts) {
    int staged = 0, running = 0, healthy = 0, unhealthy = 0;
    for (const TaskRecord* t : tasks) {
      if (!t->Active()) continue;
      if (t->state == TaskState::kStaging || t->state == TaskState::kStarting) ++staged;
      if (t->state == TaskState::kRunning) ++running;
      if (t->HasHealthInfo()) (t->Healthy() ? healthy : unhealthy)++;
    }
    tail += ",\"tasksStaged\":" + std::to_string(staged) +
            ",\"tasksRunning\":" + std::to_string(running) +
            ",\"tasksHealthy\":" + std::to_string(healthy) +
            ",\"tasksUnhealthy\":" + std::to_string(unhealthy);
  }
  if (embed.deployments) {
    tail += ",\"deployments\":[";
    bool first = true;
    for (const auto& d : deployments_) {
      if (std::find(d.affected_apps.begin(), d.affected_apps.end(), id) == d.affected_apps.end())
        continue;
      tail += std::string(first ? "" : ",") + "{\"id\":\"" + d.id + "\"}";
      first = false;
    }
    tail += "]";
  }
  if (embed.readiness) tail += ",\"readinessCheckResults\":[]";
  if (embed.last_failure && app.last_failure)
    tail += ",\"lastTaskFailure\":" + app.last_failure->dump();
  if (embed.tasks) {
    tail += ",\"tasks\":[";
    pieces->push_back(std::make_shared<const std::string>(std::move(tail)));
    tail.clear();
    for (size_t i = 0; i < tasks.size(); ++i) {
      if (i) pieces->push_back(std::make_shared<const std::string>(","));
      pieces->push_back(TaskJsonOf(*tasks[i], &app));
    }
    tail = "]";
  }
  tail += "}";
  pieces->push_back(std::make_shared<const std::string>(std::move(tail)));
}

std::string MarathonEmulatorImpl::Concat(const Pieces& pieces) {
  size_t n = 0;
  for (const auto& p : pieces) n += p->size();
  std::string out;
  out.reserve(n);
  for (const auto& p : pieces) out += *p;
  return out;
}

net::HttpResponse MarathonEmulatorImpl::DeployResponse(
    const std::variant<DeployOutcome, ApiError>& r, int status) {
  if (auto* e = std::get_if<ApiError>(&r)) return ErrorResponse(*e);
  const auto& o = std::get<DeployOutcome>(r);
  auto resp = JsonResponse(status, {{"version", o.version}, {"deploymentId", o.deployment_id}});
  resp.headers["Marathon-Deployment-Id"] = o.deployment_id;
  return resp;
}

net::HttpResponse MarathonEmulatorImpl::HandleApps(const net::HttpRequest& req,
                                                   const std::vector<std::string>& segs) {
  // segs: "v2", "apps", ...
  const std::string& m = req.method;
  if (segs.size() == 2) {
    if (m == "GET") return ListApps(req, "", false);
    if (m == "POST") return CreateApp(req);
    if (m == "PUT") return PutApps(req, false);
    if (m == "PATCH") return PutApps(req, true);
    return Error(405, "HTTP 405 Method Not Allowed");
  }
  std::vector<std::string> rest(segs.begin() + 2, segs.end());
  auto join = [](const std::vector<std::string>& v, size_t from, size_t to) {
    std::string out;
    for (size_t i = from; i < to; ++i) out += "/" + v[i];
    return out.empty() ? "/" : out;
  };
  const size_t n = rest.size();
  if (n >= 2 && rest[n - 1] == "*" && m == "GET")
    return ListApps(req, CanonicalId(join(rest, 0, n - 1)), true);
  if (n >= 2 && rest[n - 1] == "restart") {
    if (m == "POST") return RestartApp(req, CanonicalId(join(rest, 0, n - 1)));
    return Error(405, "HTTP 405 Method Not Allowed");
  }
  if (n >= 2 && rest[n - 1] == "tasks")
    return AppTasks(req, CanonicalId(join(rest, 0, n - 1)), nullptr);
  if (n >= 3 && rest[n - 2] == "tasks")
    return AppTasks(req, CanonicalId(join(rest, 0, n - 2)), &rest[n - 1]);
  if (n >= 2 && rest[n - 1] == "versions") {
    if (m != "GET") return Error(405, "HTTP 405 Method Not Allowed");
    return AppVersions(CanonicalId(join(rest, 0, n - 1)), nullptr);
  }
  if (n >= 3 && rest[n - 2] == "versions") {
    if (m != "GET") return Error(405, "HTTP 405 Method Not Allowed");
    return AppVersions(CanonicalId(join(rest, 0, n - 2)), &rest[n - 1]);
  }
  std::string id = CanonicalId(join(rest, 0, n));
  if (m == "GET") return GetApp(req, id);
  if (m == "PUT") return UpdateApp(req, id, false);
  if (m == "PATCH") return UpdateApp(req, id, true);
  if (m == "DELETE") return DeleteApp(req, id);
  return Error(405, "HTTP 405 Method Not Allowed");
}

net::HttpResponse MarathonEmulatorImpl::ListApps(const net::HttpRequest& req,
                                                 const std::string& group, bool star) {
  Embed embed = ParseEmbed(req);
  embed.counts = embed.deployments = true;  // always, for the list
  std::string id_filter = Lower(req.Query("id").value_or(""));
  std::string cmd_filter = Lower(req.Query("cmd").value_or(""));
  std::optional<std::vector<LabelTerm>> selector;
  if (auto l = req.Query("label"); l && !l->empty()) {
    selector = ParseSelector(*l);
    if (!selector) return Error(400, "Invalid label selector: " + *l);
  }
  Pieces pieces;
  pieces.push_back(std::make_shared<const std::string>(star ? "{\"*\":[" : "{\"apps\":["));
  auto comma = std::make_shared<const std::string>(",");
  {
    std::lock_guard<std::mutex> lock(mu_);
    bool first = true;
    for (const auto& [id, app] : apps_) {
      if (star && !IsUnder(id, group)) continue;
      if (!id_filter.empty() && Lower(id).find(id_filter) == std::string::npos) continue;
      if (!cmd_filter.empty()) {
        auto c = app.def.find("cmd");
        if (c == app.def.end() ||
            Lower(c->get<std::string>()).find(cmd_filter) == std::string::npos)
          continue;
      }
      if (selector && !Matches(*selector, app.def["labels"])) continue;
      if (!first) pieces.push_back(comma);
      first = false;
      AppInfo(app, embed, &pieces);
    }
  }
  pieces.push_back(std::make_shared<const std::string>("]}"));
  return RawJson(200, Concat(pieces));
}

net::HttpResponse MarathonEmulatorImpl::GetApp(const net::HttpRequest& req, const std::string& id) {
  Embed embed = ParseEmbed(req);
  embed.counts = embed.tasks = embed.last_failure = embed.deployments = true;
  Pieces pieces;
  pieces.push_back(std::make_shared<const std::string>("{\"app\":"));
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = apps_.find(id);
    if (it == apps_.end()) return Error(404, "App '" + id + "' does not exist");
    AppInfo(it->second, embed, &pieces);
  }
  pieces.push_back(std::make_shared<const std::string>("}"));
  return RawJson(200, Concat(pieces));
}

std::variant<MarathonEmulatorImpl::PendingChange, ApiError> MarathonEmulatorImpl::CreateFromBody(
    Json body, const std::string& id, std::set<int>* picked) {
  StripReadOnlyAndNulls(body);
  std::string raw_id = body.value("id", id);
  body.erase("version");
  Problems bad;
  TranslateDeprecated(body, &bad);
  for (const auto& e : ValidateAppId(raw_id, id)) bad.Add("/id", e);
  if (!bad.empty()) return bad.ToError("Object is not valid");
  // An id may not be both an app and a group with apps.
  if (auto child = apps_.lower_bound(id + "/"); child != apps_.end() && IsUnder(child->first, id)) {
    Problems p;
    p.Add("/", "Groups and Applications may not have the same identifier.");
    return p.ToError("Object is not valid");
  }
  auto r = NormaliseApp(body, id);
  if (auto* e = std::get_if<ApiError>(&r)) return *e;
  Json def = std::get<Json>(std::move(r));
  if (auto e = AssignPorts(def, id, picked)) return *e;
  return PendingChange{id, std::move(def), false};
}

std::variant<MarathonEmulatorImpl::PendingChange, ApiError> MarathonEmulatorImpl::UpdateFromBody(
    Json body, const std::string& id, bool partial, std::set<int>* picked) {
  StripReadOnlyAndNulls(body);
  auto it = apps_.find(id);
  if (body.contains("version")) {
    for (auto k = body.begin(); k != body.end(); ++k) {
      if (k.key() != "version" && k.key() != "id") {
        Problems p;
        p.Add("/", "The 'version' field may only be combined with the 'id' field.");
        return p.ToError("Object is not valid");
      }
    }
    if (it == apps_.end()) return ApiError{404, {{"message", "App '" + id + "' does not exist"}}};
    auto want = ParseTimestamp(body["version"].get<std::string>());
    for (const auto& [v, def] : it->second.versions) {
      if (want && ParseTimestamp(v) == want) return PendingChange{id, WithoutVersion(def), false};
    }
    return ApiError{404, {{"message", "App '" + id + "' does not exist"}}};
  }
  if (it == apps_.end()) {
    body["id"] = id;
    return CreateFromBody(std::move(body), id, picked);
  }
  Problems bad;
  TranslateDeprecated(body, &bad);
  if (!bad.empty()) return bad.ToError("Object is not valid");
  body.erase("id");
  Json merged;
  if (partial) {
    merged = WithoutVersion(it->second.def);
    for (auto k = body.begin(); k != body.end(); ++k) merged[k.key()] = k.value();
  } else {
    merged = std::move(body);
  }
  auto r = NormaliseApp(merged, id);
  if (auto* e = std::get_if<ApiError>(&r)) return *e;
  Json def = std::get<Json>(std::move(r));
  if (auto e = AssignPorts(def, id, picked)) return *e;
  return PendingChange{id, std::move(def), false};
}

net::HttpResponse MarathonEmulatorImpl::CreateApp(const net::HttpRequest& req) {
  auto parsed = ParseBody(req.body);
  if (auto* r = std::get_if<net::HttpResponse>(&parsed)) return *r;
  Json body = std::get<Json>(std::move(parsed));
  Problems types;
  CheckAppTypes(body, "", &types);
  if (body.is_object() && (!body.contains("id") || body["id"].is_null()))
    types.Add("/id", "error.path.missing");
  if (!types.empty()) return ErrorResponse(types.ToError("Invalid JSON"));
  std::string id = CanonicalId(body["id"].get<std::string>());
  std::lock_guard<std::mutex> lock(mu_);
  std::set<int> picked;
  auto change = CreateFromBody(body, id, &picked);
  if (auto* e = std::get_if<ApiError>(&change)) return ErrorResponse(*e);
  if (apps_.count(id)) return Error(409, "An app with id [" + id + "] already exists.");
  auto r =
      ApplyChanges({std::get<PendingChange>(std::move(change))}, QueryBool(req, "force", false),
                   req.remote_address.substr(0, req.remote_address.rfind(':')), req.path);
  if (auto* e = std::get_if<ApiError>(&r)) return ErrorResponse(*e);
  const auto& o = std::get<DeployOutcome>(r);
  Pieces pieces;
  Embed embed;
  embed.counts = embed.deployments = true;
  AppInfo(apps_.at(id), embed, &pieces);
  auto resp = RawJson(201, Concat(pieces));
  resp.headers["Location"] =
      "http://" + options_.hostname + ":" + std::to_string(options_.http_port) + "/v2/apps" + id;
  resp.headers["Marathon-Deployment-Id"] = o.deployment_id;
  return resp;
}

net::HttpResponse MarathonEmulatorImpl::UpdateApp(const net::HttpRequest& req,
                                                  const std::string& id, bool patch) {
  auto parsed = ParseBody(req.body);
  if (auto* r = std::get_if<net::HttpResponse>(&parsed)) return *r;
  Json body = std::get<Json>(std::move(parsed));
  Problems types;
  CheckAppTypes(body, "", &types);
  if (!types.empty()) return ErrorResponse(types.ToError("Invalid JSON"));
  bool partial = patch || QueryBool(req, "partialUpdate", true);
  std::lock_guard<std::mutex> lock(mu_);
  bool existed = apps_.count(id) > 0;
  if (patch && !existed) return Error(404, "App '" + id + "' does not exist");
  std::set<int> picked;
  auto change = UpdateFromBody(std::move(body), id, partial, &picked);
  if (auto* e = std::get_if<ApiError>(&change)) return ErrorResponse(*e);
  auto r =
      ApplyChanges({std::get<PendingChange>(std::move(change))}, QueryBool(req, "force", false),
                   req.remote_address.substr(0, req.remote_address.rfind(':')), req.path);
  auto resp = DeployResponse(r, existed ? 200 : 201);
  if (!existed && resp.status == 201) {
    resp.headers["Location"] =
        "http://" + options_.hostname + ":" + std::to_string(options_.http_port) + "/v2/apps" + id;
  }
  return resp;
}

net::HttpResponse MarathonEmulatorImpl::PutApps(const net::HttpRequest& req, bool patch) {
  auto parsed = ParseBody(req.body);
  if (auto* r = std::get_if<net::HttpResponse>(&parsed)) return *r;
  Json body = std::get<Json>(std::move(parsed));
  Problems types;
  if (!body.is_array()) {
    types.Add("/", "error.expected.jsarray");
  } else {
    for (size_t i = 0; i < body.size(); ++i) {
      std::string prefix = "/(" + std::to_string(i) + ")";
      CheckAppTypes(body[i], prefix, &types);
      if (body[i].is_object() && (!body[i].contains("id") || body[i]["id"].is_null())) {
        types.Add(prefix + "/id", "error.path.missing");
      }
    }
  }
  if (!types.empty()) return ErrorResponse(types.ToError("Invalid JSON"));
  bool partial = patch || QueryBool(req, "partialUpdate", true);
  std::lock_guard<std::mutex> lock(mu_);
  std::set<int> picked;
  std::vector<PendingChange> changes;
  std::set<std::string> seen;
  for (auto& app : body) {
    std::string id = CanonicalId(app["id"].get<std::string>());
    if (!seen.insert(id).second) {
      Problems p;
      p.Add("/", "Application ids must be unique: " + id);
      return ErrorResponse(p.ToError("Object is not valid"));
    }
    if (patch && !apps_.count(id)) return Error(404, "App '" + id + "' does not exist");
    auto change = UpdateFromBody(app, id, partial, &picked);
    if (auto* e = std::get_if<ApiError>(&change)) return ErrorResponse(*e);
    changes.push_back(std::get<PendingChange>(std::move(change)));
  }
  return DeployResponse(ApplyChanges(std::move(changes), QueryBool(req, "force", false),
                                     req.remote_address.substr(0, req.remote_address.rfind(':')),
                                     req.path));
}

net::HttpResponse MarathonEmulatorImpl::DeleteApp(const net::HttpRequest& req,
                                                  const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!apps_.count(id)) return Error(404, "App '" + id + "' does not exist");
  // Marathon's server default for force on this endpoint is true.
  return DeployResponse(
      ApplyChanges({PendingChange{id, std::nullopt, false}}, QueryBool(req, "force", true),
                   req.remote_address.substr(0, req.remote_address.rfind(':')), req.path));
}

net::HttpResponse MarathonEmulatorImpl::RestartApp(const net::HttpRequest& req,
                                                   const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = apps_.find(id);
  if (it == apps_.end()) return Error(404, "App '" + id + "' does not exist");
  return DeployResponse(ApplyChanges(
      {PendingChange{id, WithoutVersion(it->second.def), true}}, QueryBool(req, "force", false),
      req.remote_address.substr(0, req.remote_address.rfind(':')), req.path));
}

net::HttpResponse MarathonEmulatorImpl::AppVersions(const std::string& id,
                                                    const std::string* version) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = apps_.find(id);
  if (it == apps_.end()) return Error(404, "App '" + id + "' does not exist");
  if (!version) {
    Json list = Json::array();
    for (auto v = it->second.versions.rbegin(); v != it->second.versions.rend(); ++v)
      list.push_back(v->first);
    return JsonResponse(200, {{"versions", list}});
  }
  auto want = ParseTimestamp(*version);
  if (!want) return Error(422, "Invalid format: \"" + *version + "\"");
  for (const auto& [v, def] : it->second.versions) {
    if (ParseTimestamp(v) == want) return JsonResponse(200, def);
  }
  return Error(404, "App '" + id + "' does not exist in version " + *version);
}

net::HttpResponse MarathonEmulatorImpl::AppTasks(const net::HttpRequest& req, const std::string& id,
                                                 const std::string* task_id) {
  if (req.method == "GET" && !task_id) {
    Pieces pieces;
    pieces.push_back(std::make_shared<const std::string>("{\"tasks\":["));
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = apps_.find(id);
      if (it == apps_.end()) return Error(404, "App '" + id + "' does not exist");
      bool first = true;
      for (TaskRecord* t : TasksOf(id)) {
        if (!first) pieces.push_back(std::make_shared<const std::string>(","));
        first = false;
        pieces.push_back(TaskJsonOf(*t, &it->second));
      }
    }
    pieces.push_back(std::make_shared<const std::string>("]}"));
    return RawJson(200, Concat(pieces));
  }
  if (req.method != "DELETE") return Error(405, "HTTP 405 Method Not Allowed");
  std::vector<std::string> ids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!apps_.count(id)) return Error(404, "App '" + id + "' does not exist");
    if (task_id) {
      auto t = tasks_.find(*task_id);
      if (t == tasks_.end() || t->second.app_id != id)
        return Error(404, "Task '" + *task_id + "' does not exist");
      ids.push_back(*task_id);
    } else {
      auto host = req.Query("host");
      for (TaskRecord* t : TasksOf(id)) {
        if (!host || host->empty() || *host == t->host) ids.push_back(t->id);
      }
    }
  }
  return KillTasksResponse(req, std::move(ids), task_id != nullptr);
}

net::HttpResponse MarathonEmulatorImpl::KillTasksResponse(const net::HttpRequest& req,
                                                          std::vector<std::string> ids,
                                                          bool single) {
  bool scale = QueryBool(req, "scale", false), wipe = QueryBool(req, "wipe", false);
  if (scale && wipe) return Error(400, "You cannot use scale and wipe at the same time.");
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, std::vector<TaskRecord*>> by_app;
  for (const auto& tid : ids) {
    auto t = tasks_.find(tid);
    if (t != tasks_.end() && !t->second.kill_requested)
      by_app[t->second.app_id].push_back(&t->second);
  }
  if (scale) {
    std::vector<PendingChange> changes;
    for (const auto& [app_id, tasks] : by_app) {
      auto it = apps_.find(app_id);
      if (it == apps_.end()) continue;
      Json def = WithoutVersion(it->second.def);
      def["instances"] = std::max<int64_t>(
          0, def["instances"].get<int64_t>() - static_cast<int64_t>(tasks.size()));
      changes.push_back(PendingChange{app_id, std::move(def), false});
    }
    auto r = ApplyChanges(std::move(changes), QueryBool(req, "force", false),
                          req.remote_address.substr(0, req.remote_address.rfind(':')), req.path);
    if (std::holds_alternative<DeployOutcome>(r)) {
      for (auto& [app_id, tasks] : by_app) {
        for (TaskRecord* t : tasks) KillTask(*t, false);
      }
    }
    return DeployResponse(r);
  }
  Pieces pieces;
  pieces.push_back(std::make_shared<const std::string>(single ? "{\"task\":" : "{\"tasks\":["));
  bool first = true;
  for (auto& [app_id, tasks] : by_app) {
    auto it = apps_.find(app_id);
    for (TaskRecord* t : tasks) {
      auto json = TaskJsonOf(*t, it == apps_.end() ? nullptr : &it->second);
      KillTask(*t, false, /*goal_change=*/false);  // relaunched: no goal change
      if (!first) pieces.push_back(std::make_shared<const std::string>(","));
      first = false;
      pieces.push_back(json);
    }
  }
  if (single && first)
    return Error(404, "Task '" + (ids.empty() ? std::string() : ids[0]) + "' does not exist");
  pieces.push_back(std::make_shared<const std::string>(single ? "}" : "]}"));
  Wake();
  return RawJson(200, Concat(pieces));
}

}  // namespace galley::sandbox::marathon
