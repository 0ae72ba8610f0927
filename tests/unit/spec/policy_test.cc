// SPDX-License-Identifier: Apache-2.0
// `policy:` blocks at every level (platform, platform environment, service, service
// environment): what they parse into, how the levels combine through model::PoliciesOf,
// and the diagnostics for misspelt keys and bad values, asserted exactly.
#include <gtest/gtest.h>

#include "model/desired_state.h"
#include "spec/loader.h"
#include "support/temp_repo.h"

namespace galley::spec {
namespace {

using model::DriftPolicy;
using model::EffectivePolicy;
using model::ResourceKind;
using testing::kMinimalPlatform;
using testing::kMinimalService;
using testing::TempRepo;

std::string Errors(const TempRepo& t) {
  LoadResult r = LoadRepository(t.dir());
  std::string out = r.diags.RenderAll();
  std::string prefix = t.dir() + "/";
  for (size_t p; (p = out.find(prefix)) != std::string::npos;) out.erase(p, prefix.size());
  return out;
}

// kMinimalPlatform/kMinimalService with `from` replaced by `to` (which must occur once).
std::string Edit(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  EXPECT_EQ(text.find(from, at + 1), std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

const char kProduction[] = "  production: {}\n";
const char kStaging[] = "  staging: {port_prefix: \"1\", host_prefix: \"staging-\"}\n";
const char kServiceProduction[] = "  production: {tag: v1, instances: 2}\n";

TEST(PolicyTest, NoPolicyAnywhereMeansRevertAndNoPrune) {
  TempRepo t;
  t.Write("galley.yaml", kMinimalPlatform);
  t.Write("services/web.yaml", kMinimalService);
  LoadResult r = LoadRepository(t.dir());
  ASSERT_EQ(r.diags.RenderAll(), "");
  EXPECT_TRUE(r.state.platform.policy.empty());
  model::Policies p = model::PoliciesOf(r.state);
  EXPECT_EQ(p, model::Policies{});
  EXPECT_EQ(p.Resolve(ResourceKind::kMarathonApp, "production", "web"),
            (EffectivePolicy{DriftPolicy::kRevert, false}));
  EXPECT_EQ(p.Resolve(ResourceKind::kConsulKv, "", ""),
            (EffectivePolicy{DriftPolicy::kRevert, false}));
}

TEST(PolicyTest, ParsesEveryLevel) {
  TempRepo t;
  std::string platform = kMinimalPlatform;
  platform = Edit(platform, kProduction, "  production: {policy: {prune: false}}\n");
  platform = Edit(platform, kStaging,
                  "  staging:\n"
                  "    port_prefix: \"1\"\n"
                  "    policy: {drift: ignore, marathon_app: {prune: true}}\n");
  platform +=
      "policy:\n  drift: report\n  prune: false\n  marathon_app: {drift: revert}\n"
      "  consul_kv: {drift: ignore, prune: true}\n";
  t.Write("galley.yaml", platform);
  std::string web = kMinimalService;
  web = Edit(web, "environments:\n", "policy: {consul_kv: {drift: report}}\nenvironments:\n");
  web = Edit(web, kServiceProduction,
             "  production:\n"
             "    tag: v1\n"
             "    instances: 2\n"
             "    policy: {prune: true, marathon_app: {drift: ignore, prune: false}}\n");
  t.Write("services/web.yaml", web);
  LoadResult r = LoadRepository(t.dir());
  ASSERT_EQ(r.diags.RenderAll(), "");

  const model::PolicyBlock& pb = r.state.platform.policy;
  EXPECT_EQ(pb.all.drift, DriftPolicy::kReport);
  EXPECT_EQ(pb.all.prune, false);
  EXPECT_EQ(pb.marathon_app.drift, DriftPolicy::kRevert);
  EXPECT_FALSE(pb.marathon_app.prune.has_value());
  EXPECT_EQ(pb.consul_kv.drift, DriftPolicy::kIgnore);
  EXPECT_EQ(pb.consul_kv.prune, true);

  ASSERT_EQ(r.state.platform.environments.size(), 2u);
  EXPECT_EQ(r.state.platform.environments[0].policy.all.prune, false);
  EXPECT_FALSE(r.state.platform.environments[0].policy.all.drift.has_value());
  const model::PolicyBlock& staging = r.state.platform.environments[1].policy;
  EXPECT_EQ(r.state.platform.environments[1].port_prefix, "1");
  EXPECT_EQ(staging.all.drift, DriftPolicy::kIgnore);
  EXPECT_EQ(staging.marathon_app.prune, true);
  EXPECT_TRUE(staging.consul_kv.empty());

  ASSERT_EQ(r.state.services.size(), 1u);
  const model::Service& s = r.state.services[0];
  EXPECT_EQ(s.policy.consul_kv.drift, DriftPolicy::kReport);
  EXPECT_TRUE(s.policy.all.empty());
  EXPECT_TRUE(s.policy.marathon_app.empty());
  const model::PolicyBlock& se = s.environments[0].policy;
  EXPECT_EQ(s.environments[0].name, "production");
  EXPECT_EQ(s.environments[0].instances, 2);
  EXPECT_EQ(se.all.prune, true);
  EXPECT_EQ(se.marathon_app.drift, DriftPolicy::kIgnore);
  EXPECT_EQ(se.marathon_app.prune, false);
  EXPECT_TRUE(s.environments[1].policy.empty());

  // The levels as the planner sees them.
  model::Policies p = model::PoliciesOf(r.state);
  EXPECT_EQ(p.platform, pb);
  EXPECT_EQ(p.environments.size(), 2u);
  EXPECT_EQ(p.services.size(), 1u);
  ASSERT_EQ(p.service_environments.size(), 1u);  // staging's block is empty: not kept
  EXPECT_EQ(p.service_environments.begin()->first,
            (std::pair<std::string, std::string>{"web", "production"}));
  using K = ResourceKind;
  // web's app in production: the service environment's kind block decides both.
  EXPECT_EQ(p.Resolve(K::kMarathonApp, "production", "web"),
            (EffectivePolicy{DriftPolicy::kIgnore, false}));
  // web's keys in production: drift from the service's consul_kv, prune from the service
  // environment.
  EXPECT_EQ(p.Resolve(K::kConsulKv, "production", "web"),
            (EffectivePolicy{DriftPolicy::kReport, true}));
  // web's app in staging: nothing at service level for apps → staging's: ignore, prune (apps) true.
  EXPECT_EQ(p.Resolve(K::kMarathonApp, "staging", "web"),
            (EffectivePolicy{DriftPolicy::kIgnore, true}));
  // Another service's key in production: production says prune false; drift from the platform's
  // consul_kv.
  EXPECT_EQ(p.Resolve(K::kConsulKv, "production", "api"),
            (EffectivePolicy{DriftPolicy::kIgnore, false}));
  // service/haproxy/maxconn: platform only.
  EXPECT_EQ(p.Resolve(K::kConsulKv, "", ""), (EffectivePolicy{DriftPolicy::kIgnore, true}));
  EXPECT_EQ(p.Resolve(K::kMarathonApp, "", ""), (EffectivePolicy{DriftPolicy::kRevert, false}));
}

TEST(PolicyTest, TheExistingPlatformShapeStillMeansTheSame) {
  TempRepo t;
  t.Write("galley.yaml", std::string(kMinimalPlatform) + "policy: {drift: report, prune: true}\n");
  t.Write("services/web.yaml", kMinimalService);
  LoadResult r = LoadRepository(t.dir());
  ASSERT_EQ(r.diags.RenderAll(), "");
  model::Policies p = model::PoliciesOf(r.state);
  for (auto kind : {ResourceKind::kMarathonApp, ResourceKind::kConsulKv}) {
    for (const char* env : {"", "production", "staging"}) {
      for (const char* svc : {"", "web"}) {
        EXPECT_EQ(p.Resolve(kind, env, svc), (EffectivePolicy{DriftPolicy::kReport, true}))
            << env << svc;
      }
    }
  }
}

TEST(PolicyTest, MisspeltKeysAreReportedWithASuggestionAtEveryLevel) {
  TempRepo t;
  std::string platform = Edit(kMinimalPlatform, kStaging,
                              "  staging: {port_prefix: \"1\", policy: {drfit: report}}\n");
  platform += "policy:\n  marathon_apps: {drift: report}\n";
  t.Write("galley.yaml", platform);
  std::string web = Edit(kMinimalService, "environments:\n",
                         "policy: {consul_kv: {prnue: true}}\nenvironments:\n");
  web = Edit(web, kServiceProduction,
             "  production: {tag: v1, instances: 2, polcy: {prune: true}}\n");
  t.Write("services/web.yaml", web);
  EXPECT_EQ(Errors(t),
            "galley.yaml:9:40: error: unknown key 'drfit' in environments.staging.policy (expected "
            "one of: drift, "
            "prune, marathon_app, consul_kv, chronos_job)\n"
            "      staging: {port_prefix: \"1\", policy: {drfit: report}}\n"
            "                                           ^\n"
            "    did you mean 'drift'?\n"
            "galley.yaml:15:3: error: unknown key 'marathon_apps' in policy (expected one of: "
            "drift, prune, "
            "marathon_app, consul_kv, chronos_job)\n"
            "      marathon_apps: {drift: report}\n"
            "      ^\n"
            "    did you mean 'marathon_app'?\n"
            "services/web.yaml:8:22: error: unknown key 'prnue' in policy.consul_kv (expected one "
            "of: drift, "
            "prune)\n"
            "    policy: {consul_kv: {prnue: true}}\n"
            "                         ^\n"
            "    did you mean 'prune'?\n"
            "services/web.yaml:10:39: error: unknown key 'polcy' in environment 'production' "
            "(expected one of: tag, "
            "instances, config, resources, paused, policy)\n"
            "      production: {tag: v1, instances: 2, polcy: {prune: true}}\n"
            "                                          ^\n"
            "    did you mean 'policy'?\n"
            "4 errors, 0 warnings\n");
}

TEST(PolicyTest, BadValuesNameTheExpectedValuesAndThePosition) {
  TempRepo t;
  std::string platform =
      Edit(kMinimalPlatform, kProduction, "  production: {policy: {drift: revrt}}\n");
  platform += "policy: {prune: yes, consul_kv: report}\n";
  t.Write("galley.yaml", platform);
  std::string web = Edit(kMinimalService, "environments:\n", "policy: [revert]\nenvironments:\n");
  web = Edit(web, kServiceProduction,
             "  production: {tag: v1, instances: 2, policy: {marathon_app: {drift: Report, prune: "
             "\"true\"}}}\n");
  t.Write("services/web.yaml", web);
  EXPECT_EQ(
      Errors(t),
      "galley.yaml:8:32: error: environments.production.policy.drift has an unknown value 'revrt' "
      "(expected "
      "one of: revert, report, ignore)\n"
      "      production: {policy: {drift: revrt}}\n"
      "                                   ^\n"
      "    did you mean 'revert'?\n"
      "galley.yaml:14:17: error: policy.prune must be true or false, got 'yes' (expected true or "
      "false)\n"
      "    policy: {prune: yes, consul_kv: report}\n"
      "                    ^\n"
      "galley.yaml:14:33: error: policy.consul_kv must be a mapping, got 'report' (expected a "
      "mapping of keys "
      "to values)\n"
      "    policy: {prune: yes, consul_kv: report}\n"
      "                                    ^\n"
      "services/web.yaml:8:9: error: policy must be a mapping, got a list (expected a mapping of "
      "keys to "
      "values)\n"
      "    policy: [revert]\n"
      "            ^\n"
      "services/web.yaml:10:70: error: environments.production.policy.marathon_app.drift has an "
      "unknown value "
      "'Report' (expected one of: revert, report, ignore)\n"
      "      production: {tag: v1, instances: 2, policy: {marathon_app: {drift: Report, prune: "
      "\"true\"}}}\n"
      "                                                                         ^\n"
      "    did you mean 'report'?\n"
      "services/web.yaml:10:85: error: environments.production.policy.marathon_app.prune must be "
      "true or "
      "false, got 'true' (expected true or false)\n"
      "      production: {tag: v1, instances: 2, policy: {marathon_app: {drift: Report, prune: "
      "\"true\"}}}\n"
      "                                                                                        ^\n"
      "6 errors, 0 warnings\n");
}

TEST(PolicyTest, APolicyForAnUndeclaredEnvironmentIsAnUndeclaredEnvironment) {
  TempRepo t;
  t.Write("galley.yaml", kMinimalPlatform);
  t.Write("services/web.yaml",
          std::string(kMinimalService) + "  qa: {tag: v1, instances: 1, policy: {prune: true}}\n");
  std::string out = Errors(t);
  EXPECT_NE(out.find("services/web.yaml:11:3: error: environment 'qa' is not declared in "
                     "galley.yaml (expected one "
                     "of: production, staging)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("1 error, 0 warnings"), std::string::npos) << out;
}

}  // namespace
}  // namespace galley::spec
