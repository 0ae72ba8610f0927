// SPDX-License-Identifier: Apache-2.0
#include "clients/registry_client.h"

#include <algorithm>
#include <cctype>
#include <mutex>

#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "base/strings.h"
#include "net/http_types.h"
#include "net/url.h"

namespace galley::clients {

const char kManifestAccept[] =
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

namespace {

std::optional<std::string> Var(const std::map<std::string, std::string>& env,
                               const std::string& name) {
  auto it = env.find(name);
  if (it == env.end()) return std::nullopt;
  std::string v = it->second;
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.pop_back();
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.erase(0, 1);
  if (v.empty()) return std::nullopt;
  return v;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

class RegistryClient final : public ImageRegistry {
 public:
  RegistryClient(RegistryEndpoint ep, std::shared_ptr<net::HttpClient> http)
      : ep_(std::move(ep)), http_(std::move(http)) {}

  std::string Describe() const override { return "registry " + net::RedactUrl(ep_.url); }

  Result<ManifestCheck> CheckManifest(const std::string& repository,
                                      const std::string& tag) override {
    if (Status s = Ping(); !s.ok()) return s;
    const std::string scope = "repository:" + repository + ":pull";
    bool fresh = false;
    for (int attempt = 0; attempt < 2; ++attempt) {
      net::ClientRequest req;
      req.method = "HEAD";
      req.url = ep_.url + "/v2/" + repository + "/manifests/" + net::PercentEncode(tag);
      req.headers["Accept"] = kManifestAccept;
      req.headers["Docker-Distribution-API-Version"] = "registry/2.0";
      auto auth = Authorization(scope, attempt > 0, &fresh);
      if (!auth.ok()) return auth.status();
      if (!auth->empty()) req.headers["Authorization"] = *auth;
      auto resp = http_->Send(req);
      if (!resp.ok()) return Status::Unavailable(Describe() + ": " + Redacted(resp.status()));
      ManifestCheck c;
      switch (resp->status) {
        case 200:
          c.exists = true;
          c.digest = resp->Header("Docker-Content-Digest");
          c.media_type = resp->Header("Content-Type");
          return c;
        case 404:
          c.detail = "manifest unknown";
          return c;
        case 401:
        case 403:
          if (mode_ == Mode::kBearer && !fresh) continue;  // once more with a new token
          c.detail =
              resp->status == 401 ? "missing or no access (401)" : "missing or no access (403)";
          return c;
        case 429:
          return Status::Unavailable(Describe() + ": rate limited (429 Too Many Requests" +
                                     (resp->Header("Retry-After").empty()
                                          ? std::string()
                                          : ", Retry-After " + resp->Header("Retry-After")) +
                                     ")");
        default:
          return Status::Unavailable(Describe() + ": HEAD /v2/" + repository + "/manifests/" + tag +
                                     " answered " + std::to_string(resp->status));
      }
    }
    return Status::Internal("unreachable");
  }

 private:
  enum class Mode { kUnknown, kNone, kBearer, kBasic };

  std::string Redacted(const Status& s) const { return net::RedactUrl(s.message()); }

  Status Ping() {
    std::lock_guard<std::mutex> lock(mu_);
    if (mode_ != Mode::kUnknown) return Status::Ok();
    net::ClientRequest req;
    req.url = ep_.url + "/v2/";
    req.headers["Docker-Distribution-API-Version"] = "registry/2.0";
    auto resp = http_->Send(req);
    if (!resp.ok()) {
      return Status::Unavailable(Describe() + " is unreachable: " + Redacted(resp.status()) +
                                 " (--skip-image-check plans without the image check)");
    }
    if (resp->status == 200) {
      mode_ = Mode::kNone;
      return Status::Ok();
    }
    if (resp->status != 401) {
      return Status::Unavailable(Describe() + " is not a Docker registry v2: GET /v2/ answered " +
                                 std::to_string(resp->status));
    }
    std::string header = resp->Header("WWW-Authenticate");
    auto ch = ParseChallenge(header);
    if (!ch) {
      return Status::Unavailable(Describe() +
                                 ": GET /v2/ answered 401 without a usable WWW-Authenticate "
                                 "challenge; cannot authenticate");
    }
    if (ch->scheme == "basic") {
      if (ep_.user.empty()) {
        return Status::PermissionDenied(Describe() +
                                        " asks for Basic authentication: set "
                                        "GALLEY_REGISTRY_USER and GALLEY_REGISTRY_PASSWORD");
      }
      mode_ = Mode::kBasic;
      return Status::Ok();
    }
    if (ch->scheme == "bearer" && ch->params.count("realm") && !ch->params["realm"].empty()) {
      realm_ = ch->params["realm"];
      service_ = ch->params.count("service") ? ch->params["service"] : "";
      mode_ = Mode::kBearer;
      return Status::Ok();
    }
    return Status::Unavailable(Describe() + ": unsupported authentication challenge (" +
                               Truncate(header, 120) + ")");
  }

  std::string BasicHeader() const { return "Basic " + Base64Encode(ep_.user + ":" + ep_.password); }

  // The Authorization header for `scope` ("" when none is needed); a new token when
  // `renew`, saying so in *fresh.
  Result<std::string> Authorization(const std::string& scope, bool renew, bool* fresh) {
    std::lock_guard<std::mutex> lock(mu_);
    if (mode_ == Mode::kNone) return std::string();
    if (mode_ == Mode::kBasic) return BasicHeader();
    auto it = tokens_.find(scope);
    if (it != tokens_.end() && !renew) return "Bearer " + it->second;
    net::ClientRequest req;
    req.url = realm_ + (realm_.find('?') == std::string::npos ? "?" : "&") +
              "service=" + net::PercentEncode(service_) + "&scope=" + net::PercentEncode(scope);
    if (!ep_.user.empty()) {
      req.url += "&account=" + net::PercentEncode(ep_.user);
      req.headers["Authorization"] = BasicHeader();
    }
    auto resp = http_->Send(req);
    if (!resp.ok()) {
      return Status::Unavailable(Describe() +
                                 ": token server unreachable: " + Redacted(resp.status()));
    }
    if (resp->status == 401 || resp->status == 403) {
      return Status::PermissionDenied(Describe() + ": the token server refused the credentials (" +
                                      std::to_string(resp->status) + ")");
    }
    if (resp->status != 200) {
      return Status::Unavailable(Describe() + ": the token server answered " +
                                 std::to_string(resp->status));
    }
    auto j = nlohmann::json::parse(resp->body, nullptr, false);
    std::string token;
    if (j.is_object()) {
      if (j.contains("token") && j["token"].is_string()) token = j["token"].get<std::string>();
      if (token.empty() && j.contains("access_token") && j["access_token"].is_string()) {
        token = j["access_token"].get<std::string>();
      }
    }
    if (token.empty() || token.find_first_of("\r\n") != std::string::npos) {
      return Status::Unavailable(Describe() +
                                 ": the token server answered no token (not a JSON object with "
                                 "\"token\" or \"access_token\")");
    }
    tokens_[scope] = token;
    *fresh = true;
    return "Bearer " + token;
  }

  RegistryEndpoint ep_;
  std::shared_ptr<net::HttpClient> http_;
  std::mutex mu_;
  Mode mode_ = Mode::kUnknown;
  std::string realm_, service_;
  std::map<std::string, std::string> tokens_;
};

}  // namespace

Result<RegistryEndpoint> ResolveRegistry(const model::Platform& platform,
                                         const std::string& flag_url,
                                         const std::map<std::string, std::string>& env) {
  RegistryEndpoint ep;
  ep.host = platform.registry;
  std::string raw;
  if (!flag_url.empty()) {
    raw = flag_url;
    ep.source = "--registry";
  } else if (auto v = Var(env, "GALLEY_REGISTRY_URL")) {
    raw = *v;
    ep.source = "GALLEY_REGISTRY_URL";
  }
  if (!raw.empty()) {
    std::string shown = net::RedactUrl(raw);
    std::string scheme = Lower(raw.substr(0, raw.find("://")));
    if (raw.find("://") == std::string::npos || (scheme != "http" && scheme != "https")) {
      return Status::InvalidArgument(ep.source + ": " + Quote(shown) + " is not an http(s) URL");
    }
    auto u = net::Url::Parse(raw);
    if (!u.ok() || u->host.empty()) {
      return Status::InvalidArgument(ep.source + ": " + Quote(shown) + " is not a valid URL");
    }
    if (raw.find('@') != std::string::npos) {
      return Status::InvalidArgument(ep.source + ": " + Quote(shown) +
                                     ": put credentials in GALLEY_REGISTRY_USER and "
                                     "GALLEY_REGISTRY_PASSWORD, not in the URL");
    }
    while (!raw.empty() && raw.back() == '/') raw.pop_back();
    ep.url = raw;
  }
  auto user = Var(env, "GALLEY_REGISTRY_USER");
  auto pass = Var(env, "GALLEY_REGISTRY_PASSWORD");
  if (user.has_value() != pass.has_value()) {
    return Status::InvalidArgument(
        "set both GALLEY_REGISTRY_USER and GALLEY_REGISTRY_PASSWORD, or neither");
  }
  if (user) {
    ep.user = *user;
    ep.password = *pass;
  }
  if (auto ca = Var(env, "GALLEY_REGISTRY_CA_FILE")) {
    ep.ca_file = *ca;
  } else if (auto ca2 = Var(env, "GALLEY_CA_FILE")) {
    ep.ca_file = *ca2;
  }
  return ep;
}

std::optional<Challenge> ParseChallenge(const std::string& header) {
  size_t i = 0;
  while (i < header.size() && header[i] == ' ') ++i;
  size_t s = i;
  while (i < header.size() && header[i] != ' ') ++i;
  if (i == s) return std::nullopt;
  Challenge c;
  c.scheme = Lower(header.substr(s, i - s));
  while (i < header.size()) {
    while (i < header.size() && (header[i] == ' ' || header[i] == ',')) ++i;
    size_t k = i;
    while (i < header.size() && header[i] != '=' && header[i] != ',') ++i;
    if (i >= header.size() || header[i] != '=') break;
    std::string key = Lower(header.substr(k, i - k));
    while (!key.empty() && key.back() == ' ') key.pop_back();
    ++i;
    std::string value;
    if (i < header.size() && header[i] == '"') {
      ++i;
      while (i < header.size() && header[i] != '"') {
        if (header[i] == '\\' && i + 1 < header.size()) ++i;
        value += header[i++];
      }
      if (i >= header.size()) return std::nullopt;  // unterminated
      ++i;
    } else {
      while (i < header.size() && header[i] != ',') value += header[i++];
    }
    c.params[key] = value;
  }
  return c;
}

std::string ImageReference::Text() const {
  return (registry.empty() ? "" : registry + "/") + repository + ":" + tag;
}

Result<ImageReference> ParseImageReference(const std::string& image) {
  ImageReference r;
  std::string rest = image;
  size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    std::string first = rest.substr(0, slash);
    if (first.find('.') != std::string::npos || first.find(':') != std::string::npos ||
        first == "localhost") {
      r.registry = first;
      rest = rest.substr(slash + 1);
    }
  }
  size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon + 1 == rest.size() ||
      rest.find('/', colon) != std::string::npos) {
    return Status::InvalidArgument("image " + Quote(image) + " has no tag");
  }
  r.repository = rest.substr(0, colon);
  r.tag = rest.substr(colon + 1);
  if (r.repository.empty())
    return Status::InvalidArgument("image " + Quote(image) + " has no name");
  for (char c : r.repository) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ||
          c == '/')) {
      return Status::InvalidArgument("image " + Quote(image) +
                                     ": repository names are lower-case letters, digits, '.', "
                                     "'_', '-' and '/'");
    }
  }
  return r;
}

std::unique_ptr<ImageRegistry> NewRegistryClient(RegistryEndpoint endpoint,
                                                 std::shared_ptr<net::HttpClient> http) {
  return std::make_unique<RegistryClient>(std::move(endpoint), std::move(http));
}

}  // namespace galley::clients
