/* SPDX-License-Identifier: MIT */
/*
 * ktbpfctl list / status / snapshot: ask a running ktbpfd, through
 * libktbpf-client. The snapshot table is render.c's, the one `inspect`
 * prints, and --json prints the daemon's document as it came (the shape
 * `inspect --json` has, plus frozen and freeze_ns). Exit statuses are
 * inspect's: 1 when the question could not be answered (no daemon, no such
 * VM), 3 for an incomplete answer, 4 when the guest kernel is not discovered
 * yet.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ktbpf/client.h"

#include "ktbpfctl.h"

struct dopts {
	const char *cmd;
	const char *socket;
	const char *vm;
	const char *freeze;
	bool json;
	bool vars;
};

void ktbpfctl_daemon_usage(const char *cmd, FILE *out)
{
	bool snap = !strcmp(cmd, "snapshot"), list = !strcmp(cmd, "list");

	fprintf(out, "Usage: ktbpfctl %s%s [--socket PATH] [--json]%s\n\n", cmd, list ? "" : " VM",
		snap ? " [--freeze require|prefer|never] [--vars]" : "");
	if (list)
		fputs("List the VMs registered with ktbpfd that you may see (yours; all of them\n"
		      "for root): id, name, discovery state, whether the VMM is still attached.\n",
		      out);
	else if (snap)
		fputs("Ask ktbpfd for a snapshot of VM (its id or name, see 'ktbpfctl list'): the\n"
		      "struct_ops programs with verifier and runtime stats, the struct_ops\n"
		      "instances and the active one, as 'ktbpfctl inspect' prints them for a RAM\n"
		      "file. The daemon reads the guest's RAM; the guest need not help.\n",
		      out);
	else
		fputs("Show what ktbpfd knows of VM (its id or name, see 'ktbpfctl list'): the\n"
		      "kernel discovery state and why (a guest still booting is 'waiting', with\n"
		      "the next retry), the kernel found, the snapshots taken.\n",
		      out);
	fputs("\nOptions:\n"
	      "  -s, --socket PATH  ktbpfd's socket (default: $KTBPF_SOCKET, else\n"
	      "                     " KTBPF_CLIENT_SYSTEM_SOCKET ")\n"
	      "  -j, --json         print the daemon's JSON document (rpc/openrpc.json)\n",
	      out);
	if (snap)
		fputs("  -f, --freeze MODE  pause the guest's vCPUs around the walk, through its "
		      "VMM:\n"
		      "                     require (fail when the VMM cannot), prefer (default: "
		      "a\n"
		      "                     live snapshot when it cannot), never\n"
		      "  -v, --vars         also the variables by name of the active object (of "
		      "the\n"
		      "                     scheduler sched_ext ejected, when it did), as\n"
		      "                     'ktbpfctl vars' prints them\n",
		      out);
	fputs("  -h, --help         show this help\n"
	      "\nExamples:\n",
	      out);
	if (list)
		fputs("  ktbpfctl list\n"
		      "  KTBPF_SOCKET=/tmp/ktbpfd.sock ktbpfctl list --json\n",
		      out);
	else
		fprintf(out, "  ktbpfctl %s guest3\n  ktbpfctl %s vm-1 --json%s\n", cmd, cmd,
			snap ? " --freeze never" : "");
	fputs("\nExit status: 0 success, 1 could not answer (no daemon, no such VM, an\n"
	      "error from the daemon), 2 usage error, 3 an incomplete answer (printed),\n"
	      "4 the guest kernel is not discovered yet (still booting?): retry later.\n"
	      "See ktbpfctl(1).\n",
	      out);
}

static int parse(struct dopts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'}, {"json", no_argument, NULL, 'j'},
		{"freeze", required_argument, NULL, 'f'}, {"vars", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},	  {NULL, 0, NULL, 0},
	};
	bool snap = !strcmp(o->cmd, "snapshot"), list = !strcmp(o->cmd, "list");
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, snap ? "s:jf:vh" : "s:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->socket = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'f':
			if (!snap)
				goto bad;
			if (ktbpfctl_check_freeze(o->cmd, o->json, optarg))
				return KTBPFCTL_EXIT_USAGE;
			o->freeze = optarg;
			break;
		case 'v':
			if (!snap)
				goto bad;
			o->vars = true;
			break;
		case 'h':
			ktbpfctl_daemon_usage(o->cmd, stdout);
			return KTBPFCTL_EXIT_OK;
		default:
		bad:
			fprintf(stderr, "see 'ktbpfctl %s --help'\n", o->cmd);
			return KTBPFCTL_EXIT_USAGE;
		}
	}
	if (!list && optind < argc)
		o->vm = argv[optind++];
	if (!list && !o->vm)
		return ktbpfctl_fail(o->cmd, o->json, KTBPFCTL_EXIT_USAGE,
				     "which VM? give its id or name ('ktbpfctl list')");
	if (optind < argc)
		return ktbpfctl_fail(o->cmd, o->json, KTBPFCTL_EXIT_USAGE,
				     "unexpected argument '%s'", argv[optind]);
	return -1;
}

/* The exit status for a failed call. */
static int call_failed(const struct dopts *o, int r, const struct ktbpf_err *err)
{
	return ktbpfctl_fail(o->cmd, o->json,
			     r == -EINPROGRESS ? KTBPFCTL_EXIT_NOT_READY : KTBPFCTL_EXIT_FAIL,
			     "%s%s", err->msg, r == -EINPROGRESS ? " (retry later)" : "");
}

