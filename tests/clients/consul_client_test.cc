// SPDX-License-Identifier: Apache-2.0
// The Consul client against the Consul emulator in-process: one recurse per prefix, decoded
// values and indexes, missing prefixes, ACL tokens, catalog and health reads, and faults.
#include "clients/consul_client.h"

#include <gtest/gtest.h>

#include "client_test_util.h"

namespace galley::clients {
namespace {

using testing::EmulatorServer;
using testing::Json;
using testing::milliseconds;

class ConsulClientTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(""); }
  void Start(const std::string& acl_token) {
    server_ = testing::StartConsul(acl_token);
    client_ = Client("");
  }
  std::unique_ptr<ConsulClient> Client(const std::string& token,
                                       milliseconds timeout = milliseconds(5000)) {
    ConsulEndpoint e;
    e.url = server_->base();
    e.token = token;
    ConsulClientOptions o;
    o.timeout = timeout;
    return NewConsulClient(e, http_.get(), o);
  }
  void Put(const std::string& key, const std::string& value, const std::string& query = "",
           const std::string& token = "") {
    net::Headers h;
    h["Content-Type"] = "application/octet-stream";
    if (!token.empty()) h["X-Consul-Token"] = token;
    auto r = server_->Call("PUT", "/v1/kv/" + net::PercentEncode(key, true) + query, value, h);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_EQ(r.body, "true");
  }
  // ModifyIndex of `key` as a raw GET reports it.
  uint64_t RawModifyIndex(const std::string& key) {
    auto r = server_->Call("GET", "/v1/kv/" + net::PercentEncode(key, true));
    Json j = Json::parse(r.body, nullptr, false);
    return j.is_array() && !j.empty() ? j[0]["ModifyIndex"].get<uint64_t>() : 0;
  }

  std::unique_ptr<EmulatorServer> server_;
  std::unique_ptr<net::HttpClient> http_ = net::NewHttpClient();
  std::unique_ptr<ConsulClient> client_;
};

std::string Key(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "app/production/web/KEY_%02d", i);
  return buf;
}

TEST_F(ConsulClientTest, ListKvIsOneRecursePerPrefix) {
  for (int i = 0; i < 50; ++i) Put(Key(i), "value-" + std::to_string(i));
  Put("app/staging/web/KEY_00", "staging");
  Put("app/productionx/KEY", "elsewhere");
  const std::string binary("h\xC3\xA9llo\nworld\0\x01\xFF", 14);
  Put("app/production/web/with space", binary, "?flags=42");
  Put("app/production/web/EMPTY", "");

  int before = client_->requests();
  uint64_t served = server_->served();
  auto kv = client_->ListKv("app/production/");
  ASSERT_TRUE(kv.ok()) << kv.status().message();
  EXPECT_EQ(client_->requests(), before + 1);
  EXPECT_EQ(server_->served(), served + 1);
  ASSERT_EQ(kv->entries.size(), 52u);
  EXPECT_TRUE(std::is_sorted(kv->entries.begin(), kv->entries.end(),
                             [](const auto& a, const auto& b) { return a.key < b.key; }));
  uint64_t max_index = 0;
  for (const auto& e : kv->entries) max_index = std::max(max_index, e.modify_index);
  EXPECT_EQ(kv->index, max_index);

  std::map<std::string, model::LiveKvEntry> by_key;
  for (const auto& e : kv->entries) by_key[e.key] = e;
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(by_key.count(Key(i))) << Key(i);
    EXPECT_EQ(by_key[Key(i)].value, "value-" + std::to_string(i));
    EXPECT_EQ(by_key[Key(i)].flags, 0u);
    EXPECT_EQ(by_key[Key(i)].session, "");
  }
  EXPECT_LT(by_key[Key(0)].modify_index, by_key[Key(49)].modify_index);  // written in order
  EXPECT_EQ(by_key[Key(7)].modify_index, RawModifyIndex(Key(7)));
  EXPECT_EQ(by_key["app/production/web/with space"].value, binary);
  EXPECT_EQ(by_key["app/production/web/with space"].flags, 42u);
  EXPECT_EQ(by_key["app/production/web/EMPTY"].value, "");

  // A change moves that key's ModifyIndex and the list index.
  Put(Key(7), "changed");
  auto again = client_->ListKv("/app/production/");  // a leading slash is ignored, as Consul does
  ASSERT_TRUE(again.ok());
  uint64_t changed = 0;
  for (const auto& e : again->entries) {
    if (e.key == Key(7)) {
      EXPECT_EQ(e.value, "changed");
      changed = e.modify_index;
    }
  }
  EXPECT_GT(changed, kv->index);
  EXPECT_EQ(again->index, changed);
  EXPECT_EQ(changed, RawModifyIndex(Key(7)));
}

TEST_F(ConsulClientTest, EmptyPrefixIsAnEmptyListWithAnIndex) {
  Put("app/production/KEY", "v");
  auto kv = client_->ListKv("app/nothing-here/");
  ASSERT_TRUE(kv.ok()) << kv.status().message();
  EXPECT_TRUE(kv->entries.empty());
  EXPECT_GT(kv->index, 0u);
  EXPECT_EQ(client_->requests(), 1);
}

