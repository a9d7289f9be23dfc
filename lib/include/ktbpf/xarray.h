/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_XARRAY_H
#define KTBPF_XARRAY_H

/*
 * The kernel's xarray (and the IDR built on it) read from guest memory.
 *
 * Entry encoding, include/linux/xarray.h:
 *   node:     (e & 3) == 2 && e > 4096        xa_is_node()
 *   sibling:  (e & 3) == 2 && e < 256         xa_is_sibling() (value = slot)
 *   retry:    0x402, zero: 0x406 (XA_ZERO_ENTRY, 1030)   xa_is_retry()/xa_is_zero()
 *   value:    e & 1                           xa_is_value()
 *   internal markers otherwise ((e & 3) == 2, <= 4096)
 * A node's index range is [0, nr_slots << shift) relative to its parent slot;
 * shift is a multiple of XA_CHUNK_SHIFT (6; 4 with CONFIG_BASE_SMALL).
 * Nodes are slab objects: they are read through the translator (direct map).
 *
 * Guest data is hostile: shifts must strictly decrease by chunk_shift from a
 * parent to its child (so a node pointing at itself or an ancestor ends the
 * descent), the depth is bounded by 64/chunk_shift + 1, and the iterator stops
 * after max_entries entries and max_nodes nodes.
 *
 * Thread safety: no state but the caller's: an iterator and the translator
 * it reads through are one thread's at a time (translate.h).
 */

#include <stdbool.h>
#include <stdint.h>

#include "ktbpf/err.h"
#include "ktbpf/translate.h"

/* Member offsets of struct xa_node, from BTF (see ktbpf_offsets). */
struct ktbpf_xa_layout {
	uint32_t node_shift; /* offsetof(struct xa_node, shift), a u8 */
	uint32_t node_slots; /* offsetof(struct xa_node, slots) */
	uint32_t nr_slots; /* XA_CHUNK_SIZE: 64 (16 with CONFIG_BASE_SMALL); from BTF array size */
};

#define KTBPF_XA_MAX_SLOTS 64

static inline bool ktbpf_xa_is_node(uint64_t e)
{
	return (e & 3) == 2 && e > 4096;
}

static inline bool ktbpf_xa_is_internal(uint64_t e)
{
	return (e & 3) == 2;
}

static inline bool ktbpf_xa_is_value(uint64_t e)
{
	return e & 1;
}

/*
 * The entry at index in the xarray whose xa_head is given, the way the kernel's
 * xa_load() finds it, including the range check on the top node (an index
 * beyond the tree's height is absent, it does not alias a low slot).
 * *ret_entry = 0 when absent. Sibling entries are followed to their canonical
 * slot. Errors: -EFAULT/-ENOENT from reading a node (err->addr names the
 * failing address), -EUCLEAN for an inconsistent node (bad shift, a node
 * below shift 0, a sibling naming a slot past the node), -EINVAL for a layout
 * whose nr_slots is not a power of two from 4 to 64.
 */
int ktbpf_xa_load(struct ktbpf_xlate *x, const struct ktbpf_xa_layout *l, uint64_t xa_head,
		  uint64_t index, uint64_t *ret_entry, struct ktbpf_err *err);

/* Depth of the explicit stack: 64-bit indices with chunk_shift >= 4 need at most 16 levels. */
#define KTBPF_XA_MAX_DEPTH 17

/* In-order iterator state. Plain data so it can live on the stack; treat as opaque. */
struct ktbpf_xa_iter {
	struct ktbpf_xlate *x;
	const struct ktbpf_xa_layout *l;
	uint64_t head;
	uint64_t max_entries, max_nodes;
	uint64_t nr_entries, nr_nodes;
	int depth; /* -1: not started; -2: finished */
	bool capped;
	struct {
		uint64_t node; /* node kva (untagged) */
		uint64_t base; /* index of slot 0 */
		uint32_t shift;
		uint32_t slot; /* next slot to visit */
		uint64_t slots[KTBPF_XA_MAX_SLOTS];
	} stack[KTBPF_XA_MAX_DEPTH];
};

#define KTBPF_ITER_END 1

/*
 * Start an in-order walk of every present entry (not sibling, retry, zero or
 * other internal markers; value entries are returned, the caller decides).
 * At most max_entries entries and max_nodes nodes are visited.
 */
void ktbpf_xa_iter_init(struct ktbpf_xa_iter *it, struct ktbpf_xlate *x,
			const struct ktbpf_xa_layout *l, uint64_t xa_head, uint64_t max_entries,
			uint64_t max_nodes);

/*
 * Next entry: returns 0 and fills *ret_index and *ret_entry; KTBPF_ITER_END when
 * done; a negative errno when a node could not be read or is inconsistent (the
 * bad subtree is skipped, err says which; call again to continue) or -E2BIG
 * once when a cap was hit (then KTBPF_ITER_END).
 */
int ktbpf_xa_iter_next(struct ktbpf_xa_iter *it, uint64_t *ret_index, uint64_t *ret_entry,
		       struct ktbpf_err *err);

/* Nothing to release today; kept for the _init/_next/_deinit contract. */
void ktbpf_xa_iter_deinit(struct ktbpf_xa_iter *it);

#endif
