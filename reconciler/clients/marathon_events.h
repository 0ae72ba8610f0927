// SPDX-License-Identifier: Apache-2.0
// Marathon's event stream (GET /v2/events, server-sent events; marathon-events.md §1–2):
//   - SseParser: a pure incremental parser of the SSE framing. Lines end with CRLF, LF or CR
//     (a CRLF split across two chunks counts once); `event:` names the message, `data:` lines
//     are joined with "\n", `:` starts a comment, other fields (`id:`, `retry:`) are ignored;
//     an empty line ends a message, or is a heartbeat when no data came (Marathon's
//     keep-alive every 10 s). Chunks may be split anywhere. A line longer than max_line_bytes
//     is an error (a stream that never ends a line must not grow memory without bound).
//   - ParseMarathonEvent: the typed events galley needs. status_update_event (taskId,
//     appId, host, ipAddresses, ports, taskStatus) and health_status_changed_event (appId,
//     instanceId, or taskId before 1.4, alive) for the agent; app-level changes for serve's
//     drift watch (kInstanceChanged and kUnhealthyKill, the agent's kill hints; kAppChanged:
//     api_post_event's appDefinition.id, app_terminated_event's appId,
//     deployment_info/success/failed's plan.affectedApps); every other type is kOther.
//   - MarathonEventSource: what the registrator follows. NewMarathonEventStream runs it over
//     net::HttpClient::Stream: GET /v2/events?event_type=status_update_event&event_type=
//     health_status_changed_event with `Accept: text/event-stream` exactly (Jetty answers 405
//     to anything else) and the Marathon client's authentication; tries the endpoint's URLs
//     in turn, follows one redirect (a standby's 302 to the leader, credentials resent),
//     reports "connected" once a 200 stream is open (the user resyncs then: nothing emitted
//     while disconnected is replayed) and "disconnected" with the reason when it ends, and
//     reconnects with capped exponential backoff (reset once a stream has lasted a minute).
//     No byte for idle_timeout (three missed heartbeats by default) counts as a dead stream.
// SseParser and the parsers are values, not synchronised. The stream source is thread-safe
// in the sense that Run is called by one thread at a time; its handler runs on that thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "clients/endpoints.h"
#include "net/http_client.h"

namespace galley::clients {

struct SseMessage {
  std::string event;  // "" when the message had no `event:` line ("message" per the SSE spec)
  std::string data;
  bool operator==(const SseMessage&) const = default;
};

class SseParser {
 public:
  explicit SseParser(size_t max_line_bytes = 8u << 20) : max_line_(max_line_bytes) {}
  // Feeds the next bytes; appends the messages they complete to *out. kInvalidArgument when a
  // line exceeds the bound (the parser is then spent: Reset before reuse).
  Status Feed(std::string_view bytes, std::vector<SseMessage>* out);
  // Empty lines that ended no message (keep-alives) seen so far.
  size_t heartbeats() const { return heartbeats_; }
  void Reset();

