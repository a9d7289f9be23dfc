/* SPDX-License-Identifier: MIT */
/*
 * The Prometheus text exposition of snapshots (ktbpf/metrics.h): written by
 * hand (the format's own documentation endorses that; no C client library is
 * packaged), one buffer per metric family so that VMs can be added one at a
 * time while each family's samples stay together.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktbpf/metrics.h"

enum family {
	F_VM_INFO,
	F_VM_UP,
	F_STATS,
	F_SCX_STATE,
	F_SCX_INFO,
	F_PROG_INFO,
	F_RUNS,
	F_RUN_SECONDS,
	F_MISSES,
	F_INSNS,
	F_NR
};

static const struct {
	const char *name, *type, *help;
} families[F_NR] = {
	[F_VM_INFO] = {"ktbpfd_vm_info", "gauge",
		       "A registered VM the caller may see: its id, arch and discovery state (1)."},
	[F_VM_UP] = {"ktbpfd_vm_up", "gauge",
		     "1 when this scrape walked the VM, 0 when it could not (kernel not "
		     "discovered, walk failed)."},
	[F_STATS] = {"ktbpfd_vm_stats_enabled", "gauge",
		     "The guest's kernel.bpf_stats_enabled (run counters and times only count "
		     "while it is 1)."},
	[F_SCX_STATE] = {"ktbpfd_sched_ext_state", "gauge",
			 "The guest's sched_ext state: 1 for the current state, 0 for the others."},
	[F_SCX_INFO] = {"ktbpfd_sched_ext_info", "gauge",
			"The sched_ext scheduler the guest's kernel runs (1)."},
	[F_PROG_INFO] = {"ktbpfd_prog_info", "gauge",
			 "A struct_ops program and its id (ids change on every load) (1)."},
	[F_RUNS] = {"ktbpfd_prog_runs_total", "counter",
		    "Runs of a struct_ops program, summed over the guest's possible CPUs."},
	[F_RUN_SECONDS] = {"ktbpfd_prog_run_seconds_total", "counter",
			   "Time a struct_ops program ran, in seconds, summed over the guest's "
			   "possible CPUs."},
	[F_MISSES] = {"ktbpfd_prog_recursion_misses_total", "counter",
		      "Runs of a struct_ops program skipped by recursion protection."},
	[F_INSNS] = {"ktbpfd_prog_verified_insns", "gauge",
		     "Instructions the verifier processed for a struct_ops program."},
};

struct buf {
	char *p;
	size_t len, cap;
};

struct ktbpf_metrics {
	struct buf f[F_NR];
	bool oom;
};

static int buf_grow(struct buf *b, size_t more)
{
	size_t cap;
	char *p;

	if (b->len + more + 1 <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + more + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static void put(struct ktbpf_metrics *m, struct buf *b, const char *s, size_t n)
{
	if (m->oom || buf_grow(b, n) < 0) {
		m->oom = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void putf(struct ktbpf_metrics *m, struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void putf(struct ktbpf_metrics *m, struct buf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	put(m, b, tmp, n < 0 ? 0 : (size_t)n >= sizeof(tmp) ? sizeof(tmp) - 1 : (size_t)n);
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, surrogates or > U+10FFFF),
 * 0 when the bytes there are not one. */
static size_t utf8_seq(const unsigned char *s)
{
	unsigned c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;

		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;

		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80
			       ? 4
			       : 0;
	}
	return 0;
}

