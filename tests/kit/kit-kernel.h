/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_KIT_KERNEL_H
#define KTBPF_KIT_KERNEL_H

/*
 * A fake x86_64 guest kernel in a kit image, complete enough that
 * ktbpf_kernel_discover() finds it with no files and no hints:
 *
 *  - a kernel image at physical image_pa, linked at 0xffffffff81000000 and
 *    slid by `slide` (so _text = 0xffffffff81000000 + slide), mapped with
 *    2 MiB pages; phys_base = image_pa - 0x1000000 - slide (mod 2^64, so a
 *    slide past the load address gives a "negative" phys_base as real KASLR
 *    guests have), which makes `kva - 0xffffffff80000000 + phys_base` hold;
 *  - init_top_pgt in the image's .data as the page-table root (4- or
 *    5-level), a direct map of all RAM at page_offset_base (2 MiB or 1 GiB
 *    pages) and a vmalloc area mapped with 4 KiB pages that are NOT
 *    physically contiguous;
 *  - per-CPU units in the direct map for the possible CPUs, CPU n's copy of
 *    template T at T + __per_cpu_offset[n], with either scheme (lib percpu.h):
 *    zero-based templates, __per_cpu_start = 0 (x86_64 before 6.15), or
 *    relative ones, __per_cpu_start in the image (6.15+); a per-CPU load
 *    area in the image (__per_cpu_load / __per_cpu_start) that the
 *    __per_cpu_offset entries of CPUs that are not possible point at with
 *    their boot value, and this_cpu_off in every unit;
 *  - at kit_kernel_finish(): nr_cpu_ids, __cpu_possible_mask,
 *    __per_cpu_offset, page_offset_base,
 *    prog_idr, bpf_stats_enabled_key, __start_BTF/__stop_BTF, the kallsyms
 *    tables (a small encoder with multi-character tokens, base-relative
 *    offsets with absolute per-CPU symbols by default, or one of the other
 *    encodings below) and a VMCOREINFO note
 *    on a page boundary high in RAM, as a 6.1 x86_64 kernel writes it.
 *
 * With opts.arch = KTBPF_ARCH_AARCH64 it is an arm64 kernel as Debian builds
 * and QEMU virt boots it (arch/arm64/include/asm/memory.h): RAM from the
 * image's gpa_base (set it first, e.g. 1 GiB), a 4K granule, the image at
 * KIMAGE_VADDR 0xffff800080000000 + slide (kimage_voffset = its kva - PA),
 * swapper_pg_dir in its .data as the TTBR1 root, a 48-bit VA (T1SZ 16) or
 * 52-bit LPA2 (T1SZ 12, 5 levels), the linear map va = (pa - PHYS_OFFSET) |
 * PAGE_OFFSET with the compile-time VA_BITS, per-CPU offsets relative to
 * __per_cpu_start (no this_cpu_off), no page_offset_base, and the note
 * arch/arm64/kernel/vmcore_info.c writes (VA_BITS, kimage_voffset,
 * PHYS_OFFSET, TCR_EL1_T1SZ, KERNELPACMASK; no phys_base, no
 * init_top_pgt).
 *
 * Test-only code: misuse aborts with a message.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kit.h"
#include "kit-pt.h"
#include "ktbpf/kernel.h"

#define KIT_LINK_TEXT	     0xffffffff81000000ull /* _text without KASLR */
#define KIT_A64_RAM_BASE     0x40000000ull	   /* QEMU virt: guest RAM from 1 GiB */
#define KIT_A64_KIMAGE_VADDR 0xffff800080000000ull /* arm64 MODULES_END: _text without KASLR */
#define KIT_PERCPU_SYM_MAX   0x80000000ull	   /* zero-based per-CPU symbols lie below */
/* The build ID VMCOREINFO (BUILD-ID) and the vmlinux note give, 20 bytes in hex. */
#define KIT_BUILD_ID "6b1d0e6c8e0f4a4cbb2e3a5d7a1f9c0e12345678"

