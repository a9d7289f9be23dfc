/* SPDX-License-Identifier: MIT */
/*
 * The prog_idr walkers (DESIGN §3 "progs"): one in-order pass over prog_idr
 * answers the struct_ops programs, their verifier and runtime stats, and the
 * active object.
 *
 * Reads follow the plans of progs-plan.c (built from the BTF offsets once
 * per kernel, at discovery, and kept in it): each object's members are read
 * in a few spans that touch no line without one of them. A program
 * then costs one read of its bpf_prog header and one or two of its
 * bpf_prog_aux; per-CPU stats cost one read per CPU for each run of programs
 * whose stats are neighbours (read_stats()); the used_maps array and map
 * names are read only while the active object is still open. Guest data is
 * little-endian, like the hosts we run on.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "progs-internal.h"
#include "scx-internal.h"

struct walk {
	struct ktbpf_xlate *x;
	const struct ktbpf_offsets *o;
	const struct ops_table *ops;
	const struct ktbpf_cpu *cpus; /* the possible CPUs */
	uint32_t nr_cpus;
	struct ktbpf_snapshot *s;
	const struct plan *hdr, *aux, *stats, *idr;
};

/* Facts about one program read from its bpf_prog and bpf_prog_aux. */
struct prog_raw {
	uint64_t kva, aux, stats, used_maps, func_name;
	uint32_t eat, attach_btf_id, used_map_cnt;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint32_t ld32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t ld64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

void diag_vappend(struct ktbpf_diag *diags, size_t *nr, size_t *dropped, int code, uint32_t prog_id,
		  uint64_t addr, const char *fmt, va_list ap)
{
	struct ktbpf_diag *d;

	if (*nr >= KTBPF_MAX_DIAGS) {
		(*dropped)++;
		return;
	}
	d = &diags[(*nr)++];
	d->code = code;
	d->prog_id = prog_id;
	d->addr = addr;
	vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
}

__attribute__((format(printf, 5, 6))) void
snap_diag(struct ktbpf_snapshot *s, int code, uint32_t prog_id, uint64_t addr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vappend(s->diags, &s->nr_diags, &s->diags_dropped, code, prog_id, addr, fmt, ap);
	va_end(ap);
}

void snap_diag_err(struct ktbpf_snapshot *s, uint32_t prog_id, const struct ktbpf_err *e,
		   const char *what)
{
	snap_diag(s, e->code ? e->code : -EIO, prog_id, e->has_addr ? e->addr : 0, "%s: %s", what,
		  e->msg);
}

void snap_idr_init(struct snap_idr *w, struct ktbpf_snapshot *s, struct ktbpf_xlate *x,
		   const struct ktbpf_xa_layout *xa, uint64_t head, uint32_t cap, const char *name,
		   const char *what, const char *lost)
{
	ktbpf_xa_iter_init(&w->it, x, xa, head, cap, cap);
	w->s = s;
	w->cap = cap;
	w->guard = 0;
	w->name = name;
	w->what = what;
	w->lost = lost;
}

bool snap_idr_next(struct snap_idr *w, uint64_t cost, uint64_t *ret_index, uint64_t *ret_entry)
{
	/* Each step yields an entry, a node or an error: more than entries + nodes cannot end. */
	const uint64_t limit = 2ull * w->cap + 2;
	struct ktbpf_err e;
	int r;

	for (; w->guard < limit; w->guard++) {
		err_reset(&e);
		if (budget_take(w->s, cost, w->name))
			return false;
		r = ktbpf_xa_iter_next(&w->it, ret_index, ret_entry, &e);
		if (r == KTBPF_ITER_END)
			return false;
		if (r == -E2BIG) {
			w->s->capped = true;
			snap_diag(w->s, -E2BIG, 0, 0,
				  "%s walk stopped at %" PRIu32 " %s / %" PRIu32 " nodes: %s",
				  w->name, w->cap, w->what, w->cap, w->lost);
			continue;
		}
		if (r < 0) {
			char what[48];

			snprintf(what, sizeof(what), "%s node skipped", w->name);
			snap_diag_err(w->s, 0, &e, what);
			w->s->nr_skipped++;
			continue;
		}
		w->guard++;
		return true;
	}
	if (w->guard == limit) {
		w->guard++; /* said once */
		w->s->capped = true;
		snap_diag(w->s, -ELOOP, 0, 0, "%s walk did not end: stopped", w->name);
	}
	return false;
}

void snap_idr_deinit(struct snap_idr *w)
{
	ktbpf_xa_iter_deinit(&w->it);
}

#define diag	 snap_diag
#define diag_err snap_diag_err

/* Where the next budget check is due: the next clock read or one past max_reads. */
static uint64_t budget_next_check(const struct ktbpf_snapshot *s)
{
	uint64_t at = UINT64_MAX;

	if (s->budget.max_ns && s->reads < UINT64_MAX - KTBPF_BUDGET_CLOCK_EVERY)
		at = s->reads + KTBPF_BUDGET_CLOCK_EVERY;
	if (s->budget.max_reads && s->budget.max_reads < at)
		at = s->budget.max_reads + 1;
	return at;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void budget_start(struct ktbpf_snapshot *s)
{
	struct ktbpf_budget_run *b = &s->budget_run;

	s->reads = 0;
	s->over_budget = false;
	b->wall0 = now_ns();
	b->cpu_mark = 0;
	b->deadline = s->budget.max_ns ? sat_add(b->wall0, s->budget.max_ns) : 0;
	b->check_at = budget_next_check(s);
}

/*
 * Is the walk's CPU time past max_ns? The thread's CPU clock is a system
 * call here (~1.5 us, a tenth of a whole walk), the monotonic one is not:
 * walks compare the wall clock with a deadline, and only a walk that runs
 * past BUDGET_CPU_MARK marks the thread's CPU clock. At the deadline the CPU
 * time spent (the time before the mark counted whole) decides: spent, or
 * the deadline moves by what is left (the thread was descheduled).
 */
#define BUDGET_CPU_MARK (1000u * 1000u)

static bool budget_time_spent(struct ktbpf_snapshot *s)
{
	struct ktbpf_budget_run *b = &s->budget_run;
	uint64_t now = now_ns(), used;

	if (!s->budget.max_ns)
		return false;
	if (!b->cpu_mark && now - b->wall0 >= BUDGET_CPU_MARK) {
		b->cpu_mark = thread_cpu_ns();
		b->wall_mark = now;
	}
	if (now < b->deadline)
		return false;
	if (!b->cpu_mark)
		return true;
	used = b->wall_mark - b->wall0 + thread_cpu_ns() - b->cpu_mark;
	if (used >= s->budget.max_ns)
		return true;
	b->deadline = sat_add(now, s->budget.max_ns - used);
	return false;
}

bool budget_check(struct ktbpf_snapshot *s, uint64_t n, const char *where)
{
	bool reads;

	if (s->over_budget) {
		s->reads -= n;
		return true;
	}
	reads = s->budget.max_reads && s->reads > s->budget.max_reads;
	if (!reads && !budget_time_spent(s)) {
		s->budget_run.check_at = budget_next_check(s);
		return false;
	}
	s->reads -= n;
	/* The one diagnostic that says why the answer stops is never dropped: the last yields. */
	if (s->nr_diags == KTBPF_MAX_DIAGS) {
		s->nr_diags--;
		s->diags_dropped++;
	}
	if (reads)
		diag(s, -ETIME, 0, 0,
		     "walk budget of %" PRIu64 " guest reads spent in %s: stopped there, "
		     "the answer is incomplete",
		     s->budget.max_reads, where);
	else
		diag(s, -ETIME, 0, 0,
		     "walk budget of %" PRIu64 " us of CPU time spent in %s (%" PRIu64
		     " guest reads): "
		     "stopped there, the answer is incomplete",
		     s->budget.max_ns / 1000, where, s->reads);
	s->over_budget = true;
	s->capped = true;
	s->budget_run.check_at = 0;
	return true;
}

/* Reset s for a new walk, keeping its program array. */
static void snapshot_reset(struct ktbpf_snapshot *s)
{
	s->nr_progs = 0;
	s->nr_instances = 0;
	memset(&s->active, 0, sizeof(s->active));
	scx_snapshot_clear(&s->scx);
	memset(&s->scx, 0, sizeof(s->scx));
	s->scx.state = KTBPF_SCX_UNKNOWN;
	s->torn = false;
	s->stats = KTBPF_STATS_UNKNOWN;
	s->nr_diags = 0;
	s->diags_dropped = 0;
	s->capped = false;
	s->nr_skipped = 0;
	s->idr_entries = 0;
	s->walk_ns = 0;
}

/* bpf_stats_enabled_key: kernel/bpf/core.c, DEFINE_STATIC_KEY_FALSE (key.enabled is atomic_t). */
static void read_stats_enabled(struct walk *w, uint64_t key_kva)
{
	struct ktbpf_err e;
	uint32_t v;

	err_reset(&e);
	if (!key_kva)
		return;
	if (ktbpf_xlate_read_u32(w->x, key_kva + w->o->static_key_enabled, &v, &e) < 0) {
		diag_err(w->s, 0, &e, "bpf_stats_enabled_key unreadable, stats state unknown");
		return;
	}
	if ((int32_t)v < 0)
		diag(w->s, -EUCLEAN, 0, key_kva,
		     "bpf_stats_enabled_key.enabled is %" PRId32 " (being changed?)", (int32_t)v);
	else
		w->s->stats = v ? KTBPF_STATS_ENABLED : KTBPF_STATS_DISABLED;
}

/* Make room for one more program; false (and capped) when memory runs out. */
static bool snapshot_grow(struct ktbpf_snapshot *s)
{
	struct ktbpf_prog *n;
	size_t cap;

	if (s->nr_progs < s->cap_progs)
		return true;
	cap = s->cap_progs ? s->cap_progs * 2 : 64;
	n = realloc(s->progs, cap * sizeof(*n));
	if (!n) {
		s->capped = true;
		diag(s, -ENOMEM, 0, 0, "out of memory for %zu programs: list incomplete", cap);
		return false;
	}
	s->progs = n;
	s->cap_progs = cap;
	return true;
}

#define CLUSTER_MAX 4096 /* bytes of one CPU's stats read for a run of programs */

/* Add one CPU's counters (laid out per the stats plan at buf), saturating. */
static void add_cpu(const struct plan *pl, struct ktbpf_prog *p, const uint8_t *buf)
{
	p->cnt = sat_add(p->cnt, ld64(buf + pl->pos[ST_CNT]));
	p->nsecs = sat_add(p->nsecs, ld64(buf + pl->pos[ST_NSECS]));
	if (plan_has(pl, ST_MISSES))
		p->misses = sat_add(p->misses, ld64(buf + pl->pos[ST_MISSES]));
	p->cpus_read++;
}

/* CPU cpu's stats of program p alone. */
static void read_one(struct walk *w, struct ktbpf_prog *p, uint32_t cpu, uint64_t off)
{
	uint8_t buf[PLAN_BUF];
	struct ktbpf_err e;

	err_reset(&e);
	if (plan_read(w->x, w->stats, p->stats_kva + off, buf, &e) < 0) {
		char what[64];

		snprintf(what, sizeof(what), "prog %" PRIu32 " stats on CPU %" PRIu32, p->id, cpu);
		diag_err(w->s, p->id, &e, what);
		p->stats_valid = false;
		return;
	}
	add_cpu(w->stats, p, buf);
}

/*
 * Programs [i, end) whose per-CPU stats follow each other closely
 * (programs loaded together get neighbouring per-CPU allocations), so one
 * read per CPU covers all of them. At most one line that none of them uses
 * lies between two of them, so a run never reads more unused lines than
 * used ones (the 2x bound on lines touched); one read per run and CPU
 * instead of one per program and CPU is what keeps 64 programs x 64 CPUs
 * fast. A run is one program when the stats plan has several spans.
 */
static size_t cluster_end(const struct walk *w, size_t i)
{
	const struct ktbpf_prog *v = w->s->progs;
	const struct plan *pl = w->stats;
	uint64_t lo = pl->span[0].lo, first = v[i].stats_kva + lo;
	uint64_t end = first + pl->len;
	size_t j;

	if (pl->nr_spans != 1)
		return i + 1;
	for (j = i + 1; j < w->s->nr_progs; j++) {
		uint64_t a = v[j].stats_kva;

		if (a <= v[j - 1].stats_kva || a > UINT64_MAX - CLUSTER_MAX ||
		    (a + lo) / PLAN_LINE > (end - 1) / PLAN_LINE + 2 ||
		    a + lo + pl->len - first > CLUSTER_MAX)
			break;
		end = a + lo + pl->len;
	}
	return j;
}

/* One CPU of the run [i, end): one read, or one per program when it fails. */
static void read_cluster(struct walk *w, size_t i, size_t end, uint32_t cpu, uint64_t off)
{
	struct ktbpf_prog *v = w->s->progs;
	uint64_t base = v[i].stats_kva + w->stats->span[0].lo;
	uint8_t buf[CLUSTER_MAX];
	struct ktbpf_err e;
	size_t k;

	err_reset(&e);
	if (end - i > 1 &&
	    ktbpf_xlate_read(w->x, base + off, buf,
			     v[end - 1].stats_kva - v[i].stats_kva + w->stats->len, &e) == 0) {
		for (k = i; k < end; k++)
			add_cpu(w->stats, &v[k], buf + (v[k].stats_kva - v[i].stats_kva));
		return;
	}
	for (k = i; k < end; k++) {
		if (budget_take(w->s, w->stats->nr_spans, "per-CPU stats"))
			return;
		read_one(w, &v[k], cpu, off);
	}
}

/*
 * Sum bpf_prog_stats over the possible CPUs like kernel/bpf/syscall.c:
 * bpf_prog_get_stats() (for_each_possible_cpu()), with saturating adds (a
 * hostile or wrapped counter must not wrap the sum). Discovery read the
 * possible CPUs and checked their offsets once; entries of CPUs that are
 * not possible hold boot values and are never added.
 */
static void read_stats(struct walk *w)
{
	struct ktbpf_prog *v = w->s->progs;
	size_t i, end;
	uint32_t c;

	for (i = 0; i < w->s->nr_progs; i++) {
		v[i].stats_valid = v[i].stats_kva != 0 && w->nr_cpus > 0;
		if (!v[i].stats_kva)
			diag(w->s, -ENOENT, v[i].id, v[i].kva,
			     "prog %" PRIu32 ": bpf_prog.stats is NULL", v[i].id);
	}
	for (i = 0; i < w->s->nr_progs; i = end) {
		end = i + 1;
		if (!v[i].stats_kva)
			continue;
		end = cluster_end(w, i);
		for (c = 0; c < w->nr_cpus; c++) {
			if (budget_take(w->s, 1, "per-CPU stats"))
				break;
			read_cluster(w, i, end, w->cpus[c].cpu, w->cpus[c].offset);
		}
	}
	/* A walk stopped by its budget left some programs' sums short: not valid. */
	for (i = 0; i < w->s->nr_progs; i++)
		if (v[i].cpus_read != w->nr_cpus)
			v[i].stats_valid = false;
}

/* Bounded copy, always terminated (snprintf costs more than the whole read of a program). */
static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = src ? strnlen(src, size - 1) : 0;

	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

/*
 * A module's struct_ops program (6.9+): its ops struct is in the module's
 * split BTF, which we do not have. Newer kernels point aux->st_ops at the
 * struct bpf_struct_ops, whose name is the interface (kernel/bpf/verifier.c:
 * check_struct_ops_btf_id()); older ones leave the interface to the
 * instance that uses the program (structops.c).
 */
static void module_iface(struct walk *w, struct ktbpf_prog *p, const struct prog_raw *r)
{
	uint64_t ops, name;
	struct ktbpf_err e;
	char buf[KTBPF_IFACE_LEN];

	err_reset(&e);
	if (w->o->st.aux_st_ops == KTBPF_OFFSET_NONE || w->o->st.ops_name == KTBPF_OFFSET_NONE)
		return;
	if (ktbpf_xlate_read_u64(w->x, r->aux + w->o->st.aux_st_ops, &ops, &e) < 0 || !ops)
		return;
	if (ktbpf_xlate_read_u64(w->x, ops + w->o->st.ops_name, &name, &e) < 0 ||
	    ktbpf_xlate_read_str(w->x, name, buf, sizeof(buf), &e) < 0) {
		diag_err(w->s, p->id, &e, "aux->st_ops->name unreadable");
		return;
	}
	copy_str(p->iface, sizeof(p->iface), buf);
}

/*
 * Interface and member: struct_ops programs record the ops struct's BTF id
 * in aux->attach_btf_id and the member index in expected_attach_type
 * (kernel/bpf/verifier.c: check_struct_ops_btf_id()), looked up in the
 * kernel's interfaces (opstab.c). When the type is not one of vmlinux's (a
 * module's struct_ops: split BTF ids follow vmlinux's),
 * the member name comes from attach_func_name, which the same function sets,
 * and the interface from aux->st_ops.
 */
static void resolve_iface(struct walk *w, struct ktbpf_prog *p, const struct prog_raw *r)
{
	const struct st_layout *l = ops_by_type(w->ops, r->attach_btf_id);
	struct ktbpf_err e;
	char buf[KTBPF_IFACE_LEN];

	if (l && r->eat < l->nr_names) {
		copy_str(p->iface, sizeof(p->iface), l->name);
		copy_str(p->member, sizeof(p->member), l->names[r->eat]);
		return;
	}
	module_iface(w, p, r);
	if (!r->func_name)
		return;
	err_reset(&e);
	if (ktbpf_xlate_read_str(w->x, r->func_name, buf, sizeof(buf), &e) < 0) {
		diag_err(w->s, p->id, &e, "attach_func_name unreadable");
		return;
	}
	copy_str(p->member, sizeof(p->member), buf);
}

/* Copy aux->name (char[BPF_OBJ_NAME_LEN], NUL-terminated by bpf_obj_name_cpy()). */
static void copy_name(struct walk *w, struct ktbpf_prog *p, const uint8_t *src)
{
	memcpy(p->name, src, KTBPF_OBJ_NAME_LEN);
	p->name[KTBPF_OBJ_NAME_LEN] = '\0';
	p->name_truncated = !memchr(src, '\0', KTBPF_OBJ_NAME_LEN);
	if (p->name_truncated)
		diag(w->s, -EUCLEAN, p->id, p->kva,
		     "prog %" PRIu32 ": name has no NUL in %d bytes, cut", p->id,
		     KTBPF_OBJ_NAME_LEN);
}

/* Read aux and check it belongs to this program: aux->prog == prog, aux->id == id. */
static int read_aux(struct walk *w, uint32_t id, struct prog_raw *r, uint8_t *buf)
{
	const struct plan *pl = w->aux;
	struct ktbpf_err e;
	uint64_t back;
	uint32_t aux_id;

	err_reset(&e);
	if (!r->aux) {
		diag(w->s, -ENOENT, id, r->kva, "prog %" PRIu32 ": bpf_prog.aux is NULL", id);
		return -ENOENT;
	}
	if (plan_read(w->x, pl, r->aux, buf, &e) < 0) {
		diag_err(w->s, id, &e, "bpf_prog_aux unreadable, prog skipped");
		return e.code ? e.code : -EIO;
	}
	back = plan_has(pl, AUX_PROG) ? ld64(buf + pl->pos[AUX_PROG]) : r->kva;
	aux_id = ld32(buf + pl->pos[AUX_ID]);
	if (back != r->kva || aux_id != id) {
		diag(w->s, -EUCLEAN, id, r->aux,
		     "prog %" PRIu32 ": aux->prog 0x%" PRIx64 " / aux->id %" PRIu32
		     " do not match the prog_idr entry 0x%" PRIx64 " / %" PRIu32
		     " (freed or torn?), skipped",
		     id, back, aux_id, r->kva, id);
		return -EUCLEAN;
	}
	r->used_maps = ld64(buf + pl->pos[AUX_MAPS]);
	r->used_map_cnt = ld32(buf + pl->pos[AUX_MAP_CNT]);
	r->attach_btf_id = ld32(buf + pl->pos[AUX_BTF_ID]);
	r->func_name = plan_has(pl, AUX_FUNC_NAME) ? ld64(buf + pl->pos[AUX_FUNC_NAME]) : 0;
	return 0;
}

/* One prog_idr entry: skipped unless it is a readable struct_ops program. */
static void visit(struct walk *w, uint64_t index, uint64_t kva)
{
	uint8_t hbuf[PLAN_BUF], abuf[PLAN_BUF];
	uint32_t id = (uint32_t)index;
	struct prog_raw r = {.kva = kva};
	struct ktbpf_err e;
	struct ktbpf_prog *p;

	err_reset(&e);
	if (index > INT_MAX_ID) {
		diag(w->s, -EUCLEAN, 0, kva,
		     "prog_idr index %" PRIu64 " is beyond INT_MAX, entry skipped", index);
		w->s->nr_skipped++;
		return;
	}
	if (plan_read(w->x, w->hdr, kva, hbuf, &e) < 0) {
		diag_err(w->s, id, &e, "bpf_prog unreadable, prog skipped");
		w->s->nr_skipped++;
		return;
	}
	if (ld32(hbuf + w->hdr->pos[HDR_TYPE]) != KTBPF_BPF_PROG_TYPE_STRUCT_OPS)
		return;
	r.eat = ld32(hbuf + w->hdr->pos[HDR_EAT]);
	r.aux = ld64(hbuf + w->hdr->pos[HDR_AUX]);
	r.stats = ld64(hbuf + w->hdr->pos[HDR_STATS]);
	if (budget_take(w->s, w->aux->nr_spans + 2, "prog_idr"))
		return;
	if (read_aux(w, id, &r, abuf) < 0) {
		w->s->nr_skipped++;
		return;
	}
	if (!snapshot_grow(w->s))
		return;

	p = &w->s->progs[w->s->nr_progs++];
	memset(p, 0, sizeof(*p));
	p->id = id;
	p->kva = kva;
	copy_name(w, p, abuf + w->aux->pos[AUX_NAME]);
	p->verified_insns = ld32(abuf + w->aux->pos[AUX_VI]);
	p->nr_maps = r.used_map_cnt;
	if (r.used_map_cnt > KTBPF_MAX_USED_MAPS) {
		diag(w->s, -E2BIG, id, r.aux,
		     "prog %" PRIu32 ": used_map_cnt %" PRIu32 " is absurd, only %d maps read", id,
		     r.used_map_cnt, KTBPF_MAX_USED_MAPS);
		p->nr_maps = KTBPF_MAX_USED_MAPS;
	}
	p->stats_kva = r.stats;
	p->member_index = r.eat;
	p->used_maps_kva = r.used_maps;
	if (r.used_map_cnt && !r.used_maps)
		/* The kernel never pairs a count with no array: torn or corrupt, say so. */
		diag(w->s, -EUCLEAN, id, r.aux,
		     "prog %" PRIu32 ": used_map_cnt is %" PRIu32
		     " but used_maps is NULL (torn?), maps not read",
		     id, r.used_map_cnt);
	resolve_iface(w, p, &r);
}

/* prog_idr's xa_head and idr_next (kernel/bpf/syscall.c: DEFINE_IDR(prog_idr)). */
static int read_idr(struct walk *w, uint64_t idr, uint64_t *ret_head, struct ktbpf_err *err)
{
	uint8_t buf[PLAN_BUF];
	uint32_t next;
	int r;

	r = plan_read(w->x, w->idr, idr, buf, err);
	if (r < 0)
		return ktbpf_err_prefix(err, r, "prog_idr at 0x%" PRIx64 " unreadable: ", idr);
	next = ld32(buf + w->idr->pos[IDR_NEXT]);
	if (next > INT_MAX_ID)
		diag(w->s, -EUCLEAN, 0, idr,
		     "prog_idr.idr_next is %" PRIu32 " (beyond INT_MAX): IDR corrupt or torn; "
		     "walking its xarray anyway (at most %d programs)",
		     next, KTBPF_MAX_PROGS);
	*ret_head = ld64(buf + w->idr->pos[IDR_HEAD]);
	return 0;
}

/* prog_idr in order (see snap_idr_next()), struct_ops programs only. */
static void walk_idr(struct walk *w, uint64_t head)
{
	struct snap_idr it;
	uint64_t index, entry;

	snap_idr_init(&it, w->s, w->x, &w->o->xa, head, KTBPF_MAX_PROGS, "prog_idr", "programs",
		      "list incomplete");
	while (snap_idr_next(&it, 1 + w->hdr->nr_spans, &index, &entry)) {
		w->s->idr_entries++;
		if (ktbpf_xa_is_internal(entry) || ktbpf_xa_is_value(entry)) {
			diag(w->s, -EUCLEAN, (uint32_t)index, entry,
			     "prog_idr entry %" PRIu64 " is not a pointer (0x%" PRIx64 ")", index,
			     entry);
			w->s->nr_skipped++;
			continue;
		}
		visit(w, index, entry);
	}
	snap_idr_deinit(&it);
}

struct ktbpf_snapshot *ktbpf_snapshot_new(void)
{
	struct ktbpf_snapshot *s = calloc(1, sizeof(*s));

	if (s) {
		s->stats = KTBPF_STATS_UNKNOWN;
		s->budget.max_reads = KTBPF_BUDGET_READS_DEFAULT;
		s->budget.max_ns = KTBPF_BUDGET_NS_DEFAULT;
	}
	return s;
}

struct ktbpf_snapshot *ktbpf_snapshot_free(struct ktbpf_snapshot *s)
{
	if (s) {
		if (s->walker)
			ktbpf_xlate_free(s->walker->x);
		free(s->walker);
		free(s->progs);
		free(s->instances);
		scx_snapshot_clear(&s->scx);
		free(s);
	}
	return NULL;
}

/*
 * s's walker, ready for a walk of k: its own translator over k's memory
 * with k's parameters and an empty page cache (the guest may have run
 * since the last walk), and ops struct layouts of k alone.
 */
static int walker_get(struct ktbpf_snapshot *s, const struct ktbpf_kernel *k, struct ktbpf_err *err)
{
	struct ktbpf_walker *wk = s->walker;

	if (!wk) {
		wk = s->walker = calloc(1, sizeof(*wk));
		if (!wk)
			return ktbpf_err_set(err, -ENOMEM, "out of memory for a walker");
	}
	if (wk->x && ktbpf_xlate_mem_of(wk->x) == ktbpf_kernel_mem(k)) {
		ktbpf_xlate_set_mmu(wk->x, ktbpf_kernel_mmu(k)); /* flushes the cache */
	} else {
		wk->x = ktbpf_xlate_free(wk->x);
		wk->x = ktbpf_kernel_xlate_new(k);
		if (!wk->x)
			return ktbpf_err_set(err, -ENOMEM, "out of memory for a translator");
	}
	wk->serial = kernel_serial(k);
	return 0;
}

int ktbpf_progs_walk(const struct ktbpf_kernel *k, struct ktbpf_snapshot *s, struct ktbpf_err *err)
{
	const struct ktbpf_kernel_info *info;
	const struct walk_plans *pl;
	uint64_t t0 = now_ns(), head = 0;
	struct walk w = {.s = s};
	int r;

	if (!k || !s)
		return ktbpf_err_set(err, -EINVAL, "progs walk needs a kernel and a snapshot");
	snapshot_reset(s);
	budget_start(s);
	r = walker_get(s, k, err);
	if (r < 0)
		return r;
	info = ktbpf_kernel_info(k);
	w.x = s->walker->x;
	w.o = ktbpf_kernel_offsets(k);
	w.ops = kernel_ops(k);
	w.cpus = ktbpf_kernel_cpus(k, &w.nr_cpus);
	if (!w.cpus)
		w.nr_cpus = 0;
	if (!info->prog_idr)
		return ktbpf_err_set(err, -ENOENT,
				     "symbol 'prog_idr' unknown: the kernel was described "
				     "without it");
	r = kernel_plans(k, &pl, err);
	if (r < 0)
		return r;
	w.hdr = &pl->hdr;
	w.aux = &pl->aux;
	w.stats = &pl->stats;
	w.idr = &pl->idr;
	r = read_idr(&w, info->prog_idr, &head, err);
	if (r < 0)
		return r;
	if (!w.nr_cpus)
		diag(s, -ENOENT, 0, info->per_cpu_offset,
		     "no possible CPUs known: runtime stats not read");
	read_stats_enabled(&w, info->bpf_stats_enabled_key);
	walk_idr(&w, head);
	read_stats(&w);
	structops_walk(k, s);
	s->walk_ns = now_ns() - t0;
	return 0;
}
