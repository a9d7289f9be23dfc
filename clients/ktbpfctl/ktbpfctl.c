/* SPDX-License-Identifier: MIT */
/*
 * ktbpfctl: the command-line client. A subcommand dispatcher: each command
 * lives in its own file (inspect.c; vars.c; list, status and snapshot, which
 * ask ktbpfd, in daemon-cmds.c; metrics in metrics-cmd.c; dump and dumps in
 * dump-cmds.c; top in top.c; diff in diff.c) and owns its options.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ktbpf/codec.h"

#include "ktbpfctl.h"

#ifndef KTBPF_VERSION
#define KTBPF_VERSION "0.1.0"
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{"inspect", ktbpfctl_inspect,
	 "read struct_ops programs from a guest RAM file or ELF core (offline, no daemon)"},
	{"vars", ktbpfctl_vars,
	 "a BPF object's variables by name from a guest RAM file or ELF core (offline)"},
	{"list", ktbpfctl_list, "list the VMs registered with ktbpfd"},
	{"status", ktbpfctl_status, "a VM's kernel discovery state and why (ktbpfd)"},
	{"snapshot", ktbpfctl_snapshot,
	 "a registered VM's struct_ops programs, as inspect (ktbpfd)"},
	{"metrics", ktbpfctl_metrics, "every VM's programs in the Prometheus text format (ktbpfd)"},
	{"dump", ktbpfctl_dump, "take a failure dump of a VM now and print it (ktbpfd)"},
	{"dumps", ktbpfctl_dumps, "the stored failure dumps: list, info, export, rm (ktbpfd)"},
	{"diff", ktbpfctl_diff,
	 "what changed between two dumps or snapshots: rates, variables (files or ktbpfd)"},
	{"top", ktbpfctl_top,
	 "a live table of a VM's programs: events/s, ns per call, CPU % (ktbpfd)"},
};

int ktbpfctl_fail(const char *cmd, bool json, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "ktbpfctl%s%s: %s\n", cmd ? " " : "", cmd ? cmd : "", msg);
	if (json) {
		json_t *j = json_pack("{s:o}", "error", ktbpf_codec_text(msg));

		if (j) {
			json_dumpf(j, stdout, JSON_COMPACT);
			fputc('\n', stdout);
			json_decref(j);
		}
	}
	return status;
}

int ktbpfctl_check_freeze(const char *cmd, bool json, const char *value)
{
	if (!strcmp(value, "require") || !strcmp(value, "prefer") || !strcmp(value, "never"))
		return 0;
	return ktbpfctl_fail(cmd, json, KTBPFCTL_EXIT_USAGE,
			     "--freeze '%s': use require, prefer or never", value);
}

static void usage(FILE *out)
{
	size_t i;

	fputs("Usage: ktbpfctl [--help] [--version] COMMAND [OPTIONS]\n"
	      "\n"
	      "Answer, from the host, which struct_ops BPF programs a guest Linux kernel has\n"
	      "loaded, how often and how long they ran, and which BPF object (scheduler) is\n"
	      "active, by reading the guest's RAM. The guest's help is not needed.\n"
	      "\n"
	      "Commands:\n",
	      out);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fputs("\n"
	      "Options:\n"
	      "  -h, --help     show this help (COMMAND --help for a command's options)\n"
	      "  -V, --version  print the version and exit\n"
	      "\n"
	      "Examples:\n"
	      "  ktbpfctl inspect --ram guest.core\n"
	      "  ktbpfctl inspect --ram guest.mem --vmlinux vmlinux --json\n"
	      "  ktbpfctl list                     (VMs registered with ktbpfd)\n"
	      "  ktbpfctl snapshot guest3 --json   (ask ktbpfd; --socket or $KTBPF_SOCKET)\n"
	      "  ktbpfctl top guest3 --seconds 5   (events/s, ns per call, CPU % live)\n"
	      "  ktbpfctl diff before.json after.json\n"
	      "\n"
	      "Exit status:\n"
	      "  0  success\n"
	      "  1  the question could not be answered (input unreadable, kernel not found,\n"
	      "     no ktbpfd to ask, no such VM)\n"
	      "  2  usage error\n"
	      "  3  an answer was printed but it is incomplete (entries skipped, a limit hit,\n"
	      "     runtime stats incomplete or unknown, a torn snapshot): never a whole answer\n"
	      "  4  the guest kernel is not ready yet (no VMCOREINFO note, or ktbpfd has not\n"
	      "     discovered it: still booting?):\n"
	      "     retry later\n"
	      "\n"
	      "See ktbpfctl(1).\n",
	      out);
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		fprintf(stderr, "ktbpfctl: no command given: try 'ktbpfctl inspect --ram FILE' "
				"or 'ktbpfctl --help'\n");
		return KTBPFCTL_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		/* "help CMD" is "CMD --help": each command owns its help text. */
		for (i = 0; argc > 2 && !strcmp(argv[1], "help") && i < ARRAY_SIZE(commands); i++)
			if (!strcmp(argv[2], commands[i].name)) {
				char *args[] = {argv[2], (char *)"--help", NULL};

				return commands[i].run(2, args);
			}
		usage(stdout);
		return KTBPFCTL_EXIT_OK;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("ktbpfctl %s\n", KTBPF_VERSION);
		return KTBPFCTL_EXIT_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, "ktbpfctl: unknown command '%s': see 'ktbpfctl --help'\n", argv[1]);
	return KTBPFCTL_EXIT_USAGE;
}
