/* SPDX-License-Identifier: MIT */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/btf.h>

#include "kit-btf.h"

const char *const kit_btf_tcp_ops_members[] = {
	"ssthresh",   "cong_avoid",   "set_state",    "cwnd_event", "in_ack_event",
	"pkts_acked", "min_tso_segs", "cong_control", "undo_cwnd",  "sndbuf_expand",
	"get_info",   "name",	      "owner",	      "list",	    "key",
	"flags",      "init",	      "release",      NULL,
};

const char *const kit_btf_scx_ops_members[] = {
	"select_cpu",
	"enqueue",
	"dequeue",
	"dispatch",
	"tick",
	"runnable",
	"running",
	"stopping",
	"quiescent",
	"yield",
	"core_sched_before",
	"set_weight",
	"set_cpumask",
	"update_idle",
	"cpu_acquire",
	"cpu_release",
	"init_task",
	"exit_task",
	"enable",
	"disable",
	"dump",
	"cpu_online",
	"cpu_offline",
	"init",
	"exit",
	"dispatch_max_batch",
	"flags",
	"timeout_ms",
	"exit_dump_len",
	"hotplug_seq",
	"name",
	NULL,
};

/* Base type ids shared by the struct builders. */
struct kb {
	struct btf *btf;
	enum kit_btf_variant v;
	int u8, u16, u32, u64, s64, ulong, chr, boolean, voidp, fnp;
	int list_head;
};

/*
 * Types a field refers to must exist before btf__add_struct(): fields attach
 * to the most recently added type, so nothing may be added in between.
 */
static int must(int id, const char *what)
{
	if (id < 0) {
		fprintf(stderr, "kit-btf: %s: %d\n", what, id);
		abort();
	}
	return id;
}

static void field(struct kb *b, const char *name, int type, uint32_t byte_off)
{
	must(btf__add_field(b->btf, name, type, byte_off * 8, 0), name);
}

static void bitfield(struct kb *b, const char *name, int type, uint32_t bit_off)
{
	must(btf__add_field(b->btf, name, type, bit_off, 1), name);
}

static int array(struct kb *b, int elem, uint32_t n)
{
	return must(btf__add_array(b->btf, b->u32, elem, n), "array");
}

static int ptr_to(struct kb *b, int id)
{
	return must(btf__add_ptr(b->btf, id), "ptr");
}

static int fwd(struct kb *b, const char *name)
{
	return must(btf__add_fwd(b->btf, name, BTF_FWD_STRUCT), name);
}

static int strct(struct kb *b, const char *name, uint32_t size)
{
	return must(btf__add_struct(b->btf, name, size), name);
}

static void base_types(struct kb *b)
{
	struct btf *btf = b->btf;
	int proto;

	b->u8 = must(btf__add_typedef(btf, "u8",
				      must(btf__add_int(btf, "unsigned char", 1, 0), "uchar")),
		     "u8");
	b->u16 = must(btf__add_typedef(btf, "u16",
				       must(btf__add_int(btf, "short unsigned int", 2, 0), "u16")),
		      "u16");
	b->u32 = must(
		btf__add_typedef(btf, "u32", must(btf__add_int(btf, "unsigned int", 4, 0), "u32")),
		"u32");
	b->u64 = must(
		btf__add_typedef(btf, "u64",
				 must(btf__add_int(btf, "long long unsigned int", 8, 0), "u64")),
		"u64");
	b->s64 = must(btf__add_typedef(
			      btf, "s64",
			      must(btf__add_int(btf, "long long int", 8, BTF_INT_SIGNED), "s64")),
		      "s64");
	b->ulong = must(btf__add_int(btf, "long unsigned int", 8, 0), "ulong");
	b->chr = must(btf__add_int(btf, "char", 1, BTF_INT_SIGNED), "char");
	b->boolean = must(btf__add_int(btf, "_Bool", 1, BTF_INT_BOOL), "bool");
	b->voidp = ptr_to(b, 0);
	proto = must(btf__add_func_proto(btf, 0), "proto");
	b->fnp = ptr_to(b, proto);
	b->list_head = strct(b, "list_head", 16);
	field(b, "next", b->voidp, 0);
	field(b, "prev", b->voidp, 8);
}

static int add_enum(struct kb *b, const char *name)
{
	int id = must(btf__add_enum(b->btf, name, 4), name);

	must(btf__add_enum_value(b->btf, "BPF_PROG_TYPE_UNSPEC", 0), "enum");
	must(btf__add_enum_value(b->btf, "BPF_PROG_TYPE_TRACING", 26), "enum");
	must(btf__add_enum_value(b->btf, "BPF_PROG_TYPE_STRUCT_OPS", 27), "enum");
	return id;
}

