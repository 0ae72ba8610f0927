// SPDX-License-Identifier: Apache-2.0
// PlatformLock: one apply at a time per platform (DESIGN §3 "Locking", §7.6, §7.12). Two
// layers, taken in this order and released in the reverse one:
//   1. a lease in this host's state store, named "apply:<platform>" (two galleys on one
//      host, even when Consul is slow to answer);
//   2. a Consul session lock on the key galley/<platform>/lock (hosts and CI runners): a
//      session with TTL `ttl_seconds` (15 s), LockDelay 0 sent explicitly (Consul's default
//      is 15 s) and behaviour "release", then PUT ?acquire= with the JSON value
//      {"holder","pid","host","since","session"}.
// A background thread renews the session and the lease every TTL/2 (the lease lives 2×TTL,
// as long as Consul keeps an unrenewed session). When the session is gone (expired, or
// destroyed by `galley lock break`), the lease was taken by someone else, or no renewal
// has succeeded for a whole TTL, the lock is *lost*: lost() turns true with a reason and
// the apply must stop starting actions. A holder that dies stops renewing, so Consul
// invalidates its session and releases the key (behaviour release): a key whose Session is
// empty is free whatever its value says. Nothing leaks: a failure after the lease was taken
// releases the lease and destroys the session.
//
// Acquire refuses with kConflict "platform 'x' is locked by <holder> since <time> (session
// <id>)" (with "; still locked after waiting 30s" appended when it waited) when the lock is
// held and `wait` (--lock-timeout) ran out; while waiting it tries again every
// `poll_interval`, each attempt taking and giving back the lease. Other errors are not
// waited on and keep their codes (Consul unreachable → kUnavailable). `galley apply` maps
// the kConflict to exit code 3. The Consul client and the store must outlive the lock.
//
// Thread-safety: lost(), lost_reason(), session() and Release() may be called from any
// thread at any time; Release() wakes the renewal thread at once and joins it (it may still
// wait for one renewal request in flight), and the destructor releases the same way. The
// free functions are stateless.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "base/status.h"
#include "clients/consul_client.h"
#include "store/state_store.h"

namespace galley::engine {

struct LockOptions {
  std::string platform;  // lock key galley/<platform>/lock, lease "apply:<platform>"
  std::string holder;    // "user@host pid 1234" (LockHolderName): shown to whoever is refused
  int ttl_seconds = 15;  // Consul session TTL; renewals every TTL/2
  std::chrono::milliseconds wait{0};              // --lock-timeout: keep trying this long
  std::chrono::milliseconds poll_interval{1000};  // between attempts while waiting
  // Seams for tests (empty: steady_clock::now and this_thread::sleep_for). They drive the
  // waiting in Acquire only; renewals run on real time.
  std::function<std::chrono::steady_clock::time_point()> now;
  std::function<void(std::chrono::milliseconds)> sleep;
  std::chrono::milliseconds renew_interval{0};  // 0: TTL/2 (tests shorten it)
};

// Who holds a platform's lock.
struct LockHolder {
  std::string holder;        // from the key's value, else the lease's holder
  std::string host;          // from the key's value
  int pid = 0;               // from the key's value
  std::string since;         // ISO-8601 UTC, from the key's value
  std::string session;       // the Consul session holding the key; "" when the key is free
  std::string lease_holder;  // this host's state-store lease holder; "" when none is live

  // "user@host pid 1234 since 2026-11-27T12:00:00.123Z (session 6b3a...)", or for a lease
  // alone "user@host pid 1234 [3f2a9c1d] (state-store lease on this host)".
  std::string Describe() const;
};

// galley/<platform>/lock and apply:<platform>.
std::string LockKey(const std::string& platform);
std::string LeaseName(const std::string& platform);
// "<who> pid <this process's pid>".
std::string LockHolderName(const std::string& who);

class PlatformLock {
 public:
  static Result<std::unique_ptr<PlatformLock>> Acquire(clients::ConsulClient& consul,
                                                       store::StateStore& store,
                                                       const LockOptions& options);
  ~PlatformLock();  // releases (errors ignored; call Release() to see them)
  PlatformLock(const PlatformLock&) = delete;
  PlatformLock& operator=(const PlatformLock&) = delete;

  // True once renewal failed for good: the apply must stop starting actions.
  bool lost() const;
  std::string lost_reason() const;  // "" while held
  const std::string& session() const { return session_; }
  const std::string& platform() const { return options_.platform; }

  // Stops the renewal thread, releases the key, destroys the session, releases the lease.
  // Idempotent; the first error is returned (a lost lock's leftovers are not errors).
  Status Release();

 private:
  PlatformLock(clients::ConsulClient& consul, store::StateStore& store, const LockOptions& options,
               std::string lease_holder, std::string session);
  void RenewLoop();
  void MarkLost(const std::string& reason);

  clients::ConsulClient& consul_;
  store::StateStore& store_;
  const LockOptions options_;
  const std::string lease_holder_;
  const std::string session_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool lost_ = false;
  std::string lost_reason_;
  std::mutex release_mu_;  // one Release at a time
  bool released_ = false;
  std::thread renewer_;
};

// Who holds the platform's lock (the Consul key's value and session, and this host's lease),
// for `galley lock status` and refusal messages; nullopt when both are free.
Result<std::optional<LockHolder>> CurrentHolder(clients::ConsulClient& consul,
                                                store::StateStore& store,
                                                const std::string& platform);

// Releases a stuck lock: destroys the session holding the key (Consul releases the key) and
// releases this host's lease. Returns what it released; nullopt when nothing was held.
// A live holder notices at its next renewal (lost()).
// With `expected` (what was shown and confirmed), only that holder is broken: a lock that
// changed hands meanwhile is kConflict and left alone.
Result<std::optional<LockHolder>> BreakLock(clients::ConsulClient& consul, store::StateStore& store,
                                            const std::string& platform, const LockHolder* expected = nullptr);

}  // namespace galley::engine
