/* SPDX-License-Identifier: MIT */
/*
 * ktbpfd: the monitor daemon. One libuv loop serves JSON-RPC 2.0 on Unix
 * stream sockets (given by systemd, or --socket PATH): VMMs register guests
 * with their RAM as fds, test runners and people ask for snapshots of the
 * guests' struct_ops BPF programs. This file: settings, listeners, signals
 * and the drain at exit; conn.c, vm.c, snapshot.c and methods.c do the rest.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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

static void usage(FILE *out)
{
	fputs("Usage: ktbpfd [--socket PATH] [OPTION...]\n"
	      "\n"
	      "Serve ktbpf's JSON-RPC API (rpc/openrpc.json) on a Unix socket: VMMs register\n"
	      "guests with their RAM as fds, clients ask for snapshots of the guests'\n"
	      "struct_ops BPF programs. Without --socket the sockets come from systemd\n"
	      "(socket activation).\n"
	      "\n"
	      "  --socket PATH              listen on PATH (created; removed at exit)\n"
	      "  --freeze-timeout-ms N      wait N ms for a VMM to freeze (default 2000)\n"
	      "  --retention-ms N           keep a detached VM readable N ms (default 600000)\n"
	      "  --max-connections N        (default 256)\n"
	      "  --max-line BYTES           longest request line (default 1 MiB)\n"
	      "  --max-fds-msg N            fds in one message, 1..253 (default 253)\n"
	      "  --max-pending N            requests served at once per connection (default 64)\n"
	      "  --max-vms N                (default 1024)\n"
	      "  --max-regions N            regions per VM, 1..64 (default 64)\n"
	      "  --max-out BYTES            answers queued for a slow reader before it is\n"
	      "                             disconnected (default 16 MiB)\n"
	      "  --state-dir DIR            failure dumps go in DIR/dumps (default\n"
	      "                             $STATE_DIRECTORY, else /var/lib/ktbpfd)\n"
	      "  --dump-max-use BYTES       keep at most BYTES of dumps, oldest deleted first\n"
	      "                             (default 1 GiB; 0: no limit)\n"
	      "  --dump-keep-free BYTES     delete the oldest dumps while the disk has less\n"
	      "                             free (default 256 MiB; 0: no limit)\n"
	      "  --dump-max-age-s N         delete dumps older than N s (default 259200, 3 days)\n"
	      "  --metrics-textfile PATH    write every VM's metrics (Prometheus text format) to\n"
	      "                             PATH for node_exporter's textfile collector,\n"
	      "                             atomically (PATH.tmp.PID renamed); no TCP port\n"
	      "  --metrics-interval SECONDS rewrite it every SECONDS (default 15)\n"
	      "  --check-interval-ms N      check that an idle VM's kernel still runs (a reboot\n"
	      "                             changes it) every N ms (default 2000); every\n"
	      "                             snapshot checks too\n"
	      "  -h, --help\n",
	      out);
}

enum {
	OPT_SOCKET = 256,
	OPT_FREEZE,
	OPT_RETENTION,
	OPT_CONNS,
	OPT_LINE,
	OPT_FDS,
	OPT_PENDING,
	OPT_VMS,
	OPT_REGIONS,
	OPT_STATE_DIR,
	OPT_DUMP_MAX_USE,
	OPT_DUMP_KEEP_FREE,
	OPT_DUMP_MAX_AGE,
	OPT_TEXTFILE,
	OPT_INTERVAL,
	OPT_MAX_OUT,
	OPT_CHECK
};

static const struct option longopts[] = {
	{"socket", required_argument, NULL, OPT_SOCKET},
	{"freeze-timeout-ms", required_argument, NULL, OPT_FREEZE},
	{"retention-ms", required_argument, NULL, OPT_RETENTION},
	{"max-connections", required_argument, NULL, OPT_CONNS},
	{"max-line", required_argument, NULL, OPT_LINE},
	{"max-fds-msg", required_argument, NULL, OPT_FDS},
	{"max-pending", required_argument, NULL, OPT_PENDING},
	{"max-vms", required_argument, NULL, OPT_VMS},
	{"max-regions", required_argument, NULL, OPT_REGIONS},
	{"state-dir", required_argument, NULL, OPT_STATE_DIR},
	{"dump-max-use", required_argument, NULL, OPT_DUMP_MAX_USE},
	{"dump-keep-free", required_argument, NULL, OPT_DUMP_KEEP_FREE},
	{"dump-max-age-s", required_argument, NULL, OPT_DUMP_MAX_AGE},
	{"metrics-textfile", required_argument, NULL, OPT_TEXTFILE},
	{"metrics-interval", required_argument, NULL, OPT_INTERVAL},
	{"max-out", required_argument, NULL, OPT_MAX_OUT},
	{"check-interval-ms", required_argument, NULL, OPT_CHECK},
	{"help", no_argument, NULL, 'h'},
	{0},
};

static void settings_default(struct settings *s)
{
	*s = (struct settings){
		.max_connections = 256,
		.max_line = KTBPF_WIRE_MAX_LINE,
		.max_fds_msg = KTBPF_WIRE_FDS_MSG_CAP,
		.max_fds_queued = KTBPF_WIRE_FDS_MSG_CAP,
		.max_pending = KTBPF_PEER_MAX_PENDING,
		.max_vms = 1024,
		.max_regions = KTBPF_MEM_MAX_REGIONS,
		.max_out = KTBPF_WIRE_MAX_OUT,
		.freeze_timeout_ms = 2000,
		.retention_ms = 600000,
		.retry_min_ms = 50,
		.retry_max_ms = 5000,
		.drain_timeout_ms = 10000,
		.dump_max_use = 1ull << 30,
		.dump_keep_free = 256ull << 20,
		.dump_max_age_s = 3 * 24 * 3600,
		.metrics_interval_ms = 15000,
		.check_interval_ms = 2000,
	};
	/* systemd's StateDirectory= sets $STATE_DIRECTORY (a colon-separated list: the first). */
	s->state_dir = getenv("STATE_DIRECTORY");
	if (s->state_dir && strchr(s->state_dir, ':')) {
		static char first[4096];

		snprintf(first, sizeof(first), "%.*s", (int)strcspn(s->state_dir, ":"),
			 s->state_dir);
		s->state_dir = first;
	}
	if (!s->state_dir || !*s->state_dir)
		s->state_dir = "/var/lib/ktbpfd";
}

