#pragma once
#include "base/good.h"
  #  include <net/http.h>  // violation: not transitive (engine → clients → net)
