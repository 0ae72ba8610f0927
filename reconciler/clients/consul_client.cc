// SPDX-License-Identifier: Apache-2.0
#include "clients/consul_client.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <utility>

#include "base/strings.h"
#include "clients/http_support.h"

namespace galley::clients {
namespace {

using Json = nlohmann::json;
using internal::MakeStatus;

const Json* Field(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string StringOr(const Json& obj, const char* key) {
  const Json* v = Field(obj, key);
  return v && v->is_string() ? v->get<std::string>() : "";
}

uint64_t Uint64Or(const Json& obj, const char* key) {
  const Json* v = Field(obj, key);
  if (!v) return 0;
  if (v->is_number_unsigned()) return v->get<uint64_t>();
  if (v->is_number_integer()) return static_cast<uint64_t>(std::max<int64_t>(0, v->get<int64_t>()));
  return 0;
}

std::vector<std::string> StringList(const Json* v) {
  std::vector<std::string> out;
  if (!v || !v->is_array()) return out;
  for (const Json& s : *v) {
    if (s.is_string()) out.push_back(s.get<std::string>());
  }
  return out;
}

uint64_t ParseIndex(const std::string& header) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(header.data(), header.data() + header.size(), v);
  return ec == std::errc() ? v : 0;
}

// "/app/production/" → "app/production/" (Consul strips the leading slash too).
std::string KeyPath(std::string key) {
  size_t first = key.find_first_not_of('/');
  key.erase(0, first == std::string::npos ? key.size() : first);
  return internal::EncodePath(key);
}

class HttpConsulClient : public ConsulClient {
 public:
  HttpConsulClient(const ConsulEndpoint& endpoint, net::HttpClient* http,
                   const ConsulClientOptions& options)
      : endpoint_(endpoint), http_(http), options_(options) {
    while (!endpoint_.url.empty() && endpoint_.url.back() == '/') endpoint_.url.pop_back();
  }

  Result<KvList> ListKv(const std::string& prefix) override {
    return Guarded([&] { return DoListKv(prefix); });
  }
  Result<model::LiveKvEntry> GetKv(const std::string& key) override {
    return Guarded([&] { return DoGetKv(key); });
  }
  Result<std::map<std::string, std::vector<std::string>>> ListServices() override {
    return Guarded([&] { return DoListServices(); });
  }
  Result<std::vector<HealthInstance>> ServiceHealth(const std::string& name,
                                                    bool passing_only) override {
    return Guarded([&] { return DoServiceHealth(name, passing_only); });
  }
  int requests() const override { return requests_.load(); }

 private:
  struct Reply {
    int status = 0;
    net::Headers headers;
    std::string body;
    std::string context;  // "consul http://c:8500: GET /v1/kv/app/?recurse"
    std::string Header(const std::string& name) const {
      auto it = headers.find(name);
      return it == headers.end() ? "" : it->second;
    }
    Status Error() const {
      std::string msg = context + ": " + internal::StatusLine(status);
      std::string detail = internal::ErrorBodySummary(body, /*json_message=*/false);
      if (!detail.empty()) msg += ": " + detail;
      return MakeStatus(internal::CodeForHttpStatus(status), std::move(msg));
    }
  };

  template <typename F>
  static auto Guarded(F f) -> decltype(f()) {
    try {
      return f();
    } catch (const nlohmann::json::exception& e) {
      return Status::Internal(std::string("consul: unexpected response shape: ") + e.what());
    }
  }

  Result<Reply> Get(const std::string& target) {
    if (endpoint_.url.empty()) return Status::InvalidArgument("consul: no URL configured");
    net::ClientRequest req;
    req.method = "GET";
    req.url = endpoint_.url + target;
    req.timeout = options_.timeout;
    req.max_response_bytes = options_.max_response_bytes;
    req.headers["Accept"] = "application/json";
    if (!endpoint_.token.empty()) req.headers["X-Consul-Token"] = endpoint_.token;
    internal::MarkIdempotent(req);
    std::string context = "consul " + endpoint_.url + ": GET " + target;
    ++requests_;
    auto r = http_->Send(req);
    if (!r.ok()) {
      return MakeStatus(r.status().code(),
                        context + ": " + internal::TransportDetail(r.status(), req));
    }
    return Reply{r->status, std::move(r->headers), std::move(r->body), std::move(context)};
  }

