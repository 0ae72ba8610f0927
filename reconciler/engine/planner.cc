// SPDX-License-Identifier: Apache-2.0
#include "engine/planner.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "base/digest.h"
#include "base/strings.h"
#include "engine/hooks.h"
#include "engine/jobs.h"
#include "engine/normalize.h"
#include "engine/ownership.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

constexpr char kDigestLabelPointer[] = "/labels/galley.config-digest";

std::string AppActionId(const std::string& id) { return "app:" + id; }

std::string KvActionId(const std::string& key) { return "kv:" + key; }

std::string DescribeChanges(const std::vector<FieldChange>& changes) {
  std::vector<std::string> parts;
  for (const auto& c : changes) parts.push_back(c.pointer);
  return Join(parts, ", ");
}

ActionKind Classify(const std::vector<FieldChange>& changes) {
  bool only_instances = true, only_digest_or_instances = true, any_digest = false;
  for (const auto& c : changes) {
    bool inst = c.pointer == "/instances";
    bool digest = c.pointer == kDigestLabelPointer;
    any_digest = any_digest || digest;
    only_instances = only_instances && inst;
    only_digest_or_instances = only_digest_or_instances && (inst || digest);
  }
  if (only_instances) return ActionKind::kAppScale;
  if (only_digest_or_instances && any_digest) return ActionKind::kAppRestart;
  return ActionKind::kAppUpdate;
}

class Planner {
 public:
  explicit Planner(const PlanInput& in) : in_(in) {}

  Plan Run() {
    for (const auto& a : in_.apps) {
      if (a.paused) paused_.insert({a.env, a.service});
    }
    for (const auto& e : in_.paused_environments) paused_.insert({e, ""});
    plan_.platform = in_.platform;
    plan_.environments = in_.environments;
    plan_.targets.assign(in_.targets.begin(), in_.targets.end());
    plan_.observed_apps = static_cast<int>(in_.live.apps.size());
    plan_.observed_keys = static_cast<int>(in_.live.kv.size());
    plan_.requests = in_.live.requests;
    if (in_.chronos) plan_.observed_jobs = static_cast<int>(in_.live.jobs.size());
    PlanKv();
    PlanModels();
    PlanJobs();
    PlanApps();
    PlanOrphans();
    PlanJobOrphans();
    PlanHookRuns();
    Order();
    return std::move(plan_);
  }

 private:
  bool InScope(const std::string& service, const std::string& env) const {
    if (!env.empty() && std::find(in_.environments.begin(), in_.environments.end(), env) ==
                            in_.environments.end()) {
      return false;
    }
    // Platform-wide objects (no service) belong to no target: only an untargeted plan has them.
    if (service.empty()) return in_.targets.empty();
    return in_.targets.empty() || in_.targets.count(service);
  }

