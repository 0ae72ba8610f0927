// SPDX-License-Identifier: Apache-2.0
#include "engine/plan.h"

#include <algorithm>
#include <map>
#include <set>

#include "base/digest.h"
#include "engine/view_text.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

const std::pair<ActionKind, const char*> kKinds[] = {
    {ActionKind::kAppCreate, "app-create"},
    {ActionKind::kAppUpdate, "app-update"},
    {ActionKind::kAppScale, "app-scale"},
    {ActionKind::kAppRestart, "app-restart"},
    {ActionKind::kAppDelete, "app-delete"},
    {ActionKind::kKvPut, "kv-put"},
    {ActionKind::kKvDelete, "kv-delete"},
    {ActionKind::kModelCreate, "haproxy-model-create"},
    {ActionKind::kModelUpdate, "haproxy-model-update"},
    {ActionKind::kModelDelete, "haproxy-model-delete"},
    {ActionKind::kJobCreate, "job-create"},
    {ActionKind::kJobUpdate, "job-update"},
    {ActionKind::kJobDelete, "job-delete"},
    {ActionKind::kHookRun, "hook-run"}};
const std::pair<Reason, const char*> kReasons[] = {{Reason::kNew, "new"},
                                                   {Reason::kDesiredChanged, "desired-changed"},
                                                   {Reason::kDrifted, "drifted"},
                                                   {Reason::kOrphan, "orphan"},
                                                   {Reason::kRequested, "requested"}};

json ChangeJson(const FieldChange& c) {
  json j{{"path", c.pointer}};
  if (c.before_present) j["before"] = c.before;
  if (c.after_present) j["after"] = c.after;
  return j;
}

json ItemsJson(const std::vector<PlanItem>& items) {
  json arr = json::array();
  for (const auto& i : items) arr.push_back(json{{"target", i.target}, {"why", i.why}});
  return arr;
}

std::vector<PlanItem> ItemsFrom(const json& arr) {
  std::vector<PlanItem> out;
  for (const auto& i : arr)
    out.push_back({i.at("target").get<std::string>(), i.at("why").get<std::string>()});
  return out;
}

struct Style {
  bool color;
  std::string Wrap(const char* code, const std::string& s) const {
    return color ? std::string("\033[") + code + "m" + s + "\033[0m" : s;
  }
};

// A KV put of a key that exists (planned against a ModifyIndex) is an update: '~', as for apps.
const char* Symbol(const Action& a) {
  switch (a.kind) {
    case ActionKind::kAppCreate:
    case ActionKind::kModelCreate:
    case ActionKind::kJobCreate:
      return "+";
    case ActionKind::kKvPut:
      return a.token == "0" || a.token.empty() ? "+" : "~";
    case ActionKind::kAppDelete:
    case ActionKind::kKvDelete:
    case ActionKind::kModelDelete:
    case ActionKind::kJobDelete:
      return "-";
    case ActionKind::kAppRestart:
    case ActionKind::kHookRun:
      return "±";
    default:
      return "~";
  }
}

const char* ColorOf(ActionKind k) {
  switch (k) {
    case ActionKind::kAppCreate:
    case ActionKind::kModelCreate:
    case ActionKind::kJobCreate:
      return "32";
    case ActionKind::kAppDelete:
    case ActionKind::kKvDelete:
    case ActionKind::kModelDelete:
    case ActionKind::kJobDelete:
      return "31";
    case ActionKind::kAppRestart:
    case ActionKind::kHookRun:
      return "35";
    default:
      return "33";
  }
}

std::string Verb(const Action& a) {
  switch (a.kind) {
    case ActionKind::kAppCreate:
      return "create";
    case ActionKind::kAppUpdate:
      return "update";
    case ActionKind::kAppScale:
      return "scale";
    case ActionKind::kAppRestart:
      return "restart";
    case ActionKind::kAppDelete:
      return "delete";
    case ActionKind::kKvPut:
      return a.token == "0" ? "put" : "update";
    case ActionKind::kKvDelete:
      return "delete";
    case ActionKind::kModelCreate:
      return "publish";
    case ActionKind::kModelUpdate:
      return "update";
    case ActionKind::kModelDelete:
      return "delete";
    case ActionKind::kJobCreate:
      return "create";
    case ActionKind::kJobUpdate:
      return "update";
    case ActionKind::kJobDelete:
      return "delete";
    case ActionKind::kHookRun:
      return "run";
  }
  return "?";
}

