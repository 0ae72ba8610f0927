// SPDX-License-Identifier: Apache-2.0
// Which allocator serves malloc in this process, and giving freed memory back to the OS.
//
// Normal builds link the `galley` and `galley-sandbox` executables (and the agent's code) with
// mimalloc (GALLEY_MIMALLOC, CMakeLists.txt): a plan at 2,000 services x 3 environments builds
// and frees millions of small JSON nodes, where glibc's malloc spent about a third of the CPU
// (bench/README.md, "The allocator"). Sanitizer builds keep their own allocator.
#pragma once

#include <string>

namespace galley {

// "mimalloc 2.0.9" when malloc()/calloc() return mimalloc's memory in this process (checked, not
// assumed: a library loaded before mimalloc could win the symbol), else "glibc malloc".
std::string AllocatorName();

// For long-running processes (`galley agent`, `galley serve`): freed pages go back to the OS
// promptly instead of staying in the allocator for reuse (mimalloc: no eager commit of whole
// segments, pages reset when freed, no decommit delay). A short command keeps the defaults,
// which are faster. Call before the process's threads start.
void PreferLowResidentMemory();

// Returns freed memory to the OS now: mimalloc's collect, and glibc's malloc_trim for what
// glibc's arenas hold. For a long-running process after it dropped a large structure.
void ReleaseFreeMemory();

}  // namespace galley
