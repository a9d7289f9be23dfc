/* SPDX-License-Identifier: MIT */
/*
 * A fake guest with BPF programs (see kit-guest.h). Objects are laid out as
 * the kernel does (include/linux/bpf.h; kernel/bpf/core.c: bpf_prog_alloc()
 * vmallocs bpf_prog and allocates per-CPU stats; kernel/bpf/syscall.c:
 * bpf_prog_alloc_id() puts the prog in prog_idr; kernel/bpf/verifier.c puts
 * the maps a program uses in aux->used_maps), at the member offsets the
 * kit's BTF describes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kit-guest.h"

#define MAX_OBJS 64

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "kit-guest: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	abort();
}

static void *zalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	if (!p)
		die("out of memory", NULL);
	return p;
}

/* The maps of one object, shared by its programs (like one libbpf object's maps). */
struct obj {
	const char *name;
	bool extra;
	uint64_t maps[4]; /* [ringbuf], .bss, .data, .rodata */
	uint32_t nr;
};

struct build {
	struct kit_guest *g;
	struct obj objs[MAX_OBJS];
	uint32_t nr_objs;
};

const char *const kit_guest_mod_ops_members[] = {"probe", "remove", "handle", "flush", NULL};

#define MOD_OPS_NR	   4
#define BPF_MAP_TYPE_ARRAY 2

/* A map of size bytes (at least a bpf_map) in map_idr with the next id. */
static uint64_t new_map_sized(struct kit_guest *g, const char *name, uint32_t type, uint64_t size,
			      uint32_t *ret_id)
{
	uint32_t id = ++g->next_map_id;
	uint64_t kva;

	kit_kernel_vmalloc(g->kk, size, &kva);
	kit_kernel_wkva(g->kk, kva + g->lay.off.map_name, name, strlen(name));
	kit_kernel_w32(g->kk, kva + g->lay.off.st.map_type, type);
	kit_kernel_w32(g->kk, kva + g->lay.off.st.map_id, id);
	kit_xa_store(g->map_xa, id, kva);
	if (ret_id)
		*ret_id = id;
	return kva;
}

static uint64_t new_map(struct kit_guest *g, const char *name)
{
	return new_map_sized(g, name, BPF_MAP_TYPE_ARRAY, g->lay.map_size, NULL);
}

static struct obj *get_obj(struct build *b, const char *name, bool extra)
{
	const char *sfx[] = {".bss", ".data", ".rodata"};
	struct obj *o;
	uint32_t i;

