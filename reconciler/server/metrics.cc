// SPDX-License-Identifier: Apache-2.0
#include "server/metrics.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace galley::server {
namespace {

bool ValidName(std::string_view name, bool label) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (!label && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return !(label && name.size() >= 2 && name[0] == '_' && name[1] == '_');  // reserved
}

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "galley metrics: %s\n", what.c_str());
  std::abort();
}

std::string Prefixed(std::string_view name) {
  static constexpr std::string_view kPrefix = "galley_";
  std::string out;
  if (name.substr(0, kPrefix.size()) != kPrefix) out.append(kPrefix);
  out.append(name);
  return out;
}

void AppendLabels(std::string& out, const std::vector<std::string>& names,
                  const LabelValues& values, const char* extra_name = nullptr,
                  const std::string& extra_value = "") {
  if (names.empty() && !extra_name) return;
  out += '{';
  bool first = true;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += names[i];
    out += "=\"";
    out += EscapeLabelValue(values[i]);
    out += '"';
  }
  if (extra_name) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

}  // namespace

std::string EscapeLabelValue(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatSampleValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

MetricFamily::MetricFamily(MetricType type, std::string name, std::string help,
                           std::vector<std::string> label_names, std::vector<double> buckets)
    : type_(type),
      name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      buckets_(std::move(buckets)) {}

MetricFamily::Series& MetricFamily::At(const LabelValues& labels) {
  if (labels.size() != label_names_.size()) {
    Fail(name_ + ": " + std::to_string(labels.size()) + " label values for " +
         std::to_string(label_names_.size()) + " labels");
  }
  auto it = series_.find(labels);
  if (it == series_.end()) {
    it = series_.emplace(labels, Series{}).first;
    if (type_ == MetricType::kHistogram) it->second.counts.assign(buckets_.size() + 1, 0);
  }
  return it->second;
}

void MetricFamily::Expose(std::string& out) const {
  static const char* kTypes[] = {"counter", "gauge", "histogram"};
  out += "# HELP " + name_ + " " + EscapeHelp(help_) + "\n";
  out += "# TYPE " + name_ + " " + kTypes[static_cast<int>(type_)] + "\n";
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [labels, s] : series_) {
    if (type_ != MetricType::kHistogram) {
      out += name_;
      AppendLabels(out, label_names_, labels);
      out += ' ' + FormatSampleValue(s.value) + '\n';
      continue;
    }
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= buckets_.size(); ++i) {
      cumulative += s.counts[i];
      out += name_ + "_bucket";
      AppendLabels(out, label_names_, labels, "le",
                   i < buckets_.size() ? FormatSampleValue(buckets_[i]) : "+Inf");
      out += ' ' + std::to_string(cumulative) + '\n';
    }
    out += name_ + "_sum";
    AppendLabels(out, label_names_, labels);
    out += ' ' + FormatSampleValue(s.sum) + '\n';
    out += name_ + "_count";
    AppendLabels(out, label_names_, labels);
    out += ' ' + std::to_string(s.count) + '\n';
  }
}

void Counter::Inc(const LabelValues& labels, double by) {
  std::lock_guard<std::mutex> l(mu_);
  Series& s = At(labels);
  if (by > 0) s.value += by;
}

double Counter::Value(const LabelValues& labels) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = series_.find(labels);
  return it == series_.end() ? 0 : it->second.value;
}

void Gauge::Set(const LabelValues& labels, double value) {
  std::lock_guard<std::mutex> l(mu_);
  At(labels).value = value;
}

void Gauge::Add(const LabelValues& labels, double by) {
  std::lock_guard<std::mutex> l(mu_);
  At(labels).value += by;
}

void Gauge::ReplaceAll(const std::map<LabelValues, double>& values) {
  std::lock_guard<std::mutex> l(mu_);
  series_.clear();
  for (const auto& [labels, v] : values) At(labels).value = v;
}

double Gauge::Value(const LabelValues& labels) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = series_.find(labels);
  return it == series_.end() ? 0 : it->second.value;
}

void Histogram::Observe(const LabelValues& labels, double value) {
  std::lock_guard<std::mutex> l(mu_);
  Series& s = At(labels);
  size_t i = 0;
  while (i < buckets_.size() && !(value <= buckets_[i])) ++i;
  ++s.counts[i];
  s.sum += value;
  ++s.count;
}

uint64_t Histogram::Count(const LabelValues& labels) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = series_.find(labels);
  return it == series_.end() ? 0 : it->second.count;
}

double Histogram::Sum(const LabelValues& labels) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = series_.find(labels);
  return it == series_.end() ? 0 : it->second.sum;
}

MetricFamily& Registry::Add(MetricType type, std::string name, std::string help,
                            std::vector<std::string> labels, std::vector<double> buckets) {
  name = Prefixed(std::move(name));
  if (!ValidName(name, false)) Fail("invalid metric name \"" + name + "\"");
  for (const auto& l : labels) {
    if (!ValidName(l, true) || (type == MetricType::kHistogram && l == "le")) {
      Fail(name + ": invalid label name \"" + l + "\"");
    }
  }
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (!std::isfinite(buckets[i]) || (i > 0 && !(buckets[i - 1] < buckets[i]))) {
      Fail(name + ": buckets must be finite and strictly ascending");
    }
  }
  std::lock_guard<std::mutex> l(mu_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    if (it->second->type() != type || it->second->label_names() != labels) {
      Fail(name + ": registered twice with different types or labels");
    }
    return *it->second;
  }
  std::unique_ptr<MetricFamily> f;
  switch (type) {
    case MetricType::kCounter:
      f = std::make_unique<Counter>(type, name, std::move(help), std::move(labels));
      break;
    case MetricType::kGauge:
      f = std::make_unique<Gauge>(type, name, std::move(help), std::move(labels));
      break;
    case MetricType::kHistogram:
      f = std::make_unique<Histogram>(type, name, std::move(help), std::move(labels),
                                      std::move(buckets));
      break;
  }
  MetricFamily& ref = *f;
  families_.emplace(name, std::move(f));
  return ref;
}

