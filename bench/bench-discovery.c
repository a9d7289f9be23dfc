/* SPDX-License-Identifier: MIT */
/*
 * bench-discovery: wall time of ktbpf_kernel_discover() with no files on kit
 * guests in RAM files, by RAM size, where the VMCOREINFO note lies and how
 * much of RAM the guest has written. Run on demand:
 *	build/bench/bench-discovery [TRIALS [ROW_PREFIX]]
 * Prints a table; asserts nothing.
 *
 * "cold": the RAM file is a fresh memfd (tmpfs, as QEMU's memory backends)
 * filled with pwrite() and never read or mapped by this process before the
 * timed discovery, which maps it anew (as ktbpfctl does): no page of it is in
 * our page tables, as with a guest's RAM that QEMU just wrote. (Dropping our
 * mapping with madvise(MADV_DONTNEED) would do the same; posix_fadvise
 * cannot evict tmpfs pages, which are the file itself.) The files are sparse
 * like a guest's RAM: the pages the kit's kernel wrote, plus `filled` of RAM
 * in written pages (a booted guest's page cache and heap), the rest holes.
 * "warm": a second discovery over the same mapping, given the note's address
 * from the first as vmcoreinfo_guess_pa (how a monitor rediscovers a guest).
 * "find": the note scan alone (ktbpf_vmcoreinfo_find(), no check), cold.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kit-guest.h"
#include "ktbpf/kernel.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double median_ms(uint64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	return (double)v[n / 2] / 1e6;
}

/*
 * Write frac of the RAM the kit left empty with non-zero bytes, in 2 MiB runs
 * spread evenly, around the note's pages.
 */
static void fill(struct kit_image *im, double frac, uint64_t note_pa)
{
	uint64_t run = 2ull << 20, step, at;

	if (frac <= 0)
		return;
	step = (uint64_t)((double)run / frac) & ~(run - 1);
	for (at = (im->data_end + 2 * run) & ~(run - 1); at + run <= im->size; at += step)
		if (note_pa + 3 * 8192 <= at || note_pa >= at + run + 8192)
			memset(im->buf + at, 0xa5, run);
}

static struct ktbpf_mem *map_file(int fd, uint64_t size)
{
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};

	if (!m || ktbpf_mem_add_fd(m, 0, size, fd, 0, KTBPF_MEM_ASSUME_STABLE, &err) < 0) {
		fprintf(stderr, "bench-discovery: %s\n", err.msg);
		exit(1);
	}
	return m;
}

static uint64_t discover(struct ktbpf_mem *m, uint64_t guess, uint64_t *ret_pa)
{
	struct ktbpf_kernel_hints h = {.vmcoreinfo_guess_pa = guess};
	struct ktbpf_kernel *k = NULL;
	struct ktbpf_err err = {0};
	uint64_t t0 = now_ns(), t;

	if (ktbpf_kernel_discover(m, &h, &k, &err) < 0) {
		fprintf(stderr, "bench-discovery: %s\n", err.msg);
		exit(1);
	}
	t = now_ns() - t0;
	*ret_pa = ktbpf_kernel_info(k)->vmcoreinfo_pa;
	ktbpf_kernel_free(k);
	return t;
}

static uint64_t find_only(struct ktbpf_mem *m)
{
	struct ktbpf_vmcoreinfo *vi = malloc(sizeof(*vi));
	struct ktbpf_err err = {0};
	uint64_t t0 = now_ns(), t;

	if (!vi || ktbpf_vmcoreinfo_find(m, 0, vi, &err) < 0) {
		fprintf(stderr, "bench-discovery: %s\n", err.msg);
		exit(1);
	}
	t = now_ns() - t0;
	free(vi);
	return t;
}

struct row {
	const char *name;
	uint64_t ram;
	enum kit_note_place place;
	double filled;
	double goal_ms;
};

