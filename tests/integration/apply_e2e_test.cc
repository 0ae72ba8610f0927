// SPDX-License-Identifier: Apache-2.0
// `galley apply` end to end, in-process, against the Marathon and Consul emulators on
// loopback: apply then plan is clean for every example; the first apply creates the
// platform's HMAC key and galley's applied records; a runner with an empty store still
// tells drift from pending; saved plans are refused when stale or applied twice; a held
// lock exits 3; Marathon failing midway gives a partial run that the next apply finishes;
// the deadline cancels a deployment and --rollback-on-failure puts the app back; dry runs
// and refusals change nothing; the safety rails.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <stdlib.h>

#include "base/subprocess.h"
#include "cli/commands.h"
#include "clients/consul_client.h"
#include "engine/apply_lock.h"
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
namespace fs = std::filesystem;

using galley::testing::EmulatorServer;

struct Out {
  int code;
  std::string out, err;
};

class ApplyE2eTest : public ::testing::Test {
 protected:
  void SetUp() override { StartEmulators(std::chrono::milliseconds(10)); }
  void StartEmulators(std::chrono::milliseconds health_delay) {
    ::setenv("PROD_DATABASE_URL", "postgres://prod-db/app", 1);
    ::unsetenv("GALLEY_HMAC_KEY");
    ::unsetenv("GALLEY_MARATHON_URL");
    ::unsetenv("GALLEY_CONSUL_URL");
    ::unsetenv("CONSUL_HTTP_ADDR");
    sandbox::marathon::MarathonOptions mo;
    marathon_ = std::make_unique<EmulatorServer>(sandbox::marathon::NewMarathonEmulator(
        mo, sandbox::marathon::NewSimulatedRunner(
                {std::chrono::milliseconds(5), health_delay, std::chrono::milliseconds(5)})));
    consul_ = std::make_unique<EmulatorServer>(sandbox::consul::NewConsulEmulator({}));
    // A copy of the reference example the tests may edit.
    fs::copy(galley::testing::SourceRoot() + "/examples/reference", repo_.dir(),
             fs::copy_options::recursive);
  }
  void TearDown() override {
    marathon_.reset();
    consul_.reset();
    auto store = store::OpenSqliteStore(State());
    ASSERT_TRUE(store.ok());
    EXPECT_EQ((*store)->IntegrityCheck().value(), "ok");
  }
  std::string State(const std::string& name = "state.db") { return state_.Path(name); }
  std::vector<std::string> Endpoints(const std::string& state = "") {
    return {"--marathon",    marathon_->base(), "--consul",
            consul_->base(), "--state",         state.empty() ? State() : state};
  }
  Out Run(int (*cmd)(const cli::Args&, std::ostream&, std::ostream&), std::vector<std::string> args,
          const std::string& state = "") {
    auto e = Endpoints(state);
    args.insert(args.end(), e.begin(), e.end());
    std::ostringstream out, err;
    int code = cmd(args, out, err);
    return {code, out.str(), err.str()};
  }
  Out History(std::vector<std::string> args) {
    args.insert(args.end(), {"--state", State()});
    std::ostringstream out, err;
    int code = cli::RunHistory(args, out, err);
    return {code, out.str(), err.str()};
  }
  Out Apply(std::vector<std::string> extra = {}, const std::string& dir = "") {
    std::vector<std::string> args = {dir.empty() ? repo_.dir() : dir, "--auto-approve"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Run(cli::RunApply, args);
  }
  Out Plan(std::vector<std::string> extra = {}, const std::string& dir = "",
           const std::string& state = "") {
    std::vector<std::string> args = {dir.empty() ? repo_.dir() : dir, "--detailed-exitcode"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Run(cli::RunPlan, args, state);
  }
  net::ClientResponse Call(const std::string& method, const std::string& url,
                           const std::string& body = "") {
    net::ClientRequest req{method, url};
    req.body = body;
    auto r = http_->Send(req);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : net::ClientResponse{};
  }
  json App(const std::string& id) {
    auto r = Call("GET", marathon_->base() + "/v2/apps" + id);
    return r.status == 200 ? json::parse(r.body)["app"] : json();
  }
  std::string Kv(const std::string& key) {
    auto r = Call("GET", consul_->base() + "/v1/kv/" + key + "?raw");
    return r.status == 200 ? r.body : "(absent)";
  }
  void Edit(const std::string& file, const std::string& from, const std::string& to) {
    std::string text = galley::testing::ReadText(repo_.Path(file));
    size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from << " not in " << file;
    text.replace(at, from.size(), to);
    repo_.Write(file, text);
  }

  std::unique_ptr<EmulatorServer> marathon_, consul_;
  galley::testing::TempRepo state_, repo_;
  std::unique_ptr<net::HttpClient> http_ = net::NewHttpClient();
};

TEST_F(ApplyE2eTest, ApplyThenPlanIsCleanAndRecordsAreKept) {
  Out a = Apply();
  ASSERT_EQ(a.code, cli::kExitOk) << a.out << a.err;
  // 8 apps, 12 keys and the two HAProxy instances' LB models.
  EXPECT_NE(a.out.find("Apply complete: 22 applied, 0 failed, 0 not attempted"), std::string::npos)
      << a.out;
  EXPECT_EQ(a.out.find("postgres://"), std::string::npos) << "a secret leaked into the output";
  json app = App("/app/production/test-server");
  EXPECT_EQ(app["instances"], 4);
  EXPECT_EQ(app["tasksHealthy"], 4);
  EXPECT_EQ(Kv("app/production/test-server/DATABASE_URL"), "postgres://prod-db/app");
  // The first apply made the platform's key, and config digests are real.
  std::string key = Kv("galley/reference/hmac-key");
  EXPECT_EQ(key.size(), 64u);
  EXPECT_EQ(app["labels"]["galley.config-digest"].get<std::string>().size(), 64u);
  // galley's record per service × environment, with HMACs and never a value.
  json rec = json::parse(Kv("galley/reference/applied/production/test-server"));
  EXPECT_EQ(rec["app"]["id"], "/app/production/test-server");
  EXPECT_TRUE(rec["kv"]["app/production/test-server/DATABASE_URL"].get<std::string>().starts_with(
      "secret:"));
  EXPECT_EQ(rec.dump().find("postgres://"), std::string::npos);

  Out p = Plan();
  EXPECT_EQ(p.code, cli::kExitOk) << p.out << p.err;
  EXPECT_NE(p.out.find("No changes."), std::string::npos) << p.out;
  // Without the secret's source (a pull request from a fork) the plan is still clean: the
  // digest uses the HMAC last applied.
  ::unsetenv("PROD_DATABASE_URL");
  Out fork = Plan();
  EXPECT_EQ(fork.code, cli::kExitOk) << fork.out << fork.err;
  // A second apply has nothing to do.
  ::setenv("PROD_DATABASE_URL", "postgres://prod-db/app", 1);
  Out again = Apply();
  EXPECT_EQ(again.code, cli::kExitOk);
  EXPECT_NE(again.out.find("No changes."), std::string::npos) << again.out;
}

// A service without ports (the reference example's report-worker) is sent "portMappings": []
// and Marathon keeps it so: one apply converges, plan and drift find nothing.
TEST_F(ApplyE2eTest, AServiceWithoutPortsConvergesAfterOneApply) {
  Out a = Apply();
  ASSERT_EQ(a.code, cli::kExitOk) << a.out << a.err;
  json worker = App("/app/production/report-worker");
  ASSERT_TRUE(worker.is_object());
  EXPECT_EQ(worker["container"]["portMappings"], json::array()) << worker.dump(2);
  EXPECT_EQ(worker["instances"], 2);
  Out p = Plan();
  EXPECT_EQ(p.code, cli::kExitOk) << p.out << p.err;
  EXPECT_NE(p.out.find("No changes."), std::string::npos) << p.out;
  Out d = Run(cli::RunDrift, {repo_.dir(), "--detailed-exitcode"});
  EXPECT_EQ(d.code, cli::kExitOk) << d.out << d.err;
  std::string version = App("/app/production/report-worker")["version"];
  Out again = Apply();
  EXPECT_EQ(again.code, cli::kExitOk) << again.out << again.err;
  EXPECT_NE(again.out.find("No changes."), std::string::npos) << again.out;
  EXPECT_EQ(App("/app/production/report-worker")["version"], version)
      << "a second apply redeployed it";
}

// DESIGN §8.16: a declared service whose live app galley does not own (deployed by the old
// scripts: no label, no record) is a plan error, for plan and apply alike, never "No changes".
TEST_F(ApplyE2eTest, ADeclaredServiceWhoseLiveAppIsNotGalleysIsAPlanError) {
  ASSERT_EQ(Call("POST", marathon_->base() + "/v2/apps",
                 R"({"id": "/app/production/test-server", "cmd": "sleep 1000", "instances": 1})")
                .status,
            201);
  const std::string expected =
      "app /app/production/test-server (service test-server, environment production) is declared, "
      "but the live app "
      "is not galley's (no galley.platform=reference label, no applied record): adopt it first "
      "(galley adopt DIR --env production) or delete it by hand";
  Out p = Plan();
  EXPECT_EQ(p.code, cli::kExitError) << p.out << p.err;
  EXPECT_NE(p.err.find("galley plan: the plan has 1 error; nothing planned:\n  " + expected + "\n"),
            std::string::npos)
      << p.err;
  EXPECT_EQ(p.out.find("No changes"), std::string::npos) << p.out;
  Out a = Apply();
  EXPECT_EQ(a.code, cli::kExitError) << a.out << a.err;
  EXPECT_NE(a.err.find(expected), std::string::npos) << a.err;
  EXPECT_EQ(App("/app/production/test-server")["cmd"], "sleep 1000");
  EXPECT_TRUE(App("/app/staging/test-server").is_null()) << "apply went ahead with the rest";
}

// Prune deletes only what galley owns: someone else's app and keys under managed prefixes
// stay; removing a service or an environment from Git deletes exactly what galley applied
// for it, shown as removed from Git.
TEST_F(ApplyE2eTest, PruneDeletesExactlyWhatGalleyAppliedForARemovedServiceOrEnvironment) {
  Edit("galley.yaml", "prune: false", "prune: true");
  const std::string staging = R"(staging: {port_prefix: "1", host_prefix: "staging-"})";
  const std::string worker_staging = "staging: {tag: v1.5.0-rc2-b80, instances: 1}";
  Edit("galley.yaml", staging, staging + "\n  qa: {port_prefix: \"2\", host_prefix: \"qa-\"}");
  Edit("services/report-worker.yaml", worker_staging,
       worker_staging + "\n  qa: {tag: v1.5.0-rc2-b80, instances: 1}");
  Out first = Apply();
  ASSERT_EQ(first.code, cli::kExitOk) << first.out << first.err;
  ASSERT_TRUE(App("/app/qa/report-worker").is_object());
  ASSERT_EQ(Kv("app/qa/report-worker/QUEUE"), "reports");
  ASSERT_EQ(Call("POST", marathon_->base() + "/v2/apps",
                 R"({"id": "/app/production/by-hand", "cmd": "sleep 1000", "instances": 1})")
                .status,
            201);
  ASSERT_EQ(
      Call("PUT", consul_->base() + "/v1/kv/app/production/session-cache/BY_HAND", "x").status,
      200);
  ASSERT_EQ(Call("PUT", consul_->base() + "/v1/kv/app/production/nobody/KEY", "y").status, 200);
  Out p = Plan();
  EXPECT_EQ(p.code, cli::kExitOk) << p.out << p.err;
  EXPECT_NE(p.out.find("/app/production/by-hand: has no galley.platform=reference label and galley "
                       "never applied "
                       "it: not galley's, never deleted"),
            std::string::npos)
      << p.out;
  EXPECT_NE(p.out.find("app/production/session-cache/BY_HAND: galley never wrote it"),
            std::string::npos)
      << p.out;

  // The service session-cache and the environment qa leave Git.
  fs::remove(repo_.Path("services/session-cache.yaml"));
  Edit("galley.yaml", "\n  qa: {port_prefix: \"2\", host_prefix: \"qa-\"}", "");
  Edit("services/report-worker.yaml", "\n  qa: {tag: v1.5.0-rc2-b80, instances: 1}", "");
  Out removed = Plan({"--json"});
  ASSERT_EQ(removed.code, cli::kExitChanges) << removed.out << removed.err;
  json plan = json::parse(removed.out);
  std::map<std::string, std::string> deletes;
  for (const auto& a : plan.value("actions", json::array())) {
    json notes = a.value("notes", json::array());
    deletes[a.value("target", "")] =
        a.value("kind", "") + ": " + (notes.empty() ? "" : notes[0].get<std::string>());
  }
  const std::string service_gone =
      "removed from Git (service session-cache is no longer declared); galley applied it";
  const std::string env_gone =
      "removed from Git (environment qa is no longer declared); galley applied it";
  EXPECT_EQ(deletes, (std::map<std::string, std::string>{
                         {"/app/production/session-cache", "app-delete: " + service_gone},
                         {"/app/staging/session-cache", "app-delete: " + service_gone},
                         {"/app/qa/report-worker", "app-delete: " + env_gone},
                         {"app/production/session-cache/MAXMEMORY", "kv-delete: " + service_gone},
                         {"app/staging/session-cache/MAXMEMORY", "kv-delete: " + service_gone},
                         {"app/qa/report-worker/QUEUE", "kv-delete: " + env_gone},
                         // The LB models no longer list the service and the environment.
                         {"galley/reference/haproxy/external", "haproxy-model-update: "},
                         {"galley/reference/haproxy/internal", "haproxy-model-update: "}}))
      << removed.out;
  Out a = Apply();
  ASSERT_EQ(a.code, cli::kExitOk) << a.out << a.err;
  EXPECT_EQ(a.out.find("foreign key"), std::string::npos) << a.out;
  EXPECT_TRUE(App("/app/production/session-cache").is_null());
  EXPECT_TRUE(App("/app/qa/report-worker").is_null());
  EXPECT_EQ(Kv("app/qa/report-worker/QUEUE"), "(absent)");
  EXPECT_EQ(Kv("app/production/session-cache/MAXMEMORY"), "(absent)");
  // Not galley's: still there.
  EXPECT_TRUE(App("/app/production/by-hand").is_object());
  EXPECT_EQ(Kv("app/production/session-cache/BY_HAND"), "x");
  EXPECT_EQ(Kv("app/production/nobody/KEY"), "y");
  Out after = Plan();
  EXPECT_EQ(after.code, cli::kExitOk) << after.out << after.err;
}

// Every secret apply cannot read is named in one run, not one per run.
TEST_F(ApplyE2eTest, EveryMissingSecretIsReportedInOnePass) {
  Edit("services/api-gateway.yaml", "  ENABLE_TRACING: \"true\"",
       "  ENABLE_TRACING: \"true\"\n  API_TOKEN: {secret_env: GATEWAY_TOKEN}");
  const std::string password_file = State("redis-password");
  Edit("services/session-cache.yaml", "  MAXMEMORY: 400mb",
       "  MAXMEMORY: 400mb\n  REDIS_PASSWORD: {secret_file: " + password_file + "}");
  ::unsetenv("PROD_DATABASE_URL");
  ::unsetenv("GATEWAY_TOKEN");
  Out a = Apply();
  EXPECT_EQ(a.code, cli::kExitError) << a.out << a.err;
  auto has = [&](const Out& o, const std::string& s) { return o.err.find(s) != std::string::npos; };
  EXPECT_TRUE(has(a, "galley apply: 5 secrets cannot be read; nothing applied:\n")) << a.err;
  for (const char* env : {"production", "staging"}) {
    EXPECT_TRUE(has(a, std::string("  app/") + env +
                           "/api-gateway/API_TOKEN (service api-gateway, environment " + env +
                           "): secret variable GATEWAY_TOKEN is not set\n"))
        << a.err;
    EXPECT_TRUE(has(a, std::string("  app/") + env +
                           "/session-cache/REDIS_PASSWORD (service session-cache, environment " +
                           env + "): secret file " + password_file))
        << a.err;
  }
  EXPECT_TRUE(has(
      a,
      "  app/production/test-server/DATABASE_URL (service test-server, environment production): "
      "secret variable PROD_DATABASE_URL is not set\n"))
      << a.err;
  EXPECT_TRUE(App("/app/production/api-gateway").is_null()) << "something was applied";
  EXPECT_EQ(Kv("app/production/api-gateway/UPSTREAM_TIMEOUT"), "(absent)");
  // One set: the next run names the others at once.
  ::setenv("GATEWAY_TOKEN", "t0ken", 1);
  a = Apply();
  EXPECT_EQ(a.code, cli::kExitError);
  EXPECT_TRUE(has(a, "galley apply: 3 secrets cannot be read; nothing applied:\n")) << a.err;
  EXPECT_FALSE(has(a, "GATEWAY_TOKEN")) << a.err;
  ::setenv("PROD_DATABASE_URL", "postgres://prod-db/app", 1);
  state_.Write("redis-password", "hunter2\n");
  a = Apply();
  EXPECT_EQ(a.code, cli::kExitOk) << a.out << a.err;
  EXPECT_EQ(Kv("app/staging/session-cache/REDIS_PASSWORD"), "hunter2");
  ::unsetenv("GATEWAY_TOKEN");
}

TEST_F(ApplyE2eTest, MultiPortExampleConvergesToo) {
  std::string dir = galley::testing::SourceRoot() + "/examples/multi-port";
  Out a = Apply({}, dir);
  ASSERT_EQ(a.code, cli::kExitOk) << a.out << a.err;
  Out p = Plan({}, dir);
  EXPECT_EQ(p.code, cli::kExitOk) << p.out << p.err;
}

TEST_F(ApplyE2eTest, AnEmptyStoreStillTellsDriftFromPending) {
  ASSERT_EQ(Apply().code, cli::kExitOk);
  Call("PUT", marathon_->base() + "/v2/apps/app/production/test-server", R"({"instances": 7})");
  Edit("services/session-cache.yaml", "instances: 2", "instances: 3");
  // A fresh CI runner: no state file; the records in Consul say what was applied.
  Out p = Run(cli::RunPlan, {repo_.dir(), "--json"}, State("fresh.db"));
  ASSERT_EQ(p.code, cli::kExitOk) << p.err;
  json plan = json::parse(p.out);
  std::map<std::string, std::string> reasons;
  for (const auto& a : plan["actions"]) reasons[a["target"]] = a["reason"];
  EXPECT_EQ(reasons["/app/production/test-server"], "drifted");
  EXPECT_EQ(reasons["/app/production/session-cache"], "desired-changed");
}

TEST_F(ApplyE2eTest, ARolloutAndAConfigChangeRestartRolling) {
  ASSERT_EQ(Apply().code, cli::kExitOk);
  json before = App("/app/staging/test-server");
  Edit("services/test-server.yaml", "LOG_LEVEL: debug", "LOG_LEVEL: warn");
  Out p = Plan();
  ASSERT_EQ(p.code, cli::kExitChanges);
  EXPECT_NE(p.out.find("± restart marathon app /app/staging/test-server"), std::string::npos)
      << p.out;
  Out a = Apply();
  ASSERT_EQ(a.code, cli::kExitOk) << a.out << a.err;
  EXPECT_EQ(Kv("app/staging/test-server/LOG_LEVEL"), "warn");
  json after = App("/app/staging/test-server");
  EXPECT_NE(after["labels"]["galley.config-digest"], before["labels"]["galley.config-digest"]);
  EXPECT_NE(after["tasks"][0]["id"], before["tasks"][0]["id"]) << "the task was not replaced";
  // The key went in before the app was restarted.
  EXPECT_LT(a.out.find("kv-put staging/test-server: written"),
            a.out.find("app-restart /app/staging/test-server: starting"));
  EXPECT_EQ(Plan().code, cli::kExitOk);
}

TEST_F(ApplyE2eTest, SavedPlansAreRefusedWhenStaleOrAppliedTwice) {
  ASSERT_EQ(Apply().code, cli::kExitOk);
  Edit("services/session-cache.yaml", "instances: 2", "instances: 3");
  std::string file = state_.Path("plan.json");
  ASSERT_EQ(Plan({"--out", file}).code, cli::kExitChanges);
  // Someone scales the app by hand after the plan was made.
  Call("PUT", marathon_->base() + "/v2/apps/app/production/session-cache", R"({"instances": 5})");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  Out stale = Run(cli::RunApply, {file, "--auto-approve"});
  EXPECT_EQ(stale.code, cli::kExitStalePlan) << stale.out << stale.err;
  EXPECT_NE(stale.err.find("app /app/production/session-cache: planned against version"),
            std::string::npos)
      << stale.err;
  EXPECT_EQ(App("/app/production/session-cache")["instances"], 5);  // untouched

  ASSERT_EQ(Plan({"--out", file}).code, cli::kExitChanges);
  Out first = Run(cli::RunApply, {file, "--auto-approve"});
  ASSERT_EQ(first.code, cli::kExitOk) << first.out << first.err;
  EXPECT_EQ(App("/app/production/session-cache")["instances"], 3);
  Out twice = Run(cli::RunApply, {file, "--auto-approve"});
  EXPECT_EQ(twice.code, cli::kExitStalePlan);
  EXPECT_NE(twice.err.find("already applied"), std::string::npos) << twice.err;
  // A plan file that is not one.
  repo_.Write("bad.json", "{\"actions\": 3}");
  EXPECT_EQ(Run(cli::RunApply, {repo_.Path("bad.json"), "--auto-approve"}).code, cli::kExitError);
}

TEST_F(ApplyE2eTest, APlanMadeBeforeTheFirstApplyCanBeApplied) {
  // CI: plan --out on a brand-new platform (no HMAC key yet), then apply the file. The plan
  // is signed, so saving it creates the platform's key (cas=0) as the first apply would.
  std::string file = state_.Path("first.json");
  ASSERT_EQ(Kv("galley/reference/hmac-key"), "(absent)");
  ASSERT_EQ(Plan({"--out", file}).code, cli::kExitChanges);
  EXPECT_EQ(Kv("galley/reference/hmac-key").size(), 64u);
  std::string text = galley::testing::ReadText(file);
  EXPECT_EQ(text.find("(known after apply)"), std::string::npos);
  EXPECT_EQ(text.find("postgres://"), std::string::npos);
  EXPECT_TRUE(json::parse(text)["signature"].is_object());
  Out a = Run(cli::RunApply, {file, "--auto-approve"});
  ASSERT_EQ(a.code, cli::kExitOk) << a.out << a.err;
  EXPECT_EQ(App("/app/production/test-server")["labels"]["galley.config-digest"]
                .get<std::string>()
                .size(),
            64u);
  Out p = Plan();
  EXPECT_EQ(p.code, cli::kExitOk) << p.out << p.err;
}

// Issue #10: a saved plan whose image was replaced must not be deployed, recorded as applied
// or hidden from drift; the refusal names what was changed.
TEST_F(ApplyE2eTest, AnEditedPlanFileIsRefusedAndNothingIsDeployed) {
  ASSERT_EQ(Apply().code, cli::kExitOk);
  Edit("services/session-cache.yaml", "instances: 2", "instances: 3");
  std::string file = state_.Path("plan.json");
  ASSERT_EQ(Plan({"--out", file}).code, cli::kExitChanges);
  json doc = json::parse(galley::testing::ReadText(file));
  std::string image_before = App("/app/production/session-cache")["container"]["docker"]["image"];
  bool edited = false;
  for (auto& a : doc["actions"]) {
    if (a["target"] == "/app/production/session-cache") {
      a["desired"]["container"]["docker"]["image"] = "evil.example.com/cache:latest";
      edited = true;
    }
  }
  ASSERT_TRUE(edited);
  repo_.Write("edited.json", doc.dump(2));
  int64_t runs_before = 0;
  {
    auto store = store::OpenSqliteStore(State());
    ASSERT_TRUE(store.ok());
    runs_before = static_cast<int64_t>((*store)->RecentRuns(100)->size());
  }
  Out o = Run(cli::RunApply, {repo_.Path("edited.json"), "--auto-approve"});
  EXPECT_EQ(o.code, cli::kExitError) << o.out << o.err;
  EXPECT_NE(o.err.find("was changed after it was signed: action app:/app/production/session-cache"),
            std::string::npos)
      << o.err;
  EXPECT_EQ(o.err.find("kv:"), std::string::npos) << "only what was edited is named: " << o.err;
  json app = App("/app/production/session-cache");
  EXPECT_EQ(app["container"]["docker"]["image"], image_before);
  EXPECT_EQ(app["instances"], 2);
  {
    auto store = store::OpenSqliteStore(State());
    ASSERT_TRUE(store.ok());
    auto runs = (*store)->RecentRuns(100);
    ASSERT_TRUE(runs.ok());
    ASSERT_EQ(static_cast<int64_t>(runs->size()), runs_before + 1);
    EXPECT_EQ((*runs)[0].outcome, "failed");
    EXPECT_NE((*runs)[0].summary.find("\"refused\":true"), std::string::npos) << (*runs)[0].summary;
  }
  // Drift still sees the desired change as pending: nothing was recorded as applied.
  EXPECT_EQ(Plan().code, cli::kExitChanges);

  // Its signature removed, or a plan whose signature matches another key: refused as well.
  doc = json::parse(galley::testing::ReadText(file));
  doc.erase("signature");
  repo_.Write("unsigned.json", doc.dump());
  Out u = Run(cli::RunApply, {repo_.Path("unsigned.json"), "--auto-approve"});
  EXPECT_EQ(u.code, cli::kExitError);
  EXPECT_NE(u.err.find("it is not signed"), std::string::npos) << u.err;
  ::setenv("GALLEY_HMAC_KEY", "another key", 1);
  Out k = Run(cli::RunApply, {file, "--auto-approve"});
  ::unsetenv("GALLEY_HMAC_KEY");
  EXPECT_EQ(k.code, cli::kExitError);
  EXPECT_NE(k.err.find("signed with another key"), std::string::npos) << k.err;
  EXPECT_EQ(App("/app/production/session-cache")["instances"], 2);

  // The file as plan wrote it applies.
  Out ok = Run(cli::RunApply, {file, "--auto-approve"});
  ASSERT_EQ(ok.code, cli::kExitOk) << ok.out << ok.err;
  EXPECT_EQ(App("/app/production/session-cache")["instances"], 3);
}

// Issue #10: `apply PLANFILE DIR` compares what DIR declares with what the plan was made
// from, not commit ids: a merge commit with the same content applies; a changed service is
// named and the plan is stale (exit 4).
TEST_F(ApplyE2eTest, APlanFileAppliesAfterAMergeCommitButNotWhenDirChanged) {
  auto git = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {
        "git",         "-C", repo_.dir(),           "-c", "user.email=t@example.com", "-c",
        "user.name=t", "-c", "commit.gpgsign=false"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunCommand(argv);
    EXPECT_TRUE(r.ok() && r->exit_code == 0) << (r.ok() ? r->err : r.status().message());
    return r.ok() ? r->out.substr(0, r->out.find('\n')) : "";
  };
  git({"init", "-q", "-b", "main"});
  git({"add", "-A"});
  git({"commit", "-q", "-m", "reference"});
  ASSERT_EQ(Apply().code, cli::kExitOk);
  // The pull request: one commit on a branch, planned there.
  git({"checkout", "-q", "-b", "pr"});
  Edit("services/session-cache.yaml", "instances: 2", "instances: 3");
  git({"commit", "-q", "-am", "more cache"});
  std::string pr = git({"rev-parse", "HEAD"});
  std::string file = state_.Path("pr.json");
  ASSERT_EQ(Plan({"--out", file}).code, cli::kExitChanges);
  // Meanwhile main moved (outside DIR's desired state: a README), then the PR is merged.
  git({"checkout", "-q", "main"});
  repo_.Write("NOTES.md", "unrelated\n");
  git({"add", "NOTES.md"});
  git({"commit", "-q", "-m", "notes"});
  git({"merge", "-q", "--no-ff", "-m", "merge pr", "pr"});
  std::string merged = git({"rev-parse", "HEAD"});
  ASSERT_NE(merged, pr);

  // After the merge, DIR changes a service the plan knows nothing of: stale, named.
  Edit("services/test-server.yaml", "LOG_LEVEL: debug", "LOG_LEVEL: warn");
  Out stale = Run(cli::RunApply, {file, repo_.dir(), "--auto-approve"});
  EXPECT_EQ(stale.code, cli::kExitStalePlan) << stale.err;
  EXPECT_NE(stale.err.find("staging/test-server: changed since the plan"), std::string::npos)
      << stale.err;
  EXPECT_NE(stale.err.find("planned at commit " + pr), std::string::npos) << stale.err;
  EXPECT_EQ(App("/app/production/session-cache")["instances"], 2);
  Edit("services/test-server.yaml", "LOG_LEVEL: warn", "LOG_LEVEL: debug");

  Out merged_apply = Run(cli::RunApply, {file, repo_.dir(), "--auto-approve"});
  ASSERT_EQ(merged_apply.code, cli::kExitOk) << merged_apply.out << merged_apply.err;
  EXPECT_EQ(App("/app/production/session-cache")["instances"], 3);
}

// Issue #10: the plan file carries the endpoints it was made against; apply PLANFILE uses
// them, flags and variables overriding, and never reads the key that verifies the plan from
// a Consul only the plan names.
TEST_F(ApplyE2eTest, ASavedPlanCarriesItsEndpoints) {
  ASSERT_EQ(Apply().code, cli::kExitOk);
  Edit("services/session-cache.yaml", "instances: 2", "instances: 3");
  ::setenv("GALLEY_MARATHON_USER", "deploy", 1);
  ::setenv("GALLEY_MARATHON_PASSWORD", "s3cret-pw", 1);
  std::string file = state_.Path("plan.json");
  Out p = Plan({"--out", file});
  ::unsetenv("GALLEY_MARATHON_USER");
  ::unsetenv("GALLEY_MARATHON_PASSWORD");
  ASSERT_EQ(p.code, cli::kExitChanges) << p.err;
  std::string text = galley::testing::ReadText(file);
  EXPECT_EQ(text.find("s3cret-pw"), std::string::npos);
  json doc = json::parse(text);
  EXPECT_EQ(doc["endpoints"]["marathon"], json::array({marathon_->base()}));
  EXPECT_EQ(doc["endpoints"]["consul"], consul_->base());
  EXPECT_NE(
      p.out.find("apply exactly it with: galley apply " + file + " --consul " + consul_->base()),
      std::string::npos)
      << p.out;
  auto apply = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {file, "--auto-approve", "--state", State()});
    std::ostringstream out, err;
    int code = cli::RunApply(args, out, err);
    return Out{code, out.str(), err.str()};
  };
  // No endpoint at all but the plan's: its Consul cannot vouch for it.
  Out alone = apply({});
  EXPECT_EQ(alone.code, cli::kExitError);
  EXPECT_NE(alone.err.find("cannot vouch for the plan: give --consul " + consul_->base()),
            std::string::npos)
      << alone.err;
  // A flag overrides the plan's Marathon (here: a dead one).
  Out dead = apply({"--consul", consul_->base(), "--marathon", "http://127.0.0.1:1"});
  EXPECT_EQ(dead.code, cli::kExitError);
  EXPECT_NE(dead.err.find("127.0.0.1:1"), std::string::npos) << dead.err;
  EXPECT_EQ(App("/app/production/session-cache")["instances"], 2);
  // Consul named by the command line, Marathon from the plan.
  Out ok = apply({"--consul", consul_->base()});
  ASSERT_EQ(ok.code, cli::kExitOk) << ok.out << ok.err;
  EXPECT_EQ(App("/app/production/session-cache")["instances"], 3);
}

