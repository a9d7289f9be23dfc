/* SPDX-License-Identifier: MIT */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio-internal.h"
#include "ktbpf/elfcore.h"

/*
 * Program headers are read with pread() (fileio-internal.h): a core file is a handful of
 * fixed-size records, and every count and size in it is checked here.
 */
#define MAX_PHDRS	4096  /* QEMU writes one PT_LOAD per RAM block plus one PT_NOTE */
#define MAX_NOTES	65536 /* notes scanned per PT_NOTE segment */
#define VMCOREINFO_NAME "VMCOREINFO"

bool ktbpf_elfcore_is_elf(int fd)
{
	unsigned char m[SELFMAG];

	return fio_pread_all(fd, m, SELFMAG, 0) == 0 && memcmp(m, ELFMAG, SELFMAG) == 0;
}

/* Checks the ELF header; returns the program header count (PN_XNUM resolved through section 0). */
static int read_ehdr(int fd, Elf64_Ehdr *eh, struct ktbpf_err *err)
{
	Elf64_Shdr sh0;
	uint64_t phnum;
	int r;

	/* fio_pread_all() is -EIO for a short file (not ELF); other errors are the fd's fault. */
	r = fio_pread_all(fd, eh, sizeof(*eh), 0);
	if (r < 0 && r != -EIO)
		return ktbpf_err_set(err, r, "reading the ELF header of the core file: %s",
				     strerror(-r));
	if (r < 0 || memcmp(eh->e_ident, ELFMAG, SELFMAG))
		return ktbpf_err_set(err, -EINVAL,
				     "not an ELF file (expected a core from QEMU "
				     "dump-guest-memory or a copy of /proc/vmcore)");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return ktbpf_err_set(err, -EINVAL, "not a little-endian ELF64 file");
	if (eh->e_type != ET_CORE)
		return ktbpf_err_set(err, -EINVAL, "ELF type %u is not a core file (ET_CORE)",
				     eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr))
		return ktbpf_err_set(err, -EINVAL, "ELF program header size %u, expected %zu",
				     eh->e_phentsize, sizeof(Elf64_Phdr));
	phnum = eh->e_phnum;
	/* include/uapi/linux/elf.h: with PN_XNUM the count lives in section 0's sh_info. */
	if (phnum == PN_XNUM) {
		if (fio_pread_all(fd, &sh0, sizeof(sh0), eh->e_shoff) < 0)
			return ktbpf_err_set(err, -EINVAL,
					     "e_phnum is PN_XNUM but section 0 is unreadable");
		phnum = sh0.sh_info;
	}
	if (phnum > MAX_PHDRS)
		return ktbpf_err_set(err, -E2BIG, "core file has %llu program headers (at most %d)",
				     (unsigned long long)phnum, MAX_PHDRS);
	return (int)phnum;
}

/*
 * Find the VMCOREINFO note in a PT_NOTE segment (include/uapi/linux/elf.h
 * Elf64_Nhdr; name and descriptor each padded to 4 bytes). Returns 1 when
 * found and copied, 0 when absent.
 */
static int scan_notes(int fd, const Elf64_Phdr *ph, char *out, size_t size, size_t *ret_len,
		      struct ktbpf_err *err)
{
	uint64_t pos = 0, end = ph->p_filesz;

