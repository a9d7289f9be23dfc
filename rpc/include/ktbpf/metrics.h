/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_METRICS_H
#define KTBPF_METRICS_H

/*
 * Snapshots to the Prometheus text exposition format 0.0.4 (Content-Type
 * KTBPF_METRICS_CONTENT_TYPE), after ../shared/reference/metrics-and-dumps.md:
 * a ktbpfd_ prefix, base units, _total on counters, data in labels (vm,
 * object, interface, member, program), ids only in _info metrics, no
 * timestamps. Samples of one family must stand together, so VMs are added one
 * at a time into per-family buffers and ktbpf_metrics_finish() writes the
 * families in a fixed order, each with its HELP and TYPE.
 *
 * Label values come from the guest (program, object and scheduler names) and
 * from clients (VM names): they are escaped (\\, \", \n) and bytes that are
 * not UTF-8 become U+FFFD, so no guest string can forge a line or a label.
 *
 * Thread safety: none; one accumulator is one thread's.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktbpf/progs.h"

#define KTBPF_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct ktbpf_metrics;

/* A VM as the exposition names it. */
struct ktbpf_metrics_vm {
	const char *name;  /* label vm */
	const char *id;	   /* only in ktbpfd_vm_info */
	const char *arch;  /* ktbpfd_vm_info */
	const char *state; /* discovery state, ktbpfd_vm_info */
};

struct ktbpf_metrics *ktbpf_metrics_new(void);
void ktbpf_metrics_free(struct ktbpf_metrics *m);

/*
 * Add one VM: its ktbpfd_vm_info and ktbpfd_vm_up (1 when s is its fresh
 * snapshot; s NULL: the VM could not be walked, up 0 and nothing else), and
 * from s every program's counters and gauges, the stats switch and the
 * sched_ext state. Returns 0 or -ENOMEM (the accumulator is then unusable:
 * finish() answers NULL).
 */
int ktbpf_metrics_add_vm(struct ktbpf_metrics *m, const struct ktbpf_metrics_vm *vm,
			 const struct ktbpf_snapshot *s);

/* Append src's samples after dst's, family by family (VMs rendered apart, in a chosen order). */
int ktbpf_metrics_merge(struct ktbpf_metrics *dst, const struct ktbpf_metrics *src);

/*
 * The exposition: build info, then every family, ending with
 * ktbpfd_scrape_duration_seconds (scrape_ns; omitted when with_duration is
 * false, for golden tests). Returns a malloc'd NUL-terminated text (length
 * in *ret_len when not NULL) or NULL on OOM.
 */
char *ktbpf_metrics_finish(struct ktbpf_metrics *m, const char *version, bool with_duration,
			   uint64_t scrape_ns, size_t *ret_len);

/* Append s escaped as a label value (without quotes) to out (cap bytes with NUL); the length
 * the whole escape needs (as snprintf). Exposed for tests. */
size_t ktbpf_metrics_escape(char *out, size_t cap, const char *s);

#endif
