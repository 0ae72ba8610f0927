// SPDX-License-Identifier: Apache-2.0
// Server-sent events (text/event-stream) on HttpServer's streamed responses: a bound on how
// many streams are open at once (StreamSlots), the wire format (SseMessage), and the
// producer loop (RunEventStream). The loop waits for the next message in short polls and
// checks StreamWriter::Done() between them, so HttpServer::Stop() (which joins the handler
// threads) ends every stream within one poll; a quiet stream gets a heartbeat comment so
// proxies and browsers keep it open and a vanished client is noticed by the failed write.
// Thread-safe: StreamSlots from any thread; RunEventStream on the stream's handler thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "net/http_types.h"

namespace galley::net {

class StreamSlots {
 public:
  explicit StreamSlots(size_t max) : max_(max) {}
  // A slot held until the returned pointer (and its copies) are gone; nullptr when all
  // `max` are taken. The StreamSlots must outlive every slot.
  std::shared_ptr<void> TryAcquire();
  size_t active() const;
  size_t max() const { return max_; }

 private:
  mutable std::mutex mu_;
  size_t max_, active_ = 0;
};

// One event: "event: <event>\n" (when not empty), "id: <id>\n" (when not empty), one
// "data: " line per line of `data`, then a blank line. CR and LF in `event` and `id` are
// replaced by spaces (they would end the field).
std::string SseMessage(std::string_view event, std::string_view data, std::string_view id = "");

struct EventStreamOptions {
  std::chrono::milliseconds poll{250};         // the longest wait between Done() checks
  std::chrono::milliseconds heartbeat{15000};  // a ": keep-alive" comment after this quiet
  std::chrono::milliseconds retry{2000};  // sent first as "retry:": the client's reconnect delay
};

// Waits up to `wait` for the next message (formatted, e.g. by SseMessage); "" when none.
using NextMessage = std::function<std::string(std::chrono::milliseconds wait)>;

// Writes "retry:", then every message `next` gives, heartbeats when quiet, until the
// client goes away or the server stops. Returns the number of messages written.
size_t RunEventStream(StreamWriter& out, const EventStreamOptions& options,
                      const NextMessage& next);

// A streamed 200 text/event-stream answer (no caching, no buffering by proxies) running
// RunEventStream with a slot of `slots` held for the stream's life; when all slots are
// taken, a 503 with Retry-After instead. `slots` must outlive the response.
HttpResponse EventStreamResponse(StreamSlots& slots, EventStreamOptions options, NextMessage next);

}  // namespace galley::net
