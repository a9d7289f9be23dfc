/* SPDX-License-Identifier: MIT */
/*
 * vm.register: a guest's RAM as regions of the fds the request carries
 * (modelled on vhost-user's memory table: guest physical [gpa, gpa+size) is
 * bytes [offset, offset+size) of fds[fd]; never gpa == offset assumed), its
 * hints (files as fd indexes, CR3/TTBR1, TCR_EL1, where VMCOREINFO is, the
 * KASLR offset), labels and whether its VMM serves vm.freeze/vm.thaw.
 *
 * Every fd the request carries is taken here and closed when registration
 * ends: the memory table and the kernel files keep private duplicates.
 * Regions are mapped read-only by lib/mem when their fd is sealed against
 * shrinking (F_SEAL_SHRINK); any other fd is read with pread, so a VMM that
 * truncates it gets errors, not a daemon killed by SIGBUS. The daemon never
 * seals a VMM's fd itself (that would change what the VMM may do with its
 * own RAM) and never trusts a VMM's word that it will not shrink one (one
 * client could then kill the daemon that serves all): the VMM seals, as
 * QEMU's memory-backend-memfd does, and vm.status tells which regions are
 * read the slow way.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon-internal.h"

#define MAX_NAME   128
#define MAX_LABELS 64
#define MAX_LABEL  256

struct reg {
	struct ktbpf_peer_req *req;
	struct conn *c;
	int fds[KTBPF_WIRE_FDS_MSG_CAP];
	unsigned nfds;
	char param[32]; /* data.param of an invalid_params error */
	char msg[KTBPF_ERR_MSG_MAX + 96];
};

