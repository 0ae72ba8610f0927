// SPDX-License-Identifier: Apache-2.0
// cli/event_render.h: the text sink prints today's lines byte for byte (workflow lines as
// they are, step events after "[%6.1fs] ", warnings on stderr after the command), and the
// JSON-lines sink writes one object per event with the typed fields that are set.
#include "cli/event_render.h"

#include <algorithm>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace galley::cli {
namespace {

using engine::ApplyEvent;
using engine::EventKind;
using json = nlohmann::json;

ApplyEvent Event(EventKind kind, double at, std::string line) {
  ApplyEvent e;
  e.kind = kind;
  e.at = at;
  e.line = std::move(line);
  return e;
}

TEST(TextEventSinkTest, PrintsTodaysLines) {
  std::ostringstream info, err;
  TextEventSink sink(info, err);
  sink.On(Event(EventKind::kPhase, 0.2,
                "\nApplying 2 actions (at most 16 at once, deadline 600 s per app)"));
  sink.On(Event(EventKind::kStepNote, 0.25, "/app/production/web: deploying"));
  sink.On(Event(EventKind::kStepFinished, 12.34, "/app/production/web: healthy"));
  sink.On(Event(EventKind::kRecovered, 1, "recovered: run 3 app-update /app/x: was interrupted"));
  sink.On(Event(EventKind::kWarning, 1, "warning: a malformed record"));
  EXPECT_EQ(info.str(),
            "\nApplying 2 actions (at most 16 at once, deadline 600 s per app)\n"
            "[   0.2s] /app/production/web: deploying\n"
            "[  12.3s] /app/production/web: healthy\n"
            "recovered: run 3 app-update /app/x: was interrupted\n");
  EXPECT_EQ(err.str(), "galley apply: warning: a malformed record\n");
}

TEST(JsonEventSinkTest, OneObjectPerLineWithTheTypedFields) {
  std::ostringstream out;
  JsonEventSink sink(out);
  sink.On(Event(EventKind::kPhase, 0.5,
                "\nApplying 1 action (at most 16 at once, deadline 600 s per app)"));
  ApplyEvent d =
      Event(EventKind::kDeployment, 2.5, "/app/production/web: deployment step 1/2, 1/3 healthy");
  d.action_id = "app:/app/production/web";
  d.target = "/app/production/web";
  d.deployment_id = "dep-1";
  d.deployment_step = 1;
  d.deployment_steps = 2;
  d.healthy = 1;
  d.running = 2;
  d.wanted = 3;
  sink.On(d);
  ApplyEvent f = Event(EventKind::kStepFinished, 4, "/app/production/web: failed");
  f.state = engine::StepState::kFailed;
  f.seconds = 3.5;
  f.rolled_back = true;
  sink.On(f);

  std::istringstream lines(out.str());
  std::vector<json> got;
  for (std::string line; std::getline(lines, line);) {
    json j = json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    got.push_back(j);
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0],
            (json{{"kind", "phase"},
                  {"at", 0.5},
                  {"action_id", ""},
                  {"target", ""},
                  {"line", "Applying 1 action (at most 16 at once, deadline 600 s per app)"}}));
  EXPECT_EQ(got[1], (json{{"kind", "deployment"},
                          {"at", 2.5},
                          {"action_id", "app:/app/production/web"},
                          {"target", "/app/production/web"},
                          {"line", "/app/production/web: deployment step 1/2, 1/3 healthy"},
                          {"deployment_id", "dep-1"},
                          {"deployment_step", 1},
                          {"deployment_steps", 2},
                          {"healthy", 1},
                          {"running", 2},
                          {"wanted", 3}}));
  EXPECT_EQ(got[2]["kind"], "step-finished");
  EXPECT_EQ(got[2]["state"], "failed");
  EXPECT_EQ(got[2]["seconds"], 3.5);
  EXPECT_EQ(got[2]["rolled_back"], true);
  EXPECT_FALSE(got[2].contains("deployment_id"));
  EXPECT_FALSE(got[0].contains("state"));
}

TEST(JsonEventSinkTest, AMultiLineEventStaysOneLine) {
  std::ostringstream out;
  JsonEventSink sink(out);
  sink.On(Event(EventKind::kPhase, 0, "Calls that would be made:\n  POST /v2/apps /app/x"));
  std::string text = out.str();
  ASSERT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_EQ(json::parse(text)["line"], "Calls that would be made:\n  POST /v2/apps /app/x");
}

}  // namespace
}  // namespace galley::cli
