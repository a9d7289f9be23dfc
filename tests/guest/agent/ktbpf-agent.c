// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ktbpf-agent: the in-guest half of the ktbpf test guest.
 *
 * Runs as a child of /init in a busybox initramfs.  It loads struct_ops BPF
 * objects, attaches their struct_ops maps, enables BPF runtime statistics,
 * drives a workload through the programs, waits until the programs have
 * stopped running, and then prints the ground truth the host side compares
 * against what it reads from guest RAM:
 *
 *   KTBPF-TRUTH {"stats_enabled":true,"nr_cpus":N,"progs":[{...}],...}
 *
 * Optionally copies /proc/kallsyms to a file (a second serial port), prints
 * KTBPF-READY and idles forever with the objects still loaded; if the
 * counters move after that it prints KTBPF-DRIFT once.
 *
 * Static build:
 *   cc -O2 -static -o ktbpf-agent ktbpf-agent.c -lbpf -lelf -lz
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <zlib.h>

#ifndef BPF_PROG_TYPE_STRUCT_OPS
#define BPF_PROG_TYPE_STRUCT_OPS 27
#endif

#define MAX_OBJS	  8
#define MAX_LINKS	  64
#define MAX_PROGS	  1024
#define MAX_MAPS_PER_PROG 64

enum workload { WL_NONE, WL_TCP, WL_SCHED };

static struct {
	const char *objs[MAX_OBJS];
	int nr_objs;
	enum workload workload;
	const char *cc_name;
	const char *kallsyms_out;
	double duration;    /* seconds of workload */
	bool detach;	    /* detach struct_ops before reporting */
	bool kallsyms_gzip; /* gzip the kallsyms copy (a serial port is slow) */
} opt = {
	.workload = WL_TCP,
	.cc_name = "ktbpf_cc",
	.duration = 1.5,
};

static struct bpf_object *objs[MAX_OBJS];
static struct bpf_link *links[MAX_LINKS];
static int nr_links;
static int stats_fd = -1;

static void msg(const char *fmt, ...)
{
	va_list ap;

	fputs("ktbpf-agent: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Print a fatal error, print KTBPF-FAILED on the console (so the host stops
 * waiting) and exit; /init keeps PID 1 alive. */
static void fail(const char *fmt, ...)
{
	va_list ap;

	fputs("ktbpf-agent: FATAL: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	printf("KTBPF-FAILED\n");
	fflush(stdout);
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	fputs("libbpf: ", stderr);
	return vfprintf(stderr, fmt, ap);
}

/* ---- runtime statistics ------------------------------------------------- */

static bool write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s);
}

static int read_int_file(const char *path)
{
	char buf[32] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	return atoi(buf);
}

static const char *stats_proc = "/proc/sys/kernel/bpf_stats_enabled";

static bool proc_write_ok;

static void enable_stats(void)
{
	proc_write_ok = write_file(stats_proc, "1\n");
	if (!proc_write_ok)
		msg("cannot write 1 to %s: %s", stats_proc, strerror(errno));
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats_fd < 0)
		msg("bpf_enable_stats(BPF_STATS_RUN_TIME): %s", strerror(-stats_fd));
}

/* The sysctl reads back the static key itself, so this is the kernel's view. */
static bool stats_enabled(void)
{
	int v = read_int_file(stats_proc);

	if (v < 0)
		return proc_write_ok;
	return v > 0;
}

/* ---- loading ------------------------------------------------------------ */

static void load_objects(void)
{
	struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};

	setrlimit(RLIMIT_MEMLOCK, &rl); /* for kernels without memcg accounting */
	libbpf_set_print(libbpf_print);

	for (int i = 0; i < opt.nr_objs; i++) {
		struct bpf_object *obj;
		struct bpf_map *map;
		int err;

		obj = bpf_object__open_file(opt.objs[i], NULL);
		if (!obj)
			fail("open %s: %s", opt.objs[i], strerror(errno));
		err = bpf_object__load(obj);
		if (err)
			fail("load %s: %s", opt.objs[i], strerror(-err));
		objs[i] = obj;
		bpf_object__for_each_map(map, obj)
		{
			struct bpf_link *link;

			if (bpf_map__type(map) != BPF_MAP_TYPE_STRUCT_OPS)
				continue;
			if (nr_links == MAX_LINKS)
				fail("too many struct_ops maps");
			link = bpf_map__attach_struct_ops(map);
			if (!link)
				fail("attach struct_ops map %s of %s: %s", bpf_map__name(map),
				     opt.objs[i], strerror(errno));
			links[nr_links++] = link;
			msg("attached struct_ops %s from %s", bpf_map__name(map), opt.objs[i]);
		}
	}
}

