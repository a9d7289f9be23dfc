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
 */

#include <stdbool.h>
#include <stdint.h>

#define KTBPF_ERR_MSG_MAX 256

struct ktbpf_err {
	int code;      /* negative errno, as returned */
	bool has_addr; /* addr is meaningful */
	uint64_t addr; /* faulting guest address (PA or KVA, see msg) */
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

/* Reset to "no error". */
void ktbpf_err_clear(struct ktbpf_err *err);

#endif
