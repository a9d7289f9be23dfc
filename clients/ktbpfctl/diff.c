/* SPDX-License-Identifier: MIT */
/*
 * ktbpfctl diff A B: what changed between two failure dumps or snapshots
 * (JSON files: a stored dump's document, or a Snapshot from `snapshot
 * --json` / `inspect --json`; or ids of dumps in ktbpfd's store). Per program
 * the counters' deltas and, when both documents carry their time, the rates
 * over the time between them (delta.c: the arithmetic `top` uses); per
 * variable of the active object old -> new; the variables that did not
 * change although their object's programs ran in between (a counter that
 * stopped counting is what a stalled scheduler leaves behind); sched_ext's
 * state and exit kind when they changed.
 *
 * The documents are input: every member is checked for its type, the trees
 * are walked with a depth and a leaf cap, and a document that is not one of
 * the shapes above is an error that names the file.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ktbpf/client.h"

#include "delta.h"
#include "ktbpfctl.h"

#define MAX_DEPTH  64
#define MAX_LEAVES (1u << 18)
#define MAX_PATH   512

struct side {
	const char *arg;
	json_t *doc;	    /* what was read (owned) */
	const json_t *snap; /* its Snapshot */
	bool has_time;
	uint64_t time_ns;
};

/* One leaf variable: "map\tpath" and its value as text. */
struct leaf {
	char *key;
	char *value;
	const char *kind;
	bool writable; /* not in .rodata */
	bool used;
};

struct leaves {
	struct leaf *v;
	size_t n, cap;
	bool capped;
};

void ktbpfctl_diff_usage(FILE *out)
{
	fputs("Usage: ktbpfctl diff A B [--json] [--socket PATH]\n"
	      "\n"
	      "What changed from A to B, two failure dumps or snapshots of one VM: each a\n"
	      "JSON file (a dump as 'ktbpfctl dumps export' writes it, or a snapshot from\n"
	      "'ktbpfctl snapshot --json' or 'inspect --json') or the id of a dump in\n"
	      "ktbpfd's store. Prints:\n"
	      "  - per program the counters' deltas (+RUN_CNT, +RUN_TIME_NS, +MISSES), the\n"
	      "    average ns per call over them and, when both documents carry their time\n"
	      "    (dumps, daemon snapshots), events/s and CPU % over the time between\n"
	      "    them, as 'ktbpfctl top' computes them; programs only in A or only in B;\n"
	      "  - the active object's variables that changed, old -> new, and those that\n"
	      "    did not change although the object's programs ran in between (integers\n"
	      "    outside .rodata): a counter that stopped counting;\n"
	      "  - sched_ext's state and exit kind when they changed.\n"
	      "\nOptions:\n"
	      "  -j, --json         one JSON document: {\"a\", \"b\", \"period_ns\", \"progs\",\n"
	      "                     \"total\", \"vars\": {\"object\", \"changed\", \"added\",\n"
	      "                     \"removed\", \"unchanged\", \"stopped\", \"object_runs\"},\n"
	      "                     \"sched_ext\"}\n"
	      "  -s, --socket PATH  ktbpfd's socket, for dump ids (default: $KTBPF_SOCKET,\n"
	      "                     else " KTBPF_CLIENT_SYSTEM_SOCKET ")\n"
	      "  -h, --help         show this help\n"
	      "\nExamples:\n"
	      "  ktbpfctl diff before.json after.json\n"
	      "  ktbpfctl diff 1764494400123456-vm-1-0 1764494460123456-vm-1-1 --json\n"
	      "\nExit status: 0 success, 1 a document could not be read (no such file or\n"
	      "dump, not a dump or snapshot), 2 usage error. See ktbpfctl(1).\n",
	      out);
}

/* The Snapshot of a document: a dump's "snapshot", or the document itself. */
static int take_snapshot(struct side *s)
{
	const json_t *snap = json_object_get(s->doc, "snapshot"), *t;

	if (!json_is_object(snap))
		snap = s->doc;
	if (!json_is_object(snap) || !json_is_array(json_object_get(snap, "progs")))
		return -EINVAL;
	s->snap = snap;
	/* When the walk ended (ktbpfd's snapshots), else when the dump was stored. */
	t = json_object_get(snap, "time_unix_ns");
	if (!json_is_integer(t))
		t = json_object_get(s->doc, "time_unix_ns");
	s->has_time = json_is_integer(t) && json_integer_value(t) > 0;
	s->time_ns = s->has_time ? (uint64_t)json_integer_value(t) : 0;
	return 0;
}

