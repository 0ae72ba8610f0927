// SPDX-License-Identifier: Apache-2.0
#include "clients/chronos_client.h"

#include <algorithm>
#include <atomic>

#include "base/base64.h"
#include "clients/http_support.h"

namespace galley::clients {
namespace {

using Json = nlohmann::json;
constexpr char kPrefix[] = "/v1/scheduler";

std::string StrField(const Json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}
int64_t IntField(const Json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_number() ? it->get<int64_t>() : 0;
}

// Chronos' error text: the `message` of {"message","status"} (3.x) or the bare body (2.x),
// first line only, without "java.lang.X: " and "requirement failed: ".
std::string ChronosMessage(const std::string& body) {
  std::string text;
  Json j = Json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) {
    text = j["message"].get<std::string>();
  } else if (body.find('<') == std::string::npos) {
    text = body;
  }
  text = text.substr(0, text.find('\n'));
  for (const char* prefix :
       {"java.lang.IllegalArgumentException: ", "java.lang.Exception: ", "requirement failed: "}) {
    if (text.rfind(prefix, 0) == 0) text = text.substr(std::string(prefix).size());
  }
  return internal::OneLine(text);
}

bool IsNotFoundMessage(const std::string& m) {
  return m.size() > 10 && m.compare(m.size() - 10, 10, " not found") == 0 &&
         (m.rfind("Job '", 0) == 0 || m.rfind("JobSchedule '", 0) == 0);
}

class HttpChronosClient : public ChronosClient {
 public:
  HttpChronosClient(ChronosEndpoint endpoint, net::HttpClient* http, ChronosClientOptions options)
      : endpoint_(std::move(endpoint)), http_(http), options_(options) {
    while (!endpoint_.url.empty() && endpoint_.url.back() == '/') endpoint_.url.pop_back();
    if (!endpoint_.basic_user.empty()) {
      auth_ = "Basic " + Base64Encode(endpoint_.basic_user + ":" + endpoint_.basic_password);
    }
  }

  Result<std::vector<ChronosJob>> ListJobs() override {
    ASSIGN_OR_RETURN(Reply r, Send("GET", "/jobs", ""));
    if (r.status != 200) return r.Error("");
    ASSIGN_OR_RETURN(Json body, internal::ParseJsonBody(r.body, r.context));
    if (!body.is_array()) {
      return Status::Unavailable(r.context + ": unexpected response: not a JSON array of jobs");
    }
    std::vector<ChronosJob> out;
    for (size_t i = 0; i < body.size(); ++i) {
      auto job = ParseChronosJob(body[i]);
      if (!job.ok()) {
        return Status::Unavailable(r.context + ": unexpected response: jobs[" + std::to_string(i) +
                                   "]: " + job.status().message());
      }
      out.push_back(std::move(job).value());
    }
    std::sort(out.begin(), out.end(),
              [](const ChronosJob& a, const ChronosJob& b) { return a.name < b.name; });
    return out;
  }

  Result<ChronosJob> GetJob(const std::string& name) override {
    ASSIGN_OR_RETURN(Reply r, Send("GET", "/job/" + internal::EncodePath(name), ""));
    if (r.status != 200) return r.Error(name);
    ASSIGN_OR_RETURN(Json body, internal::ParseJsonBody(r.body, r.context));
    auto job = ParseChronosJob(body);
    if (!job.ok())
      return Status::Unavailable(r.context + ": unexpected response: " + job.status().message());
    return job;
  }

  Status PutJob(const Json& body) override {
    if (!body.is_object() || !body.contains("name") || !body["name"].is_string()) {
      return Status::InvalidArgument("chronos: a job body needs a string \"name\"");
    }
    bool dependent = body.contains("parents");
    if (dependent && body.contains("schedule")) {
      return Status::InvalidArgument("chronos: job '" + body["name"].get<std::string>() +
                                     "' has both \"schedule\" and \"parents\" (Chronos would drop "
                                     "the schedule)");
    }
    if (!dependent && !body.contains("schedule")) {
      return Status::InvalidArgument("chronos: job '" + body["name"].get<std::string>() +
                                     "' has neither \"schedule\" nor \"parents\"");
    }
    ASSIGN_OR_RETURN(Reply r, Send("POST", dependent ? "/dependency" : "/iso8601", body.dump()));
    if (r.status / 100 != 2) return r.Error(body["name"].get<std::string>());
    return Status::Ok();
  }

  Status DeleteJob(const std::string& name) override {
    ASSIGN_OR_RETURN(Reply r, Send("DELETE", "/job/" + internal::EncodePath(name), ""));
    if (r.status / 100 != 2) return r.Error(name);
    return Status::Ok();
  }

  Status StartJob(const std::string& name, const std::string& arguments) override {
    std::string path = "/job/" + internal::EncodePath(name);
    if (!arguments.empty()) path += "?arguments=" + net::PercentEncode(arguments);
    ASSIGN_OR_RETURN(Reply r, Send("PUT", path, ""));
    if (r.status / 100 != 2) return r.Error(name);
    return Status::Ok();
  }

