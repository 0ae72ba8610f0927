// SPDX-License-Identifier: Apache-2.0
// `galley history`: the runs this host's state store recorded, newest first — kind,
// trigger, commit, who, when, how long, outcome and what each did (from its summary and
// its action journal) — or, with --run ID, one run and its journal step by step. Runs of
// a galley that crashed show as interrupted. Reads only the store; never creates one.
// Exit 0, or 1 on errors.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "clients/endpoints.h"
#include "store/state_store.h"

namespace galley::cli {
namespace {

using json = nlohmann::json;

constexpr char kUsage[] =
    "usage: galley history [options]\n"
    "\n"
    "Lists the runs recorded in the state store (plan, apply, drift), newest first: id, kind,\n"
    "trigger, commit, who, start, duration, outcome and what each did.\n"
    "\n"
    "options:\n"
    "  --state FILE          the state store (default: $XDG_STATE_HOME/galley/state.db)\n"
    "  --limit N             the newest N runs (default 20)\n"
    "  --run ID              one run and its action journal: each step's kind, resource, state, times, detail\n"
    "  --json                print one JSON document\n";

struct Options {
  std::string state;
  int limit = 20;
  int64_t run = 0;
  bool json = false;
};

std::optional<int64_t> PositiveInt(const std::string& s) {
  if (s.empty() || s.size() > 18 || !std::all_of(s.begin(), s.end(), ::isdigit)) return std::nullopt;
  int64_t v = std::stoll(s);
  return v > 0 ? std::optional<int64_t>(v) : std::nullopt;
}

std::optional<Options> Parse(const Args& args, std::ostream& out, std::ostream& err, int* code) {
  Options o;
  *code = kExitError;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= args.size()) {
        err << "galley history: " << a << " needs a value\n";
        return std::nullopt;
      }
      return args[++i];
    };
    if (a == "--help" || a == "-h") {
      out << kUsage;
      *code = kExitOk;
      return std::nullopt;
    } else if (a == "--state") {
      auto v = value();
      if (!v) return std::nullopt;
      o.state = *v;
    } else if (a == "--limit" || a == "--run") {
      auto v = value();
      if (!v) return std::nullopt;
      auto n = PositiveInt(*v);
      if (!n || (a == "--limit" && *n > 100000)) {
        err << "galley history: " << a << " wants a positive number" << (a == "--limit" ? " (at most 100000)" : "")
            << ", not '" << *v << "'\n";
        return std::nullopt;
      }
      if (a == "--limit") o.limit = static_cast<int>(*n);
      else o.run = *n;
    } else if (a == "--json") {
      o.json = true;
    } else {
      err << "galley history: unknown argument '" << a << "'\n" << kUsage;
      return std::nullopt;
    }
  }
  return o;
}

// The store's "2026-11-27T12:00:00.123Z" as milliseconds since the epoch.
std::optional<int64_t> ParseTimestamp(const std::string& s) {
  struct tm tm = {};
  int ms = 0;
  if (s.size() < 20) return std::nullopt;
  const char* rest = ::strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return std::nullopt;
  if (*rest == '.') {
    ++rest;
    int digits = 0;
    while (*rest >= '0' && *rest <= '9') {
      if (digits++ < 3) ms = ms * 10 + (*rest - '0');
      ++rest;
    }
    while (digits++ < 3) ms *= 10;
  }
  if (*rest != 'Z') return std::nullopt;
  return static_cast<int64_t>(::timegm(&tm)) * 1000 + ms;
}

std::optional<int64_t> DurationMs(const std::string& from, const std::string& to) {
  auto a = ParseTimestamp(from), b = ParseTimestamp(to);
  if (!a || !b || *b < *a) return std::nullopt;
  return *b - *a;
}

// "0.4s", "12.3s", "2m05s", "1h02m".
std::string DurationText(std::optional<int64_t> ms) {
  if (!ms) return "-";
  int64_t v = *ms;
  char buf[32];
  if (v < 60000) {
    std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(v) / 1000);
  } else if (v < 3600000) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(v / 60000),
                  static_cast<long long>(v % 60000 / 1000));
  } else {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(v / 3600000),
                  static_cast<long long>(v % 3600000 / 60000));
  }
  return buf;
}

