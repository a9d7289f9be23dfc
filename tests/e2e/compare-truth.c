/* SPDX-License-Identifier: MIT */
/*
 * compare-truth: checks what ktbpfctl read from a guest's RAM (host side)
 * against what the guest itself reported through the bpf() syscall.
 *
 *   compare-truth TRUTH.json INSPECT.json [--active-obj NAME] [--active-iface IFACE]
 *
 * Everything must match exactly: the set of struct_ops programs (by id), and
 * for each its name, verified_insns, run_cnt, run_time_ns, recursion_misses;
 * whether runtime stats are enabled; and the active object. Prints one line per
 * mismatch and exits 1 when any; 0 when all match; 2 on bad input.
 */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static int mismatches;

static void mismatch(const char *what, json_int_t id, const char *field, const char *want,
		     const char *got)
{
	printf("MISMATCH %s", what);
	if (id >= 0)
		printf(" prog %" JSON_INTEGER_FORMAT, id);
	printf(" %s: guest says %s, host read %s\n", field, want, got);
	mismatches++;
}

static json_t *load(const char *path)
{
	json_error_t e;
	json_t *j = json_load_file(path, 0, &e);

	if (!j)
		fprintf(stderr, "compare-truth: %s:%d: %s\n", path, e.line, e.text);
	return j;
}

static json_t *find_prog(json_t *progs, json_int_t id)
{
	size_t i;
	json_t *p;

	json_array_foreach(progs, i, p)
	{
		if (json_integer_value(json_object_get(p, "id")) == id)
			return p;
	}
	return NULL;
}

static void cmp_int(json_int_t id, json_t *want_obj, const char *want_key, json_t *got_obj,
		    const char *got_key)
{
	json_t *w = json_object_get(want_obj, want_key);
	json_t *g = json_object_get(got_obj, got_key);
	char ws[32], gs[32];

	if (!json_is_integer(w)) {
		mismatch("truth", id, want_key, "(missing)", "-");
		return;
	}
	if (json_is_integer(g) && json_integer_value(g) == json_integer_value(w))
		return;
	snprintf(ws, sizeof(ws), "%" JSON_INTEGER_FORMAT, json_integer_value(w));
	if (json_is_integer(g))
		snprintf(gs, sizeof(gs), "%" JSON_INTEGER_FORMAT, json_integer_value(g));
	else
		snprintf(gs, sizeof(gs), "(missing)");
	mismatch("", id, want_key, ws, gs);
}

static void cmp_progs(json_t *truth, json_t *got)
{
	json_t *tp = json_object_get(truth, "progs"), *gp = json_object_get(got, "progs");
	json_t *p, *q;
	size_t i;

	if (!json_is_array(tp) || !json_is_array(gp)) {
		mismatch("", -1, "progs", json_is_array(tp) ? "a list" : "(missing)",
			 json_is_array(gp) ? "a list" : "(missing)");
		return;
	}
	if (json_array_size(tp) == 0)
		mismatch("truth", -1, "progs", "no struct_ops program", "-");
	json_array_foreach(tp, i, p)
	{
		json_int_t id = json_integer_value(json_object_get(p, "id"));
		const char *wn = json_string_value(json_object_get(p, "name"));
		const char *gn;

		q = find_prog(gp, id);
		if (!q) {
			mismatch("", id, "presence", "loaded", "absent");
			continue;
		}
		gn = json_string_value(json_object_get(q, "name"));
		if (!wn || !gn || strcmp(wn, gn))
			mismatch("", id, "name", wn ? wn : "(missing)", gn ? gn : "(missing)");
		cmp_int(id, p, "verified_insns", q, "verified_insns");
		cmp_int(id, p, "run_cnt", q, "run_cnt");
		cmp_int(id, p, "run_time_ns", q, "run_time_ns");
		cmp_int(id, p, "recursion_misses", q, "recursion_misses");
	}
	json_array_foreach(gp, i, q)
	{
		json_int_t id = json_integer_value(json_object_get(q, "id"));

		if (!find_prog(tp, id))
			mismatch("", id, "presence", "absent", "loaded");
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"active-obj", required_argument, NULL, 'o'},
		{"active-iface", required_argument, NULL, 'i'},
		{0},
	};
	const char *want_obj = NULL, *want_iface = NULL;
	json_t *truth, *got, *ts, *gs, *active;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'o')
			want_obj = optarg;
		else if (c == 'i')
			want_iface = optarg;
		else
			return 2;
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: compare-truth TRUTH.json INSPECT.json [--active-obj NAME] "
				"[--active-iface IFACE]\n");
		return 2;
	}
	truth = load(argv[optind]);
	got = load(argv[optind + 1]);
	if (!truth || !got)
		return 2;

	ts = json_object_get(truth, "stats_enabled");
	gs = json_object_get(got, "stats_enabled");
	if (!json_is_boolean(ts) || !json_is_boolean(gs) || json_is_true(ts) != json_is_true(gs))
		mismatch("", -1, "stats_enabled", json_is_true(ts) ? "true" : "false/missing",
			 json_is_boolean(gs) ? (json_is_true(gs) ? "true" : "false") : "unknown");
	if (json_is_true(json_object_get(got, "capped")))
		mismatch("", -1, "capped", "false", "true (walk hit a cap)");
	if (json_integer_value(json_object_get(got, "skipped")) != 0)
		mismatch("", -1, "skipped prog_idr entries", "0", "some (see diagnostics)");
	cmp_progs(truth, got);

	active = json_object_get(got, "active");
	if (want_obj) {
		const char *o = json_string_value(json_object_get(active, "obj_name"));

		if (!o || strcmp(o, want_obj))
			mismatch("", -1, "active object", want_obj, o ? o : "(none)");
	}
	if (want_iface) {
		const char *f = json_string_value(json_object_get(active, "interface"));

		if (!f || strcmp(f, want_iface))
			mismatch("", -1, "active interface", want_iface, f ? f : "(none)");
	}
	if (!mismatches)
		printf("MATCH: %zu struct_ops programs, stats_enabled, active object\n",
		       json_array_size(json_object_get(truth, "progs")));
	json_decref(truth);
	json_decref(got);
	return mismatches ? 1 : 0;
}
