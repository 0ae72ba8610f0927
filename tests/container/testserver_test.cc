// SPDX-License-Identifier: Apache-2.0
// galley-testserver, the built binary, over loopback: environment page, health toggles,
// draining on SIGTERM, exit on a second SIGTERM, argument errors.
#include <gtest/gtest.h>

#include "container/child.h"
#include "support/process.h"

namespace galley::container_test {
namespace {

const std::string kServer = GALLEY_TESTSERVER_BIN;

struct Server {
  explicit Server(std::map<std::string, std::string> env,
                  std::vector<std::string> extra_args = {}) {
    port = FreePort();
    env.emplace("PORT0", std::to_string(port));
    std::vector<std::string> argv{kServer};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    child = std::make_unique<Child>(argv, env);
    listening = child->WaitForOutput(
        "galley-testserver listening on 127.0.0.1:" + std::to_string(port), 10s);
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  }
  int port = 0;
  std::unique_ptr<Child> child;
  bool listening = false;
};

TEST(TestServerTest, ShowsItsEnvironmentSorted) {
  Server s({{"ZZ_LAST", "z"}, {"AA_FIRST", "a b=c"}, {"SERVICE_NAME", "test-server"}},
           {"/app/server.js"});
  ASSERT_TRUE(s.listening) << s.child->Output();
  Reply r = Get(s.Url("/"));
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("AA_FIRST=a b=c\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("SERVICE_NAME=test-server\n"), std::string::npos);
  EXPECT_NE(r.body.find("PORT0=" + std::to_string(s.port) + "\n"), std::string::npos);
  EXPECT_LT(r.body.find("AA_FIRST="), r.body.find("SERVICE_NAME="));
  EXPECT_LT(r.body.find("SERVICE_NAME="), r.body.find("ZZ_LAST="));
  EXPECT_EQ(Get(s.Url("/nothing-here")).status, 404);
}

TEST(TestServerTest, FailAndRestoreToggleTheHealthCheck) {
  Server s({});
  ASSERT_TRUE(s.listening) << s.child->Output();
  EXPECT_EQ(Get(s.Url("/healthcheck")).status, 200);
  EXPECT_EQ(Get(s.Url("/healthcheck")).body, "ok\n");
  EXPECT_EQ(Get(s.Url("/fail")).status, 200);
  Reply failing = Get(s.Url("/healthcheck"));
  EXPECT_EQ(failing.status, 503);
  EXPECT_EQ(failing.body, "failing\n");
  EXPECT_EQ(Get(s.Url("/"), "GET").status, 200);  // still serving
  EXPECT_EQ(Get(s.Url("/restore"), "POST").status, 200);
  EXPECT_EQ(Get(s.Url("/healthcheck")).status, 200);
}

TEST(TestServerTest, SigtermFailsHealthButKeepsServingUntilASecondSigterm) {
  Server s({});
  ASSERT_TRUE(s.listening) << s.child->Output();
  s.child->Signal(SIGTERM);
  EXPECT_TRUE(WaitUntil([&] { return Get(s.Url("/healthcheck")).status == 503; }, 20s));
  EXPECT_EQ(Get(s.Url("/healthcheck")).body, "draining\n");
  EXPECT_EQ(Get(s.Url("/restore")).status, 200);  // /restore does not undo draining
  EXPECT_EQ(Get(s.Url("/healthcheck")).status, 503);
  EXPECT_EQ(Get(s.Url("/")).status, 200);
  EXPECT_FALSE(s.child->Wait(300ms).has_value());
  s.child->Signal(SIGTERM);
  EXPECT_EQ(s.child->ExitCode(20s), 0) << s.child->Output();
  EXPECT_EQ(Get(s.Url("/")).status, 0);  // gone
}

TEST(TestServerTest, SigintExitsAndDrainExitAfterEndsTheDrain) {
  Server a({});
  ASSERT_TRUE(a.listening);
  a.child->Signal(SIGINT);
  EXPECT_EQ(a.child->ExitCode(20s), 0);

  Server b({}, {"--drain-exit-after", "1"});
  ASSERT_TRUE(b.listening) << b.child->Output();
  b.child->Signal(SIGTERM);
  EXPECT_TRUE(WaitUntil([&] { return Get(b.Url("/healthcheck")).status == 503; }, 20s));
  EXPECT_EQ(b.child->ExitCode(20s), 0) << b.child->Output();
}

TEST(TestServerTest, PortComesFromFlagThenPort0ThenPort) {
  int port = FreePort();
  Child c({kServer, "--port", std::to_string(port), "ignored"}, {{"PORT0", "1"}, {"PORT", "2"}});
  ASSERT_TRUE(c.WaitForOutput("listening on 127.0.0.1:" + std::to_string(port), 10s)) << c.Output();

  Child any({kServer, "--port", "0"}, {});
  ASSERT_TRUE(any.WaitForOutput("listening on 127.0.0.1:", 10s)) << any.Output();

  int p2 = FreePort();
  Child from_port({kServer}, {{"PORT", std::to_string(p2)}, {"PORT0", ""}});
  EXPECT_TRUE(from_port.WaitForOutput("listening on 127.0.0.1:" + std::to_string(p2), 10s))
      << from_port.Output();
}

TEST(TestServerTest, BadArgumentsFailWithOneLine) {
  auto no_port = galley::testing::RunProcess({kServer}, {{"PORT0", ""}, {"PORT", ""}});
  EXPECT_EQ(no_port.exit_code, 1);
  EXPECT_EQ(no_port.output, "galley-testserver: no port: pass --port N or set PORT0 or PORT\n");
  auto bad = galley::testing::RunProcess({kServer, "--port", "99999"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("port must be a number from 0 to 65535"), std::string::npos)
      << bad.output;
  auto unknown = galley::testing::RunProcess({kServer, "--bogus"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.output.find("unknown option --bogus"), std::string::npos);
}

}  // namespace
}  // namespace galley::container_test
