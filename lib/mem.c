/* SPDX-License-Identifier: MIT */
#include "ktbpf/mem.h"
