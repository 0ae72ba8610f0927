// SPDX-License-Identifier: Apache-2.0
// ResolveEndpoints: precedence (flags > GALLEY_* > CONSUL_* > galley.yaml), the forms of
// CONSUL_HTTP_ADDR, URL validation naming the source, and the auth rules.
#include "clients/endpoints.h"

#include <cstdlib>

#include <gtest/gtest.h>

namespace galley::clients {
namespace {

using Env = std::map<std::string, std::string>;

model::Platform PlatformWith(std::vector<std::string> marathon = {"http://yaml-m:8080"},
                             std::string consul = "http://yaml-c:8500") {
  model::Platform p;
  p.file = "/repo/galley.yaml";
  p.marathon_urls = std::move(marathon);
  p.consul_url = std::move(consul);
  return p;
}

Result<Endpoints> Resolve(const Env& env, const EndpointFlags& flags = {},
                          const model::Platform& p = PlatformWith()) {
  return ResolveEndpoints(p, flags, env);
}

TEST(Endpoints, PlatformFileIsTheFallback) {
  auto e = Resolve({});
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ(e->marathon.urls, std::vector<std::string>{"http://yaml-m:8080"});
  EXPECT_EQ(e->consul.url, "http://yaml-c:8500");
  EXPECT_EQ(e->marathon.token, "");
  EXPECT_EQ(e->marathon.basic_user, "");
  EXPECT_EQ(e->consul.token, "");
  EXPECT_EQ(e->consul.ca_file, "");
}

TEST(Endpoints, PrecedenceTable) {
  struct Case {
    const char* name;
    Env env;
    EndpointFlags flags;
    std::vector<std::string> marathon;
    std::string consul;
  };
  const std::vector<Case> cases = {
      {"env over yaml",
       {{"GALLEY_MARATHON_URL", "http://m1:8080, http://m2:8080/"},
        {"GALLEY_CONSUL_URL", "http://c1:8500"}},
       {},
       {"http://m1:8080", "http://m2:8080"},
       "http://c1:8500"},
      {"flags over env",
       {{"GALLEY_MARATHON_URL", "http://m1:8080"}, {"GALLEY_CONSUL_URL", "http://c1:8500"}},
       {{"http://f1:8080,http://f2:8080", "http://f3:8080"}, "http://fc:8500"},
       {"http://f1:8080", "http://f2:8080", "http://f3:8080"},
       "http://fc:8500"},
      {"GALLEY_CONSUL_URL over CONSUL_HTTP_ADDR",
       {{"GALLEY_CONSUL_URL", "http://c1:8500"}, {"CONSUL_HTTP_ADDR", "c2:8500"}},
       {},
       {"http://yaml-m:8080"},
       "http://c1:8500"},
      {"CONSUL_HTTP_ADDR host:port over yaml",
       {{"CONSUL_HTTP_ADDR", "10.0.0.5:8500"}},
       {},
       {"http://yaml-m:8080"},
       "http://10.0.0.5:8500"},
      {"CONSUL_HTTP_ADDR https URL honoured",
       {{"CONSUL_HTTP_ADDR", "https://consul.example:8501"}},
       {},
       {"http://yaml-m:8080"},
       "https://consul.example:8501"},
      {"CONSUL_HTTP_SSL makes host:port https",
       {{"CONSUL_HTTP_ADDR", "consul:8501"}, {"CONSUL_HTTP_SSL", "true"}},
       {},
       {"http://yaml-m:8080"},
       "https://consul:8501"},
      {"CONSUL_HTTP_SSL=0 keeps http",
       {{"CONSUL_HTTP_ADDR", "consul:8500"}, {"CONSUL_HTTP_SSL", "0"}},
       {},
       {"http://yaml-m:8080"},
       "http://consul:8500"},
      {"blank variables count as unset",
       {{"GALLEY_MARATHON_URL", "  "}, {"GALLEY_CONSUL_URL", ""}, {"CONSUL_HTTP_ADDR", ""}},
       {},
       {"http://yaml-m:8080"},
       "http://yaml-c:8500"},
      {"DC/OS path kept, trailing slash and case of scheme normalised",
       {{"GALLEY_MARATHON_URL", "HTTPS://master.mesos/service/marathon/"}},
       {},
       {"https://master.mesos/service/marathon"},
       "http://yaml-c:8500"},
      {"IPv6 host",
       {{"GALLEY_MARATHON_URL", "http://[::1]:8080"}},
       {},
       {"http://[::1]:8080"},
       "http://yaml-c:8500"},
  };
  for (const Case& c : cases) {
    auto e = Resolve(c.env, c.flags);
    ASSERT_TRUE(e.ok()) << c.name << ": " << e.status().message();
    EXPECT_EQ(e->marathon.urls, c.marathon) << c.name;
    EXPECT_EQ(e->consul.url, c.consul) << c.name;
  }
}

TEST(Endpoints, BadUrlsNameTheirSource) {
  struct Case {
    Env env;
    EndpointFlags flags;
    model::Platform platform;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{{"GALLEY_MARATHON_URL", "ftp://x"}},
       {},
       PlatformWith(),
       "GALLEY_MARATHON_URL: 'ftp://x' is not an http(s) URL"},
      {{{"GALLEY_MARATHON_URL", "http://m1:8080,m2:8080"}},
       {},
       PlatformWith(),
       "GALLEY_MARATHON_URL: 'm2:8080' is not an http(s) URL"},
      {{{"GALLEY_MARATHON_URL", "http://"}},
       {},
       PlatformWith(),
       "GALLEY_MARATHON_URL: 'http://' has no host"},
      {{{"GALLEY_MARATHON_URL", "http://:8080/"}},
       {},
       PlatformWith(),
       "GALLEY_MARATHON_URL: 'http://:8080/' has no host"},
      {{{"GALLEY_MARATHON_URL", "http://m:99999"}},
       {},
       PlatformWith(),
       "GALLEY_MARATHON_URL: 'http://m:99999' is not a valid URL (bad port '99999' in URL "
       "http://m:99999)"},
      {{{"GALLEY_MARATHON_URL", "http://m:8080/?x=1"}},
       {},
       PlatformWith(),
       "GALLEY_MARATHON_URL: 'http://m:8080/?x=1' must not have a query or fragment"},
      {{},
       {{"marathon:8080"}, ""},
       PlatformWith(),
       "--marathon: 'marathon:8080' is not an http(s) URL"},
      {{}, {{}, "consul:8500"}, PlatformWith(), "--consul: 'consul:8500' is not an http(s) URL"},
      {{{"GALLEY_CONSUL_URL", "unix:///run/consul.sock"}},
       {},
       PlatformWith(),
       "GALLEY_CONSUL_URL: 'unix:///run/consul.sock' is not an http(s) URL"},
      {{{"CONSUL_HTTP_ADDR", "unix:///run/consul.sock"}},
       {},
       PlatformWith(),
       "CONSUL_HTTP_ADDR: 'unix:///run/consul.sock' is not an http(s) URL"},
      {{{"CONSUL_HTTP_ADDR", "consul:8500/v1"}},
       {},
       PlatformWith(),
       "CONSUL_HTTP_ADDR: 'consul:8500/v1' is neither host:port nor an http(s) URL"},
      {{{"CONSUL_HTTP_ADDR", "consul:8500"}, {"CONSUL_HTTP_SSL", "yes please"}},
       {},
       PlatformWith(),
       "CONSUL_HTTP_SSL: 'yes please' is not a boolean"},
      {{},
       {},
       PlatformWith({"http://ok:8080", "htp://typo:8080"}),
       "/repo/galley.yaml: marathon.urls: 'htp://typo:8080' is not an http(s) URL"},
      {{},
       {},
       PlatformWith({"http://ok:8080"}, "consul:8500"),
       "/repo/galley.yaml: consul.url: 'consul:8500' is not an http(s) URL"},
      {{},
       {},
       PlatformWith({}, "http://c:8500"),
       "no Marathon URL: set --marathon, GALLEY_MARATHON_URL or marathon.urls in galley.yaml"},
      {{},
       {},
       PlatformWith({"http://m:8080"}, ""),
       "no Consul URL: set --consul, GALLEY_CONSUL_URL, CONSUL_HTTP_ADDR or consul.url in "
       "galley.yaml"},
  };
  for (const Case& c : cases) {
    auto e = ResolveEndpoints(c.platform, c.flags, c.env);
    ASSERT_FALSE(e.ok()) << c.message;
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(e.status().message(), c.message);
  }
}

TEST(Endpoints, MarathonAuth) {
  auto basic = Resolve({{"GALLEY_MARATHON_USER", "deploy"}, {"GALLEY_MARATHON_PASSWORD", "p:w d"}});
  ASSERT_TRUE(basic.ok()) << basic.status().message();
  EXPECT_EQ(basic->marathon.basic_user, "deploy");
  EXPECT_EQ(basic->marathon.basic_password, "p:w d");
  EXPECT_EQ(basic->marathon.token, "");

  auto token = Resolve({{"GALLEY_MARATHON_TOKEN", "eyJ.token"}});
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->marathon.token, "eyJ.token");
  EXPECT_EQ(token->marathon.basic_user, "");

