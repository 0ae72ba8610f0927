// SPDX-License-Identifier: Apache-2.0
// The image preflight's pieces against each other on loopback: the registry emulator (samples
// byte for byte, HEAD, errors, the three auth modes), galley's registry client (ping,
// Bearer token, Basic, missing vs error), and engine::ImagePreflight on a plan (errors,
// cache, other registries). Plus the pure parsers. Every server is stopped by its owner.
#include <filesystem>

#include <gtest/gtest.h>

#include "base/digest.h"
#include "clients/registry_client.h"
#include "engine/image_preflight.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "sandbox/registry/registry_emulator.h"
#include "support/temp_repo.h"

namespace galley {
namespace {

using sandbox::registry::RegistryEmulator;
using sandbox::registry::RegistryOptions;

std::string Samples() { return testing::SourceRoot() + "/tests/testdata/registry-api"; }

struct Running {
  std::unique_ptr<RegistryEmulator> emu;
  std::unique_ptr<net::HttpServer> server;
  std::string url;
  ~Running() {
    if (server) server->Stop();
  }
};

std::unique_ptr<Running> Start(RegistryOptions o) {
  auto r = std::make_unique<Running>();
  r->emu = std::make_unique<RegistryEmulator>(o);
  EXPECT_TRUE(r->emu->LoadSamples(Samples()).ok());
  EXPECT_TRUE(r->emu->AddImage("platform/web", "v1").ok());
  auto* emu = r->emu.get();
  auto s = net::HttpServer::Start(net::HttpServerOptions{"127.0.0.1", 0},
                                  [emu](const net::HttpRequest& q) { return emu->Handle(q); });
  EXPECT_TRUE(s.ok());
  r->server = std::move(*s);
  r->url = "http://127.0.0.1:" + std::to_string(r->server->port());
  r->emu->set_token_realm(r->url + "/token");
  return r;
}

std::unique_ptr<clients::ImageRegistry> Client(const std::string& url, const std::string& user = "",
                                               const std::string& password = "") {
  clients::RegistryEndpoint ep;
  ep.url = url;
  ep.user = user;
  ep.password = password;
  return clients::NewRegistryClient(ep, std::shared_ptr<net::HttpClient>(net::NewHttpClient()));
}

TEST(RegistryEmulatorTest, ServesTheSamplesByteForByte) {
  auto r = Start({});
  auto http = net::NewHttpClient();
  std::string want = testing::ReadText(Samples() + "/manifest-list.json");
  net::ClientRequest get;
  get.url = r->url + "/v2/team/web/manifests/1.4.2";
  get.headers["Accept"] = clients::kManifestAccept;
  auto g = http->Send(get);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->status, 200);
  EXPECT_EQ(g->body, want);
  EXPECT_EQ(g->Header("Docker-Content-Digest"),
            "sha256:5897ed262f0bbc66af053faf8a2144ca0440c876fdf602aef8025f89cc79c9fb");
  EXPECT_EQ(g->Header("Docker-Content-Digest"), "sha256:" + Sha256Hex(want));
  EXPECT_EQ(g->Header("Content-Type"), "application/vnd.docker.distribution.manifest.list.v2+json");
  EXPECT_EQ(g->Header("Docker-Distribution-API-Version"), "registry/2.0");
  net::ClientRequest head = get;
  head.method = "HEAD";
  auto h = http->Send(head);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(h->body, "");
  EXPECT_EQ(h->Header("Content-Length"), std::to_string(want.size()));
  // By digest, the config blob, the OCI refusal, the tags list's paging, the error envelope.
  get.url = r->url + "/v2/team/web/manifests/sha256:" + Sha256Hex(want);
  EXPECT_EQ(http->Send(get)->body, want);
  get.url =
      r->url +
      "/v2/team/web/blobs/sha256:7af7e8b00a9302f943d793c42795392ffa13e5d545cf6e077aa95e10e686b40e";
  EXPECT_EQ(http->Send(get)->body, testing::ReadText(Samples() + "/config-amd64.json"));
  get.url = r->url + "/v2/team/web/manifests/1.4.2-oci";
  auto oci = http->Send(get);
  EXPECT_EQ(oci->status, 200);
  EXPECT_EQ(oci->body, testing::ReadText(Samples() + "/oci-index.json"));
  EXPECT_EQ(oci->Header("Content-Type"), "application/vnd.oci.image.index.v1+json");
  get.headers.erase("Accept");
  get.url = r->url + "/v2/team/web/tags/list?n=2";
  auto page = http->Send(get);
  EXPECT_EQ(page->body, "{\"name\":\"team/web\",\"tags\":[\"1.4.2\",\"1.4.2-amd64\"]}\n");
  EXPECT_EQ(page->Header("Link"), "</v2/team/web/tags/list?last=1.4.2-amd64&n=2>; rel=\"next\"");
  get.url = r->url + "/v2/team/web/manifests/9.9.9";
  auto missing = http->Send(get);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(
      missing->body,
      "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"detail\":{\"Tag\":\"9.9.9\"},\"message\":"
      "\"manifest unknown\"}]}\n");
}

TEST(RegistryClientTest, AnonymousBearerAndBasic) {
  RegistryOptions bearer;
  bearer.auth = RegistryOptions::Auth::kBearer;
  bearer.user = "ci";
  bearer.password = "s3cret";
  RegistryOptions basic = bearer;
  basic.auth = RegistryOptions::Auth::kBasic;
  for (const auto& o : {RegistryOptions{}, bearer, basic}) {
    auto r = Start(o);
    auto c = Client(r->url, o.user, o.password);
    auto found = c->CheckManifest("team/web", "1.4.2");
    ASSERT_TRUE(found.ok()) << found.status().message();
    EXPECT_TRUE(found->exists);
    EXPECT_EQ(found->digest,
              "sha256:5897ed262f0bbc66af053faf8a2144ca0440c876fdf602aef8025f89cc79c9fb");
    auto added = c->CheckManifest("platform/web", "v1");
    ASSERT_TRUE(added.ok());
    EXPECT_TRUE(added->exists);
    auto missing = c->CheckManifest("team/web", "9.9.9");
    ASSERT_TRUE(missing.ok());
    EXPECT_FALSE(missing->exists);
    EXPECT_EQ(missing->detail, "manifest unknown");
    r->emu->RemoveTag("platform/web", "v1");
    EXPECT_FALSE(c->CheckManifest("platform/web", "v1")->exists);
  }
  // Wrong credentials: the token server refuses them (Bearer); Basic never gets through.
  auto rb = Start(bearer);
  auto wrong = Client(rb->url, "ci", "nope")->CheckManifest("team/web", "1.4.2");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("refused the credentials"), std::string::npos);
  EXPECT_EQ(wrong.status().message().find("nope"), std::string::npos);  // never the password
  auto rs = Start(basic);
  auto none = Client(rs->url)->CheckManifest("team/web", "1.4.2");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("GALLEY_REGISTRY_USER"), std::string::npos);
}

