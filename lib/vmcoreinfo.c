/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktbpf/vmcoreinfo.h"

/*
 * The note header the kernel writes in front of the text
 * (kernel/vmcore_info.c: update_vmcoreinfo_note(), append_elf_note()):
 * Elf64_Nhdr{n_namesz = 11, n_descsz, n_type = 0}, "VMCOREINFO\0" padded to
 * 12 bytes, then the text at byte 24.
 */
#define NOTE_NAME     "VMCOREINFO"
#define NOTE_NAMESZ   11u
#define NOTE_TEXT_OFF 24u
#define PAGE	      4096u
#define SCAN_CHUNK    (128u << 10) /* pread per chunk: stays in L2 */
#define MAX_NOTES     64	   /* candidates parsed and checked per scan */
#define MAX_EXTENTS   65536	   /* data stretches per region before reading the rest whole */

/* "0x" hex or decimal, optionally negative (stored mod 2^64). 0 on success. */
static int parse_num(const char *s, size_t n, int base, uint64_t *ret)
{
	bool neg = false;
	uint64_t v = 0;
	size_t i = 0;

	if (i < n && s[i] == '-') {
		neg = true;
		i++;
	}
	if (base == 0) {
		base = 10;
		if (n - i > 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
			base = 16;
			i += 2;
		}
	}
	if (i == n)
		return -1;
	for (; i < n; i++) {
		unsigned d;
		char c = s[i];

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return -1;
		if (v > (UINT64_MAX - d) / (unsigned)base)
			return -1;
		v = v * (unsigned)base + d;
	}
	*ret = neg ? (uint64_t)0 - v : v;
	return 0;
}

