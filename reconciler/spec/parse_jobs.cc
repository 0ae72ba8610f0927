// SPDX-License-Identifier: Apache-2.0
// Keys are documented in schema/README.md and schema/v1/service.schema.json; keep the three
// in step.
#include "spec/parse_jobs.h"

#include <cctype>
#include <functional>
#include <map>
#include <set>

#include "base/iso8601_schedule.h"
#include "base/strings.h"

namespace galley::spec {
namespace {

const std::vector<std::string> kOverrideKeys = {"command", "image",    "resources", "env",
                                                "config",  "schedule", "time_zone", "epsilon",
                                                "parents", "retries",  "owner",     "disabled"};

bool IsZoneId(const std::string& z) {
  if (iso8601::ZoneOffsetMinutes(z)) return true;
  // A region id such as Europe/Berlin or America/Argentina/Buenos_Aires.
  size_t slash = z.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == z.size()) return false;
  for (char c : z) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '/' && c != '_' && c != '-' &&
        c != '+') {
      return false;
    }
  }
  return std::isupper(static_cast<unsigned char>(z[0]));
}

// One job body (the job's keys, or an environment's overrides applied over `js`).
void ParseSettings(Reader& r, const std::vector<Field>& fields, model::JobSettings& js,
                   const model::Service& s) {
  (void)s;
  for (const auto& k : fields) {
    if (k.key == "command") {
      if (auto v = r.StringList(k, "command")) {
        if (v->empty()) {
          r.Error(k.value_pos, k.path + " is empty", "the program and its arguments");
        } else {
          js.command = *v;
        }
      }
    } else if (k.key == "image") {
      if (auto v = r.NonEmptyString(k, "an image such as platform/test-server:v1")) js.image = *v;
    } else if (k.key == "resources") {
      auto m = r.Map(k, k.path, {"cpus", "mem", "disk"}, {});
      if (!m) continue;
      model::Resources res = js.resources.value_or(s.resources);
      for (const auto& f : *m) {
        if (f.key == "cpus") {
          if (auto v = r.Number(f, 0, 1024, true)) res.cpus = *v;
        } else if (f.key == "mem") {
          if (auto v = r.Number(f, 0, 4 * 1024 * 1024, true)) res.mem = *v;
        } else if (auto v = r.Number(f, 0, 64 * 1024 * 1024, false)) {
          res.disk = *v;
        }
      }
      js.resources = res;
    } else if (k.key == "env") {
      auto m = r.OpenMap(k, k.path);
      if (!m) continue;
      for (const auto& e : *m) {
        if (auto v = r.String(e, "a string")) js.env[e.key] = *v;
      }
    } else if (k.key == "config") {
      if (auto b = r.Bool(k)) js.with_config = *b;
    } else if (k.key == "schedule") {
      js.schedule_pos = k.value_pos;
      auto v =
          r.NonEmptyString(k, "an ISO 8601 repeating interval such as R/2026-01-01T03:00:00Z/P1D");
      if (!v) continue;
      auto parsed = iso8601::ParseSchedule(*v);
      if (!parsed.ok()) {
        r.Error(k.value_pos, k.path + ": " + parsed.status().message(),
                "R[n]/<start>/<period>, e.g. R/2026-01-01T03:00:00Z/P1D (every day at 03:00 UTC)");
        continue;
      }
      if (parsed->period.IsZero()) {
        r.Error(k.value_pos, k.path + " has a zero period", "a period such as P1D or PT1H");
        continue;
      }
      js.schedule = *v;
    } else if (k.key == "time_zone") {
      js.time_zone_pos = k.value_pos;
      auto v = r.NonEmptyString(k, "a time-zone id such as Europe/Berlin or UTC");
      if (!v) continue;
      if (!IsZoneId(*v)) {
        r.Error(k.value_pos, k.path + " is " + Quote(*v),
                "a region id such as Europe/Berlin, UTC, or an offset such as +01:00",
                "Chronos turns an unknown id into GMT without a word; three-letter ids are "
                "ambiguous");
        continue;
      }
      js.time_zone = *v;
    } else if (k.key == "epsilon") {
      js.epsilon_pos = k.value_pos;
      auto v = r.NonEmptyString(k, "an ISO 8601 period such as PT30M");
      if (!v) continue;
      auto p = iso8601::ParsePeriod(*v);
      if (!p.ok()) {
        r.Error(k.value_pos, k.path + ": " + p.status().message(), "a period such as PT30M");
        continue;
      }
      js.epsilon = *v;
    } else if (k.key == "parents") {
      js.parents_pos = k.value_pos;
      if (auto v = r.StringList(k, "parents")) {
        js.parents.clear();
        for (const auto& p : *v) js.parents.push_back(p);
      }
    } else if (k.key == "retries") {
      if (auto v = r.Int(k, 0, 100)) js.retries = static_cast<int>(*v);
    } else if (k.key == "owner") {
      if (auto v = r.String(k, "e-mail address(es), comma-separated")) js.owner = *v;
    } else if (k.key == "disabled") {
      if (auto b = r.Bool(k)) js.disabled = *b;
    } else if (k.key == "hook") {
      js.hook_pos = k.value_pos;
      if (auto v = r.Enum(k, {"pre-deploy", "post-deploy"})) js.hook = *v;
    }
  }
}

}  // namespace

