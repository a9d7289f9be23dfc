/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_ELFCORE_H
#define KTBPF_ELFCORE_H

/*
 * ELF core files (QEMU dump-guest-memory, kdump /proc/vmcore copies): the
 * PT_LOAD segments become memory regions at their physical addresses
 * (p_paddr), and the VMCOREINFO note is returned when present (QEMU writes it
 * only when the guest registered it through the vmcoreinfo device).
 *
 * Thread safety: no state; ktbpf_elfcore_add() adds regions to mem, so no
 * other thread may read that mem meanwhile (mem.h).
 */

#include <stdbool.h>
#include <stddef.h>

#include "ktbpf/err.h"
#include "ktbpf/mem.h"

/* True when fd starts with an ELF header (reads with pread, offset 0). */
bool ktbpf_elfcore_is_elf(int fd);

/*
 * Add every PT_LOAD of the core file fd to mem with ktbpf_mem_add_fd() and
 * mem_flags (fd need not stay open afterwards, see there). When ret_vmcoreinfo
 * is non-NULL and the core has a VMCOREINFO note, its text is copied there
 * (NUL-terminated, at most size-1 bytes) and *ret_len (may be NULL) set to its
 * length; otherwise *ret_len = 0. Segments whose p_filesz < p_memsz are added
 * for the file part only. Returns 0. Errors name the segment; -EINVAL when not
 * a little-endian ELF64 core, when it has no PT_LOAD with file data, or when a
 * note overruns its PT_NOTE segment; -E2BIG for more than 4096 program headers;
 * -errno when fd cannot be read. ret_vmcoreinfo and *ret_len are written only
 * on success. On error mem may already hold some segments: free it.
 */
int ktbpf_elfcore_add(struct ktbpf_mem *mem, int fd, unsigned int mem_flags, char *ret_vmcoreinfo,
		      size_t size, size_t *ret_len, struct ktbpf_err *err);

#endif
