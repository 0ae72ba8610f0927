// SPDX-License-Identifier: Apache-2.0
// ConsulEmulator: /v1/kv, /v1/txn and /v1/session (Consul's agent/kvs_endpoint.go,
// txn_endpoint.go and session_endpoint.go behaviour).
#include <algorithm>

#include "sandbox/consul/emulator_impl.h"

namespace galley::sandbox::consul {

namespace {

// Consul's conflictingFlags: "Conflicting flags: " + the query re-encoded (sorted).
std::optional<net::HttpResponse> ConflictingFlags(const net::HttpRequest& r,
                                                  std::initializer_list<const char*> flags) {
  int found = 0;
  for (const char* f : flags) found += r.HasQuery(f) ? 1 : 0;
  if (found < 2) return std::nullopt;
  std::vector<std::pair<std::string, std::string>> q = r.query;
  std::stable_sort(q.begin(), q.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string enc;
  for (const auto& [k, v] : q)
    enc += (enc.empty() ? "" : "&") + net::PercentEncode(k) + "=" + net::PercentEncode(v);
  return TextResponse(400, "Conflicting flags: " + enc);
}

std::string KvArrayJson(const std::vector<KvEntry>& entries) {
  std::string out = "[";
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i) out += ',';
    AppendKvJson(&out, entries[i]);
  }
  return out + "]";
}

}  // namespace

// ---- KV -----------------------------------------------------------------------------------

net::HttpResponse ConsulEmulator::Kv(const net::HttpRequest& r, const std::string& rest) {
  std::string key = (!rest.empty() && rest[0] == '/') ? rest.substr(1) : rest;
  if (r.method == "GET") {
    QueryOptions q;
    if (auto err = ParseQueryOptions(r, &q)) return *err;
    net::HttpResponse resp;
    if (r.HasQuery("keys")) {
      std::string sep = r.Query("separator").value_or(r.Query("seperator").value_or(""));
      Block(q, {Watch::kKvPrefix, key});
      auto read = state_.KvKeys(key, sep);
      if (read.keys.empty() && !key.empty()) {
        resp.status = 404;
      } else {
        resp = JsonResponse(
            200, read.keys.empty() ? nlohmann::json::array() : nlohmann::json(read.keys));
      }
      SetReadMeta(&resp, read.index, q);
      return resp;
    }
    bool recurse = r.HasQuery("recurse");
    if (!recurse && key.empty()) return TextResponse(400, "Missing key name");
    Block(q, {recurse ? Watch::kKvPrefix : Watch::kKvKey, key});
    auto read = recurse ? state_.KvList(key) : state_.KvGet(key);
    if (read.entries.empty()) {
      resp.status = 404;
    } else if (!recurse && r.HasQuery("raw")) {
      resp = net::HttpResponse::Text(200, read.entries[0].value, "text/plain");
      resp.headers["X-Content-Type-Options"] = "nosniff";
      resp.headers["Content-Security-Policy"] = "sandbox";
    } else {
      resp = RawJsonResponse(200, KvArrayJson(read.entries));
    }
    SetReadMeta(&resp, read.index, q);
    return resp;
  }
  if (r.method == "PUT") {
    if (key.empty()) return TextResponse(400, "Missing key name");
    if (auto err = ConflictingFlags(r, {"cas", "acquire", "release"})) return *err;
    KvEntry entry;
    entry.key = key;
    KvWrite op = KvWrite::kSet;
    if (auto flags = r.Query("flags")) {
      auto v = ParseUint64(*flags);
      if (!v.ok()) return TextResponse(500, v.status().message());
      entry.flags = *v;
    }
    if (auto cas = r.Query("cas")) {
      auto v = ParseUint64(*cas);
      if (!v.ok()) return TextResponse(500, v.status().message());
      entry.modify_index = *v;
      op = KvWrite::kCas;
    }
    if (auto s = r.Query("acquire")) {
      entry.session = *s;
      op = KvWrite::kLock;
    }
    if (auto s = r.Query("release")) {
      entry.session = *s;
      op = KvWrite::kUnlock;
    }
    if (r.body.size() > options_.kv_max_value_size) {
      return TextResponse(
          413, "Request body(" + std::to_string(r.body.size()) +
                   " bytes) too large, max size: " + std::to_string(options_.kv_max_value_size) +
                   " bytes. See https://developer.hashicorp.com/docs/agent/config/"
                   "config-files#kv_max_value_size.");
    }
    entry.value = r.body;
    auto ok = state_.KvPut(op, std::move(entry));
    if (!ok.ok()) return TextResponse(500, ok.status().message());
    return RawJsonResponse(200, (op == KvWrite::kSet || *ok) ? "true" : "false");
  }
  // DELETE
  if (auto err = ConflictingFlags(r, {"recurse", "cas"})) return *err;
  bool recurse = r.HasQuery("recurse");
  if (!recurse && key.empty()) return TextResponse(400, "Missing key name");
  std::optional<uint64_t> cas;
  if (auto c = r.Query("cas")) {
    auto v = ParseUint64(*c);
    if (!v.ok()) return TextResponse(500, v.status().message());
    cas = *v;
  }
  bool ok = state_.KvDelete(key, recurse, cas);
  return RawJsonResponse(200, ok ? "true" : "false");
}