  void PlanKv() {
    for (const auto& d : in_.kv) {
      if (!InScope(d.service, d.env)) continue;
      desired_keys_.insert(d.key);
      if (d.paused) {
        plan_.skipped.push_back({d.key, "paused"});
        continue;
      }
      auto live = in_.live.kv.find(d.key);
      std::optional<std::string> live_hmac;
      if (live != in_.live.kv.end()) live_hmac = HmacSha256Hex(in_.hmac_key, live->second.value);
      std::optional<std::string> desired_hmac;
      if (d.value) desired_hmac = HmacSha256Hex(in_.hmac_key, *d.value);
      // What was applied: its HMAC, and whether it was a secret.
      std::optional<std::string> applied_hmac;
      bool applied_secret = false;
      if (auto it = in_.applied_kv.find(d.key); it != in_.applied_kv.end()) {
        applied_secret = StartsWith(it->second, "secret:");
        applied_hmac = applied_secret ? it->second.substr(7) : it->second;
      }

      Action a;
      a.id = KvActionId(d.key);
      a.kind = ActionKind::kKvPut;
      a.service = d.service;
      a.env = d.env;
      a.target = d.key;
      a.sensitive = d.secret;
      a.token = live == in_.live.kv.end() ? "0" : std::to_string(live->second.modify_index);
      if (d.secret) {
        a.desired = json{{"secret", d.secret_source}};
        if (desired_hmac && in_.hmac_key_durable) a.desired["hmac"] = *desired_hmac;
        if (!in_.hmac_key_durable)
          a.notes.push_back("the platform has no HMAC key yet: the value is verified at apply");
      } else {
        a.desired = json{{"value", *d.value}};
      }

      // The HMAC the live value is compared with: the desired one, or — when the secret's
      // source is not readable here (a pull request from a fork) — the one last applied.
      std::optional<std::string> target_hmac = desired_hmac;
      if (!desired_hmac) {
        plan_.warnings.push_back("secret " + d.key + " (" + d.secret_source +
                                 ") unavailable: compared with the last applied value");
        target_hmac = applied_hmac;
        a.notes.push_back("the value is read from " + d.secret_source + " at apply time");
      }
      if (live_hmac && target_hmac && *live_hmac == *target_hmac) continue;

      FieldChange c{"/value", live_hmac.has_value(), nullptr, true, nullptr};
      // A live value is printed only when it cannot be a secret: the key is not secret now
      // and was not secret when galley last applied it.
      bool mask_before = d.secret || applied_secret;
      if (live_hmac) c.before = mask_before ? json("(sensitive)") : json(live->second.value);
      c.after = d.secret ? json("(sensitive)") : json(*d.value);
      a.changes.push_back(c);
      if (mask_before && !d.secret)
        a.notes.push_back("the old value was a secret and is not shown");

      // Reason: nothing applied → new / pending; desired moved from applied → desired-changed;
      // desired equals applied (or is unknown) and live differs → drifted.
      bool desired_is_applied = applied_hmac && (!desired_hmac || *desired_hmac == *applied_hmac);
      if (!applied_hmac) {
        a.reason = live_hmac ? Reason::kDesiredChanged : Reason::kNew;
      } else if (!desired_is_applied) {
        a.reason = Reason::kDesiredChanged;
        if (live_hmac && *live_hmac != *applied_hmac) {
          a.notes.push_back("the live value also changed since galley last applied it");
        }
      } else {
        a.reason = Reason::kDrifted;
      }
      AddOrReport(model::ResourceKind::kConsulKv, std::move(a));
    }
  }

  // LB models: platform-wide, so only in an untargeted plan; drift always reverted.
  void PlanModels() {
    if (in_.model_prefix.empty() || !in_.targets.empty()) return;
    std::set<std::string> declared;
    for (const auto& d : in_.models) {
      declared.insert(d.key);
      auto live = in_.live.kv.find(d.key);
      auto applied = in_.applied_models.find(d.instance);
      bool was_applied = applied != in_.applied_models.end();
      Action a;
      a.id = std::string(kModelResourcePrefix) + d.instance;
      a.target = d.key;
      a.desired = json{{"value", d.document}, {"digest", d.digest}};
      if (std::string too_large = ModelTooLarge(d); !too_large.empty()) {
        plan_.errors.push_back(std::move(too_large));
        continue;
      }
      if (live == in_.live.kv.end()) {
        a.kind = ActionKind::kModelCreate;
        a.token = "0";
        a.changes = ModelFields(d.document);
        a.reason = was_applied && applied->second == d.digest ? Reason::kDrifted : Reason::kNew;
        if (a.reason == Reason::kDrifted)
          a.notes.push_back("galley published this model, and it is gone: deleted by hand?");
        Add(std::move(a));
        continue;
      }
      if (live->second.value == d.document) continue;
      a.kind = ActionKind::kModelUpdate;
      a.token = std::to_string(live->second.modify_index);
      a.changes = ModelChanges(live->second.value, d.document);
      if (a.changes.empty()) continue;  // the same document, written with other whitespace
      std::string live_digest = DocumentDigest(live->second.value);
      if (!was_applied) {
        a.reason = Reason::kDesiredChanged;
      } else if (applied->second != d.digest) {
        a.reason = Reason::kDesiredChanged;
        if (live_digest != applied->second)
          a.notes.push_back("the live model also changed since galley last published it");
      } else {
        a.reason = Reason::kDrifted;
        a.notes.push_back(
            "edited by hand: " +
            (live_digest == d.digest
                 ? std::string("the live document no longer matches its digest")
                 : "galley published " + d.digest + ", the live document says " +
                       (live_digest.empty() ? std::string("(no digest)") : live_digest)) +
            "; apply puts galley's back");
      }
      Add(std::move(a));
    }
    for (const auto& [key, kv] : in_.live.kv) {
      if (declared.count(key) || !IsModelKey(in_.model_prefix, key)) continue;
      std::string instance = ModelInstanceOf(key);
      Action a = Orphan(ActionKind::kModelDelete, std::string(kModelResourcePrefix) + instance, key,
                        "", "", std::to_string(kv.modify_index),
                        "HAProxy instance " + instance +
                            " is no longer declared in galley.yaml; galley published its model");
      a.changes.push_back({"", true, json("model " + DocumentDigest(kv.value)), false, nullptr});
      Add(std::move(a));
    }
  }

