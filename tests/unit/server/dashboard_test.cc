// SPDX-License-Identifier: Apache-2.0
// The dashboard's pure pieces (server/dashboard.h): cell states from the worker's JSON
// snapshots, the pages as HTML with hostile names and values escaped, the live-update
// document, the handler over a fake source (no sockets), and net/event_stream.h's wire format,
// stream slots and producer loop over a fake writer.
#include "server/dashboard.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "net/event_stream.h"
#include "server/dashboard_assets.h"

namespace galley::server {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

json Row(const std::string& s, const std::string& e, const std::string& state,
         bool deploying = false) {
  return json{{"service", s},
              {"environment", e},
              {"app", "/app/" + e + "/" + s},
              {"live", true},
              {"live_tag", "v1"},
              {"desired_tag", "v2"},
              {"instances", json{{"healthy", 1}, {"running", 1}, {"wanted", 1}, {"desired", 1}}},
              {"deploying", deploying},
              {"deployments", json::array()},
              {"state", state},
              {"details", json::array()}};
}

DashboardData Sample() {
  DashboardData d;
  d.status = json{{"platform", "demo"},
                  {"commit", "0123456789abcdef0123"},
                  {"checked_at", "2026-12-07T22:00:00Z"},
                  {"environments", {"production", "staging"}},
                  {"warnings", json::array()},
                  {"services",
                   {Row("api", "production", "pending"), Row("api", "staging", "in sync"),
                    Row("web", "production", "in sync"), Row("web", "staging", "paused"),
                    Row("db", "production", "failed"), Row("db", "staging", "in sync", true)}}};
  d.drift = json{{"drift",
                  {json{{"resource", "marathon-app:/app/production/web"},
                        {"service", "web"},
                        {"environment", "production"},
                        {"what", "changed"},
                        {"policy", "revert"},
                        {"first_seen", "2026-12-07T21:00:00Z"},
                        {"last_seen", "2026-12-07T22:00:00Z"},
                        {"fields", {json{{"path", "/instances"}, {"applied", 1}, {"live", 3}}}}}}}};
  d.plan = json{
      {"plan_id", "sha256:abc"},
      {"environments", {"production"}},
      {"actions",
       {json{
           {"id", "app:/app/production/api"},
           {"kind", "app-update"},
           {"reason", "desired-changed"},
           {"service", "api"},
           {"environment", "production"},
           {"target", "/app/production/api"},
           {"changes",
            {json{{"path", "/container/docker/image"}, {"before", "api:v1"}, {"after", "api:v2"}}}},
           {"notes", json::array()}}}}};
  d.events = json::array();
  d.agents = json{{"hosts", json::array()}};
  d.leader = true;
  d.version = 7;
  d.snapshot_version = 3;
  return d;
}

TEST(DashboardEscapeTest, EscapesMarkupQuotesAndInvisibleCharacters) {
  EXPECT_EQ(HtmlEscape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(HtmlEscape("a\nb\x1b"), "a?b?");
  EXPECT_EQ(HtmlEscape("x\xE2\x80\xAEy").find("\xE2\x80\xAE"), std::string::npos);
  EXPECT_EQ(HtmlEscapeLines("# plan\r\n<b>\n\n\x07"), "# plan\n&lt;b&gt;\n\n?");
}

TEST(DashboardGridTest, CellStatesFromStatusDriftAndPlan) {
  GridView g = BuildGrid(Sample());
  ASSERT_EQ(g.services, (std::vector<std::string>{"api", "web", "db"}));
  ASSERT_EQ(g.environments, (std::vector<std::string>{"production", "staging"}));
  EXPECT_EQ(g.At(0, 0), CellState::kPending);
  EXPECT_EQ(g.At(0, 1), CellState::kInSync);
  EXPECT_EQ(g.At(1, 0), CellState::kDrifted);  // in sync by status, but the drift report has it
  EXPECT_EQ(g.At(1, 1), CellState::kPaused);
  EXPECT_EQ(g.At(2, 0), CellState::kFailed);
  EXPECT_EQ(g.At(2, 1), CellState::kDeploying);  // a Marathon deployment at the observation
  EXPECT_EQ(g.manual, (std::vector<std::string>{"production"}));
  EXPECT_EQ(g.plan_id, "sha256:abc");
  EXPECT_EQ(g.plan_actions, 1u);
  EXPECT_EQ(g.counts[static_cast<int>(CellState::kInSync)], 1);
}

TEST(DashboardGridTest, AStepStartedByARunningApplyIsDeployingUntilItFinishes) {
  DashboardData d = Sample();
  d.applying = true;
  d.events = json::array({json{{"kind", "step-started"},
                               {"target", "/app/production/api"},
                               {"line", "deploying /app/production/api"}}});
  GridView g = BuildGrid(d);
  EXPECT_EQ(g.At(0, 0), CellState::kDeploying);
  EXPECT_EQ(g.activity, "deploying /app/production/api");
  d.events.push_back(json{{"kind", "step-finished"}, {"action", "app:/app/production/api"}});
  EXPECT_EQ(BuildGrid(d).At(0, 0), CellState::kPending);
  // Without a running apply, a started step left by an interrupted run means nothing.
  d.events.erase(d.events.size() - 1);
  d.applying = false;
  EXPECT_EQ(BuildGrid(d).At(0, 0), CellState::kPending);
}

TEST(DashboardGridTest, LayoutChangesWithTheServicesOnly) {
  DashboardData a = Sample(), b = Sample();
  b.status.Mut()["services"][0]["state"] = "in sync";
  EXPECT_EQ(BuildGrid(a).layout, BuildGrid(b).layout);
  b.status.Mut()["services"].push_back(Row("new", "production", "pending"));
  EXPECT_NE(BuildGrid(a).layout, BuildGrid(b).layout);
}

TEST(DashboardRenderTest, GridPageHasEveryCellAndTheApplyBarButNoToken) {
  DashboardData d = Sample();
  std::string html = RenderGridPage(d, BuildGrid(d));
  EXPECT_NE(html.find("<div id=\"grid\"><table class=\"gh\">"), std::string::npos);
  EXPECT_NE(html.find("<div class=\"chunk\"><table><tbody>"), std::string::npos);
  EXPECT_NE(html.find("<tr data-s=\"web\"><th>web</th><td class=\"s2\">drifted</td>"),
            std::string::npos);
  EXPECT_NE(html.find("data-plan-id=\"sha256:abc\""), std::string::npos);
  EXPECT_NE(html.find("id=\"leader\" class=\"leader\""), std::string::npos);
  EXPECT_NE(html.find("<th data-e=\"production\">production <small>manual</small>"),
            std::string::npos);
  EXPECT_EQ(html.find("Bearer"), std::string::npos);
  EXPECT_EQ(html.find("<script>"), std::string::npos);  // only galley's own script file
  d.leader = false;
  html = RenderGridPage(d, BuildGrid(d));
  EXPECT_NE(html.find("read-only (not the leader)"), std::string::npos);
  EXPECT_NE(html.find("<button id=\"apply\" type=\"button\" disabled>"), std::string::npos);
}

TEST(DashboardRenderTest, HostileNamesAndValuesAreEscapedEverywhere) {
  const std::string evil = "<script>alert(1)</script>\"'&\xE2\x80\xAE";
  DashboardData d = Sample();
  d.status.Mut()["platform"] = evil;
  d.status.Mut()["services"].push_back(Row(evil, "production", "drifted"));
  d.status.Mut()["services"][6]["details"] = {evil};
  d.drift.Mut()["drift"].push_back(
      json{{"resource", evil},
           {"service", evil},
           {"environment", "production"},
           {"what", evil},
           {"policy", "report"},
           {"fields", {json{{"path", evil}, {"applied", evil}, {"live", json{{"k", evil}}}}}}});
  d.plan.Mut()["actions"].push_back(json{{"id", evil},
                                         {"kind", evil},
                                         {"reason", evil},
                                         {"service", evil},
                                         {"environment", "production"},
                                         {"changes", {json{{"path", evil}, {"after", evil}}}},
                                         {"notes", {evil}}});
  d.agents = json{{"hosts",
                   {json{{"node", evil},
                         {"instance", evil},
                         {"state", "failed"},
                         {"servers", json{{evil, 1}}},
                         {"hand_changes", {evil}},
                         {"detail", evil}}}}};
  json runs =
      json::array({json{{"id", 5}, {"kind", "apply"}, {"trigger", evil}, {"outcome", evil}}});
  std::vector<json> journals = {json{
      {"id", 5},
      {"journal", {json{{"resource", "production/" + evil}, {"kind", evil}, {"state", evil}}}}}};
  std::vector<std::string> pages = {
      RenderGridPage(d, BuildGrid(d)),
      RenderCellPage(d, evil, "production", runs, journals),
      RenderPlanPage(d, "# plan\n" + evil),
      RenderRunsPage(d, json{{"runs", runs}, {"reconciles", {json{{"message", evil}}}}}),
      RenderRunPage(d, json{{"id", evil}, {"who", evil}, {"journal", journals[0]["journal"]}}),
      RenderErrorPage(d, 404, evil)};
  for (const auto& html : pages) {
    EXPECT_EQ(html.find("<script>alert"), std::string::npos) << html;
    EXPECT_EQ(html.find("\"'&\xE2"), std::string::npos);
    EXPECT_EQ(html.find("\xE2\x80\xAE"), std::string::npos);  // the bidi override made visible
    EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"), std::string::npos)
        << html.substr(0, 3000);
  }
  // The cell page found the hostile service's drift, plan action, journal entry.
  const std::string& cell = pages[1];
  EXPECT_NE(cell.find("id=\"drift\""), std::string::npos);
  EXPECT_EQ(cell.find("No drift."), std::string::npos);
  EXPECT_EQ(cell.find("The kept plan has no action"), std::string::npos);
  EXPECT_NE(cell.find("Journal entries for it"), std::string::npos);
}

TEST(DashboardRenderTest, CellPageShowsFieldDiffsFirstLastSeenAndPlanActions) {
  DashboardData d = Sample();
  std::string web = RenderCellPage(d, "web", "production", json::array(), {});
  EXPECT_NE(web.find("<code>/instances</code>"), std::string::npos);
  EXPECT_NE(web.find("first seen 2026-12-07T21:00:00Z"), std::string::npos);
  EXPECT_NE(web.find("last seen 2026-12-07T22:00:00Z"), std::string::npos);
  EXPECT_NE(web.find("class=\"badge s2\">drifted"), std::string::npos);
  std::string api = RenderCellPage(d, "api", "production", json::array(), {});
  EXPECT_NE(api.find("app:/app/production/api"), std::string::npos);
  EXPECT_NE(api.find("api:v2"), std::string::npos);
  EXPECT_NE(api.find("id=\"applybar\""), std::string::npos);
  std::string staging = RenderCellPage(d, "api", "staging", json::array(), {});
  EXPECT_NE(staging.find("applied automatically"), std::string::npos);
}

TEST(DashboardRenderTest, RowsComeInChunksOfAHundredInServiceOrder) {
  DashboardData d = Sample();
  json rows = json::array();
  for (int i = 0; i < 250; ++i) {
    char name[16];
    snprintf(name, sizeof name, "svc-%03d", i);
    rows.push_back(Row(name, "production", "in sync"));
  }
  d.status.Mut()["services"] = rows;
  std::string html = RenderGridPage(d, BuildGrid(d));
  size_t chunks = 0;
  for (size_t at = html.find("class=\"chunk\""); at != std::string::npos;
       at = html.find("class=\"chunk\"", at + 1))
    ++chunks;
  EXPECT_EQ(chunks, 3u);
  size_t a = html.find("data-s=\"svc-099\""), b = html.find("data-s=\"svc-100\"");
  ASSERT_NE(a, std::string::npos);
  ASSERT_NE(b, std::string::npos);
  EXPECT_NE(html.substr(a, b - a).find("</tbody></table></div>\n<div class=\"chunk\">"),
            std::string::npos);
  EXPECT_LT(html.find("data-s=\"svc-249\""), html.rfind("</tbody></table></div></div>"));
}

TEST(DashboardRenderTest, OnlyAFewWarningsAreShown) {
  DashboardData d = Sample();
  for (int i = 0; i < 1000; ++i)
    d.status.Mut()["warnings"].push_back("warning " + std::to_string(i));
  std::string html = RenderGridPage(d, BuildGrid(d));
  EXPECT_NE(html.find("warning 4<"), std::string::npos);
  EXPECT_EQ(html.find("warning 5<"), std::string::npos);
  EXPECT_NE(html.find("and 995 more warnings"), std::string::npos);
}

TEST(DashboardRenderTest, FirstAndLastSeenFromTheStoreWhenTheReportHasNone) {
  DashboardData d = Sample();
  d.drift.Mut()["drift"][0].erase("first_seen");
  d.drift.Mut()["drift"][0].erase("last_seen");
  json records = json::array({json{{"resource", "marathon-app:/app/production/web"},
                                   {"first_seen", "2026-12-01T10:00:00Z"},
                                   {"last_seen", "2026-12-07T21:59:00Z"}}});
  std::string web = RenderCellPage(d, "web", "production", json::array(), {}, records);
  EXPECT_NE(web.find("first seen 2026-12-01T10:00:00Z"), std::string::npos);
  EXPECT_NE(web.find("last seen 2026-12-07T21:59:00Z"), std::string::npos);
  web = RenderCellPage(d, "web", "production", json::array(), {});
  EXPECT_NE(web.find("first seen 2026-12-07T22:00:00Z (this observation)"), std::string::npos);
}

TEST(DashboardRenderTest, AHugePlanShowsItsFirstMiB) {
  DashboardData d = Sample();
  std::string md;
  while (md.size() < (3u << 20)) md += "| app-create | /app/production/x |\n";
  std::string html = RenderPlanPage(d, md);
  EXPECT_LT(html.size(), 2u << 20);
  EXPECT_NE(html.find("the first 1024 KiB are shown"), std::string::npos);
  EXPECT_EQ(RenderPlanPage(d, "# small\n").find("KiB are shown"), std::string::npos);
}

TEST(DashboardRenderTest, CellsJsonIsOneDigitPerCell) {
  DashboardData d = Sample();
  json c = CellsJson(d, BuildGrid(d));
  EXPECT_EQ(c["states"], "102534");  // pending, in sync, drifted, paused, failed, deploying
  EXPECT_EQ(c["version"], 7);
  EXPECT_EQ(c["snapshot"], 3);
  EXPECT_EQ(c["plan"]["id"], "sha256:abc");
  EXPECT_EQ(c["counts"]["drifted"], 1);
}

TEST(DashboardRenderTest, NoObservationYetSaysSo) {
  DashboardData d;
  std::string html = RenderGridPage(d, BuildGrid(d));
  EXPECT_NE(html.find("No observation yet"), std::string::npos);
  EXPECT_EQ(CellsJson(d, BuildGrid(d))["layout"], "");
}

// --- the handler over a fake source ------------------------------------------------------

struct Fake {
  DashboardData data = Sample();
  std::atomic<uint64_t> version{7};
  int data_calls = 0;
  DashboardSource Source() {
    DashboardSource s;
    s.data = [this] {
      ++data_calls;
      DashboardData d = data;
      d.version = version.load();
      return d;
    };
    s.snapshot_version = [this] { return data.snapshot_version; };
    s.live = [this](DashboardData& d) {
      d.version = version.load();
      d.applying = data.applying;
      d.leader = data.leader;
    };
    s.version = [this] { return version.load(); };
    s.wait_change = [this](uint64_t seen, milliseconds wait) {
      auto end = std::chrono::steady_clock::now() + wait;
      while (version.load() == seen && std::chrono::steady_clock::now() < end)
        std::this_thread::sleep_for(milliseconds(5));
      return version.load();
    };
    s.api = [](const net::HttpRequest& r) {
      if (r.path == "/api/v1/runs")
        return net::HttpResponse::Json(200, R"({"runs": [{"id": 9, "kind": "apply"}]})");
      if (r.path == "/api/v1/runs/9")
        return net::HttpResponse::Json(
            200, R"({"id": 9, "kind": "apply", "journal": [{"resource": "x/production/api",
                   "state": "applied", "kind": "app-update"}]})");
      return net::HttpResponse::Json(404, "{}");
    };
    return s;
  }
};