/* include/linux/u64_stats_sync.h: u64_stats_t is local64_t on 64-bit. */
static int add_prog_stats(struct kb *b, struct kit_btf_layout *l)
{
	int v = strct(b, NULL, 8), st, syncp, id;
	bool misses = b->v != KIT_BTF_NO_MISSES;

	field(b, "v", b->u64, 0);
	st = must(btf__add_typedef(b->btf, "u64_stats_t", v), "u64_stats_t");
	syncp = strct(b, "u64_stats_sync", 0);
	l->stats_size = misses ? 32 : 16;
	id = strct(b, "bpf_prog_stats", l->stats_size);
	field(b, "cnt", st, 0);
	field(b, "nsecs", st, 8);
	if (misses)
		field(b, "misses", st, 16);
	field(b, "syncp", syncp, misses ? 24 : 16);
	l->off.stats_cnt = 0;
	l->off.stats_nsecs = 8;
	l->off.stats_misses = misses ? 16 : KTBPF_OFFSET_NONE;
	l->off.has_misses = misses;
	return id;
}

static int add_map(struct kb *b, struct kit_btf_layout *l)
{
	int name = array(b, b->chr, 16), id;

	l->map_size = 0x100;
	l->off.map_name = 0x60;
	id = strct(b, "bpf_map", l->map_size);
	field(b, "ops", b->voidp, 0);
	field(b, "inner_map_meta", b->voidp, 8);
	field(b, "security", b->voidp, 16);
	field(b, "map_type", b->u32, 24);
	field(b, "key_size", b->u32, 28);
	field(b, "value_size", b->u32, 32);
	field(b, "max_entries", b->u32, 36);
	field(b, "map_extra", b->u64, 40);
	field(b, "map_flags", b->u32, 48);
	field(b, "id", b->u32, 68);
	field(b, "btf_vmlinux_value_type_id", b->u32, 72);
	field(b, "btf_key_type_id", b->u32, 76);
	field(b, "btf_value_type_id", b->u32, 80);
	field(b, "btf", b->voidp, 88);
	field(b, "name", name, 0x60);
	l->off.vars.map_value_size = 32;
	l->off.vars.map_max_entries = 36;
	l->off.vars.map_btf_value_type_id = 80;
	l->off.vars.map_btf = 88;
	l->off.st.map_type = 24;
	l->off.st.map_id = 68;
	l->off.st.map_vvt_id = 72;
	return id;
}

/*
 * include/linux/bpf.h struct bpf_array (value[], ptrs[] and pptrs[] in an
 * anonymous union) and kernel/bpf/btf.c struct btf, trimmed, 6.1 offsets.
 */
static void add_vars(struct kb *b, struct kit_btf_layout *l, int map_id)
{
	int flex = array(b, b->chr, 0), ptrs = array(b, b->voidp, 0), un, hdr;

	un = must(btf__add_union(b->btf, NULL, 0), "bpf_array union");
	field(b, "value", flex, 0);
	field(b, "ptrs", ptrs, 0);
	field(b, "pptrs", ptrs, 0);
	l->array_size = 0x140;
	strct(b, "bpf_array", l->array_size);
	field(b, "map", map_id, 0);
	field(b, "elem_size", b->u32, 0x100);
	field(b, "index_mask", b->u32, 0x104);
	field(b, "aux", b->voidp, 0x108);
	field(b, "", un, 0x140);
	l->off.vars.array_elem_size = 0x100;
	l->off.vars.array_value = 0x140;
	hdr = strct(b, "btf_header", 24);
	field(b, "magic", b->u16, 0);
	l->btf_size = 0x100;
	strct(b, "btf", l->btf_size);
	field(b, "data", b->voidp, 0);
	field(b, "types", b->voidp, 8);
	field(b, "strings", b->voidp, 32);
	field(b, "hdr", hdr, 48);
	field(b, "nr_types", b->u32, 72);
	field(b, "types_size", b->u32, 76);
	field(b, "data_size", b->u32, 80);
	field(b, "base_btf", b->voidp, 160);
	field(b, "start_id", b->u32, 168);
	l->off.vars.btf_data = 0;
	l->off.vars.btf_data_size = 80;
	l->off.vars.btf_base_btf = 160;
	l->off.vars.ok = true;
}

