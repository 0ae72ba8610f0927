// SPDX-License-Identifier: Apache-2.0
// A Chronos 3.x job as the emulator stores it: the body read the way Chronos' JobDeserializer
// reads it (unknown keys dropped, defaults for absent keys, resources as doubles, `parents`
// as a set, `parents` winning over `schedule`) and written back in JobSerializer's fixed key
// order (reference/chronos-api.md §3). Pure; thread-safe.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace galley::sandbox::chronos {

using OrderedJson = nlohmann::ordered_json;

// The server flags that fill defaults in (--user, --mesos_task_cpu/mem/disk).
struct ServerDefaults {
  std::string user = "root";
  double cpus = 0.1, mem = 128, disk = 256;
};

enum class JobKind { kScheduled, kDependent, kRunNow };

// Why a body could not be read at all: Chronos answers these from Jetty (500, an HTML page)
// because they fail inside the deserializer, before any handler.
struct DeserializeError {
  std::string message;
};

// Reads a job body. `now_iso` is used for a "run now" job (neither schedule nor parents:
// "R1/<now>/PT24H"). On error returns nullopt and sets *error.
std::optional<OrderedJson> ReadJob(const nlohmann::json& body, const ServerDefaults& defaults,
                                   const std::string& now_iso, DeserializeError* error);

JobKind KindOf(const OrderedJson& job);

// Chronos 3.x' name rule, anchored: [\w.-]+ (ASCII word characters, '.', '-').
bool ValidJobName(const std::string& name);
inline constexpr char kJobNamePattern[] = "([\\w\\.-]+)";

// What Chronos copies into a child converted to a scheduled job when its scheduled parent is
// deleted (§2.6): everything else goes back to its default.
OrderedJson ConvertedChild(const OrderedJson& child, const std::string& schedule,
                           const std::string& schedule_time_zone, const ServerDefaults& defaults);

}  // namespace galley::sandbox::chronos
