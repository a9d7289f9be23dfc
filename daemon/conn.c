/* SPDX-License-Identifier: MIT */
/*
 * Connections: each one a uv_poll_t over the socket, read and written with
 * rpc/'s wire (our own recvmsg()/sendmsg(): libuv cannot hand over SCM_RIGHTS
 * fds), lines served by rpc/'s peer with the daemon's method table. The
 * caller's uid comes from SO_PEERCRED once, at accept.
 *
 * A connection is never freed inside its own callbacks: conn_close_later()
 * marks it and the reaper (a zero timer) closes it on the next loop turn,
 * where ktbpf_peer_close() may complete our own calls (a VMM's vm.freeze)
 * without re-entering the peer that is being served.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon-internal.h"

/* Bytes read per readable event before giving other connections a turn. */
#define READS_PER_EVENT 16

static void on_conn_poll(uv_poll_t *h, int status, int events);

static void set_events(struct conn *c, int events)
{
	if (c->closing || c->events == events)
		return;
	c->events = events;
	uv_poll_start(&c->poll, events, on_conn_poll);
}

static int conn_send(void *userdata, const char *line, size_t len, const int *fds,
		     unsigned int nfds)
{
	struct conn *c = userdata;
	struct ktbpf_err err = {0};
	int r;

	if (c->closing)
		return -ENOTCONN;
	r = ktbpf_wire_send(c->w, line, len, fds, nfds, &err);
	if (r == 0)
		r = ktbpf_wire_flush(c->w, &err);
	if (r == 1) {
		set_events(c, UV_READABLE | UV_WRITABLE);
		return 0;
	}
	if (r < 0) {
		fprintf(stderr, "ktbpfd: connection pid %d uid %u: %s: dropped\n", (int)c->pid,
			(unsigned)c->uid, err.msg);
		conn_close_later(c);
	}
	return r;
}

static void on_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	close(c->fd);
	ktbpf_wire_free(c->w);
	ktbpf_peer_unref(c->peer);
	free(c);
}

/* Close now (from the reaper or at exit): the VMs it registered are detached. */
static void conn_close_now(struct conn *c)
{
	struct daemon *d = c->d;
	struct list *p, *n;

	if (c->closed)
		return;
	c->closing = c->closed = true;
	list_del(&c->link);
	d->nr_conns--;
	for (p = d->vms.next; p != &d->vms; p = n) {
		struct vm *vm = list_entry(p, struct vm, link);

		n = p->next;
		if (vm->owner == c)
			vm_detach(vm);
	}
	ktbpf_peer_close(c->peer);
	uv_close((uv_handle_t *)&c->poll, on_closed);
}

static void on_reap(uv_timer_t *t)
{
	struct daemon *d = t->data;
	struct list *p;

	/* Closing one may close others (callbacks of its calls): rescan from the head each time. */
	for (p = d->conns.next; p != &d->conns;) {
		struct conn *c = list_entry(p, struct conn, link);

		if (!c->closing) {
			p = p->next;
			continue;
		}
		conn_close_now(c);
		p = d->conns.next;
	}
}

void conn_close_later(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_poll_stop(&c->poll);
	uv_timer_start(&c->d->reap_timer, on_reap, 0, 0);
}

void conns_close_all(struct daemon *d)
{
	while (d->conns.next != &d->conns)
		conn_close_now(list_entry(d->conns.next, struct conn, link));
}

static void on_readable(struct conn *c)
{
	struct ktbpf_err err = {0};
	int r, i;

	for (i = 0; i < READS_PER_EVENT && !c->closing; i++) {
		r = ktbpf_wire_recv(c->w, &err);
		if (r == -EAGAIN)
			return;
		if (r == 0) {
			/* End of stream: answers still owed go nowhere. */
			conn_close_later(c);
			return;
		}
		/* Lines first (a protocol error sends its one answer from here), then the error. */
		if (ktbpf_peer_drain(c->peer, c->w, &err) < 0 || r < 0) {
			if (!c->closing) {
				struct ktbpf_err e2 = {0};

				ktbpf_wire_flush(c->w, &e2);
				fprintf(stderr, "ktbpfd: connection pid %d uid %u: %s: closed\n",
					(int)c->pid, (unsigned)c->uid, err.msg);
			}
			conn_close_later(c);
			return;
		}
	}
}

