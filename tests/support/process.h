// SPDX-License-Identifier: Apache-2.0
// Runs a program with an argv vector (never through a shell), extra environment
// variables, and its stdout+stderr captured. For tests that drive real tools (haproxy -c).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace galley::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 when it could not start or was killed by a signal
  std::string output;  // stdout and stderr, interleaved
};

ProcessResult RunProcess(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env = {});

// Returns the path of `name` on PATH, or "" when absent.
std::string FindProgram(const std::string& name);

}  // namespace galley::testing
