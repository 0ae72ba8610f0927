// SPDX-License-Identifier: Apache-2.0
// `galley history`: the runs this host's state store recorded, newest first — kind,
// trigger, commit, who, when, how long, outcome and what each did (from its summary and
// its action journal) — or, with --run ID, one run and its journal step by step. Runs of
// a galley that crashed show as interrupted. Opens the store read-only; never creates or
// changes it (a missing store is "no runs yet"). With --platform, the platform's recent
// applies from Consul (galley/<platform>/history), whichever host or CI runner made them.
// Exit 0, or 1 on errors.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/strings.h"
#include "base/time_text.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/pipeline.h"
#include "clients/consul_client.h"
#include "clients/endpoints.h"
#include "engine/run_history.h"
#include "net/retrying_http_client.h"
#include "spec/loader.h"
#include "store/state_store.h"

namespace galley::cli {
namespace {

using json = nlohmann::json;

struct Options {
  std::string state;
  int limit = 20;
  int64_t run = 0;
  bool json = false;
  bool platform = false;
  std::string dir = ".", consul;
  std::string dir_arg;  // DIR as given (for --platform)
  bool dir_set = false;
};

CommandLine HistoryCommandLine(Options* o) {
  CommandLine cl(
      "history",
      "[options]\n       galley history --platform [DIR] [--consul URL] [--limit N] [--json]",
      "Lists the runs recorded in the state store (plan, apply, drift), newest first: id, kind,\n"
      "trigger, commit, who (the CI actor and its run's URL in CI), start, duration, outcome and\n"
      "what each did. With --platform [DIR], the platform's recent applies kept in Consul next to\n"
      "the applied records, made from any host or CI runner (DIR's galley.yaml names the "
      "platform).");
  cl.Value("--state", "FILE", &o->state,
           "the state store (default: $XDG_STATE_HOME/galley/state.db)");
  cl.Custom(
      "--limit", "N",
      [o](const std::string& v) {
        auto n = ParsePositive(v, 100000);
        if (!n)
          return Status::InvalidArgument("--limit wants a positive number (at most 100000), not '" +
                                         v + "'");
        o->limit = static_cast<int>(*n);
        return Status::Ok();
      },
      "the newest N runs (default 20)");
  cl.Custom(
      "--run", "ID",
      [o](const std::string& v) {
        auto n = ParsePositive(v, INT64_MAX);
        if (!n) return Status::InvalidArgument("--run wants a positive number, not '" + v + "'");
        o->run = *n;
        return Status::Ok();
      },
      "one run and its action journal: each step's kind, resource, state, times, detail");
  cl.Flag("--json", &o->json, "print one JSON document");
  cl.Flag("--platform", &o->platform,
          "the platform's applies from Consul instead of this host's store");
  cl.Value("--consul", "URL", &o->consul,
           "Consul URL for --platform (else GALLEY_CONSUL_URL, CONSUL_HTTP_ADDR, galley.yaml)");
  cl.Positional("DIR", &o->dir_arg);
  return cl;
}

std::optional<Options> Parse(const Args& args, std::ostream& out, std::ostream& err, int* code) {
  Options o;
  if (auto exit = HistoryCommandLine(&o).ParseOrExit(args, out, err)) {
    *code = *exit;
    return std::nullopt;
  }
  *code = kExitError;
  if (!o.dir_arg.empty()) {
    o.dir = o.dir_arg;
    o.dir_set = true;
  }
  if ((o.dir_set || !o.consul.empty()) && !o.platform) {
    err << "galley history: DIR and --consul are for --platform\n";
    return std::nullopt;
  }
  if (o.platform && (!o.state.empty() || o.run > 0)) {
    err << "galley history: --platform lists the applies kept in Consul; --state and --run are for "
           "this host's store\n";
    return std::nullopt;
  }
  return o;
}

// How long a finished run or step took; nullopt while it runs (or when its times do not parse).
std::optional<std::chrono::milliseconds> Took(const std::string& started_at,
                                              const std::string& finished_at) {
  return finished_at.empty() ? std::nullopt : Elapsed(started_at, finished_at);
}

// "12.3s", or "-".
std::string DurationText(const std::string& started_at, const std::string& finished_at) {
  auto d = Took(started_at, finished_at);
  return d ? FormatElapsed(*d) : "-";
}

// Milliseconds, or null.
nlohmann::json DurationMsJson(const std::string& started_at, const std::string& finished_at) {
  auto d = Took(started_at, finished_at);
  return d ? nlohmann::json(d->count()) : nlohmann::json(nullptr);
}

// Text from the store may come from anywhere (a detail holding a live value): it is printed
// through Printable, and cut at this many bytes unless a column says otherwise.
constexpr size_t kMaxText = 200;

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

// What a run did, in a few words: from its journal when it has one, else from its summary
// (plan: {"actions": N}; apply: {"applied", "failed", "not_attempted"}; drift: the counts).
std::string WhatItDid(const store::Run& r, const json& summary,
                      const std::map<std::string, int>& journal) {
  std::vector<std::string> parts;
  auto add = [&](int n, const std::string& what) {
    if (n > 0) parts.push_back(std::to_string(n) + " " + what);
  };
  if (!journal.empty()) {
    for (const char* state : {"succeeded", "failed", "skipped", "started"}) {
      auto it = journal.find(state);
      if (it != journal.end())
        add(it->second, state == std::string("started") ? "unfinished" : state);
    }
  } else if (r.kind == "plan" && NumberOr(summary, "actions") >= 0) {
    int n = NumberOr(summary, "actions");
    parts.push_back(n == 0 ? "no changes"
                           : std::to_string(n) + (n == 1 ? " action" : " actions") + " planned");
  } else if (r.kind == "apply" && summary.is_object() && summary.value("dry_run", false)) {
    parts.push_back("dry run: " + std::to_string(std::max(0, NumberOr(summary, "applied"))) +
                    " would be applied");
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
  std::string what = parts.empty() ? "-" : Join(parts, ", ");
  if (r.kind == "apply" && summary.is_object() && summary.contains("restart") &&
      summary["restart"].is_string()) {
    what = "restart " + Printable(summary["restart"].get<std::string>(), kMaxText) + ": " +
           what;  // `galley restart`
  }
  return what;
}

std::map<std::string, int> CountStates(const std::vector<store::JournalEntry>& entries) {
  std::map<std::string, int> n;
  for (const auto& e : entries) ++n[e.state];
  return n;
}

// Where a run came from in CI: {"system", "url", "commit"}; null outside CI.
json CiJson(const std::string& system, const std::string& url, const std::string& commit) {
  if (system.empty()) return nullptr;
  return json{{"system", system}, {"url", url}, {"commit", commit}};
}

json RunJson(const store::Run& r, const std::map<std::string, int>& journal) {
  json counts = json::object();
  for (const auto& [state, n] : journal) counts[state] = n;
  return json{{"id", r.id},
              {"kind", r.kind},
              {"trigger", r.trigger},
              {"commit", r.commit},
              {"who", r.who},
              {"started_at", r.started_at},
              {"finished_at", r.finished_at},
              {"duration_ms", DurationMsJson(r.started_at, r.finished_at)},
              {"outcome", Outcome(r)},
              {"summary", ParsedOrNull(r.summary)},
              {"journal", counts},
              {"ci", CiJson(r.ci, r.ci_url, r.ci_commit)}};
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

std::string StringAt(const json& e, const char* key) {
  return e.contains(key) && e[key].is_string() ? e[key].get<std::string>() : "";
}

// The runs' table, each row followed by its CI run URL and its error, when it has them.
void PrintRunTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows,
                   const std::vector<std::string>& urls, const std::vector<std::string>& errors) {
  std::string table = Table(rows, "");
  size_t pos = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    size_t end = table.find('\n', pos);
    out << table.substr(pos, end - pos + 1);
    if (!urls[i].empty()) out << "    " << Printable(urls[i], 300) << "\n";
    if (!errors[i].empty()) out << "    error: " << Printable(errors[i], kMaxText) << "\n";
    pos = end + 1;
  }
}

// `history --platform`: the applies kept in Consul (engine/run_history.h), newest first.
int RunPlatformHistory(const Options& o, std::ostream& out, std::ostream& err) {
  spec::LoadResult repo = spec::LoadRepository(o.dir);
  err << ErrorsOnly(repo.diags);  // repository warnings are for validate, plan and apply
  if (repo.diags.HasErrors()) {
    err << "galley history: " << o.dir << " is not valid; it names the platform\n";
    return kExitError;
  }
  const model::Platform& platform = repo.state.platform;
  auto endpoints =
      clients::ResolveEndpoints(platform, {{}, o.consul}, clients::ProcessEnvironment());
  if (!endpoints.ok()) {
    err << "galley history: " << endpoints.status().message() << "\n";
    return kExitError;
  }
  net::HttpClientOptions http_options;
  http_options.ca_file = endpoints->consul.ca_file;
  auto http = net::NewRetryingHttpClient(net::NewHttpClient(http_options), net::RetryPolicy{});
  auto consul = clients::NewConsulClient(endpoints->consul, http.get());
  engine::PlatformHistory history(*consul, platform.name, platform.history.platform_applies);
  auto entries = history.Read();
  if (!entries.ok()) {
    err << "galley history: " << entries.status().message() << "\n";
    return kExitError;
  }
  if (entries->size() > static_cast<size_t>(o.limit)) entries->resize(o.limit);
  if (o.json) {
    out << json{{"galley_history", 1},
                {"platform", platform.name},
                {"key", history.key()},
                {"applies", *entries}}
               .dump(2)
        << "\n";
    return kExitOk;
  }
  if (entries->empty()) {
    out << "No applies recorded for platform " << platform.name << " in Consul (" << history.key()
        << ") yet.\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"STARTED", "WHO", "COMMIT", "DURATION", "OUTCOME", "WHAT", "WHERE"}};
  std::vector<std::string> urls(1), errors(1);
  for (const json& e : *entries) {
    std::vector<std::string> what;
    for (const char* k : {"applied", "failed", "not_attempted", "interrupted"}) {
      if (e.contains(k) && e[k].is_number_integer() && e[k].get<int64_t>() > 0) {
        what.push_back(std::to_string(e[k].get<int64_t>()) + " " +
                       (k == std::string("not_attempted") ? "not attempted" : k));
      }
    }
    if (what.empty() && e.contains("actions") && e["actions"].is_number_integer()) {
      what.push_back(std::to_string(e["actions"].get<int64_t>()) + " actions");
    }
    std::string started = StringAt(e, "started_at"), finished = StringAt(e, "finished_at");
    std::string commit = StringAt(e, "commit");
    std::string run = e.contains("run") && e["run"].is_number_integer()
                          ? std::to_string(e["run"].get<int64_t>())
                          : "?";
    rows.push_back({Printable(started, 30),
                    Printable(engine::OriginText(StringAt(e, "who"), StringAt(e, "ci")), 60),
                    commit.empty() ? "-" : Printable(ShortCommit(commit)),
                    DurationText(started, finished), Printable(StringAt(e, "outcome"), 20),
                    what.empty() ? "-" : Join(what, ", "),
                    "run " + run + " on " + Printable(StringAt(e, "host"), 60)});
    urls.push_back(StringAt(e, "ci_url"));
    errors.push_back(StringAt(e, "error"));
  }
  PrintRunTable(out, rows, urls, errors);
  return kExitOk;
}

int RunHistoryUnguarded(const Args& args, std::ostream& out, std::ostream& err) {
  int code = kExitError;
  auto parsed = Parse(args, out, err, &code);
  if (!parsed) return code;
  const Options o = *parsed;
  if (o.platform) return RunPlatformHistory(o, out, err);
  std::string path =
      o.state.empty() ? store::DefaultStatePath(clients::ProcessEnvironment()) : o.state;

  // Read-only: history never creates, migrates or changes the store (nor its directory).
  store::StoreOptions store_options;
  store_options.read_only = true;
  auto opened = store::OpenSqliteStore(path, store_options);
  if (!opened.ok() && opened.status().code() == StatusCode::kNotFound) {
    // No store yet is no history yet; but a --state under a directory that does not exist
    // is a mistake worth naming.
    std::error_code ec;
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!o.state.empty() && !parent.empty() && !std::filesystem::is_directory(parent, ec)) {
      err << "galley history: --state " << path << ": the directory " << parent.string()
          << " does not exist\n";
      return kExitError;
    }
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
  if (!opened.ok()) {
    err << "galley history: " << opened.status().message() << "\n";
    return kExitError;
  }
  std::unique_ptr<store::StateStore> st = std::move(opened).value();

  if (o.run > 0) {
    // The store lists runs newest first: the newest id says how far back run ID is.
    auto newest = st->RecentRuns(1);
    if (!newest.ok()) {
      err << "galley history: " << newest.status().message() << "\n";
      return kExitError;
    }
    std::optional<store::Run> run;
    if (!newest->empty() && newest->front().id >= o.run) {
      auto runs = st->RecentRuns(
          static_cast<int>(std::min<int64_t>(newest->front().id - o.run + 1, 1 << 30)));
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
        steps.push_back(json{{"id", e.id},
                             {"action_id", e.action_id},
                             {"resource", e.resource},
                             {"kind", e.kind},
                             {"state", e.state},
                             {"started_at", e.started_at},
                             {"finished_at", e.finished_at},
                             {"duration_ms", DurationMsJson(e.started_at, e.finished_at)},
                             {"detail", ParsedOrNull(e.detail)}});
      }
      out << json{{"galley_history", 1},
                  {"state", path},
                  {"run", RunJson(*run, counts)},
                  {"journal", steps}}
                 .dump(2)
          << "\n";
      return kExitOk;
    }
    const store::Run& r = *run;
    out << "run " << r.id << ": " << r.kind << " (" << Printable(r.trigger, kMaxText) << ")"
        << (r.commit.empty() ? "" : " at commit " + Printable(ShortCommit(r.commit))) << " by "
        << Printable(engine::OriginText(r.who, r.ci), kMaxText) << "\n";
    if (!r.ci_url.empty())
      out << "  " << Printable(r.ci, kMaxText) << " run " << Printable(r.ci_url, 300) << "\n";
    out << "  started " << r.started_at
        << (r.finished_at.empty() ? "" : ", finished " + r.finished_at) << ", took "
        << DurationText(r.started_at, r.finished_at) << ", outcome " << Outcome(r) << "\n";
    out << "  " << WhatItDid(r, summary, counts) << "\n";
    if (std::string e = ErrorOf(summary); !e.empty())
      out << "  error: " << Printable(e, kMaxText) << "\n";
    if (entries.empty()) {
      out << "\nNo actions recorded"
          << (r.kind == "apply" ? "." : " (a " + r.kind + " run changes nothing).") << "\n";
      return kExitOk;
    }
    std::vector<std::vector<std::string>> rows = {
        {"STATE", "KIND", "RESOURCE", "STARTED", "DURATION", "DETAIL"}};
    for (const auto& e : entries) {
      rows.push_back({e.state, e.kind, Printable(e.resource, 80), e.started_at,
                      DurationText(e.started_at, e.finished_at), Printable(e.detail, 100)});
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
  std::vector<std::string> errors(1), urls(1);
  for (size_t i = 0; i < runs->size(); ++i) {
    const store::Run& r = (*runs)[i];
    json summary = ParsedOrNull(r.summary);
    rows.push_back({std::to_string(r.id), r.kind, Printable(r.trigger, 20),
                    r.commit.empty() ? "-" : Printable(ShortCommit(r.commit)),
                    Printable(engine::OriginText(r.who, r.ci), 60), r.started_at,
                    DurationText(r.started_at, r.finished_at), Outcome(r),
                    WhatItDid(r, summary, counts[i])});
    errors.push_back(ErrorOf(summary));
    urls.push_back(r.ci_url);
  }
  PrintRunTable(out, rows, urls, errors);
  if (runs->size() == static_cast<size_t>(o.limit)) {
    out << "\n(the newest " << o.limit
        << " runs; --limit N shows more, --run ID one run's actions)\n";
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
