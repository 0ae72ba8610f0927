// SPDX-License-Identifier: Apache-2.0
// The Consul emulator in-process behind net::HttpServer on a loopback port, driven over
// HTTP with net::HttpClient: KV, blocking queries, txn, sessions and locks, registration
// with really executed checks, ACLs, errors and Snapshot/Restore.
#include "sandbox/consul/consul_emulator.h"

#include <atomic>
#include <chrono>
#include <future>
#include <set>
#include <thread>
#include <tuple>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "net/http_client.h"
#include "net/http_server.h"
#include "sandbox/consul/codec.h"
#include "support/temp_repo.h"

namespace galley::sandbox::consul {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

ConsulOptions FastOptions() {
  ConsulOptions o;
  o.node_name = "sandbox";
  o.session_ttl_min = milliseconds(100);
  o.check_min_interval = milliseconds(50);
  o.deregister_critical_min = milliseconds(100);
  o.check_workers = 2;
  return o;
}

class Consul {
 public:
  explicit Consul(ConsulOptions o = FastOptions()) {
    emu_ = NewConsulEmulator(o);
    auto s = net::HttpServer::Start(net::HttpServerOptions{},
                                    [this](const net::HttpRequest& r) { return emu_->Handle(r); });
    EXPECT_TRUE(s.ok()) << s.status().message();
    server_ = std::move(s).value();
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
    client_ = net::NewHttpClient();
  }
  ~Consul() {
    emu_->Stop();
    server_->Stop();
  }
  Emulator& emu() { return *emu_; }

  net::ClientResponse Call(const std::string& method, const std::string& target,
                           const std::string& body = "", net::Headers headers = {},
                           milliseconds timeout = milliseconds(10000)) {
    net::ClientRequest req;
    req.method = method;
    req.url = base_ + target;
    req.body = body;
    req.headers = std::move(headers);
    req.timeout = timeout;
    auto r = client_->Send(req);
    EXPECT_TRUE(r.ok()) << method << " " << target << ": " << r.status().message();
    return r.ok() ? *r : net::ClientResponse{};
  }
  net::ClientResponse Get(const std::string& t) { return Call("GET", t); }
  net::ClientResponse Put(const std::string& t, const std::string& body = "") {
    return Call("PUT", t, body);
  }

 private:
  std::unique_ptr<Emulator> emu_;
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<net::HttpClient> client_;
  std::string base_;
};

json J(const net::ClientResponse& r) { return json::parse(r.body, nullptr, false); }
uint64_t Index(const net::ClientResponse& r) { return std::stoull(r.Header("X-Consul-Index")); }

// Polls `pred` every 20 ms until it holds or `limit` passes.
template <typename Pred>
bool Eventually(Pred pred, milliseconds limit = milliseconds(5000)) {
  auto end = SteadyClock::now() + limit;
  while (SteadyClock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return pred();
}

std::string Sample(const std::string& name) {
  return testing::ReadText(testing::SourceRoot() + "/tests/sandbox/consul/samples/" + name);
}

// ---- KV -------------------------------------------------------------------------------------

TEST(ConsulKvTest, PutGetFlagsRawAndHeaders) {
  Consul c;
  auto put = c.Put("/v1/kv/app/config?flags=42", "hello");
  EXPECT_EQ(put.status, 200);
  EXPECT_EQ(put.body, "true");
  auto get = c.Get("/v1/kv/app/config");
  ASSERT_EQ(get.status, 200);
  EXPECT_EQ(get.Header("Content-Type"), "application/json");
  EXPECT_EQ(get.Header("X-Consul-KnownLeader"), "true");
  EXPECT_EQ(get.Header("X-Consul-LastContact"), "0");
  json j = J(get);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["Key"], "app/config");
  EXPECT_EQ(j[0]["Value"], "aGVsbG8=");
  EXPECT_EQ(j[0]["Flags"], 42);
  EXPECT_EQ(j[0]["LockIndex"], 0);
  EXPECT_FALSE(j[0].contains("Session"));
  EXPECT_EQ(j[0]["CreateIndex"], j[0]["ModifyIndex"]);
  EXPECT_EQ(Index(get), j[0]["ModifyIndex"].get<uint64_t>());

  auto raw = c.Get("/v1/kv/app/config?raw");
  EXPECT_EQ(raw.status, 200);
  EXPECT_EQ(raw.body, "hello");
  EXPECT_EQ(raw.Header("Content-Type"), "text/plain");

  EXPECT_EQ(c.Put("/v1/kv/empty").body, "true");
  EXPECT_TRUE(J(c.Get("/v1/kv/empty"))[0]["Value"].is_null());

  // Percent-encoded keys are decoded; one leading slash is dropped.
  EXPECT_EQ(c.Put("/v1/kv//a%20b%3Fc", "x").body, "true");
  EXPECT_EQ(J(c.Get("/v1/kv/a%20b%3Fc"))[0]["Key"], "a b?c");

  auto missing = c.Get("/v1/kv/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, "");
  EXPECT_GE(Index(missing), 1u);
  EXPECT_EQ(c.Put("/v1/kv/", "x").status, 400);
  EXPECT_EQ(c.Put("/v1/kv/", "x").body, "Missing key name");
  EXPECT_EQ(c.Put("/v1/kv/k?flags=x").status, 500);
}

TEST(ConsulKvTest, IndexesGrowAndCasGuardsWrites) {
  Consul c;
  c.Put("/v1/kv/a", "1");
  json a1 = J(c.Get("/v1/kv/a"))[0];
  c.Put("/v1/kv/b", "1");
  json b1 = J(c.Get("/v1/kv/b"))[0];
  EXPECT_GT(b1["ModifyIndex"].get<uint64_t>(), a1["ModifyIndex"].get<uint64_t>());
  c.Put("/v1/kv/a", "2");
  json a2 = J(c.Get("/v1/kv/a"))[0];
  EXPECT_EQ(a2["CreateIndex"], a1["CreateIndex"]);
  EXPECT_GT(a2["ModifyIndex"].get<uint64_t>(), b1["ModifyIndex"].get<uint64_t>());

  uint64_t mi = a2["ModifyIndex"];
  EXPECT_EQ(c.Put("/v1/kv/a?cas=0", "x").body, "false");   // exists
  EXPECT_EQ(c.Put("/v1/kv/new?cas=0", "x").body, "true");  // create-only
  EXPECT_EQ(c.Put("/v1/kv/a?cas=" + std::to_string(mi - 1), "x").body, "false");
  EXPECT_EQ(J(c.Get("/v1/kv/a"))[0]["Value"], "Mg==");  // untouched by the failed cas
  EXPECT_EQ(c.Put("/v1/kv/a?cas=" + std::to_string(mi), "3").body, "true");
  EXPECT_EQ(J(c.Get("/v1/kv/a"))[0]["Value"], "Mw==");
  EXPECT_EQ(c.Put("/v1/kv/a?cas=1&acquire=x").status, 400);  // conflicting flags
}

TEST(ConsulKvTest, RecurseKeysSeparatorAndDelete) {
  Consul c;
  c.Put("/v1/kv/web/");
  c.Put("/v1/kv/web/foo", "foo");
  c.Put("/v1/kv/web/bar", "bar");
  c.Put("/v1/kv/web/subdir/x", "x");
  c.Put("/v1/kv/webber", "no");
  auto rec = c.Get("/v1/kv/web/?recurse");
  json j = J(rec);
  ASSERT_EQ(j.size(), 4u);
  std::vector<std::string> keys;
  uint64_t max_index = 0;
  for (const auto& e : j) {
    keys.push_back(e["Key"]);
    max_index = std::max<uint64_t>(max_index, e["ModifyIndex"]);
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"web/", "web/bar", "web/foo", "web/subdir/x"}));
  EXPECT_TRUE(j[0]["Value"].is_null());
  EXPECT_EQ(Index(rec), max_index);

