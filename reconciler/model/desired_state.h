// SPDX-License-Identifier: Apache-2.0
// The desired state as typed values: the platform (galley.yaml) and its services
// (services/*.yaml), after loading and validation. Plain data shared by every module; the
// positions kept here let later checks point at the YAML that caused a problem.
// Values; not synchronised.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/diagnostics.h"

namespace galley::model {

inline constexpr char kApiVersionV1[] = "galley/v1";
// Marathon apps live under /<kAppRoot>/<env>/<service>; KV under <kAppRoot>/<env>/<service>/.
inline constexpr char kAppRoot[] = "app";
inline constexpr char kHaproxyMaxconnKey[] = "service/haproxy/maxconn";

enum class Expose { kNone, kHttp, kTcp };
enum class HaproxyRole { kInternal, kExternal };
enum class DriftPolicy { kRevert, kReport, kIgnore };

// The kinds of object a policy can name: `policy.marathon_app`, `policy.consul_kv`. And
// kHaproxyModel: an HAProxy instance's LB model (galley/<platform>/haproxy/<instance>),
// galley's own document, which no policy names: its drift is always reverted, an
// instance no longer declared always pruned (policies resolve it as consul_kv).
// kChronosJob: a Chronos job (issue #16), named ChronosJobName(env, service, job).
enum class ResourceKind { kMarathonApp, kConsulKv, kHaproxyModel, kChronosJob };

const char* ExposeName(Expose e);
const char* HaproxyRoleName(HaproxyRole r);
const char* DriftPolicyName(DriftPolicy p);
// "marathon_app", "consul_kv", "haproxy_model", "chronos_job"
const char* ResourceKindName(ResourceKind k);

// What one `policy:` level says, for all kinds or for one kind: an unset field defers to
// the next, less specific level.
struct PolicySetting {
  std::optional<DriftPolicy> drift;
  std::optional<bool> prune;
  bool empty() const { return !drift && !prune; }
  bool operator==(const PolicySetting&) const = default;
};

// A `policy:` block as written at one level (platform, platform environment, service,
// service environment): `{drift, prune, marathon_app: {drift, prune}, consul_kv: {drift,
// prune}, chronos_job: {drift, prune}}`. Within the block a kind's own setting beats the
// general one.
struct PolicyBlock {
  PolicySetting all;
  PolicySetting marathon_app;
  PolicySetting consul_kv;
  PolicySetting chronos_job;  // issue #16
  const PolicySetting& For(ResourceKind k) const {
    return k == ResourceKind::kMarathonApp  ? marathon_app
           : k == ResourceKind::kChronosJob ? chronos_job
                                            : consul_kv;
  }
  bool empty() const {
    return all.empty() && marathon_app.empty() && consul_kv.empty() && chronos_job.empty();
  }
  bool operator==(const PolicyBlock&) const = default;
};

// The policy in force for one object.
struct EffectivePolicy {
  DriftPolicy drift = DriftPolicy::kRevert;
  bool prune = false;
  bool operator==(const EffectivePolicy&) const = default;
};

// One Consul KV value: literal text from Git, or a secret read at apply time.
struct ConfigValue {
  enum class Source { kLiteral, kSecretEnv, kSecretFile };
  Source source = Source::kLiteral;
  std::string text;  // the literal, the environment variable's name or the file's path
  SourcePos pos;
  bool secret() const { return source != Source::kLiteral; }
};
using ConfigMap = std::map<std::string, ConfigValue>;

struct Environment {
  std::string name;
  std::string port_prefix;  // digits prepended to a listen port: "1" → 3000 becomes 13000
  std::string host_prefix;  // prepended to external host names: "staging-"
  bool paused = false;
  // `sync: auto` — `galley serve` applies a change here as soon as it is planned; `manual`
  // (the default) — serve only plans, and a person applies the plan shown by its id.
  bool sync_auto = false;
  PolicyBlock policy;  // environments.<env>.policy
  SourcePos pos;
};

struct HaproxyInstance {
  std::string name;
  HaproxyRole role = HaproxyRole::kInternal;
  std::string config_path;      // where the agent writes the rendered file
  std::string socket;           // runtime API socket; empty = none
  std::string tls_certificate;  // PEM file name under ${GALLEY_CERT_DIR}; external role only
  SourcePos pos;
};

struct WellKnownServer {
  std::string host;
  int port = 0;
};

// A static service every host reaches on a fixed port (Marathon on :18080, Consul on :18500).
struct WellKnown {
  std::string name;
  int listen = 0;
  std::vector<WellKnownServer> servers;
  std::string check_path;  // empty: no health check
  std::optional<int> timeout_client_s;
  std::optional<int> timeout_server_s;
  SourcePos pos;
  SourcePos listen_pos;
};

// How much history galley keeps (galley.yaml `history:`): runs per kind in each host's state
// store, observations there, and the applies kept in Consul (galley/<platform>/history).
struct HistoryRetention {
  int applies = 500;
  int plans = 100;
  int drift_checks = 100;
  int observation_runs = 10;
  int observation_max_age_s = 7 * 24 * 3600;
  int platform_applies = 20;
};

struct Platform {
  std::string file;
  std::string api_version;
  std::string name;
  std::vector<std::string> marathon_urls;
  std::string consul_url;
  std::string chronos_url;  // `chronos: {url: ...}`; "" = none (issue #16)
  std::string registry;
  std::vector<std::string> wrapper;  // e.g. service-wrapper.sh dockerhost:18080 dockerhost:18500
  bool restarts_on_kv_change = false;
  std::vector<Environment> environments;  // in file order: the order of every rendering
  int haproxy_maxconn = 4096;
  std::vector<HaproxyInstance> haproxy;
  std::vector<WellKnown> well_known;         // in file order
  std::optional<int> docker_stop_timeout_s;  // the Mesos agent's --docker_stop_timeout
  PolicyBlock policy;  // the platform-wide `policy:`; see Policies for how levels combine
  // JSON pointers into every Marathon app whose live value may drift (e.g. "/instances"
  // when an autoscaler owns it): never diffed, and kept from live on update.
  std::vector<std::string> ignore_app_fields;
  HistoryRetention history;

