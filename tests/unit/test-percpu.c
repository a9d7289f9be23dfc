/* SPDX-License-Identifier: MIT */
/*
 * The possible CPUs and their per-CPU offsets (lib/percpu.c): sums over
 * exactly the possible CPUs in both x86_64 schemes (zero-based before 6.15,
 * relative since), kernels without nr_cpu_ids, and guest data that does not
 * fit a known scheme, which must end in an error naming it, never a sum.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/btf.h>

#include "kit-guest.h"
#include "ktbpf/progs.h"
#include "unit.h"

/* Every struct_ops program's sums equal the kit's truth, read on nr_possible CPUs, no diags. */
static void assert_sums(struct kit_guest *g, uint32_t nr_possible)
{
	struct ktbpf_snapshot *s = unit_walk(g);

	unit_assert_progs(g, s);
	for (size_t i = 0; i < s->nr_progs; i++)
		cr_assert_eq(s->progs[i].cpus_read, nr_possible, "prog %u read on %u CPUs",
			     s->progs[i].id, s->progs[i].cpus_read);
	cr_assert_eq(s->nr_diags, 0, "unexpected diagnostic: %s", s->diags[0].msg);
	ktbpf_snapshot_free(s);
}

/* The runtime System.map of g with the line for name replaced by line (NULL: dropped). */
static void map_with(struct kit_guest *g, char *path, const char *name, const char *line)
{
	char buf[512], *tmp, want[128];
	FILE *in, *out;
	int fd;

	strcpy(path, "/tmp/ktbpf-test-percpu-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	kit_kernel_write_system_map(g->kk, path, false);
	cr_assert_neq(asprintf(&tmp, "%s.new", path), -1);
	snprintf(want, sizeof(want), " %s\n", name);
	in = fopen(path, "r");
	out = fopen(tmp, "w");
	cr_assert(in && out);
	while (fgets(buf, sizeof(buf), in)) {
		size_t n = strlen(buf), w = strlen(want);

		if (n > w && !strcmp(buf + n - w, want) && buf[16] == ' ') {
			if (line)
				fprintf(out, "%s\n", line);
			continue;
		}
		fputs(buf, out);
	}
	fclose(in);
	fclose(out);
	cr_assert_eq(rename(tmp, path), 0);
	free(tmp);
}

static uint64_t this_cpu_off_pa(struct kit_guest *g, uint32_t cpu)
{
	return kit_kernel_percpu_pa(g->kk, kit_kernel_symbol(g->kk, "this_cpu_off"), cpu);
}

Test(percpu, holes_in_possible_mask_with_boot_offsets_not_summed)
{
	for (int rel = 0; rel < 2; rel++) {
		/* CPUs 2 and 4 are not possible; their entries keep the boot value. */
		struct kit_guest_opts o = {
			.kernel = {.nr_cpus = 6, .possible_holes = 0x14, .relative_percpu = rel}};
		struct kit_guest *g = kit_guest_new(&o);
		const struct ktbpf_cpu *cpus;
		static const uint32_t want[] = {0, 1, 3, 5};
		uint32_t nr;

		/* The trap is armed: a hole's copy holds counters a wrong walk would add. */
		cr_assert_neq(g->progs[0].per_cpu[2][0], 0);
		if (!rel)
			cr_assert_eq(g->kk->percpu_offset[2], g->kk->percpu_load_kva,
				     "before 6.15 a hole holds __per_cpu_load, not 0");
		cpus = ktbpf_kernel_cpus(kit_guest_kernel(g), &nr);
		cr_assert_eq(nr, 4);
		for (uint32_t i = 0; i < nr; i++) {
			cr_assert_eq(cpus[i].cpu, want[i]);
			cr_assert_eq(cpus[i].offset, g->kk->percpu_offset[want[i]]);
		}
		cr_assert_eq(ktbpf_kernel_info(kit_guest_kernel(g))->nr_cpu_ids, 6);
		assert_sums(g, 4);
		kit_guest_free(g);
	}
}

Test(percpu, cpus_below_nr_cpu_ids_but_not_possible_not_read)
{
	/* nr_cpu_ids 6 but only CPUs 0 and 1 possible: entries 2..5 hold __per_cpu_load. */
	struct kit_guest_opts o = {.kernel = {.nr_cpus = 2, .nr_cpu_ids_raw = 6}};
	struct kit_guest *g = kit_guest_new(&o);

	assert_sums(g, 2);
	cr_assert_eq(ktbpf_kernel_info(kit_guest_kernel(g))->nr_possible_cpus, 2);
	kit_guest_free(g);
}

/*
 * x86_64 6.15+: __per_cpu_offset[n] is unit - __per_cpu_start, not a
 * direct-map address, per-CPU symbols live in the image, kallsyms has no
 * absolute per-CPU entries. Discovered from RAM alone, 5-level, KASLR.
 */
Test(percpu, relative_scheme_6_15_sums_from_ram)
{
	struct kit_guest_opts o = {
		.kernel = {.nr_cpus = 4, .relative_percpu = true, .l5 = true, .slide = 0x2a00000}};
	struct kit_guest *g = kit_guest_new(&o);
	const struct ktbpf_kernel_info *in = ktbpf_kernel_info(kit_guest_kernel(g));
	const struct ktbpf_cpu *cpus = ktbpf_kernel_cpus(kit_guest_kernel(g), NULL);

	cr_assert_eq(in->percpu_scheme, KTBPF_PERCPU_RELATIVE);
	cr_assert_str_eq(ktbpf_percpu_scheme_name(in->percpu_scheme), "relative");
	cr_assert_neq(cpus[1].offset, g->kk->page_offset + g->kk->percpu_unit_pa[1],
		      "the offset is not the unit's address");
	cr_assert_eq(cpus[1].offset + g->kk->percpu_load_kva,
		     g->kk->page_offset + g->kk->percpu_unit_pa[1]);
	assert_sums(g, 4);
	kit_guest_free(g);
}

/* The same guest through a link-time System.map: image per-CPU symbols move with KASLR. */
Test(percpu, relative_scheme_6_15_from_link_time_system_map)
{
	struct kit_guest_opts o = {
		.kernel = {.nr_cpus = 3, .relative_percpu = true, .slide = 0x4600000}};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_kernel_hints h = {0};
	struct ktbpf_kernel *k = NULL;
	struct ktbpf_err err = {0};
	struct ktbpf_snapshot *s = ktbpf_snapshot_new();
	char path[64] = "/tmp/ktbpf-test-percpu-XXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	close(fd);
	kit_kernel_write_system_map(g->kk, path, true);
	h.system_map = kit_file(path);
	cr_assert_eq(ktbpf_kernel_discover(kit_mem(g->im), &h, &k, &err), 0, "%s", err.msg);
	cr_assert_eq(ktbpf_kernel_info(k)->percpu_scheme, KTBPF_PERCPU_RELATIVE);
	cr_assert_eq(ktbpf_progs_walk(k, s, &err), 0, "%s", err.msg);
	for (size_t i = 0; i < s->nr_progs; i++)
		cr_assert_eq(s->progs[i].cnt, kit_guest_prog(g, s->progs[i].id)->cnt);
	cr_assert_eq(s->nr_diags, 0);
	ktbpf_snapshot_free(s);
	ktbpf_kernel_free(k);
	unlink(path);
	kit_guest_free(g);
}

/* CONFIG_FORCE_NR_CPUS: nr_cpu_ids is the constant NR_CPUS, no symbol; bound by struct cpumask. */
Test(percpu, no_nr_cpu_ids_symbol_bounded_by_btf_cpumask)
{
	for (int rel = 0; rel < 2; rel++) {
		struct kit_guest_opts o = {
			.kernel = {.nr_cpus = 5, .no_nr_cpu_ids = true, .relative_percpu = rel}};
		struct kit_guest *g = kit_guest_new(&o);
		const struct ktbpf_kernel_info *in;

		cr_assert_eq(kit_kernel_symbol(g->kk, "nr_cpu_ids"), 0);
		in = ktbpf_kernel_info(kit_guest_kernel(g));
		cr_assert_eq(in->nr_cpu_ids, 64, "NR_CPUS of the kit's struct cpumask");
		cr_assert_eq(in->nr_possible_cpus, 5);
		assert_sums(g, 5);
		kit_guest_free(g);
	}
}

/* A mask with every bit set, past nr_cpu_ids and past the cpumask itself. */
static void mask_all_ones(struct kit_guest *g)
{
	uint8_t ones[64];

	memset(ones, 0xff, sizeof(ones));
	kit_kernel_wkva(g->kk, kit_kernel_symbol(g->kk, "__cpu_possible_mask"), ones, sizeof(ones));
}

Test(percpu, hostile_mask_all_ones_bounded_by_nr_cpu_ids)
{
	struct kit_guest_opts o = {.kernel = {.nr_cpus = 4}};
	struct kit_guest *g = kit_guest_new(&o);

	mask_all_ones(g);
	cr_assert_eq(ktbpf_kernel_info(kit_guest_kernel(g))->nr_possible_cpus, 4);
	assert_sums(g, 4);
	kit_guest_free(g);
}

Test(percpu, hostile_mask_all_ones_without_nr_cpu_ids_is_an_error)
{
	for (int rel = 0; rel < 2; rel++) {
		struct kit_guest_opts o = {
			.kernel = {.nr_cpus = 4, .no_nr_cpu_ids = true, .relative_percpu = rel}};
		struct kit_guest *g = kit_guest_new(&o);
		struct ktbpf_err err = {0};

		mask_all_ones(g);
		/* CPUs 4..63 (NR_CPUS) now claim the one boot value: never summed. */
		cr_assert_eq(unit_discover_fails(kit_mem(g->im), NULL, &err), -EUCLEAN, "%s",
			     err.msg);
		cr_assert_not_null(strstr(err.msg, "CPUs 4 and 5 have the same __per_cpu_offset"),
				   "%s", err.msg);
		kit_guest_free(g);
	}
}

Test(percpu, empty_possible_mask_is_an_error)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_err err = {0};

	kit_kernel_w64(g->kk, kit_kernel_symbol(g->kk, "__cpu_possible_mask"), 0);
	cr_assert_eq(unit_discover_fails(kit_mem(g->im), NULL, &err), -EUCLEAN);
	cr_assert_not_null(strstr(err.msg, "__cpu_possible_mask has no CPU"), "%s", err.msg);
	kit_guest_free(g);
}

