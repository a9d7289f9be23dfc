/* SPDX-License-Identifier: MIT */
#ifndef KTBPFCTL_DELTA_H
#define KTBPFCTL_DELTA_H

/*
 * The difference of two Snapshot documents (rpc/openrpc.json), program by
 * program: what `ktbpfctl top` shows every period and `ktbpfctl diff`
 * prints for two dumps. One piece of arithmetic, bpftop's
 * (Netflix/bpftop src/bpf_program.rs: events_per_second(),
 * period_average_runtime_ns(), cpu_time_percent()), over the deltas of the
 * kernel's per-program counters (struct bpf_prog_stats cnt, nsecs, misses
 * summed over the CPUs) and the time between the two snapshots:
 *
 *   events/s = delta run_cnt / period_ns * 1e9
 *   avg ns   = delta run_time_ns / delta run_cnt (0 when it did not run)
 *   CPU %    = delta run_time_ns / period_ns * 100: the share of one CPU,
 *              so a program busy on several CPUs shows more than 100
 *
 * Programs are matched by id and name (the kernel never reuses an id while
 * the old one lives; a guest reboot restarts them, and a different name
 * then makes it a new program). A program only in the later document is
 * "new" (its whole counts are its delta: it was loaded in between), one only
 * in the earlier "gone" (no delta), one whose counter went backwards
 * "reset" (delta 0: a counter never decreases, so this is another program or
 * a torn read).
 *
 * Documents are input (files for diff): members missing or of the wrong type
 * read as 0 or "?", and at most KTBPFCTL_DELTA_MAX_PROGS programs of each
 * are compared (more: -E2BIG).
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktbpfctl.h"

#define KTBPFCTL_DELTA_MAX_PROGS 65536

enum ktbpfctl_rate_state {
	KTBPFCTL_RATE_BOTH, /* in both documents */
	KTBPFCTL_RATE_NEW,  /* only in the later */
	KTBPFCTL_RATE_GONE, /* only in the earlier */
	KTBPFCTL_RATE_RESET,
};

struct ktbpfctl_rate {
	uint64_t id;
	const char *name, *iface, *member;    /* borrowed from the documents */
	uint64_t cnt, nsecs, misses;	      /* the later document's (the earlier's when gone) */
	uint64_t d_cnt, d_nsecs, d_misses;    /* later - earlier */
	double events_per_s, avg_ns, cpu_pct; /* 0 when the period is 0 */
	enum ktbpfctl_rate_state state;
};

struct ktbpfctl_rates {
	struct ktbpfctl_rate *v; /* the later's programs in its order, then the gone ones */
	size_t n;
	struct ktbpfctl_rate total; /* sums of the deltas; its rates from them */
	uint64_t period_ns;
};

enum ktbpfctl_rate_sort {
	KTBPFCTL_SORT_NONE, /* as listed */
	KTBPFCTL_SORT_EVENTS,
	KTBPFCTL_SORT_NS,
	KTBPFCTL_SORT_CPU,
	KTBPFCTL_SORT_NAME,
	KTBPFCTL_SORT_ID,
};

/*
 * The rates of b over a (a NULL: every program of b is new), period_ns
 * apart. *ret borrows strings from a and b: keep them until
 * ktbpfctl_rates_free(). Errors: -E2BIG too many programs, -ENOMEM.
 */
int ktbpfctl_rates_compute(const json_t *a, const json_t *b, uint64_t period_ns,
			   struct ktbpfctl_rates *ret);
void ktbpfctl_rates_free(struct ktbpfctl_rates *r);

/* Sort by key (descending for rates, ascending for names and ids; ties by id). */
void ktbpfctl_rates_sort(struct ktbpfctl_rates *r, enum ktbpfctl_rate_sort key);
/* "events", "ns", "cpu", "name", "id" -> key; -1 otherwise. */
int ktbpfctl_rate_sort_parse(const char *s);

/*
 * {"period_ns", "progs": [{"id", "name", "interface", "member", "state",
 * "run_cnt", "run_time_ns", "recursion_misses", "run_cnt_delta",
 * "run_time_ns_delta", "recursion_misses_delta", "events_per_s", "avg_ns",
 * "cpu_percent"}], "total": {the deltas and rates}}; NULL on ENOMEM.
 */
json_t *ktbpfctl_rates_json(const struct ktbpfctl_rates *r);

/* "both", "new", "gone", "reset". */
const char *ktbpfctl_rate_state_name(enum ktbpfctl_rate_state s);

#endif
