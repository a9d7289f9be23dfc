/* SPDX-License-Identifier: MIT */
/*
 * The struct_ops interfaces of a kernel, from its BTF, once (opstab-internal.h).
 *
 * An interface is an ops struct <name> that a subsystem registers with
 * bpf_struct_ops: the kernel finds its value type bpf_struct_ops_<name>
 * by name in vmlinux BTF (kernel/bpf/bpf_struct_ops.c:
 * bpf_struct_ops_desc_init(), VALUE_PREFIX), and that type's `data` member
 * is the ops struct (include/linux/bpf.h: DEFINE_STRUCT_OPS_VALUE_TYPE /
 * BPF_STRUCT_OPS_TYPE before 6.9). So the value types listed in the BTF are
 * the interfaces: 6.1 has bpf_dummy_ops and tcp_congestion_ops, 7.2 seven.
 * The walkers then name programs (attach_btf_id is the ops struct's id,
 * expected_attach_type the member index) and read instances (a map's
 * btf_vmlinux_value_type_id is the value type) from this table alone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/btf.h>

#include "offsets-internal.h"
#include "opstab-internal.h"

/* The ops struct of value type bpf_struct_ops_<name> (its `data` member); 0 if not one. */
static uint32_t ops_type_of(const struct btf *btf, const struct btf_type *t)
{
	const struct btf_member *m = btf_members(t);
	const struct btf_type *d;
	uint32_t i, id = 0;

	for (i = 0; i < btf_vlen(t) && i < 64; i++, m++) {
		const char *n = btf__name_by_offset(btf, m->name_off);

		if (n && !strcmp(n, "data")) {
			d = offsets_skip_mods(btf, m->type, &id);
			return d && btf_is_struct(d) ? id : 0;
		}
	}
	return 0;
}

/* A function-pointer member (a program slot) on a byte boundary? */
static bool is_fn_member(const struct btf *btf, const struct btf_type *t, uint32_t i)
{
	const struct btf_type *pt = offsets_skip_mods(btf, btf_members(t)[i].type, NULL);

	if (!pt || !btf_is_ptr(pt) || btf_member_bit_offset(t, i) % 8)
		return false;
	pt = offsets_skip_mods(btf, pt->type, NULL);
	return pt && btf_is_func_proto(pt);
}

static size_t name_len(const char *s)
{
	return s ? strnlen(s, KTBPF_IFACE_LEN - 1) : 0;
}

struct found {
	uint32_t value_id, type_id;
};

/* Bytes to copy name (bounded, terminated) into the pool at *pos. */
static const char *pool_put(char *pool, size_t *pos, const char *s)
{
	size_t n = name_len(s);
	char *d = pool + *pos;

	memcpy(d, s ? s : "", n);
	d[n] = '\0';
	*pos += n + 1;
	return d;
}

/* Fill interface l of the table from ops struct f (see ops_table_build()). */
static void fill(const struct btf *btf, const struct found *f, struct st_layout *l,
		 const char ***names, struct st_fn_member **fns, char *pool, size_t *pos)
{
	const struct btf_type *t = btf__type_by_id(btf, f->type_id);
	const struct btf_member *m = btf_members(t);
	struct st_fn_member *fn = *fns;
	uint32_t i, vlen = btf_vlen(t);

	l->value_id = f->value_id;
	l->type_id = f->type_id;
	l->size = t->size;
	l->name = pool_put(pool, pos, btf__name_by_offset(btf, t->name_off));
	l->capped = vlen > KTBPF_MAX_OPS_MEMBERS;
	l->nr_names = l->capped ? KTBPF_MAX_OPS_MEMBERS : vlen;
	l->names = *names;
	l->m = fn;
	l->n = 0;
	for (i = 0; i < l->nr_names; i++, m++) {
		(*names)[i] = pool_put(pool, pos, btf__name_by_offset(btf, m->name_off));
		if (!is_fn_member(btf, t, i))
			continue;
		fn[l->n].name = (*names)[i];
		fn[l->n].off = btf_member_bit_offset(t, i) / 8;
		fn[l->n].index = i;
		l->n++;
	}
	*names += l->nr_names;
	*fns += l->n;
}

