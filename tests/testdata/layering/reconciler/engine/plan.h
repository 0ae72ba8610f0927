#pragma once
#include "clients/client.h"
#include "engine/sub/deep.h"
