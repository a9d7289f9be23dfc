/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_DUMP_H
#define KTBPF_DUMP_H

/*
 * The failure-dump report as a C struct: what a test runner keeps when a test
 * fails. Versioned by schema name + version so readers can reject what they
 * do not understand. rpc/ turns it into JSON; lib/ knows nothing of JSON.
 *
 * Thread safety: a struct ktbpf_dump is plain data owned by one caller; it
 * shares nothing with the kernel or other dumps.
 */

#include <stdbool.h>
#include <stdint.h>

#include "ktbpf/err.h"
#include "ktbpf/kernel.h"
#include "ktbpf/progs.h"

#define KTBPF_DUMP_SCHEMA  "ktbpf.failure-dump"
#define KTBPF_DUMP_VERSION 1

struct ktbpf_dump {
	const char *schema;		 /* KTBPF_DUMP_SCHEMA */
	uint32_t version;		 /* KTBPF_DUMP_VERSION */
	char vm[64];			 /* VM name, "" for an offline file */
	struct ktbpf_kernel_info kernel; /* copy */
	int64_t time_unix_ns;		 /* when the dump was taken (host clock) */
	bool frozen;			 /* guest vCPUs were paused during the walk */
	uint64_t freeze_ns, walk_ns;
	struct ktbpf_snapshot *snap; /* owned by the dump */
};

/*
 * Build a dump from a finished walk. Takes ownership of snap (also on
 * failure). vm may be NULL. Free with ktbpf_dump_free().
 */
int ktbpf_dump_new(const struct ktbpf_kernel *k, struct ktbpf_snapshot *snap, const char *vm,
		   bool frozen, uint64_t freeze_ns, struct ktbpf_dump **ret, struct ktbpf_err *err);
struct ktbpf_dump *ktbpf_dump_free(struct ktbpf_dump *d);

#endif
