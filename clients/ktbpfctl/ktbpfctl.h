/* SPDX-License-Identifier: MIT */
#ifndef KTBPFCTL_H
#define KTBPFCTL_H

#include <stdio.h>

/*
 * ktbpfctl's subcommands. Each one parses its own options from argv (argv[0]
 * is the subcommand name) and returns the process exit status.
 */

/* Exit statuses shared by every subcommand (documented in ktbpfctl --help and ktbpfctl(1)). */
enum {
	KTBPFCTL_EXIT_OK = 0,
	KTBPFCTL_EXIT_FAIL = 1,	 /* could not answer: input unreadable, kernel not found... */
	KTBPFCTL_EXIT_USAGE = 2, /* bad command line */
	/*
	 * An answer was printed but it is not whole: entries skipped, a cap
	 * hit, runtime stats incomplete or their state unknown, a torn snapshot.
	 */
	KTBPFCTL_EXIT_INCOMPLETE = 3,
	/*
	 * The guest kernel is not ready yet (no VMCOREINFO note: still
	 * booting, KTBPF_ERR_NOT_READY): the same command may succeed later.
	 */
	KTBPFCTL_EXIT_NOT_READY = 4,
};

int ktbpfctl_inspect(int argc, char **argv);
void ktbpfctl_inspect_usage(FILE *out);

#endif
