// SPDX-License-Identifier: Apache-2.0
// Consul's KV listing read without a JSON document (issue #14): the same entries and the same
// errors as reading the document member by member.
#include "clients/consul_kv_listing.h"

#include <gtest/gtest.h>

namespace galley::clients::internal {
namespace {

std::vector<model::LiveKvEntry> Entries(const std::string& body) {
  auto r = ParseKvListing(body, "consul http://x: GET /v1/kv/a?recurse");
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : std::vector<model::LiveKvEntry>{};
}

std::string Error(const std::string& body) {
  auto r = ParseKvListing(body, "ctx");
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : r.status().message();
}

TEST(ConsulKvListing, ReadsEntriesSortedByKeyWithValuesDecoded) {
  auto e = Entries(R"([
    {"LockIndex":0,"Key":"b/2","Flags":7,"Value":"aGVsbG8=","CreateIndex":3,"ModifyIndex":9},
    {"Key":"a/1","Value":null,"ModifyIndex":4,"Session":"s-1","Extra":{"Key":"nested","Value":5}},
    {"Key":"a/\u00e9","Value":"aGk","Flags":-3,"ModifyIndex":1.5}
  ])");
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].key, "a/1");
  EXPECT_EQ(e[0].value, "");
  EXPECT_EQ(e[0].modify_index, 4u);
  EXPECT_EQ(e[0].session, "s-1");
  EXPECT_EQ(e[1].key, "a/\xc3\xa9");
  EXPECT_EQ(e[1].value, "hi");       // padding optional
  EXPECT_EQ(e[1].flags, 0u);         // negative: 0
  EXPECT_EQ(e[1].modify_index, 0u);  // not an integer: 0
  EXPECT_EQ(e[2].key, "b/2");
  EXPECT_EQ(e[2].value, "hello");
  EXPECT_EQ(e[2].flags, 7u);
  EXPECT_EQ(e[2].modify_index, 9u);
  EXPECT_TRUE(Entries("[]").empty());
}

TEST(ConsulKvListing, AMemberGivenTwiceCountsOnceTheLaterOne) {
  auto e = Entries(R"([{"Key":"k","Value":"YQ==","Value":null,"Flags":5,"Flags":true,
                        "Session":"x","Session":null}])");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].value, "");
  EXPECT_EQ(e[0].flags, 0u);
  EXPECT_EQ(e[0].session, "");
  EXPECT_EQ(Entries(R"([{"Key":"first","Key":"second"}])")[0].key, "second");
}

TEST(ConsulKvListing, ShapeErrorsNameTheEntry) {
  EXPECT_EQ(Error(R"({"Key":"k"})"), "ctx: unexpected response: not a JSON array");
  EXPECT_EQ(Error("5"), "ctx: unexpected response: not a JSON array");
  EXPECT_EQ(Error(R"([{"Key":"a"},{"Value":"YQ=="}])"),
            "ctx: unexpected response: an entry has no Key");
  EXPECT_EQ(Error(R"([{"Key":null}])"), "ctx: unexpected response: an entry has no Key");
  EXPECT_EQ(Error(R"([{"Key":""}])"), "ctx: unexpected response: an entry has no Key");
  EXPECT_EQ(Error(R"([3])"), "ctx: unexpected response: an entry has no Key");
  EXPECT_EQ(Error(R"([["Key","a"]])"), "ctx: unexpected response: an entry has no Key");
  EXPECT_EQ(Error(R"([{"Key":"a","Value":{"x":1}}])"),
            "ctx: unexpected response: Value of key 'a' is not a string");
  EXPECT_EQ(Error(R"([{"Value":12,"Key":"a"}])"),
            "ctx: unexpected response: Value of key 'a' is not a string");
  EXPECT_EQ(Error(R"([{"Key":"a","Value":"%%%"}])"),
            "ctx: unexpected response: Value of key 'a' is not base64");
  // The first problem in listing order.
  EXPECT_EQ(Error(R"([{"Key":"z","Value":"%%%"},{"Value":"YQ=="}])"),
            "ctx: unexpected response: Value of key 'z' is not base64");
}

TEST(ConsulKvListing, InvalidJsonAnywhereIsReportedAsADocumentParseWouldBe) {
  std::string err = Error(R"([{"Value":"YQ=="}, {"Key": )");
  EXPECT_EQ(err.rfind("ctx: invalid JSON in response (byte ", 0), 0u) << err;
  EXPECT_NE(err.find("parse error"), std::string::npos) << err;
  EXPECT_EQ(Error("[] trailing").rfind("ctx: invalid JSON in response (byte ", 0), 0u);
  EXPECT_EQ(Error("").rfind("ctx: invalid JSON in response (byte ", 0), 0u);
}

}  // namespace
}  // namespace galley::clients::internal