static void print_doc(const json_t *doc)
{
	json_dumpf(doc, stdout, JSON_COMPACT);
	fputc('\n', stdout);
}

static const char *gs(const json_t *v, const char *none)
{
	return json_is_string(v) ? json_string_value(v) : none;
}

static void print_labels(const json_t *labels)
{
	const char *key;
	json_t *v;
	bool first = true;

	json_object_foreach((json_t *)labels, key, v)
	{
		printf("%s%s=%s", first ? "" : ",", key, gs(v, ""));
		first = false;
	}
	if (first)
		putchar('-');
}

static void print_list(const json_t *res)
{
	const json_t *vms = json_object_get(res, "vms"), *vm;
	size_t i;

	printf("%-12s  %-24s  %-11s  %-8s  %6s  %-7s  %s\n", "VM", "NAME", "STATE", "ATTACHED",
	       "UID", "ARCH", "LABELS");
	json_array_foreach(vms, i, vm)
	{
		json_t *uid = json_object_get(vm, "uid");

		printf("%-12s  %-24s  %-11s  %-8s  %6" JSON_INTEGER_FORMAT "  %-7s  ",
		       gs(json_object_get(vm, "vm"), "?"), gs(json_object_get(vm, "name"), "?"),
		       gs(json_object_get(vm, "state"), "?"),
		       json_is_false(json_object_get(vm, "attached")) ? "no" : "yes",
		       json_is_integer(uid) ? json_integer_value(uid) : -1,
		       gs(json_object_get(vm, "arch"), "?"));
		print_labels(json_object_get(vm, "labels"));
		putchar('\n');
	}
	printf("\n%zu VM%s\n", json_array_size(vms), json_array_size(vms) == 1 ? "" : "s");
}

/* "regions  2, all mapped", or how many are read with pread (an fd not sealed against shrinking).
 */
static void print_regions(const json_t *regions)
{
	size_t i, n = json_array_size(regions), slow = 0;
	const json_t *r;

	if (!n)
		return;
	json_array_foreach(regions, i, r) slow +=
		!json_is_string(json_object_get(r, "read")) ||
		strcmp(json_string_value(json_object_get(r, "read")), "mapped") != 0;
	if (!slow)
		printf("regions       %zu, all mapped (sealed memfds)\n", n);
	else
		printf("regions       %zu, %zu read with pread (not sealed against shrinking: "
		       "slower walks)\n",
		       n, slow);
}

/* Whether the kernel still runs: what the daemon's checks found (check.c). */
static void print_checks(const json_t *kc, bool shared)
{
	const json_t *ago = json_object_get(kc, "checked_ms_ago");

	if (!json_is_object(kc) ||
	    (!json_is_integer(ago) && !json_integer_value(json_object_get(kc, "changes"))))
		return; /* nothing checked yet */
	printf("kernel checks %" JSON_INTEGER_FORMAT " change(s) followed, %" JSON_INTEGER_FORMAT
	       " verification(s)",
	       json_integer_value(json_object_get(kc, "changes")),
	       json_integer_value(json_object_get(kc, "verifications")));
	if (json_is_integer(ago))
		printf(", last %" JSON_INTEGER_FORMAT " ms ago", json_integer_value(ago));
	printf("%s\n", shared ? "; BTF facts shared with another VM of this build" : "");
}

