// SPDX-License-Identifier: Apache-2.0
// The LB model as a planned resource: the desired documents, the planner's create / update /
// no-op / delete and hand edits, drift, the applied record's "models", the step graph and the
// plan views.
#include <gtest/gtest.h>

#include "engine/applied_record.h"
#include "engine/desired.h"
#include "engine/drift.h"
#include "engine/lb_models.h"
#include "engine/planner.h"
#include "engine/step_graph.h"
#include "render/lb_model.h"
#include "render/lb_model_codec.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

model::DesiredState State(int maxconn = 4096) {
  model::DesiredState st;
  st.platform.name = "p";
  st.platform.haproxy_maxconn = maxconn;
  model::Environment prod;
  prod.name = "production";
  st.platform.environments.push_back(prod);
  model::HaproxyInstance internal;
  internal.name = "internal";
  internal.config_path = "/etc/haproxy/internal.cfg";
  st.platform.haproxy.push_back(internal);
  return st;
}

// `doc` with its members changed by `edit` (the digest left as it was: a hand edit).
std::string Edited(const std::string& doc, const std::function<void(json&)>& edit) {
  json j = json::parse(doc);
  edit(j);
  return j.dump();
}

class ModelPlanTest : public ::testing::Test {
 protected:
  ModelPlanTest() {
    in_.platform = "p";
    in_.environments = {"production"};
    in_.app_prefixes = {"/app/production/"};
    in_.kv_prefixes = {"app/production/"};
    in_.hmac_key = "k";
    in_.model_prefix = ModelPrefix("p");
    in_.models = DesiredModels(State());
  }
  void Live(const std::string& key, const std::string& value, uint64_t index) {
    in_.live.kv[key] = model::LiveKvEntry{key, value, index, 0, ""};
  }
  const DesiredModel& Want() const { return in_.models.at(0); }
  PlanInput in_;
};

TEST(DesiredModelsTest, OnePerDeclaredInstanceAtItsKey) {
  auto models = DesiredModels(State());
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].instance, "internal");
  EXPECT_EQ(models[0].key, "galley/p/haproxy/internal");
  EXPECT_EQ(DocumentDigest(models[0].document), models[0].digest);
  auto parsed = render::ParseLbModel(models[0].document);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->instance.name, "internal");

  model::DesiredState none = State();
  none.platform.haproxy.clear();
  EXPECT_TRUE(DesiredModels(none).empty());
}

TEST(DesiredModelsTest, ModelKeysAreOneSegmentUnderThePrefix) {
  EXPECT_TRUE(IsModelKey("galley/p/haproxy/", "galley/p/haproxy/internal"));
  EXPECT_FALSE(IsModelKey("galley/p/haproxy/", "galley/p/haproxy/"));
  EXPECT_FALSE(IsModelKey("galley/p/haproxy/", "galley/p/haproxy/internal/x"));
  EXPECT_FALSE(IsModelKey("galley/p/haproxy/", "galley/q/haproxy/internal"));
}

TEST_F(ModelPlanTest, CreatesAMissingModel) {
  Plan p = MakePlan(in_);
  ASSERT_EQ(p.actions.size(), 1u);
  const Action& a = p.actions[0];
  EXPECT_EQ(a.kind, ActionKind::kModelCreate);
  EXPECT_EQ(a.reason, Reason::kNew);
  EXPECT_EQ(a.id, "haproxy-model:internal");
  EXPECT_EQ(a.target, "galley/p/haproxy/internal");
  EXPECT_EQ(a.token, "0");
  EXPECT_EQ(a.desired["value"], Want().document);
  EXPECT_EQ(a.desired["digest"], Want().digest);
  EXPECT_EQ(ResourceKeyOf(a), "haproxy-model:internal");
  EXPECT_FALSE(IsAppAction(a.kind));
  ASSERT_FALSE(a.changes.empty());
  for (const auto& c : a.changes) {
    EXPECT_NE(c.pointer, "/digest");
    EXPECT_FALSE(c.before_present);
  }
}

TEST_F(ModelPlanTest, DeletedByHandIsDrift) {
  in_.applied_models["internal"] = Want().digest;
  Plan p = MakePlan(in_);
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].kind, ActionKind::kModelCreate);
  EXPECT_EQ(p.actions[0].reason, Reason::kDrifted);
}