Counter& Registry::AddCounter(std::string name, std::string help, std::vector<std::string> labels) {
  return static_cast<Counter&>(
      Add(MetricType::kCounter, std::move(name), std::move(help), std::move(labels), {}));
}

Gauge& Registry::AddGauge(std::string name, std::string help, std::vector<std::string> labels) {
  return static_cast<Gauge&>(
      Add(MetricType::kGauge, std::move(name), std::move(help), std::move(labels), {}));
}

Histogram& Registry::AddHistogram(std::string name, std::string help, std::vector<double> buckets,
                                  std::vector<std::string> labels) {
  return static_cast<Histogram&>(Add(MetricType::kHistogram, std::move(name), std::move(help),
                                     std::move(labels), std::move(buckets)));
}

std::string Registry::Expose() const {
  std::string out;
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [name, family] : families_) family->Expose(out);
  return out;
}

net::HttpResponse MetricsResponse(const Registry& registry, const net::HttpRequest& request) {
  if (request.method != "GET" && request.method != "HEAD") {
    net::HttpResponse r = net::HttpResponse::Text(405, "GET only\n");
    r.headers["Allow"] = "GET, HEAD";
    return r;
  }
  return net::HttpResponse::Text(200, registry.Expose(), Registry::kContentType);
}

std::vector<double> ServeMetrics::DurationBuckets() {
  return {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
}

ServeMetrics::ServeMetrics(Registry& registry)
    : reconciles(registry.AddCounter(kReconciles, "Reconciles finished, by result.", {"result"})),
      reconcile_duration(registry.AddHistogram(
          kReconcileDuration, "Time a reconcile took, from trigger to result, in seconds.",
          DurationBuckets())),
      plan_duration(registry.AddHistogram(
          kPlanDuration, "Time observing every environment and planning took, in seconds.",
          DurationBuckets())),
      apply_duration(registry.AddHistogram(
          kApplyDuration, "Time applying (the reconcile workflow) took, in seconds.",
          DurationBuckets())),
      drift(registry.AddGauge(kDrift, "Resources drifted from Git now, by environment and kind.",
                              {"environment", "kind"})),
      apply_actions(registry.AddCounter(kApplyActions, "Plan actions applied, by kind and outcome.",
                                        {"kind", "outcome"})),
      webhook_deliveries(registry.AddCounter(kWebhookDeliveries,
                                             "Webhook deliveries received, by provider and result.",
                                             {"provider", "result"})),
      leader(registry.AddGauge(kLeader, "1 while this galley serve is the platform's leader.")),
      last_success(registry.AddGauge(
          kLastSuccess, "Unix time of the last reconcile that ended without an error.")),
      flapping(registry.AddGauge(kFlapping, "Resources left alone as flapping.")),
      notifications(registry.AddCounter(
          kNotifications, "Notifications by result: sent, failed (gave up), dropped (queue full).",
          {"result"})) {
  for (const char* provider : {"github", "gitlab", "gitea", "generic"}) {
    for (const char* result : {"accepted", "ignored", "unsupported_event", "bad_signature",
                               "malformed", "replay", "too_large"}) {
      webhook_deliveries.Inc({provider, result}, 0);
    }
  }
  for (const char* result : {"sent", "failed", "dropped"}) notifications.Inc({result}, 0);
  leader.Set(0);
  last_success.Set(0);
  flapping.Set(0);
}

void ServeMetrics::Reconcile(std::string_view result, std::chrono::duration<double> took) {
  reconciles.Inc({std::string(result)});
  reconcile_duration.Observe(took.count());
}

void ServeMetrics::SetDrift(const std::map<std::pair<std::string, std::string>, double>& values) {
  std::map<LabelValues, double> series;
  for (const auto& [key, v] : values) series[{key.first, key.second}] = v;
  drift.ReplaceAll(series);
}

void ServeMetrics::ApplyAction(std::string_view kind, std::string_view outcome) {
  apply_actions.Inc({std::string(kind), std::string(outcome)});
}

void ServeMetrics::WebhookDelivery(std::string_view provider, std::string_view result) {
  webhook_deliveries.Inc({std::string(provider), std::string(result)});
}

void ServeMetrics::SetLeader(bool is_leader) { leader.Set(is_leader ? 1 : 0); }

void ServeMetrics::SetLastSuccess(std::chrono::system_clock::time_point when) {
  last_success.Set(std::chrono::duration<double>(when.time_since_epoch()).count());
}

void ServeMetrics::SetFlapping(size_t resources) { flapping.Set(static_cast<double>(resources)); }

void ServeMetrics::Notification(std::string_view result, double by) {
  notifications.Inc({std::string(result)}, by);
}

}  // namespace galley::server
