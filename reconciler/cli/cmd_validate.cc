// SPDX-License-Identifier: Apache-2.0
// `galley validate [DIR]`: load and check a repository; print every diagnostic to stderr;
// exit 0 when there is no error (warnings allowed), 1 otherwise.
#include <ostream>

#include "cli/args.h"
#include "cli/commands.h"
#include "spec/loader.h"

namespace galley::cli {

int RunValidate(const Args& args, std::ostream& out, std::ostream& err) {
  std::string dir;
  bool quiet = false;
  CommandLine cl(
      "validate", "[DIR] [--quiet]",
      "Checks galley.yaml and services/**/*.yaml under DIR (default: the current directory).\n"
      "Prints every problem as file:line:col: error: ... with the source line and a caret.");
  cl.Positional("DIR", &dir);
  cl.Flag("--quiet", &quiet, "print nothing when the repository is valid").Alias("-q");
  cl.Epilogue("Exit status: 0 valid (warnings allowed), 1 invalid.");
  if (auto exit = cl.ParseOrExit(args, out, err)) return *exit;
  if (dir.empty()) dir = ".";
  spec::LoadResult r = spec::LoadRepository(dir);
  err << r.diags.RenderAll();
  if (r.diags.HasErrors()) return kExitError;
  if (!quiet) {
    size_t pairs = 0;
    for (const auto& s : r.state.services) pairs += s.environments.size();
    out << dir << ": valid: " << r.state.services.size()
        << (r.state.services.size() == 1 ? " service" : " services") << ", "
        << r.state.platform.environments.size() << " environments, " << pairs << " deployments\n";
  }
  return kExitOk;
}

}  // namespace galley::cli
