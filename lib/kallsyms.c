/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ktbpf/kallsyms.h"

/*
 * The tables are produced by scripts/kallsyms.c and read by kernel/kallsyms.c
 * (kallsyms_expand_symbol(), kallsyms_sym_address()). Everything here comes
 * from guest memory, so every count and index is checked before use.
 */

#define KSYM_NAME_LEN 512	  /* include/linux/kallsyms.h (6.1+) */
#define NAMES_MAX     (64u << 20) /* far above any real kallsyms_names */
#define NAMES_CHUNK   (1u << 20)
#define TOKEN_SLACK   1024u	   /* bytes read past the last token start */
#define POOL_MAX      (256u << 20) /* decoded names; real kernels need a few MiB */

const char *ktbpf_kallsyms_enc_name(enum ktbpf_kallsyms_enc enc)
{
	switch (enc) {
	case KTBPF_KALLSYMS_RELATIVE:
		return "base-relative";
	case KTBPF_KALLSYMS_ABS_PERCPU:
		return "base-relative, absolute per-CPU";
	case KTBPF_KALLSYMS_ABSOLUTE:
		return "absolute";
	case KTBPF_KALLSYMS_PLACE_RELATIVE:
		return "place-relative";
	}
	return "unknown";
}

struct tokens {
	char *table;
	size_t table_len;
	uint16_t index[256];
	uint16_t len[256];
};

/* Buffered view of kallsyms_names: grows on demand, never past NAMES_MAX. */
struct names {
	struct ktbpf_xlate *x;
	uint64_t kva;
	uint8_t *buf;
	size_t have;
	size_t first_chunk;
};

/* Decoded names in one pool; name i is pool[off[i] .. off[i] + len[i]). */
struct pool {
	char *buf;
	size_t used, cap;
	uint32_t *off;
	uint16_t *len;
};

static int read_tokens(struct ktbpf_xlate *x, const struct ktbpf_vmcoreinfo *vi, struct tokens *tk,
		       struct ktbpf_err *err)
{
	uint32_t max = 0;
	size_t n;
	int r;

	r = ktbpf_xlate_read(x, vi->kallsyms_token_index, tk->index, sizeof(tk->index), err);
	if (r < 0)
		return ktbpf_err_prefix(err, r, "kallsyms_token_index: ");
	for (int i = 0; i < 256; i++)
		if (tk->index[i] > max)
			max = tk->index[i];
	/* The table ends where its last token's NUL is; a shorter read works near a gap. */
	tk->table = malloc(max + TOKEN_SLACK);
	if (!tk->table)
		return ktbpf_err_set(err, -ENOMEM, "out of memory for the kallsyms token table");
	for (n = max + TOKEN_SLACK;; n = max + 1 + (n - max - 1) / 2) {
		r = ktbpf_xlate_read(x, vi->kallsyms_token_table, tk->table, n, err);
		if (r == 0 || n == max + 1)
			break;
	}
	if (r < 0)
		return ktbpf_err_prefix(err, r, "kallsyms_token_table: ");
	tk->table_len = n;
	for (int i = 0; i < 256; i++) {
		size_t l = strnlen(tk->table + tk->index[i], n - tk->index[i]);

		if (l == n - tk->index[i] || l > KSYM_NAME_LEN)
			return ktbpf_err_set(
				err, -EUCLEAN,
				"kallsyms_token_index[%d] = %u: token not terminated "
				"within %zu bytes of kallsyms_token_table (garbage table?)",
				i, tk->index[i], n);
		tk->len[i] = (uint16_t)l;
	}
	return 0;
}

