// SPDX-License-Identifier: Apache-2.0
#include "sandbox/marathon/event_bus.h"

#include <algorithm>
#include <chrono>

namespace galley::sandbox::marathon {
namespace {

std::shared_ptr<const std::string> Frame(const std::string& type, const Json& event) {
  return std::make_shared<const std::string>(
      "event: " + type + "\ndata: " + event.dump(-1, ' ', false, Json::error_handler_t::replace) +
      "\n\n");
}

}  // namespace

bool EventBus::HasSubscribers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !subscribers_.empty();
}

void EventBus::Publish(const std::string& type, Json event) {
  std::lock_guard<std::mutex> lock(mu_);
  if (subscribers_.empty() || closed_) return;
  event["eventType"] = type;
  event["timestamp"] = FormatTimestamp(NowMillis());
  std::shared_ptr<const std::string> framed;
  for (auto& s : subscribers_) {
    if (s->dropped || (!s->types.empty() && !s->types.count(type))) continue;
    if (s->queue.size() >= max_queued_) {
      s->dropped = true;
      s->queue.clear();
      ++dropped_;
      continue;
    }
    if (!framed) framed = Frame(type, event);
    s->queue.push_back(framed);
  }
  cv_.notify_all();
}

void EventBus::Serve(net::StreamWriter& writer, const std::set<std::string>& types,
                     const std::string& remote_address) {
  auto sub = std::make_shared<Subscriber>();
  sub->types = types;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    subscribers_.push_back(sub);
  }
  // The attach event goes to this subscriber only, first.
  Json attached = {{"remoteAddress", remote_address.substr(0, remote_address.rfind(':'))},
                   {"eventType", "event_stream_attached"},
                   {"timestamp", FormatTimestamp(NowMillis())}};
  bool ok = writer.Write(*Frame("event_stream_attached", attached));
  auto last_write = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  while (ok && !closed_ && !sub->dropped && !writer.Done()) {
    if (sub->queue.empty()) {
      cv_.wait_for(lock, std::chrono::milliseconds(250));
      if (sub->queue.empty()) {
        // A blank line every few seconds notices clients that went away.
        if (std::chrono::steady_clock::now() - last_write > std::chrono::seconds(5)) {
          lock.unlock();
          ok = writer.Write("\n");
          last_write = std::chrono::steady_clock::now();
          lock.lock();
        }
        continue;
      }
    }
    std::deque<std::shared_ptr<const std::string>> batch;
    batch.swap(sub->queue);
    lock.unlock();
    std::string out;
    for (const auto& e : batch) out += *e;
    ok = writer.Write(out);
    last_write = std::chrono::steady_clock::now();
    lock.lock();
  }
  subscribers_.erase(std::remove(subscribers_.begin(), subscribers_.end(), sub),
                     subscribers_.end());
}

void EventBus::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  cv_.notify_all();
}

size_t EventBus::dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

}  // namespace galley::sandbox::marathon
