// SPDX-License-Identifier: Apache-2.0
#include "server/notify.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/digest.h"
#include "base/strings.h"
#include "base/time_text.h"
#include "base/uuid.h"

namespace galley::server {
namespace {

using json = nlohmann::json;

constexpr size_t kDetailMax = 500;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string TargetName(const NotifyTarget& t, size_t index) {
  return std::string(t.kind == NotifyTarget::Kind::kSlack ? "slack#" : "json#") +
         std::to_string(index + 1);
}

// An error message with the target's URL replaced by its name (Slack URLs are secrets).
std::string Redact(std::string message, const std::string& url, const std::string& name) {
  if (url.empty()) return message;
  for (size_t pos = message.find(url); pos != std::string::npos; pos = message.find(url, pos)) {
    message.replace(pos, url.size(), name);
    pos += name.size();
  }
  return message;
}

}  // namespace

Status CheckNotifyTargets(const std::vector<NotifyTarget>& targets) {
  for (size_t i = 0; i < targets.size(); ++i) {
    const NotifyTarget& t = targets[i];
    std::string name = TargetName(t, i);
    if (!StartsWith(t.url, "http://") && !StartsWith(t.url, "https://")) {
      return Status::InvalidArgument("notification target " + name +
                                     ": the URL must start with http:// or https://");
    }
    if (t.kind == NotifyTarget::Kind::kJson && t.secret.empty()) {
      return Status::InvalidArgument("notification target " + name +
                                     ": a JSON webhook needs a secret to sign its bodies");
    }
  }
  return Status::Ok();
}

const char* NotifyKindName(NotifyKind kind) {
  switch (kind) {
    case NotifyKind::kDriftNew:
      return "drift_new";
    case NotifyKind::kDriftResolved:
      return "drift_resolved";
    case NotifyKind::kApplyFailed:
      return "apply_failed";
    case NotifyKind::kApplyRecovered:
      return "apply_recovered";
    case NotifyKind::kFlapping:
      return "flapping";
    case NotifyKind::kLeaderChange:
      return "leader_change";
  }
  return "unknown";
}

std::vector<NotifyEvent> DetectTransitions(const NotifyState& before, const NotifyState& after,
                                           std::chrono::system_clock::time_point now) {
  std::vector<NotifyEvent> out;
  auto add = [&](NotifyKind kind, const std::string& resource, const std::string& detail) {
    out.push_back(NotifyEvent{kind, resource, detail, now});
  };
  for (const auto& [r, summary] : after.drift) {
    if (!before.drift.count(r)) add(NotifyKind::kDriftNew, r, summary);
  }
  for (const auto& [r, summary] : before.drift) {
    if (!after.drift.count(r)) add(NotifyKind::kDriftResolved, r, "");
  }
  for (const auto& [r, error] : after.failed) {
    if (!before.failed.count(r)) add(NotifyKind::kApplyFailed, r, error);
  }
  for (const auto& [r, error] : before.failed) {
    if (!after.failed.count(r)) add(NotifyKind::kApplyRecovered, r, "");
  }
  for (const auto& r : after.flapping) {
    if (!before.flapping.count(r)) add(NotifyKind::kFlapping, r, "");
  }
  if (before.leader != after.leader) {
    add(NotifyKind::kLeaderChange, "",
        (before.leader.empty() ? "none" : before.leader) + " → " +
            (after.leader.empty() ? "none" : after.leader));
  }
  return out;
}

std::string NotifyText(std::string_view platform, const NotifyEvent& event) {
  std::string head = "galley " + Printable(platform, 100) + ": ";
  std::string r = Printable(event.resource, 300);
  std::string detail = Printable(event.detail, kDetailMax);
  switch (event.kind) {
    case NotifyKind::kDriftNew:
      return head + "new drift on " + r + (detail.empty() ? "" : ": " + detail);
    case NotifyKind::kDriftResolved:
      return head + "drift resolved on " + r;
    case NotifyKind::kApplyFailed:
      return head + "apply failed for " + r + (detail.empty() ? "" : ": " + detail);
    case NotifyKind::kApplyRecovered:
      return head + "apply recovered for " + r;
    case NotifyKind::kFlapping:
      return head + r +
             " is flapping (changed by hand again after repeated reverts); left alone until it "
             "changes in Git or is reset" +
             (detail.empty() ? "" : ": " + detail);
    case NotifyKind::kLeaderChange:
      return head + "leader changed: " + detail;
  }
  return head + detail;
}

std::string NotifyJsonBody(std::string_view platform, const NotifyEvent& event) {
  json j = {{"platform", std::string(platform)},   {"event", NotifyKindName(event.kind)},
            {"resource", event.resource},          {"detail", event.detail},
            {"time", FormatTimestamp(event.time)}, {"text", NotifyText(platform, event)}};
  return Dump(j);
}

std::string NotifySlackBody(std::string_view platform, const NotifyEvent& event) {
  std::string text;
  for (char c : NotifyText(platform, event)) {
    if (c == '&') {
      text += "&amp;";
    } else if (c == '<') {
      text += "&lt;";
    } else if (c == '>') {
      text += "&gt;";
    } else {
      text += c;
    }
  }
  return Dump(json{{"text", text}});
}

Notifier::Notifier(net::HttpClient& client, NotifierOptions options)
    : client_(client), options_(std::move(options)), clock_(ClockOr(options_.clock)) {
  thread_ = std::thread([this] { Run(); });
}

Notifier::~Notifier() { Stop(); }

void Notifier::Count(std::string_view result) {
  if (options_.count) options_.count(result);
}

void Notifier::Notify(const std::vector<NotifyEvent>& events) {
  uint64_t dropped = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) return;
    for (const auto& e : events) {
      for (size_t t = 0; t < options_.targets.size(); ++t) {
        if (queue_.size() >= std::max<size_t>(options_.queue_capacity, 1)) {
          queue_.pop_front();
          ++stats_.dropped;
          ++dropped;
        }
        queue_.push_back(Delivery{e, t});
        ++stats_.queued;
      }
    }
  }
  cv_.notify_one();
  for (uint64_t i = 0; i < dropped; ++i) Count("dropped");
  if (dropped && options_.log) {
    options_.log("notify: queue full, dropped the " + std::to_string(dropped) +
                 " oldest notification(s)");
  }
}

