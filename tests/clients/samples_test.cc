// SPDX-License-Identifier: Apache-2.0
// The Marathon and Consul response samples (tests/clients/samples/) through ParseMarathonApp
// and through the clients over a fake HttpClient: concrete fields, 1.4-style bodies, and
// what the clients send (paths, auth headers).
#include <set>

#include <gtest/gtest.h>

#include "client_test_util.h"
#include "clients/consul_client.h"
#include "clients/marathon_client.h"

namespace galley::clients {
namespace {

using testing::FakeHttp;
using testing::Json;
using testing::Sample;
using testing::SampleJson;

const char* kReadOnly[] = {
    "tasks",          "deployments",     "tasksStaged", "tasksRunning", "tasksHealthy",
    "tasksUnhealthy", "lastTaskFailure", "tasksStats",  "taskStats",    "readinessCheckResults"};

void ExpectNoReadOnlyKeys(const model::LiveApp& app) {
  for (const char* k : kReadOnly) EXPECT_FALSE(app.body.contains(k)) << app.id << " kept " << k;
}

TEST(MarathonSamples, AppListParses) {
  Json list = SampleJson("app_list.json");
  ASSERT_EQ(list["apps"].size(), 1u);
  auto app = ParseMarathonApp(list["apps"][0]);
  ASSERT_TRUE(app.ok()) << app.status().message();
  EXPECT_EQ(app->id, "/myapp");
  EXPECT_EQ(app->version, "2015-09-25T15:13:48.343Z");
  EXPECT_EQ(app->last_config_change_at, "2015-09-25T15:13:48.343Z");
  EXPECT_EQ(app->instances, 3);
  EXPECT_EQ(app->tasks_running, 0);
  EXPECT_EQ(app->tasks_healthy, 0);
  EXPECT_EQ(app->tasks_staged, 0);
  EXPECT_EQ(app->deployment_ids, std::vector<std::string>{"9538079c-3898-4e32-aa31-799bf9097f74"});
  EXPECT_TRUE(app->tasks.empty());
  ExpectNoReadOnlyKeys(*app);
  // The definition stays as Marathon wrote it, nulls and deprecated fields included.
  EXPECT_EQ(app->body["cmd"], "env && sleep 60");
  EXPECT_TRUE(app->body["args"].is_null());
  EXPECT_EQ(app->body["ports"], Json::array({10013, 10015}));
  EXPECT_EQ(app->body["version"], "2015-09-25T15:13:48.343Z");
  EXPECT_EQ(app->body["versionInfo"]["lastScalingAt"], "2015-09-25T15:13:48.343Z");
}

TEST(MarathonSamples, BareAppParses) {
  auto app = ParseMarathonApp(SampleJson("app.json"));
  ASSERT_TRUE(app.ok()) << app.status().message();
  EXPECT_EQ(app->id, "/foo");
  EXPECT_EQ(app->instances, 2);
  EXPECT_EQ(app->version, "");  // a request-style body carries no version
  EXPECT_EQ(app->body["container"]["docker"]["network"], "BRIDGE");
  EXPECT_EQ(app->body["labels"]["owner"], "zeus");
  EXPECT_EQ(app->body, SampleJson("app.json"));  // nothing read-only to drop
}

TEST(MarathonSamples, GroupAppsParse) {
  std::vector<model::LiveApp> apps;
  std::function<void(const Json&)> walk = [&](const Json& g) {
    for (const Json& a : g.value("apps", Json::array())) {
      auto app = ParseMarathonApp(a);
      ASSERT_TRUE(app.ok()) << app.status().message();
      apps.push_back(*app);
    }
    for (const Json& sub : g.value("groups", Json::array())) walk(sub);
  };
  walk(SampleJson("group.json"));
  ASSERT_EQ(apps.size(), 3u);
  EXPECT_EQ(apps[0].id, "/tools/oauth-server");
  EXPECT_EQ(apps[0].version, "2015-09-28T19:47:37.681Z");
  EXPECT_EQ(apps[0].instances, 2);
  EXPECT_EQ(apps[1].id, "/tools/datadog-agent");
  EXPECT_EQ(apps[1].version, "2015-08-26T22:33:24.225Z");
  EXPECT_EQ(apps[1].last_config_change_at, "2015-05-19T13:59:18.899Z");  // scaled since
  EXPECT_EQ(apps[1].instances, 5);
  EXPECT_EQ(apps[2].id, "/tools/docker/registry");
  EXPECT_EQ(apps[2].last_config_change_at, "2015-08-19T21:00:54.621Z");
}

TEST(MarathonSamples, RealHundredAppListParses) {
  Json list = SampleJson("155_100.json");
  ASSERT_EQ(list["apps"].size(), 100u);
  std::set<std::string> ids;
  for (const Json& a : list["apps"]) {
    auto app = ParseMarathonApp(a);
    ASSERT_TRUE(app.ok()) << app.status().message();
    ids.insert(app->id);
    EXPECT_EQ(app->body["networks"], Json::array({{{"mode", "host"}}}));
  }
  EXPECT_EQ(ids.size(), 100u);
  auto first = ParseMarathonApp(list["apps"][0]);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->id, "/cudcos/mactest1");
  EXPECT_EQ(first->instances, 0);
  EXPECT_EQ(first->version, "");  // scrubbed upstream
  EXPECT_EQ(first->last_config_change_at, "2018-01-11T06:25:26.501Z");
  EXPECT_EQ(first->body["portDefinitions"][0]["port"], 10003);
}

TEST(MarathonSamples, RequestBodiesParse) {
  Json create = SampleJson("apps_create.json");
  ASSERT_EQ(create.size(), 2u);
  auto a = ParseMarathonApp(create[0]);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->id, "/test/sleep60");
  EXPECT_EQ(a->instances, 2);
  auto simple = ParseMarathonApp(SampleJson("app-simple.json"));
  ASSERT_TRUE(simple.ok());
  EXPECT_EQ(simple->id, "/simple");
  auto check = ParseMarathonApp(SampleJson("app-check-http-example.json"));
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(check->id, "http-index-test");  // as given: ids are Marathon's to canonicalise
  EXPECT_EQ(check->instances, 1);
}

