/* SPDX-License-Identifier: MIT */
/*
 * A BPF object's variables from guest RAM (vars.h): its maps from its
 * programs' used_maps, each map's header (include/linux/bpf.h struct
 * bpf_map), its BTF blob (kernel/bpf/btf.c struct btf: data, data_size;
 * btf_parse() copies the blob BPF_BTF_LOAD was given into data) and its
 * values (struct bpf_array: value[] for an array, whose mmapable values
 * are vmalloc'd, read page by page; pptrs[] for a per-CPU array,
 * element e of CPU c at pptrs[e] + __per_cpu_offset[c], kernel/bpf/
 * arraymap.c: bpf_percpu_array_copy()). Decoding is vars-render.c's; the
 * result object (its nodes, maps, strings in blocks that never move, the
 * BTF its names point into) is kept here.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/btf.h>

#include "progs-internal.h"
#include "vars-internal.h"

#define ARENA_BLOCK 65536u /* bytes per string block */

const char *ktbpf_var_kind_name(enum ktbpf_var_kind k)
{
	static const char *const names[] = {
		[KTBPF_VAR_INT] = "int",       [KTBPF_VAR_UINT] = "uint",
		[KTBPF_VAR_BOOL] = "bool",     [KTBPF_VAR_ENUM] = "enum",
		[KTBPF_VAR_FLOAT] = "float",   [KTBPF_VAR_STRING] = "string",
		[KTBPF_VAR_PTR] = "ptr",       [KTBPF_VAR_STRUCT] = "struct",
		[KTBPF_VAR_UNION] = "union",   [KTBPF_VAR_ARRAY] = "array",
		[KTBPF_VAR_PERCPU] = "percpu", [KTBPF_VAR_NOSUM] = "nosum",
		[KTBPF_VAR_ERROR] = "error",
	};

	return (unsigned)k < sizeof(names) / sizeof(names[0]) && names[k] ? names[k] : "unknown";
}

struct ktbpf_vars *vars_new(void)
{
	struct ktbpf_vars *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->priv = calloc(1, sizeof(*v->priv));
	if (!v->priv) {
		free(v);
		return NULL;
	}
	return v;
}

struct ktbpf_vars *ktbpf_vars_free(struct ktbpf_vars *v)
{
	struct arena_block *b, *n;
	size_t i;

	if (!v)
		return NULL;
	if (v->priv) {
		for (b = v->priv->blocks; b; b = n) {
			n = b->next;
			free(b);
		}
		for (i = 0; i < v->priv->nr_btfs; i++)
			btf__free(v->priv->btfs[i]);
		free(v->priv->btfs);
		free(v->priv);
	}
	free(v->nodes);
	free(v->maps);
	free(v);
	return NULL;
}

char *vars_alloc(struct ktbpf_vars *v, size_t n)
{
	struct vars_priv *p = v->priv;
	struct arena_block *b = p->blocks;

	if (!b || b->size - b->used < n) {
		size_t size = n > ARENA_BLOCK ? n : ARENA_BLOCK;

		b = malloc(sizeof(*b) + size);
		if (!b)
			return NULL;
		b->size = size;
		b->used = 0;
		b->next = p->blocks;
		p->blocks = b;
	}
	b->used += n;
	return b->data + b->used - n;
}

const char *vars_strdup(struct ktbpf_vars *v, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = vars_alloc(v, n);

	if (d)
		memcpy(d, s, n);
	return d;
}

int vars_keep_btf(struct ktbpf_vars *v, struct btf *btf)
{
	struct vars_priv *p = v->priv;

	if (p->nr_btfs == p->cap_btfs) {
		size_t cap = p->cap_btfs ? p->cap_btfs * 2 : 4;
		struct btf **n = realloc(p->btfs, cap * sizeof(*n));

		if (!n) {
			btf__free(btf);
			return -ENOMEM;
		}
		p->btfs = n;
		p->cap_btfs = cap;
	}
	p->btfs[p->nr_btfs++] = btf;
	return 0;
}

