/* SPDX-License-Identifier: MIT */
/*
 * The method table ktbpfd serves (rpc/openrpc.json is the authority, and
 * tests/daemon/test-daemon-openrpc.c holds this table to it) and the
 * handlers that are not rounds of their own.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ktbpf/jsonrpc.h"
#include "ktbpf/openrpc.h"
#include "daemon-internal.h"

static struct conn *req_conn(struct ktbpf_peer_req *req)
{
	return ktbpf_peer_userdata(ktbpf_peer_req_peer(req));
}

static bool refuse_draining(struct ktbpf_peer_req *req, struct daemon *d)
{
	if (!d->draining)
		return false;
	ktbpf_peer_req_error(req, KTBPF_JSONRPC_INTERNAL_ERROR, NULL,
			     "ktbpfd is shutting down: no new requests");
	return true;
}

/* The VM named by params.vm, visible to the caller; or an answered error and NULL. */
static struct vm *req_vm(struct ktbpf_peer_req *req)
{
	struct conn *c = req_conn(req);
	const char *key = json_string_value(json_object_get(ktbpf_peer_req_params(req), "vm"));
	bool denied;
	struct vm *vm = vm_find(c->d, key, c->uid, &denied);

	if (vm)
		return vm;
	if (denied)
		ktbpf_peer_req_error(req, KTBPF_JSONRPC_NOT_PERMITTED, NULL,
				     "vm '%s' belongs to another uid (uid %u may see its own VMs)",
				     key, (unsigned)c->uid);
	else
		ktbpf_peer_req_error(req, KTBPF_JSONRPC_VM_UNKNOWN, json_pack("{s:s}", "vm", key),
				     "vm '%s' is not registered", key);
	return NULL;
}

static void m_daemon_info(struct ktbpf_peer_req *req, void *userdata)
{
	struct daemon *d = req_conn(req)->d;
	const struct settings *s = &d->set;

	ktbpf_peer_req_result(
		req,
		json_pack("{s:s, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
			  "s:I, s:I}}",
			  "version", KTBPF_VERSION, "pid", (json_int_t)getpid(), "uptime_ns",
			  (json_int_t)(now_ns() - d->start_ns), "vms", (json_int_t)d->nr_vms,
			  "connections", (json_int_t)d->nr_conns, "limits", "connections",
			  (json_int_t)s->max_connections, "line_bytes", (json_int_t)s->max_line,
			  "fds_per_message", (json_int_t)s->max_fds_msg, "fds_queued",
			  (json_int_t)s->max_fds_queued, "pending_requests",
			  (json_int_t)s->max_pending, "vms", (json_int_t)s->max_vms, "regions",
			  (json_int_t)s->max_regions, "freeze_timeout_ms",
			  (json_int_t)s->freeze_timeout_ms, "retention_ms",
			  (json_int_t)s->retention_ms));
}

static void m_discover(struct ktbpf_peer_req *req, void *userdata)
{
	ktbpf_peer_req_result(req, ktbpf_openrpc_doc());
}

static void m_vm_list(struct ktbpf_peer_req *req, void *userdata)
{
	struct conn *c = req_conn(req);
	json_t *vms = json_array();

	for (struct list *p = c->d->vms.next; vms && p != &c->d->vms; p = p->next) {
		struct vm *vm = list_entry(p, struct vm, link);

		if (vm_visible(vm, c->uid) && json_array_append_new(vms, vm_info_json(vm)) < 0)
			vms = (json_decref(vms), NULL);
	}
	ktbpf_peer_req_result(req, vms ? json_pack("{s:o}", "vms", vms) : NULL);
}

static void m_vm_status(struct ktbpf_peer_req *req, void *userdata)
{
	struct vm *vm = req_vm(req);

	if (vm)
		ktbpf_peer_req_result(req, vm_status_json(vm));
}

static void m_vm_unregister(struct ktbpf_peer_req *req, void *userdata)
{
	struct vm *vm = req_vm(req);

	if (!vm)
		return;
	fprintf(stderr, "ktbpfd: vm '%s' (%s): unregistered\n", vm->name, vm->id);
	vm_remove(vm);
	ktbpf_peer_req_result(req, json_object());
}

static void m_vm_reset(struct ktbpf_peer_req *req, void *userdata)
{
	struct vm *vm = req_vm(req);

	if (!vm)
		return;
	vm_reset(vm, NULL);
	ktbpf_peer_req_result(req, json_object());
}

