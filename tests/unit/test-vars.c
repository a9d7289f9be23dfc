/* SPDX-License-Identifier: MIT */
/*
 * A BPF object's variables by name (lib/vars.c, lib/vars-render.c): every
 * BTF kind the renderer handles, written with libbpf's btf__add_*() into an
 * object's BTF; global-section and per-CPU array maps in a kit guest
 * (values across page boundaries, the object found from the active
 * scheduler, by name and by map id); and hostile BTF and values: loops in
 * types, huge sizes, bad string offsets, DATASEC entries beyond the value,
 * BTF that does not parse or claims gigabytes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/btf.h>
#include <jansson.h>
#include <sys/wait.h>

#include "kit-guest.h"
#include "kit-vars.h"
#include "ktbpf/vars.h"
#include "unit.h"

#define VALUE_SIZE 12288u /* three pages: variables cross their boundaries */

/* The object's BTF: every kind, and a .bss DATASEC of VALUE_SIZE bytes. */
struct objbtf {
	struct btf *btf;
	int bss, data, pc; /* DATASEC .bss, DATASEC .data, struct pc */
	int u64, u32, u8;  /* typedefs */
	int stats;	   /* struct stats */
	const void *raw;
	uint32_t raw_size;
};

static int ok(int id)
{
	cr_assert_geq(id, 0, "btf__add failed: %d", id);
	return id;
}

static struct objbtf objbtf_new(void)
{
	struct objbtf o = {0};
	struct btf *b = btf__new_empty();
	int uchar, shrt, in, uint, ull, sll, bol, chr, en, en64, flt, dbl, stats, statsp, un, name,
		arr, row, grid, cv, pc, tag4, s32;
	int vars[32], nv = 0, i;
	struct {
		const char *name;
		int *type;
		uint32_t off, size;
	} bss[] = {
		{"nr_enq", &o.u64, 0, 8},
		{"st", &stats, 8, 24},
		{"state", &en, 32, 4},
		{"arr", &arr, 40, 16},
		{"u", &un, 56, 4},
		{"ok", &bol, 60, 1},
		{"c", &chr, 61, 1},
		{"neg16", &shrt, 62, 2},
		{"f", &flt, 64, 4},
		{"d", &dbl, 72, 8},
		{"p", &statsp, 80, 8},
		{"big", &en64, 88, 8},
		{"grid", &grid, 96, 12},
		{"name", &name, 108, 16},
		{"cv", &cv, 128, 8},
		{"cross", &o.u64, 4092, 8},
		{"cross_name", &name, 8186, 16},
	};

	cr_assert_not_null(b);
	o.btf = b;
	uchar = ok(btf__add_int(b, "unsigned char", 1, 0));
	o.u8 = ok(btf__add_typedef(b, "u8", uchar));
	shrt = ok(btf__add_int(b, "short", 2, BTF_INT_SIGNED));
	in = ok(btf__add_int(b, "int", 4, BTF_INT_SIGNED));
	s32 = ok(btf__add_typedef(b, "s32", in));
	uint = ok(btf__add_int(b, "unsigned int", 4, 0));
	o.u32 = ok(btf__add_typedef(b, "u32", uint));
	ull = ok(btf__add_int(b, "long long unsigned int", 8, 0));
	o.u64 = ok(btf__add_typedef(b, "u64", ull));
	sll = ok(btf__add_int(b, "long long int", 8, BTF_INT_SIGNED));
	bol = ok(btf__add_int(b, "_Bool", 1, BTF_INT_BOOL));
	chr = ok(btf__add_int(b, "char", 1, BTF_INT_SIGNED));
	en = ok(btf__add_enum(b, "state", 4));
	ok(btf__add_enum_value(b, "IDLE", 0));
	ok(btf__add_enum_value(b, "RUN", 1));
	ok(btf__add_enum_value(b, "DONE", 7));
	en64 = ok(btf__add_enum64(b, "big", 8, false));
	ok(btf__add_enum64_value(b, "BIG", 1ull << 40));
	flt = ok(btf__add_float(b, "float", 4));
	dbl = ok(btf__add_float(b, "double", 8));
	/* struct stats { u64 enq; s32 delta; u32 flags:3, mode:5; int neg:4; } */
	stats = ok(btf__add_struct(b, "stats", 24));
	ok(btf__add_field(b, "enq", o.u64, 0, 0));
	ok(btf__add_field(b, "delta", s32, 64, 0));
	ok(btf__add_field(b, "flags", o.u32, 96, 3));
	ok(btf__add_field(b, "mode", o.u32, 99, 5));
	ok(btf__add_field(b, "neg", in, 104, 4));
	o.stats = stats;
	statsp = ok(btf__add_ptr(b, stats));
	arr = ok(btf__add_array(b, uint, o.u8, 4));
	un = ok(btf__add_union(b, "word", 4));
	ok(btf__add_field(b, "w", o.u32, 0, 0));
	ok(btf__add_field(b, "b", arr, 0, 0));
	name = ok(btf__add_array(b, uint, chr, 16));
	arr = ok(btf__add_array(b, uint, o.u32, 4));
	row = ok(btf__add_array(b, uint, shrt, 3));
	grid = ok(btf__add_array(b, uint, row, 2));
	cv = ok(btf__add_const(b, ok(btf__add_volatile(b, sll))));
	for (i = 0; i < (int)(sizeof(bss) / sizeof(bss[0])); i++)
		vars[nv++] =
			ok(btf__add_var(b, bss[i].name, BTF_VAR_GLOBAL_ALLOCATED, *bss[i].type));
	o.bss = ok(btf__add_datasec(b, ".bss", VALUE_SIZE));
	for (i = 0; i < nv; i++)
		ok(btf__add_datasec_var_info(b, vars[i], bss[i].off, bss[i].size));
	/* .data: one string */
	i = ok(btf__add_var(b, "greeting", BTF_VAR_GLOBAL_ALLOCATED, name));
	o.data = ok(btf__add_datasec(b, ".data", 16));
	ok(btf__add_datasec_var_info(b, i, 0, 16));
	/* struct pc { u64 cnt; s32 d; char tag[4]; }: a per-CPU array's value */
	tag4 = ok(btf__add_array(b, uint, chr, 4));
	pc = ok(btf__add_struct(b, "pc", 16));
	ok(btf__add_field(b, "cnt", o.u64, 0, 0));
	ok(btf__add_field(b, "d", s32, 64, 0));
	ok(btf__add_field(b, "tag", tag4, 96, 0));
	o.pc = pc;
	o.raw = btf__raw_data(b, &o.raw_size);
	cr_assert_not_null(o.raw);
	return o;
}

