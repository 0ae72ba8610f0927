// SPDX-License-Identifier: Apache-2.0
// PlatformLock against a fake Consul (sessions, acquire/release, GetKv; behaviour release
// on destroy) and real SQLite stores: refusal naming the holder, release and re-acquire,
// --lock-timeout waits (fake clock and sleep), renewal keeping the lease alive (fake store
// clock), renewal failures making the lock lost, no leaks when acquiring the key fails,
// CurrentHolder and BreakLock.
#include "engine/apply_lock.h"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include "support/temp_repo.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;
using Ms = std::chrono::milliseconds;

// A clock scripted by the test: Now() asks `now`, Sleep hands the pause to `sleep`.
struct ScriptedClock : Clock {
  std::function<std::chrono::steady_clock::time_point()> now;
  std::function<void(Ms)> sleep;
  std::chrono::steady_clock::time_point Now() override { return now ? now() : Clock::Now(); }
  void Sleep(Ms d) override {
    if (sleep) sleep(d);
  }
};

// Only the session, lock and GetKv calls do something; Consul's TTL is not enforced (a test
// expires a session by destroying it). Thread-safe: the renewal thread calls it.
class FakeConsul : public clients::ConsulClient {
 public:
  Result<clients::KvList> ListKv(const std::string&) override { return Status::Internal("unused"); }
  Result<model::LiveKvEntry> GetKv(const std::string& key) override {
    std::lock_guard<std::mutex> lk(mu_);
    ++requests_;
    if (!get_error.ok()) return get_error;
    auto it = kv_.find(key);
    if (it == kv_.end()) return Status::NotFound("consul: key \"" + key + "\" does not exist");
    return it->second;
  }
  Result<std::map<std::string, std::vector<std::string>>> ListServices() override {
    return Status::Internal("unused");
  }
  Result<std::vector<clients::HealthInstance>> ServiceHealth(const std::string&, bool) override {
    return Status::Internal("unused");
  }
  int requests() const override {
    std::lock_guard<std::mutex> lk(mu_);
    return requests_;
  }
  Result<clients::KvTxnResult> Txn(const std::vector<clients::KvTxnOp>&) override {
    return Status::Internal("unused");
  }
  Result<bool> PutKv(const std::string&, const std::string&, std::optional<uint64_t>) override {
    return Status::Internal("unused");
  }
  Result<bool> DeleteKv(const std::string&, std::optional<uint64_t>) override {
    return Status::Internal("unused");
  }

  Result<std::string> CreateSession(const clients::SessionOptions& options) override {
    std::lock_guard<std::mutex> lk(mu_);
    ++requests_;
    if (!create_error.ok()) return create_error;
    std::string id = "s" + std::to_string(++next_session_);
    sessions_.insert(id);
    created_.push_back(options);
    return id;
  }
  Status RenewSession(const std::string& id) override {
    if (before_renew) before_renew();  // may block: a renewal that hangs
    std::lock_guard<std::mutex> lk(mu_);
    ++requests_;
    if (!renew_error.ok()) return renew_error;
    if (!sessions_.count(id))
      return Status::NotFound("consul: session '" + id + "' does not exist");
    ++renewals_;
    return Status::Ok();
  }
  Status DestroySession(const std::string& id) override {
    std::lock_guard<std::mutex> lk(mu_);
    ++requests_;
    ++destroys_;
    sessions_.erase(id);
    for (auto& [key, e] : kv_) {
      if (e.session == id) e.session.clear();  // behaviour release: the value stays
    }
    return Status::Ok();
  }
  Result<bool> AcquireLock(const std::string& key, const std::string& value,
                           const std::string& session) override {
    std::lock_guard<std::mutex> lk(mu_);
    ++requests_;
    if (!acquire_error.ok()) return acquire_error;
    if (acquire_refuses) return false;
    if (!sessions_.count(session))
      return Status::NotFound("consul: invalid session \"" + session + "\"");
    auto& e = kv_[key];
    if (!e.session.empty() && e.session != session) return false;
    e.key = key;
    e.value = value;
    e.session = session;
    ++e.modify_index;
    return true;
  }
  Result<bool> ReleaseLock(const std::string& key, const std::string& session) override {
    std::lock_guard<std::mutex> lk(mu_);
    ++requests_;
    if (!sessions_.count(session))
      return Status::NotFound("consul: invalid session \"" + session + "\"");
    auto it = kv_.find(key);
    if (it == kv_.end() || it->second.session != session) return false;
    it->second.session.clear();
    it->second.value.clear();  // Consul writes the (empty) release body
    return true;
  }

