// SPDX-License-Identifier: Apache-2.0
#include "sandbox/chronos/chronos_emulator.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "base/iso8601_schedule.h"

namespace galley::sandbox::chronos {
namespace {

using Json = nlohmann::json;
constexpr char kPrefix[] = "/v1/scheduler";

net::HttpResponse JsonBody(int status, const std::string& body) {
  auto r = net::HttpResponse::Json(status, body);
  r.headers["Access-Control-Allow-Origin"] = "*";
  return r;
}
net::HttpResponse NoContent() {
  net::HttpResponse r;
  r.status = 204;
  r.headers["Access-Control-Allow-Origin"] = "*";
  return r;
}
// Chronos 3.x' ApiResult: {"message","status"}; a `require` failure carries a stack trace.
net::HttpResponse Error(const ApiError& e) {
  std::string message = e.message;
  if (e.require) {
    message = "java.lang.IllegalArgumentException: " + e.message +
              "\n\tat scala.Predef$.require(Predef.scala:224)\n";
  } else if (e.status == 500 && message.rfind("java.", 0) == 0) {
    message += "\n\tat org.apache.mesos.chronos.scheduler.api.DependentJobResource.post\n";
  }
  return JsonBody(e.status,
                  Json{{"message", message}, {"status", net::ReasonPhrase(e.status)}}.dump());
}
// What Jetty answers when the body fails inside Jackson (no handler runs).
net::HttpResponse JettyError(int status, const std::string& why) {
  std::string esc;
  for (char c : why) {
    if (c == '<')
      esc += "&lt;";
    else if (c == '>')
      esc += "&gt;";
    else if (c == '&')
      esc += "&amp;";
    else
      esc += c;
  }
  std::string body = "<html>\n<head>\n<title>Error " + std::to_string(status) + " " +
                     net::ReasonPhrase(status) + "</title>\n</head>\n<body><h2>HTTP ERROR " +
                     std::to_string(status) + "</h2>\n<p>Problem accessing. Reason:\n<pre>    " +
                     esc + "</pre></p>\n</body>\n</html>\n";
  auto r = net::HttpResponse::Text(status, body, "text/html;charset=ISO-8859-1");
  return r;
}
net::HttpResponse NotFound() { return JettyError(404, "Not Found"); }
net::HttpResponse MethodNotAllowed() { return JettyError(405, "Method Not Allowed"); }

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

double Percentile(std::vector<int64_t> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  double pos = q * static_cast<double>(v.size() + 1);
  if (pos < 1) return static_cast<double>(v.front());
  if (pos >= static_cast<double>(v.size())) return static_cast<double>(v.back());
  size_t lo = static_cast<size_t>(pos);
  double frac = pos - static_cast<double>(lo);
  return static_cast<double>(v[lo - 1]) + frac * static_cast<double>(v[lo] - v[lo - 1]);
}

class Impl final : public ChronosEmulator {
 public:
  Impl(ChronosOptions o, std::unique_ptr<marathon::TaskRunner> runner)
      : options_(std::move(o)), core_(options_.core), runner_(std::move(runner)) {
    runner_->SetListener(
        [this](const std::string& id, const marathon::TaskStatus& st) { OnTask(id, st); });
    loop_ = std::thread([this] { Loop(); });
  }
  ~Impl() override { Stop(); }