/* When it registered, whether its RAM was written then, and what the first discovery found. */
static void print_registration(const json_t *reg, const json_t *first)
{
	time_t t = (time_t)(json_integer_value(json_object_get(reg, "unix_ns")) / 1000000000);
	char when[32] = "?";
	struct tm tm;

	if (!json_is_object(reg))
		return;
	if (localtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	printf("registered    %s, its RAM %s\n", when,
	       json_is_false(json_object_get(reg, "ram_written"))
		       ? "not yet written (before the guest ran)"
		       : "already written");
	if (json_is_object(first))
		printf("first attempt %" JSON_INTEGER_FORMAT " ms after: %s%s\n",
		       json_integer_value(json_object_get(first, "ms_after_registration")),
		       json_is_true(json_object_get(first, "found")) ? "found the kernel"
								     : "no kernel: ",
		       gs(json_object_get(first, "reason"), ""));
}

static void print_status(const json_t *st)
{
	const json_t *k = json_object_get(st, "kernel"),
		     *retry = json_object_get(st, "retry_in_ms");
	const char *reason = json_string_value(json_object_get(st, "reason"));

	printf("vm            %s\n"
	       "name          %s\n"
	       "state         %s%s%s\n",
	       gs(json_object_get(st, "vm"), "?"), gs(json_object_get(st, "name"), "?"),
	       gs(json_object_get(st, "state"), "?"), reason ? ": " : "", reason ? reason : "");
	if (json_is_integer(retry))
		printf("next retry    in %" JSON_INTEGER_FORMAT " ms\n", json_integer_value(retry));
	printf("attached      %s\n"
	       "can freeze    %s\n"
	       "snapshots     %" JSON_INTEGER_FORMAT "\n",
	       json_is_false(json_object_get(st, "attached")) ? "no (the VMM is gone)" : "yes",
	       json_is_true(json_object_get(st, "can_freeze")) ? "yes" : "no",
	       json_integer_value(json_object_get(st, "snapshots")));
	print_registration(json_object_get(st, "registration"),
			   json_object_get(st, "first_discovery"));
	print_regions(json_object_get(st, "regions"));
	print_checks(json_object_get(st, "kernel_check"),
		     json_is_true(json_object_get(st, "kernel_facts_shared")));
	printf("labels        ");
	print_labels(json_object_get(st, "labels"));
	printf("\n\n");
	if (json_is_object(k))
		ktbpfctl_render_kernel(k);
	else
		printf("kernel        not discovered yet\n");
}

static int run(struct dopts *o)
{
	struct ktbpf_client *c = NULL;
	struct ktbpf_err err = {0};
	json_t *res = NULL;
	char why[256];
	int r, status = KTBPFCTL_EXIT_OK;

	r = ktbpf_client_connect(o->socket, &c, &err);
	if (r < 0)
		return ktbpfctl_fail(o->cmd, o->json, KTBPFCTL_EXIT_FAIL, "%s", err.msg);
	if (!strcmp(o->cmd, "list"))
		r = ktbpf_client_list(c, &res, &err);
	else if (!strcmp(o->cmd, "status"))
		r = ktbpf_client_status(c, o->vm, &res, &err);
	else if (!o->vars)
		r = ktbpf_client_snapshot(c, o->vm, o->freeze, &res, &err);
	else
		r = ktbpf_client_call(c, "vm.snapshot",
				      json_pack("{s:s, s:s?, s:b}", "vm", o->vm, "freeze",
						o->freeze, "vars", true),
				      NULL, 0, &res, &err);
	ktbpf_client_free(c);
	if (r < 0)
		return call_failed(o, r, &err);
	if (!o->json)
		ktbpfctl_json_printable(res);
	if (o->json)
		print_doc(res);
	else if (!strcmp(o->cmd, "list"))
		print_list(res);
	else if (!strcmp(o->cmd, "status"))
		print_status(res);
	else {
		ktbpfctl_render_snapshot(res);
		printf("\nwalk: %.3f us\n",
		       (double)json_integer_value(json_object_get(res, "walk_ns")) / 1e3);
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		status =
			ktbpfctl_fail(o->cmd, o->json, KTBPFCTL_EXIT_FAIL,
				      "cannot write the output: %s", strerror(errno ? errno : EIO));
	else if (!strcmp(o->cmd, "snapshot") && ktbpfctl_snapshot_incomplete(res, why, sizeof(why)))
		status = ktbpfctl_fail(o->cmd, o->json, KTBPFCTL_EXIT_INCOMPLETE,
				       "answer incomplete: %s", why);
	json_decref(res);
	return status;
}

static int command(const char *cmd, int argc, char **argv)
{
	struct dopts o = {.cmd = cmd};
	int r = parse(&o, argc, argv);

	return r >= 0 ? r : run(&o);
}

int ktbpfctl_list(int argc, char **argv)
{
	return command("list", argc, argv);
}

int ktbpfctl_status(int argc, char **argv)
{
	return command("status", argc, argv);
}

int ktbpfctl_snapshot(int argc, char **argv)
{
	return command("snapshot", argc, argv);
}
