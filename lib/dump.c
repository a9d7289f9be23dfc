/* SPDX-License-Identifier: MIT */
#include "ktbpf/dump.h"
