/* SPDX-License-Identifier: MIT */
/*
 * The one codec from the library's results to JSON: ktbpfctl inspect --json,
 * ktbpfd's vm.snapshot and the client library all write these shapes
 * (rpc/openrpc.json's Kernel, Prog, Instance, Active, SchedExt, Diagnostic
 * and Snapshot schemas).
 *
 * Conventions (the real-guest test compares against them): counters are
 * JSON integers, clamped to INT64_MAX (jansson integers are signed 64-bit; a
 * counter that large is a saturated sum anyway); every address, kva or
 * offset (kaslr_offset, phys_base, page_offset, diagnostics' addr) is a hex
 * string "0x..." so that kernel addresses above 2^63 survive every JSON
 * reader.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktbpf/codec.h"

/*
 * A JSON string for text that came from guest memory (names, the release,
 * messages quoting them). jansson refuses invalid UTF-8, and a refused string
 * must not make a program vanish from the output, so such bytes become '?'.
 * Control characters other than newline and tab (C0, DEL, and C1 encoded as
 * U+0080..U+009F) become '?' too: ktbpfctl prints these strings on a
 * terminal, where a hostile guest's ESC or CSI would be a command to it.
 */
static bool is_c1(const unsigned char *p)
{
	return p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;
}

json_t *ktbpf_codec_text(const char *s)
{
	const unsigned char *p;
	json_t *j = NULL;
	unsigned char *copy;
	size_t i;

	if (!s)
		return NULL;
	for (p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f || is_c1(p))
			break;
	if (!*p && (j = json_string(s)))
		return j;
	copy = (unsigned char *)strdup(s);
	if (!copy)
		return NULL;
	for (i = 0; copy[i]; i++) {
		if (is_c1(copy + i)) {
			copy[i] = copy[i + 1] = '?';
			i++;
		} else if ((copy[i] < 0x20 && copy[i] != '\n' && copy[i] != '\t') ||
			   copy[i] == 0x7f) {
			copy[i] = '?';
		}
	}
	j = json_string((char *)copy);
	if (!j) {
		for (i = 0; copy[i]; i++)
			if (copy[i] >= 0x80)
				copy[i] = '?';
		j = json_string((char *)copy);
	}
	free(copy);
	return j;
}

const char *ktbpf_codec_errno_name(int code)
{
	const char *n = strerrorname_np(code < 0 ? -code : code);

	return n ? n : "EIO";
}

json_t *ktbpf_codec_hex(uint64_t v)
{
	char buf[19];

	snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
	return json_string(buf);
}

