// SPDX-License-Identifier: Apache-2.0
#include "clients/consul_client.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <string_view>
#include <utility>

#include "base/base64.h"
#include "base/strings.h"
#include "clients/consul_kv_listing.h"
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

// Ops per /v1/txn galley sends at most: Consul before ~1.16 refuses more than 64 (current
// versions take 128), so callers chunk at the portable limit (consul-api.md §2.1).
constexpr size_t kMaxTxnOps = 64;

const char* VerbName(KvTxnOp::Verb verb) {
  switch (verb) {
    case KvTxnOp::Verb::kSet:
      return "set";
    case KvTxnOp::Verb::kCas:
      return "cas";
    case KvTxnOp::Verb::kDelete:
      return "delete";
    case KvTxnOp::Verb::kDeleteCas:
      return "delete-cas";
    case KvTxnOp::Verb::kCheckIndex:
      return "check-index";
  }
  return "set";
}

// Verbs whose repetition cannot change anything a first success did: a repeated cas or
// delete-cas finds the index moved and fails, a check only reads.
bool RepeatSafe(KvTxnOp::Verb verb) {
  return verb == KvTxnOp::Verb::kCas || verb == KvTxnOp::Verb::kDeleteCas ||
         verb == KvTxnOp::Verb::kCheckIndex;
}

