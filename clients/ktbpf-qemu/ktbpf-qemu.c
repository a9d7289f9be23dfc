/* SPDX-License-Identifier: MIT */
/*
 * ktbpf-qemu: run QEMU with the guest's RAM registered with ktbpfd.
 *
 * The RAM is a memfd this process creates, sizes and seals against shrinking
 * and growing (so ktbpfd may mmap it without fearing SIGBUS), and hands to
 * QEMU as memory-backend-file,share=on,mem-path=/proc/self/fd/N: QEMU opens
 * its own inherited fd N through procfs, which is the same shmem file. Why
 * not memory-backend-memfd: QEMU 7.2 creates that memfd itself and offers no
 * way to give it to anyone else, while ktbpfd needs an fd of the RAM (and must
 * keep it after QEMU dies, for dumps of dead guests). QEMU 7.2's file backend
 * takes an existing file of exactly the right size as it is (it only
 * ftruncates files it created: softmmu/physmem.c file_ram_alloc()).
 *
 * QEMU starts with -S, so no guest instruction runs before the guest is
 * registered; the region table computed from the machine type and size is
 * checked against QEMU's own memory tree first. Then `cont` (unless the user
 * asked for -S), and the loop: ktbpfd's vm.freeze / vm.thaw become QMP stop /
 * cont confirmed with query-status, a QMP RESET event becomes vm.reset,
 * signals go to QEMU, and QEMU's exit status becomes ours.
 *
 * ktbpfd may go away and come back (a restart, an upgrade) while the guest
 * runs on: ktbpf-qemu then connects again with a backoff and registers the
 * same RAM memfd under the same name and labels; the new ktbpfd discovers the
 * running kernel as it would after a reset. The guest is never stopped for it
 * (a freeze the old ktbpfd held is released when it goes).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "args.h"
#include "ktbpf/client.h"
#include "layout.h"
#include "qmp.h"

#define QMP_TIMEOUT_MS	     10000
#define QMP_START_TIMEOUT_MS 60000 /* QEMU's start on a loaded host */
/* Connecting to ktbpfd again: the first try a second after it went, then twice
 * as long each time, up to half a minute. */
#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 30000

struct run {
	struct opts o;
	int ram_fd;
	struct layout layout;
	pid_t qemu;
	struct qmp *qmp;
	struct ktbpf_client *client;
	char *vm_id;
	bool froze;		 /* our vm.freeze stopped the VM: vm.thaw resumes it */
	uint64_t retry_at;	 /* qmp_now_ms() to connect to ktbpfd again at; 0: none due */
	unsigned int backoff_ms; /* the wait before retry_at */
	bool refusal_said;	 /* a refused registration was said since ktbpfd went */
};

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char c = (unsigned char)sig;

	if (write(sig_pipe[1], &c, 1) < 0) {
		/* the pipe is full: a signal is already pending */
	}
	errno = saved;
}

