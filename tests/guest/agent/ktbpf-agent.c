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
 *   KTBPF-TRUTH {"stats_enabled":true,"nr_cpus":N,"paging_levels":4,"progs":[{...}],
 *                "struct_ops":[{...}],"sched_ext":{...}|null,"active":{...},
 *                "vars":{"object":...,"values":{"map:path":"value",...}}|null,"quiesced":true}
 *
 * Every field comes from the guest's own view (bpf() syscalls, /proc, /sys),
 * never from what the host expects; "active" is derived from those
 * observations by the rule in compute_active().
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
#include <poll.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <zlib.h>

#ifndef BPF_PROG_TYPE_STRUCT_OPS
#define BPF_PROG_TYPE_STRUCT_OPS 27
#endif

#define MAX_OBJS	  8
#define MAX_LINKS	  64
#define MAX_PROGS	  1024
#define MAX_MAPS_PER_PROG 64
#define MAX_STRUCT_OPS	  64
#define MAX_OPS_MEMBERS	  128
#define MAX_OPS_VALUE	  (64 * 1024)

enum workload { WL_NONE, WL_TCP, WL_SCHED };

static struct {
	const char *objs[MAX_OBJS];
	bool attach[MAX_OBJS]; /* false: load only (--obj-noattach) */
	int nr_objs;
	enum workload workload;
	const char *cc_name;
	const char *kallsyms_out;
	double duration;     /* seconds of workload */
	bool detach;	     /* detach struct_ops before reporting */
	bool no_stats;	     /* leave runtime stats off (sysctl 0, no stats fd) */
	bool kallsyms_gzip;  /* gzip the kallsyms copy (a serial port is slow) */
	const char *control; /* a tty the host sends commands on, after READY */
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

/*
 * The nostats scenario: the sysctl is written 0 (init may have set 1) and no
 * BPF_ENABLE_STATS fd is taken, so the kernel keeps no run counts or times.
 */
static void disable_stats(void)
{
	proc_write_ok = false;
	if (!write_file(stats_proc, "0\n"))
		msg("cannot write 0 to %s: %s", stats_proc, strerror(errno));
}

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
		if (!opt.attach[i]) {
			msg("loaded %s (not attached)", opt.objs[i]);
			continue;
		}
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

static bool read_scx_events(char *text, size_t size);

/*
 * Wait until no struct_ops program's counters and no sched_ext event counter
 * (the host compares both exactly) move for 500 ms (max 10 tries).
 */
static bool quiesce(void)
{
	static struct prog_truth prev[MAX_PROGS];
	static char prev_ev[4096], ev[4096];
	int nprev;

	collect();
	read_scx_events(ev, sizeof(ev));
	for (int tries = 0; tries < 10; tries++) {
		memcpy(prev, truth, sizeof(truth[0]) * nr_truth);
		memcpy(prev_ev, ev, sizeof(ev));
		nprev = nr_truth;
		sleep_ms(500);
		collect();
		read_scx_events(ev, sizeof(ev));
		if (same_counts(prev, nprev, truth, nr_truth) && !strcmp(prev_ev, ev))
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

/* ---- struct_ops instances, sched_ext, paging ---------------------------- */

/* include/linux/bpf.h: enum bpf_struct_ops_state (READY since 6.4). */
static const char *const ops_states[] = {"init", "inuse", "tobefree", "ready"};

struct ops_member {
	char name[64];
	__u32 prog_id;
};

struct ops_truth {
	__u32 map_id;
	char name[BPF_OBJ_NAME_LEN + 1];
	char iface[128];    /* "" when the value type is not bpf_struct_ops_<iface> */
	const char *state;  /* ops_states[] or "unknown" */
	char ops_name[128]; /* the ops struct's own char-array `name` member, or "" */
	char object[BPF_OBJ_NAME_LEN + 1]; /* "" when no member program names one */
	struct ops_member members[MAX_OPS_MEMBERS];
	int nr_members;
};

static struct ops_truth ops_truth[MAX_STRUCT_OPS];
static int nr_ops_truth;

/*
 * The numbers /sys/kernel/sched_ext shows (kernel/sched/ext.c: scx_global_attrs,
 * 6.12 to 7.2; 7.2: kernel/sched/ext/ext.c), each one "%d\n" or "%ld\n".
 */
static const char *const scx_nums[] = {"switch_all", "nr_rejected", "hotplug_seq", "enable_seq"};
#define NR_SCX_NUMS    4
#define MAX_SCX_EVENTS 64
#define SCX_EVENTS     "/sys/kernel/sched_ext/root/events"

struct scx_truth {
	bool present; /* /sys/kernel/sched_ext exists */
	char state[64];
	char root_ops[160];
	bool has_root_ops;
	/* The scx exit convention: a loaded object's uei (in its .data), by map lookup. */
	bool has_uei;
	char uei_obj[64];
	int uei_kind;
	long long uei_exit_code;
	char uei_reason[128];
	char uei_msg[1024];
	/* The kernel log's "sched_ext: BPF scheduler ... disabled (...)" line and the next. */
	char kmsg_disabled[512];
	char kmsg_msg[1200];
	/* scx_nums[i]'s value; has_num[i] false when the kernel has no such file */
	bool has_num[NR_SCX_NUMS];
	long long num[NR_SCX_NUMS];
	/* root/events (6.15+, while a scheduler is enabled): "SCX_EV_NAME count" lines */
	bool has_events;
	int nr_events;
	char event_name[MAX_SCX_EVENTS][64];
	long long event[MAX_SCX_EVENTS];
};

static struct scx_truth scx_truth;

struct active_truth {
	__u32 instances[MAX_STRUCT_OPS];
	int nr_instances;
	const struct ops_truth *primary; /* obj_name and interface come from it */
};

static struct active_truth active_truth;

/* First line of PATH without its newline; false when it cannot be read. */
static bool read_line_file(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	bool ok;

	buf[0] = 0;
	if (!f)
		return false;
	ok = fgets(buf, (int)size, f) != NULL;
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return ok;
}

#if defined(__aarch64__)
/*
 * arm64: the translation levels of the VA size the kernel runs (TTBR0 and
 * TTBR1 share vabits_actual). Userspace gets addresses above 48 bits only
 * when it asks with a hint above them, and only on a 52-bit kernel
 * (Documentation/arch/arm64/memory.rst); levels follow from the page size.
 */
static int paging_levels(void)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned int shift = page == 65536 ? 16 : page == 16384 ? 14 : 12, va = 48;
	void *p = mmap((void *)(1ul << 50), (size_t)page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (p != MAP_FAILED) {
		if ((uintptr_t)p >= 1ul << 48)
			va = 52;
		munmap(p, (size_t)page);
	}
	return (int)((va - shift + shift - 4) / (shift - 3));
}
#else
/* 5 when the kernel runs with 5-level paging: it clears la57 otherwise. */
static int paging_levels(void)
{
	char line[4096];
	FILE *f = fopen("/proc/cpuinfo", "re");
	int levels = 4;

	if (!f) {
		msg("cannot read /proc/cpuinfo: %s; reporting 4-level paging", strerror(errno));
		return 4;
	}
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5))
			continue;
		for (char *tok = strtok(line + 5, " \t\n:"); tok; tok = strtok(NULL, " \t\n:"))
			if (!strcmp(tok, "la57"))
				levels = 5;
		break; /* every CPU lists the same flags */
	}
	fclose(f);
	return levels;
}
#endif