  // Failure injection (set before the call; guarded by the same mutex through the setters).
  void SetRenewError(Status st) {
    std::lock_guard<std::mutex> lk(mu_);
    renew_error = std::move(st);
  }
  Status get_error, create_error, acquire_error, renew_error;
  std::function<void()> before_renew;  // set before the lock exists
  bool acquire_refuses = false;

  void Put(const std::string& key, const std::string& value, const std::string& session) {
    std::lock_guard<std::mutex> lk(mu_);
    kv_[key] = model::LiveKvEntry{key, value, 1, 0, session};
  }
  std::optional<model::LiveKvEntry> Entry(const std::string& key) {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = kv_.find(key);
    if (it == kv_.end()) return std::nullopt;
    return it->second;
  }
  size_t live_sessions() {
    std::lock_guard<std::mutex> lk(mu_);
    return sessions_.size();
  }
  int renewals() {
    std::lock_guard<std::mutex> lk(mu_);
    return renewals_;
  }
  int destroys() {
    std::lock_guard<std::mutex> lk(mu_);
    return destroys_;
  }
  std::vector<clients::SessionOptions> created() {
    std::lock_guard<std::mutex> lk(mu_);
    return created_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, model::LiveKvEntry> kv_;
  std::set<std::string> sessions_;
  std::vector<clients::SessionOptions> created_;
  int next_session_ = 0, renewals_ = 0, destroys_ = 0, requests_ = 0;
};

std::unique_ptr<store::StateStore> MemoryStore(const store::StoreOptions& options = {}) {
  auto s = store::OpenSqliteStore(":memory:", options);
  EXPECT_TRUE(s.ok()) << s.status().message();
  return std::move(s).value();
}

LockOptions Options(const std::string& holder) {
  LockOptions o;
  o.platform = "reference";
  o.holder = holder;
  return o;
}

// Waits (really) up to 5 s for `cond`.
template <typename F>
bool Eventually(F cond) {
  for (int i = 0; i < 500; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(Ms(10));
  }
  return cond();
}

TEST(PlatformLockTest, SecondAcquireIsRefusedNamingTheHolder) {
  FakeConsul consul;
  auto store = MemoryStore();
  auto first = PlatformLock::Acquire(consul, *store, Options("alice@h1 pid 11"));
  ASSERT_TRUE(first.ok()) << first.status().message();
  const std::string session = (*first)->session();

  // The same host (same store): the lease refuses; the message comes from Consul's key.
  auto second = PlatformLock::Acquire(consul, *store, Options("bob@h1 pid 12"));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kConflict);
  EXPECT_EQ(second.status().message().rfind(
                "platform 'reference' is locked by alice@h1 pid 11 since ", 0),
            0u)
      << second.status().message();
  EXPECT_NE(second.status().message().find("(session " + session + ")"), std::string::npos)
      << second.status().message();

  // Another host (its own store): Consul refuses, without creating a session.
  auto other_store = MemoryStore();
  auto third = PlatformLock::Acquire(consul, *other_store, Options("carol@h2 pid 13"));
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), StatusCode::kConflict);
  EXPECT_NE(third.status().message().find("locked by alice@h1 pid 11 since "), std::string::npos);
  EXPECT_EQ(consul.created().size(), 1u);
  EXPECT_EQ(consul.live_sessions(), 1u);
  EXPECT_FALSE(other_store->LeaseHolder(LeaseName("reference"))->has_value())
      << "the refused lease leaked";
  EXPECT_FALSE((*first)->lost());
}

TEST(PlatformLockTest, SessionAndKeyAreWhatDesignSays) {
  FakeConsul consul;
  auto store = MemoryStore();
  auto lock = PlatformLock::Acquire(consul, *store, Options("alice@h1 pid 11"));
  ASSERT_TRUE(lock.ok()) << lock.status().message();
  ASSERT_EQ(consul.created().size(), 1u);
  clients::SessionOptions so = consul.created()[0];
  EXPECT_EQ(so.ttl_seconds, 15);
  EXPECT_EQ(so.lock_delay_seconds, 0);
  EXPECT_EQ(so.behavior, "release");
  EXPECT_EQ(so.name, "galley apply alice@h1 pid 11");

  auto entry = consul.Entry("galley/reference/lock");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->session, (*lock)->session());
  json value = json::parse(entry->value);
  EXPECT_EQ(value["holder"], "alice@h1 pid 11");
  EXPECT_EQ(value["pid"], static_cast<int>(::getpid()));
  EXPECT_FALSE(value["host"].get<std::string>().empty());
  EXPECT_EQ(value["since"].get<std::string>().size(), 24u)
      << value["since"];  // 2026-11-27T12:00:00.123Z
  EXPECT_EQ(value["session"], (*lock)->session());

  auto lease = store->LeaseHolder("apply:reference");
  ASSERT_TRUE(lease.ok() && lease->has_value());
  EXPECT_EQ(lease->value().rfind("alice@h1 pid 11 [", 0), 0u) << lease->value();
}

