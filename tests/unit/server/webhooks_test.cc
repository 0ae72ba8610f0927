// SPDX-License-Identifier: Apache-2.0
// server/webhooks: each provider's real header names and a realistic payload, signatures
// right, wrong, missing and truncated, the order of checks, replay, the size limit and the
// branch filter, and the handler's hooks.
#include "server/webhooks.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/digest.h"

namespace galley::server {
namespace {

const std::string kSecret = "s3cret-webhook-key-0123456789";
const std::string kCommit = "9b4f1c2e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c";

WebhookOptions Options() {
  WebhookOptions o;
  o.secret = kSecret;
  o.branch = "main";
  return o;
}

// As GitHub sends a push (trimmed to the fields that matter plus some that do not).
std::string GitHubPush(const std::string& ref = "refs/heads/main",
                       const std::string& after = kCommit) {
  return R"({"ref":")" + ref +
         R"(","before":"0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e","after":")" + after +
         R"(","created":false,"deleted":false,"forced":false,
  "repository":{"id":123456,"name":"platform","full_name":"acme/platform","private":true,
    "default_branch":"main","html_url":"https://github.com/acme/platform"},
  "pusher":{"name":"octocat","email":"octocat@example.com"},
  "head_commit":{"id":")" +
         after + R"(","message":"bump web to 1.4.2","timestamp":"2024-05-01T10:00:00Z"},
  "commits":[{"id":")" +
         after + R"(","message":"bump web to 1.4.2","modified":["services/web.yaml"]}]})";
}

std::string GitLabPush(const std::string& ref = "refs/heads/main",
                       const std::string& checkout_sha = "\"" + kCommit + "\"") {
  return R"({"object_kind":"push","event_name":"push","before":"0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e",
  "after":")" +
         kCommit + R"(","ref":")" + ref + R"(","checkout_sha":)" + checkout_sha +
         R"(,"user_id":4,"user_name":"John Smith","user_username":"jsmith","project_id":15,
  "project":{"id":15,"name":"platform","path_with_namespace":"acme/platform","default_branch":"main"},
  "commits":[{"id":")" +
         kCommit + R"(","message":"bump web"}],"total_commits_count":1})";
}

std::string GiteaPush() {
  return R"({"ref":"refs/heads/main","before":"0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e","after":")" +
         kCommit + R"(","compare_url":"https://gitea.example.com/acme/platform/compare/x...y",
  "commits":[{"id":")" +
         kCommit + R"(","message":"bump web\n"}],
  "repository":{"id":1,"name":"platform","full_name":"acme/platform"},
  "pusher":{"login":"gitea"},"sender":{"login":"gitea"}})";
}

net::HttpRequest Post(const std::string& path, std::string body) {
  net::HttpRequest r;
  r.method = "POST";
  r.target = r.path = path;
  r.body = std::move(body);
  r.headers["Content-Type"] = "application/json";
  r.remote_address = "192.0.2.10:40000";
  return r;
}

net::HttpRequest GitHub(const std::string& body, const std::string& event = "push",
                        const std::string& delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958") {
  net::HttpRequest r = Post("/hooks/github", body);
  r.headers["X-GitHub-Event"] = event;
  r.headers["X-GitHub-Delivery"] = delivery;
  r.headers["X-GitHub-Hook-ID"] = "292430182";
  r.headers["User-Agent"] = "GitHub-Hookshot/044aadd";
  r.headers["X-Hub-Signature"] = "sha1=ignored";
  r.headers["X-Hub-Signature-256"] = "sha256=" + HmacSha256Hex(kSecret, body);
  return r;
}

net::HttpRequest GitLab(const std::string& body, const std::string& token = kSecret,
                        const std::string& event = "Push Hook") {
  net::HttpRequest r = Post("/hooks/gitlab", body);
  r.headers["X-Gitlab-Event"] = event;
  r.headers["X-Gitlab-Token"] = token;
  r.headers["X-Gitlab-Event-UUID"] = "13792a34-cac6-4fda-95a8-c58e00a3954e";
  r.headers["X-Gitlab-Instance"] = "https://gitlab.example.com";
  return r;
}