/* include/linux/bpf.h: struct bpf_prog_aux, 6.1 order, trimmed. */
static int add_prog_aux(struct kb *b, struct kit_btf_layout *l, int map_id)
{
	int refcnt, mutex, mapp, progp, cstr, name, id;
	bool vi = b->v != KIT_BTF_NO_VERIFIED_INSNS;

	refcnt = strct(b, NULL, 8);
	field(b, "counter", b->s64, 0);
	refcnt = must(btf__add_typedef(b->btf, "atomic64_t", refcnt), "atomic64_t");
	mutex = strct(b, "mutex", 32);
	field(b, "owner", b->ulong, 0);
	mapp = ptr_to(b, ptr_to(b, map_id));
	progp = ptr_to(b, fwd(b, "bpf_prog"));
	cstr = ptr_to(b, must(btf__add_const(b->btf, b->chr), "const"));
	name = array(b, b->chr, 16);

	l->aux_size = 0x140;
	l->off.aux_used_map_cnt = 8;
	l->off.aux_id = 32;
	l->off.aux_attach_btf_id = 44;
	l->off.aux_prog = 144;
	l->off.aux_attach_func_name = 152;
	l->off.aux_used_maps = 200;
	l->off.aux_verified_insns = vi ? 272 : KTBPF_OFFSET_NONE;
	l->off.aux_name = 280;
	id = strct(b, "bpf_prog_aux", l->aux_size);
	field(b, "refcnt", refcnt, 0);
	field(b, "used_map_cnt", b->u32, 8);
	field(b, "used_btf_cnt", b->u32, 12);
	field(b, "max_ctx_offset", b->u32, 16);
	field(b, "stack_depth", b->u32, 28);
	field(b, "id", b->u32, 32);
	field(b, "func_cnt", b->u32, 36);
	field(b, "func_idx", b->u32, 40);
	field(b, "attach_btf_id", b->u32, 44);
	field(b, "attach_btf", b->voidp, 64);
	field(b, "dst_mutex", mutex, 80);
	field(b, "dst_prog", progp, 112);
	field(b, "verifier_zext", b->boolean, 136);
	field(b, "prog", progp, 144);
	field(b, "attach_func_name", cstr, 152);
	if (b->v != KIT_BTF_V61)
		field(b, "st_ops", b->voidp, 160);
	l->off.st.aux_st_ops = b->v != KIT_BTF_V61 ? 160 : KTBPF_OFFSET_NONE;
	field(b, "jit_data", b->voidp, 168);
	field(b, "used_maps", mapp, 200);
	field(b, "used_maps_mutex", mutex, 208);
	field(b, "max_tp_access", b->u32, 240);
	if (vi)
		field(b, "verified_insns", b->u32, 272);
	field(b, "name", name, 280);
	return id;
}

/* The head of struct bpf_prog up to tag[]: u16 pages, a run of bitfields, type, ... */
static void prog_head(struct kb *b, int type_enum, int attach_enum, int tag)
{
	static const char *const bits[] = {"jited",	"jit_requested", "gpl_compatible",
					   "cb_access", "dst_needed",	 "blinded"};
	uint32_t i;

	field(b, "pages", b->u16, 0);
	for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		bitfield(b, bits[i], b->u16, 16 + i);
	field(b, "type", type_enum, 4);
	field(b, "expected_attach_type", attach_enum, 8);
	field(b, "len", b->u32, 12);
	field(b, "jited_len", b->u32, 16);
	field(b, "tag", tag, 20);
}