TEST(PlatformLockTest, ReleaseThenReacquire) {
  FakeConsul consul;
  auto store = MemoryStore();
  auto first = PlatformLock::Acquire(consul, *store, Options("alice@h1 pid 11"));
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE((*first)->Release().ok());
  EXPECT_TRUE((*first)->Release().ok()) << "Release is idempotent";
  EXPECT_EQ(consul.live_sessions(), 0u);
  EXPECT_TRUE(consul.Entry("galley/reference/lock")->session.empty());
  EXPECT_FALSE(store->LeaseHolder("apply:reference")->has_value());
  EXPECT_FALSE(CurrentHolder(consul, *store, "reference")->has_value());

  auto second = PlatformLock::Acquire(consul, *store, Options("bob@h1 pid 12"));
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_NE((*second)->session(), (*first)->session());
}

TEST(PlatformLockTest, DestructorReleases) {
  FakeConsul consul;
  auto store = MemoryStore();
  {
    auto lock = PlatformLock::Acquire(consul, *store, Options("alice@h1 pid 11"));
    ASSERT_TRUE(lock.ok());
    EXPECT_TRUE(CurrentHolder(consul, *store, "reference")->has_value());
  }
  EXPECT_EQ(consul.live_sessions(), 0u);
  EXPECT_FALSE(CurrentHolder(consul, *store, "reference")->has_value());
  EXPECT_TRUE(PlatformLock::Acquire(consul, *store, Options("bob@h1 pid 12")).ok());
}

TEST(PlatformLockTest, KeyOfAnExpiredSessionIsFree) {
  FakeConsul consul;
  auto store = MemoryStore();
  // What Consul leaves after a dead holder's session expired: the value, no Session.
  consul.Put("galley/reference/lock", R"({"holder":"dead@h9 pid 1","session":"gone"})", "");
  EXPECT_FALSE(CurrentHolder(consul, *store, "reference")->has_value());
  EXPECT_TRUE(PlatformLock::Acquire(consul, *store, Options("alice@h1 pid 11")).ok());
}

TEST(PlatformLockTest, WaitSucceedsWhenTheHolderReleasesDuringTheWait) {
  FakeConsul consul;
  auto store = MemoryStore();
  auto first = PlatformLock::Acquire(consul, *store, Options("alice@h1 pid 11"));
  ASSERT_TRUE(first.ok());

  auto now = std::chrono::steady_clock::time_point{};
  std::vector<Ms> sleeps;
  LockOptions o = Options("bob@h1 pid 12");
  o.wait = Ms(30000);
  o.poll_interval = Ms(1000);
  ScriptedClock clock;
  o.clock = &clock;
  clock.now = [&] { return now; };
  clock.sleep = [&](Ms d) {
    sleeps.push_back(d);
    now += d;
    if (sleeps.size() == 3) {
      EXPECT_TRUE((*first)->Release().ok());  // the first apply finishes
    }
  };
  auto second = PlatformLock::Acquire(consul, *store, o);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(sleeps, (std::vector<Ms>{Ms(1000), Ms(1000), Ms(1000)}));
  EXPECT_EQ(consul.live_sessions(), 1u);
}

TEST(PlatformLockTest, WaitFailsAfterTheDeadline) {
  FakeConsul consul;
  auto other_host = MemoryStore();
  auto first = PlatformLock::Acquire(consul, *other_host, Options("alice@h2 pid 11"));
  ASSERT_TRUE(first.ok());

  auto store = MemoryStore();
  auto now = std::chrono::steady_clock::time_point{};
  Ms slept{0};
  LockOptions o = Options("bob@h1 pid 12");
  o.wait = Ms(2500);
  o.poll_interval = Ms(1000);
  ScriptedClock clock;
  o.clock = &clock;
  clock.now = [&] { return now; };
  clock.sleep = [&](Ms d) {
    slept += d;
    now += d;
  };
  auto second = PlatformLock::Acquire(consul, *store, o);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kConflict);
  const std::string& msg = second.status().message();
  EXPECT_NE(msg.find("platform 'reference' is locked by alice@h2 pid 11 since "), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("; still locked after waiting 2500ms"), std::string::npos) << msg;
  EXPECT_GE(slept, Ms(2500));
  EXPECT_LE(slept, Ms(2510));
  EXPECT_EQ(consul.live_sessions(), 1u) << "a waiting attempt leaked a session";
  EXPECT_FALSE(store->LeaseHolder("apply:reference")->has_value())
      << "a waiting attempt leaked the lease";
  EXPECT_FALSE((*first)->lost());
}

