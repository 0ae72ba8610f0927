// SPDX-License-Identifier: Apache-2.0
#include "sandbox/registry/registry_emulator.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "base/digest.h"
#include "base/file_io.h"
#include "base/strings.h"

namespace galley::sandbox::registry {
namespace {

using nlohmann::json;

constexpr char kSchema2[] = "application/vnd.docker.distribution.manifest.v2+json";
constexpr char kList[] = "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr char kOciManifest[] = "application/vnd.oci.image.manifest.v1+json";
constexpr char kOciIndex[] = "application/vnd.oci.image.index.v1+json";
constexpr char kConfig[] = "application/vnd.docker.container.image.v1+json";

bool IsManifestType(const std::string& t) {
  return t == kSchema2 || t == kList || t == kOciManifest || t == kOciIndex ||
         t.find("manifest.v1+") != std::string::npos;
}

net::HttpResponse WithVersion(net::HttpResponse r) {
  r.headers["Docker-Distribution-API-Version"] = "registry/2.0";
  return r;
}

net::HttpResponse Error(int status, const std::string& code, const std::string& message,
                        const json& detail = nullptr) {
  json e = {{"code", code}, {"message", message}};
  if (!detail.is_null()) e["detail"] = detail;
  return WithVersion(net::HttpResponse::Json(status, json{{"errors", {e}}}.dump() + "\n"));
}

bool ValidName(const std::string& n) {
  if (n.empty() || n.size() >= 256) return false;
  for (const auto& part : Split(n, '/')) {
    if (part.empty()) return false;
    char f = part.front(), b = part.back();
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!alnum(f) || !alnum(b)) return false;
    for (char c : part) {
      if (!alnum(c) && c != '.' && c != '_' && c != '-') return false;
    }
  }
  return true;
}

std::string NowRfc3339() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

RegistryEmulator::RegistryEmulator(RegistryOptions options) : o_(std::move(options)) {}

void RegistryEmulator::set_token_realm(const std::string& realm) {
  std::lock_guard<std::mutex> lock(mu_);
  o_.token_realm = realm;
}

std::string RegistryEmulator::StoreLocked(Blob b, bool manifest) {
  b.digest = "sha256:" + Sha256Hex(b.bytes);
  std::string d = b.digest;
  (manifest ? manifests_ : blobs_)[d] = std::move(b);
  return d;
}

Status RegistryEmulator::LoadSamples(const std::string& dir) {
  auto index_text = ReadFileBounded(dir + "/digests.json", 1 << 20);
  if (!index_text.ok()) return index_text.status();
  json index = json::parse(*index_text, nullptr, false);
  if (!index.is_object() || !index.contains("files") || !index.contains("tags")) {
    return Status::InvalidArgument(dir + "/digests.json: not a samples index");
  }
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, std::string> digest_of_file;
  for (const auto& [file, meta] : index["files"].items()) {
    auto bytes = ReadFileBounded(dir + "/" + file, 1 << 20);
    if (!bytes.ok()) return bytes.status();
    Blob b{meta.value("mediaType", ""), *bytes, ""};
    bool manifest = IsManifestType(b.media_type);
    std::string d = StoreLocked(b, manifest);
    if (d != meta.value("digest", "")) {
      return Status::InvalidArgument(dir + "/" + file + ": sha256 is " + d +
                                     ", digests.json says " + meta.value("digest", ""));
    }
    if (!manifest) {
      // An OCI manifest names the same config bytes with the OCI config type.
      blobs_[d] = Blob{b.media_type, *bytes, d};
    }
    digest_of_file[file] = d;
  }
  std::string repo = index.value("repository", "");
  if (!ValidName(repo)) return Status::InvalidArgument(dir + ": bad repository name");
  for (const auto& [tag, file] : index["tags"].items()) {
    auto it = digest_of_file.find(file.get<std::string>());
    if (it == digest_of_file.end()) return Status::InvalidArgument("tag " + tag + ": no file");
    repos_[repo][tag] = it->second;
  }
  return Status::Ok();
}

Status RegistryEmulator::AddImage(const std::string& name, const std::string& tag) {
  if (!ValidName(name)) return Status::InvalidArgument("invalid repository name " + Quote(name));
  if (tag.empty() || tag.size() > 128) return Status::InvalidArgument("invalid tag");
  std::lock_guard<std::mutex> lock(mu_);
  json config = {
      {"architecture", "amd64"},
      {"os", "linux"},
      {"created", "2026-01-01T00:00:00Z"},
      {"config", {{"Labels", {{"org.opencontainers.image.ref.name", name + ":" + tag}}}}},
      {"rootfs", {{"type", "layers"}, {"diff_ids", json::array()}}}};
  std::string config_bytes = config.dump(3) + "\n";
  std::string config_digest = StoreLocked(Blob{kConfig, config_bytes, ""}, false);
  std::string layer = "layer of " + name + ":" + tag;
  json manifest = {
      {"schemaVersion", 2},
      {"mediaType", kSchema2},
      {"config",
       {{"mediaType", kConfig}, {"size", config_bytes.size()}, {"digest", config_digest}}},
      {"layers",
       {{{"mediaType", "application/vnd.docker.image.rootfs.diff.tar.gzip"},
         {"size", layer.size()},
         {"digest", "sha256:" + Sha256Hex(layer)}}}}};
  repos_[name][tag] = StoreLocked(Blob{kSchema2, manifest.dump(3) + "\n", ""}, true);
  return Status::Ok();
}

bool RegistryEmulator::RemoveTag(const std::string& name, const std::string& tag) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = repos_.find(name);
  return it != repos_.end() && it->second.erase(tag) > 0;
}

