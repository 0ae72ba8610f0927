// SPDX-License-Identifier: Apache-2.0
// The Consul client's writes against the Consul emulator in-process: transactions (commit,
// indexes, stale cas and its atomic rollback, delete-cas, check-index, the op limit), cas
// puts and deletes, sessions and the lock (acquire, release, renew, destroy, lock-delay 0),
// tokens, faults, which requests a retrying transport may repeat, and that no KV value ever
// appears in an error.
#include <gtest/gtest.h>

#include "base/base64.h"
#include "base/strings.h"
#include "client_test_util.h"
#include "clients/consul_client.h"
#include "clients/http_support.h"
#include "net/retrying_http_client.h"

namespace galley::clients {
namespace {

using testing::EmulatorServer;
using testing::Json;
using testing::milliseconds;
using Verb = KvTxnOp::Verb;

// Forwards to a real client and records what was sent. Thread-safe.
class RecordingHttp : public net::HttpClient {
 public:
  explicit RecordingHttp(net::HttpClient* inner) : inner_(inner) {}
  Result<net::ClientResponse> Send(const net::ClientRequest& request) override {
    return SendDetailed(request, nullptr);
  }
  Result<net::ClientResponse> SendDetailed(const net::ClientRequest& request,
                                           net::SendFailure* failure) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.push_back(request);
    }
    return inner_->SendDetailed(request, failure);
  }
  std::vector<net::ClientRequest> seen() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }
  net::ClientRequest last() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_.empty() ? net::ClientRequest{} : seen_.back();
  }
  void clear() {
    std::lock_guard<std::mutex> lock(mu_);
    seen_.clear();
  }

 private:
  net::HttpClient* inner_;
  mutable std::mutex mu_;
  std::vector<net::ClientRequest> seen_;
};

KvTxnOp Op(Verb verb, std::string key, std::string value = "", uint64_t index = 0) {
  KvTxnOp op;
  op.verb = verb;
  op.key = std::move(key);
  op.value = std::move(value);
  op.index = index;
  return op;
}

const std::string kA = "app/production/web/A";
const std::string kB = "app/production/web/B";
const std::string kC = "app/production/web/C";
const std::string kLock = "galley/reference/lock";

class ConsulWriteTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(""); }
  void Start(const std::string& acl_token) {
    client_.reset();
    server_ = testing::StartConsul(acl_token);
    client_ = Client(acl_token);
  }
  std::unique_ptr<ConsulClient> Client(const std::string& token, net::HttpClient* http = nullptr) {
    ConsulEndpoint e;
    e.url = server_->base();
    e.token = token;
    ConsulClientOptions o;
    o.timeout = milliseconds(5000);
    return NewConsulClient(e, http ? http : &recording_, o);
  }
  // A raw write, outside the client under test.
  void Put(const std::string& key, const std::string& value) {
    auto r = server_->Call("PUT", "/v1/kv/" + net::PercentEncode(key, true), value,
                           {{"Content-Type", "text/plain"}});
    ASSERT_EQ(r.status, 200) << r.body;
  }
  // ModifyIndex of `key` as a raw GET reports it; 0 when absent.
  uint64_t RawModifyIndex(const std::string& key) {
    auto r = server_->Call("GET", "/v1/kv/" + net::PercentEncode(key, true));
    Json j = Json::parse(r.body, nullptr, false);
    return j.is_array() && !j.empty() ? j[0]["ModifyIndex"].get<uint64_t>() : 0;
  }
  // The value of `key` as a raw GET reports it ("<absent>" when there is none), so that the
  // client's last request stays the one under test.
  std::string Value(const std::string& key) {
    auto r = server_->Call("GET", "/v1/kv/" + net::PercentEncode(key, true) + "?raw");
    return r.status == 404 ? "<absent>" : r.body;
  }
  std::string Ctx(const std::string& method, const std::string& target) const {
    return "consul " + server_->base() + ": " + method + " " + target + ": ";
  }

  std::unique_ptr<net::HttpClient> http_ = net::NewHttpClient();
  RecordingHttp recording_{http_.get()};
  std::unique_ptr<EmulatorServer> server_;
  std::unique_ptr<ConsulClient> client_;
};