  auto ks = c.Get("/v1/kv/web/?keys&separator=%2F");
  EXPECT_EQ(J(ks), json::parse(Sample("kv-keys.json")));
  EXPECT_EQ(J(c.Get("/v1/kv/web?keys")).size(), 5u);
  EXPECT_EQ(c.Get("/v1/kv/nothing/?keys").status, 404);
  EXPECT_EQ(c.Get("/v1/kv/nothing/?recurse").status, 404);

  auto foo = J(c.Get("/v1/kv/web/foo"))[0];
  EXPECT_EQ(c.Call("DELETE",
                   "/v1/kv/web/foo?cas=" + std::to_string(foo["ModifyIndex"].get<uint64_t>() + 7))
                .body,
            "false");
  EXPECT_EQ(
      c.Call("DELETE", "/v1/kv/web/foo?cas=" + std::to_string(foo["ModifyIndex"].get<uint64_t>()))
          .body,
      "true");
  EXPECT_EQ(c.Get("/v1/kv/web/foo").status, 404);
  EXPECT_EQ(c.Call("DELETE", "/v1/kv/web/missing").body, "true");  // idempotent
  uint64_t before = Index(c.Get("/v1/kv/web/?recurse"));
  EXPECT_EQ(c.Call("DELETE", "/v1/kv/web/?recurse").body, "true");
  auto gone = c.Get("/v1/kv/web/?recurse");
  EXPECT_EQ(gone.status, 404);
  EXPECT_GT(Index(gone), before);  // the tombstone moves the prefix index forward
  EXPECT_EQ(c.Get("/v1/kv/webber").status, 200);
  EXPECT_EQ(c.Call("DELETE", "/v1/kv/x?recurse&cas=1").status, 400);
}

// ---- Blocking queries ------------------------------------------------------------------------

TEST(ConsulBlockingTest, WriteWakesWaiterEarly) {
  Consul c;
  c.Put("/v1/kv/app/v", "1");
  uint64_t idx = Index(c.Get("/v1/kv/app/v"));
  auto start = SteadyClock::now();
  auto waiter = std::async(std::launch::async, [&] {
    return c.Call("GET", "/v1/kv/app/v?index=" + std::to_string(idx) + "&wait=5s");
  });
  std::this_thread::sleep_for(milliseconds(150));
  c.Put("/v1/kv/other", "unrelated");  // the key's index does not move: keeps waiting
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(waiter.wait_for(milliseconds(0)), std::future_status::timeout);
  c.Put("/v1/kv/app/v", "2");
  auto resp = waiter.get();
  auto took = SteadyClock::now() - start;
  EXPECT_LT(took, milliseconds(2000));
  EXPECT_EQ(resp.status, 200);
  EXPECT_GT(Index(resp), idx);
  EXPECT_EQ(J(resp)[0]["Value"], "Mg==");
}

TEST(ConsulBlockingTest, TimesOutAtWaitWithSameIndex) {
  Consul c;
  c.Put("/v1/kv/k", "1");
  uint64_t idx = Index(c.Get("/v1/kv/k"));
  auto start = SteadyClock::now();
  auto resp = c.Get("/v1/kv/k?index=" + std::to_string(idx) + "&wait=300ms");
  auto took = SteadyClock::now() - start;
  EXPECT_GE(took, milliseconds(290));
  EXPECT_LT(took, milliseconds(1500));
  EXPECT_EQ(Index(resp), idx);
  // A missing key blocks too and answers 404 with the index.
  auto missing =
      c.Get("/v1/kv/none?index=" + std::to_string(Index(c.Get("/v1/kv/none"))) + "&wait=100ms");
  EXPECT_EQ(missing.status, 404);
  EXPECT_FALSE(missing.Header("X-Consul-Index").empty());
  EXPECT_EQ(c.Get("/v1/kv/k?index=1&wait=abc").status, 400);
  EXPECT_EQ(c.Get("/v1/kv/k?index=abc").status, 400);
}

TEST(ConsulBlockingTest, PrefixWakesOnDeleteAndStopWakesEveryone) {
  Consul c;
  c.Put("/v1/kv/p/a", "1");
  c.Put("/v1/kv/p/b", "1");
  uint64_t idx = Index(c.Get("/v1/kv/p/?recurse"));
  auto waiter = std::async(std::launch::async, [&] {
    return c.Call("GET", "/v1/kv/p/?recurse&index=" + std::to_string(idx) + "&wait=5s");
  });
  std::this_thread::sleep_for(milliseconds(100));
  c.Call("DELETE", "/v1/kv/p/a");
  auto resp = waiter.get();
  EXPECT_GT(Index(resp), idx);
  EXPECT_EQ(J(resp).size(), 1u);

  uint64_t now = Index(c.Get("/v1/kv/p/?recurse"));
  auto start = SteadyClock::now();
  auto stuck = std::async(std::launch::async, [&] {
    return c.Call("GET", "/v1/kv/p/?recurse&index=" + std::to_string(now) + "&wait=10m", "", {},
                  milliseconds(20000));
  });
  std::this_thread::sleep_for(milliseconds(100));
  c.emu().Stop();
  stuck.get();
  EXPECT_LT(SteadyClock::now() - start, milliseconds(2000));
}

