/* SPDX-License-Identifier: MIT */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ktbpf/mem.h"

struct region {
	uint64_t gpa;
	uint64_t end;		/* gpa + size, never overflows (checked on add) */
	const uint8_t *host;	/* bytes of gpa, or NULL for a pread or reader region */
	ktbpf_mem_read_fn read; /* a reader region's function, else NULL */
	void *read_ctx;
	int fd;	      /* fd regions (pread or mapped): our private dup; -1 otherwise */
	uint64_t off; /* fd regions: file offset of gpa */
	void *map;    /* mmap base to unmap (page aligned), or NULL */
	size_t map_len;
};

struct ktbpf_mem {
	size_t nr;
	struct region r[KTBPF_MEM_MAX_REGIONS];
};

struct ktbpf_mem *ktbpf_mem_new(void)
{
	return calloc(1, sizeof(struct ktbpf_mem));
}

struct ktbpf_mem *ktbpf_mem_free(struct ktbpf_mem *mem)
{
	if (!mem)
		return NULL;
	for (size_t i = 0; i < mem->nr; i++) {
		if (mem->r[i].map)
			munmap(mem->r[i].map, mem->r[i].map_len);
		if (mem->r[i].fd >= 0)
			close(mem->r[i].fd);
	}
	free(mem);
	return NULL;
}

/* The region holding pa, or NULL. Regions are few and sorted: binary search. */
static inline const struct region *find(const struct ktbpf_mem *mem, uint64_t pa)
{
	size_t lo = 0, hi = mem->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pa < mem->r[mid].gpa)
			hi = mid;
		else if (pa >= mem->r[mid].end)
			lo = mid + 1;
		else
			return &mem->r[mid];
	}
	return NULL;
}

/* Index where a region starting at gpa goes, after checking it overlaps nothing. */
static int place(const struct ktbpf_mem *mem, uint64_t gpa, uint64_t size, size_t *ret_i,
		 struct ktbpf_err *err)
{
	size_t i = 0;

	if (!size)
		return ktbpf_err_set(err, -EINVAL, "memory region at 0x%llx has size 0",
				     (unsigned long long)gpa);
	if (size > UINT64_MAX - gpa)
		return ktbpf_err_set(err, -EINVAL,
				     "memory region 0x%llx + 0x%llx overflows the address space",
				     (unsigned long long)gpa, (unsigned long long)size);
	if (mem->nr >= KTBPF_MEM_MAX_REGIONS)
		return ktbpf_err_set(err, -E2BIG, "too many memory regions (at most %d)",
				     KTBPF_MEM_MAX_REGIONS);
	while (i < mem->nr && mem->r[i].gpa < gpa)
		i++;
	if ((i > 0 && mem->r[i - 1].end > gpa) || (i < mem->nr && mem->r[i].gpa < gpa + size)) {
		const struct region *o =
			(i > 0 && mem->r[i - 1].end > gpa) ? &mem->r[i - 1] : &mem->r[i];

		return ktbpf_err_set(err, -EINVAL,
				     "memory region [0x%llx, 0x%llx) overlaps [0x%llx, 0x%llx)",
				     (unsigned long long)gpa, (unsigned long long)(gpa + size),
				     (unsigned long long)o->gpa, (unsigned long long)o->end);
	}
	*ret_i = i;
	return 0;
}

static void insert(struct ktbpf_mem *mem, size_t i, const struct region *r)
{
	memmove(&mem->r[i + 1], &mem->r[i], (mem->nr - i) * sizeof(*r));
	mem->r[i] = *r;
	mem->nr++;
}

/* Place r (size bytes at r->gpa) among mem's regions; has_src: r has what it reads from. */
static int add_region(struct ktbpf_mem *mem, const struct region *r, uint64_t size, bool has_src,
		      const char *what, struct ktbpf_err *err)
{
	size_t i;
	int ret;

	if (!has_src)
		return ktbpf_err_set(err, -EINVAL, "memory region at 0x%llx has no %s",
				     (unsigned long long)r->gpa, what);
	ret = place(mem, r->gpa, size, &i, err);
	if (ret < 0)
		return ret;
	insert(mem, i, r);
	return 0;
}

int ktbpf_mem_add_buffer(struct ktbpf_mem *mem, uint64_t gpa, uint64_t size, const void *buf,
			 struct ktbpf_err *err)
{
	struct region r = {.gpa = gpa, .end = gpa + size, .host = buf, .fd = -1};

	return add_region(mem, &r, size, buf != NULL, "buffer", err);
}

