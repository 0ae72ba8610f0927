#pragma once
#include "base/good.h"
