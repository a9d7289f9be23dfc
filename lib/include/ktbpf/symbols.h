/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_SYMBOLS_H
#define KTBPF_SYMBOLS_H

/*
 * A kernel symbol table: name -> address. Filled from a vmlinux ELF .symtab,
 * a System.map-format file (also /proc/kallsyms output) or kallsyms decoded
 * from guest RAM, then frozen with ktbpf_symtab_finish() for lookups (a hash
 * index: O(1)). A failed load adds nothing (the table is as before).
 * Duplicate names keep the first one added (a static in several files is
 * ambiguous; the ones we need are unique).
 *
 * Thread safety: one thread fills a table; after ktbpf_symtab_finish() it is
 * only read, and lookups from any number of threads at once are fine.
 */

#include <stddef.h>
#include <stdint.h>

#include "ktbpf/err.h"

struct ktbpf_symtab;

/* Most symbols a table accepts (a hostile kallsyms count cannot exhaust memory). */
#define KTBPF_SYMTAB_MAX 4000000

struct ktbpf_symtab *ktbpf_symtab_new(void);
struct ktbpf_symtab *ktbpf_symtab_free(struct ktbpf_symtab *t);

/*
 * Add one symbol (name copied). -ENOMEM, -E2BIG past KTBPF_SYMTAB_MAX (or a
 * name longer than 2^32 - 1), -EBUSY after ktbpf_symtab_finish().
 */
int ktbpf_symtab_add(struct ktbpf_symtab *t, const char *name, size_t name_len, uint64_t addr);

/* Freeze the table for lookups (the hash index is already built); adding after this is -EBUSY. */
int ktbpf_symtab_finish(struct ktbpf_symtab *t);

/* Address of name; -ENOENT if absent (or table not finished). */
int ktbpf_symtab_lookup(const struct ktbpf_symtab *t, const char *name, uint64_t *ret_addr);

size_t ktbpf_symtab_count(const struct ktbpf_symtab *t);

/*
 * The symbol at or below addr, at most max_off bytes below it: its name
 * (owned by t, NUL-terminated) and addr's offset from it. -ENOENT when none.
 * A linear scan of the table (a 150k-symbol kernel: ~0.2 ms per address), for
 * the few addresses of a backtrace, not for hot paths.
 */
int ktbpf_symtab_nearest(const struct ktbpf_symtab *t, uint64_t addr, uint64_t max_off,
			 const char **ret_name, uint64_t *ret_off);

/*
 * Add `bias` (mod 2^64) to every kernel-half address (bit 63 set): the KASLR
 * relocation of link-time addresses. Addresses with bit 63 clear stay put:
 * zero-based per-CPU symbols (x86_64 before 6.15: __per_cpu_start = 0, a
 * variable at e.g. 0x1b000) are offsets into each CPU's area, and absolute
 * symbols are constants; KASLR moves neither.
 */
void ktbpf_symtab_rebase(struct ktbpf_symtab *t, uint64_t bias);

/*
 * Files come as fds, borrowed (not closed) and read with pread() from offset
 * 0 (the file position is neither used nor moved); name is for messages
 * only (NULL: "fd N"). Nothing is opened by path.
 *
 * Load the .symtab of the ELF file fd (functions, objects and untyped
 * symbols such as _text, defined in a section; link-time addresses). -ENOENT
 * with "has no .symtab" for a stripped image; -EINVAL when not ELF; the read's
 * errno (-EIO, -EBADF) when fd cannot be read. Errors name the file.
 */
int ktbpf_symtab_load_elf(struct ktbpf_symtab *t, int fd, const char *name, struct ktbpf_err *err);

/*
 * Load "ADDR TYPE NAME [module]" lines (System.map, /proc/kallsyms) from fd
 * (a pipe is read to its end with read()). Module symbols (with a [module]
 * column) are skipped; malformed lines are an error naming the line number.
 * All-zero addresses (kptr_restrict) are -EPERM; a file without kernel
 * symbols is -ENOENT; -EFBIG past 1 GiB; the read's errno when fd cannot be
 * read.
 */
int ktbpf_symtab_load_system_map(struct ktbpf_symtab *t, int fd, const char *name,
				 struct ktbpf_err *err);

#endif
