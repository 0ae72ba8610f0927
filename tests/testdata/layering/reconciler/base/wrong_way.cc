#include "base/good.h"

#include <nlohmann/json.hpp>
#include "engine/plan.h"  // violation
// #include "engine/commented_out.h"
