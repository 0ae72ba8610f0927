// SPDX-License-Identifier: Apache-2.0
#include "agent/lb_sync.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <set>

#include <arpa/inet.h>

#include "agent/text_fields.h"
#include "base/digest.h"
#include "base/strings.h"
#include "render/haproxy_config.h"

namespace galley::agent {
namespace {

std::string_view TrimView(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool ParseInt(std::string_view s, int& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// One config line, classified. A section starts at column 0; its content is indented.
struct ConfigLine {
  bool section = false;
  std::string_view keyword;  // section keyword, or the first token of a content line
  std::vector<std::string_view> tokens;
};

ConfigLine Classify(std::string_view raw) {
  ConfigLine l;
  std::string_view t = TrimView(raw);
  if (t.empty() || t.front() == '#') return l;
  l.tokens = Fields(t);
  l.keyword = l.tokens.front();
  l.section = raw.front() != ' ' && raw.front() != '\t';
  return l;
}

bool IsProxySection(std::string_view kw) { return kw == "backend" || kw == "listen"; }

// A server line is membership when it sits in a backend (or listen) section.
template <typename Fn>
void WalkConfig(std::string_view text, Fn&& fn) {
  bool in_proxy = false;
  std::string_view proxy;
  for (std::string_view raw : Lines(text)) {
    ConfigLine l = Classify(raw);
    if (l.section) {
      in_proxy = IsProxySection(l.keyword);
      proxy = in_proxy && l.tokens.size() > 1 ? l.tokens[1] : std::string_view();
    }
    bool server = !l.section && in_proxy && l.keyword == "server";
    fn(raw, l, proxy, server);
  }
}

// "10.0.0.1:31001" / "::1:31001" / "[::1]:31001": the port follows the last colon.
bool SplitAddressPort(std::string_view s, std::string& address, int& port) {
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  if (!ParseInt(s.substr(colon + 1), port) || port <= 0 || port > 65535) return false;
  std::string_view a = s.substr(0, colon);
  if (a.size() > 2 && a.front() == '[' && a.back() == ']') a = a.substr(1, a.size() - 2);
  address = std::string(a);
  return true;
}

// An IP literal in canonical binary form; "" for a host name.
std::string IpBytes(const std::string& address) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, address.c_str(), buf) == 1)
    return std::string(reinterpret_cast<char*>(buf), 4);
  if (inet_pton(AF_INET6, address.c_str(), buf) == 1)
    return std::string(reinterpret_cast<char*>(buf), 16);
  return "";
}

bool SameAddress(const std::string& a, const std::string& b) {
  if (a == b) return true;
  std::string x = IpBytes(a), y = IpBytes(b);
  return !x.empty() && x == y;
}

// Algorithms that accept `add server` (haproxy-lab §3.2: roundrobin, first, and per the doc
// leastconn and random). The hash-based ones are static unless `hash-type consistent`, which
// the renderer never writes.
bool DynamicBalance(const std::string& balance) {
  return balance == "roundrobin" || balance == "leastconn" || balance == "first" ||
         balance == "random";
}

bool HasCheck(const std::string& options) {
  for (auto t : Fields(options)) {
    if (t == "check") return true;
  }
  return false;
}

// Dynamic servers get no idle-connection pool unless asked (haproxy-lab §3.3: 8.8x fewer
// requests without it); config servers have these values by default, so the file omits them.
std::string AddServerOptions(const std::string& options) {
  std::vector<std::string> out;
  if (!options.empty()) out.push_back(options);
  if (options.find("pool-max-conn") == std::string::npos) out.push_back("pool-max-conn -1");
  if (options.find("pool-purge-delay") == std::string::npos) out.push_back("pool-purge-delay 5s");
  return Join(out, " ");
}

std::string Ref(const ServerRef& r) { return r.backend + "/" + r.server; }

}  // namespace

const char* AdminIntentName(AdminIntent i) {
  switch (i) {
    case AdminIntent::kReady:
      return "ready";
    case AdminIntent::kDrain:
      return "drain";
    case AdminIntent::kMaint:
      return "maint";
  }
  return "?";
}