static void run(const struct row *rw, int trials)
{
	struct kit_guest_opts o = {.ram_size = rw->ram, .kernel.note_place = rw->place};
	uint64_t *cold = calloc((size_t)trials, 8), *warm = calloc((size_t)trials, 8);
	uint64_t *find = calloc((size_t)trials, 8), pa = 0, pa2, blocks = 0;
	struct kit_guest *g = kit_guest_new(&o);
	struct stat st;

	fill(g->im, rw->filled, g->kk->vmcoreinfo_pa);
	for (int i = 0; i < trials; i++) {
		int fd = memfd_create("bench-ram", MFD_CLOEXEC);
		struct ktbpf_mem *m;

		kit_image_write_sparse(g->im, fd);
		fstat(fd, &st);
		blocks = (uint64_t)st.st_blocks;
		m = map_file(fd, g->im->size);
		cold[i] = discover(m, 0, &pa);
		warm[i] = discover(m, pa, &pa2);
		if (pa != g->kk->vmcoreinfo_pa || pa2 != pa) {
			fprintf(stderr, "bench-discovery: wrong note 0x%llx\n",
				(unsigned long long)pa);
			exit(1);
		}
		ktbpf_mem_free(m);
		m = map_file(fd, g->im->size);
		find[i] = find_only(m);
		ktbpf_mem_free(m);
		fstat(fd, &st);
		if ((uint64_t)st.st_blocks != blocks)
			fprintf(stderr, "bench-discovery: %s: the file grew by %lld blocks\n",
				rw->name, (long long)((uint64_t)st.st_blocks - blocks));
		close(fd);
	}
	printf("%-28s %7.0f %8.1f %6.0f %8.2f %8.2f %8.2f %6.2f\n", rw->name,
	       (double)rw->ram / (1 << 20), (double)blocks * 512 / (1 << 20),
	       (double)g->kk->vmcoreinfo_pa / (1 << 20), median_ms(cold, trials),
	       median_ms(find, trials), median_ms(warm, trials),
	       median_ms(cold, trials) / rw->goal_ms);
	kit_guest_free(g);
	free(cold);
	free(warm);
	free(find);
}

int main(int argc, char **argv)
{
	static const struct row rows[] = {
		{"1G note low", 1ull << 30, KIT_NOTE_LOW, 0, 150},
		{"1G note middle", 1ull << 30, KIT_NOTE_MIDDLE, 0, 150},
		{"1G note high", 1ull << 30, KIT_NOTE_HIGH, 0, 150},
		{"1G note low, 25% written", 1ull << 30, KIT_NOTE_LOW, 0.25, 150},
		{"1G note middle, 25% written", 1ull << 30, KIT_NOTE_MIDDLE, 0.25, 150},
		{"1G note high, 25% written", 1ull << 30, KIT_NOTE_HIGH, 0.25, 150},
		{"1G note low, all written", 1ull << 30, KIT_NOTE_LOW, 1, 150},
		{"16G note low", 16ull << 30, KIT_NOTE_LOW, 0, 1500},
		{"16G note high, 5% written", 16ull << 30, KIT_NOTE_HIGH, 0.05, 1500},
	};
	int trials = argc > 1 ? atoi(argv[1]) : 5;
	const char *only = argc > 2 ? argv[2] : ""; /* rows whose name starts so */

	if (trials < 1)
		trials = 1;
	printf("discovery with no files, median of %d; cold: a fresh mapping of a RAM file we "
	       "never "
	       "read (see the source)\n\n",
	       trials);
	printf("%-28s %7s %8s %6s %8s %8s %8s %6s\n", "guest", "RAM_MiB", "data_MiB", "@MiB",
	       "cold_ms", "find_ms", "warm_ms", "ratio");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (!strncmp(rows[i].name, only, strlen(only)))
			run(&rows[i], trials);
	printf("\nratio: cold / goal (150 ms per 1 GiB, 1.5 s for 16 GiB; warm goal 30 ms)\n");
	return 0;
}
