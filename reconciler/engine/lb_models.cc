// SPDX-License-Identifier: Apache-2.0
#include "engine/lb_models.h"

#include "render/lb_model.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

json WithoutDigest(json doc) {
  if (doc.is_object()) doc.erase("digest");
  return doc;
}

}  // namespace

std::vector<DesiredModel> DesiredModels(const model::DesiredState& state) {
  std::vector<DesiredModel> out;
  for (const auto& instance : state.platform.haproxy) {
    render::LbModel m = render::LbModelFor(state, instance);
    DesiredModel d;
    d.instance = instance.name;
    d.key = render::LbModelKey(state.platform.name, instance.name);
    d.document = render::LbModelToJson(m);
    d.digest = render::LbModelDigest(m);
    out.push_back(std::move(d));
  }
  return out;
}

std::string ModelPrefix(const std::string& platform) { return "galley/" + platform + "/haproxy/"; }

bool IsModelKey(const std::string& prefix, const std::string& key) {
  return key.size() > prefix.size() && key.compare(0, prefix.size(), prefix) == 0 &&
         key.find('/', prefix.size()) == std::string::npos;
}

std::vector<FieldChange> ModelChanges(const std::string& live_text, const std::string& desired) {
  json want = json::parse(desired, nullptr, false);
  json have = json::parse(live_text, nullptr, false);
  if (!have.is_object()) {
    // Not galley's document any more: shown whole (bounded), replaced whole.
    std::string shown = live_text.size() > 200 ? live_text.substr(0, 200) + "…" : live_text;
    return {FieldChange{"", true, json("(not a JSON object) " + shown), true,
                        json("the model galley renders")}};
  }
  std::vector<FieldChange> changes = DiffJson(WithoutDigest(have), WithoutDigest(want));
  if (changes.empty() && have != want) {
    FieldChange c{"/digest", have.contains("digest"), have.value("digest", json()), true,
                  want.value("digest", json())};
    changes.push_back(std::move(c));
  }
  return changes;
}

std::vector<FieldChange> ModelFields(const std::string& document) {
  return LeafFields(WithoutDigest(json::parse(document, nullptr, false)));
}

std::string DocumentDigest(const std::string& text) {
  json doc = json::parse(text, nullptr, false);
  if (!doc.is_object() || !doc.contains("digest") || !doc["digest"].is_string()) return "";
  return doc["digest"].get<std::string>();
}

}  // namespace galley::engine