// "2026-12-07T10:00:00.000Z in run 12: not healthy within 2s (...); apply retries this
// change only with --retry-failed".
std::string FailureLine(const LastFailure& f) {
  return "the same change failed at " + f.at + " in run " + std::to_string(f.run_id) + ": " +
         Printable(f.error) + "; apply retries it only with --retry-failed";
}

// "; jobs: 1 to create, 0 to update, 0 to delete; hooks: 2 to run" when the plan has any
// job or hook action (issue #16), else "".
std::string JobsSummary(std::map<ActionKind, int>& n) {
  int jobs = n[ActionKind::kJobCreate] + n[ActionKind::kJobUpdate] + n[ActionKind::kJobDelete];
  if (jobs + n[ActionKind::kHookRun] == 0) return "";
  return " Jobs: " + std::to_string(n[ActionKind::kJobCreate]) + " to create, " +
         std::to_string(n[ActionKind::kJobUpdate]) + " to update, " +
         std::to_string(n[ActionKind::kJobDelete]) +
         " to delete; hooks: " + std::to_string(n[ActionKind::kHookRun]) + " to run.";
}

std::string Summary(const Plan& p) {
  std::map<ActionKind, int> n;
  for (const auto& a : p.actions) ++n[a.kind];
  if (p.actions.empty()) return "No changes. The live platform matches the desired state.";
  return "Plan: " + std::to_string(n[ActionKind::kAppCreate]) + " to create, " +
         std::to_string(n[ActionKind::kAppUpdate]) + " to update, " +
         std::to_string(n[ActionKind::kAppRestart]) + " to restart, " +
         std::to_string(n[ActionKind::kAppScale]) + " to scale, " +
         std::to_string(n[ActionKind::kAppDelete]) +
         " to delete; KV: " + std::to_string(n[ActionKind::kKvPut]) + " to put, " +
         std::to_string(n[ActionKind::kKvDelete]) + " to delete" +
         (n[ActionKind::kModelCreate] + n[ActionKind::kModelUpdate] + n[ActionKind::kModelDelete]
              ? "; HAProxy models: " + std::to_string(n[ActionKind::kModelCreate]) +
                    " to publish, " + std::to_string(n[ActionKind::kModelUpdate]) + " to update, " +
                    std::to_string(n[ActionKind::kModelDelete]) + " to delete."
              : std::string(".")) +
         JobsSummary(n);
}

// "marathon app /app/…", "consul key app/…", "haproxy model internal (galley/p/haproxy/internal)".
std::string TargetText(const Action& a) {
  if (IsModelAction(a.kind))
    return "haproxy model " + Printable(ModelInstanceOf(a.target)) + " (" + Printable(a.target) +
           ")";
  if (IsJobAction(a.kind)) return "chronos job " + Printable(a.target);
  if (IsHookAction(a.kind)) return "hook job " + Printable(a.target);
  return (IsAppAction(a.kind) ? "marathon app " : "consul key ") + Printable(a.target);
}

std::string DirtyNote(const Plan& p) {
  std::string base =
      p.commit.size() > 6 ? ShortCommit(p.commit.substr(0, p.commit.size() - 6)) : "HEAD";
  return "planned from a work tree with uncommitted changes: this plan is not of commit " + base +
         " (commit them and plan again for a plan of a commit)";
}

}  // namespace

const char* ActionKindName(ActionKind k) {
  for (const auto& [kind, name] : kKinds) {
    if (kind == k) return name;
  }
  return "?";
}

const char* ReasonName(Reason r) {
  for (const auto& [reason, name] : kReasons) {
    if (reason == r) return name;
  }
  return "?";
}

