/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_MEM_H
#define KTBPF_MEM_H

/*
 * Guest physical memory: a sorted table of regions {gpa, size, host bytes}.
 *
 * Reads are bounded: a read that leaves every region fails with -EFAULT and
 * the faulting guest physical address, it never touches host memory outside a
 * mapping. Regions may have gaps; guest physical address == file offset is
 * never assumed (the caller says where each region's bytes live).
 *
 * Safety against a file shrunk under us (SIGBUS on a mapping): a region backed
 * by a file descriptor is read through mmap only when the file is sealed
 * against shrinking (F_SEAL_SHRINK, as QEMU's memory-backend-memfd does) or
 * the caller passes KTBPF_MEM_ASSUME_STABLE; otherwise it is read with pread(),
 * which reports a short read instead of faulting.
 *
 * Guest RAM is mostly holes until the guest writes it (a tmpfs or memfd file
 * that QEMU never touched). Reading a hole through a MAP_SHARED mapping of
 * such a file allocates it (mm/shmem.c: shmem_fault() fills holes), pread()
 * does not (it copies zeros). Code that looks at RAM it was not pointed at
 * (the VMCOREINFO scan) uses ktbpf_mem_find_data() and
 * ktbpf_mem_read_nofault(), so the host never materialises a guest's unused
 * memory. For that, every fd region keeps a private dup of its fd; lseek()
 * on it moves the file offset the caller's fd shares (one open file
 * description): neither the library nor its callers may rely on that offset.
 *
 * Thread safety: a struct ktbpf_mem is immutable after the regions are added
 * and keeps no state between reads; any number of threads may read it at
 * once (mmap-ed and buffer regions are copied from, pread regions read with
 * pread(); a reader region's function must allow it too). Adding regions is
 * not safe while others read.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktbpf/err.h"

struct ktbpf_mem;

/* At most this many regions (a hostile registration cannot ask for more). */
#define KTBPF_MEM_MAX_REGIONS 64

enum ktbpf_mem_flags {
	/* Map with mmap even when the fd is not sealed against shrinking. */
	KTBPF_MEM_ASSUME_STABLE = 1u << 0,
};

struct ktbpf_mem_region {
	uint64_t gpa;  /* guest physical start */
	uint64_t size; /* bytes */
	bool file;     /* backed by a file descriptor (else a borrowed buffer) */
	bool mapped;   /* read through a mapping (a buffer, or an fd sealed or assumed stable);
			* false for an fd read with pread() and a reader region */
};

/* A new empty table, or NULL on allocation failure. Free with ktbpf_mem_free(). */
struct ktbpf_mem *ktbpf_mem_new(void);

/* Frees the table: unmaps regions, closes its private fds. NULL ok; returns NULL. */
struct ktbpf_mem *ktbpf_mem_free(struct ktbpf_mem *mem);

/*
 * Add [gpa, gpa+size) backed by bytes [offset, offset+size) of fd. The fd is
 * not kept: the caller may close it once this returns (the region keeps a
 * private F_DUPFD_CLOEXEC copy that ktbpf_mem_free() closes, and an mmap-ed
 * one its mapping too). Errors: -EINVAL for size 0, overlap with an
 * existing region or overflow (gpa+size must stay below 2^64 and offset+size
 * within off_t, below 2^63; offset need not be page aligned); -ERANGE when a regular file is
 * shorter than offset+size; -E2BIG beyond KTBPF_MEM_MAX_REGIONS; -errno from fstat/mmap/dup.
 */
int ktbpf_mem_add_fd(struct ktbpf_mem *mem, uint64_t gpa, uint64_t size, int fd, uint64_t offset,
		     unsigned int flags, struct ktbpf_err *err);

/*
 * Add [gpa, gpa+size) backed by host memory buf, borrowed (the caller keeps it
 * alive and frees it after ktbpf_mem_free()). Same errors as ktbpf_mem_add_fd().
 */
