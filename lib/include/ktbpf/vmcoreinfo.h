/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_VMCOREINFO_H
#define KTBPF_VMCOREINFO_H

/*
 * VMCOREINFO: the "KEY=value\n" text the kernel keeps in a page-aligned ELF
 * note in RAM (kernel/vmcore_info.c, kernel/crash_core.c before 6.9;
 * arch/x86/kernel/machine_kexec_64.c: arch_crash_save_vmcoreinfo()). The note
 * is Elf64_Nhdr{namesz=11, descsz, type=0} + "VMCOREINFO\0" padded to 12, the
 * text at byte 24, and begins a page (alloc_pages_exact()).
 *
 * Thread safety: no state; the scan and the parser read mem (safe from
 * several threads, mem.h) and fill the caller's struct ktbpf_vmcoreinfo.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktbpf/err.h"
#include "ktbpf/mem.h"

/* The text is at most one page in the kernel (VMCOREINFO_BYTES). */
#define KTBPF_VMCOREINFO_MAX 4096

struct ktbpf_vmcoreinfo {
	char osrelease[65];
	char build_id[81];  /* hex, "" if absent */
	uint32_t page_size; /* PAGESIZE, 0 if absent */
	bool has_kerneloffset;
	uint64_t kerneloffset; /* KERNELOFFSET (hex): virtual KASLR slide */
	bool has_phys_base;
	uint64_t phys_base;	    /* NUMBER(phys_base): signed decimal, stored mod 2^64 */
	int pgtable_l5;		    /* NUMBER(pgtable_l5_enabled): 1, 0, or -1 absent */
	uint64_t kernel_image_size; /* NUMBER(KERNEL_IMAGE_SIZE) (x86_64), 0 absent */
	uint64_t init_top_pgt; /* SYMBOL(init_top_pgt), else SYMBOL(swapper_pg_dir); runtime VA; 0
				  absent */
	uint64_t page_offset_base_sym; /* SYMBOL(page_offset_base) if listed, else 0 */
	/* kallsyms tables (SYMBOL(kallsyms_*), Linux 6.0+), runtime VAs, 0 absent */
	uint64_t kallsyms_names, kallsyms_num_syms, kallsyms_token_table, kallsyms_token_index;
	uint64_t kallsyms_offsets, kallsyms_relative_base, kallsyms_addresses;
	uint64_t kallsyms_markers, stext;
	/* aarch64 (arch/arm64/kernel/vmcore_info.c), 0 absent */
	uint64_t va_bits, kimage_voffset, tcr_el1_t1sz;
	bool has_phys_offset;
	uint64_t phys_offset;	  /* NUMBER(PHYS_OFFSET), may be "negative" (mod 2^64) */
	uint64_t kernel_pac_mask; /* NUMBER(KERNELPACMASK) */
	uint64_t note_pa;	  /* where it was found; 0 when parsed from text */
	size_t text_len;
	char text[KTBPF_VMCOREINFO_MAX + 1]; /* the raw text, NUL-terminated */
};

/*
 * Parse text (len bytes, need not be NUL-terminated). Unknown keys are kept
 * in ret->text only. Errors: -EINVAL naming the malformed line; -ENOENT when
 * OSRELEASE is missing (then it is not VMCOREINFO).
 */
int ktbpf_vmcoreinfo_parse(const char *text, size_t len, struct ktbpf_vmcoreinfo *ret,
			   struct ktbpf_err *err);

/*
 * Find and parse the note in guest RAM: exactly at hint_pa when non-zero,
 * else ktbpf_vmcoreinfo_scan() taking the first note that parses. Errors
 * as there, and at a hint: -ENOENT when no note is there, -EUCLEAN when the
 * hinted note's text size is garbage, -EFAULT when the hint is not in RAM.
 */
int ktbpf_vmcoreinfo_find(const struct ktbpf_mem *mem, uint64_t hint_pa,
			  struct ktbpf_vmcoreinfo *ret, struct ktbpf_err *err);

/*
 * Whether a parsed note (vi->note_pa says where) is the one wanted: 0 takes
 * it; anything else rejects it, with err saying why (kept for the final
 * message). -EFAULT: the note points outside the RAM as given (RAM given
 * at the wrong guest-physical address), which no retry mends: a scan that
 * takes no note fails with -EFAULT and this err. Any other code (-ESTALE:
 * another boot's note): a scan that takes none fails with -EINPROGRESS, as
 * the running kernel may write its own later. Called at most 64 times per
 * scan.
 */
typedef int (*ktbpf_vmcoreinfo_accept_fn)(void *ctx, const struct ktbpf_vmcoreinfo *vi,
					  struct ktbpf_err *err);

/*
 * Scan guest RAM for the note, taking the first one accept (NULL: any that
 * parses) takes: first at guess_pa when non-zero (where it was last time; a
 * guess that is wrong costs one read), then the head of every page, highest
 * first. The note and the text copy begin pages since Linux 4.13
 * (kernel/crash_core.c, kernel/vmcore_info.c since 6.9:
 * crash_save_vmcoreinfo_init() takes them from alloc_pages_exact() and
 * __get_free_pages()), so only page heads are looked at. File regions are
 * read only where the file has data (ktbpf_mem_find_data()), through
 * their mapping where they have one, else with pread() in chunks: holes are
 * never read, so a guest's unused RAM is neither read nor allocated, and the
 * cost follows what the guest wrote, not its RAM size. Errors: -EINPROGRESS (not ready yet, err.h)
 * "no VMCOREINFO note in 128 MiB of guest RAM (12 MiB of it ever written)" (sizes in bytes, KiB,
 * MiB or GiB, with a tenth when not whole) saying why (not booted far enough, or no
 * CONFIG_VMCORE_INFO / CRASH_CORE), also when the notes found do not parse or were rejected (the
 * first one's reason: after a reboot, RAM still holds the previous kernel's note until the new one
 * writes its own); -EFAULT when accept refused a note so and none was taken (the RAM as given does
 * not hold what the note points to; its need left empty: no other input stands in for the right
 * RAM layout); the read's own code (-EIO...) naming how much RAM could not be read; -E2BIG past
 * 64 notes none taken; -ENOMEM. Other failures set err's need (VMCOREINFO, symbols, page-table
 * root: what could stand in).
 */
int ktbpf_vmcoreinfo_scan(const struct ktbpf_mem *mem, uint64_t guess_pa,
			  ktbpf_vmcoreinfo_accept_fn accept, void *ctx,
			  struct ktbpf_vmcoreinfo *ret, struct ktbpf_err *err);

/*
 * Value of an arbitrary key ("SYMBOL(prog_idr)") as text, copied into buf;
 * -ENOENT if absent, -ERANGE if it does not fit in size bytes.
 */
int ktbpf_vmcoreinfo_get(const struct ktbpf_vmcoreinfo *vi, const char *key, char *buf,
			 size_t size);

/*
 * Whether the note vi was found at (vi->note_pa) is still there, byte for
 * byte: a service's cheap check that the kernel it discovered still runs
 * (one read of at most 4 KiB, no parse). 0 when unchanged; -ESTALE with a
 * message when other bytes are there (a rebooted guest's new kernel, or one
 * that crashed and appended CRASHTIME: either way discover again); -EFAULT
 * or -EIO when unreadable; -EINVAL for a vi parsed from text (note_pa 0).
 * Unchanged does not prove the kernel runs: a reboot may leave the old note
 * in RAM and write the new one elsewhere.
 */
int ktbpf_vmcoreinfo_unchanged(const struct ktbpf_mem *mem, const struct ktbpf_vmcoreinfo *vi,
			       struct ktbpf_err *err);

#endif
