/* SPDX-License-Identifier: MIT */
/*
 * The truth test's comparator ($COMPARE_TRUTH, tests/e2e/compare-truth.c), the
 * real binary, fed crafted pairs of a guest's truth and a host's `ktbpfctl
 * inspect --json`: a matching pair passes, and every hole a wrong host answer
 * could slip through is a MISMATCH line and exit 1 (each case counts the lines,
 * so a check that fires twice or not at all fails too). A truth without a key
 * is bad input (exit 2), and the negative control's mode accepts counter
 * mismatches only.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"

/* A TCP congestion control (struct_ops map 3, programs 7 and 8), 4-level paging. */
static json_t *truth_tcp(void)
{
	return json_pack("{s:b, s:i, s:i, s:b, s:[{s:i, s:s, s:i, s:i, s:i, s:i, s:i, s:[s]},"
			 " {s:i, s:s, s:i, s:i, s:i, s:i, s:i, s:[s]}],"
			 " s:[{s:i, s:s, s:s, s:s, s:s, s:[{s:s, s:i}, {s:s, s:i}]}],"
			 " s:n, s:{s:b, s:[i], s:s, s:s}}",
			 "stats_enabled", 1, "nr_cpus", 4, "paging_levels", 4, "quiesced", 1,
			 "progs", "id", 7, "name", "ktbpf_cong_avoid", "type", 27, "verified_insns",
			 31, "run_cnt", 1000, "run_time_ns", 52000, "recursion_misses", 0, "maps",
			 "ktbpf_cc", "id", 8, "name", "ktbpf_ssthresh", "type", 27,
			 "verified_insns", 9, "run_cnt", 40, "run_time_ns", 3100,
			 "recursion_misses", 2, "maps", "ktbpf_cc", "struct_ops", "map_id", 3,
			 "name", "ktbpf_cc", "interface", "tcp_congestion_ops", "state", "inuse",
			 "object", "ktbpf_cc", "members", "member", "cong_avoid", "prog_id", 7,
			 "member", "ssthresh", "prog_id", 8, "sched_ext", "active", "attached", 1,
			 "instances", 3, "obj_name", "ktbpf_cc", "interface", "tcp_congestion_ops");
}

static json_t *host_tcp(void)
{
	return json_pack("{s:{s:s, s:s, s:i, s:i}, s:b,"
			 " s:[{s:i, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:b},"
			 " {s:i, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:b}],"
			 " s:[{s:i, s:s, s:s, s:s, s:s, s:[{s:s, s:i}, {s:s, s:i}]}],"
			 " s:{s:b, s:[i], s:i, s:s, s:s, s:s, s:n}, s:n, s:b, s:b, s:i, s:[], s:i}",
			 "kernel", "release", "6.1.0-28-cloud-amd64", "arch", "x86_64",
			 "pgtable_levels", 4, "possible_cpus", 4, "stats_enabled", 1, "progs", "id",
			 7, "name", "ktbpf_cong_avoid", "interface", "tcp_congestion_ops", "member",
			 "cong_avoid", "verified_insns", 31, "run_cnt", 1000, "run_time_ns", 52000,
			 "recursion_misses", 0, "stats_complete", 1, "id", 8, "name",
			 "ktbpf_ssthresh", "interface", "tcp_congestion_ops", "member", "ssthresh",
			 "verified_insns", 9, "run_cnt", 40, "run_time_ns", 3100,
			 "recursion_misses", 2, "stats_complete", 1, "struct_ops", "map_id", 3,
			 "name", "ktbpf_cc", "interface", "tcp_congestion_ops", "state", "inuse",
			 "object", "ktbpf_cc", "members", "member", "cong_avoid", "prog_id", 7,
			 "member", "ssthresh", "prog_id", 8, "active", "attached", 1, "instances",
			 3, "map_id", 3, "obj_name", "ktbpf_cc", "interface", "tcp_congestion_ops",
			 "source", "struct_ops map state", "reason", "sched_ext", "torn", 0,
			 "capped", 0, "skipped", 0, "diagnostics", "walk_ns", 81000);
}

/* The value at a dotted path ("progs.1.name"; numbers index arrays), or NULL. */
static json_t *at(json_t *doc, const char *path)
{
	char buf[128], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); doc && tok; tok = strtok_r(NULL, ".", &save))
		doc = json_is_array(doc) ? json_array_get(doc, strtoul(tok, NULL, 10))
					 : json_object_get(doc, tok);
	return doc;
}

/* Set (v non-NULL) or delete the key at a dotted path whose parent is an object. */
static void put(json_t *doc, const char *path, json_t *v)
{
	char parent[128];
	const char *dot = strrchr(path, '.');
	json_t *p = doc;

	if (dot) {
		snprintf(parent, sizeof(parent), "%.*s", (int)(dot - path), path);
		p = at(doc, parent);
	}
	cr_assert(json_is_object(p), "no object at the parent of %s", path);
	if (v)
		cr_assert_eq(json_object_set_new(p, dot ? dot + 1 : path, v), 0);
	else
		cr_assert_eq(json_object_del(p, dot ? dot + 1 : path), 0, "no key %s", path);
}

static void write_json(const char *path, json_t *doc)
{
	cr_assert_eq(json_dump_file(doc, path, JSON_COMPACT), 0);
}

/* Run $COMPARE_TRUTH [opt] on the pair (consumed), capturing stdout and stderr. */
static struct unit_run compare(json_t *truth, json_t *host, const char *opt)
{
	const char *bin = getenv("COMPARE_TRUTH");
	char dir[] = "/tmp/ktbpf-cmp-XXXXXX", t[64], h[64];
	const char *argv[] = {"compare-truth", opt ? opt : t, opt ? t : h, opt ? h : NULL, NULL};
	struct unit_run r;

	cr_assert_not_null(bin, "COMPARE_TRUTH (path of the compare-truth binary) is not set");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(t, sizeof(t), "%s/truth.json", dir);
	snprintf(h, sizeof(h), "%s/host.json", dir);
	write_json(t, truth);
	write_json(h, host);
	json_decref(truth);
	json_decref(host);
	r = unit_run(bin, argv);
	unlink(t);
	unlink(h);
	rmdir(dir);
	return r;
}
static int count_lines(const char *out, const char *prefix)
{
	int n = 0;

	for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		n += !strncmp(l, prefix, strlen(prefix));
	return n;
}

