// SPDX-License-Identifier: Apache-2.0
// net::HttpServer and net::HttpClient over real loopback sockets.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "net/http_client.h"
#include "net/http_server.h"
#include "net/url.h"

namespace galley::net {
namespace {

std::unique_ptr<HttpServer> Serve(HttpHandler h) {
  auto s = HttpServer::Start(HttpServerOptions{}, std::move(h));
  EXPECT_TRUE(s.ok()) << s.status().message();
  return std::move(s).value();
}

std::string Base(const HttpServer& s) { return "http://127.0.0.1:" + std::to_string(s.port()); }

TEST(UrlTest, ParsesAndRejects) {
  auto u = Url::Parse("http://127.0.0.1:8500/v1/kv/a?recurse");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8500);
  EXPECT_EQ(u->target, "/v1/kv/a?recurse");
  EXPECT_EQ(Url::Parse("https://m1")->port, 443);
  EXPECT_EQ(Url::Parse("http://[::1]:80/")->host, "::1");
  EXPECT_FALSE(Url::Parse("ftp://x").ok());
  EXPECT_FALSE(Url::Parse("http://:80").ok());
  EXPECT_FALSE(Url::Parse("http://h:99999").ok());
  EXPECT_FALSE(Url::Parse("http://user:pw@h/").ok());
  // Refused without printing the credentials (issue #11).
  auto creds = Url::Parse("http://deploy:s3cret@h:80/p");
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().message(),
            "credentials in URLs are not supported (use the environment): http://***@h:80/p");
  EXPECT_EQ(Url::Parse("http://u:s3cret@h:99999").status().message().find("s3cret"),
            std::string::npos);
}

TEST(UrlTest, RedactUrlMasksTheUserInfo) {
  EXPECT_EQ(RedactUrl("http://u:p@h:1/x"), "http://***@h:1/x");
  EXPECT_EQ(RedactUrl("https://u:p:q@@h"), "https://***@h");
  EXPECT_EQ(RedactUrl("u:p@h:8500"), "***@h:8500");
  EXPECT_EQ(RedactUrl("http://u:pa/ss?x@h"), "http://***@h");  // an unencoded '/' in the password
  EXPECT_EQ(RedactUrl("http://h:1"), "http://h:1");
  EXPECT_EQ(RedactUrl(""), "");
}

TEST(QueryTest, DecodesRepeatsAndFlags) {
  auto q = ParseQuery("embed=apps.tasks&embed=apps.counts&recurse&k=a%2Fb+c");
  ASSERT_EQ(q.size(), 4u);
  EXPECT_EQ(q[1].second, "apps.counts");
  EXPECT_EQ(q[2].first, "recurse");
  EXPECT_EQ(q[2].second, "");
  EXPECT_EQ(q[3].second, "a/b c");
  EXPECT_EQ(PercentEncode("a b/c", true), "a%20b/c");
  EXPECT_EQ(PercentDecode("%2"), "%2");
}

TEST(HttpServerTest, RoundTripsMethodPathQueryHeadersAndBody) {
  auto server = Serve([](const HttpRequest& r) {
    std::string echo = r.method + " " + r.path + " " + r.Query("x").value_or("-") + " " +
                       r.Header("X-Test") + " " + r.body + " " +
                       std::to_string(r.QueryAll("e").size());
    auto resp = HttpResponse::Text(201, echo);
    resp.headers["X-Consul-Index"] = "42";
    return resp;
  });
  auto client = NewHttpClient();
  ClientRequest req;
  req.method = "PUT";
  req.url = Base(*server) + "/v1/kv/a%20b?x=1&e=1&e=2";
  req.headers["x-test"] = "yes";
  req.body = "payload";
  auto resp = client->Send(req);
  ASSERT_TRUE(resp.ok()) << resp.status().message();
  EXPECT_EQ(resp->status, 201);
  EXPECT_EQ(resp->body, "PUT /v1/kv/a b 1 yes payload 2");
  EXPECT_EQ(resp->Header("x-consul-index"), "42");
  EXPECT_EQ(server->requests_served(), 1u);
}

