/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_QEMU_ARGS_H
#define KTBPF_QEMU_ARGS_H

/*
 * ktbpf-qemu's command line: its own options, then QEMU's arguments, of
 * which it reads the few that decide the RAM layout (-m, -machine) and the
 * ones it must refuse (a second RAM backend, -daemonize), and adds its own
 * (the RAM backend, its QMP socket, -S).
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "layout.h"

/* The id of the RAM backend object and of the QMP chardev ktbpf-qemu adds. */
#define ARGS_RAM_ID "ktbpf-ram"
#define ARGS_QMP_ID "ktbpf-qmp"

struct opts {
	const char *socket; /* ktbpfd's */
	char *name;
	json_t *labels;
	bool require_monitor;
	const char *qemu;
	char **qemu_args; /* borrowed from argv */
	int nr_qemu_args;
	uint64_t ram_size;
	enum layout_machine machine;
	uint32_t cpus;
	bool user_stopped; /* the user passed -S: leave the guest stopped */
	/* QEMU is only asked to print something (-version, -M help, -cpu ?):
	 * no guest runs, so QEMU is run as it is, with no RAM and no ktbpfd. */
	bool qemu_query;
};

/*
 * Parse argv. Returns 1 to run, 0 after --help/--version (printed), -1 on a
 * usage error (said on stderr).
 */
int args_parse(int argc, char **argv, struct opts *ret);
void args_free(struct opts *o);

/* QEMU's argv: o's QEMU and arguments plus ours. -ENOMEM. */
int args_qemu_argv(const struct opts *o, int ram_fd, int qmp_fd, char ***ret);
void args_free_argv(char **argv);

/* "ktbpf-qemu: " + a message + newline on stderr. */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
