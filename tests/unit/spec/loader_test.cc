// SPDX-License-Identifier: Apache-2.0
// The loader end to end: valid repositories load into the model; every kind of problem is
// reported with file:line:col, all in one pass.
#include "spec/loader.h"

#include <gtest/gtest.h>

#include "support/temp_repo.h"

namespace galley::spec {
namespace {

using testing::kMinimalPlatform;
using testing::kMinimalService;
using testing::TempRepo;

// Rendered diagnostics with the temporary directory stripped, for exact comparisons.
std::string Errors(const TempRepo& t) {
  LoadResult r = LoadRepository(t.dir());
  std::string out = r.diags.RenderAll();
  std::string prefix = t.dir() + "/";
  for (size_t p; (p = out.find(prefix)) != std::string::npos;) out.erase(p, prefix.size());
  return out;
}

TEST(LoaderTest, LoadsTheMinimalRepository) {
  TempRepo t;
  t.Write("galley.yaml", kMinimalPlatform);
  t.Write("services/web.yaml", kMinimalService);
  LoadResult r = LoadRepository(t.dir());
  EXPECT_EQ(r.diags.RenderAll(), "");
  ASSERT_EQ(r.state.services.size(), 1u);
  const auto& web = r.state.services[0];
  EXPECT_EQ(web.name, "web");
  ASSERT_EQ(web.environments.size(), 2u);
  EXPECT_EQ(web.environments[0].name, "production");
  EXPECT_EQ(web.environments[0].instances, 2);
  EXPECT_EQ(web.health->grace_s, 5);
  EXPECT_EQ(r.state.platform.environments[1].port_prefix, "1");
}

TEST(LoaderTest, LoadPlatformFileReadsGalleyYamlAloneWithItsErrors) {
  TempRepo t;
  t.Write("galley.yaml", kMinimalPlatform);
  t.Write("services/web.yaml", "name: [not, a, name]\n");  // not looked at
  LoadResult r = LoadPlatformFile(t.dir());
  EXPECT_EQ(r.diags.RenderAll(), "");
  EXPECT_TRUE(r.state.services.empty());
  EXPECT_EQ(r.state.platform.environments.size(), 2u);
  EXPECT_TRUE(LoadRepository(t.dir()).diags.HasErrors());  // the whole load still refuses it
  TempRepo bad;
  bad.Write("galley.yaml", "platform: [1\n");
  LoadResult b = LoadPlatformFile(bad.dir());
  EXPECT_TRUE(b.diags.HasErrors());
  EXPECT_NE(b.diags.RenderAll().find("galley.yaml"), std::string::npos) << b.diags.RenderAll();
  EXPECT_TRUE(LoadPlatformFile(bad.dir() + "/nowhere").diags.HasErrors());
}

TEST(LoaderTest, LoadsEveryExample) {
  for (const char* ex : {"examples/reference", "examples/multi-port"}) {
    LoadResult r = LoadRepository(testing::SourceRoot() + "/" + ex);
    EXPECT_EQ(r.diags.RenderAll(), "") << ex;
    EXPECT_FALSE(r.state.services.empty()) << ex;
  }
}

TEST(LoaderTest, SortsServicesByNameWhateverTheFileOrder) {
  TempRepo t;
  t.Write("galley.yaml", kMinimalPlatform);
  for (std::string n : {"zeta", "alpha", "mid"}) {
    std::string s = kMinimalService;
    s.replace(s.find("name: web"), 9, "name: " + n);
    size_t port = s.find("8080");
    s.replace(port, 4, n == "zeta" ? "8081" : n == "alpha" ? "8082" : "8083");
    t.Write("services/team-" + n + "/" + n + ".yaml", s);
  }
  LoadResult r = LoadRepository(t.dir());
  ASSERT_FALSE(r.diags.HasErrors()) << r.diags.RenderAll();
  ASSERT_EQ(r.state.services.size(), 3u);
  EXPECT_EQ(r.state.services[0].name, "alpha");
  EXPECT_EQ(r.state.services[2].name, "zeta");
}

// Issue #11: a URL with user:password in galley.yaml is refused without printing them.
TEST(LoaderTest, UrlsWithCredentialsAreRefusedWithoutPrintingThem) {
  TempRepo t;
  std::string p = kMinimalPlatform;
  size_t at = p.find("http://", p.find("marathon"));
  ASSERT_NE(at, std::string::npos);
  p.insert(at + 7, "deploy:s3cret-pw@");
  t.Write("galley.yaml", p);
  t.Write("services/web.yaml", kMinimalService);
  std::string errors = Errors(t);
  EXPECT_NE(errors.find("marathon URL has credentials in it (not shown)"), std::string::npos)
      << errors;
  EXPECT_EQ(errors.find("s3cret-pw"), std::string::npos) << errors;
}

// Issue #13: `sync: auto | manual` per environment (galley serve), manual by default.
TEST(LoaderTest, EnvironmentSyncIsManualByDefault) {
  TempRepo t;
  std::string p = kMinimalPlatform;
  size_t at = p.find("staging: {");
  ASSERT_NE(at, std::string::npos);
  p.insert(at + 10, "sync: auto, ");
  t.Write("galley.yaml", p);
  t.Write("services/web.yaml", kMinimalService);
  LoadResult r = LoadRepository(t.dir());
  ASSERT_FALSE(r.diags.HasErrors()) << r.diags.RenderAll();
  ASSERT_NE(r.state.platform.FindEnvironment("staging"), nullptr);
  EXPECT_TRUE(r.state.platform.FindEnvironment("staging")->sync_auto);
  EXPECT_FALSE(r.state.platform.FindEnvironment("production")->sync_auto);

  std::string bad = kMinimalPlatform;
  bad.insert(bad.find("staging: {") + 10, "sync: sometimes, ");
  t.Write("galley.yaml", bad);
  std::string errors = Errors(t);
  EXPECT_NE(errors.find("sometimes"), std::string::npos) << errors;
  EXPECT_NE(errors.find("auto"), std::string::npos) << errors;
}

TEST(LoaderTest, ReportsAMissingPlatformFileAndDirectory) {
  TempRepo t;
  EXPECT_EQ(
      Errors(t),
      "galley.yaml: error: no platform file (expected galley.yaml at the top of the repository)\n"
      "1 error, 0 warnings\n");
  LoadResult r = LoadRepository(t.Path("nope"));
  EXPECT_TRUE(r.diags.HasErrors());
  EXPECT_NE(r.diags.RenderAll().find("not a directory"), std::string::npos);
}

TEST(LoaderTest, ReportsEveryProblemInOnePassWithPositions) {
  TempRepo t;
  t.Write("galley.yaml", kMinimalPlatform);
  t.Write("services/web.yaml", R"(name: web
imgae: web
resources: {cpus: 0, mem: "128"}
ports:
  - {container: 70000, expose: htp}
environments:
  prodution: {tag: v1, instances: -1}
)");
  EXPECT_EQ(Errors(t),
            "services/web.yaml:1:1: error: missing required key 'image' in a service file\n"
            "    name: web\n"
            "    ^\n"
            "services/web.yaml:2:1: error: unknown key 'imgae' in a service file (expected one of: "
            "name, image, "
            "registry, command, resources, ports, health, upgrade, balance, tags, external_hosts, "
            "config, "
            "kill_grace, paused, environments, ignore, policy, jobs)\n"
            "    imgae: web\n"
            "    ^\n"
            "    did you mean 'image'?\n"
            "services/web.yaml:3:19: error: resources.cpus is out of range: 0 (expected a number "
            "greater than 0 "
            "and at most 1024)\n"
            "    resources: {cpus: 0, mem: \"128\"}\n"
            "                      ^\n"
            "services/web.yaml:3:27: error: resources.mem must be a number, got '128' (expected a "
            "number greater "
            "than 0 and at most 4.1943e+06)\n"
            "    resources: {cpus: 0, mem: \"128\"}\n"
            "                              ^\n"
            "services/web.yaml:5:17: error: ports[0].container is out of range: 70000 (expected an "
            "integer from 1 "
            "to 65535)\n"
            "      - {container: 70000, expose: htp}\n"
            "                    ^\n"
            "services/web.yaml:5:32: error: ports[0].expose has an unknown value 'htp' (expected "
            "one of: http, tcp, "
            "none)\n"
            "      - {container: 70000, expose: htp}\n"
            "                                   ^\n"
            "    did you mean 'http'?\n"
            "services/web.yaml:7:3: error: environment 'prodution' is not declared in galley.yaml "
            "(expected one "
            "of: production, staging)\n"
            "      prodution: {tag: v1, instances: -1}\n"
            "      ^\n"
            "    did you mean 'production'?\n"
            "services/web.yaml:7:35: error: environments.prodution.instances is out of range: -1 "
            "(expected an "
            "integer from 0 to 10000)\n"
            "      prodution: {tag: v1, instances: -1}\n"
            "                                      ^\n"
            "8 errors, 0 warnings\n");
}

TEST(LoaderTest, RejectsDuplicateKeysThatYamlCppWouldAccept) {
  TempRepo t;
  t.Write("galley.yaml", kMinimalPlatform);
  std::string s = kMinimalService;
  s += "image: other\n";
  t.Write("services/web.yaml", s);
  std::string out = Errors(t);
  EXPECT_NE(out.find("services/web.yaml:11:1: error: duplicate key 'image' in a service file "
                     "(expected each key "
                     "once; first defined at line 2)"),
            std::string::npos)
      << out;
}

TEST(LoaderTest, ReportsCrossFileConflicts) {
  TempRepo t;
  t.Write("galley.yaml", kMinimalPlatform);
  t.Write("services/web.yaml", kMinimalService);
  std::string other = kMinimalService;
  other.replace(other.find("name: web"), 9, "name: api");
  t.Write("services/api.yaml", other);  // same port 8080 in both environments
  std::string dup = kMinimalService;
  dup.replace(dup.find("8080"), 4, "9090");
  t.Write("services/web-copy.yaml", dup);
  std::string out = Errors(t);
  EXPECT_NE(out.find("service 'web' is declared twice"), std::string::npos) << out;
  EXPECT_NE(
      out.find(
          "listen port 8080 of service 'web' in production is already used by service 'api' in "
          "production (services/api.yaml:6:5)"),
      std::string::npos)
      << out;
  EXPECT_NE(out.find("listen port 18080 of service 'web' in staging is already used by service "
                     "'api' in staging"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("warning: service 'web' is defined in 'web-copy.yaml'"), std::string::npos)
      << out;
}

TEST(LoaderTest, ChecksPrefixedPortsStayBelow65536AndAvoidWellKnownPorts) {
  TempRepo t;
  std::string platform = kMinimalPlatform;
  platform +=
      "well_known:\n  marathon: {listen: 18080, servers: [\"10.0.0.1:8080\"], check: /ping}\n";
  t.Write("galley.yaml", platform);
  std::string s = kMinimalService;
  s.replace(s.find("8080, expose"), 4, "60000");
  t.Write("services/web.yaml", s);
  std::string out = Errors(t);
  EXPECT_NE(
      out.find(
          "listen port 160000 of service 'web' in staging is above 65535 (expected container port "
          "60000 with prefix '1' to stay at most 65535)"),
      std::string::npos)
      << out;
  t.Write("services/web.yaml", kMinimalService);
  out = Errors(t);
  EXPECT_NE(
      out.find(
          "listen port 18080 of service 'web' in staging is already used by well-known service "
          "'marathon'"),
      std::string::npos)
      << out;
}

TEST(LoaderTest, ReservesPorts80And443ForTheExternalRole) {
  TempRepo t;
  std::string platform = kMinimalPlatform;
  platform.replace(platform.find("    - {name: internal, role: internal}"), 38,
                   "    - {name: edge, role: external, tls_certificate: site.pem}");
  t.Write("galley.yaml", platform);
  std::string s = kMinimalService;
  s.replace(s.find("8080, expose"), 4, "443");
  s.replace(s.find("  staging: {tag: v2, instances: 1}\n"), 35, "");
  t.Write("services/web.yaml", s);
  EXPECT_NE(
      Errors(t).find(
          "listen port 443 of service 'web' in production is already used by the external HTTPS "
          "frontend"),
      std::string::npos);
}

TEST(LoaderTest, ChecksNamesHostsTagsAndConfigKeys) {
  TempRepo t;
  t.Write("galley.yaml", kMinimalPlatform);
  t.Write("services/Web_1.yaml", R"(name: Web_1
image: web
resources: {cpus: 1, mem: 1}
ports: [{container: 8080, expose: tcp}]
tags: [production, internal-listen-http-1, balance-source, "a,b"]
external_hosts: [not_a_host, ok.example.com, ok.example.com]
config:
  lower: x
  SERVICE_NAME: y
  PORT0: z
  EMPTY:
  SECRET: {secret_env: "1BAD"}
  BOTH: {secret_env: A, secret_file: /b}
  REL: {secret_file: relative/path}
environments:
  production: {tag: latest, instances: 1}
  staging: {tag: "-bad", instances: 1}
)");
  std::string out = Errors(t);
  for (const char* want : {
           "service name 'Web_1' is not a valid Marathon id segment",
           "tag 'production' of service 'Web_1' collides with a generated tag",
           "tag 'internal-listen-http-1' of service 'Web_1' collides with a generated tag",
           "did you mean 'balance: source'?",
           "tag 'a,b' of service 'Web_1' has invalid characters",
           "external host 'not_a_host' is not a host name",
           "external host 'ok.example.com' is listed twice",
           "service 'Web_1' has external_hosts but no HTTP port",
           "config key 'lower' is not a valid variable name",
           "config key 'SERVICE_NAME' is set by the platform",
           "config key 'PORT0' is set by the platform",
           "config.EMPTY has no value (null)",
           "secret_env '1BAD' is not an environment variable name",
           "config.BOTH must name exactly one secret source",
           "secret_file 'relative/path' is not an absolute path",
           "tag 'latest' moves",
           "tag '-bad' is not a valid image tag",
       }) {
    EXPECT_NE(out.find(want), std::string::npos) << "missing: " << want << "\n" << out;
  }
}

TEST(LoaderTest, RefusesSecretFilesInsideTheRepository) {
  TempRepo t;
  t.Write("galley.yaml", kMinimalPlatform);
  std::string s = kMinimalService;
  s += "config:\n  TOKEN: {secret_file: " + t.Path("secrets/token") +
       "}\n  OK: {secret_file: /run/secrets/ok}\n";
  t.Write("services/web.yaml", s);
  std::string out = Errors(t);
  EXPECT_NE(out.find("is inside the repository"), std::string::npos) << out;
  EXPECT_EQ(out.find("/run/secrets/ok"), std::string::npos) << out;
}

TEST(LoaderTest, KeepsConfigValuesVerbatim) {
  TempRepo t;
  t.Write("galley.yaml", kMinimalPlatform);
  std::string s = kMinimalService;
  s += "config:\n  RATIO: 0.10\n  FLAG: yes\n  QUOTED: \"007\"\n  EMPTY: \"\"\n  DB: {secret_env: "
       "DB_URL}\n";
  t.Write("services/web.yaml", s);
  LoadResult r = LoadRepository(t.dir());
  ASSERT_FALSE(r.diags.HasErrors()) << r.diags.RenderAll();
  const auto& c = r.state.services[0].config;
  EXPECT_EQ(c.at("RATIO").text, "0.10");
  EXPECT_EQ(c.at("FLAG").text, "yes");
  EXPECT_EQ(c.at("QUOTED").text, "007");
  EXPECT_EQ(c.at("EMPTY").text, "");
  EXPECT_TRUE(c.at("DB").secret());
  EXPECT_EQ(c.at("DB").text, "DB_URL");
}

TEST(LoaderTest, WarnsWhenKillGraceIsShorterThanHaproxyDetection) {
  TempRepo t;
  std::string platform = kMinimalPlatform;
  platform.replace(platform.find("mesos: {docker_stop_timeout: 30s}\n"), 34, "");
  t.Write("galley.yaml", platform);
  t.Write("services/web.yaml", kMinimalService);
  LoadResult r = LoadRepository(t.dir());
  EXPECT_FALSE(r.diags.HasErrors());
  std::string out = r.diags.RenderAll();
  EXPECT_NE(out.find("warning: service 'web': task kill grace 0s (no kill_grace or "
                     "mesos.docker_stop_timeout) is "
                     "shorter than HAProxy's detection time 20s (inter 10s x fall 1 + check "
                     "timeout 5s + 5s to "
                     "drain)"),
            std::string::npos)
      << out;
  std::string s = kMinimalService;
  s += "kill_grace: 20s\n";
  t.Write("services/web.yaml", s);
  EXPECT_EQ(LoadRepository(t.dir()).diags.RenderAll(), "");
}

TEST(LoaderTest, ParsesDurations) {
  TempRepo t;
  t.Write("galley.yaml", kMinimalPlatform);
  std::string s = kMinimalService;
  s.replace(s.find("grace: 5s"), 9, "grace: 1h2m3s");
  t.Write("services/web.yaml", s);
  LoadResult r = LoadRepository(t.dir());
  ASSERT_FALSE(r.diags.HasErrors()) << r.diags.RenderAll();
  EXPECT_EQ(r.state.services[0].health->grace_s, 3723);
  // The one duration grammar (base/duration.h), as in --deadline and --lock-timeout.
  for (const auto& [text, seconds] : std::vector<std::pair<std::string, int>>{
           {"1h0m5s", 3605}, {"0s", 0}, {"24h", 86400}, {"90s", 90}}) {
    std::string b = kMinimalService;
    b.replace(b.find("grace: 5s"), 9, "grace: " + text);
    t.Write("services/web.yaml", b);
    LoadResult ok = LoadRepository(t.dir());
    ASSERT_FALSE(ok.diags.HasErrors()) << text << "\n" << ok.diags.RenderAll();
    EXPECT_EQ(ok.state.services[0].health->grace_s, seconds) << text;
  }
  for (const char* bad :
       {"grace: 10", "grace: 500ms", "grace: 1s2m", "grace: s", "grace: 25h", "grace: [1]",
        "grace: 1.5s", "grace: 2m1", "grace: -5s", "grace: 1d", "grace: 0"}) {
    std::string b = kMinimalService;
    b.replace(b.find("grace: 5s"), 9, bad);
    t.Write("services/web.yaml", b);
    std::string out = LoadRepository(t.dir()).diags.RenderAll();
    EXPECT_NE(out.find("health.grace"), std::string::npos) << bad << "\n" << out;
  }
  std::string b = kMinimalService;
  b.replace(b.find("grace: 5s"), 9, "grace: 10");
  t.Write("services/web.yaml", b);
  EXPECT_NE(LoadRepository(t.dir()).diags.RenderAll().find("did you mean '10s'?"),
            std::string::npos);
}

TEST(LoaderTest, RejectsEmptyNamesImagesTagsAndEndpoints) {
  TempRepo t;
  std::string platform = kMinimalPlatform;
  platform.replace(platform.find("name: test"), 10, "name: \"\"");
  platform.replace(platform.find("registry: registry.local"), 24, "registry: ''");
  t.Write("galley.yaml", platform);
  t.Write("services/web.yaml",
          "name: ''\nimage: \"\"\nresources: {cpus: 1, mem: 1}\n"
          "environments: {production: {tag: '', instances: 1}}\n");
  std::string out = Errors(t);
  for (const char* want :
       {"galley.yaml:2:7: error: name is empty (expected the platform's name)",
        "galley.yaml:5:11: error: registry is empty",
        "services/web.yaml:1:7: error: name is empty (expected the service's name)",
        "services/web.yaml:2:8: error: image is empty",
        "services/web.yaml:4:34: error: environments.production.tag is empty"}) {
    EXPECT_NE(out.find(want), std::string::npos) << "missing: " << want << "\n" << out;
  }
}

TEST(LoaderTest, PointsAtTheKeyOfAnEmptyValue) {
  TempRepo t;
  t.Write("galley.yaml", kMinimalPlatform);
  std::string s = kMinimalService;
  s += "config:\n  LOG_LEVEL:\n";
  t.Write("services/web.yaml", s);
  EXPECT_NE(Errors(t).find("services/web.yaml:12:3: error: config.LOG_LEVEL has no value (null)"),
            std::string::npos)
      << Errors(t);
}

TEST(LoaderTest, ParsesIgnoreRulesAndRejectsBadPointers) {
  TempRepo t;
  std::string platform = kMinimalPlatform;
  platform += "ignore:\n  marathon_app: [/labels/team]\n";
  t.Write("galley.yaml", platform);
  std::string s = kMinimalService;
  s += "ignore: [/instances, /env/A~1B]\n";
  t.Write("services/web.yaml", s);
  LoadResult r = LoadRepository(t.dir());
  ASSERT_FALSE(r.diags.HasErrors()) << r.diags.RenderAll();
  EXPECT_EQ(r.state.platform.ignore_app_fields, std::vector<std::string>{"/labels/team"});
  EXPECT_EQ(r.state.services[0].ignore, (std::vector<std::string>{"/instances", "/env/A~1B"}));
  s = kMinimalService;
  s += "ignore: [instances, /id, /a~2]\n";
  t.Write("services/web.yaml", s);
  std::string out = Errors(t);
  EXPECT_NE(out.find("ignore[0] is 'instances'"), std::string::npos) << out;
  EXPECT_NE(out.find("ignore[1] is '/id'"), std::string::npos) << out;
  EXPECT_NE(out.find("ignore[2] is '/a~2'"), std::string::npos) << out;
}

TEST(LoaderTest, HealthChecksNeedAPortAndSecretsMayNotNameGalleysCredentials) {
  TempRepo t;
  t.Write("galley.yaml", kMinimalPlatform);
  std::string s = kMinimalService;
  const std::string ports = "ports:\n  - {container: 8080, expose: http}\n";
  s.replace(s.find(ports), ports.size(), "");
  s += "config:\n  K: {secret_env: GALLEY_HMAC_KEY}\n  T: {secret_env: CONSUL_HTTP_TOKEN}\n";
  t.Write("services/web.yaml", s);
  std::string out = Errors(t);
  EXPECT_NE(out.find("service 'web' has a health check but no ports"), std::string::npos) << out;
  EXPECT_NE(out.find("secret_env 'GALLEY_HMAC_KEY' names one of galley's own credentials"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("secret_env 'CONSUL_HTTP_TOKEN' names one of galley's own credentials"),
            std::string::npos);
}

TEST(LoaderTest, AnExplicitStringTagIsNotAnInteger) {
  TempRepo t;
  t.Write("galley.yaml", kMinimalPlatform);
  std::string s = kMinimalService;
  s.replace(s.find("instances: 2"), 12, "instances: !!str 2");
  t.Write("services/web.yaml", s);
  EXPECT_NE(Errors(t).find("environments.production.instances must be an integer"),
            std::string::npos)
      << Errors(t);
}

// history.max_age (issue #14): runs older than this are pruned; a positive duration.
TEST(LoaderTest, HistoryMaxAgeIsADuration) {
  TempRepo t;
  t.Write("galley.yaml", std::string(kMinimalPlatform) +
                             "history: {max_age: 720h, observation_max_age: 48h, plans: 5}\n");
  t.Write("services/web.yaml", kMinimalService);
  LoadResult r = LoadRepository(t.dir());
  ASSERT_FALSE(r.diags.HasErrors()) << r.diags.RenderAll();
  EXPECT_EQ(r.state.platform.history.max_age_s, 720 * 3600);
  EXPECT_EQ(r.state.platform.history.observation_max_age_s, 48 * 3600);
  EXPECT_EQ(r.state.platform.history.plans, 5);
  t.Write("galley.yaml", std::string(kMinimalPlatform) + "history: {max_age: 0s}\n");
  r = LoadRepository(t.dir());
  EXPECT_NE(r.diags.RenderAll().find("history.max_age must be positive"), std::string::npos)
      << r.diags.RenderAll();
  t.Write("galley.yaml", std::string(kMinimalPlatform) + "history: {max_age: 87601h}\n");
  r = LoadRepository(t.dir());
  EXPECT_NE(r.diags.RenderAll().find("history.max_age is out of range: 87601h"), std::string::npos)
      << r.diags.RenderAll();
  TempRepo d;
  d.Write("galley.yaml", kMinimalPlatform);
  d.Write("services/web.yaml", kMinimalService);
  r = LoadRepository(d.dir());
  EXPECT_EQ(r.state.platform.history.max_age_s, 365 * 24 * 3600);
}

}  // namespace
}  // namespace galley::spec