/* Exit 1 with exactly `lines` MISMATCH lines, one of them containing `needle`. */
static void expect_mismatch(json_t *truth, json_t *host, int lines, const char *needle)
{
	struct unit_run r = compare(truth, host, NULL);

	cr_assert_eq(r.status, 1, "exit %d, want 1; out:\n%s%s", r.status, r.out, r.err);
	cr_assert_eq(count_lines(r.out, "MISMATCH "), lines, "want %d MISMATCH lines; out:\n%s",
		     lines, r.out);
	cr_assert_not_null(strstr(r.out, needle), "no '%s' in:\n%s", needle, r.out);
	unit_run_free(&r);
}

static void expect_match(json_t *truth, json_t *host)
{
	struct unit_run r = compare(truth, host, NULL);

	cr_assert_eq(r.status, 0, "exit %d, want 0; out:\n%s%s", r.status, r.out, r.err);
	cr_assert_eq(count_lines(r.out, "MATCH: "), 1, "out:\n%s", r.out);
	unit_run_free(&r);
}

static void expect_bad_input(json_t *truth, json_t *host, const char *opt, const char *needle)
{
	struct unit_run r = compare(truth, host, opt);

	cr_assert_eq(r.status, 2, "exit %d, want 2; out:\n%s%s", r.status, r.out, r.err);
	cr_assert_not_null(strstr(r.err, needle), "no '%s' in:\n%s", needle, r.err);
	unit_run_free(&r);
}

/*
 * sched_ext's sysfs numbers and events as a 7.2 guest reports them (4 CPUs),
 * into the guest's "sched_ext", and the host's reading of the same.
 */
static void scx_truth_state(json_t *t)
{
	put(t, "sched_ext.switch_all", json_false());
	put(t, "sched_ext.nr_rejected", json_integer(1));
	put(t, "sched_ext.hotplug_seq", json_integer(2));
	put(t, "sched_ext.enable_seq", json_integer(3));
	put(t, "sched_ext.events",
	    json_pack("{s:i, s:i}", "SCX_EV_SELECT_CPU_FALLBACK", 10, "SCX_EV_DISPATCH_KEEP_LAST",
		      6));
}

static json_t *event_row(int cpu, int fallback, int keep_last)
{
	return json_pack("{s:i, s:{s:i, s:i}}", "cpu", cpu, "counters",
			 "SCX_EV_SELECT_CPU_FALLBACK", fallback, "SCX_EV_DISPATCH_KEEP_LAST",
			 keep_last);
}

static void scx_host_state(json_t *h)
{
	put(h, "sched_ext.switched_all", json_false());
	put(h, "sched_ext.switching_all", json_false());
	put(h, "sched_ext.nr_rejected", json_integer(1));
	put(h, "sched_ext.hotplug_seq", json_integer(2));
	put(h, "sched_ext.enable_seq", json_integer(3));
	put(h, "sched_ext.events",
	    json_pack("{s:{s:i, s:i}, s:[o, o, o, o]}", "total", "SCX_EV_SELECT_CPU_FALLBACK", 10,
		      "SCX_EV_DISPATCH_KEEP_LAST", 6, "per_cpu", event_row(0, 1, 0),
		      event_row(1, 2, 6), event_row(2, 3, 0), event_row(3, 4, 0)));
}

/* ---- the matching pairs ---- */

Test(compare_truth, matching_tcp_pair_exits_0)
{
	expect_match(truth_tcp(), host_tcp());
}

/* A sched_ext guest: the host may name the enable state by the kernel's enum. */
Test(compare_truth, matching_sched_ext_pair_exits_0)
{
	json_t *t = truth_tcp(), *h = host_tcp();

	put(t, "sched_ext", json_pack("{s:s, s:s}", "state", "enabled", "root_ops", "ktbpf_scx"));
	put(h, "sched_ext",
	    json_pack("{s:s, s:s, s:i, s:s}", "enable_state", "SCX_ENABLED", "ops_name",
		      "ktbpf_scx", "map_id", 3, "layout", "scx_root"));
	scx_truth_state(t);
	scx_host_state(h);
	expect_match(t, h);
}

Test(compare_truth, stats_disabled_with_zero_counters_matches)
{
	json_t *t = truth_tcp(), *h = host_tcp();
	const char *c[] = {"progs.0.run_cnt", "progs.0.run_time_ns", "progs.1.run_cnt",
			   "progs.1.run_time_ns"};

	put(t, "stats_enabled", json_false());
	put(h, "stats_enabled", json_false());
	for (size_t i = 0; i < 4; i++) {
		put(t, c[i], json_integer(0));
		put(h, c[i], json_integer(0));
	}
	expect_match(t, h);
}

/* Members without a program (prog_id 0) are not implemented: listing them is no difference. */
Test(compare_truth, unimplemented_member_on_one_side_matches)
{
	json_t *h = host_tcp();

	json_array_append_new(at(h, "struct_ops.0.members"),
			      json_pack("{s:s, s:i}", "member", "undo_cwnd", "prog_id", 0));
	expect_match(truth_tcp(), h);
}

/* ---- programs ---- */

Test(compare_truth, missing_prog_is_a_mismatch)
{
	json_t *h = host_tcp();

	json_array_remove(at(h, "progs"), 1);
	expect_mismatch(truth_tcp(), h, 2, "prog 8: guest says present, host read absent");
}

Test(compare_truth, extra_prog_is_a_mismatch)
{
	json_t *h = host_tcp();

	json_array_append_new(at(h, "progs"), json_deep_copy(at(h, "progs.1")));
	put(h, "progs.2.id", json_integer(9));
	expect_mismatch(truth_tcp(), h, 2, "prog 9: guest says absent, host read present");
}

Test(compare_truth, prog_count_that_differs_is_a_mismatch)
{
	json_t *h = host_tcp();

	json_array_remove(at(h, "progs"), 0);
	expect_mismatch(truth_tcp(), h, 2, "progs count: guest says 2, host read 1");
}

Test(compare_truth, duplicate_prog_id_on_host_is_a_mismatch)
{
	json_t *h = host_tcp();

	json_array_append_new(at(h, "progs"), json_deep_copy(at(h, "progs.0")));
	expect_mismatch(truth_tcp(), h, 2, "prog 7 duplicate: the host lists it 2 times");
}

