// SPDX-License-Identifier: Apache-2.0
// `galley drift` and `galley history` end to end against the Marathon and Consul emulators
// on loopback. "Applied" state is set up as apply leaves it: the rendered apps and keys
// live, and the records galley keeps in Consul (galley/<platform>/applied/<env>/<service>
// and galley/<platform>/hmac-key), with an empty state store (an ephemeral CI runner).
// Then hand changes through the emulators' HTTP APIs: a scale is drift (exit 2), first seen
// is kept and last seen moves, a revert by hand resolves the record; KV edits (secrets
// masked), deletions, unmanaged apps, scope; history lists the runs.
#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/digest.h"
#include "cli/commands.h"
#include "engine/desired.h"
#include "engine/normalize.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "sandbox/common/faults.h"
#include "sandbox/consul/consul_emulator.h"
#include "sandbox/marathon/marathon_emulator.h"
#include "spec/loader.h"
#include "store/state_store.h"
#include "support/emulated.h"
#include "support/temp_repo.h"
#include "support/wait.h"

namespace galley {
namespace {

using json = nlohmann::json;

constexpr char kKey[] = "drift-e2e-hmac-key";
constexpr char kDbUrl[] = "postgres://prod-db/app";
constexpr char kScaled[] = "marathon-app:/app/production/test-server";

using galley::testing::EmulatorServer;

class DriftE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("PROD_DATABASE_URL", kDbUrl, 1);
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
    if (std::filesystem::exists(state_.Path("state.db"))) {
      auto store = OpenStore();
      EXPECT_EQ(store->IntegrityCheck().value(), "ok");
    }
  }

