// SPDX-License-Identifier: Apache-2.0
// galley serve's pure pieces (issue #13): the coalescing trigger queue, the router, the
// bearer check, the leader state machine against a fake Consul with time passed in, URL
// redaction, and the API's auth through Server::Handle (no sockets).
#include "server/server.h"

#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "base/file_io.h"
#include "base/subprocess.h"
#include "server/git_source.h"
#include "server/leader.h"
#include "server/router.h"
#include "server/trigger_queue.h"
#include "server/webhooks.h"
#include "support/temp_repo.h"

namespace galley::server {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// --- trigger queue ------------------------------------------------------------------------

TEST(TriggerQueueTest, ABurstOfPushesBecomesOneReconcileOfTheNewestCommit) {
  TriggerQueue q;
  for (int i = 0; i < 1000; ++i)
    ASSERT_TRUE(q.Push({TriggerKind::kPush, "c" + std::to_string(i), ""}));
  (void)q.Push({TriggerKind::kTimer, "", "timer"});
  auto p = q.TryTake();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->commit, "c999");
  EXPECT_EQ(p->triggers, 1001);
  ASSERT_EQ(p->kinds.size(), 2u);
  EXPECT_EQ(p->kinds[0], TriggerKind::kPush);
  EXPECT_EQ(p->kinds[1], TriggerKind::kTimer);
  EXPECT_FALSE(q.TryTake().has_value());
  EXPECT_EQ(q.accepted(), 1001u);
  EXPECT_EQ(q.taken(), 1u);
}

TEST(TriggerQueueTest, PushesWhileOneRunsBecomeExactlyOneMoreRun) {
  TriggerQueue q;
  (void)q.Push({TriggerKind::kPush, "a", ""});
  auto running = q.TryTake();  // the worker starts reconciling "a"
  ASSERT_TRUE(running.has_value());
  for (const char* c : {"b", "c", "d"}) (void)q.Push({TriggerKind::kPush, c, ""});
  auto next = q.TryTake();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->commit, "d");
  EXPECT_EQ(next->triggers, 3);
  EXPECT_FALSE(q.TryTake().has_value());
}

TEST(TriggerQueueTest, ATimerDoesNotForgetAPushedCommit) {
  TriggerQueue q;
  (void)q.Push({TriggerKind::kPush, "abc", ""});
  (void)q.Push({TriggerKind::kTimer, "", ""});
  EXPECT_EQ(q.TryTake()->commit, "abc");
}

TEST(TriggerQueueTest, TakeWakesOnPushAndCloseRefusesMore) {
  TriggerQueue q;
  std::thread pusher([&] { (void)q.Push({TriggerKind::kManual, "", ""}); });
  auto p = q.Take(seconds(30));
  pusher.join();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->kinds[0], TriggerKind::kManual);
  q.Close();
  EXPECT_FALSE(q.Push({TriggerKind::kTimer, "", ""}));
  EXPECT_FALSE(q.Take(seconds(30)).has_value());  // at once: closed
}

TEST(TriggerQueueTest, PushesSettleUntilQuietCappedByTheFirstPlusMaxDelay) {
  using Clock = std::chrono::steady_clock;
  TriggerQueueOptions o{.push_quiet = seconds(2), .push_max_delay = seconds(30)};
  PendingReconcile p;
  p.kinds = {TriggerKind::kPush};
  p.triggers = 3;
  p.first_push = Clock::time_point(seconds(100));
  p.last_push = Clock::time_point(seconds(105));
  EXPECT_EQ(ReadyAt(p, o), Clock::time_point(seconds(107)));  // 2 s after the last push
  p.last_push = Clock::time_point(seconds(129));
  EXPECT_EQ(ReadyAt(p, o), Clock::time_point(seconds(130)));  // never later than first + 30 s
  p.kinds.push_back(TriggerKind::kManual);  // someone asked: at once
  EXPECT_EQ(ReadyAt(p, o), Clock::time_point::min());
  p.kinds = {TriggerKind::kPush};
  EXPECT_EQ(ReadyAt(p, TriggerQueueOptions{}), Clock::time_point::min());  // no settling
}