  struct Case {
    Env env;
    std::string message;
  };
  const std::vector<Case> errors = {
      {{{"GALLEY_MARATHON_USER", "deploy"}},
       "GALLEY_MARATHON_USER is set but GALLEY_MARATHON_PASSWORD is not: basic auth needs both"},
      {{{"GALLEY_MARATHON_PASSWORD", "pw"}},
       "GALLEY_MARATHON_PASSWORD is set but GALLEY_MARATHON_USER is not: basic auth needs both"},
      {{{"GALLEY_MARATHON_USER", "deploy"},
        {"GALLEY_MARATHON_PASSWORD", "pw"},
        {"GALLEY_MARATHON_TOKEN", "t"}},
       "set either GALLEY_MARATHON_TOKEN (DC/OS) or GALLEY_MARATHON_USER and "
       "GALLEY_MARATHON_PASSWORD (basic auth), "
       "not both"},
      {{{"GALLEY_MARATHON_USER", "a:b"}, {"GALLEY_MARATHON_PASSWORD", "pw"}},
       "GALLEY_MARATHON_USER: a basic-auth user name cannot contain ':'"},
  };
  for (const Case& c : errors) {
    auto e = Resolve(c.env);
    ASSERT_FALSE(e.ok()) << c.message;
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(e.status().message(), c.message);
  }
}

