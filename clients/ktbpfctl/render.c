/* SPDX-License-Identifier: MIT */
/*
 * The table renderer, from the Snapshot JSON document (rpc/openrpc.json,
 * written by rpc/'s codec): `ktbpfctl inspect` renders its own walk through
 * the codec and `ktbpfctl snapshot` renders what ktbpfd answered, so the two
 * tables are the same by construction. Members a document lacks print as
 * "?" (an older or newer daemon), never as a made-up zero.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktbpf/codec.h"

#include "ktbpfctl.h"

uint64_t ktbpfctl_json_u64(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		return json_integer_value(v) < 0 ? 0 : (uint64_t)json_integer_value(v);
	if (json_is_string(v)) /* "0x..." addresses, decimal strings past 2^63 */
		return strtoull(json_string_value(v), NULL, 0);
	return 0;
}

const char *ktbpfctl_json_str(const json_t *o, const char *key, const char *none)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && s[0] ? s : none;
}

/*
 * A string made safe for a terminal by the codec's own rule
 * (ktbpf_codec_text(): C0 controls but newline and tab, DEL and C1 become
 * '?'): for documents the codec did not write (files given to diff, an older
 * daemon's answers).
 */
static void printable(json_t *str)
{
	json_t *clean = ktbpf_codec_text(json_string_value(str));

	if (clean && strcmp(json_string_value(clean), json_string_value(str)))
		json_string_set(str, json_string_value(clean));
	json_decref(clean);
}

#define PRINTABLE_MAX_DEPTH 256 /* deeper parts of a hostile document are left out */

static void printable_walk(json_t *j, unsigned depth)
{
	const char *key;
	json_t *v;
	size_t i;

	if (depth > PRINTABLE_MAX_DEPTH) {
		if (json_is_object(j))
			json_object_clear(j);
		else if (json_is_array(j))
			json_array_clear(j);
		return;
	}
	if (json_is_string(j))
		printable(j);
	else if (json_is_object(j))
		json_object_foreach(j, key, v) printable_walk(v, depth + 1);
	else if (json_is_array(j))
		json_array_foreach(j, i, v) printable_walk(v, depth + 1);
}

void ktbpfctl_json_printable(json_t *doc)
{
	printable_walk(doc, 0);
}

