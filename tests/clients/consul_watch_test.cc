// SPDX-License-Identifier: Apache-2.0
// Blocking queries and the membership watch: the pure index rule and trackers, then against
// the Consul emulator in-process (blocking KV reads, a change landing with one per-service
// read whatever the number of services, garbage answers keeping the last known instances).
#include "clients/consul_watch.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "client_test_util.h"

namespace galley::clients {
namespace {

using testing::EmulatorServer;
using testing::Json;
using testing::milliseconds;

TEST(NextBlockingIndexTest, FollowsConsulsClientRules) {
  EXPECT_EQ(NextBlockingIndex(0, 12), 12u);
  EXPECT_EQ(NextBlockingIndex(12, 15), 15u);
  EXPECT_EQ(NextBlockingIndex(12, 12), 12u);
  EXPECT_EQ(NextBlockingIndex(15, 3), 0u);  // went backwards: start over
  EXPECT_EQ(NextBlockingIndex(0, 0), 1u);   // 0 counts as 1
}

TEST(ChecksTrackerTest, IndexSaysWhichInstancesPassAsHealthServicePassingWould) {
  ChecksTracker t;
  ASSERT_TRUE(t.Update(R"([
    {"Node":"n1","CheckID":"serfHealth","ServiceName":"","ServiceID":"","Status":"passing"},
    {"Node":"n1","CheckID":"service:web-1","ServiceName":"web","ServiceID":"web-1","Status":"passing"},
    {"Node":"n1","CheckID":"service:web-2","ServiceName":"web","ServiceID":"web-2","Status":"warning"},
    {"Node":"n2","CheckID":"serfHealth","ServiceName":"","ServiceID":"","Status":"critical"},
    {"Node":"n2","CheckID":"service:web-3","ServiceName":"web","ServiceID":"web-3","Status":"passing"}])")
                  .ok());
  auto idx = t.Index();
  EXPECT_TRUE(idx.Passing("n1", "web-1"));
  EXPECT_FALSE(idx.Passing("n1", "web-2"));     // warning is not passing
  EXPECT_FALSE(idx.Passing("n2", "web-3"));     // its node's serfHealth is critical
  EXPECT_TRUE(idx.Passing("n1", "no-checks"));  // an instance without checks passes
  EXPECT_TRUE(idx.Passing("n3", "other"));
}

TEST(ChecksTrackerTest, NamesTheServicesAndNodesWhoseChecksMoved) {
  ChecksTracker t;
  auto d = t.Update(R"([
    {"Node":"n1","CheckID":"serfHealth","ServiceName":"","ServiceID":"","Status":"passing","ModifyIndex":5},
    {"Node":"n1","CheckID":"service:web-1","ServiceName":"web","ServiceID":"web-1","Status":"passing","ModifyIndex":7},
    {"Node":"n2","CheckID":"service:db-1","ServiceName":"db","ServiceID":"db-1","Status":"passing","ModifyIndex":8}])");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->services, (std::set<std::string>{"web", "db"}));
  EXPECT_EQ(d->nodes, std::set<std::string>{"n1"});
  EXPECT_TRUE(t.HasServiceChecks("n1", "web-1"));
  EXPECT_FALSE(t.HasServiceChecks("n1", "plain-1"));
  // web's check turns critical, db's is deregistered, n1's serfHealth is unchanged.
  d = t.Update(R"([
    {"Node":"n1","CheckID":"serfHealth","ServiceName":"","ServiceID":"","Status":"passing","ModifyIndex":5},
    {"Node":"n1","CheckID":"service:web-1","ServiceName":"web","ServiceID":"web-1","Status":"critical","ModifyIndex":9}])");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->services, (std::set<std::string>{"web", "db"}));
  EXPECT_TRUE(d->nodes.empty());
  // Garbage: an error, and the state is kept.
  EXPECT_FALSE(t.Update("<html>").ok());
  EXPECT_FALSE(t.Update(R"([{"Node":1}])").ok());
  EXPECT_FALSE(t.Update(R"({"a":1})").ok());
  d = t.Update(R"([
    {"Node":"n1","CheckID":"serfHealth","ServiceName":"","ServiceID":"","Status":"critical","ModifyIndex":11},
    {"Node":"n1","CheckID":"service:web-1","ServiceName":"web","ServiceID":"web-1","Status":"critical","ModifyIndex":9}])");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->services.empty());
  EXPECT_EQ(d->nodes, std::set<std::string>{"n1"});
}

