// SPDX-License-Identifier: Apache-2.0
// The registrator against the real emulators in-process over loopback: Marathon with two
// nodes (a=127.0.0.2, b=127.0.0.3; simulated tasks) and Consul with one agent endpoint per
// node, as `galley-sandbox --nodes` runs them. Real HTTP clients, the real event stream
// (HttpClient::Stream), the two-thread Run loop. Faults: Marathon down or answering garbage,
// the agent failing, the event stream cut (through a cuttable TCP proxy). Bounded waits;
// everything started is stopped.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>
#include <thread>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/registrator.h"
#include "clients/consul_agent.h"
#include "clients/marathon_client.h"
#include "clients/marathon_events.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "sandbox/common/faults.h"
#include "sandbox/consul/consul_emulator.h"
#include "sandbox/marathon/marathon_emulator.h"
#include "sandbox/marathon/task_runner.h"
#include "support/emulated.h"
#include "support/wait.h"

namespace galley::agent {
namespace {

using Json = nlohmann::json;
using galley::testing::EmulatorServer;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr char kApp[] = "/app/production/test-server";

model::DesiredState State() {
  model::DesiredState st;
  st.platform.environments = {{"production", "", "", false, {}, {}}};
  model::Service web;
  web.name = "test-server";
  web.ports = {{3000, model::Expose::kHttp, {}}};
  web.health = model::Health{"/healthcheck", 2, 10, 3, 5, {}};
  model::ServiceEnvironment prod;
  prod.name = "production";
  web.environments = {prod};
  st.services = {web};
  return st;
}

// A TCP forwarder to `port` on 127.0.0.1 whose connections the test can cut, and which can
// refuse (accept and close at once) while paused.
class CuttableProxy {
 public:
  explicit CuttableProxy(uint16_t upstream) : upstream_(upstream) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(::listen(listen_fd_, 16), 0);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~CuttableProxy() {
    stop_ = true;
    acceptor_.join();
    Cut();
    for (auto& t : threads_) t.join();
    for (int fd : fds_) ::close(fd);
    ::close(listen_fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void Cut() {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }
  void Pause(bool p) { paused_ = p; }
  int accepted() const { return accepted_.load(); }

 private:
  void Accept() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      if (paused_) {
        ::close(client);
        continue;
      }
      ++accepted_;
      int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(upstream_);
      if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(server);
        ::close(client);
        continue;
      }
      std::lock_guard<std::mutex> lock(mu_);
      fds_.push_back(client);
      fds_.push_back(server);
      threads_.emplace_back([client, server] { Pump(client, server); });
      threads_.emplace_back([client, server] { Pump(server, client); });
    }
  }
  static void Pump(int from, int to) {
    char buf[16384];
    for (;;) {
      ssize_t n = ::recv(from, buf, sizeof buf, 0);
      if (n <= 0) break;
      if (::send(to, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;
    }
    ::shutdown(to, SHUT_RDWR);
    ::shutdown(from, SHUT_RDWR);
  }

  uint16_t upstream_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false}, paused_{false};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
};

// One node's agent listener: the Consul emulator acting as that node's agent, behind its own
// fault injector (faults through /_sandbox/faults on this port).
struct AgentServer {
  AgentServer(sandbox::Emulator* consul, const std::string& node, const std::string& address) {
    auto handler = sandbox::consul::AgentEndpoint(consul, node);
    net::HttpServerOptions o{address, 0};
    auto s = net::HttpServer::Start(
        o, [this, handler](const net::HttpRequest& r) { return faults.Handle(r, handler); });
    EXPECT_TRUE(s.ok()) << s.status().message();
    if (s.ok()) server = std::move(s).value();
    url = "http://" + address + ":" + std::to_string(server ? server->port() : 0);
  }
  ~AgentServer() {
    faults.Stop();
    if (server) server->Stop();
  }
  sandbox::FaultInjector faults{""};
  std::unique_ptr<net::HttpServer> server;
  std::string url;
};

class RegistratorE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sandbox::marathon::MarathonOptions mo;
    mo.nodes = {{"a", "127.0.0.2"}, {"b", "127.0.0.3"}};
    sandbox::marathon::SimulatedRunnerOptions so;
    so.start_delay = milliseconds(20);
    so.health_delay = milliseconds(50);
    so.kill_delay = milliseconds(2000);  // TASK_KILLING lasts: the drain window
    marathon_ = std::make_unique<EmulatorServer>(
        sandbox::marathon::NewMarathonEmulator(mo, sandbox::marathon::NewSimulatedRunner(so)));
    sandbox::consul::ConsulOptions co;
    co.agent_nodes = {{"a", "127.0.0.2"}, {"b", "127.0.0.3"}};
    consul_ = sandbox::consul::NewConsulEmulator(co);
    agents_.push_back(std::make_unique<AgentServer>(consul_.get(), "a", "127.0.0.2"));
    agents_.push_back(std::make_unique<AgentServer>(consul_.get(), "b", "127.0.0.3"));
  }
  void TearDown() override {
    StopRun();
    agents_.clear();
    consul_->Stop();
    consul_.reset();
    marathon_.reset();
  }

