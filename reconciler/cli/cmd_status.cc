// SPDX-License-Identifier: Apache-2.0
// `galley status [DIR]`: per declared service × environment, the live tag, instances
// healthy/wanted, whether a deployment runs, and a state (in sync / pending / drifted /
// failed / paused / unmanaged), like `argocd app list`. The same load → observe → last
// applied → plan pipeline as plan and drift (cli/pipeline.h), then engine::BuildStatus.
// Read-only: no lock, nothing written to Marathon or Consul, and no run recorded in the
// store (a view polled often, e.g. under `watch`, would flood history; plan and drift record
// what they decided, status decides nothing). Exit 0, or 1 on any error.
#include <chrono>
#include <iostream>
#include <optional>
#include <ostream>

#include <nlohmann/json.hpp>

#include "base/time_text.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/pipeline.h"
#include "engine/planner.h"
#include "engine/status.h"
#include "engine/view_text.h"

namespace galley::cli {
namespace {

struct Options {
  TargetOptions target;
  bool json = false, no_color = false;
};

CommandLine StatusCommandLine(Options* o) {
  CommandLine cl(
      "status", "[DIR] [options]",
      "One line per service and environment: the live image tag (-> the tag Git wants), instances\n"
      "healthy/wanted, whether a deployment is running, and the state:\n"
      "  in sync    live is what Git declares\n"
      "  pending    Git has a change apply would make\n"
      "  drifted    live moved away from what galley applied\n"
      "  failed     the change Git wants failed to deploy last time (apply holds it: "
      "--retry-failed)\n"
      "  paused     paused in the repository; galley touches nothing\n"
      "  unmanaged  the live app is not galley's (no galley.platform label, no applied record)\n"
      "Reads Marathon, Consul and the state store; changes nothing and records no run. DIR\n"
      "defaults to the current directory.");
  cl.Positional("DIR", &o->target.dir);
  AddTargetOptions(cl, &o->target);
  cl.Flag("--json", &o->json, "print one JSON document (schema/v1/status.schema.json)");
  cl.Flag("--no-color", &o->no_color,
          "never colour the output (colour is used only on a terminal)");
  return cl;
}

std::optional<Options> Parse(const Args& args, std::ostream& out, std::ostream& err, int* code) {
  Options o;
  if (auto exit = StatusCommandLine(&o).ParseOrExit(args, out, err)) {
    *code = *exit;
    return std::nullopt;
  }
  return o;
}

int RunStatusUnguarded(const Args& args, std::ostream& out, std::ostream& err) {
  int code = kExitError;
  auto parsed = Parse(args, out, err, &code);
  if (!parsed) return code;
  const Options o = *parsed;

  auto ws = OpenWorkspace(o.target, "status", err);
  if (!ws) return kExitError;
  auto fail = [&](const std::string& message) {
    err << "galley status: " << message << "\n";
    return kExitError;
  };
  auto observed = ObserveInput(*ws, o.target);
  if (!observed.ok()) return fail(observed.status().message());
  const engine::PlanInput& in = observed->in;
  engine::Plan plan = engine::MakePlan(in);
  if (Status s = AnnotateFailures(*ws, plan); !s.ok()) return fail(s.message());
  plan.warnings.insert(plan.warnings.begin(), observed->warnings.begin(), observed->warnings.end());

  engine::StatusReport report = engine::BuildStatus(in, plan);
  report.commit = ws->commit;
  report.galley_version = GALLEY_VERSION;
  report.checked_at = FormatTimestamp(std::chrono::system_clock::now());
  if (o.json) {
    out << engine::SafeDump(engine::StatusToJson(report), 2) << "\n";
  } else {
    out << engine::RenderStatusText(report, UseColor(o.no_color, ws->env, out));
  }
  return kExitOk;
}

}  // namespace

int RunStatus(const Args& args, std::ostream& out, std::ostream& err) {
  try {
    return RunStatusUnguarded(args, out, err);
  } catch (const std::exception& e) {
    err << "galley status: internal error: " << e.what() << "\n";
    return kExitError;
  }
}

}  // namespace galley::cli