static void m_vm_snapshot(struct ktbpf_peer_req *req, void *userdata)
{
	const char *f = json_string_value(json_object_get(ktbpf_peer_req_params(req), "freeze"));
	struct vm *vm;
	enum freeze_mode mode;

	if (!f || !strcmp(f, "prefer"))
		mode = FREEZE_PREFER;
	else if (!strcmp(f, "require"))
		mode = FREEZE_REQUIRE;
	else if (!strcmp(f, "never"))
		mode = FREEZE_NEVER;
	else {
		ktbpf_peer_req_error(req, KTBPF_JSONRPC_INVALID_PARAMS,
				     json_pack("{s:s}", "param", "freeze"),
				     "freeze must be require, prefer or never, not '%s'", f);
		return;
	}
	if (refuse_draining(req, req_conn(req)->d) || !(vm = req_vm(req)))
		return;
	if (!vm->kernel) {
		bool retry = vm->state != VM_FAILED;

		ktbpf_peer_req_error(req, KTBPF_JSONRPC_KERNEL_NOT_READY,
				     json_pack("{s:b, s:s}", "retry", retry, "reason", vm->reason),
				     "vm '%s': kernel not discovered%s: %s", vm->name,
				     retry ? " yet" : "", vm->reason);
		return;
	}
	vm_snapshot_request(vm, req, mode,
			    json_is_true(json_object_get(ktbpf_peer_req_params(req), "vars")));
}

/* Parse params.freeze (default prefer); false after answering an error. */
static bool req_freeze(struct ktbpf_peer_req *req, enum freeze_mode *mode)
{
	const char *f = json_string_value(json_object_get(ktbpf_peer_req_params(req), "freeze"));

	if (!f || !strcmp(f, "prefer"))
		*mode = FREEZE_PREFER;
	else if (!strcmp(f, "require"))
		*mode = FREEZE_REQUIRE;
	else if (!strcmp(f, "never"))
		*mode = FREEZE_NEVER;
	else {
		ktbpf_peer_req_error(req, KTBPF_JSONRPC_INVALID_PARAMS,
				     json_pack("{s:s}", "param", "freeze"),
				     "freeze must be require, prefer or never, not '%s'", f);
		return false;
	}
	return true;
}

/* A VM with a kernel; or an answered error and false. */
static bool req_kernel(struct ktbpf_peer_req *req, struct vm *vm)
{
	bool retry = vm->state != VM_FAILED;

	if (vm->kernel)
		return true;
	ktbpf_peer_req_error(req, KTBPF_JSONRPC_KERNEL_NOT_READY,
			     json_pack("{s:b, s:s}", "retry", retry, "reason", vm->reason),
			     "vm '%s': kernel not discovered%s: %s", vm->name, retry ? " yet" : "",
			     vm->reason);
	return false;
}

/* vm.dump: a snapshot round (a detached VM's walks live, its VMM being gone) that is stored. */
static void m_vm_dump(struct ktbpf_peer_req *req, void *userdata)
{
	json_t *params = ktbpf_peer_req_params(req);
	enum freeze_mode mode;
	struct vm *vm;
	json_t *dump;

	if (!req_freeze(req, &mode) || refuse_draining(req, req_conn(req)->d) ||
	    !(vm = req_vm(req)) || !req_kernel(req, vm))
		return;
	if (!req_conn(req)->d->dumps) {
		ktbpf_peer_req_error(req, KTBPF_JSONRPC_INTERNAL_ERROR, NULL,
				     "ktbpfd has no dump store (its state directory %s could not "
				     "be opened; see its log)",
				     req_conn(req)->d->set.state_dir);
		return;
	}
	dump = json_pack("{s:O?, s:O?}", "reason", json_object_get(params, "reason"), "test",
			 json_object_get(params, "test"));
	if (!dump) {
		ktbpf_peer_req_error(req, KTBPF_JSONRPC_INTERNAL_ERROR, NULL, "out of memory");
		return;
	}
	vm_dump_request(vm, req, mode, dump);
}

static void m_dump_list(struct ktbpf_peer_req *req, void *userdata)
{
	struct conn *c = req_conn(req);
	json_t *params = ktbpf_peer_req_params(req);
	json_t *a = dumps_list(c->d, c->uid, json_string_value(json_object_get(params, "vm")),
			       (size_t)json_integer_value(json_object_get(params, "limit")));

	ktbpf_peer_req_result(req, a ? json_pack("{s:o}", "dumps", a) : NULL);
}

