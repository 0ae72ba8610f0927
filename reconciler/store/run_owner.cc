// SPDX-License-Identifier: Apache-2.0
#include "store/run_owner.h"

#include <cerrno>
#include <cstdio>
#include <sstream>
#include <vector>

#include <signal.h>
#include <unistd.h>

namespace galley::store::internal {
namespace {

// The first line of a small /proc file, or "" when it cannot be read.
std::string ReadProcLine(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "re");
  if (f == nullptr) return "";
  char buf[1024];
  std::string line;
  if (std::fgets(buf, sizeof buf, f) != nullptr) line = buf;
  std::fclose(f);
  while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
  return line;
}

struct ProcStat {
  bool found = false;
  char state = '?';
  int64_t start = 0;
};

// /proc/<pid>/stat: "pid (comm) S ppid ... starttime ..."; comm may hold spaces and
// parentheses, so fields are counted from the last ')': state is field 3, starttime 22.
ProcStat ReadProcStat(int64_t pid) {
  ProcStat out;
  std::string line = ReadProcLine("/proc/" + std::to_string(pid) + "/stat");
  size_t close = line.rfind(')');
  if (close == std::string::npos) return out;
  std::istringstream fields(line.substr(close + 1));
  std::vector<std::string> tokens;
  for (std::string t; fields >> t;) tokens.push_back(t);
  if (tokens.size() < 20) return out;
  out.found = true;
  out.state = tokens[0].empty() ? '?' : tokens[0][0];
  try {
    out.start = std::stoll(tokens[19]);
  } catch (...) {
    out.start = 0;
  }
  return out;
}

std::string BootId() { return ReadProcLine("/proc/sys/kernel/random/boot_id"); }

}  // namespace

RunOwner CurrentProcess() {
  RunOwner owner;
  owner.pid = ::getpid();
  owner.boot = BootId();
  ProcStat stat = ReadProcStat(owner.pid);
  if (stat.found) owner.start = stat.start;
  return owner;
}

bool OwnerAlive(const RunOwner& owner) {
  if (owner.pid <= 0) return false;
  std::string boot = BootId();
  if (!owner.boot.empty() && !boot.empty()) {
    if (owner.boot != boot) return false;  // another boot, or the file came from another host
    ProcStat stat = ReadProcStat(owner.pid);
    if (!stat.found) return false;
    if (stat.state == 'Z' || stat.state == 'X') return false;  // exited, not yet reaped
    return owner.start == 0 || stat.start == owner.start;      // else the pid was reused
  }
  // No /proc: the best available answer.
  return ::kill(static_cast<pid_t>(owner.pid), 0) == 0 || errno == EPERM;
}

}  // namespace galley::store::internal
