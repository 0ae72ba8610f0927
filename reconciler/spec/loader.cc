// SPDX-License-Identifier: Apache-2.0
#include "spec/loader.h"

#include <algorithm>
#include <filesystem>

#include "spec/parse.h"
#include "spec/semantic_check.h"
#include "spec/yaml_source.h"

namespace galley::spec {
namespace {

namespace fs = std::filesystem;

std::string Display(const fs::path& dir, const fs::path& rel) {
  if (dir.empty() || dir == ".") return rel.generic_string();
  return (dir / rel).lexically_normal().generic_string();
}

// Service files under services/, sorted, hidden entries skipped, symlinked directories not
// followed (no loops).
std::vector<fs::path> ListServiceFiles(const fs::path& dir, Diagnostics& diags) {
  std::vector<fs::path> out;
  fs::path root = dir / kServicesDir;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return out;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
  if (ec) {
    diags.Error(SourcePos{Display(dir, kServicesDir), 0, 0}, "cannot list: " + ec.message());
    return out;
  }
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) {
      diags.Error(SourcePos{Display(dir, kServicesDir), 0, 0}, "cannot list: " + ec.message());
      break;
    }
    const fs::path& p = it->path();
    std::string name = p.filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it.depth() > 8) {
      it.disable_recursion_pending();
      continue;
    }
    std::string ext = p.extension().string();
    if ((ext == ".yaml" || ext == ".yml") && !it->is_directory(ec)) {
      out.push_back(p.lexically_relative(dir));
      if (out.size() > kMaxServiceFiles) {
        diags.Error(SourcePos{Display(dir, kServicesDir), 0, 0},
                    "more than " + std::to_string(kMaxServiceFiles) + " service files",
                    "at most " + std::to_string(kMaxServiceFiles));
        break;
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

LoadResult LoadRepository(const std::string& dir_arg) {
  LoadResult result;
  fs::path dir(dir_arg.empty() ? "." : dir_arg);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    result.diags.Error(SourcePos{dir.generic_string(), 0, 0}, "not a directory",
                       "a desired-state repository holding galley.yaml");
    return result;
  }
  std::string platform_name = Display(dir, kPlatformFile);
  if (!fs::exists(dir / kPlatformFile, ec)) {
    result.diags.Error(SourcePos{platform_name, 0, 0}, "no platform file",
                       "galley.yaml at the top of the repository");
  } else if (auto doc = LoadYamlFile((dir / kPlatformFile).string(), platform_name, result.diags)) {
    if (auto p = ParsePlatform(*doc, result.diags)) result.state.platform = std::move(*p);
  }
  for (const auto& rel : ListServiceFiles(dir, result.diags)) {
    std::string name = Display(dir, rel);
    auto doc = LoadYamlFile((dir / rel).string(), name, result.diags);
    if (!doc) continue;
    if (auto s = ParseService(*doc, result.diags)) result.state.services.push_back(std::move(*s));
  }
  std::stable_sort(result.state.services.begin(), result.state.services.end(),
                   [](const model::Service& a, const model::Service& b) { return a.name < b.name; });
  CheckSemantics(result.state, dir.string(), result.diags);
  result.diags.Sort();
  return result;
}

}  // namespace galley::spec
