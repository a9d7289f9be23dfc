/* SPDX-License-Identifier: MIT */
/*
 * VMs: the registry (lookup by id or name, visibility by uid), the kernel
 * discovered in the thread pool as soon as the guest has booted far enough,
 * and detached VMs' retention.
 *
 * A VM registers at boot, before its kernel runs, so discovery first fails
 * with KTBPF_ERR_NOT_READY ("no VMCOREINFO note yet") and is retried with a
 * doubling backoff; torn reads of a booting guest are retried the same way.
 * An error of another class will not change by waiting (no BTF, a file from
 * another kernel, a region fd that shrank): the VM is "failed" with the
 * library's message until vm.reset. The loop thread never reads guest RAM:
 * ktbpf_kernel_discover() runs in a work item that reads only the VM's
 * memory table and hints, which nothing changes while it runs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ktbpf/codec.h"
#include "ktbpf/vars.h"
#include "daemon-internal.h"

struct disc_work {
	uv_work_t work;
	struct vm *vm;			 /* a reference */
	struct ktbpf_kernel_hints hints; /* the VM's, with like: facts to share */
	struct ktbpf_kernel *k;
	struct ktbpf_err err;
	int r;
};

static void on_handle_closed(uv_handle_t *h)
{
	struct vm *vm = h->data;

	if (--vm->handles_open)
		return;
	free(vm->cur.v);
	free(vm->next.v);
	free(vm);
}

struct vm *vm_new(struct daemon *d)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	if (!vm)
		return NULL;
	vm->d = d;
	vm->refs = 1;
	vm->mem = ktbpf_mem_new();
	vm->snap = ktbpf_snapshot_new();
	if (!vm->mem || !vm->snap) {
		ktbpf_mem_free(vm->mem);
		ktbpf_snapshot_free(vm->snap);
		free(vm);
		return NULL;
	}
	for (int i = 0; i < 3; i++)
		vm->files[i].fd = -1;
	uv_timer_init(d->loop, &vm->retry_timer);
	uv_timer_init(d->loop, &vm->freeze_timer);
	uv_timer_init(d->loop, &vm->expire_timer);
	uv_timer_init(d->loop, &vm->check_timer);
	vm->retry_timer.data = vm->freeze_timer.data = vm->expire_timer.data = vm;
	vm->check_timer.data = vm;
	vm->handles_open = 4;
	list_init(&vm->link);
	snprintf(vm->id, sizeof(vm->id), "vm-%" PRIu64, d->next_vm_id++);
	vm->state = VM_WAITING;
	snprintf(vm->reason, sizeof(vm->reason), "discovery has not run yet");
	return vm;
}

struct vm *vm_ref(struct vm *vm)
{
	vm->refs++;
	return vm;
}

void vm_unref(struct vm *vm)
{
	if (!vm || --vm->refs)
		return;
	ktbpf_vars_free(vm->vars);
	ktbpf_snapshot_free(vm->snap);
	ktbpf_kernel_free(vm->kernel);
	ktbpf_mem_free(vm->mem);
	for (int i = 0; i < 3; i++)
		if (vm->files[i].fd >= 0)
			close(vm->files[i].fd);
	free(vm->name);
	json_decref(vm->labels);
	uv_close((uv_handle_t *)&vm->retry_timer, on_handle_closed);
	uv_close((uv_handle_t *)&vm->freeze_timer, on_handle_closed);
	uv_close((uv_handle_t *)&vm->expire_timer, on_handle_closed);
	uv_close((uv_handle_t *)&vm->check_timer, on_handle_closed);
}

void vm_remove(struct vm *vm)
{
	if (vm->gone)
		return;
	vm->gone = true;
	vm->owner = NULL;
	list_del(&vm->link);
	vm->d->nr_vms--;
	uv_timer_stop(&vm->retry_timer);
	uv_timer_stop(&vm->expire_timer);
	uv_timer_stop(&vm->check_timer);
	vm_unref(vm);
}

bool vm_visible(const struct vm *vm, uid_t uid)
{
	return uid == 0 || uid == vm->uid;
}

