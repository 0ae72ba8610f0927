// SPDX-License-Identifier: Apache-2.0
// `galley plan` end to end against the Marathon and Consul emulators on loopback: a fresh
// platform plans creates; once the rendered apps and keys are live, nothing diffs; a hand
// scale is drift; unmanaged apps are listed; a constant number of requests; failures name
// the endpoint, exit 1 and leave the store consistent.
#include <chrono>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <stdlib.h>

#include "base/subprocess.h"
#include "cli/commands.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "sandbox/common/faults.h"
#include "sandbox/consul/consul_emulator.h"
#include "sandbox/marathon/marathon_emulator.h"
#include "store/state_store.h"
#include "support/emulated.h"
#include "support/temp_repo.h"
#include "support/wait.h"

namespace galley {
namespace {

using json = nlohmann::json;

using galley::testing::EmulatorServer;

class PlanE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("PROD_DATABASE_URL", "postgres://prod-db/app", 1);
    ::unsetenv("GALLEY_HMAC_KEY");
    ::unsetenv("GALLEY_MARATHON_URL");
    ::unsetenv("GALLEY_CONSUL_URL");
    ::unsetenv("CONSUL_HTTP_ADDR");
    sandbox::marathon::MarathonOptions mo;
    marathon_ = std::make_unique<EmulatorServer>(sandbox::marathon::NewMarathonEmulator(
        mo, sandbox::marathon::NewSimulatedRunner({std::chrono::milliseconds(5),
                                                   std::chrono::milliseconds(10),
                                                   std::chrono::milliseconds(5)})));
    consul_ = std::make_unique<EmulatorServer>(sandbox::consul::NewConsulEmulator({}));
  }
  void TearDown() override {
    marathon_.reset();
    consul_.reset();
    auto store = store::OpenSqliteStore(state_.Path("state.db"));
    ASSERT_TRUE(store.ok());
    EXPECT_EQ((*store)->IntegrityCheck().value(), "ok");
  }