	for (i = 0; i < b->nr_objs; i++)
		if (!strcmp(b->objs[i].name, name) && b->objs[i].extra == extra)
			return &b->objs[i];
	if (b->nr_objs == MAX_OBJS)
		die("too many objects", name);
	if (!*name || strlen(name) + 7 > KTBPF_OBJ_NAME_LEN - 1)
		die("object name empty or too long for <obj>.rodata in 15 bytes", name);
	o = &b->objs[b->nr_objs++];
	o->name = name;
	o->extra = extra;
	if (extra)
		o->maps[o->nr++] = new_map(b->g, "ringbuf");
	for (i = 0; i < 3; i++) {
		char n[KTBPF_OBJ_NAME_LEN];

		snprintf(n, sizeof(n), "%s%s", name, sfx[i]);
		o->maps[o->nr++] = new_map(b->g, n);
	}
	return o;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* Recompute program p's sums from its per-CPU counters, like the walker must: possible CPUs only.
 */
static void resum(struct kit_guest *g, struct kit_guest_prog *p)
{
	uint32_t cpu;

	p->cnt = p->nsecs = p->misses = 0;
	for (cpu = 0; cpu < g->nr_cpus; cpu++) {
		if (!kit_kernel_cpu_possible(g->kk, cpu))
			continue;
		p->cnt = sat_add(p->cnt, p->per_cpu[cpu][0]);
		p->nsecs = sat_add(p->nsecs, p->per_cpu[cpu][1]);
		if (g->lay.off.has_misses)
			p->misses = sat_add(p->misses, p->per_cpu[cpu][2]);
	}
}

void kit_guest_set_stats(struct kit_guest *g, uint32_t i, uint32_t cpu, uint64_t cnt,
			 uint64_t nsecs, uint64_t misses)
{
	struct kit_guest_prog *p;
	uint64_t pa;

	if (i >= g->nr_progs || cpu >= g->nr_cpus)
		die("kit_guest_set_stats: no such program or CPU", NULL);
	p = &g->progs[i];
	pa = kit_kernel_percpu_pa(g->kk, p->stats_template, cpu);
	kit_w64(g->im, pa + g->lay.off.stats_cnt, cnt);
	kit_w64(g->im, pa + g->lay.off.stats_nsecs, nsecs);
	if (g->lay.off.has_misses)
		kit_w64(g->im, pa + g->lay.off.stats_misses, misses);
	p->per_cpu[cpu][0] = cnt;
	p->per_cpu[cpu][1] = nsecs;
	p->per_cpu[cpu][2] = misses;
	resum(g, p);
}

static const char *iface_name(enum kit_iface i)
{
	return i == KIT_IFACE_SCX   ? "sched_ext_ops"
	       : i == KIT_IFACE_TCP ? "tcp_congestion_ops"
				    : "kit_mod_ops";
}

/* The kernel's struct bpf_struct_ops of an interface (one per interface, made on first use). */
static uint64_t st_ops_obj(struct kit_guest *g, enum kit_iface i)
{
	static const char *const names[3] = {"sched_ext_ops", "tcp_congestion_ops", "kit_mod_ops"};
	uint64_t kva, pa, name_kva, name_pa;
	uint32_t k;

	for (k = 0; k < g->nr_st_ops; k++)
		if (g->st_ops_iface[k] == i)
			return g->st_ops_kva[k];
	kit_kernel_kmalloc(g->kk, g->lay.st_ops_size, &kva, &pa);
	kit_kernel_kmalloc(g->kk, strlen(names[i]) + 1, &name_kva, &name_pa);
	kit_wbytes(g->im, name_pa, names[i], strlen(names[i]) + 1);
	kit_w64(g->im, pa + g->lay.off.st.ops_name, name_kva);
	g->st_ops_iface[g->nr_st_ops] = i;
	g->st_ops_kva[g->nr_st_ops++] = kva;
	return kva;
}

static void write_aux(struct build *b, struct kit_guest_prog *p)
{
	struct kit_guest *g = b->g;
	const struct ktbpf_offsets *o = &g->lay.off;
	uint64_t a = p->aux_kva, fn_kva = 0, fn_pa;
	const struct kit_prog_spec *s = &p->spec;

	kit_kernel_w32(g->kk, a + o->aux_id, p->id);
	if (o->aux_verified_insns != KTBPF_OFFSET_NONE)
		kit_kernel_w32(g->kk, a + o->aux_verified_insns, p->verified_insns);
	kit_kernel_wkva(g->kk, a + o->aux_name, p->name, strnlen(p->name, KTBPF_OBJ_NAME_LEN));
	if (o->aux_prog != KTBPF_OFFSET_NONE)
		kit_kernel_w64(g->kk, a + o->aux_prog, p->kva);
	if (!p->struct_ops)
		return;
	kit_kernel_w32(g->kk, a + o->aux_attach_btf_id,
		       s->iface == KIT_IFACE_SCX   ? g->lay.scx_ops_id
		       : s->iface == KIT_IFACE_TCP ? g->lay.tcp_ops_id
						   : btf__type_cnt(g->btf) + 5);
	if (s->iface == KIT_IFACE_MODULE && o->st.aux_st_ops != KTBPF_OFFSET_NONE)
		kit_kernel_w64(g->kk, a + o->st.aux_st_ops, st_ops_obj(g, KIT_IFACE_MODULE));
	if (o->aux_attach_func_name != KTBPF_OFFSET_NONE) {
		kit_kernel_kmalloc(g->kk, strlen(p->member) + 1, &fn_kva, &fn_pa);
		kit_wbytes(g->im, fn_pa, p->member, strlen(p->member) + 1);
		kit_kernel_w64(g->kk, a + o->aux_attach_func_name, fn_kva);
	}
	if (s->obj) {
		struct obj *ob = get_obj(b, s->obj, s->extra_map);
		uint64_t pa;
		uint32_t i;

		kit_kernel_kmalloc(g->kk, ob->nr * 8ull, &p->used_maps_kva, &pa);
		for (i = 0; i < ob->nr; i++) {
			kit_w64(g->im, pa + 8ull * i, ob->maps[i]);
			p->map_kvas[i] = ob->maps[i];
		}
		p->nr_maps = ob->nr;
		kit_kernel_w64(g->kk, a + o->aux_used_maps, p->used_maps_kva);
		kit_kernel_w32(g->kk, a + o->aux_used_map_cnt, ob->nr);
	}
}

static void make_prog(struct build *b, struct kit_guest_prog *p)
{
	struct kit_guest *g = b->g;
	const struct ktbpf_offsets *o = &g->lay.off;
	const struct kit_prog_spec *s = &p->spec;
	uint64_t pa;
	uint32_t cpu;

	p->struct_ops = !s->type || s->type == KTBPF_BPF_PROG_TYPE_STRUCT_OPS;
	if (s->name)
		snprintf(p->name, sizeof(p->name), "%.16s", s->name);
	else
		snprintf(p->name, sizeof(p->name), "prog%u", p->id);
	p->name_truncated = strlen(p->name) == KTBPF_OBJ_NAME_LEN;
	p->verified_insns = s->verified_insns ? s->verified_insns : 100 + p->id;
	if (o->aux_verified_insns == KTBPF_OFFSET_NONE)
		p->verified_insns = 0;
	if (p->struct_ops) {
		const char *const *m = s->iface == KIT_IFACE_SCX   ? kit_btf_scx_ops_members
				       : s->iface == KIT_IFACE_TCP ? kit_btf_tcp_ops_members
								   : kit_guest_mod_ops_members;
		uint32_t n = s->iface == KIT_IFACE_SCX	 ? g->lay.scx_ops_nr_members
			     : s->iface == KIT_IFACE_TCP ? g->lay.tcp_ops_nr_members
							 : MOD_OPS_NR;

		if (s->member >= n)
			die("member index beyond the ops struct", s->name);
		p->iface = iface_name(s->iface);
		p->member = m[s->member];
	}
	kit_kernel_vmalloc(g->kk, g->lay.prog_size, &p->kva);
	if (g->opts.aux_kmalloc)
		kit_kernel_kmalloc(g->kk, g->lay.aux_size, &p->aux_kva, &pa);
	else
		kit_kernel_vmalloc(g->kk, g->lay.aux_size, &p->aux_kva);
	kit_kernel_percpu_alloc(g->kk, g->lay.stats_size, &p->stats_template);
	kit_kernel_w32(g->kk, p->kva + o->prog_type, p->struct_ops ? 27 : s->type);
	kit_kernel_w32(g->kk, p->kva + o->prog_expected_attach_type, p->struct_ops ? s->member : 0);
	kit_kernel_w64(g->kk, p->kva + o->prog_aux, p->aux_kva);
	kit_kernel_w64(g->kk, p->kva + o->prog_stats, p->stats_template);
	write_aux(b, p);
	p->per_cpu = zalloc(sizeof(*p->per_cpu) * g->nr_cpus);
	for (cpu = 0; cpu < g->nr_cpus; cpu++) {
		uint64_t cnt = p->id * 1000ull + cpu;

		kit_guest_set_stats(g, (uint32_t)(p - g->progs), cpu, cnt, cnt * 10, cpu % 2);
	}
}

/* The default program set (see kit-guest.h). */
static struct kit_prog_spec *default_specs(const struct kit_guest_opts *o, uint32_t *ret_nr)
{
	uint32_t n = o->nr_struct_ops ? o->nr_struct_ops : 4, i, k = 0, id = 1;
	struct kit_prog_spec *s = zalloc(sizeof(*s) * 2 * n);

