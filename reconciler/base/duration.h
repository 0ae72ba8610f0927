// SPDX-License-Identifier: Apache-2.0
// Durations. galley's own grammar, for command-line flags (--deadline, --lock-timeout) and
// the YAML files alike (health check intervals, kill grace, ...), is ParseDuration: whole
// hours, minutes and seconds in that order, each at most once — "30s", "5m", "1h30m",
// "1h0m5s", "0s" (what schema/README.md and the JSON Schemas describe). It is Go's
// time.ParseDuration grammar narrowed, parsed by the same code: ParseGoDuration, the full Go
// grammar (fractions, any order, ns to h, a sign, a bare "0"), which the Consul emulator
// speaks since Consul does. Errors carry Go's text (`time: invalid duration "x"`,
// `time: missing unit in duration "10"`, `time: unknown unit "d" in duration "1d"`), or say
// which of galley's limits a Go duration breaks. Pure.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "base/status.h"

namespace galley {

// galley's grammar; at most 9 digits per unit, never negative.
Result<std::chrono::seconds> ParseDuration(std::string_view s);

// Go's time.ParseDuration.
Result<std::chrono::nanoseconds> ParseGoDuration(std::string_view s);
// Go's time.Duration.String(): "24h0m0s", "1m30s", "1.5s", "500ms", "0s".
std::string FormatGoDuration(std::chrono::nanoseconds d);

}  // namespace galley
