// SPDX-License-Identifier: Apache-2.0
// How `galley apply` and `galley restart` show the reconcile workflow's events
// (engine/events.h): `--progress text` (the default) or `--progress json`.
//  - Text: the workflow's phases and recovered entries as their lines, the executor's step
//    events as "[  12.3s] " + line, both on `info` (stdout, or stderr when stdout carries
//    --json); warnings as "galley apply: " + line on `err`.
//  - JSON lines: one object per event on one line: kind, at, action_id, target, line
//    (without the blank lines that lay out a terminal), and the typed fields that are set.
// Thread-safe: a sink serialises its writes.
#pragma once

#include <mutex>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/events.h"

namespace galley::cli {

enum class ProgressFormat { kText, kJson };

class TextEventSink : public engine::ApplyEventSink {
 public:
  TextEventSink(std::ostream& info, std::ostream& err, std::string command = "galley apply")
      : info_(info), err_(err), command_(std::move(command)) {}
  void On(const engine::ApplyEvent& event) override;

 private:
  std::mutex mu_;
  std::ostream& info_;
  std::ostream& err_;
  std::string command_;
};

class JsonEventSink : public engine::ApplyEventSink {
 public:
  explicit JsonEventSink(std::ostream& out) : out_(out) {}
  void On(const engine::ApplyEvent& event) override;

 private:
  std::mutex mu_;
  std::ostream& out_;
};

// One event as the JSON-lines sink writes it (without the newline).
nlohmann::json EventToJson(const engine::ApplyEvent& event);

}  // namespace galley::cli
