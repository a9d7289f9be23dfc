/* SPDX-License-Identifier: MIT */
/*
 * The active object's variables in ktbpfd's answers: vm.snapshot with vars,
 * vm.dump (always) and the reports ktbpfctl prints from them (snapshot
 * --vars, dump, dumps info), over a kit guest whose scheduler "kv" has a
 * .bss with its BTF. Every member the daemon writes is one the OpenRPC
 * document describes (Snapshot, Vars, VarNode).
 */
#include <bpf/btf.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-client.h"
#include "kit-guest.h"
#include "kit-vars.h"
#include "ktbpf/openrpc.h"
#include "ktbpf/vars.h"

#define BSS_SIZE 24

static struct daemon_proc dp;

struct vguest {
	struct kit_guest *g;
	struct btf *btf;
	uint64_t bss_kva;
	int memfd;
};

static int ok(int id)
{
	cr_assert_gt(id, 0, "btf__add_*: %d", id);
	return id;
}

/* .bss: u64 nr_calls (0), char msg[8] (8), int mode (16). */
static uint32_t bss_btf(struct btf *b)
{
	int ull = ok(btf__add_int(b, "long long unsigned int", 8, 0));
	int u64 = ok(btf__add_typedef(b, "u64", ull));
	int chr = ok(btf__add_int(b, "char", 1, BTF_INT_CHAR | BTF_INT_SIGNED));
	int in = ok(btf__add_int(b, "int", 4, BTF_INT_SIGNED));
	int arr = ok(btf__add_array(b, in, chr, 8));
	int v0 = ok(btf__add_var(b, "nr_calls", BTF_VAR_GLOBAL_ALLOCATED, u64));
	int v1 = ok(btf__add_var(b, "msg", BTF_VAR_GLOBAL_ALLOCATED, arr));
	int v2 = ok(btf__add_var(b, "mode", BTF_VAR_GLOBAL_ALLOCATED, in));
	int ds = ok(btf__add_datasec(b, ".bss", BSS_SIZE));

	cr_assert_eq(btf__add_datasec_var_info(b, v0, 0, 8), 0);
	cr_assert_eq(btf__add_datasec_var_info(b, v1, 8, 8), 0);
	cr_assert_eq(btf__add_datasec_var_info(b, v2, 16, 4), 0);
	return (uint32_t)ds;
}

static void bss_value(uint8_t *v, uint64_t nr_calls, const char *msg, int32_t mode)
{
	memset(v, 0, BSS_SIZE);
	memcpy(v, &nr_calls, 8);
	strncpy((char *)v + 8, msg, 8);
	memcpy(v + 16, &mode, 4);
}

static const struct kit_prog_spec vprogs[] = {
	{.id = 1, .iface = KIT_IFACE_SCX, .member = 0, .obj = "kv"},
	{.id = 2, .iface = KIT_IFACE_SCX, .member = 1, .obj = "kv"},
};

static void vguest_new(struct vguest *vg)
{
	struct kit_guest_opts opts = {.progs = vprogs, .nr_progs = 2, .kernel.nr_cpus = 2};
	struct kit_vars_map_spec sp;
	uint8_t value[BSS_SIZE];
	uint32_t size, ds;
	const void *raw;

	vg->g = kit_guest_new(&opts);
	vg->btf = btf__new_empty();
	ds = bss_btf(vg->btf);
	raw = btf__raw_data(vg->btf, &size);
	bss_value(value, 42, "hello", -3);
	sp = (struct kit_vars_map_spec){.name = "kv.bss",
					.type = KTBPF_BPF_MAP_TYPE_ARRAY,
					.btf = raw,
					.btf_size = size,
					.value_type_id = ds,
					.value_size = BSS_SIZE,
					.max_entries = 1,
					.value = value};
	vg->bss_kva = kit_vars_map_new(vg->g, &sp, NULL, NULL);
	kit_vars_set_used_maps(vg->g, 1, &vg->bss_kva, 1);
	kit_vars_set_used_maps(vg->g, 2, &vg->bss_kva, 1);
}

static void vguest_free(struct vguest *vg)
{
	close(vg->memfd);
	btf__free(vg->btf);
	kit_guest_free(vg->g);
}

/* Change the .bss in the kit and in the registered memfd. */
static void set_bss(struct vguest *vg, uint64_t nr_calls, const char *msg, int32_t mode)
{
	uint8_t value[BSS_SIZE];

	bss_value(value, nr_calls, msg, mode);
	kit_kernel_wkva(vg->g->kk, vg->bss_kva + vg->g->lay.off.vars.array_value, value, BSS_SIZE);
	cr_assert_eq(pwrite(vg->memfd, vg->g->im->buf, vg->g->im->size, 0),
		     (ssize_t)vg->g->im->size);
}