net::HttpRequest Get(const std::string& target) {
  net::HttpRequest r;
  r.method = "GET";
  r.target = target;
  r.path = net::PercentDecode(target.substr(0, target.find('?')));
  return r;
}

TEST(DashboardHandlerTest, PagesAssetsAndErrors) {
  Fake f;
  Dashboard dash(f.Source());
  auto grid = dash.Handle(Get("/"));
  EXPECT_EQ(grid.status, 200);
  EXPECT_EQ(grid.headers["Content-Type"], "text/html; charset=utf-8");
  EXPECT_NE(grid.headers["Content-Security-Policy"].find("script-src 'self'"), std::string::npos);
  auto cell = dash.Handle(Get("/ui/service/api/production"));
  EXPECT_EQ(cell.status, 200);
  EXPECT_NE(cell.body.find("Journal entries for it"), std::string::npos);
  EXPECT_NE(cell.body.find("/ui/run/9"), std::string::npos);
  EXPECT_EQ(dash.Handle(Get("/ui/service/nope/production")).status, 404);
  EXPECT_EQ(dash.Handle(Get("/ui/service/api")).status, 404);
  EXPECT_EQ(dash.Handle(Get("/ui/run/9")).status, 200);
  EXPECT_EQ(dash.Handle(Get("/ui/run/9;drop")).status, 400);
  EXPECT_EQ(dash.Handle(Get("/ui/run/10")).status, 404);
  EXPECT_EQ(dash.Handle(Get("/ui/runs")).status, 200);
  EXPECT_EQ(dash.Handle(Get("/ui/nothing")).status, 404);
  auto js = dash.Handle(Get("/ui/assets/app.js"));
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.headers["Content-Type"], "text/javascript; charset=utf-8");
  EXPECT_NE(js.body.find("EventSource"), std::string::npos);
  EXPECT_EQ(dash.Handle(Get("/ui/assets/../server.cc")).status, 404);
  ASSERT_TRUE(DashboardAsset("style.css").has_value());
  EXPECT_FALSE(DashboardAsset("nope.js").has_value());
}