json_t *ktbpf_codec_count(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

json_t *ktbpf_codec_kernel(const struct ktbpf_kernel_info *ki)
{
	return json_pack(
		"{s:o, s:s, s:o, s:o, s:o, s:i, s:o, s:o, s:s, s:s, s:o, s:s, s:o, s:o}", "release",
		ktbpf_codec_text(ki->release), "arch", ktbpf_arch_name(ki->arch), "kaslr_offset",
		ktbpf_codec_hex(ki->kaslr_offset), "phys_base", ktbpf_codec_hex(ki->phys_base),
		"page_offset", ktbpf_codec_hex(ki->page_offset), "pgtable_levels",
		ki->pgtable_levels ? (int)ki->pgtable_levels
		: ki->l5	   ? 5
				   : 4,
		"nr_cpu_ids", ktbpf_codec_count(ki->nr_cpu_ids), "possible_cpus",
		ktbpf_codec_count(ki->nr_possible_cpus), "percpu_scheme",
		ktbpf_percpu_scheme_name(ki->percpu_scheme), "symbols_source",
		ktbpf_source_name(ki->symbols_source), "symbols", ktbpf_codec_count(ki->nr_symbols),
		"btf_source", ktbpf_source_name(ki->btf_source), "btf_size",
		ktbpf_codec_count(ki->btf_size), "discover_ns", ktbpf_codec_count(ki->discover_ns));
}

/*
 * o[key] = v (stolen; our keys are ASCII, no check needed); NULL o or v fails
 * the object, like json_pack()'s "o" does. For the per-program objects, the
 * bulk of a snapshot: json_pack() parses its format for every one of them,
 * a third of the daemon's time per vm.snapshot.
 */
static json_t *set(json_t *o, const char *key, json_t *v)
{
	if (o && v && json_object_set_new_nocheck(o, key, v) == 0)
		return o;
	json_decref(o);
	json_decref(v);
	return NULL;
}

static json_t *json_prog(const struct ktbpf_prog *p)
{
	json_t *o = json_object();

	o = set(o, "id", ktbpf_codec_count(p->id));
	o = set(o, "name", ktbpf_codec_text(p->name));
	o = set(o, "interface", ktbpf_codec_text(p->iface));
	o = set(o, "member", ktbpf_codec_text(p->member));
	o = set(o, "verified_insns", ktbpf_codec_count(p->verified_insns));
	o = set(o, "run_cnt", ktbpf_codec_count(p->cnt));
	o = set(o, "run_time_ns", ktbpf_codec_count(p->nsecs));
	o = set(o, "recursion_misses", ktbpf_codec_count(p->misses));
	return set(o, "stats_complete", json_boolean(p->stats_valid));
}

/* A string, or null when empty. */
static json_t *json_text_or_null(const char *t)
{
	return t[0] ? ktbpf_codec_text(t) : json_null();
}

static json_t *json_instance(const struct ktbpf_st_instance *in)
{
	json_t *members = json_array();
	uint32_t i;

	for (i = 0; members && i < in->nr_members; i++)
		if (json_array_append_new(
			    members, json_pack("{s:o, s:o}", "member",
					       ktbpf_codec_text(in->members[i].member), "prog_id",
					       ktbpf_codec_count(in->members[i].prog_id))) < 0)
			members = (json_decref(members), NULL);
	return json_pack("{s:o, s:o, s:o, s:s, s:o, s:o, s:b}", "map_id",
			 ktbpf_codec_count(in->map_id), "name", ktbpf_codec_text(in->name),
			 "interface", json_text_or_null(in->iface), "state",
			 ktbpf_st_state_name(in->state), "object", json_text_or_null(in->obj_name),
			 "members", members, "linked", in->linked);
}

static const char *active_source(enum ktbpf_active_source src)
{
	return src == KTBPF_ACTIVE_SCHED_EXT ? "sched_ext"
	       : src == KTBPF_ACTIVE_INUSE   ? "inuse"
					     : "none";
}

static json_t *json_active(const struct ktbpf_active *a)
{
	json_t *ids = json_array();
	uint32_t i;

	for (i = 0; ids && i < a->nr_instances; i++)
		if (json_array_append_new(ids, ktbpf_codec_count(a->map_ids[i])) < 0)
			ids = (json_decref(ids), NULL);
	return json_pack(
		"{s:b, s:o, s:o, s:o, s:o, s:s, s:o}", "attached", a->attached, "instances", ids,
		"map_id", a->map_id ? ktbpf_codec_count(a->map_id) : json_null(), "obj_name",
		json_text_or_null(a->obj_name), "interface", json_text_or_null(a->iface), "source",
		active_source(a->source), "reason", json_text_or_null(a->reason));
}

/* A value of struct ktbpf_scx if its bit is in have, else null (not read). */
static json_t *scx_int(const struct ktbpf_scx *x, uint32_t bit, int64_t v)
{
	return x->have & bit ? json_integer((json_int_t)v) : json_null();
}

/* SCX_EV_* totals, and each CPU's row: {"total": {name: n}, "per_cpu": [{"cpu", "counters"}]}. */
static json_t *json_scx_events(const struct ktbpf_scx *x)
{
	json_t *total = json_object(), *rows = json_array();
	uint32_t i, r;

	if (!(x->have & KTBPF_SCX_HAVE_EVENTS))
		return (json_decref(total), json_decref(rows), json_null());
	for (i = 0; total && i < x->nr_events; i++)
		if (json_object_set_new(total, x->events[i].name,
					json_integer((json_int_t)x->events[i].total)) < 0)
			total = (json_decref(total), NULL);
	for (r = 0; rows && r < x->nr_event_cpus; r++) {
		json_t *c = json_object();

		for (i = 0; c && i < x->nr_events; i++)
			if (json_object_set_new(
				    c, x->events[i].name,
				    json_integer(
					    (json_int_t)
						    x->events_cpu[(size_t)r * x->nr_events + i])) <
			    0)
				c = (json_decref(c), NULL);
		if (json_array_append_new(rows, json_pack("{s:o, s:o}", "cpu",
							  ktbpf_codec_count(x->event_cpu_ids[r]),
							  "counters", c)) < 0)
			rows = (json_decref(rows), NULL);
	}
	return json_pack("{s:o, s:o}", "total", total, "per_cpu", rows);
}

static json_t *json_scx_exit(const struct ktbpf_scx_exit *e)
{
	json_t *bt = json_array();
	uint32_t i;

	if (e->source == KTBPF_SCX_EXIT_NONE)
		return (json_decref(bt), json_null());
	for (i = 0; bt && i < e->bt_len; i++) {
		char b[96];

		/* "0xaddr" or "0xaddr func+0x1c" when named */
		snprintf(b, sizeof(b), "0x%" PRIx64 "%s%s", e->bt[i], e->bt_sym[i][0] ? " " : "",
			 e->bt_sym[i]);
		if (json_array_append_new(bt, ktbpf_codec_text(b)) < 0)
			bt = (json_decref(bt), NULL);
	}
	return json_pack("{s:s, s:I, s:o, s:I, s:o, s:o, s:o, s:o}", "source",
			 ktbpf_scx_exit_source_name(e->source), "kind", (json_int_t)e->kind,
			 "kind_name", json_text_or_null(e->kind_name), "exit_code",
			 (json_int_t)e->exit_code, "reason", json_text_or_null(e->reason), "msg",
			 ktbpf_codec_text(e->msg), "backtrace", bt, "dump",
			 e->dump ? ktbpf_codec_text(e->dump) : json_null());
}

static json_t *json_scx(const struct ktbpf_scx *x)
{
	json_t *o;

	if (x->layout == KTBPF_SCX_NONE)
		return json_null();
	o = json_pack("{s:s, s:o, s:o, s:s}", "enable_state", ktbpf_scx_state_name(x->state),
		      "ops_name", json_text_or_null(x->ops_name), "map_id",
		      x->map_id ? ktbpf_codec_count(x->map_id) : json_null(), "layout",
		      x->layout == KTBPF_SCX_ROOT ? "scx_root" : "scx_ops");
	if (o &&
	    json_object_update_new(
		    o,
		    json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			      "ops_flags",
			      x->have & KTBPF_SCX_HAVE_FLAGS ? ktbpf_codec_hex(x->ops_flags)
							     : json_null(),
			      "watchdog_timeout_jiffies",
			      scx_int(x, KTBPF_SCX_HAVE_WATCHDOG_TIMEOUT,
				      (int64_t)x->watchdog_timeout),
			      "watchdog_age_jiffies",
			      scx_int(x, KTBPF_SCX_HAVE_WATCHDOG_AGE, (int64_t)x->watchdog_age),
			      "bypass_depth", scx_int(x, KTBPF_SCX_HAVE_BYPASS, x->bypass_depth),
			      "switched_all",
			      x->have & KTBPF_SCX_HAVE_SWITCHED_ALL ? json_boolean(x->switched_all)
								    : json_null(),
			      "switching_all",
			      x->have & KTBPF_SCX_HAVE_SWITCHING_ALL
				      ? json_boolean(x->switching_all)
				      : json_null(),
			      "nr_rejected", scx_int(x, KTBPF_SCX_HAVE_NR_REJECTED, x->nr_rejected),
			      "enable_seq", scx_int(x, KTBPF_SCX_HAVE_ENABLE_SEQ, x->enable_seq),
			      "hotplug_seq", scx_int(x, KTBPF_SCX_HAVE_HOTPLUG_SEQ, x->hotplug_seq),
			      "exit_kind", scx_int(x, KTBPF_SCX_HAVE_EXIT_KIND, x->exit_kind),
			      "events", json_scx_events(x), "exit", json_scx_exit(&x->exit))) < 0)
		o = (json_decref(o), NULL);
	return o;
}

