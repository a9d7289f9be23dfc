/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_PEER_H
#define KTBPF_PEER_H

/*
 * One end of a JSON-RPC 2.0 connection, without sockets: lines go in
 * (ktbpf_peer_handle_line(), or ktbpf_peer_drain() over a struct ktbpf_wire)
 * and lines come out through the send callback. It serves requests from a
 * method table and makes requests of its own (the daemon asks a VMM to
 * vm.freeze / vm.thaw on the VMM's connection), matching the responses by id.
 *
 * Requests. The table names each method, the params it takes (by name, an
 * object: each with a type and whether it is required; any other member is
 * -32602) and how many fds it accepts. A request that carries fds says how
 * many in params ("fds": N); they are popped from the wire when the request is
 * parsed, before the method is even looked up, so a bad request never leaves
 * its fds to the next one. A handler answers with ktbpf_peer_req_result() or
 * _error(), then or later (from the same thread): a slow answer (a walk in a
 * thread pool) keeps the request, and its peer, alive until then. A
 * notification (no id) is served and never answered, errors included.
 * Batches are served as the specification says: one array of responses once
 * every member is answered, nothing for an all-notification batch, a single
 * -32600 for an empty one.
 *
 * Lifetime: refcounted. The owner's connection going away calls
 * ktbpf_peer_close() (no more output; outgoing calls complete with a
 * "connection closed" error) and drops its reference; requests still being
 * served hold theirs until they are answered into the void.
 *
 * Thread safety: none; a peer and its requests belong to one thread.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktbpf/err.h"
#include "ktbpf/jsonrpc.h"
#include "ktbpf/wire.h"

struct ktbpf_peer;
struct ktbpf_peer_req;

enum ktbpf_param_type {
	KTBPF_PARAM_ANY,
	KTBPF_PARAM_STRING,
	KTBPF_PARAM_INT,  /* a JSON integer */
	KTBPF_PARAM_UINT, /* a JSON integer >= 0 */
	KTBPF_PARAM_BOOL,
	KTBPF_PARAM_OBJECT,
	KTBPF_PARAM_ARRAY,
};

struct ktbpf_peer_param {
	const char *name;
	enum ktbpf_param_type type;
	bool required;
};

/* Serve req; userdata is the peer's (ktbpf_peer_new()). Answer exactly once. */
typedef void (*ktbpf_peer_handler_fn)(struct ktbpf_peer_req *req, void *userdata);

struct ktbpf_peer_method {
	const char *name;
	/* Accepted params, ended by {NULL}; NULL accepts none. "fds" is never
	 * listed: max_fds says whether and how many the method takes. */
	const struct ktbpf_peer_param *params;
	unsigned int max_fds;
	ktbpf_peer_handler_fn fn;
};

/*
 * Where output lines go: one line (no "\n") and the fds to send with it.
 * Return 0, or a negative errno to give up on the connection (e.g. -ENOBUFS
 * from ktbpf_wire_send(): a slow reader); the peer then sends nothing more
 * and ktbpf_peer_handle_line() returns that error.
 */
typedef int (*ktbpf_peer_send_fn)(void *userdata, const char *line, size_t len, const int *fds,
				  unsigned int nfds);

struct ktbpf_peer_limits {
	unsigned int max_pending; /* requests being served at once */
	unsigned int max_calls;	  /* own requests waiting for a response */
	unsigned int max_batch;	  /* members of one batch */
};
#define KTBPF_PEER_MAX_PENDING 64
#define KTBPF_PEER_MAX_CALLS   16
#define KTBPF_PEER_MAX_BATCH   64

/*
 * A peer serving methods[0..n) (the table must outlive it), writing through
 * send with userdata for both send and the handlers. lim NULL: the defaults.
 * NULL on allocation failure. Drop with ktbpf_peer_unref().
 */
struct ktbpf_peer *ktbpf_peer_new(const struct ktbpf_peer_method *methods, size_t n,
				  const struct ktbpf_peer_limits *lim, ktbpf_peer_send_fn send,
				  void *userdata);
struct ktbpf_peer *ktbpf_peer_ref(struct ktbpf_peer *p);
/* NULL ok; returns NULL. */
struct ktbpf_peer *ktbpf_peer_unref(struct ktbpf_peer *p);

