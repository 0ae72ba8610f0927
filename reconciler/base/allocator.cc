// SPDX-License-Identifier: Apache-2.0
#include "base/allocator.h"

#include <cstdlib>

#include <malloc.h>

#ifdef GALLEY_WITH_MIMALLOC
#include <mimalloc.h>
#endif

namespace galley {

std::string AllocatorName() {
#ifdef GALLEY_WITH_MIMALLOC
  void* p = std::calloc(1, 64);  // initialised: GCC warns when fresh malloc memory is passed on
  bool ours = p != nullptr && mi_is_in_heap_region(p);
  std::free(p);
  if (ours) {
    int v = mi_version();  // e.g. 209 for 2.0.9
    return "mimalloc " + std::to_string(v / 100) + "." + std::to_string(v / 10 % 10) + "." +
           std::to_string(v % 10);
  }
#endif
  return "glibc malloc";
}

void PreferLowResidentMemory() {
#ifdef GALLEY_WITH_MIMALLOC
  mi_option_set(mi_option_eager_commit, 0);
  mi_option_set(mi_option_page_reset, 1);
  mi_option_set(mi_option_decommit_delay, 0);
#endif
}

void ReleaseFreeMemory() {
#ifdef GALLEY_WITH_MIMALLOC
  mi_collect(true);
#endif
  ::malloc_trim(0);
}

}  // namespace galley
