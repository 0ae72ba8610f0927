// SPDX-License-Identifier: Apache-2.0
// The load-balancer manager half of `galley agent` (DESIGN §8 point 14, issue #12): keeps one
// HAProxy instance on this node in step with the LB model central galley publishes at
// LbModelKey(platform, instance) and the passing instances Consul knows.
//
// One sync: the model (blocking KV watch in Run, one read in SyncOnce) → the registered
// names it needs → their instances (clients::MembershipWatch: two long polls in Run whatever
// the number of services, then one read per changed service) → RenderHaproxyConfig (the same
// pure renderer as `galley render`, with this node's bind address and the stats socket in the
// run dir) plus the agent's server-state lines → ParseRenderedConfig → `show servers state` →
// PlanLbSync →
//   - structure changed: write <instance>.cfg.new, `haproxy -c` it, send the drains of tasks
//     being killed, dump `show servers state` (rows of servers the new config keeps at the
//     same address) into the server-state file, move the config into place (the previous one
//     kept as .cfg.prev), reload through the master socket and confirm with `show proc`. A
//     failed reload puts the previous file back; the old worker keeps serving.
//   - membership only: the runtime commands, kNow at once, kAfterDrain per server once its
//     sessions reached 0 (`show stat`) or drain_timeout passed; then the file is rewritten
//     with the new membership without a reload, so a later reload or restart starts from it.
// Faults:
//   - A model that does not parse, or whose config fails `haproxy -c`, is never loaded: the
//     error is logged and reported, its digest remembered as bad, and the sync goes on with
//     the last good model (membership changes still land); a new model is tried when it
//     arrives.
//   - Consul unreachable or answering garbage: the last known model and membership stay (a
//     failed read never empties a backend); a service never read successfully leaves HAProxy
//     as it is rather than render it empty.
//   - HAProxy gone (killed, crashed): started again from the current render, or, when that is
//     not possible (no model yet, Consul down), from the config file on disk.
//   - Agent restart: the master answering on its socket is adopted; the state file
//     <instance>.agent.json (written after every confirmed start/reload and intent change)
//     says which structure that master loaded, so nothing reloads when nothing changed. A
//     master pid other than the recorded one means "unknown structure": one reload.
// Drain() (the registrator's TASK_KILLING) marks endpoints as killing and wakes the loop at
// once; matching servers go to drain in that sync.
// Logs go to the sink, never to stdout. Thread-safe: Drain, Report and stats from any thread;
// SyncOnce/Run from one thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "agent/haproxy_process.h"
#include "agent/haproxy_runtime.h"
#include "agent/lb_sync.h"
#include "base/clock.h"
#include "base/status.h"
#include "clients/consul_client.h"
#include "clients/consul_watch.h"
#include "render/lb_model.h"

