// SPDX-License-Identifier: Apache-2.0
#include <ostream>

#include "cli/commands.h"

namespace galley::cli {

int RunAdopt(const Args&, std::ostream&, std::ostream& err) {
  err << "galley adopt: not implemented yet\n";
  return kExitError;
}

}  // namespace galley::cli