/* The .bss value matching objbtf_new()'s DATASEC. */
static void bss_value(uint8_t *v)
{
	uint64_t u;
	int32_t s;
	float f = 1.5f;
	double d = -2.25;

	memset(v, 0, VALUE_SIZE);
	u = 123456789012ull;
	memcpy(v + 0, &u, 8);
	u = 77; /* st.enq */
	memcpy(v + 8, &u, 8);
	s = -5; /* st.delta */
	memcpy(v + 16, &s, 4);
	/* flags = 5 (bits 96..98), mode = 19 (99..103), neg = -3 (104..107) */
	v[8 + 12] = (uint8_t)(5 | (19 << 3));
	v[8 + 13] = 0xd; /* -3 in 4 bits */
	v[32] = 7;	 /* state DONE */
	for (s = 0; s < 4; s++)
		v[40 + 4 * s] = (uint8_t)(10 * (s + 1)); /* arr */
	v[56] = 0x11;
	v[57] = 0x22;
	v[58] = 0x33;
	v[59] = 0x44; /* u.w = 0x44332211 */
	v[60] = 1;    /* ok */
	v[61] = (uint8_t)-7;
	v[62] = 0xfe;
	v[63] = 0xff; /* neg16 = -2 */
	memcpy(v + 64, &f, 4);
	memcpy(v + 72, &d, 8);
	u = 0xffff888812345678ull;
	memcpy(v + 80, &u, 8);
	u = 1ull << 40;
	memcpy(v + 88, &u, 8);
	for (s = 0; s < 6; s++)
		v[96 + 2 * s] = (uint8_t)s; /* grid[i][j] = 3i + j */
	memcpy(v + 108, "hi\\\x01\x7f", 5);
	u = (uint64_t)-9;
	memcpy(v + 128, &u, 8);
	u = 0x0102030405060708ull;
	memcpy(v + 4092, &u, 8); /* crosses the page boundary */
	memcpy(v + 8186, "across pages", 12);
}

/* The node at the end of path ("st.mode", "arr[2]", "[1].cpu3.cnt") among map m's nodes. */
static const struct ktbpf_var *at(const struct ktbpf_vars *v, const struct ktbpf_vars_map *m,
				  const char *path)
{
	size_t lo = m->first, hi = m->first + m->nr, i;
	uint32_t depth = 0;
	char buf[128], *save = NULL, *tok;
	const struct ktbpf_var *n = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save)) {
		char *br = strchr(tok, '[');
		char name[64];
		long cpu = -1;

		snprintf(name, sizeof(name), "%.*s", br ? (int)(br - tok) : (int)strlen(tok), tok);
		if (!strncmp(name, "cpu", 3) && name[3]) {
			cpu = strtol(name + 3, NULL, 10);
			name[3] = '\0';
		}
		if (name[0] || !br) {
			for (n = NULL, i = lo; i < hi; i++)
				if (v->nodes[i].depth == depth && !strcmp(v->nodes[i].name, name) &&
				    (cpu < 0 || v->nodes[i].index == (uint32_t)cpu)) {
					n = &v->nodes[i];
					break;
				}
			cr_assert_not_null(n, "no %s in %s", name, path);
			lo = i + 1;
			for (hi = lo; hi < v->nr_nodes && v->nodes[hi].depth > depth; hi++)
				;
			depth++;
		}
		for (; br; br = strchr(br + 1, '[')) {
			uint32_t idx = (uint32_t)strtoul(br + 1, NULL, 10);

			for (n = NULL, i = lo; i < hi; i++)
				if (v->nodes[i].depth == depth && v->nodes[i].index == idx) {
					n = &v->nodes[i];
					break;
				}
			cr_assert_not_null(n, "no [%u] in %s", idx, path);
			lo = i + 1;
			for (hi = lo; hi < v->nr_nodes && v->nodes[hi].depth > depth; hi++)
				;
			depth++;
		}
	}
	cr_assert_not_null(n, "empty path");
	return n;
}