static void detach_all(void)
{
	for (int i = 0; i < nr_links; i++)
		bpf_link__destroy(links[i]);
	nr_links = 0;
}

/* ---- TCP workload ------------------------------------------------------- */

#define TCP_CONNS 6
#define TCP_BYTES (1 << 20)

static int set_cc(int fd)
{
	if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, opt.cc_name, strlen(opt.cc_name)) < 0) {
		msg("setsockopt(TCP_CONGESTION, %s): %s", opt.cc_name, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Connection i runs, on both ends, on CPU i modulo the online CPUs: on
 * loopback the congestion control runs where the segments and ACKs are
 * processed, so every CPU gets counts of its own and the host's per-CPU sum is
 * really tested (a reader that summed CPU 0 alone must be caught).
 */
static void pin_cpu(int i)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;

	if (n < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(i % n, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		msg("sched_setaffinity(CPU %ld): %s", i % n, strerror(errno));
}

/* Server: accept connections, read each to EOF, then close.  Runs in a child. */
static void tcp_server(int lfd, int nconns)
{
	static char buf[65536];

	for (int i = 0; i < nconns; i++) {
		int c;

		pin_cpu(i);
		c = accept(lfd, NULL, NULL);

		if (c < 0) {
			if (errno == EINTR)
				continue;
			msg("accept: %s", strerror(errno));
			_exit(1);
		}
		while (read(c, buf, sizeof(buf)) > 0)
			;
		close(c);
	}
	_exit(0);
}

static bool tcp_workload(void)
{
	static char buf[65536];
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t salen = sizeof(sa);
	int lfd, one = 1, done = 0;
	double t0 = now_s();
	long long total = 0;
	pid_t srv;
	bool ok = true;

	memset(buf, 'k', sizeof(buf));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		fail("socket: %s", strerror(errno));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (set_cc(lfd) < 0)
		fail("the congestion control %s is not available (struct_ops not registered?)",
		     opt.cc_name);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 16) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0)
		fail("loopback listen: %s (is lo up?)", strerror(errno));

	srv = fork();
	if (srv < 0)
		fail("fork: %s", strerror(errno));
	if (srv == 0)
		tcp_server(lfd, TCP_CONNS);
	close(lfd);

	for (done = 0; done < TCP_CONNS; done++) {
		int fd;
		long sent = 0;

		pin_cpu(done);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0 || set_cc(fd) < 0 ||
		    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			msg("client %d: %s", done, strerror(errno));
			ok = false;
			if (fd >= 0)
				close(fd);
			break;
		}
		while (sent < TCP_BYTES) {
			ssize_t n = write(fd, buf, sizeof(buf));

			if (n < 0) {
				if (errno == EINTR)
					continue;
				msg("client %d write: %s", done, strerror(errno));
				ok = false;
				break;
			}
			sent += n;
		}
		total += sent;
		/* orderly close: wait for the server's FIN so nothing is left in flight */
		shutdown(fd, SHUT_WR);
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		close(fd);
		/* bounded time even on a slow emulator */
		if (now_s() - t0 > 4 * opt.duration) {
			done++;
			break;
		}
	}
	if (done < TCP_CONNS)
		kill(srv, SIGKILL); /* it still waits for connections */
	waitpid(srv, NULL, 0);
	msg("tcp: %lld bytes over %d connections in %.2f s", total, done, now_s() - t0);
	return ok;
}

/* ---- sched workload ----------------------------------------------------- */

/* include/uapi/linux/sched.h: SCHED_EXT (6.12+), not in bookworm's libc headers. */
#define KTBPF_SCHED_EXT 7

static void sched_child(int idx, double until)
{
	volatile unsigned long x = idx;
	struct sched_param sp = {0};

	/*
	 * Ask for the BPF scheduler: ours runs in partial mode (only SCHED_EXT
	 * tasks), so its callbacks stop when this workload ends.
	 */
	if (sched_setscheduler(0, KTBPF_SCHED_EXT, &sp) < 0 && idx == 0)
		msg("sched: SCHED_EXT refused (%s): the scheduler sees no tasks", strerror(errno));

	while (now_s() < until) {
		pid_t p;

		for (int i = 0; i < 200000; i++)
			x = x * 6364136223846793005UL + 1442695040888963407UL;
		p = fork();
		if (p == 0)
			_exit(0);
		if (p > 0)
			waitpid(p, NULL, 0);
		sleep_ms(1 + idx % 3);
		sched_yield();
	}
	_exit(0);
}

