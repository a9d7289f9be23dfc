/* SPDX-License-Identifier: MIT */
#ifndef KTBPFCTL_H
#define KTBPFCTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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

/*
 * inspect.c: a RAM session for other offline commands (vars): inspect's
 * options (--ram, --region, files, hints, --json, budgets; plus one
 * positional argument and --map-id) parsed for command cmd (usage prints
 * its --help), the kernel discovered and walked once. Returns -1 with *ret
 * set, else the exit status (help, usage error, failure: already printed).
 */
struct ktbpfctl_ram;
struct ktbpf_kernel;
struct ktbpf_snapshot;
int ktbpfctl_ram_open(const char *cmd, void (*usage)(FILE *out), int argc, char **argv,
		      struct ktbpfctl_ram **ret);
void ktbpfctl_ram_free(struct ktbpfctl_ram *ram);
const struct ktbpf_kernel *ktbpfctl_ram_kernel(const struct ktbpfctl_ram *ram);
struct ktbpf_snapshot *ktbpfctl_ram_snapshot(struct ktbpfctl_ram *ram);
bool ktbpfctl_ram_json(const struct ktbpfctl_ram *ram);
const char *ktbpfctl_ram_arg(const struct ktbpfctl_ram *ram); /* NULL: none */
const uint32_t *ktbpfctl_ram_map_ids(const struct ktbpfctl_ram *ram, size_t *ret_nr);
/* One error line on stderr (and {"error": msg} on stdout with --json); returns status. */
int ktbpfctl_ram_fail(const struct ktbpfctl_ram *ram, int status, const char *msg);

/* vars.c: a BPF object's variables by name. */
int ktbpfctl_vars(int argc, char **argv);
void ktbpfctl_vars_usage(FILE *out);

/* list, status, snapshot: commands that ask ktbpfd (daemon-cmds.c). */
int ktbpfctl_list(int argc, char **argv);
int ktbpfctl_status(int argc, char **argv);
int ktbpfctl_snapshot(int argc, char **argv);
void ktbpfctl_daemon_usage(const char *cmd, FILE *out);

/* dump-cmds.c: take a failure dump now; the dump store (list, info, export, rm). */
int ktbpfctl_dump(int argc, char **argv);
int ktbpfctl_dumps(int argc, char **argv);

/* top.c: a live table of a VM's programs' rates (delta.c's arithmetic). */
int ktbpfctl_top(int argc, char **argv);
void ktbpfctl_top_usage(FILE *out);

/* diff.c: what changed between two dumps or snapshots (delta.c's arithmetic). */
int ktbpfctl_diff(int argc, char **argv);
void ktbpfctl_diff_usage(FILE *out);

/* metrics-cmd.c: ktbpfd's metrics.get as Prometheus text. */
int ktbpfctl_metrics(int argc, char **argv);

/* render.c: a document's members. A counter: an integer, or a decimal or "0x" string; else 0. */
uint64_t ktbpfctl_json_u64(const json_t *o, const char *key);
/* A string member; none when absent, not a string or empty. */
const char *ktbpfctl_json_str(const json_t *o, const char *key, const char *none);

/*
 * One error line "ktbpfctl CMD: message" ("ktbpfctl: message" for a NULL cmd) on stderr (and
 * {"error": message} on stdout when json); returns status.
 */
__attribute__((format(printf, 4, 5))) int ktbpfctl_fail(const char *cmd, bool json, int status,
							const char *fmt, ...);

/*
 * --freeze's value (snapshot, dump, top): 0 when it is a mode ktbpfd takes (require, prefer,
 * never), else the usage error said as ktbpfctl_fail() says it, and KTBPFCTL_EXIT_USAGE.
 */
int ktbpfctl_check_freeze(const char *cmd, bool json, const char *value);

/*
 * Make every string of doc safe to print on a terminal (guest text may hold
 * escape sequences): control characters but newline and tab become '?'.
 * Call before printing text, never before printing JSON (which escapes them).
 */
void ktbpfctl_json_printable(json_t *doc);

/* render.c: the table for a Snapshot JSON document (inspect and snapshot alike). */
void ktbpfctl_render_snapshot(const json_t *snap);
/* A Vars document (ktbpf/codec-vars.h: `vars --json`, a Snapshot's "vars") as a tree. */
void ktbpfctl_render_vars(const json_t *vars);
/* The "kernel" block of it. */
void ktbpfctl_render_kernel(const json_t *kernel);
/* Why the Snapshot is not whole, in words (false when it is whole). */
bool ktbpfctl_snapshot_incomplete(const json_t *snap, char *why, size_t size);

#endif