Test(compare_truth, duplicate_prog_id_in_truth_is_a_mismatch)
{
	json_t *t = truth_tcp();

	json_array_append_new(at(t, "progs"), json_deep_copy(at(t, "progs.1")));
	expect_mismatch(t, host_tcp(), 2, "prog 8 duplicate: the guest lists it 2 times");
}

/* The same count, but one id twice instead of the other: no count line to catch it. */
Test(compare_truth, duplicate_hiding_a_missing_prog_is_a_mismatch)
{
	json_t *h = host_tcp();

	json_array_set_new(at(h, "progs"), 1, json_deep_copy(at(h, "progs.0")));
	expect_mismatch(truth_tcp(), h, 2, "prog 7 duplicate: the host lists it 2 times");
}

Test(compare_truth, host_prog_without_id_is_a_mismatch)
{
	json_t *h = host_tcp();

	put(h, "progs.1.id", NULL);
	/* no id, prog 8 absent */
	expect_mismatch(truth_tcp(), h, 2, "prog entry 1: the host lists it without an integer id");
}

static void expect_prog_field(const char *path, json_t *v, const char *needle)
{
	json_t *h = host_tcp();

	put(h, path, v);
	expect_mismatch(truth_tcp(), h, 1, needle);
}

Test(compare_truth, prog_name_that_differs_is_a_mismatch)
{
	expect_prog_field("progs.0.name", json_string("ktbpf_cong_avo"),
			  "prog 7 name: guest says \"ktbpf_cong_avoid\", host read "
			  "\"ktbpf_cong_avo\"");
}

Test(compare_truth, verified_insns_that_differ_is_a_mismatch)
{
	expect_prog_field("progs.1.verified_insns", json_integer(10),
			  "prog 8 verified_insns: guest says 9, host read 10");
}

Test(compare_truth, run_cnt_that_differs_is_a_mismatch)
{
	expect_prog_field("progs.0.run_cnt", json_integer(250),
			  "prog 7 run_cnt: guest says 1000, host read 250");
}

Test(compare_truth, run_time_ns_that_differs_is_a_mismatch)
{
	expect_prog_field("progs.0.run_time_ns", json_integer(51999),
			  "prog 7 run_time_ns: guest says 52000, host read 51999");
}

Test(compare_truth, recursion_misses_that_differ_is_a_mismatch)
{
	expect_prog_field("progs.1.recursion_misses", json_integer(0),
			  "prog 8 recursion_misses: guest says 2, host read 0");
}

Test(compare_truth, missing_counter_is_a_mismatch)
{
	json_t *h = host_tcp();

	put(h, "progs.1.run_cnt", NULL);
	expect_mismatch(truth_tcp(), h, 1, "prog 8 run_cnt: guest says 40, host read (missing)");
}

/* The guest's struct_ops member table says which interface and member a program serves. */
Test(compare_truth, prog_interface_that_differs_is_a_mismatch)
{
	expect_prog_field("progs.0.interface", json_string("sched_ext_ops"),
			  "prog 7 interface: guest says \"tcp_congestion_ops\"");
}

Test(compare_truth, prog_member_that_differs_is_a_mismatch)
{
	expect_prog_field("progs.1.member", json_string("cong_avoid"),
			  "prog 8 member: guest says \"ssthresh\", host read \"cong_avoid\"");
}

/* Where the guest names a program's role itself, that is what the host must read. */
Test(compare_truth, prog_role_from_the_truth_itself_is_compared)
{
	json_t *t = truth_tcp();

	put(t, "progs.0.member", json_string("cong_control"));
	expect_mismatch(t, host_tcp(), 1,
			"prog 7 member: guest says \"cong_control\", host read \"cong_avoid\"");
}

Test(compare_truth, incomplete_stats_on_a_paused_guest_is_a_mismatch)
{
	expect_prog_field("progs.1.stats_complete", json_false(),
			  "prog 8 stats_complete (the guest is paused): host read false, "
			  "want true");
}

Test(compare_truth, no_prog_in_the_truth_is_a_mismatch)
{
	json_t *t = truth_tcp(), *h = host_tcp();

	json_array_clear(at(t, "progs"));
	json_array_clear(at(h, "progs"));
	expect_mismatch(t, h, 1, "the guest lists no struct_ops program");
}

/* ---- struct_ops instances ---- */

Test(compare_truth, missing_instance_is_a_mismatch)
{
	json_t *h = host_tcp();

	json_array_clear(at(h, "struct_ops"));
	expect_mismatch(truth_tcp(), h, 2,
			"struct_ops map 3: guest says present, host read absent");
}

Test(compare_truth, extra_instance_is_a_mismatch)
{
	json_t *h = host_tcp();

	json_array_append_new(at(h, "struct_ops"), json_deep_copy(at(h, "struct_ops.0")));
	put(h, "struct_ops.1.map_id", json_integer(4));
	expect_mismatch(truth_tcp(), h, 2,
			"struct_ops map 4: guest says absent, host read present");
}

Test(compare_truth, duplicate_instance_is_a_mismatch)
{
	json_t *h = host_tcp();

	json_array_append_new(at(h, "struct_ops"), json_deep_copy(at(h, "struct_ops.0")));
	expect_mismatch(truth_tcp(), h, 2, "struct_ops map 3 duplicate: the host lists it 2 times");
}

static void expect_instance_field(const char *field, json_t *v, const char *needle)
{
	json_t *h = host_tcp();
	char path[64];

	snprintf(path, sizeof(path), "struct_ops.0.%s", field);
	put(h, path, v);
	expect_mismatch(truth_tcp(), h, 1, needle);
}

Test(compare_truth, instance_name_that_differs_is_a_mismatch)
{
	expect_instance_field("name", json_string("ktbpf_c"), "struct_ops map 3 name");
}

Test(compare_truth, instance_interface_that_differs_is_a_mismatch)
{
	expect_instance_field("interface", json_string("sched_ext_ops"),
			      "struct_ops map 3 interface");
}

Test(compare_truth, instance_state_that_differs_is_a_mismatch)
{
	expect_instance_field("state", json_string("tobefree"),
			      "struct_ops map 3 state: guest says \"inuse\", host read "
			      "\"tobefree\"");
}

Test(compare_truth, instance_object_that_differs_is_a_mismatch)
{
	expect_instance_field("object", json_null(),
			      "struct_ops map 3 object: guest says \"ktbpf_cc\", host read null");
}

