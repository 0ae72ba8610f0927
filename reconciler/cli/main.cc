// SPDX-License-Identifier: Apache-2.0
// The `galley` binary: parses the subcommand, dispatches, and turns any escaped exception
// into a clear message and exit code 1 (the last-resort catch; modules do not throw).
#include <exception>
#include <iostream>
#include <string>

#include "base/allocator.h"
#include "base/strings.h"
#include "cli/commands.h"
#include "cli/pipeline.h"

namespace {

constexpr char kUsage[] =
    "usage: galley <command> [options]\n"
    "\n"
    "Declarative reconciler for Marathon/Mesos platforms: Git-tracked YAML in, Marathon apps,\n"
    "Consul KV and HAProxy configuration out.\n"
    "\n"
    "commands:\n"
    "  validate [DIR]        check a desired-state repository; every problem, with file:line:col\n"
    "  render DIR [options]  print what galley would deploy (Marathon JSON, KV, HAProxy config)\n"
    "  plan [DIR] [options]  compare with live Marathon and Consul; print what apply would change\n"
    "  apply [DIR|PLANFILE]  make the platform match: plan (or a saved plan), confirm, apply, wait "
    "for health\n"
    "  drift [DIR]           live changes nobody committed: what differs from what galley last "
    "applied\n"
    "  status [DIR]          per service and environment: live tag, health, deploying, in sync or "
    "not\n"
    "  restart SERVICE [DIR] a planned rolling restart of a service's apps (confirmed, journaled)\n"
    "  history               past runs: trigger, commit, actions and outcomes\n"
    "  lock status|break     show or release the platform's apply lock\n"
    "  agent [DIR] --node N  the per-host agent: Marathon tasks into Consul, Consul into HAProxy\n"
    "  serve [DIR]           run as a server: reconcile on a timer, on request and on pushes\n"
    "  set-tag SERVICE TAG   write an image tag into the service's file (CI), in place\n"
    "  promote SERVICE       copy a tag from one environment to another (--from E --to E)\n"
    "  adopt DIR             take over a live platform: write service files + applied records\n"
    "  version               print galley's version\n"
    "\n"
    "Run 'galley <command> --help' for a command's options.\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace galley::cli;
  std::ios::sync_with_stdio(false);
  if (argc < 2) {
    std::cerr << kUsage;
    return kExitError;
  }
  std::string cmd = argv[1];
  Args args(argv + 2, argv + argc);
  SetProcessEndsAfterCommand(true);
  // The long-running commands give freed memory back promptly (the agent's RSS target).
  if (cmd == "agent" || cmd == "serve") galley::PreferLowResidentMemory();
  try {
    if (cmd == "validate") return RunValidate(args, std::cout, std::cerr);
    if (cmd == "render") return RunRender(args, std::cout, std::cerr);
    if (cmd == "plan") return RunPlan(args, std::cout, std::cerr);
    if (cmd == "apply") return RunApply(args, std::cout, std::cerr);
    if (cmd == "drift") return RunDrift(args, std::cout, std::cerr);
    if (cmd == "history") return RunHistory(args, std::cout, std::cerr);
    if (cmd == "status") return RunStatus(args, std::cout, std::cerr);
    if (cmd == "restart") return RunRestart(args, std::cout, std::cerr);
    if (cmd == "lock") return RunLock(args, std::cout, std::cerr);
    if (cmd == "agent") return RunAgent(args, std::cout, std::cerr);
    if (cmd == "serve") return RunServe(args, std::cout, std::cerr);
    if (cmd == "set-tag") return RunSetTag(args, std::cout, std::cerr);
    if (cmd == "promote") return RunPromote(args, std::cout, std::cerr);
    if (cmd == "adopt") return RunAdopt(args, std::cout, std::cerr);
    if (cmd == "version" || cmd == "--version") {
      std::cout << "galley " << GALLEY_VERSION << " (allocator: " << galley::AllocatorName()
                << ")\n";
      return kExitOk;
    }
    if (cmd == "help" || cmd == "--help" || cmd == "-h") {
      std::cout << kUsage;
      return kExitOk;
    }
    std::cerr << "galley: unknown command " << galley::Quote(cmd) << "\n";
    std::string guess = galley::ClosestMatch(
        cmd, {"validate", "render", "plan", "apply", "drift", "history", "lock", "serve", "agent",
              "set-tag", "promote", "adopt", "version", "help"});
    if (!guess.empty()) std::cerr << "    did you mean '" << guess << "'?\n";
    std::cerr << "\n" << kUsage;
    return kExitError;
  } catch (const std::exception& e) {
    std::cerr << "galley: internal error: " << e.what() << "\n";
    return kExitError;
  } catch (...) {
    std::cerr << "galley: internal error\n";
    return kExitError;
  }
}
