#pragma once
#include <net/http.h>  // violation: not transitive (engine → clients → net)

#include "base/good.h"
