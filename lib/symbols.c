/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio-internal.h"
#include "ktbpf/symbols.h"

/*
 * Names live in one growing buffer and entries refer to them by offset, so a
 * 150k-symbol kernel costs two allocations that grow geometrically. An
 * open-addressing hash index (entry number + 1, 0 = empty, load <= 1/2) finds
 * duplicates while adding and answers lookups in O(1).
 */
struct sym {
	uint64_t addr;
	uint64_t name_off;
	uint32_t name_len;
	uint32_t hash;
};

struct ktbpf_symtab {
	struct sym *syms;
	size_t nr, cap;
	char *names;
	size_t names_len, names_cap;
	uint64_t *index;
	size_t index_size; /* a power of two */
	bool finished;
};

/* A System.map or kallsyms file larger than this is not one. */
#define MAX_MAP_FILE (1ull << 30)

static uint32_t hash_name(const char *s, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	/* FNV's low bits mix poorly and the index uses them: finish like murmur3's fmix32. */
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	return h ^ (h >> 16);
}

struct ktbpf_symtab *ktbpf_symtab_new(void)
{
	return calloc(1, sizeof(struct ktbpf_symtab));
}

struct ktbpf_symtab *ktbpf_symtab_free(struct ktbpf_symtab *t)
{
	if (!t)
		return NULL;
	free(t->syms);
	free(t->names);
	free(t->index);
	free(t);
	return NULL;
}

/* An index slot: the name's hash in the high half (compared before touching the entry), entry + 1.
 */
static uint64_t slot_val(uint32_t h, size_t i)
{
	return (uint64_t)h << 32 | (uint32_t)(i + 1);
}

/* The index slot holding name, or the empty slot where it would go. */
static size_t probe(const struct ktbpf_symtab *t, const char *name, size_t len, uint32_t h)
{
	size_t mask = t->index_size - 1, i = h & mask;

	while (t->index[i]) {
		const struct sym *s = &t->syms[(uint32_t)t->index[i] - 1];

		if ((uint32_t)(t->index[i] >> 32) == h && s->name_len == len &&
		    !memcmp(t->names + s->name_off, name, len))
			return i;
		i = (i + 1) & mask;
	}
	return i;
}

/*
 * Rebuild the index at size slots (reusing the array when the size is
 * unchanged). Names are unique, so each entry takes the first free slot.
 */
static int reindex(struct ktbpf_symtab *t, size_t size)
{
	size_t i, j, mask = size - 1;

	if (size != t->index_size) {
		uint64_t *index = calloc(size, sizeof(*index));

		if (!index)
			return -ENOMEM;
		free(t->index);
		t->index = index;
		t->index_size = size;
	} else {
		memset(t->index, 0, size * sizeof(*t->index));
	}
	for (i = 0; i < t->nr; i++) {
		for (j = t->syms[i].hash & mask; t->index[j]; j = (j + 1) & mask)
			;
		t->index[j] = slot_val(t->syms[i].hash, i);
	}
	return 0;
}

/* Room for one more entry and len + 1 name bytes; 1 when the index was rebuilt. */
static int reserve(struct ktbpf_symtab *t, size_t len)
{
	if (t->nr == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 1024;
		struct sym *syms = realloc(t->syms, cap * sizeof(*syms));

		if (!syms)
			return -ENOMEM;
		t->syms = syms;
		t->cap = cap;
	}
	if (len + 1 > t->names_cap - t->names_len) {
		size_t cap = t->names_cap ? t->names_cap : 16384;
		char *names;

		while (len + 1 > cap - t->names_len) {
			if (cap > SIZE_MAX / 2)
				return -ENOMEM;
			cap *= 2;
		}
		names = realloc(t->names, cap);
		if (!names)
			return -ENOMEM;
		t->names = names;
		t->names_cap = cap;
	}
	if ((t->nr + 1) * 2 > t->index_size) {
		int r = reindex(t, t->index_size ? t->index_size * 2 : 2048);

		return r < 0 ? r : 1;
	}
	return 0;
}

/*
 * Grow for about nr more symbols with names_len name bytes in one step, so a
 * big load does not realloc and rehash a dozen times. A hint only: failure
 * is harmless, adding grows as needed.
 */
static void presize(struct ktbpf_symtab *t, size_t nr, size_t names_len)
{
	size_t want = t->nr + (nr < KTBPF_SYMTAB_MAX ? nr : KTBPF_SYMTAB_MAX), size = 2048;
	struct sym *syms;
	char *names;

	if (want > t->cap && (syms = realloc(t->syms, want * sizeof(*syms)))) {
		t->syms = syms;
		t->cap = want;
	}
	if (names_len <= SIZE_MAX - t->names_len && t->names_len + names_len > t->names_cap &&
	    (names = realloc(t->names, t->names_len + names_len))) {
		t->names = names;
		t->names_cap = t->names_len + names_len;
	}
	while (size < 2 * want)
		size *= 2;
	if (size > t->index_size)
		reindex(t, size);
}

