// SPDX-License-Identifier: Apache-2.0
// galley-wrapper, the built binary, against a fake Consul (KV recurse with base64 values and
// blocking queries) and a fake Marathon that records restart requests. The commands under
// test are /usr/bin/env and small /bin/sh fixtures, passed as argv.
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "container/child.h"
#include "container/fake_consul.h"
#include "container/kv_env.h"
#include "net/http_server.h"
#include "support/process.h"

namespace galley::container_test {
namespace {

const std::string kWrapper = GALLEY_WRAPPER_BIN;

// Records `POST /v2/apps/<id>/restart`; answers 409 for the first `conflicts` of them.
class FakeMarathon {
 public:
  explicit FakeMarathon(int conflicts = 0) : conflicts_(conflicts) {
    server_ = std::move(net::HttpServer::Start({}, [this](const net::HttpRequest& r) {
                std::lock_guard<std::mutex> lock(mu_);
                posts_.push_back(r.method + " " + r.path);
                if (conflicts_ > 0) {
                  --conflicts_;
                  return net::HttpResponse::Json(
                      409, R"({"message":"App is locked by one or more deployments."})");
                }
                return net::HttpResponse::Json(
                    200, R"({"deploymentId":"d-1","version":"2024-01-01T00:00:00.000Z"})");
              })).value();
  }
  ~FakeMarathon() { server_->Stop(); }
  std::string Address() const { return "127.0.0.1:" + std::to_string(server_->port()); }
  std::vector<std::string> posts() {
    std::lock_guard<std::mutex> lock(mu_);
    return posts_;
  }

