/* SPDX-License-Identifier: MIT */
/*
 * The files a user hands ktbpf about a kit kernel (see kit-kernel.h): a
 * System.map and a vmlinux ELF, written from the kit's own symbol table.
 */
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kit-kernel.h"

static void die(const char *what, uint64_t a)
{
	fprintf(stderr, "kit-files: %s (0x%" PRIx64 ")\n", what, a);
	abort();
}

/* ---- System.map ---- */

void kit_kernel_write_system_map(const struct kit_kernel *kk, const char *path, bool link_time)
{
	struct kit_ksym **v = malloc(sizeof(*v) * kk->nr_syms);
	FILE *f = fopen(path, "we");

	if (!v || !f)
		die("cannot write System.map", 0);
	for (size_t i = 0; i < kk->nr_syms; i++)
		v[i] = &kk->syms[i];
	qsort(v, kk->nr_syms, sizeof(*v), kit_ksym_cmp);
	for (size_t i = 0; i < kk->nr_syms; i++) {
		uint64_t a = v[i]->kva;

		if (link_time && a >= KIT_PERCPU_SYM_MAX)
			a -= kk->opts.slide;
		fprintf(f, "%016" PRIx64 " %c %s\n", a, v[i]->type, v[i]->name);
	}
	if (fclose(f))
		die("cannot write System.map", 0);
	free(v);
}

/* ---- vmlinux ELF ---- */

/* Section indices in the kit's vmlinux. */
enum { SEC_TEXT = 1, SEC_PERCPU, SEC_BTF, SEC_SYMTAB, SEC_STRTAB, SEC_SHSTRTAB };

static Elf_Scn *new_section(Elf *e, uint32_t name, uint32_t type, uint64_t addr, uint64_t size,
			    void *data, uint64_t data_size)
{
	Elf_Scn *scn = elf_newscn(e);
	GElf_Shdr sh;
	Elf_Data *d;

	if (!scn || !gelf_getshdr(scn, &sh))
		die("elf_newscn", 0);
	sh.sh_name = name;
	sh.sh_type = type;
	sh.sh_addr = addr;
	sh.sh_size = size;
	sh.sh_addralign = type == SHT_NOTE ? 4 : 8; /* 4: plain (not 8-byte) notes */
	sh.sh_flags = type == SHT_NOBITS ? SHF_ALLOC | SHF_WRITE : 0;
	if (data || type == SHT_NOBITS) {
		d = elf_newdata(scn);
		if (!d)
			die("elf_newdata", 0);
		d->d_buf = data;
		d->d_size = data_size;
		d->d_type = type == SHT_SYMTAB ? ELF_T_SYM : ELF_T_BYTE;
		d->d_align = type == SHT_STRTAB ? 1 : type == SHT_NOTE ? 4 : 8;
	}
	if (!gelf_update_shdr(scn, &sh))
		die("gelf_update_shdr", 0);
	return scn;
}

/* .symtab: the null symbol, locals (lowercase types), then globals. Returns the count. */
static size_t vmlinux_symbols(const struct kit_kernel *kk, unsigned int flags, Elf64_Sym *out,
			      char *strtab, size_t *strtab_len, size_t *ret_first_global)
{
	uint64_t pgd = kit_kernel_symbol(kk, "init_top_pgt");
	size_t n = 1, len = 1;

	memset(&out[0], 0, sizeof(out[0]));
	strtab[0] = '\0';
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1)
			*ret_first_global = n;
		for (size_t i = 0; i < kk->nr_syms; i++) {
			const struct kit_ksym *s = &kk->syms[i];
			bool local = s->type >= 'a' && s->type <= 'z';
			bool percpu = s->kva < KIT_PERCPU_SYM_MAX;
			int type = (s->type | 0x20) == 't' ? STT_FUNC : STT_OBJECT;
			Elf64_Sym *y = &out[n++];

			if (local != (pass == 0)) {
				n--;
				continue;
			}
			y->st_name = (uint32_t)len;
			y->st_info =
				(unsigned char)GELF_ST_INFO(local ? STB_LOCAL : STB_GLOBAL, type);
			y->st_other = 0;
			y->st_shndx = percpu ? SEC_PERCPU : SEC_TEXT;
			y->st_value = percpu ? s->kva : s->kva - kk->opts.slide;
			if (!percpu && (flags & KIT_VMLINUX_OTHER_BUILD) && s->kva != pgd)
				y->st_value += 1 << 20;
			y->st_size = 8;
			strcpy(strtab + len, s->name);
			len += strlen(s->name) + 1;
		}
	}
	*strtab_len = len;
	return n;
}

/* The GNU build ID note (elf.h: NT_GNU_BUILD_ID): KIT_BUILD_ID, or another one. */
static void build_id_note(uint8_t *note, bool other)
{
	uint32_t hdr[3] = {4, 20, 3};

	memcpy(note, hdr, sizeof(hdr));
	memcpy(note + 12, "GNU", 4);
	for (int i = 0; i < 20; i++) {
		unsigned int b;

		sscanf(&KIT_BUILD_ID[2 * i], "%2x", &b);
		note[16 + i] = (uint8_t)(other ? b ^ 0x5a : b);
	}
}

