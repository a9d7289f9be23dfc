/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "ktbpf/xarray.h"

/*
 * Internal entries, include/linux/xarray.h: xa_mk_internal(v) = (v << 2) | 2.
 * Siblings are xa_mk_internal(0 .. XA_CHUNK_SIZE - 2); retry is
 * xa_mk_internal(256) and zero xa_mk_internal(257).
 */
#define XA_RETRY_ENTRY	 0x402ull
#define XA_ZERO_ENTRY	 0x406ull
#define XA_SIBLING_LIMIT 256ull

static bool is_sibling(uint64_t e)
{
	return ktbpf_xa_is_internal(e) && e < XA_SIBLING_LIMIT;
}

static uint64_t node_of(uint64_t e)
{
	return e & ~3ull;
}

/* log2(nr_slots), or -EINVAL when the layout is unusable (not a power of two in [4, 64]). */
static int chunk_shift_of(const struct ktbpf_xa_layout *l, struct ktbpf_err *err)
{
	uint32_t n = l->nr_slots;

	if (n < 4 || n > KTBPF_XA_MAX_SLOTS || (n & (n - 1)))
		return ktbpf_err_set(err, -EINVAL,
				     "xa_node has %u slots; expected a power of two from 4 to %d",
				     n, KTBPF_XA_MAX_SLOTS);
	return __builtin_ctz(n);
}

/*
 * Name the node in a read error, keeping the reader's code.
 */
static int prefixed(struct ktbpf_err *err, int r, uint64_t node)
{
	return ktbpf_err_prefix(err, r, "xarray node at 0x%llx: ", (unsigned long long)node);
}

/*
 * Read a node's shift and check it: a multiple of chunk_shift below 64, and
 * equal to want (parent shift - chunk_shift) unless want is negative (top).
 */
static int read_shift(struct ktbpf_xlate *x, const struct ktbpf_xa_layout *l, uint64_t node, int cs,
		      int want, uint32_t *ret, struct ktbpf_err *err)
{
	uint8_t shift;
	int r;

	r = ktbpf_xlate_read(x, node + l->node_shift, &shift, 1, err);
	if (r < 0)
		return prefixed(err, r, node);
	if (want >= 0 && shift != want)
		return ktbpf_err_set_addr(
			err, -EUCLEAN, node,
			"xarray node at 0x%llx has shift %u, its parent expects %d "
			"(a cycle or a corrupt node); subtree skipped",
			(unsigned long long)node, shift, want);
	if (shift >= 64 || shift % cs)
		return ktbpf_err_set_addr(
			err, -EUCLEAN, node,
			"xarray node at 0x%llx has shift %u, not a multiple of %d "
			"below 64; subtree skipped",
			(unsigned long long)node, shift, cs);
	*ret = shift;
	return 0;
}

static int read_slot(struct ktbpf_xlate *x, const struct ktbpf_xa_layout *l, uint64_t node,
		     uint32_t slot, uint64_t *ret, struct ktbpf_err *err)
{
	int r = ktbpf_xlate_read_u64(x, node + l->node_slots + 8ull * slot, ret, err);

	if (r < 0)
		return prefixed(err, r, node);
	return 0;
}

/* Whether index lies beyond what a top node of this shift covers (lib/xarray.c: xas_start()). */
static bool beyond_top(uint64_t index, uint32_t shift, int cs)
{
	return shift + cs < 64 && (index >> (shift + cs)) != 0;
}

/* A leaf as xa_load() reports it: internal markers (retry, zero, siblings left over) are absent. */
static uint64_t leaf(uint64_t e)
{
	return ktbpf_xa_is_internal(e) ? 0 : e;
}

