/* SPDX-License-Identifier: MIT */
/*
 * rpc/metrics.c: snapshots to the Prometheus text format, held to golden
 * files in tests/golden/ byte for byte, and the escaping of hostile
 * label values (guest strings: quotes, backslashes, newlines, bytes that are
 * not UTF-8).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktbpf/metrics.h"
#include "unit.h"

static void prog(struct ktbpf_prog *p, uint32_t id, const char *name, const char *iface,
		 const char *member, uint64_t cnt, uint64_t nsecs, uint64_t misses, uint32_t insns,
		 bool stats_valid)
{
	*p = (struct ktbpf_prog){.id = id,
				 .cnt = cnt,
				 .nsecs = nsecs,
				 .misses = misses,
				 .verified_insns = insns,
				 .stats_valid = stats_valid};
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->iface, sizeof(p->iface), "%s", iface);
	snprintf(p->member, sizeof(p->member), "%s", member);
}

/* Two programs of one sched_ext object and a congestion-control one whose stats were not
 * read on every CPU; sched_ext enabled; stats on. */
static void fill_sched(struct ktbpf_snapshot *s, struct ktbpf_prog *progs,
		       struct ktbpf_st_instance *in)
{
	memset(s, 0, sizeof(*s));
	prog(&progs[0], 3, "kit_enqueue", "sched_ext_ops", "enqueue", 1234567, 2500000001ull, 2, 88,
	     true);
	prog(&progs[1], 7, "kit_dispatch", "sched_ext_ops", "dispatch", 0, 0, 0, 12, true);
	prog(&progs[2], 9, "kit_cong", "tcp_congestion_ops", "cong_avoid", 5, 5, 0, 40, false);
	memset(in, 0, sizeof(*in));
	in->map_id = 11;
	snprintf(in->obj_name, sizeof(in->obj_name), "kitsched");
	in->nr_members = 2;
	in->members[0].prog_id = 3;
	in->members[1].prog_id = 7;
	s->progs = progs;
	s->nr_progs = 3;
	s->instances = in;
	s->nr_instances = 1;
	s->stats = KTBPF_STATS_ENABLED;
	s->scx.layout = KTBPF_SCX_ROOT;
	s->scx.state = KTBPF_SCX_ENABLED;
	snprintf(s->scx.ops_name, sizeof(s->scx.ops_name), "kitsched");
}

Test(metrics, two_vms_render_families_together_in_the_order_added)
{
	struct ktbpf_snapshot s;
	struct ktbpf_prog progs[3];
	struct ktbpf_st_instance in;
	struct ktbpf_metrics *m = ktbpf_metrics_new(), *b = ktbpf_metrics_new();
	struct ktbpf_metrics_vm a = {"ci-a", "vm-1", "x86_64", "ready"},
				down = {"ci-b", "vm-2", "aarch64", "waiting"};
	char *text;

	fill_sched(&s, progs, &in);
	cr_assert_eq(ktbpf_metrics_add_vm(m, &a, &s), 0);
	cr_assert_eq(ktbpf_metrics_add_vm(b, &down, NULL), 0);
	cr_assert_eq(ktbpf_metrics_merge(m, b), 0);
	text = ktbpf_metrics_finish(m, "0.1.0", false, 0, NULL);
	cr_assert_not_null(text);
	unit_assert_golden(text, GOLDEN_DIR, "metrics-two-vms.prom");
	free(text);
	ktbpf_metrics_free(b);
	ktbpf_metrics_free(m);
}

Test(metrics, hostile_guest_strings_are_escaped_and_never_forge_a_line)
{
	struct ktbpf_snapshot s;
	struct ktbpf_prog progs[3];
	struct ktbpf_st_instance in;
	struct ktbpf_metrics *m = ktbpf_metrics_new();
	/* a quote that would end the label, a backslash, a newline that would start a forged
	 * sample, and bytes that are not UTF-8 (a lone continuation, an overlong '/', a
	 * surrogate, a truncated sequence at the end) */
	struct ktbpf_metrics_vm vm = {"evil\"vm\\", "vm-9", "x86_64", "ready"};
	char *text, *line, *save;

	fill_sched(&s, progs, &in);
	snprintf(progs[0].name, sizeof(progs[0].name), "a\"b\\c\nd");
	snprintf(progs[1].name, sizeof(progs[1].name), "\x80x\xc0\xaf\xed\xa0\x80\xe2\x82");
	snprintf(in.obj_name, sizeof(in.obj_name), "o\n} 1\nx{");
	snprintf(s.scx.ops_name, sizeof(s.scx.ops_name), "caf\xc3\xa9\xff");
	cr_assert_eq(ktbpf_metrics_add_vm(m, &vm, &s), 0);
	text = ktbpf_metrics_finish(m, "0.1.0", false, 0, NULL);
	cr_assert_not_null(text);
	unit_assert_golden(text, GOLDEN_DIR, "metrics-hostile.prom");
	/* every line is a comment or a sample of one of our families */
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		cr_assert(line[0] == '#' || !strncmp(line, "ktbpfd_", 7), "forged line: %s", line);
	free(text);
	ktbpf_metrics_free(m);
}