void ExpectLegacyApp(const model::LiveApp& app) {
  EXPECT_EQ(app.id, "/app/production/legacy");
  EXPECT_EQ(app.version, "2017-06-01T10:00:00Z");
  EXPECT_EQ(app.last_config_change_at, "2017-05-30T08:00:00.5Z");
  EXPECT_EQ(app.instances, 2);
  EXPECT_EQ(app.tasks_running, 2);
  EXPECT_EQ(app.tasks_healthy, 1);
  EXPECT_EQ(app.tasks_staged, 0);
  EXPECT_TRUE(app.deployment_ids.empty());
  ASSERT_EQ(app.tasks.size(), 2u);
  EXPECT_EQ(app.tasks[0].id, "app_production_legacy.instance-5f1c0b2a-46b9-11e7-b731-525400cce7ed");
  EXPECT_EQ(app.tasks[0].host, "10.0.0.11");
  EXPECT_EQ(app.tasks[0].ports, std::vector<int>{31001});
  EXPECT_EQ(app.tasks[0].state, "TASK_RUNNING");
  EXPECT_EQ(app.tasks[0].version, "2017-06-01T10:00:00Z");
  EXPECT_TRUE(app.tasks[0].healthy);
  EXPECT_EQ(app.tasks[1].host, "10.0.0.12");
  EXPECT_FALSE(app.tasks[1].healthy);
  ExpectNoReadOnlyKeys(app);
  EXPECT_EQ(app.body["container"]["docker"]["network"], "BRIDGE");
  EXPECT_EQ(app.body["container"]["docker"]["portMappings"][0]["containerPort"], 3000);
  EXPECT_EQ(app.body["ports"], Json::array({10002}));
  EXPECT_EQ(app.body["uris"], Json::array());
  EXPECT_TRUE(app.body["cmd"].is_null());
  EXPECT_TRUE(app.body["ipAddress"].is_null());
  EXPECT_EQ(app.body["labels"]["version"], "master-1");
}

