// SPDX-License-Identifier: Apache-2.0
// The Marathon emulator in-process behind net::HttpServer on a loopback port, driven over
// HTTP with net::HttpClient, on the simulated runner with short delays.
#include "sandbox/marathon/marathon_emulator.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <set>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <unistd.h>

#include "net/http_client.h"
#include "net/http_server.h"
#include "support/temp_repo.h"

namespace galley::sandbox::marathon {
namespace {

using Json = nlohmann::json;
using std::chrono::milliseconds;

constexpr char kLocked[] =
    "App is locked by one or more deployments. Override with the option '?force=true'. View "
    "details at "
    "'/v2/deployments/<DEPLOYMENT_ID>'.";

struct Reply {
  int status = 0;
  net::Headers headers;
  std::string body;
  Json json;
  std::string Header(const std::string& k) const {
    auto it = headers.find(k);
    return it == headers.end() ? "" : it->second;
  }
};

class MarathonTest : public ::testing::Test {
 protected:
  void Start(MarathonOptions options = {},
             SimulatedRunnerOptions sim = {milliseconds(20), milliseconds(50), milliseconds(20)}) {
    emulator_ = NewMarathonEmulator(options, NewSimulatedRunner(sim));
    auto s = net::HttpServer::Start(net::HttpServerOptions{}, [this](const net::HttpRequest& r) {
      return emulator_->Handle(r);
    });
    ASSERT_TRUE(s.ok()) << s.status().message();
    server_ = std::move(s).value();
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }
  void SetUp() override {
    if (!std::string(::testing::UnitTest::GetInstance()->current_test_info()->name())
             .starts_with("Custom"))
      Start();
  }
  void TearDown() override {
    if (emulator_) emulator_->Stop();
    if (server_) server_->Stop();
  }

  Reply Call(const std::string& method, const std::string& path, const std::string& body = "",
             net::Headers headers = {}) {
    net::ClientRequest req;
    req.method = method;
    req.url = base_ + path;
    req.body = body;
    req.headers = std::move(headers);
    if (!body.empty()) req.headers["Content-Type"] = "application/json";
    auto r = client_->Send(req);
    EXPECT_TRUE(r.ok()) << r.status().message();
    Reply out;
    if (!r.ok()) return out;
    out.status = r->status;
    out.headers = r->headers;
    out.body = r->body;
    out.json = Json::parse(out.body, nullptr, false);
    return out;
  }
  Reply Get(const std::string& path) { return Call("GET", path); }
  Reply Post(const std::string& path, const Json& body) { return Call("POST", path, body.dump()); }
  Reply Put(const std::string& path, const Json& body) { return Call("PUT", path, body.dump()); }

  // Polls until `pred` holds (up to `timeout`).
  bool WaitFor(const std::function<bool()>& pred, milliseconds timeout = milliseconds(5000)) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      if (pred()) return true;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return pred();
  }
  bool Idle() { return Get("/v2/deployments").json.empty(); }
  Json App(const std::string& id) { return Get("/v2/apps" + id).json["app"]; }
  // By value: a range-for over App(id)["tasks"] would dangle.
  Json Tasks(const std::string& id) { return App(id)["tasks"]; }
  bool Settled(const std::string& id, int n, bool health) {
    if (!Idle()) return false;
    Json a = App(id);
    return a["tasksRunning"] == n && a["tasks"].size() == static_cast<size_t>(n) &&
           (!health || a["tasksHealthy"] == n);
  }
  void SetHealthy(const std::string& app, bool healthy) {
    auto r = Put("/_sandbox/marathon/health", {{"app", app}, {"healthy", healthy}});
    ASSERT_EQ(r.status, 200) << r.body;
  }

