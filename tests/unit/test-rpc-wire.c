/* SPDX-License-Identifier: MIT */
/*
 * The wire over real socketpairs and memfds: lines split and joined as the
 * kernel delivers them, fds that arrive with the line that declares them and
 * in order, leftovers and refused fds closed (the process's open-fd count,
 * read from /proc/self/fd, is back where it was), truncated control messages,
 * oversize lines, and a slow reader against the bounded output queue.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ktbpf/wire.h"
#include "unit.h"

static void pair(int sv[2])
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

static char tag_of(int fd)
{
	char c = 0;

	cr_assert_eq(pread(fd, &c, 1, 0), 1);
	return c;
}

/* Send raw bytes with n fds in one sendmsg(). */
static void send_raw(int sock, const char *s, const int *fds, unsigned int n)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(253 * sizeof(int))];
	} ctl;
	struct iovec iov = {.iov_base = (void *)s, .iov_len = strlen(s)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

	if (n) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.b;
		msg.msg_controllen = CMSG_SPACE(n * sizeof(int));
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	}
	cr_assert_eq(sendmsg(sock, &msg, MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* recv until nothing is readable; returns the last result (< 0 on error). */
static int recv_all(struct ktbpf_wire *w)
{
	int r;

	while ((r = ktbpf_wire_recv(w, NULL)) > 0)
		;
	return r;
}

static void expect_line(struct ktbpf_wire *w, const char *want)
{
	const char *line;
	size_t len;

	cr_assert_eq(ktbpf_wire_next_line(w, &line, &len, NULL), 1, "no line, wanted %s", want);
	cr_assert_eq(len, strlen(want));
	cr_assert(memcmp(line, want, len) == 0, "got %.*s, wanted %s", (int)len, line, want);
}

Test(rpc_wire, lines_split_and_joined_come_out_whole)
{
	struct ktbpf_wire *w;
	int sv[2];

	pair(sv);
	w = ktbpf_wire_new(sv[0], NULL);
	send_raw(sv[1], "{\"a\":1}\n{\"b\"", NULL, 0);
	cr_assert_gt(ktbpf_wire_recv(w, NULL), 0);
	expect_line(w, "{\"a\":1}");
	cr_assert_eq(ktbpf_wire_next_line(w, &(const char *){0}, &(size_t){0}, NULL), 0);
	send_raw(sv[1], ":2}\r\n\n", NULL, 0);
	cr_assert_gt(ktbpf_wire_recv(w, NULL), 0);
	expect_line(w, "{\"b\":2}"); /* "\r\n" ends a line too */
	expect_line(w, "");
	ktbpf_wire_free(w);
	close(sv[0]);
	close(sv[1]);
}

Test(rpc_wire, fds_arrive_in_order_with_their_lines)
{
	int before = unit_count_fds(0), sv[2], a[2], b, got[3];
	struct ktbpf_wire *w;

	pair(sv);
	w = ktbpf_wire_new(sv[0], NULL);
	a[0] = unit_memfd("A", 1);
	a[1] = unit_memfd("B", 1);
	b = unit_memfd("C", 1);
	send_raw(sv[1], "{\"fds\":2}\n", a, 2);
	send_raw(sv[1], "{\"fds\":1}\n", &b, 1);
	close(a[0]);
	close(a[1]);
	close(b);
	cr_assert_eq(recv_all(w), -EAGAIN);
	expect_line(w, "{\"fds\":2}");
	cr_assert_eq(ktbpf_wire_take_fds(w, 2, got, NULL), 0);
	expect_line(w, "{\"fds\":1}");
	cr_assert_eq(ktbpf_wire_take_fds(w, 1, got + 2, NULL), 0);
	cr_assert_eq(tag_of(got[0]), 'A');
	cr_assert_eq(tag_of(got[1]), 'B');
	cr_assert_eq(tag_of(got[2]), 'C');
	for (int i = 0; i < 3; i++) {
		cr_assert(fcntl(got[i], F_GETFD) & FD_CLOEXEC, "received fds are O_CLOEXEC");
		close(got[i]);
	}
	ktbpf_wire_free(w);
	close(sv[0]);
	close(sv[1]);
	cr_assert_eq(unit_count_fds(0), before);
}

Test(rpc_wire, fds_no_line_claims_are_closed_once_all_lines_are_out)
{
	int before = unit_count_fds(0), sv[2], f[2];
	struct ktbpf_wire *w;

	pair(sv);
	w = ktbpf_wire_new(sv[0], NULL);
	f[0] = unit_memfd("x", 1);
	f[1] = unit_memfd("y", 1);
	send_raw(sv[1], "{\"fds\":0}\n", f, 2);
	close(f[0]);
	close(f[1]);
	cr_assert_gt(ktbpf_wire_recv(w, NULL), 0);
	cr_assert_eq(ktbpf_wire_fds_queued(w), 2);
	expect_line(w, "{\"fds\":0}");
	/* No byte is left for a later line to claim them: closed now. */
	cr_assert_eq(ktbpf_wire_next_line(w, &(const char *){0}, &(size_t){0}, NULL), 0);
	cr_assert_eq(ktbpf_wire_fds_queued(w), 0);
	cr_assert_eq(ktbpf_wire_fds_dropped(w), 2);
	close(sv[1]);
	cr_assert_eq(unit_count_fds(0), before + 1); /* sv[0] still open */
	ktbpf_wire_free(w);
	close(sv[0]);
}

Test(rpc_wire, fds_kept_while_their_line_is_partial)
{
	int sv[2], f = unit_memfd("p", 1), got;
	struct ktbpf_wire *w;

	pair(sv);
	w = ktbpf_wire_new(sv[0], NULL);
	send_raw(sv[1], "{\"fds\":", &f, 1);
	close(f);
	cr_assert_gt(ktbpf_wire_recv(w, NULL), 0);
	cr_assert_eq(ktbpf_wire_next_line(w, &(const char *){0}, &(size_t){0}, NULL), 0);
	cr_assert_eq(ktbpf_wire_fds_queued(w), 1, "the fd waits for the rest of its line");
	send_raw(sv[1], "1}\n", NULL, 0);
	cr_assert_gt(ktbpf_wire_recv(w, NULL), 0);
	expect_line(w, "{\"fds\":1}");
	cr_assert_eq(ktbpf_wire_take_fds(w, 1, &got, NULL), 0);
	cr_assert_eq(tag_of(got), 'p');
	close(got);
	ktbpf_wire_free(w);
	close(sv[0]);
	close(sv[1]);
}

Test(rpc_wire, take_more_fds_than_arrived_fails_and_drops_the_queue)
{
	int before = unit_count_fds(0), sv[2], f = unit_memfd("q", 1), got[2];
	struct ktbpf_err err = {0};
	struct ktbpf_wire *w;

	pair(sv);
	w = ktbpf_wire_new(sv[0], NULL);
	send_raw(sv[1], "{\"fds\":2}\n", &f, 1);
	close(f);
	cr_assert_gt(ktbpf_wire_recv(w, NULL), 0);
	expect_line(w, "{\"fds\":2}");
	cr_assert_eq(ktbpf_wire_take_fds(w, 2, got, &err), -EBADMSG);
	cr_assert(strstr(err.msg, "declares 2 fds but 1 arrived"), "%s", err.msg);
	cr_assert_eq(ktbpf_wire_fds_queued(w), 0);
	ktbpf_wire_free(w);
	close(sv[0]);
	close(sv[1]);
	cr_assert_eq(unit_count_fds(0), before);
}

/* n memfds sent in one message, closed on the sending side. */
static void send_many_fds(int sock, unsigned int n)
{
	int *fds = calloc(n, sizeof(int));

	for (unsigned int i = 0; i < n; i++)
		fds[i] = unit_memfd("m", 1);
	send_raw(sock, "{\"fds\":0}\n", fds, n);
	for (unsigned int i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
}

Test(rpc_wire, ctrunc_is_a_protocol_error_and_every_fd_is_closed)
{
	struct ktbpf_wire_limits lim;
	struct ktbpf_err err = {0};
	int before = unit_count_fds(0), sv[2];
	struct ktbpf_wire *w;

	ktbpf_wire_limits_default(&lim);
	lim.max_fds_msg = 4;
	pair(sv);
	w = ktbpf_wire_new(sv[0], &lim);
	send_many_fds(sv[1], 8);
	cr_assert_eq(ktbpf_wire_recv(w, &err), -EPROTO);
	cr_assert(strstr(err.msg, "more than 4 fds in one message"), "%s", err.msg);
	cr_assert_eq(ktbpf_wire_error(w), -EPROTO);
	/* Sticky: the stream cannot be trusted any more. */
	cr_assert_eq(ktbpf_wire_next_line(w, &(const char *){0}, &(size_t){0}, NULL), -EPROTO);
	cr_assert_eq(ktbpf_wire_fds_dropped(w), 4);
	ktbpf_wire_free(w);
	close(sv[0]);
	close(sv[1]);
	cr_assert_eq(unit_count_fds(0), before);
}

Test(rpc_wire, message_with_200_fds_leaves_the_fd_count_where_it_was)
{
	int before = unit_count_fds(0), sv[2];
	struct ktbpf_wire *w;

	pair(sv);
	w = ktbpf_wire_new(sv[0], NULL);
	send_many_fds(sv[1], 200);
	cr_assert_eq(ktbpf_wire_recv(w, NULL), -EPROTO);
	cr_assert_eq(ktbpf_wire_fds_queued(w), 0);
	cr_assert_eq(unit_count_fds(0), before + 2); /* the socketpair */
	ktbpf_wire_free(w);
	close(sv[0]);
	close(sv[1]);
	cr_assert_eq(unit_count_fds(0), before);
}

Test(rpc_wire, fds_past_the_queue_limit_are_refused_and_closed)
{
	struct ktbpf_wire_limits lim;
	int before = unit_count_fds(0), sv[2];
	struct ktbpf_err err = {0};
	struct ktbpf_wire *w;

	ktbpf_wire_limits_default(&lim);
	lim.max_fds_queued = 4;
	pair(sv);
	w = ktbpf_wire_new(sv[0], &lim);
	/* Partial lines: nothing can claim the fds yet, so they pile up. */
	for (int i = 0; i < 2; i++) {
		int f[3] = {unit_memfd("1", 1), unit_memfd("2", 1), unit_memfd("3", 1)};

		send_raw(sv[1], "{", f, 3);
		for (int k = 0; k < 3; k++)
			close(f[k]);
	}
	cr_assert_eq(recv_all(w), -EMFILE);
	ktbpf_wire_recv(w, &err);
	cr_assert(strstr(err.msg, "more than 4 fds waiting"), "%s", err.msg);
	cr_assert_eq(ktbpf_wire_fds_queued(w), 0);
	ktbpf_wire_free(w);
	close(sv[0]);
	close(sv[1]);
	cr_assert_eq(unit_count_fds(0), before);
}

Test(rpc_wire, line_at_the_limit_passes_one_byte_more_is_an_error)
{
	struct ktbpf_wire_limits lim;
	struct ktbpf_err err = {0};
	char buf[80];
	struct ktbpf_wire *w;

	ktbpf_wire_limits_default(&lim);
	lim.max_line = 64;
	w = ktbpf_wire_new(-1, &lim);
	memset(buf, 'a', 64);
	buf[64] = '\n';
	cr_assert_eq(ktbpf_wire_feed(w, buf, 65, NULL, 0, NULL), 0);
	cr_assert_eq(ktbpf_wire_next_line(w, &(const char *){0}, &(size_t){0}, NULL), 1);
	memset(buf, 'b', 65);
	cr_assert_eq(ktbpf_wire_feed(w, buf, 65, NULL, 0, NULL), 0);
	cr_assert_eq(ktbpf_wire_next_line(w, &(const char *){0}, &(size_t){0}, &err), -EMSGSIZE);
	cr_assert(strstr(err.msg, "line longer than 64 bytes"), "%s", err.msg);
	cr_assert_eq(ktbpf_wire_feed(w, "x\n", 2, NULL, 0, NULL), -EMSGSIZE, "sticky");
	ktbpf_wire_free(w);
}

Test(rpc_wire, one_feed_of_short_lines_longer_than_the_limit_is_fine)
{
	struct ktbpf_wire_limits lim;
	struct ktbpf_wire *w;
	char buf[1000];
	int n = 0;

	ktbpf_wire_limits_default(&lim);
	lim.max_line = 64;
	w = ktbpf_wire_new(-1, &lim);
	for (int i = 0; i < 100; i++)
		memcpy(buf + i * 10, "{\"n\":123}\n", 10);
	cr_assert_eq(ktbpf_wire_feed(w, buf, sizeof(buf), NULL, 0, NULL), 0);
	while (ktbpf_wire_next_line(w, &(const char *){0}, &(size_t){0}, NULL) == 1)
		n++;
	cr_assert_eq(n, 100);
	cr_assert_eq(ktbpf_wire_error(w), 0);
	ktbpf_wire_free(w);
}

Test(rpc_wire, oversize_line_over_a_socket_is_detected_before_it_ends)
{
	struct ktbpf_wire_limits lim;
	struct ktbpf_wire *w;
	char *big = malloc(5000);
	int sv[2], r;

	ktbpf_wire_limits_default(&lim);
	lim.max_line = 1000;
	pair(sv);
	w = ktbpf_wire_new(sv[0], &lim);
	memset(big, 'z', 4999);
	big[4999] = 0;
	send_raw(sv[1], big, NULL, 0);
	do {
		r = ktbpf_wire_recv(w, NULL);
		if (r > 0)
			r = ktbpf_wire_next_line(w, &(const char *){0}, &(size_t){0}, NULL);
	} while (r >= 0 && r != -EAGAIN);
	cr_assert_eq(r, -EMSGSIZE);
	ktbpf_wire_free(w);
	free(big);
	close(sv[0]);
	close(sv[1]);
}

/* Read what is there into out (grown), at most max bytes. */
static size_t drain_some(int sock, char **out, size_t *len, size_t max)
{
	char buf[4096];
	size_t got = 0;

	while (got < max) {
		ssize_t n = recv(sock, buf, sizeof(buf) < max - got ? sizeof(buf) : max - got,
				 MSG_DONTWAIT);

		if (n <= 0)
			break;
		*out = realloc(*out, *len + (size_t)n);
		memcpy(*out + *len, buf, (size_t)n);
		*len += (size_t)n;
		got += (size_t)n;
	}
	return got;
}

Test(rpc_wire, slow_reader_gets_every_line_whole_and_in_order)
{
	int sv[2], sndbuf = 4096, lines = 400, flushes = 0;
	struct ktbpf_wire *w;
	char *out = NULL, line[200];
	size_t len = 0;
	int r;

	pair(sv);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	w = ktbpf_wire_new(sv[0], NULL);
	for (int i = 0; i < lines; i++) {
		int n = snprintf(line, sizeof(line), "{\"seq\":%d,\"pad\":\"%0120d\"}", i, i);

		cr_assert_eq(ktbpf_wire_send(w, line, (size_t)n, NULL, 0, NULL), 0);
	}
	r = ktbpf_wire_flush(w, NULL);
	cr_assert_eq(r, 1, "a 4 KiB socket buffer cannot take 50 KiB at once");
	cr_assert_gt(ktbpf_wire_out_bytes(w), 0);
	while (r == 1) {
		drain_some(sv[1], &out, &len, 1000); /* a slow reader: 1000 bytes at a time */
		r = ktbpf_wire_flush(w, NULL);
		flushes++;
	}
	cr_assert_eq(r, 0);
	cr_assert_gt(flushes, 5, "the output went out in many partial writes");
	drain_some(sv[1], &out, &len, SIZE_MAX);
	for (int i = 0, off = 0; i < lines; i++) {
		int n = snprintf(line, sizeof(line), "{\"seq\":%d,\"pad\":\"%0120d\"}\n", i, i);

		cr_assert_leq(off + n, (int)len);
		cr_assert(memcmp(out + off, line, (size_t)n) == 0, "line %d", i);
		off += n;
	}
	free(out);
	ktbpf_wire_free(w);
	close(sv[0]);
	close(sv[1]);
}

Test(rpc_wire, reader_that_never_reads_hits_the_output_bound)
{
	struct ktbpf_wire_limits lim;
	struct ktbpf_err err = {0};
	struct ktbpf_wire *w;
	char line[1000];
	int sv[2], i, r = 0;

	ktbpf_wire_limits_default(&lim);
	lim.max_out = 64 << 10;
	pair(sv);
	w = ktbpf_wire_new(sv[0], &lim);
	memset(line, 'x', sizeof(line));
	for (i = 0; i < 100000 && r == 0; i++) {
		r = ktbpf_wire_send(w, line, sizeof(line), NULL, 0, &err);
		if (r == 0)
			cr_assert_geq(ktbpf_wire_flush(w, NULL), 0);
	}
	cr_assert_eq(r, -ENOBUFS);
	cr_assert(strstr(err.msg, "reads too slowly"), "%s", err.msg);
	cr_assert_leq(ktbpf_wire_out_bytes(w), lim.max_out);
	ktbpf_wire_free(w);
	close(sv[0]);
	close(sv[1]);
}

Test(rpc_wire, fds_sent_after_a_partial_write_go_with_their_own_line)
{
	int sv[2], sndbuf = 4096, f = unit_memfd("L", 1), got, r;
	struct ktbpf_wire *tx, *rx;
	char big[20000];
	const char *line;
	size_t len;

	pair(sv);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	tx = ktbpf_wire_new(sv[0], NULL);
	rx = ktbpf_wire_new(sv[1], NULL);
	memset(big, 'b', sizeof(big));
	cr_assert_eq(ktbpf_wire_send(tx, big, sizeof(big), NULL, 0, NULL), 0);
	cr_assert_eq(ktbpf_wire_send(tx, "{\"fds\":1}", 9, &f, 1, NULL), 0);
	close(f); /* the wire sends its own duplicate */
	r = ktbpf_wire_flush(tx, NULL);
	cr_assert_eq(r, 1);
	while (r == 1) {
		cr_assert_geq(recv_all(rx) == -EAGAIN ? 0 : -1, 0);
		if (ktbpf_wire_next_line(rx, &line, &len, NULL) == 1) {
			cr_assert_eq(len, sizeof(big));
			cr_assert_eq(ktbpf_wire_fds_queued(rx), 0, "no fd with the big line");
		}
		r = ktbpf_wire_flush(tx, NULL);
	}
	cr_assert_eq(recv_all(rx), -EAGAIN);
	while ((r = ktbpf_wire_next_line(rx, &line, &len, NULL)) == 1 && len != 9)
		;
	cr_assert_eq(r, 1);
	cr_assert_eq(ktbpf_wire_take_fds(rx, 1, &got, NULL), 0);
	cr_assert_eq(tag_of(got), 'L');
	close(got);
	ktbpf_wire_free(tx);
	ktbpf_wire_free(rx);
	close(sv[0]);
	close(sv[1]);
}

Test(rpc_wire, send_refuses_a_line_with_a_newline)
{
	struct ktbpf_wire *w = ktbpf_wire_new(-1, NULL);

	cr_assert_eq(ktbpf_wire_send(w, "a\nb", 3, NULL, 0, NULL), -EINVAL);
	cr_assert_eq(ktbpf_wire_out_bytes(w), 0);
	ktbpf_wire_free(w);
}
