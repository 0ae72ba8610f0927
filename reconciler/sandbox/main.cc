// SPDX-License-Identifier: Apache-2.0
// galley-sandbox: faithful loopback emulators of the Marathon and Consul APIs galley uses,
// for tests, benchmarks and the demo. Never linked into `galley`.
//
//   galley-sandbox --marathon-port 8080 --consul-port 8500 [--chronos-port 4400]
//                  [--tasks simulated|process]
//                  [--state FILE] [--ready-file FILE] [--nodes NAME=ADDR,...]
//                  [process runner options]
//
// Both APIs answer (GET /ping, GET /v1/status/leader) once the ready file is written.
// SIGTERM/SIGINT: save state, stop the servers and every task, exit 0; a second signal
// exits at once (status 1, state not saved).
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <unistd.h>

#include "base/allocator.h"
#include "base/file_io.h"
#include "net/http_server.h"
#include "sandbox/chronos/chronos_emulator.h"
#include "sandbox/chronos/job_runner.h"
#include "sandbox/common/faults.h"
#include "sandbox/consul/consul_emulator.h"
#include "sandbox/marathon/marathon_emulator.h"
#include "sandbox/marathon/port_allocator.h"
#include "sandbox/registry/registry_emulator.h"

namespace galley::sandbox {
namespace {

constexpr char kUsage[] =
    "usage: galley-sandbox [options]\n"
    "  --marathon-port P          Marathon API port on the listen address (default 8080; 0 = any)\n"
    "  --consul-port Q            Consul API port (default 8500; 0 = any)\n"
    "  --chronos-port C           also serve the Chronos 3.x job API on C (0 = any; off unless "
    "given)\n"
    "  --chronos-job-time MS      simulated Chronos runs take MS milliseconds (default 500)\n"
    "  --chronos-failure-retry MS Chronos' --failure_retry: delay before a retry (default 1000)\n"
    "  --registry-port R          also run the Docker registry emulator on R (0 = any; default "
    "off)\n"
    "  --registry-auth MODE       none (default), bearer (token at /token) or basic\n"
    "  --registry-credentials U:P credentials the registry requires (basic; bearer: on /token)\n"
    "  --registry-samples DIR     serve a samples folder (digests.json; "
    "tests/testdata/registry-api)\n"
    "  --registry-image NAME:TAG  add a synthetic image (repeatable; also PUT "
    "/_sandbox/images/NAME:TAG)\n"
    "  --address A                listen address (default 127.0.0.1; loopback only is "
    "recommended)\n"
    "  --tasks simulated|process  run tasks as simulated entries (default) or real local "
    "processes\n"
    "  --health-delay MS          simulated tasks turn healthy after MS milliseconds (default "
    "1000)\n"
    "  --state FILE               keep apps, KV, sessions and registrations across restarts\n"
    "  --ready-file FILE          write {\"marathon_port\":P,\"consul_port\":Q,\"pid\":N} once "
    "serving\n"
    "  --image-map 'IMAGE=CMD'    process runner: what a Docker image runs (IMAGE may end in '*')\n"
    "  --exec-alias NAME=PROGRAM  process runner: replace every argument equal to NAME\n"
    "  --host-alias NAME=ADDRESS  process runner: replace NAME in arguments and environment "
    "values\n"
    "  --log-dir DIR              process runner: task output goes to DIR/<task id>.log\n"
    "  --consul-acl-token TOKEN   require this token (X-Consul-Token or ?token=) on Consul calls\n"
    "  --consul-session-ttl-min S smallest session TTL Consul accepts, in seconds (default 10; "
    "tests use 1)\n"
    "  --marathon-credentials U:P require HTTP basic auth on Marathon calls\n"
    "  --max-running-deployments N  Marathon's cap on concurrent deployments (default 100)\n"
    "  --local-port-min N         Marathon's --local_port_min: service ports are assigned from N\n"
    "                             (default 10000)\n"
    "  --local-port-max N         Marathon's --local_port_max: ... up to N, excluded (default "
    "20000)\n"
    "  --max-tasks N              the emulated cluster's size in tasks; more instances wait for "
    "room\n"
    "                             (default 20000 simulated, 256 process)\n"
    "  --max-connections N        open connections per API (default 512; beyond: idle ones are\n"
    "                             closed, else 503)\n"
    "  --nodes NAME=ADDR[,...]    emulated hosts on loopback addresses (127.x.y.z): Marathon\n"
    "                             places tasks across them, each gets a Consul agent endpoint\n"
    "                             (its port in the ready file's \"nodes\")\n";

std::atomic<bool> g_stop{false};

// Parses --nodes "a=127.0.0.2,b=127.0.0.3". Tests must stay on loopback, so every address is
// an IPv4 address in 127.0.0.0/8; names and addresses are unique (Consul node names without
// regard to case), and no node may take the Consul server's own node name.
Status ParseNodes(const std::string& spec, const std::string& reserved_name,
                  std::vector<marathon::MarathonNode>* out) {
  std::set<std::string> names, addresses;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    if (comma == std::string::npos) comma = spec.size();
    std::string item = spec.substr(start, comma - start);
    start = comma + 1;
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size()) {
      return Status::InvalidArgument("--nodes: '" + item + "' is not NAME=ADDRESS");
    }
    std::string name = item.substr(0, eq), address = item.substr(eq + 1);
    for (char c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
        return Status::InvalidArgument("--nodes: node name '" + name +
                                       "' may use letters, digits, '-', '_' and '.' only");
      }
    }
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string reserved = reserved_name;
    for (char& c : reserved) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == reserved) {
      return Status::InvalidArgument("--nodes: '" + name +
                                     "' is the Consul server's own node name");
    }
    if (!names.insert(lower).second) {
      return Status::InvalidArgument("--nodes: node '" + name + "' is given twice");
    }
    in_addr a{};
    if (::inet_pton(AF_INET, address.c_str(), &a) != 1) {
      return Status::InvalidArgument("--nodes: '" + address + "' (node " + name +
                                     ") is not an IPv4 address");
    }
    if ((ntohl(a.s_addr) >> 24) != 127) {
      return Status::InvalidArgument("--nodes: " + address + " (node " + name +
                                     ") is not a loopback address; sandbox nodes live on "
                                     "127.0.0.0/8");
    }
    if (!addresses.insert(address).second) {
      return Status::InvalidArgument("--nodes: address " + address + " is given to two nodes");
    }
    out->push_back({name, address});
  }
  return Status::Ok();
}

