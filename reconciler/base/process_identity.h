// SPDX-License-Identifier: Apache-2.0
// Who a process is, precisely enough that another process can later prove it is gone (the
// platform lock's dead-holder takeover after kill -9): the host name, the pid, the boot id
// (/proc/sys/kernel/random/boot_id), the pid namespace (/proc/self/ns/pid) and the start
// time (/proc/<pid>/stat). A process is provably gone only on the same host, in the same boot
// and the same pid namespace (two containers sharing a host name and a kernel see different
// pids), when no process has its pid, or the one that has it started at another time (the
// pid was reused) or is a zombie. Whatever cannot be proved counts as alive. Linux /proc;
// elsewhere nothing is ever provably gone. Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <string>

namespace galley {

struct ProcessIdentity {
  std::string host;  // gethostname()
  int64_t pid = 0;
  std::string boot;   // boot id, "" when unknown
  std::string pidns;  // "pid:[4026531836]", "" when unknown
  int64_t start = 0;  // start time in clock ticks since boot, 0 when unknown
};

// The calling process.
ProcessIdentity ThisProcess();
std::string HostName();

// The pieces, for callers with their own rule (the state store's run owners): the boot id
// ("" without /proc), and what /proc/<pid>/stat says of a pid.
std::string BootId();
struct ProcessStat {
  bool found = false;  // false: no such process (or no /proc)
  char state = '?';    // 'R', 'S', ...; 'Z' zombie and 'X' dead have exited
  int64_t start = 0;   // start time in clock ticks since boot, 0 when unreadable
};
ProcessStat ReadProcessStat(int64_t pid);

// True only when `p` is provably gone (see above); `why` (when given) then says how:
// "process 1234 is gone", "pid 1234 is now another process".
bool ProvablyGone(const ProcessIdentity& p, std::string* why = nullptr);

}  // namespace galley
