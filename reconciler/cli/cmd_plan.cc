// SPDX-License-Identifier: Apache-2.0
// `galley plan DIR`: load and validate, observe Marathon and Consul under the managed
// prefixes, record the observation in the state store, compute the plan, print it (human,
// --json, --markdown), optionally save it (--out), and exit 0, or 2 with
// --detailed-exitcode when there are changes, or 1 on any error.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <ostream>
#include <random>

#include <nlohmann/json.hpp>

#include "base/digest.h"
#include "base/file_io.h"
#include "base/strings.h"
#include "base/subprocess.h"
#include "cli/commands.h"
#include "clients/consul_client.h"
#include "clients/endpoints.h"
#include "clients/marathon_client.h"
#include "engine/desired.h"
#include "engine/normalize.h"
#include "engine/observer.h"
#include "engine/planner.h"
#include "net/http_client.h"
#include "net/retrying_http_client.h"
#include "spec/loader.h"
#include "store/state_store.h"

namespace galley::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr char kUsage[] =
    "usage: galley plan [DIR] [options]\n"
    "\n"
    "Compares the desired state in DIR (default: the current directory) with live Marathon and\n"
    "Consul and prints what `galley apply` would change.\n"
    "\n"
    "options:\n"
    "  --env E               plan only environment E (repeatable)\n"
    "  --target SERVICE      plan only SERVICE (repeatable)\n"
    "  --marathon URL        Marathon URL(s), comma-separated for failover (else GALLEY_MARATHON_URL, galley.yaml)\n"
    "  --consul URL          Consul URL (else GALLEY_CONSUL_URL, CONSUL_HTTP_ADDR, galley.yaml)\n"
    "  --state FILE          the state store (default: $XDG_STATE_HOME/galley/state.db)\n"
    "  --rev REV             plan a committed revision of DIR's Git repository, not the working tree\n"
    "  --out FILE            save the plan (self-contained: desired bodies, tokens, commit; no secrets)\n"
    "  --json                print the plan as one JSON document (schema/v1/plan.schema.json)\n"
    "  --markdown            print the plan as Markdown (for a pull-request comment)\n"
    "  --no-color            never colour the output (colour is used only on a terminal)\n"
    "  --detailed-exitcode   exit 0 when there are no changes, 2 when there are, 1 on errors\n";

struct Options {
  std::string dir = ".", state, rev, out;
  std::vector<std::string> envs, targets, marathon;
  std::string consul;
  bool json = false, markdown = false, no_color = false, detailed = false;
};

std::string Who(const std::map<std::string, std::string>& env) {
  auto user = env.count("USER") ? env.at("USER") : "unknown";
  char host[256] = "localhost";
  ::gethostname(host, sizeof host - 1);
  return user + "@" + host;
}

// The Git commit DIR is at, "" when DIR is not in a Git work tree. "-dirty" is appended when
// the working tree has uncommitted changes under DIR.
std::string GitCommit(const std::string& dir, const std::string& rev) {
  auto head = RunCommand({"git", "-C", dir, "rev-parse", "--verify", (rev.empty() ? "HEAD" : rev) + "^{commit}"});
  if (!head.ok() || head->exit_code != 0) return "";
  std::string commit = head->out.substr(0, head->out.find('\n'));
  if (rev.empty()) {
    auto st = RunCommand({"git", "-C", dir, "status", "--porcelain", "--", "."});
    if (st.ok() && st->exit_code == 0 && !st->out.empty()) commit += "-dirty";
  }
  return commit;
}

