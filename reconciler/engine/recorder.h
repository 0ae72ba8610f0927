// SPDX-License-Identifier: Apache-2.0
// Internal to the executor and crash recovery (engine/executor.cc, engine/recovery.cc): the
// journal entries and applied records of one apply.
//
// Thread-safe, and no lock is held across I/O that others wait for: journal writes go
// straight to the store (which serialises its own connection), and a record in Consul is
// written under a lock of its own key only, so two workers recording different services
// never wait for each other, while two updates of one record stay in order (the document is
// read, merged and PUT by one worker at a time).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "engine/apply.h"

namespace galley::engine {

// The store's name for an action kind (its journal.kind values).
const char* JournalKind(ActionKind k);

class Recorder {
 public:
  Recorder(ApplyRecords& records, ApplyTarget& target, Clock& clock)
      : r_(records), target_(target), clock_(clock) {}

  // The entry's id (0 without a store). An action that cannot be journaled is not run:
  // a crash after it would leave nothing to settle it by.
  Result<int64_t> Start(const Action& a, const nlohmann::json& expect);
  void Finish(int64_t entry, const std::string& state, const nlohmann::json& detail);

  Status Applied(const AppliedItem& item) { return Applied(std::vector<AppliedItem>{item}); }
  // Records several actions at once: one store transaction, and one write of each record
  // in Consul they touch (a KV step's keys all belong to one service × environment).
  Status Applied(const std::vector<AppliedItem>& items);

 private:
  std::shared_ptr<std::mutex> KeyLock(const std::string& key);

  ApplyRecords& r_;
  ApplyTarget& target_;
  Clock& clock_;
  std::mutex mu_;  // guards r_.consul_records and key_locks_; never held across I/O
  std::map<std::string, std::shared_ptr<std::mutex>> key_locks_;
};

}  // namespace galley::engine
