// SPDX-License-Identifier: Apache-2.0
#include "engine/drift.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "base/digest.h"
#include "base/strings.h"
#include "engine/jobs.h"
#include "engine/normalize.h"
#include "engine/ownership.h"
#include "engine/resource_key.h"
#include "engine/view_text.h"
#include "render/lb_model.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

constexpr char kHmacOnly[] = "(HMAC only)";
constexpr char kSensitive[] = "(sensitive)";
constexpr char kSecretChanged[] = "(secret changed)";

// ---- The drift policy ----------------------------------------------------------------------

// The one place the drift policy is read from the planner's input.
model::DriftPolicy EffectiveDrift(const PlanInput& in, model::ResourceKind kind,
                                  const std::string& env, const std::string& service) {
  return in.policies.Resolve(kind, env, service).drift;
}

bool EffectivePrune(const PlanInput& in, model::ResourceKind kind, const std::string& env,
                    const std::string& service) {
  return in.policies.Resolve(kind, env, service).prune;
}

// ---- Scope -----------------------------------------------------------------------------------

bool InScope(const PlanInput& in, const std::string& service, const std::string& env) {
  if (!env.empty() &&
      std::find(in.environments.begin(), in.environments.end(), env) == in.environments.end()) {
    return false;
  }
  if (service.empty()) return in.targets.empty();
  return in.targets.empty() || in.targets.count(service);
}

// The policy level's service: a segment that names no declared service counts as none.
std::string PolicyService(const PlanInput& in, const std::string& service) {
  return in.declared_services.count(service) ? service : std::string();
}

std::string VersionInfo(const json& body, const char* field) {
  if (!body.is_object() || !body.contains("versionInfo") || !body["versionInfo"].is_object())
    return "";
  const json& vi = body["versionInfo"];
  return vi.contains(field) && vi[field].is_string() ? vi[field].get<std::string>() : "";
}

// A drift item's identity; the finders fill in the rest.
DriftItem ItemFor(model::ResourceKind kind, const std::string& target, const std::string& env,
                  const std::string& service) {
  DriftItem it;
  it.resource = ResourceKey(kind, target);
  it.kind = kind;
  it.target = target;
  it.env = env;
  it.service = service;
  return it;
}

class Finder {
 public:
  explicit Finder(const PlanInput& in) : in_(in) {}

  DriftReport Run() {
    r_.platform = in_.platform;
    r_.environments = in_.environments;
    r_.targets.assign(in_.targets.begin(), in_.targets.end());
    r_.observed_apps = static_cast<int>(in_.live.apps.size());
    r_.observed_keys = static_cast<int>(in_.live.kv.size());
    r_.requests = in_.live.requests;
    for (const auto& a : in_.apps) apps_[a.id] = &a;
    for (const auto& k : in_.kv) keys_[k.key] = &k;
    Apps();
    Keys();
    Models();
    Jobs();
    UnmanagedApps();
    UnmanagedKeys();
    auto by_resource = [](const DriftItem& x, const DriftItem& y) {
      return x.resource < y.resource;
    };
    std::sort(r_.drift.begin(), r_.drift.end(), by_resource);
    std::sort(r_.unmanaged.begin(), r_.unmanaged.end(), by_resource);
    for (auto* v : {&r_.ignored, &r_.silenced, &r_.converged}) std::sort(v->begin(), v->end());
    return std::move(r_);
  }

 private:
  bool Paused(const std::string& env, bool object_paused) const {
    return object_paused || in_.paused_environments.count(env);
  }

  // Keeps `item` unless its policy is ignore.
  void Add(DriftItem item) {
    item.policy = EffectiveDrift(in_, item.kind, item.env, PolicyService(in_, item.service));
    if (item.policy == model::DriftPolicy::kIgnore) {
      r_.ignored.push_back(item.resource);
      return;
    }
    r_.drift.push_back(std::move(item));
  }

