/* SPDX-License-Identifier: MIT */
/*
 * vm.snapshot: rounds of freeze, walk, thaw.
 *
 * A VM runs one round at a time, and every snapshot request that arrives
 * while a round can still serve it joins that round, so concurrent requests
 * share one walk: while the VMM is being asked to freeze, any request that
 * allows a freeze joins; while the walk runs, a request joins unless it
 * requires a freeze the round did not get. The others wait for the next
 * round, which starts when this one ends.
 *
 * Freeze: a vm.freeze request on the registering VMM's own connection, with
 * the freeze timeout. When the VMM cannot freeze (it said so at registration,
 * it is gone, it answers with an error, or the timeout passes) the round's
 * require-requests get a freeze_timeout error and the prefer-requests a live
 * walk marked frozen=false. A VMM that answers "frozen" after the timeout is
 * thawed at once. After a successful freeze vm.thaw always follows, when the
 * walk fails or every asker has gone too.
 *
 * The walk runs in the thread pool (ktbpf_progs_walk() on the VM's own
 * snapshot, which one round at a time uses); the answer is built on the loop
 * thread from the snapshot's plain C structs by rpc/'s codec.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ktbpf/codec-vars.h"
#include "ktbpf/codec.h"
#include "ktbpf/dump.h"
#include "daemon-internal.h"

/* Walks retried at once when the guest changed under them (a running guest only). */
#define TORN_RETRIES 2

static void round_start(struct vm *vm);

static int waiters_push(struct waiters *w, struct ktbpf_peer_req *req, enum freeze_mode mode,
			snapshot_cb cb, void *ud, json_t *dump, bool vars)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 4;
		struct waiter *v = realloc(w->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		w->v = v;
		w->cap = cap;
	}
	w->v[w->n++] = (struct waiter){req, mode, cb, ud, dump, vars || dump};
	return 0;
}

static bool can_freeze(const struct vm *vm)
{
	return vm->can_freeze && vm->owner && !vm->owner->closing;
}

static void on_thaw_reply(void *userdata, json_t *result, json_t *error)
{
	struct vm *vm = userdata;

	if (error)
		fprintf(stderr, "ktbpfd: vm '%s' (%s): vm.thaw failed: %s\n", vm->name, vm->id,
			json_string_value(json_object_get(error, "message")));
	vm->d->frozen_vms--;
	vm_unref(vm);
}

/* Ask the VMM to thaw (it was frozen by us); a gone VMM's vCPUs are nobody's to thaw. */
static void thaw(struct vm *vm)
{
	struct ktbpf_err err = {0};

	if (!vm->owner || vm->owner->closing) {
		vm->d->frozen_vms--;
		return;
	}
	vm_ref(vm);
	if (ktbpf_peer_call(vm->owner->peer, "vm.thaw", json_pack("{s:s}", "vm", vm->id), NULL, 0,
			    on_thaw_reply, vm, NULL, &err) < 0) {
		fprintf(stderr, "ktbpfd: vm '%s' (%s): cannot send vm.thaw: %s\n", vm->name, vm->id,
			err.msg);
		vm->d->frozen_vms--;
		vm_unref(vm);
	}
}

static void answer_error(struct waiters *w, size_t i, int code, json_t *data, const char *msg)
{
	if (w->v[i].cb) {
		snapshot_cb cb = w->v[i].cb;

		w->v[i].cb = NULL;
		json_decref(data);
		cb(w->v[i].ud, list_entry(w, struct vm, cur), NULL);
		return;
	}
	ktbpf_peer_req_error(w->v[i].req, code, data, "%s", msg);
	w->v[i].req = NULL;
	json_decref(w->v[i].dump);
	w->v[i].dump = NULL;
}

/* vm.dump's waiter: the walk's result becomes a stored dump, answered with its DumpInfo. */
static void answer_dump(struct vm *vm, struct waiter *wt, json_t *result)
{
	struct timespec ts;
	struct tm tm;
	char when[48];
	json_t *doc;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%06ldZ", ts.tv_nsec / 1000);
	doc = json_pack("{s:s, s:i, s:s, s:s, s:o, s:I, s:s, s:I, s:O?, s:O?, s:b, s:{s:s, s:b, "
			"s:s?}, s:b, s:O}",
			"schema", KTBPF_DUMP_SCHEMA, "version", KTBPF_DUMP_VERSION, "vm", vm->name,
			"vm_id", vm->id, "labels",
			vm->labels ? json_incref(vm->labels) : json_object(), "uid",
			(json_int_t)vm->uid, "time", when, "time_unix_ns",
			(json_int_t)ts.tv_sec * 1000000000 + ts.tv_nsec, "reason",
			json_object_get(wt->dump, "reason"), "test",
			json_object_get(wt->dump, "test"), "frozen", vm->frozen, "freeze", "mode",
			wt->mode == FREEZE_REQUIRE  ? "require"
			: wt->mode == FREEZE_PREFER ? "prefer"
						    : "never",
			"frozen", vm->frozen, "why", vm->frozen ? NULL : vm->freeze_why, "detached",
			vm->owner == NULL, "snapshot", result);
	if (doc)
		dumps_write(vm->d, vm, doc, wt->req);
	else
		ktbpf_peer_req_error(wt->req, KTBPF_JSONRPC_INTERNAL_ERROR, NULL,
				     "vm '%s': dump not stored: out of memory", vm->name);
	wt->req = NULL;
	json_decref(wt->dump);
	wt->dump = NULL;
}

