#include "engine/plan.h"
#include "clients/client.h"
#include "net/http.h"
#include "base/good.h"
#include "sandbox/common/faults.h"  // violation ("everything except sandbox")