TEST(Endpoints, ConsulTokenAndCaFiles) {
  auto e =
      Resolve({{"CONSUL_HTTP_TOKEN", "consul-secret"}, {"CONSUL_CACERT", "/etc/consul/ca.pem"}});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->consul.token, "consul-secret");
  EXPECT_EQ(e->consul.ca_file, "/etc/consul/ca.pem");
  EXPECT_EQ(e->marathon.ca_file, "");

  auto both =
      Resolve({{"GALLEY_CA_FILE", "/etc/galley/ca.pem"}, {"CONSUL_CACERT", "/etc/consul/ca.pem"}});
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->consul.ca_file, "/etc/galley/ca.pem");  // GALLEY_* over CONSUL_*
  EXPECT_EQ(both->marathon.ca_file, "/etc/galley/ca.pem");
}

TEST(Endpoints, ProcessEnvironmentReadsTheProcess) {
  ::setenv("GALLEY_CLIENTS_TEST_VAR", "a=b c", 1);
  auto env = ProcessEnvironment();
  ::unsetenv("GALLEY_CLIENTS_TEST_VAR");
  ASSERT_TRUE(env.count("GALLEY_CLIENTS_TEST_VAR"));
  EXPECT_EQ(env["GALLEY_CLIENTS_TEST_VAR"], "a=b c");
}

}  // namespace
}  // namespace galley::clients