namespace galley::agent {

struct LbManagerOptions {
  std::string platform;
  std::string node;
  std::string instance;
  std::string bind_address;  // "" = all addresses
  std::string run_dir;       // <run>/<instance>.{cfg,sock,master.sock,pid,log,state,agent.json}
  std::string agent_version = "dev";
  std::chrono::milliseconds drain_timeout{10000};  // longest wait for sessions to reach 0
  std::chrono::milliseconds tick{1000};            // HAProxy liveness check in Run
  // HAProxy looked at even when nothing announced a change: the only way hand changes in
  // HAProxy are seen (galley drift reports them within ~10 s). When the last comparison left
  // nothing pending this is QuickCompare (a fingerprint of `show servers state`, ~10 ms of
  // CPU at 13,700 servers); a mismatch, or anything pending, runs the full sync (parse, plan:
  // ~0.15–0.25 s of CPU at that size).
  std::chrono::milliseconds resync{10000};
  std::chrono::milliseconds killing_ttl{600000};  // how long a Drain()ed endpoint counts
  // After Run started HAProxy, its servers are remembered as rendered and compared with
  // `show servers state` this much later (a change arriving first goes per backend first).
  std::chrono::milliseconds compare_after_start{2000};
  clients::BlockingOptions blocking;  // Run's long polls
};

struct LbManagerDeps {
  clients::ConsulClient* consul = nullptr;  // one-shot reads (model in SyncOnce, services)
  // Run's long polls (model key, health/state/any, catalog/services).
  net::HttpClient* http = nullptr;
  clients::ConsulEndpoint consul_endpoint;
  HaproxyRuntime* runtime = nullptr;  // the stats socket StatsSocketPath() names
  HaproxyMaster* master = nullptr;    // e.g. ProcessHaproxyMaster(PathsUnder(run_dir, instance))
  Clock* clock = nullptr;
  std::function<void(const std::string&)> log;                // one line per call
  std::function<void(const render::AgentReport&)> on_report;  // e.g. Reporter::Update
  // When set and false, the sync leaves HAProxy alone and reports why: e.g.
  // Reporter::holding, so of two agents claiming one node and instance only the one holding
  // the report key manages HAProxy.
  std::function<bool()> may_manage;
};

struct LbManagerStats {
  int syncs = 0;
  int starts = 0;            // HAProxy masters started
  int reloads = 0;           // confirmed reloads
  int runtime_commands = 0;  // runtime-API commands sent
  int file_rewrites = 0;     // config rewritten without a reload
  int partial_renders = 0;   // syncs that rendered only the services whose instances changed
  int full_comparisons = 0;  // syncs that read and compared every server (`show servers state`)
};

class LbManager {
 public:
  LbManager(LbManagerOptions options, LbManagerDeps deps);
  ~LbManager();

  // The files of an instance under a run dir.
  static std::string ConfigPath(const std::string& run_dir, const std::string& instance);
  static std::string StatsSocketPath(const std::string& run_dir, const std::string& instance);
  static std::string ServerStatePath(const std::string& run_dir, const std::string& instance);
  static std::string AgentStatePath(const std::string& run_dir, const std::string& instance);

  // `galley agent --once`: reads Consul without blocking, syncs, waits out drains (at most
  // drain_timeout) and returns the sync's error, if any.
  [[nodiscard]] Status SyncOnce();
  // Watches and syncs until `stop`; returns within about `blocking.wait` of it.
  void Run(const std::atomic<bool>& stop);
  // Starts Run's long polls ahead of it (idempotent; Run starts them if not yet), so their
  // first answers arrive while the caller does something else (`galley agent` loads the
  // services for the registrator meanwhile); each reads once and waits for Run before its
  // first blocking read, so StopWatches before Run returns at once. StopWatches ends them
  // (Run does when it ends); call neither while Run runs.
  void StartWatches();
  void StopWatches();
  // Before Run, on the caller's thread: StartWatches, their first answers, then one sync up
  // to the render (the model parsed, every service read, the config rendered and parsed)
  // without touching HAProxy or asking may_manage, so Run's first sync goes straight to
  // HAProxy. `galley agent` runs it while the services load for the registrator.
  void Prepare();
  // Tasks being killed (TASK_KILLING): their servers are drained at the next sync, which
  // this wakes at once.
  void Drain(const std::vector<Endpoint>& endpoints);
  // Wakes Run for a sync that compares every server (tests, signals).
  void Wake();

  render::AgentReport Report() const;
  LbManagerStats stats() const;

 private:
  struct Model {
    render::LbModel model;
    std::string digest;
  };
  struct AgentFile {  // <instance>.agent.json
    int master_pid = 0;
    std::string structure_digest, config_digest, model_digest;
    std::string started, last_reload, last_reload_reason;
    std::map<ServerRef, AdminIntent> intents;
  };

