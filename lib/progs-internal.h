/* SPDX-License-Identifier: MIT */
/*
 * Private to the prog_idr walkers: the read plans (progs-plan.c) that
 * progs.c follows to read a bpf_prog, its bpf_prog_aux, its per-CPU
 * bpf_prog_stats and prog_idr itself in as few ktbpf_xlate_read() calls
 * as the BTF layout allows. Internal names start with plan_.
 */
#ifndef KTBPF_PROGS_INTERNAL_H
#define KTBPF_PROGS_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktbpf/progs.h"
#include "opstab-internal.h"

#define PLAN_LINE	64u /* the cache line that spans are grouped by */
#define PLAN_MAX_FIELDS 8
#define PLAN_BUF	1024 /* packed bytes of one object's spans (see plan_build()) */

/* Spans [lo, lo+len) of one object, packed at pos in a read buffer. */
struct plan {
	size_t nr_spans;
	struct {
		uint64_t lo;
		uint32_t len, pos;
	} span[PLAN_MAX_FIELDS];
	uint32_t pos[PLAN_MAX_FIELDS]; /* where field i lands in the buffer */
	uint32_t len;		       /* total packed bytes */
};

/* The fields of each plan: indices into struct plan's pos[]. */
enum { HDR_TYPE, HDR_EAT, HDR_AUX, HDR_STATS, HDR_NR };
enum {
	AUX_MAPS, /* its span is read first, see plans_build() */
	AUX_MAP_CNT,
	AUX_ID,
	AUX_VI,
	AUX_NAME,
	AUX_BTF_ID,
	AUX_FUNC_NAME,
	AUX_PROG,
	AUX_NR
};
enum { ST_CNT, ST_NSECS, ST_MISSES, ST_NR };
enum { IDR_HEAD, IDR_NEXT, IDR_NR };

/*
 * The read plans of one kernel's layout: built once at discovery from its
 * offsets (plans_build()) and kept in the kernel, immutable, so that any
 * number of walks share them.
 */
struct walk_plans {
	struct plan hdr, aux, stats, idr;
};

/*
 * What one snapshot's walks keep between walks, never shared: the
 * translator (its page cache is flushed per walk), and the serial of the
 * kernel it was last used with (unique per discovery, so a kernel freed
 * and another one allocated at the same address are told apart).
 */
struct ktbpf_walker {
	struct ktbpf_xlate *x;
	uint64_t serial;
};

/* Does this kernel have field i (optional members may be absent)? */
static inline bool plan_has(const struct plan *p, size_t i)
{
	return p->pos[i] != UINT32_MAX;
}

/*
 * Read every span of object kva into buf (p->len bytes). All or nothing.
 * Inline: it runs for every program and CPU, and the walker in progs.c is
 * the only caller.
 */
static inline int plan_read(struct ktbpf_xlate *x, const struct plan *p, uint64_t kva, uint8_t *buf,
			    struct ktbpf_err *err)
{
	size_t i;
	int r;

