// SPDX-License-Identifier: Apache-2.0
// `galley agent [DIR] --node NAME --haproxy INSTANCE[,INSTANCE] [--bind ADDRESS]
// [--run-dir DIR] [--once]` (DESIGN §8 point 14): the per-host agent. The composition root of
// reconciler/agent/: one Registrator (Marathon tasks on this node → the local Consul agent;
// TASK_KILLING drains at once on every instance), and per HAProxy instance an LbManager (LB
// model + Consul membership → HAProxy through the runtime API, reloads only for structure)
// and a Reporter (the agent's report under its own Consul session). DIR gives the
// registration conventions and the endpoints, as for plan; nothing is recorded in the state
// store. Logs go to stderr, one timestamped line each. SIGINT/SIGTERM stop the agent
// (HAProxy keeps serving; the next agent adopts it) and remove its reports.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <thread>

#include <signal.h>
#include <unistd.h>

#include "agent/haproxy_process.h"
#include "agent/haproxy_runtime.h"
#include "agent/lb_manager.h"
#include "agent/registrator.h"
#include "agent/reporter.h"
#include "base/duration.h"
#include "base/strings.h"
#include "base/time_text.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/pipeline.h"
#include "clients/consul_agent.h"
#include "clients/endpoints.h"
#include "clients/marathon_events.h"
#include "net/retrying_http_client.h"
#include "spec/loader.h"

namespace galley::cli {
namespace {

struct Options {
  std::string dir = ".";
  std::vector<std::string> marathon;
  std::string consul;
  std::string node, haproxy, bind, address, run_dir = "/run/galley-agent";
  std::string resync = "60s";
  bool once = false;
};

CommandLine AgentCommandLine(Options* o) {
  CommandLine cl(
      "agent", "[DIR] --node NAME --haproxy INSTANCE[,INSTANCE] [options]",
      "The per-host agent: registers this node's healthy Marathon tasks in the local Consul\n"
      "agent (deregistering a task the moment Marathon starts killing it), and runs each named\n"
      "HAProxy instance from the LB model `galley apply` publishes in Consul\n"
      "(galley/<platform>/haproxy/<instance>) and the instances Consul knows: membership changes\n"
      "through HAProxy's runtime API, a checked (`haproxy -c`) seamless reload only when the\n"
      "structure changes. HAProxy runs in master-worker mode and outlives the agent; a restarted\n"
      "agent adopts it. The agent reports what it runs at galley/<platform>/agents/<node>/\n"
      "<instance> under its own Consul session, which `galley plan` and `galley drift` read.\n"
      "DIR (default: the current directory) gives the registration conventions and the\n"
      "endpoints; --consul should be this host's Consul agent.");
  cl.Positional("DIR", &o->dir);
  cl.Value("--node", "NAME", &o->node,
           "this host as Marathon names it (a task's \"host\"); required");
  cl.Value("--haproxy", "INSTANCE[,INSTANCE]", &o->haproxy,
           "the HAProxy instances of galley.yaml this host runs (internal on every host, external\n"
           "on edge hosts); required");
  cl.Value("--bind", "ADDRESS", &o->bind,
           "the address HAProxy's listeners bind (default: all addresses)");
  cl.Value("--address", "ADDRESS", &o->address,
           "the address registrations and their checks use (default: --bind, else --node)");
  cl.Value("--run-dir", "DIR", &o->run_dir,
           "HAProxy's config, sockets, pid and state files (default /run/galley-agent)");
  cl.Value("--resync", "DURATION", &o->resync,
           "full Marathon resync period besides the event stream (default 60s)");
  cl.Flag("--once", &o->once,
          "sync registrations and every instance once, wait out drains, and exit (no report)");
  cl.List("--marathon", "URL", &o->marathon,
          "Marathon URL (repeatable, failover in order); else GALLEY_MARATHON_URL, galley.yaml");
  cl.Value("--consul", "URL", &o->consul,
           "this host's Consul agent; else GALLEY_CONSUL_URL / CONSUL_HTTP_ADDR, galley.yaml");
  cl.Epilogue(
      "exit codes: 0 stopped by SIGINT/SIGTERM, or --once synced everything; 1 bad arguments,\n"
      "an invalid repository, or a --once sync that failed (the errors name the part)");
  return cl;
}

std::atomic<bool> g_stop{false};
void OnStop(int) { g_stop.store(true); }

// One timestamped line at a time on stderr, from any thread.
class Logger {
 public:
  explicit Logger(std::ostream& err) : err_(err) {}
  std::function<void(const std::string&)> For(std::string who) {
    return [this, who](const std::string& line) { Write(who, line); };
  }
  void Write(const std::string& who, const std::string& line) {
    std::lock_guard<std::mutex> lock(mu_);
    err_ << FormatTimestamp(std::chrono::system_clock::now()) << " " << who << ": "
         << Printable(line) << "\n";
    err_.flush();
  }