	for (i = 0; i < n; i++) {
		bool scx = i % 2 == 0;

		s[k].id = id;
		s[k].iface = scx ? KIT_IFACE_SCX : KIT_IFACE_TCP;
		s[k].member = (i / 2) % 8;
		s[k].obj = scx ? "kitsched" : "kitcc";
		s[k].verified_insns = 1000 + 37 * i;
		k++;
		id += 1;
		if (!o->no_other_progs) {
			s[k].id = id;
			s[k].type = 2; /* BPF_PROG_TYPE_KPROBE */
			k++;
			id += 1;
		}
		id += 1; /* a hole */
	}
	*ret_nr = k;
	return s;
}

/*
 * The rule, evaluated on the kit's own truth: sched_ext's scheduler (when
 * enabled) and every other INUSE instance, in map id order; the scheduler is
 * the one named.
 */
static void expect_active(struct kit_guest *g, const struct kit_guest_inst *scx, bool scx_on)
{
	const struct kit_guest_inst *primary = NULL;
	uint32_t i;

	for (i = 0; i < g->nr_insts; i++) {
		const struct kit_guest_inst *in = &g->insts[i];

		bool in_use = in->spec.state == KTBPF_ST_INUSE ||
			      (in->spec.state == KTBPF_ST_READY && in->spec.linked);

		if (!(in == scx && scx_on) && (!in_use || in->spec.iface == KIT_IFACE_SCX))
			continue;
		g->active_ids[g->nr_active++] = in->map_id;
		if (!primary || in == scx)
			primary = in;
	}
	if (!primary)
		return;
	g->active_found = true;
	g->active_map_id = primary->map_id;
	g->active_iface = primary->iface;
	snprintf(g->active_obj, sizeof(g->active_obj), "%s", primary->obj);
}

/* Byte offset of member idx of the interface's ops struct (a module's: 8 * idx). */
static uint32_t member_off(const struct kit_guest *g, enum kit_iface i, uint32_t idx)
{
	const struct btf_type *t;

	if (i == KIT_IFACE_MODULE)
		return 8 * idx;
	t = btf__type_by_id(g->btf, i == KIT_IFACE_SCX ? g->lay.scx_ops_id : g->lay.tcp_ops_id);
	return btf_member_bit_offset(t, idx) / 8;
}

static uint32_t ops_size(const struct kit_guest *g, enum kit_iface i)
{
	return i == KIT_IFACE_SCX   ? g->lay.scx_ops_size
	       : i == KIT_IFACE_TCP ? g->lay.tcp_ops_size
				    : 8 * MOD_OPS_NR;
}

/*
 * The ops struct the kernel registers (kvalue.data): a trampoline address,
 * unique per map, in each implemented member's slot, and the name.
 */
static void fill_kdata(const struct kit_guest *g, const struct kit_guest_inst *in, uint8_t *buf)
{
	uint32_t k;

	memset(buf, 0, ops_size(g, in->spec.iface));
	for (k = 0; k < in->nr_members; k++) {
		uint64_t tramp = 0xffffffffa0000000ull + in->map_id * 0x10000ull +
				 in->member_idx[k] * 0x40ull;

		memcpy(buf + member_off(g, in->spec.iface, in->member_idx[k]), &tramp, 8);
	}
	if (in->spec.iface == KIT_IFACE_SCX)
		snprintf((char *)buf + g->lay.off.st.scx_ops_name, 16, "%s", in->spec.name);
}

/* Links (6.9+ layouts): one struct bpf_link per implemented member, pointing at its program. */
static void make_links(struct kit_guest *g, struct kit_guest_inst *in)
{
	uint64_t pa, lkva, lpa;
	uint32_t k;

	if (g->lay.off.st.stm_funcs_cnt == KTBPF_OFFSET_NONE || !in->nr_members)
		return;
	kit_kernel_kmalloc(g->kk, 8ull * in->nr_members, &in->links_kva, &pa);
	for (k = 0; k < in->nr_members; k++) {
		kit_kernel_kmalloc(g->kk, g->lay.link_size, &lkva, &lpa);
		kit_w64(g->im, lpa + g->lay.off.st.link_prog,
			kit_guest_prog(g, in->prog_id[k])->kva);
		kit_w64(g->im, pa + 8ull * k, lkva);
	}
	kit_kernel_w64(g->kk, in->kva + g->lay.off.st.stm_links, in->links_kva);
	kit_kernel_w32(g->kk, in->kva + g->lay.off.st.stm_funcs_cnt, in->nr_members);
}

/* A struct bpf_struct_ops_link in link_idr attaching the instance (bpf_struct_ops_link_create()).
 */
static void make_st_link(struct kit_guest *g, struct kit_guest_inst *in)
{
	const struct ktbpf_st_offsets *st = &g->lay.off.st;
	uint64_t kva, pa;
	uint32_t id = ++g->next_link_id;

	if (st->stlink_map == KTBPF_OFFSET_NONE)
		die("linked instance: this BTF variant has no bpf_struct_ops_link", in->spec.name);
	kit_kernel_kmalloc(g->kk, g->lay.link_size + 32, &kva, &pa);
	kit_w32(g->im, pa + st->link_id, id);
	kit_w32(g->im, pa + st->link_type, (uint32_t)st->link_type_st_ops);
	kit_w64(g->im, pa + st->stlink_map, in->kva);
	kit_xa_store(g->link_xa, id, kva);
}

static void make_inst(struct kit_guest *g, struct kit_guest_inst *in)
{
	const struct ktbpf_st_offsets *st = &g->lay.off.st;
	uint32_t osz = ops_size(g, in->spec.iface), k, j, vvt;
	uint8_t *kdata = zalloc(osz);
	uint64_t upa, desc, desc_pa;

	in->iface = iface_name(in->spec.iface);
	for (k = 0; k < in->spec.nr_prog_ids; k++) {
		const struct kit_guest_prog *p = kit_guest_prog(g, in->spec.prog_ids[k]);

		if (!p || !p->struct_ops || p->spec.iface != in->spec.iface ||
		    in->nr_members == KTBPF_MAX_OPS_MEMBERS)
			die("instance member: no such struct_ops program of its interface",
			    in->spec.name);
		for (j = in->nr_members; j > 0 && in->member_idx[j - 1] > p->spec.member; j--) {
			in->member_idx[j] = in->member_idx[j - 1];
			in->prog_id[j] = in->prog_id[j - 1];
			in->member[j] = in->member[j - 1];
		}
		in->member_idx[j] = p->spec.member;
		in->prog_id[j] = p->id;
		in->member[j] = p->member;
		in->nr_members++;
	}
	for (k = 0; k < in->nr_members && !in->obj[0]; k++) {
		const struct kit_guest_prog *p = kit_guest_prog(g, in->prog_id[k]);

		if (p->spec.obj)
			snprintf(in->obj, sizeof(in->obj), "%s", p->spec.obj);
	}
	in->kva = new_map_sized(g, in->spec.name, KTBPF_BPF_MAP_TYPE_STRUCT_OPS,
				g->lay.stmap_size + osz, &in->map_id);
	vvt = in->spec.iface == KIT_IFACE_SCX	? g->lay.scx_value_id
	      : in->spec.iface == KIT_IFACE_TCP ? g->lay.tcp_value_id
						: btf__type_cnt(g->btf) + 10;
	kit_kernel_w32(g->kk, in->kva + st->map_vvt_id, vvt);
	if (st->stm_desc != KTBPF_OFFSET_NONE) {
		kit_kernel_kmalloc(g->kk, g->lay.st_desc_size, &desc, &desc_pa);
		kit_w64(g->im, desc_pa + st->desc_st_ops, st_ops_obj(g, in->spec.iface));
		kit_kernel_w64(g->kk, in->kva + st->stm_desc, desc);
	} else {
		kit_kernel_w64(g->kk, in->kva + st->stm_ops, st_ops_obj(g, in->spec.iface));
	}
	kit_kernel_kmalloc(g->kk, g->lay.st_value_size + osz, &in->uvalue_kva, &upa);
	kit_w32(g->im, upa + st->val_state, in->spec.state);
	for (k = 0; k < in->nr_members; k++)
		kit_w64(g->im,
			upa + st->val_data + member_off(g, in->spec.iface, in->member_idx[k]),
			in->prog_id[k]);
	kit_kernel_w64(g->kk, in->kva + st->stm_uvalue, in->uvalue_kva);
	kit_kernel_w32(g->kk, in->kva + st->stm_kvalue + st->val_state, in->spec.state);
	fill_kdata(g, in, kdata);
	kit_kernel_wkva(g->kk, in->kva + st->stm_kvalue + st->val_data, kdata, osz);
	make_links(g, in);
	if (in->spec.linked)
		make_st_link(g, in);
	free(kdata);
}

/*
 * The default instances: one per (object, interface) of the struct_ops
 * programs, holding all of that object's programs of that interface. *ids
 * (freed by the caller) holds their id lists, nr_progs entries each.
 */
static struct kit_st_spec *default_insts(struct kit_guest *g, uint32_t *ret_nr, uint32_t **ids)
{
	struct kit_st_spec *sp = zalloc(sizeof(*sp) * (g->nr_progs + 1));
	uint32_t i, k, n = 0, *list;

