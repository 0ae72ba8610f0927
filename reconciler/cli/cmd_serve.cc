// SPDX-License-Identifier: Apache-2.0
// `galley serve`: the long-running reconciler (DESIGN §8 point 15, issue #13). Parses the
// flags, loads the repository once for the platform's name and endpoints, wires the real
// clients into server::Server and waits for SIGINT/SIGTERM (sigwait on the main thread: the
// signals are blocked in every thread the server starts), then stops gracefully.
#include <cctype>
#include <chrono>
#include <iostream>
#include <mutex>
#include <ostream>

#include <nlohmann/json.hpp>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "base/duration.h"
#include "base/file_io.h"
#include "base/strings.h"
#include "base/time_text.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/pipeline.h"
#include "clients/consul_client.h"
#include "clients/endpoints.h"
#include "engine/apply_lock.h"
#include "engine/view_text.h"
#include "net/http_client.h"
#include "server/dashboard.h"
#include "server/git_source.h"
#include "server/notify.h"
#include "server/server.h"
#include "server/webhooks.h"
#include "spec/loader.h"

namespace galley::cli {
namespace {

using json = nlohmann::json;

struct Options {
  TargetOptions target;
  std::string git_url, branch = "main", git_path;
  std::string listen = "127.0.0.1:8480";
  std::chrono::milliseconds interval{std::chrono::minutes(3)};
  std::string webhook_secret_file;
  bool no_webhooks = false;
  std::string log_format = "text";
  int leader_ttl_seconds = 10;
  std::chrono::milliseconds push_quiet{std::chrono::seconds(2)};
  std::vector<std::string> notify_webhooks, notify_slack;
  int flap_max_reverts = 3;
  std::chrono::seconds flap_window{600};
  bool no_drift_watch = false;
};

CommandLine ServeCommandLine(Options* o) {
  CommandLine cl(
      "serve", "[DIR | --git-url URL --branch B] [options]",
      "Runs galley as a server: reconciles on a timer, on request and on pushes; environments\n"
      "with `sync: auto` in galley.yaml are applied automatically, `manual` ones are planned and\n"
      "applied only through POST /api/v1/apply with the plan's id. Several servers may run: one\n"
      "is leader (a Consul lock at galley/<platform>/leader), the others serve the API read-only\n"
      "and take over when it dies. The repository is DIR (default: the current directory) or a\n"
      "Git remote mirrored under the state directory. Logs go to stderr. SIGTERM stops\n"
      "gracefully (a running apply is interrupted and stays journaled).");
  cl.Positional("DIR", &o->target.dir);
  cl.Value("--git-url", "URL", &o->git_url,
           "read the repository from this Git remote (credentials from git's own config)");
  cl.Value("--branch", "B", &o->branch, "the branch to follow with --git-url (default main)");
  cl.Value("--git-path", "PATH", &o->git_path,
           "the repository's directory inside the Git tree (default: its root)");
  cl.Value("--listen", "HOST:PORT", &o->listen, "where the API listens (default 127.0.0.1:8480)");
  cl.Custom(
      "--interval", "DUR",
      [o](const std::string& v) {
        if (v == "0") {
          o->interval = std::chrono::milliseconds(0);
          return Status::Ok();
        }
        auto d = ParseDuration(v);
        if (!d.ok()) return Status::InvalidArgument("--interval '" + v + "': expected a duration");
        o->interval = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
        return Status::Ok();
      },
      "reconcile this often, with ±10% jitter (default 3m; 0 turns the timer off)");
  cl.Custom(
      "--leader-ttl", "DUR",
      [o](const std::string& v) {
        auto d = ParseDuration(v);
        if (!d.ok() || *d < std::chrono::seconds(10) || *d > std::chrono::seconds(300))
          return Status::InvalidArgument("--leader-ttl '" + v +
                                         "': expected a duration from 10s to 5m");
        o->leader_ttl_seconds = static_cast<int>(d->count());
        return Status::Ok();
      },
      "the leader's Consul session TTL (default 10s: Consul invalidates a session up to 2 x TTL\n"
      "after its last renewal, so a standby takes over within ~20 s of the leader's death)");
  cl.Custom(
      "--push-settle", "DUR",
      [o](const std::string& v) {
        auto d =
            v == "0" ? Result<std::chrono::seconds>(std::chrono::seconds(0)) : ParseDuration(v);
        if (!d.ok() || *d > std::chrono::seconds(30))
          return Status::InvalidArgument("--push-settle '" + v +
                                         "': expected a duration from 0 to 30s");
        o->push_quiet = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
        return Status::Ok();
      },
      "a push waits until no other push came for this long, so a burst of pushes becomes one\n"
      "reconcile of the newest commit (default 2s, at most 30 s after the first; 0: at once)");
  cl.Value("--webhook-secret-file", "FILE", &o->webhook_secret_file,
           "the webhooks' shared secret (else GALLEY_WEBHOOK_SECRET)");
  cl.Flag("--no-webhooks", &o->no_webhooks, "start without a webhook secret: no webhooks");
  cl.Custom(
      "--log-format", "FORMAT",
      [o](const std::string& v) {
        if (v != "text" && v != "json")
          return Status::InvalidArgument("--log-format '" + v + "': expected text or json");
        o->log_format = v;
        return Status::Ok();
      },
      "log lines as text (default) or JSON lines");
  cl.List("--notify-webhook", "URL", &o->notify_webhooks,
          "post notifications (new drift, drift resolved, apply failed/recovered, flapping,\n"
          "leader change) as signed JSON to URL; repeatable; needs GALLEY_NOTIFY_SECRET");
  cl.List("--notify-slack", "URL", &o->notify_slack,
          "post the same notifications to a Slack-compatible incoming webhook; repeatable");
  cl.Custom(
      "--flap-max-reverts", "N",
      [o](const std::string& v) {
        auto n = ParsePositive(v, 1000);
        if (!n) return Status::InvalidArgument("--flap-max-reverts '" + v + "': expected 1..1000");
        o->flap_max_reverts = static_cast<int>(*n);
        return Status::Ok();
      },
      "a resource reverted N times within --flap-window is flapping: left alone until a Git\n"
      "change to it or POST /api/v1/flapping/clear (default 3)");
  cl.Custom(
      "--flap-window", "DUR",
      [o](const std::string& v) {
        auto d = ParseDuration(v);
        if (!d.ok() || *d < std::chrono::seconds(1))
          return Status::InvalidArgument("--flap-window '" + v + "': expected a duration >= 1s");
        o->flap_window = std::chrono::duration_cast<std::chrono::seconds>(*d);
        return Status::Ok();
      },
      "the window of --flap-max-reverts (default 10m)");
  cl.Flag("--no-drift-watch", &o->no_drift_watch,
          "do not follow Marathon's event stream and Consul's managed KV prefixes (drift is then\n"
          "seen by the timer only)");
  AddTargetOptions(cl, &o->target, {.select = false, .rev = false});
  cl.Epilogue(
      "environment: GALLEY_API_TOKEN enables the write endpoints (POST /api/v1/reconcile,\n"
      "/api/v1/apply and /api/v1/flapping/clear, with Authorization: Bearer <token>); without it\n"
      "they answer 403. GALLEY_NOTIFY_SECRET signs --notify-webhook bodies\n"
      "(X-Galley-Signature: sha256=<hex HMAC-SHA256 of the body>).\n"
      "exit codes: 0 stopped by SIGTERM/SIGINT, 1 could not start");
  return cl;
}

// One log line on stderr: text or a JSON object; never interleaved.
class Logger {
 public:
  explicit Logger(bool json_lines) : json_(json_lines) {}
  void operator()(const std::string& level, const std::string& message, const json& fields) {
    std::string line;
    std::string at = FormatTimestamp(std::chrono::system_clock::now());
    if (json_) {
      json j{{"time", at}, {"level", level}, {"msg", message}};
      if (fields.is_object()) {
        for (auto it = fields.begin(); it != fields.end(); ++it) j[it.key()] = it.value();
      }
      line = engine::SafeDump(j) + "\n";
    } else {
      line = at + " " + level + " " + Printable(message);
      if (fields.is_object()) {
        for (auto it = fields.begin(); it != fields.end(); ++it) {
          line += " " + it.key() + "=" +
                  (it.value().is_string() ? Printable(it.value().get<std::string>())
                                          : engine::SafeDump(it.value()));
        }
      }
      line += "\n";
    }
    std::lock_guard<std::mutex> lock(mu_);
    std::cerr << line << std::flush;
  }

