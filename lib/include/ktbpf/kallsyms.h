/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_KALLSYMS_H
#define KTBPF_KALLSYMS_H

/*
 * Decode the kernel's compressed symbol table (kernel/kallsyms.c,
 * scripts/kallsyms.c) from guest memory, using the table addresses that
 * VMCOREINFO lists (Linux 6.0+).
 *
 * Layouts covered:
 *  - names: a length byte per symbol, or two bytes ULEB128 when >= 0x80
 *    ("big symbols", 6.1+; older kernels never emit >= 0x80, so no version
 *    test is needed); token_table/token_index expansion; the first expanded
 *    character is the symbol type and is dropped;
 *  - addresses, the layout chosen by which tables VMCOREINFO lists:
 *    kallsyms_addresses[]: absolute (no base-relative);
 *    kallsyms_offsets[] + kallsyms_relative_base: base-relative
 *    (CONFIG_KALLSYMS_BASE_RELATIVE, 4.6 .. 6.x), including the
 *    absolute-percpu variant (negative offsets, before 6.15);
 *    kallsyms_offsets[] alone: place-relative (7.0+, kernel/kallsyms.c:
 *    kallsyms_sym_address() = offset_to_ptr(&kallsyms_offsets[i]), the
 *    entry's own address plus its signed value).
 *  - checks: _stext must decode to VMCOREINFO's SYMBOL(_stext), and every
 *    other SYMBOL() address VMCOREINFO lists (not the pointer values of
 *    VMCOREINFO_SYMBOL_ARRAY(mem_section)) must be one of that name's decoded
 *    addresses when kallsyms has the name: -EUCLEAN naming the symbol. A
 *    place-relative table must also decode in ascending order and be proven
 *    by _stext or another VMCOREINFO symbol; otherwise the layout is one
 *    ktbpf does not know: -EOPNOTSUPP naming it, never wrong addresses.
 *
 * Thread safety: no state of its own; the decoder reads through the given
 * translator (one thread's at a time, translate.h) and fills the given table.
 */

#include <stdbool.h>
#include <stdint.h>

#include "ktbpf/err.h"
#include "ktbpf/symbols.h"
#include "ktbpf/translate.h"
#include "ktbpf/vmcoreinfo.h"

/*
 * Decode every symbol into t (not finished). Bounded by kallsyms_num_syms
 * capped at KTBPF_SYMTAB_MAX and by the names area; garbage gives -EUCLEAN
 * naming the symbol index where decoding broke. Returns the number added.
 * Errors: -ENOENT (VMCOREINFO lists no kallsyms tables), -EUCLEAN (garbage:
 * counts, names, tokens, a VMCOREINFO symbol that disagrees), -EOPNOTSUPP (a
 * kallsyms_offsets layout that proves to be none of the above), -EFAULT/
 * -ENOENT from the translator (err->addr set), -ENOMEM. Nothing is added to t
 * when decoding or a check fails.
 */
int ktbpf_kallsyms_load(struct ktbpf_xlate *x, const struct ktbpf_vmcoreinfo *vi,
			struct ktbpf_symtab *t, struct ktbpf_err *err);

/* How the addresses were encoded (kernel/kallsyms.c: kallsyms_sym_address()). */
enum ktbpf_kallsyms_enc {
	KTBPF_KALLSYMS_RELATIVE = 1,   /* kallsyms_relative_base + (u32)kallsyms_offsets[i] */
	KTBPF_KALLSYMS_ABS_PERCPU,     /* offset >= 0: absolute; else relative_base - 1 - offset */
	KTBPF_KALLSYMS_ABSOLUTE,       /* kallsyms_addresses[i] */
	KTBPF_KALLSYMS_PLACE_RELATIVE, /* &kallsyms_offsets[i] + kallsyms_offsets[i] (7.0+) */
};

/* "base-relative", "base-relative, absolute per-CPU", "absolute" or "place-relative". */
const char *ktbpf_kallsyms_enc_name(enum ktbpf_kallsyms_enc enc);

struct ktbpf_kallsyms_stats {
	enum ktbpf_kallsyms_enc enc;
	bool verified;		    /* the encoding reproduced VMCOREINFO's _stext */
	uint32_t vmcoreinfo_agreed; /* SYMBOL() addresses of VMCOREINFO found and equal */
	uint32_t num_syms;
	uint64_t names_len; /* bytes of kallsyms_names consumed */
};

/* ktbpf_kallsyms_load() that also reports how it decoded (ret_stats may be NULL). */
int ktbpf_kallsyms_load_stats(struct ktbpf_xlate *x, const struct ktbpf_vmcoreinfo *vi,
			      struct ktbpf_symtab *t, struct ktbpf_kallsyms_stats *ret_stats,
			      struct ktbpf_err *err);

#endif