// ---- Txn ------------------------------------------------------------------------------------

TEST(ConsulTxnTest, CommitsAtomicallyWithResults) {
  Consul c;
  c.Put("/v1/kv/app/config", "old");
  c.Put("/v1/kv/app/version", "1.2.3");
  c.Put("/v1/kv/app/old", "x");
  uint64_t mi = J(c.Get("/v1/kv/app/config"))[0]["ModifyIndex"];
  json req = json::parse(Sample("txn-request.json"));
  req[0]["KV"]["Index"] = mi;
  auto resp = c.Put("/v1/txn", req.dump());
  ASSERT_EQ(resp.status, 200) << resp.body;
  json j = J(resp);
  EXPECT_TRUE(j["Errors"].is_null());
  ASSERT_EQ(j["Results"].size(), 3u);  // check-index, set, get; delete adds none
  EXPECT_EQ(j["Results"][0]["KV"]["ModifyIndex"], mi);
  EXPECT_TRUE(j["Results"][1]["KV"]["Value"].is_null());
  EXPECT_EQ(j["Results"][2]["KV"]["Value"], "MS4yLjM=");
  uint64_t txn_index = j["Results"][1]["KV"]["ModifyIndex"];
  EXPECT_GT(txn_index, mi);
  auto cfg = J(c.Get("/v1/kv/app/config"))[0];
  EXPECT_EQ(cfg["Value"], "bmV3LXZhbHVl");
  EXPECT_EQ(cfg["ModifyIndex"], txn_index);
  EXPECT_EQ(c.Get("/v1/kv/app/old").status, 404);
  // A read-only transaction answers with the leader headers and no index.
  auto ro = c.Put("/v1/txn", R"([{"KV":{"Verb":"get-tree","Key":"app/"}}])");
  EXPECT_EQ(ro.status, 200);
  EXPECT_EQ(J(ro)["Results"].size(), 2u);
  EXPECT_EQ(ro.Header("X-Consul-KnownLeader"), "true");
  EXPECT_TRUE(ro.Header("X-Consul-Index").empty());
}

TEST(ConsulTxnTest, ConflictRollsEverythingBack) {
  Consul c;
  c.Put("/v1/kv/app/config", "old");
  auto before = J(c.Get("/v1/kv/app/config"))[0];
  uint64_t mi = before["ModifyIndex"];
  json req = json::array({
      {{"KV", {{"Verb", "set"}, {"Key", "app/new"}, {"Value", "eA=="}}}},
      {{"KV", {{"Verb", "delete"}, {"Key", "app/config"}}}},
      {{"KV", {{"Verb", "check-index"}, {"Key", "app/config2"}, {"Index", 1}}}},
      {{"KV", {{"Verb", "cas"}, {"Key", "app/config"}, {"Value", "eQ=="}, {"Index", mi}}}},
  });
  auto resp = c.Put("/v1/txn", req.dump());
  ASSERT_EQ(resp.status, 409) << resp.body;
  EXPECT_EQ(resp.Header("Content-Type"), "application/json");
  json j = J(resp);
  EXPECT_TRUE(j["Results"].is_null());
  ASSERT_EQ(j["Errors"].size(), 2u);  // every failing op is reported
  EXPECT_EQ(j["Errors"][0]["OpIndex"], 2);
  EXPECT_EQ(j["Errors"][0]["What"], "failed to check index, key \"app/config2\" doesn't exist");
  EXPECT_EQ(j["Errors"][1]["OpIndex"], 3);  // the delete before it made the cas fail
  EXPECT_EQ(c.Get("/v1/kv/app/new").status, 404);
  EXPECT_EQ(J(c.Get("/v1/kv/app/config"))[0], before);

  // The sample conflict: check-index on a stale index.
  auto stale = c.Put(
      "/v1/txn",
      json::array({{{"KV", {{"Verb", "check-index"}, {"Key", "app/config"}, {"Index", mi + 1}}}}})
          .dump());
  EXPECT_EQ(stale.status, 409);
  EXPECT_NE(J(stale)["Errors"][0]["What"].get<std::string>().find(
                "current modify index " + std::to_string(mi) + " != " + std::to_string(mi + 1)),
            std::string::npos);

  json many = json::array();
  for (int i = 0; i < 129; ++i) many.push_back({{"KV", {{"Verb", "get"}, {"Key", "k"}}}});
  auto big = c.Put("/v1/txn", many.dump());
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(big.body, "Transaction contains too many operations (129 > 128)");
  EXPECT_EQ(c.Put("/v1/txn", "{").status, 400);
  EXPECT_EQ(c.Put("/v1/txn", R"([{"KV":{"Verb":"set","Key":"k","Value":"***"}}])").status, 400);
  EXPECT_EQ(c.Call("POST", "/v1/txn", "[]").status, 405);
}

// ---- Sessions and locks ----------------------------------------------------------------------

std::string CreateSession(Consul& c, const json& body) {
  auto r = c.Put("/v1/session/create", body.is_null() ? "" : body.dump());
  EXPECT_EQ(r.status, 200) << r.body;
  return J(r).value("ID", "");
}

