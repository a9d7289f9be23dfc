/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ktbpf/json.h"
#include "ktbpf/peer.h"

/* One of our own requests waiting for its response. */
struct call {
	struct call *next;
	int64_t id;
	ktbpf_peer_reply_fn reply;
	void *userdata;
};

/* A batch being served: its responses, sent once every member is answered. */
struct batch {
	json_t *out;
	unsigned int refs;
};

struct ktbpf_peer {
	unsigned int refs;
	const struct ktbpf_peer_method *methods;
	size_t nmethods;
	struct ktbpf_peer_limits lim;
	ktbpf_peer_send_fn send;
	void *userdata;
	bool closed;
	int send_error;
	unsigned int pending;
	struct call *calls;
	unsigned int ncalls;
	int64_t next_id;
	unsigned long stray;
};

struct ktbpf_peer_req {
	struct ktbpf_peer *p;
	struct batch *batch;
	json_t *msg;	/* the request; method and params point into it */
	json_t *id;	/* borrowed from msg; NULL for a notification */
	json_t *params; /* an object (owned) */
	bool counted;	/* counts in p->pending */
	unsigned int nfds;
	int fds[];
};

struct ktbpf_peer *ktbpf_peer_new(const struct ktbpf_peer_method *methods, size_t n,
				  const struct ktbpf_peer_limits *lim, ktbpf_peer_send_fn send,
				  void *userdata)
{
	struct ktbpf_peer *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->refs = 1;
	p->methods = methods;
	p->nmethods = n;
	p->send = send;
	p->userdata = userdata;
	p->next_id = 1;
	if (lim) {
		p->lim = *lim;
	} else {
		p->lim.max_pending = KTBPF_PEER_MAX_PENDING;
		p->lim.max_calls = KTBPF_PEER_MAX_CALLS;
		p->lim.max_batch = KTBPF_PEER_MAX_BATCH;
	}
	return p;
}

struct ktbpf_peer *ktbpf_peer_ref(struct ktbpf_peer *p)
{
	p->refs++;
	return p;
}

struct ktbpf_peer *ktbpf_peer_unref(struct ktbpf_peer *p)
{
	if (!p || --p->refs)
		return NULL;
	ktbpf_peer_close(p);
	free(p);
	return NULL;
}

void *ktbpf_peer_userdata(const struct ktbpf_peer *p)
{
	return p->userdata;
}

unsigned int ktbpf_peer_pending(const struct ktbpf_peer *p)
{
	return p->pending;
}

unsigned long ktbpf_peer_stray_responses(const struct ktbpf_peer *p)
{
	return p->stray;
}

void ktbpf_peer_close(struct ktbpf_peer *p)
{
	json_t *e;

	p->closed = true;
	/* Replies may call back into the peer: unlink each call first. */
	while (p->calls) {
		struct call *c = p->calls;

		p->calls = c->next;
		p->ncalls--;
		e = ktbpf_jsonrpc_error(KTBPF_JSONRPC_INTERNAL_ERROR, NULL, "connection closed");
		c->reply(c->userdata, NULL, e ? e : json_null());
		json_decref(e);
		free(c);
	}
}

/* Send one line (stolen; NULL: out of memory). */
static int emit_line(struct ktbpf_peer *p, char *line, size_t len, const int *fds,
		     unsigned int nfds)
{
	int r;

	if (!line)
		return -ENOMEM;
	r = p->send(p->userdata, line, len, fds, nfds);
	free(line);
	if (r < 0)
		p->send_error = r;
	return r < 0 ? r : 0;
}

/* Send one message (stolen). */
static int emit(struct ktbpf_peer *p, json_t *msg, const int *fds, unsigned int nfds)
{
	char *line;
	size_t len = 0;

	if (p->closed || p->send_error) {
		json_decref(msg);
		return p->send_error ? p->send_error : -ENOTCONN;
	}
	if (!msg)
		return -ENOMEM;
	line = ktbpf_jsonrpc_encode(msg, &len);
	json_decref(msg);
	return emit_line(p, line, len, fds, nfds);
}

