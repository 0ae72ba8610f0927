// SPDX-License-Identifier: Apache-2.0
// The event stream's pure parts (SSE framing, typed events with the payloads of
// marathon-events.md, instance ↔ task ids) and the reconnecting runner against a scripted
// streaming transport and a fake clock.
#include "clients/marathon_events.h"

#include <algorithm>
#include <deque>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "support/fake_clock.h"

namespace galley::clients {
namespace {

using std::chrono::milliseconds;

std::vector<SseMessage> FeedAll(SseParser& p, const std::vector<std::string>& chunks) {
  std::vector<SseMessage> out;
  for (const auto& c : chunks) {
    Status s = p.Feed(c, &out);
    EXPECT_TRUE(s.ok()) << s.message();
  }
  return out;
}

// Marathon's framing (CRLF) with a 10 s heartbeat (a bare CRLF) between two events.
const std::string kStream =
    "event: event_stream_attached\r\ndata: {\"remoteAddress\":\"10.0.0.1\",\"eventType\":"
    "\"event_stream_attached\",\"timestamp\":\"2021-03-04T10:15:00.000Z\"}\r\n\r\n"
    "\r\n"
    "event: status_update_event\r\ndata: {\"slaveId\":\"S3\",\"taskId\":\"t1\",\"taskStatus\":"
    "\"TASK_KILLING\",\"appId\":\"/shop/web\",\"host\":\"agent-3\",\"ports\":[31007]}\r\n\r\n";

TEST(SseParserTest, ParsesCrlfFramingAndCountsHeartbeats) {
  SseParser p;
  auto m = FeedAll(p, {kStream});
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].event, "event_stream_attached");
  EXPECT_EQ(m[1].event, "status_update_event");
  EXPECT_EQ(m[1].data.substr(0, 16), "{\"slaveId\":\"S3\",");
  EXPECT_EQ(p.heartbeats(), 1u);
}

TEST(SseParserTest, EverySplitOfTheStreamGivesTheSameMessages) {
  SseParser whole;
  auto expected = FeedAll(whole, {kStream});
  for (size_t cut = 0; cut <= kStream.size(); ++cut) {
    SseParser p;
    auto m = FeedAll(p, {kStream.substr(0, cut), kStream.substr(cut)});
    EXPECT_EQ(m, expected) << "cut at " << cut;
    EXPECT_EQ(p.heartbeats(), 1u) << "cut at " << cut;
  }
  // Byte by byte.
  SseParser p;
  std::vector<std::string> bytes;
  for (char c : kStream) bytes.emplace_back(1, c);
  EXPECT_EQ(FeedAll(p, bytes), expected);
}

TEST(SseParserTest, AcceptsLfAndCrLineEndsCommentsAndMultiLineData) {
  SseParser p;
  auto m = FeedAll(
      p, {"event: a\ndata: 1\n\n:comment\n\nevent:b\rdata:x\rdata: y\r\rid: 7\ndata", "\n\n"});
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0], (SseMessage{"a", "1"}));
  EXPECT_EQ(m[1], (SseMessage{"b", "x\ny"}));
  EXPECT_EQ(m[2], (SseMessage{"", ""}));
  EXPECT_EQ(p.heartbeats(), 1u);  // the empty line after the comment
}

TEST(SseParserTest, RefusesAnEndlessLine) {
  SseParser p(64);
  std::vector<SseMessage> out;
  EXPECT_TRUE(p.Feed(std::string(60, 'x'), &out).ok());
  Status s = p.Feed(std::string(10, 'x'), &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "event stream: a line longer than 64 bytes");
}