  std::unique_ptr<Emulator> emulator_;
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<net::HttpClient> client_ = net::NewHttpClient();
  std::string base_;
};

Json HealthApp(const std::string& id, int instances) {
  return {
      {"id", id},
      {"cmd", "sleep 1000"},
      {"instances", instances},
      {"healthChecks",
       Json::array({{{"path", "/health"}, {"gracePeriodSeconds", 0}, {"intervalSeconds", 1}}})}};
}

TEST_F(MarathonTest, CreateReturns201WithServerDefaults) {
  auto r = Post("/v2/apps", {{"id", "foo"}, {"cmd", "sleep 1000"}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_NE(r.Header("Location").find("/v2/apps/foo"), std::string::npos);
  EXPECT_FALSE(r.Header("Marathon-Deployment-Id").empty());
  const Json& a = r.json;
  EXPECT_EQ(a["id"], "/foo");
  EXPECT_EQ(a["instances"], 1);
  EXPECT_EQ(a["cpus"], 1.0);
  EXPECT_EQ(a["mem"], 128.0);
  EXPECT_EQ(a["disk"], 0);
  EXPECT_EQ(a["gpus"], 0);
  EXPECT_EQ(a["executor"], "");
  EXPECT_EQ(a["backoffSeconds"], 1);
  EXPECT_EQ(a["backoffFactor"], 1.15);
  EXPECT_EQ(a["maxLaunchDelaySeconds"], 300);
  EXPECT_EQ(a["requirePorts"], false);
  EXPECT_EQ(a["killSelection"], "YOUNGEST_FIRST");
  EXPECT_EQ(a["upgradeStrategy"],
            Json::parse(R"({"minimumHealthCapacity":1,"maximumOverCapacity":1})"));
  EXPECT_EQ(a["unreachableStrategy"],
            Json::parse(R"({"inactiveAfterSeconds":0,"expungeAfterSeconds":0})"));
  EXPECT_EQ(a["labels"], Json::object());
  EXPECT_EQ(a["networks"], Json::parse(R"([{"mode":"host"}])"));
  EXPECT_EQ(a["portDefinitions"],
            Json::parse(R"([{"port":10000,"protocol":"tcp","name":"default"}])"));
  for (const char* absent :
       {"env", "healthChecks", "container", "args", "constraints", "fetch", "user", "ports", "uris",
        "ipAddress", "dependencies", "secrets", "role"}) {
    EXPECT_FALSE(a.contains(absent)) << absent;
  }
  EXPECT_EQ(a["version"], a["versionInfo"]["lastConfigChangeAt"]);
  EXPECT_EQ(a["version"], a["versionInfo"]["lastScalingAt"]);
  EXPECT_EQ(a["tasksStaged"], 0);
  EXPECT_EQ(a["tasksRunning"], 0);
  EXPECT_EQ(a["tasksHealthy"], 0);
  EXPECT_EQ(a["tasksUnhealthy"], 0);
  ASSERT_EQ(a["deployments"].size(), 1u);
  EXPECT_EQ(a["deployments"][0]["id"], r.Header("Marathon-Deployment-Id"));

  auto again = Post("/v2/apps", {{"id", "/foo"}, {"cmd", "x"}});
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.json, Json::parse(R"({"message":"An app with id [/foo] already exists."})"));

  ASSERT_TRUE(WaitFor([&] { return Settled("/foo", 1, false); }));
  Json t = App("/foo")["tasks"][0];
  EXPECT_EQ(t["state"], "TASK_RUNNING");
  EXPECT_EQ(t["appId"], "/foo");
  EXPECT_EQ(t["servicePorts"], Json::array({10000}));
  EXPECT_EQ(t["ports"].size(), 1u);
  EXPECT_GE(t["ports"][0].get<int>(), 31000);
  EXPECT_TRUE(t["id"].get<std::string>().starts_with("foo.instance-"));
  EXPECT_TRUE(t.contains("startedAt") && t.contains("stagedAt") && t.contains("ipAddresses"));
  EXPECT_EQ(t["version"], a["version"]);
}

// --local-port-min/--local-port-max: service ports come from [min, max); when they are all
// taken a new app is refused with Marathon's message, and a deleted app's ports are free again.
TEST_F(MarathonTest, CustomServicePortRange) {
  MarathonOptions options;
  options.first_service_port = 40000;
  options.last_service_port = 40003;  // 40000, 40001, 40002
  Start(options);
  Json two = {{"id", "/two"},
              {"cmd", "x"},
              {"portDefinitions", Json::array({{{"port", 0}}, {{"port", 0}}})}};
  ASSERT_EQ(Post("/v2/apps", two).status, 201);
  EXPECT_EQ(Get("/v2/info").json["marathon_config"]["local_port_min"], 40000);
  EXPECT_EQ(Get("/v2/info").json["marathon_config"]["local_port_max"], 40003);
  Json one = {{"id", "/one"}, {"cmd", "x"}, {"portDefinitions", Json::array({{{"port", 0}}})}};
  ASSERT_EQ(Post("/v2/apps", one).status, 201);
  std::vector<int> ports;
  for (const char* id : {"/two", "/one"}) {
    Json defs = App(id)["portDefinitions"];  // by value: App() returns a temporary
    for (const auto& d : defs) ports.push_back(d["port"].get<int>());
  }
  EXPECT_EQ(ports, (std::vector<int>{40000, 40001, 40002}));
  Json three = {{"id", "/three"}, {"cmd", "x"}, {"portDefinitions", Json::array({{{"port", 0}}})}};
  auto full = Post("/v2/apps", three);
  EXPECT_EQ(full.status, 422);
  EXPECT_EQ(full.json["details"][0]["errors"][0],
            "All ports in the range 40000-40003 are already in use");
  ASSERT_TRUE(WaitFor([&] { return Idle(); }));
  ASSERT_EQ(Call("DELETE", "/v2/apps/one").status, 200);
  ASSERT_TRUE(WaitFor([&] { return Idle(); }));
  ASSERT_EQ(Post("/v2/apps", three).status, 201);
  EXPECT_EQ(App("/three")["portDefinitions"][0]["port"], 40002);
}

TEST_F(MarathonTest, IdsAreCanonicalisedAndValidated) {
  ASSERT_EQ(Post("/v2/apps", {{"id", "a/b/"}, {"cmd", "x"}}).status, 201);
  EXPECT_EQ(Get("/v2/apps/a/b").json["app"]["id"], "/a/b");
  EXPECT_EQ(Get("/v2/apps/a/b/").status, 200);
  EXPECT_EQ(Get("//v2/apps//a/b").status, 200);
  auto bad = Post("/v2/apps", {{"id", "/Bad_Id"}, {"cmd", "x"}});
  EXPECT_EQ(bad.status, 422);
  EXPECT_EQ(bad.json["message"], "Object is not valid");
  EXPECT_EQ(bad.json["details"][0]["path"], "/id");
  EXPECT_NE(bad.json["details"][0]["errors"][0].get<std::string>().find(
                "must fully match regular expression"),
            std::string::npos);
  auto groups = Get("/v2/groups").json;
  EXPECT_EQ(groups["id"], "/");
  ASSERT_EQ(groups["groups"].size(), 1u);
  EXPECT_EQ(groups["groups"][0]["id"], "/a");
  EXPECT_EQ(groups["groups"][0]["apps"][0]["id"], "/a/b");
  EXPECT_EQ(Get("/v2/groups/a").json["id"], "/a");
  EXPECT_EQ(Get("/v2/groups/zz").json, Json::parse(R"({"message":"Group '/zz' does not exist"})"));
}

TEST_F(MarathonTest, DockerNetwork14InputComesBackIn15Form) {
  Json app = Json::parse(
      R"({"id":"/web","args":["x"],"container":{"type":"DOCKER","docker":{"image":"nginx",
      "network":"BRIDGE","portMappings":[{"containerPort":3000}]}}})");
  auto r = Post("/v2/apps", app);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.json["networks"], Json::parse(R"([{"mode":"container/bridge"}])"));
  EXPECT_FALSE(r.json.contains("portDefinitions"));
  EXPECT_FALSE(r.json["container"]["docker"].contains("network"));
  EXPECT_FALSE(r.json["container"]["docker"].contains("portMappings"));
  EXPECT_EQ(
      r.json["container"]["portMappings"],
      Json::parse(
          R"([{"containerPort":3000,"hostPort":0,"servicePort":10000,"protocol":"tcp","labels":{}}])"));
  EXPECT_EQ(r.json["container"]["docker"]["forcePullImage"], false);
  EXPECT_EQ(r.json["container"]["volumes"], Json::array());
  // Service ports: first free from 10000, unique, explicit ones respected and reused.
  EXPECT_EQ(Post("/v2/apps", {{"id", "/b"}, {"cmd", "x"}}).json["portDefinitions"][0]["port"],
            10001);
  Json two = Post("/v2/apps",
                  {{"id", "/c"}, {"cmd", "x"}, {"portDefinitions", {{{"port", 0}}, {{"port", 0}}}}})
                 .json;
  EXPECT_EQ(two["portDefinitions"][0]["port"], 10002);
  EXPECT_EQ(two["portDefinitions"][1]["port"], 10003);
  EXPECT_EQ(Post("/v2/apps", {{"id", "/d"}, {"cmd", "x"}, {"portDefinitions", {{{"port", 12345}}}}})
                .json["portDefinitions"][0]["port"],
            12345);
  EXPECT_EQ(Post("/v2/apps", {{"id", "/e"}, {"cmd", "x"}, {"portDefinitions", Json::array()}})
                .json["portDefinitions"],
            Json::array());
  // Re-sending 0 keeps the assigned port and changes nothing.
  ASSERT_TRUE(WaitFor([&] { return Idle(); }));
  std::string v = App("/c")["version"];
  EXPECT_EQ(Put("/v2/apps/c", {{"portDefinitions", {{{"port", 0}}, {{"port", 0}}}}}).status, 200);
  EXPECT_EQ(App("/c")["version"], v);
  EXPECT_EQ(App("/c")["portDefinitions"][1]["port"], 10003);
}

