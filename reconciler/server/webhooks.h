// SPDX-License-Identifier: Apache-2.0
// Git push webhooks for `galley serve` (DESIGN §8 point 15, issue #13): verifying and
// parsing a delivery is pure (an HttpRequest in, a WebhookDecision out); WebhookHandler wraps
// it as a net::HttpHandler to mount at /hooks/github, /hooks/gitlab, /hooks/gitea and
// /hooks/generic.
//
// What each provider sends (header names compare case-insensitively):
//   github   X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>, X-GitHub-Event
//            (push; ping is acknowledged), X-GitHub-Delivery; payload ref, after, repository.
//   gitlab   X-Gitlab-Token: <the secret itself>, X-Gitlab-Event: Push Hook,
//            X-Gitlab-Event-UUID (optional: older GitLab has none; the body's SHA-256 then
//            stands in); payload ref, checkout_sha (or after), project.
//   gitea    X-Gitea-Signature: <hex HMAC> with X-Gitea-Event / X-Gitea-Delivery, or Gogs'
//            X-Gogs-Signature / X-Gogs-Event / X-Gogs-Delivery (the same endpoint takes both).
//   generic  X-Galley-Signature: sha256=<hex HMAC>, X-Galley-Delivery, X-Galley-Event
//            (optional: push or ping); payload {"ref": "refs/heads/main", "after": "<sha>"}.
// A body sent form-encoded (application/x-www-form-urlencoded: GitHub's default content type,
// also Gitea's option) carries the JSON in its `payload` field; the signature is over the raw
// body either way.
// The order of checks, and what each failure answers (metric label in parentheses):
//   not POST → 405 (malformed); body over max_body → 413 (too_large), before anything is
//   parsed; signature or token missing, malformed or wrong → 401 (bad_signature), compared in
//   constant time; ping → 200 (ignored); GitLab's Tag Push Hook → 202 (ignored); any other
//   event than a push → 400 (unsupported_event: the hook should send pushes only); a missing
//   or malformed delivery id, body that is not a JSON object, a missing ref or commit, or a
//   commit that is not 40 hex digits → 400 (malformed); a delivery id seen before → 409
//   (replay); a tag, a deleted branch or another branch → 202 (ignored, with the reason); an
//   accepted push → 202 (accepted) with a Trigger. Nothing the sender controls reaches the
//   log unescaped (base::Printable, truncated).
// Only authenticated, well-formed pushes enter the replay cache, so a forger cannot fill it
// and a delivery refused for a fixable reason may be redelivered.
// Thread-safety: the functions are pure; ReplayCache is thread-safe; the handler may be called
// concurrently (on_push and the hooks are then called concurrently too).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "base/status.h"
#include "net/http_types.h"

namespace galley::server {

enum class Provider { kGitHub, kGitLab, kGitea, kGeneric };

// "github", "gitlab", "gitea", "generic": the path segment under /hooks/ and the metric label.
const char* ProviderName(Provider provider);
std::optional<Provider> ParseProvider(std::string_view name);

// What an accepted push asks the serve core to reconcile.
struct Trigger {
  Provider provider = Provider::kGeneric;
  std::string delivery;    // the provider's delivery id
  std::string branch;      // "main" (refs/heads/ removed)
  std::string commit;      // 40 lower-case hex digits
  std::string repository;  // "org/repo" when the payload names it, else ""
};

struct WebhookOptions {
  std::string secret;  // required: see CheckWebhookSecret
  // The branch serve follows ("main"; "refs/heads/main" is accepted too); pushes to others
  // are acknowledged and ignored. Empty: every branch is accepted.
  std::string branch;
  size_t max_body = 1u << 20;  // bytes; more is 413 before any parsing
};

enum class WebhookOutcome {
  kAccepted,      // 202, a Trigger
  kPing,          // 200, the provider testing the hook
  kIgnored,       // 202, another branch, a tag or a deleted branch
  kUnsupported,   // 400, an event other than a push or a ping (the hook sends too much)
  kBadSignature,  // 401
  kMalformed,     // 400 (405 for a method other than POST)
  kReplay,        // 409
  kTooLarge,      // 413
};

// The metric label of an outcome: accepted, ignored (ping included), unsupported_event,
// bad_signature, malformed, replay, too_large.
const char* OutcomeLabel(WebhookOutcome outcome);

struct WebhookDecision {
  Provider provider = Provider::kGeneric;
  WebhookOutcome outcome = WebhookOutcome::kMalformed;
  int status = 400;
  std::string reason;              // for people: "push to refs/heads/dev, not main"
  std::string delivery;            // as sent, escaped and truncated for logs ("" when absent)
  std::optional<Trigger> trigger;  // set for kAccepted only