/* include/linux/bpf.h: struct bpf_prog. stats is `struct bpf_prog_stats __percpu *`. */
static void add_prog(struct kb *b, struct kit_btf_layout *l, int stats_id, int aux_id)
{
	int type_enum, attach_enum, tag, insns, statsp, auxp, anon_s, anon_u;

	type_enum = add_enum(b, "bpf_prog_type");
	attach_enum = must(btf__add_enum(b->btf, "bpf_attach_type", 4), "attach");
	must(btf__add_enum_value(b->btf, "BPF_CGROUP_INET_INGRESS", 0), "enum");
	tag = array(b, b->u8, 8);
	insns = array(b, b->u64, 0);
	statsp = ptr_to(b, must(btf__add_type_tag(b->btf, "percpu", stats_id), "type_tag"));
	auxp = ptr_to(b, aux_id);
	l->off.prog_type = 4;
	l->off.prog_expected_attach_type = 8;
	l->prog_type_struct_ops = 27;
	if (b->v != KIT_BTF_V612_ANON) {
		l->prog_size = 0x48;
		l->off.prog_stats = 0x20;
		l->off.prog_aux = 0x38;
		strct(b, "bpf_prog", l->prog_size);
		prog_head(b, type_enum, attach_enum, tag);
		field(b, "stats", statsp, 0x20);
		field(b, "active", b->voidp, 0x28);
		field(b, "bpf_func", b->fnp, 0x30);
		field(b, "aux", auxp, 0x38);
		field(b, "orig_prog", b->voidp, 0x40);
		return;
	}
	/* Anonymous members: a plain struct, and a union reached through const. */
	anon_s = strct(b, NULL, 16);
	field(b, "stats", statsp, 0);
	field(b, "active", b->voidp, 8);
	anon_u = must(btf__add_union(b->btf, NULL, 8), "union");
	field(b, "aux", auxp, 0);
	field(b, "aux_raw", b->voidp, 0);
	anon_u = must(btf__add_const(b->btf, anon_u), "const");
	l->prog_size = 0x58;
	l->off.prog_stats = 0x28;
	l->off.prog_aux = 0x40;
	strct(b, "bpf_prog", l->prog_size);
	prog_head(b, type_enum, attach_enum, tag);
	field(b, "blinding_requested", b->boolean, 28);
	field(b, NULL, anon_s, 0x28);
	field(b, "bpf_func", b->fnp, 0x38);
	field(b, NULL, anon_u, 0x40);
	field(b, "orig_prog", b->voidp, 0x48);
	field(b, "insns", insns, 0x50);
}

/* include/linux/xarray.h: struct xa_node and struct xarray; include/linux/idr.h: struct idr. */
static void add_xarray(struct kb *b, struct kit_btf_layout *l)
{
	uint32_t n = b->v == KIT_BTF_SMALL_XA ? 16 : 64;
	int u, xa, rcu, parent, xap, slots, marks;

	rcu = strct(b, "callback_head", 16);
	field(b, "next", b->voidp, 0);
	field(b, "func", b->fnp, 8);
	u = must(btf__add_union(b->btf, NULL, 16), "union");
	field(b, "private_list", b->list_head, 0);
	field(b, "rcu_head", rcu, 0);
	xa = strct(b, "xarray", 16);
	field(b, "xa_lock", b->u32, 0);
	field(b, "xa_flags", b->u32, 4);
	field(b, "xa_head", b->voidp, 8);
	l->xarray_size = 16;
	parent = ptr_to(b, fwd(b, "xa_node"));
	xap = ptr_to(b, xa);
	slots = array(b, b->voidp, n);
	marks = array(b, b->ulong, 3);

	l->off.xa.node_shift = 0;
	l->off.xa.node_slots = 40;
	l->off.xa.nr_slots = n;
	l->xa_node_size = 40 + 8 * n + 3 * 8;
	strct(b, "xa_node", l->xa_node_size);
	field(b, "shift", b->u8, 0);
	field(b, "offset", b->u8, 1);
	field(b, "count", b->u8, 2);
	field(b, "nr_values", b->u8, 3);
	field(b, "parent", parent, 8);
	field(b, "array", xap, 16);
	field(b, NULL, u, 24);
	field(b, "slots", slots, 40);
	field(b, "marks", marks, 40 + 8 * n);

	l->idr_size = 24;
	l->off.idr_xa_head = 8;
	l->off.idr_next = 20;
	strct(b, "idr", l->idr_size);
	field(b, "idr_rt", xa, 0);
	field(b, "idr_base", b->u32, 16);
	field(b, "idr_next", b->u32, 20);
}

/* include/linux/jump_label.h: struct static_key, struct static_key_false. */
static void add_static_key(struct kb *b, struct kit_btf_layout *l)
{
	int atomic, u, key;

	atomic = strct(b, NULL, 4);
	field(b, "counter", b->u32, 0);
	atomic = must(btf__add_typedef(b->btf, "atomic_t", atomic), "atomic_t");
	u = must(btf__add_union(b->btf, NULL, 8), "union");
	field(b, "type", b->ulong, 0);
	field(b, "entries", b->voidp, 0);
	l->static_key_size = 16;
	l->off.static_key_enabled = 0;
	key = strct(b, "static_key", 16);
	field(b, "enabled", atomic, 0);
	field(b, NULL, u, 8);
	strct(b, "static_key_false", 16);
	field(b, "key", key, 0);
}

/* include/linux/cpumask_types.h: struct cpumask of NR_CPUS bits (the kit's __per_cpu_offset
 * size, 64 unless a test asks for more). */
static void add_cpumask(struct kb *b, uint32_t nr_cpus_max)
{
	int bits = array(b, b->ulong, nr_cpus_max / 64);

	strct(b, "cpumask", nr_cpus_max / 8);
	field(b, "bits", bits, 0);
}