int ktbpf_mem_add_reader(struct ktbpf_mem *mem, uint64_t gpa, uint64_t size, ktbpf_mem_read_fn fn,
			 void *ctx, struct ktbpf_err *err)
{
	struct region r = {.gpa = gpa, .end = gpa + size, .read = fn, .read_ctx = ctx, .fd = -1};

	return add_region(mem, &r, size, fn != NULL, "reader", err);
}

/* The file must hold [offset, offset+size); only regular files have a meaningful st_size. */
static int check_file(int fd, uint64_t gpa, uint64_t size, uint64_t offset, struct ktbpf_err *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return ktbpf_err_set(err, -errno, "fstat of the memory fd for 0x%llx: %s",
				     (unsigned long long)gpa, strerror(errno));
	if (offset > UINT64_MAX - size)
		return ktbpf_err_set(err, -EINVAL, "file offset 0x%llx + size 0x%llx overflows",
				     (unsigned long long)offset, (unsigned long long)size);
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < offset + size)
		return ktbpf_err_set(err, -ERANGE,
				     "memory file is 0x%llx bytes, shorter than offset 0x%llx + "
				     "size 0x%llx of the region at 0x%llx",
				     (unsigned long long)st.st_size, (unsigned long long)offset,
				     (unsigned long long)size, (unsigned long long)gpa);
	return 0;
}

static int map_region(struct region *r, int fd, uint64_t size, uint64_t offset,
		      struct ktbpf_err *err)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t delta = offset & (page - 1);
	void *p;

	if (size > SIZE_MAX - delta)
		return ktbpf_err_set(err, -ERANGE, "memory region of 0x%llx bytes is too large",
				     (unsigned long long)size);
	r->map_len = (size_t)(size + delta);
	p = mmap(NULL, r->map_len, PROT_READ, MAP_SHARED, fd, (off_t)(offset - delta));
	if (p == MAP_FAILED)
		return ktbpf_err_set(err, -errno, "mmap of 0x%llx bytes at file offset 0x%llx: %s",
				     (unsigned long long)size, (unsigned long long)offset,
				     strerror(errno));
	r->map = p;
	r->host = (const uint8_t *)p + delta;
	return 0;
}

int ktbpf_mem_add_fd(struct ktbpf_mem *mem, uint64_t gpa, uint64_t size, int fd, uint64_t offset,
		     unsigned int flags, struct ktbpf_err *err)
{
	struct region r = {.gpa = gpa, .end = gpa + size, .fd = -1, .off = offset};
	size_t i;
	int seals, ret;

	ret = place(mem, gpa, size, &i, err);
	if (ret < 0)
		return ret;
	/*
	 * Seals before the size: once F_SEAL_SHRINK is seen the size checked
	 * next is final; the other order lets a file shrink and then get sealed
	 * in between, and the mapping would fault. Not a memfd (or no sealing
	 * support): treat as unsealed.
	 */
	seals = fcntl(fd, F_GET_SEALS);
	ret = check_file(fd, gpa, size, offset, err);
	if (ret < 0)
		return ret;
	/* Every byte's file offset must fit off_t, or pread()/mmap() would see a negative one. */
	if (size > (uint64_t)INT64_MAX || offset > (uint64_t)INT64_MAX - size)
		return ktbpf_err_set(err, -EINVAL,
				     "file offset 0x%llx + size 0x%llx of the region at 0x%llx is "
				     "past the largest file offset (2^63 - 1)",
				     (unsigned long long)offset, (unsigned long long)size,
				     (unsigned long long)gpa);
	/*
	 * Mapped regions keep a dup too: scans read with pread() and skip holes
	 * with SEEK_DATA, so they never fault in (and on tmpfs allocate) pages
	 * of guest RAM that the guest never wrote.
	 */
	r.fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (r.fd < 0)
		return ktbpf_err_set(err, -errno, "dup of the memory fd: %s", strerror(errno));
	if ((flags & KTBPF_MEM_ASSUME_STABLE) || (seals > 0 && (seals & F_SEAL_SHRINK))) {
		ret = map_region(&r, fd, size, offset, err);
		if (ret < 0) {
			close(r.fd);
			return ret;
		}
	}
	insert(mem, i, &r);
	return 0;
}

/* pread exactly len bytes of r at pa; a short read means the file shrank under us. */
static int read_fd(const struct region *r, uint64_t pa, uint8_t *buf, size_t len,
		   struct ktbpf_err *err)
{
	size_t done = 0;