  // Deploys the app with `instances` on distinct nodes; waits until all are healthy.
  void Deploy(int instances) {
    Json app = {{"id", kApp},
                {"cmd", "sleep 1000"},
                {"instances", instances},
                {"portDefinitions", Json::array({{{"port", 0}}})},
                {"constraints", Json::array({Json::array({"hostname", "UNIQUE"})})},
                {"healthChecks", Json::array({{{"protocol", "HTTP"},
                                               {"path", "/healthcheck"},
                                               {"portIndex", 0},
                                               {"intervalSeconds", 10},
                                               {"timeoutSeconds", 5}}})}};
    auto r = marathon_->Call("PUT", std::string("/v2/apps") + kApp, app.dump());
    ASSERT_TRUE(r.status == 200 || r.status == 201) << r.body;
    ASSERT_TRUE(testing::Eventually([&] { return Healthy() == instances; }));
  }
  int Healthy() {
    auto r = marathon_->Call("GET", std::string("/v2/apps") + kApp);
    Json j = Json::parse(r.body, nullptr, false);
    if (!j.is_object() || !j.contains("app")) return -1;
    return j["app"].value("tasksHealthy", -1);
  }
  Json Tasks() {
    auto r = marathon_->Call("GET", std::string("/v2/apps") + kApp + "/tasks");
    Json j = Json::parse(r.body, nullptr, false);
    return j.is_object() ? j["tasks"] : Json::array();
  }
  Json TaskOn(const std::string& node) {
    for (const auto& t : Tasks()) {
      if (t["host"] == node) return t;
    }
    return Json();
  }

  std::vector<clients::AgentService> Services(int agent) {
    auto l = agent_clients_[agent]->ListServices();
    EXPECT_TRUE(l.ok()) << l.status().message();
    return l.ok() ? *l : std::vector<clients::AgentService>{};
  }
  std::vector<std::string> Ids(int agent) {
    std::vector<std::string> out;
    for (const auto& s : Services(agent)) out.push_back(s.id);
    return out;
  }

