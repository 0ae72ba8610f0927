// SPDX-License-Identifier: Apache-2.0
#include "sandbox/marathon/task_record.h"

#include <cctype>

#include "sandbox/marathon/app_normalise.h"

namespace galley::sandbox::marathon {

bool TaskRecord::Healthy() const {
  if (health.empty()) return false;
  for (const auto& h : health) {
    if (!h.alive) return false;
  }
  return true;
}

std::shared_ptr<const std::string> TaskJson(const TaskRecord& t,
                                            const std::vector<int>& service_ports) {
  Json j = {{"id", t.id},
            {"appId", t.app_id},
            {"host", t.host},
            {"slaveId", t.agent_id},
            {"state",
             MesosStateName(t.kill_requested && t.state != TaskState::kKilled ? TaskState::kKilling
                                                                              : t.state)},
            {"ports", t.host_ports},
            {"servicePorts", service_ports},
            {"ipAddresses", Json::array({{{"ipAddress", t.address}, {"protocol", "IPv4"}}})},
            {"stagedAt", t.staged_at},
            {"version", t.version}};
  if (!t.started_at.empty()) j["startedAt"] = t.started_at;
  Json results = Json::array();
  for (const auto& h : t.health) {
    Json r = {{"alive", h.alive},
              {"consecutiveFailures", h.consecutive_failures},
              {"instanceId", t.instance_id}};
    if (!h.first_success.empty()) r["firstSuccess"] = h.first_success;
    if (!h.last_success.empty()) r["lastSuccess"] = h.last_success;
    if (!h.last_failure.empty()) r["lastFailure"] = h.last_failure;
    if (!h.last_failure_cause.empty()) r["lastFailureCause"] = h.last_failure_cause;
    results.push_back(r);
  }
  j["healthCheckResults"] = results;
  return std::make_shared<const std::string>(
      j.dump(-1, ' ', false, Json::error_handler_t::replace));
}

namespace {

std::string EnvName(const std::string& s) {
  std::string out;
  for (char c : s)
    out += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::toupper(c)) : '_';
  return out;
}

}  // namespace

TaskSpec BuildTaskSpec(const Json& app, const TaskRecord& t) {
  TaskSpec spec;
  spec.app_id = t.app_id;
  spec.task_id = t.id;
  spec.version = t.version;
  spec.host = t.host;
  spec.address = t.address.empty() ? t.host : t.address;
  spec.host_ports = t.host_ports;
  if (app.contains("cmd")) spec.cmd = app["cmd"].get<std::string>();
  if (app.contains("args")) spec.args = app["args"].get<std::vector<std::string>>();
  const Json* docker = nullptr;
  if (app.contains("container") && app["container"].contains("docker"))
    docker = &app["container"]["docker"];
  if (docker && docker->contains("image"))
    spec.docker_image = (*docker)["image"].get<std::string>();

  // Ports as the task sees them: PORTi is the host port (host and bridge networking; in
  // bridge mode the process listens on it, DESIGN §7.8), or the container port when the
  // port is not published on the host.
  std::vector<int> ports;
  std::vector<std::string> names;
  std::vector<int> declared;
  size_t next_host = 0;
  if (IsHostNetworking(app)) {
    for (const auto& d : app.value("portDefinitions", Json::array())) {
      ports.push_back(next_host < t.host_ports.size() ? t.host_ports[next_host++]
                                                      : d.value("port", 0));
      names.push_back(d.value("name", ""));
      declared.push_back(d.value("port", 0));
    }
  } else if (app.contains("container") && app["container"].contains("portMappings")) {
    for (const auto& m : app["container"]["portMappings"]) {
      if (m.contains("hostPort") && next_host < t.host_ports.size()) {
        ports.push_back(t.host_ports[next_host++]);
      } else {
        ports.push_back(m.value("containerPort", 0));
      }
      names.push_back(m.value("name", ""));
      declared.push_back(m.value("containerPort", 0));
    }
  }
  auto& env = spec.env;
  std::string all;
  for (size_t i = 0; i < ports.size(); ++i) {
    std::string p = std::to_string(ports[i]);
    env["PORT" + std::to_string(i)] = p;
    if (declared[i] != 0) env["PORT_" + std::to_string(declared[i])] = p;
    if (!names[i].empty()) env["PORT_" + EnvName(names[i])] = p;
    all += (i ? "," : "") + p;
  }
  if (!ports.empty()) {
    env["PORT"] = std::to_string(ports[0]);
    env["PORTS"] = all;
  }
  // HOST is the node's address, not its name: sandbox node names do not resolve.
  env["HOST"] = spec.address;
  env["MARATHON_APP_ID"] = t.app_id;
  env["MARATHON_APP_VERSION"] = t.version;
  env["MARATHON_APP_DOCKER_IMAGE"] = spec.docker_image;
  env["MARATHON_APP_RESOURCE_CPUS"] = app.value("cpus", Json(1.0)).dump();
  env["MARATHON_APP_RESOURCE_MEM"] = app.value("mem", Json(128.0)).dump();
  env["MARATHON_APP_RESOURCE_DISK"] = app.value("disk", Json(0.0)).dump();
  env["MARATHON_APP_RESOURCE_GPUS"] = app.value("gpus", Json(0)).dump();
  env["MESOS_TASK_ID"] = t.id;
  env["MESOS_SANDBOX"] = "/mnt/mesos/sandbox";
  std::string label_names;
  for (auto it = app["labels"].begin(); it != app["labels"].end(); ++it) {
    std::string key = EnvName(it.key());
    label_names += (label_names.empty() ? "" : " ") + key;
    if (it->is_string()) env["MARATHON_APP_LABEL_" + key] = it->get<std::string>();
  }
  env["MARATHON_APP_LABELS"] = label_names;
  if (app.contains("env")) {
    for (auto it = app["env"].begin(); it != app["env"].end(); ++it) {
      if (it->is_string())
        env[it.key()] = it->get<std::string>();  // secret references are not resolved
    }
  }

  for (const auto& h : app.value("healthChecks", Json::array())) {
    HealthCheckSpec hc;
    hc.protocol = h.value("protocol", "HTTP");
    hc.path = h.value("path", "/");
    hc.port_index = h.value("portIndex", 0);
    hc.grace_period_seconds = h.value("gracePeriodSeconds", 300);
    hc.interval_seconds = h.value("intervalSeconds", 60);
    hc.timeout_seconds = h.value("timeoutSeconds", 20);
    hc.max_consecutive_failures = h.value("maxConsecutiveFailures", 3);
    spec.health_checks.push_back(hc);
  }
  spec.kill_grace_seconds = app.value("taskKillGracePeriodSeconds", 3);
  return spec;
}

}  // namespace galley::sandbox::marathon
