// SPDX-License-Identifier: Apache-2.0
#include "render/haproxy_config.h"

#include <gtest/gtest.h>

#include "spec/instances_file.h"
#include "spec/loader.h"
#include "support/temp_repo.h"

namespace galley::render {
namespace {

model::Instance Inst(std::string node, std::string addr, int port, std::vector<std::string> tags) {
  return model::Instance{std::move(node), std::move(addr), port, std::move(tags)};
}

TEST(BackendServersTest, FiltersByEnvironmentTagAndSortsByNodeAddressPort) {
  model::Instances live;
  live["web"] = {Inst("b-node", "10.0.0.2", 31000, {"production"}),
                 Inst("a-node", "10.0.0.1", 31002, {"production"}),
                 Inst("a-node", "10.0.0.1", 31001, {"production", "x"}),
                 Inst("c", "10.0.0.3", 1, {"staging"})};
  auto servers = BackendServers(live, "web", "production");
  ASSERT_EQ(servers.size(), 3u);
  EXPECT_EQ(servers[0].name, "a-node-31001");
  EXPECT_EQ(servers[1].name, "a-node-31002");
  EXPECT_EQ(servers[2].name, "b-node-31000");
  EXPECT_EQ(BackendServers(live, "web", "staging").size(), 1u);
  EXPECT_TRUE(BackendServers(live, "other", "production").empty());
}

TEST(BackendServersTest, AddressesThatCouldInjectDirectivesAreSkipped) {
  model::Instances live;
  live["web"] = {Inst("n", "10.0.0.1\n    server evil 6.6.6.6:80", 80, {"production"}),
                 Inst("n", "10.0.0.1 backup", 81, {"production"}),
                 Inst("n", "web-1.internal", 82, {"production"}),
                 Inst("n", "::1", 83, {"production"})};
  auto servers = BackendServers(live, "web", "production");
  ASSERT_EQ(servers.size(), 2u);
  EXPECT_EQ(servers[0].address, "::1");
  EXPECT_EQ(servers[1].address, "web-1.internal");
}

TEST(BackendServersTest, NamesAreStableWhenAnotherInstanceGoesAway) {
  model::Instances before, after;
  before["web"] = {Inst("n1", "10.0.0.1", 31001, {"production"}),
                   Inst("n1", "10.0.0.1", 31002, {"production"}),
                   Inst("n2", "10.0.0.2", 31003, {"production"})};
  after["web"] = {before["web"][0], before["web"][2]};
  auto a = BackendServers(before, "web", "production");
  auto b = BackendServers(after, "web", "production");
  EXPECT_EQ(a[2].name, "n2-31003");
  EXPECT_EQ(b[1].name, "n2-31003");  // the seed's positional <node>-<i> would have renamed it
}

TEST(BackendServersTest, SanitisesNodeNamesAndKeepsThemUnique) {
  model::Instances live;
  live["web"] = {Inst("node one", "10.0.0.1", 80, {"production"}),
                 Inst("node/one", "10.0.0.9", 80, {"production"}),
                 Inst("node one", "10.0.0.1", 80, {"production"}),
                 Inst("n", "", 80, {"production"}), Inst("n", "10.0.0.1", 0, {"production"})};
  auto servers = BackendServers(live, "web", "production");
  ASSERT_EQ(servers.size(), 2u);  // exact duplicate dropped, unusable entries skipped
  EXPECT_EQ(servers[0].name, "node_one-80");
  EXPECT_EQ(servers[1].name, "node_one-80-2");
}

class HaproxyRenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    loaded_ = spec::LoadRepository(galley::testing::SourceRoot() + "/examples/reference");
    ASSERT_FALSE(loaded_.diags.HasErrors()) << loaded_.diags.RenderAll();
  }
  std::string Render(model::HaproxyRole role, const model::Instances& live = {}) {
    return RenderHaproxyConfig(loaded_.state, InstanceForRole(loaded_.state.platform, role), live);
  }
  spec::LoadResult loaded_;
};