/* Function pointers at 8-byte steps, except the few data members named below. */
static int add_ops(struct kb *b, const char *name, const char *const *members, uint32_t *ret_nr)
{
	int name16 = array(b, b->chr, 16), id;
	uint32_t i, n, off = 0;

	uint32_t extra = b->v == KIT_BTF_WIDE_OPS && !strcmp(name, "tcp_congestion_ops") ? 80 : 0;

	for (n = 0; members[n]; n++)
		;
	id = strct(b, name, 8 * n + 128 + 8 * extra);
	for (i = 0; i < n; i++) {
		const char *m = members[i];

		if (!strcmp(m, "name")) {
			field(b, m, name16, off);
			off += 16;
		} else if (!strcmp(m, "list")) {
			field(b, m, b->list_head, off);
			off += 16;
		} else {
			bool data = !strcmp(m, "key") || !strcmp(m, "flags") ||
				    !strcmp(m, "dispatch_max_batch") || !strcmp(m, "timeout_ms") ||
				    !strcmp(m, "exit_dump_len") || !strcmp(m, "hotplug_seq") ||
				    !strcmp(m, "owner");

			field(b, m, data ? b->u64 : b->fnp, off);
			off += 8;
		}
	}
	for (i = 0; i < extra; i++) {
		char m[16];

		snprintf(m, sizeof(m), "extra%u", i);
		field(b, m, b->fnp, off);
		off += 8;
	}
	*ret_nr = n;
	return id;
}

/*
 * The members of a struct_ops value struct just added: its header (common,
 * or refcnt and state before it existed) and data at 64.
 */
static void value_fields(struct kb *b, const struct kit_btf_layout *l, int common, int state_enum,
			 int data)
{
	if (l->st_common) {
		field(b, "common", common, 0);
	} else {
		field(b, "refcnt", b->u32, 0);
		field(b, "state", state_enum, 4);
	}
	field(b, "data", data, 64);
}

/* enum bpf_struct_ops_state and struct bpf_struct_ops_value (kernel/bpf/bpf_struct_ops.c). */
static int add_st_value(struct kb *b, struct kit_btf_layout *l, int *ret_state_enum)
{
	int data = array(b, b->chr, 0), common = 0, id;
	int e = must(btf__add_enum(b->btf, "bpf_struct_ops_state", 4), "enum");

	must(btf__add_enum_value(b->btf, "BPF_STRUCT_OPS_STATE_INIT", 0), "enum");
	must(btf__add_enum_value(b->btf, "BPF_STRUCT_OPS_STATE_INUSE", 1), "enum");
	must(btf__add_enum_value(b->btf, "BPF_STRUCT_OPS_STATE_TOBEFREE", 2), "enum");
	if (l->st_common) {
		must(btf__add_enum_value(b->btf, "BPF_STRUCT_OPS_STATE_READY", 3), "enum");
		common = strct(b, "bpf_struct_ops_common_value", 8);
		field(b, "refcnt", b->u32, 0);
		field(b, "state", e, 4);
	}
	l->st_value_size = 64;
	l->off.st.val_state = 4;
	l->off.st.val_data = 64;
	id = strct(b, "bpf_struct_ops_value", 64);
	value_fields(b, l, common, e, data);
	*ret_state_enum = e;
	return id;
}

/* struct bpf_struct_ops_<ops>: the value type a struct_ops map names. */
static uint32_t add_value_type(struct kb *b, const struct kit_btf_layout *l, const char *ops,
			       int ops_id, uint32_t ops_size, int state_enum)
{
	char n[64];
	int common = l->st_common ? btf__find_by_name_kind(b->btf, "bpf_struct_ops_common_value",
							   BTF_KIND_STRUCT)
				  : 0;
	int id;

	snprintf(n, sizeof(n), "bpf_struct_ops_%s", ops);
	id = strct(b, n, 64 + ops_size);
	value_fields(b, l, common, state_enum, ops_id);
	return (uint32_t)id;
}