static int create_ram(uint64_t size)
{
	int fd = memfd_create("ktbpf-guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0) {
		say("memfd_create: %s", strerror(errno));
		return -1;
	}
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		say("sizing the guest RAM memfd to %" PRIu64 " bytes: %s", size, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* In the child: make fd survive exec. */
static void keep_fd(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl >= 0)
		fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
}

static int spawn_qemu(struct run *run)
{
	int sv[2];
	char **argv;
	pid_t pid;
	int r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		say("socketpair: %s", strerror(errno));
		return -1;
	}
	r = args_qemu_argv(&run->o, run->ram_fd, sv[1], &argv);
	if (r < 0) {
		say("out of memory");
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		say("fork: %s", strerror(errno));
		args_free_argv(argv);
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* No QEMU outlives us: a harness that kills us kills the guest. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		keep_fd(run->ram_fd);
		keep_fd(sv[1]);
		execvp(argv[0], argv);
		fprintf(stderr, "ktbpf-qemu: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	args_free_argv(argv);
	close(sv[1]);
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	run->qemu = pid;
	if (qmp_new(sv[0], &run->qmp) < 0) {
		close(sv[0]);
		say("out of memory");
		return -1;
	}
	return 0;
}

/* The status QEMU reports ("running", "paused", "prelaunch", ...), or NULL. */
static char *query_status(struct run *run, struct ktbpf_err *err)
{
	json_t *ret = NULL;
	char *s = NULL;

	if (qmp_execute(run->qmp, "query-status", NULL, QMP_TIMEOUT_MS, &ret, err) == 0 &&
	    json_is_string(json_object_get(ret, "status")))
		s = strdup(json_string_value(json_object_get(ret, "status")));
	else if (!err->msg[0])
		ktbpf_err_set(err, -EPROTO, "query-status: no status in the answer");
	json_decref(ret);
	return s;
}

/* vm.freeze: QMP stop, then query-status must say paused. A VM that is not
 * running already (paused by the user, prelaunch) counts as frozen and is left
 * as it is on thaw. */
static int vmm_freeze(void *userdata, const char *vm)
{
	struct run *run = userdata;
	struct ktbpf_err err = {0};
	char *st = query_status(run, &err);
	int r = 0;

	(void)vm;
	run->froze = false;
	if (st && strcmp(st, "running")) {
		free(st);
		return 0;
	}
	free(st);
	st = NULL;
	if (qmp_execute(run->qmp, "stop", NULL, QMP_TIMEOUT_MS, NULL, &err) < 0 ||
	    !(st = query_status(run, &err))) {
		say("vm.freeze: %s", err.msg);
		r = err.code ? err.code : -EIO;
	} else if (strcmp(st, "paused")) {
		say("vm.freeze: QEMU says '%s' after stop, not paused", st);
		r = -EIO;
	} else {
		run->froze = true;
	}
	free(st);
	return r;
}

static int vmm_thaw(void *userdata, const char *vm)
{
	struct run *run = userdata;
	struct ktbpf_err err = {0};
	char *st = NULL;
	int r = 0;

	(void)vm;
	if (!run->froze)
		return 0;
	run->froze = false;
	if (qmp_execute(run->qmp, "cont", NULL, QMP_TIMEOUT_MS, NULL, &err) < 0 ||
	    !(st = query_status(run, &err))) {
		say("vm.thaw: %s", err.msg);
		r = err.code ? err.code : -EIO;
	} else if (strcmp(st, "running") && strcmp(st, "shutdown")) {
		say("vm.thaw: QEMU says '%s' after cont, not running", st);
		r = -EIO;
	}
	free(st);
	return r;
}

/* Check the computed table against QEMU's memory tree (QEMU's wins when whole); -1 when neither
 * holds. */
static int confirm_layout(struct run *run)
{
	struct ktbpf_err err = {0};
	struct layout reported;
	json_t *ret = NULL;
	int r;

	r = qmp_execute(run->qmp, "human-monitor-command",
			json_pack("{s:s}", "command-line", "info mtree"), QMP_TIMEOUT_MS, &ret,
			&err);
	if (r == 0 && !json_is_string(ret))
		r = ktbpf_err_set(&err, -EPROTO, "info mtree: no text in the answer");
	if (r == 0)
		r = layout_from_mtree(json_string_value(ret), ARGS_RAM_ID, &reported, &err);
	json_decref(ret);
	if (r == 0 && layout_compare(&run->layout, &reported, &err) < 0) {
		/*
		 * QEMU split the RAM otherwise than the rule for this machine
		 * (max-ram-below-4g, a machine type from before gigabyte
		 * alignment, a newer QEMU): its own table is the truth, once it
		 * is whole and consistent.
		 */
		char why[sizeof(err.msg)];

		snprintf(why, sizeof(why), "%s", err.msg);
		r = layout_validate(&reported, run->o.ram_size, &err);
		if (r == 0) {
			say("note: %s; using QEMU's table", why);
			run->layout = reported;
		}
	}
	if (r < 0) {
		say("refusing to run: the guest's RAM layout cannot be confirmed: %s", err.msg);
		return -1;
	}
	return 0;
}

static void free_client(struct run *run)
{
	run->client = ktbpf_client_free(run->client);
	free(run->vm_id);
	run->vm_id = NULL;
}

/* Register the guest over run->client; on a refusal the connection is closed, err says why. */
static int register_vm(struct run *run, struct ktbpf_err *err)
{
	struct ktbpf_client_region regions[LAYOUT_MAX_REGIONS];
	struct ktbpf_client_vm vm;
	json_t *labels;
	char pid[24];
	int r;

	labels = json_object();
	for (unsigned int i = 0; i < run->layout.n; i++)
		regions[i] = (struct ktbpf_client_region){.gpa = run->layout.r[i].gpa,
							  .size = run->layout.r[i].size,
							  .fd = run->ram_fd,
							  .offset = run->layout.r[i].offset};
	ktbpf_client_vm_init(&vm);
	vm.name = run->o.name;
	vm.arch = "x86_64";
	vm.regions = regions;
	vm.nr_regions = run->layout.n;
	vm.cpus = run->o.cpus;
	vm.can_freeze = true;
	json_object_update(labels, run->o.labels);
	snprintf(pid, sizeof(pid), "%d", (int)run->qemu);
	json_object_set_new(labels, "vmm", json_string("ktbpf-qemu"));
	json_object_set_new(labels, "qemu_pid", json_string(pid));
	vm.labels = labels;
	r = ktbpf_client_register(run->client, &vm, &run->vm_id, err);
	json_decref(labels);
	if (r < 0) {
		free_client(run);
		return r;
	}
	ktbpf_client_set_vmm_ops(
		run->client, &(struct ktbpf_client_vmm_ops){.freeze = vmm_freeze, .thaw = vmm_thaw},
		run);
	return 0;
}

/* The next connection attempt, RETRY_MIN_MS from now when first, else after twice the last wait. */
static void schedule_retry(struct run *run, bool first)
{
	if (first || !run->backoff_ms)
		run->backoff_ms = RETRY_MIN_MS;
	else if (run->backoff_ms < RETRY_MAX_MS / 2)
		run->backoff_ms *= 2;
	else
		run->backoff_ms = RETRY_MAX_MS;
	run->retry_at = qmp_now_ms() + run->backoff_ms;
}

static void connect_monitor(struct run *run)
{
	struct ktbpf_err err = {0};

	if (ktbpf_client_connect(run->o.socket, &run->client, &err) < 0) {
		say("%s ktbpfd at %s (%s)%s", run->o.require_monitor ? "error: no" : "no",
		    run->o.socket, err.msg,
		    run->o.require_monitor ? ""
					   : ": the guest runs unmonitored until ktbpfd can be "
					     "reached (tried again every 1 to 30 s)");
		run->client = NULL;
		schedule_retry(run, true);
	}
}

/* Register at start: a refusal leaves the guest unmonitored (tried again later), or fails
 * with --require-monitor. */
static int register_first(struct run *run)
{
	struct ktbpf_err err = {0};

	if (!run->client)
		return 0;
	if (register_vm(run, &err) < 0) {
		say("ktbpfd at %s refused to register the guest: %s", run->o.socket, err.msg);
		if (run->o.require_monitor)
			return -1;
		run->refusal_said = true;
		schedule_retry(run, true);
		return 0;
	}
	say("guest '%s' registered with ktbpfd as %s (%u RAM region%s, %" PRIu64 " MiB)",
	    run->o.name, run->vm_id, run->layout.n, run->layout.n == 1 ? "" : "s",
	    run->o.ram_size >> 20);
	return 0;
}

/* ktbpfd went away (said once): release its freeze, so the guest never stays stopped for a
 * daemon that is gone, and connect again later. */
static void lose_monitor(struct run *run, const char *why)
{
	say("lost ktbpfd (%s); the guest runs on unmonitored, connecting again every 1 to 30 s",
	    why);
	if (run->froze)
		vmm_thaw(run, NULL);
	free_client(run);
	run->refusal_said = false;
	schedule_retry(run, true);
}

/* When due: connect to ktbpfd and register the guest again (its same RAM memfd, name and
 * labels); ktbpfd discovers the running kernel anew. Quiet while ktbpfd stays away. */
static void reconnect(struct run *run)
{
	struct ktbpf_err err = {0};

	if (run->client || !run->retry_at || qmp_now_ms() < run->retry_at)
		return;
	if (ktbpf_client_connect(run->o.socket, &run->client, &err) < 0) {
		run->client = NULL;
		schedule_retry(run, false);
		return;
	}
	if (register_vm(run, &err) < 0) {
		if (!run->refusal_said)
			say("ktbpfd at %s refused to register the guest again: %s (tried again "
			    "every 30 s at most)",
			    run->o.socket, err.msg);
		run->refusal_said = true;
		schedule_retry(run, false);
		return;
	}
	run->retry_at = 0;
	run->refusal_said = false;
	say("ktbpfd at %s is back: guest '%s' registered again as %s", run->o.socket, run->o.name,
	    run->vm_id);
}

/* poll()'s timeout: a second, or less when a connection attempt is due sooner. */
static int poll_timeout(const struct run *run)
{
	uint64_t now = qmp_now_ms();

	if (run->client || !run->retry_at)
		return 1000;
	if (run->retry_at <= now)
		return 0;
	return run->retry_at - now < 1000 ? (int)(run->retry_at - now) : 1000;
}

static void on_reset(struct run *run)
{
	struct ktbpf_err err = {0};
	int r;

	if (!run->client || !run->vm_id)
		return;
	r = ktbpf_client_call(run->client, "vm.reset", json_pack("{s:s}", "vm", run->vm_id), NULL,
			      0, NULL, &err);
	if (r == -ECONNRESET || r == -EPIPE)
		lose_monitor(run, err.msg);
	else if (r < 0)
		say("vm.reset after the guest's reset: %s", err.msg);
	else
		say("the guest reset (QMP RESET): ktbpfd discovers its kernel again (vm.reset)");
}

static void drain_events(struct run *run)
{
	json_t *ev;

	while ((ev = qmp_next_event(run->qmp))) {
		const char *name = json_string_value(json_object_get(ev, "event"));

		if (name && !strcmp(name, "RESET"))
			on_reset(run);
		json_decref(ev);
	}
}

static int exit_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

/* The loop, until QEMU exits; returns its exit status as ours. */
static int loop(struct run *run)
{
	bool qmp_open = true;

	for (;;) {
		struct pollfd p[3] = {{.fd = sig_pipe[0], .events = POLLIN},
				      {.fd = qmp_open ? qmp_fd(run->qmp) : -1, .events = POLLIN},
				      {.fd = run->client ? ktbpf_client_fd(run->client) : -1}};
		struct ktbpf_err err = {0};
		int status;

		pid_t w;

		if (run->client)
			p[2].events = ktbpf_client_events(run->client);
		w = waitpid(run->qemu, &status, WNOHANG);
		if (w == run->qemu)
			return exit_status(status);
		if (w < 0 && errno != EINTR) { /* no child to wait for: never spin on */
			say("waiting for QEMU: %s", strerror(errno));
			return 1;
		}
		if (poll(p, 3, poll_timeout(run)) < 0 && errno != EINTR) {
			say("poll: %s", strerror(errno));
			return 1;
		}
		if (p[0].revents & POLLIN) {
			unsigned char sigs[16];
			ssize_t n = read(sig_pipe[0], sigs, sizeof(sigs));

			for (ssize_t i = 0; i < n; i++)
				if (sigs[i] != SIGCHLD)
					kill(run->qemu, sigs[i]);
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			int r = qmp_pump(run->qmp, &err);

			if (r == -ECONNRESET) {
				qmp_open = false; /* QEMU is exiting: waitpid will tell */
			} else if (r == -EPROTO) {
				say("QEMU's monitor: %s (skipped)", err.msg);
			} else if (r < 0) {
				/* Polling on would spin on bytes we can no longer take. */
				say("QEMU's monitor: %s; freeze, thaw and reset are no longer "
				    "passed on",
				    err.msg);
				qmp_open = false;
			}
			drain_events(run);
		}
		if (run->client && p[2].revents) {
			int r = ktbpf_client_process(run->client, &err);

			if (r < 0)
				lose_monitor(run, err.msg);
			drain_events(run); /* a freeze may have queued events */
		}
		reconnect(run);
	}
}

static void setup_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD};

	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		say("pipe: %s", strerror(errno));
		exit(1);
	}
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Stop QEMU after a failure before the guest ran, and reap it. */
static int abort_qemu(struct run *run)
{
	int status;

	kill(run->qemu, SIGKILL);
	waitpid(run->qemu, &status, 0);
	return 1;
}