TEST(PlatformLockTest, RenewalKeepsTheSessionAndTheLease) {
  FakeConsul consul;
  // The store's wall clock is ours: the lease (2×TTL = 2 s) would expire at +2 s unless renewed.
  std::atomic<int64_t> offset_ms{0};
  const auto base = std::chrono::system_clock::now();
  struct Wall : Clock {
    std::function<std::chrono::system_clock::time_point()> now;
    std::chrono::system_clock::time_point WallNow() override { return now(); }
  } wall;
  wall.now = [&] { return base + Ms(offset_ms.load()); };
  store::StoreOptions so;
  so.clock = &wall;
  auto store = MemoryStore(so);
  LockOptions o = Options("alice@h1 pid 11");
  o.ttl_seconds = 1;
  o.renew_interval = Ms(10);
  auto lock = PlatformLock::Acquire(consul, *store, o);
  ASSERT_TRUE(lock.ok());

  offset_ms = 1500;
  int seen = consul.renewals();
  // Two more renewals: the lease write of the first one happened after the clock moved.
  ASSERT_TRUE(Eventually([&] { return consul.renewals() >= seen + 2; }));
  offset_ms = 3000;  // past the first expiry (+2 s), before the renewed one (+3.5 s)
  auto lease = store->LeaseHolder("apply:reference");
  ASSERT_TRUE(lease.ok());
  EXPECT_TRUE(lease->has_value()) << "the lease was not renewed";
  EXPECT_FALSE((*lock)->lost()) << (*lock)->lost_reason();
  EXPECT_EQ((*lock)->lost_reason(), "");
  EXPECT_EQ(consul.live_sessions(), 1u);
}

TEST(PlatformLockTest, SessionGoneMakesTheLockLost) {
  FakeConsul consul;
  auto store = MemoryStore();
  LockOptions o = Options("alice@h1 pid 11");
  o.renew_interval = Ms(10);
  auto lock = PlatformLock::Acquire(consul, *store, o);
  ASSERT_TRUE(lock.ok());
  ASSERT_TRUE(consul.DestroySession((*lock)->session()).ok());  // expired on Consul's side
  ASSERT_TRUE(Eventually([&] { return (*lock)->lost(); }));
  EXPECT_EQ((*lock)->lost_reason(),
            "lock of platform 'reference' lost: Consul session " + (*lock)->session() +
                " no longer exists (it expired, or the lock was broken with "
                "`galley lock break`)");
  EXPECT_TRUE((*lock)->Release().ok()) << "a lost lock's leftovers are not errors";
  EXPECT_FALSE(store->LeaseHolder("apply:reference")->has_value());
  EXPECT_TRUE(PlatformLock::Acquire(consul, *store, Options("bob@h1 pid 12")).ok());
}

TEST(PlatformLockTest, RenewalFailingForATtlMakesTheLockLost) {
  FakeConsul consul;
  auto store = MemoryStore();
  LockOptions o = Options("alice@h1 pid 11");
  o.ttl_seconds = 1;
  o.renew_interval = Ms(10);
  auto lock = PlatformLock::Acquire(consul, *store, o);
  ASSERT_TRUE(lock.ok());
  consul.SetRenewError(
      Status::Unavailable("consul http://c:8500: PUT /v1/session/renew/s1: connection refused"));
  std::this_thread::sleep_for(Ms(300));
  EXPECT_FALSE((*lock)->lost()) << "one failed renewal is not yet a lost lock";
  ASSERT_TRUE(Eventually([&] { return (*lock)->lost(); }));
  EXPECT_EQ((*lock)->lost_reason(),
            "lock of platform 'reference' lost: no renewal succeeded for 1s; last: renewing Consul "
            "session s1: "
            "consul http://c:8500: PUT /v1/session/renew/s1: connection refused");
  consul.SetRenewError(Status::Ok());
  EXPECT_TRUE((*lock)->Release().ok());
}

