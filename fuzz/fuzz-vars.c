/* SPDX-License-Identifier: MIT */
/*
 * The BTF decoder and renderer of a BPF object's variables
 * (ktbpf_vars_decode(): vars-render.c), on hostile BTF and values. Input:
 * [u32 type_id][u8 nr_bufs (1..4)][u16 len][nr_bufs x len value bytes][BTF
 * blob...]. Seeds: BTF written with libbpf's btf__add_*() holding every
 * kind the renderer handles, a DATASEC and a per-CPU value, and loops.
 *
 * Oracles beyond "no crash, no hang": the nodes form a tree exactly (each
 * node's nr_children subtrees follow it, covering every node), depths stay
 * within KTBPF_VARS_MAX_DEPTH, the count within KTBPF_VARS_MAX_NODES, every
 * name and type is a string, and an error or string node has its text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/btf.h>

#include "fuzz-common.h"
#include "ktbpf/vars.h"

#define HDR 7

/* The subtree at *i: its children follow; false when the shape is broken. */
static bool subtree(const struct ktbpf_vars *v, size_t *i, uint32_t depth)
{
	const struct ktbpf_var *n;
	uint32_t c;

	if (*i >= v->nr_nodes)
		return false;
	n = &v->nodes[(*i)++];
	if (n->depth != depth || depth > KTBPF_VARS_MAX_DEPTH || !n->name || !n->type)
		return false;
	if ((n->kind == KTBPF_VAR_ERROR || n->kind == KTBPF_VAR_STRING) && !n->str)
		return false;
	for (c = 0; c < n->nr_children; c++)
		if (!subtree(v, i, depth + 1))
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const void *bufs[4];
	struct ktbpf_vars *v = NULL;
	struct ktbpf_err err = {0};
	uint32_t type_id, nr, len, i;
	size_t at = 0;

	if (size < HDR)
		return 0;
	type_id = fuzz_le32(data);
	nr = data[4] % 4 + 1;
	len = (uint32_t)data[5] | (uint32_t)data[6] << 8;
	if (size - HDR < (size_t)nr * len)
		return 0;
	for (i = 0; i < nr; i++)
		bufs[i] = data + HDR + (size_t)i * len;
	if (ktbpf_vars_decode(data + HDR + (size_t)nr * len, size - HDR - (size_t)nr * len, type_id,
			      bufs, nr, len, &v, &err) < 0)
		return 0;
	if (v->nr_nodes > KTBPF_VARS_MAX_NODES)
		fuzz_die("vars", "more nodes than the bound");
	while (at < v->nr_nodes)
		if (!subtree(v, &at, 0))
			fuzz_die("vars", "nodes do not form a tree");
	ktbpf_vars_free(v);
	return 0;
}

static void seed(const char *dir, const char *name, struct btf *b, uint32_t type_id, uint8_t nr,
		 const void *value, uint16_t len)
{
	uint32_t bsize;
	const void *raw = btf__raw_data(b, &bsize);
	size_t total = HDR + (size_t)nr * len + bsize;
	uint8_t *buf = malloc(total);
	uint32_t i;

	if (!raw || !buf)
		fuzz_die("vars", "seed");
	memcpy(buf, &type_id, 4);
	buf[4] = (uint8_t)(nr - 1);
	buf[5] = (uint8_t)len;
	buf[6] = (uint8_t)(len >> 8);
	for (i = 0; i < nr; i++)
		memcpy(buf + HDR + (size_t)i * len, value, len);
	memcpy(buf + HDR + (size_t)nr * len, raw, bsize);
	fuzz_seed_write(dir, name, buf, total);
	free(buf);
}

