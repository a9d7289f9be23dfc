/* SPDX-License-Identifier: MIT */
/*
 * compare-truth: checks what ktbpfctl read from a guest's RAM (the host side,
 * `ktbpfctl inspect --json`) against what the guest itself reported through
 * the bpf() syscall and sysfs (the agent's `KTBPF-TRUTH {json}` line).
 *
 *   compare-truth [--expect-counter-mismatch] TRUTH.json INSPECT.json
 *   compare-truth --vars TRUTH.json VARS.json
 *
 * Everything the guest knows must match exactly: the struct_ops programs (by
 * id: none missing, none extra, no id twice, the same count) with their name,
 * verified_insns, run_cnt, run_time_ns, recursion_misses, interface and
 * member; every struct_ops instance (map id, name, interface, state, object,
 * member -> program id table); the active instances and object; sched_ext's
 * scheduler, its map and state, the numbers its sysfs shows (switch_all,
 * nr_rejected, hotplug_seq, enable_seq) and its SCX_EV_* event counters (the
 * host's per-CPU rows must add up to its totals), and why it exited (kind,
 * code, reason and exact message, as the scheduler's uei and the kernel log
 * say: compare-scx.c); whether runtime stats are enabled
 * (and, when they are not, counters of 0); the paging levels; how many CPUs are possible. The
 * host's answer must also be whole: no diagnostic, no cap hit, no skipped entry, not torn, complete
 * stats (the guest is paused while it is read). A key the guest reports that the host's document
 * lacks is a mismatch.
 *
 * Prints one "MISMATCH ..." line per difference. Exit status: 0 all match,
 * 1 a mismatch, 2 bad input (unreadable JSON, a truth that lacks a key: an
 * older guest agent).
 *
 * --expect-counter-mismatch is for the negative control (an inspector that
 * sums CPU 0 only): exit 0 only if counters (run_cnt, run_time_ns,
 * recursion_misses) differ and nothing else does, 1 otherwise.
 *
 * --vars compares the guest's "vars" with `ktbpfctl vars --json` instead
 * (compare-vars.c).
 */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compare-truth.h"
#include "compare-vars.h"

/* Mismatches found: counters of programs both sides list, and all others. */
static int nr_counters, nr_others;

