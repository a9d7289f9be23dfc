/* SPDX-License-Identifier: MIT */
#include "ktbpf/kallsyms.h"
