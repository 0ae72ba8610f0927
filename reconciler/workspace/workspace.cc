// SPDX-License-Identifier: Apache-2.0
#include "workspace/workspace.h"

#include <algorithm>
#include <filesystem>
#include <future>
#include <iostream>
#include <ostream>

#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/digest.h"
#include "base/strings.h"
#include "base/subprocess.h"
#include "base/uuid.h"
#include "engine/applied_record.h"
#include "engine/desired.h"
#include "engine/jobs.h"
#include "engine/lb_models.h"
#include "engine/observer.h"
#include "engine/reconcile.h"
#include "engine/run_history.h"
#include "engine/view_text.h"
#include "net/retrying_http_client.h"
#include "render/lb_model.h"
#include "spec/loader.h"

namespace galley::workspace {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Exports DIR at REV into a fresh temporary directory (git archive | tar, as two argv
// commands), so the working tree is never touched. Returns {temporary root, DIR in it}.
Result<std::pair<std::string, std::string>> ExportRevision(const std::string& dir,
                                                           const std::string& rev) {
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
    return Status::InvalidArgument("git archive " + rev + ": " +
                                   (archive.ok() ? archive->err : archive.status().message()));
  }
  auto untar = RunCommand({"tar", "-xf", tar, "-C", tmpl});
  if (!untar.ok() || untar->exit_code != 0)
    return Status::Unavailable("cannot unpack revision " + rev);
  fs::remove(tar);
  return std::make_pair(tmpl, (fs::path(tmpl) / prefix).lexically_normal().string());
}

// The applied records galley writes to Consul (format: engine/applied_record.h), so a runner
// with an empty state store still tells drift from pending. A record newer than the store's
// (by applied_at) wins; malformed records are skipped with a warning.
void MergeAppliedFromConsul(Observed* o, std::vector<std::string>* targets) {
  engine::LastAppliedView last{std::move(o->applied_apps), std::move(o->applied_kv),
                               std::move(o->applied_models), std::move(o->applied_at),
                               std::move(o->applied_jobs)};
  for (auto& w : engine::MergeAppliedRecords(o->applied_records, &last, targets))
    o->warnings.push_back(std::move(w));
  o->applied_apps = std::move(last.apps);
  o->applied_kv = std::move(last.kv);
  o->applied_models = std::move(last.models);
  o->applied_at = std::move(last.at);
  o->applied_jobs = std::move(last.jobs);
}

bool ConnectAndOpenStore(Workspace* ws, const TargetOptions& o, const model::Platform& platform,
                         const char* command, std::ostream& err,
                         const clients::EndpointFlags& saved_plan = {}) {
  clients::EndpointFlags flags = saved_plan;
  flags.marathon_urls = o.marathon;
  flags.consul_url = o.consul;
  flags.chronos_url = o.chronos;
  auto endpoints = clients::ResolveEndpoints(platform, flags, ws->env);
  if (!endpoints.ok()) {
    err << "galley " << command << ": " << endpoints.status().message() << "\n";
    return false;
  }
  ws->endpoints = *endpoints;
  // One transport per API (each may trust its own CA), retrying idempotent requests with
  // backoff on transport errors and 502/503/504/429.
  auto transport = [](const std::string& ca_file) {
    net::HttpClientOptions opts;
    opts.ca_file = ca_file;
    return net::NewRetryingHttpClient(net::NewHttpClient(opts), net::RetryPolicy{});
  };
  ws->marathon_http = transport(ws->endpoints.marathon.ca_file);
  ws->consul_http = transport(ws->endpoints.consul.ca_file);
  ws->marathon = clients::NewMarathonClient(ws->endpoints.marathon, ws->marathon_http.get());
  ws->consul = clients::NewConsulClient(ws->endpoints.consul, ws->consul_http.get());
  if (!ws->endpoints.chronos.url.empty()) {
    // The client retries GETs itself; writes are sent once.
    net::HttpClientOptions opts;
    opts.ca_file = ws->endpoints.chronos.ca_file;
    ws->chronos_http = net::NewHttpClient(opts);
    ws->chronos = clients::NewChronosClient(ws->endpoints.chronos, ws->chronos_http.get());
  }

  ws->state_path = o.state.empty() ? store::DefaultStatePath(ws->env) : o.state;
  store::StoreOptions store_options;
  store_options.retention = RetentionOf(platform.history);
  auto store = store::OpenSqliteStore(ws->state_path, store_options);
  if (!store.ok()) {
    err << "galley " << command << ": " << store.status().message() << "\n";
    return false;
  }
  ws->store = std::move(store).value();
  (void)ws->store->MarkInterruptedRuns();  // runs of crashed galleys show up as interrupted
  return true;
}

}  // namespace

