/* SPDX-License-Identifier: MIT */
/*
 * Many threads walking one discovered kernel (kernel.h, progs.h: a kernel is
 * shared as const, each walker brings its own snapshot). Run in every build
 * and, above all, under ThreadSanitizer (run-tests' TSan pass), which would
 * name any state a walk changes in the shared kernel or memory table.
 *
 * A plain executable with TAP output, not a criterion suite: criterion's
 * runner cannot set up its shared arena under TSan ("Could not initialize
 * inheritable arena").
 *
 * The changing guest: its RAM is a memfd, read by the library through its
 * own mapping (ktbpf_mem_add_fd maps a sealed memfd), while a writer thread
 * raises the counters through a second MAP_SHARED mapping of the same memfd,
 * as a vCPU thread of QEMU writes guest RAM that ktbpf reads through
 * another mapping. The reads race with the writes by nature (the library
 * cannot synchronise with a guest); TSan tracks memory by virtual address,
 * so the two mappings keep it from reporting that race while everything the
 * threads share in host memory (kernel, region table, the writer's round
 * counter) stays checked. The library's reads need no atomics for it: aligned
 * 8-byte counters are never torn on x86_64, which the bounds below check.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kit-guest.h"
#include "ktbpf/progs.h"

#define THREADS 8
#define WALKS	1000
#define NR_CPUS 8
#define NR_OPS	16

static int failures;
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&fail_lock);
	if (failures++ < 20) {
		va_start(ap, fmt);
		fputs("# ", stdout);
		vprintf(fmt, ap);
		putchar('\n');
		va_end(ap);
	}
	pthread_mutex_unlock(&fail_lock);
}

static struct kit_guest *guest_new(void)
{
	struct kit_guest_opts o = {
		.kernel = {.nr_cpus = NR_CPUS},
		.nr_struct_ops = NR_OPS,
		.ram_size = 64ull << 20,
	};

	return kit_guest_new(&o);
}

/* What every walk must agree on, counters aside (they change in the second test). */
static void same_answer(const struct ktbpf_snapshot *ref, const struct ktbpf_snapshot *s,
			bool counters)
{
	size_t i;

	if (s->nr_progs != ref->nr_progs || s->nr_instances != ref->nr_instances ||
	    s->nr_diags != ref->nr_diags || s->torn || s->capped ||
	    s->active.map_id != ref->active.map_id || s->stats != ref->stats) {
		fail("walk differs: %zu/%zu progs, %zu/%zu instances, %zu/%zu diags, torn %d",
		     s->nr_progs, ref->nr_progs, s->nr_instances, ref->nr_instances, s->nr_diags,
		     ref->nr_diags, s->torn);
		return;
	}
	for (i = 0; i < s->nr_progs; i++) {
		const struct ktbpf_prog *a = &s->progs[i], *b = &ref->progs[i];

		if (a->id != b->id || strcmp(a->name, b->name) || strcmp(a->iface, b->iface) ||
		    strcmp(a->member, b->member) || a->verified_insns != b->verified_insns ||
		    !a->stats_valid || a->cpus_read != b->cpus_read ||
		    (counters &&
		     (a->cnt != b->cnt || a->nsecs != b->nsecs || a->misses != b->misses)))
			fail("prog %" PRIu32 " differs from the single walk", b->id);
	}
	for (i = 0; i < s->nr_instances; i++)
		if (s->instances[i].map_id != ref->instances[i].map_id ||
		    s->instances[i].nr_members != ref->instances[i].nr_members ||
		    strcmp(s->instances[i].obj_name, ref->instances[i].obj_name))
			fail("instance %zu differs from the single walk", i);
}

struct walker {
	pthread_t tid;
	const struct ktbpf_kernel *k;
	const struct ktbpf_snapshot *ref;
	const struct kit_guest *g;
	_Atomic uint64_t *round; /* the writer's completed rounds; NULL: a still guest */
};

/*
 * With a writer, CPU c's counters of program i are base + n in round n: a
 * walk that starts after round r0 and ends before round r1 + 1 completes
 * sums between base sum + CPUs * r0 and base sum + CPUs * (r1 + 1).
 */
static void check_counters(const struct walker *w, const struct ktbpf_snapshot *s, uint64_t r0,
			   uint64_t r1)
{
	for (size_t i = 0; i < s->nr_progs; i++) {
		const struct kit_guest_prog *t = kit_guest_prog(w->g, s->progs[i].id);
		uint64_t lo = t->cnt + NR_CPUS * r0, hi = t->cnt + NR_CPUS * (r1 + 1);

		if (s->progs[i].cnt < lo || s->progs[i].cnt > hi ||
		    s->progs[i].nsecs < t->nsecs + 10 * NR_CPUS * r0 ||
		    s->progs[i].nsecs > t->nsecs + 10 * NR_CPUS * (r1 + 1))
			fail("prog %" PRIu32 ": cnt %" PRIu64 " nsecs %" PRIu64
			     " outside rounds %" PRIu64 "..%" PRIu64 " (cnt %" PRIu64 "..%" PRIu64
			     ")",
			     t->id, s->progs[i].cnt, s->progs[i].nsecs, r0, r1 + 1, lo, hi);
	}
}

static void *walk_many(void *arg)
{
	struct walker *w = arg;
	struct ktbpf_snapshot *s = ktbpf_snapshot_new();
	struct ktbpf_err err = {0};

	if (!s) {
		fail("out of memory");
		return NULL;
	}
	for (int n = 0; n < WALKS; n++) {
		uint64_t r0 = w->round ? atomic_load(w->round) : 0, r1;

		if (ktbpf_progs_walk(w->k, s, &err) < 0) {
			fail("walk %d failed: %s", n, err.msg);
			break;
		}
		r1 = w->round ? atomic_load(w->round) : 0;
		same_answer(w->ref, s, !w->round);
		if (w->round)
			check_counters(w, s, r0, r1);
	}
	ktbpf_snapshot_free(s);
	return NULL;
}

