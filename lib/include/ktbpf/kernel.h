/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_KERNEL_H
#define KTBPF_KERNEL_H

/*
 * One guest kernel's description, discovered once per run (per guest boot):
 * architecture, KASLR slide, phys_base, direct-map base, page-table root,
 * 5-level paging, the struct offsets and struct_ops interfaces resolved
 * from its BTF and the symbols walks use, and the possible CPUs with their
 * per-CPU offsets.
 *
 * Sources, in order of preference for each fact:
 *  1. hints from the caller (a VMM knows CR3 / TCR_EL1 / where VMCOREINFO is);
 *  2. files: a vmlinux ELF (.symtab and .BTF), a System.map-format file, a
 *     BTF file. Link-time addresses are relocated by the KASLR slide, computed
 *     from a symbol VMCOREINFO also lists and cross-checked with KERNELOFFSET;
 *  3. guest RAM alone: VMCOREINFO (the running kernel's note, found by a scan
 *     of the page heads RAM holds data in: vmcoreinfo.h), kallsyms
 *     decoded from RAM, BTF read from __start_BTF..__stop_BTF.
 * Both x86_64 and aarch64 are discovered with no hints at all: on aarch64
 * TTBR1 is swapper_pg_dir's PA (SYMBOL(swapper_pg_dir) -
 * NUMBER(kimage_voffset)) and TCR_EL1 follows from PAGESIZE and
 * NUMBER(TCR_EL1_T1SZ) (LPA2 for 52 bits with 4K/16K); the TTBR1_EL1 (as
 * cr3) and TCR_EL1 hints override them (and are needed without VMCOREINFO).
 *
 * Thread safety: a struct ktbpf_kernel is immutable once
 * ktbpf_kernel_discover() returns it; a const pointer to it may be used from
 * any number of threads at once (every walk brings its own translator and
 * caches, progs.h). Only ktbpf_kernel_free() needs the callers to be done.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktbpf/err.h"
#include "ktbpf/mem.h"
#include "ktbpf/offsets.h"
#include "ktbpf/percpu.h"
#include "ktbpf/symbols.h"
#include "ktbpf/translate.h"
#include "ktbpf/vmcoreinfo.h"

struct ktbpf_kernel;

/*
 * A file the caller opened: the library opens no path of its own, so a
 * service can hand it fds received over a socket (SCM_RIGHTS). The fd is
 * borrowed: never closed, and needed only while ktbpf_kernel_discover()
 * runs (everything is read before it returns). It is read with pread()
 * from offset 0 (read() only for a pipe), so its file position neither
 * matters nor moves: an fd shared with another reader is fine. Files given
 * as fds may have no path at all (a memfd, an unlinked file). name is used
 * only in messages ("vmlinux-6.1.0-18"); NULL reads "fd N".
 */
struct ktbpf_file {
	int fd;
	const char *name;
};

struct ktbpf_kernel_hints {
	enum ktbpf_arch arch; /* UNKNOWN: x86_64 unless VMCOREINFO says otherwise */
	bool has_cr3;
	/*
	 * x86_64 CR3 / aarch64 TTBR1_EL1. On x86_64 it also tells the running
	 * kernel's VMCOREINFO note from an earlier boot's left whole in RAM.
	 */
	uint64_t cr3;
	bool has_tcr_el1;
	uint64_t tcr_el1;
	/*
	 * x86_64 5-level paging (CR4.LA57), used only when VMCOREINFO does not
	 * say (NUMBER(pgtable_l5_enabled)); zeroed hints mean "unknown", taken
	 * as 4-level.
	 */
	bool has_l5;
	bool l5;
	uint64_t vmcoreinfo_pa; /* the note is exactly there (an error when not); 0: scan */
	/*
	 * Where the note was last time (info.vmcoreinfo_pa of an earlier
	 * discovery of this guest): looked at first, and taken only if it is
	 * still the running kernel's note; else a scan. 0: none.
	 */
	uint64_t vmcoreinfo_guess_pa;
	bool has_kaslr_offset;
	uint64_t kaslr_offset;
	const struct ktbpf_file *vmlinux;    /* ELF: .symtab and/or .BTF; NULL if none */
	const struct ktbpf_file *system_map; /* System.map or /proc/kallsyms copy; NULL if none */
	const struct ktbpf_file *btf;	     /* raw BTF or ELF with .BTF; NULL if none */
	const char *vmcoreinfo_text;	     /* e.g. from an ELF core note; NULL: look in RAM */
	size_t vmcoreinfo_len;
	/*
	 * Keep the whole symbol table for ktbpf_kernel_symbol() (megabytes on
	 * a real kernel); by default it is freed when discovery ends.
	 */
	bool keep_symbols;
	/*
	 * Facts of a kernel discovered earlier (ktbpf_kernel_facts_ref()),
	 * perhaps of the same build (another VM): when this guest's BTF in RAM
	 * has exactly the bytes like's facts came from (size and a 64-bit
	 * hash), its struct offsets and struct_ops interfaces are shared
	 * instead of parsed again (info.btf_shared says so); symbols, page
	 * tables and per-CPU offsets are this guest's own either way. Borrowed
	 * for the call. A guest cannot choose what like says, but one whose BTF
	 * collides with like's hash on purpose would be walked with like's
	 * layout: pass facts of kernels that trust each other (one owner's).
	 */
	const struct ktbpf_kernel_facts *like;
};

