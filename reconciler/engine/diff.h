// SPDX-License-Identifier: Apache-2.0
// Field-level differences between two JSON documents, as JSON pointers with the value
// before and after ("absent" is a distinct state). Objects are compared key by key, arrays
// element by element when their lengths match, else as a whole. Pure.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace galley::engine {

struct FieldChange {
  std::string pointer;  // "/labels/version"
  bool before_present = false;
  nlohmann::json before;
  bool after_present = false;
  nlohmann::json after;
};

std::vector<FieldChange> DiffJson(const nlohmann::json& before, const nlohmann::json& after);

// Every leaf of `doc` as an added field (objects descended, arrays of objects by element,
// other arrays whole): how a create is shown.
std::vector<FieldChange> LeafFields(const nlohmann::json& doc);

}  // namespace galley::engine
