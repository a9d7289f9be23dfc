/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_COMPARE_VARS_H
#define KTBPF_COMPARE_VARS_H

#include <jansson.h>

/*
 * compare-truth --vars: the guest's "vars" (the agent's bpf() lookups of the
 * active object's global sections and per-CPU arrays, flattened to
 * {"map:path": "value"}) against the host's `ktbpfctl vars --json`,
 * flattened by the same rules (ktbpf-agent.c: print_vars()). Every key on
 * either side must be on the other with the same text; a map the host could
 * not decode, a diagnostic or a bound hit is a mismatch too. Prints one
 * "MISMATCH ..." line per difference and returns their number; -1 when the
 * truth has no usable "vars" (bad input).
 */
int compare_vars(json_t *truth, json_t *host);

#endif