static bool flag(const json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

void ktbpfctl_render_kernel(const json_t *k)
{
	printf("kernel\n"
	       "  release       %s\n"
	       "  arch          %s\n"
	       "  KASLR offset  0x%" PRIx64 "\n"
	       "  phys_base     0x%" PRIx64 "\n"
	       "  page_offset   0x%" PRIx64 "\n"
	       "  paging        %" PRIu64 "-level\n"
	       "  CPUs          %" PRIu64 " possible (nr_cpu_ids %" PRIu64 ", per-CPU %s)\n"
	       "  symbols       %s (%" PRIu64 ")\n"
	       "  BTF           %s (%" PRIu64 " bytes)\n"
	       "  discovery     %.3f ms\n",
	       ktbpfctl_json_str(k, "release", "?"), ktbpfctl_json_str(k, "arch", "?"),
	       ktbpfctl_json_u64(k, "kaslr_offset"), ktbpfctl_json_u64(k, "phys_base"),
	       ktbpfctl_json_u64(k, "page_offset"), ktbpfctl_json_u64(k, "pgtable_levels"),
	       ktbpfctl_json_u64(k, "possible_cpus"), ktbpfctl_json_u64(k, "nr_cpu_ids"),
	       ktbpfctl_json_str(k, "percpu_scheme", "?"),
	       ktbpfctl_json_str(k, "symbols_source", "?"), ktbpfctl_json_u64(k, "symbols"),
	       ktbpfctl_json_str(k, "btf_source", "?"), ktbpfctl_json_u64(k, "btf_size"),
	       (double)ktbpfctl_json_u64(k, "discover_ns") / 1e6);
}

static const char *stats_word(const json_t *v)
{
	return json_is_true(v)	  ? "enabled"
	       : json_is_false(v) ? "disabled (kernel.bpf_stats_enabled=0: counters stay 0)"
				  : "unknown";
}

static void print_progs(const json_t *snap)
{
	const json_t *progs = json_object_get(snap, "progs"), *p;
	bool partial = false;
	size_t i;

	printf("\nstruct_ops programs: %zu (runtime stats %s)\n", json_array_size(progs),
	       stats_word(json_object_get(snap, "stats_enabled")));
	if (!json_array_size(progs))
		return;
	printf("  %6s  %-16s  %-36s  %8s  %12s  %14s  %10s  %8s\n", "ID", "NAME",
	       "INTERFACE.MEMBER", "VERIFIED", "RUN_CNT", "RUN_TIME_NS", "AVG_NS", "MISSES");
	json_array_foreach(progs, i, p)
	{
		char im[160];
		uint64_t cnt = ktbpfctl_json_u64(p, "run_cnt"),
			 ns = ktbpfctl_json_u64(p, "run_time_ns");
		bool whole = flag(p, "stats_complete");

		snprintf(im, sizeof(im), "%s.%s", ktbpfctl_json_str(p, "interface", "?"),
			 ktbpfctl_json_str(p, "member", "?"));
		partial |= !whole;
		printf("  %6" PRIu64 "  %-16s  %-36s  %8" PRIu64 "  %12" PRIu64 "  %14" PRIu64
		       "  %10" PRIu64 "  %8" PRIu64 "%s\n",
		       ktbpfctl_json_u64(p, "id"), ktbpfctl_json_str(p, "name", ""), im,
		       ktbpfctl_json_u64(p, "verified_insns"), cnt, ns, cnt ? ns / cnt : 0,
		       ktbpfctl_json_u64(p, "recursion_misses"), whole ? "" : " *");
	}
	if (partial)
		printf("  * runtime stats incomplete: some CPUs could not be read (see "
		       "diagnostics)\n");
}

static void print_instances(const json_t *snap)
{
	const json_t *insts = json_object_get(snap, "struct_ops"), *in, *m;
	size_t i, j;

	printf("\nstruct_ops instances: %zu\n", json_array_size(insts));
	if (!json_array_size(insts))
		return;
	printf("  %6s  %-16s  %-24s  %-10s  %-16s  %s\n", "MAP_ID", "NAME", "INTERFACE", "STATE",
	       "OBJECT", "MEMBERS (member=prog id)");
	json_array_foreach(insts, i, in)
	{
		const json_t *members = json_object_get(in, "members");
		char state[24];

		snprintf(state, sizeof(state), "%s%s", ktbpfctl_json_str(in, "state", "?"),
			 flag(in, "linked") ? "+link" : "");
		printf("  %6" PRIu64 "  %-16s  %-24s  %-10s  %-16s ",
		       ktbpfctl_json_u64(in, "map_id"), ktbpfctl_json_str(in, "name", ""),
		       ktbpfctl_json_str(in, "interface", "?"), state,
		       ktbpfctl_json_str(in, "object", "-"));
		json_array_foreach(members, j, m)
			printf(" %s=%" PRIu64, ktbpfctl_json_str(m, "member", "?"),
			       ktbpfctl_json_u64(m, "prog_id"));
		printf("%s\n", json_array_size(members) ? "" : " -");
	}
}

/* "n" for an integer, "?" for null (not read). */
static const char *ival(const json_t *o, const char *key, char *buf, size_t size)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		return "?";
	snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	return buf;
}

static void print_scx_events(const json_t *ev)
{
	const json_t *total = json_object_get(ev, "total"), *v;
	const char *name;

	if (!json_is_object(total))
		return;
	printf("  events (summed over %zu CPUs):\n",
	       json_array_size(json_object_get(ev, "per_cpu")));
	json_object_foreach((json_t *)total, name, v)
		printf("    %-40s %" JSON_INTEGER_FORMAT "\n", name, json_integer_value(v));
}

