// SPDX-License-Identifier: Apache-2.0
// `galley restart SERVICE [DIR] [--env E]...`: a planned rolling restart of SERVICE's apps
// (engine/restart.h: POST /v2/apps/{id}/restart, honouring each app's upgradeStrategy). This
// file finds SERVICE among the arguments; everything else is apply's (cmd_apply.cc:
// RunApplyRestart, on the engine's reconcile workflow, engine/reconcile.h): the lock, the plan
// shown and confirmed (or --auto-approve), --dry-run, the journal and history, the safety limit on
// restarts (--allow-large) and the exit codes.
#include <ostream>
#include <set>
#include <string>

#include "cli/commands.h"

namespace galley::cli {
namespace {

constexpr char kUsage[] =
    "usage: galley restart SERVICE [DIR] [options]\n"
    "\n"
    "Restarts SERVICE's Marathon apps rolling (Marathon's POST /v2/apps/{id}/restart): the\n"
    "definition stays as it is and every task is replaced per the app's upgradeStrategy\n"
    "(upgrade: in the service file). Like apply: takes the platform lock, shows the plan, asks\n"
    "for confirmation (or --auto-approve), follows each app until it is healthy, journals\n"
    "every step (see `galley history`). Pending Git changes are not applied (see `galley plan`).\n"
    "Paused services and environments and apps not deployed are skipped. DIR defaults to the\n"
    "current directory.\n"
    "\n"
    "options:\n"
    "  --env E               only environment E (repeatable; default: every environment)\n"
    "  --auto-approve        do not ask (required when there is no terminal)\n"
    "  --dry-run             print the schedule and the calls; send nothing\n"
    "  --force               supersede a Marathon deployment that holds an app (default: wait for "
    "it)\n"
    "  --allow-large         allow more restarts than the safety limit (DESIGN §7.12)\n"
    "  --lock-timeout DUR    wait up to DUR for another apply to finish (default: 0)\n"
    "  --deadline DUR        per-app deadline from restart to healthy (default 10m)\n"
    "  --json                print the result as JSON\n"
    "  --progress FORMAT     progress as text (default) or JSON lines on stderr, one object per "
    "event\n"
    "  --no-color            never colour the output\n"
    "  --marathon URL        Marathon URL(s), comma-separated for failover (else "
    "GALLEY_MARATHON_URL, galley.yaml)\n"
    "  --consul URL          Consul URL (else GALLEY_CONSUL_URL, CONSUL_HTTP_ADDR, galley.yaml)\n"
    "  --chronos URL         Chronos URL (else GALLEY_CHRONOS_URL, galley.yaml)\n"
    "  --state FILE          the state store (default: $XDG_STATE_HOME/galley/state.db)\n"
    "\n"
    "exit codes: 0 restarted, 1 error or not every app restarted, 3 lock held\n";

// apply's options that take a value in the next argument.
const std::set<std::string> kValueOptions = {"--env",      "--marathon",    "--consul",
                                             "--chronos",  "--state",       "--lock-timeout",
                                             "--deadline", "--concurrency", "--progress"};

}  // namespace

int RunRestart(const Args& args, std::ostream& out, std::ostream& err) {
  std::string service;
  Args rest;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      out << kUsage;
      return kExitOk;
    }
    if (a == "--target" || a.rfind("--target=", 0) == 0 || a == "--rev" ||
        a.rfind("--rev=", 0) == 0 || a == "--rollback-on-failure" || a == "--retry-failed") {
      err << "galley restart: " << a.substr(0, a.find('=')) << " does not apply to a restart\n"
          << kUsage;
      return kExitError;
    }
    if (kValueOptions.count(a) && i + 1 < args.size()) {
      rest.push_back(a);
      rest.push_back(args[++i]);
    } else if (service.empty() && !a.empty() && a[0] != '-') {
      service = a;
    } else {
      rest.push_back(a);
    }
  }
  if (service.empty()) {
    err << "galley restart: name the service to restart\n" << kUsage;
    return kExitError;
  }
  rest.push_back("--target");
  rest.push_back(service);
  return RunApplyRestart(service, rest, out, err);
}

}  // namespace galley::cli
