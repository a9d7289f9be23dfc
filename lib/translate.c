/* SPDX-License-Identifier: MIT */
#include "ktbpf/translate.h"
