# SPDX-License-Identifier: Apache-2.0
# Turns every file of ${ASSET_DIR} ending in .css or .js into ${OUT}, a C++ file with
# server::DashboardAsset(name) (see server/dashboard_assets.h), so `galley serve` needs no
# files at run time: the same mechanism as the store's SQL migrations
# (store/embed_migrations.cmake). Run as
#   cmake -DASSET_DIR=<dir> -DOUT=<file.cc> -P embed_assets.cmake
# The bytes are written as an array, so no text in an asset can break the generated code.

if(NOT ASSET_DIR OR NOT OUT)
  message(FATAL_ERROR "embed_assets.cmake: pass -DASSET_DIR=... -DOUT=...")
endif()

file(GLOB files RELATIVE "${ASSET_DIR}" "${ASSET_DIR}/*.css" "${ASSET_DIR}/*.js")
list(SORT files)

set(arrays "")
set(entries "")
set(n 0)
foreach(name IN LISTS files)
  if(NOT name MATCHES "^[a-z0-9_-]+\\.(css|js)$")
    message(FATAL_ERROR "reconciler/server/dashboard/${name}: asset names are lower-case [a-z0-9_-] with .css or .js")
  endif()
  file(READ "${ASSET_DIR}/${name}" hex HEX)
  string(LENGTH "${hex}" hexlen)
  math(EXPR size "${hexlen} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
  string(REPLACE "'\\x0a'," "'\\x0a',\n    " bytes "${bytes}")
  string(APPEND arrays "// ${name}\nconst char kAsset${n}[] = {\n    ${bytes}'\\0'};\n\n")
  string(APPEND entries "    {\"${name}\", std::string_view(kAsset${n}, ${size})},\n")
  math(EXPR n "${n} + 1")
endforeach()
if(n EQUAL 0)
  message(FATAL_ERROR "no assets in ${ASSET_DIR}")
endif()

set(content "// Generated from reconciler/server/dashboard/*.{css,js} by embed_assets.cmake. Do not edit.
#include \"server/dashboard_assets.h\"

#include <utility>

namespace galley::server {
namespace {

${arrays}const std::pair<std::string_view, std::string_view> kAssets[] = {
${entries}};

}  // namespace

std::optional<std::string_view> DashboardAsset(std::string_view name) {
  for (const auto& [n, body] : kAssets) {
    if (n == name) return body;
  }
  return std::nullopt;
}

}  // namespace galley::server
")

if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
  if(old STREQUAL content)
    return()
  endif()
endif()
file(WRITE "${OUT}" "${content}")
