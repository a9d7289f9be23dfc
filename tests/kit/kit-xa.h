/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_KIT_XA_H
#define KTBPF_KIT_XA_H

/*
 * Kernel xarrays built in a kit image. Nodes are slab objects in the direct
 * map, so a node at guest PA pa has kva page_offset + pa and the entry naming
 * it is kva | 2 (include/linux/xarray.h: xa_mk_node()). Nodes are laid out
 * per the given struct ktbpf_xa_layout (shift byte, slots array, nr_slots).
 *
 * kit_xa_store() grows the tree like lib/xarray.c: xas_expand()/xas_create():
 * a lone entry at index 0 lives in the head; the top node's shift rises by
 * chunk_shift (log2 nr_slots) until it covers the index, the old head becoming
 * slot 0 of the new top. The raw helpers below build shapes the kernel never
 * would (cycles, wrong shifts, wild pointers) for hostile tests.
 */

#include <stdint.h>

#include "kit.h"
#include "ktbpf/xarray.h"

struct kit_xa {
	struct kit_image *im;
	uint64_t page_offset;
	struct ktbpf_xa_layout l;
	uint32_t chunk_shift;
	uint64_t node_size; /* bytes per node: slots plus the marks after them */
	uint64_t head;	    /* the xa_head value */
	uint64_t nr_nodes;  /* nodes allocated by this kit_xa */
};

/* Internal entries (include/linux/xarray.h). */
#define KIT_XA_RETRY 0x402ull /* xa_mk_internal(256) */
#define KIT_XA_ZERO  0x406ull /* xa_mk_internal(257) */

static inline uint64_t kit_xa_sibling(uint32_t slot)
{
	return ((uint64_t)slot << 2) | 2; /* xa_mk_sibling() */
}

static inline uint64_t kit_xa_value(uint64_t v)
{
	return (v << 1) | 1; /* xa_mk_value() */
}

static inline uint64_t kit_xa_node_entry(uint64_t node_kva)
{
	return node_kva | 2; /* xa_mk_node() */
}

/* An empty xarray; aborts on a bad layout. Free with kit_xa_free() (nodes stay in the image). */
struct kit_xa *kit_xa_new(struct kit_image *im, uint64_t page_offset,
			  const struct ktbpf_xa_layout *l);
void kit_xa_free(struct kit_xa *xa);

/* Store entry (a non-zero, non-internal value: pointer or kit_xa_value()) at index. */
void kit_xa_store(struct kit_xa *xa, uint64_t index, uint64_t entry);

/* The xa_head value to place in a struct xarray / struct idr. */
uint64_t kit_xa_head(const struct kit_xa *xa);

/* Raw: a new zeroed node with shift (any value); returns its kva. */
uint64_t kit_xa_node_new(struct kit_xa *xa, uint8_t shift);
/* Raw: write slot of the node at node_kva (no checks on entry or slot beyond nr_slots). */
void kit_xa_node_set(struct kit_xa *xa, uint64_t node_kva, uint32_t slot, uint64_t entry);
uint64_t kit_xa_node_get(struct kit_xa *xa, uint64_t node_kva, uint32_t slot);
void kit_xa_node_set_shift(struct kit_xa *xa, uint64_t node_kva, uint8_t shift);
/* Raw: replace the head (e.g. to a node entry, or a tree shrunk under a stale index). */
void kit_xa_set_head(struct kit_xa *xa, uint64_t head);
/* The kva of the top node (aborts when the head is not a node). */
uint64_t kit_xa_top(const struct kit_xa *xa);
/* Follow index down to the node holding its leaf slot (aborts if there is none). */
uint64_t kit_xa_leaf_node(struct kit_xa *xa, uint64_t index);

#endif