// Marathon's AppNormalization (marathon-events.md §4): for bridge portMappings and host
// portDefinitions, absent gets one default port while [] is stored and returned as [].
// Each request of tests/testdata/marathon/normalization/ must come back as its stored
// twin (service ports, versions and role aside).
TEST_F(MarathonTest, AbsentPortListsGetADefaultPortButEmptyOnesStayEmpty) {
  auto comparable = [](Json app) {
    for (const char* k : {"version", "versionInfo", "role", "tasks", "tasksStaged", "tasksRunning",
                          "tasksHealthy", "tasksUnhealthy", "deployments", "lastTaskFailure"}) {
      app.erase(k);
    }
    if (app.contains("portDefinitions")) {
      for (auto& d : app["portDefinitions"]) d.erase("port");
    }
    if (app.contains("container") && app["container"].contains("portMappings")) {
      for (auto& m : app["container"]["portMappings"]) m.erase("servicePort");
    }
    return app;
  };
  const std::string dir = galley::testing::SourceRoot() + "/tests/testdata/marathon/normalization/";
  for (const char* name : {"bridge-portMappings-absent", "bridge-portMappings-empty",
                           "host-portDefinitions-absent", "host-portDefinitions-empty"}) {
    Json request = Json::parse(galley::testing::ReadText(dir + name + ".request.json"));
    Json stored = Json::parse(galley::testing::ReadText(dir + name + ".stored.json"));
    auto r = Post("/v2/apps", request);
    ASSERT_EQ(r.status, 201) << name << ": " << r.body;
    EXPECT_EQ(comparable(App(request["id"])), comparable(stored)) << name;
  }
  // 1.4-style input: docker.portMappings [] means no mappings too, absent or null the default.
  Json legacy =
      Json::parse(R"({"id":"/legacy/none","args":["x"],"container":{"type":"DOCKER","docker":{
      "image":"worker:1","network":"BRIDGE","portMappings":[]}}})");
  ASSERT_EQ(Post("/v2/apps", legacy).status, 201);
  EXPECT_EQ(App("/legacy/none")["container"]["portMappings"], Json::array());
  legacy["id"] = "/legacy/null";
  legacy["container"]["docker"]["portMappings"] = nullptr;
  ASSERT_EQ(Post("/v2/apps", legacy).status, 201);
  EXPECT_EQ(App("/legacy/null")["container"]["portMappings"].size(), 1u);
  EXPECT_EQ(App("/legacy/null")["container"]["portMappings"][0]["name"], "default");
  // An update sending [] again keeps it [] (and changes nothing).
  ASSERT_TRUE(WaitFor([&] { return Idle(); }));
  std::string v = App("/legacy/none")["version"];
  legacy["id"] = "/legacy/none";
  legacy["container"]["docker"]["portMappings"] = Json::array();
  ASSERT_EQ(Put("/v2/apps/legacy/none", legacy).status, 200);
  EXPECT_EQ(App("/legacy/none")["container"]["portMappings"], Json::array());
  EXPECT_EQ(App("/legacy/none")["version"], v);
}

