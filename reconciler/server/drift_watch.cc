// SPDX-License-Identifier: Apache-2.0
#include "server/drift_watch.h"

#include <algorithm>
#include <set>

namespace galley::server {

void Debouncer::Signal(TimePoint now) {
  if (!first_) first_ = now;
  TimePoint due = now + delay_;
  TimePoint cap = *first_ + max_delay_;
  due_ = std::min(due, cap);
  ++signals_;
}

bool Debouncer::Fire(TimePoint now) {
  if (!due_ || now < *due_) return false;
  first_.reset();
  due_.reset();
  signals_ = 0;
  return true;
}

bool ManagedApp(const std::string& app_id, const std::vector<std::string>& app_prefixes) {
  for (const auto& p : app_prefixes) {
    if (!p.empty() && app_id.compare(0, p.size(), p) == 0) return true;
  }
  return false;
}

std::string KvWatchTarget(const std::string& kv_prefix) {
  std::string p = kv_prefix;
  while (!p.empty() && p.front() == '/') p.erase(p.begin());
  return "/v1/kv/" + p + "?recurse";
}

DriftWatch::DriftWatch(clients::Endpoints endpoints, DriftWatchOptions options,
                       std::function<void(const std::string& why)> trigger)
    : endpoints_(std::move(endpoints)),
      options_(std::move(options)),
      trigger_(std::move(trigger)),
      debouncer_(options_.debounce, options_.max_delay) {
  net::HttpClientOptions mo;
  mo.ca_file = endpoints_.marathon.ca_file;
  mo.max_idle_per_host = 0;
  marathon_http_ = net::NewHttpClient(mo);
  net::HttpClientOptions co;
  co.ca_file = endpoints_.consul.ca_file;
  co.max_idle_per_host = 0;
  consul_http_ = net::NewHttpClient(co);
}

DriftWatch::~DriftWatch() { Stop(); }

void DriftWatch::Log(const std::string& level, const std::string& line) const {
  if (options_.log) options_.log(level, line);
}

void DriftWatch::Start() {
  std::lock_guard<std::mutex> l(mu_);
  if (started_) return;
  started_ = true;
  debounce_thread_ = std::thread([this] { DebounceLoop(); });
  if (options_.marathon && !endpoints_.marathon.urls.empty()) {
    // Task changes, and app-level ones (an app edited or deleted by hand has a deployment even
    // when it has no task to change).
    clients::MarathonEventStreamOptions eo;
    eo.event_types = {"status_update_event", "health_status_changed_event"};
    for (const auto& t : clients::AppChangeEventTypes()) eo.event_types.push_back(t);
    events_ = clients::NewMarathonEventStream(endpoints_.marathon, marathon_http_.get(), eo);
    marathon_thread_ = std::thread([this] { MarathonLoop(); });
  }
}

void DriftWatch::Signal(const std::string& why) {
  ++signals_;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (debouncer_.signals() == 0) first_why_ = why;
    debouncer_.Signal(std::chrono::steady_clock::now());
  }
  cv_.notify_all();
}

void DriftWatch::DebounceLoop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    auto due = debouncer_.due();
    if (!due) {
      cv_.wait_for(l, std::chrono::milliseconds(500));
      continue;
    }
    if (!debouncer_.Fire(std::chrono::steady_clock::now())) {
      cv_.wait_until(l, *due);
      continue;
    }
    std::string why = first_why_;
    l.unlock();
    ++triggers_;
    trigger_(why);
    l.lock();
  }
}

void DriftWatch::MarathonLoop() {
  bool connected_before = false;
  clients::MarathonEventHandler h;
  h.on_connected = [&](const std::string& url) {
    Log("info", "drift watch: following Marathon's event stream at " + url);
    // Nothing that happened while the stream was down is replayed: look once.
    if (connected_before) Signal("marathon event stream reconnected");
    connected_before = true;
  };
  h.on_disconnected = [&](const Status& why) {
    Log("warn", "drift watch: Marathon's event stream ended: " + why.message());
  };
  h.on_event = [&](const clients::MarathonEvent& e) {
    std::vector<std::string> prefixes;
    {
      std::lock_guard<std::mutex> l(mu_);
      prefixes = app_prefixes_;
    }
    std::vector<std::string> apps = e.app_ids;
    if (apps.empty()) apps.push_back(e.app_id);
    for (const auto& app : apps) {
      if (ManagedApp(app, prefixes)) {
        Signal("marathon " + e.type + " " + app);
        break;
      }
    }
  };
  h.on_log = [&](const std::string& line) { Log("info", "drift watch: " + line); };
  events_->Run(stop_, h);
}

void DriftWatch::SetScope(const std::vector<std::string>& app_prefixes,
                          const std::vector<std::string>& kv_prefixes) {
  std::lock_guard<std::mutex> l(mu_);
  app_prefixes_ = app_prefixes;
  if (!options_.consul || endpoints_.consul.url.empty() || stop_) return;
  std::set<std::string> wanted(kv_prefixes.begin(), kv_prefixes.end());
  for (auto it = polls_.begin(); it != polls_.end();) {
    if (wanted.count(it->first)) {
      ++it;
      continue;
    }
    it->second->RequestStop();  // joined at Stop: never wait for a long poll here
    retired_.push_back(std::move(it->second));
    it = polls_.erase(it);
  }
  for (const auto& prefix : wanted) {
    if (polls_.count(prefix)) continue;
    clients::BlockingOptions bo;
    bo.wait = options_.kv_wait;
    bo.slack = std::chrono::milliseconds(5000);
    std::string target = KvWatchTarget(prefix);
    auto first = std::make_shared<bool>(true);
    polls_[prefix] = std::make_unique<clients::LongPoll>(
        endpoints_.consul, consul_http_.get(), target, bo,
        [this, prefix, first](const clients::BlockingAnswer&) {
          // The first answer is where we start, not a change (the first after an error is a
          // signal: what changed while Consul was away is not known).
          if (*first) {
            *first = false;
            return;
          }
          Signal("consul kv " + prefix);
        },
        [this, prefix](const Status& s) {
          Log("warn", "drift watch: Consul KV " + prefix + ": " + s.message());
        });
  }
}

void DriftWatch::Stop() {
  std::map<std::string, std::unique_ptr<clients::LongPoll>> polls;
  std::vector<std::unique_ptr<clients::LongPoll>> retired;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stop_) return;
    stop_ = true;
    polls = std::move(polls_);
    retired = std::move(retired_);
  }
  cv_.notify_all();
  for (auto& [_, p] : polls) p->RequestStop();
  if (marathon_thread_.joinable()) marathon_thread_.join();
  if (debounce_thread_.joinable()) debounce_thread_.join();
  polls.clear();  // joins each (the request in flight ends within kv_wait + slack)
  retired.clear();
}

}  // namespace galley::server
