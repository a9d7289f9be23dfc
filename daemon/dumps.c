/* SPDX-License-Identifier: MIT */
/*
 * The failure-dump store, kept the way systemd-coredump keeps cores
 * (coredump.conf(5), ../shared/reference/metrics-and-dumps.md §4):
 *
 *  - one file per dump under <state dir>/dumps, named dump.<id>.json.gz: the
 *    dump's JSON document (schema "ktbpf.failure-dump"), gzip-compressed;
 *  - written as .#dump.<id>.json.gz (fsync'd), then renamed into place and
 *    the directory fsync'd, so a dump is either whole or absent; leftover .#
 *    files (a daemon killed mid-write) are removed at start;
 *  - re-read at start (so dumps survive a restart): the index here is only a
 *    cache of the files' own metadata;
 *  - retention like MaxUse=/KeepFree= plus an age like tmpfiles' 3 days: the
 *    oldest dumps go first, after each write, at start and on dump.list; the
 *    newest dump is never deleted for size or free space (the one just
 *    written is the one a failing test wants), only for age.
 *
 * Ids come only from this index (a client's id is looked up, never joined
 * into a path). A dump is encoded on the loop thread and compressed, written
 * and fsync'd in the thread pool (an fsync must not stall other clients);
 * reading the store at start, dump.get and deletes run on the loop thread
 * (small files, rare requests).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "ktbpf/dump.h"
#include "ktbpf/jsonrpc.h"
#include "daemon-internal.h"

#define DUMP_MAX_FILE	 (64u << 20)  /* compressed bytes read back */
#define DUMP_MAX_JSON	 (256u << 20) /* decompressed bytes read back */
#define DUMP_MAX_ENTRIES 100000	      /* files indexed at start */

struct dump_entry {
	char id[48];
	uid_t uid;
	int64_t time_ns;
	size_t size, csize;
	json_t *info; /* DumpInfo without size fields */
};

struct dump_store {
	int dirfd;
	char *dir;
	struct dump_entry *v; /* oldest first */
	size_t n, cap;
	uint64_t seq;
};

static bool id_ok(const char *s, size_t len)
{
	if (!len || len >= sizeof(((struct dump_entry *)0)->id))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= 'A' && s[i] <= 'Z') &&
		    !(s[i] >= '0' && s[i] <= '9') && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		buf[i] = path[i];
	}
	return 0;
}

static char *read_all(int dirfd, const char *name, size_t *ret_len, size_t *ret_csize)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	unsigned char *in = NULL, *out = NULL;
	size_t cap = 0, len = 0;
	struct stat st;
	z_stream zs = {0};
	int zr = Z_OK;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > DUMP_MAX_FILE)
		goto fail;
	in = malloc((size_t)st.st_size);
	if (!in || pread(fd, in, (size_t)st.st_size, 0) != st.st_size)
		goto fail;
	if (inflateInit2(&zs, 15 + 16) != Z_OK)
		goto fail;
	zs.next_in = in;
	zs.avail_in = (uInt)st.st_size;
	while (zr != Z_STREAM_END) {
		if (len == cap) {
			unsigned char *p;

			if (cap >= DUMP_MAX_JSON)
				break;
			cap = cap ? cap * 2 : 64 * 1024;
			p = realloc(out, cap + 1);
			if (!p)
				break;
			out = p;
		}
		zs.next_out = out + len;
		zs.avail_out = (uInt)(cap - len);
		zr = inflate(&zs, Z_NO_FLUSH);
		len = cap - zs.avail_out;
		if (zr != Z_OK && zr != Z_STREAM_END)
			break;
	}
	inflateEnd(&zs);
	if (zr != Z_STREAM_END)
		goto fail;
	out[len] = '\0';
	free(in);
	close(fd);
	*ret_len = len;
	*ret_csize = (size_t)st.st_size;
	return (char *)out;
fail:
	free(in);
	free(out);
	close(fd);
	return NULL;
}

static int write_gz(int fd, const char *txt, size_t len)
{
	unsigned char buf[64 * 1024];
	z_stream zs = {0};
	int zr;

	if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	zs.next_in = (unsigned char *)txt;
	zs.avail_in = (uInt)len;
	do {
		size_t n;

		zs.next_out = buf;
		zs.avail_out = sizeof(buf);
		zr = deflate(&zs, Z_FINISH);
		n = sizeof(buf) - zs.avail_out;
		for (size_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, n - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				int r = w < 0 ? -errno : -EIO;

				deflateEnd(&zs);
				return r;
			}
			off += (size_t)w;
		}
	} while (zr == Z_OK);
	deflateEnd(&zs);
	return zr == Z_STREAM_END ? 0 : -EIO;
}