int ktbpf_xa_load(struct ktbpf_xlate *x, const struct ktbpf_xa_layout *l, uint64_t xa_head,
		  uint64_t index, uint64_t *ret_entry, struct ktbpf_err *err)
{
	uint64_t node, e = xa_head;
	uint32_t shift, slot;
	int cs, r, level;

	cs = chunk_shift_of(l, err);
	if (cs < 0)
		return cs;
	if (!ktbpf_xa_is_node(e)) {
		*ret_entry = index == 0 ? leaf(e) : 0;
		return 0;
	}
	node = node_of(e);
	r = read_shift(x, l, node, cs, -1, &shift, err);
	if (r < 0)
		return r;
	if (beyond_top(index, shift, cs)) {
		*ret_entry = 0;
		return 0;
	}
	/* Shifts strictly decrease, so this ends within 64 / cs + 1 levels. */
	for (level = 0; level < KTBPF_XA_MAX_DEPTH; level++) {
		slot = (uint32_t)(index >> shift) & (l->nr_slots - 1);
		r = read_slot(x, l, node, slot, &e, err);
		if (r < 0)
			return r;
		if (is_sibling(e)) {
			/* lib/xarray.c: xas_descend() follows a sibling once to its canonical slot.
			 */
			slot = (uint32_t)(e >> 2);
			if (slot >= l->nr_slots)
				return ktbpf_err_set_addr(err, -EUCLEAN, node,
							  "xarray node at 0x%llx: sibling entry "
							  "names slot %u of %u",
							  (unsigned long long)node, slot,
							  l->nr_slots);
			r = read_slot(x, l, node, slot, &e, err);
			if (r < 0)
				return r;
		}
		if (!ktbpf_xa_is_node(e)) {
			*ret_entry = leaf(e);
			return 0;
		}
		if (shift == 0)
			return ktbpf_err_set_addr(err, -EUCLEAN, node,
						  "xarray node at 0x%llx has shift 0 but slot %u "
						  "points to another node",
						  (unsigned long long)node, slot);
		node = node_of(e);
		r = read_shift(x, l, node, cs, (int)shift - cs, &shift, err);
		if (r < 0)
			return r;
	}
	return ktbpf_err_set_addr(err, -EUCLEAN, node, "xarray deeper than %d levels",
				  KTBPF_XA_MAX_DEPTH);
}

void ktbpf_xa_iter_init(struct ktbpf_xa_iter *it, struct ktbpf_xlate *x,
			const struct ktbpf_xa_layout *l, uint64_t xa_head, uint64_t max_entries,
			uint64_t max_nodes)
{
	it->x = x;
	it->l = l;
	it->head = xa_head;
	it->max_entries = max_entries;
	it->max_nodes = max_nodes;
	it->nr_entries = 0;
	it->nr_nodes = 0;
	it->depth = -1;
	it->capped = false;
}

void ktbpf_xa_iter_deinit(struct ktbpf_xa_iter *it)
{
	if (it)
		it->depth = -2;
}

/* Stop the walk at a cap: -E2BIG this once, KTBPF_ITER_END afterwards. */
static int cap(struct ktbpf_xa_iter *it, const char *what, uint64_t limit, struct ktbpf_err *err)
{
	it->capped = true;
	it->depth = -2;
	return ktbpf_err_set(err, -E2BIG, "xarray walk stopped after %llu %s (the cap)",
			     (unsigned long long)limit, what);
}

static int emit(struct ktbpf_xa_iter *it, uint64_t index, uint64_t e, uint64_t *ret_index,
		uint64_t *ret_entry, struct ktbpf_err *err)
{
	if (it->nr_entries >= it->max_entries)
		return cap(it, "entries", it->max_entries, err);
	it->nr_entries++;
	*ret_index = index;
	*ret_entry = e;
	return 0;
}

/* Read node (its shift must be want, or anything valid when want < 0) onto the stack. */
static int push(struct ktbpf_xa_iter *it, uint64_t node, uint64_t base, int want, int cs,
		struct ktbpf_err *err)
{
	const struct ktbpf_xa_layout *l = it->l;
	int d = it->depth + 1;
	uint32_t shift;
	int r;

