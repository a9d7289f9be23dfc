/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