static int entry_add(struct dump_store *s, const char *id, json_t *doc, size_t size, size_t csize)
{
	struct dump_entry *e;
	json_t *info;
	size_t i;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct dump_entry *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	info = json_pack(
		"{s:s, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:I, s:I}", "dump", id, "vm",
		json_object_get(doc, "vm"), "vm_id", json_object_get(doc, "vm_id"), "uid",
		json_object_get(doc, "uid"), "time", json_object_get(doc, "time"), "reason",
		json_object_get(doc, "reason"), "test", json_object_get(doc, "test"), "frozen",
		json_object_get(doc, "frozen"), "detached", json_object_get(doc, "detached"),
		"size", (json_int_t)size, "compressed_size", (json_int_t)csize);
	if (!info)
		return -ENOMEM;
	/* Keep the index ordered by time (a restart reads files in any order). */
	int64_t t = json_integer_value(json_object_get(doc, "time_unix_ns"));
	for (i = s->n; i > 0 && s->v[i - 1].time_ns > t; i--)
		;
	memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
	e = &s->v[i];
	*e = (struct dump_entry){.uid = (uid_t)json_integer_value(json_object_get(doc, "uid")),
				 .time_ns = t,
				 .size = size,
				 .csize = csize,
				 .info = info};
	snprintf(e->id, sizeof(e->id), "%s", id);
	s->n++;
	return 0;
}

static void entry_remove(struct dump_store *s, size_t i, const char *why)
{
	char name[96];

	snprintf(name, sizeof(name), "dump.%s.json.gz", s->v[i].id);
	if (unlinkat(s->dirfd, name, 0) < 0 && errno != ENOENT)
		fprintf(stderr, "ktbpfd: dump %s: cannot remove: %s\n", s->v[i].id,
			strerror(errno));
	else if (why)
		fprintf(stderr, "ktbpfd: dump %s removed: %s\n", s->v[i].id, why);
	json_decref(s->v[i].info);
	memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
	s->n--;
}

static uint64_t disk_free(int dirfd)
{
	struct statvfs sv;

	if (fstatvfs(dirfd, &sv) < 0)
		return UINT64_MAX;
	return (uint64_t)sv.f_bavail * sv.f_frsize;
}

/* Delete the oldest dumps while a limit is passed (the newest only for its age). */
static void prune(struct daemon *d)
{
	struct dump_store *s = d->dumps;
	const struct settings *set = &d->set;
	uint64_t total = 0, free_b = disk_free(s->dirfd);
	struct timespec ts;
	int64_t now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	for (size_t i = 0; i < s->n; i++)
		total += s->v[i].csize;
	for (size_t i = 0; i < s->n;) {
		const char *why = NULL;
		bool newest = i == s->n - 1;

		if (!newest && set->dump_max_use && total > set->dump_max_use)
			why = "the store is over --dump-max-use";
		else if (!newest && set->dump_keep_free && free_b < set->dump_keep_free)
			why = "free disk space is under --dump-keep-free";
		else if (set->dump_max_age_s &&
			 now - s->v[i].time_ns > (int64_t)set->dump_max_age_s * 1000000000)
			why = "older than --dump-max-age";
		if (!why)
			break; /* the oldest passes every limit: so do the newer ones */
		total -= s->v[i].csize;
		if (free_b != UINT64_MAX)
			free_b += s->v[i].csize;
		entry_remove(s, i, why);
	}
}

