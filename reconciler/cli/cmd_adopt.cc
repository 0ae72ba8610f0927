// SPDX-License-Identifier: Apache-2.0
// `galley adopt DIR [--env E]...` (DESIGN §8 point 16): takes over apps deployed without
// galley. Reads the live platform, writes DIR/services/<service>.yaml (one per service, its
// environments grouped; engine/adopt), checks that each renders to what runs, then writes
// galley's applied records equal to the live objects (and publishes the LB models), so the
// first plan is empty and nothing restarts. Labels come with each app's next real change.
// Nothing is written unless every check passed.
#include <algorithm>
#include <filesystem>
#include <ostream>

#include "base/digest.h"
#include "base/file_io.h"
#include "base/strings.h"
#include "base/time_text.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/pipeline.h"
#include "engine/adopt.h"
#include "engine/applied_record.h"
#include "engine/desired.h"
#include "engine/diff.h"
#include "engine/lb_models.h"
#include "engine/normalize.h"
#include "engine/ownership.h"
#include "render/marathon_app.h"
#include "spec/loader.h"
#include "spec/parse.h"
#include "spec/semantic_check.h"
#include "spec/yaml_source.h"

namespace galley::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// The parsed file must render, for every environment, to the live app (outside `ignore`).
Status Verify(const model::Platform& p, const model::Service& parsed,
              const model::LiveState& live) {
  for (const auto& env : parsed.environments) {
    std::string id = render::MarathonAppId(env.name, parsed.name);
    auto it = live.apps.find(id);
    if (it == live.apps.end()) return Status::Internal(id + " vanished");
    json rendered =
        engine::WithoutGalleyLabels(json::parse(render::RenderMarathonApp(p, parsed, env).dump()));
    json want = engine::Comparable(rendered, parsed.ignore);
    json have = engine::Comparable(engine::WithoutGalleyLabels(it->second.body), parsed.ignore);
    if (want != have) {
      std::string diff;
      for (const auto& c : engine::DiffJson(have, want))
        diff += (diff.empty() ? "" : " ") + c.pointer;
      return Status::InvalidArgument(id + ": the written file would not render what runs (" + diff +
                                     ")");
    }
  }
  return Status::Ok();
}

}  // namespace

