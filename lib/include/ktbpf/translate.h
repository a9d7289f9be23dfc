/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_TRANSLATE_H
#define KTBPF_TRANSLATE_H

/*
 * Kernel virtual -> guest physical address translation.
 *
 * Three routes, tried in this order:
 *  1. direct map: kva in [page_offset, page_offset + ktbpf_mem_end() - dram_base)
 *     -> kva - page_offset + dram_base (arch/x86/include/asm/page_64.h: __va/__pa;
 *     dram_base is 0 on x86_64, so the range is [page_offset, + mem end));
 *  2. kernel image: kva in [kimage_base, kimage_base + kimage_size) ->
 *     kva - kimage_base + phys_base (arch/x86/include/asm/page_64.h:
 *     __phys_addr_nodebug(), x86 __START_KERNEL_map);
 *  3. a page-table walk from the top-level table at pgd_pa:
 *     x86_64 4- and 5-level with 1 GiB / 2 MiB leaves (arch/x86/include/asm/pgtable_types.h);
 *     aarch64 TTBR1 with 4K/16K/64K granules and the VA size from TCR_EL1
 *     (arch/arm64/include/asm/pgtable-hwdef.h), 52-bit VA included: LPA2
 *     (TCR_EL1.DS, 4K: 5 levels from level -1; 16K: 4 levels; output
 *     address bits 51:50 in descriptor bits 9:8) and 64K with FEAT_LVA
 *     (output address bits 51:48 in descriptor bits 15:12).
 *     Kernel addresses lose what the kernel strips first: the pointer
 *     authentication code (kernel_pac_mask, VMCOREINFO's KERNELPACMASK) and,
 *     with TCR_EL1.TBI1 (KASAN tags), the tag byte.
 * A shortcut whose parameter is 0 (page_offset, kimage_base) is disabled.
 *
 * Page-table entries are guest data: every walk is bounded by the number of
 * levels, and a table outside guest RAM gives -EFAULT with the address.
 *
 * A struct ktbpf_xlate keeps a small translation cache (4 KiB page -> page,
 * filled by successful walks only; shortcuts need no cache); call
 * ktbpf_xlate_flush() at the start of each snapshot, since the guest may have
 * changed its tables while it ran.
 *
 * Thread safety: a struct ktbpf_xlate is one thread's at a time (every read
 * may fill its cache); give each walker its own (ktbpf_kernel_xlate_new()).
 * Any number of them may read one struct ktbpf_mem at once.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktbpf/err.h"
#include "ktbpf/mem.h"

enum ktbpf_arch {
	KTBPF_ARCH_UNKNOWN = 0,
	KTBPF_ARCH_X86_64,
	KTBPF_ARCH_AARCH64,
};

/* "x86_64", "aarch64" or "unknown". */
const char *ktbpf_arch_name(enum ktbpf_arch arch);
/* Parses "x86_64"/"amd64"/"aarch64"/"arm64"; KTBPF_ARCH_UNKNOWN otherwise. */
enum ktbpf_arch ktbpf_arch_from_name(const char *name);

/* Translation parameters: plain data, filled by the kernel module or a test. */
struct ktbpf_mmu {
	enum ktbpf_arch arch;
	/*
	 * Guest physical address of the top-level table. x86_64: CR3 & ~0xfff
	 * (or init_top_pgt's PA). aarch64: TTBR1_EL1 with the ASID (bits 63:48)
	 * and CnP bit allowed; they are stripped.
	 */
	uint64_t pgd_pa;
	bool l5;	  /* x86_64: 5-level paging (CR4.LA57) */
	uint64_t tcr_el1; /* aarch64: TCR_EL1 (TG1, T1SZ, DS, TBI1) */
	/* aarch64: NUMBER(KERNELPACMASK), set in a kernel address before it is used; 0: none */
	uint64_t kernel_pac_mask;
	/* Direct-map base (page_offset_base / PAGE_OFFSET); 0 = no shortcut. */
	uint64_t page_offset;
	/* PA that page_offset maps (aarch64 PHYS_OFFSET); 0 on x86_64. */
	uint64_t dram_base;
	/* __START_KERNEL_map (x86_64) / kimage vaddr; 0 = no shortcut. */
	uint64_t kimage_base;
	/*
	 * Bytes covered by the image shortcut (x86_64: VMCOREINFO's
	 * NUMBER(KERNEL_IMAGE_SIZE), 1 GiB where it is not given).
	 */
	uint64_t kimage_size;
	/* PA of kimage_base, modulo 2^64 (may be "negative"). */
	uint64_t phys_base;
};

