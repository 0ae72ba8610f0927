// SPDX-License-Identifier: Apache-2.0
#include "base/time_text.h"

#include <cstdint>
#include <cstdio>

#include <time.h>

namespace galley {

std::string FormatTimestamp(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::floor<std::chrono::milliseconds>(t).time_since_epoch().count();
  int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  int millis = static_cast<int>(ms - secs * 1000);
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

std::optional<std::chrono::system_clock::time_point> ParseTimestamp(std::string_view s) {
  // strptime wants a NUL-terminated string, and a bound keeps hostile text cheap.
  if (s.size() < 20 || s.size() > 40) return std::nullopt;
  const std::string text(s);
  std::tm tm{};
  const char* rest = ::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return std::nullopt;
  int ms = 0;
  if (*rest == '.') {
    ++rest;
    int digits = 0;
    for (; *rest >= '0' && *rest <= '9'; ++rest, ++digits) {
      if (digits < 3) ms = ms * 10 + (*rest - '0');
    }
    if (digits == 0 || digits > 9) return std::nullopt;
    for (; digits < 3; ++digits) ms *= 10;
  }
  if (rest[0] != 'Z' || rest[1] != '\0') return std::nullopt;
  return std::chrono::system_clock::time_point(std::chrono::seconds(::timegm(&tm)) +
                                               std::chrono::milliseconds(ms));
}

std::optional<std::chrono::milliseconds> Elapsed(std::string_view from, std::string_view to) {
  auto a = ParseTimestamp(from), b = ParseTimestamp(to);
  if (!a || !b || *b < *a) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::milliseconds>(*b - *a);
}

std::string FormatElapsed(std::chrono::milliseconds d) {
  long long v = d.count() < 0 ? 0 : static_cast<long long>(d.count());
  char buf[48];
  if (v < 60000) {
    std::snprintf(buf, sizeof buf, "%lld.%llds", v / 1000, v % 1000 / 100);
  } else if (v < 3600000) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", v / 60000, v % 60000 / 1000);
  } else {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", v / 3600000, v % 3600000 / 60000);
  }
  return buf;
}

}  // namespace galley
