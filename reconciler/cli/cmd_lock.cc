// SPDX-License-Identifier: Apache-2.0
// `galley lock status|break [DIR]`: who holds the platform's apply lock (the Consul session
// lock galley/<platform>/lock and this host's lease in the state store), and releasing a
// stuck one (DESIGN §7.12): on a terminal the user types the platform name to confirm;
// without a terminal --yes is required. Exit 0 on success (locked or not), 1 on errors.
#include <iostream>
#include <optional>
#include <ostream>
#include <string>

#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/pipeline.h"
#include "engine/apply_lock.h"

namespace galley::cli {
namespace {

std::string Trimmed(std::string s) {
  const char* space = " \t\r\n";
  s.erase(0, s.find_first_not_of(space));
  s.erase(s.find_last_not_of(space) + 1);
  return s;
}

struct Options {
  std::string subcommand;
  TargetOptions target;
  bool yes = false;
};

CommandLine LockCommandLine(Options* o) {
  CommandLine cl(
      "lock", "status [DIR] [options]\nbreak [DIR] [--yes] [options]",
      "The platform's apply lock: one apply at a time per platform, held as a Consul session lock\n"
      "(galley/<platform>/lock, across hosts and CI runners) and a lease in this host's state "
      "store.\n"
      "A holder that dies loses it when its session expires (15 s TTL, up to 30 s).\n"
      "\n"
      "subcommands:\n"
      "  status                print who holds the lock (user, host, pid, since, session), or "
      "\"unlocked\"\n"
      "  break                 release a stuck lock: destroy the holder's Consul session and "
      "release\n"
      "                        this host's lease; asks to type the platform name on a terminal");
  cl.Positional("SUBCOMMAND", &o->subcommand, true, {"status", "break"});
  cl.Positional("DIR", &o->target.dir);
  cl.Flag("--yes", &o->yes, "break without asking (required when stdin is not a terminal)")
      .Alias("-y");
  AddTargetOptions(cl, &o->target, {.select = false});
  cl.Refuse("--env", "does not apply: the lock is per platform");
  cl.Refuse("--target", "does not apply: the lock is per platform");
  return cl;
}

std::optional<Options> Parse(const Args& args, std::ostream& out, std::ostream& err, int* code) {
  Options o;
  if (auto exit = LockCommandLine(&o).ParseOrExit(args, out, err)) {
    *code = *exit;
    return std::nullopt;
  }
  *code = kExitError;
  if (o.yes && o.subcommand != "break") {
    err << "galley lock " << o.subcommand << ": --yes applies to `galley lock break` only\n";
    return std::nullopt;
  }
  return o;
}

void PrintHolder(const std::string& platform, const engine::LockHolder& h, std::ostream& out) {
  out << "platform '" << platform << "' is locked by " << h.Describe() << "\n";
  if (!h.host.empty())
    out << "  host:    " << h.host << (h.pid ? ", pid " + std::to_string(h.pid) : "") << "\n";
  if (!h.session.empty())
    out << "  session: " << h.session << " (key " << engine::LockKey(platform) << ")\n";
  if (!h.lease_holder.empty()) {
    out << "  lease:   " << engine::LeaseDisplay(h.lease_holder) << " ("
        << engine::LeaseName(platform) << " in this host's state store)\n";
  }
}

int ShowStatus(Workspace& ws, std::ostream& out, std::ostream& err) {
  const std::string& platform = ws.state.platform.name;
  auto holder = engine::CurrentHolder(*ws.consul, *ws.store, platform);
  if (!holder.ok()) {
    err << "galley lock status: " << holder.status().message() << "\n";
    return kExitError;
  }
  if (!holder->has_value()) {
    out << "platform '" << platform << "' is unlocked\n";
    return kExitOk;
  }
  PrintHolder(platform, **holder, out);
  return kExitOk;
}

int BreakStuckLock(Workspace& ws, bool yes, std::ostream& out, std::ostream& err) {
  const std::string& platform = ws.state.platform.name;
  auto holder = engine::CurrentHolder(*ws.consul, *ws.store, platform);
  if (!holder.ok()) {
    err << "galley lock break: " << holder.status().message() << "\n";
    return kExitError;
  }
  if (!holder->has_value()) {
    out << "platform '" << platform << "' is not locked; nothing to break\n";
    return kExitOk;
  }
  PrintHolder(platform, **holder, out);
  if (!yes) {
    if (!::isatty(STDIN_FILENO)) {
      err << "galley lock break: stdin is not a terminal; pass --yes to break the lock of platform "
             "'"
          << platform << "'\n";
      return kExitError;
    }
    out << "Breaking the lock lets another apply start while this one may still be running.\n"
        << "Type the platform name (" << platform << ") to break its lock: " << std::flush;
    std::string answer;
    if (!std::getline(std::cin, answer) || Trimmed(answer) != platform) {
      err << "galley lock break: not confirmed; the lock is left in place\n";
      return kExitError;
    }
  }
  auto released = engine::BreakLock(*ws.consul, *ws.store, platform, &**holder);
  if (!released.ok()) {
    err << "galley lock break: " << released.status().message() << "\n";
    return kExitError;
  }
  if (!released->has_value()) {
    out << "platform '" << platform << "' was released meanwhile; nothing to break\n";
    return kExitOk;
  }
  const engine::LockHolder& r = **released;
  out << "broke the lock of platform '" << platform << "' held by " << r.holder << "\n";
  if (!r.session.empty())
    out << "  destroyed Consul session " << r.session << " (the key is released)\n";
  if (!r.lease_holder.empty())
    out << "  released this host's lease " << engine::LeaseName(platform) << "\n";
  const int window = engine::BreakWindowSeconds(r);
  out << "The old holder stops before its next write (it confirms its session before every "
         "write);\n"
      << "if it cannot reach Consul it may still act for up to " << window
      << " s (its lock deadline). Writes already sent complete.\n";
  return kExitOk;
}

}  // namespace

int RunLock(const Args& args, std::ostream& out, std::ostream& err) {
  int code = kExitError;
  auto parsed = Parse(args, out, err, &code);
  if (!parsed) return code;
  const std::string command = "lock " + parsed->subcommand;
  auto ws = OpenWorkspace(parsed->target, command.c_str(), err);
  if (!ws) return kExitError;
  if (parsed->subcommand == "status") return ShowStatus(*ws, out, err);
  return BreakStuckLock(*ws, parsed->yes, out, err);
}

}  // namespace galley::cli
