/* SPDX-License-Identifier: MIT */
/*
 * ktbpf-qemu's RAM layout: sizes as QEMU's -m takes them, machine types, the
 * split around the PCI hole for pc and q35 at and around the thresholds, and
 * QEMU's own `info mtree` text (as QMP returns it, \r\n) read back, including
 * hostile or unexpected text.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "layout.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

Test(qemu_layout, size_accepts_qemu_suffixes_and_plain_mib)
{
	uint64_t v = 0;

	cr_assert_eq(layout_parse_size("512", &v), 0);
	cr_assert_eq(v, 512 * MiB);
	cr_assert_eq(layout_parse_size("3.5G", &v), 0);
	cr_assert_eq(v, 3584 * MiB);
	cr_assert_eq(layout_parse_size("4096k", &v), 0);
	cr_assert_eq(v, 4 * MiB);
	cr_assert_eq(layout_parse_size("1T", &v), 0);
	cr_assert_eq(v, 1024 * GiB);
	cr_assert_eq(layout_parse_size("8192B", &v), 0);
	cr_assert_eq(v, 8192);
}

Test(qemu_layout, size_rejects_garbage_zero_and_overflow)
{
	uint64_t v = 7;

	cr_assert_eq(layout_parse_size("", &v), -EINVAL);
	cr_assert_eq(layout_parse_size("0", &v), -EINVAL);
	cr_assert_eq(layout_parse_size("12Q", &v), -EINVAL);
	cr_assert_eq(layout_parse_size("1.G", &v), -EINVAL);
	cr_assert_eq(layout_parse_size("-1G", &v), -EINVAL);
	cr_assert_eq(layout_parse_size("99999999999999999999", &v), -ERANGE);
	cr_assert_eq(layout_parse_size("9000000000T", &v), -ERANGE);
	cr_assert_eq(v, 7, "a failed parse must not write the result");
}

Test(qemu_layout, machine_types_and_versions)
{
	enum layout_machine m;
	struct ktbpf_err err = {0};

	cr_assert_eq(layout_parse_machine("q35", &m, &err), 0);
	cr_assert_eq(m, LAYOUT_Q35);
	cr_assert_eq(layout_parse_machine("pc-q35-7.2,accel=tcg", &m, &err), 0);
	cr_assert_eq(m, LAYOUT_Q35);
	cr_assert_eq(layout_parse_machine("type=pc-i440fx-7.2", &m, &err), 0);
	cr_assert_eq(m, LAYOUT_PC);
	cr_assert_eq(layout_parse_machine("pc", &m, &err), 0);
	cr_assert_eq(m, LAYOUT_PC);
	cr_assert_eq(layout_parse_machine("microvm", &m, &err), -EOPNOTSUPP);
	cr_assert(strstr(err.msg, "microvm"), "%s", err.msg);
}

static void check(enum layout_machine m, uint64_t size, unsigned n, uint64_t low)
{
	struct layout l;

	layout_compute(m, size, &l);
	cr_assert_eq(l.n, n, "size 0x%llx", (unsigned long long)size);
	cr_assert_eq(l.r[0].gpa, 0);
	cr_assert_eq(l.r[0].offset, 0);
	cr_assert_eq(l.r[0].size, low, "size 0x%llx: low 0x%llx", (unsigned long long)size,
		     (unsigned long long)l.r[0].size);
	if (n == 2) {
		cr_assert_eq(l.r[1].gpa, 4 * GiB);
		cr_assert_eq(l.r[1].offset, low);
		cr_assert_eq(l.r[1].size, size - low);
	}
}

Test(qemu_layout, q35_splits_at_2g_from_2_75g)
{
	check(LAYOUT_Q35, 512 * MiB, 1, 512 * MiB);
	check(LAYOUT_Q35, 0xb0000000ULL - 4096, 1, 0xb0000000ULL - 4096);
	check(LAYOUT_Q35, 0xb0000000ULL, 2, 2 * GiB);
	check(LAYOUT_Q35, 3584 * MiB, 2, 2 * GiB);
	check(LAYOUT_Q35, 64 * GiB, 2, 2 * GiB);
}

Test(qemu_layout, pc_splits_at_3g_from_3_5g)
{
	check(LAYOUT_PC, 128 * MiB, 1, 128 * MiB);
	check(LAYOUT_PC, 3 * GiB, 1, 3 * GiB);
	check(LAYOUT_PC, 0xe0000000ULL - 4096, 1, 0xe0000000ULL - 4096);
	check(LAYOUT_PC, 3584 * MiB, 2, 3 * GiB);
	check(LAYOUT_PC, 8 * GiB, 2, 3 * GiB);
}

/* QEMU 7.2's `info mtree` for q35 -m 3584 (abridged), through QMP. */
static const char q35_mtree[] =
	"address-space: cpu-memory-0\r\n"
	"address-space: memory\r\n"
	"  0000000000000000-ffffffffffffffff (prio 0, i/o): system\r\n"
	"    0000000000000000-000000007fffffff (prio 0, ram): alias ram-below-4g @ktbpf-ram "
	"0000000000000000-000000007fffffff\r\n"
	"    00000000000a0000-00000000000bffff (prio 1, i/o): alias smram-region @pci "
	"00000000000a0000-00000000000bffff\r\n"
	"    0000000100000000-000000015fffffff (prio 0, ram): alias ram-above-4g @ktbpf-ram "
	"0000000080000000-00000000dfffffff\r\n"
	"\r\n"
	"address-space: I/O\r\n"
	"  0000000000000000-000000000000ffff (prio 0, i/o): io\r\n"
	"\r\n"
	"memory-region: system\r\n"
	"    0000000000000000-000000003fffffff (prio 0, ram): alias ram-below-4g @ktbpf-ram "
	"0000000000000000-000000003fffffff\r\n";

