// SPDX-License-Identifier: Apache-2.0
// What `plan`, `apply` and `drift` share on the command line: the options that say which
// repository and platform to talk to, and colour. The plumbing behind them (the workspace, one
// observation, the planner's input) is workspace/workspace.h, shared with server/; its names
// are brought into galley::cli so the commands read as before.
#pragma once

#include <iosfwd>
#include <map>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "workspace/workspace.h"

namespace galley::cli {

using workspace::AgentStatusOf;
using workspace::AnnotateFailures;
using workspace::BuildPlanInput;
using workspace::CreateHmacKey;
using workspace::DescribePlan;
using workspace::ErrorsOnly;
using workspace::GitCommit;
using workspace::GitTree;
using workspace::ObservationsOf;
using workspace::Observed;
using workspace::ObservedInput;
using workspace::ObserveInput;
using workspace::ObservePlatform;
using workspace::OpenConnections;
using workspace::OpenWorkspace;
using workspace::Origin;
using workspace::RandomKey;
using workspace::RecordedRun;
using workspace::RetentionOf;
using workspace::TargetOptions;
using workspace::Who;
using workspace::Workspace;

// Declares the shared options in a command's table: --env and --target (when `select`),
// --marathon, --consul, --state and --rev (when `rev`).
struct TargetOptionSet {
  bool select = true;
  bool rev = true;
};
void AddTargetOptions(CommandLine& cl, TargetOptions* o, TargetOptionSet set = {});

// GALLEY_TRACE=1: each phase's wall and CPU time (all threads: user + system) on stderr,
// "galley plan: observe 1455 ms (cpu 820 ms)". Off, it costs one branch per phase.
class PhaseTrace {
 public:
  PhaseTrace(const std::map<std::string, std::string>& env, const char* command, std::ostream& err);
  void operator()(const char* phase);

 private:
  bool on_;
  const char* command_;
  std::ostream* err_;
  double wall_ms_ = 0;
  double cpu_ms_ = 0;
};

// Colour only on a terminal: not with --no-color, NO_COLOR set, or output not stdout.
bool UseColor(bool no_color, const std::map<std::string, std::string>& env,
              const std::ostream& out);

}  // namespace galley::cli
