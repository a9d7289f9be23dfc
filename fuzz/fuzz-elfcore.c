/* SPDX-License-Identifier: MIT */
/*
 * ELF core parsing over arbitrary bytes: the input is a memfd handed to
 * ktbpf_elfcore_add() twice (pread-backed regions, then mmap-backed with
 * KTBPF_MEM_ASSUME_STABLE, safe here because nothing shrinks the memfd);
 * every region that was added is then read at both ends, and a returned
 * VMCOREINFO note is parsed.
 */
#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz-common.h"
#include "ktbpf/elfcore.h"
#include "ktbpf/vmcoreinfo.h"

static struct ktbpf_vmcoreinfo vi;

static void read_regions(const struct ktbpf_mem *mem)
{
	struct ktbpf_err err = {0};
	struct ktbpf_mem_region rg;
	uint8_t b[64];

	for (size_t i = 0; i < ktbpf_mem_nr_regions(mem); i++) {
		if (ktbpf_mem_region(mem, i, &rg) < 0)
			fuzz_die("region index out of range", NULL);
		ktbpf_mem_read(mem, rg.gpa, b, rg.size < sizeof(b) ? rg.size : sizeof(b), &err);
		ktbpf_mem_read(mem, rg.gpa + rg.size - 1, b, 1, &err);
		/* Straddling the end must fail, never read past the file. */
		if (ktbpf_mem_read(mem, rg.gpa + rg.size - 1, b, 2, &err) == 0 &&
		    ktbpf_mem_end(mem) == rg.gpa + rg.size)
			fuzz_die("read past the last region succeeded", NULL);
	}
}

static void one(int fd, unsigned int flags)
{
	struct ktbpf_err err = {0};
	struct ktbpf_mem *mem = ktbpf_mem_new();
	char note[KTBPF_VMCOREINFO_MAX + 1];
	size_t len = 12345;

	if (!mem)
		fuzz_die("out of memory", NULL);
	if (ktbpf_elfcore_add(mem, fd, flags, note, sizeof(note), &len, &err) == 0) {
		if (len >= sizeof(note) || (len && note[len] != '\0'))
			fuzz_die("VMCOREINFO note length or terminator wrong", NULL);
		if (len)
			ktbpf_vmcoreinfo_parse(note, len, &vi, &err);
		read_regions(mem);
	}
	ktbpf_mem_free(mem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = fuzz_memfd(data, size);

	ktbpf_elfcore_is_elf(fd);
	one(fd, 0);
	one(fd, KTBPF_MEM_ASSUME_STABLE);
	close(fd);
	return 0;
}

/* ---- seeds: cores laid out like QEMU's dump-guest-memory (paging=false) ---- */

struct core {
	uint8_t buf[3 * 4096 + 1024];
	size_t len;
	Elf64_Ehdr *eh;
	Elf64_Phdr *ph;
};

static void core_init(struct core *c, unsigned int nph)
{
	memset(c, 0, sizeof(*c));
	c->eh = (Elf64_Ehdr *)c->buf;
	c->ph = (Elf64_Phdr *)(c->buf + sizeof(Elf64_Ehdr));
	memcpy(c->eh->e_ident, ELFMAG, SELFMAG);
	c->eh->e_ident[EI_CLASS] = ELFCLASS64;
	c->eh->e_ident[EI_DATA] = ELFDATA2LSB;
	c->eh->e_ident[EI_VERSION] = EV_CURRENT;
	c->eh->e_type = ET_CORE;
	c->eh->e_machine = EM_X86_64;
	c->eh->e_version = EV_CURRENT;
	c->eh->e_phoff = sizeof(Elf64_Ehdr);
	c->eh->e_ehsize = sizeof(Elf64_Ehdr);
	c->eh->e_phentsize = sizeof(Elf64_Phdr);
	c->eh->e_phnum = (Elf64_Half)nph;
	c->len = sizeof(Elf64_Ehdr) + nph * sizeof(Elf64_Phdr);
}

static uint64_t core_put(struct core *c, const void *p, size_t n)
{
	uint64_t off = (c->len + 3) & ~3ull;

	memcpy(c->buf + off, p, n);
	c->len = off + n;
	return off;
}

void fuzz_write_seeds(const char *dir)
{
	static const char text[] = "OSRELEASE=6.1.0-kit\nPAGESIZE=4096\n"
				   "SYMBOL(init_top_pgt)=ffffffff82a0a000\n"
				   "NUMBER(phys_base)=0\nKERNELOFFSET=0\n";
	struct core c;
	Elf64_Nhdr nh = {.n_namesz = 11, .n_descsz = sizeof(text) - 1, .n_type = 0};
	uint8_t page[4096];
	uint64_t off;

	for (size_t i = 0; i < sizeof(page); i++)
		page[i] = (uint8_t)(i * 7);
	/* PT_NOTE with a VMCOREINFO note (and a CORE note before it), two PT_LOADs. */
	core_init(&c, 3);
	off = core_put(&c, &(Elf64_Nhdr){.n_namesz = 5, .n_descsz = 8, .n_type = 1}, 12);
	core_put(&c, "CORE\0\0\0\0", 8);
	core_put(&c, "\1\2\3\4\5\6\7\10", 8);
	core_put(&c, &nh, sizeof(nh));
	core_put(&c, "VMCOREINFO\0\0", 12);
	core_put(&c, text, sizeof(text) - 1);
	c.ph[0] = (Elf64_Phdr){.p_type = PT_NOTE, .p_offset = off, .p_filesz = c.len - off};
	c.len = (c.len + 4095) & ~4095ull;
	c.ph[1] = (Elf64_Phdr){.p_type = PT_LOAD,
			       .p_offset = core_put(&c, page, sizeof(page)),
			       .p_paddr = 0,
			       .p_filesz = 4096,
			       .p_memsz = 4096};
	c.ph[2] = (Elf64_Phdr){.p_type = PT_LOAD,
			       .p_offset = core_put(&c, page, 2048),
			       .p_paddr = 0x100000,
			       .p_filesz = 2048,
			       .p_memsz = 8192};
	fuzz_seed_write(dir, "qemu-like", c.buf, c.len);
	/* One PT_LOAD, no notes. */
	core_init(&c, 1);
	c.ph[0] = (Elf64_Phdr){.p_type = PT_LOAD,
			       .p_offset = core_put(&c, page, 512),
			       .p_paddr = 0x1000,
			       .p_filesz = 512,
			       .p_memsz = 512};
	fuzz_seed_write(dir, "one-load", c.buf, c.len);
}