/*
 * The variable uei in obj's .data (the scx exit convention, user_exit_info.h:
 * int kind; s64 exit_code; char reason[128]; char msg[1024]), read through a
 * map lookup and placed by the object's BTF (its .data DATASEC).
 */
static bool read_uei(struct bpf_object *obj)
{
	const struct btf *btf = bpf_object__btf(obj);
	struct bpf_map *map;
	int sec;

	if (!btf)
		return false;
	sec = btf__find_by_name_kind(btf, ".data", BTF_KIND_DATASEC);
	if (sec < 0)
		return false;
	bpf_object__for_each_map(map, obj)
	{
		const struct btf_type *t = btf__type_by_id(btf, (__u32)sec);
		const struct btf_var_secinfo *vs = btf_var_secinfos(t);
		__u32 zero = 0, size = bpf_map__value_size(map);
		unsigned char *v;

		if (bpf_map__type(map) != BPF_MAP_TYPE_ARRAY ||
		    bpf_map__btf_value_type_id(map) != (__u32)sec)
			continue;
		for (int i = 0; i < btf_vlen(t); i++, vs++) {
			const struct btf_type *var = btf__type_by_id(btf, vs->type);

			if (strcmp(btf__name_by_offset(btf, var->name_off), "uei") ||
			    vs->offset + 8 + 8 + 128 + 1024 > size)
				continue;
			v = calloc(1, size);
			if (!v || bpf_map_lookup_elem(bpf_map__fd(map), &zero, v) < 0) {
				msg("uei: lookup of %s failed: %s", bpf_map__name(map),
				    strerror(errno));
				free(v);
				return false;
			}
			memcpy(&scx_truth.uei_kind, v + vs->offset, 4);
			memcpy(&scx_truth.uei_exit_code, v + vs->offset + 8, 8);
			memcpy(scx_truth.uei_reason, v + vs->offset + 16, 128);
			memcpy(scx_truth.uei_msg, v + vs->offset + 16 + 128, 1024);
			scx_truth.uei_reason[127] = scx_truth.uei_msg[1023] = 0;
			snprintf(scx_truth.uei_obj, sizeof(scx_truth.uei_obj), "%s",
				 bpf_object__name(obj));
			free(v);
			return true;
		}
	}
	return false;
}