void vars_diag(struct ktbpf_vars *v, int code, uint64_t addr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vappend(v->diags, &v->nr_diags, &v->diags_dropped, code, 0, addr, fmt, ap);
	va_end(ap);
}

struct ktbpf_vars_map *vars_add_map(struct ktbpf_vars *v)
{
	struct vars_priv *p = v->priv;

	if (v->nr_maps == p->cap_maps) {
		size_t cap = p->cap_maps ? p->cap_maps * 2 : 8;
		struct ktbpf_vars_map *n = realloc(v->maps, cap * sizeof(*n));

		if (!n)
			return NULL;
		v->maps = n;
		p->cap_maps = cap;
	}
	memset(&v->maps[v->nr_maps], 0, sizeof(v->maps[0]));
	return &v->maps[v->nr_maps++];
}

/* Bytes of per-CPU values read for one map (elements x CPUs x value size). */
#define MAX_PERCPU_BYTES (16u << 20)

struct vread {
	const struct ktbpf_kernel *k;
	struct ktbpf_snapshot *s;
	struct ktbpf_xlate *x;
	const struct ktbpf_offsets *o;
	const struct ktbpf_vars_offsets *vo;
	struct ktbpf_vars *v;
	/* BTF objects read, by their struct btf address (kept in v) */
	struct {
		uint64_t kva;
		struct btf *btf; /* NULL: unreadable, see err */
		int err;
		char msg[120];
	} btfs[KTBPF_VARS_MAX_MAPS];
	uint32_t nr_btfs;
};

/* The map header fields vars.c needs. */
struct map_head {
	uint32_t type, id, value_size, max_entries, value_type_id;
	uint64_t btf;
	char name[KTBPF_OBJ_NAME_LEN + 1];
};

static int read_head(struct vread *r, uint64_t kva, struct map_head *h, struct ktbpf_err *e)
{
	const struct ktbpf_vars_offsets *vo = r->vo;
	int rc;

	if ((rc = ktbpf_xlate_read_u32(r->x, kva + r->o->st.map_type, &h->type, e)) < 0 ||
	    (rc = ktbpf_xlate_read_u32(r->x, kva + r->o->st.map_id, &h->id, e)) < 0 ||
	    (rc = ktbpf_xlate_read_u32(r->x, kva + vo->map_value_size, &h->value_size, e)) < 0 ||
	    (rc = ktbpf_xlate_read_u32(r->x, kva + vo->map_max_entries, &h->max_entries, e)) < 0 ||
	    (rc = ktbpf_xlate_read_u32(r->x, kva + vo->map_btf_value_type_id, &h->value_type_id,
				       e)) < 0 ||
	    (rc = ktbpf_xlate_read_u64(r->x, kva + vo->map_btf, &h->btf, e)) < 0 ||
	    (rc = ktbpf_xlate_read(r->x, kva + r->o->map_name, h->name, KTBPF_OBJ_NAME_LEN, e)) < 0)
		return rc;
	h->name[KTBPF_OBJ_NAME_LEN] = '\0';
	return 0;
}

/* The object's BTF at btf_kva, read and parsed once per result; NULL with m's error set. */
static struct btf *get_btf(struct vread *r, uint64_t btf_kva, struct ktbpf_vars_map *m)
{
	struct ktbpf_err e = {0};
	uint64_t data, base = 0;
	uint32_t size, i;
	struct btf *btf = NULL;
	void *buf = NULL;
	int rc;