TEST_F(ConsulWriteTest, TxnSetAndCasCommitWithTheirIndexes) {
  Put(kB, "old");
  const uint64_t b_index = RawModifyIndex(kB);
  auto r =
      client_->Txn({Op(Verb::kSet, kA, "value a"), Op(Verb::kCas, "/" + kB, "new b", b_index)});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->committed);
  EXPECT_TRUE(r->errors.empty());
  EXPECT_TRUE(r->failed_ops.empty());
  ASSERT_EQ(r->indexes.size(), 2u);
  EXPECT_GT(r->indexes.at(kA), b_index);
  EXPECT_EQ(r->indexes.at(kA), r->indexes.at(kB));  // one raft index for the whole txn
  EXPECT_EQ(r->indexes.at(kA), RawModifyIndex(kA));
  EXPECT_EQ(Value(kA), "value a");
  EXPECT_EQ(Value(kB), "new b");

  net::ClientRequest req = recording_.last();
  EXPECT_EQ(req.method, "PUT");
  EXPECT_EQ(req.url, server_->base() + "/v1/txn");
  EXPECT_FALSE(net::IsIdempotent(req));  // a set may be repeated over someone else's write
  Json sent = Json::parse(req.body);
  EXPECT_EQ(sent, (Json::array({
                      {{"KV", {{"Verb", "set"}, {"Key", kA}, {"Value", Base64Encode("value a")}}}},
                      {{"KV",
                        {{"Verb", "cas"},
                         {"Key", kB},  // the leading slash dropped, as the KV endpoints do
                         {"Value", Base64Encode("new b")},
                         {"Index", b_index}}}},
                  })));
}

TEST_F(ConsulWriteTest, StaleCasIsNotCommittedAndNothingIsWritten) {
  Put(kB, "b1");
  const uint64_t stale = RawModifyIndex(kB);
  Put(kB, "b2");
  Put(kC, "c");
  auto r = client_->Txn(
      {Op(Verb::kSet, kA, "a"), Op(Verb::kCas, kB, "b3", stale), Op(Verb::kDelete, kC)});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->committed);
  EXPECT_EQ(r->errors,
            std::vector<std::string>{"op 1: failed to set key \"" + kB + "\", index is stale"});
  EXPECT_EQ(r->failed_ops, std::vector<int>{1});
  EXPECT_TRUE(r->indexes.empty());
  // All or nothing: neither the set before the stale cas nor the delete after it happened.
  EXPECT_EQ(Value(kA), "<absent>");
  EXPECT_EQ(Value(kB), "b2");
  EXPECT_EQ(Value(kC), "c");
}

TEST_F(ConsulWriteTest, CasWithIndexZeroOnlyCreates) {
  auto created = client_->Txn({Op(Verb::kCas, kA, "first", 0)});
  ASSERT_TRUE(created.ok()) << created.status().message();
  EXPECT_TRUE(created->committed);
  EXPECT_TRUE(net::IsIdempotent(recording_.last()));  // every op a cas: a repeat fails cleanly

  auto again = client_->Txn({Op(Verb::kCas, kA, "second", 0)});
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_FALSE(again->committed);
  EXPECT_EQ(again->errors,
            std::vector<std::string>{"op 0: failed to set key \"" + kA + "\", index is stale"});
  EXPECT_EQ(Value(kA), "first");
}

TEST_F(ConsulWriteTest, DeleteCasAndCheckIndex) {
  Put(kA, "a");
  Put(kB, "b");
  const uint64_t a_index = RawModifyIndex(kA);
  const uint64_t b_index = RawModifyIndex(kB);

  auto stale = client_->Txn({Op(Verb::kDeleteCas, kA, "", a_index - 1)});
  ASSERT_TRUE(stale.ok()) << stale.status().message();
  EXPECT_FALSE(stale->committed);
  EXPECT_EQ(stale->errors,
            std::vector<std::string>{"op 0: failed to delete key \"" + kA + "\", index is stale"});
  EXPECT_EQ(Value(kA), "a");

  // A failed check-index keeps the delete-cas beside it from happening.
  auto checked = client_->Txn(
      {Op(Verb::kDeleteCas, kA, "", a_index), Op(Verb::kCheckIndex, kB, "", b_index + 100)});
  ASSERT_TRUE(checked.ok()) << checked.status().message();
  EXPECT_FALSE(checked->committed);
  EXPECT_EQ(checked->failed_ops, std::vector<int>{1});
  ASSERT_EQ(checked->errors.size(), 1u);
  EXPECT_EQ(checked->errors[0], "op 1: failed index check for key \"" + kB +
                                    "\", current modify index " + std::to_string(b_index) +
                                    " != " + std::to_string(b_index + 100));
  EXPECT_EQ(Value(kA), "a");
  EXPECT_TRUE(net::IsIdempotent(recording_.last()));
  Json sent = Json::parse(recording_.last().body);
  EXPECT_FALSE(sent[0]["KV"].contains("Value"));  // only set and cas carry a value
  EXPECT_EQ(sent[1]["KV"]["Index"], b_index + 100);

  auto done =
      client_->Txn({Op(Verb::kDeleteCas, kA, "", a_index), Op(Verb::kCheckIndex, kB, "", b_index)});
  ASSERT_TRUE(done.ok()) << done.status().message();
  EXPECT_TRUE(done->committed);
  EXPECT_EQ(Value(kA), "<absent>");
  // Deletes yield no result; a check yields the key's (unchanged) index.
  EXPECT_EQ(done->indexes, (std::map<std::string, uint64_t>{{kB, b_index}}));
}

