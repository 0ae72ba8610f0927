// SPDX-License-Identifier: Apache-2.0
// The proof: the Marathon emulator on the process runner. Three galley-testserver
// tasks behind real HTTP health checks; a config change (an env var) rolls them with
// upgradeStrategy {minimumHealthCapacity 0.5, maximumOverCapacity 0}; sampling
// GET /v2/apps/<id>?embed=apps.tasks throughout shows the healthy count never drops below
// ceil(0.5 × 3) = 2, and the deployment completes with every task on the new config.
// Then the reference service's shape end to end: `service-wrapper.sh dockerhost:M
// dockerhost:C app/... node /app/server.js` through the runner's exec/host aliases, where a
// KV change makes the wrappers (--watch) restart the app through the emulator. And a task
// that fails its real health check is killed by the emulator and replaced.
#include <cmath>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "container/child.h"
#include "container/fake_consul.h"
#include "net/http_server.h"
#include "sandbox/marathon/marathon_emulator.h"

namespace galley::sandbox::marathon {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using container_test::Get;

const std::string kServer = GALLEY_TESTSERVER_BIN;

class Sandbox {
 public:
  explicit Sandbox(ProcessRunnerOptions runner_options = {}) {
    MarathonOptions options;
    options.first_host_port = 20000 + (getpid() % 200) * 50;  // away from other test binaries
    options.last_host_port = options.first_host_port + 49;
    runner_options.log_dir = logs_.dir();
    emulator_ = NewMarathonEmulator(options, NewProcessRunner(runner_options));
    auto server = net::HttpServer::Start(
        {}, [this](const net::HttpRequest& r) { return emulator_->Handle(r); });
    EXPECT_TRUE(server.ok()) << server.status().message();
    server_ = std::move(server).value();
    client_ = net::NewHttpClient();
  }
  ~Sandbox() {
    emulator_->Stop();  // stops the tasks
    server_->Stop();
  }

  // Sends a request; returns {status, parsed body (null when not JSON)}.
  std::pair<int, Json> Call(const std::string& method, const std::string& target,
                            const Json& body = nullptr) {
    net::ClientRequest req;
    req.method = method;
    req.url = "http://127.0.0.1:" + std::to_string(server_->port()) + target;
    if (!body.is_null()) {
      req.body = body.dump();
      req.headers["Content-Type"] = "application/json";
    }
    req.timeout = 5s;
    auto resp = client_->Send(req);
    if (!resp.ok()) return {0, nullptr};
    return {resp->status, Json::parse(resp->body, nullptr, false)};
  }

  uint16_t port() const { return server_->port(); }
  std::string Log(const std::string& task_id) {
    return galley::testing::ReadText(logs_.Path(task_id + ".log"));
  }