/* The connection is gone: send nothing more; every outgoing call still
 * waiting completes now with a -32603 "connection closed" error. Idempotent. */
void ktbpf_peer_close(struct ktbpf_peer *p);

/* The userdata given to ktbpf_peer_new(). */
void *ktbpf_peer_userdata(const struct ktbpf_peer *p);

/*
 * Serve one line (requests, batches, or responses to our own calls). fds
 * declared by requests are taken from w (NULL: none can be taken, so any
 * request declaring fds gets -32602). Returns 0, or the send callback's
 * error (the caller drops the connection); -ENOMEM when a response could
 * not be built.
 */
int ktbpf_peer_handle_line(struct ktbpf_peer *p, const char *line, size_t len,
			   struct ktbpf_wire *w);

/*
 * Serve every complete line buffered in w. When w has failed (an oversize
 * line, a truncated control message, too many fds) it sends one error
 * response with a null id (-32600, data.kind "invalid_request", data.limit
 * naming the limit) and returns w's error: flush, then close the connection.
 * Returns 0 when all lines are served, or an error as
 * ktbpf_peer_handle_line() does; err says what.
 */
int ktbpf_peer_drain(struct ktbpf_peer *p, struct ktbpf_wire *w, struct ktbpf_err *err);

/* Requests being served and not yet answered. */
unsigned int ktbpf_peer_pending(const struct ktbpf_peer *p);

/* The method name, and params (an object, {} when absent; borrowed). */
const char *ktbpf_peer_req_method(const struct ktbpf_peer_req *req);
json_t *ktbpf_peer_req_params(const struct ktbpf_peer_req *req);
bool ktbpf_peer_req_is_notification(const struct ktbpf_peer_req *req);
struct ktbpf_peer *ktbpf_peer_req_peer(const struct ktbpf_peer_req *req);

/* Number of fds the request carried ("fds": N). */
unsigned int ktbpf_peer_req_nfds(const struct ktbpf_peer_req *req);

/* Take fd i (the caller owns it from then on), or -1 when i >= nfds or it
 * was taken already. Fds not taken are closed when the request is answered. */
int ktbpf_peer_req_take_fd(struct ktbpf_peer_req *req, unsigned int i);

/* Answer with result (stolen; NULL becomes an internal error) and free req. */
void ktbpf_peer_req_result(struct ktbpf_peer_req *req, json_t *result);

/*
 * The same with a result that is already JSON text (len bytes, one value;
 * borrowed): written into the response line as it is (parsed only for a
 * request of a batch). The daemon's vm.snapshot answer is never a tree.
 */
void ktbpf_peer_req_result_text(struct ktbpf_peer_req *req, const char *text, size_t len);

/* Answer with an error (ktbpf/jsonrpc.h codes; data stolen, NULL ok) and
 * free req. */
void ktbpf_peer_req_error(struct ktbpf_peer_req *req, int code, json_t *data, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * The answer to one of our calls: result or error (borrowed, exactly one is
 * non-NULL). Called once: from ktbpf_peer_handle_line() when the response
 * arrives, or from ktbpf_peer_close().
 */
typedef void (*ktbpf_peer_reply_fn)(void *userdata, json_t *result, json_t *error);

/*
 * Send a request (params stolen, NULL for none) with nfds fds (duplicated by
 * the send path; the caller keeps its own) and call reply when it is
 * answered. *ret_id (may be NULL) is its id for ktbpf_peer_cancel(). Errors:
 * -ENOTCONN after close, -EAGAIN when max_calls calls wait already, the send
 * callback's error, -ENOMEM.
 */
int ktbpf_peer_call(struct ktbpf_peer *p, const char *method, json_t *params, const int *fds,
		    unsigned int nfds, ktbpf_peer_reply_fn reply, void *userdata, int64_t *ret_id,
		    struct ktbpf_err *err);

/* Send a notification (params stolen): no answer comes. Errors as above. */
int ktbpf_peer_notify(struct ktbpf_peer *p, const char *method, json_t *params,
		      struct ktbpf_err *err);

/* Forget call id (its reply is never called; a late response is ignored).
 * -ENOENT when no such call waits. */
int ktbpf_peer_cancel(struct ktbpf_peer *p, int64_t id);

/* Responses that matched no waiting call (late, cancelled or made up). */
unsigned long ktbpf_peer_stray_responses(const struct ktbpf_peer *p);

#endif