// ---- Txn ----------------------------------------------------------------------------------

net::HttpResponse ConsulEmulator::Txn(const net::HttpRequest& r, const std::string&) {
  size_t max_len = std::max<size_t>(512 * 1024, options_.kv_max_value_size);
  if (r.body.size() > max_len) {
    return TextResponse(413,
                        "Request body too large, max size: " + std::to_string(max_len) + " bytes");
  }
  auto body = ParseBody(r.body);
  if (!body.ok()) return TextResponse(400, "Failed to parse body: " + body.status().message());
  if (!body->is_array()) {
    return TextResponse(400, "Failed to parse body: json: cannot unmarshal " +
                                 std::string(body->type_name()) +
                                 " into Go value of type api.TxnOps");
  }
  if (body->size() > options_.txn_max_ops) {
    return TextResponse(413, "Transaction contains too many operations (" +
                                 std::to_string(body->size()) + " > " +
                                 std::to_string(options_.txn_max_ops) + ")");
  }
  std::vector<TxnKvOp> ops;
  std::vector<TxnError> unsupported;
  bool writes = false;
  for (size_t i = 0; i < body->size(); ++i) {
    const nlohmann::json& op = (*body)[i];
    if (!op.is_object())
      return TextResponse(400, "Failed to parse body: json: cannot unmarshal into api.TxnOp");
    const nlohmann::json* kv = Field(op, "KV");
    TxnKvOp out;
    if (!kv || kv->is_null()) {
      bool other = Field(op, "Node") || Field(op, "Service") || Field(op, "Check");
      unsupported.push_back(
          {i, other ? "Node, Service and Check operations are not emulated by galley-sandbox"
                    : "no operation specified"});
      writes = writes || other;
      ops.push_back(out);
      continue;
    }
    std::string b64;
    Status s = GetString(*kv, "Verb", &out.verb);
    if (s.ok()) s = GetString(*kv, "Key", &out.key);
    if (s.ok()) s = GetString(*kv, "Value", &b64);
    if (s.ok()) s = GetUint(*kv, "Flags", &out.flags);
    if (s.ok()) s = GetUint(*kv, "Index", &out.index);
    if (s.ok()) s = GetString(*kv, "Session", &out.session);
    if (!s.ok()) return TextResponse(400, "Failed to parse body: " + s.message());
    auto value = Base64Decode(b64);
    if (!value.ok())
      return TextResponse(
          400, "Failed to parse body: failed to decode value: " + value.status().message());
    if (value->size() > options_.kv_max_value_size) {
      return TextResponse(413, "Value for key \"" + out.key + "\" is too large (" +
                                   std::to_string(value->size()) + " > " +
                                   std::to_string(options_.kv_max_value_size) + " bytes)");
    }
    out.value = std::move(*value);
    writes = writes || IsTxnWriteVerb(out.verb);
    ops.push_back(std::move(out));
  }
  QueryOptions q;
  if (!writes) {
    if (auto err = ParseQueryOptions(r, &q)) return *err;
  }
  TxnOutcome outcome;
  if (unsupported.empty())
    outcome = state_.Txn(ops);
  else
    outcome.errors = std::move(unsupported);
  if (!outcome.errors.empty()) {
    nlohmann::json errors = nlohmann::json::array();
    for (const auto& e : outcome.errors)
      errors.push_back({{"OpIndex", e.op_index}, {"What", e.what}});
    return JsonResponse(409, {{"Results", nullptr}, {"Errors", std::move(errors)}});
  }
  std::string out = "{\"Results\":[";
  for (size_t i = 0; i < outcome.results.size(); ++i) {
    if (i) out += ',';
    out += "{\"KV\":";
    AppendKvJson(&out, outcome.results[i]);
    out += '}';
  }
  out += "],\"Errors\":null}";
  net::HttpResponse resp = RawJsonResponse(200, std::move(out));
  if (!writes) {
    resp.headers["X-Consul-KnownLeader"] = "true";
    resp.headers["X-Consul-LastContact"] = "0";
  }
  return resp;
}

// ---- Sessions -------------------------------------------------------------------------------

