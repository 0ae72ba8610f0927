// SPDX-License-Identifier: Apache-2.0
// The applied record: what galley last applied to each object, kept in two places.
//  - The state store, one row per resource (store::Applied; "marathon-app:<id>" or
//    "consul-kv:<key>"): the normalised app body, or the key's HMAC ("secret:<HMAC>" for a
//    secret), never a value.
//  - Consul, one document per service × environment (galley/<platform>/applied/<env>/<svc>,
//    "_platform" for platform keys and LB models), so a runner with an empty store still
//    tells drift from pending: {"app": <normalised body>, "kv": {"<key>": "<HMAC>" |
//    "secret:<HMAC>"}, "models": {"<instance>": "sha256:<model digest>"}, "jobs": {"<chronos
//    name>": <normalised job body>}, "applied_at": ..., "commit": ..., "by": ..., "run": ...}.
//  A Chronos job ("chronos-job:<name>" in the store, issue #16) is recorded by its normalised
//  body (engine/jobs.h NormalizeJob), in the record of the service × environment it belongs to.
//  An LB model ("haproxy-model:<instance>" in the store) is recorded by its digest (the
//  document's own "digest" member), not an HMAC: it holds no secret.
// Both halves of the format live here: the writing half (apply's recorder) and the reading
// half (plan, apply, drift and status read what was applied). Pure; values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/live_state.h"
#include "store/state_store.h"

namespace galley::engine {

// ---- Writing -----------------------------------------------------------------------------

// What one action produced: `expect` is the normalised app body, {"absent": true}, or
// {"hmac": ..., "secret": bool} for a key ({"hmac", "secret", "digest"} for an LB model; the
// normalised job body for a Chronos job).
struct AppliedItem {
  bool app = false;
  std::string target, env, service;  // an LB model: its KV key, env and service empty
  nlohmann::json expect;
  bool model = false;  // an LB model (engine/lb_models.h)
  bool job = false;    // a Chronos job: target = its Chronos name (engine/jobs.h)
};

// The object is gone (a delete).
bool ExpectsAbsent(const nlohmann::json& expect);

// The store's body for an item: the app's JSON, the key's "<HMAC>" or "secret:<HMAC>", the
// job's normalised JSON; "" once deleted.
std::string AppliedBody(const AppliedItem& item);

// The key of galley's record in Consul for a service × environment.
std::string AppliedRecordKey(const std::string& applied_prefix, const std::string& env,
                             const std::string& service);

// Who applied, when, from what: stamped on every record written.
struct AppliedStamp {
  std::string applied_at, commit, by;
  int64_t run = 0;
};

// The store rows for `items`.
std::vector<store::Applied> AppliedRows(const std::vector<AppliedItem>& items,
                                        const AppliedStamp& stamp);

// The record document after `items` (all of one record key) are applied to `previous`, the
// document's text as last known ("" when none; a malformed one is started afresh).
std::string UpdateAppliedRecord(const std::string& previous, const std::vector<AppliedItem>& items,
                                const AppliedStamp& stamp);

// ---- Reading -----------------------------------------------------------------------------

// One record document from Consul; nullopt when it is not a JSON object.
struct AppliedRecord {
  std::optional<nlohmann::json> app;  // the normalised body, when it has an app with an id
  std::map<std::string, std::string> kv;
  std::map<std::string, std::string> models;   // instance → model digest
  std::map<std::string, nlohmann::json> jobs;  // Chronos name → normalised body
  std::string applied_at;
};
std::optional<AppliedRecord> ParseAppliedRecord(const std::string& text);

// What galley last applied, merged from the store and the records in Consul.
struct LastAppliedView {
  std::map<std::string, nlohmann::json> apps;  // app id → normalised body
  std::map<std::string, std::string> kv;       // key → HMAC or "secret:HMAC"
  std::map<std::string, std::string> models;   // HAProxy instance → LB model digest
  // "app:<id>" / "kv:<key>" / "haproxy-model:<instance>" / "job:<name>" → applied_at
  std::map<std::string, std::string> at;
  std::map<std::string, nlohmann::json> jobs;  // Chronos name → normalised body
};

// The store's rows (deleted ones and unparsable app bodies skipped).
void AddStoreApplied(const std::map<std::string, store::Applied>& rows, LastAppliedView* into);

// Merges the records galley keeps in Consul (by key): a record newer than what `into` holds
// (by applied_at) wins. Returns a warning per malformed record, which is skipped.
std::vector<std::string> MergeAppliedRecords(
    const std::map<std::string, model::LiveKvEntry>& records, LastAppliedView* into);

// Every app id and key the records name (to find environments removed from the platform file).
std::vector<std::string> AppliedRecordTargets(
    const std::map<std::string, model::LiveKvEntry>& records);

}  // namespace galley::engine