Test(compare_truth, instance_member_prog_that_differs_is_a_mismatch)
{
	expect_instance_field("members.1.prog_id", json_integer(7),
			      "struct_ops map 3 member ssthresh: guest says prog 8, host read prog "
			      "7");
}

Test(compare_truth, instance_member_missing_is_a_mismatch)
{
	json_t *h = host_tcp();

	json_array_remove(at(h, "struct_ops.0.members"), 0);
	expect_mismatch(truth_tcp(), h, 1,
			"struct_ops map 3 member cong_avoid: guest says prog 7, host read none");
}

Test(compare_truth, malformed_instance_member_is_a_mismatch)
{
	json_t *h = host_tcp();

	json_array_append_new(at(h, "struct_ops.0.members"), json_pack("{s:i}", "prog_id", 8));
	expect_mismatch(truth_tcp(), h, 1,
			"struct_ops map 3 member entry 2: host read no member name and program id");
}

Test(compare_truth, instance_member_extra_is_a_mismatch)
{
	json_t *h = host_tcp();

	json_array_append_new(at(h, "struct_ops.0.members"),
			      json_pack("{s:s, s:i}", "member", "undo_cwnd", "prog_id", 8));
	expect_mismatch(truth_tcp(), h, 1,
			"struct_ops map 3 member undo_cwnd: guest says none, host read prog 8");
}

/* ---- what is attached, from the guest's truth ---- */

Test(compare_truth, active_attached_that_differs_is_a_mismatch)
{
	json_t *h = host_tcp();

	put(h, "active.attached", json_false());
	expect_mismatch(truth_tcp(), h, 1, "active attached: guest says true, host read false");
}

Test(compare_truth, active_instances_that_differ_is_a_mismatch)
{
	json_t *h = host_tcp();

	put(h, "active.instances", json_pack("[i, i]", 3, 4));
	expect_mismatch(truth_tcp(), h, 1, "active instances: guest says [3], host read [3,4]");
}

Test(compare_truth, active_object_that_differs_is_a_mismatch)
{
	json_t *h = host_tcp();

	put(h, "active.obj_name", json_string("other_cc"));
	expect_mismatch(truth_tcp(), h, 1, "active obj_name: guest says \"ktbpf_cc\"");
}

Test(compare_truth, active_interface_that_differs_is_a_mismatch)
{
	json_t *h = host_tcp();

	put(h, "active.interface", json_string("sched_ext_ops"));
	expect_mismatch(truth_tcp(), h, 1, "active interface: guest says \"tcp_congestion_ops\"");
}

Test(compare_truth, active_map_id_not_attached_is_a_mismatch)
{
	json_t *h = host_tcp();

	put(h, "active.map_id", json_integer(4));
	expect_mismatch(truth_tcp(), h, 1, "active map_id");
}

Test(compare_truth, host_naming_an_object_when_none_is_attached_is_a_mismatch)
{
	json_t *t = truth_tcp();

	put(t, "active",
	    json_pack("{s:b, s:[], s:n, s:n}", "attached", 0, "instances", "obj_name",
		      "interface"));
	put(t, "struct_ops.0.state", json_string("ready"));
	/* state, attached, instances, obj_name, interface, map_id */
	expect_mismatch(t, host_tcp(), 6,
			"active obj_name: guest says null, host read \"ktbpf_cc\"");
}

Test(compare_truth, host_without_an_active_answer_is_a_mismatch)
{
	json_t *h = host_tcp();

	put(h, "active", json_null());
	expect_mismatch(truth_tcp(), h, 1, "active: guest says {");
}

/* ---- sched_ext ---- */

static json_t *truth_scx(void)
{
	json_t *t = truth_tcp();

	put(t, "sched_ext", json_pack("{s:s, s:s}", "state", "enabled", "root_ops", "ktbpf_scx"));
	scx_truth_state(t);
	return t;
}

static json_t *host_scx(const char *state, const char *ops)
{
	json_t *h = host_tcp();

	put(h, "sched_ext",
	    json_pack("{s:s, s:s?, s:o, s:s}", "enable_state", state, "ops_name", ops, "map_id",
		      ops ? json_integer(3) : json_null(), "layout", "scx_ops"));
	scx_host_state(h);
	return h;
}

Test(compare_truth, sched_ext_ops_that_differ_is_a_mismatch)
{
	expect_mismatch(truth_scx(), host_scx("enabled", "other_scx"), 1,
			"sched_ext root ops (host: ops_name): guest says \"ktbpf_scx\", host read "
			"\"other_scx\"");
}

Test(compare_truth, sched_ext_state_that_differs_is_a_mismatch)
{
	expect_mismatch(truth_scx(), host_scx("SCX_DISABLING", "ktbpf_scx"), 1,
			"sched_ext state (host: enable_state)");
}

Test(compare_truth, sched_ext_map_not_attached_is_a_mismatch)
{
	json_t *h = host_scx("enabled", "ktbpf_scx");

	put(h, "sched_ext.map_id", json_integer(9));
	expect_mismatch(truth_scx(), h, 1,
			"sched_ext map_id (the attached instance, or null): guest says [3], host "
			"read 9");
}

Test(compare_truth, sched_ext_map_without_a_scheduler_is_a_mismatch)
{
	json_t *t = truth_scx(), *h = host_scx("disabled", NULL);

	put(t, "sched_ext.state", json_string("disabled"));
	put(t, "sched_ext.root_ops", json_null());
	put(h, "sched_ext.map_id", json_integer(3));
	expect_mismatch(t, h, 1, "sched_ext map_id (the attached instance, or null)");
}

Test(compare_truth, sched_ext_unread_by_the_host_is_a_mismatch)
{
	expect_mismatch(truth_scx(), host_tcp(), 1, "sched_ext: guest says {");
}

Test(compare_truth, sched_ext_the_guest_lacks_is_a_mismatch)
{
	expect_mismatch(truth_tcp(), host_scx("disabled", NULL), 1, "sched_ext: guest says null");
}

/* ---- sched_ext's sysfs numbers and SCX_EV_* event counters ---- */

/* The running scheduler's pair, the host's value at path set to v (NULL: no key): one mismatch. */
static void expect_scx_host_value(const char *path, json_t *v, const char *needle)
{
	json_t *h = host_scx("enabled", "ktbpf_scx");

	put(h, path, v);
	expect_mismatch(truth_scx(), h, 1, needle);
}

