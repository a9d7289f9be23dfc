/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ktbpf/wire.h"

/* Input grows from this size to max_line + 1 (the line and its "\n"). */
#define IN_MIN 4096
/* Most bytes one recvmsg() asks for (systemd's VARLINK_READ_SIZE). */
#define READ_CHUNK (64u << 10)
/* Most output lines one sendmsg() gathers. */
#define OUT_IOV 64

/* One queued output line: its fds go with its first byte. */
struct seg {
	struct seg *next;
	size_t len;	   /* bytes, "\n" included */
	size_t off;	   /* bytes already written */
	unsigned int nfds; /* fds still to send (0 once sent) */
	int *fds;
	char *data;
};

struct ktbpf_wire {
	int fd;
	int error; /* sticky protocol error, or 0 */
	struct ktbpf_wire_limits lim;

	char *in;
	size_t in_cap, in_len;
	size_t in_start; /* first byte not yet handed out as a line */
	size_t in_scan;	 /* bytes from in_start known to hold no "\n" */

	int *fdq; /* ring of max_fds_queued received fds */
	unsigned int fdq_head, fdq_n;
	unsigned long fds_dropped;
	void *cmsg; /* control buffer for max_fds_msg fds */
	size_t cmsg_len;

	struct seg *out_head, *out_tail;
	size_t out_bytes;
};

void ktbpf_wire_limits_default(struct ktbpf_wire_limits *lim)
{
	lim->max_line = KTBPF_WIRE_MAX_LINE;
	lim->max_fds_msg = KTBPF_WIRE_MAX_FDS_MSG;
	lim->max_fds_queued = KTBPF_WIRE_MAX_FDS_QUEUED;
	lim->max_out = KTBPF_WIRE_MAX_OUT;
}

struct ktbpf_wire *ktbpf_wire_new(int fd, const struct ktbpf_wire_limits *lim)
{
	struct ktbpf_wire *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->fd = fd;
	if (lim)
		w->lim = *lim;
	else
		ktbpf_wire_limits_default(&w->lim);
	if (w->lim.max_fds_msg < 1)
		w->lim.max_fds_msg = 1;
	if (w->lim.max_fds_msg > KTBPF_WIRE_FDS_MSG_CAP)
		w->lim.max_fds_msg = KTBPF_WIRE_FDS_MSG_CAP;
	if (w->lim.max_fds_queued < 1)
		w->lim.max_fds_queued = 1;
	if (w->lim.max_line < 1)
		w->lim.max_line = 1;
	w->cmsg_len = CMSG_SPACE(w->lim.max_fds_msg * sizeof(int));
	w->cmsg = calloc(1, w->cmsg_len);
	w->fdq = calloc(w->lim.max_fds_queued, sizeof(int));
	if (!w->cmsg || !w->fdq)
		return ktbpf_wire_free(w);
	return w;
}