TEST(ConsulSessionTest, LocksAcquireReleaseAndSessionReads) {
  Consul c;
  std::string s1 = CreateSession(c, nullptr);
  std::string s2 = CreateSession(c, {{"Name", "two"}, {"LockDelay", "0s"}});
  ASSERT_EQ(s1.size(), 36u);
  json info = J(c.Get("/v1/session/info/" + s1));
  ASSERT_EQ(info.size(), 1u);
  EXPECT_EQ(info[0]["Node"], "sandbox");
  EXPECT_EQ(info[0]["LockDelay"], 15000000000LL);
  EXPECT_EQ(info[0]["Behavior"], "release");
  EXPECT_EQ(info[0]["NodeChecks"], json::array({"serfHealth"}));
  EXPECT_EQ(J(c.Get("/v1/session/info/" + s2))[0]["LockDelay"], 0);

  EXPECT_EQ(c.Put("/v1/kv/lock?acquire=" + s1, "me").body, "true");
  EXPECT_EQ(c.Put("/v1/kv/lock?acquire=" + s2, "you").body, "false");
  EXPECT_EQ(c.Put("/v1/kv/lock?acquire=" + s1, "me again").body, "true");
  json e = J(c.Get("/v1/kv/lock"))[0];
  EXPECT_EQ(e["Session"], s1);
  EXPECT_EQ(e["LockIndex"], 1);
  EXPECT_EQ(c.Put("/v1/kv/lock?release=" + s2).body, "false");
  EXPECT_EQ(c.Put("/v1/kv/lock?release=" + s1, "free").body, "true");
  e = J(c.Get("/v1/kv/lock"))[0];
  EXPECT_FALSE(e.contains("Session"));
  EXPECT_EQ(e["LockIndex"], 1);
  EXPECT_EQ(c.Put("/v1/kv/lock?acquire=" + s2).body,
            "true");  // explicit release sets no lock-delay
  EXPECT_EQ(J(c.Get("/v1/kv/lock"))[0]["LockIndex"], 2);
  auto bad = c.Put("/v1/kv/other?acquire=00000000-0000-0000-0000-000000000000");
  EXPECT_EQ(bad.status, 500);
  EXPECT_EQ(bad.body, "invalid session \"00000000-0000-0000-0000-000000000000\"");

  EXPECT_EQ(J(c.Get("/v1/session/list")).size(), 2u);
  EXPECT_EQ(J(c.Get("/v1/session/node/sandbox")).size(), 2u);
  EXPECT_EQ(J(c.Get("/v1/session/node/other")), json::array());
  auto renew = c.Put("/v1/session/renew/" + s1);
  EXPECT_EQ(renew.status, 200);
  EXPECT_EQ(J(renew)[0]["ID"], s1);
  auto unknown = c.Put("/v1/session/renew/nope");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.body, "Session id 'nope' not found");
  EXPECT_EQ(c.Put("/v1/session/destroy/" + s2).body, "true");
  EXPECT_EQ(J(c.Get("/v1/session/info/" + s2)), json::array());
  EXPECT_FALSE(J(c.Get("/v1/kv/lock"))[0].contains("Session"));  // destroy released the lock
  EXPECT_EQ(c.Put("/v1/session/destroy/" + s2).body, "true");    // idempotent

  EXPECT_EQ(c.Put("/v1/session/create", R"({"Behavior":"bogus"})").status, 500);
  auto ttl = c.Put("/v1/session/create", R"({"TTL":"50ms"})");
  EXPECT_EQ(ttl.status, 500);
  EXPECT_EQ(ttl.body, "Invalid Session TTL '50000000', must be between [100ms=24h0m0s]");
  EXPECT_EQ(c.Put("/v1/session/create", R"({"Node":"ghost"})").body, "Missing node registration");
  EXPECT_EQ(c.Put("/v1/session/create", Sample("session-create-request.json")).body,
            "Missing node registration");
}

TEST(ConsulSessionTest, TtlExpiryReleasesLockAndHonoursLockDelay) {
  Consul c;
  std::string s1 = CreateSession(c, {{"TTL", "300ms"}, {"LockDelay", "400ms"}});
  std::string s2 = CreateSession(c, {{"LockDelay", "0s"}});
  ASSERT_EQ(c.Put("/v1/kv/galley/lock?acquire=" + s1, "holder").body, "true");
  uint64_t idx = Index(c.Get("/v1/kv/galley/lock"));
  // A blocking reader of the lock key is woken by the invalidation (ModifyIndex bumps).
  auto start = SteadyClock::now();
  auto resp = c.Get("/v1/kv/galley/lock?index=" + std::to_string(idx) + "&wait=5s");
  auto took = SteadyClock::now() - start;
  EXPECT_GE(took, milliseconds(250));   // not before the TTL
  EXPECT_LT(took, milliseconds(2000));  // at most 2 x TTL plus slack
  json e = J(resp)[0];
  EXPECT_FALSE(e.contains("Session"));
  EXPECT_EQ(e["Value"], "aG9sZGVy");  // release keeps the value
  EXPECT_EQ(J(c.Get("/v1/session/info/" + s1)), json::array());
  EXPECT_EQ(c.Put("/v1/session/renew/" + s1).status, 404);
  // Lock-delay: no one may acquire for 400 ms after the invalidation.
  EXPECT_EQ(c.Put("/v1/kv/galley/lock?acquire=" + s2).body, "false");
  auto txn = c.Put(
      "/v1/txn",
      json::array({{{"KV", {{"Verb", "lock"}, {"Key", "galley/lock"}, {"Session", s2}}}}}).dump());
  EXPECT_EQ(txn.status, 409);
  EXPECT_EQ(J(txn)["Errors"][0]["What"], "failed to lock key \"galley/lock\" due to lock delay");
  EXPECT_EQ(c.Put("/v1/kv/galley/lock", "plain writes are fine").body, "true");
  EXPECT_TRUE(Eventually([&] { return c.Put("/v1/kv/galley/lock?acquire=" + s2).body == "true"; },
                         milliseconds(2000)));

  // Renewing keeps a session alive past its TTL.
  std::string s3 = CreateSession(c, {{"TTL", "300ms"}});  // expires 600 ms after a renew
  for (int i = 0; i < 6; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
    ASSERT_EQ(c.Put("/v1/session/renew/" + s3).status, 200) << "renew " << i;
  }
}

TEST(ConsulSessionTest, DeleteBehaviourDeletesHeldKeys) {
  Consul c;
  std::string s = CreateSession(c, {{"Behavior", "delete"}, {"LockDelay", 0}});
  ASSERT_EQ(c.Put("/v1/kv/eph/a?acquire=" + s, "x").body, "true");
  c.Put("/v1/kv/eph/b", "y");
  c.Put("/v1/session/destroy/" + s);
  EXPECT_EQ(c.Get("/v1/kv/eph/a").status, 404);
  EXPECT_EQ(c.Get("/v1/kv/eph/b").status, 200);
}

// ---- Services, catalog, health and real checks ------------------------------------------------

class CheckTarget {
 public:
  CheckTarget() {
    auto s = net::HttpServer::Start(net::HttpServerOptions{}, [this](const net::HttpRequest& r) {
      hits_++;
      agent_ = r.Header("User-Agent");
      return net::HttpResponse::Text(status_.load(), "status " + std::to_string(status_.load()));
    });
    server_ = std::move(s).value();
  }
  ~CheckTarget() { server_->Stop(); }
  uint16_t port() const { return server_->port(); }
  void Set(int status) { status_ = status; }
  int hits() const { return hits_; }

