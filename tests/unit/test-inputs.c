/* SPDX-License-Identifier: MIT */
/*
 * Every input by file descriptor (kernel.h: struct ktbpf_file): a service
 * receives fds, never paths. Guest RAM, vmlinux, System.map and BTF given as
 * memfds (which have no path at all) give the answers the same files give;
 * an fd's position is neither used nor moved; discovery and a walk run with
 * every open() forbidden by seccomp; an fd that cannot be read is I/O.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kit-guest.h"
#include "ktbpf/kernel.h"
#include "ktbpf/progs.h"

/* The kit guest's files, written to temporary paths. */
struct files {
	char map[64], vmlinux[64], btf[64];
};

static void tmp(char *path, const char *what)
{
	int fd;

	snprintf(path, 64, "/tmp/ktbpf-test-%s-XXXXXX", what);
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
}

static void write_files(struct kit_guest *g, struct files *fs)
{
	const void *raw;
	uint32_t n;
	FILE *fp;

	tmp(fs->map, "map");
	tmp(fs->vmlinux, "vmlinux");
	tmp(fs->btf, "btf");
	kit_kernel_write_system_map(g->kk, fs->map, true);
	kit_kernel_write_vmlinux(g->kk, fs->vmlinux,
				 KIT_VMLINUX_SYMTAB | KIT_VMLINUX_BTF | KIT_VMLINUX_BUILD_ID);
	raw = kit_btf_raw(g->btf, &n);
	fp = fopen(fs->btf, "we");
	cr_assert_not_null(fp);
	cr_assert_eq(fwrite(raw, 1, n, fp), n);
	cr_assert_eq(fclose(fp), 0);
}

static void unlink_files(struct files *fs)
{
	unlink(fs->map);
	unlink(fs->vmlinux);
	unlink(fs->btf);
}

/* Guest RAM copied into a memfd, read with pread (not sealed: no mapping). */
static struct ktbpf_mem *ram_memfd(struct kit_guest *g, int *ret_fd)
{
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};
	int fd = memfd_create("kit-ram", MFD_CLOEXEC);

	cr_assert(m && fd >= 0);
	cr_assert_eq(write(fd, g->im->buf, g->im->size), (ssize_t)g->im->size);
	cr_assert_eq(ktbpf_mem_add_fd(m, g->im->gpa_base, g->im->size, fd, 0, 0, &err), 0, "%s",
		     err.msg);
	*ret_fd = fd;
	return m;
}

enum route { ROUTE_MAP_BTF, ROUTE_VMLINUX, NR_ROUTES };

static void hints_for(enum route rt, const struct files *fs, bool memfd,
		      struct ktbpf_kernel_hints *h)
{
	const struct ktbpf_file *(*file)(const char *) = memfd ? kit_memfd_file : kit_file;

	*h = (struct ktbpf_kernel_hints){0};
	if (rt == ROUTE_MAP_BTF) {
		h->system_map = file(fs->map);
		h->btf = file(fs->btf);
	} else {
		h->vmlinux = file(fs->vmlinux);
	}
}

static struct ktbpf_kernel *discover(const struct ktbpf_mem *m, const struct ktbpf_kernel_hints *h)
{
	struct ktbpf_kernel *k = NULL;
	struct ktbpf_err err = {0};

	cr_assert_eq(ktbpf_kernel_discover(m, h, &k, &err), 0, "%s", err.msg);
	return k;
}

/*
 * Two discoveries said the same things, and walks give the same programs;
 * from the same route, also the same sources and counts.
 */