static struct ktbpf_vars *decode_bss(const struct objbtf *o, const uint8_t *value, size_t len)
{
	const void *bufs[1] = {value};
	struct ktbpf_vars *v = NULL;
	struct ktbpf_err err = {0};
	int r = ktbpf_vars_decode(o->raw, o->raw_size, (uint32_t)o->bss, bufs, 1, len, &v, &err);

	cr_assert_eq(r, 0, "decode: %s", err.msg);
	return v;
}

static struct ktbpf_vars_map whole(const struct ktbpf_vars *v)
{
	struct ktbpf_vars_map m = {.first = 0, .nr = v->nr_nodes};

	return m;
}

Test(vars, decode_every_kind_by_name)
{
	struct objbtf o = objbtf_new();
	static uint8_t value[VALUE_SIZE];
	struct ktbpf_vars *v;
	struct ktbpf_vars_map m;
	const struct ktbpf_var *n;

	bss_value(value);
	v = decode_bss(&o, value, VALUE_SIZE);
	m = whole(v);
	n = at(v, &m, "nr_enq");
	cr_assert_eq(n->kind, KTBPF_VAR_UINT);
	cr_assert_eq(n->u, 123456789012ull);
	cr_assert_str_eq(n->type, "u64");
	n = at(v, &m, "st");
	cr_assert_eq(n->kind, KTBPF_VAR_STRUCT);
	cr_assert_str_eq(n->type, "struct stats");
	cr_assert_eq(n->nr_children, 5);
	cr_assert_eq(at(v, &m, "st.enq")->u, 77);
	cr_assert_eq(at(v, &m, "st.delta")->kind, KTBPF_VAR_INT);
	cr_assert_eq(at(v, &m, "st.delta")->i, -5);
	cr_assert_eq(at(v, &m, "st.flags")->u, 5, "bitfield of 3 bits");
	cr_assert_eq(at(v, &m, "st.flags")->bits, 3);
	cr_assert_eq(at(v, &m, "st.mode")->u, 19, "bitfield of 5 bits after it");
	cr_assert_eq(at(v, &m, "st.neg")->i, -3, "signed bitfield");
	n = at(v, &m, "state");
	cr_assert_eq(n->kind, KTBPF_VAR_ENUM);
	cr_assert_str_eq(n->str, "DONE");
	cr_assert_eq(n->i, 7);
	cr_assert_str_eq(n->type, "enum state");
	cr_assert_eq(at(v, &m, "arr")->kind, KTBPF_VAR_ARRAY);
	cr_assert_eq(at(v, &m, "arr")->nr_children, 4);
	cr_assert_eq(at(v, &m, "arr[2]")->u, 30);
	cr_assert_str_eq(at(v, &m, "arr")->type, "u32[4]");
	cr_assert_eq(at(v, &m, "u")->kind, KTBPF_VAR_UNION);
	cr_assert_eq(at(v, &m, "u.w")->u, 0x44332211u);
	cr_assert_eq(at(v, &m, "u.b[3]")->u, 0x44, "u8 arrays are numbers, not strings");
	cr_assert_eq(at(v, &m, "ok")->kind, KTBPF_VAR_BOOL);
	cr_assert_eq(at(v, &m, "ok")->u, 1);
	cr_assert_eq(at(v, &m, "c")->kind, KTBPF_VAR_INT, "a single char is a number");
	cr_assert_eq(at(v, &m, "c")->i, -7);
	cr_assert_eq(at(v, &m, "neg16")->i, -2);
	cr_assert_eq(at(v, &m, "f")->kind, KTBPF_VAR_FLOAT);
	cr_assert_float_eq(at(v, &m, "f")->f, 1.5, 1e-9);
	cr_assert_float_eq(at(v, &m, "d")->f, -2.25, 1e-9);
	n = at(v, &m, "p");
	cr_assert_eq(n->kind, KTBPF_VAR_PTR);
	cr_assert_eq(n->u, 0xffff888812345678ull);
	cr_assert_str_eq(n->type, "struct stats *");
	cr_assert_str_eq(at(v, &m, "big")->str, "BIG", "enum64");
	cr_assert_eq(at(v, &m, "grid[1][2]")->i, 5, "nested arrays");
	cr_assert_str_eq(at(v, &m, "grid")->type, "short[2][3]", "C order of dimensions");
	cr_assert_str_eq(at(v, &m, "grid[1]")->type, "short[3]");
	n = at(v, &m, "name");
	cr_assert_eq(n->kind, KTBPF_VAR_STRING);
	cr_assert_str_eq(n->str, "hi\\\\\\x01\\x7f", "escaped: %s", n->str);
	cr_assert_eq(at(v, &m, "cv")->i, -9);
	cr_assert_str_eq(at(v, &m, "cv")->type, "const volatile long long int");
	cr_assert_eq(at(v, &m, "cross")->u, 0x0102030405060708ull);
	cr_assert_str_eq(at(v, &m, "cross_name")->str, "across pages");
	cr_assert_eq(v->nr_diags, 0);
	ktbpf_vars_free(v);
	btf__free(o.btf);
}

