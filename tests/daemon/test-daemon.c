/* SPDX-License-Identifier: MIT */
/*
 * ktbpfd, the real binary ($KTBPFD) on a temporary socket, driven by real
 * sockets and memfds holding kit guests: registration, discovery, snapshots
 * (the same document as `ktbpfctl inspect --json`), freeze and thaw with a
 * VMM played by this process, VMMs and clients that vanish, bad input and
 * limits. Every test ends with SIGTERM and asserts exit status 0 and a log
 * free of sanitizer reports.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon-client.h"
#include "kit-guest.h"

#define FREEZE_MS "300"

static struct daemon_proc dp;

/* Register g's RAM (one memfd) from c; returns the VM id (static buffer). */
static const char *register_guest(struct client *c, struct kit_guest *g, bool can_freeze,
				  int *ret_memfd)
{
	struct vm_reg o = {.can_freeze = can_freeze,
			   .labels = "{\"test\":\"daemon\"}",
			   .ret_memfd = ret_memfd};

	return vm_register(c, g, &o);
}
/* ktbpfd (extra args) with g registered by vmm, which can freeze, and ready; c asks. */
static const char *start_with_vmm(const char *const *args, struct kit_guest *g, struct client **vmm,
				  struct client **c)
{
	const char *vm;

	daemon_start(&dp, args);
	*vmm = client_new(&dp);
	*c = client_new(&dp);
	vm = register_guest(*vmm, g, true, NULL);
	vm_assert_ready(*c, vm);
	return vm;
}

static json_t *snapshot(struct client *c, const char *vm, const char *freeze)
{
	char params[128];

	snprintf(params, sizeof(params), "{\"vm\":\"%s\",\"freeze\":\"%s\"}", vm, freeze);
	return client_call(c, "vm.snapshot", params, NULL, 0);
}

/* `ktbpfctl inspect --ram PATH --json`'s document. */
static json_t *inspect_json(const char *path)
{
	char cmd[512];
	FILE *p;
	json_t *j;

	snprintf(cmd, sizeof(cmd), "'%s' inspect --ram '%s' --json", getenv("KTBPFCTL"), path);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	j = json_loadf(p, 0, NULL);
	pclose(p);
	cr_assert_not_null(j, "ktbpfctl inspect --json gave no JSON");
	return j;
}

/* Times differ between two walks of the same memory; everything else must not. */
static void drop_times(json_t *snap)
{
	json_object_del(snap, "walk_ns");
	json_object_del(json_object_get(snap, "kernel"), "discover_ns");
}

Test(daemon, snapshot_equals_ktbpfctl_inspect_json_on_the_same_image)
{
	struct kit_guest_opts o = {.kernel = {.nr_cpus = 3}, .nr_struct_ops = 5};
	struct kit_guest *g = kit_guest_new(&o);
	char path[] = "/tmp/ktbpfd-test-ram-XXXXXX";
	struct client *c;
	json_t *r, *want, *got;
	const char *vm;

	close(mkstemp(path));
	kit_image_save(g->im, path);
	daemon_start(&dp, NULL);
	c = client_new(&dp);
	vm = register_guest(c, g, false, NULL);
	vm_assert_ready(c, vm);
	r = snapshot(c, vm, "never");
	cr_assert_eq(resp_code(r), 0, "%s", json_dumps(r, 0));
	got = json_incref(json_object_get(r, "result"));
	cr_assert(json_is_false(json_object_get(got, "frozen")));
	cr_assert(json_integer_value(json_object_get(got, "walk_ns")) > 0);
	cr_assert_eq(json_array_size(json_object_get(got, "progs")), 5);
	json_object_del(got, "frozen");
	json_object_del(got, "freeze_ns");
	json_object_del(got, "time_unix_ns");
	drop_times(got);
	want = inspect_json(path);
	drop_times(want);
	cr_assert(json_equal(got, want), "daemon:\n%s\nktbpfctl:\n%s", json_dumps(got, 0),
		  json_dumps(want, 0));
	json_decref(got);
	json_decref(want);
	json_decref(r);
	client_free(c);
	daemon_stop_ok(&dp);
	unlink(path);
	kit_guest_free(g);
}