 private:
  galley::testing::TempRepo logs_;
  std::unique_ptr<Emulator> emulator_;
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<net::HttpClient> client_;
};

bool TaskHealthy(const Json& task) {
  if (task.value("state", "") != "TASK_RUNNING") return false;
  const Json& results = task.value("healthCheckResults", Json::array());
  if (results.empty()) return false;
  for (const auto& r : results) {
    if (!r.value("alive", false)) return false;
  }
  return true;
}

struct Sample {
  int healthy = 0;
  int healthy_new = 0;
  int tasks = 0;
  bool deploying = true;
  std::string version;
  Json app;
};

std::string TaskUrl(const Json& task, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(task["ports"][0].get<int>()) + path;
}

Sample Observe(Sandbox& sandbox, const std::string& id) {
  Sample s;
  auto [status, body] = sandbox.Call("GET", "/v2/apps" + id + "?embed=apps.tasks");
  if (status != 200 || !body.is_object() || !body.contains("app")) return s;
  s.app = body["app"];
  s.version = s.app.value("version", "");
  s.deploying = !s.app.value("deployments", Json::array()).empty();
  for (const auto& t : s.app.value("tasks", Json::array())) {
    ++s.tasks;
    if (TaskHealthy(t)) {
      ++s.healthy;
      if (t.value("version", "") == s.version) ++s.healthy_new;
    }
  }
  return s;
}

TEST(ProcessRollingUpdateTest, HealthyTasksNeverDropBelowMinimumHealthCapacity) {
  Sandbox sandbox;
  const std::string id = "/app/test/rolling";
  const int instances = 3;
  const double min_health = 0.5;
  // timeoutSeconds 5: a loaded 2-core machine (ASan, parallel builds) can stall a check past
  // 1 s, and one failed check makes a task unhealthy (Marathon's rule).
  Json app = {
      {"id", id},
      {"instances", instances},
      {"args", {kServer, "/app/server.js"}},
      {"cpus", 0.01},
      {"mem", 16},
      {"portDefinitions", Json::array({{{"port", 0}}})},
      {"env", {{"CONFIG_VERSION", "1"}}},
      {"healthChecks", Json::array({{{"protocol", "HTTP"},
                                     {"path", "/healthcheck"},
                                     {"portIndex", 0},
                                     {"gracePeriodSeconds", 1},
                                     {"intervalSeconds", 1},
                                     {"timeoutSeconds", 5},
                                     {"maxConsecutiveFailures", 3}}})},
      {"upgradeStrategy", {{"minimumHealthCapacity", min_health}, {"maximumOverCapacity", 0}}},
      {"taskKillGracePeriodSeconds", 1}};
  auto [created, created_body] = sandbox.Call("POST", "/v2/apps", app);
  ASSERT_EQ(created, 201) << created_body.dump();

  Sample s;
  ASSERT_TRUE(container_test::WaitUntil(
      [&] {
        s = Observe(sandbox, id);
        return !s.deploying && s.healthy == instances;
      },
      20s))
      << s.app.dump();
  for (const auto& t : s.app["tasks"]) {
    std::string url = "http://127.0.0.1:" + std::to_string(t["ports"][0].get<int>()) + "/";
    EXPECT_NE(Get(url).body.find("CONFIG_VERSION=1\n"), std::string::npos) << sandbox.Log(t["id"]);
  }

  // The rolling update.
  app["env"]["CONFIG_VERSION"] = "2";
  auto [updated, updated_body] = sandbox.Call("PUT", "/v2/apps" + id + "?partialUpdate=false", app);
  ASSERT_EQ(updated, 200) << updated_body.dump();
  ASSERT_TRUE(updated_body.contains("deploymentId")) << updated_body.dump();

  const int floor_healthy = static_cast<int>(std::ceil(instances * min_health));
  int min_seen = instances, samples = 0, max_tasks = 0;
  auto deadline = std::chrono::steady_clock::now() + 25s;
  bool done = false;
  while (std::chrono::steady_clock::now() < deadline) {
    s = Observe(sandbox, id);
    ++samples;
    min_seen = std::min(min_seen, s.healthy);
    max_tasks = std::max(max_tasks, s.tasks);
    EXPECT_GE(s.healthy, floor_healthy) << "sample " << samples << ": " << s.app.dump();
    if (!s.deploying && s.healthy_new == instances && s.tasks == instances) {
      done = true;
      break;
    }
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(done) << "the rolling update did not finish: " << s.app.dump();
  EXPECT_GE(min_seen, floor_healthy);
  EXPECT_GT(samples, 10);
  for (const auto& t : s.app["tasks"]) {
    std::string url = "http://127.0.0.1:" + std::to_string(t["ports"][0].get<int>()) + "/";
    EXPECT_NE(Get(url).body.find("CONFIG_VERSION=2\n"), std::string::npos) << sandbox.Log(t["id"]);
  }
  std::cout << "rolling update: " << samples << " samples, min healthy " << min_seen << " (floor "
            << floor_healthy << "), max tasks " << max_tasks << "\n";
}

TEST(ProcessRollingUpdateTest, AnUnhealthyTaskIsKilledAndReplaced) {
  Sandbox sandbox;
  const std::string id = "/app/test/sick";
  Json app = {{"id", id},
              {"instances", 2},
              {"args", {kServer, "--drain-exit-after", "0"}},
              {"portDefinitions", Json::array({{{"port", 0}}})},
              {"healthChecks", Json::array({{{"protocol", "HTTP"},
                                             {"path", "/healthcheck"},
                                             {"gracePeriodSeconds", 1},
                                             {"intervalSeconds", 1},
                                             {"timeoutSeconds", 5},
                                             {"maxConsecutiveFailures", 2}}})},
              {"taskKillGracePeriodSeconds", 1}};
  auto [created, created_body] = sandbox.Call("POST", "/v2/apps", app);
  ASSERT_EQ(created, 201) << created_body.dump();
  Sample s;
  ASSERT_TRUE(container_test::WaitUntil(
      [&] {
        s = Observe(sandbox, id);
        return !s.deploying && s.healthy == 2;
      },
      20s))
      << s.app.dump();
  const Json sick = s.app["tasks"][0];
  ASSERT_EQ(Get(TaskUrl(sick, "/fail")).status, 200);
  ASSERT_TRUE(container_test::WaitUntil(
      [&] {
        s = Observe(sandbox, id);
        bool replaced = s.healthy == 2;
        for (const auto& t : s.app.value("tasks", Json::array()))
          replaced = replaced && t["id"] != sick["id"];
        return replaced;
      },
      20s))
      << s.app.dump();
  EXPECT_EQ(Get(TaskUrl(sick, "/")).status, 0);  // the process is gone
  ASSERT_TRUE(s.app.contains("lastTaskFailure")) << s.app.dump();
  EXPECT_EQ(s.app["lastTaskFailure"]["taskId"], sick["id"]);
}

TEST(ProcessRollingUpdateTest, WrapperRestartsTheAppThroughMarathonWhenKvChanges) {
  container_test::FakeConsul consul;
  consul.Set("app/test/ref/GREETING", "hello");
  ProcessRunnerOptions runner_options;
  // Found next to this test binary, as galley-sandbox finds them next to itself.
  runner_options.exec_alias = {{"service-wrapper.sh", "galley-wrapper"},
                               {"node", "galley-testserver"}};
  runner_options.host_alias = {{"dockerhost", "127.0.0.1"}};
  Sandbox sandbox(runner_options);
  const std::string id = "/app/test/ref";
  const std::string consul_port = consul.Address().substr(consul.Address().find(':') + 1);
  Json app = {{"id", id},
              {"instances", 2},
              {"args",
               {"service-wrapper.sh", "--watch", "--debounce", "0.2", "--watch-wait", "2",
                "dockerhost:" + std::to_string(sandbox.port()), "dockerhost:" + consul_port,
                "app/test/ref", "node", "/app/server.js"}},
              {"env", {{"SERVICE_NAME", "ref"}}},
              {"container",
               {{"type", "DOCKER"},
                {"docker", {{"image", "registry.local/test-server:1"}, {"network", "BRIDGE"}}},
                {"portMappings", Json::array({{{"containerPort", 3000}, {"hostPort", 0}}})}}},
              {"healthChecks", Json::array({{{"protocol", "HTTP"},
                                             {"path", "/healthcheck"},
                                             {"gracePeriodSeconds", 2},
                                             {"intervalSeconds", 1},
                                             {"timeoutSeconds", 5},
                                             {"maxConsecutiveFailures", 3}}})},
              {"upgradeStrategy", {{"minimumHealthCapacity", 0.5}, {"maximumOverCapacity", 0}}},
              {"taskKillGracePeriodSeconds", 1}};
  auto [created, created_body] = sandbox.Call("POST", "/v2/apps", app);
  ASSERT_EQ(created, 201) << created_body.dump();

  Sample s;
  ASSERT_TRUE(container_test::WaitUntil(
      [&] {
        s = Observe(sandbox, id);
        return !s.deploying && s.healthy == 2;
      },
      20s))
      << s.app.dump();
  const std::string first_version = s.version;
  for (const auto& t : s.app["tasks"]) {
    std::string env = Get(TaskUrl(t, "/")).body;
    EXPECT_NE(env.find("GREETING=hello\n"), std::string::npos) << env << sandbox.Log(t["id"]);
    EXPECT_NE(env.find("MARATHON_APP_ID=/app/test/ref\n"), std::string::npos);
  }

  // A KV change: the wrappers ask Marathon for one rolling restart.
  consul.Set("app/test/ref/GREETING", "bonjour");
  bool done = false;
  int min_healthy = 2;
  auto deadline = std::chrono::steady_clock::now() + 25s;
  while (!done && std::chrono::steady_clock::now() < deadline) {
    s = Observe(sandbox, id);
    min_healthy = std::min(min_healthy, s.healthy);
    EXPECT_GE(s.healthy, 1) << s.app.dump();
    done = s.version != first_version && !s.deploying && s.healthy_new == 2 && s.tasks == 2;
    if (!done) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(done) << s.app.dump();
  for (const auto& t : s.app["tasks"]) {
    std::string env = Get(TaskUrl(t, "/")).body;
    EXPECT_NE(env.find("GREETING=bonjour\n"), std::string::npos) << env << sandbox.Log(t["id"]);
  }
  // One change, one restart: the new tasks started with the new value and stay put.
  std::this_thread::sleep_for(2s);
  Sample after = Observe(sandbox, id);
  EXPECT_EQ(after.version, s.version);
  EXPECT_FALSE(after.deploying);
  EXPECT_EQ(after.healthy_new, 2);
}

}  // namespace
}  // namespace galley::sandbox::marathon