/* The kernel log's lines about the scheduler's exit (ext.c: scx_disable_workfn). */
static void read_kmsg(void)
{
	char rec[2048];
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	bool next = false;
	ssize_t n;

	if (fd < 0) {
		msg("cannot open /dev/kmsg: %s", strerror(errno));
		return;
	}
	/* one record per read; EAGAIN at the end; EPIPE when records were overwritten */
	while ((n = read(fd, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		char *text;

		if (n <= 0)
			continue;
		rec[n] = 0;
		text = strchr(rec, ';');
		if (!text)
			continue;
		text++;
		text[strcspn(text, "\n")] = 0;
		if (next) {
			snprintf(scx_truth.kmsg_msg, sizeof(scx_truth.kmsg_msg), "%s", text);
			next = false;
		}
		if (strstr(text, "sched_ext: BPF scheduler") && strstr(text, "disabled (")) {
			snprintf(scx_truth.kmsg_disabled, sizeof(scx_truth.kmsg_disabled), "%s",
				 text);
			scx_truth.kmsg_msg[0] = 0;
			next = true;
		}
	}
	close(fd);
}

/*
 * One number file of /sys/kernel/sched_ext: false when the kernel has none;
 * a file that is there but unreadable or no number fails the agent (a truth
 * that silently lacked it would compare nothing).
 */
static bool read_scx_num(const char *name, long long *ret)
{
	char path[96], line[64], *end;

	snprintf(path, sizeof(path), "/sys/kernel/sched_ext/%s", name);
	if (!read_line_file(path, line, sizeof(line))) {
		if (errno == ENOENT)
			return false;
		fail("cannot read %s: %s", path, strerror(errno));
	}
	errno = 0;
	*ret = strtoll(line, &end, 10);
	if (errno || end == line || *end)
		fail("%s: '%s' is not a number", path, line);
	return true;
}

/*
 * root/events (ext.c: scx_attr_events_show(), 6.15+): one "SCX_EV_NAME %llu"
 * line per counter, summed over the possible CPUs by scx_read_events(). The
 * kernel keeps them as s64 and prints them unsigned: reported as s64, as the
 * host reads them. Into text (when not NULL) the file as it is, for quiesce().
 */
static bool read_scx_events(char *text, size_t size)
{
	char line[160];
	FILE *f = fopen(SCX_EVENTS, "re");

	scx_truth.nr_events = 0;
	if (text)
		text[0] = 0;
	if (!f) {
		if (errno == ENOENT) /* no such kernel, or no scheduler enabled */
			return false;
		fail("cannot open " SCX_EVENTS ": %s", strerror(errno));
	}
	while (fgets(line, sizeof(line), f)) {
		int i = scx_truth.nr_events;
		char *sp = strchr(line, ' '), *end;
		unsigned long long v;

		if (text && strlen(text) + strlen(line) < size)
			strcat(text, line);
		line[strcspn(line, "\n")] = 0;
		if (!sp || sp == line || sp - line >= 64 || i == MAX_SCX_EVENTS)
			fail(SCX_EVENTS ": unexpected line '%s'", line);
		errno = 0;
		v = strtoull(sp + 1, &end, 10);
		if (errno || end == sp + 1 || *end)
			fail(SCX_EVENTS ": '%s' has no count", line);
		snprintf(scx_truth.event_name[i], sizeof(scx_truth.event_name[i]), "%.*s",
			 (int)(sp - line), line);
		scx_truth.event[i] = (long long)v;
		scx_truth.nr_events++;
	}
	fclose(f);
	return true;
}

static void collect_sched_ext(void)
{
	struct stat st;

	memset(&scx_truth, 0, sizeof(scx_truth));
	if (stat("/sys/kernel/sched_ext", &st) < 0)
		return;
	scx_truth.present = true;
	if (!read_line_file("/sys/kernel/sched_ext/state", scx_truth.state,
			    sizeof(scx_truth.state)))
		msg("cannot read /sys/kernel/sched_ext/state: %s", strerror(errno));
	/* root/ exists only while a scheduler is enabled */
	scx_truth.has_root_ops = read_line_file("/sys/kernel/sched_ext/root/ops",
						scx_truth.root_ops, sizeof(scx_truth.root_ops));
	for (int i = 0; i < opt.nr_objs && !scx_truth.has_uei; i++)
		if (objs[i] && opt.attach[i])
			scx_truth.has_uei = read_uei(objs[i]);
	read_kmsg();
	for (int i = 0; i < NR_SCX_NUMS; i++)
		scx_truth.has_num[i] = read_scx_num(scx_nums[i], &scx_truth.num[i]);
	scx_truth.has_events = read_scx_events(NULL, 0);
}

/* Follow typedefs and const/volatile/restrict; bounded against loops. */
static const struct btf_type *skip_mods(const struct btf *btf, __u32 id, __u32 *out_id)
{
	const struct btf_type *t = btf__type_by_id(btf, id);

	for (int i = 0; t && i < 32 && (btf_is_mod(t) || btf_is_typedef(t)); i++) {
		id = t->type;
		t = btf__type_by_id(btf, id);
	}
	if (t && (btf_is_mod(t) || btf_is_typedef(t)))
		t = NULL;
	if (out_id)
		*out_id = id;
	return t;
}

static bool is_func_ptr(const struct btf *btf, const struct btf_type *t)
{
	return t && btf_is_ptr(t) && (t = skip_mods(btf, t->type, NULL)) && btf_is_func_proto(t);
}

static bool is_char_array(const struct btf *btf, const struct btf_type *t)
{
	const struct btf_type *e;

	if (!t || !btf_is_array(t))
		return false;
	e = skip_mods(btf, btf_array(t)->type, NULL);
	return e && btf_is_int(e) && e->size == 1;
}

/*
 * The <obj> of the first "<obj>.bss"/".data"/".rodata" map the program uses
 * (libbpf's names for an object's global sections); false when none.
 */
/* The ids of the maps program prog_id uses (at most MAX_MAPS_PER_PROG); -1 when unreadable. */
static int prog_maps(__u32 prog_id, __u32 *map_ids)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), nr;
	int fd = bpf_prog_get_fd_by_id(prog_id), r = -1;

	if (fd < 0) {
		msg("struct_ops member prog %u: %s", prog_id, strerror(errno));
		return -1;
	}
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		goto out;
	nr = info.nr_map_ids < MAX_MAPS_PER_PROG ? info.nr_map_ids : MAX_MAPS_PER_PROG;
	memset(&info, 0, sizeof(info));
	info.nr_map_ids = nr;
	info.map_ids = (__u64)(uintptr_t)map_ids;
	len = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		goto out;
	r = (int)(info.nr_map_ids < nr ? info.nr_map_ids : nr);
out:
	close(fd);
	return r;
}

static bool prog_object(__u32 prog_id, char *obj, size_t size)
{
	__u32 map_ids[MAX_MAPS_PER_PROG];
	int nr = prog_maps(prog_id, map_ids);
	bool found = false;

	if (nr < 0)
		return false;
	for (int i = 0; i < nr && !found; i++) {
		static const char *const sfx[] = {".bss", ".data", ".rodata"};
		struct bpf_map_info mi = {};
		__u32 mlen = sizeof(mi);
		int mfd = bpf_map_get_fd_by_id(map_ids[i]);
		char name[BPF_OBJ_NAME_LEN + 1];
		char *dot;

		if (mfd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(mfd, &mi, &mlen)) {
			close(mfd);
			continue;
		}
		close(mfd);
		memcpy(name, mi.name, BPF_OBJ_NAME_LEN);
		name[BPF_OBJ_NAME_LEN] = 0;
		dot = strchr(name, '.');
		if (!dot || dot == name)
			continue;
		for (size_t s = 0; s < sizeof(sfx) / sizeof(sfx[0]); s++)
			if (!strcmp(dot, sfx[s])) {
				*dot = 0;
				snprintf(obj, size, "%s", name);
				found = true;
				break;
			}
	}
	return found;
}

/*
 * Decode one struct_ops map value (what bpf_map_lookup_elem returns): the
 * header {refcount_t refcnt; enum bpf_struct_ops_state state;} - the state is
 * the u32 at offset 4 (include/linux/bpf.h BPF_STRUCT_OPS_COMMON_VALUE, 6.9+
 * struct bpf_struct_ops_common_value) - then the ops struct in the member
 * `data` of "struct bpf_struct_ops_<iface>", whose function-pointer slots the
 * kernel filled with program ids at map update (kernel/bpf/bpf_struct_ops.c,
 * bpf_struct_ops_map_update_elem); an INIT map reads back all zero.
 */