	while (done < len) {
		uint64_t off = r->off + (pa - r->gpa) + done;
		ssize_t n = pread(r->fd, buf + done, len - done, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ktbpf_err_set_addr(err, -EIO, pa + done,
						  "pread of guest memory at 0x%llx (file offset "
						  "0x%llx): %s",
						  (unsigned long long)(pa + done),
						  (unsigned long long)off, strerror(errno));
		if (n == 0)
			return ktbpf_err_set_addr(err, -EIO, pa + done,
						  "guest memory at 0x%llx is past the end of its "
						  "file (offset 0x%llx): the file shrank after it "
						  "was added; add the memory again",
						  (unsigned long long)(pa + done),
						  (unsigned long long)off);
		done += (size_t)n;
	}
	return 0;
}

/* The caller's reader; a failure without a message gets one with the address. */
static int read_reader(const struct region *r, uint64_t pa, uint8_t *buf, size_t len,
		       struct ktbpf_err *err)
{
	struct ktbpf_err e = {0}; /* reader regions are not the hot path */
	int ret;

	ret = r->read(r->read_ctx, pa, buf, len, &e);
	if (ret >= 0)
		return 0;
	if (!e.msg[0])
		return ktbpf_err_set_addr(err, ret, pa,
					  "reading guest memory at 0x%llx (%zu bytes): %s",
					  (unsigned long long)pa, len, strerror(-ret));
	if (err)
		*err = e;
	return ret;
}

static int copy_from(const struct region *r, uint64_t pa, uint8_t *buf, size_t len, bool nofault,
		     struct ktbpf_err *err)
{
	if (r->host && (!nofault || r->fd < 0)) {
		memcpy(buf, r->host + (pa - r->gpa), len);
		return 0;
	}
	if (r->read)
		return read_reader(r, pa, buf, len, err);
	return read_fd(r, pa, buf, len, err);
}

static int fault(struct ktbpf_err *err, uint64_t addr)
{
	return ktbpf_err_set_addr(err, -EFAULT, addr, "guest physical address 0x%llx is not in RAM",
				  (unsigned long long)addr);
}

/* A read spanning adjacent regions: check every byte is covered, then copy. */
static int read_span(const struct ktbpf_mem *mem, const struct region *r, uint64_t pa, uint8_t *buf,
		     size_t len, bool nofault, struct ktbpf_err *err)
{
	uint64_t cur = r->end, left = len - (r->end - pa);
	const struct region *q = r;

	while (left) {
		q++;
		if (q == mem->r + mem->nr || q->gpa != cur)
			return fault(err, cur);
		if (q->end - cur >= left)
			break;
		left -= q->end - cur;
		cur = q->end;
	}
	for (cur = pa, left = len; left; r++) {
		uint64_t n = r->end - cur < left ? r->end - cur : left;
		int ret = copy_from(r, cur, buf + (cur - pa), (size_t)n, nofault, err);

		if (ret < 0)
			return ret;
		cur += n;
		left -= n;
	}
	return 0;
}

static int read_any(const struct ktbpf_mem *mem, uint64_t pa, void *buf, size_t len, bool nofault,
		    struct ktbpf_err *err)
{
	const struct region *r;
	int ret;