	*ids = zalloc(sizeof(**ids) * (g->nr_progs + 1) * (g->nr_progs + 1));
	for (i = 0; i < g->nr_progs; i++) {
		const struct kit_guest_prog *p = &g->progs[i];

		if (!p->struct_ops || !p->spec.obj)
			continue;
		for (k = 0; k < n; k++)
			if (!strcmp(sp[k].name, p->spec.obj) && sp[k].iface == p->spec.iface)
				break;
		if (k == n) {
			sp[n].name = p->spec.obj;
			sp[n].iface = p->spec.iface;
			sp[n].state =
				p->spec.iface == KIT_IFACE_SCX ? KTBPF_ST_READY : KTBPF_ST_INUSE;
			sp[n].prog_ids = *ids + (size_t)n * (g->nr_progs + 1);
			n++;
		}
		/* One program per member: a second one of the same member starts no new slot. */
		list = (uint32_t *)sp[k].prog_ids;
		{
			uint32_t j;
			bool dup = false;

			for (j = 0; j < sp[k].nr_prog_ids; j++)
				dup |= kit_guest_prog(g, list[j])->spec.member == p->spec.member;
			if (!dup)
				list[sp[k].nr_prog_ids++] = p->id;
		}
	}
	*ret_nr = n;
	return sp;
}

/* A static of kernel/sched/ext.c holding v (size 4 or 8); its kva. */
static uint64_t scx_static(struct kit_guest *g, const char *name, uint32_t size, uint64_t v)
{
	uint64_t kva, pa;

	kit_kernel_add_symbol(g->kk, name, size, size, &kva, &pa);
	if (size == 4)
		kit_w32(g->im, pa, (uint32_t)v);
	else
		kit_w64(g->im, pa, v);
	return kva;
}

/* struct scx_exit_info of an scx_bpf_error() exit (the KIT_SCX_EXIT_* truth). */
static uint64_t scx_exit_info(struct kit_guest *g)
{
	const struct ktbpf_scx_offsets *o = &g->lay.off.st.scx;
	uint64_t ei, pa, s, spa, bt, btpa;
	uint32_t i;

	kit_kernel_kmalloc(g->kk, 64, &ei, &pa);
	kit_w32(g->im, pa + o->ei_kind, KIT_SCX_EXIT_KIND);
	kit_w64(g->im, pa + o->ei_exit_code, (uint64_t)(int64_t)KIT_SCX_EXIT_CODE);
	kit_kernel_kmalloc(g->kk, 256, &s, &spa);
	kit_wbytes(g->im, spa, KIT_SCX_EXIT_REASON, sizeof(KIT_SCX_EXIT_REASON));
	kit_w64(g->im, pa + o->ei_reason, s);
	kit_kernel_kmalloc(g->kk, 1024, &s, &spa);
	kit_wbytes(g->im, spa, KIT_SCX_EXIT_MSG, sizeof(KIT_SCX_EXIT_MSG));
	kit_w64(g->im, pa + o->ei_msg, s);
	kit_kernel_kmalloc(g->kk, 4096, &s, &spa);
	kit_wbytes(g->im, spa, KIT_SCX_EXIT_DUMP, sizeof(KIT_SCX_EXIT_DUMP));
	kit_w64(g->im, pa + o->ei_dump, s);
	kit_kernel_kmalloc(g->kk, 64 * 8, &bt, &btpa);
	g->scx_bt_kva = bt;
	kit_kernel_add_symbol_type(g->kk, KIT_SCX_EXIT_BT_FUNC, 't', 0x100, 16, &s, &spa);
	for (i = 0; i < KIT_SCX_EXIT_BT_LEN; i++) {
		g->scx_bt[i] = s + 0x10 * i;
		kit_w64(g->im, btpa + 8 * i, g->scx_bt[i]);
	}
	kit_w64(g->im, pa + o->ei_bt, bt);
	kit_w32(g->im, pa + o->ei_bt_len, KIT_SCX_EXIT_BT_LEN);
	return ei;
}

/* Event counter i of CPU c = KIT_SCX_EVENT(i, c), at each CPU's copy of template + off. */
static void write_events(struct kit_guest *g, uint64_t template, uint32_t off)
{
	const struct ktbpf_scx_offsets *o = &g->lay.off.st.scx;
	uint32_t c, i;

	for (c = 0; c < g->nr_cpus; c++) {
		uint64_t cpa = kit_kernel_percpu_pa(g->kk, template, c);

		for (i = 0; i < KIT_BTF_SCX_NR_EVENTS; i++)
			kit_w64(g->im, cpa + off + o->events[i].off, (uint64_t)KIT_SCX_EVENT(i, c));
	}
}

/*
 * The rest of sched_ext's state: statics everywhere for the watchdog's
 * timestamp, jiffies, rejected and enable counters and __scx_switched_all;
 * exit kind and info, bypass depth and watchdog timeout as statics (6.12) or
 * in struct scx_sched (sch != 0), with its per-CPU event counters.
 */
static void make_scx_state(struct kit_guest *g, uint64_t sch_pa)
{
	const struct ktbpf_scx_offsets *o = &g->lay.off.st.scx;
	uint64_t ei = g->opts.scx_no_exit_info ? 0 : scx_exit_info(g), key, pa;

	scx_static(g, "jiffies_64", 8, KIT_SCX_JIFFIES);
	scx_static(g, "scx_watchdog_timestamp", 8, KIT_SCX_JIFFIES - KIT_SCX_AGE);
	scx_static(g, "scx_nr_rejected", 8, KIT_SCX_NR_REJECTED);
	scx_static(g, "scx_enable_seq", 8, KIT_SCX_ENABLE_SEQ);
	scx_static(g, "scx_hotplug_seq", 8, KIT_SCX_HOTPLUG_SEQ);
	scx_static(g, "scx_switching_all", 8, 1); /* a bool; read as its first byte */
	kit_kernel_add_symbol(g->kk, "__scx_switched_all", 16, 8, &key, &pa);
	kit_w32(g->im, pa + g->lay.off.static_key_enabled, 1);
	g->scx_exit_info_kva = ei;
	if (g->opts.scx != KIT_SCX_ROOT) {
		scx_static(g, "scx_exit_kind", 4, KIT_SCX_EXIT_KIND);
		g->scx_exit_ptr_kva = scx_static(g, "scx_exit_info", 8, ei);
		scx_static(g, "scx_ops_bypass_depth", 4, KIT_SCX_BYPASS);
		scx_static(g, "scx_watchdog_timeout", 8, KIT_SCX_TIMEOUT);
		if (g->opts.scx_static_events) {
			uint64_t tmpl;

			kit_kernel_percpu_alloc(g->kk, o->event_stats_size, &tmpl);
			kit_kernel_add_symbol_at(g->kk, "event_stats_cpu", 'd', tmpl);
			write_events(g, tmpl, 0);
		}
		return;
	}
	if (!sch_pa)
		return;
	kit_w32(g->im, sch_pa + o->sch_exit_kind, KIT_SCX_EXIT_KIND);
	kit_w64(g->im, sch_pa + o->sch_exit_info, ei);
	g->scx_exit_ptr_kva = g->scx_sched_kva + o->sch_exit_info;
	kit_w32(g->im, sch_pa + o->sch_bypass_depth, KIT_SCX_BYPASS);
	kit_w64(g->im, sch_pa + o->sch_watchdog_timeout, KIT_SCX_TIMEOUT);
	kit_kernel_percpu_alloc(g->kk, g->lay.scx_pcpu_size, &g->scx_pcpu);
	kit_w64(g->im, sch_pa + o->sch_pcpu, g->scx_pcpu);
	write_events(g, g->scx_pcpu, o->pcpu_event_stats);
}

/* sched_ext's statics (kernel/sched/ext.c) with the attached instance's ops copied. */
static void make_scx(struct kit_guest *g, const struct kit_guest_inst *at, uint32_t state)
{
	uint32_t osz = g->lay.scx_ops_size;
	uint8_t *kdata = zalloc(osz);
	uint64_t pa, spa = 0, flags = KIT_SCX_FLAGS;

	if (at) {
		fill_kdata(g, at, kdata);
		memcpy(kdata + g->lay.off.st.scx.ops_flags, &flags, 8);
	}
	kit_kernel_add_symbol(g->kk,
			      g->opts.btf == KIT_BTF_V61 ? "scx_ops_enable_state_var"
							 : "scx_enable_state_var",
			      4, 4, &g->scx_state_kva, &pa);
	kit_w32(g->im, pa, state);
	if (g->opts.scx == KIT_SCX_ROOT) {
		kit_kernel_add_symbol(g->kk, "scx_root", 8, 8, &g->scx_root_kva, &pa);
		if (at) {
			kit_kernel_kmalloc(g->kk, g->lay.scx_sched_size, &g->scx_sched_kva, &spa);
			kit_wbytes(g->im, spa + g->lay.off.st.scx_sched_ops, kdata, osz);
			kit_w64(g->im, pa, g->scx_sched_kva);
		}
	} else {
		kit_kernel_add_symbol(g->kk, "scx_ops", osz, 64, &g->scx_ops_kva, &pa);
		if (at)
			kit_wbytes(g->im, pa, kdata, osz);
	}
	make_scx_state(g, spa);
	free(kdata);
}

uint64_t kit_guest_scx_copy_kva(const struct kit_guest *g)
{
	return g->scx_ops_kva	  ? g->scx_ops_kva
	       : g->scx_sched_kva ? g->scx_sched_kva + g->lay.off.st.scx_sched_ops
				  : 0;
}

static void make_insts(struct kit_guest *g)
{
	const struct kit_st_spec *specs = g->opts.instances;
	struct kit_st_spec *defaults = NULL;
	const struct kit_guest_inst *at = NULL;
	uint32_t n = g->opts.nr_instances, i, *ids = NULL, state;
	uint64_t pa;

	if (!g->opts.no_instances && !specs)
		specs = defaults = default_insts(g, &n, &ids);
	if (g->opts.no_instances)
		n = 0;
	g->insts = zalloc(sizeof(*g->insts) * (n + 1));
	for (i = 0; i < n; i++) {
		g->insts[i].spec = specs[i];
		make_inst(g, &g->insts[i]);
	}
	g->nr_insts = n;
	if (g->opts.scx_attached && g->opts.scx_attached != UINT32_MAX) {
		if (g->opts.scx_attached > n)
			die("scx_attached beyond the instances", NULL);
		at = &g->insts[g->opts.scx_attached - 1];
	} else if (!g->opts.scx_attached && defaults) {
		for (i = 0; i < n && !at; i++)
			if (g->insts[i].spec.iface == KIT_IFACE_SCX)
				at = &g->insts[i];
	}
	state = g->opts.scx_state_set ? g->opts.scx_state : at ? 1 : 3;
	if (g->opts.scx != KIT_SCX_NONE)
		make_scx(g, at, state);
	else
		at = NULL;
	expect_active(g, at, state == 1);
	free(defaults);
	free(ids);
	kit_kernel_add_symbol(g->kk, "map_idr", g->lay.idr_size, 8, &g->map_idr, &pa);
	kit_w64(g->im, pa + g->lay.off.idr_xa_head, kit_xa_head(g->map_xa));
	kit_w32(g->im, pa + g->lay.off.idr_next, g->next_map_id + 1);
	if (g->next_link_id) {
		kit_kernel_add_symbol(g->kk, "link_idr", g->lay.idr_size, 8, &g->link_idr, &pa);
		kit_w64(g->im, pa + g->lay.off.idr_xa_head, kit_xa_head(g->link_xa));
		kit_w32(g->im, pa + g->lay.off.idr_next, g->next_link_id + 1);
	}
}

static void make_idr(struct kit_guest *g)
{
	const struct ktbpf_offsets *o = &g->lay.off;
	uint64_t pa, key_pa;
	uint32_t i;

	kit_kernel_add_symbol(g->kk, "prog_idr", g->lay.idr_size, 8, &g->prog_idr, &pa);
	g->xa = kit_xa_new(g->im, g->kk->page_offset, &o->xa);
	for (i = 0; i < g->nr_progs; i++)
		kit_xa_store(g->xa, g->progs[i].id, g->progs[i].kva);
	kit_w64(g->im, pa + o->idr_xa_head, kit_xa_head(g->xa));
	kit_w32(g->im, pa + o->idr_next, g->nr_progs ? g->progs[g->nr_progs - 1].id + 1 : 0);
	if (g->opts.stats_key != KIT_STATS_UNREADABLE) {
		kit_kernel_add_symbol(g->kk, "bpf_stats_enabled_key", g->lay.static_key_size, 8,
				      &g->stats_key, &key_pa);
		kit_w32(g->im, key_pa + o->static_key_enabled,
			g->opts.stats_key == KIT_STATS_ENABLED);
		return;
	}
	/* Alone on its page (the padding keeps later .data off it), the page left out. */
	kit_kernel_add_symbol(g->kk, "bpf_stats_enabled_key", g->lay.static_key_size, 4096,
			      &g->stats_key, &key_pa);
	kit_kernel_add_symbol(g->kk, "kit_stats_key_pad", 4096 - g->lay.static_key_size, 8, NULL,
			      NULL);
	kit_w32(g->im, key_pa + o->static_key_enabled, 1);
	kit_guest_punch_hole(g, g->stats_key, g->lay.static_key_size);
}

static void make_progs(struct kit_guest *g, const struct kit_prog_spec *specs, uint32_t n)
{
	struct build *b = zalloc(sizeof(*b));
	uint32_t i, id = 0;

	b->g = g;
	if (n > KIT_GUEST_MAX_PROGS)
		die("too many programs", NULL);
	g->progs = zalloc(sizeof(*g->progs) * n);
	g->nr_progs = n;
	for (i = 0; i < n; i++) {
		struct kit_guest_prog *p = &g->progs[i];

		p->spec = specs[i];
		p->id = specs[i].id ? specs[i].id : id + 1;
		if (p->id <= id)
			die("program ids must increase", specs[i].name);
		id = p->id;
		make_prog(b, p);
		g->nr_struct_ops += p->struct_ops;
	}
	free(b);
}

/* Padding types at the end of the BTF (see kit_guest_opts). */
static void pad_btf(struct kit_guest *g)
{
	int u32 = btf__find_by_name_kind(g->btf, "u32", BTF_KIND_TYPEDEF);
	char name[64];
	uint32_t i, f;

	if (u32 < 0)
		u32 = btf__find_by_name_kind(g->btf, "unsigned int", BTF_KIND_INT);
	for (i = 0; i < g->opts.pad_btf_types; i++) {
		snprintf(name, sizeof(name), "kit_pad_%u_%u", g->opts.pad_seed, i);
		if (btf__add_struct(g->btf, name, 16) < 0)
			die("btf__add_struct", name);
		for (f = 0; f < 4; f++) {
			static const char *const fields[] = {"alpha", "beta", "gamma", "delta"};

			if (btf__add_field(g->btf, fields[f], u32, f * 32, 0) < 0)
				die("btf__add_field", name);
		}
	}
}

/* Padding text symbols in kallsyms (see kit_guest_opts), 16 bytes apart in .text. */
static void pad_symbols(struct kit_guest *g)
{
	char name[64];
	uint32_t i;

	for (i = 0; i < g->opts.pad_symbols; i++) {
		snprintf(name, sizeof(name), "kit_pad_function_%u_%u", g->opts.pad_seed, i);
		kit_kernel_add_symbol_at(g->kk, name, 't', g->kk->text_kva + 0x1000 + 16ull * i);
	}
}

struct kit_guest *kit_guest_new(const struct kit_guest_opts *opts)
{
	struct kit_guest *g = zalloc(sizeof(*g));
	struct kit_prog_spec *defaults = NULL;
	const struct kit_prog_spec *specs;
	uint32_t n, size;
	const void *raw;

