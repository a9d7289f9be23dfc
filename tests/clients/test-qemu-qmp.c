/* SPDX-License-Identifier: MIT */
/*
 * ktbpf-qemu's QMP client against hostile monitor bytes on a real socketpair:
 * a line that is not JSON is skipped without losing the event after it, and a
 * line longer than the limit makes the monitor fail fast for good (so the
 * caller stops polling it) instead of being read again and again.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qmp.h"

static struct qmp *pair(int *peer)
{
	struct qmp *q;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	cr_assert_eq(qmp_new(sv[0], &q), 0);
	*peer = sv[1];
	return q;
}

Test(qemu_qmp, bad_line_is_skipped_and_the_event_after_it_kept)
{
	static const char text[] = "not json at all\n{\"event\": \"RESET\"}\n";
	struct ktbpf_err err = {0};
	json_t *ev;
	int peer;
	struct qmp *q = pair(&peer);

	cr_assert_eq(write(peer, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	cr_assert_eq(qmp_pump(q, &err), -EPROTO);
	ev = qmp_next_event(q);
	cr_assert_not_null(ev, "the event after a bad line was lost");
	cr_assert_str_eq(json_string_value(json_object_get(ev, "event")), "RESET");
	json_decref(ev);
	close(peer);
	qmp_free(q);
}

struct flood {
	int fd;
	size_t bytes;
};

static void *write_flood(void *arg)
{
	struct flood *f = arg;
	static char chunk[65536];

	memset(chunk, 'x', sizeof(chunk));
	for (size_t done = 0; done < f->bytes;) {
		ssize_t n = write(f->fd, chunk, sizeof(chunk));

		if (n <= 0)
			break; /* the reader gave up and closed */
		done += (size_t)n;
	}
	return NULL;
}

Test(qemu_qmp, overlong_line_fails_fast_for_good)
{
	struct flood f = {.bytes = 6u << 20};
	struct ktbpf_err err = {0};
	pthread_t t;
	int peer, r = 0;
	struct qmp *q = pair(&peer);

	f.fd = peer;
	signal(SIGPIPE, SIG_IGN); /* the writer outlives our end */
	cr_assert_eq(pthread_create(&t, NULL, write_flood, &f), 0);
	/* Pump as a loop would until the limit; bounded well above 6 MiB / 64 KiB. */
	for (int i = 0; i < 100000 && r == 0; i++) {
		r = qmp_pump(q, &err);
		if (r == 0)
			usleep(100);
	}
	cr_assert_eq(r, -EMSGSIZE, "%d %s", r, err.msg);
	/* Later calls fail at once, without reading (nothing to spin on). */
	cr_assert_eq(qmp_pump(q, &err), -EMSGSIZE);
	cr_assert_eq(qmp_execute(q, "stop", NULL, 60000, NULL, &err), -EMSGSIZE, "%s", err.msg);
	qmp_free(q); /* closes our end: the writer's next write fails */
	pthread_join(t, NULL);
	close(peer);
}