static int copy_str(char *dst, size_t size, const char *v, size_t n)
{
	if (n >= size)
		return -1;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

/* SYMBOL(name) values are runtime VAs in hex without "0x" (VMCOREINFO_SYMBOL()). */
struct sym_key {
	const char *key;
	size_t off;
};

#define SYM(name, field)                                                                           \
	{                                                                                          \
		"SYMBOL(" name ")", offsetof(struct ktbpf_vmcoreinfo, field)                       \
	}
static const struct sym_key sym_keys[] = {
	SYM("init_top_pgt", init_top_pgt),
	SYM("page_offset_base", page_offset_base_sym),
	SYM("kallsyms_names", kallsyms_names),
	SYM("kallsyms_num_syms", kallsyms_num_syms),
	SYM("kallsyms_token_table", kallsyms_token_table),
	SYM("kallsyms_token_index", kallsyms_token_index),
	SYM("kallsyms_offsets", kallsyms_offsets),
	SYM("kallsyms_relative_base", kallsyms_relative_base),
	SYM("kallsyms_addresses", kallsyms_addresses),
	SYM("kallsyms_markers", kallsyms_markers),
	SYM("_stext", stext),
};
#undef SYM

/* Apply one "key=value" line; -1 when a value we interpret is malformed. */
static int apply(struct ktbpf_vmcoreinfo *vi, const char *k, size_t kn, const char *v, size_t vn,
		 uint64_t *swapper)
{
	uint64_t num;

#define IS(lit) (kn == sizeof(lit) - 1 && !memcmp(k, lit, kn))
	if (IS("OSRELEASE"))
		return copy_str(vi->osrelease, sizeof(vi->osrelease), v, vn);
	if (IS("BUILD-ID"))
		return copy_str(vi->build_id, sizeof(vi->build_id), v, vn);
	if (IS("PAGESIZE")) {
		if (parse_num(v, vn, 10, &num) || num == 0 || num > (1u << 20))
			return -1;
		vi->page_size = (uint32_t)num;
		return 0;
	}
	if (IS("KERNELOFFSET")) {
		vi->has_kerneloffset = true;
		return parse_num(v, vn, 16, &vi->kerneloffset);
	}
	if (IS("NUMBER(phys_base)")) {
		/* Signed decimal: "%ld" of a "negative" phys_base under KASLR. */
		vi->has_phys_base = true;
		return parse_num(v, vn, 0, &vi->phys_base);
	}
	if (IS("NUMBER(pgtable_l5_enabled)")) {
		if (parse_num(v, vn, 0, &num) || num > 1)
			return -1;
		vi->pgtable_l5 = (int)num;
		return 0;
	}
	if (IS("NUMBER(KERNEL_IMAGE_SIZE)"))
		return parse_num(v, vn, 0, &vi->kernel_image_size);
	if (IS("NUMBER(VA_BITS)"))
		return parse_num(v, vn, 0, &vi->va_bits);
	if (IS("NUMBER(kimage_voffset)"))
		return parse_num(v, vn, 0, &vi->kimage_voffset);
	if (IS("NUMBER(PHYS_OFFSET)")) {
		vi->has_phys_offset = true;
		return parse_num(v, vn, 0, &vi->phys_offset);
	}
	if (IS("NUMBER(KERNELPACMASK)"))
		return parse_num(v, vn, 0, &vi->kernel_pac_mask);
	if (IS("NUMBER(TCR_EL1_T1SZ)"))
		return parse_num(v, vn, 0, &vi->tcr_el1_t1sz);
	if (IS("SYMBOL(swapper_pg_dir)"))
		return parse_num(v, vn, 16, swapper);
#undef IS
	for (size_t i = 0; i < sizeof(sym_keys) / sizeof(sym_keys[0]); i++) {
		const char *key = sym_keys[i].key;

		if (strlen(key) == kn && !memcmp(key, k, kn))
			return parse_num(v, vn, 16, (uint64_t *)((char *)vi + sym_keys[i].off));
	}
	return 0;
}

int ktbpf_vmcoreinfo_parse(const char *text, size_t len, struct ktbpf_vmcoreinfo *ret,
			   struct ktbpf_err *err)
{
	struct ktbpf_vmcoreinfo *vi;
	uint64_t swapper = 0;
	unsigned line = 0;
	size_t pos = 0;
	int r = 0;

	/* The kernel's buffer is NUL padded: the text ends at the first NUL. */
	len = strnlen(text, len);
	if (len > KTBPF_VMCOREINFO_MAX)
		return ktbpf_err_set(err, -EINVAL, "VMCOREINFO text is %zu bytes, more than %u",
				     len, KTBPF_VMCOREINFO_MAX);
	vi = calloc(1, sizeof(*vi));
	if (!vi)
		return ktbpf_err_set(err, -ENOMEM, "out of memory parsing VMCOREINFO");
	vi->pgtable_l5 = -1;
	memcpy(vi->text, text, len);
	vi->text_len = len;
	while (pos < len) {
		const char *s = vi->text + pos, *eq, *nl;
		size_t n;

		nl = memchr(s, '\n', len - pos);
		n = nl ? (size_t)(nl - s) : len - pos;
		pos += n + 1;
		line++;
		if (n == 0)
			continue;
		eq = memchr(s, '=', n);
		if (!eq || eq == s ||
		    apply(vi, s, (size_t)(eq - s), eq + 1, n - (size_t)(eq - s) - 1, &swapper)) {
			r = ktbpf_err_set(err, -EINVAL, "VMCOREINFO line %u is malformed: '%.*s'",
					  line, (int)(n > 80 ? 80 : n), s);
			goto out;
		}
	}
	if (!vi->osrelease[0]) {
		r = ktbpf_err_set(err, -ENOENT, "text has no OSRELEASE=: not VMCOREINFO");
		goto out;
	}
	/* x86_64 lists init_top_pgt; other arches only swapper_pg_dir. */
	if (!vi->init_top_pgt)
		vi->init_top_pgt = swapper;
	*ret = *vi;
out:
	free(vi);
	return r;
}

/* True when p (at least NOTE_TEXT_OFF + 10 bytes) starts a VMCOREINFO note; sets *descsz. */
static bool is_note(const uint8_t *p, uint32_t *descsz)
{
	uint32_t h[3];

	memcpy(h, p, sizeof(h));
	if (h[0] != NOTE_NAMESZ || h[2] != 0)
		return false;
	if (memcmp(p + 12, NOTE_NAME, NOTE_NAMESZ) || memcmp(p + NOTE_TEXT_OFF, "OSRELEASE=", 10))
		return false;
	*descsz = h[1];
	return h[1] > 10 && h[1] <= KTBPF_VMCOREINFO_MAX;
}

/* Read and parse the note at pa (known to start with a good header). */
static int parse_at(const struct ktbpf_mem *mem, uint64_t pa, uint32_t descsz,
		    struct ktbpf_vmcoreinfo *ret, struct ktbpf_err *err)
{
	char buf[KTBPF_VMCOREINFO_MAX];
	int r;

	r = ktbpf_mem_read_nofault(mem, pa + NOTE_TEXT_OFF, buf, descsz, err);
	if (r < 0)
		return ktbpf_err_prefix(err, r,
					"VMCOREINFO note at 0x%llx: ", (unsigned long long)pa);
	r = ktbpf_vmcoreinfo_parse(buf, descsz, ret, err);
	if (r < 0)
		return ktbpf_err_prefix(err, r,
					"VMCOREINFO note at 0x%llx: ", (unsigned long long)pa);
	ret->note_pa = pa;
	return 0;
}

/* Read the longest prefix of [pa, pa + max) that is readable; the first min bytes are. */
static size_t read_longest(const struct ktbpf_mem *mem, uint64_t pa, char *buf, size_t max,
			   size_t min)
{
	size_t lo = min, hi = max; /* lo bytes readable; more than hi are not wanted */

	if (ktbpf_mem_read_nofault(mem, pa, buf, max, NULL) == 0)
		return max;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (ktbpf_mem_read_nofault(mem, pa, buf, mid, NULL) == 0)
			lo = mid;
		else
			hi = mid;
	}
	/* The last successful read may not be the last one tried. */
	if (ktbpf_mem_read_nofault(mem, pa, buf, lo, NULL) < 0)
		return 0;
	return lo;
}