  // Chronos jobs (issue #16): create, update with field diffs, reasons and policies like
  // apps. Without a Chronos endpoint nothing is planned (the caller warns when jobs are
  // declared).
  void PlanJobs() {
    if (!in_.chronos) return;
    for (const auto& d : in_.jobs) {
      if (!InScope(d.service, d.env)) continue;
      desired_jobs_.insert(d.name);
      if (d.paused) {
        plan_.skipped.push_back({d.name, "paused"});
        continue;
      }
      json want = NormalizeJob(d.body);
      auto live = in_.live.jobs.find(d.name);
      auto applied = in_.applied_jobs.find(d.name);
      const bool was_applied = applied != in_.applied_jobs.end();
      Action a;
      a.id = JobActionId(d.name);
      a.service = d.service;
      a.env = d.env;
      a.target = d.name;
      a.desired = d.body;
      a.record = want;
      if (!d.hook.empty()) {
        a.notes.push_back("a " + d.hook + " hook: Chronos never runs it on its own");
      }
      if (live == in_.live.jobs.end()) {
        a.kind = ActionKind::kJobCreate;
        a.token = "0";
        bool gone = was_applied && applied->second == want;
        a.reason = gone ? Reason::kDrifted : Reason::kNew;
        if (gone) a.notes.push_back("galley applied this job, and it is gone: deleted by hand?");
        a.changes = LeafFields(want);
        AddOrReport(model::ResourceKind::kChronosJob, std::move(a));
        continue;
      }
      if (!IsGalleyJob(live->second, in_.platform) && !was_applied) {
        plan_.errors.push_back("job " + d.name + " (service " + d.service + ", environment " +
                               d.env +
                               ") is declared, but the live Chronos job is not galley's (its "
                               "description is not galley's marker, no applied record): rename "
                               "the job or delete the live one by hand");
        continue;
      }
      json have = NormalizeJob(live->second);
      if (have == want) continue;
      a.kind = ActionKind::kJobUpdate;
      a.token = JobDigest(live->second);
      a.changes = DiffJson(have, want);
      if (!was_applied) {
        a.reason = Reason::kDesiredChanged;  // nothing applied yet: pending, never drift
      } else if (applied->second != want) {
        a.reason = Reason::kDesiredChanged;
        if (applied->second != have) {
          a.notes.push_back("live also drifted from what galley last applied: " +
                            DescribeChanges(DiffJson(applied->second, have)));
        }
      } else {
        a.reason = Reason::kDrifted;
        if (have.value("disabled", false) && !want.value("disabled", false))
          a.notes.push_back("disabled by hand (or by Chronos after failures)");
      }
      AddOrReport(model::ResourceKind::kChronosJob, std::move(a));
    }
  }

