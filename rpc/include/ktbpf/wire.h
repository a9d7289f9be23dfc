/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_WIRE_H
#define KTBPF_WIRE_H

/*
 * The byte layer of the RPC protocol: one connection's newline-delimited JSON
 * lines (NDJSON: UTF-8, one compact JSON value per line, "\n" ends it, a
 * trailing "\r" is dropped) and the file descriptors that travel with them as
 * SCM_RIGHTS ancillary data.
 *
 * No event loop is assumed: the owner calls ktbpf_wire_recv() when the socket
 * is readable and ktbpf_wire_flush() when it is writable (uv_poll_t in the
 * daemon, poll() in a client). The socket must be nonblocking; it stays the
 * caller's (ktbpf_wire_free() does not close it, so a libuv owner can close it
 * in its close callback).
 *
 * File descriptors. A sender passes the fds a request needs in the same
 * sendmsg() as the first bytes of that request's line, and the request says
 * how many ("fds": N in its params). Linux delivers them with those bytes
 * (unix(7): ancillary data is a barrier; a recvmsg() returns no data past the
 * message that carried fds). The receiver queues them in arrival order and
 * the parser pops N when it parses the request that declares them
 * (ktbpf_wire_take_fds()). An fd still queued when every received byte has
 * been handed out as a line is a leftover: no later line can own it, so it is
 * closed. Received fds are always O_CLOEXEC (MSG_CMSG_CLOEXEC).
 *
 * Protocol errors are sticky: after -EMSGSIZE (a line longer than the limit),
 * -EPROTO (a truncated control message: more fds than a message may carry)
 * or -EMFILE (more fds queued than the limit) the wire returns that error
 * from ktbpf_wire_recv() and ktbpf_wire_next_line() again, with every queued
 * fd closed. As JSON-RPC servers do with a stream they can no longer frame,
 * the owner answers once with an error (ktbpf_wire_send() and _flush() still
 * work) and then closes the connection.
 *
 * Writes go to a bounded output queue: ktbpf_wire_send() appends a line (and
 * its fds, duplicated) and ktbpf_wire_flush() writes what the peer accepts.
 * Past the bound a send fails with -ENOBUFS: the peer reads too slowly and the
 * owner drops it, so one slow reader never holds the others up.
 *
 * Thread safety: none; one wire is used by one thread.
 */

#include <stdbool.h>
#include <stddef.h>

#include "ktbpf/err.h"

struct ktbpf_wire;

/* Defaults for struct ktbpf_wire_limits (ktbpf_wire_limits_default()). */
#define KTBPF_WIRE_MAX_LINE	  (1u << 20)  /* bytes in one line, "\n" excluded */
#define KTBPF_WIRE_MAX_FDS_MSG	  16	      /* fds in one received message */
#define KTBPF_WIRE_MAX_FDS_QUEUED 64	      /* fds waiting for their request */
#define KTBPF_WIRE_MAX_OUT	  (16u << 20) /* bytes waiting for a slow reader */
/* SCM_MAX_FD in include/net/scm.h: the kernel's own per-message cap. */
#define KTBPF_WIRE_FDS_MSG_CAP 253

struct ktbpf_wire_limits {
	size_t max_line;	 /* longest line accepted, "\n" excluded */
	unsigned max_fds_msg;	 /* fds one recvmsg() may carry (1..253) */
	unsigned max_fds_queued; /* fds queued and not yet taken */
	size_t max_out;		 /* bytes in the output queue */
};

/* The defaults above. */
void ktbpf_wire_limits_default(struct ktbpf_wire_limits *lim);

/*
 * A wire over the connected, nonblocking stream socket fd (not owned), or
 * with fd < 0 a socketless wire fed by ktbpf_wire_feed() (tests, fuzzing).
 * lim NULL means the defaults; max_fds_msg is clamped to 1..253. NULL on
 * allocation failure. Free with ktbpf_wire_free().
 */
