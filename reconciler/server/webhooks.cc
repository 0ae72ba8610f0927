// SPDX-License-Identifier: Apache-2.0
#include "server/webhooks.h"

#include <atomic>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/digest.h"
#include "base/file_io.h"
#include "base/strings.h"

namespace galley::server {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxDeliveryId = 128;
constexpr size_t kLogFieldMax = 80;

std::atomic<uint64_t> g_constant_time_calls{0};

bool IsHex40(std::string_view s) {
  if (s.size() != 40) return false;
  for (char c : s) {
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex) return false;
  }
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Delivery ids are GUIDs or numbers in practice; anything else is refused rather than logged.
bool IsDeliveryId(std::string_view s) {
  if (s.empty() || s.size() > kMaxDeliveryId) return false;
  for (char c : s) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return std::string(s.substr(b, e - b));
}

// The provider's header names.
struct Headers {
  const char* signature;  // "" for GitLab (token)
  const char* event;
  const char* delivery;
};

WebhookDecision Make(Provider provider, WebhookOutcome outcome, int status, std::string reason,
                     std::string delivery = "") {
  WebhookDecision d;
  d.provider = provider;
  d.outcome = outcome;
  d.status = status;
  d.reason = std::move(reason);
  d.delivery = Printable(delivery, kLogFieldMax);
  return d;
}

// "sha256=<hex>" (prefixed) or "<hex>" against HMAC-SHA256(secret, body).
bool SignatureMatches(std::string_view header, bool prefixed, const std::string& secret,
                      const std::string& body) {
  std::string_view hex = header;
  if (prefixed) {
    if (!StartsWith(hex, "sha256=")) return false;
    hex.remove_prefix(7);
  }
  std::string expected = HmacSha256Hex(secret, body);
  // Compare even when the length is wrong, so every path through here costs one HMAC and one
  // constant-time compare of the expected length.
  std::string got = Lower(hex);
  if (got.size() != expected.size()) got.resize(expected.size(), '\0');
  bool equal = ConstantTimeEquals(got, expected);
  return equal && hex.size() == expected.size();
}

}  // namespace

const char* ProviderName(Provider provider) {
  switch (provider) {
    case Provider::kGitHub:
      return "github";
    case Provider::kGitLab:
      return "gitlab";
    case Provider::kGitea:
      return "gitea";
    case Provider::kGeneric:
      return "generic";
  }
  return "generic";
}

std::optional<Provider> ParseProvider(std::string_view name) {
  for (Provider p : {Provider::kGitHub, Provider::kGitLab, Provider::kGitea, Provider::kGeneric}) {
    if (name == ProviderName(p)) return p;
  }
  return std::nullopt;
}

const char* OutcomeLabel(WebhookOutcome outcome) {
  switch (outcome) {
    case WebhookOutcome::kAccepted:
      return "accepted";
    case WebhookOutcome::kPing:
    case WebhookOutcome::kIgnored:
      return "ignored";
    case WebhookOutcome::kUnsupported:
      return "unsupported_event";
    case WebhookOutcome::kBadSignature:
      return "bad_signature";
    case WebhookOutcome::kMalformed:
      return "malformed";
    case WebhookOutcome::kReplay:
      return "replay";
    case WebhookOutcome::kTooLarge:
      return "too_large";
  }
  return "malformed";
}

std::string WebhookDecision::LogLine() const {
  std::string line = std::string("webhook ") + ProviderName(provider) +
                     " delivery=" + (delivery.empty() ? "-" : delivery) +
                     " status=" + std::to_string(status) + " result=" + metric_label();
  if (trigger) {
    line += " branch=" + Printable(trigger->branch, kLogFieldMax) +
            " commit=" + ShortCommit(trigger->commit);
    if (!trigger->repository.empty()) {
      line += " repository=" + Printable(trigger->repository, kLogFieldMax);
    }
  } else if (!reason.empty()) {
    line += " reason=" + reason;  // last on the line; sender text in it is already escaped
  }
  return line;
}

