/* SPDX-License-Identifier: MIT */
/*
 * System.map / /proc/kallsyms parsing over arbitrary bytes: the input is a
 * memfd read through its /proc/self/fd path with
 * ktbpf_symtab_load_system_map(), then the table is frozen, looked up and
 * rebased (the hash index over whatever names the parser accepted).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz-common.h"
#include "kit-kernel.h"
#include "ktbpf/symbols.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"prog_idr", "_stext", "", "init_top_pgt", "a"};
	struct ktbpf_err err = {0};
	struct ktbpf_symtab *t = ktbpf_symtab_new();
	int fd = fuzz_memfd(data, size);
	uint64_t a;
	int r;

	if (!t)
		fuzz_die("out of memory", NULL);
	r = ktbpf_symtab_load_system_map(t, fd, "fuzz input", &err);
	if (r < 0 && ktbpf_symtab_count(t) != 0)
		fuzz_die("a failed load left symbols in the table", err.msg);
	/* A second load into the same table exercises the duplicate path. */
	if (r >= 0)
		ktbpf_symtab_load_system_map(t, fd, "fuzz input", &err);
	if (ktbpf_symtab_finish(t) == 0) {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			ktbpf_symtab_lookup(t, names[i], &a);
		ktbpf_symtab_rebase(t, 0x6800000);
		ktbpf_symtab_lookup(t, "prog_idr", &a);
	}
	ktbpf_symtab_free(t);
	close(fd);
	return 0;
}

static const char snippet[] = "0000000000000000 A __per_cpu_start\n"
			      "000000000001b000 D runqueues\n"
			      "ffffffff81000000 T _text\n"
			      "ffffffff81000000 T _stext\n"
			      "ffffffff82a1b2c0 D prog_idr\n"
			      "ffffffff82c0d000 B bpf_stats_enabled_key\n"
			      "ffffffffc0a01000 t tcp_bpf_init\t[tcp_bpf]\n"
			      "ffffffff8320a000 D init_top_pgt\n";

void fuzz_write_seeds(const char *dir)
{
	char path[4096];
	struct kit_image *im = kit_image_new(64 << 20);
	struct kit_kernel *kk = kit_kernel_new(im, &(struct kit_kernel_opts){.slide = 0x200000});

	kit_kernel_add_symbol(kk, "prog_idr", 24, 8, NULL, NULL);
	kit_kernel_finish(kk);
	snprintf(path, sizeof(path), "%s/kit-system-map", dir);
	kit_kernel_write_system_map(kk, path, true);
	snprintf(path, sizeof(path), "%s/kit-proc-kallsyms", dir);
	kit_kernel_write_system_map(kk, path, false);
	fuzz_seed_write(dir, "snippet", snippet, sizeof(snippet) - 1);
	fuzz_seed_write(dir, "kptr-restrict", "0000000000000000 T _stext\n0000000000000000 D x\n",
			48);
	kit_kernel_free(kk);
	kit_image_free(im);
}