TEST(PlatformLockTest, FailureToAcquireTheKeyReleasesTheLeaseAndDestroysTheSession) {
  FakeConsul consul;
  auto store = MemoryStore();
  consul.acquire_error =
      Status::Unavailable("consul http://c:8500: PUT /v1/kv/galley/reference/lock: 500");
  auto lock = PlatformLock::Acquire(consul, *store, Options("alice@h1 pid 11"));
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(lock.status().message(),
            "acquiring galley/reference/lock: consul http://c:8500: PUT "
            "/v1/kv/galley/reference/lock: 500");
  EXPECT_EQ(consul.created().size(), 1u);
  EXPECT_EQ(consul.destroys(), 1);
  EXPECT_EQ(consul.live_sessions(), 0u);
  EXPECT_FALSE(store->LeaseHolder("apply:reference")->has_value());

  // Consul answering `false` (someone took it between the read and the acquire): a conflict,
  // and the same clean-up.
  consul.acquire_error = Status::Ok();
  consul.acquire_refuses = true;
  lock = PlatformLock::Acquire(consul, *store, Options("alice@h1 pid 11"));
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.status().code(), StatusCode::kConflict);
  EXPECT_EQ(consul.live_sessions(), 0u);
  EXPECT_FALSE(store->LeaseHolder("apply:reference")->has_value());
}

TEST(PlatformLockTest, ConsulUnreachableIsUnavailableAndReleasesTheLease) {
  FakeConsul consul;
  auto store = MemoryStore();
  consul.get_error = Status::Unavailable(
      "consul http://c:8500: GET /v1/kv/galley/reference/lock: connection refused");
  auto lock = PlatformLock::Acquire(consul, *store, Options("alice@h1 pid 11"));
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(lock.status().message(),
            "reading the lock of platform 'reference': consul http://c:8500: GET "
            "/v1/kv/galley/reference/lock: "
            "connection refused");
  EXPECT_FALSE(store->LeaseHolder("apply:reference")->has_value());
  EXPECT_EQ(consul.created().size(), 0u);

  // Not retried while waiting: only a held lock is waited for.
  LockOptions o = Options("alice@h1 pid 11");
  o.wait = Ms(5000);
  int sleeps = 0;
  ScriptedClock clock;
  clock.sleep = [&](Ms) { ++sleeps; };
  o.clock = &clock;
  EXPECT_EQ(PlatformLock::Acquire(consul, *store, o).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(sleeps, 0);

  consul.get_error = Status::Ok();
  consul.create_error = Status::Unavailable("consul down");
  EXPECT_EQ(PlatformLock::Acquire(consul, *store, Options("alice@h1 pid 11")).status().code(),
            StatusCode::kUnavailable);
  EXPECT_FALSE(store->LeaseHolder("apply:reference")->has_value());
}

TEST(PlatformLockTest, TheLeaseKeepsTwoGalleysOnOneHostApart) {
  // Two stores on one file = two processes on one host. Different Consul fakes, so only the
  // lease can refuse.
  galley::testing::TempRepo dir;
  auto a = store::OpenSqliteStore(dir.Path("state.db"));
  auto b = store::OpenSqliteStore(dir.Path("state.db"));
  ASSERT_TRUE(a.ok() && b.ok());
  FakeConsul consul_a, consul_b;
  auto first = PlatformLock::Acquire(consul_a, **a, Options("alice@h1 pid 11"));
  ASSERT_TRUE(first.ok());
  auto second = PlatformLock::Acquire(consul_b, **b, Options("alice@h1 pid 12"));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kConflict);
  EXPECT_EQ(
      second.status().message().rfind("platform 'reference' is locked by alice@h1 pid 11 [", 0), 0u)
      << second.status().message();
  EXPECT_NE(second.status().message().find("] (state-store lease on this host)"), std::string::npos)
      << second.status().message();
  EXPECT_EQ(consul_b.created().size(), 0u);
  ASSERT_TRUE((*first)->Release().ok());
  EXPECT_TRUE(PlatformLock::Acquire(consul_b, **b, Options("alice@h1 pid 12")).ok());
}