Test(qemu_layout, mtree_q35_split_matches_computed)
{
	struct ktbpf_err err = {0};
	struct layout want, got;

	cr_assert_eq(layout_from_mtree(q35_mtree, "ktbpf-ram", &got, &err), 0, "%s", err.msg);
	cr_assert_eq(got.n, 2);
	cr_assert_eq(got.r[1].gpa, 4 * GiB);
	cr_assert_eq(got.r[1].offset, 2 * GiB);
	cr_assert_eq(got.r[1].size, 1536 * MiB);
	layout_compute(LAYOUT_Q35, 3584 * MiB, &want);
	cr_assert_eq(layout_compare(&want, &got, &err), 0, "%s", err.msg);
	/* the pc rule gives another table: it must be refused, naming the difference */
	layout_compute(LAYOUT_PC, 3584 * MiB, &want);
	cr_assert_eq(layout_compare(&want, &got, &err), -EPROTO);
	cr_assert(strstr(err.msg, "region 0"), "%s", err.msg);
}

/* QEMU 7.2, -M pc-q35-2.4 -m 3G: old machine types name the backend by its QOM path. */
static const char q35_old_mtree[] =
	"address-space: memory\r\n"
	"  0000000000000000-ffffffffffffffff (prio 0, i/o): system\r\n"
	"    0000000000000000-000000007fffffff (prio 0, ram): alias ram-below-4g "
	"@/objects/ktbpf-ram 0000000000000000-000000007fffffff\r\n"
	"    0000000100000000-000000013fffffff (prio 0, ram): alias ram-above-4g "
	"@/objects/ktbpf-ram 0000000080000000-00000000bfffffff\r\n"
	"\r\n";

Test(qemu_layout, mtree_old_machine_type_names_backend_by_qom_path)
{
	struct ktbpf_err err = {0};
	struct layout want, got;

	cr_assert_eq(layout_from_mtree(q35_old_mtree, "ktbpf-ram", &got, &err), 0, "%s", err.msg);
	layout_compute(LAYOUT_Q35, 3 * GiB, &want);
	cr_assert_eq(layout_compare(&want, &got, &err), 0, "%s", err.msg);
	/* another backend's QOM path is still not ours */
	cr_assert_eq(layout_from_mtree(q35_old_mtree, "ktbpf", &got, &err), -ENOENT);
}

Test(qemu_layout, mtree_ignores_other_backends_and_address_spaces)
{
	struct ktbpf_err err = {0};
	struct layout got;

	/* the only aliases of "other" are outside address-space: memory */
	cr_assert_eq(layout_from_mtree(q35_mtree, "other", &got, &err), -ENOENT);
	cr_assert_eq(
		layout_from_mtree("address-space: memory\n  nothing\n", "ktbpf-ram", &got, &err),
		-ENOENT);
	cr_assert_eq(layout_from_mtree("", "ktbpf-ram", &got, &err), -ENOENT);
}

Test(qemu_layout, mtree_rejects_inconsistent_alias_lines)
{
	static const char *const bad[] = {
		/* the alias range is not the size of the mapped range */
		"address-space: memory\n  0-0 (prio 0, i/o): system\n"
		"    0000000000000000-000000007fffffff (prio 0, ram): alias ram-below-4g "
		"@ktbpf-ram "
		"0000000000000000-00000000000fffff\n",
		/* end before start */
		"address-space: memory\n  0-0 (prio 0, i/o): system\n"
		"    0000000000001000-0000000000000fff (prio 0, ram): alias ram-below-4g "
		"@ktbpf-ram "
		"0000000000001000-0000000000000fff\n",
		/* no range after the backend */
		"address-space: memory\n  0-0 (prio 0, i/o): system\n"
		"    0000000000000000-000000007fffffff (prio 0, ram): alias ram-below-4g "
		"@ktbpf-ram "
		"zz\n",
	};
	struct ktbpf_err err = {0};
	struct layout got;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(layout_from_mtree(bad[i], "ktbpf-ram", &got, &err), -EINVAL,
			     "case %zu", i);
		cr_assert(strstr(err.msg, "ram-below-4g"), "%s", err.msg);
	}
}