static void decode_ops_value(struct ops_truth *o, const struct btf *btf, __u32 value_type_id,
			     const unsigned char *val, __u32 size)
{
	const struct btf_type *vt, *ops = NULL;
	const char *vname;
	__u32 state, data_off = 0;

	memcpy(&state, val + 4, sizeof(state));
	o->state =
		state < sizeof(ops_states) / sizeof(ops_states[0]) ? ops_states[state] : "unknown";
	if (!btf)
		return;
	vt = btf__type_by_id(btf, value_type_id);
	vname = vt ? btf__name_by_offset(btf, vt->name_off) : NULL;
	if (!vt || !btf_is_struct(vt) || !vname || strncmp(vname, "bpf_struct_ops_", 15)) {
		msg("struct_ops map %u: value type %u is not a bpf_struct_ops_<iface> in "
		    "/sys/kernel/btf/vmlinux",
		    o->map_id, value_type_id);
		return;
	}
	snprintf(o->iface, sizeof(o->iface), "%s", vname + 15);
	for (__u16 i = 0; i < btf_vlen(vt); i++) {
		const struct btf_member *m = btf_members(vt) + i;
		const char *mn = btf__name_by_offset(btf, m->name_off);

		if (mn && !strcmp(mn, "data")) {
			ops = skip_mods(btf, m->type, NULL);
			data_off = btf_member_bit_offset(vt, i) / 8;
			break;
		}
	}
	if (!ops || !btf_is_struct(ops)) {
		msg("struct_ops map %u: %s has no struct member `data`", o->map_id, vname);
		return;
	}
	for (__u16 i = 0; i < btf_vlen(ops); i++) {
		const struct btf_member *m = btf_members(ops) + i;
		const struct btf_type *mt = skip_mods(btf, m->type, NULL);
		const char *mn = btf__name_by_offset(btf, m->name_off);
		__u32 off = data_off + btf_member_bit_offset(ops, i) / 8;
		__u64 slot;

		if (!mn)
			mn = "";
		if (is_char_array(btf, mt) && !strcmp(mn, "name")) {
			__u32 n = btf_array(mt)->nelems;

			if (off + n > size)
				continue;
			if (n >= sizeof(o->ops_name))
				n = sizeof(o->ops_name) - 1;
			memcpy(o->ops_name, val + off, n);
			o->ops_name[n] = 0;
			continue;
		}
		if (!is_func_ptr(btf, mt))
			continue;
		if (off + sizeof(slot) > size) {
			msg("struct_ops map %u: member %s at %u past the %u-byte value", o->map_id,
			    mn, off, size);
			continue;
		}
		memcpy(&slot, val + off, sizeof(slot));
		if (!slot)
			continue; /* not implemented */
		if (o->nr_members == MAX_OPS_MEMBERS) {
			msg("struct_ops map %u: more than %d members", o->map_id, MAX_OPS_MEMBERS);
			break;
		}
		snprintf(o->members[o->nr_members].name, sizeof(o->members[0].name), "%s", mn);
		o->members[o->nr_members].prog_id = (__u32)slot;
		if (slot > UINT32_MAX)
			msg("struct_ops map %u: member %s holds %llu, not a prog id", o->map_id, mn,
			    (unsigned long long)slot);
		o->nr_members++;
	}
	for (int i = 0; i < o->nr_members && !o->object[0]; i++)
		prog_object(o->members[i].prog_id, o->object, sizeof(o->object));
}

/* Every struct_ops map in the guest, in map id order. */
static void collect_struct_ops(void)
{
	static unsigned char val[MAX_OPS_VALUE];
	static struct btf *btf;
	static bool btf_tried;
	__u32 id = 0;

	if (!btf_tried) {
		btf_tried = true;
		btf = btf__parse("/sys/kernel/btf/vmlinux", NULL);
		if (!btf)
			msg("cannot parse /sys/kernel/btf/vmlinux (%s): struct_ops interfaces and "
			    "members unknown",
			    strerror(errno));
	}
	nr_ops_truth = 0;
	while (bpf_map_get_next_id(id, &id) == 0) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info), zero = 0;
		int fd = bpf_map_get_fd_by_id(id);
		struct ops_truth *o;

		if (fd < 0)
			continue; /* went away */
		if (bpf_obj_get_info_by_fd(fd, &info, &len) ||
		    info.type != BPF_MAP_TYPE_STRUCT_OPS) {
			close(fd);
			continue;
		}
		if (nr_ops_truth == MAX_STRUCT_OPS) {
			msg("more than %d struct_ops maps; the truth lists the first ones",
			    MAX_STRUCT_OPS);
			close(fd);
			break;
		}
		o = &ops_truth[nr_ops_truth++];
		memset(o, 0, sizeof(*o));
		o->map_id = info.id;
		memcpy(o->name, info.name, BPF_OBJ_NAME_LEN);
		o->state = "unknown";
		if (info.value_size < 8 || info.value_size > sizeof(val))
			msg("struct_ops map %u: value size %u out of range", id, info.value_size);
		else if (bpf_map_lookup_elem(fd, &zero, val))
			msg("struct_ops map %u: lookup: %s", id, strerror(errno));
		else
			decode_ops_value(o, btf, info.btf_vmlinux_value_type_id, val,
					 info.value_size);
		close(fd);
	}
}

/*
 * What the guest has attached, by the rule the host must reproduce: a
 * sched_ext_ops instance only when sched_ext's state is "enabled" and the
 * instance's ops name equals /sys/kernel/sched_ext/root/ops (a map can stay
 * inuse after the kernel ejected its scheduler); any other instance when its
 * state is inuse. Instances in map id order; obj_name and interface come from
 * the sched_ext instance when there is one, else from the first instance.
 */
static void compute_active(void)
{
	bool scx_on =
		scx_truth.present && !strcmp(scx_truth.state, "enabled") && scx_truth.has_root_ops;

	memset(&active_truth, 0, sizeof(active_truth));
	for (int i = 0; i < nr_ops_truth; i++) {
		const struct ops_truth *o = &ops_truth[i];
		bool scx = !strcmp(o->iface, "sched_ext_ops");

		if (scx ? !(scx_on && o->ops_name[0] && !strcmp(o->ops_name, scx_truth.root_ops))
			: strcmp(o->state, "inuse"))
			continue;
		active_truth.instances[active_truth.nr_instances++] = o->map_id;
		if (!active_truth.primary || scx)
			active_truth.primary = o;
	}
}

