// SPDX-License-Identifier: Apache-2.0
#include "agent/registrations.h"

#include <algorithm>

#include <gtest/gtest.h>

namespace galley::agent {
namespace {

model::DesiredState State() {
  model::DesiredState st;
  st.platform.environments = {{"production", "", "", false, {}, {}}};
  model::Service web;
  web.name = "test-server";
  web.ports = {{3000, model::Expose::kHttp, {}}};
  web.health = model::Health{"/healthcheck", 2, 10, 3, 5, {}};
  model::ServiceEnvironment prod;
  prod.name = "production";
  web.environments = {prod};
  model::Service multi;
  multi.name = "multi";
  multi.ports = {{3000, model::Expose::kHttp, {}},
                 {9000, model::Expose::kNone, {}},
                 {3010, model::Expose::kTcp, {}}};
  multi.health = model::Health{"", 2, 15, 3, std::nullopt, {}};
  multi.environments = {prod};
  model::Service plain;
  plain.name = "plain";
  plain.ports = {{8080, model::Expose::kHttp, {}}};
  plain.environments = {prod};
  st.services = {multi, plain, web};
  return st;
}

model::LiveTask Task(std::string id, std::string host, std::vector<int> ports,
                     std::string state = "TASK_RUNNING", bool healthy = true) {
  model::LiveTask t;
  t.id = std::move(id);
  t.host = std::move(host);
  t.ports = std::move(ports);
  t.state = std::move(state);
  t.healthy = healthy;
  return t;
}

struct Fixture {
  model::DesiredState state = State();
  std::map<std::string, model::LiveApp> apps;
  std::vector<Registration> current;