 private:
  bool json_;
  std::mutex mu_;
};

int RunServeUnguarded(const Args& args, std::ostream& out, std::ostream& err) {
  Options o;
  if (auto exit = ServeCommandLine(&o).ParseOrExit(args, out, err)) return *exit;
  if (o.target.dir.empty()) o.target.dir = ".";
  auto env = clients::ProcessEnvironment();
  auto fail = [&](const std::string& message) {
    err << "galley serve: " << message << "\n";
    return kExitError;
  };

  size_t colon = o.listen.rfind(':');
  if (colon == std::string::npos) return fail("--listen '" + o.listen + "': expected HOST:PORT");
  auto port = ParsePositive(o.listen.substr(colon + 1), 65535);
  std::string host = o.listen.substr(0, colon);
  if (o.listen.substr(colon + 1) == "0") port = 0;
  if (!port || host.empty()) return fail("--listen '" + o.listen + "': expected HOST:PORT");

  std::string webhook_secret;
  if (!o.webhook_secret_file.empty()) {
    auto s = ReadFileBounded(o.webhook_secret_file, 4096);
    if (!s.ok()) return fail("--webhook-secret-file: " + s.status().message());
    webhook_secret = *s;
    while (!webhook_secret.empty() &&
           std::isspace(static_cast<unsigned char>(webhook_secret.back())))
      webhook_secret.pop_back();
  } else if (env.count("GALLEY_WEBHOOK_SECRET")) {
    webhook_secret = env.at("GALLEY_WEBHOOK_SECRET");
  }
  if (webhook_secret.empty() && !o.no_webhooks) {
    return fail(
        "no webhook secret: give --webhook-secret-file FILE or GALLEY_WEBHOOK_SECRET, or "
        "--no-webhooks to run without webhooks");
  }
  std::string api_token = env.count("GALLEY_API_TOKEN") ? env.at("GALLEY_API_TOKEN") : "";
  std::vector<server::NotifyTarget> notify_targets;
  std::string notify_secret =
      env.count("GALLEY_NOTIFY_SECRET") ? env.at("GALLEY_NOTIFY_SECRET") : "";
  for (const auto& url : o.notify_webhooks) {
    notify_targets.push_back({server::NotifyTarget::Kind::kJson, url, notify_secret});
  }
  for (const auto& url : o.notify_slack) {
    notify_targets.push_back({server::NotifyTarget::Kind::kSlack, url, ""});
  }
  if (Status s = server::CheckNotifyTargets(notify_targets); !s.ok()) {
    std::string m = s.message();
    if (!o.notify_webhooks.empty() && notify_secret.empty())
      m += " (--notify-webhook needs GALLEY_NOTIFY_SECRET)";
    return fail(m);
  }

  // The repository: a directory, or a Git remote's mirror under the state directory.
  std::unique_ptr<server::RepositorySource> source;
  if (!o.git_url.empty()) {
    std::string state = o.target.state.empty() ? store::DefaultStatePath(env) : o.target.state;
    std::string mirror = state + ".mirror.git";
    source = server::NewGitSource(o.git_url, o.branch, mirror, o.git_path);
  } else {
    source = server::NewDirectorySource(o.target.dir);
  }
  // Load it once: the platform's name (the leader key) and its endpoints.
  auto head = source->Refresh();
  if (!head.ok()) return fail(head.status().message());
  auto checkout = source->CheckOut(o.git_url.empty() ? "" : *head);
  if (!checkout.ok()) return fail(checkout.status().message());
  spec::LoadResult loaded = spec::LoadRepository(checkout->dir());
  err << ErrorsOnly(loaded.diags);
  if (loaded.diags.HasErrors()) return fail(source->Describe() + " is not valid");
  clients::EndpointFlags flags;
  flags.marathon_urls = o.target.marathon;
  flags.consul_url = o.target.consul;
  flags.chronos_url = o.target.chronos;
  auto endpoints = clients::ResolveEndpoints(loaded.state.platform, flags, env);
  if (!endpoints.ok()) return fail(endpoints.status().message());

  // The leader election's own Consul client: no retries, a timeout under TTL/3.
  net::HttpClientOptions http_options;
  http_options.ca_file = endpoints->consul.ca_file;
  auto leader_http = net::NewHttpClient(http_options);
  clients::ConsulClientOptions consul_options;
  consul_options.timeout = std::chrono::seconds(5);
  auto leader_consul =
      clients::NewConsulClient(endpoints->consul, leader_http.get(), consul_options);

  Logger logger(o.log_format == "json");
  server::ServerOptions so;
  so.listen_address = host;
  so.listen_port = static_cast<uint16_t>(*port);
  so.interval = o.interval;
  so.api_token = api_token;
  so.platform = loaded.state.platform.name;
  so.leader_ttl_seconds = o.leader_ttl_seconds;
  so.queue.push_quiet = o.push_quiet;
  so.holder = engine::LockHolderName("serve " + Who(env));
  so.worker.target = o.target;
  so.worker.holder = so.holder;
  so.log = [&logger](const std::string& l, const std::string& m, const json& f) {
    logger(l, m, f);
  };
  so.worker.log = so.log;
  so.worker.flapping.max_reverts = o.flap_max_reverts;
  so.worker.flapping.window = o.flap_window;
  so.notify.targets = notify_targets;
  so.notify.platform = so.platform;
  so.notify.request_timeout = std::chrono::seconds(5);  // also bounds how long SIGTERM waits
  if (!o.no_drift_watch) so.drift_watch = *endpoints;
  if (api_token.empty()) {
    logger("warn", "GALLEY_API_TOKEN is not set: the write endpoints answer 403", json::object());
  }

  // SIGINT/SIGTERM are taken by sigwait below; blocked before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &signals, &old);

  server::Server srv(*source, *leader_consul, so);
  // The webhooks (server/webhooks.h): a verified push to the followed branch queues a
  // reconcile of its commit; one replay cache for every provider.
  if (!webhook_secret.empty()) {
    server::WebhookOptions wo;
    wo.secret = webhook_secret;
    wo.branch = o.git_url.empty() ? "" : o.branch;
    auto replay = std::make_shared<server::ReplayCache>();
    server::WebhookHooks hooks;
    hooks.log = [&logger](const server::WebhookDecision& d) {
      logger(d.status < 300 ? "info" : "warn", d.LogLine(), json::object());
    };
    hooks.count = [&srv](std::string_view provider, std::string_view result) {
      srv.metrics().WebhookDelivery(provider, result);
    };
    for (auto p : {server::Provider::kGitHub, server::Provider::kGitLab, server::Provider::kGitea,
                   server::Provider::kGeneric}) {
      srv.Mount("POST", std::string("/hooks/") + server::ProviderName(p),
                server::WebhookHandler(
                    p, wo,
                    [&srv](const server::Trigger& t) {
                      (void)srv.Enqueue({server::TriggerKind::kPush, t.commit,
                                         std::string("webhook ") +
                                             server::ProviderName(t.provider) + " " + t.delivery});
                    },
                    hooks, replay));
    }
  }
  // The dashboard at / and /ui/ (server/dashboard.h).
  server::Dashboard::MountOn(srv, std::make_shared<server::Dashboard>(server::SourceOf(srv)));
  if (Status s = srv.Start(); !s.ok()) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return fail("cannot listen on " + o.listen + ": " + s.message());
  }
  int sig = 0;
  sigwait(&signals, &sig);
  logger("info", std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"),
         json::object());
  srv.Stop();
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return kExitOk;
}

}  // namespace

int RunServe(const Args& args, std::ostream& out, std::ostream& err) {
  try {
    return RunServeUnguarded(args, out, err);
  } catch (const std::exception& e) {
    err << "galley serve: internal error: " << e.what() << "\n";
    return kExitError;
  }
}

}  // namespace galley::cli
