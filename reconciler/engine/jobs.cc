// SPDX-License-Identifier: Apache-2.0
#include "engine/jobs.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "base/digest.h"
#include "base/iso8601_schedule.h"
#include "engine/view_text.h"
#include "render/chronos_job.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

// A scalar as text, the way Chronos (Jackson's asText) reads it: numbers and booleans as
// their JSON text; objects and arrays as "".
std::string AsText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "null";
  if (v.is_object() || v.is_array()) return "";
  return v.dump();
}
std::string Text(const json& b, const char* k, const std::string& def = "") {
  return b.contains(k) ? AsText(b[k]) : def;
}
bool Flag(const json& b, const char* k, bool def) {
  if (!b.contains(k)) return def;
  const json& v = b[k];
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0;
  if (v.is_string()) return v.get<std::string>() == "true";
  return false;
}
int64_t Integer(const json& b, const char* k, int64_t def) {
  if (!b.contains(k)) return def;
  const json& v = b[k];
  if (v.is_number()) return static_cast<int64_t>(v.get<double>());
  if (v.is_string()) return std::atoll(v.get<std::string>().c_str());
  return 0;
}
double Resource(const json& b, const char* k, double def) {
  if (!b.contains(k)) return def;
  const json& v = b[k];
  double d = 0;
  if (v.is_number()) d = v.get<double>();
  if (v.is_string()) d = std::atof(v.get<std::string>().c_str());
  return d > 0 ? d : def;
}
std::vector<std::string> Texts(const json& b, const char* k) {
  std::vector<std::string> out;
  if (b.contains(k) && b[k].is_array()) {
    for (const auto& e : b[k]) out.push_back(AsText(e));
  }
  return out;
}
std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

json Fetch(const json& b) {
  json out = json::array();
  if (b.contains("fetch") && b["fetch"].is_array()) {
    for (const auto& f : b["fetch"]) {
      if (!f.is_object()) continue;
      json e = {{"uri", Text(f, "uri")},
                {"executable", Flag(f, "executable", false)},
                {"cache", Flag(f, "cache", false)},
                {"extract", Flag(f, "extract", true)}};
      std::string of = Text(f, "output_file");
      if (!of.empty()) e["output_file"] = of;
      out.push_back(std::move(e));
    }
  }
  if (out.empty()) {  // GET /jobs synthesises fetch from uris (and the other way round)
    for (const auto& u : Texts(b, "uris")) {
      out.push_back({{"uri", u}, {"executable", false}, {"cache", false}, {"extract", true}});
    }
  }
  return out;
}

// nullopt: no container (absent, null, or without an image: Chronos 3.x ignores it).
std::optional<json> Container(const json& b) {
  if (!b.contains("container") || !b["container"].is_object()) return std::nullopt;
  const json& c = b["container"];
  if (!c.contains("image")) return std::nullopt;
  json o = {{"type", Upper(Text(c, "type", "DOCKER"))},
            {"image", Text(c, "image")},
            {"network", Text(c, "network", "HOST")}};
  if (c.contains("networkName")) o["networkName"] = Text(c, "networkName");
  o["networkInfos"] = c.contains("networkInfos") && c["networkInfos"].is_array() ? c["networkInfos"]
                                                                                 : json::array();
  json volumes = json::array();
  if (c.contains("volumes") && c["volumes"].is_array()) {
    for (const auto& v : c["volumes"]) {
      if (!v.is_object()) continue;
      json e = {{"containerPath", Text(v, "containerPath")}};
      if (v.contains("hostPath")) e["hostPath"] = Text(v, "hostPath");
      if (v.contains("mode")) e["mode"] = Upper(Text(v, "mode"));
      if (v.contains("external")) e["external"] = v["external"];
      volumes.push_back(std::move(e));
    }
  }
  o["volumes"] = volumes;
  o["forcePullImage"] = Flag(c, "forcePullImage", false);
  json params = json::array();
  if (c.contains("parameters") && c["parameters"].is_array()) {
    for (const auto& p : c["parameters"]) {
      if (p.is_object()) params.push_back({{"key", Text(p, "key")}, {"value", Text(p, "value")}});
    }
  }
  o["parameters"] = params;
  return o;
}

constexpr int64_t kMsPerDay = 24LL * 3600 * 1000;
// 2100-01-01T00:00:00Z: the grid point of a calendar period (months, years) is its first
// occurrence after this instant.
constexpr int64_t kCalendarAnchorMs = 4102444800000LL;

int64_t FixedLengthMs(const iso8601::Period& p) {
  return p.weeks * 7 * kMsPerDay + p.days * kMsPerDay + p.hours * 3600000LL + p.minutes * 60000LL +
         p.millis;
}

}  // namespace

std::string NormalizeJobSchedule(const std::string& text) {
  auto parsed = iso8601::ParseSchedule(text);
  if (!parsed.ok() || parsed->start_empty || parsed->period.IsZero()) return text;
  iso8601::Schedule s = *parsed;
  const std::string period = iso8601::FormatPeriod(s.period);
  const bool calendar = s.period.years != 0 || s.period.months != 0;
  if (s.repeats) {
    if (*s.repeats <= 0) return "R0/" + period;
    // The last occurrence: the start plus (n - 1) periods.
    int64_t n = *s.repeats - 1, t = s.start_ms;
    if (!calendar) {
      t += n * FixedLengthMs(s.period);
    } else {
      if (n > 100000) return text;  // not worth stepping through
      for (int64_t i = 0; i < n; ++i) t = iso8601::AddPeriod(t, s.period, s.offset_minutes);
    }
    return "R(last)/" + iso8601::FormatInstant(t, s.offset_minutes) + "/" + period;
  }
  int64_t anchor = s.start_ms;
  if (!calendar) {
    int64_t len = FixedLengthMs(s.period);
    anchor = ((s.start_ms % len) + len) % len;
  } else if (s.start_ms <= kCalendarAnchorMs) {
    s.repeats.reset();
    auto next = iso8601::NextAfter(s, kCalendarAnchorMs);
    if (next) anchor = next->at_ms;
  }
  return "R/" + iso8601::FormatInstant(anchor, s.offset_minutes) + "/" + period;
}