/* At a caller's hint: the note itself, or (QEMU's device gives either) the bare text. */
static int find_at_hint(const struct ktbpf_mem *mem, uint64_t pa, struct ktbpf_vmcoreinfo *ret,
			struct ktbpf_err *err)
{
	uint8_t hdr[NOTE_TEXT_OFF + 10];
	char buf[KTBPF_VMCOREINFO_MAX];
	uint32_t descsz;
	size_t n;
	int r;

	r = ktbpf_mem_read_nofault(mem, pa, hdr, sizeof(hdr), err);
	if (r < 0)
		return ktbpf_err_prefix(err, r, "VMCOREINFO hint: ");
	if (is_note(hdr, &descsz))
		return parse_at(mem, pa, descsz, ret, err);
	/* The header names the note but its size is wrong: say that, not "no note". */
	memcpy(&descsz, hdr + 4, sizeof(descsz));
	if (hdr[0] == NOTE_NAMESZ && !memcmp(hdr + 12, NOTE_NAME, NOTE_NAMESZ))
		return ktbpf_err_set_addr(
			err, -EUCLEAN, pa,
			"VMCOREINFO note at the hinted address 0x%llx has a text "
			"size of %u bytes, not 11..%u: corrupt, or not yet written",
			(unsigned long long)pa, descsz, KTBPF_VMCOREINFO_MAX);
	if (memcmp(hdr, "OSRELEASE=", 10))
		return ktbpf_err_set_addr(err, -ENOENT, pa,
					  "no VMCOREINFO note at the hinted address 0x%llx: "
					  "check the address, or pass none to scan guest RAM",
					  (unsigned long long)pa);
	/*
	 * Bare text: read what is there, up to a page. Near the end of RAM or a
	 * gap, the longest readable prefix (a binary search: readability only
	 * shrinks with length); a shorter read would cut the last lines.
	 */
	n = read_longest(mem, pa, buf, sizeof(buf), sizeof(hdr));
	r = ktbpf_vmcoreinfo_parse(buf, n, ret, err);
	if (r < 0)
		return ktbpf_err_prefix(err, r,
					"VMCOREINFO text at 0x%llx: ", (unsigned long long)pa);
	ret->note_pa = pa;
	return 0;
}

/*
 * What a scan saw, for the final message: the first note that looked right
 * but did not parse, the first one the caller rejected as another kernel's,
 * the first it rejected for the RAM as given (-EFAULT: RAM that does not hold
 * what the note points to),
 * the RAM that could not be read at all (a shrunk memory file), so a partial
 * scan never reads as a whole one, and how much of RAM held data at all.
 */