/* bpf_struct_ops, bpf_struct_ops_desc, bpf_link, bpf_struct_ops_map (include/linux/bpf.h). */
static void add_st_map(struct kb *b, struct kit_btf_layout *l, int map_id, int value_id)
{
	struct ktbpf_st_offsets *st = &l->off.st;
	int chrp = ptr_to(b, b->chr), opsp, descp = 0, linkpp, uvp, mutex, rcu, t, e;

	l->st_ops_size = 0x60;
	st->ops_name = 0x50;
	t = strct(b, "bpf_struct_ops", l->st_ops_size);
	field(b, "verifier_ops", b->voidp, 0);
	field(b, "reg", b->fnp, 0x20);
	field(b, "name", chrp, 0x50);
	opsp = ptr_to(b, t);
	l->link_size = 64;
	st->link_prog = 24;
	st->link_id = 8;
	st->link_type = 12;
	e = must(btf__add_enum(b->btf, "bpf_link_type", 4), "enum");
	must(btf__add_enum_value(b->btf, "BPF_LINK_TYPE_UNSPEC", 0), "enum");
	must(btf__add_enum_value(b->btf, "BPF_LINK_TYPE_TRACING", 2), "enum");
	must(btf__add_enum_value(b->btf, "BPF_LINK_TYPE_STRUCT_OPS", 9), "enum");
	st->has_link_type_st_ops = true;
	st->link_type_st_ops = 9;
	t = strct(b, "bpf_link", l->link_size);
	field(b, "id", b->u32, 8);
	field(b, "type", e, 12);
	field(b, "ops", b->voidp, 16);
	field(b, "prog", b->voidp, 24);
	linkpp = ptr_to(b, ptr_to(b, t));
	/* 6.4+: struct bpf_struct_ops_link { struct bpf_link link; struct bpf_map *map; ... } */
	st->stlink_map = KTBPF_OFFSET_NONE;
	if (l->st_common) {
		int mapp = ptr_to(b, map_id);

		strct(b, "bpf_struct_ops_link", l->link_size + 32);
		field(b, "link", t, 0);
		field(b, "map", mapp, l->link_size);
		st->stlink_map = l->link_size;
	}
	uvp = ptr_to(b, value_id);
	if (l->st_common) {
		l->st_desc_size = 40;
		st->desc_st_ops = 0;
		t = strct(b, "bpf_struct_ops_desc", l->st_desc_size);
		field(b, "st_ops", opsp, 0);
		field(b, "type_id", b->u32, 24);
		descp = ptr_to(b, t);
	}
	mutex = btf__find_by_name_kind(b->btf, "mutex", BTF_KIND_STRUCT);
	rcu = btf__find_by_name_kind(b->btf, "callback_head", BTF_KIND_STRUCT);
	st->stm_uvalue = 0x198;
	st->stm_kvalue = 0x1c0;
	st->stm_links = 0x138;
	l->stmap_size = st->stm_kvalue + 64;
	strct(b, "bpf_struct_ops_map", l->stmap_size);
	field(b, "map", map_id, 0);
	field(b, "rcu", rcu, 0x100);
	if (!l->st_common) {
		/* 6.1: map, rcu, st_ops, lock, links, image, uvalue, kvalue */
		st->stm_ops = 0x110;
		st->stm_desc = st->stm_funcs_cnt = st->desc_st_ops = KTBPF_OFFSET_NONE;
		field(b, "st_ops", opsp, 0x110);
		field(b, "lock", mutex, 0x118);
		field(b, "links", linkpp, 0x138);
		field(b, "image", b->voidp, 0x140);
	} else {
		st->stm_desc = 0x110;
		st->stm_ops = KTBPF_OFFSET_NONE;
		st->stm_funcs_cnt = 0x148;
		field(b, "st_ops_desc", descp, 0x110);
		field(b, "lock", mutex, 0x118);
		field(b, "links", linkpp, 0x138);
		field(b, "funcs_cnt", b->u32, 0x148);
		field(b, "image_pages_cnt", b->u32, 0x14c);
	}
	field(b, "uvalue", uvp, 0x198);
	field(b, "kvalue", value_id, 0x1c0);
}

static uint32_t ops_member_off(struct kb *b, uint32_t type_id, const char *name);

const char *const kit_btf_scx_events[KIT_BTF_SCX_NR_EVENTS] = {
	"SCX_EV_SELECT_CPU_FALLBACK",
	"SCX_EV_DISPATCH_KEEP_LAST",
	"SCX_EV_ENQ_SKIP_EXITING",
	"SCX_EV_BYPASS_DURATION",
};

/*
 * sched_ext's exit record and event counters: enum scx_exit_kind, struct
 * scx_exit_info (6.12's layout in the 6.1-layout variant, 7.2's with
 * exit_cpu and flags otherwise), struct scx_event_stats (4 of 7.2's
 * counters) and struct scx_sched_pcpu with event_stats at 16 (7.x).
 */
