/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_KIT_GUEST_H
#define KTBPF_KIT_GUEST_H

#include "kit.h"

#endif