struct scan {
	const struct ktbpf_mem *mem;
	ktbpf_vmcoreinfo_accept_fn accept;
	void *ctx;
	struct ktbpf_vmcoreinfo *vi;
	unsigned int notes; /* candidates parsed, capped at MAX_NOTES */
	uint64_t bad_pa;
	struct ktbpf_err bad_err;
	uint64_t rejected_pa;
	struct ktbpf_err rejected_err;
	uint64_t unfit_pa;
	struct ktbpf_err unfit_err;
	uint64_t unreadable;
	struct ktbpf_err unreadable_err;
	uint64_t data; /* bytes of RAM that were not holes */
};

/*
 * A note header at pa: parse it and ask the caller. 0 when taken, 1 to go
 * on, -E2BIG past MAX_NOTES (RAM full of fake notes must not cost a parse
 * and a check each without end).
 */
static int try_note(struct scan *sc, uint64_t pa, uint32_t descsz)
{
	struct ktbpf_err e = {0};
	int r;

	if (++sc->notes > MAX_NOTES)
		return -E2BIG;
	if (parse_at(sc->mem, pa, descsz, sc->vi, &e) < 0) {
		if (!sc->bad_pa) {
			sc->bad_pa = pa;
			sc->bad_err = e;
		}
		return 1;
	}
	if (!sc->accept || (r = sc->accept(sc->ctx, sc->vi, &e)) == 0)
		return 0;
	if (r == -EFAULT && !sc->unfit_pa) {
		sc->unfit_pa = pa;
		sc->unfit_err = e;
	} else if (r != -EFAULT && !sc->rejected_pa) {
		sc->rejected_pa = pa;
		sc->rejected_err = e;
	}
	return 1;
}

/*
 * Page starts in [pa, end) of host bytes p (p holds pa), highest first: the
 * note begins a page (see vmcoreinfo.h) and the buddy allocator tends to hand
 * out high pages first. Returns try_note()'s answer, 1 when none here.
 */
static int scan_bytes(struct scan *sc, const uint8_t *p, uint64_t pa, uint64_t end)
{
	uint64_t first = (pa + PAGE - 1) & ~(uint64_t)(PAGE - 1), at;
	uint32_t descsz;
	int r;

	if (end - pa < NOTE_TEXT_OFF + 10 || first > end - (NOTE_TEXT_OFF + 10))
		return 1;
	at = (end - (NOTE_TEXT_OFF + 10)) & ~(uint64_t)(PAGE - 1);
	for (;; at -= PAGE) {
		const uint8_t *q = p + (at - pa);

		/* One byte compare rejects almost every page without more reads. */
		if (q[0] == NOTE_NAMESZ && is_note(q, &descsz) &&
		    (r = try_note(sc, at, descsz)) <= 0)
			return r;
		if (at == first)
			return 1;
	}
}

/*
 * [lo, hi) of a file region, top down in page-aligned chunks read with
 * pread() (holes read as zeros and are not allocated). A note's text may
 * run past its chunk: parse_at() rereads it.
 */
static int scan_file(struct scan *sc, uint8_t *buf, uint64_t lo, uint64_t hi)
{
	int r = 1;

	sc->data += hi - lo;
	while (hi > lo && r == 1) {
		uint64_t from = (hi - 1) & ~(uint64_t)(SCAN_CHUNK - 1);

		if (from < lo)
			from = lo;
		if (ktbpf_mem_read_nofault(sc->mem, from, buf, hi - from,
					   sc->unreadable ? NULL : &sc->unreadable_err) == 0)
			r = scan_bytes(sc, buf, from, hi);
		else
			sc->unreadable += hi - from;
		hi = from;
	}
	return r;
}

struct extents {
	uint64_t (*v)[2];
	size_t n, cap;
	bool tail_has_holes; /* the last stretch is the capped rest: holes included */
};

/*
 * The data stretches of a file region, lowest first (SEEK_DATA only goes
 * up), page aligned. Past MAX_EXTENTS the rest of the region is one stretch:
 * read in full, which costs time but never misses the note.
 */
static int collect_extents(const struct scan *sc, const struct ktbpf_mem_region *rg,
			   struct extents *x, struct ktbpf_err *err)
{
	uint64_t pa = rg->gpa, end = rg->gpa + rg->size, s, e;

