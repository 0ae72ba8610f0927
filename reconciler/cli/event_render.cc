// SPDX-License-Identifier: Apache-2.0
#include "cli/event_render.h"

#include <cstdio>

#include "engine/view_text.h"

namespace galley::cli {

void TextEventSink::On(const engine::ApplyEvent& e) {
  std::lock_guard<std::mutex> lock(mu_);
  switch (e.kind) {
    case engine::EventKind::kPhase:
    case engine::EventKind::kRecovered:
      info_ << e.line << "\n" << std::flush;
      return;
    case engine::EventKind::kWarning:
      err_ << command_ << ": " << e.line << "\n" << std::flush;
      return;
    default: {
      // The executor's events, timed from the start of the apply.
      char at[32];
      std::snprintf(at, sizeof at, "[%6.1fs] ", e.at);
      info_ << at << e.line << "\n" << std::flush;
      return;
    }
  }
}

nlohmann::json EventToJson(const engine::ApplyEvent& e) {
  // Leading and trailing newlines lay out a terminal ("\nApplying 3 actions"); not data.
  size_t first = e.line.find_first_not_of('\n');
  size_t last = e.line.find_last_not_of('\n');
  std::string line = first == std::string::npos ? "" : e.line.substr(first, last - first + 1);
  nlohmann::json j{{"kind", engine::EventKindName(e.kind)},
                   {"at", e.at},
                   {"action_id", e.action_id},
                   {"target", e.target},
                   {"line", line}};
  if (e.kind == engine::EventKind::kDeployment) {
    j["deployment_id"] = e.deployment_id;
    j["deployment_step"] = e.deployment_step;
    j["deployment_steps"] = e.deployment_steps;
    j["healthy"] = e.healthy;
    j["running"] = e.running;
    j["wanted"] = e.wanted;
  } else if (!e.deployment_id.empty()) {
    j["deployment_id"] = e.deployment_id;
  }
  if (e.state) {
    j["state"] = engine::StepStateName(*e.state);
    j["seconds"] = e.seconds;
    j["rolled_back"] = e.rolled_back;
  }
  return j;
}

void JsonEventSink::On(const engine::ApplyEvent& e) {
  std::string text = engine::SafeDump(EventToJson(e));
  std::lock_guard<std::mutex> lock(mu_);
  out_ << text << "\n" << std::flush;
}

}  // namespace galley::cli