std::string StructureDigest(std::string_view config_text) {
  std::string structure;
  structure.reserve(config_text.size());
  WalkConfig(config_text,
             [&](std::string_view raw, const ConfigLine&, std::string_view, bool server) {
               if (server) return;
               structure.append(raw);
               structure.push_back('\n');
             });
  return Sha256Hex(structure);
}

Result<DesiredLb> ParseRenderedConfig(std::string_view config_text) {
  DesiredLb out;
  std::string structure, membership;
  Status error;
  int line_no = 0;
  WalkConfig(config_text, [&](std::string_view raw, const ConfigLine& l, std::string_view proxy,
                              bool server) {
    ++line_no;
    if (!error.ok()) return;
    if (l.section && IsProxySection(l.keyword)) {
      if (proxy.empty()) {
        error =
            Status::InvalidArgument("line " + std::to_string(line_no) + ": backend without a name");
        return;
      }
      out.backends.push_back({std::string(proxy), "roundrobin", {}});
    }
    if (!server) {
      if (!l.section && !out.backends.empty() && l.keyword == "balance" && l.tokens.size() > 1 &&
          !proxy.empty()) {
        out.backends.back().balance = std::string(l.tokens[1]);
      }
      structure.append(raw);
      structure.push_back('\n');
      return;
    }
    DesiredServer s;
    if (l.tokens.size() < 3 || !SplitAddressPort(l.tokens[2], s.address, s.port)) {
      error = Status::InvalidArgument(
          "line " + std::to_string(line_no) +
          ": server line without <address>:<port>: " + Quote(TrimView(raw)));
      return;
    }
    s.name = std::string(l.tokens[1]);
    std::vector<std::string> rest;
    for (size_t i = 3; i < l.tokens.size(); ++i) rest.emplace_back(l.tokens[i]);
    s.options = Join(rest, " ");
    membership += std::string(proxy) + "\t" + std::string(TrimView(raw)) + "\n";
    out.backends.back().servers.push_back(std::move(s));
  });
  if (!error.ok()) return error.WithContext("rendered HAProxy config");
  out.structure_digest = Sha256Hex(structure);
  out.membership_digest = Sha256Hex(membership);
  return out;
}

Result<DesiredLb> DesiredFor(const model::DesiredState& state,
                             const model::HaproxyInstance& instance, const model::Instances& live) {
  return ParseRenderedConfig(render::RenderHaproxyConfig(state, instance, live));
}

Result<std::vector<RunningBackend>> ParseServersState(std::string_view text) {
  std::vector<std::string_view> lines;
  for (auto l : Lines(text)) {
    l = TrimView(l);
    if (!l.empty()) lines.push_back(l);
  }
  auto fail = [](const std::string& why) {
    return Status::InvalidArgument("show servers state: " + why);
  };
  if (lines.empty()) return fail("empty reply");
  if (lines[0] != "1") return fail("unsupported format " + Quote(lines[0]) + " (want version 1)");
  if (lines.size() < 2 || lines[1].substr(0, 2) != "# ") return fail("no column header");
  std::vector<std::string_view> header = Fields(lines[1].substr(2));
  auto column = [&](std::string_view name) -> int {
    auto it = std::find(header.begin(), header.end(), name);
    return it == header.end() ? -1 : static_cast<int>(it - header.begin());
  };
  const char* names[] = {"be_id",    "be_name",      "srv_id",          "srv_name",
                         "srv_addr", "srv_op_state", "srv_admin_state", "srv_port"};
  int col[8];
  for (int i = 0; i < 8; ++i) {
    col[i] = column(names[i]);
    if (col[i] < 0) return fail(std::string("no column ") + names[i]);
  }
  std::vector<RunningBackend> out;
  for (size_t n = 2; n < lines.size(); ++n) {
    std::vector<std::string_view> f = Fields(lines[n]);
    if (f.size() < header.size())
      return fail("row " + std::to_string(n - 1) + " has " + std::to_string(f.size()) +
                  " fields, header " + std::to_string(header.size()) + ": " + Quote(lines[n]));
    RunningServer s;
    int be_id = 0;
    if (!ParseInt(f[col[0]], be_id) || !ParseInt(f[col[2]], s.id) ||
        !ParseInt(f[col[5]], s.op_state) || !ParseInt(f[col[6]], s.admin_state) ||
        !ParseInt(f[col[7]], s.port)) {
      return fail("row " + std::to_string(n - 1) + " has a non-numeric field: " + Quote(lines[n]));
    }
    s.name = std::string(f[col[3]]);
    s.address = f[col[4]] == "-" ? "" : std::string(f[col[4]]);
    std::string be_name(f[col[1]]);
    if (out.empty() || out.back().id != be_id || out.back().name != be_name) {
      out.push_back({be_id, be_name, {}});
    }
    out.back().servers.push_back(std::move(s));
  }
  return out;
}

