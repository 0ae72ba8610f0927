// SPDX-License-Identifier: Apache-2.0
// EventBus: Marathon's event stream (/v2/events). Publishers hand over an event object;
// the bus stamps it, frames it once as SSE ("event: <type>\ndata: <json>\n\n") and queues
// it for every subscriber whose event_type filter matches. Each subscriber's queue is
// bounded: a consumer that falls behind by more than the bound is dropped (its stream
// ends; it must reconnect and resync, as with Marathon). Close() ends every stream.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "net/http_types.h"
#include "sandbox/marathon/util.h"

namespace galley::sandbox::marathon {

class EventBus {
 public:
  explicit EventBus(size_t max_queued = 4096) : max_queued_(max_queued) {}

  // Adds "eventType" and "timestamp" and queues the event. Cheap when nobody listens.
  void Publish(const std::string& type, Json event);
  bool HasSubscribers() const;

  // Serves one SSE connection until the client goes away, the bus closes or the consumer
  // is dropped. `types` empty means every event.
  void Serve(net::StreamWriter& writer, const std::set<std::string>& types,
             const std::string& remote_address);

  void Close();
  size_t dropped() const;

 private:
  struct Subscriber {
    std::set<std::string> types;
    std::deque<std::shared_ptr<const std::string>> queue;
    bool dropped = false;
  };

  const size_t max_queued_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<Subscriber>> subscribers_;
  bool closed_ = false;
  size_t dropped_ = 0;
};

}  // namespace galley::sandbox::marathon