static void add_scx_state(struct kb *b, struct kit_btf_layout *l)
{
	static const struct {
		const char *n;
		int v;
	} kinds[] = {{"SCX_EXIT_NONE", 0},	    {"SCX_EXIT_DONE", 1},
		     {"SCX_EXIT_UNREG", 64},	    {"SCX_EXIT_UNREG_BPF", 65},
		     {"SCX_EXIT_ERROR", 1024},	    {"SCX_EXIT_ERROR_BPF", 1025},
		     {"SCX_EXIT_ERROR_STALL", 1026}};
	struct ktbpf_scx_offsets *o = &l->off.st.scx;
	bool old = b->v == KIT_BTF_V61;
	int kind, charp = ptr_to(b, b->chr), ulongp = ptr_to(b, b->ulong), ev, ei, pcpu;
	uint32_t i;

	memset(o, 0xff, offsetof(struct ktbpf_scx_offsets, has_exit_info));
	o->ops_flags = ops_member_off(b, l->scx_ops_id, "flags");
	kind = must(btf__add_enum(b->btf, "scx_exit_kind", 4), "enum");
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		must(btf__add_enum_value(b->btf, kinds[i].n, kinds[i].v), "enum");
		o->exit_kinds[i].value = kinds[i].v;
		snprintf(o->exit_kinds[i].name, sizeof(o->exit_kinds[i].name), "%s", kinds[i].n);
	}
	o->nr_exit_kinds = i;
	ei = strct(b, "scx_exit_info", old ? 56 : 64);
	o->has_exit_info = true;
	o->ei_kind = 0;
	field(b, "kind", kind, 0);
	if (!old)
		field(b, "exit_cpu", b->u32, 4);
	o->ei_exit_code = 8;
	field(b, "exit_code", b->s64, 8);
	if (!old)
		field(b, "flags", b->u64, 16);
	o->ei_reason = old ? 16 : 24;
	o->ei_bt = o->ei_reason + 8;
	o->ei_bt_len = o->ei_reason + 16;
	o->ei_msg = o->ei_reason + 24;
	o->ei_dump = o->ei_reason + 32;
	field(b, "reason", charp, o->ei_reason);
	field(b, "bt", ulongp, o->ei_bt);
	field(b, "bt_len", b->u32, o->ei_bt_len);
	field(b, "msg", charp, o->ei_msg);
	field(b, "dump", charp, o->ei_dump);
	l->scx_ei_ptr = ptr_to(b, ei);
	ev = strct(b, "scx_event_stats", 8 * KIT_BTF_SCX_NR_EVENTS);
	for (i = 0; i < KIT_BTF_SCX_NR_EVENTS; i++) {
		field(b, kit_btf_scx_events[i], b->s64, 8 * i);
		o->events[i].off = 8 * i;
		snprintf(o->events[i].name, sizeof(o->events[i].name), "%s", kit_btf_scx_events[i]);
	}
	o->nr_events = KIT_BTF_SCX_NR_EVENTS;
	o->event_stats_size = 8 * KIT_BTF_SCX_NR_EVENTS;
	pcpu = strct(b, "scx_sched_pcpu", 16 + o->event_stats_size + 16);
	field(b, "sch", b->voidp, 0);
	field(b, "flags", b->u64, 8);
	field(b, "event_stats", ev, 16);
	l->scx_pcpu_size = 16 + o->event_stats_size + 16;
	o->pcpu_event_stats = 16;
	l->scx_pcpu_ptr = ptr_to(b, pcpu);
}

/*
 * sched_ext (kernel/sched/ext.c): the enable-state enum (6.12's
 * scx_ops_enable_state in the 6.1-layout variant, 6.15's scx_enable_state
 * otherwise) and struct scx_sched (6.16+; in every variant): ops at 0, then
 * pcpu, bypass_depth, watchdog_timeout, exit_kind and exit_info as in 7.x.
 */
