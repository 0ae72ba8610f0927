// SPDX-License-Identifier: Apache-2.0
// A fake Consul KV for the container-side tests: `GET /v1/kv/<prefix>?recurse` with base64
// values, 404 when nothing matches, X-Consul-Index, and blocking `?index=&wait=`. Served on
// loopback by net::HttpServer. Thread-safe.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "net/http_server.h"

namespace galley::container_test {

inline std::string Base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += k[(v >> s) & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = uint8_t(in[i]) << 16;
    out += std::string{k[(v >> 18) & 63], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    unsigned v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += std::string{k[(v >> 18) & 63], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}

// Consul's KV read: `?recurse`, base64 values, 404 when empty, X-Consul-Index, and blocking
// `?index=&wait=`.
class FakeConsul {
 public:
  FakeConsul() {
    server_ = std::move(net::HttpServer::Start({}, [this](const net::HttpRequest& r) {
                return Handle(r);
              })).value();
  }
  ~FakeConsul() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    server_->Stop();
  }
  std::string Address() const { return "127.0.0.1:" + std::to_string(server_->port()); }
  // Returns the new X-Consul-Index.
  uint64_t Set(const std::string& key, const std::string& value) {
    std::lock_guard<std::mutex> lock(mu_);
    kv_[key] = value;
    ++index_;
    cv_.notify_all();
    return index_;
  }
  int blocking_queries() {
    std::lock_guard<std::mutex> lock(mu_);
    return blocking_;
  }
  // Waits until a blocking query with `?index=` at least `index` arrives: the watcher has
  // finished with everything up to that index (a watcher sends its next query only after it
  // has acted on the previous answer), so a test can then assert what it did not do.
  bool WaitForBlockingQueryAt(uint64_t index, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return max_blocking_index_ >= index; });
  }

 private:
  net::HttpResponse Handle(const net::HttpRequest& r) {
    std::unique_lock<std::mutex> lock(mu_);
    if (r.path.rfind("/v1/kv/", 0) != 0 || !r.HasQuery("recurse"))
      return net::HttpResponse::Text(400, "bad\n");
    if (auto index = r.Query("index"); index && std::stoull(*index) > 0) {
      ++blocking_;
      uint64_t seen = std::stoull(*index);
      max_blocking_index_ = std::max(max_blocking_index_, seen);
      cv_.notify_all();
      int wait_s = std::stoi(r.Query("wait").value_or("5s"));
      cv_.wait_for(lock, std::chrono::seconds(wait_s), [&] { return stopping_ || index_ > seen; });
    }
    std::string prefix = r.path.substr(7);
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [k, v] : kv_) {
      if (k.rfind(prefix, 0) == 0) {
        out.push_back({{"Key", k},
                       {"Value", Base64(v)},
                       {"Flags", 0},
                       {"CreateIndex", 1},
                       {"ModifyIndex", index_}});
      }
    }
    auto resp =
        out.empty() ? net::HttpResponse::Text(404, "") : net::HttpResponse::Json(200, out.dump());
    resp.headers["X-Consul-Index"] = std::to_string(index_);
    return resp;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> kv_;
  uint64_t index_ = 10;
  int blocking_ = 0;
  uint64_t max_blocking_index_ = 0;
  bool stopping_ = false;
  std::unique_ptr<net::HttpServer> server_;
};

}  // namespace galley::container_test
