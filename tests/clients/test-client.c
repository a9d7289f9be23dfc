/* SPDX-License-Identifier: MIT */
/*
 * libktbpf-client and ktbpfctl's daemon commands against a real ktbpfd
 * ($KTBPFD on a fresh socket) with a kit guest in a memfd: a VMM registers
 * it and serves vm.freeze / vm.thaw from its own poll() loop while ktbpfctl,
 * another process, asks for a frozen snapshot; the snapshot equals
 * `ktbpfctl inspect --json` on the same image, timing aside.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ktbpf/client.h"

#include "kit-guest.h"
#include "unit.h"

struct daemon_proc {
	pid_t pid;
	char dir[64], sock[128];
};

static struct daemon_proc dp;
static struct kit_guest *g;
static int memfd = -1;
static char image[160];

/* The VMM's side: what the daemon asked, in order. */
static char calls[64];
static int vmm_freeze(void *userdata, const char *vm)
{
	strcat(calls, "F");
	return 0;
}
static int vmm_thaw(void *userdata, const char *vm)
{
	strcat(calls, "T");
	return 0;
}
static const struct ktbpf_client_vmm_ops vmm_ops = {vmm_freeze, vmm_thaw};

static void daemon_start(void)
{
	const char *bin = getenv("KTBPFD");
	struct timespec ts = {0, 20 * 1000 * 1000};
	int i;

	cr_assert(bin, "KTBPFD is not set");
	strcpy(dp.dir, "/tmp/ktbpf-client-XXXXXX");
	cr_assert(mkdtemp(dp.dir));
	snprintf(dp.sock, sizeof(dp.sock), "%s/ktbpfd.sock", dp.dir);
	dp.pid = fork();
	cr_assert(dp.pid >= 0);
	if (!dp.pid) {
		execl(bin, bin, "--socket", dp.sock, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 500; i++) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		strcpy(sa.sun_path, dp.sock);
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
			close(fd);
			return;
		}
		close(fd);
		nanosleep(&ts, NULL);
	}
	cr_assert_fail("ktbpfd did not listen on %s", dp.sock);
}

static void setup(void)
{
	daemon_start();
	g = kit_guest_new(NULL);
	memfd = kit_image_memfd(g->im);
	snprintf(image, sizeof(image), "%s/guest.ram", dp.dir);
	kit_image_save(g->im, image);
}

static void teardown(void)
{
	int status = 0;

	kill(dp.pid, SIGTERM);
	waitpid(dp.pid, &status, 0);
	close(memfd);
	kit_guest_free(g);
	unlink(image);
	unlink(dp.sock);
	rmdir(dp.dir);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "ktbpfd did not exit 0 after SIGTERM (status 0x%x)", status);
}

TestSuite(client, .init = setup, .fini = teardown, .timeout = 60);

static struct ktbpf_client *connect_vmm(char **ret_id)
{
	struct ktbpf_client_region rg = {.gpa = 0, .size = g->im->size, .fd = memfd};
	struct ktbpf_client_vm vm;
	struct ktbpf_client *c;
	struct ktbpf_err err = {0};
	json_t *labels = json_pack("{s:s}", "runner", "test-client");

	cr_assert_eq(ktbpf_client_connect(dp.sock, &c, &err), 0, "%s", err.msg);
	ktbpf_client_set_vmm_ops(c, &vmm_ops, NULL);
	ktbpf_client_vm_init(&vm);
	vm.name = "kit";
	vm.arch = "x86_64";
	vm.regions = &rg;
	vm.nr_regions = 1;
	vm.cpus = 4;
	vm.can_freeze = true;
	vm.labels = labels;
	cr_assert_eq(ktbpf_client_register(c, &vm, ret_id, &err), 0, "%s", err.msg);
	json_decref(labels);
	return c;
}

/* Wait until the daemon has discovered the guest's kernel (it does so in the background). */
static void wait_ready(struct ktbpf_client *c, const char *id)
{
	struct ktbpf_err err = {0};
	int i;

	for (i = 0; i < 400; i++) {
		json_t *st = NULL;
		bool ready;

		cr_assert_eq(ktbpf_client_status(c, id, &st, &err), 0, "%s", err.msg);
		ready = !strcmp(json_string_value(json_object_get(st, "state")), "ready");
		json_decref(st);
		if (ready)
			return;
		usleep(20000);
	}
	cr_assert_fail("vm %s: kernel not discovered in 8 s", id);
}