static bool sched_workload(void)
{
	int n = (int)sysconf(_SC_NPROCESSORS_ONLN) + 2;
	double until = now_s() + opt.duration;
	pid_t pids[64];

	if (n > 64)
		n = 64;
	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			sched_child(i, until);
	}
	for (int i = 0; i < n; i++)
		if (pids[i] > 0)
			waitpid(pids[i], NULL, 0);
	msg("sched: %d processes for %.1f s", n, opt.duration);
	return true;
}

/*
 * What the guest's sched_ext core says is attached, for the host to check its
 * "active object" against: KTBPF-SCX-OPS <name> / KTBPF-SCX-STATE <state>.
 */
static void report_sched_ext(void)
{
	static const char *const files[][2] = {
		{"/sys/kernel/sched_ext/root/ops", "KTBPF-SCX-OPS"},
		{"/sys/kernel/sched_ext/state", "KTBPF-SCX-STATE"},
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char buf[160] = "";
		FILE *f = fopen(files[i][0], "r");

		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f))
			buf[strcspn(buf, "\n")] = 0;
		fclose(f);
		printf("%s %s\n", files[i][1], buf);
	}
	fflush(stdout);
}

/* ---- truth -------------------------------------------------------------- */

struct prog_truth {
	struct bpf_prog_info info;
	char maps[MAX_MAPS_PER_PROG][BPF_OBJ_NAME_LEN];
	unsigned int nr_maps;
};

static struct prog_truth truth[MAX_PROGS];
static int nr_truth;

/* Fill truth[] with every struct_ops program.  Returns the count or -errno. */
static int collect(void)
{
	__u32 id = 0;
	int n = 0;

	while (bpf_prog_get_next_id(id, &id) == 0) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info), map_ids[MAX_MAPS_PER_PROG];
		int fd = bpf_prog_get_fd_by_id(id);
		struct prog_truth *t;

		if (fd < 0)
			continue; /* went away */
		if (bpf_obj_get_info_by_fd(fd, &info, &len) ||
		    info.type != BPF_PROG_TYPE_STRUCT_OPS) {
			close(fd);
			continue;
		}
		if (n == MAX_PROGS) {
			close(fd);
			break;
		}
		t = &truth[n];
		memset(t, 0, sizeof(*t));
		/* second call with the map id array */
		{
			__u32 nr = info.nr_map_ids < MAX_MAPS_PER_PROG ? info.nr_map_ids
								       : MAX_MAPS_PER_PROG;

			memset(&info, 0, sizeof(info));
			info.nr_map_ids = nr;
			info.map_ids = (__u64)(uintptr_t)map_ids;
			len = sizeof(info);
			if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
				close(fd);
				continue;
			}
			if (info.nr_map_ids < nr)
				nr = info.nr_map_ids;
			t->info = info;
			for (__u32 i = 0; i < nr; i++) {
				struct bpf_map_info mi = {};
				__u32 mlen = sizeof(mi);
				int mfd = bpf_map_get_fd_by_id(map_ids[i]);

				if (mfd < 0)
					continue;
				if (!bpf_obj_get_info_by_fd(mfd, &mi, &mlen)) {
					memcpy(t->maps[t->nr_maps], mi.name, BPF_OBJ_NAME_LEN);
					t->maps[t->nr_maps][BPF_OBJ_NAME_LEN - 1] = 0;
					t->nr_maps++;
				}
				close(mfd);
			}
		}
		close(fd);
		n++;
	}
	nr_truth = n;
	return n;
}

/* Sum of run counts, as a cheap fingerprint of activity. */
static bool same_counts(const struct prog_truth *a, int na, const struct prog_truth *b, int nb)
{
	if (na != nb)
		return false;
	for (int i = 0; i < na; i++)
		if (a[i].info.id != b[i].info.id || a[i].info.run_cnt != b[i].info.run_cnt ||
		    a[i].info.run_time_ns != b[i].info.run_time_ns ||
		    a[i].info.recursion_misses != b[i].info.recursion_misses)
			return false;
	return true;
}