TEST(MarathonSamples, Marathon14StyleAppParses) {
  auto app = ParseMarathonApp(SampleJson("app_1_4.json"));  // the {"app": ...} wrapper
  ASSERT_TRUE(app.ok()) << app.status().message();
  ExpectLegacyApp(*app);
}

TEST(MarathonSamples, CountsFallBackToTasksAndNullsAreTolerated) {
  Json a = {{"id", "/x"},
            {"version", nullptr},
            {"versionInfo", nullptr},
            {"instances", 3.0},
            {"deployments", nullptr},
            {"tasks",
             {{{"id", "t1"},
               {"state", "TASK_RUNNING"},
               {"ports", nullptr},
               {"healthCheckResults", {{{"alive", true}}}}},
              {{"id", "t2"}, {"state", "TASK_RUNNING"}, {"healthCheckResults", Json::array()}},
              {{"id", "t3"}, {"state", "TASK_STAGING"}, {"healthCheckResults", nullptr}},
              {{"id", "t4"},
               {"state", "TASK_RUNNING"},
               {"healthCheckResults", {{{"alive", true}}, {{"alive", false}}}}}}}};
  auto app = ParseMarathonApp(a);
  ASSERT_TRUE(app.ok()) << app.status().message();
  EXPECT_EQ(app->version, "");
  EXPECT_EQ(app->instances, 3);
  EXPECT_EQ(app->tasks_running, 3);
  EXPECT_EQ(app->tasks_staged, 1);
  EXPECT_EQ(app->tasks_healthy, 1);  // t1 only: t2/t3 have no results, t4 has a failing one
  ASSERT_EQ(app->tasks.size(), 4u);
  EXPECT_TRUE(app->tasks[0].ports.empty());
  EXPECT_TRUE(app->tasks[0].healthy);
  EXPECT_FALSE(app->tasks[1].healthy);
  EXPECT_FALSE(app->tasks[3].healthy);
  EXPECT_FALSE(app->body.contains("tasks"));
}

