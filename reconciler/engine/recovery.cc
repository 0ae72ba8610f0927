// SPDX-License-Identifier: Apache-2.0
#include "engine/recovery.h"

#include <thread>

#include "base/digest.h"
#include "base/strings.h"
#include "engine/failed_deploys.h"
#include "engine/follower.h"
#include "engine/job_steps.h"
#include "engine/normalize.h"
#include "engine/recorder.h"
#include "engine/view_text.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

std::string StringField(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

Result<std::vector<std::string>> Recover(const model::LiveState& live, ApplyTarget& target,
                                         ApplyRecords& records, const ApplyOptions& options) {
  ApplyOptions o = WithDefaults(options);
  std::vector<std::string> lines;
  if (!records.store) return lines;
  ASSIGN_OR_RETURN(auto entries, records.store->UnfinishedJournal());
  Recorder recorder(records, target, *o.clock);
  struct Open {
    const store::JournalEntry* entry;
    json detail;
    std::string target, what;
    bool app = false, took_effect = false;
    Status waited;  // for apps written but still deploying
  };
  std::vector<Open> open;
  for (const auto& e : entries) {
    json d = json::parse(e.detail, nullptr, false);
    if (!d.is_object() || !d.contains("expect") || !d.contains("target") ||
        !d["target"].is_string()) {
      RETURN_IF_ERROR(
          records.store->JournalFinish(e.id, "failed", SafeDump(json{{"error", "interrupted"}})));
      continue;
    }
    if (StartsWith(e.resource, std::string(kJobResourcePrefix))) {  // a job write or a hook run
      ASSIGN_OR_RETURN(std::string line, SettleJobEntry(e, d, target, recorder, *records.store));
      lines.push_back(std::move(line));
      continue;
    }
    Open x{&e,
           d,
           d["target"].get<std::string>(),
           "",
           StartsWith(e.resource, std::string(kAppResourcePrefix)),
           false,
           Status::Ok()};
    const json& expect = x.detail["expect"];
    bool absent = expect.is_object() && expect.contains("absent");
    if (x.app) {
      auto it = live.apps.find(x.target);
      x.took_effect = absent ? it == live.apps.end()
                             : it != live.apps.end() && NormalizeApp(it->second.body) == expect;
    } else {
      auto it = live.kv.find(x.target);
      x.took_effect = absent ? it == live.kv.end()
                             : it != live.kv.end() && expect.is_object() &&
                                   HmacSha256Hex(records.hmac_key, it->second.value) ==
                                       expect.value("hmac", "");
    }
    x.what = "run " + std::to_string(e.run_id) + " " + e.kind + " " + x.target;
    open.push_back(std::move(x));
  }
  // Apps written but not finished (the deployment still runs, or tasks are not healthy yet)
  // are followed to the end now, as the interrupted apply would have: at most `concurrency`
  // at once, each with its own deadline.
  std::vector<Open*> follow;
  for (auto& x : open) {
    bool absent = x.detail["expect"].is_object() && x.detail["expect"].contains("absent");
    if (x.took_effect && x.app && !absent && !Healthy(live.apps.at(x.target))) follow.push_back(&x);
  }
  EventReporter events(o.events, *o.clock);
  for (size_t off = 0; off < follow.size(); off += static_cast<size_t>(o.concurrency)) {
    std::vector<std::thread> threads;
    for (size_t k = off; k < std::min(follow.size(), off + static_cast<size_t>(o.concurrency));
         ++k) {
      threads.emplace_back([&, x = follow[k]] {
        Follower follower{target, o, events, x->entry->action_id};
        x->waited = follower.Wait(false, x->target, "", o.clock->Now() + o.app_deadline);
      });
    }
    for (auto& t : threads) t.join();
  }
  for (auto& x : open) {
    const store::JournalEntry& e = *x.entry;
    if (!x.waited.ok()) {
      json failed = {{"error", "interrupted; then " + x.waited.message()}};
      if (std::string d = ExpectDigest(x.detail); !d.empty())
        failed["desired_digest"] = d;  // failed_deploys.h
      RETURN_IF_ERROR(records.store->JournalFinish(e.id, "failed", SafeDump(failed)));
      lines.push_back(x.what +
                      ": was interrupted after it was written, and then: " + x.waited.message());
    } else if (x.took_effect) {
      const json& rec = x.detail.contains("record") ? x.detail["record"] : x.detail["expect"];
      if (!(x.detail.contains("restart") && x.detail["restart"] == true)) {  // a restart asked for
        RETURN_IF_ERROR(recorder.Applied(AppliedItem{
            x.app, x.target, StringField(x.detail, "env"), StringField(x.detail, "service"), rec,
            StartsWith(x.entry->resource, std::string(kModelResourcePrefix))}));
      }
      RETURN_IF_ERROR(
          records.store->JournalFinish(e.id, "succeeded", SafeDump(json{{"recovered", true}})));
      lines.push_back(x.what + ": was interrupted after it took effect; recorded as applied");
    } else {
      RETURN_IF_ERROR(records.store->JournalFinish(
          e.id, "failed", SafeDump(json{{"error", "interrupted before it took effect"}})));
      lines.push_back(x.what + ": was interrupted before it took effect; the plan redoes it");
    }
  }
  return lines;
}

}  // namespace

Result<std::vector<std::string>> RecoverInterrupted(const model::LiveState& live,
                                                    ApplyTarget& target, ApplyRecords& records,
                                                    const ApplyOptions& options) {
  // The journal's details are galley's own JSON; one edited by hand must not take apply down.
  try {
    return Recover(live, target, records, options);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("settling interrupted actions: ") + e.what());
  }
}

}  // namespace galley::engine
