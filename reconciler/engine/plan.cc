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
    {ActionKind::kAppCreate, "app-create"}, {ActionKind::kAppUpdate, "app-update"},
    {ActionKind::kAppScale, "app-scale"},   {ActionKind::kAppRestart, "app-restart"},
    {ActionKind::kAppDelete, "app-delete"}, {ActionKind::kKvPut, "kv-put"},
    {ActionKind::kKvDelete, "kv-delete"}};
const std::pair<Reason, const char*> kReasons[] = {{Reason::kNew, "new"},
                                                   {Reason::kDesiredChanged, "desired-changed"},
                                                   {Reason::kDrifted, "drifted"},
                                                   {Reason::kOrphan, "orphan"}};

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
  for (const auto& i : arr) out.push_back({i.at("target").get<std::string>(), i.at("why").get<std::string>()});
  return out;
}

struct Style {
  bool color;
  std::string Wrap(const char* code, const std::string& s) const {
    return color ? std::string("\033[") + code + "m" + s + "\033[0m" : s;
  }
};

const char* Symbol(ActionKind k) {
  switch (k) {
    case ActionKind::kAppCreate:
    case ActionKind::kKvPut: return "+";
    case ActionKind::kAppDelete:
    case ActionKind::kKvDelete: return "-";
    case ActionKind::kAppRestart: return "±";
    default: return "~";
  }
}

const char* ColorOf(ActionKind k) {
  switch (k) {
    case ActionKind::kAppCreate: return "32";
    case ActionKind::kAppDelete:
    case ActionKind::kKvDelete: return "31";
    case ActionKind::kAppRestart: return "35";
    default: return "33";
  }
}

std::string Verb(const Action& a) {
  switch (a.kind) {
    case ActionKind::kAppCreate: return "create";
    case ActionKind::kAppUpdate: return "update";
    case ActionKind::kAppScale: return "scale";
    case ActionKind::kAppRestart: return "restart";
    case ActionKind::kAppDelete: return "delete";
    case ActionKind::kKvPut: return a.token == "0" ? "put" : "update";
    case ActionKind::kKvDelete: return "delete";
  }
  return "?";
}


std::string Summary(const Plan& p) {
  std::map<ActionKind, int> n;
  for (const auto& a : p.actions) ++n[a.kind];
  if (p.actions.empty()) return "No changes. The live platform matches the desired state.";
  return "Plan: " + std::to_string(n[ActionKind::kAppCreate]) + " to create, " +
         std::to_string(n[ActionKind::kAppUpdate]) + " to update, " + std::to_string(n[ActionKind::kAppRestart]) +
         " to restart, " + std::to_string(n[ActionKind::kAppScale]) + " to scale, " +
         std::to_string(n[ActionKind::kAppDelete]) + " to delete; KV: " + std::to_string(n[ActionKind::kKvPut]) +
         " to put, " + std::to_string(n[ActionKind::kKvDelete]) + " to delete.";
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
  }
  return json{{"galley_plan", p.schema_version},
              {"galley_version", p.galley_version},
              {"platform", p.platform},
              {"commit", p.commit},
              {"created_at", p.created_at},
              {"environments", p.environments},
              {"targets", p.targets},
              {"actions", actions},
              {"unmanaged", ItemsJson(p.unmanaged)},
              {"drift_reported", ItemsJson(p.drift_reported)},
              {"skipped", ItemsJson(p.skipped)},
              {"warnings", p.warnings},
              {"observed", json{{"apps", p.observed_apps}, {"keys", p.observed_keys}, {"requests", p.requests}}},
              {"summary", Summary(p)}};
}

Result<Plan> PlanFromJson(const json& doc) {
  try {
    Plan p;
    if (!doc.is_object() || !doc.contains("galley_plan")) {
      return Status::InvalidArgument("not a galley plan file (no \"galley_plan\" field)");
    }
    p.schema_version = doc.at("galley_plan").get<int>();
    if (p.schema_version != kPlanSchemaVersion) {
      return Status::InvalidArgument("plan file has schema version " + std::to_string(p.schema_version) +
                                     "; this galley reads version " + std::to_string(kPlanSchemaVersion));
    }
    p.galley_version = doc.at("galley_version").get<std::string>();
    p.platform = doc.at("platform").get<std::string>();
    p.commit = doc.at("commit").get<std::string>();
    p.created_at = doc.at("created_at").get<std::string>();
    p.environments = doc.at("environments").get<std::vector<std::string>>();
    p.targets = doc.at("targets").get<std::vector<std::string>>();
    std::set<std::string> seen;  // action ids so far
    for (const auto& j : doc.at("actions")) {
      Action a;
      a.id = j.at("id").get<std::string>();
      std::string kind = j.at("kind").get<std::string>(), reason = j.at("reason").get<std::string>();
      bool kind_ok = false, reason_ok = false;
      for (const auto& [k, name] : kKinds) {
        if (kind == name) a.kind = k, kind_ok = true;
      }
      for (const auto& [r, name] : kReasons) {
        if (reason == name) a.reason = r, reason_ok = true;
      }
      if (!kind_ok || !reason_ok) return Status::InvalidArgument("action " + a.id + ": unknown kind or reason");
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
      a.sensitive = j.at("sensitive").get<bool>();
      a.notes = j.at("notes").get<std::vector<std::string>>();
      // Actions come in dependency order: each depends only on actions before it, which also
      // rules out cycles (a plan file edited by hand could otherwise stall apply).
      for (const auto& dep : a.depends_on) {
        if (!seen.count(dep)) {
          return Status::InvalidArgument("malformed plan file: action " + a.id + " depends on " + dep +
                                         ", which is not an earlier action of the plan");
        }
      }
      if (!seen.insert(a.id).second) return Status::InvalidArgument("malformed plan file: two actions " + a.id);
      p.actions.push_back(std::move(a));
    }
    p.unmanaged = ItemsFrom(doc.at("unmanaged"));
    p.drift_reported = ItemsFrom(doc.at("drift_reported"));
    p.skipped = ItemsFrom(doc.at("skipped"));
    p.warnings = doc.at("warnings").get<std::vector<std::string>>();
    p.observed_apps = doc.at("observed").at("apps").get<int>();
    p.observed_keys = doc.at("observed").at("keys").get<int>();
    p.requests = doc.at("observed").at("requests").get<int>();
    return p;
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("malformed plan file: ") + e.what());
  }
}

