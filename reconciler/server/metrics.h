// SPDX-License-Identifier: Apache-2.0
// A small Prometheus registry for `galley serve`'s /metrics (issue #13): counter and gauge
// families with label sets, histograms with fixed buckets, and the text exposition format
// 0.0.4 (HELP and TYPE lines, label values escaped, `_bucket{le="…"}` including "+Inf",
// `_sum`, `_count`) that `promtool check metrics` accepts. Every metric name starts with
// `galley_` (added when missing). Families and series come out sorted, so the output is
// deterministic.
// ServeMetrics defines galley's metrics (names in the k* constants) with one helper each.
// Registering a name twice returns the first family when the type and labels agree, and
// aborts otherwise (a programming error, like a malformed name or a wrong label count).
// Thread-safety: everything is thread-safe; a family reference lives as long as its Registry.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/http_types.h"

namespace galley::server {

// Label values in the family's label-name order.
using LabelValues = std::vector<std::string>;

enum class MetricType { kCounter, kGauge, kHistogram };

class Registry;

class MetricFamily {
 public:
  MetricFamily(MetricType type, std::string name, std::string help,
               std::vector<std::string> label_names, std::vector<double> buckets = {});
  MetricType type() const { return type_; }
  const std::string& name() const { return name_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  // Appends this family's HELP, TYPE and samples.
  void Expose(std::string& out) const;

 protected:
  struct Series {
    double value = 0;              // counter or gauge
    std::vector<uint64_t> counts;  // histogram: per bucket (not cumulative), +Inf last
    double sum = 0;
    uint64_t count = 0;
  };
  Series& At(const LabelValues& labels);  // mu_ held
  mutable std::mutex mu_;
  std::map<LabelValues, Series> series_;
  const MetricType type_;
  const std::string name_, help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> buckets_;  // upper bounds, ascending, without +Inf
};

class Counter : public MetricFamily {
 public:
  using MetricFamily::MetricFamily;
  // Adds `by` (>= 0; a negative amount is ignored: counters only go up).
  void Inc(const LabelValues& labels = {}, double by = 1);
  double Value(const LabelValues& labels = {}) const;  // 0 for a series not seen
};

class Gauge : public MetricFamily {
 public:
  using MetricFamily::MetricFamily;
  void Set(const LabelValues& labels, double value);
  void Set(double value) { Set({}, value); }
  void Add(const LabelValues& labels, double by);
  // Replaces every series at once (drift by environment and kind after each reconcile:
  // combinations that went away disappear instead of keeping their last value).
  void ReplaceAll(const std::map<LabelValues, double>& values);
  double Value(const LabelValues& labels = {}) const;
};

class Histogram : public MetricFamily {
 public:
  using MetricFamily::MetricFamily;
  void Observe(const LabelValues& labels, double value);
  void Observe(double value) { Observe({}, value); }
  uint64_t Count(const LabelValues& labels = {}) const;
  double Sum(const LabelValues& labels = {}) const;
};

class Registry {
 public:
  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

  Counter& AddCounter(std::string name, std::string help, std::vector<std::string> labels = {});
  Gauge& AddGauge(std::string name, std::string help, std::vector<std::string> labels = {});
  // `buckets`: upper bounds, strictly ascending, finite ("+Inf" is implicit).
  Histogram& AddHistogram(std::string name, std::string help, std::vector<double> buckets,
                          std::vector<std::string> labels = {});

  // The text exposition format 0.0.4, families sorted by name.
  std::string Expose() const;

 private:
  MetricFamily& Add(MetricType type, std::string name, std::string help,
                    std::vector<std::string> labels, std::vector<double> buckets);
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<MetricFamily>> families_;
};

// A label value or HELP text as the format wants it: backslash, double quote (label values
// only) and newline escaped.
std::string EscapeLabelValue(std::string_view s);
std::string EscapeHelp(std::string_view s);
// A sample value: integers without a fraction, "+Inf", "-Inf", "NaN", else shortest
// round-trip decimal.
std::string FormatSampleValue(double v);

// GET /metrics: the registry's exposition (any other method: 405).
net::HttpResponse MetricsResponse(const Registry& registry, const net::HttpRequest& request);

// galley serve's metrics. Each helper is thread-safe and cheap (one lock).
class ServeMetrics {
 public:
  static constexpr const char* kReconciles = "galley_reconciles_total";  // {result}
  static constexpr const char* kReconcileDuration = "galley_reconcile_duration_seconds";
  static constexpr const char* kPlanDuration = "galley_plan_duration_seconds";
  static constexpr const char* kApplyDuration = "galley_apply_duration_seconds";
  static constexpr const char* kDrift = "galley_drift_resources";             // {environment, kind}
  static constexpr const char* kApplyActions = "galley_apply_actions_total";  // {kind, outcome}
  static constexpr const char* kWebhookDeliveries =
      "galley_webhook_deliveries_total";  // {provider, result}
  static constexpr const char* kLeader = "galley_leader";
  static constexpr const char* kLastSuccess = "galley_last_success_timestamp_seconds";
  static constexpr const char* kFlapping = "galley_flapping_resources";
  static constexpr const char* kNotifications = "galley_notifications_total";  // {result}

  // Reconcile results (the serve core maps engine::ReconcileResult onto these).
  static constexpr const char* kResultNoChanges = "no_changes";
  static constexpr const char* kResultApplied = "applied";
  static constexpr const char* kResultPlanned = "planned";  // manual sync: planned, not applied
  static constexpr const char* kResultIncomplete = "incomplete";
  static constexpr const char* kResultFailed = "failed";
  static constexpr const char* kResultLockHeld = "lock_held";
  static constexpr const char* kResultStalePlan = "stale_plan";
  static constexpr const char* kResultHeldBack = "held_back";

  // Reconcile duration buckets, seconds.
  static std::vector<double> DurationBuckets();

  // Registers the families in `registry` and creates the series known in advance (webhook
  // deliveries per provider × result, leader, last success, flapping) at 0.
  explicit ServeMetrics(Registry& registry);

  void Reconcile(std::string_view result, std::chrono::duration<double> took);
  // Drift now: (environment, kind) → number of drifted resources; replaces the previous set.
  void SetDrift(const std::map<std::pair<std::string, std::string>, double>& drift);
  void ApplyAction(std::string_view kind, std::string_view outcome);
  void WebhookDelivery(std::string_view provider, std::string_view result);
  void SetLeader(bool leader);
  void SetLastSuccess(std::chrono::system_clock::time_point when);
  void SetFlapping(size_t resources);
  // result: sent, failed (gave up after retries), dropped (queue full).
  void Notification(std::string_view result, double by = 1);

  Counter& reconciles;
  Histogram& reconcile_duration;
  Histogram& plan_duration;   // the observation and plan of every environment
  Histogram& apply_duration;  // the workflow of the applied environments (and API applies)
  Gauge& drift;
  Counter& apply_actions;
  Counter& webhook_deliveries;
  Gauge& leader;
  Gauge& last_success;
  Gauge& flapping;
  Counter& notifications;
};

}  // namespace galley::server