	if (ph->p_offset > INT64_MAX || end > INT64_MAX - ph->p_offset)
		return ktbpf_err_set(err, -EINVAL,
				     "PT_NOTE at file offset 0x%llx size 0x%llx overflows",
				     (unsigned long long)ph->p_offset, (unsigned long long)end);
	for (unsigned int i = 0; i < MAX_NOTES && end - pos >= sizeof(Elf64_Nhdr); i++) {
		Elf64_Nhdr nh;
		uint64_t name_len, desc_len;
		char name[sizeof(VMCOREINFO_NAME)];

		if (fio_pread_all(fd, &nh, sizeof(nh), ph->p_offset + pos) < 0)
			return ktbpf_err_set(err, -EIO, "note at file offset 0x%llx is unreadable",
					     (unsigned long long)(ph->p_offset + pos));
		pos += sizeof(nh);
		name_len = ((uint64_t)nh.n_namesz + 3) & ~3ull;
		desc_len = ((uint64_t)nh.n_descsz + 3) & ~3ull;
		if (name_len > end - pos || desc_len > end - pos - name_len)
			return ktbpf_err_set(
				err, -EINVAL,
				"note at file offset 0x%llx overruns its PT_NOTE segment",
				(unsigned long long)(ph->p_offset + pos - sizeof(nh)));
		if (nh.n_namesz == sizeof(name) &&
		    fio_pread_all(fd, name, sizeof(name), ph->p_offset + pos) == 0 &&
		    !memcmp(name, VMCOREINFO_NAME, sizeof(name))) {
			size_t n = nh.n_descsz < size - 1 ? nh.n_descsz : size - 1;

			if (fio_pread_all(fd, out, n, ph->p_offset + pos + name_len) < 0)
				return ktbpf_err_set(err, -EIO, "VMCOREINFO note is unreadable");
			out[n] = 0;
			*ret_len = strlen(out);
			return 1;
		}
		pos += name_len + desc_len;
	}
	return 0;
}

static int add_load(struct ktbpf_mem *mem, int fd, unsigned int i, const Elf64_Phdr *ph,
		    unsigned int flags, struct ktbpf_err *err)
{
	int r;

	if (!ph->p_filesz)
		return 0;
	r = ktbpf_mem_add_fd(mem, ph->p_paddr, ph->p_filesz, fd, ph->p_offset, flags, err);
	if (r < 0)
		return ktbpf_err_prefix(err, r, "core segment %u (PT_LOAD at PA 0x%llx): ", i,
					(unsigned long long)ph->p_paddr);
	return 1;
}

int ktbpf_elfcore_add(struct ktbpf_mem *mem, int fd, unsigned int mem_flags, char *ret_vmcoreinfo,
		      size_t size, size_t *ret_len, struct ktbpf_err *err)
{
	Elf64_Ehdr eh;
	Elf64_Phdr *ph = NULL;
	char *info = NULL;
	size_t info_len = 0;
	int r, nr, loads = 0, found = 0;

	nr = read_ehdr(fd, &eh, err);
	if (nr < 0)
		return nr;
	ph = calloc((size_t)nr + 1, sizeof(*ph));
	/* The note goes to a private copy first: ret_vmcoreinfo is written only on success. */
	if (ret_vmcoreinfo && size)
		info = malloc(size);
	if (!ph || (ret_vmcoreinfo && size && !info)) {
		r = ktbpf_err_set(err, -ENOMEM,
				  "out of memory for %d program headers and a %zu-byte VMCOREINFO "
				  "copy",
				  nr, ret_vmcoreinfo ? size : 0);
		goto out;
	}
	r = fio_pread_all(fd, ph, (size_t)nr * sizeof(*ph), eh.e_phoff);
	if (r < 0) {
		r = ktbpf_err_set(err, -EINVAL, "program headers at 0x%llx are unreadable",
				  (unsigned long long)eh.e_phoff);
		goto out;
	}
	for (int i = 0; i < nr; i++) {
		if (ph[i].p_type == PT_LOAD) {
			r = add_load(mem, fd, (unsigned int)i, &ph[i], mem_flags, err);
			if (r < 0)
				goto out;
			loads += r;
		} else if (ph[i].p_type == PT_NOTE && info && !found) {
			r = scan_notes(fd, &ph[i], info, size, &info_len, err);
			if (r < 0)
				goto out;
			found = r;
		}
	}
	if (!loads) {
		r = ktbpf_err_set(err, -EINVAL, "core file has no PT_LOAD segment with file data");
		goto out;
	}
	if (found)
		memcpy(ret_vmcoreinfo, info, info_len + 1);
	if (ret_len)
		*ret_len = found ? info_len : 0;
	r = 0;
out:
	free(info);
	free(ph);
	return r;
}
