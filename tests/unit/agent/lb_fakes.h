// SPDX-License-Identifier: Apache-2.0
// Fakes for the load-balancer manager's unit tests (no sockets, no processes): a Consul client
// with KV, sessions and service health in memory; an HAProxy runtime API that keeps backends
// and servers and answers the commands lb_sync sends with HAProxy 2.6's replies
// (haproxy-lab §3.2); a master that "starts" and "reloads" by loading the config file into
// that runtime and refuses configs containing a marker word, as `haproxy -c` would.
// Plus a tiny LB model builder shared with the integration tests. Not synchronised beyond a
// mutex per fake.
#pragma once

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "agent/haproxy_process.h"
#include "agent/haproxy_runtime.h"
#include "agent/lb_sync.h"
#include "base/file_io.h"
#include "base/strings.h"
#include "clients/consul_client.h"
#include "render/lb_model.h"

namespace galley::agent::testing {

// One environment ("production"), services named `names`, each one HTTP port 8080 + i (no
// health path, roundrobin unless `balance`), the internal instance "internal".
// `envs`: name → port prefix, in order (default: production without a prefix).
inline render::LbModel MakeModel(
    const std::vector<std::string>& names, const std::string& balance = "", int first_port = 8080,
    const std::string& platform = "plat",
    const std::vector<std::pair<std::string, std::string>>& envs = {{"production", ""}},
    int maxconn = 4096) {
  model::DesiredState st;
  st.platform.name = platform;
  st.platform.haproxy_maxconn = maxconn;
  for (const auto& [env, prefix] : envs)
    st.platform.environments.push_back({env, prefix, "", false, {}, {}});
  int port = first_port;
  for (const auto& n : names) {
    model::Service s;
    s.name = n;
    s.ports = {{port++, model::Expose::kHttp, {}}};
    s.balance = balance;
    for (const auto& [env, prefix] : envs) {
      model::ServiceEnvironment e;
      e.name = env;
      e.instances = 1;
      s.environments.push_back(e);
    }
    st.services.push_back(s);
  }
  std::sort(st.services.begin(), st.services.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  model::HaproxyInstance in;
  in.name = "internal";
  return render::LbModelFor(st, in);
}

class FakeConsul : public clients::ConsulClient {
 public:
  // ---- setup
  void SetKv(const std::string& key, const std::string& value) {
    std::lock_guard<std::mutex> l(mu);
    kv[key] = {key, value, ++index, 0, ""};
  }
  void SetInstances(const std::string& name, std::vector<clients::HealthInstance> v) {
    std::lock_guard<std::mutex> l(mu);
    health[name] = std::move(v);
  }
  static clients::HealthInstance Inst(const std::string& node, const std::string& addr, int port,
                                      bool passing = true) {
    return {node, addr, port, node + "-" + std::to_string(port), {"production"}, passing};
  }

  // ---- reads
  Result<clients::KvList> ListKv(const std::string&) override {
    return Status::Unavailable("not faked");
  }
  Result<model::LiveKvEntry> GetKv(const std::string& key) override {
    std::lock_guard<std::mutex> l(mu);
    ++requests_n;
    if (fail_reads)
      return Status::Unavailable("consul http://fake: GET /v1/kv/" + key + ": connection refused");
    auto it = kv.find(key);
    if (it == kv.end()) return Status::NotFound("no key " + key);
    return it->second;
  }
  Result<std::map<std::string, std::vector<std::string>>> ListServices() override {
    return Status::Unavailable("not faked");
  }
  Result<std::vector<clients::HealthInstance>> ServiceHealth(const std::string& name,
                                                             bool passing_only) override {
    std::lock_guard<std::mutex> l(mu);
    ++requests_n;
    ++health_reads;
    if (fail_reads)
      return Status::Unavailable("consul http://fake: GET /v1/health/service/" + name +
                                 ": connection refused");
    std::vector<clients::HealthInstance> out;
    for (const auto& i : health[name]) {
      if (!passing_only || i.passing) out.push_back(i);
    }
    return out;
  }
  int requests() const override { return requests_n; }

  // ---- writes (sessions and locks only)
  Result<clients::KvTxnResult> Txn(const std::vector<clients::KvTxnOp>&) override {
    return Status::Unavailable("not faked");
  }
  Result<bool> PutKv(const std::string& key, const std::string&, std::optional<uint64_t>) override {
    std::lock_guard<std::mutex> l(mu);
    plain_puts.push_back(key);
    return Status::Unavailable("the agent must never PUT without acquire");
  }
  Result<std::string> CreateSession(const clients::SessionOptions& o) override {
    std::lock_guard<std::mutex> l(mu);
    if (fail_writes) return Status::Unavailable("consul down");
    std::string id = "session-" + std::to_string(++session_seq);
    sessions[id] = o;
    return id;
  }
  Status RenewSession(const std::string& id) override {
    std::lock_guard<std::mutex> l(mu);
    ++renewals;
    if (fail_writes) return Status::Unavailable("consul down");
    return sessions.count(id) ? Status::Ok() : Status::NotFound("session " + id + " not found");
  }
  Status DestroySession(const std::string& id) override {
    std::lock_guard<std::mutex> l(mu);
    InvalidateLocked(id);
    return Status::Ok();
  }
  Result<bool> AcquireLock(const std::string& key, const std::string& value,
                           const std::string& session) override {
    std::lock_guard<std::mutex> l(mu);
    if (fail_writes) return Status::Unavailable("consul down");
    if (!sessions.count(session)) return Status::NotFound("invalid session \"" + session + "\"");
    auto it = kv.find(key);
    if (it != kv.end() && !it->second.session.empty() && it->second.session != session)
      return false;
    kv[key] = {key, value, ++index, 0, session};
    return true;
  }
  Result<bool> ReleaseLock(const std::string&, const std::string&) override {
    return Status::Unavailable("not faked");
  }
  Result<bool> DeleteKv(const std::string& key, std::optional<uint64_t>) override {
    std::lock_guard<std::mutex> l(mu);
    kv.erase(key);
    return true;
  }
  // Consul invalidating a session (TTL expiry, destroy): behavior delete removes its keys.
  void Expire(const std::string& id) {
    std::lock_guard<std::mutex> l(mu);
    InvalidateLocked(id);
  }

  std::mutex mu;
  std::map<std::string, model::LiveKvEntry> kv;
  std::map<std::string, std::vector<clients::HealthInstance>> health;
  std::map<std::string, clients::SessionOptions> sessions;
  std::vector<std::string> plain_puts;
  bool fail_reads = false, fail_writes = false;
  int requests_n = 0, health_reads = 0, renewals = 0, session_seq = 0;
  uint64_t index = 1;

 private:
  void InvalidateLocked(const std::string& id) {
    auto s = sessions.find(id);
    if (s == sessions.end()) return;
    for (auto it = kv.begin(); it != kv.end();) {
      if (it->second.session == id && s->second.behavior == "delete") {
        it = kv.erase(it);
      } else {
        if (it->second.session == id) it->second.session.clear();
        ++it;
      }
    }
    sessions.erase(s);
  }
};

class FakeRuntime : public HaproxyRuntime {
 public:
  struct Server {
    std::string name, addr;
    int port = 0, op = 2, admin = 0, scur = 0;
  };
  struct Backend {
    std::string name;
    std::vector<Server> servers;
  };

  // What a (re)started worker has: the config's servers, running; admin states carried over
  // for servers of the same name when `keep_admin` (the server-state file).
  void Load(const std::string& config, bool keep_admin) {
    std::lock_guard<std::mutex> l(mu);
    auto d = ParseRenderedConfig(config);
    std::map<std::pair<std::string, std::string>, int> admin;
    for (const auto& b : backends)
      for (const auto& s : b.servers) admin[{b.name, s.name}] = s.admin;
    backends.clear();
    if (!d.ok()) return;
    for (const auto& b : d->backends) {
      Backend nb{b.name, {}};
      for (const auto& s : b.servers) {
        Server ns{s.name, s.address, s.port};
        if (keep_admin && admin.count({b.name, s.name})) ns.admin = admin[{b.name, s.name}];
        nb.servers.push_back(ns);
      }
      backends.push_back(nb);
    }
  }

  Result<std::string> Send(const std::string& command) override {
    std::lock_guard<std::mutex> l(mu);
    if (down) return Status::Unavailable("haproxy runtime fake.sock: connect: Connection refused");
    commands.push_back(command);
    auto t = Split(command, ' ');
    if (command == "show servers state" || StartsWith(command, "show servers state ")) {
      // With a backend name: that backend's rows only (HAProxy's reply for an unknown one).
      std::string only = command.size() > 18 ? command.substr(19) : "";
      if (!only.empty() && std::none_of(backends.begin(), backends.end(),
                                        [&](const auto& b) { return b.name == only; }))
        return std::string("Can't find backend.\n");
      std::string out =
          "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_port\n";
      int be = 0;
      for (const auto& b : backends) {
        ++be;
        if (!only.empty() && b.name != only) continue;
        int id = 0;
        for (const auto& s : b.servers) {
          out += std::to_string(be) + " " + b.name + " " + std::to_string(++id) + " " + s.name +
                 " " + s.addr + " " + std::to_string(s.op) + " " + std::to_string(s.admin) + " " +
                 std::to_string(s.port) + "\n";
        }
      }
      return out + "\n";
    }
    if (StartsWith(command, "show stat ")) {
      std::string out = "# pxname,svname,qcur,qmax,scur\n";
      for (const auto& b : backends)
        for (const auto& s : b.servers)
          if (command == "show stat " + b.name + " 4 -1")
            out += b.name + "," + s.name + ",0,0," + std::to_string(s.scur) + "\n";
      return out;
    }
    if (t.size() < 3) return std::string("Unknown command.\n");
    Server* srv = nullptr;
    Backend* bk = nullptr;
    std::string ref =
        t[0] == "add" || t[0] == "del" || t[0] == "enable" || t[0] == "set" ? t[2] : "";
    size_t slash = ref.find('/');
    if (slash != std::string::npos) {
      for (auto& b : backends) {
        if (b.name != ref.substr(0, slash)) continue;
        bk = &b;
        for (auto& s : b.servers)
          if (s.name == ref.substr(slash + 1)) srv = &s;
      }
    }
    if (t[0] == "add" && t[1] == "server") {
      if (!bk) return std::string("No such backend.\n");
      if (srv) return std::string("Already exists a server with the same name in backend.\n");
      auto colon = t[3].rfind(':');
      bk->servers.push_back({ref.substr(slash + 1), t[3].substr(0, colon),
                             std::stoi(t[3].substr(colon + 1)), 0, kAdminForcedMaint, 0});
      return std::string("New server registered.\n");
    }
    if (!srv) return std::string("No such server.\n");
    if (t[0] == "enable" && t[1] == "health") return std::string("\n");
    if (t[0] == "enable" && t[1] == "server") {
      srv->admin &= ~kAdminForcedMaint;
      srv->op = 2;
      return std::string("\n");
    }
    if (t[0] == "set" && t.size() >= 5 && t[3] == "state") {
      srv->admin &= ~(kAdminForcedMaint | kAdminForcedDrain);
      if (t[4] == "maint") srv->admin |= kAdminForcedMaint;
      if (t[4] == "drain") srv->admin |= kAdminForcedDrain;
      return std::string("\n");
    }
    if (t[0] == "set" && t.size() >= 7 && t[3] == "addr") {
      srv->addr = t[4];
      srv->port = std::stoi(t[6]);
      return std::string("IP changed from 'x' to '" + t[4] + "' by 'stats socket command'\n");
    }
    if (t[0] == "del") {
      if (!(srv->admin & kAdminForcedMaint))
        return std::string("Only servers in maintenance mode can be deleted.\n");
      if (srv->scur > 0)
        return std::string("Server still has connections attached to it, cannot remove it.\n");
      bk->servers.erase(bk->servers.begin() + (srv - bk->servers.data()));
      return std::string("Server deleted.\n");
    }
    return std::string("Unknown command.\n");
  }

  Server* Find(const std::string& backend, const std::string& server) {
    for (auto& b : backends) {
      if (b.name != backend) continue;
      for (auto& s : b.servers)
        if (s.name == server) return &s;
    }
    return nullptr;
  }
  size_t ServerCount() {
    size_t n = 0;
    for (const auto& b : backends) n += b.servers.size();
    return n;
  }
  int CountCommands(const std::string& prefix) {
    std::lock_guard<std::mutex> l(mu);
    return static_cast<int>(
        std::count_if(commands.begin(), commands.end(),
                      [&](const std::string& c) { return StartsWith(c, prefix); }));
  }

  std::mutex mu;
  std::vector<Backend> backends;
  std::vector<std::string> commands;
  bool down = false;
};

class FakeMaster : public HaproxyMaster {
 public:
  FakeMaster(FakeRuntime* rt, std::string config_path) : rt_(rt), config_(std::move(config_path)) {}

  Status Check(const std::string& path) override {
    ++checks;
    auto text = ReadFileBounded(path, 64u << 20);
    if (!text.ok()) return Status::Unavailable(text.status().message());
    if (text->find(refuse) != std::string::npos)
      return Status::InvalidArgument("haproxy -c -f " + path +
                                     " refused the config (exit 1): [ALERT] " + refuse);
    return Status::Ok();
  }
  Result<MasterState> Query() override {
    if (!running) return Status::Unavailable("haproxy master m.sock: connect: Connection refused");
    return State();
  }
  Result<MasterState> Start() override {
    if (running) return State();
    auto text = ReadFileBounded(config_, 64u << 20);
    if (!text.ok()) return Status::Unavailable(text.status().message());
    ++start_attempts;
    if (text->find(refuse) != std::string::npos)  // HAProxy parses at start and exits
      return Status::Unavailable("haproxy exited at start: [ALERT] " + refuse);
    running = true;
    ++starts;
    ++pid;
    worker = pid + 1;
    reloads = 0;
    rt_->Load(*text, false);
    rt_->down = false;
    return State();
  }
  Result<MasterState> Reload() override {
    if (!running) return Status::Unavailable("not running");
    auto text = ReadFileBounded(config_, 64u << 20);
    ++reloads;
    if (fail_reload) {
      return Status::Internal("haproxy reload failed (show proc: failed: 1)");
    }
    ++worker;
    rt_->Load(*text, true);
    return State();
  }
  Status Stop() override {
    running = false;
    return Status::Ok();
  }
  // HAProxy killed: master and workers gone, sockets dead.
  void Kill() {
    running = false;
    rt_->down = true;
  }

  bool running = false, fail_reload = false;
  int starts = 0, start_attempts = 0, reloads = 0, checks = 0, pid = 1000, worker = 0;
  std::string refuse = "balance bogus";

 private:
  MasterState State() const { return MasterState{pid, reloads, 0, worker, {}}; }
  FakeRuntime* rt_;
  std::string config_;
};

}  // namespace galley::agent::testing