TEST(PlatformLockTest, CurrentHolderAndBreakLock) {
  FakeConsul consul;
  auto store = MemoryStore();
  auto none = CurrentHolder(consul, *store, "reference");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto broke_nothing = BreakLock(consul, *store, "reference");
  ASSERT_TRUE(broke_nothing.ok());
  EXPECT_FALSE(broke_nothing->has_value());

  LockOptions o = Options("alice@h1 pid 11");
  o.renew_interval = Ms(10);
  auto lock = PlatformLock::Acquire(consul, *store, o);
  ASSERT_TRUE(lock.ok());
  auto holder = CurrentHolder(consul, *store, "reference");
  ASSERT_TRUE(holder.ok() && holder->has_value());
  const LockHolder& h = **holder;
  EXPECT_EQ(h.holder, "alice@h1 pid 11");
  EXPECT_EQ(h.pid, static_cast<int>(::getpid()));
  EXPECT_FALSE(h.host.empty());
  EXPECT_FALSE(h.since.empty());
  EXPECT_EQ(h.session, (*lock)->session());
  EXPECT_EQ(h.lease_holder.rfind("alice@h1 pid 11 [", 0), 0u);
  EXPECT_EQ(h.Describe(), "alice@h1 pid 11 since " + h.since + " (session " + h.session + ")");

  // What was shown and confirmed must still be the holder: another holder is left alone.
  LockHolder someone_else = h;
  someone_else.session = "another-session";
  auto refused = BreakLock(consul, *store, "reference", &someone_else);
  EXPECT_EQ(refused.status().code(), StatusCode::kConflict);
  EXPECT_EQ(consul.live_sessions(), 1u);
  auto broken = BreakLock(consul, *store, "reference", &h);
  ASSERT_TRUE(broken.ok()) << broken.status().message();
  ASSERT_TRUE(broken->has_value());
  EXPECT_EQ((*broken)->session, h.session);
  EXPECT_EQ((*broken)->lease_holder, h.lease_holder);
  EXPECT_EQ(consul.live_sessions(), 0u);
  EXPECT_FALSE(CurrentHolder(consul, *store, "reference")->has_value());
  // The holder notices at its next renewal; a new apply may start at once.
  ASSERT_TRUE(Eventually([&] { return (*lock)->lost(); }));
  auto next = PlatformLock::Acquire(consul, *store, Options("bob@h1 pid 12"));
  ASSERT_TRUE(next.ok()) << next.status().message();
  // The broken holder's release touches nothing of the new holder's.
  EXPECT_TRUE((*lock)->Release().ok());
  auto now_held = CurrentHolder(consul, *store, "reference");
  ASSERT_TRUE(now_held.ok() && now_held->has_value());
  EXPECT_EQ((*now_held)->holder, "bob@h1 pid 12");
  EXPECT_EQ((*now_held)->session, (*next)->session());
  EXPECT_FALSE((*now_held)->lease_holder.empty());
}

// A fake steady clock the lock reads through LockOptions::clock: one time for every thread.
struct FakeClock : Clock {
  std::atomic<int64_t> ms{0};
  std::chrono::steady_clock::time_point Now() override {
    return std::chrono::steady_clock::time_point(Ms(ms.load()));
  }
};

TEST(PlatformLockTest, LostAtTheDeadlineEvenWhileARenewalHangs) {
  FakeConsul consul;
  // Renewals hang until released (a Consul or DNS server that never answers).
  std::mutex gate_mu;
  std::condition_variable gate_cv;
  bool open = false;
  std::atomic<int> hung{0};
  consul.before_renew = [&] {
    ++hung;
    std::unique_lock<std::mutex> lk(gate_mu);
    gate_cv.wait(lk, [&] { return open; });
  };
  auto store = MemoryStore();
  FakeClock clock;
  LockOptions o = Options("alice@h1 pid 11");
  o.clock = &clock;
  o.renew_interval = Ms(10);
  auto lock = PlatformLock::Acquire(consul, *store, o);
  ASSERT_TRUE(lock.ok()) << lock.status().message();
  ASSERT_TRUE(Eventually([&] { return hung.load() >= 1; }));
  clock.ms = 14999;
  EXPECT_FALSE((*lock)->lost()) << (*lock)->lost_reason();
  clock.ms = 15000;  // the TTL since the session was created: Consul may have expired it
  EXPECT_TRUE((*lock)->lost());
  EXPECT_EQ((*lock)->lost_reason(),
            "lock of platform 'reference' lost: no renewal succeeded for 15s; the last renewal "
            "request has not returned");
  EXPECT_EQ((*lock)->Confirm().code(), StatusCode::kConflict);
  {
    std::lock_guard<std::mutex> lk(gate_mu);
    open = true;
  }
  gate_cv.notify_all();
  EXPECT_TRUE((*lock)->lost()) << "a late answer does not bring a lost lock back";
  EXPECT_TRUE((*lock)->Release().ok());
}

