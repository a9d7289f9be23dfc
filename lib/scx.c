/* SPDX-License-Identifier: MIT */
/*
 * sched_ext's state beyond the current ops (structops-scx.c has those):
 * flags, watchdog, bypass depth, switched-all, rejected and enable
 * counters, the SCX_EV_* event counters per CPU, and the kernel's exit
 * record. Up to 6.15 they are statics of kernel/sched/ext.c; from 6.16 most
 * move into struct scx_sched behind scx_root (kernel/sched/ext_internal.h;
 * 7.2: kernel/sched/ext/internal.h). Each value is read from wherever the
 * kernel has it: a struct scx_sched member when BTF has one and scx_root is
 * set, else the static, found by name in kallsyms at discovery. The BTF is
 * gone by walk time: scx_offsets_resolve() keeps what the walk needs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/btf.h>

#include "ktbpf/vars.h"
#include "scx-internal.h"
#include "structops-internal.h"

#define EXIT_INFO_READ_MAX 512u	 /* bytes of struct scx_exit_info read (7.2: 72) */
#define EVENT_STATS_MAX	   4096u /* bytes of struct scx_event_stats read per CPU */

const char *ktbpf_scx_exit_source_name(enum ktbpf_scx_exit_source src)
{
	switch (src) {
	case KTBPF_SCX_EXIT_KERNEL:
		return "kernel";
	case KTBPF_SCX_EXIT_UEI:
		return "uei";
	default:
		return "none";
	}
}

static uint32_t member(const struct btf *btf, const char *type, const char *name)
{
	struct ktbpf_err e;
	uint32_t off;

	err_reset(&e);
	return ktbpf_btf_member_offset(btf, type, name, &off, &e) < 0 ? KTBPF_OFFSET_NONE : off;
}

