// SPDX-License-Identifier: Apache-2.0
#include "base/duration.h"

#include <cmath>
#include <cstdint>

namespace galley {
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

Result<std::chrono::nanoseconds> ParseGoDuration(std::string_view orig) {
  std::string_view s = orig;
  auto invalid = [&] { return Status::InvalidArgument("time: invalid duration " + GoQuote(orig)); };
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return std::chrono::nanoseconds(0);
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
    if (unit == "ns")
      mult = 1;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs")
      mult = 1e3;
    else if (unit == "ms")
      mult = 1e6;
    else if (unit == "s")
      mult = 1e9;
    else if (unit == "m")
      mult = 60e9;
    else if (unit == "h")
      mult = 3600e9;
    else {
      return Status::InvalidArgument("time: unknown unit " + GoQuote(unit) + " in duration " +
                                     GoQuote(orig));
    }
    total += (static_cast<long double>(whole) + frac) * mult;
    if (total > 9.2e18L) return invalid();
  }
  auto ns = static_cast<int64_t>(std::llround(static_cast<double>(total)));
  return std::chrono::nanoseconds(neg ? -ns : ns);
}

std::string FormatGoDuration(std::chrono::nanoseconds d) {
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
    if (u < 1000ULL)
      out = std::to_string(u) + "ns";
    else if (u < 1000000ULL)
      out = fixed(u, 3) + "\xC2\xB5s";
    else
      out = fixed(u, 6) + "ms";
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

Result<std::chrono::seconds> ParseDuration(std::string_view s) {
  ASSIGN_OR_RETURN(std::chrono::nanoseconds go, ParseGoDuration(s));
  (void)go;
  // Within Go's grammar: whole numbers of h, m and s, descending, each at most once.
  auto limit = [&](const char* what) {
    return Status::InvalidArgument("duration " + GoQuote(s) + ": " + what +
                                   " (galley takes whole hours, minutes "
                                   "and seconds in that order, such as 1h30m or 1h0m5s)");
  };
  int64_t total = 0;
  int last_rank = 4;  // h=3, m=2, s=1
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && IsDigit(s[i])) ++i;
    if (i == start) return limit(s[i] == '-' || s[i] == '+' ? "a sign" : "a fraction");
    if (i - start > 9) return limit("more than 9 digits");
    if (i >= s.size()) return limit("a number without a unit");
    int64_t n = 0;
    for (size_t k = start; k < i; ++k) n = n * 10 + (s[k] - '0');
    size_t u = i;
    while (u < s.size() && !IsDigit(s[u]) && s[u] != '.') ++u;
    std::string_view unit = s.substr(i, u - i);
    int rank = unit == "h" ? 3 : unit == "m" ? 2 : unit == "s" ? 1 : 0;
    if (rank == 0)
      return limit(u < s.size() && s[u] == '.' ? "a fraction" : "a unit shorter than a second");
    if (rank >= last_rank) return limit("units out of order");
    last_rank = rank;
    total += n * (rank == 3 ? 3600 : rank == 2 ? 60 : 1);
    i = u;
  }
  return std::chrono::seconds(total);
}

}  // namespace galley