TEST_F(MarathonTest, PartialUpdateMergesAndFullReplaceResets) {
  ASSERT_EQ(
      Post("/v2/apps", {{"id", "/p"}, {"cmd", "a"}, {"instances", 3}, {"labels", {{"k", "v"}}}})
          .status,
      201);
  ASSERT_TRUE(WaitFor([&] { return Settled("/p", 3, false); }));
  auto r = Put("/v2/apps/p", {{"env", {{"A", "1"}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(r.json["deploymentId"].get<std::string>().empty());
  EXPECT_EQ(r.Header("Marathon-Deployment-Id"), r.json["deploymentId"]);
  Json a = App("/p");
  EXPECT_EQ(a["instances"], 3);
  EXPECT_EQ(a["labels"]["k"], "v");
  EXPECT_EQ(a["env"]["A"], "1");
  EXPECT_EQ(a["version"], r.json["version"]);
  ASSERT_TRUE(WaitFor([&] { return Idle(); }));
  r = Put("/v2/apps/p?partialUpdate=false", {{"cmd", "b"}});
  ASSERT_EQ(r.status, 200) << r.body;
  a = App("/p");
  EXPECT_EQ(a["instances"], 1);
  EXPECT_EQ(a["labels"], Json::object());
  EXPECT_FALSE(a.contains("env"));
  EXPECT_EQ(a["cmd"], "b");
  // PUT creates (201), PATCH never does.
  auto created = Put("/v2/apps/newone", {{"cmd", "x"}});
  EXPECT_EQ(created.status, 201);
  EXPECT_TRUE(created.json.contains("deploymentId"));
  auto patch = Call("PATCH", "/v2/apps/missing", R"({"instances":2})");
  EXPECT_EQ(patch.status, 404);
  EXPECT_EQ(patch.json, Json::parse(R"({"message":"App '/missing' does not exist"})"));
}

TEST_F(MarathonTest, ScaleMovesOnlyLastScalingAtAndNoOpKeepsVersion) {
  Json created = Post("/v2/apps", {{"id", "/s"}, {"cmd", "a"}}).json;
  ASSERT_TRUE(WaitFor([&] { return Settled("/s", 1, false); }));
  auto r = Put("/v2/apps/s", {{"instances", 3}});
  ASSERT_EQ(r.status, 200);
  Json a = App("/s");
  EXPECT_EQ(a["versionInfo"]["lastScalingAt"], r.json["version"]);
  EXPECT_EQ(a["versionInfo"]["lastConfigChangeAt"], created["versionInfo"]["lastConfigChangeAt"]);
  ASSERT_TRUE(WaitFor([&] { return Settled("/s", 3, false); }));
  Json deps = Get("/v2/deployments").json;
  EXPECT_TRUE(deps.empty());
  // A no-op PUT answers a fresh deployment but leaves the app's version alone.
  std::string version = App("/s")["version"];
  auto noop = Put("/v2/apps/s", {{"instances", 3}, {"cmd", "a"}});
  ASSERT_EQ(noop.status, 200);
  EXPECT_NE(noop.json["version"], version);
  EXPECT_EQ(App("/s")["version"], version);
  EXPECT_TRUE(Get("/v2/deployments").json.empty());
  // Scale down keeps the oldest (YOUNGEST_FIRST kills the newest).
  Json tasks = App("/s")["tasks"];
  ASSERT_EQ(Put("/v2/apps/s", {{"instances", 1}}).status, 200);
  ASSERT_TRUE(WaitFor([&] { return Settled("/s", 1, false); }));
  std::string oldest;
  for (const auto& t : tasks) {
    if (oldest.empty() || t["stagedAt"].get<std::string>() < oldest) oldest = t["stagedAt"];
  }
  EXPECT_EQ(App("/s")["tasks"][0]["stagedAt"], oldest);
}

TEST_F(MarathonTest, LockedAppGives409AndForceOverrides) {
  ASSERT_EQ(Post("/v2/apps", HealthApp("/l", 1)).status, 201);
  SetHealthy("/l", false);  // the first deployment never finishes
  ASSERT_TRUE(WaitFor([&] { return App("/l")["tasksRunning"] == 1; }));
  Json deps = Get("/v2/deployments").json;
  ASSERT_EQ(deps.size(), 1u);
  std::string dep = deps[0]["id"];
  EXPECT_EQ(deps[0]["affectedApps"], Json::array({"/l"}));
  EXPECT_EQ(deps[0]["currentStep"], 2);
  EXPECT_EQ(deps[0]["totalSteps"], 2);
  EXPECT_EQ(deps[0]["steps"][0]["actions"][0]["action"], "StartApplication");
  EXPECT_EQ(deps[0]["currentActions"][0]["action"], "ScaleApplication");
  EXPECT_EQ(deps[0]["currentActions"][0]["readinessCheckResults"], Json::array());

  auto locked = Put("/v2/apps/l", {{"cmd", "other"}});
  EXPECT_EQ(locked.status, 409);
  EXPECT_EQ(locked.json["message"], kLocked);
  EXPECT_EQ(locked.json["deployments"], Json::parse("[{\"id\":\"" + dep + "\"}]"));
  EXPECT_EQ(Call("POST", "/v2/apps/l/restart").status, 409);
  // Booleans: "1" is false, any case of "true" is true. No-op changes never conflict.
  EXPECT_EQ(Put("/v2/apps/l?force=1", {{"cmd", "other"}}).status, 409);
  EXPECT_EQ(Put("/v2/apps/l", {{"cmd", "sleep 1000"}}).status, 200);
  auto forced = Put("/v2/apps/l?force=True", {{"cmd", "other"}});
  EXPECT_EQ(forced.status, 200) << forced.body;
  deps = Get("/v2/deployments").json;
  ASSERT_EQ(deps.size(), 1u);
  EXPECT_EQ(deps[0]["id"], forced.json["deploymentId"]);
  EXPECT_EQ(Put("/v2/apps/l?force=TRUE", {{"cmd", "third"}}).status, 200);
  SetHealthy("/l", true);
  ASSERT_TRUE(WaitFor([&] { return Settled("/l", 1, true); }));
}

TEST_F(MarathonTest, VersionsAndRollback) {
  Json v1 = Post("/v2/apps", {{"id", "/v"}, {"cmd", "one"}, {"instances", 2}}).json;
  ASSERT_TRUE(WaitFor([&] { return Idle(); }));
  ASSERT_EQ(Put("/v2/apps/v", {{"cmd", "two"}, {"instances", 1}}).status, 200);
  ASSERT_TRUE(WaitFor([&] { return Idle(); }));
  Json versions = Get("/v2/apps/v/versions").json["versions"];
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[1], v1["version"]);
  auto old = Get("/v2/apps/v/versions/" + v1["version"].get<std::string>());
  EXPECT_EQ(old.status, 200);
  EXPECT_EQ(old.json["cmd"], "one");
  EXPECT_FALSE(old.json.contains("tasksRunning"));
  auto missing = Get("/v2/apps/v/versions/2001-01-01T00:00:00.000Z");
  EXPECT_EQ(
      missing.json,
      Json::parse(R"({"message":"App '/v' does not exist in version 2001-01-01T00:00:00.000Z"})"));
  auto mixed = Put("/v2/apps/v", {{"version", v1["version"]}, {"cmd", "x"}});
  EXPECT_EQ(mixed.status, 422);
  EXPECT_EQ(mixed.json["details"][0]["errors"][0],
            "The 'version' field may only be combined with the 'id' field.");
  auto rb = Put("/v2/apps/v", {{"version", v1["version"]}});
  ASSERT_EQ(rb.status, 200) << rb.body;
  Json a = App("/v");
  EXPECT_EQ(a["cmd"], "one");
  EXPECT_EQ(a["instances"], 2);
  EXPECT_EQ(a["version"], rb.json["version"]);
  EXPECT_EQ(Put("/v2/apps/v", {{"version", "2001-01-01T00:00:00.000Z"}}).status, 404);
  ASSERT_TRUE(WaitFor([&] { return Settled("/v", 2, false); }));
  for (const auto& t : Tasks("/v")) EXPECT_EQ(t["version"], rb.json["version"]);
}

TEST_F(MarathonTest, RestartReplacesEveryTask) {
  Json created = Post("/v2/apps", HealthApp("/r", 2)).json;
  ASSERT_TRUE(WaitFor([&] { return Settled("/r", 2, true); }));
  std::set<std::string> before;
  for (const auto& t : Tasks("/r")) before.insert(t["id"]);
  auto r = Call("POST", "/v2/apps/r/restart");
  ASSERT_EQ(r.status, 200) << r.body;
  Json a = App("/r");
  EXPECT_EQ(a["version"], r.json["version"]);
  EXPECT_EQ(a["versionInfo"]["lastConfigChangeAt"], r.json["version"]);
  EXPECT_EQ(a["versionInfo"]["lastScalingAt"], created["versionInfo"]["lastScalingAt"]);
  ASSERT_TRUE(WaitFor([&] { return Settled("/r", 2, true); }));
  for (const auto& t : Tasks("/r")) EXPECT_FALSE(before.count(t["id"]));
  EXPECT_EQ(Call("POST", "/v2/apps/nope/restart").status, 404);
}

TEST_F(MarathonTest, RollingUpgradeHonoursUpgradeStrategy) {
  Json app = HealthApp("/roll", 4);
  app["upgradeStrategy"] = {{"minimumHealthCapacity", 0.5}, {"maximumOverCapacity", 0.5}};
  ASSERT_EQ(Post("/v2/apps", app).status, 201);
  ASSERT_TRUE(WaitFor([&] { return Settled("/roll", 4, true); }));
  auto r = Put("/v2/apps/roll", {{"cmd", "sleep 2000"}});
  ASSERT_EQ(r.status, 200);
  int samples = 0, min_healthy = 100, max_tasks = 0;
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < end) {
    Json a = App("/roll");
    min_healthy = std::min(min_healthy, a["tasksHealthy"].get<int>());
    max_tasks = std::max(max_tasks, static_cast<int>(a["tasks"].size()));
    ++samples;
    if (a["deployments"].empty()) break;
    std::this_thread::sleep_for(milliseconds(3));
  }
  EXPECT_GT(samples, 5);
  EXPECT_GE(min_healthy, 2);  // ⌈4 × 0.5⌉
  EXPECT_LE(max_tasks, 6);    // ⌊4 × 1.5⌋
  EXPECT_GT(max_tasks, 4);    // it did use the over-capacity
  ASSERT_TRUE(WaitFor([&] { return Settled("/roll", 4, true); }));
  for (const auto& t : Tasks("/roll")) EXPECT_EQ(t["version"], r.json["version"]);
}

TEST_F(MarathonTest, DeploymentDeleteRollsBackOrForceCancels) {
  ASSERT_EQ(Post("/v2/apps", HealthApp("/d", 1)).status, 201);
  ASSERT_TRUE(WaitFor([&] { return Settled("/d", 1, true); }));
  SetHealthy("/d", false);
  auto up = Put("/v2/apps/d?force=true", {{"cmd", "new"}});
  ASSERT_EQ(up.status, 200);
  std::string dep = up.json["deploymentId"];
  auto rb = Call("DELETE", "/v2/deployments/" + dep);
  ASSERT_EQ(rb.status, 200) << rb.body;
  EXPECT_TRUE(rb.json.contains("deploymentId") && rb.json.contains("version"));
  EXPECT_EQ(App("/d")["cmd"], "sleep 1000");
  Json deps = Get("/v2/deployments").json;
  ASSERT_EQ(deps.size(), 1u);
  EXPECT_EQ(deps[0]["id"], rb.json["deploymentId"]);
  auto forced = Call(
      "DELETE", "/v2/deployments/" + rb.json["deploymentId"].get<std::string>() + "?force=true");
  EXPECT_EQ(forced.status, 202);
  EXPECT_EQ(forced.body, "");
  EXPECT_TRUE(Get("/v2/deployments").json.empty());
  auto unknown = Call("DELETE", "/v2/deployments/nope");
  EXPECT_EQ(unknown.json, Json::parse(R"({"message":"DeploymentPlan nope does not exist"})"));
  SetHealthy("/d", true);
}

TEST_F(MarathonTest, DeleteAppStopsTasks) {
  ASSERT_EQ(Post("/v2/apps", {{"id", "/gone"}, {"cmd", "x"}, {"instances", 2}}).status, 201);
  ASSERT_TRUE(WaitFor([&] { return Settled("/gone", 2, false); }));
  auto r = Call("DELETE", "/v2/apps/gone");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.json.contains("deploymentId"));
  EXPECT_EQ(Get("/v2/apps/gone").json, Json::parse(R"({"message":"App '/gone' does not exist"})"));
  ASSERT_TRUE(WaitFor([&] { return Get("/v2/tasks").json["tasks"].empty() && Idle(); }));
  EXPECT_EQ(Call("DELETE", "/v2/apps/gone").status, 404);
}

TEST_F(MarathonTest, ErrorBodiesAreExact) {
  EXPECT_EQ(Get("/v2/apps/x").json, Json::parse(R"({"message":"App '/x' does not exist"})"));
  auto broken = Call("POST", "/v2/apps", "{\"id\": ");
  EXPECT_EQ(broken.status, 400);
  EXPECT_EQ(broken.json["message"], "Invalid JSON");
  EXPECT_TRUE(broken.json["details"].is_string());
  auto empty = Call("POST", "/v2/apps", " ");
  EXPECT_EQ(empty.status, 400);
  EXPECT_EQ(empty.json["message"], "Please specify data in JSON format");
  auto type = Post("/v2/apps", {{"id", 5}, {"cmd", "x"}});
  EXPECT_EQ(type.status, 422);
  EXPECT_EQ(
      type.json,
      Json::parse(
          R"({"message":"Invalid JSON","details":[{"path":"/id","errors":["error.expected.jsstring"]}]})"));
  auto hc = Post("/v2/apps", {{"id", "/h"}, {"cmd", "x"}, {"healthChecks", {{{"portIndex", 3}}}}});
  EXPECT_EQ(hc.status, 422);
  EXPECT_EQ(hc.json["message"], "Object is not valid");
  EXPECT_EQ(hc.json["details"][0]["path"], "/healthChecks(0)/portIndex");
  auto nocmd = Post("/v2/apps", {{"id", "/n"}});
  EXPECT_EQ(
      nocmd.json,
      Json::parse(
          R"({"message":"Object is not valid","details":[{"path":"/","errors":["AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."]}]})"));
  auto us =
      Post("/v2/apps",
           {{"id", "/u"},
            {"cmd", "x"},
            {"upgradeStrategy", {{"minimumHealthCapacity", 1.5}, {"maximumOverCapacity", 0}}}});
  EXPECT_EQ(
      us.json["details"][0],
      Json::parse(
          R"({"path":"/upgradeStrategy/minimumHealthCapacity","errors":["is greater than 1"]})"));
  auto route = Get("/v2/nothing");
  EXPECT_EQ(route.status, 500);
  EXPECT_EQ(route.json, Json::parse(R"({"message":"URI not found"})"));
  EXPECT_EQ(Get("/v2/apps/x/tasks").status, 404);
  EXPECT_EQ(Call("DELETE", "/v2/apps/x/tasks?scale=true&wipe=true").status, 404);
  auto ping = Call("GET", "/ping", "", {{"Accept", "text/plain"}});
  EXPECT_EQ(ping.body, "pong");
  EXPECT_EQ(Get("/v2/leader").json["leader"],
            "127.0.0.1:" + std::to_string(MarathonOptions{}.http_port));
  EXPECT_EQ(Get("/v2/info").json["name"], "marathon");
  EXPECT_EQ(Get("/v2/queue").json, Json::parse(R"({"queue":[]})"));
}

TEST_F(MarathonTest, EmbedsAndFilters) {
  ASSERT_EQ(Post("/v2/apps", {{"id", "/x/one"},
                              {"cmd", "python3 -m http.server"},
                              {"labels", {{"env", "prod"}, {"tier", "web"}}}})
                .status,
            201);
  ASSERT_EQ(
      Post("/v2/apps", {{"id", "/x/two"}, {"cmd", "sleep 5"}, {"labels", {{"env", "dev"}}}}).status,
      201);
  ASSERT_TRUE(WaitFor([&] { return Idle(); }));
  Json plain = Get("/v2/apps").json["apps"];
  ASSERT_EQ(plain.size(), 2u);
  EXPECT_TRUE(plain[0].contains("tasksRunning") && plain[0].contains("deployments"));
  EXPECT_FALSE(plain[0].contains("tasks"));
  for (const char* e : {"apps.tasks", "app.tasks", "group.apps.tasks", "tasks"}) {
    Json with = Get(std::string("/v2/apps?embed=") + e).json["apps"];
    EXPECT_TRUE(with[0].contains("tasks")) << e;
    EXPECT_EQ(with[0]["tasks"].size(), 1u) << e;
  }
  Json counts = Get("/v2/apps?embed=apps.counts&embed=apps.readiness").json["apps"][0];
  EXPECT_EQ(counts["readinessCheckResults"], Json::array());
  EXPECT_EQ(Get("/v2/apps?id=ONE").json["apps"].size(), 1u);
  EXPECT_EQ(Get("/v2/apps?cmd=HTTP.server").json["apps"][0]["id"], "/x/one");
  EXPECT_EQ(Get("/v2/apps?label=env==prod").json["apps"][0]["id"], "/x/one");
  EXPECT_EQ(Get("/v2/apps?label=env!=prod").json["apps"][0]["id"], "/x/two");
  EXPECT_EQ(Get("/v2/apps?label=tier").json["apps"].size(), 1u);
  EXPECT_EQ(Get("/v2/apps?label=env%20in%20(prod,dev)").json["apps"].size(), 2u);
  EXPECT_EQ(Get("/v2/apps?label=env%20notin%20(prod),env").json["apps"][0]["id"], "/x/two");
  EXPECT_EQ(Get("/v2/apps/x/*").json["*"].size(), 2u);
  Json one = Get("/v2/apps/x/one").json["app"];
  EXPECT_TRUE(one.contains("tasks") && one.contains("tasksHealthy") && one.contains("deployments"));
}

TEST_F(MarathonTest, UnhealthyTasksAreReplacedAndRecorded) {
  ASSERT_EQ(Post("/v2/apps", HealthApp("/sick", 2)).status, 201);
  ASSERT_TRUE(WaitFor([&] { return Settled("/sick", 2, true); }));
  std::set<std::string> before;
  for (const auto& t : Tasks("/sick")) before.insert(t["id"]);
  SetHealthy("/sick", false);
  ASSERT_TRUE(WaitFor([&] {
    Json a = App("/sick");
    return a.contains("lastTaskFailure") && a["tasksUnhealthy"].get<int>() >= 1;
  }));
  Json a = App("/sick");
  EXPECT_EQ(a["lastTaskFailure"]["appId"], "/sick");
  EXPECT_EQ(a["lastTaskFailure"]["state"], "TASK_KILLED");
  Json listed = Get("/v2/apps?embed=apps.lastTaskFailure").json["apps"][0];
  EXPECT_TRUE(listed.contains("lastTaskFailure"));
  SetHealthy("/sick", true);
  ASSERT_TRUE(WaitFor([&] {
    if (!Settled("/sick", 2, true)) return false;
    for (const auto& t : Tasks("/sick")) {
      if (before.count(t["id"])) return false;
    }
    return true;
  }));
}

TEST_F(MarathonTest, TaskEndpoints) {
  ASSERT_EQ(Post("/v2/apps", {{"id", "/t"}, {"cmd", "x"}, {"instances", 3}}).status, 201);
  ASSERT_TRUE(WaitFor([&] { return Settled("/t", 3, false); }));
  EXPECT_EQ(Get("/v2/tasks?status=running").json["tasks"].size(), 3u);
  EXPECT_EQ(Get("/v2/tasks?status=staging").json["tasks"].size(), 0u);
  Json tasks = Get("/v2/apps/t/tasks").json["tasks"];
  ASSERT_EQ(tasks.size(), 3u);
  std::string victim = tasks[0]["id"];
  auto killed = Call("DELETE", "/v2/apps/t/tasks/" + victim);
  ASSERT_EQ(killed.status, 200) << killed.body;
  EXPECT_EQ(killed.json["task"]["id"], victim);
  EXPECT_EQ(Call("DELETE", "/v2/apps/t/tasks/t.instance-nope._app.1").json,
            Json::parse(R"({"message":"Task 't.instance-nope._app.1' does not exist"})"));
  // Replaced to keep 3 instances.
  ASSERT_TRUE(WaitFor([&] {
    Json a = App("/t");
    if (a["tasksRunning"] != 3 || a["tasks"].size() != 3) return false;
    for (const auto& t : a["tasks"]) {
      if (t["id"] == victim) return false;
    }
    return true;
  }));
  std::string second = App("/t")["tasks"][0]["id"];
  auto scaled = Call("DELETE", "/v2/apps/t/tasks/" + second + "?scale=true");
  ASSERT_EQ(scaled.status, 200) << scaled.body;
  EXPECT_TRUE(scaled.json.contains("deploymentId"));
  EXPECT_EQ(App("/t")["instances"], 2);
  ASSERT_TRUE(WaitFor([&] { return Settled("/t", 2, false); }));
  auto bad = Call("POST", "/v2/tasks/delete", R"({"ids":["nodots"]})");
  EXPECT_EQ(bad.status, 400);
  std::string third = App("/t")["tasks"][0]["id"];
  auto bulk = Call("POST", "/v2/tasks/delete?scale=TRUE",
                   "{\"ids\":[\"" + third + "\",\"t.instance-x._app.1\"]}");
  EXPECT_EQ(bulk.status, 200) << bulk.body;
  EXPECT_EQ(App("/t")["instances"], 1);
  EXPECT_EQ(Call("DELETE", "/v2/apps/t/tasks?scale=true&wipe=true").status, 400);
}

// Reads an SSE stream on a raw socket until `until` appears or time runs out.
std::string ReadEvents(int port, const std::string& target, const std::string& until,
                       std::function<void()> during, int* status_out) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return "";
  timeval tv{0, 200000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string req = "GET " + target + " HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n";
  (void)!::write(fd, req.data(), req.size());
  std::string got;
  bool started = false;
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  char buf[4096];
  while (std::chrono::steady_clock::now() < end) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n > 0) got.append(buf, static_cast<size_t>(n));
    if (n == 0) break;
    if (!started && got.find("event_stream_attached") != std::string::npos) {
      started = true;
      during();
    }
    if (got.find(until) != std::string::npos) break;
  }
  ::close(fd);
  *status_out = got.size() > 12 ? std::atoi(got.substr(9, 3).c_str()) : 0;
  return got;
}