TEST_F(HaproxyRenderTest, InternalFrontendsFollowTheSeedForEveryEnvironment) {
  std::string cfg = Render(model::HaproxyRole::kInternal);
  EXPECT_NE(cfg.find("\nfrontend internal_http_in_production:test-server\n    bind :3000\n"
                     "    use_backend cluster_production:test-server\n"),
            std::string::npos);
  EXPECT_NE(cfg.find("\nfrontend internal_http_in_staging:test-server\n    bind :13000\n"
                     "    use_backend cluster_staging:test-server\n"),
            std::string::npos);
  EXPECT_NE(cfg.find("\nbackend cluster_production:test-server\n    option forwardfor\n"
                     "    option httpchk GET /healthcheck\n    balance roundrobin\n"),
            std::string::npos);
  EXPECT_EQ(cfg.find("external_http"), std::string::npos);
  EXPECT_EQ(cfg.find("ssl"), std::string::npos);
  EXPECT_NE(cfg.find("    stats socket /run/haproxy/internal.sock mode 600 level admin\n"),
            std::string::npos);
  EXPECT_NE(cfg.find("    maxconn 4096\n"), std::string::npos);
  EXPECT_NE(cfg.find("    option idle-close-on-response\n"), std::string::npos);
}

TEST_F(HaproxyRenderTest, OrdersServicesByNameThenEnvironmentsInFileOrder) {
  std::string cfg = Render(model::HaproxyRole::kInternal);
  size_t a = cfg.find("frontend internal_http_in_production:api-gateway-3010");
  size_t b = cfg.find("frontend internal_http_in_staging:api-gateway-3010");
  size_t c = cfg.find("frontend internal_tcp_in_production:session-cache");
  size_t d = cfg.find("frontend internal_http_in_production:test-server");
  ASSERT_NE(a, std::string::npos);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_LT(c, d);
}

TEST_F(HaproxyRenderTest, TcpServicesUseTcpModeAndTheirBalance) {
  std::string cfg = Render(model::HaproxyRole::kInternal);
  EXPECT_NE(cfg.find("\nfrontend internal_tcp_in_staging:session-cache\n    mode tcp\n"
                     "    no option idle-close-on-response\n    bind :16379\n"),
            std::string::npos);
  EXPECT_NE(
      cfg.find("\nbackend cluster_production:session-cache\n    mode tcp\n    option tcp-check\n"
               "    balance leastconn\n"),
      std::string::npos);
}

TEST_F(HaproxyRenderTest, ExternalRoleAddsTlsHostAclsAndSecurityHeadersOnHttpsOnly) {
  std::string cfg = Render(model::HaproxyRole::kExternal);
  EXPECT_NE(cfg.find("    ssl-default-bind-options no-sslv3 no-tls-tickets\n"), std::string::npos);
  EXPECT_NE(cfg.find("    tune.ssl.default-dh-param 2048\n"), std::string::npos);
  size_t https = cfg.find(
      "\nfrontend external_https_in\n    bind :443 ssl crt "
      "\"${GALLEY_CERT_DIR}/domain_com.pem\"\n");
  size_t http = cfg.find("\nfrontend external_http_in\n    bind :80\n");
  ASSERT_NE(https, std::string::npos);
  ASSERT_NE(http, std::string::npos);
  size_t hsts = cfg.find("Strict-Transport-Security");
  EXPECT_GT(hsts, https);
  EXPECT_LT(hsts, http);
  EXPECT_EQ(cfg.find("X-Frame-Options", http), std::string::npos);
  std::string acl =
      "    acl host_staging:test-server hdr_dom(host) -i -m str staging-mesos-test.domain.com\n";
  EXPECT_NE(cfg.find(acl, https), std::string::npos);
  EXPECT_NE(cfg.find(acl, http), std::string::npos);
  EXPECT_NE(
      cfg.find("    use_backend cluster_production:test-server if host_production:test-server\n"),
      std::string::npos);
  // A multi-port service's hosts route to its first HTTP port.
  EXPECT_NE(
      cfg.find(
          "    use_backend cluster_production:api-gateway-3010 if host_production:api-gateway\n"),
      std::string::npos);
}

