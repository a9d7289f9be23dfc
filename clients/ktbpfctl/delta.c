/* SPDX-License-Identifier: MIT */
/*
 * The difference of two Snapshot documents, program by program, with
 * bpftop's arithmetic (delta.h says which and why): shared by `ktbpfctl top`
 * and `ktbpfctl diff`.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "delta.h"

const char *ktbpfctl_rate_state_name(enum ktbpfctl_rate_state s)
{
	static const char *const names[] = {"both", "new", "gone", "reset"};

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

int ktbpfctl_rate_sort_parse(const char *s)
{
	static const char *const keys[] = {"events", "ns", "cpu", "name", "id"};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strcmp(s, keys[i]))
			return KTBPFCTL_SORT_EVENTS + (int)i;
	return -1;
}

/* bpftop's three numbers from the deltas (Netflix/bpftop src/bpf_program.rs). */
static void rates(struct ktbpfctl_rate *r, uint64_t period_ns)
{
	r->avg_ns = r->d_cnt ? (double)r->d_nsecs / (double)r->d_cnt : 0;
	r->events_per_s = period_ns ? (double)r->d_cnt * 1e9 / (double)period_ns : 0;
	r->cpu_pct = period_ns ? (double)r->d_nsecs * 100.0 / (double)period_ns : 0;
}

static void fill(struct ktbpfctl_rate *r, const json_t *p)
{
	r->id = ktbpfctl_json_u64(p, "id");
	r->name = ktbpfctl_json_str(p, "name", "?");
	r->iface = ktbpfctl_json_str(p, "interface", "?");
	r->member = ktbpfctl_json_str(p, "member", "?");
	r->cnt = ktbpfctl_json_u64(p, "run_cnt");
	r->nsecs = ktbpfctl_json_u64(p, "run_time_ns");
	r->misses = ktbpfctl_json_u64(p, "recursion_misses");
}

struct key {
	uint64_t id;
	size_t idx;
	size_t next; /* the first of a run of one id: its first entry not yet matched */
	bool used;
};