size_t ktbpf_metrics_escape(char *out, size_t cap, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");
	size_t n = 0;

#define EMIT(bytes, len)                                                                           \
	do {                                                                                       \
		for (size_t k_ = 0; k_ < (len); k_++, n++)                                         \
			if (n + 1 < cap)                                                           \
				out[n] = (bytes)[k_];                                              \
	} while (0)
	/* The string is NUL-terminated, so utf8_seq() never reads past it (a NUL fails every
	 * continuation test). */
	while (*s) {
		size_t l = utf8_seq(s);

		if (*s == '\\')
			EMIT("\\\\", 2);
		else if (*s == '"')
			EMIT("\\\"", 2);
		else if (*s == '\n')
			EMIT("\\n", 2);
		else if (!l) {
			EMIT("\xef\xbf\xbd", 3); /* U+FFFD for each byte that is not UTF-8 */
			s++;
			continue;
		} else if ((*s < 0x20 && *s != '\t') || *s == 0x7f ||
			   (s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f))
			/* a control (C0, DEL, C1): `ktbpfctl metrics` prints to a terminal */
			EMIT("\xef\xbf\xbd", 3);
		else
			EMIT((const char *)s, l);
		s += l;
	}
#undef EMIT
	if (cap)
		out[n < cap ? n : cap - 1] = 0;
	return n;
}

/* ,name="value" (or name="value" first) with value escaped. */
static void label(struct ktbpf_metrics *m, struct buf *b, bool first, const char *name,
		  const char *value)
{
	char tmp[512], *e = tmp;
	size_t n = ktbpf_metrics_escape(tmp, sizeof(tmp), value);

	if (n >= sizeof(tmp)) {
		e = malloc(n + 1);
		if (!e) {
			m->oom = true;
			return;
		}
		ktbpf_metrics_escape(e, n + 1, value);
	}
	if (!first)
		put(m, b, ",", 1);
	put(m, b, name, strlen(name));
	put(m, b, "=\"", 2);
	put(m, b, e, n);
	put(m, b, "\"", 1);
	if (e != tmp)
		free(e);
}

static struct buf *sample(struct ktbpf_metrics *m, enum family f, const char *vm)
{
	struct buf *b = &m->f[f];

	put(m, b, families[f].name, strlen(families[f].name));
	put(m, b, "{", 1);
	label(m, b, true, "vm", vm);
	return b;
}

static void value_u64(struct ktbpf_metrics *m, struct buf *b, uint64_t v)
{
	putf(m, b, "} %" PRIu64 "\n", v);
}

/*
 * objs[i]: the object (struct_ops map's programs' <obj>) of the first instance that uses program
 * i, "" when none does. Programs are in id order, so each instance member is a binary search:
 * O(instances x members x log programs), never programs x instances. NULL on OOM.
 */
static const char **prog_objects(const struct ktbpf_snapshot *s)
{
	const char **objs = calloc(s->nr_progs ? s->nr_progs : 1, sizeof(*objs));

	if (!objs)
		return NULL;
	for (size_t i = 0; i < s->nr_instances; i++) {
		const struct ktbpf_st_instance *in = &s->instances[i];

		for (uint32_t j = 0; j < in->nr_members && j < KTBPF_MAX_OPS_MEMBERS; j++) {
			uint32_t id = in->members[j].prog_id;
			size_t lo = 0, hi = s->nr_progs;

			while (lo < hi) {
				size_t mid = lo + (hi - lo) / 2;

				if (s->progs[mid].id < id)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo < s->nr_progs && s->progs[lo].id == id && !objs[lo])
				objs[lo] = in->obj_name;
		}
	}
	for (size_t i = 0; i < s->nr_progs; i++)
		if (!objs[i])
			objs[i] = "";
	return objs;
}

static void prog_labels(struct ktbpf_metrics *m, struct buf *b, const char *obj,
			const struct ktbpf_prog *p, uint32_t copy)
{
	label(m, b, false, "object", obj);
	label(m, b, false, "interface", p->iface);
	label(m, b, false, "member", p->member);
	label(m, b, false, "program", p->name);
	if (copy > 1)
		putf(m, b, ",copy=\"%" PRIu32 "\"", copy);
}

static uint64_t fnv(uint64_t h, const char *str)
{
	for (const unsigned char *c = (const unsigned char *)str; *c; c++)
		h = (h ^ *c) * 0x100000001b3ull;
	return (h ^ 0xff) * 0x100000001b3ull; /* a separator: "ab","c" differs from "a","bc" */
}