Test(vars, decode_percpu_sums_integers_and_keeps_each_cpu)
{
	struct objbtf o = objbtf_new();
	uint8_t c0[16] = {0}, c1[16] = {0};
	const void *bufs[2] = {c0, c1};
	struct ktbpf_vars *v = NULL;
	struct ktbpf_err err = {0};
	struct ktbpf_vars_map m;
	uint64_t a = 10, b = 32;
	int32_t d0 = -4, d1 = 1;

	memcpy(c0, &a, 8);
	memcpy(c1, &b, 8);
	memcpy(c0 + 8, &d0, 4);
	memcpy(c1 + 8, &d1, 4);
	memcpy(c0 + 12, "ab", 2);
	cr_assert_eq(ktbpf_vars_decode(o.raw, o.raw_size, (uint32_t)o.pc, bufs, 2, 16, &v, &err),
		     0);
	m = whole(v);
	cr_assert_eq(v->nodes[0].kind, KTBPF_VAR_PERCPU);
	cr_assert_eq(v->nodes[0].nr_children, 3, "sum and two CPUs");
	cr_assert_eq(at(v, &m, "[0].sum.cnt")->u, 42);
	cr_assert_eq(at(v, &m, "[0].sum.d")->i, -3);
	cr_assert_eq(at(v, &m, "[0].sum.tag")->kind, KTBPF_VAR_NOSUM, "strings are not summed");
	cr_assert_eq(at(v, &m, "[0].cpu1.cnt")->u, 32);
	cr_assert_str_eq(at(v, &m, "[0].cpu0.tag")->str, "ab");
	ktbpf_vars_free(v);
	btf__free(o.btf);
}

/* A guest whose scheduler "kv" has .bss, .data, a per-CPU array and a plain array. */
struct vguest {
	struct kit_guest *g;
	struct objbtf o;
	uint64_t bss, data, pcpu, plain;
	uint32_t bss_id, pcpu_id, plain_id;
};

static const struct kit_prog_spec vprogs[] = {
	{.id = 1, .iface = KIT_IFACE_SCX, .member = 0, .obj = "kv"},
	{.id = 2, .iface = KIT_IFACE_SCX, .member = 1, .obj = "kv"},
	{.id = 3, .iface = KIT_IFACE_TCP, .member = 0, .obj = "cc"},
};

static void vguest_new_cpus(struct vguest *vg, uint32_t nr_cpus)
{
	struct kit_guest_opts opts = {.progs = vprogs, .nr_progs = 3, .kernel.nr_cpus = nr_cpus};
	static uint8_t value[VALUE_SIZE];
	uint8_t pc[2 * 4][16];
	uint64_t btf_kva, maps[3];
	uint32_t e, c;
	struct kit_vars_map_spec sp;

	memset(vg, 0, sizeof(*vg));
	vg->g = kit_guest_new(&opts);
	vg->o = objbtf_new();
	bss_value(value);
	sp = (struct kit_vars_map_spec){.name = "kv.bss",
					.type = KTBPF_BPF_MAP_TYPE_ARRAY,
					.btf = vg->o.raw,
					.btf_size = vg->o.raw_size,
					.value_type_id = (uint32_t)vg->o.bss,
					.value_size = VALUE_SIZE,
					.max_entries = 1,
					.value = value};
	vg->bss = kit_vars_map_new(vg->g, &sp, &vg->bss_id, &btf_kva);
	sp = (struct kit_vars_map_spec){.name = "kv.data",
					.type = KTBPF_BPF_MAP_TYPE_ARRAY,
					.btf_kva = btf_kva,
					.value_type_id = (uint32_t)vg->o.data,
					.value_size = 16,
					.max_entries = 1,
					.value = (const char[16]){"hello"}};
	vg->data = kit_vars_map_new(vg->g, &sp, NULL, NULL);
	cr_assert_eq(vg->g->nr_cpus, nr_cpus);
	memset(pc, 0, sizeof(pc));
	for (e = 0; e < 2; e++)
		for (c = 0; c < nr_cpus; c++) {
			uint64_t cnt = 100 * e + c + 1;

			memcpy(pc[e * nr_cpus + c], &cnt, 8);
			pc[e * nr_cpus + c][12] = (uint8_t)('a' + c);
		}
	sp = (struct kit_vars_map_spec){.name = "pcpu",
					.type = KTBPF_BPF_MAP_TYPE_PERCPU_ARRAY,
					.btf_kva = btf_kva,
					.value_type_id = (uint32_t)vg->o.pc,
					.value_size = 16,
					.max_entries = 2,
					.value = pc};
	vg->pcpu = kit_vars_map_new(vg->g, &sp, &vg->pcpu_id, NULL);
	sp = (struct kit_vars_map_spec){.name = "plain",
					.type = KTBPF_BPF_MAP_TYPE_ARRAY,
					.btf_kva = btf_kva,
					.value_type_id = (uint32_t)vg->o.u64,
					.value_size = 8,
					.max_entries = 1};
	vg->plain = kit_vars_map_new(vg->g, &sp, &vg->plain_id, NULL);
	maps[0] = vg->bss;
	maps[1] = vg->pcpu;
	kit_vars_set_used_maps(vg->g, 1, maps, 2);
	maps[0] = vg->bss;
	maps[1] = vg->data;
	maps[2] = vg->plain;
	kit_vars_set_used_maps(vg->g, 2, maps, 3);
}

static void vguest_new(struct vguest *vg)
{
	vguest_new_cpus(vg, 4);
}

