/* SPDX-License-Identifier: MIT */
/*
 * `ktbpfctl top` against the real ktbpfd with a kit guest in a memfd whose
 * counters the test changes between two of top's snapshots (it reads top's
 * output line by line: a change made right after a period's line lands in the
 * next period). The rates top prints are held to bpftop's arithmetic over the
 * period top reports, and the deltas to what the test wrote. On a terminal
 * (a pty the test holds the master of) the keys that change the sort column
 * and quit are typed into it, and the terminal's modes checked during and
 * after.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "daemon-client.h"
#include "kit-guest.h"

static struct daemon_proc dp;

struct proc {
	pid_t pid;
	int out;
	tcflag_t end_lflag; /* on a pty: the terminal's local modes once top ended */
	char buf[1 << 16];
	size_t len;
};

/* Register g as topkit, ready; returns its memfd (the test changes the guest through it). */
static int register_kit(struct client *c, struct kit_guest *g)
{
	int fd;

	vm_register(c, g, &(struct vm_reg){.name = "topkit", .ret_memfd = &fd});
	vm_assert_ready(c, "topkit");
	return fd;
}
/*
 * Start `ktbpfctl top topkit ARGS... --socket SOCK` with stdout on a pipe,
 * or with pty on a new pseudo-terminal (its controlling terminal, stdin and
 * stdout): p->out is then the master (tcgetattr() on it reads the slave's
 * modes, drivers/tty/tty_ioctl.c: tty_mode_ioctl()).
 */
static void top_spawn(struct proc *p, const char *const *args, bool pty)
{
	char *argv[24];
	const char *slave = NULL;
	int fds[2], n = 0;

	argv[n++] = getenv("KTBPFCTL");
	argv[n++] = "top";
	argv[n++] = "topkit";
	while (*args)
		argv[n++] = (char *)*args++;
	argv[n++] = "--socket";
	argv[n++] = dp.sock;
	argv[n] = NULL;
	cr_assert_not_null(argv[0], "KTBPFCTL is not set");
	if (pty) {
		fds[0] = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
		cr_assert(fds[0] >= 0 && grantpt(fds[0]) == 0 && unlockpt(fds[0]) == 0);
		slave = ptsname(fds[0]);
		cr_assert_not_null(slave);
	} else {
		cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
	}
	p->pid = fork();
	cr_assert(p->pid >= 0);
	if (!p->pid) {
		if (slave) { /* a session of its own, the pty its controlling terminal */
			setsid();
			fds[1] = open(slave, O_RDWR);
			if (fds[1] < 0)
				_exit(126);
			dup2(fds[1], 0);
		}
		dup2(fds[1], 1);
		execv(argv[0], argv);
		_exit(127);
	}
	if (!slave)
		close(fds[1]);
	p->out = fds[0];
	p->len = 0;
}

static void top_start(struct proc *p, const char *const *args)
{
	top_spawn(p, args, false);
}

/* The next line of top's output (malloc'd), within 10 s; NULL at its end. */
static char *top_line(struct proc *p)
{
	for (;;) {
		char *nl = memchr(p->buf, '\n', p->len), *line;
		struct pollfd pfd = {.fd = p->out, .events = POLLIN};
		ssize_t r;

		if (nl) {
			size_t n = (size_t)(nl - p->buf) + 1;

			line = strndup(p->buf, n - 1);
			memmove(p->buf, p->buf + n, p->len - n);
			p->len -= n;
			return line;
		}
		cr_assert(poll(&pfd, 1, 10000) > 0, "ktbpfctl top printed nothing for 10 s");
		r = read(p->out, p->buf + p->len, sizeof(p->buf) - 1 - p->len);
		if (r <= 0)
			return NULL;
		p->len += (size_t)r;
	}
}

