// SPDX-License-Identifier: Apache-2.0
#include "engine/apply_checks.h"

#include <algorithm>
#include <optional>

#include "base/digest.h"
#include "engine/desired.h"
#include "engine/jobs.h"
#include "engine/ownership.h"

namespace galley::engine {

using json = nlohmann::json;

AppMove HowAppMoved(const Action& a, const model::LiveApp* live) {
  bool planned_absent = a.token.empty() || a.token == "0";
  if (planned_absent) return live ? AppMove::kCreated : AppMove::kNone;
  if (!live) return AppMove::kDeleted;
  if (live->version != a.token &&
      (a.live_digest.empty() || LiveDigest(live->body) != a.live_digest)) {
    return AppMove::kChanged;
  }
  return AppMove::kNone;
}

Status ResolveConfigDigests(
    Plan& plan, const std::string& hmac_key,
    const std::function<Result<std::string>(const std::string&)>& read_secret) {
  for (auto& a : plan.actions) {
    if (!IsAppAction(a.kind) || !a.desired.is_object() || !a.desired.contains("labels")) continue;
    json& labels = a.desired["labels"];
    if (!labels.is_object() || labels.value(kConfigDigestLabel, std::string()) != kDigestUnknown)
      continue;
    if (!a.config.is_object()) {
      return Status::InvalidArgument(
          "app " + a.target + ": its config digest is \"" + kDigestUnknown +
          "\" but the plan carries no config to compute it from; plan again");
    }
    std::map<std::string, std::optional<std::string>> hmacs;
    for (auto it = a.config.begin(); it != a.config.end(); ++it) {
      const json& v = *it;
      if (v.contains("value") && v["value"].is_string()) {
        hmacs[it.key()] = HmacSha256Hex(hmac_key, v["value"].get<std::string>());
      } else if (v.contains("secret") && v["secret"].is_string()) {
        std::string source = v["secret"].get<std::string>();
        if (!read_secret)
          return Status::InvalidArgument("app " + a.target + ": secret " + source +
                                         " cannot be read");
        auto secret = read_secret(source);
        if (!secret.ok())
          return Status::InvalidArgument("app " + a.target + ": " + secret.status().message());
        hmacs[it.key()] = HmacSha256Hex(hmac_key, *secret);
      } else {
        return Status::InvalidArgument("app " + a.target + ": malformed config entry " + it.key());
      }
    }
    std::optional<std::string> digest = ConfigDigest(hmac_key, hmacs);
    if (!digest) return Status::Internal("app " + a.target + ": config digest");
    labels[kConfigDigestLabel] = *digest;
  }
  return Status::Ok();
}

std::vector<std::string> StaleReasons(const Plan& plan, const model::LiveState& live) {
  std::vector<std::string> out;
  for (const auto& a : plan.actions) {
    bool must_be_absent = a.token == "0" || a.token.empty();
    if (IsHookAction(a.kind)) continue;  // checked against the job when it is started
    if (IsJobAction(a.kind)) {
      if (!live.jobs_observed) continue;  // no Chronos now: the job step itself refuses
      auto it = live.jobs.find(a.target);
      std::string now = it == live.jobs.end() ? "0" : JobDigest(it->second);
      if (now == (must_be_absent ? "0" : a.token)) continue;
      out.push_back("job " + a.target + ": planned " +
                    (must_be_absent ? std::string("when absent") : "against " + a.token) +
                    (now == "0" ? ", now deleted" : ", now " + now));
      continue;
    }
    if (IsAppAction(a.kind)) {
      auto it = live.apps.find(a.target);
      switch (HowAppMoved(a, it == live.apps.end() ? nullptr : &it->second)) {
        case AppMove::kNone:
          break;
        case AppMove::kCreated:
          out.push_back("app " + a.target + ": planned when absent, now exists (version " +
                        it->second.version + ")");
          break;
        case AppMove::kDeleted:
          out.push_back("app " + a.target + ": planned against version " + a.token +
                        ", now deleted");
          break;
        case AppMove::kChanged:
          out.push_back("app " + a.target + ": planned against version " + a.token + ", now " +
                        it->second.version);
          break;
      }
    } else {
      auto it = live.kv.find(a.target);
      if (must_be_absent && it != live.kv.end()) {
        out.push_back("key " + a.target + ": planned when absent, now exists (index " +
                      std::to_string(it->second.modify_index) + ")");
      } else if (!must_be_absent && it == live.kv.end()) {
        out.push_back("key " + a.target + ": planned at index " + a.token + ", now deleted");
      } else if (!must_be_absent && std::to_string(it->second.modify_index) != a.token) {
        out.push_back("key " + a.target + ": planned at index " + a.token + ", now " +
                      std::to_string(it->second.modify_index));
      }
    }
  }
  return out;
}

std::vector<std::string> SafetyViolations(const Plan& plan,
                                          const std::map<std::string, int>& apps_per_env, int limit,
                                          double fraction) {
  std::map<std::string, std::pair<int, int>> disruptive;  // env → {deletes, restarts}
  for (const auto& a : plan.actions) {
    if (a.kind == ActionKind::kAppDelete) ++disruptive[a.env].first;
    if (a.kind == ActionKind::kAppRestart) ++disruptive[a.env].second;
  }
  std::vector<std::string> out;
  for (const auto& [env, counts] : disruptive) {
    int total = counts.first + counts.second;
    auto it = apps_per_env.find(env);
    int apps = it == apps_per_env.end() ? 0 : it->second;
    int allowed = std::max(limit, static_cast<int>(fraction * apps));
    if (total > allowed) {
      out.push_back("environment " + (env.empty() ? std::string("(none)") : env) + ": " +
                    std::to_string(counts.first) + " deletes and " + std::to_string(counts.second) +
                    " restarts exceed the limit of " + std::to_string(allowed) + " (max of " +
                    std::to_string(limit) + " and " +
                    std::to_string(static_cast<int>(fraction * 100)) + "% of " +
                    std::to_string(apps) + " apps)");
    }
  }
  return out;
}

}  // namespace galley::engine