/* Make names bytes [0, end) available; -EUCLEAN past the cap, -EFAULT/-ENOENT off the mapping. */
static int names_need(struct names *nm, size_t end, uint32_t sym, struct ktbpf_err *err)
{
	size_t want;
	uint8_t *nb;
	int r;

	if (end <= nm->have)
		return 0;
	if (end > NAMES_MAX)
		return ktbpf_err_set(err, -EUCLEAN,
				     "kallsyms_names: symbol %u lies past %u MiB (garbage table?)",
				     sym, NAMES_MAX >> 20);
	want = nm->have ? nm->have + NAMES_CHUNK : nm->first_chunk;
	if (want < end)
		want = end;
	if (want > NAMES_MAX)
		want = NAMES_MAX;
	nb = realloc(nm->buf, want);
	if (!nb)
		return ktbpf_err_set(err, -ENOMEM, "out of memory for kallsyms_names");
	nm->buf = nb;
	r = ktbpf_xlate_read(nm->x, nm->kva + nm->have, nb + nm->have, want - nm->have, NULL);
	if (r < 0) {
		/* A big read may cross an unmapped page the names never reach: read just enough. */
		want = end;
		r = ktbpf_xlate_read(nm->x, nm->kva + nm->have, nb + nm->have, want - nm->have,
				     err);
		if (r < 0)
			return ktbpf_err_prefix(err, r, "kallsyms_names: symbol %u: ", sym);
	}
	nm->have = want;
	return 0;
}

static int pool_add(struct pool *p, uint32_t i, const char *s, size_t n)
{
	if (p->used + n > POOL_MAX)
		return -E2BIG;
	if (p->used + n > p->cap) {
		size_t cap = p->cap ? p->cap * 2 : (1u << 20);
		char *nb;

		while (cap < p->used + n)
			cap *= 2;
		nb = realloc(p->buf, cap);
		if (!nb)
			return -ENOMEM;
		p->buf = nb;
		p->cap = cap;
	}
	memcpy(p->buf + p->used, s, n);
	p->off[i] = (uint32_t)p->used;
	p->len[i] = (uint16_t)n;
	p->used += n;
	return 0;
}

/* Expand every name (kernel/kallsyms.c: kallsyms_expand_symbol()), dropping the type char. */
static int decode_names(struct names *nm, const struct tokens *tk, uint32_t num, struct pool *p,
			struct ktbpf_err *err)
{
	char name[KSYM_NAME_LEN + 1];
	size_t pos = 0;
	int r;

	for (uint32_t i = 0; i < num; i++) {
		size_t len, out = 0;

		if ((r = names_need(nm, pos + 1, i, err)) < 0)
			return r;
		len = nm->buf[pos++];
		/* "Big symbols" (6.1+): ULEB128 in two bytes when the length is >= 0x80. */
		if (len & 0x80) {
			if ((r = names_need(nm, pos + 1, i, err)) < 0)
				return r;
			len = (len & 0x7f) | ((size_t)nm->buf[pos++] << 7);
		}
		if (len == 0)
			return ktbpf_err_set(err, -EUCLEAN,
					     "kallsyms_names: symbol %u has length 0 at byte %zu "
					     "(garbage table?)",
					     i, pos - 1);
		if ((r = names_need(nm, pos + len, i, err)) < 0)
			return r;
		for (size_t j = 0; j < len; j++) {
			uint8_t b = nm->buf[pos + j];

			if (out + tk->len[b] > KSYM_NAME_LEN)
				return ktbpf_err_set(err, -EUCLEAN,
						     "kallsyms_names: symbol %u expands past %d "
						     "bytes (garbage table?)",
						     i, KSYM_NAME_LEN);
			memcpy(name + out, tk->table + tk->index[b], tk->len[b]);
			out += tk->len[b];
		}
		pos += len;
		if (out < 2)
			return ktbpf_err_set(err, -EUCLEAN,
					     "kallsyms_names: symbol %u expands to an empty name "
					     "(garbage table?)",
					     i);
		r = pool_add(p, i, name + 1, out - 1);
		if (r == -E2BIG)
			return ktbpf_err_set(err, -EUCLEAN,
					     "kallsyms_names: names pass %u MiB at symbol %u "
					     "(garbage table?)",
					     POOL_MAX >> 20, i);
		if (r < 0)
			return ktbpf_err_set(err, -ENOMEM, "out of memory decoding kallsyms");
	}
	nm->have = pos; /* bytes consumed, for the stats */
	return 0;
}

/* Where the addresses live and how to read them (kernel/kallsyms.c: kallsyms_sym_address()). */
struct addrs {
	enum ktbpf_kallsyms_enc enc;
	uint64_t base; /* *kallsyms_relative_base (base-relative layouts) */
	uint64_t kva;  /* kallsyms_offsets (or kallsyms_addresses): the table's own address */
	void *tab;
};

