/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ktbpf/symbols.h"

/* A temporary file holding text; the caller unlinks and frees the path. */
static char *tmp_file(const char *text, size_t len)
{
	char *path = strdup("/tmp/ktbpf-test-symbols-XXXXXX");
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

/* The library reads fds; these open the path for it, as ktbpfctl does. */
static int load_map_path(struct ktbpf_symtab *t, const char *path, struct ktbpf_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	cr_assert_geq(fd, 0, "%s", path);
	r = ktbpf_symtab_load_system_map(t, fd, path, err);
	close(fd);
	return r;
}

static int load_elf_path(struct ktbpf_symtab *t, const char *path, struct ktbpf_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	cr_assert_geq(fd, 0, "%s", path);
	r = ktbpf_symtab_load_elf(t, fd, path, err);
	close(fd);
	return r;
}

static struct ktbpf_symtab *load_map(const char *text, int want, struct ktbpf_err *err)
{
	struct ktbpf_symtab *t = ktbpf_symtab_new();
	char *path = tmp_file(text, strlen(text));
	int r = load_map_path(t, path, err);

	cr_assert_eq(r, want, "load = %d (%s)", r, err->msg);
	unlink(path);
	free(path);
	return t;
}

static uint64_t lookup(const struct ktbpf_symtab *t, const char *name)
{
	uint64_t a = 0;

	cr_assert_eq(ktbpf_symtab_lookup(t, name, &a), 0, "%s not found", name);
	return a;
}

Test(symbols, add_lookup_duplicates_keep_first)
{
	struct ktbpf_symtab *t = ktbpf_symtab_new();
	uint64_t a = 7;

	cr_assert_eq(ktbpf_symtab_add(t, "prog_idr", 8, 0x1000), 0);
	cr_assert_eq(ktbpf_symtab_add(t, "prog_idrXX", 8, 0x2000), 0, "name_len cuts the name");
	cr_assert_eq(ktbpf_symtab_add(t, "map_idr", 7, 0x3000), 0);
	cr_assert_eq(ktbpf_symtab_count(t), 2);
	cr_assert_eq(ktbpf_symtab_lookup(t, "prog_idr", &a), -ENOENT, "not finished yet");
	cr_assert_eq(a, 7);
	cr_assert_eq(ktbpf_symtab_finish(t), 0);
	cr_assert_eq(lookup(t, "prog_idr"), 0x1000);
	cr_assert_eq(lookup(t, "map_idr"), 0x3000);
	cr_assert_eq(ktbpf_symtab_lookup(t, "prog_id", &a), -ENOENT);
	cr_assert_eq(ktbpf_symtab_lookup(t, "", &a), -ENOENT);
	cr_assert_eq(ktbpf_symtab_add(t, "late", 4, 1), -EBUSY);
	ktbpf_symtab_free(t);
	cr_assert_null(ktbpf_symtab_free(NULL));
}

Test(symbols, many_symbols_grow_and_rebase)
{
	struct ktbpf_symtab *t = ktbpf_symtab_new();
	char name[32];
	int i, n;

	for (i = 0; i < 50000; i++) {
		n = snprintf(name, sizeof(name), "sym_%d", i);
		cr_assert_eq(
			ktbpf_symtab_add(t, name, (size_t)n, 0xffffffff81000000ull + 16ull * i), 0);
	}
	ktbpf_symtab_finish(t);
	cr_assert_eq(ktbpf_symtab_count(t), 50000);
	ktbpf_symtab_rebase(t, 0x2a00000);
	cr_assert_eq(lookup(t, "sym_0"), 0xffffffff83a00000ull);
	cr_assert_eq(lookup(t, "sym_49999"), 0xffffffff83a00000ull + 16ull * 49999);
	/* A negative bias is modular arithmetic. */
	ktbpf_symtab_rebase(t, (uint64_t)-0x2a00000);
	cr_assert_eq(lookup(t, "sym_1234"), 0xffffffff81000000ull + 16ull * 1234);
	ktbpf_symtab_free(t);
}

/*
 * A link-time System.map of an x86_64 kernel before 6.15: the per-CPU section
 * is linked at 0, so its symbols are small offsets that KASLR leaves alone.
 */
Test(symbols, rebase_moves_kernel_half_only)
{
	struct ktbpf_err err = {0};
	struct ktbpf_symtab *t = load_map("0000000000000000 A __per_cpu_start\n"
					  "0000000000000000 D fixed_percpu_data\n"
					  "000000000001b000 D runqueues\n"
					  "0000000000035000 A __per_cpu_end\n"
					  "ffffffff81000000 T _text\n"
					  "ffffffff82a1b2c0 d prog_idr\n"
					  "ffffffff83400000 D __per_cpu_offset\n",
					  0, &err);

	ktbpf_symtab_finish(t);
	ktbpf_symtab_rebase(t, 0x1e600000);
	cr_assert_eq(lookup(t, "__per_cpu_start"), 0);
	cr_assert_eq(lookup(t, "fixed_percpu_data"), 0);
	cr_assert_eq(lookup(t, "runqueues"), 0x1b000);
	cr_assert_eq(lookup(t, "__per_cpu_end"), 0x35000);
	cr_assert_eq(lookup(t, "_text"), 0xffffffff9f600000ull);
	cr_assert_eq(lookup(t, "prog_idr"), 0xffffffff82a1b2c0ull + 0x1e600000);
	cr_assert_eq(lookup(t, "__per_cpu_offset"), 0xffffffffa1a00000ull);
	ktbpf_symtab_free(t);
}

Test(symbols, system_map_parsed_modules_skipped)
{
	struct ktbpf_err err = {0};
	struct ktbpf_symtab *t = load_map("ffffffff81000000 T _text\n"
					  "0000000000000000 D fixed_percpu_data\n"
					  "ffffffff82a1b2c0 d prog_idr\r\n"
					  "ffffffffc0a00000 t tcp_bbr_init\t[tcp_bbr]\n"
					  "\n"
					  "ffffffff81000000 T _text\n"
					  "ffffffff8100abcd t dup\n"
					  "ffffffff8100ffff t dup\n",
					  0, &err);

	ktbpf_symtab_finish(t);
	cr_assert_eq(lookup(t, "_text"), 0xffffffff81000000ull);
	cr_assert_eq(lookup(t, "prog_idr"), 0xffffffff82a1b2c0ull, "CRLF tolerated");
	cr_assert_eq(lookup(t, "fixed_percpu_data"), 0, "a real zero address is kept");
	cr_assert_eq(lookup(t, "dup"), 0xffffffff8100abcdull, "first duplicate wins");
	uint64_t a;
	cr_assert_eq(ktbpf_symtab_lookup(t, "tcp_bbr_init", &a), -ENOENT, "module symbol");
	cr_assert_eq(ktbpf_symtab_count(t), 4);
	ktbpf_symtab_free(t);
}

Test(symbols, system_map_malformed_line_named)
{
	static const char *const bad[] = {
		"ffffffff81000000 T _text\nhello world\n",
		"ffffffff81000000 T _text\nffffffff81000000 T\n",
		"ffffffff81000000 T _text\nffffffff81000000\n",
		"ffffffff81000000 T _text\nffffffff81000000 TT name\n",
		"ffffffff81000000 T _text\n1ffffffff81000000 T toolong\n",
		"ffffffff81000000 T _text\nffffffff81000000 T a b\n",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ktbpf_err err = {0};
		struct ktbpf_symtab *t = load_map(bad[i], -EINVAL, &err);

		cr_assert_not_null(strstr(err.msg, ":2:"), "case %zu: %s", i, err.msg);
		cr_assert_eq(ktbpf_symtab_count(t), 0, "case %zu: a failed load adds nothing", i);
		ktbpf_symtab_free(t);
	}
}

Test(symbols, kallsyms_all_zero_is_eperm)
{
	struct ktbpf_err err = {0};
	struct ktbpf_symtab *t = load_map("0000000000000000 T _text\n"
					  "0000000000000000 D prog_idr\n"
					  "0000000000000000 t x\t[mod]\n",
					  -EPERM, &err);

	cr_assert_not_null(strstr(err.msg, "kptr_restrict"), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "root"), "%s", err.msg);
	cr_assert_eq(ktbpf_symtab_count(t), 0);
	ktbpf_symtab_free(t);
}