net::HttpResponse ConsulEmulator::SessionCreate(const net::HttpRequest& r, const std::string&) {
  SessionSpec spec;
  spec.node = options_.node_name;
  spec.checks = {"serfHealth"};
  spec.node_checks = {"serfHealth"};
  if (!r.body.empty()) {
    auto body = ParseBody(r.body);
    if (!body.ok()) return TextResponse(400, "Request decode failed: " + body.status().message());
    if (!body->is_object())
      return TextResponse(400,
                          "Request decode failed: json: cannot unmarshal into structs.Session");
    Status s = GetString(*body, "Name", &spec.name);
    if (s.ok()) s = GetString(*body, "Node", &spec.node);
    if (s.ok()) s = GetString(*body, "Behavior", &spec.behavior);
    if (s.ok()) s = GetString(*body, "TTL", &spec.ttl);
    if (s.ok()) {
      if (Field(*body, "Checks")) {
        spec.checks.clear();
        s = GetStringList(*body, "Checks", &spec.checks);
      }
    }
    if (s.ok()) {
      if (Field(*body, "NodeChecks")) {
        spec.node_checks.clear();
        s = GetStringList(*body, "NodeChecks", &spec.node_checks);
      }
    }
    if (s.ok()) {
      if (const nlohmann::json* sc = Field(*body, "ServiceChecks"); sc && sc->is_array()) {
        for (const auto& x : *sc) {
          std::string id;
          s = GetString(x, "ID", &id);
          if (!s.ok()) break;
          if (!id.empty()) spec.service_checks.push_back(id);
        }
      }
    }
    if (s.ok()) {
      if (const nlohmann::json* ld = Field(*body, "LockDelay"); ld && !ld->is_null()) {
        Duration d{0};
        s = GetDuration(*body, "LockDelay", &d);
        if (!s.ok() && ld->is_string())
          s = Status::InvalidArgument("invalid duration: " + s.message());
        if (s.ok())
          spec.lock_delay =
              d.count() < 1000 ? Duration(d.count() * 1000000000LL) : d;  // small: seconds
      }
    }
    if (!s.ok()) return TextResponse(400, "Request decode failed: " + s.message());
    // Consul's fixupEmptySessionChecks: Checks: [] clears the default NodeChecks; the
    // default ["serfHealth"] in Checks is folded into NodeChecks.
    if (spec.checks.empty()) {
      spec.node_checks.clear();
    } else if (spec.checks.size() == 1 && spec.checks[0] == "serfHealth") {
      spec.checks.clear();
    }
  } else {
    spec.checks.clear();
  }
  auto id = state_.SessionCreate(spec);
  if (!id.ok()) return TextResponse(500, id.status().message());
  return JsonResponse(200, {{"ID", *id}});
}

net::HttpResponse ConsulEmulator::SessionDestroy(const net::HttpRequest&, const std::string& id) {
  if (id.empty()) return TextResponse(400, "Missing session");
  state_.SessionDestroy(id);
  return RawJsonResponse(200, "true");
}

net::HttpResponse ConsulEmulator::SessionRenew(const net::HttpRequest&, const std::string& id) {
  if (id.empty()) return TextResponse(400, "Missing session");
  auto s = state_.SessionRenew(id);
  if (!s) return TextResponse(404, "Session id '" + id + "' not found");
  return JsonResponse(200, *s);
}

net::HttpResponse ConsulEmulator::SessionInfo(const net::HttpRequest& r, const std::string& id) {
  if (id.empty()) return TextResponse(400, "Missing session");
  QueryOptions q;
  if (auto err = ParseQueryOptions(r, &q)) return *err;
  Block(q, {Watch::kSessions, ""});
  JsonRead read = state_.SessionInfo(id);
  net::HttpResponse resp = JsonResponse(200, read.body);
  SetReadMeta(&resp, read.index, q);
  return resp;
}

net::HttpResponse ConsulEmulator::SessionList(const net::HttpRequest& r, const std::string&) {
  QueryOptions q;
  if (auto err = ParseQueryOptions(r, &q)) return *err;
  Block(q, {Watch::kSessions, ""});
  JsonRead read = state_.SessionList();
  net::HttpResponse resp = JsonResponse(200, read.body);
  SetReadMeta(&resp, read.index, q);
  return resp;
}

net::HttpResponse ConsulEmulator::SessionNode(const net::HttpRequest& r, const std::string& node) {
  if (node.empty()) return TextResponse(400, "Missing node name");
  QueryOptions q;
  if (auto err = ParseQueryOptions(r, &q)) return *err;
  Block(q, {Watch::kSessions, ""});
  JsonRead read = state_.SessionsOfNode(node);
  net::HttpResponse resp = JsonResponse(200, read.body);
  SetReadMeta(&resp, read.index, q);
  return resp;
}

}  // namespace galley::sandbox::consul