net::HttpResponse RegistryEmulator::Handle(const net::HttpRequest& r) {
  net::HttpResponse resp = Route(r);
  if (r.method != "HEAD") return resp;
  // A HEAD answer: the GET's headers and Content-Length, no body (RFC 9110 §9.3.2). Sent as
  // a bodiless stream (the server writes the head as given, then closes the connection).
  resp.headers["Content-Length"] = std::to_string(resp.body.size());
  resp.body.clear();
  resp.stream = [](net::StreamWriter&) {};
  return resp;
}

net::HttpResponse RegistryEmulator::Route(const net::HttpRequest& r) {
  const std::string& p = r.path;
  if (StartsWith(p, "/_sandbox/images/")) return Admin(r);
  if (p == "/token") return Token(r);
  if (p == "/v2" || StartsWith(p, "/v2/")) {
    if (r.method != "GET" && r.method != "HEAD") {
      return Error(405, "UNSUPPORTED", "The operation is unsupported.");
    }
    return HandleV2(r, p.substr(3));
  }
  return WithVersion(net::HttpResponse::Text(404, "404 page not found\n"));
}

net::HttpResponse RegistryEmulator::Admin(const net::HttpRequest& r) {
  std::string ref = r.path.substr(std::string("/_sandbox/images/").size());
  size_t colon = ref.rfind(':');
  if (colon == std::string::npos) return net::HttpResponse::Text(400, "want NAME:TAG\n");
  std::string name = ref.substr(0, colon), tag = ref.substr(colon + 1);
  if (r.method == "PUT") {
    Status s = AddImage(name, tag);
    return s.ok() ? net::HttpResponse::Json(200, "{}") : net::HttpResponse::Text(400, s.message());
  }
  if (r.method == "DELETE") {
    return RemoveTag(name, tag) ? net::HttpResponse::Json(200, "{}")
                                : net::HttpResponse::Text(404, "no such tag\n");
  }
  return net::HttpResponse::Text(405, "PUT or DELETE\n");
}

