// SPDX-License-Identifier: Apache-2.0
// `galley validate [DIR]`: load and check a repository; print every diagnostic to stderr;
// exit 0 when there is no error (warnings allowed), 1 otherwise.
#include <ostream>

#include "cli/commands.h"
#include "spec/loader.h"

namespace galley::cli {

int RunValidate(const Args& args, std::ostream& out, std::ostream& err) {
  std::string dir;
  bool quiet = false;
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      out << "usage: galley validate [DIR] [--quiet]\n\n"
             "Checks galley.yaml and services/**/*.yaml under DIR (default: the current directory).\n"
             "Prints every problem as file:line:col: error: ... with the source line and a caret.\n"
             "Exit status: 0 valid (warnings allowed), 1 invalid.\n";
      return kExitOk;
    }
    if (a == "--quiet" || a == "-q") {
      quiet = true;
    } else if (!a.empty() && a[0] == '-') {
      err << "galley validate: unknown option '" << a << "'\n";
      return kExitError;
    } else if (dir.empty()) {
      dir = a;
    } else {
      err << "galley validate: more than one directory given ('" << dir << "', '" << a << "')\n";
      return kExitError;
    }
  }
  if (dir.empty()) dir = ".";
  spec::LoadResult r = spec::LoadRepository(dir);
  err << r.diags.RenderAll();
  if (r.diags.HasErrors()) return kExitError;
  if (!quiet) {
    size_t pairs = 0;
    for (const auto& s : r.state.services) pairs += s.environments.size();
    out << dir << ": valid: " << r.state.services.size() << (r.state.services.size() == 1 ? " service" : " services")
        << ", " << r.state.platform.environments.size() << " environments, " << pairs << " deployments\n";
  }
  return kExitOk;
}

}  // namespace galley::cli
