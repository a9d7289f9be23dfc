/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_ERR_H
#define KTBPF_ERR_H

/*
 * Error reporting for libktbpf.
 *
 * Every fallible function returns 0 (or a positive count) on success and a
 * negative errno on failure. When the caller passes a non-NULL
 * struct ktbpf_err, the failing function also fills it with a message a person
 * can act on and, for guest memory faults, the address that failed. Results
 * are written through trailing ret_ pointers only on success.
 *
 * What a program can do about an error is its class, ktbpf_err_class() of
 * the code (the errno alone decides, so a caller without a struct ktbpf_err
 * and a snapshot diagnostic's code classify the same way):
 *
 *   KTBPF_ERR_NOT_READY     -EINPROGRESS. The guest has not booted far
 *                           enough: no VMCOREINFO note in its RAM yet (the
 *                           kernel writes it late in boot). Retry discovery
 *                           later. A kernel built without CONFIG_VMCORE_INFO
 *                           never gets a note: give up after a while.
 *   KTBPF_ERR_INCONSISTENT  -EAGAIN. The guest changed under the read (a
 *                           torn read of a running guest): retry the walk
 *                           now; a paused guest never gives it.
 *   KTBPF_ERR_IO            -EIO, -EBADF, -ENOMEM. The host could not read
 *                           an input it was given (a failing or shrunk fd,
 *                           an fd not open for reading) or ran out of
 *                           memory: not the guest's doing.
 *   KTBPF_ERR_INPUT         every other errno: never with this input. The
 *                           kernel lacks something (BTF, a config, a
 *                           symbol: -ENOENT), a file is from another kernel
 *                           (-EXDEV), a layout is unknown (-EOPNOTSUPP),
 *                           guest data is corrupt or hostile (-EUCLEAN), a
 *                           hint is wrong (-EFAULT for an address outside
 *                           RAM, -EINVAL). Retrying the same input gives the
 *                           same answer; err->need says what input would
 *                           help, when one would. A walk that fails so on
 *                           a kernel that walked before means the guest
 *                           rebooted: discover it again.
 *
 * Thread safety: no state; a struct ktbpf_err is the caller's, one per
 * thread (messages use strerror(), which glibc makes thread safe).
 */

#include <stdbool.h>
#include <stdint.h>

#define KTBPF_ERR_MSG_MAX 256

/* What a program can do about an error (see above). */
enum ktbpf_err_class {
	KTBPF_ERR_NONE = 0,	/* code 0: no error */
	KTBPF_ERR_NOT_READY,	/* the guest has not booted far enough: retry later */
	KTBPF_ERR_INCONSISTENT, /* torn read of a running guest: retry the walk */
	KTBPF_ERR_IO,		/* the host could not read its input */
	KTBPF_ERR_INPUT,	/* never with this input */
};

/*
 * Inputs the caller could give to get past an error (struct ktbpf_err.need,
 * a mask), so that a client can name them in its own terms (its options)
 * while the library's messages name what is missing and why.
 */
enum ktbpf_need {
	KTBPF_NEED_SYMBOLS = 1u << 0,	 /* symbols from a file: vmlinux .symtab or System.map */
	KTBPF_NEED_BTF = 1u << 1,	 /* BTF from a file: vmlinux .BTF or a BTF file */
	KTBPF_NEED_PGD = 1u << 2,	 /* the page-table root (x86_64 CR3, aarch64 TTBR1_EL1) */
	KTBPF_NEED_VMCOREINFO = 1u << 3, /* where the VMCOREINFO note is, or its text */
	KTBPF_NEED_TCR_EL1 = 1u << 4,	 /* aarch64 TCR_EL1 */
	KTBPF_NEED_L5 = 1u << 5,	 /* whether x86_64 uses 5-level paging */
};

struct ktbpf_err {
	int code;	   /* negative errno, as returned */
	unsigned int need; /* enum ktbpf_need mask: inputs that would help; 0: none */
	bool has_addr;	   /* addr is meaningful */
	uint64_t addr;	   /* faulting guest address (PA or KVA, see msg) */
	char msg[KTBPF_ERR_MSG_MAX];
};

/*
 * Fill err (may be NULL) with code and a printf-style message; returns code
 * (a negative errno) so callers can write `return ktbpf_err_set(...)`.
 */
int ktbpf_err_set(struct ktbpf_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like ktbpf_err_set() and records the faulting guest address. */
int ktbpf_err_set_addr(struct ktbpf_err *err, int code, uint64_t addr, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Prepend context to an already filled message ("prog 12: " + old message)
 * when err is non-NULL. Returns code, the negative errno the failing call
 * gave, so callers can write `return ktbpf_err_prefix(err, r, "...: ")`
 * whether or not they were given an err.
 */
int ktbpf_err_prefix(struct ktbpf_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * The class of a code (0 or a negative errno; a positive errno is taken as
 * its negative): see the table above.
 */
enum ktbpf_err_class ktbpf_err_class(int code);

/* "none", "not-ready", "inconsistent", "io", "input". */
const char *ktbpf_err_class_name(enum ktbpf_err_class c);

/*
 * Add need bits (enum ktbpf_need) to err when non-NULL; returns code, for
 * `return ktbpf_err_need(err, r, KTBPF_NEED_BTF)`. ktbpf_err_set() clears
 * them, ktbpf_err_prefix() keeps them.
 */
int ktbpf_err_need(struct ktbpf_err *err, int code, unsigned int need);

/* Reset to "no error". */
void ktbpf_err_clear(struct ktbpf_err *err);

#endif