TEST_F(ConsulWriteTest, MoreThan64OpsAreRefusedWithoutARequest) {
  std::vector<KvTxnOp> ops;
  for (int i = 0; i < 65; ++i) ops.push_back(Op(Verb::kSet, kA + std::to_string(i), "v"));
  uint64_t served = server_->served();
  auto refused = client_->Txn(ops);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message(),
            "consul: a transaction takes at most 64 operations, got 65 (split it)");
  EXPECT_EQ(client_->requests(), 0);
  EXPECT_EQ(server_->served(), served);

  ops.pop_back();
  auto r = client_->Txn(ops);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->committed);
  EXPECT_EQ(r->indexes.size(), 64u);
  EXPECT_EQ(client_->requests(), 1);

  auto empty = client_->Txn({});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->committed);
  EXPECT_EQ(client_->requests(), 1);
}

TEST_F(ConsulWriteTest, PutKvWithAndWithoutCas) {
  auto created = client_->PutKv(kA, "v1", 0);
  ASSERT_TRUE(created.ok()) << created.status().message();
  EXPECT_TRUE(*created);
  net::ClientRequest req = recording_.last();
  EXPECT_EQ(req.url, server_->base() + "/v1/kv/" + kA + "?cas=0");
  EXPECT_EQ(req.body, "v1");  // raw, not base64, on this endpoint
  EXPECT_TRUE(net::IsIdempotent(req));

  auto exists = client_->PutKv(kA, "v2", 0);
  ASSERT_TRUE(exists.ok());
  EXPECT_FALSE(*exists);
  EXPECT_EQ(Value(kA), "v1");

  const uint64_t index = RawModifyIndex(kA);
  EXPECT_TRUE(client_->PutKv(kA, "v3", index).value());
  EXPECT_FALSE(client_->PutKv(kA, "v4", index).value());  // stale now
  EXPECT_EQ(Value(kA), "v3");

  EXPECT_TRUE(client_->PutKv("/" + kA, "v5", std::nullopt).value());
  EXPECT_EQ(recording_.last().url, server_->base() + "/v1/kv/" + kA);
  EXPECT_FALSE(net::IsIdempotent(recording_.last()));
  EXPECT_EQ(Value(kA), "v5");
  const std::string spaced = "app/production/web/with space";
  EXPECT_TRUE(client_->PutKv(spaced, "x", std::nullopt).value());
  EXPECT_EQ(recording_.last().url, server_->base() + "/v1/kv/app/production/web/with%20space");
  EXPECT_EQ(Value(spaced), "x");
}