enum kit_kallsyms_enc {
	KIT_KALLSYMS_ABS_PERCPU = 0, /* x86_64 default before 6.15 */
	KIT_KALLSYMS_RELATIVE,	     /* per-CPU symbols left out (they would not fit) */
	KIT_KALLSYMS_ABSOLUTE,	     /* kallsyms_addresses[] */
	/*
	 * 7.0+: kallsyms_offsets[i] relative to its own address, and VMCOREINFO
	 * without kallsyms_relative_base; zero-based per-CPU symbols left out
	 * (more than 2 GiB from the table, as scripts/kallsyms.c refuses).
	 */
	KIT_KALLSYMS_PLACE_RELATIVE,
};

/* Whether the kit leaves symbol kva out of kallsyms under enc (it cannot be encoded). */
bool kit_kallsyms_left_out(enum kit_kallsyms_enc enc, uint64_t kva);

/* Where kit_kernel_finish() puts the VMCOREINFO note. */
enum kit_note_place {
	KIT_NOTE_HIGH = 0, /* at 7/8 of RAM */
	KIT_NOTE_MIDDLE,   /* at half of RAM */
	KIT_NOTE_LOW,	   /* right after the kit's other objects, low in RAM */
};

struct kit_kernel_opts {
	enum ktbpf_arch arch;	  /* UNKNOWN (0) or X86_64: x86_64; AARCH64: see above */
	unsigned int a64_t1sz;	  /* aarch64 TCR_EL1.T1SZ; 0: 16 (48-bit); 12: 52-bit LPA2 */
	unsigned int a64_va_bits; /* aarch64 NUMBER(VA_BITS) (compile time); 0: 52 */
	/*
	 * aarch64: PHYS_OFFSET is the RAM start minus this (a randomised linear
	 * map, or a 52-bit kernel running 48-bit, makes it "negative").
	 */
	uint64_t a64_phys_offset_below;
	bool a64_pac;		 /* NUMBER(KERNELPACMASK) = bits 63..(64 - T1SZ), else 0 */
	bool l5;		 /* 5-level paging */
	uint64_t slide;		 /* virtual KASLR slide, multiple of 2 MiB */
	uint64_t image_pa;	 /* physical _text, 2 MiB aligned; 0: 16 MiB */
	uint64_t image_size;	 /* bytes of image; 0: 16 MiB */
	uint64_t page_offset;	 /* page_offset_base; 0: the non-random default */
	bool direct_map_1g;	 /* direct map with 1 GiB pages (RAM a multiple of 1 GiB) */
	uint32_t nr_cpus;	 /* CPU numbers 0..nr_cpus-1 (nr_cpu_ids); 0: 4 */
	uint32_t nr_cpu_ids_raw; /* when non-zero, written as nr_cpu_ids instead of nr_cpus */
	/*
	 * Bit n set: CPU n (< nr_cpus) is not possible, a hole in
	 * __cpu_possible_mask; its __per_cpu_offset entry keeps the boot value
	 * and its copies are in the load area.
	 */
	uint64_t possible_holes;
	bool relative_percpu; /* the 6.15+ scheme (kallsyms then base-relative) */
	bool no_nr_cpu_ids;   /* CONFIG_FORCE_NR_CPUS: no nr_cpu_ids symbol */
	uint64_t percpu_unit; /* bytes per CPU unit; 0: 64 KiB */
	const char *release;  /* OSRELEASE; NULL: "6.1.0-kit" */
	enum kit_kallsyms_enc kallsyms_enc;
	enum kit_note_place note_place;
	/*
	 * Two notes of an earlier boot, just below the live one (an older
	 * release at the same place) and above it (another KASLR slide): a
	 * reboot leaves them in RAM.
	 */
	bool stale_notes;
	/* Pieces to leave out, for error tests. */
	bool no_vmcoreinfo, no_btf, no_prog_idr, no_kallsyms, no_stext_in_vmcoreinfo;
	bool no_page_offset_base; /* no page_offset_base symbol (no RANDOMIZE_MEMORY) */
};

/*
 * NR_CPUS of a kit kernel with nr_cpus CPUs: 64, or nr_cpus rounded up to
 * 64 above (struct cpumask's bits, __per_cpu_offset[]'s entries).
 */
static inline uint32_t kit_nr_cpus_max(uint32_t nr_cpus)
{
	return nr_cpus <= 64 ? 64 : (nr_cpus + 63) / 64 * 64;
}

