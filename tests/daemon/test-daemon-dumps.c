/* SPDX-License-Identifier: MIT */
/*
 * ktbpfd's failure-dump store, on the real binary with a temporary socket and
 * state directory: vm.dump of a live and of a detached VM, dump.list /
 * dump.get / dump.delete, dumps that survive a restart, unfinished .# files
 * removed at start, retention by size and age, and another uid refused.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-client.h"
#include "kit-guest.h"

static struct daemon_proc dp;

static json_t *result(json_t *resp)
{
	return json_object_get(resp, "result");
}

static void register_ready(struct client *c, struct kit_guest *g)
{
	vm_register(c, g, &(struct vm_reg){.name = "g1"});
	vm_assert_ready(c, "vm-1");
}
/* vm.dump of vm-1; returns the new dump's id (static buffer). */
static const char *take_dump(struct client *c, const char *reason)
{
	static char id[64];
	char params[256];
	json_t *r;

	snprintf(params, sizeof(params), "{\"vm\":\"vm-1\",\"reason\":\"%s\",\"test\":\"t/one\"}",
		 reason);
	r = client_call(c, "vm.dump", params, NULL, 0);
	cr_assert_eq(resp_code(r), 0, "%s", json_dumps(r, 0));
	cr_assert_str_eq(result_str(r, "reason"), reason);
	snprintf(id, sizeof(id), "%s", result_str(r, "dump"));
	json_decref(r);
	return id;
}

static json_t *get(struct client *c, const char *id)
{
	char params[128];

	snprintf(params, sizeof(params), "{\"dump\":\"%s\"}", id);
	return client_call(c, "dump.get", params, NULL, 0);
}

static json_t *list(struct client *c)
{
	json_t *r = client_call(c, "dump.list", NULL, NULL, 0);

	cr_assert_eq(resp_code(r), 0, "%s", json_dumps(r, 0));
	return r;
}

static size_t nr_listed(struct client *c)
{
	json_t *r = list(c);
	size_t n = json_array_size(json_object_get(result(r), "dumps"));

	json_decref(r);
	return n;
}