TEST(MarathonEventTest, StatusUpdateKilling18) {
  auto ev = ParseMarathonEvent(
      "status_update_event",
      R"({"slaveId":"9f3c2f7e-3b1a-4c55-8b1e-5d2f0a7c1e42-S3","taskId":"shop_web.instance-c81f2d10-4f2c-11eb-9e6a-0242ac110002._app.1","taskStatus":"TASK_KILLING","message":"","appId":"/shop/web","host":"agent-3.example.internal","ipAddresses":[{"ipAddress":"172.17.0.4","protocol":"IPv4"}],"ports":[31007],"version":"2021-02-01T08:00:00.000Z","eventType":"status_update_event","timestamp":"2021-03-04T10:16:02.501Z"})");
  ASSERT_TRUE(ev.ok()) << ev.status().message();
  EXPECT_EQ(ev->kind, MarathonEvent::Kind::kStatusUpdate);
  EXPECT_EQ(ev->task_id, "shop_web.instance-c81f2d10-4f2c-11eb-9e6a-0242ac110002._app.1");
  EXPECT_EQ(ev->app_id, "/shop/web");
  EXPECT_EQ(ev->task_status, "TASK_KILLING");
  EXPECT_EQ(ev->host, "agent-3.example.internal");
  EXPECT_EQ(ev->ip_addresses, std::vector<std::string>{"172.17.0.4"});
  EXPECT_EQ(ev->ports, std::vector<int>{31007});
  EXPECT_TRUE(IsLeavingTaskState(ev->task_status));
}

TEST(MarathonEventTest, HealthChanged14PlusAnd13) {
  auto ev = ParseMarathonEvent(
      "health_status_changed_event",
      R"({"appId":"/shop/web","instanceId":"shop_web.instance-0b3c7a9e-4f2d-11eb-9e6a-0242ac110002","version":"2021-03-04T10:15:30.123Z","alive":true,"eventType":"health_status_changed_event","timestamp":"2021-03-04T10:15:49.731Z"})");
  ASSERT_TRUE(ev.ok()) << ev.status().message();
  EXPECT_EQ(ev->kind, MarathonEvent::Kind::kHealthChanged);
  EXPECT_EQ(ev->instance_id, "shop_web.instance-0b3c7a9e-4f2d-11eb-9e6a-0242ac110002");
  EXPECT_EQ(ev->task_id, "");
  EXPECT_EQ(ev->alive, std::optional<bool>(true));
  auto old = ParseMarathonEvent(
      "health_status_changed_event",
      R"({"appId":"/mesos-task","taskId":"mesos-task.4dba23eb-96aa-11e6-bf6f-062c477e5e33","version":"2016-10-20T09:48:07.232Z","alive":false,"eventType":"health_status_changed_event","timestamp":"2016-10-20T09:48:52.628Z"})");
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->task_id, "mesos-task.4dba23eb-96aa-11e6-bf6f-062c477e5e33");
  EXPECT_EQ(old->alive, std::optional<bool>(false));
}

TEST(MarathonEventTest, OthersAreIgnoredAndBrokenOnesSaySo) {
  auto other = ParseMarathonEvent("group_change_success", "not even json");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->kind, MarathonEvent::Kind::kOther);
  auto attached =
      ParseMarathonEvent("event_stream_attached",
                         R"({"remoteAddress":"10.0.0.1","eventType":"event_stream_attached"})");
  ASSERT_TRUE(attached.ok());
  EXPECT_EQ(attached->kind, MarathonEvent::Kind::kOther);
  auto garbage = ParseMarathonEvent("status_update_event", "{\"taskId\":");
  EXPECT_EQ(garbage.status().message(),
            "event stream: status_update_event: data is not a JSON object");
  auto missing = ParseMarathonEvent("status_update_event", R"({"taskId":"t"})");
  EXPECT_EQ(missing.status().message(),
            "event stream: status_update_event without a string taskId and taskStatus");
  auto no_alive = ParseMarathonEvent("health_status_changed_event", R"({"instanceId":"i"})");
  EXPECT_FALSE(no_alive.ok());
  EXPECT_FALSE(IsLeavingTaskState("TASK_RUNNING"));
  EXPECT_FALSE(IsLeavingTaskState("TASK_STAGING"));
  for (const char* s :
       {"TASK_KILLED", "TASK_FINISHED", "TASK_LOST", "TASK_GONE", "TASK_UNREACHABLE"})
    EXPECT_TRUE(IsLeavingTaskState(s)) << s;
}

