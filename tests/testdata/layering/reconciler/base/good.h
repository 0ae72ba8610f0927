#pragma once
#include <string>
#include "base/other.h"
#include "same_folder.h"