// A server answering whatever `h` says, for the registry's misbehaviours.
struct Odd {
  std::unique_ptr<net::HttpServer> server;
  std::string url;
  explicit Odd(net::HttpHandler h) {
    auto s = net::HttpServer::Start(net::HttpServerOptions{"127.0.0.1", 0}, std::move(h));
    EXPECT_TRUE(s.ok());
    server = std::move(*s);
    url = "http://127.0.0.1:" + std::to_string(server->port());
  }
  ~Odd() { server->Stop(); }
};

TEST(RegistryClientTest, DownGarbageAndChallengeless401AreErrors) {
  uint16_t port;
  {
    Odd gone([](const net::HttpRequest&) { return net::HttpResponse::Text(200, ""); });
    port = gone.server->port();
  }
  auto down = Client("http://127.0.0.1:" + std::to_string(port))->CheckManifest("a/b", "1");
  ASSERT_FALSE(down.ok());
  EXPECT_NE(down.status().message().find("is unreachable"), std::string::npos)
      << down.status().message();

  Odd web([](const net::HttpRequest&) { return net::HttpResponse::Text(404, "<html>"); });
  auto notreg = Client(web.url)->CheckManifest("a/b", "1");
  ASSERT_FALSE(notreg.ok());
  EXPECT_NE(notreg.status().message().find("is not a Docker registry v2: GET /v2/ answered 404"),
            std::string::npos);

  Odd bare([](const net::HttpRequest&) { return net::HttpResponse::Json(401, "{}"); });
  auto nochallenge = Client(bare.url)->CheckManifest("a/b", "1");
  ASSERT_FALSE(nochallenge.ok());
  EXPECT_NE(nochallenge.status().message().find("401 without a usable WWW-Authenticate"),
            std::string::npos);

  std::string realm;
  Odd garbage([&realm](const net::HttpRequest& q) {
    if (q.path == "/token") return net::HttpResponse::Text(200, "garbage");
    auto r = net::HttpResponse::Json(401, "{}");
    r.headers["WWW-Authenticate"] = "Bearer realm=\"" + realm + "\",service=\"x\"";
    return r;
  });
  realm = garbage.url + "/token";
  auto badtoken = Client(garbage.url)->CheckManifest("a/b", "1");
  ASSERT_FALSE(badtoken.ok());
  EXPECT_NE(badtoken.status().message().find("answered no token"), std::string::npos);

  Odd limited([](const net::HttpRequest& q) {
    if (q.path == "/v2/") return net::HttpResponse::Json(200, "{}");
    auto r = net::HttpResponse::Json(429, "{}");
    r.headers["Retry-After"] = "30";
    return r;
  });
  auto rate = Client(limited.url)->CheckManifest("a/b", "1");
  ASSERT_FALSE(rate.ok());
  EXPECT_NE(rate.status().message().find("rate limited (429 Too Many Requests, Retry-After 30)"),
            std::string::npos);
}