static int cmp_key(const void *a, const void *b)
{
	const struct key *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id ? 1 : x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * The first of the run of keys with id (sorted), or NULL. Entries of a run
 * are matched in order (take()), so that many programs with one id (a
 * hostile document) cost no more than distinct ones.
 */
static struct key *run_of(struct key *keys, size_t n, uint64_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (keys[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && keys[lo].id == id ? &keys[lo] : NULL;
}

/* The run's next unmatched entry, or NULL. */
static struct key *next_of(struct key *keys, size_t n, const struct key *run)
{
	return run && run->next < n && keys[run->next].id == run->id ? &keys[run->next] : NULL;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static void add_total(struct ktbpfctl_rates *r, const struct ktbpfctl_rate *x)
{
	r->total.cnt = sat_add(r->total.cnt, x->cnt);
	r->total.nsecs = sat_add(r->total.nsecs, x->nsecs);
	r->total.misses = sat_add(r->total.misses, x->misses);
	r->total.d_cnt = sat_add(r->total.d_cnt, x->d_cnt);
	r->total.d_nsecs = sat_add(r->total.d_nsecs, x->d_nsecs);
	r->total.d_misses = sat_add(r->total.d_misses, x->d_misses);
}

/* One program of b against its match in a (NULL: new). */
static void delta(struct ktbpfctl_rate *r, const json_t *pb, const json_t *pa)
{
	uint64_t cnt, nsecs, misses;

	fill(r, pb);
	if (!pa) {
		r->state = KTBPFCTL_RATE_NEW;
		r->d_cnt = r->cnt;
		r->d_nsecs = r->nsecs;
		r->d_misses = r->misses;
		return;
	}
	cnt = ktbpfctl_json_u64(pa, "run_cnt");
	nsecs = ktbpfctl_json_u64(pa, "run_time_ns");
	misses = ktbpfctl_json_u64(pa, "recursion_misses");
	if (r->cnt < cnt || r->nsecs < nsecs || r->misses < misses) {
		r->state = KTBPFCTL_RATE_RESET;
		return;
	}
	r->state = KTBPFCTL_RATE_BOTH;
	r->d_cnt = r->cnt - cnt;
	r->d_nsecs = r->nsecs - nsecs;
	r->d_misses = r->misses - misses;
}

int ktbpfctl_rates_compute(const json_t *a, const json_t *b, uint64_t period_ns,
			   struct ktbpfctl_rates *ret)
{
	const json_t *pa = json_object_get(a, "progs"), *pb = json_object_get(b, "progs");
	size_t na = json_array_size(pa), nb = json_array_size(pb), i;
	struct ktbpfctl_rates r = {.period_ns = period_ns};
	struct key *keys = NULL;

	if (na > KTBPFCTL_DELTA_MAX_PROGS || nb > KTBPFCTL_DELTA_MAX_PROGS)
		return -E2BIG;
	keys = calloc(na ? na : 1, sizeof(*keys));
	r.v = calloc(na + nb ? na + nb : 1, sizeof(*r.v));
	if (!keys || !r.v) {
		free(keys);
		free(r.v);
		return -ENOMEM;
	}
	for (i = 0; i < na; i++)
		keys[i] = (struct key){ktbpfctl_json_u64(json_array_get(pa, i), "id"), i, 0, false};
	qsort(keys, na, sizeof(*keys), cmp_key);
	for (i = 0; i < na; i++)
		keys[i].next = i;
	for (i = 0; i < nb; i++) {
		const json_t *p = json_array_get(pb, i), *match = NULL;
		struct key *run = run_of(keys, na, ktbpfctl_json_u64(p, "id")),
			   *k = next_of(keys, na, run);

		if (k && !strcmp(ktbpfctl_json_str(json_array_get(pa, k->idx), "name", "?"),
				 ktbpfctl_json_str(p, "name", "?"))) {
			k->used = true;
			run->next++;
			match = json_array_get(pa, k->idx);
		}
		delta(&r.v[r.n], p, match);
		add_total(&r, &r.v[r.n]);
		rates(&r.v[r.n++], period_ns);
	}
	/* The gone ones, by id. */
	for (i = 0; i < na; i++)
		if (!keys[i].used) {
			fill(&r.v[r.n], json_array_get(pa, keys[i].idx));
			r.v[r.n++].state = KTBPFCTL_RATE_GONE;
		}
	free(keys);
	rates(&r.total, period_ns);
	*ret = r;
	return 0;
}

void ktbpfctl_rates_free(struct ktbpfctl_rates *r)
{
	free(r->v);
	r->v = NULL;
	r->n = 0;
}

static enum ktbpfctl_rate_sort sort_key;

static int cmp_double(double a, double b)
{
	return a > b ? -1 : a < b;
}

static int cmp_rate(const void *a, const void *b)
{
	const struct ktbpfctl_rate *x = a, *y = b;
	int c = 0;

	switch (sort_key) {
	case KTBPFCTL_SORT_EVENTS:
		c = cmp_double(x->events_per_s, y->events_per_s);
		break;
	case KTBPFCTL_SORT_NS:
		c = cmp_double(x->avg_ns, y->avg_ns);
		break;
	case KTBPFCTL_SORT_CPU:
		c = cmp_double(x->cpu_pct, y->cpu_pct);
		break;
	case KTBPFCTL_SORT_NAME:
		c = strcmp(x->name, y->name);
		break;
	case KTBPFCTL_SORT_ID:
	case KTBPFCTL_SORT_NONE:
		break;
	}
	return c ? c : x->id < y->id ? -1 : x->id > y->id;
}

void ktbpfctl_rates_sort(struct ktbpfctl_rates *r, enum ktbpfctl_rate_sort key)
{
	if (key == KTBPFCTL_SORT_NONE)
		return;
	sort_key = key; /* qsort has no context argument; ktbpfctl is single-threaded */
	qsort(r->v, r->n, sizeof(*r->v), cmp_rate);
}

static json_t *real(double v)
{
	/*
	 * Three decimals (rates are never negative): stable in golden files.
	 * From 1e15 on there are none to round (a double has 53 bits), and the
	 * cast would overflow: hostile documents (a period of 1 ns, counters
	 * near 2^64) reach 1e28.
	 */
	if (!(v < 1e15))
		return json_real(v);
	return json_real((double)(uint64_t)(v * 1000.0 + 0.5) / 1000.0);
}

static int add_common(json_t *o, const struct ktbpfctl_rate *r)
{
	return json_object_update_new(
		o, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o}", "run_cnt",
			     (json_int_t)(r->cnt > INT64_MAX ? INT64_MAX : r->cnt), "run_time_ns",
			     (json_int_t)(r->nsecs > INT64_MAX ? INT64_MAX : r->nsecs),
			     "recursion_misses",
			     (json_int_t)(r->misses > INT64_MAX ? INT64_MAX : r->misses),
			     "run_cnt_delta",
			     (json_int_t)(r->d_cnt > INT64_MAX ? INT64_MAX : r->d_cnt),
			     "run_time_ns_delta",
			     (json_int_t)(r->d_nsecs > INT64_MAX ? INT64_MAX : r->d_nsecs),
			     "recursion_misses_delta",
			     (json_int_t)(r->d_misses > INT64_MAX ? INT64_MAX : r->d_misses),
			     "events_per_s", real(r->events_per_s), "avg_ns", real(r->avg_ns),
			     "cpu_percent", real(r->cpu_pct)));
}

json_t *ktbpfctl_rates_json(const struct ktbpfctl_rates *r)
{
	json_t *progs = json_array(), *total = json_object(), *root;

	for (size_t i = 0; progs && i < r->n; i++) {
		const struct ktbpfctl_rate *x = &r->v[i];
		json_t *p = json_pack("{s:I, s:s, s:s, s:s, s:s}", "id",
				      (json_int_t)(x->id > INT64_MAX ? INT64_MAX : x->id), "name",
				      x->name, "interface", x->iface, "member", x->member, "state",
				      ktbpfctl_rate_state_name(x->state));

		if (!p || add_common(p, x) < 0 || json_array_append_new(progs, p) < 0) {
			json_decref(p);
			progs = (json_decref(progs), NULL);
		}
	}
	if (total && add_common(total, &r->total) < 0)
		total = (json_decref(total), NULL);
	root = json_pack("{s:I, s:o, s:o}", "period_ns",
			 (json_int_t)(r->period_ns > INT64_MAX ? INT64_MAX : r->period_ns), "progs",
			 progs, "total", total);
	return root;
}