// ScanCheckListing against nlohmann's full parse of the same text.
std::vector<CheckFields> ByNlohmann(const std::string& text) {
  std::vector<CheckFields> out;
  for (const auto& c : Json::parse(text)) {
    auto str = [&](const char* k) {
      return c.contains(k) && c[k].is_string() ? c[k].get<std::string>() : std::string();
    };
    uint64_t mi = c.contains("ModifyIndex") && c["ModifyIndex"].is_number_unsigned()
                      ? c["ModifyIndex"].get<uint64_t>()
                      : 0;
    out.push_back(
        {str("Node"), str("CheckID"), str("ServiceName"), str("ServiceID"), str("Status"), mi});
  }
  return out;
}

void ExpectSame(const std::vector<CheckFields>& a, const std::vector<CheckFields>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].node, b[i].node) << i;
    EXPECT_EQ(a[i].check_id, b[i].check_id) << i;
    EXPECT_EQ(a[i].service_name, b[i].service_name) << i;
    EXPECT_EQ(a[i].service_id, b[i].service_id) << i;
    EXPECT_EQ(a[i].status, b[i].status) << i;
    EXPECT_EQ(a[i].modify_index, b[i].modify_index) << i;
  }
}

TEST(ScanCheckListingTest, ReadsWhatAFullParseReadsSkippingEverythingElse) {
  const std::string text = R"( [
    {"Node":"n1","CheckID":"serfHealth","Name":"Serf Health Status","Status":"passing",
     "Notes":"","Output":"Agent alive and reachable","ServiceID":"","ServiceName":"",
     "ServiceTags":[],"Type":"","Interval":"","Timeout":"","ExposedPort":0,
     "Definition":{},"CreateIndex":5,"ModifyIndex":5},
    {"Node":"n\u00e9 \"q\" \\ \/ \ud83d\ude00","CheckID":"service:web-1\n\t",
     "Definition":{"HTTP":"http://x/{a}[b]","Header":{"X":["a","b"]},"Interval":"10s",
                   "TLSSkipVerify":false,"Body":null,"N":-1.5e3},
     "ServiceTags":["production","a\"]b"],"ServiceName":"wéb","ServiceID":"web-1",
     "Status":"critical","ModifyIndex":18446744073709551615},
    {"Node":"n2","CheckID":"c","ModifyIndex":-3,"Status":7,"ServiceName":null},
    {"Node":"n3","CheckID":"d","ModifyIndex":2.5},
    {"Node":"n4","CheckID":"e","ModifyIndex":"9","Node":"n4b"}
  ] )";
  std::string error;
  auto got = ScanCheckListing(text, &error);
  ASSERT_TRUE(got.has_value()) << error;
  ExpectSame(*got, ByNlohmann(text));
  EXPECT_EQ((*got)[1].node, "n\u00e9 \"q\" \\ / \U0001F600");
  EXPECT_EQ((*got)[1].modify_index, 18446744073709551615u);
  EXPECT_EQ((*got)[4].node, "n4b");  // a repeated key: the last one, as a parser keeps it
  auto empty = ScanCheckListing(" [ ] ", &error);
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
}

