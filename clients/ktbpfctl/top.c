/* SPDX-License-Identifier: MIT */
/*
 * ktbpfctl top VM: a live table of a registered VM's struct_ops programs,
 * in the manner of bpftop: every period a snapshot from ktbpfd (live, the
 * guest is not frozen unless asked), and per program the events per second,
 * the average ns per call and the CPU % over the period, from the difference
 * with the previous snapshot (delta.c, shared with `ktbpfctl diff`). On a
 * terminal the screen is redrawn, and keys typed there (stdin a terminal
 * too) change the sort column or quit (term.c: raw mode, the terminal
 * restored on every way out); otherwise (a pipe, a log) each period is a
 * block of plain lines, or with --json-lines one JSON object per line.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ktbpf/client.h"
#include "ktbpf/codec.h"

#include "delta.h"
#include "ktbpfctl.h"
#include "term.h"

#define MIN_INTERVAL_MS 100u
#define MAX_INTERVAL_MS 3600000u

struct topopts {
	const char *socket, *vm, *freeze;
	uint64_t interval_ns;
	uint64_t count; /* periods to show; 0: until stopped */
	double seconds; /* stop after; 0: never */
	enum ktbpfctl_rate_sort sort;
	bool json_lines;
	bool tty;
	bool keys; /* interactive: stdin and stdout are the terminal */
	bool quit; /* q typed, or the terminal hung up */
};

/* The last table shown (its two snapshots), redrawn when a key changes the sort. */
struct shown {
	json_t *prev, *cur;
	uint64_t period_ns;
};

void ktbpfctl_top_usage(FILE *out)
{
	fputs("Usage: ktbpfctl top VM [--interval SEC] [--sort events|ns|cpu|name|id]\n"
	      "                       [--seconds N | --count N] [--json-lines]\n"
	      "                       [--freeze never|prefer|require] [--socket PATH]\n"
	      "\n"
	      "A live view of VM's struct_ops programs (any VM registered with ktbpfd, by\n"
	      "its id or name): every period ktbpfd reads the guest's counters, and per\n"
	      "program top shows, over the period, bpftop's numbers:\n"
	      "  EVENTS/S  calls per second (delta run_cnt / period)\n"
	      "  AVG_NS    average ns per call (delta run_time_ns / delta run_cnt)\n"
	      "  CPU%      delta run_time_ns / period * 100: the share of one CPU (a\n"
	      "            program busy on several CPUs shows more than 100)\n"
	      "with a TOTAL row. New programs count from their load; a program that went\n"
	      "away is listed as gone. When the guest's kernel.bpf_stats_enabled is 0 the\n"
	      "kernel does not count, and top says so instead of showing zeros as rates.\n"
	      "On a terminal the screen is redrawn each period; otherwise each period is\n"
	      "printed as plain lines (no escape sequences).\n"
	      "\nKeys on a terminal (the sort column is highlighted; a footer lists them):\n"
	      "  e  sort by EVENTS/S       n  by AVG_NS       c  by CPU%\n"
	      "  i  by ID                  p  by NAME (the program's)\n"
	      "  Left/Right  the column to the left/right   q  quit (exit 0, as Ctrl-C)\n"
	      "\nOptions:\n"
	      "  -i, --interval SEC  the period, in seconds (default 1, at least 0.1)\n"
	      "  -S, --sort KEY      events (default), ns, cpu, name or id\n"
	      "  -n, --count N       stop after N periods\n"
	      "  -t, --seconds N     stop after N seconds (N / interval periods)\n"
	      "  -J, --json-lines    one JSON object per period: {\"vm\", \"time_unix_ns\",\n"
	      "                      \"period_ns\", \"stats_enabled\", \"active\", \"progs\":\n"
	      "                      [{\"id\", \"name\", \"interface\", \"member\", \"state\",\n"
	      "                      \"run_cnt\", \"run_time_ns\", \"recursion_misses\", and\n"
	      "                      their \"..._delta\", \"events_per_s\", \"avg_ns\",\n"
	      "                      \"cpu_percent\"}], \"total\": {...}}\n"
	      "  -f, --freeze MODE   never (default: a live read), prefer or require a\n"
	      "                      frozen guest for each snapshot\n"
	      "  -s, --socket PATH   ktbpfd's socket (default: $KTBPF_SOCKET, else\n"
	      "                      " KTBPF_CLIENT_SYSTEM_SOCKET ")\n"
	      "  -h, --help          show this help\n"
	      "\nExamples:\n"
	      "  ktbpfctl top guest3\n"
	      "  ktbpfctl top vm-1 --seconds 5 --sort cpu\n"
	      "  ktbpfctl top vm-1 --json-lines --count 10 > rates.jsonl\n"
	      "\nWhile the guest kernel is not discovered (still booting, or after a reset)\n"
	      "each period says so (--json-lines: {\"vm\", \"time_unix_ns\", \"waiting\"}) and\n"
	      "top keeps asking; rates resume one period after it is found.\n"
	      "\nExit status: 0 success (stopped by --count, --seconds or a signal), 1 could\n"
	      "not answer (no daemon, no such VM, the VM went away), 2 usage error, 4 the\n"
	      "guest kernel was never discovered while top ran. See ktbpfctl(1).\n",
	      out);
}

