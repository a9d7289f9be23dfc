/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_CODEC_H
#define KTBPF_CODEC_H

/*
 * The one codec from the library's results to JSON, shared by ktbpfctl
 * (inspect --json), ktbpfd (vm.snapshot, vm.status) and the client library:
 * the shapes rpc/openrpc.json describes as Kernel and Snapshot.
 *
 * Counters are JSON integers clamped to INT64_MAX (a counter that large is a
 * saturated sum anyway); addresses and offsets are hex strings "0x..." so
 * kernel addresses above 2^63 survive every JSON reader. Text read from guest
 * memory that is not valid UTF-8 has its high bytes replaced by '?', so a
 * name never makes its program vanish from the output; control characters
 * but newline and tab (C0, DEL, C1) become '?', so that printing it on a
 * terminal never gives the guest a say over the terminal.
 *
 * Every function returns a new reference, or NULL on allocation failure (an
 * element that cannot be built fails the whole document: never a partial
 * list). Thread safety: no state; the inputs are only read.
 */

#include <jansson.h>
#include <stdint.h>

#include "ktbpf/json.h"
#include "ktbpf/kernel.h"
#include "ktbpf/progs.h"

/* A JSON string for text from guest memory (see above). NULL s: NULL. */
json_t *ktbpf_codec_text(const char *s);

/* "0x..." */
json_t *ktbpf_codec_hex(uint64_t v);

/* An integer clamped to INT64_MAX. */
json_t *ktbpf_codec_count(uint64_t v);

/* "ENOENT" for -ENOENT (or ENOENT); "EIO" for an unknown code. */
const char *ktbpf_codec_errno_name(int code);

/* The Kernel object: release, arch, KASLR, paging, CPUs, sources. */
json_t *ktbpf_codec_kernel(const struct ktbpf_kernel_info *ki);

/*
 * The Snapshot object without the daemon's freeze fields: kernel, stats_enabled,
 * progs, struct_ops, active, sched_ext, torn, capped, skipped, diagnostics,
 * walk_ns (and diagnostics_dropped, over_budget when set).
 */
json_t *ktbpf_codec_snapshot(const struct ktbpf_snapshot *s, const struct ktbpf_kernel_info *ki);

/*
 * The same object as text, into w, left open: the caller may add members
 * (ktbpfd's freeze fields) and then calls ktbpf_json_w_end_object(). The
 * bytes are ktbpf_json_encode()'s for ktbpf_codec_snapshot()'s value (which
 * is this text, parsed). A failure is the writer's.
 */
void ktbpf_codec_snapshot_write(struct ktbpf_json_writer *w, const struct ktbpf_snapshot *s,
				const struct ktbpf_kernel_info *ki);

#endif