namespace {

// FNV-1a over the fields (each followed by a separator), finished with a 64-bit mixer so that
// summing rows does not cancel structure.
struct RowHash {
  uint64_t h = 1469598103934665603ull;
  void Add(std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0x1f) * 1099511628211ull;
  }
  void Add(long v) { Add(std::string_view(std::to_string(v))); }
  uint64_t Done() const {
    uint64_t z = h + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
};

uint64_t ServerRowHash(std::string_view backend, std::string_view server, std::string_view address,
                       long port, long admin_state) {
  RowHash r;
  r.Add(backend);
  r.Add(server);
  r.Add(address);
  r.Add(port);
  r.Add(admin_state);
  return r.Done();
}

void Count(ServersFingerprint& fp, int op_state, int admin_state) {
  std::string_view state = ServerStateName(op_state, admin_state);
  if (state == "maint") {
    ++fp.maint;
  } else if (state == "drain") {
    ++fp.drain;
  } else if (state == "up") {
    ++fp.up;
  } else {
    ++fp.down;
  }
}

}  // namespace

const char* ServerStateName(int op_state, int admin_state) {
  if (admin_state & (kAdminForcedMaint | kAdminConfigMaint | kAdminInheritedMaint |
                     kAdminResolutionMaint | kAdminHostnameMaint))
    return "maint";
  if (admin_state & (kAdminForcedDrain | kAdminInheritedDrain)) return "drain";
  return op_state == static_cast<int>(OpState::kRunning) ? "up" : "down";
}

ServersFingerprint FingerprintServers(const std::vector<RunningBackend>& backends) {
  ServersFingerprint fp;
  for (const auto& b : backends) {
    for (const auto& s : b.servers) {
      fp.hash += ServerRowHash(b.name, s.name, s.address, s.port, s.admin_state);
      ++fp.servers;
      Count(fp, s.op_state, s.admin_state);
    }
  }
  return fp;
}

Result<ServersFingerprint> FingerprintServersState(std::string_view text) {
  auto fail = [](const std::string& why) {
    return Status::InvalidArgument("show servers state: " + why);
  };
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  // The next non-empty trimmed line, or false at the end.
  size_t pos = 0;
  auto next_line = [&](std::string_view* line) {
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string_view::npos) nl = text.size();
      std::string_view l = TrimView(text.substr(pos, nl - pos));
      pos = nl + 1;
      if (!l.empty()) {
        *line = l;
        return true;
      }
    }
    return false;
  };
  std::string_view line;
  if (!next_line(&line)) return fail("empty reply");
  if (line != "1") return fail("unsupported format " + Quote(line) + " (want version 1)");
  if (!next_line(&line) || line.substr(0, 2) != "# ") return fail("no column header");
  std::vector<std::string_view> header = Fields(line.substr(2));
  const char* names[] = {"be_name",  "srv_name",     "srv_addr",
                         "srv_port", "srv_op_state", "srv_admin_state"};
  int col[6];
  for (int i = 0; i < 6; ++i) {
    auto it = std::find(header.begin(), header.end(), names[i]);
    if (it == header.end()) return fail(std::string("no column ") + names[i]);
    col[i] = static_cast<int>(it - header.begin());
  }
  ServersFingerprint fp;
  std::string_view f[6];
  while (next_line(&line)) {
    size_t i = 0, n = 0;
    while (i < line.size()) {
      while (i < line.size() && blank(line[i])) ++i;
      size_t j = i;
      while (j < line.size() && !blank(line[j])) ++j;
      if (j > i) {
        for (int k = 0; k < 6; ++k) {
          if (col[k] == static_cast<int>(n)) f[k] = line.substr(i, j - i);
        }
        ++n;
      }
      i = j;
    }
    if (n < header.size())
      return fail("row " + std::to_string(fp.servers + 1) + " has " + std::to_string(n) +
                  " fields, header " + std::to_string(header.size()) + ": " + Quote(line));
    int port = 0, op = 0, admin = 0;
    if (!ParseInt(f[3], port) || !ParseInt(f[4], op) || !ParseInt(f[5], admin))
      return fail("row " + std::to_string(fp.servers + 1) +
                  " has a non-numeric field: " + Quote(line));
    fp.hash += ServerRowHash(f[0], f[1], f[2] == "-" ? std::string_view() : f[2], port, admin);
    ++fp.servers;
    Count(fp, op, admin);
  }
  return fp;
}

