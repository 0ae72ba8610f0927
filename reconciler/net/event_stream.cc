// SPDX-License-Identifier: Apache-2.0
#include "net/event_stream.h"

#include <utility>

namespace galley::net {

std::shared_ptr<void> StreamSlots::TryAcquire() {
  std::lock_guard<std::mutex> lock(mu_);
  if (active_ >= max_) return nullptr;
  ++active_;
  return std::shared_ptr<void>(this, [](StreamSlots* s) {
    std::lock_guard<std::mutex> l(s->mu_);
    --s->active_;
  });
}

size_t StreamSlots::active() const {
  std::lock_guard<std::mutex> lock(mu_);
  return active_;
}

namespace {

std::string OneLine(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return out;
}

}  // namespace

std::string SseMessage(std::string_view event, std::string_view data, std::string_view id) {
  std::string out;
  if (!event.empty()) out += "event: " + OneLine(event) + "\n";
  if (!id.empty()) out += "id: " + OneLine(id) + "\n";
  size_t start = 0;
  while (true) {
    size_t end = data.find_first_of("\r\n", start);
    std::string_view line = data.substr(start, end == std::string_view::npos ? end : end - start);
    out += "data: ";
    out.append(line);
    out += "\n";
    if (end == std::string_view::npos) break;
    start = end + 1;
    if (data[end] == '\r' && start < data.size() && data[start] == '\n') ++start;
  }
  out += "\n";
  return out;
}

size_t RunEventStream(StreamWriter& out, const EventStreamOptions& options,
                      const NextMessage& next) {
  size_t written = 0;
  if (!out.Write("retry: " + std::to_string(options.retry.count()) + "\n\n")) return written;
  auto last_write = std::chrono::steady_clock::now();
  while (!out.Done()) {
    std::string message = next(options.poll);
    auto now = std::chrono::steady_clock::now();
    if (!message.empty()) {
      if (!out.Write(message)) break;
      ++written;
      last_write = now;
    } else if (now - last_write >= options.heartbeat) {
      if (!out.Write(": keep-alive\n\n")) break;
      last_write = now;
    }
  }
  return written;
}

HttpResponse EventStreamResponse(StreamSlots& slots, EventStreamOptions options, NextMessage next) {
  std::shared_ptr<void> slot = slots.TryAcquire();
  if (!slot) {
    HttpResponse r = HttpResponse::Json(503, "{\"error\": \"too many open event streams (limit " +
                                                 std::to_string(slots.max()) + ")\"}\n");
    r.headers["Retry-After"] = "5";
    return r;
  }
  HttpResponse r;
  r.status = 200;
  r.headers["Content-Type"] = "text/event-stream; charset=utf-8";
  r.headers["Cache-Control"] = "no-cache, no-store";
  r.headers["X-Accel-Buffering"] = "no";
  r.stream = [slot = std::move(slot), options, next = std::move(next)](StreamWriter& w) {
    (void)RunEventStream(w, options, next);
  };
  return r;
}

}  // namespace galley::net
