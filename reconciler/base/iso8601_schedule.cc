// SPDX-License-Identifier: Apache-2.0
#include "base/iso8601_schedule.h"

#include <cctype>
#include <cstdio>

namespace galley::iso8601 {
namespace {

constexpr int64_t kMsPerMinute = 60'000, kMsPerHour = 3'600'000, kMsPerDay = 86'400'000;

// Days since 1970-01-01 of a proleptic Gregorian date, and back.
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}
void CivilFromDays(int64_t z, int64_t* y, int64_t* m, int64_t* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yoe + era * 400 + (*m <= 2);
}
bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
int DaysInMonth(int64_t y, int64_t m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}
int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Reads exactly `n` digits at s[*i].
bool Digits(std::string_view s, size_t* i, int n, int64_t* out) {
  if (*i + n > s.size()) return false;
  int64_t v = 0;
  for (int k = 0; k < n; ++k) {
    char c = s[*i + k];
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    v = v * 10 + (c - '0');
  }
  *i += n;
  *out = v;
  return true;
}

// "Z", "+01:00", "+0100", "+01"; true and *minutes set, or false.
bool ParseOffset(std::string_view s, int* minutes) {
  if (s == "Z") {
    *minutes = 0;
    return true;
  }
  if (s.size() < 3 || (s[0] != '+' && s[0] != '-')) return false;
  size_t i = 1;
  int64_t h = 0, m = 0;
  if (!Digits(s, &i, 2, &h)) return false;
  if (i < s.size() && s[i] == ':') ++i;
  if (i < s.size() && !Digits(s, &i, 2, &m)) return false;
  if (i != s.size() || h > 18 || m > 59) return false;
  *minutes = static_cast<int>((s[0] == '-' ? -1 : 1) * (h * 60 + m));
  return true;
}

}  // namespace

bool Period::IsZero() const {
  return years == 0 && months == 0 && weeks == 0 && days == 0 && hours == 0 && minutes == 0 &&
         millis == 0;
}

int64_t Period::ApproxMillis() const {
  return years * 366 * kMsPerDay + months * 31 * kMsPerDay + weeks * 7 * kMsPerDay +
         days * kMsPerDay + hours * kMsPerHour + minutes * kMsPerMinute + millis;
}

Result<Period> ParsePeriod(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("'" + std::string(text) + "' is not an ISO 8601 period (" + why +
                                   "; e.g. P1D, PT30M, P1W)");
  };
  if (text.empty() || text[0] != 'P') return bad("it must start with P");
  Period p;
  bool in_time = false;
  size_t i = 1;
  std::string order_date = "YMWD", order_time = "HMS";
  size_t date_pos = 0, time_pos = 0;
  while (i < text.size()) {
    if (text[i] == 'T') {
      if (in_time) return bad("T twice");
      in_time = true;
      ++i;
      if (i == text.size()) return bad("nothing after T");
      continue;
    }
    size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    if (i == start) return bad("a number is missing");
    if (i - start > 9) return bad("a number is too large");
    int64_t whole = std::stoll(std::string(text.substr(start, i - start)));
    int64_t frac_ms = 0;
    bool has_frac = false;
    if (i < text.size() && (text[i] == '.' || text[i] == ',')) {
      has_frac = true;
      ++i;
      size_t fs = i;
      while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
      if (i == fs) return bad("a fraction has no digits");
      std::string f(text.substr(fs, std::min<size_t>(3, i - fs)));
      while (f.size() < 3) f += '0';
      frac_ms = std::stoll(f);
    }
    if (i == text.size()) return bad("a number has no unit");
    char unit = text[i++];
    const std::string& order = in_time ? order_time : order_date;
    size_t& pos = in_time ? time_pos : date_pos;
    size_t at = order.find(unit, pos);
    if (at == std::string::npos) {
      return bad(order.find(unit) != std::string::npos
                     ? "units out of order or repeated"
                     : std::string("unknown unit '") + unit + "'" + (in_time ? "" : " before T"));
    }
    pos = at + 1;
    if (has_frac && !(in_time && unit == 'S')) return bad("only seconds may have a fraction");
    if (!in_time) {
      if (unit == 'Y') p.years = whole;
      if (unit == 'M') p.months = whole;
      if (unit == 'W') p.weeks = whole;
      if (unit == 'D') p.days = whole;
    } else {
      if (unit == 'H') p.hours = whole;
      if (unit == 'M') p.minutes = whole;
      if (unit == 'S') p.millis = whole * 1000 + frac_ms;
    }
  }
  return p;
}