TEST(ScanCheckListingTest, RefusesWhatIsNotAListingOfChecks) {
  std::string error;
  EXPECT_FALSE(ScanCheckListing(R"({"a":1})", &error).has_value());
  EXPECT_EQ(error, "not a JSON array");
  for (const char* bad :
       {"", "<html>", "[", "[{", R"([{"Node":"n","CheckID":"c"})",
        R"([{"Node":"n","CheckID":"c"}] x)", R"([{"Node":"n","CheckID":"c",}])",
        R"([{"Node":"n" "CheckID":"c"}])", R"([{"Node":"a\qb","CheckID":"c"}])",
        R"([{"Node":"\ud800","CheckID":"c"}])", "[{\"Node\":\"a\nb\",\"CheckID\":\"c\"}]",
        R"([{"Node":"n","CheckID":"c","X":tru}])", R"([{"Node":"n","CheckID":"c","X":01x}])",
        R"([{"Node":"n","CheckID":"c","X":[1,]}])", R"([{"Node":"n","CheckID":"c"},])"}) {
    EXPECT_FALSE(ScanCheckListing(bad, &error).has_value()) << bad;
    EXPECT_EQ(error, "invalid JSON in answer") << bad;
  }
  for (const char* entry : {R"([1,2])", R"([{"Node":1,"CheckID":"c"}])", R"([{"CheckID":"c"}])",
                            R"([{"Node":"n","CheckID":"c"},[]])"}) {
    EXPECT_FALSE(ScanCheckListing(entry, &error).has_value()) << entry;
    EXPECT_EQ(error, "an entry without string Node and CheckID") << entry;
  }
}

TEST(ServicesTrackerTest, NamesAppearingDisappearingOrRetaggedServices) {
  ServicesTracker t;
  auto c = t.Update(R"({"consul":[],"web":["production"],"db":["staging"]})");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->size(), 3u);
  c = t.Update(R"({"consul":[],"web":["production","staging"],"api":[]})");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, (std::set<std::string>{"web", "db", "api"}));
  EXPECT_FALSE(t.Update("[1,2]").ok());
  EXPECT_FALSE(t.Update(R"({"web":"x"})").ok());
}

class ConsulWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = testing::StartConsul();
    endpoint_.url = server_->base();
    ConsulClientOptions o;
    o.timeout = milliseconds(5000);
    client_ = NewConsulClient(endpoint_, http_.get(), o);
  }
  // One instance of `service` on node `node`, with a passing catalog check unless `checkless`.
  void Register(const std::string& service, const std::string& id, const std::string& node,
                int port, bool checkless = false, const std::string& status = "passing") {
    Json body = {{"Node", node}, {"Address", "10.0.0.1"}};
    body["Service"] = {
        {"ID", id}, {"Service", service}, {"Port", port}, {"Tags", Json::array({"production"})}};
    if (!checkless) {
      body["Checks"] = Json::array({{{"Node", node},
                                     {"CheckID", "service:" + id},
                                     {"Name", "check"},
                                     {"Status", status},
                                     {"ServiceID", id}}});
    }
    auto r = server_->Call("PUT", "/v1/catalog/register", body.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }
  void Deregister(const std::string& node, const std::string& id) {
    auto r = server_->Call("PUT", "/v1/catalog/deregister",
                           Json({{"Node", node}, {"ServiceID", id}}).dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }

  std::unique_ptr<EmulatorServer> server_;
  std::unique_ptr<net::HttpClient> http_ = net::NewHttpClient();
  ConsulEndpoint endpoint_;
  std::unique_ptr<ConsulClient> client_;
};

TEST_F(ConsulWatchTest, ABlockingKvReadWaitsForTheChange) {
  BlockingQuery q(endpoint_, http_.get(), "/v1/kv/galley/p/haproxy/internal",
                  BlockingOptions{milliseconds(5000), milliseconds(2000)});
  auto first = q.Next();
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(first->status, 404);  // absent, but with an index to block on
  EXPECT_TRUE(first->changed);
  auto v = DecodeKvAnswer(*first);
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->exists);
  std::thread writer([&] {
    std::this_thread::sleep_for(milliseconds(200));
    server_->Call("PUT", "/v1/kv/galley/p/haproxy/internal", "model-1");
  });
  auto t0 = std::chrono::steady_clock::now();
  auto second = q.Next();
  auto waited = std::chrono::steady_clock::now() - t0;
  writer.join();
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_GE(waited, milliseconds(150));  // it blocked until the write
  EXPECT_TRUE(second->changed);
  v = DecodeKvAnswer(*second);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->exists);
  EXPECT_EQ(v->value, "model-1");
  // No change within the wait: the same index back, not changed.
  BlockingQuery short_wait(endpoint_, http_.get(), "/v1/kv/galley/p/haproxy/internal",
                           BlockingOptions{milliseconds(300), milliseconds(2000)});
  ASSERT_TRUE(short_wait.Next().ok());
  auto idle = short_wait.Next();
  ASSERT_TRUE(idle.ok());
  EXPECT_FALSE(idle->changed);
  EXPECT_EQ(short_wait.requests(), 2);
}

