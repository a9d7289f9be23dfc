/* SPDX-License-Identifier: MIT */
/*
 * The failure-dump report (DESIGN §3 "dump"): a plain C struct that copies
 * the kernel facts and owns the snapshot, so it outlives the kernel and the
 * walk that produced it (a dump of a dead guest is kept after its VM goes).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ktbpf/dump.h"

int ktbpf_dump_new(const struct ktbpf_kernel *k, struct ktbpf_snapshot *snap, const char *vm,
		   bool frozen, uint64_t freeze_ns, struct ktbpf_dump **ret, struct ktbpf_err *err)
{
	struct ktbpf_dump *d;
	struct timespec ts;
	int r;

	if (!k || !snap || !ret) {
		r = ktbpf_err_set(err, -EINVAL, "a dump needs a kernel, a snapshot and a result");
		goto fail;
	}
	if (vm && strlen(vm) >= sizeof(d->vm)) {
		r = ktbpf_err_set(err, -ENAMETOOLONG, "VM name '%.16s...' longer than %zu bytes",
				  vm, sizeof(d->vm) - 1);
		goto fail;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		r = ktbpf_err_set(err, -ENOMEM, "out of memory for a failure dump");
		goto fail;
	}
	d->schema = KTBPF_DUMP_SCHEMA;
	d->version = KTBPF_DUMP_VERSION;
	if (vm)
		strcpy(d->vm, vm);
	d->kernel = *ktbpf_kernel_info(k);
	clock_gettime(CLOCK_REALTIME, &ts);
	d->time_unix_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	d->frozen = frozen;
	d->freeze_ns = freeze_ns;
	d->walk_ns = snap->walk_ns;
	d->snap = snap;
	*ret = d;
	return 0;
fail:
	ktbpf_snapshot_free(snap);
	return r;
}

struct ktbpf_dump *ktbpf_dump_free(struct ktbpf_dump *d)
{
	if (d) {
		ktbpf_snapshot_free(d->snap);
		free(d);
	}
	return NULL;
}