static void batch_put(struct ktbpf_peer *p, struct batch *b)
{
	if (--b->refs)
		return;
	if (json_array_size(b->out))
		emit(p, b->out, NULL, 0);
	else
		json_decref(b->out);
	free(b);
}

/* Send (or keep for the batch) a response to id; NULL id: a notification. */
static void respond(struct ktbpf_peer *p, struct batch *b, json_t *msg)
{
	if (!msg) {
		msg = ktbpf_jsonrpc_error_response(
			NULL, ktbpf_jsonrpc_error(KTBPF_JSONRPC_INTERNAL_ERROR, NULL,
						  "out of memory for a response"));
		if (!msg) {
			p->send_error = p->send_error ? p->send_error : -ENOMEM;
			return;
		}
	}
	if (b)
		json_array_append_new(b->out, msg);
	else
		emit(p, msg, NULL, 0);
}

static void req_free(struct ktbpf_peer_req *req)
{
	struct ktbpf_peer *p = req->p;

	for (unsigned int i = 0; i < req->nfds; i++)
		if (req->fds[i] >= 0)
			close(req->fds[i]);
	if (req->counted)
		p->pending--;
	if (req->batch)
		batch_put(p, req->batch);
	json_decref(req->params);
	json_decref(req->msg);
	free(req);
	ktbpf_peer_unref(p);
}

/* Answer req with a result or error object (stolen) and free it. */
static void answer(struct ktbpf_peer_req *req, json_t *result, json_t *error)
{
	json_t *msg = NULL;

	if (!req->id) {
		json_decref(result);
		json_decref(error);
	} else {
		if (result)
			msg = ktbpf_jsonrpc_response(req->id, result);
		else
			msg = ktbpf_jsonrpc_error_response(req->id, error);
		respond(req->p, req->batch, msg);
	}
	req_free(req);
}

void ktbpf_peer_req_result(struct ktbpf_peer_req *req, json_t *result)
{
	if (!result) {
		answer(req, NULL,
		       ktbpf_jsonrpc_error(KTBPF_JSONRPC_INTERNAL_ERROR, NULL,
					   "%s: out of memory for the result",
					   ktbpf_peer_req_method(req)));
		return;
	}
	answer(req, result, NULL);
}

void ktbpf_peer_req_result_text(struct ktbpf_peer_req *req, const char *text, size_t len)
{
	struct ktbpf_peer *p = req->p;
	size_t line_len = 0;
	char *line;

	if (req->batch) {
		/* The batch's answer is one array: this one joins it as a value. */
		ktbpf_peer_req_result(req, ktbpf_json_decode(text, len, NULL));
		return;
	}
	if (!req->id) {
		req_free(req);
		return;
	}
	line = ktbpf_jsonrpc_response_text(req->id, text, len, &line_len);
	if (!line) {
		ktbpf_peer_req_result(req, NULL); /* the internal error */
		return;
	}
	if (p->closed || p->send_error)
		free(line);
	else
		emit_line(p, line, line_len, NULL, 0);
	req_free(req);
}

void ktbpf_peer_req_error(struct ktbpf_peer_req *req, int code, json_t *data, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	answer(req, NULL, ktbpf_jsonrpc_error(code, data, "%s", msg));
}

const char *ktbpf_peer_req_method(const struct ktbpf_peer_req *req)
{
	const char *m = json_string_value(json_object_get(req->msg, "method"));

	return m ? m : "";
}

json_t *ktbpf_peer_req_params(const struct ktbpf_peer_req *req)
{
	return req->params;
}

bool ktbpf_peer_req_is_notification(const struct ktbpf_peer_req *req)
{
	return !req->id;
}

struct ktbpf_peer *ktbpf_peer_req_peer(const struct ktbpf_peer_req *req)
{
	return req->p;
}

unsigned int ktbpf_peer_req_nfds(const struct ktbpf_peer_req *req)
{
	return req->nfds;
}

