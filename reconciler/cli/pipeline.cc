// SPDX-License-Identifier: Apache-2.0
#include "cli/pipeline.h"

#include <chrono>
#include <iostream>
#include <ostream>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include "base/strings.h"

namespace galley::cli {

void AddTargetOptions(CommandLine& cl, TargetOptions* o, TargetOptionSet set) {
  if (set.select) {
    cl.List("--env", "E", &o->envs, "only environment E (repeatable)");
    cl.List("--target", "SERVICE", &o->targets, "only SERVICE (repeatable)");
  }
  cl.Custom(
      "--marathon", "URL",
      [o](const std::string& v) {
        for (auto& u : Split(v, ',')) {
          if (!u.empty()) o->marathon.push_back(u);
        }
        return Status::Ok();
      },
      "Marathon URL(s), comma-separated for failover (else GALLEY_MARATHON_URL, galley.yaml)",
      true);
  cl.Value("--consul", "URL", &o->consul,
           "Consul URL (else GALLEY_CONSUL_URL, CONSUL_HTTP_ADDR, galley.yaml)");
  cl.Value(
      "--chronos", "URL", &o->chronos,
      "Chronos URL (else GALLEY_CHRONOS_URL, galley.yaml chronos.url; none: jobs not planned)");
  cl.Value("--state", "FILE", &o->state,
           "the state store (default: $XDG_STATE_HOME/galley/state.db)");
  if (set.rev) {
    cl.Value("--rev", "REV", &o->rev,
             "use a committed revision of DIR's Git repository, not the working tree");
  }
}

namespace {

double WallMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double CpuMs() {
  struct rusage u {};
  ::getrusage(RUSAGE_SELF, &u);
  auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
  return ms(u.ru_utime) + ms(u.ru_stime);
}

bool process_ends_after_command = false;

}  // namespace

void SetProcessEndsAfterCommand(bool ends) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  ends = false;
#endif
  process_ends_after_command = ends;
}

bool ProcessEndsAfterCommand() { return process_ends_after_command; }

void DiscardAtExit(std::shared_ptr<void> value) {
  // Never destroyed: the OS takes the memory back when the process ends.
  static auto* kept = new std::vector<std::shared_ptr<void>>();
  kept->push_back(std::move(value));
}

PhaseTrace::PhaseTrace(const std::map<std::string, std::string>& env, const char* command,
                       std::ostream& err)
    : on_(env.count("GALLEY_TRACE") && env.at("GALLEY_TRACE") == "1"),
      command_(command),
      err_(&err) {
  if (on_) {
    wall_ms_ = WallMs();
    cpu_ms_ = CpuMs();
  }
}

void PhaseTrace::operator()(const char* phase) {
  if (!on_) return;
  double wall = WallMs(), cpu = CpuMs();
  *err_ << "galley " << command_ << ": " << phase << " " << static_cast<long>(wall - wall_ms_)
        << " ms (cpu " << static_cast<long>(cpu - cpu_ms_) << " ms)\n";
  wall_ms_ = wall;
  cpu_ms_ = cpu;
}

bool UseColor(bool no_color, const std::map<std::string, std::string>& env,
              const std::ostream& out) {
  return !no_color && !env.count("NO_COLOR") && &out == &std::cout && ::isatty(STDOUT_FILENO);
}

}  // namespace galley::cli
