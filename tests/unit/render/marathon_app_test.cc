// SPDX-License-Identifier: Apache-2.0
#include "render/marathon_app.h"

#include <gtest/gtest.h>

#include "render/consul_kv.h"
#include "spec/loader.h"
#include "support/temp_repo.h"

namespace galley::render {
namespace {

using json = nlohmann::json;

// DESIGN §1, verbatim: the reference service must render JSON-equal to this, except for
// labels whose keys start with "galley.".
constexpr char kReferenceApp[] = R"({
  "id": "/app/production/test-server",
  "labels": {"version": "master-ef5a154e25b268c611006d08a78a3ec0a451e7ed-56", "environment": "production"},
  "env": {"SERVICE_TAGS": "production,internal-listen-http-3000", "SERVICE_NAME": "test-server"},
  "cpus": 0.05, "mem": 64.0, "instances": 4,
  "args": ["service-wrapper.sh", "dockerhost:18080", "dockerhost:18500", "app/production/test-server",
           "node", "/app/server.js"],
  "container": {"type": "DOCKER", "docker": {
      "image": "registry.local/test-server:master-ef5a154e25b268c611006d08a78a3ec0a451e7ed-56",
      "forcePullImage": true, "network": "BRIDGE", "portMappings": [{"containerPort": 3000}]}},
  "healthChecks": [{"protocol": "HTTP", "path": "/healthcheck", "gracePeriodSeconds": 2,
                    "intervalSeconds": 10, "maxConsecutiveFailures": 3}],
  "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5}
})";

class ReferenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    loaded_ = spec::LoadRepository(galley::testing::SourceRoot() + "/examples/reference");
    ASSERT_FALSE(loaded_.diags.HasErrors()) << loaded_.diags.RenderAll();
  }
  json Render(const std::string& service, const std::string& env) {
    const model::Service* s = loaded_.state.FindService(service);
    EXPECT_NE(s, nullptr);
    return json::parse(
        RenderMarathonApp(loaded_.state.platform, *s, *s->FindEnvironment(env)).dump());
  }
  spec::LoadResult loaded_;
};

TEST_F(ReferenceTest, ReferenceServiceRendersExactlyAsDesigned) {
  json got = Render("test-server", "production");
  json labels_seen = got["labels"];
  for (auto it = labels_seen.begin(); it != labels_seen.end(); ++it) {
    if (it.key().rfind("galley.", 0) == 0) got["labels"].erase(it.key());
  }
  EXPECT_EQ(got, json::parse(kReferenceApp)) << got.dump(2);
  EXPECT_EQ(labels_seen["galley.platform"], "reference");
}

TEST_F(ReferenceTest, StagingUsesItsOwnTagInstancesAndKvPrefix) {
  json got = Render("test-server", "staging");
  EXPECT_EQ(got["id"], "/app/staging/test-server");
  EXPECT_EQ(got["instances"], 1);
  EXPECT_EQ(got["labels"]["version"], "master-1d2c0a5f9e1b7c3d4e5f60718293a4b5c6d7e8f9-57");
  EXPECT_EQ(got["env"]["SERVICE_TAGS"], "staging,internal-listen-http-3000");
  EXPECT_EQ(got["args"][3], "app/staging/test-server");
}

// A service without ports says so: an absent list would get one default port from Marathon
// (marathon-events.md §4), so the empty list is always sent.
TEST_F(ReferenceTest, AServiceWithoutPortsSendsAnEmptyPortList) {
  json got = Render("report-worker", "production");
  ASSERT_TRUE(got["container"]["docker"].contains("portMappings")) << got.dump(2);
  EXPECT_EQ(got["container"]["docker"]["portMappings"], json::array());
  EXPECT_EQ(got["env"]["SERVICE_TAGS"], "production");
  EXPECT_FALSE(got.contains("healthChecks"));
}

TEST_F(ReferenceTest, MultiPortServiceTagsEveryPortAndKeepsItsName) {
  json got = Render("api-gateway", "production");
  EXPECT_EQ(got["env"]["SERVICE_TAGS"],
            "production,internal-listen-http-3010,internal-listen-http-3020,team-edge");
  EXPECT_EQ(got["env"]["SERVICE_NAME"], "api-gateway");
  EXPECT_EQ(got["container"]["docker"]["portMappings"],
            json::parse(R"([{"containerPort":3010},{"containerPort":3020}])"));
  EXPECT_EQ(got["healthChecks"][0]["timeoutSeconds"], 2);
  EXPECT_EQ(got["container"]["docker"]["image"],
            "registry.local/platform/api-gateway:v2.14.0-b812");
}

TEST_F(ReferenceTest, TcpServiceGetsBalanceTagTcpCheckKillGraceAndEnvironmentResources) {
  json prod = Render("session-cache", "production");
  EXPECT_EQ(prod["env"]["SERVICE_TAGS"], "production,internal-listen-tcp-6379,balance-leastconn");
  EXPECT_EQ(prod["healthChecks"][0]["protocol"], "TCP");
  EXPECT_FALSE(prod["healthChecks"][0].contains("path"));
  EXPECT_EQ(prod["taskKillGracePeriodSeconds"], 20);
  EXPECT_EQ(prod["mem"], 1024.0);
  EXPECT_EQ(prod["cpus"], 0.5);  // inherited from the service
  EXPECT_EQ(Render("session-cache", "staging")["mem"], 512.0);
  EXPECT_FALSE(prod.contains("upgradeStrategy"));  // absent: Marathon's default applies
}

TEST_F(ReferenceTest, KvMergesEnvironmentOverridesAndMasksSecrets) {
  const model::Service* s = loaded_.state.FindService("test-server");
  auto prod = RenderServiceKv(*s, *s->FindEnvironment("production"));
  ASSERT_EQ(prod.size(), 2u);
  EXPECT_EQ(prod[0].key, "app/production/test-server/DATABASE_URL");
  EXPECT_TRUE(prod[0].value.secret());
  EXPECT_EQ(DisplayValue(prod[0].value), "(sensitive: from $PROD_DATABASE_URL)");
  EXPECT_EQ(prod[1].key, "app/production/test-server/LOG_LEVEL");
  EXPECT_EQ(prod[1].value.text, "info");
  auto staging = RenderServiceKv(*s, *s->FindEnvironment("staging"));
  ASSERT_EQ(staging.size(), 1u);
  EXPECT_EQ(staging[0].value.text, "debug");
  auto platform = RenderPlatformKv(loaded_.state.platform);
  ASSERT_EQ(platform.size(), 1u);
  EXPECT_EQ(platform[0].key, "service/haproxy/maxconn");
  EXPECT_EQ(platform[0].value.text, "4096");
}

TEST_F(ReferenceTest, RenderingIsDeterministic) {
  const model::Service* s = loaded_.state.FindService("api-gateway");
  std::string a = RenderMarathonApp(loaded_.state.platform, *s, s->environments[0]).dump();
  std::string b = RenderMarathonApp(loaded_.state.platform, *s, s->environments[0]).dump();
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace galley::render
