// SPDX-License-Identifier: Apache-2.0
#include "spec/loader.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>

#include "spec/parse.h"
#include "spec/semantic_check.h"
#include "spec/yaml_source.h"

namespace galley::spec {
namespace {

namespace fs = std::filesystem;

constexpr size_t kFilesPerWorker = 64;  // below this, a thread costs more than it saves
constexpr size_t kFilesPerBatch = 16;   // files a worker takes at a time

std::string Display(const fs::path& dir, const fs::path& rel) {
  if (dir.empty() || dir == ".") return rel.generic_string();
  return (dir / rel).lexically_normal().generic_string();
}

// Whether `rel` (a path inside the repository `dir`, whose canonical form is `top`) resolves
// to something inside it; otherwise reports it (a symbolic link that leaves the repository is
// never followed: its target's content must not reach an error message).
bool StaysInside(const fs::path& dir, const fs::path& top, const fs::path& rel,
                 Diagnostics& diags) {
  std::error_code ec;
  fs::path real = fs::weakly_canonical(dir / rel, ec);
  if (ec || top.empty()) return true;  // reading it reports what is wrong
  auto [t, r] = std::mismatch(top.begin(), top.end(), real.begin(), real.end());
  if (t == top.end()) return true;
  bool link = fs::is_symlink(dir / rel, ec);
  diags.Error(SourcePos{Display(dir, rel), 0, 0},
              std::string(link ? "a symbolic link" : "a path through a symbolic link") +
                  " that leaves the repository (to " + real.generic_string() + "); not read",
              "a file inside the repository");
  return false;
}

// Service files under services/, sorted, hidden entries skipped, symlinked directories not
// followed (no loops), links leaving the repository refused.
std::vector<fs::path> ListServiceFiles(const fs::path& dir, Diagnostics& diags) {
  std::vector<fs::path> out;
  fs::path root = dir / kServicesDir;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return out;
  const fs::path top = fs::canonical(dir, ec);
  if (!StaysInside(dir, top, kServicesDir, diags)) return out;
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
      // Directories are walked without following links, so only an entry that is itself a
      // symbolic link can lead outside (resolving every path costs a system call per component).
      if (it->is_symlink(ec) && !StaysInside(dir, top, p.lexically_relative(dir), diags)) continue;
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

namespace {

// galley.yaml into result.state.platform; false when `dir` is not a directory.
bool LoadPlatformInto(const fs::path& dir, LoadResult& result) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    result.diags.Error(SourcePos{dir.generic_string(), 0, 0}, "not a directory",
                       "a desired-state repository holding galley.yaml");
    return false;
  }
  std::string platform_name = Display(dir, kPlatformFile);
  if (!fs::exists(dir / kPlatformFile, ec) && !fs::is_symlink(dir / kPlatformFile, ec)) {
    result.diags.Error(SourcePos{platform_name, 0, 0}, "no platform file",
                       "galley.yaml at the top of the repository");
  } else if (StaysInside(dir, fs::canonical(dir, ec), kPlatformFile, result.diags)) {
    if (auto doc = LoadYamlFile((dir / kPlatformFile).string(), platform_name, result.diags)) {
      if (auto p = ParsePlatform(*doc, result.diags)) result.state.platform = std::move(*p);
    }
  }
  return true;
}

}  // namespace

LoadResult LoadPlatformFile(const std::string& dir_arg) {
  LoadResult result;
  LoadPlatformInto(fs::path(dir_arg.empty() ? "." : dir_arg), result);
  result.diags.Sort();
  return result;
}

LoadResult LoadRepository(const std::string& dir_arg) {
  LoadResult result;
  fs::path dir(dir_arg.empty() ? "." : dir_arg);
  if (!LoadPlatformInto(dir, result)) return result;
  // Service files are independent: parse them on every core. Workers take the next batch of
  // files as they finish one (a worker descheduled by other load does not hold the others up);
  // each keeps its own diagnostics, and sorting services and diagnostics afterwards keeps the
  // output deterministic whichever worker parsed what.
  std::vector<fs::path> files = ListServiceFiles(dir, result.diags);
  struct Chunk {
    std::vector<model::Service> services;
    Diagnostics diags;
  };
  size_t workers = std::max<size_t>(1, std::min<size_t>({std::thread::hardware_concurrency(), 8,
                                                         files.size() / kFilesPerWorker + 1}));
  std::vector<Chunk> chunks(workers);
  std::atomic<size_t> next{0};
  auto work = [&](size_t w) {
    for (;;) {
      size_t begin = next.fetch_add(kFilesPerBatch, std::memory_order_relaxed);
      if (begin >= files.size()) break;
      size_t end = std::min(files.size(), begin + kFilesPerBatch);
      for (size_t i = begin; i < end; ++i) {
        std::string name = Display(dir, files[i]);
        auto doc = LoadYamlFile((dir / files[i]).string(), name, chunks[w].diags);
        if (!doc) continue;
        if (auto s = ParseService(*doc, chunks[w].diags))
          chunks[w].services.push_back(std::move(*s));
      }
    }
  };
  std::vector<std::thread> threads;
  for (size_t w = 1; w < workers; ++w) threads.emplace_back(work, w);
  work(0);
  for (auto& t : threads) t.join();
  for (auto& c : chunks) {
    result.diags.Merge(std::move(c.diags));
    for (auto& s : c.services) result.state.services.push_back(std::move(s));
  }
  std::sort(result.state.services.begin(), result.state.services.end(),
            [](const model::Service& a, const model::Service& b) {
              return std::tie(a.name, a.file) < std::tie(b.name, b.file);
            });
  CheckSemantics(result.state, dir.string(), result.diags);
  result.diags.Sort();
  return result;
}

}  // namespace galley::spec