 private:
  std::atomic<int> status_{200};
  std::atomic<int> hits_{0};
  std::string agent_;
  std::unique_ptr<net::HttpServer> server_;
};

json HealthChecksOf(Consul& c, const std::string& svc) {
  return J(c.Get("/v1/health/checks/" + svc));
}

TEST(ConsulServiceTest, RegisterFeedsCatalogAndHealthWithRealHttpChecks) {
  CheckTarget target;
  Consul c;
  std::string url = "http://127.0.0.1:" + std::to_string(target.port()) + "/healthcheck";
  // Lower-case keys, no Content-Type: what python-consul 0.7.1 sends.
  json body = {{"name", "web"},
               {"id", "web1"},
               {"address", "10.0.0.1"},
               {"port", 80},
               {"tags", {"production", "internal-listen-http-3000"}},
               {"check", {{"http", url}, {"interval", "100ms"}, {"timeout", "1s"}}}};
  auto reg = c.Put("/v1/agent/service/register", body.dump());
  ASSERT_EQ(reg.status, 200) << reg.body;
  EXPECT_EQ(reg.body, "");

  json services = J(c.Get("/v1/agent/services"));
  ASSERT_TRUE(services.contains("web1"));
  EXPECT_EQ(services["web1"]["Service"], "web");
  EXPECT_EQ(services["web1"]["Port"], 80);
  EXPECT_FALSE(services.contains("consul"));

  json catalog = J(c.Get("/v1/catalog/services"));
  EXPECT_EQ(catalog["web"], json::array({"internal-listen-http-3000", "production"}));
  EXPECT_EQ(catalog["consul"], json::array());
  auto tagged = J(c.Get("/v1/catalog/service/web?tag=PRODUCTION"));
  ASSERT_EQ(tagged.size(), 1u);
  EXPECT_EQ(tagged[0]["ServiceAddress"], "10.0.0.1");
  EXPECT_EQ(tagged[0]["Node"], "sandbox");
  EXPECT_EQ(J(c.Get("/v1/catalog/service/web?tag=staging")), json::array());
  EXPECT_EQ(J(c.Get("/v1/catalog/service/nope")), json::array());

  // The check really runs: passing once the target answers 200.
  ASSERT_TRUE(Eventually([&] { return J(c.Get("/v1/health/service/web?passing")).size() == 1; }))
      << HealthChecksOf(c, "web").dump();
  json entry = J(c.Get("/v1/health/service/web?passing=1&tag=production"))[0];
  EXPECT_EQ(entry["Service"]["ID"], "web1");
  ASSERT_EQ(entry["Checks"].size(), 2u);
  EXPECT_EQ(entry["Checks"][0]["CheckID"], "serfHealth");
  EXPECT_EQ(entry["Checks"][1]["CheckID"], "service:web1");
  EXPECT_EQ(entry["Checks"][1]["Type"], "http");
  EXPECT_EQ(entry["Checks"][1]["ServiceTags"],
            json::array({"production", "internal-listen-http-3000"}));
  EXPECT_EQ(entry["Checks"][1]["Output"], "HTTP GET " + url + ": 200 OK Output: status 200");
  EXPECT_GT(target.hits(), 0);

  uint64_t idx = Index(c.Get("/v1/health/service/web"));
  target.Set(500);
  // A blocking health query wakes when the status flips.
  auto flipped = c.Get("/v1/health/service/web?index=" + std::to_string(idx) + "&wait=5s");
  EXPECT_GT(Index(flipped), idx);
  EXPECT_EQ(J(flipped)[0]["Checks"][1]["Status"], "critical");
  EXPECT_EQ(J(c.Get("/v1/health/service/web?passing")), json::array());
  EXPECT_EQ(J(c.Get("/v1/health/service/web?passing=false")).size(), 1u);
  EXPECT_EQ(c.Get("/v1/health/service/web?passing=maybe").status, 400);
  json checks = HealthChecksOf(c, "web");
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_NE(checks[0]["Output"].get<std::string>().find("500 Internal Server Error"),
            std::string::npos);

  target.Set(429);
  EXPECT_TRUE(Eventually([&] { return HealthChecksOf(c, "web")[0]["Status"] == "warning"; }));
  target.Set(200);
  EXPECT_TRUE(Eventually([&] { return HealthChecksOf(c, "web")[0]["Status"] == "passing"; }));

  // python-consul deregisters with GET.
  EXPECT_EQ(c.Get("/v1/agent/service/deregister/web1").status, 200);
  EXPECT_EQ(J(c.Get("/v1/agent/services")), json::object());
  EXPECT_EQ(J(c.Get("/v1/health/service/web")), json::array());
  EXPECT_EQ(HealthChecksOf(c, "web"), json::array());
  EXPECT_EQ(c.Put("/v1/agent/service/deregister/web1").status, 404);
}

TEST(ConsulServiceTest, TcpAndTtlChecks) {
  CheckTarget target;
  Consul c;
  json tcp = {{"Name", "db"},
              {"Checks",
               {{{"TCP", "127.0.0.1:" + std::to_string(target.port())}, {"Interval", "100ms"}},
                {{"TCP", "127.0.0.1:1"}, {"Interval", "100ms"}, {"Timeout", "500ms"}}}}};
  ASSERT_EQ(c.Put("/v1/agent/service/register", tcp.dump()).status, 200);
  ASSERT_TRUE(Eventually([&] {
    json ch = HealthChecksOf(c, "db");
    return ch.size() == 2 && ch[0]["Output"] != "" && ch[1]["Output"] != "";
  }));
  json ch = HealthChecksOf(c, "db");
  EXPECT_EQ(ch[0]["CheckID"], "service:db:1");
  EXPECT_EQ(ch[0]["Status"], "passing");
  EXPECT_EQ(ch[0]["Output"],
            "TCP connect 127.0.0.1:" + std::to_string(target.port()) + ": Success");
  EXPECT_EQ(ch[1]["Status"], "critical");
  EXPECT_NE(ch[1]["Output"].get<std::string>().find("connection refused"), std::string::npos);

  ASSERT_EQ(
      c.Put("/v1/agent/service/register", R"({"Name":"worker","Check":{"TTL":"300ms"}})").status,
      200);
  EXPECT_EQ(HealthChecksOf(c, "worker")[0]["Status"], "critical");  // new checks start critical
  EXPECT_EQ(c.Get("/v1/agent/check/pass/service:worker?note=alive").status, 200);
  json w = HealthChecksOf(c, "worker")[0];
  EXPECT_EQ(w["Status"], "passing");
  EXPECT_EQ(w["Output"], "alive");
  EXPECT_TRUE(Eventually([&] { return HealthChecksOf(c, "worker")[0]["Status"] == "critical"; },
                         milliseconds(2000)));
  EXPECT_EQ(HealthChecksOf(c, "worker")[0]["Output"],
            "TTL expired (last output before timeout follows): alive");
  EXPECT_EQ(c.Put("/v1/agent/check/warn/service:worker").status, 200);
  EXPECT_EQ(HealthChecksOf(c, "worker")[0]["Status"], "warning");
  EXPECT_EQ(c.Put("/v1/agent/check/pass/nope").status, 404);
  EXPECT_EQ(c.Put("/v1/agent/check/pass/service:db:1").status, 500);  // not a TTL check

  auto bad = c.Put("/v1/agent/service/register", R"({"Name":"x","Check":{"HTTP":"http://x/"}})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body,
            "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP or UDP checks");
  EXPECT_EQ(c.Put("/v1/agent/service/register", R"({"port":1})").body, "Missing service name");
  EXPECT_EQ(c.Put("/v1/agent/service/register", "{nope").status, 400);
}