TEST(DashboardHandlerTest, TheGridIsCachedPerSnapshotVersion) {
  Fake f;
  Dashboard dash(f.Source());
  std::string first = dash.Handle(Get("/")).body;
  f.data.status.Mut()["services"][0]["state"] =
      "in sync";  // same snapshot version: the cached page
  EXPECT_EQ(dash.Handle(Get("/")).body, first);
  f.data.snapshot_version = 4;
  std::string next = dash.Handle(Get("/")).body;
  EXPECT_NE(next, first);
  EXPECT_NE(next.find("<tr data-s=\"api\"><th>api</th><td class=\"s0\">in sync"),
            std::string::npos);
}

TEST(DashboardHandlerTest, PlanPageRendersTheKeptPlanAsMarkdownOrSaysWhyNot) {
  Fake f;
  f.data.plan.Mut()["galley_plan"] = 99;  // not a plan document galley can read
  Dashboard dash(f.Source());
  auto page = dash.Handle(Get("/ui/plan"));
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("cannot be shown"), std::string::npos);
  f.data.plan = json();  // read again only with a new snapshot version
  EXPECT_NE(dash.Handle(Get("/ui/plan")).body.find("cannot be shown"), std::string::npos);
  f.data.snapshot_version = 4;
  EXPECT_NE(dash.Handle(Get("/ui/plan")).body.find("No plan yet"), std::string::npos);
}

