/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"

struct ktbpf_snapshot *unit_walk(struct kit_guest *g)
{
	struct ktbpf_snapshot *s = ktbpf_snapshot_new();
	struct ktbpf_err err = {0};
	int r;

	cr_assert_not_null(s);
	r = ktbpf_progs_walk(kit_guest_kernel(g), s, &err);
	cr_assert_eq(r, 0, "walk failed: %s", err.msg);
	return s;
}

bool unit_has_diag(const struct ktbpf_snapshot *s, int code, uint32_t prog_id, const char *text)
{
	for (size_t i = 0; i < s->nr_diags; i++) {
		const struct ktbpf_diag *d = &s->diags[i];

		if ((!code || d->code == code) && (!prog_id || d->prog_id == prog_id) &&
		    (!text || strstr(d->msg, text)))
			return true;
	}
	return false;
}

void unit_log_diags(const struct ktbpf_snapshot *s)
{
	for (size_t i = 0; i < s->nr_diags; i++)
		cr_log_info("diag %d prog %u @0x%lx: %s", s->diags[i].code, s->diags[i].prog_id,
			    (unsigned long)s->diags[i].addr, s->diags[i].msg);
}

/* Every struct_ops program of g, in id order, field by field. */
void unit_assert_progs(const struct kit_guest *g, const struct ktbpf_snapshot *s)
{
	size_t n = 0;
	uint32_t i;

	for (i = 0; i < g->nr_progs; i++) {
		const struct kit_guest_prog *t = &g->progs[i];
		const struct ktbpf_prog *p;

		if (!t->struct_ops)
			continue;
		cr_assert_lt(n, s->nr_progs, "prog %u missing", t->id);
		p = &s->progs[n++];
		cr_assert_eq(p->id, t->id);
		cr_assert_eq(p->kva, t->kva, "prog %u kva", t->id);
		cr_assert_str_eq(p->name, t->name);
		cr_assert_eq(p->name_truncated, t->name_truncated);
		cr_assert_eq(p->verified_insns, t->verified_insns, "prog %u verified_insns", t->id);
		cr_assert_str_eq(p->iface, t->iface);
		cr_assert_str_eq(p->member, t->member);
		cr_assert(p->stats_valid, "prog %u stats incomplete", t->id);
		cr_assert_eq(p->cnt, t->cnt, "prog %u cnt %lu != %lu", t->id, p->cnt, t->cnt);
		cr_assert_eq(p->nsecs, t->nsecs, "prog %u nsecs", t->id);
		cr_assert_eq(p->misses, t->misses, "prog %u misses", t->id);
		cr_assert_eq(p->nr_maps, t->nr_maps, "prog %u nr_maps", t->id);
	}
	cr_assert_eq(s->nr_progs, n, "%zu programs reported, %zu expected", s->nr_progs, n);
}

int unit_discover_fails(const struct ktbpf_mem *mem, const struct ktbpf_kernel_hints *h,
			struct ktbpf_err *err)
{
	struct ktbpf_kernel *k = NULL;
	int r = ktbpf_kernel_discover(mem, h, &k, err);

	cr_assert_null(k, "discovery must fail, and leave no result");
	cr_assert_lt(r, 0);
	cr_assert_null(strchr(err->msg, '\n'), "one line: %s", err->msg);
	return r;
}

char *unit_slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	cr_assert_not_null(f, "cannot open %s", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	cr_assert_geq(n, 0, "cannot size %s", path);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n, "short read of %s", path);
	fclose(f);
	return buf;
}

void unit_assert_golden(const char *text, const char *dir, const char *name)
{
	char path[512];
	char *want;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (getenv("KTBPF_UPDATE_GOLDEN")) {
		FILE *f = fopen(path, "wb");

		cr_assert_not_null(f, "cannot write %s", path);
		fputs(text, f);
		fclose(f);
	}
	want = unit_slurp(path);
	cr_assert_str_eq(text, want, "%s differs from the golden file:\n%s", name, text);
	free(want);
}

int unit_count_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/fd");
	d = opendir(path);
	cr_assert_not_null(d, "cannot open %s", path);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return pid ? n : n - 1; /* not the DIR's own fd */
}

int unit_memfd(const void *buf, size_t len)
{
	int fd = memfd_create("ktbpf-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	return fd;
}

uint64_t unit_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct unit_run unit_run(const char *bin, const char *const *argv)
{
	char out[] = "/tmp/ktbpf-unit-out-XXXXXX", err[] = "/tmp/ktbpf-unit-err-XXXXXX";
	int fo = mkstemp(out), fe = mkstemp(err), st = 0;
	struct unit_run r;
	pid_t pid;

	cr_assert(fo >= 0 && fe >= 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		dup2(fo, 1);
		dup2(fe, 2);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st), "%s crashed", argv[0]);
	r.status = WEXITSTATUS(st);
	close(fo);
	close(fe);
	r.out = unit_slurp(out);
	r.err = unit_slurp(err);
	unlink(out);
	unlink(err);
	return r;
}

void unit_run_free(struct unit_run *r)
{
	free(r->out);
	free(r->err);
}