std::string ErrorsOnly(const Diagnostics& diags) {
  std::string out;
  for (const auto& d : diags.items()) {
    if (d.severity == Severity::kError) out += diags.Render(d);
  }
  int n = diags.error_count();
  if (n > 0) out += std::to_string(n) + (n == 1 ? " error\n" : " errors\n");
  return out;
}

store::Retention RetentionOf(const model::HistoryRetention& h) {
  store::Retention r;
  r.applies = h.applies;
  r.plans = h.plans;
  r.drift_checks = h.drift_checks;
  r.max_age = std::chrono::seconds(h.max_age_s);
  r.observation_runs = h.observation_runs;
  r.observation_max_age = std::chrono::seconds(h.observation_max_age_s);
  return r;
}

store::RunOrigin Origin(const std::map<std::string, std::string>& env) {
  return engine::RunOriginOf(env, Who(env));
}

std::string Who(const std::map<std::string, std::string>& env) {
  std::string user = env.count("USER") && !env.at("USER").empty() ? env.at("USER") : "";
  if (user.empty()) {
    struct passwd pw, *found = nullptr;
    char buf[1024];
    user = ::getpwuid_r(::getuid(), &pw, buf, sizeof buf, &found) == 0 && found ? found->pw_name
                                                                                : "unknown";
  }
  char host[256] = "localhost";
  ::gethostname(host, sizeof host - 1);
  return user + "@" + host;
}

std::string GitCommit(const std::string& dir, const std::string& rev) {
  auto head = RunCommand(
      {"git", "-C", dir, "rev-parse", "--verify", (rev.empty() ? "HEAD" : rev) + "^{commit}"});
  if (!head.ok() || head->exit_code != 0) return "";
  std::string commit = head->out.substr(0, head->out.find('\n'));
  if (rev.empty()) {
    auto st = RunCommand({"git", "-C", dir, "status", "--porcelain", "--", "."});
    if (st.ok() && st->exit_code == 0 && !st->out.empty()) commit += "-dirty";
  }
  return commit;
}

std::string GitTree(const std::string& dir, const std::string& rev) {
  // "<rev>:./" is DIR's own tree (paths after ':' starting with ./ are relative to -C).
  auto tree = RunCommand(
      {"git", "-C", dir, "rev-parse", "--verify", "-q", (rev.empty() ? "HEAD" : rev) + ":./"});
  if (!tree.ok() || tree->exit_code != 0) return "";
  return tree->out.substr(0, tree->out.find('\n'));
}

