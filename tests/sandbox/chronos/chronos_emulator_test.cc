// SPDX-License-Identifier: Apache-2.0
// The Chronos emulator in-process behind FaultInjector and net::HttpServer on a loopback
// port, driven over HTTP with net::HttpClient, jobs on the simulated job runner with short
// delays: the reference samples round-trip, runs, retries, dependants, stats, errors, faults.
#include "sandbox/chronos/chronos_emulator.h"

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/file_io.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "sandbox/chronos/job_runner.h"
#include "sandbox/common/faults.h"
#include "support/temp_repo.h"

namespace galley::sandbox::chronos {
namespace {

using Json = nlohmann::json;
using std::chrono::milliseconds;

struct Reply {
  int status = 0;
  std::string body, content_type;
  Json json;
};

// Copies of shared/reference/chronos/ (see samples/README.md).
std::string SamplesDir() {
  return galley::testing::SourceRoot() + "/tests/sandbox/chronos/samples/";
}
Json Sample(const std::string& name) {
  auto text = ReadFileBounded(SamplesDir() + name, 1 << 20);
  EXPECT_TRUE(text.ok()) << name;
  return text.ok() ? Json::parse(*text) : Json();
}

class ChronosTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ChronosOptions o;
    o.core.failure_retry_ms = 100;
    o.tick = milliseconds(10);
    emulator_ = NewChronosEmulator(o, NewSimulatedJobRunner({milliseconds(5), milliseconds(40)}));
    auto s = net::HttpServer::Start(net::HttpServerOptions{}, [this](const net::HttpRequest& r) {
      return faults_.Handle(r, [this](const net::HttpRequest& q) { return emulator_->Handle(q); });
    });
    ASSERT_TRUE(s.ok()) << s.status().message();
    server_ = std::move(s).value();
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }
  void TearDown() override {
    faults_.Stop();
    if (emulator_) emulator_->Stop();
    if (server_) server_->Stop();
  }
  Reply Call(const std::string& method, const std::string& path, const std::string& body = "") {
    net::ClientRequest req;
    req.method = method;
    req.url = base_ + path;
    req.body = body;
    if (!body.empty()) req.headers["Content-Type"] = "application/json";
    auto r = client_->Send(req);
    EXPECT_TRUE(r.ok()) << r.status().message();
    Reply out;
    if (!r.ok()) return out;
    out.status = r->status;
    out.body = r->body;
    auto it = r->headers.find("Content-Type");
    if (it != r->headers.end()) out.content_type = it->second;
    out.json = Json::parse(out.body, nullptr, false);
    return out;
  }
  Reply Post(const std::string& path, const Json& body) {
    return Call("POST", "/v1/scheduler" + path, body.dump());
  }
  Json GetJob(const std::string& name) { return Call("GET", "/v1/scheduler/job/" + name).json; }
  bool WaitFor(const std::function<bool()>& pred, milliseconds timeout = milliseconds(5000)) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      if (pred()) return true;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return pred();
  }

  FaultInjector faults_{""};
  std::unique_ptr<ChronosEmulator> emulator_;
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<net::HttpClient> client_ = net::NewHttpClient();
  std::string base_;
};

TEST_F(ChronosTest, ReferenceSamplesRoundTrip) {
  // A start in the future so no run rewrites the schedule before the read.
  Json req = Sample("scheduled-job-request.json");
  Json want = Sample("scheduled-job-get-v3.json");
  req["schedule"] = want["schedule"] = "R/2099-03-02T03:00:00.000+01:00/P1D";
  auto r = Post("/iso8601", req);
  ASSERT_EQ(r.status, 204) << r.body;
  EXPECT_TRUE(r.body.empty());
  Reply got = Call("GET", "/v1/scheduler/job/" + req["name"].get<std::string>());
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.json, want);
  // Key order as the serializer writes it.
  nlohmann::ordered_json ordered = nlohmann::ordered_json::parse(want.dump());
  auto text = ReadFileBounded(SamplesDir() + "scheduled-job-get-v3.json", 1 << 20);
  ASSERT_TRUE(text.ok());
  ordered = nlohmann::ordered_json::parse(*text);
  ordered["schedule"] = want["schedule"];
  EXPECT_EQ(got.body, ordered.dump());
  Json dep_req = Sample("dependent-job-request.json");
  ASSERT_EQ(Post("/dependency", dep_req).status, 204);
  EXPECT_EQ(GetJob(dep_req["name"]), Sample("dependent-job-get-v3.json"));
  Reply list = Call("GET", "/v1/scheduler/jobs");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.json.size(), 2u);
  // Re-posting the same body changes nothing (update = full replace).
  ASSERT_EQ(Post("/iso8601", req).status, 204);
  EXPECT_EQ(GetJob(req["name"]), want);
}

