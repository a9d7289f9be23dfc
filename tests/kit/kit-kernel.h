/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_KIT_KERNEL_H
#define KTBPF_KIT_KERNEL_H

#include "kit.h"

#endif
