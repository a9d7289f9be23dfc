/* SPDX-License-Identifier: MIT */
/*
 * ktbpfctl dump VM (take a failure dump now) and ktbpfctl dumps
 * list|info|export|rm (ktbpfd's dump store), in the manner of coredumpctl:
 * list is a table, info the human report, export the JSON document (stdout
 * or -o FILE), rm removes. Exit statuses are the other daemon commands':
 * 1 when the question could not be answered (no daemon, no such VM or dump,
 * another uid's), 2 usage, 4 the guest kernel not discovered yet.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ktbpf/client.h"

#include "ktbpfctl.h"

struct dumpopts {
	const char *cmd; /* "dump" or "dumps SUB" */
	const char *sub; /* list, info, export, rm; NULL for dump */
	const char *socket, *vm, *reason, *test, *freeze, *out;
	unsigned limit;
	bool json;
	char **ids;
	int nr_ids;
};

static void dump_usage(FILE *out)
{
	fputs("Usage: ktbpfctl dump VM [--reason TEXT] [--test NAME] [--freeze MODE]\n"
	      "                        [--socket PATH] [--json]\n"
	      "\n"
	      "Take a failure dump of VM now: ktbpfd freezes the guest (through its VMM),\n"
	      "snapshots its struct_ops programs and stores the result in its dump store,\n"
	      "where 'ktbpfctl dumps' finds it later (also after a daemon restart). A VM\n"
	      "whose VMM died (detached) is dumped unfrozen, and the dump says so. Prints\n"
	      "the report: per program its counters, ns per call and the miss rate when\n"
	      "there were misses; the struct_ops instances and the active one; the\n"
	      "kernel; whether the guest was frozen; sched_ext's state and why the\n"
	      "scheduler exited (from the kernel's exit record, else the scheduler's\n"
	      "uei copy: the report says which); the variables of that scheduler when it\n"
	      "exited, else of the active object.\n"
	      "\nOptions:\n"
	      "  -r, --reason TEXT  why (a test failure message), kept in the dump\n"
	      "  -t, --test NAME    the failing test's name, kept in the dump\n"
	      "  -f, --freeze MODE  require, prefer (default) or never\n"
	      "  -s, --socket PATH  ktbpfd's socket (default: $KTBPF_SOCKET, else\n"
	      "                     " KTBPF_CLIENT_SYSTEM_SOCKET ")\n"
	      "  -j, --json         print the stored dump's JSON document\n"
	      "  -h, --help         show this help\n"
	      "\nExamples:\n"
	      "  ktbpfctl dump guest3 --test sched/test_x --reason 'watchdog stall'\n"
	      "  ktbpfctl dump vm-1 --json > dump.json\n"
	      "\nExit status: 0 success, 1 could not answer, 2 usage error, 4 the guest\n"
	      "kernel is not discovered yet. See ktbpfctl(1).\n",
	      out);
}

static void dumps_usage(FILE *out)
{
	fputs("Usage: ktbpfctl dumps list [--vm VM] [-n N] [--json]\n"
	      "       ktbpfctl dumps info ID [--json]\n"
	      "       ktbpfctl dumps export ID [-o FILE]\n"
	      "       ktbpfctl dumps rm ID...\n"
	      "\n"
	      "The failure dumps ktbpfd keeps (taken by 'ktbpfctl dump' or a test runner's\n"
	      "vm.dump), like coredumpctl(1): list them (newest first: id, time, VM, test,\n"
	      "reason, size), show one as a report, export one as JSON, remove some. You\n"
	      "see the dumps of the VMs you registered; root sees all.\n"
	      "\nOptions:\n"
	      "  -V, --vm VM        list: only this VM's dumps (its name or id)\n"
	      "  -n N               list: only the newest N\n"
	      "  -o, --output FILE  export: write FILE instead of stdout\n"
	      "  -s, --socket PATH  ktbpfd's socket (default: $KTBPF_SOCKET, else\n"
	      "                     " KTBPF_CLIENT_SYSTEM_SOCKET ")\n"
	      "  -j, --json         list, info: the JSON documents\n"
	      "  -h, --help         show this help\n"
	      "\nExamples:\n"
	      "  ktbpfctl dumps list -n 5\n"
	      "  ktbpfctl dumps info 1764494400123456-vm-1-0\n"
	      "  ktbpfctl dumps export 1764494400123456-vm-1-0 -o artifacts/dump.json\n"
	      "\nExit status: 0 success, 1 could not answer (no daemon, no such dump), 2\n"
	      "usage error. See ktbpfctl(1).\n",
	      out);
}

