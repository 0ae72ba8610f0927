// SPDX-License-Identifier: Apache-2.0
#include "clients/marathon_listing.h"

#include <algorithm>
#include <utility>

#include "clients/http_support.h"

namespace galley::clients::internal {
namespace {

using Json = nlohmann::json;

// Read-only keys Marathon adds to an app (embeds and counters); they are not part of the
// definition galley compares (marathon-api.md §4.3).
constexpr const char* kReadOnlyKeys[] = {
    "tasks",          "deployments",     "tasksStaged", "tasksRunning", "tasksHealthy",
    "tasksUnhealthy", "lastTaskFailure", "tasksStats",  "taskStats",    "readinessCheckResults",
};

model::LiveTask ParseTask(const Json& t) {
  model::LiveTask task;
  task.id = StringOr(t, "id");
  task.host = StringOr(t, "host");
  task.state = StringOr(t, "state");
  task.version = StringOr(t, "version");
  if (const Json* ports = Field(t, "ports"); ports && ports->is_array()) {
    for (const Json& p : *ports) {
      if (auto n = IntOf(&p)) task.ports.push_back(*n);
    }
  }
  // Healthy when every Marathon health check result is alive (and there is at least one).
  if (const Json* results = Field(t, "healthCheckResults");
      results && results->is_array() && !results->empty()) {
    task.healthy = std::all_of(results->begin(), results->end(), [](const Json& r) {
      const Json* alive = Field(r, "alive");
      return alive && alive->is_boolean() && alive->get<bool>();
    });
  }
  return task;
}

// A JSON document built from SAX events, as nlohmann's own parser builds it (a member given
// twice keeps the later value).
class DomBuilder {
 public:
  void Reset() {
    root_ = Json();
    open_.clear();
  }
  void Value(Json&& v) { Put(std::move(v)); }
  void Start(bool object) { open_.push_back(Put(object ? Json::object() : Json::array())); }
  void End() { open_.pop_back(); }
  void Key(std::string&& k) { key_ = std::move(k); }
  Json Take() { return std::move(root_); }

 private:
  Json* Put(Json&& v) {
    if (open_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    Json& top = *open_.back();
    if (top.is_array()) {
      top.push_back(std::move(v));
      return &top.back();  // the array's earlier elements are closed: no pointer to them is kept
    }
    Json& slot = top[key_];
    slot = std::move(v);
    return &slot;
  }

  Json root_;
  std::vector<Json*> open_;  // the containers being filled, outermost first
  std::string key_;
};

// SAX events of {"apps": [app, ...]}. Positions by depth (containers open around a value):
// 1 a member of the top object, 2 an app, 3 an app's member, and in an app's "tasks" array:
// 4 a task, 5 a task's member, 6 a port or a health check result, 7 a result's member.
// The first problem is kept and parsing goes on, so invalid JSON anywhere is reported first.
class ListingHandler final : public nlohmann::json_sax<Json> {
 public:
  ListingHandler(const std::string& context, const std::function<bool(const std::string&)>& keep)
      : context_(context), keep_(keep) {}

