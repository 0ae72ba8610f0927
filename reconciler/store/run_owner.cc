// SPDX-License-Identifier: Apache-2.0
#include "store/run_owner.h"

#include <cerrno>

#include <signal.h>
#include <unistd.h>

#include "base/process_identity.h"

namespace galley::store::internal {

RunOwner CurrentProcess() {
  RunOwner owner;
  owner.pid = ::getpid();
  owner.boot = BootId();
  ProcessStat stat = ReadProcessStat(owner.pid);
  if (stat.found) owner.start = stat.start;
  return owner;
}

// Unlike the lock's ProvablyGone, which may take over only from a holder proved dead, a
// run's owner counts as gone on any evidence: another boot id (a reboot, or the file came
// from another host) ends its runs.
bool OwnerAlive(const RunOwner& owner) {
  if (owner.pid <= 0) return false;
  std::string boot = BootId();
  if (!owner.boot.empty() && !boot.empty()) {
    if (owner.boot != boot) return false;  // another boot, or the file came from another host
    ProcessStat stat = ReadProcessStat(owner.pid);
    if (!stat.found) return false;
    if (stat.state == 'Z' || stat.state == 'X') return false;  // exited, not yet reaped
    return owner.start == 0 || stat.start == owner.start;      // else the pid was reused
  }
  // No /proc: the best available answer.
  return ::kill(static_cast<pid_t>(owner.pid), 0) == 0 || errno == EPERM;
}

}  // namespace galley::store::internal
