/* SPDX-License-Identifier: MIT */
/*
 * libktbpf-client: a JSON-RPC peer (rpc/peer.c) over a wire (rpc/wire.c) on
 * a connected Unix socket, driven by poll() while a call waits and by the
 * caller's own loop (ktbpf_client_process()) in between. The daemon's
 * requests (vm.freeze, vm.thaw) are served from the same peer, so they are
 * answered wherever the client happens to be reading.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ktbpf/client.h"
#include "ktbpf/jsonrpc.h"
#include "ktbpf/peer.h"
#include "ktbpf/wire.h"

#define EXPORT __attribute__((visibility("default")))

/* A freeze or thaw the VMM answers later (ktbpf_client_answer()). */
struct ktbpf_client_pending {
	struct ktbpf_client_pending *next;
	struct ktbpf_peer_req *req;
	bool freeze;
	char vm[];
};

struct ktbpf_client {
	int fd;
	struct ktbpf_wire *w;
	struct ktbpf_peer *peer;
	uint64_t timeout_ms;
	struct ktbpf_client_vmm_ops ops;
	struct ktbpf_client_vmm_async_ops async_ops;
	void *ops_userdata;
	struct ktbpf_client_pending *pending;
	unsigned int nr_pending;
	json_t *last_error;
	int dead; /* sticky: the connection is gone (a negative errno) */
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int send_line(void *userdata, const char *line, size_t len, const int *fds,
		     unsigned int nfds)
{
	struct ktbpf_client *c = userdata;

	return ktbpf_wire_send(c->w, line, len, fds, nfds, NULL);
}

/* Answer a vm.freeze (frozen: r == 0) or vm.thaw request with the VMM's result r. */
static void answer_vmm(struct ktbpf_peer_req *req, bool freeze, const char *vm, int r)
{
	if (freeze)
		ktbpf_peer_req_result(req, json_pack("{s:b}", "frozen", r == 0));
	else if (r == 0)
		ktbpf_peer_req_result(req, json_object());
	else
		ktbpf_peer_req_error(req, KTBPF_JSONRPC_INTERNAL_ERROR, NULL,
				     "vm '%s': cannot thaw: %s", vm, strerror(-r));
}

/* vm.freeze / vm.thaw: the daemon asks the VMM (this client's owner). */
static void serve_vmm(struct ktbpf_peer_req *req, void *userdata)
{
	struct ktbpf_client *c = userdata;
	bool freeze = !strcmp(ktbpf_peer_req_method(req), "vm.freeze");
	const char *vm = json_string_value(json_object_get(ktbpf_peer_req_params(req), "vm"));
	void (*later)(void *, const char *, struct ktbpf_client_pending *) =
		freeze ? c->async_ops.freeze : c->async_ops.thaw;
	int (*fn)(void *, const char *) = freeze ? c->ops.freeze : c->ops.thaw;
	struct ktbpf_client_pending *p;

	if (later) {
		p = malloc(sizeof(*p) + strlen(vm) + 1);
		if (!p) {
			answer_vmm(req, freeze, vm, -ENOMEM);
			return;
		}
		p->req = req;
		p->freeze = freeze;
		strcpy(p->vm, vm);
		p->next = c->pending;
		c->pending = p;
		c->nr_pending++;
		later(c->ops_userdata, p->vm, p);
		return;
	}
	answer_vmm(req, freeze, vm, fn ? fn(c->ops_userdata, vm) : -EOPNOTSUPP);
}

static const struct ktbpf_peer_param freeze_params[] = {
	{"vm", KTBPF_PARAM_STRING, true},
	{"timeout_ms", KTBPF_PARAM_UINT, false},
	{NULL},
};
static const struct ktbpf_peer_param thaw_params[] = {
	{"vm", KTBPF_PARAM_STRING, true},
	{NULL},
};
static const struct ktbpf_peer_method vmm_methods[] = {
	{"vm.freeze", freeze_params, 0, serve_vmm},
	{"vm.thaw", thaw_params, 0, serve_vmm},
};

EXPORT const char *ktbpf_client_socket_path(const char *path)
{
	const char *env = getenv(KTBPF_CLIENT_SOCKET_ENV);

	if (path && path[0])
		return path;
	return env && env[0] ? env : KTBPF_CLIENT_SYSTEM_SOCKET;
}

EXPORT int ktbpf_client_connect(const char *path, struct ktbpf_client **ret_client,
				struct ktbpf_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct ktbpf_client *c;
	int r;

	path = ktbpf_client_socket_path(path);
	if (strlen(path) >= sizeof(sa.sun_path))
		return ktbpf_err_set(err, -ENAMETOOLONG, "socket path '%s' is too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c = calloc(1, sizeof(*c));
	if (!c)
		return ktbpf_err_set(err, -ENOMEM, "out of memory");
	c->timeout_ms = KTBPF_CLIENT_TIMEOUT_MS;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		r = ktbpf_err_set(err, -errno, "socket: %s", strerror(errno));
		goto fail;
	}
	/* Connect blocking (a Unix connect completes or fails at once), then go nonblocking. */
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = ktbpf_err_set(
			err, -errno, "cannot connect to ktbpfd at %s: %s%s", path, strerror(errno),
			errno == ENOENT || errno == ECONNREFUSED
				? " (is ktbpfd running? $KTBPF_SOCKET names another socket)"
				: "");
		goto fail;
	}
	r = fcntl(c->fd, F_GETFL);
	if (r < 0 || fcntl(c->fd, F_SETFL, r | O_NONBLOCK) < 0) {
		r = ktbpf_err_set(err, -errno, "fcntl: %s", strerror(errno));
		goto fail;
	}
	c->w = ktbpf_wire_new(c->fd, NULL);
	c->peer = c->w ? ktbpf_peer_new(vmm_methods, sizeof(vmm_methods) / sizeof(vmm_methods[0]),
					NULL, send_line, c)
		       : NULL;
	if (!c->peer) {
		r = ktbpf_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	*ret_client = c;
	return 0;
fail:
	ktbpf_client_free(c);
	return r;
}

EXPORT struct ktbpf_client *ktbpf_client_free(struct ktbpf_client *c)
{
	if (!c)
		return NULL;
	while (c->pending)
		ktbpf_client_answer(c, c->pending, -ECANCELED);
	if (c->peer) {
		ktbpf_peer_close(c->peer);
		ktbpf_peer_unref(c->peer);
	}
	ktbpf_wire_free(c->w);
	if (c->fd >= 0)
		close(c->fd);
	json_decref(c->last_error);
	free(c);
	return NULL;
}

EXPORT void ktbpf_client_set_timeout(struct ktbpf_client *c, uint64_t timeout_ms)
{
	c->timeout_ms = timeout_ms;
}

EXPORT void ktbpf_client_set_vmm_ops(struct ktbpf_client *c, const struct ktbpf_client_vmm_ops *ops,
				     void *userdata)
{
	c->ops = ops ? *ops : (struct ktbpf_client_vmm_ops){0};
	c->async_ops = (struct ktbpf_client_vmm_async_ops){0};
	c->ops_userdata = userdata;
}

EXPORT void ktbpf_client_set_vmm_async_ops(struct ktbpf_client *c,
					   const struct ktbpf_client_vmm_async_ops *ops,
					   void *userdata)
{
	c->async_ops = ops ? *ops : (struct ktbpf_client_vmm_async_ops){0};
	c->ops = (struct ktbpf_client_vmm_ops){0};
	c->ops_userdata = userdata;
}

EXPORT int ktbpf_client_answer(struct ktbpf_client *c, struct ktbpf_client_pending *p, int result)
{
	struct ktbpf_client_pending **pp = &c->pending;

	while (*pp && *pp != p)
		pp = &(*pp)->next;
	if (!*pp)
		return -ENOENT;
	*pp = p->next;
	c->nr_pending--;
	answer_vmm(p->req, p->freeze, p->vm, result);
	free(p);
	/* Out now when the socket takes it; else the next process() or call flushes. */
	if (!c->dead)
		ktbpf_wire_flush(c->w, NULL);
	return 0;
}

EXPORT unsigned int ktbpf_client_pending_answers(const struct ktbpf_client *c)
{
	return c->nr_pending;
}

EXPORT int ktbpf_client_fd(const struct ktbpf_client *c)
{
	return c->fd;
}

EXPORT short ktbpf_client_events(const struct ktbpf_client *c)
{
	return POLLIN | (ktbpf_wire_out_bytes(c->w) ? POLLOUT : 0);
}

static int gone(struct ktbpf_client *c, int code, struct ktbpf_err *err, const char *what)
{
	if (!c->dead) {
		c->dead = code;
		ktbpf_peer_close(c->peer); /* waiting calls complete with an error */
	}
	return ktbpf_err_set(err, c->dead, "ktbpfd connection: %s", what);
}

EXPORT int ktbpf_client_process(struct ktbpf_client *c, struct ktbpf_err *err)
{
	struct ktbpf_err e = {0};
	int r;

	if (c->dead)
		return ktbpf_err_set(err, c->dead, "ktbpfd connection is closed");
	for (;;) {
		r = ktbpf_wire_recv(c->w, &e);
		if (r == -EAGAIN)
			break;
		if (r == 0)
			return gone(c, -ECONNRESET, err, "the daemon closed the connection");
		if (r < 0 && r != -EMSGSIZE && r != -EPROTO && r != -EMFILE)
			return gone(c, r, err, e.msg);
		/* Lines first; a sticky wire error is reported by drain. */
		r = ktbpf_peer_drain(c->peer, c->w, &e);
		if (r < 0)
			return gone(c, r == -EMSGSIZE || r == -EMFILE ? -EPROTO : r, err, e.msg);
	}
	r = ktbpf_wire_flush(c->w, &e);
	if (r < 0)
		return gone(c, r, err, e.msg);
	return 0;
}

/* The errno for an error the daemon answered (see client.h). */
static int remote_errno(int code)
{
	switch (code) {
	case KTBPF_JSONRPC_VM_UNKNOWN:
	case KTBPF_JSONRPC_DUMP_UNKNOWN:
		return -ENOENT;
	case KTBPF_JSONRPC_NOT_PERMITTED:
		return -EACCES;
	case KTBPF_JSONRPC_KERNEL_NOT_READY:
		return -EINPROGRESS;
	case KTBPF_JSONRPC_FREEZE_TIMEOUT:
		return -ETIMEDOUT;
	case KTBPF_JSONRPC_GUEST_MEMORY:
		return -EFAULT;
	case KTBPF_JSONRPC_LIMIT:
		return -EUSERS;
	case KTBPF_JSONRPC_METHOD_NOT_FOUND:
		return -EOPNOTSUPP;
	case KTBPF_JSONRPC_INVALID_PARAMS:
	case KTBPF_JSONRPC_INVALID_REQUEST:
	case KTBPF_JSONRPC_PARSE_ERROR:
		return -EINVAL;
	default:
		return -EREMOTEIO;
	}
}

struct answer {
	bool done;
	json_t *result, *error;
};

static void on_reply(void *userdata, json_t *result, json_t *error)
{
	struct answer *a = userdata;

	a->done = true;
	a->result = json_incref(result);
	a->error = json_incref(error);
}

/* Wait for the socket until deadline (0: none); serve what arrives. */
static int wait_once(struct ktbpf_client *c, uint64_t deadline, struct ktbpf_err *err)
{
	struct pollfd pfd = {.fd = c->fd, .events = ktbpf_client_events(c)};
	int timeout = -1, r;

	if (deadline) {
		uint64_t now = mono_ms();

		if (now >= deadline)
			return -ETIMEDOUT;
		timeout = deadline - now > 60000 ? 60000 : (int)(deadline - now);
	}
	r = poll(&pfd, 1, timeout);
	if (r < 0 && errno != EINTR)
		return ktbpf_err_set(err, -errno, "poll: %s", strerror(errno));
	return r > 0 ? ktbpf_client_process(c, err) : 0;
}

EXPORT int ktbpf_client_call(struct ktbpf_client *c, const char *method, json_t *params,
			     const int *fds, unsigned int nfds, json_t **ret_result,
			     struct ktbpf_err *err)
{
	uint64_t deadline = c->timeout_ms ? mono_ms() + c->timeout_ms : 0;
	struct answer a = {0};
	int64_t id;
	int r;

