#include "net/http.h"
#include "base/good.h"
#include "../clients/client.h"  // violation (climbs out of its folder)