net::HttpResponse WebhookDecision::ToResponse() const {
  json body = {{"result", outcome == WebhookOutcome::kPing ? "pong" : metric_label()}};
  if (!reason.empty()) body["reason"] = reason;
  if (!delivery.empty()) body["delivery"] = delivery;
  if (trigger) {
    body["branch"] = trigger->branch;
    body["commit"] = trigger->commit;
  }
  net::HttpResponse r = net::HttpResponse::Json(
      status, body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
  if (status == 405) r.headers["Allow"] = "POST";
  return r;
}

ReplayCache::ReplayCache(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

bool ReplayCache::Insert(Provider provider, std::string_view id) {
  std::string key = std::string(ProviderName(provider)) + "/" + std::string(id);
  std::lock_guard<std::mutex> l(mu_);
  if (seen_.count(key)) return false;
  seen_.insert(key);
  order_.push_back(std::move(key));
  while (order_.size() > capacity_) {
    seen_.erase(order_.front());
    order_.pop_front();
  }
  return true;
}

size_t ReplayCache::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return order_.size();
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  g_constant_time_calls.fetch_add(1, std::memory_order_relaxed);
  // Walk the longer length whatever the contents; the length difference is folded in, so
  // strings of different lengths are never equal, and no branch depends on the bytes.
  size_t n = a.size() > b.size() ? a.size() : b.size();
  volatile unsigned char diff = static_cast<unsigned char>(a.size() != b.size());
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = static_cast<unsigned char>(diff | (x ^ y));
  }
  return diff == 0;
}

uint64_t ConstantTimeEqualsCalls() { return g_constant_time_calls.load(std::memory_order_relaxed); }

Status CheckWebhookSecret(std::string_view secret, bool no_webhooks) {
  if (no_webhooks) return Status::Ok();
  if (secret.empty()) {
    return Status::InvalidArgument(
        "no webhook secret: set GALLEY_WEBHOOK_SECRET or --webhook-secret-file (e.g. the output "
        "of `openssl rand -hex 32`), or pass --no-webhooks when nothing sends webhooks");
  }
  if (secret.size() < 16) {
    return Status::InvalidArgument("the webhook secret has " + std::to_string(secret.size()) +
                                   " bytes; use at least 16 (e.g. `openssl rand -hex 32`)");
  }
  return Status::Ok();
}

Result<std::string> LoadWebhookSecret(const std::optional<std::string>& env,
                                      const std::string& file) {
  if (!file.empty()) {
    auto content = ReadFileBounded(file, 4096);
    if (!content.ok()) return content.status().WithContext("--webhook-secret-file");
    std::string s = std::move(*content);
    if (!s.empty() && s.back() == '\n') s.pop_back();
    if (!s.empty() && s.back() == '\r') s.pop_back();
    return s;
  }
  return env.value_or("");
}

