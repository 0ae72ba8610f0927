// SPDX-License-Identifier: Apache-2.0
#include "server/server.h"

#include <random>
#include <set>

#include "base/strings.h"
#include "engine/view_text.h"
#include "store/state_store.h"

namespace galley::server {
namespace {

using json = nlohmann::json;

net::HttpResponse JsonOk(const json& j, int status = 200) {
  return net::HttpResponse::Json(status, engine::SafeDump(j, 2) + "\n");
}

json RunJson(const store::Run& r) {
  json j{{"id", r.id},
         {"kind", r.kind},
         {"trigger", r.trigger},
         {"commit", r.commit},
         {"who", r.who},
         {"started_at", r.started_at},
         {"finished_at", r.finished_at},
         {"outcome", r.outcome}};
  json summary = json::parse(r.summary, nullptr, false);
  if (!summary.is_discarded() && !r.summary.empty()) j["summary"] = summary;
  return j;
}

}  // namespace

ServerOptions Server::Hooked(ServerOptions options, Server* self) {
  auto user = options.worker.on_run;
  options.worker.on_run = [self, user](const RunReport& r) {
    self->OnRun(r);
    if (user) user(r);
  };
  return options;
}

Server::Server(RepositorySource& source, clients::ConsulClient& consul, ServerOptions options)
    : source_(source),
      consul_(consul),
      options_(Hooked(std::move(options), this)),
      queue_(options_.queue),
      worker_(source, queue_, options_.worker),
      elector_(consul, LeaderOptions{.platform = options_.platform,
                                     .holder = options_.holder,
                                     .ttl_seconds = options_.leader_ttl_seconds}) {
  elector_.log = [this](const std::string& line) { Log("info", line); };
  if (!options_.notify.targets.empty()) {
    net::HttpClient* client = options_.notify_client;
    if (!client) {
      notify_http_ = net::NewHttpClient({});
      client = notify_http_.get();
    }
    for (const auto& target : options_.notify.targets) {
      NotifierOptions no = options_.notify;
      no.targets = {target};
      if (no.platform.empty()) no.platform = options_.platform;
      auto user_count = no.count;
      no.count = [this, user_count](std::string_view result) {
        metrics_.Notification(result);
        if (user_count) user_count(result);
      };
      if (!no.log) no.log = [this](const std::string& line) { Log("warn", line); };
      notifiers_.push_back(std::make_unique<Notifier>(*client, std::move(no)));
    }
  }
  if (options_.drift_watch) {
    DriftWatchOptions dw = options_.drift_watch_options;
    if (!dw.log) {
      dw.log = [this](const std::string& level, const std::string& line) { Log(level, line); };
    }
    drift_watch_ = std::make_unique<DriftWatch>(
        *options_.drift_watch, std::move(dw), [this](const std::string& why) {
          Log("info", "drift signal: reconciling", {{"source", why}});
          (void)queue_.Push({TriggerKind::kDrift, "", why});
        });
  }
  AddRoutes();
}

void Server::OnRun(const RunReport& r) {
  metrics_.Reconcile(r.result, std::chrono::duration<double>(r.seconds));
  if (r.plan_seconds >= 0) metrics_.plan_duration.Observe(r.plan_seconds);
  if (r.apply_seconds >= 0) metrics_.apply_duration.Observe(r.apply_seconds);
  for (const auto& [kind, outcome] : r.actions) metrics_.ApplyAction(kind, outcome);
  if (r.observed) metrics_.SetDrift(r.drift_counts);
  metrics_.SetFlapping(r.flapping.size());
  if (r.ok) metrics_.SetLastSuccess(std::chrono::system_clock::now());
  if (r.observed && drift_watch_) drift_watch_->SetScope(r.app_prefixes, r.kv_prefixes);

  std::vector<NotifyEvent> events;
  {
    std::lock_guard<std::mutex> lock(observe_mu_);
    NotifyState after = notified_;
    if (r.observed) after.drift = r.drifted;
    after.failed = r.failed;
    after.flapping = std::set<std::string>(r.flapping.begin(), r.flapping.end());
    if (!baseline_ && r.observed) {
      // What drifted before this server started is not news.
      notified_.drift = after.drift;
      baseline_ = true;
    }
    events = DetectTransitions(notified_, after, std::chrono::system_clock::now());
    notified_ = std::move(after);
  }
  // Several servers observe; only the leader tells people.
  if (r.leader && !events.empty()) {
    for (auto& n : notifiers_) n->Notify(events);
  }
}

void Server::OnLeader(bool leading) {
  metrics_.SetLeader(leading);
  if (notifiers_.empty()) return;
  NotifyEvent e;
  e.kind = NotifyKind::kLeaderChange;
  e.detail = options_.holder + (leading ? " became the leader" : " is no longer the leader");
  e.time = std::chrono::system_clock::now();
  for (auto& n : notifiers_) n->Notify(e);
}

Server::~Server() { Stop(); }

void Server::Log(const std::string& level, const std::string& message, const json& fields) const {
  if (options_.log) options_.log(level, message, fields);
}

void Server::Mount(const std::string& method, const std::string& path_prefix,
                   net::HttpHandler handler) {
  std::string& methods = mounted_[path_prefix];
  methods += (methods.empty() ? "" : ", ") + method;
  router_.Add(method, path_prefix, std::move(handler));
}

bool Server::Enqueue(ReconcileTrigger t) { return queue_.Push(std::move(t)); }

uint16_t Server::port() const { return http_ ? http_->port() : 0; }

void Server::AddRoutes() {
  router_.Add("GET", "/healthz",
              [](const net::HttpRequest&) { return net::HttpResponse::Text(200, "ok\n"); });
  router_.Add("GET", "/readyz", [this](const net::HttpRequest&) { return Readyz(); });
  router_.Add("GET", "/api/v1/status", [this](const net::HttpRequest&) {
    auto text = worker_.StatusText();  // serialised once per observation: fast at any size
    if (!text) return JsonError(503, "no observation yet");
    return net::HttpResponse::Json(200, *text);
  });
  router_.Add("GET", "/api/v1/services", [this](const net::HttpRequest&) { return Services(); });
  router_.Add("GET", "/api/v1/services/",
              [this](const net::HttpRequest& r) { return ServiceDetail(r); });
  router_.Add("GET", "/api/v1/plan", [this](const net::HttpRequest&) {
    json p = worker_.Plan();
    if (p.is_null()) return JsonError(404, "no plan yet");
    return JsonOk(p);
  });
  router_.Add("GET", "/api/v1/drift", [this](const net::HttpRequest&) {
    json d = worker_.Drift();
    if (d.is_null()) return JsonError(503, "no observation yet");
    return JsonOk(d);
  });
  router_.Add("GET", "/api/v1/events", [this](const net::HttpRequest&) {
    return JsonOk(json{{"events", worker_.Events()}});
  });
  router_.Add("GET", "/api/v1/leader", [this](const net::HttpRequest&) {
    return JsonOk(
        json{{"leader", elector_.leader()}, {"key", elector_.key()}, {"holder", options_.holder}});
  });
  router_.Add("GET", "/api/v1/runs", [this](const net::HttpRequest&) {
    json out{{"reconciles", worker_.Runs()}, {"runs", json::array()}};
    std::string path = worker_.state_path();
    if (!path.empty()) {
      store::StoreOptions so;
      so.read_only = true;
      auto st = store::OpenSqliteStore(path, so);
      if (st.ok()) {
        auto runs = (*st)->RecentRuns(50);
        if (runs.ok()) {
          for (const auto& r : *runs) out["runs"].push_back(RunJson(r));
        }
      }
    }
    return JsonOk(out);
  });
  router_.Add("GET", "/api/v1/runs/", [this](const net::HttpRequest& r) { return RunDetail(r); });
  router_.Add("POST", "/api/v1/reconcile",
              [this](const net::HttpRequest& r) { return PostReconcile(r); });
  router_.Add("POST", "/api/v1/apply", [this](const net::HttpRequest& r) { return PostApply(r); });
  router_.Add("GET", "/api/v1/flapping", [this](const net::HttpRequest&) {
    return JsonOk(json{{"flapping", worker_.Flapping()}});
  });
  router_.Add("POST", "/api/v1/flapping/clear",
              [this](const net::HttpRequest& r) { return PostFlappingClear(r); });
  router_.Add("*", "/metrics",
              [this](const net::HttpRequest& r) { return MetricsResponse(registry_, r); });
  // Placeholders until the webhook, metrics and dashboard pieces are mounted (Mount adds a
  // longer or equal route added later; an exact route beats these prefixes).
  auto not_yet = [](const std::string& what) {
    return [what](const net::HttpRequest&) { return JsonError(404, what + " is not enabled"); };
  };
  // A mounted hook asked with another method: 405 with Allow (a webhook sender's
  // misconfiguration should say so, not look like a missing endpoint).
  router_.Add("*", "/hooks/", [this](const net::HttpRequest& r) {
    auto it = mounted_.find(r.path);
    if (it == mounted_.end()) {
      return JsonError(404, mounted_.empty() ? "webhooks is not enabled"
                                             : "no such webhook: " + Printable(r.path));
    }
    net::HttpResponse out = JsonError(405, r.method + " is not allowed on " + r.path);
    out.headers["Allow"] = it->second;
    return out;
  });
  router_.Add("*", "/ui/", not_yet("the dashboard"));
  router_.Add("*", "/events", not_yet("the event stream"));
}

net::HttpResponse Server::Readyz() const {
  json j{{"repository_loaded", worker_.loaded()}, {"leader", elector_.leader()}};
  auto leader = consul_.GetKv(elector_.key());
  bool consul_ok = leader.ok() || leader.status().code() == StatusCode::kNotFound;
  j["consul_reachable"] = consul_ok;
  bool ready = worker_.loaded() && consul_ok;
  j["ready"] = ready;
  return JsonOk(j, ready ? 200 : 503);
}

// The status rows grouped by service, in the status document's order (services by name,
// environments in platform-file order).
net::HttpResponse Server::Services() const {
  auto shared = worker_.Shared();
  if (!shared.status || !shared.status->is_object()) return JsonError(503, "no observation yet");
  json out = json::array();
  std::map<std::string, size_t> index;
  for (const auto& row : shared.status->value("services", json::array())) {
    std::string name = row.value("service", "");
    auto [it, added] = index.emplace(name, out.size());
    if (added) out.push_back(json{{"service", name}, {"environments", json::array()}});
    out[it->second]["environments"].push_back(row);
  }
  return JsonOk(json{{"checked_at", shared.status->value("checked_at", "")},
                     {"commit", shared.status->value("commit", "")},
                     {"services", std::move(out)}});
}

// One service: its status rows, the kept plan's actions for it, its drift items.
net::HttpResponse Server::ServiceDetail(const net::HttpRequest& request) const {
  const std::string name = request.path.substr(std::string("/api/v1/services/").size());
  auto shared = worker_.Shared();
  if (!shared.status || !shared.status->is_object()) return JsonError(503, "no observation yet");
  auto of_service = [&name](const json& items) {
    json out = json::array();
    if (!items.is_array()) return out;
    for (const auto& i : items) {
      if (i.is_object() && i.value("service", "") == name) out.push_back(i);
    }
    return out;
  };
  json rows = of_service(shared.status->value("services", json::array()));
  if (rows.empty()) return JsonError(404, "no service '" + name + "' in the desired state");
  json actions = shared.plan && shared.plan->is_object()
                     ? of_service(shared.plan->value("actions", json()))
                     : json::array();
  json drift = shared.drift && shared.drift->is_object()
                   ? of_service(shared.drift->value("drift", json()))
                   : json::array();
  return JsonOk(
      json{{"service", name},
           {"checked_at", shared.status->value("checked_at", "")},
           {"environments", std::move(rows)},
           {"plan_id", shared.plan && shared.plan->is_object() ? shared.plan->value("plan_id", "")
                                                               : std::string()},
           {"actions", std::move(actions)},
           {"drift", std::move(drift)}});
}

net::HttpResponse Server::RunDetail(const net::HttpRequest& request) const {
  std::string id_text = request.path.substr(std::string("/api/v1/runs/").size());
  int64_t id = 0;
  try {
    size_t used = 0;
    id = std::stoll(id_text, &used);
    if (used != id_text.size() || id <= 0) throw std::invalid_argument("id");
  } catch (const std::exception&) {
    return JsonError(400, "not a run id: " + Printable(id_text));
  }
  std::string path = worker_.state_path();
  if (path.empty()) return JsonError(404, "no run " + id_text);
  store::StoreOptions so;
  so.read_only = true;
  auto st = store::OpenSqliteStore(path, so);
  if (!st.ok()) return JsonError(503, st.status().message());
  auto runs = (*st)->RecentRuns(1000);
  if (!runs.ok()) return JsonError(503, runs.status().message());
  for (const auto& r : *runs) {
    if (r.id != id) continue;
    json j = RunJson(r);
    j["journal"] = json::array();
    auto journal = (*st)->Journal(id);
    if (journal.ok()) {
      for (const auto& e : *journal) {
        json entry{
            {"action", e.action_id}, {"resource", e.resource},     {"kind", e.kind},
            {"state", e.state},      {"started_at", e.started_at}, {"finished_at", e.finished_at}};
        json detail = json::parse(e.detail, nullptr, false);
        if (!e.detail.empty() && !detail.is_discarded()) entry["detail"] = detail;
        j["journal"].push_back(entry);
      }
    }
    return JsonOk(j);
  }
  return JsonError(404, "no run " + id_text);
}

net::HttpResponse Server::PostReconcile(const net::HttpRequest& request) {
  if (auto refused = CheckBearer(request, options_.api_token)) return *refused;
  std::string commit;
  if (!request.body.empty()) {
    json b = json::parse(request.body, nullptr, false);
    if (b.is_discarded() || !b.is_object()) return JsonError(400, "the body is not a JSON object");
    if (b.contains("commit") && b["commit"].is_string()) commit = b["commit"];
  }
  if (!queue_.Push({TriggerKind::kManual, commit, "api " + request.remote_address}))
    return JsonError(503, "the server is stopping");
  Log("info", "reconcile requested", {{"remote", request.remote_address}});
  return JsonOk(json{{"queued", true}, {"leader", elector_.leader()}}, 202);
}

net::HttpResponse Server::PostApply(const net::HttpRequest& request) {
  if (auto refused = CheckBearer(request, options_.api_token)) return *refused;
  json b = json::parse(request.body, nullptr, false);
  if (b.is_discarded() || !b.is_object() || !b.contains("plan_id") || !b["plan_id"].is_string())
    return JsonError(400, "expected {\"plan_id\": \"...\"}");
  if (!elector_.leader()) return JsonError(503, "this server is not the leader");
  ApplyAnswer a = worker_.ApplyPlan(b["plan_id"], options_.apply_wait);
  return JsonOk(a.body, a.http_status);
}

net::HttpResponse Server::PostFlappingClear(const net::HttpRequest& request) {
  if (auto refused = CheckBearer(request, options_.api_token)) return *refused;
  std::string resource;
  if (!request.body.empty()) {
    json b = json::parse(request.body, nullptr, false);
    if (b.is_discarded() || !b.is_object()) return JsonError(400, "the body is not a JSON object");
    if (b.contains("resource")) {
      if (!b["resource"].is_string()) return JsonError(400, "\"resource\" must be a string");
      resource = b["resource"];
    }
  }
  std::vector<std::string> cleared = worker_.ClearFlapping(resource);
  if (!resource.empty() && cleared.empty()) {
    return JsonError(404, Printable(resource) + " is not flapping");
  }
  metrics_.SetFlapping(worker_.Flapping().size());
  // Acted on: the next reconcile applies the drift policy to it again.
  if (!cleared.empty()) (void)queue_.Push({TriggerKind::kManual, "", "flapping cleared"});
  return JsonOk(json{{"cleared", cleared}});
}

void Server::TimerLoop() {
  std::mt19937_64 rng(std::random_device{}());
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    double f = 1.0;
    if (options_.jitter > 0) {
      f = std::uniform_real_distribution<double>(1 - options_.jitter, 1 + options_.jitter)(rng);
    }
    auto wait = std::chrono::milliseconds(
        static_cast<int64_t>(static_cast<double>(options_.interval.count()) * f));
    if (cv_.wait_for(lock, wait, [this] { return stopping_; })) break;
    lock.unlock();
    (void)queue_.Push({TriggerKind::kTimer, "", "timer"});
    lock.lock();
  }
}