static void copy_name(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

/* enum scx_exit_kind's values and names (kernel/sched/ext.c; 6.16+: ext_internal.h). */
static void resolve_exit_kinds(const struct btf *btf, struct ktbpf_scx_offsets *o)
{
	int id = btf__find_by_name_kind(btf, "scx_exit_kind", BTF_KIND_ENUM);
	const struct btf_type *t = id < 0 ? NULL : btf__type_by_id(btf, (uint32_t)id);
	uint32_t i;

	for (i = 0;
	     t && btf_is_enum(t) && i < btf_vlen(t) && o->nr_exit_kinds < KTBPF_SCX_MAX_EXIT_KINDS;
	     i++) {
		o->exit_kinds[o->nr_exit_kinds].value = btf_enum(t)[i].val;
		copy_name(o->exit_kinds[o->nr_exit_kinds].name, KTBPF_SCX_EXIT_KIND_LEN,
			  btf__name_by_offset(btf, btf_enum(t)[i].name_off));
		o->nr_exit_kinds++;
	}
}

/* struct scx_event_stats (6.15+): every 8-byte member is an s64 SCX_EV_* counter. */
static void resolve_events(const struct btf *btf, struct ktbpf_scx_offsets *o)
{
	int id = btf__find_by_name_kind(btf, "scx_event_stats", BTF_KIND_STRUCT);
	const struct btf_type *t = id < 0 ? NULL : btf__type_by_id(btf, (uint32_t)id);
	uint32_t i;

	if (!t || t->size > EVENT_STATS_MAX)
		return;
	o->event_stats_size = t->size;
	for (i = 0; i < btf_vlen(t) && o->nr_events < KTBPF_SCX_MAX_EVENTS; i++) {
		const struct btf_member *m = &btf_members(t)[i];
		uint32_t bits = btf_member_bit_offset(t, i);

		if (bits % 8 || btf_member_bitfield_size(t, i) ||
		    btf__resolve_size(btf, m->type) != 8 || bits / 8 + 8 > t->size)
			continue;
		o->events[o->nr_events].off = bits / 8;
		copy_name(o->events[o->nr_events].name, KTBPF_SCX_EVENT_NAME_LEN,
			  btf__name_by_offset(btf, m->name_off));
		o->nr_events++;
	}
}

void scx_offsets_resolve(const struct btf *btf, struct ktbpf_scx_offsets *o)
{
	static const char *const ei[7] = {"kind",   "exit_code", "reason", "bt",
					  "bt_len", "msg",	 "dump"};
	uint32_t *eo[7] = {&o->ei_kind,	  &o->ei_exit_code, &o->ei_reason, &o->ei_bt,
			   &o->ei_bt_len, &o->ei_msg,	    &o->ei_dump};
	int k;

	memset(o, 0, sizeof(*o));
	o->ops_flags = member(btf, "sched_ext_ops", "flags");
	o->prog_bpf_func = member(btf, "bpf_prog", "bpf_func");
	o->prog_jited_len = member(btf, "bpf_prog", "jited_len");
	o->sch_exit_kind = member(btf, "scx_sched", "exit_kind");
	o->sch_exit_info = member(btf, "scx_sched", "exit_info");
	o->sch_bypass_depth = member(btf, "scx_sched", "bypass_depth");
	o->sch_watchdog_timeout = member(btf, "scx_sched", "watchdog_timeout");
	o->sch_event_stats_cpu = member(btf, "scx_sched", "event_stats_cpu");
	o->sch_pcpu = member(btf, "scx_sched", "pcpu");
	o->pcpu_event_stats = member(btf, "scx_sched_pcpu", "event_stats");
	o->has_exit_info = true;
	for (k = 0; k < 7; k++) {
		*eo[k] = member(btf, "scx_exit_info", ei[k]);
		if (*eo[k] == KTBPF_OFFSET_NONE || *eo[k] > EXIT_INFO_READ_MAX - 8)
			o->has_exit_info = false;
	}
	resolve_exit_kinds(btf, o);
	resolve_events(btf, o);
}

void scx_snapshot_clear(struct ktbpf_scx *scx)
{
	free(scx->exit.dump);
	free(scx->events_cpu);
	free(scx->event_cpu_ids);
	scx->exit.dump = NULL;
	scx->events_cpu = NULL;
	scx->event_cpu_ids = NULL;
}

/* Where the state lives: in the scheduler (6.16+, scx_root set) or in statics. */
struct where {
	struct stwalk *w;
	const struct ktbpf_scx_offsets *o;
	uint64_t sch; /* scx_root's value, 0: statics (or no scheduler) */
};

static uint64_t at(const struct where *h, uint32_t sch_off, uint64_t static_kva)
{
	if (h->sch && sch_off != KTBPF_OFFSET_NONE)
		return h->sch + sch_off;
	/* 6.16+ moved the member into scx_sched: no static left to read. */
	if (sch_off != KTBPF_OFFSET_NONE && h->w->s->scx.layout == KTBPF_SCX_ROOT)
		return 0;
	return static_kva;
}

static bool rd(const struct where *h, uint64_t kva, void *buf, size_t len, const char *what)
{
	struct ktbpf_err e;

	if (!kva)
		return false;
	err_reset(&e);
	if (ktbpf_xlate_read(h->w->x, kva, buf, len, &e) < 0) {
		snap_diag_err(h->w->s, 0, &e, what);
		return false;
	}
	return true;
}

static void read_counters(const struct where *h, const struct scx_view *v)
{
	struct ktbpf_scx *scx = &h->w->s->scx;
	const struct ktbpf_kernel_info *info = h->w->info;
	uint64_t u64, ts, now;
	uint32_t u32;
	uint8_t u8;

	/* 6.12 zeroes scx_ops on disable: flags only of a copy that names a scheduler */
	if (v->ops_len && h->w->s->scx.ops_name[0] && h->o->ops_flags != KTBPF_OFFSET_NONE &&
	    (uint64_t)h->o->ops_flags + 8 <= v->ops_len) {
		memcpy(&scx->ops_flags, v->ops + h->o->ops_flags, 8);
		scx->have |= KTBPF_SCX_HAVE_FLAGS;
	}
	if (rd(h, at(h, h->o->sch_watchdog_timeout, info->scx_watchdog_timeout), &u64, 8,
	       "sched_ext watchdog timeout unreadable")) {
		scx->watchdog_timeout = u64;
		scx->have |= KTBPF_SCX_HAVE_WATCHDOG_TIMEOUT;
	}
	if (rd(h, info->scx_watchdog_timestamp, &ts, 8, "scx_watchdog_timestamp unreadable") &&
	    rd(h, info->jiffies, &now, 8, "jiffies unreadable")) {
		/* Both wrap (INITIAL_JIFFIES): the kernel compares them with time_after(). */
		if ((int64_t)(now - ts) < 0)
			snap_diag(h->w->s, -ERANGE, 0, info->scx_watchdog_timestamp,
				  "scx_watchdog_timestamp %" PRIu64 " is after jiffies %" PRIu64,
				  ts, now);
		else {
			scx->watchdog_age = now - ts;
			scx->have |= KTBPF_SCX_HAVE_WATCHDOG_AGE;
		}
	}
	if (rd(h, at(h, h->o->sch_bypass_depth, info->scx_bypass_depth), &u32, 4,
	       "sched_ext bypass depth unreadable")) {
		scx->bypass_depth = (int32_t)u32;
		scx->have |= KTBPF_SCX_HAVE_BYPASS;
	}
	if (info->scx_switched_all && rd(h, info->scx_switched_all + h->w->o->static_key_enabled,
					 &u32, 4, "__scx_switched_all unreadable")) {
		scx->switched_all = (int32_t)u32 > 0;
		scx->have |= KTBPF_SCX_HAVE_SWITCHED_ALL;
	}
	if (info->scx_switching_all &&
	    rd(h, info->scx_switching_all, &u8, 1, "scx_switching_all unreadable")) {
		scx->switching_all = u8 != 0;
		scx->have |= KTBPF_SCX_HAVE_SWITCHING_ALL;
	}
	if (rd(h, info->scx_hotplug_seq, &u64, 8, "scx_hotplug_seq unreadable")) {
		scx->hotplug_seq = (int64_t)u64;
		scx->have |= KTBPF_SCX_HAVE_HOTPLUG_SEQ;
	}
	if (rd(h, info->scx_nr_rejected, &u64, 8, "scx_nr_rejected unreadable")) {
		scx->nr_rejected = (int64_t)u64;
		scx->have |= KTBPF_SCX_HAVE_NR_REJECTED;
	}
	if (rd(h, info->scx_enable_seq, &u64, 8, "scx_enable_seq unreadable")) {
		scx->enable_seq = (int64_t)u64;
		scx->have |= KTBPF_SCX_HAVE_ENABLE_SEQ;
	}
	if (rd(h, at(h, h->o->sch_exit_kind, info->scx_exit_kind), &u32, 4,
	       "sched_ext exit kind unreadable")) {
		scx->exit_kind = (int32_t)u32;
		scx->have |= KTBPF_SCX_HAVE_EXIT_KIND;
	}
}

/*
 * The per-CPU struct scx_event_stats: sch->pcpu's event_stats (7.x),
 * sch->event_stats_cpu (6.16), or 6.15's static DEFINE_PER_CPU
 * event_stats_cpu (kernel/sched/ext.c), at the per-CPU address plus each
 * possible CPU's __per_cpu_offset (per_cpu_ptr()); summed as
 * scx_read_events() does.
 */
/*
 * Add one CPU's count to event i's total. The kernel's counters are s64
 * (kernel/sched/ext.c: struct scx_event_stats); a sum a guest makes overflow
 * saturates, with one diagnostic per event.
 */
static void add_event(const struct where *h, uint32_t i, int64_t v)
{
	int64_t *total = &h->w->s->scx.events[i].total, sum;

	if (*total == INT64_MAX || *total == INT64_MIN) /* saturated: stays */
		return;
	if (!__builtin_add_overflow(*total, v, &sum)) {
		*total = sum;
		return;
	}
	snap_diag(h->w->s, -ERANGE, 0, 0,
		  "sched_ext event %s: the sum over the CPUs overflows, saturated",
		  h->o->events[i].name);
	*total = v < 0 ? INT64_MIN : INT64_MAX;
}

static void read_events(const struct where *h, const struct ktbpf_cpu *cpus, uint32_t nr_cpus)
{
	struct ktbpf_scx *scx = &h->w->s->scx;
	const struct ktbpf_scx_offsets *o = h->o;
	uint8_t buf[EVENT_STATS_MAX];
	uint64_t base = 0, add = 0;
	uint32_t c, i, rows = 0;

	if (!o->nr_events || !nr_cpus)
		return;
	if (!h->sch) {
		if (h->w->s->scx.layout != KTBPF_SCX_OPS || !h->w->info->scx_event_stats)
			return;
		base = h->w->info->scx_event_stats;
	} else if (o->sch_pcpu != KTBPF_OFFSET_NONE && o->pcpu_event_stats != KTBPF_OFFSET_NONE) {
		if (!rd(h, h->sch + o->sch_pcpu, &base, 8, "scx_sched.pcpu unreadable"))
			return;
		add = o->pcpu_event_stats;
	} else if (o->sch_event_stats_cpu != KTBPF_OFFSET_NONE) {
		if (!rd(h, h->sch + o->sch_event_stats_cpu, &base, 8,
			"scx_sched.event_stats_cpu unreadable"))
			return;
	} else
		return;
	scx->events_cpu = calloc((size_t)nr_cpus * o->nr_events, sizeof(int64_t));
	scx->event_cpu_ids = calloc(nr_cpus, sizeof(uint32_t));
	if (!scx->events_cpu || !scx->event_cpu_ids) {
		snap_diag(h->w->s, -ENOMEM, 0, 0, "out of memory for sched_ext's event counters");
		scx_snapshot_clear(scx);
		return;
	}
	for (c = 0; c < nr_cpus; c++) {
		int64_t *row = scx->events_cpu + (size_t)rows * o->nr_events;

		if (budget_check(h->w->s, 1, "sched_ext event counters"))
			break;
		if (!rd(h, base + cpus[c].offset + add, buf, o->event_stats_size,
			"a CPU's sched_ext event counters unreadable"))
			continue;
		for (i = 0; i < o->nr_events; i++) {
			memcpy(&row[i], buf + o->events[i].off, 8);
			add_event(h, i, row[i]);
		}
		scx->event_cpu_ids[rows++] = cpus[c].cpu;
	}
	scx->nr_event_cpus = rows;
	scx->nr_events = o->nr_events;
	for (i = 0; i < o->nr_events; i++)
		memcpy(scx->events[i].name, o->events[i].name, KTBPF_SCX_EVENT_NAME_LEN);
	if (rows)
		scx->have |= KTBPF_SCX_HAVE_EVENTS;
}

static const char *kind_name(const struct ktbpf_scx_offsets *o, int64_t kind)
{
	uint32_t i;

	for (i = 0; i < o->nr_exit_kinds; i++)
		if (o->exit_kinds[i].value == kind)
			return o->exit_kinds[i].name;
	return "";
}

/* A string the exit record points at; a bad pointer is a diagnostic and "". */
static void read_str(const struct where *h, uint64_t kva, char *buf, size_t max, const char *what)
{
	struct ktbpf_err e;

	buf[0] = '\0';
	if (!kva)
		return;
	err_reset(&e);
	if (ktbpf_xlate_read_str(h->w->x, kva, buf, max, &e) < 0) {
		buf[0] = '\0';
		snap_diag_err(h->w->s, 0, &e, what);
	}
}

static uint64_t u64_at(const uint8_t *b, uint32_t off)
{
	uint64_t v;

	memcpy(&v, b + off, 8);
	return v;
}

/* The debug dump (up to KTBPF_SCX_DUMP_MAX), owned by the snapshot. */
static void read_dump(const struct where *h, uint64_t kva, struct ktbpf_scx_exit *x)
{
	if (!kva)
		return;
	x->dump = malloc(KTBPF_SCX_DUMP_MAX + 1);
	if (!x->dump) {
		snap_diag(h->w->s, -ENOMEM, 0, 0, "out of memory for the sched_ext dump");
		return;
	}
	read_str(h, kva, x->dump, KTBPF_SCX_DUMP_MAX + 1, "sched_ext exit dump unreadable");
	x->dump_len = strlen(x->dump);
	if (!x->dump_len) {
		free(x->dump);
		x->dump = NULL;
	}
}

/*
 * The kernel's struct scx_exit_info (alloc_exit_info() in ext.c): kind,
 * exit_code, reason (a static string), bt[bt_len], msg (SCX_EXIT_MSG_LEN)
 * and dump. It lives from enable until the disable work frees it (6.12)
 * or the scheduler is freed after an RCU grace period (6.16+).
 */
static void read_exit_info(const struct where *h)
{
	struct ktbpf_scx_exit *x = &h->w->s->scx.exit;
	const struct ktbpf_scx_offsets *o = h->o;
	uint8_t b[EXIT_INFO_READ_MAX];
	uint64_t p = 0, bt;
	uint32_t bt_len, kind;

	if (!o->has_exit_info ||
	    !rd(h, at(h, o->sch_exit_info, h->w->info->scx_exit_info), &p, 8,
		"sched_ext exit info pointer unreadable") ||
	    !p)
		return;
	if (!rd(h, p, b, EXIT_INFO_READ_MAX, "struct scx_exit_info unreadable"))
		return;
	memcpy(&kind, b + o->ei_kind, 4);
	x->kind = (int32_t)kind;
	copy_name(x->kind_name, sizeof(x->kind_name), kind_name(o, x->kind));
	x->exit_code = (int64_t)u64_at(b, o->ei_exit_code);
	read_str(h, u64_at(b, o->ei_reason), x->reason, sizeof(x->reason),
		 "sched_ext exit reason unreadable");
	read_str(h, u64_at(b, o->ei_msg), x->msg, sizeof(x->msg),
		 "sched_ext exit message unreadable");
	memcpy(&bt_len, b + o->ei_bt_len, 4);
	bt = u64_at(b, o->ei_bt);
	if (bt_len > KTBPF_SCX_BT_LEN) {
		snap_diag(h->w->s, -E2BIG, 0, p,
			  "sched_ext exit backtrace has %" PRIu32 " entries (more than %u): cut",
			  bt_len, KTBPF_SCX_BT_LEN);
		bt_len = KTBPF_SCX_BT_LEN;
	}
	if (bt && bt_len &&
	    rd(h, bt, x->bt, (size_t)bt_len * 8, "sched_ext exit backtrace unreadable"))
		x->bt_len = bt_len;
	read_dump(h, u64_at(b, o->ei_dump), x);
	x->source = KTBPF_SCX_EXIT_KERNEL;
}

void scx_state_walk(struct stwalk *w, const struct ktbpf_kernel *k, const struct scx_view *v)
{
	struct where h = {
		.w = w,
		.o = &w->st->scx,
		.sch = w->s->scx.layout == KTBPF_SCX_ROOT ? v->root : 0,
	};
	const struct ktbpf_cpu *cpus;
	uint32_t nr_cpus = 0;

	if (w->s->scx.layout == KTBPF_SCX_NONE)
		return;
	read_counters(&h, v);
	cpus = ktbpf_kernel_cpus(k, &nr_cpus);
	if (cpus)
		read_events(&h, cpus, nr_cpus);
	read_exit_info(&h);
}

/*
 * The object whose uei to read: the scheduler the kernel runs, else the
 * first sched_ext instance still in use (the one it ran last), else the
 * first sched_ext instance with an object.
 */
static const char *uei_object(const struct ktbpf_snapshot *s)
{
	const char *any = NULL;
	size_t i;

	if (s->active.source == KTBPF_ACTIVE_SCHED_EXT && s->active.obj_name[0])
		return s->active.obj_name;
	for (i = 0; i < s->nr_instances; i++) {
		const struct ktbpf_st_instance *in = &s->instances[i];

		if (!st_is_scx_iface(in->iface) || !in->obj_name[0])
			continue;
		if (in->state == KTBPF_ST_INUSE)
			return in->obj_name;
		if (!any)
			any = in->obj_name;
	}
	return any;
}

const char *ktbpf_snapshot_dump_object(const struct ktbpf_snapshot *s)
{
	const char *sched = uei_object(s);

	/* A scheduler that exited is what the failure is about, whatever else is in use. */
	if (sched && s->scx.exit.source != KTBPF_SCX_EXIT_NONE && s->scx.exit.kind)
		return sched;
	return s->active.obj_name[0] ? s->active.obj_name : sched;
}

/* uei's members (kind, exit_code, reason, msg) from its node at n[i]. */
static bool uei_take(const struct ktbpf_var *n, size_t i, size_t end, struct ktbpf_scx_exit *x)
{
	unsigned int got = 0;
	size_t j;

	for (j = i + 1; j < end && n[j].depth > n[i].depth; j++) {
		const struct ktbpf_var *c = &n[j];

		if (c->depth != n[i].depth + 1 || !c->name)
			continue;
		if (!strcmp(c->name, "kind") && c->kind == KTBPF_VAR_INT) {
			x->kind = c->i;
			got |= 1;
		} else if (!strcmp(c->name, "exit_code") && c->kind == KTBPF_VAR_INT) {
			x->exit_code = c->i;
			got |= 2;
		} else if (!strcmp(c->name, "reason") && c->kind == KTBPF_VAR_STRING) {
			copy_name(x->reason, sizeof(x->reason), c->str);
			got |= 4;
		} else if (!strcmp(c->name, "msg") && c->kind == KTBPF_VAR_STRING) {
			copy_name(x->msg, sizeof(x->msg), c->str);
			got |= 8;
		}
	}
	return got == 0xf;
}

int ktbpf_scx_uei_read(const struct ktbpf_kernel *k, struct ktbpf_snapshot *s,
		       struct ktbpf_err *err)
{
	struct ktbpf_vars_query q = {0};
	struct ktbpf_scx_exit x = {0};
	struct ktbpf_vars *v = NULL;
	size_t m, i;
	int r;

	if (s->scx.layout == KTBPF_SCX_NONE || s->scx.exit.source != KTBPF_SCX_EXIT_NONE)
		return 0;
	q.obj = uei_object(s);
	if (!q.obj)
		return 0;
	r = ktbpf_vars_read(k, s, &q, &v, err);
	if (r < 0) {
		snap_diag_err(s, 0, err, "the scheduler's uei unreadable");
		return r;
	}
	for (m = 0; m < v->nr_maps && x.source == KTBPF_SCX_EXIT_NONE; m++) {
		const struct ktbpf_vars_map *map = &v->maps[m];

		if (strcmp(map->section, ".data"))
			continue;
		for (i = map->first; i < map->first + map->nr && i < v->nr_nodes; i++) {
			const struct ktbpf_var *n = &v->nodes[i];

			if (n->depth || n->kind != KTBPF_VAR_STRUCT || !n->name ||
			    strcmp(n->name, "uei"))
				continue;
			if (uei_take(v->nodes, i, map->first + map->nr, &x))
				x.source = KTBPF_SCX_EXIT_UEI;
			break;
		}
	}
	ktbpf_vars_free(v);
	/* kind 0 (SCX_EXIT_NONE): the scheduler has not exited; nothing to say */
	if (x.source == KTBPF_SCX_EXIT_NONE || !x.kind)
		return 0;
	copy_name(x.kind_name, sizeof(x.kind_name),
		  kind_name(&ktbpf_kernel_offsets(k)->st.scx, x.kind));
	s->scx.exit = x;
	return 0;
}

/*
 * The struct_ops program whose JIT image (bpf_prog.bpf_func, jited_len:
 * include/linux/bpf.h) holds addr, as "bpf:NAME+0xoff". Images are read
 * from the snapshot's programs, two reads each, at most KTBPF_SCX_BT_LEN x
 * nr_progs; a program that cannot be read is skipped.
 */
static bool name_bpf(const struct ktbpf_kernel *k, struct ktbpf_snapshot *s, uint64_t addr,
		     char *buf, size_t size)
{
	const struct ktbpf_scx_offsets *o = &ktbpf_kernel_offsets(k)->st.scx;
	struct ktbpf_err e;
	size_t i;

	if (!s->walker || o->prog_bpf_func == KTBPF_OFFSET_NONE ||
	    o->prog_jited_len == KTBPF_OFFSET_NONE)
		return false;
	for (i = 0; i < s->nr_progs; i++) {
		const struct ktbpf_prog *p = &s->progs[i];
		uint64_t func;
		uint32_t len;

		err_reset(&e);
		if (ktbpf_xlate_read_u64(s->walker->x, p->kva + o->prog_bpf_func, &func, &e) < 0 ||
		    ktbpf_xlate_read_u32(s->walker->x, p->kva + o->prog_jited_len, &len, &e) < 0)
			continue;
		if (func && addr >= func && addr - func < len) {
			snprintf(buf, size, "bpf:%s+0x%llx", p->name,
				 (unsigned long long)(addr - func));
			return true;
		}
	}
	return false;
}

void ktbpf_scx_exit_symbolize(const struct ktbpf_kernel *k, struct ktbpf_snapshot *s)
{
	struct ktbpf_scx_exit *x = &s->scx.exit;
	uint32_t i;

	for (i = 0; i < x->bt_len && i < KTBPF_SCX_BT_LEN; i++)
		if (!name_bpf(k, s, x->bt[i], x->bt_sym[i], sizeof(x->bt_sym[i])) &&
		    ktbpf_kernel_symbolize(k, x->bt[i], x->bt_sym[i], sizeof(x->bt_sym[i])) < 0)
			x->bt_sym[i][0] = '\0';
}