// Issue #11: with GALLEY_HMAC_KEY, the key never goes to Consul and signs the plans.
TEST_F(ApplyE2eTest, GalleyHmacKeyFromTheEnvironmentIsUsedInsteadOfConsuls) {
  ::setenv("GALLEY_HMAC_KEY", "a key all runners share", 1);
  std::string file = state_.Path("plan.json");
  Out p = Plan({"--out", file});
  ASSERT_EQ(p.code, cli::kExitChanges) << p.err;
  EXPECT_NE(p.out.find("apply exactly it with: galley apply " + file + "\n"), std::string::npos)
      << p.out;
  auto apply = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {file, "--auto-approve", "--state", State()});
    std::ostringstream out, err;
    int code = cli::RunApply(args, out, err);
    return Out{code, out.str(), err.str()};
  };
  Out a = apply({});  // the plan's endpoints, verified with the key from the environment
  ::unsetenv("GALLEY_HMAC_KEY");
  ASSERT_EQ(a.code, cli::kExitOk) << a.out << a.err;
  EXPECT_EQ(Kv("galley/reference/hmac-key"), "(absent)");
  EXPECT_EQ(App("/app/production/test-server")["labels"]["galley.config-digest"]
                .get<std::string>()
                .size(),
            64u);
}

TEST_F(ApplyE2eTest, AHeldLockExitsThreeNamingTheHolder) {
  auto store = store::OpenSqliteStore(State("other-host.db"));
  ASSERT_TRUE(store.ok());
  auto http = net::NewHttpClient();
  auto consul = clients::NewConsulClient({consul_->base(), "", ""}, http.get());
  engine::LockOptions lo;
  lo.platform = "reference";
  lo.holder = "ci@runner-7 pid 42";
  auto lock = engine::PlatformLock::Acquire(*consul, **store, lo);
  ASSERT_TRUE(lock.ok()) << lock.status().message();
  Out o = Apply();
  EXPECT_EQ(o.code, cli::kExitLockHeld) << o.err;
  EXPECT_NE(o.err.find("ci@runner-7 pid 42"), std::string::npos) << o.err;
  EXPECT_TRUE(App("/app/production/test-server").is_null()) << "applied without the lock";
  // Waiting for it: released while the second apply waits.
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    (void)(*lock)->Release();
  });
  Out waited = Apply({"--lock-timeout", "20s"});
  release.join();
  EXPECT_EQ(waited.code, cli::kExitOk) << waited.err;
}