std::unique_ptr<Workspace> OpenWorkspace(const TargetOptions& o, const char* command,
                                         std::ostream& err, bool show_warnings) {
  auto ws = std::make_unique<Workspace>();
  ws->env = clients::ProcessEnvironment();
  ws->commit = GitCommit(o.dir, o.rev);
  ws->dirty = ws->commit.size() > 6 && ws->commit.compare(ws->commit.size() - 6, 6, "-dirty") == 0;
  if (!ws->commit.empty() && !ws->dirty) ws->tree = GitTree(o.dir, o.rev);
  std::string load_dir = o.dir, export_root;
  if (!o.rev.empty()) {
    if (ws->commit.empty()) {
      err << "galley " << command << ": --rev " << o.rev
          << ": not a commit of the Git repository at " << o.dir << "\n";
      return nullptr;
    }
    auto exported = ExportRevision(o.dir, o.rev);
    if (!exported.ok()) {
      err << "galley " << command << ": " << exported.status().message() << "\n";
      return nullptr;
    }
    export_root = exported->first;
    load_dir = exported->second;
  }
  spec::LoadResult loaded = spec::LoadRepository(load_dir);
  if (!export_root.empty()) {
    std::error_code ec;
    fs::remove_all(export_root, ec);
  }
  if (show_warnings) {
    err << loaded.diags.RenderAll();
  } else {
    err << ErrorsOnly(loaded.diags);
  }
  if (loaded.diags.HasErrors()) {
    err << "galley " << command << ": " << o.dir << " is not valid; nothing done\n";
    return nullptr;
  }
  ws->state = std::move(loaded.state);
  const model::DesiredState& st = ws->state;
  for (const auto& e : o.envs) {
    if (!st.platform.FindEnvironment(e)) {
      err << "galley " << command << ": no environment '" << e << "' in " << st.platform.file
          << "\n";
      return nullptr;
    }
  }
  for (const auto& t : o.targets) {
    if (!st.FindService(t)) {
      err << "galley " << command << ": no service '" << t << "' in " << o.dir << "\n";
      return nullptr;
    }
  }
  for (const auto& e : st.platform.environments) {
    if (o.envs.empty() || std::find(o.envs.begin(), o.envs.end(), e.name) != o.envs.end()) {
      ws->environments.push_back(e.name);
    }
  }
  if (!ConnectAndOpenStore(ws.get(), o, st.platform, command, err)) return nullptr;
  return ws;
}

std::unique_ptr<Workspace> OpenConnections(const TargetOptions& o, const model::Platform* platform,
                                           const char* command, std::ostream& err,
                                           const clients::EndpointFlags& saved_plan) {
  auto ws = std::make_unique<Workspace>();
  ws->env = clients::ProcessEnvironment();
  model::Platform empty;
  if (!ConnectAndOpenStore(ws.get(), o, platform ? *platform : empty, command, err, saved_plan))
    return nullptr;
  return ws;
}

Result<std::string> CreateHmacKey(Workspace& ws) {
  return engine::CreateHmacKey(*ws.consul, ws.state.platform);
}

void DescribePlan(const Workspace& ws, const engine::PlanInput& in, engine::Plan* plan) {
  DescribePlan(ws, plan,
               engine::DesiredDigests(in.apps, in.kv, in.environments, in.targets, in.models));
}

void DescribePlan(const Workspace& ws, engine::Plan* plan,
                  std::map<std::string, std::string> desired_digests) {
  plan->commit = ws.commit;
  plan->tree = ws.tree;
  plan->dirty = ws.dirty;
  plan->galley_version = GALLEY_VERSION;
  plan->marathon_urls = ws.endpoints.marathon.urls;
  plan->consul_url = ws.endpoints.consul.url;
  plan->chronos_url = ws.endpoints.chronos.url;
  plan->desired_digests = std::move(desired_digests);
}

std::optional<RecordedRun> RecordedRun::Begin(Workspace& ws, const std::string& kind,
                                              std::ostream& err) {
  auto id = ws.store->BeginRun(kind, "cli", ws.commit, Origin(ws.env));
  if (!id.ok()) {
    err << "galley " << kind << ": " << id.status().message() << "\n";
    return std::nullopt;
  }
  return RecordedRun(ws, kind, *id, err);
}

void RecordedRun::Finish(const std::string& outcome, const std::string& summary_json) {
  (void)ws_->store->FinishRun(id_, outcome, summary_json);
}

int RecordedRun::Fail(const std::string& message) {
  Finish("failed", engine::SafeDump(nlohmann::json{{"error", message}}));
  *err_ << "galley " << kind_ << ": " << message << "\n";
  return 1;  // kExitError
}