TEST(TriggerQueueTest, AStormOfPushesIsHandedOutOnceItGoesQuiet) {
  TriggerQueue q(TriggerQueueOptions{.push_quiet = milliseconds(150),
                                     .push_max_delay = seconds(30)});
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(q.Push({TriggerKind::kPush, "c" + std::to_string(i), ""}));
    EXPECT_FALSE(q.TryTake().has_value()) << "handed out during the burst, push " << i;
    std::this_thread::sleep_for(milliseconds(10));
  }
  auto p = q.Take(seconds(10));
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->commit, "c19");
  EXPECT_EQ(p->triggers, 20);
  EXPECT_GE(took, milliseconds(20 * 10 + 150 - 20));  // not before the burst went quiet
  // Another trigger ends the wait at once.
  (void)q.Push({TriggerKind::kPush, "d", ""});
  EXPECT_FALSE(q.Take(milliseconds(20)).has_value());
  (void)q.Push({TriggerKind::kManual, "", "api"});
  auto m = q.TryTake();
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->commit, "d");
}

// --- router and auth -------------------------------------------------------------------------

net::HttpRequest Req(std::string method, std::string path, std::string auth = "") {
  net::HttpRequest r;
  r.method = std::move(method);
  r.path = path;
  r.target = path;
  if (!auth.empty()) r.headers["Authorization"] = auth;
  return r;
}

net::HttpHandler Answer(std::string body) {
  return [body](const net::HttpRequest&) { return net::HttpResponse::Text(200, body); };
}

TEST(RouterTest, ExactBeatsPrefixLongestPrefixWinsUnknownIs404WrongMethodIs405) {
  Router r;
  r.Add("GET", "/api/v1/runs", Answer("list"));
  r.Add("GET", "/api/v1/runs/", Answer("detail"));
  r.Add("*", "/hooks/", Answer("hooks"));
  r.Add("POST", "/hooks/github", Answer("github"));
  EXPECT_EQ(r.Handle(Req("GET", "/api/v1/runs")).body, "list");
  EXPECT_EQ(r.Handle(Req("GET", "/api/v1/runs/12")).body, "detail");
  EXPECT_EQ(r.Handle(Req("HEAD", "/api/v1/runs")).body, "list");
  EXPECT_EQ(r.Handle(Req("POST", "/hooks/github")).body, "github");
  EXPECT_EQ(r.Handle(Req("PUT", "/hooks/gitlab")).body, "hooks");
  EXPECT_EQ(r.Handle(Req("GET", "/nope")).status, 404);
  auto wrong = r.Handle(Req("DELETE", "/api/v1/runs"));
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.headers["Allow"], "GET");
  EXPECT_EQ(r.Describe().size(), 4u);
}

