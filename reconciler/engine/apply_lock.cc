// SPDX-License-Identifier: Apache-2.0
#include "engine/apply_lock.h"

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "base/uuid.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;
using Ms = std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

std::string HostName() {
  char host[256] = "localhost";
  ::gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = '\0';
  return host;
}

// "30s", "1500ms".
std::string FormatWait(Ms wait) {
  if (wait.count() % 1000 == 0) return std::to_string(wait.count() / 1000) + "s";
  return std::to_string(wait.count()) + "ms";
}

std::string StringField(const json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// The key's value as galley writes it; another writer's value is shown verbatim.
LockHolder HolderFromEntry(const model::LiveKvEntry& entry) {
  LockHolder h;
  h.session = entry.session;
  json v = json::parse(entry.value, nullptr, false);
  if (v.is_object()) {
    h.holder = StringField(v, "holder");
    h.host = StringField(v, "host");
    h.since = StringField(v, "since");
    if (auto it = v.find("pid"); it != v.end() && it->is_number_integer()) h.pid = it->get<int>();
  } else if (!entry.value.empty() && entry.value.size() <= 200) {
    h.holder = entry.value;
  }
  return h;
}

Status LockedError(const std::string& platform, const std::optional<LockHolder>& holder) {
  if (!holder) {
    // It was held a moment ago and is free now: the caller may try again.
    return Status::Conflict("platform '" + platform +
                            "' is locked (its holder is just releasing it)");
  }
  return Status::Conflict("platform '" + platform + "' is locked by " + holder->Describe());
}

// The holder for a refusal message; when reading it fails, what we know.
std::optional<LockHolder> HolderForMessage(clients::ConsulClient& consul, store::StateStore& store,
                                           const std::string& platform,
                                           const std::string& lease_holder) {
  auto current = CurrentHolder(consul, store, platform);
  if (current.ok() && current->has_value()) return *current;
  if (lease_holder.empty()) return std::nullopt;
  LockHolder h;
  h.holder = h.lease_holder = lease_holder;
  return h;
}

}  // namespace

std::string LockHolder::Describe() const {
  std::string s = holder.empty() ? "an unknown holder" : holder;
  if (!since.empty()) s += " since " + since;
  if (!session.empty()) {
    s += " (session " + session + ")";
  } else if (!lease_holder.empty()) {
    s += " (state-store lease on this host)";
  }
  return s;
}

std::string LockKey(const std::string& platform) { return "galley/" + platform + "/lock"; }
std::string LeaseName(const std::string& platform) { return "apply:" + platform; }
std::string LockHolderName(const std::string& who) {
  return who + " pid " + std::to_string(::getpid());
}

Result<std::optional<LockHolder>> CurrentHolder(clients::ConsulClient& consul,
                                                store::StateStore& store,
                                                const std::string& platform) {
  std::optional<LockHolder> holder;
  auto entry = consul.GetKv(LockKey(platform));
  if (!entry.ok() && entry.status().code() != StatusCode::kNotFound) {
    return entry.status().WithContext("reading the lock of platform '" + platform + "'");
  }
  if (entry.ok() && !entry->session.empty()) holder = HolderFromEntry(*entry);
  auto lease = store.LeaseHolder(LeaseName(platform));
  if (!lease.ok())
    return lease.status().WithContext("reading the lease of platform '" + platform + "'");
  if (lease->has_value()) {
    if (!holder) holder.emplace();
    holder->lease_holder = **lease;
    if (holder->holder.empty()) holder->holder = **lease;
  }
  return holder;
}

Result<std::optional<LockHolder>> BreakLock(clients::ConsulClient& consul, store::StateStore& store,
                                            const std::string& platform, const LockHolder* expected) {
  std::optional<LockHolder> released;
  auto entry = consul.GetKv(LockKey(platform));
  if (!entry.ok() && entry.status().code() != StatusCode::kNotFound) {
    return entry.status().WithContext("reading the lock of platform '" + platform + "'");
  }
  std::string session = entry.ok() ? entry->session : "";
  if (expected && !session.empty() && session != expected->session) {
    return Status::Conflict("the lock of platform '" + platform + "' changed hands since it was shown (now session " +
                            session + "); nothing broken");
  }
  if (entry.ok() && !entry->session.empty()) {
    released = HolderFromEntry(*entry);
    // Behaviour release: destroying the session releases the key (with the holder's
    // lock-delay, 0 for galley's sessions).
    Status st = consul.DestroySession(entry->session);
    if (!st.ok()) {
      return st.WithContext("destroying session " + entry->session + " of platform '" + platform +
                            "'");
    }
  }
  auto lease = store.LeaseHolder(LeaseName(platform));
  if (!lease.ok())
    return lease.status().WithContext("reading the lease of platform '" + platform + "'");
  if (lease->has_value() && (!expected || **lease == expected->lease_holder)) {
    Status st = store.ReleaseLease(LeaseName(platform), **lease);
    if (!st.ok()) return st.WithContext("releasing the lease of platform '" + platform + "'");
    if (!released) released.emplace();
    released->lease_holder = **lease;
    if (released->holder.empty()) released->holder = **lease;
  }
  return released;
}

