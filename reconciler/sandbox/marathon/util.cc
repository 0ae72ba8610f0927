// SPDX-License-Identifier: Apache-2.0
#include "sandbox/marathon/util.h"

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <random>

namespace galley::sandbox::marathon {

std::string FormatTimestamp(int64_t unix_millis) {
  time_t secs = static_cast<time_t>(unix_millis / 1000);
  int millis = static_cast<int>(unix_millis % 1000);
  if (millis < 0) {
    millis += 1000;
    --secs;
  }
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string NextVersion() {
  static std::mutex mu;
  static int64_t last = 0;
  std::lock_guard<std::mutex> lock(mu);
  int64_t now = NowMillis();
  if (now <= last) now = last + 1;
  last = now;
  return FormatTimestamp(now);
}

std::optional<int64_t> ParseTimestamp(std::string_view s) {
  int y, mo, d, h, mi, sec, consumed = 0;
  std::string str(s);
  if (std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
                  &consumed) != 6) {
    return std::nullopt;
  }
  if (consumed != 19) return std::nullopt;
  size_t i = 19;
  int millis = 0;
  if (i < str.size() && str[i] == '.') {
    ++i;
    int digits = 0;
    int frac = 0;
    while (i < str.size() && str[i] >= '0' && str[i] <= '9') {
      if (digits < 3) frac = frac * 10 + (str[i] - '0');
      ++digits;
      ++i;
    }
    if (digits == 0) return std::nullopt;
    for (int k = digits; k < 3; ++k) frac *= 10;
    millis = frac;
  }
  std::string rest = str.substr(i);
  if (rest != "Z" && rest != "+00:00" && rest != "+0000") return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  struct tm tm {};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  int64_t secs = static_cast<int64_t>(timegm(&tm));
  return secs * 1000 + millis;
}

bool QueryBool(const net::HttpRequest& req, std::string_view name, bool absent) {
  auto v = req.Query(name);
  if (!v) return absent;
  if (v->size() != 4) return false;
  std::string lower;
  for (char c : *v) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return lower == "true";
}

net::HttpResponse Error(int status, const std::string& message) {
  return net::HttpResponse::Json(status, Json{{"message", message}}.dump());
}

net::HttpResponse JsonResponse(int status, const Json& body) {
  return net::HttpResponse::Json(status, body.dump(-1, ' ', false, Json::error_handler_t::replace));
}

net::HttpResponse RawJson(int status, std::string body) {
  return net::HttpResponse::Json(status, std::move(body));
}

net::HttpResponse TooDeep() {
  return JsonResponse(400, {{"message", "Invalid JSON"},
                            {"details", "Document nesting depth exceeds the maximum allowed (" +
                                            std::to_string(kMaxJsonDepth) + ")"}});
}

bool IsJsonNumber(const Json& j) { return j.is_number(); }

}  // namespace galley::sandbox::marathon
