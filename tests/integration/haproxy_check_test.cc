// SPDX-License-Identifier: Apache-2.0
// Every HAProxy config rendered for the examples passes Debian's real `haproxy -c`, with
// no warnings, the certificate found through ${GALLEY_CERT_DIR}.
#include <gtest/gtest.h>

#include "base/file_io.h"
#include "render/haproxy_config.h"
#include "spec/instances_file.h"
#include "spec/loader.h"
#include "support/process.h"
#include "support/temp_repo.h"

namespace galley {
namespace {

class HaproxyCheckTest : public ::testing::TestWithParam<const char*> {};

TEST_P(HaproxyCheckTest, RenderedConfigsPassHaproxyCheck) {
  std::string haproxy = testing::FindProgram("haproxy");
  ASSERT_FALSE(haproxy.empty()) << "haproxy is not installed: run ci/install-deps.sh";
  std::string root = testing::SourceRoot();
  auto loaded = spec::LoadRepository(root + "/" + GetParam());
  ASSERT_FALSE(loaded.diags.HasErrors()) << loaded.diags.RenderAll();
  Diagnostics d;
  auto live = spec::LoadInstancesFile(root + "/tests/testdata/instances.json", d);
  ASSERT_TRUE(live) << d.RenderAll();
  testing::TempRepo tmp;
  ASSERT_FALSE(loaded.state.platform.haproxy.empty());
  for (const auto& instance : loaded.state.platform.haproxy) {
    for (const model::Instances& servers : {model::Instances{}, *live}) {
      std::string path = tmp.Path(instance.name + ".cfg");
      ASSERT_TRUE(
          WriteFileAtomic(path, render::RenderHaproxyConfig(loaded.state, instance, servers)).ok());
      auto r = testing::RunProcess({haproxy, "-c", "-f", path},
                                   {{"GALLEY_CERT_DIR", root + "/tests/testdata/certs"}});
      EXPECT_EQ(r.exit_code, 0) << instance.name << ":\n" << r.output;
      EXPECT_EQ(r.output.find("[WARNING]"), std::string::npos) << instance.name << ":\n"
                                                               << r.output;
      EXPECT_EQ(r.output.find("[ALERT]"), std::string::npos) << instance.name << ":\n" << r.output;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Examples, HaproxyCheckTest,
                         ::testing::Values("examples/reference", "examples/multi-port"));

TEST(HaproxyCheckNegativeTest, HaproxyRejectsABrokenConfigSoThePositiveTestMeansSomething) {
  std::string haproxy = testing::FindProgram("haproxy");
  ASSERT_FALSE(haproxy.empty());
  testing::TempRepo tmp;
  tmp.Write("bad.cfg",
            "defaults\n    mode http\nfrontend f\n    bind :1\n    use_backend nosuch\n");
  auto r = testing::RunProcess({haproxy, "-c", "-f", tmp.Path("bad.cfg")});
  EXPECT_NE(r.exit_code, 0) << r.output;
}

}  // namespace
}  // namespace galley