	if (opts)
		g->opts = *opts;
	g->im = kit_image_new(g->opts.ram_size ? g->opts.ram_size : 128ull << 20);
	if (g->opts.kernel.arch == KTBPF_ARCH_AARCH64)
		g->im->gpa_base = KIT_A64_RAM_BASE; /* QEMU virt */
	g->btf = kit_btf_kernel_new_cpus(g->opts.btf, kit_nr_cpus_max(g->opts.kernel.nr_cpus),
					 &g->lay);
	g->kk = kit_kernel_new(g->im, &g->opts.kernel);
	g->nr_cpus = g->kk->opts.nr_cpus;
	pad_btf(g);
	raw = kit_btf_raw(g->btf, &size);
	kit_kernel_set_btf(g->kk, raw, size);
	specs = g->opts.progs;
	n = g->opts.nr_progs;
	if (!specs)
		specs = defaults = default_specs(&g->opts, &n);
	if (g->opts.scx == KIT_SCX_DEFAULT)
		g->opts.scx = KIT_SCX_OPS;
	g->map_xa = kit_xa_new(g->im, g->kk->page_offset, &g->lay.off.xa);
	g->link_xa = kit_xa_new(g->im, g->kk->page_offset, &g->lay.off.xa);
	make_progs(g, specs, n);
	free(defaults);
	make_idr(g);
	make_insts(g);
	pad_symbols(g);
	kit_kernel_finish(g->kk);
	return g;
}

void kit_guest_free(struct kit_guest *g)
{
	uint32_t i;

	if (!g)
		return;
	ktbpf_kernel_free(g->k);
	if (g->mem != g->im->mem)
		ktbpf_mem_free(g->mem);
	for (i = 0; i < g->nr_progs; i++)
		free(g->progs[i].per_cpu);
	free(g->progs);
	free(g->insts);
	kit_xa_free(g->xa);
	kit_xa_free(g->map_xa);
	kit_xa_free(g->link_xa);
	kit_kernel_free(g->kk);
	btf__free(g->btf);
	kit_image_free(g->im);
	free(g);
}

uint32_t kit_guest_index(const struct kit_guest *g, uint32_t id)
{
	uint32_t i;

	for (i = 0; i < g->nr_progs; i++)
		if (g->progs[i].id == id)
			return i;
	die("no program with that id", NULL);
	return 0;
}

const struct kit_guest_prog *kit_guest_prog(const struct kit_guest *g, uint32_t id)
{
	uint32_t i;

	for (i = 0; i < g->nr_progs; i++)
		if (g->progs[i].id == id)
			return &g->progs[i];
	return NULL;
}

void kit_guest_punch_hole(struct kit_guest *g, uint64_t kva, uint64_t len)
{
	uint64_t pa = kit_kernel_kva_pa(g->kk, kva) & ~4095ull;
	uint64_t end = (kit_kernel_kva_pa(g->kk, kva + len - 1) | 4095) + 1;

	if (g->k || g->nr_holes == 4 || end <= pa || end - pa > 1ull << 20)
		die("kit_guest_punch_hole: after discovery, too many holes or not contiguous",
		    NULL);
	g->holes[g->nr_holes][0] = pa;
	g->holes[g->nr_holes][1] = end;
	g->nr_holes++;
}

/* The region table: the image minus the holes (sorted first). */
static struct ktbpf_mem *holed_mem(struct kit_guest *g)
{
	struct ktbpf_mem *mem = ktbpf_mem_new();
	struct ktbpf_err err = {0};
	uint64_t at = g->im->gpa_base, end = g->im->gpa_base + g->im->size;
	uint32_t i, j;

