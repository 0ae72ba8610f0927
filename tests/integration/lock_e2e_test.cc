// SPDX-License-Identifier: Apache-2.0
// The platform apply lock against the Consul emulator on loopback, through galley's real
// Consul client: two hosts (two state files) → the second is refused naming the first; a
// holder whose session is destroyed frees the lock at once (LockDelay 0); a holder that
// stops renewing (renewals failing: a partition, or a dead process) loses it when Consul
// expires its session, and a waiting apply then gets it; `galley lock status` and
// `galley lock break --yes` on examples/reference show and release the holder.
#include <chrono>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include "base/process_identity.h"
#include "cli/commands.h"
#include "clients/consul_client.h"
#include "engine/apply_lock.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "sandbox/common/faults.h"
#include "sandbox/consul/consul_emulator.h"
#include "sandbox/marathon/marathon_emulator.h"
#include "store/state_store.h"
#include "support/emulated.h"
#include "support/temp_repo.h"

namespace galley {
namespace {

using json = nlohmann::json;
using Ms = std::chrono::milliseconds;

using galley::testing::EmulatorServer;

template <typename F>
bool Eventually(F cond, Ms limit = Ms(10000)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(Ms(20));
  }
  return cond();
}

class LockE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv("GALLEY_MARATHON_URL");
    ::unsetenv("GALLEY_CONSUL_URL");
    ::unsetenv("CONSUL_HTTP_ADDR");
    ::unsetenv("CONSUL_HTTP_TOKEN");
    sandbox::marathon::MarathonOptions mo;
    marathon_ = std::make_unique<EmulatorServer>(sandbox::marathon::NewMarathonEmulator(
        mo, sandbox::marathon::NewSimulatedRunner({std::chrono::milliseconds(5),
                                                   std::chrono::milliseconds(10),
                                                   std::chrono::milliseconds(5)})));
    sandbox::consul::ConsulOptions co;
    co.session_ttl_min = Ms(1000);  // so a test can use a 1 s TTL (Consul expires it after 2×TTL)
    consul_ = std::make_unique<EmulatorServer>(sandbox::consul::NewConsulEmulator(co));
    consul_client_ =
        clients::NewConsulClient(clients::ConsulEndpoint{consul_->base(), "", ""}, http_.get());
    host_a_ = Open("host-a.db");
    host_b_ = Open("host-b.db");
  }
  void TearDown() override {
    consul_->Faults(json::object());
    marathon_.reset();
    consul_.reset();
  }

  std::unique_ptr<store::StateStore> Open(const std::string& name) {
    auto s = store::OpenSqliteStore(state_.Path(name));
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  static engine::LockOptions Options(const std::string& who) {
    engine::LockOptions o;
    o.platform = "reference";
    o.holder = engine::LockHolderName(who);
    return o;
  }
  // The lock key as Consul has it.
  model::LiveKvEntry Key() {
    auto e = consul_client_->GetKv("galley/reference/lock");
    EXPECT_TRUE(e.ok()) << e.status().message();
    return e.ok() ? *e : model::LiveKvEntry{};
  }

  struct Out {
    int code;
    std::string out, err;
  };
  Out Lock(std::vector<std::string> args) {
    args.insert(args.end(), {galley::testing::SourceRoot() + "/examples/reference", "--marathon",
                             marathon_->base(), "--consul", consul_->base(), "--state",
                             state_.Path("host-a.db")});
    std::ostringstream out, err;
    int code = cli::RunLock(args, out, err);
    return {code, out.str(), err.str()};
  }

  std::unique_ptr<EmulatorServer> marathon_, consul_;
  galley::testing::TempRepo state_;
  std::unique_ptr<net::HttpClient> http_ = net::NewHttpClient();
  std::unique_ptr<clients::ConsulClient> consul_client_;
  std::unique_ptr<store::StateStore> host_a_, host_b_;
};

