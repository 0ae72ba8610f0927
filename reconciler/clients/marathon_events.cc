// SPDX-License-Identifier: Apache-2.0
#include "clients/marathon_events.h"

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "clients/http_support.h"
#include "net/url.h"

namespace galley::clients {

// ---- SseParser ----------------------------------------------------------------------------

void SseParser::Reset() {
  line_.clear();
  after_cr_ = false;
  event_.clear();
  data_.clear();
  has_data_ = false;
}

Status SseParser::Feed(std::string_view bytes, std::vector<SseMessage>* out) {
  while (!bytes.empty()) {
    if (after_cr_) {
      after_cr_ = false;
      if (bytes.front() == '\n') {  // the LF of a CRLF whose CR ended the previous chunk
        bytes.remove_prefix(1);
        continue;
      }
    }
    size_t end = bytes.find_first_of("\r\n");
    if (end == std::string_view::npos) {
      if (line_.size() + bytes.size() > max_line_) {
        return Status::InvalidArgument("event stream: a line longer than " +
                                       std::to_string(max_line_) + " bytes");
      }
      line_.append(bytes);
      return Status::Ok();
    }
    if (line_.size() + end > max_line_) {
      return Status::InvalidArgument("event stream: a line longer than " +
                                     std::to_string(max_line_) + " bytes");
    }
    if (line_.empty()) {
      Line(bytes.substr(0, end), out);
    } else {
      line_.append(bytes.substr(0, end));
      std::string line = std::move(line_);
      line_.clear();
      Line(line, out);
    }
    after_cr_ = bytes[end] == '\r';
    bytes.remove_prefix(end + 1);
  }
  return Status::Ok();
}

void SseParser::Line(std::string_view line, std::vector<SseMessage>* out) {
  if (line.empty()) {
    if (has_data_) {
      out->push_back({std::move(event_), std::move(data_)});
    } else if (event_.empty()) {
      ++heartbeats_;
    }
    event_.clear();
    data_.clear();
    has_data_ = false;
    return;
  }
  if (line.front() == ':') return;  // a comment
  size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value =
      colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field == "event") {
    event_.assign(value);
  } else if (field == "data") {
    if (has_data_) data_ += '\n';
    data_.append(value);
    has_data_ = true;
  }
  // id:, retry: and unknown fields: Marathon sends none; ignored.
}

// ---- Events -------------------------------------------------------------------------------