  void Add(const std::string& app, model::LiveTask t) {
    apps[app].id = app;
    apps[app].tasks.push_back(std::move(t));
  }
  RegistrationPlan Plan() {
    RegistrationInput in;
    in.state = &state;
    in.apps = &apps;
    in.node_name = "node-1";
    in.node_address = "10.0.0.1";
    in.current = current;
    return PlanRegistrations(in);
  }
};

Registration Ours(std::string id, std::string task, std::string name, int port,
                  std::string node = "node-1") {
  Registration r;
  r.id = std::move(id);
  r.name = std::move(name);
  r.tags = {"production", "internal-listen-http-3000"};
  r.address = "10.0.0.1";
  r.port = port;
  r.meta = {{kMetaTask, std::move(task)}, {kMetaNode, std::move(node)}};
  return r;
}

std::vector<std::string> Ids(const std::vector<Registration>& rs) {
  std::vector<std::string> out;
  for (const auto& r : rs) out.push_back(r.id);
  return out;
}

TEST(RegistrationsTest, NewHealthyTaskOnThisNodeRegistersWithItsCheck) {
  Fixture f;
  f.Add("/app/production/test-server", Task("web.1", "node-1", {31001}));
  f.Add("/app/production/test-server", Task("web.2", "node-2", {31002}));  // another node's
  RegistrationPlan p = f.Plan();
  ASSERT_EQ(p.to_register.size(), 1u);
  const Registration& r = p.to_register[0];
  EXPECT_EQ(r.id, "web.1-0");
  EXPECT_EQ(r.name, "test-server");
  EXPECT_EQ(r.tags, (std::vector<std::string>{"production", "internal-listen-http-3000"}));
  EXPECT_EQ(r.address, "10.0.0.1");
  EXPECT_EQ(r.port, 31001);
  EXPECT_EQ(r.meta.at(kMetaTask), "web.1");
  EXPECT_EQ(r.meta.at(kMetaNode), "node-1");
  ASSERT_TRUE(r.check.has_value());
  EXPECT_EQ(r.check->kind, ConsulCheck::Kind::kHttp);
  EXPECT_EQ(r.check->target, "http://10.0.0.1:31001/healthcheck");
  EXPECT_EQ(r.check->interval_s, 10);
  EXPECT_EQ(r.check->timeout_s, 5);
  EXPECT_TRUE(p.to_deregister.empty());
}

TEST(RegistrationsTest, AlreadyRegisteredAndUnchangedIsLeftAlone) {
  Fixture f;
  f.Add("/app/production/test-server", Task("web.1", "node-1", {31001}));
  f.current = {Ours("web.1-0", "web.1", "test-server", 31001)};
  RegistrationPlan p = f.Plan();
  EXPECT_TRUE(p.to_register.empty());
  EXPECT_TRUE(p.to_deregister.empty());
}

TEST(RegistrationsTest, ChangedTagsAreReRegisteredUnderTheSameId) {
  Fixture f;
  f.Add("/app/production/test-server", Task("web.1", "node-1", {31001}));
  f.current = {Ours("web.1-0", "web.1", "test-server", 31001)};
  f.current[0].tags = {"production"};
  EXPECT_EQ(Ids(f.Plan().to_register), std::vector<std::string>{"web.1-0"});
}

TEST(RegistrationsTest, KillingTaskDeregistersAtOnce) {
  Fixture f;
  f.Add("/app/production/test-server", Task("web.1", "node-1", {31001}, "TASK_KILLING", true));
  f.current = {Ours("web.1-0", "web.1", "test-server", 31001)};
  RegistrationPlan p = f.Plan();
  EXPECT_TRUE(p.to_register.empty());
  EXPECT_EQ(p.to_deregister, (std::vector<Deregistration>{{"web.1-0", "task is killing"}}));
}

TEST(RegistrationsTest, UnhealthyTaskDeregistersAndIsNotRegistered) {
  Fixture f;
  f.Add("/app/production/test-server", Task("web.1", "node-1", {31001}, "TASK_RUNNING", false));
  f.Add("/app/production/test-server", Task("web.2", "node-1", {31002}, "TASK_RUNNING", false));
  f.current = {Ours("web.1-0", "web.1", "test-server", 31001)};
  RegistrationPlan p = f.Plan();
  EXPECT_TRUE(p.to_register.empty());
  EXPECT_EQ(p.to_deregister, (std::vector<Deregistration>{{"web.1-0", "task is not healthy"}}));
}

TEST(RegistrationsTest, StagingTaskWaitsAndAppWithoutHealthCheckRegistersWhileRunning) {
  Fixture f;
  f.Add("/app/production/test-server", Task("web.1", "node-1", {31001}, "TASK_STAGING", false));
  f.Add("/app/production/plain", Task("plain.1", "node-1", {31005}, "TASK_RUNNING", false));
  RegistrationPlan p = f.Plan();
  ASSERT_EQ(Ids(p.to_register), std::vector<std::string>{"plain.1-0"});
  EXPECT_FALSE(p.to_register[0].check.has_value());
}

TEST(RegistrationsTest, DanglingRegistrationWithGalleysMetaIsRemoved) {
  Fixture f;
  f.Add("/app/production/test-server", Task("web.2", "node-1", {31002}));
  f.current = {Ours("web.1-0", "web.1", "test-server", 31001),
               Ours("web.2-0", "web.2", "test-server", 31002)};
  RegistrationPlan p = f.Plan();
  EXPECT_TRUE(p.to_register.empty());
  EXPECT_EQ(p.to_deregister, (std::vector<Deregistration>{{"web.1-0", "task is gone"}}));
}

TEST(RegistrationsTest, ForeignAndOtherNodesRegistrationsAreNeverTouched) {
  Fixture f;
  Registration foreign;
  foreign.id = "node-1:old-container:3000";  // registrator's, no galley meta
  foreign.name = "test-server";
  foreign.port = 31999;
  Registration consul;
  consul.id = "consul";
  consul.name = "consul";
  f.current = {foreign, consul, Ours("web.9-0", "web.9", "test-server", 31009, "node-2")};
  RegistrationPlan p = f.Plan();
  EXPECT_TRUE(p.to_register.empty());
  EXPECT_TRUE(p.to_deregister.empty());
}

TEST(RegistrationsTest, ForeignRegistrationWithGalleysIdIsNotOverwritten) {
  Fixture f;
  f.Add("/app/production/test-server", Task("web.1", "node-1", {31001}));
  Registration foreign;
  foreign.id = "web.1-0";
  foreign.name = "something-else";
  f.current = {foreign};
  RegistrationPlan p = f.Plan();
  EXPECT_TRUE(p.to_register.empty());
  EXPECT_TRUE(p.to_deregister.empty());
  EXPECT_EQ(p.notes.size(), 1u);
}

TEST(RegistrationsTest, MultiPortServiceRegistersEachExposedPortAsServicePort) {
  Fixture f;
  f.Add("/app/production/multi",
        Task("multi.1", "10.0.0.1", {31001, 31002, 31003}));  // host by address
  RegistrationPlan p = f.Plan();
  ASSERT_EQ(Ids(p.to_register), (std::vector<std::string>{"multi.1-0", "multi.1-2"}));
  EXPECT_EQ(p.to_register[0].name, "multi-3000");
  EXPECT_EQ(p.to_register[0].port, 31001);
  EXPECT_EQ(p.to_register[1].name, "multi-3010");
  EXPECT_EQ(p.to_register[1].port, 31003);
  EXPECT_EQ(p.to_register[1].tags,
            (std::vector<std::string>{"production", "internal-listen-http-3000",
                                      "internal-listen-tcp-3010"}));
  // Marathon's check probes the first port; the Consul check mirrors it, TCP without a path.
  ASSERT_TRUE(p.to_register[1].check.has_value());
  EXPECT_EQ(p.to_register[1].check->kind, ConsulCheck::Kind::kTcp);
  EXPECT_EQ(p.to_register[1].check->target, "10.0.0.1:31001");
  EXPECT_EQ(p.to_register[1].check->interval_s, 15);
}

TEST(RegistrationsTest, TaskOfAnAppWithoutConventionsKeepsItsRegistrationWhileHealthy) {
  Fixture f;
  f.Add("/app/production/unknown", Task("unk.1", "node-1", {31001}));
  f.Add("/app/production/unknown", Task("unk.2", "node-1", {31002}, "TASK_KILLING"));
  f.current = {Ours("unk.1-0", "unk.1", "unknown", 31001),
               Ours("unk.2-0", "unk.2", "unknown", 31002)};
  RegistrationPlan p = f.Plan();
  EXPECT_TRUE(p.to_register.empty());
  EXPECT_EQ(p.to_deregister, (std::vector<Deregistration>{{"unk.2-0", "task is killing"}}));
}

}  // namespace
}  // namespace galley::agent