int ktbpf_peer_req_take_fd(struct ktbpf_peer_req *req, unsigned int i)
{
	int fd;

	if (i >= req->nfds)
		return -1;
	fd = req->fds[i];
	req->fds[i] = -1;
	return fd;
}

/*
 * The fds a request object declares ("fds": N in its params), popped from w
 * whatever else is wrong with the request, so that they never go to the next
 * one. On a bad declaration *ret_error says why (and the queue is dropped:
 * the fds no longer match the requests).
 */
static unsigned int claim_fds(struct ktbpf_wire *w, const json_t *msg, int *fds, json_t **ret_error)
{
	json_t *params = json_is_object(msg) ? json_object_get(msg, "params") : NULL;
	json_t *v = json_is_object(params) ? json_object_get(params, "fds") : NULL;
	struct ktbpf_err err = {0};
	json_int_t n;

	if (!v)
		return 0;
	n = json_is_integer(v) ? json_integer_value(v) : -1;
	if (n < 0 || n > KTBPF_WIRE_FDS_MSG_CAP) {
		if (w)
			ktbpf_wire_drop_fds(w);
		*ret_error = ktbpf_jsonrpc_error(
			KTBPF_JSONRPC_INVALID_PARAMS, json_pack("{s:s}", "param", "fds"),
			"\"fds\" must be a count from 0 to %d", KTBPF_WIRE_FDS_MSG_CAP);
		return 0;
	}
	if (!n)
		return 0;
	if (!w) {
		*ret_error = ktbpf_jsonrpc_error(
			KTBPF_JSONRPC_INVALID_PARAMS,
			json_pack("{s:s, s:I, s:i}", "param", "fds", "declared", n, "received", 0),
			"file descriptors cannot travel on this connection");
		return 0;
	}
	if (ktbpf_wire_take_fds(w, (unsigned int)n, fds, &err) < 0) {
		*ret_error = ktbpf_jsonrpc_error(
			KTBPF_JSONRPC_INVALID_PARAMS,
			json_pack("{s:s, s:I}", "param", "fds", "declared", n), "%s", err.msg);
		return 0;
	}
	return (unsigned int)n;
}

static const struct ktbpf_peer_method *find_method(const struct ktbpf_peer *p, const char *name)
{
	for (size_t i = 0; i < p->nmethods; i++)
		if (strcmp(p->methods[i].name, name) == 0)
			return &p->methods[i];
	return NULL;
}

static bool type_ok(const json_t *v, enum ktbpf_param_type t)
{
	switch (t) {
	case KTBPF_PARAM_STRING:
		return json_is_string(v);
	case KTBPF_PARAM_INT:
		return json_is_integer(v);
	case KTBPF_PARAM_UINT:
		return json_is_integer(v) && json_integer_value(v) >= 0;
	case KTBPF_PARAM_BOOL:
		return json_is_boolean(v);
	case KTBPF_PARAM_OBJECT:
		return json_is_object(v);
	case KTBPF_PARAM_ARRAY:
		return json_is_array(v);
	case KTBPF_PARAM_ANY:
		return true;
	}
	return false;
}

static const char *const type_names[] = {
	[KTBPF_PARAM_ANY] = "any value",      [KTBPF_PARAM_STRING] = "a string",
	[KTBPF_PARAM_INT] = "an integer",     [KTBPF_PARAM_UINT] = "an integer >= 0",
	[KTBPF_PARAM_BOOL] = "true or false", [KTBPF_PARAM_OBJECT] = "an object",
	[KTBPF_PARAM_ARRAY] = "an array",
};

