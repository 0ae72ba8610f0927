#include "sandbox/common/faults.h"
#include "net/http.h"
#include "engine/plan.h"  // violation (in a subfolder)
