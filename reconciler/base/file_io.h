// SPDX-License-Identifier: Apache-2.0
// Whole-file reads with a size bound and atomic whole-file writes (write a temporary file in
// the same directory, fsync, rename), so a reader never sees a half-written file.
// Thread-safe (no shared state).
#pragma once

#include <cstddef>
#include <string>

#include "base/status.h"

namespace galley {

// Reads the whole file; fails with kInvalidArgument when it is larger than max_bytes
// (the message says how large it is) or not a regular file (a FIFO, socket or device is
// refused before it is opened, so it never blocks), kNotFound when it does not exist.
Result<std::string> ReadFileBounded(const std::string& path, size_t max_bytes);

// Replaces `path` with `content` atomically; creates missing parent directories. With
// `durable`, the data is fsync'ed before the rename (state files); without it (generated
// artifacts) a crash may lose the new file but never leaves a partial one in its place.
Status WriteFileAtomic(const std::string& path, const std::string& content, bool durable = true);

// Writes `content` to `path` in place (create or truncate; no fsync, no rename). Only for
// files inside a private staging directory that is itself moved into place afterwards.
// REQUIRES: the parent directory exists.
Status WriteFilePlain(const std::string& path, const std::string& content);

// "1.5 MiB", "512 bytes".
std::string HumanBytes(size_t n);

}  // namespace galley