TEST_F(LockE2eTest, SecondHostIsRefusedNamingTheHolder) {
  auto first = engine::PlatformLock::Acquire(*consul_client_, *host_a_, Options("alice@host-a"));
  ASSERT_TRUE(first.ok()) << first.status().message();
  model::LiveKvEntry key = Key();
  EXPECT_EQ(key.session, (*first)->session());
  json value = json::parse(key.value);
  EXPECT_EQ(value["holder"], engine::LockHolderName("alice@host-a"));
  EXPECT_EQ(value["session"], (*first)->session());

  auto second = engine::PlatformLock::Acquire(*consul_client_, *host_b_, Options("bob@host-b"));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kConflict);
  EXPECT_EQ(second.status().message(), "platform 'reference' is locked by " +
                                           engine::LockHolderName("alice@host-a") + " since " +
                                           value["since"].get<std::string>() + " (session " +
                                           (*first)->session() + ")");

  ASSERT_TRUE((*first)->Release().ok());
  EXPECT_TRUE(Key().session.empty());
  auto third = engine::PlatformLock::Acquire(*consul_client_, *host_b_, Options("bob@host-b"));
  ASSERT_TRUE(third.ok()) << third.status().message();
  EXPECT_EQ(Key().session, (*third)->session());
}

TEST_F(LockE2eTest, DestroyedSessionFreesTheLockAtOnce) {
  engine::LockOptions o = Options("alice@host-a");
  o.renew_interval = Ms(50);
  auto dead = engine::PlatformLock::Acquire(*consul_client_, *host_a_, o);
  ASSERT_TRUE(dead.ok()) << dead.status().message();
  // The holder is gone: its session is destroyed (as Consul does when it invalidates one).
  ASSERT_TRUE(consul_client_->DestroySession((*dead)->session()).ok());
  EXPECT_TRUE(Key().session.empty()) << "behaviour release frees the key";
  // LockDelay 0: no lock-delay, so another host gets it immediately.
  auto next = engine::PlatformLock::Acquire(*consul_client_, *host_b_, Options("bob@host-b"));
  ASSERT_TRUE(next.ok()) << next.status().message();
  ASSERT_TRUE(Eventually([&] { return (*dead)->lost(); }));
  EXPECT_NE((*dead)->lost_reason().find("no longer exists"), std::string::npos)
      << (*dead)->lost_reason();
  EXPECT_TRUE((*dead)->Release().ok());
  EXPECT_EQ(Key().session, (*next)->session())
      << "the dead holder's release took the new holder's lock";
}

TEST_F(LockE2eTest, SessionTtlExpiryFreesTheLockForAWaitingApply) {
  // Renewals never reach Consul (a partitioned or frozen holder).
  consul_->Faults(json::parse(
      R"({"fail_next": 100000, "fail_status": 503, "path_prefix": "/v1/session/renew/"})"));
  engine::LockOptions o = Options("alice@host-a");
  o.ttl_seconds = 1;
  o.renew_interval = Ms(100);
  auto stuck = engine::PlatformLock::Acquire(*consul_client_, *host_a_, o);
  ASSERT_TRUE(stuck.ok()) << stuck.status().message();

  auto refused = engine::PlatformLock::Acquire(*consul_client_, *host_b_, Options("bob@host-b"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kConflict);

  // --lock-timeout: Consul expires the unrenewed session after 2×TTL and releases the key.
  engine::LockOptions w = Options("bob@host-b");
  w.wait = Ms(15000);
  w.poll_interval = Ms(200);
  auto t0 = std::chrono::steady_clock::now();
  auto waited = engine::PlatformLock::Acquire(*consul_client_, *host_b_, w);
  ASSERT_TRUE(waited.ok()) << waited.status().message();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, Ms(10000));
  EXPECT_EQ(Key().session, (*waited)->session());
  // The stuck holder knows it lost the lock (its renewals failed for a whole TTL).
  ASSERT_TRUE(Eventually([&] { return (*stuck)->lost(); }));
  EXPECT_NE((*stuck)->lost_reason().find("lock of platform 'reference' lost: "), std::string::npos);
  EXPECT_TRUE((*stuck)->Release().ok()) << "a lost lock's leftovers are not errors";
  EXPECT_EQ(Key().session, (*waited)->session());
}

