# SPDX-License-Identifier: Apache-2.0
# Turns every ${SQL_DIR}/NNNN_name.sql into ${OUT}, a C++ file holding the ordered list of
# migrations (see store/migrations.h), so galley needs no files at run time. Run as
#   cmake -DSQL_DIR=<dir> -DOUT=<file.cc> -P embed_migrations.cmake
# Versions must run 1, 2, 3, ... without gaps or duplicates; anything else fails the build.
# The SQL is written as a byte array, so no text in a migration can break the generated code.

if(NOT SQL_DIR OR NOT OUT)
  message(FATAL_ERROR "embed_migrations.cmake: pass -DSQL_DIR=... -DOUT=...")
endif()

file(GLOB files RELATIVE "${SQL_DIR}" "${SQL_DIR}/*.sql")
list(SORT files)

set(arrays "")
set(entries "")
set(expected 1)
foreach(name IN LISTS files)
  if(NOT name MATCHES "^([0-9]+)_([a-z0-9_]+)\\.sql$")
    message(FATAL_ERROR "state/migrations/${name}: migration files are named NNNN_lower_snake.sql")
  endif()
  set(digits "${CMAKE_MATCH_1}")
  string(REGEX REPLACE "^0+" "" version "${digits}")
  if(NOT version EQUAL expected)
    message(FATAL_ERROR "state/migrations/${name}: expected version ${expected} next "
                        "(versions run 1, 2, 3, ... without gaps or duplicates)")
  endif()
  string(REGEX REPLACE "\\.sql$" "" stem "${name}")
  file(READ "${SQL_DIR}/${name}" hex HEX)
  if(hex STREQUAL "")
    message(FATAL_ERROR "state/migrations/${name}: empty migration")
  endif()
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
  # One line of the initializer per line of SQL.
  string(REPLACE "'\\x0a'," "'\\x0a',\n    " bytes "${bytes}")
  string(APPEND arrays "// ${name}\nconst char kSql${version}[] = {\n    ${bytes}'\\0'};\n\n")
  string(APPEND entries "    {${version}, \"${stem}\", kSql${version}},\n")
  math(EXPR expected "${expected} + 1")
endforeach()
math(EXPR count "${expected} - 1")
if(count EQUAL 0)
  message(FATAL_ERROR "no migrations in ${SQL_DIR}")
endif()

set(content "// Generated from state/migrations/*.sql by reconciler/store/embed_migrations.cmake.
// Do not edit.
#include \"store/migrations.h\"

namespace galley::store {
namespace {

${arrays}const Migration kMigrations[] = {
${entries}};

}  // namespace

std::span<const Migration> Migrations() { return kMigrations; }

}  // namespace galley::store
")

# Rewrite only when the text changes, so an unchanged build does not recompile.
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
  if(old STREQUAL content)
    return()
  endif()
endif()
file(WRITE "${OUT}" "${content}")
