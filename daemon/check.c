/* SPDX-License-Identifier: MIT */
/*
 * Is a VM's discovered kernel still the one running? A guest that reboots
 * (or kexecs) brings up a new kernel, usually at another KASLR offset, in
 * the same RAM, and nobody calls vm.reset. Walks through the old kernel's
 * page tables then fail (and discovery runs again, snapshot.c), or, worse,
 * succeed on what is left of the old kernel in RAM and show a picture that
 * no longer changes.
 *
 * So after every walk, and on a timer for a VM nobody snapshots, a check
 * reads (in the thread pool) two things:
 *  - the VMCOREINFO note where discovery found it, byte for byte
 *    (ktbpf_vmcoreinfo_unchanged()): the new kernel writes its own note,
 *    often over the old one's page. Changed or gone: the kernel changed,
 *    discover again (the reason in vm.status says so);
 *  - jiffies: a running kernel's advance HZ times a second. After a reboot
 *    the old note may stay intact in RAM while the new kernel wrote its
 *    own elsewhere; the old kernel's jiffies then stand still. Jiffies that
 *    stand still for STILL_CHECKS timer periods start a verification: a
 *    discovery from scratch in the background, whose kernel replaces the
 *    discovered one when it differs (KASLR offset, phys_base, the note's
 *    place, release, build ID). A paused VM (or a kit image) has still
 *    jiffies too and the same kernel: verifications back off, doubling up
 *    to VERIFY_BACKOFF_MAX_MS, until jiffies move again. Not for a detached
 *    VM: its VMM is gone and its guest most likely with it.
 * Without a CR3 hint discovery cannot tell an old kernel left whole in RAM
 * from the running one (lib/kernel-note.c); the verification then finds the
 * old one again and backs off.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktbpf/translate.h"
#include "ktbpf/vmcoreinfo.h"
#include "daemon-internal.h"

#define STILL_CHECKS	      5
#define STILL_MIN_MS	      2000
#define VERIFY_BACKOFF_MIN_MS 30000
#define VERIFY_BACKOFF_MAX_MS 600000

void kernel_check_read(const struct ktbpf_kernel *k, struct kernel_check *c)
{
	const struct ktbpf_vmcoreinfo *vi = ktbpf_kernel_vmcoreinfo(k);
	uint64_t jiffies_kva = ktbpf_kernel_info(k)->jiffies;
	struct ktbpf_err err = {0};
	struct ktbpf_xlate *x;

	c->note_r = 0;
	c->note_msg[0] = '\0';
	c->has_jiffies = false;
	if (vi && vi->note_pa) {
		c->note_r = ktbpf_vmcoreinfo_unchanged(ktbpf_kernel_mem(k), vi, &err);
		if (c->note_r < 0) {
			snprintf(c->note_msg, sizeof(c->note_msg), "%s", err.msg);
			return;
		}
	}
	if (!jiffies_kva)
		return;
	x = ktbpf_kernel_xlate_new(k);
	if (x && ktbpf_xlate_read_u64(x, jiffies_kva, &c->jiffies, &err) == 0)
		c->has_jiffies = true;
	ktbpf_xlate_free(x);
}

static uint64_t still_ns(const struct daemon *d)
{
	uint64_t ms = d->set.check_interval_ms * STILL_CHECKS;

	return (ms < STILL_MIN_MS ? STILL_MIN_MS : ms) * 1000000ull;
}

/* Same kernel: the facts a reboot changes (KASLR, where it sits, which build). */
static bool same_kernel(const struct ktbpf_kernel *a, const struct ktbpf_kernel *b)
{
	const struct ktbpf_kernel_info *x = ktbpf_kernel_info(a), *y = ktbpf_kernel_info(b);

	return x->kaslr_offset == y->kaslr_offset && x->phys_base == y->phys_base &&
	       x->vmcoreinfo_pa == y->vmcoreinfo_pa && !strcmp(x->release, y->release) &&
	       !strcmp(x->build_id, y->build_id);
}

struct verify_work {
	uv_work_t work;
	struct vm *vm; /* a reference */
	struct ktbpf_kernel_hints
		hints; /* like: the current kernel's facts (cheap when the same) */
	struct ktbpf_kernel *k;
	struct ktbpf_err err;
	int r;
};

static void verify_run(uv_work_t *w)
{
	struct verify_work *vw = (struct verify_work *)w;

	vw->r = ktbpf_kernel_discover(vw->vm->mem, &vw->hints, &vw->k, &vw->err);
}