TEST_F(ModelPlanTest, NothingWhenTheLiveDocumentIsTheDesiredOne) {
  Live(Want().key, Want().document, 7);
  in_.applied_models["internal"] = Want().digest;
  EXPECT_TRUE(MakePlan(in_).actions.empty());
  // The same document with other whitespace is no change either.
  Live(Want().key, json::parse(Want().document).dump(2), 8);
  EXPECT_TRUE(MakePlan(in_).actions.empty());
}

TEST_F(ModelPlanTest, AModelTooLargeOnceCompressedIsAPlanErrorNamingTheInstance) {
  EXPECT_EQ(Want().stored_bytes, Want().document.size());  // small: stored as plain JSON
  EXPECT_EQ(ModelTooLarge(Want()), "");
  in_.models[0].stored_bytes = render::kConsulKvMaxValueSize + 1;
  Plan p = MakePlan(in_);
  EXPECT_TRUE(p.actions.empty());
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_NE(p.errors[0].find("HAProxy instance internal"), std::string::npos) << p.errors[0];
  EXPECT_NE(p.errors[0].find("524289 bytes"), std::string::npos) << p.errors[0];
  EXPECT_NE(p.errors[0].find("kv_max_value_size"), std::string::npos) << p.errors[0];
  // A live model of the instance is not deleted as an orphan either.
  Live(Want().key, Want().document, 7);
  EXPECT_TRUE(MakePlan(in_).actions.empty());
}

TEST(DecodeLiveModelsTest, CompressedModelsBecomeDocumentsCorruptOnesAWarning) {
  std::string doc = "{\"services\":\"" + std::string(100 * 1024, 'x') + "\"}";
  std::string stored = render::EncodeLbModelValue(doc);
  ASSERT_TRUE(render::IsGzipValue(stored));
  std::map<std::string, model::LiveKvEntry> kv;
  kv["galley/p/haproxy/internal"] = {"galley/p/haproxy/internal", stored, 3, 0, ""};
  kv["galley/p/haproxy/external"] = {"galley/p/haproxy/external", "\x1f\x8b\x08junk", 4, 0, ""};
  kv["app/production/x"] = {"app/production/x", stored, 5, 0, ""};  // not a model: untouched
  std::vector<std::string> warnings;
  DecodeLiveModels(ModelPrefix("p"), &kv, &warnings);
  EXPECT_EQ(kv["galley/p/haproxy/internal"].value, doc);
  EXPECT_EQ(kv["galley/p/haproxy/internal"].modify_index, 3u);
  EXPECT_EQ(kv["app/production/x"].value, stored);
  EXPECT_EQ(kv["galley/p/haproxy/external"].value.rfind("(unreadable) ", 0), 0u);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("galley/p/haproxy/external"), std::string::npos) << warnings[0];
}

TEST_F(ModelPlanTest, UpdatesWhenGitChangedIt) {
  auto old = DesiredModels(State(/*maxconn=*/2000)).at(0);
  Live(old.key, old.document, 12);
  in_.applied_models["internal"] = old.digest;
  Plan p = MakePlan(in_);
  ASSERT_EQ(p.actions.size(), 1u);
  const Action& a = p.actions[0];
  EXPECT_EQ(a.kind, ActionKind::kModelUpdate);
  EXPECT_EQ(a.reason, Reason::kDesiredChanged);
  EXPECT_EQ(a.token, "12");
  ASSERT_EQ(a.changes.size(), 1u);  // the digest member is left out of the diff
  EXPECT_EQ(a.changes[0].pointer, "/maxconn");
  EXPECT_EQ(a.changes[0].before, 2000);
  EXPECT_EQ(a.changes[0].after, 4096);
}