  Result<ChronosJobStats> GetJobStats(const std::string& name) override {
    ASSIGN_OR_RETURN(ChronosJob job, GetJob(name));
    ChronosJobStats s;
    s.success_count = job.success_count;
    s.error_count = job.error_count;
    s.errors_since_last_success = job.errors_since_last_success;
    s.last_success = job.last_success;
    s.last_error = job.last_error;
    s.disabled = job.disabled;
    ASSIGN_OR_RETURN(Reply r, Send("GET", "/job/stat/" + internal::EncodePath(name), ""));
    if (r.status != 200) return r.Error(name);
    ASSIGN_OR_RETURN(Json body, internal::ParseJsonBody(r.body, r.context));
    if (!body.is_object() || !body.contains("histogram") || !body["histogram"].is_object()) {
      return Status::Unavailable(r.context + ": unexpected response: no \"histogram\" object");
    }
    const Json& h = body["histogram"];
    s.runs_measured = IntField(h, "count");
    if (h.contains("median") && h["median"].is_number()) s.median_ms = h["median"].get<double>();
    return s;
  }

  int requests() const override { return requests_.load(); }
  std::string url() const override { return endpoint_.url; }

 private:
  struct Reply {
    int status = 0;
    std::string body, context;
    Status Error(const std::string& job) const {
      std::string m = ChronosMessage(body);
      if (status == 400 && IsNotFoundMessage(m)) {
        return internal::MakeStatus(StatusCode::kNotFound,
                                    context + ": job '" + job + "' does not exist");
      }
      if (status == 404) {
        return internal::MakeStatus(
            StatusCode::kNotFound,
            context +
                ": 404 Not Found (not a Chronos 3.x API: is the URL right? 3.x serves "
                "/v1/scheduler/, 2.x /scheduler/)");
      }
      std::string text = context + ": " + internal::StatusLine(status);
      if (!m.empty()) text += ": " + m;
      return internal::MakeStatus(internal::CodeForHttpStatus(status), text);
    }
  };

  Result<Reply> Send(const std::string& method, const std::string& path, const std::string& body) {
    std::string shown_path = std::string(kPrefix) + path.substr(0, path.find('?'));
    std::string context = "chronos " + endpoint_.url + ": " + method + " " + shown_path;
    net::ClientRequest req;
    req.method = method;
    req.url = endpoint_.url + kPrefix + path;
    req.body = body;
    req.timeout = options_.timeout;
    if (!body.empty()) req.headers["Content-Type"] = "application/json";
    req.headers["Accept"] = "application/json";
    if (!auth_.empty()) req.headers["Authorization"] = auth_;
    if (method == "GET") internal::MarkIdempotent(req);
    int attempts = method == "GET" ? std::max(1, options_.get_attempts) : 1;
    Status last = Status::Ok();
    for (int a = 0; a < attempts; ++a) {
      if (a > 0) ClockOr(options_.clock).Sleep(std::chrono::milliseconds(200 << (a - 1)));
      ++requests_;
      auto r = http_->Send(req);
      if (!r.ok()) {
        last = internal::MakeStatus(r.status().code(),
                                    context + ": " + internal::TransportDetail(r.status(), req));
        continue;
      }
      Reply out{r->status, r->body, context};
      if ((r->status == 502 || r->status == 503 || r->status == 504) && attempts > 1) {
        last = out.Error("");
        continue;
      }
      return out;
    }
    if (attempts > 1) {
      return internal::MakeStatus(
          last.code(), last.message() + " (after " + std::to_string(attempts) + " attempts)");
    }
    return last;
  }

  ChronosEndpoint endpoint_;
  net::HttpClient* http_;
  ChronosClientOptions options_;
  std::string auth_;
  std::atomic<int> requests_{0};
};

}  // namespace

std::string ChronosJobStats::LastOutcome() const {
  if (last_success.empty() && last_error.empty()) return "fresh";
  return last_success >= last_error ? "success" : "failure";
}

Result<ChronosJob> ParseChronosJob(const Json& j) {
  if (!j.is_object()) return Status::InvalidArgument("a job is not a JSON object");
  auto name = j.find("name");
  if (name == j.end() || !name->is_string() || name->get<std::string>().empty()) {
    return Status::InvalidArgument("a job has no string \"name\"");
  }
  ChronosJob out;
  out.name = name->get<std::string>();
  auto parents = j.find("parents");
  out.dependent = parents != j.end();
  if (out.dependent) {
    if (!parents->is_array()) {
      return Status::InvalidArgument("job '" + out.name + "': \"parents\" is not an array");
    }
    for (const auto& p : *parents) {
      if (!p.is_string()) {
        return Status::InvalidArgument("job '" + out.name + "': a parent is not a string");
      }
      out.parents.push_back(p.get<std::string>());
    }
    std::sort(out.parents.begin(), out.parents.end());
  } else {
    out.schedule = StrField(j, "schedule");
    out.schedule_time_zone = StrField(j, "scheduleTimeZone");
  }
  auto disabled = j.find("disabled");
  out.disabled = disabled != j.end() && disabled->is_boolean() && disabled->get<bool>();
  out.description = StrField(j, "description");
  out.owner = StrField(j, "owner");
  out.success_count = IntField(j, "successCount");
  out.error_count = IntField(j, "errorCount");
  out.errors_since_last_success = IntField(j, "errorsSinceLastSuccess");
  out.last_success = StrField(j, "lastSuccess");
  out.last_error = StrField(j, "lastError");
  out.body = j;
  return out;
}

Json ChronosRequestBody(const Json& job) {
  Json out = job;
  for (const char* k :
       {"successCount", "errorCount", "errorsSinceLastSuccess", "lastSuccess", "lastError"}) {
    out.erase(k);
  }
  return out;
}

std::unique_ptr<ChronosClient> NewChronosClient(const ChronosEndpoint& endpoint,
                                                net::HttpClient* http,
                                                const ChronosClientOptions& options) {
  return std::make_unique<HttpChronosClient>(endpoint, http, options);
}

}  // namespace galley::clients