static void run_walkers(const struct ktbpf_kernel *k, const struct ktbpf_snapshot *ref,
			const struct kit_guest *g, _Atomic uint64_t *round)
{
	struct walker w[THREADS];

	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct walker){.k = k, .ref = ref, .g = g, .round = round};
		if (pthread_create(&w[i].tid, NULL, walk_many, &w[i])) {
			fail("pthread_create");
			exit(1);
		}
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(w[i].tid, NULL);
}

/* A single walk, checked against the kit's truth: the reference for the threads. */
static struct ktbpf_snapshot *reference(const struct ktbpf_kernel *k, const struct kit_guest *g)
{
	struct ktbpf_snapshot *s = ktbpf_snapshot_new();
	struct ktbpf_err err = {0};

	if (!s || ktbpf_progs_walk(k, s, &err) < 0) {
		fail("reference walk failed: %s", err.msg);
		exit(1);
	}
	if (s->nr_progs != NR_OPS || s->nr_diags || !s->active.attached)
		fail("reference walk: %zu programs, %zu diagnostics", s->nr_progs, s->nr_diags);
	for (size_t i = 0; i < s->nr_progs; i++) {
		const struct kit_guest_prog *t = kit_guest_prog(g, s->progs[i].id);

		if (!t || s->progs[i].cnt != t->cnt || s->progs[i].nsecs != t->nsecs ||
		    s->progs[i].misses != t->misses)
			fail("reference walk: prog %" PRIu32 " counters wrong", s->progs[i].id);
	}
	return s;
}

static void test_still_guest(void)
{
	struct kit_guest *g = guest_new();
	const struct ktbpf_kernel *k = kit_guest_kernel(g);
	struct ktbpf_snapshot *ref = reference(k, g);

	run_walkers(k, ref, g, NULL);
	ktbpf_snapshot_free(ref);
	kit_guest_free(g);
}

struct writer {
	const struct kit_guest *g;
	uint8_t *ram; /* the writer's own mapping of the guest's memfd */
	_Atomic uint64_t round;
	atomic_bool stop;
};

/* Round n: every possible CPU's cnt = base + n, nsecs = (base + n) * 10, of every program. */
static void *write_rounds(void *arg)
{
	struct writer *wr = arg;
	const struct kit_guest *g = wr->g;

	for (uint64_t n = 1; !atomic_load(&wr->stop); n++) {
		for (uint32_t i = 0; i < g->nr_progs; i++) {
			const struct kit_guest_prog *p = &g->progs[i];

			if (!p->struct_ops)
				continue;
			for (uint32_t c = 0; c < g->nr_cpus; c++) {
				uint64_t pa = kit_kernel_percpu_pa(g->kk, p->stats_template, c);
				uint64_t *cnt = (uint64_t *)(wr->ram + pa + g->lay.off.stats_cnt);
				uint64_t *ns = (uint64_t *)(wr->ram + pa + g->lay.off.stats_nsecs);

				__atomic_store_n(cnt, p->per_cpu[c][0] + n, __ATOMIC_RELAXED);
				__atomic_store_n(ns, (p->per_cpu[c][0] + n) * 10, __ATOMIC_RELAXED);
			}
		}
		atomic_store(&wr->round, n);
	}
	return NULL;
}

static void test_changing_guest(void)
{
	struct kit_guest *g = guest_new();
	struct writer wr = {.g = g};
	struct ktbpf_mem *mem = ktbpf_mem_new();
	struct ktbpf_kernel *k = NULL;
	struct ktbpf_snapshot *ref;
	struct ktbpf_err err = {0};
	pthread_t tid;
	int fd = kit_image_memfd(g->im);

	if (!mem || ktbpf_mem_add_fd(mem, 0, g->im->size, fd, 0, 0, &err) < 0 ||
	    !ktbpf_mem_ptr(mem, 0, 1) || ktbpf_kernel_discover(mem, NULL, &k, &err) < 0) {
		fail("memfd guest: %s (or not mapped)", err.msg);
		exit(1);
	}
	wr.ram = mmap(NULL, g->im->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (wr.ram == MAP_FAILED) {
		fail("mmap the memfd");
		exit(1);
	}
	ref = reference(k, g);
	if (pthread_create(&tid, NULL, write_rounds, &wr)) {
		fail("pthread_create");
		exit(1);
	}
	run_walkers(k, ref, g, &wr.round);
	atomic_store(&wr.stop, true);
	pthread_join(tid, NULL);
	if (atomic_load(&wr.round) < 2)
		fail("the writer finished %" PRIu64 " rounds: the guest did not change",
		     atomic_load(&wr.round));
	else
		printf("# writer: %" PRIu64 " rounds during %d walks\n", atomic_load(&wr.round),
		       THREADS * WALKS);
	ktbpf_snapshot_free(ref);
	ktbpf_kernel_free(k);
	munmap(wr.ram, g->im->size);
	ktbpf_mem_free(mem);
	close(fd);
	kit_guest_free(g);
}

static int tap(int n, const char *name, void (*fn)(void))
{
	int before = failures;

	fn();
	printf("%s %d - %s\n", failures == before ? "ok" : "not ok", n, name);
	fflush(stdout);
	return failures == before ? 0 : 1;
}

int main(void)
{
	int bad = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("1..2\n");
	bad += tap(1, "eight_walkers_of_one_kernel_give_the_single_walks_answer", test_still_guest);
	bad += tap(2, "eight_walkers_of_a_changing_guest_see_each_counter_between_rounds",
		   test_changing_guest);
	return bad ? 1 : 0;
}