 private:
  std::mutex mu_;
  std::ostream& err_;
};

struct Instance {
  std::string name;
  std::unique_ptr<agent::ProcessHaproxyMaster> master;
  std::unique_ptr<agent::UnixSocketRuntime> runtime;
  std::unique_ptr<agent::Reporter> reporter;
  std::unique_ptr<agent::LbManager> manager;
};

int RunAgentUnguarded(const Args& args, std::ostream& out, std::ostream& err) {
  Options o;
  if (auto exit = AgentCommandLine(&o).ParseOrExit(args, out, err)) return *exit;
  auto fail = [&](const std::string& message) {
    err << "galley agent: " << message << "\n";
    return kExitError;
  };
  if (o.node.empty()) return fail("--node NAME is required (this host as Marathon names it)");
  if (o.haproxy.empty())
    return fail("--haproxy INSTANCE is required (the HAProxy instances this host runs)");
  auto resync = ParseDuration(o.resync);
  if (!resync.ok() || *resync < std::chrono::seconds(1))
    return fail("--resync " + o.resync + ": expected a duration of at least 1s (e.g. 60s, 5m)");
  std::vector<std::string> names;
  for (const auto& n : Split(o.haproxy, ',')) {
    if (n.empty()) return fail("--haproxy " + o.haproxy + ": an empty instance name");
    if (std::find(names.begin(), names.end(), n) != names.end())
      return fail("--haproxy " + o.haproxy + ": instance '" + n + "' is given twice");
    names.push_back(n);
  }

  // galley.yaml first: the load-balancer managers need only the platform, so their long
  // polls start (and get their first answers, megabytes at scale) while the services load
  // for the registrator (~0.5-0.8 s of CPU at 2,000 services). Nothing touches HAProxy or
  // Consul registrations before the whole repository loaded valid.
  spec::LoadResult platform = spec::LoadPlatformFile(o.dir);
  err << ErrorsOnly(platform.diags);
  if (platform.diags.HasErrors()) return fail(o.dir + " is not valid; not starting");
  const model::DesiredState& state = platform.state;
  for (const auto& n : names) {
    bool declared = std::any_of(state.platform.haproxy.begin(), state.platform.haproxy.end(),
                                [&](const model::HaproxyInstance& in) { return in.name == n; });
    if (!declared) {
      std::string known;
      for (const auto& in : state.platform.haproxy) known += (known.empty() ? "" : ", ") + in.name;
      return fail("--haproxy: no instance '" + n + "' in " + state.platform.file +
                  (known.empty() ? " (it declares none)" : " (it declares " + known + ")"));
    }
  }

  auto env = clients::ProcessEnvironment();
  clients::EndpointFlags flags;
  flags.marathon_urls = o.marathon;
  flags.consul_url = o.consul;
  auto endpoints = clients::ResolveEndpoints(state.platform, flags, env);
  if (!endpoints.ok()) return fail(endpoints.status().message());

  auto plain = [](const std::string& ca_file) {
    net::HttpClientOptions opts;
    opts.ca_file = ca_file;
    return net::NewHttpClient(opts);
  };
  // Reads retry with backoff; the stream, the long polls and the session/report writes have
  // their own loops and must not be held up by a retrying transport.
  auto marathon_http =
      net::NewRetryingHttpClient(plain(endpoints->marathon.ca_file), net::RetryPolicy{});
  auto stream_http = plain(endpoints->marathon.ca_file);
  auto consul_http = plain(endpoints->consul.ca_file);
  auto watch_http = plain(endpoints->consul.ca_file);
  auto marathon = clients::NewMarathonClient(endpoints->marathon, marathon_http.get());
  auto consul = clients::NewConsulClient(endpoints->consul, consul_http.get());
  auto consul_agent = clients::NewConsulAgentClient(endpoints->consul, consul_http.get());
  clients::MarathonEventStreamOptions event_options;
  event_options.event_types = clients::AgentEventTypes();  // with the kill hints
  auto events =
      clients::NewMarathonEventStream(endpoints->marathon, stream_http.get(), event_options);

  Logger logger(err);
  std::string address = !o.address.empty() ? o.address : !o.bind.empty() ? o.bind : o.node;
  std::vector<std::unique_ptr<Instance>> instances;
  for (const auto& n : names) {
    auto in = std::make_unique<Instance>();
    in->name = n;
    agent::LbManagerOptions mo;
    mo.platform = state.platform.name;
    mo.node = o.node;
    mo.instance = n;
    mo.bind_address = o.bind;
    mo.run_dir = o.run_dir;
    mo.agent_version = GALLEY_VERSION;
    agent::HaproxyPaths paths = agent::PathsUnder(o.run_dir, n);
    if (auto it = env.find("GALLEY_CERT_DIR"); it != env.end())
      paths.env.push_back({"GALLEY_CERT_DIR", it->second});
    in->master = std::make_unique<agent::ProcessHaproxyMaster>(paths);
    in->runtime = std::make_unique<agent::UnixSocketRuntime>(
        agent::LbManager::StatsSocketPath(o.run_dir, n), std::chrono::milliseconds(2000));
    agent::ReporterOptions ro;
    ro.platform = state.platform.name;
    ro.node = o.node;
    ro.instance = n;
    in->reporter =
        std::make_unique<agent::Reporter>(consul.get(), ro, nullptr, logger.For("report " + n));
    agent::LbManagerDeps deps;
    deps.consul = consul.get();
    deps.http = watch_http.get();
    deps.consul_endpoint = endpoints->consul;
    deps.runtime = in->runtime.get();
    deps.master = in->master.get();
    deps.log = logger.For("haproxy " + n);
    agent::Reporter* reporter = in->reporter.get();
    if (!o.once) {
      deps.on_report = [reporter](const render::AgentReport& r) { reporter->Update(r); };
      // Two agents claiming one node and instance: only the one holding the report key
      // manages HAProxy; the other logs the holder and waits.
      deps.may_manage = [reporter] { return reporter->holding(); };
    }
    in->manager = std::make_unique<agent::LbManager>(mo, deps);
    instances.push_back(std::move(in));
  }

  // The services load on their own thread while each manager reads the model and every
  // service and renders (Prepare: nothing touches HAProxy before the repository is valid).
  std::future<spec::LoadResult> loading =
      std::async(std::launch::async, [dir = o.dir] { return spec::LoadRepository(dir); });
  if (!o.once) {
    for (auto& in : instances) in->manager->Prepare();
  }
  spec::LoadResult loaded = loading.get();
  err << ErrorsOnly(loaded.diags);
  if (loaded.diags.HasErrors() || loaded.state.platform.name != state.platform.name) {
    for (auto& in : instances) in->manager->StopWatches();
    return fail(
        o.dir +
        (loaded.diags.HasErrors() ? " is not valid" : ": galley.yaml changed while loading") +
        "; not starting");
  }

  agent::RegistratorOptions ro;
  ro.node_name = o.node;
  ro.node_address = address;
  ro.resync_interval = std::chrono::duration_cast<std::chrono::milliseconds>(*resync);
  ro.log = logger.For("registrator");
  ro.on_killing = [&instances](std::vector<agent::Endpoint> killed) {
    for (auto& in : instances) in->manager->Drain(killed);
  };
  agent::Registrator registrator(marathon.get(), consul_agent.get(), events.get(), &loaded.state,
                                 ro);

  if (o.once) {
    int failures = 0;
    auto r = registrator.SyncOnce();
    if (!r.ok()) {
      logger.Write("registrator", r.status().message());
      ++failures;
    } else {
      logger.Write("registrator", "registered " + std::to_string(r->registered) +
                                      ", deregistered " + std::to_string(r->deregistered) +
                                      ", unchanged " + std::to_string(r->unchanged));
    }
    for (auto& in : instances) {
      Status s = in->manager->SyncOnce();
      if (!s.ok()) {
        logger.Write("haproxy " + in->name, s.message());
        ++failures;
      }
    }
    return failures == 0 ? kExitOk : kExitError;
  }

  struct sigaction sa {};
  sa.sa_handler = OnStop;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  g_stop.store(false);
  logger.Write("agent", "node " + o.node + " (" + address + "), HAProxy " + o.haproxy +
                            ", Marathon " + endpoints->marathon.urls.front() + ", Consul " +
                            endpoints->consul.url + ", run dir " + o.run_dir);

  // Claim each report key before the LB managers start: a manager only touches HAProxy
  // while its reporter holds the key (two agents claiming one node), so claiming first
  // saves the first sync from waiting for the reporter's first tick.
  for (auto& in : instances) {
    render::AgentReport first;
    first.node = o.node;
    first.instance = in->name;
    first.agent_version = GALLEY_VERSION;
    in->reporter->Update(first);
    if (Status s = in->reporter->Tick(); !s.ok()) logger.Write("report " + in->name, s.message());
  }

  std::vector<std::thread> threads;
  threads.emplace_back([&] { registrator.Run(g_stop); });
  for (auto& in : instances) {
    agent::LbManager* m = in->manager.get();
    agent::Reporter* r = in->reporter.get();
    threads.emplace_back([m] { m->Run(g_stop); });
    threads.emplace_back([r] { r->Run(g_stop); });
  }
  for (auto& t : threads) t.join();
  logger.Write("agent", "stopped; HAProxy keeps serving");
  return kExitOk;
}

}  // namespace

int RunAgent(const Args& args, std::ostream& out, std::ostream& err) {
  try {
    return RunAgentUnguarded(args, out, err);
  } catch (const std::exception& e) {
    err << "galley agent: internal error: " << e.what() << "\n";
    return kExitError;
  }
}

}  // namespace galley::cli