  void Apps() {
    for (const auto& [id, applied_body] : in_.applied_apps) {
      auto d = apps_.count(id) ? apps_.at(id) : nullptr;
      auto [env, service] = d ? std::make_pair(d->env, d->service) : Owner(id, in_.app_prefixes);
      if (env.empty() || !InScope(in_, service, env)) continue;
      static const std::vector<std::string> kNone;
      const std::vector<std::string>& ignore = d ? d->ignore : kNone;
      json applied = Comparable(applied_body, ignore);
      std::optional<json> want;
      if (d) want = Comparable(d->body, ignore);
      DriftItem it = ItemFor(model::ResourceKind::kMarathonApp, id, env, service);
      it.pending = !want || *want != applied;
      it.paused = Paused(env, d && d->paused);
      auto live = in_.live.apps.find(id);
      if (live == in_.live.apps.end()) {
        if (!d) {  // Git no longer declares it, and it is gone: Git equals live.
          r_.converged.push_back(it.resource);
          continue;
        }
        it.what = DriftWhat::kDeleted;
        it.fields.push_back({"", true, applied_body, false, nullptr});
        Add(std::move(it));
        continue;
      }
      // An adopted app carries galley's labels only from its next real change on.
      const json body = Labelled(live->second.body, in_.platform)
                            ? live->second.body
                            : WithRecordedLabels(live->second.body, applied_body);
      json have = Comparable(body, ignore);
      if (have == applied) {
        if (!ignore.empty() && Comparable(body, {}) != Comparable(applied_body, {}))
          r_.silenced.push_back(it.resource);
        continue;
      }
      if (want && *want == have) {
        r_.converged.push_back(it.resource);
        continue;
      }
      it.what = DriftWhat::kChanged;
      it.fields = DiffJson(applied, have);
      // The raw body galley sent is the desired one when Git has not moved since.
      ShowDefaults(it.fields, it.pending ? applied_body : d->body, body);
      bool scale_only = std::all_of(it.fields.begin(), it.fields.end(),
                                    [](const FieldChange& c) { return c.pointer == "/instances"; });
      it.change = scale_only ? "scale" : "config";
      it.live_version = live->second.version;
      it.last_scaling_at = VersionInfo(body, "lastScalingAt");
      it.last_config_change_at = VersionInfo(body, "lastConfigChangeAt");
      if (it.last_config_change_at.empty())
        it.last_config_change_at = live->second.last_config_change_at;
      Add(std::move(it));
    }
  }

  // Chronos jobs galley applied (issue #16): changed (edited or disabled by hand: field diffs
  // of the normalised bodies) or deleted by hand. Only when Chronos was observed.
  void Jobs() {
    if (!in_.chronos) return;
    std::map<std::string, const DesiredJob*> declared;
    for (const auto& j : in_.jobs) declared[j.name] = &j;
    for (const auto& [name, applied] : in_.applied_jobs) {
      auto found = declared.find(name);
      const DesiredJob* d = found == declared.end() ? nullptr : found->second;
      auto [env, service] = d ? std::make_pair(d->env, d->service)
                              : JobOwner(name, in_.environments, in_.declared_services);
      if (env.empty() || !InScope(in_, service, env)) continue;
      std::optional<json> want;
      if (d) want = NormalizeJob(d->body);
      DriftItem it = ItemFor(model::ResourceKind::kChronosJob, name, env, service);
      it.pending = !want || *want != applied;
      it.paused = Paused(env, d && d->paused);
      auto live = in_.live.jobs.find(name);
      if (live == in_.live.jobs.end()) {
        if (!d) {  // Git no longer declares it, and it is gone: Git equals live.
          r_.converged.push_back(it.resource);
          continue;
        }
        it.what = DriftWhat::kDeleted;
        it.fields.push_back({"", true, applied, false, nullptr});
        Add(std::move(it));
        continue;
      }
      json have = NormalizeJob(live->second);
      if (have == applied) continue;
      if (want && *want == have) {
        r_.converged.push_back(it.resource);
        continue;
      }
      it.what = DriftWhat::kChanged;
      it.fields = DiffJson(applied, have);
      it.change = have.value("disabled", false) && !applied.value("disabled", false) ? "disabled"
                                                                                     : "config";
      Add(std::move(it));
    }
  }