static void vguest_free(struct vguest *vg)
{
	btf__free(vg->o.btf);
	kit_guest_free(vg->g);
}

static struct ktbpf_vars *read_vars(struct kit_guest *g, struct ktbpf_snapshot *s,
				    const struct ktbpf_vars_query *q)
{
	struct ktbpf_vars *v = NULL;
	struct ktbpf_err err = {0};
	int r = ktbpf_vars_read(kit_guest_kernel(g), s, q, &v, &err);

	cr_assert_eq(r, 0, "vars: %s", err.msg);
	return v;
}

static const struct ktbpf_vars_map *map_named(const struct ktbpf_vars *v, const char *name)
{
	size_t i;

	for (i = 0; i < v->nr_maps; i++)
		if (!strcmp(v->maps[i].name, name))
			return &v->maps[i];
	cr_assert_fail("no map %s", name);
	return NULL;
}

Test(vars, active_scheduler_globals_and_percpu_from_guest_ram)
{
	struct vguest vg;
	struct ktbpf_snapshot *s;
	struct ktbpf_vars *v;
	const struct ktbpf_vars_map *m;
	size_t i;

	vguest_new(&vg);
	s = unit_walk(vg.g);
	cr_assert_str_eq(s->active.obj_name, "kv");
	v = read_vars(vg.g, s, NULL);
	for (i = 0; i < v->nr_diags; i++)
		cr_log_info("diag: %s", v->diags[i].msg);
	cr_assert_str_eq(v->obj, "kv");
	cr_assert_eq(v->nr_maps, 3, "bss, data, pcpu; the plain array is not a global: %zu",
		     v->nr_maps);
	cr_assert(v->maps[0].id < v->maps[1].id && v->maps[1].id < v->maps[2].id, "by id");
	m = map_named(v, "kv.bss");
	cr_assert_str_eq(m->section, ".bss");
	cr_assert_eq(m->error, 0, "%s", m->msg);
	cr_assert_eq(at(v, m, "st.mode")->u, 19);
	cr_assert_eq(at(v, m, "cross")->u, 0x0102030405060708ull, "across non-contiguous pages");
	cr_assert_str_eq(at(v, m, "cross_name")->str, "across pages");
	m = map_named(v, "kv.data");
	cr_assert_str_eq(m->section, ".data");
	cr_assert_str_eq(at(v, m, "greeting")->str, "hello");
	m = map_named(v, "pcpu");
	cr_assert_eq(m->map_type, KTBPF_BPF_MAP_TYPE_PERCPU_ARRAY);
	cr_assert_eq(m->nr_cpus, 4);
	cr_assert_eq(at(v, m, "[0].sum.cnt")->u, 1 + 2 + 3 + 4);
	cr_assert_eq(at(v, m, "[1].sum.cnt")->u, 4 * 100 + 1 + 2 + 3 + 4);
	cr_assert_eq(at(v, m, "[1].cpu2.cnt")->u, 103);
	cr_assert_str_eq(at(v, m, "[1].cpu3.tag")->str, "d");
	cr_assert_eq(v->capped, false);
	ktbpf_vars_free(v);
	ktbpf_snapshot_free(s);
	vguest_free(&vg);
}

Test(vars, object_by_name_and_maps_by_id)
{
	struct vguest vg;
	struct ktbpf_snapshot *s;
	struct ktbpf_vars *v = NULL;
	struct ktbpf_err err = {0};
	struct ktbpf_vars_query q = {.obj = "kv"};
	uint32_t ids[1];

	vguest_new(&vg);
	s = unit_walk(vg.g);
	v = read_vars(vg.g, s, &q);
	cr_assert_eq(v->nr_maps, 3);
	ktbpf_vars_free(v);
	ids[0] = vg.pcpu_id;
	q = (struct ktbpf_vars_query){.map_ids = ids, .nr_map_ids = 1};
	v = read_vars(vg.g, s, &q);
	cr_assert_eq(v->nr_maps, 1);
	cr_assert_eq(v->maps[0].id, vg.pcpu_id);
	ktbpf_vars_free(v);
	v = NULL;
	q = (struct ktbpf_vars_query){.obj = "nosuch"};
	cr_assert_eq(ktbpf_vars_read(kit_guest_kernel(vg.g), s, &q, &v, &err), -ENOENT);
	cr_assert(strstr(err.msg, "nosuch"), "%s", err.msg);
	ids[0] = 999;
	q = (struct ktbpf_vars_query){.map_ids = ids, .nr_map_ids = 1};
	cr_assert_eq(ktbpf_vars_read(kit_guest_kernel(vg.g), s, &q, &v, &err), -ENOENT);
	cr_assert_null(v);
	ktbpf_snapshot_free(s);
	vguest_free(&vg);
}

/* Decoding of a hostile BTF built by hand: one result, never a crash. */
static struct ktbpf_vars *decode_raw(struct btf *b, int type, const void *value, size_t len)
{
	const void *bufs[1] = {value};
	uint32_t size;
	const void *raw = btf__raw_data(b, &size);
	struct ktbpf_vars *v = NULL;
	struct ktbpf_err err = {0};

	cr_assert_eq(ktbpf_vars_decode(raw, size, (uint32_t)type, bufs, 1, len, &v, &err), 0, "%s",
		     err.msg);
	return v;
}