TEST_F(ApplyE2eTest, MarathonFailingMidwayIsPartialAndTheNextApplyFinishes) {
  // Creates fail after the first two got through.
  marathon_->Faults(json::parse(
      R"({"fail_next": 1000, "fail_status": 500, "path_prefix": "/v2/apps", "methods": ["POST"]})"));
  Out a = Apply({"--concurrency", "1"});
  EXPECT_EQ(a.code, cli::kExitError);
  EXPECT_NE(a.out.find("failed"), std::string::npos) << a.out;
  // 12 keys and 2 LB models written; 8 apps failed.
  EXPECT_NE(a.out.find("14 applied, 8 failed, 0 not attempted"), std::string::npos) << a.out;
  marathon_->Faults(json::object());
  Out history = History({"--json"});
  ASSERT_EQ(history.code, cli::kExitOk) << history.err;
  json runs = json::parse(history.out)["runs"];
  ASSERT_TRUE(runs.is_array() && !runs.empty()) << history.out;
  EXPECT_EQ(runs[0]["outcome"], "partial") << runs[0].dump();
  Out b = Apply();
  EXPECT_EQ(b.code, cli::kExitOk) << b.out << b.err;
  EXPECT_NE(b.out.find("8 applied, 0 failed"), std::string::npos) << b.out;
  EXPECT_EQ(Plan().code, cli::kExitOk);
}

