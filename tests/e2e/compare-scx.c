/* SPDX-License-Identifier: MIT */
/*
 * compare-truth's sched_ext part: the guest's truth["sched_ext"] (sysfs:
 * /sys/kernel/sched_ext/{state,switch_all,nr_rejected,hotplug_seq,
 * enable_seq}, root/ops and root/events; its scheduler's uei; the kernel
 * log) against the host's `ktbpfctl inspect --json` "sched_ext".
 *
 * Every value the guest's kernel shows must be in the host's answer and
 * equal to it: a value the host lacks (null, no key) is a mismatch, never
 * skipped. A value the kernel does not show (the guest's null: 6.12 has no
 * events file; root/ is gone while no scheduler is enabled) must be null on
 * the host too.
 *
 * All exact, none a bound: the test schedulers run in partial mode
 * (SCX_OPS_SWITCH_PARTIAL: tests/guest/scx/ktbpf_scx.bpf.c), so only the
 * workload's SCHED_EXT tasks reach the paths that count SCX_EV_* (7.2:
 * kernel/sched/ext/ext.c, every __scx_add_event() is on a sched_ext task's
 * select_cpu/enqueue/dispatch/reenqueue path or in bypass mode, entered only
 * on enable, disable and PM events). Those tasks have exited before the agent
 * reports; it reports only after the events and the programs' counters held
 * still for 500 ms (ktbpf-agent.c: quiesce()), and the VM is paused at its
 * KTBPF-READY, after that. The other numbers move on scheduler enable (the
 * agent enables before its workload), CPU hotplug (none) and rejected
 * SCHED_EXT tasks (none after the workload).
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compare-truth.h"

/* The guest's sysfs number files and the host's members that read the same variable. */
static const struct {
	const char *guest, *host, *subject;
} scx_values[] = {
	{"switch_all", "switching_all", "sched_ext switch_all (host: switching_all)"},
	{"nr_rejected", "nr_rejected", "sched_ext nr_rejected"},
	{"hotplug_seq", "hotplug_seq", "sched_ext hotplug_seq"},
	{"enable_seq", "enable_seq", "sched_ext enable_seq"},
};

static void cmp_scx_values(json_t *want, json_t *got)
{
	size_t i;

	for (i = 0; i < sizeof(scx_values) / sizeof(scx_values[0]); i++) {
		json_t *w = get(want, scx_values[i].guest), *g = get(got, scx_values[i].host);

		/* json_equal(null, null): neither side has it */
		if (!g || !json_equal(w, g))
			differ(false, scx_values[i].subject, w, g);
	}
}

/* The host's rows: one per possible CPU, each CPU once, each event in each. */
static bool check_event_rows(json_t *total, json_t *rows, json_t *nr_cpus)
{
	const char *name;
	json_t *r, *r2, *v;
	size_t i, j;
	bool ok = true;

	/* the guest is paused while the host reads it: every possible CPU's row must be there */
	if (!json_is_integer(nr_cpus) ||
	    (json_int_t)json_array_size(rows) != json_integer_value(nr_cpus)) {
		mismatch(false,
			 "sched_ext events per_cpu: guest has %" JSON_INTEGER_FORMAT
			 " possible CPUs, host read %zu rows",
			 json_integer_value(nr_cpus), json_array_size(rows));
		ok = false;
	}
	json_array_foreach(rows, i, r)
	{
		json_t *cpu = get(r, "cpu");

		if (!json_is_integer(cpu) || !json_is_object(get(r, "counters"))) {
			mismatch(false,
				 "sched_ext events per_cpu[%zu]: host read no cpu and counters", i);
			ok = false;
			continue;
		}
		for (j = 0; j < i; j++) {
			r2 = json_array_get(rows, j);
			if (json_equal(get(r2, "cpu"), cpu)) {
				mismatch(false,
					 "sched_ext events: host lists CPU %" JSON_INTEGER_FORMAT
					 " twice",
					 json_integer_value(cpu));
				ok = false;
				break;
			}
		}
		json_object_foreach(total, name, v)
		{
			if (!json_is_integer(get(get(r, "counters"), name))) {
				mismatch(false,
					 "sched_ext event %s: host's CPU %" JSON_INTEGER_FORMAT
					 " row lacks it",
					 name, json_integer_value(cpu));
				ok = false;
			}
		}
	}
	return ok;
}

/* Each event's per-CPU counts, summed as scx_read_events() does, must be the host's total. */
static void check_event_sums(json_t *total, json_t *rows)
{
	const char *name;
	json_t *v, *r;
	size_t i;

	json_object_foreach(total, name, v)
	{
		int64_t sum = 0, c;
		bool overflow = false;

		json_array_foreach(rows, i, r)
		{
			c = (int64_t)json_integer_value(get(get(r, "counters"), name));
			overflow |= __builtin_add_overflow(sum, c, &sum);
		}
		if (overflow || !json_is_integer(v) || json_integer_value(v) != sum)
			mismatch(false,
				 "sched_ext event %s: host's total is %s, its per-CPU rows add up "
				 "to %" PRId64 "%s",
				 name, json_is_integer(v) ? "not their sum" : "no integer", sum,
				 overflow ? " (overflowed)" : "");
	}
}