static uint64_t sym_addr(const struct addrs *a, enum ktbpf_kallsyms_enc enc, uint32_t i)
{
	int32_t off;
	uint64_t v;

	if (enc == KTBPF_KALLSYMS_ABSOLUTE) {
		memcpy(&v, (const uint8_t *)a->tab + 8 * (size_t)i, 8);
		return v;
	}
	memcpy(&off, (const uint8_t *)a->tab + 4 * (size_t)i, 4);
	switch (enc) {
	case KTBPF_KALLSYMS_RELATIVE:
		return a->base + (uint32_t)off;
	case KTBPF_KALLSYMS_ABS_PERCPU:
		return off >= 0 ? (uint64_t)off : a->base - 1 - (uint64_t)(int64_t)off;
	default:
		/* offset_to_ptr(&kallsyms_offsets[i]): the entry's own address plus its value. */
		return a->kva + 4ull * i + (uint64_t)(int64_t)off;
	}
}

static int64_t find_name(const struct pool *p, uint32_t num, const char *name)
{
	size_t n = strlen(name);

	for (uint32_t i = 0; i < num; i++)
		if (p->len[i] == n && !memcmp(p->buf + p->off[i], name, n))
			return i;
	return -1;
}

/*
 * Base-relative with a negative offset can only mean the absolute-per-CPU
 * variant (plain relative would put a symbol 2 GiB past the base, beyond any
 * kernel image); VMCOREINFO's _stext then confirms it.
 */
static int choose_base_relative(const struct ktbpf_vmcoreinfo *vi, const struct pool *p,
				uint32_t num, struct addrs *a, struct ktbpf_kallsyms_stats *st,
				struct ktbpf_err *err)
{
	enum ktbpf_kallsyms_enc alt;
	int64_t stext = -1;

	for (uint32_t i = 0; i < num && a->enc == KTBPF_KALLSYMS_RELATIVE; i++) {
		int32_t off;

		memcpy(&off, (const uint8_t *)a->tab + 4 * (size_t)i, 4);
		if (off < 0)
			a->enc = KTBPF_KALLSYMS_ABS_PERCPU;
	}
	if (vi->stext)
		stext = find_name(p, num, "_stext");
	if (stext < 0)
		return 0;
	if (sym_addr(a, a->enc, (uint32_t)stext) == vi->stext) {
		st->verified = true;
		return 0;
	}
	alt = a->enc == KTBPF_KALLSYMS_RELATIVE ? KTBPF_KALLSYMS_ABS_PERCPU
						: KTBPF_KALLSYMS_RELATIVE;
	if (sym_addr(a, alt, (uint32_t)stext) == vi->stext) {
		a->enc = alt;
		st->verified = true;
		return 0;
	}
	return ktbpf_err_set(err, -EUCLEAN,
			     "kallsyms: _stext (symbol %lld) decodes to 0x%llx with %s addresses, "
			     "but VMCOREINFO says 0x%llx (garbage table?)",
			     (long long)stext,
			     (unsigned long long)sym_addr(a, a->enc, (uint32_t)stext),
			     ktbpf_kallsyms_enc_name(a->enc), (unsigned long long)vi->stext);
}

/*
 * Place-relative (7.0+, commit a081b5789255 "kallsyms: Get rid of kallsyms
 * relative base"): the layout is known from VMCOREINFO listing
 * kallsyms_offsets without kallsyms_relative_base, and proven here. The
 * table is sorted by address (scripts/kallsyms.c: sort_symbols(), which the
 * kernel's binary search relies on), so the decode must never go down, and
 * _stext must land where VMCOREINFO says. Anything else is a layout this
 * code does not know.
 */
static int check_place_relative(const struct ktbpf_vmcoreinfo *vi, const struct pool *p,
				uint32_t num, const struct addrs *a,
				struct ktbpf_kallsyms_stats *st, struct ktbpf_err *err)
{
	uint64_t prev = 0, v;
	int64_t stext = -1;