Test(percpu, unknown_scheme_is_named)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_kernel_hints h = {0};
	struct ktbpf_err err = {0};
	char path[64];

	map_with(g, path, "__per_cpu_start", "0000000000001000 A __per_cpu_start");
	h.system_map = kit_file(path);
	cr_assert_eq(unit_discover_fails(kit_mem(g->im), &h, &err), -EOPNOTSUPP);
	cr_assert_not_null(strstr(err.msg, "unknown per-CPU scheme: __per_cpu_start is 0x1000"),
			   "%s", err.msg);
	unlink(path);
	kit_guest_free(g);
}

Test(percpu, missing_symbols_named)
{
	static const char *const names[] = {"__per_cpu_start", "__cpu_possible_mask",
					    "__per_cpu_offset"};

	for (int i = 0; i < 3; i++) {
		struct kit_guest *g = kit_guest_new(NULL);
		struct ktbpf_kernel_hints h = {0};
		struct ktbpf_err err = {0};
		char path[64];

		map_with(g, path, names[i], NULL);
		h.system_map = kit_file(path);
		cr_assert_eq(unit_discover_fails(kit_mem(g->im), &h, &err), -ENOENT);
		cr_assert_not_null(strstr(err.msg, names[i]), "%s", err.msg);
		unlink(path);
		kit_guest_free(g);
	}
}