  // One sync; `blocking` = Run (watches) vs SyncOnce (direct reads). Sets *retry_in when
  // something must be looked at again soon (drains in progress, failed reads).
  Status Sync(bool blocking, std::chrono::milliseconds* retry_in);
  Status SyncWithModel(const Model& model, const clients::MembershipSnapshot& snap,
                       std::chrono::milliseconds* retry_in);
  Result<std::optional<Model>> ReadModel(bool blocking, std::string* model_error);
  Status StartFromDisk(const std::string& why);
  Status WriteAndCheck(const std::string& text, const std::string& path);
  Status ApplyRuntime(const LbSyncPlan& plan, const DesiredLb& desired,
                      const std::vector<RunningBackend>& running, const std::string& text,
                      std::chrono::milliseconds* retry_in);
  Status Reload(const LbSyncPlan& plan, const DesiredLb& desired, const std::string& text,
                const Model& model);
  Status DumpServerState(const DesiredLb& desired);
  Result<std::map<ServerRef, int>> Sessions(const std::set<ServerRef>& servers);
  void SaveAgentFile();
  void LoadAgentFile();
  void Log(const std::string& line);
  // Phase timings of the sync in progress, logged when a sync takes over 100 ms.
  void Mark(const std::string& phase);
  std::vector<std::pair<std::string, std::chrono::steady_clock::time_point>> phases_;
  void Publish(const std::vector<RunningBackend>* running, const std::vector<HandChange>* hands);
  std::vector<Endpoint> KillingNow(const DesiredLb& desired);
  // Wakes Run; `compare_all` makes the sync compare every server, not only changed backends.
  void Notify(bool compare_all);
  // The periodic comparison when nothing was announced and the last one left nothing pending:
  // `show servers state` fingerprinted (FingerprintServersState) against the servers the agent
  // remembers (known_). true when they match (a hand change, a server gone or a check that
  // flipped does not match, and the full comparison follows).
  bool QuickCompare();
  // Freed memory handed back to the OS (ReleaseFreeMemory: mimalloc's collect, glibc's trim) at
  // most every 30 s after a long sync, else at the next QuickCompare.
  std::chrono::steady_clock::time_point last_trim_{};
  bool trim_due_ = false;

  LbManagerOptions options_;
  LbManagerDeps deps_;
  Clock* clock_;
  std::string config_path_, socket_path_, state_path_, agent_path_;
  std::unique_ptr<clients::MembershipWatch> membership_;
  std::unique_ptr<clients::KvWatch> model_watch_;

  // Loop state (the sync thread only).
  std::optional<Model> last_good_;
  std::string parsed_text_;            // digest of the model text parsed last
  std::optional<Model> parsed_model_;  // and what it gave
  std::set<std::string> bad_models_;   // digests (or sha256 of unparsable texts) never loaded
  std::string failed_config_;          // config digest whose reload failed: not retried as is
  AgentFile file_;
  std::string written_membership_;  // membership digest of the file on disk
  std::map<ServerRef, std::chrono::steady_clock::time_point> drain_started_;
  std::set<std::string> logged_notes_;  // PlanLbSync notes logged and still holding
  bool haproxy_seen_ = false;
  std::chrono::steady_clock::time_point created_;
  long fd_hard_limit_ = 0;  // this process's hard RLIMIT_NOFILE; 0 = unlimited

