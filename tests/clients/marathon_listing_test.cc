// SPDX-License-Identifier: Apache-2.0
// The app listing read by SAX (issue #14) gives what reading it as a document gave: the same
// apps, bodies, tasks and counters, and the same errors, on samples and on edge cases.
#include "clients/marathon_listing.h"

#include <gtest/gtest.h>

#include "clients/http_support.h"
#include "support/temp_repo.h"

namespace galley::clients::internal {
namespace {

using Json = nlohmann::json;

// The listing as the client read it before: the whole document, then each app.
Result<std::vector<model::LiveApp>> ByDocument(
    const std::string& body, const std::function<bool(const std::string&)>& keep) {
  const std::string context = "ctx";
  ASSIGN_OR_RETURN(Json doc, ParseJsonBody(body, context));
  auto apps = doc.is_object() ? doc.find("apps") : doc.end();
  if (!doc.is_object() || apps == doc.end() || !apps->is_array()) {
    return Status::Unavailable(context + ": unexpected response: no \"apps\" array");
  }
  std::vector<model::LiveApp> out;
  for (size_t i = 0; i < apps->size(); ++i) {
    Json& a = (*apps)[i];
    const Json* id = Field(a, "id");
    if (!id || !id->is_string()) {
      return Status::Unavailable(context + ": unexpected response: apps[" + std::to_string(i) +
                                 "] has no string 'id'");
    }
    if (!keep(id->get_ref<const std::string&>())) continue;
    auto app = LiveAppFromJson(std::move(a));
    if (!app.ok()) {
      return Status::Unavailable(context + ": unexpected response: apps[" + std::to_string(i) +
                                 "]: " + app.status().message());
    }
    out.push_back(std::move(app).value());
  }
  return out;
}

std::string Describe(const Result<std::vector<model::LiveApp>>& r) {
  if (!r.ok()) return "error: " + r.status().message();
  Json out = Json::array();
  for (const auto& a : *r) {
    Json tasks = Json::array();
    for (const auto& t : a.tasks) {
      tasks.push_back({t.id, t.host, t.ports, t.state, t.version, t.healthy});
    }
    out.push_back({{"id", a.id},
                   {"body", a.body},
                   {"version", a.version},
                   {"changed", a.last_config_change_at},
                   {"counts", {a.instances, a.tasks_running, a.tasks_healthy, a.tasks_staged}},
                   {"deployments", a.deployment_ids},
                   {"tasks", tasks}});
  }
  return out.dump();
}

void ExpectSame(
    const std::string& body,
    const std::function<bool(const std::string&)>& keep = [](const std::string&) { return true; }) {
  EXPECT_EQ(Describe(ParseAppListing(body, "ctx", keep)), Describe(ByDocument(body, keep)))
      << body.substr(0, 400);
}

std::string Sample(const std::string& path) {
  return galley::testing::ReadText(galley::testing::SourceRoot() + "/" + path);
}

TEST(MarathonListing, SamplesReadAsTheDocumentReadThem) {
  ExpectSame(Sample("tests/clients/samples/app_list.json"));
  Json one = Json::parse(Sample("tests/testdata/marathon/test-server-1.5.json"))["app"];
  Json old = Json::parse(Sample("tests/clients/samples/app_1_4.json"));
  if (old.contains("app")) old = old["app"];
  std::string listing = Json{{"apps", {one, old}}}.dump();
  ExpectSame(listing);
  ExpectSame(listing,
             [](const std::string& id) { return id.find("test-server") != std::string::npos; });
  auto apps = ParseAppListing(listing, "ctx", [](const std::string&) { return true; });
  ASSERT_TRUE(apps.ok());
  ASSERT_EQ(apps->size(), 2u);
  EXPECT_EQ((*apps)[1].tasks.size(), 2u);  // the 1.4 sample's tasks were read
  EXPECT_FALSE((*apps)[1].body.contains("tasks"));
}

TEST(MarathonListing, TasksAndTheirOddShapes) {
  ExpectSame(R"({"apps":[{"id":"/a","instances":2,"tasks":[
      {"id":"t1","host":"h1","ports":[31000,2.0,"x",null,[1],{"p":1}],"state":"TASK_RUNNING",
       "version":"v1","healthCheckResults":[{"alive":true},{"alive":true,"alive":false}]},
      {"id":"t2","host":null,"ports":{"a":1},"state":5,"healthCheckResults":[]},
      {"id":{"x":1},"healthCheckResults":[{"alive":true},3]},
      {"id":"t4","healthCheckResults":[{"alive":true,"more":{"alive":false}},[true]]},
      {"id":"t5","healthCheckResults":{"alive":true},"ports":5},
      {"id":"t6","healthCheckResults":[{"alive":"yes"}],"ports":[1],"ports":[2,3]},
      {"id":"t7","state":"TASK_STAGING","healthCheckResults":[{"alive":true}]},
      7, "task", [1,2], null,
      {"id":"t8","id":"t8b","host":"h","host":5,"healthCheckResults":[{"alive":true}],
       "healthCheckResults":null}
    ],"deployments":[{"id":"d1"},{"id":""},{"x":1},5],"tasksRunning":1.0}]})");
  // "tasks" not an array, or given twice (the later counts).
  ExpectSame(R"({"apps":[{"id":"/a","tasks":{"id":"t"}},{"id":"/b","tasks":5},
                 {"id":"/c","tasks":[{"id":"x"}],"tasks":[{"id":"y"},{"id":"z"}]},
                 {"id":"/d","tasks":[{"id":"x"}],"tasks":null},{"id":"/e","tasks":[]}]})");
}