Result<Observed> ObservePlatform(Workspace& ws) {
  const model::Platform& p = ws.state.platform;
  engine::ObserveScope scope;
  scope.app_prefixes = engine::ManagedAppPrefixes(p);
  scope.kv_prefixes = engine::ManagedKvPrefixes(p);
  scope.kv_prefixes.push_back(engine::AppliedPrefix(p));
  const std::string model_prefix = engine::ModelPrefix(p.name);
  const std::string report_prefix = render::AgentReportPrefix(p.name);
  scope.kv_prefixes.push_back(model_prefix);
  scope.kv_prefixes.push_back(report_prefix);
  scope.exact_keys = {model::kHaproxyMaxconnKey, engine::HmacKeyKey(p)};
  // The app listing (the largest read) on a second thread while Consul and Chronos are read
  // and the applied records parsed here; the future's destructor waits for it on every path
  // out. Marathon's error is reported first, as a sequential read would.
  // The store's applied rows are read on the same thread after the listing: the two threads
  // then take about as long (at 2,000 x 3: listing ~0.45 s + rows ~0.14 s; KV ~0.3 s + the
  // records' parse ~0.25 s here). The store is not touched here until the thread is done.
  struct Listed {
    Result<engine::ObservedApps> apps = Status::Internal("not read");
    Result<std::map<std::string, store::Applied>> applied = Status::Internal("not read");
  };
  auto listing = std::async(std::launch::async, [&ws, &scope] {
    Listed l;
    l.apps = engine::ObserveApps(*ws.marathon, scope);
    if (l.apps.ok()) l.applied = ws.store->LastApplied();
    return l;
  });
  model::LiveState live;
  Observed o;
  std::vector<std::string> applied_ids;
  auto rest = [&]() -> Status {
    RETURN_IF_ERROR(engine::ObserveKv(*ws.consul, scope, &live));
    if (ws.chronos) {
      RETURN_IF_ERROR(engine::ObserveJobs(*ws.chronos, &live));
    } else {
      size_t declared = 0;
      for (const auto& s : ws.state.services) {
        for (const auto& j : s.jobs) {
          for (const auto& e : ws.environments) declared += j.environments.count(e);
        }
      }
      if (declared > 0) {
        o.warnings.push_back(std::to_string(declared) + (declared == 1 ? " job" : " jobs") +
                             " declared; no Chronos endpoint (--chronos, GALLEY_CHRONOS_URL or "
                             "chronos.url in galley.yaml): jobs not planned");
      }
    }
    // What was applied: the records in Consul, then the store's rows that are newer (the same
    // result as the store brought up to date from the records, without parsing the app bodies
    // of store rows that lose). The records are moved out of the live keys (galley's own keys
    // are dropped from them below).
    const std::string applied_prefix = engine::AppliedPrefix(p);
    for (auto it = live.kv.lower_bound(applied_prefix);
         it != live.kv.end() && StartsWith(it->first, applied_prefix); ++it) {
      o.applied_records[it->first] = std::move(it->second);
    }
    // Environments removed from the platform file: what galley applied there is observed too.
    // Only the platform's own records in Consul say so (a state store may be shared by
    // several platforms).
    MergeAppliedFromConsul(&o, &applied_ids);
    return Status::Ok();
  };
  Status consul_side = rest();
  Listed listed = listing.get();
  if (!listed.apps.ok()) return listed.apps.status();
  RETURN_IF_ERROR(consul_side);
  if (!listed.applied.ok()) return listed.applied.status();
  {
    engine::LastAppliedView view{std::move(o.applied_apps), std::move(o.applied_kv),
                                 std::move(o.applied_models), std::move(o.applied_at),
                                 std::move(o.applied_jobs)};
    engine::AddStoreApplied(*listed.applied, &view, /*only_newer=*/true);
    o.applied_apps = std::move(view.apps);
    o.applied_kv = std::move(view.kv);
    o.applied_models = std::move(view.models);
    o.applied_at = std::move(view.at);
    o.applied_jobs = std::move(view.jobs);
  }
  engine::AddApps(std::move(*listed.apps), &live);
  o.removed_environments = engine::RemovedEnvironments(p, applied_ids);
  if (!o.removed_environments.empty()) {
    engine::ObserveScope removed;
    for (const auto& e : o.removed_environments) {
      removed.app_prefixes.push_back(engine::EnvAppPrefix(e));
      removed.kv_prefixes.push_back(engine::EnvKvPrefix(e));
    }
    ASSIGN_OR_RETURN(model::LiveState more, engine::Observe(*ws.marathon, *ws.consul, removed));
    live.apps.merge(more.apps);
    live.kv.merge(more.kv);
    live.kv_index = std::max(live.kv_index, more.kv_index);
    live.requests += more.requests;
  }

  if (ws.env.count("GALLEY_HMAC_KEY") && !ws.env.at("GALLEY_HMAC_KEY").empty()) {
    o.hmac_key = ws.env.at("GALLEY_HMAC_KEY");
  } else if (auto it = live.kv.find(engine::HmacKeyKey(p));
             it != live.kv.end() && !it->second.value.empty()) {
    o.hmac_key = it->second.value;
    o.hmac_key_in_consul = true;
  }
  // Internal keys are observed but are not part of the platform's KV; the agents' reports
  // are kept apart, the LB models (galley's planned resources) stay.
  for (auto it = live.kv.begin(); it != live.kv.end();) {
    if (StartsWith(it->first, report_prefix)) {
      o.agent_reports[it->first] = std::move(it->second);
      it = live.kv.erase(it);
    } else if (StartsWith(it->first, "galley/") && !engine::IsModelKey(model_prefix, it->first)) {
      it = live.kv.erase(it);
    } else {
      ++it;
    }
  }
  o.live = std::move(live);
  // Large LB models are stored gzip-compressed: compared as documents from here on.
  engine::DecodeLiveModels(model_prefix, &o.live.kv, &o.warnings);
  return o;
}