TEST(MarathonEventTest, AppLevelChangesNameTheirApps) {
  // Shapes of the reference samples (shared/reference/marathon-events/).
  auto post = ParseMarathonEvent(
      "api_post_event",
      R"({"clientIp":"10.0.4.23","uri":"/v2/apps/shop/web","appDefinition":{"id":"/shop/web",)"
      R"("instances":0},"eventType":"api_post_event","timestamp":"2021-03-04T10:15:30.123Z"})");
  ASSERT_TRUE(post.ok());
  EXPECT_EQ(post->kind, MarathonEvent::Kind::kAppChanged);
  EXPECT_EQ(post->app_ids, std::vector<std::string>{"/shop/web"});
  auto gone = ParseMarathonEvent("app_terminated_event",
                                 R"({"appId":"/shop/web","eventType":"app_terminated_event"})");
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->kind, MarathonEvent::Kind::kAppChanged);
  EXPECT_EQ(gone->app_id, "/shop/web");
  // Light plans (1.7+) name apps only in their steps' actions; heavy ones have affectedApps.
  auto info = ParseMarathonEvent(
      "deployment_info",
      R"({"plan":{"id":"5b2d","steps":[{"actions":[{"action":"RestartApplication","app":"/a"},)"
      R"({"action":"ScaleApplication","app":"/b"}]},{"actions":[{"action":"x","app":"/a"}]}],)"
      R"("version":"v"},"currentStep":{"actions":[]},"eventType":"deployment_info"})");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->kind, MarathonEvent::Kind::kAppChanged);
  EXPECT_EQ(info->app_ids, (std::vector<std::string>{"/a", "/b"}));
  auto heavy = ParseMarathonEvent("deployment_success",
                                  R"({"id":"d","plan":{"affectedApps":["/c"],"steps":[]}})");
  ASSERT_TRUE(heavy.ok());
  EXPECT_EQ(heavy->app_ids, std::vector<std::string>{"/c"});
  EXPECT_FALSE(ParseMarathonEvent("deployment_failed", "{").ok());  // broken: said so
  EXPECT_EQ(MarathonEventsPath({}), kMarathonEventsPath);
  EXPECT_EQ(MarathonEventsPath({"api_post_event", "deployment_info"}),
            "/v2/events?event_type=api_post_event&event_type=deployment_info");
}

TEST(MarathonEventTest, KillHintsParse) {
  // Shapes of instance_changed_event.goal-change-before-kill.json and
  // unhealthy_instance_kill_event.json (shared/reference/marathon-events/).
  auto goal = ParseMarathonEvent(
      "instance_changed_event",
      R"({"instanceId":"shop_web.instance-1","condition":"Running","runSpecId":"/shop/web",)"
      R"("agentId":"a1","host":"10.0.3.17","runSpecVersion":"v","eventType":"instance_changed_event"})");
  ASSERT_TRUE(goal.ok()) << goal.status().message();
  EXPECT_EQ(goal->kind, MarathonEvent::Kind::kInstanceChanged);
  EXPECT_EQ(goal->instance_id, "shop_web.instance-1");
  EXPECT_EQ(goal->condition, "Running");
  EXPECT_EQ(goal->app_id, "/shop/web");
  EXPECT_EQ(goal->host, "10.0.3.17");
  auto unplaced = ParseMarathonEvent(
      "instance_changed_event",
      R"({"instanceId":"i","condition":"Provisioned","runSpecId":"/a","host":null})");
  ASSERT_TRUE(unplaced.ok());
  EXPECT_EQ(unplaced->host, "");
  EXPECT_FALSE(ParseMarathonEvent("instance_changed_event", R"({"instanceId":"i"})").ok());
  auto kill = ParseMarathonEvent(
      "unhealthy_instance_kill_event",
      R"({"appId":"/shop/web","taskId":"shop_web.instance-1","reason":"503","host":"h",)"
      R"("eventType":"unhealthy_instance_kill_event"})");
  ASSERT_TRUE(kill.ok());
  EXPECT_EQ(kill->kind, MarathonEvent::Kind::kUnhealthyKill);
  EXPECT_EQ(kill->instance_id, "shop_web.instance-1");  // 1.5+ taskId holds the instance id
  EXPECT_FALSE(ParseMarathonEvent("unhealthy_instance_kill_event", R"({"appId":"/a"})").ok());
}

