#pragma once
#include "net/http.h"
#include "base/good.h"