	x->n = 0;
	x->tail_has_holes = false;
	while (pa < end && ktbpf_mem_find_data(sc->mem, pa, &s, &e) == 0 && s < end) {
		if (x->n == x->cap) {
			size_t cap = x->cap ? 2 * x->cap : 256;
			void *v = reallocarray(x->v, cap, sizeof(*x->v));

			if (!v)
				return ktbpf_err_set(err, -ENOMEM,
						     "out of memory scanning for VMCOREINFO");
			x->v = v;
			x->cap = cap;
		}
		s &= ~(uint64_t)(PAGE - 1);
		if (s < rg->gpa)
			s = rg->gpa;
		x->tail_has_holes = x->n + 1 >= MAX_EXTENTS;
		if (e > end || x->tail_has_holes)
			e = end;
		if (x->n && x->v[x->n - 1][1] >= s)
			x->v[x->n - 1][1] = e;
		else {
			x->v[x->n][0] = s;
			x->v[x->n][1] = e;
			x->n++;
		}
		pa = e;
	}
	return 0;
}

/*
 * One region, top down: a buffer through its pointer, a file by its data
 * stretches only. Where a file region is mapped, the stretches are read
 * through the mapping: their pages exist, so nothing is allocated, and a
 * second scan finds them in our page tables already (a 1 GiB guest in a
 * few ms instead of a pread of every page). A page the guest gives back
 * (a balloon punching holes) between the SEEK_HOLE and the read is the one
 * that could be filled in again.
 */
static int scan_region(struct scan *sc, const struct ktbpf_mem_region *rg, struct extents *x,
		       uint8_t *buf, struct ktbpf_err *err)
{
	const uint8_t *p = ktbpf_mem_ptr(sc->mem, rg->gpa, rg->size);
	int r = 1;

	if (p && !rg->file) {
		sc->data += rg->size;
		return scan_bytes(sc, p, rg->gpa, rg->gpa + rg->size);
	}
	r = collect_extents(sc, rg, x, err);
	if (r < 0)
		return r;
	r = 1;
	for (size_t i = x->n; i-- > 0 && r == 1;) {
		uint64_t lo = x->v[i][0], hi = x->v[i][1];

		/* The capped rest holds holes: pread() reads them without allocating. */
		if (p && !(x->tail_has_holes && i == x->n - 1)) {
			sc->data += hi - lo;
			r = scan_bytes(sc, p + (lo - rg->gpa), lo, hi);
		} else {
			r = scan_file(sc, buf, lo, hi);
		}
	}
	return r;
}

/*
 * "976.5 KiB", "128 MiB", "1.5 GiB": RAM sizes for messages (a small image or
 * an ELF core's few mapped pages must not read "0 MiB"). Tenths are truncated
 * so a size just under a unit never rounds up to "1024.0".
 */
static const char *human_size(uint64_t bytes, char *buf, size_t size)
{
	static const char *const unit[] = {"bytes", "KiB", "MiB", "GiB"};
	unsigned int i = 0;
	uint64_t div = 1, tenths;

	while (i < 3 && bytes >= div * 1024) {
		div *= 1024;
		i++;
	}
	tenths = (bytes % div) * 10 / div;
	if (tenths)
		snprintf(buf, size, "%llu.%llu %s", (unsigned long long)(bytes / div),
			 (unsigned long long)tenths, unit[i]);
	else
		snprintf(buf, size, "%llu %s", (unsigned long long)(bytes / div), unit[i]);
	return buf;
}

/* A note at the caller's guess, taken only when it parses and the caller accepts it. */
static int try_guess(struct scan *sc, uint64_t pa)
{
	uint8_t hdr[NOTE_TEXT_OFF + 10];
	uint32_t descsz;

	if (ktbpf_mem_read_nofault(sc->mem, pa, hdr, sizeof(hdr), NULL) < 0 ||
	    !is_note(hdr, &descsz))
		return 1;
	return try_note(sc, pa, descsz);
}

/*
 * Why nothing was taken, in the words of vmcoreinfo.h. No note yet is what a
 * booting guest looks like (the kernel writes it in
 * crash_save_vmcoreinfo_init(), a subsys_initcall), and so is a half-written
 * note or only an earlier boot's: -EINPROGRESS, worth retrying. A note the
 * caller refused for what it was given (RAM that does not hold what the note
 * points to) is refused on every retry: its own error's code, never
 * -EINPROGRESS, or a monitor would retry it for ever. RAM that could not be
 * read is the host's problem: its own error's code.
 */
