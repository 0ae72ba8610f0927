// SPDX-License-Identifier: Apache-2.0
// State: the KV store (Consul's agent/consul/state/kvs.go semantics) and /v1/txn.
#include <algorithm>

#include "sandbox/consul/state.h"

namespace galley::sandbox::consul {

namespace {

bool HasPrefix(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Go's %q for the texts Consul builds with it (ASCII keys in practice).
std::string GoQ(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

bool SameEntry(const KvEntry& a, const KvEntry& b) {
  return a.lock_index == b.lock_index && a.key == b.key && a.flags == b.flags &&
         a.value == b.value && a.session == b.session;
}

}  // namespace

bool IsTxnWriteVerb(const std::string& v) {
  return v == "set" || v == "delete" || v == "delete-cas" || v == "delete-tree" || v == "cas" ||
         v == "lock" || v == "unlock";
}

void AppendKvJson(std::string* out, const KvEntry& e, bool with_value) {
  *out += "{\"LockIndex\":" + std::to_string(e.lock_index) + ",\"Key\":";
  AppendJsonString(out, e.key);
  *out += ",\"Flags\":" + std::to_string(e.flags) + ",\"Value\":";
  if (with_value && !e.value.empty()) {
    *out += '"';
    *out += Base64Encode(e.value);
    *out += '"';
  } else {
    *out += "null";
  }
  if (!e.session.empty()) {
    *out += ",\"Session\":";
    AppendJsonString(out, e.session);
  }
  *out += ",\"CreateIndex\":" + std::to_string(e.create_index) +
          ",\"ModifyIndex\":" + std::to_string(e.modify_index) + "}";
}

uint64_t State::KvTableIndexLocked() const { return std::max(kvs_index_, tombstones_index_); }

uint64_t State::KvKeyIndexLocked(const std::string& key) const {
  auto it = kv_.find(key);
  if (it != kv_.end()) return it->second.modify_index;
  return std::max<uint64_t>(KvTableIndexLocked(), 1);
}

uint64_t State::KvPrefixIndexLocked(const std::string& prefix) const {
  uint64_t idx = KvTableIndexLocked();
  uint64_t lindex = 0;
  if (prefix.empty()) {
    lindex = idx;
  } else {
    for (auto it = kv_.lower_bound(prefix); it != kv_.end() && HasPrefix(it->first, prefix); ++it) {
      lindex = std::max(lindex, it->second.modify_index);
    }
    for (auto it = tombstones_.lower_bound(prefix);
         it != tombstones_.end() && HasPrefix(it->first, prefix); ++it) {
      lindex = std::max(lindex, it->second);
    }
  }
  if (lindex != 0) idx = lindex;
  return std::max<uint64_t>(idx, 1);
}

bool State::KvSetLocked(uint64_t idx, KvEntry* entry, bool update_session) {
  auto it = kv_.find(entry->key);
  const KvEntry* existing = it == kv_.end() ? nullptr : &it->second;
  entry->create_index = existing ? existing->create_index : idx;
  if (!update_session) entry->session = existing ? existing->session : "";
  if (existing && SameEntry(*existing, *entry)) {
    entry->modify_index = existing->modify_index;
    return false;
  }
  entry->modify_index = idx;
  if (kv_undo_) {
    kv_undo_->emplace_back(entry->key, existing ? std::optional<KvEntry>(*existing) : std::nullopt);
  }
  auto tomb = tombstones_.find(entry->key);
  if (tomb != tombstones_.end()) {
    if (tomb_undo_) tomb_undo_->emplace_back(tomb->first, tomb->second);
    tombstones_.erase(tomb);
  }
  kv_[entry->key] = *entry;
  kvs_index_ = idx;
  return true;
}

void State::KvDeleteLocked(uint64_t idx, const std::string& key) {
  auto it = kv_.find(key);
  if (it == kv_.end()) return;
  if (kv_undo_) kv_undo_->emplace_back(key, it->second);
  kv_.erase(it);
  auto tomb = tombstones_.find(key);
  if (tomb_undo_) {
    tomb_undo_->emplace_back(
        key, tomb == tombstones_.end() ? std::nullopt : std::optional<uint64_t>(tomb->second));
  }
  tombstones_[key] = idx;
  tombstones_index_ = idx;
  kvs_index_ = idx;
}

bool State::KvDeleteTreeLocked(uint64_t idx, const std::string& prefix) {
  auto first = kv_.lower_bound(prefix);
  auto last = first;
  while (last != kv_.end() && HasPrefix(last->first, prefix)) ++last;
  if (first == last) return false;
  if (kv_undo_) {
    for (auto it = first; it != last; ++it) kv_undo_->emplace_back(it->first, it->second);
  }
  kv_.erase(first, last);
  // One tombstone for the whole prefix; none when everything went (the table index covers it).
  if (!prefix.empty()) {
    auto tomb = tombstones_.find(prefix);
    if (tomb_undo_) {
      tomb_undo_->emplace_back(
          prefix, tomb == tombstones_.end() ? std::nullopt : std::optional<uint64_t>(tomb->second));
    }
    tombstones_[prefix] = idx;
    tombstones_index_ = idx;
  }
  kvs_index_ = idx;
  return true;
}

bool State::LockDelayedLocked(const std::string& key) const {
  auto it = lock_delays_.find(key);
  return it != lock_delays_.end() && it->second > Clock::now();
}

State::KvRead State::KvGet(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  KvRead r;
  r.index = KvKeyIndexLocked(key);
  auto it = kv_.find(key);
  if (it != kv_.end()) r.entries.push_back(it->second);
  return r;
}

State::KvRead State::KvList(const std::string& prefix) const {
  std::lock_guard<std::mutex> lock(mu_);
  KvRead r;
  r.index = KvPrefixIndexLocked(prefix);
  for (auto it = kv_.lower_bound(prefix); it != kv_.end() && HasPrefix(it->first, prefix); ++it) {
    r.entries.push_back(it->second);
  }
  return r;
}

State::KeysRead State::KvKeys(const std::string& prefix, const std::string& separator) const {
  std::lock_guard<std::mutex> lock(mu_);
  KeysRead r;
  r.index = KvPrefixIndexLocked(prefix);
  std::string last;
  for (auto it = kv_.lower_bound(prefix); it != kv_.end() && HasPrefix(it->first, prefix); ++it) {
    const std::string& key = it->first;
    if (separator.empty()) {
      r.keys.push_back(key);
      continue;
    }
    size_t pos = key.find(separator, prefix.size());
    if (pos == std::string::npos) {
      r.keys.push_back(key);
    } else {
      std::string rolled = key.substr(0, pos + separator.size());
      if (rolled != last) {
        r.keys.push_back(rolled);
        last = rolled;
      }
    }
  }
  return r;
}

Result<bool> State::KvPut(KvWrite op, KvEntry entry) {
  std::lock_guard<std::mutex> lock(mu_);
  // Lock-delay is enforced before the write reaches the log (Consul's kvsPreApply).
  if (op == KvWrite::kLock && LockDelayedLocked(entry.key)) return false;
  uint64_t idx = NextIndexLocked();
  bool ok = true;
  auto it = kv_.find(entry.key);
  switch (op) {
    case KvWrite::kSet:
      KvSetLocked(idx, &entry, false);
      break;
    case KvWrite::kCas: {
      uint64_t want = entry.modify_index;
      if ((want == 0 && it != kv_.end()) || (want != 0 && it == kv_.end()) ||
          (want != 0 && it->second.modify_index != want)) {
        ok = false;
        break;
      }
      KvSetLocked(idx, &entry, false);
      break;
    }
    case KvWrite::kLock: {
      if (entry.session.empty()) return Status::Internal("missing session");
      if (!sessions_.count(entry.session))
        return Status::Internal("invalid session " + GoQ(entry.session));
      if (it != kv_.end()) {
        if (it->second.session == entry.session) {
          entry.lock_index = it->second.lock_index;
        } else if (!it->second.session.empty()) {
          ok = false;
          break;
        } else {
          entry.lock_index = it->second.lock_index + 1;
        }
      } else {
        entry.lock_index = 1;
      }
      KvSetLocked(idx, &entry, true);
      break;
    }
    case KvWrite::kUnlock: {
      if (entry.session.empty()) return Status::Internal("missing session");
      if (it == kv_.end() || it->second.session != entry.session) {
        ok = false;
        break;
      }
      entry.session.clear();
      entry.lock_index = it->second.lock_index;
      KvSetLocked(idx, &entry, true);
      break;
    }
  }
  CommitLocked();
  return ok;
}

bool State::KvDelete(const std::string& key, bool recurse, std::optional<uint64_t> cas) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t idx = NextIndexLocked();
  bool ok = true;
  if (recurse) {
    KvDeleteTreeLocked(idx, key);
  } else if (cas) {
    auto it = kv_.find(key);
    if (it != kv_.end()) {
      if (it->second.modify_index != *cas)
        ok = false;
      else
        KvDeleteLocked(idx, key);
    }
  } else {
    KvDeleteLocked(idx, key);
  }
  CommitLocked();
  return ok;
}

Status State::TxnOpLocked(uint64_t idx, const TxnKvOp& op, std::vector<KvEntry>* results) {
  const std::string& v = op.verb;
  KvEntry e;
  e.key = op.key;
  e.value = op.value;
  e.flags = op.flags;
  e.session = op.session;
  auto it = kv_.find(op.key);
  auto blank = [&](KvEntry x) {
    x.value.clear();
    results->push_back(std::move(x));
  };
  if (v == "set") {
    KvSetLocked(idx, &e, false);
    blank(e);
  } else if (v == "delete") {
    KvDeleteLocked(idx, op.key);
  } else if (v == "delete-cas") {
    if (it != kv_.end()) {
      if (it->second.modify_index != op.index) {
        return Status::Conflict("failed to delete key " + GoQ(op.key) + ", index is stale");
      }
      KvDeleteLocked(idx, op.key);
    }
  } else if (v == "delete-tree") {
    KvDeleteTreeLocked(idx, op.key);
  } else if (v == "cas") {
    bool exists = it != kv_.end();
    if ((op.index == 0 && exists) || (op.index != 0 && !exists) ||
        (op.index != 0 && it->second.modify_index != op.index)) {
      return Status::Conflict("failed to set key " + GoQ(op.key) + ", index is stale");
    }
    KvSetLocked(idx, &e, false);
    blank(e);
  } else if (v == "lock") {
    if (op.session.empty()) return Status::Conflict("missing session");
    if (!sessions_.count(op.session)) return Status::Conflict("invalid session " + GoQ(op.session));
    if (it != kv_.end()) {
      if (it->second.session == op.session) {
        e.lock_index = it->second.lock_index;
      } else if (!it->second.session.empty()) {
        return Status::Conflict("failed to lock key " + GoQ(op.key) + ", lock is already held");
      } else {
        e.lock_index = it->second.lock_index + 1;
      }
    } else {
      e.lock_index = 1;
    }
    KvSetLocked(idx, &e, true);
    blank(e);
  } else if (v == "unlock") {
    if (op.session.empty()) return Status::Conflict("missing session");
    if (it == kv_.end() || it->second.session != op.session) {
      return Status::Conflict("failed to unlock key " + GoQ(op.key) +
                              ", lock isn't held, or is held by another session");
    }
    e.session.clear();
    e.lock_index = it->second.lock_index;
    KvSetLocked(idx, &e, true);
    blank(e);
  } else if (v == "get") {
    if (it == kv_.end()) return Status::Conflict("key " + GoQ(op.key) + " doesn't exist");
    results->push_back(it->second);
  } else if (v == "get-or-empty") {
    if (it != kv_.end()) {
      results->push_back(it->second);
    } else {
      e.value.clear();
      results->push_back(e);
    }
  } else if (v == "get-tree") {
    for (auto t = kv_.lower_bound(op.key); t != kv_.end() && HasPrefix(t->first, op.key); ++t) {
      results->push_back(t->second);
    }
  } else if (v == "check-session") {
    if (it == kv_.end()) {
      return Status::Conflict("failed to check session, key " + GoQ(op.key) + " doesn't exist");
    }
    if (it->second.session != op.session) {
      return Status::Conflict("failed session check for key " + GoQ(op.key) + ", current session " +
                              GoQ(it->second.session) + " != " + GoQ(op.session));
    }
    blank(it->second);
  } else if (v == "check-index") {
    if (it == kv_.end())
      return Status::Conflict("failed to check index, key " + GoQ(op.key) + " doesn't exist");
    if (it->second.modify_index != op.index) {
      return Status::Conflict("failed index check for key " + GoQ(op.key) +
                              ", current modify index " + std::to_string(it->second.modify_index) +
                              " != " + std::to_string(op.index));
    }
    blank(it->second);
  } else if (v == "check-not-exists") {
    if (it != kv_.end()) return Status::Conflict("key " + GoQ(op.key) + " exists");
  } else {
    return Status::Conflict("unknown KV verb " + GoQ(v));
  }
  return Status::Ok();
}

TxnOutcome State::Txn(const std::vector<TxnKvOp>& ops) {
  std::lock_guard<std::mutex> lock(mu_);
  TxnOutcome out;
  // Pre-checks done before the raft apply (Consul's kvsPreApply): they alone are reported.
  for (size_t i = 0; i < ops.size(); ++i) {
    const TxnKvOp& op = ops[i];
    if (op.key.empty() && op.verb != "delete-tree") {
      out.errors.push_back({i, "Must provide key"});
    } else if (op.verb == "lock" && LockDelayedLocked(op.key)) {
      out.errors.push_back({i, "failed to lock key " + GoQ(op.key) + " due to lock delay"});
    }
  }
  if (!out.errors.empty()) return out;
  bool writes = std::any_of(ops.begin(), ops.end(),
                            [](const TxnKvOp& op) { return IsTxnWriteVerb(op.verb); });
  uint64_t idx = writes ? NextIndexLocked() : index_;
  std::vector<std::pair<std::string, std::optional<KvEntry>>> kv_undo;
  std::vector<std::pair<std::string, std::optional<uint64_t>>> tomb_undo;
  uint64_t saved_kvs = kvs_index_, saved_tombs = tombstones_index_;
  kv_undo_ = &kv_undo;
  tomb_undo_ = &tomb_undo;
  for (size_t i = 0; i < ops.size(); ++i) {
    Status s = TxnOpLocked(idx, ops[i], &out.results);
    if (!s.ok()) out.errors.push_back({i, s.message()});
  }
  kv_undo_ = nullptr;
  tomb_undo_ = nullptr;
  if (!out.errors.empty()) {
    // Roll back in reverse so the oldest saved value of a key wins.
    for (auto it = kv_undo.rbegin(); it != kv_undo.rend(); ++it) {
      if (it->second)
        kv_[it->first] = *it->second;
      else
        kv_.erase(it->first);
    }
    for (auto it = tomb_undo.rbegin(); it != tomb_undo.rend(); ++it) {
      if (it->second)
        tombstones_[it->first] = *it->second;
      else
        tombstones_.erase(it->first);
    }
    kvs_index_ = saved_kvs;
    tombstones_index_ = saved_tombs;
    out.results.clear();
    return out;
  }
  if (writes) CommitLocked();
  return out;
}

}  // namespace galley::sandbox::consul