TEST_F(MarathonTest, EventStreamShowsDeployments) {
  auto no_accept = Get("/v2/events");
  EXPECT_EQ(no_accept.status, 405);
  int status = 0;
  std::string stream = ReadEvents(
      server_->port(), "/v2/events", "event: deployment_success",
      [&] {
        EXPECT_EQ(Post("/v2/apps", {{"id", "/ev"}, {"cmd", "x"}}).status, 201);
      },
      &status);
  EXPECT_EQ(status, 200);
  size_t attached = stream.find("event: event_stream_attached");
  size_t post = stream.find("event: api_post_event");
  size_t info = stream.find("event: deployment_info");
  size_t step = stream.find("event: deployment_step_success");
  size_t status_update = stream.find("event: status_update_event");
  size_t success = stream.find("event: deployment_success");
  ASSERT_NE(attached, std::string::npos);
  ASSERT_NE(info, std::string::npos) << stream;
  ASSERT_NE(success, std::string::npos) << stream;
  EXPECT_NE(post, std::string::npos);
  EXPECT_NE(step, std::string::npos);
  EXPECT_NE(status_update, std::string::npos);
  EXPECT_NE(stream.find("event: instance_changed_event"), std::string::npos);
  EXPECT_LT(attached, info);
  EXPECT_LT(info, success);
  // Every data line is one JSON object with eventType and timestamp.
  size_t pos = 0;
  int lines = 0;
  while ((pos = stream.find("\ndata: ", pos)) != std::string::npos) {
    size_t eol = stream.find('\n', pos + 1);
    Json j = Json::parse(stream.substr(pos + 7, eol - pos - 7), nullptr, false);
    EXPECT_TRUE(j.is_object() && j.contains("eventType") && j.contains("timestamp"));
    if (j["eventType"] == "deployment_info") {
      EXPECT_TRUE(j["plan"].contains("original") && j["plan"].contains("target") &&
                  j.contains("currentStep"));
    }
    ++lines;
    pos = eol;
  }
  EXPECT_GE(lines, 5);
  // event_type filters.
  std::string filtered = ReadEvents(
      server_->port(), "/v2/events?event_type=deployment_success", "event: deployment_success",
      [&] {
        EXPECT_EQ(Put("/v2/apps/ev", {{"instances", 2}}).status, 200);
      },
      &status);
  EXPECT_NE(filtered.find("event: deployment_success"), std::string::npos);
  EXPECT_EQ(filtered.find("event: deployment_info"), std::string::npos);
  EXPECT_EQ(filtered.find("event: status_update_event"), std::string::npos);
}

