/* SPDX-License-Identifier: MIT */
#include "ktbpf/symbols.h"
