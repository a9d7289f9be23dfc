/* SPDX-License-Identifier: MIT */
#include "ktbpf/elfcore.h"
