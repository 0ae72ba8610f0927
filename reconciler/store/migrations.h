// SPDX-License-Identifier: Apache-2.0
// The schema migrations, embedded at build time from state/migrations/NNNN_name.sql by
// embed_migrations.cmake (the generated migrations_data.cc defines Migrations()).
// Private to store/ and its tests. Immutable data; thread-safe.
#pragma once

#include <span>

namespace galley::store {

struct Migration {
  int version;       // NNNN: 1, 2, 3, ... in order, no gaps
  const char* name;  // "0001_initial"
  const char* sql;   // the file's text, run in one transaction
};

// Every migration this galley knows, oldest first; Migrations().size() is the newest
// schema version.
std::span<const Migration> Migrations();

}  // namespace galley::store
