// SPDX-License-Identifier: Apache-2.0
// `galley drift [DIR]`: live objects that differ from what galley last applied (a manual
// scale, a KV value edited by hand, an app or key deleted by hand), kept apart from pending
// Git changes, plus unmanaged objects under managed prefixes (never drift). Loads and
// validates DIR, observes Marathon and Consul, compares (engine::FindDrift), keeps drift
// records in the state store (first seen kept, last seen refreshed; records that no longer
// drift are resolved, within --env/--target only), records the run and prints text, --json
// (schema/v1/drift.schema.json) or --markdown. Exit 0, or with --detailed-exitcode 0 no
// drift / 2 drift; 1 on any error (DESIGN §7.6).
#include <chrono>
#include <iostream>
#include <optional>
#include <ostream>
#include <set>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "base/time_text.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/pipeline.h"
#include "clients/endpoints.h"
#include "engine/desired.h"
#include "engine/drift.h"
#include "engine/lb_models.h"
#include "engine/normalize.h"
#include "engine/plan.h"
#include "engine/resource_key.h"
#include "engine/view_text.h"
#include "store/state_store.h"

namespace galley::cli {
namespace {

using engine::SafeDump;

using json = nlohmann::json;

struct Options {
  TargetOptions target;
  bool json = false, markdown = false, no_color = false, detailed = false;
};

CommandLine DriftCommandLine(Options* o) {
  CommandLine cl(
      "drift", "[DIR] [options]",
      "Lists live objects that differ from what galley last applied: apps scaled, changed or\n"
      "deleted by hand, Consul keys edited or deleted by hand (secrets never shown), with the\n"
      "fields (applied → live), when the API says it happened, first and last seen, and each\n"
      "object's drift policy (revert: apply puts it back; report: apply leaves it; ignore: not\n"
      "listed). A difference galley never applied is a pending change, not drift (see `galley\n"
      "plan`). Unmanaged objects under managed prefixes are listed apart. DIR defaults to the\n"
      "current directory.");
  cl.Positional("DIR", &o->target.dir);
  AddTargetOptions(cl, &o->target);
  cl.Flag("--json", &o->json, "print one JSON document (schema/v1/drift.schema.json)");
  cl.Flag("--markdown", &o->markdown, "print Markdown (for a pull-request or issue comment)");
  cl.Flag("--no-color", &o->no_color,
          "never colour the output (colour is used only on a terminal)");
  cl.Flag("--detailed-exitcode", &o->detailed,
          "exit 0 when there is no drift, 2 when there is, 1 on errors");
  return cl;
}

std::optional<Options> Parse(const Args& args, std::ostream& out, std::ostream& err, int* code) {
  Options o;
  if (auto exit = DriftCommandLine(&o).ParseOrExit(args, out, err)) {
    *code = *exit;
    return std::nullopt;
  }
  *code = kExitError;
  if (o.json && o.markdown) {
    err << "galley drift: --json and --markdown are exclusive\n";
    return std::nullopt;
  }
  return o;
}

int RunDriftUnguarded(const Args& args, std::ostream& out, std::ostream& err) {
  int code = kExitError;
  auto parsed = Parse(args, out, err, &code);
  if (!parsed) return code;
  const Options o = *parsed;

  PhaseTrace phase(clients::ProcessEnvironment(), "drift", err);
  auto ws = OpenWorkspace(o.target, "drift", err);
  if (!ws) return kExitError;
  phase("load+validate, open store");
  auto run = RecordedRun::Begin(*ws, "drift", err);
  if (!run) return kExitError;
  auto fail = [&](const std::string& message) { return run->Fail(message); };
  auto observed = ObserveInput(*ws, o.target);
  if (!observed.ok()) return fail(observed.status().message());
  phase("observe, render desired");
  const engine::PlanInput& in = observed->in;
  std::vector<std::string>& warnings = observed->warnings;
  const std::map<std::string, std::string>& applied_at = observed->applied_at;
  // Without the platform's key nothing was applied (apply creates it first): the throwaway
  // key keeps the comparison code uniform, and FindDrift compares no KV value with it.
  if (!in.hmac_key_durable && in.applied_apps.empty() && in.applied_kv.empty()) {
    warnings.push_back("galley has applied nothing to platform " + ws->state.platform.name +
                       " yet (no key at " + engine::HmacKeyKey(ws->state.platform) +
                       "): nothing can have drifted");
  }
  std::vector<store::Observation> obs =
      ObservationsOf(in.live, in.hmac_key, engine::ModelPrefix(ws->state.platform.name));
  engine::DriftReport report = engine::FindDrift(in);
  phase("find drift");
  // The agents (before the observations are recorded: "reported before" means earlier runs).
  report.agents = AgentStatusOf(*ws, in, observed->agent_reports, &obs);

  const std::string now = FormatTimestamp(std::chrono::system_clock::now());
  report.warnings.insert(report.warnings.begin(), warnings.begin(), warnings.end());
  report.commit = ws->commit;
  report.galley_version = GALLEY_VERSION;
  report.checked_at = now;

  // What was seen: hash and token of everything, the normalised body of drifted apps.
  std::set<std::string> drifted;
  for (auto& item : report.drift) {
    drifted.insert(item.resource);
    std::string at_key =
        item.kind == model::ResourceKind::kMarathonApp ? "app:" + item.target
        : item.kind == model::ResourceKind::kConsulKv
            ? "kv:" + item.target
            : std::string(engine::kModelResourcePrefix) + engine::ModelInstanceOf(item.target);
    if (auto it = applied_at.find(at_key); it != applied_at.end()) {
      item.applied_at = it->second;
    }
  }
  for (auto& ob : obs) {
    auto res = engine::ParseResourceKey(ob.resource);
    if (!drifted.count(ob.resource) || !res || res->kind != model::ResourceKind::kMarathonApp)
      continue;
    if (auto live = in.live.apps.find(res->target); live != in.live.apps.end()) {
      ob.body = SafeDump(engine::NormalizeApp(live->second.body));
    }
  }
  if (Status s = ws->store->RecordObservations(run->id(), obs); !s.ok()) return fail(s.message());
  phase("agents, record observations");

  // Drift records: refreshed (first seen kept by the store), then read back.
  for (const auto& item : report.drift) {
    Status s = ws->store->UpsertDrift(item.resource, SafeDump(engine::DriftFieldsJson(item)), now);
    if (!s.ok()) return fail(s.message());
  }
  auto open = ws->store->OpenDrift();
  if (!open.ok()) return fail(open.status().message());
  std::map<std::string, store::Drift> records;
  for (auto& d : *open) records[d.resource] = d;
  for (auto& item : report.drift) {
    if (auto it = records.find(item.resource); it != records.end()) {
      item.first_seen = it->second.first_seen;
      item.last_seen = it->second.last_seen;
    }
  }
  // Open records that no longer drift are settled — only within this run's scope.
  for (const auto& [resource, record] : records) {
    if (drifted.count(resource) || !engine::DriftInScope(in, resource)) continue;
    std::string resolution = engine::DriftResolution(in, report, resource, record.fields);
    Status s = ws->store->ResolveDrift(resource, resolution);
    if (!s.ok() && s.code() != StatusCode::kNotFound)
      return fail(s.message());  // NotFound: settled meanwhile
    report.resolved.push_back({resource, resolution});
  }

  json doc = engine::DriftToJson(report);
  run->Finish(report.HasDrift() ? "changes" : "ok", SafeDump(doc["counts"]));
  phase("drift records");

  if (o.json) {
    out << SafeDump(doc, 2) << "\n";
  } else if (o.markdown) {
    out << engine::RenderDriftMarkdown(report);
  } else {
    bool color = UseColor(o.no_color, ws->env, out);
    out << engine::RenderDriftText(report, color);
  }
  Discard(std::move(*observed));  // the planner's input: left to the OS when galley exits
  return o.detailed && report.HasDrift() ? kExitChanges : kExitOk;
}

}  // namespace

int RunDrift(const Args& args, std::ostream& out, std::ostream& err) {
  try {
    return RunDriftUnguarded(args, out, err);
  } catch (const std::exception& e) {
    // Modules do not throw; this is the last resort (the run stays open until the next
    // start marks it interrupted).
    err << "galley drift: internal error: " << e.what() << "\n";
    return kExitError;
  }
}

}  // namespace galley::cli