TEST_F(ModelPlanTest, AHandEditIsDriftRevertedAndReported) {
  Live(Want().key, Edited(Want().document, [](json& j) { j["maxconn"] = 10; }), 20);
  in_.applied_models["internal"] = Want().digest;
  Plan p = MakePlan(in_);
  ASSERT_EQ(p.actions.size(), 1u);
  const Action& a = p.actions[0];
  EXPECT_EQ(a.kind, ActionKind::kModelUpdate);
  EXPECT_EQ(a.reason, Reason::kDrifted);
  EXPECT_EQ(a.token, "20");
  ASSERT_EQ(a.changes.size(), 1u);
  EXPECT_EQ(a.changes[0].pointer, "/maxconn");
  ASSERT_EQ(a.notes.size(), 1u);
  EXPECT_EQ(a.notes[0],
            "edited by hand: the live document no longer matches its digest; apply puts "
            "galley's back");

  // A report/ignore policy for KV does not keep galley's own document from being reverted.
  in_.policies.platform.consul_kv.drift = model::DriftPolicy::kIgnore;
  EXPECT_EQ(MakePlan(in_).actions.size(), 1u);

  DriftReport d = FindDrift(in_);
  ASSERT_EQ(d.drift.size(), 1u);
  const DriftItem& it = d.drift[0];
  EXPECT_EQ(it.resource, "haproxy-model:internal");
  EXPECT_EQ(it.kind, model::ResourceKind::kHaproxyModel);
  EXPECT_EQ(it.target, "galley/p/haproxy/internal");
  EXPECT_EQ(it.what, DriftWhat::kChanged);
  EXPECT_FALSE(it.pending);
  EXPECT_EQ(it.policy, model::DriftPolicy::kRevert);
  EXPECT_EQ(it.modify_index, 20u);
  ASSERT_EQ(it.fields.size(), 1u);
  EXPECT_EQ(it.fields[0].pointer, "/maxconn");
  EXPECT_EQ(it.fields[0].before, 4096);  // applied → live
  EXPECT_EQ(it.fields[0].after, 10);
  json doc = DriftToJson(d);
  EXPECT_EQ(doc["drift"][0]["kind"], "haproxy_model");
  EXPECT_TRUE(DriftInScope(in_, "haproxy-model:internal"));
}

TEST_F(ModelPlanTest, AnEditOfTheDigestAloneShowsAsTheDigest) {
  Live(Want().key, Edited(Want().document, [](json& j) { j["digest"] = "sha256:00"; }), 5);
  in_.applied_models["internal"] = Want().digest;
  Plan p = MakePlan(in_);
  ASSERT_EQ(p.actions.size(), 1u);
  ASSERT_EQ(p.actions[0].changes.size(), 1u);
  EXPECT_EQ(p.actions[0].changes[0].pointer, "/digest");
  EXPECT_EQ(p.actions[0].changes[0].before, "sha256:00");
  EXPECT_EQ(p.actions[0].changes[0].after, Want().digest);
  EXPECT_NE(p.actions[0].notes.at(0).find("the live document says sha256:00"), std::string::npos);
}

TEST_F(ModelPlanTest, ADocumentThatIsNotJsonIsReplacedWhole) {
  Live(Want().key, "garbage", 5);
  in_.applied_models["internal"] = Want().digest;
  Plan p = MakePlan(in_);
  ASSERT_EQ(p.actions.size(), 1u);
  ASSERT_EQ(p.actions[0].changes.size(), 1u);
  EXPECT_EQ(p.actions[0].changes[0].pointer, "");
  EXPECT_EQ(p.actions[0].changes[0].before, "(not a JSON object) garbage");
  DriftReport d = FindDrift(in_);
  ASSERT_EQ(d.drift.size(), 1u);
  EXPECT_EQ(d.drift[0].fields.at(0).after, "(not a JSON object)");
}

TEST_F(ModelPlanTest, DeletesTheModelOfAnInstanceNoLongerDeclared) {
  Live(Want().key, Want().document, 3);
  Live("galley/p/haproxy/old", "{\"digest\":\"sha256:aa\"}", 4);
  Live("galley/p/haproxy/old/deeper", "x", 5);  // not a model key: left alone
  Plan p = MakePlan(in_);
  ASSERT_EQ(p.actions.size(), 1u);
  const Action& a = p.actions[0];
  EXPECT_EQ(a.kind, ActionKind::kModelDelete);
  EXPECT_EQ(a.reason, Reason::kOrphan);
  EXPECT_EQ(a.id, "haproxy-model:old");
  EXPECT_EQ(a.target, "galley/p/haproxy/old");
  EXPECT_EQ(a.token, "4");
  EXPECT_EQ(ResourceKeyOf(a), "haproxy-model:old");
  ASSERT_EQ(a.notes.size(), 1u);
  EXPECT_EQ(
      a.notes[0],
      "HAProxy instance old is no longer declared in galley.yaml; galley published its model");
}

TEST_F(ModelPlanTest, ATargetedPlanLeavesModelsAlone) {
  in_.targets = {"web"};
  in_.declared_services = {"web"};
  EXPECT_TRUE(MakePlan(in_).actions.empty());
}