static void sb_str_or_null(struct sbuf *b, const char *s)
{
	if (s && *s)
		sb_str(b, s);
	else
		sb_add(b, "null");
}

/* sched_ext's sysfs numbers and events, null for each the kernel does not show. */
static void print_scx_state(struct sbuf *b)
{
	for (int i = 0; i < NR_SCX_NUMS; i++) {
		sb_add(b, ",\"%s\":", scx_nums[i]);
		if (!scx_truth.has_num[i])
			sb_add(b, "null");
		else if (!strcmp(scx_nums[i], "switch_all")) /* a bool: "%d" */
			sb_add(b, "%s", scx_truth.num[i] ? "true" : "false");
		else
			sb_add(b, "%lld", scx_truth.num[i]);
	}
	sb_add(b, ",\"events\":");
	if (!scx_truth.has_events) {
		sb_add(b, "null");
		return;
	}
	for (int i = 0; i < scx_truth.nr_events; i++) {
		sb_add(b, "%s", i ? "," : "{");
		sb_str(b, scx_truth.event_name[i]);
		sb_add(b, ":%lld", scx_truth.event[i]);
	}
	sb_add(b, "%s", scx_truth.nr_events ? "}" : "{}");
}

static void print_struct_ops(struct sbuf *b)
{
	sb_add(b, ",\"struct_ops\":[");
	for (int i = 0; i < nr_ops_truth; i++) {
		const struct ops_truth *o = &ops_truth[i];

		sb_add(b, "%s{\"map_id\":%u,\"name\":", i ? "," : "", o->map_id);
		sb_str(b, o->name);
		sb_add(b, ",\"interface\":");
		sb_str_or_null(b, o->iface);
		sb_add(b, ",\"state\":");
		sb_str(b, o->state);
		sb_add(b, ",\"object\":");
		sb_str_or_null(b, o->object);
		sb_add(b, ",\"members\":[");
		for (int m = 0; m < o->nr_members; m++) {
			sb_add(b, "%s{\"member\":", m ? "," : "");
			sb_str(b, o->members[m].name);
			sb_add(b, ",\"prog_id\":%u}", o->members[m].prog_id);
		}
		sb_add(b, "]}");
	}
	sb_add(b, "],\"sched_ext\":");
	if (!scx_truth.present) {
		sb_add(b, "null");
	} else {
		sb_add(b, "{\"state\":");
		sb_str(b, scx_truth.state);
		sb_add(b, ",\"root_ops\":");
		if (scx_truth.has_root_ops)
			sb_str(b, scx_truth.root_ops);
		else
			sb_add(b, "null");
		sb_add(b, ",\"uei\":");
		if (scx_truth.has_uei) {
			sb_add(b, "{\"obj\":");
			sb_str(b, scx_truth.uei_obj);
			sb_add(b, ",\"kind\":%d,\"exit_code\":%lld,\"reason\":", scx_truth.uei_kind,
			       scx_truth.uei_exit_code);
			sb_str(b, scx_truth.uei_reason);
			sb_add(b, ",\"msg\":");
			sb_str(b, scx_truth.uei_msg);
			sb_add(b, "}");
		} else {
			sb_add(b, "null");
		}
		sb_add(b, ",\"kmsg_disabled\":");
		sb_str_or_null(b, scx_truth.kmsg_disabled[0] ? scx_truth.kmsg_disabled : NULL);
		sb_add(b, ",\"kmsg_msg\":");
		sb_str_or_null(b, scx_truth.kmsg_msg[0] ? scx_truth.kmsg_msg : NULL);
		print_scx_state(b);
		sb_add(b, "}");
	}
	sb_add(b, ",\"active\":{\"attached\":%s,\"instances\":[",
	       active_truth.nr_instances ? "true" : "false");
	for (int i = 0; i < active_truth.nr_instances; i++)
		sb_add(b, "%s%u", i ? "," : "", active_truth.instances[i]);
	sb_add(b, "],\"obj_name\":");
	sb_str_or_null(b, active_truth.primary ? active_truth.primary->object : NULL);
	sb_add(b, ",\"interface\":");
	sb_str_or_null(b, active_truth.primary ? active_truth.primary->iface : NULL);
	sb_add(b, "}");
}

/* ---- variables ------------------------------------------------------------ */

/*
 * The active object's variables as the guest sees them through bpf(): every
 * map its struct_ops programs use that is an array whose value type is a
 * DATASEC (a global section) or a per-CPU array, looked up by id and decoded
 * with the object's BTF (btf_id, btf_value_type_id), each leaf printed as
 * "map:path" -> value text, the rules `ktbpfctl vars` documents: members
 * ".name", elements "[i]" (at most 1024), a per-CPU element "map:[e]" with
 * ".sum" (integers summed over the CPUs; other leaves left out) and ".cpuN";
 * integers in decimal, bools true/false, enums by name, pointers 0x..,
 * char arrays as strings (printable ASCII kept, '\' doubled, other bytes
 * \xNN, up to the first NUL). Independent of the host's code by design.
 */
#define VARS_MAX_MAPS	 64
#define VARS_MAX_ELEMS	 1024
#define VARS_MAX_DEPTH	 16
#define VARS_MAX_ENTRIES 64
#define VARS_MAX_VALUE	 (4 << 20)

struct vctx {
	struct sbuf *b;
	const struct btf *btf;
	const unsigned char *const *bufs;
	int nbufs; /* buffers: more than one only when sum */
	bool sum;  /* the ".sum" of per-CPU values: integers summed, other leaves left out */
	size_t len;
	int n; /* pairs printed */
};

