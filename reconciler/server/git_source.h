// SPDX-License-Identifier: Apache-2.0
// Where `galley serve` reads the platform repository from (DESIGN §8 point 15): a Git remote
// it keeps a bare mirror of under the state directory (`git fetch`, the branch's head, a
// commit's tree exported to a temporary directory for loading), or a plain directory (its
// commit is GitCommit of it; a dirty work tree is planned but never applied automatically).
// `git` runs through base::RunCommand (argv only, never a shell); credentials come from
// git's own configuration (credential helpers, ~/.netrc, SSH keys) and are never logged: the
// remote's URL is shown with any user:password removed.
// Not thread-safe: the worker thread uses it alone.
#pragma once

#include <string>

#include "base/status.h"

namespace galley::server {

// One checkout of the repository, ready to load. Removes its temporary directory when
// destroyed.
class Checkout {
 public:
  Checkout() = default;
  Checkout(std::string dir, std::string commit, std::string tree, bool dirty, std::string temp);
  Checkout(Checkout&& o) noexcept;
  Checkout& operator=(Checkout&& o) noexcept;
  Checkout(const Checkout&) = delete;
  Checkout& operator=(const Checkout&) = delete;
  ~Checkout();

  const std::string& dir() const { return dir_; }        // load the repository from here
  const std::string& commit() const { return commit_; }  // "" outside Git; "<sha>-dirty"
  const std::string& tree() const { return tree_; }      // "" when dirty or outside Git
  bool dirty() const { return dirty_; }

 private:
  std::string dir_, commit_, tree_, temp_;
  bool dirty_ = false;
};

class RepositorySource {
 public:
  virtual ~RepositorySource() = default;
  // Brings the mirror up to date (a directory: nothing) and returns the head's commit.
  virtual Result<std::string> Refresh() = 0;
  // `commit` ("" for the head) ready to load.
  virtual Result<Checkout> CheckOut(const std::string& commit) = 0;
  // For the log: the directory, or the remote's URL without credentials and the branch.
  virtual std::string Describe() const = 0;
};

// A directory on this host, loaded as it is (its commit: GitCommit).
std::unique_ptr<RepositorySource> NewDirectorySource(std::string dir);

// A Git remote mirrored under `mirror_dir` (created with `git init --bare` on first use).
// `subdir`: the repository's path inside the Git tree ("" for its root).
std::unique_ptr<RepositorySource> NewGitSource(std::string url, std::string branch,
                                               std::string mirror_dir, std::string subdir = "");

// "https://user:pw@host/x.git" → "https://host/x.git".
std::string RedactUrl(const std::string& url);

}  // namespace galley::server