bool SplitPair(const std::string& s, std::pair<std::string, std::string>* out) {
  size_t eq = s.find('=');
  if (eq == std::string::npos || eq == 0) return false;
  *out = {s.substr(0, eq), s.substr(eq + 1)};
  return true;
}

bool SplitCredentials(const std::string& s, std::string* user, std::string* password) {
  size_t colon = s.find(':');
  if (colon == std::string::npos || colon == 0) return false;
  *user = s.substr(0, colon);
  *password = s.substr(colon + 1);
  return true;
}

int Run(int argc, char** argv) {
  marathon::MarathonOptions mopts;
  consul::ConsulOptions copts;
  marathon::ProcessRunnerOptions popts;
  marathon::SimulatedRunnerOptions sopts;
  std::string address = "127.0.0.1", tasks = "simulated", state_file, ready_file, nodes_spec;
  bool allow_remote_exec = false;
  int marathon_port = 8080, consul_port = 8500, max_tasks = -1, max_connections = 512;
  int chronos_port = -1;  // -1: no Chronos emulator
  chronos::ChronosOptions chopts;
  chronos::SimulatedJobOptions jopts;
  int registry_port = -1;
  registry::RegistryOptions ropts;
  std::string registry_samples;
  std::vector<std::string> registry_images;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (a == "--version") {
      std::cout << "galley-sandbox " << GALLEY_VERSION << " (allocator: " << galley::AllocatorName()
                << ")\n";
      return 0;
    }
    if (i + 1 >= args.size()) {
      std::cerr << "galley-sandbox: " << a << " needs a value (or is unknown)\n" << kUsage;
      return 1;
    }
    const std::string& v = args[++i];
    std::pair<std::string, std::string> kv;
    try {
      if (a == "--marathon-port")
        marathon_port = std::stoi(v);
      else if (a == "--consul-port")
        consul_port = std::stoi(v);
      else if (a == "--chronos-port")
        chronos_port = std::stoi(v);
      else if (a == "--chronos-job-time")
        jopts.run_time = std::chrono::milliseconds(std::stoi(v));
      else if (a == "--chronos-failure-retry")
        chopts.core.failure_retry_ms = std::stoll(v);
      else if (a == "--registry-port")
        registry_port = std::stoi(v);
      else if (a == "--registry-samples")
        registry_samples = v;
      else if (a == "--registry-image")
        registry_images.push_back(v);
      else if (a == "--registry-auth" && (v == "none" || v == "bearer" || v == "basic"))
        ropts.auth = v == "none"     ? registry::RegistryOptions::Auth::kNone
                     : v == "bearer" ? registry::RegistryOptions::Auth::kBearer
                                     : registry::RegistryOptions::Auth::kBasic;
      else if (a == "--registry-credentials" && SplitCredentials(v, &ropts.user, &ropts.password))
        ;
      else if (a == "--address")
        address = v;
      else if (a == "--tasks")
        tasks = v;
      else if (a == "--health-delay")
        sopts.health_delay = std::chrono::milliseconds(std::stoi(v));
      else if (a == "--state")
        state_file = v;
      else if (a == "--ready-file")
        ready_file = v;
      else if (a == "--allow-remote-exec")
        allow_remote_exec = v == "yes";
      else if (a == "--log-dir")
        popts.log_dir = v;
      else if (a == "--consul-acl-token")
        copts.acl_master_token = v;
      else if (a == "--consul-session-ttl-min")
        copts.session_ttl_min = std::chrono::milliseconds(1000LL * std::stoi(v));
      else if (a == "--marathon-credentials")
        mopts.http_credentials = v;
      else if (a == "--max-running-deployments")
        mopts.max_running_deployments = std::stoi(v);
      else if (a == "--local-port-min")
        mopts.first_service_port = std::stoi(v);
      else if (a == "--local-port-max")
        mopts.last_service_port = std::stoi(v);
      else if (a == "--max-tasks")
        max_tasks = std::stoi(v);
      else if (a == "--max-connections")
        max_connections = std::stoi(v);
      else if (a == "--nodes")
        nodes_spec = v;
      else if ((a == "--image-map" || a == "--exec-alias" || a == "--host-alias") &&
               SplitPair(v, &kv)) {
        if (a == "--image-map")
          popts.image_map.push_back(kv);
        else if (a == "--exec-alias")
          popts.exec_alias[kv.first] = kv.second;
        else
          popts.host_alias[kv.first] = kv.second;
      } else {
        std::cerr << "galley-sandbox: bad option " << a << " " << v << "\n" << kUsage;
        return 1;
      }
    } catch (const std::exception&) {
      std::cerr << "galley-sandbox: " << a << " needs a number, got '" << v << "'\n";
      return 1;
    }
  }
  if (std::string why =
          marathon::ServicePortRangeError(mopts.first_service_port, mopts.last_service_port);
      !why.empty()) {
    std::cerr << "galley-sandbox: " << why << "\n";
    return 1;
  }
  // The process runner executes whatever apps are POSTed: only on loopback, unless asked.
  bool loopback = address.rfind("127.", 0) == 0 || address == "::1" || address == "localhost";
  if (tasks == "process" && !loopback && !allow_remote_exec) {
    std::cerr
        << "galley-sandbox: --tasks process on " << address
        << " would let anyone who reaches it run programs here; use a loopback address, or add "
           "--allow-remote-exec yes if this network is yours alone\n";
    return 1;
  }
  if (tasks != "simulated" && tasks != "process") {
    std::cerr << "galley-sandbox: --tasks must be simulated or process, got '" << tasks << "'\n";
    return 1;
  }
  if (max_tasks < -1 || max_tasks == 0 || max_connections < 1) {
    std::cerr << "galley-sandbox: --max-tasks and --max-connections must be 1 or more\n";
    return 1;
  }
  if (!nodes_spec.empty()) {
    Status s = ParseNodes(nodes_spec, copts.node_name, &mopts.nodes);
    if (!s.ok()) {
      std::cerr << "galley-sandbox: " << s.message() << "\n";
      return 1;
    }
    for (const auto& n : mopts.nodes) copts.agent_nodes.push_back({n.name, n.address});
  }
  mopts.max_tasks = max_tasks > 0 ? max_tasks : tasks == "process" ? 256 : 20000;
  for (int p : {marathon_port, consul_port, chronos_port < 0 ? 0 : chronos_port}) {
    if (p < 0 || p > 65535) {
      std::cerr << "galley-sandbox: port " << p << " is out of range\n";
      return 1;
    }
  }

  // Ports are only known after binding; the emulators learn them before the first request
  // because the servers start after they are created and before ready is announced.
  mopts.hostname = address;
  copts.advertise_address = address;
  mopts.http_port = static_cast<uint16_t>(marathon_port);
  copts.http_port = static_cast<uint16_t>(consul_port);

  std::unique_ptr<Emulator> marathon_emu, consul_emu;
  FaultInjector marathon_faults(
      R"({"message":"App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.","deployments":[{"id":"00000000-0000-0000-0000-000000000000"}]})");
  FaultInjector consul_faults("");
  std::atomic<Emulator*> m_ptr{nullptr}, c_ptr{nullptr};

  // Body limits: Consul refuses KV values and transactions over 512 KiB itself (413 with its
  // own texts, which the emulator gives up to this limit); Marathon sets no HTTP limit, but
  // keeps an app or group in one ZooKeeper node (zk_max_node_size, 1 MB), so nothing it
  // could store comes near 8 MiB.
  net::HttpServerOptions mso{address, static_cast<uint16_t>(marathon_port)};
  mso.max_body_bytes = 8u << 20;
  mso.max_connections = static_cast<size_t>(max_connections);
  net::HttpServerOptions cso{address, static_cast<uint16_t>(consul_port)};
  cso.max_body_bytes = 4u << 20;
  cso.max_connections = static_cast<size_t>(max_connections);
  auto unavailable = net::HttpResponse::Json(503, R"({"message":"starting"})");
  auto mserver = net::HttpServer::Start(mso, [&](const net::HttpRequest& r) {
    Emulator* e = m_ptr.load();
    return e ? marathon_faults.Handle(r, [e](const net::HttpRequest& q) { return e->Handle(q); })
             : unavailable;
  });
  if (!mserver.ok()) {
    std::cerr << "galley-sandbox: marathon: " << mserver.status().message() << "\n";
    return 1;
  }
  auto cserver = net::HttpServer::Start(cso, [&](const net::HttpRequest& r) {
    Emulator* e = c_ptr.load();
    return e ? consul_faults.Handle(r, [e](const net::HttpRequest& q) { return e->Handle(q); })
             : unavailable;
  });
  if (!cserver.ok()) {
    std::cerr << "galley-sandbox: consul: " << cserver.status().message() << "\n";
    return 1;
  }
  // Chronos (optional): its own port, its own faults, jobs on the same kind of runner.
  FaultInjector chronos_faults("");
  std::atomic<Emulator*> ch_ptr{nullptr};  // before the server whose handler reads it
  std::unique_ptr<chronos::ChronosEmulator> chronos_emu;
  std::unique_ptr<net::HttpServer> chserver;
  if (chronos_port >= 0) {
    net::HttpServerOptions chso{address, static_cast<uint16_t>(chronos_port)};
    chso.max_body_bytes = 4u << 20;
    chso.max_connections = static_cast<size_t>(max_connections);
    auto started = net::HttpServer::Start(chso, [&](const net::HttpRequest& r) {
      Emulator* e = ch_ptr.load();
      return e ? chronos_faults.Handle(r, [e](const net::HttpRequest& q) { return e->Handle(q); })
               : unavailable;
    });
    if (!started.ok()) {
      std::cerr << "galley-sandbox: chronos: " << started.status().message() << "\n";
      return 1;
    }
    chserver = std::move(*started);
    chopts.hostname = address;
    chopts.http_port = chserver->port();
    chronos_emu = chronos::NewChronosEmulator(chopts, tasks == "process"
                                                          ? marathon::NewProcessRunner(popts)
                                                          : chronos::NewSimulatedJobRunner(jopts));
  }
  mopts.http_port = (*mserver)->port();
  copts.http_port = (*cserver)->port();

  // The registry emulator (issue #15), when asked for.
  std::unique_ptr<registry::RegistryEmulator> registry_emu;
  std::unique_ptr<net::HttpServer> rserver;
  if (registry_port >= 0) {
    if (registry_port > 65535 ||
        (ropts.auth == registry::RegistryOptions::Auth::kBasic && ropts.user.empty())) {
      std::cerr << "galley-sandbox: --registry-port out of range, or --registry-auth basic "
                   "without --registry-credentials\n";
      return 1;
    }
    registry_emu = std::make_unique<registry::RegistryEmulator>(ropts);
    if (!registry_samples.empty()) {
      Status s = registry_emu->LoadSamples(registry_samples);
      if (!s.ok()) {
        std::cerr << "galley-sandbox: registry: " << s.message() << "\n";
        return 1;
      }
    }
    for (const auto& image : registry_images) {
      size_t colon = image.rfind(':');
      Status s = colon == std::string::npos
                     ? Status::InvalidArgument("--registry-image wants NAME:TAG, got " + image)
                     : registry_emu->AddImage(image.substr(0, colon), image.substr(colon + 1));
      if (!s.ok()) {
        std::cerr << "galley-sandbox: registry: " << s.message() << "\n";
        return 1;
      }
    }
    net::HttpServerOptions rso{address, static_cast<uint16_t>(registry_port)};
    rso.max_body_bytes = 1u << 20;
    rso.max_connections = static_cast<size_t>(max_connections);
    auto* emu = registry_emu.get();
    auto started =
        net::HttpServer::Start(rso, [emu](const net::HttpRequest& r) { return emu->Handle(r); });
    if (!started.ok()) {
      std::cerr << "galley-sandbox: registry: " << started.status().message() << "\n";
      return 1;
    }
    rserver = std::move(*started);
    registry_emu->set_token_realm("http://" + address + ":" + std::to_string(rserver->port()) +
                                  "/token");
  }
  marathon_emu = marathon::NewMarathonEmulator(mopts, tasks == "process"
                                                          ? marathon::NewProcessRunner(popts)
                                                          : marathon::NewSimulatedRunner(sopts));
  consul_emu = consul::NewConsulEmulator(copts);

  if (!state_file.empty()) {
    auto text = ReadFileBounded(state_file, 1u << 30);
    if (text.ok()) {
      auto j = nlohmann::json::parse(*text, nullptr, false);
      Status s = j.is_object() ? Status::Ok() : Status::InvalidArgument("not a JSON object");
      if (s.ok() && j.contains("marathon")) s = marathon_emu->Restore(j["marathon"]);
      if (s.ok() && j.contains("consul")) s = consul_emu->Restore(j["consul"]);
      if (s.ok() && chronos_emu && j.contains("chronos")) s = chronos_emu->Restore(j["chronos"]);
      if (!s.ok()) {
        std::cerr << "galley-sandbox: cannot restore " << state_file << ": " << s.message() << "\n";
        return 1;
      }
    } else if (text.status().code() != StatusCode::kNotFound) {
      std::cerr << "galley-sandbox: " << text.status().message() << "\n";
      return 1;
    }
  }
  m_ptr = marathon_emu.get();
  c_ptr = consul_emu.get();
  ch_ptr = chronos_emu.get();

  // One Consul agent endpoint per node, on the node's address (any free port: the ready
  // file says which), all over the one catalog; faults apply to them as to the main port.
  std::vector<std::unique_ptr<net::HttpServer>> node_servers;
  nlohmann::json ready_nodes = nlohmann::json::array();
  for (const auto& n : mopts.nodes) {
    net::HttpServerOptions nso{n.address, 0};
    nso.max_body_bytes = cso.max_body_bytes;
    nso.max_connections = cso.max_connections;
    auto agent = consul::AgentEndpoint(consul_emu.get(), n.name);
    auto server = net::HttpServer::Start(nso, [&consul_faults, agent](const net::HttpRequest& r) {
      return consul_faults.Handle(r, agent);
    });
    if (!server.ok()) {
      std::cerr << "galley-sandbox: consul agent of node " << n.name << ": "
                << server.status().message() << "\n";
      return 1;
    }
    ready_nodes.push_back(
        {{"name", n.name}, {"address", n.address}, {"consul_port", (*server)->port()}});
    node_servers.push_back(std::move(*server));
  }

  auto save = [&]() -> bool {
    nlohmann::json j = {{"galley_sandbox_state", 1},
                        {"marathon", marathon_emu->Snapshot()},
                        {"consul", consul_emu->Snapshot()}};
    if (chronos_emu) j["chronos"] = chronos_emu->Snapshot();
    Status s = WriteFileAtomic(state_file, j.dump());
    if (!s.ok()) std::cerr << "galley-sandbox: saving state: " << s.message() << "\n";
    return s.ok();
  };

  if (!ready_file.empty()) {
    nlohmann::json ready = {{"marathon_port", mopts.http_port},
                            {"consul_port", copts.http_port},
                            {"pid", static_cast<int>(::getpid())}};
    if (!mopts.nodes.empty()) ready["nodes"] = ready_nodes;
    if (chronos_emu) ready["chronos_port"] = chopts.http_port;
    if (rserver) ready["registry_port"] = rserver->port();
    Status s = WriteFileAtomic(ready_file, ready.dump() + "\n");
    if (!s.ok()) {
      std::cerr << "galley-sandbox: " << s.message() << "\n";
      return 1;
    }
  }
  std::cout << "galley-sandbox: marathon on http://" << address << ":" << mopts.http_port
            << ", consul on http://" << address << ":" << copts.http_port << " (" << tasks
            << " tasks)";
  if (chronos_emu) std::cout << ", chronos on http://" << address << ":" << chopts.http_port;
  std::cout << std::endl;
  if (rserver) {
    std::cout << "galley-sandbox: registry on http://" << address << ":" << rserver->port()
              << std::endl;
  }

  auto chronos_changes = [&]() -> uint64_t {
    return chronos_emu ? chronos_emu->ChangeCounter() : 0;
  };
  uint64_t saved_m = marathon_emu->ChangeCounter(), saved_c = consul_emu->ChangeCounter();
  uint64_t saved_ch = chronos_changes();
  while (!g_stop.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (state_file.empty()) continue;
    uint64_t m = marathon_emu->ChangeCounter(), c = consul_emu->ChangeCounter();
    uint64_t ch = chronos_changes();
    if (m != saved_m || c != saved_c || ch != saved_ch) {
      if (save()) {
        saved_m = m;
        saved_c = c;
        saved_ch = ch;
      }
    }
  }
  std::cout << "galley-sandbox: stopping" << std::endl;
  marathon_faults.Stop();
  consul_faults.Stop();
  chronos_faults.Stop();
  if (chronos_emu) chronos_emu->Stop();
  if (chserver) chserver->Stop();
  marathon_emu->Stop();
  consul_emu->Stop();
  (*mserver)->Stop();
  (*cserver)->Stop();
  for (auto& s : node_servers) s->Stop();
  if (rserver) rserver->Stop();
  if (!state_file.empty()) save();
  return 0;
}

void OnSignal(int) {
  if (g_stop.exchange(true)) _exit(1);  // the second signal: do not wait for a clean stop
}

}  // namespace
}  // namespace galley::sandbox

int main(int argc, char** argv) {
  struct sigaction sa {};
  sa.sa_handler = galley::sandbox::OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  try {
    return galley::sandbox::Run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "galley-sandbox: internal error: " << e.what() << "\n";
    return 1;
  }
}