	for (i = 0; i < r->nr_btfs; i++)
		if (r->btfs[i].kva == btf_kva)
			goto found;
	if (r->nr_btfs == KTBPF_VARS_MAX_MAPS)
		return NULL; /* cannot happen: one BTF per map at most */
	i = r->nr_btfs++;
	r->btfs[i].kva = btf_kva;
	r->btfs[i].btf = NULL;
	if ((rc = ktbpf_xlate_read_u64(r->x, btf_kva + r->vo->btf_data, &data, &e)) < 0 ||
	    (rc = ktbpf_xlate_read_u32(r->x, btf_kva + r->vo->btf_data_size, &size, &e)) < 0 ||
	    (r->vo->btf_base_btf != KTBPF_OFFSET_NONE &&
	     (rc = ktbpf_xlate_read_u64(r->x, btf_kva + r->vo->btf_base_btf, &base, &e)) < 0)) {
		r->btfs[i].err = rc;
		snprintf(r->btfs[i].msg, sizeof(r->btfs[i].msg), "struct btf unreadable: %.90s",
			 e.msg);
		goto found;
	}
	if (base) {
		r->btfs[i].err = -EOPNOTSUPP;
		snprintf(r->btfs[i].msg, sizeof(r->btfs[i].msg),
			 "its BTF is split BTF (base_btf set): not decoded");
		goto found;
	}
	if (size == 0 || size > KTBPF_VARS_MAX_BTF) {
		r->btfs[i].err = -EUCLEAN;
		snprintf(r->btfs[i].msg, sizeof(r->btfs[i].msg),
			 "its BTF is %" PRIu32 " bytes (bound %u): corrupt?", size,
			 KTBPF_VARS_MAX_BTF);
		goto found;
	}
	buf = malloc(size);
	if (!buf) {
		r->btfs[i].err = -ENOMEM;
		snprintf(r->btfs[i].msg, sizeof(r->btfs[i].msg), "out of memory for its BTF");
		goto found;
	}
	rc = ktbpf_xlate_read(r->x, data, buf, size, &e);
	if (rc == 0)
		rc = vars_btf_parse(buf, size, &btf, &e);
	free(buf);
	if (rc == 0)
		rc = vars_keep_btf(r->v, btf);
	if (rc < 0) {
		r->btfs[i].err = rc;
		snprintf(r->btfs[i].msg, sizeof(r->btfs[i].msg), "its BTF: %.100s", e.msg);
		goto found;
	}
	r->btfs[i].btf = btf;
found:
	if (!r->btfs[i].btf) {
		m->error = r->btfs[i].err;
		snprintf(m->msg, sizeof(m->msg), "%.150s", r->btfs[i].msg);
	}
	return r->btfs[i].btf;
}

static void map_error(struct vread *r, struct ktbpf_vars_map *m, int code, const char *msg)
{
	m->error = code;
	snprintf(m->msg, sizeof(m->msg), "%.150s", msg);
	vars_diag(r->v, code, m->kva, "map %" PRIu32 " (%s): %.120s", m->id, m->name, msg);
}

/* An array's value (element 0) of a global-section map, rendered with its DATASEC. */
static int read_global(struct vread *r, struct ktbpf_vars_map *m, const struct btf *btf,
		       uint32_t type_id)
{
	struct ktbpf_err e = {0};
	const uint8_t *bufs[1];
	uint8_t *buf;
	int rc;

	if (m->value_size > KTBPF_VARS_MAX_VALUE) {
		map_error(r, m, -E2BIG, "value over the read bound");
		return 0;
	}
	buf = malloc(m->value_size ? m->value_size : 1);
	if (!buf)
		return -ENOMEM;
	rc = ktbpf_xlate_read(r->x, m->kva + r->vo->array_value, buf, m->value_size, &e);
	if (rc < 0) {
		char msg[200];

		snprintf(msg, sizeof(msg), "value unreadable: %.130s", e.msg);
		map_error(r, m, rc, msg);
		free(buf);
		return 0;
	}
	bufs[0] = buf;
	m->first = r->v->nr_nodes;
	rc = vars_render(r->v, btf, type_id, bufs, 1, m->value_size, 0, NULL);
	m->nr = r->v->nr_nodes - m->first;
	free(buf);
	return rc;
}