  net::HttpResponse Handle(const net::HttpRequest& req) override {
    if (req.method == "OPTIONS") return NoContent();
    if (req.path == "/ping") return net::HttpResponse::Text(200, "pong\n");
    std::string p = req.path;
    if (p.rfind(kPrefix, 0) != 0) return NotFound();
    p = p.substr(sizeof(kPrefix) - 1);
    const std::string& m = req.method;
    if (p == "/jobs") return m == "GET" ? ListJobs() : MethodNotAllowed();
    if (p == "/jobs/search") return m == "GET" ? Search(req) : MethodNotAllowed();
    if (p == "/jobs/summary") return m == "GET" ? Summary() : MethodNotAllowed();
    if (p == "/iso8601" || p == "/dependency") {
      return m == "POST" ? Post(req, p == "/dependency") : MethodNotAllowed();
    }
    if (p == "/leader") {
      return m == "GET" ? JsonBody(200, Json{{"leader", options_.hostname + ":" +
                                                            std::to_string(options_.http_port)}}
                                            .dump())
                        : MethodNotAllowed();
    }
    if (p == "/graph/csv") return m == "GET" ? GraphCsv() : MethodNotAllowed();
    if (p.rfind("/job/stat/", 0) == 0) {
      return m == "GET" ? Stat(p.substr(10)) : MethodNotAllowed();
    }
    if (p.rfind("/job/success/", 0) == 0) {
      return m == "PUT" ? MarkSuccess(p.substr(13)) : MethodNotAllowed();
    }
    if (p.rfind("/task/kill/", 0) == 0) {
      return m == "DELETE" ? KillTasks(p.substr(11)) : MethodNotAllowed();
    }
    if (p.rfind("/job/", 0) == 0 && p.find('/', 5) == std::string::npos && p.size() > 5) {
      std::string name = p.substr(5);
      if (m == "GET") return GetJob(name);
      if (m == "DELETE") return DeleteJob(name);
      if (m == "PUT") return StartJob(name, req.Query("arguments").value_or(""));
      return MethodNotAllowed();
    }
    return NotFound();
  }

  Json Snapshot() const override {
    std::lock_guard<std::mutex> g(mu_);
    return core_.Snapshot();
  }
  Status Restore(const Json& snapshot) override {
    std::lock_guard<std::mutex> g(mu_);
    return core_.Restore(snapshot);
  }
  uint64_t ChangeCounter() const override {
    std::lock_guard<std::mutex> g(mu_);
    return core_.changes();
  }
  void Stop() override {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (stopped_) return;
      stopped_ = true;
      cv_.notify_all();
    }
    if (loop_.joinable()) loop_.join();
    runner_->Shutdown();
  }
  void TickNow() override { RunTick(); }

 private:
  int64_t NowMs() {
    auto t = ClockOr(options_.clock).WallNow();
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  }

  // GET /jobs mirrors uris and fetch (§2.1).
  static OrderedJson Mirrored(OrderedJson j) {
    if (j["fetch"].empty()) {
      for (const auto& u : j["uris"]) {
        j["fetch"].push_back(
            {{"uri", u}, {"executable", false}, {"cache", false}, {"extract", true}});
      }
    } else {
      OrderedJson uris = OrderedJson::array();
      for (const auto& f : j["fetch"]) uris.push_back(f["uri"]);
      j["uris"] = uris;
    }
    return j;
  }

  net::HttpResponse ListJobs() {
    std::lock_guard<std::mutex> g(mu_);
    OrderedJson out = OrderedJson::array();
    for (const OrderedJson* j : core_.Visible()) out.push_back(Mirrored(*j));
    return JsonBody(200, out.dump());
  }

  net::HttpResponse GetJob(const std::string& name) {
    std::lock_guard<std::mutex> g(mu_);
    const OrderedJson* j = core_.Find(name);
    if (!j) return Error({400, "requirement failed: Job '" + name + "' not found", true});
    return JsonBody(200, j->dump());
  }

  net::HttpResponse Search(const net::HttpRequest& req) {
    auto name = req.Query("name"), command = req.Query("command"), any = req.Query("any");
    int64_t limit = 10, offset = 0;
    try {
      if (auto l = req.Query("limit")) limit = std::stoll(*l);
      if (auto o = req.Query("offset")) offset = std::stoll(*o);
    } catch (const std::exception&) {
      return JettyError(404, "Not Found");  // Jersey: a bad @QueryParam int is a 404
    }
    std::lock_guard<std::mutex> g(mu_);
    OrderedJson out = OrderedJson::array();
    int64_t seen = 0;
    for (const OrderedJson* j : core_.Visible()) {
      std::string jn = Lower((*j)["name"]), jc = Lower((*j)["command"]);
      bool keep = true;
      if (name && jn.find(Lower(*name)) == std::string::npos) keep = false;
      if (command && jc.find(Lower(*command)) == std::string::npos) keep = false;
      if (!keep && any &&
          (jn.find(Lower(*any)) != std::string::npos ||
           jc.find(Lower(*any)) != std::string::npos)) {
        keep = true;
      }
      if (!keep) continue;
      if (seen++ < offset) continue;
      if (static_cast<int64_t>(out.size()) >= limit) break;
      out.push_back(*j);
    }
    return JsonBody(200, out.dump());
  }

