/* SPDX-License-Identifier: MIT */
#include "ktbpf/offsets.h"