  // Live jobs no job of the repository declares: galley's (its marker, or an applied record)
  // are deleted under the prune rules of apps, others are listed and never touched.
  void PlanJobOrphans() {
    if (!in_.chronos) return;
    for (const auto& [name, body] : in_.live.jobs) {
      if (desired_jobs_.count(name)) continue;
      bool applied = in_.applied_jobs.count(name) > 0;
      auto [env, service] = JobOwner(name, in_.environments, in_.declared_services);
      if (!applied && !IsGalleyJob(body, in_.platform)) {
        // Chronos is shared: only jobs named after an environment in scope are listed.
        if (!env.empty() && InScope(service, env)) {
          plan_.unmanaged.push_back(
              {name,
               "has no galley marker in its description and galley never applied it: "
               "not galley's, never deleted"});
        }
        continue;
      }
      if (env.empty()) {
        if (in_.targets.empty())
          plan_.unmanaged.push_back(
              {name, "carries galley's marker but names no environment in scope: never deleted"});
        continue;
      }
      if (!InScope(service, env)) continue;
      std::string why;
      if (in_.removed_environments.count(env)) {
        why = "environment " + env + " is no longer declared";
      } else if (service.empty() || !in_.declared_services.count(service)) {
        why = "its service is no longer declared";
      } else {
        why = "service " + service + " no longer declares it for " + env;
      }
      why = applied ? "removed from Git (" + why + "); galley applied it"
                    : "carries galley's marker but is not declared (orphan)";
      if (HeldBack(model::ResourceKind::kChronosJob, name, env, service, why)) continue;
      Action a = Orphan(ActionKind::kJobDelete, JobActionId(name), name, env, service,
                        JobDigest(body), why);
      a.changes = DiffJson(NormalizeJob(body), json::object());
      Add(std::move(a));
    }
  }

  // Hook runs around the app actions that change a definition (engine/hooks.h).
  void PlanHookRuns() {
    if (!in_.chronos) return;
    std::vector<DesiredJob> hooks;
    for (const auto& d : in_.jobs) {
      if (!d.hook.empty() && !d.paused && InScope(d.service, d.env)) hooks.push_back(d);
    }
    HookPlan h = PlanHooks(plan_.actions, hooks, in_.skip_hooks);
    for (auto& a : h.runs) Add(std::move(a));
    if (!h.skipped.empty()) {
      plan_.warnings.push_back("--skip-hooks: " + std::to_string(h.skipped.size()) +
                               (h.skipped.size() == 1 ? " hook" : " hooks") +
                               " not run: " + Join(h.skipped, ", "));
    }
  }

  void PlanApps() {
    for (const auto& d : in_.apps) {
      if (!InScope(d.service, d.env)) continue;
      desired_apps_.insert(d.id);
      if (d.paused) {
        plan_.skipped.push_back({d.id, "paused"});
        continue;
      }
      auto live = in_.live.apps.find(d.id);
      auto applied = in_.applied_apps.find(d.id);
      json want = Comparable(d.body, d.ignore);
      Action a;
      a.id = AppActionId(d.id);
      a.service = d.service;
      a.env = d.env;
      a.target = d.id;
      if (live == in_.live.apps.end()) {
        a.desired = d.body;
        a.config = d.config;
        a.kind = ActionKind::kAppCreate;
        a.token = "0";
        bool was_applied =
            applied != in_.applied_apps.end() && Comparable(applied->second, d.ignore) == want;
        a.reason = was_applied ? Reason::kDrifted : Reason::kNew;
        if (was_applied)
          a.notes.push_back("galley applied this app, and it is gone: deleted by hand?");
        a.changes = LeafFields(d.body);  // shown as rendered, defaults included
        AddOrReport(model::ResourceKind::kMarathonApp, std::move(a));
        continue;
      }
      const model::LiveApp& l = live->second;
      if (!Labelled(l.body, in_.platform) && applied == in_.applied_apps.end()) {
        // Not galley's: never taken over silently, and never a quiet "No changes" either
        // (adopting apps is a separate, explicit step).
        plan_.errors.push_back(
            "app " + d.id + " (service " + d.service + ", environment " + d.env +
            ") is declared, but the live app is not galley's (no " + kPlatformLabel + "=" +
            in_.platform + " label, no applied record): adopt it first (galley adopt DIR --env " +
            d.env + ") or delete it by hand");
        continue;
      }
      // An adopted app (galley adopt: an applied record, no label yet) is compared with the
      // labels galley recorded; they are written with its next real change.
      json have = Comparable(
          Labelled(l.body, in_.platform) ? l.body : WithRecordedLabels(l.body, applied->second),
          d.ignore);
      if (have == want) continue;
      a.desired = d.body;  // copied only for an action: a converged plan copies no body
      a.config = d.config;
      // Fields silenced by ignore rules keep their live values in the body apply sends
      // (a full-replacement PUT would otherwise reset them).
      for (const auto& ptr : d.ignore) {
        try {
          json::json_pointer jp(ptr);
          if (l.body.contains(jp)) {
            a.desired[jp] = l.body.at(jp);
          } else {
            RemovePointers(a.desired, {ptr});
          }
        } catch (const json::exception&) {
        }
      }
      a.token = l.version;
      a.live_digest = LiveDigest(l.body);
      a.changes = DiffJson(have, want);
      a.kind = Classify(a.changes);
      ShowDefaults(a.changes, l.body, d.body);
      if (!l.deployment_ids.empty()) {
        a.notes.push_back("a deployment is running on it now (" + Join(l.deployment_ids, ", ") +
                          ")");
      }
      if (applied == in_.applied_apps.end()) {
        a.reason = Reason::kDesiredChanged;  // nothing applied yet: pending, never drift
      } else {
        json was = Comparable(applied->second, d.ignore);
        if (was != want) {
          a.reason = Reason::kDesiredChanged;
          if (was != have) {
            a.notes.push_back("live also drifted from what galley last applied: " +
                              DescribeChanges(DiffJson(was, have)));
            if (!KeepReportedDrift(a, d, l, was, have, want))
              continue;  // nothing of Git's left to send
          }
        } else {
          a.reason = Reason::kDrifted;
        }
      }
      AddOrReport(model::ResourceKind::kMarathonApp, std::move(a));
    }
  }