/* Wait until no struct_ops program's counters move for 500 ms (max 10 tries). */
static bool quiesce(void)
{
	static struct prog_truth prev[MAX_PROGS];
	int nprev;

	collect();
	for (int tries = 0; tries < 10; tries++) {
		memcpy(prev, truth, sizeof(truth[0]) * nr_truth);
		nprev = nr_truth;
		sleep_ms(500);
		collect();
		if (same_counts(prev, nprev, truth, nr_truth))
			return true;
	}
	return false;
}

struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			fail("vsnprintf");
		if (b->p && b->len + n < b->cap) {
			b->len += n;
			return;
		}
		b->cap = (b->cap + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			fail("out of memory");
	}
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, "\"");
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			sb_add(b, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			sb_add(b, "\\u%04x", c);
		else
			sb_add(b, "%c", c);
	}
	sb_add(b, "\"");
}

/*
 * After READY: once a second, compare the counters with the reported ones and
 * say so once if they moved (the host compares counters exactly).
 */
static void watch_drift(void)
{
	static struct prog_truth reported[MAX_PROGS];
	int nreported = nr_truth;

	memcpy(reported, truth, sizeof(truth[0]) * nr_truth);
	for (;;) {
		sleep_ms(1000);
		collect();
		if (!same_counts(reported, nreported, truth, nr_truth)) {
			printf("KTBPF-DRIFT struct_ops counters changed after KTBPF-TRUTH\n");
			fflush(stdout);
			break;
		}
	}
}

static void print_truth(bool quiesced)
{
	struct sbuf b = {};

	sb_add(&b, "KTBPF-TRUTH {\"stats_enabled\":%s,\"nr_cpus\":%d,\"progs\":[",
	       stats_enabled() ? "true" : "false", libbpf_num_possible_cpus());
	for (int i = 0; i < nr_truth; i++) {
		const struct bpf_prog_info *in = &truth[i].info;
		char name[BPF_OBJ_NAME_LEN + 1];

		memcpy(name, in->name, BPF_OBJ_NAME_LEN);
		name[BPF_OBJ_NAME_LEN] = 0;
		sb_add(&b, "%s{\"id\":%u,\"name\":", i ? "," : "", in->id);
		sb_str(&b, name);
		sb_add(&b,
		       ",\"type\":%u,\"verified_insns\":%u,\"run_cnt\":%llu,"
		       "\"run_time_ns\":%llu,\"recursion_misses\":%llu,\"maps\":[",
		       in->type, in->verified_insns, (unsigned long long)in->run_cnt,
		       (unsigned long long)in->run_time_ns,
		       (unsigned long long)in->recursion_misses);
		for (unsigned int m = 0; m < truth[i].nr_maps; m++) {
			if (m)
				sb_add(&b, ",");
			sb_str(&b, truth[i].maps[m]);
		}
		sb_add(&b, "]}");
	}
	sb_add(&b, "],\"quiesced\":%s}\n", quiesced ? "true" : "false");
	/* one write so the line is not interleaved with other console output */
	fflush(stdout);
	if (write(STDOUT_FILENO, b.p, b.len) != (ssize_t)b.len)
		msg("short write of the truth line");
	free(b.p);
}

/* ---- kallsyms ----------------------------------------------------------- */

static bool write_all(int fd, const void *p, size_t n, const char *what)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			msg("write %s: %s", what, strerror(errno));
			return false;
		}
		c += w;
		n -= w;
	}
	return true;
}

/*
 * Copy /proc/kallsyms to OUT (normally the second serial port), gzip-compressed
 * if asked: a 16550 under TCG moves roughly 0.5 MB/s and kallsyms is 5-7 MB.
 */