/* A file when one exists by that name, else a stored dump's id. */
static int load(struct side *s, const char *socket)
{
	struct ktbpf_client *c = NULL;
	struct ktbpf_err err = {0};
	json_error_t jerr;
	struct stat st;
	int r;

	if (stat(s->arg, &st) == 0 || strchr(s->arg, '/')) {
		s->doc = json_load_file(s->arg, JSON_REJECT_DUPLICATES, &jerr);
		if (!s->doc)
			return ktbpfctl_fail("diff", false, KTBPFCTL_EXIT_FAIL, "%s: %s", s->arg,
					     jerr.text);
	} else {
		r = ktbpf_client_connect(socket, &c, &err);
		if (r == 0)
			r = ktbpf_client_dump_get(c, s->arg, &s->doc, &err);
		ktbpf_client_free(c);
		if (r < 0)
			return ktbpfctl_fail("diff", false, KTBPFCTL_EXIT_FAIL,
					     "%s: no such file, and no such dump: %s", s->arg,
					     err.msg);
	}
	if (take_snapshot(s) < 0)
		return ktbpfctl_fail(
			"diff", false, KTBPFCTL_EXIT_FAIL,
			"%s: neither a failure dump nor a snapshot (no \"progs\" list)", s->arg);
	return -1;
}

/* A leaf's value as text; NULL for a node without one. */
static char *leaf_text(const json_t *n, const char *kind)
{
	const json_t *v = json_object_get(n, "value");
	char buf[64];

	if (!strcmp(kind, "error") || !strcmp(kind, "nosum"))
		return NULL;
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *out = NULL;

		if (strcmp(kind, "string"))
			return strdup(s);
		if (asprintf(&out, "\"%s\"", s) < 0)
			return NULL;
		return out;
	}
	if (json_is_integer(v))
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, sizeof(buf), "%s", json_is_true(v) ? "true" : "false");
	else
		return NULL;
	return strdup(buf);
}