  // LB models galley published: a live document other than the one published is a hand
  // edit (always reverted: the agents render from it); a missing one was deleted by hand.
  void Models() {
    if (in_.model_prefix.empty() || !in_.targets.empty()) return;
    for (const auto& [instance, applied_digest] : in_.applied_models) {
      const DesiredModel* d = nullptr;
      for (const auto& m : in_.models) {
        if (m.instance == instance) d = &m;
      }
      std::string key = d ? d->key : in_.model_prefix + instance;
      DriftItem it;
      it.resource = ResourceKey(model::ResourceKind::kHaproxyModel, instance);
      it.kind = model::ResourceKind::kHaproxyModel;
      it.target = key;
      it.policy = model::DriftPolicy::kRevert;
      it.pending = !d || d->digest != applied_digest;
      auto live = in_.live.kv.find(key);
      if (live == in_.live.kv.end()) {
        if (!d) {
          r_.converged.push_back(it.resource);
          continue;
        }
        it.what = DriftWhat::kDeleted;
        it.fields.push_back({"", true, json(applied_digest), false, nullptr});
        r_.drift.push_back(std::move(it));
        continue;
      }
      const std::string& text = live->second.value;
      it.modify_index = live->second.modify_index;
      if (d && text == d->document) {
        if (it.pending) r_.converged.push_back(it.resource);
        continue;
      }
      if (!it.pending) {
        // Git still says what galley published: the document is known, diff it.
        json want = json::parse(d->document, nullptr, false);
        json have = json::parse(text, nullptr, false);
        if (have.is_object()) {
          want.erase("digest");
          std::string have_digest = DocumentDigest(text);
          have.erase("digest");
          it.fields = DiffJson(want, have);
          if (it.fields.empty() && have_digest != d->digest)
            it.fields.push_back({"/digest", true, json(d->digest), true, json(have_digest)});
          if (it.fields.empty()) continue;  // the same document with other whitespace
        } else {
          it.fields.push_back({"", true, json(applied_digest), true, json("(not a JSON object)")});
        }
      } else {
        // Git moved: only the digest galley published is known. The live document is what
        // galley published when it carries that digest and its content matches it.
        auto parsed = render::ParseLbModel(text);
        std::string have_digest = DocumentDigest(text);
        if (parsed.ok() && have_digest == applied_digest) continue;
        it.fields.push_back(
            {"/digest", true, json(applied_digest), true,
             json(parsed.ok() ? have_digest : have_digest + " (does not match its content)")});
      }
      it.what = DriftWhat::kChanged;
      r_.drift.push_back(std::move(it));
    }
  }

  void Keys() {
    if (!in_.hmac_key_durable && !in_.applied_kv.empty()) {
      r_.warnings.push_back(
          "the platform has no HMAC key: KV values cannot be compared with what galley applied "
          "(only deletions are found)");
    }
    for (const auto& [key, recorded] : in_.applied_kv) {
      bool applied_secret = StartsWith(recorded, "secret:");
      std::string applied_hmac = applied_secret ? recorded.substr(7) : recorded;
      auto d = keys_.count(key) ? keys_.at(key) : nullptr;
      std::pair<std::string, std::string> owner;
      if (d) {
        owner = {d->env, d->service};
      } else if (!in_.kv_exact_keys.count(key)) {
        owner = Owner(key, in_.kv_prefixes);
        if (owner.first.empty()) continue;  // under no managed prefix any more
      }
      auto [env, service] = owner;
      if (!InScope(in_, service, env)) continue;
      std::optional<std::string> desired_hmac;
      if (d && d->value) desired_hmac = HmacSha256Hex(in_.hmac_key, *d->value);
      DriftItem it = ItemFor(model::ResourceKind::kConsulKv, key, env, service);
      // Git moved: the key is gone from Git, turned into (or from) a secret, or its value
      // changed (unknown when a secret's source is unavailable here: assume not).
      it.pending =
          !d || d->secret != applied_secret || (desired_hmac && *desired_hmac != applied_hmac);
      it.sensitive = applied_secret || (d && d->secret);
      it.paused = Paused(env, d && d->paused);
      // The applied value is known only when Git still holds it as a literal.
      json applied_value = it.sensitive ? json(kSensitive) : json(kHmacOnly);
      if (!it.sensitive && desired_hmac && *desired_hmac == applied_hmac) applied_value = *d->value;
      auto live = in_.live.kv.find(key);
      if (live == in_.live.kv.end()) {
        if (!d) {
          r_.converged.push_back(it.resource);
          continue;
        }
        it.what = DriftWhat::kDeleted;
        it.fields.push_back({"", true, applied_value, false, nullptr});
        Add(std::move(it));
        continue;
      }
      // Without the platform's key the applied HMACs cannot be checked (Keys() warned).
      if (!in_.hmac_key_durable) continue;
      std::string live_hmac = HmacSha256Hex(in_.hmac_key, live->second.value);
      if (live_hmac == applied_hmac) continue;
      if (desired_hmac && *desired_hmac == live_hmac) {
        r_.converged.push_back(it.resource);
        continue;
      }
      it.what = DriftWhat::kChanged;
      it.fields.push_back({"/value", true, applied_value, true,
                           it.sensitive ? json(kSecretChanged) : json(live->second.value)});
      it.modify_index = live->second.modify_index;
      Add(std::move(it));
    }
  }

