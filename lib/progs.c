/* SPDX-License-Identifier: MIT */
#include "ktbpf/progs.h"