__attribute__((format(printf, 3, 4))) static int bad(struct reg *g, const char *param,
						     const char *fmt, ...)
{
	va_list ap;

	snprintf(g->param, sizeof(g->param), "%s", param);
	va_start(ap, fmt);
	vsnprintf(g->msg, sizeof(g->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* o[key] as an unsigned integer; absent: *ret untouched and 0 (or an error when required). */
static int get_u64(struct reg *g, const char *param, const json_t *o, const char *key,
		   bool required, uint64_t *ret)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return required ? bad(g, param, "%s: '%s' is missing", param, key) : 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return bad(g, param, "%s: '%s' must be an integer >= 0", param, key);
	*ret = (uint64_t)json_integer_value(v);
	return 1;
}

static int get_fd(struct reg *g, const char *param, const json_t *o, const char *key, bool required,
		  int *ret)
{
	uint64_t i;
	int r = get_u64(g, param, o, key, required, &i);

	if (r <= 0)
		return r;
	if (i >= g->nfds)
		return bad(g, param, "%s: '%s' is fd index %llu but the request carries %u fd(s)",
			   param, key, (unsigned long long)i, g->nfds);
	*ret = g->fds[i];
	return 1;
}

static int only_keys(struct reg *g, const char *param, const json_t *o, const char *const *keys)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return bad(g, param, "%s must be an object", param);
	json_object_foreach((json_t *)o, k, v)
	{
		size_t i;

		for (i = 0; keys[i] && strcmp(keys[i], k); i++)
			;
		if (!keys[i])
			return bad(g, param, "%s: unknown member '%s'", param, k);
	}
	return 0;
}

static int add_regions(struct reg *g, struct vm *vm, const json_t *regions)
{
	static const char *const keys[] = {"gpa", "size", "fd", "offset", NULL};
	struct ktbpf_err err = {0};
	size_t i;
	json_t *r;

	json_array_foreach(regions, i, r)
	{
		uint64_t gpa = 0, size = 0, off = 0;
		int fd = -1;
		char param[32];

		snprintf(param, sizeof(param), "regions[%zu]", i);
		if (only_keys(g, param, r, keys) < 0 ||
		    get_u64(g, param, r, "gpa", true, &gpa) < 0 ||
		    get_u64(g, param, r, "size", true, &size) < 0 ||
		    get_fd(g, param, r, "fd", true, &fd) < 0 ||
		    get_u64(g, param, r, "offset", false, &off) < 0)
			return -EINVAL;
		if (ktbpf_mem_add_fd(vm->mem, gpa, size, fd, off, 0, &err) < 0)
			return bad(g, param, "%s: %s", param, err.msg);
	}
	return 0;
}

static int add_file(struct reg *g, struct vm *vm, const json_t *hints, const char *key, int slot)
{
	int fd = -1, r = get_fd(g, "hints", hints, key, false, &fd);

	if (r <= 0)
		return r;
	vm->files[slot].fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (vm->files[slot].fd < 0)
		return bad(g, "hints", "hints: %s: %s", key, strerror(errno));
	vm->files[slot].name = key;
	return 0;
}

static int add_hints(struct reg *g, struct vm *vm, const json_t *hints)
{
	static const char *const keys[] = {"vmlinux_fd",    "btf_fd",	    "system_map_fd",
					   "cr3",	    "tcr_el1",	    "ttbr1",
					   "vmcoreinfo_pa", "kaslr_offset", NULL};
	struct ktbpf_kernel_hints *h = &vm->hints;
	int r;

	h->arch = vm->arch;
	if (!hints)
		return 0;
	if (only_keys(g, "hints", hints, keys) < 0 || add_file(g, vm, hints, "vmlinux_fd", 0) < 0 ||
	    add_file(g, vm, hints, "system_map_fd", 1) < 0 ||
	    add_file(g, vm, hints, "btf_fd", 2) < 0)
		return -EINVAL;
	h->vmlinux = vm->files[0].fd >= 0 ? &vm->files[0] : NULL;
	h->system_map = vm->files[1].fd >= 0 ? &vm->files[1] : NULL;
	h->btf = vm->files[2].fd >= 0 ? &vm->files[2] : NULL;
	if ((r = get_u64(g, "hints", hints, "cr3", false, &h->cr3)) < 0)
		return r;
	h->has_cr3 = r > 0;
	if ((r = get_u64(g, "hints", hints, "ttbr1", false, &h->cr3)) < 0)
		return r;
	h->has_cr3 |= r > 0;
	if ((r = get_u64(g, "hints", hints, "tcr_el1", false, &h->tcr_el1)) < 0)
		return r;
	h->has_tcr_el1 = r > 0;
	if ((r = get_u64(g, "hints", hints, "kaslr_offset", false, &h->kaslr_offset)) < 0)
		return r;
	h->has_kaslr_offset = r > 0;
	return get_u64(g, "hints", hints, "vmcoreinfo_pa", false, &h->vmcoreinfo_pa) < 0 ? -EINVAL
											 : 0;
}

static int set_labels(struct reg *g, struct vm *vm, json_t *labels)
{
	const char *k;
	json_t *v;

	if (!labels) {
		vm->labels = json_object();
		return vm->labels ? 0 : -ENOMEM;
	}
	if (json_object_size(labels) > MAX_LABELS)
		return bad(g, "labels", "labels: at most %d", MAX_LABELS);
	json_object_foreach(labels, k, v)
	{
		if (!json_is_string(v) || strlen(k) > MAX_LABEL ||
		    json_string_length(v) > MAX_LABEL)
			return bad(
				g, "labels",
				"labels: '%.64s' must be a string, key and value at most %d bytes",
				k, MAX_LABEL);
	}
	vm->labels = json_deep_copy(labels);
	return vm->labels ? 0 : -ENOMEM;
}

static int fill(struct reg *g, struct vm *vm, json_t *params)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	const char *arch = json_string_value(json_object_get(params, "arch"));
	json_t *regions = json_object_get(params, "regions");
	uint64_t cpus = 0;

	if (!name[0] || strlen(name) > MAX_NAME || strchr(name, '/'))
		return bad(g, "name", "name must be 1..%d bytes without '/'", MAX_NAME);
	if (!strcmp(arch, "x86_64"))
		vm->arch = KTBPF_ARCH_X86_64;
	else if (!strcmp(arch, "aarch64"))
		vm->arch = KTBPF_ARCH_AARCH64;
	else
		return bad(g, "arch", "arch must be x86_64 or aarch64, not '%.32s'", arch);
	if (!json_array_size(regions))
		return bad(g, "regions", "regions: at least one is needed");
	if (get_u64(g, "cpus", params, "cpus", false, &cpus) < 0)
		return -EINVAL;
	vm->cpus = cpus > UINT32_MAX ? UINT32_MAX : (uint32_t)cpus;
	vm->can_freeze = json_is_true(json_object_get(params, "can_freeze"));
	vm->name = strdup(name);
	if (!vm->name)
		return -ENOMEM;
	if (add_regions(g, vm, regions) < 0 ||
	    add_hints(g, vm, json_object_get(params, "hints")) < 0)
		return -EINVAL;
	return set_labels(g, vm, json_object_get(params, "labels"));
}