/* -32602 for params that do not match the method's table, else NULL. */
static json_t *check_params(const struct ktbpf_peer_method *m, const json_t *params,
			    unsigned int nfds)
{
	const struct ktbpf_peer_param *d;
	const char *key;
	json_t *v;

	if (nfds > m->max_fds)
		return ktbpf_jsonrpc_error(KTBPF_JSONRPC_INVALID_PARAMS,
					   json_pack("{s:s, s:i, s:i}", "param", "fds", "declared",
						     nfds, "max", m->max_fds),
					   "%s takes at most %u fds, the request declares %u",
					   m->name, m->max_fds, nfds);
	json_object_foreach((json_t *)params, key, v)
	{
		if (strcmp(key, "fds") == 0 && m->max_fds)
			continue;
		for (d = m->params; d && d->name; d++)
			if (strcmp(d->name, key) == 0)
				break;
		if (!d || !d->name)
			return ktbpf_jsonrpc_error(KTBPF_JSONRPC_INVALID_PARAMS,
						   json_pack("{s:s}", "param", key),
						   "%s has no parameter '%s'", m->name, key);
		if (!type_ok(v, d->type))
			return ktbpf_jsonrpc_error(
				KTBPF_JSONRPC_INVALID_PARAMS, json_pack("{s:s}", "param", key),
				"%s: '%s' must be %s", m->name, key, type_names[d->type]);
	}
	for (d = m->params; d && d->name; d++)
		if (d->required && !json_object_get(params, d->name))
			return ktbpf_jsonrpc_error(
				KTBPF_JSONRPC_INVALID_PARAMS, json_pack("{s:s}", "param", d->name),
				"%s needs '%s' (%s)", m->name, d->name, type_names[d->type]);
	return NULL;
}

static void handle_response(struct ktbpf_peer *p, json_t *msg)
{
	json_t *id = json_object_get(msg, "id");
	struct call **pc, *c;

	for (pc = &p->calls; json_is_integer(id) && *pc; pc = &(*pc)->next)
		if ((*pc)->id == json_integer_value(id))
			break;
	if (!json_is_integer(id) || !*pc) {
		p->stray++;
		return;
	}
	c = *pc;
	*pc = c->next;
	p->ncalls--;
	c->reply(c->userdata, json_object_get(msg, "result"), json_object_get(msg, "error"));
	free(c);
}

/* Build the request object around msg (stolen) and its claimed fds. */
static struct ktbpf_peer_req *req_new(struct ktbpf_peer *p, struct batch *b, json_t *msg,
				      const int *fds, unsigned int nfds)
{
	struct ktbpf_peer_req *req = calloc(1, sizeof(*req) + nfds * sizeof(int));
	json_t *params, *id;

	if (!req) {
		for (unsigned int i = 0; i < nfds; i++)
			close(fds[i]);
		json_decref(msg);
		return NULL;
	}
	req->p = ktbpf_peer_ref(p);
	if (b) {
		req->batch = b;
		b->refs++;
	}
	req->msg = msg;
	/* A request that cannot be read is answered with a null id. */
	id = json_object_get(msg, "id");
	if (id)
		req->id = json_is_string(id) || json_is_number(id) ? id : json_null();
	params = json_object_get(msg, "params");
	req->params = json_is_object(params) ? json_incref(params) : json_object();
	memcpy(req->fds, fds, nfds * sizeof(int));
	req->nfds = nfds;
	return req;
}

