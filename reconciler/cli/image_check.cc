// SPDX-License-Identifier: Apache-2.0
#include "cli/image_check.h"

#include <memory>

#include "clients/registry_client.h"
#include "engine/image_preflight.h"
#include "net/http_client.h"

namespace galley::cli {

void AddImageCheckOptions(CommandLine& cl, ImageCheckOptions* o) {
  cl.Value("--registry", "URL", &o->registry_url,
           "the image registry's API (Docker Registry v2) for the image preflight; default "
           "GALLEY_REGISTRY_URL");
  cl.Flag("--skip-image-check", &o->skip,
          "do not check that the images to deploy exist in the registry");
}

Result<ImageCheck> MakeImageCheck(const model::Platform& platform, const ImageCheckOptions& o,
                                  const std::map<std::string, std::string>& env) {
  if (o.skip) return ImageCheck();
  auto ep = clients::ResolveRegistry(platform, o.registry_url, env);
  if (!ep.ok()) return ep.status();
  if (ep->url.empty()) return ImageCheck();
  net::HttpClientOptions http_options;
  http_options.ca_file = ep->ca_file;
  std::shared_ptr<net::HttpClient> http = net::NewHttpClient(http_options);
  std::string host = ep->host;
  auto registry = std::shared_ptr<clients::ImageRegistry>(
      clients::NewRegistryClient(std::move(*ep), std::move(http)));
  auto preflight = std::make_shared<engine::ImagePreflight>(registry.get(), host);
  return ImageCheck([registry, preflight](engine::Plan& plan) { return preflight->Check(plan); });
}

}  // namespace galley::cli