TEST(MarathonSamples, MalformedAppsAreErrors) {
  auto not_object = ParseMarathonApp(Json::array());
  EXPECT_EQ(not_object.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(not_object.status().message(), "marathon app: expected a JSON object, got array");
  auto no_id = ParseMarathonApp({{"instances", 1}});
  EXPECT_EQ(no_id.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(no_id.status().message(), "marathon app: no string 'id'");
  EXPECT_FALSE(ParseMarathonApp({{"id", 7}}).ok());
}

// --- the same samples through the clients over a fake transport ---

MarathonEndpoint OneUrl(const std::string& url = "http://m1:8080") {
  MarathonEndpoint e;
  e.urls = {url};
  return e;
}

TEST(MarathonClientFake, GetAppOf14Server) {
  FakeHttp http(FakeHttp::Answer(200, Sample("app_1_4.json")));
  auto client = NewMarathonClient(OneUrl(), &http);
  auto app = client->GetApp("/app/production/legacy");
  ASSERT_TRUE(app.ok()) << app.status().message();
  ExpectLegacyApp(*app);
  ASSERT_EQ(http.seen().size(), 1u);
  EXPECT_EQ(http.seen()[0].method, "GET");
  EXPECT_EQ(http.seen()[0].url.substr(0, http.seen()[0].url.find('?')),
            "http://m1:8080/v2/apps/app/production/legacy");
  EXPECT_EQ(http.seen()[0].idempotent, std::optional<bool>(true));
}

TEST(MarathonClientFake, ListAppsIsOneRequestAndFiltersByGroup) {
  FakeHttp http(FakeHttp::Answer(200, Sample("155_100.json")));
  auto client = NewMarathonClient(OneUrl(), &http);
  auto apps =
      client->ListApps({"/cudcos/mactest1"});  // a group path: not mactest10..19, mactest100
  ASSERT_TRUE(apps.ok()) << apps.status().message();
  ASSERT_EQ(apps->size(), 1u);
  EXPECT_EQ((*apps)[0].id, "/cudcos/mactest1");
  auto all = client->ListApps({"/cudcos/"});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 100u);
  EXPECT_TRUE(
      std::is_sorted(all->begin(), all->end(), [](auto& a, auto& b) { return a.id < b.id; }));
  EXPECT_EQ(client->ListApps({"/"})->size(), 100u);
  EXPECT_EQ(client->ListApps({"/other/"})->size(), 0u);
  EXPECT_EQ(client->ListApps({})->size(), 0u);
  EXPECT_EQ(client->requests(), 5);
  EXPECT_EQ(http.seen()[0].url,
            "http://m1:8080/v2/apps?embed=apps.tasks&embed=apps.deployments&embed=apps.counts"
            "&embed=apps.lastTaskFailure");
  EXPECT_EQ(http.seen()[0].headers.count("Authorization"), 0u);
}

TEST(MarathonClientFake, ListAppsOf14List) {
  FakeHttp http(FakeHttp::Answer(200, Sample("app_list.json")));
  auto client = NewMarathonClient(OneUrl(), &http);
  auto apps = client->ListApps({"/"});
  ASSERT_TRUE(apps.ok()) << apps.status().message();
  ASSERT_EQ(apps->size(), 1u);
  EXPECT_EQ((*apps)[0].id, "/myapp");
  EXPECT_EQ((*apps)[0].deployment_ids.size(), 1u);
}

TEST(MarathonClientFake, DeploymentsSample) {
  FakeHttp http(FakeHttp::Answer(200, Sample("deployments.json")));
  auto client = NewMarathonClient(OneUrl(), &http);
  auto deps = client->ListDeployments();
  ASSERT_TRUE(deps.ok()) << deps.status().message();
  ASSERT_EQ(deps->size(), 1u);
  EXPECT_EQ((*deps)[0].id, "97c136bf-5a28-4821-9d94-480d9fbb01c8");
  EXPECT_EQ((*deps)[0].version, "2015-09-30T09:09:17.614Z");
  EXPECT_EQ((*deps)[0].affected_apps, std::vector<std::string>{"/foo"});
  EXPECT_EQ((*deps)[0].current_step, 1);
  EXPECT_EQ((*deps)[0].total_steps, 1);
  EXPECT_EQ(http.seen()[0].url, "http://m1:8080/v2/deployments");
}

TEST(MarathonClientFake, VersionsNewestFirstAcrossTimestampForms) {
  FakeHttp http(FakeHttp::Answer(
      200,
      R"({"versions":["2015-09-25T15:13:48Z","2015-09-25T15:13:48.343Z","2016-01-01T00:00:00.000Z",
                           "2015-09-25T15:13:47.9Z"]})"));
  auto client = NewMarathonClient(OneUrl(), &http);
  auto v = client->ListVersions("app/production/web");
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(*v, (std::vector<std::string>{"2016-01-01T00:00:00.000Z", "2015-09-25T15:13:48.343Z",
                                          "2015-09-25T15:13:48Z", "2015-09-25T15:13:47.9Z"}));
  EXPECT_EQ(http.seen()[0].url, "http://m1:8080/v2/apps/app/production/web/versions");
}

TEST(MarathonClientFake, AuthHeaders) {
  FakeHttp http(FakeHttp::Answer(200, R"({"apps":[]})"));
  MarathonEndpoint basic = OneUrl();
  basic.basic_user = "user";
  basic.basic_password = "pass";
  ASSERT_TRUE(NewMarathonClient(basic, &http)->ListApps({"/"}).ok());
  MarathonEndpoint token = OneUrl();
  token.token = "eyJhbGciOi.abc";
  ASSERT_TRUE(NewMarathonClient(token, &http)->ListApps({"/"}).ok());
  auto seen = http.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].headers.at("Authorization"), "Basic dXNlcjpwYXNz");
  EXPECT_EQ(seen[1].headers.at("Authorization"), "token=eyJhbGciOi.abc");
}

