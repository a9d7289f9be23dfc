/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kit-xa.h"
#include "ktbpf/xarray.h"

#define PAGE_OFFSET 0xffff888000000000ull
#define IMAGE_SIZE  (16ull << 20)

/* Leaf entries are never dereferenced: distinct aligned pointers suffice. */
static uint64_t ptr(uint64_t i)
{
	return 0xffff888100000000ull + 16 * i;
}

struct fx {
	struct kit_image *im;
	struct ktbpf_xlate *x;
	struct kit_xa *xa;
	struct ktbpf_xa_layout l;
};

/* xa_node as on x86_64: shift at 0, slots at 40 (include/linux/xarray.h). */
static void fx_init(struct fx *f, uint32_t nr_slots)
{
	struct ktbpf_mmu mmu = {.arch = KTBPF_ARCH_X86_64, .page_offset = PAGE_OFFSET};

	f->l = (struct ktbpf_xa_layout){.node_shift = 0, .node_slots = 40, .nr_slots = nr_slots};
	f->im = kit_image_new(IMAGE_SIZE);
	f->x = ktbpf_xlate_new(kit_mem(f->im), &mmu);
	cr_assert_not_null(f->x);
	f->xa = kit_xa_new(f->im, PAGE_OFFSET, &f->l);
}

static void fx_fini(struct fx *f)
{
	kit_xa_free(f->xa);
	ktbpf_xlate_free(f->x);
	kit_image_free(f->im);
}

static uint64_t load(struct fx *f, uint64_t index)
{
	struct ktbpf_err err = {0};
	uint64_t e = 0xdead;
	int r = ktbpf_xa_load(f->x, &f->l, kit_xa_head(f->xa), index, &e, &err);

	cr_assert_eq(r, 0, "xa_load(%llu) = %d: %s", (unsigned long long)index, r, err.msg);
	return e;
}

static int load_err(struct fx *f, uint64_t index, struct ktbpf_err *err)
{
	uint64_t e = 0xdead;
	int r = ktbpf_xa_load(f->x, &f->l, kit_xa_head(f->xa), index, &e, err);

	cr_assert_lt(r, 0, "xa_load(%llu) should fail, returned entry 0x%llx",
		     (unsigned long long)index, (unsigned long long)e);
	cr_assert_eq(e, 0xdead, "ret_entry written on failure");
	return r;
}

/* A walk's outcome: entries in order, the errors seen, whether a cap fired. */
struct walk {
	uint64_t *idx, *ent;
	size_t nr, nr_errs, calls;
	int errs[16];
	uint64_t err_addr[16];
	bool e2big;
};

static void walk(struct fx *f, uint64_t max_entries, uint64_t max_nodes, struct walk *w)
{
	struct ktbpf_xa_iter it;
	struct ktbpf_err err;
	uint64_t index, entry;
	size_t cap = 1024;
	int r;

	memset(w, 0, sizeof(*w));
	w->idx = malloc(cap * sizeof(uint64_t));
	w->ent = malloc(cap * sizeof(uint64_t));
	ktbpf_xa_iter_init(&it, f->x, &f->l, kit_xa_head(f->xa), max_entries, max_nodes);
	for (;;) {
		cr_assert_lt(w->calls++, 10000000, "the walk does not end");
		ktbpf_err_clear(&err);
		r = ktbpf_xa_iter_next(&it, &index, &entry, &err);
		if (r == KTBPF_ITER_END)
			break;
		if (r < 0) {
			cr_assert_neq(err.msg[0], '\0', "error %d without a message", r);
			if (r == -E2BIG) {
				cr_assert_not(w->e2big, "-E2BIG twice");
				w->e2big = true;
			}
			cr_assert_lt(w->nr_errs, 16);
			w->err_addr[w->nr_errs] = err.has_addr ? err.addr : 0;
			w->errs[w->nr_errs++] = r;
			continue;
		}
		cr_assert_eq(r, 0);
		if (w->nr == cap) {
			cap *= 2;
			w->idx = realloc(w->idx, cap * sizeof(uint64_t));
			w->ent = realloc(w->ent, cap * sizeof(uint64_t));
		}
		w->idx[w->nr] = index;
		w->ent[w->nr++] = entry;
	}
	cr_assert_eq(ktbpf_xa_iter_next(&it, &index, &entry, &err), KTBPF_ITER_END,
		     "END is sticky");
	ktbpf_xa_iter_deinit(&it);
}