TEST(MarathonListing, BodiesKeepEverythingButTheReadOnlyKeys) {
  ExpectSame(R"({"version":"x","apps":[{"id":"/a","env":{"K":"v","K":"w"},"labels":{},
      "container":{"docker":{"image":"i","portMappings":[{"containerPort":1,"hostPort":0}]},
      "volumes":[]},"cpus":0.25,"mem":-1,"big":18446744073709551615,"neg":-9223372036854775808,
      "nested":[[[],[{}]],{"tasks":[1]}],"versionInfo":{"lastConfigChangeAt":"c"},
      "tasksStaged":0,"tasksHealthy":3,"lastTaskFailure":{"x":1},"readinessCheckResults":[],
      "u":"\u00e9\ud83d\ude00\"\\"}],"other":{"apps":[]}})");
}

TEST(MarathonListing, ErrorsAreTheDocumentsErrors) {
  for (const char* body : {"",
                           "[]",
                           "5",
                           "null",
                           R"({"apps":5})",
                           R"({"apps":{}})",
                           R"({"appz":[]})",
                           R"({"apps":[{"id":"/a"}],"apps":null})",
                           R"({"apps":null,"apps":[{"id":"/a"}]})",
                           R"({"apps":[{"id":5}]})",
                           R"({"apps":[{"cmd":"x"}]})",
                           R"({"apps":[7]})",
                           R"({"apps":[[1]]})",
                           R"({"apps":[{"id":""}]})",
                           R"({"apps":[{"id":"/a"},{"id":3}]})",
                           R"({"apps":[{"id":3},{"id":"/a"}]})",
                           R"({"apps":[{"id":"/a"}]} x)",
                           R"({"apps":[{"id":"/a","tasks":[{"id":"t"}]})",
                           R"({"apps":[{"id":"/a",}]})",
                           R"({"apps":[{"id":3}],"apps":[{"id":"/b"}]})",
                           R"({"apps":[{"id":"/a"}]})",
                           R"({"apps":[{"app":{"id":"/w"}}]})"}) {
    ExpectSame(body);
  }
  // A filtered-out app is not checked beyond its id.
  ExpectSame(R"({"apps":[{"id":""},{"id":"/keep"}]})",
             [](const std::string& id) { return id == "/keep"; });
}

}  // namespace
}  // namespace galley::clients::internal
