/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/btf.h>

#include "kit-vars.h"
#include "ktbpf/vars.h"

#define PAGE 4096ull

static void die(const char *what)
{
	fprintf(stderr, "kit-vars: %s\n", what);
	abort();
}

static uint64_t new_btf(struct kit_guest *g, const void *raw, uint32_t size)
{
	uint64_t data, kva, pa;

	kit_kernel_vmalloc(g->kk, size, &data);
	kit_kernel_wkva(g->kk, data, raw, size);
	kit_kernel_kmalloc(g->kk, g->lay.btf_size, &kva, &pa);
	kit_kernel_w64(g->kk, kva + g->lay.off.vars.btf_data, data);
	kit_kernel_w32(g->kk, kva + g->lay.off.vars.btf_data_size, size);
	return kva;
}

uint64_t kit_vars_map_new(struct kit_guest *g, const struct kit_vars_map_spec *sp, uint32_t *ret_id,
			  uint64_t *ret_btf_kva)
{
	const struct ktbpf_vars_offsets *vo = &g->lay.off.vars;
	uint64_t hdr = (vo->array_value + PAGE - 1) / PAGE * PAGE, area, kva, btf = sp->btf_kva;
	uint32_t id = ++g->next_map_id, e, c;
	uint64_t vsize =
		sp->type == KTBPF_BPF_MAP_TYPE_ARRAY ? sp->value_size : 8ull * sp->max_entries;

	if (strlen(sp->name) > KTBPF_OBJ_NAME_LEN - 1)
		die("map name too long");
	/* The header ends where value[] starts, on a page boundary (array_map_alloc()). */
	kit_kernel_vmalloc(g->kk, hdr + (vsize ? vsize : 1), &area);
	kva = area + hdr - vo->array_value;
	kit_kernel_wkva(g->kk, kva + g->lay.off.map_name, sp->name, strlen(sp->name));
	kit_kernel_w32(g->kk, kva + g->lay.off.st.map_type, sp->type);
	kit_kernel_w32(g->kk, kva + g->lay.off.st.map_id, id);
	kit_kernel_w32(g->kk, kva + vo->map_value_size, sp->value_size);
	kit_kernel_w32(g->kk, kva + vo->map_max_entries, sp->max_entries);
	kit_kernel_w32(g->kk, kva + vo->array_elem_size, (sp->value_size + 7) / 8 * 8);
	if (!btf && sp->btf)
		btf = new_btf(g, sp->btf, sp->btf_size);
	if (btf) {
		kit_kernel_w64(g->kk, kva + vo->map_btf, btf);
		kit_kernel_w32(g->kk, kva + vo->map_btf_value_type_id, sp->value_type_id);
	}
	if (sp->type == KTBPF_BPF_MAP_TYPE_ARRAY) {
		if (sp->value)
			kit_kernel_wkva(g->kk, kva + vo->array_value, sp->value, sp->value_size);
	} else {
		for (e = 0; e < sp->max_entries; e++) {
			uint64_t t;

			kit_kernel_percpu_alloc(g->kk, sp->value_size, &t);
			kit_kernel_w64(g->kk, kva + vo->array_value + 8ull * e, t);
			for (c = 0; c < g->nr_cpus && sp->value; c++)
				kit_wbytes(g->im, kit_kernel_percpu_pa(g->kk, t, c),
					   (const uint8_t *)sp->value +
						   ((uint64_t)e * g->nr_cpus + c) * sp->value_size,
					   sp->value_size);
		}
	}
	kit_xa_store(g->map_xa, id, kva);
	kit_kernel_w64(g->kk, g->map_idr + g->lay.off.idr_xa_head, kit_xa_head(g->map_xa));
	kit_kernel_w32(g->kk, g->map_idr + g->lay.off.idr_next, g->next_map_id + 1);
	if (ret_id)
		*ret_id = id;
	if (ret_btf_kva)
		*ret_btf_kva = btf;
	return kva;
}

