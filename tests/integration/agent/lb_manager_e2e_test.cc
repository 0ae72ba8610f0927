// SPDX-License-Identifier: Apache-2.0
// The load-balancer manager end to end: Debian's real haproxy (master-worker, started and
// reloaded by ProcessHaproxyMaster), the Consul emulator in-process, loopback HTTP backends.
// Each test binds HAProxy on its own random 127.x.y.z address (so ports never collide under
// ctest -j2), keeps its files in a temporary run dir, and stops everything it started. Waits
// are bounded (tests/support/wait.h); measured numbers are printed, not asserted.
#include <atomic>
#include <csignal>
#include <filesystem>
#include <functional>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/resource.h>

#include "agent/haproxy_process.h"
#include "agent/haproxy_runtime.h"
#include "agent/lb_manager.h"
#include "agent/reporter.h"
#include "base/file_io.h"
#include "clients/consul_client.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "sandbox/consul/consul_emulator.h"
#include "support/emulated.h"
#include "support/process.h"
#include "support/wait.h"
#include "unit/agent/lb_fakes.h"

namespace galley::agent {
namespace {

using Json = nlohmann::json;
using galley::testing::Eventually;
using std::chrono::milliseconds;

const char kWeb[] = "cluster_production:web";

class LbManagerE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(galley::testing::FindProgram("haproxy").empty()) << "haproxy is not installed";
    char tmpl[] = "/tmp/galley-lbi-XXXXXX";  // short: unix socket paths are limited
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::random_device rd;
    bind_ = "127." + std::to_string(100 + rd() % 150) + "." + std::to_string(1 + rd() % 250) + "." +
            std::to_string(1 + rd() % 250);
    sandbox::consul::ConsulOptions co;
    co.check_workers = 1;
    consul_ =
        std::make_unique<galley::testing::EmulatorServer>(sandbox::consul::NewConsulEmulator(co));
    endpoint_.url = consul_->base();
    clients::ConsulClientOptions cco;
    cco.timeout = milliseconds(3000);
    client_ = clients::NewConsulClient(endpoint_, http_.get(), cco);
    for (int i = 0; i < 3; ++i) {
      std::string body = "backend-" + std::to_string(i);
      auto s = net::HttpServer::Start(net::HttpServerOptions{}, [body](const net::HttpRequest&) {
        return net::HttpResponse::Text(200, body);
      });
      ASSERT_TRUE(s.ok());
      backends_.push_back(std::move(s).value());
    }
    master_ = std::make_unique<ProcessHaproxyMaster>(PathsUnder(dir_, "internal"));
    runtime_ = std::make_unique<UnixSocketRuntime>(LbManager::StatsSocketPath(dir_, "internal"),
                                                   milliseconds(2000));
  }
  void TearDown() override {
    StopAgent();
    if (master_) {
      EXPECT_TRUE(master_->Stop().ok());
    }
    for (auto& b : backends_) b->Stop();
    consul_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  int Port(int backend) { return backends_[backend]->port(); }
  std::string ServerName(const std::string& node, int backend) {
    return node + "-" + std::to_string(Port(backend));
  }
  void Register(const std::string& node, int backend) {
    std::string id = "web-" + node;
    Json body = {{"Node", node}, {"Address", "127.0.0.1"}};
    body["Service"] = {{"ID", id},
                       {"Service", "web"},
                       {"Port", Port(backend)},
                       {"Tags", Json::array({"production"})}};
    body["Checks"] = Json::array({{{"Node", node},
                                   {"CheckID", "service:" + id},
                                   {"Name", "web"},
                                   {"Status", "passing"},
                                   {"ServiceID", id}}});
    auto r = consul_->Call("PUT", "/v1/catalog/register", body.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }
  void Deregister(const std::string& node) {
    auto r = consul_->Call("PUT", "/v1/catalog/deregister",
                           Json({{"Node", node}, {"ServiceID", "web-" + node}}).dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }
  void PublishModel(const std::vector<std::string>& names, const std::string& balance = "") {
    auto r = consul_->Call("PUT", "/v1/kv/" + render::LbModelKey("plat", "internal"),
                           render::LbModelToJson(testing::MakeModel(names, balance)));
    ASSERT_EQ(r.status, 200) << r.body;
  }

  void StartAgent(milliseconds compare_after_start = milliseconds(2000)) {
    LbManagerOptions o;
    o.compare_after_start = compare_after_start;
    o.platform = "plat";
    o.node = "n1";
    o.instance = "internal";
    o.bind_address = bind_;
    o.run_dir = dir_;
    o.drain_timeout = milliseconds(1000);
    o.tick = milliseconds(200);
    o.blocking = clients::BlockingOptions{milliseconds(2000), milliseconds(2000)};
    LbManagerDeps d;
    d.consul = client_.get();
    d.http = http_.get();
    d.consul_endpoint = endpoint_;
    d.runtime = runtime_.get();
    d.master = master_.get();
    d.log = [this](const std::string& line) {
      std::lock_guard<std::mutex> l(log_mu_);
      logs_.push_back(line);
    };
    lb_ = std::make_unique<LbManager>(o, d);
    if (before_run_) before_run_();
    stop_ = false;
    agent_ = std::thread([this] { lb_->Run(stop_); });
  }
  std::function<void()> before_run_;  // on StartAgent's thread, between construction and Run
  void StopAgent() {
    if (!agent_.joinable()) return;
    stop_ = true;
    agent_.join();
  }
  std::string Logs() {
    std::lock_guard<std::mutex> l(log_mu_);
    return Join(logs_, "\n");
  }

  std::set<std::string> Servers(const std::string& backend = kWeb) {
    std::set<std::string> out;
    auto reply = runtime_->Send("show servers state");
    if (!reply.ok()) return out;
    auto parsed = ParseServersState(*reply);
    if (!parsed.ok()) return out;
    for (const auto& b : *parsed) {
      if (b.name != backend) continue;
      for (const auto& s : b.servers) out.insert(s.name);
    }
    return out;
  }
  // GET / through HAProxy's listener for `port`; the body, or "" on failure.
  std::string Get(int port = 8080) {
    net::ClientRequest req;
    req.url = "http://" + bind_ + ":" + std::to_string(port) + "/";
    req.timeout = milliseconds(2000);
    auto r = plain_http_->Send(req);
    return r.ok() && r->status == 200 ? r->body : "";
  }
  // The master's reload counter. Its CLI is briefly unavailable while it re-executes for a
  // reload (haproxy-lab §5.1), so a refused connection is retried.
  int Reloads() {
    auto q = master_->Query();
    for (int i = 0; i < 200 && !q.ok(); ++i) {
      std::this_thread::sleep_for(milliseconds(25));
      q = master_->Query();
    }
    if (!q.ok()) {
      auto log = ReadFileBounded(dir_ + "/internal.log", 1 << 20);
      ADD_FAILURE() << q.status().ToString() << "\n"
                    << Logs() << "\nhaproxy log:\n"
                    << (log.ok() ? *log : "");
    }
    return q.ok() ? q->reloads : -1;
  }

  std::string dir_, bind_;
  std::unique_ptr<galley::testing::EmulatorServer> consul_;
  std::unique_ptr<net::HttpClient> http_ = net::NewHttpClient();
  std::unique_ptr<net::HttpClient> plain_http_ =
      net::NewHttpClient(net::HttpClientOptions{"", true, 0});
  clients::ConsulEndpoint endpoint_;
  std::unique_ptr<clients::ConsulClient> client_;
  std::vector<std::unique_ptr<net::HttpServer>> backends_;
  std::unique_ptr<ProcessHaproxyMaster> master_;
  std::unique_ptr<UnixSocketRuntime> runtime_;
  std::unique_ptr<LbManager> lb_;
  std::atomic<bool> stop_{false};
  std::thread agent_;
  std::mutex log_mu_;
  std::vector<std::string> logs_;
};

TEST_F(LbManagerE2eTest, ColdStartThenMembershipByRuntimeApiAndOneReloadForStructure) {
  Register("n1", 0);
  PublishModel({"web"});
  auto t0 = std::chrono::steady_clock::now();
  StartAgent();
  ASSERT_TRUE(Eventually([&] { return Get() == "backend-0"; })) << Logs();
  auto cold = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0);
  std::printf("[ measure  ] cold start (agent start -> first request served): %lld ms\n",
              static_cast<long long>(cold.count()));
  EXPECT_TRUE(std::filesystem::exists(LbManager::ConfigPath(dir_, "internal")));
  ASSERT_EQ(Reloads(), 0);
  EXPECT_TRUE(Eventually([&] { return lb_->Report().haproxy_pid > 0; }));

  // A server added: through the runtime API, no reload.
  t0 = std::chrono::steady_clock::now();
  Register("n2", 1);
  ASSERT_TRUE(Eventually([&] { return Servers().count(ServerName("n2", 1)) > 0; },
                         std::chrono::seconds(30)))
      << Logs();
  auto add =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  std::printf("[ measure  ] Consul registration -> server in show servers state: %.1f ms\n",
              add.count() / 1000.0);
  EXPECT_EQ(Reloads(), 0);
  ASSERT_TRUE(Eventually([&] { return Get() == "backend-1"; }))
      << "round robin reaches the new server";
  // The change's sync renders web's service only; the whole file follows ~500 ms later.
  EXPECT_TRUE(Eventually(
      [&] {
        auto text = ReadFileBounded(LbManager::ConfigPath(dir_, "internal"), 1 << 20);
        return text.ok() && text->find(ServerName("n2", 1)) != std::string::npos;
      },
      std::chrono::seconds(5)))
      << "the file carries the new membership";

  // A server removed: drained, maint, deleted; no reload.
  t0 = std::chrono::steady_clock::now();
  Deregister("n1");
  ASSERT_TRUE(Eventually([&] { return Servers().count(ServerName("n1", 0)) == 0; })) << Logs();
  auto del =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  std::printf(
      "[ measure  ] Consul deregistration -> server gone from show servers state: %.1f ms\n",
      del.count() / 1000.0);
  EXPECT_EQ(Reloads(), 0);
  EXPECT_EQ(Get(), "backend-1");

  // A structure change (a new service on port 8081; web keeps 8080): checked, written, one reload.
  PublishModel({"web", "api"});
  ASSERT_TRUE(Eventually([&] { return Reloads() == 1 && lb_->stats().reloads == 1; })) << Logs();
  auto cfg = ReadFileBounded(LbManager::ConfigPath(dir_, "internal"), 1 << 20);
  ASSERT_TRUE(cfg.ok());
  EXPECT_NE(cfg->find("backend cluster_production:api"), std::string::npos);
  EXPECT_NE(cfg->find(ServerName("n2", 1)), std::string::npos);
  EXPECT_EQ(Get(), "backend-1");  // the new worker kept the runtime-added server
  EXPECT_EQ(Servers(), std::set<std::string>{ServerName("n2", 1)});
  std::string logs = Logs();
  auto at = logs.find("reloaded in ");
  if (at != std::string::npos)
    std::printf("[ measure  ] %s\n", logs.substr(at, logs.find('\n', at) - at).c_str());
  // Converged: no more reloads, and idle (this process: agent, emulator and backends).
  std::this_thread::sleep_for(milliseconds(500));
  rusage before{}, after{};
  ::getrusage(RUSAGE_SELF, &before);
  int requests = lb_->stats().runtime_commands;
  std::this_thread::sleep_for(milliseconds(3000));
  ::getrusage(RUSAGE_SELF, &after);
  auto cpu_us = [](const rusage& r) {
    return r.ru_utime.tv_sec * 1000000LL + r.ru_utime.tv_usec + r.ru_stime.tv_sec * 1000000LL +
           r.ru_stime.tv_usec;
  };
  std::printf("[ measure  ] idle: %.1f ms CPU in 3 s (agent + in-process emulator)\n",
              (cpu_us(after) - cpu_us(before)) / 1000.0);
  EXPECT_EQ(lb_->stats().runtime_commands, requests);
  EXPECT_EQ(Reloads(), 1);
}

TEST_F(LbManagerE2eTest, AChangeRightAfterTheStartGoesPerBackendBeforeAnyFullComparison) {
  // At scale the start's comparison of every server (`show servers state` of 13,700, parse,
  // plan: 0.2-0.4 s) delayed the first change, which waited for it. Now HAProxy's servers
  // are remembered as rendered at the start and compared later (here: not before a Wake).
  Register("n1", 0);
  PublishModel({"web"});
  StartAgent(/*compare_after_start=*/std::chrono::minutes(5));
  ASSERT_TRUE(Eventually([&] { return Get() == "backend-0"; })) << Logs();
  EXPECT_EQ(lb_->stats().full_comparisons, 0) << Logs();
  Register("n2", 1);
  ASSERT_TRUE(Eventually([&] { return Servers().count(ServerName("n2", 1)) > 0; })) << Logs();
  ASSERT_TRUE(Eventually([&] { return Get() == "backend-1"; })) << Logs();
  EXPECT_EQ(lb_->stats().full_comparisons, 0) << Logs();
  EXPECT_GE(lb_->stats().partial_renders, 1) << Logs();
  EXPECT_EQ(Logs().find("whole render:"), std::string::npos) << Logs();
  // The comparison still comes (here asked for): the report's counts follow HAProxy's rows.
  lb_->Wake();
  ASSERT_TRUE(Eventually([&] {
    auto r = lb_->Report();
    return lb_->stats().full_comparisons >= 1 && r.servers["up"] + r.servers["down"] == 2;
  })) << Logs();
  EXPECT_EQ(Reloads(), 0);
}

TEST_F(LbManagerE2eTest, PrepareReadsAndRendersWithoutTouchingHaproxyThenRunStartsIt) {
  // `galley agent` prepares while the services load: nothing may reach HAProxy before the
  // repository is known valid; Run's first sync then starts HAProxy from that render.
  Register("n1", 0);
  PublishModel({"web"});
  bool running_after_prepare = true, file_after_prepare = true;
  int syncs_after_prepare = 0;
  before_run_ = [&] {
    lb_->Prepare();
    running_after_prepare = master_->Query().ok();
    file_after_prepare = std::filesystem::exists(LbManager::ConfigPath(dir_, "internal"));
    syncs_after_prepare = lb_->stats().syncs;
  };
  StartAgent();
  EXPECT_FALSE(running_after_prepare);
  EXPECT_FALSE(file_after_prepare);
  EXPECT_EQ(syncs_after_prepare, 1);
  EXPECT_EQ(lb_->stats().starts, 0);
  ASSERT_TRUE(Eventually([&] { return Get() == "backend-0"; })) << Logs();
  EXPECT_TRUE(Eventually([&] { return lb_->stats().starts == 1; })) << Logs();
  EXPECT_EQ(Reloads(), 0);
}

TEST_F(LbManagerE2eTest, BadModelKilledHaproxyAndAgentRestart) {
  Register("n1", 0);
  PublishModel({"web"});
  StartAgent();
  ASSERT_TRUE(Eventually([&] { return Get() == "backend-0"; })) << Logs();

  // A model whose config haproxy -c refuses: never loaded, reported, HAProxy keeps serving.
  PublishModel({"web"}, "bogus");
  ASSERT_TRUE(Eventually([&] {
    return lb_->Report().last_error.find("not loaded") != std::string::npos;
  })) << Logs();
  EXPECT_NE(lb_->Report().last_error.find("haproxy -c"), std::string::npos)
      << lb_->Report().last_error;
  EXPECT_EQ(Reloads(), 0);
  EXPECT_EQ(Get(), "backend-0");
  // The fix converges.
  PublishModel({"web"});
  ASSERT_TRUE(Eventually([&] { return lb_->Report().last_error.empty(); }))
      << lb_->Report().last_error;
  EXPECT_EQ(Reloads(), 0);

  // HAProxy killed (master and worker, SIGKILL): started again.
  auto q = master_->Query();
  ASSERT_TRUE(q.ok());
  ::kill(q->worker_pid, SIGKILL);
  ::kill(q->master_pid, SIGKILL);
  ASSERT_TRUE(Eventually([&] {
    auto now = master_->Query();
    return now.ok() && now->master_pid != q->master_pid && Get() == "backend-0";
  })) << Logs();
  EXPECT_NE(Logs().find("starting it again"), std::string::npos) << Logs();
  int pid = master_->Query()->master_pid;

  // The agent restarts (the old one stopped cleanly, HAProxy kept running): adopted, no reload.
  StopAgent();
  int reloads = Reloads();
  StartAgent();
  ASSERT_TRUE(Eventually([&] {
    return lb_->stats().syncs >= 1 && lb_->Report().haproxy_pid == pid;
  })) << Logs();
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(lb_->stats().reloads, 0);
  EXPECT_EQ(lb_->stats().starts, 0);
  EXPECT_EQ(Reloads(), reloads);
  EXPECT_EQ(master_->Query()->master_pid, pid);
  EXPECT_EQ(Get(), "backend-0");
}

TEST_F(LbManagerE2eTest, ConsulDownKeepsTheLastKnownMembershipAndConvergesAfter) {
  Register("n1", 0);
  Register("n2", 1);
  PublishModel({"web"});
  StartAgent();
  ASSERT_TRUE(Eventually([&] { return Servers().size() == 2; })) << Logs();
  consul_->Faults({{"fail_next", 100000}, {"fail_status", 500}});
  ASSERT_TRUE(Eventually([&] { return !lb_->Report().last_error.empty(); })) << Logs();
  std::this_thread::sleep_for(milliseconds(1500));
  EXPECT_EQ(Servers().size(), 2u);
  EXPECT_EQ(Reloads(), 0);
  EXPECT_FALSE(Get().empty());
  consul_->Faults({});
  Deregister("n2");
  ASSERT_TRUE(Eventually([&] { return Servers().size() == 1; }, std::chrono::seconds(45)))
      << Logs();
  ASSERT_TRUE(Eventually([&] { return lb_->Report().last_error.empty(); }))
      << lb_->Report().last_error;
  EXPECT_EQ(Reloads(), 0);
}

TEST_F(LbManagerE2eTest, DrainFromTheRegistratorTakesTheServerOutAtOnce) {
  Register("n1", 0);
  Register("n2", 1);
  PublishModel({"web"});
  StartAgent();
  ASSERT_TRUE(Eventually([&] { return Servers().size() == 2; })) << Logs();
  auto t0 = std::chrono::steady_clock::now();
  lb_->Drain({{"127.0.0.1", Port(0)}});
  ASSERT_TRUE(Eventually([&] {
    auto reply = runtime_->Send("show servers state");
    auto parsed = ParseServersState(reply.ok() ? *reply : "");
    if (!parsed.ok()) return false;
    for (const auto& b : *parsed)
      for (const auto& s : b.servers)
        if (s.name == ServerName("n1", 0))
          return (s.admin_state & (kAdminForcedDrain | kAdminForcedMaint)) != 0;
    return false;
  })) << Logs();
  auto took =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  std::printf("[ measure  ] Drain() -> server in drain: %.1f ms\n", took.count() / 1000.0);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(Get(), "backend-1");
  EXPECT_EQ(Reloads(), 0);
}

TEST_F(LbManagerE2eTest, ReportUnderASessionOneHolderAndGoneAfterShutdown) {
  const std::string key = render::AgentReportKey("plat", "n1", "internal");
  ReporterOptions o{"plat", "n1", "internal", "", 15, milliseconds(5000), milliseconds(100)};
  Reporter first(client_.get(), o);
  std::vector<std::string> logs;
  Reporter second(client_.get(), o, nullptr, [&](const std::string& l) { logs.push_back(l); });
  render::AgentReport r;
  r.node = "n1";
  r.instance = "internal";
  r.haproxy_pid = 1;
  first.Update(r);
  r.haproxy_pid = 2;
  second.Update(r);
  ASSERT_TRUE(first.Tick().ok());
  Status st = second.Tick();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("held by session " + first.session()), std::string::npos)
      << st.message();
  auto kv = client_->GetKv(key);
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->session, first.session());
  EXPECT_EQ(render::ParseAgentReport(kv->value)->haproxy_pid, 1);
  ASSERT_TRUE(first.Shutdown().ok());
  EXPECT_EQ(client_->GetKv(key).status().code(), StatusCode::kNotFound);  // behavior delete
  ASSERT_TRUE(second.Tick().ok());  // lock-delay 0: the other agent takes over at once
  EXPECT_EQ(render::ParseAgentReport(client_->GetKv(key)->value)->haproxy_pid, 2);
  ASSERT_TRUE(second.Shutdown().ok());
  EXPECT_EQ(client_->GetKv(key).status().code(), StatusCode::kNotFound);
}

