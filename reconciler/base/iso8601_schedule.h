// SPDX-License-Identifier: Apache-2.0
// Chronos' schedules: ISO 8601 repeating intervals "R[n]/<start>/<period>" and periods
// ("P1D", "PT30M", "P1Y2M3W4DT5H6M7.5S"), as Chronos reads them (Joda, lenient start:
// offset optional, date alone, time alone = that time on 1970-01-01). Shared by the spec
// checks (galley's YAML) and the Chronos emulator (the sandbox clock decides what is due).
// Time zones: only fixed offsets ("Z", "+01:00", "-0530", "UTC", "GMT", "Etc/UTC",
// "GMT+02:00"); a start without an offset is UTC (Chronos: the JVM's default zone).
// Pure; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace galley::iso8601 {

struct Period {
  int64_t years = 0, months = 0, weeks = 0, days = 0, hours = 0, minutes = 0;
  int64_t millis = 0;  // seconds with their fraction, in milliseconds
  bool IsZero() const;
  // An upper bound of the period's length in ms (months as 31 days, years as 366).
  int64_t ApproxMillis() const;
};

struct Schedule {
  std::optional<int64_t> repeats;  // nullopt: "R" (forever); 0: never runs
  bool start_empty = false;        // "R//P1D": now
  int64_t start_ms = 0;            // UTC epoch milliseconds of the first occurrence
  int offset_minutes = 0;          // the start's UTC offset (formatting and Y/M/D arithmetic)
  Period period;
};

// "P1D", "PT1H30M", "P2W", "PT0.5S"; "P" alone is a zero period (as Joda reads it).
Result<Period> ParsePeriod(std::string_view text);
std::string FormatPeriod(const Period& p);  // canonical: "P1DT2H", "PT0S" when zero

// A start instant: "2026-01-01T03:00:00Z", "2026-01-01T03:00:00.000+01:00", "2026-01-01",
// "T05:50Z". `offset_minutes` gets the written offset (0 when none).
Result<int64_t> ParseStart(std::string_view text, int* offset_minutes);

// "R/2026-01-01T03:00:00Z/P1D", "R5/…/PT1H", "R//PT24H". Errors say what is wrong.
Result<Schedule> ParseSchedule(std::string_view text);
// Chronos' own form: "R/2026-01-01T03:00:00.000Z/P1D" (offset "+01:00" when not UTC).
std::string FormatSchedule(const Schedule& s);
std::string FormatInstant(int64_t epoch_ms, int offset_minutes);

// A time-zone id as an offset in minutes; nullopt when it is not one this module knows
// (Chronos turns unknown ids into GMT silently; galley's checks refuse them).
std::optional<int> ZoneOffsetMinutes(std::string_view zone);
// Keeps the start's wall-clock fields and puts them in `offset_minutes` (Joda's
// withZoneRetainFields, which Chronos applies for scheduleTimeZone).
void RetainFieldsInZone(Schedule* s, int offset_minutes);

// `t` plus `p`, years/months/days on the civil date at `offset_minutes` (month ends clamp,
// as Joda does), hours/minutes/seconds as durations.
int64_t AddPeriod(int64_t t_ms, const Period& p, int offset_minutes);

// The first occurrence strictly after `now_ms`, how many occurrences were passed to reach it
// (k), or nullopt when the period is zero.
struct NextOccurrence {
  int64_t at_ms;
  int64_t skipped;
};
std::optional<NextOccurrence> NextAfter(const Schedule& s, int64_t now_ms);

}  // namespace galley::iso8601