std::string PlanDigest(const Plan& plan) {
  json j = PlanToJson(plan);
  j.erase("created_at");
  return Sha256Hex(SafeDump(j));
}

std::string RenderPlanText(const Plan& p, bool color) {
  Style st{color};
  std::string out = "galley plan for platform " + p.platform +
                    (p.commit.empty() ? "" : " at commit " + ShortCommit(p.commit)) + " (" +
                    std::to_string(p.observed_apps) + " live apps and " + std::to_string(p.observed_keys) +
                    " keys observed in " + std::to_string(p.requests) + " requests)\n";
  for (const auto& w : p.warnings) out += st.Wrap("33", "warning: ") + w + "\n";
  if (!p.actions.empty()) out += "\n";
  for (const auto& a : p.actions) {
    std::string head = std::string(Symbol(a.kind)) + " " + Verb(a) + " " +
                       (IsAppAction(a.kind) ? "marathon app " : "consul key ") + a.target;
    out += st.Wrap(ColorOf(a.kind), head) + "   (" + ReasonName(a.reason) + ")\n";
    size_t width = 0;
    for (const auto& c : a.changes) width = std::max(width, FieldName(c.pointer).size());
    width = std::min<size_t>(width, 48);
    for (const auto& c : a.changes) {
      std::string name = FieldName(c.pointer);
      std::string line = "      " + name + ":" + std::string(width > name.size() ? width - name.size() : 0, ' ') + " ";
      std::string before = c.before_present ? (a.sensitive ? "(sensitive)" : ShortValue(c.before)) : "(absent)";
      std::string after = c.after_present ? (a.sensitive ? "(sensitive)" : ShortValue(c.after)) : "(absent)";
      if (!c.before_present) {
        line += st.Wrap("32", after);
      } else if (!c.after_present) {
        line += st.Wrap("31", before) + " → (absent)";
      } else {
        line += before + " → " + after;
      }
      out += line + "\n";
    }
    for (const auto& n : a.notes) out += "      note: " + n + "\n";
    if (!a.depends_on.empty()) {
      std::string deps;
      for (const auto& d : a.depends_on) deps += (deps.empty() ? "" : ", ") + d;
      out += "      after: " + deps + "\n";
    }
  }
  auto section = [&](const char* title, const std::vector<PlanItem>& items) {
    if (items.empty()) return;
    out += std::string("\n") + title + "\n";
    for (const auto& i : items) out += "  " + i.target + ": " + i.why + "\n";
  };
  section("Drift reported, not reverted (policy: report):", p.drift_reported);
  section("Unmanaged, never touched:", p.unmanaged);
  section("Skipped:", p.skipped);
  out += "\n" + Summary(p) + "\n";
  return out;
}

std::string RenderPlanMarkdown(const Plan& p) {
  std::string out = "### galley plan: `" + p.platform + "`" + (p.commit.empty() ? "" : " @ `" + ShortCommit(p.commit) + "`") +
                    "\n\n**" + Summary(p) + "**\n";
  for (const auto& w : p.warnings) out += "\n> :warning: " + w + "\n";
  if (!p.actions.empty()) {
    out += "\n| | action | target | reason |\n|---|---|---|---|\n";
    for (const auto& a : p.actions) {
      out += std::string("| `") + Symbol(a.kind) + "` | " + Verb(a) + " | " + MarkdownCode(a.target) + " | " +
             ReasonName(a.reason) + " |\n";
    }
    out += "\n<details><summary>Field changes</summary>\n\n```diff\n";
    for (const auto& a : p.actions) {
      out += std::string(Symbol(a.kind) == std::string("-") ? "-" : "+") + " " + Verb(a) + " " + a.target + "\n";
      for (const auto& c : a.changes) {
        std::string before = c.before_present ? (a.sensitive ? "(sensitive)" : ShortValue(c.before)) : "(absent)";
        std::string after = c.after_present ? (a.sensitive ? "(sensitive)" : ShortValue(c.after)) : "(absent)";
        out += "    " + FieldName(c.pointer) + ": " + before + " -> " + after + "\n";
      }
    }
    out += "```\n\n</details>\n";
  }
  if (!p.unmanaged.empty()) {
    out += "\n<details><summary>Unmanaged (" + std::to_string(p.unmanaged.size()) + "), never touched</summary>\n\n";
    for (const auto& i : p.unmanaged) out += "- " + MarkdownCode(i.target) + ": " + i.why + "\n";
    out += "\n</details>\n";
  }
  if (!p.drift_reported.empty()) {
    out += "\n**Drift reported, not reverted:**\n\n";
    for (const auto& i : p.drift_reported) out += "- " + MarkdownCode(i.target) + ": " + i.why + "\n";
  }
  return out;
}

}  // namespace galley::engine
