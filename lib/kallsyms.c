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

static uint64_t sym_addr(enum ktbpf_kallsyms_enc enc, uint64_t base, const void *tab, uint32_t i)
{
	int32_t off;
	uint64_t a;

	if (enc == KTBPF_KALLSYMS_ABSOLUTE) {
		memcpy(&a, (const uint8_t *)tab + 8 * (size_t)i, 8);
		return a;
	}
	memcpy(&off, (const uint8_t *)tab + 4 * (size_t)i, 4);
	if (enc == KTBPF_KALLSYMS_RELATIVE)
		return base + (uint32_t)off;
	if (off >= 0)
		return (uint64_t)off;
	return base - 1 - (uint64_t)(int64_t)off;
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
 * Pick the encoding. Base-relative with a negative offset can only mean the
 * absolute-per-CPU variant (plain relative would put a symbol 2 GiB past the
 * base, beyond any kernel image); VMCOREINFO's _stext then confirms it.
 */
static int choose_enc(const struct ktbpf_vmcoreinfo *vi, const struct pool *p, uint32_t num,
		      uint64_t base, const void *tab, struct ktbpf_kallsyms_stats *st,
		      struct ktbpf_err *err)
{
	enum ktbpf_kallsyms_enc alt;
	int64_t stext = -1;

	if (vi->kallsyms_addresses) {
		st->enc = KTBPF_KALLSYMS_ABSOLUTE;
	} else {
		st->enc = KTBPF_KALLSYMS_RELATIVE;
		for (uint32_t i = 0; i < num; i++) {
			int32_t off;

			memcpy(&off, (const uint8_t *)tab + 4 * (size_t)i, 4);
			if (off < 0) {
				st->enc = KTBPF_KALLSYMS_ABS_PERCPU;
				break;
			}
		}
	}
	if (vi->stext)
		stext = find_name(p, num, "_stext");
	if (stext < 0)
		return 0;
	if (sym_addr(st->enc, base, tab, (uint32_t)stext) == vi->stext) {
		st->verified = true;
		return 0;
	}
	alt = st->enc == KTBPF_KALLSYMS_RELATIVE ? KTBPF_KALLSYMS_ABS_PERCPU
						 : KTBPF_KALLSYMS_RELATIVE;
	if (st->enc != KTBPF_KALLSYMS_ABSOLUTE &&
	    sym_addr(alt, base, tab, (uint32_t)stext) == vi->stext) {
		st->enc = alt;
		st->verified = true;
		return 0;
	}
	return ktbpf_err_set(err, -EUCLEAN,
			     "kallsyms: _stext (symbol %lld) decodes to 0x%llx with %s addresses, "
			     "but VMCOREINFO says 0x%llx (garbage table?)",
			     (long long)stext,
			     (unsigned long long)sym_addr(st->enc, base, tab, (uint32_t)stext),
			     ktbpf_kallsyms_enc_name(st->enc), (unsigned long long)vi->stext);
}

/* Check which tables VMCOREINFO lists; 0 when enough to decode. */
static int check_listed(const struct ktbpf_vmcoreinfo *vi, struct ktbpf_err *err)
{
	if (!vi->kallsyms_names || !vi->kallsyms_num_syms || !vi->kallsyms_token_table ||
	    !vi->kallsyms_token_index || (!vi->kallsyms_offsets && !vi->kallsyms_addresses))
		return ktbpf_err_set(err, -ENOENT,
				     "VMCOREINFO lists no kallsyms tables (needs Linux 6.0+ with "
				     "CONFIG_KALLSYMS): pass --system-map or --vmlinux");
	if (vi->kallsyms_offsets && !vi->kallsyms_addresses && !vi->kallsyms_relative_base)
		return ktbpf_err_set(
			err, -EOPNOTSUPP,
			"kallsyms_offsets without kallsyms_relative_base: place-relative "
			"kallsyms (Linux 7.0+) is not supported; pass --system-map");
	return 0;
}

static int read_addrs(struct ktbpf_xlate *x, const struct ktbpf_vmcoreinfo *vi, uint32_t num,
		      void **ret_tab, uint64_t *ret_base, struct ktbpf_err *err)
{
	bool abs = vi->kallsyms_addresses != 0;
	size_t sz = (size_t)num * (abs ? 8 : 4);
	void *tab = malloc(sz);
	int r;

	if (!tab)
		return ktbpf_err_set(err, -ENOMEM, "out of memory for %u kallsyms addresses", num);
	r = ktbpf_xlate_read(x, abs ? vi->kallsyms_addresses : vi->kallsyms_offsets, tab, sz, err);
	if (r < 0) {
		free(tab);
		return ktbpf_err_prefix(err, r,
					abs ? "kallsyms_addresses: " : "kallsyms_offsets: ");
	}
	*ret_base = 0;
	if (!abs) {
		r = ktbpf_xlate_read_u64(x, vi->kallsyms_relative_base, ret_base, err);
		if (r < 0) {
			free(tab);
			return ktbpf_err_prefix(err, r, "kallsyms_relative_base: ");
		}
	}
	*ret_tab = tab;
	return 0;
}

int ktbpf_kallsyms_load_stats(struct ktbpf_xlate *x, const struct ktbpf_vmcoreinfo *vi,
			      struct ktbpf_symtab *t, struct ktbpf_kallsyms_stats *ret_stats,
			      struct ktbpf_err *err)
{
	struct ktbpf_kallsyms_stats st = {0};
	struct names nm = {.x = x, .kva = vi->kallsyms_names, .first_chunk = NAMES_CHUNK};
	struct tokens tk = {0};
	struct pool p = {0};
	uint64_t base = 0;
	void *tab = NULL;
	uint32_t num;
	int r;

	if ((r = check_listed(vi, err)) < 0)
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
	if ((r = read_addrs(x, vi, num, &tab, &base, err)) < 0)
		goto out;
	if ((r = choose_enc(vi, &p, num, base, tab, &st, err)) < 0)
		goto out;
	for (uint32_t i = 0; i < num; i++) {
		r = ktbpf_symtab_add(t, p.buf + p.off[i], p.len[i], sym_addr(st.enc, base, tab, i));
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
	free(tab);
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