static void print_scx_exit(const json_t *e)
{
	const json_t *bt = json_object_get(e, "backtrace"), *a;
	const char *dump = ktbpfctl_json_str(e, "dump", NULL);
	char b1[24], b2[24];
	size_t i;

	if (!json_is_object(e)) {
		printf("  exit: no exit record readable\n");
		return;
	}
	if (json_integer_value(json_object_get(e, "kind")) == 0) { /* SCX_EXIT_NONE */
		printf("  exit: none yet (the kernel's record says %s)\n",
		       ktbpfctl_json_str(e, "kind_name", "?"));
		return;
	}
	printf("  exit (%s): %s (kind %s), exit code %s, reason '%s'\n",
	       !strcmp(ktbpfctl_json_str(e, "source", ""), "uei") ? "the scheduler's uei copy"
								  : "the kernel's record",
	       ktbpfctl_json_str(e, "kind_name", "?"), ival(e, "kind", b1, sizeof(b1)),
	       ival(e, "exit_code", b2, sizeof(b2)), ktbpfctl_json_str(e, "reason", ""));
	printf("    message: %s\n", ktbpfctl_json_str(e, "msg", ""));
	if (json_array_size(bt)) {
		printf("    backtrace:");
		json_array_foreach(bt, i, a)
			printf(" %s", json_string_value(a) ? json_string_value(a) : "?");
		putchar('\n');
	}
	if (dump)
		printf("    dump:\n%s%s", dump, dump[strlen(dump) - 1] == '\n' ? "" : "\n");
}

static const char *yes_no(const json_t *b)
{
	return json_is_true(b) ? "yes" : json_is_false(b) ? "no" : "?";
}

/* sched_ext's state beyond its scheduler's name; "?" where the kernel could not say. */
static void print_scx(const json_t *x)
{
	const json_t *sw = json_object_get(x, "switched_all"),
		     *sg = json_object_get(x, "switching_all");
	char b[7][24];

	printf("  flags %s, watchdog timeout %s jiffies, last progress %s jiffies ago\n",
	       ktbpfctl_json_str(x, "ops_flags", "?"),
	       ival(x, "watchdog_timeout_jiffies", b[0], 24),
	       ival(x, "watchdog_age_jiffies", b[1], 24));
	printf("  bypass depth %s, all tasks switched %s (switch_all %s), rejected %s, enable "
	       "seq %s, hotplug seq %s, exit kind %s\n",
	       ival(x, "bypass_depth", b[2], 24), yes_no(sw), yes_no(sg),
	       ival(x, "nr_rejected", b[3], 24), ival(x, "enable_seq", b[4], 24),
	       ival(x, "hotplug_seq", b[6], 24), ival(x, "exit_kind", b[5], 24));
	print_scx_events(json_object_get(x, "events"));
	if (json_object_get(x, "exit"))
		print_scx_exit(json_object_get(x, "exit"));
}

static void print_active(const json_t *snap)
{
	const json_t *a = json_object_get(snap, "active"), *x = json_object_get(snap, "sched_ext");
	const json_t *ids = json_object_get(a, "instances"), *id;
	const char *reason = ktbpfctl_json_str(a, "reason", NULL);
	size_t i;

	if (json_is_object(x)) {
		const char *ops = ktbpfctl_json_str(x, "ops_name", NULL);

		printf("\nsched_ext: %s, scheduler %s%s%s (%s layout)\n",
		       ktbpfctl_json_str(x, "enable_state", "?"), ops ? "'" : "",
		       ops ? ops : "none", ops ? "'" : "", ktbpfctl_json_str(x, "layout", "?"));
		if (json_object_get(x, "exit_kind")) /* an older daemon's document has none */
			print_scx(x);
	}
	if (!flag(a, "attached")) {
		printf("\nactive: nothing attached (%s)\n", reason ? reason : "");
	} else {
		printf("\nactive: %s (%s, %s", ktbpfctl_json_str(a, "obj_name", "unknown object"),
		       ktbpfctl_json_str(a, "interface", "unknown interface"),
		       !strcmp(ktbpfctl_json_str(a, "source", ""), "sched_ext")
			       ? "the kernel's sched_ext scheduler"
			       : "in use");
		json_array_foreach(ids, i, id)
			printf("%s%" PRIu64, i ? ", " : "; map ",
			       json_is_integer(id) ? (uint64_t)json_integer_value(id) : 0);
		printf(")%s%s\n", reason ? ": " : "", reason ? reason : "");
	}
	if (flag(snap, "torn"))
		printf("\nWARNING: the guest changed during the snapshot: the answer may be TORN "
		       "(see diagnostics)\n");
}