  struct Out {
    int code;
    std::string out, err;
  };
  Out Drift(std::vector<std::string> extra = {}) {
    cli::Args args = {
        Repo(),          "--marathon", marathon_->base(),       "--consul",
        consul_->base(), "--state",    state_.Path("state.db"), "--detailed-exitcode"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::ostringstream out, err;
    int code = cli::RunDrift(args, out, err);
    return {code, out.str(), err.str()};
  }
  json DriftJson(std::vector<std::string> extra = {}, int expect = -1) {
    extra.push_back("--json");
    Out o = Drift(extra);
    EXPECT_NE(o.code, cli::kExitError) << o.err;
    if (expect >= 0) {
      EXPECT_EQ(o.code, expect) << o.out << o.err;
    }
    json j = json::parse(o.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << o.out;
    return j;
  }
  Out History(std::vector<std::string> extra = {}) {
    cli::Args args = {"--state", state_.Path("state.db")};
    args.insert(args.end(), extra.begin(), extra.end());
    std::ostringstream out, err;
    int code = cli::RunHistory(args, out, err);
    return {code, out.str(), err.str()};
  }
  std::unique_ptr<store::StateStore> OpenStore() {
    auto store = store::OpenSqliteStore(state_.Path("state.db"));
    EXPECT_TRUE(store.ok()) << store.status().message();
    return std::move(store).value();
  }
  static std::string Repo() { return galley::testing::SourceRoot() + "/examples/reference"; }

  net::ClientResponse Call(const std::string& method, const std::string& url,
                           const std::string& body = "") {
    net::ClientRequest req{method, url};
    req.body = body;
    auto r = http_->Send(req);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : net::ClientResponse{};
  }
  void WaitForDeployments() {
    if (!galley::testing::Eventually([&] {
          return json::parse(Call("GET", marathon_->base() + "/v2/deployments").body).empty();
        }))
      ADD_FAILURE() << "deployments did not finish";
  }
  void Marathon(const std::string& method, const std::string& path, const std::string& body = "") {
    auto r = Call(method, marathon_->base() + path, body);
    EXPECT_TRUE(r.status == 200 || r.status == 201)
        << method << " " << path << ": " << r.status << " " << r.body;
    WaitForDeployments();
  }
  void PutKv(const std::string& key, const std::string& value) {
    EXPECT_EQ(Call("PUT", consul_->base() + "/v1/kv/" + key, value).status, 200);
  }

  // What `galley apply` leaves behind, done by hand: every rendered app and key live, the
  // platform's HMAC key and one applied record per service × environment in Consul.
  void ApplyByHand(bool records = true) {
    spec::LoadResult loaded = spec::LoadRepository(Repo());
    ASSERT_FALSE(loaded.diags.HasErrors()) << loaded.diags.RenderAll();
    engine::DesiredSet desired = engine::BuildDesired(
        loaded.state, engine::EnvironmentSecrets({{"PROD_DATABASE_URL", kDbUrl}}), kKey, {});
    std::string prefix = engine::AppliedPrefix(loaded.state.platform);
    std::map<std::string, json> recs;
    auto record_key = [&](const std::string& env, const std::string& service) {
      return env.empty() || service.empty() ? prefix + "_platform" : prefix + env + "/" + service;
    };
    for (const auto& kv : desired.kv) {
      ASSERT_TRUE(kv.value.has_value()) << kv.key;
      PutKv(kv.key, *kv.value);
      recs[record_key(kv.env, kv.service)]["kv"][kv.key] =
          (kv.secret ? "secret:" : "") + HmacSha256Hex(kKey, *kv.value);
    }
    for (const auto& app : desired.apps) {
      EXPECT_EQ(Call("POST", marathon_->base() + "/v2/apps", app.body.dump()).status, 201)
          << app.id;
      recs[record_key(app.env, app.service)]["app"] = engine::NormalizeApp(app.body);
    }
    WaitForDeployments();
    if (!records) return;
    PutKv(engine::HmacKeyKey(loaded.state.platform), kKey);
    for (auto& [key, rec] : recs) {
      rec["applied_at"] = "2026-01-02T03:04:05.000Z";
      PutKv(key, rec.dump());
    }
  }

  std::unique_ptr<EmulatorServer> marathon_, consul_;
  galley::testing::TempRepo state_;
  std::unique_ptr<net::HttpClient> http_ = net::NewHttpClient();
};

TEST_F(DriftE2eTest, HandScaleIsDriftFirstSeenKeptUntilRevertedByHand) {
  ApplyByHand();
  json clean = DriftJson({}, cli::kExitOk);
  EXPECT_TRUE(clean["drift"].empty()) << clean.dump(2);
  EXPECT_TRUE(clean["unmanaged"].empty()) << clean.dump(2);

  Marathon("PUT", "/v2/apps/app/production/test-server", R"({"instances": 7})");
  json first = DriftJson({}, cli::kExitChanges);
  ASSERT_EQ(first["drift"].size(), 1u) << first.dump(2);
  const json& item = first["drift"][0];
  EXPECT_EQ(item["resource"], kScaled);
  EXPECT_EQ(item["kind"], "marathon_app");
  EXPECT_EQ(item["what"], "changed");
  EXPECT_EQ(item["environment"], "production");
  EXPECT_EQ(item["service"], "test-server");
  EXPECT_EQ(item["fields"], json::parse(R"([{"path": "/instances", "applied": 4, "live": 7}])"));
  EXPECT_EQ(item["pending"], false);
  EXPECT_EQ(item["policy"], "revert");
  EXPECT_EQ(item["live"]["change"], "scale");
  EXPECT_FALSE(item["live"]["last_scaling_at"].get<std::string>().empty());
  EXPECT_EQ(item["live"]["version"], item["live"]["last_scaling_at"]);
  EXPECT_EQ(item["applied_at"], "2026-01-02T03:04:05.000Z");
  std::string first_seen = item["first_seen"];
  EXPECT_FALSE(first_seen.empty());
  EXPECT_EQ(item["last_seen"], first_seen);
  {
    auto open = OpenStore()->OpenDrift();
    ASSERT_TRUE(open.ok());
    ASSERT_EQ(open->size(), 1u);
    EXPECT_EQ((*open)[0].resource, kScaled);
    EXPECT_EQ((*open)[0].first_seen, first_seen);
    EXPECT_EQ(json::parse((*open)[0].fields), item["fields"]);
  }

  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Out text = Drift();
  EXPECT_EQ(text.code, cli::kExitChanges) << text.err;
  EXPECT_NE(text.out.find(
                "  ~ /app/production/test-server  instances: 4 → 7 (applied → live), scaled 20"),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("first seen " + first_seen + ", last seen "), std::string::npos)
      << text.out;
  {
    auto open = OpenStore()->OpenDrift();
    ASSERT_TRUE(open.ok());
    ASSERT_EQ(open->size(), 1u);
    EXPECT_EQ((*open)[0].first_seen, first_seen);
    EXPECT_GT((*open)[0].last_seen, first_seen);
  }

  // Scaled back by hand: the record is resolved, and there is no drift.
  Marathon("PUT", "/v2/apps/app/production/test-server", R"({"instances": 4})");
  json after = DriftJson({}, cli::kExitOk);
  EXPECT_TRUE(after["drift"].empty()) << after.dump(2);
  ASSERT_EQ(after["resolved"].size(), 1u) << after.dump(2);
  EXPECT_EQ(after["resolved"][0],
            json::parse(R"({"resource": "marathon-app:/app/production/test-server",
                                                  "resolution": "reverted"})"));
  EXPECT_TRUE(OpenStore()->OpenDrift().value().empty());
  // A later check has nothing left to resolve.
  EXPECT_TRUE(DriftJson({}, cli::kExitOk)["resolved"].empty());

  // History: the five drift runs, newest first.
  Out h = History();
  ASSERT_EQ(h.code, cli::kExitOk) << h.err;
  EXPECT_NE(h.out.find("ID  KIND   TRIGGER  COMMIT"), std::string::npos) << h.out;
  EXPECT_NE(h.out.find("changes  1 drifted"), std::string::npos) << h.out;
  EXPECT_NE(h.out.find("ok       no drift, 1 resolved"), std::string::npos) << h.out;
  Out hj = History({"--json"});
  ASSERT_EQ(hj.code, cli::kExitOk) << hj.err;
  json runs = json::parse(hj.out, nullptr, false);
  ASSERT_FALSE(runs.is_discarded()) << hj.out;
  EXPECT_EQ(runs["galley_history"], 1);
  ASSERT_EQ(runs["runs"].size(), 5u) << runs.dump(2);
  std::vector<std::string> outcomes;
  for (const auto& r : runs["runs"]) {
    EXPECT_EQ(r["kind"], "drift");
    EXPECT_EQ(r["trigger"], "cli");
    EXPECT_TRUE(r["duration_ms"].is_number()) << r.dump();
    outcomes.push_back(r["outcome"]);
  }
  EXPECT_EQ(outcomes, (std::vector<std::string>{"ok", "ok", "changes", "changes", "ok"}));
  EXPECT_EQ(runs["runs"][2]["summary"]["drift"], 1);
  EXPECT_GT(runs["runs"][0]["id"], runs["runs"][4]["id"]);
  EXPECT_EQ(History({"--limit", "2", "--json"}).out.empty(), false);
  EXPECT_EQ(json::parse(History({"--limit", "2", "--json"}).out)["runs"].size(), 2u);

  // One run in detail: a drift run records no actions.
  std::string id = std::to_string(runs["runs"][2]["id"].get<int64_t>());
  Out one = History({"--run", id});
  ASSERT_EQ(one.code, cli::kExitOk) << one.err;
  EXPECT_NE(one.out.find("run " + id + ": drift (cli)"), std::string::npos) << one.out;
  EXPECT_NE(one.out.find("outcome changes"), std::string::npos) << one.out;
  EXPECT_NE(one.out.find("No actions recorded (a drift run changes nothing)."), std::string::npos)
      << one.out;
  json onej = json::parse(History({"--run", id, "--json"}).out);
  EXPECT_EQ(onej["run"]["id"].get<int64_t>(), std::stoll(id));
  EXPECT_TRUE(onej["journal"].empty());
  Out missing = History({"--run", "999"});
  EXPECT_EQ(missing.code, cli::kExitError);
  EXPECT_NE(missing.err.find("galley history: no run 999 in "), std::string::npos) << missing.err;
}

TEST_F(DriftE2eTest, KvEditsDeletionsUnmanagedAndScope) {
  ApplyByHand();
  // Unmanaged apps and keys are listed, never drift.
  Marathon("POST", "/v2/apps",
           R"({"id": "/app/production/legacy", "cmd": "sleep 1", "instances": 1})");
  PutKv("app/staging/nobody/TOKEN", "do-not-print");
  json unmanaged = DriftJson({}, cli::kExitOk);
  EXPECT_TRUE(unmanaged["drift"].empty()) << unmanaged.dump(2);
  ASSERT_EQ(unmanaged["unmanaged"].size(), 2u) << unmanaged.dump(2);
  EXPECT_EQ(unmanaged["unmanaged"][0]["resource"], "consul-kv:app/staging/nobody/TOKEN");
  EXPECT_EQ(unmanaged["unmanaged"][1]["resource"], "marathon-app:/app/production/legacy");
  EXPECT_EQ(unmanaged["unmanaged"][1]["prune"], false);
  EXPECT_EQ(unmanaged.dump().find("do-not-print"), std::string::npos);

  // Hand edits: a secret, a literal; deletions: a staging app and a production key.
  PutKv("app/production/test-server/DATABASE_URL", "postgres://attacker/db");
  PutKv("app/staging/test-server/LOG_LEVEL", "trace");
  Marathon("DELETE", "/v2/apps/app/staging/api-gateway");
  EXPECT_EQ(
      Call("DELETE", consul_->base() + "/v1/kv/app/production/session-cache/MAXMEMORY").status,
      200);
  Out text = Drift();
  EXPECT_EQ(text.code, cli::kExitChanges) << text.err;
  EXPECT_EQ(text.out.find("attacker"), std::string::npos) << "a secret leaked:\n" << text.out;
  EXPECT_EQ(text.out.find(kDbUrl), std::string::npos) << "a secret leaked:\n" << text.out;
  EXPECT_NE(text.out.find("value: (secret changed), ModifyIndex "), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("value: \"debug\" → \"trace\" (applied → live), ModifyIndex "),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("- /app/staging/api-gateway"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("deleted by hand (galley applied it 2026-01-02T03:04:05.000Z)"),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("Drift: 2 changed, 2 deleted by hand. 2 unmanaged (not drift)."),
            std::string::npos)
      << text.out;

  json j = DriftJson({}, cli::kExitChanges);
  EXPECT_EQ(j.dump().find("attacker"), std::string::npos);
  std::vector<std::string> resources;
  for (const auto& i : j["drift"]) resources.push_back(i["resource"]);
  EXPECT_EQ(resources,
            (std::vector<std::string>{"consul-kv:app/production/session-cache/MAXMEMORY",
                                      "consul-kv:app/production/test-server/DATABASE_URL",
                                      "consul-kv:app/staging/test-server/LOG_LEVEL",
                                      "marathon-app:/app/staging/api-gateway"}));
  EXPECT_EQ(j["drift"][1]["sensitive"], true);
  EXPECT_GT(j["drift"][1]["live"]["modify_index"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["drift"][3]["what"], "deleted");
  EXPECT_EQ(j["counts"]["drift"], 4);
  EXPECT_EQ(j["counts"]["unmanaged"], 2);

  // Scope: --env staging sees staging only; fixing production by hand does not resolve the
  // production records from a staging run.
  PutKv("app/production/test-server/DATABASE_URL", kDbUrl);
  json staging = DriftJson({"--env", "staging"}, cli::kExitChanges);
  ASSERT_EQ(staging["drift"].size(), 2u) << staging.dump(2);
  EXPECT_TRUE(staging["resolved"].empty()) << staging.dump(2);
  EXPECT_EQ(OpenStore()->OpenDrift().value().size(), 4u);
  json all = DriftJson({}, cli::kExitChanges);
  ASSERT_EQ(all["resolved"].size(), 1u) << all.dump(2);
  EXPECT_EQ(all["resolved"][0]["resource"], "consul-kv:app/production/test-server/DATABASE_URL");

  Out md = Drift({"--markdown"});
  EXPECT_EQ(md.code, cli::kExitChanges);
  EXPECT_NE(md.out.find("### galley drift: `reference`"), std::string::npos) << md.out;
  EXPECT_NE(md.out.find("| `-` | `/app/staging/api-gateway` | staging | api-gateway | deleted by "
                        "hand | revert |"),
            std::string::npos)
      << md.out;
}

TEST_F(DriftE2eTest, WhereNothingWasAppliedThereIsNoDrift) {
  ApplyByHand(/*records=*/false);
  Marathon("PUT", "/v2/apps/app/production/test-server", R"({"instances": 7})");
  Out o = Drift();
  EXPECT_EQ(o.code, cli::kExitOk) << o.out << o.err;
  EXPECT_NE(o.out.find("galley has applied nothing to platform reference yet (no key at "
                       "galley/reference/hmac-key): "
                       "nothing can have drifted"),
            std::string::npos)
      << o.out;
  EXPECT_NE(o.out.find("No drift"), std::string::npos) << o.out;
}

TEST_F(DriftE2eTest, UsageErrorsAndAnEmptyHistory) {
  std::ostringstream out, err;
  EXPECT_EQ(cli::RunDrift({"--json", "--markdown"}, out, err), cli::kExitError);
  EXPECT_NE(err.str().find("galley drift: --json and --markdown are exclusive"), std::string::npos);
  EXPECT_EQ(cli::RunDrift({"--help"}, out, err), cli::kExitOk);
  EXPECT_NE(out.str().find("usage: galley drift [DIR]"), std::string::npos);

  Out empty = History();
  EXPECT_EQ(empty.code, cli::kExitOk);
  EXPECT_NE(empty.out.find("No runs recorded: there is no state store at "), std::string::npos)
      << empty.out;
  EXPECT_FALSE(std::filesystem::exists(state_.Path("state.db"))) << "history created a store";
  EXPECT_EQ(json::parse(History({"--json"}).out)["runs"], json::array());
  Out bad = History({"--limit", "0"});
  EXPECT_EQ(bad.code, cli::kExitError);
  EXPECT_NE(bad.err.find("galley history: --limit wants a positive number"), std::string::npos)
      << bad.err;
}

// A galley that crashed mid-run (here: a child process that begins a run and exits) shows
// as interrupted; one still running shows as running. No emulator threads: fork() is safe.
TEST(HistoryE2eTest, CrashedRunsShowAsInterruptedAndRunningOnesAsRunning) {
  galley::testing::TempRepo dir;
  std::string path = dir.Path("state.db");
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto store = store::OpenSqliteStore(path);
    if (!store.ok() ||
        !(*store)->BeginRun("apply", "cli", "0123456789abcdef0123", "ci@runner").ok())
      ::_exit(2);
    ::_exit(0);  // no FinishRun: a crash
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  {
    auto store = store::OpenSqliteStore(path);
    ASSERT_TRUE(store.ok());
    auto run = (*store)->BeginRun("plan", "timer", "", "me@here");
    ASSERT_TRUE(run.ok());
  }
  std::ostringstream out, err;
  ASSERT_EQ(cli::RunHistory({"--state", path}, out, err), cli::kExitOk) << err.str();
  std::string text = out.str();
  EXPECT_NE(text.find("2   plan   timer    -             me@here"), std::string::npos) << text;
  EXPECT_NE(text.find("running"), std::string::npos) << text;
  EXPECT_NE(text.find("1   apply  cli      0123456789ab  ci@runner"), std::string::npos) << text;
  EXPECT_NE(text.find("interrupted"), std::string::npos) << text;
  std::ostringstream js;
  ASSERT_EQ(cli::RunHistory({"--state", path, "--json"}, js, err), cli::kExitOk);
  json doc = json::parse(js.str());
  ASSERT_EQ(doc["runs"].size(), 2u);
  EXPECT_EQ(doc["runs"][0]["outcome"], "running");
  EXPECT_TRUE(doc["runs"][0]["duration_ms"].is_null());
  EXPECT_EQ(doc["runs"][1]["outcome"], "interrupted");
}

// Read-only runs (issue #10): history opens the store read-only, so it creates no state
// directory, reads a store this user cannot write, and names a --state that is not a
// regular file or sits in a directory that does not exist; writers refuse such paths too.
TEST(HistoryE2eTest, HistoryOnlyReadsAndNamesBadStatePaths) {
  galley::testing::TempRepo dir;
  std::ostringstream out, err;
  // No store under $HOME: "no runs yet", and ~/.local/state/galley is not created.
  std::string home = std::getenv("HOME") ? std::getenv("HOME") : "";
  std::string xdg = std::getenv("XDG_STATE_HOME") ? std::getenv("XDG_STATE_HOME") : "";
  ::setenv("HOME", dir.Path("home").c_str(), 1);
  ::unsetenv("XDG_STATE_HOME");
  int code = cli::RunHistory({}, out, err);
  ::setenv("HOME", home.c_str(), 1);
  if (!xdg.empty()) ::setenv("XDG_STATE_HOME", xdg.c_str(), 1);
  EXPECT_EQ(code, cli::kExitOk) << err.str();
  EXPECT_NE(out.str().find("No runs recorded"), std::string::npos) << out.str();
  EXPECT_FALSE(std::filesystem::exists(dir.Path("home"))) << "history created a state directory";

  struct Out {
    int code;
    std::string out, err;
  };
  auto history = [](std::vector<std::string> args) {
    std::ostringstream o, e;
    int c = cli::RunHistory(args, o, e);
    return Out{c, o.str(), e.str()};
  };
  Out devnull = history({"--state", "/dev/null"});
  EXPECT_EQ(devnull.code, cli::kExitError);
  EXPECT_EQ(devnull.err, "galley history: state file /dev/null is not a regular file\n");
  Out folder = history({"--state", dir.Path("")});
  EXPECT_EQ(folder.code, cli::kExitError);
  EXPECT_NE(folder.err.find("is not a regular file (a directory)"), std::string::npos)
      << folder.err;
  std::string nowhere = dir.Path("missing/sub/state.db");
  Out missing = history({"--state", nowhere});
  EXPECT_EQ(missing.code, cli::kExitError);
  EXPECT_EQ(missing.err, "galley history: --state " + nowhere + ": the directory " +
                             dir.Path("missing/sub") + " does not exist\n");
  EXPECT_FALSE(std::filesystem::exists(dir.Path("missing")));

  // A writer given /dev/null says so instead of "migrate: disk I/O error".
  std::ostringstream pout, perr;
  cli::RunPlan({galley::testing::SourceRoot() + "/examples/reference", "--state", "/dev/null",
                "--marathon", "http://127.0.0.1:9", "--consul", "http://127.0.0.1:9"},
               pout, perr);
  EXPECT_NE(perr.str().find("galley plan: state file /dev/null is not a regular file"),
            std::string::npos)
      << perr.str();

  // Someone else's store (mode 0644, in a directory this user cannot write), read by nobody.
  if (::geteuid() != 0) return;
  std::string shared = dir.Path("shared");
  std::filesystem::create_directories(shared);
  std::string path = shared + "/state.db";
  {
    auto store = store::OpenSqliteStore(path);
    ASSERT_TRUE(store.ok());
    auto run = (*store)->BeginRun("apply", "cli", "", "root@host");
    ASSERT_TRUE(run.ok());
    ASSERT_TRUE((*store)->FinishRun(*run, "ok", "{}").ok());
  }
  for (std::string p = shared; p.size() > 1 && p != "/tmp";
       p = std::filesystem::path(p).parent_path().string()) {
    ::chmod(p.c_str(), 0755);
  }
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
    std::ostringstream o, e;
    int c = cli::RunHistory({"--state", path}, o, e);
    if (c != cli::kExitOk) std::fprintf(stderr, "%s", e.str().c_str());
    ::_exit(c == cli::kExitOk && o.str().find("root@host") != std::string::npos ? 0 : 4);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "history refused a store it only needs to read";
  EXPECT_FALSE(std::filesystem::exists(path + "-shm"));
}

}  // namespace
}  // namespace galley