net::HttpResponse RegistryEmulator::Token(const net::HttpRequest& r) {
  std::lock_guard<std::mutex> lock(mu_);
  if (o_.auth != RegistryOptions::Auth::kBearer) return net::HttpResponse::Text(404, "no token\n");
  std::string auth = r.Header("Authorization");
  if (!o_.user.empty()) {
    std::string want = "Basic " + Base64Encode(o_.user + ":" + o_.password);
    if (auth != want) {
      return net::HttpResponse::Json(401, R"({"details":"incorrect username or password"})"
                                          "\n");
    }
  }
  std::set<std::string> granted;
  for (const auto& scope : r.QueryAll("scope")) {
    for (const auto& one : Split(scope, ' ')) {
      auto parts = Split(one, ':');
      if (parts.size() == 3 && parts[0] == "repository") granted.insert(parts[1]);
    }
  }
  uint64_t serial = next_token_++;
  std::string token = "sandbox-token-" + std::to_string(serial) + "-" +
                      Sha256Hex(std::to_string(serial) + o_.service).substr(0, 16);
  tokens_[token] = granted;
  json answer = {
      {"token", token}, {"access_token", token}, {"expires_in", 300}, {"issued_at", NowRfc3339()}};
  return net::HttpResponse::Json(200, answer.dump() + "\n");
}

std::optional<net::HttpResponse> RegistryEmulator::Authorize(const net::HttpRequest& r,
                                                             const std::string& name) {
  std::string auth = r.Header("Authorization");
  json detail = nullptr;
  if (!name.empty()) {
    detail =
        json::array({{{"Type", "repository"}, {"Class", ""}, {"Name", name}, {"Action", "pull"}}});
  }
  if (o_.auth == RegistryOptions::Auth::kNone) return std::nullopt;
  if (o_.auth == RegistryOptions::Auth::kBasic) {
    if (auth == "Basic " + Base64Encode(o_.user + ":" + o_.password)) return std::nullopt;
    auto resp = Error(401, "UNAUTHORIZED", "authentication required", detail);
    resp.headers["WWW-Authenticate"] = "Basic realm=\"" + o_.service + "\"";
    return resp;
  }
  std::string error;
  if (StartsWith(auth, "Bearer ")) {
    auto it = tokens_.find(auth.substr(7));
    if (it == tokens_.end()) {
      error = "invalid_token";
    } else if (name.empty() || it->second.count(name)) {
      return std::nullopt;
    } else {
      error = "insufficient_scope";
    }
  }
  std::string challenge = "Bearer realm=\"" + o_.token_realm + "\",service=\"" + o_.service + "\"";
  if (!name.empty()) challenge += ",scope=\"repository:" + name + ":pull\"";
  if (!error.empty()) challenge += ",error=\"" + error + "\"";
  auto resp = Error(401, "UNAUTHORIZED", "authentication required", detail);
  resp.headers["WWW-Authenticate"] = challenge;
  return resp;
}

net::HttpResponse RegistryEmulator::HandleV2(const net::HttpRequest& r, const std::string& rest) {
  std::lock_guard<std::mutex> lock(mu_);
  if (rest.empty() || rest == "/") {
    if (auto denied = Authorize(r, "")) return *denied;
    return WithVersion(net::HttpResponse::Json(200, "{}"));
  }
  std::string name, kind, ref;
  for (const char* k : {"/manifests/", "/blobs/"}) {
    size_t at = rest.rfind(k);
    if (at != std::string::npos) {
      name = rest.substr(1, at - 1);
      kind = k;
      ref = rest.substr(at + std::string(k).size());
      break;
    }
  }
  if (kind.empty() && EndsWith(rest, "/tags/list")) {
    name = rest.substr(1, rest.size() - 1 - std::string("/tags/list").size());
    kind = "tags";
  }
  if (kind.empty()) return WithVersion(net::HttpResponse::Text(404, "404 page not found\n"));
  if (!ValidName(name)) {
    return Error(400, "NAME_INVALID", "invalid repository name", json{{"name", name}});
  }
  if (auto denied = Authorize(r, name)) return *denied;
  if (kind == "/manifests/") return Manifest(r, name, ref);
  if (kind == "/blobs/") return BlobAnswer(r, name, ref);
  return Tags(r, name);
}