TEST(MarathonEventTest, InstancesOfTaskAreExactlyWhatTaskOfInstanceAccepts) {
  const std::vector<std::string> tasks = {"shop_web.instance-0b3c._app.2", "shop_web.5b2d",
                                          "pod.instance-1.web", "solo"};
  const std::vector<std::string> instances = {"shop_web.instance-0b3c",
                                              "shop_web.instance-0b3c._app",
                                              "shop_web.marathon-5b2d",
                                              "shop_web",
                                              "pod.instance-1",
                                              "pod",
                                              "solo",
                                              "shop_web.instance-0b3",
                                              "other.marathon-5b2d",
                                              "shop_web.marathon-5b2"};
  for (const auto& t : tasks) {
    auto got = InstancesOfTask(t);
    for (const auto& i : instances) {
      bool listed = std::find(got.begin(), got.end(), i) != got.end();
      EXPECT_EQ(listed, TaskOfInstance(t, i)) << t << " / " << i;
    }
  }
  EXPECT_TRUE(InstancesOfTask("").empty());
}

TEST(MarathonEventTest, TaskOfInstanceAcrossVersions) {
  EXPECT_TRUE(TaskOfInstance("app.instance-u._app.1", "app.instance-u"));            // 1.8+
  EXPECT_TRUE(TaskOfInstance("shop_web.4dba-11e6", "shop_web.marathon-4dba-11e6"));  // 1.4–1.7
  EXPECT_TRUE(TaskOfInstance("mesos-task.4dba", "mesos-task.4dba"));                 // ≤1.3
  EXPECT_FALSE(TaskOfInstance("app.instance-u2._app.1", "app.instance-u"));
  EXPECT_FALSE(TaskOfInstance("other.4dba-11e6", "shop_web.marathon-4dba-11e6"));
  EXPECT_FALSE(TaskOfInstance("", "x"));
}

// ---- The runner against a scripted streaming transport ----------------------------------

struct Script {
  int status = 200;
  net::Headers headers;
  std::vector<std::string> chunks;
  Status end;  // what Stream returns after the chunks
};

class ScriptedStream : public net::HttpClient {
 public:
  explicit ScriptedStream(std::deque<Script> s) : script_(std::move(s)) {}
  Result<net::ClientResponse> Send(const net::ClientRequest&) override {
    return Status::Internal("not used");
  }
  Status Stream(const net::ClientRequest& req, const net::StreamCallbacks& cb) override {
    Script s;
    {
      std::lock_guard<std::mutex> lock(mu);
      requests.push_back(req);
      if (script_.empty()) {
        if (stop_when_done) *stop_when_done = true;
        return Status::Unavailable("GET " + req.url + ": connection refused");
      }
      s = script_.front();
      script_.pop_front();
    }
    // Transport errors name the request as net::HttpClient does.
    auto end = [&] {
      return s.end.ok() ? s.end
                        : (s.end.code() == StatusCode::kTimeout
                               ? Status::Timeout("GET " + req.url + ": " + s.end.message())
                               : Status::Unavailable("GET " + req.url + ": " + s.end.message()));
    };
    if (s.status == 0) return end();
    net::ClientResponse head;
    head.status = s.status;
    head.headers = s.headers;
    if (cb.on_head && !cb.on_head(head)) return Status::Ok();
    for (const auto& c : s.chunks) {
      if (cb.on_data && !cb.on_data(c)) return Status::Ok();
    }
    return end();
  }
  std::mutex mu;
  std::vector<net::ClientRequest> requests;
  std::atomic<bool>* stop_when_done = nullptr;

 private:
  std::deque<Script> script_;
};

