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

/* Has s a control character to replace? */
static bool has_controls(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f || is_c1(p))
			return true;
	return false;
}

/* A copy of s with its controls as '?' and, with high, every byte >= 0x80 too. */
static char *scrub(const char *s, bool high)
{
	unsigned char *copy = (unsigned char *)strdup(s);

	for (size_t i = 0; copy && copy[i]; i++) {
		if (high && copy[i] >= 0x80) {
			copy[i] = '?';
		} else if (is_c1(copy + i)) {
			copy[i] = copy[i + 1] = '?';
			i++;
		} else if ((copy[i] < 0x20 && copy[i] != '\n' && copy[i] != '\t') ||
			   copy[i] == 0x7f) {
			copy[i] = '?';
		}
	}
	return (char *)copy;
}

json_t *ktbpf_codec_text(const char *s)
{
	json_t *j = NULL;
	char *copy;

	if (!s)
		return NULL;
	if (!has_controls(s) && (j = json_string(s)))
		return j;
	copy = scrub(s, false);
	j = copy ? json_string(copy) : NULL;
	free(copy);
	if (j || !copy)
		return j;
	/* Not UTF-8: no byte above ASCII then. */
	copy = scrub(s, true);
	j = copy ? json_string(copy) : NULL;
	free(copy);
	return j;
}

/*
 * The w_* writers put key (NULL: none, an array's element) and a value.
 * w_text: ktbpf_codec_text()'s string (NULL s fails the writer).
 */
static void w_text(struct ktbpf_json_writer *w, const char *key, const char *s)
{
	char *copy;

	if (key)
		ktbpf_json_w_key(w, key);
	if (!s) {
		w->failed = true;
		return;
	}
	if (!has_controls(s) && ktbpf_json_w_try_string(w, s, strlen(s)))
		return;
	copy = scrub(s, false);
	if (copy && !ktbpf_json_w_try_string(w, copy, strlen(copy))) {
		free(copy);
		copy = scrub(s, true);
		if (copy)
			ktbpf_json_w_string(w, copy, strlen(copy));
	}
	if (!copy)
		w->failed = true;
	free(copy);
}

/* A string, or null when empty. */
static void w_text_or_null(struct ktbpf_json_writer *w, const char *key, const char *t)
{
	if (t[0]) {
		w_text(w, key, t);
		return;
	}
	ktbpf_json_w_key(w, key);
	ktbpf_json_w_null(w);
}

static void w_hex(struct ktbpf_json_writer *w, const char *key, uint64_t v)
{
	char buf[19];
	int n = snprintf(buf, sizeof(buf), "0x%" PRIx64, v);

	ktbpf_json_w_key(w, key);
	ktbpf_json_w_string(w, buf, (size_t)n);
}

