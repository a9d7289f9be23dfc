/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_KIT_PT_H
#define KTBPF_KIT_PT_H

/*
 * Page-table builder for kit images: writes real x86_64 (4- or 5-level) or
 * aarch64 (TTBR1, 4K/16K/64K granule, any T1SZ the walker supports) tables
 * into the image, allocating every table with kit_alloc(). Aborts on misuse
 * (unaligned addresses, a page size the architecture has no leaf for,
 * mapping through an existing leaf), like the rest of the kit.
 *
 * Depths: entries are addressed by depth from the root table, 0 = the
 * top-level table (PGD, or PML5 with l5; the aarch64 start level), up to
 * kit_pt_levels(pt) - 1 = the last-level (PTE / level 3) table.
 *
 * Typical use:
 *	struct kit_pt *pt = kit_pt_new_x86(im, false);
 *	kit_pt_map(pt, 0xffffc90000000000, pa, 3 * 4096, 4096);
 *	kit_pt_mmu(pt, &mmu);   // arch, pgd_pa, l5, tcr_el1; the rest zero
 */

#include <stdbool.h>
#include <stdint.h>

#include "kit.h"
#include "ktbpf/translate.h"

struct kit_pt;

/* x86_64 tables (5-level when l5); the root is allocated now. */
struct kit_pt *kit_pt_new_x86(struct kit_image *im, bool l5);
/*
 * aarch64 TTBR1 tables for granule 4096, 16384 or 65536 and VA size
 * 64 - t1sz (e.g. 4K/16 = 48-bit 4 levels, 4K/25 = 39-bit 3 levels,
 * 16K/17 = 47-bit 3 levels, 64K/22 = 42-bit 2 levels, 64K/16 = 3 levels).
 * T1SZ below 16 (52-bit VA) is LPA2 with 4K (5 levels, from level -1) and
 * 16K (4 levels): TCR_EL1.DS set, OA[51:50] in descriptor bits [9:8]; 64K
 * (3 levels) puts OA[51:48] in bits [15:12].
 */
struct kit_pt *kit_pt_new_arm64(struct kit_image *im, uint64_t granule, unsigned int t1sz);
/* Frees the builder only; the tables stay in the image. NULL ok. */
void kit_pt_free(struct kit_pt *pt);

/*
 * Map [kva, kva+size) to [pa, pa+size) with leaves of page_size:
 * x86_64 4K, 2M, 1G; aarch64 the granule, or a block size legal for it
 * (4K: 2M, 1G; 16K: 32M; 64K: 512M). kva, pa and size must be multiples of
 * page_size. An existing leaf at the same place is overwritten (so tests can
 * change a mapping); intermediate tables are allocated as needed.
 */
void kit_pt_map(struct kit_pt *pt, uint64_t kva, uint64_t pa, uint64_t size, uint64_t page_size);

/*
 * Write a raw 64-bit entry at depth for kva (hostile tests: a non-present
 * entry, a table pointer outside RAM, a loop back to the root, an illegal
 * block). Tables above depth are allocated as needed. Returns the entry's PA.
 */
uint64_t kit_pt_set_entry(struct kit_pt *pt, uint64_t kva, unsigned int depth, uint64_t raw);
/* PA of the entry at depth for kva, allocating tables above it as needed. */
uint64_t kit_pt_entry_pa(struct kit_pt *pt, uint64_t kva, unsigned int depth);
/* Depth of the leaf for page_size (aborts when there is none). */
unsigned int kit_pt_leaf_depth(const struct kit_pt *pt, uint64_t page_size);

/* PA that the kit's own tables give kva (any leaf size); aborts when unmapped. */
uint64_t kit_pt_lookup(const struct kit_pt *pt, uint64_t kva);

/* A table entry pointing at table_pa (present, table type). */
uint64_t kit_pt_table_entry(const struct kit_pt *pt, uint64_t table_pa);

unsigned int kit_pt_levels(const struct kit_pt *pt);
/* Top-level table PA (x86 CR3 value; aarch64 TTBR1 without ASID). */
uint64_t kit_pt_root_pa(const struct kit_pt *pt);
/* aarch64 TCR_EL1 with TG1, T1SZ and DS set (0 on x86_64). */
uint64_t kit_pt_tcr(const struct kit_pt *pt);
/* Fill mmu->arch, pgd_pa, l5, tcr_el1 and zero every other field. */
void kit_pt_mmu(const struct kit_pt *pt, struct ktbpf_mmu *mmu);

#endif
