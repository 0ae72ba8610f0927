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
inline constexpr int kExitChanges = 2;

using Args = std::vector<std::string>;

int RunValidate(const Args& args, std::ostream& out, std::ostream& err);
int RunRender(const Args& args, std::ostream& out, std::ostream& err);
int RunPlan(const Args& args, std::ostream& out, std::ostream& err);

}  // namespace galley::cli