static void walk_free(struct walk *w)
{
	free(w->idx);
	free(w->ent);
}

Test(xarray, load_empty_head_is_absent)
{
	struct fx f;

	fx_init(&f, 64);
	cr_assert_eq(load(&f, 0), 0);
	cr_assert_eq(load(&f, 12345), 0);
	fx_fini(&f);
}

Test(xarray, load_single_entry_only_at_index_0)
{
	struct fx f;

	fx_init(&f, 64);
	kit_xa_store(f.xa, 0, ptr(1));
	cr_assert_not(ktbpf_xa_is_node(kit_xa_head(f.xa)), "a lone entry lives in the head");
	cr_assert_eq(load(&f, 0), ptr(1));
	cr_assert_eq(load(&f, 1), 0);
	cr_assert_eq(load(&f, 64), 0);
	fx_fini(&f);
}

Test(xarray, load_one_level_slots)
{
	struct fx f;

	fx_init(&f, 64);
	kit_xa_store(f.xa, 0, ptr(0));
	kit_xa_store(f.xa, 7, ptr(7));
	kit_xa_store(f.xa, 63, ptr(63));
	cr_assert(ktbpf_xa_is_node(kit_xa_head(f.xa)));
	cr_assert_eq(load(&f, 0), ptr(0));
	cr_assert_eq(load(&f, 7), ptr(7));
	cr_assert_eq(load(&f, 63), ptr(63));
	cr_assert_eq(load(&f, 5), 0, "empty slot");
	fx_fini(&f);
}

Test(xarray, load_two_and_three_levels_high_indices)
{
	static const uint64_t idx[] = {1, 64, 100, 4095, 4096, 70000, 262143};
	struct fx f;
	size_t i;

	fx_init(&f, 64);
	for (i = 0; i < sizeof(idx) / sizeof(idx[0]); i++)
		kit_xa_store(f.xa, idx[i], ptr(idx[i]));
	cr_assert_eq(*(uint8_t *)kit_ptr(f.im, kit_xa_top(f.xa) - PAGE_OFFSET, 1), 12,
		     "262143 needs three levels");
	for (i = 0; i < sizeof(idx) / sizeof(idx[0]); i++)
		cr_assert_eq(load(&f, idx[i]), ptr(idx[i]), "index %llu",
			     (unsigned long long)idx[i]);
	cr_assert_eq(load(&f, 65), 0);
	cr_assert_eq(load(&f, 262142), 0);
	cr_assert_eq(load(&f, 262144), 0, "beyond the three-level range");
	fx_fini(&f);
}

Test(xarray, load_index_max_in_top_shift_60)
{
	struct fx f;

	fx_init(&f, 64);
	kit_xa_store(f.xa, UINT64_MAX, ptr(9));
	kit_xa_store(f.xa, 3, ptr(3));
	cr_assert_eq(load(&f, UINT64_MAX), ptr(9));
	cr_assert_eq(load(&f, 3), ptr(3));
	cr_assert_eq(load(&f, UINT64_MAX - 1), 0);
	fx_fini(&f);
}

