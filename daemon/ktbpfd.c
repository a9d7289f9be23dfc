/* SPDX-License-Identifier: MIT */
/*
 * ktbpfd: the monitor daemon. One libuv loop serves JSON-RPC 2.0 on Unix
 * stream sockets (given by systemd, or --socket PATH): VMMs register guests
 * with their RAM as fds, test runners and people ask for snapshots of the
 * guests' struct_ops BPF programs. This file: listeners, signals and the
 * drain at exit; settings.c reads the settings, conn.c, vm.c, snapshot.c and
 * methods.c do the rest.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "daemon-internal.h"
#include "notify.h"

static void on_listen(uv_poll_t *h, int status, int events)
{
	struct listener *l = h->data;

	if (status < 0) {
		fprintf(stderr, "ktbpfd: listening socket: %s\n", uv_strerror(status));
		return;
	}
	conn_accept(l->d, l->fd);
}

static int add_listener(struct daemon *d, int fd)
{
	struct listener *l;
	int r;

	if (d->nr_listeners == KTBPFD_MAX_LISTENERS) {
		fprintf(stderr, "ktbpfd: more than %d listening sockets\n", KTBPFD_MAX_LISTENERS);
		return -E2BIG;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	l = &d->listeners[d->nr_listeners];
	l->fd = fd;
	l->d = d;
	l->poll.data = l;
	r = uv_poll_init(d->loop, &l->poll, fd);
	if (r < 0)
		return r;
	d->nr_listeners++;
	return uv_poll_start(&l->poll, UV_READABLE, on_listen);
}

static int listen_path(struct daemon *d, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "ktbpfd: socket path '%s' is longer than %zu bytes\n", path,
			sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0) {
		r = -errno;
		fprintf(stderr, "ktbpfd: cannot listen on '%s': %s\n", path, strerror(-r));
		close(fd);
		return r;
	}
	/* Anyone may connect: each caller sees only its own VMs (SO_PEERCRED). */
	chmod(path, 0666);
	d->socket_path = strdup(path);
	r = add_listener(d, fd);
	if (r < 0)
		close(fd);
	return r;
}

static int listen_systemd(struct daemon *d)
{
	int n = sd_listen_fds(1), r;

	if (n < 0) {
		fprintf(stderr, "ktbpfd: sockets from systemd: %s\n", strerror(-n));
		return n;
	}
	if (n == 0) {
		fprintf(stderr, "ktbpfd: no socket: pass --socket PATH or start under systemd "
				"socket activation\n");
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;

		if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
			fprintf(stderr,
				"ktbpfd: fd %d from systemd is not a listening Unix stream "
				"socket\n",
				fd);
			return -EINVAL;
		}
		r = add_listener(d, fd);
		if (r < 0)
			return r;
	}
	d->systemd = true;
	return 0;
}

static void close_listeners(struct daemon *d)
{
	for (unsigned i = 0; i < d->nr_listeners; i++) {
		uv_close((uv_handle_t *)&d->listeners[i].poll, NULL);
		close(d->listeners[i].fd);
	}
	d->nr_listeners = 0;
	if (d->socket_path)
		unlink(d->socket_path);
}

static void on_drain_timer(uv_timer_t *t)
{
	daemon_check_drain(t->data);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;

	if (d->draining)
		return;
	fprintf(stderr, "ktbpfd: %s: draining %u connection(s), %u VM(s)\n", strsignal(signum),
		d->nr_conns, d->nr_vms);
	notify_stopping(d);
	d->draining = true;
	d->drain_deadline_ns = now_ns() + d->set.drain_timeout_ms * 1000000ull;
	close_listeners(d);
	uv_signal_stop(&d->sigterm);
	uv_signal_stop(&d->sigint);
	uv_signal_stop(&d->sighup);
	uv_timer_start(&d->drain_timer, on_drain_timer, 0, 20);
}

/* SIGHUP: read the settings again and restart the timers whose period changed. */
static void on_sighup(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;

	if (d->draining)
		return;
	notify_reloading(d);
	if (settings_reload(d) < 0) {
		notify_reloaded(d);
		return;
	}
	metrics_textfile_reload(d);
	for (struct list *p = d->vms.next; p != &d->vms; p = p->next) {
		struct vm *vm = list_entry(p, struct vm, link);

		if (uv_is_active((uv_handle_t *)&vm->check_timer))
			kernel_check_start(vm);
	}
	notify_reloaded(d);
}

int main(int argc, char **argv)
{
	static struct daemon daemon;
	struct daemon *d = &daemon;
	struct settings_src src;
	const char *socket_path;
	int r;

	if (settings_load(&d->set, argc, argv, &src) < 0) {
		settings_usage(stderr);
		return 2;
	}
	if (src.help) {
		settings_usage(stdout);
		return 0;
	}
	if (src.version) {
		printf("ktbpfd %s\n", KTBPF_VERSION);
		return 0;
	}
	socket_path = src.socket;
	d->argc = argc;
	d->argv = argv;
	if (src.buf) {
		d->config_texts = malloc(sizeof(*d->config_texts));
		if (!d->config_texts)
			return 1;
		*d->config_texts = src;
	}
	signal(SIGPIPE, SIG_IGN);
	d->loop = uv_default_loop();
	d->start_ns = now_ns();
	d->next_vm_id = 1;
	list_init(&d->conns);
	list_init(&d->vms);
	/* The store is indexed (and cleaned) before the first client can ask for it; without one
	 * ktbpfd still serves snapshots and vm.dump says why not. */
	dumps_open(d);
	r = socket_path ? listen_path(d, socket_path) : listen_systemd(d);
	if (r < 0)
		return 1;
	uv_timer_init(d->loop, &d->reap_timer);
	uv_timer_init(d->loop, &d->drain_timer);
	d->reap_timer.data = d->drain_timer.data = d;
	uv_signal_init(d->loop, &d->sigterm);
	uv_signal_init(d->loop, &d->sigint);
	d->sigterm.data = d->sigint.data = d;
	uv_signal_start(&d->sigterm, on_signal, SIGTERM);
	uv_signal_start(&d->sigint, on_signal, SIGINT);
	uv_signal_init(d->loop, &d->sighup);
	d->sighup.data = d;
	uv_signal_start(&d->sighup, on_sighup, SIGHUP);
	r = metrics_textfile_start(d);
	if (r < 0) {
		fprintf(stderr, "ktbpfd: metrics timer: %s\n", uv_strerror(r));
		return 1;
	}
	notify_ready(d);
	fprintf(stderr, "ktbpfd %s: listening on %s\n", KTBPF_VERSION,
		socket_path ? socket_path : "systemd's sockets");
	uv_run(d->loop, UV_RUN_DEFAULT);
	r = uv_loop_close(d->loop);
	dumps_close(d);
	free(d->socket_path);
	while (d->config_texts) {
		struct settings_src *next = d->config_texts->next;

		free(d->config_texts->buf);
		free(d->config_texts);
		d->config_texts = next;
	}
	if (r < 0) {
		fprintf(stderr, "ktbpfd: loop closed with handles open: %s\n", uv_strerror(r));
		return 1;
	}
	fprintf(stderr, "ktbpfd: exited cleanly\n");
	return 0;
}
