#include <nlohmann/json.hpp>

#include "base/good.h"
#include "engine/plan.h"  // violation
// #include "engine/commented_out.h"
