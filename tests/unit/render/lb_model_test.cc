// SPDX-License-Identifier: Apache-2.0
#include "render/lb_model.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "render/haproxy_config.h"
#include "spec/loader.h"
#include "support/temp_repo.h"

namespace galley::render {
namespace {

class LbModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    loaded_ = spec::LoadRepository(galley::testing::SourceRoot() + "/examples/reference");
    ASSERT_FALSE(loaded_.diags.HasErrors()) << loaded_.diags.RenderAll();
  }
  model::Instances Live() const {
    model::Instance a{"node-a", "10.0.0.1", 31001, {"production"}};
    model::Instance b{"node-b", "10.0.0.2", 31002, {"staging"}};
    model::Instances live;
    for (const auto& s : loaded_.state.services)
      for (const auto& p : s.ExposedPorts()) live[s.RegisteredName(p.container)] = {a, b};
    return live;
  }
  spec::LoadResult loaded_;
};

TEST_F(LbModelTest, RenderingTheModelGivesTheSameBytesAsRenderingTheRepository) {
  for (auto role : {model::HaproxyRole::kInternal, model::HaproxyRole::kExternal}) {
    auto instance = InstanceForRole(loaded_.state.platform, role);
    auto model = ParseLbModel(LbModelToJson(LbModelFor(loaded_.state, instance)));
    ASSERT_TRUE(model.ok()) << model.status().message();
    EXPECT_EQ(RenderHaproxyConfig(model->state, model->instance, Live()),
              RenderHaproxyConfig(loaded_.state, instance, Live()));
  }
}

TEST_F(LbModelTest, DigestIsStableAndMovesWithTheRendererInputsOnly) {
  auto instance = InstanceForRole(loaded_.state.platform, model::HaproxyRole::kInternal);
  std::string before = LbModelDigest(LbModelFor(loaded_.state, instance));
  EXPECT_EQ(before.rfind("sha256:", 0), 0u);
  model::DesiredState changed = loaded_.state;
  changed.services[0].environments[0].tag = "some-other-tag";  // not a renderer input
  changed.services[0].environments[0].instances += 3;
  EXPECT_EQ(LbModelDigest(LbModelFor(changed, instance)), before);
  changed.services[0].balance = "leastconn";
  EXPECT_NE(LbModelDigest(LbModelFor(changed, instance)), before);
}

TEST_F(LbModelTest, EditedOrForeignDocumentsAreRefusedNamingTheMember) {
  auto instance = InstanceForRole(loaded_.state.platform, model::HaproxyRole::kInternal);
  auto doc = nlohmann::json::parse(LbModelToJson(LbModelFor(loaded_.state, instance)));

  auto edited = doc;
  edited["maxconn"] = 1;
  auto r = ParseLbModel(edited.dump());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("does not match the content"), std::string::npos);

  auto newer = doc;
  newer["schema"] = 2;
  r = ParseLbModel(newer.dump());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("$.schema"), std::string::npos);

  auto injected = doc;
  injected["services"][0]["name"] = "web\n    bind :1";
  r = ParseLbModel(injected.dump());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("$.services[0].name"), std::string::npos)
      << r.status().message();

  auto mistyped = doc;
  mistyped["environments"][0]["port_prefix"] = 1;
  r = ParseLbModel(mistyped.dump());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("$.environments[0].port_prefix: expected a string"),
            std::string::npos)
      << r.status().message();

  EXPECT_FALSE(ParseLbModel("{").ok());
  EXPECT_FALSE(ParseLbModel("[]").ok());
}

TEST_F(LbModelTest, BindAddressAndSocketAreRenderOptionsNotModel) {
  auto instance = InstanceForRole(loaded_.state.platform, model::HaproxyRole::kExternal);
  HaproxyRenderOptions opt;
  opt.bind_address = "127.0.0.2";
  opt.stats_socket = "/tmp/run/a/internal.sock";
  std::string cfg = RenderHaproxyConfig(loaded_.state, instance, {}, opt);
  EXPECT_EQ(cfg.find("bind :"), std::string::npos) << cfg;
  EXPECT_NE(cfg.find("    bind 127.0.0.2:80\n"), std::string::npos);
  EXPECT_NE(cfg.find("    stats socket /tmp/run/a/internal.sock mode 600 level admin\n"),
            std::string::npos);
  opt.bind_address = "::1";
  cfg = RenderHaproxyConfig(loaded_.state, instance, {}, opt);
  EXPECT_NE(cfg.find("    bind [::1]:80\n"), std::string::npos);
}

TEST(AgentReportTest, RoundTripsAndNamesBadMembers) {
  AgentReport r;
  r.node = "a";
  r.instance = "internal";
  r.agent_version = "dev";
  r.model_digest = "sha256:ab";
  r.config_digest = "sha256:cd";
  r.haproxy_pid = 1234;
  r.servers = {{"up", 3}, {"maint", 1}};
  r.hand_changes = {"cluster_production:web/a-31001 maint"};
  r.report_time = "2026-12-07T18:00:00Z";
  auto back = ParseAgentReport(AgentReportToJson(r));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, r);
  auto doc = nlohmann::json::parse(AgentReportToJson(r));
  doc["servers"]["up"] = "three";
  auto bad = ParseAgentReport(doc.dump());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("$.servers.up"), std::string::npos);
  doc = nlohmann::json::parse(AgentReportToJson(r));
  doc["future_member"] = 1;  // newer agents may add members
  EXPECT_TRUE(ParseAgentReport(doc.dump()).ok());
}

TEST(LbModelKeysTest, KeysFollowTheDesign) {
  EXPECT_EQ(LbModelKey("p", "internal"), "galley/p/haproxy/internal");
  EXPECT_EQ(AgentReportKey("p", "a", "internal"), "galley/p/agents/a/internal");
  EXPECT_EQ(AgentReportPrefix("p"), "galley/p/agents/");
}

}  // namespace
}  // namespace galley::render
