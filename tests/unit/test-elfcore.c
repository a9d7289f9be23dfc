/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ktbpf/elfcore.h"
#include "ktbpf/mem.h"

/*
 * A core file written by hand, laid out like QEMU's dump-guest-memory
 * (paging=false): ELF header, program headers, one PT_NOTE, then PT_LOADs
 * whose p_paddr is the guest physical address.
 */
#define PH_MAX	 8
#define DATA_OFF 1024

struct core {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[PH_MAX];
	unsigned int nph;
	uint8_t data[1 << 16];
	size_t len; /* bytes used in data, file offset DATA_OFF + len */
};

static void core_init(struct core *c)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->eh.e_ident, ELFMAG, SELFMAG);
	c->eh.e_ident[EI_CLASS] = ELFCLASS64;
	c->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	c->eh.e_ident[EI_VERSION] = EV_CURRENT;
	c->eh.e_type = ET_CORE;
	c->eh.e_machine = EM_X86_64;
	c->eh.e_version = EV_CURRENT;
	c->eh.e_phoff = sizeof(Elf64_Ehdr);
	c->eh.e_ehsize = sizeof(Elf64_Ehdr);
	c->eh.e_phentsize = sizeof(Elf64_Phdr);
}

/* Append bytes and return their file offset. */
static uint64_t put_raw(struct core *c, const void *p, size_t n)
{
	uint64_t off;

	cr_assert_leq(c->len + n, sizeof(c->data));
	off = DATA_OFF + c->len;
	memcpy(c->data + c->len, p, n);
	c->len += n;
	return off;
}

/* Append bytes at a 4-aligned file offset (notes need it) and return the offset. */
static uint64_t put(struct core *c, const void *p, size_t n)
{
	c->len = (c->len + 3) & ~(size_t)3;
	return put_raw(c, p, n);
}

/* One Elf64_Nhdr note with its name and descriptor padded to 4 bytes. */
static void put_note(struct core *c, const char *name, uint32_t type, const void *desc,
		     uint32_t dlen)
{
	Elf64_Nhdr nh = {.n_namesz = (uint32_t)strlen(name) + 1, .n_descsz = dlen, .n_type = type};
	static const uint8_t zero[4];

	put(c, &nh, sizeof(nh));
	put_raw(c, name, nh.n_namesz);
	put_raw(c, zero, (4 - nh.n_namesz % 4) % 4);
	put_raw(c, desc, dlen);
	put_raw(c, zero, (4 - dlen % 4) % 4);
}

static Elf64_Phdr *add_ph(struct core *c, uint32_t type, uint64_t off, uint64_t filesz,
			  uint64_t paddr)
{
	Elf64_Phdr *ph = &c->ph[c->nph++];

	cr_assert_leq(c->nph, PH_MAX);
	*ph = (Elf64_Phdr){.p_type = type,
			   .p_offset = off,
			   .p_filesz = filesz,
			   .p_memsz = filesz,
			   .p_paddr = paddr};
	return ph;
}

static int core_memfd(struct core *c)
{
	int fd = memfd_create("test-core", MFD_CLOEXEC);

	if (!c->eh.e_phnum)
		c->eh.e_phnum = (Elf64_Half)c->nph;
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, &c->eh, sizeof(c->eh), 0), (ssize_t)sizeof(c->eh));
	cr_assert_eq(pwrite(fd, c->ph, sizeof(c->ph), sizeof(c->eh)), (ssize_t)sizeof(c->ph));
	cr_assert_eq(pwrite(fd, c->data, c->len, DATA_OFF), (ssize_t)c->len);
	return fd;
}

/* Add c, written to a memfd, to m (the memfd closed again: regions keep their own reference). */
static int add_core(struct core *c, struct ktbpf_mem *m, char *vmci, size_t size, size_t *len,
		    struct ktbpf_err *err)
{
	int fd = core_memfd(c), r;