struct Recorder {
  std::vector<std::string> what;
  MarathonEventHandler Handler() {
    MarathonEventHandler h;
    h.on_connected = [this](const std::string& url) { what.push_back("connected " + url); };
    h.on_disconnected = [this](const Status& s) { what.push_back("disconnected " + s.message()); };
    h.on_event = [this](const MarathonEvent& e) {
      what.push_back("event " + e.type + " " + e.task_id + e.instance_id + " " + e.task_status);
    };
    h.on_log = [this](const std::string& l) { what.push_back("log " + l); };
    return h;
  }
};

TEST(MarathonEventStreamTest, FollowsARedirectReconnectsAndFailsOverWithBackoff) {
  Script redirect;
  redirect.status = 302;
  redirect.headers["Location"] = "http://m2:8080/v2/events?event_type=status_update_event";
  Script events;
  events.chunks = {
      "event: status_update_event\r\ndata: {\"taskId\":\"t1\",\"taskStatus\":\"TASK_"
      "KILLING\",\"host\":\"h\",\"ports\":[1]}\r\n\r\n\r\n",
      "event: health_status_changed_event\r\ndata: {\"instanceId\":\"i1\",\"alive\":"
      "true}\r\n\r\nevent: status_update_event\r\ndata: {}\r\n\r\n"};
  events.end = Status::Timeout("no data within 35000 ms");
  Script refused;
  refused.status = 0;
  refused.end = Status::Unavailable("connection refused");
  Script html405;
  html405.status = 405;
  html405.chunks = {"<html><body><h2>HTTP ERROR 405</h2></body></html>"};
  ScriptedStream http({redirect, events, refused, html405});
  std::atomic<bool> stop{false};
  http.stop_when_done = &stop;
  MarathonEndpoint ep;
  ep.urls = {"http://m1:8080", "http://m3:8080"};
  ep.basic_user = "u";
  ep.basic_password = "p";
  testing::FakeClock clock;
  MarathonEventStreamOptions o;
  o.clock = &clock;
  auto source = NewMarathonEventStream(ep, &http, o);
  Recorder rec;
  source->Run(stop, rec.Handler());

  ASSERT_EQ(http.requests.size(), 5u);
  EXPECT_EQ(http.requests[0].url, "http://m1:8080" + std::string(kMarathonEventsPath));
  EXPECT_EQ(http.requests[0].headers["Accept"], "text/event-stream");
  EXPECT_EQ(http.requests[0].headers["Authorization"], "Basic dTpw");
  EXPECT_EQ(http.requests[1].url, "http://m2:8080/v2/events?event_type=status_update_event");
  EXPECT_EQ(http.requests[1].headers["Authorization"], "Basic dTpw");  // resent to the leader
  EXPECT_EQ(http.requests[2].url.substr(0, 14), "http://m1:8080");     // after a drop: same URL
  EXPECT_EQ(http.requests[3].url.substr(0, 14), "http://m3:8080");     // refused: the next at once
  EXPECT_EQ(http.requests[4].url.substr(0, 14), "http://m1:8080");
  std::vector<std::string> expected = {
      "log marathon http://m1:8080: GET /v2/events: redirected to "
      "http://m2:8080/v2/events?event_type=status_update_event",
      "connected http://m2:8080",
      "event status_update_event t1 TASK_KILLING",
      "event health_status_changed_event i1 ",
      "log marathon http://m2:8080: GET /v2/events: event stream: status_update_event without a "
      "string taskId and taskStatus",
      "disconnected marathon http://m2:8080: GET /v2/events: no data within 35000 ms",
      "log marathon http://m1:8080: GET /v2/events: connection refused",
      "log marathon http://m3:8080: GET /v2/events: 405 Method Not Allowed",
  };
  ASSERT_GE(rec.what.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(rec.what[i], expected[i]) << i;
  // Waits: 500 ms after the drop, then 1000 ms once both URLs had failed.
  EXPECT_GE(clock.max_ms(), 1500);
  EXPECT_LT(clock.max_ms(), 1500 + 200);
}

}  // namespace
}  // namespace galley::clients