static json_t *json_diag(const struct ktbpf_diag *d)
{
	return json_pack("{s:o, s:s, s:o, s:o}", "prog_id", ktbpf_codec_count(d->prog_id), "code",
			 ktbpf_codec_errno_name(d->code), "addr", ktbpf_codec_hex(d->addr),
			 "message", ktbpf_codec_text(d->msg));
}

static json_t *json_stats_state(enum ktbpf_stats_state s)
{
	return s == KTBPF_STATS_UNKNOWN ? json_null() : json_boolean(s == KTBPF_STATS_ENABLED);
}

json_t *ktbpf_codec_snapshot(const struct ktbpf_snapshot *s, const struct ktbpf_kernel_info *ki)
{
	json_t *progs = json_array(), *diags = json_array(), *insts = json_array(), *root;
	size_t i;

	/* An element that cannot be built fails the document: never a partial list. */
	for (i = 0; progs && i < s->nr_progs; i++)
		if (json_array_append_new(progs, json_prog(&s->progs[i])) < 0)
			progs = (json_decref(progs), NULL);
	for (i = 0; diags && i < s->nr_diags; i++)
		if (json_array_append_new(diags, json_diag(&s->diags[i])) < 0)
			diags = (json_decref(diags), NULL);
	for (i = 0; insts && i < s->nr_instances; i++)
		if (json_array_append_new(insts, json_instance(&s->instances[i])) < 0)
			insts = (json_decref(insts), NULL);
	root = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:b, s:I, s:o, s:o}", "kernel",
			 ktbpf_codec_kernel(ki), "stats_enabled", json_stats_state(s->stats),
			 "progs", progs, "struct_ops", insts, "active", json_active(&s->active),
			 "sched_ext", json_scx(&s->scx), "torn", s->torn, "capped", s->capped,
			 "skipped", (json_int_t)s->nr_skipped, "diagnostics", diags, "walk_ns",
			 ktbpf_codec_count(s->walk_ns));
	if (root && s->diags_dropped)
		json_object_set_new(root, "diagnostics_dropped",
				    ktbpf_codec_count(s->diags_dropped));
	if (root && s->over_budget)
		json_object_set_new(root, "over_budget", json_true());
	return root;
}