/* Everything left of top's output, and its exit status (within 10 s). */
static int top_finish(struct proc *p, char **rest)
{
	struct pollfd pfd = {.fd = p->out, .events = POLLIN};
	pid_t done = 0;
	int st = 0;

	/* (a pty's master reads EIO once top, the last holder of its slave, is gone) */
	while (poll(&pfd, 1, 10000) > 0) {
		ssize_t r = read(p->out, p->buf + p->len, sizeof(p->buf) - 1 - p->len);

		if (r <= 0)
			break;
		p->len += (size_t)r;
	}
	for (int i = 0; i < 1000 && !done; i++)
		if (!(done = waitpid(p->pid, &st, WNOHANG)))
			usleep(10000);
	if (!done) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, &st, 0);
		cr_assert_fail("ktbpfctl top did not exit within 10 s");
	}
	p->buf[p->len] = '\0';
	if (rest)
		*rest = strdup(p->buf);
	if (isatty(p->out)) {
		struct termios t;

		cr_assert_eq(tcgetattr(p->out, &t), 0);
		p->end_lflag = t.c_lflag;
	}
	close(p->out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const json_t *prog_by_id(const json_t *line, uint64_t id)
{
	const json_t *p;
	size_t i;

	json_array_foreach(json_object_get(line, "progs"), i,
			   p) if ((uint64_t)json_integer_value(json_object_get(p, "id")) ==
				  id) return p;
	cr_assert_fail("program %llu not in %s", (unsigned long long)id, json_dumps(line, 0));
	return NULL;
}

static int64_t iget(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	cr_assert(json_is_integer(v), "%s is not an integer in %s", key, json_dumps(o, 0));
	return json_integer_value(v);
}

static double rget(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	cr_assert(json_is_number(v), "%s is not a number in %s", key, json_dumps(o, 0));
	return json_number_value(v);
}

/* x rounded to three decimals, as top prints it. */
static double r3(double x)
{
	return (double)(uint64_t)(x * 1000.0 + 0.5) / 1000.0;
}

Test(top, json_lines_rates_are_bpftops_arithmetic_over_the_counters_the_test_changed)
{
	struct kit_guest_opts o = {.kernel = {.nr_cpus = 2}, .no_other_progs = true};
	struct kit_guest *g = kit_guest_new(&o);
	struct proc top;
	struct client *vmm;
	json_t *l1, *l2;
	const json_t *a, *b, *tot;
	uint32_t ia = 0, ib = 1;
	uint64_t ida, idb;
	double period;
	char *line, *rest;
	int memfd;

	daemon_start(&dp, NULL);
	vmm = client_new(&dp);
	memfd = register_kit(vmm, g);
	ida = g->progs[ia].id;
	idb = g->progs[ib].id;
	top_start(&top, (const char *const[]){"--json-lines", "--interval", "0.5", "--count", "2",
					      "--sort", "name", NULL});
	line = top_line(&top);
	cr_assert_not_null(line);
	l1 = json_loads(line, 0, NULL);
	cr_assert_not_null(l1, "not JSON: %s", line);
	free(line);
	/* nothing ran in the first period */
	cr_assert_eq(iget(json_object_get(l1, "total"), "run_cnt_delta"), 0, "%s",
		     json_dumps(l1, 0));
	cr_assert_str_eq(json_string_value(json_object_get(prog_by_id(l1, ida), "state")), "both");
	cr_assert(json_is_true(json_object_get(l1, "stats_enabled")));
	/* during the second: a runs 1000 times for 250 us, b 10 times for 5 us (on two CPUs) */
	guest_bump(g, memfd, ia, 0, 600, 150000);
	guest_bump(g, memfd, ia, 1, 400, 100000);
	guest_bump(g, memfd, ib, 1, 10, 5000);
	line = top_line(&top);
	cr_assert_not_null(line);
	l2 = json_loads(line, 0, NULL);
	cr_assert_not_null(l2, "not JSON: %s", line);
	free(line);
	period = (double)iget(l2, "period_ns");
	cr_assert(period > 0.4e9 && period < 3e9, "period %f ns for --interval 0.5", period);
	a = prog_by_id(l2, ida);
	b = prog_by_id(l2, idb);
	cr_assert_eq(iget(a, "run_cnt_delta"), 1000);
	cr_assert_eq(iget(a, "run_time_ns_delta"), 250000);
	cr_assert_eq(iget(b, "run_cnt_delta"), 10);
	cr_assert_eq(iget(b, "run_time_ns_delta"), 5000);
	cr_assert_eq(iget(a, "run_cnt"), (int64_t)g->progs[ia].cnt);
	cr_assert_eq(rget(a, "avg_ns"), 250.0);
	cr_assert_eq(rget(b, "avg_ns"), 500.0);
	cr_assert_eq(rget(a, "events_per_s"), r3(1000 * 1e9 / period), "%s", json_dumps(a, 0));
	cr_assert_eq(rget(a, "cpu_percent"), r3(250000 * 100.0 / period), "%s", json_dumps(a, 0));
	cr_assert_eq(rget(b, "cpu_percent"), r3(5000 * 100.0 / period), "%s", json_dumps(b, 0));
	tot = json_object_get(l2, "total");
	cr_assert_eq(iget(tot, "run_cnt_delta"), 1010);
	cr_assert_eq(iget(tot, "run_time_ns_delta"), 255000);
	cr_assert_eq(rget(tot, "avg_ns"), r3(255000.0 / 1010));
	cr_assert_eq(rget(tot, "events_per_s"), r3(1010 * 1e9 / period));
	/* sorted by name */
	for (size_t i = 1; i < json_array_size(json_object_get(l2, "progs")); i++)
		cr_assert_leq(
			strcmp(json_string_value(json_object_get(
				       json_array_get(json_object_get(l2, "progs"), i - 1),
				       "name")),
			       json_string_value(json_object_get(
				       json_array_get(json_object_get(l2, "progs"), i), "name"))),
			0);
	cr_assert_eq(top_finish(&top, &rest), 0, "top did not stop after --count 2");
	cr_assert_str_eq(rest, "", "more than --count lines: %s", rest);
	free(rest);
	json_decref(l1);
	json_decref(l2);
	close(memfd);
	client_free(vmm);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(top, plain_table_off_a_terminal_has_totals_sorted_by_cpu_and_no_escapes)
{
	struct kit_guest_opts o = {.kernel = {.nr_cpus = 2}, .no_other_progs = true};
	struct kit_guest *g = kit_guest_new(&o);
	struct proc top;
	struct client *vmm;
	char *line, *rest, *busy, *idle;
	int memfd;

	daemon_start(&dp, NULL);
	vmm = client_new(&dp);
	memfd = register_kit(vmm, g);
	top_start(&top, (const char *const[]){"--interval", "0.3", "--seconds", "0.6", "--sort",
					      "cpu", NULL});
	line = top_line(&top);
	cr_assert_not_null(strstr(line, "ktbpfctl top topkit"), "%s", line);
	free(line);
	/* the last program becomes the busiest */
	guest_bump(g, memfd, g->nr_progs - 1, 0, 5, 900000);
	cr_assert_eq(top_finish(&top, &rest), 0);
	cr_assert_null(strchr(rest, '\033'), "escape sequences off a terminal: %s", rest);
	cr_assert_null(strstr(rest, "q quit"), "a footer of keys off a terminal: %s", rest);
	/* the second period's table: its first row is the busy program, then TOTAL last */
	busy = strstr(rest, "ktbpfctl top topkit");
	cr_assert_not_null(busy, "two periods for --seconds 0.6 --interval 0.3: %s", rest);
	busy = strchr(strstr(busy, "EVENTS/S"), '\n') + 1;
	cr_assert_not_null(strstr(busy, g->progs[g->nr_progs - 1].name));
	cr_assert(strstr(busy, g->progs[g->nr_progs - 1].name) < strchr(busy, '\n'),
		  "the busiest program is not first with --sort cpu: %s", busy);
	idle = strstr(busy, "TOTAL");
	cr_assert_not_null(idle, "no TOTAL row: %s", rest);
	cr_assert_not_null(strstr(idle, "180000"), "TOTAL's avg ns (900000/5): %s", idle);
	free(rest);
	close(memfd);
	client_free(vmm);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(top, ctrl_c_ends_it_with_status_0_after_its_periods)
{
	struct kit_guest_opts o = {.kernel = {.nr_cpus = 2}, .no_other_progs = true};
	struct kit_guest *g = kit_guest_new(&o);
	struct proc top;
	struct client *vmm;
	char *line, *rest;
	int memfd;

	daemon_start(&dp, NULL);
	vmm = client_new(&dp);
	memfd = register_kit(vmm, g);
	top_start(&top, (const char *const[]){"--interval", "0.2", "--json-lines", NULL});
	line = top_line(&top); /* a period printed: top runs, with no end of its own */
	free(line);
	cr_assert_eq(kill(top.pid, SIGINT), 0);
	cr_assert_eq(top_finish(&top, &rest), 0, "ktbpfctl top after SIGINT: not exit 0");
	free(rest);
	close(memfd);
	client_free(vmm);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

/* The screen up to and including the next footer line (malloc'd): one table as drawn. */
static char *top_screen(struct proc *p)
{
	size_t len = 0;
	char *screen = NULL, *line;

	while ((line = top_line(p))) {
		screen = realloc(screen, len + strlen(line) + 2);
		cr_assert_not_null(screen);
		len += (size_t)sprintf(screen + len, "%s\n", line);
		if (strstr(line, "q quit")) {
			free(line);
			return screen;
		}
		free(line);
	}
	cr_assert_fail("top ended without a footer; it printed: %s", screen ? screen : "");
	return NULL;
}

/* The first program row of a screen: its id and average ns. */
static void first_row(const char *screen, uint64_t *id, double *avg_ns)
{
	const char *row = strstr(screen, "MISSES");
	unsigned long long i;
	char name[64], im[160];
	double ev, ns;

	cr_assert_not_null(row, "no heading: %s", screen);
	row = strchr(row, '\n') + 1;
	cr_assert_eq(sscanf(row, "%llu %63s %159s %lf %lf", &i, name, im, &ev, &ns), 5,
		     "not a program row: %s", screen);
	*id = i;
	*avg_ns = ns;
}

/* The screen's heading shows title as the sort column (reverse video) and no other. */
static void assert_sorted_by(const char *screen, const char *title)
{
	const char *on = strstr(screen, "\033[7m"), *off = on ? strstr(on, "\033[0m") : NULL;
	char marked[64] = "";

	cr_assert(on && off, "no sort column marked: %s", screen);
	sscanf(on + 4, "%63[^ \033]", marked);
	if (marked[0] == '\0')
		sscanf(on + 4, " %63[^ \033]", marked);
	cr_assert_str_eq(marked, title, "the sort column is not %s: %s", title, screen);
	cr_assert_null(strstr(off, "\033[7m"), "two sort columns: %s", screen);
}

/* Press key on top's terminal; the screen it redraws (malloc'd), sorted by title. */
static char *press(struct proc *p, const char *key, const char *title)
{
	char *screen;

	cr_assert_eq(write(p->out, key, strlen(key)), (ssize_t)strlen(key));
	screen = top_screen(p);
	assert_sorted_by(screen, title);
	return screen;
}

static tcflag_t lflag(int fd)
{
	struct termios t;

	cr_assert_eq(tcgetattr(fd, &t), 0);
	return t.c_lflag;
}

Test(top, keys_on_a_terminal_change_the_sort_and_q_quits_with_the_terminal_restored)
{
	struct kit_guest_opts o = {.kernel = {.nr_cpus = 2}, .no_other_progs = true};
	struct kit_guest *g = kit_guest_new(&o);
	struct proc top;
	struct client *vmm;
	char *screen, *rest;
	uint64_t id, ida, idb;
	double avg;
	tcflag_t before;
	int memfd;

	daemon_start(&dp, NULL);
	vmm = client_new(&dp);
	memfd = register_kit(vmm, g);
	ida = g->progs[0].id;
	idb = g->progs[1].id;
	cr_assert_lt(ida, idb);
	top_spawn(&top, (const char *const[]){"--interval", "1", NULL}, true);
	before = lflag(top.out);
	cr_assert(before & ICANON && before & ECHO, "a new pty is canonical with echo");
	screen = top_screen(&top);
	cr_assert_not_null(strstr(screen, "\033[H\033[2J"), "not redrawn: %s", screen);
	cr_assert_eq(lflag(top.out) & (ICANON | ECHO), 0, "top's terminal is not in raw mode");
	cr_assert_eq(lflag(top.out) & ISIG, ISIG, "Ctrl-C must stay a signal");
	free(screen);
	/* the next period: a runs often and fast (avg 100 ns), b rarely and slowly (5000 ns) */
	guest_bump(g, memfd, 0, 0, 1000, 100000);
	guest_bump(g, memfd, 1, 1, 10, 50000);
	screen = top_screen(&top);
	assert_sorted_by(screen, "EVENTS/S");
	first_row(screen, &id, &avg);
	cr_assert_eq(id, ida, "by events a is first: %s", screen);
	cr_assert_eq(avg, 100.0, "%s", screen);
	free(screen);
	/* n: the same period redrawn at once by AVG_NS (a new period would show no runs) */
	screen = press(&top, "n", "AVG_NS");
	first_row(screen, &id, &avg);
	cr_assert(id == idb && avg == 5000.0, "by avg ns b (5000) is first: %s", screen);
	free(screen);
	/* Right from AVG_NS is CPU% (a's 0.01 % over b's 0.005 %) */
	screen = press(&top, "\033[C", "CPU%");
	first_row(screen, &id, &avg);
	cr_assert(id == ida && avg == 100.0, "by CPU %% a is first: %s", screen);
	free(screen);
	/* Right again wraps around to ID (MISSES and INTERFACE.MEMBER do not sort), then p NAME */
	free(press(&top, "\033[C", "ID"));
	screen = press(&top, "p", "NAME");
	cr_assert_not_null(strstr(screen, "sort: e EVENTS/S  n AVG_NS  c CPU%  i ID  p NAME"),
			   "the footer lists the keys: %s", screen);
	free(screen);
	cr_assert_eq(write(top.out, "q", 1), 1);
	cr_assert_eq(top_finish(&top, &rest), 0, "q: exit 0; after: %s", rest);
	free(rest);
	cr_assert_eq(top.end_lflag, before, "the terminal's modes are not restored after q");
	close(memfd);
	client_free(vmm);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(top, ctrl_c_on_its_terminal_restores_the_terminal_and_exits_0)
{
	struct kit_guest_opts o = {.kernel = {.nr_cpus = 2}, .no_other_progs = true};
	struct kit_guest *g = kit_guest_new(&o);
	struct proc top;
	struct client *vmm;
	tcflag_t before;
	int memfd;

	daemon_start(&dp, NULL);
	vmm = client_new(&dp);
	memfd = register_kit(vmm, g);
	top_spawn(&top, (const char *const[]){"--interval", "0.2", NULL}, true);
	before = lflag(top.out);
	free(top_screen(&top));
	cr_assert_eq(lflag(top.out) & (ICANON | ECHO), 0, "top's terminal is not in raw mode");
	/* Ctrl-C typed: the pty's line discipline sends SIGINT to top's process group */
	cr_assert_eq(write(top.out, "\003", 1), 1);
	cr_assert_eq(top_finish(&top, NULL), 0, "Ctrl-C: exit 0");
	cr_assert_eq(top.end_lflag, before, "the terminal's modes are not restored after Ctrl-C");
	close(memfd);
	client_free(vmm);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(top, ctrl_z_gives_the_terminal_back_and_fg_takes_it_raw_again)
{
	struct kit_guest_opts o = {.kernel = {.nr_cpus = 2}, .no_other_progs = true};
	struct kit_guest *g = kit_guest_new(&o);
	struct proc top;
	struct client *vmm;
	tcflag_t before;
	int memfd, st, i;

	daemon_start(&dp, NULL);
	vmm = client_new(&dp);
	memfd = register_kit(vmm, g);
	top_spawn(&top, (const char *const[]){"--interval", "0.2", NULL}, true);
	before = lflag(top.out);
	free(top_screen(&top));
	/* Ctrl-Z typed: stopped, with the terminal as it was before */
	cr_assert_eq(write(top.out, "\032", 1), 1);
	for (i = 0; i < 500 && !waitpid(top.pid, &st, WNOHANG | WUNTRACED); i++)
		usleep(10000);
	cr_assert(i < 500 && WIFSTOPPED(st), "Ctrl-Z did not stop top");
	cr_assert_eq(lflag(top.out), before, "a stopped top left the terminal raw");
	/* fg: raw again, and it runs on */
	cr_assert_eq(kill(top.pid, SIGCONT), 0);
	for (i = 0; i < 200 && lflag(top.out) & ICANON; i++)
		usleep(10000);
	cr_assert_eq(lflag(top.out) & (ICANON | ECHO), 0, "not raw again after SIGCONT");
	free(top_screen(&top));
	cr_assert_eq(write(top.out, "q", 1), 1);
	cr_assert_eq(top_finish(&top, NULL), 0);
	cr_assert_eq(top.end_lflag, before, "the terminal's modes are not restored after q");
	close(memfd);
	client_free(vmm);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(top, disabled_runtime_stats_are_said_in_a_line_and_in_json)
{
	struct kit_guest_opts o = {.stats_key = KIT_STATS_DISABLED};
	struct kit_guest *g = kit_guest_new(&o);
	struct proc top;
	struct client *vmm;
	char *rest;
	json_t *j;
	int memfd;

	daemon_start(&dp, NULL);
	vmm = client_new(&dp);
	memfd = register_kit(vmm, g);
	top_start(&top, (const char *const[]){"--interval", "0.2", "--count", "1", NULL});
	cr_assert_eq(top_finish(&top, &rest), 0);
	cr_assert_not_null(strstr(rest, "runtime stats are DISABLED in the guest "
					"(kernel.bpf_stats_enabled=0)"),
			   "%s", rest);
	free(rest);
	top_start(&top,
		  (const char *const[]){"--interval", "0.2", "--count", "1", "--json-lines", NULL});
	cr_assert_eq(top_finish(&top, &rest), 0);
	j = json_loads(rest, 0, NULL);
	cr_assert_not_null(j, "%s", rest);
	cr_assert(json_is_false(json_object_get(j, "stats_enabled")), "%s", rest);
	json_decref(j);
	free(rest);
	close(memfd);
	client_free(vmm);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(top, unknown_vm_and_bad_options_fail_with_their_statuses)
{
	struct proc top;

	daemon_start(&dp, NULL);
	top_start(&top, (const char *const[]){"--count", "1", NULL});
	cr_assert_eq(top_finish(&top, NULL), 1, "an unregistered VM");
	top_start(&top, (const char *const[]){"--sort", "size", NULL});
	cr_assert_eq(top_finish(&top, NULL), 2);
	top_start(&top, (const char *const[]){"--interval", "0.01", NULL});
	cr_assert_eq(top_finish(&top, NULL), 2);
	top_start(&top, (const char *const[]){"--count", "2", "--seconds", "1", NULL});
	cr_assert_eq(top_finish(&top, NULL), 2);
	daemon_stop_ok(&dp);
}

Test(top, a_guest_not_discovered_is_said_each_period_then_exit_4)
{
	static char zeros[1 << 20];
	struct client *vmm;
	struct proc top;
	char *rest, *line;
	int fd = unit_memfd(zeros, sizeof(zeros)), n = 0;

	daemon_start(&dp, NULL);
	vmm = client_new(&dp);
	client_call_code(vmm, "vm.register",
			 "{\"name\":\"topkit\",\"arch\":\"x86_64\",\"fds\":1,\"can_freeze\":false,"
			 "\"regions\":[{\"gpa\":0,\"size\":1048576,\"fd\":0}]}",
			 &fd, 1, 0);
	top_start(&top,
		  (const char *const[]){"--json-lines", "--interval", "0.2", "--count", "2", NULL});
	cr_assert_eq(top_finish(&top, &rest), 4, "never discovered: %s", rest);
	for (line = strtok(rest, "\n"); line; line = strtok(NULL, "\n"), n++) {
		json_t *j = json_loads(line, 0, NULL);

		cr_assert_not_null(json_object_get(j, "waiting"), "%s", line);
		cr_assert_str_eq(json_string_value(json_object_get(j, "vm")), "topkit");
		json_decref(j);
	}
	cr_assert_eq(n, 2, "one line per period");
	free(rest);
	close(fd);
	client_free(vmm);
	daemon_stop_ok(&dp);
}