static void register_ready(struct client *c, struct vguest *vg)
{
	vm_register(c, vg->g, &(struct vm_reg){.name = "vk", .ret_memfd = &vg->memfd});
	vm_assert_ready(c, "vk");
}
/* The node of variable name among a map's vars. */
static const json_t *var(const json_t *vars, const char *name)
{
	const json_t *m, *n;
	size_t i, j;

	json_array_foreach(json_object_get(vars, "maps"), i, m) json_array_foreach(
		json_object_get(m, "vars"), j,
		n) if (!strcmp(json_string_value(json_object_get(n, "name")), name)) return n;
	cr_assert_fail("no variable %s in %s", name, json_dumps(vars, 0));
	return NULL;
}

static const json_t *schema(const json_t *doc, const char *name)
{
	const json_t *s = json_object_get(
		json_object_get(json_object_get(doc, "components"), "schemas"), name);

	cr_assert_not_null(s, "no schema %s", name);
	return json_object_get(s, "properties");
}

/* Every member of o is a property of the schema. */
static void described(const json_t *o, const json_t *props, const char *what)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)o, key, v) cr_assert_not_null(
		json_object_get(props, key),
		"%s has '%s', which rpc/openrpc.json does not describe", what, key);
}

static void described_nodes(const json_t *nodes, const json_t *props)
{
	const json_t *n;
	size_t i;

	json_array_foreach(nodes, i, n)
	{
		described(n, props, "a VarNode");
		described_nodes(json_object_get(n, "children"), props);
	}
}

Test(daemon_vars, snapshot_with_vars_has_the_active_objects_variables_as_described)
{
	struct vguest vg;
	struct client *c;
	json_t *r, *doc = ktbpf_openrpc_doc();
	const json_t *res, *vars, *m;
	size_t i;

	vguest_new(&vg);
	daemon_start(&dp, NULL);
	c = client_new(&dp);
	register_ready(c, &vg);
	r = client_call(c, "vm.snapshot", "{\"vm\":\"vk\",\"freeze\":\"never\"}", NULL, 0);
	cr_assert_eq(resp_code(r), 0, "%s", json_dumps(r, 0));
	cr_assert_null(json_object_get(json_object_get(r, "result"), "vars"),
		       "variables read though not asked for");
	json_decref(r);
	r = client_call(c, "vm.snapshot", "{\"vm\":\"vk\",\"freeze\":\"never\",\"vars\":true}",
			NULL, 0);
	cr_assert_eq(resp_code(r), 0, "%s", json_dumps(r, 0));
	res = json_object_get(r, "result");
	vars = json_object_get(res, "vars");
	cr_assert_str_eq(json_string_value(json_object_get(vars, "object")), "kv", "%s",
			 json_dumps(vars, 0));
	cr_assert_eq(json_integer_value(json_object_get(var(vars, "nr_calls"), "value")), 42);
	cr_assert_str_eq(json_string_value(json_object_get(var(vars, "msg"), "value")), "hello");
	cr_assert_eq(json_integer_value(json_object_get(var(vars, "mode"), "value")), -3);
	described(res, schema(doc, "Snapshot"), "the Snapshot");
	described(vars, schema(doc, "Vars"), "Vars");
	json_array_foreach(json_object_get(vars, "maps"), i, m)
	{
		described(m,
			  json_object_get(
				  json_object_get(json_object_get(schema(doc, "Vars"), "maps"),
						  "items"),
				  "properties"),
			  "a Vars map");
		described_nodes(json_object_get(m, "vars"), schema(doc, "VarNode"));
	}
	json_decref(r);
	json_decref(doc);
	client_free(c);
	daemon_stop_ok(&dp);
	vguest_free(&vg);
}

Test(daemon_vars, dump_keeps_variables_and_its_report_prints_them_as_a_tree)
{
	struct vguest vg;
	struct client *c;
	char *out, args[256], id[64];
	json_t *doc;
	int st;

	vguest_new(&vg);
	daemon_start(&dp, NULL);
	c = client_new(&dp);
	register_ready(c, &vg);
	set_bss(&vg, 7, "stalled", 2);
	out = daemon_ctl(&dp, "dump vk --test t/vars --reason because --json", &st);
	cr_assert_eq(st, 0, "%s", out);
	doc = json_loads(out, 0, NULL);
	cr_assert_not_null(doc, "%s", out);
	free(out);
	cr_assert_eq(
		json_integer_value(json_object_get(
			var(json_object_get(json_object_get(doc, "snapshot"), "vars"), "nr_calls"),
			"value")),
		7);
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(doc, "dump")));
	json_decref(doc);
	snprintf(args, sizeof(args), "dumps info %s", id);
	out = daemon_ctl(&dp, args, &st);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert_not_null(strstr(out, "variables of kv (the active object)"), "%s", out);
	cr_assert_not_null(strstr(out, "\nsched_ext     kv exited: SCX_EXIT_ERROR_BPF, 'ktbpf test "
				       "error 7' (the kernel's exit record)\n"),
			   "the exit up front: %s", out);
	cr_assert_not_null(strstr(out, "map "), "%s", out);
	cr_assert_not_null(strstr(out, "  nr_calls = 7  <u64>\n"), "%s", out);
	cr_assert_not_null(strstr(out, "  msg = \"stalled\"  <char[8]>\n"), "%s", out);
	cr_assert_not_null(strstr(out, "  mode = 2  <int>\n"), "%s", out);
	free(out);
	out = daemon_ctl(&dp, "snapshot vk --freeze never --vars", &st);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert_not_null(strstr(out, "  nr_calls = 7  <u64>\n"), "%s", out);
	free(out);
	out = daemon_ctl(&dp, "snapshot vk --freeze never", &st);
	cr_assert_null(strstr(out, "nr_calls"), "variables without --vars: %s", out);
	free(out);
	client_free(c);
	daemon_stop_ok(&dp);
	vguest_free(&vg);
}