  void PlanOrphans() {
    for (const auto& [id, app] : in_.live.apps) {
      if (desired_apps_.count(id) || !UnderAny(id, in_.app_prefixes)) continue;
      auto [env, service] = Owner(id, in_.app_prefixes);
      if (!InScope(service, env) || env.empty()) continue;
      bool applied = in_.applied_apps.count(id) > 0;
      if (!applied && !Labelled(app.body, in_.platform)) {
        plan_.unmanaged.push_back(
            {id, "has no " + std::string(kPlatformLabel) + "=" + in_.platform +
                     " label and galley never applied it: not galley's, never deleted"});
        continue;
      }
      std::string why = applied ? RemovedFromGit(true, env, service)
                                : "carries galley's label but is not declared (orphan)";
      if (HeldBack(model::ResourceKind::kMarathonApp, id, env, service, why)) continue;
      Action a =
          Orphan(ActionKind::kAppDelete, AppActionId(id), id, env, service, app.version, why);
      a.changes = DiffJson(Comparable(app.body, {}), json::object());
      Add(std::move(a));
    }
    for (const auto& [key, kv] : in_.live.kv) {
      if (desired_keys_.count(key)) continue;
      if (!UnderAny(key, in_.kv_prefixes) && !in_.kv_exact_keys.count(key)) continue;
      auto [env, service] = in_.kv_exact_keys.count(key) ? std::pair<std::string, std::string>{}
                                                         : Owner(key, in_.kv_prefixes);
      if (!InScope(service, env)) continue;
      if (!in_.applied_kv.count(
              key)) {  // keys carry no label: only galley's record makes one galley's
        plan_.unmanaged.push_back({key, "galley never wrote it: not galley's, never deleted"});
        continue;
      }
      std::string why = RemovedFromGit(false, env, service);
      if (HeldBack(model::ResourceKind::kConsulKv, key, env, service, why)) continue;
      Action a = Orphan(ActionKind::kKvDelete, KvActionId(key), key, env, service,
                        std::to_string(kv.modify_index), why);
      a.sensitive = true;  // values of keys galley does not know may be secrets: never printed
      a.changes.push_back({"/value", true, "(not shown)", false, nullptr});
      Add(std::move(a));
    }
  }

  // Why galley would delete an object it applied and Git no longer declares.
  std::string RemovedFromGit(bool app, const std::string& env, const std::string& service) const {
    std::string what;
    if (in_.removed_environments.count(env)) {
      what = "environment " + env + " is no longer declared";
    } else if (service.empty()) {
      what = "no longer declared";
    } else if (!in_.declared_services.count(service)) {
      what = "service " + service + " is no longer declared";
    } else if (app) {
      what = "service " + service + " no longer declares environment " + env;
    } else {
      what = "no longer in the config of service " + service + " for " + env;
    }
    return "removed from Git (" + what + "); galley applied it";
  }

