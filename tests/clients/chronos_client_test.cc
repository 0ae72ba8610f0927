// SPDX-License-Identifier: Apache-2.0
// The Chronos client: the reference samples parse and round-trip (render → create → read
// back → equal), against the in-process Chronos emulator on loopback behind FaultInjector;
// error mapping, GET-only retries (fake clock), the 2.x prefix, the fake client.
#include "clients/chronos_client.h"

#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/file_io.h"
#include "clients/chronos_fake.h"
#include "net/http_server.h"
#include "render/chronos_job.h"
#include "sandbox/chronos/chronos_emulator.h"
#include "sandbox/chronos/job_runner.h"
#include "sandbox/common/faults.h"
#include "spec/loader.h"
#include "support/fake_clock.h"
#include "support/temp_repo.h"

namespace galley::clients {
namespace {

using Json = nlohmann::json;
using std::chrono::milliseconds;

Json Sample(const std::string& name) {
  auto text = ReadFileBounded(
      galley::testing::SourceRoot() + "/tests/sandbox/chronos/samples/" + name, 1 << 20);
  EXPECT_TRUE(text.ok()) << name;
  return text.ok() ? Json::parse(*text) : Json();
}

TEST(ChronosSamples, ParseAndKeepEveryField) {
  auto s = ParseChronosJob(Sample("scheduled-job-get-v3.json"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->name, "production-test-server-report");
  EXPECT_FALSE(s->dependent);
  EXPECT_EQ(s->schedule, "R/2017-03-02T03:00:00.000+01:00/P1D");
  EXPECT_EQ(s->schedule_time_zone, "Europe/Berlin");
  EXPECT_EQ(s->description, "managed-by: galley");
  EXPECT_EQ(s->body, Sample("scheduled-job-get-v3.json"));
  auto after = ParseChronosJob(Sample("scheduled-job-get-v3-after-run.json"));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->success_count, 1);
  EXPECT_FALSE(after->last_success.empty());
  auto d = ParseChronosJob(Sample("dependent-job-get-v3.json"));
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->dependent);
  EXPECT_EQ(d->parents, std::vector<std::string>{"production-test-server-report"});
  auto v25 = ParseChronosJob(Sample("scheduled-job-get-v2.5.json"));
  EXPECT_TRUE(v25.ok());
  // Update bodies drop what the server maintains.
  Json body = ChronosRequestBody(Sample("scheduled-job-get-v3-after-run.json"));
  EXPECT_FALSE(body.contains("successCount"));
  EXPECT_FALSE(body.contains("lastSuccess"));
  EXPECT_TRUE(body.contains("schedule"));
  EXPECT_FALSE(ParseChronosJob(Json::array()).ok());
  EXPECT_FALSE(ParseChronosJob(Json{{"name", 3}}).ok());
  EXPECT_FALSE(ParseChronosJob(Json{{"name", "x"}, {"parents", "a"}}).ok());
}

class ChronosClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sandbox::chronos::ChronosOptions o;
    o.tick = milliseconds(10);
    o.core.failure_retry_ms = 50;
    emulator_ = sandbox::chronos::NewChronosEmulator(
        o, sandbox::chronos::NewSimulatedJobRunner({milliseconds(5), milliseconds(30)}));
    auto s = net::HttpServer::Start(net::HttpServerOptions{}, [this](const net::HttpRequest& r) {
      return faults_.Handle(r, [this](const net::HttpRequest& q) { return emulator_->Handle(q); });
    });
    ASSERT_TRUE(s.ok());
    server_ = std::move(s).value();
    url_ = "http://127.0.0.1:" + std::to_string(server_->port());
    ChronosClientOptions co;
    co.clock = &clock_;
    client_ = NewChronosClient({url_, "", "", "test"}, http_.get(), co);
  }
  void TearDown() override {
    faults_.Stop();
    emulator_->Stop();
    server_->Stop();
  }
  void Faults(const std::string& plan) {
    net::ClientRequest r;
    r.method = "PUT";
    r.url = url_ + "/_sandbox/faults";
    r.body = plan;
    auto resp = http_->Send(r);
    ASSERT_TRUE(resp.ok());
    ASSERT_EQ(resp->status, 200) << resp->body;
  }
  bool WaitFor(const std::function<bool()>& pred) {
    for (int i = 0; i < 500; ++i) {
      if (pred()) return true;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return pred();
  }

  galley::testing::FakeClock clock_;
  sandbox::FaultInjector faults_{""};
  std::unique_ptr<sandbox::chronos::ChronosEmulator> emulator_;
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<net::HttpClient> http_ = net::NewHttpClient();
  std::unique_ptr<ChronosClient> client_;
  std::string url_;
};