int ktbpf_mem_add_buffer(struct ktbpf_mem *mem, uint64_t gpa, uint64_t size, const void *buf,
			 struct ktbpf_err *err);

/*
 * A reader region: bytes come from the caller's fn, for guest RAM that is
 * neither a file nor host memory of ours (a VMM's own interface), or
 * another region table wrapped to inject faults or trace reads (the tests'
 * and bench's tools; the library has no hook of its own). fn(ctx, pa, buf,
 * len, err) fills buf with the len bytes at guest physical pa, always
 * within [gpa, gpa+size), and returns 0 or a negative errno (with a message
 * in err, which may be NULL; without one the read's error names pa and
 * errno). ctx is borrowed. Same errors as ktbpf_mem_add_buffer(), -EINVAL
 * for a NULL fn.
 */
typedef int (*ktbpf_mem_read_fn)(void *ctx, uint64_t pa, void *buf, size_t len,
				 struct ktbpf_err *err);
int ktbpf_mem_add_reader(struct ktbpf_mem *mem, uint64_t gpa, uint64_t size, ktbpf_mem_read_fn fn,
			 void *ctx, struct ktbpf_err *err);

/*
 * Copy len bytes at guest physical pa into buf. All or nothing: -EFAULT (with
 * err->addr = first missing byte's address) when any byte is outside the
 * regions, including a read that straddles a gap (adjacent regions without a
 * gap read as one); -EIO on a short pread; a reader region's error. len 0
 * succeeds. buf is undefined after an error.
 */
int ktbpf_mem_read(const struct ktbpf_mem *mem, uint64_t pa, void *buf, size_t len,
		   struct ktbpf_err *err);

/*
 * ktbpf_mem_read() that never reads a file region through its mapping: with
 * pread(), so holes read as zeros and stay holes. Same contract otherwise.
 */
int ktbpf_mem_read_nofault(const struct ktbpf_mem *mem, uint64_t pa, void *buf, size_t len,
			   struct ktbpf_err *err);

/*
 * The first stretch [*ret_start, *ret_end) at or above pa, inside one region,
 * that may hold data: a buffer region is all data; a file region skips the
 * file's holes (lseek SEEK_DATA/SEEK_HOLE; all data where the filesystem
 * cannot tell; a reader region is all data). Holes are a snapshot: a running guest may write one
 * right after. -ENOENT when nothing at or above pa holds data.
 */
int ktbpf_mem_find_data(const struct ktbpf_mem *mem, uint64_t pa, uint64_t *ret_start,
			uint64_t *ret_end);

/* Scalar reads (little-endian guest): same contract as ktbpf_mem_read(). */
int ktbpf_mem_read_u8(const struct ktbpf_mem *mem, uint64_t pa, uint8_t *ret,
		      struct ktbpf_err *err);
int ktbpf_mem_read_u32(const struct ktbpf_mem *mem, uint64_t pa, uint32_t *ret,
		       struct ktbpf_err *err);
int ktbpf_mem_read_u64(const struct ktbpf_mem *mem, uint64_t pa, uint64_t *ret,
		       struct ktbpf_err *err);

/*
 * A direct pointer to len bytes at pa when they lie inside one mmap-ed (or
 * buffer) region, else NULL (absent, straddling, or pread-backed). Valid until
 * ktbpf_mem_free(). Used by scans that must not copy (VMCOREINFO search).
 */
const void *ktbpf_mem_ptr(const struct ktbpf_mem *mem, uint64_t pa, size_t len);

/* Number of regions and the i-th one (sorted by gpa). */
size_t ktbpf_mem_nr_regions(const struct ktbpf_mem *mem);
int ktbpf_mem_region(const struct ktbpf_mem *mem, size_t i, struct ktbpf_mem_region *ret);

/* One past the highest guest physical address covered (0 when empty). */
uint64_t ktbpf_mem_end(const struct ktbpf_mem *mem);

#endif