/*
 * The VM named key (its id, else its name): the caller's own first, then,
 * for root, anyone's. *ret_denied says a VM by that key exists but belongs
 * to another uid.
 */
struct vm *vm_find(struct daemon *d, const char *key, uid_t uid, bool *ret_denied)
{
	struct vm *other = NULL;

	*ret_denied = false;
	for (struct list *p = d->vms.next; p != &d->vms; p = p->next) {
		struct vm *vm = list_entry(p, struct vm, link);

		if (strcmp(vm->id, key) && strcmp(vm->name, key))
			continue;
		if (vm->uid == uid)
			return vm;
		other = other ? other : vm;
	}
	if (other && vm_visible(other, uid))
		return other;
	*ret_denied = other != NULL;
	return NULL;
}

const char *vm_state_name(const struct vm *vm)
{
	static const char *const names[] = {"waiting", "discovering", "ready", "failed"};

	return !vm->owner ? "detached" : names[vm->state];
}

static void on_retry(uv_timer_t *t);

static void disc_done(uv_work_t *w, int status)
{
	struct disc_work *dw = (struct disc_work *)w;
	struct vm *vm = dw->vm;
	enum ktbpf_err_class cls = ktbpf_err_class(dw->r);

	vm->d->works--;
	vm->disc_running = false;
	vm->attempts++;
	if (status == UV_ECANCELED) {
		dw->r = -ECANCELED;
		snprintf(dw->err.msg, sizeof(dw->err.msg), "discovery cancelled");
	}
	if (!vm->first_done) {
		vm->first_done = true;
		vm->first_found = dw->r == 0;
		vm->first_ns = now_ns();
		snprintf(vm->first_reason, sizeof(vm->first_reason), "%s", dw->err.msg);
	}
	if (vm->gone || vm->reset_pending) {
		ktbpf_kernel_free(dw->k);
		if (!vm->gone) {
			vm->reset_pending = false;
			vm_discover_start(vm);
		}
	} else if (dw->r == 0) {
		const struct ktbpf_kernel_info *ki = ktbpf_kernel_info(dw->k);

		vm->kernel = dw->k;
		vm->discovered_ns = now_ns();
		vm->state = VM_READY;
		vm->disc_code = 0;
		if (vm->reset_why[0])
			snprintf(vm->reason, sizeof(vm->reason),
				 "kernel %s (KASLR offset 0x%llx) discovered again after %u "
				 "attempt(s); before: %s",
				 ki->release, (unsigned long long)ki->kaslr_offset, vm->attempts,
				 vm->reset_why);
		else
			snprintf(vm->reason, sizeof(vm->reason),
				 "kernel %s discovered after %u attempt(s)", ki->release,
				 vm->attempts);
		fprintf(stderr, "ktbpfd: vm '%s' (%s): %s\n", vm->name, vm->id, vm->reason);
		kernel_check_start(vm);
	} else if (cls == KTBPF_ERR_NOT_READY || cls == KTBPF_ERR_INCONSISTENT) {
		vm->state = VM_WAITING;
		vm->disc_code = dw->r;
		snprintf(vm->reason, sizeof(vm->reason), "%s (retrying)", dw->err.msg);
		vm->retry_ms = !vm->retry_ms ? vm->d->set.retry_min_ms
			       : vm->retry_ms * 2 > vm->d->set.retry_max_ms
				       ? vm->d->set.retry_max_ms
				       : vm->retry_ms * 2;
		vm->retry_at_ns = now_ns() + vm->retry_ms * 1000000ull;
		if (vm->attempts == 1)
			fprintf(stderr, "ktbpfd: vm '%s' (%s): kernel not discovered yet: %s\n",
				vm->name, vm->id, vm->reason);
		uv_timer_start(&vm->retry_timer, on_retry, vm->retry_ms, 0);
	} else {
		vm->state = VM_FAILED;
		vm->disc_code = dw->r;
		snprintf(vm->reason, sizeof(vm->reason), "%s", dw->err.msg);
		fprintf(stderr, "ktbpfd: vm '%s' (%s): kernel discovery failed (%s): %s\n",
			vm->name, vm->id, ktbpf_err_class_name(cls), vm->reason);
	}
	ktbpf_kernel_facts_unref((struct ktbpf_kernel_facts *)dw->hints.like);
	vm_unref(vm);
	free(dw);
}

