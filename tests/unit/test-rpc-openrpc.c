/* SPDX-License-Identifier: MIT */
/*
 * rpc/openrpc.json: the built-in copy is the file; it lists issue 8's
 * methods with their params; every $ref resolves; every documented error has
 * the code and data.kind ktbpf/jsonrpc.h gives it; and ktbpf_openrpc_check()
 * accepts a method table that matches and names the first difference of one
 * that does not.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "ktbpf/openrpc.h"

static json_t *doc;

static void setup(void)
{
	doc = ktbpf_openrpc_doc();
	cr_assert_not_null(doc, "the built-in document parses");
}

static void teardown(void)
{
	json_decref(doc);
}

TestSuite(rpc_openrpc, .init = setup, .fini = teardown);

static void noop(struct ktbpf_peer_req *req, void *ud)
{
	ktbpf_peer_req_result(req, json_object());
}

/* The served methods as the daemon's table must declare them. */
static const struct ktbpf_peer_param p_vm[] = {{"vm", KTBPF_PARAM_STRING, true}, {0}};
static const struct ktbpf_peer_param p_register[] = {
	{"name", KTBPF_PARAM_STRING, true},	 {"arch", KTBPF_PARAM_STRING, true},
	{"regions", KTBPF_PARAM_ARRAY, true},	 {"cpus", KTBPF_PARAM_UINT, false},
	{"hints", KTBPF_PARAM_OBJECT, false},	 {"labels", KTBPF_PARAM_OBJECT, false},
	{"can_freeze", KTBPF_PARAM_BOOL, false}, {0}};
static const struct ktbpf_peer_param p_snapshot[] = {{"vm", KTBPF_PARAM_STRING, true},
						     {"freeze", KTBPF_PARAM_STRING, false},
						     {"vars", KTBPF_PARAM_BOOL, false},
						     {0}};
static const struct ktbpf_peer_param p_dump[] = {{"vm", KTBPF_PARAM_STRING, true},
						 {"freeze", KTBPF_PARAM_STRING, false},
						 {"reason", KTBPF_PARAM_STRING, false},
						 {"test", KTBPF_PARAM_STRING, false},
						 {0}};
static const struct ktbpf_peer_param p_dump_list[] = {
	{"vm", KTBPF_PARAM_STRING, false}, {"limit", KTBPF_PARAM_UINT, false}, {0}};
static const struct ktbpf_peer_param p_dump_id[] = {{"dump", KTBPF_PARAM_STRING, true}, {0}};

static struct ktbpf_peer_method table[] = {
	{"daemon.info", NULL, 0, noop},	      {"vm.register", p_register, 64 + 3, noop},
	{"vm.unregister", p_vm, 0, noop},     {"vm.reset", p_vm, 0, noop},
	{"vm.list", NULL, 0, noop},	      {"vm.status", p_vm, 0, noop},
	{"vm.snapshot", p_snapshot, 0, noop}, {"vm.dump", p_dump, 0, noop},
	{"dump.list", p_dump_list, 0, noop},  {"dump.get", p_dump_id, 0, noop},
	{"dump.delete", p_dump_id, 0, noop},  {"metrics.get", NULL, 0, noop},
	{"rpc.discover", NULL, 0, noop},
};
#define NTABLE (sizeof(table) / sizeof(table[0]))

Test(rpc_openrpc, builtin_copy_is_the_file)
{
	json_t *file = json_load_file(OPENRPC_JSON, JSON_REJECT_DUPLICATES, NULL);

	cr_assert_not_null(file, "%s parses", OPENRPC_JSON);
	cr_assert(json_equal(file, doc), "rebuild: the built-in document is stale");
	json_decref(file);
}

Test(rpc_openrpc, lists_issue_8_methods_and_the_two_sent_to_vmms)
{
	static const char *const want[] = {
		"daemon.info", "vm.register", "vm.unregister", "vm.reset",  "vm.list",
		"vm.status",   "vm.snapshot", "vm.dump",       "dump.list", "dump.get",
		"dump.delete", "metrics.get", "rpc.discover",  "vm.freeze", "vm.thaw"};
	json_t *methods = json_object_get(doc, "methods"), *m;
	size_t i;

	cr_assert_str_eq(json_string_value(json_object_get(doc, "openrpc")), "1.2.6");
	cr_assert(json_is_string(json_object_get(json_object_get(doc, "info"), "version")));
	cr_assert_eq(json_array_size(methods), sizeof(want) / sizeof(want[0]));
	json_array_foreach(methods, i, m)
	{
		const char *name = json_string_value(json_object_get(m, "name"));
		const char *dir = json_string_value(json_object_get(m, "x-ktbpf-direction"));
		json_t *res = json_object_get(m, "result");

		cr_assert_str_eq(name, want[i]);
		cr_assert(json_is_array(json_object_get(m, "params")), "%s: params", name);
		cr_assert(json_is_string(json_object_get(res, "name")) &&
				  json_is_object(json_object_get(res, "schema")),
			  "%s: result is a content descriptor", name);
		cr_assert_eq(dir != NULL,
			     strncmp(name, "vm.freeze", 9) == 0 || strncmp(name, "vm.thaw", 7) == 0,
			     "%s: only vm.freeze and vm.thaw go to VMMs", name);
	}
}

