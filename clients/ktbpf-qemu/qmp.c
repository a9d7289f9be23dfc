/* SPDX-License-Identifier: MIT */
/*
 * QMP (docs/interop/qmp-spec.txt in QEMU): a greeting, qmp_capabilities,
 * then {"execute", "arguments", "id"} commands answered by {"return"|"error",
 * "id"}, with {"event"} lines in between. QEMU is the process we started, but
 * its lines are still bounded: at most MAX_LINE bytes, at most MAX_EVENTS
 * queued (older events are dropped, counted).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "qmp.h"

#define MAX_LINE   (4 << 20) /* `info mtree` answers fit easily */
#define MAX_EVENTS 256

struct qmp {
	int fd;
	char *buf;
	size_t len, cap;
	bool eof;
	bool overlong;	/* a line passed MAX_LINE: the stream cannot be resynchronised */
	json_t *events; /* array, oldest first */
	uint64_t next_id;
};

uint64_t qmp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int qmp_new(int fd, struct qmp **ret)
{
	struct qmp *q = calloc(1, sizeof(*q));

	if (!q || !(q->events = json_array())) {
		free(q);
		return -ENOMEM;
	}
	q->fd = fd;
	q->next_id = 1;
	*ret = q;
	return 0;
}

struct qmp *qmp_free(struct qmp *q)
{
	if (!q)
		return NULL;
	if (q->fd >= 0)
		close(q->fd);
	json_decref(q->events);
	free(q->buf);
	free(q);
	return NULL;
}

int qmp_fd(const struct qmp *q)
{
	return q->fd;
}

/* One read() into the buffer. 0: got bytes or nothing yet; -ECONNRESET at EOF. */
static int fill(struct qmp *q, struct ktbpf_err *err)
{
	ssize_t n;

	if (q->overlong)
		return ktbpf_err_set(err, -EMSGSIZE,
				     "QMP: unusable after a line longer than %d bytes", MAX_LINE);
	if (q->cap - q->len < 65536) {
		size_t cap = q->cap ? q->cap * 2 : 131072;
		char *b;

		if (cap > MAX_LINE + 65536) {
			q->overlong = true;
			return ktbpf_err_set(err, -EMSGSIZE, "QMP: a line longer than %d bytes",
					     MAX_LINE);
		}
		b = realloc(q->buf, cap);
		if (!b)
			return ktbpf_err_set(err, -ENOMEM, "QMP: out of memory");
		q->buf = b;
		q->cap = cap;
	}
	n = read(q->fd, q->buf + q->len, q->cap - q->len);
	if (n == 0) {
		q->eof = true;
		return ktbpf_err_set(err, -ECONNRESET, "QMP: QEMU closed its monitor");
	}
	if (n < 0)
		return errno == EAGAIN || errno == EINTR
			       ? 0
			       : ktbpf_err_set(err, -errno, "QMP: read: %s", strerror(errno));
	q->len += (size_t)n;
	return 0;
}

/* The next whole line as JSON (new reference), NULL when none is buffered. */
static int take_line(struct qmp *q, json_t **ret, struct ktbpf_err *err)
{
	char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
	json_error_t je;
	size_t n;
	json_t *v;

	*ret = NULL;
	if (!nl)
		return 0;
	n = (size_t)(nl - q->buf);
	v = json_loadb(q->buf, n, 0, &je);
	memmove(q->buf, nl + 1, q->len - n - 1);
	q->len -= n + 1;
	if (!v || !json_is_object(v)) {
		json_decref(v);
		return ktbpf_err_set(err, -EPROTO, "QMP: a line that is not a JSON object: %s",
				     je.text);
	}
	*ret = v;
	return 0;
}

static void queue_event(struct qmp *q, json_t *ev)
{
	if (json_array_size(q->events) >= MAX_EVENTS)
		json_array_remove(q->events, 0);
	json_array_append_new(q->events, ev);
}

/* Wait until fd is readable or the deadline passes (-ETIMEDOUT). */
static int wait_readable(struct qmp *q, uint64_t deadline, struct ktbpf_err *err)
{
	struct pollfd p = {.fd = q->fd, .events = POLLIN};
	uint64_t t = qmp_now_ms();
	int r;

	if (t >= deadline)
		return ktbpf_err_set(err, -ETIMEDOUT, "QMP: no answer from QEMU in time");
	r = poll(&p, 1, (int)(deadline - t));
	if (r < 0 && errno != EINTR)
		return ktbpf_err_set(err, -errno, "QMP: poll: %s", strerror(errno));
	return 0;
}