net::HttpResponse RegistryEmulator::Manifest(const net::HttpRequest& r, const std::string& name,
                                             const std::string& ref) {
  auto repo = repos_.find(name);
  bool by_digest = StartsWith(ref, "sha256:");
  std::string digest;
  if (repo != repos_.end()) {
    if (by_digest) {
      digest = manifests_.count(ref) ? ref : "";
    } else if (auto it = repo->second.find(ref); it != repo->second.end()) {
      digest = it->second;
    }
  }
  if (digest.empty()) {
    json detail = by_digest ? json{{"Name", name}, {"Revision", ref}} : json{{"Tag", ref}};
    return Error(404, "MANIFEST_UNKNOWN", "manifest unknown", detail);
  }
  // Content negotiation (the OCI-not-accepted 404, a list's amd64 fallback) is not emulated:
  // net::HttpServer keeps one value of a repeated header, and skopeo sends one Accept line
  // per type. Every client here accepts every stored type.
  const Blob* b = &manifests_.at(digest);
  std::string etag = "\"" + b->digest + "\"";
  std::string inm = r.Header("If-None-Match");
  if (!inm.empty() && (inm == etag || inm == b->digest)) {
    auto nm = WithVersion(net::HttpResponse::Text(304, ""));
    nm.headers.erase("Content-Type");
    return nm;
  }
  net::HttpResponse resp;
  resp.status = 200;
  resp.headers["Content-Type"] = b->media_type;
  resp.headers["Docker-Content-Digest"] = b->digest;
  resp.headers["Etag"] = etag;
  resp.body = b->bytes;  // Handle() keeps only the head for a HEAD request
  return WithVersion(std::move(resp));
}

net::HttpResponse RegistryEmulator::BlobAnswer(const net::HttpRequest&, const std::string& name,
                                               const std::string& digest) {
  auto it = blobs_.find(digest);
  if (!repos_.count(name) || it == blobs_.end()) {
    return Error(404, "BLOB_UNKNOWN", "blob unknown to registry", json(digest));
  }
  net::HttpResponse resp;
  resp.status = 200;
  resp.headers["Content-Type"] = "application/octet-stream";
  resp.headers["Docker-Content-Digest"] = digest;
  resp.headers["Etag"] = "\"" + digest + "\"";
  resp.body = it->second.bytes;
  return WithVersion(std::move(resp));
}

net::HttpResponse RegistryEmulator::Tags(const net::HttpRequest& r, const std::string& name) {
  auto repo = repos_.find(name);
  if (repo == repos_.end() || repo->second.empty()) {
    return Error(404, "NAME_UNKNOWN", "repository name not known to registry",
                 json{{"name", name}});
  }
  std::vector<std::string> tags;
  for (const auto& [t, d] : repo->second) tags.push_back(t);  // std::map: lexical order
  std::string last = r.Query("last").value_or("");
  long n = -1;
  if (auto nq = r.Query("n")) {
    try {
      n = std::stol(*nq);
    } catch (const std::exception&) {
      n = -2;
    }
    if (n < 0) {
      return Error(400, "PAGINATION_NUMBER_INVALID", "invalid number of results requested",
                   json{{"n", *nq}});
    }
  }
  std::vector<std::string> page;
  for (const auto& t : tags) {
    if (!last.empty() && t <= last) continue;
    page.push_back(t);
  }
  bool more = n >= 0 && static_cast<long>(page.size()) > n;
  if (n >= 0 && static_cast<long>(page.size()) > n) page.resize(static_cast<size_t>(n));
  auto resp =
      WithVersion(net::HttpResponse::Json(200, json{{"name", name}, {"tags", page}}.dump() + "\n"));
  if (more && !page.empty()) {
    resp.headers["Link"] = "</v2/" + name + "/tags/list?last=" + page.back() +
                           "&n=" + std::to_string(n) + ">; rel=\"next\"";
  }
  return resp;
}

}  // namespace galley::sandbox::registry