Test(symbols, failed_load_keeps_earlier_symbols)
{
	struct ktbpf_err err = {0};
	struct ktbpf_symtab *t = ktbpf_symtab_new();
	char *path = tmp_file("ffffffff81000001 T early\nbad\n", 29);

	ktbpf_symtab_add(t, "mine", 4, 42);
	cr_assert_eq(load_map_path(t, path, &err), -EINVAL);
	ktbpf_symtab_finish(t);
	cr_assert_eq(ktbpf_symtab_count(t), 1);
	cr_assert_eq(lookup(t, "mine"), 42);
	uint64_t a;
	cr_assert_eq(ktbpf_symtab_lookup(t, "early", &a), -ENOENT, "rolled back");
	unlink(path);
	free(path);
	ktbpf_symtab_free(t);
}

/* An fd that cannot be read is the host's problem (I/O), named; not "no symbols". */
Test(symbols, unreadable_fd_is_io_and_named)
{
	char *path = tmp_file("ffffffff81000000 T _text\n", 26);
	struct ktbpf_err err = {0};
	struct ktbpf_symtab *t = ktbpf_symtab_new();
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	cr_assert_geq(fd, 0);
	cr_assert_eq(ktbpf_symtab_load_system_map(t, fd, "map-w", &err), -EBADF, "%s", err.msg);
	cr_assert_eq(ktbpf_err_class(err.code), KTBPF_ERR_IO);
	cr_assert_not_null(strstr(err.msg, "map-w"), "%s", err.msg);
	cr_assert_eq(ktbpf_symtab_load_elf(t, fd, NULL, &err), -EBADF, "%s", err.msg);
	cr_assert_eq(ktbpf_err_class(err.code), KTBPF_ERR_IO);
	cr_assert_not_null(strstr(err.msg, "fd "), "a nameless fd is named by number: %s", err.msg);
	cr_assert_eq(ktbpf_symtab_count(t), 0);
	close(fd);
	unlink(path);
	free(path);
	ktbpf_symtab_free(t);
}