static void human_size(uint64_t b, char *buf, size_t size)
{
	if (b < 10240)
		snprintf(buf, size, "%" PRIu64 "B", b);
	else if (b < 10 << 20)
		snprintf(buf, size, "%.1fK", (double)b / 1024);
	else
		snprintf(buf, size, "%.1fM", (double)b / (1 << 20));
}

/* sched_ext's exit in one line, up front: what a person reads a failure dump for. */
static void print_exit(const json_t *snap)
{
	const json_t *x = json_object_get(snap, "sched_ext"), *e = json_object_get(x, "exit");
	const char *src = ktbpfctl_json_str(e, "source", "");

	if (!json_is_object(e) || !json_integer_value(json_object_get(e, "kind")))
		return;
	printf("sched_ext     %s exited: %s, '%s' (%s)\n",
	       ktbpfctl_json_str(json_object_get(snap, "vars"), "object", "the scheduler"),
	       ktbpfctl_json_str(e, "kind_name", "unknown kind"), ktbpfctl_json_str(e, "msg", ""),
	       !strcmp(src, "uei") ? "its uei copy" : "the kernel's exit record");
}

/* The human report of a stored dump document. */
static void print_report(const json_t *doc)
{
	const json_t *fr = json_object_get(doc, "freeze"), *snap = json_object_get(doc, "snapshot"),
		     *p;
	char sz[32], csz[32];
	bool misses = false;
	size_t i;

	human_size(ktbpfctl_json_u64(doc, "size"), sz, sizeof(sz));
	human_size(ktbpfctl_json_u64(doc, "compressed_size"), csz, sizeof(csz));
	printf("dump          %s\n"
	       "time          %s\n"
	       "vm            %s (%s)%s\n"
	       "test          %s\n"
	       "reason        %s\n",
	       ktbpfctl_json_str(doc, "dump", "?"), ktbpfctl_json_str(doc, "time", "?"),
	       ktbpfctl_json_str(doc, "vm", "?"), ktbpfctl_json_str(doc, "vm_id", "?"),
	       json_is_true(json_object_get(doc, "detached")) ? ", detached (its VMM was gone)"
							      : "",
	       ktbpfctl_json_str(doc, "test", "-"), ktbpfctl_json_str(doc, "reason", "-"));
	if (json_is_true(json_object_get(doc, "frozen")))
		printf("frozen        yes (freeze %s), vCPUs paused during the walk\n",
		       ktbpfctl_json_str(fr, "mode", "?"));
	else
		printf("frozen        no (freeze %s): %s\n", ktbpfctl_json_str(fr, "mode", "?"),
		       ktbpfctl_json_str(fr, "why", "the walk ran on a live guest"));
	if (json_object_get(doc, "size"))
		printf("size          %s JSON, %s stored\n", sz, csz);
	print_exit(snap);
	json_array_foreach(json_object_get(snap, "progs"), i, p)
	{
		uint64_t m = ktbpfctl_json_u64(p, "recursion_misses"),
			 cnt = ktbpfctl_json_u64(p, "run_cnt");

		if (!m)
			continue;
		if (!misses)
			printf("misses        (programs not run because of recursion)\n");
		misses = true;
		printf("  %-16s %s.%s: %" PRIu64 " misses, %.2f%% of %" PRIu64 " calls\n",
		       ktbpfctl_json_str(p, "name", "?"), ktbpfctl_json_str(p, "interface", "?"),
		       ktbpfctl_json_str(p, "member", "?"), m,
		       100.0 * (double)m / (double)(cnt + m), cnt + m);
	}
	putchar('\n');
	if (json_is_object(snap))
		ktbpfctl_render_snapshot(snap);
}

static void print_list(const json_t *res)
{
	const json_t *dumps = json_object_get(res, "dumps"), *d;
	size_t i;

	printf("%-32s  %-27s  %-16s  %-24s  %-24s  %7s\n", "ID", "TIME", "VM", "TEST", "REASON",
	       "SIZE");
	json_array_foreach(dumps, i, d)
	{
		char sz[32];

		human_size(ktbpfctl_json_u64(d, "compressed_size"), sz, sizeof(sz));
		printf("%-32s  %-27s  %-16.16s  %-24.24s  %-24.24s  %7s\n",
		       ktbpfctl_json_str(d, "dump", "?"), ktbpfctl_json_str(d, "time", "?"),
		       ktbpfctl_json_str(d, "vm", "?"), ktbpfctl_json_str(d, "test", "-"),
		       ktbpfctl_json_str(d, "reason", "-"), sz);
	}
	if (!json_array_size(dumps))
		printf("(no dumps)\n");
}