static void vpair(struct vctx *c, const char *path, const char *fmt, ...)
{
	char val[4 * VARS_MAX_ELEMS + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	sb_add(c->b, "%s", c->n++ ? "," : "");
	sb_str(c->b, path);
	sb_add(c->b, ":");
	sb_str(c->b, val);
}

/* Bit i of buf at bit position pos + i, one bit at a time. */
static __u64 vbits(const unsigned char *buf, __u64 pos, __u32 bits)
{
	__u64 v = 0;

	for (__u32 i = 0; i < bits; i++)
		v |= (__u64)((buf[(pos + i) / 8] >> ((pos + i) % 8)) & 1) << i;
	return v;
}

static __s64 vsext(__u64 v, __u32 bits)
{
	return bits < 64 && (v >> (bits - 1)) & 1 ? (__s64)(v | ~0ULL << bits) : (__s64)v;
}

static void vnode(struct vctx *c, const char *path, __u32 id, __u64 bitpos, __u32 bitsz, int depth);

static void vint(struct vctx *c, const char *path, const struct btf_type *t, __u64 bitpos,
		 __u32 bitsz)
{
	__u32 enc = btf_int_encoding(t), bits = bitsz ? bitsz : btf_int_bits(t);
	__u64 raw = 0, sum = 0;

	if (!bitsz)
		bitpos += btf_int_offset(t);
	if (!bits || bits > 64 || (bitpos + bits + 7) / 8 > c->len) {
		vpair(c, path, "!bad integer");
		return;
	}
	for (int i = 0; i < c->nbufs; i++) {
		raw = vbits(c->bufs[i], bitpos, bits);
		sum += (enc & BTF_INT_SIGNED) ? (__u64)vsext(raw, bits) : raw;
	}
	if (!c->sum && (enc & BTF_INT_BOOL) && raw <= 1)
		vpair(c, path, "%s", raw ? "true" : "false");
	else if (enc & BTF_INT_SIGNED)
		vpair(c, path, "%lld", (long long)(c->sum ? (__s64)sum : vsext(raw, bits)));
	else
		vpair(c, path, "%llu", (unsigned long long)(c->sum ? sum : raw));
}

static void venum(struct vctx *c, const char *path, const struct btf_type *t, size_t off)
{
	__u32 size = t->size;
	__u64 raw = 0;

	if (size < 1 || size > 8 || off + size > c->len) {
		vpair(c, path, "!bad enum");
		return;
	}
	for (__u32 i = 0; i < size; i++)
		raw |= (__u64)c->bufs[0][off + i] << (8 * i);
	for (__u32 i = 0; i < btf_vlen(t); i++) {
		__u64 ev = btf_is_enum(t) ? (__u64)(__s64)btf_enum(t)[i].val
					  : btf_enum64_value(&btf_enum64(t)[i]);
		__u32 name_off =
			btf_is_enum(t) ? btf_enum(t)[i].name_off : btf_enum64(t)[i].name_off;

		if (size < 8)
			ev &= (1ULL << (8 * size)) - 1;
		if (ev == raw) {
			vpair(c, path, "%s", btf__name_by_offset(c->btf, name_off));
			return;
		}
	}
	vpair(c, path, "%lld", btf_kflag(t) ? (long long)vsext(raw, 8 * size) : (long long)raw);
}

static void vstring(struct vctx *c, const char *path, size_t off, __u32 n)
{
	char s[4 * VARS_MAX_ELEMS + 1], *o = s;

	if (n > VARS_MAX_ELEMS)
		n = VARS_MAX_ELEMS;
	for (__u32 i = 0; i < n && c->bufs[0][off + i]; i++) {
		unsigned char ch = c->bufs[0][off + i];

		if (ch == '\\')
			o += sprintf(o, "\\\\");
		else if (ch >= 0x20 && ch < 0x7f)
			*o++ = (char)ch;
		else
			o += sprintf(o, "\\x%02x", ch);
	}
	*o = 0;
	vpair(c, path, "%s", s);
}

static void vnode(struct vctx *c, const char *path, __u32 id, __u64 bitpos, __u32 bitsz, int depth)
{
	const struct btf_type *t = skip_mods(c->btf, id, &id);
	size_t off = bitpos / 8;
	char sub[512];

	if (!t || depth >= VARS_MAX_DEPTH) {
		vpair(c, path, "!bad type");
		return;
	}
	if (btf_is_int(t)) {
		vint(c, path, t, bitpos, bitsz);
		return;
	}
	if (btf_is_composite(t)) {
		if (off + t->size > c->len) {
			vpair(c, path, "!past the value");
			return;
		}
		for (__u32 i = 0; i < btf_vlen(t); i++) {
			const struct btf_member *m = &btf_members(t)[i];

			snprintf(sub, sizeof(sub), "%s.%s", path,
				 btf__name_by_offset(c->btf, m->name_off));
			vnode(c, sub, m->type, bitpos + btf_member_bit_offset(t, i),
			      btf_member_bitfield_size(t, i), depth + 1);
		}
		return;
	}
	if (btf_is_array(t)) {
		const struct btf_array *a = btf_array(t);
		const struct btf_type *e = skip_mods(c->btf, a->type, NULL);
		__s64 esz = btf__resolve_size(c->btf, a->type);

		if (e && btf_is_int(e) && e->size == 1 && btf_int_bits(e) == 8 &&
		    ((btf_int_encoding(e) & BTF_INT_CHAR) ||
		     !strcmp(btf__name_by_offset(c->btf, e->name_off), "char"))) {
			if (!c->sum && off + a->nelems <= c->len)
				vstring(c, path, off, a->nelems);
			return;
		}
		if (esz < 0 || off + (__u64)esz * a->nelems > c->len) {
			vpair(c, path, "!past the value");
			return;
		}
		for (__u32 i = 0; i < a->nelems && i < VARS_MAX_ELEMS; i++) {
			snprintf(sub, sizeof(sub), "%s[%u]", path, i);
			vnode(c, sub, a->type, (off + (__u64)esz * i) * 8, 0, depth + 1);
		}
		return;
	}
	if (c->sum)
		return; /* not summed */
	if (btf_is_any_enum(t))
		venum(c, path, t, off);
	else if (btf_is_ptr(t) && off + 8 <= c->len)
		vpair(c, path, "0x%llx", *(const unsigned long long *)(c->bufs[0] + off));
	else if (btf_is_float(t) && t->size == 8 && off + 8 <= c->len)
		vpair(c, path, "%.17g", *(const double *)(c->bufs[0] + off));
	else if (btf_is_float(t) && t->size == 4 && off + 4 <= c->len)
		vpair(c, path, "%.17g", (double)*(const float *)(c->bufs[0] + off));
	else
		vpair(c, path, "!kind %u", btf_kind(t));
}

/* One map of the object: a global section, or a per-CPU array. */
static void vmap(struct sbuf *b, int *n, __u32 map_id)
{
	struct bpf_map_info mi = {};
	__u32 len = sizeof(mi);
	int fd = bpf_map_get_fd_by_id(map_id), ncpu = libbpf_num_possible_cpus();
	struct btf *btf = NULL;
	unsigned char *val = NULL;
	const unsigned char *bufs[1024];
	char name[BPF_OBJ_NAME_LEN + 1], path[64];
	const struct btf_type *t;
	struct vctx c = {.b = b};

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &mi, &len) ||
	    (mi.type != BPF_MAP_TYPE_ARRAY && mi.type != BPF_MAP_TYPE_PERCPU_ARRAY) || !mi.btf_id ||
	    !mi.btf_value_type_id)
		goto out;
	memcpy(name, mi.name, BPF_OBJ_NAME_LEN);
	name[BPF_OBJ_NAME_LEN] = 0;
	btf = btf__load_from_kernel_by_id(mi.btf_id);
	t = btf ? btf__type_by_id(btf, mi.btf_value_type_id) : NULL;
	if (!t || (mi.type == BPF_MAP_TYPE_ARRAY && !btf_is_datasec(t)) || mi.value_size == 0 ||
	    mi.value_size > VARS_MAX_VALUE || ncpu < 1 || ncpu > 1024)
		goto out;
	c.btf = btf;
	c.len = mi.value_size;
	c.n = *n;
	if (mi.type == BPF_MAP_TYPE_ARRAY) {
		__u32 zero = 0;
		const struct btf_var_secinfo *vs = btf_var_secinfos(t);

		val = calloc(1, mi.value_size);
		if (!val || bpf_map_lookup_elem(fd, &zero, val)) {
			msg("vars: map %u: lookup: %s", map_id, strerror(errno));
			goto out;
		}
		bufs[0] = val;
		c.bufs = bufs;
		c.nbufs = 1;
		for (__u32 i = 0; i < btf_vlen(t); i++) {
			const struct btf_type *v = btf__type_by_id(btf, vs[i].type);

			snprintf(path, sizeof(path), "%s:%s", name,
				 v ? btf__name_by_offset(btf, v->name_off) : "?");
			if (!v || !btf_is_var(v) || vs[i].offset + vs[i].size > mi.value_size)
				vpair(&c, path, "!bad variable");
			else
				vnode(&c, path, v->type, (__u64)vs[i].offset * 8, 0, 0);
		}
	} else {
		size_t stride = (mi.value_size + 7) / 8 * 8;

		val = calloc(ncpu, stride);
		for (__u32 e = 0; val && e < mi.max_entries && e < VARS_MAX_ENTRIES; e++) {
			if (bpf_map_lookup_elem(fd, &e, val)) {
				msg("vars: map %u: lookup %u: %s", map_id, e, strerror(errno));
				break;
			}
			for (int i = 0; i < ncpu; i++)
				bufs[i] = val + stride * i;
			c.bufs = bufs;
			c.nbufs = ncpu;
			c.sum = true;
			snprintf(path, sizeof(path), "%s:[%u].sum", name, e);
			vnode(&c, path, mi.btf_value_type_id, 0, 0, 1);
			c.nbufs = 1;
			c.sum = false;
			for (int i = 0; i < ncpu; i++) {
				c.bufs = &bufs[i];
				snprintf(path, sizeof(path), "%s:[%u].cpu%d", name, e, i);
				vnode(&c, path, mi.btf_value_type_id, 0, 0, 1);
			}
		}
	}
	*n = c.n;