	for (uint32_t i = 0; i < num; i++, prev = v) {
		v = sym_addr(a, a->enc, i);
		if (i && v < prev)
			return ktbpf_err_set(
				err, -EOPNOTSUPP,
				"kallsyms_offsets without kallsyms_relative_base is not "
				"place-relative here: symbol %u decodes to 0x%llx, below symbol "
				"%u at 0x%llx (a kallsyms layout ktbpf does not know, or garbage)",
				i, (unsigned long long)v, i - 1, (unsigned long long)prev);
	}
	if (vi->stext)
		stext = find_name(p, num, "_stext");
	if (stext < 0)
		return 0; /* the other VMCOREINFO symbols must then vouch for it */
	v = sym_addr(a, a->enc, (uint32_t)stext);
	if (v != vi->stext)
		return ktbpf_err_set(
			err, -EOPNOTSUPP,
			"kallsyms_offsets without kallsyms_relative_base is not place-relative "
			"here: _stext (symbol %lld) decodes to 0x%llx but VMCOREINFO says "
			"0x%llx (a kallsyms layout ktbpf does not know, or garbage)",
			(long long)stext, (unsigned long long)v, (unsigned long long)vi->stext);
	st->verified = true;
	return 0;
}

/*
 * VMCOREINFO_SYMBOL_ARRAY() prints a pointer's value, not its address
 * (include/linux/vmcore_info.h); these names are pointers in some configs
 * (mem_section under SPARSEMEM_EXTREME, vmemmap a macro).
 */
static const char *const vmcoreinfo_value_syms[] = {"mem_section", "vmemmap"};

#define WANT_MAX 64 /* SYMBOL() lines in a 4 KiB VMCOREINFO, with room */

struct want {
	const char *name;
	size_t len;
	uint64_t addr;
	bool seen, agreed;
	uint64_t got; /* first decoded address, for the message */
};

/* The SYMBOL(name)=hex lines of VMCOREINFO that are addresses; returns how many. */
static size_t parse_wanted(const struct ktbpf_vmcoreinfo *vi, struct want *w)
{
	const char *t = vi->text, *end = vi->text + strnlen(vi->text, sizeof(vi->text));
	size_t n = 0;

	while (t < end && n < WANT_MAX) {
		const char *nl = memchr(t, '\n', (size_t)(end - t));
		const char *line_end = nl ? nl : end, *name = t + 7, *close;
		char hex[17];
		bool value = false;

		t = nl ? nl + 1 : end;
		if (line_end - name < 3 || memcmp(name - 7, "SYMBOL(", 7))
			continue;
		close = memchr(name, ')', (size_t)(line_end - name));
		if (!close || close == name || close[1] != '=' || line_end - close - 2 < 1 ||
		    line_end - close - 2 > 16)
			continue;
		memcpy(hex, close + 2, (size_t)(line_end - close - 2));
		hex[line_end - close - 2] = '\0';
		for (size_t i = 0;
		     i < sizeof(vmcoreinfo_value_syms) / sizeof(*vmcoreinfo_value_syms); i++)
			value |= strlen(vmcoreinfo_value_syms[i]) == (size_t)(close - name) &&
				 !memcmp(vmcoreinfo_value_syms[i], name, (size_t)(close - name));
		if (value || strspn(hex, "0123456789abcdefABCDEF") != strlen(hex))
			continue;
		w[n] = (struct want){.name = name, .len = (size_t)(close - name)};
		w[n++].addr = strtoull(hex, NULL, 16);
	}
	return n;
}

/*
 * Every address VMCOREINFO lists for a symbol kallsyms also has must be one
 * of that name's decoded addresses (names repeat for static symbols).
 */
static int cross_check(const struct ktbpf_vmcoreinfo *vi, const struct pool *p, uint32_t num,
		       const struct addrs *a, struct ktbpf_kallsyms_stats *st,
		       struct ktbpf_err *err)
{
	struct want w[WANT_MAX];
	size_t nw = parse_wanted(vi, w);

