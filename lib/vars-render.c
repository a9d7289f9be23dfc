/* SPDX-License-Identifier: MIT */
/*
 * BTF + bytes -> the nodes of struct ktbpf_vars (vars.h). The BTF is an
 * untrusted guest's: libbpf parses the blob (btf__new() checks the header,
 * the sections and each type's record length; btf_new_checked() their
 * alignment first), and every walk here is bounded: modifier chains by
 * OFFSETS_MAX_MOD_HOPS, nesting by KTBPF_VARS_MAX_DEPTH,
 * elements per array by KTBPF_VARS_MAX_ELEMS and the whole tree by
 * KTBPF_VARS_MAX_NODES (every render step makes one node, so the last bound
 * bounds the work too). Every read of a value is checked against its length
 * in 64-bit arithmetic first. The rendering follows bpftool's
 * btf_dumper_datasec() (tools/bpf/bpftool/btf_dumper.c) in what it shows.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/btf.h>

#include "btf-internal.h"
#include "offsets-internal.h"
#include "progs-internal.h"
#include "vars-internal.h"

#define NAME_DEPTH 8 /* type name spelling: nesting followed */

int vars_btf_parse(const void *data, size_t len, struct btf **ret, struct ktbpf_err *err)
{
	struct btf *btf;
	int r;

	if (len > KTBPF_VARS_MAX_BTF)
		return ktbpf_err_set(err, -EINVAL, "BTF of %zu bytes is over the %u-byte bound",
				     len, KTBPF_VARS_MAX_BTF);
	r = btf_new_checked(data, len, &btf);
	if (r < 0)
		return ktbpf_err_set(err, r == -ENOMEM ? -ENOMEM : -EINVAL,
				     "BTF of %zu bytes does not parse: %s", len, strerror(-r));
	*ret = btf;
	return 0;
}

/* One render pass over one BTF and its buffers. */
struct rctx {
	struct ktbpf_vars *v;
	const struct btf *btf;
	const uint8_t *const *bufs;
	size_t nr_bufs; /* buffers summed when sum, else 1 */
	bool sum;	/* a "sum" subtree: integers summed, other leaves not */
	size_t len;
	const char **names; /* type spelling cache by id (nr_types entries) */
	uint32_t nr_types;
};

static const char *str_at(const struct btf *btf, uint32_t off)
{
	const char *s = btf__name_by_offset(btf, off);

	return s ? s : "?";
}

/* The C spelling of type id into buf (bounded by depth and size). */
static void spell(const struct btf *btf, uint32_t id, char *buf, size_t size, int depth)
{
	const struct btf_type *t = btf__type_by_id(btf, id);
	char inner[128];
	const char *n;

	if (!t) {
		snprintf(buf, size, "?");
		return;
	}
	if (id == 0) {
		snprintf(buf, size, "void");
		return;
	}
	n = str_at(btf, t->name_off);
	if (depth >= NAME_DEPTH) {
		snprintf(buf, size, "...");
		return;
	}
	switch (btf_kind(t)) {
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
	case BTF_KIND_ENUM:
	case BTF_KIND_ENUM64:
	case BTF_KIND_FWD: {
		const char *tag = btf_is_union(t)		  ? "union"
				  : btf_is_any_enum(t)		  ? "enum"
				  : btf_is_fwd(t) && btf_kflag(t) ? "union"
								  : "struct";

		snprintf(buf, size, "%s %s", tag, *n ? n : "(anon)");
		return;
	}
	case BTF_KIND_CONST:
	case BTF_KIND_VOLATILE:
	case BTF_KIND_RESTRICT:
		spell(btf, t->type, inner, sizeof(inner), depth + 1);
		snprintf(buf, size, "%s %s",
			 btf_is_const(t)      ? "const"
			 : btf_is_volatile(t) ? "volatile"
					      : "restrict",
			 inner);
		return;
	case BTF_KIND_TYPE_TAG:
		spell(btf, t->type, buf, size, depth + 1);
		return;
	case BTF_KIND_PTR:
		spell(btf, t->type, inner, sizeof(inner), depth + 1);
		snprintf(buf, size, "%s *", inner);
		return;
	case BTF_KIND_ARRAY: {
		/* C puts the outer dimension first: short[2][3] is 2 of short[3]. */
		char *dims;

		spell(btf, btf_array(t)->type, inner, sizeof(inner), depth + 1);
		dims = strchr(inner, '[');
		if (dims && dims != inner && dims[-1] != ' ')
			snprintf(buf, size, "%.*s[%" PRIu32 "]%s", (int)(dims - inner), inner,
				 btf_array(t)->nelems, dims);
		else
			snprintf(buf, size, "%s[%" PRIu32 "]", inner, btf_array(t)->nelems);
		return;
	}
	case BTF_KIND_FUNC_PROTO:
		snprintf(buf, size, "function");
		return;
	default:
		snprintf(buf, size, "%s", *n ? n : "?");
	}
}