TEST(HttpServerTest, HandlersRunConcurrently) {
  std::mutex mu;
  std::condition_variable cv;
  int waiting = 0;
  auto server = Serve([&](const HttpRequest&) {
    std::unique_lock<std::mutex> lock(mu);
    ++waiting;
    cv.notify_all();
    // Both requests must be inside the handler at once, else this times out.
    bool both = cv.wait_for(lock, std::chrono::seconds(5), [&] { return waiting >= 2; });
    return HttpResponse::Text(both ? 200 : 500, "");
  });
  auto client = NewHttpClient();
  std::atomic<int> ok{0};
  std::thread a([&] { ok += client->Send({"GET", Base(*server) + "/"}).value().status == 200; });
  std::thread b([&] { ok += client->Send({"GET", Base(*server) + "/"}).value().status == 200; });
  a.join();
  b.join();
  EXPECT_EQ(ok.load(), 2);
}

TEST(HttpServerTest, StreamsUntilStopped) {
  auto server = Serve([](const HttpRequest&) {
    HttpResponse r;
    r.headers["Content-Type"] = "text/event-stream";
    r.stream = [](StreamWriter& w) {
      w.Write("event: one\ndata: {}\n\n");
      while (!w.Done()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    };
    return r;
  });
  auto client = NewHttpClient();
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    server->Stop();
  });
  ClientRequest req{"GET", Base(*server) + "/v2/events"};
  req.timeout = std::chrono::seconds(5);
  auto resp = client->Send(req);
  stopper.join();
  ASSERT_TRUE(resp.ok()) << resp.status().message();
  EXPECT_EQ(resp->body, "event: one\ndata: {}\n\n");
}

TEST(HttpClientTest, TimesOutOnASilentServer) {
  std::atomic<bool> release{false};
  auto server = Serve([&](const HttpRequest&) {
    while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return HttpResponse::Text(200, "late");
  });
  ClientRequest req{"GET", Base(*server) + "/"};
  req.timeout = std::chrono::milliseconds(150);
  auto resp = NewHttpClient()->Send(req);
  release = true;
  ASSERT_FALSE(resp.ok());
  EXPECT_EQ(resp.status().code(), StatusCode::kTimeout);
  EXPECT_NE(resp.status().message().find("no answer within 150 ms"), std::string::npos);
}

TEST(HttpClientTest, ReportsRefusedConnectionsAndDroppedOnes) {
  uint16_t port;
  {
    auto server = Serve([](const HttpRequest&) { return HttpResponse::Text(200, ""); });
    port = server->port();
  }
  auto resp = NewHttpClient()->Send({"GET", "http://127.0.0.1:" + std::to_string(port) + "/"});
  ASSERT_FALSE(resp.ok());
  EXPECT_EQ(resp.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(resp.status().message().find("GET http://127.0.0.1:"), std::string::npos);

  auto dropper = Serve([](const HttpRequest&) {
    HttpResponse r;
    r.drop_connection = true;
    return r;
  });
  auto dropped = NewHttpClient()->Send({"GET", Base(*dropper) + "/"});
  ASSERT_FALSE(dropped.ok());
  EXPECT_EQ(dropped.status().code(), StatusCode::kUnavailable);
}

TEST(HttpServerTest, RefusesOversizedBodies) {
  HttpServerOptions opts;
  opts.max_body_bytes = 10;
  auto server = HttpServer::Start(opts, [](const HttpRequest&) {
                  return HttpResponse::Text(200, "ok");
                }).value();
  ClientRequest req{"PUT", "http://127.0.0.1:" + std::to_string(server->port()) + "/"};
  req.body = std::string(100, 'x');
  auto resp = NewHttpClient()->Send(req);
  ASSERT_TRUE(resp.ok()) << resp.status().message();
  EXPECT_EQ(resp->status, 413);
}

TEST(HttpServerTest, AnswersAHandlerExceptionWith500) {
  auto server = Serve([](const HttpRequest&) -> HttpResponse { throw std::runtime_error("boom"); });
  auto resp = NewHttpClient()->Send({"GET", Base(*server) + "/"});
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->status, 500);
  EXPECT_NE(resp->body.find("boom"), std::string::npos);
}

TEST(HttpServerTest, FailsToBindABusyPort) {
  auto first = Serve([](const HttpRequest&) { return HttpResponse::Text(200, ""); });
  HttpServerOptions opts;
  opts.port = first->port();
  auto second =
      HttpServer::Start(opts, [](const HttpRequest&) { return HttpResponse::Text(200, ""); });
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("cannot listen on 127.0.0.1:"), std::string::npos);
}

}  // namespace
}  // namespace galley::net