	for (uint32_t i = 0; i < num && nw; i++) {
		for (size_t j = 0; j < nw; j++) {
			uint64_t v;

			if (p->len[i] != w[j].len ||
			    memcmp(p->buf + p->off[i], w[j].name, w[j].len))
				continue;
			v = sym_addr(a, a->enc, i);
			if (!w[j].seen)
				w[j].got = v;
			w[j].seen = true;
			w[j].agreed |= v == w[j].addr;
		}
	}
	for (size_t j = 0; j < nw; j++) {
		if (w[j].seen && !w[j].agreed)
			return ktbpf_err_set(err, -EUCLEAN,
					     "kallsyms (%s): %.*s decodes to 0x%llx but VMCOREINFO "
					     "says 0x%llx (garbage table?)",
					     ktbpf_kallsyms_enc_name(a->enc), (int)w[j].len,
					     w[j].name, (unsigned long long)w[j].got,
					     (unsigned long long)w[j].addr);
		st->vmcoreinfo_agreed += w[j].agreed;
	}
	if (a->enc == KTBPF_KALLSYMS_PLACE_RELATIVE && !st->verified && !st->vmcoreinfo_agreed)
		return ktbpf_err_set(
			err, -EOPNOTSUPP,
			"kallsyms_offsets without kallsyms_relative_base, and no "
			"symbol VMCOREINFO lists is in kallsyms to prove a "
			"place-relative decode: a kallsyms layout ktbpf cannot verify");
	return 0;
}

/* Which tables VMCOREINFO lists decides the layout; 0 when enough to decode. */
static int check_listed(const struct ktbpf_vmcoreinfo *vi, enum ktbpf_kallsyms_enc *ret_enc,
			struct ktbpf_err *err)
{
	if (!vi->kallsyms_names || !vi->kallsyms_num_syms || !vi->kallsyms_token_table ||
	    !vi->kallsyms_token_index || (!vi->kallsyms_offsets && !vi->kallsyms_addresses))
		return ktbpf_err_need(err,
				      ktbpf_err_set(err, -ENOENT,
						    "VMCOREINFO lists no kallsyms tables (needs "
						    "Linux 6.0+ with CONFIG_KALLSYMS), and no "
						    "System.map or vmlinux was given"),
				      KTBPF_NEED_SYMBOLS);
	if (vi->kallsyms_addresses)
		*ret_enc = KTBPF_KALLSYMS_ABSOLUTE;
	else if (vi->kallsyms_relative_base)
		*ret_enc = KTBPF_KALLSYMS_RELATIVE; /* or absolute per-CPU: the table says */
	else
		*ret_enc = KTBPF_KALLSYMS_PLACE_RELATIVE;
	return 0;
}

static int read_addrs(struct ktbpf_xlate *x, const struct ktbpf_vmcoreinfo *vi, uint32_t num,
		      struct addrs *a, struct ktbpf_err *err)
{
	bool abs = a->enc == KTBPF_KALLSYMS_ABSOLUTE;
	const char *what = abs ? "kallsyms_addresses" : "kallsyms_offsets";
	size_t sz = (size_t)num * (abs ? 8 : 4);
	void *tab;
	int r;

	a->kva = abs ? vi->kallsyms_addresses : vi->kallsyms_offsets;
	if (a->kva > UINT64_MAX - sz)
		return ktbpf_err_set_addr(err, -EUCLEAN, a->kva,
					  "%s: %u entries at 0x%llx run past the top of the "
					  "address space",
					  what, num, (unsigned long long)a->kva);
	tab = malloc(sz);
	if (!tab)
		return ktbpf_err_set(err, -ENOMEM, "out of memory for %u kallsyms addresses", num);
	r = ktbpf_xlate_read(x, a->kva, tab, sz, err);
	if (r < 0) {
		free(tab);
		return ktbpf_err_prefix(err, r, "%s: ", what);
	}
	if (a->enc == KTBPF_KALLSYMS_RELATIVE) {
		r = ktbpf_xlate_read_u64(x, vi->kallsyms_relative_base, &a->base, err);
		if (r < 0) {
			free(tab);
			return ktbpf_err_prefix(err, r, "kallsyms_relative_base: ");
		}
	}
	a->tab = tab;
	return 0;
}

/* Pick and prove the address layout; a->enc comes in as check_listed() chose it. */
static int choose_enc(const struct ktbpf_vmcoreinfo *vi, const struct pool *p, uint32_t num,
		      struct addrs *a, struct ktbpf_kallsyms_stats *st, struct ktbpf_err *err)
{
	int r = 0;

