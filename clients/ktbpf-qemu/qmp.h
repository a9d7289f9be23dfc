/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_QEMU_QMP_H
#define KTBPF_QEMU_QMP_H

/*
 * A minimal QMP client on one connected stream socket: commands block (with
 * a timeout) until their answer; events that arrive meanwhile, or while the
 * caller's loop reads, are queued for qmp_next_event(). One JSON object per
 * line, as QEMU writes them.
 */
#include <jansson.h>
#include <stdint.h>

#include "ktbpf/err.h"

struct qmp;

/* Take fd (closed by qmp_free()). -ENOMEM. */
int qmp_new(int fd, struct qmp **ret);
struct qmp *qmp_free(struct qmp *q);
int qmp_fd(const struct qmp *q);

/* Read QEMU's greeting and enter command mode (qmp_capabilities). */
int qmp_handshake(struct qmp *q, int timeout_ms, struct ktbpf_err *err);

/*
 * Run command with args (stolen; NULL: none) and wait at most timeout_ms for
 * its answer. *ret_return (may be NULL) gets the "return" value (a new
 * reference). Errors: -EREMOTEIO (QEMU answered an error: err has its
 * description), -ETIMEDOUT, -ECONNRESET (QEMU went away), -EPROTO, -EMSGSIZE
 * (see qmp_pump()).
 */
int qmp_execute(struct qmp *q, const char *command, json_t *args, int timeout_ms,
		json_t **ret_return, struct ktbpf_err *err);

/*
 * Read what the socket has without blocking and queue its events.
 * -ECONNRESET at end of file; -EMSGSIZE after a line longer than the limit
 * (for good: stop polling, every later call fails the same); -EPROTO when a
 * line was not a JSON object (skipped, the lines after it are read).
 */
int qmp_pump(struct qmp *q, struct ktbpf_err *err);

/* The oldest queued event (a new reference; the caller decrefs), or NULL. */
json_t *qmp_next_event(struct qmp *q);

/* CLOCK_MONOTONIC in milliseconds: the clock of the timeouts here. */
uint64_t qmp_now_ms(void);

#endif