	json_decref(c->last_error);
	c->last_error = NULL;
	if (c->dead) {
		json_decref(params);
		return ktbpf_err_set(err, c->dead, "ktbpfd connection is closed");
	}
	r = ktbpf_peer_call(c->peer, method, params, fds, nfds, on_reply, &a, &id, err);
	if (r < 0)
		return r == -ENOBUFS ? gone(c, -EPIPE, err, "the daemon reads too slowly") : r;
	while (!a.done) {
		r = wait_once(c, deadline, err);
		if (r == -ETIMEDOUT) {
			ktbpf_peer_cancel(c->peer, id);
			return ktbpf_err_set(err, r, "%s: no answer from ktbpfd within %llu ms",
					     method, (unsigned long long)c->timeout_ms);
		}
		if (r < 0 && !a.done) {
			ktbpf_peer_cancel(c->peer, id);
			return r;
		}
	}
	if (a.error) {
		json_t *code = json_object_get(a.error, "code");
		const char *msg = json_string_value(json_object_get(a.error, "message"));

		r = c->dead ? c->dead : remote_errno((int)json_integer_value(code));
		ktbpf_err_set(err, r, "%s",
			      c->dead ? "ktbpfd connection closed"
			      : msg   ? msg
				      : method);
		c->last_error = a.error;
		json_decref(a.result);
		return r;
	}
	if (ret_result)
		*ret_result = a.result;
	else
		json_decref(a.result);
	return 0;
}

EXPORT const json_t *ktbpf_client_last_error(const struct ktbpf_client *c)
{
	return c->last_error;
}

EXPORT void ktbpf_client_vm_init(struct ktbpf_client_vm *vm)
{
	*vm = (struct ktbpf_client_vm){.vmlinux_fd = -1, .btf_fd = -1, .system_map_fd = -1};
}

/* The index of fd in fds[0..*n), appended when new; -1 when full. */
static int fd_index(int *fds, unsigned int *n, int fd)
{
	unsigned int i;

	for (i = 0; i < *n; i++)
		if (fds[i] == fd)
			return (int)i;
	if (*n >= KTBPF_WIRE_FDS_MSG_CAP)
		return -1;
	fds[*n] = fd;
	return (int)(*n)++;
}

static int set_u64(json_t *o, const char *key, uint64_t v)
{
	return v ? json_object_set_new(o, key, json_integer((json_int_t)v)) : 0;
}

/* The hint fds into fds, the rest as numbers (absent ones left out). */
static int add_hints(json_t *params, const struct ktbpf_client_vm *vm, int *fds, unsigned int *n)
{
	const struct {
		const char *key;
		int fd;
	} files[] = {{"vmlinux_fd", vm->vmlinux_fd},
		     {"btf_fd", vm->btf_fd},
		     {"system_map_fd", vm->system_map_fd}};
	json_t *h = json_object();
	size_t i;
	int r = h ? 0 : -1;

	for (i = 0; !r && i < sizeof(files) / sizeof(files[0]); i++) {
		int ix = files[i].fd >= 0 ? fd_index(fds, n, files[i].fd) : 0;

		if (ix < 0)
			r = -1;
		else if (files[i].fd >= 0)
			r = json_object_set_new(h, files[i].key, json_integer(ix));
	}
	if (!r)
		r = set_u64(h, "cr3", vm->cr3);
	if (!r)
		r = set_u64(h, "tcr_el1", vm->tcr_el1);
	if (!r)
		r = set_u64(h, "ttbr1", vm->ttbr1);
	if (!r)
		r = set_u64(h, "vmcoreinfo_pa", vm->vmcoreinfo_pa);
	if (!r)
		r = set_u64(h, "kaslr_offset", vm->kaslr_offset);
	if (!r && json_object_size(h))
		return json_object_set_new(params, "hints", h);
	json_decref(h);
	return r;
}

EXPORT int ktbpf_client_register(struct ktbpf_client *c, const struct ktbpf_client_vm *vm,
				 char **ret_id, struct ktbpf_err *err)
{
	int fds[KTBPF_WIRE_FDS_MSG_CAP];
	unsigned int nfds = 0, i;
	json_t *params, *regions, *res = NULL;
	const char *id;
	int r = 0;

	if (!vm->name || !vm->arch || !vm->nr_regions)
		return ktbpf_err_set(err, -EINVAL, "vm.register needs a name, an arch and regions");
	params = json_pack("{s:s, s:s, s:b}", "name", vm->name, "arch", vm->arch, "can_freeze",
			   vm->can_freeze);
	regions = json_array();
	for (i = 0; params && regions && !r && i < vm->nr_regions; i++) {
		const struct ktbpf_client_region *rg = &vm->regions[i];
		int ix = fd_index(fds, &nfds, rg->fd);

		r = ix < 0 ? -1
			   : json_array_append_new(regions,
						   json_pack("{s:I, s:I, s:i, s:I}", "gpa",
							     (json_int_t)rg->gpa, "size",
							     (json_int_t)rg->size, "fd", ix,
							     "offset", (json_int_t)rg->offset));
	}
	if (params && regions && !r) {
		r = json_object_set_new(params, "regions", json_incref(regions));
		if (!r)
			r = add_hints(params, vm, fds, &nfds);
		if (!r)
			r = set_u64(params, "cpus", vm->cpus);
		if (!r && vm->labels)
			r = json_object_set(params, "labels", vm->labels);
		if (!r)
			r = json_object_set_new(params, "fds", json_integer(nfds));
	}
	json_decref(regions);
	if (!params || !regions || r) {
		json_decref(params);
		return ktbpf_err_set(err, nfds >= KTBPF_WIRE_FDS_MSG_CAP ? -E2BIG : -ENOMEM,
				     "cannot build vm.register for '%s'", vm->name);
	}
	r = ktbpf_client_call(c, "vm.register", params, fds, nfds, &res, err);
	if (r < 0)
		return r;
	id = json_string_value(json_object_get(res, "vm"));
	if (!id) {
		json_decref(res);
		return ktbpf_err_set(err, -EPROTO, "vm.register: the answer has no 'vm' id");
	}
	if (ret_id) {
		*ret_id = strdup(id);
		if (!*ret_id)
			r = ktbpf_err_set(err, -ENOMEM, "out of memory");
	}
	json_decref(res);
	return r;
}

EXPORT int ktbpf_client_unregister(struct ktbpf_client *c, const char *vm, struct ktbpf_err *err)
{
	return ktbpf_client_call(c, "vm.unregister", json_pack("{s:s}", "vm", vm), NULL, 0, NULL,
				 err);
}

EXPORT int ktbpf_client_list(struct ktbpf_client *c, json_t **ret, struct ktbpf_err *err)
{
	return ktbpf_client_call(c, "vm.list", NULL, NULL, 0, ret, err);
}

EXPORT int ktbpf_client_status(struct ktbpf_client *c, const char *vm, json_t **ret,
			       struct ktbpf_err *err)
{
	return ktbpf_client_call(c, "vm.status", json_pack("{s:s}", "vm", vm), NULL, 0, ret, err);
}

EXPORT int ktbpf_client_snapshot(struct ktbpf_client *c, const char *vm, const char *freeze,
				 json_t **ret, struct ktbpf_err *err)
{
	json_t *params = json_pack("{s:s}", "vm", vm);

	if (params && freeze)
		json_object_set_new(params, "freeze", json_string(freeze));
	return ktbpf_client_call(c, "vm.snapshot", params, NULL, 0, ret, err);
}

EXPORT int ktbpf_client_dump(struct ktbpf_client *c, const char *vm, const char *freeze,
			     const char *reason, const char *test, json_t **ret,
			     struct ktbpf_err *err)
{
	json_t *params = json_pack("{s:s}", "vm", vm);