TEST_F(MarathonTest, CustomMaxRunningDeploymentsGives403) {
  MarathonOptions o;
  o.max_running_deployments = 1;
  Start(o);
  ASSERT_EQ(Post("/v2/apps", HealthApp("/one", 1)).status, 201);
  SetHealthy("/one", false);
  auto r = Post("/v2/apps", {{"id", "/two"}, {"cmd", "x"}});
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.json["message"].get<std::string>().find("Max number (1) of running deployments"),
            std::string::npos);
  EXPECT_EQ(Get("/v2/apps/two").status, 404);
  SetHealthy("/one", true);
  ASSERT_TRUE(WaitFor([&] { return Idle(); }));
  EXPECT_EQ(Post("/v2/apps", {{"id", "/two"}, {"cmd", "x"}}).status, 201);
}

TEST_F(MarathonTest, CustomBasicAuth) {
  MarathonOptions o;
  o.http_credentials = "user:secret";
  Start(o);
  auto denied = Get("/v2/apps");
  EXPECT_EQ(denied.status, 401);
  EXPECT_EQ(denied.Header("WWW-Authenticate"), "basic realm=\"Mesosphere\"");
  EXPECT_EQ(Call("GET", "/ping", "", {{"Authorization", "Basic dXNlcjp3cm9uZw=="}}).status, 401);
  EXPECT_EQ(Call("GET", "/v2/apps", "", {{"Authorization", "Basic dXNlcjpzZWNyZXQ="}}).status, 200);
}

