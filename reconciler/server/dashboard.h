// SPDX-License-Identifier: Apache-2.0
// The dashboard of `galley serve` (issue #13, DESIGN §8 point 15): server-rendered HTML with
// a little plain JavaScript (server/dashboard/app.js, style.css: embedded at build time,
// dashboard_assets.h), no framework and nothing from elsewhere.
//
//   GET /                          the grid: services × environments, one state per cell
//   GET /ui/service/<svc>/<env>    a cell: field diffs, the kept plan's actions, drift first /
//                                  last seen, HAProxy per host, runs and their journal entries
//   GET /ui/plan                   the kept plan as it would be posted on a pull request
//   GET /ui/runs, /ui/run/<id>     the store's runs; one run with its journal
//   GET /ui/cells                  the grid's states as JSON (what the page updates from)
//   GET /ui/events                 server-sent events: "change" whenever the worker's snapshot
//                                  or its events change (coalesced), heartbeats when quiet
//   GET /ui/assets/<name>          app.js, style.css
//
// A cell's state, first that holds (ARCHITECTURE.md "The dashboard"): paused (status says
// paused) · deploying (an apply runs and has started a step of the cell's app or action
// that has not finished, or the last observation saw a Marathon deployment of the app) ·
// failed (status: the plan repeats the change that failed last time) · drifted (status
// drifted, or the drift report has an item of the service in the environment) · pending
// (status: Git wants a change) · unmanaged (status: the app exists, not galley's) · in sync.
//
// Everything from the repository or live systems is HTML-escaped (HtmlEscape over
// base::Printable); pages are sent with a Content-Security-Policy that allows only galley's
// own script and style, so an injected tag could not run anyway. The API token is never in
// a page: the apply button asks for it and keeps it in the tab's sessionStorage.
//
// The Render* functions are pure (JSON snapshots in, HTML out); Dashboard caches the grid
// per snapshot version. Thread-safe: Dashboard::Handle from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "net/event_stream.h"
#include "net/http_types.h"

namespace galley::server {

class Server;

// HTML text and attribute escaping: & < > " ' become entities; invisible and bidi characters
// are made visible first (base::Printable) so a name cannot disguise itself.
std::string HtmlEscape(std::string_view s);
// The same, line by line, keeping the line breaks (text shown in <pre>).
std::string HtmlEscapeLines(std::string_view s);

enum class CellState : int {
  kInSync = 0,
  kPending,
  kDrifted,
  kFailed,
  kDeploying,
  kPaused,
  kUnmanaged,
  kUnknown,  // no status row (not declared there, or no observation yet)
};
inline constexpr int kCellStates = 8;
const char* CellStateName(CellState s);  // "in sync", ..., "unknown"

// A JSON document shared, not copied (the worker's snapshots are megabytes at 2,000 services
// × 3 environments); Mut() copies it first (tests build documents that way).
class SharedJson {
 public:
  SharedJson() : p_(Null()) {}
  SharedJson(nlohmann::json j) : p_(std::make_shared<const nlohmann::json>(std::move(j))) {}
  SharedJson(std::shared_ptr<const nlohmann::json> p) : p_(p ? std::move(p) : Null()) {}
  operator const nlohmann::json&() const { return *p_; }
  const nlohmann::json& operator*() const { return *p_; }
  const nlohmann::json* operator->() const { return p_.get(); }
  nlohmann::json& Mut() {
    auto copy = std::make_shared<nlohmann::json>(*p_);
    p_ = copy;
    return *copy;
  }