Test(daemon_vars, nothing_active_is_a_vars_error_not_a_failed_snapshot)
{
	struct kit_guest_opts opts = {.no_instances = true};
	struct vguest vg = {.g = kit_guest_new(&opts), .btf = NULL};
	struct client *c;
	json_t *r;
	const json_t *e;

	daemon_start(&dp, NULL);
	c = client_new(&dp);
	register_ready(c, &vg);
	r = client_call(c, "vm.snapshot", "{\"vm\":\"vk\",\"freeze\":\"never\",\"vars\":true}",
			NULL, 0);
	cr_assert_eq(resp_code(r), 0, "%s", json_dumps(r, 0));
	e = json_object_get(json_object_get(json_object_get(r, "result"), "vars"), "error");
	cr_assert_str_eq(json_string_value(json_object_get(e, "code")), "ENOENT", "%s",
			 json_dumps(r, 0));
	cr_assert_not_null(json_string_value(json_object_get(e, "message")));
	json_decref(r);
	client_free(c);
	daemon_stop_ok(&dp);
	vguest_free(&vg);
}

/* A stored dump's id (static buffer). */
static const char *dump_id(struct client *c)
{
	static char id[2][64];
	static int k;
	json_t *r = client_call(c, "vm.dump", "{\"vm\":\"vk\",\"test\":\"t/diff\"}", NULL, 0);

	cr_assert_eq(resp_code(r), 0, "%s", json_dumps(r, 0));
	k ^= 1;
	snprintf(id[k], sizeof(id[k]), "%s",
		 json_string_value(json_object_get(json_object_get(r, "result"), "dump")));
	json_decref(r);
	return id[k];
}

Test(daemon_vars, diff_of_two_stored_dumps_names_changed_and_stopped_variables_and_rates)
{
	struct vguest vg;
	struct client *c;
	char args[256], *out;
	const char *a, *b;
	const json_t *p, *e;
	json_t *d;
	size_t i;
	int st;
	bool nr_calls = false, mode_stopped = false;

	vguest_new(&vg);
	daemon_start(&dp, NULL);
	c = client_new(&dp);
	register_ready(c, &vg);
	a = dump_id(c);
	usleep(100000);
	guest_bump(vg.g, vg.memfd, 0, 0, 300, 60000); /* program 1 runs 300 times, 200 ns each */
	set_bss(&vg, 43, "hello", -3);
	b = dump_id(c);
	snprintf(args, sizeof(args), "diff %s %s --json", a, b);
	out = daemon_ctl(&dp, args, &st);
	cr_assert_eq(st, 0, "%s", out);
	d = json_loads(out, 0, NULL);
	cr_assert_not_null(d, "%s", out);
	cr_assert_geq(json_integer_value(json_object_get(d, "period_ns")), 100000000,
		      "the dumps' times are 100 ms apart at least: %s", out);
	json_array_foreach(json_object_get(d, "progs"), i, p)
	{
		if (json_integer_value(json_object_get(p, "id")) != 1)
			continue;
		cr_assert_eq(json_integer_value(json_object_get(p, "run_cnt_delta")), 300);
		cr_assert_eq(json_real_value(json_object_get(p, "avg_ns")), 200.0);
	}
	json_array_foreach(json_object_get(json_object_get(d, "vars"), "changed"), i, e) nr_calls |=
		!strcmp(json_string_value(json_object_get(e, "path")), "nr_calls") &&
		!strcmp(json_string_value(json_object_get(e, "old")), "42") &&
		!strcmp(json_string_value(json_object_get(e, "new")), "43");
	json_array_foreach(json_object_get(json_object_get(d, "vars"), "stopped"), i, e)
		mode_stopped |= !strcmp(json_string_value(json_object_get(e, "path")), "mode");
	cr_assert(nr_calls, "nr_calls 42 -> 43 not in %s", out);
	cr_assert(mode_stopped, "mode did not change while kv ran: not called out in %s", out);
	json_decref(d);
	free(out);
	snprintf(args, sizeof(args), "diff %s %s", a, b);
	out = daemon_ctl(&dp, args, &st);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert_not_null(strstr(out, "kv.bss nr_calls: 42 -> 43"), "%s", out);
	cr_assert_not_null(strstr(out, "STOPPED CHANGING while kv's programs ran 300 times"), "%s",
			   out);
	free(out);
	out = daemon_ctl(&dp, "diff no-such-dump-0 no-such-dump-1", &st);
	cr_assert_eq(st, 1);
	free(out);
	client_free(c);
	daemon_stop_ok(&dp);
	vguest_free(&vg);
}