int RunAdopt(const Args& args, std::ostream& out, std::ostream& err) {
  TargetOptions target;
  bool dry_run = false;
  CommandLine cl("adopt", "DIR [--env E]... [options]",
                 "Takes over apps deployed without galley (no galley labels, no applied record):\n"
                 "writes DIR/services/<service>.yaml for each service found under /app/<env>/\n"
                 "(environments grouped, config from KV app/<env>/<service>/), checks that it\n"
                 "renders to what runs, and records the live objects as applied, so the next\n"
                 "`galley plan` shows no changes and nothing restarts. What the schema cannot\n"
                 "express is kept as it runs through the service's ignore: list, and printed.");
  cl.Positional("DIR", &target.dir, true);
  AddTargetOptions(cl, &target, TargetOptionSet{true, false});
  cl.Flag("--dry-run", &dry_run, "print the files and records it would write; write nothing");
  cl.Epilogue("Exit status: 0 adopted (or nothing to adopt), 1 error (nothing written).");
  if (auto exit = cl.ParseOrExit(args, out, err)) return *exit;
  auto fail = [&](const std::string& m) {
    err << "galley adopt: " << m << "\n";
    return kExitError;
  };
  auto ws = OpenWorkspace(target, "adopt", err);
  if (!ws) return kExitError;
  auto observed = ObservePlatform(*ws);
  if (!observed.ok()) return fail(observed.status().message());
  const model::Platform& p = ws->state.platform;

  engine::AdoptInput in;
  in.platform = &p;
  in.environments = ws->environments;
  in.live = &observed->live;
  for (const auto& s : ws->state.services) in.declared_services.insert(s.name);
  for (const auto& [id, body] : observed->applied_apps) in.owned_apps.insert(id);
  engine::AdoptOutcome outcome = engine::PlanAdoption(in);
  for (const auto& n : outcome.notes) out << "note: " << n << "\n";

  // Every file is checked before anything is written.
  std::string stamp = FormatTimestamp(std::chrono::system_clock::now());
  struct File {
    std::string path, text;
    const engine::AdoptedService* adopted;
  };
  std::vector<File> files;
  std::vector<std::string> refused;
  model::DesiredState state = ws->state;
  for (const auto& a : outcome.services) {
    if (!a.refused.empty()) {
      refused.push_back("service " + a.service.name + " not adopted: " + a.refused);
      continue;
    }
    std::string rel = std::string(spec::kServicesDir) + "/" + a.service.name + ".yaml";
    std::string path = (fs::path(target.dir) / rel).string();
    std::error_code ec;
    if (fs::exists(path, ec)) {
      refused.push_back("service " + a.service.name + " not adopted: " + path + " exists");
      continue;
    }
    std::string text = engine::AdoptedServiceYaml(a, stamp);
    Diagnostics diags;
    auto doc = spec::ParseYaml(path, text, diags);
    std::optional<model::Service> parsed;
    if (doc) parsed = spec::ParseService(*doc, diags);
    if (diags.HasErrors() || !parsed) {
      return fail("internal error: the file written for " + a.service.name + " does not parse:\n" +
                  diags.RenderAll());
    }
    if (Status s = Verify(p, *parsed, observed->live); !s.ok()) {
      refused.push_back("service " + a.service.name + " not adopted: " + s.message());
      continue;
    }
    state.services.push_back(*parsed);
    files.push_back({path, text, &a});
  }
  for (const auto& r : refused) err << "galley adopt: " << r << "\n";
  std::sort(state.services.begin(), state.services.end(),
            [](const model::Service& a, const model::Service& b) { return a.name < b.name; });
  Diagnostics check;
  spec::CheckSemantics(state, target.dir, check);
  if (check.HasErrors()) {
    return fail("the adopted services would not make a valid repository; nothing written:\n" +
                ErrorsOnly(check));
  }
  if (files.empty()) {
    out << "nothing to adopt" << (refused.empty() ? "" : " (see the errors above)") << "\n";
    return refused.empty() ? kExitOk : kExitError;
  }
  for (const auto& f : files) {
    const model::Service& svc = f.adopted->service;
    out << (dry_run ? "would write " : "writing ") << f.path << " (" << svc.environments.size()
        << " environments)\n";
    for (const auto& k : f.adopted->kept) out << "  kept as it runs: " << k << "\n";
    for (const auto& k : f.adopted->keys_left) out << "  KV left alone: " << k << "\n";
    std::vector<std::string> secretish;
    auto look = [&](const model::ConfigMap& c) {
      for (const auto& [k, v] : c) {
        for (const char* w :
             {"PASSWORD", "SECRET", "TOKEN", "KEY", "DATABASE_URL", "DSN", "CREDENTIAL"}) {
          if (k.find(w) != std::string::npos) {
            if (std::find(secretish.begin(), secretish.end(), k) == secretish.end())
              secretish.push_back(k);
            break;
          }
        }
      }
    };
    look(svc.config);
    for (const auto& e : svc.environments) look(e.config);
    if (!secretish.empty()) {
      out << "  warning: " << Join(secretish, ", ")
          << " look like secrets and are written as literal values: make them {secret_env: VAR} "
             "before committing\n";
    }
    bool http = std::any_of(svc.ports.begin(), svc.ports.end(), [](const model::Port& port) {
      return port.expose == model::Expose::kHttp;
    });
    if (http) {
      out << "  note: external_hosts (HAProxy routing by host name) are not in Marathon; add them "
             "by hand if the service has any\n";
    }
    if (dry_run) out << f.text;
  }
  if (dry_run) return refused.empty() ? kExitOk : kExitError;

  // The platform key the config digests and records are made with.
  std::string hmac_key = observed->hmac_key;
  if (hmac_key.empty()) {
    auto key = CreateHmacKey(*ws);
    if (!key.ok()) return fail("creating the platform's HMAC key: " + key.status().message());
    hmac_key = *key;
  }
  for (const auto& f : files) {
    if (Status s = WriteFileAtomic(f.path, f.text); !s.ok()) return fail(s.message());
  }
  engine::DesiredSet desired = engine::BuildDesired(
      state, [](const model::ConfigValue& v) { return std::optional<std::string>(v.text); },
      hmac_key, observed->applied_kv);
  std::set<std::string> adopted;
  for (const auto& f : files) adopted.insert(f.adopted->service.name);
  std::map<std::string, std::vector<engine::AppliedItem>> records;
  const std::string prefix = engine::AppliedPrefix(p);
  for (const auto& a : desired.apps) {
    if (!adopted.count(a.service)) continue;
    records[engine::AppliedRecordKey(prefix, a.env, a.service)].push_back(
        {true, a.id, a.env, a.service, engine::NormalizeApp(a.body), false});
  }
  for (const auto& k : desired.kv) {
    bool platform_key = k.service.empty();
    if (!platform_key && !adopted.count(k.service)) continue;
    auto live = observed->live.kv.find(k.key);
    if (!k.value || live == observed->live.kv.end() || live->second.value != *k.value) continue;
    if (platform_key && observed->applied_kv.count(k.key)) continue;
    records[engine::AppliedRecordKey(prefix, k.env, k.service)].push_back(
        {false, k.key, k.env, k.service,
         json{{"hmac", HmacSha256Hex(hmac_key, *k.value)}, {"secret", false}}, false});
  }
  // The LB models galley publishes (its own documents; HAProxy changes only through agents).
  for (const auto& m : engine::DesiredModels(state)) {
    if (observed->applied_models.count(m.instance) || observed->live.kv.count(m.key)) continue;
    auto put = ws->consul->PutKv(m.key, m.document, uint64_t{0});
    if (!put.ok()) return fail("publishing the LB model " + m.key + ": " + put.status().message());
    records[engine::AppliedRecordKey(prefix, "", "")].push_back(
        {false, m.key, "", "",
         json{{"hmac", HmacSha256Hex(hmac_key, m.document)},
              {"secret", false},
              {"digest", m.digest}},
         true});
  }
  engine::AppliedStamp st{stamp, ws->commit, Who(ws->env) + " (galley adopt)", 0};
  for (const auto& [key, items] : records) {
    std::string previous;
    if (auto it = observed->applied_records.find(key); it != observed->applied_records.end())
      previous = it->second.value;
    auto put =
        ws->consul->PutKv(key, engine::UpdateAppliedRecord(previous, items, st), std::nullopt);
    if (!put.ok()) return fail("writing the applied record " + key + ": " + put.status().message());
    if (Status s = ws->store->SetApplied(engine::AppliedRows(items, st)); !s.ok())
      return fail(s.message());
  }
  out << "adopted " << files.size() << (files.size() == 1 ? " service" : " services")
      << "; applied records written: run `galley plan " << target.dir
      << "` (expect no changes) and commit " << target.dir << "/services/\n";
  return refused.empty() ? kExitOk : kExitError;
}

}  // namespace galley::cli
