/* SPDX-License-Identifier: MIT */
#include "ktbpf/vmcoreinfo.h"