  void UnmanagedApps() {
    for (const auto& [id, app] : in_.live.apps) {
      if (in_.applied_apps.count(id) || !UnderAny(id, in_.app_prefixes)) continue;
      auto d = apps_.count(id) ? apps_.at(id) : nullptr;
      bool labelled = Labelled(app.body, in_.platform);
      if (d && labelled) continue;  // declared and galley's: pending (never applied), not drift
      auto [env, service] = d ? std::make_pair(d->env, d->service) : Owner(id, in_.app_prefixes);
      if (env.empty() || !InScope(in_, service, env)) continue;
      DriftItem it = ItemFor(model::ResourceKind::kMarathonApp, id, env, service);
      it.what = DriftWhat::kUnmanaged;
      it.paused = Paused(env, d && d->paused);
      if (d) {
        it.why = "declared, but the live app has no " + std::string(kPlatformLabel) + "=" +
                 in_.platform + " label; galley does not take it over";
      } else {
        it.why = labelled ? "carries galley's label, but no service declares it and galley has no "
                            "record of applying it"
                          : "has no " + std::string(kPlatformLabel) + "=" + in_.platform +
                                " label and galley never applied it: not galley's, never deleted";
        // Only what galley owns is ever pruned (DESIGN §8.16).
        it.prune = labelled && !it.paused &&
                   EffectivePrune(in_, it.kind, env, PolicyService(in_, service));
      }
      it.live_version = app.version;
      r_.unmanaged.push_back(std::move(it));
    }
  }

  void UnmanagedKeys() {
    for (const auto& [key, kv] : in_.live.kv) {
      if (keys_.count(key) || in_.applied_kv.count(key)) continue;
      bool exact = in_.kv_exact_keys.count(key) > 0;
      if (!exact && !UnderAny(key, in_.kv_prefixes)) continue;
      auto [env, service] =
          exact ? std::pair<std::string, std::string>{} : Owner(key, in_.kv_prefixes);
      if (!InScope(in_, service, env)) continue;
      DriftItem it = ItemFor(model::ResourceKind::kConsulKv, key, env, service);
      it.what = DriftWhat::kUnmanaged;
      it.sensitive = true;  // values of keys galley does not know may be secrets
      it.paused = !env.empty() && Paused(env, false);
      // Keys carry no label: without galley's record one is not galley's, never pruned.
      it.why = "galley never wrote it: not galley's, never deleted";
      it.prune = false;
      it.modify_index = kv.modify_index;
      r_.unmanaged.push_back(std::move(it));
    }
  }

  const PlanInput& in_;
  DriftReport r_;
  std::map<std::string, const DesiredApp*> apps_;
  std::map<std::string, const DesiredKv*> keys_;
};

// ---- Output helpers (the plan text's style; shared ones in view_text.h) -------------------

// A value as shown: placeholders such as "(secret changed)" unquoted, others JSON-encoded (so
// control characters in live values cannot reach the terminal).
std::string Shown(const FieldChange& c, bool live_side) {
  bool present = live_side ? c.after_present : c.before_present;
  if (!present) return "(absent)";
  const json& v = live_side ? c.after : c.before;
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (s == kSensitive || s == kSecretChanged || s == kHmacOnly) return s;
  }
  return ShortValue(v);
}