static const char *type_name(struct rctx *c, uint32_t id)
{
	char buf[256];
	const char *s;

	if (id < c->nr_types && c->names[id])
		return c->names[id];
	spell(c->btf, id, buf, sizeof(buf), 0);
	s = vars_strdup(c->v, buf);
	if (s && id < c->nr_types)
		c->names[id] = s;
	return s ? s : "?";
}

/* Append one node; NULL when memory or the node bound ran out (the bound: a diagnostic once). */
static struct ktbpf_var *node_add(struct rctx *c, uint32_t depth, const char *name,
				  const char *type, uint32_t index, size_t *ret_at)
{
	struct ktbpf_vars *v = c->v;
	struct vars_priv *p = v->priv;
	struct ktbpf_var *n;

	if (v->nr_nodes >= KTBPF_VARS_MAX_NODES) {
		if (!p->nodes_capped)
			vars_diag(v, -E2BIG, 0, "more than %u nodes: the rest not shown",
				  KTBPF_VARS_MAX_NODES);
		p->nodes_capped = v->capped = true;
		return NULL;
	}
	if (v->nr_nodes == p->cap_nodes) {
		size_t cap = p->cap_nodes ? p->cap_nodes * 2 : 64;

		n = realloc(v->nodes, cap * sizeof(*n));
		if (!n)
			return NULL;
		v->nodes = n;
		p->cap_nodes = cap;
	}
	*ret_at = v->nr_nodes;
	n = &v->nodes[v->nr_nodes++];
	memset(n, 0, sizeof(*n));
	n->depth = depth;
	n->name = name ? name : "";
	n->type = type;
	n->index = index;
	return n;
}