/* A per-CPU array: each element's value on each possible CPU. */
static int read_percpu(struct vread *r, struct ktbpf_vars_map *m, const struct btf *btf,
		       uint32_t type_id)
{
	const struct ktbpf_cpu *cpus;
	uint32_t nr_cpus = 0, c, e, nr;
	uint64_t pptr;
	struct ktbpf_err er = {0};
	uint8_t *buf = NULL;
	const uint8_t **bufs = NULL;
	uint32_t *cpu_ids = NULL;
	int rc = 0;

	cpus = ktbpf_kernel_cpus(r->k, &nr_cpus);
	if (!cpus || !nr_cpus) {
		map_error(r, m, -ENOENT, "the possible CPUs are unknown");
		return 0;
	}
	nr = m->max_entries < KTBPF_VARS_MAX_ENTRIES ? m->max_entries : KTBPF_VARS_MAX_ENTRIES;
	if (m->value_size == 0 || (uint64_t)m->value_size * nr_cpus > MAX_PERCPU_BYTES) {
		map_error(r, m, -E2BIG, "values of all CPUs over the read bound");
		return 0;
	}
	if ((uint64_t)nr * m->value_size * nr_cpus > MAX_PERCPU_BYTES)
		nr = MAX_PERCPU_BYTES / ((uint64_t)m->value_size * nr_cpus);
	if (nr < m->max_entries) {
		vars_diag(r->v, -E2BIG, m->kva,
			  "map %" PRIu32 " (%s): %" PRIu32 " elements, the first %" PRIu32 " read",
			  m->id, m->name, m->max_entries, nr);
		r->v->capped = true;
	}
	buf = malloc((size_t)m->value_size * nr_cpus);
	bufs = malloc(sizeof(*bufs) * nr_cpus);
	cpu_ids = malloc(sizeof(*cpu_ids) * nr_cpus);
	if (!buf || !bufs || !cpu_ids) {
		rc = -ENOMEM;
		goto out;
	}
	m->nr_cpus = nr_cpus;
	m->first = r->v->nr_nodes;
	for (e = 0; e < nr && rc == 0; e++) {
		rc = ktbpf_xlate_read_u64(r->x, m->kva + r->vo->array_value + 8ull * e, &pptr, &er);
		for (c = 0; c < nr_cpus && rc == 0; c++) {
			bufs[c] = buf + (size_t)m->value_size * c;
			cpu_ids[c] = cpus[c].cpu;
			rc = ktbpf_xlate_read(r->x, pptr + cpus[c].offset,
					      buf + (size_t)m->value_size * c, m->value_size, &er);
		}
		if (rc < 0) {
			char msg[200];

			snprintf(msg, sizeof(msg), "element %" PRIu32 " unreadable: %.120s", e,
				 er.msg);
			map_error(r, m, rc, msg);
			rc = 0;
			break;
		}
		rc = vars_render(r->v, btf, type_id, bufs, nr_cpus, m->value_size, e, cpu_ids);
	}
	m->nr = r->v->nr_nodes - m->first;
out:
	free(buf);
	free(bufs);
	free(cpu_ids);
	return rc;
}

