/* SPDX-License-Identifier: MIT */
#include "kit-guest.h"