TEST(ConsulServiceTest, CatalogRegisterSampleAndSessionsTiedToChecks) {
  Consul c;
  auto reg = c.Put("/v1/catalog/register", Sample("catalog-register-request.json"));
  ASSERT_EQ(reg.status, 200) << reg.body;
  EXPECT_EQ(reg.body, "true");
  json svc = J(c.Get("/v1/catalog/service/redis"));
  ASSERT_EQ(svc.size(), 1u);
  EXPECT_EQ(svc[0]["Node"], "t2.320");
  EXPECT_EQ(svc[0]["ServiceID"], "redis1");
  EXPECT_EQ(svc[0]["NodeMeta"]["somekey"], "somevalue");
  EXPECT_EQ(svc[0]["ServiceTaggedAddresses"]["wan"]["port"], 80);
  json node = J(c.Get("/v1/catalog/node/t2.320"));
  EXPECT_EQ(node["Node"]["Address"], "192.168.10.10");
  EXPECT_TRUE(node["Services"].contains("redis1"));
  EXPECT_TRUE(J(c.Get("/v1/catalog/node/ghost")).is_null());
  EXPECT_EQ(J(c.Get("/v1/catalog/nodes")).size(), 2u);
  // Catalog checks are not executed: the status stays as registered.
  json health = J(c.Get("/v1/health/service/redis?passing"));
  ASSERT_EQ(health.size(), 1u);
  EXPECT_EQ(health[0]["Checks"][0]["CheckID"], "service:redis1");

  // A session tied to that check dies when the check turns critical. (Catalog-registered
  // nodes have no serfHealth, so the default NodeChecks must be cleared, as in Consul.)
  auto no_serf = c.Put("/v1/session/create", R"({"Node":"t2.320","Checks":["service:redis1"]})");
  EXPECT_EQ(no_serf.status, 500);
  EXPECT_EQ(no_serf.body, "Missing check 'serfHealth' registration");
  std::string s = CreateSession(c, {{"Node", "t2.320"},
                                    {"Checks", {"service:redis1"}},
                                    {"NodeChecks", json::array()},
                                    {"LockDelay", "0s"}});
  ASSERT_EQ(c.Put("/v1/kv/redis/leader?acquire=" + s).body, "true");
  json crit = {
      {"Node", "t2.320"},
      {"Address", "192.168.10.10"},
      {"Check", {{"CheckID", "service:redis1"}, {"ServiceID", "redis1"}, {"Status", "critical"}}}};
  ASSERT_EQ(c.Put("/v1/catalog/register", crit.dump()).status, 200);
  EXPECT_EQ(J(c.Get("/v1/session/info/" + s)), json::array());
  EXPECT_FALSE(J(c.Get("/v1/kv/redis/leader"))[0].contains("Session"));
  EXPECT_EQ(J(c.Get("/v1/health/service/redis?passing")), json::array());

  EXPECT_EQ(c.Put("/v1/catalog/register", R"({"Node":"n"})").body,
            "Must provide address if SkipNodeUpdate is not set");
  EXPECT_EQ(c.Put("/v1/catalog/register",
                  R"({"Node":"n","Address":"1.2.3.4","Check":{"ServiceID":"zz"}})")
                .body,
            "Missing service registration");
  auto dereg = c.Put("/v1/catalog/deregister", R"({"node":"t2.320","serviceid":"redis1"})");
  EXPECT_EQ(dereg.body, "true");
  EXPECT_EQ(J(c.Get("/v1/catalog/service/redis")), json::array());
  EXPECT_EQ(c.Put("/v1/catalog/deregister", R"({"Node":"t2.320"})").body, "true");
  EXPECT_EQ(J(c.Get("/v1/catalog/nodes")).size(), 1u);
}