static int parse_num(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "ktbpfd: --%s: '%s' is not a number in %" PRIu64 "..%" PRIu64 "\n",
			opt, s, min, max);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int parse_args(struct daemon *d, int argc, char **argv, const char **ret_socket)
{
	struct settings *s = &d->set;
	uint64_t v;
	int c, i;

	while ((c = getopt_long(argc, argv, "h", longopts, &i)) != -1) {
		const char *name = c >= OPT_SOCKET ? longopts[c - OPT_SOCKET].name : "";

		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		if (c == OPT_SOCKET) {
			*ret_socket = optarg;
			continue;
		}
		if (c == OPT_STATE_DIR) {
			s->state_dir = optarg;
			continue;
		}
		if (c == OPT_DUMP_MAX_USE || c == OPT_DUMP_KEEP_FREE || c == OPT_DUMP_MAX_AGE) {
			if (parse_num(name, optarg, 0, UINT64_MAX, &v) < 0) {
				usage(stderr);
				return -EINVAL;
			}
			if (c == OPT_DUMP_MAX_USE)
				s->dump_max_use = v;
			else if (c == OPT_DUMP_KEEP_FREE)
				s->dump_keep_free = v;
			else
				s->dump_max_age_s = v;
			continue;
		}
		if (c == OPT_TEXTFILE) {
			s->metrics_textfile = optarg;
			continue;
		}
		if (c == '?' || parse_num(name, optarg, 1, UINT32_MAX, &v) < 0) {
			usage(stderr);
			return -EINVAL;
		}
		switch (c) {
		case OPT_FREEZE:
			s->freeze_timeout_ms = v;
			break;
		case OPT_RETENTION:
			s->retention_ms = v;
			break;
		case OPT_CONNS:
			s->max_connections = (unsigned)v;
			break;
		case OPT_LINE:
			s->max_line = v;
			break;
		case OPT_FDS:
			s->max_fds_msg =
				(unsigned)(v > KTBPF_WIRE_FDS_MSG_CAP ? KTBPF_WIRE_FDS_MSG_CAP : v);
			break;
		case OPT_PENDING:
			s->max_pending = (unsigned)v;
			break;
		case OPT_VMS:
			s->max_vms = (unsigned)v;
			break;
		case OPT_MAX_OUT:
			s->max_out = v;
			break;
		case OPT_INTERVAL:
			s->metrics_interval_ms = v * 1000;
			break;
		case OPT_CHECK:
			s->check_interval_ms = v;
			break;
		case OPT_REGIONS:
			s->max_regions =
				(unsigned)(v > KTBPF_MEM_MAX_REGIONS ? KTBPF_MEM_MAX_REGIONS : v);
			break;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ktbpfd: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (s->max_fds_queued < s->max_fds_msg)
		s->max_fds_queued = s->max_fds_msg;
	return 0;
}

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
	uv_timer_start(&d->drain_timer, on_drain_timer, 0, 20);
}

int main(int argc, char **argv)
{
	static struct daemon daemon;
	struct daemon *d = &daemon;
	const char *socket_path = NULL;
	int r;

	settings_default(&d->set);
	if (parse_args(d, argc, argv, &socket_path) < 0)
		return 2;
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
	if (r < 0) {
		fprintf(stderr, "ktbpfd: loop closed with handles open: %s\n", uv_strerror(r));
		return 1;
	}
	fprintf(stderr, "ktbpfd: exited cleanly\n");
	return 0;
}