  net::HttpResponse Summary() {
    std::lock_guard<std::mutex> g(mu_);
    Json jobs = Json::array();
    for (const OrderedJson* j : core_.Visible()) {
      Json parents = Json::array();
      if (j->contains("parents")) parents = Json::parse((*j)["parents"].dump());
      jobs.push_back({{"name", (*j)["name"]},
                      {"status", core_.LastStatus(*j)},
                      {"state", core_.RunState((*j)["name"])},
                      {"schedule", j->value("schedule", "")},
                      {"parents", parents},
                      {"disabled", (*j)["disabled"]}});
    }
    return JsonBody(200, Json{{"jobs", jobs}}.dump());
  }

  net::HttpResponse GraphCsv() {
    std::lock_guard<std::mutex> g(mu_);
    std::string out;
    for (const OrderedJson* j : core_.Visible()) {
      std::string name = (*j)["name"];
      out += "node," + name + "," + core_.LastStatus(*j) + "," + core_.RunState(name) + "\n";
    }
    for (const OrderedJson* j : core_.Visible()) {
      if (!j->contains("parents")) continue;
      for (const auto& p : (*j)["parents"]) {
        out += "link," + p.get<std::string>() + "," + (*j)["name"].get<std::string>() + "\n";
      }
    }
    return net::HttpResponse::Text(200, out);
  }

  net::HttpResponse Post(const net::HttpRequest& req, bool dependent) {
    Json body = Json::parse(req.body, nullptr, false);
    if (body.is_discarded()) {
      return JettyError(400, "Unexpected character in JSON body (Jackson JsonParseException)");
    }
    int64_t now = NowMs();
    DeserializeError err;
    auto job = ReadJob(body, options_.core.defaults, iso8601::FormatInstant(now, 0), &err);
    if (!job) return JettyError(500, err.message);
    std::optional<ApiError> e;
    {
      std::lock_guard<std::mutex> g(mu_);
      e = dependent ? core_.PutDependent(std::move(*job), now)
                    : core_.PutScheduled(std::move(*job), now);
      cv_.notify_all();  // a new job may be due at once
    }
    return e ? Error(*e) : NoContent();
  }

  net::HttpResponse DeleteJob(const std::string& name) {
    std::vector<std::string> kill;
    std::optional<ApiError> e;
    {
      std::lock_guard<std::mutex> g(mu_);
      e = core_.Delete(name, &kill);
    }
    if (e) return Error(*e);
    for (const auto& id : kill) runner_->Kill(id);
    return NoContent();
  }

  net::HttpResponse StartJob(const std::string& name, const std::string& arguments) {
    std::optional<ApiError> e;
    {
      std::lock_guard<std::mutex> g(mu_);
      e = core_.Start(name, arguments, NowMs());
      cv_.notify_all();
    }
    return e ? Error(*e) : NoContent();
  }

  net::HttpResponse MarkSuccess(const std::string& name) {
    bool ok;
    {
      std::lock_guard<std::mutex> g(mu_);
      ok = core_.MarkSuccess(name, NowMs());
      cv_.notify_all();
    }
    return net::HttpResponse::Text(
        200, "marked job " + name + " as successful: " + (ok ? "true" : "false"),
        "application/json");
  }

  net::HttpResponse KillTasks(const std::string& name) {
    std::vector<std::string> ids;
    std::optional<ApiError> e;
    {
      std::lock_guard<std::mutex> g(mu_);
      e = core_.TasksOf(name, &ids);
    }
    if (e) return Error(*e);
    for (const auto& id : ids) runner_->Kill(id);
    return NoContent();
  }

  net::HttpResponse Stat(const std::string& name) {
    std::lock_guard<std::mutex> g(mu_);
    if (!core_.Find(name))
      return Error({400, "requirement failed: Job '" + name + "' not found", true});
    auto d = core_.Durations(name);
    double median = Percentile(d, 0.5);
    OrderedJson h = {{"75thPercentile", Percentile(d, 0.75)},
                     {"95thPercentile", Percentile(d, 0.95)},
                     {"98thPercentile", Percentile(d, 0.98)},
                     {"99thPercentile", Percentile(d, 0.99)},
                     {"median", median},
                     {"mean", median},
                     {"count", d.size()}};
    return JsonBody(
        200, OrderedJson{{"histogram", h}, {"taskStatHistory", OrderedJson::array()}}.dump());
  }