/* doc as one line of JSON to f; -EIO when it could not all be written. */
static int dump_json(const json_t *doc, FILE *f)
{
	if (json_dumpf(doc, f, JSON_COMPACT | JSON_SORT_KEYS) < 0 || fputc('\n', f) == EOF ||
	    fflush(f) != 0 || ferror(f))
		return -EIO;
	return 0;
}

/*
 * doc into path, whole or not at all: written to a temporary file in path's
 * directory (so the rename stays on one file system), renamed over path once
 * complete, and removed on any failure. A harness that stores the export next
 * to its artifacts never finds half a document, and an older file at path
 * stays as it was when the export fails. The file gets fopen()'s mode
 * (0666 less the umask), not mkstemp()'s 0600.
 */
static int write_file(const char *path, const json_t *doc)
{
	const char *slash = strrchr(path, '/');
	char *tmp = NULL;
	mode_t mask;
	FILE *f = NULL;
	int fd, r = 0;

	if (asprintf(&tmp, "%.*s.%s.XXXXXX", slash ? (int)(slash - path + 1) : 0, path,
		     slash ? slash + 1 : path) < 0)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		free(tmp);
		return r;
	}
	mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0666 & ~mask) < 0 || !(f = fdopen(fd, "w")))
		r = -errno;
	if (!r)
		r = dump_json(doc, f);
	if (!r && fsync(fileno(f)) < 0)
		r = -errno;
	if (f ? fclose(f) != 0 : close(fd) < 0)
		r = r ? r : -EIO;
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	free(tmp);
	return r;
}

static int write_json(const struct dumpopts *o, const json_t *doc)
{
	int r;

	if (o->out && strcmp(o->out, "-")) {
		r = write_file(o->out, doc);
		if (r < 0)
			return ktbpfctl_fail(o->cmd, false, KTBPFCTL_EXIT_FAIL,
					     "cannot write %s: %s (nothing written)", o->out,
					     strerror(-r));
		return KTBPFCTL_EXIT_OK;
	}
	if (dump_json(doc, stdout) < 0)
		return ktbpfctl_fail(o->cmd, false, KTBPFCTL_EXIT_FAIL, "cannot write the output");
	return KTBPFCTL_EXIT_OK;
}

static int run(struct dumpopts *o)
{
	struct ktbpf_client *c = NULL;
	struct ktbpf_err err = {0};
	json_t *res = NULL, *doc = NULL;
	int r, status = KTBPFCTL_EXIT_OK;

	r = ktbpf_client_connect(o->socket, &c, &err);
	if (r < 0)
		return ktbpfctl_fail(o->cmd, false, KTBPFCTL_EXIT_FAIL, "%s", err.msg);
	if (!o->sub) {
		r = ktbpf_client_dump(c, o->vm, o->freeze, o->reason, o->test, &res, &err);
		if (r == 0)
			r = ktbpf_client_dump_get(c, ktbpfctl_json_str(res, "dump", ""), &doc,
						  &err);
	} else if (!strcmp(o->sub, "list")) {
		r = ktbpf_client_dump_list(c, o->vm, o->limit, &res, &err);
	} else if (!strcmp(o->sub, "rm")) {
		for (int i = 0; i < o->nr_ids; i++) {
			r = ktbpf_client_dump_delete(c, o->ids[i], &err);
			if (r < 0)
				status = ktbpfctl_fail(o->cmd, false, KTBPFCTL_EXIT_FAIL, "%s",
						       err.msg);
		}
		ktbpf_client_free(c);
		return status;
	} else {
		r = ktbpf_client_dump_get(c, o->ids[0], &doc, &err);
	}
	ktbpf_client_free(c);
	if (r < 0) {
		json_decref(res);
		json_decref(doc);
		return ktbpfctl_fail(o->cmd, false,
				     r == -EINPROGRESS ? KTBPFCTL_EXIT_NOT_READY
						       : KTBPFCTL_EXIT_FAIL,
				     "%s%s", err.msg, r == -EINPROGRESS ? " (retry later)" : "");
	}
	if (!o->json && !(o->sub && !strcmp(o->sub, "export"))) {
		ktbpfctl_json_printable(res);
		ktbpfctl_json_printable(doc);
	}
	if (o->sub && !strcmp(o->sub, "list")) {
		if (o->json)
			status = write_json(o, res);
		else
			print_list(res);
	} else if (o->json || (o->sub && !strcmp(o->sub, "export"))) {
		status = write_json(o, doc);
	} else {
		print_report(doc);
	}
	if (status == KTBPFCTL_EXIT_OK && (fflush(stdout) != 0 || ferror(stdout)))
		status =
			ktbpfctl_fail(o->cmd, false, KTBPFCTL_EXIT_FAIL, "cannot write the output");
	json_decref(res);
	json_decref(doc);
	return status;
}