net::HttpRequest Gitea(const std::string& body) {
  net::HttpRequest r = Post("/hooks/gitea", body);
  r.headers["X-Gitea-Event"] = "push";
  r.headers["X-Gitea-Event-Type"] = "push";
  r.headers["X-Gitea-Delivery"] = "a6d9d9f6-4a6a-4c3b-9d7e-1f2e3d4c5b6a";
  r.headers["X-Gitea-Signature"] = HmacSha256Hex(kSecret, body);
  return r;
}

net::HttpRequest Gogs(const std::string& body) {
  net::HttpRequest r = Post("/hooks/gitea", body);
  r.headers["X-Gogs-Event"] = "push";
  r.headers["X-Gogs-Delivery"] = "f6e5d4c3-b2a1-4098-8765-43210fedcba9";
  r.headers["X-Gogs-Signature"] = HmacSha256Hex(kSecret, body);
  return r;
}

net::HttpRequest Generic(const std::string& body, const std::string& delivery = "d-1") {
  net::HttpRequest r = Post("/hooks/generic", body);
  r.headers["X-Galley-Delivery"] = delivery;
  r.headers["X-Galley-Signature"] = "sha256=" + HmacSha256Hex(kSecret, body);
  return r;
}

std::string GenericBody(const std::string& ref = "refs/heads/main",
                        const std::string& after = kCommit) {
  return R"({"ref":")" + ref + R"(","after":")" + after + R"("})";
}