TEST_F(LockE2eTest, ADeadHolderOnThisHostIsTakenOverWithoutWaitingForItsTtl) {
  // What `kill -9` leaves: the key held by a session Consul keeps for its TTL (15 s, and up
  // to twice that), and the lease in this host's store.
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  ProcessIdentity dead = ThisProcess();
  dead.pid = child;
  dead.start = 0;
  const std::string holder = "ci@host-a pid " + std::to_string(child);
  clients::SessionOptions so;
  so.name = "galley apply " + holder;
  auto session = consul_client_->CreateSession(so);
  ASSERT_TRUE(session.ok()) << session.status().message();
  ASSERT_TRUE(
      consul_client_
          ->AcquireLock("galley/reference/lock",
                        engine::LockValue(holder, dead, "2026-12-07T12:00:00.000Z", *session, 15),
                        *session)
          .value());
  ASSERT_TRUE(
      host_a_
          ->AcquireLease("apply:reference", engine::LeaseHolderString(holder, "0badf00d", dead), 30)
          .value());

  auto t0 = std::chrono::steady_clock::now();
  auto lock = engine::PlatformLock::Acquire(*consul_client_, *host_a_, Options("alice@host-a"));
  ASSERT_TRUE(lock.ok()) << lock.status().message();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, Ms(3000));
  ASSERT_EQ((*lock)->taken_over().size(), 2u);
  EXPECT_NE(
      (*lock)->taken_over()[1].find("from " + holder + " since 2026-12-07T12:00:00.000Z (session " +
                                    *session + "): process " + std::to_string(child) + " is gone"),
      std::string::npos)
      << (*lock)->taken_over()[1];
  EXPECT_EQ(Key().session, (*lock)->session());
  auto sessions = http_->Send(net::ClientRequest{"GET", consul_->base() + "/v1/session/list"});
  ASSERT_TRUE(sessions.ok());
  EXPECT_EQ(json::parse(sessions->body).size(), 1u)
      << "the dead holder's session was not destroyed";

  // The same leftovers of a holder on another host are left alone.
  ASSERT_TRUE((*lock)->Release().ok());
  ProcessIdentity remote = dead;
  remote.host = "host-b";
  session = consul_client_->CreateSession(so);
  ASSERT_TRUE(
      consul_client_
          ->AcquireLock("galley/reference/lock",
                        engine::LockValue(holder, remote, "2026-12-07T12:00:00.000Z", *session, 15),
                        *session)
          .value());
  auto refused = engine::PlatformLock::Acquire(*consul_client_, *host_a_, Options("alice@host-a"));
  EXPECT_EQ(refused.status().code(), StatusCode::kConflict) << refused.status().message();
  EXPECT_EQ(Key().session, *session);
}

TEST_F(LockE2eTest, WaitGivesUpAtTheDeadline) {
  auto first = engine::PlatformLock::Acquire(*consul_client_, *host_a_, Options("alice@host-a"));
  ASSERT_TRUE(first.ok());
  engine::LockOptions w = Options("bob@host-b");
  w.wait = Ms(600);
  w.poll_interval = Ms(200);
  auto waited = engine::PlatformLock::Acquire(*consul_client_, *host_b_, w);
  ASSERT_FALSE(waited.ok());
  EXPECT_EQ(waited.status().code(), StatusCode::kConflict);
  EXPECT_NE(waited.status().message().find("; still locked after waiting 600ms"), std::string::npos)
      << waited.status().message();
  auto sessions = http_->Send(net::ClientRequest{"GET", consul_->base() + "/v1/session/list"});
  ASSERT_TRUE(sessions.ok());
  EXPECT_EQ(json::parse(sessions->body).size(), 1u)
      << "waiting leaked sessions: " << sessions->body;
}

