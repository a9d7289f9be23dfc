/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz-common.h"

const char *fuzz_seed_dir(void)
{
	const char *d = getenv("KTBPF_FUZZ_SEEDS");

	return d && *d ? d : NULL;
}

void fuzz_die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	abort();
}

void fuzz_seed_write(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || (len && fwrite(buf, 1, len, f) != len) || fclose(f) != 0)
		fuzz_die("cannot write seed", path);
}

int fuzz_memfd(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int fd = memfd_create("ktbpf-fuzz", MFD_CLOEXEC);

	if (fd < 0)
		fuzz_die("memfd_create", strerror(errno));
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n <= 0)
			fuzz_die("memfd write", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return fd;
}

__attribute__((weak)) void fuzz_setup(void)
{
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = fuzz_seed_dir();

	(void)argc;
	(void)argv;
	fuzz_setup();
	if (dir) {
		fuzz_write_seeds(dir);
		exit(0);
	}
	return 0;
}

int fuzz_json_line_sink(void *ud, const char *line, size_t len, const int *fds, unsigned int nfds)
{
	json_t *v;

	if (memchr(line, '\n', len))
		fuzz_die("output line holds a newline", NULL);
	v = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	if (!v || !(json_is_object(v) || json_is_array(v)))
		fuzz_die("output is not a JSON object or array", NULL);
	json_decref(v);
	return 0;
}
