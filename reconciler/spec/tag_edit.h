// SPDX-License-Identifier: Apache-2.0
// What `galley set-tag` and `galley promote` do to one service file's text (DESIGN §8 point
// 16): the environments' `tag` (and, for promote, named `config` keys) rewritten through
// spec/yaml_edit's byte ranges, the result parsed again as a service file before the caller
// may write it. Pure functions on strings; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"

namespace galley::spec {

// A moving tag: a branch or channel name that points at different images over time
// (latest, master, main, develop, ...), compared case-insensitively. The schema's
// immutable-tag rule refuses `latest` in every file; set-tag and promote refuse all of these.
bool IsMovingTag(const std::string& tag);

// OK for a tag galley may write: a valid image tag (IsImageTag) that does not move.
Status CheckWritableTag(const std::string& tag);

struct FieldChange {
  std::string env;
  std::string field;  // "tag" or "config.KEY"
  std::string before, after;
  int line = 0;
};

struct FileEdit {
  std::string text;                  // the whole new file
  std::vector<FieldChange> changes;  // only what differs
};

// environments.<env>.tag := tag for each of `envs` (empty: every environment of the file, in
// file order). A missing environment, a tag the editor cannot place, or a result that is no
// longer a valid service file is an error naming file:line.
Result<FileEdit> SetTagInText(const std::string& file, const std::string& text,
                              const std::vector<std::string>& envs, const std::string& tag);

// environments.<to>.tag := environments.<from>.tag, and each config key likewise
// (environments.<from>.config.KEY → environments.<to>.config.KEY; the key must already be
// written in both, galley does not insert lines).
Result<FileEdit> PromoteInText(const std::string& file, const std::string& text,
                               const std::string& from, const std::string& to,
                               const std::vector<std::string>& config_keys);

}  // namespace galley::spec