Test(vars, hostile_type_loops_end_in_error_nodes)
{
	struct btf *b = btf__new_empty();
	uint8_t value[64] = {0};
	struct ktbpf_vars *v;
	int self_td, self_st;

	/* a typedef naming itself; a struct holding itself by value */
	self_td = ok(btf__add_typedef(b, "loop", 1));
	cr_assert_eq(self_td, 1);
	self_st = ok(btf__add_struct(b, "russian", 8));
	ok(btf__add_field(b, "inner", self_st, 0, 0));
	v = decode_raw(b, self_td, value, sizeof(value));
	cr_assert_eq(v->nr_nodes, 1);
	cr_assert_eq(v->nodes[0].kind, KTBPF_VAR_ERROR);
	cr_assert(strstr(v->nodes[0].str, "typedefs"), "%s", v->nodes[0].str);
	ktbpf_vars_free(v);
	v = decode_raw(b, self_st, value, sizeof(value));
	cr_assert_eq(v->nr_nodes, KTBPF_VARS_MAX_DEPTH + 1, "one node per level to the bound");
	cr_assert_eq(v->nodes[KTBPF_VARS_MAX_DEPTH].kind, KTBPF_VAR_ERROR);
	cr_assert(strstr(v->nodes[KTBPF_VARS_MAX_DEPTH].str, "deeper"));
	ktbpf_vars_free(v);
	btf__free(b);
}

Test(vars, hostile_sizes_are_bounded)
{
	struct btf *b = btf__new_empty();
	static uint8_t value[64];
	struct ktbpf_vars *v;
	int u64, huge, big_struct, many, wide, i;

	u64 = ok(btf__add_int(b, "u64", 8, 0));
	huge = ok(btf__add_array(b, u64, u64, 0xffffffffu)); /* 32 GiB */
	big_struct = ok(btf__add_struct(b, "big", 0xfffffff0u));
	ok(btf__add_field(b, "x", u64, 0, 0));
	many = ok(btf__add_array(b, u64, ok(btf__add_struct(b, "empty", 0)), 1u << 30));
	/* a struct that fits: its members are all shown */
	wide = ok(btf__add_struct(b, "wide", 48));
	for (i = 0; i < 6; i++) {
		char n[8];

		snprintf(n, sizeof(n), "f%d", i);
		ok(btf__add_field(b, n, u64, 64 * i, 0));
	}
	v = decode_raw(b, huge, value, sizeof(value));
	cr_assert_eq(v->nodes[0].kind, KTBPF_VAR_ERROR);
	cr_assert(strstr(v->nodes[0].str, "run past"), "%s", v->nodes[0].str);
	ktbpf_vars_free(v);
	v = decode_raw(b, big_struct, value, sizeof(value));
	cr_assert_eq(v->nodes[0].kind, KTBPF_VAR_ERROR);
	ktbpf_vars_free(v);
	v = decode_raw(b, many, value, sizeof(value));
	cr_assert_eq(v->nodes[0].kind, KTBPF_VAR_ARRAY, "zero-sized elements fit");
	cr_assert_eq(v->nodes[0].nr_children, KTBPF_VARS_MAX_ELEMS, "but only so many are shown");
	cr_assert(v->capped);
	ktbpf_vars_free(v);
	v = decode_raw(b, wide, value, sizeof(value));
	cr_assert_eq(v->nodes[0].nr_children, 6);
	ktbpf_vars_free(v);
	btf__free(b);
}

Test(vars, hostile_datasec_entry_beyond_the_value_is_an_error_node)
{
	struct btf *b = btf__new_empty();
	uint8_t value[16] = {1};
	struct ktbpf_vars *v;
	int u32, a, z, sec;

	u32 = ok(btf__add_int(b, "u32", 4, 0));
	a = ok(btf__add_var(b, "inside", BTF_VAR_GLOBAL_ALLOCATED, u32));
	z = ok(btf__add_var(b, "outside", BTF_VAR_GLOBAL_ALLOCATED, u32));
	sec = ok(btf__add_datasec(b, ".bss", 16));
	ok(btf__add_datasec_var_info(b, a, 0, 4));
	ok(btf__add_datasec_var_info(b, z, 0xfffffffcu, 4));
	v = decode_raw(b, sec, value, sizeof(value));
	cr_assert_eq(v->nr_nodes, 2);
	cr_assert_eq(v->nodes[0].u, 1);
	cr_assert_eq(v->nodes[1].kind, KTBPF_VAR_ERROR);
	cr_assert_str_eq(v->nodes[1].name, "outside");
	cr_assert(strstr(v->nodes[1].str, "beyond the 16-byte value"), "%s", v->nodes[1].str);
	ktbpf_vars_free(v);
	btf__free(b);
}