/* 6.12: no root/events file, and no event counters on the host either. */
Test(compare_truth, matching_sched_ext_pair_without_events_exits_0)
{
	json_t *t = truth_scx(), *h = host_scx("SCX_OPS_ENABLED", "ktbpf_scx");

	put(t, "sched_ext.events", json_null());
	put(h, "sched_ext.events", json_null());
	expect_match(t, h);
}

static const char *const scx_host_values[] = {"switching_all", "nr_rejected", "hotplug_seq",
					      "enable_seq"};

Test(compare_truth, sched_ext_value_the_host_lacks_is_a_mismatch)
{
	char path[64];

	for (size_t i = 0; i < sizeof(scx_host_values) / sizeof(scx_host_values[0]); i++) {
		snprintf(path, sizeof(path), "sched_ext.%s", scx_host_values[i]);
		expect_scx_host_value(path, NULL, "host read (missing)");
		/* null: the host says it could not read it, which is no answer either */
		expect_scx_host_value(path, json_null(), "host read null");
	}
}

Test(compare_truth, sched_ext_value_that_differs_is_a_mismatch)
{
	expect_scx_host_value("sched_ext.hotplug_seq", json_integer(4),
			      "sched_ext hotplug_seq: guest says 2, host read 4");
	/* switch_all is scx_switching_all, not the switched_all static key */
	expect_scx_host_value(
		"sched_ext.switching_all", json_true(),
		"sched_ext switch_all (host: switching_all): guest says false, host read "
		"true");
}

/* The guest's null: its kernel has no such file (6.12: no root/events). */
Test(compare_truth, sched_ext_value_the_kernel_does_not_show_must_be_null_on_the_host)
{
	static const char *const cases[][2] = {
		{"sched_ext.hotplug_seq", "sched_ext hotplug_seq: guest says null, host read 2"},
		{"sched_ext.events", "sched_ext events (the guest's kernel shows none)"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *t = truth_scx();

		put(t, cases[i][0], json_null());
		expect_mismatch(t, host_scx("enabled", "ktbpf_scx"), 1, cases[i][1]);
	}
}

Test(compare_truth, sched_ext_events_the_host_lacks_is_a_mismatch)
{
	expect_scx_host_value("sched_ext.events", json_null(),
			      "sched_ext events (host: total and per_cpu)");
	expect_scx_host_value("sched_ext.events", NULL,
			      "sched_ext events (host: total and per_cpu)");
}

Test(compare_truth, sched_ext_event_the_host_lacks_is_a_mismatch)
{
	expect_scx_host_value("sched_ext.events.total.SCX_EV_DISPATCH_KEEP_LAST", NULL,
			      "sched_ext event SCX_EV_DISPATCH_KEEP_LAST: guest says 6, host read "
			      "(missing)");
}

/* A total and its rows that agree with each other but not with the guest. */
Test(compare_truth, sched_ext_event_count_that_differs_is_a_mismatch)
{
	json_t *h = host_scx("enabled", "ktbpf_scx");

	put(h, "sched_ext.events.total.SCX_EV_SELECT_CPU_FALLBACK", json_integer(1));
	put(h, "sched_ext.events.per_cpu.1.counters.SCX_EV_SELECT_CPU_FALLBACK", json_integer(0));
	put(h, "sched_ext.events.per_cpu.2.counters.SCX_EV_SELECT_CPU_FALLBACK", json_integer(0));
	put(h, "sched_ext.events.per_cpu.3.counters.SCX_EV_SELECT_CPU_FALLBACK", json_integer(0));
	expect_mismatch(truth_scx(), h, 1,
			"sched_ext event SCX_EV_SELECT_CPU_FALLBACK: guest says 10, host read 1");
}

Test(compare_truth, sched_ext_event_total_that_is_not_the_sum_of_its_rows_is_a_mismatch)
{
	expect_scx_host_value(
		"sched_ext.events.per_cpu.3.counters.SCX_EV_SELECT_CPU_FALLBACK", json_integer(5),
		"sched_ext event SCX_EV_SELECT_CPU_FALLBACK: host's total is not their "
		"sum, its per-CPU rows add up to 11");
}

Test(compare_truth, sched_ext_event_rows_that_overflow_are_a_mismatch)
{
	expect_scx_host_value("sched_ext.events.per_cpu.2.counters.SCX_EV_SELECT_CPU_FALLBACK",
			      json_integer(INT64_MAX), "(overflowed)");
}

Test(compare_truth, sched_ext_event_the_guest_does_not_list_is_a_mismatch)
{
	json_t *h = host_scx("enabled", "ktbpf_scx");
	char path[96];

	put(h, "sched_ext.events.total.SCX_EV_BYPASS_DURATION", json_integer(0));
	for (int c = 0; c < 4; c++) {
		snprintf(path, sizeof(path),
			 "sched_ext.events.per_cpu.%d.counters.SCX_EV_BYPASS_DURATION", c);
		put(h, path, json_integer(0));
	}
	expect_mismatch(truth_scx(), h, 1,
			"sched_ext event SCX_EV_BYPASS_DURATION (not in the guest's sysfs): guest "
			"says (missing), host read 0");
}

Test(compare_truth, sched_ext_event_rows_short_of_the_possible_cpus_are_a_mismatch)
{
	json_t *h = host_scx("enabled", "ktbpf_scx");

	/* CPU 3 unread, its counts folded into CPU 2: the totals still add up */
	put(h, "sched_ext.events.per_cpu.2.counters.SCX_EV_SELECT_CPU_FALLBACK", json_integer(7));
	cr_assert_eq(json_array_remove(at(h, "sched_ext.events.per_cpu"), 3), 0);
	expect_mismatch(truth_scx(), h, 1,
			"sched_ext events per_cpu: guest has 4 possible CPUs, host read 3 rows");
}

Test(compare_truth, sched_ext_event_row_of_a_cpu_listed_twice_is_a_mismatch)
{
	expect_scx_host_value("sched_ext.events.per_cpu.3.cpu", json_integer(0),
			      "sched_ext events: host lists CPU 0 twice");
}

Test(compare_truth, sched_ext_event_row_that_lacks_an_event_is_a_mismatch)
{
	expect_scx_host_value(
		"sched_ext.events.per_cpu.1.counters.SCX_EV_DISPATCH_KEEP_LAST", NULL,
		"sched_ext event SCX_EV_DISPATCH_KEEP_LAST: host's CPU 1 row lacks it");
}

Test(compare_truth, sched_ext_truth_without_its_sysfs_numbers_is_bad_input)
{
	static const char *const keys[] = {"switch_all", "nr_rejected", "hotplug_seq", "enable_seq",
					   "events"};
	char path[64];

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *t = truth_scx();

		snprintf(path, sizeof(path), "sched_ext.%s", keys[i]);
		put(t, path, NULL);
		expect_bad_input(t, host_scx("enabled", "ktbpf_scx"), NULL, keys[i]);
	}
}