std::string FormatPeriod(const Period& p) {
  if (p.IsZero()) return "PT0S";
  std::string out = "P";
  auto add = [&](int64_t v, char u) {
    if (v) out += std::to_string(v) + u;
  };
  add(p.years, 'Y');
  add(p.months, 'M');
  add(p.weeks, 'W');
  add(p.days, 'D');
  if (p.hours || p.minutes || p.millis) {
    out += 'T';
    add(p.hours, 'H');
    add(p.minutes, 'M');
    if (p.millis) {
      out += std::to_string(p.millis / 1000);
      if (p.millis % 1000) {
        char buf[8];
        std::snprintf(buf, sizeof buf, ".%03lld", static_cast<long long>(p.millis % 1000));
        std::string f = buf;
        while (f.back() == '0') f.pop_back();
        out += f;
      }
      out += 'S';
    }
  }
  return out;
}

Result<int64_t> ParseStart(std::string_view text, int* offset_minutes) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("'" + std::string(text) + "' is not an ISO 8601 date-time (" +
                                   why + "; e.g. 2026-01-01T03:00:00Z)");
  };
  size_t i = 0;
  int64_t y = 1970, mo = 1, d = 1, h = 0, mi = 0, sec = 0, ms = 0;
  if (!text.empty() && text[0] != 'T') {
    if (!Digits(text, &i, 4, &y)) return bad("the year needs 4 digits");
    if (i >= text.size() || text[i] != '-') return bad("expected '-' after the year");
    ++i;
    if (!Digits(text, &i, 2, &mo) || mo < 1 || mo > 12) return bad("bad month");
    if (i >= text.size() || text[i] != '-') return bad("expected '-' after the month");
    ++i;
    if (!Digits(text, &i, 2, &d) || d < 1 || d > DaysInMonth(y, mo)) return bad("bad day");
  }
  if (i < text.size() && text[i] == 'T') {
    ++i;
    if (!Digits(text, &i, 2, &h) || h > 23) return bad("bad hour");
    if (i >= text.size() || text[i] != ':') return bad("expected ':' after the hour");
    ++i;
    if (!Digits(text, &i, 2, &mi) || mi > 59) return bad("bad minute");
    if (i < text.size() && text[i] == ':') {
      ++i;
      if (!Digits(text, &i, 2, &sec) || sec > 59) return bad("bad second");
      if (i < text.size() && (text[i] == '.' || text[i] == ',')) {
        ++i;
        size_t fs = i;
        while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
        if (i == fs || i - fs > 9) return bad("bad fraction");
        std::string f(text.substr(fs, std::min<size_t>(3, i - fs)));
        while (f.size() < 3) f += '0';
        ms = std::stoll(f);
      }
    }
  } else if (text.empty()) {
    return bad("empty");
  }
  int off = 0;
  if (i < text.size() && !ParseOffset(text.substr(i), &off)) return bad("bad UTC offset");
  *offset_minutes = off;
  int64_t local =
      DaysFromCivil(y, mo, d) * kMsPerDay + h * kMsPerHour + mi * kMsPerMinute + sec * 1000 + ms;
  return local - off * kMsPerMinute;
}

Result<Schedule> ParseSchedule(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("schedule '" + std::string(text) +
                                   "' is not R[n]/start/period (" + why + ")");
  };
  if (text.empty() || text[0] != 'R') return bad("it must start with R");
  size_t s1 = text.find('/');
  if (s1 == std::string_view::npos) return bad("no '/' after the repeat count");
  size_t s2 = text.rfind('/');
  if (s2 == s1) return bad("no '/' before the period");
  Schedule s;
  std::string_view rep = text.substr(1, s1 - 1);
  if (!rep.empty()) {
    if (rep.size() > 12) return bad("repeat count too large");
    for (char c : rep) {
      if (!std::isdigit(static_cast<unsigned char>(c)))
        return bad("the repeat count is not a number");
    }
    s.repeats = std::stoll(std::string(rep));
  }
  std::string_view start = text.substr(s1 + 1, s2 - s1 - 1);
  if (start.empty()) {
    s.start_empty = true;
  } else {
    auto st = ParseStart(start, &s.offset_minutes);
    if (!st.ok()) return bad(st.status().message());
    s.start_ms = *st;
  }
  auto p = ParsePeriod(text.substr(s2 + 1));
  if (!p.ok()) return bad(p.status().message());
  s.period = *p;
  return s;
}

