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
 *  - addresses: base-relative kallsyms_offsets[] + kallsyms_relative_base
 *    (CONFIG_KALLSYMS_BASE_RELATIVE, 4.6 .. 6.x), including the
 *    absolute-percpu variant (negative offsets, before 6.15), or absolute
 *    kallsyms_addresses[] (no base-relative). The choice is verified against
 *    VMCOREINFO's _stext when it is listed.
 * Not covered: place-relative offsets (7.0+): -EOPNOTSUPP.
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
 */
int ktbpf_kallsyms_load(struct ktbpf_xlate *x, const struct ktbpf_vmcoreinfo *vi,
			struct ktbpf_symtab *t, struct ktbpf_err *err);

/* How the addresses were encoded (kernel/kallsyms.c: kallsyms_sym_address()). */
enum ktbpf_kallsyms_enc {
	KTBPF_KALLSYMS_RELATIVE = 1, /* kallsyms_relative_base + (u32)kallsyms_offsets[i] */
	KTBPF_KALLSYMS_ABS_PERCPU,   /* offset >= 0: absolute; else relative_base - 1 - offset */
	KTBPF_KALLSYMS_ABSOLUTE,     /* kallsyms_addresses[i] */
};

/* "base-relative", "base-relative, absolute per-CPU" or "absolute". */
const char *ktbpf_kallsyms_enc_name(enum ktbpf_kallsyms_enc enc);

struct ktbpf_kallsyms_stats {
	enum ktbpf_kallsyms_enc enc;
	bool verified; /* the encoding reproduced VMCOREINFO's _stext */
	uint32_t num_syms;
	uint64_t names_len; /* bytes of kallsyms_names consumed */
};

/* ktbpf_kallsyms_load() that also reports how it decoded (ret_stats may be NULL). */
int ktbpf_kallsyms_load_stats(struct ktbpf_xlate *x, const struct ktbpf_vmcoreinfo *vi,
			      struct ktbpf_symtab *t, struct ktbpf_kallsyms_stats *ret_stats,
			      struct ktbpf_err *err);

#endif
