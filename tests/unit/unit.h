/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_TEST_UNIT_H
#define KTBPF_TEST_UNIT_H

/*
 * Helpers the unit tests share (criterion assertions inside, so a failing
 * helper fails the test that called it): a checked walk of a kit guest, its
 * diagnostics, a whole file read, and a program run with its output
 * captured.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kit-guest.h"
#include "ktbpf/kernel.h"
#include "ktbpf/mem.h"
#include "ktbpf/progs.h"

/* The prog_idr walk of g into a new snapshot (free with ktbpf_snapshot_free()); asserts it
 * succeeds. */
struct ktbpf_snapshot *unit_walk(struct kit_guest *g);

/* Whether s has a diagnostic with code, for program prog_id, whose message contains text
 * (0 or NULL: any). */
bool unit_has_diag(const struct ktbpf_snapshot *s, int code, uint32_t prog_id, const char *text);

/* Log every diagnostic of s (criterion's info log), to explain a failure. */
void unit_log_diags(const struct ktbpf_snapshot *s);

/* s's programs are exactly g's struct_ops programs, in id order, field by field. */
void unit_assert_progs(const struct kit_guest *g, const struct ktbpf_snapshot *s);

/* Discovery over mem with hints h fails: returns its negative errno, err its one-line message. */
int unit_discover_fails(const struct ktbpf_mem *mem, const struct ktbpf_kernel_hints *h,
			struct ktbpf_err *err);

/* The whole file at path, NUL-terminated (caller frees); asserts it can be read. */
char *unit_slurp(const char *path);

/*
 * text equals the golden file dir/name; with KTBPF_UPDATE_GOLDEN set in the
 * environment the file is rewritten from text first.
 */
void unit_assert_golden(const char *text, const char *dir, const char *name);

/* Open fds of process pid (0: this one) in /proc. */
int unit_count_fds(pid_t pid);

/* A new memfd (sealable, close-on-exec) holding len bytes of buf. */
int unit_memfd(const void *buf, size_t len);

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t unit_mono_ms(void);

struct unit_run {
	int status; /* exit status */
	char *out, *err;
};

/* Run bin with argv (argv[0] first, NULL-terminated), capturing stdout and stderr; asserts it
 * exits rather than crashes. */
struct unit_run unit_run(const char *bin, const char *const *argv);
void unit_run_free(struct unit_run *r);

#endif
