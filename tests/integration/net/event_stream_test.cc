// SPDX-License-Identifier: Apache-2.0
// net/event_stream.h over the real HttpServer on loopback: a client receives the retry line
// and messages as they are produced, a second stream beyond the bound is answered 503, and
// Stop() ends an open, quiet stream promptly (the producer polls Done()).
#include "net/event_stream.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "net/http_client.h"
#include "net/http_server.h"

namespace galley::net {
namespace {

using std::chrono::milliseconds;

TEST(EventStreamServerTest, StreamsMessagesBoundsStreamsAndStopsPromptly) {
  StreamSlots slots(1);
  std::atomic<int> tick{0};
  EventStreamOptions o;
  o.poll = milliseconds(50);
  o.heartbeat = std::chrono::seconds(60);
  auto server = HttpServer::Start({}, [&](const HttpRequest&) {
    return EventStreamResponse(slots, o, [&](milliseconds wait) -> std::string {
      std::this_thread::sleep_for(wait);
      int t = tick.exchange(0);
      return t ? SseMessage("change", std::to_string(t)) : "";
    });
  });
  ASSERT_TRUE(server.ok());
  std::string url = "http://127.0.0.1:" + std::to_string((*server)->port()) + "/ui/events";

  auto client = NewHttpClient();
  std::atomic<bool> got_message{false};
  std::atomic<int> head_status{0};
  std::string received;
  std::mutex mu;
  std::thread reader([&] {
    ClientRequest rq;
    rq.url = url;
    StreamCallbacks cb;
    cb.idle_timeout = std::chrono::seconds(20);
    cb.on_head = [&](const ClientResponse& h) {
      head_status = h.status;
      return true;
    };
    cb.on_data = [&](std::string_view d) {
      std::lock_guard<std::mutex> lock(mu);
      received.append(d);
      if (received.find("event: change") != std::string::npos) got_message = true;
      return true;
    };
    (void)client->Stream(rq, cb);
  });
  // Wait for the stream to be open (its slot taken), then produce a message.
  for (int i = 0; i < 200 && slots.active() == 0; ++i)
    std::this_thread::sleep_for(milliseconds(10));
  ASSERT_EQ(slots.active(), 1u);
  tick = 1;
  for (int i = 0; i < 200 && !got_message; ++i) std::this_thread::sleep_for(milliseconds(10));
  EXPECT_TRUE(got_message.load());
  EXPECT_EQ(head_status.load(), 200);
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(received.rfind("retry: 2000\n\n", 0), 0u) << received;
  }
  // A second stream while the only slot is held: 503.
  ClientRequest second;
  second.url = url;
  auto refused = client->Send(second);
  ASSERT_TRUE(refused.ok()) << refused.status().message();
  EXPECT_EQ(refused->status, 503);

  // Stop with the stream open and quiet: it ends within a few polls.
  auto t0 = std::chrono::steady_clock::now();
  (*server)->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  reader.join();
  EXPECT_EQ(slots.active(), 0u);
}

}  // namespace
}  // namespace galley::net