TEST(MarathonClientFake, FailoverSkipsTransportFailuresOnlyAndRemembers) {
  FakeHttp http([](const net::ClientRequest& r) -> Result<net::ClientResponse> {
    if (r.url.starts_with("http://a")) {
      return Status::Unavailable(r.method + " " + r.url + ": connection refused");
    }
    if (r.url.starts_with("http://b")) {
      return Status::Timeout(r.method + " " + r.url + ": no answer within 5 ms");
    }
    net::ClientResponse ok;
    ok.status = 200;
    ok.body = R"({"apps":[]})";
    return ok;
  });
  MarathonEndpoint e;
  e.urls = {"http://a:8080", "http://b:8080", "http://c:8080"};
  auto client = NewMarathonClient(e, &http);
  ASSERT_TRUE(client->ListApps({"/"}).ok());
  EXPECT_EQ(client->requests(), 3);
  ASSERT_TRUE(client->ListApps({"/"}).ok());
  EXPECT_EQ(client->requests(), 4);  // straight to c
  EXPECT_TRUE(http.seen()[3].url.starts_with("http://c:8080/"));

  // Every URL failing: each failure listed, the last one's code kept.
  e.urls = {"http://a:8080", "http://b:8080"};
  auto failing = NewMarathonClient(e, &http);
  auto r = failing->ListApps({"/"});
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout);
  EXPECT_EQ(r.status().message(),
            "marathon: no URL answered: marathon http://a:8080: GET /v2/apps: connection refused; "
            "marathon http://b:8080: GET /v2/apps: no answer within 5 ms");

  // Anything but kUnavailable/kTimeout is final.
  FakeHttp bad([](const net::ClientRequest&) -> Result<net::ClientResponse> {
    return Status::InvalidArgument("https is not supported by this client");
  });
  e.urls = {"https://a:8443", "http://c:8080"};
  auto c2 = NewMarathonClient(e, &bad);
  auto r2 = c2->ListApps({"/"});
  EXPECT_EQ(r2.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r2.status().message(),
            "marathon https://a:8443: GET /v2/apps: https is not supported by this client");
  EXPECT_EQ(c2->requests(), 1);
}

TEST(MarathonClientFake, HttpErrorsMapToCodes) {
  struct Case {
    int status;
    std::string body;
    StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {401, "<html><body>Unauthorized</body></html>", StatusCode::kPermissionDenied,
       "marathon http://m1:8080: GET /v2/deployments: 401 Unauthorized"},
      {403, R"({"message":"Not Authorized to perform this action!"})",
       StatusCode::kPermissionDenied,
       "marathon http://m1:8080: GET /v2/deployments: 403 Forbidden: Not Authorized to perform "
       "this action!"},
      {500, R"({"message":"URI not found"})", StatusCode::kUnavailable,
       "marathon http://m1:8080: GET /v2/deployments: 500 Internal Server Error: URI not found"},
      {503, "", StatusCode::kUnavailable,
       "marathon http://m1:8080: GET /v2/deployments: 503 Service Unavailable"},
      {502, "Could not determine the current leader", StatusCode::kUnavailable,
       "marathon http://m1:8080: GET /v2/deployments: 502 Bad Gateway: Could not determine the "
       "current leader"},
      {404, R"({"message":"URI not found: /v2/deployments"})", StatusCode::kNotFound,
       "marathon http://m1:8080: GET /v2/deployments: 404 Not Found: URI not found: "
       "/v2/deployments"},
  };
  for (const Case& c : cases) {
    FakeHttp http(FakeHttp::Answer(c.status, c.body));
    auto r = NewMarathonClient(OneUrl(), &http)->ListDeployments();
    EXPECT_EQ(r.status().code(), c.code) << c.status;
    EXPECT_EQ(r.status().message(), c.message);
  }
  // A 404 that is not Marathon's "does not exist" stays an HTTP error (a wrong base URL).
  FakeHttp uri(FakeHttp::Answer(404, R"({"message":"URI not found: /v2/apps/x"})"));
  auto not_app = NewMarathonClient(OneUrl(), &uri)->GetApp("/x");
  EXPECT_EQ(not_app.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(not_app.status().message(),
            "marathon http://m1:8080: GET /v2/apps/x: 404 Not Found: URI not found: /v2/apps/x");
  FakeHttp app404(FakeHttp::Answer(404, R"({"message":"App '/x' does not exist"})"));
  EXPECT_EQ(NewMarathonClient(OneUrl(), &app404)->GetApp("/x").status().message(),
            "marathon: app '/x' does not exist");

  // 200 with the wrong shape.
  FakeHttp wrong(FakeHttp::Answer(200, R"({"app":{}})"));
  auto r = NewMarathonClient(OneUrl(), &wrong)->ListApps({"/"});
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(),
            "marathon http://m1:8080: GET /v2/apps: unexpected response: no \"apps\" array");
}