  bool null() override { return Scalar(Json(nullptr)); }
  bool boolean(bool v) override { return Scalar(Json(v)); }
  bool number_integer(number_integer_t v) override { return Scalar(Json(v)); }
  bool number_unsigned(number_unsigned_t v) override { return Scalar(Json(v)); }
  bool number_float(number_float_t v, const string_t&) override { return Scalar(Json(v)); }
  bool string(string_t& v) override { return Scalar(Json(std::move(v))); }
  bool binary(binary_t&) override { return Scalar(Json()); }
  bool start_object(std::size_t) override { return Open(true); }
  bool start_array(std::size_t) override { return Open(false); }
  bool end_object() override { return Close(); }
  bool end_array() override { return Close(); }
  bool key(string_t& k) override {
    if (skipping_ > 0) return true;
    if (depth_ == 1) {
      top_key_ = std::move(k);
    } else if (depth_ == 3 && in_apps_) {
      app_key_ = k;
      if (app_key_ != "tasks") dom_.Key(std::move(k));
    } else if (tasks_mode_ && depth_ == 5) {
      task_key_ = std::move(k);
    } else if (tasks_mode_ && depth_ == 7) {
      result_key_ = std::move(k);
    } else if (depth_ > 3 && in_apps_ && !tasks_mode_) {
      dom_.Key(std::move(k));
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

  Result<std::vector<model::LiveApp>> Finish() {
    if (top_not_object_ || !apps_is_array_) {
      return Status::Unavailable(context_ + ": unexpected response: no \"apps\" array");
    }
    if (problem_) return Status::Unavailable(*problem_);
    return std::move(apps_);
  }

 private:
  bool Scalar(Json&& v) {
    if (skipping_ > 0) return true;
    const int d = depth_;
    if (d == 0) {
      top_not_object_ = true;
    } else if (d == 1) {
      if (top_key_ == "apps") StartApps(/*array=*/false);
    } else if (!in_apps_) {
      // a value inside another member of the top object: not read
    } else if (d == 2) {
      NoId();
    } else if (d == 3) {
      if (app_key_ == "tasks") {
        tasks_.clear();  // not an array: no tasks
      } else {
        dom_.Value(std::move(v));
      }
    } else if (!tasks_mode_) {
      dom_.Value(std::move(v));
    } else if (d == 5) {
      TaskMember(std::move(v));
    } else if (d == 6) {
      if (task_key_ == "ports") {
        if (auto n = IntOf(&v)) task_.ports.push_back(*n);
      } else if (task_key_ == "healthCheckResults") {
        ++results_;
        all_alive_ = false;  // a result that is no object has no "alive"
      }
    } else if (d == 7 && result_key_ == "alive") {
      result_alive_ = v.is_boolean() && v.get<bool>();
    }
    return true;
  }

  bool Open(bool object) {
    if (skipping_ > 0) {
      ++skipping_;
      return true;
    }
    const int d = depth_;
    if (d == 0) {
      if (!object) top_not_object_ = true;
    } else if (d == 1) {
      if (top_key_ != "apps") return Skip();
      StartApps(!object);
      if (object) return Skip();
    } else if (!in_apps_) {
      return Skip();
    } else if (d == 2) {
      if (!object) {
        NoId();
        return Skip();
      }
      dom_.Reset();
      dom_.Start(true);
    } else if (d == 3 && app_key_ == "tasks") {
      tasks_.clear();
      if (object) return Skip();
      tasks_mode_ = true;
    } else if (!tasks_mode_) {
      dom_.Start(object);
    } else if (d == 4) {
      if (!object) return Skip();
      task_ = model::LiveTask{};
    } else if (d == 5) {
      if (object || (task_key_ != "ports" && task_key_ != "healthCheckResults")) {
        TaskMember(Json());  // not an array: as if absent
        return Skip();
      }
      if (task_key_ == "ports") task_.ports.clear();
      results_ = 0;
      all_alive_ = true;
    } else if (d == 6) {
      if (task_key_ != "healthCheckResults" || !object) {
        if (task_key_ == "healthCheckResults") {
          ++results_;
          all_alive_ = false;
        }
        return Skip();
      }
      result_alive_ = false;
      result_key_.clear();
    } else {
      return Skip();
    }
    ++depth_;
    return true;
  }

  bool Close() {
    if (skipping_ > 0) {
      --skipping_;
      return true;
    }
    const int d = --depth_;
    if (d == 1) {
      in_apps_ = false;
    } else if (!in_apps_ || d < 1) {
      // the top object itself
    } else if (d == 2) {
      FinishApp();
    } else if (d == 3 && tasks_mode_) {
      tasks_mode_ = false;
    } else if (!tasks_mode_) {
      dom_.End();
    } else if (d == 4) {
      tasks_.push_back(std::move(task_));
    } else if (d == 5 && task_key_ == "healthCheckResults") {
      task_.healthy = results_ > 0 && all_alive_;
    } else if (d == 6) {
      ++results_;
      all_alive_ = all_alive_ && result_alive_;
    }
    return true;
  }

  bool Skip() {
    skipping_ = 1;
    return true;
  }

  // Each "apps" member starts the list again (a member given twice keeps the later value).
  void StartApps(bool array) {
    apps_.clear();
    problem_.reset();
    index_ = 0;
    apps_is_array_ = array;
    in_apps_ = array;
  }

  // A scalar task member; null and the wrong types read as absent.
  void TaskMember(Json&& v) {
    std::string* text = task_key_ == "id"        ? &task_.id
                        : task_key_ == "host"    ? &task_.host
                        : task_key_ == "state"   ? &task_.state
                        : task_key_ == "version" ? &task_.version
                                                 : nullptr;
    if (text) {
      *text = v.is_string() ? std::move(v.get_ref<std::string&>()) : std::string();
    } else if (task_key_ == "ports") {
      task_.ports.clear();
    } else if (task_key_ == "healthCheckResults") {
      task_.healthy = false;
    }
  }

  // An element of the apps array that is no object: it has no id either.
  void NoId() { NoId(index_++); }
  void NoId(size_t i) {
    if (!problem_) {
      problem_ =
          context_ + ": unexpected response: apps[" + std::to_string(i) + "] has no string 'id'";
    }
  }

  void FinishApp() {
    size_t i = index_++;
    Json app = dom_.Take();
    std::vector<model::LiveTask> tasks = std::move(tasks_);
    tasks_.clear();
    if (problem_) return;
    const Json* id = Field(app, "id");
    if (!id || !id->is_string()) return NoId(i);
    if (!keep_(id->get_ref<const std::string&>())) return;
    auto parsed = LiveAppFromJson(std::move(app), std::move(tasks));
    if (!parsed.ok()) {
      problem_ = context_ + ": unexpected response: apps[" + std::to_string(i) +
                 "]: " + parsed.status().message();
      return;
    }
    apps_.push_back(std::move(parsed).value());
  }

  const std::string& context_;
  const std::function<bool(const std::string&)>& keep_;
  int depth_ = 0;
  int skipping_ = 0;  // > 0: inside a subtree that is not read (containers open in it)
  bool top_not_object_ = false;
  bool apps_is_array_ = false;
  bool in_apps_ = false;
  bool tasks_mode_ = false;
  std::string top_key_, app_key_, task_key_, result_key_;
  DomBuilder dom_;
  std::vector<model::LiveTask> tasks_;
  model::LiveTask task_;
  size_t results_ = 0;
  bool all_alive_ = true;
  bool result_alive_ = false;
  size_t index_ = 0;
  std::vector<model::LiveApp> apps_;
  std::optional<std::string> problem_;
};

}  // namespace

const Json* Field(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string StringOr(const Json& obj, const char* key, std::string fallback) {
  const Json* v = Field(obj, key);
  return v && v->is_string() ? v->get<std::string>() : fallback;
}

std::optional<int> IntOf(const Json* v) {
  if (!v) return std::nullopt;
  if (v->is_number_integer()) return static_cast<int>(v->get<int64_t>());
  if (v->is_number_unsigned()) return static_cast<int>(v->get<uint64_t>());
  if (v->is_number_float()) return static_cast<int>(v->get<double>());
  return std::nullopt;
}

Result<model::LiveApp> LiveAppFromJson(Json app,
                                       std::optional<std::vector<model::LiveTask>> tasks) {
  if (app.is_object() && !app.contains("id")) {
    auto wrapped = app.find("app");
    if (wrapped != app.end() && wrapped->is_object()) {
      Json inner = std::move(*wrapped);
      app = std::move(inner);
    }
  }
  if (!app.is_object()) {
    return Status::InvalidArgument(std::string("marathon app: expected a JSON object, got ") +
                                   app.type_name());
  }
  const Json* id = Field(app, "id");
  if (!id || !id->is_string() || id->get_ref<const std::string&>().empty()) {
    return Status::InvalidArgument("marathon app: no string 'id'");
  }
  model::LiveApp out;
  out.id = id->get<std::string>();
  out.version = StringOr(app, "version");
  if (const Json* vi = Field(app, "versionInfo")) {
    out.last_config_change_at = StringOr(*vi, "lastConfigChangeAt");
  }
  out.instances = IntOf(Field(app, "instances")).value_or(1);  // the server default (§4.1)

  if (tasks) {
    out.tasks = std::move(*tasks);
  } else if (const Json* listed = Field(app, "tasks"); listed && listed->is_array()) {
    for (const Json& t : *listed) {
      if (t.is_object()) out.tasks.push_back(ParseTask(t));
    }
  }
  if (const Json* deps = Field(app, "deployments"); deps && deps->is_array()) {
    for (const Json& d : *deps) {
      std::string did = StringOr(d, "id");
      if (!did.empty()) out.deployment_ids.push_back(std::move(did));
    }
  }
  // The counters when Marathon sent them, else counted from the tasks.
  int running = 0, healthy = 0, staged = 0;
  for (const auto& t : out.tasks) {
    running += t.state == "TASK_RUNNING";
    staged += t.state == "TASK_STAGING" || t.state == "TASK_STARTING";
    healthy += t.healthy;
  }
  out.tasks_running = IntOf(Field(app, "tasksRunning")).value_or(running);
  out.tasks_healthy = IntOf(Field(app, "tasksHealthy")).value_or(healthy);
  out.tasks_staged = IntOf(Field(app, "tasksStaged")).value_or(staged);

  for (const char* key : kReadOnlyKeys) app.erase(key);
  out.body = std::move(app);
  return out;
}

Result<std::vector<model::LiveApp>> ParseAppListing(
    const std::string& body, const std::string& context,
    const std::function<bool(const std::string& id)>& keep) {
  ListingHandler handler(context, keep);
  RETURN_IF_ERROR(SaxParseJsonBody(body, context, &handler));
  return handler.Finish();
}

}  // namespace galley::clients::internal
