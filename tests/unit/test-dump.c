/* SPDX-License-Identifier: MIT */
/*
 * The failure-dump struct: schema and version, copies of the kernel facts,
 * ownership of the snapshot (ASan in CI catches a leak or double free).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "kit-guest.h"
#include "ktbpf/dump.h"
#include "unit.h"

Test(dump, new_fills_schema_version_kernel_and_owns_snapshot)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_snapshot *s = unit_walk(g);
	struct ktbpf_dump *d = NULL;
	struct ktbpf_err err = {0};
	struct timespec before;
	uint64_t walk_ns = s->walk_ns;

	clock_gettime(CLOCK_REALTIME, &before);
	cr_assert_eq(ktbpf_dump_new(kit_guest_kernel(g), s, "guest3", true, 1234, &d, &err), 0,
		     "%s", err.msg);
	cr_assert_str_eq(d->schema, KTBPF_DUMP_SCHEMA);
	cr_assert_str_eq(d->schema, "ktbpf.failure-dump");
	cr_assert_eq(d->version, KTBPF_DUMP_VERSION);
	cr_assert_str_eq(d->vm, "guest3");
	cr_assert(d->frozen);
	cr_assert_eq(d->freeze_ns, 1234);
	cr_assert_eq(d->walk_ns, walk_ns);
	cr_assert_eq(d->snap, s, "the snapshot is taken over, not copied");
	cr_assert_eq(d->snap->nr_progs, 4);
	cr_assert_geq(d->time_unix_ns, (int64_t)before.tv_sec * 1000000000 + before.tv_nsec);
	cr_assert_str_eq(d->kernel.release, ktbpf_kernel_info(kit_guest_kernel(g))->release);
	cr_assert_eq(d->kernel.kaslr_offset, g->kk->kerneloffset);
	cr_assert_null(ktbpf_dump_free(d));
	kit_guest_free(g);
}

Test(dump, outlives_the_kernel_it_describes)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_dump *d = NULL;
	char release[65];

	cr_assert_eq(ktbpf_dump_new(kit_guest_kernel(g), unit_walk(g), NULL, false, 0, &d, NULL),
		     0);
	memcpy(release, d->kernel.release, sizeof(release));
	kit_guest_free(g); /* the kernel and the image are gone */
	cr_assert_str_eq(d->kernel.release, release);
	cr_assert_str_eq(d->vm, "", "NULL vm is an offline dump");
	cr_assert_not(d->frozen);
	cr_assert_eq(d->snap->nr_progs, 4);
	ktbpf_dump_free(d);
}

Test(dump, errors_free_the_snapshot_and_leave_result_untouched)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_dump *d = (struct ktbpf_dump *)0x1;
	struct ktbpf_err err = {0};
	char vm[100];

	memset(vm, 'v', sizeof(vm) - 1);
	vm[sizeof(vm) - 1] = '\0';
	cr_assert_eq(ktbpf_dump_new(kit_guest_kernel(g), unit_walk(g), vm, false, 0, &d, &err),
		     -ENAMETOOLONG);
	cr_assert(strstr(err.msg, "VM name") != NULL);
	cr_assert_eq(ktbpf_dump_new(NULL, unit_walk(g), "x", false, 0, &d, &err), -EINVAL);
	cr_assert_eq(d, (struct ktbpf_dump *)0x1, "ret written only on success");
	cr_assert_eq(ktbpf_dump_new(kit_guest_kernel(g), NULL, "x", false, 0, &d, &err), -EINVAL);
	cr_assert_null(ktbpf_dump_free(NULL));
	kit_guest_free(g);
}
