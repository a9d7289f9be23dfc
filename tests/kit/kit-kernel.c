/* SPDX-License-Identifier: MIT */
#include "kit-kernel.h"