std::string ShortCommitOf(const std::string& c) {
  bool dirty = c.size() > 6 && c.compare(c.size() - 6, 6, "-dirty") == 0;
  return c.substr(0, std::min<size_t>(12, dirty ? c.size() - 6 : c.size())) + (dirty ? "-dirty" : "");
}

// Text from the store may come from anywhere (a detail holding a live value): no control
// characters reach the terminal, and long values are cut.
std::string Printable(const std::string& s, size_t max = 200) {
  std::string out;
  for (unsigned char c : s) out += (c < 0x20 || c == 0x7f) ? ' ' : static_cast<char>(c);
  if (out.size() > max) out = out.substr(0, max - 3) + "...";
  return out;
}

std::string Outcome(const store::Run& r) {
  if (!r.outcome.empty()) return r.outcome;
  return r.finished_at.empty() ? "running" : "-";
}

json ParsedOrNull(const std::string& text) {
  if (text.empty()) return nullptr;
  json j = json::parse(text, nullptr, false);
  return j.is_discarded() ? json(text) : j;
}

int NumberOr(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number_integer() ? j[key].get<int>() : -1;
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

// What a run did, in a few words: from its journal when it has one, else from its summary
// (plan: {"actions": N}; apply: {"applied", "failed", "not_attempted"}; drift: the counts).
std::string WhatItDid(const store::Run& r, const json& summary, const std::map<std::string, int>& journal) {
  std::vector<std::string> parts;
  auto add = [&](int n, const std::string& what) {
    if (n > 0) parts.push_back(std::to_string(n) + " " + what);
  };
  if (!journal.empty()) {
    for (const char* state : {"succeeded", "failed", "skipped", "started"}) {
      auto it = journal.find(state);
      if (it != journal.end()) add(it->second, state == std::string("started") ? "unfinished" : state);
    }
  } else if (r.kind == "plan" && NumberOr(summary, "actions") >= 0) {
    int n = NumberOr(summary, "actions");
    parts.push_back(n == 0 ? "no changes" : std::to_string(n) + (n == 1 ? " action" : " actions") + " planned");
  } else if (r.kind == "apply" && summary.is_object() && summary.value("dry_run", false)) {
    parts.push_back("dry run: " + std::to_string(std::max(0, NumberOr(summary, "applied"))) + " would be applied");
  } else if (r.kind == "apply" && summary.is_object() && summary.value("stale", false)) {
    parts.push_back("refused a stale plan");
  } else if (r.kind == "apply" && summary.is_object() && summary.value("cancelled", false)) {
    parts.push_back("not confirmed");
  } else if (r.kind == "apply" && NumberOr(summary, "applied") >= 0) {
    add(NumberOr(summary, "applied"), "applied");
    add(NumberOr(summary, "failed"), "failed");
    add(NumberOr(summary, "not_attempted"), "not attempted");
    add(NumberOr(summary, "interrupted"), "interrupted");
    if (parts.empty()) parts.push_back("nothing to apply");
    add(NumberOr(summary, "recovered"), "settled from an interrupted run");
  } else if (r.kind == "drift" && NumberOr(summary, "drift") >= 0) {
    add(NumberOr(summary, "drift"), "drifted");
    add(NumberOr(summary, "unmanaged"), "unmanaged");
    add(NumberOr(summary, "ignored"), "ignored");
    add(NumberOr(summary, "resolved"), "resolved");
    if (NumberOr(summary, "drift") == 0) parts.insert(parts.begin(), "no drift");
  }
  if (r.kind == "apply" && summary.is_object() && summary.contains("retry_refused")) {
    parts.push_back("refused to retry a change that failed to deploy");
  }
  std::string what = parts.empty() ? "-" : Join(parts);
  if (r.kind == "apply" && summary.is_object() && summary.contains("restart") && summary["restart"].is_string()) {
    what = "restart " + Printable(summary["restart"].get<std::string>()) + ": " + what;  // `galley restart`
  }
  return what;
}

std::map<std::string, int> CountStates(const std::vector<store::JournalEntry>& entries) {
  std::map<std::string, int> n;
  for (const auto& e : entries) ++n[e.state];
  return n;
}

json RunJson(const store::Run& r, const std::map<std::string, int>& journal) {
  auto ms = r.finished_at.empty() ? std::nullopt : DurationMs(r.started_at, r.finished_at);
  json counts = json::object();
  for (const auto& [state, n] : journal) counts[state] = n;
  return json{{"id", r.id},
              {"kind", r.kind},
              {"trigger", r.trigger},
              {"commit", r.commit},
              {"who", r.who},
              {"started_at", r.started_at},
              {"finished_at", r.finished_at},
              {"duration_ms", ms ? json(*ms) : json(nullptr)},
              {"outcome", Outcome(r)},
              {"summary", ParsedOrNull(r.summary)},
              {"journal", counts}};
}

// Rows as aligned columns; the last column is not padded.
std::string Table(const std::vector<std::vector<std::string>>& rows, const std::string& indent) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line = indent;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(width[c] - row[c].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string ErrorOf(const json& summary) {
  return summary.is_object() && summary.contains("error") && summary["error"].is_string()
             ? summary["error"].get<std::string>()
             : "";
}

int RunHistoryUnguarded(const Args& args, std::ostream& out, std::ostream& err) {
  int code = kExitError;
  auto parsed = Parse(args, out, err, &code);
  if (!parsed) return code;
  const Options o = *parsed;
  std::string path = o.state.empty() ? store::DefaultStatePath(clients::ProcessEnvironment()) : o.state;

  std::error_code ec;
  if (path != ":memory:" && !std::filesystem::exists(path, ec)) {
    if (o.run > 0) {
      err << "galley history: no run " << o.run << ": there is no state store at " << path << "\n";
      return kExitError;
    }
    if (o.json) {
      out << json{{"galley_history", 1}, {"state", path}, {"runs", json::array()}}.dump(2) << "\n";
    } else {
      out << "No runs recorded: there is no state store at " << path << " yet.\n";
    }
    return kExitOk;
  }
  auto opened = store::OpenSqliteStore(path);
  if (!opened.ok()) {
    err << "galley history: " << opened.status().message() << "\n";
    return kExitError;
  }
  std::unique_ptr<store::StateStore> st = std::move(opened).value();
  if (Status s = st->MarkInterruptedRuns(); !s.ok()) {
    err << "galley history: " << s.message() << "\n";
    return kExitError;
  }

  if (o.run > 0) {
    // The store lists runs newest first: the newest id says how far back run ID is.
    auto newest = st->RecentRuns(1);
    if (!newest.ok()) {
      err << "galley history: " << newest.status().message() << "\n";
      return kExitError;
    }
    std::optional<store::Run> run;
    if (!newest->empty() && newest->front().id >= o.run) {
      auto runs = st->RecentRuns(static_cast<int>(std::min<int64_t>(newest->front().id - o.run + 1, 1 << 30)));
      if (!runs.ok()) {
        err << "galley history: " << runs.status().message() << "\n";
        return kExitError;
      }
      for (const auto& r : *runs) {
        if (r.id == o.run) run = r;
      }
    }
    if (!run) {
      err << "galley history: no run " << o.run << " in " << path << "\n";
      return kExitError;
    }
    auto journal = st->Journal(o.run);
    if (!journal.ok()) {
      err << "galley history: " << journal.status().message() << "\n";
      return kExitError;
    }
    const std::vector<store::JournalEntry> entries = std::move(journal).value();
    std::map<std::string, int> counts = CountStates(entries);
    json summary = ParsedOrNull(run->summary);
    if (o.json) {
      json steps = json::array();
      for (const auto& e : entries) {
        auto ms = e.finished_at.empty() ? std::nullopt : DurationMs(e.started_at, e.finished_at);
        steps.push_back(json{{"id", e.id},
                             {"action_id", e.action_id},
                             {"resource", e.resource},
                             {"kind", e.kind},
                             {"state", e.state},
                             {"started_at", e.started_at},
                             {"finished_at", e.finished_at},
                             {"duration_ms", ms ? json(*ms) : json(nullptr)},
                             {"detail", ParsedOrNull(e.detail)}});
      }
      out << json{{"galley_history", 1}, {"state", path}, {"run", RunJson(*run, counts)}, {"journal", steps}}.dump(2)
          << "\n";
      return kExitOk;
    }
    const store::Run& r = *run;
    out << "run " << r.id << ": " << r.kind << " (" << Printable(r.trigger) << ")"
        << (r.commit.empty() ? "" : " at commit " + ShortCommitOf(Printable(r.commit))) << " by " << Printable(r.who)
        << "\n";
    out << "  started " << r.started_at << (r.finished_at.empty() ? "" : ", finished " + r.finished_at) << ", took "
        << DurationText(r.finished_at.empty() ? std::nullopt : DurationMs(r.started_at, r.finished_at))
        << ", outcome " << Outcome(r) << "\n";
    out << "  " << WhatItDid(r, summary, counts) << "\n";
    if (std::string e = ErrorOf(summary); !e.empty()) out << "  error: " << Printable(e) << "\n";
    if (entries.empty()) {
      out << "\nNo actions recorded" << (r.kind == "apply" ? "." : " (a " + r.kind + " run changes nothing).") << "\n";
      return kExitOk;
    }
    std::vector<std::vector<std::string>> rows = {{"STATE", "KIND", "RESOURCE", "STARTED", "DURATION", "DETAIL"}};
    for (const auto& e : entries) {
      rows.push_back({e.state, e.kind, Printable(e.resource, 80), e.started_at,
                      DurationText(e.finished_at.empty() ? std::nullopt : DurationMs(e.started_at, e.finished_at)),
                      Printable(e.detail, 100)});
    }
    out << "\n" << Table(rows, "  ");
    return kExitOk;
  }

  auto runs = st->RecentRuns(o.limit);
  if (!runs.ok()) {
    err << "galley history: " << runs.status().message() << "\n";
    return kExitError;
  }
  std::vector<std::map<std::string, int>> counts;
  for (const auto& r : *runs) {
    auto journal = st->Journal(r.id);
    if (!journal.ok()) {
      err << "galley history: " << journal.status().message() << "\n";
      return kExitError;
    }
    const std::vector<store::JournalEntry> entries = std::move(journal).value();
    counts.push_back(CountStates(entries));
  }
  if (o.json) {
    json arr = json::array();
    for (size_t i = 0; i < runs->size(); ++i) arr.push_back(RunJson((*runs)[i], counts[i]));
    out << json{{"galley_history", 1}, {"state", path}, {"runs", arr}}.dump(2) << "\n";
    return kExitOk;
  }
  if (runs->empty()) {
    out << "No runs recorded in " << path << ".\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"ID", "KIND", "TRIGGER", "COMMIT", "WHO", "STARTED", "DURATION", "OUTCOME", "WHAT"}};
  std::vector<std::string> errors(1);
  for (size_t i = 0; i < runs->size(); ++i) {
    const store::Run& r = (*runs)[i];
    json summary = ParsedOrNull(r.summary);
    rows.push_back({std::to_string(r.id), r.kind, Printable(r.trigger, 20),
                    r.commit.empty() ? "-" : ShortCommitOf(Printable(r.commit)), Printable(r.who, 40), r.started_at,
                    DurationText(r.finished_at.empty() ? std::nullopt : DurationMs(r.started_at, r.finished_at)),
                    Outcome(r), WhatItDid(r, summary, counts[i])});
    errors.push_back(ErrorOf(summary));
  }
  std::string table = Table(rows, "");
  // Each failed run's error under its row.
  size_t pos = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    size_t end = table.find('\n', pos);
    out << table.substr(pos, end - pos + 1);
    if (!errors[i].empty()) out << "    error: " << Printable(errors[i]) << "\n";
    pos = end + 1;
  }
  if (runs->size() == static_cast<size_t>(o.limit)) {
    out << "\n(the newest " << o.limit << " runs; --limit N shows more, --run ID one run's actions)\n";
  }
  return kExitOk;
}

}  // namespace

int RunHistory(const Args& args, std::ostream& out, std::ostream& err) {
  try {
    return RunHistoryUnguarded(args, out, err);
  } catch (const std::exception& e) {
    err << "galley history: internal error: " << e.what() << "\n";
    return kExitError;
  }
}

}  // namespace galley::cli