TEST_F(ModelPlanTest, AModelIsAKvStepOfItsOwnAndShowsInTheViews) {
  in_.kv.push_back(DesiredKv{"", "", "service/haproxy/maxconn", "4096", false, "", false});
  in_.kv_exact_keys = {"service/haproxy/maxconn"};
  Plan p = MakePlan(in_);
  ASSERT_EQ(p.actions.size(), 2u);
  auto steps = BuildSteps(p);
  ASSERT_EQ(steps.size(), 2u);
  std::vector<std::string> names = {steps[0].name, steps[1].name};
  EXPECT_NE(std::find(names.begin(), names.end(), "haproxy-model-create internal"), names.end());
  for (const auto& s : steps) EXPECT_FALSE(s.app);

  std::string text = RenderPlanText(p, false);
  EXPECT_NE(text.find("+ publish haproxy model internal (galley/p/haproxy/internal)   (new)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("; KV: 1 to put, 0 to delete; HAProxy models: 1 to publish, 0 to update, 0 "
                      "to delete."),
            std::string::npos)
      << text;
  EXPECT_NE(RenderPlanMarkdown(p).find("| `+` | publish | `galley/p/haproxy/internal` | new |"),
            std::string::npos);
  json doc = PlanToJson(p);
  auto back = PlanFromJson(doc);
  ASSERT_TRUE(back.ok()) << back.status().message();
  bool found = false;
  for (const auto& a : back->actions) {
    if (a.id != "haproxy-model:internal") continue;
    found = true;
    EXPECT_EQ(a.kind, ActionKind::kModelCreate);
    EXPECT_EQ(a.desired["value"], Want().document);
  }
  EXPECT_TRUE(found);
  // A plan without models keeps the summary it always had.
  in_.models.clear();
  EXPECT_NE(RenderPlanText(MakePlan(in_), false).find("KV: 1 to put, 0 to delete.\n"),
            std::string::npos);
}

TEST(DesiredModelsTest, ASavedPlanKnowsTheModelsItWasMadeFrom) {
  auto now = DesiredModels(State());
  auto moved = DesiredModels(State(/*maxconn=*/2000));
  auto digests = DesiredDigests({}, {}, {"production"}, {}, now);
  ASSERT_TRUE(digests.count("(platform)"));
  EXPECT_FALSE(
      DesiredDifferences(digests, DesiredDigests({}, {}, {"production"}, {}, moved)).empty());
  EXPECT_TRUE(DesiredDifferences(digests, DesiredDigests({}, {}, {"production"}, {}, now)).empty());
  // A targeted plan has no models.
  EXPECT_TRUE(DesiredDigests({}, {}, {"production"}, {"web"}, now).empty());
}

TEST(ModelAppliedRecordTest, RecordedByDigestInTheStoreAndInConsul) {
  AppliedItem item{false,
                   "galley/p/haproxy/internal",
                   "",
                   "",
                   json{{"hmac", "h"}, {"secret", false}, {"digest", "sha256:d1"}},
                   true};
  AppliedStamp stamp{"2026-12-07T10:00:00.000Z", "c1", "me", 4};
  auto rows = AppliedRows({item}, stamp);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].resource, "haproxy-model:internal");
  EXPECT_EQ(rows[0].body, "sha256:d1");
  EXPECT_EQ(AppliedRecordKey("galley/p/applied/", "", ""), "galley/p/applied/_platform");

  std::string doc = UpdateAppliedRecord("", {item}, stamp);
  auto rec = ParseAppliedRecord(doc);
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->models.at("internal"), "sha256:d1");
  EXPECT_TRUE(rec->kv.empty());

  LastAppliedView view;
  std::map<std::string, store::Applied> store_rows{{rows[0].resource, rows[0]}};
  AddStoreApplied(store_rows, &view);
  EXPECT_EQ(view.models.at("internal"), "sha256:d1");
  // A newer record in Consul wins.
  AppliedStamp later{"2026-12-07T11:00:00.000Z", "c2", "me", 5};
  item.expect["digest"] = "sha256:d2";
  std::map<std::string, model::LiveKvEntry> records{
      {"galley/p/applied/_platform",
       model::LiveKvEntry{"galley/p/applied/_platform", UpdateAppliedRecord(doc, {item}, later), 1,
                          0, ""}}};
  EXPECT_TRUE(MergeAppliedRecords(records, &view).empty());
  EXPECT_EQ(view.models.at("internal"), "sha256:d2");

  // Deleted: gone from the record.
  AppliedItem gone = item;
  gone.expect = json{{"absent", true}};
  auto after = ParseAppliedRecord(UpdateAppliedRecord(doc, {gone}, later));
  ASSERT_TRUE(after.has_value());
  EXPECT_TRUE(after->models.empty());
}

}  // namespace
}  // namespace galley::engine