Test(qemu_layout, mtree_long_line_is_cut_not_overrun)
{
	static char text[8192];
	struct ktbpf_err err = {0};
	struct layout got;
	size_t n;

	n = (size_t)snprintf(text, sizeof(text), "address-space: memory\n  ");
	memset(text + n, 'x', sizeof(text) - n - 2);
	text[sizeof(text) - 2] = '\n';
	cr_assert_eq(layout_from_mtree(text, "ktbpf-ram", &got, &err), -ENOENT);
}

Test(qemu_layout, qemu_table_is_taken_only_when_whole_and_consistent)
{
	struct ktbpf_err err = {0};
	struct layout l;

	/* pc, max-ram-below-4g=2G, -m 3G: QEMU's own split, not the 3 GiB rule */
	l = (struct layout){.r = {{0, 2 * GiB, 0}, {4 * GiB, GiB, 2 * GiB}}, .n = 2};
	cr_assert_eq(layout_validate(&l, 3 * GiB, &err), 0, "%s", err.msg);
	/* a region past the RAM file, a gap, a short total, overlapping guest ranges */
	l = (struct layout){.r = {{0, 2 * GiB, 0}, {4 * GiB, 2 * GiB, 2 * GiB}}, .n = 2};
	cr_assert_eq(layout_validate(&l, 3 * GiB, &err), -EPROTO);
	l = (struct layout){.r = {{0, GiB, 0}, {4 * GiB, GiB, 2 * GiB}}, .n = 2};
	cr_assert_eq(layout_validate(&l, 2 * GiB, &err), -EPROTO);
	l = (struct layout){.r = {{0, GiB, 0}}, .n = 1};
	cr_assert_eq(layout_validate(&l, 2 * GiB, &err), -EPROTO);
	cr_assert(strstr(err.msg, "hold"), "%s", err.msg);
	l = (struct layout){.r = {{0, 2 * GiB, 0}, {GiB, GiB, 2 * GiB}}, .n = 2};
	cr_assert_eq(layout_validate(&l, 3 * GiB, &err), -EPROTO);
	cr_assert(strstr(err.msg, "overlap"), "%s", err.msg);
	/* a guest range that wraps, an empty region, no region */
	l = (struct layout){.r = {{UINT64_MAX - 4095, 8192, 0}}, .n = 1};
	cr_assert_eq(layout_validate(&l, 8192, &err), -EPROTO);
	l = (struct layout){.r = {{0, 0, 0}, {0, GiB, 0}}, .n = 2};
	cr_assert_eq(layout_validate(&l, GiB, &err), -EPROTO);
	l = (struct layout){.n = 0};
	cr_assert_eq(layout_validate(&l, GiB, &err), -EPROTO);
}

static uint32_t smp1(const char *s)
{
	return layout_smp_cpus(&s, 1);
}

Test(qemu_layout, smp_counts_cpus_as_qemu_does)
{
	const char *merged[] = {"sockets=2,cores=2", "threads=2"};
	const char *override[] = {"4", "cpus=6"};

	cr_assert_eq(smp1("4"), 4);
	cr_assert_eq(smp1("cpus=3"), 3);
	cr_assert_eq(smp1("4,sockets=2,cores=2"), 4);
	/* No count given: the product of the topology, each missing level 1. */
	cr_assert_eq(smp1("sockets=2,cores=2"), 4);
	cr_assert_eq(smp1("sockets=2,dies=2,clusters=2,cores=2,threads=2"), 32);
	cr_assert_eq(smp1("cores=3"), 3);
	/* maxcpus stands for cpus when cpus is not given, and only then. */
	cr_assert_eq(smp1("maxcpus=8,sockets=2"), 8);
	cr_assert_eq(smp1("2,maxcpus=8"), 2);
	/* Repeated -smp options merge, a later key winning. */
	cr_assert_eq(layout_smp_cpus(merged, 2), 8);
	cr_assert_eq(layout_smp_cpus(override, 2), 6);
}

Test(qemu_layout, smp_unknown_is_zero_never_a_guess)
{
	cr_assert_eq(layout_smp_cpus(NULL, 0), 0);
	cr_assert_eq(smp1("sockets=two"), 0);
	cr_assert_eq(smp1("cpus="), 0);
	cr_assert_eq(smp1("sockets=2,bogus=1"), 0);
	cr_assert_eq(smp1("sockets=2,4"), 0); /* a bare count only leads */
	cr_assert_eq(smp1("cpus=99999999999999999999"), 0);
	cr_assert_eq(smp1("sockets=1024,cores=1024,threads=2"), 0);
}