TEST_F(LockE2eTest, LockStatusAndBreak) {
  Out status = Lock({"status"});
  EXPECT_EQ(status.code, cli::kExitOk) << status.err;
  EXPECT_EQ(status.out, "platform 'reference' is unlocked\n");

  engine::LockOptions o = Options("alice@ci-1");
  o.renew_interval = Ms(50);
  auto held = engine::PlatformLock::Acquire(*consul_client_, *host_a_, o);
  ASSERT_TRUE(held.ok()) << held.status().message();
  const std::string session = (*held)->session();

  status = Lock({"status"});
  EXPECT_EQ(status.code, cli::kExitOk) << status.err;
  EXPECT_EQ(status.out.rfind("platform 'reference' is locked by " +
                                 engine::LockHolderName("alice@ci-1") + " since ",
                             0),
            0u)
      << status.out;
  EXPECT_NE(status.out.find("(session " + session + ")\n"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("  session: " + session + " (key galley/reference/lock)\n"),
            std::string::npos);
  EXPECT_NE(status.out.find("  lease:   " + engine::LockHolderName("alice@ci-1") + " ["),
            std::string::npos)
      << status.out;

  if (!::isatty(STDIN_FILENO)) {
    Out refused = Lock({"break"});
    EXPECT_EQ(refused.code, cli::kExitError);
    EXPECT_EQ(refused.err,
              "galley lock break: stdin is not a terminal; pass --yes to break the lock of "
              "platform 'reference'\n");
    EXPECT_EQ(Key().session, session) << "refused, yet the lock was broken";
  }

  Out broke = Lock({"break", "--yes"});
  EXPECT_EQ(broke.code, cli::kExitOk) << broke.err;
  EXPECT_NE(broke.out.find("broke the lock of platform 'reference' held by " +
                           engine::LockHolderName("alice@ci-1") + "\n  destroyed Consul session " +
                           session +
                           " (the key is released)\n"
                           "  released this host's lease apply:reference\n"),
            std::string::npos)
      << broke.out;
  // How long the old holder may still act: bounded by its lock deadline (its TTL).
  EXPECT_NE(broke.out.find(
                "The old holder stops before its next write (it confirms its session before "
                "every write);\nif it cannot reach Consul it may still act for up to 15 s (its "
                "lock deadline). Writes already sent complete.\n"),
            std::string::npos)
      << broke.out;
  EXPECT_TRUE(Key().session.empty());
  EXPECT_EQ(Lock({"status"}).out, "platform 'reference' is unlocked\n");
  // The old holder's next write is refused at once, before its next renewal.
  EXPECT_EQ((*held)->Confirm().code(), StatusCode::kConflict);
  ASSERT_TRUE(Eventually([&] { return (*held)->lost(); }));
  EXPECT_TRUE((*held)->Release().ok());

  Out nothing = Lock({"break", "--yes"});
  EXPECT_EQ(nothing.code, cli::kExitOk) << nothing.err;
  EXPECT_EQ(nothing.out, "platform 'reference' is not locked; nothing to break\n");
}

TEST_F(LockE2eTest, LockCommandErrors) {
  std::ostringstream out, err;
  EXPECT_EQ(cli::RunLock({}, out, err), cli::kExitError);
  EXPECT_EQ(err.str().rfind("galley lock: which subcommand? (status or break)\n", 0), 0u)
      << err.str();
  err.str("");
  EXPECT_EQ(cli::RunLock({"steal"}, out, err), cli::kExitError);
  EXPECT_EQ(err.str().rfind("galley lock: unknown subcommand 'steal' (status or break)\n", 0), 0u)
      << err.str();
  err.str("");
  EXPECT_EQ(cli::RunLock({"status", "--yes"}, out, err), cli::kExitError);
  EXPECT_EQ(err.str(), "galley lock status: --yes applies to `galley lock break` only\n");
  EXPECT_EQ(cli::RunLock({"--help"}, out, err), cli::kExitOk);
  EXPECT_NE(out.str().find("usage: galley lock status [DIR] [options]"), std::string::npos);

  // Consul unreachable: exit 1, the endpoint named.
  consul_->Faults(json::parse(R"({"fail_next": 100000, "fail_status": 500})"));
  Out down = Lock({"status"});
  EXPECT_EQ(down.code, cli::kExitError);
  EXPECT_EQ(down.err.rfind("galley lock status: reading the lock of platform 'reference': consul " +
                               consul_->base(),
                           0),
            0u)
      << down.err;
}

}  // namespace
}  // namespace galley