json NormalizeJob(const json& body) {
  if (!body.is_object()) return json::object();
  const json& b = body;
  json j = json::object();
  j["name"] = Text(b, "name");
  j["command"] = Text(b, "command");
  j["shell"] = Flag(b, "shell", true);
  j["executor"] = Text(b, "executor");
  j["executorFlags"] = Text(b, "executorFlags");
  j["taskInfoData"] = Text(b, "taskInfoData");
  j["retries"] = Integer(b, "retries", 2);
  j["owner"] = Text(b, "owner");
  j["ownerName"] = Text(b, "ownerName");
  j["description"] = Text(b, "description");
  j["cpus"] = Resource(b, "cpus", 0.1);
  j["mem"] = Resource(b, "mem", 128);
  j["disk"] = Resource(b, "disk", 256);
  j["disabled"] = Flag(b, "disabled", false);
  j["softError"] = Flag(b, "softError", false);
  j["dataProcessingJobType"] = Flag(b, "dataProcessingJobType", false);
  j["highPriority"] = Flag(b, "highPriority", false);
  j["runAsUser"] = Text(b, "runAsUser", "root");
  j["fetch"] = Fetch(b);
  j["arguments"] = Texts(b, "arguments");

  std::vector<std::pair<std::string, std::string>> vars;
  if (b.contains("environmentVariables") && b["environmentVariables"].is_array()) {
    for (const auto& e : b["environmentVariables"]) {
      if (e.is_object()) vars.emplace_back(Text(e, "name"), Text(e, "value"));
    }
  }
  std::stable_sort(vars.begin(), vars.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  json env = json::array();
  for (const auto& [k, v] : vars) env.push_back({{"name", k}, {"value", v}});
  j["environmentVariables"] = env;

  json constraints = json::array();
  if (b.contains("constraints") && b["constraints"].is_array()) {
    for (const auto& c : b["constraints"]) {
      if (!c.is_array() || c.size() != 3) continue;
      std::string op = AsText(c[1]);
      if (op != "EQUALS" && op != "LIKE" && op != "UNLIKE") continue;  // Chronos drops them
      constraints.push_back({AsText(c[0]), op, AsText(c[2])});
    }
  }
  j["constraints"] = constraints;
  if (auto c = Container(b)) j["container"] = *c;

  const bool has_parents = b.contains("parents");
  const bool has_schedule = b.contains("schedule");
  // A "run now" job (neither) never keeps `concurrent` (Chronos' deserializer).
  j["concurrent"] = (has_parents || has_schedule) && Flag(b, "concurrent", false);
  if (has_parents) {
    std::set<std::string> parents;
    for (auto& p : Texts(b, "parents")) parents.insert(std::move(p));
    j["parents"] = parents;
  } else if (has_schedule) {
    j["schedule"] = NormalizeJobSchedule(Text(b, "schedule"));
    j["scheduleTimeZone"] = Text(b, "scheduleTimeZone");
  } else {
    j["schedule"] = "R1//PT24H";
    j["scheduleTimeZone"] = "";
  }
  return j;
}

std::string JobDigest(const json& body) {
  return "sha256:" + Sha256Hex(SafeDump(NormalizeJob(body)));
}

std::vector<DesiredJob> DesiredJobs(const model::DesiredState& state) {
  std::vector<DesiredJob> out;
  const model::Platform& p = state.platform;
  for (const auto& env : p.environments) {
    for (const auto& s : state.services) {
      const model::ServiceEnvironment* se = s.FindEnvironment(env.name);
      if (!se) continue;
      for (const auto& job : s.jobs) {
        auto settings = job.environments.find(env.name);
        if (settings == job.environments.end()) continue;
        DesiredJob d;
        d.service = s.name;
        d.env = env.name;
        d.job = job.name;
        d.name = model::ChronosJobName(env.name, s.name, job.name);
        d.body = json::parse(render::RenderChronosJob(p, s, *se, job).dump());
        if (d.body.contains("parents"))
          d.parents = d.body["parents"].get<std::vector<std::string>>();
        d.hook = settings->second.hook;
        d.paused = s.paused || se->paused || env.paused;
        out.push_back(std::move(d));
      }
    }
  }
  return out;
}

bool IsGalleyJob(const json& body, const std::string& platform) {
  return body.is_object() && body.contains("description") && body["description"].is_string() &&
         body["description"].get<std::string>() == render::ChronosJobMarker(platform);
}

std::pair<std::string, std::string> JobOwner(const std::string& name,
                                             const std::vector<std::string>& environments,
                                             const std::set<std::string>& services) {
  std::string env;
  for (const auto& e : environments) {
    if (name.size() > e.size() + 1 && name.compare(0, e.size(), e) == 0 && name[e.size()] == '-' &&
        e.size() > env.size()) {
      env = e;
    }
  }
  if (env.empty()) return {};
  std::string rest = name.substr(env.size() + 1), service;
  for (const auto& s : services) {
    if (rest.size() > s.size() + 1 && rest.compare(0, s.size(), s) == 0 && rest[s.size()] == '-' &&
        s.size() > service.size()) {
      service = s;
    }
  }
  return {env, service};
}

std::string JobActionId(const std::string& name) { return "job:" + name; }
std::string HookActionId(const std::string& name) { return "hook:" + name; }

}  // namespace galley::engine
