/* SPDX-License-Identifier: MIT */
/*
 * Reading the files a caller gives as fds (vmlinux, System.map, BTF, ELF
 * cores): the library opens no path. Every read is a pread() at an explicit
 * offset, so a borrowed fd's position is neither used nor moved, and a file
 * that shrinks under us gives a short read (-EIO), never a SIGBUS.
 */
#ifndef KTBPF_FILEIO_INTERNAL_H
#define KTBPF_FILEIO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* libelf's handle (libelf.h). */
typedef struct Elf Elf;

/*
 * Exactly len bytes at off. 0, -errno of pread (-EBADF for an fd not open
 * for reading), -EIO when the file ends first, -EINVAL when off + len passes
 * the largest file offset.
 */
int fio_pread_all(int fd, void *buf, size_t len, uint64_t off);

/*
 * The whole file into a new buffer (NUL-terminated, *ret_len bytes before
 * the NUL; free() it): pread from offset 0 to the end, or read() to the end
 * for a pipe or socket (-ESPIPE from pread). -EFBIG past max bytes, -ENOMEM,
 * -errno of the read.
 */
int fio_slurp(int fd, size_t max, char **ret_buf, size_t *ret_len);

/* name, or "fd N" in buf when name is NULL. */
const char *fio_name(int fd, const char *name, char *buf, size_t size);

/*
 * libelf on fd, reading with pread (ELF_C_READ: no mapping a shrinking file
 * could fault); elf_end() *ret. -errno when the ELF magic cannot be read
 * (-EBADF, -EIO: the file, not its contents), -ENOEXEC when fd is not ELF
 * or libelf refuses it.
 */
int fio_elf_begin(int fd, Elf **ret);

#endif