out:
	free(val);
	btf__free(btf);
	if (fd >= 0)
		close(fd);
}

/* The map ids of program prog_id added to ids (deduplicated); returns the new count. */
static int prog_map_ids(__u32 prog_id, __u32 *ids, int nr)
{
	__u32 map_ids[MAX_MAPS_PER_PROG];
	int cnt = prog_maps(prog_id, map_ids);

	for (int i = 0; i < cnt; i++) {
		int k;

		for (k = 0; k < nr && ids[k] != map_ids[i]; k++)
			;
		if (k == nr && nr < VARS_MAX_MAPS)
			ids[nr++] = map_ids[i];
	}
	return nr;
}

/*
 * "vars": {"object": OBJ, "active": true, "values": {"map:path": "value", ...}}
 * for the active object; when nothing is active, the first struct_ops
 * instance's object that has one ("active": false: the host names it);
 * null when there is none.
 */
static void print_vars(struct sbuf *b)
{
	const char *obj = active_truth.primary ? active_truth.primary->object : "";
	__u32 ids[VARS_MAX_MAPS];
	int nr = 0, n = 0;

	for (int i = 0; !obj[0] && i < nr_ops_truth; i++)
		obj = ops_truth[i].object;
	if (!obj[0]) {
		sb_add(b, ",\"vars\":null");
		return;
	}
	for (int i = 0; i < nr_ops_truth; i++)
		if (!strcmp(ops_truth[i].object, obj))
			for (int m = 0; m < ops_truth[i].nr_members; m++)
				nr = prog_map_ids(ops_truth[i].members[m].prog_id, ids, nr);
	sb_add(b, ",\"vars\":{\"object\":");
	sb_str(b, obj);
	sb_add(b, ",\"active\":%s,\"values\":{",
	       active_truth.primary && active_truth.primary->object[0] ? "true" : "false");
	for (int i = 0; i < nr; i++)
		vmap(b, &n, ids[i]);
	sb_add(b, "}}");
}