int ops_table_build(const struct btf *btf, struct ops_table **ret, struct ktbpf_err *err)
{
	struct found f[OPS_MAX_IFACES];
	size_t nr_names = 0, pool = 0, bytes, pos = 0;
	uint32_t cnt = btf__type_cnt(btf), id, i, j, nr = 0;
	struct st_fn_member *fns;
	struct ops_table *t;
	char *pool_base;
	const char **names;
	bool capped = false;

	/* Pass 1: the interfaces and how much room their names take. */
	for (id = 1; id < cnt; id++) {
		const struct btf_type *v = btf__type_by_id(btf, id), *o;
		const char *n = v ? btf__name_by_offset(btf, v->name_off) : NULL;
		uint32_t type_id;

		if (!v || !btf_is_struct(v) || !n || strncmp(n, "bpf_struct_ops_", 15))
			continue;
		type_id = ops_type_of(btf, v);
		if (!type_id)
			continue;
		if (nr == OPS_MAX_IFACES) {
			capped = true;
			break;
		}
		f[nr].value_id = id;
		f[nr++].type_id = type_id;
		o = btf__type_by_id(btf, type_id);
		pool += name_len(btf__name_by_offset(btf, o->name_off)) + 1;
		for (j = 0; j < btf_vlen(o) && j < KTBPF_MAX_OPS_MEMBERS; j++) {
			pool += name_len(btf__name_by_offset(btf, btf_members(o)[j].name_off)) + 1;
			nr_names++;
		}
	}
	/* Pass 2: one allocation, filled in order. */
	bytes = sizeof(*t) + nr * sizeof(struct st_layout) + nr_names * sizeof(char *) +
		nr_names * sizeof(struct st_fn_member) + pool;
	t = calloc(1, bytes);
	if (!t)
		return ktbpf_err_set(err, -ENOMEM, "out of memory for the struct_ops interfaces");
	t->bytes = bytes;
	t->nr = nr;
	t->capped = capped;
	t->iface = (struct st_layout *)(t + 1);
	names = (const char **)(t->iface + nr);
	fns = (struct st_fn_member *)(names + nr_names);
	pool_base = (char *)(fns + nr_names); /* fns: at most one per member */
	for (i = 0; i < nr; i++)
		fill(btf, &f[i], &t->iface[i], &names, &fns, pool_base, &pos);
	*ret = t;
	return 0;
}

/* p, a pointer into old's block, moved to the same place in new's. */
static const void *moved(const void *p, const struct ops_table *old, struct ops_table *new)
{
	return (const char *)new + ((const char *)p - (const char *)old);
}

struct ops_table *ops_table_move(struct ops_table *t)
{
	struct ops_table *n = malloc(t->bytes);
	uint32_t i, j;

	if (!n)
		return t;
	memcpy(n, t, t->bytes);
	n->iface = (struct st_layout *)moved(t->iface, t, n);
	for (i = 0; i < n->nr; i++) {
		struct st_layout *l = &n->iface[i];
		struct st_fn_member *m;
		const char **names;

		l->name = moved(l->name, t, n);
		names = (const char **)moved(l->names, t, n);
		for (j = 0; j < l->nr_names; j++)
			names[j] = moved(names[j], t, n);
		l->names = names;
		m = (struct st_fn_member *)moved(l->m, t, n);
		for (j = 0; j < l->n; j++)
			m[j].name = moved(m[j].name, t, n);
		l->m = m;
	}
	free(t);
	return n;
}

struct ops_table *ops_table_free(struct ops_table *t)
{
	free(t);
	return NULL;
}

const struct st_layout *ops_by_type(const struct ops_table *t, uint32_t type_id)
{
	uint32_t i;

	for (i = 0; t && type_id && i < t->nr; i++)
		if (t->iface[i].type_id == type_id)
			return &t->iface[i];
	return NULL;
}

const struct st_layout *ops_by_value(const struct ops_table *t, uint32_t value_id)
{
	uint32_t i;

	for (i = 0; t && value_id && i < t->nr; i++)
		if (t->iface[i].value_id == value_id)
			return &t->iface[i];
	return NULL;
}
