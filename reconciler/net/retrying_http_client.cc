// SPDX-License-Identifier: Apache-2.0
// The retrying decorator (see retrying_http_client.h). No Beast here: it only sees the
// HttpClient interface, so it is cheap to compile and tested with a scripted fake.
#include "net/retrying_http_client.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>

namespace galley::net {

bool IsIdempotent(const ClientRequest& request) {
  if (request.idempotent.has_value()) return *request.idempotent;
  const std::string& m = request.method;
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE";
}

namespace {

using std::chrono::milliseconds;

bool IsRetryableStatus(int status) {
  return status == 429 || status == 502 || status == 503 || status == 504;
}

// Retry-After in delta-seconds; nullopt for an HTTP-date or anything else.
std::optional<milliseconds> ParseRetryAfter(const std::string& value) {
  size_t b = value.find_first_not_of(" \t");
  size_t e = value.find_last_not_of(" \t");
  if (b == std::string::npos) return std::nullopt;
  std::string digits = value.substr(b, e - b + 1);
  if (digits.empty() || digits.size() > 9 ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return milliseconds(std::stoll(digits) * 1000);
}

class RetryingHttpClient : public HttpClient {
 public:
  RetryingHttpClient(HttpClient* inner, std::unique_ptr<HttpClient> owned, RetryPolicy policy,
                     SleepFunction sleep)
      : owned_(std::move(owned)), inner_(inner), policy_(policy), sleep_(std::move(sleep)) {
    if (!sleep_) sleep_ = [](milliseconds d) { std::this_thread::sleep_for(d); };
  }

  Result<ClientResponse> Send(const ClientRequest& request) override {
    return SendDetailed(request, nullptr);
  }

  // A stream is never repeated here: its user reconnects (and resyncs) itself.
  Status Stream(const ClientRequest& request, const StreamCallbacks& callbacks) override {
    return inner_->Stream(request, callbacks);
  }

  Result<ClientResponse> SendDetailed(const ClientRequest& request, SendFailure* failure) override {
    const bool idempotent = IsIdempotent(request);
    const int max_attempts = std::max(1, policy_.max_attempts);
    milliseconds spent{0};  // time in the inner client plus the sleeps asked for
    for (int attempt = 1;; ++attempt) {
      SendFailure f;
      auto started = std::chrono::steady_clock::now();
      Result<ClientResponse> result = inner_->SendDetailed(request, &f);
      spent += std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started);
      if (failure) *failure = f;

      bool retry = false;
      std::optional<milliseconds> server_wait;
      if (result.ok()) {
        // The server saw the request: only an idempotent one may be sent again.
        retry = idempotent && IsRetryableStatus(result->status);
        if (retry) server_wait = ParseRetryAfter(result->Header("Retry-After"));
      } else {
        StatusCode code = result.status().code();
        // A non-idempotent request is repeated only when nothing of it can have reached the
        // server (a refused or timed-out connect, a failed TLS handshake): repeating it then
        // cannot make it happen twice.
        retry = (code == StatusCode::kUnavailable || code == StatusCode::kTimeout) &&
                !f.permanent && (idempotent || !f.request_may_have_been_sent);
      }
      if (!retry) return Final(std::move(result), attempt, "");
      if (attempt >= max_attempts) return Final(std::move(result), attempt, "");
      milliseconds wait =
          server_wait ? std::min(*server_wait, policy_.max_retry_after) : Backoff(attempt);
      if (spent + wait >= policy_.max_total) {
        return Final(std::move(result), attempt,
                     "; the next retry would pass the " +
                         std::to_string(policy_.max_total.count()) + " ms budget");
      }
      sleep_(wait);
      spent += wait;
    }
  }

 private:
  // The sleep after failed attempt `attempt` (1-based): initial·multiplier^(attempt-1),
  // capped, then jittered into [d/2, d].
  milliseconds Backoff(int attempt) const {
    double d = static_cast<double>(policy_.initial_backoff.count()) *
               std::pow(std::max(1.0, policy_.multiplier), attempt - 1);
    d = std::min(d, static_cast<double>(policy_.max_backoff.count()));
    d = std::max(d, 0.0);
    if (policy_.jitter && d > 0) {
      thread_local std::minstd_rand rng{std::random_device{}()};
      d = std::uniform_real_distribution<double>(d / 2, d)(rng);
    }
    return milliseconds(static_cast<int64_t>(std::llround(d)));
  }

  static Result<ClientResponse> Final(Result<ClientResponse> result, int attempts,
                                      const std::string& note) {
    if (result.ok() || attempts <= 1) return result;
    const Status& s = result.status();
    std::string message =
        s.message() + " (after " + std::to_string(attempts) + " attempts" + note + ")";
    switch (s.code()) {
      case StatusCode::kTimeout:
        return Status::Timeout(message);
      case StatusCode::kUnavailable:
        return Status::Unavailable(message);
      case StatusCode::kInvalidArgument:
        return Status::InvalidArgument(message);
      default:
        return Status::Internal(message);
    }
  }

  std::unique_ptr<HttpClient> owned_;
  HttpClient* inner_;
  const RetryPolicy policy_;
  SleepFunction sleep_;
};

}  // namespace

std::unique_ptr<HttpClient> NewRetryingHttpClient(HttpClient* inner, RetryPolicy policy,
                                                  SleepFunction sleep) {
  return std::make_unique<RetryingHttpClient>(inner, nullptr, policy, std::move(sleep));
}

std::unique_ptr<HttpClient> NewRetryingHttpClient(std::unique_ptr<HttpClient> inner,
                                                  RetryPolicy policy, SleepFunction sleep) {
  HttpClient* raw = inner.get();
  return std::make_unique<RetryingHttpClient>(raw, std::move(inner), policy, std::move(sleep));
}

}  // namespace galley::net