std::string FormatInstant(int64_t epoch_ms, int offset_minutes) {
  int64_t local = epoch_ms + offset_minutes * kMsPerMinute;
  int64_t days = FloorDiv(local, kMsPerDay), rem = local - days * kMsPerDay;
  int64_t y, m, d;
  CivilFromDays(days, &y, &m, &d);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lld",
                static_cast<long long>(y), static_cast<long long>(m), static_cast<long long>(d),
                static_cast<long long>(rem / kMsPerHour),
                static_cast<long long>(rem % kMsPerHour / kMsPerMinute),
                static_cast<long long>(rem % kMsPerMinute / 1000),
                static_cast<long long>(rem % 1000));
  std::string out = buf;
  if (offset_minutes == 0) return out + "Z";
  int a = offset_minutes < 0 ? -offset_minutes : offset_minutes;
  std::snprintf(buf, sizeof buf, "%c%02d:%02d", offset_minutes < 0 ? '-' : '+', a / 60, a % 60);
  return out + buf;
}

std::string FormatSchedule(const Schedule& s) {
  std::string out = "R";
  if (s.repeats) out += std::to_string(*s.repeats);
  out += "/";
  if (!s.start_empty) out += FormatInstant(s.start_ms, s.offset_minutes);
  return out + "/" + FormatPeriod(s.period);
}

std::optional<int> ZoneOffsetMinutes(std::string_view zone) {
  if (zone == "UTC" || zone == "GMT" || zone == "Z" || zone == "Etc/UTC" || zone == "Etc/GMT" ||
      zone == "UCT" || zone == "Universal" || zone == "Zulu") {
    return 0;
  }
  std::string_view rest = zone;
  if (rest.substr(0, 3) == "GMT" || rest.substr(0, 3) == "UTC") rest = rest.substr(3);
  int m = 0;
  if (ParseOffset(rest, &m) && rest != "Z") return m;
  return std::nullopt;
}

void RetainFieldsInZone(Schedule* s, int offset_minutes) {
  int64_t local = s->start_ms + s->offset_minutes * kMsPerMinute;
  s->start_ms = local - offset_minutes * kMsPerMinute;
  s->offset_minutes = offset_minutes;
}

int64_t AddPeriod(int64_t t_ms, const Period& p, int offset_minutes) {
  int64_t local = t_ms + offset_minutes * kMsPerMinute;
  if (p.years || p.months || p.weeks || p.days) {
    int64_t days = FloorDiv(local, kMsPerDay), tod = local - days * kMsPerDay;
    int64_t y, m, d;
    CivilFromDays(days, &y, &m, &d);
    int64_t total = y * 12 + (m - 1) + p.years * 12 + p.months;
    y = FloorDiv(total, 12);
    m = total - y * 12 + 1;
    d = std::min<int64_t>(d, DaysInMonth(y, m));
    days = DaysFromCivil(y, m, d) + p.weeks * 7 + p.days;
    local = days * kMsPerDay + tod;
  }
  local += p.hours * kMsPerHour + p.minutes * kMsPerMinute + p.millis;
  return local - offset_minutes * kMsPerMinute;
}

std::optional<NextOccurrence> NextAfter(const Schedule& s, int64_t now_ms) {
  if (s.period.IsZero()) return std::nullopt;
  int64_t t = s.start_ms, k = 0;
  if (t > now_ms) return NextOccurrence{t, 0};
  // Jump close with the approximate length, then step exactly (the approximation is an
  // upper bound, so the jump never overshoots the answer by more than the last steps fix).
  int64_t approx = s.period.ApproxMillis();
  if (approx > 0 && now_ms - t > 4 * approx) {
    int64_t jump = (now_ms - t) / approx - 1;
    if (jump > 0) {
      Period big = s.period;
      big.years *= jump;
      big.months *= jump;
      big.weeks *= jump;
      big.days *= jump;
      big.hours *= jump;
      big.minutes *= jump;
      big.millis *= jump;
      // Month arithmetic does not compose exactly (Jan 31 + 1M + 1M != Jan 31 + 2M), so only
      // jump when the period has no years or months.
      if (!s.period.years && !s.period.months) {
        t = AddPeriod(t, big, s.offset_minutes);
        k = jump;
      }
    }
  }
  while (t <= now_ms) {
    t = AddPeriod(t, s.period, s.offset_minutes);
    ++k;
  }
  return NextOccurrence{t, k};
}

}  // namespace galley::iso8601
