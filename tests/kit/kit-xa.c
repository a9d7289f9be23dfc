/* SPDX-License-Identifier: MIT */
#include "kit-xa.h"