/* Every {"$ref": "#/components/..."} in v names something that exists. */
static void check_refs(const json_t *v)
{
	const char *key;
	json_t *x;
	size_t i;

	if (json_is_array(v)) {
		json_array_foreach((json_t *)v, i, x) check_refs(x);
		return;
	}
	if (!json_is_object(v))
		return;
	json_object_foreach((json_t *)v, key, x)
	{
		if (strcmp(key, "$ref") == 0 && json_is_string(x) &&
		    strncmp(json_string_value(x), "#/", 2) == 0) {
			char path[256];
			json_t *at = doc;

			snprintf(path, sizeof(path), "%s", json_string_value(x) + 2);
			for (char *save, *part = strtok_r(path, "/", &save); part && at;
			     part = strtok_r(NULL, "/", &save))
				at = json_object_get(at, part);
			cr_assert_not_null(at, "%s does not resolve", json_string_value(x));
		} else {
			check_refs(x);
		}
	}
}

Test(rpc_openrpc, every_ref_resolves)
{
	check_refs(doc);
}

Test(rpc_openrpc, errors_carry_the_codes_and_kinds_of_jsonrpc_h)
{
	json_t *errors = json_object_get(json_object_get(doc, "components"), "errors"), *e;
	const char *name;
	int seen = 0;

	json_object_foreach(errors, name, e)
	{
		int code = (int)json_integer_value(json_object_get(e, "code"));
		json_t *kind = json_object_get(
			json_object_get(json_object_get(e, "data"), "properties"), "kind");

		cr_assert_str_eq(json_string_value(json_object_get(kind, "const")),
				 ktbpf_jsonrpc_kind(code), "%s", name);
		cr_assert_str_neq(ktbpf_jsonrpc_kind(code), "server_error", "%s", name);
		seen++;
	}
	cr_assert_eq(seen, 12, "5 JSON-RPC errors + 7 of ktbpf's");
}

Test(rpc_openrpc, matching_table_passes)
{
	struct ktbpf_err err = {0};

	cr_assert_eq(ktbpf_openrpc_check(doc, table, NTABLE, &err), 0, "%s", err.msg);
}

static void expect_diff(struct ktbpf_peer_method *t, size_t n, const char *want)
{
	struct ktbpf_err err = {0};

	cr_assert_eq(ktbpf_openrpc_check(doc, t, n, &err), -EINVAL);
	cr_assert_str_eq(err.msg, want);
}

Test(rpc_openrpc, differences_are_named)
{
	static const struct ktbpf_peer_param optional_vm[] = {{"vm", KTBPF_PARAM_STRING, false},
							      {0}};
	static const struct ktbpf_peer_param uint_vm[] = {{"vm", KTBPF_PARAM_UINT, true}, {0}};
	static const struct ktbpf_peer_param extra[] = {
		{"vm", KTBPF_PARAM_STRING, true}, {"x", KTBPF_PARAM_ANY, false}, {0}};
	struct ktbpf_peer_method t[NTABLE + 1];

	memcpy(t, table, sizeof(table));
	expect_diff(t, NTABLE - 1, "rpc.discover is in the OpenRPC document but not served");
	t[NTABLE] = (struct ktbpf_peer_method){"vm.frob", NULL, 0, noop};
	expect_diff(t, NTABLE + 1, "vm.frob is served but not in the OpenRPC document");
	t[5].params = optional_vm;
	expect_diff(t, NTABLE,
		    "vm.status: param 'vm' is required in the document, optional in the table");
	t[5].params = uint_vm;
	expect_diff(t, NTABLE, "vm.status: param 'vm' has another type in the document");
	t[5].params = extra;
	expect_diff(t, NTABLE, "vm.status: param 'x' is in the table, not in the document");
	t[5].params = p_vm;
	t[1].max_fds = 0;
	expect_diff(t, NTABLE, "vm.register: the document takes fds, the table does not");
	t[1].max_fds = 3;
	t[5].max_fds = 1;
	expect_diff(t, NTABLE, "vm.status: the document takes no fds, the table does");
}