	if (params && freeze)
		json_object_set_new(params, "freeze", json_string(freeze));
	if (params && reason)
		json_object_set_new(params, "reason", json_string(reason));
	if (params && test)
		json_object_set_new(params, "test", json_string(test));
	return ktbpf_client_call(c, "vm.dump", params, NULL, 0, ret, err);
}

EXPORT int ktbpf_client_dump_list(struct ktbpf_client *c, const char *vm, unsigned int limit,
				  json_t **ret, struct ktbpf_err *err)
{
	json_t *params = json_object();

	if (params && vm)
		json_object_set_new(params, "vm", json_string(vm));
	if (params && limit)
		json_object_set_new(params, "limit", json_integer(limit));
	return ktbpf_client_call(c, "dump.list", params, NULL, 0, ret, err);
}

EXPORT int ktbpf_client_dump_get(struct ktbpf_client *c, const char *id, json_t **ret,
				 struct ktbpf_err *err)
{
	return ktbpf_client_call(c, "dump.get", json_pack("{s:s}", "dump", id), NULL, 0, ret, err);
}

EXPORT int ktbpf_client_dump_delete(struct ktbpf_client *c, const char *id, struct ktbpf_err *err)
{
	json_t *res = NULL;
	int r = ktbpf_client_call(c, "dump.delete", json_pack("{s:s}", "dump", id), NULL, 0, &res,
				  err);

	json_decref(res);
	return r;
}