TEST(WebhookTest, GitHubPushIsAccepted) {
  ReplayCache replay;
  WebhookDecision d = VerifyWebhook(Provider::kGitHub, Options(), GitHub(GitHubPush()), &replay);
  EXPECT_EQ(d.status, 202);
  EXPECT_EQ(d.outcome, WebhookOutcome::kAccepted);
  EXPECT_STREQ(d.metric_label(), "accepted");
  ASSERT_TRUE(d.trigger);
  EXPECT_EQ(d.trigger->provider, Provider::kGitHub);
  EXPECT_EQ(d.trigger->delivery, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
  EXPECT_EQ(d.trigger->branch, "main");
  EXPECT_EQ(d.trigger->commit, kCommit);
  EXPECT_EQ(d.trigger->repository, "acme/platform");
  EXPECT_EQ(d.LogLine(),
            "webhook github delivery=72d3162e-cc78-11e3-81ab-4c9367dc0958 status=202 "
            "result=accepted branch=main commit=9b4f1c2e8d7a repository=acme/platform");
  auto body = nlohmann::json::parse(d.ToResponse().body);
  EXPECT_EQ(body["result"], "accepted");
  EXPECT_EQ(body["commit"], kCommit);
}

TEST(WebhookTest, GitHubFormEncodedPayload) {
  std::string body = "payload=" + net::PercentEncode(GitHubPush());
  net::HttpRequest r = GitHub(body);
  r.headers["Content-Type"] = "application/x-www-form-urlencoded";
  WebhookDecision d = VerifyWebhook(Provider::kGitHub, Options(), r, nullptr);
  EXPECT_EQ(d.status, 202) << d.reason;
  ASSERT_TRUE(d.trigger);
  EXPECT_EQ(d.trigger->commit, kCommit);
  // Signed over the raw body, not the decoded JSON.
  r.headers["X-Hub-Signature-256"] = "sha256=" + HmacSha256Hex(kSecret, GitHubPush());
  EXPECT_EQ(VerifyWebhook(Provider::kGitHub, Options(), r, nullptr).status, 401);
  r = GitHub("other=1");
  r.headers["Content-Type"] = "application/x-www-form-urlencoded";
  r.headers["X-GitHub-Delivery"] = "x";
  d = VerifyWebhook(Provider::kGitHub, Options(), r, nullptr);
  EXPECT_EQ(d.status, 400);
  EXPECT_EQ(d.reason, "the form-encoded body has no \"payload\" field");
}

TEST(WebhookTest, GitHubSignatureWrongMissingTruncatedOrUnprefixed) {
  std::string body = GitHubPush();
  std::string good = "sha256=" + HmacSha256Hex(kSecret, body);
  struct Case {
    std::string header;
    bool present;
    std::string reason;
  } cases[] = {
      {"sha256=" + HmacSha256Hex("another-secret-entirely", body), true,
       "X-Hub-Signature-256 does not match the body"},
      {"", false, "missing X-Hub-Signature-256 header"},
      {good.substr(0, good.size() - 1), true, "X-Hub-Signature-256 does not match the body"},
      {good.substr(0, 7 + 32), true, "X-Hub-Signature-256 does not match the body"},
      {good + "00", true, "X-Hub-Signature-256 does not match the body"},
      {HmacSha256Hex(kSecret, body), true, "X-Hub-Signature-256 does not match the body"},
      {"sha1=" + HmacSha256Hex(kSecret, body), true, "X-Hub-Signature-256 does not match the body"},
      {"sha256=", true, "X-Hub-Signature-256 does not match the body"},
  };
  for (const auto& c : cases) {
    net::HttpRequest r = GitHub(body);
    if (c.present) {
      r.headers["X-Hub-Signature-256"] = c.header;
    } else {
      r.headers.erase("X-Hub-Signature-256");
    }
    WebhookDecision d = VerifyWebhook(Provider::kGitHub, Options(), r, nullptr);
    EXPECT_EQ(d.status, 401) << c.header;
    EXPECT_STREQ(d.metric_label(), "bad_signature");
    EXPECT_EQ(d.reason, c.reason) << c.header;
    EXPECT_FALSE(d.trigger);
  }
  // Upper-case hex is the same signature.
  net::HttpRequest r = GitHub(body);
  std::string upper = good;
  for (size_t i = 7; i < upper.size(); ++i) upper[i] = static_cast<char>(toupper(upper[i]));
  r.headers["X-Hub-Signature-256"] = upper;
  EXPECT_EQ(VerifyWebhook(Provider::kGitHub, Options(), r, nullptr).status, 202);
}

TEST(WebhookTest, BodyChangedAfterSigningIsRefused) {
  net::HttpRequest r = GitHub(GitHubPush());
  r.body = GitHubPush("refs/heads/main", "ffffffffffffffffffffffffffffffffffffffff");
  EXPECT_EQ(VerifyWebhook(Provider::kGitHub, Options(), r, nullptr).status, 401);
}

TEST(WebhookTest, VerificationUsesTheConstantTimeCompare) {
  for (Provider p : {Provider::kGitHub, Provider::kGitLab, Provider::kGitea, Provider::kGeneric}) {
    net::HttpRequest r;
    switch (p) {
      case Provider::kGitHub:
        r = GitHub(GitHubPush());
        break;
      case Provider::kGitLab:
        r = GitLab(GitLabPush(), "wrong-token");
        break;
      case Provider::kGitea:
        r = Gitea(GiteaPush());
        break;
      case Provider::kGeneric:
        r = Generic(GenericBody());
        break;
    }
    uint64_t before = ConstantTimeEqualsCalls();
    (void)VerifyWebhook(p, Options(), r, nullptr);  // only the count matters here
    EXPECT_GT(ConstantTimeEqualsCalls(), before) << ProviderName(p);
  }
}

TEST(WebhookTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_FALSE(ConstantTimeEquals("ab", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0", 2), "a"));
  EXPECT_FALSE(ConstantTimeEquals("xbc", "abc"));
}

TEST(WebhookTest, GitHubPingAndOtherEvents) {
  std::string ping =
      R"({"zen":"Keep it logically awesome.","hook_id":292430182,"hook":{"type":"Repository"}})";
  WebhookDecision d = VerifyWebhook(Provider::kGitHub, Options(), GitHub(ping, "ping"), nullptr);
  EXPECT_EQ(d.status, 200);
  EXPECT_EQ(d.outcome, WebhookOutcome::kPing);
  EXPECT_EQ(nlohmann::json::parse(d.ToResponse().body)["result"], "pong");

  d = VerifyWebhook(Provider::kGitHub, Options(), GitHub(R"({"action":"opened"})", "pull_request"),
                    nullptr);
  EXPECT_EQ(d.status, 400);
  EXPECT_EQ(d.outcome, WebhookOutcome::kUnsupported);
  EXPECT_STREQ(d.metric_label(), "unsupported_event");
  EXPECT_EQ(d.reason, "event 'pull_request' is not handled: send only push events");
  EXPECT_FALSE(d.trigger);
  d = VerifyWebhook(Provider::kGitHub, Options(), GitHub("{}", "gollum-7"), nullptr);
  EXPECT_EQ(d.status, 400);
  EXPECT_EQ(d.outcome, WebhookOutcome::kUnsupported);

  // An unknown event with a bad signature is a bad signature: nothing is said to strangers.
  net::HttpRequest r = GitHub("{}", "issues");
  r.headers["X-Hub-Signature-256"] = "sha256=00";
  EXPECT_EQ(VerifyWebhook(Provider::kGitHub, Options(), r, nullptr).status, 401);
}

TEST(WebhookTest, OtherBranchTagsAndDeletedBranchesAreIgnored) {
  WebhookDecision d =
      VerifyWebhook(Provider::kGitHub, Options(),
                    GitHub(GitHubPush("refs/heads/feature/x"), "push", "a"), nullptr);
  EXPECT_EQ(d.status, 202);
  EXPECT_EQ(d.outcome, WebhookOutcome::kIgnored);
  EXPECT_EQ(d.reason, "push to 'feature/x', not 'main'");
  EXPECT_FALSE(d.trigger);
  EXPECT_EQ(d.LogLine(),
            "webhook github delivery=a status=202 result=ignored reason=push to 'feature/x', not "
            "'main'");

  d = VerifyWebhook(Provider::kGitHub, Options(), GitHub(GitHubPush("refs/tags/v1.0"), "push", "b"),
                    nullptr);
  EXPECT_EQ(d.outcome, WebhookOutcome::kIgnored);
  EXPECT_EQ(d.reason, "ref 'refs/tags/v1.0' is not a branch");

  d = VerifyWebhook(Provider::kGitHub, Options(),
                    GitHub(GitHubPush("refs/heads/main", std::string(40, '0')), "push", "c"),
                    nullptr);
  EXPECT_EQ(d.outcome, WebhookOutcome::kIgnored);
  EXPECT_EQ(d.reason, "branch 'main' was deleted");

  // The branch may be given as a full ref; an empty branch accepts any.
  WebhookOptions o = Options();
  o.branch = "refs/heads/feature/x";
  EXPECT_EQ(VerifyWebhook(Provider::kGitHub, o,
                          GitHub(GitHubPush("refs/heads/feature/x"), "push", "d"), nullptr)
                .outcome,
            WebhookOutcome::kAccepted);
  o.branch = "";
  EXPECT_EQ(VerifyWebhook(Provider::kGitHub, o, GitHub(GitHubPush("refs/heads/dev"), "push", "e"),
                          nullptr)
                .outcome,
            WebhookOutcome::kAccepted);
}

TEST(WebhookTest, MalformedPayloads) {
  struct Case {
    std::string body;
    std::string reason;
  } cases[] = {
      {"not json", "the body is not a JSON object"},
      {"[1,2]", "the body is not a JSON object"},
      {"", "the body is not a JSON object"},
      {R"({"after":")" + kCommit + R"("})", "the payload has no \"ref\""},
      {R"({"ref":5,"after":")" + kCommit + R"("})", "the payload has no \"ref\""},
      {R"({"ref":"refs/heads/main"})", "the payload has no \"after\""},
      {R"({"ref":"refs/heads/main","after":"abc123"})", "commit 'abc123' is not 40 hex digits"},
      {R"({"ref":"refs/heads/main","after":")" + std::string(39, 'a') + "g\"}",
       "commit '" + std::string(39, 'a') + "g' is not 40 hex digits"},
      {R"({"ref":"refs/heads/main","after":")" + kCommit + "0\"}",
       "commit '" + kCommit + "0' is not 40 hex digits"},
  };
  for (const auto& c : cases) {
    WebhookDecision d = VerifyWebhook(Provider::kGeneric, Options(), Generic(c.body), nullptr);
    EXPECT_EQ(d.status, 400) << c.body;
    EXPECT_STREQ(d.metric_label(), "malformed");
    EXPECT_EQ(d.reason, c.reason) << c.body;
  }
  // Upper-case hex is normalised.
  std::string upper = kCommit;
  for (char& ch : upper) ch = static_cast<char>(toupper(ch));
  WebhookDecision d = VerifyWebhook(Provider::kGeneric, Options(),
                                    Generic(GenericBody("refs/heads/main", upper)), nullptr);
  ASSERT_TRUE(d.trigger);
  EXPECT_EQ(d.trigger->commit, kCommit);
}

TEST(WebhookTest, DeliveryIdsAreRequiredAndChecked) {
  net::HttpRequest r = GitHub(GitHubPush());
  r.headers.erase("X-GitHub-Delivery");
  WebhookDecision d = VerifyWebhook(Provider::kGitHub, Options(), r, nullptr);
  EXPECT_EQ(d.status, 400);
  EXPECT_EQ(d.reason, "missing X-GitHub-Delivery header");

  r = GitHub(GitHubPush(), "push", "id with spaces\x1b[31m");
  d = VerifyWebhook(Provider::kGitHub, Options(), r, nullptr);
  EXPECT_EQ(d.status, 400);
  EXPECT_EQ(d.reason, "X-GitHub-Delivery is not a delivery id");
  EXPECT_EQ(d.LogLine().find('\x1b'), std::string::npos);  // escaped for the log

  r = GitHub(GitHubPush(), "push", std::string(129, 'a'));
  EXPECT_EQ(VerifyWebhook(Provider::kGitHub, Options(), r, nullptr).status, 400);
}

TEST(WebhookTest, ReplayedDeliveryIsRefused) {
  ReplayCache replay;
  EXPECT_EQ(VerifyWebhook(Provider::kGitHub, Options(), GitHub(GitHubPush()), &replay).status, 202);
  WebhookDecision d = VerifyWebhook(Provider::kGitHub, Options(), GitHub(GitHubPush()), &replay);
  EXPECT_EQ(d.status, 409);
  EXPECT_STREQ(d.metric_label(), "replay");
  EXPECT_EQ(d.reason, "delivery already received");
  EXPECT_FALSE(d.trigger);
  // The same id from another provider is another delivery.
  net::HttpRequest g = Generic(GenericBody(), "72d3162e-cc78-11e3-81ab-4c9367dc0958");
  EXPECT_EQ(VerifyWebhook(Provider::kGeneric, Options(), g, &replay).status, 202);
}

TEST(WebhookTest, ForgedOrMalformedDeliveriesDoNotEnterTheReplayCache) {
  ReplayCache replay;
  net::HttpRequest forged = GitHub(GitHubPush());
  forged.headers["X-Hub-Signature-256"] = "sha256=" + std::string(64, '0');
  EXPECT_EQ(VerifyWebhook(Provider::kGitHub, Options(), forged, &replay).status, 401);
  net::HttpRequest bad = Generic("{}", "72d3162e-cc78-11e3-81ab-4c9367dc0958");
  EXPECT_EQ(VerifyWebhook(Provider::kGeneric, Options(), bad, &replay).status, 400);
  EXPECT_EQ(replay.size(), 0u);
  // The genuine delivery with that id still goes through.
  EXPECT_EQ(VerifyWebhook(Provider::kGitHub, Options(), GitHub(GitHubPush()), &replay).status, 202);
}

TEST(WebhookTest, ReplayCacheIsBoundedAndThreadSafe) {
  ReplayCache cache(3);
  EXPECT_TRUE(cache.Insert(Provider::kGitHub, "a"));
  EXPECT_TRUE(cache.Insert(Provider::kGitHub, "b"));
  EXPECT_TRUE(cache.Insert(Provider::kGitHub, "c"));
  EXPECT_FALSE(cache.Insert(Provider::kGitHub, "a"));
  EXPECT_TRUE(cache.Insert(Provider::kGitHub, "d"));  // forgets a
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_TRUE(cache.Insert(Provider::kGitHub, "a"));
  EXPECT_FALSE(cache.Insert(Provider::kGitHub, "d"));

  ReplayCache shared(100000);
  std::atomic<int> fresh{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        if (shared.Insert(Provider::kGeneric, std::to_string(i))) ++fresh;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(fresh.load(), 2000);  // each id accepted exactly once
}

TEST(WebhookTest, BodyOverTheLimitIs413BeforeAnything) {
  WebhookOptions o = Options();
  o.max_body = 100;
  std::string big(101, 'x');
  net::HttpRequest r = GitHub(big);
  r.headers.erase("X-Hub-Signature-256");  // not even looked at
  WebhookDecision d = VerifyWebhook(Provider::kGitHub, o, r, nullptr);
  EXPECT_EQ(d.status, 413);
  EXPECT_STREQ(d.metric_label(), "too_large");
  EXPECT_EQ(d.reason, "body of 101 bytes is over the limit of 100");
  // Exactly the limit passes the size check.
  std::string body = GenericBody();
  o.max_body = body.size();
  EXPECT_EQ(VerifyWebhook(Provider::kGeneric, o, Generic(body), nullptr).status, 202);
  // The default is 1 MiB.
  EXPECT_EQ(WebhookOptions{}.max_body, 1u << 20);
  std::string huge((1u << 20) + 1, ' ');
  EXPECT_EQ(VerifyWebhook(Provider::kGeneric, Options(), Generic(huge), nullptr).status, 413);
}

TEST(WebhookTest, OnlyPost) {
  net::HttpRequest r = GitHub(GitHubPush());
  r.method = "GET";
  WebhookDecision d = VerifyWebhook(Provider::kGitHub, Options(), r, nullptr);
  EXPECT_EQ(d.status, 405);
  EXPECT_EQ(d.ToResponse().headers["Allow"], "POST");
}

TEST(WebhookTest, GitLabToken) {
  WebhookDecision d = VerifyWebhook(Provider::kGitLab, Options(), GitLab(GitLabPush()), nullptr);
  EXPECT_EQ(d.status, 202);
  ASSERT_TRUE(d.trigger);
  EXPECT_EQ(d.trigger->delivery, "13792a34-cac6-4fda-95a8-c58e00a3954e");
  EXPECT_EQ(d.trigger->commit, kCommit);
  EXPECT_EQ(d.trigger->repository, "acme/platform");

  d = VerifyWebhook(Provider::kGitLab, Options(), GitLab(GitLabPush(), kSecret + "x"), nullptr);
  EXPECT_EQ(d.status, 401);
  EXPECT_EQ(d.reason, "X-Gitlab-Token does not match");
  d = VerifyWebhook(Provider::kGitLab, Options(), GitLab(GitLabPush(), kSecret.substr(0, 10)),
                    nullptr);
  EXPECT_EQ(d.status, 401);
  net::HttpRequest r = GitLab(GitLabPush());
  r.headers.erase("X-Gitlab-Token");
  d = VerifyWebhook(Provider::kGitLab, Options(), r, nullptr);
  EXPECT_EQ(d.status, 401);
  EXPECT_EQ(d.reason, "missing X-Gitlab-Token header");
  // A GitHub-style signature is no GitLab token.
  r.headers["X-Hub-Signature-256"] = "sha256=" + HmacSha256Hex(kSecret, r.body);
  EXPECT_EQ(VerifyWebhook(Provider::kGitLab, Options(), r, nullptr).status, 401);
}

TEST(WebhookTest, GitLabEventsAndFields) {
  WebhookDecision d = VerifyWebhook(Provider::kGitLab, Options(),
                                    GitLab(GitLabPush(), kSecret, "Tag Push Hook"), nullptr);
  EXPECT_EQ(d.status, 202);
  EXPECT_EQ(d.reason, "event 'Tag Push Hook' is not a push");
  d = VerifyWebhook(Provider::kGitLab, Options(), GitLab(GitLabPush(), kSecret, "push"), nullptr);
  EXPECT_EQ(d.outcome, WebhookOutcome::kUnsupported);  // GitLab names it "Push Hook"
  EXPECT_EQ(d.status, 400);
  // A deleted branch has checkout_sha null: after (zeros) stands in, and it is ignored.
  std::string deleted = GitLabPush("refs/heads/main", "null");
  size_t at = deleted.find(R"("after":")");
  deleted.replace(at + 9, 40, std::string(40, '0'));
  d = VerifyWebhook(Provider::kGitLab, Options(), GitLab(deleted), nullptr);
  EXPECT_EQ(d.outcome, WebhookOutcome::kIgnored);
  EXPECT_EQ(d.reason, "branch 'main' was deleted");
  // Without X-Gitlab-Event-UUID (older GitLab) the body stands in for the id.
  ReplayCache replay;
  net::HttpRequest r = GitLab(GitLabPush());
  r.headers.erase("X-Gitlab-Event-UUID");
  d = VerifyWebhook(Provider::kGitLab, Options(), r, &replay);
  ASSERT_TRUE(d.trigger);
  EXPECT_EQ(d.trigger->delivery, "body-sha256:" + Sha256Hex(r.body));
  EXPECT_EQ(VerifyWebhook(Provider::kGitLab, Options(), r, &replay).status, 409);
}

TEST(WebhookTest, GiteaAndGogs) {
  WebhookDecision d = VerifyWebhook(Provider::kGitea, Options(), Gitea(GiteaPush()), nullptr);
  EXPECT_EQ(d.status, 202);
  ASSERT_TRUE(d.trigger);
  EXPECT_EQ(d.trigger->provider, Provider::kGitea);
  EXPECT_EQ(d.trigger->delivery, "a6d9d9f6-4a6a-4c3b-9d7e-1f2e3d4c5b6a");
  EXPECT_EQ(d.trigger->repository, "acme/platform");

  d = VerifyWebhook(Provider::kGitea, Options(), Gogs(GiteaPush()), nullptr);
  EXPECT_EQ(d.status, 202);
  ASSERT_TRUE(d.trigger);
  EXPECT_EQ(d.trigger->delivery, "f6e5d4c3-b2a1-4098-8765-43210fedcba9");

  net::HttpRequest r = Gitea(GiteaPush());
  r.headers["X-Gitea-Signature"] = "sha256=" + HmacSha256Hex(kSecret, r.body);  // no prefix here
  d = VerifyWebhook(Provider::kGitea, Options(), r, nullptr);
  EXPECT_EQ(d.status, 401);
  EXPECT_EQ(d.reason, "X-Gitea-Signature does not match the body");
  r.headers.erase("X-Gitea-Signature");
  d = VerifyWebhook(Provider::kGitea, Options(), r, nullptr);
  EXPECT_EQ(d.reason, "missing X-Gitea-Signature header");
  r = Gogs(GiteaPush());
  r.headers["X-Gogs-Signature"] = HmacSha256Hex("wrong-secret-value!!", r.body);
  d = VerifyWebhook(Provider::kGitea, Options(), r, nullptr);
  EXPECT_EQ(d.status, 401);
  EXPECT_EQ(d.reason, "X-Gogs-Signature does not match the body");
  r = Gitea(GiteaPush());
  r.headers["X-Gitea-Event"] = "create";
  EXPECT_EQ(VerifyWebhook(Provider::kGitea, Options(), r, nullptr).outcome,
            WebhookOutcome::kUnsupported);
}

TEST(WebhookTest, Generic) {
  WebhookDecision d = VerifyWebhook(Provider::kGeneric, Options(), Generic(GenericBody()), nullptr);
  EXPECT_EQ(d.status, 202);
  ASSERT_TRUE(d.trigger);
  EXPECT_EQ(d.trigger->repository, "");
  net::HttpRequest r = Generic(GenericBody());
  r.headers["X-Galley-Event"] = "ping";
  EXPECT_EQ(VerifyWebhook(Provider::kGeneric, Options(), r, nullptr).status, 200);
  r.headers["X-Galley-Event"] = "release";
  EXPECT_EQ(VerifyWebhook(Provider::kGeneric, Options(), r, nullptr).outcome,
            WebhookOutcome::kUnsupported);
  r = Generic(GenericBody());
  r.headers.erase("X-Galley-Delivery");
  EXPECT_EQ(VerifyWebhook(Provider::kGeneric, Options(), r, nullptr).reason,
            "missing X-Galley-Delivery header");
}

TEST(WebhookTest, NoSecretConfiguredRefusesEverything) {
  WebhookOptions o = Options();
  o.secret = "";
  net::HttpRequest r = Generic(GenericBody());
  r.headers["X-Galley-Signature"] = "sha256=" + HmacSha256Hex("", r.body);
  WebhookDecision d = VerifyWebhook(Provider::kGeneric, o, r, nullptr);
  EXPECT_EQ(d.status, 401);
  EXPECT_EQ(d.reason, "no webhook secret is configured");
  r = GitLab(GitLabPush(), "");
  EXPECT_EQ(VerifyWebhook(Provider::kGitLab, o, r, nullptr).status, 401);
}

TEST(WebhookTest, CheckWebhookSecret) {
  EXPECT_TRUE(CheckWebhookSecret(kSecret, false).ok());
  EXPECT_TRUE(CheckWebhookSecret("", true).ok());
  Status s = CheckWebhookSecret("", false);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(
      s.message(),
      "no webhook secret: set GALLEY_WEBHOOK_SECRET or --webhook-secret-file (e.g. the output "
      "of `openssl rand -hex 32`), or pass --no-webhooks when nothing sends webhooks");
  s = CheckWebhookSecret("short", false);
  EXPECT_EQ(s.message(),
            "the webhook secret has 5 bytes; use at least 16 (e.g. `openssl rand -hex 32`)");
}

TEST(WebhookTest, LoadWebhookSecret) {
  auto r = LoadWebhookSecret(std::string("from-env"), "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "from-env");
  r = LoadWebhookSecret(std::nullopt, "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "");
  std::string path = ::testing::TempDir() + "/webhook_secret";
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("file-secret-0123456789\n", f);
  fclose(f);
  r = LoadWebhookSecret(std::string("from-env"), path);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "file-secret-0123456789");
  r = LoadWebhookSecret(std::nullopt, path + ".missing");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind("--webhook-secret-file: ", 0), 0u) << r.status().message();
}

TEST(WebhookTest, ProviderNames) {
  for (Provider p : {Provider::kGitHub, Provider::kGitLab, Provider::kGitea, Provider::kGeneric}) {
    EXPECT_EQ(ParseProvider(ProviderName(p)), p);
  }
  EXPECT_FALSE(ParseProvider("bitbucket"));
}

TEST(WebhookTest, HandlerCallsOnPushHooksAndAnswers) {
  std::vector<Trigger> triggers;
  std::vector<std::string> logs, counted;
  WebhookHooks hooks;
  hooks.log = [&](const WebhookDecision& d) { logs.push_back(d.LogLine()); };
  hooks.count = [&](std::string_view provider, std::string_view result) {
    counted.push_back(std::string(provider) + "/" + std::string(result));
  };
  auto replay = std::make_shared<ReplayCache>();
  HttpHandler github = WebhookHandler(
      Provider::kGitHub, Options(), [&](const Trigger& t) { triggers.push_back(t); }, hooks,
      replay);
  HttpHandler generic = WebhookHandler(
      Provider::kGeneric, Options(), [&](const Trigger& t) { triggers.push_back(t); }, hooks,
      replay);

  net::HttpResponse resp = github(GitHub(GitHubPush()));
  EXPECT_EQ(resp.status, 202);
  EXPECT_EQ(resp.headers["Content-Type"].rfind("application/json", 0), 0u);
  resp = github(GitHub(GitHubPush()));
  EXPECT_EQ(resp.status, 409);
  net::HttpRequest forged = Generic(GenericBody());
  forged.body[2] = 'R';
  resp = generic(forged);
  EXPECT_EQ(resp.status, 401);
  EXPECT_EQ(nlohmann::json::parse(resp.body)["result"], "bad_signature");

  ASSERT_EQ(triggers.size(), 1u);
  EXPECT_EQ(triggers[0].commit, kCommit);
  EXPECT_EQ(counted, (std::vector<std::string>{"github/accepted", "github/replay",
                                               "generic/bad_signature"}));
  ASSERT_EQ(logs.size(), 3u);
  EXPECT_EQ(
      logs[2],
      "webhook generic delivery=d-1 status=401 result=bad_signature reason=X-Galley-Signature "
      "does not match the body");
}

}  // namespace
}  // namespace galley::server