Test(dumps, live_vm_dump_is_stored_listed_read_back_and_deleted)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct client *c;
	json_t *r, *snap, *doc;
	char id[64];

	daemon_start(&dp, NULL);
	c = client_new(&dp);
	register_ready(c, g);
	snprintf(id, sizeof(id), "%s", take_dump(c, "assert failed"));
	r = list(c);
	cr_assert_eq(json_array_size(json_object_get(result(r), "dumps")), 1);
	cr_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(json_object_get(result(r), "dumps"), 0), "test")),
			 "t/one");
	json_decref(r);
	doc = get(c, id);
	cr_assert_eq(resp_code(doc), 0, "%s", json_dumps(doc, 0));
	cr_assert_str_eq(result_str(doc, "schema"), "ktbpf.failure-dump");
	cr_assert(json_is_false(json_object_get(result(doc), "detached")));
	cr_assert(json_is_false(json_object_get(result(doc), "frozen")));
	cr_assert_gt(json_integer_value(json_object_get(result(doc), "compressed_size")), 0);
	/* the stored snapshot has what vm.snapshot answers: the same programs */
	snap = client_call(c, "vm.snapshot", "{\"vm\":\"vm-1\",\"freeze\":\"never\"}", NULL, 0);
	cr_assert_gt(json_array_size(json_object_get(result(snap), "progs")), 0);
	cr_assert_eq(
		json_array_size(json_object_get(json_object_get(result(doc), "snapshot"), "progs")),
		json_array_size(json_object_get(result(snap), "progs")));
	json_decref(snap);
	json_decref(doc);
	client_call_code(c, "dump.delete", "{\"dump\":\"nonesuch\"}", NULL, 0, -32006);
	{
		char params[128];

		snprintf(params, sizeof(params), "{\"dump\":\"%s\"}", id);
		client_call_code(c, "dump.delete", params, NULL, 0, 0);
	}
	cr_assert_eq(nr_listed(c), 0);
	r = get(c, id);
	cr_assert_eq(resp_code(r), -32006);
	json_decref(r);
	client_free(c);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(dumps, detached_vm_dump_walks_unfrozen_and_says_its_vmm_is_gone)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct client *vmm, *c;
	json_t *doc, *fr;
	char id[64];

	daemon_start(&dp, NULL);
	vmm = client_new(&dp);
	c = client_new(&dp);
	register_ready(vmm, g);
	client_free(vmm); /* the VMM dies */
	for (int i = 0; i < 100; i++) {
		json_t *st = client_call(c, "vm.status", "{\"vm\":\"vm-1\"}", NULL, 0);
		bool det =
			!strcmp(result_str(st, "state") ? result_str(st, "state") : "", "detached");

		json_decref(st);
		if (det)
			break;
		usleep(10000);
	}
	snprintf(id, sizeof(id), "%s", take_dump(c, "guest died"));
	doc = get(c, id);
	cr_assert_eq(resp_code(doc), 0, "%s", json_dumps(doc, 0));
	cr_assert(json_is_true(json_object_get(result(doc), "detached")));
	fr = json_object_get(result(doc), "freeze");
	cr_assert(json_is_false(json_object_get(fr, "frozen")));
	cr_assert_not_null(strstr(json_string_value(json_object_get(fr, "why")), "detached"), "%s",
			   json_dumps(fr, 0));
	cr_assert_gt(
		json_array_size(json_object_get(json_object_get(result(doc), "snapshot"), "progs")),
		0);
	json_decref(doc);
	client_free(c);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(dumps, dumps_survive_a_restart_and_unfinished_files_are_removed)
{
	struct kit_guest *g = kit_guest_new(NULL);
	char state[] = "/tmp/ktbpfd-state-XXXXXX", tmp[128], id[64];
	const char *args[] = {"--state-dir", state, NULL};
	struct client *c;
	json_t *before, *after, *r;
	int fd;

	cr_assert_not_null(mkdtemp(state));
	daemon_start(&dp, args);
	c = client_new(&dp);
	register_ready(c, g);
	snprintf(id, sizeof(id), "%s", take_dump(c, "before restart"));
	before = get(c, id);
	cr_assert_eq(resp_code(before), 0);
	client_free(c);
	daemon_stop_ok(&dp);

	/* a write the previous daemon never finished */
	snprintf(tmp, sizeof(tmp), "%s/dumps/.#dump.1-vm-1-0.json.gz", state);
	fd = open(tmp, O_WRONLY | O_CREAT, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "\x1f\x8b", 2), 2);
	close(fd);

	daemon_start(&dp, args);
	c = client_new(&dp);
	cr_assert_eq(access(tmp, F_OK), -1, "the unfinished .# file is still there");
	r = list(c);
	cr_assert_eq(json_array_size(json_object_get(result(r), "dumps")), 1);
	cr_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(json_object_get(result(r), "dumps"), 0), "dump")),
			 id);
	json_decref(r);
	after = get(c, id);
	cr_assert(json_equal(result(before), result(after)), "before %s\nafter %s",
		  json_dumps(result(before), 0), json_dumps(result(after), 0));
	json_decref(before);
	json_decref(after);
	client_free(c);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(dumps, retention_by_size_keeps_the_newest_and_by_age_deletes_old_ones)
{
	struct kit_guest *g = kit_guest_new(NULL);
	char state[] = "/tmp/ktbpfd-state-XXXXXX", last[64];
	const char *small[] = {"--state-dir", state, "--dump-max-use", "1", NULL};
	const char *aged[] = {"--state-dir", state, "--dump-max-age-s", "1", NULL};
	struct client *c;
	json_t *r;

	cr_assert_not_null(mkdtemp(state));
	daemon_start(&dp, small);
	c = client_new(&dp);
	register_ready(c, g);
	take_dump(c, "one");
	take_dump(c, "two");
	snprintf(last, sizeof(last), "%s", take_dump(c, "three"));
	r = list(c);
	cr_assert_eq(json_array_size(json_object_get(result(r), "dumps")), 1, "%s",
		     json_dumps(r, 0));
	cr_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(json_object_get(result(r), "dumps"), 0), "dump")),
			 last);
	json_decref(r);
	client_free(c);
	daemon_stop_ok(&dp);

	sleep(2);
	daemon_start(&dp, aged);
	c = client_new(&dp);
	cr_assert_eq(nr_listed(c), 0, "a dump older than --dump-max-age-s is still listed");
	client_free(c);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(dumps, another_uid_neither_lists_nor_reads_nor_deletes_a_dump)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct client *c;
	char id[64], params[128];

	if (geteuid() != 0)
		cr_skip_test("needs root to connect as another uid");
	daemon_start(&dp, NULL);
	c = client_new(&dp);
	register_ready(c, g);
	snprintf(id, sizeof(id), "%s", take_dump(c, "mine"));
	snprintf(params, sizeof(params), "{\"dump\":\"%s\"}", id);
	assert_other_uid_shut_out(&dp, "dump.list", "dumps",
				  (const char *const[][2]){{"dump.get", params},
							   {"dump.delete", params},
							   {"vm.dump", "{\"vm\":\"vm-1\"}"}},
				  3);
	cr_assert_eq(nr_listed(c), 1);
	client_free(c);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(dumps, ktbpfctl_dump_and_dumps_list_info_export_rm_like_coredumpctl)
{
	struct kit_guest *g = kit_guest_new(NULL);
	char args[512], id[64], path[128];
	struct client *c;
	json_t *doc, *exp;
	char *out;
	int st;

	daemon_start(&dp, NULL);
	c = client_new(&dp);
	register_ready(c, g);

	out = daemon_ctl(&dp, "dump g1 --reason 'stall seen' --test sched/t1", &st);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert_not_null(strstr(out, "reason        stall seen"), "%s", out);
	cr_assert_not_null(strstr(out, "frozen        no"), "%s", out);
	cr_assert_not_null(strstr(out, "struct_ops programs:"), "%s", out);
	free(out);

	out = daemon_ctl(&dp, "dump g1 --json --test sched/t2", &st);
	cr_assert_eq(st, 0, "%s", out);
	doc = json_loads(out, 0, NULL);
	cr_assert_not_null(doc, "%s", out);
	cr_assert_str_eq(json_string_value(json_object_get(doc, "schema")), "ktbpf.failure-dump");
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(doc, "dump")));
	free(out);

	out = daemon_ctl(&dp, "dumps list", &st);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert_not_null(strstr(out, "ID"), "%s", out);
	cr_assert_not_null(strstr(out, "sched/t1"), "%s", out);
	cr_assert_not_null(strstr(out, id), "%s", out);
	free(out);

	snprintf(args, sizeof(args), "dumps info %s", id);
	out = daemon_ctl(&dp, args, &st);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert_not_null(strstr(out, "test          sched/t2"), "%s", out);
	free(out);

	snprintf(path, sizeof(path), "%s/export.json", dp.dir);
	snprintf(args, sizeof(args), "dumps export %s -o '%s'", id, path);
	out = daemon_ctl(&dp, args, &st);
	cr_assert_eq(st, 0, "%s", out);
	free(out);
	exp = json_load_file(path, 0, NULL);
	cr_assert_not_null(exp);
	cr_assert(json_equal(exp, doc), "export differs from dump --json");
	json_decref(exp);
	json_decref(doc);

	snprintf(args, sizeof(args), "dumps rm %s", id);
	out = daemon_ctl(&dp, args, &st);
	cr_assert_eq(st, 0, "%s", out);
	free(out);
	out = daemon_ctl(&dp, args, &st);
	cr_assert_eq(st, 1, "rm of a removed dump: status %d", st);
	free(out);
	snprintf(args, sizeof(args), "dumps info %s", id);
	out = daemon_ctl(&dp, args, &st);
	cr_assert_eq(st, 1);
	free(out);
	out = daemon_ctl(&dp, "dumps list --json", &st);
	cr_assert_eq(st, 0);
	doc = json_loads(out, 0, NULL);
	cr_assert_eq(json_array_size(json_object_get(doc, "dumps")), 1, "%s", out);
	json_decref(doc);
	free(out);

	client_free(c);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