static void print_truth(bool quiesced)
{
	struct sbuf b = {};

	collect_sched_ext();
	collect_struct_ops();
	compute_active();
	sb_add(&b,
	       "KTBPF-TRUTH {\"stats_enabled\":%s,\"nr_cpus\":%d,\"paging_levels\":%d,"
	       "\"progs\":[",
	       stats_enabled() ? "true" : "false", libbpf_num_possible_cpus(), paging_levels());
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
	sb_add(&b, "]");
	print_struct_ops(&b);
	print_vars(&b);
	sb_add(&b, ",\"quiesced\":%s}\n", quiesced ? "true" : "false");
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

/* ---- control channel (after READY) -------------------------------------- */

/*
 * With --control TTY (a serial port the host writes to), the agent takes one
 * command a line after READY, so the host can bracket its own reads with the
 * guest's:
 *   read N    print "KTBPF-READING N {"progs":[{id,run_cnt,run_time_ns,
 *             recursion_misses}]}" from bpf() at that moment, in one write()
 *   traffic   run the workload again and again in a child (quietly), until
 *             the guest goes down; prints "KTBPF-TRAFFIC on"
 *   reboot    "KTBPF-REBOOTING", then reboot(RB_AUTOBOOT) at once: reboot -f
 * Without commands it watches for drift as without --control.
 */
static void print_reading(const char *seq)
{
	struct sbuf b = {0};

	collect();
	sb_add(&b, "KTBPF-READING %s {\"progs\":[", seq);
	for (int i = 0; i < nr_truth; i++) {
		const struct bpf_prog_info *in = &truth[i].info;

		sb_add(&b,
		       "%s{\"id\":%u,\"run_cnt\":%llu,\"run_time_ns\":%llu,\"recursion_misses\":%"
		       "llu}",
		       i ? "," : "", in->id, (unsigned long long)in->run_cnt,
		       (unsigned long long)in->run_time_ns,
		       (unsigned long long)in->recursion_misses);
	}
	sb_add(&b, "]}\n");
	/* one write(): the tty keeps it whole among other writers */
	fflush(stdout);
	if (write(STDOUT_FILENO, b.p, b.len) < 0)
		msg("write: %s", strerror(errno));
	free(b.p);
}

static void start_traffic(void)
{
	pid_t p = fork();

	if (p < 0) {
		msg("traffic: fork: %s", strerror(errno));
		return;
	}
	if (p == 0) {
		/* the workloads' own progress lines would fill the console */
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, STDERR_FILENO);
		for (;;) {
			if (opt.workload == WL_SCHED)
				sched_workload();
			else
				tcp_workload();
		}
	}
	printf("KTBPF-TRAFFIC on\n");
	fflush(stdout);
}

static int open_control(const char *path)
{
	struct termios t;
	int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0) {
		msg("control %s: %s", path, strerror(errno));
		return -1;
	}
	/* raw: no echo back to the host, bytes as they come */
	if (tcgetattr(fd, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(fd, TCSANOW, &t);
	}
	return fd;
}

static void serve_control(const char *path)
{
	static struct prog_truth reported[MAX_PROGS];
	int nreported = nr_truth, fd = open_control(path);
	bool drift_said = false, traffic = false;
	char line[128];
	size_t len = 0;

	memcpy(reported, truth, sizeof(truth[0]) * nr_truth);
	if (fd < 0) {
		watch_drift();
		return;
	}
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char c;

		if (poll(&p, 1, 1000) <= 0) {
			if (!traffic && !drift_said) {
				collect();
				if (!same_counts(reported, nreported, truth, nr_truth)) {
					printf("KTBPF-DRIFT struct_ops counters changed after "
					       "KTBPF-TRUTH\n");
					drift_said = true;
				}
			}
			continue;
		}
		if (read(fd, &c, 1) != 1)
			continue;
		if (c != '\n' && c != '\r') {
			if (len < sizeof(line) - 1)
				line[len++] = c;
			continue;
		}
		line[len] = 0;
		len = 0;
		if (!strncmp(line, "read ", 5)) {
			print_reading(line + 5);
		} else if (!strcmp(line, "traffic") && !traffic) {
			traffic = true;
			start_traffic();
		} else if (!strcmp(line, "reboot")) {
			printf("KTBPF-REBOOTING\n");
			fflush(stdout);
			sync();
			reboot(RB_AUTOBOOT);
			msg("reboot: %s", strerror(errno));
		} else if (line[0]) {
			msg("control: unknown command '%s'", line);
		}
	}
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ktbpf-agent [--obj FILE | --obj-noattach FILE]... [--workload "
		"tcp|sched|none]\n"
		"                   [--cc-name NAME] [--duration SECONDS] [--detach] [--no-stats]\n"
		"                   [--kallsyms-out PATH [--kallsyms-gzip]] [--control TTY]\n"
		"Loads the objects in the order given, attaches the struct_ops maps of each\n"
		"--obj (an --obj-noattach object stays loaded, unattached), enables BPF runtime\n"
		"stats (--no-stats: sysctl 0 and no stats fd), runs the workload, detaches if\n"
		"asked, waits for the programs to go quiet, prints 'KTBPF-TRUTH {json}',\n"
		"optionally copies /proc/kallsyms, prints KTBPF-READY and idles with the\n"
		"objects loaded (with --control, serving the host's commands: read N,\n"
		"traffic, reboot).\n");
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"obj", required_argument, NULL, 'o'},
		{"obj-noattach", required_argument, NULL, 'O'},
		{"no-stats", no_argument, NULL, 'S'},
		{"workload", required_argument, NULL, 'w'},
		{"cc-name", required_argument, NULL, 'c'},
		{"kallsyms-out", required_argument, NULL, 'k'},
		{"duration", required_argument, NULL, 'd'},
		{"detach", no_argument, NULL, 'D'},
		{"kallsyms-gzip", no_argument, NULL, 'z'},
		{"control", required_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	bool quiesced;
	int c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt_long(argc, argv, "o:O:w:c:k:d:DSzC:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'o':
		case 'O':
			if (opt.nr_objs == MAX_OBJS)
				fail("at most %d --obj/--obj-noattach", MAX_OBJS);
			opt.attach[opt.nr_objs] = c == 'o';
			opt.objs[opt.nr_objs++] = optarg;
			break;
		case 'S':
			opt.no_stats = true;
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
		case 'C':
			opt.control = optarg;
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

	if (opt.no_stats)
		disable_stats();
	else
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
		msg("struct_ops run counters or sched_ext events still moving after 10 tries; "
		    "reporting the last reading");
	print_truth(quiesced);

	if (opt.kallsyms_out)
		copy_kallsyms(opt.kallsyms_out, opt.kallsyms_gzip);

	printf("KTBPF-READY\n");
	fflush(stdout);
	if (opt.control)
		serve_control(opt.control);
	else
		watch_drift();
	for (;;)
		pause();
}