/* ---- stats, paging, the host's own completeness ---- */

Test(compare_truth, stats_enabled_that_differs_is_a_mismatch)
{
	json_t *h = host_tcp();

	put(h, "stats_enabled", json_false());
	expect_mismatch(truth_tcp(), h, 1, "stats_enabled: guest says true, host read false");
}

Test(compare_truth, stats_enabled_unknown_to_the_host_is_a_mismatch)
{
	json_t *h = host_tcp();

	put(h, "stats_enabled", json_null());
	expect_mismatch(truth_tcp(), h, 1, "stats_enabled: guest says true, host read null");
}

/* With stats disabled the kernel counts no runs: a count on both sides is still wrong. */
Test(compare_truth, counters_with_stats_disabled_are_a_mismatch)
{
	json_t *t = truth_tcp(), *h = host_tcp();
	const char *c[] = {"progs.0.run_time_ns", "progs.1.run_cnt", "progs.1.run_time_ns"};

	put(t, "stats_enabled", json_false());
	put(h, "stats_enabled", json_false());
	for (size_t i = 0; i < 3; i++) {
		put(t, c[i], json_integer(0));
		put(h, c[i], json_integer(0));
	}
	expect_mismatch(t, h, 1, "prog 7 run_cnt: stats are disabled, yet both sides say 1000");
}

Test(compare_truth, paging_levels_that_differ_is_a_mismatch)
{
	json_t *h = host_tcp();

	put(h, "kernel.pgtable_levels", json_integer(5));
	expect_mismatch(truth_tcp(), h, 1,
			"paging levels (host: kernel.pgtable_levels): guest says "
			"4, host read 5");
}

Test(compare_truth, possible_cpus_that_differ_is_a_mismatch)
{
	json_t *h = host_tcp();

	put(h, "kernel.possible_cpus", json_integer(8));
	expect_mismatch(truth_tcp(), h, 1,
			"possible CPUs (host: kernel.possible_cpus): guest says 4, host read 8");
}

Test(compare_truth, any_diagnostic_is_a_mismatch)
{
	json_t *h = host_tcp();

	json_array_append_new(at(h, "diagnostics"),
			      json_pack("{s:i, s:s, s:s, s:s}", "prog_id", 8, "code", "EFAULT",
					"addr", "0xffff888000001000", "message",
					"stats unreadable"));
	expect_mismatch(truth_tcp(), h, 1, "diagnostic: host read {\"prog_id\":8");
}

Test(compare_truth, dropped_diagnostics_are_a_mismatch)
{
	json_t *h = host_tcp();

	put(h, "diagnostics_dropped", json_integer(3));
	expect_mismatch(truth_tcp(), h, 1, "diagnostics_dropped: host read 3, want 0");
}

Test(compare_truth, capped_walk_is_a_mismatch)
{
	json_t *h = host_tcp();

	put(h, "capped", json_true());
	expect_mismatch(truth_tcp(), h, 1,
			"capped (a walk cap was hit): host read true, want false");
}

Test(compare_truth, skipped_entries_are_a_mismatch)
{
	json_t *h = host_tcp();

	put(h, "skipped", json_integer(2));
	expect_mismatch(truth_tcp(), h, 1,
			"skipped (prog_idr entries not read): host read 2, want 0");
}

Test(compare_truth, torn_snapshot_is_a_mismatch)
{
	json_t *h = host_tcp();

	put(h, "torn", json_true());
	expect_mismatch(truth_tcp(), h, 1,
			"torn (the guest changed during the snapshot): host read true");
}

/* A key the guest reports and the host's document lacks (an older ktbpfctl) fails. */
Test(compare_truth, host_without_a_key_is_a_mismatch)
{
	static const char *const keys[] = {
		"stats_enabled",
		"kernel.possible_cpus",
		"kernel.pgtable_levels",
		"struct_ops",
		"active",
		"active.instances",
		"active.attached",
		"active.map_id",
		"sched_ext",
		"torn",
		"capped",
		"skipped",
		"diagnostics",
		"progs.0.interface",
		"progs.0.member",
		"progs.0.stats_complete",
		"struct_ops.0.state",
		"struct_ops.0.object",
		"struct_ops.0.members",
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *h = host_tcp();
		struct unit_run r;

		put(h, keys[i], NULL);
		r = compare(truth_tcp(), h, NULL);
		cr_assert_eq(r.status, 1, "without %s: exit %d; out:\n%s%s", keys[i], r.status,
			     r.out, r.err);
		cr_assert(count_lines(r.out, "MISMATCH ") >= 1, "without %s:\n%s", keys[i], r.out);
		unit_run_free(&r);
	}
}

/* ---- bad input ---- */

/* A truth from an older guest agent cannot prove anything: exit 2, naming the key. */
Test(compare_truth, truth_without_a_key_is_bad_input)
{
	static const char *const keys[] = {
		"nr_cpus",
		"stats_enabled",
		"progs",
		"paging_levels",
		"struct_ops",
		"sched_ext",
		"active",
		"active.instances",
		"active.attached",
		"active.obj_name",
		"progs.1.run_cnt",
		"progs.0.name",
		"struct_ops.0.state",
		"struct_ops.0.object",
		"struct_ops.0.members.1.prog_id",
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *t = truth_tcp();

		put(t, keys[i], NULL);
		expect_bad_input(t, host_tcp(), NULL, "truth lacks ");
	}
}

Test(compare_truth, truth_lacking_paging_levels_names_it)
{
	json_t *t = truth_tcp();

	put(t, "paging_levels", NULL);
	expect_bad_input(t, host_tcp(), NULL, "truth lacks paging_levels");
}

