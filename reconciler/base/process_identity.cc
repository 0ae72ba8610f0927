// SPDX-License-Identifier: Apache-2.0
#include "base/process_identity.h"

#include <cstdio>
#include <sstream>
#include <vector>

#include <unistd.h>

namespace galley {
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

std::string PidNamespace() {
  char buf[128];
  ssize_t n = ::readlink("/proc/self/ns/pid", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

}  // namespace

std::string BootId() { return ReadProcLine("/proc/sys/kernel/random/boot_id"); }

// /proc/<pid>/stat: "pid (comm) S ppid ... starttime ..."; comm may hold spaces and
// parentheses, so fields are counted from the last ')': state is field 3, starttime 22.
ProcessStat ReadProcessStat(int64_t pid) {
  ProcessStat out;
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

std::string HostName() {
  char host[256] = "localhost";
  ::gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = '\0';
  return host;
}

ProcessIdentity ThisProcess() {
  ProcessIdentity p;
  p.host = HostName();
  p.pid = ::getpid();
  p.boot = BootId();
  p.pidns = PidNamespace();
  ProcessStat stat = ReadProcessStat(p.pid);
  if (stat.found) p.start = stat.start;
  return p;
}

bool ProvablyGone(const ProcessIdentity& p, std::string* why) {
  if (p.pid <= 0 || p.host.empty() || p.boot.empty() || p.pidns.empty()) return false;
  ProcessIdentity self = ThisProcess();
  if (self.boot.empty() || self.pidns.empty()) return false;
  if (p.host != self.host || p.boot != self.boot || p.pidns != self.pidns) return false;
  if (p.pid == self.pid && (p.start == 0 || p.start == self.start)) return false;  // ourselves
  const std::string pid = std::to_string(p.pid);
  ProcessStat stat = ReadProcessStat(p.pid);
  std::string how;
  if (!stat.found) {
    how = "process " + pid + " is gone";
  } else if (stat.state == 'Z' || stat.state == 'X') {
    how = "process " + pid + " has exited";
  } else if (p.start != 0 && stat.start != p.start) {
    how = "pid " + pid + " is now another process";
  } else {
    return false;
  }
  if (why) *why = how;
  return true;
}

}  // namespace galley