struct kit_ksym {
	char *name;
	uint64_t kva;
	char type;
};

struct kit_kernel {
	struct kit_image *im;
	struct kit_kernel_opts opts;
	struct kit_pt *pt;
	uint64_t phys_base, kerneloffset, page_offset, pgd_pa;
	/* aarch64; page_offset is then the linear-map VA of PA 0 (PAGE_OFFSET - PHYS_OFFSET) */
	uint64_t kimage_voffset, phys_offset, pac_mask;
	uint64_t link_text; /* _text without KASLR: KIT_LINK_TEXT, or KIT_A64_KIMAGE_VADDR */
	uint64_t text_kva, image_pa; /* _text */
	uint64_t vmalloc_next;	     /* next free vmalloc kva */
	uint64_t image_next;	     /* next free image offset (.data/.rodata bump) */
	uint64_t percpu_next;	     /* next free per-CPU template offset */
	uint64_t percpu_base;	     /* template of offset 0: __per_cpu_start (0 if zero-based) */
	uint64_t percpu_load_kva, percpu_load_pa; /* the load area in the image */
	uint64_t *percpu_unit_pa;		  /* nr_cpus entries (holes: the load area) */
	uint64_t *percpu_offset; /* __per_cpu_offset[0..nr_cpus) (holes: boot value) */
	struct kit_ksym *syms;
	size_t nr_syms, cap_syms;
	const void *btf;
	size_t btf_size;
	/* Filled by kit_kernel_finish(). */
	uint64_t vmcoreinfo_pa;
	uint64_t prog_idr, bpf_stats_enabled_key, per_cpu_offset_sym; /* kvas */
	uint64_t kallsyms_names, kallsyms_token_table, kallsyms_token_index, kallsyms_num_syms;
	uint64_t kallsyms_offsets, kallsyms_relative_base, kallsyms_addresses;
	uint32_t kallsyms_num; /* symbols encoded */
	char *vmcoreinfo_text;
	bool finished;
};

/*
 * im should be at least 64 MiB, a multiple of 2 MiB, with nothing allocated
 * at or above image_pa yet (make the kernel before other kit objects). The
 * image occupies [image_pa, image_pa + image_size); init_top_pgt is its
 * first page after the 2 MiB of text. opts may be NULL.
 */
struct kit_kernel *kit_kernel_new(struct kit_image *im, const struct kit_kernel_opts *opts);
void kit_kernel_free(struct kit_kernel *kk);

/*
 * A zeroed object in the image's .data, listed in kallsyms as type 'D' (or
 * the given type via kit_kernel_add_symbol_type: 'T' text, 'b' bss ...).
 * Adding a name again returns the existing object (its size must fit).
 */
void kit_kernel_add_symbol(struct kit_kernel *kk, const char *name, uint64_t size, uint64_t align,
			   uint64_t *ret_kva, uint64_t *ret_pa);
void kit_kernel_add_symbol_type(struct kit_kernel *kk, const char *name, char type, uint64_t size,
				uint64_t align, uint64_t *ret_kva, uint64_t *ret_pa);
/*
 * Only a name -> address entry (no storage), e.g. a symbol at a chosen kva.
 * Not checked for duplicates (kallsyms has them too), so it stays fast for
 * tables of 100k+ symbols.
 */
void kit_kernel_add_symbol_at(struct kit_kernel *kk, const char *name, char type, uint64_t kva);
/* qsort() order of symbols: by address, then as added. */
int kit_ksym_cmp(const void *a, const void *b);
/* kva of a symbol added so far; 0 if none. */
uint64_t kit_kernel_symbol(const struct kit_kernel *kk, const char *name);

/* A zeroed object in the direct map (like kmalloc), 64-byte aligned. */
void kit_kernel_kmalloc(struct kit_kernel *kk, uint64_t size, uint64_t *ret_kva, uint64_t *ret_pa);
/* A zeroed vmalloc area of size bytes, page by page non-contiguous, with a guard page after. */
void kit_kernel_vmalloc(struct kit_kernel *kk, uint64_t size, uint64_t *ret_kva);

