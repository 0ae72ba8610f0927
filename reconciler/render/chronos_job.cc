// SPDX-License-Identifier: Apache-2.0
#include "render/chronos_job.h"

#include <algorithm>
#include <map>

#include "render/marathon_app.h"

namespace galley::render {

std::string ChronosJobMarker(const std::string& platform) {
  return "managed-by: galley; platform=" + platform;
}

std::string ChronosParentName(const std::string& env, const std::string& service,
                              const std::string& parent) {
  auto slash = parent.find('/');
  if (slash == std::string::npos) return model::ChronosJobName(env, service, parent);
  return model::ChronosJobName(env, parent.substr(0, slash), parent.substr(slash + 1));
}

std::string ShellQuote(const std::string& word) {
  bool plain = !word.empty();
  for (char c : word) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '/' || c == ':' || c == '=' || c == ',' || c == '@' ||
              c == '%' || c == '+' || c == '-';
    plain = plain && ok;
  }
  if (plain) return word;
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

namespace {

std::string JobImage(const model::Platform& p, const model::Service& s, const std::string& tag,
                     const std::string& image) {
  if (image.empty()) return ImageReference(p, s, tag);
  const std::string& registry = s.registry.empty() ? p.registry : s.registry;
  std::string ref = registry.empty() ? image : registry + "/" + image;
  size_t slash = image.rfind('/');
  bool has_tag = image.find(':', slash == std::string::npos ? 0 : slash) != std::string::npos;
  return has_tag ? ref : ref + ":" + tag;
}

}  // namespace

nlohmann::ordered_json RenderChronosJob(const model::Platform& p, const model::Service& s,
                                        const model::ServiceEnvironment& env,
                                        const model::Job& job) {
  using json = nlohmann::ordered_json;
  const model::JobSettings& js = job.environments.at(env.name);
  std::vector<std::string> argv;
  if (js.with_config) {
    argv.insert(argv.end(), p.wrapper.begin(), p.wrapper.end());
    argv.push_back(KvPrefix(env.name, s.name));
  }
  const std::vector<std::string>& cmd = js.command.empty() ? s.command : js.command;
  argv.insert(argv.end(), cmd.begin(), cmd.end());
  std::string command;
  for (const auto& w : argv) command += (command.empty() ? "" : " ") + ShellQuote(w);

  json out;
  out["name"] = model::ChronosJobName(env.name, s.name, job.name);
  out["command"] = command;
  out["shell"] = true;
  if (!js.parents.empty()) {
    std::vector<std::string> parents;
    for (const auto& pr : js.parents) parents.push_back(ChronosParentName(env.name, s.name, pr));
    std::sort(parents.begin(), parents.end());
    parents.erase(std::unique(parents.begin(), parents.end()), parents.end());
    out["parents"] = parents;
  } else {
    out["schedule"] = js.hook.empty() ? js.schedule : kHookSchedule;
    if (!js.time_zone.empty()) out["scheduleTimeZone"] = js.time_zone;
    if (!js.epsilon.empty()) out["epsilon"] = js.epsilon;
  }
  out["description"] = ChronosJobMarker(p.name);
  out["ownerName"] = kChronosOwnerName;
  out["owner"] = js.owner;
  out["retries"] = js.retries;
  out["disabled"] = js.disabled;
  const model::Resources& res = js.resources    ? *js.resources
                                : env.resources ? *env.resources
                                                : s.resources;
  out["cpus"] = res.cpus;
  out["mem"] = res.mem;
  if (res.disk && *res.disk > 0) out["disk"] = *res.disk;
  out["container"] = json{{"type", "DOCKER"},
                          {"image", JobImage(p, s, env.tag, js.image)},
                          {"network", "BRIDGE"},
                          {"forcePullImage", true}};
  std::map<std::string, std::string> vars = {{"SERVICE_NAME", s.name}, {"GALLEY_JOB", job.name}};
  for (const auto& [k, v] : js.env) vars[k] = v;
  json envs = json::array();
  for (const auto& [k, v] : vars) envs.push_back(json{{"name", k}, {"value", v}});
  out["environmentVariables"] = envs;
  return out;
}

}  // namespace galley::render