static void assert_same(const struct ktbpf_kernel *a, const struct ktbpf_kernel *b, bool same_route)
{
	const struct ktbpf_kernel_info *x = ktbpf_kernel_info(a), *y = ktbpf_kernel_info(b);
	struct ktbpf_snapshot *sa = ktbpf_snapshot_new(), *sb = ktbpf_snapshot_new();
	struct ktbpf_err err = {0};

	cr_assert_str_eq(x->release, y->release);
	cr_assert_eq(x->kaslr_offset, y->kaslr_offset);
	cr_assert_eq(x->pgd_pa, y->pgd_pa);
	cr_assert_eq(x->page_offset, y->page_offset);
	cr_assert_eq(x->btf_size, y->btf_size);
	if (same_route) {
		cr_assert_eq(x->nr_symbols, y->nr_symbols);
		cr_assert_eq(x->symbols_source, y->symbols_source);
		cr_assert_eq(x->btf_source, y->btf_source);
	}
	cr_assert_eq(x->prog_idr, y->prog_idr);
	cr_assert_eq(x->nr_possible_cpus, y->nr_possible_cpus);
	cr_assert_eq(memcmp(ktbpf_kernel_offsets(a), ktbpf_kernel_offsets(b),
			    sizeof(struct ktbpf_offsets)),
		     0);
	cr_assert_eq(ktbpf_progs_walk(a, sa, &err), 0, "%s", err.msg);
	cr_assert_eq(ktbpf_progs_walk(b, sb, &err), 0, "%s", err.msg);
	cr_assert_eq(sa->nr_progs, sb->nr_progs);
	cr_assert_gt(sa->nr_progs, 0);
	for (size_t i = 0; i < sa->nr_progs; i++) {
		cr_assert_eq(sa->progs[i].id, sb->progs[i].id);
		cr_assert_str_eq(sa->progs[i].name, sb->progs[i].name);
		cr_assert_str_eq(sa->progs[i].member, sb->progs[i].member);
		cr_assert_eq(sa->progs[i].cnt, sb->progs[i].cnt);
	}
	cr_assert_eq(sa->nr_instances, sb->nr_instances);
	ktbpf_snapshot_free(sa);
	ktbpf_snapshot_free(sb);
}

Test(inputs, memfds_give_the_answers_of_the_files)
{
	struct kit_guest_opts o = {.kernel = {.slide = 0x3c00000, .nr_cpus = 3}};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_kernel_hints h;
	struct files fs;
	int ram_fd;
	struct ktbpf_mem *m = ram_memfd(g, &ram_fd);

	write_files(g, &fs);
	for (int rt = 0; rt < NR_ROUTES; rt++) {
		struct ktbpf_kernel *by_file, *by_memfd;

		hints_for(rt, &fs, false, &h);
		by_file = discover(kit_mem(g->im), &h);
		hints_for(rt, &fs, true, &h);
		by_memfd = discover(m, &h);
		cr_assert_eq(ktbpf_kernel_info(by_memfd)->symbols_source,
			     rt == ROUTE_VMLINUX ? KTBPF_SRC_VMLINUX : KTBPF_SRC_SYSTEM_MAP);
		cr_assert_eq(ktbpf_kernel_info(by_memfd)->btf_source,
			     rt == ROUTE_VMLINUX ? KTBPF_SRC_VMLINUX : KTBPF_SRC_BTF_FILE);
		assert_same(by_file, by_memfd, true);
		/* And both what the guest alone says. */
		assert_same(by_memfd, kit_guest_kernel(g), false);
		ktbpf_kernel_free(by_file);
		ktbpf_kernel_free(by_memfd);
	}
	unlink_files(&fs);
	ktbpf_mem_free(m);
	close(ram_fd);
	kit_guest_free(g);
}

/* A shared fd: wherever its position is, discovery reads from offset 0 and leaves it there. */
Test(inputs, fd_position_neither_used_nor_moved)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_kernel_hints h;
	struct files fs;

	write_files(g, &fs);
	for (int rt = 0; rt < NR_ROUTES; rt++) {
		const struct ktbpf_file *f[3];
		off_t at[3];
		struct ktbpf_kernel *k;

		hints_for(rt, &fs, false, &h);
		f[0] = h.vmlinux;
		f[1] = h.system_map;
		f[2] = h.btf;
		for (int i = 0; i < 3; i++)
			if (f[i])
				at[i] = lseek(f[i]->fd, 17 + i, SEEK_SET);
		k = discover(kit_mem(g->im), &h);
		for (int i = 0; i < 3; i++)
			if (f[i])
				cr_assert_eq(lseek(f[i]->fd, 0, SEEK_CUR), at[i],
					     "route %d file %d", rt, i);
		ktbpf_kernel_free(k);
	}
	unlink_files(&fs);
	kit_guest_free(g);
}

/* Kill the process on any syscall that opens a path. */
static int forbid_open(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#ifdef __NR_open
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_open, 4, 0),
#else
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 4, 0),
#endif
#ifdef __NR_creat
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_creat, 3, 0),
#else
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 3, 0),
#endif
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 437 /* __NR_openat2 */, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
		return -errno;
	return 0;
}