// --- Consul samples ---

ConsulEndpoint ConsulAt(const std::string& url = "http://c:8500", const std::string& token = "") {
  ConsulEndpoint e;
  e.url = url;
  e.token = token;
  return e;
}

TEST(ConsulSamples, KvRecurse) {
  FakeHttp http(FakeHttp::Answer(200, Sample("kv-recurse.json"), {{"X-Consul-Index", "17"}}));
  auto client = NewConsulClient(ConsulAt("http://c:8500", "s3cr3t"), &http);
  auto kv = client->ListKv("web/");
  ASSERT_TRUE(kv.ok()) << kv.status().message();
  EXPECT_EQ(kv->index, 17u);
  ASSERT_EQ(kv->entries.size(), 4u);
  EXPECT_EQ(kv->entries[0].key, "web/");
  EXPECT_EQ(kv->entries[0].value, "");  // Value: null
  EXPECT_EQ(kv->entries[0].modify_index, 11u);
  EXPECT_EQ(kv->entries[1].key, "web/bar");
  EXPECT_EQ(kv->entries[1].value, "bar");
  EXPECT_EQ(kv->entries[1].modify_index, 15u);
  EXPECT_EQ(kv->entries[1].session, "");
  EXPECT_EQ(kv->entries[2].key, "web/foo");
  EXPECT_EQ(kv->entries[2].value, "foo");
  EXPECT_EQ(kv->entries[2].flags, 42u);
  EXPECT_EQ(kv->entries[2].modify_index, 17u);
  EXPECT_EQ(kv->entries[2].session, "adf4238a-882b-9ddc-4a9d-5b6758e4159e");
  EXPECT_EQ(kv->entries[3].key, "web/subdir/x");
  EXPECT_EQ(kv->entries[3].value, "x");
  auto seen = http.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].url, "http://c:8500/v1/kv/web/?recurse");
  EXPECT_EQ(seen[0].headers.at("X-Consul-Token"), "s3cr3t");
  EXPECT_EQ(client->requests(), 1);
}

TEST(ConsulSamples, KvGet) {
  FakeHttp http(FakeHttp::Answer(200, Sample("kv-get.json"), {{"X-Consul-Index", "200"}}));
  auto client = NewConsulClient(ConsulAt(), &http);
  auto e = client->GetKv("zip");
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ(e->key, "zip");
  EXPECT_EQ(e->value, "test");
  EXPECT_EQ(e->modify_index, 200u);
  EXPECT_EQ(e->session, "adf4238a-882b-9ddc-4a9d-5b6758e4159e");
  EXPECT_EQ(http.seen()[0].url, "http://c:8500/v1/kv/zip");
  EXPECT_EQ(http.seen()[0].headers.count("X-Consul-Token"), 0u);
}