/*
 * A 6.15+ guest read as if it were zero-based (a System.map saying
 * __per_cpu_start is 0): its offsets are then taken for unit addresses,
 * which are not in RAM. Refused, naming the CPU and the scheme.
 */
Test(percpu, relative_guest_taken_for_zero_based_is_refused)
{
	struct kit_guest_opts o = {.kernel = {.nr_cpus = 2, .relative_percpu = true}};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_kernel_hints h = {0};
	struct ktbpf_err err = {0};
	char path[64];

	map_with(g, path, "__per_cpu_start", "0000000000000000 A __per_cpu_start");
	h.system_map = kit_file(path);
	cr_assert_eq(unit_discover_fails(kit_mem(g->im), &h, &err), -ENOENT, "not mapped: %s",
		     err.msg);
	cr_assert_not_null(strstr(err.msg, "CPU 0's per-CPU area (zero-based scheme"), "%s",
			   err.msg);
	unlink(path);
	kit_guest_free(g);
}

Test(percpu, this_cpu_off_not_its_offset_is_not_understood)
{
	for (int rel = 0; rel < 2; rel++) {
		struct kit_guest_opts o = {.kernel = {.nr_cpus = 3, .relative_percpu = rel}};
		struct kit_guest *g = kit_guest_new(&o);
		struct ktbpf_err err = {0};

		kit_w64(g->im, this_cpu_off_pa(g, 2), g->kk->percpu_offset[2] + 0x1000);
		cr_assert_eq(unit_discover_fails(kit_mem(g->im), NULL, &err), -EUCLEAN);
		cr_assert_not_null(strstr(err.msg, "per-CPU scheme not understood"), "%s", err.msg);
		cr_assert_not_null(strstr(err.msg, rel ? "(relative)" : "(zero-based)"), "%s",
				   err.msg);
		cr_assert_not_null(strstr(err.msg, "CPU 2"), "%s", err.msg);
		kit_guest_free(g);
	}
}

