// SPDX-License-Identifier: Apache-2.0
// The store's resource keys: built and parsed back the same, whatever the target holds.
#include "engine/resource_key.h"

#include <gtest/gtest.h>

#include "engine/plan.h"

namespace galley::engine {
namespace {

using model::ResourceKind;

TEST(ResourceKeyTest, BuildsTheStoresKeys) {
  EXPECT_EQ(ResourceKey(ResourceKind::kMarathonApp, "/app/production/web"),
            "marathon-app:/app/production/web");
  EXPECT_EQ(ResourceKey(ResourceKind::kConsulKv, "app/production/web/LOG_LEVEL"),
            "consul-kv:app/production/web/LOG_LEVEL");
  Action put;
  put.kind = ActionKind::kKvPut;
  put.target = "app/staging/api/X";
  EXPECT_EQ(ResourceKeyOf(put), "consul-kv:app/staging/api/X");
  Action scale;
  scale.kind = ActionKind::kAppScale;
  scale.target = "/app/staging/api";
  EXPECT_EQ(ResourceKeyOf(scale), "marathon-app:/app/staging/api");
}

TEST(ResourceKeyTest, ParsesWhatItBuilds) {
  for (ResourceKind kind : {ResourceKind::kMarathonApp, ResourceKind::kConsulKv}) {
    // A Consul key may itself hold a kind's prefix and colons.
    for (const char* target : {"/app/a", "app/a/consul-kv:x", "a:b:c", ""}) {
      auto parsed = ParseResourceKey(ResourceKey(kind, target));
      ASSERT_TRUE(parsed.has_value()) << target;
      EXPECT_EQ(parsed->kind, kind);
      EXPECT_EQ(parsed->target, target);
    }
  }
}

TEST(ResourceKeyTest, LbModelsByInstanceAndAgentReportsApart) {
  EXPECT_EQ(ResourceKey(ResourceKind::kHaproxyModel, "internal"), "haproxy-model:internal");
  auto parsed = ParseResourceKey("haproxy-model:internal");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->kind, ResourceKind::kHaproxyModel);
  EXPECT_EQ(parsed->target, "internal");
  Action update;
  update.kind = ActionKind::kModelUpdate;
  update.target = "galley/p/haproxy/internal";
  EXPECT_EQ(ResourceKeyOf(update), "haproxy-model:internal");
  EXPECT_EQ(AgentReportResource("p", "n1", "internal"), "agent-report:p/n1/internal");
  EXPECT_FALSE(ParseResourceKey("agent-report:p/n1/internal").has_value());
}

TEST(ResourceKeyTest, RefusesOtherKeys) {
  EXPECT_FALSE(ParseResourceKey("").has_value());
  EXPECT_FALSE(ParseResourceKey("marathon-app").has_value());
  EXPECT_FALSE(
      ParseResourceKey("app:/app/a").has_value());  // the planner's action id, not a store key
  EXPECT_FALSE(ParseResourceKey(" consul-kv:a").has_value());
}

}  // namespace
}  // namespace galley::engine
