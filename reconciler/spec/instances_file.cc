// SPDX-License-Identifier: Apache-2.0
#include "spec/instances_file.h"

#include <memory>

#include <nlohmann/json.hpp>

#include "base/file_io.h"
#include "base/strings.h"

namespace galley::spec {
namespace {

constexpr size_t kMaxInstancesBytes = 64u << 20;

}  // namespace

std::optional<model::Instances> ParseInstances(const std::string& display_name,
                                               const std::string& text, Diagnostics& diags) {
  using json = nlohmann::json;
  diags.AddSource(display_name, std::make_shared<const std::string>(text));
  SourcePos file_pos{display_name, 0, 0};
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    std::string msg = e.what();
    size_t colon = msg.rfind(": ");
    diags.Error(PosAtOffset(display_name, text, e.byte > 0 ? e.byte - 1 : 0),
                "invalid JSON" + (colon == std::string::npos ? "" : msg.substr(colon)),
                "the JSON that Consul's /v1/health/service/<name> returns, keyed by service name");
    return std::nullopt;
  }
  if (!doc.is_object()) {
    diags.Error(file_pos,
                "instances file must be a JSON object, got " + std::string(doc.type_name()),
                "{\"<service>\": [<entries of /v1/health/service/<service>?passing>]}");
    return std::nullopt;
  }
  model::Instances out;
  bool ok = true;
  for (const auto& [name, entries] : doc.items()) {
    if (!entries.is_array()) {
      diags.Error(file_pos,
                  "/" + name + " must be an array, got " + std::string(entries.type_name()),
                  "the array /v1/health/service/" + name + " returns");
      ok = false;
      continue;
    }
    auto& list = out[name];
    for (size_t i = 0; i < entries.size(); ++i) {
      const json& e = entries[i];
      std::string where = "/" + name + "/" + std::to_string(i);
      const json* node = e.is_object() && e.contains("Node") ? &e["Node"] : nullptr;
      const json* svc = e.is_object() && e.contains("Service") ? &e["Service"] : nullptr;
      if (!node || !node->is_object() || !svc || !svc->is_object()) {
        diags.Error(file_pos, where + " lacks the Node and Service objects",
                    "a Consul health entry");
        ok = false;
        continue;
      }
      auto str = [](const json& o, const char* k) -> std::string {
        return o.contains(k) && o[k].is_string() ? o[k].get<std::string>() : "";
      };
      model::Instance inst;
      inst.node = str(*node, "Node");
      inst.address = str(*svc, "Address");
      if (inst.address.empty()) inst.address = str(*node, "Address");
      if (!svc->contains("Port") || !(*svc)["Port"].is_number_integer()) {
        diags.Error(file_pos, where + "/Service/Port is missing or not an integer",
                    "an integer port");
        ok = false;
        continue;
      }
      inst.port = (*svc)["Port"].get<int>();
      if (svc->contains("Tags") && (*svc)["Tags"].is_array()) {
        for (const auto& t : (*svc)["Tags"]) {
          if (t.is_string()) inst.tags.push_back(t.get<std::string>());
        }
      }
      bool passing = true;
      if (e.contains("Checks") && e["Checks"].is_array()) {
        for (const auto& c : e["Checks"]) {
          if (c.is_object() && c.contains("Status") && c["Status"] != "passing") passing = false;
        }
      }
      if (passing) list.push_back(std::move(inst));
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<model::Instances> LoadInstancesFile(const std::string& path, Diagnostics& diags) {
  auto text = ReadFileBounded(path, kMaxInstancesBytes);
  if (!text.ok()) {
    std::string msg = text.status().message();
    if (StartsWith(msg, path + ": ")) msg = msg.substr(path.size() + 2);
    diags.Error(SourcePos{path, 0, 0}, msg);
    return std::nullopt;
  }
  return ParseInstances(path, *text, diags);
}

}  // namespace galley::spec
