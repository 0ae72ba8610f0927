// SPDX-License-Identifier: Apache-2.0
#include "base/subprocess.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace galley {
namespace {

std::string Drain(int fd) {
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace

Result<ProcessOutput> RunCommand(const std::vector<std::string>& argv, const RunOptions& options) {
  const std::string& stdout_path = options.stdout_path;
  if (argv.empty()) return Status::InvalidArgument("RunCommand: empty argv");
  // stdout and stderr go to anonymous temporary files: no pipe deadlock on large outputs.
  char out_tmpl[] = "/tmp/galley-out-XXXXXX";
  char err_tmpl[] = "/tmp/galley-err-XXXXXX";
  int out_fd = stdout_path.empty()
                   ? ::mkstemp(out_tmpl)
                   : ::open(stdout_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int err_fd = ::mkstemp(err_tmpl);
  if (out_fd < 0 || err_fd < 0) {
    if (out_fd >= 0) ::close(out_fd);
    if (err_fd >= 0) ::close(err_fd);
    return Status::Unavailable("cannot create temporary files: " +
                               std::string(std::strerror(errno)));
  }
  if (stdout_path.empty()) ::unlink(out_tmpl);
  ::unlink(err_tmpl);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, options.merge_stderr ? out_fd : err_fd, 2);
  std::vector<std::string> copy = argv;
  std::vector<char*> args;
  for (auto& a : copy) args.push_back(a.data());
  args.push_back(nullptr);
  // The environment: ours, with options.env set on top.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    if (!options.env.count(kv.substr(0, kv.find('=')))) env_strings.push_back(std::move(kv));
  }
  for (const auto& [k, v] : options.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    ::close(out_fd);
    ::close(err_fd);
    return Status::Unavailable("cannot run " + argv[0] + ": " + std::strerror(rc));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ProcessOutput result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (stdout_path.empty()) {
    ::lseek(out_fd, 0, SEEK_SET);
    result.out = Drain(out_fd);
  }
  ::lseek(err_fd, 0, SEEK_SET);
  result.err = Drain(err_fd);
  ::close(out_fd);
  ::close(err_fd);
  return result;
}

}  // namespace galley