// Exports DIR at REV into a fresh temporary directory (git archive | tar, as two argv
// commands), so the working tree is never touched. Returns {temporary root, DIR in it}.
Result<std::pair<std::string, std::string>> ExportRevision(const std::string& dir, const std::string& rev) {
  auto top = RunCommand({"git", "-C", dir, "rev-parse", "--show-toplevel", "--show-prefix"});
  if (!top.ok() || top->exit_code != 0) {
    return Status::InvalidArgument(dir + " is not inside a Git repository (needed for --rev)");
  }
  auto lines = Split(top->out, '\n');
  std::string toplevel = lines[0];
  std::string prefix = lines.size() > 1 ? lines[1] : "";
  std::string tmpl = (fs::temp_directory_path() / "galley-rev-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) return Status::Unavailable("cannot create a temporary directory");
  std::string tar = tmpl + "/rev.tar";
  // From the top level, so paths in the archive keep DIR's prefix.
  std::vector<std::string> argv = {"git", "-C", toplevel, "archive", "--format=tar", rev};
  if (!prefix.empty()) argv.insert(argv.end(), {"--", prefix});
  auto archive = RunCommand(argv, {.stdout_path = tar});
  if (!archive.ok() || archive->exit_code != 0) {
    return Status::InvalidArgument("git archive " + rev + ": " + (archive.ok() ? archive->err : archive.status().message()));
  }
  auto untar = RunCommand({"tar", "-xf", tar, "-C", tmpl});
  if (!untar.ok() || untar->exit_code != 0) return Status::Unavailable("cannot unpack revision " + rev);
  fs::remove(tar);
  return std::make_pair(tmpl, (fs::path(tmpl) / prefix).lexically_normal().string());
}

std::optional<Options> Parse(const Args& args, std::ostream& out, std::ostream& err, int* code) {
  Options o;
  bool dir_set = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* dst) {
      if (i + 1 >= args.size()) {
        err << "galley plan: " << a << " needs a value\n";
        return false;
      }
      *dst = args[++i];
      return true;
    };
    std::string v;
    bool ok = true;
    if (a == "--help" || a == "-h") {
      out << kUsage;
      *code = kExitOk;
      return std::nullopt;
    } else if (a == "--env") {
      ok = value(&v);
      o.envs.push_back(v);
    } else if (a == "--target") {
      ok = value(&v);
      o.targets.push_back(v);
    } else if (a == "--marathon") {
      ok = value(&v);
      for (auto& u : Split(v, ',')) {
        if (!u.empty()) o.marathon.push_back(u);
      }
    } else if (a == "--consul") {
      ok = value(&o.consul);
    } else if (a == "--state") {
      ok = value(&o.state);
    } else if (a == "--rev") {
      ok = value(&o.rev);
    } else if (a == "--out") {
      ok = value(&o.out);
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--markdown") {
      o.markdown = true;
    } else if (a == "--no-color") {
      o.no_color = true;
    } else if (a == "--detailed-exitcode") {
      o.detailed = true;
    } else if (!a.empty() && a[0] == '-') {
      err << "galley plan: unknown option '" << a << "'\n" << kUsage;
      ok = false;
    } else if (!dir_set) {
      o.dir = a;
      dir_set = true;
    } else {
      err << "galley plan: more than one directory given\n";
      ok = false;
    }
    if (!ok) {
      *code = kExitError;
      return std::nullopt;
    }
  }
  if (o.json && o.markdown) {
    err << "galley plan: --json and --markdown are exclusive\n";
    *code = kExitError;
    return std::nullopt;
  }
  return o;
}

