/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_KIT_XA_H
#define KTBPF_KIT_XA_H

#include "kit.h"

#endif