TEST_F(ApplyE2eTest, DryRunSendsNothingAndNoTerminalMeansNo) {
  Out dry = Run(cli::RunApply, {repo_.dir(), "--dry-run"});
  ASSERT_EQ(dry.code, cli::kExitOk) << dry.err;
  EXPECT_NE(dry.out.find("wave 1:"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("wave 2:"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("POST /v2/apps /app/production/test-server"), std::string::npos)
      << dry.out;
  EXPECT_TRUE(App("/app/production/test-server").is_null());
  EXPECT_EQ(Kv("app/production/test-server/LOG_LEVEL"), "(absent)");
  EXPECT_EQ(Kv("galley/reference/hmac-key"), "(absent)");
  // Tests run without a terminal on stdin: without --auto-approve, apply refuses.
  Out refused = Run(cli::RunApply, {repo_.dir()});
  EXPECT_EQ(refused.code, cli::kExitError);
  EXPECT_NE(refused.err.find("--auto-approve"), std::string::npos) << refused.err;
  EXPECT_TRUE(App("/app/production/test-server").is_null());
}

// --progress json: the workflow's and the executor's events as JSON lines on stderr, and
// no text progress on stdout (the plan and the summary stay).
TEST_F(ApplyE2eTest, ProgressAsJsonLines) {
  Out a = Apply({"--progress", "json"});
  ASSERT_EQ(a.code, cli::kExitOk) << a.out << a.err;
  EXPECT_NE(a.out.find("Apply complete:"), std::string::npos) << a.out;
  EXPECT_EQ(a.out.find("Applying "), std::string::npos) << a.out;
  std::istringstream lines(a.err);
  std::set<std::string> kinds;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '{') continue;  // repository warnings stay text
    json e = json::parse(line, nullptr, false);
    ASSERT_TRUE(e.is_object()) << line;
    EXPECT_TRUE(e.contains("at") && e.contains("line") && e.contains("action_id") &&
                e.contains("target"))
        << line;
    kinds.insert(e["kind"].get<std::string>());
    if (e["kind"] == "phase") {
      EXPECT_EQ(e["line"].get<std::string>().rfind("Applying ", 0), 0u) << line;
    }
  }
  EXPECT_TRUE(kinds.count("phase")) << a.err;
  Out bad = Run(cli::RunApply, {repo_.dir(), "--auto-approve", "--progress", "xml"});
  EXPECT_EQ(bad.code, cli::kExitError);
  EXPECT_NE(bad.err.find("--progress 'xml': expected text or json"), std::string::npos) << bad.err;
}