TEST_F(ChronosTest, ScheduledRunSucceedsAndTriggersTheDependant) {
  ASSERT_EQ(Post("/iso8601", {{"name", "p"}, {"command", "true"}, {"schedule", "R1//PT1H"}}).status,
            204);
  ASSERT_EQ(Post("/dependency", {{"name", "c"}, {"command", "true"}, {"parents", {"p"}}}).status,
            204);
  ASSERT_TRUE(WaitFor([&] { return GetJob("c")["successCount"] == 1; }));
  Json p = GetJob("p");
  EXPECT_EQ(p["successCount"], 1);
  EXPECT_TRUE(p["disabled"].get<bool>());  // R1 → R0 after its run
  EXPECT_EQ(p["schedule"].get<std::string>().substr(0, 4), "R0/2");
  EXPECT_FALSE(p["lastSuccess"].get<std::string>().empty());
  Reply stat = Call("GET", "/v1/scheduler/job/stat/p");
  ASSERT_EQ(stat.status, 200);
  EXPECT_EQ(stat.json["histogram"]["count"], 1);
  EXPECT_GE(stat.json["histogram"]["median"].get<double>(), 30.0);
  Reply summary = Call("GET", "/v1/scheduler/jobs/summary");
  ASSERT_EQ(summary.status, 200);
  ASSERT_EQ(summary.json["jobs"].size(), 2u);
  for (const auto& j : summary.json["jobs"]) {
    EXPECT_EQ(j["status"], "success");
    EXPECT_EQ(j["state"], "idle");
  }
  Reply csv = Call("GET", "/v1/scheduler/graph/csv");
  EXPECT_NE(csv.body.find("link,p,c\n"), std::string::npos);
}

TEST_F(ChronosTest, FailingRunIsRetriedThenCounted) {
  Json job = {{"name", "migrate"},
              {"command", "node migrate.js"},
              {"retries", 1},
              {"schedule", "R/2099-01-01T00:00:00Z/P1D"},
              {"environmentVariables", {{{"name", "GALLEY_SANDBOX_JOB_FAIL"}, {"value", "1"}}}}};
  ASSERT_EQ(Post("/iso8601", job).status, 204);
  ASSERT_EQ(Call("PUT", "/v1/scheduler/job/migrate").status, 204);
  ASSERT_TRUE(WaitFor([&] { return GetJob("migrate")["errorCount"] == 1; }));
  Json j = GetJob("migrate");
  EXPECT_EQ(j["successCount"], 0);
  EXPECT_EQ(j["errorsSinceLastSuccess"], 1);
  EXPECT_FALSE(j["lastError"].get<std::string>().empty());
  // Manual start of a future-start job advances nothing but R (it stays R, start unchanged).
  EXPECT_EQ(j["schedule"], "R/2099-01-01T00:00:00.000Z/P1D");
}