  // The policy for an orphan of `kind` under `env`'s prefix whose id segment is `service`:
  // a segment that names no declared service counts as none.
  model::EffectivePolicy OrphanPolicy(model::ResourceKind kind, const std::string& env,
                                      const std::string& service) const {
    return in_.policies.Resolve(kind, env,
                                in_.declared_services.count(service) ? service : std::string());
  }

  // An orphan under a paused service or environment is skipped; without prune (for its kind,
  // environment and service) it is listed as unmanaged. Returns true when it must not become
  // an action.
  bool HeldBack(model::ResourceKind kind, const std::string& target, const std::string& env,
                const std::string& service, const std::string& why) {
    if (paused_.count({env, ""}) || paused_.count({env, service})) {
      plan_.skipped.push_back({target, "paused (not pruned)"});
      return true;
    }
    if (!OrphanPolicy(kind, env, service).prune) {
      plan_.unmanaged.push_back({target, why + "; prune is off"});
      return true;
    }
    return false;
  }

  static Action Orphan(ActionKind kind, std::string id, const std::string& target,
                       const std::string& env, const std::string& service, std::string token,
                       const std::string& why) {
    Action a;
    a.id = std::move(id);
    a.kind = kind;
    a.reason = Reason::kOrphan;
    a.service = service;
    a.env = env;
    a.target = target;
    a.token = std::move(token);
    a.notes.push_back(why);
    return a;
  }

  // Git changed some fields of an app while live drifted on others: where the drift policy
  // is not revert, the fields only live changed keep their live values in the body apply
  // sends, so applying Git's change does not silently revert drift the policy says to keep
  // (a field both changed is Git's: pending). Fields inside arrays are left to Git (their
  // normalised order need not be the body's).
  // False when, with the drift kept, nothing is left to change.
  bool KeepReportedDrift(Action& a, const DesiredApp& d, const model::LiveApp& l, const json& was,
                         const json& have, const json& want) {
    model::DriftPolicy drift =
        in_.policies.Resolve(model::ResourceKind::kMarathonApp, a.env, a.service).drift;
    if (drift == model::DriftPolicy::kRevert) return true;
    std::set<std::string> git;
    for (const auto& c : DiffJson(was, want)) git.insert(c.pointer);
    std::vector<std::string> kept;
    auto git_touches = [&](const std::string& ptr) {
      for (const auto& g : git) {
        if (StartsWith(ptr + "/", g + "/") || StartsWith(g + "/", ptr + "/"))
          return true;  // one contains the other
      }
      return false;
    };
    for (const auto& c : DiffJson(was, have)) {
      if (git_touches(c.pointer)) continue;
      bool in_array = false;
      for (const auto& seg : Split(c.pointer, '/')) {
        in_array = in_array || (!seg.empty() && std::all_of(seg.begin(), seg.end(), ::isdigit));
      }
      if (in_array) continue;
      try {
        json::json_pointer jp(c.pointer);
        if (l.body.contains(jp)) {
          a.desired[jp] = l.body.at(jp);
        } else {
          RemovePointers(a.desired, {c.pointer});
        }
        kept.push_back(c.pointer);
      } catch (const json::exception&) {
      }
    }
    if (kept.empty()) return true;
    // Recorded as applied: Git's body with the kept fields as galley last applied them, so
    // they are still drift next time (recording live's values would make them galley's).
    a.record = NormalizeApp(a.desired);
    for (const auto& ptr : kept) {
      try {
        json::json_pointer jp(ptr);
        if (was.contains(jp)) {
          a.record[jp] = was.at(jp);
        } else {
          RemovePointers(a.record, {ptr});
        }
      } catch (const json::exception&) {
      }
    }
    a.changes = DiffJson(have, Comparable(a.desired, d.ignore));
    a.kind = Classify(a.changes);
    ShowDefaults(a.changes, l.body, a.desired);
    a.notes.push_back("drift kept (policy " + std::string(model::DriftPolicyName(drift)) +
                      "): " + Join(kept, ", "));
    if (drift == model::DriftPolicy::kReport) {
      plan_.drift_reported.push_back(
          {a.target, "drifted: " + Join(kept, ", ") + " (kept while Git's change applies)"});
    }
    return !a.changes.empty();
  }