TEST_F(MarathonTest, SnapshotRestoreRoundTrip) {
  ASSERT_EQ(Post("/v2/apps", {{"id", "/keep/a"}, {"cmd", "one"}, {"instances", 2}}).status, 201);
  ASSERT_TRUE(WaitFor([&] { return Idle(); }));
  ASSERT_EQ(Put("/v2/apps/keep/a", {{"cmd", "two"}}).status, 200);
  ASSERT_EQ(Post("/v2/apps", {{"id", "/keep/b"}, {"cmd", "x"}}).status, 201);
  ASSERT_TRUE(WaitFor([&] { return Idle(); }));
  uint64_t counter = emulator_->ChangeCounter();
  EXPECT_GE(counter, 3u);
  Json snap = emulator_->Snapshot();
  Json before = App("/keep/a");
  Json versions = Get("/v2/apps/keep/a/versions").json;
  TearDown();
  emulator_.reset();
  server_.reset();
  Start();
  EXPECT_FALSE(emulator_->Restore(Json::object()).ok());
  ASSERT_TRUE(emulator_->Restore(snap).ok());
  Json after = App("/keep/a");
  EXPECT_EQ(after["cmd"], "two");
  EXPECT_EQ(after["version"], before["version"]);
  EXPECT_EQ(after["versionInfo"], before["versionInfo"]);
  EXPECT_EQ(after["portDefinitions"], before["portDefinitions"]);
  EXPECT_EQ(Get("/v2/apps/keep/a/versions").json, versions);
  // The allocator remembers the ports in use; tasks are launched again.
  EXPECT_EQ(Post("/v2/apps", {{"id", "/keep/c"}, {"cmd", "x"}}).json["portDefinitions"][0]["port"],
            10002);
  ASSERT_TRUE(WaitFor([&] { return Settled("/keep/a", 2, false); }));
}