json PlanToJson(const Plan& p) {
  json actions = json::array();
  for (const auto& a : p.actions) {
    json changes = json::array();
    for (const auto& c : a.changes) changes.push_back(ChangeJson(c));
    actions.push_back(json{{"id", a.id},
                           {"kind", ActionKindName(a.kind)},
                           {"reason", ReasonName(a.reason)},
                           {"service", a.service},
                           {"environment", a.env},
                           {"target", a.target},
                           {"token", a.token},
                           {"depends_on", a.depends_on},
                           {"changes", changes},
                           {"desired", a.desired},
                           {"sensitive", a.sensitive},
                           {"notes", a.notes}});
    if (!a.config.is_null()) actions.back()["config"] = a.config;
    if (!a.live_digest.empty()) actions.back()["live_digest"] = a.live_digest;
    if (!a.record.is_null()) actions.back()["record"] = a.record;
    if (a.last_failure) {
      actions.back()["last_failure"] = json{{"run", a.last_failure->run_id},
                                            {"at", a.last_failure->at},
                                            {"error", a.last_failure->error}};
    }
  }
  json doc{{"galley_plan", p.schema_version},
           {"galley_version", p.galley_version},
           {"platform", p.platform},
           {"commit", p.commit},
           {"tree", p.tree},
           {"dirty", p.dirty},
           {"endpoints", json{{"marathon", p.marathon_urls}, {"consul", p.consul_url}}},
           {"desired_digests", p.desired_digests},
           {"created_at", p.created_at},
           {"environments", p.environments},
           {"targets", p.targets},
           {"actions", actions},
           {"unmanaged", ItemsJson(p.unmanaged)},
           {"drift_reported", ItemsJson(p.drift_reported)},
           {"skipped", ItemsJson(p.skipped)},
           {"warnings", p.warnings},
           {"observed",
            json{{"apps", p.observed_apps}, {"keys", p.observed_keys}, {"requests", p.requests}}},
           {"summary", Summary(p)}};
  // Chronos (issue #16) only when it takes part, so plans without it keep their shape.
  if (!p.chronos_url.empty()) doc["endpoints"]["chronos"] = p.chronos_url;
  if (!p.chronos_url.empty() || p.observed_jobs > 0) doc["observed"]["jobs"] = p.observed_jobs;
  if (!p.signature.is_null()) doc["signature"] = p.signature;
  return doc;
}

Result<Plan> PlanFromJson(const json& doc) {
  try {
    Plan p;
    if (!doc.is_object() || !doc.contains("galley_plan")) {
      return Status::InvalidArgument("not a galley plan file (no \"galley_plan\" field)");
    }
    p.schema_version = doc.at("galley_plan").get<int>();
    if (p.schema_version != kPlanSchemaVersion) {
      return Status::InvalidArgument(
          "plan file has schema version " + std::to_string(p.schema_version) +
          "; this galley reads version " + std::to_string(kPlanSchemaVersion));
    }
    p.galley_version = doc.at("galley_version").get<std::string>();
    p.platform = doc.at("platform").get<std::string>();
    p.commit = doc.at("commit").get<std::string>();
    p.created_at = doc.at("created_at").get<std::string>();
    if (doc.contains("tree")) p.tree = doc.at("tree").get<std::string>();
    if (doc.contains("dirty")) p.dirty = doc.at("dirty").get<bool>();
    if (doc.contains("endpoints")) {
      p.marathon_urls = doc.at("endpoints").at("marathon").get<std::vector<std::string>>();
      p.consul_url = doc.at("endpoints").at("consul").get<std::string>();
      if (doc.at("endpoints").contains("chronos"))
        p.chronos_url = doc.at("endpoints").at("chronos").get<std::string>();
    }
    if (doc.contains("desired_digests")) {
      p.desired_digests = doc.at("desired_digests").get<std::map<std::string, std::string>>();
    }
    if (doc.contains("signature")) p.signature = doc.at("signature");
    p.environments = doc.at("environments").get<std::vector<std::string>>();
    p.targets = doc.at("targets").get<std::vector<std::string>>();
    std::set<std::string> seen;  // action ids so far
    for (const auto& j : doc.at("actions")) {
      Action a;
      a.id = j.at("id").get<std::string>();
      std::string kind = j.at("kind").get<std::string>(),
                  reason = j.at("reason").get<std::string>();
      bool kind_ok = false, reason_ok = false;
      for (const auto& [k, name] : kKinds) {
        if (kind == name) a.kind = k, kind_ok = true;
      }
      for (const auto& [r, name] : kReasons) {
        if (reason == name) a.reason = r, reason_ok = true;
      }
      if (!kind_ok || !reason_ok)
        return Status::InvalidArgument("action " + a.id + ": unknown kind or reason");
      a.service = j.at("service").get<std::string>();
      a.env = j.at("environment").get<std::string>();
      a.target = j.at("target").get<std::string>();
      a.token = j.at("token").get<std::string>();
      a.depends_on = j.at("depends_on").get<std::vector<std::string>>();
      for (const auto& c : j.at("changes")) {
        FieldChange fc;
        fc.pointer = c.at("path").get<std::string>();
        fc.before_present = c.contains("before");
        if (fc.before_present) fc.before = c["before"];
        fc.after_present = c.contains("after");
        if (fc.after_present) fc.after = c["after"];
        a.changes.push_back(fc);
      }
      a.desired = j.at("desired");
      if (j.contains("config")) a.config = j.at("config");
      if (j.contains("live_digest")) a.live_digest = j.at("live_digest").get<std::string>();
      if (j.contains("record")) a.record = j.at("record");
      if (j.contains("last_failure")) {
        const json& f = j.at("last_failure");
        a.last_failure = LastFailure{f.at("run").get<int64_t>(), f.at("at").get<std::string>(),
                                     f.at("error").get<std::string>()};
      }
      a.sensitive = j.at("sensitive").get<bool>();
      a.notes = j.at("notes").get<std::vector<std::string>>();
      // Actions come in dependency order: each depends only on actions before it, which also
      // rules out cycles (a plan file edited by hand could otherwise stall apply).
      for (const auto& dep : a.depends_on) {
        if (!seen.count(dep)) {
          return Status::InvalidArgument("malformed plan file: action " + a.id + " depends on " +
                                         dep + ", which is not an earlier action of the plan");
        }
      }
      if (!seen.insert(a.id).second)
        return Status::InvalidArgument("malformed plan file: two actions " + a.id);
      p.actions.push_back(std::move(a));
    }
    p.unmanaged = ItemsFrom(doc.at("unmanaged"));
    p.drift_reported = ItemsFrom(doc.at("drift_reported"));
    p.skipped = ItemsFrom(doc.at("skipped"));
    p.warnings = doc.at("warnings").get<std::vector<std::string>>();
    p.observed_apps = doc.at("observed").at("apps").get<int>();
    p.observed_keys = doc.at("observed").at("keys").get<int>();
    p.requests = doc.at("observed").at("requests").get<int>();
    if (doc.at("observed").contains("jobs"))
      p.observed_jobs = doc.at("observed").at("jobs").get<int>();
    return p;
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("malformed plan file: ") + e.what());
  }
}