TEST_F(ApplyE2eTest, TheSafetyRailsHoldBackMassDeletes) {
  // A platform of 12 services, then all of them removed from Git with prune on.
  galley::testing::TempRepo big;
  big.Write("galley.yaml",
            std::string(galley::testing::kMinimalPlatform) + "policy: {prune: true}\n");
  for (int i = 0; i < 12; ++i) {
    std::string svc = galley::testing::kMinimalService;
    svc.replace(svc.find("name: web"), 9, "name: web" + std::to_string(i));
    svc.replace(svc.find("container: 8080"), 15, "container: " + std::to_string(8100 + i));
    big.Write("services/web" + std::to_string(i) + ".yaml", svc);
  }
  Out a = Apply({}, big.dir());
  ASSERT_EQ(a.code, cli::kExitOk) << a.out << a.err;
  for (int i = 0; i < 12; ++i) fs::remove(big.Path("services/web" + std::to_string(i) + ".yaml"));
  big.Write("services/keep.yaml", galley::testing::kMinimalService);
  Out refused = Apply({}, big.dir());
  EXPECT_EQ(refused.code, cli::kExitError);
  EXPECT_NE(refused.err.find("--allow-large"), std::string::npos) << refused.err;
  EXPECT_FALSE(App("/app/production/web3").is_null());
  // A saved plan refused by the rails is not "applied": it can be applied with --allow-large.
  std::string file = state_.Path("large.json");
  ASSERT_EQ(Plan({"--out", file}, big.dir()).code, cli::kExitChanges);
  Out saved_refused = Run(cli::RunApply, {file, "--auto-approve"});
  EXPECT_EQ(saved_refused.code, cli::kExitError) << saved_refused.err;
  Out allowed = Run(cli::RunApply, {file, "--auto-approve", "--allow-large", "--json"});
  // --json: stdout is one JSON document, the progress went to stderr.
  json result = json::parse(allowed.out, nullptr, false);
  ASSERT_TRUE(result.is_object()) << allowed.out;
  EXPECT_EQ(result["failed"], 0);
  EXPECT_EQ(result["applied"],
            12 * 2 + 2 + 1);  // 24 deletes (two environments each), keep's two creates, and
                              // the LB model (its services changed)
  EXPECT_NE(allowed.err.find("app-delete /app/production/web3"), std::string::npos) << allowed.err;
  EXPECT_EQ(allowed.code, cli::kExitOk) << allowed.out << allowed.err;
  EXPECT_TRUE(App("/app/production/web3").is_null());
  EXPECT_FALSE(App("/app/production/web").is_null());
}

