/* SPDX-License-Identifier: MIT */
/*
 * bench-memory: the private memory a process pays per discovered guest
 * kernel, for a service that holds dozens of VMs for days. Run on demand:
 *	build/bench/bench-memory [VMS]
 * Prints a table; asserts nothing (DESIGN §7.5).
 *
 * Kit guests the size of a real 6.1 kernel (4 MiB of BTF: 55000 padding types;
 * 100000 kallsyms symbols) are built first; then VMS kernels (default 64)
 * are discovered and held: all of one kernel image, then spread over 8
 * different kernels (different BTF, so nothing can be shared between
 * them). The figure is the growth of RssAnon (/proc/self/status: private
 * anonymous memory, which the guests' RAM, mapped from their images before
 * the first figure, does not grow): in all, per kernel of the second half
 * (the first half also pays for the discovery temporaries the allocator
 * keeps for reuse, see run()), per kernel after malloc_trim(0) (which
 * returns them), and with one walked snapshot per kernel (what a service
 * keeps between walks).
 */
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kit-guest.h"
#include "ktbpf/kernel.h"
#include "ktbpf/progs.h"

#define KERNELS	  8
#define BTF_TYPES 55000
#define SYMBOLS	  100000

static uint64_t rss_anon_kib(void)
{
	char line[256];
	uint64_t v = 0;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %" SCNu64, &v) == 1)
			break;
	fclose(f);
	return v;
}

static struct kit_guest *guest(uint32_t seed)
{
	struct kit_guest_opts o = {.ram_size = 64ull << 20,
				   .nr_struct_ops = 8,
				   .kernel = {.nr_cpus = 8},
				   .pad_btf_types = BTF_TYPES + seed,
				   .pad_symbols = SYMBOLS,
				   .pad_seed = seed};
	struct kit_guest *g = kit_guest_new(&o);

	kit_guest_kernel(g); /* discovered once: its region table and RAM now mapped */
	return g;
}

/* Discover kernels [from, to) over guests g[i % nr] into k. */
static void discover(struct ktbpf_kernel **k, struct kit_guest **g, size_t nr, size_t from,
		     size_t to)
{
	size_t i;

	for (i = from; i < to; i++) {
		struct ktbpf_err err = {0};

		if (ktbpf_kernel_discover(g[i % nr]->mem, NULL, &k[i], &err) < 0) {
			fprintf(stderr, "bench-memory: discovery failed: %s\n", err.msg);
			exit(1);
		}
	}
}

/*
 * Discover n kernels over guests g[i % nr] and hold them. The first half
 * also pays for what the allocator keeps of discovery's temporaries
 * (glibc keeps freed megabytes below its trim threshold, which rises with
 * the largest block freed, for the next discovery to reuse); each kernel
 * of the second half costs what it holds.
 */
static void run(const char *what, struct kit_guest **g, size_t nr, size_t n)
{
	struct ktbpf_kernel **k = calloc(n, sizeof(*k));
	struct ktbpf_snapshot **s = calloc(n, sizeof(*s));
	uint64_t before, half, held, trimmed, walked;
	size_t i;

	if (!k || !s)
		exit(1);
	malloc_trim(0);
	before = rss_anon_kib();
	discover(k, g, nr, 0, n / 2);
	half = rss_anon_kib();
	discover(k, g, nr, n / 2, n);
	held = rss_anon_kib();
	malloc_trim(0);
	trimmed = rss_anon_kib();
	for (i = 0; i < n; i++) {
		struct ktbpf_err err = {0};

		s[i] = ktbpf_snapshot_new();
		if (!s[i] || ktbpf_progs_walk(k[i], s[i], &err) < 0) {
			fprintf(stderr, "bench-memory: walk failed: %s\n", err.msg);
			exit(1);
		}
	}
	malloc_trim(0);
	walked = rss_anon_kib();
	printf("%-22s %4zu %10.1f %10.1f %10.1f %12.1f\n", what, n,
	       (double)(held - before) / 1024.0, (double)(held - half) / (double)(n - n / 2),
	       (double)(trimmed - before) / (double)n, (double)(walked - before) / (double)n);
	for (i = 0; i < n; i++) {
		ktbpf_snapshot_free(s[i]);
		ktbpf_kernel_free(k[i]);
	}
	free(s);
	free(k);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 0) : 64;
	struct kit_guest *g[KERNELS];
	uint32_t i;

	if (!n)
		n = 64;
	for (i = 0; i < KERNELS; i++)
		g[i] = guest(i);
	printf("kit kernels: %u padding BTF types (%zu KiB of BTF), %u symbols\n", BTF_TYPES,
	       ktbpf_kernel_info(kit_guest_kernel(g[0]))->btf_size / 1024,
	       (unsigned)ktbpf_kernel_info(kit_guest_kernel(g[0]))->nr_symbols);
	printf("RssAnon growth: in all (MiB); per kernel of the second half, after\n"
	       "malloc_trim(0), and with one walked snapshot each (KiB)\n");
	printf("%-22s %4s %10s %10s %10s %12s\n", "", "VMs", "all MiB", "marginal", "trimmed",
	       "+snapshot");
	run("one kernel image", g, 1, n);
	run("8 different kernels", g, KERNELS, n);
	for (i = 0; i < KERNELS; i++)
		kit_guest_free(g[i]);
	return 0;
}
