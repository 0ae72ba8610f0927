// SPDX-License-Identifier: Apache-2.0
#include "support/temp_repo.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <stdlib.h>

namespace galley::testing {

const char kMinimalPlatform[] = R"(apiVersion: galley/v1
name: test
marathon: {urls: [http://127.0.0.1:8080]}
consul: {url: http://127.0.0.1:8500}
registry: registry.local
wrapper: [service-wrapper.sh, "dockerhost:18080", "dockerhost:18500"]
environments:
  production: {}
  staging: {port_prefix: "1", host_prefix: "staging-"}
haproxy:
  instances:
    - {name: internal, role: internal}
mesos: {docker_stop_timeout: 30s}
)";

const char kMinimalService[] = R"(name: web
image: web
command: [./web]
resources: {cpus: 0.1, mem: 128}
ports:
  - {container: 8080, expose: http}
health: {path: /health, grace: 5s, interval: 10s, max_failures: 3}
environments:
  production: {tag: v1, instances: 2}
  staging: {tag: v2, instances: 1}
)";

TempRepo::TempRepo() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "galley-test-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
}

TempRepo::~TempRepo() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void TempRepo::Write(const std::string& relative, const std::string& content) const {
  std::filesystem::path p = std::filesystem::path(dir_) / relative;
  std::filesystem::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << content;
}

std::string SourceRoot() { return GALLEY_SOURCE_ROOT; }

std::string ReadText(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace galley::testing