Test(metrics, escape_doubles_backslashes_and_quotes_and_replaces_bad_utf8)
{
	char out[64];

	cr_assert_eq(ktbpf_metrics_escape(out, sizeof(out), "a\\b\"c\nd"), 10);
	cr_assert_str_eq(out, "a\\\\b\\\"c\\nd");
	ktbpf_metrics_escape(out, sizeof(out), "\xf4\x90\x80\x80"); /* > U+10FFFF */
	cr_assert_str_eq(out, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	ktbpf_metrics_escape(out, sizeof(out), "\xf0\x9f\x98\x80 ok"); /* U+1F600 stays */
	cr_assert_str_eq(out, "\xf0\x9f\x98\x80 ok");
	/* a guest's terminal controls (ESC, CR, DEL, 8-bit CSI) are not passed on; tab is */
	ktbpf_metrics_escape(out, sizeof(out), "a\x1b[2J\r\x7f\xc2\x9b\tz");
	cr_assert_str_eq(out, "a\xef\xbf\xbd[2J\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\tz");
	/* truncation: the needed length, a terminated prefix */
	cr_assert_eq(ktbpf_metrics_escape(out, 4, "\"\"\""), 6);
	cr_assert_str_eq(out, "\\\"\\");
}

Test(metrics, scrape_duration_is_the_last_family_when_asked_for)
{
	struct ktbpf_metrics *m = ktbpf_metrics_new();
	char *text = ktbpf_metrics_finish(m, "0.1.0", true, 1500000000ull, NULL);

	cr_assert_not_null(text);
	cr_assert_not_null(strstr(text, "# TYPE ktbpfd_scrape_duration_seconds gauge\n"
					"ktbpfd_scrape_duration_seconds 1.500000000\n"));
	cr_assert_str_eq(text + strlen(text) - strlen("1.500000000\n"), "1.500000000\n");
	free(text);
	ktbpf_metrics_free(m);
}

Test(metrics, one_object_loaded_twice_gets_a_copy_label_so_series_stay_unique)
{
	struct ktbpf_snapshot s;
	struct ktbpf_prog progs[3];
	struct ktbpf_st_instance in;
	struct ktbpf_metrics *m = ktbpf_metrics_new();
	struct ktbpf_metrics_vm vm = {"v", "vm-1", "x86_64", "ready"};
	char *text;

	fill_sched(&s, progs, &in);
	/* program 9 becomes a second kit_enqueue of kitsched (a second instance member) */
	prog(&progs[2], 9, "kit_enqueue", "sched_ext_ops", "enqueue", 1, 1, 0, 88, true);
	in.members[2].prog_id = 9;
	in.nr_members = 3;
	cr_assert_eq(ktbpf_metrics_add_vm(m, &vm, &s), 0);
	text = ktbpf_metrics_finish(m, "0.1.0", false, 0, NULL);
	cr_assert_not_null(strstr(text, "ktbpfd_prog_runs_total{vm=\"v\",object=\"kitsched\","
					"interface=\"sched_ext_ops\",member=\"enqueue\",program="
					"\"kit_enqueue\"} 1234567\n"),
			   "%s", text);
	cr_assert_not_null(strstr(text, "ktbpfd_prog_runs_total{vm=\"v\",object=\"kitsched\","
					"interface=\"sched_ext_ops\",member=\"enqueue\",program="
					"\"kit_enqueue\",copy=\"2\"} 1\n"),
			   "%s", text);
	free(text);
	ktbpf_metrics_free(m);
}

Test(metrics, the_most_programs_a_walk_reports_render_in_linear_time, .timeout = 10)
{
	static struct ktbpf_prog progs[KTBPF_MAX_PROGS];
	static struct ktbpf_st_instance in[KTBPF_MAX_INSTANCES];
	struct ktbpf_snapshot s = {0};
	struct ktbpf_metrics *m = ktbpf_metrics_new();
	struct ktbpf_metrics_vm vm = {"v", "vm-1", "x86_64", "ready"};
	char *text;
	size_t len;

	/* every program with the same labels (the worst case for the copy table), every
	 * instance full of members */
	for (uint32_t i = 0; i < KTBPF_MAX_PROGS; i++)
		prog(&progs[i], i + 1, "p", "sched_ext_ops", "enqueue", i, i, 0, 1, true);
	for (uint32_t i = 0; i < KTBPF_MAX_INSTANCES; i++) {
		snprintf(in[i].obj_name, sizeof(in[i].obj_name), "o");
		in[i].nr_members = KTBPF_MAX_OPS_MEMBERS;
		for (uint32_t j = 0; j < KTBPF_MAX_OPS_MEMBERS; j++)
			in[i].members[j].prog_id = i * KTBPF_MAX_OPS_MEMBERS + j + 1;
	}
	s.progs = progs;
	s.nr_progs = KTBPF_MAX_PROGS;
	s.instances = in;
	s.nr_instances = KTBPF_MAX_INSTANCES;
	cr_assert_eq(ktbpf_metrics_add_vm(m, &vm, &s), 0);
	text = ktbpf_metrics_finish(m, "0.1.0", false, 0, &len);
	cr_assert_not_null(text);
	/* 256 x 64 programs of object "o", the other 49152 of none */
	cr_assert_not_null(strstr(text,
				  "object=\"o\",interface=\"sched_ext_ops\",member=\"enqueue\","
				  "program=\"p\",copy=\"16384\"} "));
	cr_assert_not_null(strstr(text,
				  "object=\"\",interface=\"sched_ext_ops\",member=\"enqueue\","
				  "program=\"p\",copy=\"49152\"} "));
	free(text);
	ktbpf_metrics_free(m);
}