TEST_F(ConsulWriteTest, DeleteKvWithAndWithoutCas) {
  Put(kA, "a");
  const uint64_t index = RawModifyIndex(kA);
  auto stale = client_->DeleteKv(kA, index + 1);
  ASSERT_TRUE(stale.ok()) << stale.status().message();
  EXPECT_FALSE(*stale);
  EXPECT_EQ(recording_.last().method, "DELETE");
  EXPECT_EQ(recording_.last().url,
            server_->base() + "/v1/kv/" + kA + "?cas=" + std::to_string(index + 1));
  EXPECT_TRUE(net::IsIdempotent(recording_.last()));
  EXPECT_EQ(Value(kA), "a");
  EXPECT_TRUE(client_->DeleteKv(kA, index).value());
  EXPECT_EQ(Value(kA), "<absent>");

  Put(kB, "b");
  EXPECT_TRUE(client_->DeleteKv(kB, std::nullopt).value());
  EXPECT_FALSE(net::IsIdempotent(recording_.last()));
  EXPECT_EQ(Value(kB), "<absent>");
  EXPECT_TRUE(client_->DeleteKv(kB, std::nullopt).value());  // already gone: still true

  EXPECT_EQ(client_->DeleteKv("/", std::nullopt).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ConsulWriteTest, SessionsAndTheLock) {
  SessionOptions options;
  options.name = "galley apply ci@runner-1";
  auto a = client_->CreateSession(options);
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->size(), 36u) << *a;
  net::ClientRequest create = recording_.last();
  EXPECT_EQ(create.url, server_->base() + "/v1/session/create");
  EXPECT_FALSE(net::IsIdempotent(create));
  EXPECT_EQ(Json::parse(create.body), (Json{{"Name", "galley apply ci@runner-1"},
                                            {"TTL", "15s"},
                                            {"LockDelay", "0s"},
                                            {"Behavior", "release"}}));
  auto info = server_->Call("GET", "/v1/session/info/" + *a);
  Json sessions = Json::parse(info.body);
  ASSERT_EQ(sessions.size(), 1u) << info.body;
  EXPECT_EQ(sessions[0]["LockDelay"], 0);  // Consul's default would be 15 s
  EXPECT_EQ(sessions[0]["TTL"], "15s");
  EXPECT_EQ(sessions[0]["Behavior"], "release");
  EXPECT_EQ(sessions[0]["Name"], "galley apply ci@runner-1");

  auto b = client_->CreateSession(options);
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_NE(*a, *b);

  EXPECT_TRUE(client_->AcquireLock(kLock, "held by a", *a).value());
  EXPECT_EQ(recording_.last().url, server_->base() + "/v1/kv/" + kLock + "?acquire=" + *a);
  EXPECT_TRUE(net::IsIdempotent(recording_.last()));
  EXPECT_FALSE(client_->AcquireLock(kLock, "held by b", *b).value());
  EXPECT_TRUE(client_->AcquireLock(kLock, "held by a", *a).value());  // the holder again
  auto held = client_->GetKv(kLock);
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(held->session, *a);
  EXPECT_EQ(held->value, "held by a");

  EXPECT_FALSE(client_->ReleaseLock(kLock, *b).value());
  EXPECT_TRUE(client_->ReleaseLock(kLock, *a).value());
  EXPECT_EQ(client_->GetKv(kLock)->session, "");
  EXPECT_FALSE(client_->ReleaseLock(kLock, *a).value());  // no longer held
  EXPECT_TRUE(client_->AcquireLock(kLock, "held by b", *b).value());

  EXPECT_TRUE(client_->RenewSession(*a).ok());
  EXPECT_EQ(recording_.last().url, server_->base() + "/v1/session/renew/" + *a);
  EXPECT_TRUE(client_->DestroySession(*a).ok());
  auto gone = client_->RenewSession(*a);
  EXPECT_EQ(gone.code(), StatusCode::kNotFound);
  EXPECT_EQ(gone.message(), "consul: session '" + *a + "' does not exist (expired or destroyed)");
  EXPECT_TRUE(client_->DestroySession(*a).ok());  // idempotent

  // A destroyed holder releases the lock (behavior "release": the key stays), and with
  // LockDelay 0 another session takes it at once.
  ASSERT_TRUE(client_->DestroySession(*b).ok());
  auto released = client_->GetKv(kLock);
  ASSERT_TRUE(released.ok()) << released.status().message();
  EXPECT_EQ(released->session, "");
  EXPECT_EQ(released->value, "held by b");
  auto c = client_->CreateSession(options);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(client_->AcquireLock(kLock, "held by c", *c).value());

  // A session Consul does not know is an error naming it, not a lock held by someone else.
  const std::string unknown = "00000000-0000-0000-0000-000000000000";
  auto invalid = client_->AcquireLock(kLock, "x", unknown);
  EXPECT_EQ(invalid.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(invalid.status().message(), Ctx("PUT", "/v1/kv/" + kLock + "?acquire=" + unknown) +
                                            "500 Internal Server Error: invalid session \"" +
                                            unknown + "\"");
}

TEST_F(ConsulWriteTest, TokenIsSentAndValuesNeverAppearInErrors) {
  Start("master-secret");
  const std::string secret = "s3cret-password";
  auto ok = client_->Txn({Op(Verb::kSet, kA, secret)});
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_TRUE(ok->committed);
  EXPECT_EQ(recording_.last().headers.at("X-Consul-Token"), "master-secret");
  EXPECT_TRUE(client_->PutKv(kB, secret, std::nullopt).value());
  EXPECT_EQ(recording_.last().headers.at("X-Consul-Token"), "master-secret");
  auto session = client_->CreateSession(SessionOptions{});
  ASSERT_TRUE(session.ok()) << session.status().message();
  EXPECT_EQ(recording_.last().headers.at("X-Consul-Token"), "master-secret");

  auto anonymous = Client("");
  auto denied = anonymous->Txn({Op(Verb::kSet, kA, secret)});
  EXPECT_EQ(denied.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.status().message(), Ctx("PUT", "/v1/txn") + "403 Forbidden: Permission denied");
  auto put = anonymous->PutKv(kA, secret, 3);
  EXPECT_EQ(put.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(put.status().message(),
            Ctx("PUT", "/v1/kv/" + kA + "?cas=3") + "403 Forbidden: Permission denied");

  // A stale cas reports the key, never the value.
  auto stale = client_->Txn({Op(Verb::kCas, kA, secret, 1)});
  ASSERT_TRUE(stale.ok()) << stale.status().message();
  ASSERT_FALSE(stale->committed);
  ASSERT_EQ(stale->errors.size(), 1u);
  for (const std::string& text :
       {denied.status().message(), put.status().message(), stale->errors[0]}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << text;
    EXPECT_EQ(text.find(Base64Encode(secret)), std::string::npos) << text;
  }
}

TEST_F(ConsulWriteTest, Faults) {
  server_->Faults({{"fail_next", 1}, {"fail_status", 500}});
  auto failed = client_->Txn({Op(Verb::kSet, kA, "a")});
  EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(failed.status().message(), Ctx("PUT", "/v1/txn") +
                                           "500 Internal Server Error: {\"message\":\"injected "
                                           "fault: server error\"}");

  // A 409 that is not a transaction's answer (a proxy, a fault) is an error, not a rollback.
  server_->Faults({{"conflict_next", 1}});
  auto conflict = client_->Txn({Op(Verb::kSet, kA, "a")});
  EXPECT_EQ(conflict.status().code(), StatusCode::kConflict);
  EXPECT_EQ(conflict.status().message(),
            Ctx("PUT", "/v1/txn") + "409 Conflict: {\"message\":\"injected conflict\"}");

  server_->Faults({{"garbage_next", 1}});
  auto garbage = client_->PutKv(kA, "a", std::nullopt);
  EXPECT_EQ(garbage.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(garbage.status().message(),
            Ctx("PUT", "/v1/kv/" + kA) + "unexpected response: not true or false");

  server_->Faults({{"fail_next", 1}, {"fail_status", 503}});
  EXPECT_EQ(client_->RenewSession("x").code(), StatusCode::kUnavailable);
  server_->Faults({});
  EXPECT_EQ(Value(kA), "<absent>");  // nothing above reached the store
}

TEST_F(ConsulWriteTest, ARetryingTransportRepeatsOnlyRepeatSafeWrites) {
  net::RetryPolicy policy;
  policy.max_attempts = 3;
  policy.initial_backoff = milliseconds(1);
  policy.jitter = false;
  auto retrying = net::NewRetryingHttpClient(&recording_, policy);
  auto client = Client("", retrying.get());

  server_->Faults({{"fail_next", 1}, {"fail_status", 503}});
  auto set = client->Txn({Op(Verb::kSet, kA, "a")});
  EXPECT_EQ(set.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(recording_.seen().size(), 1u);
  EXPECT_EQ(Value(kA), "<absent>");

  recording_.clear();
  server_->Faults({{"fail_next", 1}, {"fail_status", 503}});
  auto cas = client->Txn({Op(Verb::kCas, kA, "a", 0)});
  ASSERT_TRUE(cas.ok()) << cas.status().message();
  EXPECT_TRUE(cas->committed);
  EXPECT_EQ(recording_.seen().size(), 2u);
  EXPECT_EQ(Value(kA), "a");

  recording_.clear();
  server_->Faults({{"fail_next", 1}, {"fail_status", 503}});
  auto session = client->CreateSession(SessionOptions{});
  EXPECT_EQ(session.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(recording_.seen().size(), 1u);
}

}  // namespace
}  // namespace galley::clients

namespace galley::clients {
namespace {

// Error texts are cut to a length: never in the middle of a UTF-8 character (a message that
// is not UTF-8 cannot be put into JSON, the journal or the run summary).
TEST(HttpSupport, SummariesAreCutOnACharacterBoundary) {
  std::string body = "{\"message\": \"" + std::string(150, 'x');
  for (int i = 0; i < 200; ++i) body += "\xc3\xa9";  // é
  body += "\"}";
  for (size_t max : {151u, 152u, 153u, 300u}) {
    std::string line = internal::OneLine(body, max);
    EXPECT_EQ(FindInvalidUtf8(line), std::string::npos) << max;
  }
  std::string summary = internal::ErrorBodySummary(body, /*json_message=*/true);
  EXPECT_EQ(FindInvalidUtf8(summary), std::string::npos);
  EXPECT_NE(summary.find("..."), std::string::npos);
}

}  // namespace
}  // namespace galley::clients
