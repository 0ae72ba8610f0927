// SPDX-License-Identifier: Apache-2.0
// One Run* function per `galley` subcommand. Each takes the arguments after the
// subcommand's name, writes to the given streams and returns the process exit code.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace galley::cli {

// Exit codes shared by every command (DESIGN §7.6).
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitChanges = 2;    // plan/drift --detailed-exitcode: changes or drift
inline constexpr int kExitLockHeld = 3;   // apply: another apply holds the platform lock
inline constexpr int kExitStalePlan = 4;  // apply PLANFILE: the plan no longer matches live
inline constexpr int kExitRetryRefused =
    5;  // apply: the same change failed to deploy last time (--retry-failed)

using Args = std::vector<std::string>;

int RunValidate(const Args& args, std::ostream& out, std::ostream& err);
int RunRender(const Args& args, std::ostream& out, std::ostream& err);
int RunPlan(const Args& args, std::ostream& out, std::ostream& err);
int RunApply(const Args& args, std::ostream& out, std::ostream& err);
int RunDrift(const Args& args, std::ostream& out, std::ostream& err);
int RunHistory(const Args& args, std::ostream& out, std::ostream& err);
int RunLock(const Args& args, std::ostream& out, std::ostream& err);  // galley lock status|break
int RunStatus(const Args& args, std::ostream& out, std::ostream& err);
int RunRestart(const Args& args, std::ostream& out, std::ostream& err);
int RunAgent(const Args& args, std::ostream& out, std::ostream& err);  // the per-host agent
int RunServe(const Args& args, std::ostream& out, std::ostream& err);  // the server (issue #13)
// Issue #15: CI and adoption.
int RunSetTag(const Args& args, std::ostream& out, std::ostream& err);
int RunPromote(const Args& args, std::ostream& out, std::ostream& err);
int RunAdopt(const Args& args, std::ostream& out, std::ostream& err);
// `galley restart SERVICE`'s apply: cmd_restart.cc finds SERVICE, cmd_apply.cc runs the rest
// (apply's options, lock, confirmation, journal, exit codes) on engine::MakeRestartPlan.
int RunApplyRestart(const std::string& service, const Args& args, std::ostream& out,
                    std::ostream& err);

}  // namespace galley::cli
