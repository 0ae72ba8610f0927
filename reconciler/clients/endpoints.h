// SPDX-License-Identifier: Apache-2.0
// Endpoints: where galley's Marathon and Consul are and how to authenticate, resolved from
// (highest first) command-line flags, galley's environment variables, Consul's own
// environment variables, and galley.yaml (DESIGN §7.7):
//   GALLEY_MARATHON_URL (comma-separated for failover), GALLEY_MARATHON_USER +
//   GALLEY_MARATHON_PASSWORD (basic auth) or GALLEY_MARATHON_TOKEN (DC/OS
//   "Authorization: token=..."), GALLEY_CONSUL_URL, CONSUL_HTTP_ADDR (host:port or URL),
//   CONSUL_HTTP_TOKEN, CONSUL_CACERT, GALLEY_CA_FILE.
// Decisions (issue #4):
//   - Marathon URLs: --marathon (each value may be comma-separated) > GALLEY_MARATHON_URL >
//     galley.yaml marathon.urls; the first source that gives any URL wins whole.
//   - Consul URL: --consul > GALLEY_CONSUL_URL > CONSUL_HTTP_ADDR > galley.yaml consul.url.
//     CONSUL_HTTP_ADDR may be "host:port" (http://, or https:// when CONSUL_HTTP_SSL is a
//     true Go boolean, as Consul's CLI does) or a URL (its https:// is honoured).
//   - URLs must be http(s) with a host and no query; trailing slashes are dropped, a path
//     (DC/OS "/service/marathon") is kept. Errors name the source: "GALLEY_MARATHON_URL:
//     'ftp://x' is not an http(s) URL". No URL at all for either API is an error.
//   - Marathon auth: basic (GALLEY_MARATHON_USER and GALLEY_MARATHON_PASSWORD, both or
//     neither) or GALLEY_MARATHON_TOKEN, never both: setting the token together with either
//     basic variable is an error ("set either ... or ..., not both") rather than a silent
//     choice (python3-marathon refuses both as well).
//   - Consul token: CONSUL_HTTP_TOKEN. CA file: GALLEY_CA_FILE for both APIs, else
//     CONSUL_CACERT for Consul.
//   - Blank variables count as unset.
//   - `apply PLANFILE`: the plan's own endpoints come after all of these (EndpointFlags'
//     fallback); each endpoint records its source.
//   - Messages never show a URL's credentials (net::RedactUrl).
//   - Chronos (issue #16) is optional: --chronos > GALLEY_CHRONOS_URL > galley.yaml
//     chronos.url > a saved plan's chronos_url; none of them = no Chronos (an empty url, not
//     an error). Basic auth: GALLEY_CHRONOS_USER and GALLEY_CHRONOS_PASSWORD, both or neither
//     (checked even when no URL is set). GALLEY_CA_FILE applies to it too.
// Pure: the environment is passed in as a map, so tests need not touch the process's.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "clients/chronos_client.h"
#include "model/desired_state.h"

namespace galley::clients {

struct MarathonEndpoint {
  std::vector<std::string> urls;  // tried in order; the first that answers wins
  std::string basic_user, basic_password;
  std::string token;  // DC/OS ACS token: "Authorization: token=<token>"
  std::string ca_file;
  std::string source;  // where the URLs came from: "--marathon", "GALLEY_MARATHON_URL", ...
};

struct ConsulEndpoint {
  std::string url;
  std::string token;  // X-Consul-Token
  std::string ca_file;
  std::string source;  // where the URL came from: "--consul", "CONSUL_HTTP_ADDR", ...
};

struct Endpoints {
  MarathonEndpoint marathon;
  ConsulEndpoint consul;
  ChronosEndpoint chronos;  // url "" = no Chronos configured
};

struct EndpointFlags {
  std::vector<std::string> marathon_urls;  // --marathon (repeatable or comma-separated)
  std::string consul_url;                  // --consul
  std::string chronos_url;                 // --chronos
  // The endpoints a saved plan was made against (`apply PLANFILE`): the last resort, after
  // galley.yaml; `fallback_source` names them in messages and in `source` (the plan file).
  std::vector<std::string> fallback_marathon_urls;
  std::string fallback_consul_url;
  std::string fallback_chronos_url;
  std::string fallback_source;
};

// Fails with kInvalidArgument naming the source of a malformed URL.
Result<Endpoints> ResolveEndpoints(const model::Platform& platform, const EndpointFlags& flags,
                                   const std::map<std::string, std::string>& env);

// The process environment as a map, for ResolveEndpoints.
std::map<std::string, std::string> ProcessEnvironment();

}  // namespace galley::clients
