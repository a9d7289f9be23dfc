/* SPDX-License-Identifier: MIT */
/*
 * bench-daemon: ktbpfd as a service (issue 8's Speed section), with the real
 * binary on a temporary socket and libktbpf-client:
 *  1. vm.snapshot round trip (request to parsed answer, freeze=never) on
 *     the 64-program x 64-CPU kit guest (5-level paging): p50/p90/p99;
 *  2. snapshots per second in total from 8 clients at once (threads, one
 *     connection each, the same VM: concurrent requests share walks);
 *  3. the daemon's private memory (RssAnon) with 64 registered 1 GiB
 *     guests of one kernel: sparse memfds holding the kit kernel's pages,
 *     each discovered and snapshotted once.
 * Run on demand: build/bench/bench-daemon [KTBPFD] [ROUND_TRIPS]
 * (meson test -C build --benchmark daemon). Prints figures; asserts nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kit-guest.h"
#include "ktbpf/client.h"

static char sock[128];
static pid_t daemon_pid;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const struct ktbpf_err *err)
{
	fprintf(stderr, "bench-daemon: %s: %s\n", what, err ? err->msg : strerror(errno));
	if (daemon_pid > 0)
		kill(daemon_pid, SIGKILL);
	exit(1);
}

static void start_daemon(const char *bin, const char *dir)
{
	snprintf(sock, sizeof(sock), "%s/ktbpfd.sock", dir);
	daemon_pid = fork();
	if (daemon_pid == 0) {
		char log[160], state[160];

		snprintf(log, sizeof(log), "%s/ktbpfd.log", dir);
		snprintf(state, sizeof(state), "%s/state", dir); /* never /var/lib/ktbpfd */
		if (!freopen(log, "w", stderr))
			_exit(127);
		execl(bin, bin, "--socket", sock, "--state-dir", state, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		struct ktbpf_client *c;
		struct ktbpf_err err = {0};

		if (ktbpf_client_connect(sock, &c, &err) == 0) {
			ktbpf_client_free(c);
			return;
		}
		usleep(10000);
	}
	die("ktbpfd did not start", NULL);
}

static struct ktbpf_client *connect_or_die(void)
{
	struct ktbpf_client *c;
	struct ktbpf_err err = {0};

	if (ktbpf_client_connect(sock, &c, &err) < 0)
		die("connect", &err);
	ktbpf_client_set_timeout(c, 60000);
	return c;
}

/* A memfd of size bytes holding only im's nonzero pages at their offsets (the rest a hole). */
static int sparse_memfd(const struct kit_image *im, uint64_t size)
{
	int fd = memfd_create("bench-guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	static const char zero[4096];

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		die("memfd", NULL);
	for (uint64_t off = 0; off + 4096 <= im->size && off + 4096 <= size; off += 4096)
		if (memcmp(im->buf + off, zero, 4096) &&
		    pwrite(fd, im->buf + off, 4096, (off_t)off) != 4096)
			die("pwrite", NULL);
	/* As QEMU's memory-backend-memfd (seal=on): the daemon maps what cannot shrink. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		die("F_ADD_SEALS", NULL);
	return fd;
}

static void register_vm(struct ktbpf_client *c, const char *name, int fd, uint64_t gpa,
			uint64_t size, uint32_t cpus)
{
	struct ktbpf_client_region r = {.gpa = gpa, .size = size, .fd = fd};
	struct ktbpf_client_vm vm;
	struct ktbpf_err err = {0};

	ktbpf_client_vm_init(&vm);
	vm.name = name;
	vm.arch = "x86_64";
	vm.regions = &r;
	vm.nr_regions = 1;
	vm.cpus = cpus;
	if (ktbpf_client_register(c, &vm, NULL, &err) < 0)
		die("vm.register", &err);
}

static void wait_ready(struct ktbpf_client *c, const char *name)
{
	for (int i = 0; i < 3000; i++) {
		struct ktbpf_err err = {0};
		json_t *st = NULL;
		const char *s;

		if (ktbpf_client_status(c, name, &st, &err) < 0)
			die("vm.status", &err);
		s = json_string_value(json_object_get(st, "state"));
		if (s && !strcmp(s, "ready")) {
			json_decref(st);
			return;
		}
		if (s && !strcmp(s, "failed")) {
			fprintf(stderr, "bench-daemon: %s: %s\n", name,
				json_string_value(json_object_get(st, "reason")));
			exit(1);
		}
		json_decref(st);
		usleep(10000);
	}
	die("discovery did not finish", NULL);
}

/* One snapshot; its walk_ns (the daemon's walk alone). */
static uint64_t snapshot(struct ktbpf_client *c, const char *name)
{
	struct ktbpf_err err = {0};
	json_t *res = NULL;
	uint64_t walk;

	if (ktbpf_client_snapshot(c, name, "never", &res, &err) < 0)
		die("vm.snapshot", &err);
	walk = (uint64_t)json_integer_value(json_object_get(res, "walk_ns"));
	json_decref(res);
	return walk;
}

static long rss_anon_kib(void)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)daemon_pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* CPU time (ns) the daemon's threads have run, from /proc/PID/task/TID/schedstat. */
static uint64_t daemon_cpu_ns(void)
{
	char path[320], line[128];
	uint64_t sum = 0;
	DIR *dir;
	struct dirent *de;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)daemon_pid);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((de = readdir(dir))) {
		unsigned long long ns;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", (int)daemon_pid,
			 de->d_name);
		f = fopen(path, "r");
		if (f && fgets(line, sizeof(line), f) && sscanf(line, "%llu", &ns) == 1)
			sum += ns;
		if (f)
			fclose(f);
	}
	closedir(dir);
	return sum;
}