/* A pipe has no offsets: it is read to its end, and gives the same symbols. */
Test(symbols, system_map_from_a_pipe)
{
	static const char text[] = "ffffffff81000000 T _text\nffffffff82a1b2c0 D prog_idr\n";
	struct ktbpf_err err = {0};
	struct ktbpf_symtab *t = ktbpf_symtab_new();
	int p[2];

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write(p[1], text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(p[1]);
	cr_assert_eq(ktbpf_symtab_load_system_map(t, p[0], "pipe", &err), 0, "%s", err.msg);
	ktbpf_symtab_finish(t);
	cr_assert_eq(lookup(t, "prog_idr"), 0xffffffff82a1b2c0ull);
	close(p[0]);
	ktbpf_symtab_free(t);
}

/* Size, not speed: timings live in bench/, never in asserts. */
Test(symbols, system_map_150k_loads)
{
	size_t cap = 150000 * 48, len = 0;
	char *text = malloc(cap), *path;
	struct ktbpf_err err = {0};
	struct ktbpf_symtab *t = ktbpf_symtab_new();
	struct timespec a, b;
	double ms;
	int i;

	for (i = 0; i < 150000; i++)
		len += (size_t)snprintf(text + len, cap - len, "ffffffff%08x t some_kernel_fn_%d\n",
					0x81000000u + 16u * (unsigned)i, i);
	path = tmp_file(text, len);
	clock_gettime(CLOCK_MONOTONIC, &a);
	cr_assert_eq(load_map_path(t, path, &err), 0, "%s", err.msg);
	ktbpf_symtab_finish(t);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	cr_log_info("150k symbols loaded in %.1f ms", ms);
	cr_assert_eq(ktbpf_symtab_count(t), 150000);
	cr_assert_eq(lookup(t, "some_kernel_fn_149999"), 0xffffffff81000000ull + 16ull * 149999);
	unlink(path);
	free(path);
	free(text);
	ktbpf_symtab_free(t);
}

/* A minimal ELF64 with .symtab (unless stripped), written with libelf. */
struct elf_sym {
	const char *name;
	unsigned char type;
	uint16_t shndx;
	uint64_t value;
};

static void add_strtab_name(char *buf, size_t *len, const char *s, uint32_t *ret)
{
	*ret = (uint32_t)*len;
	memcpy(buf + *len, s, strlen(s) + 1);
	*len += strlen(s) + 1;
}

static char *write_elf(const struct elf_sym *syms, size_t n, bool with_symtab)
{
	static char shstr[] = "\0.text\0.symtab\0.strtab\0.shstrtab";
	char *path = strdup("/tmp/ktbpf-test-elf-XXXXXX"), strtab[4096] = "";
	Elf64_Sym es[32] = {{0}};
	size_t strlen_ = 1, i;
	int fd = mkstemp(path);
	Elf *elf;
	Elf64_Ehdr *eh;
	Elf_Scn *text, *sym, *str, *shs;
	Elf_Data *d;
	Elf64_Shdr *sh;

	cr_assert_geq(fd, 0);
	cr_assert_neq(elf_version(EV_CURRENT), EV_NONE);
	elf = elf_begin(fd, ELF_C_WRITE, NULL);
	cr_assert_not_null(elf);
	eh = elf64_newehdr(elf);
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;

	text = elf_newscn(elf);
	d = elf_newdata(text);
	d->d_buf = strtab; /* any bytes */
	d->d_size = 16;
	sh = elf64_getshdr(text);
	sh->sh_name = 1;
	sh->sh_type = SHT_PROGBITS;
	sh->sh_flags = SHF_ALLOC | SHF_EXECINSTR;

	if (with_symtab) {
		for (i = 0; i < n; i++) {
			add_strtab_name(strtab, &strlen_, syms[i].name, &es[i + 1].st_name);
			es[i + 1].st_info = ELF64_ST_INFO(STB_GLOBAL, syms[i].type);
			es[i + 1].st_shndx = syms[i].shndx;
			es[i + 1].st_value = syms[i].value;
		}
		str = elf_newscn(elf); /* index 2 */
		d = elf_newdata(str);
		d->d_buf = strtab;
		d->d_size = strlen_;
		sh = elf64_getshdr(str);
		sh->sh_name = 15;
		sh->sh_type = SHT_STRTAB;

		sym = elf_newscn(elf); /* index 3 */
		d = elf_newdata(sym);
		d->d_buf = es;
		d->d_size = (n + 1) * sizeof(Elf64_Sym);
		d->d_type = ELF_T_SYM;
		sh = elf64_getshdr(sym);
		sh->sh_name = 7;
		sh->sh_type = SHT_SYMTAB;
		sh->sh_link = 2;
		sh->sh_entsize = sizeof(Elf64_Sym);
	}
	shs = elf_newscn(elf);
	d = elf_newdata(shs);
	d->d_buf = shstr;
	d->d_size = sizeof(shstr);
	sh = elf64_getshdr(shs);
	sh->sh_name = 23;
	sh->sh_type = SHT_STRTAB;
	eh->e_shstrndx = (Elf64_Half)elf_ndxscn(shs);
	cr_assert_geq(elf_update(elf, ELF_C_WRITE), 0, "%s", elf_errmsg(-1));
	elf_end(elf);
	close(fd);
	return path;
}

static const struct elf_sym test_syms[] = {
	{"_text", STT_NOTYPE, 1, 0xffffffff81000000ull},
	{"start_kernel", STT_FUNC, 1, 0xffffffff83000100ull},
	{"prog_idr", STT_OBJECT, 1, 0xffffffff82a1b2c0ull},
	{"fixed_percpu_data", STT_OBJECT, SHN_ABS, 0},
	{"undefined_thing", STT_FUNC, SHN_UNDEF, 0x1234},
	{"a_section", STT_SECTION, 1, 0xffffffff81000000ull},
	{"vmlinux.o", STT_FILE, SHN_ABS, 0},
	{"dup", STT_OBJECT, 1, 0x10},
	{"dup", STT_OBJECT, 1, 0x20},
	{"", STT_FUNC, 1, 0x30},
};

Test(symbols, elf_symtab_loaded_with_filters)
{
	char *path = write_elf(test_syms, sizeof(test_syms) / sizeof(test_syms[0]), true);
	struct ktbpf_symtab *t = ktbpf_symtab_new();
	struct ktbpf_err err = {0};
	uint64_t a;

	cr_assert_eq(load_elf_path(t, path, &err), 0, "%s", err.msg);
	ktbpf_symtab_finish(t);
	cr_assert_eq(lookup(t, "_text"), 0xffffffff81000000ull);
	cr_assert_eq(lookup(t, "start_kernel"), 0xffffffff83000100ull);
	cr_assert_eq(lookup(t, "prog_idr"), 0xffffffff82a1b2c0ull);
	cr_assert_eq(lookup(t, "fixed_percpu_data"), 0, "per-CPU symbols may be 0");
	cr_assert_eq(lookup(t, "dup"), 0x10);
	cr_assert_eq(ktbpf_symtab_lookup(t, "undefined_thing", &a), -ENOENT);
	cr_assert_eq(ktbpf_symtab_lookup(t, "a_section", &a), -ENOENT);
	cr_assert_eq(ktbpf_symtab_lookup(t, "vmlinux.o", &a), -ENOENT);
	cr_assert_eq(ktbpf_symtab_count(t), 5);
	unlink(path);
	free(path);
	ktbpf_symtab_free(t);
}

Test(symbols, elf_stripped_and_bad_files)
{
	char *path = write_elf(NULL, 0, false);
	struct ktbpf_symtab *t = ktbpf_symtab_new();
	struct ktbpf_err err = {0};
	char *txt;

	cr_assert_eq(load_elf_path(t, path, &err), -ENOENT);
	cr_assert_not_null(strstr(err.msg, "has no .symtab"), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, path), "%s", err.msg);
	unlink(path);
	free(path);
	txt = tmp_file("not an elf at all", 17);
	cr_assert_eq(load_elf_path(t, txt, &err), -EINVAL);
	cr_assert_not_null(strstr(err.msg, txt), "%s", err.msg);
	unlink(txt);
	free(txt);
	cr_assert_eq(ktbpf_symtab_count(t), 0);
	ktbpf_symtab_free(t);
}

/* Link-time addresses from our own binary differ from run-time ones by one load bias. */
int symbols_anchor_a(void);
int symbols_anchor_b(void);
int symbols_anchor_a(void)
{
	return 1;
}
int symbols_anchor_b(void)
{
	return 2;
}

Test(symbols, elf_own_binary_rebased_matches_runtime)
{
	struct ktbpf_symtab *t = ktbpf_symtab_new();
	struct ktbpf_err err = {0};
	uint64_t a, b, bias;

	int r = load_elf_path(t, "/proc/self/exe", &err);

	if (r == -ENOENT)
		cr_skip_test("this test binary is stripped: %s", err.msg);
	cr_assert_eq(r, 0, "%s", err.msg);
	ktbpf_symtab_finish(t);
	a = lookup(t, "symbols_anchor_a");
	bias = (uint64_t)(uintptr_t)&symbols_anchor_a - a;
	/* User-space addresses: ktbpf_symtab_rebase() moves only the kernel half. */
	b = lookup(t, "symbols_anchor_b") + bias;
	cr_assert_eq(b, (uint64_t)(uintptr_t)&symbols_anchor_b);
	ktbpf_symtab_free(t);
}