static void close_fds(const int *fds, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Close every queued received fd (counted as dropped). */
static void drop_queue(struct ktbpf_wire *w)
{
	while (w->fdq_n) {
		close(w->fdq[w->fdq_head]);
		w->fdq_head = (w->fdq_head + 1) % w->lim.max_fds_queued;
		w->fdq_n--;
		w->fds_dropped++;
	}
}

static void seg_free(struct seg *s)
{
	close_fds(s->fds, s->nfds);
	free(s);
}

struct ktbpf_wire *ktbpf_wire_free(struct ktbpf_wire *w)
{
	if (!w)
		return NULL;
	if (w->fdq)
		drop_queue(w);
	while (w->out_head) {
		struct seg *s = w->out_head;

		w->out_head = s->next;
		seg_free(s);
	}
	free(w->fdq);
	free(w->cmsg);
	free(w->in);
	free(w);
	return NULL;
}

/* Enter the sticky error state: queued fds can no longer be matched. */
static int fail(struct ktbpf_wire *w, int code)
{
	w->error = code;
	drop_queue(w);
	return code;
}

static int sticky(const struct ktbpf_wire *w, struct ktbpf_err *err)
{
	switch (w->error) {
	case -EMSGSIZE:
		return ktbpf_err_set(err, w->error, "line longer than %zu bytes", w->lim.max_line);
	case -EPROTO:
		return ktbpf_err_set(err, w->error,
				     "truncated control message: more than %u fds in one message",
				     w->lim.max_fds_msg);
	case -EMFILE:
		return ktbpf_err_set(err, w->error,
				     "more than %u fds waiting for the requests that declare them",
				     w->lim.max_fds_queued);
	default:
		return ktbpf_err_set(err, w->error, "connection failed earlier");
	}
}

/* Queue n received fds, or close them all and fail when they do not fit. */
static int queue_fds(struct ktbpf_wire *w, const int *fds, unsigned int n)
{
	if (n > w->lim.max_fds_queued - w->fdq_n) {
		close_fds(fds, n);
		w->fds_dropped += n;
		return fail(w, -EMFILE);
	}
	for (unsigned int i = 0; i < n; i++) {
		w->fdq[(w->fdq_head + w->fdq_n) % w->lim.max_fds_queued] = fds[i];
		w->fdq_n++;
	}
	return 0;
}

/*
 * Make room for at least one more input byte, up to max_line + 1 in all; a
 * line longer than that puts the wire in its sticky error state.
 */
static int in_reserve(struct ktbpf_wire *w, struct ktbpf_err *err)
{
	size_t limit = w->lim.max_line + 1, cap;
	char *p;

	if (w->in_start) {
		memmove(w->in, w->in + w->in_start, w->in_len - w->in_start);
		w->in_len -= w->in_start;
		w->in_start = 0;
	}
	if (w->in_len < w->in_cap)
		return 0;
	/* Full: a line too long, unless complete lines wait to be taken
	 * (one feed of many short lines), which may take more room. */
	if (w->in_cap >= limit && !memchr(w->in, '\n', w->in_len)) {
		fail(w, -EMSGSIZE);
		return sticky(w, err);
	}
	cap = w->in_cap ? w->in_cap * 2 : IN_MIN;
	if (cap > limit && w->in_cap < limit)
		cap = limit;
	p = realloc(w->in, cap);
	if (!p)
		return ktbpf_err_set(err, -ENOMEM, "out of memory for the input line");
	w->in = p;
	w->in_cap = cap;
	return 0;
}

int ktbpf_wire_feed(struct ktbpf_wire *w, const void *buf, size_t len, const int *fds,
		    unsigned int nfds, struct ktbpf_err *err)
{
	const char *b = buf;
	int r;

	if (w->error) {
		close_fds(fds, nfds);
		w->fds_dropped += nfds;
		return sticky(w, err);
	}
	if (nfds > w->lim.max_fds_msg) {
		close_fds(fds, nfds);
		w->fds_dropped += nfds;
		fail(w, -EPROTO);
		return sticky(w, err);
	}
	if (queue_fds(w, fds, nfds) < 0)
		return sticky(w, err);
	while (len) {
		size_t n;

		r = in_reserve(w, err);
		if (r < 0)
			return r;
		n = w->in_cap - w->in_len;
		if (n > len)
			n = len;
		memcpy(w->in + w->in_len, b, n);
		w->in_len += n;
		b += n;
		len -= n;
	}
	return 0;
}

/* The fds of one received message, or a protocol error for a truncated one. */
static int take_cmsg(struct ktbpf_wire *w, struct msghdr *msg)
{
	int fds[KTBPF_WIRE_FDS_MSG_CAP];
	unsigned int n = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k && n < KTBPF_WIRE_FDS_MSG_CAP; i++)
			memcpy(&fds[n++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	if (msg->msg_flags & MSG_CTRUNC) {
		close_fds(fds, n);
		w->fds_dropped += n;
		return fail(w, -EPROTO);
	}
	return queue_fds(w, fds, n);
}

int ktbpf_wire_recv(struct ktbpf_wire *w, struct ktbpf_err *err)
{
	struct iovec iov;
	struct msghdr msg = {0};
	size_t room;
	ssize_t n;
	int r;

	if (w->error)
		return sticky(w, err);
	if (w->fd < 0)
		return ktbpf_err_set(err, -ENOTCONN, "socketless wire: feed it instead");
	r = in_reserve(w, err);
	if (r < 0)
		return r;
	room = w->in_cap - w->in_len;
	iov.iov_base = w->in + w->in_len;
	iov.iov_len = room < READ_CHUNK ? room : READ_CHUNK;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = w->cmsg;
	msg.msg_controllen = w->cmsg_len;
	do {
		n = recvmsg(w->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		r = -errno;
		if (r == -EAGAIN || r == -EWOULDBLOCK)
			return -EAGAIN;
		return ktbpf_err_set(err, r, "recvmsg: %s", strerror(-r));
	}
	if (take_cmsg(w, &msg) < 0)
		return sticky(w, err);
	w->in_len += (size_t)n;
	return (int)n;
}

int ktbpf_wire_next_line(struct ktbpf_wire *w, const char **ret_line, size_t *ret_len,
			 struct ktbpf_err *err)
{
	const char *start, *nl;
	size_t avail, len;

	if (w->error)
		return sticky(w, err);
	avail = w->in_len - w->in_start;
	start = avail ? w->in + w->in_start : NULL;
	nl = avail > w->in_scan ? memchr(start + w->in_scan, '\n', avail - w->in_scan) : NULL;
	if (!nl) {
		w->in_scan = avail;
		if (avail > w->lim.max_line) {
			fail(w, -EMSGSIZE);
			return sticky(w, err);
		}
		/* Every byte is handed out: fds still queued belong to no line. */
		if (!avail && w->fdq_n)
			drop_queue(w);
		return 0;
	}
	len = (size_t)(nl - start);
	w->in_start += len + 1;
	w->in_scan = 0;
	if (len && start[len - 1] == '\r')
		len--;
	if (len > w->lim.max_line) {
		fail(w, -EMSGSIZE);
		return sticky(w, err);
	}
	*ret_line = start;
	*ret_len = len;
	return 1;
}

int ktbpf_wire_take_fds(struct ktbpf_wire *w, unsigned int n, int *ret_fds, struct ktbpf_err *err)
{
	unsigned int had = w->fdq_n;

	if (n > w->fdq_n) {
		drop_queue(w);
		return ktbpf_err_set(err, -EBADMSG,
				     "the request declares %u fds but %u arrived with it", n, had);
	}
	for (unsigned int i = 0; i < n; i++) {
		ret_fds[i] = w->fdq[w->fdq_head];
		w->fdq_head = (w->fdq_head + 1) % w->lim.max_fds_queued;
		w->fdq_n--;
	}
	return 0;
}

void ktbpf_wire_drop_fds(struct ktbpf_wire *w)
{
	drop_queue(w);
}

unsigned int ktbpf_wire_fds_queued(const struct ktbpf_wire *w)
{
	return w->fdq_n;
}

unsigned long ktbpf_wire_fds_dropped(const struct ktbpf_wire *w)
{
	return w->fds_dropped;
}

int ktbpf_wire_error(const struct ktbpf_wire *w)
{
	return w->error;
}

size_t ktbpf_wire_out_bytes(const struct ktbpf_wire *w)
{
	return w->out_bytes;
}

int ktbpf_wire_send(struct ktbpf_wire *w, const char *line, size_t len, const int *fds,
		    unsigned int nfds, struct ktbpf_err *err)
{
	struct seg *s;

	if (memchr(line, '\n', len))
		return ktbpf_err_set(err, -EINVAL, "an output line contains a newline");
	if (nfds > KTBPF_WIRE_FDS_MSG_CAP)
		return ktbpf_err_set(err, -EINVAL, "%u fds in one message (at most %d)", nfds,
				     KTBPF_WIRE_FDS_MSG_CAP);
	if (len + 1 > w->lim.max_out || w->out_bytes > w->lim.max_out - len - 1)
		return ktbpf_err_set(err, -ENOBUFS,
				     "peer reads too slowly: %zu bytes already queued (limit %zu)",
				     w->out_bytes, w->lim.max_out);
	s = malloc(sizeof(*s) + nfds * sizeof(int) + len + 1);
	if (!s)
		return ktbpf_err_set(err, -ENOMEM, "out of memory for an output line");
	s->next = NULL;
	s->fds = (int *)(s + 1);
	s->data = (char *)(s->fds + nfds);
	s->len = len + 1;
	s->off = 0;
	s->nfds = 0;
	for (unsigned int i = 0; i < nfds; i++) {
		int d = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);

		if (d < 0) {
			int r = -errno;

			seg_free(s);
			return ktbpf_err_set(err, r, "fd %d to send: %s", fds[i], strerror(-r));
		}
		s->fds[s->nfds++] = d;
	}
	memcpy(s->data, line, len);
	s->data[len] = '\n';
	if (w->out_tail)
		w->out_tail->next = s;
	else
		w->out_head = s;
	w->out_tail = s;
	w->out_bytes += s->len;
	return 0;
}

/* One sendmsg() of the head line's fds (if unsent) and the lines after it
 * that carry none. Returns bytes written or -errno. */
static ssize_t send_some(struct ktbpf_wire *w)
{
	struct iovec iov[OUT_IOV];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(KTBPF_WIRE_FDS_MSG_CAP * sizeof(int))];
	} ctl;
	struct msghdr msg = {.msg_iov = iov};
	struct seg *s = w->out_head;
	ssize_t n;

	if (s->nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.b;
		msg.msg_controllen = CMSG_SPACE(s->nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(s->nfds * sizeof(int));
		memcpy(CMSG_DATA(c), s->fds, s->nfds * sizeof(int));
	}
	for (; s && msg.msg_iovlen < OUT_IOV; s = s->next) {
		if (s != w->out_head && s->nfds)
			break; /* its fds start a sendmsg() of their own */
		iov[msg.msg_iovlen].iov_base = s->data + s->off;
		iov[msg.msg_iovlen].iov_len = s->len - s->off;
		msg.msg_iovlen++;
	}
	do {
		n = sendmsg(w->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* The fds went with the first byte: ours are duplicates to close. */
	s = w->out_head;
	close_fds(s->fds, s->nfds);
	s->nfds = 0;
	return n;
}

int ktbpf_wire_flush(struct ktbpf_wire *w, struct ktbpf_err *err)
{
	if (w->fd < 0)
		return ktbpf_err_set(err, -ENOTCONN, "socketless wire: nothing to write to");
	while (w->out_head) {
		ssize_t n = send_some(w);

		if (n == -EAGAIN || n == -EWOULDBLOCK)
			return 1;
		if (n < 0)
			return ktbpf_err_set(err, (int)n, "sendmsg: %s", strerror((int)-n));
		w->out_bytes -= (size_t)n;
		while (n > 0) {
			struct seg *s = w->out_head;
			size_t k = s->len - s->off;

			if ((size_t)n < k) {
				s->off += (size_t)n;
				break;
			}
			n -= (ssize_t)k;
			w->out_head = s->next;
			if (!w->out_head)
				w->out_tail = NULL;
			seg_free(s);
		}
	}
	return 0;
}