std::string PlanDigest(const Plan& plan) {
  json j = PlanToJson(plan);
  j.erase("created_at");
  j.erase("signature");
  return Sha256Hex(SafeDump(j));
}

namespace {

// The key plan signatures are made with: derived, so a plan's signature is never an HMAC
// that galley computes for anything else under the platform key (secrets, config digests).
std::string SigningKey(const std::string& platform_key) {
  return HmacSha256Hex(platform_key, "galley plan file signature v1");
}

// Names the key without revealing it, so "signed with another key" can be told apart from
// "changed after signing".
std::string KeyId(const std::string& platform_key) {
  return HmacSha256Hex(platform_key, "galley key id v1").substr(0, 16);
}

// One HMAC per top-level member and per action (by id; "#<index>" without one), labelled as
// messages name them.
std::map<std::string, std::string> Parts(const json& doc, const std::string& key) {
  std::map<std::string, std::string> parts;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (it.key() == "signature") continue;
    if (it.key() == "actions" && it->is_array()) {
      size_t i = 0;
      for (const auto& a : *it) {
        std::string id = a.is_object() && a.contains("id") && a["id"].is_string()
                             ? a["id"].get<std::string>()
                             : "#" + std::to_string(i);
        parts["action " + id] = HmacSha256Hex(key, "action\n" + SafeDump(a));
        ++i;
      }
      parts["actions"] = HmacSha256Hex(key, "actions\n" + std::to_string(it->size()));
      continue;
    }
    parts[it.key()] = HmacSha256Hex(key, it.key() + "\n" + SafeDump(*it));
  }
  return parts;
}

std::string Canonical(const json& doc) {
  json body = doc;
  body.erase("signature");
  return SafeDump(body);
}

constexpr size_t kLineWidth = 120;  // a field change longer than this is shown over several lines
constexpr size_t kWrapWidth = 100;  // ... of at most this many bytes of value each

// One side of a field change as shown: the whole value, "(sensitive)" or "(absent)".
std::string ValueText(const Action& a, const FieldChange& c, bool after) {
  if (!(after ? c.after_present : c.before_present)) return "(absent)";
  return a.sensitive ? "(sensitive)" : DisplayValue(after ? c.after : c.before);
}

}  // namespace