// The applied records galley writes to Consul (galley/<platform>/applied/<env>/<service>:
// {"app": <normalised body>, "kv": {"<key>": "<HMAC>" | "secret:<HMAC>"}, "applied_at": ...}),
// so a runner with an empty state store still tells drift from pending. A record newer than
// the store's (by applied_at) wins; malformed records are skipped with a warning.
void MergeAppliedFromConsul(const model::LiveState& live, const std::string& prefix,
                            std::map<std::string, std::string>* applied_at, std::map<std::string, json>* apps,
                            std::map<std::string, std::string>* kv, std::vector<std::string>* warnings) {
  for (const auto& [key, entry] : live.kv) {
    if (!StartsWith(key, prefix)) continue;
    json rec = json::parse(entry.value, nullptr, false);
    if (!rec.is_object()) {
      warnings->push_back("ignored a malformed applied record at " + key);
      continue;
    }
    std::string when = rec.contains("applied_at") && rec["applied_at"].is_string() ? rec["applied_at"].get<std::string>() : "";
    if (rec.contains("app") && rec["app"].is_object() && rec["app"].contains("id") && rec["app"]["id"].is_string()) {
      std::string id = rec["app"]["id"].get<std::string>();
      auto known = applied_at->find("app:" + id);
      if (known == applied_at->end() || when >= known->second) (*apps)[id] = rec["app"];
    }
    if (rec.contains("kv") && rec["kv"].is_object()) {
      for (auto it = rec["kv"].begin(); it != rec["kv"].end(); ++it) {
        auto known = applied_at->find("kv:" + it.key());
        if (it->is_string() && (known == applied_at->end() || when >= known->second)) (*kv)[it.key()] = it->get<std::string>();
      }
    }
  }
}