static bool same_labels(const struct ktbpf_snapshot *s, const char **objs, size_t a, size_t b)
{
	const struct ktbpf_prog *x = &s->progs[a], *y = &s->progs[b];

	return !strcmp(x->name, y->name) && !strcmp(x->iface, y->iface) &&
	       !strcmp(x->member, y->member) && !strcmp(objs[a], objs[b]);
}

/*
 * copies[i]: 1 for the first program with its labels (object, interface, member, program), 2, 3
 * ... for later ones (the same object loaded twice): a copy label keeps every series unique, or
 * node_exporter's textfile collector would reject the whole file. A hash table (open
 * addressing) keeps this linear in the programs a hostile guest can list. NULL on OOM.
 */
static uint32_t *prog_copies(const struct ktbpf_snapshot *s, const char **objs)
{
	size_t n = s->nr_progs, cap = 16;
	uint32_t *copies, *slot;

	while (cap < 2 * n)
		cap *= 2;
	copies = calloc(n ? n : 1, sizeof(*copies));
	slot = malloc(cap * sizeof(*slot));
	if (!copies || !slot) {
		free(copies);
		free(slot);
		return NULL;
	}
	memset(slot, 0xff, cap * sizeof(*slot));
	for (size_t i = 0; i < n; i++) {
		const struct ktbpf_prog *p = &s->progs[i];
		uint64_t h = fnv(fnv(fnv(fnv(0xcbf29ce484222325ull, p->name), p->iface), p->member),
				 objs[i]);
		size_t k = h & (cap - 1);

		copies[i] = 1;
		for (; slot[k] != UINT32_MAX; k = (k + 1) & (cap - 1)) {
			if (same_labels(s, objs, i, slot[k])) {
				/* the latest copy sits in the slot: count on from it */
				copies[i] = copies[slot[k]] + 1;
				slot[k] = (uint32_t)i;
				break;
			}
		}
		if (slot[k] == UINT32_MAX)
			slot[k] = (uint32_t)i;
	}
	free(slot);
	return copies;
}

struct ktbpf_metrics *ktbpf_metrics_new(void)
{
	return calloc(1, sizeof(struct ktbpf_metrics));
}

void ktbpf_metrics_free(struct ktbpf_metrics *m)
{
	if (!m)
		return;
	for (int i = 0; i < F_NR; i++)
		free(m->f[i].p);
	free(m);
}

static const enum ktbpf_scx_state scx_states[] = {KTBPF_SCX_ENABLING, KTBPF_SCX_ENABLED,
						  KTBPF_SCX_DISABLING, KTBPF_SCX_DISABLED};