  // A registrator for node `index` (0 = a, 1 = b); events through `events_url` when given.
  void MakeRegistrator(int index, const std::string& events_url = "") {
    const std::string node = index == 0 ? "a" : "b";
    const std::string address = index == 0 ? "127.0.0.2" : "127.0.0.3";
    clients::MarathonEndpoint mep;
    mep.urls = {marathon_->base()};
    clients::MarathonClientOptions mco;
    mco.timeout = milliseconds(2000);
    marathon_client_.push_back(clients::NewMarathonClient(mep, http_.get(), mco));
    clients::MarathonEndpoint eep = mep;
    if (!events_url.empty()) eep.urls = {events_url};
    clients::MarathonEventStreamOptions eo;
    eo.initial_backoff = milliseconds(50);
    eo.max_backoff = milliseconds(200);
    eo.idle_timeout = milliseconds(10000);
    event_sources_.push_back(clients::NewMarathonEventStream(eep, http_.get(), eo));
    agent_clients_.push_back(
        clients::NewConsulAgentClient({agents_[index]->url, "", "", "test"}, http_.get()));
    RegistratorOptions o;
    o.node_name = node;
    o.node_address = address;
    o.resync_interval = milliseconds(600000);  // only events and reconnects resync here
    o.coalesce = milliseconds(50);
    o.initial_backoff = milliseconds(50);
    o.max_backoff = milliseconds(200);
    o.log = [this, node](std::string line) {
      std::lock_guard<std::mutex> lock(mu_);
      log_.push_back(node + ": " + line);
    };
    o.on_killing = [this, node](std::vector<Endpoint> e) {
      std::lock_guard<std::mutex> lock(mu_);
      killing_.push_back({node, std::move(e), SteadyClock::now()});
    };
    registrators_.push_back(std::make_unique<Registrator>(marathon_client_.back().get(),
                                                          agent_clients_.back().get(),
                                                          event_sources_.back().get(), &state_, o));
  }
  void StartRun() {
    for (auto& r : registrators_) {
      Registrator* reg = r.get();
      runners_.emplace_back([this, reg] { reg->Run(stop_); });
    }
  }
  void StopRun() {
    stop_ = true;
    for (auto& t : runners_) t.join();
    runners_.clear();
  }
  bool Logged(const std::string& part) {
    std::lock_guard<std::mutex> lock(mu_);
    return std::any_of(log_.begin(), log_.end(),
                       [&](const std::string& l) { return l.find(part) != std::string::npos; });
  }
  int CountLogged(const std::string& part) {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(std::count_if(log_.begin(), log_.end(), [&](const std::string& l) {
      return l.find(part) != std::string::npos;
    }));
  }
  std::string Log() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    for (const auto& l : log_) out += l + "\n";
    return out;
  }

  struct Killing {
    std::string node;
    std::vector<Endpoint> endpoints;
    SteadyClock::time_point at;
  };

  model::DesiredState state_ = State();
  std::unique_ptr<EmulatorServer> marathon_;
  std::unique_ptr<sandbox::Emulator> consul_;
  std::vector<std::unique_ptr<AgentServer>> agents_;
  std::unique_ptr<net::HttpClient> http_ = net::NewHttpClient();
  std::vector<std::unique_ptr<clients::MarathonClient>> marathon_client_;
  std::vector<std::unique_ptr<clients::MarathonEventSource>> event_sources_;
  std::vector<std::unique_ptr<clients::ConsulAgentClient>> agent_clients_;
  std::vector<std::unique_ptr<Registrator>> registrators_;
  std::vector<std::thread> runners_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> log_;
  std::vector<Killing> killing_;
};

