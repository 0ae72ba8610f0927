// SPDX-License-Identifier: Apache-2.0
// server/notify: transitions, bodies and signatures, retries with backoff on a fake clock,
// give-ups, the bounded queue dropping its oldest, Stop cutting a backoff short, and URLs kept
// out of logs. A scripted fake HttpClient; the loopback test is in tests/integration/server/.
#include "server/notify.h"

#include <condition_variable>
#include <deque>
#include <mutex>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/digest.h"
#include "support/fake_clock.h"
#include "support/wait.h"

namespace galley::server {
namespace {

using std::chrono::milliseconds;
const std::chrono::system_clock::time_point T0{std::chrono::seconds(1714557600)};

// Answers from a script (the last answer repeats); records each request and when (by the
// fake clock, as the sending thread sees it). With `gate` closed, Send blocks until opened.
class ScriptedClient : public net::HttpClient {
 public:
  explicit ScriptedClient(Clock* clock) : clock_(clock) {}
  Result<net::ClientResponse> Send(const net::ClientRequest& request) override {
    std::unique_lock<std::mutex> l(mu_);
    ++entered_;
    cv_.notify_all();
    cv_.wait(l, [&] { return open_; });
    requests.push_back(request);
    times.push_back(
        clock_ ? std::chrono::duration_cast<milliseconds>(clock_->Now().time_since_epoch()).count()
               : 0);
    Result<net::ClientResponse> r = script.size() > 1 ? script.front() : script.back();
    if (script.size() > 1) script.pop_front();
    return r;
  }
  void Close() {
    std::lock_guard<std::mutex> l(mu_);
    open_ = false;
  }
  void Open() {
    std::lock_guard<std::mutex> l(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool WaitEntered(int n) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::seconds(30), [&] { return entered_ >= n; });
  }
  size_t count() {
    std::lock_guard<std::mutex> l(mu_);
    return requests.size();
  }

  std::deque<Result<net::ClientResponse>> script{Answer(200)};
  std::vector<net::ClientRequest> requests;
  std::vector<int64_t> times;

  static Result<net::ClientResponse> Answer(int status, net::Headers headers = {}) {
    net::ClientResponse r;
    r.status = status;
    r.headers = std::move(headers);
    return r;
  }

 private:
  Clock* clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  int entered_ = 0;
};

NotifyEvent Drift(const std::string& resource = "marathon-app:/prod/web") {
  return NotifyEvent{NotifyKind::kDriftNew, resource, "instances 3 → 5", T0};
}

NotifierOptions Options(Clock* clock, std::vector<NotifyTarget> targets) {
  NotifierOptions o;
  o.targets = std::move(targets);
  o.platform = "prod";
  o.clock = clock;
  return o;
}

const NotifyTarget kJson{NotifyTarget::Kind::kJson, "http://hooks.example.com/galley",
                         "notify-secret-0123456789"};
const NotifyTarget kSlack{NotifyTarget::Kind::kSlack,
                          "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX", ""};

TEST(NotifyTransitionsTest, OnlyChangesAreEvents) {
  NotifyState before;
  before.drift = {{"a", "x"}, {"b", "y"}};
  before.failed = {{"c", "boom"}};
  before.flapping = {"f"};
  before.leader = "node1:8480";
  NotifyState after = before;
  after.drift["a"] = "changed summary";  // still drifted: nothing new
  EXPECT_TRUE(DetectTransitions(before, after, T0).empty());

  after.drift.erase("b");
  after.drift["d"] = "instances 1 → 2";
  after.failed.erase("c");
  after.failed["e"] = "deployment failed";
  after.flapping.insert("g");
  after.leader = "node2:8480";
  auto events = DetectTransitions(before, after, T0);
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[0].kind, NotifyKind::kDriftNew);
  EXPECT_EQ(events[0].resource, "d");
  EXPECT_EQ(events[0].detail, "instances 1 → 2");
  EXPECT_EQ(events[1].kind, NotifyKind::kDriftResolved);
  EXPECT_EQ(events[1].resource, "b");
  EXPECT_EQ(events[2].kind, NotifyKind::kApplyFailed);
  EXPECT_EQ(events[2].resource, "e");
  EXPECT_EQ(events[2].detail, "deployment failed");
  EXPECT_EQ(events[3].kind, NotifyKind::kApplyRecovered);
  EXPECT_EQ(events[3].resource, "c");
  EXPECT_EQ(events[4].kind, NotifyKind::kFlapping);
  EXPECT_EQ(events[4].resource, "g");
  EXPECT_EQ(events[5].kind, NotifyKind::kLeaderChange);
  EXPECT_EQ(events[5].detail, "node1:8480 → node2:8480");
  EXPECT_EQ(events[5].time, T0);