TEST(AuthTest, ConstantTimeEqualsComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret2"));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

TEST(AuthTest, BearerIs401WithoutCredentials403WrongOrDisabled) {
  EXPECT_FALSE(CheckBearer(Req("POST", "/x", "Bearer tok"), "tok").has_value());
  EXPECT_FALSE(CheckBearer(Req("POST", "/x", "bearer tok"), "tok").has_value());
  auto none = CheckBearer(Req("POST", "/x"), "tok");
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(none->headers["WWW-Authenticate"], "Bearer");
  EXPECT_EQ(CheckBearer(Req("POST", "/x", "Basic dG9rOg=="), "tok")->status, 401);
  EXPECT_EQ(CheckBearer(Req("POST", "/x", "Bearer nope"), "tok")->status, 403);
  EXPECT_EQ(CheckBearer(Req("POST", "/x", "Bearer "), "tok")->status, 401);
  auto disabled = CheckBearer(Req("POST", "/x", "Bearer tok"), "");
  ASSERT_TRUE(disabled.has_value());
  EXPECT_EQ(disabled->status, 403);
  EXPECT_NE(disabled->body.find("GALLEY_API_TOKEN"), std::string::npos);
}

TEST(GitSourceTest, RedactUrlDropsCredentials) {
  EXPECT_EQ(RedactUrl("https://user:pw@git.example.com/a/b.git"),
            "https://git.example.com/a/b.git");
  EXPECT_EQ(RedactUrl("https://git.example.com/a@b.git"), "https://git.example.com/a@b.git");
  EXPECT_EQ(RedactUrl("/srv/git/repo.git"), "/srv/git/repo.git");
}

// --- git source (the real git, local repositories only) ---------------------------------------

void Git(const std::string& dir, std::vector<std::string> args) {
  std::vector<std::string> argv = {"git",
                                   "-c",
                                   "user.name=t",
                                   "-c",
                                   "user.email=t@example.invalid",
                                   "-c",
                                   "commit.gpgsign=false",
                                   "-C",
                                   dir};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = RunCommand(argv);
  ASSERT_TRUE(r.ok() && r->exit_code == 0) << (r.ok() ? r->err : r.status().message());
}

TEST(GitSourceTest, DirectoryIsDirtyUntilCommitted) {
  testing::TempRepo t;
  t.Write("galley.yaml", "a: 1\n");
  Git(t.dir(), {"init", "-q"});
  Git(t.dir(), {"add", "-A"});
  Git(t.dir(), {"commit", "-q", "-m", "one"});
  auto src = NewDirectorySource(t.dir());
  auto clean = src->CheckOut("");
  ASSERT_TRUE(clean.ok());
  EXPECT_FALSE(clean->dirty());
  EXPECT_EQ(clean->commit().size(), 40u);
  EXPECT_FALSE(clean->tree().empty());
  t.Write("galley.yaml", "a: 2\n");
  auto dirty = src->CheckOut("");
  ASSERT_TRUE(dirty.ok());
  EXPECT_TRUE(dirty->dirty());
  EXPECT_EQ(dirty->tree(), "");
}

TEST(GitSourceTest, MirrorsARemoteAndExportsEachCommit) {
  testing::TempRepo work, remote, state;
  Git(remote.dir(), {"init", "-q", "--bare"});
  work.Write("platform/galley.yaml", "v: 1\n");
  Git(work.dir(), {"init", "-q"});
  Git(work.dir(), {"add", "-A"});
  Git(work.dir(), {"commit", "-q", "-m", "one"});
  Git(work.dir(), {"push", "-q", remote.dir(), "HEAD:refs/heads/main"});
  auto src = NewGitSource(remote.dir(), "main", state.dir() + "/mirror.git", "platform");
  auto first = src->Refresh();
  ASSERT_TRUE(first.ok()) << first.status().message();
  work.Write("platform/galley.yaml", "v: 2\n");
  Git(work.dir(), {"commit", "-q", "-am", "two"});
  Git(work.dir(), {"push", "-q", remote.dir(), "HEAD:refs/heads/main"});
  auto second = src->Refresh();
  ASSERT_TRUE(second.ok());
  EXPECT_NE(*first, *second);
  std::string dir;
  {
    auto old = src->CheckOut(*first);
    ASSERT_TRUE(old.ok()) << old.status().message();
    EXPECT_EQ(old->commit(), *first);
    EXPECT_EQ(*ReadFileBounded(old->dir() + "/galley.yaml", 100), "v: 1\n");
    dir = old->dir();
  }
  EXPECT_FALSE(std::filesystem::exists(dir));  // the export is removed with its Checkout
  auto head = src->CheckOut("");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->commit(), *second);
  EXPECT_EQ(*ReadFileBounded(head->dir() + "/galley.yaml", 100), "v: 2\n");
  EXPECT_FALSE(src->CheckOut("0123456789abcdef0123456789abcdef01234567").ok());
  auto missing = NewGitSource(state.dir() + "/nope.git", "main", state.dir() + "/m2.git");
  EXPECT_FALSE(missing->Refresh().ok());
}

// --- leader ------------------------------------------------------------------------------------