/* SIGINT/SIGTERM/SIGHUP end top after the period it is in (exit 0, as --count would). */
static volatile sig_atomic_t stop_sig;

static void on_stop(int sig)
{
	ktbpfctl_term_restore(); /* now: another signal may end the process before top does */
	stop_sig = sig;
}

static void catch_stop(void)
{
	struct sigaction sa = {.sa_handler = on_stop}; /* no SA_RESTART: the sleep wakes */
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A positive number of seconds ("1", "0.5"). */
static int parse_seconds(const char *s, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > 1e9)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int parse(struct topopts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"interval", required_argument, NULL, 'i'},
		{"sort", required_argument, NULL, 'S'},
		{"count", required_argument, NULL, 'n'},
		{"seconds", required_argument, NULL, 't'},
		{"json-lines", no_argument, NULL, 'J'},
		{"freeze", required_argument, NULL, 'f'},
		{"socket", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	double sec;
	char *end;
	int c, k;

	optind = 1;
	while ((c = getopt_long(argc, argv, "i:S:n:t:Jf:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (parse_seconds(optarg, &sec) < 0 || sec * 1000 < MIN_INTERVAL_MS ||
			    sec * 1000 > MAX_INTERVAL_MS)
				return ktbpfctl_fail(
					"top", false, KTBPFCTL_EXIT_USAGE,
					"--interval '%s': seconds between 0.1 and 3600", optarg);
			o->interval_ns = (uint64_t)(sec * 1e9 + 0.5);
			break;
		case 'S':
			k = ktbpfctl_rate_sort_parse(optarg);
			if (k < 0)
				return ktbpfctl_fail("top", false, KTBPFCTL_EXIT_USAGE,
						     "--sort '%s': use events, ns, cpu, name or id",
						     optarg);
			o->sort = (enum ktbpfctl_rate_sort)k;
			break;
		case 'n':
			errno = 0;
			o->count = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' || !o->count)
				return ktbpfctl_fail("top", false, KTBPFCTL_EXIT_USAGE,
						     "--count '%s': not a count", optarg);
			break;
		case 't':
			if (parse_seconds(optarg, &o->seconds) < 0)
				return ktbpfctl_fail("top", false, KTBPFCTL_EXIT_USAGE,
						     "--seconds '%s': not a duration", optarg);
			break;
		case 'J':
			o->json_lines = true;
			break;
		case 'f':
			if (ktbpfctl_check_freeze("top", false, optarg))
				return KTBPFCTL_EXIT_USAGE;
			o->freeze = optarg;
			break;
		case 's':
			o->socket = optarg;
			break;
		case 'h':
			ktbpfctl_top_usage(stdout);
			return KTBPFCTL_EXIT_OK;
		default:
			fprintf(stderr, "see 'ktbpfctl top --help'\n");
			return KTBPFCTL_EXIT_USAGE;
		}
	}
	if (optind < argc)
		o->vm = argv[optind++];
	if (!o->vm)
		return ktbpfctl_fail("top", false, KTBPFCTL_EXIT_USAGE,
				     "which VM? give its id or name ('ktbpfctl list')");
	if (optind < argc)
		return ktbpfctl_fail("top", false, KTBPFCTL_EXIT_USAGE, "unexpected argument '%s'",
				     argv[optind]);
	if (o->count && o->seconds)
		return ktbpfctl_fail("top", false, KTBPFCTL_EXIT_USAGE,
				     "--count and --seconds: give one of them");
	if (o->seconds) {
		uint64_t ns = (uint64_t)(o->seconds * 1e9 + 0.5);

		o->count = ns / o->interval_ns + (ns % o->interval_ns != 0);
		if (!o->count)
			o->count = 1;
	}
	return -1;
}

/* The active object in words, for the header. */
static void active_words(const json_t *snap, char *buf, size_t size)
{
	const json_t *a = json_object_get(snap, "active");

	if (json_is_true(json_object_get(a, "attached")))
		snprintf(buf, size, "%s (%s)", ktbpfctl_json_str(a, "obj_name", "unknown object"),
			 ktbpfctl_json_str(a, "interface", "?"));
	else
		snprintf(buf, size, "nothing attached");
}

static const char *stats_line(const json_t *snap)
{
	const json_t *s = json_object_get(snap, "stats_enabled");

	if (json_is_true(s))
		return NULL;
	if (json_is_false(s))
		return "runtime stats are DISABLED in the guest (kernel.bpf_stats_enabled=0): the\n"
		       "kernel does not count runs or time, so there are no rates to show. Enable\n"
		       "them in the guest: sysctl -w kernel.bpf_stats_enabled=1";
	return "runtime stats state UNKNOWN (the guest's bpf_stats_enabled_key could not be\n"
	       "read): rates may be zero because the kernel does not count";
}

/*
 * The table's columns in screen order, those that sort with their key; the
 * sort column is shown in reverse video when keys can change it.
 */
static const struct column {
	const char *title;
	int width; /* negative: left-aligned */
	enum ktbpfctl_rate_sort sort;
} columns[] = {
	{"ID", 6, KTBPFCTL_SORT_ID},
	{"NAME", -16, KTBPFCTL_SORT_NAME},
	{"INTERFACE.MEMBER", -36, KTBPFCTL_SORT_NONE},
	{"EVENTS/S", 12, KTBPFCTL_SORT_EVENTS},
	{"AVG_NS", 10, KTBPFCTL_SORT_NS},
	{"CPU%", 7, KTBPFCTL_SORT_CPU},
	{"MISSES", -6, KTBPFCTL_SORT_NONE},
};

static void print_heading(const struct topopts *o)
{
	for (size_t i = 0; i < sizeof(columns) / sizeof(columns[0]); i++) {
		bool mark = o->keys && columns[i].sort == o->sort;

		printf("%s%s%*s%s", i ? "  " : "", mark ? "\033[7m" : "", columns[i].width,
		       columns[i].title, mark ? "\033[0m" : "");
	}
	putchar('\n');
}

/* The keys, when they work. */
static void print_footer(const struct topopts *o)
{
	if (o->keys)
		printf("\nsort: e EVENTS/S  n AVG_NS  c CPU%%  i ID  p NAME  "
		       "Left/Right column  q quit\n");
}

static void print_table(const struct topopts *o, const json_t *snap, struct ktbpfctl_rates *r,
			uint64_t now)
{
	const char *why = stats_line(snap);
	char when[32], act[160];
	time_t t = (time_t)(now / 1000000000u);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	active_words(snap, act, sizeof(act));
	if (o->tty)
		fputs("\033[H\033[2J", stdout);
	printf("ktbpfctl top %s  %s  period %.3f s  active: %s\n", o->vm, when,
	       (double)r->period_ns / 1e9, act);
	if (why)
		printf("%s\n", why);
	print_heading(o);
	for (size_t i = 0; i < r->n; i++) {
		const struct ktbpfctl_rate *x = &r->v[i];
		char im[160];

		snprintf(im, sizeof(im), "%s.%s", x->iface, x->member);
		if (x->state == KTBPFCTL_RATE_GONE) {
			printf("%6" PRIu64 "  %-16s  %-36s  (gone)\n", x->id, x->name, im);
			continue;
		}
		printf("%6" PRIu64 "  %-16s  %-36s  %12.0f  %10.0f  %7.2f  %" PRIu64 "%s\n", x->id,
		       x->name, im, x->events_per_s, x->avg_ns, x->cpu_pct, x->d_misses,
		       x->state == KTBPFCTL_RATE_NEW	 ? " (new)"
		       : x->state == KTBPFCTL_RATE_RESET ? " (counters went back)"
							 : "");
	}
	printf("%6s  %-16s  %-36s  %12.0f  %10.0f  %7.2f  %" PRIu64 "\n", "", "TOTAL", "",
	       r->total.events_per_s, r->total.avg_ns, r->total.cpu_pct, r->total.d_misses);
	print_footer(o);
	if (!o->tty)
		putchar('\n');
}

static int print_json(const struct topopts *o, const json_t *snap, struct ktbpfctl_rates *r,
		      uint64_t now)
{
	json_t *j = ktbpfctl_rates_json(r);
	const json_t *a = json_object_get(snap, "active");

	if (!j)
		return -ENOMEM;
	json_object_set_new(j, "vm", json_string(o->vm));
	json_object_set_new(j, "time_unix_ns", json_integer((json_int_t)now));
	json_object_set(j, "stats_enabled", json_object_get(snap, "stats_enabled"));
	json_object_set_new(j, "active",
			    json_is_true(json_object_get(a, "attached"))
				    ? json_incref(json_object_get(a, "obj_name"))
				    : json_null());
	if (json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(15)) < 0)
		fputs("{}", stdout);
	putchar('\n');
	json_decref(j);
	return 0;
}