  marathon::TaskSpec SpecFor(const Launch& l) const {
    marathon::TaskSpec s;
    const OrderedJson& j = l.job;
    s.app_id = "/chronos/" + l.name;
    s.task_id = l.task_id;
    s.version = "chronos";
    s.host = options_.hostname;
    s.address = options_.hostname;
    std::string command = j["command"];
    if (j["shell"].get<bool>()) {
      s.cmd = l.arguments.empty() ? command : command + " " + l.arguments;
    } else {
      s.args.push_back(command);
      for (const auto& a : j["arguments"]) s.args.push_back(a);
      if (!l.arguments.empty()) s.args.push_back(l.arguments);
    }
    if (j.contains("container")) s.docker_image = j["container"]["image"];
    const std::set<std::string> builtin = {"mesos_task_id",
                                           "MESOS_TASK_ID",
                                           "CHRONOS_JOB_OWNER",
                                           "CHRONOS_JOB_NAME",
                                           "HOST",
                                           "CHRONOS_RESOURCE_MEM",
                                           "CHRONOS_RESOURCE_CPU",
                                           "CHRONOS_RESOURCE_DISK",
                                           "CHRONOS_JOB_RUN_TIME",
                                           "CHRONOS_JOB_RUN_ATTEMPT"};
    for (const auto& e : j["environmentVariables"]) {
      std::string n = e["name"];
      if (!builtin.count(n)) s.env[n] = e["value"];
    }
    s.env["mesos_task_id"] = s.env["MESOS_TASK_ID"] = l.task_id;
    s.env["CHRONOS_JOB_OWNER"] = j["owner"];
    s.env["CHRONOS_JOB_NAME"] = l.name;
    s.env["HOST"] = options_.hostname;
    s.env["CHRONOS_RESOURCE_MEM"] = std::to_string(j["mem"].get<double>());
    s.env["CHRONOS_RESOURCE_CPU"] = std::to_string(j["cpus"].get<double>());
    s.env["CHRONOS_RESOURCE_DISK"] = std::to_string(j["disk"].get<double>());
    s.env["CHRONOS_JOB_RUN_TIME"] =
        iso8601::FormatInstant(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   ClockOr(options_.clock).WallNow().time_since_epoch())
                                   .count(),
                               0);
    s.env["CHRONOS_JOB_RUN_ATTEMPT"] = std::to_string(l.attempt);
    return s;
  }

  void RunTick() {
    std::vector<Launch> launches;
    {
      std::lock_guard<std::mutex> g(mu_);
      if (stopped_) return;
      launches = core_.Tick(NowMs());
    }
    for (const auto& l : launches) {
      Status s = runner_->Launch(SpecFor(l));
      if (!s.ok()) {
        std::lock_guard<std::mutex> g(mu_);
        core_.OnFinished(l.task_id, false, NowMs());
      }
    }
  }

  void OnTask(const std::string& id, const marathon::TaskStatus& st) {
    using marathon::TaskState;
    if (st.state != TaskState::kFinished && st.state != TaskState::kFailed &&
        st.state != TaskState::kKilled) {
      return;
    }
    std::lock_guard<std::mutex> g(mu_);
    if (st.state == TaskState::kKilled) {
      core_.OnKilled(id);
    } else {
      core_.OnFinished(id, st.state == TaskState::kFinished, NowMs());
    }
    cv_.notify_all();  // children or retries may be due
  }

  void Loop() {
    while (true) {
      RunTick();
      std::unique_lock<std::mutex> l(mu_);
      if (stopped_) return;
      cv_.wait_for(l, options_.tick);
      if (stopped_) return;
    }
  }

  ChronosOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  ChronosCore core_;
  std::unique_ptr<marathon::TaskRunner> runner_;
  std::thread loop_;
};

}  // namespace

std::unique_ptr<ChronosEmulator> NewChronosEmulator(const ChronosOptions& options,
                                                    std::unique_ptr<marathon::TaskRunner> runner) {
  return std::make_unique<Impl>(options, std::move(runner));
}

}  // namespace galley::sandbox::chronos