#define KTBPF_X86_START_KERNEL_MAP  0xffffffff80000000ull
#define KTBPF_X86_KERNEL_IMAGE_SIZE (1ull << 30)

struct ktbpf_xlate;

/* aarch64 translation geometry that TCR_EL1 selects (TTBR1 half). */
struct ktbpf_a64_geom {
	unsigned int shift;  /* granule: 12 (4K), 14 (16K), 16 (64K) */
	unsigned int va;     /* VA bits: 64 - T1SZ */
	unsigned int levels; /* 2..5 */
	bool ds;	     /* LPA2 */
};

/*
 * Decode TCR_EL1's TTBR1 fields. -EOPNOTSUPP with a message naming the field
 * for a reserved granule, a T1SZ out of range for it (above 48 bits needs
 * DS with 4K/16K) or DS with 64K.
 */
int ktbpf_a64_decode_tcr(uint64_t tcr, struct ktbpf_a64_geom *g, struct ktbpf_err *err);

/*
 * aarch64 kernel address as the kernel uses it: with bit 55 set, the PAC
 * field (mmu->kernel_pac_mask) and, with TBI1, the tag byte set to ones
 * (arch/arm64/include/asm/memory.h: __untagged_addr()). Other addresses and
 * architectures unchanged.
 */
uint64_t ktbpf_a64_untag(const struct ktbpf_mmu *mmu, uint64_t kva);

/*
 * New translator over mem (borrowed, must outlive it) with parameters mmu
 * (copied). NULL on allocation failure. Free with ktbpf_xlate_free().
 */
struct ktbpf_xlate *ktbpf_xlate_new(const struct ktbpf_mem *mem, const struct ktbpf_mmu *mmu);
struct ktbpf_xlate *ktbpf_xlate_free(struct ktbpf_xlate *x);

/* Replace the parameters (copies) and flush the cache. */
void ktbpf_xlate_set_mmu(struct ktbpf_xlate *x, const struct ktbpf_mmu *mmu);
const struct ktbpf_mmu *ktbpf_xlate_mmu(const struct ktbpf_xlate *x);
const struct ktbpf_mem *ktbpf_xlate_mem_of(const struct ktbpf_xlate *x);

/* Drop cached translations (call once per snapshot). */
void ktbpf_xlate_flush(struct ktbpf_xlate *x);

/*
 * kva -> guest PA by the routes above. Errors: -ENOENT (not mapped: a
 * non-present entry; err->addr = kva), -EFAULT (a table lies outside guest
 * RAM; err->addr = that table's PA), -EOPNOTSUPP (unsupported aarch64 config),
 * -EINVAL (non-canonical or out-of-range kva).
 */
int ktbpf_xlate_kva(struct ktbpf_xlate *x, uint64_t kva, uint64_t *ret_pa, struct ktbpf_err *err);

/* Always walk the page tables, skipping both shortcuts and the cache (tests, validation). */
int ktbpf_xlate_walk(struct ktbpf_xlate *x, uint64_t kva, uint64_t *ret_pa, struct ktbpf_err *err);

/*
 * Read len bytes of kernel virtual memory at kva, translating once per page
 * (pages need not be physically contiguous). All or nothing: the first
 * failing page's error is returned (buf is then undefined); -EINVAL when
 * [kva, kva+len) wraps past 2^64.
 */
int ktbpf_xlate_read(struct ktbpf_xlate *x, uint64_t kva, void *buf, size_t len,
		     struct ktbpf_err *err);
int ktbpf_xlate_read_u32(struct ktbpf_xlate *x, uint64_t kva, uint32_t *ret, struct ktbpf_err *err);
int ktbpf_xlate_read_u64(struct ktbpf_xlate *x, uint64_t kva, uint64_t *ret, struct ktbpf_err *err);

/*
 * Read a NUL-terminated string of at most max-1 bytes at kva into buf
 * (always terminated). A string without a NUL within max-1 bytes is cut and
 * returns 1 (truncated); 0 when complete. Reads page by page, so a string
 * ending just before an unmapped page still reads. Errors as
 * ktbpf_xlate_read() (buf is then undefined); -EINVAL for max 0 or a string
 * running past the end of the address space.
 */
int ktbpf_xlate_read_str(struct ktbpf_xlate *x, uint64_t kva, char *buf, size_t max,
			 struct ktbpf_err *err);

#endif