// A StreamWriter collecting what is written; done after `limit` writes or when told.
class FakeWriter : public net::StreamWriter {
 public:
  explicit FakeWriter(size_t limit) : limit_(limit) {}
  bool Write(std::string_view data) override {
    std::lock_guard<std::mutex> lock(mu_);
    out_.emplace_back(data);
    return true;
  }
  bool Done() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return stop_ || out_.size() >= limit_;
  }
  void Stop() {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  std::vector<std::string> out() const {
    std::lock_guard<std::mutex> lock(mu_);
    return out_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> out_;
  size_t limit_;
  bool stop_ = false;
};

TEST(DashboardHandlerTest, EventsSayHelloThenOneChangePerBurst) {
  Fake f;
  DashboardOptions o;
  o.coalesce = milliseconds(50);
  o.stream.poll = milliseconds(20);
  Dashboard dash(f.Source(), o);
  auto r = dash.Handle(Get("/ui/events"));
  ASSERT_TRUE(r.stream);
  EXPECT_EQ(r.headers["Content-Type"], "text/event-stream; charset=utf-8");
  FakeWriter w(3);  // retry, hello, one change
  std::thread producer([&] { r.stream(w); });
  std::this_thread::sleep_for(milliseconds(60));
  for (int i = 0; i < 20; ++i) ++f.version;  // a burst of executor events
  producer.join();
  auto out = w.out();
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], "retry: 2000\n\n");
  EXPECT_EQ(out[1], "event: hello\nid: 7\ndata: {\"version\":7}\n\n");
  EXPECT_EQ(out[2].rfind("event: change\n", 0), 0u) << out[2];
}

