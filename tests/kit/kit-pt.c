/* SPDX-License-Identifier: MIT */
#include "kit-pt.h"