/* ktstr masked the slot with & 63 and never checked the top node's range: index 64+7 aliased 7. */
Test(xarray, load_index_beyond_top_range_is_absent)
{
	struct fx f;
	uint64_t child;

	fx_init(&f, 64);
	kit_xa_store(f.xa, 7, ptr(7));
	cr_assert_eq(load(&f, 64 + 7), 0, "one-level tree: 71 must not alias slot 7");
	cr_assert_eq(load(&f, (1ull << 40) + 7), 0);
	/* A tree that shrank: the shift-6 top is gone, its child (shift 0) is the head. */
	kit_xa_store(f.xa, 64 + 3, ptr(67));
	child = kit_xa_leaf_node(f.xa, 64 + 3);
	kit_xa_set_head(f.xa, kit_xa_node_entry(child));
	cr_assert_eq(load(&f, 3), ptr(67), "the shrunk tree's index 3");
	cr_assert_eq(load(&f, 64 + 3), 0, "stale index beyond the shrunk tree");
	fx_fini(&f);
}

Test(xarray, load_sibling_entries_followed)
{
	struct fx f;
	uint64_t node;

	fx_init(&f, 64);
	kit_xa_store(f.xa, 4, ptr(4));
	node = kit_xa_top(f.xa);
	kit_xa_node_set(f.xa, node, 5, kit_xa_sibling(4));
	kit_xa_node_set(f.xa, node, 6, kit_xa_sibling(4));
	kit_xa_node_set(f.xa, node, 7, kit_xa_sibling(4));
	cr_assert_eq(load(&f, 4), ptr(4));
	cr_assert_eq(load(&f, 6), ptr(4), "a multi-index entry covers 4..7");
	cr_assert_eq(load(&f, 7), ptr(4));
	cr_assert_eq(load(&f, 8), 0);
	fx_fini(&f);
}

Test(xarray, load_sibling_beyond_node_is_inconsistent)
{
	struct ktbpf_err err = {0};
	struct fx f;

	fx_init(&f, 16);
	kit_xa_store(f.xa, 1, ptr(1));
	kit_xa_node_set(f.xa, kit_xa_top(f.xa), 2, kit_xa_sibling(40));
	cr_assert_eq(load_err(&f, 2, &err), -EUCLEAN);
	fx_fini(&f);
}

Test(xarray, load_value_entries_returned)
{
	struct fx f;

	fx_init(&f, 64);
	kit_xa_store(f.xa, 0, kit_xa_value(3));
	cr_assert_eq(load(&f, 0), kit_xa_value(3), "value entry in the head");
	kit_xa_store(f.xa, 9, kit_xa_value(1000));
	cr_assert_eq(load(&f, 9), kit_xa_value(1000));
	cr_assert(ktbpf_xa_is_value(load(&f, 9)));
	fx_fini(&f);
}

Test(xarray, load_retry_and_zero_are_absent)
{
	struct fx f;
	uint64_t node;

	fx_init(&f, 64);
	kit_xa_store(f.xa, 1, ptr(1));
	node = kit_xa_top(f.xa);
	kit_xa_node_set(f.xa, node, 2, KIT_XA_RETRY);
	kit_xa_node_set(f.xa, node, 3, KIT_XA_ZERO);
	cr_assert_eq(load(&f, 2), 0);
	cr_assert_eq(load(&f, 3), 0);
	cr_assert_eq(load(&f, 1), ptr(1));
	kit_xa_set_head(f.xa, KIT_XA_RETRY);
	cr_assert_eq(load(&f, 0), 0, "a retry head");
	fx_fini(&f);
}