json SignPlanDocument(const json& doc, const std::string& platform_key) {
  std::string key = SigningKey(platform_key);
  return json{{"algorithm", "hmac-sha256"},
              {"key_id", KeyId(platform_key)},
              {"plan", HmacSha256Hex(key, Canonical(doc))},
              {"parts", Parts(doc, key)}};
}

Status VerifyPlanDocument(const json& doc, const std::string& platform_key,
                          const std::string& key_source) {
  if (!doc.is_object() || !doc.contains("signature")) {
    return Status::PermissionDenied(
        "it is not signed (plan files are signed with the platform's HMAC key by `galley plan "
        "--out`; this one "
        "was made by an older galley or its signature was removed): plan again");
  }
  const json& sig = doc["signature"];
  if (!sig.is_object() || sig.value("algorithm", "") != "hmac-sha256" || !sig.contains("key_id") ||
      !sig["key_id"].is_string() || !sig.contains("plan") || !sig["plan"].is_string()) {
    return Status::PermissionDenied("its signature is malformed");
  }
  if (sig["key_id"].get<std::string>() != KeyId(platform_key)) {
    return Status::PermissionDenied(
        "it was signed with another key (key id " + sig["key_id"].get<std::string>() +
        "; the key here, from " + key_source + ", has id " + KeyId(platform_key) +
        "): it was planned against another platform, or GALLEY_HMAC_KEY differs "
        "between the runner that planned and this one");
  }
  std::string key = SigningKey(platform_key);
  if (HmacSha256Hex(key, Canonical(doc)) == sig["plan"].get<std::string>()) return Status::Ok();
  // Say what was changed: the members and actions whose own HMAC does not match.
  std::vector<std::string> changed;
  std::map<std::string, std::string> now = Parts(doc, key);
  std::map<std::string, std::string> signed_parts;
  if (sig.contains("parts") && sig["parts"].is_object()) {
    for (auto it = sig["parts"].begin(); it != sig["parts"].end(); ++it) {
      if (it->is_string()) signed_parts[it.key()] = it->get<std::string>();
    }
  }
  for (const auto& [name, h] : now) {
    auto it = signed_parts.find(name);
    if (it == signed_parts.end()) {
      changed.push_back(name + " (added)");
    } else if (it->second != h) {
      changed.push_back(name == "actions" ? "the number of actions" : name);
    }
  }
  for (const auto& [name, h] : signed_parts) {
    if (!now.count(name)) changed.push_back(name + " (removed)");
  }
  if (changed.empty()) changed.push_back("the order of its actions, or the signature itself");
  if (changed.size() > 12) {
    size_t more = changed.size() - 10;
    changed.resize(10);
    changed.push_back("and " + std::to_string(more) + " more");
  }
  std::string list;
  for (const auto& c : changed) list += (list.empty() ? "" : ", ") + c;
  return Status::PermissionDenied("it was changed after it was signed: " + list);
}