Test(compare_truth, active_object_from_arguments_is_refused)
{
	expect_bad_input(truth_tcp(), host_tcp(), "--active-obj=ktbpf_cc", "usage");
}

Test(compare_truth, unparsable_host_document_is_bad_input)
{
	const char *bin = getenv("COMPARE_TRUTH");
	char path[] = "/tmp/ktbpf-cmp-bad-XXXXXX", cmd[256];
	int fd = mkstemp(path);

	cr_assert_not_null(bin);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, "{\"progs\": [", 11), 11);
	close(fd);
	snprintf(cmd, sizeof(cmd), "'%s' '%s' '%s' >/dev/null 2>&1", bin, path, path);
	cr_assert_eq(WEXITSTATUS(system(cmd)), 2);
	unlink(path);
}

/* ---- the negative control's mode ---- */

Test(compare_truth, expected_counter_mismatch_accepts_counters_only)
{
	json_t *h = host_tcp();
	struct unit_run r;

	put(h, "progs.0.run_cnt", json_integer(250));
	put(h, "progs.1.run_time_ns", json_integer(700));
	r = compare(truth_tcp(), h, "--expect-counter-mismatch");
	cr_assert_eq(r.status, 0, "out:\n%s", r.out);
	cr_assert_not_null(strstr(r.out, "EXPECTED: 2 counter mismatches"), "out:\n%s", r.out);
	unit_run_free(&r);
}

Test(compare_truth, expected_counter_mismatch_rejects_a_match)
{
	struct unit_run r = compare(truth_tcp(), host_tcp(), "--expect-counter-mismatch");

	cr_assert_eq(r.status, 1, "out:\n%s", r.out);
	cr_assert_not_null(strstr(r.out, "UNEXPECTED: 0 counter and 0 other"), "out:\n%s", r.out);
	unit_run_free(&r);
}

Test(compare_truth, expected_counter_mismatch_rejects_any_other_mismatch)
{
	json_t *h = host_tcp();
	struct unit_run r;

	put(h, "progs.0.run_cnt", json_integer(250));
	put(h, "progs.1.name", json_string("ktbpf_ssthres"));
	r = compare(truth_tcp(), h, "--expect-counter-mismatch");
	cr_assert_eq(r.status, 1, "out:\n%s", r.out);
	cr_assert_not_null(strstr(r.out, "UNEXPECTED: 1 counter and 1 other"), "out:\n%s", r.out);
	unit_run_free(&r);
}

/* ---- compare-truth --vars: the guest's variables against `ktbpfctl vars --json` ---- */

static json_t *truth_vars(void)
{
	json_t *t = truth_tcp();

	put(t, "vars",
	    json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}}", "object",
		      "ktbpf_sc", "values", "ktbpf_sc.bss:cpu_hist[0]", "0",
		      "ktbpf_sc.bss:nr_enqueue", "12", "ktbpf_sc.data:stats.flags", "3",
		      "ktbpf_sc.data:label", "ktbpf\\\\scx\\x01", "ktbpf_sc.bss:cpu_hist[1]", "5",
		      "ktbpf_sc.bss:phase", "KTBPF_PHASE_RUNNING", "ktbpf_pcpu:[0].sum.events", "9",
		      "ktbpf_pcpu:[0].cpu1.events", "9", "ktbpf_sc.data:big_magic",
		      "18364758544493064720"));
	return t;
}

static json_t *leaf(const char *name, const char *kind, json_t *value)
{
	return json_pack("{s:s, s:s, s:s, s:o}", "name", name, "type", "t", "kind", kind, "value",
			 value);
}

static json_t *host_vars(void)
{
	json_t *bss = json_pack(
		"[o, o, {s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:i, s:i}, {s:s, s:s, s:s, s:i, s:i}]}]",
		leaf("nr_enqueue", "uint", json_integer(12)),
		leaf("phase", "enum", json_string("KTBPF_PHASE_RUNNING")), "name", "cpu_hist",
		"type", "u32[2]", "kind", "array", "children", "name", "", "type", "u32", "kind",
		"uint", "index", 0, "value", 0, "name", "", "type", "u32", "kind", "uint", "index",
		1, "value", 5);
	json_t *data = json_pack("[{s:s, s:s, s:s, s:[o]}, o, o]", "name", "stats", "type",
				 "struct ktbpf_stats", "kind", "struct", "children",
				 leaf("flags", "uint", json_integer(3)),
				 leaf("label", "string", json_string("ktbpf\\\\scx\\x01")),
				 leaf("big_magic", "uint", json_string("18364758544493064720")));
	json_t *pcpu = json_pack(
		"[{s:s, s:s, s:s, s:i, s:[{s:s, s:s, s:s, s:[o]}, {s:s, s:s, s:s, s:i, s:[o]},"
		" {s:s, s:s, s:s, s:i, s:[o]}]}]",
		"name", "", "type", "struct v", "kind", "percpu", "index", 0, "children", "name",
		"sum", "type", "struct v", "kind", "struct", "children",
		leaf("events", "uint", json_integer(9)), "name", "cpu", "type", "struct v", "kind",
		"struct", "index", 0, "children",
		json_pack("{s:s, s:s, s:s}", "name", "events", "type", "u64", "kind", "nosum"),
		"name", "cpu", "type", "struct v", "kind", "struct", "index", 1, "children",
		leaf("events", "uint", json_integer(9)));
	json_t *h;

	/* cpu0.events is left out on both sides: the host's "nosum" kind shows nothing */
	h = json_pack("{s:s, s:[{s:i, s:s, s:s, s:s, s:o}, {s:i, s:s, s:s, s:s, s:o},"
		      " {s:i, s:s, s:s, s:s, s:o}], s:b, s:[]}",
		      "object", "ktbpf_sc", "maps", "id", 4, "name", "ktbpf_sc.bss", "section",
		      ".bss", "type", "array", "vars", bss, "id", 5, "name", "ktbpf_sc.data",
		      "section", ".data", "type", "array", "vars", data, "id", 6, "name",
		      "ktbpf_pcpu", "section", "", "type", "percpu_array", "vars", pcpu, "capped",
		      0, "diagnostics");
	cr_assert_not_null(h);
	return h;
}

