// SPDX-License-Identifier: Apache-2.0
// Builds the planner's desired side from the loaded repository: the rendered Marathon app of
// every service × environment (with the galley.config-digest label, unless the platform's
// wrapper restarts on KV changes itself), and every owned KV entry. Secret values come
// through a resolver (the environment and files at plan/apply time); they are used for
// HMACs and the apply body, never stored or printed. Pure apart from the resolver.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/planner.h"
#include "model/desired_state.h"

namespace galley::engine {

inline constexpr char kConfigDigestLabel[] = "galley.config-digest";
inline constexpr char kDigestUnknown[] = "(known after apply)";

// A secret's source as plans carry it: "env:NAME" or "file:/path".
std::string SecretSource(const model::ConfigValue& v);
// Reads a secret from its source, the same way at plan and at apply time: a variable of
// `env` (an empty one counts as unset), or a file of at most 1 MiB with one trailing newline
// dropped (files usually end with one). Errors name the variable or the file.
Result<std::string> ReadSecret(const std::string& source,
                               const std::map<std::string, std::string>& env);

// Every secret applying `plan` reads — KV puts carrying a secret source, and the config of
// apps whose digest is computed at apply — read once each through `read_secret`: one line
// per key that cannot be read, "<key> (service S, environment E): <why, naming the variable
// or file>", in key order. Empty when all can be read (or the plan reads none).
std::vector<std::string> UnreadableSecrets(
    const Plan& plan, const std::function<Result<std::string>(const std::string&)>& read_secret);

using SecretResolver = std::function<std::optional<std::string>(const model::ConfigValue&)>;
// Literals as they are; secrets through ReadSecret (nullopt when unavailable).
SecretResolver EnvironmentSecrets(std::map<std::string, std::string> env);

struct DesiredSet {
  std::vector<DesiredApp> apps;
  std::vector<DesiredKv> kv;
};

// `hmac_key` empty: no key exists yet (nothing applied); config digests are then
// kDigestUnknown. `applied_kv` (key → HMAC last applied) stands in for secrets whose
// source is unavailable, so the digest stays comparable.
DesiredSet BuildDesired(const model::DesiredState& state, const SecretResolver& secrets,
                        const std::string& hmac_key,
                        const std::map<std::string, std::string>& applied_kv);

// HMAC-SHA256 over the sorted "KEY=<HMAC of value>" lines; empty optional when a value's
// HMAC is unknown.
std::optional<std::string> ConfigDigest(
    const std::string& hmac_key,
    const std::map<std::string, std::optional<std::string>>& value_hmacs);

// What a plan's desired state is, for telling whether a repository still declares what a
// saved plan was made from (`apply PLANFILE DIR`), whatever its commit id: for each
// "<env>/<service>" in scope, the sha256 of its rendered app (without the
// galley.config-digest label, which depends on secret values, not on the repository), its
// ignore list, paused flag and KV entries (literal values; secrets by their source); and
// "(platform)" for the platform-wide keys and the LB models (their digests) when no --target
// narrows the scope.
std::map<std::string, std::string> DesiredDigests(const std::vector<DesiredApp>& apps,
                                                  const std::vector<DesiredKv>& kv,
                                                  const std::vector<std::string>& environments,
                                                  const std::set<std::string>& targets,
                                                  const std::vector<DesiredModel>& models = {});
// Where `planned` and `now` (both from DesiredDigests) differ: "production/web: changed",
// "... : not in the plan", "... : only in the plan". Empty when equal.
std::vector<std::string> DesiredDifferences(const std::map<std::string, std::string>& planned,
                                            const std::map<std::string, std::string>& now);

// "/app/production/", ... and "app/production/", ... for the environments in the platform.
std::vector<std::string> ManagedAppPrefixes(const model::Platform& p);
std::vector<std::string> ManagedKvPrefixes(const model::Platform& p);
std::string EnvAppPrefix(const std::string& env);  // "/app/<env>/"
std::string EnvKvPrefix(const std::string& env);   // "app/<env>/"
// The environments, in name order, of app ids ("/app/<env>/...") and keys ("app/<env>/...")
// galley applied that `p` no longer declares: what removing an environment from Git leaves.
std::vector<std::string> RemovedEnvironments(const model::Platform& p,
                                             const std::vector<std::string>& applied);
// galley/<platform>/hmac-key and galley/<platform>/applied/
std::string HmacKeyKey(const model::Platform& p);
std::string AppliedPrefix(const model::Platform& p);

}  // namespace galley::engine