  // Decodes an array of KV entries (the body of a KV read).
  static Result<std::vector<model::LiveKvEntry>> ParseEntries(const Reply& reply) {
    ASSIGN_OR_RETURN(Json body, internal::ParseJsonBody(reply.body, reply.context));
    if (!body.is_array()) {
      return Status::Unavailable(reply.context + ": unexpected response: not a JSON array");
    }
    std::vector<model::LiveKvEntry> out;
    out.reserve(body.size());
    for (const Json& e : body) {
      model::LiveKvEntry entry;
      entry.key = StringOr(e, "Key");
      if (entry.key.empty()) {
        return Status::Unavailable(reply.context + ": unexpected response: an entry has no Key");
      }
      entry.modify_index = Uint64Or(e, "ModifyIndex");
      entry.flags = Uint64Or(e, "Flags");
      entry.session = StringOr(e, "Session");
      if (const Json* v = Field(e, "Value")) {  // null: an empty value
        if (!v->is_string()) {
          return Status::Unavailable(reply.context + ": unexpected response: Value of key " +
                                     Quote(entry.key) + " is not a string");
        }
        auto decoded = internal::Base64Decode(v->get_ref<const std::string&>());
        if (!decoded) {
          return Status::Unavailable(reply.context + ": unexpected response: Value of key " +
                                     Quote(entry.key) + " is not base64");
        }
        entry.value = std::move(*decoded);
      }
      out.push_back(std::move(entry));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
    return out;
  }

  Result<KvList> DoListKv(const std::string& prefix) {
    ASSIGN_OR_RETURN(Reply reply, Get("/v1/kv/" + KeyPath(prefix) + "?recurse"));
    KvList list;
    list.index = ParseIndex(reply.Header("X-Consul-Index"));
    // Nothing under the prefix. Consul's KV 404 always carries X-Consul-Index; a 404 without
    // it comes from something else (a wrong base URL, a proxy) and must not read as "no keys".
    if (reply.status == 404 && !reply.Header("X-Consul-Index").empty()) return list;
    if (reply.status / 100 != 2) return reply.Error();
    ASSIGN_OR_RETURN(list.entries, ParseEntries(reply));
    return list;
  }

  Result<model::LiveKvEntry> DoGetKv(const std::string& key) {
    ASSIGN_OR_RETURN(Reply reply, Get("/v1/kv/" + KeyPath(key)));
    if (reply.status == 404 && !reply.Header("X-Consul-Index").empty()) {
      return Status::NotFound("consul: key " + Quote(key) + " does not exist");
    }
    if (reply.status / 100 != 2) return reply.Error();
    ASSIGN_OR_RETURN(auto entries, ParseEntries(reply));
    if (entries.empty()) return Status::NotFound("consul: key " + Quote(key) + " does not exist");
    return std::move(entries.front());
  }

  Result<std::map<std::string, std::vector<std::string>>> DoListServices() {
    ASSIGN_OR_RETURN(Reply reply, Get("/v1/catalog/services"));
    if (reply.status / 100 != 2) return reply.Error();
    ASSIGN_OR_RETURN(Json body, internal::ParseJsonBody(reply.body, reply.context));
    if (!body.is_object()) {
      return Status::Unavailable(reply.context + ": unexpected response: not a JSON object");
    }
    std::map<std::string, std::vector<std::string>> out;
    for (auto it = body.begin(); it != body.end(); ++it) {
      std::vector<std::string> tags = StringList(it->is_null() ? nullptr : &*it);
      std::sort(tags.begin(), tags.end());  // Consul gives them in no particular order
      out[it.key()] = std::move(tags);
    }
    return out;
  }

  Result<std::vector<HealthInstance>> DoServiceHealth(const std::string& name, bool passing_only) {
    if (name.empty()) return Status::InvalidArgument("consul: ServiceHealth needs a service name");
    ASSIGN_OR_RETURN(Reply reply, Get("/v1/health/service/" + net::PercentEncode(name) +
                                      (passing_only ? "?passing" : "")));
    if (reply.status / 100 != 2) return reply.Error();
    ASSIGN_OR_RETURN(Json body, internal::ParseJsonBody(reply.body, reply.context));
    if (!body.is_array()) {
      return Status::Unavailable(reply.context + ": unexpected response: not a JSON array");
    }
    std::vector<HealthInstance> out;
    for (const Json& e : body) {
      const Json* node = Field(e, "Node");
      const Json* service = Field(e, "Service");
      if (!node || !service) {
        return Status::Unavailable(reply.context +
                                   ": unexpected response: an entry lacks Node or Service");
      }
      HealthInstance h;
      h.node = StringOr(*node, "Node");
      h.address = StringOr(*service, "Address");
      if (h.address.empty()) h.address = StringOr(*node, "Address");
      h.port = static_cast<int>(Uint64Or(*service, "Port"));
      h.service_id = StringOr(*service, "ID");
      h.tags = StringList(Field(*service, "Tags"));
      h.passing = true;
      if (const Json* checks = Field(e, "Checks"); checks && checks->is_array()) {
        for (const Json& c : *checks) h.passing = h.passing && StringOr(c, "Status") == "passing";
      }
      out.push_back(std::move(h));
    }
    return out;
  }

  ConsulEndpoint endpoint_;
  net::HttpClient* const http_;
  const ConsulClientOptions options_;
  std::atomic<int> requests_{0};
};

}  // namespace

std::unique_ptr<ConsulClient> NewConsulClient(const ConsulEndpoint& endpoint,
                                              net::HttpClient* http) {
  return NewConsulClient(endpoint, http, ConsulClientOptions{});
}

std::unique_ptr<ConsulClient> NewConsulClient(const ConsulEndpoint& endpoint, net::HttpClient* http,
                                              const ConsulClientOptions& options) {
  return std::make_unique<HttpConsulClient>(endpoint, http, options);
}

}  // namespace galley::clients
