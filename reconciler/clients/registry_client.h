// SPDX-License-Identifier: Apache-2.0
// The image registry (Docker Registry HTTP API v2 / OCI distribution; reference:
// shared/reference/registry-api.md): does `name:tag` exist? One `GET /v2/` ping decides the
// authentication (none, Bearer token challenge, Basic), then `HEAD /v2/<name>/manifests/<tag>`
// with the four manifest types in Accept. Tokens are cached per scope for the client's life.
//
// Endpoint (like Marathon's and Consul's, DESIGN §7.7): the API URL from --registry, else
// GALLEY_REGISTRY_URL; galley.yaml's `registry:` is the image host it serves (the images whose
// name starts with it are checked against it). Credentials GALLEY_REGISTRY_USER +
// GALLEY_REGISTRY_PASSWORD (both or neither; Basic, or Basic on the token request), CA file
// GALLEY_REGISTRY_CA_FILE else GALLEY_CA_FILE; http:// URLs are plain HTTP. Credentials and
// tokens never appear in messages. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "base/status.h"
#include "model/desired_state.h"
#include "net/http_client.h"

namespace galley::clients {

struct RegistryEndpoint {
  std::string url;   // the API's base URL, no trailing slash; "" = no registry configured
  std::string host;  // the image-name prefix it serves (galley.yaml `registry:`), may be ""
  std::string user, password;
  std::string ca_file;
  std::string source;  // "--registry", "GALLEY_REGISTRY_URL"
};

// --registry (`flag_url`) > GALLEY_REGISTRY_URL. Nothing configured: url "" (no error).
Result<RegistryEndpoint> ResolveRegistry(const model::Platform& platform,
                                         const std::string& flag_url,
                                         const std::map<std::string, std::string>& env);

// One WWW-Authenticate challenge: `Bearer realm="...",service="...",scope="..."`.
struct Challenge {
  std::string scheme;  // lower case: "bearer", "basic"
  std::map<std::string, std::string> params;
};
std::optional<Challenge> ParseChallenge(const std::string& header);

// "registry.local/team/web:1.2" → {"registry.local", "team/web", "1.2"}. The registry part is
// the first component when it has a '.' or ':' or is "localhost" (as Docker decides).
struct ImageReference {
  std::string registry;
  std::string repository;
  std::string tag;
  std::string Text() const;
};
Result<ImageReference> ParseImageReference(const std::string& image);

struct ManifestCheck {
  bool exists = false;
  std::string digest;      // Docker-Content-Digest when it exists
  std::string media_type;  // Content-Type when it exists
  std::string detail;      // why not, when it does not ("manifest unknown", "no access")
};

class ImageRegistry {
 public:
  virtual ~ImageRegistry() = default;
  // exists=false: 404, or 401/403 with a fresh token (the registry will not say which).
  // Errors (kUnavailable unless said): unreachable, not a v2 registry, 401 without a
  // challenge, a token server answering garbage, 429 (rate limited), 5xx.
  virtual Result<ManifestCheck> CheckManifest(const std::string& repository,
                                              const std::string& tag) = 0;
  // The endpoint for messages (credentials redacted).
  virtual std::string Describe() const = 0;
};

std::unique_ptr<ImageRegistry> NewRegistryClient(RegistryEndpoint endpoint,
                                                 std::shared_ptr<net::HttpClient> http);

// The Accept header of a manifest check: OCI index, Docker list, OCI manifest, Docker schema 2.
extern const char kManifestAccept[];

}  // namespace galley::clients