/* A snapshot, with the time in the middle of its round trip. */
static int take(struct ktbpf_client *c, const struct topopts *o, json_t **snap, uint64_t *at,
		struct ktbpf_err *err)
{
	uint64_t t0 = mono_ns();
	int r = ktbpf_client_snapshot(c, o->vm, o->freeze, snap, err);

	*at = t0 + (mono_ns() - t0) / 2;
	return r;
}

static void sleep_until(uint64_t deadline)
{
	struct timespec ts = {(time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u)};

	while (!stop_sig && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/*
 * A period without rates: the guest kernel is not discovered (yet, or again
 * after a reset), or the first snapshot after that is the new baseline.
 */
static void say_waiting(const struct topopts *o, const char *why)
{
	if (o->json_lines) {
		json_t *j = json_pack("{s:s, s:I, s:o}", "vm", o->vm, "time_unix_ns",
				      (json_int_t)real_ns(), "waiting", ktbpf_codec_text(why));

		if (j)
			json_dumpf(j, stdout, JSON_COMPACT);
		json_decref(j);
		putchar('\n');
		return;
	}
	if (o->tty)
		fputs("\033[H\033[2J", stdout);
	printf("ktbpfctl top %s: %s\n", o->vm, why);
	print_footer(o);
	if (!o->tty)
		putchar('\n');
}

/* One period's rates of cur over prev, printed. */
static int show(const struct topopts *o, const json_t *prev, const json_t *cur, uint64_t period)
{
	struct ktbpfctl_rates rates;
	int r = ktbpfctl_rates_compute(prev, cur, period, &rates);

	if (r < 0)
		return ktbpfctl_fail("top", false, KTBPFCTL_EXIT_FAIL,
				     "cannot compare snapshots: %s", strerror(-r));
	ktbpfctl_rates_sort(&rates, o->sort);
	if (o->json_lines)
		r = print_json(o, cur, &rates, real_ns());
	else
		print_table(o, cur, &rates, real_ns());
	ktbpfctl_rates_free(&rates);
	if (r < 0)
		return ktbpfctl_fail("top", false, KTBPFCTL_EXIT_FAIL, "out of memory");
	return KTBPFCTL_EXIT_OK;
}

static void shown_clear(struct shown *v)
{
	v->prev = (json_decref(v->prev), NULL);
	v->cur = (json_decref(v->cur), NULL);
}

/* The sort a key asks for (the arrows: the next sortable column that way), or -1. */
static int key_sort(enum ktbpfctl_rate_sort now, int key)
{
	static const char letters[] = {['e'] = KTBPFCTL_SORT_EVENTS,
				       ['n'] = KTBPFCTL_SORT_NS,
				       ['c'] = KTBPFCTL_SORT_CPU,
				       ['i'] = KTBPFCTL_SORT_ID,
				       ['p'] = KTBPFCTL_SORT_NAME};
	int n = (int)(sizeof(columns) / sizeof(columns[0])), at = 0, step;

	if (key > 0 && key < (int)sizeof(letters) && letters[key])
		return letters[key];
	if (key != KTBPFCTL_KEY_LEFT && key != KTBPFCTL_KEY_RIGHT)
		return -1;
	step = key == KTBPFCTL_KEY_LEFT ? n - 1 : 1;
	while (at < n && columns[at].sort != now)
		at++;
	for (int i = 0; i < n; i++) {
		at = (at + step) % n;
		if (columns[at].sort != KTBPFCTL_SORT_NONE)
			return columns[at].sort;
	}
	return -1;
}

/*
 * Until the monotonic deadline: asleep, or on a terminal reading keys, each
 * redrawing the last table when it changes the sort. A status to stop with.
 */
static int wait_keys(struct topopts *o, const struct shown *v, uint64_t deadline)
{
	uint64_t now;

	if (!o->keys) {
		sleep_until(deadline);
		return KTBPFCTL_EXIT_OK;
	}
	while (!stop_sig && !o->quit && (now = mono_ns()) < deadline) {
		int k = ktbpfctl_term_key((int)((deadline - now + 999999) / 1000000)), sort;

		if (k == 'q' || k == 'Q' || k < 0) { /* < 0: the terminal hung up */
			o->quit = true;
			break;
		}
		sort = key_sort(o->sort, k);
		if (sort < 0 || (enum ktbpfctl_rate_sort)sort == o->sort)
			continue;
		o->sort = (enum ktbpfctl_rate_sort)sort;
		if (v->cur) {
			int r = show(o, v->prev, v->cur, v->period_ns);

			if (r != KTBPFCTL_EXIT_OK)
				return r;
			fflush(stdout);
		}
	}
	return KTBPFCTL_EXIT_OK;
}

static int run(struct topopts *o)
{
	struct ktbpf_client *c = NULL;
	struct ktbpf_err err = {0};
	json_t *prev = NULL, *cur = NULL;
	struct shown shown = {0};
	uint64_t t_prev = 0, t_cur, start = mono_ns();
	bool rated = false;
	int r, status = KTBPFCTL_EXIT_OK;

	r = ktbpf_client_connect(o->socket, &c, &err);
	if (r < 0)
		return ktbpfctl_fail("top", false, KTBPFCTL_EXIT_FAIL, "%s", err.msg);
	r = take(c, o, &prev, &t_prev, &err);
	if (r == 0 && !o->json_lines)
		ktbpfctl_json_printable(prev);
	for (uint64_t n = 0; (r == 0 || r == -EINPROGRESS) && (!o->count || n < o->count); n++) {
		status = wait_keys(o, &shown, start + (n + 1) * o->interval_ns);
		if (stop_sig || o->quit || status != KTBPFCTL_EXIT_OK)
			break;
		r = take(c, o, &cur, &t_cur, &err);
		if (stop_sig) { /* a call cut short by the signal is no error */
			if (r == 0)
				json_decref(cur);
			r = 0;
			break;
		}
		if (r == 0 && !o->json_lines)
			ktbpfctl_json_printable(cur);
		if (r == -EINPROGRESS) {
			/* Not discovered yet, or again after a reset: say so and keep asking. */
			prev = (json_decref(prev), NULL);
			shown_clear(&shown);
			say_waiting(o, err.msg);
		} else if (r == 0 && !prev) {
			say_waiting(o, "guest kernel found: rates from the next period on");
		} else if (r == 0) {
			status = show(o, prev, cur, t_cur - t_prev);
			rated = true;
			shown_clear(&shown);
			shown = (struct shown){prev, json_incref(cur), t_cur - t_prev};
		}
		if (r == 0) {
			prev = cur;
			t_prev = t_cur;
		}
		if (status != KTBPFCTL_EXIT_OK)
			break;
		if (fflush(stdout) != 0 || ferror(stdout)) {
			status = ktbpfctl_fail("top", false, KTBPFCTL_EXIT_FAIL,
					       "cannot write the output");
			break;
		}
	}
	if (status == KTBPFCTL_EXIT_OK && r < 0 && (r != -EINPROGRESS || !rated))
		status = ktbpfctl_fail("top", false,
				       r == -EINPROGRESS ? KTBPFCTL_EXIT_NOT_READY
							 : KTBPFCTL_EXIT_FAIL,
				       "%s%s", err.msg, r == -EINPROGRESS ? " (retry later)" : "");
	json_decref(prev);
	shown_clear(&shown);
	ktbpf_client_free(c);
	return status;
}

int ktbpfctl_top(int argc, char **argv)
{
	struct topopts o = {
		.freeze = "never", .interval_ns = 1000000000u, .sort = KTBPFCTL_SORT_EVENTS};
	int r = parse(&o, argc, argv);

	if (r >= 0)
		return r;
	o.tty = !o.json_lines && isatty(STDOUT_FILENO);
	catch_stop();
	o.keys = o.tty && ktbpfctl_term_raw(STDIN_FILENO) == 0;
	r = run(&o);
	ktbpfctl_term_restore();
	return r;
}