namespace {

// One attempt: lease, then (when the key looks free) a session and the key.
Result<std::pair<std::string, std::string>> TryAcquire(clients::ConsulClient& consul,
                                                       store::StateStore& store,
                                                       const LockOptions& o) {
  const std::string key = LockKey(o.platform), lease = LeaseName(o.platform);
  // Unique per lock, so two locks in one process (or a pid reused) never share a lease.
  const std::string lease_holder = o.holder + " [" + NewUuid().substr(0, 8) + "]";
  const int lease_ttl = 2 * o.ttl_seconds;  // as long as Consul keeps an unrenewed session
  auto leased = store.AcquireLease(lease, lease_holder, lease_ttl);
  if (!leased.ok())
    return leased.status().WithContext("taking the lease of platform '" + o.platform + "'");
  if (!*leased) {
    auto other = store.LeaseHolder(lease);
    return LockedError(o.platform, HolderForMessage(consul, store, o.platform,
                                                    other.ok() && *other ? **other : ""));
  }
  auto give_back_lease = [&] { (void)store.ReleaseLease(lease, lease_holder); };

  // Held by a live session elsewhere: refuse without creating a session.
  auto entry = consul.GetKv(key);
  if (!entry.ok() && entry.status().code() != StatusCode::kNotFound) {
    give_back_lease();
    return entry.status().WithContext("reading the lock of platform '" + o.platform + "'");
  }
  if (entry.ok() && !entry->session.empty()) {
    give_back_lease();
    auto other = store.LeaseHolder(lease);
    LockHolder h = HolderFromEntry(*entry);
    if (other.ok() && *other) h.lease_holder = **other;
    return LockedError(o.platform, h);
  }

  clients::SessionOptions so;
  so.name = "galley apply " + o.holder;
  so.ttl_seconds = o.ttl_seconds;
  so.lock_delay_seconds = 0;
  so.behavior = "release";
  auto session = consul.CreateSession(so);
  if (!session.ok()) {
    give_back_lease();
    return session.status().WithContext("creating a Consul session for platform '" + o.platform +
                                        "'");
  }
  json value = {{"holder", o.holder},
                {"pid", static_cast<int>(::getpid())},
                {"host", HostName()},
                {"since", store::FormatTimestamp(std::chrono::system_clock::now())},
                {"session", *session}};
  auto acquired = consul.AcquireLock(key, value.dump(), *session);
  if (!acquired.ok() || !*acquired) {
    (void)consul.DestroySession(*session);
    give_back_lease();
    if (!acquired.ok()) return acquired.status().WithContext("acquiring " + key);
    return LockedError(o.platform, HolderForMessage(consul, store, o.platform, ""));
  }
  return std::make_pair(lease_holder, *session);
}

}  // namespace

Result<std::unique_ptr<PlatformLock>> PlatformLock::Acquire(clients::ConsulClient& consul,
                                                            store::StateStore& store,
                                                            const LockOptions& options) {
  if (options.platform.empty()) return Status::InvalidArgument("platform lock: no platform name");
  if (options.holder.empty()) return Status::InvalidArgument("platform lock: no holder name");
  if (options.ttl_seconds <= 0)
    return Status::InvalidArgument("platform lock: the session TTL must be positive");
  std::function<SteadyClock::time_point()> now = options.now;
  if (!now) now = [] { return SteadyClock::now(); };
  std::function<void(Ms)> sleep = options.sleep;
  if (!sleep) sleep = [](Ms d) { std::this_thread::sleep_for(d); };
  const auto deadline = now() + options.wait;
  const Ms poll = std::max(options.poll_interval, Ms(1));
  while (true) {
    auto attempt = TryAcquire(consul, store, options);
    if (attempt.ok()) {
      auto& [lease_holder, session] = *attempt;
      return std::unique_ptr<PlatformLock>(
          new PlatformLock(consul, store, options, lease_holder, session));
    }
    if (attempt.status().code() != StatusCode::kConflict) return attempt.status();
    auto t = now();
    if (t >= deadline) {
      if (options.wait.count() <= 0) return attempt.status();
      return Status::Conflict(attempt.status().message() + "; still locked after waiting " +
                              FormatWait(options.wait));
    }
    sleep(std::min<Ms>(poll, std::chrono::duration_cast<Ms>(deadline - t) + Ms(1)));
  }
}