static void add_scx(struct kb *b, struct kit_btf_layout *l, int scx_ops_id)
{
	static const char *const st[4] = {"ENABLING", "ENABLED", "DISABLING", "DISABLED"};
	bool old = b->v == KIT_BTF_V61;
	char n[64];
	int k;

	must(btf__add_enum(b->btf, old ? "scx_ops_enable_state" : "scx_enable_state", 4), "enum");
	for (k = 0; k < 4; k++) {
		snprintf(n, sizeof(n), "%s%s", old ? "SCX_OPS_" : "SCX_", st[k]);
		must(btf__add_enum_value(b->btf, n, k), "enum");
		l->off.st.scx_enum[k] = k;
	}
	l->off.st.has_scx_enum = true;
	add_scx_state(b, l);
	l->scx_sched_size = l->scx_ops_size + 64;
	strct(b, "scx_sched", l->scx_sched_size);
	field(b, "ops", scx_ops_id, 0);
	field(b, "is_cid_type", b->boolean, l->scx_ops_size);
	{
		struct ktbpf_scx_offsets *o = &l->off.st.scx;

		o->sch_pcpu = l->scx_ops_size + 8;
		o->sch_bypass_depth = l->scx_ops_size + 16;
		o->sch_watchdog_timeout = l->scx_ops_size + 24;
		o->sch_exit_kind = l->scx_ops_size + 32;
		o->sch_exit_info = l->scx_ops_size + 40;
		field(b, "pcpu", l->scx_pcpu_ptr, o->sch_pcpu);
		field(b, "bypass_depth", b->u32, o->sch_bypass_depth);
		field(b, "watchdog_timeout", b->ulong, o->sch_watchdog_timeout);
		field(b, "exit_kind", b->u32, o->sch_exit_kind);
		field(b, "exit_info", l->scx_ei_ptr, o->sch_exit_info);
	}
	l->off.st.scx_sched_ops = 0;
	l->off.st.scx_ops_size = l->scx_ops_size;
}

/* Byte offset of member name in struct type_id. */
static uint32_t ops_member_off(struct kb *b, uint32_t type_id, const char *name)
{
	const struct btf_type *t = btf__type_by_id(b->btf, type_id);
	uint32_t i;

	for (i = 0; i < btf_vlen(t); i++)
		if (!strcmp(btf__name_by_offset(b->btf, btf_members(t)[i].name_off), name))
			return btf_member_bit_offset(t, i) / 8;
	return KTBPF_OFFSET_NONE;
}

struct btf *kit_btf_kernel_new(enum kit_btf_variant v, struct kit_btf_layout *ret_layout)
{
	return kit_btf_kernel_new_cpus(v, 64, ret_layout);
}

struct btf *kit_btf_kernel_new_cpus(enum kit_btf_variant v, uint32_t nr_cpus_max,
				    struct kit_btf_layout *ret_layout)
{
	struct kit_btf_layout l = {0};
	struct kb b = {.v = v};
	int stats, map, aux;

	b.btf = btf__new_empty();
	if (!b.btf) {
		fprintf(stderr, "kit-btf: btf__new_empty failed\n");
		abort();
	}
	base_types(&b);
	stats = add_prog_stats(&b, &l);
	map = add_map(&b, &l);
	add_vars(&b, &l, map);
	aux = add_prog_aux(&b, &l, map);
	add_prog(&b, &l, stats, aux);
	add_xarray(&b, &l);
	add_static_key(&b, &l);
	if (!nr_cpus_max || nr_cpus_max % 64) {
		fprintf(stderr, "kit-btf: NR_CPUS %u is not a multiple of 64\n", nr_cpus_max);
		abort();
	}
	add_cpumask(&b, nr_cpus_max);
	l.tcp_ops_id = (uint32_t)add_ops(&b, "tcp_congestion_ops", kit_btf_tcp_ops_members,
					 &l.tcp_ops_nr_members);
	l.scx_ops_id = (uint32_t)add_ops(&b, "sched_ext_ops", kit_btf_scx_ops_members,
					 &l.scx_ops_nr_members);
	l.tcp_ops_size = btf__type_by_id(b.btf, l.tcp_ops_id)->size;
	l.scx_ops_size = btf__type_by_id(b.btf, l.scx_ops_id)->size;
	l.off.st.scx_ops_name = ops_member_off(&b, l.scx_ops_id, "name");
	l.st_common = v != KIT_BTF_V61;
	{
		int state_enum, value = add_st_value(&b, &l, &state_enum);

		add_st_map(&b, &l, map, value);
		l.tcp_value_id = add_value_type(&b, &l, "tcp_congestion_ops", (int)l.tcp_ops_id,
						l.tcp_ops_size, state_enum);
		l.scx_value_id = add_value_type(&b, &l, "sched_ext_ops", (int)l.scx_ops_id,
						l.scx_ops_size, state_enum);
	}
	add_scx(&b, &l, (int)l.scx_ops_id);
	l.off.st.maps = true;
	*ret_layout = l;
	return b.btf;
}

const void *kit_btf_raw(struct btf *btf, uint32_t *ret_size)
{
	const void *raw = btf__raw_data(btf, ret_size);

	if (!raw) {
		fprintf(stderr, "kit-btf: btf__raw_data failed\n");
		abort();
	}
	return raw;
}