Test(daemon, list_status_info_and_unregister)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct client *c;
	json_t *r;
	const char *vm;

	daemon_start(&dp, NULL);
	c = client_new(&dp);
	vm = register_guest(c, g, false, NULL);
	vm_assert_ready(c, vm);
	r = client_call(c, "vm.list", NULL, NULL, 0);
	cr_assert_eq(json_array_size(json_object_get(json_object_get(r, "result"), "vms")), 1);
	json_decref(r);
	client_call_code(c, "vm.status", "{\"vm\":\"g0-not-there\"}", NULL, 0, -32000);
	r = client_call(c, "daemon.info", NULL, NULL, 0);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(r, "result"), "vms")), 1);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(r, "result"), "pid")),
		     dp.pid);
	json_decref(r);
	r = client_call(c, "rpc.discover", NULL, NULL, 0);
	cr_assert(json_is_string(json_object_get(json_object_get(r, "result"), "openrpc")),
		  "rpc.discover serves the OpenRPC document");
	json_decref(r);
	client_call_code(c, "vm.unregister", "{\"vm\":\"g0-not-there\"}", NULL, 0, -32000);
	{
		char params[64];

		snprintf(params, sizeof(params), "{\"vm\":\"%s\"}", vm);
		client_call_code(c, "vm.unregister", params, NULL, 0, 0);
		client_call_code(c, "vm.status", params, NULL, 0, -32000);
	}
	client_free(c);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(daemon, guest_not_booted_yet_is_not_ready_then_discovered_once_it_has)
{
	struct kit_guest *g = kit_guest_new(NULL);
	uint8_t *saved = malloc(g->im->size);
	struct client *c;
	json_t *r, *err;
	const char *vm;
	int fd;

	/* RAM without the VMCOREINFO note: the kernel has not written it yet. */
	memcpy(saved, g->im->buf, g->im->size);
	memset(kit_ptr(g->im, g->kk->vmcoreinfo_pa, 64), 0, 64);
	daemon_start(&dp, NULL);
	c = client_new(&dp);
	vm = register_guest(c, g, false, &fd);
	usleep(100000);
	r = snapshot(c, vm, "never");
	cr_assert_eq(resp_code(r), -32002, "%s", json_dumps(r, 0));
	err = json_object_get(json_object_get(r, "error"), "data");
	cr_assert(json_is_true(json_object_get(err, "retry")));
	json_decref(r);
	/* The guest boots on: the note appears, the backoff finds it. */
	cr_assert_eq(pwrite(fd, saved, g->im->size, 0), (ssize_t)g->im->size);
	vm_assert_ready(c, vm);
	r = snapshot(c, vm, "never");
	cr_assert_eq(resp_code(r), 0);
	json_decref(r);
	close(fd);
	free(saved);
	client_free(c);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

static json_t *status_of(struct client *c, const char *vm)
{
	char params[64];
	json_t *r;

	snprintf(params, sizeof(params), "{\"vm\":\"%s\"}", vm);
	r = client_call(c, "vm.status", params, NULL, 0);
	cr_assert_eq(resp_code(r), 0, "%s", json_dumps(r, 0));
	return r;
}

/* vm.status's first_discovery once the first attempt ran (5 s), and the result's registration. */
static json_t *first_discovery_of(struct client *c, const char *vm, const json_t **registration)
{
	for (int i = 0; i < 500; i++) {
		json_t *st = status_of(c, vm);
		const json_t *res = json_object_get(st, "result"),
			     *first = json_object_get(res, "first_discovery");

		cr_assert(first, "no first_discovery in vm.status: %s", json_dumps(st, 0));
		if (!json_is_null(first)) {
			*registration = json_object_get(res, "registration");
			cr_assert(json_integer_value(json_object_get(*registration, "unix_ns")) > 0,
				  "%s", json_dumps(st, 0));
			return st;
		}
		json_decref(st);
		usleep(10000);
	}
	cr_assert_fail("vm %s: no discovery attempt in 5 s", vm);
	return NULL;
}

Test(daemon, status_tells_ram_untouched_at_registration_and_the_first_attempts_outcome)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct client *c;
	const json_t *reg, *first;
	json_t *st;
	int fd = memfd_create("untouched", MFD_CLOEXEC);

	/* a VMM that registers RAM nothing has written (QEMU started paused) */
	cr_assert(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	daemon_start(&dp, NULL);
	c = client_new(&dp);
	client_call_code(c, "vm.register",
			 "{\"name\":\"early\",\"arch\":\"x86_64\",\"fds\":1,"
			 "\"regions\":[{\"gpa\":0,\"size\":1048576,\"fd\":0}]}",
			 &fd, 1, 0);
	st = first_discovery_of(c, "early", &reg);
	first = json_object_get(json_object_get(st, "result"), "first_discovery");
	cr_assert(json_is_false(json_object_get(reg, "ram_written")), "%s", json_dumps(st, 0));
	cr_assert(json_is_false(json_object_get(first, "found")), "%s", json_dumps(st, 0));
	cr_assert_not_null(
		strstr(json_string_value(json_object_get(first, "reason")), "no VMCOREINFO note"),
		"%s", json_dumps(st, 0));
	json_decref(st);
	/* one registered with its kernel in RAM already: written, found at once */
	register_guest(c, g, false, NULL);
	st = first_discovery_of(c, "vm-2", &reg);
	first = json_object_get(json_object_get(st, "result"), "first_discovery");
	cr_assert(json_is_true(json_object_get(reg, "ram_written")), "%s", json_dumps(st, 0));
	cr_assert(json_is_true(json_object_get(first, "found")), "%s", json_dumps(st, 0));
	cr_assert(json_is_null(json_object_get(first, "reason")), "%s", json_dumps(st, 0));
	json_decref(st);
	close(fd);
	client_free(c);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(daemon, reset_discovers_the_kernel_again_and_snapshots_resume)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct client *c;
	json_t *r;
	const char *vm;
	char params[64];
	json_int_t before;

	daemon_start(&dp, NULL);
	c = client_new(&dp);
	vm = register_guest(c, g, false, NULL);
	vm_assert_ready(c, vm);
	snprintf(params, sizeof(params), "{\"vm\":\"%s\"}", vm);
	r = client_call(c, "vm.status", params, NULL, 0);
	before = json_integer_value(json_object_get(
		json_object_get(json_object_get(r, "result"), "kernel"), "discover_ns"));
	json_decref(r);
	/* A snapshot in flight and a reset right behind it: both answered, nothing torn down. */
	client_request(c, "vm.snapshot", "{\"vm\":\"vm-1\",\"freeze\":\"never\"}", NULL, 0);
	client_request(c, "vm.reset", params, NULL, 0);
	for (int i = 0; i < 2; i++) {
		r = client_read(c, 5000);
		cr_assert_eq(resp_code(r), 0, "%s", json_dumps(r, 0));
		json_decref(r);
	}
	vm_assert_ready(c, vm);
	r = client_call(c, "vm.status", params, NULL, 0);
	cr_assert_neq(
		json_integer_value(json_object_get(
			json_object_get(json_object_get(r, "result"), "kernel"), "discover_ns")),
		before, "the kernel was discovered again");
	json_decref(r);
	r = snapshot(c, vm, "never");
	cr_assert_eq(resp_code(r), 0);
	json_decref(r);
	client_free(c);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

static const char *kaslr_of(const json_t *st)
{
	return json_string_value(json_object_get(
		json_object_get(json_object_get(st, "result"), "kernel"), "kaslr_offset"));
}

static json_int_t check_count(const json_t *st, const char *what)
{
	return json_integer_value(json_object_get(
		json_object_get(json_object_get(st, "result"), "kernel_check"), what));
}

/*
 * The guest reboots into a kernel at another KASLR offset (its memfd
 * rewritten in place, as a reboot rewrites RAM) and nobody calls vm.reset:
 * the daemon notices the changed VMCOREINFO note and discovers again. Before
 * that, the kit kernel's jiffies stand still (a paused guest): a
 * verification finds the same kernel and keeps it.
 */
Test(daemon, reboot_into_another_kaslr_offset_is_followed_without_reset)
{
	const char *args[] = {"--check-interval-ms", "100", NULL};
	struct kit_guest_opts bo = {.kernel = {.slide = 0x8000000, .image_pa = 64ull << 20}};
	struct kit_guest *a = kit_guest_new(NULL), *b = kit_guest_new(&bo);
	struct client *c;
	json_t *st, *r;
	const char *vm;
	int fd;

	cr_assert_eq(a->im->size, b->im->size);
	daemon_start(&dp, args);
	c = client_new(&dp);
	vm = register_guest(c, a, false, &fd);
	vm_assert_ready(c, vm);
	st = status_of(c, vm);
	cr_assert_str_eq(kaslr_of(st), "0x0", "%s", json_dumps(st, 0));
	json_decref(st);
	/* Still jiffies for 2 s (5 checks at least): verified, the same kernel kept. */
	for (int waited = 0;; waited += 100) {
		st = status_of(c, vm);
		if (check_count(st, "verifications") >= 1 || waited > 6000)
			break;
		json_decref(st);
		usleep(100000);
	}
	cr_assert_geq(check_count(st, "verifications"), 1, "%s", json_dumps(st, 0));
	cr_assert_eq(check_count(st, "changes"), 0);
	cr_assert_str_eq(kaslr_of(st), "0x0");
	json_decref(st);
	/* The reboot: another kernel in the same RAM. */
	cr_assert_eq(pwrite(fd, b->im->buf, b->im->size, 0), (ssize_t)b->im->size);
	for (int waited = 0;; waited += 50) {
		st = status_of(c, vm);
		if ((kaslr_of(st) && !strcmp(kaslr_of(st), "0x8000000")) || waited > 5000)
			break;
		json_decref(st);
		usleep(50000);
	}
	cr_assert_str_eq(kaslr_of(st), "0x8000000", "%s", json_dumps(st, 0));
	cr_assert_eq(check_count(st, "changes"), 1);
	cr_assert(strstr(result_str(st, "reason"), "changed"), "%s", result_str(st, "reason"));
	json_decref(st);
	r = snapshot(c, vm, "never");
	cr_assert_eq(resp_code(r), 0, "%s", json_dumps(r, 0));
	cr_assert_str_eq(
		json_string_value(json_object_get(
			json_object_get(json_object_get(r, "result"), "kernel"), "kaslr_offset")),
		"0x8000000");
	json_decref(r);
	close(fd);
	client_free(c);
	daemon_stop_ok(&dp);
	kit_guest_free(a);
	kit_guest_free(b);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

/* daemon.info's limits: vms, freeze_timeout_ms, retention_ms. */
static json_int_t limit(struct client *c, const char *key)
{
	json_t *r = client_call(c, "daemon.info", NULL, NULL, 0);
	json_int_t v = json_integer_value(
		json_object_get(json_object_get(json_object_get(r, "result"), "limits"), key));

	json_decref(r);
	return v;
}

/*
 * Settings come from the config file, the command line wins, and SIGHUP
 * reads both again: changed settings apply at once, a broken file changes
 * nothing and the daemon lives on.
 */
Test(daemon, sighup_reloads_the_config_file_and_a_broken_one_changes_nothing)
{
	char dir[] = "/tmp/ktbpfd-conf-XXXXXX", path[64];
	const char *args[] = {"--config", path, "--retention-ms", "1234", NULL};
	struct client *c;
	json_int_t v = 0;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ktbpfd.conf", dir);
	write_file(path, "# ktbpfd settings\nfreeze-timeout-ms = 300\n  max-vms=1  # one\n"
			 "retention-ms = 99\n");
	daemon_start(&dp, args);
	c = client_new(&dp);
	cr_assert_eq(limit(c, "freeze_timeout_ms"), 300);
	cr_assert_eq(limit(c, "vms"), 1);
	cr_assert_eq(limit(c, "retention_ms"), 1234, "the command line wins over the file");
	write_file(path, "freeze-timeout-ms = 700\nmax-vms = 5\nretention-ms = 99\n");
	cr_assert_eq(kill(dp.pid, SIGHUP), 0);
	for (int waited = 0; waited < 5000; waited += 20) {
		v = limit(c, "freeze_timeout_ms");
		if (v == 700)
			break;
		usleep(20000);
	}
	cr_assert_eq(v, 700);
	cr_assert_eq(limit(c, "vms"), 5);
	cr_assert_eq(limit(c, "retention_ms"), 1234);
	/* A broken file: nothing changes (not even the good line before the bad one). */
	write_file(path, "freeze-timeout-ms = 900\nmax-vms = lots\n");
	cr_assert_eq(kill(dp.pid, SIGHUP), 0);
	usleep(300000);
	cr_assert_eq(limit(c, "freeze_timeout_ms"), 700);
	cr_assert_eq(limit(c, "vms"), 5);
	client_free(c);
	daemon_stop_ok(&dp);
	unlink(path);
	rmdir(dir);
}

Test(daemon, freeze_then_walk_then_thaw_with_a_vmm_that_answers)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct client *vmm, *c;
	json_t *req, *r;
	const char *vm;
	int id;

	vm = start_with_vmm(NULL, g, &vmm, &c);
	id = client_request(c, "vm.snapshot", "{\"vm\":\"vm-1\",\"freeze\":\"require\"}", NULL, 0);
	req = client_expect(vmm, "vm.freeze", 5000);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(req, "params"), "vm")),
			 vm);
	/* Nothing is walked or answered before the VMM says frozen. */
	cr_assert_null(client_read(c, 100));
	client_answer(vmm, req, "{\"frozen\":true}");
	json_decref(req);
	req = client_expect(vmm, "vm.thaw", 5000);
	client_answer(vmm, req, "{}");
	json_decref(req);
	r = client_read(c, 5000);
	cr_assert_eq(json_integer_value(json_object_get(r, "id")), id);
	cr_assert_eq(resp_code(r), 0, "%s", json_dumps(r, 0));
	cr_assert(json_is_true(json_object_get(json_object_get(r, "result"), "frozen")));
	cr_assert(json_integer_value(json_object_get(json_object_get(r, "result"), "freeze_ns")) >
		  0);
	json_decref(r);
	client_free(c);
	client_free(vmm);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(daemon, vmm_that_never_answers_freeze_times_out_require_errs_prefer_walks_live)
{
	const char *args[] = {"--freeze-timeout-ms", FREEZE_MS, NULL};
	struct kit_guest *g = kit_guest_new(NULL);
	struct client *vmm, *c;
	json_t *r, *late;
	struct timespec t0, t1;
	const char *vm;

	vm = start_with_vmm(args, g, &vmm, &c);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = snapshot(c, vm, "require");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert_eq(resp_code(r), -32003, "%s", json_dumps(r, 0));
	cr_assert((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 290);
	json_decref(r);
	r = snapshot(c, vm, "prefer");
	cr_assert_eq(resp_code(r), 0, "%s", json_dumps(r, 0));
	cr_assert(json_is_false(json_object_get(json_object_get(r, "result"), "frozen")));
	json_decref(r);
	/* The VMM wakes up and says frozen to the first, late freeze: it is thawed at once. */
	late = client_expect(vmm, "vm.freeze", 1000);
	client_answer(vmm, late, "{\"frozen\":true}");
	json_decref(late);
	for (;;) {
		late = client_read(vmm, 2000);
		cr_assert_not_null(late, "no vm.thaw after a late freeze");
		if (!strcmp(json_string_value(json_object_get(late, "method")), "vm.thaw"))
			break;
		json_decref(late);
	}
	json_decref(late);
	client_free(c);
	client_free(vmm);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(daemon, vmm_that_dies_mid_freeze_leaves_a_detached_vm_that_still_walks)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct client *vmm, *c;
	json_t *req, *r, *st;
	const char *vm;
	int id;

	vm = start_with_vmm(NULL, g, &vmm, &c);
	id = client_request(c, "vm.snapshot", "{\"vm\":\"vm-1\",\"freeze\":\"prefer\"}", NULL, 0);
	req = client_expect(vmm, "vm.freeze", 5000);
	json_decref(req);
	client_free(vmm); /* the VMM dies holding the freeze */
	r = client_read(c, 5000);
	cr_assert_eq(json_integer_value(json_object_get(r, "id")), id);
	cr_assert_eq(resp_code(r), 0, "%s", json_dumps(r, 0));
	cr_assert(json_is_false(json_object_get(json_object_get(r, "result"), "frozen")));
	json_decref(r);
	st = client_call(c, "vm.status", "{\"vm\":\"vm-1\"}", NULL, 0);
	cr_assert_str_eq(result_str(st, "state"), "detached");
	json_decref(st);
	r = snapshot(c, vm, "require");
	cr_assert_eq(resp_code(r), -32003);
	json_decref(r);
	r = snapshot(c, vm, "never");
	cr_assert_eq(resp_code(r), 0);
	json_decref(r);
	client_free(c);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(daemon, detached_vm_expires_after_the_retention_time)
{
	const char *args[] = {"--retention-ms", "200", NULL};
	struct kit_guest *g = kit_guest_new(NULL);
	struct client *vmm, *c;
	json_t *r;

	daemon_start(&dp, args);
	vmm = client_new(&dp);
	c = client_new(&dp);
	register_guest(vmm, g, false, NULL);
	client_free(vmm);
	usleep(50000);
	r = client_call(c, "vm.status", "{\"vm\":\"vm-1\"}", NULL, 0);
	cr_assert_str_eq(result_str(r, "state"), "detached");
	json_decref(r);
	usleep(400000);
	client_call_code(c, "vm.status", "{\"vm\":\"vm-1\"}", NULL, 0, -32000);
	client_free(c);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(daemon, client_that_dies_mid_request_still_gets_its_vm_thawed)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct client *vmm, *c, *c2;
	json_t *req, *r;
	const char *vm;

	vm = start_with_vmm(NULL, g, &vmm, &c);
	client_request(c, "vm.snapshot", "{\"vm\":\"vm-1\",\"freeze\":\"require\"}", NULL, 0);
	req = client_expect(vmm, "vm.freeze", 5000);
	client_free(c); /* the asker leaves */
	usleep(50000);
	client_answer(vmm, req, "{\"frozen\":true}");
	json_decref(req);
	req = client_expect(vmm, "vm.thaw", 5000);
	client_answer(vmm, req, "{}");
	json_decref(req);
	c2 = client_new(&dp);
	r = snapshot(c2, vm, "never");
	cr_assert_eq(resp_code(r), 0);
	json_decref(r);
	client_free(c2);
	client_free(vmm);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(daemon, concurrent_snapshot_requests_share_one_walk)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct client *c;
	json_t *r, *st;
	const char *vm;
	char lines[4096] = "";
	json_int_t walk_ns = -1;

	daemon_start(&dp, NULL);
	c = client_new(&dp);
	vm = register_guest(c, g, false, NULL);
	vm_assert_ready(c, vm);
	for (int i = 0; i < 8; i++)
		snprintf(lines + strlen(lines), sizeof(lines) - strlen(lines),
			 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"vm.snapshot\",\"params\":"
			 "{\"vm\":\"%s\",\"freeze\":\"prefer\"}}\n",
			 100 + i, vm);
	client_send_raw(c, lines, strlen(lines), NULL, 0);
	for (int i = 0; i < 8; i++) {
		json_int_t w;

		r = client_read(c, 5000);
		cr_assert_eq(resp_code(r), 0);
		w = json_integer_value(json_object_get(json_object_get(r, "result"), "walk_ns"));
		cr_assert(walk_ns < 0 || w == walk_ns, "answers from different walks");
		walk_ns = w;
		json_decref(r);
	}
	st = client_call(c, "vm.status", "{\"vm\":\"vm-1\"}", NULL, 0);
	cr_assert_eq(
		json_integer_value(json_object_get(json_object_get(st, "result"), "snapshots")), 1);
	json_decref(st);
	client_free(c);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(daemon, malformed_json_unknown_method_and_wrong_fd_count_are_errors)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct client *c;
	json_t *r;
	int fd = unit_memfd(g->im->buf, 4096);
	char params[256];

	daemon_start(&dp, NULL);
	c = client_new(&dp);
	client_send_raw(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\n", 32, NULL, 0);
	r = client_read(c, 5000);
	cr_assert_eq(resp_code(r), -32700, "%s", json_dumps(r, 0));
	json_decref(r);
	client_call_code(c, "vm.explode", NULL, NULL, 0, -32601);
	/* Two fds declared, one sent. */
	snprintf(params, sizeof(params),
		 "{\"name\":\"x\",\"arch\":\"x86_64\",\"fds\":2,\"regions\":[{\"gpa\":0,"
		 "\"size\":4096,\"fd\":1}]}");
	client_call_code(c, "vm.register", params, &fd, 1, -32602);
	/* A region naming an fd index the request does not carry. */
	snprintf(params, sizeof(params),
		 "{\"name\":\"x\",\"arch\":\"x86_64\",\"fds\":1,\"regions\":[{\"gpa\":0,"
		 "\"size\":4096,\"fd\":3}]}");
	client_call_code(c, "vm.register", params, &fd, 1, -32602);
	/* A region longer than its file. */
	snprintf(params, sizeof(params),
		 "{\"name\":\"x\",\"arch\":\"x86_64\",\"fds\":1,\"regions\":[{\"gpa\":0,"
		 "\"size\":8192,\"fd\":0}]}");
	client_call_code(c, "vm.register", params, &fd, 1, -32602);
	client_call_code(c, "vm.snapshot", "{\"vm\":\"x\",\"freeze\":\"sometimes\"}", NULL, 0,
			 -32602);
	client_call_code(c, "daemon.info", NULL, NULL, 0, 0);
	close(fd);
	client_free(c);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(daemon, message_with_200_fds_leaves_the_daemon_fd_count_where_it_was)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct client *c;
	int fds[200], before, after;
	char params[512];
	json_t *r;

	daemon_start(&dp, NULL);
	c = client_new(&dp);
	r = client_call(c, "daemon.info", NULL, NULL, 0);
	json_decref(r);
	before = daemon_fd_count_settled(&dp, -1);
	fds[0] = unit_memfd(g->im->buf, g->im->size);
	for (int i = 1; i < 200; i++)
		fds[i] = dup(fds[0]);
	/* 200 fds that no request claims: all leftovers. */
	client_call_code(c, "daemon.info", NULL, fds, 200, 0);
	cr_assert_eq(daemon_fd_count_settled(&dp, before), before);
	/* 200 fds claimed by a registration that uses one. */
	snprintf(params, sizeof(params),
		 "{\"name\":\"many\",\"arch\":\"x86_64\",\"fds\":200,\"regions\":[{\"gpa\":%llu,"
		 "\"size\":%llu,\"fd\":199}]}",
		 (unsigned long long)g->im->gpa_base, (unsigned long long)g->im->size);
	client_call_code(c, "vm.register", params, fds, 200, 0);
	client_call_code(c, "vm.unregister", "{\"vm\":\"many\"}", NULL, 0, 0);
	/* A discovery in flight holds the VM until it ends. */
	after = daemon_fd_count_settled(&dp, before);
	cr_assert_eq(after, before, "fds before %d, after %d", before, after);
	for (int i = 0; i < 200; i++)
		close(fds[i]);
	client_free(c);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(daemon, memfd_truncated_after_registration_is_an_error_and_the_daemon_lives)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct client *c;
	json_t *r;
	const char *vm;
	int fd;

	daemon_start(&dp, NULL);
	c = client_new(&dp);
	vm = register_guest(c, g, false, &fd);
	vm_assert_ready(c, vm);
	/* Not sealed against shrinking: read with pread, and vm.status says so. */
	r = wait_state(c, vm, "ready", 5000);
	cr_assert_str_eq(
		json_string_value(json_object_get(
			json_array_get(json_object_get(json_object_get(r, "result"), "regions"), 0),
			"read")),
		"pread", "%s", json_dumps(r, 0));
	json_decref(r);
	cr_assert_eq(ftruncate(fd, 0), 0);
	r = snapshot(c, vm, "never");
	cr_assert_eq(resp_code(r), -32004, "%s", json_dumps(r, 0));
	json_decref(r);
	client_call_code(c, "daemon.info", NULL, NULL, 0, 0);
	close(fd);
	client_free(c);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

/* A memfd sealed against shrinking (as QEMU's memory-backend-memfd) is read in place. */
Test(daemon, sealed_memfd_is_mapped_and_reads_the_same_as_pread)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct client *c;
	const char *vm;
	json_t *r, *st, *walked[2];
	int fd;

	daemon_start(&dp, NULL);
	c = client_new(&dp);
	for (int sealed = 0; sealed < 2; sealed++) {
		char params[512];

		fd = unit_memfd(g->im->buf, g->im->size);
		if (sealed)
			cr_assert_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
		snprintf(params, sizeof(params),
			 "{\"name\":\"s%d\",\"arch\":\"x86_64\",\"fds\":1,\"regions\":[{"
			 "\"gpa\":%llu,\"size\":%llu,\"fd\":0}]}",
			 sealed, (unsigned long long)g->im->gpa_base,
			 (unsigned long long)g->im->size);
		r = client_call(c, "vm.register", params, &fd, 1);
		cr_assert_eq(resp_code(r), 0, "%s", json_dumps(r, 0));
		vm = result_str(r, "vm");
		vm_assert_ready(c, vm);
		st = wait_state(c, vm, "ready", 5000);
		cr_assert_str_eq(
			json_string_value(json_object_get(
				json_array_get(
					json_object_get(json_object_get(st, "result"), "regions"),
					0),
				"read")),
			sealed ? "mapped" : "pread", "%s", json_dumps(st, 0));
		/* The second VM of this kernel build shares the first one's BTF facts. */
		cr_assert_eq(json_is_true(json_object_get(json_object_get(st, "result"),
							  "kernel_facts_shared")),
			     sealed == 1, "%s", json_dumps(st, 0));
		json_decref(st);
		st = snapshot(c, vm, "never");
		cr_assert_eq(resp_code(st), 0, "%s", json_dumps(st, 0));
		walked[sealed] =
			json_incref(json_object_get(json_object_get(st, "result"), "progs"));
		json_decref(st);
		json_decref(r);
		close(fd);
	}
	cr_assert(json_equal(walked[0], walked[1]));
	cr_assert_gt(json_array_size(walked[1]), 0);
	json_decref(walked[0]);
	json_decref(walked[1]);
	client_free(c);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(daemon, limits_answer_a_limit_error_and_the_daemon_lives)
{
	const char *args[] = {"--max-connections", "2",	   "--max-vms", "1",
			      "--max-line",	   "4096", NULL};
	struct kit_guest *g = kit_guest_new(NULL);
	struct client *c, *c2, *c3;
	json_t *r;
	char *big = malloc(8192);

	daemon_start(&dp, args);
	c = client_new(&dp);
	c2 = client_new(&dp);
	register_guest(c, g, false, NULL);
	{
		char params[256];
		int fd = unit_memfd(g->im->buf, 4096);

		snprintf(params, sizeof(params),
			 "{\"name\":\"two\",\"arch\":\"x86_64\",\"fds\":1,\"regions\":[{\"gpa\":0,"
			 "\"size\":4096,\"fd\":0}]}");
		client_call_code(c2, "vm.register", params, &fd, 1, -32005);
		close(fd);
	}
	c3 = client_new(&dp); /* the third connection: refused with a limit error */
	r = client_read(c3, 5000);
	cr_assert_eq(resp_code(r), -32005, "%s", json_dumps(r, 0));
	json_decref(r);
	client_free(c3);
	memset(big, ' ', 8191);
	big[8191] = '\n';
	client_send_raw(c2, big, 8192, NULL, 0);
	r = client_read(c2, 5000);
	cr_assert_eq(resp_code(r), -32005, "%s", json_dumps(r, 0));
	json_decref(r);
	cr_assert_null(client_read(c2, 2000), "the connection is closed after an oversize line");
	client_call_code(c, "daemon.info", NULL, NULL, 0, 0);
	free(big);
	client_free(c2);
	client_free(c);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(daemon, another_uid_neither_sees_nor_touches_a_vm)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct client *c;

	if (geteuid() != 0)
		cr_skip_test("needs root to connect as another uid");
	daemon_start(&dp, NULL);
	c = client_new(&dp);
	register_guest(c, g, false, NULL);
	assert_other_uid_shut_out(&dp, "vm.list", "vms",
				  (const char *const[][2]){{"vm.snapshot", "{\"vm\":\"vm-1\"}"},
							   {"vm.unregister", "{\"vm\":\"vm-1\"}"}},
				  2);
	client_free(c);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(daemon, sigterm_during_a_freeze_waits_for_the_walk_thaws_and_exits_0)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct client *vmm, *c;
	json_t *req, *r;
	int st;

	start_with_vmm(NULL, g, &vmm, &c);
	client_request(c, "vm.snapshot", "{\"vm\":\"vm-1\",\"freeze\":\"require\"}", NULL, 0);
	req = client_expect(vmm, "vm.freeze", 5000);
	kill(dp.pid, SIGTERM);
	usleep(50000);
	cr_assert_eq(waitpid(dp.pid, &st, WNOHANG), 0, "ktbpfd exited with a freeze in flight");
	client_answer(vmm, req, "{\"frozen\":true}");
	json_decref(req);
	req = client_expect(vmm, "vm.thaw", 5000);
	client_answer(vmm, req, "{}");
	json_decref(req);
	r = client_read(c, 5000);
	cr_assert_eq(resp_code(r), 0, "the in-flight snapshot is answered");
	json_decref(r);
	cr_assert_eq(waitpid(dp.pid, &st, 0), dp.pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
	dp.pid = getpid(); /* daemon_stop below must not wait again */
	client_free(c);
	client_free(vmm);
	kit_guest_free(g);
}

Test(daemon, fds_regions_and_pending_limits_answer_limit_errors)
{
	const char *args[] = {
		"--max-fds-msg", "4", "--max-regions", "1", "--max-pending", "1", NULL};
	struct kit_guest *g = kit_guest_new(NULL);
	struct client *vmm, *c, *c2;
	int fds[8], before;
	char params[512];
	json_t *r, *req;
	const char *vm;

	daemon_start(&dp, args);
	vmm = client_new(&dp);
	c = client_new(&dp);
	before = daemon_fd_count_settled(&dp, -1);
	/* Two regions of one fd, one allowed. */
	fds[0] = unit_memfd(g->im->buf, g->im->size);
	snprintf(params, sizeof(params),
		 "{\"name\":\"two\",\"arch\":\"x86_64\",\"fds\":1,\"regions\":[{\"gpa\":0,"
		 "\"size\":4096,\"fd\":0},{\"gpa\":8192,\"size\":4096,\"fd\":0,\"offset\":8192}]}");
	client_call_code(c, "vm.register", params, fds, 1, -32005);
	/* A message with more fds than allowed: one limit error, then the connection closes. */
	for (int i = 1; i < 8; i++)
		fds[i] = dup(fds[0]);
	client_request(c, "daemon.info", NULL, fds, 8);
	r = client_read(c, 5000);
	cr_assert_eq(resp_code(r), -32005, "%s", json_dumps(r, 0));
	json_decref(r);
	cr_assert_null(client_read(c, 2000));
	client_free(c);
	cr_assert_eq(daemon_fd_count_settled(&dp, before - 1), before - 1,
		     "every fd of the refused message is closed");
	/* One request served at a time: a second one while a freeze waits is refused. */
	vm = register_guest(vmm, g, true, NULL);
	c2 = client_new(&dp);
	vm_assert_ready(c2, vm);
	client_request(c2, "vm.snapshot", "{\"vm\":\"vm-1\",\"freeze\":\"require\"}", NULL, 0);
	req = client_expect(vmm, "vm.freeze", 5000);
	client_call_code(c2, "daemon.info", NULL, NULL, 0, -32005);
	client_answer(vmm, req, "{\"frozen\":false}");
	json_decref(req);
	r = client_read(c2, 5000);
	cr_assert_eq(resp_code(r), -32003, "%s", json_dumps(r, 0));
	json_decref(r);
	for (int i = 0; i < 8; i++)
		close(fds[i]);
	client_free(c2);
	client_free(vmm);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}
