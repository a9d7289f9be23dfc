/* SPDX-License-Identifier: MIT */
/*
 * Private to discovery: kernel.c and kernel-files.c, which checks that the
 * files a caller gives (vmlinux, System.map, BTF) belong to the guest kernel
 * before anything is read with them. Internal names start with kf_.
 */
#ifndef KTBPF_KERNEL_INTERNAL_H
#define KTBPF_KERNEL_INTERNAL_H

#include <stdbool.h>

#include "ktbpf/err.h"
#include "ktbpf/kernel.h"
#include "ktbpf/symbols.h"
#include "ktbpf/translate.h"

struct btf;

#define KF_BTF_MAX (64u << 20) /* a real vmlinux BTF is a few MiB */

/* What files are compared with; empty strings when the guest did not say. */
struct kf_guest {
	struct ktbpf_xlate *x;
	const struct ktbpf_symtab *syms; /* runtime addresses */
	const char *release;		 /* VMCOREINFO OSRELEASE */
	const char *build_id;		 /* VMCOREINFO BUILD-ID, hex */
};

/*
 * BTF from the caller's fd (name for messages): an ELF's .BTF section, or,
 * unless elf_only, raw BTF (/sys/kernel/btf/vmlinux). -ENOENT "has no .BTF"
 * for an ELF without one; -EINVAL or libbpf's errno when the bytes do not
 * parse; the read's errno (-EIO, -EBADF) when fd cannot be read.
 */
int kf_btf_from_file(int fd, const char *name, bool elf_only, struct btf **ret,
		     struct ktbpf_err *err);

/*
 * An ELF file fd (path: its name for messages; what: "vmlinux", "BTF
 * file") against the guest: its GNU
 * build ID against VMCOREINFO's BUILD-ID, else the release in its
 * linux_banner ("Linux version R ...") against OSRELEASE. *ret_proven is
 * true when one of them matched. -EXDEV naming the file when one differs;
 * a file that is not ELF or has neither is not an error here.
 */
int kf_check_elf(int fd, const char *path, const char *what, const struct kf_guest *g,
		 bool *ret_proven, struct ktbpf_err *err);

/*
 * BTF from a file against the guest's own copy (__start_BTF..__stop_BTF in
 * guest RAM): same size, same bytes. -EXDEV naming the file when they
 * differ; 0 when the guest has no readable copy to compare with.
 */
int kf_check_btf(const struct btf *btf, const char *path, const struct kf_guest *g,
		 struct ktbpf_err *err);

/*
 * Symbols from a file (what: "vmlinux", "System.map"), already relocated:
 * linux_banner, where the file has it, must read "Linux version <release> "
 * in guest RAM. -EXDEV naming the file otherwise.
 */
int kf_check_symbols(const char *path, const char *what, const struct kf_guest *g,
		     struct ktbpf_err *err);

/*
 * kernel-note.c (names kn_): the VMCOREINFO note of the running kernel, at
 * the hinted address (exactly), else by a scan that tries the guess first
 * and takes only a note whose own page tables and init_uts_ns agree with it
 * and, given a CR3, whose root shares CR3's kernel half (x86_64; a stale
 * note of an earlier boot is skipped). Errors as
 * ktbpf_vmcoreinfo_find() / ktbpf_vmcoreinfo_scan().
 */
int kn_find(const struct ktbpf_mem *mem, const struct ktbpf_kernel_hints *h,
	    struct ktbpf_vmcoreinfo *ret, struct ktbpf_err *err);

/* x86_64 kernel-image window: NUMBER(KERNEL_IMAGE_SIZE), else 1 GiB; -EUCLEAN when implausible. */
int kn_kimage_size(const struct ktbpf_vmcoreinfo *vi, uint64_t *ret, struct ktbpf_err *err);

/*
 * aarch64 translation parameters (kernel-note.c): TCR_EL1 (TG1 from
 * PAGESIZE, T1SZ from NUMBER(TCR_EL1_T1SZ), DS for 52 bits with 4K/16K) and
 * TTBR1 (SYMBOL(swapper_pg_dir) - NUMBER(kimage_voffset)) from the note
 * unless h overrides them, the PAC mask and the linear map (VA_BITS,
 * PHYS_OFFSET). vi may be NULL (both hints then needed). A wrong TCR_EL1
 * hint is -EINVAL naming it; a note whose numbers are out of range
 * -EUCLEAN; nothing to find the root with -ENOENT (need PGD).
 */
int kn_arm64_mmu(const struct ktbpf_vmcoreinfo *vi, const struct ktbpf_kernel_hints *h,
		 struct ktbpf_mmu *m, struct ktbpf_err *err);

/*
 * The tables of m (walked, no shortcut) must map kva (the note's symbol
 * name) at kva - kimage_voffset: -ESTALE saying what they do instead.
 */
int kn_arm64_check_root(const struct ktbpf_mem *mem, const struct ktbpf_mmu *m,
			const struct ktbpf_vmcoreinfo *vi, uint64_t kva, const char *name,
			struct ktbpf_err *err);

#endif