// The scale (2,000 services x 3 environments = 6,000 backends, 12,000 servers), run by
// hand: build/bin/lb_manager_e2e_test --gtest_also_run_disabled_tests --gtest_filter='*Scale*'.
// Prints cold start, one registration/deregistration landing and the Consul requests per
// change; asserts only that it converges without a reload.
TEST_F(LbManagerE2eTest, DISABLED_ScaleTwoThousandServicesThreeEnvironments) {
  const int kServices = 2000;
  std::vector<std::pair<std::string, std::string>> envs = {
      {"production", "1"}, {"staging", "2"}, {"dev", "3"}};
  std::vector<std::string> names;
  for (int i = 0; i < kServices; ++i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "svc%04d", i);
    names.push_back(buf);
  }
  // 12,000 instances over 200 nodes (60 tasks a node), as a cluster would spread them.
  auto reg = [&](const std::string& svc, const std::string& env, int n, int port) {
    std::string id = svc + "-" + env + "-" + std::to_string(n);
    std::string node = "node" + std::to_string(port % 200);
    Json body = {{"Node", node}, {"Address", "127.0.0.1"}};
    body["Service"] = {{"ID", id}, {"Service", svc}, {"Port", port}, {"Tags", Json::array({env})}};
    body["Checks"] = Json::array({{{"Node", node},
                                   {"CheckID", "service:" + id},
                                   {"Name", "c"},
                                   {"Status", "passing"},
                                   {"ServiceID", id}}});
    auto r = consul_->Call("PUT", "/v1/catalog/register", body.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  };
  auto t0 = std::chrono::steady_clock::now();
  int port = 20000;
  for (const auto& svc : names)
    for (const auto& [env, prefix] : envs)
      for (int n = 0; n < 2; ++n) reg(svc, env, n, port++ % 40000 + 20000);
  std::printf(
      "[ measure  ] registered 12,000 instances in %lld ms\n",
      static_cast<long long>(
          std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0).count()));
  auto r =
      consul_->Call("PUT", "/v1/kv/" + render::LbModelKey("plat", "internal"),
                    render::LbModelToJson(testing::MakeModel(names, "", 3000, "plat", envs, 200)));
  ASSERT_EQ(r.status, 200);
  auto count = [&] {
    auto reply = runtime_->Send("show servers state");
    if (!reply.ok()) return size_t{0};
    auto parsed = ParseServersState(*reply);
    size_t n = 0;
    if (parsed.ok())
      for (const auto& b : *parsed) n += b.servers.size();
    return n;
  };
  t0 = std::chrono::steady_clock::now();
  StartAgent();
  ASSERT_TRUE(Eventually([&] { return count() == 12000u; }, std::chrono::seconds(120))) << Logs();
  std::printf(
      "[ measure  ] cold start to 12,000 servers loaded: %lld ms\n",
      static_cast<long long>(
          std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0).count()));
  std::this_thread::sleep_for(milliseconds(1500));
  for (int round = 0; round < 3; ++round) {
    int consul_before = client_->requests();
    t0 = std::chrono::steady_clock::now();
    reg("svc1000", "staging", 7 + round, 61000 + round);
    std::string name =
        "node" + std::to_string((61000 + round) % 200) + "-" + std::to_string(61000 + round);
    ASSERT_TRUE(Eventually([&] { return Servers("cluster_staging:svc1000").count(name) > 0; },
                           std::chrono::seconds(60)))
        << Logs();
    auto add = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - t0);
    std::printf(
        "[ measure  ] one registration -> server in HAProxy: %.1f ms (%d per-service reads)\n",
        add.count() / 1000.0, client_->requests() - consul_before);
  }
  t0 = std::chrono::steady_clock::now();
  std::string node7 = "node" + std::to_string(61000 % 200);
  auto d = consul_->Call("PUT", "/v1/catalog/deregister",
                         Json({{"Node", node7}, {"ServiceID", "svc1000-staging-7"}}).dump());
  ASSERT_EQ(d.status, 200);
  ASSERT_TRUE(
      Eventually([&] { return Servers("cluster_staging:svc1000").count(node7 + "-61000") == 0; },
                 std::chrono::seconds(60)));
  std::printf(
      "[ measure  ] one deregistration -> server gone: %.1f ms\n",
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
              .count() /
          1000.0);
  EXPECT_EQ(Reloads(), 0);
  std::string logs = Logs();
  std::printf("%s\n", logs.substr(0, 2000).c_str());
}

TEST_F(LbManagerE2eTest, HaproxyCheckQuotesHaproxysOwnError) {
  std::string bad = dir_ + "/bad.cfg";
  ASSERT_TRUE(WriteFileAtomic(bad, "global\n    bogus_keyword 1\n").ok());
  Status st = master_->Check(bad);
  ASSERT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("bogus_keyword"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("[ALERT]"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace galley::agent