bool IsJobName(const std::string& s) {
  if (s.empty() || s.size() > 63 || s[0] == '-' || s.back() == '-') return false;
  for (char c : s) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '-')) {
      return false;
    }
  }
  return true;
}

void ParseJobs(Reader& r, const Field& f, model::Service& s) {
  s.jobs_pos = f.key_pos;
  auto jobs = r.OpenMap(f, "jobs");
  if (!jobs) return;
  std::vector<std::string> keys = kOverrideKeys;
  keys.push_back("hook");
  keys.push_back("environments");
  for (const auto& j : *jobs) {
    if (!IsJobName(j.key)) {
      r.Error(j.key_pos, "job name " + Quote(j.key) + " in jobs",
              "lower-case letters, digits and '-' (at most 63), e.g. migrate",
              "Chronos names it <env>-<service>-<job>");
      continue;
    }
    auto fields = r.Map(j, "job " + Quote(j.key), keys, {});
    if (!fields) continue;
    model::Job job;
    job.name = j.key;
    job.pos = j.key_pos;
    model::JobSettings base;
    base.pos = j.key_pos;
    ParseSettings(r, *fields, base, s);
    const Field* envs = nullptr;
    for (const auto& k : *fields) {
      if (k.key == "environments") envs = &k;
    }
    if (!envs) {
      for (const auto& e : s.environments) job.environments[e.name] = base;
    } else {
      auto list = r.OpenMap(*envs, envs->path);
      if (!list) continue;
      for (const auto& e : *list) {
        if (!s.FindEnvironment(e.key)) {
          std::string names;
          for (const auto& se : s.environments) names += (names.empty() ? "" : ", ") + se.name;
          r.Error(e.key_pos, envs->path + " names environment " + Quote(e.key),
                  "one of the service's environments (" + names + ")");
          continue;
        }
        model::JobSettings js = base;
        js.pos = e.key_pos;
        if (!e.value.IsNull()) {
          auto over = r.Map(e, "job " + Quote(j.key) + " in " + Quote(e.key), kOverrideKeys, {});
          if (over) ParseSettings(r, *over, js, s);
        }
        job.environments[e.key] = js;
      }
    }
    s.jobs.push_back(std::move(job));
  }
  std::sort(s.jobs.begin(), s.jobs.end(),
            [](const model::Job& a, const model::Job& b) { return a.name < b.name; });
}

