/* SPDX-License-Identifier: MIT */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "kit-xa.h"

/* include/linux/xarray.h: struct xa_node, bytes 1..3 after shift. */
#define NODE_OFFSET 1
#define NODE_COUNT  2

static void die(const char *what, uint64_t v)
{
	fprintf(stderr, "kit-xa: %s (0x%llx)\n", what, (unsigned long long)v);
	abort();
}

struct kit_xa *kit_xa_new(struct kit_image *im, uint64_t page_offset,
			  const struct ktbpf_xa_layout *l)
{
	struct kit_xa *xa = calloc(1, sizeof(*xa));
	uint32_t n = l->nr_slots;

	if (!xa)
		die("out of memory", 0);
	if (n < 4 || n > KTBPF_XA_MAX_SLOTS || (n & (n - 1)))
		die("nr_slots not a power of two in [4, 64]", n);
	xa->im = im;
	xa->page_offset = page_offset;
	xa->l = *l;
	xa->chunk_shift = (uint32_t)__builtin_ctz(n);
	/* The three mark bitmaps follow the slots (XA_MAX_MARKS longs). */
	xa->node_size = (l->node_slots + 8ull * n + 3 * 8 + 7) & ~7ull;
	if (l->node_shift >= xa->node_size)
		die("node_shift beyond the node", l->node_shift);
	return xa;
}

void kit_xa_free(struct kit_xa *xa)
{
	free(xa);
}

static uint64_t pa_of(const struct kit_xa *xa, uint64_t kva)
{
	return kva - xa->page_offset;
}

uint64_t kit_xa_node_new(struct kit_xa *xa, uint8_t shift)
{
	/* Slab objects from the radix_tree_node cache are at least 8-byte aligned; use 64. */
	uint64_t pa = kit_alloc(xa->im, xa->node_size, 64);

	kit_w8(xa->im, pa + xa->l.node_shift, shift);
	xa->nr_nodes++;
	return xa->page_offset + pa;
}

void kit_xa_node_set(struct kit_xa *xa, uint64_t node_kva, uint32_t slot, uint64_t entry)
{
	kit_w64(xa->im, pa_of(xa, node_kva) + xa->l.node_slots + 8ull * slot, entry);
}

uint64_t kit_xa_node_get(struct kit_xa *xa, uint64_t node_kva, uint32_t slot)
{
	return kit_r64(xa->im, pa_of(xa, node_kva) + xa->l.node_slots + 8ull * slot);
}

void kit_xa_node_set_shift(struct kit_xa *xa, uint64_t node_kva, uint8_t shift)
{
	kit_w8(xa->im, pa_of(xa, node_kva) + xa->l.node_shift, shift);
}

void kit_xa_set_head(struct kit_xa *xa, uint64_t head)
{
	xa->head = head;
}

uint64_t kit_xa_head(const struct kit_xa *xa)
{
	return xa->head;
}

uint64_t kit_xa_top(const struct kit_xa *xa)
{
	if (!ktbpf_xa_is_node(xa->head))
		die("head is not a node", xa->head);
	return xa->head & ~3ull;
}

static uint8_t shift_of(struct kit_xa *xa, uint64_t node_kva)
{
	return *(uint8_t *)kit_ptr(xa->im, pa_of(xa, node_kva) + xa->l.node_shift, 1);
}

/*
 * Put e in parent's slot, keeping xa_node.count and the child's .offset like
 * the kernel (they sit right after .shift) when the layout leaves room.
 */
static void link_slot(struct kit_xa *xa, uint64_t parent, uint32_t slot, uint64_t e)
{
	bool bookkeeping = xa->l.node_shift + NODE_COUNT < xa->l.node_slots;
	uint64_t cnt_pa = pa_of(xa, parent) + xa->l.node_shift + NODE_COUNT;
	uint8_t *cnt = kit_ptr(xa->im, cnt_pa, 1);

	if (bookkeeping && e && !kit_xa_node_get(xa, parent, slot))
		(*cnt)++;
	kit_xa_node_set(xa, parent, slot, e);
	if (bookkeeping && ktbpf_xa_is_node(e))
		kit_w8(xa->im, pa_of(xa, e & ~3ull) + xa->l.node_shift + NODE_OFFSET,
		       (uint8_t)slot);
}

/* lib/xarray.c: xas_expand(): add top nodes until index fits. */
static void expand(struct kit_xa *xa, uint64_t index)
{
	uint32_t cs = xa->chunk_shift, shift;
	uint64_t top;

	if (!ktbpf_xa_is_node(xa->head)) {
		top = kit_xa_node_new(xa, 0);
		if (xa->head)
			link_slot(xa, top, 0, xa->head);
		xa->head = kit_xa_node_entry(top);
	}
	for (;;) {
		shift = shift_of(xa, kit_xa_top(xa));
		if (shift + cs >= 64 || (index >> (shift + cs)) == 0)
			return;
		top = kit_xa_node_new(xa, (uint8_t)(shift + cs));
		link_slot(xa, top, 0, xa->head);
		xa->head = kit_xa_node_entry(top);
	}
}

void kit_xa_store(struct kit_xa *xa, uint64_t index, uint64_t entry)
{
	uint32_t cs = xa->chunk_shift, shift, slot;
	uint64_t node, child;

	if (!entry || ktbpf_xa_is_internal(entry))
		die("kit_xa_store takes a pointer or value entry", entry);
	if (index == 0 && !ktbpf_xa_is_node(xa->head)) {
		xa->head = entry;
		return;
	}
	expand(xa, index);
	node = kit_xa_top(xa);
	for (;;) {
		shift = shift_of(xa, node);
		slot = (uint32_t)(index >> shift) & (xa->l.nr_slots - 1);
		if (shift == 0) {
			link_slot(xa, node, slot, entry);
			return;
		}
		child = kit_xa_node_get(xa, node, slot);
		if (!ktbpf_xa_is_node(child)) {
			if (child)
				die("kit_xa_store over a raw leaf above shift 0", child);
			child = kit_xa_node_entry(kit_xa_node_new(xa, (uint8_t)(shift - cs)));
			link_slot(xa, node, slot, child);
		}
		node = child & ~3ull;
	}
}

uint64_t kit_xa_leaf_node(struct kit_xa *xa, uint64_t index)
{
	uint64_t node = kit_xa_top(xa), e;
	uint32_t shift;
	int depth;

	for (depth = 0; depth < KTBPF_XA_MAX_DEPTH; depth++) {
		shift = shift_of(xa, node);
		if (shift == 0)
			return node;
		e = kit_xa_node_get(xa, node, (uint32_t)(index >> shift) & (xa->l.nr_slots - 1));
		if (!ktbpf_xa_is_node(e))
			die("no node on the path to index", index);
		node = e & ~3ull;
	}
	die("tree too deep", index);
	return 0;
}
