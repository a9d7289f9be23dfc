/* SPDX-License-Identifier: MIT */
/*
 * fuzz-walk over an arm64 kit guest: discovery from VMCOREINFO alone (TTBR1
 * from swapper_pg_dir and kimage_voffset, TCR_EL1 from the note, the linear
 * map from PHYS_OFFSET) and the aarch64 walker on 52-bit LPA2 tables (5
 * levels, output address bits in descriptor bits 9:8), every byte they read
 * patched as fuzz-walk.c says.
 */
#define FUZZ_WALK_ARM64 1
#include "fuzz-walk.c"