static int parse(struct dumpopts *o, int argc, char **argv, void (*usage)(FILE *))
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"freeze", required_argument, NULL, 'f'},
		{"reason", required_argument, NULL, 'r'},
		{"test", required_argument, NULL, 't'},
		{"vm", required_argument, NULL, 'V'},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char *end;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:jf:r:t:V:o:n:h", longopts, NULL)) != -1) {
		bool dump = !o->sub;

		switch (c) {
		case 's':
			o->socket = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'f':
		case 'r':
		case 't':
			if (!dump)
				goto bad;
			if (c == 'f' && ktbpfctl_check_freeze(o->cmd, false, optarg))
				return KTBPFCTL_EXIT_USAGE;
			*(c == 'f' ? &o->freeze : c == 'r' ? &o->reason : &o->test) = optarg;
			break;
		case 'V':
		case 'n':
			if (dump || strcmp(o->sub, "list"))
				goto bad;
			if (c == 'V') {
				o->vm = optarg;
				break;
			}
			errno = 0;
			o->limit = (unsigned)strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-')
				return ktbpfctl_fail(o->cmd, false, KTBPFCTL_EXIT_USAGE,
						     "-n '%s': not a count", optarg);
			break;
		case 'o':
			if (dump || strcmp(o->sub, "export"))
				goto bad;
			o->out = optarg;
			break;
		case 'h':
			usage(stdout);
			return KTBPFCTL_EXIT_OK;
		default:
		bad:
			fprintf(stderr, "see 'ktbpfctl %s --help'\n", dump ? "dump" : "dumps");
			return KTBPFCTL_EXIT_USAGE;
		}
	}
	if (!o->sub) {
		if (optind < argc)
			o->vm = argv[optind++];
		if (!o->vm)
			return ktbpfctl_fail(o->cmd, false, KTBPFCTL_EXIT_USAGE,
					     "which VM? give its id or name ('ktbpfctl list')");
	} else if (strcmp(o->sub, "list")) {
		o->ids = argv + optind;
		o->nr_ids = argc - optind;
		if (!o->nr_ids)
			return ktbpfctl_fail(o->cmd, false, KTBPFCTL_EXIT_USAGE,
					     "which dump? give its id ('ktbpfctl dumps list')");
		if (strcmp(o->sub, "rm") && o->nr_ids > 1)
			return ktbpfctl_fail(o->cmd, false, KTBPFCTL_EXIT_USAGE,
					     "one dump id, not %d", o->nr_ids);
		optind = argc;
	}
	if (optind < argc)
		return ktbpfctl_fail(o->cmd, false, KTBPFCTL_EXIT_USAGE, "unexpected argument '%s'",
				     argv[optind]);
	return -1;
}

int ktbpfctl_dump(int argc, char **argv)
{
	struct dumpopts o = {.cmd = "dump"};
	int r = parse(&o, argc, argv, dump_usage);

	return r >= 0 ? r : run(&o);
}

int ktbpfctl_dumps(int argc, char **argv)
{
	static const char *const subs[] = {"list", "info", "export", "rm"};
	struct dumpopts o = {.cmd = "dumps"};
	char cmd[32];
	int r;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		dumps_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? KTBPFCTL_EXIT_USAGE : KTBPFCTL_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (!strcmp(argv[1], subs[i]))
			o.sub = subs[i];
	if (!o.sub) {
		fprintf(stderr, "ktbpfctl dumps: unknown '%s': use list, info, export or rm\n",
			argv[1]);
		return KTBPFCTL_EXIT_USAGE;
	}
	snprintf(cmd, sizeof(cmd), "dumps %s", o.sub);
	o.cmd = cmd;
	r = parse(&o, argc - 1, argv + 1, dumps_usage);
	return r >= 0 ? r : run(&o);
}