	if (a->enc == KTBPF_KALLSYMS_RELATIVE)
		r = choose_base_relative(vi, p, num, a, st, err);
	else if (a->enc == KTBPF_KALLSYMS_PLACE_RELATIVE)
		r = check_place_relative(vi, p, num, a, st, err);
	else if (vi->stext) {
		int64_t stext = find_name(p, num, "_stext");

		if (stext >= 0 && sym_addr(a, a->enc, (uint32_t)stext) != vi->stext)
			return ktbpf_err_set(
				err, -EUCLEAN,
				"kallsyms: _stext (symbol %lld) decodes to 0x%llx with %s "
				"addresses, but VMCOREINFO says 0x%llx (garbage table?)",
				(long long)stext,
				(unsigned long long)sym_addr(a, a->enc, (uint32_t)stext),
				ktbpf_kallsyms_enc_name(a->enc), (unsigned long long)vi->stext);
		st->verified = stext >= 0;
	}
	if (r < 0)
		return r;
	st->enc = a->enc;
	return cross_check(vi, p, num, a, st, err);
}

int ktbpf_kallsyms_load_stats(struct ktbpf_xlate *x, const struct ktbpf_vmcoreinfo *vi,
			      struct ktbpf_symtab *t, struct ktbpf_kallsyms_stats *ret_stats,
			      struct ktbpf_err *err)
{
	struct ktbpf_kallsyms_stats st = {0};
	struct names nm = {.x = x, .kva = vi->kallsyms_names, .first_chunk = NAMES_CHUNK};
	struct tokens tk = {0};
	struct pool p = {0};
	struct addrs a = {0};
	uint32_t num;
	int r;

	if ((r = check_listed(vi, &a.enc, err)) < 0)
		return r;
	if ((r = ktbpf_xlate_read_u32(x, vi->kallsyms_num_syms, &num, err)) < 0)
		return ktbpf_err_prefix(err, r, "kallsyms_num_syms: ");
	if (num == 0 || num > KTBPF_SYMTAB_MAX)
		return ktbpf_err_set(err, -EUCLEAN,
				     "kallsyms_num_syms = %u is implausible (max %u)", num,
				     KTBPF_SYMTAB_MAX);
	/* The names end before the token table in every layout scripts/kallsyms.c writes. */
	if (vi->kallsyms_token_table > vi->kallsyms_names &&
	    vi->kallsyms_token_table - vi->kallsyms_names <= NAMES_MAX)
		nm.first_chunk = vi->kallsyms_token_table - vi->kallsyms_names;
	p.off = malloc(sizeof(*p.off) * num);
	p.len = malloc(sizeof(*p.len) * num);
	if (!p.off || !p.len) {
		r = ktbpf_err_set(err, -ENOMEM, "out of memory for %u kallsyms names", num);
		goto out;
	}
	if ((r = read_tokens(x, vi, &tk, err)) < 0 ||
	    (r = decode_names(&nm, &tk, num, &p, err)) < 0)
		goto out;
	if ((r = read_addrs(x, vi, num, &a, err)) < 0)
		goto out;
	if ((r = choose_enc(vi, &p, num, &a, &st, err)) < 0)
		goto out;
	for (uint32_t i = 0; i < num; i++) {
		r = ktbpf_symtab_add(t, p.buf + p.off[i], p.len[i], sym_addr(&a, a.enc, i));
		if (r < 0) {
			ktbpf_err_set(err, r, "kallsyms: cannot add symbol %u to the table", i);
			goto out;
		}
	}
	st.num_syms = num;
	st.names_len = nm.have;
	if (ret_stats)
		*ret_stats = st;
	r = (int)num;
out:
	free(a.tab);
	free(tk.table);
	free(nm.buf);
	free(p.buf);
	free(p.off);
	free(p.len);
	return r;
}

int ktbpf_kallsyms_load(struct ktbpf_xlate *x, const struct ktbpf_vmcoreinfo *vi,
			struct ktbpf_symtab *t, struct ktbpf_err *err)
{
	return ktbpf_kallsyms_load_stats(x, vi, t, NULL, err);
}