  NotifyState none;
  auto lost = DetectTransitions(before, none, T0);
  EXPECT_EQ(lost.back().detail, "node1:8480 → none");
}

TEST(NotifyBodiesTest, JsonAndSlack) {
  NotifyEvent e = Drift();
  auto j = nlohmann::json::parse(NotifyJsonBody("prod", e));
  EXPECT_EQ(j["platform"], "prod");
  EXPECT_EQ(j["event"], "drift_new");
  EXPECT_EQ(j["resource"], "marathon-app:/prod/web");
  EXPECT_EQ(j["detail"], "instances 3 → 5");
  EXPECT_EQ(j["time"], "2024-05-01T10:00:00.000Z");
  EXPECT_EQ(j["text"], "galley prod: new drift on marathon-app:/prod/web: instances 3 → 5");

  e.detail = "<script> & co";
  auto s = nlohmann::json::parse(NotifySlackBody("prod", e));
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(s["text"], "galley prod: new drift on marathon-app:/prod/web: &lt;script&gt; &amp; co");

  EXPECT_EQ(NotifyText("p", {NotifyKind::kDriftResolved, "r", "", T0}),
            "galley p: drift resolved on r");
  EXPECT_EQ(NotifyText("p", {NotifyKind::kApplyFailed, "r", "timeout", T0}),
            "galley p: apply failed for r: timeout");
  EXPECT_EQ(NotifyText("p", {NotifyKind::kApplyRecovered, "r", "", T0}),
            "galley p: apply recovered for r");
  EXPECT_EQ(NotifyText("p", {NotifyKind::kLeaderChange, "", "a → b", T0}),
            "galley p: leader changed: a → b");
  EXPECT_EQ(NotifyText("p", {NotifyKind::kFlapping, "r", "", T0}),
            "galley p: r is flapping (changed by hand again after repeated reverts); left alone "
            "until it changes in Git or is reset");
  // Control characters from live state do not reach a chat window raw.
  EXPECT_EQ(NotifyText("p", {NotifyKind::kApplyFailed, "r", "bad\x1b[2Jthing", T0}).find('\x1b'),
            std::string::npos);
}

TEST(NotifierTest, SignedJsonAndSlackDeliveries) {
  testing::FakeClock clock;
  ScriptedClient client(&clock);
  std::vector<std::string> counted;
  std::mutex counted_mu;
  NotifierOptions o = Options(&clock, {kJson, kSlack});
  o.count = [&](std::string_view r) {
    std::lock_guard<std::mutex> l(counted_mu);
    counted.emplace_back(r);
  };
  Notifier n(client, o);
  n.Notify(Drift());
  ASSERT_TRUE(testing::Eventually([&] { return n.stats().sent == 2; }));
  ASSERT_EQ(client.requests.size(), 2u);
  const net::ClientRequest& json = client.requests[0];
  EXPECT_EQ(json.method, "POST");
  EXPECT_EQ(json.url, kJson.url);
  EXPECT_EQ(json.headers.at("Content-Type"), "application/json");
  EXPECT_EQ(json.headers.at("X-Galley-Signature"),
            "sha256=" + HmacSha256Hex(kJson.secret, json.body));
  EXPECT_EQ(json.headers.at("X-Galley-Event"), "drift_new");
  EXPECT_EQ(json.headers.at("X-Galley-Delivery").size(), 36u);
  const net::ClientRequest& slack = client.requests[1];
  EXPECT_EQ(slack.url, kSlack.url);
  EXPECT_EQ(slack.headers.count("X-Galley-Signature"), 0u);
  EXPECT_EQ(nlohmann::json::parse(slack.body)["text"],
            "galley prod: new drift on marathon-app:/prod/web: instances 3 → 5");
  n.Stop();
  std::lock_guard<std::mutex> l(counted_mu);
  EXPECT_EQ(counted, (std::vector<std::string>{"sent", "sent"}));
}

TEST(NotifierTest, RetriesTransportErrors5xxAnd429WithBackoff) {
  testing::FakeClock clock;
  ScriptedClient client(&clock);
  client.script = {Status::Unavailable("POST http://hooks.example.com/galley: connection refused"),
                   ScriptedClient::Answer(503), ScriptedClient::Answer(502),
                   ScriptedClient::Answer(429, {{"Retry-After", "7"}}),
                   ScriptedClient::Answer(204)};
  NotifierOptions o = Options(&clock, {kJson});
  o.initial_backoff = milliseconds(1000);
  o.max_backoff = milliseconds(60000);
  Notifier n(client, o);
  n.Notify(Drift());
  ASSERT_TRUE(testing::Eventually([&] { return n.stats().sent == 1; }));
  // Waits 1 s, 2 s, 4 s, then max(8 s, Retry-After 7 s) = 8 s.
  EXPECT_EQ(client.times, (std::vector<int64_t>{0, 1000, 3000, 7000, 15000}));
  EXPECT_EQ(n.stats().retries, 4u);
  // The delivery id and signature are the same on every attempt.
  for (const auto& r : client.requests) {
    EXPECT_EQ(r.headers.at("X-Galley-Delivery"),
              client.requests[0].headers.at("X-Galley-Delivery"));
    EXPECT_EQ(r.body, client.requests[0].body);
  }
}

TEST(NotifierTest, RetryAfterLongerThanTheBackoffAndTheCap) {
  testing::FakeClock clock;
  ScriptedClient client(&clock);
  client.script = {ScriptedClient::Answer(429, {{"Retry-After", "30"}}),
                   ScriptedClient::Answer(429, {{"Retry-After", "999999"}}),
                   ScriptedClient::Answer(200)};
  NotifierOptions o = Options(&clock, {kJson});
  o.initial_backoff = milliseconds(500);
  o.max_backoff = milliseconds(45000);
  Notifier n(client, o);
  n.Notify(Drift());
  ASSERT_TRUE(testing::Eventually([&] { return n.stats().sent == 1; }));
  EXPECT_EQ(client.times, (std::vector<int64_t>{0, 30000, 75000}));
}

TEST(NotifierTest, GivesUpAfterMaxAttemptsAndAtOnceOnOther4xx) {
  testing::FakeClock clock;
  ScriptedClient client(&clock);
  client.script = {ScriptedClient::Answer(500)};
  std::vector<std::string> logs;
  std::mutex logs_mu;
  NotifierOptions o = Options(&clock, {kJson});
  o.max_attempts = 3;
  o.initial_backoff = milliseconds(100);
  o.log = [&](const std::string& line) {
    std::lock_guard<std::mutex> l(logs_mu);
    logs.push_back(line);
  };
  {
    Notifier n(client, o);
    n.Notify(Drift());
    ASSERT_TRUE(testing::Eventually([&] { return n.stats().failed == 1; }));
    EXPECT_EQ(client.times, (std::vector<int64_t>{0, 100, 300}));
  }
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(
      logs[0],
      "notify: json#1: gave up on drift_new marathon-app:/prod/web: answered 500 (3 attempts)");

  ScriptedClient client2(&clock);
  client2.script = {ScriptedClient::Answer(404)};
  Notifier n(client2, o);
  n.Notify(Drift());
  ASSERT_TRUE(testing::Eventually([&] { return n.stats().failed == 1; }));
  EXPECT_EQ(client2.count(), 1u);
  n.Stop();
  std::lock_guard<std::mutex> l(logs_mu);
  EXPECT_EQ(
      logs.back(),
      "notify: json#1: gave up on drift_new marathon-app:/prod/web: answered 404 (not retried)");
}

TEST(NotifierTest, UrlsNeverReachTheLog) {
  testing::FakeClock clock;
  ScriptedClient client(&clock);
  client.script = {Status::Unavailable("POST " + kSlack.url + ": connection refused")};
  std::vector<std::string> logs;
  std::mutex logs_mu;
  NotifierOptions o = Options(&clock, {kSlack});
  o.max_attempts = 2;
  o.log = [&](const std::string& line) {
    std::lock_guard<std::mutex> l(logs_mu);
    logs.push_back(line);
  };
  Notifier n(client, o);
  n.Notify(Drift());
  ASSERT_TRUE(testing::Eventually([&] { return n.stats().failed == 1; }));
  n.Stop();
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(
      logs[0],
      "notify: slack#1: gave up on drift_new marathon-app:/prod/web: POST slack#1: connection "
      "refused (2 attempts)");
  EXPECT_EQ(logs[0].find("XXXXSECRETXXXX"), std::string::npos);
}

TEST(NotifierTest, FullQueueDropsTheOldestAndNotifyNeverBlocks) {
  testing::FakeClock clock;
  ScriptedClient client(&clock);
  client.Close();  // the first send blocks until opened
  std::vector<std::string> logs;
  std::mutex logs_mu;
  NotifierOptions o = Options(&clock, {kJson});
  o.queue_capacity = 3;
  o.log = [&](const std::string& line) {
    std::lock_guard<std::mutex> l(logs_mu);
    logs.push_back(line);
  };
  Notifier n(client, o);
  n.Notify(Drift("r0"));
  ASSERT_TRUE(client.WaitEntered(1));  // r0 is in flight, the sender is stuck
  for (int i = 1; i <= 6; ++i) n.Notify(Drift("r" + std::to_string(i)));  // returns at once
  NotifierStats s = n.stats();
  EXPECT_EQ(s.dropped, 3u);  // r1, r2, r3
  EXPECT_EQ(s.pending, 4u);  // r0 in flight + r4..r6
  EXPECT_EQ(s.queued, 7u);
  client.Open();
  ASSERT_TRUE(testing::Eventually([&] { return n.stats().sent == 4; }));
  std::vector<std::string> sent;
  for (const auto& r : client.requests) {
    sent.push_back(nlohmann::json::parse(r.body)["resource"].get<std::string>());
  }
  EXPECT_EQ(sent, (std::vector<std::string>{"r0", "r4", "r5", "r6"}));
  n.Stop();
  std::lock_guard<std::mutex> l(logs_mu);
  EXPECT_EQ(logs.size(), 3u);
  EXPECT_EQ(logs[0], "notify: queue full, dropped the 1 oldest notification(s)");
}

TEST(NotifierTest, StopCutsABackoffShortAndCountsWhatWasLeft) {
  ScriptedClient client(nullptr);  // the real clock: Stop must not wait out a minute
  client.script = {ScriptedClient::Answer(503)};
  NotifierOptions o = Options(nullptr, {kJson});
  o.initial_backoff = milliseconds(60000);
  Notifier n(client, o);
  n.Notify({Drift("a"), Drift("b")});
  ASSERT_TRUE(client.WaitEntered(1));
  auto start = std::chrono::steady_clock::now();
  n.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  NotifierStats s = n.stats();
  EXPECT_EQ(s.dropped, 2u);  // a (in its backoff) and b (queued)
  EXPECT_EQ(s.sent, 0u);
  n.Notify(Drift("c"));  // after Stop: ignored
  EXPECT_EQ(n.stats().queued, 2u);
  n.Stop();  // idempotent
}

TEST(NotifierTest, CheckNotifyTargets) {
  EXPECT_TRUE(CheckNotifyTargets({kJson, kSlack}).ok());
  NotifyTarget unsigned_json{NotifyTarget::Kind::kJson, "https://x.example.com/h", ""};
  EXPECT_EQ(CheckNotifyTargets({kSlack, unsigned_json}).message(),
            "notification target json#2: a JSON webhook needs a secret to sign its bodies");
  NotifyTarget ftp{NotifyTarget::Kind::kSlack, "ftp://x", ""};
  EXPECT_EQ(CheckNotifyTargets({ftp}).message(),
            "notification target slack#1: the URL must start with http:// or https://");
}

}  // namespace
}  // namespace galley::server