 private:
  std::mutex mu_;
  int conflicts_;
  std::vector<std::string> posts_;
  std::unique_ptr<net::HttpServer> server_;
};

TEST(WrapperTest, ExportsEveryKeyUnderThePrefixAsAnEnvironmentVariable) {
  FakeConsul consul;
  FakeMarathon marathon;
  consul.Set("app/x/y/GREETING", "hello world");
  consul.Set("app/x/y/NUM", "42");
  consul.Set("app/x/y/PATH_LIKE", "/a:/b");
  consul.Set("app/x/y/bad-name", "skipped");
  consul.Set("app/x/y/sub/NESTED", "n");
  consul.Set("app/x/yz/OTHER", "not under the prefix");
  auto r = galley::testing::RunProcess(
      {kWrapper, marathon.Address(), "http://" + consul.Address(), "app/x/y", "/usr/bin/env"},
      {{"NUM", "inherited"}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\nGREETING=hello world\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\nNUM=42\n"), std::string::npos);
  EXPECT_EQ(r.output.find("NUM=inherited"), std::string::npos);
  EXPECT_NE(r.output.find("\nPATH_LIKE=/a:/b\n"), std::string::npos);
  EXPECT_NE(r.output.find("\nNESTED=n\n"), std::string::npos);
  EXPECT_EQ(r.output.find("OTHER="), std::string::npos);
  EXPECT_NE(
      r.output.find(
          "galley-wrapper: skipping key 'app/x/y/bad-name': 'bad-name' is not a valid environment "
          "variable name\n"),
      std::string::npos);
  EXPECT_NE(r.output.find("galley-wrapper: exporting 4 variable(s) from app/x/y/: GREETING, "
                          "NESTED, NUM, PATH_LIKE\n"),
            std::string::npos);
  EXPECT_EQ(r.output.find("hello world\ngalley"), std::string::npos);  // values are not logged
  EXPECT_TRUE(marathon.posts().empty());
}

TEST(WrapperTest, ShellChildSeesTheValuesAndNoKeysIsFine) {
  FakeConsul consul;
  FakeMarathon marathon;
  consul.Set("app/x/y/KEY", "it's \"quoted\" $NOT_EXPANDED");
  auto r = galley::testing::RunProcess({kWrapper, marathon.Address(), consul.Address(), "/app/x/y/",
                                        "/bin/sh", "-c", "echo \"[$KEY]\""});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("[it's \"quoted\" $NOT_EXPANDED]\n"), std::string::npos) << r.output;

  auto empty = galley::testing::RunProcess(
      {kWrapper, marathon.Address(), consul.Address(), "app/none", "/bin/sh", "-c", "echo ran"});
  EXPECT_EQ(empty.exit_code, 0) << empty.output;
  EXPECT_NE(empty.output.find("exporting 0 variable(s) from app/none/\nran\n"), std::string::npos)
      << empty.output;
}

TEST(WrapperTest, ExitStatusPropagates) {
  FakeConsul consul;
  FakeMarathon marathon;
  auto seven = galley::testing::RunProcess(
      {kWrapper, marathon.Address(), consul.Address(), "app/x", "/bin/sh", "-c", "exit 7"});
  EXPECT_EQ(seven.exit_code, 7) << seven.output;
  auto killed = galley::testing::RunProcess(
      {kWrapper, marathon.Address(), consul.Address(), "app/x", "/bin/sh", "-c", "kill -KILL $$"});
  EXPECT_EQ(killed.exit_code, 128 + SIGKILL) << killed.output;
  auto missing = galley::testing::RunProcess(
      {kWrapper, marathon.Address(), consul.Address(), "app/x", "no-such-program-galley"});
  EXPECT_EQ(missing.exit_code, 127);
  EXPECT_NE(missing.output.find(
                "galley-wrapper: cannot execute no-such-program-galley: not found on PATH\n"),
            std::string::npos)
      << missing.output;
}

TEST(WrapperTest, ForwardsSigtermToTheChild) {
  FakeConsul consul;
  FakeMarathon marathon;
  Child wrapper({kWrapper, marathon.Address(), consul.Address(), "app/x", "/bin/sh", "-c",
                 "trap 'echo got-term; exit 3' TERM; echo ready; while true; do sleep 0.05; done"},
                {});
  ASSERT_TRUE(wrapper.WaitForOutput("ready\n", 10s)) << wrapper.Output();
  wrapper.Signal(SIGTERM);  // the wrapper only: the child is not signalled directly
  EXPECT_EQ(wrapper.ExitCode(10s), 3) << wrapper.Output();
  EXPECT_NE(wrapper.Output().find("got-term\n"), std::string::npos);
}

TEST(WrapperTest, ConsulDownIsAClearErrorAfterBoundedRetries) {
  FakeMarathon marathon;
  int dead_port = FreePort();
  auto start = std::chrono::steady_clock::now();
  auto r = galley::testing::RunProcess({kWrapper, "--consul-timeout", "1", marathon.Address(),
                                        "127.0.0.1:" + std::to_string(dead_port), "app/x",
                                        "/bin/sh", "-c", "echo ran"});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output.find("ran"), std::string::npos);
  EXPECT_EQ(r.output.rfind("galley-wrapper: cannot read Consul KV app/x/ at http://127.0.0.1:" +
                               std::to_string(dead_port) + " after 1 s: ",
                           0),
            0u)
      << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 20s);  // bounded: gives up after about --consul-timeout (generous for sanitizers)
}

TEST(WrapperTest, BadArgumentsFailWithExit1) {
  auto few = galley::testing::RunProcess({kWrapper, "m:1", "c:2", "app/x"});
  EXPECT_EQ(few.exit_code, 1);
  EXPECT_NE(few.output.find(
                "galley-wrapper: expected <marathon> <consul> <prefix> <command> [args...], got 3"),
            std::string::npos)
      << few.output;
  auto bad_url = galley::testing::RunProcess({kWrapper, "https://m:1", "c:2", "app/x", "true"});
  EXPECT_EQ(bad_url.exit_code, 1);
  EXPECT_NE(bad_url.output.find("only http:// is supported"), std::string::npos);
  auto no_app = galley::testing::RunProcess({kWrapper, "--watch", "m:1", "c:2", "app/x", "true"},
                                            {{"MARATHON_APP_ID", ""}});
  EXPECT_EQ(no_app.exit_code, 1);
  EXPECT_NE(no_app.output.find("--watch needs MARATHON_APP_ID"), std::string::npos);
  auto bad_opt = galley::testing::RunProcess(
      {kWrapper, "--consul-timeout", "soon", "m:1", "c:2", "app/x", "true"});
  EXPECT_EQ(bad_opt.exit_code, 1);
}

// Issue #10: `galley-wrapper --help` said "unknown option".
TEST(WrapperTest, HelpDescribesArgumentsOptionsAndExitStatus) {
  for (const char* flag : {"--help", "-h"}) {
    auto r = galley::testing::RunProcess({kWrapper, flag});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.output.find("unknown option"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("usage: galley-wrapper"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("--consul-timeout SECONDS"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("MARATHON_APP_ID"), std::string::npos) << r.output;
  }
  auto bad = galley::testing::RunProcess(
      {kWrapper, "--consul-timeout=soon", "m:1", "c:2", "app/x", "true"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("--consul-timeout needs a number of seconds, got 'soon'"),
            std::string::npos)
      << bad.output;
}

TEST(WrapperTest, WatchRestartsThroughMarathonOncePerChange) {
  FakeConsul consul;
  FakeMarathon marathon;
  consul.Set("app/x/y/LEVEL", "info");
  Child wrapper(
      {kWrapper, "--watch", "--debounce", "0.3", "--watch-wait", "2", marathon.Address(),
       consul.Address(), "app/x/y", "/bin/sh", "-c", "echo \"level=$LEVEL\"; exec sleep 60"},
      {{"MARATHON_APP_ID", "/app/x/y"}});
  ASSERT_TRUE(wrapper.WaitForOutput("level=info\n", 10s)) << wrapper.Output();
  ASSERT_TRUE(WaitUntil([&] { return consul.blocking_queries() >= 1; }, 20s));

  // An idempotent write moves the index but not the values: no restart. The wrapper's next
  // blocking query at the new index shows it has looked at the write; a restart would follow
  // within the debounce (0.3 s), so the check waits past it.
  uint64_t index = consul.Set("app/x/y/LEVEL", "info");
  ASSERT_TRUE(consul.WaitForBlockingQueryAt(index, 20s)) << wrapper.Output();
  std::this_thread::sleep_for(800ms);
  EXPECT_TRUE(marathon.posts().empty());

  // Two quick writes inside the debounce window: one restart. The wrapper may re-arm its
  // blocking query before the debounce ends (the order depends on scheduling), so the restart
  // is waited for, then the count checked once a further debounce has passed.
  consul.Set("app/x/y/LEVEL", "debug");
  index = consul.Set("app/x/y/EXTRA", "1");
  ASSERT_TRUE(WaitUntil([&] { return !marathon.posts().empty(); }, 20s)) << wrapper.Output();
  ASSERT_TRUE(consul.WaitForBlockingQueryAt(index, 20s)) << wrapper.Output();
  std::this_thread::sleep_for(800ms);
  ASSERT_EQ(marathon.posts().size(), 1u) << wrapper.Output();
  EXPECT_EQ(marathon.posts()[0], "POST /v2/apps/app/x/y/restart");
  EXPECT_NE(wrapper.Output().find("asked Marathon to restart /app/x/y (deployment d-1)"),
            std::string::npos);

  // A further change: one more.
  index = consul.Set("app/x/y/LEVEL", "warn");
  ASSERT_TRUE(WaitUntil([&] { return marathon.posts().size() >= 2; }, 20s)) << wrapper.Output();
  ASSERT_TRUE(consul.WaitForBlockingQueryAt(index, 20s)) << wrapper.Output();
  std::this_thread::sleep_for(800ms);
  EXPECT_EQ(marathon.posts().size(), 2u);

  wrapper.Signal(SIGTERM);
  EXPECT_EQ(wrapper.ExitCode(20s), 128 + SIGTERM) << wrapper.Output();
}

TEST(WrapperTest, WatchRetriesARestartThatMarathonRefusesWhileADeploymentRuns) {
  FakeConsul consul;
  FakeMarathon marathon(/*conflicts=*/1);
  Child wrapper({kWrapper, "--watch", "--debounce", "0", "--watch-wait", "2", marathon.Address(),
                 consul.Address(), "app/x/y", "/bin/sh", "-c", "exec sleep 60"},
                {{"MARATHON_APP_ID", "/app/x/y"}});
  ASSERT_TRUE(WaitUntil([&] { return consul.blocking_queries() >= 1; }, 20s)) << wrapper.Output();
  uint64_t index = consul.Set("app/x/y/NEW", "1");
  // The refused request, one retry after a 1 s back-off, then back to watching.
  ASSERT_TRUE(consul.WaitForBlockingQueryAt(index, 30s)) << wrapper.Output();
  EXPECT_NE(wrapper.Output().find("a deployment is already running for /app/x/y"),
            std::string::npos);
  EXPECT_EQ(marathon.posts().size(), 2u);
}

TEST(KvEnvTest, DecodesNamesValuesAndSkipsWhatCannotBeAnEnvironmentVariable) {
  using container::EnvironmentFromKv;
  EXPECT_EQ(*container::DecodeBase64("aGVsbG8gd29ybGQ="), "hello world");
  EXPECT_EQ(*container::DecodeBase64("YQ"), "a");
  EXPECT_FALSE(container::DecodeBase64("a$==").ok());
  EXPECT_TRUE(container::IsEnvName("_A1"));
  EXPECT_FALSE(container::IsEnvName("1A"));
  EXPECT_FALSE(container::IsEnvName("A-B"));
  EXPECT_EQ(container::NormalizePrefix("//app/x/"), "app/x");

  auto env = EnvironmentFromKv(R"([
    {"Key":"app/x/","Value":null},
    {"Key":"app/x/A/DEEP","Value":"ZA=="},
    {"Key":"app/x/DEEP","Value":"dG9w"},
    {"Key":"app/x/EMPTY","Value":null},
    {"Key":"app/x/NUL","Value":"YQBi"},
    {"Key":"app/x/dir/","Value":null}])",
                               "app/x");
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env->vars.at("DEEP"), "top");  // nearer the prefix wins
  EXPECT_EQ(env->vars.at("EMPTY"), "");
  EXPECT_FALSE(env->vars.count("NUL"));
  EXPECT_EQ(env->warnings.size(), 2u);
  EXPECT_FALSE(EnvironmentFromKv("{}", "app/x").ok());
  EXPECT_FALSE(EnvironmentFromKv("[{\"Value\":1}]", "app/x").ok());
}

}  // namespace
}  // namespace galley::container_test