static void disc_run(uv_work_t *w)
{
	struct disc_work *dw = (struct disc_work *)w;

	dw->r = ktbpf_kernel_discover(dw->vm->mem, &dw->hints, &dw->k, &dw->err);
}

/*
 * Facts of a kernel that vm's may share (VMs of one kernel build): the
 * newest discovered kernel of the same uid (a guest's BTF could be made to
 * collide with another's hash on purpose: only its owner's VMs trust it).
 * A new reference, or NULL.
 */
struct ktbpf_kernel_facts *vm_like_facts(const struct vm *vm)
{
	const struct vm *best = NULL;

	for (struct list *p = vm->d->vms.next; p != &vm->d->vms; p = p->next) {
		const struct vm *o = list_entry(p, struct vm, link);

		if (o != vm && o->kernel && o->uid == vm->uid &&
		    (!best || o->discovered_ns > best->discovered_ns))
			best = o;
	}
	return best ? ktbpf_kernel_facts_ref(best->kernel) : NULL;
}

void vm_discover_start(struct vm *vm)
{
	struct disc_work *dw;

	if (vm->gone || vm->disc_running || vm->kernel || vm->d->draining)
		return;
	uv_timer_stop(&vm->retry_timer);
	dw = calloc(1, sizeof(*dw));
	if (!dw) {
		uv_timer_start(&vm->retry_timer, on_retry, vm->d->set.retry_max_ms, 0);
		return;
	}
	dw->vm = vm_ref(vm);
	dw->hints = vm->hints;
	dw->hints.like = vm_like_facts(vm);
	vm->disc_running = true;
	vm->state = VM_DISCOVERING;
	vm->d->works++;
	uv_queue_work(vm->d->loop, &dw->work, disc_run, disc_done);
}

/*
 * Whether any of the RAM holds data: SEEK_DATA on its fds, no guest byte
 * read (a fresh memfd that nothing wrote has none; regions that cannot tell
 * count as data, ktbpf_mem_find_data()). Right here, before the answer lets
 * the VMM start the guest.
 */
void vm_registered(struct vm *vm)
{
	struct timespec ts;
	uint64_t start, end;

	clock_gettime(CLOCK_REALTIME, &ts);
	vm->registered_unix_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	vm->registered_ns = now_ns();
	vm->ram_written_at_register = ktbpf_mem_find_data(vm->mem, 0, &start, &end) == 0;
	vm_discover_start(vm);
}

static void on_retry(uv_timer_t *t)
{
	vm_discover_start(t->data);
}

/* Forget the kernel (a reboot, vm.reset) and discover again; after the current round or discovery.
 */
void vm_reset(struct vm *vm, const char *why)
{
	if (why != vm->reset_why)
		snprintf(vm->reset_why, sizeof(vm->reset_why), "%s", why ? why : "");
	if (vm->round != ROUND_IDLE || vm->disc_running || vm->check_running) {
		vm->reset_pending = true;
		return;
	}
	vm->reset_pending = false;
	vm->kernel = ktbpf_kernel_free(vm->kernel);
	vm->state = VM_WAITING;
	vm->attempts = 0;
	vm->retry_ms = 0;
	vm->jiffies_moved_ns = 0;
	uv_timer_stop(&vm->check_timer);
	snprintf(vm->reason, sizeof(vm->reason), "%s",
		 why ? why : "reset (vm.reset): discovering again");
	vm_discover_start(vm);
}

static void on_expire(uv_timer_t *t)
{
	struct vm *vm = t->data;

	fprintf(stderr, "ktbpfd: vm '%s' (%s): detached for %" PRIu64 " ms: forgotten\n", vm->name,
		vm->id, vm->d->set.retention_ms);
	vm_remove(vm);
}

