// SPDX-License-Identifier: Apache-2.0
#include "engine/lb_models.h"

#include "render/lb_model.h"
#include "render/lb_model_codec.h"

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
    d.stored_bytes = render::EncodeLbModelValue(d.document).size();
    out.push_back(std::move(d));
  }
  return out;
}

std::string ModelTooLarge(const DesiredModel& model) {
  if (model.stored_bytes <= render::kConsulKvMaxValueSize) return "";
  return "the LB model of HAProxy instance " + model.instance + " (" + model.key + ") is " +
         std::to_string(model.stored_bytes) + " bytes stored (" +
         std::to_string(model.document.size()) +
         " bytes of JSON, gzip-compressed), over Consul's kv_max_value_size (" +
         std::to_string(render::kConsulKvMaxValueSize) +
         " bytes by default): not published; split the platform's services over more HAProxy "
         "instances or raise the limit";
}

void DecodeLiveModels(const std::string& prefix, std::map<std::string, model::LiveKvEntry>* kv,
                      std::vector<std::string>* warnings) {
  for (auto& [key, entry] : *kv) {
    if (!IsModelKey(prefix, key) || !render::IsGzipValue(entry.value)) continue;
    auto document = render::DecodeLbModelValue(entry.value, key);
    if (document.ok()) {
      entry.value = std::move(document).value();
    } else {
      warnings->push_back(document.status().message());
      entry.value = "(unreadable) " + document.status().message();
    }
  }
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