LbSyncPlan PlanLbSync(const LbSyncInput& in) {
  LbSyncPlan plan;
  const std::set<Endpoint> killing(in.killing.begin(), in.killing.end());
  auto is_killing = [&](const std::string& address, int port) {
    for (const auto& k : killing) {
      if (k.port == port && SameAddress(k.address, address)) return true;
    }
    return false;
  };

  std::map<std::string, const DesiredBackend*> desired;
  for (const auto& b : in.desired.backends) desired[b.name] = &b;
  std::map<std::string, const RunningBackend*> running;
  for (const auto& b : in.running.backends) running[b.name] = &b;

  // Reasons to reload; runtime commands are still computed so the kill drains go out.
  std::vector<std::string> reload_reasons;
  if (in.running.structure_digest.empty()) {
    reload_reasons.push_back("the structure the running HAProxy was loaded with is unknown");
  } else if (in.running.structure_digest != in.desired.structure_digest) {
    reload_reasons.push_back("structure changed (listeners, backends or options): running " +
                             in.running.structure_digest.substr(0, 12) + ", rendered " +
                             in.desired.structure_digest.substr(0, 12));
  }
  for (const auto& rb : in.running.backends) {
    if (!desired.count(rb.name)) {
      reload_reasons.push_back("backend " + rb.name + " runs but is not in the rendered config");
    }
  }

  std::vector<RuntimeCommand> moves, adds, readies, drains, after;
  auto cmd = [](std::string text, CommandPhase phase, Expect expect, const ServerRef& ref) {
    return RuntimeCommand{std::move(text), phase, expect, ref};
  };
  std::map<ServerRef, AdminIntent> intents;

  // Drain → maint (→ del): the retirement of a server, starting from where it is now.
  auto retire = [&](const ServerRef& ref, const RunningServer& rs, bool remove, bool can_delete) {
    std::string r = Ref(ref);
    bool maint = rs.admin_state & kAdminForcedMaint;
    bool drain = rs.admin_state & kAdminForcedDrain;
    if (!maint && !drain) {
      drains.push_back(
          cmd("set server " + r + " state drain", CommandPhase::kNow, Expect::kEmpty, ref));
    }
    if (!maint) {
      after.push_back(
          cmd("set server " + r + " state maint", CommandPhase::kAfterDrain, Expect::kEmpty, ref));
    }
    if (remove && can_delete) {
      // Already in maint: it was drained before, so the delete need not wait again.
      after.push_back(cmd("del server " + r, maint ? CommandPhase::kNow : CommandPhase::kAfterDrain,
                          Expect::kServerDeleted, ref));
      return;  // gone: no intent to keep
    }
    if (remove) {
      plan.notes.push_back(r + " stays in maint until the next reload: backend " + ref.backend +
                           " uses a static balance algorithm, which refuses del server");
    }
    intents[ref] = AdminIntent::kMaint;
  };

  for (const auto& db : in.desired.backends) {
    auto rit = running.find(db.name);
    std::map<std::string, const RunningServer*> live;
    if (rit != running.end()) {
      for (const auto& s : rit->second->servers) live[s.name] = &s;
    }
    bool dynamic = DynamicBalance(db.balance);
    std::set<std::string> wanted;
    // Servers that stay in rotation after this plan (running, wanted, not leaving, not held
    // out by anyone), and the retirements this backend asks for. A retirement that would
    // leave no server in rotation is deferred (see below).
    int survivors = 0;
    struct Retirement {
      ServerRef ref;
      const RunningServer* rs;
      bool remove;
    };
    std::vector<Retirement> retiring;
    for (const auto& ds : db.servers) {
      wanted.insert(ds.name);
      ServerRef ref{db.name, ds.name};
      std::string r = Ref(ref);
      bool dying = is_killing(ds.address, ds.port);
      auto lit = live.find(ds.name);
      if (lit == live.end()) {
        if (dying) continue;  // Consul has not caught up with the kill: never add it
        if (!dynamic) {
          reload_reasons.push_back("server " + r + " is new and backend " + db.name +
                                   " uses balance " + db.balance + ", which refuses add server");
          continue;
        }
        adds.push_back(cmd("add server " + r + " " + ds.address + ":" + std::to_string(ds.port) +
                               " " + AddServerOptions(ds.options),
                           CommandPhase::kNow, Expect::kServerRegistered, ref));
        // Dynamic servers start with checks off and in maintenance (haproxy-lab §3.2).
        if (HasCheck(ds.options)) {
          adds.push_back(cmd("enable health " + r, CommandPhase::kNow, Expect::kEmpty, ref));
        }
        adds.push_back(cmd("enable server " + r, CommandPhase::kNow, Expect::kEmpty, ref));
        intents[ref] = AdminIntent::kReady;
        continue;
      }
      const RunningServer& rs = *lit->second;
      if (!SameAddress(rs.address, ds.address) || rs.port != ds.port) {
        if (IpBytes(ds.address).empty()) {
          // `set server addr` takes only IP addresses; a host name would be resolved by the
          // config's libc resolution at startup, so a reload is the one way to move it.
          if (rs.port != ds.port) {
            reload_reasons.push_back("server " + r + " moved to host name " + ds.address);
          }
        } else {
          moves.push_back(
              cmd("set server " + r + " addr " + ds.address + " port " + std::to_string(ds.port),
                  CommandPhase::kNow, Expect::kAddressChanged, ref));
        }
      }
      auto iit = in.intents.find(ref);
      bool galley_held = iit != in.intents.end() && iit->second != AdminIntent::kReady;
      bool forced = rs.admin_state & (kAdminForcedMaint | kAdminForcedDrain);
      if (dying) {
        if (forced && !galley_held) {
          // Someone put it in maint or drain by hand: it is already out of rotation, and
          // the hand change is still worth reporting until the task is gone.
          plan.hand_changes.push_back(
              {ref, rs.admin_state & kAdminForcedMaint ? "maint" : "drain"});
          if (iit != in.intents.end()) intents[ref] = iit->second;
          continue;
        }
        retiring.push_back({ref, &rs, /*remove=*/false});
        continue;
      }
      if (forced && !galley_held) {
        plan.hand_changes.push_back({ref, rs.admin_state & kAdminForcedMaint ? "maint" : "drain"});
        if (iit != in.intents.end()) intents[ref] = iit->second;
        continue;  // not undone: a person decided this
      }
      if (galley_held && forced) {
        // galley drained it (a kill that did not happen) or added it and never got to
        // `enable server`: bring it back.
        if (HasCheck(ds.options)) {
          readies.push_back(cmd("enable health " + r, CommandPhase::kNow, Expect::kEmpty, ref));
        }
        readies.push_back(
            cmd("set server " + r + " state ready", CommandPhase::kNow, Expect::kEmpty, ref));
      }
      intents[ref] = AdminIntent::kReady;
      if (rs.op_state == static_cast<int>(OpState::kRunning)) ++survivors;
    }
    if (rit == running.end()) continue;
    for (const auto& rs : rit->second->servers) {
      if (wanted.count(rs.name)) continue;
      retiring.push_back({{db.name, rs.name}, &rs, /*remove=*/true});
    }
    // Never take a backend's last servers out of rotation. In a rolling deploy Marathon kills
    // the old tasks as soon as it sees the new ones healthy, which is before their
    // registrations reach Consul and this HAProxy: draining the old ones then would leave
    // nothing to send requests to (503) while the old tasks still serve after SIGTERM. They
    // stay in rotation until a replacement runs here (the caller re-plans soon), or until
    // their health check marks them down once the task is gone; a backend scaled to zero
    // ends the same way.
    bool defer = survivors == 0;
    for (const auto& rt : retiring) {
      bool in_rotation = rt.rs->op_state == static_cast<int>(OpState::kRunning) &&
                         !(rt.rs->admin_state & (kAdminForcedMaint | kAdminForcedDrain));
      if (defer && in_rotation) {
        plan.recheck_soon = true;
        plan.notes.push_back(Ref(rt.ref) + " stays in rotation: no other server of " +
                             rt.ref.backend + " is up yet");
        intents[rt.ref] = AdminIntent::kReady;
        continue;
      }
      retire(rt.ref, *rt.rs, rt.remove, dynamic);
    }
  }

  if (!reload_reasons.empty()) {
    plan.reload = true;
    plan.reload_reason = Join(reload_reasons, "; ");
    // The reload brings the rendered membership; until the new worker serves, the old one
    // should stop sending new requests to tasks being killed.
    for (const auto& d : drains) {
      for (const auto& b : in.running.backends) {
        if (b.name != d.server.backend) continue;
        for (const auto& s : b.servers) {
          if (s.name == d.server.server && is_killing(s.address, s.port))
            plan.commands.push_back(d);
        }
      }
    }
    for (const auto& c : plan.commands) intents[c.server] = AdminIntent::kDrain;
    plan.intents_after = std::move(intents);
    return plan;
  }
  for (auto* group : {&moves, &adds, &readies, &drains}) {
    plan.commands.insert(plan.commands.end(), group->begin(), group->end());
  }
  // Deletes of servers already in maint are kNow: move them ahead of the kAfterDrain steps.
  std::stable_partition(after.begin(), after.end(),
                        [](const RuntimeCommand& c) { return c.phase == CommandPhase::kNow; });
  auto split = std::find_if(after.begin(), after.end(),
                            [](const RuntimeCommand& c) { return c.phase != CommandPhase::kNow; });
  plan.commands.insert(plan.commands.end(), after.begin(), split);
  // maint for every drained server first, then the deletes: no server waits for another's.
  std::vector<RuntimeCommand> maints, dels;
  for (auto it = split; it != after.end(); ++it) {
    (it->expect == Expect::kServerDeleted ? dels : maints).push_back(*it);
  }
  plan.commands.insert(plan.commands.end(), maints.begin(), maints.end());
  plan.commands.insert(plan.commands.end(), dels.begin(), dels.end());
  plan.intents_after = std::move(intents);
  return plan;
}

