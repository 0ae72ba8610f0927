#include "base/good.h"
#include "clients/client.h"
#include "engine/plan.h"
#include "net/http.h"
#include "sandbox/common/faults.h"  // violation ("everything except sandbox")