TEST_F(RegistratorE2eTest, RegistersHealthyTasksInTheirNodesAgentAndDeregistersAKilledOneAtOnce) {
  Deploy(2);
  MakeRegistrator(0);
  MakeRegistrator(1);
  StartRun();
  Json ta = TaskOn("a"), tb = TaskOn("b");
  ASSERT_TRUE(ta.is_object() && tb.is_object()) << Tasks().dump();
  const std::string ida = ta["id"].get<std::string>() + "-0";
  const std::string idb = tb["id"].get<std::string>() + "-0";
  const int porta = ta["ports"][0].get<int>();
  ASSERT_TRUE(testing::Eventually([&] {
    return Ids(0) == std::vector<std::string>{ida} && Ids(1) == std::vector<std::string>{idb};
  })) << Log();
  auto services = Services(0);
  ASSERT_EQ(services.size(), 1u);
  const auto& s = services[0];
  EXPECT_EQ(s.name, "test-server");
  EXPECT_EQ(s.tags, (std::vector<std::string>{"production", "internal-listen-http-3000"}));
  EXPECT_EQ(s.address, "127.0.0.2");
  EXPECT_EQ(s.port, porta);
  EXPECT_EQ(s.meta.at("galley-task"), ta["id"].get<std::string>());
  EXPECT_EQ(s.meta.at("galley-node"), "a");
  // The check mirrors Marathon's: an HTTP GET of the health path on the node's address.
  auto checks = http_->Send({"GET", agents_[0]->url + "/v1/agent/checks"});
  ASSERT_TRUE(checks.ok());
  Json cj = Json::parse(checks->body, nullptr, false);
  ASSERT_TRUE(cj.is_object() && cj.size() == 1u) << checks->body;
  const Json& check = cj.begin().value();
  EXPECT_EQ(check["ServiceID"], ida);
  EXPECT_EQ(check["Type"], "http") << check.dump();
  EXPECT_NE(check.dump().find("http://127.0.0.2:" + std::to_string(porta) + "/healthcheck"),
            std::string::npos)
      << check.dump();

  // Kill a's task (Marathon relaunches it): deregistered on TASK_KILLING, before it is gone.
  auto killed_at = SteadyClock::now();
  auto del = marathon_->Call(
      "DELETE", std::string("/v2/apps") + kApp + "/tasks/" + ta["id"].get<std::string>());
  ASSERT_EQ(del.status, 200) << del.body;
  ASSERT_TRUE(testing::Eventually([&] {
    auto ids = Ids(0);
    return std::find(ids.begin(), ids.end(), ida) == ids.end();
  })) << Log();
  auto deregistered_at = SteadyClock::now();
  // Still TASK_KILLING in Marathon (kill_delay 2 s): the deregistration did not wait for it.
  bool still_killing = false;
  for (const auto& t : Tasks()) still_killing = still_killing || t["id"] == ta["id"];
  EXPECT_TRUE(still_killing) << "the task was already gone: deregistration waited too long";
  // Both nodes' registrators were told to drain a's endpoint; b's registration stays.
  ASSERT_TRUE(testing::Eventually([&] {
    std::lock_guard<std::mutex> lock(mu_);
    return killing_.size() >= 2;
  }));
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::set<std::string> nodes;
    for (const auto& k : killing_) {
      nodes.insert(k.node);
      // (host, port) and (ipAddress, port): the node name and the node's address (node a
      // knows its own address; b learns it from the event's ipAddresses).
      EXPECT_TRUE(std::find(k.endpoints.begin(), k.endpoints.end(), Endpoint{"127.0.0.2", porta}) !=
                      k.endpoints.end() ||
                  k.node != "a")
          << k.node;
      EXPECT_TRUE(std::find(k.endpoints.begin(), k.endpoints.end(), Endpoint{"a", porta}) !=
                  k.endpoints.end())
          << k.node;
    }
    EXPECT_EQ(nodes, (std::set<std::string>{"a", "b"}));
    auto drain_ms =
        std::chrono::duration_cast<milliseconds>(killing_.front().at - killed_at).count();
    auto dereg_ms = std::chrono::duration_cast<milliseconds>(deregistered_at - killed_at).count();
    std::printf("kill → on_killing: %lld ms; kill → deregistration seen: %lld ms\n",
                static_cast<long long>(drain_ms), static_cast<long long>(dereg_ms));
  }
  EXPECT_EQ(Ids(1), std::vector<std::string>{idb});
  // The replacement task on a registers once healthy.
  ASSERT_TRUE(testing::Eventually([&] {
    auto ids = Ids(0);
    return ids.size() == 1u && ids[0] != ida;
  })) << Log();
}

TEST_F(RegistratorE2eTest, RemovesDanglingRegistrationsAtStartAndLeavesOthersAlone) {
  MakeRegistrator(0);
  clients::AgentService dangling;
  dangling.id = "app_production_test-server.instance-gone._app.1-0";
  dangling.name = "test-server";
  dangling.address = "127.0.0.2";
  dangling.port = 31999;
  dangling.meta = {{"galley-task", "app_production_test-server.instance-gone._app.1"},
                   {"galley-node", "a"}};
  ASSERT_TRUE(agent_clients_[0]->Register(dangling).ok());
  clients::AgentService foreign;
  foreign.id = "redis";
  foreign.name = "redis";
  foreign.port = 6379;
  ASSERT_TRUE(agent_clients_[0]->Register(foreign).ok());
  auto r = registrators_[0]->SyncOnce();
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->deregistered, 1);
  EXPECT_EQ(Ids(0), std::vector<std::string>{"redis"});
  EXPECT_TRUE(Logged("a: registrator: deregistered " + dangling.id + ": task is gone")) << Log();
}