Status CheckReply(const RuntimeCommand& cmd, std::string_view reply) {
  std::string_view r = TrimView(reply);
  while (!r.empty() && (r.back() == '\n' || r.back() == '\r' || r.back() == ' '))
    r.remove_suffix(1);
  while (!r.empty() && (r.front() == '\n' || r.front() == '\r' || r.front() == ' '))
    r.remove_prefix(1);
  auto unexpected = [&] {
    return Status::Internal(cmd.text + ": HAProxy replied " + Quote(Truncate(r, 300)));
  };
  switch (cmd.expect) {
    case Expect::kEmpty:
      return r.empty() ? Status::Ok() : unexpected();
    case Expect::kServerRegistered:
      return r == "New server registered." ? Status::Ok() : unexpected();
    case Expect::kServerDeleted:
      if (r == "Server deleted.") return Status::Ok();
      if (r.find("still has connections attached") != std::string_view::npos) {
        return Status::Unavailable(cmd.text + ": connections remain; retry shortly");
      }
      return unexpected();
    case Expect::kAddressChanged:
      // "IP changed from …", "no need to change the addr, port changed from …", "no need to
      // change the addr, no need to change the port …": all end with "by 'stats socket command'".
      return r.find("by 'stats socket command'") != std::string_view::npos &&
                     r.find("Invalid") == std::string_view::npos
                 ? Status::Ok()
                 : unexpected();
  }
  return unexpected();
}

}  // namespace galley::agent