/* One map of the object: a global-section array or a per-CPU array; others are skipped. */
static int read_map(struct vread *r, uint64_t kva)
{
	struct ktbpf_err e = {0};
	struct map_head h;
	struct ktbpf_vars_map *m;
	const struct btf_type *t;
	struct btf *btf;
	const char *sec;
	int rc;

	rc = read_head(r, kva, &h, &e);
	if (rc < 0) {
		vars_diag(r->v, rc, e.has_addr ? e.addr : kva, "a map of the object unreadable: %s",
			  e.msg);
		return 0;
	}
	if (h.type != KTBPF_BPF_MAP_TYPE_ARRAY && h.type != KTBPF_BPF_MAP_TYPE_PERCPU_ARRAY)
		return 0;
	m = vars_add_map(r->v);
	if (!m)
		return -ENOMEM;
	m->id = h.id;
	m->kva = kva;
	memcpy(m->name, h.name, sizeof(m->name));
	m->map_type = h.type;
	m->value_size = h.value_size;
	m->max_entries = h.max_entries;
	if (!h.btf || !h.value_type_id) {
		/* An array without BTF is only ours when it is named like a section. */
		if (h.type == KTBPF_BPF_MAP_TYPE_ARRAY && !strchr(h.name, '.')) {
			r->v->nr_maps--;
			return 0;
		}
		map_error(r, m, -ENOENT, "created without BTF: variables have no names");
		return 0;
	}
	btf = get_btf(r, h.btf, m);
	if (!btf) {
		vars_diag(r->v, m->error, kva, "map %" PRIu32 " (%s): %s", m->id, m->name, m->msg);
		return 0;
	}
	t = btf__type_by_id(btf, h.value_type_id);
	if (!t) {
		map_error(r, m, -EUCLEAN, "btf_value_type_id is not in its BTF");
		return 0;
	}
	if (h.type == KTBPF_BPF_MAP_TYPE_ARRAY) {
		if (!btf_is_datasec(t)) {
			r->v->nr_maps--; /* a plain array of the object, not its globals */
			return 0;
		}
		sec = btf__name_by_offset(btf, t->name_off);
		snprintf(m->section, sizeof(m->section), "%s", sec ? sec : "");
		return read_global(r, m, btf, h.value_type_id);
	}
	return read_percpu(r, m, btf, h.value_type_id);
}

static int add_kva(uint64_t *kvas, uint32_t *nr, uint64_t kva)
{
	uint32_t i;

	for (i = 0; i < *nr; i++)
		if (kvas[i] == kva)
			return 0;
	if (*nr == KTBPF_VARS_MAX_MAPS)
		return -E2BIG;
	kvas[(*nr)++] = kva;
	return 0;
}

/* The maps of obj's programs (used_maps of the members of its instances). */
static int object_maps(struct vread *r, const char *obj, uint64_t *kvas, uint32_t *nr,
		       struct ktbpf_err *err)
{
	const struct ktbpf_snapshot *s = r->s;
	uint64_t maps[KTBPF_MAX_USED_MAPS];
	bool found = false;
	size_t i;
	uint32_t mi, j;

	for (i = 0; i < s->nr_instances; i++) {
		const struct ktbpf_st_instance *in = &s->instances[i];

		if (strcmp(in->obj_name, obj))
			continue;
		found = true;
		for (mi = 0; mi < in->nr_members; mi++) {
			const struct ktbpf_prog *p = snap_prog_by_id(s, in->members[mi].prog_id);
			struct ktbpf_err e = {0};

			if (!p || !p->nr_maps || !p->used_maps_kva)
				continue;
			if (ktbpf_xlate_read(r->x, p->used_maps_kva, maps, 8ull * p->nr_maps, &e) <
			    0) {
				vars_diag(r->v, e.code, e.addr, "prog %" PRIu32 ": used_maps: %s",
					  p->id, e.msg);
				continue;
			}
			for (j = 0; j < p->nr_maps; j++)
				if (maps[j] && add_kva(kvas, nr, maps[j]) < 0 && !r->v->capped) {
					r->v->capped = true;
					vars_diag(r->v, -E2BIG, 0,
						  "object %s uses more than %d maps: the rest not "
						  "read",
						  obj, KTBPF_VARS_MAX_MAPS);
				}
		}
	}
	if (!found)
		return ktbpf_err_set(err, -ENOENT, "no loaded struct_ops object is named '%s'",
				     obj);
	return 0;
}

/* The maps with the ids asked for, from map_idr. */
static int id_maps(struct vread *r, const struct ktbpf_vars_query *q, uint64_t *kvas, uint32_t *nr,
		   struct ktbpf_err *err)
{
	const struct ktbpf_kernel_info *info = ktbpf_kernel_info(r->k);
	uint64_t head, entry;
	size_t i;
	int rc;