Status AnnotateFailures(Workspace& ws, engine::Plan& plan) {
  return engine::AnnotateFailures(*ws.store, plan);
}

std::string RandomKey() { return RandomHex(32); }

engine::PlanInput BuildPlanInput(const Workspace& ws, const TargetOptions& o, Observed&& observed,
                                 const std::string& compare_key, bool durable) {
  const model::DesiredState& st = ws.state;
  // The LB models (one document of the whole platform per HAProxy instance) are rendered on a
  // thread of their own while the apps are (pure; the state is only read).
  auto models = std::async(std::launch::async, [&st] { return engine::DesiredModels(st); });
  engine::DesiredSet desired = engine::BuildDesired(
      st, engine::EnvironmentSecrets(ws.env), durable ? compare_key : "", observed.applied_kv);
  engine::PlanInput in;
  in.platform = st.platform.name;
  in.environments = ws.environments;
  in.targets.insert(o.targets.begin(), o.targets.end());
  in.app_prefixes = engine::ManagedAppPrefixes(st.platform);
  in.kv_prefixes = engine::ManagedKvPrefixes(st.platform);
  if (o.envs.empty()) {  // what galley applied to environments removed from Git is in scope
    for (const auto& e : observed.removed_environments) {
      in.environments.push_back(e);
      in.removed_environments.insert(e);
      in.app_prefixes.push_back(engine::EnvAppPrefix(e));
      in.kv_prefixes.push_back(engine::EnvKvPrefix(e));
    }
  }
  in.kv_exact_keys = {model::kHaproxyMaxconnKey};
  for (const auto& s : st.services) in.declared_services.insert(s.name);
  in.apps = std::move(desired.apps);
  in.kv = std::move(desired.kv);
  in.live = std::move(observed.live);
  in.applied_apps = std::move(observed.applied_apps);
  in.applied_kv = std::move(observed.applied_kv);
  in.hmac_key = compare_key;
  in.hmac_key_durable = durable;
  for (const auto& e : st.platform.environments) {
    if (e.paused) in.paused_environments.insert(e.name);
  }
  in.policies = model::PoliciesOf(st);
  in.models = models.get();
  in.model_prefix = engine::ModelPrefix(st.platform.name);
  in.applied_models = std::move(observed.applied_models);
  in.chronos = in.live.jobs_observed;
  if (in.chronos) in.jobs = engine::DesiredJobs(st);
  in.applied_jobs = std::move(observed.applied_jobs);
  in.skip_hooks = o.skip_hooks;
  return in;
}