// Sessions and one lock key, as Consul keeps them; `down` makes every call fail.
class FakeConsul : public clients::ConsulClient {
 public:
  Result<clients::KvList> ListKv(const std::string&) override { return clients::KvList{}; }
  Result<model::LiveKvEntry> GetKv(const std::string& key) override {
    if (down) return Status::Unavailable("consul down");
    if (!holder.count(key)) return Status::NotFound(key);
    model::LiveKvEntry e;
    e.key = key;
    e.session = holder[key];
    return e;
  }
  Result<std::map<std::string, std::vector<std::string>>> ListServices() override {
    return std::map<std::string, std::vector<std::string>>{};
  }
  Result<std::vector<clients::HealthInstance>> ServiceHealth(const std::string&, bool) override {
    return std::vector<clients::HealthInstance>{};
  }
  int requests() const override { return 0; }
  Result<clients::KvTxnResult> Txn(const std::vector<clients::KvTxnOp>&) override {
    return Status::Unavailable("no");
  }
  Result<bool> PutKv(const std::string&, const std::string&, std::optional<uint64_t>) override {
    return true;
  }
  Result<std::string> CreateSession(const clients::SessionOptions& o) override {
    if (down) return Status::Unavailable("consul down");
    last_options = o;
    std::string id = "s" + std::to_string(++next);
    sessions.insert(id);
    return id;
  }
  Status RenewSession(const std::string& id) override {
    if (down) return Status::Unavailable("consul down");
    ++renewals;
    return sessions.count(id) ? Status::Ok() : Status::NotFound("session " + id);
  }
  Status DestroySession(const std::string& id) override {
    sessions.erase(id);
    Expire(id);
    return Status::Ok();
  }
  Result<bool> AcquireLock(const std::string& key, const std::string&,
                           const std::string& session) override {
    if (down) return Status::Unavailable("consul down");
    ++acquires;
    if (!sessions.count(session)) return Status::InvalidArgument("invalid session");
    auto it = holder.find(key);
    if (it != holder.end() && it->second != session) return false;
    holder[key] = session;
    return true;
  }
  Result<bool> ReleaseLock(const std::string& key, const std::string& session) override {
    auto it = holder.find(key);
    if (it == holder.end() || it->second != session) return false;
    holder.erase(it);
    return true;
  }
  Result<bool> DeleteKv(const std::string&, std::optional<uint64_t>) override { return true; }
  // The session's TTL ran out (behavior release): its locks are free.
  void Expire(const std::string& id) {
    sessions.erase(id);
    for (auto it = holder.begin(); it != holder.end();) {
      it = it->second == id ? holder.erase(it) : std::next(it);
    }
  }

  bool down = false;
  int next = 0, renewals = 0, acquires = 0;
  std::set<std::string> sessions;
  std::map<std::string, std::string> holder;  // key → session
  clients::SessionOptions last_options;
};

TEST(LeaderTest, OneOfTwoLeadsTheOtherTakesOverWhenTheSessionExpires) {
  FakeConsul consul;
  LeaderElector a(consul, {.platform = "p", .holder = "a"});
  LeaderElector b(consul, {.platform = "p", .holder = "b"});
  auto t = LeaderElector::Clock::time_point{} + seconds(100);
  EXPECT_TRUE(a.Tick(t));
  EXPECT_FALSE(b.Tick(t));
  EXPECT_EQ(consul.holder["galley/p/leader"], a.session());
  EXPECT_EQ(consul.last_options.ttl_seconds, 15);
  EXPECT_EQ(consul.last_options.lock_delay_seconds, 0);
  EXPECT_EQ(consul.last_options.behavior, "release");
  // a renews every TTL/3; b looks every second (reads only: no acquire while a holds the
  // key) and keeps its own session alive.
  const int acquires = consul.acquires;
  for (int i = 1; i <= 30; ++i) {
    EXPECT_TRUE(a.Tick(t + seconds(i)));
    EXPECT_FALSE(b.Tick(t + seconds(i)));
  }
  EXPECT_GE(consul.renewals, 6);
  EXPECT_EQ(consul.acquires, acquires);
  // a dies (no more ticks); its session expires after the TTL and b takes over.
  consul.Expire(a.session());
  EXPECT_TRUE(b.Tick(t + seconds(31)));
  EXPECT_TRUE(b.leader());
  // a, back, finds its session gone and steps down.
  EXPECT_FALSE(a.Tick(t + seconds(45)));
  EXPECT_FALSE(a.leader());
}