	if (!len)
		return 0;
	r = find(mem, pa);
	if (!r)
		return fault(err, pa);
	if (r->end - pa >= len)
		ret = copy_from(r, pa, buf, len, nofault, err);
	else
		ret = read_span(mem, r, pa, buf, len, nofault, err);
	return ret;
}

int ktbpf_mem_read(const struct ktbpf_mem *mem, uint64_t pa, void *buf, size_t len,
		   struct ktbpf_err *err)
{
	return read_any(mem, pa, buf, len, false, err);
}

int ktbpf_mem_read_nofault(const struct ktbpf_mem *mem, uint64_t pa, void *buf, size_t len,
			   struct ktbpf_err *err)
{
	return read_any(mem, pa, buf, len, true, err);
}

/*
 * lseek(SEEK_DATA / SEEK_HOLE) on our dup: the file offset it moves is shared
 * with the caller's fd (one open file description), which is why mem.h says
 * the library never uses that offset and callers should not either.
 * Filesystems without hole support report the whole file as data
 * (fs/read_write.c: generic_file_llseek_size()); an error other than ENXIO
 * ("no data past here") is taken the same way, so a scan reads too much
 * rather than missing the note.
 */
static void data_extent(const struct region *r, uint64_t pa, uint64_t *start, uint64_t *end)
{
	uint64_t off = r->off + (pa - r->gpa), fend = r->off + (r->end - r->gpa);
	off_t d, h;

	struct stat st;

	*start = pa;
	*end = r->end;
	d = lseek(r->fd, (off_t)off, SEEK_DATA);
	if (d < 0 && errno == ENXIO && fstat(r->fd, &st) == 0 && (uint64_t)st.st_size < fend) {
		/*
		 * Holes up to the end of a file that shrank after it was added:
		 * what lies past its end is not a hole but unreadable, and the
		 * read that fails says so.
		 */
		if ((uint64_t)st.st_size > off)
			*start = r->gpa + ((uint64_t)st.st_size - r->off);
		return;
	}
	if (d < 0) {
		if (errno == ENXIO)
			*start = *end = r->end;
		return;
	}
	if ((uint64_t)d >= fend) {
		*start = *end = r->end;
		return;
	}
	*start = r->gpa + ((uint64_t)d - r->off);
	h = lseek(r->fd, d, SEEK_HOLE);
	if (h > d && (uint64_t)h < fend)
		*end = r->gpa + ((uint64_t)h - r->off);
}

int ktbpf_mem_find_data(const struct ktbpf_mem *mem, uint64_t pa, uint64_t *ret_start,
			uint64_t *ret_end)
{
	size_t lo = 0, hi = mem->nr;
	uint64_t start, end;

	/* The first region ending above pa. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (mem->r[mid].end <= pa)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < mem->nr; lo++) {
		const struct region *r = &mem->r[lo];
		uint64_t from = pa > r->gpa ? pa : r->gpa;

		if (r->fd < 0) {
			start = from;
			end = r->end;
		} else {
			data_extent(r, from, &start, &end);
		}
		if (start < end) {
			*ret_start = start;
			*ret_end = end;
			return 0;
		}
	}
	return -ENOENT;
}

/*
 * Scalar fast path: a fixed-size copy from a host-backed region, no call into
 * the general reader (page-table walks read one u64 per level).
 */
static inline const uint8_t *scalar_ptr(const struct ktbpf_mem *mem, uint64_t pa, size_t len)
{
	const struct region *r = find(mem, pa);

	if (!r || !r->host || r->end - pa < len)
		return NULL;
	return r->host + (pa - r->gpa);
}

/*
 * One little-endian scalar of len 1, 4 or 8 bytes. Always inlined with a
 * constant len, so each public reader compiles to its own fixed-size load.
 */
static inline __attribute__((always_inline)) int
read_le(const struct ktbpf_mem *mem, uint64_t pa, size_t len, uint64_t *ret, struct ktbpf_err *err)
{
	const uint8_t *p = scalar_ptr(mem, pa, len);
	uint8_t buf[8];
	uint32_t v32;
	uint64_t v64;
	int r;

	if (!p) {
		r = ktbpf_mem_read(mem, pa, buf, len, err);
		if (r < 0)
			return r;
		p = buf;
	}
	if (len == 8) {
		memcpy(&v64, p, 8);
		*ret = le64toh(v64);
	} else if (len == 4) {
		memcpy(&v32, p, 4);
		*ret = le32toh(v32);
	} else {
		*ret = p[0];
	}
	return 0;
}

int ktbpf_mem_read_u8(const struct ktbpf_mem *mem, uint64_t pa, uint8_t *ret, struct ktbpf_err *err)
{
	uint64_t v;
	int r = read_le(mem, pa, 1, &v, err);

	if (r == 0)
		*ret = (uint8_t)v;
	return r;
}

int ktbpf_mem_read_u32(const struct ktbpf_mem *mem, uint64_t pa, uint32_t *ret,
		       struct ktbpf_err *err)
{
	uint64_t v;
	int r = read_le(mem, pa, 4, &v, err);

	if (r == 0)
		*ret = (uint32_t)v;
	return r;
}

int ktbpf_mem_read_u64(const struct ktbpf_mem *mem, uint64_t pa, uint64_t *ret,
		       struct ktbpf_err *err)
{
	return read_le(mem, pa, 8, ret, err);
}

const void *ktbpf_mem_ptr(const struct ktbpf_mem *mem, uint64_t pa, size_t len)
{
	const struct region *r = find(mem, pa);

	if (!r || !r->host || r->end - pa < len)
		return NULL;
	return r->host + (pa - r->gpa);
}

size_t ktbpf_mem_nr_regions(const struct ktbpf_mem *mem)
{
	return mem->nr;
}

int ktbpf_mem_region(const struct ktbpf_mem *mem, size_t i, struct ktbpf_mem_region *ret)
{
	if (i >= mem->nr)
		return -ENOENT;
	ret->gpa = mem->r[i].gpa;
	ret->size = mem->r[i].end - mem->r[i].gpa;
	ret->file = mem->r[i].fd >= 0;
	ret->mapped = mem->r[i].host != NULL;
	return 0;
}

uint64_t ktbpf_mem_end(const struct ktbpf_mem *mem)
{
	return mem->nr ? mem->r[mem->nr - 1].end : 0;
}