std::vector<store::Observation> ObservationsOf(const model::LiveState& live,
                                               const std::string& compare_key,
                                               const std::string& model_prefix) {
  std::vector<store::Observation> obs;
  obs.reserve(live.apps.size() + live.kv.size());
  for (const auto& [id, app] : live.apps) {
    obs.push_back({"marathon-app:" + id, Sha256Hex(engine::SafeDump(app.body)), app.version, ""});
  }
  for (const auto& [key, kv] : live.kv) {
    if (!model_prefix.empty() && engine::IsModelKey(model_prefix, key)) {
      obs.push_back(
          {engine::ResourceKey(model::ResourceKind::kHaproxyModel, engine::ModelInstanceOf(key)),
           Sha256Hex(kv.value), std::to_string(kv.modify_index), ""});
      continue;
    }
    obs.push_back({"consul-kv:" + key, HmacSha256Hex(compare_key, kv.value),
                   std::to_string(kv.modify_index), ""});
  }
  for (const auto& [name, body] : live.jobs) {
    std::string normal = engine::SafeDump(engine::NormalizeJob(body));
    obs.push_back({engine::ResourceKey(model::ResourceKind::kChronosJob, name), Sha256Hex(normal),
                   engine::JobDigest(body), normal});
  }
  return obs;
}

Result<ObservedInput> ObserveInput(Workspace& ws, const TargetOptions& o) {
  ASSIGN_OR_RETURN(Observed observed, ObservePlatform(ws));
  ObservedInput out;
  out.warnings = observed.warnings;
  out.applied_at = observed.applied_at;
  out.agent_reports = observed.agent_reports;
  bool durable = !observed.hmac_key.empty();
  std::string key = durable ? observed.hmac_key : RandomKey();
  out.in = BuildPlanInput(ws, o, std::move(observed), key, durable);
  return out;
}

engine::AgentSummary AgentStatusOf(Workspace& ws, const engine::PlanInput& in,
                                   const std::map<std::string, model::LiveKvEntry>& reports,
                                   std::vector<store::Observation>* obs) {
  engine::AgentInput a;
  a.platform = in.platform;
  for (const auto& m : in.models) {
    auto live = in.live.kv.find(m.key);
    a.published[m.instance] =
        live == in.live.kv.end() ? "" : engine::DocumentDigest(live->second.value);
  }
  a.reports = reports;
  for (const auto& [id, app] : in.live.apps) {
    for (const auto& t : app.tasks) a.task_hosts.insert(t.host);
  }
  auto latest = ws.store->LatestObservations(std::string(engine::kAgentReportResourcePrefix) +
                                             in.platform + "/");
  if (latest.ok()) a.reported_before = engine::ReportedBefore(*latest, in.platform);
  for (auto& o : engine::AgentObservations(a)) obs->push_back(std::move(o));
  return engine::AgentStatuses(a);
}

Result<engine::Observation> WorkspaceSource::Observe() {
  auto observed = ObservePlatform(ws_);
  if (!observed.ok()) return observed.status();
  engine::Observation o;
  o.live = std::move(observed->live);
  for (const auto& [key, entry] : observed->applied_records) o.applied_records[key] = entry.value;
  o.warnings = observed->warnings;
  o.hmac_key = observed->hmac_key;
  latest_ = std::move(observed).value();
  return o;
}

engine::PlanInput WorkspaceSource::PlanInputFor(engine::Observation&& latest,
                                                const std::string& compare_key, bool durable) {
  latest_.live = std::move(latest.live);
  return BuildPlanInput(ws_, target_, std::move(latest_), compare_key, durable);
}

void WorkspaceSource::DescribePlan(const engine::PlanInput& in, engine::Plan* plan) {
  workspace::DescribePlan(ws_, in, plan);
}

}  // namespace galley::workspace
