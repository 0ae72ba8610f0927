#include "net/http.h"

#include "../clients/client.h"  // violation (climbs out of its folder)
#include "base/good.h"