/* Serve one message of a line or a batch (msg borrowed). */
static void serve(struct ktbpf_peer *p, struct ktbpf_wire *w, json_t *msg, struct batch *b)
{
	int fds[KTBPF_WIRE_FDS_MSG_CAP];
	json_t *error = NULL;
	enum ktbpf_jsonrpc_type t = ktbpf_jsonrpc_classify(msg, &error);
	const struct ktbpf_peer_method *m;
	struct ktbpf_peer_req *req;
	unsigned int nfds;

	if (t == KTBPF_JSONRPC_T_RESPONSE) {
		handle_response(p, msg);
		return;
	}
	{
		json_t *fds_error = NULL;

		nfds = claim_fds(w, msg, fds, &fds_error);
		if (error)
			json_decref(fds_error);
		else
			error = fds_error;
	}
	if (t == KTBPF_JSONRPC_T_INVALID && !json_is_object(msg))
		msg = json_object(); /* [1,2] members: answered with a null id */
	else
		json_incref(msg);
	req = req_new(p, b, msg, fds, nfds);
	if (!req) {
		json_decref(error);
		respond(p, b, NULL);
		return;
	}
	if (t == KTBPF_JSONRPC_T_INVALID) {
		/* Invalid requests are answered even without an id (spec 5). */
		if (!req->id)
			req->id = json_null();
		answer(req, NULL, error);
		return;
	}
	if (error) {
		answer(req, NULL, error);
		return;
	}
	m = find_method(p, ktbpf_peer_req_method(req));
	if (!m) {
		answer(req, NULL,
		       ktbpf_jsonrpc_error(KTBPF_JSONRPC_METHOD_NOT_FOUND,
					   json_pack("{s:s}", "method", ktbpf_peer_req_method(req)),
					   "no method '%s'", ktbpf_peer_req_method(req)));
		return;
	}
	if (json_is_array(json_object_get(msg, "params"))) {
		answer(req, NULL,
		       ktbpf_jsonrpc_error(KTBPF_JSONRPC_INVALID_PARAMS, NULL,
					   "%s takes its params by name (an object)", m->name));
		return;
	}
	error = check_params(m, req->params, nfds);
	if (error) {
		answer(req, NULL, error);
		return;
	}
	if (p->pending >= p->lim.max_pending) {
		answer(req, NULL,
		       ktbpf_jsonrpc_error(
			       KTBPF_JSONRPC_LIMIT,
			       json_pack("{s:s, s:i}", "limit", "pending_requests", "max",
					 p->lim.max_pending),
			       "%u requests are being served on this connection already",
			       p->lim.max_pending));
		return;
	}
	p->pending++;
	req->counted = true;
	m->fn(req, p->userdata);
}

static void serve_batch(struct ktbpf_peer *p, struct ktbpf_wire *w, json_t *arr)
{
	struct batch *b;
	size_t i;
	json_t *v;

	if (!json_array_size(arr)) {
		respond(p, NULL,
			ktbpf_jsonrpc_error_response(
				NULL, ktbpf_jsonrpc_error(KTBPF_JSONRPC_INVALID_REQUEST, NULL,
							  "invalid request: an empty batch")));
		return;
	}
	if (json_array_size(arr) > p->lim.max_batch) {
		int fds[KTBPF_WIRE_FDS_MSG_CAP];
		json_t *e = NULL;

		/* Its fds are still claimed, so they do not go to the next line. */
		json_array_foreach(arr, i, v)
		{
			unsigned int n = claim_fds(w, v, fds, &e);

			for (unsigned int k = 0; k < n; k++)
				close(fds[k]);
			json_decref(e);
			e = NULL;
		}
		respond(p, NULL,
			ktbpf_jsonrpc_error_response(
				NULL,
				ktbpf_jsonrpc_error(KTBPF_JSONRPC_LIMIT,
						    json_pack("{s:s, s:i}", "limit", "batch_size",
							      "max", p->lim.max_batch),
						    "a batch of %zu requests (at most %u)",
						    json_array_size(arr), p->lim.max_batch)));
		return;
	}
	b = calloc(1, sizeof(*b));
	if (!b || !(b->out = json_array())) {
		free(b);
		respond(p, NULL, NULL);
		return;
	}
	b->refs = 1;
	json_array_foreach(arr, i, v) serve(p, w, v, b);
	batch_put(p, b);
}

