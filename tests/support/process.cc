// SPDX-License-Identifier: Apache-2.0
#include "support/process.h"

#include <filesystem>

#include <unistd.h>

#include "base/subprocess.h"

namespace galley::testing {

ProcessResult RunProcess(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env) {
  ProcessResult result;
  auto r = RunCommand(argv, {.env = env, .merge_stderr = true});
  if (!r.ok()) {
    result.output = "cannot start " + argv[0];
    return result;
  }
  result.exit_code = r->exit_code;
  result.output = std::move(r->out);
  return result;
}

std::string FindProgram(const std::string& name) {
  const char* path = getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  dirs += ":/usr/sbin:/sbin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::filesystem::path p = std::filesystem::path(dirs.substr(start, end - start)) / name;
    if (::access(p.c_str(), X_OK) == 0) return p.string();
    start = end + 1;
  }
  return "";
}

}  // namespace galley::testing
