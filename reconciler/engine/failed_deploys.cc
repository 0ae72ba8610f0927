// SPDX-License-Identifier: Apache-2.0
#include "engine/failed_deploys.h"

#include <algorithm>
#include <set>

#include "base/digest.h"
#include "engine/normalize.h"
#include "engine/view_text.h"

namespace galley::engine {

using json = nlohmann::json;

std::string DesiredDigest(const Action& a) {
  if (!IsAppAction(a.kind) || a.kind == ActionKind::kAppDelete || a.reason == Reason::kRequested)
    return "";
  if (!a.desired.is_object()) return "";
  return Sha256Hex(SafeDump(NormalizeApp(a.desired)));
}

std::string ExpectDigest(const json& d) {
  if (!d.is_object() || (d.contains("restart") && d["restart"] == true)) return "";
  auto it = d.find("expect");
  if (it == d.end() || !it->is_object() || it->contains("absent") || !it->contains("id")) return "";
  return Sha256Hex(SafeDump(*it));
}

std::optional<FailedDeploy> FailedDeployOf(const store::JournalEntry& e) {
  if (e.state != "failed" || e.kind == "delete" || e.kind == "kv-put" || e.kind == "kv-delete")
    return std::nullopt;
  json d = json::parse(e.detail, nullptr, false);
  // Only a failure after Marathon took the write carries the digest of what it deployed.
  if (!d.is_object() || !d.contains("desired_digest") || !d["desired_digest"].is_string())
    return std::nullopt;
  FailedDeploy f;
  f.desired_digest = d["desired_digest"].get<std::string>();
  if (f.desired_digest.empty()) return std::nullopt;
  f.failure.run_id = e.run_id;
  f.failure.at = e.finished_at;
  f.failure.error =
      d.contains("error") && d["error"].is_string() ? d["error"].get<std::string>() : "failed";
  return f;
}

std::vector<std::string> FailureResources(const Plan& plan) {
  std::vector<std::string> out;
  for (const auto& a : plan.actions) {
    if (!DesiredDigest(a).empty()) out.push_back(ResourceKeyOf(a));
  }
  return out;
}

void AnnotateFailures(Plan& plan, const std::map<std::string, store::JournalEntry>& latest) {
  for (auto& a : plan.actions) {
    a.last_failure.reset();
    std::string digest = DesiredDigest(a);
    if (digest.empty()) continue;
    auto it = latest.find(ResourceKeyOf(a));
    if (it == latest.end()) continue;
    auto failed = FailedDeployOf(it->second);
    if (failed && failed->desired_digest == digest) a.last_failure = failed->failure;
  }
}

std::vector<std::string> RetryRefusals(const Plan& plan) {
  std::vector<std::string> out;
  for (const auto& a : plan.actions) {
    if (!a.last_failure) continue;
    out.push_back(a.id + ": the same change failed at " + a.last_failure->at + " in run " +
                  std::to_string(a.last_failure->run_id) + ": " + Printable(a.last_failure->error));
  }
  return out;
}

std::vector<std::string> HoldFailed(Plan& plan) {
  std::vector<std::string> held = RetryRefusals(plan);
  std::set<std::string> out;
  for (const auto& a : plan.actions) {  // in dependency order: a dependant comes after
    bool depends = std::any_of(a.depends_on.begin(), a.depends_on.end(),
                               [&](const std::string& d) { return out.count(d); });
    if (a.last_failure || depends) {
      out.insert(a.id);
      if (!a.last_failure) held.push_back(a.id + ": depends on a change held above");
    }
  }
  plan.actions.erase(std::remove_if(plan.actions.begin(), plan.actions.end(),
                                    [&](const Action& a) { return out.count(a.id) > 0; }),
                     plan.actions.end());
  return held;
}

}  // namespace galley::engine