static void print_rest(const json_t *snap)
{
	const json_t *diags = json_object_get(snap, "diagnostics"), *d;
	uint64_t skipped = ktbpfctl_json_u64(snap, "skipped"),
		 dropped = ktbpfctl_json_u64(snap, "diagnostics_dropped");
	size_t i;

	if (flag(snap, "capped"))
		printf("\nWARNING: the walk hit a limit or found the guest's lists inconsistent:\n"
		       "         the program list may be INCOMPLETE (see diagnostics)\n");
	if (skipped)
		printf("\nWARNING: %" PRIu64 " prog_idr entries could not be read: the program "
		       "list may be\n         INCOMPLETE (see diagnostics)\n",
		       skipped);
	if (!json_array_size(diags))
		return;
	printf("\ndiagnostics: %" PRIu64 "\n", json_array_size(diags) + dropped);
	json_array_foreach(diags, i, d)
	{
		printf("  %-7s %s", ktbpfctl_json_str(d, "code", "?"),
		       ktbpfctl_json_str(d, "message", ""));
		if (ktbpfctl_json_u64(d, "addr"))
			printf(" (at 0x%" PRIx64 ")", ktbpfctl_json_u64(d, "addr"));
		putchar('\n');
	}
	if (dropped)
		printf("  ... %" PRIu64 " more not kept\n", dropped);
}

/* Levels of a variables tree printed (the codec's own depth is bounded too). */
#define MAX_TEXT_DEPTH 64