TEST_F(ChronosClientTest, RoundTripsTheReferenceJobsInOneListRequest) {
  Json sched = Sample("scheduled-job-request.json");
  Json want = Sample("scheduled-job-get-v3.json");
  sched["schedule"] = want["schedule"] = "R/2099-03-02T03:00:00.000+01:00/P1D";
  ASSERT_TRUE(client_->PutJob(sched).ok());
  ASSERT_TRUE(client_->PutJob(Sample("dependent-job-request.json")).ok());
  int before = client_->requests();
  auto jobs = client_->ListJobs();
  ASSERT_TRUE(jobs.ok()) << jobs.status().message();
  EXPECT_EQ(client_->requests(), before + 1);
  ASSERT_EQ(jobs->size(), 2u);
  EXPECT_EQ((*jobs)[0].name, "production-test-server-report");  // sorted
  EXPECT_EQ((*jobs)[0].body, want);
  EXPECT_EQ((*jobs)[1].body, Sample("dependent-job-get-v3.json"));
  // Re-posting what was read (without stats) changes nothing.
  ASSERT_TRUE(client_->PutJob(ChronosRequestBody((*jobs)[0].body)).ok());
  auto again = client_->GetJob("production-test-server-report");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->body, want);
}

// The reference example's jobs: render → create (parents first) → read back: every key galley
// sends comes back unchanged, except a schedule whose start has passed (Chronos runs it at once
// and moves the start on: only its period is kept, §3.1 item 7).
TEST_F(ChronosClientTest, RenderedJobsRoundTrip) {
  spec::LoadResult r = spec::LoadRepository(galley::testing::SourceRoot() + "/examples/reference");
  ASSERT_FALSE(r.diags.HasErrors()) << r.diags.RenderAll();
  std::map<std::string, Json> sent;
  for (int pass = 0; pass < 2; ++pass) {  // scheduled jobs, then dependants
    for (const auto& s : r.state.services) {
      for (const auto& job : s.jobs) {
        for (const auto& env : s.environments) {
          if (!job.environments.count(env.name)) continue;
          Json body = Json::parse(render::RenderChronosJob(r.state.platform, s, env, job).dump());
          if (body.contains("parents") != (pass == 1)) continue;
          ASSERT_TRUE(client_->PutJob(body).ok()) << body.dump();
          sent[body["name"]] = body;
        }
      }
    }
  }
  ASSERT_GE(sent.size(), 4u);
  auto jobs = client_->ListJobs();
  ASSERT_TRUE(jobs.ok()) << jobs.status().message();
  ASSERT_EQ(jobs->size(), sent.size());
  for (const auto& live : *jobs) {
    const Json& want = sent.at(live.name);
    for (const auto& [k, v] : want.items()) {
      if (k == "schedule") {
        std::string w = v, got = live.body[k];
        EXPECT_EQ(got.substr(got.rfind('/')), w.substr(w.rfind('/'))) << live.name;
        if (w == render::kHookSchedule) {
          EXPECT_EQ(got, w) << live.name;  // never due: untouched
        }
      } else if (k == "container") {
        for (const auto& [ck, cv] : v.items())
          EXPECT_EQ(live.body[k][ck], cv) << live.name << " " << ck;
      } else if (k == "epsilon") {
        EXPECT_FALSE(live.body.contains(k));  // 3.x drops it
      } else {
        EXPECT_EQ(live.body[k], v) << live.name << " " << k;
      }
    }
    EXPECT_EQ(live.description, render::ChronosJobMarker("reference"));
  }
}

TEST_F(ChronosClientTest, StartAndStats) {
  ASSERT_TRUE(client_
                  ->PutJob({{"name", "prod-svc-migrate"},
                            {"command", "migrate"},
                            {"retries", 0},
                            {"schedule", "R/2099-01-01T00:00:00Z/P1D"}})
                  .ok());
  ASSERT_TRUE(client_->StartJob("prod-svc-migrate").ok());
  ASSERT_TRUE(WaitFor([&] {
    auto s = client_->GetJobStats("prod-svc-migrate");
    return s.ok() && s->success_count == 1;
  }));
  auto s = client_->GetJobStats("prod-svc-migrate");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->LastOutcome(), "success");
  EXPECT_EQ(s->runs_measured, 1);
  EXPECT_GT(s->median_ms, 0);
  ASSERT_TRUE(client_
                  ->PutJob({{"name", "prod-svc-bad"},
                            {"command", "false"},
                            {"retries", 0},
                            {"schedule", "R/2099-01-01T00:00:00Z/P1D"}})
                  .ok());
  ASSERT_TRUE(client_->StartJob("prod-svc-bad", "--dry-run").ok());
  ASSERT_TRUE(WaitFor([&] {
    auto b = client_->GetJobStats("prod-svc-bad");
    return b.ok() && b->error_count == 1;
  }));
  EXPECT_EQ(client_->GetJobStats("prod-svc-bad")->LastOutcome(), "failure");
}

