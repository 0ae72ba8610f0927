// SPDX-License-Identifier: Apache-2.0
// The registry emulator (DESIGN §8 point 16): the read-only subset of the Docker Registry
// HTTP API v2 galley's preflight and `skopeo inspect` use (shared/reference/registry-api.md
// §9): `GET /v2/`, manifests and blobs by tag or digest (GET and HEAD, Content-Type, exact
// Content-Length, Docker-Content-Digest, Etag; every stored type is served whatever the
// Accept header says: net::HttpServer keeps one value of a repeated header, so content
// negotiation is not emulated), tags list with n/last/Link, the error
// envelope, and authentication: none, Bearer (challenge on `/v2/`, token endpoint `/token`
// with optional Basic credentials, `insufficient_scope`) or Basic. Samples are served byte for
// byte (digests = sha256 of the stored bytes). Images are added with AddImage, a flag of
// galley-sandbox, or `PUT /_sandbox/images/<name>:<tag>` (DELETE removes the tag); that admin
// path is never authenticated (a loopback test tool). Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "base/status.h"
#include "net/http_types.h"

namespace galley::sandbox::registry {

struct RegistryOptions {
  enum class Auth { kNone, kBearer, kBasic };
  Auth auth = Auth::kNone;
  std::string user, password;  // required credentials (Basic; Bearer: on the token request)
  std::string service = "galley-sandbox-registry";
  std::string token_realm;  // Bearer: absolute URL of /token; set once the port is known
};

class RegistryEmulator {
 public:
  explicit RegistryEmulator(RegistryOptions options);

  // Loads a folder laid out like shared/reference/registry-api/ (digests.json naming the
  // repository, its tags and each file's media type); every file's sha256 must match.
  Status LoadSamples(const std::string& dir);
  // A synthetic single-platform image (schema 2 manifest + config blob) at name:tag.
  Status AddImage(const std::string& name, const std::string& tag);
  bool RemoveTag(const std::string& name, const std::string& tag);
  void set_token_realm(const std::string& realm);

  net::HttpResponse Handle(const net::HttpRequest& request);

 private:
  struct Blob {
    std::string media_type;
    std::string bytes;
    std::string digest;
  };
  net::HttpResponse Route(const net::HttpRequest& r);
  net::HttpResponse HandleV2(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse Token(const net::HttpRequest& r);
  net::HttpResponse Admin(const net::HttpRequest& r);
  // nullopt when allowed; else the 401 to answer.
  std::optional<net::HttpResponse> Authorize(const net::HttpRequest& r, const std::string& name);
  net::HttpResponse Manifest(const net::HttpRequest& r, const std::string& name,
                             const std::string& ref);
  net::HttpResponse BlobAnswer(const net::HttpRequest& r, const std::string& name,
                               const std::string& digest);
  net::HttpResponse Tags(const net::HttpRequest& r, const std::string& name);
  std::string StoreLocked(Blob b, bool manifest);

  RegistryOptions o_;
  std::mutex mu_;
  std::map<std::string, Blob> manifests_;                            // by digest
  std::map<std::string, Blob> blobs_;                                // by digest
  std::map<std::string, std::map<std::string, std::string>> repos_;  // name → tag → digest
  std::map<std::string, std::set<std::string>> tokens_;  // token → repositories granted
  uint64_t next_token_ = 1;
};

}  // namespace galley::sandbox::registry