PlatformLock::PlatformLock(clients::ConsulClient& consul, store::StateStore& store,
                           const LockOptions& options, std::string lease_holder,
                           std::string session)
    : consul_(consul),
      store_(store),
      options_(options),
      lease_holder_(std::move(lease_holder)),
      session_(std::move(session)) {
  renewer_ = std::thread([this] { RenewLoop(); });
}

PlatformLock::~PlatformLock() { (void)Release(); }

bool PlatformLock::lost() const {
  std::lock_guard<std::mutex> lk(mu_);
  return lost_;
}

std::string PlatformLock::lost_reason() const {
  std::lock_guard<std::mutex> lk(mu_);
  return lost_reason_;
}

void PlatformLock::MarkLost(const std::string& reason) {
  std::lock_guard<std::mutex> lk(mu_);
  if (lost_) return;
  lost_ = true;
  lost_reason_ = "lock of platform '" + options_.platform + "' lost: " + reason;
}

void PlatformLock::RenewLoop() {
  const Ms interval = options_.renew_interval.count() > 0
                          ? options_.renew_interval
                          : Ms(std::max<int64_t>(options_.ttl_seconds * 1000 / 2, 1));
  const Ms retry = std::min(interval, Ms(1000));  // after a failed renewal
  const auto ttl = std::chrono::seconds(options_.ttl_seconds);
  auto last_ok = SteadyClock::now();
  Ms next = interval;
  std::unique_lock<std::mutex> lk(mu_);
  while (true) {
    if (cv_.wait_for(lk, next, [this] { return stop_; })) return;
    lk.unlock();
    std::string failure;
    bool fatal = false;
    Status st = consul_.RenewSession(session_);
    if (st.code() == StatusCode::kNotFound) {
      fatal = true;
      failure = "Consul session " + session_ +
                " no longer exists (it expired, or the lock was broken with `galley lock break`)";
    } else if (!st.ok()) {
      failure = "renewing Consul session " + session_ + ": " + st.message();
    } else {
      auto leased = store_.AcquireLease(LeaseName(options_.platform), lease_holder_,
                                        2 * options_.ttl_seconds);
      if (!leased.ok()) {
        failure = "renewing the state-store lease: " + leased.status().message();
      } else if (!*leased) {
        fatal = true;
        auto other = store_.LeaseHolder(LeaseName(options_.platform));
        failure = "the state-store lease " + LeaseName(options_.platform) + " was taken by " +
                  (other.ok() && *other ? **other : std::string("another holder"));
      }
    }
    auto t = SteadyClock::now();
    if (failure.empty()) {
      last_ok = t;
      next = interval;
    } else if (fatal || t - last_ok >= ttl) {
      if (!fatal)
        failure = "no renewal succeeded for " + std::to_string(options_.ttl_seconds) +
                  "s; last: " + failure;
      MarkLost(failure);
      lk.lock();
      return;
    } else {
      next = retry;
    }
    lk.lock();
  }
}

Status PlatformLock::Release() {
  std::lock_guard<std::mutex> rl(release_mu_);
  if (released_) return Status::Ok();
  released_ = true;
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (renewer_.joinable()) renewer_.join();
  bool was_lost = lost();

  Status first;
  auto keep = [&first](const Status& st) {
    if (first.ok() && !st.ok()) first = st;
  };
  const std::string key = LockKey(options_.platform);
  // An explicit release sets no lock-delay; destroying the session would release it too.
  auto released = consul_.ReleaseLock(key, session_);
  if (!released.ok() && released.status().code() != StatusCode::kNotFound && !was_lost) {
    keep(released.status().WithContext("releasing " + key));
  }
  Status destroyed = consul_.DestroySession(session_);
  if (!destroyed.ok() && destroyed.code() != StatusCode::kNotFound) {
    keep(destroyed.WithContext("destroying Consul session " + session_));
  }
  Status lease = store_.ReleaseLease(LeaseName(options_.platform), lease_holder_);
  if (!lease.ok() && !(was_lost && lease.code() == StatusCode::kConflict)) {
    keep(lease.WithContext("releasing the lease of platform '" + options_.platform + "'"));
  }
  return first;
}

}  // namespace galley::engine
