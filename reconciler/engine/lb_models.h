// SPDX-License-Identifier: Apache-2.0
// The LB models galley publishes (DESIGN §8 point 14): for each HAProxy instance declared in
// galley.yaml (`haproxy.instances`), render::LbModelToJson of render::LbModelFor at
// render::LbModelKey, galley/<platform>/haproxy/<instance>. A planned resource
// ("haproxy-model:<instance>" in the store): the planner compares the live document with this
// one (JSON pointer diffs, the "digest" member left out unless only it differs), apply writes
// it with cas on its ModifyIndex like a KV key, and deletes a model whose instance is no
// longer declared (galley wrote everything under the prefix). No instance declared: no model.
// Pure; values.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/diff.h"
#include "model/desired_state.h"
#include "model/live_state.h"

namespace galley::engine {

struct DesiredModel {
  std::string instance;  // the HAProxy instance's name
  std::string key;       // galley/<platform>/haproxy/<instance>
  std::string document;  // render::LbModelToJson: canonical, with its digest
  std::string digest;    // "sha256:<hex>", the document's "digest" member
  // The size of the KV value apply writes (render/lb_model_codec.h).
  size_t stored_bytes = 0;
};

// One per declared instance, in galley.yaml order.
std::vector<DesiredModel> DesiredModels(const model::DesiredState& state);

// The planner's error for a model whose stored value exceeds Consul's kv_max_value_size
// (render::kConsulKvMaxValueSize); "" when it fits.
std::string ModelTooLarge(const DesiredModel& model);

// Replaces each live model value under `prefix` in `kv` (as read from Consul: plain JSON or
// gzip, render/lb_model_codec.h) by its document, so the planner, drift and status compare
// documents. A value that cannot be decoded becomes "(unreadable) <error>" (not a JSON
// object: the planner replaces it) and its error is added to `warnings`.
void DecodeLiveModels(const std::string& prefix, std::map<std::string, model::LiveKvEntry>* kv,
                      std::vector<std::string>* warnings);

// "galley/<platform>/haproxy/": the prefix observe recurses once for the live models.
std::string ModelPrefix(const std::string& platform);
// Whether `key` is a model key under `prefix` (one segment after it, not a deeper key).
bool IsModelKey(const std::string& prefix, const std::string& key);

// The field changes from the live document `live_text` to `desired` (a DesiredModel's
// document): JSON pointer diffs of the parsed documents without their "digest" members; when
// only the digest differs (a hand edit of the digest alone), the change of "/digest"; when the
// live text is not a JSON object, one change of the whole document ("" → the pointer).
std::vector<FieldChange> ModelChanges(const std::string& live_text, const std::string& desired);
// Every leaf of `document` (without "digest") as an addition: what creating it shows.
std::vector<FieldChange> ModelFields(const std::string& document);
// The "digest" member of a model document as it is written ("" when it has none or is not
// JSON); render::ParseLbModel is what checks it.
std::string DocumentDigest(const std::string& text);

}  // namespace galley::engine