TEST_F(RegistratorE2eTest, MarathonDownOrAnsweringGarbageDeregistersNothingAndConvergesAfter) {
  Deploy(1);
  MakeRegistrator(0);
  MakeRegistrator(1);
  Registrator& reg = TaskOn("a").is_object() ? *registrators_[0] : *registrators_[1];
  int agent = TaskOn("a").is_object() ? 0 : 1;
  ASSERT_TRUE(reg.SyncOnce().ok());
  ASSERT_EQ(Ids(agent).size(), 1u);
  marathon_->Faults({{"fail_next", 1000}, {"fail_status", 503}, {"path_prefix", "/v2/apps"}});
  auto down = reg.SyncOnce();
  ASSERT_FALSE(down.ok());
  EXPECT_NE(down.status().message().find(
                "cannot read Marathon, registrations left as they are: marathon " +
                marathon_->base() + ": GET /v2/apps: 503 Service Unavailable"),
            std::string::npos)
      << down.status().message();
  EXPECT_EQ(Ids(agent).size(), 1u);
  marathon_->Faults({{"garbage_next", 1}, {"path_prefix", "/v2/apps"}});
  auto garbage = reg.SyncOnce();
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.status().message().find("invalid JSON in response"), std::string::npos)
      << garbage.status().message();
  EXPECT_EQ(Ids(agent).size(), 1u);
  marathon_->Faults({});
  // Gone for real: scaled to 0 while Marathon answers again → deregistered.
  auto scale =
      marathon_->Call("PUT", std::string("/v2/apps") + kApp + "?force=true", R"({"instances": 0})");
  ASSERT_EQ(scale.status, 200) << scale.body;
  ASSERT_TRUE(testing::Eventually([&] { return Tasks().empty(); }));
  ASSERT_TRUE(reg.SyncOnce().ok());
  EXPECT_TRUE(Ids(agent).empty());
}

TEST_F(RegistratorE2eTest, AFailingAgentIsRetriedAndTheLoopConvergesWhenItAnswers) {
  Deploy(1);
  MakeRegistrator(0);
  MakeRegistrator(1);
  int agent = TaskOn("a").is_object() ? 0 : 1;
  auto put = http_->Send({"PUT",
                          agents_[agent]->url + "/_sandbox/faults",
                          {{"Content-Type", "application/json"}},
                          R"({"fail_next": 5, "fail_status": 500})"});
  ASSERT_TRUE(put.ok() && put->status == 200);
  StartRun();
  // Polling the faulted agent would take its faults: wait for the log line instead.
  ASSERT_TRUE(testing::Eventually([&] { return Logged("registrator: registered "); })) << Log();
  EXPECT_EQ(Ids(agent).size(), 1u);
  EXPECT_TRUE(Logged("registrator: cannot list the Consul agent's services: consul-agent " +
                     agents_[agent]->url + ": GET /v1/agent/services: 500 Internal Server Error"))
      << Log();
}

TEST_F(RegistratorE2eTest, ACutEventStreamReconnectsAndResyncs) {
  Deploy(1);
  CuttableProxy proxy(marathon_->port());
  MakeRegistrator(0, proxy.url());
  MakeRegistrator(1, proxy.url());
  StartRun();
  auto all_ids = [&] {
    std::vector<std::string> ids = Ids(0), b = Ids(1);
    ids.insert(ids.end(), b.begin(), b.end());
    return ids;
  };
  ASSERT_TRUE(testing::Eventually([&] {
    return all_ids().size() == 1u && CountLogged("following Marathon's events at") == 2;
  })) << Log();
  // Cut the streams and keep them down while the task is replaced: its events are lost.
  proxy.Pause(true);
  proxy.Cut();
  ASSERT_TRUE(testing::Eventually([&] { return CountLogged("event stream lost (") == 2; }))
      << Log();
  const std::string old_id = all_ids()[0];
  auto restart = marathon_->Call("POST", std::string("/v2/apps") + kApp + "/restart?force=true");
  ASSERT_EQ(restart.status, 200) << restart.body;
  ASSERT_TRUE(testing::Eventually([&] {
    Json t = Tasks();
    return t.size() == 1u && t[0]["id"].get<std::string>() + "-0" != old_id && Healthy() == 1;
  }));
  const std::string new_id = Tasks()[0]["id"].get<std::string>() + "-0";
  EXPECT_EQ(all_ids(), std::vector<std::string>{old_id});  // nobody told the registrators
  // Back: the reconnects' resyncs fix it (the periodic resync is 10 minutes away).
  proxy.Pause(false);
  ASSERT_TRUE(testing::Eventually([&] { return all_ids() == std::vector<std::string>{new_id}; }))
      << Log();
  EXPECT_GE(CountLogged("following Marathon's events at"), 4) << Log();
}

}  // namespace
}  // namespace galley::agent