static void on_conn_poll(uv_poll_t *h, int status, int events)
{
	struct conn *c = h->data;
	struct ktbpf_err err = {0};
	int r;

	if (c->closing)
		return;
	if (status < 0) {
		conn_close_later(c);
		return;
	}
	if (events & UV_READABLE)
		on_readable(c);
	if (c->closing)
		return;
	r = ktbpf_wire_out_bytes(c->w) ? ktbpf_wire_flush(c->w, &err) : 0;
	if (r < 0)
		conn_close_later(c);
	else
		set_events(c, r == 1 ? UV_READABLE | UV_WRITABLE : UV_READABLE);
}

/* One line for a connection refused at accept, written best effort. */
static void refuse(int fd, unsigned max)
{
	json_t *e = ktbpf_jsonrpc_error(
		KTBPF_JSONRPC_LIMIT,
		json_pack("{s:s, s:I}", "limit", "connections", "max", (json_int_t)max),
		"ktbpfd serves %u connections at most: try again later", max);
	json_t *msg = e ? ktbpf_jsonrpc_error_response(NULL, e) : NULL;
	size_t len;
	char *line = msg ? ktbpf_jsonrpc_encode(msg, &len) : NULL;

	if (line) {
		line[len] = '\n'; /* encode's NUL becomes the line's end */
		(void)!send(fd, line, len + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	free(line);
	json_decref(msg);
	close(fd);
}

struct conn *conn_new(struct daemon *d, int fd, const struct ucred *cred, ktbpf_peer_send_fn send)
{
	struct ktbpf_wire_limits wl;
	struct ktbpf_peer_limits pl = {.max_pending = d->set.max_pending,
				       .max_calls = KTBPF_PEER_MAX_CALLS,
				       .max_batch = KTBPF_PEER_MAX_BATCH};
	struct conn *c;

	ktbpf_wire_limits_default(&wl);
	wl.max_line = d->set.max_line;
	wl.max_fds_msg = d->set.max_fds_msg;
	wl.max_fds_queued = d->set.max_fds_queued;
	wl.max_out = d->set.max_out;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->d = d;
	c->fd = fd;
	c->uid = cred->uid;
	c->gid = cred->gid;
	c->pid = cred->pid;
	c->w = ktbpf_wire_new(fd, &wl);
	c->peer =
		ktbpf_peer_new(ktbpfd_methods, ktbpfd_nr_methods, &pl, send ? send : conn_send, c);
	if (!c->w || !c->peer || uv_poll_init(d->loop, &c->poll, fd) < 0) {
		ktbpf_wire_free(c->w);
		ktbpf_peer_unref(c->peer);
		free(c);
		return NULL;
	}
	c->poll.data = c;
	list_add(&d->conns, &c->link);
	d->nr_conns++;
	c->events = UV_READABLE;
	uv_poll_start(&c->poll, UV_READABLE, on_conn_poll);
	return c;
}

void conn_accept(struct daemon *d, int lfd)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	int fd;

	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			fprintf(stderr, "ktbpfd: accept: %s\n", strerror(errno));
		return;
	}
	if (d->draining) {
		close(fd);
		return;
	}
	if (d->nr_conns >= d->set.max_connections) {
		refuse(fd, d->set.max_connections);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
		fprintf(stderr, "ktbpfd: SO_PEERCRED: %s\n", strerror(errno));
		close(fd);
		return;
	}
	if (!conn_new(d, fd, &cred, conn_send))
		goto fail;
	return;
fail:
	fprintf(stderr, "ktbpfd: out of memory for a connection\n");
	close(fd);
}
