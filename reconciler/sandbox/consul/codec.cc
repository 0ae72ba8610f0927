// SPDX-License-Identifier: Apache-2.0
// Codec helpers (see codec.h): Go-compatible parsing and printing, pure functions.
#include "sandbox/consul/codec.h"

#include <cmath>
#include <cstdio>
#include <mutex>
#include <random>

namespace galley::sandbox::consul {

namespace {

std::string GoQuote(std::string_view s) { return "\"" + std::string(s) + "\""; }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

Result<uint64_t> ParseUint64(std::string_view s) {
  auto syntax = [&] {
    return Status::InvalidArgument("strconv.ParseUint: parsing " + GoQuote(s) + ": invalid syntax");
  };
  if (s.empty()) return syntax();
  uint64_t v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return syntax();
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) {
      return Status::InvalidArgument("strconv.ParseUint: parsing " + GoQuote(s) +
                                     ": value out of range");
    }
    v = v * 10 + d;
  }
  return v;
}

Result<bool> ParseGoBool(std::string_view s) {
  if (s == "1" || s == "t" || s == "T" || s == "TRUE" || s == "true" || s == "True") return true;
  if (s == "0" || s == "f" || s == "F" || s == "FALSE" || s == "false" || s == "False")
    return false;
  return Status::InvalidArgument("strconv.ParseBool: parsing " + GoQuote(s) + ": invalid syntax");
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool EqualFold(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

namespace {
std::string FoldKey(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '_') continue;
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

const char* JsonTypeName(const nlohmann::json& v) {
  if (v.is_string()) return "string";
  if (v.is_boolean()) return "bool";
  if (v.is_number()) return "number";
  if (v.is_array()) return "array";
  if (v.is_object()) return "object";
  return "null";
}

Status TypeError(const nlohmann::json& v, std::string_view name, const char* go_type) {
  return Status::InvalidArgument(std::string("json: cannot unmarshal ") + JsonTypeName(v) +
                                 " into Go struct field " + std::string(name) + " of type " +
                                 go_type);
}
}  // namespace

const nlohmann::json* Field(const nlohmann::json& obj, std::string_view name) {
  if (!obj.is_object()) return nullptr;
  auto exact = obj.find(std::string(name));
  if (exact != obj.end()) return &*exact;
  std::string want = FoldKey(name);
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (FoldKey(it.key()) == want) return &it.value();
  }
  return nullptr;
}

Status GetString(const nlohmann::json& obj, std::string_view name, std::string* out) {
  const nlohmann::json* v = Field(obj, name);
  if (!v || v->is_null()) return Status::Ok();
  if (!v->is_string()) return TypeError(*v, name, "string");
  *out = v->get<std::string>();
  return Status::Ok();
}

Status GetBool(const nlohmann::json& obj, std::string_view name, bool* out) {
  const nlohmann::json* v = Field(obj, name);
  if (!v || v->is_null()) return Status::Ok();
  if (!v->is_boolean()) return TypeError(*v, name, "bool");
  *out = v->get<bool>();
  return Status::Ok();
}

Status GetInt(const nlohmann::json& obj, std::string_view name, int64_t* out) {
  const nlohmann::json* v = Field(obj, name);
  if (!v || v->is_null()) return Status::Ok();
  if (v->is_number_integer()) {
    *out = v->get<int64_t>();
    return Status::Ok();
  }
  if (v->is_number_float()) {
    double d = v->get<double>();
    if (d == std::floor(d) && std::fabs(d) < 9e18) {
      *out = static_cast<int64_t>(d);
      return Status::Ok();
    }
  }
  return TypeError(*v, name, "int");
}

Status GetUint(const nlohmann::json& obj, std::string_view name, uint64_t* out) {
  const nlohmann::json* v = Field(obj, name);
  if (!v || v->is_null()) return Status::Ok();
  if (v->is_number_unsigned()) {
    *out = v->get<uint64_t>();
    return Status::Ok();
  }
  if (v->is_number_integer() && v->get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(v->get<int64_t>());
    return Status::Ok();
  }
  if (v->is_number_float()) {
    double d = v->get<double>();
    if (d >= 0 && d == std::floor(d) && d < 1.8e19) {
      *out = static_cast<uint64_t>(d);
      return Status::Ok();
    }
  }
  return TypeError(*v, name, "uint64");
}

Status GetStringList(const nlohmann::json& obj, std::string_view name,
                     std::vector<std::string>* out) {
  const nlohmann::json* v = Field(obj, name);
  if (!v || v->is_null()) return Status::Ok();
  if (!v->is_array()) return TypeError(*v, name, "[]string");
  std::vector<std::string> list;
  for (const auto& e : *v) {
    if (!e.is_string()) return TypeError(e, name, "string");
    list.push_back(e.get<std::string>());
  }
  *out = std::move(list);
  return Status::Ok();
}

Status GetStringMap(const nlohmann::json& obj, std::string_view name,
                    std::map<std::string, std::string>* out) {
  const nlohmann::json* v = Field(obj, name);
  if (!v || v->is_null()) return Status::Ok();
  if (!v->is_object()) return TypeError(*v, name, "map[string]string");
  std::map<std::string, std::string> m;
  for (auto it = v->begin(); it != v->end(); ++it) {
    if (!it.value().is_string()) return TypeError(it.value(), name, "string");
    m[it.key()] = it.value().get<std::string>();
  }
  *out = std::move(m);
  return Status::Ok();
}

Status GetDuration(const nlohmann::json& obj, std::string_view name, Duration* out) {
  const nlohmann::json* v = Field(obj, name);
  if (!v || v->is_null()) return Status::Ok();
  if (v->is_string()) {
    auto d = ParseGoDuration(v->get<std::string>());
    if (!d.ok()) return d.status();
    *out = *d;
    return Status::Ok();
  }
  if (v->is_number()) {
    *out = Duration(static_cast<int64_t>(v->get<double>()));
    if (v->is_number_integer()) *out = Duration(v->get<int64_t>());
    return Status::Ok();
  }
  return TypeError(*v, name, "time.Duration");
}

std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void AppendJsonString(std::string* out, std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          *out += "\\\"";
          break;
        case '\\':
          *out += "\\\\";
          break;
        case '\n':
          *out += "\\n";
          break;
        case '\r':
          *out += "\\r";
          break;
        case '\t':
          *out += "\\t";
          break;
        default:
          if (c < 0x20) {
            *out += "\\u00";
            out->push_back(kHex[c >> 4]);
            out->push_back(kHex[c & 15]);
          } else {
            out->push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    // Validate one UTF-8 sequence; invalid bytes become U+FFFD like Go's encoder.
    size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    bool ok = len != 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k)
      ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok && len == 2 && c < 0xC2) ok = false;
    if (ok && len == 3) {
      unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0)) ok = false;
    }
    if (ok && len == 4) {
      unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      if ((c == 0xF0 && c1 < 0x90) || c > 0xF4 || (c == 0xF4 && c1 >= 0x90)) ok = false;
    }
    if (ok) {
      out->append(s.substr(i, len));
      i += len;
    } else {
      *out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  out->push_back('"');
}

}  // namespace galley::sandbox::consul