int dumps_open(struct daemon *d)
{
	const char *base = d->set.state_dir;
	struct dump_store *s;
	char path[4096];
	DIR *dir;
	struct dirent *de;
	int r, fd;

	if (snprintf(path, sizeof(path), "%s/dumps", base) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	r = mkdir_p(path);
	if (r < 0) {
		fprintf(stderr, "ktbpfd: dump store %s: %s (vm.dump will fail)\n", path,
			strerror(-r));
		return r;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		fprintf(stderr, "ktbpfd: dump store %s: %s\n", path, strerror(errno));
		return r;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->dir = strdup(path)) || !(dir = fdopendir(dup(fd)))) {
		if (s)
			free(s->dir);
		free(s);
		close(fd);
		return -ENOMEM;
	}
	s->dirfd = fd;
	d->dumps = s;
	while ((de = readdir(dir)) && s->n < DUMP_MAX_ENTRIES) {
		const char *n = de->d_name;
		size_t len = strlen(n), size, csize;
		char *txt;
		json_t *doc;

		if (!strncmp(n, ".#", 2)) {
			/* A write that never finished (a daemon killed mid-dump). */
			fprintf(stderr, "ktbpfd: dump store: removing unfinished %s\n", n);
			unlinkat(fd, n, 0);
			continue;
		}
		if (len < 14 || strncmp(n, "dump.", 5) || strcmp(n + len - 8, ".json.gz"))
			continue;
		if (!id_ok(n + 5, len - 13)) {
			fprintf(stderr, "ktbpfd: dump store: ignoring %s (not an id)\n", n);
			continue;
		}
		txt = read_all(fd, n, &size, &csize);
		doc = txt ? json_loads(txt, 0, NULL) : NULL;
		free(txt);
		if (!json_is_object(doc) || !json_string_value(json_object_get(doc, "schema")) ||
		    strcmp(json_string_value(json_object_get(doc, "schema")), KTBPF_DUMP_SCHEMA)) {
			fprintf(stderr, "ktbpfd: dump store: ignoring %s (not a readable dump)\n",
				n);
			json_decref(doc);
			continue;
		}
		char id[48];

		snprintf(id, sizeof(id), "%.*s", (int)(len - 13), n + 5);
		if (entry_add(s, id, doc, size, csize) < 0)
			fprintf(stderr, "ktbpfd: dump store: out of memory indexing %s\n", n);
		json_decref(doc);
	}
	closedir(dir);
	prune(d);
	fprintf(stderr, "ktbpfd: dump store %s: %zu dumps\n", path, s->n);
	return 0;
}

void dumps_close(struct daemon *d)
{
	struct dump_store *s = d->dumps;

	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		json_decref(s->v[i].info);
	free(s->v);
	free(s->dir);
	close(s->dirfd);
	free(s);
	d->dumps = NULL;
}

static struct dump_entry *find(struct dump_store *s, const char *id)
{
	for (size_t i = 0; id && i < s->n; i++)
		if (!strcmp(s->v[i].id, id))
			return &s->v[i];
	return NULL;
}

/* One dump being written: encoded on the loop thread, compressed and written in the pool. */
struct dump_write {
	uv_work_t work;
	struct daemon *d;
	struct ktbpf_peer_req *req;
	json_t *doc;
	char id[48], vm[64], vm_id[24];
	char *txt;
	size_t len, csize;
	int r;
	char msg[256];
};

/* Pool thread: tmp file, gzip, fsync, rename, fsync the directory. */
static void write_work(uv_work_t *w)
{
	struct dump_write *dw = w->data;
	struct dump_store *s = dw->d->dumps;
	char name[96], tmp[100];
	struct stat st;
	int fd, r;

	snprintf(name, sizeof(name), "dump.%s.json.gz", dw->id);
	snprintf(tmp, sizeof(tmp), ".#%s", name);
	fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		dw->r = -errno;
		snprintf(dw->msg, sizeof(dw->msg), "dump store %s: cannot create %s: %s", s->dir,
			 tmp, strerror(errno));
		return;
	}
	r = write_gz(fd, dw->txt, dw->len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat(s->dirfd, tmp, s->dirfd, name) < 0)
		r = -errno;
	if (r == 0 && fstatat(s->dirfd, name, &st, 0) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(s->dirfd, tmp, 0);
		dw->r = r;
		snprintf(dw->msg, sizeof(dw->msg), "dump store %s: cannot write %s: %s", s->dir,
			 name, strerror(-r));
		return;
	}
	fsync(s->dirfd);
	dw->csize = (size_t)st.st_size;
}

/* Loop thread: index the new dump, apply retention, answer. */
static void write_done(uv_work_t *w, int status)
{
	struct dump_write *dw = w->data;
	struct daemon *d = dw->d;
	struct dump_entry *e;

	d->works--;
	if (status == UV_ECANCELED && !dw->r) {
		dw->r = -ECANCELED;
		snprintf(dw->msg, sizeof(dw->msg), "the write was cancelled");
	}
	if (!dw->r && entry_add(d->dumps, dw->id, dw->doc, dw->len, dw->csize) < 0) {
		dw->r = -ENOMEM;
		snprintf(dw->msg, sizeof(dw->msg),
			 "dump %s written but not indexed (out of memory)", dw->id);
	}
	if (dw->r) {
		fprintf(stderr, "ktbpfd: vm '%s' (%s): dump not stored: %s\n", dw->vm, dw->vm_id,
			dw->msg);
		ktbpf_peer_req_error(dw->req, KTBPF_JSONRPC_INTERNAL_ERROR, NULL,
				     "vm '%s': dump not stored: %s", dw->vm, dw->msg);
	} else {
		fprintf(stderr,
			"ktbpfd: vm '%s' (%s): dump %s written (%zu bytes, %zu compressed)\n",
			dw->vm, dw->vm_id, dw->id, dw->len, dw->csize);
		prune(d);
		e = find(d->dumps, dw->id);
		if (e)
			ktbpf_peer_req_result(dw->req, json_deep_copy(e->info));
		else
			ktbpf_peer_req_error(dw->req, KTBPF_JSONRPC_INTERNAL_ERROR, NULL,
					     "dump %s deleted at once by the retention limits",
					     dw->id);
	}
	json_decref(dw->doc);
	free(dw->txt);
	free(dw);
}