	for (i = 1; i < g->nr_holes; i++)
		for (j = i; j > 0 && g->holes[j - 1][0] > g->holes[j][0]; j--) {
			uint64_t t0 = g->holes[j][0], t1 = g->holes[j][1];

			g->holes[j][0] = g->holes[j - 1][0];
			g->holes[j][1] = g->holes[j - 1][1];
			g->holes[j - 1][0] = t0;
			g->holes[j - 1][1] = t1;
		}
	for (i = 0; mem && i <= g->nr_holes; i++) {
		uint64_t stop = i < g->nr_holes ? g->holes[i][0] : end;

		if (stop > at && ktbpf_mem_add_buffer(mem, at, stop - at,
						      kit_ptr(g->im, at, stop - at), &err) < 0)
			die("ktbpf_mem_add_buffer", err.msg);
		if (i < g->nr_holes && g->holes[i][1] > at)
			at = g->holes[i][1];
	}
	if (!mem)
		die("out of memory", NULL);
	return mem;
}

struct ktbpf_kernel *kit_guest_kernel(struct kit_guest *g)
{
	struct ktbpf_err err = {0};

	if (g->k)
		return g->k;
	g->mem = g->nr_holes ? holed_mem(g) : kit_mem(g->im);
	if (ktbpf_kernel_discover(g->mem, NULL, &g->k, &err) < 0)
		die("ktbpf_kernel_discover", err.msg);
	return g->k;
}

void kit_guest_flood(struct kit_guest *g, uint32_t n, uint64_t stats)
{
	const struct ktbpf_offsets *o = &g->lay.off;
	uint32_t i, id = g->nr_progs ? g->progs[g->nr_progs - 1].id : 0;
	uint64_t prog_kva, prog_pa, aux_kva, aux_pa, pa;

	if (!g->nr_progs || (uint64_t)id + n > 0x7fffffffu)
		die("kit_guest_flood needs a first program and ids below INT_MAX", NULL);
	for (i = 0; i < n; i++) {
		id++;
		kit_kernel_kmalloc(g->kk, g->lay.prog_size, &prog_kva, &prog_pa);
		kit_kernel_kmalloc(g->kk, g->lay.aux_size, &aux_kva, &aux_pa);
		kit_w32(g->im, prog_pa + o->prog_type, KTBPF_BPF_PROG_TYPE_STRUCT_OPS);
		kit_w64(g->im, prog_pa + o->prog_aux, aux_kva);
		kit_w64(g->im, prog_pa + o->prog_stats, stats ? stats : g->progs[0].stats_template);
		kit_w32(g->im, aux_pa + o->aux_id, id);
		if (o->aux_prog != KTBPF_OFFSET_NONE)
			kit_w64(g->im, aux_pa + o->aux_prog, prog_kva);
		kit_w32(g->im, aux_pa + o->aux_attach_btf_id, g->lay.tcp_ops_id);
		kit_wbytes(g->im, aux_pa + o->aux_name, "flood", 6);
		kit_xa_store(g->xa, id, prog_kva);
	}
	kit_kernel_add_symbol(g->kk, "prog_idr", g->lay.idr_size, 8, NULL, &pa);
	kit_w64(g->im, pa + o->idr_xa_head, kit_xa_head(g->xa));
	kit_w32(g->im, pa + o->idr_next, id + 1);
}