int ktbpf_symtab_add(struct ktbpf_symtab *t, const char *name, size_t name_len, uint64_t addr)
{
	uint32_t h = hash_name(name, name_len);
	size_t slot = 0;
	struct sym *s;
	int r;

	if (t->finished)
		return -EBUSY;
	if (name_len > UINT32_MAX)
		return -E2BIG;
	if (t->index_size) {
		slot = probe(t, name, name_len, h);
		if (t->index[slot])
			return 0; /* duplicate: the first one added wins */
	}
	if (t->nr >= KTBPF_SYMTAB_MAX)
		return -E2BIG;
	r = reserve(t, name_len);
	if (r < 0)
		return r;
	if (r > 0) /* the index was rebuilt */
		slot = probe(t, name, name_len, h);
	s = &t->syms[t->nr];
	s->addr = addr;
	s->name_off = t->names_len;
	s->name_len = (uint32_t)name_len;
	s->hash = h;
	memcpy(t->names + t->names_len, name, name_len);
	t->names[t->names_len + name_len] = '\0';
	t->names_len += name_len + 1;
	t->index[slot] = slot_val(h, t->nr++);
	return 0;
}

int ktbpf_symtab_finish(struct ktbpf_symtab *t)
{
	t->finished = true;
	return 0;
}

int ktbpf_symtab_lookup(const struct ktbpf_symtab *t, const char *name, uint64_t *ret_addr)
{
	size_t len = strlen(name), slot;

	if (!t->finished || !t->index_size)
		return -ENOENT;
	slot = probe(t, name, len, hash_name(name, len));
	if (!t->index[slot])
		return -ENOENT;
	*ret_addr = t->syms[(uint32_t)t->index[slot] - 1].addr;
	return 0;
}

int ktbpf_symtab_nearest(const struct ktbpf_symtab *t, uint64_t addr, uint64_t max_off,
			 const char **ret_name, uint64_t *ret_off)
{
	const struct sym *best = NULL;
	size_t i;

	for (i = 0; i < t->nr; i++) {
		const struct sym *s = &t->syms[i];

		if (s->addr <= addr && addr - s->addr <= max_off && (!best || s->addr > best->addr))
			best = s;
	}
	if (!best)
		return -ENOENT;
	*ret_name = t->names + best->name_off;
	*ret_off = addr - best->addr;
	return 0;
}

size_t ktbpf_symtab_count(const struct ktbpf_symtab *t)
{
	return t->nr;
}

/*
 * Only kernel-half addresses move: zero-based per-CPU symbols (x86_64 before
 * 6.15, arch/x86/kernel/vmlinux.lds.S: PERCPU_VADDR(..., 0, ...)) and other
 * absolute values are offsets or constants that KASLR does not relocate
 * (arch/x86/boot/compressed/misc.c: handle_relocations() skips them too).
 */
void ktbpf_symtab_rebase(struct ktbpf_symtab *t, uint64_t bias)
{
	size_t i;

	for (i = 0; i < t->nr; i++)
		if (t->syms[i].addr >> 63)
			t->syms[i].addr += bias;
}

/* Undo a failed load: drop entries past nr and rebuild the index. */
static void truncate_to(struct ktbpf_symtab *t, size_t nr)
{
	if (t->nr == nr)
		return;
	t->nr = nr;
	t->names_len = nr ? t->syms[nr - 1].name_off + t->syms[nr - 1].name_len + 1 : 0;
	if (t->index_size)
		reindex(t, t->index_size); /* same size: reuses the array, cannot fail */
}

static int add_elf_symbols(struct ktbpf_symtab *t, Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh,
			   const char *path, struct ktbpf_err *err)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t i, n;
	GElf_Sym sym;
	const char *name;
	int type, r;

	if (!data || !sh->sh_entsize)
		return ktbpf_err_set(err, -EINVAL, "%s: unreadable .symtab: %s", path,
				     elf_errmsg(-1));
	n = sh->sh_size / sh->sh_entsize;
	if (n > INT_MAX) /* gelf_getsym() takes an int index */
		return ktbpf_err_set(err, -EINVAL, "%s: .symtab claims %zu entries", path, n);
	presize(t, n, 0);
	for (i = 1; i < n; i++) {
		if (!gelf_getsym(data, (int)i, &sym))
			return ktbpf_err_set(err, -EINVAL, "%s: bad .symtab entry %zu: %s", path, i,
					     elf_errmsg(-1));
		type = GELF_ST_TYPE(sym.st_info);
		if (sym.st_shndx == SHN_UNDEF ||
		    (type != STT_OBJECT && type != STT_FUNC && type != STT_NOTYPE))
			continue;
		name = elf_strptr(elf, sh->sh_link, sym.st_name);
		if (!name || !name[0])
			continue;
		r = ktbpf_symtab_add(t, name, strlen(name), sym.st_value);
		if (r < 0)
			return ktbpf_err_set(err, r, "%s: adding symbol %s: %s", path, name,
					     strerror(-r));
	}
	return 0;
}

