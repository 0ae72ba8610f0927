// SPDX-License-Identifier: Apache-2.0
// Runs a program from an argv vector — never through a shell — and captures its output.
// For the few tools galley drives (git). Thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/status.h"

namespace galley {

struct ProcessOutput {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;     // stdout
  std::string err;     // stderr
};

struct RunOptions {
  std::string stdout_path;                 // when set, receives stdout instead of `out`
  std::map<std::string, std::string> env;  // set (or replace) in the child's environment
  bool merge_stderr = false;               // stderr into the same stream as stdout, interleaved
};

// Fails with kUnavailable when the program cannot be started; a non-zero exit is not a
// failure at this level.
Result<ProcessOutput> RunCommand(const std::vector<std::string>& argv,
                                 const RunOptions& options = {});

}  // namespace galley