/* CPU time (ns) this process has run. */
static uint64_t self_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

#define THREADS	    8
#define THREAD_SECS 3

static volatile int stop_threads;

static void *hammer(void *arg)
{
	struct ktbpf_client *c = connect_or_die();
	uint64_t *n = arg;

	while (!stop_threads) {
		snapshot(c, "big");
		(*n)++;
	}
	ktbpf_client_free(c);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *bin = argc > 1 ? argv[1] : getenv("KTBPFD");
	int rounds = argc > 2 ? atoi(argv[2]) : 2000;
	char dir[] = "/tmp/bench-daemon-XXXXXX";
	struct kit_guest_opts o = {.kernel = {.l5 = true, .nr_cpus = 64}, .nr_struct_ops = 64};
	struct kit_guest *g, *small;
	struct ktbpf_client *c;
	uint64_t *lat, *walk, counts[THREADS] = {0}, total = 0, t0, t1, cpu_d, cpu_c;
	pthread_t th[THREADS];
	long rss0, rss1;
	int fd;

	if (!bin || rounds < 10) {
		fprintf(stderr, "usage: bench-daemon KTBPFD [ROUND_TRIPS>=10] (or $KTBPFD)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		die("mkdtemp", NULL);
	start_daemon(bin, dir);
	c = connect_or_die();

	/* 1. Round trips on the 64 x 64 guest. */
	g = kit_guest_new(&o);
	fd = sparse_memfd(g->im, g->im->size);
	register_vm(c, "big", fd, g->im->gpa_base, g->im->size, 64);
	close(fd);
	wait_ready(c, "big");
	for (int i = 0; i < 200; i++) /* warm-up */
		snapshot(c, "big");
	lat = calloc((size_t)rounds, sizeof(*lat));
	walk = calloc((size_t)rounds, sizeof(*walk));
	cpu_d = daemon_cpu_ns();
	cpu_c = self_cpu_ns();
	for (int i = 0; i < rounds; i++) {
		uint64_t a = now_ns();

		walk[i] = snapshot(c, "big");
		lat[i] = now_ns() - a;
	}
	cpu_d = daemon_cpu_ns() - cpu_d;
	cpu_c = self_cpu_ns() - cpu_c;
	qsort(lat, (size_t)rounds, sizeof(*lat), cmp_u64);
	qsort(walk, (size_t)rounds, sizeof(*walk), cmp_u64);
	printf("vm.snapshot round trip, 64 progs x 64 CPUs, 5-level, freeze=never, %d trips:\n"
	       "  p50 %.1f us   p90 %.1f us   p99 %.1f us   max %.1f us   (goal p50 <= 200, p99 "
	       "<= 1000)\n",
	       rounds, lat[rounds / 2] / 1e3, lat[rounds * 9 / 10] / 1e3,
	       lat[rounds * 99 / 100] / 1e3, lat[rounds - 1] / 1e3);
	printf("  of which the walk (walk_ns): p50 %.1f us   p99 %.1f us\n", walk[rounds / 2] / 1e3,
	       walk[rounds * 99 / 100] / 1e3);
	printf("  CPU per round trip: daemon %.1f us (walk, answer, wire), client %.1f us "
	       "(request, "
	       "parse)\n",
	       cpu_d / 1e3 / rounds, cpu_c / 1e3 / rounds);
	free(lat);
	free(walk);

	/* 2. Eight clients at once. */
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, hammer, &counts[i]);
	t0 = now_ns();
	sleep(THREAD_SECS);
	stop_threads = 1;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		total += counts[i];
	}
	t1 = now_ns();
	printf("%d clients at once for %.1f s: %" PRIu64 " snapshots, %.0f snapshots/s in total "
	       "(goal >= 5000)\n",
	       THREADS, (t1 - t0) / 1e9, total, total / ((t1 - t0) / 1e9));
	{
		struct ktbpf_err err = {0};

		ktbpf_client_unregister(c, "big", &err);
	}
	kit_guest_free(g);

	/* 3. 64 guests of 1 GiB, one kernel. */
	{
		struct kit_guest_opts so = {.kernel = {.nr_cpus = 8}, .nr_struct_ops = 8};
		const uint64_t gib = 1ull << 30;
		char name[32];

		small = kit_guest_new(&so);
		usleep(200000);
		rss0 = rss_anon_kib();
		t0 = now_ns();
		for (int i = 0; i < 64; i++) {
			snprintf(name, sizeof(name), "g%d", i);
			fd = sparse_memfd(small->im, gib);
			register_vm(c, name, fd, small->im->gpa_base, gib, 8);
			close(fd);
		}
		for (int i = 0; i < 64; i++) {
			snprintf(name, sizeof(name), "g%d", i);
			wait_ready(c, name);
			snapshot(c, name);
		}
		t1 = now_ns();
		usleep(200000);
		rss1 = rss_anon_kib();
		printf("64 registered 1 GiB guests of one kernel (8 progs x 8 CPUs), discovered "
		       "and "
		       "snapshotted in %.2f s:\n"
		       "  daemon RssAnon %.1f MiB (%.1f MiB before them; goal < 32 MiB)\n",
		       (t1 - t0) / 1e9, rss1 / 1024.0, rss0 / 1024.0);
		kit_guest_free(small);
	}
	ktbpf_client_free(c);
	kill(daemon_pid, SIGTERM);
	waitpid(daemon_pid, NULL, 0);
	{
		char p[160];

		snprintf(p, sizeof(p), "%s/ktbpfd.log", dir);
		unlink(p);
		rmdir(dir);
	}
	return 0;
}
