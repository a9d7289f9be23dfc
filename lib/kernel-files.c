/* SPDX-License-Identifier: MIT */
/*
 * Files from another kernel must be named as such, not read as if they
 * belonged to the guest: a BTF of another build gives every struct member
 * the wrong offset and the walk then "finds" nothing. Each file is compared
 * with what the guest itself says (VMCOREINFO's BUILD-ID and OSRELEASE, its
 * own BTF and linux_banner in RAM) before discovery uses it.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <bpf/btf.h>

#include "btf-internal.h"
#include "fileio-internal.h"
#include "kernel-internal.h"

#define NT_GNU_BUILD_ID_TYPE 3	/* elf.h: NT_GNU_BUILD_ID */
#define BUILD_ID_MAX	     40 /* bytes of a build ID we compare (VMCOREINFO prints 20) */
#define BANNER		     "Linux version " /* init/version.c: linux_banner */
#define RELEASE_MAX	     64		      /* __NEW_UTS_LEN */
#define CMP_CHUNK	     (64u << 10)

struct elf_file {
	Elf *elf;
	size_t shstrndx;
};

/* The caller's fd, read with pread (fileio-internal.h); -ENOEXEC when not ELF. */
static int elf_open(struct elf_file *f, int fd)
{
	int r = fio_elf_begin(fd, &f->elf);

	if (r < 0) {
		f->elf = NULL;
		return r;
	}
	if (elf_getshdrstrndx(f->elf, &f->shstrndx)) {
		elf_end(f->elf);
		f->elf = NULL;
		return -ENOEXEC;
	}
	return 0;
}

static void elf_close(struct elf_file *f)
{
	elf_end(f->elf);
}

/* The section called name (and of type type), or NULL. */
static Elf_Scn *section(const struct elf_file *f, const char *name, uint32_t type)
{
	Elf_Scn *scn = NULL;
	const char *n;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(f->elf, scn))) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != type)
			continue;
		n = elf_strptr(f->elf, f->shstrndx, sh.sh_name);
		if (!name || (n && !strcmp(n, name)))
			return scn;
	}
	return NULL;
}

/* BTF from bytes (btf_new_checked()); an error names the file. */
static int btf_of(const void *data, size_t size, const char *name, struct btf **ret,
		  struct ktbpf_err *err)
{
	if (!size || size > KF_BTF_MAX)
		return ktbpf_err_set(err, -EINVAL, "BTF in %s is %zu bytes: not BTF", name, size);
	int r = btf_new_checked(data, size, ret);

	if (r < 0)
		return ktbpf_err_set(err, r, "cannot read BTF from %s: %s", name, strerror(-r));
	return 0;
}

/* The .BTF section of an ELF file (libbpf's btf__parse_elf() wants a path). */
static int btf_from_elf(const struct elf_file *f, const char *name, struct btf **ret,
			struct ktbpf_err *err)
{
	Elf_Scn *scn = section(f, ".BTF", SHT_PROGBITS);
	Elf_Data *d;

	if (!scn)
		return ktbpf_err_set(err, -ENOENT, "%s has no .BTF", name);
	d = elf_getdata(scn, NULL);
	if (!d || !d->d_buf)
		return ktbpf_err_set(err, -EIO, "%s: .BTF unreadable: %s", name, elf_errmsg(-1));
	return btf_of(d->d_buf, d->d_size, name, ret, err);
}

int kf_btf_from_file(int fd, const char *name, bool elf_only, struct btf **ret,
		     struct ktbpf_err *err)
{
	struct elf_file f;
	size_t len = 0;
	char *raw;
	int r;

	r = elf_open(&f, fd);
	if (r == 0) {
		r = btf_from_elf(&f, name, ret, err);
		elf_close(&f);
		return r;
	}
	if (r != -ENOEXEC)
		return ktbpf_err_set(err, r, "cannot read %s: %s", name, strerror(-r));
	if (elf_only)
		return ktbpf_err_set(err, -EINVAL, "%s is not an ELF file", name);
	/* Raw BTF (/sys/kernel/btf/vmlinux), whose size stat may not know. */
	r = fio_slurp(fd, KF_BTF_MAX, &raw, &len);
	if (r < 0)
		return ktbpf_err_set(err, r, "cannot read BTF from %s: %s", name, strerror(-r));
	r = btf_of(raw, len, name, ret, err);
	free(raw);
	return r;
}

/* Hex of the GNU build ID note in any SHT_NOTE section; "" when none. */
static void elf_build_id(const struct elf_file *f, char *hex, size_t size)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	hex[0] = '\0';
	while ((scn = elf_nextscn(f->elf, scn))) {
		Elf_Data *d;
		size_t off = 0, next, name_off, desc_off;
		GElf_Nhdr nh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE ||
		    !(d = elf_getdata(scn, NULL)))
			continue;
		/* gelf_getnote() stops (returns 0) at the end or at a malformed note. */
		while ((next = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > off) {
			const uint8_t *desc = (const uint8_t *)d->d_buf + desc_off;

			off = next;
			if (nh.n_type != NT_GNU_BUILD_ID_TYPE || nh.n_namesz != 4 ||
			    memcmp((const char *)d->d_buf + name_off, "GNU", 4) || !nh.n_descsz)
				continue;
			for (size_t i = 0; i < nh.n_descsz && i < BUILD_ID_MAX && 2 * i + 2 < size;
			     i++)
				snprintf(hex + 2 * i, 3, "%02x", desc[i]);
			return;
		}
	}
}