/* Where a fact came from, for reports. */
enum ktbpf_source {
	KTBPF_SRC_NONE = 0,
	KTBPF_SRC_HINT,
	KTBPF_SRC_VMCOREINFO,
	KTBPF_SRC_VMLINUX,
	KTBPF_SRC_SYSTEM_MAP,
	KTBPF_SRC_BTF_FILE,
	KTBPF_SRC_GUEST_RAM, /* kallsyms / BTF decoded from guest memory */
	KTBPF_SRC_DEFAULT,
};
const char *ktbpf_source_name(enum ktbpf_source s);

struct ktbpf_kernel_info {
	enum ktbpf_arch arch;
	char release[65];
	char build_id[81];
	uint64_t kaslr_offset;
	uint64_t phys_base;
	uint64_t page_offset;
	uint64_t pgd_pa;
	bool l5;		   /* 5-level paging (x86_64 LA57; aarch64 4K with LPA2) */
	uint32_t pgtable_levels;   /* levels walked from the root: x86_64 4/5, aarch64 2..5 */
	uint32_t nr_cpu_ids;	   /* bound of CPU numbers (NR_CPUS under CONFIG_FORCE_NR_CPUS) */
	uint32_t nr_possible_cpus; /* CPUs in __cpu_possible_mask below nr_cpu_ids */
	enum ktbpf_percpu_scheme percpu_scheme;
	uint64_t vmcoreinfo_pa; /* where the note was: pass as vmcoreinfo_guess_pa next time */
	size_t nr_symbols;
	size_t btf_size;
	enum ktbpf_source symbols_source, btf_source, layout_source;
	uint64_t discover_ns; /* wall time of ktbpf_kernel_discover() */
	bool btf_shared;      /* BTF facts taken from hints->like, not parsed */
	/* Resolved addresses of what the walkers need (runtime VAs). */
	uint64_t prog_idr;
	uint64_t bpf_stats_enabled_key; /* 0 when the symbol is absent */
	uint64_t per_cpu_offset;	/* __per_cpu_offset */
	/* Optional (0 when absent): the struct_ops maps and sched_ext's state. */
	uint64_t map_idr;
	uint64_t link_idr;
	uint64_t scx_root;	   /* 6.16+: struct scx_sched __rcu * */
	uint64_t scx_ops;	   /* up to 6.15: static struct sched_ext_ops */
	uint64_t scx_enable_state; /* scx_enable_state_var, scx_ops_enable_state_var before 6.15 */
	/* sched_ext's statics (kernel/sched/ext.c; scx.c), each 0 when absent */
	uint64_t scx_exit_kind;		 /* atomic_t (up to 6.15) */
	uint64_t scx_exit_info;		 /* struct scx_exit_info * (up to 6.15) */
	uint64_t scx_bypass_depth;	 /* scx_bypass_depth / scx_ops_bypass_depth */
	uint64_t scx_nr_rejected;	 /* atomic_long_t */
	uint64_t scx_enable_seq;	 /* atomic_long_t */
	uint64_t scx_watchdog_timeout;	 /* unsigned long, jiffies */
	uint64_t scx_watchdog_timestamp; /* unsigned long, jiffies */
	uint64_t scx_switched_all;	 /* __scx_switched_all: struct static_key */
	uint64_t scx_switching_all;	 /* bool: sysfs' switch_all */
	uint64_t scx_hotplug_seq;	 /* atomic_long_t */
	uint64_t jiffies;		 /* jiffies_64 */
	uint64_t scx_event_stats;	 /* 6.15's per-CPU event_stats_cpu (its per-CPU address) */
};