TEST(LeaderTest, AStuckConsulLosesLeadershipOnceTheTtlPassed) {
  FakeConsul consul;
  LeaderElector a(consul, {.platform = "p", .holder = "a"});
  auto t = LeaderElector::Clock::time_point{} + seconds(100);
  ASSERT_TRUE(a.Tick(t));
  const std::string first = a.session();
  consul.down = true;
  EXPECT_TRUE(a.Tick(t + seconds(5)));  // renewal failed, but within the TTL
  EXPECT_TRUE(a.Tick(t + seconds(10)));
  EXPECT_FALSE(a.Tick(t + seconds(15)));  // TTL since the last renewal: not the leader
  EXPECT_EQ(a.transitions(), 2u);
  consul.down = false;
  consul.Expire(first);                  // Consul let the session's TTL run out meanwhile
  EXPECT_TRUE(a.Tick(t + seconds(17)));  // a new session, the key free again
  EXPECT_NE(a.session(), first);
}

TEST(LeaderTest, ReleaseFreesTheKeyAtOnce) {
  FakeConsul consul;
  LeaderElector a(consul, {.platform = "p", .holder = "a"});
  LeaderElector b(consul, {.platform = "p", .holder = "b"});
  auto t = LeaderElector::Clock::time_point{} + seconds(100);
  ASSERT_TRUE(a.Tick(t));
  a.Release();
  EXPECT_FALSE(a.leader());
  EXPECT_TRUE(consul.holder.empty());
  EXPECT_TRUE(b.Tick(t + seconds(1)));
}

// --- the API's guards, through Server::Handle (no sockets, no worker thread) -----------------

class NoSource : public RepositorySource {
 public:
  Result<std::string> Refresh() override { return Status::Unavailable("none"); }
  Result<Checkout> CheckOut(const std::string&) override { return Status::Unavailable("none"); }
  std::string Describe() const override { return "nothing"; }
};

TEST(ServerApiTest, WriteEndpointsNeedTheTokenAndPlaceholdersAre404) {
  NoSource source;
  FakeConsul consul;
  ServerOptions o;
  o.platform = "p";
  o.api_token = "tok";
  Server s(source, consul, o);
  net::HttpRequest post = Req("POST", "/api/v1/reconcile");
  EXPECT_EQ(s.Handle(post).status, 401);
  post.headers["Authorization"] = "Bearer wrong";
  EXPECT_EQ(s.Handle(post).status, 403);
  post.headers["Authorization"] = "Bearer tok";
  EXPECT_EQ(s.Handle(post).status, 202);
  EXPECT_TRUE(s.queue().pending());
  net::HttpRequest apply = Req("POST", "/api/v1/apply", "Bearer tok");
  apply.body = "{}";
  EXPECT_EQ(s.Handle(apply).status, 400);
  EXPECT_EQ(s.Handle(Req("GET", "/healthz")).status, 200);
  EXPECT_EQ(s.Handle(Req("GET", "/readyz")).status, 503);  // nothing loaded yet
  EXPECT_EQ(s.Handle(Req("GET", "/api/v1/plan")).status, 404);
  EXPECT_EQ(s.Handle(Req("POST", "/hooks/github")).status, 404);
  EXPECT_EQ(s.Handle(Req("GET", "/metrics")).status, 404);
  EXPECT_EQ(s.Handle(Req("GET", "/ui/app.js")).status, 404);
}

TEST(ServerApiTest, MountedHandlersReplaceThePlaceholders) {
  NoSource source;
  FakeConsul consul;
  Server s(source, consul, ServerOptions{.platform = "p"});
  s.Mount("POST", "/hooks/github", Answer("hook"));
  s.Mount("GET", "/metrics", Answer("metrics"));
  s.Mount("GET", "/ui/", Answer("ui"));
  EXPECT_EQ(s.Handle(Req("POST", "/hooks/github")).body, "hook");
  EXPECT_EQ(s.Handle(Req("GET", "/metrics")).body, "metrics");
  EXPECT_EQ(s.Handle(Req("GET", "/ui/app.js")).body, "ui");
  EXPECT_EQ(s.Handle(Req("POST", "/hooks/gitlab")).status, 404);  // still the placeholder
  // Without a token the write endpoints are disabled.
  EXPECT_EQ(s.Handle(Req("POST", "/api/v1/reconcile", "Bearer x")).status, 403);
}

}  // namespace
}  // namespace galley::server
