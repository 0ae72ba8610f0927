// SPDX-License-Identifier: Apache-2.0
#include "server/flapping.h"

namespace galley::server {

FlappingDetector::FlappingDetector(FlappingOptions options) : options_(options) {}

void FlappingDetector::Trim(Entry& e, std::chrono::system_clock::time_point now) const {
  // A revert exactly `window` ago has left the window.
  while (!e.reverts.empty() && e.reverts.front() <= now - options_.window) e.reverts.pop_front();
}

RevertDecision FlappingDetector::RecordRevert(const std::string& resource,
                                              std::chrono::system_clock::time_point now) {
  std::lock_guard<std::mutex> l(mu_);
  Entry& e = entries_[resource];
  if (e.flapping) return RevertDecision::kFlapping;
  Trim(e, now);
  if (static_cast<int>(e.reverts.size()) >= options_.max_reverts) {
    e.flapping = true;
    e.since = now;
    e.reverts_when_flagged = static_cast<int>(e.reverts.size());
    return RevertDecision::kStartFlapping;
  }
  e.reverts.push_back(now);
  return RevertDecision::kRevert;
}

bool FlappingDetector::IsFlapping(const std::string& resource) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = entries_.find(resource);
  return it != entries_.end() && it->second.flapping;
}

int FlappingDetector::RecentReverts(const std::string& resource,
                                    std::chrono::system_clock::time_point now) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = entries_.find(resource);
  if (it == entries_.end()) return 0;
  int n = 0;
  for (auto t : it->second.reverts) {
    if (t > now - options_.window && t <= now) ++n;
  }
  return n;
}

std::vector<FlappingResource> FlappingDetector::List() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<FlappingResource> out;
  for (const auto& [name, e] : entries_) {
    if (e.flapping) out.push_back({name, e.since, e.reverts_when_flagged});
  }
  return out;
}

bool FlappingDetector::Reset(const std::string& resource) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = entries_.find(resource);
  if (it == entries_.end()) return false;
  bool was = it->second.flapping;
  entries_.erase(it);
  return was;
}

void FlappingDetector::Prune(std::chrono::system_clock::time_point now) {
  std::lock_guard<std::mutex> l(mu_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    Trim(it->second, now);
    if (!it->second.flapping && it->second.reverts.empty()) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

size_t FlappingDetector::tracked() const {
  std::lock_guard<std::mutex> l(mu_);
  return entries_.size();
}

}  // namespace galley::server