struct ktbpf_wire *ktbpf_wire_new(int fd, const struct ktbpf_wire_limits *lim);

/* Frees the wire: closes queued received fds and unsent output fds, not the
 * socket. NULL ok; returns NULL. */
struct ktbpf_wire *ktbpf_wire_free(struct ktbpf_wire *w);

/*
 * One recvmsg(): appends the bytes to the input and queues the fds that came
 * with them. Returns the number of bytes read (> 0), 0 at end of stream,
 * -EAGAIN when nothing is readable. Errors (sticky, see above): -EPROTO for a
 * truncated control message (MSG_CTRUNC: every fd of that message is closed,
 * the kernel closed those it could not deliver); -EMFILE when the fds would
 * exceed max_fds_queued (this message's fds closed); -EMSGSIZE after an
 * oversize line; -ENOTCONN on a socketless wire; -errno from recvmsg().
 * Call ktbpf_wire_next_line() until it returns 0 before the next recv.
 */
int ktbpf_wire_recv(struct ktbpf_wire *w, struct ktbpf_err *err);

/*
 * Socketless input: as if len bytes of buf arrived with nfds fds (taken over:
 * closed on error). Same errors as ktbpf_wire_recv() except -EAGAIN/-errno.
 */
int ktbpf_wire_feed(struct ktbpf_wire *w, const void *buf, size_t len, const int *fds,
		    unsigned int nfds, struct ktbpf_err *err);

/*
 * The next complete line: returns 1 and points *ret_line and *ret_len at it (no
 * "\n", not NUL-terminated; valid until the next call on this wire), 0 when
 * no complete line is buffered (and closes leftover fds when no partial line
 * is buffered either), -EMSGSIZE when a line is longer than max_line (sticky).
 * Take the line's fds (ktbpf_wire_take_fds()) before asking for the next one.
 */
int ktbpf_wire_next_line(struct ktbpf_wire *w, const char **ret_line, size_t *ret_len,
			 struct ktbpf_err *err);

/*
 * Pop the n oldest queued fds into ret_fds (owned by the caller from then
 * on). -EBADMSG when fewer than n are queued: the fds no longer match the
 * requests, so every queued fd is closed.
 */
int ktbpf_wire_take_fds(struct ktbpf_wire *w, unsigned int n, int *ret_fds, struct ktbpf_err *err);

/* Close every queued fd (the requests and fds no longer match). */
void ktbpf_wire_drop_fds(struct ktbpf_wire *w);

/* Number of fds queued and not yet taken. */
unsigned int ktbpf_wire_fds_queued(const struct ktbpf_wire *w);

/* Number of received fds this wire closed as leftovers or on errors. */
unsigned long ktbpf_wire_fds_dropped(const struct ktbpf_wire *w);

/*
 * Queue line (len bytes, no "\n": one is appended) with nfds fds to send
 * with its first byte; the fds are duplicated (F_DUPFD_CLOEXEC), the caller
 * keeps its own. Does not write: call ktbpf_wire_flush(). -EINVAL for a line
 * containing "\n" or nfds > 253, -ENOBUFS when the queue would exceed
 * max_out (nothing queued: the peer is too slow, drop it), -errno from dup.
 */
int ktbpf_wire_send(struct ktbpf_wire *w, const char *line, size_t len, const int *fds,
		    unsigned int nfds, struct ktbpf_err *err);

/*
 * Write queued output until done or the socket would block: 0 when the queue
 * is empty, 1 when output remains (wait for writability), -errno (e.g.
 * -EPIPE) when the peer is gone, -ENOTCONN on a socketless wire.
 */
int ktbpf_wire_flush(struct ktbpf_wire *w, struct ktbpf_err *err);

/* Bytes queued for output and not yet written. */
size_t ktbpf_wire_out_bytes(const struct ktbpf_wire *w);

/* The sticky protocol error (a negative errno), or 0. */
int ktbpf_wire_error(const struct ktbpf_wire *w);

#endif
