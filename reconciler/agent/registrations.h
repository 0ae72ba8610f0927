// SPDX-License-Identifier: Apache-2.0
// The registrator's decision (DESIGN §8 point 14): from the Marathon tasks on this node, the
// apps' registration conventions and what the local Consul agent holds, which services to
// register and which to deregister.
//
// galley's registrations are marked: ID `<task id>-<port index>`, meta `galley-task` (the
// Marathon task id) and `galley-node`. A resync can then tell its own apart and remove the
// dangling ones; a registration without that meta, or of another node, is never touched.
// Names and tags follow the seed (DESIGN §1): the registered name (`<svc>`, or `<svc>-<port>`
// per exposed port of a multi-port service) and SERVICE_TAGS (environment first). The Consul
// check mirrors the Marathon health check (HTTP path or TCP, interval, timeout); an app
// without one is registered while its task is TASK_RUNNING.
//
// Pure: no socket or clock. Values; not synchronised.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/desired_state.h"
#include "model/live_state.h"

namespace galley::agent {

inline constexpr char kMetaTask[] = "galley-task";
inline constexpr char kMetaNode[] = "galley-node";

struct ConsulCheck {
  enum class Kind { kHttp, kTcp };
  Kind kind = Kind::kHttp;
  std::string target;  // "http://10.0.0.1:31001/healthcheck" or "10.0.0.1:31001"
  int interval_s = 10;
  std::optional<int> timeout_s;
  bool operator==(const ConsulCheck&) const = default;
};

// A service registration in the local Consul agent (what /v1/agent/services lists, plus the
// check galley registers with it; the listing does not show checks, so `check` is ignored
// when comparing with what runs).
struct Registration {
  std::string id;
  std::string name;
  std::vector<std::string> tags;
  std::string address;
  int port = 0;
  std::map<std::string, std::string> meta;
  std::optional<ConsulCheck> check;
};

struct Deregistration {
  std::string id;
  std::string reason;  // "task is killing", "task is gone", ...
  bool operator==(const Deregistration&) const = default;
};

struct RegistrationInput {
  const model::DesiredState* state = nullptr;  // the apps' conventions
  // Every Marathon app as one complete, successful observation returned it (with tasks).
  // Never pass a partial or failed read: a task missing here is taken as gone.
  const std::map<std::string, model::LiveApp>* apps = nullptr;
  std::string node_name;              // this host as Marathon names it (task "host")
  std::string node_address;           // the address registrations and checks use
  std::vector<Registration> current;  // the local Consul agent's services
};

struct RegistrationPlan {
  std::vector<Registration> to_register;  // new, or changed (same ID re-registered)
  std::vector<Deregistration> to_deregister;
  std::vector<std::string> notes;  // skipped tasks worth a log line
};

RegistrationPlan PlanRegistrations(const RegistrationInput& in);

}  // namespace galley::agent