/*
 * Persist doc (the dump's full document, taken; "dump" is set to its id here)
 * and answer req with its DumpInfo once it is on disk; errors answer req too.
 */
void dumps_write(struct daemon *d, const struct vm *vm, json_t *doc, struct ktbpf_peer_req *req)
{
	struct dump_store *s = d->dumps;
	struct dump_write *dw;
	struct timespec ts;

	if (!s) {
		json_decref(doc);
		ktbpf_peer_req_error(req, KTBPF_JSONRPC_INTERNAL_ERROR, NULL,
				     "ktbpfd has no dump store (its state directory could not be "
				     "opened; see its log)");
		return;
	}
	dw = calloc(1, sizeof(*dw));
	if (!dw) {
		json_decref(doc);
		ktbpf_peer_req_error(req, KTBPF_JSONRPC_INTERNAL_ERROR, NULL, "out of memory");
		return;
	}
	dw->d = d;
	dw->req = req;
	dw->doc = doc;
	snprintf(dw->vm, sizeof(dw->vm), "%s", vm->name);
	snprintf(dw->vm_id, sizeof(dw->vm_id), "%s", vm->id);
	/* Unique also against writes in flight: the sequence number never repeats. */
	clock_gettime(CLOCK_REALTIME, &ts);
	do
		snprintf(dw->id, sizeof(dw->id), "%" PRIu64 "-%s-%" PRIu64,
			 (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000, vm->id,
			 s->seq++);
	while (find(s, dw->id));
	json_object_set_new(doc, "dump", json_string(dw->id));
	/* Encoded here: the snapshot in it is shared with other answers of this round. */
	dw->txt = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	if (!dw->txt) {
		dw->r = -ENOMEM;
		snprintf(dw->msg, sizeof(dw->msg), "out of memory encoding the dump");
		d->works++;
		write_done(&dw->work, 0);
		return;
	}
	dw->len = strlen(dw->txt);
	dw->work.data = dw;
	d->works++;
	uv_queue_work(d->loop, &dw->work, write_work, write_done);
}

static bool may_see(const struct dump_entry *e, uid_t uid)
{
	return uid == 0 || e->uid == uid;
}

json_t *dumps_list(struct daemon *d, uid_t uid, const char *vm, size_t limit)
{
	struct dump_store *s = d->dumps;
	json_t *a = json_array();

	if (!s || !a)
		return a;
	prune(d);
	for (size_t i = s->n; i-- > 0 && (!limit || json_array_size(a) < limit);) {
		const struct dump_entry *e = &s->v[i];
		const char *name = json_string_value(json_object_get(e->info, "vm"));
		const char *vid = json_string_value(json_object_get(e->info, "vm_id"));

		if (!may_see(e, uid))
			continue;
		if (vm && !(name && !strcmp(name, vm)) && !(vid && !strcmp(vid, vm)))
			continue;
		json_array_append(a, e->info);
	}
	return a;
}

/* 0 and the document, or -ENOENT / -EPERM / -EIO. */
int dumps_get(struct daemon *d, uid_t uid, const char *id, json_t **ret)
{
	struct dump_store *s = d->dumps;
	struct dump_entry *e = s ? find(s, id) : NULL;
	char name[96], *txt;
	size_t size, csize;
	json_t *doc;

	if (!e)
		return -ENOENT;
	if (!may_see(e, uid))
		return -EPERM;
	snprintf(name, sizeof(name), "dump.%s.json.gz", e->id);
	txt = read_all(s->dirfd, name, &size, &csize);
	doc = txt ? json_loads(txt, 0, NULL) : NULL;
	free(txt);
	if (!doc)
		return -EIO;
	json_object_set_new(doc, "size", json_integer((json_int_t)size));
	json_object_set_new(doc, "compressed_size", json_integer((json_int_t)csize));
	*ret = doc;
	return 0;
}

int dumps_delete(struct daemon *d, uid_t uid, const char *id)
{
	struct dump_store *s = d->dumps;
	struct dump_entry *e = s ? find(s, id) : NULL;

	if (!e)
		return -ENOENT;
	if (!may_see(e, uid))
		return -EPERM;
	entry_remove(s, (size_t)(e - s->v), "deleted by dump.delete");
	return 0;
}