TEST(PlatformLockTest, TheDeadlineCountsFromTheLastSuccessfulRenewal) {
  FakeConsul consul;
  auto store = MemoryStore();
  FakeClock clock;
  LockOptions o = Options("alice@h1 pid 11");
  o.clock = &clock;
  o.renew_interval = Ms(3600 * 1000);  // no scheduled renewal during the test
  auto lock = PlatformLock::Acquire(consul, *store, o);
  ASSERT_TRUE(lock.ok());
  clock.ms = 10000;
  ASSERT_TRUE((*lock)->Confirm().ok());  // renews: the deadline moves to 25 s
  clock.ms = 24999;
  EXPECT_FALSE((*lock)->lost()) << (*lock)->lost_reason();
  // A renewal that fails for a moment is no error while the deadline has not passed.
  consul.SetRenewError(Status::Unavailable("consul http://c:8500: connection refused"));
  EXPECT_TRUE((*lock)->Confirm().ok());
  clock.ms = 25000;
  EXPECT_TRUE((*lock)->lost());
  EXPECT_EQ((*lock)->lost_reason(),
            "lock of platform 'reference' lost: no renewal succeeded for 15s; last: renewing "
            "Consul session s1: consul http://c:8500: connection refused");
  consul.SetRenewError(Status::Ok());
  EXPECT_TRUE((*lock)->Release().ok());
}

TEST(PlatformLockTest, ConfirmNoticesABrokenLockBeforeTheNextRenewal) {
  FakeConsul consul;
  auto store = MemoryStore();
  LockOptions o = Options("alice@h1 pid 11");
  o.renew_interval = Ms(3600 * 1000);  // the next scheduled renewal is an hour away
  auto lock = PlatformLock::Acquire(consul, *store, o);
  ASSERT_TRUE(lock.ok());
  ASSERT_TRUE((*lock)->Confirm().ok());
  auto broken = BreakLock(consul, *store, "reference");
  ASSERT_TRUE(broken.ok() && broken->has_value());
  EXPECT_EQ(BreakWindowSeconds(**broken), 15);
  Status st = (*lock)->Confirm();
  EXPECT_EQ(st.code(), StatusCode::kConflict);
  EXPECT_NE(st.message().find("no longer exists"), std::string::npos) << st.message();
  EXPECT_TRUE((*lock)->lost());
  EXPECT_TRUE((*lock)->Release().ok());
}

