/* SPDX-License-Identifier: MIT */
#include "ktbpf/xarray.h"
