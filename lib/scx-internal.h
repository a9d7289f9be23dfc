/* SPDX-License-Identifier: MIT */
/*
 * Private to the library: sched_ext's state beyond the current ops
 * (scx.c), resolved from BTF at discovery and read in the struct_ops walk.
 */
#ifndef KTBPF_SCX_INTERNAL_H
#define KTBPF_SCX_INTERNAL_H

#include "ktbpf/offsets.h"
#include "ktbpf/progs.h"

struct btf;
struct stwalk;
struct scx_view;

/* What the walk needs of sched_ext's types, from btf (all optional). */
void scx_offsets_resolve(const struct btf *btf, struct ktbpf_scx_offsets *o);

/*
 * Fill w->s->scx's flags, watchdog, counters, events and exit record from
 * the view v of the same walk (its ops copy and scx_root). Problems
 * become diagnostics.
 */
void scx_state_walk(struct stwalk *w, const struct ktbpf_kernel *k, const struct scx_view *v);

/* Free what the snapshot's sched_ext part owns (dump, per-CPU events). */
void scx_snapshot_clear(struct ktbpf_scx *scx);

#endif