	r = ktbpf_elfcore_add(m, fd, 0, vmci, size, len, err);
	close(fd);
	return r;
}

static const char info[] = "OSRELEASE=6.9.0\nPAGESIZE=4096\nSYMBOL(init_uts_ns)=ffffffff82a1b2c0\n";

/* A note segment (a CORE note first, then VMCOREINFO) and two RAM segments. */
static void core_typical(struct core *c, uint8_t *ram_a, uint8_t *ram_b)
{
	uint8_t prstatus[336] = {1, 2, 3};
	uint64_t start, a, b;

	core_init(c);
	start = DATA_OFF + ((c->len + 3) & ~(size_t)3);
	put_note(c, "CORE", NT_PRSTATUS, prstatus, sizeof(prstatus));
	put_note(c, "VMCOREINFO", 0, info, sizeof(info) - 1);
	add_ph(c, PT_NOTE, start, DATA_OFF + c->len - start, 0);
	for (int i = 0; i < 4096; i++) {
		ram_a[i] = (uint8_t)(i * 3);
		ram_b[i] = (uint8_t)(i * 5 + 1);
	}
	a = put(c, ram_a, 4096);
	c->len += 1; /* an odd file offset for the next segment */
	b = put_raw(c, ram_b, 4096);
	cr_assert(b & 1);
	add_ph(c, PT_LOAD, a, 4096, 0x0);
	add_ph(c, PT_LOAD, b, 2048, 0x100000)->p_memsz = 4096; /* file part only */
}

Test(elfcore, loads_segments_and_vmcoreinfo)
{
	static struct core c;
	uint8_t ram_a[4096], ram_b[4096], buf[64];
	char vmci[512];
	size_t len = 99;
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};
	struct ktbpf_mem_region r;
	int fd;

	core_typical(&c, ram_a, ram_b);
	fd = core_memfd(&c);
	cr_assert(ktbpf_elfcore_is_elf(fd));
	cr_assert_eq(ktbpf_elfcore_add(m, fd, 0, vmci, sizeof(vmci), &len, &err), 0, "%s", err.msg);
	close(fd); /* regions keep their own reference */
	cr_assert_str_eq(vmci, info);
	cr_assert_eq(len, strlen(info));
	cr_assert_eq(ktbpf_mem_nr_regions(m), 2);
	cr_assert_eq(ktbpf_mem_region(m, 1, &r), 0);
	cr_assert_eq(r.gpa, 0x100000);
	cr_assert_eq(r.size, 2048);
	cr_assert_eq(ktbpf_mem_read(m, 0xff0, buf, 16, &err), 0);
	cr_assert_eq(memcmp(buf, ram_a + 0xff0, 16), 0);
	cr_assert_eq(ktbpf_mem_read(m, 0x1007f0, buf, 16, &err), 0);
	cr_assert_eq(memcmp(buf, ram_b + 0x7f0, 16), 0);
	cr_assert_eq(ktbpf_mem_read(m, 0x100800, buf, 1, &err), -EFAULT);
	ktbpf_mem_free(m);
}

Test(elfcore, vmcoreinfo_truncated_to_buffer)
{
	static struct core c;
	uint8_t ram_a[4096], ram_b[4096];
	char vmci[10];
	size_t len = 0;
	struct ktbpf_mem *m = ktbpf_mem_new();

	core_typical(&c, ram_a, ram_b);
	cr_assert_eq(add_core(&c, m, vmci, sizeof(vmci), &len, NULL), 0);
	cr_assert_str_eq(vmci, "OSRELEASE");
	cr_assert_eq(len, 9);
	ktbpf_mem_free(m);
}