Test(percpu, two_cpus_sharing_an_area_is_an_error)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_err err = {0};
	uint64_t arr = kit_kernel_symbol(g->kk, "__per_cpu_offset");

	kit_kernel_w64(g->kk, arr + 8 * 3, g->kk->percpu_offset[1]);
	cr_assert_eq(unit_discover_fails(kit_mem(g->im), NULL, &err), -EUCLEAN);
	cr_assert_not_null(strstr(err.msg, "CPUs 1 and 3 have the same __per_cpu_offset"), "%s",
			   err.msg);
	kit_guest_free(g);
}

Test(percpu, cpu_area_outside_ram_is_an_error)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_err err = {0};
	uint64_t arr = kit_kernel_symbol(g->kk, "__per_cpu_offset");

	kit_kernel_w64(g->kk, arr + 8 * 3, 0xffffc90fffff0000ull); /* unmapped vmalloc */
	cr_assert_eq(unit_discover_fails(kit_mem(g->im), NULL, &err), -ENOENT, "not mapped: %s",
		     err.msg);
	cr_assert_not_null(strstr(err.msg, "CPU 3's per-CPU area (zero-based scheme"), "%s",
			   err.msg);
	kit_guest_free(g);
}

/*
 * ktbpf_percpu_load() alone over a kit guest without nr_cpu_ids, with a BTF
 * whose struct cpumask is size bytes (0: no struct cpumask at all).
 */
static int load_with_cpumask(uint32_t size, struct ktbpf_percpu *p, struct ktbpf_err *err)
{
	struct kit_guest_opts o = {.kernel = {.nr_cpus = 2, .no_nr_cpu_ids = true}};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_symtab *t = ktbpf_symtab_new();
	struct btf *btf = btf__new_empty();
	char path[64] = "/tmp/ktbpf-test-percpu-XXXXXX";
	int fd = mkstemp(path), r;
	struct ktbpf_xlate *x;

	cr_assert(fd >= 0 && t && btf);
	close(fd);
	kit_kernel_write_system_map(g->kk, path, false);
	cr_assert_eq(ktbpf_symtab_load_system_map(t, kit_file(path)->fd, path, err), 0, "%s",
		     err->msg);
	cr_assert_eq(ktbpf_symtab_finish(t), 0);
	if (size) {
		int ul = btf__add_int(btf, "long unsigned int", 8, 0);
		int arr = btf__add_array(btf, ul, ul, size / 8);

		cr_assert_gt(btf__add_struct(btf, "cpumask", size), 0);
		cr_assert_eq(btf__add_field(btf, "bits", arr, 0, 0), 0);
	}
	x = ktbpf_kernel_xlate_new(kit_guest_kernel(g));
	r = ktbpf_percpu_load(x, t, btf, p, err);
	ktbpf_xlate_free(x);
	btf__free(btf);
	ktbpf_symtab_free(t);
	unlink(path);
	kit_guest_free(g);
	return r;
}

Test(percpu, no_nr_cpu_ids_and_no_cpumask_in_btf_is_an_error)
{
	struct ktbpf_percpu p = {0};
	struct ktbpf_err err = {0};

	cr_assert_eq(load_with_cpumask(0, &p, &err), -ENOENT);
	cr_assert_not_null(strstr(err.msg, "number of CPUs is unknown"), "%s", err.msg);
	cr_assert_null(p.cpus);
}

Test(percpu, hostile_cpumask_size_without_nr_cpu_ids_is_bounded)
{
	struct ktbpf_percpu p = {0};
	struct ktbpf_err err = {0};

	/* 1 MiB of bits: more CPUs than any NR_CPUS. */
	cr_assert_eq(load_with_cpumask(1u << 20, &p, &err), -EUCLEAN);
	cr_assert_not_null(strstr(err.msg, "struct cpumask holds 8388608 CPUs"), "%s", err.msg);
	/* 128 bits is a plausible NR_CPUS: CPUs 0 and 1 of the kit's mask. */
	cr_assert_eq(load_with_cpumask(16, &p, &err), 0, "%s", err.msg);
	cr_assert_eq(p.nr_cpu_ids, 128);
	cr_assert(p.nr_cpu_ids_forced);
	cr_assert_eq(p.nr, 2);
	ktbpf_percpu_deinit(&p);
	cr_assert_null(p.cpus);
	ktbpf_percpu_deinit(NULL);
}