void fuzz_write_seeds(const char *dir)
{
	struct btf *b = btf__new_empty();
	uint8_t value[256];
	int u8, u32, s16, chr, bol, en, en64, flt, st, ptr, un, arr, name, grid, sec, pc, loop,
		self;
	int v[8], i;

	for (i = 0; i < (int)sizeof(value); i++)
		value[i] = (uint8_t)(i * 37 + 1);
	u8 = btf__add_int(b, "unsigned char", 1, 0);
	u32 = btf__add_typedef(b, "u32", btf__add_int(b, "unsigned int", 4, 0));
	s16 = btf__add_int(b, "short", 2, BTF_INT_SIGNED);
	chr = btf__add_int(b, "char", 1, BTF_INT_SIGNED);
	bol = btf__add_int(b, "_Bool", 1, BTF_INT_BOOL);
	en = btf__add_enum(b, "state", 4);
	btf__add_enum_value(b, "IDLE", 0);
	btf__add_enum_value(b, "RUN", 1);
	en64 = btf__add_enum64(b, "big", 8, true);
	btf__add_enum64_value(b, "NEG", (uint64_t)-5);
	flt = btf__add_float(b, "double", 8);
	st = btf__add_struct(b, "stats", 16);
	btf__add_field(b, "a", u32, 0, 0);
	btf__add_field(b, "f", u32, 32, 3);
	btf__add_field(b, "g", s16, 35, 7);
	btf__add_field(b, "e", en, 64, 0);
	ptr = btf__add_ptr(b, st);
	arr = btf__add_array(b, u32, u8, 4);
	un = btf__add_union(b, "w", 4);
	btf__add_field(b, "x", u32, 0, 0);
	btf__add_field(b, "b", arr, 0, 0);
	name = btf__add_array(b, u32, chr, 8);
	grid = btf__add_array(b, u32, btf__add_array(b, u32, s16, 3), 2);
	pc = btf__add_const(b, st);
	loop = btf__add_typedef(b, "loop", (int)btf__type_cnt(b)); /* itself */
	self = btf__add_struct(b, "self", 8);
	btf__add_field(b, "s", self, 0, 0);
	v[0] = btf__add_var(b, "st", BTF_VAR_GLOBAL_ALLOCATED, st);
	v[1] = btf__add_var(b, "p", BTF_VAR_GLOBAL_ALLOCATED, ptr);
	v[2] = btf__add_var(b, "u", BTF_VAR_GLOBAL_ALLOCATED, un);
	v[3] = btf__add_var(b, "name", BTF_VAR_GLOBAL_ALLOCATED, name);
	v[4] = btf__add_var(b, "grid", BTF_VAR_GLOBAL_ALLOCATED, grid);
	v[5] = btf__add_var(b, "ok", BTF_VAR_GLOBAL_ALLOCATED, bol);
	v[6] = btf__add_var(b, "d", BTF_VAR_GLOBAL_ALLOCATED, flt);
	v[7] = btf__add_var(b, "n", BTF_VAR_GLOBAL_ALLOCATED, en64);
	sec = btf__add_datasec(b, ".bss", 80);
	btf__add_datasec_var_info(b, v[0], 0, 16);
	btf__add_datasec_var_info(b, v[1], 16, 8);
	btf__add_datasec_var_info(b, v[2], 24, 4);
	btf__add_datasec_var_info(b, v[3], 28, 8);
	btf__add_datasec_var_info(b, v[4], 36, 12);
	btf__add_datasec_var_info(b, v[5], 48, 1);
	btf__add_datasec_var_info(b, v[6], 56, 8);
	btf__add_datasec_var_info(b, v[7], 64, 8);
	if (sec < 0 || loop < 0 || self < 0 || pc < 0)
		fuzz_die("vars", "seed BTF");
	seed(dir, "datasec", b, (uint32_t)sec, 1, value, 80);
	seed(dir, "percpu", b, (uint32_t)pc, 3, value, 16);
	seed(dir, "self", b, (uint32_t)self, 1, value, 64);
	seed(dir, "loop", b, (uint32_t)loop, 1, value, 8);
	seed(dir, "short-value", b, (uint32_t)sec, 1, value, 20);
	btf__free(b);
}