/* The whole of a small file (static buffer), "" when absent. */
static const char *slurp(const char *path)
{
	static char buf[1 << 16];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = 0;
	return buf;
}

/* ktbpfctl dumps export ID -o path with writes failing (EFBIG: no byte may be written); its
 * exit status. */
static int export_failing(const char *id, const char *path)
{
	char cmd[1024];
	int st;

	snprintf(
		cmd, sizeof(cmd),
		"trap '' XFSZ; ulimit -f 0; '%s' dumps export %s -o '%s' --socket '%s' 2>/dev/null",
		getenv("KTBPFCTL"), id, path, dp.sock);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Files in dir whose name starts with prefix. */
static int nr_named(const char *dir, const char *prefix)
{
	char cmd[512], out[64] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls -A '%s' | grep -c '^%s' || true", dir, prefix);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_not_null(fgets(out, sizeof(out), p));
	pclose(p);
	return atoi(out);
}

Test(dumps, failing_export_leaves_no_partial_file_and_keeps_the_old_one)
{
	struct kit_guest *g = kit_guest_new(NULL);
	char args[512], id[64], path[128], fresh[128], *whole, *out;
	struct client *c;
	int st;

	daemon_start(&dp, NULL);
	c = client_new(&dp);
	register_ready(c, g);
	snprintf(id, sizeof(id), "%s", take_dump(c, "export"));
	snprintf(path, sizeof(path), "%s/export.json", dp.dir);
	snprintf(fresh, sizeof(fresh), "%s/fresh.json", dp.dir);
	snprintf(args, sizeof(args), "dumps export %s -o '%s'", id, path);
	out = daemon_ctl(&dp, args, &st);
	cr_assert_eq(st, 0, "%s", out);
	free(out);
	whole = strdup(slurp(path));
	cr_assert_gt(strlen(whole), 100, "the export is too small to be cut: %s", whole);

	/* Over an older export: it stays whole, and no temporary file is left. */
	cr_assert_eq(export_failing(id, path), 1);
	cr_assert_str_eq(slurp(path), whole, "a failed export changed the file it replaces");
	cr_assert_eq(nr_named(dp.dir, ".export.json."), 0, "a temporary file was left behind");
	/* To a new name: nothing appears. */
	cr_assert_eq(export_failing(id, fresh), 1);
	cr_assert_eq(access(fresh, F_OK), -1, "a failed export left %s", fresh);
	cr_assert_eq(nr_named(dp.dir, ".fresh.json."), 0, "a temporary file was left behind");

	free(whole);
	client_free(c);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(dumps, keep_free_above_the_disk_keeps_only_the_newest_and_unreadable_files_are_ignored)
{
	struct kit_guest *g = kit_guest_new(NULL);
	char state[] = "/tmp/ktbpfd-state-XXXXXX", path[160], last[64];
	const char *args[] = {"--state-dir", state, "--dump-keep-free", "0x4000000000000000", NULL};
	struct client *c;
	json_t *r;
	int fd;

	cr_assert_not_null(mkdtemp(state));
	/* a file named like a dump that is not one: ignored, never listed */
	snprintf(path, sizeof(path), "%s/dumps", state);
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/dumps/dump.garbage.json.gz", state);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "not gzip at all", 15), 15);
	close(fd);
	daemon_start(&dp, args);
	c = client_new(&dp);
	cr_assert_eq(nr_listed(c), 0);
	register_ready(c, g);
	take_dump(c, "one");
	snprintf(last, sizeof(last), "%s", take_dump(c, "two"));
	r = list(c);
	cr_assert_eq(json_array_size(json_object_get(result(r), "dumps")), 1, "%s",
		     json_dumps(r, 0));
	cr_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(json_object_get(result(r), "dumps"), 0), "dump")),
			 last);
	json_decref(r);
	client_call_code(c, "dump.get", "{\"dump\":\"garbage\"}", NULL, 0, -32006);
	client_free(c);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(dumps, concurrent_dumps_of_one_vm_are_stored_under_distinct_ids)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct client *c, *c2;
	json_t *r1, *r2;

	daemon_start(&dp, NULL);
	c = client_new(&dp);
	c2 = client_new(&dp);
	register_ready(c, g);
	client_request(c, "vm.dump", "{\"vm\":\"vm-1\",\"test\":\"a\"}", NULL, 0);
	client_request(c2, "vm.dump", "{\"vm\":\"vm-1\",\"test\":\"b\"}", NULL, 0);
	r1 = client_read(c, 5000);
	r2 = client_read(c2, 5000);
	cr_assert_eq(resp_code(r1), 0, "%s", json_dumps(r1, 0));
	cr_assert_eq(resp_code(r2), 0, "%s", json_dumps(r2, 0));
	cr_assert_str_neq(result_str(r1, "dump"), result_str(r2, "dump"));
	cr_assert_str_eq(result_str(r2, "test"), "b");
	json_decref(r1);
	json_decref(r2);
	cr_assert_eq(nr_listed(c), 2);
	client_free(c2);
	client_free(c);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}
