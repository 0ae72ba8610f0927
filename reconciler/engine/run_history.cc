// SPDX-License-Identifier: Apache-2.0
#include "engine/run_history.h"

#include <utility>

#include "base/strings.h"
#include "engine/view_text.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

std::string Get(const std::map<std::string, std::string>& env, const char* name) {
  auto it = env.find(name);
  if (it == env.end()) return "";
  // Values come from the CI's environment: bounded, one line, nothing hidden.
  return Printable(it->second, 300);
}

bool IsTrue(const std::map<std::string, std::string>& env, const char* name) {
  std::string v = Get(env, name);
  return v == "true" || v == "True" || v == "1";
}

}  // namespace

store::RunOrigin RunOriginOf(const std::map<std::string, std::string>& env,
                             const std::string& user_at_host) {
  store::RunOrigin o;
  if (IsTrue(env, "GITHUB_ACTIONS")) {
    o.ci = "github-actions";
    o.who = Get(env, "GITHUB_ACTOR");
    std::string server = Get(env, "GITHUB_SERVER_URL"), repo = Get(env, "GITHUB_REPOSITORY"),
                run = Get(env, "GITHUB_RUN_ID");
    if (!server.empty() && !repo.empty() && !run.empty())
      o.ci_url = server + "/" + repo + "/actions/runs/" + run;
    o.ci_commit = Get(env, "GITHUB_SHA");
  } else if (IsTrue(env, "GITLAB_CI")) {
    o.ci = "gitlab-ci";
    o.who = Get(env, "GITLAB_USER_LOGIN");
    o.ci_url = Get(env, "CI_PIPELINE_URL");
    if (o.ci_url.empty()) o.ci_url = Get(env, "CI_JOB_URL");
    o.ci_commit = Get(env, "CI_COMMIT_SHA");
  } else if (IsTrue(env, "DRONE")) {
    o.ci = "drone";
    // DRONE_BUILD_TRIGGER is the user who started the build, or "@hook" / "@cron".
    std::string trigger = Get(env, "DRONE_BUILD_TRIGGER");
    o.who = !trigger.empty() && trigger[0] != '@' ? trigger : Get(env, "DRONE_COMMIT_AUTHOR");
    o.ci_url = Get(env, "DRONE_BUILD_LINK");
    o.ci_commit = Get(env, "DRONE_COMMIT_SHA");
    if (o.ci_commit.empty()) o.ci_commit = Get(env, "DRONE_COMMIT");
  }
  if (o.who.empty()) o.who = user_at_host;
  return o;
}

std::string OriginText(const std::string& who, const std::string& ci) {
  return ci.empty() ? who : who + " (" + ci + ")";
}

std::string PlatformHistoryKey(const std::string& platform) {
  return "galley/" + platform + "/history";
}

json WithHistoryEntry(const json& doc, const json& entry, int keep) {
  const json id = entry.is_object() && entry.contains("id") ? entry["id"] : json();
  json applies = json::array();
  applies.push_back(entry);
  if (doc.is_object() && doc.contains("applies") && doc["applies"].is_array()) {
    for (const json& e : doc["applies"]) {
      if (!e.is_object() || (!id.is_null() && e.value("id", json()) == id)) continue;
      json old = e;
      if (old.value("outcome", std::string()) == "running") old["outcome"] = "interrupted";
      applies.push_back(std::move(old));
    }
  }
  if (keep < 1) keep = 1;
  while (applies.size() > static_cast<size_t>(keep)) applies.erase(applies.end() - 1);
  json out = {{"galley_history", 1}, {"applies", applies}};
  while (out["applies"].size() > 1 && SafeDump(out).size() >= kMaxHistoryBytes) {
    out["applies"].erase(out["applies"].size() - 1);
  }
  return out;
}

Status PlatformHistory::Record(const json& entry) {
  // Read-modify-write with cas: another writer in between (there should be none: only the
  // lock holder writes) makes the cas fail, and the write is redone on what is there.
  for (int attempt = 0; attempt < 5; ++attempt) {
    json doc;
    uint64_t index = 0;
    auto current = consul_.GetKv(key_);
    if (current.ok()) {
      doc = json::parse(current->value, nullptr, false);
      index = current->modify_index;
    } else if (current.status().code() != StatusCode::kNotFound) {
      return current.status();
    }
    ASSIGN_OR_RETURN(bool written,
                     consul_.PutKv(key_, SafeDump(WithHistoryEntry(doc, entry, keep_)), index));
    if (written) return Status::Ok();
  }
  return Status::Conflict("consul: " + key_ + " kept changing while galley wrote its history");
}

Result<std::vector<json>> PlatformHistory::Read() {
  std::vector<json> out;
  auto current = consul_.GetKv(key_);
  if (!current.ok()) {
    if (current.status().code() == StatusCode::kNotFound) return out;
    return current.status();
  }
  json doc = json::parse(current->value, nullptr, false);
  if (!doc.is_object() || !doc.contains("applies") || !doc["applies"].is_array()) {
    return Status::InvalidArgument("consul: " + key_ +
                                   " is not galley's apply history (malformed JSON)");
  }
  for (const json& e : doc["applies"]) {
    if (e.is_object()) out.push_back(e);
  }
  return out;
}

}  // namespace galley::engine
