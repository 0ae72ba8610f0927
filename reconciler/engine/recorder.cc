// SPDX-License-Identifier: Apache-2.0
#include "engine/recorder.h"

#include "base/time_text.h"
#include "engine/view_text.h"

namespace galley::engine {

using json = nlohmann::json;

const char* JournalKind(ActionKind k) {
  switch (k) {
    case ActionKind::kAppCreate:
      return "create";
    case ActionKind::kAppUpdate:
      return "update";
    case ActionKind::kAppScale:
      return "scale";
    case ActionKind::kAppRestart:
      return "restart";
    case ActionKind::kAppDelete:
      return "delete";
    case ActionKind::kKvPut:
      return "kv-put";
    case ActionKind::kKvDelete:
      return "kv-delete";
    // An LB model is written like a key; its resource ("haproxy-model:<instance>") tells it
    // apart (the journal's kinds are a CHECK constraint of the store's schema).
    case ActionKind::kModelCreate:
    case ActionKind::kModelUpdate:
      return "kv-put";
    case ActionKind::kModelDelete:
      return "kv-delete";
    case ActionKind::kJobCreate:
    case ActionKind::kJobUpdate:
      return "job-put";
    case ActionKind::kJobDelete:
      return "job-delete";
    case ActionKind::kHookRun:
      return "hook-run";
  }
  return "update";
}

Result<int64_t> Recorder::Start(const Action& a, const json& expect) {
  if (!r_.store) return int64_t{0};
  store::JournalEntry e;
  e.run_id = r_.run_id;
  e.action_id = a.id;
  e.resource = ResourceKeyOf(a);
  e.kind = JournalKind(a.kind);
  e.state = "started";
  json detail = {{"token", a.token},
                 {"target", a.target},
                 {"env", a.env},
                 {"service", a.service},
                 {"expect", expect}};
  if (!a.record.is_null()) detail["record"] = a.record;
  if (a.reason == Reason::kRequested)
    detail["restart"] = true;  // asked for: nothing to record as applied
  e.detail = SafeDump(detail);
  auto id = r_.store->JournalStart(e);
  if (!id.ok()) return Status::Unavailable("cannot journal the action: " + id.status().message());
  return id;
}

void Recorder::Finish(int64_t entry, const std::string& state, const json& detail) {
  // A finish that cannot be written leaves the entry "started": the next apply settles it
  // against live state, which is the same answer.
  if (r_.store && entry > 0) (void)r_.store->JournalFinish(entry, state, SafeDump(detail));
}

std::shared_ptr<std::mutex> Recorder::KeyLock(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& m = key_locks_[key];
  if (!m) m = std::make_shared<std::mutex>();
  return m;
}

Status Recorder::Applied(const std::vector<AppliedItem>& items) {
  if (items.empty()) return Status::Ok();
  AppliedStamp stamp{FormatTimestamp(clock_.WallNow()), r_.commit, r_.who, r_.run_id};
  if (r_.store) RETURN_IF_ERROR(r_.store->SetApplied(AppliedRows(items, stamp)));
  if (r_.applied_prefix.empty()) return Status::Ok();
  std::map<std::string, std::vector<AppliedItem>> by_key;
  for (const AppliedItem& it : items)
    by_key[AppliedRecordKey(r_.applied_prefix, it.env, it.service)].push_back(it);
  Status first;
  for (const auto& [key, its] : by_key) {
    std::shared_ptr<std::mutex> key_lock = KeyLock(key);
    std::lock_guard<std::mutex> one_writer(*key_lock);
    std::string previous;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto old = r_.consul_records.find(key);
      if (old != r_.consul_records.end()) previous = old->second;
    }
    std::string text = UpdateAppliedRecord(previous, its, stamp);
    {
      std::lock_guard<std::mutex> lock(mu_);
      r_.consul_records[key] = text;
    }
    Status s = target_.PutRecord(key, text);
    if (first.ok() && !s.ok()) first = s;
  }
  return first;
}

}  // namespace galley::engine