static void copy_kallsyms(const char *out, bool gz)
{
	static char buf[1 << 16], zbuf[1 << 16];
	int in = open("/proc/kallsyms", O_RDONLY | O_CLOEXEC);
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_NOCTTY | O_CLOEXEC, 0644);
	long long total = 0, wire = 0;
	double t0 = now_s();
	struct termios tio;
	z_stream zs = {};
	bool ok = false;
	ssize_t n;

	if (in < 0 || fd < 0) {
		msg("copy /proc/kallsyms to %s: %s", out, strerror(errno));
		goto out;
	}
	/* a serial port: raw mode, or \n becomes \r\n */
	if (isatty(fd) && tcgetattr(fd, &tio) == 0) {
		cfmakeraw(&tio);
		cfsetspeed(&tio, B115200);
		tcsetattr(fd, TCSANOW, &tio);
	}
	/* windowBits 15 + 16: a gzip stream */
	if (gz && deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		msg("deflateInit2 failed");
		goto out;
	}
	for (;;) {
		int flush;

		n = read(in, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			msg("read /proc/kallsyms: %s", strerror(errno));
			goto out;
		}
		total += n;
		if (!gz) {
			if (n == 0)
				break;
			if (!write_all(fd, buf, n, out))
				goto out;
			wire += n;
			continue;
		}
		flush = n == 0 ? Z_FINISH : Z_NO_FLUSH;
		zs.next_in = (Bytef *)buf;
		zs.avail_in = n;
		do {
			int rc;

			zs.next_out = (Bytef *)zbuf;
			zs.avail_out = sizeof(zbuf);
			rc = deflate(&zs, flush);
			if (rc == Z_STREAM_ERROR) {
				msg("deflate failed");
				goto out;
			}
			if (!write_all(fd, zbuf, sizeof(zbuf) - zs.avail_out, out))
				goto out;
			wire += sizeof(zbuf) - zs.avail_out;
		} while (zs.avail_out == 0);
		if (n == 0)
			break;
	}
	if (isatty(fd))
		tcdrain(fd);
	else
		fsync(fd);
	ok = true;
	msg("copied %lld bytes of /proc/kallsyms to %s (%lld bytes%s) in %.1f s", total, out, wire,
	    gz ? " gzip" : "", now_s() - t0);
out:
	if (gz)
		deflateEnd(&zs);
	if (!ok)
		msg("the kallsyms copy is incomplete");
	if (in >= 0)
		close(in);
	if (fd >= 0)
		close(fd);
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ktbpf-agent [--obj FILE]... [--workload tcp|sched|none] [--cc-name NAME]\n"
		"                   [--duration SECONDS] [--detach] [--kallsyms-out PATH "
		"[--kallsyms-gzip]]\n"
		"Loads the objects, attaches their struct_ops maps, enables BPF runtime stats,\n"
		"runs the workload, waits for the programs to go quiet, prints\n"
		"'KTBPF-TRUTH {json}', optionally copies /proc/kallsyms, prints KTBPF-READY\n"
		"and idles with the objects loaded.\n");
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"obj", required_argument, NULL, 'o'},
		{"workload", required_argument, NULL, 'w'},
		{"cc-name", required_argument, NULL, 'c'},
		{"kallsyms-out", required_argument, NULL, 'k'},
		{"duration", required_argument, NULL, 'd'},
		{"detach", no_argument, NULL, 'D'},
		{"kallsyms-gzip", no_argument, NULL, 'z'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	bool quiesced;
	int c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt_long(argc, argv, "o:w:c:k:d:Dzh", lopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (opt.nr_objs == MAX_OBJS)
				fail("at most %d --obj", MAX_OBJS);
			opt.objs[opt.nr_objs++] = optarg;
			break;
		case 'w':
			if (!strcmp(optarg, "tcp"))
				opt.workload = WL_TCP;
			else if (!strcmp(optarg, "sched"))
				opt.workload = WL_SCHED;
			else if (!strcmp(optarg, "none"))
				opt.workload = WL_NONE;
			else
				fail("unknown workload '%s' (tcp, sched, none)", optarg);
			break;
		case 'c':
			opt.cc_name = optarg;
			break;
		case 'k':
			opt.kallsyms_out = optarg;
			break;
		case 'd':
			opt.duration = atof(optarg);
			if (opt.duration <= 0 || opt.duration > 600)
				fail("bad --duration %s", optarg);
			break;
		case 'D':
			opt.detach = true;
			break;
		case 'z':
			opt.kallsyms_gzip = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	enable_stats();
	load_objects();

	switch (opt.workload) {
	case WL_TCP:
		tcp_workload();
		break;
	case WL_SCHED:
		sched_workload();
		break;
	case WL_NONE:
		break;
	}
	if (opt.detach)
		detach_all();
	/* let delayed work (timers, RCU, softirqs) settle */
	sleep_ms(1000);
	report_sched_ext();
	quiesced = quiesce();
	if (!quiesced)
		msg("struct_ops run counters still moving after 10 tries; reporting the last "
		    "reading");
	print_truth(quiesced);

	if (opt.kallsyms_out)
		copy_kallsyms(opt.kallsyms_out, opt.kallsyms_gzip);

	printf("KTBPF-READY\n");
	fflush(stdout);
	watch_drift();
	for (;;)
		pause();
}
