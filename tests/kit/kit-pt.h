/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_KIT_PT_H
#define KTBPF_KIT_PT_H

#include "kit.h"

#endif
