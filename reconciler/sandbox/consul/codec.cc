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

// Parses leading digits into *v (saturating); returns how many were consumed.
size_t LeadingInt(std::string_view s, uint64_t* v, bool* overflow) {
  size_t i = 0;
  *v = 0;
  for (; i < s.size() && IsDigit(s[i]); ++i) {
    if (*v > (UINT64_MAX - 9) / 10) *overflow = true;
    *v = *v * 10 + static_cast<uint64_t>(s[i] - '0');
  }
  return i;
}

}  // namespace

Result<Duration> ParseGoDuration(std::string_view orig) {
  std::string_view s = orig;
  auto invalid = [&] { return Status::InvalidArgument("time: invalid duration " + GoQuote(orig)); };
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return Duration(0);
  if (s.empty()) return invalid();
  long double total = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || IsDigit(s[0]))) return invalid();
    uint64_t whole = 0;
    bool overflow = false;
    size_t n = LeadingInt(s, &whole, &overflow);
    if (overflow) return invalid();
    bool pre = n > 0;
    s.remove_prefix(n);
    long double frac = 0;
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      long double scale = 1;
      size_t i = 0;
      for (; i < s.size() && IsDigit(s[i]); ++i) {
        scale /= 10;
        frac += (s[i] - '0') * scale;
      }
      post = i > 0;
      s.remove_prefix(i);
    }
    if (!pre && !post) return invalid();
    size_t u = 0;
    while (u < s.size() && s[u] != '.' && !IsDigit(s[u])) ++u;
    if (u == 0) return Status::InvalidArgument("time: missing unit in duration " + GoQuote(orig));
    std::string_view unit = s.substr(0, u);
    s.remove_prefix(u);
    long double mult;
    if (unit == "ns") mult = 1;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") mult = 1e3;
    else if (unit == "ms") mult = 1e6;
    else if (unit == "s") mult = 1e9;
    else if (unit == "m") mult = 60e9;
    else if (unit == "h") mult = 3600e9;
    else {
      return Status::InvalidArgument("time: unknown unit " + GoQuote(unit) + " in duration " + GoQuote(orig));
    }
    total += (static_cast<long double>(whole) + frac) * mult;
    if (total > 9.2e18L) return invalid();
  }
  auto ns = static_cast<int64_t>(std::llround(static_cast<double>(total)));
  return Duration(neg ? -ns : ns);
}

std::string FormatGoDuration(Duration d) {
  int64_t v = d.count();
  if (v == 0) return "0s";
  bool neg = v < 0;
  uint64_t u = neg ? static_cast<uint64_t>(-(v + 1)) + 1 : static_cast<uint64_t>(v);
  // Prints u / 10^prec with the fraction's trailing zeros removed.
  auto fixed = [](uint64_t value, int prec) {
    uint64_t pow = 1;
    for (int i = 0; i < prec; ++i) pow *= 10;
    std::string out = std::to_string(value / pow);
    uint64_t frac = value % pow;
    if (frac != 0) {
      std::string f = std::to_string(frac);
      f = std::string(static_cast<size_t>(prec) - f.size(), '0') + f;
      while (!f.empty() && f.back() == '0') f.pop_back();
      out += "." + f;
    }
    return out;
  };
  std::string out;
  if (u < 1000000000ULL) {
    if (u < 1000ULL) out = std::to_string(u) + "ns";
    else if (u < 1000000ULL) out = fixed(u, 3) + "\xC2\xB5s";
    else out = fixed(u, 6) + "ms";
  } else {
    uint64_t secs_ns = u % 60000000000ULL;
    out = fixed(secs_ns, 9) + "s";
    uint64_t mins = u / 60000000000ULL;
    if (mins > 0) {
      out = std::to_string(mins % 60) + "m" + out;
      uint64_t hours = mins / 60;
      if (hours > 0) out = std::to_string(hours) + "h" + out;
    }
  }
  return neg ? "-" + out : out;
}

Result<uint64_t> ParseUint64(std::string_view s) {
  auto syntax = [&] { return Status::InvalidArgument("strconv.ParseUint: parsing " + GoQuote(s) + ": invalid syntax"); };
  if (s.empty()) return syntax();
  uint64_t v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return syntax();
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) {
      return Status::InvalidArgument("strconv.ParseUint: parsing " + GoQuote(s) + ": value out of range");
    }
    v = v * 10 + d;
  }
  return v;
}

Result<bool> ParseGoBool(std::string_view s) {
  if (s == "1" || s == "t" || s == "T" || s == "TRUE" || s == "true" || s == "True") return true;
  if (s == "0" || s == "f" || s == "F" || s == "FALSE" || s == "false" || s == "False") return false;
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
  return Status::InvalidArgument(std::string("json: cannot unmarshal ") + JsonTypeName(v) + " into Go struct field " +
                                 std::string(name) + " of type " + go_type);
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

Status GetStringList(const nlohmann::json& obj, std::string_view name, std::vector<std::string>* out) {
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

Status GetStringMap(const nlohmann::json& obj, std::string_view name, std::map<std::string, std::string>* out) {
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

std::string Dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

void AppendJsonString(std::string* out, std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': *out += "\\\""; break;
        case '\\': *out += "\\\\"; break;
        case '\n': *out += "\\n"; break;
        case '\r': *out += "\\r"; break;
        case '\t': *out += "\\t"; break;
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
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
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