static __attribute__((format(printf, 3, 4))) void set_error(struct rctx *c, struct ktbpf_var *n,
							    const char *fmt, ...)
{
	char buf[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	n->kind = KTBPF_VAR_ERROR;
	n->str = vars_strdup(c->v, buf);
	if (!n->str)
		n->str = "out of memory";
}

/* Bytes [off, off + n) lie in the value? */
static bool fits(const struct rctx *c, uint64_t off, uint64_t n)
{
	return off <= c->len && n <= c->len - off;
}

/* Little-endian load of n <= 8 bytes. */
static uint64_t load(const uint8_t *p, uint32_t n)
{
	uint64_t v = 0;
	uint32_t i;

	for (i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Bits [bitpos, bitpos + bits) of buf, bits <= 64, in bounds (checked by the caller). */
static uint64_t load_bits(const uint8_t *buf, uint64_t bitpos, uint32_t bits)
{
	uint64_t byte = bitpos / 8, v;
	uint32_t shift = bitpos % 8, nbytes = (shift + bits + 7) / 8;

	if (nbytes <= 8) {
		v = load(buf + byte, nbytes) >> shift;
	} else { /* 9 bytes: a 64-bit field not on a byte boundary */
		v = load(buf + byte, 8) >> shift;
		v |= (uint64_t)buf[byte + 8] << (64 - shift);
	}
	return bits == 64 ? v : v & ((1ull << bits) - 1);
}

static int64_t sign_extend(uint64_t v, uint32_t bits)
{
	if (bits >= 64)
		return (int64_t)v;
	if (v & (1ull << (bits - 1)))
		v |= ~0ull << bits;
	return (int64_t)v;
}

static int render(struct rctx *c, const char *name, uint32_t id, uint64_t bitpos, uint32_t bitsz,
		  uint32_t depth, uint32_t index);

/* render() a child of node at, counted among its children when it made a node. */
static int render_child(struct rctx *c, size_t at, const char *name, uint32_t id, uint64_t bitpos,
			uint32_t bitsz, uint32_t depth, uint32_t index)
{
	size_t before = c->v->nr_nodes;
	int r = render(c, name, id, bitpos, bitsz, depth, index);

	if (c->v->nr_nodes > before)
		c->v->nodes[at].nr_children++;
	return r;
}

/* An integer (BTF_KIND_INT), or a bitfield of bitsz bits at bitpos. */
static void render_int(struct rctx *c, struct ktbpf_var *n, const struct btf_type *t,
		       uint64_t bitpos, uint32_t bitsz)
{
	uint32_t enc = btf_int_encoding(t), bits = bitsz ? bitsz : btf_int_bits(t);
	bool sgn = enc & BTF_INT_SIGNED;
	uint64_t sum = 0, raw = 0;
	size_t i;

	if (!bitsz)
		bitpos += btf_int_offset(t);
	if (bits == 0 || bits > 64) {
		set_error(c, n, "%" PRIu32 "-bit integer not shown", bits);
		return;
	}
	if (bitpos / 8 > c->len || !fits(c, bitpos / 8, (bitpos % 8 + bits + 7) / 8)) {
		set_error(c, n, "%" PRIu32 " bits at bit %" PRIu64 " lie beyond the %zu-byte value",
			  bits, bitpos, c->len);
		return;
	}
	for (i = 0; i < c->nr_bufs; i++) {
		raw = load_bits(c->bufs[i], bitpos, bits);
		sum += sgn ? (uint64_t)sign_extend(raw, bits) : raw;
	}
	n->bits = bits;
	if (!c->sum && (enc & BTF_INT_BOOL) && raw <= 1) {
		n->kind = KTBPF_VAR_BOOL;
		n->u = raw;
	} else if (sgn) {
		n->kind = KTBPF_VAR_INT;
		n->i = c->sum ? (int64_t)sum : sign_extend(raw, bits);
	} else {
		n->kind = KTBPF_VAR_UINT;
		n->u = c->sum ? sum : raw;
	}
}

static void render_enum(struct rctx *c, struct ktbpf_var *n, const struct btf_type *t, uint64_t off)
{
	bool sgn = btf_kflag(t);
	uint32_t i, vlen = btf_vlen(t), size = t->size;
	uint64_t raw;

	if (size == 0 || size > 8 || (size & (size - 1))) {
		set_error(c, n, "enum of %" PRIu32 " bytes not shown", size);
		return;
	}
	if (!fits(c, off, size)) {
		set_error(c, n, "%" PRIu32 " bytes at %" PRIu64 " lie beyond the %zu-byte value",
			  size, off, c->len);
		return;
	}
	raw = load(c->bufs[0] + off, size);
	n->kind = KTBPF_VAR_ENUM;
	n->bits = size * 8;
	n->u = raw;
	n->i = sign_extend(raw, size * 8);
	if (!sgn)
		n->i = (int64_t)raw;
	for (i = 0; i < vlen; i++) {
		uint64_t ev;
		uint32_t name_off;

		if (btf_is_enum(t)) {
			ev = (uint64_t)(int64_t)btf_enum(t)[i].val;
			name_off = btf_enum(t)[i].name_off;
			ev &= size == 8 ? ~0ull : (1ull << (size * 8)) - 1;
		} else {
			ev = btf_enum64_value(btf_enum64(t) + i);
			name_off = btf_enum64(t)[i].name_off;
		}
		if (ev == raw) {
			n->str = str_at(c->btf, name_off);
			return;
		}
	}
}

/* Printable ASCII as is, '\\' doubled, other bytes as \xNN (vars.h). */
static const char *escape(struct rctx *c, const uint8_t *p, size_t n)
{
	char *out = vars_alloc(c->v, 4 * n + 1), *o = out;
	size_t i;

	if (!out)
		return "?";
	for (i = 0; i < n && p[i]; i++) {
		if (p[i] == '\\') {
			*o++ = '\\';
			*o++ = '\\';
		} else if (p[i] >= 0x20 && p[i] < 0x7f) {
			*o++ = (char)p[i];
		} else {
			o += sprintf(o, "\\x%02x", p[i]);
		}
	}
	*o = '\0';
	return out;
}

/* A char array? (int of one byte, BTF_INT_CHAR or named "char", as btf_dumper does) */
static bool is_char(const struct rctx *c, uint32_t elem)
{
	uint32_t id;
	const struct btf_type *t = offsets_skip_mods(c->btf, elem, &id);

	return t && btf_is_int(t) && t->size == 1 && btf_int_bits(t) == 8 &&
	       ((btf_int_encoding(t) & BTF_INT_CHAR) ||
		!strcmp(str_at(c->btf, t->name_off), "char"));
}

static int render_array(struct rctx *c, struct ktbpf_var *n, size_t at, const struct btf_type *t,
			uint64_t off, uint32_t depth)
{
	const struct btf_array *a = btf_array(t);
	uint32_t i, shown;
	int64_t esz;
	uint64_t total;
	int r;

	if (is_char(c, a->type)) {
		if (c->sum) {
			n->kind = KTBPF_VAR_NOSUM;
			return 0;
		}
		if (!fits(c, off, a->nelems)) {
			set_error(c, n,
				  "char[%" PRIu32 "] at %" PRIu64 " runs past the %zu-byte value",
				  a->nelems, off, c->len);
			return 0;
		}
		n->kind = KTBPF_VAR_STRING;
		shown = a->nelems < KTBPF_VARS_MAX_ELEMS ? a->nelems : KTBPF_VARS_MAX_ELEMS;
		n->str = escape(c, c->bufs[0] + off, shown);
		return 0;
	}
	esz = btf__resolve_size(c->btf, a->type);
	if (esz < 0) {
		set_error(c, n, "element type %" PRIu32 " has no size (bad BTF)", a->type);
		return 0;
	}
	total = (uint64_t)esz * a->nelems;
	if (!fits(c, off, total)) {
		set_error(c, n,
			  "%" PRIu32 " elements of %" PRId64 " bytes at %" PRIu64
			  " run past the %zu-byte value",
			  a->nelems, esz, off, c->len);
		return 0;
	}
	n->kind = KTBPF_VAR_ARRAY;
	shown = a->nelems < KTBPF_VARS_MAX_ELEMS ? a->nelems : KTBPF_VARS_MAX_ELEMS;
	if (shown < a->nelems) {
		vars_diag(c->v, -E2BIG, 0, "an array of %" PRIu32 " elements: the first %u shown",
			  a->nelems, KTBPF_VARS_MAX_ELEMS);
		c->v->capped = true;
	}
	for (i = 0; i < shown; i++) {
		r = render_child(c, at, "", a->type, (off + (uint64_t)esz * i) * 8, 0, depth + 1,
				 i);
		if (r)
			return r;
	}
	return 0;
}

static int render_composite(struct rctx *c, struct ktbpf_var *n, size_t at,
			    const struct btf_type *t, uint64_t off, uint32_t depth)
{
	const struct btf_member *m = btf_members(t);
	uint32_t i, vlen = btf_vlen(t);
	int r;

	if (!fits(c, off, t->size)) {
		set_error(c, n, "%" PRIu32 " bytes at %" PRIu64 " run past the %zu-byte value",
			  t->size, off, c->len);
		return 0;
	}
	n->kind = btf_is_union(t) ? KTBPF_VAR_UNION : KTBPF_VAR_STRUCT;
	for (i = 0; i < vlen; i++, m++) {
		uint64_t bit = btf_member_bit_offset(t, i);

		r = render_child(c, at, str_at(c->btf, m->name_off), m->type, off * 8 + bit,
				 btf_member_bitfield_size(t, i), depth + 1, i);
		if (r)
			return r;
	}
	return 0;
}

/*
 * One node for type id at bit position bitpos (bitsz: a bitfield's width,
 * else 0), then its children. 0 done (possibly as an error node), 1 the node
 * bound was hit (stop), -ENOMEM.
 */
static int render(struct rctx *c, const char *name, uint32_t id, uint64_t bitpos, uint32_t bitsz,
		  uint32_t depth, uint32_t index)
{
	const struct btf_type *t;
	struct ktbpf_var *n;
	uint32_t rid;
	uint64_t off = bitpos / 8;
	size_t at;

	n = node_add(c, depth, name, type_name(c, id), index, &at);
	if (!n)
		return c->v->priv->nodes_capped ? 1 : -ENOMEM;
	t = offsets_skip_mods(c->btf, id, &rid);
	if (!t) {
		set_error(c, n,
			  "type %" PRIu32 ": a bad id, or more than %d typedefs and modifiers", id,
			  OFFSETS_MAX_MOD_HOPS);
		return 0;
	}
	if (depth >= KTBPF_VARS_MAX_DEPTH) {
		set_error(c, n, "nested deeper than %d", KTBPF_VARS_MAX_DEPTH);
		return 0;
	}
	if (btf_is_int(t))
		return render_int(c, n, t, bitpos, bitsz), 0;
	if (bitsz || bitpos % 8) {
		if (btf_is_any_enum(t) && bitsz) {
			set_error(c, n, "an enum bitfield is not shown");
			return 0;
		}
		set_error(c, n, "a %s not on a byte boundary",
			  btf_is_composite(t) ? "struct" : "value");
		return 0;
	}
	if (c->sum && !btf_is_composite(t) && !btf_is_array(t)) {
		n->kind = KTBPF_VAR_NOSUM;
		return 0;
	}
	switch (btf_kind(t)) {
	case BTF_KIND_ENUM:
	case BTF_KIND_ENUM64:
		render_enum(c, n, t, off);
		return 0;
	case BTF_KIND_FLOAT:
		if ((t->size != 4 && t->size != 8) || !fits(c, off, t->size)) {
			set_error(c, n, "float of %" PRIu32 " bytes at %" PRIu64 " not shown",
				  t->size, off);
			return 0;
		}
		n->kind = KTBPF_VAR_FLOAT;
		if (t->size == 4) {
			float f;

			memcpy(&f, c->bufs[0] + off, 4);
			n->f = f;
		} else {
			memcpy(&n->f, c->bufs[0] + off, 8);
		}
		return 0;
	case BTF_KIND_PTR:
		if (!fits(c, off, 8)) {
			set_error(c, n, "pointer at %" PRIu64 " lies beyond the %zu-byte value",
				  off, c->len);
			return 0;
		}
		n->kind = KTBPF_VAR_PTR;
		n->u = load(c->bufs[0] + off, 8);
		return 0;
	case BTF_KIND_ARRAY:
		return render_array(c, n, at, t, off, depth);
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
		return render_composite(c, n, at, t, off, depth);
	default:
		set_error(c, n, "BTF kind %u not shown", btf_kind(t));
		return 0;
	}
}

/* One variable of a DATASEC: its entry must lie in the value. */
static int render_secvar(struct rctx *c, const struct btf_var_secinfo *vs)
{
	const struct btf_type *var = btf__type_by_id(c->btf, vs->type);
	struct ktbpf_var *n;
	size_t at;

	if (!var || !btf_is_var(var)) {
		n = node_add(c, 0, "?", "?", 0, &at);
		if (!n)
			return c->v->priv->nodes_capped ? 1 : -ENOMEM;
		set_error(c, n, "DATASEC entry names type %" PRIu32 ", not a variable", vs->type);
		return 0;
	}
	if (!fits(c, vs->offset, vs->size)) {
		n = node_add(c, 0, str_at(c->btf, var->name_off), type_name(c, var->type), 0, &at);
		if (!n)
			return c->v->priv->nodes_capped ? 1 : -ENOMEM;
		set_error(c, n,
			  "at offset %" PRIu32 ", %" PRIu32 " bytes: beyond the %zu-byte value",
			  vs->offset, vs->size, c->len);
		return 0;
	}
	return render(c, str_at(c->btf, var->name_off), var->type, (uint64_t)vs->offset * 8, 0, 0,
		      0);
}

static int render_percpu(struct rctx *c, uint32_t id, uint32_t index, const uint32_t *cpus)
{
	const uint8_t *const *all = c->bufs;
	size_t nr = c->nr_bufs, i, at;
	struct ktbpf_var *n = node_add(c, 0, "", type_name(c, id), index, &at);
	int r;

	if (!n)
		return c->v->priv->nodes_capped ? 1 : -ENOMEM;
	n->kind = KTBPF_VAR_PERCPU;
	for (i = 0; i <= nr; i++) {
		/* First the sum over all buffers, then each CPU's. */
		c->sum = i == 0;
		if (i > 0) {
			c->bufs = &all[i - 1];
			c->nr_bufs = 1;
		}
		r = render_child(c, at, i ? "cpu" : "sum", id, 0, 0, 1,
				 i == 0 ? 0
				 : cpus ? cpus[i - 1]
					: (uint32_t)(i - 1));
		c->bufs = all;
		c->nr_bufs = nr;
		c->sum = false;
		if (r)
			return r;
	}
	return 0;
}

int vars_render(struct ktbpf_vars *v, const struct btf *btf, uint32_t type_id,
		const uint8_t *const *bufs, size_t nr_bufs, size_t len, uint32_t index,
		const uint32_t *cpus)
{
	struct rctx c = {.v = v, .btf = btf, .bufs = bufs, .nr_bufs = nr_bufs, .len = len};
	const struct btf_type *t;
	uint32_t i, rid;
	int r = 0;

	c.nr_types = btf__type_cnt(btf);
	c.names = calloc(c.nr_types ? c.nr_types : 1, sizeof(*c.names));
	if (!c.names)
		return -ENOMEM;
	t = offsets_skip_mods(btf, type_id, &rid);
	if (cpus) {
		r = render_percpu(&c, type_id, index, cpus);
	} else if (t && btf_is_datasec(t)) {
		const struct btf_var_secinfo *vs = btf_var_secinfos(t);

		for (i = 0; i < btf_vlen(t) && r == 0; i++)
			r = render_secvar(&c, &vs[i]);
	} else {
		r = render(&c, "", type_id, 0, 0, 0, index);
	}
	free(c.names);
	return r < 0 ? r : 0;
}

int ktbpf_vars_decode(const void *btf_data, size_t btf_size, uint32_t type_id,
		      const void *const *bufs, size_t nr_bufs, size_t len, struct ktbpf_vars **ret,
		      struct ktbpf_err *err)
{
	struct ktbpf_vars *v;
	struct btf *btf;
	int r;

	static const uint32_t cpus[] = {0, 1, 2, 3, 4, 5, 6, 7};

	if (nr_bufs == 0 || nr_bufs > sizeof(cpus) / sizeof(cpus[0]))
		return ktbpf_err_set(err, -EINVAL, "decode takes 1 to 8 buffers, not %zu", nr_bufs);
	r = vars_btf_parse(btf_data, btf_size, &btf, err);
	if (r < 0)
		return r;
	if (type_id >= btf__type_cnt(btf)) {
		uint32_t cnt = btf__type_cnt(btf);

		btf__free(btf);
		return ktbpf_err_set(err, -EINVAL,
				     "type %" PRIu32 " is not in the BTF (%" PRIu32 " types)",
				     type_id, cnt);
	}
	v = vars_new();
	if (!v) {
		btf__free(btf);
		return ktbpf_err_set(err, -ENOMEM, "out of memory");
	}
	r = vars_keep_btf(v, btf);
	if (r == 0)
		r = vars_render(v, btf, type_id, (const uint8_t *const *)bufs, nr_bufs, len, 0,
				nr_bufs > 1 ? cpus : NULL);
	if (r < 0) {
		ktbpf_vars_free(v);
		return ktbpf_err_set(err, r, "out of memory decoding");
	}
	*ret = v;
	return 0;
}
