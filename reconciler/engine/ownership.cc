// SPDX-License-Identifier: Apache-2.0
#include "engine/ownership.h"

#include "base/digest.h"
#include "base/strings.h"
#include "engine/normalize.h"

namespace galley::engine {

using json = nlohmann::json;

json Comparable(const json& body, const std::vector<std::string>& ignore) {
  json n = NormalizeApp(body);
  RemovePointers(n, ignore);
  return n;
}

bool UnderAny(const std::string& s, const std::vector<std::string>& prefixes) {
  for (const auto& p : prefixes) {
    if (StartsWith(s, p)) return true;
  }
  return false;
}

std::pair<std::string, std::string> Owner(const std::string& s,
                                          const std::vector<std::string>& prefixes) {
  for (const auto& p : prefixes) {
    if (!StartsWith(s, p)) continue;
    auto segs = Split(p, '/');
    std::string env;
    for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
      if (!it->empty()) {
        env = *it;
        break;
      }
    }
    std::string rest = s.substr(p.size());
    std::string service = rest.substr(0, rest.find('/'));
    if (rest.find('/') == std::string::npos && s[0] != '/') service.clear();  // "app/<env>/KEY"
    return {env, service};
  }
  return {};
}

std::string LiveDigest(const json& body) {
  return Sha256Hex(NormalizeApp(body).dump(-1, ' ', false, json::error_handler_t::replace));
}

bool Labelled(const json& body, const std::string& platform) {
  return body.is_object() && body.contains("labels") && body["labels"].is_object() &&
         body["labels"].value(kPlatformLabel, "") == platform;
}

void ShowDefaults(std::vector<FieldChange>& changes, const json& raw_before,
                  const json& raw_after) {
  for (auto& c : changes) {
    try {
      json::json_pointer p(c.pointer);
      if (!c.before_present && raw_before.is_object() && raw_before.contains(p)) {
        c.before_present = true;
        c.before = raw_before.at(p);
      }
      if (!c.after_present && raw_after.is_object() && raw_after.contains(p)) {
        c.after_present = true;
        c.after = raw_after.at(p);
      }
    } catch (const json::exception&) {
    }
  }
}

json WithRecordedLabels(json live, const json& applied) {
  for (const char* label : {kPlatformLabel, "galley.config-digest"}) {
    const json::json_pointer p(std::string("/labels/") + label);
    if (!applied.contains(p)) continue;
    if (!live.contains("labels") || !live["labels"].is_object()) live["labels"] = json::object();
    live["labels"][label] = applied.at(p);
  }
  return live;
}

}  // namespace galley::engine