const char* Symbol(const DriftItem& i) {
  switch (i.what) {
    case DriftWhat::kChanged:
      return "~";
    case DriftWhat::kDeleted:
      return "-";
    case DriftWhat::kUnmanaged:
      return "?";
  }
  return "?";
}

// "scaled 2026-…", "config changed 2026-…", "ModifyIndex 42": when and by what, if known.
std::string When(const DriftItem& i) {
  if (i.what == DriftWhat::kDeleted)
    return i.applied_at.empty() ? "" : "galley applied it " + i.applied_at;
  if (i.kind == model::ResourceKind::kChronosJob)
    return i.change == "disabled" ? "disabled in Chronos" : "edited in Chronos";
  if (i.kind != model::ResourceKind::kMarathonApp)
    return i.modify_index ? "ModifyIndex " + std::to_string(i.modify_index) : "";
  if (i.change == "scale")
    return i.last_scaling_at.empty() ? "scaled" : "scaled " + i.last_scaling_at;
  return i.last_config_change_at.empty() ? "config changed"
                                         : "config changed " + i.last_config_change_at;
}

std::string PolicyLine(const DriftItem& i) {
  if (i.paused) return "paused: apply leaves it alone";
  if (i.pending) return "pending: Git changed it too; the next apply applies Git's version";
  if (i.policy == model::DriftPolicy::kReport) return "policy report: apply leaves it and says so";
  return "policy revert: the next apply puts it back";
}

std::string Summary(const DriftReport& r) {
  int changed = 0, deleted = 0, pending = 0;
  for (const auto& i : r.drift) {
    changed += i.what == DriftWhat::kChanged;
    deleted += i.what == DriftWhat::kDeleted;
    pending += i.pending;
  }
  std::string s =
      r.drift.empty()
          ? (r.agents.problems() > 0 ? "Live objects match what galley last applied."
                                     : "No drift: live objects match what galley last applied.")
          : "Drift: " + std::to_string(changed) + " changed, " + std::to_string(deleted) +
                " deleted by hand" +
                (pending ? " (" + std::to_string(pending) + " also changed in Git: pending)" : "") +
                ".";
  if (!r.unmanaged.empty())
    s += " " + std::to_string(r.unmanaged.size()) + " unmanaged (not drift).";
  if (!r.ignored.empty()) s += " " + std::to_string(r.ignored.size()) + " ignored by policy.";
  if (r.agents.problems() > 0) {
    s += " Agents: " + std::to_string(r.agents.failed) + " failed, " +
         std::to_string(r.agents.missing) + " missing, " + std::to_string(r.agents.hand_changes) +
         (r.agents.hand_changes == 1 ? " hand change." : " hand changes.");
  }
  return s;
}