TEST(ConsulSamples, HealthService) {
  FakeHttp http(FakeHttp::Answer(200, Sample("health-service.json")));
  auto client = NewConsulClient(ConsulAt(), &http);
  auto h = client->ServiceHealth("redis", true);
  ASSERT_TRUE(h.ok()) << h.status().message();
  ASSERT_EQ(h->size(), 1u);
  EXPECT_EQ((*h)[0].node, "foobar");
  EXPECT_EQ((*h)[0].address, "10.1.10.12");
  EXPECT_EQ((*h)[0].port, 8000);
  EXPECT_EQ((*h)[0].service_id, "redis");
  EXPECT_EQ((*h)[0].tags, std::vector<std::string>{"primary"});
  EXPECT_TRUE((*h)[0].passing);
  EXPECT_EQ(http.seen()[0].url, "http://c:8500/v1/health/service/redis?passing");

  // One failing check (node or service) makes the instance not passing; no Service.Address
  // falls back to the node's.
  Json body = SampleJson("health-service.json");
  body[0]["Checks"][0]["Status"] = "warning";
  body[0]["Service"]["Address"] = "";
  FakeHttp http2(FakeHttp::Answer(200, body.dump()));
  auto h2 = NewConsulClient(ConsulAt(), &http2)->ServiceHealth("redis", false);
  ASSERT_TRUE(h2.ok());
  EXPECT_FALSE((*h2)[0].passing);
  EXPECT_EQ((*h2)[0].address, "10.1.10.12");
  EXPECT_EQ(http2.seen()[0].url, "http://c:8500/v1/health/service/redis");
}

TEST(ConsulSamples, CatalogServices) {
  FakeHttp http(FakeHttp::Answer(200, Sample("catalog-services.json")));
  auto s = NewConsulClient(ConsulAt(), &http)->ListServices();
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_EQ(s->size(), 3u);
  EXPECT_EQ(s->at("consul"), std::vector<std::string>{});
  EXPECT_EQ(s->at("redis"), std::vector<std::string>{});
  EXPECT_EQ(s->at("postgresql"), (std::vector<std::string>{"primary", "secondary"}));
  EXPECT_EQ(http.seen()[0].url, "http://c:8500/v1/catalog/services");
}

TEST(ConsulSamples, ErrorsAndOddBodies) {
  FakeHttp denied(FakeHttp::Answer(403, "Permission denied"));
  auto r = NewConsulClient(ConsulAt(), &denied)->ListKv("app/");
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(r.status().message(),
            "consul http://c:8500: GET /v1/kv/app/?recurse: 403 Forbidden: Permission denied");

  FakeHttp missing(FakeHttp::Answer(404, "", {{"X-Consul-Index", "42"}}));
  auto none = NewConsulClient(ConsulAt(), &missing)->ListKv("app/none/");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->entries.empty());
  EXPECT_EQ(none->index, 42u);
  auto gone = NewConsulClient(ConsulAt(), &missing)->GetKv("app/x");
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(gone.status().message(), "consul: key 'app/x' does not exist");

  // A 404 without X-Consul-Index is not Consul's "no keys" (a wrong base URL, a proxy).
  FakeHttp not_consul(FakeHttp::Answer(404, "404 page not found"));
  auto wrong = NewConsulClient(ConsulAt(), &not_consul)->ListKv("app/");
  EXPECT_EQ(wrong.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(wrong.status().message(),
            "consul http://c:8500: GET /v1/kv/app/?recurse: 404 Not Found: 404 page not found");

  FakeHttp bad64(FakeHttp::Answer(200, R"([{"Key":"k","Value":"@@@","ModifyIndex":3}])"));
  auto b = NewConsulClient(ConsulAt(), &bad64)->ListKv("");
  EXPECT_EQ(b.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(b.status().message(),
            "consul http://c:8500: GET /v1/kv/?recurse: unexpected response: Value of key 'k' is "
            "not base64");

  FakeHttp garbage(FakeHttp::Answer(200, "[{\"Key\":"));
  auto g = NewConsulClient(ConsulAt(), &garbage)->ListKv("a b/ü/");
  EXPECT_EQ(g.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(
      g.status().message().starts_with("consul http://c:8500: GET /v1/kv/a%20b/%C3%BC/?recurse: "
                                       "invalid JSON in response (byte 9): "))
      << g.status().message();
}

}  // namespace
}  // namespace galley::clients