static int scan_failed(const struct scan *sc, uint64_t total, int r, struct ktbpf_err *err)
{
	char hs[32], us[32], ds[32];

	if (r == -E2BIG)
		return ktbpf_err_set(err, -E2BIG,
				     "more than %u VMCOREINFO notes in guest RAM and none taken: "
				     "not a guest this scan can trust (first rejected: %s)",
				     MAX_NOTES,
				     sc->rejected_pa ? sc->rejected_err.msg : sc->bad_err.msg);
	if (sc->unfit_pa)
		return ktbpf_err_set_addr(err, -EFAULT, sc->unfit_pa,
					  "the VMCOREINFO note at 0x%llx does not fit guest RAM as "
					  "given: %s",
					  (unsigned long long)sc->unfit_pa, sc->unfit_err.msg);
	if (sc->rejected_pa)
		return ktbpf_err_set_addr(err, -EINPROGRESS, sc->rejected_pa,
					  "no VMCOREINFO note of the running kernel in %s of guest "
					  "RAM: the note at 0x%llx is not it (%s); a kernel still "
					  "booting after a reboot has not written its own yet",
					  human_size(total, hs, sizeof(hs)),
					  (unsigned long long)sc->rejected_pa,
					  sc->rejected_err.msg);
	if (sc->unreadable && !sc->bad_pa)
		/* What to fix first is the access to RAM: its error says what went wrong. */
		return ktbpf_err_set(err, sc->unreadable_err.code ? sc->unreadable_err.code : -EIO,
				     "no VMCOREINFO note in the part of guest RAM that could be "
				     "read (%s of %s unreadable: %s)",
				     human_size(sc->unreadable, us, sizeof(us)),
				     human_size(total, hs, sizeof(hs)), sc->unreadable_err.msg);
	if (sc->bad_pa)
		return ktbpf_err_set_addr(err, -EINPROGRESS, sc->bad_pa,
					  "no valid VMCOREINFO note in %s of guest RAM%s: %s",
					  human_size(total, hs, sizeof(hs)),
					  sc->unreadable ? " (some unreadable)" : "",
					  sc->bad_err.msg);
	return ktbpf_err_set(err, -EINPROGRESS,
			     "no VMCOREINFO note in %s of guest RAM (%s of it ever written): the "
			     "kernel has not booted far enough, or lacks CONFIG_VMCORE_INFO "
			     "(CONFIG_CRASH_CORE before 6.9); the note's address, or symbols with "
			     "the page-table root, can stand in for it",
			     human_size(total, hs, sizeof(hs)),
			     human_size(sc->data, ds, sizeof(ds)));
}

int ktbpf_vmcoreinfo_scan(const struct ktbpf_mem *mem, uint64_t guess_pa,
			  ktbpf_vmcoreinfo_accept_fn accept, void *ctx,
			  struct ktbpf_vmcoreinfo *ret, struct ktbpf_err *err)
{
	struct scan sc = {.mem = mem, .accept = accept, .ctx = ctx};
	struct extents x = {0};
	struct ktbpf_mem_region rg;
	uint64_t total = 0;
	uint8_t *buf = NULL;
	int r = 1;

	sc.vi = malloc(sizeof(*sc.vi));
	buf = malloc(SCAN_CHUNK);
	if (!sc.vi || !buf) {
		r = ktbpf_err_set(err, -ENOMEM, "out of memory looking for VMCOREINFO");
		goto out;
	}
	if (guess_pa)
		r = try_guess(&sc, guess_pa);
	for (size_t i = 0; i < ktbpf_mem_nr_regions(mem); i++)
		if (ktbpf_mem_region(mem, i, &rg) == 0)
			total += rg.size;
	/* Highest region first, like the pages inside each (see scan_bytes()). */
	for (size_t i = ktbpf_mem_nr_regions(mem); i-- > 0 && r == 1;) {
		if (ktbpf_mem_region(mem, i, &rg) < 0)
			continue;
		r = scan_region(&sc, &rg, &x, buf, err);
	}
	if (r == -ENOMEM)
		goto out;
	if (r != 0) {
		r = scan_failed(&sc, total, r, err);
		/* Another note or the page tables would not fix RAM given at the wrong place. */
		if (!sc.unfit_pa)
			ktbpf_err_need(err, r,
				       KTBPF_NEED_VMCOREINFO | KTBPF_NEED_SYMBOLS | KTBPF_NEED_PGD);
	}
out:
	if (r == 0)
		*ret = *sc.vi;
	free(x.v);
	free(buf);
	free(sc.vi);
	return r;
}