class SlowApplyE2eTest : public ApplyE2eTest {
 protected:
  void SetUp() override { StartEmulators(std::chrono::milliseconds(60000)); }
};

TEST_F(SlowApplyE2eTest, TheDeadlineCancelsAndRollbackPutsTheAppBack) {
  // The first apply cannot finish either: tasks take a minute to be healthy.
  Out first = Apply({"--target", "session-cache", "--env", "staging", "--deadline", "1s"});
  EXPECT_EQ(first.code, cli::kExitError);
  EXPECT_NE(first.out.find("not healthy within 1s"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("cancelled, Marathon rolls the app back"), std::string::npos)
      << first.out;
  // Marathon's rollback of a create removes the app again.
  EXPECT_TRUE(galley::testing::Eventually([&] {
    return App("/app/staging/session-cache").is_null();
  })) << "Marathon's rollback of a create removes the app";
  json history = json::parse(History({"--json"}).out)["runs"];
  EXPECT_EQ(history[0]["outcome"], "partial")
      << history[0].dump();  // the key went in, the app did not
}

class BrokenLockApplyE2eTest : public ApplyE2eTest {
 protected:
  void SetUp() override { StartEmulators(std::chrono::milliseconds(1500)); }
  std::set<std::string> Apps() {
    std::set<std::string> ids;
    json apps = json::parse(Call("GET", marathon_->base() + "/v2/apps").body);
    for (const auto& a : apps["apps"]) ids.insert(a["id"].get<std::string>());
    return ids;
  }
};

TEST_F(BrokenLockApplyE2eTest, TheOldHolderWritesNothingAfterLockBreak) {
  // One app at a time, each healthy after 1.5 s: the apply is following its first app when
  // the lock is broken; its next renewal is 7.5 s away, its next write 1.5 s.
  Out applied;
  std::atomic<bool> done{false};
  std::thread apply([&] {
    applied = Apply({"--concurrency", "1"});
    done = true;
  });
  std::set<std::string> at_break;
  for (int i = 0; i < 1000 && at_break.empty() && !done; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    at_break = Apps();
  }
  Out broke = Run(cli::RunLock, {"break", repo_.dir(), "--yes"});
  at_break = Apps();
  apply.join();
  ASSERT_FALSE(at_break.empty()) << "the apply never wrote an app\n" << applied.out << applied.err;
  EXPECT_EQ(broke.code, cli::kExitOk) << broke.err;
  EXPECT_NE(broke.out.find("may still act for up to 15 s"), std::string::npos) << broke.out;
  EXPECT_EQ(Apps(), at_break) << "the old holder wrote after the break\n" << applied.out;
  EXPECT_NE(applied.code, cli::kExitOk);
  EXPECT_NE((applied.out + applied.err).find("no longer exists"), std::string::npos)
      << applied.out << applied.err;
}

// History that survives CI runners (issue #10): who and where from the CI environment, the
// platform's applies in Consul for a runner whose store is empty, an unconfirmed apply
// recorded as such, and retention per kind from galley.yaml.
TEST_F(ApplyE2eTest, HistoryNamesTheCiRunAndSurvivesAFreshRunner) {
  const std::map<std::string, std::string> ci = {{"GITHUB_ACTIONS", "true"},
                                                 {"GITHUB_ACTOR", "octocat"},
                                                 {"GITHUB_SERVER_URL", "https://github.example"},
                                                 {"GITHUB_REPOSITORY", "acme/platform"},
                                                 {"GITHUB_RUN_ID", "4242"},
                                                 {"GITHUB_SHA", "0123456789abcdef"}};
  for (const auto& [k, v] : ci) ::setenv(k.c_str(), v.c_str(), 1);
  Out a = Apply();
  for (const auto& [k, v] : ci) ::unsetenv(k.c_str());
  ASSERT_EQ(a.code, cli::kExitOk) << a.out << a.err;

  json run = json::parse(History({"--json"}).out)["runs"][0];
  EXPECT_EQ(run["who"], "octocat") << run.dump();
  EXPECT_EQ(run["ci"], json({{"system", "github-actions"},
                             {"url", "https://github.example/acme/platform/actions/runs/4242"},
                             {"commit", "0123456789abcdef"}}));
  Out text = History({});
  EXPECT_NE(text.out.find("octocat (github-actions)"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("    https://github.example/acme/platform/actions/runs/4242\n"),
            std::string::npos)
      << text.out;
  json rec = json::parse(Kv("galley/reference/applied/production/test-server"));
  EXPECT_EQ(rec["by"], "octocat (github-actions)");

  // A fresh runner (no store at all) lists the platform's applies from Consul.
  auto platform_history = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"--platform", repo_.dir(), "--consul", consul_->base()};
    args.insert(args.end(), extra.begin(), extra.end());
    std::ostringstream out, err;
    int code = cli::RunHistory(args, out, err);
    EXPECT_EQ(code, cli::kExitOk) << err.str();
    return out.str();
  };
  json applies = json::parse(platform_history({"--json"}))["applies"];
  ASSERT_EQ(applies.size(), 1u) << applies.dump();
  EXPECT_EQ(applies[0]["outcome"], "ok");
  EXPECT_EQ(applies[0]["applied"], 22);  // 8 apps, 12 keys, 2 LB models
  EXPECT_EQ(applies[0]["who"], "octocat");
  EXPECT_EQ(applies[0]["ci_url"], "https://github.example/acme/platform/actions/runs/4242");
  EXPECT_FALSE(applies[0]["finished_at"].get<std::string>().empty());
  std::string listed = platform_history({});
  EXPECT_NE(listed.find("octocat (github-actions)"), std::string::npos) << listed;
  EXPECT_NE(listed.find("22 applied"), std::string::npos) << listed;

  // Nothing to do: no new entry in Consul.
  ASSERT_EQ(Apply().code, cli::kExitOk);
  EXPECT_EQ(json::parse(platform_history({"--json"}))["applies"].size(), 1u);

  // Not confirmed (no terminal to confirm on): recorded as such, not as a failure.
  Edit("services/test-server.yaml", "instances: 4", "instances: 5");
  Out refused = Run(cli::RunApply, {repo_.dir()});
  EXPECT_EQ(refused.code, cli::kExitError);
  run = json::parse(History({"--json"}).out)["runs"][0];
  EXPECT_EQ(run["outcome"], "not-confirmed") << run.dump();
  EXPECT_EQ(json::parse(platform_history({"--json"}))["applies"].size(), 1u);

  // A failed apply is in Consul too, newest first.
  marathon_->Faults(json::parse(
      R"({"fail_next": 1000, "fail_status": 500, "path_prefix": "/v2/apps", "methods": ["PUT"]})"));
  EXPECT_EQ(Apply().code, cli::kExitError);
  marathon_->Faults(json::object());
  applies = json::parse(platform_history({"--json"}))["applies"];
  ASSERT_EQ(applies.size(), 2u) << applies.dump();
  EXPECT_EQ(applies[0]["outcome"], "failed");
  EXPECT_EQ(applies[0]["failed"], 1);
  EXPECT_EQ(applies[1]["outcome"], "ok");
}