TEST(RegistryParseTest, ChallengesAndReferences) {
  auto c = clients::ParseChallenge(
      "Bearer realm=\"https://auth.example/token\",service=\"reg\",scope=\"repository:a/b:pull\"");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->scheme, "bearer");
  EXPECT_EQ(c->params["realm"], "https://auth.example/token");
  EXPECT_EQ(c->params["scope"], "repository:a/b:pull");
  EXPECT_EQ(clients::ParseChallenge("Basic realm=\"x\"")->scheme, "basic");
  EXPECT_FALSE(clients::ParseChallenge(""));
  EXPECT_FALSE(clients::ParseChallenge("Bearer realm=\"unterminated"));

  auto r = clients::ParseImageReference("registry.local:5000/platform/api:v1.2-b3");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->registry, "registry.local:5000");
  EXPECT_EQ(r->repository, "platform/api");
  EXPECT_EQ(r->tag, "v1.2-b3");
  EXPECT_EQ(clients::ParseImageReference("team/web:1")->registry, "");
  EXPECT_FALSE(clients::ParseImageReference("team/web").ok());
  EXPECT_FALSE(clients::ParseImageReference("Team/Web:1").ok());
}

TEST(RegistryParseTest, EndpointFromFlagOrEnvironment) {
  model::Platform p;
  p.registry = "registry.local";
  auto none = clients::ResolveRegistry(p, "", {});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->url, "");
  auto env = clients::ResolveRegistry(p, "",
                                      {{"GALLEY_REGISTRY_URL", "https://r.example/"},
                                       {"GALLEY_REGISTRY_USER", "u"},
                                       {"GALLEY_REGISTRY_PASSWORD", "p"},
                                       {"GALLEY_CA_FILE", "/ca.pem"}});
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env->url, "https://r.example");
  EXPECT_EQ(env->source, "GALLEY_REGISTRY_URL");
  EXPECT_EQ(env->host, "registry.local");
  EXPECT_EQ(env->ca_file, "/ca.pem");
  auto flag = clients::ResolveRegistry(p, "http://127.0.0.1:5000", {{"GALLEY_REGISTRY_URL", "x"}});
  ASSERT_TRUE(flag.ok());
  EXPECT_EQ(flag->source, "--registry");
  EXPECT_FALSE(clients::ResolveRegistry(p, "ftp://x", {}).ok());
  auto creds_in_url = clients::ResolveRegistry(p, "https://u:pw@r.example", {});
  ASSERT_FALSE(creds_in_url.ok());
  EXPECT_EQ(creds_in_url.status().message().find("pw"), std::string::npos);
  EXPECT_FALSE(clients::ResolveRegistry(p, "", {{"GALLEY_REGISTRY_USER", "u"}}).ok());
}

engine::Action App(const std::string& id, engine::ActionKind kind, const std::string& image,
                   bool image_changed = true) {
  engine::Action a;
  a.id = "app:" + id;
  a.kind = kind;
  a.target = id;
  a.desired = {{"id", id}, {"container", {{"docker", {{"image", image}}}}}};
  if (kind == engine::ActionKind::kAppUpdate) {
    a.changes.push_back(
        {image_changed ? "/container/docker/image" : "/instances", true, "x", true, "y"});
  }
  return a;
}

TEST(ImagePreflightTest, MissingImagesAreErrorsAskedOncePerRun) {
  auto r = Start({});
  auto c = Client(r->url);
  engine::Plan plan;
  plan.actions.push_back(
      App("/app/production/web", engine::ActionKind::kAppCreate, "registry.local/platform/web:v1"));
  plan.actions.push_back(
      App("/app/staging/web", engine::ActionKind::kAppUpdate, "registry.local/platform/web:v1"));
  plan.actions.push_back(
      App("/app/staging/api", engine::ActionKind::kAppUpdate, "registry.local/platform/api:v9"));
  plan.actions.push_back(App("/app/staging/scaled", engine::ActionKind::kAppUpdate,
                             "registry.local/platform/gone:v0", false));  // no new image
  plan.actions.push_back(
      App("/app/staging/other", engine::ActionKind::kAppCreate, "quay.io/x/y:1"));
  auto needs = engine::ImagesToDeploy(plan);
  ASSERT_EQ(needs.size(), 3u);
  EXPECT_EQ(needs[0].apps.size(), 2u);
  engine::ImagePreflight pf(c.get(), "registry.local");
  ASSERT_TRUE(pf.Check(plan).ok());
  ASSERT_EQ(plan.errors.size(), 1u);
  EXPECT_NE(plan.errors[0].find("image registry.local/platform/api:v9 is not in registry " +
                                r->url + " (manifest unknown); needed by /app/staging/api"),
            std::string::npos)
      << plan.errors[0];
  ASSERT_EQ(plan.warnings.size(), 1u);
  EXPECT_NE(plan.warnings[0].find("quay.io/x/y:1"), std::string::npos);
  EXPECT_EQ(pf.asked(), 2);
  ASSERT_TRUE(pf.Check(plan).ok());  // the same run: answered from the cache
  EXPECT_EQ(pf.asked(), 2);
}

}  // namespace
}  // namespace galley