TEST(ConsulCatalogTest, HealthStateListingFollowsEveryChangeOfAChecksService) {
  // The listing is built from per-check cached text: a tag change of the service, a status
  // change and a deregistration must each show in the next answer.
  Consul c;
  auto reg = [&](const std::string& id, const json& tags, const std::string& status) {
    json body = {{"Node", "n1"},
                 {"Address", "10.0.0.1"},
                 {"Service", {{"ID", id}, {"Service", "web"}, {"Tags", tags}, {"Port", 80}}},
                 {"Check", {{"CheckID", "service:" + id}, {"ServiceID", id}, {"Status", status}}}};
    ASSERT_EQ(c.Put("/v1/catalog/register", body.dump()).status, 200);
  };
  reg("web1", json::array({"a"}), "passing");
  reg("web2", json::array({"a"}), "passing");
  auto find = [](const json& list, const std::string& id) -> json {
    for (const auto& ch : list)
      if (ch["CheckID"] == "service:" + id) return ch;
    return nullptr;
  };
  auto on_n1 = [](const json& list) {
    size_t n = 0;
    for (const auto& ch : list) n += ch["Node"] == "n1";
    return n;
  };
  auto first = c.Get("/v1/health/state/any");
  json l1 = J(first);
  ASSERT_EQ(on_n1(l1), 2u);
  EXPECT_EQ(find(l1, "web1")["ServiceTags"], json::array({"a"}));
  EXPECT_EQ(find(l1, "web1")["ServiceName"], "web");
  EXPECT_EQ(c.Get("/v1/health/state/any").body, first.body);  // unchanged: same bytes

  reg("web1", json::array({"b"}), "passing");  // only the service's tags change
  json l2 = J(c.Get("/v1/health/state/any"));
  EXPECT_EQ(find(l2, "web1")["ServiceTags"], json::array({"b"}));
  EXPECT_EQ(find(l2, "web2")["ServiceTags"], json::array({"a"}));

  reg("web2", json::array({"a"}), "critical");
  json l3 = J(c.Get("/v1/health/state/any"));
  EXPECT_EQ(find(l3, "web2")["Status"], "critical");
  EXPECT_GT(find(l3, "web2")["ModifyIndex"].get<uint64_t>(),
            find(l2, "web2")["ModifyIndex"].get<uint64_t>());
  json crit = J(c.Get("/v1/health/state/critical"));
  ASSERT_EQ(crit.size(), 1u);
  EXPECT_EQ(crit[0]["CheckID"], "service:web2");

  ASSERT_EQ(c.Put("/v1/catalog/deregister", R"({"Node":"n1","ServiceID":"web1"})").body, "true");
  json l4 = J(c.Get("/v1/health/state/any"));
  ASSERT_EQ(on_n1(l4), 1u);
  EXPECT_EQ(find(l4, "web1"), nullptr);
}

// ---- ACL, errors, status
// -------------------------------------------------------------------------

TEST(ConsulAclTest, TokenRequiredWhenConfigured) {
  ConsulOptions o = FastOptions();
  o.acl_master_token = "s3cret";
  Consul c(o);
  auto denied = c.Get("/v1/kv/x");
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.body, "Permission denied");
  auto wrong = c.Call("GET", "/v1/kv/x", "", {{"X-Consul-Token", "nope"}});
  EXPECT_EQ(wrong.status, 403);
  EXPECT_EQ(wrong.body, "ACL not found");
  EXPECT_EQ(c.Put("/v1/kv/x?token=s3cret", "1").body, "true");
  EXPECT_EQ(c.Call("GET", "/v1/kv/x", "", {{"X-Consul-Token", "s3cret"}}).status, 200);
  EXPECT_EQ(c.Call("GET", "/v1/kv/x", "", {{"Authorization", "Bearer s3cret"}}).status, 200);
  EXPECT_EQ(c.Put("/v1/catalog/register",
                  R"({"Node":"n","Address":"a","WriteRequest":{"Token":"s3cret"}})")
                .body,
            "true");
  EXPECT_EQ(c.Put("/v1/session/create").status, 403);
  EXPECT_EQ(c.Get("/v1/status/leader").status, 200);  // no ACL on status
}

TEST(ConsulErrorsTest, RoutesMethodsAndParameters) {
  Consul c;
  auto unknown = c.Get("/v1/nope");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.body, "Invalid URL path: not a recognized HTTP API endpoint");
  auto method = c.Call("POST", "/v1/kv/x");
  EXPECT_EQ(method.status, 405);
  EXPECT_EQ(method.body, "method POST not allowed");
  EXPECT_EQ(method.Header("Allow"), "GET,PUT,DELETE");
  EXPECT_EQ(c.Call("DELETE", "/v1/agent/services").status, 405);
  auto dc = c.Get("/v1/kv/x?dc=elsewhere");
  EXPECT_EQ(dc.status, 500);
  EXPECT_EQ(dc.body, "No path to datacenter");
  EXPECT_EQ(c.Get("/v1/kv/x?dc=dc1").status, 404);
  EXPECT_EQ(c.Get("/v1/kv/x?stale&consistent").status, 400);
  EXPECT_EQ(c.Get("/v1/kv/x?stale").Header("X-Consul-Effective-Consistency"), "stale");
  EXPECT_EQ(J(c.Get("/v1/status/leader")), "127.0.0.1:8300");
  EXPECT_EQ(J(c.Get("/v1/status/peers")), json::array({"127.0.0.1:8300"}));
  EXPECT_EQ(J(c.Get("/v1/catalog/datacenters")), json::array({"dc1"}));
  json self = J(c.Get("/v1/agent/self"));
  EXPECT_EQ(self["Config"]["NodeName"], "sandbox");
  EXPECT_EQ(self["Member"]["Addr"], "127.0.0.1");
  EXPECT_EQ(self["DebugConfig"]["HTTPPort"], 8500);
}

// ---- Persistence
// ----------------------------------------------------------------------------------

TEST(ConsulSnapshotTest, RoundTripKeepsDataAndIndexes) {
  json snap;
  json kv_before, svc_before;
  uint64_t counter = 0;
  std::string session;
  {
    Consul c;
    uint64_t c0 = c.emu().ChangeCounter();
    c.Put("/v1/kv/a/b?flags=7", "v");
    c.Put("/v1/kv/a/c", "");
    c.Put("/v1/kv/a/bin%FF%FE", "binary key");  // not UTF-8: still snapshots losslessly
    c.Call("DELETE", "/v1/kv/a/gone");
    session = CreateSession(c, {{"TTL", "10s"}});
    c.Put("/v1/kv/a/lock?acquire=" + session, "l");
    c.Put("/v1/agent/service/register",
          R"({"Name":"api","Port":9,"Tags":["t"],"Check":{"TTL":"30s"}})");
    counter = c.emu().ChangeCounter();
    EXPECT_GT(counter, c0);
    kv_before = J(c.Get("/v1/kv/a/?recurse"));
    svc_before = J(c.Get("/v1/catalog/service/api"));
    snap = c.emu().Snapshot();
    EXPECT_NO_THROW(snap.dump());
  }
  Consul d;
  ASSERT_TRUE(d.emu().Restore(snap).ok());
  EXPECT_EQ(J(d.Get("/v1/kv/a/?recurse")), kv_before);
  EXPECT_EQ(d.Get("/v1/kv/a/bin%FF%FE?raw").body, "binary key");
  EXPECT_EQ(J(d.Get("/v1/catalog/service/api")), svc_before);
  EXPECT_EQ(J(d.Get("/v1/session/info/" + session))[0]["TTL"], "10s");
  EXPECT_TRUE(J(d.Get("/v1/agent/services")).contains("api"));
  uint64_t before = J(d.Get("/v1/kv/a/b"))[0]["ModifyIndex"];
  d.Put("/v1/kv/a/b", "w");
  EXPECT_GT(J(d.Get("/v1/kv/a/b"))[0]["ModifyIndex"].get<uint64_t>(),
            before);  // the raft index survived
  EXPECT_FALSE(d.emu().Restore(json::object()).ok());
  EXPECT_FALSE(d.emu().Restore(json{{"format", "galley-consul-emulator/1"}, {"kv", "x"}}).ok());
}