Test(vars, hostile_bad_string_offset_is_refused_or_shown_as_unknown)
{
	struct btf *b = btf__new_empty();
	uint8_t value[8] = {0}, *raw;
	const void *bufs[1] = {value};
	const struct btf_header *h;
	struct btf_type *t;
	struct ktbpf_vars *v = NULL;
	struct ktbpf_err err = {0};
	uint32_t size;
	int u32, r;

	u32 = ok(btf__add_int(b, "u32", 4, 0));
	cr_assert_eq(u32, 1);
	const void *src = btf__raw_data(b, &size);

	raw = malloc(size);
	cr_assert_not_null(raw);
	memcpy(raw, src, size);
	h = (const struct btf_header *)raw;
	t = (struct btf_type *)(raw + h->hdr_len + h->type_off);
	t->name_off = 0x7fffff; /* past the strings */
	r = ktbpf_vars_decode(raw, size, 1, bufs, 1, sizeof(value), &v, &err);
	if (r == 0) {
		cr_assert_str_eq(v->nodes[0].type, "?", "an unknown name, never a read past");
		ktbpf_vars_free(v);
	} else {
		cr_assert_eq(r, -EINVAL);
		cr_assert(strstr(err.msg, "does not parse"), "%s", err.msg);
	}
	free(raw);
	btf__free(b);
}

/*
 * A header of 25 bytes puts the type section off 4-byte alignment (fuzz-vars
 * found it: libbpf checks type_off but not hdr_len, then reads struct
 * btf_type at misaligned addresses, UB): refused.
 */
Test(vars, hostile_btf_type_section_misaligned_is_refused)
{
	struct btf *b = btf__new_empty();
	const void *bufs[1];
	struct ktbpf_vars *v = NULL;
	struct ktbpf_err err = {0};
	struct btf_header h;
	const uint8_t *raw;
	uint8_t *bad, val[4] = {1, 0, 0, 0};
	uint32_t size;

	cr_assert_gt(btf__add_int(b, "int", 4, BTF_INT_SIGNED), 0);
	raw = btf__raw_data(b, &size);
	memcpy(&h, raw, sizeof(h));
	bad = calloc(1, size + 1);
	memcpy(bad, raw, h.hdr_len);
	memcpy(bad + h.hdr_len + 1, raw + h.hdr_len, size - h.hdr_len);
	h.hdr_len += 1; /* a longer header (libbpf takes it when the extra bytes are 0) */
	memcpy(bad, &h, sizeof(h));
	bufs[0] = val;
	cr_assert_eq(ktbpf_vars_decode(bad, size + 1, 1, bufs, 1, 4, &v, &err), -EINVAL,
		     "a misaligned type section parsed: %s", err.msg);
	cr_assert(strstr(err.msg, "does not parse"), "%s", err.msg);
	free(bad);
	btf__free(b);
}

Test(vars, hostile_guest_btf_garbage_or_huge_is_a_map_error)
{
	struct vguest vg;
	struct ktbpf_snapshot *s;
	struct ktbpf_vars *v;
	const struct ktbpf_vars_map *m;
	uint64_t btf_kva, maps[2];
	static const uint8_t garbage[64] = {0x9f, 0xeb, 1, 0, 0xff};
	struct kit_vars_map_spec sp = {.name = "bad.bss",
				       .type = KTBPF_BPF_MAP_TYPE_ARRAY,
				       .btf = garbage,
				       .btf_size = sizeof(garbage),
				       .value_type_id = 1,
				       .value_size = 8,
				       .max_entries = 1};

	vguest_new(&vg);
	maps[0] = kit_vars_map_new(vg.g, &sp, NULL, NULL);
	sp.name = "huge.data";
	sp.btf = vg.o.raw;
	sp.btf_size = vg.o.raw_size;
	maps[1] = kit_vars_map_new(vg.g, &sp, NULL, &btf_kva);
	kit_kernel_w32(vg.g->kk, btf_kva + vg.g->lay.off.vars.btf_data_size, 0x7fffffffu);
	kit_vars_set_used_maps(vg.g, 1, (uint64_t[]){vg.bss, maps[0], maps[1]}, 3);
	s = unit_walk(vg.g);
	v = read_vars(vg.g, s, NULL);
	m = map_named(v, "bad.bss");
	cr_assert_eq(m->error, -EINVAL, "%d %s", m->error, m->msg);
	cr_assert(strstr(m->msg, "does not parse"), "%s", m->msg);
	cr_assert_eq(m->nr, 0);
	m = map_named(v, "huge.data");
	cr_assert_eq(m->error, -EUCLEAN);
	cr_assert(strstr(m->msg, "bytes (bound"), "%s", m->msg);
	cr_assert_eq(map_named(v, "kv.bss")->error, 0, "the good map still reads");
	cr_assert_geq(v->nr_diags, 2);
	ktbpf_vars_free(v);
	ktbpf_snapshot_free(s);
	vguest_free(&vg);
}

Test(vars, map_without_btf_says_so)
{
	struct vguest vg;
	struct ktbpf_snapshot *s;
	struct ktbpf_vars *v;
	const struct ktbpf_vars_map *m;
	struct kit_vars_map_spec sp = {.name = "nob.bss",
				       .type = KTBPF_BPF_MAP_TYPE_ARRAY,
				       .value_size = 8,
				       .max_entries = 1};
	uint64_t maps[2];

	vguest_new(&vg);
	maps[0] = vg.bss;
	maps[1] = kit_vars_map_new(vg.g, &sp, NULL, NULL);
	kit_vars_set_used_maps(vg.g, 1, maps, 2);
	s = unit_walk(vg.g);
	v = read_vars(vg.g, s, NULL);
	m = map_named(v, "nob.bss");
	cr_assert_eq(m->error, -ENOENT);
	cr_assert(strstr(m->msg, "without BTF"), "%s", m->msg);
	ktbpf_vars_free(v);
	ktbpf_snapshot_free(s);
	vguest_free(&vg);
}

