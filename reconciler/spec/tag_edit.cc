// SPDX-License-Identifier: Apache-2.0
#include "spec/tag_edit.h"

#include <algorithm>
#include <cctype>

#include "base/diagnostics.h"
#include "spec/parse.h"
#include "spec/semantic_check.h"
#include "spec/yaml_edit.h"
#include "spec/yaml_source.h"

namespace galley::spec {
namespace {

// The result must still be a valid service file.
Status Revalidate(const std::string& file, const std::string& text) {
  Diagnostics diags;
  auto doc = ParseYaml(file, text, diags);
  if (doc) ParseService(*doc, diags);
  if (diags.HasErrors()) {
    return Status::InvalidArgument(
        "the edited file would not be a valid service file; nothing "
        "written:\n" +
        diags.RenderAll());
  }
  return Status::Ok();
}

Result<std::string> Current(const std::string& file, const std::string& text,
                            const std::vector<std::string>& path, int* line) {
  auto span = FindScalar(file, text, path);
  if (!span.ok()) return span.status();
  *line = span->line;
  return span->value;
}

Status NeedEnvironment(const std::string& file, const std::string& text, const std::string& env) {
  ASSIGN_OR_RETURN(std::vector<std::string> envs, MapKeys(file, text, {"environments"}));
  if (std::find(envs.begin(), envs.end(), env) != envs.end()) return Status::Ok();
  std::string list;
  for (const auto& e : envs) list += (list.empty() ? "" : ", ") + e;
  return Status::NotFound(file + ": the service declares no environment " + env +
                          " (it has: " + (list.empty() ? "none" : list) + ")");
}

Result<FileEdit> Apply(const std::string& file, const std::string& text,
                       const std::vector<ScalarEdit>& edits, std::vector<FieldChange> changes) {
  std::vector<ScalarEdit> needed;
  std::vector<FieldChange> real;
  for (size_t i = 0; i < edits.size(); ++i) {
    if (changes[i].before == changes[i].after) continue;
    needed.push_back(edits[i]);
    real.push_back(changes[i]);
  }
  FileEdit out{text, real};
  if (needed.empty()) return out;
  ASSIGN_OR_RETURN(out.text, EditScalars(file, text, needed));
  if (Status s = Revalidate(file, out.text); !s.ok()) return s;
  return out;
}

}  // namespace

bool IsMovingTag(const std::string& tag) {
  static const char* const kMoving[] = {"latest",  "master",  "main", "develop", "development",
                                        "dev",     "trunk",   "head", "stable",  "edge",
                                        "nightly", "current", "next", "canary"};
  std::string lower;
  for (char c : tag) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return std::any_of(std::begin(kMoving), std::end(kMoving),
                     [&](const char* m) { return lower == m; });
}

Status CheckWritableTag(const std::string& tag) {
  if (!IsImageTag(tag)) {
    return Status::InvalidArgument("tag '" + tag +
                                   "' is not a valid image tag (letters, digits, '_', '.', '-', "
                                   "at most 128, not starting with '.' or '-')");
  }
  if (IsMovingTag(tag)) {
    return Status::InvalidArgument("tag '" + tag +
                                   "' moves (a branch or channel name): write an immutable build "
                                   "tag such as master-<commit>-<build>");
  }
  return Status::Ok();
}

Result<FileEdit> SetTagInText(const std::string& file, const std::string& text,
                              const std::vector<std::string>& envs_in, const std::string& tag) {
  if (Status s = CheckWritableTag(tag); !s.ok()) return s;
  std::vector<std::string> envs = envs_in;
  if (envs.empty()) {
    ASSIGN_OR_RETURN(envs, MapKeys(file, text, {"environments"}));
    if (envs.empty()) return Status::NotFound(file + ": the service declares no environment");
  }
  std::vector<ScalarEdit> edits;
  std::vector<FieldChange> changes;
  for (const auto& env : envs) {
    if (Status s = NeedEnvironment(file, text, env); !s.ok()) return s;
    std::vector<std::string> path = {"environments", env, "tag"};
    int line = 0;
    ASSIGN_OR_RETURN(std::string before, Current(file, text, path, &line));
    edits.push_back({path, tag});
    changes.push_back({env, "tag", before, tag, line});
  }
  return Apply(file, text, edits, changes);
}

Result<FileEdit> PromoteInText(const std::string& file, const std::string& text,
                               const std::string& from, const std::string& to,
                               const std::vector<std::string>& config_keys) {
  if (from == to) return Status::InvalidArgument("--from and --to name the same environment");
  if (Status s = NeedEnvironment(file, text, from); !s.ok()) return s;
  if (Status s = NeedEnvironment(file, text, to); !s.ok()) return s;
  std::vector<ScalarEdit> edits;
  std::vector<FieldChange> changes;
  int line = 0;
  ASSIGN_OR_RETURN(std::string tag, Current(file, text, {"environments", from, "tag"}, &line));
  if (Status s = CheckWritableTag(tag); !s.ok()) {
    return s.WithContext(file + ":" + std::to_string(line) + ": " + from + "'s tag");
  }
  ASSIGN_OR_RETURN(std::string before, Current(file, text, {"environments", to, "tag"}, &line));
  edits.push_back({{"environments", to, "tag"}, tag});
  changes.push_back({to, "tag", before, tag, line});
  for (const auto& key : config_keys) {
    auto src = Current(file, text, {"environments", from, "config", key}, &line);
    if (!src.ok()) {
      return src.status().WithContext("config key " + key + " of " + from +
                                      " (promote copies only keys written in both environments)");
    }
    auto dst = Current(file, text, {"environments", to, "config", key}, &line);
    if (!dst.ok()) {
      return dst.status().WithContext("config key " + key + " of " + to +
                                      " (promote copies only keys written in both environments; "
                                      "add it there by hand once)");
    }
    edits.push_back({{"environments", to, "config", key}, *src});
    changes.push_back({to, "config." + key, *dst, *src, line});
  }
  return Apply(file, text, edits, changes);
}

}  // namespace galley::spec
