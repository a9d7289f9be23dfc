/* SPDX-License-Identifier: MIT */
#include "ktbpf/kernel.h"