int ktbpf_metrics_add_vm(struct ktbpf_metrics *m, const struct ktbpf_metrics_vm *vm,
			 const struct ktbpf_snapshot *s)
{
	const char **objs;
	uint32_t *copies;
	struct buf *b;

	b = sample(m, F_VM_INFO, vm->name);
	label(m, b, false, "id", vm->id);
	label(m, b, false, "arch", vm->arch);
	label(m, b, false, "state", vm->state);
	value_u64(m, b, 1);
	value_u64(m, sample(m, F_VM_UP, vm->name), s != NULL);
	if (!s)
		return m->oom ? -ENOMEM : 0;
	if (s->stats != KTBPF_STATS_UNKNOWN)
		value_u64(m, sample(m, F_STATS, vm->name), s->stats == KTBPF_STATS_ENABLED);
	if (s->scx.layout != KTBPF_SCX_NONE && s->scx.state != KTBPF_SCX_UNKNOWN) {
		for (size_t i = 0; i < sizeof(scx_states) / sizeof(scx_states[0]); i++) {
			b = sample(m, F_SCX_STATE, vm->name);
			label(m, b, false, "state", ktbpf_scx_state_name(scx_states[i]));
			value_u64(m, b, s->scx.state == scx_states[i]);
		}
		if (s->scx.ops_name[0]) {
			b = sample(m, F_SCX_INFO, vm->name);
			label(m, b, false, "scheduler", s->scx.ops_name);
			value_u64(m, b, 1);
		}
	}
	objs = prog_objects(s);
	copies = objs ? prog_copies(s, objs) : NULL;
	if (!copies) {
		free(objs);
		m->oom = true;
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->nr_progs; i++) {
		const struct ktbpf_prog *p = &s->progs[i];

		b = sample(m, F_PROG_INFO, vm->name);
		prog_labels(m, b, objs[i], p, copies[i]);
		putf(m, b, ",id=\"%" PRIu32 "\"", p->id);
		value_u64(m, b, 1);
		b = sample(m, F_INSNS, vm->name);
		prog_labels(m, b, objs[i], p, copies[i]);
		value_u64(m, b, p->verified_insns);
		/* Counters only when every possible CPU's were read: a partial sum would go
		 * backwards on the next scrape. */
		if (!p->stats_valid)
			continue;
		b = sample(m, F_RUNS, vm->name);
		prog_labels(m, b, objs[i], p, copies[i]);
		value_u64(m, b, p->cnt);
		b = sample(m, F_RUN_SECONDS, vm->name);
		prog_labels(m, b, objs[i], p, copies[i]);
		putf(m, b, "} %" PRIu64 ".%09" PRIu64 "\n", p->nsecs / 1000000000u,
		     p->nsecs % 1000000000u);
		b = sample(m, F_MISSES, vm->name);
		prog_labels(m, b, objs[i], p, copies[i]);
		value_u64(m, b, p->misses);
	}
	free(copies);
	free(objs);
	return m->oom ? -ENOMEM : 0;
}

static void header(struct ktbpf_metrics *m, struct buf *out, const char *name, const char *type,
		   const char *help)
{
	put(m, out, "# HELP ", 7);
	put(m, out, name, strlen(name));
	put(m, out, " ", 1);
	put(m, out, help, strlen(help));
	put(m, out, "\n# TYPE ", 8);
	put(m, out, name, strlen(name));
	put(m, out, " ", 1);
	put(m, out, type, strlen(type));
	put(m, out, "\n", 1);
}

char *ktbpf_metrics_finish(struct ktbpf_metrics *m, const char *version, bool with_duration,
			   uint64_t scrape_ns, size_t *ret_len)
{
	struct buf out = {0};

	header(m, &out, "ktbpfd_build_info", "gauge", "The ktbpfd serving this exposition (1).");
	put(m, &out, "ktbpfd_build_info{", 18);
	label(m, &out, true, "version", version);
	put(m, &out, "} 1\n", 4);
	for (int i = 0; i < F_NR; i++) {
		if (!m->f[i].len)
			continue;
		header(m, &out, families[i].name, families[i].type, families[i].help);
		put(m, &out, m->f[i].p, m->f[i].len);
	}
	if (with_duration) {
		header(m, &out, "ktbpfd_scrape_duration_seconds", "gauge",
		       "Time this scrape took (walks of every VM, no freeze).");
		putf(m, &out, "ktbpfd_scrape_duration_seconds %" PRIu64 ".%09" PRIu64 "\n",
		     scrape_ns / 1000000000u, scrape_ns % 1000000000u);
	}
	if (m->oom) {
		free(out.p);
		return NULL;
	}
	if (ret_len)
		*ret_len = out.len;
	return out.p;
}

int ktbpf_metrics_merge(struct ktbpf_metrics *dst, const struct ktbpf_metrics *src)
{
	if (src->oom)
		dst->oom = true;
	for (int i = 0; i < F_NR; i++)
		put(dst, &dst->f[i], src->f[i].p ? src->f[i].p : "", src->f[i].len);
	return dst->oom ? -ENOMEM : 0;
}
