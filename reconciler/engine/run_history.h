// SPDX-License-Identifier: Apache-2.0
// Where a run came from, and the platform's apply history in Consul.
//  - RunOriginOf: who started a run and from where, from the CI system's environment (Drone,
//    GitHub Actions, GitLab CI: the actor, the run's URL, the commit it built), else
//    user@host. Pure.
//  - The platform's applies are kept in one Consul value next to the applied records,
//    galley/<platform>/history: {"applies": [entry, ...]} newest first, at most `keep`
//    entries (and under kMaxHistoryBytes), so `galley history --platform` on a runner with
//    an empty state store still lists the recent applies. An apply adds its entry as
//    "running" when it starts writing and replaces it with the outcome when it ends; since
//    only the holder of the platform lock writes, an older entry still "running" belongs to
//    an apply that died and is marked "interrupted". Entries are JSON objects: id, run, who,
//    host, ci, ci_url, ci_commit, commit, started_at, finished_at, outcome, applied, failed,
//    not_attempted, error. Writes are read-modify-write with cas on the ModifyIndex (retried
//    a few times on a race). Thread-compatible.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "clients/consul_client.h"
#include "store/state_store.h"

namespace galley::engine {

// `user_at_host` is the fallback outside CI (and the host part of the record).
store::RunOrigin RunOriginOf(const std::map<std::string, std::string>& env,
                             const std::string& user_at_host);

// "octocat (github-actions)", or just who outside CI.
std::string OriginText(const std::string& who, const std::string& ci);

// galley/<platform>/history
std::string PlatformHistoryKey(const std::string& platform);

// A history document is kept below this many bytes (Consul's value limit is 512 KiB).
constexpr size_t kMaxHistoryBytes = 256 * 1024;

// `doc` with `entry` put first (an entry with the same "id" is replaced in place), other
// entries still "running" marked "interrupted", at most `keep` entries and under
// kMaxHistoryBytes (the oldest dropped first). A malformed document starts afresh. Pure.
nlohmann::json WithHistoryEntry(const nlohmann::json& doc, const nlohmann::json& entry, int keep);

// The platform's apply history in Consul, through the client interface.
class PlatformHistory {
 public:
  PlatformHistory(clients::ConsulClient& consul, std::string platform, int keep)
      : consul_(consul), key_(PlatformHistoryKey(platform)), keep_(keep) {}
  // Adds or replaces `entry` (by its "id").
  Status Record(const nlohmann::json& entry);
  // The entries, newest first; empty when there is no history yet. Fails on a malformed
  // document, naming the key.
  Result<std::vector<nlohmann::json>> Read();
  const std::string& key() const { return key_; }

 private:
  clients::ConsulClient& consul_;
  std::string key_;
  int keep_;
};

}  // namespace galley::engine