/*
 * SCX_EV_*: the guest's root/events (summed over the possible CPUs by the
 * kernel) against the host's events.total, name by name, both ways; and the
 * host's per-CPU rows must add up to its totals.
 */
static void cmp_scx_events(json_t *want, json_t *got, json_t *nr_cpus)
{
	json_t *w = get(want, "events"), *h = get(got, "events"), *total, *rows, *v;
	const char *name;
	char subj[128];

	if (json_is_null(w)) {
		if (!json_is_null(h))
			differ(false, "sched_ext events (the guest's kernel shows none)", w, h);
		return;
	}
	total = get(h, "total");
	rows = get(h, "per_cpu");
	if (!json_is_object(total) || !json_is_array(rows)) {
		differ(false, "sched_ext events (host: total and per_cpu)", w, h);
		return;
	}
	json_object_foreach(w, name, v)
	{
		snprintf(subj, sizeof(subj), "sched_ext event %s", name);
		expect_equal(false, subj, v, get(total, name));
	}
	json_object_foreach(total, name, v)
	{
		if (!get(w, name)) {
			snprintf(subj, sizeof(subj),
				 "sched_ext event %s (not in the guest's sysfs)", name);
			differ(false, subj, NULL, v);
		}
	}
	if (check_event_rows(total, rows, nr_cpus))
		check_event_sums(total, rows);
}

/*
 * sched_ext's enable state by name: the guest reads sysfs ("enabled"), the
 * host may name the kernel's enum (SCX_ENABLED, SCX_OPS_ENABLED).
 */
static void scx_state_name(const char *s, char *buf, size_t size)
{
	size_t i;

	if (!strncasecmp(s, "scx_ops_", 8))
		s += 8;
	else if (!strncasecmp(s, "scx_", 4))
		s += 4;
	for (i = 0; s[i] && i + 1 < size; i++)
		buf[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
	buf[i] = 0;
}

/*
 * Why the scheduler exited: the guest's uei (the scheduler's own copy, read
 * by map lookup; absent from an older agent) against the host's exit record
 * (the kernel's, or the same uei read from RAM). A scheduler that has not
 * exited (kind 0) must show no exit kind on the host either; one that has
 * must show the same kind, exit code, reason and exact message, and the
 * message must be the one the kernel logged ("sched_ext: NAME: MSG").
 */
static void cmp_scx_exit(json_t *want, json_t *got)
{
	json_t *uei = get(want, "uei"), *exit = get(got, "exit"), *log = get(want, "kmsg_msg");
	const char *m, *l;
	size_t ml, ll;

	if (!json_is_object(uei))
		return;
	if (!json_integer_value(get(uei, "kind"))) {
		if (json_is_object(exit) && json_integer_value(get(exit, "kind")))
			differ(false, "sched_ext exit (the scheduler has not exited)", uei, exit);
		return;
	}
	if (!json_is_object(exit)) {
		differ(false, "sched_ext exit (host: none)", uei, exit);
		return;
	}
	expect_equal(false, "sched_ext exit kind", get(uei, "kind"), get(exit, "kind"));
	expect_equal(false, "sched_ext exit code", get(uei, "exit_code"), get(exit, "exit_code"));
	expect_equal(false, "sched_ext exit reason", get(uei, "reason"), get(exit, "reason"));
	expect_equal(false, "sched_ext exit message", get(uei, "msg"), get(exit, "msg"));
	m = json_string_value(get(exit, "msg"));
	l = json_string_value(log);
	if (m && l && m[0]) {
		ml = strlen(m);
		ll = strlen(l);
		if (ll < ml + 2 || strcmp(l + ll - ml, m) || strncmp(l + ll - ml - 2, ": ", 2))
			differ(false, "sched_ext exit message (the kernel log's)", log,
			       get(exit, "msg"));
	}
}

void cmp_sched_ext(json_t *truth, json_t *host)
{
	json_t *want = get(truth, "sched_ext"), *got = get(host, "sched_ext"), *map_id;
	const char *ws, *gs;
	char a[64], b[64];

	if (!got || json_is_null(want) != json_is_null(got) ||
	    !(json_is_null(got) || json_is_object(got))) {
		differ(false, "sched_ext", want, got);
		return;
	}
	if (json_is_null(want))
		return;
	expect_equal(false, "sched_ext root ops (host: ops_name)", get(want, "root_ops"),
		     get(got, "ops_name"));
	/* the scheduler's struct_ops map: one the guest has attached, or none without one */
	map_id = get(got, "map_id");
	if (json_is_null(get(want, "root_ops"))
		    ? !json_is_null(map_id)
		    : !json_is_integer(map_id) || !find_int(get(get(truth, "active"), "instances"),
							    json_integer_value(map_id)))
		differ(false, "sched_ext map_id (the attached instance, or null)",
		       get(get(truth, "active"), "instances"), map_id);
	ws = json_string_value(get(want, "state"));
	gs = json_string_value(get(got, "enable_state"));
	if (gs) {
		scx_state_name(ws, a, sizeof(a));
		scx_state_name(gs, b, sizeof(b));
	}
	if (!gs || strcmp(a, b))
		differ(false, "sched_ext state (host: enable_state)", get(want, "state"),
		       get(got, "enable_state"));
	cmp_scx_values(want, got);
	cmp_scx_events(want, got, get(truth, "nr_cpus"));
	cmp_scx_exit(want, got);
}