	if (it->nr_nodes >= it->max_nodes)
		return cap(it, "nodes", it->max_nodes, err);
	it->nr_nodes++;
	if (d >= KTBPF_XA_MAX_DEPTH)
		return ktbpf_err_set_addr(err, -EUCLEAN, node,
					  "xarray node at 0x%llx is deeper than %d levels; skipped",
					  (unsigned long long)node, KTBPF_XA_MAX_DEPTH);
	r = read_shift(it->x, l, node, cs, want, &shift, err);
	if (r < 0)
		return r;
	/* One read for the whole slots array: a node is one slab object. */
	r = ktbpf_xlate_read(it->x, node + l->node_slots, it->stack[d].slots, 8ull * l->nr_slots,
			     err);
	if (r < 0)
		return prefixed(err, r, node);
	it->stack[d].node = node;
	it->stack[d].base = base;
	it->stack[d].shift = shift;
	it->stack[d].slot = 0;
	it->depth = d;
	return 0;
}

/* Start: a lone head entry is index 0; a node head becomes the stack's bottom frame. */
static int start(struct ktbpf_xa_iter *it, int cs, uint64_t *ret_index, uint64_t *ret_entry,
		 struct ktbpf_err *err)
{
	uint64_t e = it->head;
	int r;

	if (!ktbpf_xa_is_node(e)) {
		it->depth = -2;
		if (e == 0 || ktbpf_xa_is_internal(e))
			return KTBPF_ITER_END;
		return emit(it, 0, e, ret_index, ret_entry, err);
	}
	r = push(it, node_of(e), 0, -1, cs, err);
	if (r < 0)
		it->depth = -2; /* the whole tree is the bad subtree */
	return r;
}

/* Visit one slot of the top frame; 1 = nothing to report, keep going. */
static int visit(struct ktbpf_xa_iter *it, int cs, uint64_t *ret_index, uint64_t *ret_entry,
		 struct ktbpf_err *err)
{
	__typeof__(it->stack[0]) *f = &it->stack[it->depth];
	uint32_t slot = f->slot++;
	uint64_t e = f->slots[slot], index;
	int r;

	if (e == 0 || (ktbpf_xa_is_internal(e) && !ktbpf_xa_is_node(e)))
		return 1; /* empty, sibling (already reported at its canonical slot), retry, zero */
	/* A top node at shift 60 (chunk 6) covers 16 slots; the rest would wrap the index. */
	if (f->shift + cs > 64 && slot >= (1u << (64 - f->shift)))
		return ktbpf_err_set_addr(err, -EUCLEAN, f->node,
					  "xarray node at 0x%llx: slot %u at shift %u is beyond "
					  "64-bit indices; skipped",
					  (unsigned long long)f->node, slot, f->shift);
	index = f->base + ((uint64_t)slot << f->shift);
	if (!ktbpf_xa_is_node(e))
		return emit(it, index, e, ret_index, ret_entry, err);
	if (f->shift == 0)
		return ktbpf_err_set_addr(err, -EUCLEAN, f->node,
					  "xarray node at 0x%llx has shift 0 but slot %u points to "
					  "another node; skipped",
					  (unsigned long long)f->node, slot);
	r = push(it, node_of(e), index, (int)f->shift - cs, cs, err);
	return r < 0 ? r : 1;
}

int ktbpf_xa_iter_next(struct ktbpf_xa_iter *it, uint64_t *ret_index, uint64_t *ret_entry,
		       struct ktbpf_err *err)
{
	int cs, r;

	if (it->depth == -2)
		return KTBPF_ITER_END;
	cs = chunk_shift_of(it->l, err);
	if (cs < 0) {
		it->depth = -2;
		return cs;
	}
	if (it->depth == -1) {
		r = start(it, cs, ret_index, ret_entry, err);
		if (r != 0 || it->depth < 0)
			return r;
	}
	/*
	 * Each call visits at most one slot per step and pushes at most one
	 * node; the node cap bounds the total, the shift check bounds the depth.
	 */
	while (it->depth >= 0) {
		if (it->stack[it->depth].slot >= it->l->nr_slots) {
			it->depth--;
			continue;
		}
		r = visit(it, cs, ret_index, ret_entry, err);
		if (r <= 0)
			return r;
	}
	it->depth = -2;
	return KTBPF_ITER_END;
}