TEST_F(ConsulWatchTest, AHeldWatchReadsOnceThenWaitsForReleaseAndStopsAtOnce) {
  server_->Call("PUT", "/v1/kv/galley/p/haproxy/internal", "model-1");
  const BlockingOptions long_wait{milliseconds(20000), milliseconds(2000)};
  {
    // Started held: the first answer comes, then no blocking read until Release.
    KvWatch w(endpoint_, http_.get(), "galley/p/haproxy/internal",
              BlockingOptions{milliseconds(1000), milliseconds(2000)});
    std::atomic<int> changes{0};
    w.Start([&] { ++changes; }, /*held=*/true);
    ASSERT_TRUE(galley::testing::Eventually([&] { return w.state().have; }));
    EXPECT_EQ(w.state().value.value, "model-1");
    std::this_thread::sleep_for(milliseconds(100));
    server_->Call("PUT", "/v1/kv/galley/p/haproxy/internal", "model-2");
    std::this_thread::sleep_for(milliseconds(300));
    EXPECT_EQ(w.state().value.value, "model-1");  // held: not read yet
    // Released: the next read sees what changed meanwhile.
    w.Release();
    ASSERT_TRUE(galley::testing::Eventually([&] { return w.state().value.value == "model-2"; }));
    EXPECT_GE(changes.load(), 2);
    w.Stop();
  }
  // Stopped while held: no long poll in flight to wait out (`galley agent` stopping on an
  // invalid repository before its loops ran).
  KvWatch held(endpoint_, http_.get(), "galley/p/haproxy/internal", long_wait);
  held.Start(nullptr, /*held=*/true);
  ASSERT_TRUE(galley::testing::Eventually([&] { return held.state().have; }));
  auto t0 = std::chrono::steady_clock::now();
  held.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(1000));
}

TEST_F(ConsulWatchTest, AnAnswerWithoutAnIndexIsAnError) {
  server_->Faults({{"garbage_next", 1}, {"path_prefix", "/v1/kv/"}});
  BlockingQuery q(endpoint_, http_.get(), "/v1/kv/x");
  auto r = q.Next();
  // The fault injector's garbage carries no X-Consul-Index, or is not JSON: either way an
  // error or an undecodable answer, never a silent "absent".
  if (r.ok()) {
    EXPECT_FALSE(DecodeKvAnswer(*r).ok());
  } else {
    EXPECT_NE(r.status().message().find("consul " + endpoint_.url), std::string::npos);
  }
}

