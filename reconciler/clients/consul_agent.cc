// SPDX-License-Identifier: Apache-2.0
#include "clients/consul_agent.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include <nlohmann/json.hpp>

#include "clients/http_support.h"

namespace galley::clients {
namespace {

using Json = nlohmann::json;
using internal::MakeStatus;

class HttpConsulAgentClient : public ConsulAgentClient {
 public:
  HttpConsulAgentClient(const ConsulEndpoint& endpoint, net::HttpClient* http,
                        const ConsulAgentClientOptions& options)
      : endpoint_(endpoint), http_(http), options_(options) {
    while (!endpoint_.url.empty() && endpoint_.url.back() == '/') endpoint_.url.pop_back();
  }

  Result<std::vector<AgentService>> ListServices() override {
    try {
      return DoList();
    } catch (const nlohmann::json::exception& e) {
      return Status::Internal(std::string("consul-agent: unexpected response shape: ") + e.what());
    }
  }

  Status Register(const AgentService& service) override {
    std::string body;
    try {
      body = AgentRegisterBody(service);
    } catch (const nlohmann::json::exception& e) {  // a string that is not UTF-8
      return Status::InvalidArgument("consul-agent: registration " + service.id +
                                     " cannot be sent: " + e.what());
    }
    return Put("/v1/agent/service/register", &body);
  }

  Status Deregister(const std::string& id) override {
    if (id.empty()) return Status::InvalidArgument("consul-agent: Deregister needs a service ID");
    return Put("/v1/agent/service/deregister/" + net::PercentEncode(id), nullptr);
  }

  std::string url() const override { return endpoint_.url; }

 private:
  struct Reply {
    int status = 0;
    std::string body;
    std::string context;
    Status Error() const {
      std::string msg = context + ": " + internal::StatusLine(status);
      std::string detail = internal::ErrorBodySummary(body, /*json_message=*/false);
      if (!detail.empty()) msg += ": " + detail;
      return MakeStatus(internal::CodeForHttpStatus(status), std::move(msg));
    }
  };

  Result<Reply> Send(const std::string& method, const std::string& target,
                     const std::string* body) {
    if (endpoint_.url.empty()) return Status::InvalidArgument("consul-agent: no URL configured");
    net::ClientRequest req;
    req.method = method;
    req.url = endpoint_.url + target;
    req.timeout = options_.timeout;
    req.max_response_bytes = options_.max_response_bytes;
    req.headers["Accept"] = "application/json";
    if (body) {
      req.body = *body;
      req.headers["Content-Type"] = "application/json";
    }
    if (!endpoint_.token.empty()) req.headers["X-Consul-Token"] = endpoint_.token;
    internal::MarkIdempotent(req);  // list, upsert by ID, delete by ID: all repeatable
    std::string context = "consul-agent " + endpoint_.url + ": " + method + " " + target;
    auto r = http_->Send(req);
    if (!r.ok()) {
      return MakeStatus(r.status().code(),
                        context + ": " + internal::TransportDetail(r.status(), req));
    }
    return Reply{r->status, std::move(r->body), std::move(context)};
  }

  Status Put(const std::string& target, const std::string* body) {
    auto reply = Send("PUT", target, body);
    if (!reply.ok()) return reply.status();
    if (reply->status / 100 != 2) return reply->Error();
    return Status::Ok();
  }

  static std::vector<std::string> Strings(const Json& v) {
    std::vector<std::string> out;
    if (!v.is_array()) return out;
    for (const Json& s : v) {
      if (s.is_string()) out.push_back(s.get<std::string>());
    }
    return out;
  }

  Result<std::vector<AgentService>> DoList() {
    ASSIGN_OR_RETURN(Reply reply, Send("GET", "/v1/agent/services", nullptr));
    if (reply.status / 100 != 2) return reply.Error();
    ASSIGN_OR_RETURN(Json body, internal::ParseJsonBody(reply.body, reply.context));
    if (!body.is_object()) {
      return Status::Unavailable(reply.context + ": unexpected response: not a JSON object");
    }
    std::vector<AgentService> out;
    for (auto it = body.begin(); it != body.end(); ++it) {
      const Json& s = it.value();
      if (!s.is_object()) {
        return Status::Unavailable(reply.context + ": unexpected response: service " + it.key() +
                                   " is not an object");
      }
      AgentService svc;
      auto id = s.find("ID");
      svc.id = id != s.end() && id->is_string() ? id->get<std::string>() : it.key();
      if (auto n = s.find("Service"); n != s.end() && n->is_string()) svc.name = *n;
      if (auto t = s.find("Tags"); t != s.end()) svc.tags = Strings(*t);
      if (auto a = s.find("Address"); a != s.end() && a->is_string()) svc.address = *a;
      if (auto p = s.find("Port"); p != s.end() && p->is_number_integer()) {
        svc.port = p->get<int>();
      }
      if (auto m = s.find("Meta"); m != s.end() && m->is_object()) {
        for (auto kv = m->begin(); kv != m->end(); ++kv) {
          if (kv.value().is_string()) svc.meta[kv.key()] = kv.value().get<std::string>();
        }
      }
      out.push_back(std::move(svc));
    }
    std::sort(out.begin(), out.end(),
              [](const AgentService& a, const AgentService& b) { return a.id < b.id; });
    return out;
  }

  ConsulEndpoint endpoint_;
  net::HttpClient* http_;
  ConsulAgentClientOptions options_;
};

}  // namespace

std::string AgentRegisterBody(const AgentService& service) {
  Json body = Json::object();
  body["ID"] = service.id;
  body["Name"] = service.name;
  body["Tags"] = service.tags;
  body["Address"] = service.address;
  body["Port"] = service.port;
  Json meta = Json::object();
  for (const auto& [k, v] : service.meta) meta[k] = v;
  body["Meta"] = meta;
  if (service.check) {
    const AgentCheck& c = *service.check;
    Json check = Json::object();
    check[c.kind == AgentCheck::Kind::kHttp ? "HTTP" : "TCP"] = c.target;
    check["Interval"] = std::to_string(c.interval_s) + "s";
    if (c.timeout_s) check["Timeout"] = std::to_string(*c.timeout_s) + "s";
    body["Check"] = check;
  }
  return body.dump();
}

std::unique_ptr<ConsulAgentClient> NewConsulAgentClient(const ConsulEndpoint& endpoint,
                                                        net::HttpClient* http,
                                                        const ConsulAgentClientOptions& options) {
  return std::make_unique<HttpConsulAgentClient>(endpoint, http, options);
}

}  // namespace galley::clients