  const Environment* FindEnvironment(const std::string& name) const;
};

struct Port {
  int container = 0;
  Expose expose = Expose::kNone;
  SourcePos pos;
};

struct Health {
  std::string path;  // empty: a TCP check
  int grace_s = 300;
  int interval_s = 60;
  int max_failures = 3;
  std::optional<int> timeout_s;
  SourcePos pos;
};

struct Resources {
  double cpus = 0;
  double mem = 0;
  std::optional<double> disk;
};

struct Upgrade {
  double min_health = 1.0;
  double max_over = 1.0;
};

struct ServiceEnvironment {
  std::string name;
  std::string tag;
  int instances = 0;
  ConfigMap config;
  std::optional<Resources> resources;  // replaces the service's resources here
  bool paused = false;
  PolicyBlock policy;  // environments.<env>.policy in the service file
  SourcePos pos;       // of the environment's key in the service file
  SourcePos tag_pos;
  SourcePos instances_pos;
};

// A Chronos job of a service (issue #16, DESIGN §8 point 17), resolved for one environment:
// the job's own keys with that environment's overrides applied. Chronos' name for it is
// ChronosJobName(env, service, job).
struct JobSettings {
  std::vector<std::string> command;    // argv, run through the wrapper like the service's apps
  std::string image;                   // "repo[:tag]"; empty: the service's image and tag
  std::optional<Resources> resources;  // empty: the service's (environment's) resources
  std::map<std::string, std::string> env;
  bool with_config = true;           // the service's KV config through the wrapper
  std::string schedule;              // ISO 8601 "R[n]/start/period"; empty for dependent/hook jobs
  std::string time_zone;             // scheduleTimeZone
  std::string epsilon;               // ISO 8601 period (Chronos 2.x)
  std::vector<std::string> parents;  // "job" (this service) or "service/job"
  int retries = 2;
  std::string owner;  // e-mail address(es) Chronos notifies on failure
  bool disabled = false;
  std::string hook;  // "" | "pre-deploy" | "post-deploy": started around the app's deploy
  SourcePos pos, schedule_pos, time_zone_pos, epsilon_pos, parents_pos, hook_pos;
};

struct Job {
  std::string name;  // the short name under `jobs:` ("migrate")
  SourcePos pos;
  // Per environment of the service the job exists in (all of them unless the job lists
  // its own `environments:`), settings after overrides.
  std::map<std::string, JobSettings> environments;
};

// "<env>-<service>-<job>" (DESIGN §8 point 17).
std::string ChronosJobName(const std::string& env, const std::string& service,
                           const std::string& job);

struct ExternalHost {
  std::string name;
  SourcePos pos;
};

struct Service {
  std::string file;
  std::string name;
  SourcePos name_pos;
  std::string image;
  std::string registry;  // empty: the platform's
  std::vector<std::string> command;
  Resources resources;
  SourcePos resources_pos;
  std::vector<Port> ports;
  std::optional<Health> health;
  std::optional<Upgrade> upgrade;
  std::string balance;  // roundrobin | leastconn | source; empty: roundrobin
  std::vector<std::string> tags;
  std::vector<ExternalHost> external_hosts;
  ConfigMap config;
  std::optional<int> kill_grace_s;
  bool paused = false;
  PolicyBlock policy;
  std::vector<std::string> ignore;  // JSON pointers into this service's apps (see Platform)
  SourcePos ignore_pos;
  std::vector<ServiceEnvironment> environments;  // in the service file's order
  std::vector<Job> jobs;                         // `jobs:`, sorted by name (Chronos; issue #16)
  SourcePos jobs_pos;

