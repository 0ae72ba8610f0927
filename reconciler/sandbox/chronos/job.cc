// SPDX-License-Identifier: Apache-2.0
#include "sandbox/chronos/job.h"

#include <cctype>
#include <cstdlib>
#include <set>

namespace galley::sandbox::chronos {
namespace {

using Json = nlohmann::json;

bool Has(const Json& b, const char* k) { return b.is_object() && b.contains(k); }

// Jackson's asText: a JSON null reads as "null", numbers and booleans as their text.
std::string Text(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "null";
  if (v.is_object() || v.is_array()) return "";
  return v.dump();
}
std::string Str(const Json& b, const char* k, const std::string& def = "") {
  return Has(b, k) ? Text(b[k]) : def;
}
bool Bool(const Json& b, const char* k, bool def) {
  if (!Has(b, k)) return def;
  const Json& v = b[k];
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0;
  if (v.is_string()) return v.get<std::string>() == "true";
  return false;
}
int64_t Int(const Json& b, const char* k, int64_t def) {
  if (!Has(b, k)) return def;
  const Json& v = b[k];
  if (v.is_number()) return static_cast<int64_t>(v.get<double>());
  if (v.is_string()) return std::atoll(v.get<std::string>().c_str());
  return 0;
}
double Resource(const Json& b, const char* k, double def) {
  if (!Has(b, k)) return def;
  const Json& v = b[k];
  double d = 0;
  if (v.is_number()) d = v.get<double>();
  if (v.is_string()) d = std::atof(v.get<std::string>().c_str());
  return d > 0 ? d : def;
}
Json StrArray(const Json& b, const char* k) {
  Json out = Json::array();
  if (Has(b, k) && b[k].is_array()) {
    for (const auto& e : b[k]) out.push_back(Text(e));
  }
  return out;
}

bool ReadFetch(const Json& b, OrderedJson* out, DeserializeError* error) {
  *out = OrderedJson::array();
  if (!Has(b, "fetch") || !b["fetch"].is_array()) return true;
  for (const auto& f : b["fetch"]) {
    if (!f.is_object() || !f.contains("uri")) {
      error->message = "fetch entry without uri";
      return false;
    }
    OrderedJson e = {{"uri", Text(f["uri"])},
                     {"executable", Bool(f, "executable", false)},
                     {"cache", Bool(f, "cache", false)},
                     {"extract", Bool(f, "extract", true)}};
    std::string of = Str(f, "output_file");
    if (!of.empty()) e["output_file"] = of;
    out->push_back(e);
  }
  return true;
}

bool ReadContainer(const Json& c, OrderedJson* out, DeserializeError* error) {
  if (!c.is_object() || !c.contains("image")) return false;  // [3.x] silently ignored
  std::string type = Str(c, "type", "DOCKER");
  for (char& ch : type) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (type != "DOCKER" && type != "MESOS") {
    error->message = "No enum constant ContainerType." + type;
    return false;
  }
  std::string network = Str(c, "network", "HOST");
  if (network != "HOST" && network != "BRIDGE" && network != "USER") {
    error->message = "No enum constant NetworkMode." + network;
    return false;
  }
  OrderedJson o = {{"type", type}, {"image", Text(c["image"])}, {"network", network}};
  if (Has(c, "networkName")) o["networkName"] = Str(c, "networkName");
  o["networkInfos"] = Has(c, "networkInfos") && c["networkInfos"].is_array()
                          ? OrderedJson::parse(c["networkInfos"].dump())
                          : OrderedJson::array();
  OrderedJson volumes = OrderedJson::array();
  if (Has(c, "volumes") && c["volumes"].is_array()) {
    for (const auto& v : c["volumes"]) {
      if (!v.is_object()) continue;
      OrderedJson e = {{"containerPath", Str(v, "containerPath")}};
      if (Has(v, "hostPath")) e["hostPath"] = Str(v, "hostPath");
      if (Has(v, "mode")) {
        std::string m = Str(v, "mode");
        for (char& ch : m) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        e["mode"] = m;
      }
      volumes.push_back(e);
    }
  }
  o["volumes"] = volumes;
  o["forcePullImage"] = Bool(c, "forcePullImage", false);
  OrderedJson params = OrderedJson::array();
  if (Has(c, "parameters") && c["parameters"].is_array()) {
    for (const auto& p : c["parameters"]) {
      if (p.is_object()) params.push_back({{"key", Str(p, "key")}, {"value", Str(p, "value")}});
    }
  }
  o["parameters"] = params;
  *out = o;
  return true;
}

}  // namespace

bool ValidJobName(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

JobKind KindOf(const OrderedJson& job) {
  if (job.contains("parents")) return JobKind::kDependent;
  return JobKind::kScheduled;
}

std::optional<OrderedJson> ReadJob(const Json& body, const ServerDefaults& d,
                                   const std::string& now_iso, DeserializeError* error) {
  error->message.clear();
  if (!body.is_object()) {
    error->message = "Can not deserialize instance of JobSchedule out of " +
                     std::string(body.type_name()) + " token";
    return std::nullopt;
  }
  if (!body.contains("name") || body["name"].is_null()) {
    error->message = "java.lang.NullPointerException (the job has no name)";
    return std::nullopt;
  }
  OrderedJson j;
  j["name"] = Text(body["name"]);
  j["command"] = Str(body, "command");
  j["shell"] = Bool(body, "shell", true);
  j["executor"] = Str(body, "executor");
  j["executorFlags"] = Str(body, "executorFlags");
  j["taskInfoData"] = Str(body, "taskInfoData");
  j["retries"] = Int(body, "retries", 2);
  j["owner"] = Str(body, "owner");
  j["ownerName"] = Str(body, "ownerName");
  j["description"] = Str(body, "description");
  j["successCount"] = Int(body, "successCount", 0);
  j["errorCount"] = Int(body, "errorCount", 0);
  j["lastSuccess"] = Str(body, "lastSuccess");
  j["lastError"] = Str(body, "lastError");
  j["cpus"] = Resource(body, "cpus", d.cpus);
  j["disk"] = Resource(body, "disk", d.disk);
  j["mem"] = Resource(body, "mem", d.mem);
  j["disabled"] = Bool(body, "disabled", false);
  j["softError"] = Bool(body, "softError", false);
  j["dataProcessingJobType"] = Bool(body, "dataProcessingJobType", false);
  j["errorsSinceLastSuccess"] = Int(body, "errorsSinceLastSuccess", 0);
  OrderedJson fetch;
  if (!ReadFetch(body, &fetch, error)) return std::nullopt;
  j["fetch"] = fetch;
  j["uris"] = OrderedJson::parse(StrArray(body, "uris").dump());
  OrderedJson env = OrderedJson::array();
  if (Has(body, "environmentVariables") && body["environmentVariables"].is_array()) {
    for (const auto& e : body["environmentVariables"]) {
      if (!e.is_object() || !e.contains("name") || !e.contains("value")) {
        error->message =
            "java.lang.NullPointerException (an environmentVariables entry needs name and value)";
        return std::nullopt;
      }
      env.push_back({{"name", Text(e["name"])}, {"value", Text(e["value"])}});
    }
  }
  j["environmentVariables"] = env;
  j["arguments"] = OrderedJson::parse(StrArray(body, "arguments").dump());
  j["highPriority"] = Bool(body, "highPriority", false);
  j["runAsUser"] = Str(body, "runAsUser", d.user);
  bool has_parents = Has(body, "parents");
  bool has_schedule = Has(body, "schedule");
  j["concurrent"] = (has_parents || has_schedule) ? Bool(body, "concurrent", false) : false;
  if (Has(body, "container") && !body["container"].is_null()) {
    OrderedJson c;
    if (ReadContainer(body["container"], &c, error)) {
      j["container"] = c;
    } else if (!error->message.empty()) {
      return std::nullopt;
    }
  }
  OrderedJson constraints = OrderedJson::array();
  if (Has(body, "constraints") && body["constraints"].is_array()) {
    for (const auto& c : body["constraints"]) {
      if (!c.is_array() || c.size() != 3) continue;
      std::string op = Text(c[1]);
      if (op != "EQUALS" && op != "LIKE" && op != "UNLIKE") continue;  // silently dropped
      constraints.push_back({Text(c[0]), op, Text(c[2])});
    }
  }
  j["constraints"] = constraints;
  if (has_parents) {
    std::set<std::string> parents;
    for (const auto& p : StrArray(body, "parents")) parents.insert(p.get<std::string>());
    j["parents"] = parents;
  } else if (has_schedule) {
    j["schedule"] = Str(body, "schedule");
    j["scheduleTimeZone"] = Str(body, "scheduleTimeZone");
  } else {
    j["schedule"] = "R1/" + now_iso + "/PT24H";
    j["scheduleTimeZone"] = "";
  }
  return j;
}

OrderedJson ConvertedChild(const OrderedJson& child, const std::string& schedule,
                           const std::string& schedule_time_zone, const ServerDefaults& d) {
  Json body = {{"name", child["name"]},
               {"schedule", schedule},
               {"scheduleTimeZone", schedule_time_zone},
               {"runAsUser", ""}};
  for (const char* k : {"command", "successCount", "errorCount", "executor", "executorFlags",
                        "taskInfoData", "retries", "owner", "lastError", "lastSuccess", "cpus",
                        "disk", "mem", "disabled", "softError", "uris", "fetch", "highPriority"}) {
    if (child.contains(k)) body[k] = Json::parse(child[k].dump());
  }
  DeserializeError ignored;
  auto out = ReadJob(body, d, "", &ignored);
  return out ? *out : child;
}

}  // namespace galley::sandbox::chronos