TEST(ConsulCodecTest, GoDurationsAndBase64) {
  EXPECT_EQ(ParseGoDuration("1h30m").value(), std::chrono::minutes(90));
  EXPECT_EQ(ParseGoDuration("1.5s").value(), milliseconds(1500));
  EXPECT_EQ(ParseGoDuration("0").value().count(), 0);
  EXPECT_FALSE(ParseGoDuration("10").ok());
  EXPECT_EQ(ParseGoDuration("10").status().message(), "time: missing unit in duration \"10\"");
  EXPECT_FALSE(ParseGoDuration("1d").ok());
  EXPECT_EQ(FormatGoDuration(std::chrono::hours(24)), "24h0m0s");
  EXPECT_EQ(FormatGoDuration(std::chrono::seconds(90)), "1m30s");
  EXPECT_EQ(FormatGoDuration(milliseconds(1500)), "1.5s");
  EXPECT_EQ(FormatGoDuration(milliseconds(100)), "100ms");
  EXPECT_EQ(Base64Encode("1.2.3"), "MS4yLjM=");
  EXPECT_EQ(Base64Decode("bmV3LXZhbHVl").value(), "new-value");
  EXPECT_FALSE(Base64Decode("abc").ok());
  EXPECT_FALSE(Base64Decode("a*==").ok());
}

// ---- Agent nodes (galley-sandbox --nodes) ----

net::HttpRequest AgentRequest(const std::string& method, const std::string& path,
                              const std::string& body = "") {
  net::HttpRequest r;
  r.method = method;
  r.target = r.path = path;
  r.body = body;
  return r;
}

TEST(ConsulNodesTest, AgentEndpointsShareOneCatalogAndFailedNodesLeavePassing) {
  ConsulOptions o = FastOptions();
  o.agent_nodes = {{"a", "127.0.0.2"}, {"b", "127.0.0.3"}};
  Consul c(o);
  auto agent_a = AgentEndpoint(&c.emu(), "a");
  auto agent_b = AgentEndpoint(&c.emu(), "b");

  json self = json::parse(agent_a(AgentRequest("GET", "/v1/agent/self")).body);
  EXPECT_EQ(self["Config"]["NodeName"], "a");
  EXPECT_EQ(self["Config"]["Server"], false);
  EXPECT_EQ(self["Member"]["Addr"], "127.0.0.2");
  EXPECT_EQ(J(c.Get("/v1/agent/self"))["Config"]["NodeName"], "sandbox");

  for (const auto& [agent, node, addr] :
       {std::tuple{&agent_a, "a", "127.0.0.2"}, std::tuple{&agent_b, "b", "127.0.0.3"}}) {
    json reg = {
        {"ID", std::string("web-") + node}, {"Name", "web"}, {"Address", addr}, {"Port", 31000}};
    EXPECT_EQ((*agent)(AgentRequest("PUT", "/v1/agent/service/register", reg.dump())).status, 200);
  }
  json svc = J(c.Get("/v1/catalog/service/web"));
  ASSERT_EQ(svc.size(), 2u);
  std::set<std::string> nodes;
  for (const auto& e : svc)
    nodes.insert(e["Node"].get<std::string>() + "@" + e["Address"].get<std::string>());
  EXPECT_EQ(nodes, (std::set<std::string>{"a@127.0.0.2", "b@127.0.0.3"}));
  json local_b = json::parse(agent_b(AgentRequest("GET", "/v1/agent/services")).body);
  EXPECT_EQ(local_b.size(), 1u);
  EXPECT_TRUE(local_b.contains("web-b"));
  EXPECT_FALSE(J(c.Get("/v1/agent/services")).contains("web-a"))
      << "the server's own agent is another node";
  json node_a = J(c.Get("/v1/catalog/node/a"));
  EXPECT_EQ(node_a["Node"]["Address"], "127.0.0.2");
  EXPECT_TRUE(node_a["Services"].contains("web-a"));
  EXPECT_FALSE(node_a["Services"].contains("consul")) << "client agents register no consul service";
  // Deregistering through the wrong agent is Consul's 404: the service is not local there.
  EXPECT_EQ(agent_b(AgentRequest("PUT", "/v1/agent/service/deregister/web-a")).status, 404);

  ASSERT_EQ(c.Put("/_sandbox/nodes/a", R"({"failed":true})").status, 200);
  json serf;
  for (const auto& ch : J(c.Get("/v1/health/node/a"))) {
    if (ch["CheckID"] == "serfHealth") serf = ch;
  }
  EXPECT_EQ(serf["Status"], "critical");
  json passing = J(c.Get("/v1/health/service/web?passing"));
  ASSERT_EQ(passing.size(), 1u);
  EXPECT_EQ(passing[0]["Node"]["Node"], "b");
  EXPECT_EQ(J(c.Get("/v1/health/service/web")).size(), 2u);
  bool a_failed = false;
  for (const auto& m : J(c.Get("/v1/agent/members")))
    a_failed |= m["Name"] == "a" && m["Status"] == 4;
  EXPECT_TRUE(a_failed);
  ASSERT_EQ(c.Put("/_sandbox/nodes/a", R"({"failed":false})").status, 200);
  EXPECT_EQ(J(c.Get("/v1/health/service/web?passing")).size(), 2u);
  EXPECT_EQ(c.Put("/_sandbox/nodes/nosuch", R"({"failed":true})").status, 404);
  EXPECT_EQ(AgentEndpoint(&c.emu(), "nosuch")(AgentRequest("GET", "/v1/agent/self")).status, 500);
}

TEST(ConsulNodesTest, WithoutAgentNodesOnlyTheOwnNodeExists) {
  Consul c;
  json nodes = J(c.Get("/v1/catalog/nodes"));
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0]["Node"], "sandbox");
  EXPECT_EQ(J(c.Get("/_sandbox/nodes")).size(), 1u);
}

}  // namespace
}  // namespace galley::sandbox::consul