void CheckJobs(const model::DesiredState& state, Diagnostics& diags) {
  // Chronos names across every service and environment.
  std::map<std::string, std::pair<std::string, SourcePos>> names;  // chronos name → who, where
  for (const auto& svc : state.services) {
    for (const auto& job : svc.jobs) {
      for (const auto& [env, js] : job.environments) {
        std::string full = model::ChronosJobName(env, svc.name, job.name);
        std::string who = "job " + Quote(job.name) + " of service " + Quote(svc.name) +
                          " in environment " + Quote(env);
        auto [it, fresh] = names.emplace(full, std::make_pair(who, js.pos));
        if (!fresh) {
          diags.Error(js.pos, who + " would be Chronos job " + Quote(full),
                      "a name no other job of any environment gets",
                      "already taken by " + it->second.first + " (" + it->second.second.file + ":" +
                          std::to_string(it->second.second.line) + ")");
        }
      }
    }
  }
  // One error per place and rule: settings shared by several environments (the job's own
  // keys) would otherwise repeat it once per environment.
  std::set<std::string> seen;
  auto once = [&seen](const SourcePos& pos, const char* rule) {
    return seen
        .insert(pos.file + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column) + ":" +
                rule)
        .second;
  };
  for (const auto& svc : state.services) {
    for (const auto& job : svc.jobs) {
      for (const auto& [env, js] : job.environments) {
        const std::string where = "job " + Quote(job.name) + " in " + Quote(env);
        // A schedule written but refused by the parser still counts as one here.
        bool has_sched = !js.schedule.empty() || js.schedule_pos.line > 0;
        bool has_parents = !js.parents.empty();
        if (has_sched && has_parents && once(js.parents_pos, "both")) {
          diags.Error(js.parents_pos, where + " has both a schedule and parents",
                      "either schedule (a scheduled job) or parents (a dependent job)",
                      "Chronos would silently drop the schedule");
        }
        if (!js.hook.empty() && (has_sched || has_parents) && once(js.hook_pos, "hook")) {
          diags.Error(js.hook_pos,
                      where + " is a " + js.hook + " hook and also has " +
                          (has_sched ? "a schedule" : "parents"),
                      "a hook job without schedule and parents (galley starts it around the "
                      "deploy)");
        }
        if (js.hook.empty() && !has_sched && !has_parents && once(js.pos, "none")) {
          diags.Error(js.pos, where + " has neither a schedule, parents nor a hook",
                      "schedule: R/<start>/<period>, parents: [job], or hook: pre-deploy");
        }
        if (!js.epsilon.empty() && has_sched) {
          auto e = iso8601::ParsePeriod(js.epsilon);
          auto sc = iso8601::ParseSchedule(js.schedule);
          if (e.ok() && sc.ok() && e->ApproxMillis() > 30'000 && once(js.epsilon_pos, "eps") &&
              e->ApproxMillis() >= sc->period.ApproxMillis()) {
            diags.Error(js.epsilon_pos,
                        where + ": epsilon " + js.epsilon + " is not shorter than the period " +
                            iso8601::FormatPeriod(sc->period),
                        "an epsilon under 30 s, or shorter than the period");
          }
        }
        if ((!js.time_zone.empty() || !js.epsilon.empty()) && !has_sched && once(js.pos, "tz")) {
          diags.Error(!js.time_zone.empty() ? js.time_zone_pos : js.epsilon_pos,
                      where + " sets " + (!js.time_zone.empty() ? "time_zone" : "epsilon") +
                          " without a schedule",
                      "time_zone and epsilon only with schedule");
        }
        for (const auto& p : js.parents) {
          std::string psvc = svc.name, pjob = p;
          if (auto slash = p.find('/'); slash != std::string::npos) {
            psvc = p.substr(0, slash);
            pjob = p.substr(slash + 1);
          }
          const model::Service* ps = state.FindService(psvc);
          const model::Job* found = nullptr;
          if (ps) {
            for (const auto& pj : ps->jobs) {
              if (pj.name == pjob) found = &pj;
            }
          }
          if ((!found || !found->environments.count(env)) && once(js.parents_pos, p.c_str())) {
            diags.Error(js.parents_pos, where + " names parent " + Quote(p),
                        "a job of " +
                            (psvc == svc.name ? "this service" : "service " + Quote(psvc)) +
                            " in environment " + Quote(env) + " (\"job\" or \"service/job\")",
                        !ps ? "there is no service " + Quote(psvc) : "");
          } else if (psvc == svc.name && pjob == job.name && once(js.parents_pos, "self")) {
            diags.Error(js.parents_pos, where + " names itself as a parent",
                        "another job (a Chronos leader exits on a self-dependency)");
          }
        }
      }
      // At most one hook of each kind per service and environment.
    }
    std::map<std::pair<std::string, std::string>, std::string> hooks;  // {env, hook} → job
    for (const auto& job : svc.jobs) {
      for (const auto& [env, js] : job.environments) {
        if (js.hook.empty()) continue;
        auto [it, fresh] = hooks.emplace(std::make_pair(env, js.hook), job.name);
        if (!fresh) {
          diags.Error(js.hook_pos,
                      "job " + Quote(job.name) + " is a second " + js.hook + " hook of service " +
                          Quote(svc.name) + " in " + Quote(env),
                      "one " + js.hook + " job per service and environment",
                      "the first is " + Quote(it->second));
        }
      }
    }
  }
  // Cycles through parents, per environment (Chronos' graph is a DAG).
  using Node = std::pair<std::string, std::string>;  // {service, job}
  std::map<std::string, std::map<Node, std::vector<Node>>> graph;
  std::map<std::pair<std::string, Node>, SourcePos> where;
  for (const auto& svc : state.services) {
    for (const auto& job : svc.jobs) {
      for (const auto& [env, js] : job.environments) {
        Node n{svc.name, job.name};
        where[{env, n}] = js.parents_pos;
        auto& edges = graph[env][n];
        for (const auto& p : js.parents) {
          auto slash = p.find('/');
          edges.push_back(slash == std::string::npos
                              ? Node{svc.name, p}
                              : Node{p.substr(0, slash), p.substr(slash + 1)});
        }
      }
    }
  }
  for (const auto& [env, g] : graph) {
    std::map<Node, int> color;  // 0 white, 1 on stack, 2 done
    std::vector<Node> stack;
    std::set<Node> reported;
    std::function<void(const Node&)> visit = [&](const Node& n) {
      color[n] = 1;
      stack.push_back(n);
      auto it = g.find(n);
      if (it != g.end()) {
        for (const auto& p : it->second) {
          if (!g.count(p) || p == n) continue;  // unknown parents and self: reported above
          if (color[p] == 1) {
            std::string cycle;
            bool in = false;
            for (const auto& s : stack) {
              if (s == p) in = true;
              if (in) cycle += s.first + "/" + s.second + " → ";
            }
            cycle += p.first + "/" + p.second;
            if (reported.insert(n).second && once(where[{env, n}], "cycle")) {
              diags.Error(where[{env, n}],
                          "jobs in " + Quote(env) + " depend on each other in a cycle: " + cycle,
                          "parents that form no cycle (Chronos' job graph is acyclic)");
            }
          } else if (color[p] == 0) {
            visit(p);
          }
        }
      }
      stack.pop_back();
      color[n] = 2;
    };
    for (const auto& [n, edges] : g) {
      if (color[n] == 0) visit(n);
    }
  }
}

}  // namespace galley::spec
