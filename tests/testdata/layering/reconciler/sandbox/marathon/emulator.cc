#include "engine/plan.h"  // violation (in a subfolder)
#include "net/http.h"
#include "sandbox/common/faults.h"
