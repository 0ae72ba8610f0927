#pragma once
#include "base/good.h"
#include "net/http.h"