	for (i = 0; i < p->nr_spans; i++) {
		r = ktbpf_xlate_read(x, kva + p->span[i].lo, buf + p->span[i].pos, p->span[i].len,
				     err);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Shared by progs.c and structops.c: a bounded diagnostic in s (counted in
 * diags_dropped beyond KTBPF_MAX_DIAGS), and one from a failed library call
 * (its message and faulting address).
 */
__attribute__((format(printf, 5, 6))) void snap_diag(struct ktbpf_snapshot *s, int code,
						     uint32_t prog_id, uint64_t addr,
						     const char *fmt, ...);
void snap_diag_err(struct ktbpf_snapshot *s, uint32_t prog_id, const struct ktbpf_err *e,
		   const char *what);
/* The bounded append both use (and vars.c's diagnostics): one more in diags[*nr], else dropped. */
void diag_vappend(struct ktbpf_diag *diags, size_t *nr, size_t *dropped, int code, uint32_t prog_id,
		  uint64_t addr, const char *fmt, va_list ap);

#define INT_MAX_ID 0x7fffffffu /* kernel/bpf/syscall.c: idr_alloc_cyclic(.., 1, INT_MAX, ..) */

/*
 * One in-order pass over an IDR's xarray, as the prog_idr, map_idr and
 * link_idr walks make it (never xa_load per id up to idr_next: ids are
 * sparse after unloads and idr_next is guest data). snap_idr_next() charges
 * cost to the walk's budget per step, and turns what is not an entry into
 * the snapshot's answer: a cap hit (capped + diagnostic, the walk goes on),
 * an unreadable node (diagnostic, nr_skipped), a walk that does not end
 * (capped, stopped). cap bounds both entries and nodes. name, what and lost
 * word the diagnostics: "map_idr walk stopped at N maps / N nodes:
 * instances incomplete".
 */
struct snap_idr {
	struct ktbpf_xa_iter it;
	struct ktbpf_snapshot *s;
	uint32_t cap;
	uint64_t guard;
	const char *name, *what, *lost;
};
void snap_idr_init(struct snap_idr *w, struct ktbpf_snapshot *s, struct ktbpf_xlate *x,
		   const struct ktbpf_xa_layout *xa, uint64_t head, uint32_t cap, const char *name,
		   const char *what, const char *lost);
/* The next entry (any value: callers judge it); false at the end or when the walk must stop. */
bool snap_idr_next(struct snap_idr *w, uint64_t cost, uint64_t *ret_index, uint64_t *ret_entry);
void snap_idr_deinit(struct snap_idr *w);

/* The struct_ops program of s with id (s->progs is in id order), or NULL (structops.c). */
const struct ktbpf_prog *snap_prog_by_id(const struct ktbpf_snapshot *s, uint32_t id);

/*
 * Zeroing a whole struct ktbpf_err per read costs more than the read (it is
 * ~280 bytes): reset what snap_diag_err() looks at, a failing callee fills it.
 */
static inline void err_reset(struct ktbpf_err *e)
{
	e->code = 0;
	e->has_addr = false;
	e->msg[0] = '\0';
}

/*
 * The walk's budget (ktbpf_budget in progs.h). budget_take() charges n
 * units and is true once the budget is spent (then and ever after in this
 * walk: the caller stops its loop). The fast path is one add and one
 * compare; clocks are read only when s->budget_run.check_at is reached.
 */
void budget_start(struct ktbpf_snapshot *s);
bool budget_check(struct ktbpf_snapshot *s, uint64_t n, const char *where);

static inline bool budget_take(struct ktbpf_snapshot *s, uint64_t n, const char *where)
{
	s->reads += n;
	return s->reads >= s->budget_run.check_at && budget_check(s, n, where);
}

/*
 * After the prog_idr walk: map_idr's struct_ops maps, sched_ext's state and
 * the active instance (structops.c). Fills s->instances, s->active, s->scx
 * and s->torn; problems become diagnostics.
 */
void structops_walk(const struct ktbpf_kernel *k, struct ktbpf_snapshot *s);

/*
 * Build the read plans of offsets o into p (discovery, kernel.c). -EINVAL
 * or -ENOENT with a message when o's layout cannot be planned.
 */
int plans_build(struct walk_plans *p, const struct ktbpf_offsets *o, struct ktbpf_err *err);

/*
 * The kernel's read plans into *ret, or discovery's error (code and
 * message) when its layout could not be planned (kernel.c); and its
 * discovery's serial.
 */
int kernel_plans(const struct ktbpf_kernel *k, const struct walk_plans **ret,
		 struct ktbpf_err *err);
uint64_t kernel_serial(const struct ktbpf_kernel *k);

/* The kernel's struct_ops interfaces, taken from its BTF at discovery (never NULL). */
const struct ops_table *kernel_ops(const struct ktbpf_kernel *k);

#endif