/* An attached VM of this uid by that name is a conflict; a detached one is replaced. */
static int check_name(struct reg *g, const char *name)
{
	struct daemon *d = g->c->d;

	for (struct list *p = d->vms.next; p != &d->vms; p = p->next) {
		struct vm *vm = list_entry(p, struct vm, link);

		if (vm->uid != g->c->uid || strcmp(vm->name, name))
			continue;
		if (vm->owner)
			return bad(
				g, "name",
				"vm '%s' is registered already (%s): give this one another name, "
				"or stop the other",
				name, vm->id);
		fprintf(stderr, "ktbpfd: vm '%s' (%s): replaced by a new registration\n", name,
			vm->id);
		vm_remove(vm);
		return 0;
	}
	return 0;
}

/* Regions read with pread (their fd not sealed against shrinking): said once, they are slow. */
static void log_unsealed(const struct vm *vm)
{
	struct ktbpf_mem_region r;
	size_t n = 0;

	for (size_t i = 0; ktbpf_mem_region(vm->mem, i, &r) == 0; i++)
		n += !r.mapped;
	if (n)
		fprintf(stderr,
			"ktbpfd: vm '%s' (%s): %zu region(s) not sealed against shrinking "
			"(F_SEAL_SHRINK): read with pread, walks are several times slower\n",
			vm->name, vm->id, n);
}

void m_vm_register(struct ktbpf_peer_req *req, void *userdata);

void m_vm_register(struct ktbpf_peer_req *req, void *userdata)
{
	struct reg g = {.req = req, .c = ktbpf_peer_userdata(ktbpf_peer_req_peer(req))};
	struct daemon *d = g.c->d;
	json_t *params = ktbpf_peer_req_params(req);
	size_t nregions = json_array_size(json_object_get(params, "regions"));
	struct vm *vm = NULL;
	int r = 0;

	g.nfds = ktbpf_peer_req_nfds(req);
	for (unsigned i = 0; i < g.nfds; i++)
		g.fds[i] = ktbpf_peer_req_take_fd(req, i);
	if (d->draining) {
		ktbpf_peer_req_error(req, KTBPF_JSONRPC_INTERNAL_ERROR, NULL,
				     "ktbpfd is shutting down: no new registrations");
		goto out;
	}
	if (d->nr_vms >= d->set.max_vms || nregions > d->set.max_regions) {
		bool vms = d->nr_vms >= d->set.max_vms;
		unsigned max = vms ? d->set.max_vms : d->set.max_regions;

		ktbpf_peer_req_error(req, KTBPF_JSONRPC_LIMIT,
				     json_pack("{s:s, s:I}", "limit", vms ? "vms" : "regions",
					       "max", (json_int_t)max),
				     vms ? "ktbpfd holds %u VMs at most: unregister one first"
					 : "a VM has %u regions at most",
				     max);
		goto out;
	}
	vm = vm_new(d);
	if (!vm || (r = check_name(&g, json_string_value(json_object_get(params, "name")))) < 0 ||
	    (r = fill(&g, vm, params)) < 0) {
		if (r == -EINVAL)
			ktbpf_peer_req_error(req, KTBPF_JSONRPC_INVALID_PARAMS,
					     json_pack("{s:s}", "param", g.param), "%s", g.msg);
		else
			ktbpf_peer_req_error(req, KTBPF_JSONRPC_INTERNAL_ERROR, NULL,
					     "out of memory registering a VM");
		if (vm) {
			vm->gone = true;
			vm_unref(vm);
		}
		goto out;
	}
	vm->uid = g.c->uid;
	vm->owner = g.c;
	list_add(&d->vms, &vm->link);
	d->nr_vms++;
	fprintf(stderr, "ktbpfd: vm '%s' (%s): registered by pid %d uid %u, %zu region(s)%s\n",
		vm->name, vm->id, (int)g.c->pid, (unsigned)vm->uid, nregions,
		vm->can_freeze ? ", can freeze" : "");
	log_unsealed(vm);
	vm_registered(vm);
	ktbpf_peer_req_result(req, json_pack("{s:s, s:s}", "vm", vm->id, "name", vm->name));
out:
	for (unsigned i = 0; i < g.nfds; i++)
		if (g.fds[i] >= 0)
			close(g.fds[i]);
}