// --- net/event_stream.h ------------------------------------------------------------------

TEST(EventStreamTest, MessageFormatSplitsDataLinesAndKeepsFieldsOnOneLine) {
  EXPECT_EQ(net::SseMessage("change", "{}"), "event: change\ndata: {}\n\n");
  EXPECT_EQ(net::SseMessage("", "a\nb\r\nc\rd", "1"),
            "id: 1\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
  EXPECT_EQ(net::SseMessage("x\ny", "", "2\r3"), "event: x y\nid: 2 3\ndata: \n\n");
}

TEST(EventStreamTest, SlotsAreBoundedAndGivenBack) {
  net::StreamSlots slots(2);
  auto a = slots.TryAcquire(), b = slots.TryAcquire();
  EXPECT_TRUE(a && b);
  EXPECT_EQ(slots.TryAcquire(), nullptr);
  auto full = net::EventStreamResponse(slots, {}, [](milliseconds) { return std::string(); });
  EXPECT_EQ(full.status, 503);
  EXPECT_FALSE(full.stream);
  EXPECT_EQ(full.headers["Retry-After"], "5");
  a.reset();
  EXPECT_EQ(slots.active(), 1u);
  {
    auto ok = net::EventStreamResponse(slots, {}, [](milliseconds) { return std::string(); });
    EXPECT_TRUE(ok.stream);
    EXPECT_EQ(slots.active(), 2u);  // held by the response's producer
  }
  EXPECT_EQ(slots.active(), 1u);  // a response never streamed gives its slot back
}

TEST(EventStreamTest, HeartbeatsWhenQuietAndEndsWhenDone) {
  FakeWriter w(4);
  net::EventStreamOptions o;
  o.poll = milliseconds(5);
  o.heartbeat = milliseconds(20);
  auto t0 = std::chrono::steady_clock::now();
  size_t n = net::RunEventStream(w, o, [](milliseconds wait) {
    std::this_thread::sleep_for(wait);
    return std::string();
  });
  EXPECT_EQ(n, 0u);
  auto out = w.out();
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[1], ": keep-alive\n\n");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

TEST(EventStreamTest, StopEndsAWaitingStreamWithinAPoll) {
  FakeWriter w(1000);
  net::EventStreamOptions o;
  o.poll = milliseconds(20);
  std::thread producer([&] {
    net::RunEventStream(w, o, [](milliseconds wait) {
      std::this_thread::sleep_for(wait);
      return std::string();
    });
  });
  std::this_thread::sleep_for(milliseconds(50));
  auto t0 = std::chrono::steady_clock::now();
  w.Stop();
  producer.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(500));
}

}  // namespace
}  // namespace galley::server