/* The release in the file's linux_banner ("Linux version R (...)"); "" when none. */
static void elf_release(const struct elf_file *f, char *rel, size_t size)
{
	Elf_Scn *scn = section(f, ".rodata", SHT_PROGBITS);
	Elf_Data *d = scn ? elf_getdata(scn, NULL) : NULL;
	const char *p, *end;
	size_t n = 0;

	rel[0] = '\0';
	if (!d || !d->d_buf)
		return;
	end = (const char *)d->d_buf + d->d_size;
	p = memmem(d->d_buf, d->d_size, BANNER, strlen(BANNER));
	if (!p)
		return;
	for (p += strlen(BANNER); p<end && * p> ' ' && *p < 0x7f && n + 1 < size; p++)
		rel[n++] = *p;
	rel[n] = '\0';
}

/* VMCOREINFO prints 20 bytes ("%20phN"): a shorter ELF ID matches with zero padding. */
static bool same_build_id(const char *file, const char *guest)
{
	size_t n = strlen(file);

	if (strlen(guest) < n || strncasecmp(file, guest, n))
		return false;
	for (guest += n; *guest; guest++)
		if (*guest != '0')
			return false;
	return true;
}

int kf_check_elf(int fd, const char *path, const char *what, const struct kf_guest *g,
		 bool *ret_proven, struct ktbpf_err *err)
{
	char id[2 * BUILD_ID_MAX + 1], rel[RELEASE_MAX + 1];
	struct elf_file f;
	int r = 0;

	*ret_proven = false;
	if (elf_open(&f, fd) < 0)
		return 0;
	elf_build_id(&f, id, sizeof(id));
	if (id[0] && g->build_id[0]) {
		if (!same_build_id(id, g->build_id))
			r = ktbpf_err_set(err, -EXDEV,
					  "%s %s does not match the guest kernel: its build ID is "
					  "%.16s..., the guest's (VMCOREINFO BUILD-ID) %.16s...",
					  what, path, id, g->build_id);
		*ret_proven = r == 0;
		goto out;
	}
	elf_release(&f, rel, sizeof(rel));
	if (rel[0] && g->release[0]) {
		if (strcmp(rel, g->release))
			r = ktbpf_err_set(err, -EXDEV,
					  "%s %s does not match the guest kernel: it is Linux %s, "
					  "the guest runs %s (VMCOREINFO OSRELEASE)",
					  what, path, rel, g->release);
		*ret_proven = r == 0;
	}
out:
	elf_close(&f);
	return r;
}

/* First differing byte of the file's BTF and the guest's copy, or -1; -2: guest unreadable. */
static long long first_difference(const struct kf_guest *g, uint64_t start, const uint8_t *raw,
				  uint32_t size)
{
	uint8_t *buf = malloc(CMP_CHUNK);
	long long at = -1;
	uint32_t off, n, i;

	if (!buf)
		return -2;
	for (off = 0; off < size && at == -1; off += n) {
		struct ktbpf_err e = {0};

		n = size - off < CMP_CHUNK ? size - off : CMP_CHUNK;
		if (ktbpf_xlate_read(g->x, start + off, buf, n, &e) < 0) {
			at = -2;
			break;
		}
		if (!memcmp(buf, raw + off, n))
			continue;
		for (i = 0; buf[i] == raw[off + i]; i++)
			;
		at = (long long)off + i;
	}
	free(buf);
	return at;
}

int kf_check_btf(const struct btf *btf, const char *path, const struct kf_guest *g,
		 struct ktbpf_err *err)
{
	uint64_t start, stop;
	const void *raw;
	uint32_t size = 0;
	long long at;

	if (ktbpf_symtab_lookup(g->syms, "__start_BTF", &start) < 0 ||
	    ktbpf_symtab_lookup(g->syms, "__stop_BTF", &stop) < 0 || stop <= start ||
	    stop - start > KF_BTF_MAX)
		return 0; /* the guest has no BTF of its own to compare with */
	raw = btf__raw_data(btf, &size);
	if (!raw)
		return 0;
	if (size != stop - start)
		return ktbpf_err_set(
			err, -EXDEV,
			"BTF file %s does not match the guest kernel: it holds %u bytes "
			"of BTF, the guest's own (__start_BTF..__stop_BTF) %llu",
			path, size, (unsigned long long)(stop - start));
	at = first_difference(g, start, raw, size);
	if (at >= 0)
		return ktbpf_err_set(err, -EXDEV,
				     "BTF file %s does not match the guest kernel: it differs from "
				     "the guest's own BTF (at __start_BTF) from byte %lld of %u",
				     path, at, size);
	return 0; /* equal, or the guest's copy unreadable: nothing to compare with */
}

int kf_check_symbols(const char *path, const char *what, const struct kf_guest *g,
		     struct ktbpf_err *err)
{
	char buf[sizeof(BANNER) + RELEASE_MAX + 1], want[sizeof(buf) + 1];
	struct ktbpf_err e = {0};
	uint64_t kva;
	size_t i;

	if (ktbpf_symtab_lookup(g->syms, "linux_banner", &kva) < 0)
		return 0;
	if (ktbpf_xlate_read_str(g->x, kva, buf, sizeof(buf), &e) < 0)
		return ktbpf_err_set_addr(err, -EXDEV, kva,
					  "%s %s does not match the guest kernel: its linux_banner "
					  "(0x%llx) is not in guest RAM",
					  what, path, (unsigned long long)kva);
	snprintf(want, sizeof(want), "%s%s%s", BANNER, g->release, g->release[0] ? " " : "");
	if (!strncmp(buf, want, strlen(want)))
		return 0;
	for (i = 0; buf[i]; i++)
		if (buf[i] < ' ' || buf[i] >= 0x7f)
			buf[i] = '?';
	return ktbpf_err_set_addr(err, -EXDEV, kva,
				  "%s %s does not match the guest kernel: linux_banner at 0x%llx "
				  "reads \"%.40s\", not \"%s...\"",
				  what, path, (unsigned long long)kva, buf, want);
}
