// SPDX-License-Identifier: Apache-2.0
#include "sandbox/common/faults.h"

#include <chrono>

#include <nlohmann/json.hpp>

namespace galley::sandbox {

using json = nlohmann::json;

net::HttpResponse FaultInjector::Handle(const net::HttpRequest& req, const net::HttpHandler& next) {
  if (req.path == "/_sandbox/faults") return Admin(req);
  if (req.path.rfind("/_sandbox/", 0) == 0) return next(req);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++requests_;
  }
  int latency = 0;
  Fault f = Pick(req, &latency);
  if (latency > 0) {
    std::unique_lock<std::mutex> lock(mu_);
    stop_cv_.wait_for(lock, std::chrono::milliseconds(latency), [this] { return stopped_; });
  }
  switch (f) {
    case Fault::kNone:
      return next(req);
    case Fault::kFail: {
      int status;
      {
        std::lock_guard<std::mutex> lock(mu_);
        status = plan_.fail_status;
      }
      return net::HttpResponse::Json(status, R"({"message":"injected fault: server error"})");
    }
    case Fault::kDrop: {
      net::HttpResponse r;
      r.drop_connection = true;
      return r;
    }
    case Fault::kGarbage:
      return net::HttpResponse::Json(200,
                                     "<html><body>502 Bad Gateway</body></html>\x01\x02 not json");
    case Fault::kTruncate: {
      net::HttpResponse r = next(req);
      r.body.resize(r.body.size() / 2);
      return r;
    }
    case Fault::kConflict:
      return net::HttpResponse::Json(409, conflict_body_);
  }
  return next(req);
}

void FaultInjector::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
  }
  stop_cv_.notify_all();
}

FaultInjector::Fault FaultInjector::Pick(const net::HttpRequest& req, int* latency_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!plan_.path_prefix.empty() && req.path.rfind(plan_.path_prefix, 0) != 0) return Fault::kNone;
  if (!plan_.methods.empty()) {
    bool match = false;
    for (const auto& m : plan_.methods) match = match || m == req.method;
    if (!match) return Fault::kNone;
  }
  if (!plan_.body_contains.empty() && req.body.find(plan_.body_contains) == std::string::npos)
    return Fault::kNone;
  *latency_ms = stopped_ ? 0 : plan_.latency_ms;
  auto take = [&](int& n, Fault f) {
    if (n <= 0) return Fault::kNone;
    --n;
    ++injected_;
    return f;
  };
  for (auto [count, fault] : {std::pair<int*, Fault>{&plan_.drop_next, Fault::kDrop},
                              {&plan_.fail_next, Fault::kFail},
                              {&plan_.garbage_next, Fault::kGarbage},
                              {&plan_.truncate_next, Fault::kTruncate},
                              {&plan_.conflict_next, Fault::kConflict}}) {
    Fault f = take(*count, fault);
    if (f != Fault::kNone) return f;
  }
  return Fault::kNone;
}

std::string FaultInjector::PlanJson() const {
  json j = {{"latency_ms", plan_.latency_ms},
            {"fail_next", plan_.fail_next},
            {"fail_status", plan_.fail_status},
            {"drop_next", plan_.drop_next},
            {"garbage_next", plan_.garbage_next},
            {"truncate_next", plan_.truncate_next},
            {"conflict_next", plan_.conflict_next},
            {"path_prefix", plan_.path_prefix},
            {"methods", plan_.methods},
            {"body_contains", plan_.body_contains},
            {"injected", injected_},
            {"requests", requests_}};
  return j.dump();
}

net::HttpResponse FaultInjector::Admin(const net::HttpRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  if (req.method == "GET") return net::HttpResponse::Json(200, PlanJson());
  if (req.method == "DELETE") {
    plan_ = Plan{};
    return net::HttpResponse::Json(200, PlanJson());
  }
  if (req.method != "PUT" && req.method != "POST") {
    return net::HttpResponse::Json(405, R"({"message":"use GET, PUT or DELETE"})");
  }
  json j = json::parse(req.body, nullptr, false);
  if (!j.is_object())
    return net::HttpResponse::Json(400, R"({"message":"body must be a JSON object"})");
  Plan p;
  try {
    for (auto& [k, v] : j.items()) {
      if (k == "latency_ms")
        p.latency_ms = v.get<int>();
      else if (k == "fail_next")
        p.fail_next = v.get<int>();
      else if (k == "fail_status")
        p.fail_status = v.get<int>();
      else if (k == "drop_next")
        p.drop_next = v.get<int>();
      else if (k == "garbage_next")
        p.garbage_next = v.get<int>();
      else if (k == "truncate_next")
        p.truncate_next = v.get<int>();
      else if (k == "conflict_next")
        p.conflict_next = v.get<int>();
      else if (k == "path_prefix")
        p.path_prefix = v.get<std::string>();
      else if (k == "methods")
        p.methods = v.get<std::vector<std::string>>();
      else if (k == "body_contains")
        p.body_contains = v.get<std::string>();
      else
        return net::HttpResponse::Json(400,
                                       json{{"message", "unknown fault field '" + k + "'"}}.dump());
    }
  } catch (const json::exception& e) {
    return net::HttpResponse::Json(
        400, json{{"message", std::string("bad fault plan: ") + e.what()}}.dump());
  }
  // 1xx is not a final answer: a client would wait for the real one until its deadline.
  if (p.fail_status < 200 || p.fail_status > 599 || p.latency_ms < 0 || p.latency_ms > 600000) {
    return net::HttpResponse::Json(
        400, R"({"message":"fail_status must be an HTTP status 200..599, latency_ms 0..600000"})");
  }
  plan_ = p;
  return net::HttpResponse::Json(200, PlanJson());
}

}  // namespace galley::sandbox