std::string RenderPlanText(const Plan& p, bool color) {
  Style st{color};
  std::string out =
      "galley plan for platform " + p.platform +
      (p.commit.empty() ? "" : " at commit " + ShortCommit(p.commit)) + " (" +
      std::to_string(p.observed_apps) + " live apps and " + std::to_string(p.observed_keys) +
      " keys" +
      (p.chronos_url.empty() ? std::string() : ", " + std::to_string(p.observed_jobs) + " jobs") +
      " observed in " + std::to_string(p.requests) + " requests)\n";
  if (p.dirty) out += st.Wrap("33", "warning: ") + DirtyNote(p) + "\n";
  for (const auto& w : p.warnings) out += st.Wrap("33", "warning: ") + Printable(w) + "\n";
  if (!p.actions.empty()) out += "\n";
  for (const auto& a : p.actions) {
    std::string head = std::string(Symbol(a)) + " " + Verb(a) + " " + TargetText(a);
    out += st.Wrap(ColorOf(a.kind), head) + "   (" + ReasonName(a.reason) + ")\n";
    size_t width = 0;
    for (const auto& c : a.changes) width = std::max(width, FieldName(c.pointer).size());
    width = std::min<size_t>(width, 48);
    for (const auto& c : a.changes) {
      std::string name = Printable(FieldName(c.pointer));
      std::string line = "      " + name + ":" +
                         std::string(width > name.size() ? width - name.size() : 0, ' ') + " ";
      std::string before = ValueText(a, c, false), after = ValueText(a, c, true);
      if (line.size() + before.size() + after.size() + 5 > kLineWidth) {
        // Too long for one line: each side whole on its own lines, so it can be reviewed.
        out += "      " + name + ":\n";
        auto side = [&](const char* mark, const std::string& v, const char* colour) {
          auto lines = WrapLine(v, kWrapWidth);
          for (size_t i = 0; i < lines.size(); ++i) {
            out += std::string("        ") + (i == 0 ? mark : " ") + " " +
                   st.Wrap(colour, lines[i]) + "\n";
          }
        };
        if (c.before_present) side("-", before, "31");
        if (c.after_present) side("+", after, "32");
        continue;
      }
      if (!c.before_present) {
        line += st.Wrap("32", after);
      } else if (!c.after_present) {
        line += st.Wrap("31", before) + " → (absent)";
      } else {
        line += before + " → " + after;
      }
      out += line + "\n";
    }
    for (const auto& n : a.notes) out += "      note: " + Printable(n) + "\n";
    if (a.last_failure)
      out += st.Wrap("31", "      last failed: ") + Printable(FailureLine(*a.last_failure)) + "\n";
    if (!a.depends_on.empty()) {
      std::string deps;
      for (const auto& d : a.depends_on) deps += (deps.empty() ? "" : ", ") + d;
      out += "      after: " + deps + "\n";
    }
  }
  auto section = [&](const char* title, const std::vector<PlanItem>& items) {
    if (items.empty()) return;
    out += std::string("\n") + title + "\n";
    for (const auto& i : items) out += "  " + Printable(i.target) + ": " + Printable(i.why) + "\n";
  };
  section("Drift reported, not reverted (policy: report):", p.drift_reported);
  section("Unmanaged, never touched:", p.unmanaged);
  section("Skipped:", p.skipped);
  out += "\n" + Summary(p) + "\n";
  return out;
}

std::string RenderPlanMarkdown(const Plan& p) {
  std::string out = "### galley plan: `" + p.platform + "`" +
                    (p.commit.empty() ? "" : " @ `" + ShortCommit(p.commit) + "`") + "\n\n**" +
                    Summary(p) + "**\n";
  if (p.dirty) out += "\n> :warning: " + DirtyNote(p) + "\n";
  for (const auto& w : p.warnings) out += "\n> :warning: " + Printable(w) + "\n";
  if (!p.actions.empty()) {
    out += "\n| | action | target | reason |\n|---|---|---|---|\n";
    for (const auto& a : p.actions) {
      out += std::string("| `") + Symbol(a) + "` | " + Verb(a) + " | " + MarkdownCode(a.target) +
             " | " + ReasonName(a.reason) + (a.last_failure ? ", **failed before**" : "") + " |\n";
    }
    out += "\n<details><summary>Field changes</summary>\n\n```diff\n";
    // A hunk header per action, then each field's old value as '-' lines and its new value
    // as '+' lines, whole and wrapped; every line starts with "@@", '-' or '+', so nothing
    // from a value can close the fence.
    for (const auto& a : p.actions) {
      out += std::string("@@ ") + Symbol(a) + " " + Verb(a) + " " + Printable(a.target) + " (" +
             ReasonName(a.reason) + ") @@\n";
      for (const auto& c : a.changes) {
        std::string name = Printable(FieldName(c.pointer));
        auto side = [&](char mark, const std::string& v) {
          auto lines = WrapLine(v, kWrapWidth);
          for (size_t i = 0; i < lines.size(); ++i) {
            out += std::string(1, mark) +
                   (i == 0 ? " " + name + ": " : std::string(name.size() + 3, ' ')) + lines[i] +
                   "\n";
          }
        };
        if (c.before_present) side('-', ValueText(a, c, false));
        if (c.after_present) side('+', ValueText(a, c, true));
      }
      if (a.last_failure) out += "    last failed: " + FailureLine(*a.last_failure) + "\n";
    }
    out += "```\n\n</details>\n";
  }
  if (!p.unmanaged.empty()) {
    out += "\n<details><summary>Unmanaged (" + std::to_string(p.unmanaged.size()) +
           "), never touched</summary>\n\n";
    for (const auto& i : p.unmanaged) out += "- " + MarkdownCode(i.target) + ": " + i.why + "\n";
    out += "\n</details>\n";
  }
  if (!p.drift_reported.empty()) {
    out += "\n**Drift reported, not reverted:**\n\n";
    for (const auto& i : p.drift_reported)
      out += "- " + MarkdownCode(i.target) + ": " + i.why + "\n";
  }
  return out;
}

}  // namespace galley::engine
