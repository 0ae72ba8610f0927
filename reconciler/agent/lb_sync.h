// SPDX-License-Identifier: Apache-2.0
// The load-balancer manager's decision (DESIGN §8 point 14): from the config the renderer
// produces for one HAProxy instance, what that HAProxy runs now and the tasks being killed,
// decide either "write and reload" (the structure changed) or the ordered runtime-API
// commands that bring the running membership to the rendered one without a reload.
//
// Two digests split a rendered config (haproxy-lab §6.1: render the same membership into the
// file every time):
//   - the structure digest covers the whole text except the `server` lines of backends:
//     listeners, backends, options, ACLs, timeouts. Only a change here needs a reload.
//   - the membership digest covers exactly those `server` lines (with their backend), so the
//     agent knows when to rewrite the file without reloading.
// A rolling deploy only adds and removes servers, so its structure digest never moves and
// it never reloads. Server names are `<node>-<hostport>` (DESIGN §7 point 4), so a new task
// is a new name and a port move is normally a new name too; `set server addr` covers a server
// whose name stays while its address or port changes.
//
// Pure: no socket, file or clock. The caller sends the commands, waits for drains and keeps
// the admin intents between calls. Values; not synchronised.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "model/desired_state.h"

namespace galley::agent {

// ---- What the renderer wants -------------------------------------------------------------

struct DesiredServer {
  std::string name;
  std::string address;
  int port = 0;
  std::string options;  // the rest of the rendered server line: "check inter 10s fall 1 rise 1"
  bool operator==(const DesiredServer&) const = default;
};

struct DesiredBackend {
  std::string name;
  std::string balance;  // as rendered; "roundrobin" when the backend has no balance line
  std::vector<DesiredServer> servers;  // in file order
};

struct DesiredLb {
  std::string structure_digest;
  std::string membership_digest;
  std::vector<DesiredBackend> backends;  // in file order
};

// Reads a rendered configuration (RenderHaproxyConfig's output, or the file on disk when the
// agent adopts a running HAProxy). Parsing the renderer's text rather than re-deriving the
// server lines keeps one source of truth for the options a server carries. Errors: a server
// line outside a backend or without `<address>:<port>`.
[[nodiscard]] Result<DesiredLb> ParseRenderedConfig(std::string_view config_text);

// Renders `instance` with the shared pure renderer and parses it.
[[nodiscard]] Result<DesiredLb> DesiredFor(const model::DesiredState& state,
                                           const model::HaproxyInstance& instance,
                                           const model::Instances& live);

// SHA-256 of the config without backends' server lines; see the file comment.
std::string StructureDigest(std::string_view config_text);

// ---- What HAProxy runs now ---------------------------------------------------------------

// srv_admin_state bits (HAProxy 2.6 include/haproxy/server-t.h, SRV_ADMF_*).
inline constexpr int kAdminForcedMaint = 0x01;     // `set server … state maint`, `disable server`
inline constexpr int kAdminInheritedMaint = 0x02;  // from a tracked server
inline constexpr int kAdminConfigMaint = 0x04;     // `disabled` in the config
inline constexpr int kAdminForcedDrain = 0x08;     // `set server … state drain`
inline constexpr int kAdminInheritedDrain = 0x10;
inline constexpr int kAdminResolutionMaint = 0x20;
inline constexpr int kAdminHostnameMaint = 0x40;

// srv_op_state values.
enum class OpState { kStopped = 0, kStarting = 1, kRunning = 2, kStopping = 3 };

struct RunningServer {
  int id = 0;
  std::string name;
  std::string address;  // srv_addr
  int port = 0;         // srv_port
  int op_state = 0;
  int admin_state = 0;
};

struct RunningBackend {
  int id = 0;
  std::string name;
  std::vector<RunningServer> servers;  // in the order HAProxy lists them
};

// `show servers state` output (format version 1, HAProxy 2.6): a version line, a `# `
// header naming the columns, then one line per server. Columns are found by name, so the
// extra columns later versions append do not break it. A backend without servers does not
// appear at all. Errors: another format version, a missing column, a malformed row, or a
// CLI error reply such as "Can't find backend.".
[[nodiscard]] Result<std::vector<RunningBackend>> ParseServersState(std::string_view text);

// An order-independent digest of the running servers as the decision reads them when nothing
// is to be retired (backend, server, address, port, admin state) and how many there are, plus
// the report's counts by state. Equal `SameServers` means PlanLbSync sees the same servers
// apart from op states, which it reads only for a backend that retires servers (a backend
// whose names differ from the rendered ones, so its digest differs too). FingerprintServersState
// reads `show servers state` without building rows (the periodic comparison's cheap path, ~100x
// less allocation than ParseServersState); FingerprintServers gives the same value for parsed
// rows. Errors: those of ParseServersState.
struct ServersFingerprint {
  uint64_t hash = 0;
  size_t servers = 0;
  int up = 0, down = 0, maint = 0, drain = 0;  // as the agent's report counts them
  bool SameServers(const ServersFingerprint& o) const {
    return hash == o.hash && servers == o.servers;
  }
  bool operator==(const ServersFingerprint&) const = default;
};
[[nodiscard]] Result<ServersFingerprint> FingerprintServersState(std::string_view text);
ServersFingerprint FingerprintServers(const std::vector<RunningBackend>& backends);
// The report's name for a server's state: "maint", "drain", "up" or "down".
const char* ServerStateName(int op_state, int admin_state);

struct RunningLb {
  // StructureDigest of the config HAProxy was last loaded with (the agent remembers it, or
  // computes it from the file on disk when it adopts a running HAProxy); "" = unknown.
  std::string structure_digest;
  std::vector<RunningBackend> backends;
};

// ---- The decision ------------------------------------------------------------------------

struct Endpoint {
  std::string address;
  int port = 0;
  auto operator<=>(const Endpoint&) const = default;
};

struct ServerRef {
  std::string backend;
  std::string server;
  auto operator<=>(const ServerRef&) const = default;
};

// The admin state galley itself last put a server in. Anything in drain/maint that galley
// did not set is a hand change: reported, never undone.
enum class AdminIntent { kReady, kDrain, kMaint };
const char* AdminIntentName(AdminIntent i);

// kNow runs at once; kAfterDrain runs once the drained servers' sessions reached 0 or the
// drain timeout passed (the waiting is the caller's).
enum class CommandPhase { kNow, kAfterDrain };

// The reply that means success (haproxy-lab §3.2).
enum class Expect {
  kEmpty,             // set server … state, enable/disable server, enable health
  kServerRegistered,  // "New server registered."
  kServerDeleted,     // "Server deleted."
  kAddressChanged,    // set server … addr: a sentence naming what changed
};

struct RuntimeCommand {
  std::string text;  // one CLI command, no newline
  CommandPhase phase = CommandPhase::kNow;
  Expect expect = Expect::kEmpty;
  ServerRef server;
  bool operator==(const RuntimeCommand&) const = default;
};

struct HandChange {
  ServerRef server;
  std::string state;  // "maint" or "drain"
  bool operator==(const HandChange&) const = default;
};

struct LbSyncInput {
  DesiredLb desired;
  RunningLb running;
  std::vector<Endpoint> killing;  // tasks Marathon is killing (TASK_KILLING or the 1.8+ hint)
  std::map<ServerRef, AdminIntent> intents;  // what galley set before (from the last plan)
};

struct LbSyncPlan {
  bool reload = false;
  std::string reload_reason;  // why, for the log and the agent's report
  // Ordered: kNow commands first (address moves, additions, re-enables, drains), then the
  // kAfterDrain ones (maint, then del). With reload, only the drains of killing tasks, so the
  // old worker stops sending them new requests while the new one starts.
  std::vector<RuntimeCommand> commands;
  std::vector<HandChange> hand_changes;
  // The intents once every command succeeded; the caller keeps them for the next call.
  // When a batch fails part-way, keep the previous intents and add kMaint for each server
  // whose `add server` succeeded (it starts in maint), so it is not taken for a hand change.
  std::map<ServerRef, AdminIntent> intents_after;
  std::vector<std::string> notes;  // decisions worth a log line (kept in maint until reload)
  // Some retirement was deferred because it would have taken a backend's last servers out of
  // rotation: plan again soon (once a replacement is up, or the old ones are down).
  bool recheck_soon = false;
};

LbSyncPlan PlanLbSync(const LbSyncInput& in);

// Checks a command's reply against what success looks like. `del server` refused because
// connections remain is kUnavailable (retry shortly, haproxy-lab §3.1); anything else
// unexpected is kInternal with HAProxy's words.
[[nodiscard]] Status CheckReply(const RuntimeCommand& cmd, std::string_view reply);

}  // namespace galley::agent