json FieldJson(const FieldChange& c) {
  json j{{"path", c.pointer}};
  if (c.before_present) j["applied"] = c.before;
  if (c.after_present) j["live"] = c.after;
  return j;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

const char* DriftWhatName(DriftWhat w) {
  switch (w) {
    case DriftWhat::kChanged:
      return "changed";
    case DriftWhat::kDeleted:
      return "deleted";
    case DriftWhat::kUnmanaged:
      return "unmanaged";
  }
  return "?";
}

DriftReport FindDrift(const PlanInput& in) { return Finder(in).Run(); }

bool DriftInScope(const PlanInput& in, const std::string& resource) {
  std::string env, service;
  bool found = false;
  auto parsed = ParseResourceKey(resource);
  if (!parsed) return false;
  if (parsed->kind == model::ResourceKind::kHaproxyModel) return InScope(in, "", "");
  if (parsed->kind == model::ResourceKind::kChronosJob) {
    for (const auto& j : in.jobs) {
      if (j.name == parsed->target) return InScope(in, j.service, j.env);
    }
    std::tie(env, service) = JobOwner(parsed->target, in.environments, in.declared_services);
    if (env.empty()) return in.targets.empty();
    return InScope(in, service, env);
  }
  if (parsed->kind == model::ResourceKind::kMarathonApp) {
    const std::string& id = parsed->target;
    for (const auto& a : in.apps) {
      if (a.id == id) env = a.env, service = a.service, found = true;
    }
    if (!found) std::tie(env, service) = Owner(id, in.app_prefixes);
  } else {
    const std::string& key = parsed->target;
    for (const auto& k : in.kv) {
      if (k.key == key) env = k.env, service = k.service, found = true;
    }
    if (!found && in.kv_exact_keys.count(key)) return InScope(in, "", "");
    if (!found) std::tie(env, service) = Owner(key, in.kv_prefixes);
  }
  // Under no managed prefix (its environment left the platform): only an unscoped run.
  if (env.empty()) return in.targets.empty() && in.environments.size() >= in.app_prefixes.size();
  return InScope(in, service, env);
}

std::string DriftResolution(const PlanInput& in, const DriftReport& report,
                            const std::string& resource, const std::string& fields_json) {
  if (Contains(report.ignored, resource) || Contains(report.silenced, resource)) return "ignored";
  if (Contains(report.converged, resource)) return "accepted";
  json fields = json::parse(fields_json, nullptr, false);
  if (!fields.is_array() || fields.empty()) return "reverted";
  // Accepted when live still holds every drifted value (what galley applied caught up).
  auto parsed = ParseResourceKey(resource);
  if (!parsed) return "reverted";
  if (parsed->kind == model::ResourceKind::kChronosJob) {
    auto live = in.live.jobs.find(parsed->target);
    if (!in.chronos) return "reverted";
    json normal = live == in.live.jobs.end() ? json() : NormalizeJob(live->second);
    for (const auto& f : fields) {
      if (!f.is_object() || !f.contains("path") || !f["path"].is_string()) return "reverted";
      try {
        json::json_pointer p(f["path"].get<std::string>());
        if (!f.contains("live")) {
          if (live != in.live.jobs.end() && normal.contains(p)) return "reverted";
          continue;
        }
        if (live == in.live.jobs.end() || !normal.contains(p) || normal.at(p) != f["live"])
          return "reverted";
      } catch (const json::exception&) {
        return "reverted";
      }
    }
    return "accepted";
  }
  if (parsed->kind == model::ResourceKind::kMarathonApp) {
    auto live = in.live.apps.find(parsed->target);
    json normal = live == in.live.apps.end() ? json() : NormalizeApp(live->second.body);
    for (const auto& f : fields) {
      if (!f.is_object() || !f.contains("path") || !f["path"].is_string()) return "reverted";
      try {
        json::json_pointer p(f["path"].get<std::string>());
        if (!f.contains("live")) {
          if (live != in.live.apps.end() && normal.contains(p)) return "reverted";
          continue;
        }
        if (live == in.live.apps.end()) return "reverted";
        bool same = (normal.contains(p) && normal.at(p) == f["live"]) ||
                    (live->second.body.contains(p) && live->second.body.at(p) == f["live"]);
        if (!same) return "reverted";
      } catch (const json::exception&) {
        return "reverted";
      }
    }
    return "accepted";
  }
  auto live = in.live.kv.find(parsed->target);
  for (const auto& f : fields) {
    if (!f.is_object()) return "reverted";
    if (!f.contains("live")) {
      if (live != in.live.kv.end()) return "reverted";
      continue;
    }
    // A secret's live value was never recorded: it cannot be told apart.
    if (live == in.live.kv.end() || !f["live"].is_string() || f["live"] == kSecretChanged ||
        f["live"].get<std::string>() != live->second.value) {
      return "reverted";
    }
  }
  return "accepted";
}

json DriftFieldsJson(const DriftItem& item) {
  json arr = json::array();
  for (const auto& c : item.fields) arr.push_back(FieldJson(c));
  return arr;
}

json DriftToJson(const DriftReport& r) {
  json drift = json::array();
  for (const auto& i : r.drift) {
    json live = json::object();
    if (i.what != DriftWhat::kDeleted) {
      if (i.kind == model::ResourceKind::kChronosJob) {
        live = json{{"change", i.change}};
      } else if (i.kind == model::ResourceKind::kMarathonApp) {
        live = json{{"version", i.live_version},
                    {"last_scaling_at", i.last_scaling_at},
                    {"last_config_change_at", i.last_config_change_at},
                    {"change", i.change}};
      } else {
        live = json{{"modify_index", i.modify_index}};
      }
    }
    drift.push_back(json{{"resource", i.resource},
                         {"kind", model::ResourceKindName(i.kind)},
                         {"target", i.target},
                         {"environment", i.env},
                         {"service", i.service},
                         {"what", DriftWhatName(i.what)},
                         {"fields", DriftFieldsJson(i)},
                         {"sensitive", i.sensitive},
                         {"pending", i.pending},
                         {"paused", i.paused},
                         {"policy", model::DriftPolicyName(i.policy)},
                         {"live", live},
                         {"applied_at", i.applied_at},
                         {"first_seen", i.first_seen},
                         {"last_seen", i.last_seen}});
  }
  json unmanaged = json::array();
  for (const auto& i : r.unmanaged) {
    unmanaged.push_back(json{{"resource", i.resource},
                             {"kind", model::ResourceKindName(i.kind)},
                             {"target", i.target},
                             {"environment", i.env},
                             {"service", i.service},
                             {"why", i.why},
                             {"prune", i.prune},
                             {"paused", i.paused}});
  }
  json resolved = json::array();
  for (const auto& x : r.resolved)
    resolved.push_back(json{{"resource", x.resource}, {"resolution", x.resolution}});
  int changed = 0, deleted = 0, pending = 0;
  for (const auto& i : r.drift) {
    changed += i.what == DriftWhat::kChanged;
    deleted += i.what == DriftWhat::kDeleted;
    pending += i.pending;
  }
  return json{
      {"galley_drift", kDriftSchemaVersion},
      {"galley_version", r.galley_version},
      {"platform", r.platform},
      {"commit", r.commit},
      {"checked_at", r.checked_at},
      {"environments", r.environments},
      {"targets", r.targets},
      {"drift", drift},
      {"unmanaged", unmanaged},
      {"ignored", r.ignored},
      {"converged", r.converged},
      {"resolved", resolved},
      {"warnings", r.warnings},
      {"observed",
       json{{"apps", r.observed_apps}, {"keys", r.observed_keys}, {"requests", r.requests}}},
      {"counts", json{{"drift", r.drift.size()},
                      {"changed", changed},
                      {"deleted", deleted},
                      {"pending", pending},
                      {"unmanaged", r.unmanaged.size()},
                      {"ignored", r.ignored.size()},
                      {"resolved", r.resolved.size()},
                      {"agent_problems", r.agents.problems()}}},
      {"agents", AgentsToJson(r.agents)},
      {"summary", Summary(r)}};
}

std::string RenderDriftText(const DriftReport& r, bool color) {
  auto wrap = [color](const char* code, const std::string& s) {
    return color ? std::string("\033[") + code + "m" + s + "\033[0m" : s;
  };
  std::string out = "galley drift for platform " + r.platform +
                    (r.commit.empty() ? "" : " at commit " + ShortCommit(r.commit)) + " (" +
                    std::to_string(r.observed_apps) + " live apps and " +
                    std::to_string(r.observed_keys) + " keys observed in " +
                    std::to_string(r.requests) + " requests)\n";
  for (const auto& w : r.warnings) out += wrap("33", "warning: ") + w + "\n";
  size_t width = 0;
  for (const auto& i : r.drift) width = std::max(width, Printable(i.target).size());
  width = std::min<size_t>(width, 60);
  if (!r.drift.empty()) out += "\nLive objects that differ from what galley last applied:\n";
  for (const auto& i : r.drift) {
    std::string target = Printable(i.target);
    std::string head = std::string(Symbol(i)) + " " + target;
    std::string line = "  " + wrap(i.what == DriftWhat::kDeleted ? "31" : "33", head) +
                       std::string(width > target.size() ? width - target.size() : 0, ' ') + "  ";
    std::string when = When(i);
    if (i.what == DriftWhat::kDeleted) {
      out += line + "deleted by hand" + (when.empty() ? "" : " (" + when + ")") + "\n";
    } else if (i.fields.size() == 1) {
      const FieldChange& c = i.fields[0];
      out += line + FieldName(c.pointer) + ": " +
             (i.sensitive ? std::string(kSecretChanged)
                          : Shown(c, false) + " → " + Shown(c, true) + " (applied → live)") +
             (when.empty() ? "" : ", " + when) + "\n";
    } else {
      out += line + std::to_string(i.fields.size()) + " fields (applied → live)" +
             (when.empty() ? "" : ", " + when) + "\n";
      size_t w = 0;
      for (const auto& c : i.fields) w = std::max(w, FieldName(c.pointer).size());
      w = std::min<size_t>(w, 48);
      for (const auto& c : i.fields) {
        std::string name = FieldName(c.pointer);
        out += "        " + name + ":" + std::string(w > name.size() ? w - name.size() : 0, ' ') +
               " " + Shown(c, false) + " → " + Shown(c, true) + "\n";
      }
    }
    std::string seen;
    if (!i.first_seen.empty()) {
      seen =
          "; first seen " + i.first_seen +
          (i.last_seen.empty() || i.last_seen == i.first_seen ? "" : ", last seen " + i.last_seen);
    }
    out += "        " + PolicyLine(i) + seen + "\n";
  }
  if (!r.unmanaged.empty()) {
    out += "\nUnmanaged under managed prefixes (not drift; galley does not own them):\n";
    for (const auto& i : r.unmanaged) {
      out += "  ? " + Printable(i.target) + ": " + i.why +
             (i.prune ? " (prune: the next apply deletes it)" : "") + "\n";
    }
  }
  if (!r.resolved.empty()) {
    out += "\nNo longer drifting:\n";
    for (const auto& x : r.resolved)
      out += "  " + Printable(x.resource) + ": " + x.resolution + "\n";
  }
  out += RenderAgentsText(r.agents, color);
  out += "\n" + Summary(r) + "\n";
  return out;
}

std::string RenderDriftMarkdown(const DriftReport& r) {
  std::string out = "### galley drift: `" + r.platform + "`" +
                    (r.commit.empty() ? "" : " @ `" + ShortCommit(r.commit) + "`") + "\n\n**" +
                    Summary(r) + "**\n";
  for (const auto& w : r.warnings) out += "\n> :warning: " + w + "\n";
  if (!r.drift.empty()) {
    out +=
        "\n| | target | environment | service | drift | policy | first seen "
        "|\n|---|---|---|---|---|---|---|\n";
    for (const auto& i : r.drift) {
      std::string what = i.what == DriftWhat::kDeleted ? "deleted by hand" : "";
      if (i.what == DriftWhat::kChanged) {
        std::vector<std::string> names;
        for (const auto& c : i.fields) names.push_back(FieldName(c.pointer));
        what = "changed: " + Join(names, ", ");
        if (std::string when = When(i); !when.empty()) what += " (" + when + ")";
      }
      std::string policy = i.paused ? "paused" : model::DriftPolicyName(i.policy);
      if (i.pending) policy += ", pending";
      out += std::string("| `") + Symbol(i) + "` | " + MarkdownCode(i.target) + " | " + i.env +
             " | " + i.service + " | " + what + " | " + policy + " | " + i.first_seen + " |\n";
    }
    out += "\n<details><summary>Field changes (applied → live)</summary>\n\n```diff\n";
    for (const auto& i : r.drift) {
      out +=
          std::string(i.what == DriftWhat::kDeleted ? "-" : "~") + " " + Printable(i.target) + "\n";
      if (i.what == DriftWhat::kDeleted) {
        out += "    deleted by hand\n";
        continue;
      }
      for (const auto& c : i.fields) {
        out += "    " + FieldName(c.pointer) + ": " +
               (i.sensitive ? std::string(kSecretChanged)
                            : Shown(c, false) + " -> " + Shown(c, true)) +
               "\n";
      }
    }
    out += "```\n\n</details>\n";
  }
  if (!r.unmanaged.empty()) {
    out += "\n<details><summary>Unmanaged (" + std::to_string(r.unmanaged.size()) +
           "), not drift</summary>\n\n";
    for (const auto& i : r.unmanaged) {
      out += "- " + MarkdownCode(i.target) + ": " + i.why +
             (i.prune ? " (prune: the next apply deletes it)" : "") + "\n";
    }
    out += "\n</details>\n";
  }
  out += RenderAgentsMarkdown(r.agents);
  return out;
}

}  // namespace galley::engine