TEST_F(ChronosClientTest, ErrorsAreMappedWithChronosOwnWords) {
  auto missing = client_->GetJob("nope");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(),
            "chronos " + url_ + ": GET /v1/scheduler/job/nope: job 'nope' does not exist");
  EXPECT_EQ(client_->DeleteJob("nope").code(), StatusCode::kNotFound);
  EXPECT_EQ(client_->StartJob("nope").code(), StatusCode::kNotFound);
  Status bad = client_->PutJob({{"name", "x"}, {"schedule", "R/2017-13-01T00:00:00Z/P1D"}});
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.message(), "chronos " + url_ +
                               ": POST /v1/scheduler/iso8601: 400 Bad Request: Cannot parse "
                               "schedule 'R/2017-13-01T00:00:00Z/P1D' (wtf bro)");
  Status name = client_->PutJob({{"name", "bad name"}, {"schedule", "R//P1D"}});
  EXPECT_NE(name.message().find(": the job's name is invalid"), std::string::npos)
      << name.message();
  Status parents = client_->PutJob({{"name", "d"}, {"parents", Json::array()}});
  EXPECT_EQ(parents.code(), StatusCode::kUnavailable);
  EXPECT_NE(parents.message().find("500 Internal Server Error: Error, parent does not exist"),
            std::string::npos)
      << parents.message();
  EXPECT_EQ(client_->PutJob({{"name", "x"}, {"schedule", "R//P1D"}, {"parents", {"a"}}}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->PutJob({{"name", "x"}}).code(), StatusCode::kInvalidArgument);
  // A 2.x server (or a wrong URL) answers 404 on the 3.x paths.
  auto wrong = NewChronosClient({url_ + "/elsewhere", "", "", "test"}, http_.get());
  auto r = wrong->ListJobs();
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("not a Chronos 3.x API"), std::string::npos);
}

TEST_F(ChronosClientTest, OnlyGetsAreRetried) {
  Faults(R"({"fail_next":2,"fail_status":503})");
  int before = client_->requests();
  auto jobs = client_->ListJobs();
  ASSERT_TRUE(jobs.ok()) << jobs.status().message();
  EXPECT_EQ(client_->requests(), before + 3);
  EXPECT_GE(clock_.max_ms(), 600);  // 200 + 400 ms between attempts, on the fake clock
  Faults(R"({"fail_next":3,"fail_status":503})");
  auto down = client_->ListJobs();
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(down.status().message().find("after 3 attempts"), std::string::npos);
  Faults(R"({"fail_next":1,"fail_status":503})");
  before = client_->requests();
  Status put = client_->PutJob({{"name", "once"}, {"schedule", "R/2099-01-01T00:00:00Z/P1D"}});
  EXPECT_EQ(put.code(), StatusCode::kUnavailable);
  EXPECT_EQ(client_->requests(), before + 1);
  Faults(R"({"garbage_next":3})");
  auto garbage = client_->ListJobs();
  EXPECT_EQ(garbage.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(garbage.status().message().find("invalid JSON"), std::string::npos)
      << garbage.status().message();
}

TEST(FakeChronosClient, RecordsAndAppliesOutcomes) {
  FakeChronosClient fake;
  fake.auto_outcome = FakeChronosClient::Outcome::kFailure;
  ASSERT_TRUE(fake.PutJob({{"name", "a"}, {"schedule", "R//P1D"}}).ok());
  EXPECT_FALSE(fake.PutJob({{"name", "b"}}).ok());
  ASSERT_TRUE(fake.StartJob("a", "").ok());
  EXPECT_EQ(fake.GetJobStats("a")->LastOutcome(), "failure");
  fake.FailNext(Status::Unavailable("down"));
  EXPECT_FALSE(fake.ListJobs().ok());
  EXPECT_TRUE(fake.ListJobs().ok());
  ASSERT_TRUE(fake.DeleteJob("a").ok());
  EXPECT_EQ(fake.DeleteJob("a").code(), StatusCode::kNotFound);
  EXPECT_EQ(fake.starts(), std::vector<std::string>{"a"});
}

}  // namespace
}  // namespace galley::clients