static void run_free(struct run *run)
{
	/* Closing the connection leaves the VM detached in ktbpfd, still readable. */
	free_client(run);
	qmp_free(run->qmp);
	if (run->ram_fd >= 0)
		close(run->ram_fd);
	args_free(&run->o);
}

/* Start QEMU stopped, confirm the layout, register, start the guest. -1 when
 * the guest runs, else the exit status to end with (QEMU's may be 0). */
static int start(struct run *run)
{
	struct ktbpf_err err = {0};
	int r, status;

	layout_compute(run->o.machine, run->o.ram_size, &run->layout);
	setup_signals();
	connect_monitor(run);
	if (!run->client && run->o.require_monitor)
		return 1;
	run->ram_fd = create_ram(run->o.ram_size);
	if (run->ram_fd < 0 || spawn_qemu(run) < 0)
		return 1;
	r = qmp_handshake(run->qmp, QMP_START_TIMEOUT_MS, &err);
	/* QEMU ended before its monitor: it refused its arguments (its message is on
	 * stderr already), or did what was asked (-version, -M help): its status. */
	if (r == -ECONNRESET && waitpid(run->qemu, &status, 0) == run->qemu)
		return exit_status(status);
	if (r < 0) {
		say("QEMU's monitor: %s", err.msg);
		return abort_qemu(run);
	}
	if (confirm_layout(run) < 0 || register_first(run) < 0)
		return abort_qemu(run);
	if (!run->o.user_stopped &&
	    qmp_execute(run->qmp, "cont", NULL, QMP_TIMEOUT_MS, NULL, &err) < 0) {
		say("starting the guest: %s", err.msg);
		return abort_qemu(run);
	}
	return -1;
}

/* QEMU asked only to print something: run it as the user wrote it and
 * pass its output and status through; nothing to register. */
static int run_query(const struct opts *o)
{
	char **argv = calloc((size_t)o->nr_qemu_args + 2, sizeof(*argv));

	if (!argv) {
		say("out of memory");
		return 1;
	}
	argv[0] = (char *)o->qemu;
	for (int i = 0; i < o->nr_qemu_args; i++)
		argv[i + 1] = o->qemu_args[i];
	execvp(argv[0], argv);
	say("cannot run %s: %s", argv[0], strerror(errno));
	free(argv);
	return 127;
}

int main(int argc, char **argv)
{
	struct run run = {.ram_fd = -1};
	int r;

	r = args_parse(argc, argv, &run.o);
	if (r <= 0) {
		args_free(&run.o);
		return r < 0 ? 2 : 0;
	}
	if (run.o.qemu_query) {
		r = run_query(&run.o);
		args_free(&run.o);
		return r;
	}
	r = start(&run);
	if (r < 0)
		r = loop(&run);
	run_free(&run);
	return r;
}
