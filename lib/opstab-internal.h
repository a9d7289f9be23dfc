/* SPDX-License-Identifier: MIT */
/*
 * Private: the struct_ops interfaces of one kernel, taken from its BTF once
 * at discovery (opstab.c), so that walks need no BTF and a discovered
 * kernel keeps a few KiB instead of its BTF. Internal names start with
 * ops_.
 */
#ifndef KTBPF_OPSTAB_INTERNAL_H
#define KTBPF_OPSTAB_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "ktbpf/err.h"
#include "ktbpf/progs.h"

struct btf;

/* More interfaces than any kernel registers (7.2 has 7): a hostile BTF stops here. */
#define OPS_MAX_IFACES 64

/* A function-pointer member of a struct_ops ops struct: a slot for a program. */
struct st_fn_member {
	const char *name; /* owned by the table */
	uint32_t off, index;
};

/*
 * One struct_ops interface: the ops struct <name> whose value type
 * bpf_struct_ops_<name> is in the kernel's BTF.
 */
struct st_layout {
	const char *name;   /* "tcp_congestion_ops" */
	uint32_t value_id;  /* bpf_struct_ops_<name>: bpf_map.btf_vmlinux_value_type_id */
	uint32_t type_id;   /* <name>: bpf_prog_aux.attach_btf_id */
	uint32_t size;	    /* sizeof(struct <name>) */
	uint32_t nr_names;  /* members, capped at KTBPF_MAX_OPS_MEMBERS */
	const char **names; /* by member index (expected_attach_type) */
	uint32_t n;	    /* function-pointer members, in member order */
	bool capped;	    /* more than KTBPF_MAX_OPS_MEMBERS members */
	const struct st_fn_member *m;
};

struct ops_table {
	uint32_t nr;
	bool capped; /* more than OPS_MAX_IFACES interfaces: the rest unknown */
	struct st_layout *iface;
	size_t bytes; /* one allocation holding everything */
};

/*
 * Every interface of btf into *ret (one allocation; free with
 * ops_table_free()). Bounded: types are visited once, interfaces capped at
 * OPS_MAX_IFACES, members at KTBPF_MAX_OPS_MEMBERS, names at
 * KTBPF_IFACE_LEN - 1 bytes. -ENOMEM only.
 */
int ops_table_build(const struct btf *btf, struct ops_table **ret, struct ktbpf_err *err);
struct ops_table *ops_table_free(struct ops_table *t);

/*
 * t copied to a new allocation (its pointers moved along), the old one
 * freed; t itself when memory runs out. See kernel.c: settle().
 */
struct ops_table *ops_table_move(struct ops_table *t);

/* The interface with ops struct type_id / value type value_id, or NULL. */
const struct st_layout *ops_by_type(const struct ops_table *t, uint32_t type_id);
const struct st_layout *ops_by_value(const struct ops_table *t, uint32_t value_id);

#endif