TEST_F(HaproxyRenderTest, WellKnownServices) {
  std::string cfg = Render(model::HaproxyRole::kInternal);
  EXPECT_NE(cfg.find("\nfrontend internal_http_in:marathon\n    bind :18080\n    use_backend "
                     "cluster:marathon\n"),
            std::string::npos);
  EXPECT_NE(
      cfg.find(
          "\nbackend cluster:marathon\n    option forwardfor\n    option httpchk GET /ping\n"
          "    balance roundrobin\n    server 127.0.0.1-8080 127.0.0.1:8080 check inter 10s\n"),
      std::string::npos);
  EXPECT_NE(
      cfg.find("\nfrontend internal_http_in:consul\n    bind :18500\n    timeout client 600s\n"),
      std::string::npos);
  EXPECT_NE(cfg.find("\nbackend cluster:consul\n    timeout server 600s\n    balance roundrobin\n"
                     "    server 127.0.0.1-8500 127.0.0.1:8500\n"),
            std::string::npos);
}

TEST_F(HaproxyRenderTest, LiveInstancesBecomeServerLinesInTheirEnvironmentOnly) {
  Diagnostics d;
  auto live =
      spec::LoadInstancesFile(galley::testing::SourceRoot() + "/tests/testdata/instances.json", d);
  ASSERT_TRUE(live) << d.RenderAll();
  std::string cfg = Render(model::HaproxyRole::kInternal, *live);
  EXPECT_NE(cfg.find("\nbackend cluster_production:test-server\n    option forwardfor\n"
                     "    option httpchk GET /healthcheck\n    balance roundrobin\n"
                     "    server agent-1-31001 10.0.0.11:31001 check inter 10s fall 1 rise 1\n"
                     "    server agent-2-31002 10.0.0.12:31002 check inter 10s fall 1 rise 1\n\n"),
            std::string::npos)
      << cfg;
  EXPECT_NE(cfg.find("\nbackend cluster_staging:test-server\n    option forwardfor\n"
                     "    option httpchk GET /healthcheck\n    balance roundrobin\n"
                     "    server agent-1-31005 10.0.0.11:31005 check inter 10s fall 1 rise 1\n"),
            std::string::npos)
      << cfg;
  EXPECT_EQ(cfg.find("31009"), std::string::npos);  // its check is critical
  EXPECT_NE(cfg.find("    server agent-2-31100 10.0.0.12:31100 check inter 5s fall 1 rise 1\n"),
            std::string::npos);
}

TEST(InstancesFileTest, ReportsMalformedInput) {
  Diagnostics d;
  EXPECT_FALSE(spec::ParseInstances("i.json", "{\"web\": [1,", d));
  EXPECT_NE(d.RenderAll().find("i.json:1:"), std::string::npos) << d.RenderAll();
  Diagnostics d2;
  EXPECT_FALSE(spec::ParseInstances("i.json", "[]", d2));
  EXPECT_NE(d2.RenderAll().find("instances file must be a JSON object, got array"),
            std::string::npos);
  Diagnostics d3;
  EXPECT_FALSE(
      spec::ParseInstances("i.json", R"({"web": [{"Node": {}, "Service": {"Port": "80"}}]})", d3));
  EXPECT_NE(d3.RenderAll().find("/web/0/Service/Port is missing or not an integer"),
            std::string::npos);
}

TEST(InstancesFileTest, ReadsTheConsulHealthSample) {
  // reference/consul/health-service.json is a real /v1/health/service/<name> response.
  std::string sample = galley::testing::ReadText(galley::testing::SourceRoot() +
                                                 "/tests/testdata/consul-health-service.json");
  ASSERT_FALSE(sample.empty());
  Diagnostics d;
  auto live = spec::ParseInstances("h.json", "{\"svc\": " + sample + "}", d);
  ASSERT_TRUE(live) << d.RenderAll();
  EXPECT_FALSE(live->at("svc").empty());
}

}  // namespace
}  // namespace galley::render