void kit_vars_set_used_maps(struct kit_guest *g, uint32_t prog_id, const uint64_t *kvas, uint32_t n)
{
	const struct kit_guest_prog *p = kit_guest_prog(g, prog_id);
	uint64_t arr, pa;

	if (!p)
		die("no such program");
	kit_kernel_kmalloc(g->kk, 8ull * (n ? n : 1), &arr, &pa);
	kit_kernel_wkva(g->kk, arr, kvas, 8ull * n);
	kit_kernel_w64(g->kk, p->aux_kva + g->lay.off.aux_used_maps, arr);
	kit_kernel_w32(g->kk, p->aux_kva + g->lay.off.aux_used_map_cnt, n);
}

static int must(int id)
{
	if (id < 0)
		die("btf__add_* failed");
	return id;
}

/* The uei BTF (kit-vars.h); *ret_datasec: its .data DATASEC. */
static struct btf *uei_btf(bool kind_as_chars, int *ret_datasec)
{
	struct btf *b = btf__new_empty();
	int in, s64, chr, u32, r128, m1024, k4, st, var;

	if (!b)
		die("btf__new_empty");
	in = must(btf__add_int(b, "int", 4, BTF_INT_SIGNED));
	s64 = must(btf__add_int(b, "long long int", 8, BTF_INT_SIGNED));
	chr = must(btf__add_int(b, "char", 1, BTF_INT_SIGNED));
	u32 = must(btf__add_int(b, "unsigned int", 4, 0));
	r128 = must(btf__add_array(b, u32, chr, 128));
	m1024 = must(btf__add_array(b, u32, chr, 1024));
	k4 = must(btf__add_array(b, u32, chr, 4));
	st = must(btf__add_struct(b, "user_exit_info", KIT_UEI_SIZE));
	must(btf__add_field(b, "kind", kind_as_chars ? k4 : in, 0, 0));
	must(btf__add_field(b, "exit_code", s64, 64, 0));
	must(btf__add_field(b, "reason", r128, 128, 0));
	must(btf__add_field(b, "msg", m1024, 128 + 1024, 0));
	var = must(btf__add_var(b, "uei", BTF_VAR_GLOBAL_ALLOCATED, st));
	*ret_datasec = must(btf__add_datasec(b, ".data", KIT_UEI_SIZE));
	must(btf__add_datasec_var_info(b, var, 0, KIT_UEI_SIZE));
	return b;
}

void kit_vars_uei_value(uint8_t *v, int32_t kind, int64_t code, const char *reason, const char *msg)
{
	memset(v, 0, KIT_UEI_SIZE);
	memcpy(v, &kind, 4);
	memcpy(v + 8, &code, 8);
	memcpy(v + 16, reason, strnlen(reason, 128));
	memcpy(v + 16 + 128, msg, strnlen(msg, 1024));
}

uint64_t kit_vars_uei_map(struct kit_guest *g, const char *obj, const uint8_t *value,
			  bool kind_as_chars)
{
	struct kit_vars_map_spec sp = {0};
	char name[KTBPF_OBJ_NAME_LEN + 1];
	struct btf *b;
	const void *raw;
	uint32_t size, i;
	uint64_t kva;
	int sec;

	b = uei_btf(kind_as_chars, &sec);
	raw = btf__raw_data(b, &size);
	if (!raw)
		die("btf__raw_data");
	snprintf(name, sizeof(name), "%s.data", obj);
	sp.name = name;
	sp.type = KTBPF_BPF_MAP_TYPE_ARRAY;
	sp.btf = raw;
	sp.btf_size = size;
	sp.value_type_id = (uint32_t)sec;
	sp.value_size = KIT_UEI_SIZE;
	sp.max_entries = 1;
	sp.value = value;
	kva = kit_vars_map_new(g, &sp, NULL, NULL);
	for (i = 0; i < g->nr_progs; i++)
		if (g->progs[i].spec.obj && !strcmp(g->progs[i].spec.obj, obj))
			kit_vars_set_used_maps(g, g->progs[i].id, &kva, 1);
	btf__free(b);
	return kva;
}