/* Its VMM disconnected: the VM stays readable (its RAM fds are held) until retention ends. */
void vm_detach(struct vm *vm)
{
	vm->owner = NULL;
	if (vm->d->draining)
		return; /* the daemon exits: every VM goes */
	vm->detached_ns = now_ns();
	uv_timer_start(&vm->expire_timer, on_expire, vm->d->set.retention_ms, 0);
	fprintf(stderr,
		"ktbpfd: vm '%s' (%s): its VMM disconnected: detached, kept %" PRIu64 " ms\n",
		vm->name, vm->id, vm->d->set.retention_ms);
}

json_t *vm_info_json(const struct vm *vm)
{
	return json_pack("{s:s, s:s, s:I, s:s, s:b, s:s, s:O}", "vm", vm->id, "name", vm->name,
			 "uid", (json_int_t)vm->uid, "arch", ktbpf_arch_name(vm->arch), "attached",
			 vm->owner != NULL, "state", vm_state_name(vm), "labels", vm->labels);
}

/* The regions and how each is read (a mapping, or pread for an fd not sealed against shrinking). */
static json_t *regions_json(const struct ktbpf_mem *mem)
{
	json_t *a = json_array();
	struct ktbpf_mem_region r;

	for (size_t i = 0; a && ktbpf_mem_region(mem, i, &r) == 0; i++)
		if (json_array_append_new(a, json_pack("{s:I, s:I, s:s}", "gpa", (json_int_t)r.gpa,
						       "size", (json_int_t)r.size, "read",
						       r.mapped ? "mapped" : "pread")) < 0)
			a = (json_decref(a), NULL);
	return a;
}

json_t *vm_status_json(const struct vm *vm)
{
	json_t *j = vm_info_json(vm);
	uint64_t now = now_ns();

	if (!j)
		return NULL;
	json_object_set_new(j, "discovery",
			    json_string(vm->state == VM_READY	      ? "ready"
					: vm->state == VM_FAILED      ? "failed"
					: vm->state == VM_DISCOVERING ? "discovering"
								      : "waiting"));
	json_object_set_new(j, "reason", json_string(vm->reason));
	json_object_set_new(j, "retry_in_ms",
			    vm->state == VM_WAITING && vm->retry_at_ns > now
				    ? json_integer((json_int_t)((vm->retry_at_ns - now) / 1000000))
				    : json_null());
	json_object_set_new(j, "kernel",
			    vm->kernel ? ktbpf_codec_kernel(ktbpf_kernel_info(vm->kernel))
				       : json_null());
	json_object_set_new(j, "regions", regions_json(vm->mem));
	json_object_set_new(j, "kernel_facts_shared",
			    json_boolean(vm->kernel && ktbpf_kernel_info(vm->kernel)->btf_shared));
	json_object_set_new(j, "snapshots", json_integer((json_int_t)vm->walks));
	json_object_set_new(
		j, "kernel_check",
		json_pack("{s:I, s:I, s:o}", "changes", (json_int_t)vm->kernel_changes,
			  "verifications", (json_int_t)vm->verifications, "checked_ms_ago",
			  vm->checked_ns && vm->kernel
				  ? json_integer((json_int_t)((now - vm->checked_ns) / 1000000))
				  : json_null()));
	json_object_set_new(j, "can_freeze", json_boolean(vm->can_freeze && vm->owner));
	json_object_set_new(j, "registration",
			    json_pack("{s:I, s:b}", "unix_ns", (json_int_t)vm->registered_unix_ns,
				      "ram_written", vm->ram_written_at_register));
	json_object_set_new(
		j, "first_discovery",
		!vm->first_done
			? json_null()
			: json_pack("{s:I, s:b, s:o}", "ms_after_registration",
				    (json_int_t)((vm->first_ns - vm->registered_ns) / 1000000),
				    "found", vm->first_found, "reason",
				    vm->first_found ? json_null()
						    : ktbpf_codec_text(vm->first_reason)));
	return j;
}