Test(elfcore, no_vmcoreinfo_note_len_zero)
{
	static struct core c;
	uint8_t ram[4096] = {0};
	char vmci[64] = "untouched";
	size_t len = 99;
	struct ktbpf_mem *m = ktbpf_mem_new();
	uint64_t start;

	core_init(&c);
	start = DATA_OFF;
	put_note(&c, "CORE", NT_PRSTATUS, ram, 100);
	put_note(&c, "VMCOREINF", 0, info, sizeof(info)); /* a near miss is not a match */
	add_ph(&c, PT_NOTE, start, DATA_OFF + c.len - start, 0);
	add_ph(&c, PT_LOAD, put(&c, ram, sizeof(ram)), sizeof(ram), 0x1000);
	cr_assert_eq(add_core(&c, m, vmci, sizeof(vmci), &len, NULL), 0);
	cr_assert_eq(len, 0);
	cr_assert_eq(ktbpf_mem_nr_regions(m), 1);
	ktbpf_mem_free(m);
}

Test(elfcore, note_overrunning_segment_einval)
{
	static struct core c;
	uint8_t ram[4096] = {0};
	char vmci[64];
	size_t len;
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};
	Elf64_Nhdr nh = {.n_namesz = 11, .n_descsz = 0xfffffff0u, .n_type = 0};
	uint64_t start;

	core_init(&c);
	start = put(&c, &nh, sizeof(nh));
	put(&c, "VMCOREINFO", 11);
	add_ph(&c, PT_NOTE, start, DATA_OFF + c.len - start + 1, 0);
	add_ph(&c, PT_LOAD, put(&c, ram, sizeof(ram)), sizeof(ram), 0x1000);
	cr_assert_eq(add_core(&c, m, vmci, sizeof(vmci), &len, &err), -EINVAL);
	cr_assert(strstr(err.msg, "overruns"), "%s", err.msg);
	/* Without a VMCOREINFO buffer the notes are not read at all. */
	ktbpf_mem_free(m);
	m = ktbpf_mem_new();
	cr_assert_eq(add_core(&c, m, NULL, 0, NULL, &err), 0, "%s", err.msg);
	ktbpf_mem_free(m);
}

Test(elfcore, segment_past_file_end_erange_names_segment)
{
	static struct core c;
	uint8_t ram[4096] = {0};
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};

	core_init(&c);
	add_ph(&c, PT_LOAD, put(&c, ram, sizeof(ram)), 1 << 20, 0x200000);
	cr_assert_eq(add_core(&c, m, NULL, 0, NULL, &err), -ERANGE);
	cr_assert(strstr(err.msg, "segment 0"), "%s", err.msg);
	cr_assert(strstr(err.msg, "0x200000"), "%s", err.msg);
	ktbpf_mem_free(m);
}

Test(elfcore, not_a_core_einval)
{
	static struct core c;
	uint8_t ram[4096] = {0};
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};
	int fd;

	core_init(&c);
	add_ph(&c, PT_LOAD, put(&c, ram, sizeof(ram)), sizeof(ram), 0);
	c.eh.e_type = ET_EXEC;
	cr_assert_eq(add_core(&c, m, NULL, 0, NULL, &err), -EINVAL);
	c.eh.e_type = ET_CORE;
	c.eh.e_ident[EI_CLASS] = ELFCLASS32;
	cr_assert_eq(add_core(&c, m, NULL, 0, NULL, &err), -EINVAL);
	/* Raw RAM, not ELF at all. */
	fd = memfd_create("raw", MFD_CLOEXEC);
	cr_assert_eq(write(fd, ram, sizeof(ram)), (ssize_t)sizeof(ram));
	cr_assert_not(ktbpf_elfcore_is_elf(fd));
	cr_assert_eq(ktbpf_elfcore_add(m, fd, 0, NULL, 0, NULL, &err), -EINVAL);
	close(fd);
	cr_assert_eq(ktbpf_mem_nr_regions(m), 0);
	ktbpf_mem_free(m);
}