static bool dump_error(struct ktbpf_peer_req *req, int r, const char *id)
{
	struct conn *c = req_conn(req);

	if (r == -ENOENT)
		ktbpf_peer_req_error(req, KTBPF_JSONRPC_DUMP_UNKNOWN,
				     json_pack("{s:s}", "dump", id), "no dump '%s'", id);
	else if (r == -EPERM)
		ktbpf_peer_req_error(req, KTBPF_JSONRPC_NOT_PERMITTED, NULL,
				     "dump '%s' belongs to another uid (uid %u may see its own)",
				     id, (unsigned)c->uid);
	else if (r < 0)
		ktbpf_peer_req_error(req, KTBPF_JSONRPC_INTERNAL_ERROR, NULL,
				     "dump '%s' could not be read back (see ktbpfd's log)", id);
	return r < 0;
}

static void m_dump_get(struct ktbpf_peer_req *req, void *userdata)
{
	struct conn *c = req_conn(req);
	const char *id = json_string_value(json_object_get(ktbpf_peer_req_params(req), "dump"));
	json_t *doc = NULL;

	if (!dump_error(req, dumps_get(c->d, c->uid, id, &doc), id))
		ktbpf_peer_req_result(req, doc);
}

static void m_dump_delete(struct ktbpf_peer_req *req, void *userdata)
{
	struct conn *c = req_conn(req);
	const char *id = json_string_value(json_object_get(ktbpf_peer_req_params(req), "dump"));

	if (!dump_error(req, dumps_delete(c->d, c->uid, id), id))
		ktbpf_peer_req_result(req, json_object());
}

void m_vm_register(struct ktbpf_peer_req *req, void *userdata); /* register.c */

static const struct ktbpf_peer_param p_vm[] = {{"vm", KTBPF_PARAM_STRING, true}, {NULL}};
static const struct ktbpf_peer_param p_register[] = {
	{"name", KTBPF_PARAM_STRING, true},	 {"arch", KTBPF_PARAM_STRING, true},
	{"regions", KTBPF_PARAM_ARRAY, true},	 {"cpus", KTBPF_PARAM_UINT, false},
	{"hints", KTBPF_PARAM_OBJECT, false},	 {"labels", KTBPF_PARAM_OBJECT, false},
	{"can_freeze", KTBPF_PARAM_BOOL, false}, {NULL}};
static const struct ktbpf_peer_param p_snapshot[] = {{"vm", KTBPF_PARAM_STRING, true},
						     {"freeze", KTBPF_PARAM_STRING, false},
						     {"vars", KTBPF_PARAM_BOOL, false},
						     {NULL}};
static const struct ktbpf_peer_param p_dump[] = {{"vm", KTBPF_PARAM_STRING, true},
						 {"freeze", KTBPF_PARAM_STRING, false},
						 {"reason", KTBPF_PARAM_STRING, false},
						 {"test", KTBPF_PARAM_STRING, false},
						 {NULL}};
static const struct ktbpf_peer_param p_dump_list[] = {
	{"vm", KTBPF_PARAM_STRING, false}, {"limit", KTBPF_PARAM_UINT, false}, {NULL}};
static const struct ktbpf_peer_param p_dump_id[] = {{"dump", KTBPF_PARAM_STRING, true}, {NULL}};

const struct ktbpf_peer_method ktbpfd_methods[] = {
	{"daemon.info", NULL, 0, m_daemon_info},
	{"rpc.discover", NULL, 0, m_discover},
	{"vm.register", p_register, KTBPF_WIRE_FDS_MSG_CAP, m_vm_register},
	{"vm.unregister", p_vm, 0, m_vm_unregister},
	{"vm.reset", p_vm, 0, m_vm_reset},
	{"vm.list", NULL, 0, m_vm_list},
	{"vm.status", p_vm, 0, m_vm_status},
	{"vm.snapshot", p_snapshot, 0, m_vm_snapshot},
	{"vm.dump", p_dump, 0, m_vm_dump},
	{"dump.list", p_dump_list, 0, m_dump_list},
	{"dump.get", p_dump_id, 0, m_dump_get},
	{"dump.delete", p_dump_id, 0, m_dump_delete},
	{"metrics.get", NULL, 0, m_metrics_get},
};
const size_t ktbpfd_nr_methods = sizeof(ktbpfd_methods) / sizeof(ktbpfd_methods[0]);
