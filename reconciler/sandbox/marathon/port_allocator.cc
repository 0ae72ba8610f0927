// SPDX-License-Identifier: Apache-2.0
#include "sandbox/marathon/port_allocator.h"

#include <algorithm>

#include "sandbox/marathon/app_normalise.h"

namespace galley::sandbox::marathon {

std::string ServicePortRangeError(int min, int max) {
  if (min < 1 || min > 65535 || max < 1 || max > 65535) {
    return "--local-port-min and --local-port-max must be in 1..65535, got " + std::to_string(min) +
           " and " + std::to_string(max);
  }
  if (min >= max) {
    return "--local-port-min (" + std::to_string(min) + ") must be below --local-port-max (" +
           std::to_string(max) + ")";
  }
  return "";
}

std::string ServicePortsExhausted(int min, int max) {
  return "All ports in the range " + std::to_string(min) + "-" + std::to_string(max) +
         " are already in use";
}

bool ServicePortAllocator::Assign(Json& app, const Json* old, std::set<int>* picked) const {
  std::vector<int> previous = old ? ServicePortsOf(*old) : std::vector<int>{};
  std::set<int> mine;  // explicit ports of this app
  for (int p : ServicePortsOf(app)) {
    if (p != 0) mine.insert(p);
  }
  int cursor = hint_;
  auto pick = [&](size_t index, int* port) -> bool {
    if (index < previous.size() && previous[index] != 0 && !mine.count(previous[index]) &&
        !picked->count(previous[index])) {
      *port = previous[index];
      picked->insert(*port);
      return true;
    }
    while (cursor <= last_) {
      int p = cursor++;
      bool taken = used_.count(p) || picked->count(p) || mine.count(p);
      // A port this app held before is free for it.
      if (taken && used_.count(p) && !picked->count(p) && !mine.count(p)) {
        for (int q : previous) {
          if (q == p && used_.at(p) == 1) taken = false;
        }
      }
      if (!taken) {
        *port = p;
        picked->insert(p);
        return true;
      }
    }
    return false;
  };
  auto fill = [&](Json& arr, const char* field) -> bool {
    for (size_t i = 0; i < arr.size(); ++i) {
      Json& e = arr[i];
      if (e.value(field, 0) != 0) continue;
      int port;
      if (!pick(i, &port)) return false;
      e[field] = port;
    }
    return true;
  };
  if (app.contains("portDefinitions")) return fill(app["portDefinitions"], "port");
  if (app.contains("container") && app["container"].contains("portMappings")) {
    return fill(app["container"]["portMappings"], "servicePort");
  }
  return true;
}

void ServicePortAllocator::Commit(const std::vector<int>& previous, const std::vector<int>& ports) {
  for (int p : previous) {
    auto it = used_.find(p);
    if (it != used_.end() && --it->second <= 0) {
      used_.erase(it);
      if (p >= first_ && p < hint_) hint_ = p;
    }
  }
  for (int p : ports) {
    if (p != 0) ++used_[p];
  }
  while (hint_ <= last_ && used_.count(hint_)) ++hint_;
}

std::vector<int> ServicePortAllocator::InUse() const {
  std::vector<int> out;
  for (const auto& [p, n] : used_) out.push_back(p);
  return out;
}

bool HostPortAllocator::Allocate(int count, bool share_when_full, std::vector<int>* out) {
  out->clear();
  const int span = last_ - first_ + 1;
  if (span <= 0) return count == 0;
  for (int i = 0; i < count; ++i) {
    int found = -1;
    for (int tries = 0; tries < span; ++tries) {
      int p = next_;
      next_ = next_ >= last_ ? first_ : next_ + 1;
      if (!used_.count(p) && std::find(out->begin(), out->end(), p) == out->end() &&
          (!probe_ || probe_(p))) {
        found = p;
        break;
      }
    }
    if (found < 0) {
      if (!share_when_full) {
        out->clear();
        return false;
      }
      found = next_;
      next_ = next_ >= last_ ? first_ : next_ + 1;
    }
    out->push_back(found);
  }
  for (int p : *out) ++used_[p];
  return true;
}

void HostPortAllocator::Release(const std::vector<int>& ports) {
  for (int p : ports) {
    auto it = used_.find(p);
    if (it != used_.end() && --it->second <= 0) used_.erase(it);
  }
}

}  // namespace galley::sandbox::marathon