static void print_value(const json_t *n)
{
	const char *kind = ktbpfctl_json_str(n, "kind", "");
	const json_t *v = json_object_get(n, "value");

	if (!strcmp(kind, "error")) {
		printf(" ! %s", json_string_value(json_object_get(n, "error")));
		return;
	}
	if (!strcmp(kind, "nosum")) {
		printf(" (not summed)");
		return;
	}
	if (!v)
		return;
	if (!strcmp(kind, "string"))
		printf(" = \"%s\"", json_string_value(v));
	else if (json_is_string(v))
		printf(" = %s", json_string_value(v));
	else if (json_is_integer(v))
		printf(" = %" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		printf(" = %.17g", json_real_value(v));
	else if (json_is_boolean(v))
		printf(" = %s", json_is_true(v) ? "true" : "false");
}

static void print_node(const json_t *n, int depth)
{
	const char *name = json_string_value(json_object_get(n, "name"));
	const json_t *idx = json_object_get(n, "index"), *kids = json_object_get(n, "children");
	size_t i;

	printf("%*s", 2 * depth, "");
	if (name && !strcmp(name, "cpu"))
		printf("cpu %" JSON_INTEGER_FORMAT, json_integer_value(idx));
	else if (idx)
		printf("[%" JSON_INTEGER_FORMAT "]", json_integer_value(idx));
	else
		printf("%s", name && *name ? name : "(anon)");
	print_value(n);
	printf("  <%s>\n", json_string_value(json_object_get(n, "type")));
	for (i = 0; kids && depth < MAX_TEXT_DEPTH && i < json_array_size(kids); i++)
		print_node(json_array_get(kids, i), depth + 1);
}

void ktbpfctl_render_vars(const json_t *root)
{
	const json_t *maps = json_object_get(root, "maps"),
		     *diags = json_object_get(root, "diagnostics");
	const char *obj = json_string_value(json_object_get(root, "object"));
	size_t i, j;

	if (obj && *obj)
		printf("object %s\n", obj);
	for (i = 0; i < json_array_size(maps); i++) {
		const json_t *m = json_array_get(maps, i), *err = json_object_get(m, "error");
		const json_t *vars = json_object_get(m, "vars");
		const char *type = ktbpfctl_json_str(m, "type", "");

		printf("\nmap %" JSON_INTEGER_FORMAT " %s",
		       json_integer_value(json_object_get(m, "id")),
		       json_string_value(json_object_get(m, "name")));
		if (!strcmp(type, "percpu_array"))
			printf(": per-CPU array, %" JSON_INTEGER_FORMAT
			       " entries of %" JSON_INTEGER_FORMAT " bytes, %" JSON_INTEGER_FORMAT
			       " CPUs\n",
			       json_integer_value(json_object_get(m, "max_entries")),
			       json_integer_value(json_object_get(m, "value_size")),
			       json_integer_value(json_object_get(m, "cpus")));
		else
			printf(": %s, %" JSON_INTEGER_FORMAT " bytes\n",
			       json_string_value(json_object_get(m, "section")),
			       json_integer_value(json_object_get(m, "value_size")));
		if (err)
			printf("  ! %s\n", json_string_value(json_object_get(err, "message")));
		for (j = 0; j < json_array_size(vars); j++)
			print_node(json_array_get(vars, j), 1);
	}
	if (json_array_size(diags))
		printf("\ndiagnostics:\n");
	for (i = 0; i < json_array_size(diags); i++)
		printf("  %s\n",
		       json_string_value(json_object_get(json_array_get(diags, i), "message")));
}

/* The Snapshot's "vars": the tree, or why there is none. */
static void print_vars(const json_t *snap)
{
	const json_t *v = json_object_get(snap, "vars"), *e = json_object_get(v, "error");
	const char *obj;

	if (!v)
		return;
	if (json_is_object(e) && !json_object_get(v, "maps")) {
		printf("\nvariables: not read: %s (%s)\n", ktbpfctl_json_str(e, "message", "?"),
		       ktbpfctl_json_str(e, "code", "?"));
		return;
	}
	obj = ktbpfctl_json_str(v, "object", "?");
	printf("\nvariables of %s (%s)\n", obj,
	       !strcmp(obj, ktbpfctl_json_str(json_object_get(snap, "active"), "obj_name", ""))
		       ? "the active object"
		       : "sched_ext's scheduler, not active");
	ktbpfctl_render_vars(v);
}

void ktbpfctl_render_snapshot(const json_t *snap)
{
	ktbpfctl_render_kernel(json_object_get(snap, "kernel"));
	print_progs(snap);
	print_instances(snap);
	print_active(snap);
	print_vars(snap);
	print_rest(snap);
	if (json_object_get(snap, "frozen"))
		printf("\nfrozen: %s", flag(snap, "frozen") ? "yes" : "no (a live snapshot)");
	if (flag(snap, "frozen"))
		printf(", freeze %.3f us", (double)ktbpfctl_json_u64(snap, "freeze_ns") / 1e3);
	if (json_object_get(snap, "frozen"))
		putchar('\n');
}

/* Append ", reason" (or "reason" first) to why; stops quietly when full. */
__attribute__((format(printf, 3, 4))) static void add_why(char *why, size_t size, const char *fmt,
							  ...)
{
	size_t len = strlen(why);
	va_list ap;

	if (len && len + 2 < size) {
		memcpy(why + len, ", ", 3);
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(why + len, size - len, fmt, ap);
	va_end(ap);
}

bool ktbpfctl_snapshot_incomplete(const json_t *snap, char *why, size_t size)
{
	const json_t *progs = json_object_get(snap, "progs"), *p;
	size_t i, stats = 0;

	why[0] = '\0';
	json_array_foreach(progs, i, p) stats += !flag(p, "stats_complete");
	if (flag(snap, "over_budget"))
		add_why(why, size, "the walk's budget was spent (raise --budget/--budget-ms)");
	else if (flag(snap, "capped"))
		add_why(why, size, "a limit was hit or a list was inconsistent");
	if (ktbpfctl_json_u64(snap, "skipped"))
		add_why(why, size, "%" PRIu64 " entries skipped",
			ktbpfctl_json_u64(snap, "skipped"));
	if (stats)
		add_why(why, size, "runtime stats of %zu programs incomplete", stats);
	if (!json_is_boolean(json_object_get(snap, "stats_enabled")))
		add_why(why, size, "runtime stats state unknown");
	if (flag(snap, "torn"))
		add_why(why, size, "the guest changed during the snapshot (torn)");
	if (ktbpfctl_json_u64(snap, "diagnostics_dropped"))
		add_why(why, size, "%" PRIu64 " diagnostics dropped",
			ktbpfctl_json_u64(snap, "diagnostics_dropped"));
	return why[0] != '\0';
}