Status Server::Start() {
  net::HttpServerOptions ho;
  ho.address = options_.listen_address;
  ho.port = options_.listen_port;
  ho.max_body_bytes = 1u << 20;  // webhooks and API bodies are small
  ho.header_timeout = std::chrono::seconds(10);
  ho.body_timeout = std::chrono::seconds(10);
  ho.server_header = std::string("galley/") + GALLEY_VERSION;
  auto http =
      net::HttpServer::Start(ho, [this](const net::HttpRequest& r) { return router_.Handle(r); });
  if (!http.ok()) return http.status();
  http_ = std::move(http).value();
  started_ = true;
  Log("info", "listening",
      {{"address", options_.listen_address},
       {"port", http_->port()},
       {"repository", source_.Describe()}});
  (void)queue_.Push({TriggerKind::kStart, "", "start"});
  worker_.Start([this] { return elector_.leader(); });
  if (drift_watch_) drift_watch_->Start();
  leader_loop_ = std::make_unique<LeaderLoop>(elector_, [this](bool leading) {
    Log("info", leading ? "became leader" : "follower", {{"leader", leading}});
    OnLeader(leading);
    if (leading) (void)queue_.Push({TriggerKind::kStart, "", "leadership"});
  });
  if (options_.interval.count() > 0) timer_ = std::thread([this] { TimerLoop(); });
  return Status::Ok();
}

void Server::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (!started_) return;
  Log("info", "stopping: no new triggers; a running apply is interrupted and stays journaled");
  if (timer_.joinable()) timer_.join();
  worker_.Stop();                          // closes the queue, interrupts and joins
  if (drift_watch_) drift_watch_->Stop();  // after the worker: it sets the watch's scope
  if (leader_loop_) leader_loop_->Stop();  // releases the leader key
  for (auto& n : notifiers_) n->Stop();    // what is still queued is dropped (counted)
  if (http_) http_->Stop();
  Log("info", "stopped");
}

}  // namespace galley::server