// A key as Consul stores it: without leading slashes (the KV endpoints strip them too, so
// Txn and PutKv address the same key).
std::string TxnKey(const std::string& key) {
  size_t first = key.find_first_not_of('/');
  return first == std::string::npos ? "" : key.substr(first);
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

  Result<KvTxnResult> Txn(const std::vector<KvTxnOp>& ops) override {
    return Guarded([&] { return DoTxn(ops); });
  }
  Result<bool> PutKv(const std::string& key, const std::string& value,
                     std::optional<uint64_t> cas) override {
    return Guarded([&] { return DoPutKv(key, value, cas); });
  }
  Result<std::string> CreateSession(const SessionOptions& options) override {
    return Guarded([&] { return DoCreateSession(options); });
  }
  Status RenewSession(const std::string& id) override {
    return Guarded([&] { return DoRenewSession(id); });
  }
  Status DestroySession(const std::string& id) override {
    return Guarded([&] { return DoDestroySession(id); });
  }
  Result<bool> AcquireLock(const std::string& key, const std::string& value,
                           const std::string& session) override {
    return Guarded([&] { return DoLock("acquire", key, value, session); });
  }
  Result<bool> ReleaseLock(const std::string& key, const std::string& session) override {
    return Guarded([&] { return DoLock("release", key, "", session); });
  }
  Result<bool> DeleteKv(const std::string& key, std::optional<uint64_t> cas) override {
    return Guarded([&] { return DoDeleteKv(key, cas); });
  }

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
    return Send("GET", target, nullptr, /*idempotent=*/true);
  }

  // One request to the endpoint; `body`, when not null, is sent as it is. `idempotent` lets
  // a retrying transport repeat the request after it may have reached Consul. Errors name
  // the request ("consul http://c:8500: PUT /v1/txn: ..."), never its body: KV values may be
  // secrets.
  Result<Reply> Send(const std::string& method, const std::string& target, const std::string* body,
                     bool idempotent) {
    if (endpoint_.url.empty()) return Status::InvalidArgument("consul: no URL configured");
    net::ClientRequest req;
    req.method = method;
    req.url = endpoint_.url + target;
    req.timeout = options_.timeout;
    req.max_response_bytes = options_.max_response_bytes;
    req.headers["Accept"] = "application/json";
    if (body) req.body = *body;
    if (!endpoint_.token.empty()) req.headers["X-Consul-Token"] = endpoint_.token;
    if (idempotent) internal::MarkIdempotent(req);
    std::string context = "consul " + endpoint_.url + ": " + method + " " + target;
    ++requests_;
    auto r = http_->Send(req);
    if (!r.ok()) {
      return MakeStatus(r.status().code(),
                        context + ": " + internal::TransportDetail(r.status(), req));
    }
    return Reply{r->status, std::move(r->headers), std::move(r->body), std::move(context)};
  }

  // The JSON literal `true` or `false` that KV writes answer.
  static Result<bool> ParseBool(const Reply& reply) {
    std::string_view text = reply.body;
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
      text.remove_suffix(1);
    }
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
      text.remove_prefix(1);
    }
    if (text == "true") return true;
    if (text == "false") return false;
    return Status::Unavailable(reply.context + ": unexpected response: not true or false");
  }

  // Decodes an array of KV entries (the body of a KV read).
  static Result<std::vector<model::LiveKvEntry>> ParseEntries(const Reply& reply) {
    return internal::ParseKvListing(reply.body, reply.context);
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

  // ---- Writes -------------------------------------------------------------------------

  Result<KvTxnResult> DoTxn(const std::vector<KvTxnOp>& ops) {
    if (ops.size() > kMaxTxnOps) {
      return Status::InvalidArgument("consul: a transaction takes at most " +
                                     std::to_string(kMaxTxnOps) + " operations, got " +
                                     std::to_string(ops.size()) + " (split it)");
    }
    KvTxnResult result;
    if (ops.empty()) {  // nothing to commit; Consul is not asked
      result.committed = true;
      return result;
    }
    Json body = Json::array();
    bool repeat_safe = true;
    for (const KvTxnOp& op : ops) {
      Json kv = {{"Verb", VerbName(op.verb)}, {"Key", TxnKey(op.key)}};
      if (op.verb == KvTxnOp::Verb::kSet || op.verb == KvTxnOp::Verb::kCas) {
        kv["Value"] = Base64Encode(op.value);  // base64 in a txn, unlike PUT /v1/kv
      }
      if (op.verb == KvTxnOp::Verb::kCas || op.verb == KvTxnOp::Verb::kDeleteCas ||
          op.verb == KvTxnOp::Verb::kCheckIndex) {
        kv["Index"] = op.index;
      }
      body.push_back({{"KV", std::move(kv)}});
      repeat_safe = repeat_safe && RepeatSafe(op.verb);
    }
    std::string text;
    try {
      text = body.dump();  // keys must be UTF-8; values are base64 by now
    } catch (const nlohmann::json::exception& e) {
      return Status::InvalidArgument(std::string("consul: a transaction key cannot be sent: ") +
                                     e.what());
    }
    ASSIGN_OR_RETURN(Reply reply, Send("PUT", "/v1/txn", &text, repeat_safe));
    if (reply.status == 200) {
      ASSIGN_OR_RETURN(Json answer, internal::ParseJsonBody(reply.body, reply.context));
      if (!answer.is_object()) {
        return Status::Unavailable(reply.context + ": unexpected response: not a JSON object");
      }
      result.committed = true;
      // One result per op that yields an entry (deletes yield none): Results do not line up
      // with ops, so they are matched by key.
      if (const Json* results = Field(answer, "Results"); results && results->is_array()) {
        for (const Json& r : *results) {
          const Json* kv = Field(r, "KV");
          if (!kv) continue;
          std::string key = StringOr(*kv, "Key");
          if (!key.empty()) result.indexes[key] = Uint64Or(*kv, "ModifyIndex");
        }
      }
      return result;
    }
    if (reply.status == 409) {
      // Rolled back: {"Results": null, "Errors": [{"OpIndex": i, "What": "..."}]}. A 409
      // without that shape (a proxy, a fault) is reported as the HTTP error it is.
      Json answer = Json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
      const Json* errors = Field(answer, "Errors");
      if (errors && errors->is_array() && !errors->empty()) {
        for (const Json& e : *errors) {
          const Json* op_index = Field(e, "OpIndex");
          int index = op_index && op_index->is_number_integer()
                          ? static_cast<int>(op_index->get<int64_t>())
                          : -1;
          result.failed_ops.push_back(index);
          result.errors.push_back("op " + std::to_string(index) + ": " +
                                  internal::OneLine(StringOr(e, "What")));
        }
        return result;
      }
    }
    return reply.Error();
  }

  Result<bool> DoPutKv(const std::string& key, const std::string& value,
                       std::optional<uint64_t> cas) {
    if (TxnKey(key).empty()) return Status::InvalidArgument("consul: PutKv needs a key");
    std::string target = "/v1/kv/" + KeyPath(key);
    if (cas) target += "?cas=" + std::to_string(*cas);
    // Repeating a plain write could undo someone else's write made in between; a cas
    // repeated after it succeeded finds the index moved and answers false.
    ASSIGN_OR_RETURN(Reply reply, Send("PUT", target, &value, /*idempotent=*/cas.has_value()));
    if (reply.status / 100 != 2) return reply.Error();
    return ParseBool(reply);
  }

  Result<std::string> DoCreateSession(const SessionOptions& options) {
    // LockDelay is sent even at 0: Consul's default is 15 s, which would keep a lock a
    // crashed holder had from being taken for that long.
    Json body = {{"Name", options.name},
                 {"TTL", std::to_string(options.ttl_seconds) + "s"},
                 {"LockDelay", std::to_string(options.lock_delay_seconds) + "s"},
                 {"Behavior", options.behavior}};
    std::string text;
    try {
      text = body.dump();
    } catch (const nlohmann::json::exception& e) {
      return Status::InvalidArgument(std::string("consul: session options cannot be sent: ") +
                                     e.what());
    }
    // Not idempotent: each request creates a session.
    ASSIGN_OR_RETURN(Reply reply, Send("PUT", "/v1/session/create", &text, /*idempotent=*/false));
    if (reply.status / 100 != 2) return reply.Error();
    ASSIGN_OR_RETURN(Json answer, internal::ParseJsonBody(reply.body, reply.context));
    std::string id = StringOr(answer, "ID");
    if (id.empty()) return Status::Unavailable(reply.context + ": unexpected response: no \"ID\"");
    return id;
  }

  Status DoRenewSession(const std::string& id) {
    if (id.empty()) return Status::InvalidArgument("consul: RenewSession needs a session id");
    ASSIGN_OR_RETURN(Reply reply, Send("PUT", "/v1/session/renew/" + net::PercentEncode(id),
                                       nullptr, /*idempotent=*/true));
    // "Session id '<id>' not found": expired or destroyed. A 404 of another kind (a wrong
    // base URL) is reported as the HTTP error it is.
    if (reply.status == 404 && StartsWith(reply.body, "Session id ")) {
      return Status::NotFound("consul: session '" + id + "' does not exist (expired or destroyed)");
    }
    if (reply.status / 100 != 2) return reply.Error();
    return Status::Ok();
  }

  Status DoDestroySession(const std::string& id) {
    if (id.empty()) return Status::InvalidArgument("consul: DestroySession needs a session id");
    ASSIGN_OR_RETURN(Reply reply, Send("PUT", "/v1/session/destroy/" + net::PercentEncode(id),
                                       nullptr, /*idempotent=*/true));
    if (reply.status / 100 != 2) return reply.Error();
    return Status::Ok();
  }

  // PUT /v1/kv/<key>?acquire=<session> or ?release=<session>. Consul writes the body as the
  // key's value in both cases (a release therefore empties it). Both may be repeated: the
  // holder acquiring again keeps the lock, a second release answers false.
  Result<bool> DoLock(const char* verb, const std::string& key, const std::string& value,
                      const std::string& session) {
    if (TxnKey(key).empty()) return Status::InvalidArgument("consul: a lock needs a key");
    if (session.empty()) return Status::InvalidArgument("consul: a lock needs a session id");
    std::string target = "/v1/kv/" + KeyPath(key) + "?" + verb + "=" + net::PercentEncode(session);
    ASSIGN_OR_RETURN(Reply reply, Send("PUT", target, &value, /*idempotent=*/true));
    // An unknown or invalidated session: 500 `invalid session "<id>"` (not `false`). The
    // session is gone, as for RenewSession.
    if (reply.status == 500 && reply.body.find("invalid session") != std::string::npos) {
      return Status::NotFound(reply.context + ": " + internal::StatusLine(reply.status) + ": " +
                              internal::ErrorBodySummary(reply.body, /*json_message=*/false));
    }
    if (reply.status / 100 != 2) return reply.Error();
    return ParseBool(reply);
  }

  Result<bool> DoDeleteKv(const std::string& key, std::optional<uint64_t> cas) {
    // An empty key would be the whole store's root; never what a caller means.
    if (TxnKey(key).empty()) return Status::InvalidArgument("consul: DeleteKv needs a key");
    std::string target = "/v1/kv/" + KeyPath(key);
    if (cas) target += "?cas=" + std::to_string(*cas);
    ASSIGN_OR_RETURN(Reply reply, Send("DELETE", target, nullptr, /*idempotent=*/cas.has_value()));
    if (reply.status / 100 != 2) return reply.Error();
    return ParseBool(reply);
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