int ktbpf_symtab_load_elf(struct ktbpf_symtab *t, int fd, const char *name, struct ktbpf_err *err)
{
	size_t old = t->nr;
	Elf_Scn *scn = NULL;
	char nbuf[32];
	GElf_Shdr sh;
	Elf *elf = NULL;
	int r;

	name = fio_name(fd, name, nbuf, sizeof(nbuf));
	if (t->finished)
		return ktbpf_err_set(err, -EBUSY, "%s: symbol table already finished", name);
	r = fio_elf_begin(fd, &elf);
	if (r == -ENOEXEC)
		return ktbpf_err_set(err, -EINVAL, "%s: not an ELF file", name);
	if (r < 0)
		return ktbpf_err_set(err, r, "%s: %s", name, strerror(-r));
	while ((scn = elf_nextscn(elf, scn))) {
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB)
			break;
	}
	if (!scn) {
		r = ktbpf_err_set(err, -ENOENT, "%s has no .symtab (a stripped image?)", name);
		goto out;
	}
	r = add_elf_symbols(t, elf, scn, &sh, name, err);
	if (r < 0)
		truncate_to(t, old);
out:
	elf_end(elf);
	return r;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

struct map_line {
	uint64_t addr;
	const char *name;
	size_t name_len;
	char type;
	bool module;
};

/* Parse "ADDR TYPE NAME [module]" in [p, end); false if malformed. */
static bool parse_line(const char *p, const char *end, struct map_line *ml)
{
	int digits = 0, v;

	ml->addr = 0;
	while (p < end && (v = hexval(*p)) >= 0 && digits < 16) {
		ml->addr = ml->addr << 4 | (uint64_t)v;
		p++;
		digits++;
	}
	if (!digits || p == end || (*p != ' ' && *p != '\t'))
		return false;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == end || *p == ' ' || *p == '\t')
		return false;
	ml->type = *p++;
	if (p == end || (*p != ' ' && *p != '\t'))
		return false;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	ml->name = p;
	while (p < end && *p != ' ' && *p != '\t' && *p != '\r')
		p++;
	ml->name_len = (size_t)(p - ml->name);
	if (!ml->name_len)
		return false;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
		p++;
	ml->module = p < end && *p == '[';
	return p == end || ml->module;
}

static int add_map_lines(struct ktbpf_symtab *t, const char *buf, size_t len, const char *path,
			 struct ktbpf_err *err)
{
	const char *p = buf, *end = buf + len, *eol;
	size_t line = 0, kept = 0;
	bool nonzero = false;
	struct map_line ml;
	int r;

	for (; p < end; p = eol + 1) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		line++;
		if (eol == p || (eol == p + 1 && *p == '\r'))
			continue;
		if (!parse_line(p, eol, &ml))
			return ktbpf_err_set(
				err, -EINVAL,
				"%s:%zu: malformed line, expected \"ADDRESS TYPE NAME\"", path,
				line);
		if (ml.module || ml.type == 'U')
			continue;
		nonzero |= ml.addr != 0;
		kept++;
		r = ktbpf_symtab_add(t, ml.name, ml.name_len, ml.addr);
		if (r < 0)
			return ktbpf_err_set(err, r, "%s:%zu: %s", path, line, strerror(-r));
	}
	if (!kept)
		return ktbpf_err_set(err, -ENOENT, "%s: no kernel symbols", path);
	if (!nonzero)
		return ktbpf_err_set(err, -EPERM,
				     "%s: every address is 0: kptr_restrict hides addresses: read "
				     "it as root",
				     path);
	return 0;
}

int ktbpf_symtab_load_system_map(struct ktbpf_symtab *t, int fd, const char *name,
				 struct ktbpf_err *err)
{
	size_t old = t->nr, len = 0;
	char *buf = NULL, nbuf[32];
	int r;

	name = fio_name(fd, name, nbuf, sizeof(nbuf));
	if (t->finished)
		return ktbpf_err_set(err, -EBUSY, "%s: symbol table already finished", name);
	r = fio_slurp(fd, MAX_MAP_FILE, &buf, &len);
	if (r == -EFBIG)
		return ktbpf_err_set(err, r, "%s: larger than %llu bytes", name, MAX_MAP_FILE);
	if (r < 0)
		return ktbpf_err_set(err, r, "%s: %s", name, strerror(-r));
	/* A System.map line is about 40 bytes; the names take under half of that. */
	presize(t, len / 32, len / 2);
	r = add_map_lines(t, buf, len, name, err);
	if (r < 0)
		truncate_to(t, old);
	free(buf);
	return r;
}