int RunPlanUnguarded(const Args& args, std::ostream& out, std::ostream& err);

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
  // GALLEY_TRACE=1: how long each phase took, on stderr.
  bool trace = env.count("GALLEY_TRACE") && env.at("GALLEY_TRACE") == "1";
  auto t0 = std::chrono::steady_clock::now();
  auto phase = [&](const char* name) {
    if (!trace) return;
    auto now = std::chrono::steady_clock::now();
    err << "galley plan: " << name << " "
        << std::chrono::duration_cast<std::chrono::milliseconds>(now - t0).count() << " ms\n";
    t0 = now;
  };

  std::string commit = GitCommit(o.dir, o.rev);
  std::string load_dir = o.dir, export_root;
  if (!o.rev.empty()) {
    if (commit.empty()) {
      err << "galley plan: --rev " << o.rev << ": not a commit of the Git repository at " << o.dir << "\n";
      return kExitError;
    }
    auto exported = ExportRevision(o.dir, o.rev);
    if (!exported.ok()) {
      err << "galley plan: " << exported.status().message() << "\n";
      return kExitError;
    }
    export_root = exported->first;
    load_dir = exported->second;
  }
  spec::LoadResult loaded = spec::LoadRepository(load_dir);
  phase("load+validate");
  if (!export_root.empty()) {
    std::error_code ec;
    fs::remove_all(export_root, ec);
  }
  err << loaded.diags.RenderAll();
  if (loaded.diags.HasErrors()) {
    err << "galley plan: " << o.dir << " is not valid; nothing planned\n";
    return kExitError;
  }
  const model::DesiredState& st = loaded.state;
  for (const auto& e : o.envs) {
    if (!st.platform.FindEnvironment(e)) {
      err << "galley plan: no environment '" << e << "' in " << st.platform.file << "\n";
      return kExitError;
    }
  }
  for (const auto& t : o.targets) {
    if (!st.FindService(t)) {
      err << "galley plan: no service '" << t << "' in " << o.dir << "\n";
      return kExitError;
    }
  }

  auto endpoints = clients::ResolveEndpoints(st.platform, {o.marathon, o.consul}, env);
  if (!endpoints.ok()) {
    err << "galley plan: " << endpoints.status().message() << "\n";
    return kExitError;
  }
  // One transport per API (each may trust its own CA), retrying idempotent reads with
  // backoff on transport errors and 502/503/504/429.
  auto transport = [](const std::string& ca_file) {
    net::HttpClientOptions opts;
    opts.ca_file = ca_file;
    return net::NewRetryingHttpClient(net::NewHttpClient(opts), net::RetryPolicy{});
  };
  auto marathon_http = transport(endpoints->marathon.ca_file);
  auto consul_http = transport(endpoints->consul.ca_file);
  auto marathon = clients::NewMarathonClient(endpoints->marathon, marathon_http.get());
  auto consul = clients::NewConsulClient(endpoints->consul, consul_http.get());

  std::string state_path = o.state.empty() ? store::DefaultStatePath(env) : o.state;
  auto store = store::OpenSqliteStore(state_path);
  if (!store.ok()) {
    err << "galley plan: " << store.status().message() << "\n";
    return kExitError;
  }
  (void)(*store)->MarkInterruptedRuns();  // runs of crashed galleys show up as interrupted
  auto run = (*store)->BeginRun("plan", "cli", commit, Who(env));
  if (!run.ok()) {
    err << "galley plan: " << run.status().message() << "\n";
    return kExitError;
  }
  auto fail = [&](const std::string& message) {
    (void)(*store)->FinishRun(*run, "failed", json{{"error", message}}.dump());
    err << "galley plan: " << message << "\n";
    return kExitError;
  };

  engine::ObserveScope scope;
  scope.app_prefixes = engine::ManagedAppPrefixes(st.platform);
  scope.kv_prefixes = engine::ManagedKvPrefixes(st.platform);
  scope.kv_prefixes.push_back(engine::AppliedPrefix(st.platform));
  scope.exact_keys = {model::kHaproxyMaxconnKey, engine::HmacKeyKey(st.platform)};
  phase("open store");
  auto live = engine::Observe(*marathon, *consul, scope);
  if (!live.ok()) return fail(live.status().message());
  phase("observe");

  // What was applied: the store, brought up to date from the records in Consul.
  std::map<std::string, json> applied_apps;
  std::map<std::string, std::string> applied_kv, applied_at;
  std::vector<std::string> applied_warnings;
  auto applied = (*store)->LastApplied();
  if (!applied.ok()) return fail(applied.status().message());
  for (const auto& [resource, rec] : *applied) {
    if (rec.deleted) continue;
    if (StartsWith(resource, "marathon-app:")) {
      json body = json::parse(rec.body, nullptr, false);
      if (!body.is_object()) continue;
      applied_apps[resource.substr(13)] = body;
      applied_at["app:" + resource.substr(13)] = rec.applied_at;
    } else if (StartsWith(resource, "consul-kv:")) {
      applied_kv[resource.substr(10)] = rec.body;
      applied_at["kv:" + resource.substr(10)] = rec.applied_at;
    }
  }
  MergeAppliedFromConsul(*live, engine::AppliedPrefix(st.platform), &applied_at, &applied_apps, &applied_kv,
                         &applied_warnings);

  std::string hmac_key;
  if (env.count("GALLEY_HMAC_KEY") && !env.at("GALLEY_HMAC_KEY").empty()) {
    hmac_key = env.at("GALLEY_HMAC_KEY");
  } else if (auto it = live->kv.find(engine::HmacKeyKey(st.platform)); it != live->kv.end()) {
    hmac_key = it->second.value;
  }
  // Internal keys are observed but are not part of the platform's KV.
  for (auto it = live->kv.begin(); it != live->kv.end();) {
    it = StartsWith(it->first, "galley/") ? live->kv.erase(it) : std::next(it);
  }

  // Without a platform key yet (nothing applied), an ephemeral one keeps comparisons within
  // this plan; config digests are then "(known after apply)".
  std::string compare_key = hmac_key;
  bool durable_key = !hmac_key.empty();
  if (compare_key.empty()) {
    std::random_device rd;
    for (int i = 0; i < 4; ++i) compare_key += std::to_string(rd());
  }
  // What was seen, for the store: hash and token of everything (values as HMACs only); the
  // normalised body only of apps the plan changes (filled in below), so a plan over thousands
  // of untouched apps stays small.
  std::vector<store::Observation> obs;
  std::map<std::string, size_t> obs_index;
  for (const auto& [id, app] : live->apps) {
    obs_index["app:" + id] = obs.size();
    obs.push_back({"marathon-app:" + id, Sha256Hex(app.body.dump()), app.version, ""});
  }
  for (const auto& [key, kv] : live->kv) {
    obs.push_back({"consul-kv:" + key, HmacSha256Hex(compare_key, kv.value), std::to_string(kv.modify_index), ""});
  }
  phase("observations");
  engine::DesiredSet desired = engine::BuildDesired(st, engine::EnvironmentSecrets(env), hmac_key, applied_kv);
  engine::PlanInput in;
  in.platform = st.platform.name;
  for (const auto& e : st.platform.environments) {
    if (o.envs.empty() || std::find(o.envs.begin(), o.envs.end(), e.name) != o.envs.end()) {
      in.environments.push_back(e.name);
    }
  }
  in.targets.insert(o.targets.begin(), o.targets.end());
  in.app_prefixes = scope.app_prefixes;
  in.kv_prefixes = scope.kv_prefixes;
  in.kv_prefixes.pop_back();  // the applied records are galley's own, not the platform's
  in.kv_exact_keys = {model::kHaproxyMaxconnKey};
  for (const auto& s : st.services) in.declared_services.insert(s.name);
  in.apps = std::move(desired.apps);
  in.kv = std::move(desired.kv);
  in.live = std::move(*live);
  in.applied_apps = std::move(applied_apps);
  in.applied_kv = std::move(applied_kv);
  in.hmac_key = compare_key;
  in.hmac_key_durable = durable_key;
  for (const auto& e : st.platform.environments) {
    if (e.paused) in.paused_environments.insert(e.name);
  }
  in.drift = st.platform.drift;
  in.prune = st.platform.prune;
  phase("render desired");
  engine::Plan plan = engine::MakePlan(in);
  phase("plan");
  for (const auto& a : plan.actions) {
    auto it = obs_index.find(a.id);
    auto live_app = in.live.apps.find(a.target);
    if (it != obs_index.end() && live_app != in.live.apps.end()) {
      obs[it->second].body = engine::NormalizeApp(live_app->second.body).dump();
    }
  }
  plan.warnings.insert(plan.warnings.begin(), applied_warnings.begin(), applied_warnings.end());
  plan.commit = commit;
  plan.galley_version = GALLEY_VERSION;
  plan.created_at = store::FormatTimestamp(std::chrono::system_clock::now());

  Status recorded = (*store)->RecordObservations(*run, obs);
  phase("record observations");
  if (!recorded.ok()) return fail(recorded.message());
  json plan_json = engine::PlanToJson(plan);
  std::string digest = engine::PlanDigest(plan);
  // A plan's identity is its digest (the time it was made is not part of it): the same plan
  // made again is already saved.
  auto saved = (*store)->SavePlan(*run, plan_json.dump(), digest);
  if (!saved.ok() && saved.status().code() != StatusCode::kAlreadyExists) return fail(saved.status().message());
  if (!o.out.empty()) {
    Status s = WriteFileAtomic(o.out, plan_json.dump(2) + "\n");
    if (!s.ok()) return fail("saving the plan: " + s.message());
  }
  (void)(*store)->FinishRun(*run, plan.HasChanges() ? "changes" : "ok",
                            json{{"actions", plan.actions.size()}, {"digest", digest}}.dump());

  phase("save plan");
  if (o.json) {
    out << plan_json.dump(2) << "\n";
  } else if (o.markdown) {
    out << engine::RenderPlanMarkdown(plan);
  } else {
    bool color = !o.no_color && ::isatty(STDOUT_FILENO) && !env.count("NO_COLOR") && &out == &std::cout;
    out << engine::RenderPlanText(plan, color);
    // TODO(issue #5): say "apply it with: galley apply FILE" once apply exists.
    if (!o.out.empty()) out << "\nSaved the plan to " << o.out << "\n";
  }
  if (o.detailed && plan.HasChanges()) return kExitChanges;
  return kExitOk;
}

}  // namespace
}  // namespace galley::cli