static int push(struct leaves *l, const char *key, char *value, const char *kind, bool writable)
{
	char *k;

	if (l->n == MAX_LEAVES) {
		l->capped = true;
		free(value);
		return 0;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct leaf *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	k = strdup(key);
	if (!k) {
		free(value);
		return -ENOMEM;
	}
	l->v[l->n++] = (struct leaf){k, value, kind, writable, false};
	return 0;
}

/* Node n's leaves under path (its parent's). */
static int flatten(struct leaves *l, const json_t *n, const char *path, unsigned depth,
		   bool writable)
{
	const char *name = ktbpfctl_json_str(n, "name", ""),
		   *kind = ktbpfctl_json_str(n, "kind", "");
	const json_t *idx = json_object_get(n, "index"), *kids = json_object_get(n, "children");
	char p[MAX_PATH];
	size_t i;
	int r;

	if (depth > MAX_DEPTH || !json_is_object(n)) {
		l->capped = true;
		return 0;
	}
	if (!strcmp(name, "cpu") && json_is_integer(idx))
		snprintf(p, sizeof(p), "%s.cpu%" JSON_INTEGER_FORMAT, path,
			 json_integer_value(idx));
	else if (json_is_integer(idx) && !name[0])
		snprintf(p, sizeof(p), "%s[%" JSON_INTEGER_FORMAT "]", path,
			 json_integer_value(idx));
	else
		snprintf(p, sizeof(p), "%s%s%s", path, path[strlen(path) - 1] == '\t' ? "" : ".",
			 name[0] ? name : "(anon)");
	if (json_is_array(kids)) {
		for (i = 0; i < json_array_size(kids); i++) {
			r = flatten(l, json_array_get(kids, i), p, depth + 1, writable);
			if (r < 0)
				return r;
		}
		return 0;
	}
	return push(l, p, leaf_text(n, kind), kind, writable);
}

static int cmp_leaf(const void *a, const void *b)
{
	return strcmp(((const struct leaf *)a)->key, ((const struct leaf *)b)->key);
}

/* The leaves of a Snapshot's "vars", sorted by key. */
static int leaves_of(const json_t *vars, struct leaves *l)
{
	const json_t *maps = json_object_get(vars, "maps"), *m;
	size_t i, j;
	int r;

	json_array_foreach(maps, i, m)
	{
		const char *section = ktbpfctl_json_str(m, "section", "");
		char path[MAX_PATH];

		/* Bounded so that the tab, which vars_diff() splits at, always fits. */
		snprintf(path, sizeof(path), "%.*s\t", MAX_PATH / 2,
			 ktbpfctl_json_str(m, "name", "?"));
		for (j = 0; j < json_array_size(json_object_get(m, "vars")); j++) {
			r = flatten(l, json_array_get(json_object_get(m, "vars"), j), path, 0,
				    strncmp(section, ".rodata", 7) != 0);
			if (r < 0)
				return r;
		}
	}
	if (l->n > 1) /* v is NULL while empty: qsort's and bsearch's base is nonnull */
		qsort(l->v, l->n, sizeof(*l->v), cmp_leaf);
	return 0;
}

static void leaves_free(struct leaves *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
}

static struct leaf *find_leaf(struct leaves *l, const char *key)
{
	struct leaf k = {.key = (char *)key};

	return l->n ? bsearch(&k, l->v, l->n, sizeof(*l->v), cmp_leaf) : NULL;
}

struct id_runs {
	uint64_t id, runs;
};

static int cmp_id_runs(const void *a, const void *b)
{
	const struct id_runs *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * The runs of object obj's programs in the diff: members of its struct_ops
 * instances in B. The programs' runs are summed by id first, so that a
 * document with many members and many programs costs n log n, not n * m.
 */
static uint64_t object_runs(const json_t *snap, const char *obj, const struct ktbpfctl_rates *r)
{
	struct id_runs *v = calloc(r->n ? r->n : 1, sizeof(*v)), key, *hit;
	const json_t *in, *m;
	uint64_t runs = 0;
	size_t i, j, n = 0;

	if (!v)
		return 0;
	for (i = 0; i < r->n; i++)
		if (r->v[i].state == KTBPFCTL_RATE_BOTH)
			v[n++] = (struct id_runs){r->v[i].id, r->v[i].d_cnt};
	qsort(v, n, sizeof(*v), cmp_id_runs);
	for (i = 0, j = 0; i < n; i++) { /* one entry per id, its runs summed */
		if (j && v[j - 1].id == v[i].id) {
			if (__builtin_add_overflow(v[j - 1].runs, v[i].runs, &v[j - 1].runs))
				v[j - 1].runs = UINT64_MAX;
		} else {
			v[j++] = v[i];
		}
	}
	n = j;
	json_array_foreach(json_object_get(snap, "struct_ops"), i, in)
	{
		if (strcmp(ktbpfctl_json_str(in, "object", ""), obj))
			continue;
		json_array_foreach(json_object_get(in, "members"), j, m)
		{
			key.id = ktbpfctl_json_u64(m, "prog_id");
			hit = bsearch(&key, v, n, sizeof(*v), cmp_id_runs);
			if (hit && __builtin_add_overflow(runs, hit->runs, &runs))
				runs = UINT64_MAX;
		}
	}
	free(v);
	return runs;
}

static bool is_counter(const struct leaf *x)
{
	return x->writable && x->value && (!strcmp(x->kind, "int") || !strcmp(x->kind, "uint"));
}

/* The "vars" part: {"object", "changed", "added", "removed", "unchanged", "stopped", ...}. */
static json_t *vars_diff(const struct side *a, const struct side *b,
			 const struct ktbpfctl_rates *rates)
{
	const json_t *va = json_object_get(a->snap, "vars"), *vb = json_object_get(b->snap, "vars");
	const char *obj = ktbpfctl_json_str(vb, "object", ktbpfctl_json_str(va, "object", ""));
	json_t *changed = json_array(), *added = json_array(), *removed = json_array(),
	       *stopped = json_array(), *out = NULL;
	struct leaves la = {0}, lb = {0};
	uint64_t runs = object_runs(b->snap, obj, rates), same = 0;
	size_t i;

	if (!json_object_get(va, "maps") && !json_object_get(vb, "maps"))
		goto out;
	if (leaves_of(va, &la) < 0 || leaves_of(vb, &lb) < 0 || !changed || !added || !removed ||
	    !stopped)
		goto out;
	for (i = 0; i < lb.n; i++) {
		struct leaf *x = &lb.v[i], *o = find_leaf(&la, x->key);
		char *tab = strchr(x->key, '\t');
		json_t *e = json_pack("{s:s%, s:s}", "map", x->key, (size_t)(tab - x->key), "path",
				      tab + 1);

		if (!e)
			goto out;
		if (!o) {
			json_object_set_new(e, "value",
					    x->value ? json_string(x->value) : json_null());
			json_array_append_new(added, e);
			continue;
		}
		o->used = true;
		if (o->value && x->value && strcmp(o->value, x->value)) {
			json_object_set_new(e, "old", json_string(o->value));
			json_object_set_new(e, "new", json_string(x->value));
			json_array_append_new(changed, e);
			continue;
		}
		same++;
		if (runs && is_counter(x)) {
			json_object_set_new(e, "value", json_string(x->value));
			json_array_append_new(stopped, e);
		} else {
			json_decref(e);
		}
	}
	for (i = 0; i < la.n; i++) {
		char *tab = strchr(la.v[i].key, '\t');

		if (!la.v[i].used)
			json_array_append_new(removed,
					      json_pack("{s:s%, s:s, s:s?}", "map", la.v[i].key,
							(size_t)(tab - la.v[i].key), "path",
							tab + 1, "value", la.v[i].value));
	}
	out = json_pack("{s:s, s:O, s:O, s:O, s:I, s:O, s:I, s:b}", "object", obj, "changed",
			changed, "added", added, "removed", removed, "unchanged", (json_int_t)same,
			"stopped", stopped, "object_runs",
			(json_int_t)(runs > INT64_MAX ? INT64_MAX : runs), "capped",
			la.capped || lb.capped);
out:
	json_decref(changed);
	json_decref(added);
	json_decref(removed);
	json_decref(stopped);
	leaves_free(&la);
	leaves_free(&lb);
	return out;
}

/* sched_ext's enable state and exit kind, [A, B] each (null where a side has none). */
static json_t *scx_diff(const struct side *a, const struct side *b)
{
	const json_t *xa = json_object_get(a->snap, "sched_ext"),
		     *xb = json_object_get(b->snap, "sched_ext");
	const json_t *ea = json_object_get(json_object_get(xa, "exit"), "kind_name"),
		     *eb = json_object_get(json_object_get(xb, "exit"), "kind_name");

	if (!json_is_object(xa) && !json_is_object(xb))
		return json_null();
	return json_pack("{s:[O?, O?], s:[O?, O?], s:[O?, O?]}", "enable_state",
			 json_object_get(xa, "enable_state"), json_object_get(xb, "enable_state"),
			 "ops_name", json_object_get(xa, "ops_name"),
			 json_object_get(xb, "ops_name"), "exit", json_is_string(ea) ? ea : NULL,
			 json_is_string(eb) ? eb : NULL);
}

static json_t *side_json(const struct side *s)
{
	return json_pack("{s:s, s:O?, s:O?, s:o}", "source", s->arg, "dump",
			 json_object_get(s->doc, "dump"), "time", json_object_get(s->doc, "time"),
			 "time_unix_ns",
			 s->has_time ? json_integer((json_int_t)s->time_ns) : json_null());
}

/* The whole document; rates are null without the two times. */
static json_t *diff_json(const struct side *a, const struct side *b, const struct ktbpfctl_rates *r)
{
	json_t *j = ktbpfctl_rates_json(r), *p;
	size_t i;

	if (!j)
		return NULL;
	if (!r->period_ns) {
		json_object_set_new(j, "period_ns", json_null());
		json_array_foreach(json_object_get(j, "progs"), i, p)
		{
			json_object_set_new(p, "events_per_s", json_null());
			json_object_set_new(p, "cpu_percent", json_null());
		}
		json_object_set_new(json_object_get(j, "total"), "events_per_s", json_null());
		json_object_set_new(json_object_get(j, "total"), "cpu_percent", json_null());
	}
	json_object_set_new(j, "a", side_json(a));
	json_object_set_new(j, "b", side_json(b));
	json_object_set_new(j, "vars", vars_diff(a, b, r));
	json_object_set_new(j, "sched_ext", scx_diff(a, b));
	return j;
}

static void print_side(const char *which, const struct side *s)
{
	const char *t = ktbpfctl_json_str(s->doc, "time", NULL);

	printf("%s  %s", which, s->arg);
	if (t)
		printf("  %s", t);
	putchar('\n');
}

static const char *note(const struct ktbpfctl_rate *x, const struct ktbpfctl_rates *r)
{
	if (x->state == KTBPFCTL_RATE_NEW)
		return "  (only in B)";
	if (x->state == KTBPFCTL_RATE_RESET)
		return "  (counters went back: another program?)";
	if (!x->d_cnt && r->total.d_cnt)
		return "  (did not run while others did)";
	return "";
}

static void print_progs(const struct ktbpfctl_rates *r)
{
	bool rates = r->period_ns != 0;

	printf("\nprograms");
	if (rates)
		printf(" (rates over %.3f s)", (double)r->period_ns / 1e9);
	else
		printf(" (no rates: a document has no time; deltas only)");
	printf("\n%6s  %-16s  %-36s  %12s  %14s  %10s  %12s  %7s  %s\n", "ID", "NAME",
	       "INTERFACE.MEMBER", "+RUN_CNT", "+RUN_TIME_NS", "AVG_NS", "EVENTS/S", "CPU%",
	       "+MISSES");
	for (size_t i = 0; i < r->n; i++) {
		const struct ktbpfctl_rate *x = &r->v[i];
		char im[160];

		snprintf(im, sizeof(im), "%s.%s", x->iface, x->member);
		if (x->state == KTBPFCTL_RATE_GONE) {
			printf("%6" PRIu64 "  %-16s  %-36s  (only in A)\n", x->id, x->name, im);
			continue;
		}
		printf("%6" PRIu64 "  %-16s  %-36s  %12" PRIu64 "  %14" PRIu64 "  %10.0f", x->id,
		       x->name, im, x->d_cnt, x->d_nsecs, x->avg_ns);
		if (rates)
			printf("  %12.0f  %7.2f", x->events_per_s, x->cpu_pct);
		else
			printf("  %12s  %7s", "-", "-");
		printf("  %" PRIu64 "%s\n", x->d_misses, note(x, r));
	}
	printf("%6s  %-16s  %-36s  %12" PRIu64 "  %14" PRIu64 "  %10.0f", "", "TOTAL", "",
	       r->total.d_cnt, r->total.d_nsecs, r->total.avg_ns);
	if (rates)
		printf("  %12.0f  %7.2f", r->total.events_per_s, r->total.cpu_pct);
	else
		printf("  %12s  %7s", "-", "-");
	printf("  %" PRIu64 "\n", r->total.d_misses);
}

static void print_entries(const json_t *list, const char *fmt_key)
{
	const json_t *e;
	size_t i;

	json_array_foreach(list, i, e)
	{
		printf("  %s %s", ktbpfctl_json_str(e, "map", "?"),
		       ktbpfctl_json_str(e, "path", "?"));
		if (!strcmp(fmt_key, "changed"))
			printf(": %s -> %s\n", ktbpfctl_json_str(e, "old", "?"),
			       ktbpfctl_json_str(e, "new", "?"));
		else
			printf(" = %s\n", ktbpfctl_json_str(e, "value", "?"));
	}
}

static void print_vars(const json_t *v)
{
	const json_t *stopped = json_object_get(v, "stopped");
	const char *obj = ktbpfctl_json_str(v, "object", "?");

	if (!json_is_object(v)) {
		printf("\nvariables: in neither document\n");
		return;
	}
	printf("\nvariables of %s: %zu changed, %" JSON_INTEGER_FORMAT " unchanged\n", obj,
	       json_array_size(json_object_get(v, "changed")),
	       json_integer_value(json_object_get(v, "unchanged")));
	print_entries(json_object_get(v, "changed"), "changed");
	if (json_array_size(json_object_get(v, "added"))) {
		printf("only in B:\n");
		print_entries(json_object_get(v, "added"), "added");
	}
	if (json_array_size(json_object_get(v, "removed"))) {
		printf("only in A:\n");
		print_entries(json_object_get(v, "removed"), "removed");
	}
	if (json_array_size(stopped)) {
		printf("STOPPED CHANGING while %s's programs ran %" JSON_INTEGER_FORMAT " times:\n",
		       obj, json_integer_value(json_object_get(v, "object_runs")));
		print_entries(stopped, "stopped");
	}
	if (json_is_true(json_object_get(v, "capped")))
		printf("(not all variables compared: a document's tree is too deep or too "
		       "large)\n");
}

static void print_scx(const json_t *x)
{
	static const char *const keys[] = {"enable_state", "ops_name", "exit"};
	bool any = false;

	for (size_t i = 0; json_is_object(x) && i < 3; i++) {
		const json_t *p = json_object_get(x, keys[i]);
		const char *a = json_string_value(json_array_get(p, 0)),
			   *b = json_string_value(json_array_get(p, 1));

		if ((a && b && !strcmp(a, b)) || (!a && !b))
			continue;
		if (!any)
			printf("\nsched_ext\n");
		any = true;
		printf("  %-13s %s -> %s\n", keys[i], a ? a : "-", b ? b : "-");
	}
}

static int run(struct side *a, struct side *b, bool json)
{
	struct ktbpfctl_rates r;
	uint64_t period = 0;
	json_t *doc;
	int rc;

	if (a->has_time && b->has_time && b->time_ns > a->time_ns)
		period = b->time_ns - a->time_ns;
	rc = ktbpfctl_rates_compute(a->snap, b->snap, period, &r);
	if (rc < 0)
		return ktbpfctl_fail("diff", false, KTBPFCTL_EXIT_FAIL, "cannot compare: %s",
				     rc == -E2BIG ? "too many programs" : strerror(-rc));
	doc = diff_json(a, b, &r);
	if (!doc) {
		ktbpfctl_rates_free(&r);
		return ktbpfctl_fail("diff", false, KTBPFCTL_EXIT_FAIL, "out of memory");
	}
	if (json) {
		json_dumpf(doc, stdout, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
		putchar('\n');
	} else {
		print_side("A", a);
		print_side("B", b);
		print_progs(&r);
		print_vars(json_object_get(doc, "vars"));
		print_scx(json_object_get(doc, "sched_ext"));
	}
	json_decref(doc);
	ktbpfctl_rates_free(&r);
	if (fflush(stdout) != 0 || ferror(stdout))
		return ktbpfctl_fail("diff", false, KTBPFCTL_EXIT_FAIL, "cannot write the output");
	return KTBPFCTL_EXIT_OK;
}

int ktbpfctl_diff(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"socket", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct side a = {0}, b = {0};
	const char *socket = NULL;
	bool json = false;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "js:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 's':
			socket = optarg;
			break;
		case 'h':
			ktbpfctl_diff_usage(stdout);
			return KTBPFCTL_EXIT_OK;
		default:
			fprintf(stderr, "see 'ktbpfctl diff --help'\n");
			return KTBPFCTL_EXIT_USAGE;
		}
	}
	if (argc - optind != 2)
		return ktbpfctl_fail("diff", false, KTBPFCTL_EXIT_USAGE,
				     "give two dumps or snapshots, A and B (files or dump ids)");
	a.arg = argv[optind];
	b.arg = argv[optind + 1];
	r = load(&a, socket);
	if (r < 0)
		r = load(&b, socket);
	if (r < 0 && !json) {
		ktbpfctl_json_printable(a.doc);
		ktbpfctl_json_printable(b.doc);
	}
	if (r < 0)
		r = run(&a, &b, json);
	json_decref(a.doc);
	json_decref(b.doc);
	return r;
}