static void verify_done(uv_work_t *w, int status)
{
	struct verify_work *vw = (struct verify_work *)w;
	struct vm *vm = vw->vm;
	uint64_t still_s = (now_ns() - vm->jiffies_moved_ns) / 1000000000ull;

	vm->d->works--;
	vm->verify_running = false;
	vm->verifications++;
	if (status == 0 && vw->r == 0 && vm->kernel && !vm->gone && !vm->reset_pending &&
	    !same_kernel(vm->kernel, vw->k)) {
		const struct ktbpf_kernel_info *was = ktbpf_kernel_info(vm->kernel),
					       *now = ktbpf_kernel_info(vw->k);
		char why[KTBPF_ERR_MSG_MAX + 64];

		snprintf(why, sizeof(why),
			 "jiffies stood still %" PRIu64 " s and RAM holds another kernel: %s at "
			 "KASLR offset 0x%llx (was %s at 0x%llx): the guest rebooted",
			 still_s, now->release, (unsigned long long)now->kaslr_offset, was->release,
			 (unsigned long long)was->kaslr_offset);
		fprintf(stderr, "ktbpfd: vm '%s' (%s): %s\n", vm->name, vm->id, why);
		vm->kernel_changes++;
		/* Discovered again rather than swapped in: a round may be walking the old one. */
		vm_reset(vm, why);
	} else if (vm->kernel && !vm->gone) {
		vm->verify_backoff_ms = !vm->verify_backoff_ms ? VERIFY_BACKOFF_MIN_MS
					: vm->verify_backoff_ms * 2 > VERIFY_BACKOFF_MAX_MS
						? VERIFY_BACKOFF_MAX_MS
						: vm->verify_backoff_ms * 2;
		vm->verify_at_ns = now_ns() + vm->verify_backoff_ms * 1000000ull;
		if (vm->verifications == 1)
			fprintf(stderr,
				"ktbpfd: vm '%s' (%s): jiffies stood still %" PRIu64
				" s (paused?); %s; next look in %" PRIu64 " s\n",
				vm->name, vm->id, still_s,
				vw->r < 0 ? vw->err.msg : "the same kernel is still there",
				vm->verify_backoff_ms / 1000);
	}
	ktbpf_kernel_free(vw->k);
	ktbpf_kernel_facts_unref((struct ktbpf_kernel_facts *)vw->hints.like);
	vm_unref(vm);
	free(vw);
}

static void verify_start(struct vm *vm)
{
	struct verify_work *vw;

	if (vm->verify_running || vm->disc_running || vm->d->draining)
		return;
	vw = calloc(1, sizeof(*vw));
	if (!vw)
		return;
	vw->vm = vm_ref(vm);
	vw->hints = vm->hints;
	vw->hints.like = vm->kernel ? ktbpf_kernel_facts_ref(vm->kernel) : NULL;
	vm->verify_running = true;
	vm->d->works++;
	uv_queue_work(vm->d->loop, &vw->work, verify_run, verify_done);
}

void kernel_check_done(struct vm *vm, const struct kernel_check *c)
{
	uint64_t now = now_ns();

	vm->checked_ns = now;
	if (vm->gone || !vm->kernel || vm->reset_pending)
		return;
	if (c->note_r < 0) {
		char why[KTBPF_ERR_MSG_MAX + 64];

		snprintf(why, sizeof(why), "the kernel changed (%s): discovering it again",
			 c->note_msg);
		fprintf(stderr, "ktbpfd: vm '%s' (%s): %s\n", vm->name, vm->id, why);
		vm->kernel_changes++;
		vm_reset(vm, why);
		return;
	}
	if (!c->has_jiffies)
		return;
	if (!vm->jiffies_moved_ns || c->jiffies != vm->jiffies) {
		vm->jiffies = c->jiffies;
		vm->jiffies_moved_ns = now;
		vm->verify_backoff_ms = 0;
		vm->verify_at_ns = 0;
		return;
	}
	/* A detached VM's guest is most likely dead (its VMM gone): still jiffies say nothing. */
	if (vm->owner && now - vm->jiffies_moved_ns >= still_ns(vm->d) && now >= vm->verify_at_ns)
		verify_start(vm);
}

struct check_work {
	uv_work_t work;
	struct vm *vm; /* a reference */
	struct kernel_check c;
};

static void check_run(uv_work_t *w)
{
	struct check_work *cw = (struct check_work *)w;

	kernel_check_read(cw->vm->kernel, &cw->c);
}

static void check_done(uv_work_t *w, int status)
{
	struct check_work *cw = (struct check_work *)w;
	struct vm *vm = cw->vm;

	vm->d->works--;
	vm->check_running = false;
	if (status == 0)
		kernel_check_done(vm, &cw->c);
	/* A reset that waited for this check (it reads vm->kernel). */
	if (vm->reset_pending && !vm->gone && vm->round == ROUND_IDLE && !vm->disc_running)
		vm_reset(vm, vm->reset_why);
	vm_unref(vm);
	free(cw);
}

/*
 * The timer: check a VM no walk has checked for a period. Not while a round
 * or a discovery runs (they own vm->kernel's fate); the walk checks anyway.
 */
static void on_check_timer(uv_timer_t *t)
{
	struct vm *vm = t->data;
	struct check_work *cw;
	uint64_t period = vm->d->set.check_interval_ms * 1000000ull;

	if (vm->gone || !vm->kernel || vm->check_running || vm->disc_running ||
	    vm->round != ROUND_IDLE || vm->reset_pending || vm->d->draining ||
	    now_ns() - vm->checked_ns < period)
		return;
	cw = calloc(1, sizeof(*cw));
	if (!cw)
		return;
	cw->vm = vm_ref(vm);
	vm->check_running = true;
	vm->d->works++;
	uv_queue_work(vm->d->loop, &cw->work, check_run, check_done);
}

void kernel_check_start(struct vm *vm)
{
	uint64_t ms = vm->d->set.check_interval_ms;

	vm->checked_ns = now_ns();
	uv_timer_start(&vm->check_timer, on_check_timer, ms, ms);
}
