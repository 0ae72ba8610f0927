// SPDX-License-Identifier: Apache-2.0
#include "server/git_source.h"

#include <filesystem>
#include <memory>

#include <stdlib.h>

#include "base/strings.h"
#include "base/subprocess.h"
#include "workspace/workspace.h"

namespace galley::server {
namespace {

namespace fs = std::filesystem;

struct TempGuard {
  std::string path;
  ~TempGuard() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

// git's answer, or its stderr's first line as the error (never the command line: it may
// carry a URL).
Result<std::string> Git(const std::vector<std::string>& argv, const std::string& what,
                        const RunOptions& options = {}) {
  auto r = RunCommand(argv, options);
  if (!r.ok()) return Status::Unavailable(what + ": " + r.status().message());
  if (r->exit_code != 0) {
    return Status::Unavailable(what + ": " +
                               RedactUrl(FirstLine(r->err.empty() ? r->out : r->err)));
  }
  return r->out;
}

// Never prompt for credentials: a server has no terminal.
const RunOptions kNoPrompt{.env = {{"GIT_TERMINAL_PROMPT", "0"}}};

class DirectorySource : public RepositorySource {
 public:
  explicit DirectorySource(std::string dir) : dir_(std::move(dir)) {}
  Result<std::string> Refresh() override { return workspace::GitCommit(dir_, ""); }
  Result<Checkout> CheckOut(const std::string&) override {
    std::string commit = workspace::GitCommit(dir_, "");
    bool dirty = commit.size() > 6 && commit.compare(commit.size() - 6, 6, "-dirty") == 0;
    std::string tree = !commit.empty() && !dirty ? workspace::GitTree(dir_, "") : "";
    return Checkout(dir_, commit, tree, dirty, "");
  }
  std::string Describe() const override { return dir_; }

 private:
  std::string dir_;
};

class GitSource : public RepositorySource {
 public:
  GitSource(std::string url, std::string branch, std::string mirror, std::string subdir)
      : url_(std::move(url)),
        branch_(std::move(branch)),
        mirror_(std::move(mirror)),
        subdir_(std::move(subdir)) {}

  Result<std::string> Refresh() override {
    std::error_code ec;
    if (!fs::exists(fs::path(mirror_) / "HEAD", ec)) {
      fs::create_directories(mirror_, ec);
      ASSIGN_OR_RETURN(auto init, Git({"git", "init", "--bare", "-q", mirror_}, "git init"));
      (void)init;
    }
    // The remote's URL is passed on every fetch, never stored in the mirror's config.
    ASSIGN_OR_RETURN(auto fetched,
                     Git({"git", "--git-dir", mirror_, "fetch", "--quiet", "--prune", "--no-tags",
                          "--", url_, "+refs/heads/" + branch_ + ":refs/heads/" + branch_},
                         "git fetch " + RedactUrl(url_) + " " + branch_, kNoPrompt));
    (void)fetched;
    ASSIGN_OR_RETURN(auto head, Git({"git", "--git-dir", mirror_, "rev-parse", "--verify",
                                     "refs/heads/" + branch_ + "^{commit}"},
                                    "the head of " + branch_));
    return FirstLine(head);
  }

  Result<Checkout> CheckOut(const std::string& commit_in) override {
    std::string rev = commit_in.empty() ? "refs/heads/" + branch_ : commit_in;
    auto resolved = Git({"git", "--git-dir", mirror_, "rev-parse", "--verify", rev + "^{commit}"},
                        "commit " + rev);
    if (!resolved.ok() && !commit_in.empty()) {
      // A push may name a commit the mirror has not fetched yet.
      ASSIGN_OR_RETURN(auto head, Refresh());
      (void)head;
      resolved = Git({"git", "--git-dir", mirror_, "rev-parse", "--verify", rev + "^{commit}"},
                     "commit " + rev);
    }
    if (!resolved.ok()) return resolved.status();
    std::string commit = FirstLine(*resolved);
    std::string tree_rev = commit + ":" + subdir_;
    ASSIGN_OR_RETURN(auto tree,
                     Git({"git", "--git-dir", mirror_, "rev-parse", "--verify", tree_rev},
                         "the tree of " + commit));
    std::string tmpl = (fs::temp_directory_path() / "galley-serve-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) return Status::Unavailable("cannot create a temporary directory");
    TempGuard guard{tmpl};  // removes tmpl on failure
    std::string tar = tmpl + "/.commit.tar";
    std::vector<std::string> argv = {"git",     "--git-dir",    mirror_,
                                     "archive", "--format=tar", commit};
    if (!subdir_.empty()) argv.insert(argv.end(), {"--", subdir_});
    auto archive = RunCommand(argv, {.stdout_path = tar});
    if (!archive.ok() || archive->exit_code != 0)
      return Status::Unavailable("git archive " + commit + " failed");
    auto untar = RunCommand({"tar", "-xf", tar, "-C", tmpl});
    if (!untar.ok() || untar->exit_code != 0)
      return Status::Unavailable("cannot unpack commit " + commit);
    fs::remove(tar);
    std::string dir = (fs::path(tmpl) / subdir_).lexically_normal().string();
    guard.path.clear();
    return Checkout(dir, commit, FirstLine(tree), false, tmpl);
  }

  std::string Describe() const override { return RedactUrl(url_) + " branch " + branch_; }

 private:
  std::string url_, branch_, mirror_, subdir_;
};

}  // namespace

Checkout::Checkout(std::string dir, std::string commit, std::string tree, bool dirty,
                   std::string temp)
    : dir_(std::move(dir)),
      commit_(std::move(commit)),
      tree_(std::move(tree)),
      temp_(std::move(temp)),
      dirty_(dirty) {}

Checkout::Checkout(Checkout&& o) noexcept { *this = std::move(o); }

Checkout& Checkout::operator=(Checkout&& o) noexcept {
  if (this != &o) {
    if (!temp_.empty()) {
      std::error_code ec;
      fs::remove_all(temp_, ec);
    }
    dir_ = std::move(o.dir_);
    commit_ = std::move(o.commit_);
    tree_ = std::move(o.tree_);
    temp_ = std::exchange(o.temp_, "");
    dirty_ = o.dirty_;
  }
  return *this;
}

Checkout::~Checkout() {
  if (!temp_.empty()) {
    std::error_code ec;
    fs::remove_all(temp_, ec);
  }
}

std::unique_ptr<RepositorySource> NewDirectorySource(std::string dir) {
  return std::make_unique<DirectorySource>(std::move(dir));
}

std::unique_ptr<RepositorySource> NewGitSource(std::string url, std::string branch,
                                               std::string mirror_dir, std::string subdir) {
  return std::make_unique<GitSource>(std::move(url), std::move(branch), std::move(mirror_dir),
                                     std::move(subdir));
}

std::string RedactUrl(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  size_t host = scheme + 3;
  size_t end = url.find_first_of("/?#", host);
  size_t at = url.rfind('@', end == std::string::npos ? url.size() : end);
  if (at == std::string::npos || at < host) return url;
  return url.substr(0, host) + url.substr(at + 1);
}

}  // namespace galley::server
