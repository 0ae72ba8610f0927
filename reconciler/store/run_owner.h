// SPDX-License-Identifier: Apache-2.0
// Which process owns a run, so that MarkInterruptedRuns closes only runs whose process is
// gone (a crash) and never the live run of another galley sharing the state file. Linux:
// the pid, the boot id (/proc/sys/kernel/random/boot_id) and the process start time from
// /proc/<pid>/stat, which together survive pid reuse and reboots; without /proc, kill(pid, 0).
// Private to store/. Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <string>

namespace galley::store::internal {

struct RunOwner {
  int64_t pid = 0;
  std::string boot;   // boot id, "" when unknown
  int64_t start = 0;  // process start time in clock ticks since boot, 0 when unknown
};

// The calling process.
RunOwner CurrentProcess();

// True while the owner process may still be running (and so may still finish its run).
bool OwnerAlive(const RunOwner& owner);

}  // namespace galley::store::internal