Test(elfcore, no_load_segment_einval)
{
	static struct core c;
	uint8_t ram[16] = {0};
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};

	core_init(&c);
	add_ph(&c, PT_LOAD, put(&c, ram, sizeof(ram)), 0, 0)->p_memsz = 4096; /* no file data */
	cr_assert_eq(add_core(&c, m, NULL, 0, NULL, &err), -EINVAL);
	cr_assert(strstr(err.msg, "PT_LOAD"), "%s", err.msg);
	ktbpf_mem_free(m);
}

Test(elfcore, phnum_capped_and_pn_xnum_resolved)
{
	static struct core c;
	uint8_t ram[4096] = {0};
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};
	Elf64_Shdr sh0 = {0};

	core_init(&c);
	add_ph(&c, PT_LOAD, put(&c, ram, sizeof(ram)), sizeof(ram), 0);
	c.eh.e_phnum = 5000;
	cr_assert_eq(add_core(&c, m, NULL, 0, NULL, &err), -E2BIG);
	/* PN_XNUM: the real count is in section 0's sh_info. */
	sh0.sh_info = 1;
	c.eh.e_shoff = put(&c, &sh0, sizeof(sh0));
	c.eh.e_shoff = (c.eh.e_shoff + 7) & ~7ull;
	c.len = c.eh.e_shoff - DATA_OFF;
	put(&c, &sh0, sizeof(sh0));
	c.eh.e_phnum = PN_XNUM;
	cr_assert_eq(add_core(&c, m, NULL, 0, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(ktbpf_mem_nr_regions(m), 1);
	ktbpf_mem_free(m);
}

/* A failing segment's code survives without an err (not a generic -EIO). */
Test(elfcore, segment_error_code_kept_without_err)
{
	static struct core c;
	uint8_t ram[4096] = {0};
	struct ktbpf_mem *m = ktbpf_mem_new();
	uint64_t off;

	core_init(&c);
	off = put(&c, ram, sizeof(ram));
	add_ph(&c, PT_LOAD, off, sizeof(ram), 0x1000);
	add_ph(&c, PT_LOAD, off, sizeof(ram), 0x1800); /* overlaps the first */
	cr_assert_eq(add_core(&c, m, NULL, 0, NULL, NULL), -EINVAL);
	ktbpf_mem_free(m);
}

/* The VMCOREINFO buffer and length are results: untouched when a later segment fails. */
Test(elfcore, vmcoreinfo_untouched_on_failure)
{
	static struct core c;
	uint8_t ram_a[4096], ram_b[4096];
	char vmci[512];
	size_t len = 99;
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};
	int fd;

	core_typical(&c, ram_a, ram_b);
	add_ph(&c, PT_LOAD, DATA_OFF, 1 << 20, 0x200000); /* past the end of the file */
	fd = core_memfd(&c);
	memset(vmci, 'x', sizeof(vmci));
	cr_assert_eq(ktbpf_elfcore_add(m, fd, 0, vmci, sizeof(vmci), &len, &err), -ERANGE);
	cr_assert(strstr(err.msg, "segment 3"), "%s", err.msg);
	for (size_t i = 0; i < sizeof(vmci); i++)
		cr_assert_eq(vmci[i], 'x', "vmcoreinfo byte %zu written on failure", i);
	cr_assert_eq(len, 99);
	ktbpf_mem_free(m);
	close(fd);
}

/* An fd that cannot be read is that errno, not "not an ELF file". */
Test(elfcore, unreadable_fd_reports_errno)
{
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};
	int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	cr_assert_geq(fd, 0);
	cr_assert_eq(ktbpf_elfcore_add(m, fd, 0, NULL, 0, NULL, &err), -EISDIR, "%s", err.msg);
	cr_assert(strstr(err.msg, "reading the ELF header"), "%s", err.msg);
	cr_assert_eq(ktbpf_elfcore_add(m, -1, 0, NULL, 0, NULL, &err), -EBADF, "%s", err.msg);
	cr_assert_eq(ktbpf_mem_nr_regions(m), 0);
	close(fd);
	ktbpf_mem_free(m);
}