/* The child: discover and walk with memfds only, no open() allowed. 0 when both work. */
static int child_without_open(const struct ktbpf_mem *m, const struct ktbpf_kernel_hints *h)
{
	struct ktbpf_snapshot *s = ktbpf_snapshot_new();
	struct ktbpf_kernel *k = NULL;
	struct ktbpf_err err = {0};

	if (!s || forbid_open() < 0)
		return 2;
	/* The filter works: this open() would end the process (exit by SIGSYS). */
	if (getenv("KTBPF_TEST_OPEN_PROBE"))
		open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (ktbpf_kernel_discover(m, h, &k, &err) < 0) {
		fprintf(stderr, "discovery: %s\n", err.msg);
		return 3;
	}
	if (ktbpf_progs_walk(k, s, &err) < 0 || s->nr_progs == 0) {
		fprintf(stderr, "walk: %s\n", err.msg);
		return 4;
	}
	ktbpf_kernel_free(k);
	ktbpf_snapshot_free(s);
	return 0;
}

static int run_child(const struct ktbpf_mem *m, const struct ktbpf_kernel_hints *h, bool probe)
{
	pid_t pid;
	int st;

	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (probe)
			setenv("KTBPF_TEST_OPEN_PROBE", "1", 1);
		_exit(child_without_open(m, h));
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return st;
}

Test(inputs, no_path_opened_when_given_fds)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_kernel_hints h;
	struct files fs;
	int ram_fd, st;
	struct ktbpf_mem *m = ram_memfd(g, &ram_fd);

	write_files(g, &fs);
	/* The probe shows the filter bites: an open() kills the child. */
	hints_for(ROUTE_VMLINUX, &fs, true, &h);
	st = run_child(m, &h, true);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "status 0x%x", st);
	for (int rt = 0; rt < NR_ROUTES; rt++) {
		hints_for(rt, &fs, true, &h);
		st = run_child(m, &h, false);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "route %d: status 0x%x", rt, st);
	}
	/* Zero-config too: RAM alone. */
	st = run_child(m, NULL, false);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "no files: status 0x%x", st);
	unlink_files(&fs);
	ktbpf_mem_free(m);
	close(ram_fd);
	kit_guest_free(g);
}

/* An fd not open for reading is the host's problem (I/O), named; never "no symbols". */
Test(inputs, unreadable_fd_is_io)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_kernel_hints h = {0};
	struct ktbpf_kernel *k = NULL;
	struct ktbpf_err err = {0};
	struct ktbpf_file wr;
	struct files fs;

	write_files(g, &fs);
	const char *paths[3] = {fs.map, fs.vmlinux, fs.btf};
	const struct ktbpf_file **slots[3] = {&h.system_map, &h.vmlinux, &h.btf};

	for (int i = 0; i < 3; i++) {
		h = (struct ktbpf_kernel_hints){0};
		wr = (struct ktbpf_file){.fd = open(paths[i], O_WRONLY | O_CLOEXEC),
					 .name = "write-only"};
		cr_assert_geq(wr.fd, 0);
		*slots[i] = &wr;
		cr_assert_eq(ktbpf_kernel_discover(kit_mem(g->im), &h, &k, &err), -EBADF,
			     "file %d: %s", i, err.msg);
		cr_assert_null(k);
		cr_assert_eq(ktbpf_err_class(err.code), KTBPF_ERR_IO);
		cr_assert_not_null(strstr(err.msg, "write-only"), "%s", err.msg);
		close(wr.fd);
	}
	unlink_files(&fs);
	kit_guest_free(g);
}

/* Bytes that are not BTF, given as the BTF file: never with this input, named by fd number. */
Test(inputs, garbage_btf_memfd_is_input_and_named_by_fd)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_kernel_hints h = {0};
	struct ktbpf_kernel *k = NULL;
	struct ktbpf_err err = {0};
	struct ktbpf_file f = {.fd = memfd_create("garbage", MFD_CLOEXEC)};
	char want[32];
	int r;

	cr_assert_geq(f.fd, 0);
	cr_assert_eq(write(f.fd, "not BTF at all, not ELF either", 30), 30);
	h.btf = &f;
	r = ktbpf_kernel_discover(kit_mem(g->im), &h, &k, &err);
	cr_assert_lt(r, 0);
	cr_assert_eq(ktbpf_err_class(r), KTBPF_ERR_INPUT, "%s", err.msg);
	snprintf(want, sizeof(want), "fd %d", f.fd);
	cr_assert_not_null(strstr(err.msg, want), "%s", err.msg);
	close(f.fd);
	kit_guest_free(g);
}
