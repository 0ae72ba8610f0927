// SPDX-License-Identifier: Apache-2.0
// Times as galley writes and reads them. One timestamp format everywhere (the state store,
// plans, drift and status reports, the lock's value, the platform's apply history): ISO-8601
// UTC with milliseconds, "2026-11-27T12:00:00.123Z", which sorts and compares as text. And
// one short text for how long something took, for tables ("0.4s", "2m05s", "1h02m"). Pure;
// thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace galley {

// "2026-11-27T12:00:00.123Z" (milliseconds floored; times before 1970 too).
std::string FormatTimestamp(std::chrono::system_clock::time_point t);

// The inverse of FormatTimestamp, also taking 0 to 9 fraction digits (more than 3 are cut);
// nullopt for anything else (no 'Z', a bad field, trailing text).
std::optional<std::chrono::system_clock::time_point> ParseTimestamp(std::string_view s);

// How long from `from` to `to` (both FormatTimestamp's text); nullopt when either does not
// parse or `to` is earlier.
std::optional<std::chrono::milliseconds> Elapsed(std::string_view from, std::string_view to);

// Under a minute with tenths ("0.4s", "12.3s"), then minutes and seconds ("2m05s"), then
// hours and minutes ("1h02m"); lower units are cut, not rounded. Negative counts as 0.
std::string FormatElapsed(std::chrono::milliseconds d);

}  // namespace galley