static void w_count(struct ktbpf_json_writer *w, const char *key, uint64_t v)
{
	if (key)
		ktbpf_json_w_key(w, key);
	ktbpf_json_w_int(w, v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

/* One of our names (ASCII). */
static void w_str(struct ktbpf_json_writer *w, const char *key, const char *s)
{
	ktbpf_json_w_key(w, key);
	ktbpf_json_w_string(w, s, strlen(s));
}

static void w_bool(struct ktbpf_json_writer *w, const char *key, bool b)
{
	ktbpf_json_w_key(w, key);
	ktbpf_json_w_bool(w, b);
}

/* The writer's text as a jansson value (consumed). */
static json_t *decoded(struct ktbpf_json_writer *w)
{
	size_t len;
	char *text = ktbpf_json_w_finish(w, &len);
	json_t *j = text ? ktbpf_json_decode(text, len, NULL) : NULL;

	free(text);
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

static void w_kernel(struct ktbpf_json_writer *w, const struct ktbpf_kernel_info *ki)
{
	ktbpf_json_w_object(w);
	w_text(w, "release", ki->release);
	w_str(w, "arch", ktbpf_arch_name(ki->arch));
	w_hex(w, "kaslr_offset", ki->kaslr_offset);
	w_hex(w, "phys_base", ki->phys_base);
	w_hex(w, "page_offset", ki->page_offset);
	ktbpf_json_w_key(w, "pgtable_levels");
	ktbpf_json_w_int(w, ki->pgtable_levels ? (int)ki->pgtable_levels : ki->l5 ? 5 : 4);
	w_count(w, "nr_cpu_ids", ki->nr_cpu_ids);
	w_count(w, "possible_cpus", ki->nr_possible_cpus);
	w_str(w, "percpu_scheme", ktbpf_percpu_scheme_name(ki->percpu_scheme));
	w_str(w, "symbols_source", ktbpf_source_name(ki->symbols_source));
	w_count(w, "symbols", ki->nr_symbols);
	w_str(w, "btf_source", ktbpf_source_name(ki->btf_source));
	w_count(w, "btf_size", ki->btf_size);
	w_count(w, "discover_ns", ki->discover_ns);
	ktbpf_json_w_end_object(w);
}

json_t *ktbpf_codec_kernel(const struct ktbpf_kernel_info *ki)
{
	struct ktbpf_json_writer w = {0};

	w_kernel(&w, ki);
	return decoded(&w);
}

/*
 * The per-program objects are the bulk of a snapshot: written straight to
 * text (a jansson tree per program, then its text, then freeing it, was most
 * of the daemon's time per vm.snapshot).
 */
static void w_prog(struct ktbpf_json_writer *w, const struct ktbpf_prog *p)
{
	ktbpf_json_w_object(w);
	w_count(w, "id", p->id);
	w_text(w, "name", p->name);
	w_text(w, "interface", p->iface);
	w_text(w, "member", p->member);
	w_count(w, "verified_insns", p->verified_insns);
	w_count(w, "run_cnt", p->cnt);
	w_count(w, "run_time_ns", p->nsecs);
	w_count(w, "recursion_misses", p->misses);
	w_bool(w, "stats_complete", p->stats_valid);
	ktbpf_json_w_end_object(w);
}

static void w_instance(struct ktbpf_json_writer *w, const struct ktbpf_st_instance *in)
{
	ktbpf_json_w_object(w);
	w_count(w, "map_id", in->map_id);
	w_text(w, "name", in->name);
	w_text_or_null(w, "interface", in->iface);
	w_str(w, "state", ktbpf_st_state_name(in->state));
	w_text_or_null(w, "object", in->obj_name);
	ktbpf_json_w_key(w, "members");
	ktbpf_json_w_array(w);
	for (uint32_t i = 0; !w->failed && i < in->nr_members; i++) {
		ktbpf_json_w_object(w);
		w_text(w, "member", in->members[i].member);
		w_count(w, "prog_id", in->members[i].prog_id);
		ktbpf_json_w_end_object(w);
	}
	ktbpf_json_w_end_array(w);
	w_bool(w, "linked", in->linked);
	ktbpf_json_w_end_object(w);
}

static const char *active_source(enum ktbpf_active_source src)
{
	return src == KTBPF_ACTIVE_SCHED_EXT ? "sched_ext"
	       : src == KTBPF_ACTIVE_INUSE   ? "inuse"
					     : "none";
}

static void w_active(struct ktbpf_json_writer *w, const struct ktbpf_active *a)
{
	ktbpf_json_w_object(w);
	w_bool(w, "attached", a->attached);
	ktbpf_json_w_key(w, "instances");
	ktbpf_json_w_array(w);
	for (uint32_t i = 0; !w->failed && i < a->nr_instances; i++)
		w_count(w, NULL, a->map_ids[i]);
	ktbpf_json_w_end_array(w);
	ktbpf_json_w_key(w, "map_id");
	if (a->map_id)
		w_count(w, NULL, a->map_id);
	else
		ktbpf_json_w_null(w);
	w_text_or_null(w, "obj_name", a->obj_name);
	w_text_or_null(w, "interface", a->iface);
	w_str(w, "source", active_source(a->source));
	w_text_or_null(w, "reason", a->reason);
	ktbpf_json_w_end_object(w);
}

/* A string, or null when empty. */
static json_t *json_text_or_null(const char *t)
{
	return t[0] ? ktbpf_codec_text(t) : json_null();
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

static void w_diag(struct ktbpf_json_writer *w, const struct ktbpf_diag *d)
{
	ktbpf_json_w_object(w);
	w_count(w, "prog_id", d->prog_id);
	w_str(w, "code", ktbpf_codec_errno_name(d->code));
	w_hex(w, "addr", d->addr);
	w_text(w, "message", d->msg);
	ktbpf_json_w_end_object(w);
}

void ktbpf_codec_snapshot_write(struct ktbpf_json_writer *w, const struct ktbpf_snapshot *s,
				const struct ktbpf_kernel_info *ki)
{
	json_t *scx;
	size_t i;

	ktbpf_json_w_object(w);
	ktbpf_json_w_key(w, "kernel");
	w_kernel(w, ki);
	ktbpf_json_w_key(w, "stats_enabled");
	if (s->stats == KTBPF_STATS_UNKNOWN)
		ktbpf_json_w_null(w);
	else
		ktbpf_json_w_bool(w, s->stats == KTBPF_STATS_ENABLED);
	/* An element that cannot be written fails the document: never a partial list. */
	ktbpf_json_w_key(w, "progs");
	ktbpf_json_w_array(w);
	for (i = 0; !w->failed && i < s->nr_progs; i++)
		w_prog(w, &s->progs[i]);
	ktbpf_json_w_end_array(w);
	ktbpf_json_w_key(w, "struct_ops");
	ktbpf_json_w_array(w);
	for (i = 0; !w->failed && i < s->nr_instances; i++)
		w_instance(w, &s->instances[i]);
	ktbpf_json_w_end_array(w);
	ktbpf_json_w_key(w, "active");
	w_active(w, &s->active);
	/*
	 * sched_ext's part stays a jansson tree: its event names come from the
	 * guest's BTF, and an object keeps one of two equal names as jansson does.
	 */
	ktbpf_json_w_key(w, "sched_ext");
	scx = json_scx(&s->scx);
	ktbpf_json_w_value(w, scx);
	json_decref(scx);
	w_bool(w, "torn", s->torn);
	w_bool(w, "capped", s->capped);
	ktbpf_json_w_key(w, "skipped");
	ktbpf_json_w_int(w, (json_int_t)s->nr_skipped);
	ktbpf_json_w_key(w, "diagnostics");
	ktbpf_json_w_array(w);
	for (i = 0; !w->failed && i < s->nr_diags; i++)
		w_diag(w, &s->diags[i]);
	ktbpf_json_w_end_array(w);
	w_count(w, "walk_ns", s->walk_ns);
	if (s->diags_dropped) {
		w_count(w, "diagnostics_dropped", s->diags_dropped);
	}
	if (s->over_budget) {
		w_bool(w, "over_budget", true);
	}
}

json_t *ktbpf_codec_snapshot(const struct ktbpf_snapshot *s, const struct ktbpf_kernel_info *ki)
{
	struct ktbpf_json_writer w = {0};

	ktbpf_codec_snapshot_write(&w, s, ki);
	ktbpf_json_w_end_object(&w);
	return decoded(&w);
}
