// SPDX-License-Identifier: Apache-2.0
// Flapping detection for `galley serve` (issue #13): a resource someone keeps changing by hand
// is not fought forever. The reconcile loop asks RecordRevert before each revert of drift;
// once a resource has been reverted max_reverts times within `window`, the next revert is
// refused and the resource is flapping: it is left alone (reported, not reverted) until
// someone acts — a Git change to that resource or an explicit reset (the API) — whatever time
// passes. Reverts older than the window are forgotten.
// Pure (no I/O; time comes in as arguments). Thread-safe: the reconcile worker records while
// the API lists and resets.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace galley::server {

struct FlappingOptions {
  int max_reverts = 3;  // reverts allowed within the window; the next one is refused
  std::chrono::seconds window{600};
};

enum class RevertDecision {
  kRevert,         // go ahead (recorded)
  kStartFlapping,  // refused: the resource has just become flapping (notify once)
  kFlapping,       // refused: it was already flapping
};

struct FlappingResource {
  std::string resource;
  std::chrono::system_clock::time_point since;  // when it became flapping
  int reverts = 0;                              // reverts within the window at that moment
};

class FlappingDetector {
 public:
  explicit FlappingDetector(FlappingOptions options = {});

  // Before reverting `resource`'s drift at `now`: whether to revert.
  RevertDecision RecordRevert(const std::string& resource,
                              std::chrono::system_clock::time_point now);
  bool IsFlapping(const std::string& resource) const;
  // Reverts of `resource` within the window ending at `now`.
  int RecentReverts(const std::string& resource, std::chrono::system_clock::time_point now) const;
  // Flapping resources, by name.
  std::vector<FlappingResource> List() const;
  // Someone acted: forgets the resource's flapping state and its revert history. True when it
  // was flapping. OnGitChange is the same, named for the reconcile loop's call site.
  bool Reset(const std::string& resource);
  bool OnGitChange(const std::string& resource) { return Reset(resource); }
  // Drops revert histories that have left the window (call now and then; RecordRevert prunes
  // its own resource).
  void Prune(std::chrono::system_clock::time_point now);
  size_t tracked() const;  // resources with a history or flapping

 private:
  struct Entry {
    std::deque<std::chrono::system_clock::time_point> reverts;
    bool flapping = false;
    std::chrono::system_clock::time_point since;
    int reverts_when_flagged = 0;
  };
  void Trim(Entry& e, std::chrono::system_clock::time_point now) const;

  const FlappingOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

}  // namespace galley::server