TEST_F(ConsulClientTest, GetKv) {
  Put("galley/reference/applied/production/web", R"({"digest":"abc"})", "?flags=7");
  auto e = client_->GetKv("galley/reference/applied/production/web");
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ(e->key, "galley/reference/applied/production/web");
  EXPECT_EQ(e->value, R"({"digest":"abc"})");
  EXPECT_EQ(e->flags, 7u);
  EXPECT_EQ(e->modify_index, RawModifyIndex("galley/reference/applied/production/web"));
  auto missing = client_->GetKv("galley/reference/lock");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "consul: key 'galley/reference/lock' does not exist");
}

TEST_F(ConsulClientTest, TokenRequiredWhenAclsAreOn) {
  Start("master-secret");
  Put("app/production/KEY", "v", "", "master-secret");

  auto denied = client_->ListKv("app/");
  EXPECT_EQ(denied.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(
      denied.status().message(),
      "consul " + server_->base() + ": GET /v1/kv/app/?recurse: 403 Forbidden: Permission denied");
  auto wrong = Client("not-the-token")->ListKv("app/");
  EXPECT_EQ(wrong.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(
      wrong.status().message(),
      "consul " + server_->base() + ": GET /v1/kv/app/?recurse: 403 Forbidden: ACL not found");

  auto ok = Client("master-secret")->ListKv("app/");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  ASSERT_EQ(ok->entries.size(), 1u);
  EXPECT_EQ(ok->entries[0].value, "v");
}

TEST_F(ConsulClientTest, ServicesAndHealth) {
  auto reg = [&](const std::string& id, const std::string& address, int port,
                 const std::string& status) {
    Json service = {{"ID", id}, {"Service", "web"}, {"Address", address}, {"Port", port}};
    service["Tags"] = Json::array({"b", "a"});
    Json check = {{"Node", "node-" + id},
                  {"CheckID", "service:" + id},
                  {"Name", "web check"},
                  {"Status", status},
                  {"ServiceID", id}};
    Json body = {{"Node", "node-" + id}, {"Address", "10.0.0." + std::to_string(port % 250)}};
    body["Service"] = service;
    body["Checks"] = Json::array({check});
    auto r = server_->Call("PUT", "/v1/catalog/register", body.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  };
  reg("web-1", "10.1.0.1", 31001, "passing");
  reg("web-2", "", 31002, "critical");

  auto services = client_->ListServices();
  ASSERT_TRUE(services.ok()) << services.status().message();
  ASSERT_TRUE(services->count("web"));
  EXPECT_EQ(services->at("web"), (std::vector<std::string>{"a", "b"}));

  auto all = client_->ServiceHealth("web", false);
  ASSERT_TRUE(all.ok()) << all.status().message();
  ASSERT_EQ(all->size(), 2u);
  std::map<std::string, HealthInstance> by_id;
  for (const auto& h : *all) by_id[h.service_id] = h;
  EXPECT_EQ(by_id["web-1"].node, "node-web-1");
  EXPECT_EQ(by_id["web-1"].address, "10.1.0.1");
  EXPECT_EQ(by_id["web-1"].port, 31001);
  EXPECT_EQ(by_id["web-1"].tags, (std::vector<std::string>{"b", "a"}));
  EXPECT_TRUE(by_id["web-1"].passing);
  EXPECT_EQ(by_id["web-2"].address, "10.0.0." + std::to_string(31002 % 250));  // the node's
  EXPECT_FALSE(by_id["web-2"].passing);

  auto passing = client_->ServiceHealth("web", true);
  ASSERT_TRUE(passing.ok());
  ASSERT_EQ(passing->size(), 1u);
  EXPECT_EQ((*passing)[0].service_id, "web-1");
  EXPECT_TRUE(client_->ServiceHealth("nope", false)->empty());
}

TEST_F(ConsulClientTest, Faults) {
  Put("app/production/KEY", "v");
  const std::string ctx = "consul " + server_->base() + ": GET /v1/kv/app/?recurse: ";

  server_->Faults({{"fail_next", 1}, {"fail_status", 500}});
  auto failed = client_->ListKv("app/");
  EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(failed.status().message(),
            ctx + "500 Internal Server Error: {\"message\":\"injected fault: server error\"}");

  server_->Faults({{"truncate_next", 1}});
  auto truncated = client_->ListKv("app/");
  EXPECT_EQ(truncated.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(truncated.status().message().starts_with(ctx + "invalid JSON in response (byte "))
      << truncated.status().message();

  server_->Faults({{"garbage_next", 1}});
  auto garbage = client_->ListKv("app/");
  EXPECT_EQ(garbage.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(garbage.status().message().starts_with(ctx + "invalid JSON in response (byte 1): "))
      << garbage.status().message();

  server_->Faults({{"drop_next", 2}});
  auto dropped = client_->ListKv("app/");
  EXPECT_EQ(dropped.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(dropped.status().message().starts_with(ctx)) << dropped.status().message();
  server_->Faults({});

  server_->Faults({{"latency_ms", 600}});
  auto slow = Client("", milliseconds(150))->ListKv("app/");
  EXPECT_EQ(slow.status().code(), StatusCode::kTimeout);
  EXPECT_EQ(slow.status().message(), ctx + "no answer within 150 ms");
  server_->Faults({});

  auto fine = client_->ListKv("app/");
  ASSERT_TRUE(fine.ok()) << fine.status().message();
  EXPECT_EQ(fine->entries.size(), 1u);
}

}  // namespace
}  // namespace galley::clients