  const char* metric_label() const { return OutcomeLabel(outcome); }
  // One line for the log: "webhook github delivery=… status=202 result=accepted
  // branch=main commit=0123456789ab repository=org/repo" or "… result=ignored reason=push to 'dev',
  // not 'main'" (the reason last).
  std::string LogLine() const;
  // The answer: JSON {"result": <label>, "reason": …, "delivery": …, "commit": …}.
  net::HttpResponse ToResponse() const;
};

// Delivery ids already accepted, the last `capacity` of them (oldest forgotten first), kept
// per provider. Thread-safe.
class ReplayCache {
 public:
  explicit ReplayCache(size_t capacity = 10000);
  // True when (provider, id) was new (and is now remembered); false for a replay.
  bool Insert(Provider provider, std::string_view id);
  size_t size() const;

 private:
  mutable std::mutex mu_;
  size_t capacity_;
  std::deque<std::string> order_;
  std::unordered_set<std::string> seen_;
};

// Compares two strings in time that depends only on their lengths (never on where they
// differ). Every secret, signature and token comparison in this file goes through it.
bool ConstantTimeEquals(std::string_view a, std::string_view b);
// How many times ConstantTimeEquals has run in this process (tests check that verification
// used it). Relaxed atomic; costs nothing measurable.
uint64_t ConstantTimeEqualsCalls();

// Whether serve may start: OK with a secret of at least 16 bytes, or with none when
// `no_webhooks` (the operator said there are none: every /hooks/ path then answers 404).
// Otherwise kInvalidArgument naming GALLEY_WEBHOOK_SECRET, --webhook-secret-file and the way
// out.
Status CheckWebhookSecret(std::string_view secret, bool no_webhooks);

// The secret from `--webhook-secret-file` (when `file` is not empty; read bounded to 4 KiB,
// one trailing newline removed) or else from GALLEY_WEBHOOK_SECRET's value `env` (nullopt
// when unset); "" when neither gives one (CheckWebhookSecret then decides).
Result<std::string> LoadWebhookSecret(const std::optional<std::string>& env,
                                      const std::string& file);

// Verifies and parses one delivery. `replay` may be null (no replay protection).
WebhookDecision VerifyWebhook(Provider provider, const WebhookOptions& options,
                              const net::HttpRequest& request, ReplayCache* replay);

// The same type as net::HttpHandler (net/http_server.h), which this file does not include.
using HttpHandler = std::function<net::HttpResponse(const net::HttpRequest&)>;

// What the handler reports besides its answer; both optional, called for every delivery.
struct WebhookHooks {
  std::function<void(const WebhookDecision&)> log;  // e.g. log(decision.LogLine())
  // e.g. metrics.WebhookDelivery(provider, result) (server/metrics.h)
  std::function<void(std::string_view provider, std::string_view result)> count;
};

// The handler for /hooks/<provider>: VerifyWebhook, then on_push(trigger) for an accepted
// push (on the request's thread: it should only enqueue), the hooks, and the answer.
// `replay` is shared by the providers' handlers (a new cache when null).
HttpHandler WebhookHandler(Provider provider, WebhookOptions options,
                           std::function<void(const Trigger&)> on_push, WebhookHooks hooks = {},
                           std::shared_ptr<ReplayCache> replay = nullptr);

}  // namespace galley::server
