// SPDX-License-Identifier: Apache-2.0
// server/metrics: the exposition format byte for byte, escaping, histograms, thread safety
// and galley's serve metrics.
#include "server/metrics.h"

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace galley::server {
namespace {

TEST(MetricsTest, CounterGaugeExposition) {
  Registry r;
  Counter& c = r.AddCounter("requests_total", "Requests.", {"code", "method"});
  c.Inc({"200", "GET"});
  c.Inc({"200", "GET"}, 2);
  c.Inc({"500", "POST"});
  c.Inc({"500", "POST"}, -5);  // ignored
  Gauge& g = r.AddGauge("galley_temperature", "A gauge.\nSecond line \\ here.");
  g.Set(1.5);
  EXPECT_EQ(r.Expose(),
            "# HELP galley_requests_total Requests.\n"
            "# TYPE galley_requests_total counter\n"
            "galley_requests_total{code=\"200\",method=\"GET\"} 3\n"
            "galley_requests_total{code=\"500\",method=\"POST\"} 1\n"
            "# HELP galley_temperature A gauge.\\nSecond line \\\\ here.\n"
            "# TYPE galley_temperature gauge\n"
            "galley_temperature 1.5\n");
  EXPECT_EQ(c.Value({"200", "GET"}), 3);
  EXPECT_EQ(c.Value({"404", "GET"}), 0);
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  Registry r;
  Gauge& g = r.AddGauge("drift", "Drift.", {"environment"});
  g.Set({"a\"b\\c\nd"}, 1);
  EXPECT_NE(r.Expose().find("galley_drift{environment=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos)
      << r.Expose();
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeHelp("say \"hi\""), "say \"hi\"");
}

TEST(MetricsTest, SampleValues) {
  EXPECT_EQ(FormatSampleValue(0), "0");
  EXPECT_EQ(FormatSampleValue(42), "42");
  EXPECT_EQ(FormatSampleValue(-3), "-3");
  EXPECT_EQ(FormatSampleValue(0.25), "0.25");
  EXPECT_EQ(FormatSampleValue(1714557600.5), "1714557600.5");
  EXPECT_EQ(FormatSampleValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatSampleValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatSampleValue(std::nan("")), "NaN");
  EXPECT_EQ(FormatSampleValue(1e20), "1e+20");
}

TEST(MetricsTest, Histogram) {
  Registry r;
  Histogram& h = r.AddHistogram("reconcile_duration_seconds", "Durations.", {0.5, 1, 2.5}, {"env"});
  h.Observe({"prod"}, 0.5);  // le is inclusive
  h.Observe({"prod"}, 0.7);
  h.Observe({"prod"}, 3);
  h.Observe({"prod"}, 100);
  EXPECT_EQ(r.Expose(),
            "# HELP galley_reconcile_duration_seconds Durations.\n"
            "# TYPE galley_reconcile_duration_seconds histogram\n"
            "galley_reconcile_duration_seconds_bucket{env=\"prod\",le=\"0.5\"} 1\n"
            "galley_reconcile_duration_seconds_bucket{env=\"prod\",le=\"1\"} 2\n"
            "galley_reconcile_duration_seconds_bucket{env=\"prod\",le=\"2.5\"} 2\n"
            "galley_reconcile_duration_seconds_bucket{env=\"prod\",le=\"+Inf\"} 4\n"
            "galley_reconcile_duration_seconds_sum{env=\"prod\"} 104.2\n"
            "galley_reconcile_duration_seconds_count{env=\"prod\"} 4\n");
  EXPECT_EQ(h.Count({"prod"}), 4u);
  EXPECT_DOUBLE_EQ(h.Sum({"prod"}), 104.2);
}

TEST(MetricsTest, FamiliesSortedAndReRegistrationReturnsTheSame) {
  Registry r;
  r.AddGauge("zeta", "z").Set(1);
  Counter& a = r.AddCounter("alpha_total", "a");
  Counter& again = r.AddCounter("galley_alpha_total", "a");
  EXPECT_EQ(&a, &again);
  std::string out = r.Expose();
  EXPECT_LT(out.find("galley_alpha_total"), out.find("galley_zeta"));
  // A family with no series still has HELP and TYPE.
  EXPECT_NE(out.find("# TYPE galley_alpha_total counter\n"), std::string::npos);
}

TEST(MetricsDeathTest, ProgrammingErrorsAbort) {
  EXPECT_DEATH(
      {
        Registry r;
        r.AddCounter("bad name", "x");
      },
      "invalid metric name");
  EXPECT_DEATH(
      {
        Registry r;
        r.AddCounter("x_total", "x", {"a"}).Inc({"1", "2"});
      },
      "2 label values for 1 labels");
  EXPECT_DEATH(
      {
        Registry r;
        r.AddCounter("x_total", "x");
        r.AddGauge("x_total", "x");
      },
      "registered twice");
  EXPECT_DEATH(
      {
        Registry r;
        r.AddHistogram("h", "x", {1, 1});
      },
      "strictly ascending");
}

TEST(MetricsTest, ConcurrentUpdatesAndExposition) {
  Registry r;
  Counter& c = r.AddCounter("hits_total", "h", {"t"});
  Histogram& h = r.AddHistogram("d_seconds", "d", {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        c.Inc({std::to_string(t % 2)});
        h.Observe(0.5);
        if (i % 500 == 0) (void)r.Expose();  // only that it does not race
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(c.Value({"0"}) + c.Value({"1"}), 20000);
  EXPECT_EQ(h.Count(), 20000u);
}

TEST(MetricsTest, ServeMetrics) {
  Registry r;
  ServeMetrics m(r);
  m.Reconcile(ServeMetrics::kResultApplied, std::chrono::milliseconds(1500));
  m.Reconcile(ServeMetrics::kResultNoChanges, std::chrono::milliseconds(200));
  m.SetDrift({{{"prod", "marathon-app"}, 2}, {{"staging", "consul-kv"}, 1}});
  m.SetDrift({{{"prod", "marathon-app"}, 1}});  // staging's drift is gone
  m.ApplyAction("app-update", "succeeded");
  m.WebhookDelivery("github", "accepted");
  m.SetLeader(true);
  m.SetLastSuccess(std::chrono::system_clock::time_point(std::chrono::seconds(1714557600)));
  m.SetFlapping(2);
  m.Notification("sent");
  std::string out = r.Expose();
  for (const char* line : {
           "galley_reconciles_total{result=\"applied\"} 1\n",
           "galley_reconciles_total{result=\"no_changes\"} 1\n",
           "galley_reconcile_duration_seconds_bucket{le=\"0.25\"} 1\n",
           "galley_reconcile_duration_seconds_bucket{le=\"2.5\"} 2\n",
           "galley_reconcile_duration_seconds_count 2\n",
           "galley_reconcile_duration_seconds_sum 1.7\n",
           "galley_drift_resources{environment=\"prod\",kind=\"marathon-app\"} 1\n",
           "galley_apply_actions_total{kind=\"app-update\",outcome=\"succeeded\"} 1\n",
           "galley_webhook_deliveries_total{provider=\"github\",result=\"accepted\"} 1\n",
           "galley_webhook_deliveries_total{provider=\"gitlab\",result=\"replay\"} 0\n",
           "galley_leader 1\n",
           "galley_last_success_timestamp_seconds 1714557600\n",
           "galley_flapping_resources 2\n",
           "galley_notifications_total{result=\"sent\"} 1\n",
           "galley_notifications_total{result=\"dropped\"} 0\n",
       }) {
    EXPECT_NE(out.find(line), std::string::npos) << line << "\n" << out;
  }
  EXPECT_EQ(out.find("staging"), std::string::npos);
  // Every sample line's name starts with galley_.
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find('\n', start);
    std::string line = out.substr(start, end - start);
    if (line[0] != '#') {
      EXPECT_EQ(line.rfind("galley_", 0), 0u) << line;
    }
    start = end + 1;
  }
}

TEST(MetricsTest, MetricsResponse) {
  Registry r;
  r.AddGauge("up", "Up.").Set(1);
  net::HttpRequest get;
  get.method = "GET";
  get.path = "/metrics";
  net::HttpResponse resp = MetricsResponse(r, get);
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(resp.body, "# HELP galley_up Up.\n# TYPE galley_up gauge\ngalley_up 1\n");
  get.method = "POST";
  EXPECT_EQ(MetricsResponse(r, get).status, 405);
}

}  // namespace
}  // namespace galley::server