// A pid that no process has: a child that exited and was reaped.
int64_t DeadPid() {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

// What a holder killed with -9 leaves: its lease in this host's store, and the key held by
// its session (which Consul keeps until the TTL runs out).
std::string LeaveDeadHolder(FakeConsul& consul, store::StateStore& store,
                            const ProcessIdentity& p) {
  clients::SessionOptions so;
  std::string session = consul.CreateSession(so).value();
  EXPECT_TRUE(consul
                  .AcquireLock("galley/reference/lock",
                               LockValue("dead@h1 pid " + std::to_string(p.pid), p,
                                         "2026-12-07T12:00:00.000Z", session, 15),
                               session)
                  .value());
  EXPECT_TRUE(store
                  .AcquireLease(
                      "apply:reference",
                      LeaseHolderString("dead@h1 pid " + std::to_string(p.pid), "deadbeef", p), 30)
                  .value());
  return session;
}

TEST(PlatformLockTest, ADeadHolderOnThisHostIsTakenOverAtOnce) {
  FakeConsul consul;
  auto store = MemoryStore();
  ProcessIdentity dead = ThisProcess();
  dead.pid = DeadPid();
  dead.start = 0;
  const std::string pid = std::to_string(dead.pid);
  std::string old_session = LeaveDeadHolder(consul, *store, dead);

  auto lock = PlatformLock::Acquire(consul, *store, Options("alice@h1 pid 11"));
  ASSERT_TRUE(lock.ok()) << lock.status().message();
  ASSERT_EQ((*lock)->taken_over().size(), 2u);
  EXPECT_EQ((*lock)->taken_over()[0],
            "took over the state-store lease of platform 'reference' from dead@h1 pid " + pid +
                " [deadbeef]: process " + pid + " is gone (same host and boot)");
  EXPECT_EQ((*lock)->taken_over()[1],
            "took over the lock of platform 'reference' from dead@h1 pid " + pid +
                " since 2026-12-07T12:00:00.000Z (session " + old_session + "): process " + pid +
                " is gone on this host (same boot); destroyed its session");
  EXPECT_EQ(consul.live_sessions(), 1u) << "the dead holder's session lives on";
  EXPECT_EQ(consul.Entry("galley/reference/lock")->session, (*lock)->session());
  EXPECT_EQ(store->LeaseHolder("apply:reference")->value().rfind("alice@h1 pid 11 [", 0), 0u);

  // A dead holder that used another state file on this host: only its session is left.
  FakeConsul consul2;
  auto mine = MemoryStore(), its = MemoryStore();
  LeaveDeadHolder(consul2, *its, dead);
  auto again = PlatformLock::Acquire(consul2, *mine, Options("alice@h1 pid 11"));
  ASSERT_TRUE(again.ok()) << again.status().message();
  ASSERT_EQ((*again)->taken_over().size(), 1u);
  EXPECT_EQ(
      (*again)->taken_over()[0].rfind("took over the lock of platform 'reference' from dead@h1", 0),
      0u);
}

TEST(PlatformLockTest, OnlyAProvablyDeadHolderIsTakenOver) {
  ProcessIdentity self = ThisProcess();
  ProcessIdentity dead = self;
  dead.pid = DeadPid();
  dead.start = 0;
  std::vector<std::pair<std::string, ProcessIdentity>> cases;
  ProcessIdentity live = self;  // our parent runs
  live.pid = ::getppid();
  live.start = 0;
  cases.push_back({"a live process", live});
  ProcessIdentity p = dead;
  p.host = "elsewhere";
  cases.push_back({"another host", p});
  p = dead;
  p.boot = "00000000-0000-0000-0000-000000000000";
  cases.push_back({"another boot", p});
  p = dead;
  p.pidns = "pid:[1]";
  cases.push_back({"another pid namespace (container)", p});
  p = dead;
  p.boot = p.pidns = "";
  cases.push_back({"an identity not recorded (older galley)", p});
  for (const auto& [what, identity] : cases) {
    for (bool same_store : {true, false}) {  // its lease in our store, or in another one
      SCOPED_TRACE(what + (same_store ? ", lease here" : ", lease elsewhere"));
      FakeConsul consul;
      auto store = MemoryStore(), elsewhere = MemoryStore();
      std::string old_session = LeaveDeadHolder(consul, same_store ? *store : *elsewhere, identity);
      auto lock = PlatformLock::Acquire(consul, *store, Options("alice@h1 pid 11"));
      EXPECT_EQ(lock.status().code(), StatusCode::kConflict) << lock.status().message();
      EXPECT_EQ(consul.Entry("galley/reference/lock")->session, old_session);
      EXPECT_EQ(consul.live_sessions(), 1u);
      if (same_store) {
        EXPECT_EQ(store->LeaseHolder("apply:reference")->value().rfind("dead@h1 pid ", 0), 0u);
      }
    }
  }

  // The key's value names another session than the one holding the key: not galley's record
  // of that holder, so it is left alone (the lease, provably dead, is taken over).
  FakeConsul consul;
  auto other_host = MemoryStore();
  std::string old_session = LeaveDeadHolder(consul, *other_host, dead);
  consul.Put("galley/reference/lock",
             LockValue("dead@h1", dead, "2026-12-07T12:00:00.000Z", "another-session", 15),
             old_session);
  auto store = MemoryStore();
  auto lock = PlatformLock::Acquire(consul, *store, Options("alice@h1 pid 11"));
  EXPECT_EQ(lock.status().code(), StatusCode::kConflict) << lock.status().message();
  EXPECT_EQ(consul.live_sessions(), 1u);
}

TEST(PlatformLockTest, InvalidOptions) {
  FakeConsul consul;
  auto store = MemoryStore();
  EXPECT_EQ(PlatformLock::Acquire(consul, *store, Options("")).status().code(),
            StatusCode::kInvalidArgument);
  LockOptions o = Options("alice");
  o.platform = "";
  EXPECT_EQ(PlatformLock::Acquire(consul, *store, o).status().code(), StatusCode::kInvalidArgument);
  o = Options("alice");
  o.ttl_seconds = 0;
  EXPECT_EQ(PlatformLock::Acquire(consul, *store, o).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(LockKey("reference"), "galley/reference/lock");
  EXPECT_EQ(LeaseName("reference"), "apply:reference");
  EXPECT_EQ(LockHolderName("alice@h1"), "alice@h1 pid " + std::to_string(::getpid()));
}

}  // namespace
}  // namespace galley::engine