  const ServiceEnvironment* FindEnvironment(const std::string& env) const;
  // Exposed (http/tcp) ports, in declaration order.
  std::vector<Port> ExposedPorts() const;
  // The name under which a port is registered in Consul and named in HAProxy:
  // the service name when it exposes one port, else "<service>-<port>".
  std::string RegisteredName(int container_port) const;
};

struct DesiredState {
  Platform platform;
  std::vector<Service> services;  // sorted by name

  const Service* FindService(const std::string& name) const;
};

// Every `policy:` block of a repository, keyed by where it was written: a value the pure
// planner holds instead of the whole desired state. Resolve() answers for one object:
// the most specific level that sets a field wins — service+environment, then service,
// then the platform's environment, then the platform — and within one level the kind's
// block (marathon_app / consul_kv) beats the level's general value. Defaults: drift
// revert, prune false. `service` is "" for platform-wide objects (service/haproxy/maxconn)
// and for orphans of no declared service; `env` is "" for objects outside environments.
// Only non-empty blocks are kept. Values; not synchronised.
struct Policies {
  PolicyBlock platform;
  std::map<std::string, PolicyBlock> environments;  // platform environments.<env>.policy
  std::map<std::string, PolicyBlock> services;      // service → its `policy:`
  std::map<std::pair<std::string, std::string>, PolicyBlock>
      service_environments;  // {service, env}

  EffectivePolicy Resolve(ResourceKind kind, const std::string& env,
                          const std::string& service) const;
  bool operator==(const Policies&) const = default;
};

Policies PoliciesOf(const DesiredState& state);

// A live instance of a registered service, as Consul's health endpoint reports it.
struct Instance {
  std::string node;
  std::string address;
  int port = 0;
  std::vector<std::string> tags;
};
// Registered name ("test-server", "test-server-3010") → its passing instances.
using Instances = std::map<std::string, std::vector<Instance>>;

}  // namespace galley::model