/* `ktbpfctl vars` (the real binary, $KTBPFCTL) on the guest saved as a raw RAM file. */
static char *ktbpfctl_vars(struct kit_guest *g, const char *extra, int *ret_status)
{
	const char *bin = getenv("KTBPFCTL");
	char path[64], *cmd = NULL, *out = NULL;
	size_t cap = 0, len = 0, n;
	char buf[65536];
	FILE *p;
	int st;

	cr_assert_not_null(bin, "KTBPFCTL (path of the ktbpfctl binary) is not set");
	snprintf(path, sizeof(path), "/tmp/ktbpf-vars-%d.ram", (int)getpid());
	kit_image_save(g->im, path);
	cr_assert(asprintf(&cmd, "%s vars --ram %s %s", bin, path, extra) > 0);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0) {
		cap = len + n + 1;
		out = realloc(out, cap);
		memcpy(out + len, buf, n);
		len += n;
		out[len] = '\0';
	}
	st = pclose(p);
	unlink(path);
	free(cmd);
	*ret_status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return out ? out : strdup("");
}

Test(vars, ktbpfctl_vars_json_and_text)
{
	struct vguest vg;
	json_t *root, *maps, *bss, *var;
	json_error_t je;
	char *out;
	int st;
	size_t i;

	vguest_new(&vg);
	out = ktbpfctl_vars(vg.g, "--json", &st);
	cr_assert_eq(st, 0, "exit %d: %s", st, out);
	root = json_loads(out, 0, &je);
	cr_assert_not_null(root, "%s: %s", je.text, out);
	cr_assert_str_eq(json_string_value(json_object_get(root, "object")), "kv");
	maps = json_object_get(root, "maps");
	cr_assert_eq(json_array_size(maps), 3);
	bss = json_array_get(maps, 0);
	cr_assert_str_eq(json_string_value(json_object_get(bss, "section")), ".bss");
	for (i = 0, var = NULL; i < json_array_size(json_object_get(bss, "vars")); i++) {
		var = json_array_get(json_object_get(bss, "vars"), i);
		if (!strcmp(json_string_value(json_object_get(var, "name")), "state"))
			break;
	}
	cr_assert_str_eq(json_string_value(json_object_get(var, "value")), "DONE");
	cr_assert_str_eq(json_string_value(json_object_get(var, "kind")), "enum");
	json_decref(root);
	free(out);
	out = ktbpfctl_vars(vg.g, "kv", &st);
	cr_assert_eq(st, 0);
	cr_assert(strstr(out, "    mode = 19  <u32>\n"), "%s", out);
	cr_assert(strstr(out, "  greeting = \"hello\"  <char[16]>\n"), "%s", out);
	cr_assert(strstr(out, "    cpu 3\n") || strstr(out, "    cpu 3  <struct pc>\n"), "%s", out);
	free(out);
	out = ktbpfctl_vars(vg.g, "nosuch 2>/dev/null", &st);
	cr_assert_eq(st, 1, "an unknown object fails");
	free(out);
	vguest_free(&vg);
}

Test(vars, percpu_array_of_one_cpu_is_still_per_cpu)
{
	struct vguest vg;
	struct ktbpf_snapshot *s;
	struct ktbpf_vars *v;
	const struct ktbpf_vars_map *m;

	vguest_new_cpus(&vg, 1);
	s = unit_walk(vg.g);
	v = read_vars(vg.g, s, NULL);
	m = map_named(v, "pcpu");
	cr_assert_eq(m->nr_cpus, 1);
	cr_assert_eq(v->nodes[m->first].kind, KTBPF_VAR_PERCPU, "a per-CPU element, not a value");
	cr_assert_eq(at(v, m, "[1].sum.cnt")->u, 101);
	cr_assert_eq(at(v, m, "[1].sum.tag")->kind, KTBPF_VAR_NOSUM, "a sum is a sum on one CPU");
	cr_assert_str_eq(at(v, m, "[1].cpu0.tag")->str, "a");
	ktbpf_vars_free(v);
	ktbpf_snapshot_free(s);
	vguest_free(&vg);
}

Test(vars, unreadable_value_page_is_a_map_error_and_the_rest_reads)
{
	struct vguest vg;
	struct ktbpf_snapshot *s;
	struct ktbpf_vars *v;
	const struct ktbpf_vars_map *m;

	vguest_new(&vg);
	/* the second page of the .bss value goes missing from the RAM the host has */
	kit_guest_punch_hole(vg.g, vg.bss + vg.g->lay.off.vars.array_value + 4096, 4096);
	s = unit_walk(vg.g);
	v = read_vars(vg.g, s, NULL);
	m = map_named(v, "kv.bss");
	cr_assert_lt(m->error, 0);
	cr_assert(strstr(m->msg, "value unreadable"), "%s", m->msg);
	cr_assert_eq(m->nr, 0, "no variable shown from a partial value");
	cr_assert_str_eq(at(v, map_named(v, "kv.data"), "greeting")->str, "hello");
	cr_assert_geq(v->nr_diags, 1);
	ktbpf_vars_free(v);
	ktbpf_snapshot_free(s);
	vguest_free(&vg);
}