  // What the last sync rendered and found, so a membership change costs work per changed
  // backend (SyncChanged) and a wake with nothing new costs no render at all.
  struct Rendered {
    std::string model_digest;
    model::Instances instances;  // the snapshot rendered
    std::string text;            // the config rendered from them
    DesiredLb desired;
    // `desired` has backends spliced in by RenderChanged after `text` was rendered: the text
    // is not written anywhere until a whole render replaces it.
    bool text_stale = false;
    std::unordered_map<std::string, size_t> backend_at;  // name → index in desired.backends
  };
  std::optional<Rendered> rendered_;
  struct Known {
    int master_pid = 0;
    std::string structure_digest;         // the one HAProxy runs (file_.structure_digest)
    DesiredLb desired;                    // what HAProxy was last brought to
    std::vector<RunningBackend> running;  // its servers then (patched per changed backend)
    std::vector<HandChange> hands;        // hand changes seen then
    std::chrono::steady_clock::time_point full_at;  // the last full comparison
  };
  std::optional<Known> known_;  // empty: the next sync compares everything
  // A membership-only change of at most this many backends is compared per backend; more,
  // or a full comparison older than this, compares everything.
  static constexpr size_t kMaxChangedBackends = 64;
  static constexpr std::chrono::seconds kFullCompareEvery{30};
  // At most this many registered names changed: RenderChanged renders only their services.
  static constexpr size_t kMaxPartialServices = 16;
  // After a spliced sync, the whole config is rendered (and the file rewritten) this much later.
  static constexpr std::chrono::milliseconds kWholeRenderAfter{1000};
  std::chrono::steady_clock::time_point whole_render_at_{};  // Run: not before then
  // After HAProxy changed and its servers are not remembered (a start, drains that ended),
  // the full comparison that remembers them runs this much later.
  static constexpr std::chrono::milliseconds kSettleAfter{500};
  bool blocking_ = false;      // the sync in progress is Run's (watches), not SyncOnce's
  bool prepare_only_ = false;  // Prepare(): stop before HAProxy
  // When the servers remembered as rendered at a start are to be compared with HAProxy's.
  std::optional<std::chrono::steady_clock::time_point> compare_at_;
  // The last render with the services of the names whose instances changed rendered again and
  // their backends spliced in; nullopt when that does not apply (no render to start from, no
  // known HAProxy state, too many names, a name gaining its first or losing its last
  // instance, a backend the last render lacks).
  // `why` says why not when some instances did change.
  // Returns the re-rendered backends with their index in the last render, in file order.
  std::optional<std::vector<std::pair<size_t, DesiredBackend>>> RenderChanged(
      const Model& model, const model::Instances& instances, std::string* why);
  bool KillingPending() const {
    std::lock_guard<std::mutex> l(mu_);
    return !killing_.empty();
  }
  // The membership-only sync: nullopt when it does not apply (the full one runs instead).
  // `only`: the indices of the backends that can differ (RenderChanged's), else all.
  // `why` says why not when it returns nullopt.
  std::optional<Status> SyncChanged(const Model& model, const DesiredLb& desired,
                                    const std::string& text, int master_pid,
                                    std::chrono::milliseconds* retry_in, std::string* why,
                                    const std::vector<size_t>* only = nullptr);

  // Shared.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;
  bool compare_all_ = false;  // a Wake() since the last sync
  // When the pending wake-up was asked for, and how long the last one waited for the loop.
  std::chrono::steady_clock::time_point woken_at_{};
  std::chrono::milliseconds wake_wait_{0};
  struct Killing {
    std::chrono::steady_clock::time_point since;
    bool rendered = false;  // its server was in a render since the Drain
  };
  // Forgotten once Consul no longer lists the task (rendered, then not), or after killing_ttl,
  // so a new task reusing the port is added normally.
  std::map<Endpoint, Killing> killing_;
  render::AgentReport report_;
  LbManagerStats stats_;
};

// The rendered config plus the agent's server-state lines: `server-state-file` in global and
// `load-server-state-from-file global` in defaults, so a reload keeps admin states.
// With `fd_hard_limit` > 0 (the agent's own hard RLIMIT_NOFILE, which HAProxy inherits) also
// `no strict-limits` in global, so HAProxy starts within that limit instead of exiting.
std::string WithServerStateFile(const std::string& config, const std::string& state_file,
                                long fd_hard_limit = 0);

// The registered names whose instance lists differ between `before` and `after` (a name in
// one only counts); nullopt once more than `limit` differ.
std::optional<std::set<std::string>> ChangedInstanceNames(const model::Instances& before,
                                                          const model::Instances& after,
                                                          size_t limit);

}  // namespace galley::agent