/* The next line that is not an event (events are queued), waiting until deadline. */
static int next_reply(struct qmp *q, uint64_t deadline, json_t **ret, struct ktbpf_err *err)
{
	for (;;) {
		json_t *v;
		int r = take_line(q, &v, err);

		if (r < 0)
			return r;
		if (v && json_object_get(v, "event")) {
			queue_event(q, v);
			continue;
		}
		if (v) {
			*ret = v;
			return 0;
		}
		if (q->eof)
			return ktbpf_err_set(err, -ECONNRESET, "QMP: QEMU closed its monitor");
		r = wait_readable(q, deadline, err);
		if (r < 0)
			return r;
		r = fill(q, err);
		if (r < 0)
			return r;
	}
}

int qmp_handshake(struct qmp *q, int timeout_ms, struct ktbpf_err *err)
{
	json_t *greeting = NULL;
	int r = next_reply(q, qmp_now_ms() + (uint64_t)timeout_ms, &greeting, err);

	if (r < 0)
		return r;
	r = json_object_get(greeting, "QMP")
		    ? 0
		    : ktbpf_err_set(err, -EPROTO, "QMP: the first line is not QEMU's greeting");
	json_decref(greeting);
	if (r < 0)
		return r;
	return qmp_execute(q, "qmp_capabilities", NULL, timeout_ms, NULL, err);
}

static int send_all(int fd, const char *s, size_t len, uint64_t deadline, struct ktbpf_err *err)
{
	while (len) {
		ssize_t n = write(fd, s, len);

		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			uint64_t t = qmp_now_ms();

			if (t >= deadline)
				return ktbpf_err_set(err, -ETIMEDOUT, "QMP: QEMU does not read");
			poll(&p, 1, (int)(deadline - t));
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ktbpf_err_set(err, errno == EPIPE ? -ECONNRESET : -errno,
					     "QMP: write: %s", strerror(errno));
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

int qmp_execute(struct qmp *q, const char *command, json_t *args, int timeout_ms,
		json_t **ret_return, struct ktbpf_err *err)
{
	uint64_t deadline = qmp_now_ms() + (uint64_t)timeout_ms, id = q->next_id++;
	json_t *req = json_pack("{s:s, s:I}", "execute", command, "id", (json_int_t)id);
	char *line;
	int r;

	if (!req) {
		json_decref(args);
		return ktbpf_err_set(err, -ENOMEM, "QMP: out of memory");
	}
	if (args)
		json_object_set_new(req, "arguments", args);
	line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!line)
		return ktbpf_err_set(err, -ENOMEM, "QMP: out of memory");
	r = send_all(q->fd, line, strlen(line), deadline, err);
	if (r == 0)
		r = send_all(q->fd, "\n", 1, deadline, err);
	free(line);
	while (r == 0) {
		json_t *v = NULL, *rid, *e;

		r = next_reply(q, deadline, &v, err);
		if (r < 0)
			break;
		rid = json_object_get(v, "id");
		if (!json_is_integer(rid) || (uint64_t)json_integer_value(rid) != id) {
			json_decref(v); /* an answer to a command that timed out earlier */
			continue;
		}
		if ((e = json_object_get(v, "error"))) {
			const char *desc = json_string_value(json_object_get(e, "desc"));

			r = ktbpf_err_set(err, -EREMOTEIO, "QMP %s: %s", command,
					  desc ? desc : "error without a description");
		} else if (ret_return) {
			*ret_return = json_incref(json_object_get(v, "return"));
		}
		json_decref(v);
		return r;
	}
	return r;
}

int qmp_pump(struct qmp *q, struct ktbpf_err *err)
{
	int r = q->eof ? -ECONNRESET : fill(q, err);

	/* Bounded by the buffer: every turn consumes a line. */
	for (;;) {
		json_t *v;
		int k = take_line(q, &v, err);

		if (k < 0) {
			r = r ? r : k; /* a bad line is skipped: the lines after it still count */
			continue;
		}
		if (!v)
			break;
		if (json_object_get(v, "event"))
			queue_event(q, v);
		else
			json_decref(v); /* a late answer */
	}
	return r;
}

json_t *qmp_next_event(struct qmp *q)
{
	json_t *ev;

	if (!json_array_size(q->events))
		return NULL;
	ev = json_incref(json_array_get(q->events, 0));
	json_array_remove(q->events, 0);
	return ev;
}