  // Drift of a declared object follows its drift policy; everything else is added.
  void AddOrReport(model::ResourceKind kind, Action a) {
    if (a.reason != Reason::kDrifted) {
      Add(std::move(a));
      return;
    }
    model::DriftPolicy drift = in_.policies.Resolve(kind, a.env, a.service).drift;
    if (drift != model::DriftPolicy::kRevert) {
      if (drift == model::DriftPolicy::kReport) {
        plan_.drift_reported.push_back({a.target, "drifted: " + DescribeChanges(a.changes)});
      }
      return;
    }
    Add(std::move(a));
  }

  void Add(Action a) { plan_.actions.push_back(std::move(a)); }

  // Dependencies and order: KV puts before the app that reads them (the app's digest label
  // moves with them); an app's delete before its keys are deleted. Stable within a class.
  void Order() {
    std::map<std::pair<std::string, std::string>, std::vector<std::string>> puts, app_deletes;
    for (const auto& a : plan_.actions) {
      if (a.kind == ActionKind::kKvPut) puts[{a.env, a.service}].push_back(a.id);
      if (a.kind == ActionKind::kAppDelete) app_deletes[{a.env, a.service}].push_back(a.id);
    }
    for (auto& a : plan_.actions) {
      bool app = IsAppAction(a.kind);
      if (app && a.kind != ActionKind::kAppDelete) {
        auto it = puts.find({a.env, a.service});
        if (it != puts.end()) AddDeps(a, it->second);
      }
      if (a.kind == ActionKind::kKvDelete) {
        auto it = app_deletes.find({a.env, a.service});
        if (it != app_deletes.end()) AddDeps(a, it->second);
      }
    }
    OrderJobs();
    auto rank = [](const Action& a) {
      // Hook runs around their app: pre-deploy after the jobs are written, post-deploy after
      // the apps.
      if (a.kind == ActionKind::kHookRun)
        return a.desired.value("hook", std::string()) == "post-deploy" ? 2 : 1;
      switch (a.kind) {
        // Keys, models and jobs are written first (jobs so a pre-deploy hook runs the
        // job as Git has it); app steps (pre-deploy hooks before, post-deploy after: rank
        // 1 and 2 above are refined by the dependencies); deletes last.
        case ActionKind::kKvPut:
        case ActionKind::kModelCreate:
        case ActionKind::kModelUpdate:
        case ActionKind::kJobCreate:
        case ActionKind::kJobUpdate:
          return 0;
        case ActionKind::kAppCreate:
        case ActionKind::kAppUpdate:
        case ActionKind::kAppRestart:
        case ActionKind::kAppScale:
          return 1;
        case ActionKind::kHookRun:
          return 1;
        case ActionKind::kAppDelete:
          return 3;
        case ActionKind::kKvDelete:
        case ActionKind::kModelDelete:
        case ActionKind::kJobDelete:
          return 4;
      }
      return 5;
    };
    std::stable_sort(plan_.actions.begin(), plan_.actions.end(),
                     [&](const Action& x, const Action& y) {
                       if (rank(x) != rank(y)) return rank(x) < rank(y);
                       return x.target < y.target;
                     });
    TopologicalOrder();
  }

  static void AddDeps(Action& a, const std::vector<std::string>& deps) {
    for (const auto& d : deps) {
      if (std::find(a.depends_on.begin(), a.depends_on.end(), d) == a.depends_on.end())
        a.depends_on.push_back(d);
    }
  }