void Notifier::Stop() {
  uint64_t left = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!stopping_) {
      stopping_ = true;
    }
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard<std::mutex> l(mu_);
    left = queue_.size();
    stats_.dropped += left;
    queue_.clear();
  }
  for (uint64_t i = 0; i < left; ++i) Count("dropped");
}

NotifierStats Notifier::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  NotifierStats s = stats_;
  s.pending = queue_.size() + (busy_ ? 1 : 0);
  return s;
}

void Notifier::Run() {
  for (;;) {
    Delivery d;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      d = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    Deliver(d);
    std::lock_guard<std::mutex> l(mu_);
    busy_ = false;
  }
}

void Notifier::Deliver(const Delivery& d) {
  const NotifyTarget& target = options_.targets[d.target];
  const std::string name = TargetName(target, d.target);
  net::ClientRequest request;
  request.method = "POST";
  request.url = target.url;
  request.timeout = options_.request_timeout;
  request.headers["Content-Type"] = "application/json";
  if (target.kind == NotifyTarget::Kind::kSlack) {
    request.body = NotifySlackBody(options_.platform, d.event);
  } else {
    request.body = NotifyJsonBody(options_.platform, d.event);
    request.headers["X-Galley-Signature"] = "sha256=" + HmacSha256Hex(target.secret, request.body);
    request.headers["X-Galley-Event"] = NotifyKindName(d.event.kind);
    request.headers["X-Galley-Delivery"] = NewUuid();  // the same id on every retry
  }

  auto give_up = [&](const std::string& why) {
    {
      std::lock_guard<std::mutex> l(mu_);
      ++stats_.failed;
    }
    Count("failed");
    if (options_.log) {
      options_.log("notify: " + name + ": gave up on " + NotifyKindName(d.event.kind) + " " +
                   Printable(d.event.resource, 200) + ": " + why);
    }
  };

  std::chrono::milliseconds backoff = options_.initial_backoff;
  const int attempts = std::max(options_.max_attempts, 1);
  for (int attempt = 1;; ++attempt) {
    Result<net::ClientResponse> r = client_.Send(request);
    std::chrono::milliseconds wait = backoff;
    std::string why;
    if (r.ok() && r->status >= 200 && r->status < 300) {
      {
        std::lock_guard<std::mutex> l(mu_);
        ++stats_.sent;
      }
      Count("sent");
      return;
    }
    if (r.ok()) {
      why = "answered " + std::to_string(r->status);
      if (r->status != 429 && r->status < 500) return give_up(why + " (not retried)");
      if (r->status == 429) {
        std::string after = r->Header("Retry-After");
        long long seconds = 0;
        auto [p, ec] = std::from_chars(after.data(), after.data() + after.size(), seconds);
        if (ec == std::errc() && p == after.data() + after.size() && seconds > 0) {
          wait =
              std::max(wait, std::chrono::milliseconds(std::min<long long>(seconds, 86400) * 1000));
        }
      }
    } else {
      why = Redact(r.status().message(), target.url, name);
    }
    if (attempt >= attempts) return give_up(why + " (" + std::to_string(attempt) + " attempts)");
    wait = std::min(wait, options_.max_backoff);

    // Wait out the backoff in slices, so Stop does not wait for it.
    auto end = clock_.Now() + wait;
    for (;;) {
      bool stop = false;
      {
        std::lock_guard<std::mutex> l(mu_);
        stop = stopping_;
        if (stop) ++stats_.dropped;
      }
      if (stop) {
        Count("dropped");
        return;
      }
      auto now = clock_.Now();
      if (now >= end) break;
      clock_.Sleep(std::min(std::chrono::duration_cast<std::chrono::milliseconds>(end - now),
                            std::chrono::milliseconds(100)));
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      ++stats_.retries;
    }
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

}  // namespace galley::server