TEST_F(ChronosTest, StatusCodesAndErrorShapes) {
  Reply nf = Call("GET", "/v1/scheduler/job/nope");
  EXPECT_EQ(nf.status, 400);
  EXPECT_EQ(nf.json["status"], "Bad Request");
  EXPECT_EQ(nf.json["message"].get<std::string>().rfind(
                "java.lang.IllegalArgumentException: requirement failed: Job 'nope' not found", 0),
            0u);
  Reply del = Call("DELETE", "/v1/scheduler/job/nope");
  EXPECT_EQ(del.status, 400);
  EXPECT_NE(del.body.find("JobSchedule 'nope' not found"), std::string::npos);
  EXPECT_EQ(Call("PUT", "/v1/scheduler/job/nope").status, 400);
  EXPECT_EQ(Call("PUT", "/v1/scheduler/iso8601", R"({"name":"a"})").status, 405);
  EXPECT_EQ(Call("GET", "/scheduler/jobs").status, 404);  // the 2.x prefix is not served
  Reply html = Post("/iso8601", {{"command", "x"}});      // no name: Jetty's 500 page
  EXPECT_EQ(html.status, 500);
  EXPECT_NE(html.content_type.find("text/html"), std::string::npos);
  Reply sched = Post("/iso8601", {{"name", "a"}, {"schedule", "R/2017-13-01T00:00:00Z/P1D"}});
  EXPECT_EQ(sched.status, 400);
  EXPECT_EQ(sched.json["message"], "Cannot parse schedule 'R/2017-13-01T00:00:00Z/P1D' (wtf bro)");
  Reply empty = Post("/dependency", {{"name", "d"}, {"parents", Json::array()}});
  EXPECT_EQ(empty.status, 500);
  EXPECT_EQ(empty.json["status"], "Internal Server Error");
  Reply success = Call("PUT", "/v1/scheduler/job/success/nope");
  EXPECT_EQ(success.status, 200);
  EXPECT_EQ(success.body, "marked job nope as successful: false");
  Reply search = Call("GET", "/v1/scheduler/jobs/search?name=zzz");
  EXPECT_EQ(search.status, 200);
  EXPECT_EQ(search.json, Json::array());
  EXPECT_EQ(Call("GET", "/ping").status, 200);
}

TEST_F(ChronosTest, DeletingAScheduledParentConvertsItsChild) {
  ASSERT_EQ(Post("/iso8601",
                 {{"name", "s"}, {"command", "x"}, {"schedule", "R/2099-01-01T00:00:00Z/P1D"}})
                .status,
            204);
  ASSERT_EQ(Post("/dependency", {{"name", "c"},
                                 {"command", "x"},
                                 {"description", "managed-by: galley"},
                                 {"parents", {"s"}}})
                .status,
            204);
  ASSERT_EQ(Call("DELETE", "/v1/scheduler/job/s").status, 204);
  Json c = GetJob("c");
  EXPECT_EQ(c["schedule"], "R/2099-01-01T00:00:00Z/P1D");
  EXPECT_FALSE(c.contains("parents"));
  EXPECT_EQ(c["description"], "");  // the marker is lost on this path (§6 item 9)
}

TEST_F(ChronosTest, SearchLimitsAndMatchesSubstrings) {
  for (int i = 0; i < 12; ++i) {
    ASSERT_EQ(Post("/iso8601", {{"name", "job-" + std::to_string(i)},
                                {"command", "echo"},
                                {"schedule", "R/2099-01-01T00:00:00Z/P1D"}})
                  .status,
              204);
  }
  EXPECT_EQ(Call("GET", "/v1/scheduler/jobs/search").json.size(), 10u);
  EXPECT_EQ(Call("GET", "/v1/scheduler/jobs/search?name=JOB-1").json.size(), 3u);  // 1, 10, 11
  EXPECT_EQ(Call("GET", "/v1/scheduler/jobs/search?limit=20&offset=5").json.size(), 7u);
  EXPECT_EQ(Call("GET", "/v1/scheduler/jobs").json.size(), 12u);
}

TEST_F(ChronosTest, FaultsAreInjectable) {
  net::ClientRequest plan;
  plan.method = "PUT";
  plan.url = base_ + "/_sandbox/faults";
  plan.body = R"({"fail_next":1,"fail_status":503})";
  auto r = client_->Send(plan);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(Call("GET", "/v1/scheduler/jobs").status, 503);
  EXPECT_EQ(Call("GET", "/v1/scheduler/jobs").status, 200);
}

TEST_F(ChronosTest, SnapshotRestoresJobs) {
  ASSERT_EQ(Post("/iso8601",
                 {{"name", "keep"}, {"command", "x"}, {"schedule", "R/2099-01-01T00:00:00Z/P1D"}})
                .status,
            204);
  Json snap = emulator_->Snapshot();
  ChronosOptions o;
  auto other = NewChronosEmulator(o, NewSimulatedJobRunner({}));
  ASSERT_TRUE(other->Restore(snap).ok());
  net::HttpRequest req;
  req.method = "GET";
  req.path = "/v1/scheduler/job/keep";
  auto resp = other->Handle(req);
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(Json::parse(resp.body), GetJob("keep"));
  other->Stop();
}

}  // namespace
}  // namespace galley::sandbox::chronos
