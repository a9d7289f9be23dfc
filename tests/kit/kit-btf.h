/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_KIT_BTF_H
#define KTBPF_KIT_BTF_H

#include "kit.h"

#endif