int ktbpf_peer_handle_line(struct ktbpf_peer *p, const char *line, size_t len, struct ktbpf_wire *w)
{
	json_error_t je;
	json_t *msg;

	if (p->send_error)
		return p->send_error;
	if (!len)
		return 0; /* an empty line (a keepalive, "\r\n" from nc) is no message */
	ktbpf_peer_ref(p);
	msg = ktbpf_json_decode(line, len, &je);
	if (!msg) {
		respond(p, NULL,
			ktbpf_jsonrpc_error_response(
				NULL, ktbpf_jsonrpc_error(
					      KTBPF_JSONRPC_PARSE_ERROR,
					      json_pack("{s:i}", "position", je.position),
					      "parse error at byte %d: %s", je.position, je.text)));
	} else if (json_is_array(msg)) {
		serve_batch(p, w, msg);
	} else {
		serve(p, w, msg, NULL);
	}
	json_decref(msg);
	{
		int r = p->send_error;

		ktbpf_peer_unref(p);
		return r;
	}
}

static const char *limit_name(int code)
{
	switch (code) {
	case -EMSGSIZE:
		return "line_bytes";
	case -EPROTO:
		return "fds_per_message";
	case -EMFILE:
		return "fds_queued";
	default:
		return "connection";
	}
}

int ktbpf_peer_drain(struct ktbpf_peer *p, struct ktbpf_wire *w, struct ktbpf_err *err)
{
	const char *line;
	size_t len;
	int r;

	for (;;) {
		r = ktbpf_wire_next_line(w, &line, &len, err);
		if (r == 0)
			return 0;
		if (r < 0) {
			respond(p, NULL,
				ktbpf_jsonrpc_error_response(
					NULL, ktbpf_jsonrpc_error(
						      KTBPF_JSONRPC_LIMIT,
						      json_pack("{s:s}", "limit", limit_name(r)),
						      "%s; closing the connection",
						      err ? err->msg : "protocol error")));
			return r;
		}
		r = ktbpf_peer_handle_line(p, line, len, w);
		if (r < 0)
			return ktbpf_err_set(err, r, "cannot send to the peer: %s", strerror(-r));
	}
}

static int send_request(struct ktbpf_peer *p, const char *method, json_t *params, json_t *id,
			const int *fds, unsigned int nfds, struct ktbpf_err *err)
{
	int r;

	if (p->closed) {
		json_decref(params);
		return ktbpf_err_set(err, -ENOTCONN, "%s: connection closed", method);
	}
	r = emit(p, ktbpf_jsonrpc_request(method, params, id), fds, nfds);
	if (r < 0)
		return ktbpf_err_set(err, r, "%s: cannot send: %s", method, strerror(-r));
	return 0;
}

int ktbpf_peer_call(struct ktbpf_peer *p, const char *method, json_t *params, const int *fds,
		    unsigned int nfds, ktbpf_peer_reply_fn reply, void *userdata, int64_t *ret_id,
		    struct ktbpf_err *err)
{
	struct call *c;
	json_t *id;
	int r;

	if (p->ncalls >= p->lim.max_calls) {
		json_decref(params);
		return ktbpf_err_set(err, -EAGAIN, "%s: %u calls wait for answers already", method,
				     p->ncalls);
	}
	c = calloc(1, sizeof(*c));
	id = json_integer(p->next_id);
	if (!c || !id) {
		free(c);
		json_decref(id);
		json_decref(params);
		return ktbpf_err_set(err, -ENOMEM, "%s: out of memory", method);
	}
	c->id = p->next_id++;
	c->reply = reply;
	c->userdata = userdata;
	r = send_request(p, method, params, id, fds, nfds, err);
	json_decref(id);
	if (r < 0) {
		free(c);
		return r;
	}
	c->next = p->calls;
	p->calls = c;
	p->ncalls++;
	if (ret_id)
		*ret_id = c->id;
	return 0;
}

int ktbpf_peer_notify(struct ktbpf_peer *p, const char *method, json_t *params,
		      struct ktbpf_err *err)
{
	return send_request(p, method, params, NULL, NULL, 0, err);
}

int ktbpf_peer_cancel(struct ktbpf_peer *p, int64_t id)
{
	for (struct call **pc = &p->calls; *pc; pc = &(*pc)->next) {
		struct call *c = *pc;

		if (c->id != id)
			continue;
		*pc = c->next;
		p->ncalls--;
		free(c);
		return 0;
	}
	return -ENOENT;
}
