// SPDX-License-Identifier: Apache-2.0
// The step graph without threads, a target or a clock: grouping actions into steps,
// dependencies between steps, the order ready steps are handed out in, and cancellation of
// everything that depends on a failed step.
#include "engine/step_graph.h"

#include <gtest/gtest.h>

namespace galley::engine {
namespace {

Action App(const std::string& svc, std::vector<std::string> deps = {}) {
  Action a;
  a.kind = ActionKind::kAppUpdate;
  a.env = "production";
  a.service = svc;
  a.target = "/app/production/" + svc;
  a.id = "app:" + a.target;
  a.depends_on = std::move(deps);
  return a;
}

Action Kv(const std::string& svc, const std::string& key, ActionKind kind = ActionKind::kKvPut) {
  Action a;
  a.kind = kind;
  a.env = "production";
  a.service = svc;
  a.target = "app/production/" + svc + "/" + key;
  a.id = "kv:" + a.target;
  return a;
}

TEST(StepGraph, KeysOfOneServiceFormOneStepAndAppsOneEach) {
  Plan p;
  p.actions = {Kv("web", "A"), Kv("web", "B"), Kv("web", "C", ActionKind::kKvDelete),
               Kv("api", "A"), App("web", {"kv:app/production/web/A", "kv:app/production/web/B"})};
  auto steps = BuildSteps(p);
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(steps[0].name, "kv-put production/web");
  EXPECT_EQ(steps[0].actions, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(steps[1].name, "kv-delete production/web");
  EXPECT_EQ(steps[2].name, "kv-put production/api");
  EXPECT_TRUE(steps[3].app);
  EXPECT_EQ(steps[3].depends_on, (std::set<size_t>{0}));
  EXPECT_EQ(steps[0].dependants, (std::vector<size_t>{3}));
}

TEST(StepSchedule, ADependantIsReadyOnlyOnceItsStepSucceededAndGoesFirst) {
  Plan p;
  p.actions = {Kv("web", "A"), Kv("api", "A"), App("web", {"kv:app/production/web/A"})};
  StepSchedule schedule(BuildSteps(p));
  EXPECT_EQ(schedule.Take(), std::optional<size_t>(0));
  EXPECT_EQ(schedule.Take(), std::optional<size_t>(1));
  EXPECT_FALSE(schedule.HasReady());  // the app waits for web's keys
  EXPECT_TRUE(schedule.Done(0, true).empty());
  EXPECT_EQ(schedule.Take(), std::optional<size_t>(2));
  EXPECT_TRUE(schedule.Done(2, true).empty());
  EXPECT_FALSE(schedule.Finished());
  EXPECT_TRUE(schedule.Done(1, true).empty());
  EXPECT_TRUE(schedule.Finished());
}

TEST(StepSchedule, AFailureCancelsEveryDependantTransitivelyAndNothingElse) {
  Plan p;
  p.actions = {Kv("web", "A"), App("web", {"kv:app/production/web/A"}),
               App("worker", {"app:/app/production/web"}), App("api")};
  StepSchedule schedule(BuildSteps(p));
  ASSERT_EQ(schedule.Take(), std::optional<size_t>(0));
  ASSERT_EQ(schedule.Take(), std::optional<size_t>(3));
  auto cancelled = schedule.Done(0, false);
  ASSERT_EQ(cancelled.size(), 2u);
  EXPECT_EQ(cancelled[0].step, 1u);
  EXPECT_EQ(cancelled[1].step, 2u);
  EXPECT_EQ(cancelled[1].because,
            "kv-put production/web");  // the step that failed, not its dependant
  EXPECT_FALSE(schedule.HasReady());
  EXPECT_FALSE(schedule.Finished());  // api still runs
  EXPECT_TRUE(schedule.Done(3, true).empty());
  EXPECT_TRUE(schedule.Finished());
}

TEST(StepSchedule, AnEmptyPlanIsFinishedAtOnce) {
  StepSchedule schedule(BuildSteps(Plan{}));
  EXPECT_TRUE(schedule.Finished());
  EXPECT_EQ(schedule.Take(), std::nullopt);
}

}  // namespace
}  // namespace galley::engine