/*
 * Discover the kernel in mem (borrowed; must outlive the result). hints may be
 * NULL; its files are read here and not kept. On success *ret holds only
 * what walks need (about 10 KiB: struct offsets, the struct_ops
 * interfaces' member names, the walkers' symbol addresses in
 * ktbpf_kernel_info, the possible CPUs' offsets, translation parameters,
 * read plans, VMCOREINFO): the symbol table and the BTF are freed when
 * discovery ends (hints->keep_symbols keeps the symbols). Discovery's own
 * temporaries are megabytes: glibc keeps that much freed heap for reuse
 * (about 12 MiB after a 6.1-sized kernel, not per kernel; a service may fix
 * M_MMAP_THRESHOLD with mallopt() to hand it back). Errors name the
 * missing piece and why, e.g. "no VMCOREINFO note in 512 MiB of guest RAM:
 * the kernel has not booted far enough, or lacks CONFIG_VMCORE_INFO"
 * (-EINPROGRESS: not ready yet; err.h lists the classes), "symbol
 * 'prog_idr' not found: the kernel needs CONFIG_KALLSYMS_ALL", "guest
 * kernel has no BTF (__start_BTF missing)"; err->need says which input
 * (hint or file) would help. A file that cannot be read gives its read's
 * errno (-EIO; -EBADF for an fd not open for reading).
 *
 * Files are checked against the guest before use, and one from another
 * kernel is -EXDEV with a message naming it and what differs: a vmlinux or
 * ELF BTF file by its build ID (VMCOREINFO BUILD-ID) or release
 * (OSRELEASE), symbols by the addresses VMCOREINFO lists and by
 * linux_banner in guest RAM, BTF by the guest's own copy in RAM.
 */
int ktbpf_kernel_discover(const struct ktbpf_mem *mem, const struct ktbpf_kernel_hints *hints,
			  struct ktbpf_kernel **ret, struct ktbpf_err *err);

struct ktbpf_kernel *ktbpf_kernel_free(struct ktbpf_kernel *k);

/*
 * The BTF-derived facts of k (struct offsets, struct_ops interfaces), for
 * hints->like when discovering another guest of the same build: a new
 * reference, valid after k is freed; NULL when k has none. Drop with
 * ktbpf_kernel_facts_unref() (NULL ok; returns NULL). References may be
 * taken and dropped from any thread.
 */
struct ktbpf_kernel_facts;
struct ktbpf_kernel_facts *ktbpf_kernel_facts_ref(const struct ktbpf_kernel *k);
struct ktbpf_kernel_facts *ktbpf_kernel_facts_unref(struct ktbpf_kernel_facts *f);

/* Borrowed views, valid until ktbpf_kernel_free(). */
const struct ktbpf_kernel_info *ktbpf_kernel_info(const struct ktbpf_kernel *k);
const struct ktbpf_offsets *ktbpf_kernel_offsets(const struct ktbpf_kernel *k);
const struct ktbpf_vmcoreinfo *
ktbpf_kernel_vmcoreinfo(const struct ktbpf_kernel *k); /* NULL if none */
const struct ktbpf_mem *ktbpf_kernel_mem(const struct ktbpf_kernel *k);
/* The translation parameters found at discovery. */
const struct ktbpf_mmu *ktbpf_kernel_mmu(const struct ktbpf_kernel *k);

/*
 * A new translator over the kernel's memory with its translation parameters,
 * owned by the caller (ktbpf_xlate_free(); one per thread: its page cache is
 * mutable). NULL on allocation failure.
 */
struct ktbpf_xlate *ktbpf_kernel_xlate_new(const struct ktbpf_kernel *k);

/*
 * Runtime address of a symbol; -ENOENT when absent, or when the kernel was
 * discovered without hints->keep_symbols (the walkers' symbols are in
 * ktbpf_kernel_info()).
 */
int ktbpf_kernel_symbol(const struct ktbpf_kernel *k, const char *name, uint64_t *ret_kva);

/*
 * "name+0xoff" for a kernel address into buf (size bytes, always
 * terminated), from the symbol at or below it (at most 1 MiB below).
 * -ENOENT when none, or when the kernel was discovered without
 * hints->keep_symbols.
 */
int ktbpf_kernel_symbolize(const struct ktbpf_kernel *k, uint64_t addr, char *buf, size_t size);

/*
 * The possible CPUs in ascending order, each with its __per_cpu_offset
 * entry, read and checked once at discovery (percpu.h); the walkers sum
 * over exactly these, as the kernel's for_each_possible_cpu() does.
 */
const struct ktbpf_cpu *ktbpf_kernel_cpus(const struct ktbpf_kernel *k, uint32_t *ret_nr);

#endif