struct out {
	int status;
	char buf[1 << 16];
	size_t len;
};

/* Run ktbpfctl argv (NULL-terminated) while the VMM client serves the daemon from its loop. */
static void run_ctl(struct ktbpf_client *vmm, const char *const *args, struct out *o)
{
	const char *ctl = getenv("KTBPFCTL");
	char *argv[16];
	int p[2], n = 0, status;
	pid_t pid;

	cr_assert(ctl);
	argv[n++] = (char *)ctl;
	while (*args)
		argv[n++] = (char *)*args++;
	argv[n] = NULL;
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	if (!pid) {
		dup2(p[1], 1);
		execv(ctl, argv);
		_exit(127);
	}
	close(p[1]);
	o->len = 0;
	for (;;) {
		struct pollfd pfd[2] = {{.fd = p[0], .events = POLLIN}, {.fd = -1}};
		ssize_t r;

		if (vmm)
			pfd[1] = (struct pollfd){.fd = ktbpf_client_fd(vmm),
						 .events = ktbpf_client_events(vmm)};
		cr_assert(poll(pfd, 2, 10000) > 0, "ktbpfctl hangs");
		if (pfd[1].revents)
			cr_assert_eq(ktbpf_client_process(vmm, NULL), 0);
		if (!pfd[0].revents)
			continue;
		r = read(p[0], o->buf + o->len, sizeof(o->buf) - 1 - o->len);
		if (r <= 0)
			break;
		o->len += (size_t)r;
	}
	o->buf[o->len] = '\0';
	close(p[0]);
	waitpid(pid, &status, 0);
	o->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The document without its timing fields. */
static json_t *untimed(const char *text)
{
	static const char *const timing[] = {"walk_ns", "freeze_ns", "frozen", "time_unix_ns"};
	json_t *j = json_loads(text, 0, NULL);
	size_t i;

	cr_assert(j, "not JSON: %s", text);
	for (i = 0; i < 4; i++)
		json_object_del(j, timing[i]);
	json_object_del(json_object_get(j, "kernel"), "discover_ns");
	return j;
}

Test(client, frozen_snapshot_by_ktbpfctl_is_served_from_the_vmm_loop_and_equals_inspect)
{
	char *id = NULL;
	struct ktbpf_client *vmm = connect_vmm(&id);
	struct out snap, want;
	json_t *a, *b, *doc;

	wait_ready(vmm, id);
	calls[0] = '\0';
	run_ctl(vmm,
		(const char *const[]){"snapshot", id, "--json", "--freeze", "require", "--socket",
				      dp.sock, NULL},
		&snap);
	cr_assert_eq(snap.status, 0, "%s", snap.buf);
	cr_assert_str_eq(calls, "FT", "the VMM saw '%s', not one freeze then one thaw", calls);
	doc = json_loads(snap.buf, 0, NULL);
	cr_assert(json_is_true(json_object_get(doc, "frozen")), "%s", snap.buf);
	json_decref(doc);

	run_ctl(NULL, (const char *const[]){"inspect", "--ram", image, "--json", NULL}, &want);
	cr_assert_eq(want.status, 0);
	a = untimed(snap.buf);
	b = untimed(want.buf);
	cr_assert(json_equal(a, b), "vm.snapshot:\n%s\ninspect --json:\n%s", snap.buf, want.buf);
	cr_assert_eq(json_array_size(json_object_get(a, "progs")), g->nr_struct_ops);
	json_decref(a);
	json_decref(b);
	free(id);
	ktbpf_client_free(vmm);
}

Test(client, own_snapshot_with_freeze_is_served_while_the_call_waits)
{
	char *id = NULL;
	struct ktbpf_client *vmm = connect_vmm(&id);
	struct ktbpf_err err = {0};
	json_t *snap = NULL;

	wait_ready(vmm, id);
	calls[0] = '\0';
	cr_assert_eq(ktbpf_client_snapshot(vmm, id, "require", &snap, &err), 0, "%s", err.msg);
	cr_assert_str_eq(calls, "FT");
	cr_assert(json_is_true(json_object_get(snap, "frozen")));
	cr_assert_eq(json_array_size(json_object_get(snap, "progs")), g->nr_struct_ops);
	json_decref(snap);
	cr_assert_eq(ktbpf_client_unregister(vmm, id, &err), 0, "%s", err.msg);
	cr_assert_eq(ktbpf_client_status(vmm, id, &snap, &err), -ENOENT);
	cr_assert(json_is_object(ktbpf_client_last_error(vmm)));
	free(id);
	ktbpf_client_free(vmm);
}

/* The asynchronous VMM: freeze and thaw are remembered and answered later from its loop. */
static struct ktbpf_client_pending *later_p;
static int later_freezes;
static void later_freeze(void *userdata, const char *vm, struct ktbpf_client_pending *p)
{
	strcat(calls, "f");
	later_p = p;
	later_freezes++;
}
static void later_thaw(void *userdata, const char *vm, struct ktbpf_client_pending *p)
{
	strcat(calls, "t");
	later_p = p;
}
static const struct ktbpf_client_vmm_async_ops later_ops = {later_freeze, later_thaw};

/*
 * ktbpfctl snapshot --json with freeze (args) while the VMM's loop answers
 * each pending freeze/thaw delay_ms after it came (delay_ms < 0: the VMM
 * goes away instead, its freeze unanswered). Returns ktbpfctl's JSON.
 */
static json_t *snapshot_with_late_answers(struct ktbpf_client *vmm, const char *id,
					  const char *freeze, int delay_ms)
{
	const char *argv[] = {getenv("KTBPFCTL"), "snapshot", id,  "--json", "--freeze", freeze,
			      "--socket",	  dp.sock,    NULL};
	int p[2], status;
	uint64_t since = 0;
	char buf[1 << 16];
	size_t len = 0;
	pid_t pid;
	json_t *j;

	cr_assert(argv[0]);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	if (!pid) {
		dup2(p[1], 1);
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		struct pollfd pfd[2] = {{.fd = p[0], .events = POLLIN},
					{.fd = vmm ? ktbpf_client_fd(vmm) : -1,
					 .events = vmm ? ktbpf_client_events(vmm) : 0}};
		ssize_t r;

		cr_assert(poll(pfd, 2, 10) >= 0);
		if (vmm && pfd[1].revents)
			cr_assert_eq(ktbpf_client_process(vmm, NULL), 0);
		if (vmm && later_p) {
			/* Never inside the callback: here, in the VMM's own loop. */
			if (!since)
				since = unit_mono_ms();
			if (delay_ms < 0) {
				ktbpf_client_free(vmm); /* the freeze is never answered */
				vmm = NULL;
				later_p = NULL;
			} else if (unit_mono_ms() - since >= (uint64_t)delay_ms) {
				cr_assert_eq(ktbpf_client_answer(vmm, later_p, 0), 0);
				cr_assert_eq(ktbpf_client_answer(vmm, later_p, 0), -ENOENT);
				later_p = NULL;
				since = 0;
			}
		}
		if (!pfd[0].revents)
			continue;
		r = read(p[0], buf + len, sizeof(buf) - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	close(p[0]);
	waitpid(pid, &status, 0);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "ktbpfctl: %s", buf);
	j = json_loads(buf, 0, NULL);
	cr_assert(j, "not JSON: %s", buf);
	return j;
}

Test(client, vmm_answers_freeze_and_thaw_later_from_its_own_loop)
{
	char *id = NULL;
	struct ktbpf_client *vmm = connect_vmm(&id);
	json_t *snap;

	ktbpf_client_set_vmm_async_ops(vmm, &later_ops, NULL);
	wait_ready(vmm, id);
	calls[0] = '\0';
	snap = snapshot_with_late_answers(vmm, id, "require", 100);
	cr_assert(json_is_true(json_object_get(snap, "frozen")));
	/* The daemon waited for the late answer: the freeze took the VMM's 100 ms. */
	cr_assert_geq(json_integer_value(json_object_get(snap, "freeze_ns")), 100000000);
	cr_assert_eq(json_array_size(json_object_get(snap, "progs")), g->nr_struct_ops);
	json_decref(snap);
	/* The thaw is answered from the loop too, after ktbpfctl has its answer. */
	for (int i = 0; i < 100 && (!strchr(calls, 't') || later_p); i++) {
		struct pollfd pfd = {.fd = ktbpf_client_fd(vmm), .events = POLLIN};

		if (poll(&pfd, 1, 20) > 0)
			cr_assert_eq(ktbpf_client_process(vmm, NULL), 0);
		if (later_p) {
			cr_assert_eq(ktbpf_client_answer(vmm, later_p, 0), 0);
			later_p = NULL;
		}
	}
	cr_assert_str_eq(calls, "ft");
	cr_assert_eq(ktbpf_client_pending_answers(vmm), 0);
	free(id);
	ktbpf_client_free(vmm);
}

/* A VMM that goes away with its freeze unanswered: freed with it, the snapshot taken live. */
Test(client, vmm_gone_with_a_freeze_pending_gives_a_live_snapshot)
{
	char *id = NULL;
	struct ktbpf_client *vmm = connect_vmm(&id);
	json_t *snap;

	ktbpf_client_set_vmm_async_ops(vmm, &later_ops, NULL);
	wait_ready(vmm, id);
	later_freezes = 0;
	snap = snapshot_with_late_answers(vmm, id, "prefer", -1);
	cr_assert_eq(later_freezes, 1);
	cr_assert(json_is_false(json_object_get(snap, "frozen")), "%s", json_dumps(snap, 0));
	cr_assert_eq(json_array_size(json_object_get(snap, "progs")), g->nr_struct_ops);
	json_decref(snap);
	free(id);
}

Test(client, ktbpfctl_tables_name_the_vm_and_its_active_scheduler)
{
	char *id = NULL;
	struct ktbpf_client *vmm = connect_vmm(&id);
	struct out o;

	wait_ready(vmm, id);
	setenv("KTBPF_SOCKET", dp.sock, 1); /* the default socket when --socket is absent */
	run_ctl(vmm, (const char *const[]){"list", NULL}, &o);
	cr_assert_eq(o.status, 0, "%s", o.buf);
	cr_assert(strstr(o.buf, "kit") && strstr(o.buf, "ready") &&
			  strstr(o.buf, "runner=test-client"),
		  "%s", o.buf);
	run_ctl(vmm, (const char *const[]){"status", "kit", NULL}, &o);
	cr_assert_eq(o.status, 0, "%s", o.buf);
	cr_assert(strstr(o.buf, "release       6.1.0-kit"), "%s", o.buf);
	/* kit_image_memfd() seals like QEMU: read in place. */
	cr_assert(strstr(o.buf, "regions       1, all mapped"), "%s", o.buf);
	run_ctl(vmm, (const char *const[]){"snapshot", "kit", "--freeze", "never", NULL}, &o);
	cr_assert_eq(o.status, 0, "%s", o.buf);
	cr_assert(strstr(o.buf, "active: kitsched (sched_ext_ops, the kernel's sched_ext "
				"scheduler; map 7, 8)"),
		  "%s", o.buf);
	cr_assert(strstr(o.buf, "frozen: no (a live snapshot)"), "%s", o.buf);
	run_ctl(vmm, (const char *const[]){"status", "no-such-vm", "--json", NULL}, &o);
	cr_assert_eq(o.status, 1, "%s", o.buf);
	cr_assert(strstr(o.buf, "\"error\""), "%s", o.buf);
	unsetenv("KTBPF_SOCKET");
	free(id);
	ktbpf_client_free(vmm);
}

Test(client, connect_to_a_missing_socket_names_it)
{
	struct ktbpf_client *c = NULL;
	struct ktbpf_err err = {0};
	char path[160];

	snprintf(path, sizeof(path), "%s/none.sock", dp.dir);
	cr_assert_eq(ktbpf_client_connect(path, &c, &err), -ENOENT);
	cr_assert(strstr(err.msg, path), "%s", err.msg);
	setenv("KTBPF_SOCKET", path, 1);
	cr_assert_str_eq(ktbpf_client_socket_path(NULL), path);
	cr_assert_str_eq(ktbpf_client_socket_path("/x.sock"), "/x.sock");
	unsetenv("KTBPF_SOCKET");
	cr_assert_str_eq(ktbpf_client_socket_path(""), KTBPF_CLIENT_SYSTEM_SOCKET);
}