  // Jobs in dependency order: a job's create/update after its parents' creates/updates in
  // the plan (Chronos refuses a dependent job whose parent does not exist); a job's delete
  // after the actions of its live children that are deleted or updated away from it (a
  // parent renamed in Git: the new parent is created, the child updated, then the old
  // parent deleted).
  void OrderJobs() {
    std::set<std::string> writes, deletes;
    for (const auto& a : plan_.actions) {
      if (a.kind == ActionKind::kJobCreate || a.kind == ActionKind::kJobUpdate) writes.insert(a.id);
      if (a.kind == ActionKind::kJobDelete) deletes.insert(a.id);
    }
    std::map<std::string, std::vector<std::string>> child_actions;  // parent's id → children's
    for (const auto& [name, body] : in_.live.jobs) {
      if (!body.is_object() || !body.contains("parents") || !body["parents"].is_array()) continue;
      std::string child = JobActionId(name);
      if (!writes.count(child) && !deletes.count(child)) continue;
      for (const auto& p : body["parents"]) {
        if (p.is_string()) child_actions[JobActionId(p.get<std::string>())].push_back(child);
      }
    }
    for (auto& a : plan_.actions) {
      if (a.kind == ActionKind::kJobCreate || a.kind == ActionKind::kJobUpdate) {
        if (a.desired.contains("parents") && a.desired["parents"].is_array()) {
          std::vector<std::string> deps;
          for (const auto& p : a.desired["parents"]) {
            if (p.is_string() && writes.count(JobActionId(p.get<std::string>())))
              deps.push_back(JobActionId(p.get<std::string>()));
          }
          AddDeps(a, deps);
        }
      } else if (a.kind == ActionKind::kJobDelete) {
        auto it = child_actions.find(a.id);
        if (it != child_actions.end()) AddDeps(a, it->second);
      }
    }
  }

  // Every action after the actions it depends on, otherwise keeping the ranked order (the
  // earliest ready action goes next). Dependencies on actions not in the plan are dropped;
  // a cycle (impossible from a valid repository) is broken by dropping the dependencies
  // that close it, so the plan file stays loadable.
  void TopologicalOrder() {
    std::vector<Action>& acts = plan_.actions;
    std::set<std::string> ids;
    for (const auto& a : acts) ids.insert(a.id);
    for (auto& a : acts) {
      std::vector<std::string> kept;
      for (auto& d : a.depends_on) {
        if (ids.count(d) && d != a.id) kept.push_back(d);
      }
      a.depends_on = std::move(kept);
    }
    std::set<std::string> seen;  // fast path: already in order (the usual plan)
    bool ordered = true;
    for (const auto& a : acts) {
      for (const auto& d : a.depends_on) ordered = ordered && seen.count(d) > 0;
      seen.insert(a.id);
    }
    if (ordered) return;
    std::vector<Action> out;
    std::set<std::string> done;
    std::vector<bool> taken(acts.size(), false);
    while (out.size() < acts.size()) {
      bool progressed = false;
      for (size_t i = 0; i < acts.size(); ++i) {
        if (taken[i]) continue;
        bool ready = std::all_of(acts[i].depends_on.begin(), acts[i].depends_on.end(),
                                 [&](const std::string& d) { return done.count(d) > 0; });
        if (!ready) continue;
        taken[i] = true;
        done.insert(acts[i].id);
        out.push_back(std::move(acts[i]));
        progressed = true;
        break;
      }
      if (progressed) continue;
      for (size_t i = 0; i < acts.size(); ++i) {  // a cycle: take the first left as it is
        if (taken[i]) continue;
        std::vector<std::string> kept;
        for (auto& d : acts[i].depends_on) {
          if (done.count(d)) kept.push_back(d);
        }
        acts[i].depends_on = std::move(kept);
        taken[i] = true;
        done.insert(acts[i].id);
        out.push_back(std::move(acts[i]));
        break;
      }
    }
    acts = std::move(out);
  }

  const PlanInput& in_;
  Plan plan_;
  std::set<std::string> desired_apps_, desired_keys_, desired_jobs_;
  std::set<std::pair<std::string, std::string>>
      paused_;  // {env, service}; service "" = the whole env
};

}  // namespace

Plan MakePlan(const PlanInput& input) { return Planner(input).Run(); }

std::string PlanErrorsMessage(const Plan& plan) {
  std::string out = "the plan has " + std::to_string(plan.errors.size()) +
                    (plan.errors.size() == 1 ? " error" : " errors") + "; nothing planned:";
  for (const auto& e : plan.errors) out += "\n  " + e;
  return out;
}

}  // namespace galley::engine