// Issue #11: instances: 100000000 made the emulator launch tasks under its lock until memory
// ran out. The cluster now holds max_tasks tasks; the rest wait, the API keeps answering.
TEST_F(MarathonTest, CustomHugeInstanceCountsWaitForRoomInTheCluster) {
  MarathonOptions o;
  o.max_tasks = 300;
  o.launches_per_pass = 100;
  Start(o);
  auto r = Post("/v2/apps", {{"id", "/huge"}, {"cmd", "sleep 100"}, {"instances", 100000000}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_TRUE(WaitFor([&] { return App("/huge")["tasksRunning"] == 300; }));
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Get("/ping").status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1000));
  std::this_thread::sleep_for(milliseconds(200));
  Json app = App("/huge");
  EXPECT_EQ(app["tasksRunning"], 300);
  EXPECT_EQ(app["tasks"].size(), 300u);
  EXPECT_EQ(app["instances"], 100000000);
  EXPECT_EQ(Get("/v2/deployments").json.size(), 1u);  // in progress, as on a full cluster
  // Scaling down frees the cluster and finishes.
  ASSERT_EQ(Put("/v2/apps/huge?force=true", {{"instances", 2}}).status, 200);
  EXPECT_TRUE(WaitFor([&] { return Settled("/huge", 2, false); }));
}

TEST_F(MarathonTest, InstancesBeyondInt32AreRefusedLikeMarathon) {
  auto r = Post("/v2/apps", {{"id", "/too-many"}, {"cmd", "sleep 1"}, {"instances", 3000000000LL}});
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.json["message"], "Invalid JSON");
  EXPECT_EQ(r.json["details"][0]["path"], "/instances");
  EXPECT_EQ(r.json["details"][0]["errors"][0], "error.expected.int");
}

TEST_F(MarathonTest, BodiesNestedDeeperThanJacksonAllowsAreRefusedUnparsed) {
  auto r = Call("PUT", "/v2/apps/deep", std::string(5000, '[') + std::string(5000, ']'));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.json["message"], "Invalid JSON");
  EXPECT_EQ(r.json["details"], "Document nesting depth exceeds the maximum allowed (1000)");
  // Brackets inside strings do not count.
  auto ok = Put("/v2/apps/shallow", {{"cmd", std::string(5000, '[')}});
  EXPECT_EQ(ok.status, 201) << ok.body;
}

// ---- Nodes (galley-sandbox --nodes) ----

MarathonOptions TwoNodes() {
  MarathonOptions o;
  o.nodes = {{"a", "127.0.0.2"}, {"b", "127.0.0.3"}};
  return o;
}

TEST_F(MarathonTest, CustomNodesPlaceUniqueOnePerNodeAndTheRestWaits) {
  Start(TwoNodes());
  auto r = Post("/v2/apps", {{"id", "/u"},
                             {"cmd", "sleep 1000"},
                             {"instances", 3},
                             {"constraints", Json::array({Json::array({"hostname", "UNIQUE"})})}});
  ASSERT_EQ(r.status, 201) << r.body;
  ASSERT_TRUE(WaitFor([&] { return App("/u")["tasksRunning"] == 2; }));
  std::this_thread::sleep_for(milliseconds(300));  // several engine passes: still no room
  Json tasks = Tasks("/u");
  ASSERT_EQ(tasks.size(), 2u);
  std::set<std::pair<std::string, std::string>> placed;
  for (const auto& t : tasks) {
    placed.emplace(t["host"].get<std::string>(),
                   t["ipAddresses"][0]["ipAddress"].get<std::string>());
  }
  EXPECT_EQ(placed, (std::set<std::pair<std::string, std::string>>{{"a", "127.0.0.2"},
                                                                   {"b", "127.0.0.3"}}));
  EXPECT_FALSE(Idle()) << "the deployment waits for the third instance";
  // Two fit: the deployment finishes.
  ASSERT_EQ(Put("/v2/apps/u?force=true", {{"instances", 2}}).status, 200);
  EXPECT_TRUE(WaitFor([&] { return Settled("/u", 2, false); }));
}

TEST_F(MarathonTest, CustomNodesSpreadLeastLoadedAndHonourCluster) {
  Start(TwoNodes());
  ASSERT_EQ(Post("/v2/apps", {{"id", "/spread"}, {"cmd", "sleep 1000"}, {"instances", 4}}).status,
            201);
  ASSERT_TRUE(WaitFor([&] { return Settled("/spread", 4, false); }));
  std::multiset<std::string> hosts;
  for (const auto& t : Tasks("/spread")) hosts.insert(t["host"].get<std::string>());
  EXPECT_EQ(hosts, (std::multiset<std::string>{"a", "a", "b", "b"}));
  ASSERT_EQ(
      Post("/v2/apps", {{"id", "/pinned"},
                        {"cmd", "sleep 1000"},
                        {"instances", 2},
                        {"constraints", Json::array({Json::array({"hostname", "CLUSTER", "b"})})}})
          .status,
      201);
  ASSERT_TRUE(WaitFor([&] { return Settled("/pinned", 2, false); }));
  for (const auto& t : Tasks("/pinned")) EXPECT_EQ(t["host"], "b");
}

TEST_F(MarathonTest, DefaultNodeIgnoresConstraintsAsBefore) {
  auto r = Post("/v2/apps", {{"id", "/d"},
                             {"cmd", "sleep 1000"},
                             {"instances", 2},
                             {"constraints", Json::array({Json::array({"hostname", "UNIQUE"})})}});
  ASSERT_EQ(r.status, 201) << r.body;
  ASSERT_TRUE(WaitFor([&] { return Settled("/d", 2, false); }));
  for (const auto& t : Tasks("/d")) {
    EXPECT_EQ(t["host"], "127.0.0.1");
    EXPECT_EQ(t["ipAddresses"][0]["ipAddress"], "127.0.0.1");
    EXPECT_EQ(t["slaveId"], "galley-sandbox-agent-S0");
  }
}

}  // namespace
}  // namespace galley::sandbox::marathon