WebhookDecision VerifyWebhook(Provider provider, const WebhookOptions& options,
                              const net::HttpRequest& request, ReplayCache* replay) {
  if (request.method != "POST") {
    return Make(provider, WebhookOutcome::kMalformed, 405, "webhooks are POST requests");
  }
  if (request.body.size() > options.max_body) {
    return Make(provider, WebhookOutcome::kTooLarge, 413,
                "body of " + std::to_string(request.body.size()) + " bytes is over the limit of " +
                    std::to_string(options.max_body));
  }
  if (options.secret.empty()) {
    // CheckWebhookSecret keeps a server from starting like this; refuse rather than accept.
    return Make(provider, WebhookOutcome::kBadSignature, 401, "no webhook secret is configured");
  }

  // Which family of headers: Gitea's endpoint also takes Gogs'.
  Headers h{};
  switch (provider) {
    case Provider::kGitHub:
      h = {"X-Hub-Signature-256", "X-GitHub-Event", "X-GitHub-Delivery"};
      break;
    case Provider::kGitLab:
      h = {"", "X-Gitlab-Event", "X-Gitlab-Event-UUID"};
      break;
    case Provider::kGitea:
      if (request.headers.count("X-Gitea-Signature") == 0 &&
          request.headers.count("X-Gogs-Signature") != 0) {
        h = {"X-Gogs-Signature", "X-Gogs-Event", "X-Gogs-Delivery"};
      } else {
        h = {"X-Gitea-Signature", "X-Gitea-Event", "X-Gitea-Delivery"};
      }
      break;
    case Provider::kGeneric:
      h = {"X-Galley-Signature", "X-Galley-Event", "X-Galley-Delivery"};
      break;
  }
  std::string delivery_raw = Trim(request.Header(h.delivery));

  // Authentication first: nothing about the body is looked at before it passes.
  if (provider == Provider::kGitLab) {
    std::string token = request.Header("X-Gitlab-Token");
    // Hash both sides so the comparison's time does not even reveal the secret's length.
    bool equal = ConstantTimeEquals(Sha256Hex(token), Sha256Hex(options.secret));
    if (token.empty() || !equal) {
      return Make(provider, WebhookOutcome::kBadSignature, 401,
                  token.empty() ? "missing X-Gitlab-Token header" : "X-Gitlab-Token does not match",
                  delivery_raw);
    }
  } else {
    std::string signature = Trim(request.Header(h.signature));
    if (signature.empty()) {
      return Make(provider, WebhookOutcome::kBadSignature, 401,
                  std::string("missing ") + h.signature + " header", delivery_raw);
    }
    bool prefixed = provider == Provider::kGitHub || provider == Provider::kGeneric;
    if (!SignatureMatches(signature, prefixed, options.secret, request.body)) {
      return Make(provider, WebhookOutcome::kBadSignature, 401,
                  std::string(h.signature) + " does not match the body", delivery_raw);
    }
  }

  // The event.
  std::string event = Trim(request.Header(h.event));
  if (provider == Provider::kGeneric && event.empty()) event = "push";
  bool is_push = provider == Provider::kGitLab ? event == "Push Hook" : event == "push";
  bool is_ping = provider != Provider::kGitLab && event == "ping";
  if (is_ping) {
    return Make(provider, WebhookOutcome::kPing, 200, "ping acknowledged", delivery_raw);
  }
  // A tag push is a push of something galley does not follow: acknowledged, as GitHub's
  // tag pushes (a push event of refs/tags/...) are below. Any other event is refused, so a
  // hook that sends more than pushes shows failed deliveries on the provider's side.
  if (provider == Provider::kGitLab && event == "Tag Push Hook") {
    return Make(provider, WebhookOutcome::kIgnored, 202, "event 'Tag Push Hook' is not a push",
                delivery_raw);
  }
  if (!is_push) {
    return Make(provider, WebhookOutcome::kUnsupported, 400,
                event.empty() ? std::string("no ") + h.event + " header"
                              : "event " + Quote(Printable(event, kLogFieldMax)) +
                                    " is not handled: send only push events",
                delivery_raw);
  }

  // The delivery id: required, except from GitLab versions that send none.
  std::string delivery = delivery_raw;
  if (delivery.empty()) {
    if (provider != Provider::kGitLab) {
      return Make(provider, WebhookOutcome::kMalformed, 400,
                  std::string("missing ") + h.delivery + " header");
    }
    delivery = "body-sha256:" + Sha256Hex(request.body);
  } else if (!IsDeliveryId(delivery)) {
    return Make(provider, WebhookOutcome::kMalformed, 400,
                std::string(h.delivery) + " is not a delivery id", delivery_raw);
  }

  // The payload: JSON, or GitHub's and Gitea's form encoding (payload=<JSON>), which is
  // GitHub's default content type. The signature covered the raw body either way.
  std::string_view text = request.body;
  std::string form_payload;
  if (StartsWith(Lower(request.Header("Content-Type")), "application/x-www-form-urlencoded")) {
    bool found = false;
    for (auto& [key, value] : net::ParseQuery(request.body)) {
      if (key == "payload") {
        form_payload = std::move(value);
        found = true;
        break;
      }
    }
    if (!found) {
      return Make(provider, WebhookOutcome::kMalformed, 400,
                  "the form-encoded body has no \"payload\" field", delivery);
    }
    text = form_payload;
  }
  json payload = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!payload.is_object()) {
    return Make(provider, WebhookOutcome::kMalformed, 400, "the body is not a JSON object",
                delivery);
  }
  auto string_field = [&](const char* key) -> std::optional<std::string> {
    auto it = payload.find(key);
    if (it == payload.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  std::optional<std::string> ref = string_field("ref");
  if (!ref || ref->empty()) {
    return Make(provider, WebhookOutcome::kMalformed, 400, "the payload has no \"ref\"", delivery);
  }
  std::optional<std::string> commit;
  if (provider == Provider::kGitLab) {
    commit = string_field("checkout_sha");  // null when the branch was deleted
    if (!commit) commit = string_field("after");
  } else {
    commit = string_field("after");
  }
  if (!commit) {
    return Make(provider, WebhookOutcome::kMalformed, 400,
                provider == Provider::kGitLab ? "the payload has no \"checkout_sha\" or \"after\""
                                              : "the payload has no \"after\"",
                delivery);
  }
  if (!IsHex40(*commit)) {
    return Make(provider, WebhookOutcome::kMalformed, 400,
                "commit " + Quote(Printable(*commit, kLogFieldMax)) + " is not 40 hex digits",
                delivery);
  }
  std::string repository;
  const char* repo_object = provider == Provider::kGitLab ? "project" : "repository";
  const char* repo_key = provider == Provider::kGitLab ? "path_with_namespace" : "full_name";
  if (auto it = payload.find(repo_object); it != payload.end() && it->is_object()) {
    if (auto n = it->find(repo_key); n != it->end() && n->is_string()) {
      repository = n->get<std::string>();
    }
  }

  // Authenticated and well formed: a replay now is a replay.
  if (replay && !replay->Insert(provider, delivery)) {
    return Make(provider, WebhookOutcome::kReplay, 409, "delivery already received", delivery);
  }

  constexpr std::string_view kHeads = "refs/heads/";
  if (!StartsWith(*ref, kHeads)) {
    return Make(provider, WebhookOutcome::kIgnored, 202,
                "ref " + Quote(Printable(*ref, kLogFieldMax)) + " is not a branch", delivery);
  }
  std::string branch = ref->substr(kHeads.size());
  std::string want = options.branch;
  if (StartsWith(want, kHeads)) want = want.substr(kHeads.size());
  if (!want.empty() && branch != want) {
    return Make(provider, WebhookOutcome::kIgnored, 202,
                "push to " + Quote(Printable(branch, kLogFieldMax)) + ", not " + Quote(want),
                delivery);
  }
  if (*commit == std::string(40, '0')) {
    return Make(provider, WebhookOutcome::kIgnored, 202,
                "branch " + Quote(Printable(branch, kLogFieldMax)) + " was deleted", delivery);
  }

  WebhookDecision d = Make(provider, WebhookOutcome::kAccepted, 202, "", delivery);
  d.trigger = Trigger{provider, delivery, branch, Lower(*commit), repository};
  return d;
}

HttpHandler WebhookHandler(Provider provider, WebhookOptions options,
                           std::function<void(const Trigger&)> on_push, WebhookHooks hooks,
                           std::shared_ptr<ReplayCache> replay) {
  if (!replay) replay = std::make_shared<ReplayCache>();
  return [provider, options = std::move(options), on_push = std::move(on_push),
          hooks = std::move(hooks), replay](const net::HttpRequest& request) {
    WebhookDecision d = VerifyWebhook(provider, options, request, replay.get());
    if (d.trigger && on_push) on_push(*d.trigger);
    if (hooks.count) hooks.count(ProviderName(provider), d.metric_label());
    if (hooks.log) hooks.log(d);
    return d.ToResponse();
  };
}

}  // namespace galley::server
