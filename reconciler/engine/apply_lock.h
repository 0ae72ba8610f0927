// SPDX-License-Identifier: Apache-2.0
// PlatformLock: one apply at a time per platform (DESIGN §3 "Locking", §7.6, §7.12). Two
// layers, taken in this order and released in the reverse one:
//   1. a lease in this host's state store, named "apply:<platform>" (two galleys on one
//      host, even when Consul is slow to answer);
//   2. a Consul session lock on the key galley/<platform>/lock (hosts and CI runners): a
//      session with TTL `ttl_seconds` (15 s), LockDelay 0 sent explicitly (Consul's default
//      is 15 s) and behaviour "release", then PUT ?acquire= with the JSON value
//      {"holder","pid","host","since","session"}.
// The value also records the holder's process (host, pid, boot id, pid namespace, start
// time: base/process_identity.h), and so does the lease's holder string
// ("<holder> [<tag>] {<identity as JSON>}").
// A background thread renews the session and the lease every TTL/2 (the lease lives 2×TTL,
// as long as Consul keeps an unrenewed session). When the session is gone (expired, or
// destroyed by `galley lock break`), the lease was taken by someone else, or no renewal
// has succeeded for a whole TTL (the lock's deadline: now − the send time of the last
// successful renewal ≥ TTL, on the `now` seam, whether or not a renewal request still
// hangs), the lock is *lost*: lost() turns true with a reason and the apply must stop
// writing. Confirm() renews at once, for a caller about to write, so a broken lock stops the
// next write instead of the next scheduled renewal. A holder that dies stops renewing, so
// Consul invalidates its session and releases the key (behaviour release): a key whose
// Session is empty is free whatever its value says. A holder that is provably dead on this
// host (its process is gone: same host name, boot id and pid namespace) is taken over at
// once instead of waiting for Consul's TTL: its lease is released and, when the key's value
// names the key's own session, that session is destroyed; taken_over() says whom. Nothing
// leaks: a failure after the lease was taken releases the lease and destroys the session.
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
#include <vector>

#include "base/clock.h"
#include "base/process_identity.h"
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
  // The seam for tests (null: RealClock()). It drives the waiting in Acquire, the lock's
  // deadline (lost()) and the holder's timestamp; the renewal thread's pauses run on real time.
  Clock* clock = nullptr;
  std::chrono::milliseconds renew_interval{0};  // 0: TTL/2 (tests shorten it)
};

// Who holds a platform's lock.
struct LockHolder {
  std::string holder;        // from the key's value, else the lease's holder
  std::string host;          // from the key's value
  int pid = 0;               // from the key's value
  std::string since;         // ISO-8601 UTC, from the key's value
  std::string session;       // the Consul session holding the key; "" when the key is free
  std::string lease_holder;  // this host's state-store lease holder (raw); "" when none is live
  ProcessIdentity process;   // the holder's process, from the key's value or the lease
  int ttl_seconds = 0;       // the holder's session TTL (its lock deadline); 0 when unknown

  // "user@host pid 1234 since 2026-11-27T12:00:00.123Z (session 6b3a...)", or for a lease
  // alone "user@host pid 1234 [3f2a9c1d] (state-store lease on this host)".
  std::string Describe() const;
};

// galley/<platform>/lock and apply:<platform>.
std::string LockKey(const std::string& platform);
std::string LeaseName(const std::string& platform);
// "<who> pid <this process's pid>".
std::string LockHolderName(const std::string& who);
// What the lock records (exposed for tests that forge a dead holder's leftovers): the lease's
// holder string "<holder> [<tag>] {...}" and the key's JSON value.
std::string LeaseHolderString(const std::string& holder, const std::string& tag,
                              const ProcessIdentity& process);
std::string LockValue(const std::string& holder, const ProcessIdentity& process,
                      const std::string& since, const std::string& session, int ttl_seconds);
// A lease's holder string as shown to people: without the process identity.
std::string LeaseDisplay(const std::string& lease_holder);

class PlatformLock {
 public:
  static Result<std::unique_ptr<PlatformLock>> Acquire(clients::ConsulClient& consul,
                                                       store::StateStore& store,
                                                       const LockOptions& options);
  ~PlatformLock();  // releases (errors ignored; call Release() to see them)
  PlatformLock(const PlatformLock&) = delete;
  PlatformLock& operator=(const PlatformLock&) = delete;

  // True once the lock is gone or its deadline passed: the apply must stop writing.
  bool lost() const;
  std::string lost_reason() const;  // "" while held
  // Renews now (session and lease), for a caller about to write: kConflict with the reason
  // when the lock is lost. A renewal failing for a moment (Consul unreachable) is not an
  // error while the deadline has not passed: Consul keeps the session that long.
  Status Confirm();
  // One line per dead holder taken over when acquiring ("took over the lock of platform 'p'
  // from alice@h pid 12 since ... (session ...): process 12 is gone (same host and boot)").
  const std::vector<std::string>& taken_over() const { return taken_over_; }
  const std::string& session() const { return session_; }
  const std::string& platform() const { return options_.platform; }

  // Stops the renewal thread, releases the key, destroys the session, releases the lease.
  // Idempotent; the first error is returned (a lost lock's leftovers are not errors).
  Status Release();

 private:
  struct Renewal {
    bool ok = false;
    bool fatal = false;  // the session is gone or the lease was taken
    std::string failure;
  };
  PlatformLock(clients::ConsulClient& consul, store::StateStore& store, const LockOptions& options,
               std::string lease_holder, std::string session,
               std::chrono::steady_clock::time_point renewed_at,
               std::vector<std::string> taken_over);
  void RenewLoop();
  Renewal RenewOnce();
  std::chrono::steady_clock::time_point Now() const;
  // Under mu_: lost_, after checking the deadline.
  bool LostLocked() const;
  void MarkLostLocked(const std::string& reason) const;

  clients::ConsulClient& consul_;
  store::StateStore& store_;
  const LockOptions options_;
  const std::string lease_holder_;
  const std::string session_;
  const std::vector<std::string> taken_over_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  mutable bool lost_ = false;
  mutable std::string lost_reason_;
  std::chrono::steady_clock::time_point renewed_at_;  // send time of the last good renewal
  std::string last_failure_;                          // of the renewals since then
  std::mutex release_mu_;                             // one Release at a time
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
// A live holder notices before its next write (Confirm()) or at its next renewal; one that
// cannot reach Consul stops at its deadline (BreakWindowSeconds after its last renewal).
// With `expected` (what was shown and confirmed), only that holder is broken: a lock that
// changed hands meanwhile is kConflict and left alone.
Result<std::optional<LockHolder>> BreakLock(clients::ConsulClient& consul, store::StateStore& store,
                                            const std::string& platform,
                                            const LockHolder* expected = nullptr);

// How long a broken holder may still act, in seconds: its lock deadline (its TTL, 15 s when
// unknown), the longest it keeps writing without reaching Consul.
int BreakWindowSeconds(const LockHolder& broken);

}  // namespace galley::engine