Test(xarray, load_hostile_shapes_diagnosed)
{
	struct ktbpf_err err = {0};
	struct fx f;
	uint64_t top, child;

	fx_init(&f, 64);
	kit_xa_store(f.xa, 70, ptr(70));
	top = kit_xa_top(f.xa);
	child = kit_xa_leaf_node(f.xa, 70);

	/* A node pointing at itself: the child's shift is not parent - 6. */
	kit_xa_node_set(f.xa, top, 2, kit_xa_node_entry(top));
	cr_assert_eq(load_err(&f, 2 << 6, &err), -EUCLEAN);
	cr_assert(err.has_addr && err.addr == top);
	/* A child pointing back to its parent. */
	kit_xa_node_set(f.xa, child, 9, kit_xa_node_entry(top));
	cr_assert_eq(load_err(&f, 64 + 9, &err), -EUCLEAN);
	cr_assert_not_null(strstr(err.msg, "shift"), "%s", err.msg);
	/* A shift-0 node whose slot holds a node. */
	kit_xa_node_set(f.xa, child, 10, kit_xa_node_entry(child));
	cr_assert_eq(load_err(&f, 64 + 10, &err), -EUCLEAN);
	/* Wrong shift on the child. */
	kit_xa_node_set_shift(f.xa, child, 3);
	cr_assert_eq(load_err(&f, 70, &err), -EUCLEAN);
	/* shift >= 64 on the head: no undefined shift, a diagnostic. */
	kit_xa_node_set_shift(f.xa, top, 64);
	cr_assert_eq(load_err(&f, 0, &err), -EUCLEAN);
	kit_xa_node_set_shift(f.xa, top, 255);
	cr_assert_eq(load_err(&f, 0, &err), -EUCLEAN);
	fx_fini(&f);
}

Test(xarray, load_node_outside_ram_reports_address)
{
	struct ktbpf_err err = {0};
	uint64_t wild = PAGE_OFFSET + IMAGE_SIZE + 0x100000;
	struct fx f;

	fx_init(&f, 64);
	kit_xa_store(f.xa, 70, ptr(70));
	kit_xa_node_set(f.xa, kit_xa_top(f.xa), 5, kit_xa_node_entry(wild));
	load_err(&f, 5 << 6, &err);
	cr_assert(err.has_addr, "%s", err.msg);
	cr_assert_eq(err.addr, wild, "addr 0x%llx: %s", (unsigned long long)err.addr, err.msg);
	cr_assert_eq(load(&f, 70), ptr(70), "the rest of the tree still loads");
	fx_fini(&f);
}

/* Without an err the caller still gets the reader's code, not a generic -EIO. */
Test(xarray, node_read_error_code_kept_without_err)
{
	uint64_t wild = PAGE_OFFSET + IMAGE_SIZE + 0x100000, e = 0xdead, index, entry;
	struct ktbpf_err err = {0};
	struct ktbpf_xa_iter it;
	int with, without;
	struct fx f;

	fx_init(&f, 64);
	kit_xa_store(f.xa, 70, ptr(70));
	kit_xa_node_set(f.xa, kit_xa_top(f.xa), 5, kit_xa_node_entry(wild));
	with = load_err(&f, 5 << 6, &err);
	cr_assert_neq(with, -EIO, "%s", err.msg);
	without = ktbpf_xa_load(f.x, &f.l, kit_xa_head(f.xa), 5 << 6, &e, NULL);
	cr_assert_eq(without, with, "without err: %d, with err: %d", without, with);
	cr_assert_eq(e, 0xdead);
	/* The iterator pushes the same node: same code with and without err. */
	ktbpf_xa_iter_init(&it, f.x, &f.l, kit_xa_head(f.xa), 100, 100);
	cr_assert_eq(ktbpf_xa_iter_next(&it, &index, &entry, NULL), 0);
	cr_assert_eq(index, 70);
	cr_assert_eq(ktbpf_xa_iter_next(&it, &index, &entry, NULL), with);
	cr_assert_eq(ktbpf_xa_iter_next(&it, &index, &entry, NULL), KTBPF_ITER_END);
	ktbpf_xa_iter_deinit(&it);
	/* A wild head: the shift read fails, same code again. */
	without = ktbpf_xa_load(f.x, &f.l, kit_xa_node_entry(wild), 0, &e, NULL);
	cr_assert_eq(without, with, "head: without err: %d", without);
	fx_fini(&f);
}