TEST_F(ApplyE2eTest, RetentionFromGalleyYamlKeepsEachKindApart) {
  Edit("galley.yaml", "policy:\n",
       "history: {plans: 3, platform_applies: 2, observation_runs: 2}\npolicy:\n");
  ASSERT_EQ(Apply().code, cli::kExitOk);
  for (int i = 0; i < 6; ++i) ASSERT_EQ(Plan().code, cli::kExitOk);
  json runs = json::parse(History({"--json"}).out)["runs"];
  int plans = 0, applies = 0;
  for (const auto& r : runs) (r["kind"] == "plan" ? plans : applies) += 1;
  EXPECT_EQ(plans, 3) << runs.dump();
  EXPECT_EQ(applies, 1) << runs.dump();  // six plans did not push the apply out
  for (int n : {5, 6, 7}) {
    Edit("services/test-server.yaml", "instances: " + std::to_string(n - 1),
         "instances: " + std::to_string(n));
    ASSERT_EQ(Apply().code, cli::kExitOk);
  }
  std::ostringstream out, err;
  ASSERT_EQ(
      cli::RunHistory({"--platform", repo_.dir(), "--consul", consul_->base(), "--json"}, out, err),
      cli::kExitOk)
      << err.str();
  json kept = json::parse(out.str())["applies"];
  ASSERT_EQ(kept.size(), 2u) << kept.dump();
  EXPECT_EQ(kept[0]["applied"], 1);
}

}  // namespace
}  // namespace galley
