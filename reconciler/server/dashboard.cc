// SPDX-License-Identifier: Apache-2.0
#include "server/dashboard.h"

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include "base/strings.h"
#include "engine/plan.h"
#include "server/dashboard_assets.h"
#include "server/server.h"
#include "store/state_store.h"

namespace galley::server {
namespace {

using json = nlohmann::json;

constexpr const char* kStateNames[kCellStates] = {"in sync",   "pending", "drifted",   "failed",
                                                  "deploying", "paused",  "unmanaged", "unknown"};

std::string E(std::string_view s) { return HtmlEscape(s); }

// A JSON value for a table cell: strings as they are, the rest as compact JSON.
std::string ValueText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string Str(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  return ValueText(*it);
}

const json& Arr(const json& j, const char* key) {
  static const json kEmpty = json::array();
  if (!j.is_object()) return kEmpty;
  auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : kEmpty;
}

std::string Fnv(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// The version of the embedded assets, for cache-busting URLs.
const std::string& AssetVersion() {
  static const std::string v = [] {
    std::string all;
    for (const char* n : {"app.js", "style.css"}) {
      if (auto a = DashboardAsset(n)) all += *a;
    }
    return Fnv(all).substr(0, 10);
  }();
  return v;
}

CellState FromStatus(const std::string& s) {
  if (s == "in sync") return CellState::kInSync;
  if (s == "pending") return CellState::kPending;
  if (s == "drifted") return CellState::kDrifted;
  if (s == "failed") return CellState::kFailed;
  if (s == "paused") return CellState::kPaused;
  if (s == "unmanaged") return CellState::kUnmanaged;
  return CellState::kUnknown;
}

std::string StateBadge(CellState s) {
  int i = static_cast<int>(s);
  return "<span class=\"badge s" + std::to_string(i) + "\">" + kStateNames[i] + "</span>";
}

// The page around `body`; `attrs` go on <body> (data-* for app.js).
std::string Page(const DashboardData& d, const std::string& title, const std::string& page,
                 const std::string& body, const std::string& attrs = "") {
  std::string platform = Str(d.status, "platform");
  std::string commit = Str(d.status, "commit");
  std::string out;
  out.reserve(body.size() + 2048);
  out += "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">";
  out += "<title>" + E(title) + (platform.empty() ? "" : " · " + E(platform)) + " · galley</title>";
  out += "<link rel=\"stylesheet\" href=\"/ui/assets/style.css?v=" + AssetVersion() + "\">";
  out += "<script src=\"/ui/assets/app.js?v=" + AssetVersion() + "\" defer></script>";
  out += "</head><body data-page=\"" + page + "\" data-version=\"" + std::to_string(d.version) +
         "\" data-snapshot=\"" + std::to_string(d.snapshot_version) + "\"" + attrs + ">";
  out += "<header><a class=\"brand\" href=\"/\">galley</a>";
  if (!platform.empty()) out += " <span id=\"platform\">" + E(platform) + "</span>";
  out +=
      "<nav><a href=\"/\">Grid</a> <a href=\"/ui/plan\">Plan</a> <a "
      "href=\"/ui/runs\">Runs</a></nav>";
  out += "<span id=\"leader\" class=\"" + std::string(d.leader ? "leader" : "readonly") + "\">" +
         (d.leader ? "leader" : "read-only (not the leader)") + "</span>";
  if (!d.holder.empty()) out += " <span class=\"muted\">" + E(d.holder) + "</span>";
  if (!commit.empty()) out += " <span class=\"muted\">commit " + E(ShortCommit(commit)) + "</span>";
  std::string checked = Str(d.status, "checked_at");
  if (!checked.empty()) out += " <span class=\"muted\">checked " + E(checked) + "</span>";
  out += " <span id=\"live\" class=\"muted\" title=\"live updates\">○</span></header>\n<main>";
  out += body;
  out += "</main></body></html>\n";
  return out;
}

net::HttpResponse Html(int status, std::string body) {
  net::HttpResponse r =
      net::HttpResponse::Text(status, std::move(body), "text/html; charset=utf-8");
  r.headers["Content-Security-Policy"] =
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
      "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
  r.headers["X-Content-Type-Options"] = "nosniff";
  r.headers["Referrer-Policy"] = "no-referrer";
  r.headers["Cache-Control"] = "no-cache";
  return r;
}

// The apply bar: shown when the kept plan has actions (the manual environments').
std::string ApplyBar(const DashboardData& d) {
  std::string id = Str(d.plan, "plan_id");
  size_t n = Arr(d.plan, "actions").size();
  std::string envs;
  for (const auto& e : Arr(d.plan, "environments"))
    envs += (envs.empty() ? "" : ", ") + E(ValueText(e));
  std::string out = "<section id=\"applybar\" data-plan-id=\"" + E(id) + "\"" +
                    (n == 0 || id.empty() ? " hidden" : "") + ">";
  out += "<span id=\"plan-summary\">Plan <code id=\"plan-id\">" + E(id.substr(0, 19)) +
         "</code>: <b id=\"plan-actions\">" + std::to_string(n) + "</b> action(s) for " +
         (envs.empty() ? "the manual environments" : envs) + "</span> ";
  out += "<a href=\"/ui/plan\">review</a> ";
  out +=
      "<input id=\"token\" type=\"password\" placeholder=\"API token\" autocomplete=\"off\" "
      "aria-label=\"API token\"> ";
  out += std::string("<button id=\"apply\" type=\"button\"") + (d.leader ? "" : " disabled") +
         ">Apply this plan</button> <span id=\"apply-result\" role=\"status\"></span></section>";
  return out;
}

std::string FieldTable(const json& fields, const char* before, const char* after,
                       const char* before_title, const char* after_title) {
  if (!fields.is_array() || fields.empty()) return "";
  std::string out = "<table class=\"diff\"><thead><tr><th>field</th><th>" +
                    std::string(before_title) + "</th><th>" + after_title +
                    "</th></tr></thead><tbody>";
  for (const auto& f : fields) {
    out += "<tr><td><code>" + E(Str(f, "path")) + "</code></td>";
    out += f.contains(before)
               ? "<td class=\"old\"><code>" + E(ValueText(f[before])) + "</code></td>"
               : "<td class=\"muted\">(absent)</td>";
    out += f.contains(after) ? "<td class=\"new\"><code>" + E(ValueText(f[after])) + "</code></td>"
                             : "<td class=\"muted\">(absent)</td>";
    out += "</tr>";
  }
  out += "</tbody></table>";
  return out;
}

bool Mentions(const std::string& resource, const std::string& service, const std::string& env) {
  return resource.find(env + "/" + service) != std::string::npos;
}

std::string RunLink(const json& id) {
  std::string s = ValueText(id);
  return "<a href=\"/ui/run/" + net::PercentEncode(s) + "\">#" + E(s) + "</a>";
}

}  // namespace

std::string HtmlEscape(std::string_view s) {
  std::string p = Printable(s);
  std::string out;
  out.reserve(p.size() + 8);
  for (char c : p) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string HtmlEscapeLines(std::string_view s) {
  std::string out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find('\n', start);
    std::string_view line = s.substr(start, end == std::string_view::npos ? end : end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out += HtmlEscape(line);
    if (end == std::string_view::npos) break;
    out += '\n';
    start = end + 1;
  }
  return out;
}

const char* CellStateName(CellState s) {
  int i = static_cast<int>(s);
  return i >= 0 && i < kCellStates ? kStateNames[i] : "unknown";
}

GridView BuildGrid(const DashboardData& d) {
  GridView g;
  for (const auto& e : Arr(d.status, "environments")) g.environments.push_back(ValueText(e));
  for (const auto& e : Arr(d.plan, "environments")) g.manual.push_back(ValueText(e));
  g.plan_id = Str(d.plan, "plan_id");
  g.plan_actions = Arr(d.plan, "actions").size();
  std::map<std::string, size_t> env_index;
  for (size_t i = 0; i < g.environments.size(); ++i) env_index[g.environments[i]] = i;
  const json& rows = Arr(d.status, "services");
  std::map<std::string, size_t> service_index;
  for (const auto& r : rows) {
    std::string s = Str(r, "service");
    if (service_index.emplace(s, g.services.size()).second) g.services.push_back(s);
  }
  const size_t EN = g.environments.size();
  g.cells.assign(g.services.size() * EN, CellState::kUnknown);
  auto cell = [&](const std::string& s, const std::string& e) -> CellState* {
    auto si = service_index.find(s);
    auto ei = env_index.find(e);
    if (si == service_index.end() || ei == env_index.end()) return nullptr;
    return &g.cells[si->second * EN + ei->second];
  };
  std::map<std::string, std::pair<std::string, std::string>> by_app;  // app id → cell
  std::set<std::pair<std::string, std::string>> deploying_now;
  for (const auto& r : rows) {
    std::string s = Str(r, "service"), e = Str(r, "environment");
    CellState* c = cell(s, e);
    if (!c) continue;
    *c = FromStatus(Str(r, "state"));
    std::string app = Str(r, "app");
    if (!app.empty()) by_app[app] = {s, e};
    if (r.value("deploying", false) && *c != CellState::kPaused) deploying_now.insert({s, e});
  }
  for (const auto& i : Arr(d.drift, "drift")) {
    CellState* c = cell(Str(i, "service"), Str(i, "environment"));
    if (c && (*c == CellState::kInSync || *c == CellState::kPending)) *c = CellState::kDrifted;
  }
  if (d.applying) {
    std::map<std::string, std::pair<std::string, std::string>> by_action;
    for (const auto& a : Arr(d.plan, "actions")) {
      by_action[Str(a, "id")] = {Str(a, "service"), Str(a, "environment")};
    }
    // Steps started and not finished, by the cell they touch.
    std::map<std::pair<std::string, std::string>, int> open;
    for (const auto& ev : d.events.is_array() ? d.events : json::array()) {
      std::string kind = Str(ev, "kind");
      if (kind != "step-started" && kind != "step-finished") continue;
      std::pair<std::string, std::string> key;
      auto app = by_app.find(Str(ev, "target"));
      auto act = by_action.find(Str(ev, "action"));
      if (app != by_app.end()) {
        key = app->second;
      } else if (act != by_action.end()) {
        key = act->second;
      } else {
        continue;
      }
      open[key] = kind == "step-started" ? 1 : 0;
    }
    for (const auto& [k, v] : open) {
      if (v) deploying_now.insert(k);
    }
    if (d.events.is_array() && !d.events.empty()) g.activity = Str(d.events.back(), "line");
  }
  for (const auto& [s, e] : deploying_now) {
    CellState* c = cell(s, e);
    if (c && *c != CellState::kPaused) *c = CellState::kDeploying;
  }
  for (CellState c : g.cells) ++g.counts[static_cast<int>(c)];
  std::string key;
  for (const auto& s : g.services) key += s + '\n';
  key += '\x01';
  for (const auto& e : g.environments) key += e + '\n';
  g.layout = Fnv(key);
  return g;
}

std::string RenderGridPage(const DashboardData& d, const GridView& g) {
  std::string body;
  body.reserve(g.cells.size() * 28 + g.services.size() * 40 + 4096);
  if (d.status->is_null()) {
    body +=
        "<p class=\"notice\">No observation yet: the first reconcile is running. This page "
        "updates when it is done.</p>";
    return Page(d, "Services", "grid", body, " data-layout=\"\"");
  }
  body += ApplyBar(d);
  body += "<section id=\"summary\">";
  for (int i = 0; i < kCellStates; ++i) {
    if (i == static_cast<int>(CellState::kUnknown) && g.counts[i] == 0) continue;
    body += "<span class=\"count s" + std::to_string(i) + "\">" + kStateNames[i] + " <b id=\"n" +
            std::to_string(i) + "\">" + std::to_string(g.counts[i]) + "</b></span> ";
  }
  body += "<span id=\"activity\" class=\"muted\">" + E(g.activity) + "</span></section>";
  // A few warnings (a platform of thousands of services may have thousands: the page stays lean).
  const json& warnings = Arr(d.status, "warnings");
  constexpr size_t kShownWarnings = 5;
  for (size_t i = 0; i < warnings.size() && i < kShownWarnings; ++i) {
    body += "<p class=\"warning\">" + E(ValueText(warnings[i])) + "</p>";
  }
  if (warnings.size() > kShownWarnings) {
    body += "<p class=\"warning\">… and " + std::to_string(warnings.size() - kShownWarnings) +
            " more warnings (<a href=\"/api/v1/status\">/api/v1/status</a> lists them all)</p>";
  }
  // One header table, then the rows in tables of kChunkRows inside elements the browser may
  // skip while off screen (content-visibility: auto): the first paint lays out one screenful,
  // not thousands of rows. Fixed column widths (style.css) keep the tables aligned.
  constexpr size_t kChunkRows = 100;
  body += "<div id=\"grid\"><table class=\"gh\"><thead><tr><th>service</th>";
  for (const auto& e : g.environments) {
    bool manual = std::find(g.manual.begin(), g.manual.end(), e) != g.manual.end();
    body +=
        "<th data-e=\"" + E(e) + "\">" + E(e) + (manual ? " <small>manual</small>" : "") + "</th>";
  }
  body += "</tr></thead></table>\n";
  const size_t EN = g.environments.size();
  size_t k = 0;
  for (size_t s = 0; s < g.services.size(); ++s) {
    if (s % kChunkRows == 0) {
      if (s > 0) body += "</tbody></table></div>\n";
      body += "<div class=\"chunk\"><table><tbody>\n";
    }
    std::string name = E(g.services[s]);
    body += "<tr data-s=\"" + name + "\"><th>" + name + "</th>";
    for (size_t e = 0; e < EN; ++e, ++k) {
      int st = static_cast<int>(g.cells[k]);
      body += "<td class=\"s";
      body += std::to_string(st);
      body += "\">";
      body += kStateNames[st];
      body += "</td>";
    }
    body += "</tr>\n";
  }
  if (!g.services.empty()) body += "</tbody></table></div>";
  body += "</div>";
  return Page(d, "Services", "grid", body, " data-layout=\"" + g.layout + "\"");
}

json CellsJson(const DashboardData& d, const GridView& g) {
  std::string states;
  states.reserve(g.cells.size());
  for (CellState c : g.cells) states += static_cast<char>('0' + static_cast<int>(c));
  json counts = json::object();
  for (int i = 0; i < kCellStates; ++i) counts[kStateNames[i]] = g.counts[i];
  return json{{"version", d.version},
              {"snapshot", d.snapshot_version},
              {"layout", d.status->is_null() ? "" : g.layout},
              {"states", states},
              {"counts", counts},
              {"leader", d.leader},
              {"applying", d.applying},
              {"activity", g.activity},
              {"plan", json{{"id", g.plan_id}, {"actions", g.plan_actions}}}};
}

std::string RenderCellPage(const DashboardData& d, const std::string& service,
                           const std::string& env, const json& runs,
                           const std::vector<json>& journals, const json& drift_records) {
  GridView g = BuildGrid(d);
  CellState state = CellState::kUnknown;
  for (size_t s = 0; s < g.services.size(); ++s) {
    if (g.services[s] != service) continue;
    for (size_t e = 0; e < g.environments.size(); ++e) {
      if (g.environments[e] == env) state = g.At(s, e);
    }
  }
  std::string body = "<h1>" + E(service) + " <span class=\"muted\">in</span> " + E(env) + " " +
                     StateBadge(state) + "</h1>";
  // The status row.
  for (const auto& r : Arr(d.status, "services")) {
    if (Str(r, "service") != service || Str(r, "environment") != env) continue;
    const json& in = r.contains("instances") ? r["instances"] : json::object();
    body += "<section id=\"status\"><h2>Status</h2><dl>";
    body += "<dt>app</dt><dd><code>" + E(Str(r, "app")) + "</code>" +
            (r.value("live", false) ? "" : " <span class=\"muted\">(not running)</span>") + "</dd>";
    body += "<dt>image tag</dt><dd>live <code>" + E(Str(r, "live_tag")) +
            "</code>, desired <code>" + E(Str(r, "desired_tag")) + "</code></dd>";
    body += "<dt>instances</dt><dd>" + E(Str(in, "healthy")) + " healthy, " +
            E(Str(in, "running")) + " running, " + E(Str(in, "wanted")) + " wanted (desired " +
            E(Str(in, "desired")) + ")</dd>";
    if (r.value("deploying", false)) {
      std::string deps;
      for (const auto& x : Arr(r, "deployments")) deps += (deps.empty() ? "" : ", ") + ValueText(x);
      body += "<dt>deploying</dt><dd>" + E(deps) + "</dd>";
    }
    for (const auto& x : Arr(r, "details")) body += "<dt>why</dt><dd>" + E(ValueText(x)) + "</dd>";
    if (r.contains("last_failure")) {
      const json& f = r["last_failure"];
      body += "<dt>last failure</dt><dd>run " + RunLink(f.value("run", json(0))) + " at " +
              E(Str(f, "at")) + ": " + E(Str(f, "error")) + "</dd>";
    }
    body += "</dl></section>";
  }
  // Drift.
  std::string drift;
  for (const auto& i : Arr(d.drift, "drift")) {
    if (Str(i, "service") != service || Str(i, "environment") != env) continue;
    std::string first = Str(i, "first_seen"), last = Str(i, "last_seen");
    if (first.empty() && drift_records.is_array()) {
      for (const auto& r : drift_records) {
        if (Str(r, "resource") != Str(i, "resource")) continue;
        first = Str(r, "first_seen");
        last = Str(r, "last_seen");
      }
    }
    std::string checked = Str(d.status, "checked_at");
    if (first.empty()) first = checked.empty() ? "now" : checked + " (this observation)";
    if (last.empty()) last = checked.empty() ? "now" : checked;
    drift += "<div class=\"drift-item\"><h3><code>" + E(Str(i, "resource")) + "</code> " +
             E(Str(i, "what")) + "</h3><p>policy " + E(Str(i, "policy")) +
             (i.value("sensitive", false) ? " · sensitive (values hidden)" : "") +
             " · first seen " + E(first) + " · last seen " + E(last) +
             (Str(i, "applied_at").empty() ? "" : " · applied " + E(Str(i, "applied_at"))) + "</p>";
    drift += FieldTable(Arr(i, "fields"), "applied", "live", "applied by galley", "live now");
    drift += "</div>";
  }
  body += "<section id=\"drift\"><h2>Drift</h2>" +
          (drift.empty() ? std::string("<p class=\"muted\">No drift.</p>") : drift) + "</section>";
  // The kept plan's actions.
  std::string actions;
  for (const auto& a : Arr(d.plan, "actions")) {
    if (Str(a, "service") != service || Str(a, "environment") != env) continue;
    actions += "<div class=\"action\"><h3><code>" + E(Str(a, "id")) + "</code> " +
               E(Str(a, "kind")) + " <span class=\"muted\">(" + E(Str(a, "reason")) +
               ")</span></h3>";
    actions += FieldTable(Arr(a, "changes"), "before", "after", "before", "after");
    for (const auto& n : Arr(a, "notes"))
      actions += "<p class=\"muted\">" + E(ValueText(n)) + "</p>";
    actions += "</div>";
  }
  body += "<section id=\"plan\"><h2>Plan</h2>";
  if (actions.empty()) {
    body += "<p class=\"muted\">The kept plan has no action for it";
    body += std::find(g.manual.begin(), g.manual.end(), env) == g.manual.end()
                ? " (" + E(env) + " is applied automatically).</p>"
                : ".</p>";
  } else {
    body += actions + ApplyBar(d);
  }
  body += "</section>";
  // HAProxy per host.
  body += "<section id=\"haproxy\"><h2>HAProxy per host</h2>";
  const json& hosts = Arr(d.agents, "hosts");
  if (hosts.empty()) {
    body += "<p class=\"muted\">No agent reports.</p>";
  } else {
    body +=
        "<table><thead><tr><th>node</th><th>instance</th><th>state</th><th>servers</th>"
        "<th>hand changes</th><th>detail</th></tr></thead><tbody>";
    for (const auto& h : hosts) {
      std::string servers;
      if (h.contains("servers") && h["servers"].is_object()) {
        for (const auto& [k, v] : h["servers"].items()) {
          servers += (servers.empty() ? "" : ", ") + k + " " + ValueText(v);
        }
      }
      std::string hand;
      for (const auto& x : Arr(h, "hand_changes"))
        hand += (hand.empty() ? "" : ", ") + ValueText(x);
      body += "<tr><td>" + E(Str(h, "node")) + "</td><td>" + E(Str(h, "instance")) + "</td><td>" +
              E(Str(h, "state")) + "</td><td>" + E(servers) + "</td><td>" + E(hand) + "</td><td>" +
              E(Str(h, "detail")) + "</td></tr>";
    }
    body += "</tbody></table>";
  }
  body += "</section>";
  // Runs and their journal entries for this cell.
  body += "<section id=\"runs\"><h2>Runs</h2>";
  std::string entries;
  for (const auto& run : journals) {
    for (const auto& j : Arr(run, "journal")) {
      if (!Mentions(Str(j, "resource"), service, env)) continue;
      entries += "<tr><td>" + RunLink(run.value("id", json(0))) + "</td><td><code>" +
                 E(Str(j, "resource")) + "</code></td><td>" + E(Str(j, "kind")) + "</td><td>" +
                 E(Str(j, "state")) + "</td><td>" + E(Str(j, "started_at")) + "</td><td>" +
                 E(Str(j, "finished_at")) + "</td></tr>";
    }
  }
  if (!entries.empty()) {
    body +=
        "<h3>Journal entries for it</h3><table class=\"journal\"><thead><tr><th>run</th>"
        "<th>resource</th><th>kind</th><th>state</th><th>started</th><th>finished</th></tr>"
        "</thead><tbody>" +
        entries + "</tbody></table>";
  }
  body += "<h3>Recent runs</h3>";
  if (!runs.is_array() || runs.empty()) {
    body += "<p class=\"muted\">No runs recorded.</p>";
  } else {
    body +=
        "<table><thead><tr><th>run</th><th>kind</th><th>trigger</th><th>outcome</th>"
        "<th>started</th></tr></thead><tbody>";
    size_t n = 0;
    for (const auto& r : runs) {
      if (++n > 20) break;
      body += "<tr><td>" + RunLink(r.value("id", json(0))) + "</td><td>" + E(Str(r, "kind")) +
              "</td><td>" + E(Str(r, "trigger")) + "</td><td>" + E(Str(r, "outcome")) +
              "</td><td>" + E(Str(r, "started_at")) + "</td></tr>";
    }
    body += "</tbody></table>";
  }
  body += "</section>";
  return Page(d, service + " in " + env, "cell", body,
              " data-service=\"" + E(service) + "\" data-env=\"" + E(env) + "\"");
}

std::string RenderPlanPage(const DashboardData& d, const std::string& markdown) {
  std::string body = "<h1>Plan</h1>";
  if (d.plan->is_null() || markdown.empty()) {
    body += "<p class=\"muted\">No plan yet.</p>";
  } else {
    body += ApplyBar(d);
    body += "<p class=\"muted\">As it would be posted on a pull request (Markdown):</p>";
    // A pull-request comment has a size limit anyway; a plan from empty at thousands of
    // services is megabytes: the page shows the first MiB and says where the rest is.
    constexpr size_t kShown = 1u << 20;
    std::string shown = markdown.size() > kShown ? Truncate(markdown, kShown) : markdown;
    body += "<pre id=\"plan-markdown\">" + HtmlEscapeLines(shown) + "</pre>";
    if (markdown.size() > kShown) {
      body += "<p class=\"warning\">The plan's Markdown is " +
              std::to_string(markdown.size() >> 10) +
              " KiB; the first 1024 KiB are shown. The whole plan: <a href=\"/api/v1/plan\">"
              "/api/v1/plan</a> or <code>galley plan --markdown</code>.</p>";
    }
  }
  return Page(d, "Plan", "plan", body);
}

std::string RenderRunsPage(const DashboardData& d, const json& doc) {
  std::string body = "<h1>Runs</h1><h2>Recorded runs</h2>";
  const json& runs = Arr(doc, "runs");
  if (runs.empty()) {
    body += "<p class=\"muted\">No runs recorded.</p>";
  } else {
    body +=
        "<table id=\"run-list\"><thead><tr><th>run</th><th>kind</th><th>trigger</th>"
        "<th>who</th><th>commit</th><th>outcome</th><th>started</th><th>finished</th></tr>"
        "</thead><tbody>";
    for (const auto& r : runs) {
      body += "<tr><td>" + RunLink(r.value("id", json(0))) + "</td><td>" + E(Str(r, "kind")) +
              "</td><td>" + E(Str(r, "trigger")) + "</td><td>" + E(Str(r, "who")) + "</td><td>" +
              E(ShortCommit(Str(r, "commit"))) + "</td><td>" + E(Str(r, "outcome")) + "</td><td>" +
              E(Str(r, "started_at")) + "</td><td>" + E(Str(r, "finished_at")) + "</td></tr>";
    }
    body += "</tbody></table>";
  }
  body += "<h2>Reconciles of this server</h2>";
  const json& rec = Arr(doc, "reconciles");
  if (rec.empty()) {
    body += "<p class=\"muted\">None yet.</p>";
  } else {
    body +=
        "<table><thead><tr><th>started</th><th>trigger</th><th>commit</th><th>outcome</th>"
        "<th>message</th></tr></thead><tbody>";
    for (const auto& r : rec) {
      body += "<tr><td>" + E(Str(r, "started_at")) + "</td><td>" + E(Str(r, "trigger")) +
              "</td><td>" + E(ShortCommit(Str(r, "commit"))) + "</td><td>" + E(Str(r, "outcome")) +
              "</td><td>" + E(Str(r, "message")) + "</td></tr>";
    }
    body += "</tbody></table>";
  }
  return Page(d, "Runs", "runs", body);
}

std::string RenderRunPage(const DashboardData& d, const json& run) {
  std::string id = Str(run, "id");
  std::string body =
      "<h1>Run #" + E(id) + " <span class=\"muted\">" + E(Str(run, "kind")) + "</span></h1><dl>";
  for (const char* k : {"trigger", "who", "commit", "outcome", "started_at", "finished_at"}) {
    body += std::string("<dt>") + k + "</dt><dd>" + E(Str(run, k)) + "</dd>";
  }
  if (run.contains("summary")) {
    body += "<dt>summary</dt><dd><code>" + E(ValueText(run["summary"])) + "</code></dd>";
  }
  body += "</dl><h2>Journal</h2>";
  const json& journal = Arr(run, "journal");
  if (journal.empty()) {
    body += "<p class=\"muted\">No journal entries.</p>";
  } else {
    body +=
        "<table class=\"journal\"><thead><tr><th>action</th><th>resource</th><th>kind</th>"
        "<th>state</th><th>started</th><th>finished</th><th>detail</th></tr></thead><tbody>";
    for (const auto& j : journal) {
      body += "<tr><td><code>" + E(Str(j, "action")) + "</code></td><td><code>" +
              E(Str(j, "resource")) + "</code></td><td>" + E(Str(j, "kind")) + "</td><td>" +
              E(Str(j, "state")) + "</td><td>" + E(Str(j, "started_at")) + "</td><td>" +
              E(Str(j, "finished_at")) + "</td><td><code>" +
              E(j.contains("detail") ? Truncate(ValueText(j["detail"]), 400) : "") +
              "</code></td></tr>";
    }
    body += "</tbody></table>";
  }
  return Page(d, "Run " + id, "run", body);
}

std::string RenderErrorPage(const DashboardData& d, int status, const std::string& message) {
  return Page(d, std::to_string(status), "error",
              "<h1>" + std::to_string(status) + " " + net::ReasonPhrase(status) + "</h1><p>" +
                  E(message) + "</p><p><a href=\"/\">Back to the grid</a></p>");
}

// ---------------------------------------------------------------------------------------

DashboardSource SourceOf(Server& server) {
  DashboardSource s;
  Worker& w = server.worker();
  auto live = [&server, &w](DashboardData& d) {
    d.version = w.version();
    d.applying = w.applying();
    d.leader = server.leader();
    if (d.applying) d.events = w.Events();
    if (d.holder.empty()) {
      net::HttpRequest rq;
      rq.method = "GET";
      rq.path = rq.target = "/api/v1/leader";
      json l = json::parse(server.Handle(rq).body, nullptr, false);
      if (l.is_object()) d.holder = Str(l, "holder");
    }
  };
  s.data = [&w, live] {
    DashboardData d;
    // The version first: a change after it makes the next call look newer, never older.
    d.snapshot_version = w.snapshot_version();
    Worker::SharedSnapshot shared = w.Shared();
    d.status = shared.status;
    d.drift = shared.drift;
    d.plan = shared.plan;
    d.agents = shared.agents;
    d.events = w.Events();
    live(d);
    return d;
  };
  s.snapshot_version = [&w] { return w.snapshot_version(); };
  s.live = live;
  s.version = [&w] { return w.version(); };
  s.wait_change = [&w](uint64_t seen, std::chrono::milliseconds wait) {
    return w.WaitForChange(seen, wait);
  };
  s.api = [&server](const net::HttpRequest& r) { return server.Handle(r); };
  s.drift_records = [&w] {
    json out = json::array();
    std::string path = w.state_path();
    if (path.empty()) return out;
    store::StoreOptions so;
    so.read_only = true;
    auto st = store::OpenSqliteStore(path, so);
    if (!st.ok()) return out;
    auto open = (*st)->OpenDrift();
    if (!open.ok()) return out;
    for (const auto& d : *open) {
      out.push_back(
          json{{"resource", d.resource}, {"first_seen", d.first_seen}, {"last_seen", d.last_seen}});
    }
    return out;
  };
  return s;
}

DashboardData& Dashboard::CurrentLocked() {
  uint64_t sv = source_.snapshot_version();
  if (!snap_valid_ || snap_.snapshot_version != sv) {
    snap_ = source_.data();
    snap_valid_ = true;
  } else {
    source_.live(snap_);
  }
  return snap_;
}

const GridView& Dashboard::GridLocked() {
  // While an apply runs the cells follow its events; otherwise one grid per snapshot.
  if (snap_.applying || !grid_valid_ || grid_snapshot_ != snap_.snapshot_version) {
    grid_ = BuildGrid(snap_);
    grid_valid_ = !snap_.applying;
    grid_snapshot_ = snap_.snapshot_version;
  }
  return grid_;
}

Dashboard::Dashboard(DashboardSource source, DashboardOptions options)
    : source_(std::move(source)), options_(options), slots_(options.max_streams) {}

void Dashboard::MountOn(Server& server, std::shared_ptr<Dashboard> dashboard) {
  auto h = [dashboard](const net::HttpRequest& r) { return dashboard->Handle(r); };
  server.Mount("GET", "/", h);
  server.Mount("GET", "/ui/", h);
}

json Dashboard::ApiJson(const std::string& path) const {
  net::HttpRequest rq;
  rq.method = "GET";
  rq.path = rq.target = path;
  net::HttpResponse r = source_.api(rq);
  if (r.status != 200) return nullptr;
  return json::parse(r.body, nullptr, false);
}

net::HttpResponse Dashboard::Handle(const net::HttpRequest& request) {
  const std::string& p = request.path;
  if (p == "/" || p == "/ui/" || p == "/ui") return Grid();
  if (p == "/ui/cells") return Cells();
  if (p == "/ui/events") return Events();
  if (p == "/ui/plan") {
    std::lock_guard<std::mutex> lock(mu_);
    const DashboardData& d = CurrentLocked();
    if (!plan_markdown_.valid || plan_markdown_.key1 != d.snapshot_version) {
      std::string md;
      if (d.plan->is_object()) {
        json doc = *d.plan;
        doc.erase("plan_id");
        auto plan = engine::PlanFromJson(doc);
        md = plan.ok() ? engine::RenderPlanMarkdown(*plan)
                       : "The kept plan cannot be shown: " + plan.status().message();
      }
      plan_markdown_ = {true, d.snapshot_version, 0, std::move(md)};
    }
    uint64_t k2 = d.leader ? 1 : 0;
    if (!plan_page_.valid || plan_page_.key1 != d.snapshot_version || plan_page_.key2 != k2) {
      plan_page_ = {true, d.snapshot_version, k2, RenderPlanPage(d, plan_markdown_.body)};
    }
    return Html(200, plan_page_.body);
  }
  if (p == "/ui/runs") {
    json doc = ApiJson("/api/v1/runs");
    std::lock_guard<std::mutex> lock(mu_);
    return Html(200, RenderRunsPage(CurrentLocked(), doc.is_object() ? doc : json::object()));
  }
  if (p.rfind("/ui/run/", 0) == 0) return Run(p.substr(8));
  if (p.rfind("/ui/service/", 0) == 0) return Cell(request);
  if (p.rfind("/ui/assets/", 0) == 0) {
    std::string name = p.substr(11);
    auto a = DashboardAsset(name);
    if (!a) {
      std::lock_guard<std::mutex> lock(mu_);
      return Html(404, RenderErrorPage(CurrentLocked(), 404, "no asset " + name));
    }
    bool js = name.size() > 3 && name.compare(name.size() - 3, 3, ".js") == 0;
    net::HttpResponse r = net::HttpResponse::Text(
        200, std::string(*a), js ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8");
    r.headers["Cache-Control"] = "public, max-age=86400";  // URLs carry the asset version
    r.headers["X-Content-Type-Options"] = "nosniff";
    return r;
  }
  std::lock_guard<std::mutex> lock(mu_);
  return Html(404, RenderErrorPage(CurrentLocked(), 404, "no such page: " + p));
}

net::HttpResponse Dashboard::Grid() {
  std::lock_guard<std::mutex> lock(mu_);
  const DashboardData& d = CurrentLocked();
  uint64_t k2 = (d.applying ? 2 : 0) | (d.leader ? 1 : 0);
  // While an apply runs the page shows its progress: rendered from the newest events.
  if (!d.applying && grid_page_.valid && grid_page_.key1 == d.snapshot_version &&
      grid_page_.key2 == k2) {
    return Html(200, grid_page_.body);
  }
  std::string body = RenderGridPage(d, GridLocked());
  grid_page_ = {true, d.snapshot_version, k2, body};
  return Html(200, std::move(body));
}

net::HttpResponse Dashboard::Cells() {
  std::lock_guard<std::mutex> lock(mu_);
  const DashboardData& d = CurrentLocked();
  uint64_t k2 = (d.applying ? 2 : 0) | (d.leader ? 1 : 0);
  if (!cells_.valid || cells_.key1 != d.version || cells_.key2 != k2) {
    cells_ = {true, d.version, k2,
              CellsJson(d, GridLocked()).dump(-1, ' ', false, json::error_handler_t::replace)};
  }
  net::HttpResponse r = net::HttpResponse::Json(200, cells_.body);
  r.headers["Cache-Control"] = "no-store";
  return r;
}

net::HttpResponse Dashboard::Events() {
  struct State {
    uint64_t seen = 0;
    std::chrono::steady_clock::time_point last_sent{};
    bool first = true;
  };
  auto st = std::make_shared<State>();
  st->seen = source_.version();
  DashboardSource src = source_;
  auto coalesce = options_.coalesce;
  return net::EventStreamResponse(
      slots_, options_.stream, [st, src, coalesce](std::chrono::milliseconds wait) -> std::string {
        if (st->first) {  // tells the page where the stream starts
          st->first = false;
          return net::SseMessage("hello", json{{"version", st->seen}}.dump(),
                                 std::to_string(st->seen));
        }
        uint64_t v = src.wait_change(st->seen, wait);
        if (v == st->seen) return "";
        auto since = std::chrono::steady_clock::now() - st->last_sent;
        if (since < coalesce) {
          std::this_thread::sleep_for(
              std::min<std::chrono::steady_clock::duration>(coalesce - since, wait));
          v = src.version();
        }
        st->seen = v;
        st->last_sent = std::chrono::steady_clock::now();
        return net::SseMessage("change", json{{"version", v}}.dump(), std::to_string(v));
      });
}

net::HttpResponse Dashboard::Cell(const net::HttpRequest& request) {
  // From the raw target, so a '/' inside a name (%2F) stays in the name.
  std::string raw = request.target.empty() ? request.path : request.target;
  raw = raw.substr(0, raw.find('?'));
  std::string rest = raw.substr(std::string("/ui/service/").size());
  size_t slash = rest.find('/');
  std::string service, env;
  bool shape_ok = slash != std::string::npos && rest.find('/', slash + 1) == std::string::npos;
  if (shape_ok) {
    service = net::PercentDecode(rest.substr(0, slash));
    env = net::PercentDecode(rest.substr(slash + 1));
  }
  // The store's runs and journals first, without the lock.
  json runs = json::array();
  std::vector<json> journals;
  json drift_records = json::array();
  if (shape_ok) {
    if (source_.drift_records) drift_records = source_.drift_records();
    json runs_doc = ApiJson("/api/v1/runs");
    if (runs_doc.is_object()) runs = Arr(runs_doc, "runs");
    for (const auto& r : runs) {
      if (journals.size() >= options_.journal_runs) break;
      if (Str(r, "kind") != "apply") continue;
      json detail = ApiJson("/api/v1/runs/" + Str(r, "id"));
      if (detail.is_object()) journals.push_back(std::move(detail));
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  const DashboardData& d = CurrentLocked();
  if (!shape_ok) {
    return Html(404, RenderErrorPage(d, 404, "expected /ui/service/<service>/<environment>"));
  }
  bool known = false;
  for (const auto& r : Arr(d.status, "services")) {
    if (Str(r, "service") == service && Str(r, "environment") == env) known = true;
  }
  if (!known) {
    return Html(404, RenderErrorPage(d, 404, "no service " + service + " in environment " + env));
  }
  return Html(200, RenderCellPage(d, service, env, runs, journals, drift_records));
}

net::HttpResponse Dashboard::Run(const std::string& id) {
  bool digits = !id.empty() && id.size() < 19 &&
                std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; });
  json run = digits ? ApiJson("/api/v1/runs/" + id) : json();
  std::lock_guard<std::mutex> lock(mu_);
  const DashboardData& d = CurrentLocked();
  if (!digits) return Html(400, RenderErrorPage(d, 400, "not a run id: " + id));
  if (!run.is_object()) return Html(404, RenderErrorPage(d, 404, "no run " + id));
  return Html(200, RenderRunPage(d, run));
}

}  // namespace galley::server