	if (!info->map_idr)
		return ktbpf_err_set(err, -ENOENT, "no map_idr symbol: maps cannot be found by id");
	rc = ktbpf_xlate_read_u64(r->x, info->map_idr + r->o->idr_xa_head, &head, err);
	if (rc < 0)
		return ktbpf_err_prefix(err, rc, "map_idr: ");
	for (i = 0; i < q->nr_map_ids && i < KTBPF_VARS_MAX_MAPS; i++) {
		rc = ktbpf_xa_load(r->x, &r->o->xa, head, q->map_ids[i], &entry, err);
		if (rc < 0)
			return ktbpf_err_prefix(err, rc, "map %" PRIu32 ": ", q->map_ids[i]);
		if (!entry || ktbpf_xa_is_internal(entry) || ktbpf_xa_is_value(entry))
			return ktbpf_err_set(err, -ENOENT, "no map with id %" PRIu32,
					     q->map_ids[i]);
		add_kva(kvas, nr, entry);
	}
	return 0;
}

static int cmp_map(const void *a, const void *b)
{
	const struct ktbpf_vars_map *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

int ktbpf_vars_read(const struct ktbpf_kernel *k, struct ktbpf_snapshot *s,
		    const struct ktbpf_vars_query *q, struct ktbpf_vars **ret,
		    struct ktbpf_err *err)
{
	static const struct ktbpf_vars_query none = {0};
	uint64_t kvas[KTBPF_VARS_MAX_MAPS];
	uint32_t nr = 0, i;
	const char *obj;
	struct vread *r;
	int rc = 0;

	if (!k || !s || !s->walker || s->walker->serial != kernel_serial(k))
		return ktbpf_err_set(err, -EINVAL,
				     "variables need a snapshot walked of this kernel");
	q = q ? q : &none;
	r = calloc(1, sizeof(*r));
	if (!r)
		return ktbpf_err_set(err, -ENOMEM, "out of memory");
	r->k = k;
	r->s = s;
	r->x = s->walker->x;
	r->o = ktbpf_kernel_offsets(k);
	r->vo = &r->o->vars;
	if (!r->vo->ok || r->o->st.map_type == KTBPF_OFFSET_NONE ||
	    r->o->st.map_id == KTBPF_OFFSET_NONE) {
		rc = ktbpf_err_set(err, -EOPNOTSUPP,
				   "the guest kernel's BTF lacks the layout of struct bpf_array, "
				   "bpf_map's BTF members or struct btf: variables cannot be read");
		goto out;
	}
	r->v = vars_new();
	if (!r->v) {
		rc = ktbpf_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	obj = q->obj && q->obj[0] ? q->obj : s->active.obj_name;
	if (q->nr_map_ids) {
		rc = id_maps(r, q, kvas, &nr, err);
	} else if (!obj[0]) {
		rc = ktbpf_err_set(err, -ENOENT, "no active BPF object to read variables of%s%s",
				   s->active.reason[0] ? ": " : "", s->active.reason);
	} else {
		snprintf(r->v->obj, sizeof(r->v->obj), "%s", obj);
		rc = object_maps(r, obj, kvas, &nr, err);
	}
	for (i = 0; i < nr && rc == 0; i++)
		rc = read_map(r, kvas[i]);
	if (rc == -ENOMEM)
		ktbpf_err_set(err, rc, "out of memory reading variables");
	if (rc < 0)
		goto out;
	if (r->v->nr_maps > 1) /* maps is NULL when none was kept (qsort's base is nonnull) */
		qsort(r->v->maps, r->v->nr_maps, sizeof(r->v->maps[0]), cmp_map);
	*ret = r->v;
	r->v = NULL;
out:
	ktbpf_vars_free(r->v);
	free(r);
	return rc;
}
