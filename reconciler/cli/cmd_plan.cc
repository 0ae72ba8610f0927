// SPDX-License-Identifier: Apache-2.0
// `galley plan DIR`: load and validate, observe Marathon and Consul under the managed
// prefixes, record the observation in the state store, compute the plan, print it (human,
// --json, --markdown), optionally save it (--out), and exit 0, or 2 with
// --detailed-exitcode when there are changes, or 1 on any error.
#include <chrono>
#include <future>
#include <iostream>
#include <ostream>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "base/file_io.h"
#include "base/time_text.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/image_check.h"
#include "cli/pipeline.h"
#include "clients/endpoints.h"
#include "engine/agent_status.h"
#include "engine/desired.h"
#include "engine/lb_models.h"
#include "engine/normalize.h"
#include "engine/planner.h"
#include "engine/resource_key.h"
#include "engine/view_text.h"
#include "store/state_store.h"

namespace galley::cli {
namespace {

using engine::SafeDump;

namespace fs = std::filesystem;
using json = nlohmann::json;

struct Options {
  TargetOptions target;
  std::string out;
  bool json = false, markdown = false, no_color = false, detailed = false;
  ImageCheckOptions images;
};

// The command line of `galley plan`, writing into *o.
CommandLine PlanCommandLine(Options* o) {
  CommandLine cl(
      "plan", "[DIR] [options]",
      "Compares the desired state in DIR (default: the current directory) with live Marathon and\n"
      "Consul and prints what `galley apply` would change.");
  cl.Positional("DIR", &o->target.dir);
  AddTargetOptions(cl, &o->target);
  cl.Value("--out", "FILE", &o->out,
           "save the plan (self-contained: desired bodies, tokens, commit; no secrets)");
  cl.Flag("--json", &o->json, "print the plan as one JSON document (schema/v1/plan.schema.json)");
  cl.Flag("--markdown", &o->markdown, "print the plan as Markdown (for a pull-request comment)");
  cl.Flag("--no-color", &o->no_color,
          "never colour the output (colour is used only on a terminal)");
  cl.Flag("--detailed-exitcode", &o->detailed,
          "exit 0 when there are no changes, 2 when there are, 1 on errors");
  cl.Flag("--skip-hooks", &o->target.skip_hooks,
          "plan no pre-/post-deploy hook runs (emergencies; a warning names the hooks skipped)");
  AddImageCheckOptions(cl, &o->images);
  return cl;
}

std::optional<Options> Parse(const Args& args, std::ostream& out, std::ostream& err, int* code) {
  Options o;
  if (auto exit = PlanCommandLine(&o).ParseOrExit(args, out, err)) {
    *code = *exit;
    return std::nullopt;
  }
  if (o.json && o.markdown) {
    err << "galley plan: --json and --markdown are exclusive\n";
    *code = kExitError;
    return std::nullopt;
  }
  return o;
}

int RunPlanUnguarded(const Args& args, std::ostream& out, std::ostream& err);

// The command that applies the saved plan from here. The plan carries its endpoints, but
// the key that verifies its signature must come from a Consul the file does not name:
// --consul or DIR's galley.yaml when that is where this plan's Consul came from (a variable
// is assumed to be set for apply as well), nothing with GALLEY_HMAC_KEY.
std::string ApplyCommandFor(const Workspace& ws, const Options& o) {
  std::string cmd = "galley apply " + o.out;
  bool env_key = ws.env.count("GALLEY_HMAC_KEY") && !ws.env.at("GALLEY_HMAC_KEY").empty();
  const std::string& source = ws.endpoints.consul.source;
  if (env_key || source == "GALLEY_CONSUL_URL" || source == "CONSUL_HTTP_ADDR") return cmd;
  if (source == "--consul") return cmd + " --consul " + ws.endpoints.consul.url;
  return cmd + " " + o.target.dir;
}

}  // namespace

int RunPlan(const Args& args, std::ostream& out, std::ostream& err) {
  try {
    return RunPlanUnguarded(args, out, err);
  } catch (const std::exception& e) {
    // Modules do not throw; this is the last resort, and the run stays "interrupted" in the
    // store (the next start marks it so).
    err << "galley plan: internal error: " << e.what() << "\n";
    return kExitError;
  }
}

namespace {

int RunPlanUnguarded(const Args& args, std::ostream& out, std::ostream& err) {
  int code = kExitError;
  auto parsed = Parse(args, out, err, &code);
  if (!parsed) return code;
  Options o = *parsed;
  auto env = clients::ProcessEnvironment();
  PhaseTrace phase(env, "plan", err);

  auto ws = OpenWorkspace(o.target, "plan", err, /*show_warnings=*/true);
  if (!ws) return kExitError;
  phase("load+validate, open store");
  auto run = RecordedRun::Begin(*ws, "plan", err);
  if (!run) return kExitError;
  auto fail = [&](const std::string& message) { return run->Fail(message); };
  auto observed = ObservePlatform(*ws);
  if (!observed.ok()) return fail(observed.status().message());
  phase("observe");
  std::vector<std::string> applied_warnings = observed->warnings;
  // Without a platform key yet (nothing applied), an ephemeral one keeps comparisons within
  // this plan; config digests are then "(known after apply)".
  // A saved plan is signed with the platform key (apply refuses an edited one); a platform
  // without a key yet gets it now, as its first apply would (cas=0).
  if (!o.out.empty() && observed->hmac_key.empty()) {
    auto key = CreateHmacKey(*ws);
    if (!key.ok()) {
      return fail(
          "a saved plan is signed with the platform's HMAC key, which does not exist yet and could "
          "not be "
          "created at " +
          engine::HmacKeyKey(ws->state.platform) + " (" + key.status().message() +
          "): set GALLEY_HMAC_KEY, or apply once without --out");
    }
    observed->hmac_key = *key;
  }
  bool durable_key = !observed->hmac_key.empty();
  const std::string signing_key = observed->hmac_key;
  std::string compare_key = durable_key ? observed->hmac_key : RandomKey();
  const std::map<std::string, model::LiveKvEntry> agent_reports = observed->agent_reports;
  engine::PlanInput in =
      BuildPlanInput(*ws, o.target, std::move(*observed), compare_key, durable_key);
  phase("render desired");
  // The plan, the digests of what it is made from and what the store keeps of the
  // observation only read `in`: the latter two are made on other threads meanwhile. What was
  // seen, for the store: hash and token of everything; the normalised body only of apps the
  // plan changes (filled in below), so a plan over thousands of untouched apps stays small.
  const std::string model_prefix = engine::ModelPrefix(ws->state.platform.name);
  auto observations = std::async(std::launch::async, [&in, &compare_key, &model_prefix] {
    return ObservationsOf(in.live, compare_key, model_prefix);
  });
  auto digests = std::async(std::launch::async, [&in] {
    return engine::DesiredDigests(in.apps, in.kv, in.environments, in.targets, in.models);
  });
  engine::Plan plan = engine::MakePlan(in);
  if (Status s = AnnotateFailures(*ws, plan); !s.ok()) return fail(s.message());
  phase("plan");
  if (plan.errors.empty()) {
    auto check = MakeImageCheck(ws->state.platform, o.images, ws->env);
    if (!check.ok()) return fail(check.status().message());
    if (*check) {
      if (Status s = (*check)(plan); !s.ok()) return fail(s.message());
      phase("image preflight");
    }
  }
  if (!plan.errors.empty()) return fail(engine::PlanErrorsMessage(plan));
  std::vector<store::Observation> obs = observations.get();
  std::map<std::string, size_t> obs_index;
  for (size_t i = 0; i < obs.size(); ++i) {
    auto key = engine::ParseResourceKey(obs[i].resource);
    if (key && key->kind == model::ResourceKind::kMarathonApp) obs_index["app:" + key->target] = i;
  }
  for (const auto& a : plan.actions) {
    auto it = obs_index.find(a.id);
    auto live_app = in.live.apps.find(a.target);
    if (it != obs_index.end() && live_app != in.live.apps.end()) {
      obs[it->second].body = SafeDump(engine::NormalizeApp(live_app->second.body));
    }
  }
  phase("observations");
  // The agents (before the observations are recorded: "reported before" means earlier runs).
  engine::AgentSummary agents = AgentStatusOf(*ws, in, agent_reports, &obs);
  phase("agents");
  plan.warnings.insert(plan.warnings.begin(), applied_warnings.begin(), applied_warnings.end());
  DescribePlan(*ws, &plan, digests.get());
  phase("describe");
  // What the plan was made from is not needed any more: the desired bodies are in the plan
  // (and move into its JSON next), the live and last-applied ones were compared and
  // summarised. A large plan frees them now, so they are not resident together with the
  // plan's JSON and text; a small one leaves them to the OS when galley exits.
  if (plan.actions.size() > 1000) {
    decltype(in.apps)().swap(in.apps);
    decltype(in.live.apps)().swap(in.live.apps);
    decltype(in.applied_apps)().swap(in.applied_apps);
  } else {
    Discard(std::move(in));
  }
  phase("free the plan's input");
  plan.created_at = FormatTimestamp(std::chrono::system_clock::now());

  Status recorded = ws->store->RecordObservations(run->id(), obs);
  phase("record observations");
  if (!recorded.ok()) return fail(recorded.message());
  // The plan's JSON is made once, taking the actions' bodies (the views below need only their
  // field changes), and serialised once for its digest, signature and the stored copy.
  json plan_json = engine::PlanToJsonTakingBodies(&plan);
  std::string digest;
  {
    engine::SerializedPlan serialized =
        engine::SerializePlanDocument(plan_json, durable_key ? signing_key : std::string());
    digest = serialized.digest;
    if (durable_key) {
      plan.signature = serialized.signature;
      plan_json["signature"] = std::move(serialized.signature);
    }
    // A plan's identity is its digest (the time it was made is not part of it): the same plan
    // made again is already saved.
    auto saved = ws->store->SavePlan(run->id(), serialized.text, digest);
    if (!saved.ok() && saved.status().code() != StatusCode::kAlreadyExists)
      return fail(saved.status().message());
  }
  if (!o.out.empty()) {
    Status s = WriteFileAtomic(o.out, SafeDump(plan_json, 2) + "\n");
    if (!s.ok()) return fail("saving the plan: " + s.message());
  }
  json run_summary{{"actions", plan.actions.size()}, {"digest", digest}};
  if (plan.dirty) run_summary["dirty"] = true;
  run->Finish(plan.HasChanges() ? "changes" : "ok", SafeDump(run_summary));

  phase("save plan");
  if (o.json) {
    // The agents are what was seen, not part of the plan: printed, never saved or signed.
    plan_json["agents"] = engine::AgentsToJson(agents);
    engine::SafeDumpTo(out, plan_json, 2);
    out << "\n";
  } else if (o.markdown) {
    out << engine::RenderPlanMarkdown(plan) << engine::RenderAgentsMarkdown(agents);
  } else {
    bool color = UseColor(o.no_color, env, out);
    out << engine::RenderPlanText(plan, color) << engine::RenderAgentsText(agents, color);
    if (!o.out.empty()) {
      out << "\nSaved the plan to " << o.out
          << "; apply exactly it with: " << ApplyCommandFor(*ws, o) << "\n";
    }
  }
  if (o.detailed && plan.HasChanges()) return kExitChanges;
  return kExitOk;
}

}  // namespace
}  // namespace galley::cli
