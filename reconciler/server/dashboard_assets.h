// SPDX-License-Identifier: Apache-2.0
// The dashboard's static assets (reconciler/server/dashboard/*.css, *.js), embedded at build
// time by server/dashboard/embed_assets.cmake into a generated .cc, so `galley serve` needs
// no files at run time. Immutable data; thread-safe.
#pragma once

#include <optional>
#include <string_view>

namespace galley::server {

// The bytes of the asset named `name` ("app.js", "style.css"); nullopt when there is none.
std::optional<std::string_view> DashboardAsset(std::string_view name);

}  // namespace galley::server