namespace galley::clients {
namespace {

// Issue #11: a URL with credentials is refused without printing them.
TEST(Endpoints, CredentialsInUrlsAreNeverPrinted) {
  const std::vector<std::pair<Env, EndpointFlags>> cases = {
      {{{"GALLEY_MARATHON_URL", "http://deploy:s3cret-pw@m:8080"}}, {}},
      {{{"GALLEY_MARATHON_URL", "http://deploy:s3cret-pw@m:8080?x"}}, {}},
      {{{"GALLEY_MARATHON_URL", "ftp://deploy:s3cret-pw@m:8080"}}, {}},
      {{}, {{"http://deploy:s3cret-pw@"}, ""}},
      {{}, {{}, "http://deploy:s3cret-pw@c:8500"}},
      {{{"GALLEY_CONSUL_URL", "https://:s3cret-pw@c:8500/"}}, {}},
      {{{"CONSUL_HTTP_ADDR", "deploy:s3cret-pw@c:8500"}}, {}},
      {{{"CONSUL_HTTP_ADDR", "deploy:s3cret-pw@c:8500/x y"}}, {}},
  };
  for (const auto& [env, flags] : cases) {
    auto e = Resolve(env, flags);
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.status().message().find("s3cret-pw"), std::string::npos) << e.status().message();
    EXPECT_NE(e.status().message().find("***@"), std::string::npos) << e.status().message();
  }
  auto yaml = Resolve({}, {}, PlatformWith({"http://u:s3cret-pw@m:8080"}));
  ASSERT_FALSE(yaml.ok());
  EXPECT_EQ(yaml.status().message(),
            "/repo/galley.yaml: marathon.urls: 'http://***@m:8080' is not a valid URL (credentials "
            "in URLs are not "
            "supported (use the environment): http://***@m:8080)");
}

// Issue #10: the endpoints a saved plan was made against come last, after galley.yaml, and
// each endpoint says where it came from.
TEST(Endpoints, ASavedPlansEndpointsAreTheLastResort) {
  EndpointFlags plan;
  plan.fallback_marathon_urls = {"http://plan-m:8080"};
  plan.fallback_consul_url = "http://plan-c:8500";
  plan.fallback_source = "plan.json";
  auto only_plan = Resolve({}, plan, model::Platform{});
  ASSERT_TRUE(only_plan.ok()) << only_plan.status().message();
  EXPECT_EQ(only_plan->marathon.urls, std::vector<std::string>{"http://plan-m:8080"});
  EXPECT_EQ(only_plan->consul.url, "http://plan-c:8500");
  EXPECT_EQ(only_plan->marathon.source, "plan.json");
  EXPECT_EQ(only_plan->consul.source, "plan.json");

  auto yaml = Resolve({}, plan);
  ASSERT_TRUE(yaml.ok());
  EXPECT_EQ(yaml->consul.url, "http://yaml-c:8500");
  EXPECT_EQ(yaml->consul.source, "/repo/galley.yaml: consul.url");
  EXPECT_EQ(yaml->marathon.source, "/repo/galley.yaml: marathon.urls");

  EndpointFlags flags = plan;
  flags.consul_url = "http://flag-c:8500";
  auto over = Resolve({{"GALLEY_MARATHON_URL", "http://env-m:8080"}}, flags, model::Platform{});
  ASSERT_TRUE(over.ok());
  EXPECT_EQ(over->marathon.urls, std::vector<std::string>{"http://env-m:8080"});
  EXPECT_EQ(over->marathon.source, "GALLEY_MARATHON_URL");
  EXPECT_EQ(over->consul.url, "http://flag-c:8500");
  EXPECT_EQ(over->consul.source, "--consul");
  auto addr = Resolve({{"CONSUL_HTTP_ADDR", "c:8500"}}, plan, model::Platform{});
  ASSERT_TRUE(addr.ok());
  EXPECT_EQ(addr->consul.source, "CONSUL_HTTP_ADDR");

  plan.fallback_consul_url = "http://u:pw@plan-c:8500";
  auto bad = Resolve({}, plan, model::Platform{});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().find("pw@"), std::string::npos) << bad.status().message();
  EXPECT_EQ(bad.status().message().rfind("plan.json: ", 0), 0u) << bad.status().message();
}

}  // namespace
}  // namespace galley::clients