void mismatch(bool counter, const char *fmt, ...)
{
	va_list ap;

	fputs("MISMATCH ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	if (counter)
		nr_counters++;
	else
		nr_others++;
}

void differ(bool counter, const char *subject, json_t *want, json_t *got)
{
	char *w = want ? json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	char *g = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;

	mismatch(counter, "%s: guest says %s, host read %s", subject, w ? w : "(missing)",
		 g ? g : "(missing)");
	free(w);
	free(g);
}

void host_wrong(const char *subject, const char *want, json_t *got)
{
	char *g = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;

	mismatch(false, "%s: host read %s, want %s", subject, g ? g : "(missing)", want);
	free(g);
}

void expect_equal(bool counter, const char *subject, json_t *want, json_t *got)
{
	if (!got || !json_equal(want, got))
		differ(counter, subject, want, got);
}

json_t *get(json_t *obj, const char *key)
{
	return json_is_object(obj) ? json_object_get(obj, key) : NULL;
}

/* ---- the guest's truth must have every key (else: an older agent, exit 2) ---- */

enum kind { INT, STR, BOOL, ARRAY, OBJ, STR_OR_NULL, OBJ_OR_NULL, INT_OR_NULL, BOOL_OR_NULL };

struct field {
	const char *key;
	enum kind kind;
};

static bool is_kind(json_t *v, enum kind k)
{
	switch (k) {
	case INT:
		return json_is_integer(v);
	case STR:
		return json_is_string(v);
	case BOOL:
		return json_is_boolean(v);
	case ARRAY:
		return json_is_array(v);
	case OBJ:
		return json_is_object(v);
	case STR_OR_NULL:
		return json_is_string(v) || json_is_null(v);
	case OBJ_OR_NULL:
		return json_is_object(v) || json_is_null(v);
	case INT_OR_NULL:
		return json_is_integer(v) || json_is_null(v);
	case BOOL_OR_NULL:
		return json_is_boolean(v) || json_is_null(v);
	}
	return false;
}

static const struct field truth_top[] = {
	{"nr_cpus", INT},      {"stats_enabled", BOOL},	   {"progs", ARRAY}, {"paging_levels", INT},
	{"struct_ops", ARRAY}, {"sched_ext", OBJ_OR_NULL}, {"active", OBJ},  {NULL, INT},
};
static const struct field truth_prog[] = {
	{"id", INT},	  {"name", STR},	{"verified_insns", INT},
	{"run_cnt", INT}, {"run_time_ns", INT}, {"recursion_misses", INT},
	{NULL, INT},
};
static const struct field truth_instance[] = {
	{"map_id", INT},	 {"name", STR},	     {"interface", STR}, {"state", STR},
	{"object", STR_OR_NULL}, {"members", ARRAY}, {NULL, INT},
};
static const struct field truth_member[] = {{"member", STR}, {"prog_id", INT}, {NULL, INT}};
/* (null: the guest's kernel has no such file) */
static const struct field truth_scx[] = {
	{"state", STR},
	{"root_ops", STR_OR_NULL},
	{"switch_all", BOOL_OR_NULL},
	{"nr_rejected", INT_OR_NULL},
	{"hotplug_seq", INT_OR_NULL},
	{"enable_seq", INT_OR_NULL},
	{"events", OBJ_OR_NULL},
	{NULL, INT},
};
static const struct field truth_active[] = {
	{"attached", BOOL},	    {"instances", ARRAY}, {"obj_name", STR_OR_NULL},
	{"interface", STR_OR_NULL}, {NULL, INT},
};

static int check_fields(json_t *obj, const struct field *f, const char *where)
{
	for (; f->key; f++) {
		if (!is_kind(get(obj, f->key), f->kind)) {
			fprintf(stderr,
				"compare-truth: truth lacks %s%s%s (an older guest agent?)\n",
				where, *where ? "." : "", f->key);
			return -1;
		}
	}
	return 0;
}

static int check_list(json_t *list, const struct field *f, const char *name)
{
	char where[96];
	size_t i;
	json_t *e;

	json_array_foreach(list, i, e)
	{
		snprintf(where, sizeof(where), "%s[%zu]", name, i);
		if (check_fields(e, f, where) < 0)
			return -1;
	}
	return 0;
}

static int check_truth(json_t *t)
{
	json_t *e, *m;
	size_t i, j;

	if (check_fields(t, truth_top, "") < 0 ||
	    check_list(get(t, "progs"), truth_prog, "progs") < 0 ||
	    check_list(get(t, "struct_ops"), truth_instance, "struct_ops") < 0 ||
	    check_fields(get(t, "active"), truth_active, "active") < 0)
		return -1;
	if (json_is_object(get(t, "sched_ext")) &&
	    check_fields(get(t, "sched_ext"), truth_scx, "sched_ext") < 0)
		return -1;
	json_array_foreach(get(t, "struct_ops"), i, e)
	{
		json_array_foreach(get(e, "members"), j, m)
		{
			if (check_fields(m, truth_member, "struct_ops[].members[]") < 0)
				return -1;
		}
	}
	json_array_foreach(get(t, "progs"), i, e)
	{
		/* optional: where the guest names a program's role, it must be a name */
		if ((get(e, "interface") && !json_is_string(get(e, "interface"))) ||
		    (get(e, "member") && !json_is_string(get(e, "member")))) {
			fprintf(stderr,
				"compare-truth: truth's progs[%zu] interface/member is not a "
				"string\n",
				i);
			return -1;
		}
	}
	json_array_foreach(get(get(t, "active"), "instances"), i, e)
	{
		if (!json_is_integer(e)) {
			fprintf(stderr,
				"compare-truth: truth's active.instances[%zu] is not a map id\n",
				i);
			return -1;
		}
	}
	return 0;
}

/* ---- lists keyed by an integer id ---- */

static json_t *find_id(json_t *list, const char *key, json_int_t id, size_t *ret_n)
{
	json_t *e, *first = NULL;
	size_t i, n = 0;

	json_array_foreach(list, i, e)
	{
		json_t *v = get(e, key);

		if (json_is_integer(v) && json_integer_value(v) == id) {
			if (!first)
				first = e;
			n++;
		}
	}
	if (ret_n)
		*ret_n = n;
	return first;
}

/* Each id listed more than once is a mismatch (once per id); entries without one too. */
static void check_unique(json_t *list, const char *key, const char *what, const char *side)
{
	json_t *e;
	size_t i, n;

	json_array_foreach(list, i, e)
	{
		json_t *v = get(e, key);

		if (!json_is_integer(v)) {
			mismatch(false, "%s entry %zu: the %s lists it without an integer %s", what,
				 i, side, key);
			continue;
		}
		if (find_id(list, key, json_integer_value(v), &n) == e && n > 1)
			mismatch(false,
				 "%s %" JSON_INTEGER_FORMAT " duplicate: the %s lists it %zu times",
				 what, json_integer_value(v), side, n);
	}
}

static void check_count(const char *what, json_t *want, json_t *got)
{
	if (json_array_size(want) != json_array_size(got))
		mismatch(false, "%s count: guest says %zu, host read %zu", what,
			 json_array_size(want), json_array_size(got));
}

/* Entries of `want` the host lacks, and entries of `got` the guest lacks. */
static void check_presence(const char *what, const char *key, json_t *want, json_t *got)
{
	json_t *e;
	size_t i;

	json_array_foreach(want, i, e)
	{
		json_int_t id = json_integer_value(get(e, key));

		if (!find_id(got, key, id, NULL))
			mismatch(false,
				 "%s %" JSON_INTEGER_FORMAT
				 ": guest says present, host read absent",
				 what, id);
	}
	json_array_foreach(got, i, e)
	{
		json_t *v = get(e, key);

		if (json_is_integer(v) && !find_id(want, key, json_integer_value(v), NULL))
			mismatch(false,
				 "%s %" JSON_INTEGER_FORMAT
				 ": guest says absent, host read present",
				 what, json_integer_value(v));
	}
}

/*
 * The guest's list want and the host's list got (named list), of entries
 * (each a what) identified by key: ids unique on each side, as many on
 * both, each on both. False when got is no list at all (said).
 */
static bool check_ids(const char *list, const char *what, const char *key, json_t *want,
		      json_t *got)
{
	if (!json_is_array(got)) {
		differ(false, list, want, got);
		return false;
	}
	check_unique(want, key, what, "guest");
	check_unique(got, key, what, "host");
	check_count(list, want, got);
	check_presence(what, key, want, got);
	return true;
}

/* ---- programs ---- */

/*
 * The interface and member the guest gives program `id`: its own keys where it
 * has them, else the struct_ops instance whose member table holds it.
 */
static void want_role(json_t *truth, json_t *p, json_t **iface, json_t **member)
{
	json_int_t id = json_integer_value(get(p, "id"));
	json_t *inst, *m;
	size_t i, j;

	*iface = get(p, "interface");
	*member = get(p, "member");
	if (*iface && *member)
		return;
	json_array_foreach(get(truth, "struct_ops"), i, inst)
	{
		json_array_foreach(get(inst, "members"), j, m)
		{
			if (json_integer_value(get(m, "prog_id")) != id)
				continue;
			if (!*iface)
				*iface = get(inst, "interface");
			if (!*member)
				*member = get(m, "member");
			return;
		}
	}
}

static void cmp_prog(json_t *truth, json_t *p, json_t *q)
{
	static const char *const counters[] = {"run_cnt", "run_time_ns", "recursion_misses"};
	json_int_t id = json_integer_value(get(p, "id"));
	bool stats_off = json_is_false(get(truth, "stats_enabled"));
	json_t *iface, *member;
	char subj[96];
	size_t i;

#define SUBJ(field)                                                                                \
	(snprintf(subj, sizeof(subj), "prog %" JSON_INTEGER_FORMAT " %s", id, field), subj)
	expect_equal(false, SUBJ("name"), get(p, "name"), get(q, "name"));
	expect_equal(false, SUBJ("verified_insns"), get(p, "verified_insns"),
		     get(q, "verified_insns"));
	for (i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		json_t *w = get(p, counters[i]), *g = get(q, counters[i]);

		if (!g || !json_equal(w, g))
			differ(true, SUBJ(counters[i]), w, g);
		else if (stats_off && i < 2 && json_integer_value(g) != 0)
			/* recursion_misses counts with stats off too; the others must not */
			mismatch(false,
				 "prog %" JSON_INTEGER_FORMAT " %s: stats are disabled, yet both "
				 "sides say %" JSON_INTEGER_FORMAT " (must be 0)",
				 id, counters[i], json_integer_value(g));
	}
	want_role(truth, p, &iface, &member);
	if (iface)
		expect_equal(false, SUBJ("interface"), iface, get(q, "interface"));
	if (member)
		expect_equal(false, SUBJ("member"), member, get(q, "member"));
	/* The guest is paused while the host reads it: every per-CPU counter must be readable. */
	if (!json_is_true(get(q, "stats_complete")))
		host_wrong(SUBJ("stats_complete (the guest is paused)"), "true",
			   get(q, "stats_complete"));
#undef SUBJ
}

static void cmp_progs(json_t *truth, json_t *host)
{
	json_t *want = get(truth, "progs"), *got = get(host, "progs"), *p;
	size_t i, n;

	if (json_array_size(want) == 0)
		mismatch(false,
			 "progs: the guest lists no struct_ops program (nothing was tested)");
	if (!check_ids("progs", "prog", "id", want, got))
		return;
	json_array_foreach(want, i, p)
	{
		json_int_t id = json_integer_value(get(p, "id"));
		json_t *q = find_id(got, "id", id, NULL);

		/* a duplicate in the truth was reported above: compare its first entry only */
		if (q && find_id(want, "id", id, &n) == p)
			cmp_prog(truth, p, q);
	}
}

/* ---- struct_ops instances ---- */

/* A member -> program table entry that names a program (prog_id 0: not implemented). */
static json_t *find_member(json_t *members, const char *name, size_t *ret_n)
{
	json_t *m, *first = NULL;
	size_t i, n = 0;

	json_array_foreach(members, i, m)
	{
		const char *s = json_string_value(get(m, "member"));

		if (s && !strcmp(s, name) && json_integer_value(get(m, "prog_id")) != 0) {
			if (!first)
				first = m;
			n++;
		}
	}
	*ret_n = n;
	return first;
}

static void cmp_members(json_int_t map_id, json_t *want, json_t *got)
{
	json_t *m, *h;
	size_t i, n;

	if (!json_is_array(got)) {
		mismatch(false, "struct_ops map %" JSON_INTEGER_FORMAT " members: host read %s",
			 map_id, got ? "no list" : "(missing)");
		return;
	}
	json_array_foreach(want, i, m)
	{
		const char *name = json_string_value(get(m, "member"));

		if (json_integer_value(get(m, "prog_id")) == 0)
			continue;
		h = find_member(got, name, &n);
		if (!h)
			mismatch(false,
				 "struct_ops map %" JSON_INTEGER_FORMAT
				 " member %s: guest says prog "
				 "%" JSON_INTEGER_FORMAT ", host read none",
				 map_id, name, json_integer_value(get(m, "prog_id")));
		else if (!json_equal(get(m, "prog_id"), get(h, "prog_id")))
			mismatch(false,
				 "struct_ops map %" JSON_INTEGER_FORMAT
				 " member %s: guest says prog "
				 "%" JSON_INTEGER_FORMAT ", host read prog %" JSON_INTEGER_FORMAT,
				 map_id, name, json_integer_value(get(m, "prog_id")),
				 json_integer_value(get(h, "prog_id")));
		if (find_member(want, name, &n) == m && n > 1)
			mismatch(false,
				 "struct_ops map %" JSON_INTEGER_FORMAT
				 " member %s: the guest lists it "
				 "%zu times",
				 map_id, name, n);
	}
	json_array_foreach(got, i, h)
	{
		const char *name = json_string_value(get(h, "member"));

		if (!name || !json_is_integer(get(h, "prog_id"))) {
			mismatch(false,
				 "struct_ops map %" JSON_INTEGER_FORMAT
				 " member entry %zu: host read "
				 "no member name and program id",
				 map_id, i);
			continue;
		}
		if (json_integer_value(get(h, "prog_id")) == 0)
			continue;
		if (!find_member(want, name, &n))
			mismatch(false,
				 "struct_ops map %" JSON_INTEGER_FORMAT
				 " member %s: guest says none, "
				 "host read prog %" JSON_INTEGER_FORMAT,
				 map_id, name, json_integer_value(get(h, "prog_id")));
		else if (find_member(got, name, &n) == h && n > 1)
			mismatch(false,
				 "struct_ops map %" JSON_INTEGER_FORMAT
				 " member %s: the host lists it "
				 "%zu times",
				 map_id, name, n);
	}
}

static void cmp_instances(json_t *truth, json_t *host)
{
	static const char *const fields[] = {"name", "interface", "state", "object"};
	json_t *want = get(truth, "struct_ops"), *got = get(host, "struct_ops"), *t;
	char subj[96];
	size_t i, k, n;

	if (!check_ids("struct_ops", "struct_ops map", "map_id", want, got))
		return;
	json_array_foreach(want, i, t)
	{
		json_int_t id = json_integer_value(get(t, "map_id"));
		json_t *h = find_id(got, "map_id", id, NULL);

		if (!h || find_id(want, "map_id", id, &n) != t)
			continue;
		for (k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
			snprintf(subj, sizeof(subj), "struct_ops map %" JSON_INTEGER_FORMAT " %s",
				 id, fields[k]);
			expect_equal(false, subj, get(t, fields[k]), get(h, fields[k]));
		}
		cmp_members(id, get(t, "members"), get(h, "members"));
	}
}

/* ---- what is attached ---- */

bool find_int(json_t *list, json_int_t v)
{
	json_t *e;
	size_t i;

	json_array_foreach(list, i, e)
	{
		if (json_is_integer(e) && json_integer_value(e) == v)
			return true;
	}
	return false;
}

static int cmp_int(const void *a, const void *b)
{
	json_int_t x = *(const json_int_t *)a, y = *(const json_int_t *)b;

	return (x > y) - (x < y);
}

/* Both lists hold the same map ids (as sets; duplicates count). */
static bool same_ids(json_t *want, json_t *got)
{
	size_t n = json_array_size(want), i;
	json_int_t *a, *b;
	bool same = json_is_array(got) && json_array_size(got) == n;

	if (!same || n == 0)
		return same;
	a = calloc(n, sizeof(*a));
	b = calloc(n, sizeof(*b));
	if (!a || !b) {
		free(a);
		free(b);
		return false;
	}
	for (i = 0; i < n; i++) {
		a[i] = json_integer_value(json_array_get(want, i));
		b[i] = json_integer_value(json_array_get(got, i));
		if (!json_is_integer(json_array_get(got, i)))
			same = false;
	}
	qsort(a, n, sizeof(*a), cmp_int);
	qsort(b, n, sizeof(*b), cmp_int);
	same = same && !memcmp(a, b, n * sizeof(*a));
	free(a);
	free(b);
	return same;
}

static void cmp_active(json_t *truth, json_t *host)
{
	json_t *want = get(truth, "active"), *got = get(host, "active"), *map_id;
	json_t *instances = get(want, "instances");

	if (!json_is_object(got)) {
		differ(false, "active", want, got);
		return;
	}
	expect_equal(false, "active attached", get(want, "attached"), get(got, "attached"));
	if (!same_ids(instances, get(got, "instances")))
		differ(false, "active instances", instances, get(got, "instances"));
	expect_equal(false, "active obj_name", get(want, "obj_name"), get(got, "obj_name"));
	expect_equal(false, "active interface", get(want, "interface"), get(got, "interface"));
	/* the one instance the host names must be one the guest has attached, or none */
	map_id = get(got, "map_id");
	if (json_is_true(get(want, "attached"))
		    ? !json_is_integer(map_id) || !find_int(instances, json_integer_value(map_id))
		    : !json_is_null(map_id))
		differ(false, "active map_id (one of the attached instances, or null)", instances,
		       map_id);
}

/* ---- the host's answer must be whole ---- */

static void check_whole(json_t *host)
{
	json_t *diags = get(host, "diagnostics"), *d, *v;
	size_t i;

	if (!json_is_false(get(host, "capped")))
		host_wrong("capped (a walk cap was hit)", "false", get(host, "capped"));
	v = get(host, "skipped");
	if (!json_is_integer(v) || json_integer_value(v) != 0)
		host_wrong("skipped (prog_idr entries not read)", "0", v);
	if (!json_is_false(get(host, "torn")))
		host_wrong("torn (the guest changed during the snapshot)", "false",
			   get(host, "torn"));
	if (!json_is_array(diags))
		host_wrong("diagnostics", "[]", diags);
	json_array_foreach(diags, i, d)
	{
		char *s = json_dumps(d, JSON_ENCODE_ANY | JSON_COMPACT);

		mismatch(false, "diagnostic: host read %s", s ? s : "(unprintable)");
		free(s);
	}
	v = get(host, "diagnostics_dropped");
	if (v && !(json_is_integer(v) && json_integer_value(v) == 0))
		host_wrong("diagnostics_dropped", "0", v);
}

static json_t *load(const char *path)
{
	json_error_t e;
	json_t *j = json_load_file(path, 0, &e);

	if (!j)
		fprintf(stderr, "compare-truth: %s:%d: %s\n", path, e.line, e.text);
	else if (!json_is_object(j)) {
		fprintf(stderr, "compare-truth: %s: not a JSON object\n", path);
		json_decref(j);
		j = NULL;
	}
	return j;
}

static int usage(void)
{
	fprintf(stderr, "usage: compare-truth [--expect-counter-mismatch] TRUTH.json INSPECT.json\n"
			"       compare-truth --vars TRUTH.json VARS.json\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"expect-counter-mismatch", no_argument, NULL, 'c'},
		{"vars", no_argument, NULL, 'v'},
		{0},
	};
	json_t *truth = NULL, *host = NULL;
	bool expect_counters = false, vars = false;
	int c, rc = 2;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'c' && c != 'v')
			return usage();
		expect_counters |= c == 'c';
		vars |= c == 'v';
	}
	if (argc - optind != 2 || (vars && expect_counters))
		return usage();
	truth = load(argv[optind]);
	host = load(argv[optind + 1]);
	if (vars && truth && host) {
		c = compare_vars(truth, host);
		rc = c < 0 ? 2 : c > 0;
		goto out;
	}
	if (!truth || !host || check_truth(truth) < 0)
		goto out;

	expect_equal(false, "stats_enabled", get(truth, "stats_enabled"),
		     get(host, "stats_enabled"));
	expect_equal(false, "paging levels (host: kernel.pgtable_levels)",
		     get(truth, "paging_levels"), get(get(host, "kernel"), "pgtable_levels"));
	/* per-CPU counters are summed over the possible CPUs: both must know the same ones */
	expect_equal(false, "possible CPUs (host: kernel.possible_cpus)", get(truth, "nr_cpus"),
		     get(get(host, "kernel"), "possible_cpus"));
	check_whole(host);
	cmp_progs(truth, host);
	cmp_instances(truth, host);
	cmp_active(truth, host);
	cmp_sched_ext(truth, host);

	if (expect_counters) {
		rc = nr_counters > 0 && nr_others == 0 ? 0 : 1;
		if (rc == 0)
			printf("EXPECTED: %d counter mismatches and nothing else\n", nr_counters);
		else
			printf("UNEXPECTED: %d counter and %d other mismatches (want counters "
			       "only)\n",
			       nr_counters, nr_others);
	} else {
		rc = nr_counters + nr_others ? 1 : 0;
		if (rc == 0)
			printf("MATCH: %zu struct_ops programs, %zu instances, active, sched_ext, "
			       "stats_enabled, paging\n",
			       json_array_size(get(truth, "progs")),
			       json_array_size(get(truth, "struct_ops")));
	}
out:
	json_decref(truth);
	json_decref(host);
	return rc;
}