static void expect_vars(json_t *truth, json_t *host, int status, int lines, const char *needle)
{
	struct unit_run r = compare(truth, host, "--vars");

	cr_assert_eq(r.status, status, "exit %d, want %d; out:\n%s%s", r.status, status, r.out,
		     r.err);
	cr_assert_eq(count_lines(r.out, "MISMATCH "), lines, "want %d MISMATCH lines; out:\n%s",
		     lines, r.out);
	if (needle)
		cr_assert_not_null(strstr(r.out, needle), "no '%s' in:\n%s", needle, r.out);
	unit_run_free(&r);
}

Test(compare_truth, vars_matching_pair_exits_0)
{
	expect_vars(truth_vars(), host_vars(), 0, 0, "MATCH: 9 variables");
}

Test(compare_truth, vars_value_that_differs_is_a_mismatch)
{
	json_t *h = host_vars();

	json_object_set_new(json_array_get(at(h, "maps.0.vars"), 0), "value", json_integer(13));
	expect_vars(truth_vars(), h, 1, 1, "nr_enqueue: guest 12, host 13");
}

Test(compare_truth, vars_percpu_sum_that_differs_is_a_mismatch)
{
	json_t *h = host_vars();

	json_object_set_new(at(h, "maps.2.vars.0.children.0.children.0"), "value", json_integer(8));
	expect_vars(truth_vars(), h, 1, 1, "ktbpf_pcpu:[0].sum.events: guest 9, host 8");
}

Test(compare_truth, vars_missing_on_the_host_is_a_mismatch)
{
	json_t *h = host_vars();

	json_array_remove(at(h, "maps.1.vars"), 1);
	expect_vars(truth_vars(), h, 1, 1, "ktbpf_sc.data:label: guest");
}

Test(compare_truth, vars_extra_on_the_host_is_a_mismatch)
{
	json_t *t = truth_vars();

	json_object_del(at(t, "vars.values"), "ktbpf_sc.data:big_magic");
	expect_vars(t, host_vars(), 1, 1, "the guest has no such variable");
}

Test(compare_truth, vars_map_the_host_could_not_decode_is_a_mismatch)
{
	json_t *h = host_vars();

	json_object_set_new(at(h, "maps.0"), "error",
			    json_pack("{s:s, s:s}", "code", "EINVAL", "message", "bad BTF"));
	expect_vars(truth_vars(), h, 1, 1, "could not decode map ktbpf_sc.bss: bad BTF");
}

Test(compare_truth, vars_host_diagnostic_is_a_mismatch)
{
	json_t *h = host_vars();

	json_array_append_new(json_object_get(h, "diagnostics"),
			      json_pack("{s:s}", "message", "an array cut"));
	expect_vars(truth_vars(), h, 1, 1, "an array cut");
}

Test(compare_truth, vars_truth_without_vars_is_bad_input)
{
	expect_vars(truth_tcp(), host_vars(), 2, 0, NULL);
}

/* ---- why the scheduler exited: the guest's uei against the host's exit ---- */

static json_t *uei(int kind, const char *msg)
{
	return json_pack("{s:s, s:i, s:i, s:s, s:s}", "obj", "kscx_err", "kind", kind, "exit_code",
			 0, "reason", "scx_bpf_error", "msg", msg);
}

static json_t *host_exit(const char *source, int kind, const char *msg)
{
	return json_pack("{s:s, s:i, s:s, s:i, s:s, s:s, s:[], s:n}", "source", source, "kind",
			 kind, "kind_name", "SCX_EXIT_ERROR_BPF", "exit_code", 0, "reason",
			 "scx_bpf_error", "msg", msg, "backtrace", "dump");
}

/* An ejected scheduler: disabled, nothing attached, its uei and the kernel log say why. */
static json_t *truth_ejected(void)
{
	json_t *t = truth_scx();

	put(t, "sched_ext.state", json_string("disabled"));
	put(t, "sched_ext.root_ops", json_null());
	put(t, "sched_ext.uei", uei(1025, "ktbpf test error 7"));
	put(t, "sched_ext.kmsg_msg", json_string("sched_ext: kscx_err: ktbpf test error 7"));
	/* 7.2: root/, and its events, are gone with the scheduler */
	put(t, "sched_ext.events", json_null());
	return t;
}

static json_t *host_ejected(json_t *exit)
{
	json_t *h = host_scx("disabled", NULL);

	put(h, "sched_ext.exit", exit);
	put(h, "sched_ext.events", json_null());
	return h;
}

Test(compare_truth, scheduler_exit_kind_and_message_from_uei_match)
{
	expect_match(truth_ejected(), host_ejected(host_exit("uei", 1025, "ktbpf test error 7")));
	expect_match(truth_ejected(),
		     host_ejected(host_exit("kernel", 1025, "ktbpf test error 7")));
}

Test(compare_truth, scheduler_exit_missing_on_host_is_a_mismatch)
{
	expect_mismatch(truth_ejected(), host_ejected(json_null()), 1,
			"sched_ext exit (host: none)");
}

Test(compare_truth, scheduler_exit_kind_that_differs_is_a_mismatch)
{
	expect_mismatch(truth_ejected(), host_ejected(host_exit("uei", 1026, "ktbpf test error 7")),
			1, "sched_ext exit kind: guest says 1025, host read 1026");
}

Test(compare_truth, scheduler_exit_message_not_exact_is_a_mismatch)
{
	/* one character short: the uei's and the kernel log's message both differ */
	expect_mismatch(truth_ejected(), host_ejected(host_exit("uei", 1025, "ktbpf test error ")),
			2, "sched_ext exit message: guest says \"ktbpf test error 7\"");
}

Test(compare_truth, scheduler_exit_message_the_kernel_did_not_log_is_a_mismatch)
{
	json_t *t = truth_ejected();

	put(t, "sched_ext.kmsg_msg", json_string("sched_ext: kscx_err: another error"));
	expect_mismatch(t, host_ejected(host_exit("uei", 1025, "ktbpf test error 7")), 1,
			"the kernel log's");
}

Test(compare_truth, running_scheduler_with_an_exit_kind_on_host_is_a_mismatch)
{
	json_t *t = truth_scx(), *h = host_scx("enabled", "ktbpf_scx");

	put(t, "sched_ext.uei", uei(0, ""));
	put(h, "sched_ext.exit", host_exit("kernel", 0, ""));
	expect_match(json_deep_copy(t), json_deep_copy(h));
	put(h, "sched_ext.exit", host_exit("kernel", 1025, "x"));
	expect_mismatch(t, h, 1, "the scheduler has not exited");
}