 private:
  static std::shared_ptr<const nlohmann::json> Null() {
    static const auto kNull = std::make_shared<const nlohmann::json>();
    return kNull;
  }
  std::shared_ptr<const nlohmann::json> p_;
};

// What the pages are made from: the worker's JSON snapshots (worker.h) and the server's.
struct DashboardData {
  SharedJson status;      // engine::StatusToJson (null before the first observation)
  SharedJson drift;       // engine::DriftToJson
  SharedJson plan;        // the kept plan (PlanToJson + plan_id); null when none
  nlohmann::json events;  // the worker's recent events (array)
  SharedJson agents;      // engine::AgentsToJson
  bool applying = false;  // an apply runs now
  bool leader = false;
  std::string holder;  // who this server is
  uint64_t version = 0, snapshot_version = 0;
};

// The grid: services (status order) × environments, row-major cell states.
struct GridView {
  std::vector<std::string> services, environments;
  std::vector<CellState> cells;
  std::vector<std::string> manual;  // environments the kept plan covers (sync: manual)
  std::string layout;               // a digest of the services and environments
  int counts[kCellStates] = {};
  std::string plan_id;
  size_t plan_actions = 0;
  std::string activity;  // the newest event's line while an apply runs
  CellState At(size_t service, size_t env) const {
    return cells[service * environments.size() + env];
  }
};
GridView BuildGrid(const DashboardData& d);

// The pages (complete HTML documents) and the grid's live-update document.
std::string RenderGridPage(const DashboardData& d, const GridView& g);
// {"version", "snapshot", "layout", "states": "0123…" (one digit per cell, row-major),
//  "counts": {name: n}, "leader", "applying", "activity", "plan": {"id", "actions"}}
nlohmann::json CellsJson(const DashboardData& d, const GridView& g);
// `runs`: /api/v1/runs' "runs" (the store's); `journals`: run id → /api/v1/runs/<id>;
// `drift_records`: the store's open drift records ({"resource", "first_seen", "last_seen"}),
// which give first / last seen where the drift report has none.
std::string RenderCellPage(const DashboardData& d, const std::string& service,
                           const std::string& env, const nlohmann::json& runs,
                           const std::vector<nlohmann::json>& journals,
                           const nlohmann::json& drift_records = nlohmann::json::array());
// `markdown`: engine::RenderPlanMarkdown of the kept plan ("" when there is none).
std::string RenderPlanPage(const DashboardData& d, const std::string& markdown);
std::string RenderRunsPage(const DashboardData& d, const nlohmann::json& runs_doc);
std::string RenderRunPage(const DashboardData& d, const nlohmann::json& run);
std::string RenderErrorPage(const DashboardData& d, int status, const std::string& message);

// Where the dashboard reads: the worker and the server's API (runs, leader), as functions so
// tests can fake them. SourceOf(server) wires a real one. `data` copies the snapshots (at
// 2,000 services × 3 environments: megabytes), so the dashboard calls it only when
// `snapshot_version` moved, and `live` for what changes in between.
struct DashboardSource {
  std::function<DashboardData()> data;  // everything
  std::function<uint64_t()> snapshot_version;
  std::function<void(DashboardData&)> live;  // version, applying, leader; events while applying
  std::function<uint64_t()> version;
  std::function<uint64_t(uint64_t seen, std::chrono::milliseconds wait)> wait_change;
  std::function<net::HttpResponse(const net::HttpRequest&)> api;  // GET /api/v1/runs[/<id>]
  std::function<nlohmann::json()> drift_records;  // the store's open drift records; may be unset
};
DashboardSource SourceOf(Server& server);

struct DashboardOptions {
  size_t max_streams = 64;  // open /ui/events streams at once; more answer 503
  net::EventStreamOptions stream;
  std::chrono::milliseconds coalesce{200};  // at most one "change" per this, per stream
  size_t journal_runs = 10;                 // a cell page reads the journals of this many runs
};

class Dashboard {
 public:
  Dashboard(DashboardSource source, DashboardOptions options = {});
  // Every dashboard path above; 404 for others.
  net::HttpResponse Handle(const net::HttpRequest& request);
  // Mounts "/" and "/ui/" on `server` (before Start); the handlers share `dashboard`.
  static void MountOn(Server& server, std::shared_ptr<Dashboard> dashboard);

 private:
  net::HttpResponse Grid();
  net::HttpResponse Cells();
  net::HttpResponse Events();
  net::HttpResponse Cell(const net::HttpRequest& request);
  net::HttpResponse Run(const std::string& id);
  nlohmann::json ApiJson(const std::string& path) const;

  // mu_ held: the snapshots, read again only when the worker's snapshot version moved.
  DashboardData& CurrentLocked();
  const GridView& GridLocked();

  DashboardSource source_;
  DashboardOptions options_;
  net::StreamSlots slots_;
  std::mutex mu_;  // guards everything below; pages render under it, one at a time
  DashboardData snap_;
  bool snap_valid_ = false;
  GridView grid_;
  bool grid_valid_ = false;
  uint64_t grid_snapshot_ = 0;
  struct Cached {
    bool valid = false;
    uint64_t key1 = 0, key2 = 0;
    std::string body;
  };
  Cached grid_page_, cells_, plan_markdown_, plan_page_;
};

}  // namespace galley::server
