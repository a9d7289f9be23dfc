/* SPDX-License-Identifier: MIT */
#include "kit-btf.h"