static void round_end(struct vm *vm)
{
	struct waiters next = vm->next;

	vm->round = ROUND_IDLE;
	vm->cur.n = 0;
	vm->frozen = false;
	vm->freeze_ns = 0;
	vm->freeze_why[0] = '\0';
	if (vm->reset_pending)
		vm_reset(vm, vm->reset_why[0] ? vm->reset_why : NULL);
	if (!next.n)
		return;
	/* The waiting requests start the next round (swap the arrays: no allocation). */
	vm->next = vm->cur;
	vm->cur = next;
	round_start(vm);
}

static void walk_work(uv_work_t *w)
{
	struct vm *vm = w->data;
	struct timespec ts;

	for (int i = 0;; i++) {
		ktbpf_err_clear(&vm->walk_err);
		vm->walk_r = ktbpf_progs_walk(vm->kernel, vm->snap, &vm->walk_err);
		if (vm->walk_r == 0 && vm->snap->torn && i < TORN_RETRIES)
			continue;
		if (ktbpf_err_class(vm->walk_r) != KTBPF_ERR_INCONSISTENT || i >= TORN_RETRIES)
			break;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	vm->walk_end_unix_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	/* sched_ext's exit from the scheduler's uei once the kernel freed its record
	 * (a failure is in the snapshot's diagnostics) */
	if (vm->walk_r == 0) {
		struct ktbpf_err e = {0};

		ktbpf_scx_uei_read(vm->kernel, vm->snap, &e);
		ktbpf_scx_exit_symbolize(vm->kernel, vm->snap);
	}
	/* Is this still the running kernel? (a few reads; the loop acts in walk_done) */
	kernel_check_read(vm->kernel, &vm->walk_check);
	/*
	 * The active object's variables (else the scheduler's that sched_ext
	 * ejected), for the askers who want them (a failure is in "vars").
	 */
	vm->vars = ktbpf_vars_free(vm->vars);
	if (vm->walk_r == 0 && vm->want_vars) {
		ktbpf_err_clear(&vm->vars_err);
		struct ktbpf_vars_query q = {.obj = ktbpf_snapshot_dump_object(vm->snap)};

		vm->vars_r = ktbpf_vars_read(vm->kernel, vm->snap, &q, &vm->vars, &vm->vars_err);
	}
}

/*
 * The answer as text (NULL: out of memory), written straight from the
 * snapshot's structs: no tree is built, written and freed per answer.
 */
static char *walk_result(struct vm *vm, size_t *ret_len)
{
	struct ktbpf_json_writer w = {0};

	ktbpf_codec_snapshot_write(&w, vm->snap, ktbpf_kernel_info(vm->kernel));
	ktbpf_json_w_key(&w, "frozen");
	ktbpf_json_w_bool(&w, vm->frozen);
	ktbpf_json_w_key(&w, "freeze_ns");
	ktbpf_json_w_int(&w, (json_int_t)vm->freeze_ns);
	/* When the walk ended, so that two snapshots give rates (ktbpfctl diff). */
	ktbpf_json_w_key(&w, "time_unix_ns");
	ktbpf_json_w_int(&w, (json_int_t)vm->walk_end_unix_ns);
	if (vm->want_vars) {
		json_t *vars = ktbpf_codec_vars_result(vm->vars, vm->vars_r, &vm->vars_err);

		ktbpf_json_w_key(&w, "vars");
		ktbpf_json_w_value(&w, vars);
		json_decref(vars);
	}
	ktbpf_json_w_end_object(&w);
	vm->vars = ktbpf_vars_free(vm->vars);
	return ktbpf_json_w_finish(&w, ret_len);
}

static void walk_done(uv_work_t *w, int status)
{
	struct vm *vm = w->data;
	struct daemon *d = vm->d;
	enum ktbpf_err_class cls = ktbpf_err_class(vm->walk_r);
	json_t *tree = NULL, *data = NULL;
	char msg[KTBPF_ERR_MSG_MAX + 64] = "out of memory for a snapshot answer";
	char *result = NULL;
	size_t len = 0;

	d->works--;
	if (vm->frozen)
		thaw(vm);
	if (status == UV_ECANCELED)
		vm->walk_r = -ECANCELED;
	else
		kernel_check_done(vm, &vm->walk_check);
	if (vm->walk_r == 0) {
		vm->walks++;
		result = walk_result(vm, &len);
	} else {
		snprintf(msg, sizeof(msg), "vm '%s': walk failed: %s", vm->name, vm->walk_err.msg);
		fprintf(stderr, "ktbpfd: %s\n", msg);
		data = json_object();
		if (data && vm->walk_err.has_addr)
			json_object_set_new(data, "addr", ktbpf_codec_hex(vm->walk_err.addr));
		/* Data the kernel's layout cannot explain: the guest may have rebooted. */
		if (cls == KTBPF_ERR_INPUT && !vm->reset_pending) {
			vm->reset_pending = true;
			snprintf(vm->reset_why, sizeof(vm->reset_why),
				 "a walk failed (%s): discovering the kernel again",
				 vm->walk_err.msg);
		}
	}
	for (size_t i = 0; i < vm->cur.n; i++) {
		if (vm->cur.v[i].cb) {
			snapshot_cb cb = vm->cur.v[i].cb;

			vm->cur.v[i].cb = NULL;
			cb(vm->cur.v[i].ud, vm, vm->walk_r == 0 ? vm->snap : NULL);
			continue;
		}
		if (!vm->cur.v[i].req)
			continue;
		/* A dump stores a tree: parsed from the text once, for the first. */
		if (result && vm->cur.v[i].dump && !tree)
			tree = ktbpf_json_decode(result, len, NULL);
		if (tree && vm->cur.v[i].dump)
			answer_dump(vm, &vm->cur.v[i], tree);
		else if (result && !vm->cur.v[i].dump)
			ktbpf_peer_req_result_text(vm->cur.v[i].req, result, len);
		else if (vm->walk_r == -ENOMEM || vm->walk_r == 0)
			answer_error(&vm->cur, i, KTBPF_JSONRPC_INTERNAL_ERROR, NULL, msg);
		else
			answer_error(&vm->cur, i, KTBPF_JSONRPC_GUEST_MEMORY, json_incref(data),
				     msg);
		vm->cur.v[i].req = NULL;
	}
	if (vm->walk_r == 0 && !result)
		fprintf(stderr, "ktbpfd: vm '%s': out of memory for a snapshot answer\n", vm->name);
	free(result);
	json_decref(tree);
	json_decref(data);
	round_end(vm);
	vm_unref(vm);
}

static void walk_start(struct vm *vm)
{
	if (!vm->kernel) {
		/* A reset between rounds: the waiting requests find no kernel yet. */
		for (size_t i = 0; i < vm->cur.n; i++)
			if (vm->cur.v[i].req || vm->cur.v[i].cb)
				answer_error(&vm->cur, i, KTBPF_JSONRPC_KERNEL_NOT_READY,
					     json_pack("{s:b, s:s}", "retry", true, "reason",
						       vm->reason),
					     "kernel not discovered yet (the VM was reset)");
		if (vm->frozen)
			thaw(vm);
		round_end(vm);
		return;
	}
	vm->round = ROUND_WALKING;
	vm->want_vars = false;
	for (size_t i = 0; i < vm->cur.n; i++)
		vm->want_vars |= vm->cur.v[i].req && vm->cur.v[i].vars;
	vm->walk_work.data = vm;
	vm_ref(vm);
	vm->d->works++;
	uv_queue_work(vm->d->loop, &vm->walk_work, walk_work, walk_done);
}

/* The freeze is over (frozen or not): answer who needs it and walk for the rest. */
static void freeze_settled(struct vm *vm, bool frozen, const char *why)
{
	size_t live = 0;

	uv_timer_stop(&vm->freeze_timer);
	vm->frozen = frozen;
	snprintf(vm->freeze_why, sizeof(vm->freeze_why), "%s", frozen ? "" : why ? why : "");
	if (frozen) {
		vm->freeze_ns = now_ns() - vm->freeze_t0;
		vm->d->frozen_vms++;
	}
	for (size_t i = 0; i < vm->cur.n; i++) {
		if (!frozen && vm->cur.v[i].mode == FREEZE_REQUIRE) {
			char msg[256];

			snprintf(msg, sizeof(msg), "vm '%s': not frozen (freeze=require): %s",
				 vm->name, why);
			answer_error(&vm->cur, i, KTBPF_JSONRPC_FREEZE_TIMEOUT,
				     json_pack("{s:I}", "timeout_ms",
					       (json_int_t)vm->d->set.freeze_timeout_ms),
				     msg);
			continue;
		}
		live++;
	}
	if (!live && !frozen) {
		round_end(vm);
		return;
	}
	walk_start(vm);
}

static void on_freeze_reply(void *userdata, json_t *result, json_t *error)
{
	struct freeze_call *fc = userdata;
	struct vm *vm = fc->vm;
	bool frozen = result && json_is_true(json_object_get(result, "frozen"));

	if (!fc->abandoned) {
		vm->fc = NULL;
		if (frozen)
			freeze_settled(vm, true, NULL);
		else
			freeze_settled(vm, false,
				       error ? json_string_value(json_object_get(error, "message"))
					     : "the VMM answered frozen=false");
	} else if (frozen) {
		/* It froze after we stopped waiting: thaw it now. */
		vm->d->frozen_vms++;
		thaw(vm);
	}
	vm_unref(vm);
	free(fc);
}

static void on_freeze_timeout(uv_timer_t *t)
{
	struct vm *vm = t->data;
	char why[96];

	if (!vm->fc)
		return;
	vm->fc->abandoned = true;
	vm->fc = NULL;
	snprintf(why, sizeof(why), "the VMM did not answer vm.freeze within %llu ms",
		 (unsigned long long)vm->d->set.freeze_timeout_ms);
	fprintf(stderr, "ktbpfd: vm '%s' (%s): %s\n", vm->name, vm->id, why);
	freeze_settled(vm, false, why);
}

static enum freeze_mode round_mode(const struct waiters *w)
{
	enum freeze_mode m = FREEZE_NEVER;

	for (size_t i = 0; i < w->n; i++)
		if (w->v[i].mode > m)
			m = w->v[i].mode;
	return m;
}

static void round_start(struct vm *vm)
{
	struct ktbpf_err err = {0};
	struct freeze_call *fc;

	vm->round_mode = round_mode(&vm->cur);
	vm->round = ROUND_FREEZING;
	vm->freeze_t0 = now_ns();
	if (vm->round_mode == FREEZE_NEVER) {
		snprintf(vm->freeze_why, sizeof(vm->freeze_why),
			 "no freeze was asked (freeze=never)");
		walk_start(vm);
		return;
	}
	if (!can_freeze(vm)) {
		freeze_settled(vm, false,
			       vm->owner ? "its VMM cannot freeze (can_freeze false)"
					 : "its VMM is gone (detached)");
		return;
	}
	fc = calloc(1, sizeof(*fc));
	if (!fc) {
		freeze_settled(vm, false, "out of memory");
		return;
	}
	fc->vm = vm_ref(vm);
	vm->fc = fc;
	uv_timer_start(&vm->freeze_timer, on_freeze_timeout, vm->d->set.freeze_timeout_ms, 0);
	if (ktbpf_peer_call(vm->owner->peer, "vm.freeze",
			    json_pack("{s:s, s:I}", "vm", vm->id, "timeout_ms",
				      (json_int_t)vm->d->set.freeze_timeout_ms),
			    NULL, 0, on_freeze_reply, fc, NULL, &err) < 0) {
		vm->fc = NULL;
		vm_unref(vm);
		free(fc);
		freeze_settled(vm, false, err.msg);
	}
}

static bool joins(const struct vm *vm, enum freeze_mode mode)
{
	if (vm->round == ROUND_FREEZING)
		return mode != FREEZE_NEVER || vm->round_mode == FREEZE_NEVER;
	return vm->frozen || mode != FREEZE_REQUIRE;
}

static void request(struct vm *vm, struct ktbpf_peer_req *req, enum freeze_mode mode, json_t *dump,
		    bool vars)
{
	struct waiters *w = vm->round == ROUND_IDLE ? &vm->cur
			    : joins(vm, mode)	    ? &vm->cur
						    : &vm->next;

	if (waiters_push(w, req, mode, NULL, NULL, dump, vars) < 0) {
		json_decref(dump);
		ktbpf_peer_req_error(req, KTBPF_JSONRPC_INTERNAL_ERROR, NULL, "out of memory");
		return;
	}
	if (vm->round == ROUND_IDLE)
		round_start(vm);
}

void vm_dump_request(struct vm *vm, struct ktbpf_peer_req *req, enum freeze_mode mode, json_t *dump)
{
	request(vm, req, mode, dump, true);
}

void vm_snapshot_request(struct vm *vm, struct ktbpf_peer_req *req, enum freeze_mode mode,
			 bool vars)
{
	request(vm, req, mode, NULL, vars);
}

int vm_snapshot_internal(struct vm *vm, enum freeze_mode mode, snapshot_cb cb, void *ud)
{
	struct waiters *w = vm->round == ROUND_IDLE ? &vm->cur
			    : joins(vm, mode)	    ? &vm->cur
						    : &vm->next;

	if (waiters_push(w, NULL, mode, cb, ud, NULL, false) < 0)
		return -ENOMEM;
	if (vm->round == ROUND_IDLE)
		round_start(vm);
	return 0;
}