void kit_kernel_write_vmlinux(const struct kit_kernel *kk, const char *path, unsigned int flags)
{
	static char shstrtab[] =
		"\0.text\0.data..percpu\0.BTF\0.symtab\0.strtab\0.shstrtab\0.notes\0.rodata";
	size_t names = 1, nsym, first_global = 1, strtab_len = 0;
	uint8_t note[12 + 4 + 20];
	char rodata[256] = "kit .rodata";
	Elf64_Sym *syms = calloc(kk->nr_syms + 1, sizeof(*syms));
	char *strtab;
	GElf_Ehdr eh;
	Elf_Scn *scn;
	Elf *e;
	int fd;

	for (size_t i = 0; i < kk->nr_syms; i++)
		names += strlen(kk->syms[i].name) + 1;
	strtab = malloc(names);
	if (!syms || !strtab || elf_version(EV_CURRENT) == EV_NONE)
		die("out of memory", 0);
	nsym = vmlinux_symbols(kk, flags, syms, strtab, &strtab_len, &first_global);
	build_id_note(note, flags & KIT_VMLINUX_OTHER_BUILD);
	/* init/version.c: linux_banner, somewhere in .rodata. */
	snprintf(rodata + 64, sizeof(rodata) - 64, "Linux version %s (kit@kit) #1 SMP\n",
		 (flags & KIT_VMLINUX_OTHER_BUILD) ? "6.12.0-other" : kk->opts.release);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	e = fd < 0 ? NULL : elf_begin(fd, ELF_C_WRITE, NULL);
	if (!e || !gelf_newehdr(e, ELFCLASS64) || !gelf_getehdr(e, &eh))
		die("cannot write vmlinux", 0);
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_type = ET_EXEC;
	eh.e_machine = kk->opts.arch == KTBPF_ARCH_AARCH64 ? EM_AARCH64 : EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = kk->link_text;
	eh.e_shstrndx = SEC_SHSTRTAB;
	if (!gelf_update_ehdr(e, &eh))
		die("gelf_update_ehdr", 0);
	/* Names are offsets into shstrtab above. */
	new_section(e, 1, SHT_NOBITS, kk->link_text, kk->opts.image_size, NULL,
		    kk->opts.image_size);
	new_section(e, 7, SHT_NOBITS, 0, kk->opts.percpu_unit, NULL, kk->opts.percpu_unit);
	/* Unused sections stay as empty placeholders so the indices above hold. */
	new_section(e, (flags & KIT_VMLINUX_BTF) ? 21 : 0, SHT_PROGBITS, 0,
		    (flags & KIT_VMLINUX_BTF) ? kk->btf_size : 0,
		    (flags & KIT_VMLINUX_BTF) ? (void *)kk->btf : NULL, kk->btf_size);
	scn = new_section(e, (flags & KIT_VMLINUX_SYMTAB) ? 26 : 0,
			  (flags & KIT_VMLINUX_SYMTAB) ? SHT_SYMTAB : SHT_PROGBITS, 0,
			  (flags & KIT_VMLINUX_SYMTAB) ? nsym * sizeof(*syms) : 0,
			  (flags & KIT_VMLINUX_SYMTAB) ? syms : NULL, nsym * sizeof(*syms));
	if (flags & KIT_VMLINUX_SYMTAB) {
		GElf_Shdr sh;

		gelf_getshdr(scn, &sh);
		sh.sh_link = SEC_STRTAB;
		sh.sh_info = (uint32_t)first_global;
		sh.sh_entsize = sizeof(*syms);
		gelf_update_shdr(scn, &sh);
	}
	new_section(e, (flags & KIT_VMLINUX_SYMTAB) ? 34 : 0, SHT_STRTAB, 0, strtab_len, strtab,
		    strtab_len);
	new_section(e, 42, SHT_STRTAB, 0, sizeof(shstrtab), shstrtab, sizeof(shstrtab));
	if (flags & KIT_VMLINUX_BUILD_ID)
		new_section(e, 52, SHT_NOTE, 0, sizeof(note), note, sizeof(note));
	if (flags & KIT_VMLINUX_BANNER)
		new_section(e, 59, SHT_PROGBITS, 0, sizeof(rodata), rodata, sizeof(rodata));
	if (elf_update(e, ELF_C_WRITE) < 0)
		die("elf_update", 0);
	elf_end(e);
	close(fd);
	free(syms);
	free(strtab);
}

/* ---- files as fds ---- */

#define KIT_FILES 16

static struct ktbpf_file kit_files[KIT_FILES];
static char *kit_file_names[KIT_FILES];
static unsigned int kit_files_next;

static const struct ktbpf_file *kit_file_slot(int fd, const char *name)
{
	unsigned int i = kit_files_next++ % KIT_FILES;

	if (kit_files_next > KIT_FILES) {
		close(kit_files[i].fd);
		free(kit_file_names[i]);
	}
	kit_file_names[i] = name ? strdup(name) : NULL;
	kit_files[i] = (struct ktbpf_file){.fd = fd, .name = kit_file_names[i]};
	return &kit_files[i];
}

const struct ktbpf_file *kit_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		die("cannot open a kit file", 0);
	return kit_file_slot(fd, path);
}

const struct ktbpf_file *kit_memfd_file(const char *path)
{
	int in = open(path, O_RDONLY | O_CLOEXEC), fd = memfd_create("kit-file", MFD_CLOEXEC);
	char buf[65536];
	ssize_t n;

	if (in < 0 || fd < 0)
		die("cannot copy a kit file into a memfd", 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)n) != n)
			die("cannot copy a kit file into a memfd", 0);
	if (n < 0)
		die("cannot copy a kit file into a memfd", 0);
	close(in);
	return kit_file_slot(fd, NULL);
}
