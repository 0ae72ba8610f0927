// SPDX-License-Identifier: Apache-2.0
// HAProxy's master process behind an interface (DESIGN §8 point 14, haproxy-lab §1, §5.1, §6):
// validate a config with `haproxy -c`, start HAProxy in master-worker mode detached from the
// agent (it survives the agent; a restarted agent adopts it), ask the master for its
// processes (`show proc` on the master socket), reload through the master socket and confirm
// the outcome, stop it.
//
// ProcessHaproxyMaster is the real one. Its files sit under the agent's run dir (HaproxyPaths).
//   - Start: double fork + setsid, then `haproxy -W -S <master socket> -p <pid file> -f <config>`
//     in the foreground of that session (not -D: the master's stderr, where a failed reload's
//     `[ALERT]` lines go, is appended to the log file), and waits until `show proc` lists a
//     worker, or fails with the log's last alerts when the master exits first.
//   - Reload: `reload` on the master socket, then polls `show proc` (the master CLI is silent
//     for up to ~1 s while it re-executes, lab §5.1) until the reload counter moved: a failure
//     is `[failed: N]` with N > 0 or an unchanged worker pid (the old worker keeps serving);
//     the error quotes the master's log.
//   - Query: kUnavailable when no master answers (not started, killed, a stale socket).
//   - Stop: SIGTERM to the master (it stops its workers), waits for it to go, SIGKILL after 5 s.
// The master CLI closes a connection only after the client shut down its writing side, so
// each command is one connection: write, shutdown(SHUT_WR), read to end of file.
// Thread-compatible: one caller at a time (the LB manager's loop).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/status.h"

namespace galley::agent {

struct MasterState {
  int master_pid = 0;
  int reloads = 0;               // the master's reload counter
  int failed_reloads = 0;        // "[failed: N]": reset by the next successful reload
  int worker_pid = 0;            // the current worker (the newest); 0 when none is listed
  std::vector<int> old_workers;  // still finishing their connections
};

// Parses the master CLI's `show proc` (HAProxy 2.6). Errors: no master line.
[[nodiscard]] Result<MasterState> ParseShowProc(std::string_view text);

class HaproxyMaster {
 public:
  virtual ~HaproxyMaster() = default;
  // `haproxy -c -f config_path`; kInvalidArgument with HAProxy's own ALERT lines when the
  // config is refused, kUnavailable when haproxy cannot be run.
  [[nodiscard]] virtual Status Check(const std::string& config_path) = 0;
  // The running master's processes; kUnavailable when no master answers.
  [[nodiscard]] virtual Result<MasterState> Query() = 0;
  // Starts a master on the configured config file and waits for its first worker.
  [[nodiscard]] virtual Result<MasterState> Start() = 0;
  // Reloads (the master re-reads the config file) and confirms a new worker.
  [[nodiscard]] virtual Result<MasterState> Reload() = 0;
  // Stops the master and its workers.
  [[nodiscard]] virtual Status Stop() = 0;
};

struct HaproxyPaths {
  std::string binary = "haproxy";  // found on PATH when it has no '/'
  std::string config;              // the file the master loads and reloads
  std::string master_socket;
  std::string pid_file;
  std::string log_file;  // the master's stdout and stderr, appended
  // Extra environment for haproxy (GALLEY_CERT_DIR for `crt "${GALLEY_CERT_DIR}/…"`).
  std::vector<std::pair<std::string, std::string>> env;
};

// The GLIBC_TUNABLES value HAProxy is started and checked with: the inherited value plus
// `glibc.malloc.hugetlb=1` (malloc asks for transparent huge pages; unknown tunables are
// ignored by glibc < 2.35 and it is a no-op when THP is off). At 6,800 backends HAProxy's
// parse is mostly malloc and page faults: measured here, `haproxy -c` CPU 0.85 s → 0.21 s.
// An inherited value that already sets glibc.malloc.hugetlb is kept as it is.
std::string HaproxyGlibcTunables(std::string_view inherited);

// The file names the agent uses under its run dir for one instance:
// <run>/<instance>.cfg, .master.sock, .pid, .log (and the LB manager's .sock, .state).
HaproxyPaths PathsUnder(const std::string& run_dir, const std::string& instance);

struct HaproxyTimeouts {
  std::chrono::milliseconds command{2000};  // one master CLI exchange
  std::chrono::milliseconds start{15000};   // until the first worker is listed
  std::chrono::milliseconds reload{30000};  // until the reload's outcome is known
  std::chrono::milliseconds check{60000};   // haproxy -c (0.3 s at 6,000 backends)
};

class ProcessHaproxyMaster : public HaproxyMaster {
 public:
  explicit ProcessHaproxyMaster(HaproxyPaths paths, HaproxyTimeouts timeouts = {},
                                Clock* clock = nullptr);
  Status Check(const std::string& config_path) override;
  Result<MasterState> Query() override;
  Result<MasterState> Start() override;
  Result<MasterState> Reload() override;
  Status Stop() override;

  const HaproxyPaths& paths() const { return paths_; }
  // One command on the master socket (no newline), the whole reply.
  [[nodiscard]] Result<std::string> MasterCommand(const std::string& command);

 private:
  std::string LogTail(size_t from_offset) const;
  size_t LogSize() const;

  HaproxyPaths paths_;
  HaproxyTimeouts timeouts_;
  Clock* clock_;
};

}  // namespace galley::agent
