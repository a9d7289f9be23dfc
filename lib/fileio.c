/* SPDX-License-Identifier: MIT */
#include <elf.h>
#include <errno.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio-internal.h"

int fio_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
		return -EINVAL;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* One chunk at off (pread), or from the current position of a pipe (read). */
static ssize_t read_at(int fd, void *buf, size_t len, uint64_t off, int *pipe)
{
	ssize_t n;

	for (;;) {
		n = *pipe ? read(fd, buf, len) : pread(fd, buf, len, (off_t)off);
		if (n < 0 && errno == ESPIPE && !*pipe) {
			*pipe = 1;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n;
	}
}

int fio_slurp(int fd, size_t max, char **ret_buf, size_t *ret_len)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap + 1), *nbuf;
	int pipe = 0;
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	/* /proc/kallsyms reports size 0: read to the end, not to st_size. */
	for (;;) {
		if (len == cap) {
			if (cap >= max) {
				free(buf);
				return -EFBIG;
			}
			cap = cap * 2 < max ? cap * 2 : max;
			nbuf = realloc(buf, cap + 1);
			if (!nbuf) {
				free(buf);
				return -ENOMEM;
			}
			buf = nbuf;
		}
		n = read_at(fd, buf + len, cap - len, len, &pipe);
		if (n < 0) {
			int r = -errno;

			free(buf);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

const char *fio_name(int fd, const char *name, char *buf, size_t size)
{
	if (name)
		return name;
	snprintf(buf, size, "fd %d", fd);
	return buf;
}

int fio_elf_begin(int fd, Elf **ret)
{
	unsigned char magic[SELFMAG];
	Elf *elf;
	ssize_t n;

	/* First the file itself: an fd that cannot be read is not "not ELF". */
	do
		n = pread(fd, magic, sizeof(magic), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n != SELFMAG || memcmp(magic, ELFMAG, SELFMAG) || elf_version(EV_CURRENT) == EV_NONE)
		return -ENOEXEC;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		elf_end(elf);
		return -ENOEXEC;
	}
	*ret = elf;
	return 0;
}
