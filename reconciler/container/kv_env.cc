// SPDX-License-Identifier: Apache-2.0
#include "container/kv_env.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace galley::container {

std::string NormalizePrefix(std::string_view prefix) {
  while (!prefix.empty() && prefix.front() == '/') prefix.remove_prefix(1);
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  return std::string(prefix);
}

bool IsEnvName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

Result<std::string> DecodeBase64(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return Status::InvalidArgument("base64 value has a bad length");
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    int v = value(c);
    if (v < 0) return Status::InvalidArgument("base64 value has an invalid character");
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

Result<KvEnvironment> EnvironmentFromKv(std::string_view json_body, std::string_view prefix_in) {
  std::string prefix = NormalizePrefix(prefix_in) + "/";
  auto doc = nlohmann::json::parse(json_body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_array())
    return Status::InvalidArgument("Consul KV answer is not a JSON array");
  KvEnvironment env;
  std::map<std::string, size_t> depth;  // name → segments below the prefix of the key that set it
  for (const auto& entry : doc) {
    if (!entry.is_object() || !entry.contains("Key") || !entry["Key"].is_string()) {
      return Status::InvalidArgument("Consul KV answer has an entry without a string \"Key\"");
    }
    std::string key = entry["Key"].get<std::string>();
    if (key.compare(0, prefix.size(), prefix) != 0) {
      env.warnings.push_back("skipping key '" + key + "': not under " + prefix);
      continue;
    }
    std::string rest = key.substr(prefix.size());
    if (rest.empty() || rest.back() == '/') continue;  // the prefix itself or a folder entry
    size_t slash = rest.rfind('/');
    std::string name = slash == std::string::npos ? rest : rest.substr(slash + 1);
    size_t segments = 1 + static_cast<size_t>(std::count(rest.begin(), rest.end(), '/'));
    if (!IsEnvName(name)) {
      env.warnings.push_back("skipping key '" + key + "': '" + name +
                             "' is not a valid environment variable name");
      continue;
    }
    std::string value;
    if (entry.contains("Value") && entry["Value"].is_string()) {
      auto decoded = DecodeBase64(entry["Value"].get<std::string>());
      if (!decoded.ok()) {
        env.warnings.push_back("skipping key '" + key + "': " + decoded.status().message());
        continue;
      }
      value = std::move(decoded).value();
    } else if (entry.contains("Value") && !entry["Value"].is_null()) {
      env.warnings.push_back("skipping key '" + key + "': Value is neither a string nor null");
      continue;
    }
    if (value.find('\0') != std::string::npos) {
      env.warnings.push_back("skipping key '" + key + "': the value contains a NUL byte");
      continue;
    }
    auto it = depth.find(name);
    if (it != depth.end()) {
      if (it->second <= segments) {
        env.warnings.push_back("skipping key '" + key + "': " + name +
                               " is already set by a key nearer the prefix");
        continue;
      }
      env.warnings.push_back("key '" + key + "' sets " + name + ", replacing a deeper key");
    }
    depth[name] = segments;
    env.vars[name] = std::move(value);
  }
  return env;
}

}  // namespace galley::container