  struct Out {
    int code;
    std::string out, err;
  };
  Out Plan(std::vector<std::string> extra = {}, const std::string& dir = "") {
    cli::Args args = {dir.empty() ? galley::testing::SourceRoot() + "/examples/reference" : dir,
                      "--marathon",
                      marathon_->base(),
                      "--consul",
                      consul_->base(),
                      "--state",
                      state_.Path("state.db"),
                      "--detailed-exitcode"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::ostringstream out, err;
    int code = cli::RunPlan(args, out, err);
    return {code, out.str(), err.str()};
  }
  json PlanJson() {
    Out o = Plan({"--json"});
    EXPECT_NE(o.code, cli::kExitError) << o.err;
    return json::parse(o.out);
  }
  net::ClientResponse Call(const std::string& method, const std::string& url,
                           const std::string& body = "") {
    net::ClientRequest req{method, url};
    req.body = body;
    auto r = http_->Send(req);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : net::ClientResponse{};
  }
  // What `apply` will do, done by hand: send every action's desired body.
  void ApplyByHand(const json& plan) {
    for (const auto& a : plan["actions"]) {
      std::string kind = a["kind"];
      if (kind == "kv-put" || kind == "haproxy-model-create") {  // a model: its document
        std::string value = a["desired"].contains("value")
                                ? a["desired"]["value"].get<std::string>()
                                : std::string(::getenv("PROD_DATABASE_URL"));
        EXPECT_EQ(
            Call("PUT", consul_->base() + "/v1/kv/" + a["target"].get<std::string>(), value).status,
            200);
      } else if (kind == "app-create") {
        EXPECT_EQ(Call("POST", marathon_->base() + "/v2/apps", a["desired"].dump()).status, 201);
      } else {
        EXPECT_EQ(Call("PUT",
                       marathon_->base() + "/v2/apps" + a["target"].get<std::string>() +
                           "?partialUpdate=false",
                       a["desired"].dump())
                      .status,
                  200);
      }
    }
    // Wait for the deployments to finish.
    EXPECT_TRUE(galley::testing::Eventually([&] {
      return json::parse(Call("GET", marathon_->base() + "/v2/deployments").body).empty();
    })) << "deployments did not finish";
  }

  std::unique_ptr<EmulatorServer> marathon_, consul_;
  galley::testing::TempRepo state_;
  std::unique_ptr<net::HttpClient> http_ = net::NewHttpClient();
};

// Issue #10: a repository warning (here: the kill grace) printed on every command, `lock
// status` included. It is for the commands that act on the desired state: once per plan,
// never for drift or lock.
TEST_F(PlanE2eTest, RepositoryWarningsOncePerPlanNotForDriftOrLock) {
  galley::testing::TempRepo repo;
  std::string platform = galley::testing::kMinimalPlatform;
  platform.replace(platform.find("mesos: {docker_stop_timeout: 30s}\n"), 34, "");
  repo.Write("galley.yaml", platform);
  repo.Write("services/web.yaml", galley::testing::kMinimalService);
  auto count = [](const std::string& s) {
    size_t n = 0;
    for (size_t p = s.find("kill grace"); p != std::string::npos; p = s.find("kill grace", p + 1))
      ++n;
    return n;
  };
  Out plan = Plan({}, repo.dir());
  EXPECT_NE(plan.code, cli::kExitError) << plan.err;
  EXPECT_EQ(count(plan.err), 1u) << plan.err;
  cli::Args endpoints = {"--marathon",    marathon_->base(), "--consul",
                         consul_->base(), "--state",         state_.Path("state.db")};
  std::ostringstream out, err;
  cli::Args drift = {repo.dir()};
  drift.insert(drift.end(), endpoints.begin(), endpoints.end());
  EXPECT_EQ(cli::RunDrift(drift, out, err), cli::kExitOk) << err.str();
  cli::Args lock = {"status", repo.dir()};
  lock.insert(lock.end(), endpoints.begin(), endpoints.end());
  EXPECT_EQ(cli::RunLock(lock, out, err), cli::kExitOk) << err.str();
  EXPECT_EQ(count(err.str()), 0u) << err.str();
}

TEST_F(PlanE2eTest, FreshPlatformPlansCreatesAndPutsThenNothingOnceLive) {
  Out first = Plan();
  ASSERT_EQ(first.code, cli::kExitChanges) << first.err << first.out;
  EXPECT_NE(first.out.find("+ create marathon app /app/production/test-server   (new)"),
            std::string::npos)
      << first.out;
  EXPECT_NE(first.out.find("+ put consul key app/production/test-server/DATABASE_URL   (new)"),
            std::string::npos);
  EXPECT_EQ(first.out.find("postgres://"), std::string::npos)
      << "a secret leaked into the plan output";
  EXPECT_NE(
      first.out.find(
          "Plan: 8 to create, 0 to update, 0 to restart, 0 to scale, 0 to delete; KV: 12 to put"),
      std::string::npos)
      << first.out;

  json plan = PlanJson();
  ApplyByHand(plan);
  Out second = Plan();
  EXPECT_EQ(second.code, cli::kExitOk) << second.out << second.err;
  EXPECT_NE(second.out.find("No changes."), std::string::npos) << second.out;
}

TEST_F(PlanE2eTest, RequestCountDoesNotGrowWithServices) {
  json plan = PlanJson();
  // 1 app list + 2 environment KV prefixes + the applied-records prefix + the LB models'
  // prefix + the agents' reports prefix + 2 exact keys.
  EXPECT_EQ(plan["observed"]["requests"], 8);
  ApplyByHand(plan);
  EXPECT_EQ(PlanJson()["observed"]["requests"], 8);
}

TEST_F(PlanE2eTest, HandScaleIsPendingWithoutAnAppliedRecordAndKvEditShows) {
  ApplyByHand(PlanJson());
  Call("PUT", marathon_->base() + "/v2/apps/app/production/test-server", R"({"instances": 7})");
  Call("PUT", consul_->base() + "/v1/kv/app/staging/test-server/LOG_LEVEL", "trace");
  json plan = PlanJson();
  ASSERT_EQ(plan["actions"].size(), 2u) << plan.dump(2);
  EXPECT_EQ(plan["actions"][0]["kind"], "kv-put");
  EXPECT_EQ(plan["actions"][0]["changes"][0]["before"], "trace");
  EXPECT_EQ(plan["actions"][0]["changes"][0]["after"], "debug");
  EXPECT_EQ(plan["actions"][1]["kind"], "app-scale");
  EXPECT_EQ(plan["actions"][1]["reason"], "desired-changed");  // galley never applied it: pending
  EXPECT_EQ(plan["actions"][1]["changes"][0]["before"], 7);
}

TEST_F(PlanE2eTest, UnmanagedAppsAreListedNeverPlanned) {
  Call("POST", marathon_->base() + "/v2/apps",
       R"({"id": "/app/production/legacy", "cmd": "sleep 1", "instances": 1})");
  Call("POST", marathon_->base() + "/v2/apps", R"({"id": "/elsewhere/thing", "cmd": "sleep 1"})");
  json plan = PlanJson();
  ASSERT_EQ(plan["unmanaged"].size(), 1u);
  EXPECT_EQ(plan["unmanaged"][0]["target"], "/app/production/legacy");
  for (const auto& a : plan["actions"]) EXPECT_NE(a["target"], "/app/production/legacy");
}

TEST_F(PlanE2eTest, TargetEnvAndOutFile) {
  Out o = Plan({"--env", "staging", "--target", "test-server", "--out", state_.Path("plan.json")});
  ASSERT_EQ(o.code, cli::kExitChanges) << o.err;
  json saved = json::parse(galley::testing::ReadText(state_.Path("plan.json")));
  for (const auto& a : saved["actions"]) {
    EXPECT_EQ(a["environment"], "staging");
    EXPECT_EQ(a["service"], "test-server");
  }
  EXPECT_NE(o.out.find("Saved the plan to"), std::string::npos);
  EXPECT_EQ(Plan({"--env", "prod"}).code, cli::kExitError);
  EXPECT_EQ(Plan({"--target", "nope"}).code, cli::kExitError);
}

TEST_F(PlanE2eTest, MarkdownForPullRequests) {
  Out o = Plan({"--markdown"});
  EXPECT_EQ(o.code, cli::kExitChanges);
  EXPECT_NE(o.out.find("### galley plan: `reference`"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("| `+` | create | `/app/production/test-server` | new |"), std::string::npos)
      << o.out;
}

TEST_F(PlanE2eTest, FailuresNameTheEndpointAndExitOne) {
  marathon_->Faults(json::parse(R"({"fail_next": 50, "fail_status": 503})"));
  Out o = Plan();
  EXPECT_EQ(o.code, cli::kExitError);
  EXPECT_NE(o.err.find(marathon_->base()), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("503"), std::string::npos) << o.err;
  marathon_->Faults(json::object());

  consul_->Faults(json::parse(R"({"garbage_next": 50})"));
  o = Plan();
  EXPECT_EQ(o.code, cli::kExitError);
  EXPECT_NE(o.err.find(consul_->base()), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("invalid JSON"), std::string::npos) << o.err;
  consul_->Faults(json::object());

  marathon_->Faults(json::parse(R"({"truncate_next": 50})"));
  o = Plan();
  EXPECT_EQ(o.code, cli::kExitError);
  EXPECT_NE(o.err.find("invalid JSON"), std::string::npos) << o.err;
  marathon_->Faults(json::object());

  std::string dead = "http://127.0.0.1:1";
  std::ostringstream out, err;
  int code = cli::RunPlan({galley::testing::SourceRoot() + "/examples/reference", "--marathon",
                           dead, "--consul", consul_->base(), "--state", state_.Path("state.db")},
                          out, err);
  EXPECT_EQ(code, cli::kExitError);
  EXPECT_NE(err.str().find("127.0.0.1:1"), std::string::npos) << err.str();

  auto store = store::OpenSqliteStore(state_.Path("state.db"));
  ASSERT_TRUE(store.ok());
  auto runs = (*store)->RecentRuns(10);
  ASSERT_TRUE(runs.ok());
  ASSERT_GE(runs->size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ((*runs)[i].outcome, "failed") << (*runs)[i].summary;
}

TEST_F(PlanE2eTest, RecordsTheCommitAndPlansACommittedRevisionWithoutTouchingTheTree) {
  galley::testing::TempRepo repo;
  std::string src = galley::testing::SourceRoot() + "/examples/reference";
  for (const char* f : {"galley.yaml", "services/test-server.yaml", "services/api-gateway.yaml",
                        "services/session-cache.yaml"}) {
    repo.Write(std::string("platform/") + f, galley::testing::ReadText(src + "/" + f));
  }
  auto git = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {
        "git", "-C", repo.dir(), "-c", "user.email=t@example.com", "-c", "user.name=t"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunCommand(argv);
    EXPECT_TRUE(r.ok() && r->exit_code == 0) << (r.ok() ? r->err : r.status().message());
    return r.ok() ? r->out : "";
  };
  git({"init", "-q"});
  git({"add", "-A"});
  git({"commit", "-q", "-m", "reference"});
  std::string head = git({"rev-parse", "HEAD"});
  head = head.substr(0, head.find('\n'));
  std::string dir = repo.Path("platform");
  // The working tree moves on (uncommitted): 4 → 9 instances in production.
  std::string ts = galley::testing::ReadText(dir + "/services/test-server.yaml");
  ts.replace(ts.find("instances: 4"), 12, "instances: 9");
  repo.Write("platform/services/test-server.yaml", ts);

  Out worktree = Plan({"--json"}, dir);
  json wt = json::parse(worktree.out);
  EXPECT_EQ(wt["commit"], head + "-dirty");
  // A plan of a dirty work tree says so (issue #10), in its text, Markdown and JSON.
  EXPECT_EQ(wt["dirty"], true);
  EXPECT_EQ(wt["tree"], "");
  Out text = Plan({"--no-color"}, dir);
  EXPECT_NE(text.out.find("warning: planned from a work tree with uncommitted changes: this plan "
                          "is not of commit " +
                          head.substr(0, 12)),
            std::string::npos)
      << text.out;
  EXPECT_NE(Plan({"--markdown"}, dir)
                .out.find("> :warning: planned from a work tree with uncommitted changes"),
            std::string::npos);
  Out committed = Plan({"--json", "--rev", "HEAD"}, dir);
  ASSERT_EQ(committed.code, cli::kExitChanges) << committed.err;
  json rev = json::parse(committed.out);
  EXPECT_EQ(rev["commit"], head);
  EXPECT_EQ(rev["dirty"], false);
  std::string tree = git({"rev-parse", "HEAD:platform"});
  EXPECT_EQ(rev["tree"], tree.substr(0, tree.find('\n')));
  EXPECT_EQ(Plan({"--rev", "HEAD", "--no-color"}, dir).out.find("uncommitted"), std::string::npos);
  auto instances_of = [](const json& plan) {
    for (const auto& a : plan["actions"]) {
      if (a["target"] == "/app/production/test-server") return a["desired"]["instances"].get<int>();
    }
    return -1;
  };
  EXPECT_EQ(instances_of(wt), 9);
  EXPECT_EQ(instances_of(rev), 4);
  EXPECT_EQ(galley::testing::ReadText(dir + "/services/test-server.yaml"), ts);  // untouched
  EXPECT_EQ(Plan({"--rev", "no-such-rev"}, dir).code, cli::kExitError);
}

TEST_F(PlanE2eTest, TheSamePlanTwiceIsFine) {
  ::setenv("GALLEY_HMAC_KEY", "fixed", 1);
  EXPECT_EQ(Plan().code, cli::kExitChanges);
  Out again = Plan();
  ::unsetenv("GALLEY_HMAC_KEY");
  EXPECT_EQ(again.code, cli::kExitChanges) << again.err;
}

TEST_F(PlanE2eTest, InvalidRepositoryPlansNothing) {
  galley::testing::TempRepo repo;
  repo.Write("galley.yaml", "apiVersion: galley/v1\n");
  Out o = Plan({}, repo.dir());
  EXPECT_EQ(o.code, cli::kExitError);
  EXPECT_NE(o.err.find("is not valid; nothing done"), std::string::npos);
}

}  // namespace
}  // namespace galley
