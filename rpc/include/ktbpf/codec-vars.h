/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_CODEC_VARS_H
#define KTBPF_CODEC_VARS_H

/*
 * A BPF object's variables (ktbpf/vars.h) as one JSON document, the shape
 * `ktbpfctl vars --json` prints (and ktbpfd will serve):
 *
 *   {"object": "ktbpf_scx",
 *    "maps": [{"id": 12, "name": "ktbpf_sc.bss", "section": ".bss",
 *              "type": "array" | "percpu_array", "value_size": N,
 *              "max_entries": N, "cpus": N (per-CPU arrays),
 *              "error": {"code": "EINVAL", "message": "..."} (when not decoded),
 *              "vars": [NODE...]}],
 *    "capped": false, "diagnostics": [{"code", "addr", "message"}]}
 *
 *   NODE: {"name": "nr_enqueued", "type": "u64", "kind": KIND, ...} with
 *     "index" for array elements, per-CPU elements and "cpu" nodes; then by
 *     kind: int/uint/bool/float/string: "value" (integers as JSON integers,
 *     an unsigned one above 2^63-1 as a decimal string); enum: "value" the
 *     enumerator's name, else the number; ptr: "value" "0x..."; struct,
 *     union, array, percpu: "children": [NODE...] (percpu: a "sum" node,
 *     then one "cpu" node per CPU); nosum: nothing more; error: "error".
 *
 * NULL on allocation failure. Thread safety: no state.
 */

#include <jansson.h>

#include "ktbpf/vars.h"

json_t *ktbpf_codec_vars(const struct ktbpf_vars *v);

/*
 * The "vars" member of a Snapshot: ktbpf_codec_vars(v) when ktbpf_vars_read()
 * returned r = 0, else {"error": {"code": "ENOENT", "message": err's}} (no
 * object active, the kernel lacks the layouts...). NULL on allocation
 * failure.
 */
json_t *ktbpf_codec_vars_result(const struct ktbpf_vars *v, int r, const struct ktbpf_err *err);

#endif
