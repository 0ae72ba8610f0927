// SPDX-License-Identifier: Apache-2.0
// What `plan`, `apply` and `drift` share on the command line: the options that say which
// repository and platform to talk to, and colour. The plumbing behind them (the workspace, one
// observation, the planner's input) is workspace/workspace.h, shared with server/; its names
// are brought into galley::cli so the commands read as before.
#pragma once

#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <type_traits>

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

// galley's main says so when the process ends right after the command: structures that are
// only going to be freed can then be left to the OS (freeing the planner's input at 2,000
// services x 3 environments, millions of JSON nodes one by one, took 90 ms of a 1.6 s plan).
// Off for in-process callers (tests) and in sanitizer builds (leak checkers stay exact).
void SetProcessEndsAfterCommand(bool ends);
bool ProcessEndsAfterCommand();
// Frees `value` now, or, when the process ends after the command, leaves it to the OS (held
// from a static list, so a leak checker would report it as still reachable, not lost).
void DiscardAtExit(std::shared_ptr<void> value);
template <typename T>
void Discard(T&& value) {
  if (ProcessEndsAfterCommand()) {
    DiscardAtExit(std::make_shared<std::decay_t<T>>(std::forward<T>(value)));
  } else {
    std::decay_t<T> gone(std::forward<T>(value));
  }
}

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
