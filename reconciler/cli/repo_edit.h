// SPDX-License-Identifier: Apache-2.0
// What set-tag and promote share on the command line's side: finding the file that declares
// a service, writing an edit atomically only if the file did not change since it was read,
// and the optional Git commit (argv only, never a shell).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/desired_state.h"
#include "spec/tag_edit.h"

namespace galley::cli {

struct ServiceFile {
  std::string dir;
  std::string path;           // as the loader names it (DIR joined with services/...)
  std::string text;           // as read
  model::DesiredState state;  // the repository as loaded
};

// Loads DIR (it must be valid: diagnostics go to `err`) and reads SERVICE's file.
Result<ServiceFile> ReadServiceFile(const std::string& dir, const std::string& service,
                                    std::ostream& err);

// Writes `edit` over `file` (temp + rename) after checking that the repository with the edited
// file still passes the cross-file rules and that the file still holds exactly `file.text`; a
// concurrent change is a Conflict. Nothing is written on error.
Status WriteServiceFile(const ServiceFile& file, const spec::FileEdit& edit);

// `git -C DIR add FILE` then `git -C DIR commit -m MESSAGE -- FILE`.
Status CommitFile(const std::string& dir, const std::string& file, const std::string& message);

// One line per change: "FILE:LINE: ENV FIELD: BEFORE -> AFTER".
void PrintChanges(const std::string& file, const std::vector<spec::FieldChange>& changes,
                  std::ostream& out);

}  // namespace galley::cli