namespace {

using Json = nlohmann::json;

std::string StringField(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

Result<MarathonEvent> ParseMarathonEvent(std::string_view event_name, std::string_view data) {
  MarathonEvent ev;
  ev.type = std::string(event_name);
  const auto& app_types = AppChangeEventTypes();
  const bool maybe_ours =
      event_name.empty() || event_name == "status_update_event" ||
      event_name == "health_status_changed_event" || event_name == "message" ||
      event_name == "instance_changed_event" || event_name == "unhealthy_instance_kill_event" ||
      std::find(app_types.begin(), app_types.end(), event_name) != app_types.end();
  if (!maybe_ours) return ev;  // kOther: never parsed
  Json j = Json::parse(data.begin(), data.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    if (event_name.empty() || event_name == "message") return ev;
    return Status::InvalidArgument("event stream: " + std::string(event_name) +
                                   ": data is not a JSON object");
  }
  if (std::string type = StringField(j, "eventType"); !type.empty()) ev.type = type;
  ev.app_id = StringField(j, "appId");
  if (ev.type == "status_update_event") {
    ev.kind = MarathonEvent::Kind::kStatusUpdate;
    ev.task_id = StringField(j, "taskId");
    ev.task_status = StringField(j, "taskStatus");
    ev.host = StringField(j, "host");
    if (ev.task_id.empty() || ev.task_status.empty()) {
      return Status::InvalidArgument(
          "event stream: status_update_event without a string taskId and taskStatus");
    }
    if (auto ports = j.find("ports"); ports != j.end() && ports->is_array()) {
      for (const Json& p : *ports) {
        if (p.is_number_integer()) ev.ports.push_back(p.get<int>());
      }
    }
    if (auto ips = j.find("ipAddresses"); ips != j.end() && ips->is_array()) {
      for (const Json& ip : *ips) {
        if (!ip.is_object()) continue;
        std::string a = StringField(ip, "ipAddress");
        if (!a.empty()) ev.ip_addresses.push_back(std::move(a));
      }
    }
    return ev;
  }
  if (ev.type == "health_status_changed_event") {
    ev.kind = MarathonEvent::Kind::kHealthChanged;
    ev.instance_id = StringField(j, "instanceId");
    ev.task_id = StringField(j, "taskId");
    auto alive = j.find("alive");
    if (alive == j.end() || !alive->is_boolean() ||
        (ev.instance_id.empty() && ev.task_id.empty())) {
      return Status::InvalidArgument(
          "event stream: health_status_changed_event without a boolean alive and an "
          "instanceId or taskId");
    }
    ev.alive = alive->get<bool>();
    return ev;
  }
  if (ev.type == "instance_changed_event") {
    ev.kind = MarathonEvent::Kind::kInstanceChanged;
    ev.instance_id = StringField(j, "instanceId");
    ev.condition = StringField(j, "condition");
    ev.app_id = StringField(j, "runSpecId");
    ev.host = StringField(j, "host");  // null before the instance is placed
    if (ev.instance_id.empty() || ev.condition.empty()) {
      return Status::InvalidArgument(
          "event stream: instance_changed_event without a string instanceId and condition");
    }
    return ev;
  }
  if (ev.type == "unhealthy_instance_kill_event") {
    ev.kind = MarathonEvent::Kind::kUnhealthyKill;
    ev.task_id = StringField(j, "taskId");  // 1.5+: holds the instance id
    ev.instance_id = StringField(j, "instanceId");
    ev.host = StringField(j, "host");
    if (ev.instance_id.empty()) ev.instance_id = ev.task_id;
    if (ev.instance_id.empty()) {
      return Status::InvalidArgument(
          "event stream: unhealthy_instance_kill_event without an instanceId or taskId");
    }
    return ev;
  }
  if (std::find(app_types.begin(), app_types.end(), ev.type) != app_types.end()) {
    if (ev.type == "api_post_event") {
      if (auto def = j.find("appDefinition"); def != j.end() && def->is_object())
        ev.app_id = StringField(*def, "id");
    } else if (ev.type != "app_terminated_event") {
      // Deployments: the apps of the plan's steps' actions (the light format Marathon 1.7+
      // sends), and affectedApps where the plan has it (the heavy format).
      auto add = [&ev](const Json& app) {
        if (app.is_string() && std::find(ev.app_ids.begin(), ev.app_ids.end(),
                                         app.get<std::string>()) == ev.app_ids.end())
          ev.app_ids.push_back(app.get<std::string>());
      };
      if (auto plan = j.find("plan"); plan != j.end() && plan->is_object()) {
        if (auto steps = plan->find("steps"); steps != plan->end() && steps->is_array()) {
          for (const Json& step : *steps) {
            auto actions = step.is_object() ? step.find("actions") : step.end();
            if (!step.is_object() || actions == step.end() || !actions->is_array()) continue;
            for (const Json& a : *actions) {
              if (a.is_object() && a.contains("app")) add(a["app"]);
            }
          }
        }
        if (auto apps = plan->find("affectedApps"); apps != plan->end() && apps->is_array()) {
          for (const Json& a : *apps) add(a);
        }
      }
      if (!ev.app_ids.empty()) ev.app_id = ev.app_ids.front();
    }
    if (!ev.app_id.empty() && ev.app_ids.empty()) ev.app_ids.push_back(ev.app_id);
    ev.kind = MarathonEvent::Kind::kAppChanged;  // with no app named: nothing to act on
    return ev;
  }
  ev.kind = MarathonEvent::Kind::kOther;
  return ev;
}

std::string MarathonEventsPath(const std::vector<std::string>& types) {
  if (types.empty()) return kMarathonEventsPath;
  std::string path = "/v2/events";
  char sep = '?';
  for (const auto& t : types) {
    path += sep;
    path += "event_type=" + t;  // event type names are [a-z_]: nothing to escape
    sep = '&';
  }
  return path;
}

bool TaskOfInstance(std::string_view task_id, std::string_view instance_id) {
  if (task_id.empty() || instance_id.empty()) return false;
  if (task_id == instance_id) return true;
  // 1.8+: "<instance>._app.<n>" (pods: "<instance>.<container>").
  if (task_id.size() > instance_id.size() && task_id.substr(0, instance_id.size()) == instance_id &&
      task_id[instance_id.size()] == '.') {
    return true;
  }
  // 1.4–1.7: instance "<app path>.marathon-<uuid>", task "<app path>.<uuid>".
  constexpr std::string_view kLegacy = ".marathon-";
  size_t at = instance_id.rfind(kLegacy);
  if (at == std::string_view::npos) return false;
  std::string_view path = instance_id.substr(0, at);
  std::string_view uuid = instance_id.substr(at + kLegacy.size());
  return task_id.size() == path.size() + 1 + uuid.size() &&
         task_id.substr(0, path.size()) == path && task_id[path.size()] == '.' &&
         task_id.substr(path.size() + 1) == uuid;
}

std::vector<std::string> InstancesOfTask(std::string_view task_id) {
  std::vector<std::string> out;
  if (task_id.empty()) return out;
  out.emplace_back(task_id);
  for (size_t dot = task_id.find('.'); dot != std::string_view::npos;
       dot = task_id.find('.', dot + 1)) {
    if (dot > 0) out.emplace_back(task_id.substr(0, dot));
  }
  size_t last = task_id.rfind('.');
  if (last != std::string_view::npos && last > 0 && last + 1 < task_id.size()) {
    out.push_back(std::string(task_id.substr(0, last)) + ".marathon-" +
                  std::string(task_id.substr(last + 1)));
  }
  return out;
}

bool IsLeavingTaskState(std::string_view s) {
  static constexpr std::string_view kLeaving[] = {
      "TASK_KILLING", "TASK_KILLED",  "TASK_FINISHED", "TASK_FAILED",           "TASK_ERROR",
      "TASK_LOST",    "TASK_DROPPED", "TASK_GONE",     "TASK_GONE_BY_OPERATOR", "TASK_UNREACHABLE",
      "TASK_UNKNOWN"};
  return std::find(std::begin(kLeaving), std::end(kLeaving), s) != std::end(kLeaving);
}

// ---- The stream over HTTP -----------------------------------------------------------------

namespace {

constexpr size_t kMaxErrorBody = 4096;

class HttpMarathonEventStream : public MarathonEventSource {
 public:
  HttpMarathonEventStream(const MarathonEndpoint& endpoint, net::HttpClient* http,
                          const MarathonEventStreamOptions& options)
      : endpoint_(endpoint), http_(http), options_(options) {
    if (!endpoint_.token.empty()) {
      auth_ = "token=" + endpoint_.token;
    } else if (!endpoint_.basic_user.empty()) {
      auth_ = "Basic " + Base64Encode(endpoint_.basic_user + ":" + endpoint_.basic_password);
    }
  }

  void Run(const std::atomic<bool>& stop, const MarathonEventHandler& handler) override {
    Clock& clock = ClockOr(options_.clock);
    auto log = [&](const std::string& line) {
      if (handler.on_log) handler.on_log(line);
    };
    const size_t n = endpoint_.urls.size();
    if (n == 0) {
      log("marathon events: no Marathon URL configured");
      WaitUntilStopped(stop, clock);
      return;
    }
    auto backoff = options_.initial_backoff;
    size_t url_index = 0;
    size_t failed_in_a_row = 0;  // URLs that failed to connect since the last stream
    while (!stop.load()) {
      const std::string& base = endpoint_.urls[url_index % n];
      const auto started = clock.Now();
      bool connected = false;
      Status why = Attempt(base, stop, handler, &connected);
      if (stop.load()) break;
      bool wait = true;
      if (connected) {
        failed_in_a_row = 0;
        if (handler.on_disconnected) handler.on_disconnected(why);
        if (clock.Now() - started >= options_.stable_after) backoff = options_.initial_backoff;
      } else {
        log(why.message());
        ++url_index;  // the next URL at once; wait only once every URL failed
        wait = ++failed_in_a_row % n == 0;
      }
      if (wait) {
        Sleep(stop, clock, backoff);
        backoff = std::min(options_.max_backoff, backoff * 2);
      }
    }
  }

 private:
  static void Sleep(const std::atomic<bool>& stop, Clock& clock, std::chrono::milliseconds d) {
    const auto until = clock.Now() + d;
    while (!stop.load()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock.Now());
      if (left.count() <= 0) return;
      clock.Sleep(std::min(left, std::chrono::milliseconds(50)));
    }
  }
  static void WaitUntilStopped(const std::atomic<bool>& stop, Clock& clock) {
    while (!stop.load()) clock.Sleep(std::chrono::milliseconds(50));
  }

  // One connection (and at most one redirect). *connected turns true once a 200 stream is
  // open. Returns why the stream ended or could not open.
  Status Attempt(const std::string& base, const std::atomic<bool>& stop,
                 const MarathonEventHandler& handler, bool* connected) {
    std::string url = base + MarathonEventsPath(options_.event_types);
    std::string where = base;
    for (int hop = 0;; ++hop) {
      net::ClientRequest req;
      req.method = "GET";
      req.url = url;
      req.timeout = options_.connect_timeout;
      req.headers["Accept"] = "text/event-stream";  // exactly this: Jetty refuses anything else
      if (!auth_.empty()) req.headers["Authorization"] = auth_;  // resent after a redirect
      const std::string context = "marathon " + where + ": GET /v2/events";

      int status = 0;
      std::string location, error_body;
      Status parse_error;
      SseParser parser;
      std::vector<SseMessage> messages;
      net::StreamCallbacks cb;
      cb.idle_timeout = options_.idle_timeout;
      cb.stop = [&] { return stop.load(); };
      cb.on_head = [&](const net::ClientResponse& head) {
        status = head.status;
        if (status == 200) {
          *connected = true;
          if (handler.on_connected) handler.on_connected(where);
          return true;
        }
        location = head.Header("Location");
        return status / 100 != 3;  // read an error's body for the message; not a redirect's
      };
      cb.on_data = [&](std::string_view data) {
        if (status != 200) {
          error_body.append(data.substr(0, kMaxErrorBody - error_body.size()));
          return error_body.size() < kMaxErrorBody;
        }
        messages.clear();
        Status s = parser.Feed(data, &messages);
        for (const SseMessage& m : messages) {
          auto ev = ParseMarathonEvent(m.event, m.data);
          if (!ev.ok()) {
            if (handler.on_log) handler.on_log(context + ": " + ev.status().message());
            continue;
          }
          if (ev->kind != MarathonEvent::Kind::kOther && handler.on_event) handler.on_event(*ev);
        }
        if (!s.ok()) {
          parse_error = s;
          return false;
        }
        return !stop.load();
      };
      Status st = http_->Stream(req, cb);
      if (status == 200) {
        if (!parse_error.ok()) return parse_error.WithContext(context);
        if (!st.ok()) {
          return internal::MakeStatus(st.code(),
                                      context + ": " + internal::TransportDetail(st, req));
        }
        return Status::Unavailable(context + ": the server ended the stream");
      }
      if (status / 100 == 3 && !location.empty() && hop == 0) {
        if (location.front() == '/') {
          auto parsed = net::Url::Parse(url);
          if (parsed.ok()) location = parsed->Origin() + location;
        }
        if (handler.on_log) handler.on_log(context + ": redirected to " + net::RedactUrl(location));
        url = location;
        auto parsed = net::Url::Parse(location);
        where = parsed.ok() ? parsed->Origin() : location;
        continue;
      }
      if (status != 0) {
        std::string msg = context + ": " + internal::StatusLine(status);
        if (status / 100 == 3)
          msg += location.empty() ? " without a Location" : " (one redirect already followed)";
        std::string detail = internal::ErrorBodySummary(error_body, /*json_message=*/true);
        if (!detail.empty()) msg += ": " + detail;
        return internal::MakeStatus(internal::CodeForHttpStatus(status), std::move(msg));
      }
      if (st.ok()) return Status::Unavailable(context + ": no answer");
      return internal::MakeStatus(st.code(), context + ": " + internal::TransportDetail(st, req));
    }
  }

  MarathonEndpoint endpoint_;
  net::HttpClient* http_;
  MarathonEventStreamOptions options_;
  std::string auth_;
};

}  // namespace

std::unique_ptr<MarathonEventSource> NewMarathonEventStream(
    const MarathonEndpoint& endpoint, net::HttpClient* http,
    const MarathonEventStreamOptions& options) {
  return std::make_unique<HttpMarathonEventStream>(endpoint, http, options);
}

}  // namespace galley::clients