namespace galley::clients {
namespace {

// Issue #16: Chronos is optional; --chronos > GALLEY_CHRONOS_URL > galley.yaml chronos.url >
// a saved plan's, each naming its source; basic auth both or neither.
TEST(Endpoints, ChronosPrecedenceAndAbsence) {
  auto none = Resolve({});
  ASSERT_TRUE(none.ok()) << none.status().message();
  EXPECT_EQ(none->chronos.url, "");  // no Chronos configured is not an error

  model::Platform p = PlatformWith();
  p.chronos_url = "http://yaml-chronos:4400/";
  EndpointFlags plan;
  plan.fallback_chronos_url = "http://plan-chronos:4400";
  plan.fallback_source = "plan.json";

  auto from_plan = Resolve({}, plan);
  ASSERT_TRUE(from_plan.ok());
  EXPECT_EQ(from_plan->chronos.url, "http://plan-chronos:4400");
  EXPECT_EQ(from_plan->chronos.source, "plan.json");

  auto yaml = Resolve({}, plan, p);
  ASSERT_TRUE(yaml.ok());
  EXPECT_EQ(yaml->chronos.url, "http://yaml-chronos:4400");  // trailing slash dropped
  EXPECT_EQ(yaml->chronos.source, "/repo/galley.yaml: chronos.url");

  Env env = {{"GALLEY_CHRONOS_URL", " http://env-chronos:4400 "}};
  auto from_env = Resolve(env, plan, p);
  ASSERT_TRUE(from_env.ok());
  EXPECT_EQ(from_env->chronos.url, "http://env-chronos:4400");
  EXPECT_EQ(from_env->chronos.source, "GALLEY_CHRONOS_URL");

  EndpointFlags flags = plan;
  flags.chronos_url = "HTTPS://flag-chronos:4400/base/";
  auto from_flag = Resolve(env, flags, p);
  ASSERT_TRUE(from_flag.ok());
  EXPECT_EQ(from_flag->chronos.url, "https://flag-chronos:4400/base");
  EXPECT_EQ(from_flag->chronos.source, "--chronos");
  EXPECT_EQ(from_flag->chronos.basic_user, "");

  // Blank counts as unset.
  auto blank = Resolve({{"GALLEY_CHRONOS_URL", "  "}}, {}, p);
  ASSERT_TRUE(blank.ok());
  EXPECT_EQ(blank->chronos.source, "/repo/galley.yaml: chronos.url");
}

TEST(Endpoints, ChronosErrorsNameTheirSource) {
  model::Platform p = PlatformWith();
  struct Case {
    Env env;
    std::string flag, yaml, fallback;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{}, "chronos:4400", "", "", "--chronos: 'chronos:4400' is not an http(s) URL"},
      {{{"GALLEY_CHRONOS_URL", "ftp://c"}},
       "",
       "",
       "",
       "GALLEY_CHRONOS_URL: 'ftp://c' is not an http(s) URL"},
      {{},
       "",
       "http://c:4400?x=1",
       "",
       "/repo/galley.yaml: chronos.url: 'http://c:4400?x=1' must not have a query or fragment"},
      {{}, "", "", "http://", "plan.json: 'http://' has no host"},
      {{{"GALLEY_CHRONOS_USER", "ops"}},
       "http://c:4400",
       "",
       "",
       "GALLEY_CHRONOS_USER is set but GALLEY_CHRONOS_PASSWORD is not: basic auth needs both"},
      // Checked even without a URL: a half-set pair is a mistake either way.
      {{{"GALLEY_CHRONOS_PASSWORD", "pw"}},
       "",
       "",
       "",
       "GALLEY_CHRONOS_PASSWORD is set but GALLEY_CHRONOS_USER is not: basic auth needs both"},
      {{{"GALLEY_CHRONOS_USER", "a:b"}, {"GALLEY_CHRONOS_PASSWORD", "pw"}},
       "http://c:4400",
       "",
       "",
       "GALLEY_CHRONOS_USER: a basic-auth user name cannot contain ':'"},
  };
  for (const auto& c : cases) {
    model::Platform q = p;
    q.chronos_url = c.yaml;
    EndpointFlags flags;
    flags.chronos_url = c.flag;
    flags.fallback_chronos_url = c.fallback;
    flags.fallback_source = "plan.json";
    auto e = Resolve(c.env, flags, q);
    ASSERT_FALSE(e.ok()) << c.error;
    EXPECT_EQ(e.status().message(), c.error);
  }
  auto secret = Resolve({{"GALLEY_CHRONOS_URL", "http://u:s3cret-pw@c:4400?q"}});
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().message().find("s3cret-pw"), std::string::npos);

  auto auth = Resolve({{"GALLEY_CHRONOS_USER", "ops"},
                       {"GALLEY_CHRONOS_PASSWORD", "pw"},
                       {"GALLEY_CA_FILE", "/etc/ca.pem"},
                       {"GALLEY_CHRONOS_URL", "http://c:4400"}});
  ASSERT_TRUE(auth.ok()) << auth.status().message();
  EXPECT_EQ(auth->chronos.basic_user, "ops");
  EXPECT_EQ(auth->chronos.basic_password, "pw");
  EXPECT_EQ(auth->chronos.ca_file, "/etc/ca.pem");
}

}  // namespace
}  // namespace galley::clients