TEST_F(ConsulWatchTest, AChangeIsReadWithOneRequestWhateverTheNumberOfServices) {
  std::set<std::string> names;
  for (int i = 0; i < 40; ++i) {
    std::string n = "svc-" + std::to_string(i);
    names.insert(n);
    Register(n, n + "-a", "node-1", 31000 + i);
  }
  Register("plain", "plain-a", "node-1", 32000, /*checkless=*/true);
  names.insert("plain");
  MembershipWatch w(endpoint_, http_.get(), client_.get(),
                    MembershipOptions{BlockingOptions{milliseconds(2000), milliseconds(2000)}});
  std::atomic<int> changes{0};
  MembershipSnapshot snap;
  w.SetServices(names);
  snap = w.Refresh();
  EXPECT_EQ(snap.fetched, 41);
  EXPECT_TRUE(snap.errors.empty());
  EXPECT_EQ(snap.instances["svc-3"].size(), 1u);
  w.Start([&] { ++changes; });
  ASSERT_TRUE(galley::testing::Eventually([&] { return changes.load() >= 2; }));
  (void)w.Refresh();  // the polls' first answers mark everything once
  int polls = w.poll_requests();

  // Refreshes as the polls report until `done`; the reads it took.
  auto settle = [&](const std::function<bool(MembershipSnapshot&)>& done) {
    int fetched = 0;
    bool ok = galley::testing::Eventually([&] {
      if (!w.HasDirty()) return false;
      MembershipSnapshot got = w.Refresh();
      fetched += got.fetched;
      return done(got);
    });
    EXPECT_TRUE(ok);
    return fetched;
  };

  // A second instance of svc-7, with a check: read alone (plus "plain", checkless, which
  // the catalog poll's wake-up marks).
  Register("svc-7", "svc-7-b", "node-2", 31107);
  int fetched = settle([](MembershipSnapshot& s) { return s.instances["svc-7"].size() == 2u; });
  EXPECT_GE(fetched, 1);
  EXPECT_LE(fetched, 3);

  // Its check turns critical: dropped from the passing instances, again a read or two.
  Register("svc-7", "svc-7-b", "node-2", 31107, false, "critical");
  fetched = settle([](MembershipSnapshot& s) { return s.instances["svc-7"].size() == 1u; });
  EXPECT_LE(fetched, 3);
  snap = w.Refresh();
  EXPECT_EQ(snap.instances["svc-8"].size(), 1u);

  // A checkless instance comes: found through the catalog index.
  Register("plain", "plain-b", "node-2", 32001, /*checkless=*/true);
  fetched = settle([](MembershipSnapshot& s) { return s.instances["plain"].size() == 2u; });
  EXPECT_LE(fetched, 3);

  // The long polls: a handful per change, not one per service.
  EXPECT_LE(w.poll_requests() - polls, 12);
  w.Stop();
}

TEST_F(ConsulWatchTest, AFailedOrGarbageReadKeepsTheLastKnownInstances) {
  Register("web", "web-a", "node-1", 31001);
  Register("web", "web-b", "node-2", 31002);
  MembershipWatch w(endpoint_, http_.get(), client_.get());
  w.SetServices({"web"});
  auto snap = w.Refresh();
  ASSERT_EQ(snap.instances["web"].size(), 2u);
  server_->Faults({{"garbage_next", 1}, {"path_prefix", "/v1/health/service/"}});
  w.MarkAllDirty();
  snap = w.Refresh();
  ASSERT_EQ(snap.errors.size(), 1u);
  EXPECT_EQ(snap.instances["web"].size(), 2u);  // kept, never emptied
  EXPECT_TRUE(w.HasDirty());                    // read again next time
  server_->Faults({{"fail_next", 1}, {"fail_status", 503}, {"path_prefix", "/v1/health/service/"}});
  snap = w.Refresh();
  ASSERT_EQ(snap.errors.size(), 1u);
  EXPECT_EQ(snap.instances["web"].size(), 2u);
  Deregister("node-2", "web-b");
  snap = w.Refresh();
  EXPECT_TRUE(snap.errors.empty());
  EXPECT_EQ(snap.instances["web"].size(), 1u);
  // A service never read successfully is reported as unknown, not as empty.
  server_->Faults({{"fail_next", 1}, {"fail_status", 500}, {"path_prefix", "/v1/health/service/"}});
  w.SetServices({"web", "api"});
  snap = w.Refresh();
  EXPECT_EQ(snap.unknown, std::set<std::string>{"api"});
}

}  // namespace
}  // namespace galley::clients