int ktbpf_vmcoreinfo_find(const struct ktbpf_mem *mem, uint64_t hint_pa,
			  struct ktbpf_vmcoreinfo *ret, struct ktbpf_err *err)
{
	struct ktbpf_vmcoreinfo *vi;
	int r;

	if (!hint_pa)
		return ktbpf_vmcoreinfo_scan(mem, 0, NULL, NULL, ret, err);
	vi = malloc(sizeof(*vi));
	if (!vi)
		return ktbpf_err_set(err, -ENOMEM, "out of memory looking for VMCOREINFO");
	r = find_at_hint(mem, hint_pa, vi, err);
	if (r == 0)
		*ret = *vi;
	free(vi);
	return r;
}

int ktbpf_vmcoreinfo_get(const struct ktbpf_vmcoreinfo *vi, const char *key, char *buf, size_t size)
{
	size_t kn = strlen(key), pos = 0;

	while (pos < vi->text_len) {
		const char *s = vi->text + pos, *nl;
		size_t n;

		nl = memchr(s, '\n', vi->text_len - pos);
		n = nl ? (size_t)(nl - s) : vi->text_len - pos;
		pos += n + 1;
		if (n > kn && s[kn] == '=' && !memcmp(s, key, kn)) {
			if (n - kn - 1 >= size)
				return -ERANGE;
			memcpy(buf, s + kn + 1, n - kn - 1);
			buf[n - kn - 1] = '\0';
			return 0;
		}
	}
	return -ENOENT;
}

int ktbpf_vmcoreinfo_unchanged(const struct ktbpf_mem *mem, const struct ktbpf_vmcoreinfo *vi,
			       struct ktbpf_err *err)
{
	uint8_t buf[NOTE_TEXT_OFF + KTBPF_VMCOREINFO_MAX + 1];
	uint32_t descsz, off = NOTE_TEXT_OFF;
	int r;

	if (!vi->note_pa)
		return ktbpf_err_set(err, -EINVAL,
				     "VMCOREINFO parsed from text has no place in RAM");
	r = ktbpf_mem_read(mem, vi->note_pa, buf, NOTE_TEXT_OFF + 10, err);
	if (r < 0)
		return ktbpf_err_prefix(
			err, r, "VMCOREINFO note at 0x%llx: ", (unsigned long long)vi->note_pa);
	if (!is_note(buf, &descsz)) {
		/* Found as bare text at a hint (find_at_hint()): the text itself, and a NUL after
		 * it unless it fills the page. */
		off = 0;
		descsz = vi->text_len + (vi->text_len < KTBPF_VMCOREINFO_MAX);
		if (memcmp(buf, "OSRELEASE=", 10))
			return ktbpf_err_set(err, -ESTALE, "the VMCOREINFO note at 0x%llx is gone",
					     (unsigned long long)vi->note_pa);
	} else if (descsz < vi->text_len) {
		return ktbpf_err_set(err, -ESTALE,
				     "the VMCOREINFO note at 0x%llx changed (%u bytes, was %zu)",
				     (unsigned long long)vi->note_pa, descsz, vi->text_len);
	}
	r = ktbpf_mem_read(mem, vi->note_pa + off, buf + off, descsz, err);
	if (r < 0)
		return ktbpf_err_prefix(
			err, r, "VMCOREINFO note at 0x%llx: ", (unsigned long long)vi->note_pa);
	/* The text ends at the first NUL, as ktbpf_vmcoreinfo_parse() takes it. */
	if (strnlen((const char *)buf + off, descsz) != vi->text_len ||
	    memcmp(buf + off, vi->text, vi->text_len))
		return ktbpf_err_set(err, -ESTALE,
				     "the VMCOREINFO note at 0x%llx changed (%u bytes, was %zu)",
				     (unsigned long long)vi->note_pa, descsz, vi->text_len);
	return 0;
}