 private:
  void Line(std::string_view line, std::vector<SseMessage>* out);
  size_t max_line_;
  std::string line_;
  bool after_cr_ = false;  // the last byte was a CR: an LF next ends nothing new
  std::string event_, data_;
  bool has_data_ = false;
  size_t heartbeats_ = 0;
};

struct MarathonEvent {
  enum class Kind {
    kStatusUpdate,
    kHealthChanged,
    kInstanceChanged,  // instance_changed_event: instanceId, condition, runSpecId, host
    kUnhealthyKill,    // unhealthy_instance_kill_event: appId, taskId, instanceId, host
    kAppChanged,
    kOther
  };
  Kind kind = Kind::kOther;
  std::string type;  // eventType ("status_update_event", ...)
  std::string app_id;
  // status_update_event: the task. health_status_changed_event: the task before 1.4 (taskId);
  // "" from 1.4 on, which names the instance instead.
  std::string task_id;
  std::string instance_id;  // health_status_changed_event 1.4+, instance events
  std::string condition;    // instance_changed_event ("Running", "Killing", ...)
  std::string task_status;  // "TASK_KILLING", ...
  std::string host;         // the agent's host name
  std::vector<std::string> ip_addresses;
  std::vector<int> ports;     // host ports
  std::optional<bool> alive;  // health_status_changed_event
  // kAppChanged: the apps it concerns (app_id is the first); a deployment may name several.
  std::vector<std::string> app_ids;
};

// Parses one message's data. `event_name` is the SSE event name (the JSON's eventType wins
// when both are present). kInvalidArgument when the data of a status or health event is not
// a JSON object with the fields needed (taskId/taskStatus; alive and instanceId or taskId);
// anything of another type is kOther, whatever its data.
Result<MarathonEvent> ParseMarathonEvent(std::string_view event_name, std::string_view data);

// Whether Marathon task `task_id` belongs to instance `instance_id`: the same id (≤1.3
// health events name the task), 1.8+ `<instance>._app.<n>`, or 1.4–1.7 `app.marathon-<uuid>`
// for task `app.<uuid>`.
bool TaskOfInstance(std::string_view task_id, std::string_view instance_id);
// Every instance id TaskOfInstance(task_id, ·) accepts: the task id itself, each of its
// prefixes that ends before a '.', and the 1.4–1.7 "<path>.marathon-<uuid>" form. For
// membership checks over many tasks without comparing every task with every instance.
std::vector<std::string> InstancesOfTask(std::string_view task_id);

// True for the task states after which a task serves nothing: TASK_KILLING and the terminal
// or lost ones (KILLED, FINISHED, FAILED, ERROR, LOST, DROPPED, GONE, GONE_BY_OPERATOR,
// UNREACHABLE, UNKNOWN).
bool IsLeavingTaskState(std::string_view task_status);

// What a MarathonEventSource tells its user. Every callback runs on the thread in Run.
struct MarathonEventHandler {
  std::function<void(const std::string& url)> on_connected;
  std::function<void(const Status& why)> on_disconnected;
  std::function<void(const MarathonEvent& event)> on_event;
  // Malformed events, heartbeats missed, redirects: one line each.
  std::function<void(const std::string& line)> on_log;
};

class MarathonEventSource {
 public:
  virtual ~MarathonEventSource() = default;
  // Follows the stream until `stop` turns true (checked at least every 100 ms), reconnecting
  // as needed. Returns only then.
  virtual void Run(const std::atomic<bool>& stop, const MarathonEventHandler& handler) = 0;
};

struct MarathonEventStreamOptions {
  std::chrono::milliseconds connect_timeout{10000};  // until the answer's head
  std::chrono::milliseconds idle_timeout{35000};     // no byte (heartbeats are 10 s apart)
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30000};
  std::chrono::milliseconds stable_after{60000};  // a stream this old resets the backoff
  Clock* clock = nullptr;                         // waits between attempts; null: real
  // The event types asked for (repeated event_type parameters); empty: status updates and
  // health changes (kMarathonEventsPath).
  std::vector<std::string> event_types;
};

// The request path the agent's stream uses (MarathonEventStreamOptions' default types).
inline constexpr char kMarathonEventsPath[] =
    "/v2/events?event_type=status_update_event&event_type=health_status_changed_event";
// The agent's stream: task status and health, plus the kill hints (marathon-events.md §3.3):
// the 1.8+ goal change before a kill (an instance_changed_event whose condition did not
// change) and unhealthy_instance_kill_event, published before a health kill.
inline const std::vector<std::string>& AgentEventTypes() {
  static const std::vector<std::string> kTypes = {
      "status_update_event", "health_status_changed_event", "instance_changed_event",
      "unhealthy_instance_kill_event"};
  return kTypes;
}
// The event types of kAppChanged, for a stream that wants them too.
inline const std::vector<std::string>& AppChangeEventTypes() {
  static const std::vector<std::string> kTypes = {"api_post_event", "app_terminated_event",
                                                  "deployment_info", "deployment_success",
                                                  "deployment_failed"};
  return kTypes;
}
// "/v2/events?event_type=a&event_type=b..." for `types` (empty: kMarathonEventsPath).
std::string MarathonEventsPath(const std::vector<std::string>& types);

// `http` must outlive the source.
std::unique_ptr<MarathonEventSource> NewMarathonEventStream(
    const MarathonEndpoint& endpoint, net::HttpClient* http,
    const MarathonEventStreamOptions& options = {});

}  // namespace galley::clients