/* Translate any kva the kit mapped (page walk of the kit's own tables); aborts when unmapped. */
uint64_t kit_kernel_kva_pa(const struct kit_kernel *kk, uint64_t kva);
/* Write len bytes at kva (any mapping, across pages); aborts when unmapped. */
void kit_kernel_wkva(struct kit_kernel *kk, uint64_t kva, const void *src, uint64_t len);
void kit_kernel_w64(struct kit_kernel *kk, uint64_t kva, uint64_t v);
void kit_kernel_w32(struct kit_kernel *kk, uint64_t kva, uint32_t v);

/* A per-CPU object: *ret_template is the __percpu pointer value (per the scheme). */
void kit_kernel_percpu_alloc(struct kit_kernel *kk, uint64_t size, uint64_t *ret_template);
/* Whether CPU cpu is in __cpu_possible_mask. */
bool kit_kernel_cpu_possible(const struct kit_kernel *kk, uint32_t cpu);
/* PA of CPU cpu's copy of template (cpu < nr_cpus; a hole's copy is in the load area). */
uint64_t kit_kernel_percpu_pa(const struct kit_kernel *kk, uint64_t template_kva, uint32_t cpu);

/* Raw BTF for __start_BTF..__stop_BTF (copied at finish; raw must live until then). */
void kit_kernel_set_btf(struct kit_kernel *kk, const void *raw, size_t size);

/* Write the tables, symbols and VMCOREINFO described above. Once. */
void kit_kernel_finish(struct kit_kernel *kk);

/*
 * Write a System.map ("%016llx %c %s\n", sorted by address) of every symbol:
 * link-time addresses (runtime - slide) when link_time, else runtime ones
 * (what /proc/kallsyms shows).
 */
void kit_kernel_write_system_map(const struct kit_kernel *kk, const char *path, bool link_time);

enum kit_vmlinux_flags {
	KIT_VMLINUX_SYMTAB = 1u << 0, /* .symtab + .strtab of every symbol */
	KIT_VMLINUX_BTF = 1u << 1,    /* .BTF holding the kit's raw BTF */
	/*
	 * Another build: every image symbol but init_top_pgt sits 1 MiB later
	 * (as if .text had grown), so only the page-table root agrees with
	 * VMCOREINFO.
	 */
	KIT_VMLINUX_OTHER_BUILD = 1u << 2,
	/* .notes with the GNU build ID (KIT_BUILD_ID; with OTHER_BUILD another one) */
	KIT_VMLINUX_BUILD_ID = 1u << 3,
	/* .rodata with linux_banner: the kit's release (with OTHER_BUILD "6.12.0-other") */
	KIT_VMLINUX_BANNER = 1u << 4,
};

/*
 * Write an ELF64 x86_64 vmlinux: link-time addresses (runtime - slide) for
 * image symbols in a NOBITS .text, zero-based per-CPU ones in .data..percpu,
 * types as in System.map ('T'/'t' functions, others objects; lowercase local).
 */
void kit_kernel_write_vmlinux(const struct kit_kernel *kk, const char *path, unsigned int flags);

/*
 * The library takes files as fds (struct ktbpf_file). kit_file() opens path
 * read-only, named path (copied); kit_memfd_file() copies path's bytes into
 * a memfd, which has no path at all, named NULL ("fd N" in messages). Both
 * abort on failure; the fds stay open for the test process's life (at most
 * 16 at once: older slots are closed and reused).
 */
const struct ktbpf_file *kit_file(const char *path);
const struct ktbpf_file *kit_memfd_file(const char *path);

/*
 * An ELF note "VMCOREINFO" at pa in im, as the kernel keeps it
 * (kernel/vmcore_info.c: append_elf_note()): its header says descsz bytes of
 * description, of which text's strlen() bytes are written at pa + 24.
 */
void kit_vmcoreinfo_note(struct kit_image *im, uint64_t pa, const char *text, uint32_t descsz);

/* The VMCOREINFO text kit_kernel_finish() wrote (NUL-terminated, owned by kk). */
const char *kit_kernel_vmcoreinfo_text(const struct kit_kernel *kk);

/*
 * The VMCOREINFO text of a real Debian 6.1 x86_64 guest (KASLR on, negative
 * phys_base), for parser tests and fuzz seeds. NUL-terminated.
 */
extern const char kit_vmcoreinfo_debian61[];

#endif