Test(xarray, load_bad_layout_rejected)
{
	struct ktbpf_err err = {0};
	struct fx f;
	uint64_t e;

	fx_init(&f, 64);
	f.l.nr_slots = 48;
	cr_assert_eq(ktbpf_xa_load(f.x, &f.l, 0, 0, &e, &err), -EINVAL);
	cr_assert_not_null(strstr(err.msg, "48"));
	fx_fini(&f);
}

Test(xarray, iter_empty_and_single_head)
{
	struct walk w;
	struct fx f;

	fx_init(&f, 64);
	walk(&f, 100, 100, &w);
	cr_assert_eq(w.nr, 0);
	cr_assert_eq(w.nr_errs, 0);
	walk_free(&w);
	kit_xa_store(f.xa, 0, ptr(5));
	walk(&f, 100, 100, &w);
	cr_assert_eq(w.nr, 1);
	cr_assert_eq(w.idx[0], 0);
	cr_assert_eq(w.ent[0], ptr(5));
	walk_free(&w);
	fx_fini(&f);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

Test(xarray, iter_ascending_with_holes)
{
	uint64_t idx[600];
	struct walk w;
	struct fx f;
	size_t i, n = 0;

	fx_init(&f, 64);
	srand(7);
	for (i = 0; i < 600; i++) {
		uint64_t v = ((uint64_t)rand() << 8 ^ (uint64_t)rand()) % (1ull << 24);

		if (i % 50 == 0)
			v = (1ull << 40) + i; /* a few far-off ones force a deep tree */
		if (load(&f, v))
			continue;
		kit_xa_store(f.xa, v, ptr(v));
		idx[n++] = v;
	}
	qsort(idx, n, sizeof(idx[0]), cmp_u64);
	walk(&f, 1000000, 1000000, &w);
	cr_assert_eq(w.nr_errs, 0);
	cr_assert_eq(w.nr, n, "%zu entries walked, %zu stored", w.nr, n);
	for (i = 0; i < n; i++) {
		cr_assert_eq(w.idx[i], idx[i], "entry %zu", i);
		cr_assert_eq(w.ent[i], ptr(idx[i]));
	}
	walk_free(&w);
	fx_fini(&f);
}

Test(xarray, iter_skips_internal_returns_values)
{
	struct walk w;
	struct fx f;
	uint64_t node;

	fx_init(&f, 64);
	kit_xa_store(f.xa, 4, ptr(4));
	kit_xa_store(f.xa, 20, kit_xa_value(77));
	node = kit_xa_top(f.xa);
	kit_xa_node_set(f.xa, node, 5, kit_xa_sibling(4));
	kit_xa_node_set(f.xa, node, 6, kit_xa_sibling(4));
	kit_xa_node_set(f.xa, node, 10, KIT_XA_RETRY);
	kit_xa_node_set(f.xa, node, 11, KIT_XA_ZERO);
	kit_xa_node_set(f.xa, node, 12, 0x202); /* some other internal marker */
	walk(&f, 100, 100, &w);
	cr_assert_eq(w.nr_errs, 0);
	cr_assert_eq(w.nr, 2, "got %zu entries", w.nr);
	cr_assert_eq(w.idx[0], 4);
	cr_assert_eq(w.idx[1], 20);
	cr_assert_eq(w.ent[1], kit_xa_value(77));
	walk_free(&w);
	fx_fini(&f);
}

Test(xarray, iter_self_and_parent_pointers_bounded)
{
	struct walk w;
	struct fx f;
	uint64_t top, child;

	fx_init(&f, 64);
	kit_xa_store(f.xa, 1, ptr(1));
	kit_xa_store(f.xa, 100, ptr(100));
	top = kit_xa_top(f.xa);
	child = kit_xa_leaf_node(f.xa, 100);
	kit_xa_node_set(f.xa, top, 3, kit_xa_node_entry(top));	  /* self */
	kit_xa_node_set(f.xa, child, 50, kit_xa_node_entry(top)); /* back to the parent */
	walk(&f, 100, 100, &w);
	cr_assert_eq(w.nr, 2);
	cr_assert_eq(w.idx[0], 1);
	cr_assert_eq(w.idx[1], 100);
	cr_assert_eq(w.nr_errs, 2, "%zu errors", w.nr_errs);
	cr_assert_eq(w.errs[0], -EUCLEAN);
	cr_assert_eq(w.errs[1], -EUCLEAN);
	cr_assert_eq(w.err_addr[0], child, "shift-0 node pointing to a node is named");
	cr_assert_eq(w.err_addr[1], top, "the self-pointing node is named");
	walk_free(&w);
	fx_fini(&f);
}

Test(xarray, iter_wrong_shift_skips_only_that_subtree)
{
	struct walk w;
	struct fx f;
	uint64_t bad;

	fx_init(&f, 64);
	kit_xa_store(f.xa, 10, ptr(10));
	kit_xa_store(f.xa, 64 + 10, ptr(74));
	kit_xa_store(f.xa, 64 + 11, ptr(75));
	kit_xa_store(f.xa, 128 + 10, ptr(138));
	bad = kit_xa_leaf_node(f.xa, 64);
	kit_xa_node_set_shift(f.xa, bad, 12);
	walk(&f, 100, 100, &w);
	cr_assert_eq(w.nr, 2);
	cr_assert_eq(w.idx[0], 10);
	cr_assert_eq(w.idx[1], 138);
	cr_assert_eq(w.nr_errs, 1);
	cr_assert_eq(w.errs[0], -EUCLEAN);
	cr_assert_eq(w.err_addr[0], bad);
	walk_free(&w);
	fx_fini(&f);
}

Test(xarray, iter_bad_top_shift_ends_walk)
{
	struct walk w;
	struct fx f;

	fx_init(&f, 64);
	kit_xa_store(f.xa, 10, ptr(10));
	kit_xa_node_set_shift(f.xa, kit_xa_top(f.xa), 64);
	walk(&f, 100, 100, &w);
	cr_assert_eq(w.nr, 0);
	cr_assert_eq(w.nr_errs, 1);
	cr_assert_eq(w.errs[0], -EUCLEAN);
	walk_free(&w);
	fx_fini(&f);
}

Test(xarray, iter_node_outside_ram_reported_then_continues)
{
	uint64_t wild = PAGE_OFFSET + IMAGE_SIZE + 0x200000;
	struct walk w;
	struct fx f;

	fx_init(&f, 64);
	kit_xa_store(f.xa, 1, ptr(1));
	kit_xa_store(f.xa, 128 + 1, ptr(129));
	kit_xa_node_set(f.xa, kit_xa_top(f.xa), 1, kit_xa_node_entry(wild));
	walk(&f, 100, 100, &w);
	cr_assert_eq(w.nr, 2);
	cr_assert_eq(w.idx[0], 1);
	cr_assert_eq(w.idx[1], 129, "the walk goes on after the bad node");
	cr_assert_eq(w.nr_errs, 1);
	cr_assert_lt(w.errs[0], 0);
	cr_assert_neq(w.errs[0], -EUCLEAN);
	cr_assert_eq(w.err_addr[0], wild);
	walk_free(&w);
	fx_fini(&f);
}

Test(xarray, iter_top_slot_beyond_64_bits_diagnosed)
{
	struct walk w;
	struct fx f;

	fx_init(&f, 64);
	kit_xa_store(f.xa, UINT64_MAX, ptr(1));
	kit_xa_store(f.xa, 5, ptr(5));
	kit_xa_node_set(f.xa, kit_xa_top(f.xa), 16, ptr(16)); /* slot 16 << 60 wraps */
	walk(&f, 100, 100, &w);
	cr_assert_eq(w.nr, 2);
	cr_assert_eq(w.idx[0], 5);
	cr_assert_eq(w.idx[1], UINT64_MAX);
	cr_assert_eq(w.nr_errs, 1);
	cr_assert_eq(w.errs[0], -EUCLEAN);
	walk_free(&w);
	fx_fini(&f);
}

Test(xarray, iter_max_entries_cap)
{
	struct walk w;
	struct fx f;
	uint64_t i;

	fx_init(&f, 64);
	for (i = 0; i < 100; i++)
		kit_xa_store(f.xa, i * 5, ptr(i));
	walk(&f, 10, 1000, &w);
	cr_assert_eq(w.nr, 10);
	cr_assert_eq(w.idx[9], 45);
	cr_assert(w.e2big);
	cr_assert_eq(w.nr_errs, 1);
	walk_free(&w);
	fx_fini(&f);
}

/* Every slot of every level points at the same child: 64^5 paths, capped by max_nodes. */
Test(xarray, iter_max_nodes_cap_on_shared_subtrees)
{
	uint64_t nodes[5];
	struct walk w;
	struct fx f;
	uint32_t lvl, s;

	fx_init(&f, 64);
	for (lvl = 0; lvl < 5; lvl++)
		nodes[lvl] = kit_xa_node_new(f.xa, (uint8_t)(6 * lvl));
	for (s = 0; s < 64; s++) {
		kit_xa_node_set(f.xa, nodes[0], s, ptr(s));
		for (lvl = 1; lvl < 5; lvl++)
			kit_xa_node_set(f.xa, nodes[lvl], s, kit_xa_node_entry(nodes[lvl - 1]));
	}
	kit_xa_set_head(f.xa, kit_xa_node_entry(nodes[4]));
	walk(&f, UINT64_MAX, 500, &w);
	cr_assert(w.e2big);
	cr_assert_eq(w.nr_errs, 1);
	cr_assert_leq(w.nr, 500 * 64, "at most the capped nodes' leaves");
	cr_assert_gt(w.nr, 0);
	walk_free(&w);
	fx_fini(&f);
}

Test(xarray, iter_100k_entries)
{
	struct walk w;
	struct fx f;
	uint64_t i;

	fx_init(&f, 64);
	for (i = 0; i < 100000; i++)
		kit_xa_store(f.xa, i * 3 + 1, ptr(i));
	walk(&f, UINT64_MAX, UINT64_MAX, &w);
	cr_assert_eq(w.nr_errs, 0);
	cr_assert_eq(w.nr, 100000);
	for (i = 0; i < 100000; i++) {
		cr_assert_eq(w.idx[i], i * 3 + 1);
		cr_assert_eq(w.ent[i], ptr(i));
	}
	cr_assert_eq(load(&f, 3 * 99999 + 1), ptr(99999));
	cr_assert_eq(load(&f, 3 * 99999 + 2), 0);
	walk_free(&w);
	fx_fini(&f);
}

/* CONFIG_BASE_SMALL: 16 slots, chunk shift 4. */
Test(xarray, small_nodes_chunk_shift_4)
{
	struct walk w;
	struct fx f;

	fx_init(&f, 16);
	kit_xa_store(f.xa, 3, ptr(3));
	kit_xa_store(f.xa, 16 + 2, ptr(18));
	kit_xa_store(f.xa, 4095, ptr(4095));
	cr_assert_eq(*(uint8_t *)kit_ptr(f.im, kit_xa_top(f.xa) - PAGE_OFFSET, 1), 8);
	cr_assert_eq(load(&f, 18), ptr(18));
	cr_assert_eq(load(&f, 4095), ptr(4095));
	cr_assert_eq(load(&f, 4096 + 3), 0, "beyond the top node");
	walk(&f, 100, 100, &w);
	cr_assert_eq(w.nr, 3);
	cr_assert_eq(w.idx[0], 3);
	cr_assert_eq(w.idx[1], 18);
	cr_assert_eq(w.idx[2], 4095);
	walk_free(&w);
	fx_fini(&f);
}
