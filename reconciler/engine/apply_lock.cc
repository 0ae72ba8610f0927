// SPDX-License-Identifier: Apache-2.0
#include "engine/apply_lock.h"

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "base/time_text.h"
#include "base/uuid.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;
using Ms = std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

// "30s", "1500ms".
std::string FormatWait(Ms wait) {
  if (wait.count() % 1000 == 0) return std::to_string(wait.count() / 1000) + "s";
  return std::to_string(wait.count()) + "ms";
}

std::string StringField(const json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t IntField(const json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

json IdentityJson(const ProcessIdentity& p) {
  return json{
      {"host", p.host}, {"pid", p.pid}, {"boot", p.boot}, {"pidns", p.pidns}, {"start", p.start}};
}

ProcessIdentity IdentityFrom(const json& v) {
  ProcessIdentity p;
  p.host = StringField(v, "host");
  p.pid = IntField(v, "pid");
  p.boot = StringField(v, "boot");
  p.pidns = StringField(v, "pidns");
  p.start = IntField(v, "start");
  return p;
}

// The process recorded in a lease's holder string; a pid of 0 when there is none.
ProcessIdentity LeaseIdentity(const std::string& lease_holder) {
  size_t brace = lease_holder.rfind(" {");
  if (brace == std::string::npos) return {};
  json v = json::parse(lease_holder.substr(brace + 1), nullptr, false);
  return v.is_object() ? IdentityFrom(v) : ProcessIdentity{};
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
    h.pid = static_cast<int>(IntField(v, "pid"));
    h.process = IdentityFrom(v);
    h.ttl_seconds = static_cast<int>(IntField(v, "ttl"));
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
  h.lease_holder = lease_holder;
  h.holder = LeaseDisplay(lease_holder);
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

std::string LeaseHolderString(const std::string& holder, const std::string& tag,
                              const ProcessIdentity& process) {
  return holder + " [" + tag + "] " + IdentityJson(process).dump();
}

std::string LockValue(const std::string& holder, const ProcessIdentity& process,
                      const std::string& since, const std::string& session, int ttl_seconds) {
  json value = IdentityJson(process);
  value["holder"] = holder;
  value["since"] = since;
  value["session"] = session;
  value["ttl"] = ttl_seconds;
  return value.dump();
}

std::string LeaseDisplay(const std::string& lease_holder) {
  size_t brace = lease_holder.rfind(" {");
  return brace == std::string::npos ? lease_holder : lease_holder.substr(0, brace);
}

int BreakWindowSeconds(const LockHolder& broken) {
  return broken.ttl_seconds > 0 ? broken.ttl_seconds : 15;
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
    if (holder->holder.empty()) holder->holder = LeaseDisplay(**lease);
    if (holder->process.pid == 0) holder->process = LeaseIdentity(**lease);
  }
  return holder;
}

Result<std::optional<LockHolder>> BreakLock(clients::ConsulClient& consul, store::StateStore& store,
                                            const std::string& platform,
                                            const LockHolder* expected) {
  std::optional<LockHolder> released;
  auto entry = consul.GetKv(LockKey(platform));
  if (!entry.ok() && entry.status().code() != StatusCode::kNotFound) {
    return entry.status().WithContext("reading the lock of platform '" + platform + "'");
  }
  std::string session = entry.ok() ? entry->session : "";
  if (expected && !session.empty() && session != expected->session) {
    return Status::Conflict("the lock of platform '" + platform +
                            "' changed hands since it was shown (now session " + session +
                            "); nothing broken");
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
    if (released->holder.empty()) released->holder = LeaseDisplay(**lease);
  }
  return released;
}

namespace {

struct Attempt {
  std::string lease_holder, session;
  SteadyClock::time_point renewed_at;  // just before the session was created
  std::vector<std::string> taken_over;
};

// The lease is held by `other`: when its process is provably gone, releases it (a lease
// taken over meanwhile by someone else is left alone) and says so in `note`.
bool TakeOverDeadLease(store::StateStore& store, const std::string& platform,
                       const std::string& other, std::string* note) {
  std::string why;
  if (!ProvablyGone(LeaseIdentity(other), &why)) return false;
  if (!store.ReleaseLease(LeaseName(platform), other).ok()) return false;
  *note = "took over the state-store lease of platform '" + platform + "' from " +
          LeaseDisplay(other) + ": " + why + " (same host and boot)";
  return true;
}

// The key is held by `h`: when the value names the key's own session (galley wrote it for
// that session) and its process is provably gone, destroys that session, which releases the
// key, and says so in `note`.
Result<bool> TakeOverDeadSession(clients::ConsulClient& consul, const std::string& platform,
                                 const model::LiveKvEntry& entry, const LockHolder& h,
                                 std::string* note) {
  json v = json::parse(entry.value, nullptr, false);
  if (!v.is_object() || StringField(v, "session") != entry.session) return false;
  std::string why;
  if (!ProvablyGone(h.process, &why)) return false;
  Status st = consul.DestroySession(entry.session);
  if (!st.ok() && st.code() != StatusCode::kNotFound) {
    return st.WithContext("destroying the dead holder's session " + entry.session +
                          " of platform '" + platform + "'");
  }
  *note = "took over the lock of platform '" + platform + "' from " + h.Describe() + ": " + why +
          " on this host (same boot); destroyed its session";
  return true;
}

// One attempt: lease, then (when the key looks free, or its holder is dead) a session and
// the key.
Result<Attempt> TryAcquire(clients::ConsulClient& consul, store::StateStore& store,
                           const LockOptions& o, Clock& clock) {
  const std::string key = LockKey(o.platform), lease = LeaseName(o.platform);
  const ProcessIdentity self = ThisProcess();
  Attempt out;
  // Unique per lock, so two locks in one process (or a pid reused) never share a lease.
  out.lease_holder = LeaseHolderString(o.holder, NewUuid().substr(0, 8), self);
  const int lease_ttl = 2 * o.ttl_seconds;  // as long as Consul keeps an unrenewed session
  auto leased = store.AcquireLease(lease, out.lease_holder, lease_ttl);
  if (leased.ok() && !*leased) {
    auto other = store.LeaseHolder(lease);
    std::string note;
    if (other.ok() && *other && TakeOverDeadLease(store, o.platform, **other, &note)) {
      leased = store.AcquireLease(lease, out.lease_holder, lease_ttl);
      if (leased.ok() && *leased) out.taken_over.push_back(note);
    }
  }
  if (!leased.ok())
    return leased.status().WithContext("taking the lease of platform '" + o.platform + "'");
  if (!*leased) {
    auto other = store.LeaseHolder(lease);
    return LockedError(o.platform, HolderForMessage(consul, store, o.platform,
                                                    other.ok() && *other ? **other : ""));
  }
  auto give_back_lease = [&] { (void)store.ReleaseLease(lease, out.lease_holder); };

  // Held by a live session elsewhere: refuse without creating a session.
  auto entry = consul.GetKv(key);
  if (!entry.ok() && entry.status().code() != StatusCode::kNotFound) {
    give_back_lease();
    return entry.status().WithContext("reading the lock of platform '" + o.platform + "'");
  }
  if (entry.ok() && !entry->session.empty()) {
    LockHolder h = HolderFromEntry(*entry);
    std::string note;
    auto taken = TakeOverDeadSession(consul, o.platform, *entry, h, &note);
    if (!taken.ok()) {
      give_back_lease();
      return taken.status();
    }
    if (!*taken) {
      give_back_lease();
      auto other = store.LeaseHolder(lease);
      if (other.ok() && *other) h.lease_holder = **other;
      return LockedError(o.platform, h);
    }
    out.taken_over.push_back(note);
  }

  clients::SessionOptions so;
  so.name = "galley apply " + o.holder;
  so.ttl_seconds = o.ttl_seconds;
  so.lock_delay_seconds = 0;
  so.behavior = "release";
  out.renewed_at = clock.Now();
  auto session = consul.CreateSession(so);
  if (!session.ok()) {
    give_back_lease();
    return session.status().WithContext("creating a Consul session for platform '" + o.platform +
                                        "'");
  }
  out.session = *session;
  std::string value =
      LockValue(o.holder, self, FormatTimestamp(clock.WallNow()), out.session, o.ttl_seconds);
  auto acquired = consul.AcquireLock(key, value, out.session);
  if (!acquired.ok() || !*acquired) {
    (void)consul.DestroySession(out.session);
    give_back_lease();
    if (!acquired.ok()) return acquired.status().WithContext("acquiring " + key);
    return LockedError(o.platform, HolderForMessage(consul, store, o.platform, ""));
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<PlatformLock>> PlatformLock::Acquire(clients::ConsulClient& consul,
                                                            store::StateStore& store,
                                                            const LockOptions& options) {
  if (options.platform.empty()) return Status::InvalidArgument("platform lock: no platform name");
  if (options.holder.empty()) return Status::InvalidArgument("platform lock: no holder name");
  if (options.ttl_seconds <= 0)
    return Status::InvalidArgument("platform lock: the session TTL must be positive");
  Clock& clock = ClockOr(options.clock);
  const auto deadline = clock.Now() + options.wait;
  const Ms poll = std::max(options.poll_interval, Ms(1));
  std::vector<std::string> taken_over;
  while (true) {
    auto attempt = TryAcquire(consul, store, options, clock);
    if (attempt.ok()) {
      for (auto& note : attempt->taken_over) taken_over.push_back(std::move(note));
      return std::unique_ptr<PlatformLock>(
          new PlatformLock(consul, store, options, attempt->lease_holder, attempt->session,
                           attempt->renewed_at, std::move(taken_over)));
    }
    if (attempt.status().code() != StatusCode::kConflict) return attempt.status();
    auto t = clock.Now();
    if (t >= deadline) {
      if (options.wait.count() <= 0) return attempt.status();
      return Status::Conflict(attempt.status().message() + "; still locked after waiting " +
                              FormatWait(options.wait));
    }
    clock.Sleep(std::min<Ms>(poll, std::chrono::duration_cast<Ms>(deadline - t) + Ms(1)));
  }
}

PlatformLock::PlatformLock(clients::ConsulClient& consul, store::StateStore& store,
                           const LockOptions& options, std::string lease_holder,
                           std::string session, SteadyClock::time_point renewed_at,
                           std::vector<std::string> taken_over)
    : consul_(consul),
      store_(store),
      options_(options),
      lease_holder_(std::move(lease_holder)),
      session_(std::move(session)),
      taken_over_(std::move(taken_over)),
      renewed_at_(renewed_at) {
  renewer_ = std::thread([this] { RenewLoop(); });
}

PlatformLock::~PlatformLock() { (void)Release(); }

SteadyClock::time_point PlatformLock::Now() const { return ClockOr(options_.clock).Now(); }

bool PlatformLock::lost() const {
  std::lock_guard<std::mutex> lk(mu_);
  return LostLocked();
}

std::string PlatformLock::lost_reason() const {
  std::lock_guard<std::mutex> lk(mu_);
  LostLocked();
  return lost_reason_;
}

bool PlatformLock::LostLocked() const {
  if (lost_) return true;
  if (Now() - renewed_at_ >= std::chrono::seconds(options_.ttl_seconds)) {
    MarkLostLocked("no renewal succeeded for " + std::to_string(options_.ttl_seconds) + "s; " +
                   (last_failure_.empty() ? "the last renewal request has not returned"
                                          : "last: " + last_failure_));
  }
  return lost_;
}

void PlatformLock::MarkLostLocked(const std::string& reason) const {
  if (lost_) return;
  lost_ = true;
  lost_reason_ = "lock of platform '" + options_.platform + "' lost: " + reason;
}

PlatformLock::Renewal PlatformLock::RenewOnce() {
  Renewal r;
  const auto sent = Now();
  Status st = consul_.RenewSession(session_);
  if (st.code() == StatusCode::kNotFound) {
    r.fatal = true;
    r.failure = "Consul session " + session_ +
                " no longer exists (it expired, or the lock was broken with `galley lock break`)";
  } else if (!st.ok()) {
    r.failure = "renewing Consul session " + session_ + ": " + st.message();
  } else {
    auto leased =
        store_.AcquireLease(LeaseName(options_.platform), lease_holder_, 2 * options_.ttl_seconds);
    if (!leased.ok()) {
      r.failure = "renewing the state-store lease: " + leased.status().message();
    } else if (!*leased) {
      r.fatal = true;
      auto other = store_.LeaseHolder(LeaseName(options_.platform));
      r.failure = "the state-store lease " + LeaseName(options_.platform) + " was taken by " +
                  (other.ok() && *other ? LeaseDisplay(**other) : std::string("another holder"));
    }
  }
  r.ok = r.failure.empty();
  std::lock_guard<std::mutex> lk(mu_);
  if (r.ok) {
    // Consul restarts the TTL when the request arrives, so the send time is a safe bound.
    if (sent > renewed_at_) renewed_at_ = sent;
    last_failure_.clear();
  } else {
    last_failure_ = r.failure;
    if (r.fatal) MarkLostLocked(r.failure);
  }
  return r;
}

Status PlatformLock::Confirm() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (LostLocked()) return Status::Conflict(lost_reason_);
    if (stop_) return Status::Conflict("lock of platform '" + options_.platform + "' released");
  }
  (void)RenewOnce();
  std::lock_guard<std::mutex> lk(mu_);
  if (LostLocked()) return Status::Conflict(lost_reason_);
  return Status::Ok();
}

void PlatformLock::RenewLoop() {
  const Ms interval = options_.renew_interval.count() > 0
                          ? options_.renew_interval
                          : Ms(std::max<int64_t>(options_.ttl_seconds * 1000 / 2, 1));
  const Ms retry = std::min(interval, Ms(1000));  // after a failed renewal
  Ms next = interval;
  std::unique_lock<std::mutex> lk(mu_);
  while (true) {
    if (cv_.wait_for(lk, next, [this] { return stop_; })) return;
    lk.unlock();
    Renewal r = RenewOnce();
    lk.lock();
    if (LostLocked()) return;
    next = r.ok ? interval : retry;
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
