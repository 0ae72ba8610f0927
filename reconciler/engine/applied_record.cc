// SPDX-License-Identifier: Apache-2.0
#include "engine/applied_record.h"

#include "base/digest.h"
#include "engine/jobs.h"
#include "engine/plan.h"
#include "engine/view_text.h"

namespace galley::engine {

using json = nlohmann::json;

bool ExpectsAbsent(const json& expect) { return expect.is_object() && expect.contains("absent"); }

std::string AppliedBody(const AppliedItem& item) {
  if (ExpectsAbsent(item.expect)) return "";
  if (item.app || item.job) return SafeDump(item.expect);
  if (item.model) return item.expect.value("digest", std::string());
  return (item.expect.value("secret", false) ? "secret:" : "") +
         item.expect.value("hmac", std::string());
}

std::string AppliedRecordKey(const std::string& applied_prefix, const std::string& env,
                             const std::string& service) {
  if (env.empty() || service.empty()) return applied_prefix + "_platform";
  return applied_prefix + env + "/" + service;
}

std::vector<store::Applied> AppliedRows(const std::vector<AppliedItem>& items,
                                        const AppliedStamp& stamp) {
  std::vector<store::Applied> rows;
  for (const AppliedItem& it : items) {
    store::Applied row;
    row.resource = it.job ? ResourceKey(model::ResourceKind::kChronosJob, it.target)
                   : it.model
                       ? ResourceKey(model::ResourceKind::kHaproxyModel, ModelInstanceOf(it.target))
                       : ResourceKey(it.app ? model::ResourceKind::kMarathonApp
                                            : model::ResourceKind::kConsulKv,
                                     it.target);
    row.body = AppliedBody(it);
    row.digest = Sha256Hex(row.body);
    row.commit = stamp.commit;
    row.applied_at = stamp.applied_at;
    row.applied_by = stamp.by;
    row.run_id = stamp.run;
    row.deleted = ExpectsAbsent(it.expect);
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string UpdateAppliedRecord(const std::string& previous, const std::vector<AppliedItem>& items,
                                const AppliedStamp& stamp) {
  json doc = previous.empty() ? json::object() : json::parse(previous, nullptr, false);
  if (!doc.is_object()) doc = json::object();
  for (const AppliedItem& it : items) {
    bool deleted = ExpectsAbsent(it.expect);
    if (it.app) {
      if (deleted)
        doc.erase("app");
      else
        doc["app"] = it.expect;
    } else if (it.job) {
      if (!doc.contains("jobs") || !doc["jobs"].is_object()) doc["jobs"] = json::object();
      if (deleted)
        doc["jobs"].erase(it.target);
      else
        doc["jobs"][it.target] = it.expect;
    } else if (it.model) {
      if (!doc.contains("models") || !doc["models"].is_object()) doc["models"] = json::object();
      if (deleted)
        doc["models"].erase(ModelInstanceOf(it.target));
      else
        doc["models"][ModelInstanceOf(it.target)] = AppliedBody(it);
    } else {
      if (!doc.contains("kv") || !doc["kv"].is_object()) doc["kv"] = json::object();
      if (deleted)
        doc["kv"].erase(it.target);
      else
        doc["kv"][it.target] = AppliedBody(it);
    }
  }
  doc["applied_at"] = stamp.applied_at;
  doc["commit"] = stamp.commit;
  doc["by"] = stamp.by;
  doc["run"] = stamp.run;
  return SafeDump(doc);
}

namespace {

bool HasAppWithId(const json& rec) {
  return rec.contains("app") && rec["app"].is_object() && rec["app"].contains("id") &&
         rec["app"]["id"].is_string();
}

}  // namespace

std::optional<AppliedRecord> ParseAppliedRecord(const std::string& text) {
  json rec = json::parse(text, nullptr, false);
  if (!rec.is_object()) return std::nullopt;
  AppliedRecord out;
  if (rec.contains("applied_at") && rec["applied_at"].is_string())
    out.applied_at = rec["applied_at"].get<std::string>();
  if (HasAppWithId(rec)) out.app = rec["app"];
  if (rec.contains("kv") && rec["kv"].is_object()) {
    for (auto it = rec["kv"].begin(); it != rec["kv"].end(); ++it) {
      if (it->is_string()) out.kv[it.key()] = it->get<std::string>();
    }
  }
  if (rec.contains("models") && rec["models"].is_object()) {
    for (auto it = rec["models"].begin(); it != rec["models"].end(); ++it) {
      if (it->is_string()) out.models[it.key()] = it->get<std::string>();
    }
  }
  if (rec.contains("jobs") && rec["jobs"].is_object()) {
    for (auto it = rec["jobs"].begin(); it != rec["jobs"].end(); ++it) {
      if (it->is_object()) out.jobs[it.key()] = *it;
    }
  }
  return out;
}

void AddStoreApplied(const std::map<std::string, store::Applied>& rows, LastAppliedView* into) {
  for (const auto& [resource, row] : rows) {
    if (row.deleted) continue;
    auto ref = ParseResourceKey(resource);
    if (!ref) continue;
    if (ref->kind == model::ResourceKind::kMarathonApp) {
      json body = json::parse(row.body, nullptr, false);
      if (!body.is_object()) continue;
      into->apps[ref->target] = body;
      into->at["app:" + ref->target] = row.applied_at;
    } else if (ref->kind == model::ResourceKind::kChronosJob) {
      json body = json::parse(row.body, nullptr, false);
      if (!body.is_object()) continue;
      into->jobs[ref->target] = body;
      into->at[JobActionId(ref->target)] = row.applied_at;
    } else if (ref->kind == model::ResourceKind::kHaproxyModel) {
      into->models[ref->target] = row.body;
      into->at[std::string(kModelResourcePrefix) + ref->target] = row.applied_at;
    } else {
      into->kv[ref->target] = row.body;
      into->at["kv:" + ref->target] = row.applied_at;
    }
  }
}

std::vector<std::string> MergeAppliedRecords(
    const std::map<std::string, model::LiveKvEntry>& records, LastAppliedView* into) {
  std::vector<std::string> warnings;
  for (const auto& [key, entry] : records) {
    std::optional<AppliedRecord> rec = ParseAppliedRecord(entry.value);
    if (!rec) {
      warnings.push_back("ignored a malformed applied record at " + key);
      continue;
    }
    const std::string& when = rec->applied_at;
    if (rec->app) {
      std::string id = (*rec->app)["id"].get<std::string>();
      auto known = into->at.find("app:" + id);
      if (known == into->at.end() || when >= known->second) {
        into->apps[id] = *rec->app;
        into->at["app:" + id] = when;
      }
    }
    for (const auto& [k, v] : rec->kv) {
      auto known = into->at.find("kv:" + k);
      if (known == into->at.end() || when >= known->second) {
        into->kv[k] = v;
        into->at["kv:" + k] = when;
      }
    }
    for (const auto& [instance, digest] : rec->models) {
      std::string at_key = std::string(kModelResourcePrefix) + instance;
      auto known = into->at.find(at_key);
      if (known == into->at.end() || when >= known->second) {
        into->models[instance] = digest;
        into->at[at_key] = when;
      }
    }
    for (const auto& [name, body] : rec->jobs) {
      std::string at_key = JobActionId(name);
      auto known = into->at.find(at_key);
      if (known == into->at.end() || when >= known->second) {
        into->jobs[name] = body;
        into->at[at_key] = when;
      }
    }
  }
  return warnings;
}

std::vector<std::string> AppliedRecordTargets(
    const std::map<std::string, model::LiveKvEntry>& records) {
  std::vector<std::string> out;
  for (const auto& [key, entry] : records) {
    json rec = json::parse(entry.value, nullptr, false);
    if (!rec.is_object()) continue;
    if (HasAppWithId(rec)) out.push_back(rec["app"]["id"].get<std::string>());
    // Every key named, whatever its value: a record edited by hand still says where galley applied.
    if (rec.contains("kv") && rec["kv"].is_object()) {
      for (auto it = rec["kv"].begin(); it != rec["kv"].end(); ++it) out.push_back(it.key());
    }
  }
  return out;
}

}  // namespace galley::engine
